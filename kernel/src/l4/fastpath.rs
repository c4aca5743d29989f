// SPDX-License-Identifier: MIT OR Apache-2.0
//! The IPC fast path: the common L4 round trip in a few dozen lines, before the general
//! code.
//!
//! # Why
//! Nearly every IPC in an L4 system is a client's `Call` to a server waiting in its
//! `ReplyWait` loop, or the server's `ReplyWait` answering a client waiting for the
//! reply: a few untyped words in registers, the partner already waiting, nothing to
//! time out. The general path ([`super::ipc::ipc`]) handles every case (typed items,
//! UTCB words, queues, timeouts, interrupts, faults) and pays for that generality on
//! each call: system-call decoding, lookups, the run queue, `pick`. This path does
//! only what that common case needs: copy MR0..MR4 (x3..x7), write the partner's status
//! and sender id, block the caller, and switch straight to the partner.
//!
//! # Where it runs
//! Straight from the entry assembly: `trap_user` (in `arch::aarch64::trap`) has saved
//! the caller's registers into its TCB; if the exception came through the AArch64-EL0
//! synchronous slot with ESR = [`SVC0_ESR`] (an `svc #0`, one compare) it calls
//! [`svc`] before anything else; true sends it straight to `user_restore`, which loads
//! the partner's registers. No `Trap` is decoded, no interrupt state is looked at, and
//! the general path (`super::user_trap`) never runs.
//!
//! # Conditions (all must hold; else the general path runs, unchanged)
//! - an `svc #0` from AArch64 EL0 with x8 = `Ipc`;
//! - the caller is not being deleted or moved to another CPU;
//! - `to` names a live thread (not an interrupt, not the caller), `from` is `to` (a
//!   Call) or any (`ReplyWait`), the receive timeout is never (x2: no deadline to arm);
//! - the tag (x3) is valid with `t = 0` and `u <= 4` (the message is in x3..x7);
//! - the partner waits in a receive that accepts the caller (`RecvBlocked` with
//!   `from` any or the caller), on this CPU;
//! - the partner is what the scheduler would pick next: no ready thread here has its
//!   priority or a higher one (the general path queues it at the back of its level);
//! - for an open receive (`ReplyWait`): no sender is queued on the caller and no
//!   interrupt is pending anywhere (the general path would deliver those first).
//!
//! Under these conditions the general path would do exactly this: transfer the words,
//! complete the partner with status 0 and the caller's id, block the caller in its
//! receive with no deadline, queue the partner and pick it at once. [`classify`] (in
//! `crate::ipc_fast`, built and tested on the host) holds the register-only half of the
//! decision; the kernel-state half is in [`try_ipc`]. The boot tests, `pagers/badargs`
//! and `pagers/fuzz` drive every corner through both paths.
//!
//! # What it costs, and why it is written this way
//! `scripts/bench` (guest instructions under `-icount shift=0`): a Call 182, a
//! ReplyWait 197, counted from the caller's last user instruction to the partner's
//! first, entry and exit included (seL4 on the same QEMU: 191 and 215). About 60 of
//! them are the entry and exit (every register saved to and loaded from the TCBs), 14
//! the two locks. The rest is kept small by keeping the compiler's hands free: one
//! function with everything inlined and **no call on the path** (a call, even on a
//! branch not taken, makes the compiler keep the values live across it in
//! callee-saved registers, saved and restored every time; this alone was 20
//! instructions), the scheduler lock taken once, the ready-queue test one load when
//! nothing else is ready, the message copied without `memcpy`, the partner's TTBR0
//! cached in its TCB, and the tag and timeout checks as mask tests.
//!
//! [`SVC0_ESR`]: crate::ipc_fast::SVC0_ESR

use super::{KERNEL, Kernel};
use crate::arch::user;
use crate::ipc_fast::{Shape, classify};
use crate::percpu::PerCpu;
use crate::thread::{MAX_THREADS, ThreadState};
use core::sync::atomic::Ordering;

