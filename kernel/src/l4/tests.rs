// SPDX-License-Identifier: MIT OR Apache-2.0
//! Host tests of the L4 core's objects: spaces and threads on their home node,
//! scheduling, moves between spaces, lazy FP/SIMD switching, TLB shoot-downs, and a
//! model test of random lifecycles. The IPC, system-call and fast-path tests sit in
//! their own modules; all of them drive the kernel on the fake machine (`fake`).

use super::Machine;
use super::fake::{Outcome, ROOT, Rng, World};
use crate::space::Kmem;
use crate::thread::ThreadState;
use abi::Error;
use abi::syscall::Syscall;
use abi::timeout::{Timeout, Timeouts};
use platform::NodeId;
use std::collections::BTreeMap;
use std::vec::Vec;

const P: u64 = abi::PAGE_SIZE;
const QUOTA: u64 = 16 << 20;
const UTCB: u64 = 0x20_0000;

fn node(n: u32) -> NodeId {
    NodeId::new(n).unwrap()
}

#[test]
fn the_root_task_runs_on_the_boot_cpu_in_a_privileged_space_homed_on_node_0() {
    let mut w = World::new();
    assert_eq!(w.run(0), ROOT);
    assert_eq!(w.state(ROOT), ThreadState::Running);
    let space = w.space_of(ROOT);
    let s = w.k.space(space).unwrap();
    assert!(s.privileged);
    assert_eq!(s.home, node(0));
    w.check();
}

#[test]
fn a_space_and_its_threads_live_on_its_home_node_and_are_charged_to_it() {
    let mut w = World::new();
    let s = w.k.create_space(node(1), QUOTA).unwrap();
    let t = w.thread(s, UTCB, 2, 100);
    let space = w.k.space(s).unwrap();
    assert_eq!(space.home, node(1));
    assert_eq!((space.tcbs.on_home, space.tcbs.total), (2, 2), "a TCB and a UTCB frame");
    assert_eq!(space.fallbacks, 0);
    let tables = u64::from(space.tables.total);
    assert_eq!(space.charged, (2 * tables + 2) * P, "tables (with their shadows), TCB and UTCB");
    assert_eq!(w.k.tcb(t).unwrap().memory_node, node(1));
    assert_eq!(w.read_utcb(t, abi::utcb::MY_GLOBAL_ID_OFFSET), w.id(t), "the UTCB names its thread");
    assert_eq!(w.read_utcb(t, abi::utcb::CPU_OFFSET), 2);
    w.check();
}

#[test]
fn bad_utcb_addresses_are_refused_and_change_nothing() {
    let mut w = World::new();
    let s = w.k.create_space(node(0), QUOTA).unwrap();
    let free = w.free();
    for utcb in [UTCB + 8, 0, abi::USER_ADDRESS_LIMIT, abi::kip::KIP_ADDRESS] {
        assert_eq!(w.k.create_thread(s, utcb, 0), Err(Error::InvalidUtcb), "UTCB at {utcb:#x}");
    }
    assert_eq!(w.free(), free);
    assert_eq!(w.k.space(s).unwrap().threads, 0);
    w.check();
}

#[test]
fn a_space_over_its_quota_gets_no_thread_and_nothing_changes() {
    let mut w = World::new();
    // The root table and the KIP's path of tables: eight frames, the whole quota.
    let s = w.k.create_space(node(0), 8 * P).unwrap();
    assert_eq!(w.k.space(s).unwrap().charged, 8 * P);
    let free = w.free();
    assert_eq!(w.k.create_thread(s, UTCB, 0), Err(Error::OutOfMemory));
    assert_eq!(w.free(), free, "the frames taken before the refusal went back");
    assert_eq!(w.k.space(s).unwrap().charged, 8 * P);
    assert_eq!(w.k.alloc_for(s, Kmem::Tcb), Err(Error::OutOfMemory));
    w.check();
}

#[test]
fn the_last_thread_takes_its_space_and_every_frame_with_it() {
    let mut w = World::new();
    let free = w.free();
    let s = w.k.create_space(node(1), QUOTA).unwrap();
    let a = w.thread(s, UTCB, 2, 100);
    let b = w.thread(s, UTCB + P, 3, 100);
    assert!(w.free()[1] < free[1]);
    w.k.delete_thread(a);
    assert!(w.k.space(s).is_some(), "a space lives as long as one of its threads");
    w.check();
    w.k.delete_thread(b);
    assert!(w.k.space(s).is_none());
    assert_eq!(w.free(), free, "tables, TCBs and UTCBs all came back");
    w.check();
}

