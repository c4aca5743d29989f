// SPDX-License-Identifier: MIT OR Apache-2.0
//! The fast paths: the common L4 round trips (IPC, and a page fault resolved by a
//! pager) in a few dozen lines each, before the general code.
//!
//! # Why
//! Nearly every IPC in an L4 system is a client's `Call` to a server waiting in its
//! `ReplyWait` loop, or the server's `ReplyWait` answering a client waiting for the
//! reply: a few untyped words in registers, the partner already waiting, nothing to
//! time out. Nearly every page fault goes to a pager waiting in its `ReplyWait` loop,
//! whose reply maps one page. The general path ([`super::ipc::ipc`],
//! [`super::ipc::fault`]) handles every case (typed items, UTCB words, queues,
//! timeouts, interrupts, allocation of tables) and pays for that generality on each
//! call: system-call decoding, lookups, the run queue, `pick`, the MDB's general
//! map. These paths do only what the common cases need:
//! - [`svc`] / `try_ipc`: copy MR0..MR4 (x3..x7), write the partner's status and
//!   sender id, block the caller, switch straight to the partner;
//! - [`svc`] / `try_map_reply`: the same for a pager's reply carrying one map item of
//!   one page, after entering the page (MDB child, page-table entry) at the target;
//! - [`abort`] / `try_fault`: write the fault message into the waiting pager's
//!   registers, block the faulting thread, switch to the pager.
//!
//! # Where they run
//! Straight from the entry assembly: `trap_user` (in `arch::aarch64::trap`) has saved
//! the caller's registers into its TCB; if the exception came through the AArch64-EL0
//! synchronous slot with ESR = [`SVC0_ESR`] (an `svc #0`, one compare) it calls
//! [`svc`], with EC 0x24 / 0x20 (a data or instruction abort) [`abort`], before
//! anything else; true sends it straight to `user_restore`, which loads the partner's
//! registers. No `Trap` is decoded, no interrupt state is looked at, and the general
//! path (`super::user_trap`) never runs. False means nothing was changed: the general
//! path runs as if the fast path had not been tried.
//!
//! # Conditions (all must hold; else the general path runs, unchanged)
//! - IPC: an `svc #0` from AArch64 EL0 with x8 = `Ipc`; the caller is not being
//!   deleted or moved to another CPU; `to` names a live thread (not an interrupt, not
//!   the caller), `from` is `to` (a Call) or any (`ReplyWait`), the receive timeout is
//!   never (x2: a zero receive fails instead of waiting, and a finite one goes into the
//!   CPU's timeout queue, `super::time`: both the general path's; only a pager's map
//!   reply may wait with a deadline, which its path, out of line, queues); the tag (x3) is valid and all its words are in
//!   registers (`1 + u + t <= 5`), with `t = 0`, or `t = 2` for a `ReplyWait`;
//! - the partner waits without a timeout (a pager told of a fault may have one: that
//!   path takes it out of the CPU's queue, out of line), in a receive that accepts the caller (`RecvBlocked` with
//!   `from` any or the caller), or, for a reply with an item, in the page fault the
//!   caller (its pager) was told of; it is on this CPU;
//! - the partner is what the scheduler would pick next: no ready thread here has its
//!   priority (with what a Call or fault lends it: `super::inherit`) or a higher one
//!   (the general path queues it at the back of its level);
//! - for an open receive (`ReplyWait`): no sender is queued on the caller, no
//!   notification waits for it and no interrupt is pending anywhere (the general path
//!   would deliver those first);
//! - a reply's item: a map (not grant) of one 4 KiB page that fits the receiver's
//!   window (the whole space for a fault), held by the pager through the MDB with some
//!   of the rights asked; the receiver's quota and node cover the worst case (as the
//!   general path's one-page check); its last-level table exists and nothing is mapped
//!   at the target (so no allocation but the MDB entry, and nothing to revoke);
//! - a fault: a page fault (EC 0x24 / 0x20) of a thread not being deleted or moved,
//!   whose pager waits for it (open, or from this thread) on this CPU and would run
//!   next.
//!
//! Under these conditions the general path would do exactly this: transfer the words
//! (and map the page as a child of the pager's mapping), complete the partner with
//! status 0 and the caller's id (a faulting thread: just let it retry its access),
//! block the caller in its receive, queue the partner and pick it at
//! once. [`classify`] (in `crate::ipc_fast`, built and tested on the host) holds the
//! register-only half of the decision; the kernel-state half is here. The boot tests,
//! `pagers/badargs` and `pagers/fuzz` drive every corner through both paths.
//!
//! # What they cost, and why they are written this way
//! `scripts/bench` (guest instructions under `-icount shift=0`, seL4 on the same QEMU
//! in brackets): a Call 185 (191), a ReplyWait 203 (215), counted from the caller's
//! last user instruction to the partner's first, entry and exit included; a fault
//! round trip through the pager, mapping included, 889 (1129); one page mapped by a
//! reply, over the same reply without it, 526 (561). About 60 of each path are the
//! entry and exit (every register saved to and loaded from the TCBs), a few the
//! CPU's own lock (the only lock the IPC and fault paths take: "Locking" in
//! [`super`]; a map reply also takes the general lock). The rest is kept small by keeping the compiler's hands free: one function
//! with everything inlined and **no call on the IPC path** (a call, even on a branch
//! not taken, makes the compiler keep the values live across it in callee-saved
//! registers, saved and restored every time; this alone was 20 instructions: so the
//! map reply, which must call the MDB and the slab allocator, is a function of its
//! own), the scheduler lock taken once, the ready-queue test one load when nothing
//! else is ready, the message copied without `memcpy`, the partner's TTBR0 cached in
//! its TCB, the tag and timeout checks as mask tests, and the receiver's tables walked
//! once for the map (the MDB's target found in the shadow beside the leaf table,
//! [`crate::mdb::Mdb::map_vacant`]).
//!
//! [`SVC0_ESR`]: crate::ipc_fast::SVC0_ESR

