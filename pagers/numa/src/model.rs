// SPDX-License-Identifier: MIT OR Apache-2.0
//! An exhaustive check of the global-unmap protocol ([`crate::global`]).
//!
//! The protocol is composed with everything that can interleave with it on a real
//! machine, on a small one: [`NODES`] nodes of [`CPUS`] CPUs, one global page, and
//!
//! - threads on every CPU touching the page at any moment: through the CPU's TLB if it
//!   holds the translation (an access to a **freed** frame that way is the bug this is
//!   all about: a *stale access*), else through the node's page table (filling the
//!   TLB), else faulting to the node's pager;
//! - TLB entries dropped at any moment (hardware may evict);
//! - one pager per node, single-threaded (it finishes one message before it takes the
//!   next, as an L4 pager loop does): a fault is two steps, the locked [`Entry::fault`]
//!   and then the map in its reply; an unmap request is the kernel's `Unmap` of the
//!   node's mapping (page table and every CPU's TLB) and then an acknowledgement;
//! - node 0's pager starting one global unmap at any moment ([`Entry::begin_unmap`],
//!   its own `Unmap`, the notifications) and taking acknowledgements
//!   ([`Entry::acknowledge`], freeing the frame after the last);
//! - faults after the unmap allocating a new frame (two frames in all).
//!
//! Every reachable state is visited (breadth first); in each, the invariant is checked:
//! no stale access happened, and no freed frame is still mapped or cached anywhere.
//! The correct protocol must pass; each [`Variant`] that breaks one rule of
//! [`crate::global`]'s invariants must be caught, with the shortest trace to the
//! violation.

use crate::global::{Done, Entry, Fault, NodeSet, Unmap};
use std::collections::{HashMap, VecDeque};
use std::vec::Vec;

/// Nodes of the model machine (node 0's pager starts the unmap).
pub const NODES: usize = 3;
/// CPUs per node.
pub const CPUS: usize = 2;
/// Frames the page can get (one before the unmap, one after).
const FRAMES: u8 = 2;

/// The protocol, or one of its broken variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// As [`crate::global`] says.
    Correct,
    /// A pager reads the entry without the lock and adds its node in a later step,
    /// without checking the entry again.
    UnlockedRecheck,
    /// The kernel's `Unmap` invalidates the translation on the unmapping CPU only.
    LocalOnlyTlbInvalidation,
    /// The initiator frees the frame when it starts, not after the last acknowledgement.
    FreeBeforeInvalidation,
    /// Moving a page to a new frame (after a revoke) does not check that no node maps
    /// it meanwhile.
    RelocateWhileMapped,
}

/// What a pager is in the middle of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Phase {
    /// Between messages.
    Idle,
    /// Found frame `f` for a fault (node recorded): the map is next.
    Mapping(u8),
    /// (Broken: unlocked re-check) read frame `f` without the lock.
    Looked(u8),
}

/// Node 0's global unmap, or revoke (`keep`) followed by a move to a new frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Stage {
    NotYet,
    /// Begun: its own `Unmap` and the notifications are next.
    Begun(Unmap<u8>, bool),
    /// Notifications sent (a revoke: the move may follow once it completed).
    Sent(bool),
    Moved,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct State {
    entry: Entry<u8>,
    allocated: u8,
    freed: [bool; FRAMES as usize],
    pte: [Option<u8>; NODES],
    tlb: [[Option<u8>; CPUS]; NODES],
    faulting: [bool; NODES],
    phase: [Phase; NODES],
    /// Unmap requests not yet handled, by node.
    asked: NodeSet,
    /// Acknowledgements not yet taken by node 0's pager.
    acks: NodeSet,
    stage: Stage,
    stale: bool,
}

impl State {
    fn initial() -> State {
        State {
            entry: Entry::Absent,
            allocated: 0,
            freed: [false; FRAMES as usize],
            pte: [None; NODES],
            tlb: [[None; CPUS]; NODES],
            faulting: [false; NODES],
            phase: [Phase::Idle; NODES],
            asked: NodeSet::EMPTY,
            acks: NodeSet::EMPTY,
            stage: Stage::NotYet,
            stale: false,
        }
    }