#[test]
fn making_a_thread_ready_on_another_cpu_wakes_that_cpu_and_only_that_one() {
    let mut w = World::new();
    let s = w.k.create_space(node(1), QUOTA).unwrap();
    w.wakes();
    let far = w.thread(s, UTCB, 3, 100);
    assert_eq!(w.wakes(), [3]);
    let near = w.thread(s, UTCB + P, 0, 100);
    assert_eq!(w.wakes(), [] as [usize; 0], "CPU 0 runs the kernel: no SGI to itself");
    assert_eq!(w.run(3), far);
    assert_eq!(w.state(near), ThreadState::Ready, "the root task runs at a higher priority on CPU 0");
    w.check();
}

#[test]
fn higher_priorities_preempt_and_equal_ones_take_turns_when_slices_end() {
    let mut w = World::new();
    let s = w.k.create_space(node(0), QUOTA).unwrap();
    let a = w.thread(s, UTCB, 1, 50);
    let b = w.thread(s, UTCB + P, 1, 50);
    assert_eq!(w.run(1), a, "first come, first served");
    let slice = u64::from(crate::thread::DEFAULT_TIMESLICE_US); // a 1 MHz counter
    assert_eq!(w.timer(1), w.now() + slice, "the CPU's timer is set for the slice's end");
    w.advance(slice - 1);
    assert_eq!(w.run(1), a, "a's slice lasts its 100 ms");
    w.advance(1);
    assert_eq!(w.run(1), b, "round robin at the end of the slice, to the microsecond");
    assert_eq!(w.state(a), ThreadState::Ready);
    let c = w.thread(s, UTCB + 2 * P, 1, 60);
    assert_eq!(w.run(1), b, "a new thread waits for the CPU's next kernel entry");
    w.tick(1);
    assert_eq!(w.run(1), c, "and then preempts at once");
    w.check();
}

#[test]
fn an_idle_cpu_sets_no_timer_and_a_cpu_that_waits_sets_only_its_earliest_deadline() {
    let mut w = World::new();
    let s = w.k.create_space(node(0), QUOTA).unwrap();
    for cpu in 1..4 {
        w.tick(cpu);
        assert_eq!(w.timer(cpu), u64::MAX, "CPU {cpu} idles with its timer off: no tick");
    }
    let t = w.thread(s, UTCB, 2, 50);
    let u = w.thread(s, UTCB + P, 2, 40);
    assert_eq!(w.run(2), t);
    let wait = |us: u32| {
        [0, u64::MAX, Timeouts { send: Timeout::Never, receive: Timeout::Micros(us) }.pack(), 0, 0, 0, 0, 0]
    };
    let start = w.now();
    assert!(matches!(w.svc(t, Syscall::Ipc, wait(300)), Outcome::Blocked(_)));
    assert_eq!(w.run(2), u);
    assert!(matches!(w.svc(u, Syscall::Ipc, wait(200)), Outcome::Blocked(_)));
    assert_eq!(w.run(2), 0, "both wait");
    assert_eq!(w.timer(2), start + 200, "the earliest deadline, and nothing else");
    w.timer_sets(2);
    w.advance(200);
    assert_eq!(w.outcome(u).status(), Err(Error::ReceiveTimeout));
    assert_eq!(w.run(2), u);
    assert!(matches!(w.svc(u, Syscall::Ipc, wait(1_000_000)), Outcome::Blocked(_)));
    assert_eq!(w.timer(2), start + 300, "then the next one");
    w.advance(100);
    assert_eq!(w.outcome(t).status(), Err(Error::ReceiveTimeout));
    assert_eq!(w.run(2), t);
    let sets = w.timer_sets(2);
    assert!(sets <= 6, "the timer is set once per change, not per kernel entry: {sets}");
    w.check();
}

