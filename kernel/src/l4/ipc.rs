// SPDX-License-Identifier: MIT OR Apache-2.0
//! IPC: synchronous message passing, and faults delivered as messages.
//!
//! One `Ipc` system call has up to two phases. **Send** (if `to` is not nil): if the
//! receiver waits for this sender (or any), the message is copied at once and the
//! receiver becomes ready; else the sender waits on the receiver's send queue (or fails
//! at once with a zero timeout). **Receive** (if `from` is not nil): a matching sender
//! already queued is taken at once; else the caller waits. `Call` (to == from) makes the
//! receive phase wait for that partner only; `ReplyWait` (to = client, from = any) is
//! the server loop.
//!
//! A message is MR0 (the tag) and up to 63 words: MR0..MR4 travel in registers x3..x7,
//! the rest in the UTCBs. Typed items (map, grant) are processed into the receiver's
//! space within its receive window (UTCB BR0), all pages or none.
//!
//! Faults are IPC too. A page fault makes the faulting thread send a kernel-built
//! message to its pager and wait for the reply, whose map item resolves the fault; the
//! thread then retries the access. Other exceptions go to the exception handler, whose
//! reply can set a new IP and SP. The faulting thread's own registers are untouched.

use super::Kernel;
use core::sync::atomic::{AtomicU64, Ordering};
use crate::arch::phys;
use crate::boot::FRAMES;
use crate::mm::table;
use crate::kprintln;
use crate::thread::{FaultKind, Tcb, ThreadState};
use abi::Error;
use abi::fpage::{Fpage, Rights};
use abi::message::{Tag, TypedItem};
use abi::timeout::{Timeout, Timeouts};

/// Byte offset of message register `i` in a UTCB.
fn mr_offset(i: usize) -> u64 {
    (abi::utcb::MR_OFFSET + 8 * i) as u64
}

/// Reads message register `i` of a thread: x3..x7 for MR0..MR4, else its UTCB.
fn read_mr(t: &Tcb, i: usize) -> u64 {
    if i < abi::message::REGISTER_MRS {
        t.context.x[3 + i]
    } else {
        // SAFETY: the UTCB frame is the thread's kernel-allocated UTCB (user memory),
        // and `mr_offset(i)` for i < 64 stays inside its first 512 bytes.
        unsafe { phys::read_u64(t.utcb_pa + mr_offset(i)) }
    }
}

/// Copies message registers MR0..MR(n-1) from `s` to `d` (two different threads).
fn copy_mrs(s: &Tcb, d: &mut Tcb, n: usize) {
    let regs = n.min(abi::message::REGISTER_MRS);
    d.context.x[3..3 + regs].copy_from_slice(&s.context.x[3..3 + regs]);
    for i in regs..n {
        // SAFETY: as in `read_mr`, in the sender's UTCB frame.
        let word = unsafe { phys::read_u64(s.utcb_pa + mr_offset(i)) };
        // SAFETY: as in `read_mr`, in the receiver's UTCB frame.
        unsafe { phys::write_u64(d.utcb_pa + mr_offset(i), word) };
    }
}

/// Writes message registers MR0..MR(n-1) of a thread.
fn write_mrs(t: &mut Tcb, mrs: &[u64]) {
    for (i, &word) in mrs.iter().enumerate() {
        if i < 5 {
            t.context.x[3 + i] = word;
        } else {
            // SAFETY: as in `read_mr`.
            unsafe { phys::write_u64(t.utcb_pa + mr_offset(i), word) };
        }
    }
}

/// Sets the IPC results of a thread that waited: status, partner.
fn complete(t: &mut Tcb, status: Result<(), Error>, partner: u64) {
    t.context.x[0] = abi::error::status(status);
    t.context.x[1] = partner;
    t.deadline = 0;
}