use super::threads::{Local, Threads};
use super::{Kernel, Machine, UserTables, fp_handover, ipc, mapdb};
use crate::ipc_fast::{Shape, classify};
use crate::mdb::SpaceId;
use crate::mm::addr::PhysAddr;
use crate::mm::table::{self, TableMemory};
use crate::percpu::{CpuSched, PerCpu};
use crate::thread::{FaultKind, MAX_THREADS, Tcb, ThreadState, split_id};
use abi::fpage::{Fpage, Rights};
use abi::message::TypedItem;

// Thread numbers at or above the interrupt base never name threads (so `classify`
// may send those ids to the general path without a lookup).
const _: () = assert!(MAX_THREADS as u64 <= abi::thread::INTERRUPT_NUMBER_BASE);

/// What the fast paths reach without the general lock (see "Locking" in [`super`]):
/// the machine and the thread table. `Copy`: on the target both are constants.
#[derive(Clone, Copy)]
pub struct Fast<M> {
    /// The machine.
    pub machine: M,
    /// The thread table.
    pub threads: &'static Threads,
}

/// The fast path's entry: called (through `crate::entry`, with only `me`'s own lock
/// taken, inside) by the entry assembly (`trap_user`) for an `svc #0` from AArch64
/// EL0 (ESR = [`crate::ipc_fast::SVC0_ESR`]) with the caller's registers saved in its
/// TCB. [`Taken::Done`]: done, `user_restore` runs the thread now current.
/// [`Taken::No`]: nothing changed, the general path ([`Kernel::trap`]) handles the
/// call. [`Taken::MapReply`]: nothing changed yet, `me`'s lock still held (the view
/// in it); the caller tries the general lock: if it is free, it calls [`map_reply`]
/// with both held; if not, it lets the view go, takes the general lock (the order:
/// the general lock first, then a CPU's) and calls [`map_reply`] without a view.
#[inline(always)]
pub fn svc<M: Machine>(fast: Fast<M>, me: &PerCpu) -> Taken<'_> {
    try_ipc(fast, me)
}