#[test]
fn a_timeout_moves_with_its_thread_to_another_cpu() {
    let mut w = World::new();
    let s = w.k.create_space(node(0), QUOTA).unwrap();
    let t = w.thread(s, UTCB, 1, 50);
    assert_eq!(w.run(1), t);
    let wait =
        [0, u64::MAX, Timeouts { send: Timeout::Never, receive: Timeout::Micros(500) }.pack(), 0, 0, 0, 0, 0];
    let start = w.now();
    assert!(matches!(w.svc(t, Syscall::Ipc, wait), Outcome::Blocked(_)));
    assert_eq!(w.timer(1), start + 500);
    w.wakes();
    let tid = w.id(t);
    assert_eq!(w.svc(ROOT, Syscall::Schedule, [tid, 50, 3, 0, 0, 0, 0, 0]).status(), Ok(()));
    assert_eq!(w.wakes(), [3], "CPU 3 is told: its timer must be set earlier");
    w.tick(3);
    assert_eq!(w.timer(3), start + 500, "the deadline went with the thread");
    w.advance(500);
    assert_eq!(w.outcome(t).status(), Err(Error::ReceiveTimeout));
    assert_eq!(w.k.tcb(t).unwrap().cpu, 3);
    w.check();
}

#[test]
fn a_thread_deleted_while_it_runs_elsewhere_is_finished_by_its_own_cpu() {
    let mut w = World::new();
    let s = w.k.create_space(node(1), QUOTA).unwrap();
    let t = w.thread(s, UTCB, 2, 100);
    let keep = w.thread(s, UTCB + P, 3, 100);
    assert_eq!(w.run(2), t);
    w.wakes();
    w.on_cpu(0);
    w.k.delete_thread(t);
    assert!(w.k.tcb(t).unwrap().doomed, "still running on CPU 2: doomed");
    assert_eq!(w.wakes(), [2], "CPU 2 is told at once");
    assert_eq!(w.k.move_thread(t, s, UTCB, 3), Err(Error::InvalidThread), "a doomed thread cannot be moved");
    w.tick(2);
    assert!(w.k.tcb(t).is_none(), "CPU 2 finished the deletion");
    assert_eq!(w.run(2), 0);
    assert!(w.k.tcb(keep).is_some());
    w.check();
}

#[test]
fn a_moved_thread_takes_its_registers_utcb_and_ipc_state_to_its_new_home() {
    let mut w = World::new();
    let a = w.k.create_space(node(0), QUOTA).unwrap();
    let b = w.k.create_space(node(1), QUOTA).unwrap();
    let t = w.thread(a, UTCB, 1, 100);
    let other = w.thread(b, UTCB, 2, 100);
    // t waits in a closed receive from `other`, with a word in its UTCB.
    let mr9 = abi::utcb::MR_OFFSET + 9 * 8;
    w.write_utcb(t, mr9, 0xABCD);
    let from = w.id(other);
    let recv = [0, from, abi::timeout::Timeouts::NEVER.pack(), 0, 0, 0, 0, 0];
    assert_eq!(
        w.svc(t, Syscall::Ipc, recv),
        Outcome::Blocked(ThreadState::RecvBlocked { from: Some(other) })
    );
    let id = w.id(t);
    w.k.tcb(t).unwrap().context.x[20] = 0x2020;
    w.k.move_thread(t, b, 0x30_0000, 3).unwrap();
    assert!(w.k.space(a).is_none(), "t was the last thread of its old space");
    let tcb = w.k.tcb(t).unwrap();
    assert_eq!((tcb.space, tcb.cpu, tcb.utcb_va, tcb.memory_node), (b, 3, 0x30_0000, node(1)));
    assert_eq!(tcb.context.x[20], 0x2020, "registers move with it");
    assert_eq!(tcb.state, ThreadState::RecvBlocked { from: Some(other) }, "so does its IPC");
    assert_eq!(w.id(t), id, "and its id");
    assert_eq!(w.read_utcb(t, mr9), 0xABCD, "the UTCB's contents are copied");
    assert_eq!(w.read_utcb(t, abi::utcb::CPU_OFFSET), 3);
    w.check();
    // The partner's send still finds it.
    let send = [id, 0, abi::timeout::Timeouts::NEVER.pack(), tag(7, 1, 0), 42, 0, 0, 0];
    assert_eq!(w.svc(other, Syscall::Ipc, send).status(), Ok(()));
    assert_eq!(w.regs(t)[4], 42);
    w.check();
}