/// The `Ipc` system call of thread `cur` (arguments in its saved registers).
pub fn ipc(k: &mut Kernel, cur: u32) {
    let Some(t) = k.tcb(cur) else { return };
    let (to, from, timeouts) = (t.context.x[0], t.context.x[1], Timeouts::unpack(t.context.x[2]));
    let tag = match Tag::from_raw(t.context.x[3]) {
        Ok(tag) => tag,
        // u + t > 63 is MessageOverflow, every other malformed tag InvalidArgument.
        Err(e) => return fail(k, cur, e.into()),
    };
    let call = to != 0 && to == from;
    // Whom the receive phase (if any) accepts: checked before anything is sent.
    let accept = match from {
        0 | u64::MAX => None,
        id => match k.lookup(id) {
            Some(n) => Some(n),
            None => return fail(k, cur, Error::NonExistingPartner),
        },
    };
    // Sending to an interrupt's pseudo-thread acknowledges it: its handler has dealt
    // with the device, so the line is unmasked again.
    if let Some(intid) = abi::thread::ThreadId::from_raw(to).interrupt_id() {
        if crate::irq::handler_of(intid) != Some(cur) {
            return fail(k, cur, Error::NonExistingPartner);
        }
        crate::irq::unmask(intid);
        if from == 0 {
            if let Some(t) = k.tcb(cur) {
                complete(t, Ok(()), 0);
            }
            return;
        }
        receive(k, cur, accept, timeouts.receive);
        return;
    }
    if to != 0 {
        let Some(dest) = k.lookup(to) else { return fail(k, cur, Error::NonExistingPartner) };
        if dest == cur {
            return fail(k, cur, Error::NonExistingPartner);
        }
        let after = (from != 0).then_some((accept, timeouts.receive));
        match send(k, cur, dest, tag, timeouts.send, call) {
            SendOutcome::Delivered => {}
            SendOutcome::Blocked => {
                // The receive phase (a call's reply wait included) runs when the send
                // completes.
                if let Some(t) = k.tcb(cur) {
                    t.after_send = after;
                }
                return;
            }
            SendOutcome::Failed(e) => return fail(k, cur, e),
        }
    }
    if from != 0 {
        receive(k, cur, accept, timeouts.receive);
    } else if let Some(t) = k.tcb(cur) {
        complete(t, Ok(()), 0);
    }
}

/// Ends `t`'s IPC with `Cancelled` (its partner was deleted) and lets it run.
pub fn cancel(k: &mut Kernel, t: u32) {
    if let Some(tcb) = k.tcb(t) {
        tcb.after_send = None;
        complete(tcb, Err(Error::Cancelled), 0);
    }
    k.make_ready(t);
}

/// Ends `t`'s IPC with `Cancelled` without waking it (it is being halted: the result
/// is there when it is started again).
pub fn cancel_halted(k: &mut Kernel, t: u32) {
    dequeue_anywhere(k, t);
    if let Some(tcb) = k.tcb(t)
        && matches!(tcb.state, ThreadState::SendBlocked { .. } | ThreadState::RecvBlocked { .. })
    {
        tcb.after_send = None;
        complete(tcb, Err(Error::Cancelled), 0);
    }
}

fn fail(k: &mut Kernel, cur: u32, e: Error) {
    if let Some(t) = k.tcb(cur) {
        complete(t, Err(e), 0);
    }
}

enum SendOutcome {
    Delivered,
    Blocked,
    Failed(Error),
}

/// The send phase from `cur` to `dest`.
fn send(k: &mut Kernel, cur: u32, dest: u32, tag: Tag, timeout: Timeout, call: bool) -> SendOutcome {
    let dest_state = k.tcb(dest).map(|t| t.state);
    match dest_state {
        Some(ThreadState::RecvBlocked { from }) if from.is_none() || from == Some(cur) => {
            match transfer(k, cur, dest, tag) {
                Ok(()) => {
                    let id = k.tcb(cur).map_or(0, |t| t.id());
                    if let Some(d) = k.tcb(dest) {
                        complete(d, Ok(()), id);
                    }
                    k.make_ready(dest);
                    SendOutcome::Delivered
                }
                Err(e) => {
                    if let Some(d) = k.tcb(dest) {
                        complete(d, Err(e), 0);
                    }
                    k.make_ready(dest);
                    SendOutcome::Failed(e)
                }
            }
        }
        Some(ThreadState::FaultBlocked { handler, delivered: true, kind }) if handler == cur => {
            match resolve_fault(k, cur, dest, tag, kind) {
                Ok(()) => SendOutcome::Delivered,
                Err(e) => SendOutcome::Failed(e),
            }
        }
        Some(_) => match timeout {
            Timeout::Zero => SendOutcome::Failed(Error::SendTimeout),
            t => {
                block(k, cur, ThreadState::SendBlocked { to: dest, call }, t);
                enqueue_sender(k, dest, cur);
                SendOutcome::Blocked
            }
        },
        None => SendOutcome::Failed(Error::NonExistingPartner),
    }
}