/// The map-reply fast path (see `try_map_reply`), with the general lock held (`k`),
/// and `me`'s lock since [`svc`] (`held`) or not: true when done, false (nothing
/// changed) for the general path.
#[inline(never)]
pub fn map_reply<M: Machine>(
    k: &mut Kernel<M>,
    me: &PerCpu,
    reply: MapReply,
    held: Option<Local<'_>>,
) -> bool {
    try_map_reply(k, me, reply.cur, reply.words, held)
}

/// The fault fast path's entry: called for a data or instruction abort from AArch64
/// EL0 (EC 0x24 / 0x20), registers saved, with only `me`'s own lock taken (inside). As
/// [`svc`]: true when done, false (nothing changed) for the general path.
#[inline(always)]
pub fn abort<M: Machine>(fast: Fast<M>, me: &PerCpu) -> bool {
    try_fault(fast, me)
}

/// What [`svc`] did.
pub enum Taken<'a> {
    /// Nothing: the general path runs.
    No,
    /// The IPC, completely.
    Done,
    /// Nothing yet: a reply with a map item, for [`map_reply`], and the view of `me`
    /// (its lock held) that found it.
    MapReply(MapReply, Local<'a>),
}

/// A reply with a map item (`words` long) by thread `cur`, found by [`svc`].
#[derive(Clone, Copy, Debug)]
pub struct MapReply {
    cur: u32,
    words: usize,
}

/// Runs the `Ipc` of the thread running on `me` on the fast path if it qualifies
/// (changing nothing otherwise).
///
/// One function, on purpose (and inlined into [`svc`]): the CPU's scheduler lock is
/// taken once and held to the end, every lookup happens once, and nothing is called
/// that would need the caller's registers spilled. (The general path's `dispatch` and
/// `fp_switch` do the same steps as the tail below, spread over calls.)
#[inline(always)]
fn try_ipc<M: Machine>(fast: Fast<M>, me: &PerCpu) -> Taken<'_> {
    let m = fast.machine;
    let mut l = Local::lock(fast.threads, me);
    let cur = l.sched.current;
    let Some((c, owned)) = l.tcb_owned(cur) else { return Taken::No };
    // Being deleted or moved to another CPU: the general path finishes that first.
    if c.doomed || c.move_to.is_some() {
        return Taken::No;
    }
    let regs: &[u64; 9] = c.context.x.first_chunk().expect("31 registers");
    let Some((shape, words)) = classify(regs) else { return Taken::No };
    if shape == Shape::ReplyMap {
        return Taken::MapReply(MapReply { cur, words }, l);
    }
    if shape == Shape::ReplyWait && (c.send_queue != 0 || !c.notes.is_empty() || m.any_interrupt_pending()) {
        return Taken::No;
    }
    let to = regs[0];
    // The partner: `to`'s number and version (`classify` excluded nil, any and
    // interrupts), waiting in a receive that accepts the caller, on this CPU, and
    // above every ready thread here.
    let (dest, version) = ((to >> 16) as u32, to as u16);
    let Some((c, d, sched)) = l.two_with(owned, dest) else { return Taken::No };
    let waits = matches!(d.state, ThreadState::RecvBlocked { from } if from.is_none_or(|f| f == cur));
    // Inheritance (`super::inherit`): a Call lends the server the caller's priority; a
    // ReplyWait ends what the caller inherited (nobody is queued on it: checked above).
    let call = shape == Shape::Call;
    let prio = if call { d.priority.max(c.priority) } else { d.priority };
    if !waits || d.deadline != 0 || !runs_next(d, version, prio, sched) {
        return Taken::No;
    }
    copy_message(c, d, words);
    // The caller's receive phase: it waits, without a timeout (`classify`).
    c.state = ThreadState::RecvBlocked { from: call.then_some(dest) };
    if !call {
        c.priority = c.base_priority;
    }
    d.priority = prio;
    run_next(m, d, me, sched, dest);
    hand_over_fp(m, &mut l, dest);
    l.sched.fast.ipc += 1;
    Taken::Done
}

