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

use super::{Kernel, Machine};
use crate::mm::frames::Frames;
use crate::mm::table;
use crate::thread::{FaultKind, Tcb, ThreadState};
use abi::Error;
use abi::fpage::{Fpage, Rights};
use abi::message::{Tag, TypedItem};
use abi::timeout::Timeout;

/// Byte offset of message register `i` in a UTCB.
fn mr_offset(i: usize) -> u64 {
    (abi::utcb::MR_OFFSET + 8 * i) as u64
}

/// Reads message register `i` of a thread: x3..x7 for MR0..MR4, else its UTCB.
fn read_mr<M: Machine>(t: &Tcb, i: usize) -> u64 {
    if i < abi::message::REGISTER_MRS {
        t.context.x[3 + i]
    } else {
        // SAFETY: the UTCB frame is the thread's kernel-allocated UTCB (user memory),
        // and `mr_offset(i)` for i < 64 stays inside its first 512 bytes.
        unsafe { M::MEMORY.read_u64(t.utcb_pa + mr_offset(i)) }
    }
}

/// Copies message registers MR0..MR(n-1) from `s` to `d` (two different threads).
fn copy_mrs<M: Machine>(s: &Tcb, d: &mut Tcb, n: usize) {
    let regs = n.min(abi::message::REGISTER_MRS);
    d.context.x[3..3 + regs].copy_from_slice(&s.context.x[3..3 + regs]);
    for i in regs..n {
        // SAFETY: as in `read_mr`, in the sender's UTCB frame.
        let word = unsafe { M::MEMORY.read_u64(s.utcb_pa + mr_offset(i)) };
        // SAFETY: as in `read_mr`, in the receiver's UTCB frame.
        unsafe { M::MEMORY.write_u64(d.utcb_pa + mr_offset(i), word) };
    }
}

/// Writes message registers MR0..MR(n-1) of a thread.
fn write_mrs<M: Machine>(t: &mut Tcb, mrs: &[u64]) {
    for (i, &word) in mrs.iter().enumerate() {
        if i < 5 {
            t.context.x[3 + i] = word;
        } else {
            // SAFETY: as in `read_mr`.
            unsafe { M::MEMORY.write_u64(t.utcb_pa + mr_offset(i), word) };
        }
    }
}

/// Sets the IPC results of a thread that waited: status, partner. (A timeout it waited
/// with ends where it is made ready: `Kernel::make_ready`.)
fn complete(t: &mut Tcb, status: Result<(), Error>, partner: u64) {
    t.context.x[0] = abi::error::status(status);
    t.context.x[1] = partner;
}

