// SPDX-License-Identifier: MIT OR Apache-2.0
//! Preemption points: a long system call stops where an interrupt waits, lets it be
//! served, and goes on from where it stopped when the thread makes the call again.
//!
//! # Why
//! The kernel runs every system call with interrupts masked (one kernel stack per CPU,
//! the event model of `l4`). Most calls are short, but a call over many pages (an
//! `Unmap` of a large flexpage, a `MemoryControl` of a large block, its free, the
//! deletion of a space) did work in proportion to its argument with nothing able to
//! interrupt it: 542,961 instructions for a block of 256 pages, where serving an
//! interrupt takes about 700.
//! For an RTOS the worst case is the figure that counts (issue 17).
//!
//! # Design
//! seL4's restartable operations. A long loop asks after each unit of work (a page, a
//! mapping or a table of a space being deleted, a few missing tables passed in a walk
//! over a sparse space) whether an interrupt waits to be taken
//! ([`super::Machine::interrupt_waiting`]: `ISR_EL1` on the hardware). If one does,
//! the call records how far it got in its thread's TCB ([`crate::thread::Restart`]:
//! the call's registers x0..x8, its space and a [`Progress`]), leaves the registers as
//! they were, sets the thread's return address back onto its `svc` and returns. The
//! kernel then takes the interrupt at once, as if right after the call
//! (`trap_user_entry` in `entry.rs`); its handler runs if it should; and when the
//! thread runs again it executes the same `svc` with the same registers. The call
//! finds its record, checks it is the same call ([`resume`]), and continues.
//!
//! ```text
//!   svc ──> work, work, [interrupt waits?] ──no──> work ... ──> result in x0, eret past svc
//!                              │yes
//!                              v
//!           record progress, ELR = the svc ──> interrupt taken ──> handler runs
//!                                             ... the thread again: svc ──> resume
//! ```
//!
//! Each unit of work is one the call would have made anyway, and is done once: so the
//! call ends with the same result as when it runs whole (the host tests compare both
//! on random sequences: `l4::restart::tests`). What is left of a stopped call is only
//! its record; a record that is not resumed is abandoned ([`abandon`]): when the
//! thread makes another call, is given another IP by `ExchangeRegisters`, or is
//! deleted. Abandoning gives back what only the record holds (a `Take`'s frames not
//! mapped yet, in at most 36 naturally aligned pieces), so it is short too.
//!
//! A space deletion (`ThreadControl` deleting a space's last thread) is not abandoned:
//! the thread that began it owes it, and whatever call it makes next through the
//! general path goes on with it first (a fast-path IPC does not), then is made; given
//! another IP, the thread still owes it ([`redirect`]). Only when that thread is
//! deleted does the deleter finish it, whole.
//!
//! # Invariants
//! - A call stops only after it made progress: the first unit of work of each
//!   resumption is done before the first question, so a call always ends, however
//!   often interrupts come.
//! - A stopped call has written nothing to its registers and its record names
//!   exactly the work done.
//! - Between two preemption points the kernel maps or unmaps at most one page (and
//!   what the MDB derived from it: see the worst-case table in
//!   `docs/src/realtime.md`).

use super::{Kernel, Machine};
use crate::thread::Progress;
use abi::Error;

/// Why a preemptible call returned early: an error for the caller, or a preemption
/// point where an interrupt waited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// The call failed: its status.
    Error(Error),
    /// The call stopped at a preemption point, this far.
    Preempted(Progress),
}

impl From<Error> for Cut {
    fn from(e: Error) -> Cut {
        Cut::Error(e)
    }
}

/// A preemption point: `Err(Cut::Preempted(progress))` if an interrupt waits.
#[inline(always)]
pub fn point<M: Machine>(k: &Kernel<M>, progress: Progress) -> Result<(), Cut> {
    if k.machine.interrupt_waiting() { Err(Cut::Preempted(progress)) } else { Ok(()) }
}