/// The lazy FP/SIMD hand-over of [`super::Kernel::fp_switch`], on a fast path.
#[inline(always)]
fn hand_over_fp<M: Machine>(m: M, l: &mut Local<'_>, next: u32) {
    if let Some(owner) = fp_handover(m, &mut l.sched, next) {
        if let Some(old) = l.tcb(owner) {
            m.save_fp(&mut old.fp);
        }
        m.set_user_fp(false);
    }
}

/// A pager's `ReplyWait` whose reply maps one 4 KiB page ([`Shape::ReplyMap`]), to a
/// thread waiting for it on this CPU: either blocked in the page fault the pager was
/// told of, or waiting for the reply to its `Call`. The general path would check the
/// item against the receiver's window and the receiver's quota, make the page a child
/// of the pager's mapping in the MDB, enter it in the receiver's tables (fault: the
/// faulting thread retries its access; call: it receives the message), block the
/// pager in its open receive and run the receiver: this does the same when the case
/// is the plain one — a map (not grant) item of one page the pager holds through the
/// MDB, the receiver's last-level table already there and nothing mapped at the
/// target — and leaves everything else, unchanged, to the general path.
///
/// `cur` was the thread running on `me` when [`try_ipc`] found it, its registers
/// classified as a [`Shape::ReplyMap`] of `words`. `held`: `try_ipc`'s view, whose lock
/// was kept while the general lock was taken without waiting (a `try_lock`: holding a
/// CPU's lock, nothing may *wait* for the general lock, but taking a free one cannot
/// deadlock); `cur` is then as `try_ipc` checked it. `None`: `me`'s lock was let go
/// (to wait for the general lock first, the general path's order), and only `me` makes
/// another thread its current, but another CPU may have marked `cur` for deletion or a
/// move since: that is checked again. The TCBs are reached through `me`'s lock
/// ([`Local`]), the MDB and the tables through the general lock (`k`): `k`'s own CPU
/// locks are not used.
#[inline(always)]
fn try_map_reply<M: Machine>(
    k: &mut Kernel<M>,
    me: &PerCpu,
    cur: u32,
    words: usize,
    held: Option<Local<'_>>,
) -> bool {
    let m = k.machine;
    let kept = held.is_some();
    let mut l = match held {
        Some(l) => l,
        None => Local::lock(k.threads(), me),
    };
    let Some((c, owned)) = l.tcb_owned(cur) else { return false };
    let regs: &[u64; 9] = c.context.x.first_chunk().expect("31 registers");
    if (!kept && (c.doomed || c.move_to.is_some()))
        || c.send_queue != 0
        || !c.notes.is_empty()
        || m.any_interrupt_pending()
    {
        return false;
    }
    let (to, item, src) = (regs[0], [regs[3 + words - 2], regs[3 + words - 1]], c.space);
    let (dest, version) = ((to >> 16) as u32, to as u16);
    // Borrowed from `me`'s lock, not from `k`: they stay valid across the map.
    let Some((c, d, sched)) = l.two_with(owned, dest) else { return false };
    if d.deadline != 0 || !runs_next(d, version, d.priority, sched) {
        return false;
    }
    let receives = matches!(d.state, ThreadState::RecvBlocked { from } if from.is_none_or(|f| f == cur));
    let faulted = matches!(
        d.state,
        ThreadState::FaultBlocked { handler, delivered: true, kind: FaultKind::Page } if handler == cur
    );
    let window = match (receives, faulted) {
        (true, _) => ipc::receive_window::<M>(d),
        (_, true) => Fpage::whole_space(Rights::RWX),
        _ => return false,
    };
    let Ok(item) = TypedItem::decode(item) else { return false };
    if item.is_grant() || item.fpage().size() != abi::PAGE_SIZE || !item.fits_window(window) {
        return false;
    }
    let dst = d.space;
    if !map_page(k, src, dst, item, window) {
        return false;
    }
    // Mapped: from here on the IPC completes as the general path would complete it.
    if receives {
        copy_message(c, d, words);
    }
    c.state = ThreadState::RecvBlocked { from: None };
    // A pager's open receive ends what it inherited (nobody is queued on it).
    c.priority = c.base_priority;
    let x2 = c.context.x[2];
    run_next(m, d, me, sched, dest);
    hand_over_fp(m, &mut l, dest);
    l.sched.fast.map_replies += 1;
    drop(l);
    if x2 as u32 != abi::timeout::NEVER {
        // The pager waits with a deadline (`classify` let only this path take one):
        // into this CPU's timeout queue, and the timer set for it, as the general
        // path's `block` and way out do. `me`'s lock is let go: the general path's
        // way to it (`Kernel::tcb`, `Kernel::sched`) takes it again.
        let deadline = ipc::deadline_of(m, abi::timeout::Timeouts::unpack(x2).receive);
        k.arm_timeout(cur, deadline);
        k.program_timer(me);
    }
    true
}