/// The receive phase of `cur`, accepting `accept` (or anyone). Returns whether it
/// completed at once (a message was there, or the zero timeout failed it) rather than
/// blocking.
fn receive(k: &mut Kernel, cur: u32, accept: Option<u32>, timeout: Timeout) -> bool {
    // A pending interrupt of this handler comes first (open receives only).
    if accept.is_none()
        && let Some(intid) = crate::irq::take_pending(cur)
    {
        if let Some(t) = k.tcb(cur) {
            deliver_interrupt(t, intid);
        }
        return true;
    }
    // Then a notification (open receives only), oldest first.
    if accept.is_none()
        && let Some(t) = k.tcb(cur)
        && let Some((from, word)) = t.notes.pop()
    {
        deliver_note(t, from, word);
        return true;
    }
    if let Some(sender) = take_sender(k, cur, accept) {
        let state = k.tcb(sender).map(|t| t.state);
        match state {
            Some(ThreadState::SendBlocked { .. }) => {
                let tag = k.tcb(sender).and_then(|t| Tag::from_raw(t.context.x[3]).ok()).unwrap_or(Tag::EMPTY);
                let result = transfer(k, sender, cur, tag);
                let sender_id = k.tcb(sender).map_or(0, |t| t.id());
                if let Some(t) = k.tcb(cur) {
                    complete(t, result, if result.is_ok() { sender_id } else { 0 });
                }
                let after = k.tcb(sender).and_then(|s| s.after_send.take());
                match (result, after) {
                    // The sender's own receive phase (its reply wait, for a call).
                    (Ok(()), Some((accept, timeout))) => {
                        if receive(k, sender, accept, timeout) {
                            k.make_ready(sender);
                        }
                    }
                    _ => {
                        if let Some(s) = k.tcb(sender) {
                            complete(s, result, 0);
                        }
                        k.make_ready(sender);
                    }
                }
            }
            Some(ThreadState::FaultBlocked { kind, .. }) => deliver_fault(k, sender, cur, kind),
            _ => {}
        }
        return true;
    }
    match timeout {
        Timeout::Zero => {
            fail(k, cur, Error::ReceiveTimeout);
            true
        }
        t => {
            block(k, cur, ThreadState::RecvBlocked { from: accept }, t);
            false
        }
    }
}

/// Puts `t` to sleep in `state`, with a deadline for a finite timeout.
fn block(k: &mut Kernel, t: u32, state: ThreadState, timeout: Timeout) {
    let deadline = deadline_of(timeout);
    if let Some(tcb) = k.tcb(t) {
        tcb.state = state;
        tcb.deadline = deadline;
        note_deadline(deadline);
    }
}

fn enqueue_sender(k: &mut Kernel, dest: u32, sender: u32) {
    let Some(head) = k.tcb(dest).map(|t| t.send_queue) else { return };
    if let Some(s) = k.tcb(sender) {
        s.send_next = 0;
    }
    if head == 0 {
        if let Some(d) = k.tcb(dest) {
            d.send_queue = sender;
        }
        return;
    }
    let mut at = head;
    loop {
        let next = k.tcb(at).map_or(0, |t| t.send_next);
        if next == 0 {
            break;
        }
        at = next;
    }
    if let Some(t) = k.tcb(at) {
        t.send_next = sender;
    }
}

/// Removes and returns the first sender queued on `dest` that `accept` admits.
fn take_sender(k: &mut Kernel, dest: u32, accept: Option<u32>) -> Option<u32> {
    let mut prev = 0;
    let mut at = k.tcb(dest)?.send_queue;
    while at != 0 {
        let next = k.tcb(at).map_or(0, |t| t.send_next);
        if accept.is_none_or(|a| a == at) {
            unlink_sender(k, dest, prev, at, next);
            return Some(at);
        }
        prev = at;
        at = next;
    }
    None
}

fn unlink_sender(k: &mut Kernel, dest: u32, prev: u32, at: u32, next: u32) {
    if prev == 0 {
        if let Some(d) = k.tcb(dest) {
            d.send_queue = next;
        }
    } else if let Some(p) = k.tcb(prev) {
        p.send_next = next;
    }
    if let Some(t) = k.tcb(at) {
        t.send_next = 0;
    }
}