/// The progress of thread `cur`'s stopped call, and whether the call it makes now
/// (registers `regs`, x0..x8, from the same space) is that call. A space deletion it
/// owes is returned whatever the call (it goes on first); any other record of
/// another call is abandoned.
pub fn resume<M: Machine>(k: &mut Kernel<M>, cur: u32, regs: &[u64; 9]) -> Option<(Progress, bool)> {
    let t = k.tcb(cur)?;
    let space = t.space;
    let record = t.restart.take()?;
    let same = record.regs == Some(*regs) && record.space == space;
    if same || matches!(record.progress, Progress::DeleteSpace { .. }) {
        return Some((record.progress, same));
    }
    abandon(k, record.progress);
    None
}

/// Records that thread `cur`'s call (registers `regs`) stopped this far, and sets its
/// return address back onto its `svc` (an A64 instruction: 4 bytes), so that the
/// thread makes the call again once the interrupt has been served.
pub fn stop<M: Machine>(k: &mut Kernel<M>, cur: u32, regs: [u64; 9], progress: Progress) {
    if let Some(t) = k.tcb(cur) {
        t.restart = Some(crate::thread::Restart { regs: Some(regs), space: t.space, progress });
        t.context.elr = t.context.elr.wrapping_sub(4);
    }
}

/// Thread `t` is given another IP (`ExchangeRegisters`): its stopped call will not be
/// made again. What only the record holds goes back; a space deletion it owes stays
/// owed, to go on at its next call.
pub fn redirect<M: Machine>(k: &mut Kernel<M>, t: u32) {
    let Some(tcb) = k.tcb(t) else { return };
    let Some(record) = tcb.restart.take() else { return };
    if matches!(record.progress, Progress::DeleteSpace { .. }) {
        tcb.restart = Some(crate::thread::Restart { regs: None, ..record });
        return;
    }
    abandon(k, record.progress);
}

/// Thread `t` is deleted: its stopped call will not be made again; what only its
/// record holds goes back.
pub fn forget<M: Machine>(k: &mut Kernel<M>, t: u32) {
    if let Some(record) = k.tcb(t).and_then(|tcb| tcb.restart.take()) {
        abandon(k, record.progress);
    }
}

/// Gives back what only a stopped call's record holds: a `Take`'s frames from `next`
/// on; a space deletion is finished, whole (its thread was deleted: nobody owes it
/// any more; bounded by that space's quota). (Pages a take mapped are the space's
/// owned pages; the other calls hold nothing.)
pub fn abandon<M: Machine>(k: &mut Kernel<M>, progress: Progress) {
    match progress {
        Progress::Take { pa, frames, next, .. } => free_tail(k, pa, next, frames),
        Progress::DeleteSpace { space, .. } => k.delete_space(space),
        _ => {}
    }
}

/// Deletes `space` (which has no threads) from its mappings at `from` on, one
/// mapping (with all derived from it) between two preemption points, then frees its
/// tables and ASID. `owed`: the thread makes another call than the deletion, which
/// goes on after it (recorded in the progress).
pub fn delete_space<M: Machine>(
    k: &mut Kernel<M>,
    space: u16,
    (mut from, tables): (u64, bool),
    owed: bool,
) -> Result<(), Cut> {
    if !tables {
        while let Some(next) = k.delete_space_from(space, from) {
            from = next;
            point(k, Progress::DeleteSpace { space, from, tables: false, owed })?;
        }
        from = 0;
    }
    // No mapping is left: its tables, one between two points, in address order.
    while let Some(next) = k.destroy_space_step(space, from) {
        from = next;
        point(k, Progress::DeleteSpace { space, from, tables: true, owed })?;
    }
    Ok(())
}