    /// The invariant: `None` if it holds, else what is wrong.
    fn violation(&self) -> Option<&'static str> {
        if self.stale {
            return Some("a thread accessed a freed frame");
        }
        let freed = |f: &Option<u8>| f.is_some_and(|f| self.freed[f as usize]);
        if self.pte.iter().any(freed) {
            return Some("a freed frame is still mapped in a node's space");
        }
        if self.tlb.iter().flatten().any(freed) {
            return Some("a freed frame is still cached in a CPU's TLB");
        }
        None
    }

    /// The kernel's `Unmap` of node `k`'s mapping.
    fn kernel_unmap(&mut self, k: usize, variant: Variant) {
        self.pte[k] = None;
        if variant == Variant::LocalOnlyTlbInvalidation {
            self.tlb[k][0] = None; // the pager's CPU only
        } else {
            self.tlb[k] = [None; CPUS];
        }
    }

    fn free(&mut self, f: u8) {
        self.freed[f as usize] = true;
    }

    /// Every state one step away, with what the step was.
    fn successors(&self, variant: Variant) -> Vec<(String, State)> {
        let mut out = Vec::new();
        for k in 0..NODES {
            for c in 0..CPUS {
                // A thread on CPU c of node k touches the page.
                let mut s = self.clone();
                match (s.tlb[k][c], s.pte[k]) {
                    (Some(f), _) => s.stale |= s.freed[f as usize],
                    (None, Some(f)) => {
                        s.tlb[k][c] = Some(f);
                        s.stale |= s.freed[f as usize];
                    }
                    (None, None) => s.faulting[k] = true,
                }
                out.push((format!("node {k} cpu {c} touches the page"), s));
                if self.tlb[k][c].is_some() {
                    let mut s = self.clone();
                    s.tlb[k][c] = None;
                    out.push((format!("node {k} cpu {c} evicts its TLB entry"), s));
                }
            }
            // Pager k: one step of its current message, or the next message.
            match self.phase[k] {
                Phase::Mapping(f) => {
                    let mut s = self.clone();
                    s.pte[k] = Some(f);
                    s.faulting[k] = false;
                    s.phase[k] = Phase::Idle;
                    out.push((format!("pager {k} maps frame {f} (fault reply)"), s));
                }
                Phase::Looked(f) => {
                    let mut s = self.clone();
                    if let Entry::Present { frame, mapped } = s.entry {
                        s.entry = Entry::Present { frame, mapped: mapped.with(k) };
                    }
                    s.pte[k] = Some(f);
                    s.faulting[k] = false;
                    s.phase[k] = Phase::Idle;
                    out.push((format!("pager {k} records itself and maps frame {f}, unchecked"), s));
                }
                Phase::Idle => {
                    if self.faulting[k] {
                        let mut s = self.clone();
                        let looked = match (variant, s.entry) {
                            (Variant::UnlockedRecheck, Entry::Present { frame, .. }) => Some(frame),
                            _ => None,
                        };
                        if let Some(f) = looked {
                            s.phase[k] = Phase::Looked(f);
                            out.push((format!("pager {k} reads frame {f} without the lock"), s));
                        } else {
                            let next = s.allocated;
                            let answer = s.entry.fault(k, || (next < FRAMES).then_some(next));
                            if let Fault::Map(f) = answer {
                                s.allocated = s.allocated.max(f + 1);
                                s.phase[k] = Phase::Mapping(f);
                            }
                            out.push((format!("pager {k} handles the fault: {answer:?}"), s));
                        }
                    }
                    if self.asked.contains(k) {
                        let mut s = self.clone();
                        s.kernel_unmap(k, variant);
                        s.asked = s.asked.without(k);
                        s.acks = s.acks.with(k);
                        out.push((format!("pager {k} unmaps (kernel Unmap) and acknowledges"), s));
                    }
                    if k == 0 {
                        self.initiator_steps(variant, &mut out);
                    }
                }
            }
        }
        out
    }

    /// Node 0's pager, between messages: the global unmap's steps.
    fn initiator_steps(&self, variant: Variant, out: &mut Vec<(String, State)>) {
        match self.stage {
            Stage::NotYet => {
                for keep in [false, true] {
                    let mut s = self.clone();
                    let begun = if keep { s.entry.begin_revoke(0) } else { s.entry.begin_unmap(0) };
                    if let Some(u) = begun {
                        if variant == Variant::FreeBeforeInvalidation && !keep {
                            s.free(u.frame);
                        }
                        s.stage = Stage::Begun(u, keep);
                        let what = if keep { "revoke" } else { "unmap" };
                        out.push((format!("pager 0 begins the global {what}: {u:?}"), s));
                    }
                }
            }
            Stage::Begun(u, keep) => {
                let mut s = self.clone();
                if u.own {
                    s.kernel_unmap(0, variant);
                }
                if u.free_now {
                    s.free(u.frame);
                }
                s.asked = NodeSet(s.asked.0 | u.ask.0);
                s.stage = Stage::Sent(keep);
                out.push(("pager 0 unmaps its own mapping and notifies the others".into(), s));
            }
            Stage::Sent(true) if self.allocated < FRAMES => {
                // The move: a new frame, the contents copied, the old one freed.
                let mut s = self.clone();
                let new = s.allocated;
                let old = if variant == Variant::RelocateWhileMapped {
                    match s.entry {
                        Entry::Present { frame, mapped } => {
                            s.entry = Entry::Present { frame: new, mapped };
                            Some(frame)
                        }
                        _ => None,
                    }
                } else {
                    s.entry.relocate(new, |_, _| {})
                };
                if let Some(old) = old {
                    s.allocated += 1;
                    s.free(old);
                    s.stage = Stage::Moved;
                    out.push((format!("pager 0 moves the page from frame {old} to frame {new}"), s));
                }
            }
            Stage::Sent(_) | Stage::Moved => {}
        }
        for j in self.acks.iter() {
            let mut s = self.clone();
            s.acks = s.acks.without(j);
            let done = s.entry.acknowledge(j);
            if let Some(Done::Free(f)) = done {
                s.free(f);
            }
            out.push((format!("pager 0 takes node {j}'s acknowledgement ({done:?})"), s));
        }
    }
}