/// Removes `t` from whatever send queue it is on (timeout, deletion).
pub fn dequeue_anywhere(k: &mut Kernel, t: u32) {
    let dest = match k.tcb(t).map(|x| x.state) {
        Some(ThreadState::SendBlocked { to, .. }) => to,
        Some(ThreadState::FaultBlocked { handler, delivered: false, .. }) => handler,
        _ => return,
    };
    let mut prev = 0;
    let mut at = k.tcb(dest).map_or(0, |d| d.send_queue);
    while at != 0 {
        let next = k.tcb(at).map_or(0, |x| x.send_next);
        if at == t {
            unlink_sender(k, dest, prev, at, next);
            return;
        }
        prev = at;
        at = next;
    }
}

/// Copies the message of `src` (tag `tag`) to `dst`, processing typed items into
/// `dst`'s space.
///
/// Only the words the tag names are read; the receive window (BR0) only when there are
/// typed items. Items are validated in a first pass (decode, fits the window, the
/// receiver's quota and free memory cover the worst case: [`afford`]) and mapped in a
/// second, so a bad item or a lack of memory maps nothing, and the second pass cannot
/// fail part way (a target page that holds its source, or a mapping the source
/// derives from, is left as it is: `Kernel::map_entry`).
fn transfer(k: &mut Kernel, src: u32, dst: u32, tag: Tag) -> Result<(), Error> {
    let words = 1 + tag.words() as usize;
    let untyped = 1 + tag.u() as usize;
    if !(words - untyped).is_multiple_of(2) {
        return Err(Error::MessageOverflow);
    }
    let (s, d) = k.two(src, dst).ok_or(Error::NonExistingPartner)?;
    if words > untyped {
        let (src_space, dst_space) = (s.space, d.space);
        let window = receive_window(d);
        for i in (untyped..words).step_by(2) {
            let item = TypedItem::decode([read_mr(s, i), read_mr(s, i + 1)]).map_err(|_| Error::InvalidArgument)?;
            if !item.fits_window(window) {
                return Err(Error::MapRejected);
            }
        }
        afford(k, src, untyped..words, dst_space, window)?;
        for i in (untyped..words).step_by(2) {
            let s = k.tcb(src).ok_or(Error::NonExistingPartner)?;
            let pair = [read_mr(s, i), read_mr(s, i + 1)];
            // Decoded fine in the first pass; the sender cannot change it meanwhile.
            if let Ok(item) = TypedItem::decode(pair) {
                map_item(k, src_space, dst_space, item, window)?;
            }
        }
        let (s, d) = k.two(src, dst).ok_or(Error::NonExistingPartner)?;
        copy_mrs(s, d, words);
        return Ok(());
    }
    copy_mrs(s, d, words);
    Ok(())
}

/// Maps (or grants) the pages of `item` from `src` into `dst` inside `window`,
/// through the mapping database: each page becomes a child of the sender's mapping
/// (or, for a grant, moves with its subtree). Pages the sender does not hold through
/// the MDB (its UTCB, the KIP) are not transferred.
fn map_item(k: &mut Kernel, src: u16, dst: u16, item: TypedItem, window: Fpage) -> Result<(), Error> {
    let fpage = item.fpage();
    if fpage.is_nil() {
        return Ok(());
    }
    let size = fpage.size();
    let target = target_of(item, window);
    let asked = super::mapdb::mdb_rights(fpage.rights());
    let end = fpage.base() + size;
    // Only where the sender has tables: a 2^47-byte flexpage over a sparse space must
    // not cost 2^35 steps with the kernel lock held.
    let mut at = fpage.base();
    while let Some((found, span_end)) = k.next_span(src, at, end) {
        for va in (found..span_end).step_by(abi::PAGE_SIZE as usize) {
            let from = crate::mdb::SpaceId::new(u32::from(src));
            if let Some(entry) = k.mdb.lookup(from, va) {
                let rights = k.mdb.entry(entry).rights();
                let give = crate::mdb::Rights::from_bits(rights.bits() & asked.bits()).unwrap_or_default();
                if !give.is_empty() {
                    k.map_entry(entry, dst, target + (va - fpage.base()), give, item.is_grant())?;
                }
            }
        }
        at = span_end;
    }
    Ok(())
}