/// Gives back frames `from..total` of the block of `total` frames at `pa` (taken by
/// this call, never mapped), as naturally aligned pieces.
pub fn free_tail<M: Machine>(k: &Kernel<M>, pa: u64, from: u64, total: u64) {
    let pool = k.frames();
    for (first, count) in aligned_pieces(from, total) {
        // SAFETY: frames `first..first + count` are a naturally aligned part of the
        // block this call allocated, never mapped, and not freed before (a tail is
        // freed once: the record that held it is gone).
        let freed = unsafe { pool.free(pa + first * abi::PAGE_SIZE, count as usize) };
        freed.expect("invariant: the unmapped tail of a block this call allocated");
    }
}

/// `from..total` (`total` a power of two) as naturally aligned pieces `(first, count)`:
/// at most log2(total) + 1 of them.
fn aligned_pieces(from: u64, total: u64) -> impl Iterator<Item = (u64, u64)> {
    let mut at = from;
    core::iter::from_fn(move || {
        if at >= total {
            return None;
        }
        let count = if at == 0 { total } else { 1 << at.trailing_zeros() };
        let piece = (at, count);
        at += count;
        Some(piece)
    })
}

#[cfg(test)]
mod tests {
    use super::super::fake::{Outcome, ROOT, Rng, World};
    use super::super::tests::tag;
    use super::aligned_pieces;
    use crate::thread::Progress;
    use abi::fpage::{Fpage, Rights};
    use abi::memory_control::MemoryControlFlags;
    use abi::message::TypedItem;
    use abi::syscall::{ExregsControl, Syscall, UnmapControl};
    use abi::timeout::Timeouts;
    use platform::NodeId;
    use std::collections::BTreeMap;
    use std::vec::Vec;

    const P: u64 = abi::PAGE_SIZE;
    /// The root's region: four slots of 64 pages.
    const BASE: u64 = 0x4000_0000;
    const SLOT: u64 = 64 * P;
    /// Where the child receives what the root maps it.
    const WINDOW: u64 = 0x1_0000_0000;

    fn take(node: u64, order: u64, va: u64) -> [u64; 8] {
        let rw = MemoryControlFlags {
            nearest_if_exhausted: false,
            rights: Rights::RW,
            device: false,
            free: false,
        };
        [node, order, va, rw.raw(), 0, 0, 0, 0]
    }

    fn free(order: u64, va: u64) -> [u64; 8] {
        [0, order, va, MemoryControlFlags::FREE.raw(), 0, 0, 0, 0]
    }

    /// Unmap of `fpage` (in the root's MR0).
    fn unmap(w: &mut World, fpage: Fpage, flush: bool) -> [u64; 8] {
        w.write_utcb(ROOT, abi::utcb::MR_OFFSET, fpage.raw());
        [UnmapControl::new(1, flush).unwrap().raw(), 0, 0, 0, 0, 0, 0, 0]
    }

    /// A world with a child thread (its own space, on CPU 1) waiting to receive
    /// mappings in a window at [`WINDOW`].
    fn world() -> (World, u32) {
        let mut w = World::new();
        let s = w.k.create_space(NodeId::ZERO, 16 << 20).unwrap();
        let t = w.thread(s, 0x20_0000, 1, 100);
        receive(&mut w, t);
        (w, t)
    }

    fn receive(w: &mut World, t: u32) {
        w.write_utcb(t, abi::utcb::BR_OFFSET, Fpage::new(WINDOW, 32, Rights::RWX).unwrap().raw());
        let _ = w.svc(t, Syscall::Ipc, [0, u64::MAX, Timeouts::NEVER.pack(), 0, 0, 0, 0, 0]);
    }

    /// The root maps `fpage` to the child (waiting), which then waits again.
    fn map_to_child(w: &mut World, t: u32, fpage: Fpage) -> Outcome {
        let tid = w.id(t);
        let item = TypedItem::Map { send_base: fpage.base() - BASE, fpage }.encode().unwrap();
        let send = [tid, 0, Timeouts::NEVER.pack(), tag(1, 0, 2), item[0], item[1], 0, 0];
        let out = w.svc(ROOT, Syscall::Ipc, send);
        receive(w, t);
        out
    }