/// Maps the one page of `item` (a map item of 4 KiB that fits `window`) from space
/// `src` into `dst`, if that is the plain case: the pager holds the page through the
/// MDB with some of the rights asked, `dst`'s quota and node cover the worst case (as
/// `ipc::afford`'s one-page check), `dst` has the last-level table, and nothing is
/// mapped at the target. False, having changed nothing, otherwise.
fn map_page<M: Machine>(k: &mut Kernel<M>, src: u16, dst: u16, item: TypedItem, window: Fpage) -> bool {
    let fpage = item.fpage();
    let to_va = ipc::target_of(item, window);
    let frames = k.frames();
    let Some(space) = k.space(dst) else { return false };
    if !ipc::one_page_affordable(frames, space) {
        return false;
    }
    let root = space.root;
    let Some(entry) = k.mdb.lookup(SpaceId::new(u32::from(src)), fpage.base()) else { return false };
    let (rights, pa) = {
        let e = k.mdb.entry(entry);
        (e.rights(), e.pa())
    };
    let give = crate::mdb::Rights::from_bits(rights.bits() & mapdb::mdb_rights(fpage.rights()).bits())
        .unwrap_or_default();
    if give.is_empty() {
        return false;
    }
    let mut mem = UserTables::<M, _>::existing();
    let Some(leaf) = table::leaf_table(&mut mem, root, to_va) else { return false };
    let slot = table::index(to_va, 3);
    let target = SpaceId::new(u32::from(dst));
    if mem.entries(leaf)[slot] != 0 || mapdb::entry_in::<M>(leaf, to_va).is_some() {
        return false;
    }
    if k.mdb.map_vacant(entry, target, to_va, give).is_err() {
        return false; // (no entry could be had: nothing was changed)
    }
    let attrs = mapdb::attrs_of(give);
    if attrs.user_exec {
        k.machine.sync_icache(PhysAddr::new(pa));
    }
    mem.entries(leaf)[slot] = table::leaf_desc(pa, attrs, 3);
    k.machine.tables_changed();
    true
}

/// A page fault of the thread running on `me`, delivered straight to its pager when
/// the pager waits for it on this CPU and would run next (as [`try_ipc`]'s partner):
/// the fault message (label with the access kind, address, IP) in the pager's
/// registers, the faulting thread blocked until the reply.
#[inline(always)]
fn try_fault<M: Machine>(fast: Fast<M>, me: &PerCpu) -> bool {
    let m = fast.machine;
    let mut l = Local::lock(fast.threads, me);
    let cur = l.sched.current;
    let Some((c, owned)) = l.tcb_owned(cur) else { return false };
    if c.doomed || c.move_to.is_some() {
        return false;
    }
    let Some((pager, version)) = split_id(c.pager) else { return false };
    let Some((c, p, sched)) = l.two_with(owned, pager) else { return false };
    let waits = matches!(p.state, ThreadState::RecvBlocked { from } if from.is_none_or(|f| f == cur));
    // A fault is a call: the pager works for the faulting thread at its priority.
    let prio = p.priority.max(c.priority);
    if !waits || !runs_next(p, version, prio, sched) {
        return false;
    }
    let timed = p.deadline != 0;
    let access = crate::exception::fault_access(c.context.esr);
    let into = &mut p.context.x;
    into[3] = u64::from(abi::fault::PAGE_FAULT_LABEL | access) << 16 | 2; // u = 2
    into[4] = c.context.far;
    into[5] = c.context.elr;
    into[0] = abi::error::status(Ok(()));
    into[1] = c.id();
    c.state = ThreadState::FaultBlocked { handler: pager, delivered: true, kind: FaultKind::Page };
    p.priority = prio;
    run_next(m, p, me, sched, pager);
    hand_over_fp(m, &mut l, pager);
    l.sched.fast.faults += 1;
    if timed {
        // The pager waited with a timeout (most do): out of this CPU's queue, which
        // `me`'s lock (held) protects, as it owns the pager.
        l.disarm_timeout(pager);
    }
    true
}