/// The deadline (counter ticks) of a block with `timeout` from now; 0 for none
/// (never, or zero, which does not block).
#[inline(always)]
pub(super) fn deadline_of(timeout: Timeout) -> u64 {
    match timeout {
        Timeout::Micros(us) => {
            let f = crate::arch::timer::cntfrq();
            crate::arch::timer::now() + (u64::from(us) * f).div_ceil(1_000_000).max(1)
        }
        _ => 0,
    }
}

/// The receive window of `d` (BR0 in its UTCB; nil when that does not decode).
#[inline]
pub(super) fn receive_window(d: &Tcb) -> Fpage {
    // SAFETY: BR0 lies in the receiver's UTCB frame (user memory).
    let br0 = unsafe { phys::read_u64(d.utcb_pa + abi::utcb::BR_OFFSET as u64) };
    Fpage::from_raw(br0).unwrap_or(Fpage::nil())
}

/// Where `item`'s pages go: the send base's offset within the window, aligned down to
/// the flexpage's size (the whole window for a fault reply: the faulting address).
pub(super) fn target_of(item: TypedItem, window: Fpage) -> u64 {
    let size = item.fpage().size();
    let offset = (item.send_base().wrapping_sub(window.base())) & (window.size() - 1) & !(size - 1);
    window.base() + offset
}

/// Whether `space`'s quota and its home node's free memory cover the worst case of
/// mapping one page into it: a path of three tables (each with its MDB shadow) and a
/// slab frame for the MDB entry.
pub(super) fn one_page_affordable(space: &crate::space::Space) -> bool {
    const WORST: u64 = 3 * 2 * abi::PAGE_SIZE + 2 * abi::PAGE_SIZE;
    space.can_charge(WORST).is_ok() && FRAMES.free_bytes(space.home) >= WORST
}

/// Checks, before anything is mapped, that the receiver's quota and the free memory
/// cover the worst case of mapping every item: so running out is an error with
/// nothing changed, not a message half delivered. The cost counts the pages the
/// sender has mapped, the tables the receiver lacks for them ([`Kernel::map_cost`]),
/// and a slab frame to spare.
///
/// The items are the message words `words` (pairs) of thread `sender`; words that do
/// not decode are skipped (the callers refuse or ignore them).
fn afford(k: &mut Kernel, sender: u32, words: core::ops::Range<usize>, dst: u16, window: Fpage) -> Result<(), Error> {
    // One page, the usual case (fault replies): a path of three tables and one entry
    // at the most, checked without a walk.
    if words.len() == 2 {
        let s = k.tcb(sender).ok_or(Error::NonExistingPartner)?;
        let one_page = TypedItem::decode([read_mr(s, words.start), read_mr(s, words.start + 1)])
            .is_ok_and(|item| item.fpage().size() == abi::PAGE_SIZE);
        if one_page && k.space(dst).is_some_and(|space| one_page_affordable(space)) {
            return Ok(());
        }
    }
    let mut cost = super::MapCost::default();
    for i in words.step_by(2) {
        let s = k.tcb(sender).ok_or(Error::NonExistingPartner)?;
        let src = s.space;
        let Ok(item) = TypedItem::decode([read_mr(s, i), read_mr(s, i + 1)]) else { continue };
        let fpage = item.fpage();
        if !fpage.is_nil() {
            k.map_cost(src, (fpage.base(), fpage.size()), dst, target_of(item, window), &mut cost)
                .ok_or(Error::InvalidSpace)?;
        }
    }
    if cost.entries == 0 {
        return Ok(()); // the sender holds nothing there: nothing will be mapped
    }
    let tables = cost.table_bytes();
    let space = k.space(dst).ok_or(Error::InvalidSpace)?;
    space.can_charge(tables).map_err(|_| Error::OutOfMemory)?;
    let need = tables.saturating_add(cost.entries).saturating_add(table::PAGE_SIZE);
    // The home node usually has it; only otherwise add up the others (where
    // allocations fall back to).
    if FRAMES.free_bytes(space.home) >= need {
        return Ok(());
    }
    let free: u64 = FRAMES.nodes_with_memory().iter().map(|n| FRAMES.free_bytes(n)).sum();
    if free < need {
        return Err(Error::OutOfMemory);
    }
    Ok(())
}

