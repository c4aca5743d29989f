// SPDX-License-Identifier: MIT OR Apache-2.0
//! The kernel's lock order as a model, checked over every interleaving.
//!
//! # Why
//! "Locking" in [`super`] argues that the general lock plus one lock per CPU cannot
//! deadlock (only the general lock's holder ever holds two CPU locks, and a CPU that
//! waits for the general lock holds none) and that no two CPUs ever work on one CPU's
//! threads and scheduler state at once (a general-path operation on CPU `c` needs no
//! lock of `c`'s own: `c`'s fast path cannot run while it does, and every other CPU's
//! general path waits for the general lock). An argument is not a test. This module
//! states each kind of kernel operation as the sequence of lock steps and accesses the
//! code makes ([`Op::steps`]) and explores every interleaving of a few operations on
//! every CPU of a small machine ([`explore`]): no reachable state may have a CPU
//! waiting forever, two CPUs at work on one CPU's state, or a broken rule of the
//! protocol ([`check_state`]). Models of the *wrong* order (a map reply that took its
//! own CPU's lock before the general lock) and of a missing lock (a general operation
//! that skipped another CPU's) are found to deadlock and to race, so the checker is
//! seen to catch both.
//!
//! What the model's operations stand for (keep them in step with the code):
//! - [`Op::Fast`]: `threads::Local::lock` (the IPC and fault fast paths): own lock only;
//! - [`Op::MapReply`]: `fastpath::map_reply`: the general lock, then its own CPU's;
//! - [`Op::MapReplyKept`]: the same as `crate::entry` runs it: with its own CPU's lock
//!   still held from the fast path, the general lock *tried* (never waited for); if it
//!   was not free, [`Op::MapReply`]'s order;
//! - [`Op::MapReplyTimed`]: the same for a pager that then waits with a deadline: it
//!   lets its own lock go, and the general path's way to its CPU's timeout queue
//!   (`Kernel::arm_timeout`, `Kernel::program_timer`: `Kernel::hold`) takes it again
//!   (`l4::time`'s "Locking": a CPU's timeout queue is its lock's);
//! - [`Op::General`]: everything behind `crate::entry`'s `lock` (`Kernel::trap`,
//!   `Kernel::idle`, ...): the general lock, then the locks of the *other* CPUs in the
//!   order the operation touches their threads (`Kernel::hold`, any order, each once;
//!   its own CPU, `Kernel::enter`, without a lock), all let go at the end
//!   (`Kernel::release_cpus`), then the general lock.
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::vec::Vec;

/// A lock of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lock {
    /// The general lock.
    General,
    /// CPU `n`'s lock.
    Cpu(u8),
}

/// One step of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Wait until the lock is free, then take it.
    Take(Lock),
    /// Let it go.
    Release(Lock),
    /// Work on CPU `n`'s threads and scheduler state (until [`Step::Done`]).
    Touch(u8),
    /// The operation's work is over (its locks are let go next).
    Done,
    /// Take the lock if it is free and go on; if it is held, skip this many steps
    /// instead (a `try_lock`: it never waits).
    TryTake(Lock, usize),
    /// Skip this many steps.
    Skip(usize),
}

/// A kernel operation, run by CPU `cpu`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// A fast path.
    Fast,
    /// A map reply on the fast path, in the kernel's order.
    MapReply,
    /// A map reply that keeps the lock of its CPU, which the fast path took, and tries
    /// the general lock: if it is free, it goes on with both; if not, it lets its own
    /// go and takes the two in the order (`crate::entry`'s `trap_user_svc`).
    MapReplyKept,
    /// A map reply whose pager waits with a deadline, in the kernel's order.
    MapReplyTimed,
    /// The same, but queueing the deadline through the general path while the fast
    /// path still holds its own lock: not the kernel's; the checker must find that it
    /// waits for itself.
    MapReplyTimedHoldingOwnLock,
    /// A map reply in the opposite order (own CPU first): not the kernel's; the
    /// checker must find its deadlock.
    MapReplyWrongOrder,
    /// A general-path operation that touches these CPUs' threads, in this order.
    General(Vec<u8>),
    /// The same without the other CPUs' locks: not the kernel's; the checker must
    /// find its race with their fast paths.
    GeneralWithoutLocks(Vec<u8>),
}