    /// A physical address as (node, offset in the node's memory): equal in two worlds
    /// that allocated alike.
    fn norm(w: &World, pa: u64) -> (usize, u64) {
        let node = w.ram.iter().position(|r| r.contains(pa)).expect("RAM of a node");
        (node, pa - w.ram[node].base)
    }

    /// What two worlds must agree on: every mapping of the root and the child (frames
    /// normalised), the free memory of each node.
    fn state(w: &mut World, t: u32) -> (Mappings, Mappings, [u64; 2]) {
        let (root, child) = (w.space_of(ROOT), w.space_of(t));
        (mappings(w, root), mappings(w, child), w.free())
    }

    type Mappings = Vec<(u64, (usize, u64), bool)>;

    /// `space`'s mappings, frames normalised.
    fn mappings(w: &mut World, space: u16) -> Mappings {
        let m: BTreeMap<u64, (u64, bool)> = w.mappings(space);
        m.into_iter().map(|(va, (pa, write))| (va, norm(w, pa), write)).collect()
    }

    #[test]
    fn a_tail_goes_back_in_few_naturally_aligned_pieces() {
        for total in [1u64, 2, 8, 256] {
            for from in 0..=total {
                let pieces: Vec<_> = aligned_pieces(from, total).collect();
                let mut at = from;
                for &(first, count) in &pieces {
                    assert_eq!(first, at, "contiguous");
                    assert!(count.is_power_of_two() && first.is_multiple_of(count), "aligned");
                    at += count;
                }
                assert_eq!(at, total.max(from));
                assert!(pieces.len() as u32 <= total.trailing_zeros() + 1);
            }
        }
    }

    #[test]
    fn long_calls_stop_at_every_waiting_interrupt_and_end_as_they_would_whole() {
        let (mut a, ta) = world();
        let (mut b, tb) = world();
        a.preempt_every(1);
        let derived = Fpage::new(BASE, 18, Rights::RW).unwrap();
        type Step = fn(&mut World) -> (Syscall, [u64; 8]);
        let steps: [(&str, Step, bool); 6] = [
            ("take 64 pages", |_| (Syscall::MemoryControl, take(1, 6, BASE)), true),
            (
                "take write from what the child got",
                |w| (Syscall::Unmap, unmap(w, Fpage::new(BASE, 18, Rights::W).unwrap(), false)),
                false,
            ),
            (
                "unmap what the child got",
                |w| (Syscall::Unmap, unmap(w, Fpage::new(BASE, 18, Rights::RWX).unwrap(), false)),
                true,
            ),
            ("free the block (and what the child got)", |_| (Syscall::MemoryControl, free(6, BASE)), false),
            ("take 64 pages again", |_| (Syscall::MemoryControl, take(0, 6, BASE)), false),
            (
                "unmap them all, with flush",
                |w| (Syscall::Unmap, unmap(w, Fpage::new(BASE, 18, Rights::RWX).unwrap(), true)),
                false,
            ),
        ];
        for (what, step, map_after) in steps {
            let (call, args) = step(&mut a);
            let (one, restarts) = a.svc_restarting(ROOT, call, args);
            let (call, args) = step(&mut b);
            let (whole, none) = b.svc_restarting(ROOT, call, args);
            assert_eq!(none, 0, "{what}: never stopped without a waiting interrupt");
            assert!(restarts >= 63, "{what}: stopped after each page ({restarts} times)");
            assert_eq!(one.status(), Ok(()), "{what}");
            assert_eq!(one.status(), whole.status(), "{what}");
            assert_eq!(state(&mut a, ta), state(&mut b, tb), "{what}: the same result");
            if map_after {
                // The child gets mappings to revoke (read-write).
                assert_eq!(map_to_child(&mut a, ta, derived).status(), Ok(()));
                assert_eq!(map_to_child(&mut b, tb, derived).status(), Ok(()));
                let child = a.space_of(ta);
                assert_eq!(a.mappings(child).range(WINDOW..).count(), 64);
            }
            a.check();
            b.check();
        }
        let root = a.space_of(ROOT);
        assert_eq!(a.mappings(root).range(BASE..BASE + SLOT).count(), 0);
        let child = a.space_of(ta);
        assert_eq!(a.mappings(child).range(WINDOW..).count(), 0, "the child's pages went with the root's");
    }