/// The message of `c` (MR0..MR(words-1) in x3..x7, `words <= 5`) into `d`, with
/// status 0 and the sender's id: unrolled, no call to `memcpy`.
#[inline(always)]
fn copy_message(c: &Tcb, d: &mut Tcb, words: usize) {
    let (from, into) = (&c.context.x, &mut d.context.x);
    into[3] = from[3];
    if words > 1 {
        into[4] = from[4];
        if words > 2 {
            into[5] = from[5];
            if words > 3 {
                into[6] = from[6];
                if words > 4 {
                    into[7] = from[7];
                }
            }
        }
    }
    into[0] = abi::error::status(Ok(()));
    into[1] = c.id();
}

/// Whether partner `d` is the thread its id names (`version`) and at priority `prio`
/// (its own, or what the caller lends it) would be what the scheduler (`sched`, of
/// the CPU that owns `d`: [`Local`] handed `d` out) picks next once the caller
/// blocks: no ready thread there has that priority or a higher one (the general path
/// queues it at the back of its level).
#[inline(always)]
fn runs_next(d: &Tcb, version: u16, prio: u8, sched: &CpuSched) -> bool {
    d.version == version && !sched.queues.any_at_or_above(prio)
}

/// Makes the partner `next` (blocked until now, its results written; `d` is its TCB) the running thread of `me`, as `Kernel::dispatch` does
/// (with the scheduler lock the caller holds), on the slice that runs.
#[inline(always)]
fn run_next<M: Machine>(m: M, d: &mut Tcb, me: &PerCpu, sched: &mut CpuSched, next: u32) {
    super::make_running(m, d, me, sched, next);
}

#[cfg(test)]
mod tests {
    use super::super::fake::{Outcome, ROOT, Rng, World};
    use super::super::tests::{memory, tag};
    use crate::thread::ThreadState;
    use abi::fpage::{Fpage, Rights};
    use abi::message::TypedItem;
    use abi::syscall::Syscall;
    use abi::timeout::{Timeout, Timeouts};
    use platform::NodeId;
    use std::collections::BTreeMap;
    use std::vec::Vec;

    const NEVER: u64 = Timeouts::NEVER.pack();
    const PAGES: u64 = 0x1000_0000;

    /// A world with a pager in the root's space and four threads in a space of their
    /// own, all on CPU 1, each at a priority of its own (the fast paths need the
    /// partner to be what the scheduler would pick); the pager holds 16 pages at
    /// [`PAGES`].
    fn world(pager_priority: u8) -> (World, u32, Vec<u32>) {
        let mut w = World::new();
        let root_space = w.space_of(ROOT);
        let _ = memory(&mut w, 0, PAGES, 4);
        let pager = w.thread(root_space, 0x60_0000, 1, pager_priority);
        let pid = w.id(pager);
        let s = w.k.create_space(NodeId::ZERO, 16 << 20).unwrap();
        let threads: Vec<u32> =
            (0..4).map(|i| w.thread(s, 0x20_0000 + i * abi::PAGE_SIZE, 1, 100 + i as u8)).collect();
        for &t in &threads {
            w.k.tcb(t).unwrap().pager = pid;
            w.write_utcb(t, abi::utcb::BR_OFFSET, Fpage::new(0x5000_0000, 24, Rights::RWX).unwrap().raw());
        }
        // Every thread's last-level table at its fault and window addresses exists (so
        // map replies can take the fast path), each with a page mapped there already.
        for (i, &t) in threads.iter().enumerate() {
            let va = 0x7000_0000 + i as u64 * 0x1000;
            let _ = w.k.prepare_user(s, va);
            let _ = w.k.prepare_user(s, 0x5000_0000);
            let _ = t;
        }
        (w, pager, threads)
    }