/// A fault of thread `cur`: report it to its pager or exception handler and wait.
pub fn fault(k: &mut Kernel, cur: u32, kind: FaultKind) {
    let Some(t) = k.tcb(cur) else { return };
    let handler_id = match kind {
        FaultKind::Page => t.pager,
        FaultKind::Exception => t.exception_handler,
    };
    let (elr, far, esr) = (t.context.elr, t.context.far, t.context.esr);
    let Some(handler) = k.lookup(handler_id).filter(|&h| h != cur) else {
        let (id, class) = (k.tcb(cur).map_or(0, |t| t.id()), crate::exception::class_name(crate::exception::class(esr)));
        let nobody = if kind == FaultKind::Page { "pager" } else { "exception handler" };
        if cur == abi::thread::ROOT_THREAD_NUMBER as u32 {
            // Nothing else can ever run: the root task starts and supervises everything.
            crate::boot::fatal(
                crate::halt::Halt::RootTaskDied,
                format_args!(
                    "the root task died: thread {id:#x} {class} (esr {esr:#x}) at ip {elr:#x}, address {far:#x}: no {nobody} to tell"
                ),
            );
        }
        kprintln!(
            "warning: thread {id:#x} halted: {class} (esr {esr:#x}) at ip {elr:#x}, address {far:#x}: no {nobody} to tell"
        );
        if let Some(t) = k.tcb(cur) {
            t.state = ThreadState::Halted;
        }
        return;
    };
    if let Some(t) = k.tcb(cur) {
        t.state = ThreadState::FaultBlocked { handler, delivered: false, kind };
    }
    let waiting = matches!(
        k.tcb(handler).map(|h| h.state),
        Some(ThreadState::RecvBlocked { from }) if from.is_none() || from == Some(cur)
    );
    if waiting {
        deliver_fault(k, cur, handler, kind);
        k.make_ready(handler);
    } else {
        enqueue_sender(k, handler, cur);
    }
}

/// Writes the fault message of `faulter` into `handler`'s registers.
fn deliver_fault(k: &mut Kernel, faulter: u32, handler: u32, kind: FaultKind) {
    let Some((f, h)) = k.two(faulter, handler) else { return };
    // The five words, not the whole frame: copying 288 bytes shows in the fault path.
    let c = &f.context;
    let (esr, far, elr, sp, spsr) = (c.esr, c.far, c.elr, c.sp, c.spsr);
    let (label, words): (u16, &[u64]) = match kind {
        FaultKind::Page => {
            (abi::fault::PAGE_FAULT_LABEL | crate::exception::fault_access(esr), &[far, elr])
        }
        FaultKind::Exception => (abi::fault::EXCEPTION_LABEL, &[esr, far, elr, sp, spsr]),
    };
    let tag = Tag::new(label, words.len() as u8, 0).map_or(0, |t| t.raw());
    let mut mrs = [0u64; 6];
    mrs[0] = tag;
    mrs[1..1 + words.len()].copy_from_slice(words);
    write_mrs(h, &mrs[..1 + words.len()]);
    complete(h, Ok(()), f.id());
    f.state = ThreadState::FaultBlocked { handler, delivered: true, kind };
}

/// `handler` replied to `faulter`: apply the reply and let the faulter run on.
fn resolve_fault(k: &mut Kernel, handler: u32, faulter: u32, tag: Tag, kind: FaultKind) -> Result<(), Error> {
    let (handler_space, faulter_space) = {
        let Some((h, f)) = k.two(handler, faulter) else { return Err(Error::NonExistingPartner) };
        (h.space, f.space)
    };
    match kind {
        FaultKind::Page => {
            let untyped = 1 + tag.u() as usize;
            let end = 1 + tag.words() as usize;
            let whole = Fpage::whole_space(Rights::RWX);
            // All or nothing here too: a reply the faulter's quota or the free memory
            // cannot cover maps nothing and fails for the pager, and the faulter stays
            // in its fault, still waiting for this pager's answer. Resuming it would
            // only make it fault again, and again: a pager that is never told would
            // loop with it for ever, hanging the machine without a word.
            afford(k, handler, untyped..end, faulter_space, whole)?;
            for i in (untyped..end).step_by(2) {
                let Some(h) = k.tcb(handler) else { return Err(Error::NonExistingPartner) };
                if let Ok(item) = TypedItem::decode([read_mr(h, i), read_mr(h, i + 1)]) {
                    let _ = map_item(k, handler_space, faulter_space, item, whole);
                }
            }
        }
        FaultKind::Exception => {
            if tag.u() >= 2
                && let Some((h, f)) = k.two(handler, faulter)
            {
                f.context.elr = read_mr(h, 1);
                f.context.sp = read_mr(h, 2);
            }
        }
    }
    k.make_ready(faulter);
    if let Some(h) = k.tcb(handler) {
        complete(h, Ok(()), 0);
    }
    Ok(())
}