    #[test]
    fn between_two_preemption_points_at_most_one_page_is_mapped_or_unmapped() {
        let (mut w, t) = world();
        let _ = w.most_work_between_checks();
        assert_eq!(w.svc(ROOT, Syscall::MemoryControl, take(0, 6, BASE)).status(), Ok(()));
        // One page mapped between two points (the first also makes its tables).
        assert!(w.most_work_between_checks() <= 1, "take");
        assert_eq!(map_to_child(&mut w, t, Fpage::new(BASE, 18, Rights::RW).unwrap()).status(), Ok(()));
        let _ = w.most_work_between_checks();
        let args = unmap(&mut w, Fpage::new(BASE, 18, Rights::RWX).unwrap(), true);
        assert_eq!(w.svc(ROOT, Syscall::Unmap, args).status(), Ok(()));
        // A page and the one mapping derived from it.
        assert!(w.most_work_between_checks() <= 2, "unmap");
        assert_eq!(w.svc(ROOT, Syscall::MemoryControl, take(0, 6, BASE)).status(), Ok(()));
        let _ = w.most_work_between_checks();
        assert_eq!(w.svc(ROOT, Syscall::MemoryControl, free(6, BASE)).status(), Ok(()));
        assert!(w.most_work_between_checks() <= 1, "free");
        w.check();
    }

    #[test]
    fn a_take_that_fails_part_way_is_undone_in_steps_and_changes_nothing() {
        let (mut w, t) = world();
        assert_eq!(w.svc(ROOT, Syscall::MemoryControl, take(0, 0, BASE + 40 * P)).status(), Ok(()));
        let before = state(&mut w, t);
        w.preempt_every(1);
        let (out, restarts) = w.svc_restarting(ROOT, Syscall::MemoryControl, take(0, 6, BASE));
        assert_eq!(out.status(), Err(abi::Error::InvalidArgument), "page 40 is taken");
        assert!(restarts >= 40 + 39, "40 pages mapped and 40 unmapped, a stop after each");
        assert_eq!(state(&mut w, t), before, "nothing changed, every frame back");
        w.check();
    }