    /// Everything a thread or the scheduler shows: states, registers, mappings.
    ///
    /// A blocked thread's x0 and x1 are not shown: nothing can read them before the
    /// thread leaves its wait, and every way out of a wait (a message, a timeout, a
    /// cancellation) writes both. (The general path writes a status there when a
    /// pager's reply resolves a fault and then blocks the pager; the fast path leaves
    /// them: the same to any observer.)
    fn observe(w: &mut World, threads: &[u32]) -> Vec<String> {
        let mut out = Vec::new();
        for &t in threads {
            let mut regs = w.regs(t);
            let state = w.state(t);
            if !matches!(state, ThreadState::Ready | ThreadState::Running) {
                regs[..2].fill(0);
            }
            let (prio, base) = w.k.tcb(t).map_or((0, 0), |c| (c.priority, c.base_priority));
            out.push(std::format!("{t}: {state:?} priority {prio}/{base} {:x?}", &regs[..8]));
        }
        for cpu in 0..4 {
            let current = w.current(cpu);
            out.push(std::format!("cpu {cpu}: {current}"));
        }
        let space = w.space_of(threads[1]);
        let maps: BTreeMap<u64, bool> =
            w.mappings(space).into_iter().map(|(va, (_, write))| (va, write)).collect();
        out.push(std::format!("mappings: {maps:x?}"));
        out
    }

    #[test]
    fn the_fast_paths_leave_exactly_the_state_the_general_path_leaves() {
        compare_paths(150, 200);
    }

    /// As above, with the pager below its clients: each call and fault lends it the
    /// client's priority, and each of its replies ends that (`super::super::inherit`),
    /// on both paths alike. (Fewer IPCs qualify: a client answered must be above the
    /// others ready.)
    #[test]
    fn the_fast_paths_lend_priorities_exactly_as_the_general_path() {
        compare_paths(99, 50);
    }