#[test]
fn refused_moves_change_nothing() {
    let mut w = World::new();
    let a = w.k.create_space(node(0), QUOTA).unwrap();
    let b = w.k.create_space(node(1), QUOTA).unwrap();
    let t = w.thread(a, UTCB, 1, 100);
    let keep = w.thread(b, UTCB, 2, 100);
    assert_eq!(w.run(1), t);
    let free = w.free();
    assert_eq!(w.k.move_thread(t, b, 0x30_0000, 2), Err(Error::Busy), "running");
    w.tick(1);
    let u = w.thread(a, UTCB + P, 1, 10);
    assert_eq!(w.k.move_thread(u, 99, 0x30_0000, 2), Err(Error::InvalidSpace));
    assert_eq!(w.k.move_thread(u, b, UTCB, 2), Err(Error::InvalidUtcb), "taken by `keep`'s UTCB");
    assert_eq!(w.k.move_thread(u, b, 0x30_0008, 2), Err(Error::InvalidUtcb), "unaligned");
    assert_eq!(w.k.move_thread(u, a, 0x30_0000, 2), Err(Error::InvalidUtcb), "same space, other UTCB");
    assert_eq!(w.k.move_thread(999, b, 0x30_0000, 2), Err(Error::InvalidThread));
    let frees = w.free();
    assert_eq!(frees[1], free[1], "nothing was allocated on node 1");
    assert_eq!(w.space_of(u), a);
    w.k.move_thread(u, a, UTCB + P, 3).unwrap();
    assert_eq!(w.k.tcb(u).unwrap().cpu, 3, "the same space: only the CPU changes");
    assert_eq!(w.state(u), ThreadState::Ready, "and it stays ready, now there");
    assert!(w.k.tcb(keep).is_some());
    w.check();
}

#[test]
fn lazy_fp_state_follows_every_thread_through_switches_moves_and_deletions() {
    let mut w = World::new();
    let s = w.k.create_space(node(0), QUOTA).unwrap();
    let mut threads: Vec<u32> = (0..6).map(|i| w.thread(s, UTCB + i * P, (i % 2 + 1) as u32, 50)).collect();
    let mut model: BTreeMap<u32, u128> = threads.iter().map(|&t| (t, 0)).collect();
    let mut rng = Rng::new(0xF00D);
    for step in 0..3000 {
        let t = rng.pick(&threads);
        match rng.below(10) {
            0..=4 => {
                let value = u128::from(rng.bits()) << 64 | u128::from(step as u64);
                assert!(matches!(w.use_fp(t, value), Outcome::Done(_)));
                model.insert(t, value);
            }
            5..=6 => {
                let _ = w.enter(t);
            }
            7 => {
                // Moved to the other CPU while it does not run.
                if w.state(t) == ThreadState::Ready {
                    let cpu = w.k.tcb(t).unwrap().cpu;
                    w.k.place(t, 3 - cpu);
                }
            }
            8 => {
                let _ = w.tick(rng.below(2) as usize + 1);
            }
            _ => {
                if threads.len() > 2 {
                    w.on_cpu(0);
                    w.k.delete_thread(t);
                    if w.k.tcb(t).is_some() {
                        let cpu = w.k.tcb(t).unwrap().cpu as usize;
                        w.tick(cpu);
                    }
                    threads.retain(|&x| x != t);
                    model.remove(&t);
                    let fresh = w.thread(s, UTCB + (10 + step) as u64 * P, 1, 50);
                    threads.push(fresh);
                    model.insert(fresh, 0);
                }
            }
        }
        for (&t, &want) in &model {
            assert_eq!(w.fp_of(t), want, "step {step}: thread {t}'s FP state");
        }
        let cpus: Vec<usize> = w.m.cpus().map(|c| c.index).collect();
        let owners: Vec<u32> =
            cpus.into_iter().map(|c| w.k.sched(c).unwrap().fp_owner).filter(|&o| o != 0).collect();
        let mut unique = owners.clone();
        unique.dedup();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), owners.len(), "step {step}: no two CPUs own one thread's FP state");
    }
    w.check();
}

#[test]
fn an_unmapped_page_leaves_no_tlb_entry_anywhere() {
    let mut w = World::new();
    let root_space = w.space_of(ROOT);
    let va = 0x1000_0000;
    let pa = memory(&mut w, 0, va, 0);
    assert_eq!(w.touch(ROOT, va, true), Some(pa));
    w.check();
    let fpage = abi::fpage::Fpage::new(va, 12, abi::fpage::Rights::RWX).unwrap();
    w.write_utcb(ROOT, abi::utcb::MR_OFFSET, fpage.raw());
    let control = abi::syscall::UnmapControl::new(1, true).unwrap().raw();
    assert_eq!(w.svc(ROOT, Syscall::Unmap, [control, 0, 0, 0, 0, 0, 0, 0]).status(), Ok(()));
    assert_eq!(w.k.translate_user(root_space, va), None);
    assert_eq!(w.touch(ROOT, va, false), None, "the TLB forgot it too");
    w.check();
}

