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
//! # Conditions (all must hold; else the general path runs, unchanged)
//! - a synchronous `svc #0` from AArch64 EL0 with x8 = `Ipc`;
//! - `to` names a live thread (not an interrupt, not the caller), `from` is `to` (a
//!   Call) or any (`ReplyWait`), the receive timeout is never (x2: no deadline to arm);
//! - the tag (x3) is valid with `t = 0` and `u <= 4` (the message is in x3..x7);
//! - the partner waits in a receive that accepts the caller (`RecvBlocked` with
//!   `from` any or the caller), on this CPU;
//! - the partner is what the scheduler would pick next: every ready thread here has
//!   a lower priority (the general path queues it at the back of its level);
//! - for an open receive (`ReplyWait`): no sender is queued on the caller and no
//!   interrupt is pending anywhere (the general path would deliver those first).
//!
//! Under these conditions the general path would do exactly this: transfer the words,
//! complete the partner with status 0 and the caller's id, block the caller in its
//! receive with no deadline, queue the partner and pick it at once. [`classify`] (in
//! `crate::ipc_fast`, built and tested on the host) holds the register-only half of the
//! decision; the kernel-state half is
//! in [`try_ipc`]. The boot tests, `pagers/badargs` and `pagers/fuzz` drive every
//! corner through both paths.

use super::Kernel;
use crate::exception;
use crate::ipc_fast::{Shape, classify};
use crate::percpu::PerCpu;
use crate::thread::ThreadState;

/// Runs the `Ipc` of thread `cur` (which trapped with a synchronous exception on `me`)
/// on the fast path if it qualifies; returns false (having changed nothing) otherwise.
pub fn try_ipc(k: &mut Kernel, me: &PerCpu, cur: u32) -> bool {
    let Some(t) = k.tcb(cur) else { return false };
    let esr = t.context.esr;
    if exception::class(esr) != 0x15 || t.context.spsr & 0x10 != 0 {
        return false; // not an svc, or from AArch32
    }
    let regs: &[u64; 9] = t.context.x.first_chunk().expect("31 registers");
    let Some((shape, words)) = classify((esr & 0xFFFF) as u16, regs) else { return false };
    let (to, cur_id, cur_send_queue) = (regs[0], t.id(), t.send_queue);
    if shape == Shape::ReplyWait && (cur_send_queue != 0 || crate::irq::any_pending()) {
        return false;
    }
    let Some(dest) = k.lookup(to) else { return false };
    let Some((c, d)) = k.two(cur, dest) else { return false };
    let waits = matches!(d.state, ThreadState::RecvBlocked { from } if from.is_none_or(|f| f == cur));
    if !waits || d.cpu as usize != me.index {
        return false;
    }
    let prio = d.priority;
    if me.sched.lock().queues.highest().is_some_and(|h| h >= prio) {
        return false;
    }
    // The message (MR0..MR(words-1) in x3..), the partner's results.
    d.context.x[3..3 + words].copy_from_slice(&c.context.x[3..3 + words]);
    d.context.x[0] = abi::error::status(Ok(()));
    d.context.x[1] = cur_id;
    d.deadline = 0;
    // The caller's receive phase: it waits, with no deadline.
    c.state = ThreadState::RecvBlocked { from: (shape == Shape::Call).then_some(dest) };
    c.deadline = 0;
    k.dispatch(me, dest);
    true
}