    /// 6000 random steps through both paths with the pager at `pager_priority`; the
    /// fast paths must have run at least `min_taken` times.
    fn compare_paths(pager_priority: u8, min_taken: usize) {
        let (mut fast, pager, threads) = world(pager_priority);
        let (mut slow, _, _) = world(pager_priority);
        let mut all = threads.clone();
        all.push(pager);
        let mut rng = Rng::new(0xFA57);
        let mut taken = 0;
        for step in 0..6000 {
            let runnable: Vec<u32> = all
                .iter()
                .copied()
                .filter(|&t| matches!(fast.state(t), ThreadState::Ready | ThreadState::Running))
                .collect();
            if runnable.is_empty() || rng.below(50) == 0 {
                for w in [&mut fast, &mut slow] {
                    w.advance(10_000);
                    w.tick(0);
                    w.tick(1);
                }
                continue;
            }
            let t = rng.pick(&runnable);
            // Mostly a zero send timeout: a sender that finds nobody waiting fails at
            // once instead of queueing (a queue on the pager sends its ReplyWait to the
            // general path, rightly).
            let timeouts = match rng.below(8) {
                0 => NEVER,
                1 => Timeouts { send: Timeout::Never, receive: Timeout::Micros(5000) }.pack(),
                2 => Timeouts { send: Timeout::Zero, receive: Timeout::Micros(5000) }.pack(),
                _ => Timeouts { send: Timeout::Zero, receive: Timeout::Never }.pack(),
            };
            let words = rng.below(5) as u8;
            let mut mrs = [tag(7, words, 0), rng.bits(), rng.bits(), rng.bits(), rng.bits()];
            // Nobody waits for ever for a message nobody owes it: if every thread waits
            // for another, the timeouts end that. The pager waits without a timeout when
            // it owes nobody an answer (only such a wait takes the fast path: a
            // deadline is the general path's).
            let finite = Timeouts { send: Timeout::Zero, receive: Timeout::Micros(5000) }.pack();
            let never = Timeouts { send: Timeout::Zero, receive: Timeout::Never }.pack();
            let args = if t == pager {
                // The pager's loop: answer a thread that waits for its answer (a
                // reply, with a page now and then: what a fault or a call wants),
                // else wait for the next request.
                let owed: Vec<u32> = threads
                    .iter()
                    .copied()
                    .filter(|&c| match fast.state(c) {
                        ThreadState::FaultBlocked { delivered, .. } => delivered,
                        ThreadState::RecvBlocked { from } => from == Some(pager),
                        _ => false,
                    })
                    .collect();
                let queue = fast.k.tcb(pager).unwrap().send_queue;
                match owed.is_empty() {
                    false if rng.below(8) != 0 => {
                        let c = rng.pick(&owed);
                        if rng.below(2) == 0 || matches!(fast.state(c), ThreadState::FaultBlocked { .. }) {
                            let page = PAGES + rng.below(16) * abi::PAGE_SIZE;
                            let rights = rng.pick(&[Rights::R, Rights::RW, Rights::RX]);
                            let base = 0x7000_0000 + rng.below(4) * 0x1000;
                            let fpage = Fpage::new(page, 12, rights).unwrap();
                            let [i0, i1] = TypedItem::Map { send_base: base, fpage }.encode().unwrap();
                            let u = rng.below(3) as u8;
                            mrs = [tag(0, u, 2), rng.bits(), rng.bits(), rng.bits(), rng.bits()];
                            mrs[1 + u as usize] = i0;
                            mrs[2 + u as usize] = i1;
                        }
                        let cid = fast.id(c);
                        let _ = queue;
                        let then = if owed.len() > 1 { finite } else { never };
                        [cid, u64::MAX, then, mrs[0], mrs[1], mrs[2], mrs[3], mrs[4]]
                    }
                    _ => [0, u64::MAX, if owed.is_empty() { never } else { finite }, 0, 0, 0, 0, 0],
                }
            } else {
                let pid = fast.id(pager);
                match rng.below(10) {
                    0..=5 => [pid, pid, timeouts, mrs[0], mrs[1], mrs[2], mrs[3], mrs[4]],
                    6..=7 => {
                        // A page fault: both worlds through their own path.
                        let va = 0x7000_0000 + rng.below(4) * 0x1000 + rng.below(0x1000);
                        let write = rng.below(2) == 0;
                        let a = fast.fault(t, va, write, true);
                        let b = slow.fault(t, va, write, false);
                        assert_eq!(a, b, "step {step}: fault of {t}");
                        assert_eq!(
                            observe(&mut fast, &all),
                            observe(&mut slow, &all),
                            "step {step}: after a fault"
                        );
                        continue;
                    }
                    8 => {
                        let peer = fast.id(rng.pick(&all));
                        [peer, u64::MAX, finite, mrs[0], mrs[1], mrs[2], mrs[3], mrs[4]]
                    }
                    _ => [0, u64::MAX, finite, 0, 0, 0, 0, 0],
                }
            };
            let (took, a) = fast.svc_fast(t, Syscall::Ipc, args);
            let b = slow.svc(t, Syscall::Ipc, args);
            taken += usize::from(took);
            assert_eq!(a, b, "step {step}: thread {t} ({args:x?}); fast path taken: {took}");
            assert_eq!(
                observe(&mut fast, &all),
                observe(&mut slow, &all),
                "step {step}: {args:x?}, fast: {took}"
            );
            if step % 50 == 0 {
                fast.check();
                slow.check();
            }
        }
        let counts = fast.k.sched(1).unwrap().fast;
        assert!(taken > min_taken, "the fast paths ran often enough to be tested: {taken}");
        assert!(
            counts.ipc > 0 && counts.map_replies > 0 && counts.faults > 0,
            "each of them ran: {counts:?}"
        );
        fast.check();
        slow.check();
        let _ = Outcome::Done([0; 8]);
    }
}