    #[test]
    fn a_stopped_call_that_is_not_made_again_gives_back_what_it_held() {
        let (mut w, t) = world();
        // The region's tables and a slab of MDB entries first: they stay.
        assert_eq!(w.svc(ROOT, Syscall::MemoryControl, take(0, 0, BASE)).status(), Ok(()));
        assert_eq!(w.svc(ROOT, Syscall::MemoryControl, free(0, BASE)).status(), Ok(()));
        let before = state(&mut w, t);
        // Stopped after 10 pages (two points a page: zeroed, mapped).
        w.preempt_every(20);
        assert_eq!(w.svc(ROOT, Syscall::MemoryControl, take(0, 6, BASE)).status(), Ok(()));
        assert!(w.k.tcb(ROOT).unwrap().restart.is_some(), "stopped");
        w.preempt_every(0);
        // Another call: the record is abandoned, the frames not mapped go back; the ten
        // pages mapped stay the root's owned pages, and a free gives them back.
        let _ = w.svc(ROOT, Syscall::SystemClock, [0; 8]);
        assert!(w.k.tcb(ROOT).unwrap().restart.is_none());
        let root = w.space_of(ROOT);
        assert_eq!(w.mappings(root).range(BASE..BASE + SLOT).count(), 10);
        assert_eq!(w.svc(ROOT, Syscall::MemoryControl, free(0, BASE)).status(), Ok(()));
        for i in 1..10 {
            assert_eq!(w.svc(ROOT, Syscall::MemoryControl, free(0, BASE + i * P)).status(), Ok(()));
        }
        assert_eq!(state(&mut w, t), before, "every frame back");
        w.check();

        // A thread given another IP, and a thread deleted, give theirs back too.
        let free_before = w.free();
        let s = w.k.create_space(NodeId::ZERO, 16 << 20).unwrap();
        let u = w.thread(s, 0x20_0000, 0, 100);
        w.k.space(s).unwrap().privileged = true;
        w.preempt_every(21);
        let _ = w.svc(u, Syscall::MemoryControl, take(1, 6, BASE));
        assert!(w.k.tcb(u).unwrap().restart.is_some(), "stopped");
        w.preempt_every(0);
        let uid = w.id(u);
        let _ = w.run(0);
        let ip = (ExregsControl::SET_IP).raw();
        assert_eq!(
            w.svc(ROOT, Syscall::ExchangeRegisters, [uid, ip, 0, 0x40_1000, 0, 0, 0, 0]).status(),
            Ok(())
        );
        assert!(w.k.tcb(u).unwrap().restart.is_none(), "abandoned");
        w.preempt_every(21);
        let _ = w.svc(u, Syscall::MemoryControl, take(1, 6, BASE + SLOT));
        assert!(w.k.tcb(u).unwrap().restart.is_some(), "stopped");
        w.preempt_every(0);
        assert_eq!(w.svc(ROOT, Syscall::ThreadControl, [uid, 0, 0, 0, 0, 0, 0, 0]).status(), Ok(()));
        assert_eq!(w.free(), free_before, "the space and all it held are gone");
        w.check();
    }

    #[test]
    fn random_long_calls_stopped_at_random_points_end_as_they_would_whole() {
        let (mut a, ta) = world();
        let (mut b, tb) = world();
        let mut rng = Rng::new(17);
        let rights = [Rights::R, Rights::W, Rights::RW, Rights::RWX];
        let mut restarts = 0;
        for step in 0..400 {
            let order = rng.below(7);
            let slot = BASE + rng.below(4) * SLOT;
            let va = slot + (rng.below(64 >> order) << order) * P;
            let kind = rng.below(4);
            let fpage = Fpage::new(va, 12 + order as u8, rng.pick(&rights)).unwrap();
            let flush = rng.below(2) == 0;
            let node = rng.below(2);
            let every = 1 + rng.below(5);
            a.preempt_every(every);
            let mut outs = Vec::new();
            for (w, t) in [(&mut a, ta), (&mut b, tb)] {
                let out = match kind {
                    0 => w.svc_restarting(ROOT, Syscall::MemoryControl, take(node, order, va)),
                    1 => w.svc_restarting(ROOT, Syscall::MemoryControl, free(order, va)),
                    2 => {
                        let args = unmap(w, fpage, flush);
                        let out = w.svc_restarting(ROOT, Syscall::Unmap, args);
                        (out.0, out.1)
                    }
                    _ => (map_to_child(w, t, fpage), 0),
                };
                let regs = match out.0 {
                    Outcome::Done(r) => r,
                    other => panic!("step {step}: the root goes on ({other:?})"),
                };
                let pa = if kind == 0 && regs[0] == 0 { Some(norm(w, regs[1])) } else { None };
                let mr0 = w.read_utcb(ROOT, abi::utcb::MR_OFFSET);
                outs.push((regs[0], pa, regs[2], mr0, out.1));
            }
            restarts += outs[0].4;
            assert_eq!(outs[1].4, 0);
            assert_eq!(
                (outs[0].0, outs[0].1, outs[0].2, outs[0].3),
                (outs[1].0, outs[1].1, outs[1].2, outs[1].3),
                "step {step}: kind {kind}, order {order}, va {va:#x}: the same results"
            );
            assert_eq!(state(&mut a, ta), state(&mut b, tb), "step {step}: the same mappings and memory");
            if step % 20 == 0 {
                a.check();
                b.check();
            }
        }
        assert!(restarts > 1000, "the calls were stopped ({restarts} times)");
        a.check();
        b.check();
    }