/// The `Ipc` system call of thread `cur`, its registers decoded into `ipc`.
pub fn ipc<M: Machine>(k: &mut Kernel<M>, cur: u32, ipc: abi::call::Ipc) {
    let (to, from, timeouts, tag) = (ipc.to.raw(), ipc.from.raw(), ipc.timeouts, ipc.tag);
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
        if k.machine.interrupt_handler(intid) != Some(cur) {
            return fail(k, cur, Error::NonExistingPartner);
        }
        k.machine.unmask_interrupt(intid);
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
pub fn cancel<M: Machine>(k: &mut Kernel<M>, t: u32) {
    if let Some(tcb) = k.tcb(t) {
        tcb.after_send = None;
        complete(tcb, Err(Error::Cancelled), 0);
    }
    k.make_ready(t);
}

/// Ends `t`'s IPC with `Cancelled` without waking it (it is being halted: the result
/// is there when it is started again).
pub fn cancel_halted<M: Machine>(k: &mut Kernel<M>, t: u32) {
    dequeue_anywhere(k, t);
    k.disarm_timeout(t);
    if let Some(tcb) = k.tcb(t)
        && matches!(tcb.state, ThreadState::SendBlocked { .. } | ThreadState::RecvBlocked { .. })
    {
        tcb.after_send = None;
        complete(tcb, Err(Error::Cancelled), 0);
    }
}

fn fail<M: Machine>(k: &mut Kernel<M>, cur: u32, e: Error) {
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
fn send<M: Machine>(
    k: &mut Kernel<M>,
    cur: u32,
    dest: u32,
    tag: Tag,
    timeout: Timeout,
    call: bool,
) -> SendOutcome {
    let dest_state = k.tcb(dest).map(|t| t.state);
    let prio = k.tcb(cur).map_or(0, |t| t.priority);
    match dest_state {
        Some(ThreadState::RecvBlocked { from }) if from.is_none() || from == Some(cur) => {
            match transfer(k, cur, dest, tag) {
                Ok(()) => {
                    let id = k.tcb(cur).map_or(0, |t| t.id());
                    if let Some(d) = k.tcb(dest) {
                        complete(d, Ok(()), id);
                    }
                    if call {
                        // The server works for the caller now: at its priority.
                        k.lend(dest, prio);
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
                if call {
                    // A caller waits for a busy server: it lends it its priority now.
                    k.inherit(dest, prio);
                }
                SendOutcome::Blocked
            }
        },
        None => SendOutcome::Failed(Error::NonExistingPartner),
    }
}

/// The receive phase of `cur`, accepting `accept` (or anyone). Returns whether it
/// completed at once (a message was there, or the zero timeout failed it) rather than
/// blocking.
fn receive<M: Machine>(k: &mut Kernel<M>, cur: u32, accept: Option<u32>, timeout: Timeout) -> bool {
    if accept.is_none() {
        // Waiting for the next request: what it inherited for the last ones is over.
        k.reset_inheritance(cur);
    }
    // A pending interrupt of this handler comes first (open receives only).
    if accept.is_none()
        && let Some(intid) = k.machine.take_pending_interrupt(cur)
    {
        if let Some(t) = k.tcb(cur) {
            deliver_interrupt::<M>(t, intid);
        }
        return true;
    }
    // Then a notification (open receives only), oldest first.
    if accept.is_none()
        && let Some(t) = k.tcb(cur)
        && let Some((from, word)) = t.notes.pop()
    {
        deliver_note::<M>(t, from, word);
        return true;
    }
    if let Some(sender) = take_sender(k, cur, accept) {
        let (state, prio) = k.tcb(sender).map_or((None, 0), |t| (Some(t.state), t.priority));
        if matches!(
            state,
            Some(ThreadState::SendBlocked { call: true, .. } | ThreadState::FaultBlocked { .. })
        ) {
            // A call (or fault) taken: the receiver works for it, at its priority.
            k.lend(cur, prio);
        }
        match state {
            Some(ThreadState::SendBlocked { .. }) => {
                let tag =
                    k.tcb(sender).and_then(|t| Tag::from_raw(t.context.x[3]).ok()).unwrap_or(Tag::EMPTY);
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

/// Puts `t` to sleep in `state`, with a deadline for a finite timeout (in its CPU's
/// timeout queue: `time`).
fn block<M: Machine>(k: &mut Kernel<M>, t: u32, state: ThreadState, timeout: Timeout) {
    let deadline = deadline_of(k.machine, timeout);
    k.disarm_timeout(t);
    if let Some(tcb) = k.tcb(t) {
        tcb.state = state;
    }
    if deadline != 0 {
        k.arm_timeout(t, deadline);
    }
}

fn enqueue_sender<M: Machine>(k: &mut Kernel<M>, dest: u32, sender: u32) {
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
fn take_sender<M: Machine>(k: &mut Kernel<M>, dest: u32, accept: Option<u32>) -> Option<u32> {
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

fn unlink_sender<M: Machine>(k: &mut Kernel<M>, dest: u32, prev: u32, at: u32, next: u32) {
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
pub fn dequeue_anywhere<M: Machine>(k: &mut Kernel<M>, t: u32) {
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
fn transfer<M: Machine>(k: &mut Kernel<M>, src: u32, dst: u32, tag: Tag) -> Result<(), Error> {
    let words = 1 + tag.words() as usize;
    let untyped = 1 + tag.u() as usize;
    if !(words - untyped).is_multiple_of(2) {
        return Err(Error::MessageOverflow);
    }
    let (s, d) = k.two(src, dst).ok_or(Error::NonExistingPartner)?;
    if words > untyped {
        let (src_space, dst_space) = (s.space, d.space);
        let window = receive_window::<M>(d);
        for i in (untyped..words).step_by(2) {
            let item = TypedItem::decode([read_mr::<M>(s, i), read_mr::<M>(s, i + 1)])
                .map_err(|_| Error::InvalidArgument)?;
            if !item.fits_window(window) {
                return Err(Error::MapRejected);
            }
        }
        afford(k, src, untyped..words, dst_space, window)?;
        for i in (untyped..words).step_by(2) {
            let s = k.tcb(src).ok_or(Error::NonExistingPartner)?;
            let pair = [read_mr::<M>(s, i), read_mr::<M>(s, i + 1)];
            // Decoded fine in the first pass; the sender cannot change it meanwhile.
            if let Ok(item) = TypedItem::decode(pair) {
                map_item(k, src_space, dst_space, item, window)?;
            }
        }
        let (s, d) = k.two(src, dst).ok_or(Error::NonExistingPartner)?;
        copy_mrs::<M>(s, d, words);
        return Ok(());
    }
    copy_mrs::<M>(s, d, words);
    Ok(())
}

/// Maps (or grants) the pages of `item` from `src` into `dst` inside `window`,
/// through the mapping database: each page becomes a child of the sender's mapping
/// (or, for a grant, moves with its subtree). Pages the sender does not hold through
/// the MDB (its UTCB, the KIP) are not transferred.
fn map_item<M: Machine>(
    k: &mut Kernel<M>,
    src: u16,
    dst: u16,
    item: TypedItem,
    window: Fpage,
) -> Result<(), Error> {
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

/// The deadline (system counter) of a block with `timeout` from now, rounded up to
/// a whole counter tick (never early); 0 for none (never, or zero, which does not
/// block).
#[inline(always)]
pub(super) fn deadline_of<M: Machine>(m: M, timeout: Timeout) -> u64 {
    match timeout {
        Timeout::Micros(us) => m.now() + crate::thread::micros_to_ticks(u64::from(us), m.counter_frequency()),
        _ => 0,
    }
}

/// The receive window of `d` (BR0 in its UTCB; nil when that does not decode).
#[inline]
pub(super) fn receive_window<M: Machine>(d: &Tcb) -> Fpage {
    // SAFETY: BR0 lies in the receiver's UTCB frame (user memory).
    let br0 = unsafe { M::MEMORY.read_u64(d.utcb_pa + abi::utcb::BR_OFFSET as u64) };
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
pub(super) fn one_page_affordable(frames: &Frames, space: &crate::space::Space) -> bool {
    const WORST: u64 = 3 * 2 * abi::PAGE_SIZE + 2 * abi::PAGE_SIZE;
    space.can_charge(WORST).is_ok() && frames.free_bytes(space.home) >= WORST
}

/// Checks, before anything is mapped, that the receiver's quota and the free memory
/// cover the worst case of mapping every item: so running out is an error with
/// nothing changed, not a message half delivered. The cost counts the pages the
/// sender has mapped, the tables the receiver lacks for them ([`Kernel::map_cost`]),
/// and a slab frame to spare.
///
/// The items are the message words `words` (pairs) of thread `sender`; words that do
/// not decode are skipped (the callers refuse or ignore them).
fn afford<M: Machine>(
    k: &mut Kernel<M>,
    sender: u32,
    words: core::ops::Range<usize>,
    dst: u16,
    window: Fpage,
) -> Result<(), Error> {
    // One page, the usual case (fault replies): a path of three tables and one entry
    // at the most, checked without a walk.
    if words.len() == 2 {
        let s = k.tcb(sender).ok_or(Error::NonExistingPartner)?;
        let one_page = TypedItem::decode([read_mr::<M>(s, words.start), read_mr::<M>(s, words.start + 1)])
            .is_ok_and(|item| item.fpage().size() == abi::PAGE_SIZE);
        let frames = k.frames();
        if one_page && k.space(dst).is_some_and(|space| one_page_affordable(frames, space)) {
            return Ok(());
        }
    }
    let mut cost = super::MapCost::default();
    for i in words.step_by(2) {
        let s = k.tcb(sender).ok_or(Error::NonExistingPartner)?;
        let src = s.space;
        let Ok(item) = TypedItem::decode([read_mr::<M>(s, i), read_mr::<M>(s, i + 1)]) else { continue };
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
    let home = space.home;
    let frames = k.frames();
    if frames.free_bytes(home) >= need {
        return Ok(());
    }
    let free: u64 = frames.nodes_with_memory().iter().map(|n| frames.free_bytes(n)).sum();
    if free < need {
        return Err(Error::OutOfMemory);
    }
    Ok(())
}

/// A fault of thread `cur`: report it to its pager or exception handler and wait.
pub fn fault<M: Machine>(k: &mut Kernel<M>, cur: u32, kind: FaultKind) {
    let Some(t) = k.tcb(cur) else { return };
    let handler_id = match kind {
        FaultKind::Page => t.pager,
        FaultKind::Exception => t.exception_handler,
    };
    let (elr, far, esr) = (t.context.elr, t.context.far, t.context.esr);
    let Some(handler) = k.lookup(handler_id).filter(|&h| h != cur) else {
        let (id, class) =
            (k.tcb(cur).map_or(0, |t| t.id()), crate::exception::class_name(crate::exception::class(esr)));
        let nobody = if kind == FaultKind::Page { "pager" } else { "exception handler" };
        if cur == abi::thread::ROOT_THREAD_NUMBER as u32 {
            // Nothing else can ever run: the root task starts and supervises everything.
            return k.fatal(
                crate::halt::Halt::RootTaskDied,
                format_args!(
                    "the root task died: thread {id:#x} {class} (esr {esr:#x}) at ip {elr:#x}, address {far:#x}: no {nobody} to tell"
                ),
            );
        }
        k.machine.print(format_args!(
            "warning: thread {id:#x} halted: {class} (esr {esr:#x}) at ip {elr:#x}, address {far:#x}: no {nobody} to tell\n"
        ));
        if let Some(t) = k.tcb(cur) {
            t.state = ThreadState::Halted;
        }
        return;
    };
    let prio = match k.tcb(cur) {
        Some(t) => {
            t.state = ThreadState::FaultBlocked { handler, delivered: false, kind };
            t.priority
        }
        None => 0,
    };
    let waiting = matches!(
        k.tcb(handler).map(|h| h.state),
        Some(ThreadState::RecvBlocked { from }) if from.is_none() || from == Some(cur)
    );
    // A fault is a call to its handler: it lends the handler its priority.
    if waiting {
        deliver_fault(k, cur, handler, kind);
        k.lend(handler, prio);
        k.make_ready(handler);
    } else {
        enqueue_sender(k, handler, cur);
        k.inherit(handler, prio);
    }
}

/// Writes the fault message of `faulter` into `handler`'s registers.
fn deliver_fault<M: Machine>(k: &mut Kernel<M>, faulter: u32, handler: u32, kind: FaultKind) {
    let Some((f, h)) = k.two(faulter, handler) else { return };
    // The five words, not the whole frame: copying 288 bytes shows in the fault path.
    let c = &f.context;
    let (esr, far, elr, sp, spsr) = (c.esr, c.far, c.elr, c.sp, c.spsr);
    let (label, words): (u16, &[u64]) = match kind {
        FaultKind::Page => (abi::fault::PAGE_FAULT_LABEL | crate::exception::fault_access(esr), &[far, elr]),
        FaultKind::Exception => (abi::fault::EXCEPTION_LABEL, &[esr, far, elr, sp, spsr]),
    };
    let tag = Tag::new(label, words.len() as u8, 0).map_or(0, |t| t.raw());
    let mut mrs = [0u64; 6];
    mrs[0] = tag;
    mrs[1..1 + words.len()].copy_from_slice(words);
    write_mrs::<M>(h, &mrs[..1 + words.len()]);
    complete(h, Ok(()), f.id());
    f.state = ThreadState::FaultBlocked { handler, delivered: true, kind };
}

/// `handler` replied to `faulter`: apply the reply and let the faulter run on.
fn resolve_fault<M: Machine>(
    k: &mut Kernel<M>,
    handler: u32,
    faulter: u32,
    tag: Tag,
    kind: FaultKind,
) -> Result<(), Error> {
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
                if let Ok(item) = TypedItem::decode([read_mr::<M>(h, i), read_mr::<M>(h, i + 1)]) {
                    let _ = map_item(k, handler_space, faulter_space, item, whole);
                }
            }
        }
        FaultKind::Exception => {
            if tag.u() >= 2
                && let Some((h, f)) = k.two(handler, faulter)
            {
                f.context.elr = read_mr::<M>(h, 1);
                f.context.sp = read_mr::<M>(h, 2);
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
pub fn notify<M: Machine>(k: &mut Kernel<M>, cur: u32, dest: u64, word: u64) -> Result<(), Error> {
    let from = k.tcb(cur).map_or(0, |t| t.id());
    let d = k.lookup(dest).ok_or(Error::InvalidThread)?;
    let t = k.tcb(d).ok_or(Error::InvalidThread)?;
    t.notes.push(from, word).map_err(|_| Error::QueueFull)?;
    if t.state == (ThreadState::RecvBlocked { from: None })
        && let Some((from, word)) = t.notes.pop()
    {
        deliver_note::<M>(t, from, word);
        k.make_ready(d);
    }
    Ok(())
}

/// Writes the notification message (`word` from thread `from`) into `t`'s registers.
fn deliver_note<M: Machine>(t: &mut Tcb, from: u64, word: u64) {
    let tag = Tag::new(abi::fault::NOTIFY_LABEL, 1, 0).map_or(0, |t| t.raw());
    write_mrs::<M>(t, &[tag, word]);
    complete(t, Ok(()), from);
}

/// Writes the interrupt message of SPI `intid` into its handler's registers.
fn deliver_interrupt<M: Machine>(t: &mut Tcb, intid: u32) {
    let tag = Tag::new(abi::fault::INTERRUPT_LABEL, 1, 0).map_or(0, |t| t.raw());
    write_mrs::<M>(t, &[tag, u64::from(intid)]);
    let from = abi::thread::ThreadId::interrupt(intid).map_or(0, |id| id.raw());
    complete(t, Ok(()), from);
}

/// Delivers pending device interrupts to handlers that wait in an open receive; the
/// others get theirs when they next receive.
#[inline(always)]
pub fn deliver_interrupts<M: Machine>(k: &mut Kernel<M>) {
    let m = k.machine;
    for (intid, handler) in m.pending_interrupts() {
        let waiting =
            matches!(k.tcb(handler).map(|t| t.state), Some(ThreadState::RecvBlocked { from: None }));
        if waiting && m.take_pending_interrupt(handler) == Some(intid) {
            if let Some(t) = k.tcb(handler) {
                deliver_interrupt::<M>(t, intid);
            }
            k.make_ready(handler);
        }
    }
}

/// Ends every blocking IPC on `me` whose deadline is at or before `now`, earliest
/// first, with `SendTimeout` or `ReceiveTimeout` (called when `me`'s timer fires and by
/// its idle loop). Takes them from `me`'s timeout queue: no thread is scanned.
pub fn expire_timeouts<M: Machine>(k: &mut Kernel<M>, me: &crate::percpu::PerCpu, now: u64) {
    while let Some(n) = k.pop_expired(me, now) {
        let error = match k.tcb(n).map(|t| t.state) {
            Some(ThreadState::SendBlocked { .. }) => Error::SendTimeout,
            Some(ThreadState::RecvBlocked { .. }) => Error::ReceiveTimeout,
            _ => continue,
        };
        dequeue_anywhere(k, n);
        if let Some(t) = k.tcb(n) {
            t.after_send = None;
            complete(t, Err(error), 0);
        }
        k.make_ready(n);
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::{Outcome, ROOT, Rng, World};
    use super::super::tests::{memory, tag};
    use crate::thread::ThreadState;
    use abi::Error;
    use abi::fpage::{Fpage, Rights};
    use abi::message::TypedItem;
    use abi::syscall::Syscall;
    use abi::thread::ThreadId;
    use abi::timeout::{Timeout, Timeouts};
    use platform::NodeId;
    use std::collections::{BTreeMap, VecDeque};
    use std::vec::Vec;

    const P: u64 = abi::PAGE_SIZE;
    const ANY: u64 = u64::MAX;
    const NEVER: u64 = Timeouts::NEVER.pack();
    const ZERO: u64 = Timeouts::ZERO.pack();

    /// Two spaces (nodes 0 and 1) and `n` threads spread over them and over CPUs 1..3.
    fn world(n: usize) -> (World, Vec<u32>) {
        let mut w = World::new();
        let a = w.k.create_space(NodeId::ZERO, 16 << 20).unwrap();
        let b = w.k.create_space(NodeId::new(1).unwrap(), 16 << 20).unwrap();
        let threads = (0..n)
            .map(|i| {
                let space = if i % 2 == 0 { a } else { b };
                w.thread(space, 0x20_0000 + (i as u64 / 2) * P, 1 + (i % 3) as u32, 100)
            })
            .collect();
        (w, threads)
    }

    fn ipc(to: u64, from: u64, timeouts: u64, mrs: &[u64]) -> [u64; 8] {
        let mut a = [to, from, timeouts, 0, 0, 0, 0, 0];
        a[3..3 + mrs.len()].copy_from_slice(mrs);
        a
    }

    fn receive_window(w: &mut World, t: u32, window: Fpage) {
        w.write_utcb(t, abi::utcb::BR_OFFSET, window.raw());
    }

    #[test]
    fn a_send_meets_a_waiting_receiver_and_a_call_gets_its_reply() {
        let (mut w, t) = world(2);
        let (client, server) = (t[0], t[1]);
        let (cid, sid) = (w.id(client), w.id(server));
        assert_eq!(
            w.svc(server, Syscall::Ipc, ipc(0, ANY, NEVER, &[])),
            Outcome::Blocked(ThreadState::RecvBlocked { from: None })
        );
        let call = w.svc(client, Syscall::Ipc, ipc(sid, sid, NEVER, &[tag(5, 2, 0), 11, 22]));
        assert_eq!(
            call,
            Outcome::Blocked(ThreadState::RecvBlocked { from: Some(server) }),
            "waits for the reply"
        );
        let got = w.outcome(server).regs();
        assert_eq!(got[..6], [0, cid, NEVER, tag(5, 2, 0), 11, 22], "status, sender, the message");
        w.check();
        let reply = w.svc(server, Syscall::Ipc, ipc(cid, ANY, NEVER, &[tag(6, 1, 0), 33]));
        assert_eq!(
            reply,
            Outcome::Blocked(ThreadState::RecvBlocked { from: None }),
            "the server waits again"
        );
        let back = w.outcome(client).regs();
        assert_eq!((back[0], back[1], back[3], back[4]), (0, sid, tag(6, 1, 0), 33));
        w.check();
    }

    #[test]
    fn senders_queue_in_order_and_a_closed_receive_takes_only_its_partner() {
        let (mut w, t) = world(4);
        let r = t[0];
        let rid = w.id(r);
        for (i, &s) in t[1..].iter().enumerate() {
            let out = w.svc(s, Syscall::Ipc, ipc(rid, 0, NEVER, &[tag(1, 1, 0), 100 + i as u64]));
            assert_eq!(out, Outcome::Blocked(ThreadState::SendBlocked { to: r, call: false }));
        }
        w.check();
        let second = w.id(t[2]);
        assert_eq!(w.svc(r, Syscall::Ipc, ipc(0, second, NEVER, &[])).regs()[4], 101, "the closed receive");
        assert_eq!(w.outcome(t[2]).status(), Ok(()), "its sender runs on");
        assert_eq!(w.svc(r, Syscall::Ipc, ipc(0, ANY, NEVER, &[])).regs()[4], 100, "then the oldest");
        assert_eq!(w.svc(r, Syscall::Ipc, ipc(0, ANY, NEVER, &[])).regs()[4], 102);
        w.check();
    }

    #[test]
    fn zero_timeouts_fail_at_once_naming_the_phase() {
        let (mut w, t) = world(2);
        let rid = w.id(t[1]);
        assert_eq!(w.svc(t[0], Syscall::Ipc, ipc(rid, 0, ZERO, &[0])).status(), Err(Error::SendTimeout));
        assert_eq!(w.svc(t[0], Syscall::Ipc, ipc(0, ANY, ZERO, &[0])).status(), Err(Error::ReceiveTimeout));
        let send_only_zero = Timeouts { send: Timeout::Never, receive: Timeout::Zero }.pack();
        // The other thread receives: the send completes, then the receive fails.
        let _ = w.svc(t[1], Syscall::Ipc, ipc(0, ANY, NEVER, &[]));
        let out = w.svc(t[0], Syscall::Ipc, ipc(rid, rid, send_only_zero, &[tag(1, 0, 0)]));
        assert_eq!(
            out.status(),
            Err(Error::ReceiveTimeout),
            "the send went through; the receive phase failed"
        );
        assert_eq!(w.outcome(t[1]).status(), Ok(()));
        w.check();
    }

    #[test]
    fn finite_timeouts_expire_to_the_microsecond_on_their_own_cpus_timer() {
        let (mut w, t) = world(3);
        let ms = Timeouts { send: Timeout::Micros(1000), receive: Timeout::Micros(1000) }.pack();
        let rid = w.id(t[1]);
        let start = w.now();
        assert!(matches!(w.svc(t[0], Syscall::Ipc, ipc(0, ANY, ms, &[])), Outcome::Blocked(_)));
        assert!(matches!(w.svc(t[2], Syscall::Ipc, ipc(rid, 0, ms, &[0])), Outcome::Blocked(_)));
        let (c0, c2) = (w.k.tcb(t[0]).unwrap().cpu as usize, w.k.tcb(t[2]).unwrap().cpu as usize);
        assert_ne!(c0, c2);
        assert_eq!(w.timer(c0), start + 1000, "CPU {c0}'s timer is set for t0's deadline, no tick");
        assert_eq!(w.timer(c2), start + 1000);
        assert_eq!(w.timer(2), u64::MAX, "CPU 2 runs t1, whose slice is all it times");
        w.advance(999);
        assert!(matches!(w.outcome(t[0]), Outcome::Blocked(_)), "not yet");
        assert!(matches!(w.outcome(t[2]), Outcome::Blocked(_)), "not yet");
        w.advance(1);
        assert_eq!(w.outcome(t[0]).status(), Err(Error::ReceiveTimeout), "on time, on CPU {c0}");
        assert_eq!(w.outcome(t[2]).status(), Err(Error::SendTimeout), "on time, on CPU {c2}");
        assert_eq!(w.k.tcb(t[1]).unwrap().send_queue, 0, "the timed-out sender left the queue");
        w.check();
    }

    #[test]
    fn long_messages_travel_in_the_utcbs() {
        let (mut w, t) = world(2);
        let rid = w.id(t[1]);
        let _ = w.svc(t[1], Syscall::Ipc, ipc(0, ANY, NEVER, &[]));
        for i in 5..12 {
            w.write_utcb(t[0], abi::utcb::MR_OFFSET + 8 * i, 1000 + i as u64);
        }
        let words = [tag(9, 11, 0), 1, 2, 3, 4];
        assert_eq!(w.svc(t[0], Syscall::Ipc, ipc(rid, 0, NEVER, &words)).status(), Ok(()));
        let got = w.outcome(t[1]).regs();
        assert_eq!(got[3..8], words);
        for i in 5..12 {
            assert_eq!(w.read_utcb(t[1], abi::utcb::MR_OFFSET + 8 * i), 1000 + i as u64, "MR{i}");
        }
        assert_eq!(w.read_utcb(t[1], abi::utcb::MR_OFFSET + 8 * 12), 0, "not a word more");
    }

    #[test]
    fn bad_tags_and_partners_are_refused_before_anything_happens() {
        let (mut w, t) = world(2);
        let (me, rid) = (w.id(t[0]), w.id(t[1]));
        let _ = w.svc(t[1], Syscall::Ipc, ipc(0, ANY, NEVER, &[]));
        let cases = [
            (ipc(rid, 0, NEVER, &[40 | 30 << 6]), Error::MessageOverflow),
            (ipc(rid, 0, NEVER, &[1 << 40]), Error::InvalidArgument),
            (ipc(rid + (1 << 16), 0, NEVER, &[0]), Error::NonExistingPartner),
            (ipc(rid + 1, 0, NEVER, &[0]), Error::NonExistingPartner),
            (ipc(me, 0, NEVER, &[0]), Error::NonExistingPartner),
            (ipc(rid, rid + 1, NEVER, &[0]), Error::NonExistingPartner),
            (ipc(ThreadId::interrupt(40).unwrap().raw(), 0, NEVER, &[0]), Error::NonExistingPartner),
            (ipc(rid, 0, NEVER, &[1 << 6]), Error::InvalidArgument),
        ];
        for (args, want) in cases {
            assert_eq!(w.svc(t[0], Syscall::Ipc, args).status(), Err(want), "{args:x?}");
            assert_eq!(w.state(t[1]), ThreadState::RecvBlocked { from: None }, "the receiver still waits");
        }
        w.check();
    }

    /// The root task takes 2^order pages at `va`, a child thread `t` opens a window.
    fn map_setup(order: u64) -> (World, u32, u64, u64) {
        let (mut w, t) = world(1);
        let va = 0x1000_0000;
        let pa = memory(&mut w, 0, va, order);
        receive_window(&mut w, t[0], Fpage::new(0x5000_0000, 20, Rights::RWX).unwrap());
        (w, t[0], va, pa)
    }

    #[test]
    fn map_items_map_the_senders_pages_into_the_window_and_unmap_takes_them_back() {
        let (mut w, t, va, pa) = map_setup(2);
        let tid = w.id(t);
        let _ = w.svc(t, Syscall::Ipc, ipc(0, ANY, NEVER, &[]));
        let item =
            TypedItem::Map { send_base: 0, fpage: Fpage::new(va, 14, Rights::R).unwrap() }.encode().unwrap();
        assert_eq!(
            w.svc(ROOT, Syscall::Ipc, ipc(tid, 0, NEVER, &[tag(3, 0, 2), item[0], item[1]])).status(),
            Ok(())
        );
        assert_eq!(w.outcome(t).status(), Ok(()));
        let space = w.space_of(t);
        for i in 0..4 {
            let got = w.k.translate_user(space, 0x5000_0000 + i * P);
            assert_eq!(got.map(|(p, a)| (p, a.write)), Some((pa + i * P, false)), "page {i}, read-only");
            assert!(w.touch(t, 0x5000_0000 + i * P, false).is_some());
        }
        w.check();
        let fpage = Fpage::new(va, 14, Rights::RWX).unwrap();
        w.write_utcb(ROOT, abi::utcb::MR_OFFSET, fpage.raw());
        let control = abi::syscall::UnmapControl::new(1, false).unwrap().raw();
        assert_eq!(w.svc(ROOT, Syscall::Unmap, [control, 0, 0, 0, 0, 0, 0, 0]).status(), Ok(()));
        assert!(w.mappings(space).keys().all(|&v| v < 0x5000_0000), "the derived pages are gone");
        let root = w.space_of(ROOT);
        assert!(w.k.translate_user(root, va).is_some(), "the root keeps its own without flush-own");
        assert_eq!(w.read_utcb(ROOT, abi::utcb::MR_OFFSET), fpage.with_rights(Rights::NONE).raw());
        w.check();
    }

    #[test]
    fn a_refused_item_maps_nothing_and_fails_both_sides() {
        let (mut w, t, va, _) = map_setup(0);
        let tid = w.id(t);
        receive_window(&mut w, t, Fpage::new(0x5000_0000, 12, Rights::RWX).unwrap());
        let space = w.space_of(t);
        let before = w.mappings(space);
        let too_big =
            TypedItem::Map { send_base: 0, fpage: Fpage::new(va, 14, Rights::R).unwrap() }.encode().unwrap();
        let bad = [0x5, Fpage::new(va, 12, Rights::R).unwrap().raw()];
        for (item, want) in [(too_big, Error::MapRejected), (bad, Error::InvalidArgument)] {
            let _ = w.svc(t, Syscall::Ipc, ipc(0, ANY, NEVER, &[]));
            let out = w.svc(ROOT, Syscall::Ipc, ipc(tid, 0, NEVER, &[tag(3, 0, 2), item[0], item[1]]));
            assert_eq!(out.status(), Err(want));
            assert_eq!(w.outcome(t).status(), Err(want), "the receiver learns it too");
            assert_eq!(w.mappings(space), before, "nothing mapped");
        }
        w.check();
    }

    #[test]
    fn a_map_the_receivers_quota_cannot_cover_maps_nothing() {
        let (mut w, _, va, _) = map_setup(4);
        let poor = w.k.create_space(NodeId::ZERO, 12 * P).unwrap();
        let t = w.thread(poor, 0x20_0000, 1, 100);
        let tid = w.id(t);
        receive_window(&mut w, t, Fpage::new(0x80_0000_0000, 39, Rights::RWX).unwrap());
        let _ = w.svc(t, Syscall::Ipc, ipc(0, ANY, NEVER, &[]));
        let before = w.mappings(poor);
        let item =
            TypedItem::Map { send_base: 0, fpage: Fpage::new(va, 16, Rights::R).unwrap() }.encode().unwrap();
        let out = w.svc(ROOT, Syscall::Ipc, ipc(tid, 0, NEVER, &[tag(3, 0, 2), item[0], item[1]]));
        assert_eq!(out.status(), Err(Error::OutOfMemory));
        assert_eq!(w.outcome(t).status(), Err(Error::OutOfMemory));
        assert_eq!(w.mappings(poor), before);
        w.check();
    }

    #[test]
    fn a_grant_moves_the_page_out_of_the_senders_space() {
        let (mut w, t, va, pa) = map_setup(0);
        let tid = w.id(t);
        let _ = w.svc(t, Syscall::Ipc, ipc(0, ANY, NEVER, &[]));
        let item = TypedItem::Grant { send_base: 0, fpage: Fpage::new(va, 12, Rights::RW).unwrap() }
            .encode()
            .unwrap();
        assert_eq!(
            w.svc(ROOT, Syscall::Ipc, ipc(tid, 0, NEVER, &[tag(3, 0, 2), item[0], item[1]])).status(),
            Ok(())
        );
        let (root, space) = (w.space_of(ROOT), w.space_of(t));
        assert_eq!(w.k.translate_user(root, va), None, "gone from the sender");
        assert_eq!(w.k.translate_user(space, 0x5000_0000).map(|(p, _)| p), Some(pa));
        w.check();
    }

    #[test]
    fn a_page_fault_is_a_message_to_the_pager_whose_reply_maps_the_page() {
        let (mut w, t, va, pa) = map_setup(0);
        let root = w.id(ROOT);
        w.k.tcb(t).unwrap().pager = root;
        let tid = w.id(t);
        assert!(matches!(w.svc(ROOT, Syscall::Ipc, ipc(0, ANY, NEVER, &[])), Outcome::Blocked(_)));
        let ip = w.k.tcb(t).unwrap().context.elr;
        let fault = w.fault(t, 0x7_0123, true, false);
        assert_eq!(
            fault,
            Outcome::Blocked(ThreadState::FaultBlocked {
                handler: ROOT,
                delivered: true,
                kind: crate::thread::FaultKind::Page
            })
        );
        let msg = w.outcome(ROOT).regs();
        let label = abi::fault::PAGE_FAULT_LABEL | 2;
        assert_eq!(
            msg[..6],
            [0, tid, NEVER, tag(label, 2, 0), 0x7_0123, ip],
            "the fault message from the thread"
        );
        w.check();
        let item = TypedItem::Map { send_base: 0x7_0000, fpage: Fpage::new(va, 12, Rights::RW).unwrap() }
            .encode()
            .unwrap();
        let reply = w.svc(ROOT, Syscall::Ipc, ipc(tid, ANY, NEVER, &[tag(0, 0, 2), item[0], item[1]]));
        assert_eq!(reply, Outcome::Blocked(ThreadState::RecvBlocked { from: None }));
        assert_eq!(w.state(t), ThreadState::Ready, "the thread retries its access");
        assert_eq!(w.touch(t, 0x7_0123, true), Some(pa + 0x123));
        w.check();
    }

    #[test]
    fn an_exception_goes_to_the_handler_whose_reply_sets_ip_and_sp() {
        let (mut w, t) = world(1);
        let t = t[0];
        let root = w.id(ROOT);
        w.k.tcb(t).unwrap().exception_handler = root;
        let _ = w.svc(ROOT, Syscall::Ipc, ipc(0, ANY, NEVER, &[]));
        let esr = 0x02 << 26 | 1 << 25;
        assert!(matches!(w.exception(t, esr), Outcome::Blocked(ThreadState::FaultBlocked { .. })));
        let msg = w.outcome(ROOT).regs();
        assert_eq!((msg[3], msg[4]), (tag(abi::fault::EXCEPTION_LABEL, 5, 0), esr));
        let tid = w.id(t);
        let _ = w.svc(ROOT, Syscall::Ipc, ipc(tid, ANY, NEVER, &[tag(0, 2, 0), 0x40_2000, 0x31_0000]));
        let c = w.k.tcb(t).unwrap().context;
        assert_eq!((c.elr, c.sp), (0x40_2000, 0x31_0000));
        assert_eq!(w.state(t), ThreadState::Ready);
        w.check();
    }

    #[test]
    fn a_fault_nobody_handles_halts_the_thread_and_in_the_root_task_stops_the_machine() {
        let (mut w, t) = world(1);
        assert_eq!(w.fault(t[0], 0x9000, false, false), Outcome::Blocked(ThreadState::Halted));
        assert!(w.output().contains("halted: data abort"), "a warning names it");
        w.check();
        assert_eq!(w.fault(ROOT, 0x9000, false, true), Outcome::Stopped(crate::halt::Halt::RootTaskDied));
        assert!(w.output().starts_with("fatal: the root task died"));
    }

    #[test]
    fn deleting_a_partner_gives_its_waiters_defined_results() {
        let (mut w, t) = world(4);
        let (r, s, c, f) = (t[0], t[1], t[2], t[3]);
        let rid = w.id(r);
        assert!(matches!(w.svc(s, Syscall::Ipc, ipc(rid, 0, NEVER, &[0])), Outcome::Blocked(_)));
        assert!(matches!(w.svc(c, Syscall::Ipc, ipc(rid, rid, NEVER, &[0])), Outcome::Blocked(_)));
        w.k.tcb(f).unwrap().pager = rid;
        assert!(matches!(w.fault(f, 0x9000, false, false), Outcome::Blocked(_)));
        w.on_cpu(0);
        w.k.delete_thread(r);
        w.tick(1);
        assert_eq!(w.outcome(s).status(), Err(Error::Cancelled));
        assert_eq!(w.outcome(c).status(), Err(Error::Cancelled));
        assert_eq!(w.state(f), ThreadState::Halted, "its pager is gone");
        assert!(w.output().contains("its fault handler"));
        w.check();
    }

    #[test]
    fn notifications_wait_for_an_open_receive_in_order_and_a_full_queue_refuses() {
        let (mut w, t) = world(2);
        let (r, other) = (t[0], t[1]);
        let rid = w.id(r);
        for word in 0..abi::syscall::NOTIFY_QUEUE as u64 {
            assert_eq!(w.svc(ROOT, Syscall::Notify, [rid, word, 0, 0, 0, 0, 0, 0]).status(), Ok(()));
        }
        assert_eq!(w.svc(ROOT, Syscall::Notify, [rid, 99, 0, 0, 0, 0, 0, 0]).status(), Err(Error::QueueFull));
        let oid = w.id(other);
        let closed = w.svc(r, Syscall::Ipc, ipc(0, oid, NEVER, &[]));
        assert!(matches!(closed, Outcome::Blocked(_)), "a closed receive does not take notifications");
        let _ = w.svc(other, Syscall::Ipc, ipc(rid, 0, NEVER, &[tag(1, 0, 0)]));
        let root = w.id(ROOT);
        for word in 0..abi::syscall::NOTIFY_QUEUE as u64 {
            let got = w.svc(r, Syscall::Ipc, ipc(0, ANY, NEVER, &[])).regs();
            assert_eq!(
                (got[0], got[1], got[3], got[4]),
                (0, root, tag(abi::fault::NOTIFY_LABEL, 1, 0), word)
            );
        }
        assert!(matches!(w.svc(r, Syscall::Ipc, ipc(0, ANY, NEVER, &[])), Outcome::Blocked(_)));
        assert_eq!(
            w.svc(ROOT, Syscall::Notify, [0, 1, 0, 0, 0, 0, 0, 0]).status(),
            Err(Error::InvalidThread)
        );
        w.check();
    }

    #[test]
    fn a_notification_wakes_a_receiver_on_another_cpu_with_one_sgi() {
        let (mut w, t) = world(2);
        let r = t[1];
        let rid = w.id(r);
        let cpu = w.k.tcb(r).unwrap().cpu as usize;
        let _ = w.svc(r, Syscall::Ipc, ipc(0, ANY, NEVER, &[]));
        w.wakes();
        assert_eq!(w.svc(ROOT, Syscall::Notify, [rid, 7, 0, 0, 0, 0, 0, 0]).status(), Ok(()));
        assert_eq!(w.wakes(), [cpu]);
        assert_eq!(w.outcome(r).regs()[4], 7);
        w.check();
    }

    #[test]
    fn interrupts_reach_their_handler_and_a_send_to_the_line_acknowledges() {
        let (mut w, t) = world(2);
        let (h, other) = (t[0], t[1]);
        let hid = w.id(h);
        let line = ThreadId::interrupt(40).unwrap().raw();
        assert_eq!(w.svc(ROOT, Syscall::InterruptControl, [40, hid, 0, 0, 0, 0, 0, 0]).status(), Ok(()));
        let _ = w.svc(h, Syscall::Ipc, ipc(0, ANY, NEVER, &[]));
        let cpu = w.k.tcb(h).unwrap().cpu as usize;
        w.irq(cpu, 40);
        let got = w.outcome(h).regs();
        assert_eq!((got[1], got[3], got[4]), (line, tag(abi::fault::INTERRUPT_LABEL, 1, 0), 40));
        assert!(w.masked(40), "masked until acknowledged");
        assert_eq!(
            w.svc(other, Syscall::Ipc, ipc(line, 0, NEVER, &[0])).status(),
            Err(Error::NonExistingPartner)
        );
        assert_eq!(w.svc(h, Syscall::Ipc, ipc(line, 0, NEVER, &[0])).status(), Ok(()));
        assert!(!w.masked(40));
        // Raised while the handler does something else: delivered at its next open receive.
        w.irq(cpu, 40);
        assert_eq!(w.svc(h, Syscall::Ipc, ipc(line, ANY, NEVER, &[0])).regs()[4], 40);
        w.check();
    }

    /// What the model says a thread is doing.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Doing {
        /// Free to make a call; the result of its last IPC (status, partner, word).
        Idle(Option<(u64, u32, u64)>),
        /// Waiting to send `word` to `to`, then to receive from `then` (`Some(None)`:
        /// anyone) if it asked for a receive phase.
        Sending { to: u32, word: u64, then: Option<Option<u32>> },
        /// Waiting to receive from `from` (`None`: anyone).
        Receiving { from: Option<u32> },
    }

    /// The rendezvous the kernel implements, as simply as it can be said.
    struct Model {
        doing: BTreeMap<u32, Doing>,
        queue: BTreeMap<u32, VecDeque<u32>>,
    }

    impl Model {
        fn send(&mut self, s: u32, to: u32, word: u64, then: Option<Option<u32>>, zero: bool) {
            match self.doing[&to] {
                Doing::Receiving { from } if from.is_none_or(|f| f == s) => {
                    self.doing.insert(to, Doing::Idle(Some((0, s, word))));
                    match then {
                        Some(from) => self.receive(s, from, zero),
                        None => {
                            self.doing.insert(s, Doing::Idle(Some((0, 0, 0))));
                        }
                    }
                }
                _ if zero => {
                    self.doing.insert(s, Doing::Idle(Some((Error::SendTimeout.code(), 0, 0))));
                }
                _ => {
                    self.doing.insert(s, Doing::Sending { to, word, then });
                    self.queue.entry(to).or_default().push_back(s);
                }
            }
        }

        fn receive(&mut self, r: u32, from: Option<u32>, zero: bool) {
            let q = self.queue.entry(r).or_default();
            if let Some(at) = q.iter().position(|&s| from.is_none_or(|f| f == s)) {
                let s = q.remove(at).unwrap();
                let Doing::Sending { word, then, .. } = self.doing[&s] else { unreachable!() };
                self.doing.insert(r, Doing::Idle(Some((0, s, word))));
                match then {
                    // The sender's own receive timeout: finite, since it waited.
                    Some(from) => self.receive(s, from, false),
                    None => {
                        self.doing.insert(s, Doing::Idle(Some((0, 0, 0))));
                    }
                }
            } else if zero {
                self.doing.insert(r, Doing::Idle(Some((Error::ReceiveTimeout.code(), 0, 0))));
            } else {
                self.doing.insert(r, Doing::Receiving { from });
            }
        }

        fn expire(&mut self) {
            for (&t, d) in self.doing.iter_mut() {
                match *d {
                    Doing::Sending { .. } => *d = Doing::Idle(Some((Error::SendTimeout.code(), 0, 0))),
                    Doing::Receiving { .. } => *d = Doing::Idle(Some((Error::ReceiveTimeout.code(), 0, 0))),
                    Doing::Idle(_) => {}
                }
                let _ = t;
            }
            self.queue.clear();
        }
    }

    #[test]
    fn random_ipc_between_threads_matches_a_rendezvous_model() {
        let (mut w, threads) = world(6);
        let mut model = Model {
            doing: threads.iter().map(|&t| (t, Doing::Idle(None))).collect(),
            queue: BTreeMap::new(),
        };
        let mut rng = Rng::new(0x1BC);
        let finite = Timeouts { send: Timeout::Micros(1000), receive: Timeout::Micros(1000) }.pack();
        for step in 0..4000 {
            let idle: Vec<u32> =
                threads.iter().copied().filter(|t| matches!(model.doing[t], Doing::Idle(_))).collect();
            if idle.is_empty() || rng.below(20) == 0 {
                // Everybody waits (or now and then anyway): time passes, every wait ends.
                w.advance(2000);
                w.tick(0);
                model.expire();
            } else {
                let t = rng.pick(&idle);
                let peer = rng.pick(&threads);
                let zero = rng.below(4) == 0;
                let timeouts = if zero { ZERO } else { finite };
                let word = rng.bits();
                let pid = w.id(peer);
                let (args, what) = match rng.below(4) {
                    0 => (ipc(pid, 0, timeouts, &[tag(1, 1, 0), word]), "send"),
                    1 => (ipc(pid, pid, timeouts, &[tag(1, 1, 0), word]), "call"),
                    2 => (ipc(pid, ANY, timeouts, &[tag(1, 1, 0), word]), "reply-wait"),
                    _ if rng.below(2) == 0 => (ipc(0, ANY, timeouts, &[]), "open receive"),
                    _ => (ipc(0, pid, timeouts, &[]), "closed receive"),
                };
                let _ = w.svc(t, Syscall::Ipc, args);
                // Sending to oneself is refused; a closed receive from oneself waits.
                if peer == t && !what.ends_with("receive") {
                    model.doing.insert(t, Doing::Idle(Some((Error::NonExistingPartner.code(), 0, 0))));
                } else {
                    match what {
                        "send" => model.send(t, peer, word, None, zero),
                        "call" => model.send(t, peer, word, Some(Some(peer)), zero),
                        "reply-wait" => model.send(t, peer, word, Some(None), zero),
                        "open receive" => model.receive(t, None, zero),
                        _ => model.receive(t, Some(peer), zero),
                    }
                }
                let _ = step;
            }
            for &t in &threads {
                let state = w.state(t);
                match model.doing[&t] {
                    Doing::Idle(result) => {
                        assert!(
                            matches!(state, ThreadState::Ready | ThreadState::Running),
                            "step {step}: {t} is {state:?}"
                        );
                        if let Some((status, partner, word)) = result {
                            let regs = w.regs(t);
                            let partner = if partner == 0 { 0 } else { w.id(partner) };
                            assert_eq!(regs[0], status, "step {step}: thread {t}'s status");
                            assert_eq!(regs[1], partner, "step {step}: thread {t}'s partner");
                            if partner != 0 && word != 0 {
                                assert_eq!(regs[4], word, "step {step}: thread {t}'s message");
                            }
                        }
                    }
                    Doing::Sending { to, then, .. } => {
                        let call = then.is_some();
                        let ok = matches!(state, ThreadState::SendBlocked { to: d, .. } if d == to);
                        assert!(ok, "step {step}: {t} should send to {to} (then {call}), is {state:?}");
                    }
                    Doing::Receiving { from } => {
                        assert_eq!(state, ThreadState::RecvBlocked { from }, "step {step}: thread {t}");
                    }
                }
            }
            w.check();
        }
    }
}