// Thread numbers at or above the interrupt base never name threads (so `classify`
// may send those ids to the general path without a lookup).
const _: () = assert!(MAX_THREADS as u64 <= abi::thread::INTERRUPT_NUMBER_BASE);

/// The fast path's entry: called by the entry assembly (`trap_user`) for an `svc #0`
/// from AArch64 EL0 (ESR = [`crate::ipc_fast::SVC0_ESR`]) with the caller's registers
/// saved in its TCB. True: done, `user_restore` runs the thread now current. False:
/// nothing changed, the general path (`user_trap`) handles the call.
#[inline(always)]
pub fn svc() -> bool {
    let Some(me) = crate::arch::cpu::this_percpu() else { return false };
    let mut k = KERNEL.lock();
    try_ipc(&mut k, me)
}

/// Runs the `Ipc` of the thread running on `me` on the fast path if it qualifies;
/// returns false (having changed nothing) otherwise.
///
/// One function, on purpose (and inlined into [`svc`]): the CPU's scheduler lock is
/// taken once and held to the end, every lookup happens once, and nothing is called
/// that would need the caller's registers spilled. (The general path's `dispatch` and
/// `fp_switch` do the same steps as the tail below, spread over calls.)
#[inline(always)]
fn try_ipc(k: &mut Kernel, me: &PerCpu) -> bool {
    let mut sched = me.sched.lock();
    let cur = sched.current;
    let Some(c) = k.tcb(cur) else { return false };
    // Being deleted or moved to another CPU: the general path finishes that first.
    if c.doomed || c.move_to.is_some() {
        return false;
    }
    let regs: &[u64; 9] = c.context.x.first_chunk().expect("31 registers");
    let Some((shape, words)) = classify(regs) else { return false };
    if shape == Shape::ReplyWait && (c.send_queue != 0 || crate::irq::any_pending()) {
        return false;
    }
    let to = regs[0];
    // The partner: `to`'s number and version (`classify` excluded nil, any and
    // interrupts), waiting in a receive that accepts the caller, on this CPU, and
    // above every ready thread here.
    let (dest, version) = ((to >> 16) as u32, to as u16);
    let Some((c, d)) = k.two(cur, dest) else { return false };
    let waits = matches!(d.state, ThreadState::RecvBlocked { from } if from.is_none_or(|f| f == cur));
    if d.version != version || !waits || d.cpu as usize != me.index || sched.queues.any_at_or_above(d.priority) {
        return false;
    }
    let cur_id = c.id();
    // The message (MR0..MR(words-1) in x3..x7): unrolled, no call to memcpy.
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
    // The partner's results; it runs now, with a fresh slice if it used its last.
    into[0] = abi::error::status(Ok(()));
    into[1] = cur_id;
    d.deadline = 0;
    d.state = ThreadState::Running;
    if d.remaining == 0 {
        d.remaining = d.timeslice;
    }
    // The caller's receive phase: it waits, with no deadline.
    c.state = ThreadState::RecvBlocked { from: (shape == Shape::Call).then_some(dest) };
    c.deadline = 0;
    me.user_context.store(&raw mut d.context as u64, Ordering::Relaxed);
    user::set_ttbr0(d.ttbr0);
    sched.current = dest;
    // FP/SIMD, lazy as in `Kernel::fp_switch` (written out here: a call would make
    // the compiler keep everything above in callee-saved registers): work only when
    // the partner's ownership of the registers and their open state disagree.
    let (owner, open) = (sched.fp_owner, sched.fp_open);
    if owner == dest && !open {
        user::set_user_fp(true);
        sched.fp_open = true;
    } else if owner != dest && open {
        if let Some(o) = k.tcb(owner) {
            user::save_fp(&mut o.fp);
        }
        user::set_user_fp(false);
        sched.fp_open = false;
    }
    true
}