    /// Two worlds whose child space holds 64 pages the root mapped it (and the root a
    /// page of its own in the child's window's way: nothing of the child's).
    fn worlds_with_a_full_child() -> ((World, u32), (World, u32)) {
        let mut pair = Vec::new();
        for _ in 0..2 {
            let (mut w, t) = world();
            assert_eq!(w.svc(ROOT, Syscall::MemoryControl, take(0, 6, BASE)).status(), Ok(()));
            assert_eq!(map_to_child(&mut w, t, Fpage::new(BASE, 18, Rights::RW).unwrap()).status(), Ok(()));
            let child = w.space_of(t);
            assert_eq!(w.mappings(child).range(WINDOW..).count(), 64);
            pair.push((w, t));
        }
        let b = pair.pop().unwrap();
        (pair.pop().unwrap(), b)
    }

    /// What two worlds must agree on once the child is gone: the root's mappings and
    /// the free memory.
    fn root_state(w: &mut World) -> (Mappings, [u64; 2]) {
        let root = w.space_of(ROOT);
        (mappings(w, root), w.free())
    }

    #[test]
    fn deleting_a_space_stops_after_each_mapping_and_ends_as_it_would_whole() {
        let ((mut a, ta), (mut b, tb)) = worlds_with_a_full_child();
        let (child_a, child_b) = (a.space_of(ta), b.space_of(tb));
        let delete = |w: &mut World, t: u32| [w.id(t), 0, 0, 0, 0, 0, 0, 0];
        a.preempt_every(1);
        let _ = a.most_work_between_checks();
        let (one, restarts) = {
            let args = delete(&mut a, ta);
            a.svc_restarting(ROOT, Syscall::ThreadControl, args)
        };
        // One mapping revoked between two points (the first stretch also unmaps the
        // deleted thread's UTCB).
        assert!(a.most_work_between_checks() <= 2, "one mapping revoked between two points");
        let (whole, none) = {
            let args = delete(&mut b, tb);
            b.svc_restarting(ROOT, Syscall::ThreadControl, args)
        };
        assert_eq!((one.status(), whole.status()), (Ok(()), Ok(())));
        assert_eq!(none, 0);
        assert!(restarts >= 63, "stopped after each of the child's 64 mappings ({restarts} times)");
        assert!(a.k.space(child_a).is_none() && b.k.space(child_b).is_none(), "the spaces are gone");
        assert_eq!(root_state(&mut a), root_state(&mut b), "the same result");
        a.check();
        b.check();
    }

    #[test]
    fn a_space_deletion_that_stopped_goes_on_at_the_next_call_whatever_it_is() {
        let ((mut a, ta), (mut b, tb)) = worlds_with_a_full_child();
        let child = a.space_of(ta);
        let tid = a.id(ta);
        // Stopped after 10 mappings; then the root makes another call, stopped too.
        a.preempt_every(10);
        let _ = a.svc(ROOT, Syscall::ThreadControl, [tid, 0, 0, 0, 0, 0, 0, 0]);
        assert!(matches!(
            a.k.tcb(ROOT).unwrap().restart.map(|r| r.progress),
            Some(Progress::DeleteSpace { owed: false, .. })
        ));
        assert!(a.k.space(child).is_some(), "not deleted yet");
        a.preempt_every(7);
        let (clock, restarts) = a.svc_restarting(ROOT, Syscall::SystemClock, [0; 8]);
        assert!(restarts >= 7, "the owed deletion stopped on the way ({restarts} times)");
        assert_eq!(clock.status(), Ok(()), "and the call made after it");
        assert!(a.k.tcb(ROOT).unwrap().restart.is_none());
        assert!(a.k.space(child).is_none(), "deleted first");
        let tid = b.id(tb);
        assert_eq!(b.svc(ROOT, Syscall::ThreadControl, [tid, 0, 0, 0, 0, 0, 0, 0]).status(), Ok(()));
        assert_eq!(root_state(&mut a), root_state(&mut b), "the same result");
        a.check();
    }