impl Op {
    /// The lock steps of this operation on CPU `cpu`.
    pub fn steps(&self, cpu: u8) -> Vec<Step> {
        use Step::{Done, Release, Take, Touch};
        match self {
            Op::Fast => vec![Take(Lock::Cpu(cpu)), Touch(cpu), Done, Release(Lock::Cpu(cpu))],
            Op::MapReply => vec![
                Take(Lock::General),
                Take(Lock::Cpu(cpu)),
                Touch(cpu),
                Done,
                Release(Lock::Cpu(cpu)),
                Release(Lock::General),
            ],
            Op::MapReplyKept => vec![
                Take(Lock::Cpu(cpu)),
                Step::TryTake(Lock::General, 5),
                Touch(cpu),
                Done,
                Release(Lock::Cpu(cpu)),
                Release(Lock::General),
                Step::Skip(7),
                // The general lock was held: the order.
                Release(Lock::Cpu(cpu)),
                Take(Lock::General),
                Take(Lock::Cpu(cpu)),
                Touch(cpu),
                Done,
                Release(Lock::Cpu(cpu)),
                Release(Lock::General),
            ],
            Op::MapReplyTimed => vec![
                Take(Lock::General),
                Take(Lock::Cpu(cpu)),
                Touch(cpu),
                Done,
                Release(Lock::Cpu(cpu)),
                Take(Lock::Cpu(cpu)),
                Touch(cpu),
                Done,
                Release(Lock::Cpu(cpu)),
                Release(Lock::General),
            ],
            Op::MapReplyTimedHoldingOwnLock => vec![
                Take(Lock::General),
                Take(Lock::Cpu(cpu)),
                Touch(cpu),
                Take(Lock::Cpu(cpu)),
                Touch(cpu),
                Done,
                Release(Lock::Cpu(cpu)),
                Release(Lock::General),
            ],
            Op::MapReplyWrongOrder => vec![
                Take(Lock::Cpu(cpu)),
                Take(Lock::General),
                Touch(cpu),
                Done,
                Release(Lock::General),
                Release(Lock::Cpu(cpu)),
            ],
            Op::General(touched) | Op::GeneralWithoutLocks(touched) => {
                let locks = matches!(self, Op::General(_));
                let mut steps = vec![Take(Lock::General)];
                let mut held = BTreeSet::new();
                for &c in touched {
                    // `Kernel::hold`: a lock already held is not taken again, and its
                    // own CPU's (`Kernel::enter`) not at all.
                    if locks && c != cpu && held.insert(c) {
                        steps.push(Take(Lock::Cpu(c)));
                    }
                    steps.push(Touch(c));
                }
                steps.push(Done);
                steps.extend(held.iter().map(|&c| Release(Lock::Cpu(c))));
                steps.push(Release(Lock::General));
                steps
            }
        }
    }
}

/// Why a state is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// Every unfinished CPU waits for a lock another holds: a deadlock.
    Deadlock,
    /// A CPU holds two CPU locks without the general lock.
    TwoCpuLocksWithoutGeneral,
    /// A CPU waits for the general lock while it holds a CPU lock.
    WaitsForGeneralHoldingCpuLock,
    /// Two CPUs work on one CPU's threads and scheduler state at once.
    Race,
}

/// A state: each CPU's position in its program, each lock's holder, and whose state
/// each CPU works on (`(whose, by)`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct State {
    pc: Vec<usize>,
    holder: Vec<(Lock, u8)>,
    touching: Vec<(u8, u8)>,
}

impl State {
    fn holder(&self, lock: Lock) -> Option<u8> {
        self.holder.iter().find(|(l, _)| *l == lock).map(|&(_, c)| c)
    }
}

/// Checks the protocol's rules in one state: who holds two CPU locks holds the general
/// lock, and no one waits for the general lock with a CPU lock in hand.
fn check_state(state: &State, programs: &[Vec<Step>]) -> Result<(), Violation> {
    for (cpu, program) in programs.iter().enumerate() {
        let cpu = cpu as u8;
        let mine: Vec<Lock> = state.holder.iter().filter(|&&(_, c)| c == cpu).map(|&(l, _)| l).collect();
        let cpu_locks = mine.iter().filter(|l| matches!(l, Lock::Cpu(_))).count();
        if cpu_locks > 1 && !mine.contains(&Lock::General) {
            return Err(Violation::TwoCpuLocksWithoutGeneral);
        }
        if program.get(state.pc[cpu as usize]) == Some(&Step::Take(Lock::General)) && cpu_locks > 0 {
            return Err(Violation::WaitsForGeneralHoldingCpuLock);
        }
    }
    for pair in state.touching.windows(2) {
        if pair[0].0 == pair[1].0 && pair[0].1 != pair[1].1 {
            return Err(Violation::Race);
        }
    }
    Ok(())
}