#[test]
fn random_lifecycles_of_spaces_and_threads_keep_every_invariant() {
    let mut w = World::new();
    let free = w.free();
    let mut rng = Rng::new(0x5EED);
    // The model: each thread's space, each space's threads; UTCB slots per space.
    let mut space_of: BTreeMap<u32, u16> = BTreeMap::new();
    let mut next_utcb: BTreeMap<u16, u64> = BTreeMap::new();
    for step in 0..600 {
        let spaces: Vec<u16> = next_utcb.keys().copied().collect();
        let threads: Vec<u32> = space_of.keys().copied().collect();
        w.on_cpu(0);
        match rng.below(8) {
            0 if spaces.len() < 8 => {
                let home = node(rng.below(2) as u32);
                let s = w.k.create_space(home, QUOTA).unwrap();
                let t = w.thread(s, UTCB, rng.below(4) as u32, 10 + rng.below(3) as u8);
                space_of.insert(t, s);
                next_utcb.insert(s, UTCB + P);
            }
            1 | 2 if !spaces.is_empty() => {
                let s = rng.pick(&spaces);
                let utcb = next_utcb[&s];
                let t = w.thread(s, utcb, rng.below(4) as u32, 10 + rng.below(3) as u8);
                next_utcb.insert(s, utcb + P);
                space_of.insert(t, s);
            }
            3 if !threads.is_empty() => {
                let t = rng.pick(&threads);
                w.k.delete_thread(t);
                if let Some(tcb) = w.k.tcb(t) {
                    assert!(tcb.doomed);
                    let cpu = tcb.cpu as usize;
                    w.tick(cpu);
                }
                assert!(w.k.tcb(t).is_none(), "step {step}: thread {t} deleted");
                let s = space_of.remove(&t).unwrap();
                if !space_of.values().any(|&x| x == s) {
                    next_utcb.remove(&s);
                    assert!(w.k.space(s).is_none(), "step {step}: space {s} went with its last thread");
                }
            }
            4 if !threads.is_empty() && !spaces.is_empty() => {
                let (t, to) = (rng.pick(&threads), rng.pick(&spaces));
                let from = space_of[&t];
                let utcb = if from == to { w.k.tcb(t).unwrap().utcb_va } else { next_utcb[&to] };
                let running = w.state(t) == ThreadState::Running;
                match w.k.move_thread(t, to, utcb, rng.below(4) as u32) {
                    Ok(()) => {
                        assert!(!running);
                        space_of.insert(t, to);
                        if from != to {
                            next_utcb.insert(to, utcb + P);
                            if !space_of.values().any(|&x| x == from) {
                                next_utcb.remove(&from);
                            }
                        }
                    }
                    Err(e) => assert_eq!((e, running), (Error::Busy, true), "step {step}"),
                }
            }
            5 | 6 => {
                let cpu = rng.below(4) as usize;
                w.tick(cpu);
            }
            _ => {
                for cpu in 0..4 {
                    w.run(cpu);
                }
            }
        }
        w.check();
        let live: Vec<u32> = w.threads().into_iter().filter(|&t| t != ROOT).collect();
        assert_eq!(live, space_of.keys().copied().collect::<Vec<_>>(), "step {step}: live threads");
        for (&t, &s) in &space_of {
            assert_eq!(w.space_of(t), s, "step {step}: thread {t}'s space");
        }
    }
    for t in space_of.keys().copied().collect::<Vec<_>>() {
        w.on_cpu(0);
        w.k.delete_thread(t);
        if let Some(cpu) = w.k.tcb(t).map(|tcb| tcb.cpu as usize) {
            w.tick(cpu);
        }
    }
    w.check();
    assert_eq!(w.free(), free, "every frame came back");
}

/// `MemoryControl` by the root task: 2^order read-write frames on `node` at `va`;
/// their physical base.
pub fn memory(w: &mut World, node: u64, va: u64, order: u64) -> u64 {
    let flags = abi::memory_control::MemoryControlFlags {
        nearest_if_exhausted: false,
        rights: abi::fpage::Rights::RW,
        device: false,
        free: false,
    };
    let r = w.svc(ROOT, Syscall::MemoryControl, [node, order, va, flags.raw(), 0, 0, 0, 0]);
    assert_eq!(r.status(), Ok(()), "MemoryControl at {va:#x}");
    r.regs()[1]
}

/// A message tag.
pub fn tag(label: u16, u: u8, t: u8) -> u64 {
    abi::message::Tag::new(label, u, t).unwrap().raw()
}