    /// A privileged space with a thread `u` that has begun to delete the last thread
    /// of a third space holding 64 pages of `u`'s space, and stopped after 10 of them
    /// (`stop`), or not (the same calls, whole): `(world, u, the third space)`.
    fn a_deleter(stop: bool) -> (World, u32, u16) {
        let mut w = World::new();
        let s = w.k.create_space(NodeId::ZERO, 16 << 20).unwrap();
        let u = w.thread(s, 0x20_0000, 0, 100);
        w.k.space(s).unwrap().privileged = true;
        let s2 = w.k.create_space(NodeId::ZERO, 16 << 20).unwrap();
        let v = w.thread(s2, 0x20_0000, 1, 100);
        receive(&mut w, v);
        assert_eq!(w.svc(u, Syscall::MemoryControl, take(0, 6, BASE)).status(), Ok(()));
        let vid = w.id(v);
        let item = TypedItem::Map { send_base: 0, fpage: Fpage::new(BASE, 18, Rights::RW).unwrap() };
        let [w0, w1] = item.encode().unwrap();
        let out = w.svc(u, Syscall::Ipc, [vid, 0, Timeouts::NEVER.pack(), tag(1, 0, 2), w0, w1, 0, 0]);
        assert_eq!(out.status(), Ok(()));
        w.preempt_every(if stop { 10 } else { 0 });
        let _ = w.svc(u, Syscall::ThreadControl, [vid, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(w.k.space(s2).is_some(), stop, "stopped, or done");
        w.preempt_every(0);
        let _ = w.run(0);
        (w, u, s2)
    }

    #[test]
    fn a_space_deletion_owed_by_a_thread_given_another_ip_or_deleted_is_finished() {
        // Deleted: the deletion is finished with the thread that owed it.
        let ((mut a, ua, sa), (mut b, ub, _)) = (a_deleter(true), a_deleter(false));
        for (w, u) in [(&mut a, ua), (&mut b, ub)] {
            let uid = w.id(u);
            assert_eq!(w.svc(ROOT, Syscall::ThreadControl, [uid, 0, 0, 0, 0, 0, 0, 0]).status(), Ok(()));
        }
        assert!(a.k.space(sa).is_none());
        assert_eq!(a.free(), b.free(), "every frame back, as whole");
        a.check();
        // Given another IP: still owed, and done at its next call.
        let ((mut a, ua, sa), (mut b, ub, _)) = (a_deleter(true), a_deleter(false));
        let ip = ExregsControl::SET_IP.raw();
        for (w, u) in [(&mut a, ua), (&mut b, ub)] {
            let uid = w.id(u);
            let out = w.svc(ROOT, Syscall::ExchangeRegisters, [uid, ip, 0, 0x40_1000, 0, 0, 0, 0]);
            assert_eq!(out.status(), Ok(()));
        }
        assert!(a.k.tcb(ua).unwrap().restart.is_some_and(|r| r.regs.is_none()), "owed");
        assert!(a.k.space(sa).is_some());
        for (w, u) in [(&mut a, ua), (&mut b, ub)] {
            assert_eq!(w.svc(u, Syscall::SystemClock, [0; 8]).status(), Ok(()));
        }
        assert!(a.k.space(sa).is_none(), "done at its next call");
        assert!(a.k.tcb(ua).unwrap().restart.is_none());
        assert_eq!(a.free(), b.free(), "every frame back, as whole");
        a.check();
    }
}