/// Which hard cases the exploration reached: a check that passes without them would
/// prove little, so the test requires each.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// An unmap waiting for two other nodes at once.
    pub two_pending: bool,
    /// A frame freed by the last acknowledgement.
    pub freed_by_ack: bool,
    /// The page made again (a second frame) after the unmap, and mapped.
    pub remade: bool,
    /// A fault answered Retry because an unmap was in progress.
    pub fault_during_unmap: bool,
    /// A page moved to a new frame after a revoke.
    pub moved: bool,
}

/// The outcome of a check: states visited, or the shortest trace to a violation.
#[derive(Debug)]
pub enum Outcome {
    /// Every reachable state satisfies the invariant.
    Holds { states: usize, coverage: Coverage },
    /// The steps from the initial state to the first violation found, and what broke.
    Violated { trace: Vec<String>, what: &'static str },
}

/// Explores every reachable state of `variant`, breadth first.
pub fn check(variant: Variant) -> Outcome {
    let start = State::initial();
    let mut parent: HashMap<State, Option<(State, String)>> = HashMap::new();
    parent.insert(start.clone(), None);
    let mut queue = VecDeque::from([start]);
    let mut coverage = Coverage::default();
    while let Some(s) = queue.pop_front() {
        if let Some(what) = s.violation() {
            let mut trace = Vec::new();
            let mut at = s;
            while let Some(Some((prev, step))) = parent.get(&at).cloned() {
                trace.push(step);
                at = prev;
            }
            trace.reverse();
            return Outcome::Violated { trace, what };
        }
        for (step, next) in s.successors(variant) {
            // (Every step counts, not only those that reach a new state: a fault
            // answered Retry changes nothing, and a state is reached more than one way.)
            if let Entry::Unmapping { pending, .. } = next.entry {
                coverage.two_pending |= pending.iter().count() == 2;
            }
            coverage.remade |= next.pte.contains(&Some(1));
            coverage.freed_by_ack |= step.contains("acknowledgement (Some(Free");
            coverage.moved |= step.contains("moves the page");
            coverage.fault_during_unmap |=
                step.contains("handles the fault: Retry") && matches!(s.entry, Entry::Unmapping { .. });
            if !parent.contains_key(&next) {
                parent.insert(next.clone(), Some((s.clone(), step)));
                queue.push_back(next);
            }
        }
    }
    Outcome::Holds { states: parent.len(), coverage }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_keeps_its_invariant_in_every_reachable_state() {
        match check(Variant::Correct) {
            Outcome::Holds { states, coverage } => {
                let all = Coverage {
                    two_pending: true,
                    freed_by_ack: true,
                    remade: true,
                    fault_during_unmap: true,
                    moved: true,
                };
                assert_eq!(coverage, all, "the exploration missed a hard case ({states} states)");
            }
            Outcome::Violated { trace, what } => panic!("{what} after:\n  {}", trace.join("\n  ")),
        }
    }

    #[test]
    fn each_broken_variant_is_caught() {
        for (variant, expect) in [
            (Variant::UnlockedRecheck, "a freed frame is still mapped in a node's space"),
            (Variant::LocalOnlyTlbInvalidation, "a freed frame is still cached in a CPU's TLB"),
            (Variant::FreeBeforeInvalidation, "a freed frame is still mapped in a node's space"),
            (Variant::RelocateWhileMapped, "a freed frame is still mapped in a node's space"),
        ] {
            match check(variant) {
                Outcome::Holds { states, .. } => panic!("{variant:?} not caught ({states} states)"),
                Outcome::Violated { trace, what } => {
                    assert_eq!(what, expect, "{variant:?}, after:\n  {}", trace.join("\n  "));
                    assert!(trace.len() >= 3, "{variant:?}: a trace of {} steps", trace.len());
                }
            }
        }
    }
}