/// `Notify`: queues `word` for thread `dest` (a full id) from `cur`; delivers it at
/// once if `dest` waits in an open receive (making it ready on its CPU: another CPU
/// is woken by an SGI). Never blocks.
pub fn notify(k: &mut Kernel, cur: u32, dest: u64, word: u64) -> Result<(), Error> {
    let from = k.tcb(cur).map_or(0, |t| t.id());
    let d = k.lookup(dest).ok_or(Error::InvalidThread)?;
    let t = k.tcb(d).ok_or(Error::InvalidThread)?;
    t.notes.push(from, word).map_err(|_| Error::QueueFull)?;
    if t.state == (ThreadState::RecvBlocked { from: None })
        && let Some((from, word)) = t.notes.pop()
    {
        deliver_note(t, from, word);
        k.make_ready(d);
    }
    Ok(())
}

/// Writes the notification message (`word` from thread `from`) into `t`'s registers.
fn deliver_note(t: &mut Tcb, from: u64, word: u64) {
    let tag = Tag::new(abi::fault::NOTIFY_LABEL, 1, 0).map_or(0, |t| t.raw());
    write_mrs(t, &[tag, word]);
    complete(t, Ok(()), from);
}

/// Writes the interrupt message of SPI `intid` into its handler's registers.
fn deliver_interrupt(t: &mut Tcb, intid: u32) {
    let tag = Tag::new(abi::fault::INTERRUPT_LABEL, 1, 0).map_or(0, |t| t.raw());
    write_mrs(t, &[tag, u64::from(intid)]);
    let from = abi::thread::ThreadId::interrupt(intid).map_or(0, |id| id.raw());
    complete(t, Ok(()), from);
}

/// Delivers pending device interrupts to handlers that wait in an open receive; the
/// others get theirs when they next receive.
pub fn deliver_interrupts(k: &mut Kernel) {
    for (intid, handler) in crate::irq::pending() {
        let waiting = matches!(k.tcb(handler).map(|t| t.state), Some(ThreadState::RecvBlocked { from: None }));
        if waiting && crate::irq::take_pending(handler) == Some(intid) {
            if let Some(t) = k.tcb(handler) {
                deliver_interrupt(t, intid);
            }
            k.make_ready(handler);
        }
    }
}

/// No thread's IPC deadline is earlier than this: a lower bound, lowered by
/// [`note_deadline`] whenever a deadline is set and recomputed by [`expire_timeouts`]
/// when it passes (a deadline that goes away early leaves it low: one scan too many,
/// never a timeout missed). Written only under the kernel lock.
static EARLIEST_DEADLINE: AtomicU64 = AtomicU64::new(u64::MAX);

/// Records that a thread now waits with `deadline` (0: none).
pub fn note_deadline(deadline: u64) {
    if deadline != 0 {
        EARLIEST_DEADLINE.fetch_min(deadline, Ordering::Relaxed);
    }
}

/// Ends every blocking IPC whose deadline has passed (called on timer ticks and by
/// the idle loop after every interrupt). Scans the threads only once the earliest
/// deadline has passed: an idle CPU woken to run a thread should not walk a thousand
/// TCBs first.
pub fn expire_timeouts(k: &mut Kernel, now: u64) {
    if now < EARLIEST_DEADLINE.load(Ordering::Relaxed) {
        return;
    }
    let mut next = u64::MAX;
    for n in 1..crate::thread::MAX_THREADS as u32 {
        let Some(t) = k.tcb(n) else { continue };
        if t.deadline == 0 {
            continue;
        }
        if t.deadline > now {
            next = next.min(t.deadline);
            continue;
        }
        let error = match t.state {
            ThreadState::SendBlocked { .. } => Error::SendTimeout,
            ThreadState::RecvBlocked { .. } => Error::ReceiveTimeout,
            _ => continue,
        };
        dequeue_anywhere(k, n);
        if let Some(t) = k.tcb(n) {
            t.after_send = None;
            complete(t, Err(error), 0);
        }
        k.make_ready(n);
    }
    EARLIEST_DEADLINE.store(next, Ordering::Relaxed);
}