/// Explores every interleaving of `ops` (`ops[c]`: what CPU `c` runs, in order) and
/// returns the number of states, or the first violation found.
pub fn explore(ops: &[Vec<Op>]) -> Result<usize, Violation> {
    let programs: Vec<Vec<Step>> = ops
        .iter()
        .enumerate()
        .map(|(cpu, list)| list.iter().flat_map(|op| op.steps(cpu as u8)).collect())
        .collect();
    let start = State { pc: vec![0; programs.len()], holder: Vec::new(), touching: Vec::new() };
    let mut seen = BTreeSet::new();
    let mut todo = vec![start];
    while let Some(state) = todo.pop() {
        if !seen.insert(state.clone()) {
            continue;
        }
        check_state(&state, &programs)?;
        let mut moved = false;
        let mut finished = true;
        for (cpu, program) in programs.iter().enumerate() {
            let Some(&step) = program.get(state.pc[cpu]) else { continue };
            finished = false;
            let mut next = state.clone();
            match step {
                Step::Take(lock) => {
                    if state.holder(lock).is_some() {
                        continue; // waits
                    }
                    next.holder.push((lock, cpu as u8));
                    next.holder.sort();
                }
                Step::Release(lock) => {
                    assert_eq!(state.holder(lock), Some(cpu as u8), "a model releases only what it holds");
                    next.holder.retain(|&(l, _)| l != lock);
                }
                Step::Touch(whose) => {
                    if !next.touching.contains(&(whose, cpu as u8)) {
                        next.touching.push((whose, cpu as u8));
                        next.touching.sort();
                    }
                }
                Step::Done => next.touching.retain(|&(_, by)| by != cpu as u8),
                Step::TryTake(lock, skip) => {
                    if state.holder(lock).is_some() {
                        next.pc[cpu] += skip;
                    } else {
                        next.holder.push((lock, cpu as u8));
                        next.holder.sort();
                    }
                }
                Step::Skip(n) => next.pc[cpu] += n,
            }
            next.pc[cpu] += 1;
            moved = true;
            todo.push(next);
        }
        if !moved && !finished {
            return Err(Violation::Deadlock);
        }
    }
    Ok(seen.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every general operation a CPU of `n` can make: each ordered choice of the CPUs
    /// whose threads it touches (none, one, ... all).
    fn generals(n: u8) -> Vec<Op> {
        let mut out = vec![Vec::new()];
        let mut frontier = vec![Vec::new()];
        for _ in 0..n {
            let mut grown = Vec::new();
            for seq in &frontier {
                for c in 0..n {
                    if !seq.contains(&c) {
                        let mut s: Vec<u8> = seq.clone();
                        s.push(c);
                        grown.push(s);
                    }
                }
            }
            out.extend(grown.iter().cloned());
            frontier = grown;
        }
        out.into_iter().map(Op::General).collect()
    }

    fn kinds(n: u8) -> Vec<Op> {
        let mut all = vec![Op::Fast, Op::MapReply, Op::MapReplyKept, Op::MapReplyTimed];
        all.extend(generals(n));
        all
    }

    #[test]
    fn three_cpus_running_any_kernel_operation_never_deadlock() {
        let kinds = kinds(3);
        let mut states = 0;
        for a in &kinds {
            for b in &kinds {
                for c in &kinds {
                    let ops = [vec![a.clone()], vec![b.clone()], vec![c.clone()]];
                    states += explore(&ops).unwrap_or_else(|v| panic!("{v:?} with {ops:?}"));
                }
            }
        }
        assert!(states > 100_000, "the interleavings were explored: {states} states");
    }

    #[test]
    fn two_cpus_running_two_operations_each_never_deadlock() {
        let kinds = kinds(2);
        for a1 in &kinds {
            for a2 in &kinds {
                for b1 in &kinds {
                    for b2 in &kinds {
                        let ops = [vec![a1.clone(), a2.clone()], vec![b1.clone(), b2.clone()]];
                        explore(&ops).unwrap_or_else(|v| panic!("{v:?} with {ops:?}"));
                    }
                }
            }
        }
    }

    #[test]
    fn a_map_reply_that_took_its_own_lock_first_would_deadlock_with_the_general_path() {
        // CPU 0 replies with a map, CPU 1 runs a general operation touching CPU 0's
        // threads: with the wrong order each waits for the other.
        let ops = [vec![Op::MapReplyWrongOrder], vec![Op::General(vec![0])]];
        assert_eq!(explore(&ops), Err(Violation::WaitsForGeneralHoldingCpuLock));
    }

    #[test]
    fn a_map_reply_that_keeps_its_own_lock_only_tries_the_general_lock_and_never_deadlocks() {
        // Alone, it keeps its lock; with another CPU holding the general lock when it
        // tries, it takes the fallback. No interleaving deadlocks or races.
        let alone = explore(&[vec![Op::MapReplyKept]]).expect("alone");
        let steps = Op::MapReplyKept.steps(0);
        assert_eq!(steps[1], Step::TryTake(Lock::General, 5));
        assert_eq!(steps[1 + 5 + 1], Step::Release(Lock::Cpu(0)), "the fallback lets its own lock go first");
        assert_eq!(alone, 8, "alone, the kept way: start, 6 steps, then past the fallback");
        for other in [Op::Fast, Op::MapReplyKept, Op::General(vec![0]), Op::General(vec![1, 0])] {
            let ops = [vec![Op::MapReplyKept], vec![other.clone()]];
            explore(&ops).unwrap_or_else(|v| panic!("{v:?} with {ops:?}"));
        }
    }

    #[test]
    fn a_map_reply_must_let_its_own_lock_go_before_it_queues_the_pagers_deadline() {
        // Holding `me`'s lock (the fast path's `Local`) while the general path's
        // `Kernel::hold` takes it for the timeout queue: the CPU waits for itself.
        assert_eq!(explore(&[vec![Op::MapReplyTimedHoldingOwnLock]]), Err(Violation::Deadlock));
        // The kernel's order, beside any other CPU's operation, is fine.
        for other in [Op::Fast, Op::MapReplyTimed, Op::General(vec![0]), Op::General(vec![1, 0])] {
            let ops = [vec![Op::MapReplyTimed], vec![other.clone()]];
            explore(&ops).unwrap_or_else(|v| panic!("{v:?} with {ops:?}"));
        }
    }

    #[test]
    fn the_wrong_order_is_a_real_deadlock_not_only_a_broken_rule() {
        // The same scene with the rule check left out: some interleaving has both
        // CPUs stuck.
        let programs = [Op::MapReplyWrongOrder.steps(0), Op::General(vec![0]).steps(1)];
        // CPU 0 takes its lock, CPU 1 the general lock: each now waits for the other.
        let state = State {
            pc: vec![1, 1],
            holder: vec![(Lock::General, 1), (Lock::Cpu(0), 0)],
            touching: Vec::new(),
        };
        let blocked = programs.iter().enumerate().all(|(cpu, p)| match p[state.pc[cpu]] {
            Step::Take(l) => state.holder(l).is_some_and(|h| h as usize != cpu),
            _ => false,
        });
        assert!(blocked, "both wait: a deadlock");
    }

    #[test]
    fn a_general_operation_takes_each_other_cpu_lock_once_and_lets_all_go() {
        let steps = Op::General(vec![2, 1, 0, 2]).steps(1);
        assert_eq!(
            steps,
            vec![
                Step::Take(Lock::General),
                Step::Take(Lock::Cpu(2)),
                Step::Touch(2),
                Step::Touch(1),
                Step::Take(Lock::Cpu(0)),
                Step::Touch(0),
                Step::Touch(2),
                Step::Done,
                Step::Release(Lock::Cpu(0)),
                Step::Release(Lock::Cpu(2)),
                Step::Release(Lock::General),
            ]
        );
    }

    #[test]
    fn a_general_operation_that_skipped_another_cpus_lock_would_race_with_its_fast_path() {
        // CPU 1 works on CPU 0's threads without CPU 0's lock while CPU 0 runs a fast
        // path: found. The kernel's order (CPU 0's lock taken) is not.
        let ops = [vec![Op::Fast], vec![Op::GeneralWithoutLocks(vec![0])]];
        assert_eq!(explore(&ops), Err(Violation::Race));
        let ops = [vec![Op::Fast], vec![Op::General(vec![0])]];
        assert!(explore(&ops).is_ok());
        // Its own CPU's state needs no lock: one CPU runs one operation at a time.
        let ops =
            [vec![Op::Fast, Op::General(vec![0, 1]), Op::MapReply], vec![Op::General(vec![1, 0]), Op::Fast]];
        assert!(explore(&ops).is_ok());
    }
}
