// SPDX-License-Identifier: MIT OR Apache-2.0
//! System calls: decode and check the arguments, then act.
//!
//! [`dispatch`] decodes the call's number, refuses a privileged call from an
//! unprivileged space, then decodes its registers into the call's type from
//! `abi::call` (`ThreadControl`, `Schedule`, ...): a malformed register is the error
//! the ABI names, before anything else happens. Each handler then receives that
//! validated value, checks what needs the kernel's state (does the thread exist, is
//! the CPU online, may the caller act on it) and only then acts (seL4's
//! decode-then-invoke), writing its status to x0 and its results to x1.. of the
//! caller's saved registers. Nothing a user passes can make the kernel panic: every
//! bad value is an `abi::Error`. The ABI (numbers, registers, errors) is documented
//! item by item in the `abi` crate, and `abi::call` holds its encoding.
//!
//! Every syscall of the ABI is handled here: `Ipc` (in `ipc`), `ThreadControl` (create
//! and delete), `SpaceControl`, `Schedule`, `ExchangeRegisters`, `Unmap`,
//! `ThreadSwitch` (a yield: donation to `dest` is not implemented, as the ABI says),
//! `SystemClock`, `KernelInterface`, `DebugWrite`, `Introspect`, `MemoryControl`,
//! `InterruptControl`, `SystemControl`, `Notify`.

use super::machine::{ArmError, AttachError};
use super::restart::{self, Cut, point};
use super::{Kernel, Machine, ipc};
use crate::mm::addr::PhysAddr;
use crate::thread::Progress;
use crate::thread::ThreadState;
use abi::Error;
use abi::call::{
    DebugWrite, ExchangeRegisters, InterruptControl, Introspect, Ipc, Notify, Schedule, SpaceControl,
    SystemCall, SystemControl, ThreadControl, ThreadSwitch, Unmap,
};
use abi::memory_control::MemoryControlRequest;
use abi::syscall::Syscall;
use abi::thread::ThreadId;
use platform::NodeId;

/// Who makes a system call: the thread, its space, and whether that is privileged.
#[derive(Clone, Copy)]
struct Caller {
    thread: u32,
    space: u16,
    privileged: bool,
}

/// Handles the `svc` of thread `cur` (immediate `imm`).
pub fn dispatch<M: Machine>(k: &mut Kernel<M>, cur: u32, imm: u16) {
    let Some(t) = k.tcb(cur) else { return };
    let number = t.context.x[8];
    let x: [u64; 8] = *t.context.x.first_chunk().expect("31 registers");
    let regs: [u64; 9] = *t.context.x.first_chunk().expect("31 registers");
    let space = t.space;
    let has_record = t.restart.is_some();
    // A call stopped at a preemption point goes on where it stopped (`restart`).
    let resumed = match if has_record { restart::resume(k, cur, &regs) } else { None } {
        // A space deletion the thread owes goes on first, whatever the call: the
        // call it began ends with it; another call is made after it.
        Some((Progress::DeleteSpace { space: dying, from, tables, owed }, same)) => {
            let owed = owed || !same;
            if let Err(Cut::Preempted(progress)) = restart::delete_space(k, dying, (from, tables), owed) {
                return restart::stop(k, cur, regs, progress);
            }
            if !owed {
                return finish(k, cur, Ok(()), &[]);
            }
            None
        }
        Some((progress, _)) => Some(progress),
        None => None,
    };
    let call = match abi::syscall::decode(imm, number) {
        Ok(call) => call,
        Err(e) => return finish(k, cur, Err(e), &[]),
    };
    let privileged = k.space(space).is_some_and(|s| s.privileged);
    if call.is_privileged() && !privileged {
        return finish(k, cur, Err(Error::NoPrivilege), &[]);
    }
    let caller = Caller { thread: cur, space, privileged };
    match call {
        Syscall::Ipc => match Ipc::decode(&x) {
            Ok(ipc) => ipc::ipc(k, cur, ipc),
            Err(e) => finish(k, cur, Err(e), &[]),
        },
        Syscall::ThreadControl => match ThreadControl::decode(&x) {
            Ok(ThreadControl::Delete { dest }) if privileged => {
                let r = delete(k, cur, dest).map(|()| []);
                restartable(k, cur, regs, r)
            }
            r => {
                let r = r.and_then(|c| match privileged {
                    true => thread_control(k, cur, c),
                    false => group_move(k, cur, c),
                });
                finish(k, cur, r.map(|_| ()), &[])
            }
        },
        Syscall::Schedule => {
            let r = Schedule::decode(&x).and_then(|c| schedule(k, caller, c));
            reply(k, cur, r)
        }
        Syscall::ExchangeRegisters => {
            let r = ExchangeRegisters::decode(&x).and_then(|c| exchange_registers(k, caller, c));
            reply(k, cur, r)
        }
        Syscall::ThreadSwitch => match ThreadSwitch::decode(&x).and_then(|c| thread_switch(k, cur, c)) {
            Ok(()) => {
                finish(k, cur, Ok(()), &[]);
                // Yield: back of the queue at the same priority.
                if let Some(t) = k.tcb(cur) {
                    t.state = ThreadState::Ready;
                }
                k.make_ready(cur);
            }
            Err(e) => finish(k, cur, Err(e), &[]),
        },
        Syscall::SystemClock => {
            let m = k.machine;
            finish(k, cur, Ok(()), &[m.now(), m.counter_frequency()])
        }
        Syscall::KernelInterface => finish(
            k,
            cur,
            Ok(()),
            &[abi::kip::KIP_ADDRESS, u64::from(abi::ABI_VERSION), abi::kip::KIP_SIZE as u64],
        ),
        Syscall::DebugWrite => {
            let r = DebugWrite::decode(&x).and_then(|c| debug_write(k, space, c));
            reply(k, cur, r)
        }
        Syscall::Introspect => {
            let r = Introspect::decode(&x).and_then(|c| introspect(k, caller, c));
            reply(k, cur, r)
        }
        Syscall::MemoryControl => match <MemoryControlRequest as SystemCall>::decode(&x) {
            Ok(c) => {
                let r = memory_control(k, space, c, resumed);
                restartable(k, cur, regs, r)
            }
            Err(e) => finish(k, cur, Err(e), &[]),
        },
        Syscall::SpaceControl => {
            let r = SpaceControl::decode(&x).and_then(|c| space_control(k, c));
            reply(k, cur, r)
        }
        Syscall::SystemControl => match SystemControl::decode(&x) {
            Ok(c) => system_control(k, c),
            Err(e) => finish(k, cur, Err(e), &[]),
        },
        Syscall::Unmap => match Unmap::decode(&x) {
            Ok(c) => {
                let r = unmap(k, cur, c, resumed).map(|()| []);
                restartable(k, cur, regs, r)
            }
            Err(e) => finish(k, cur, Err(e), &[]),
        },
        Syscall::InterruptControl => {
            let r = InterruptControl::decode(&x).and_then(|c| interrupt_control(k, c));
            finish(k, cur, r, &[])
        }
        Syscall::Notify => {
            let r = Notify::decode(&x).and_then(|c| notify(k, caller, c));
            finish(k, cur, r, &[])
        }
    }
}

/// Notify: privileged, or to a thread of the caller's group.
fn notify<M: Machine>(k: &mut Kernel<M>, caller: Caller, n: Notify) -> Result<(), Error> {
    let dest = n.dest.raw();
    if caller.privileged || same_group(k, caller.space, dest) {
        ipc::notify(k, caller.thread, dest, n.word)
    } else if k.lookup(dest).is_none() {
        Err(Error::InvalidThread)
    } else {
        Err(Error::NoPrivilege)
    }
}

/// ThreadSwitch: NIL yields; another thread is checked (donating the rest of the
/// slice to it is not implemented: the caller yields as well, as the ABI says).
fn thread_switch<M: Machine>(k: &mut Kernel<M>, cur: u32, c: ThreadSwitch) -> Result<(), Error> {
    if !c.dest.is_nil() && k.lookup(c.dest.raw()).is_none() {
        return Err(Error::InvalidThread);
    }
    // The slice ends: whatever runs next here starts a fresh one.
    if let Some(cpu) = k.tcb(cur).map(|t| t.cpu as usize)
        && let Some(sched) = k.sched(cpu)
    {
        sched.slice_owner = 0;
    }
    Ok(())
}

/// Writes the status and, on success, the results of a call that returns `N` words.
fn reply<M: Machine, const N: usize>(k: &mut Kernel<M>, cur: u32, r: Result<[u64; N], Error>) {
    match r {
        Ok(results) => finish(k, cur, Ok(()), &results),
        Err(e) => finish(k, cur, Err(e), &[]),
    }
}

/// [`reply`] for a call with preemption points: a call that stopped at one writes no
/// result and is made again once the interrupt has been served (`restart`).
fn restartable<M: Machine, const N: usize>(
    k: &mut Kernel<M>,
    cur: u32,
    regs: [u64; 9],
    r: Result<[u64; N], Cut>,
) {
    match r {
        Ok(results) => finish(k, cur, Ok(()), &results),
        Err(Cut::Error(e)) => finish(k, cur, Err(e), &[]),
        Err(Cut::Preempted(progress)) => restart::stop(k, cur, regs, progress),
    }
}

/// Whether thread `id` is in a space of `space`'s group, which is a group (not 0).
fn same_group<M: Machine>(k: &mut Kernel<M>, space: u16, id: u64) -> bool {
    let mine = k.space(space).map_or(0, |s| s.group);
    let theirs =
        k.lookup(id).and_then(|t| k.tcb(t)).map(|t| t.space).and_then(|s| k.space(s)).map(|s| s.group);
    mine != 0 && theirs == Some(mine)
}

/// A new space for a thread that `cur` creates or moves on `cpu`: homed on that CPU's
/// node, in `cur`'s group.
fn new_space<M: Machine>(k: &mut Kernel<M>, cur: u32, cpu: u32) -> Result<u16, Error> {
    let home = k.machine.cpu(cpu as usize).map_or(NodeId::ZERO, |b| b.node);
    let group = k.tcb(cur).map(|t| t.space).and_then(|s| k.space(s)).map_or(0, |s| s.group);
    let space = k.create_space(home, QUOTA)?;
    if let Some(s) = k.space(space) {
        s.group = group;
    }
    Ok(space)
}

/// Writes status and results into the caller's saved registers.
fn finish<M: Machine>(k: &mut Kernel<M>, cur: u32, status: Result<(), Error>, results: &[u64]) {
    if let Some(t) = k.tcb(cur) {
        t.context.x[0] = abi::error::status(status);
        for (i, &v) in results.iter().enumerate().take(7) {
            t.context.x[1 + i] = v;
        }
    }
}

/// ThreadControl: delete `dest`, or create it in the space of `space` (a new space
/// when `space` is `dest`), or move it there when it exists.
fn thread_control<M: Machine>(k: &mut Kernel<M>, cur: u32, c: ThreadControl) -> Result<u32, Error> {
    let (dest, space_of, scheduler, pager, utcb, cpu_hint) = match c {
        // Deleting is `delete`, which `dispatch` calls (it has preemption points).
        ThreadControl::Delete { .. } => return Err(Error::InvalidArgument),
        ThreadControl::Make { dest, space, scheduler, pager, utcb, cpu } => {
            (dest, space, scheduler, pager, utcb, cpu)
        }
    };
    let number = dest.number();
    if number >= crate::thread::MAX_THREADS as u64 {
        return Err(Error::InvalidThread);
    }
    let number = number as u32;
    let existing = k.tcb(number).is_some();
    if existing && (k.lookup(dest.raw()) != Some(number) || number == cur) {
        return Err(Error::InvalidThread); // a stale id of a live thread, or the caller
    }
    let cpu = match cpu_hint {
        None => k.tcb(cur).map_or(0, |t| t.cpu),
        Some(c)
            if k.machine
                .cpu(c as usize)
                .is_some_and(|b| b.online.load(core::sync::atomic::Ordering::Acquire)) =>
        {
            c
        }
        Some(_) => return Err(Error::InvalidCpu),
    };
    let new = space_of == dest;
    if existing {
        let target = Target { space_of, new, scheduler, pager, utcb, cpu };
        return move_thread(k, cur, number, target);
    }
    if !pager.is_nil() && k.lookup(pager.raw()).is_none() {
        return Err(Error::InvalidThread);
    }
    if !scheduler.is_nil() && k.lookup(scheduler.raw()).is_none() {
        return Err(Error::InvalidScheduler);
    }
    let space = if new {
        new_space(k, cur, cpu)?
    } else {
        let s = k.lookup(space_of.raw()).ok_or(Error::InvalidSpace)?;
        k.tcb(s).ok_or(Error::InvalidSpace)?.space
    };
    let made = k.create_thread_numbered_checked(number, space, utcb, cpu);
    let t = match made {
        Ok(t) => t,
        Err(e) => {
            if new {
                k.destroy_space(space);
            }
            return Err(e);
        }
    };
    if let Some(tcb) = k.tcb(t) {
        tcb.pager = pager.raw();
        tcb.scheduler = scheduler.raw();
        tcb.version = dest.version();
        let id = tcb.id();
        // SAFETY: the new thread's UTCB frame, user memory.
        unsafe { M::MEMORY.write_u64(tcb.utcb_pa + abi::utcb::MY_GLOBAL_ID_OFFSET as u64, id) };
        write_utcb_words::<M>(tcb);
    }
    Ok(t)
}

/// ThreadControl with space NIL: delete `dest` (and its space with its last thread).
/// Not the caller itself: a thread that deletes itself has nobody to report the
/// result to.
///
/// A space left without threads is deleted a mapping at a time, with a preemption
/// point after each (`restart::delete_space`).
fn delete<M: Machine>(k: &mut Kernel<M>, cur: u32, dest: ThreadId) -> Result<(), Cut> {
    let t = k.lookup(dest.raw()).ok_or(Error::InvalidThread)?;
    if t == cur {
        return Err(Error::InvalidThread.into());
    }
    if t == abi::thread::ROOT_THREAD_NUMBER as u32 {
        // A thread of the root task deleted the root's own: it supervises everything
        // and nothing else can ever run (`halt.rs`).
        let by = k.tcb(cur).map_or(0, |c| c.id());
        k.fatal(
            crate::halt::Halt::RootTaskDied,
            format_args!("the root task died: thread {:#x} deleted by thread {by:#x}", dest.raw()),
        );
        return Ok(());
    }
    match k.delete_thread_keeping_space(t) {
        Some(space) => restart::delete_space(k, space, (0, false), false),
        None => Ok(()),
    }
}

/// Where a ThreadControl on an existing thread moves it, and what else it sets.
struct Target {
    /// A thread of the target space (unless `new`).
    space_of: ThreadId,
    /// A new space, homed on `cpu`'s node.
    new: bool,
    /// The new scheduler and pager (NIL: keep).
    scheduler: ThreadId,
    pager: ThreadId,
    /// The UTCB address in the target space (0: the one it has).
    utcb: u64,
    /// The CPU, online (checked).
    cpu: u32,
}

/// ThreadControl on an existing thread `t` (not the caller): moves it into the space
/// `to` names at UTCB address `to.utcb`, places it on `to.cpu`, and sets its pager
/// and scheduler where those are not NIL. Checks everything before changing anything.
fn move_thread<M: Machine>(k: &mut Kernel<M>, cur: u32, t: u32, to: Target) -> Result<u32, Error> {
    if !to.pager.is_nil() && k.lookup(to.pager.raw()).is_none() {
        return Err(Error::InvalidThread);
    }
    if !to.scheduler.is_nil() && k.lookup(to.scheduler.raw()).is_none() {
        return Err(Error::InvalidScheduler);
    }
    let (state, old_utcb) = k.tcb(t).map(|c| (c.state, c.utcb_va)).ok_or(Error::InvalidThread)?;
    if state == ThreadState::Running {
        return Err(Error::Busy);
    }
    let utcb = if to.utcb == 0 { old_utcb } else { to.utcb };
    let space = if to.new {
        new_space(k, cur, to.cpu)?
    } else {
        let s = k.lookup(to.space_of.raw()).ok_or(Error::InvalidSpace)?;
        k.tcb(s).ok_or(Error::InvalidSpace)?.space
    };
    if let Err(e) = k.move_thread(t, space, utcb, to.cpu) {
        if to.new {
            k.destroy_space(space);
        }
        return Err(e);
    }
    if let Some(c) = k.tcb(t) {
        if !to.pager.is_nil() {
            c.pager = to.pager.raw();
        }
        if !to.scheduler.is_nil() {
            c.scheduler = to.scheduler.raw();
        }
    }
    Ok(t)
}

/// Kernel memory a new space may use (bytes): tables, TCBs, UTCBs.
const QUOTA: u64 = 16 << 20;

/// Schedule: set priority, CPU and timeslice of `dest` (by its scheduler, or a
/// privileged thread); the old priority and CPU.
fn schedule<M: Machine>(k: &mut Kernel<M>, caller: Caller, c: Schedule) -> Result<[u64; 2], Error> {
    let dest = k.lookup(c.dest.raw()).ok_or(Error::InvalidThread)?;
    let me = k.tcb(caller.thread).map_or(0, |t| t.id());
    let scheduler = k.tcb(dest).map_or(0, |t| t.scheduler);
    if !caller.privileged && (scheduler == 0 || scheduler != me) {
        return Err(Error::NoPrivilege);
    }
    let m = k.machine;
    if let Some(cpu) = c.cpu
        && !m.cpu(cpu as usize).is_some_and(|b| b.online.load(core::sync::atomic::Ordering::Acquire))
    {
        return Err(Error::InvalidCpu);
    }
    let t = k.tcb(dest).ok_or(Error::InvalidThread)?;
    let old = [u64::from(t.base_priority), u64::from(t.move_to.unwrap_or(t.cpu))];
    if let Some(us) = c.timeslice_us {
        t.timeslice_us = crate::thread::timeslice_us(us);
        t.slice_ticks = 0;
    }
    if t.state == ThreadState::Running {
        // Running (here: the caller itself; or on another CPU): its CPU moves it at
        // its next kernel entry (`Kernel::trap`), at the end of this call here, or
        // after the SGI there. Its priority counts from its next scheduling decision.
        if let Some(p) = c.priority {
            super::inherit::set_base(t, p);
        }
        match c.cpu {
            Some(cpu) if cpu != t.cpu => {
                t.move_to = Some(cpu);
                if let Some(block) = m.cpu(t.cpu as usize).filter(|b| b.index != m.this_cpu()) {
                    m.wake(block);
                }
            }
            Some(_) => t.move_to = None,
            None => {}
        }
        return Ok(old);
    }
    let was_ready = t.state == ThreadState::Ready;
    if was_ready {
        k.unready(dest);
    }
    let t = k.tcb(dest).ok_or(Error::InvalidThread)?;
    if let Some(p) = c.priority {
        super::inherit::set_base(t, p);
    }
    if let Some(cpu) = c.cpu {
        k.set_cpu(dest, cpu);
    }
    if was_ready {
        k.make_ready(dest);
    }
    Ok(old)
}

/// ExchangeRegisters: read and set SP, IP, pager, exception handler; start or halt.
/// The old SP, IP, pager and state flags.
fn exchange_registers<M: Machine>(
    k: &mut Kernel<M>,
    caller: Caller,
    c: ExchangeRegisters,
) -> Result<[u64; 4], Error> {
    use abi::syscall::ExregsControl as C;
    let control = c.control;
    let cur = caller.thread;
    let dest = k.lookup(c.dest.raw()).ok_or(Error::InvalidThread)?;
    let same_space = k.tcb(dest).map(|t| t.space) == Some(caller.space);
    if !same_space && !caller.privileged {
        // Another space's threads are not the caller's to name (the ABI's error).
        return Err(Error::InvalidThread);
    }
    let names_no_thread = |k: &mut Kernel<M>, id: ThreadId| !id.is_nil() && k.lookup(id.raw()).is_none();
    if control.contains(C::SET_PAGER) && names_no_thread(k, c.pager) {
        return Err(Error::InvalidThread);
    }
    if control.contains(C::SET_EXCEPTION_HANDLER) && names_no_thread(k, c.exception_handler) {
        return Err(Error::InvalidThread);
    }
    let t = k.tcb(dest).ok_or(Error::InvalidThread)?;
    if t.state == ThreadState::Running && dest != cur {
        return Err(Error::Busy);
    }
    let state_flags = match t.state {
        ThreadState::Inactive => 1,
        ThreadState::Halted => 2,
        _ => 0,
    };
    let old = [t.context.sp, t.context.elr, t.pager, state_flags];
    // A call it stopped at a preemption point is not made again from elsewhere.
    let redirected = control.contains(C::SET_IP);
    if control.contains(C::SET_SP) {
        t.context.sp = c.sp;
    }
    if control.contains(C::SET_IP) {
        t.context.elr = c.ip;
    }
    if control.contains(C::SET_PAGER) {
        t.pager = c.pager.raw();
    }
    if control.contains(C::SET_EXCEPTION_HANDLER) {
        t.exception_handler = c.exception_handler.raw();
    }
    write_utcb_words::<M>(t);
    if redirected {
        restart::redirect(k, dest);
    }
    let Some(t) = k.tcb(dest) else { return Err(Error::InvalidThread) };
    let startable = matches!(t.state, ThreadState::Inactive | ThreadState::Halted);
    if control.contains(C::HALT) && dest != cur {
        if t.state == ThreadState::Ready {
            k.unready(dest);
        }
        // An IPC it waited in ends with Cancelled (its x0 when it is started again).
        ipc::cancel_halted(k, dest);
        if let Some(t) = k.tcb(dest) {
            t.state = ThreadState::Halted;
        }
    } else if control.contains(C::START) && startable {
        if let Some(t) = k.tcb(dest)
            && t.state == ThreadState::Inactive
        {
            let utcb = t.utcb_va;
            t.context = crate::exception::TrapFrame::user(t.context.elr, t.context.sp, utcb);
        }
        k.make_ready(dest);
    }
    Ok(old)
}

/// DebugWrite: copies up to 4096 bytes from the caller's memory to the console (the
/// range's bounds are `DebugWrite::decode`'s); the bytes written.
fn debug_write<M: Machine>(k: &mut Kernel<M>, space: u16, c: DebugWrite) -> Result<[u64; 1], Error> {
    let (va, len) = (c.va, c.len);
    let mut buf = [0u8; abi::syscall::DEBUG_WRITE_MAX as usize];
    let mut done = 0u64;
    while done < len {
        let at = va + done;
        let (pa, attrs) = k.translate_user(space, at).ok_or(Error::InvalidArgument)?;
        // Only RAM is read through the direct map: device registers mapped for a driver
        // are not memory the kernel may touch on a user's say-so.
        if attrs.mem != crate::mm::table::MemType::Normal
            || k.frames().node_of(pa).is_none() && !in_initrd(k, pa)
        {
            return Err(Error::InvalidArgument);
        }
        let chunk = (abi::PAGE_SIZE - at % abi::PAGE_SIZE).min(len - done);
        // SAFETY: `pa..pa + chunk` lies in one user page of the caller's space (just
        // translated, user-accessible), RAM outside the kernel image.
        unsafe { M::MEMORY.read_bytes(PhysAddr::new(pa), &mut buf[done as usize..(done + chunk) as usize]) };
        done += chunk;
    }
    let text = &buf[..len as usize];
    match core::str::from_utf8(text) {
        Ok(s) => k.machine.print(format_args!("{s}")),
        Err(_) => {
            for &b in text {
                let c = if b.is_ascii_graphic() || b == b' ' || b == b'\n' { b as char } else { '?' };
                k.machine.print(format_args!("{c}"));
            }
        }
    }
    Ok([len])
}

/// Introspect: kmem of a space, translation in a space, node of an address, where am I,
/// how often the fast paths ran.
fn introspect<M: Machine>(k: &mut Kernel<M>, caller: Caller, c: Introspect) -> Result<[u64; 6], Error> {
    let (cur, privileged) = (caller.thread, caller.privileged);
    use abi::introspect::{CurrentCpu, FastPaths, KmemReport, NodeMemory, Request, Translation};
    let space_of = |k: &mut Kernel<M>, id: abi::thread::ThreadId| -> Result<u16, Error> {
        let t = if id.is_nil() { cur } else { k.lookup(id.raw()).ok_or(Error::InvalidThread)? };
        k.tcb(t).map(|t| t.space).ok_or(Error::InvalidThread)
    };
    match c.request {
        Request::KmemReport { space } => {
            let s = space_of(k, space)?;
            k.sync_mdb_counts(s);
            let m = k.machine;
            let sp = k.space(s).ok_or(Error::InvalidSpace)?;
            m.print(format_args!("{}\n", sp.kmem_report()));
            let home = u64::from(sp.tables.on_home + sp.mdb.on_home + sp.tcbs.on_home);
            let all = u64::from(sp.tables.total + sp.mdb.total + sp.tcbs.total);
            Ok(KmemReport {
                home_node: u64::from(sp.home.raw()),
                frames_home: home,
                frames_remote: all - home,
                table_frames: u64::from(sp.tables.total),
                utcb_frames: u64::from(sp.tcbs.total / 2),
                threads: u64::from(sp.threads),
            }
            .to_regs())
        }
        Request::Translate { space, va } => {
            let s = space_of(k, space)?;
            // Where another space's pages are in physical memory is the business of
            // its pagers and the system, not of any thread that asks.
            if !privileged && Some(s) != k.tcb(cur).map(|t| t.space) {
                return Err(Error::NoPrivilege);
            }
            let frames = k.frames();
            let t = k.translate_user(s, va).map(|(pa, attrs)| {
                let mut rights = abi::fpage::Rights::R;
                if attrs.write {
                    rights = rights | abi::fpage::Rights::W;
                }
                if attrs.user_exec {
                    rights = rights | abi::fpage::Rights::X;
                }
                let node = frames.node_of(pa).map_or(u64::MAX, |n| u64::from(n.raw()));
                Translation { pa, node, rights, size_log2: 12 }
            });
            Ok(Translation::to_regs(t))
        }
        Request::NodeMemory { node } => {
            let node = u32::try_from(node).ok().and_then(NodeId::new).ok_or(Error::InvalidNode)?;
            if !k.board().nodes().any(|n| n == node) {
                return Err(Error::InvalidNode);
            }
            // Empty MDB slabs the cache keeps for the next allocation are free memory
            // too: give them back first, so "free" means free (what a supervisor
            // compares before and after a program).
            k.mdb.store().shrink_entries();
            let frames = k.frames();
            Ok(NodeMemory { free: frames.free_bytes(node), total: frames.total_bytes(node) }.to_regs())
        }
        Request::NodeOfPhysical { pa } => {
            let node = k.frames().node_of(pa).ok_or(Error::InvalidArgument)?;
            Ok([u64::from(node.raw()), 0, 0, 0, 0, 0])
        }
        Request::CurrentCpu => {
            let cpu = k.tcb(cur).map_or(0, |t| t.cpu);
            let block = k.machine.cpu(cpu as usize);
            let node = block.map_or(0, |b| u64::from(b.node.raw()));
            let mpidr = block.map_or(0, |b| b.mpidr);
            Ok(CurrentCpu { cpu: u64::from(cpu), node, mpidr }.to_regs())
        }
        Request::FastPaths => {
            let mut sum = FastPaths::default();
            let m = k.machine;
            for block in m.cpus() {
                let Some(f) = k.sched(block.index).map(|s| s.fast) else { continue };
                sum.ipc += f.ipc;
                sum.map_replies += f.map_replies;
                sum.faults += f.faults;
            }
            Ok(sum.to_regs())
        }
    }
}

/// MemoryControl: a naturally aligned block of frames on a node, mapped into the
/// caller's space (the root task's way to own memory, node by node).
/// The physical base and the node used (`u64::MAX` for device registers; for a free,
/// the frames freed and 0).
///
/// Taking and freeing a block have preemption points (`restart`): one after each
/// page (zeroed, or mapped, or checked, or freed), `resumed` being how far a call
/// stopped before got.
fn memory_control<M: Machine>(
    k: &mut Kernel<M>,
    space: u16,
    c: MemoryControlRequest,
    resumed: Option<Progress>,
) -> Result<[u64; 2], Cut> {
    let flags = c.flags;
    if flags.device {
        return Ok(device_map(k, space, c.node, c.order, c.dest, flags.rights)?);
    }
    if flags.free {
        return free_block(k, space, c.dest, c.block_size(), resumed).map(|freed| [freed, 0]);
    }
    let va = c.dest;
    let frames = 1u64 << c.order;
    let (pa, node, next, zeroed) = match resumed {
        Some(Progress::Take { pa, node, next, zeroed, .. }) => (pa, node, next, zeroed),
        Some(Progress::Undo { pa, left, error }) => return undo_take(k, space, va, pa, left, error),
        _ => {
            // `decode` checked the order, the alignment and the range; what it cannot
            // know: the machine's nodes.
            let node = u32::try_from(c.node).ok().and_then(NodeId::new).ok_or(Error::InvalidNode)?;
            if !k.board().nodes().any(|n| n == node) {
                return Err(Error::InvalidNode.into());
            }
            if va == 0 {
                return Err(Error::InvalidArgument.into());
            }
            // Allocate first: a block larger than the node fails here at once, so the
            // loop below only ever walks memory that exists.
            let pool = k.frames();
            let (pa, used) = if flags.nearest_if_exhausted {
                pool.alloc_near(node, frames as usize).map_err(|_| Error::OutOfMemory)?
            } else {
                (pool.alloc_on(node, frames as usize).map_err(|_| Error::OutOfMemory)?, node)
            };
            (pa, used.raw(), 0, false)
        }
    };
    let rights = super::mapdb::mdb_rights(flags.rights.union(abi::fpage::Rights::R));
    let (mut next, mut zeroed) = (next, zeroed);
    while next < frames {
        let (page, frame) = (va + next * abi::PAGE_SIZE, pa + next * abi::PAGE_SIZE);
        if !zeroed {
            // SAFETY: frame `next` of the block this call allocated, mapped nowhere yet;
            // zeroed before the user sees it (no data leaks between spaces).
            unsafe { k.machine.zero_frame(PhysAddr::new(frame)) };
            zeroed = true;
            point(k, Progress::Take { pa, frames, node, next, zeroed })?;
        }
        // The page's tables first, one at a time (each two frames zeroed), a
        // preemption point after each: a table made stays the space's, made or not
        // by a call that stops.
        let mut tables = k.prepare_user_step(space, page);
        while tables == Ok(false) {
            point(k, Progress::Take { pa, frames, node, next, zeroed })?;
            tables = k.prepare_user_step(space, page);
        }
        // Checked here, page by page (not all first), so that a call resumed after
        // others ran still maps only where nothing is.
        let mapped = match (tables, k.translate_user(space, page)) {
            (Err(e), _) => Err(e),
            (Ok(_), Some(_)) => Err(Error::InvalidArgument),
            (Ok(_), None) => k.map_root(space, page, frame, rights, super::Frame::Owned),
        };
        if let Err(e) = mapped {
            // The frames not mapped go back at once; the pages mapped before are owned
            // roots, unmapped one by one (their frames go back in `revoke`).
            restart::free_tail(k, pa, next, frames);
            return undo_take(k, space, va, pa, next, e);
        }
        (next, zeroed) = (next + 1, false);
        if next < frames {
            point(k, Progress::Take { pa, frames, node, next, zeroed })?;
        }
    }
    Ok([pa, u64::from(node)])
}

/// A block taken at `pa` for `[va, ..)` failed with `error`: unmaps its `left` lowest
/// pages (those it mapped, from the top; one still mapping its own frame), with a
/// preemption point after each, then returns `error`.
fn undo_take<M: Machine>(
    k: &mut Kernel<M>,
    space: u16,
    va: u64,
    pa: u64,
    mut left: u64,
    error: Error,
) -> Result<[u64; 2], Cut> {
    let sid = crate::mdb::SpaceId::new(u32::from(space));
    while left > 0 {
        left -= 1;
        let page = va + left * abi::PAGE_SIZE;
        let ours = k.mdb.lookup(sid, page).is_some_and(|e| k.mdb.entry(e).pa() == pa + left * abi::PAGE_SIZE);
        if ours {
            k.unmap_recursive(space, page, crate::mdb::Rights::ALL, true);
        }
        if left > 0 {
            point(k, Progress::Undo { pa, left, error })?;
        }
    }
    Err(error.into())
}

/// MemoryControl with the free flag: gives back the block `[va, va + size)` of
/// `space`. Decode, then act: every page must be an owned root of `space` (memory it
/// got from `MemoryControl`), or nothing happens (`InvalidArgument`). Then each page
/// is unmapped with everything derived from it, everywhere, and its frame goes back to
/// its node's pool (in `revoke`, when the MDB reports the root gone). Returns the
/// frames freed. A preemption point after each page checked and each page freed.
fn free_block<M: Machine>(
    k: &mut Kernel<M>,
    space: u16,
    va: u64,
    size: u64,
    resumed: Option<Progress>,
) -> Result<u64, Cut> {
    let sid = crate::mdb::SpaceId::new(u32::from(space));
    let owned = |k: &Kernel<M>, page: u64| k.mdb.lookup(sid, page).is_some_and(|e| k.mdb.entry(e).owned());
    let pages = size / abi::PAGE_SIZE;
    let (mut next, checked) = match resumed {
        Some(Progress::Free { next, checked }) => (next, checked),
        _ => (0, false),
    };
    if !checked {
        while next < pages {
            if !owned(k, va + next * abi::PAGE_SIZE) {
                return Err(Error::InvalidArgument.into());
            }
            next += 1;
            point(k, Progress::Free { next, checked: false })?;
        }
        next = 0;
    }
    while next < pages {
        let page = va + next * abi::PAGE_SIZE;
        // Still owned unless another thread of the space unmapped it since the check
        // (then it is gone already, and whatever is there now is not this call's).
        if owned(k, page) {
            k.unmap_recursive(space, page, crate::mdb::Rights::ALL, true);
        }
        next += 1;
        if next < pages {
            point(k, Progress::Free { next, checked: true })?;
        }
    }
    Ok(pages)
}

/// SpaceControl: report (and optionally set privileged on, or put in a group) a space.
fn space_control<M: Machine>(k: &mut Kernel<M>, c: SpaceControl) -> Result<[u64; 2], Error> {
    let t = k.lookup(c.space.raw()).ok_or(Error::InvalidSpace)?;
    let s = k.tcb(t).map(|t| t.space).ok_or(Error::InvalidSpace)?;
    let space = k.space(s).ok_or(Error::InvalidSpace)?;
    if c.privileged {
        space.privileged = true;
    }
    if let Some(group) = c.group {
        space.group = group;
    }
    Ok([u64::from(space.home.raw()), u64::from(space.group)])
}

/// ThreadControl by an unprivileged thread: only a move of a thread of the caller's
/// group into another (unprivileged) space of the group (see the ABI). Decode and
/// check everything, then move as a privileged caller would.
fn group_move<M: Machine>(k: &mut Kernel<M>, cur: u32, c: ThreadControl) -> Result<u32, Error> {
    let ThreadControl::Make { dest, space: space_of, scheduler, pager, .. } = c else {
        // Deleting: privileged.
        return Err(Error::NoPrivilege);
    };
    let group_of = |k: &mut Kernel<M>, id: ThreadId| -> Option<(u16, bool)> {
        let t = k.lookup(id.raw())?;
        let s = k.tcb(t)?.space;
        k.space(s).map(|s| (s.group, s.privileged))
    };
    let mine = k.tcb(cur).map(|t| t.space).and_then(|s| k.space(s)).map_or(0, |s| s.group);
    // Creating (a dest that does not exist), deleting (space NIL), a new space
    // (space == dest): privileged. So are threads and spaces outside the group.
    let in_group = |k: &mut Kernel<M>, id: ThreadId| group_of(k, id).is_some_and(|(g, _)| g == mine);
    let target_ok = group_of(k, space_of).is_some_and(|(g, privileged)| g == mine && !privileged);
    if mine == 0
        || space_of == dest
        || !in_group(k, dest)
        || !target_ok
        || (!pager.is_nil() && !in_group(k, pager))
        || (!scheduler.is_nil() && !in_group(k, scheduler))
    {
        return Err(Error::NoPrivilege);
    }
    thread_control(k, cur, c)
}

/// SystemControl: power off with a status (the root task ends the run this way).
fn system_control<M: Machine>(k: &mut Kernel<M>, c: SystemControl) {
    let SystemControl::PowerOff { status } = c;
    let m = k.machine;
    for i in 0..crate::space::MAX_SPACES as u16 {
        k.sync_mdb_counts(i);
        if let Some(s) = k.space(i) {
            m.print(format_args!("{}\n", s.kmem_report()));
        }
    }
    m.print(format_args!(
        "{}\n",
        report::line!("user-level", "result" => if status == 0 { "pass" } else { "fail" }, "status" => status)
    ));
    // The CPU stops the machine on its way out of the kernel (`Next::Stop`).
    k.stop = Some(crate::halt::Halt::of_user_status(status));
}

/// Unmap: for each flexpage in the caller's UTCB MR0..MR(n-1), remove its rights from
/// every mapping derived from the caller's pages (and from the caller's own, with
/// flush-own), recursively through the MDB. Accessed bits are not tracked yet: the
/// flexpages are written back with an empty rights field. A preemption point after
/// each page (`restart`); `resumed` is how far a call stopped before got.
fn unmap<M: Machine>(k: &mut Kernel<M>, cur: u32, c: Unmap, resumed: Option<Progress>) -> Result<(), Cut> {
    let control = c.control;
    let (space, utcb) = k.tcb(cur).map(|t| (t.space, t.utcb_pa)).ok_or(Error::InvalidThread)?;
    let n = usize::from(control.count());
    let mut fpages = [abi::fpage::Fpage::nil(); 64];
    for (i, slot) in fpages.iter_mut().enumerate().take(n) {
        // SAFETY: MR i of the caller's UTCB frame (user memory, i < 64).
        let raw = unsafe { M::MEMORY.read_u64(utcb + (abi::utcb::MR_OFFSET + 8 * i) as u64) };
        *slot = abi::fpage::Fpage::from_raw(raw).map_err(|_| Error::InvalidArgument)?;
    }
    // The flexpages before the one a stopped call worked on are done (and written
    // back); that one goes on from where it stopped, if it is still the same.
    let (first, mut resume_at) = match resumed {
        Some(Progress::Unmap { index, fpage, at })
            if fpages.get(usize::from(index)).is_some_and(|f| f.raw() == fpage) =>
        {
            (usize::from(index), Some(at))
        }
        _ => (0, None),
    };
    for (i, fpage) in fpages.iter().enumerate().take(n).skip(first) {
        if fpage.is_nil() {
            continue;
        }
        let mask = super::mapdb::mdb_rights(fpage.rights());
        let end = fpage.base() + fpage.size();
        let mut at = resume_at.take().unwrap_or(fpage.base());
        // No rights to remove: nothing to walk (each page would be left as it is).
        // Only where the caller has tables: unmapping a 2^47-byte flexpage of a sparse
        // space must not take 2^35 steps with the kernel lock held.
        // The walk to the next table passes a few missing ones between two points.
        while !mask.is_empty() {
            let (found, span_end) = match k.next_span_within(space, at, end, super::SCAN_TABLES) {
                Ok(Some(span)) => span,
                Ok(None) => break,
                Err(passed) => {
                    at = passed;
                    point(k, Progress::Unmap { index: i as u8, fpage: fpage.raw(), at })?;
                    continue;
                }
            };
            for va in (found..span_end).step_by(abi::PAGE_SIZE as usize) {
                k.unmap_recursive(space, va, mask, control.flush_own);
                let at = va + abi::PAGE_SIZE;
                point(k, Progress::Unmap { index: i as u8, fpage: fpage.raw(), at })?;
            }
            at = span_end;
        }
        let cleared = fpage.with_rights(abi::fpage::Rights::NONE);
        // SAFETY: as above.
        unsafe { M::MEMORY.write_u64(utcb + (abi::utcb::MR_OFFSET + 8 * i) as u64, cleared.raw()) };
    }
    Ok(())
}

/// MemoryControl with the device flag: maps device registers at `pa` into the
/// caller's space for a user-level driver. Refuses RAM, reserved memory and the
/// interrupt controller: those are not the caller's to drive. The console UART may be
/// mapped: the user-level console driver (`pagers/root/src/console.rs`) writes the
/// programs' output to it, beside the kernel's own lines (the kernel only ever
/// writes, polling, so the two share the device byte by byte).
fn device_map<M: Machine>(
    k: &mut Kernel<M>,
    space: u16,
    pa: u64,
    order: u64,
    va: u64,
    rights: abi::fpage::Rights,
) -> Result<[u64; 2], Error> {
    if order > 18 || !pa.is_multiple_of(abi::PAGE_SIZE) {
        return Err(Error::InvalidArgument);
    }
    let size = abi::PAGE_SIZE << order;
    let end = pa.checked_add(size).ok_or(Error::InvalidArgument)?;
    if !va.is_multiple_of(size) || va == 0 || va.checked_add(size).is_none_or(|e| e > abi::USER_ADDRESS_LIMIT)
    {
        return Err(Error::InvalidArgument);
    }
    let board = k.board();
    let overlaps = |base: u64, len: u64| base < end && pa < base.saturating_add(len);
    let mut kernel_owned = board.memory.iter().any(|m| overlaps(m.range.base, m.range.size))
        || board.reserved.iter().any(|r| overlaps(r.base, r.size));
    match board.gic {
        Some(platform::Gic::V3 { distributor, redistributors }) => {
            kernel_owned |= overlaps(distributor.base, distributor.size)
                || redistributors.iter().any(|r| overlaps(r.base, r.size));
        }
        Some(platform::Gic::V2 { distributor, cpu_interface }) => {
            kernel_owned |= overlaps(distributor.base, distributor.size)
                || overlaps(cpu_interface.base, cpu_interface.size);
        }
        None => {}
    }
    if kernel_owned {
        return Err(Error::InvalidArgument);
    }
    for off in (0..size).step_by(abi::PAGE_SIZE as usize) {
        if k.translate_user(space, va + off).is_some() {
            return Err(Error::InvalidArgument);
        }
    }
    let attrs = crate::mm::table::Attrs {
        mem: crate::mm::table::MemType::Device,
        write: rights.contains(abi::fpage::Rights::W),
        kernel_exec: false,
        user: true,
        user_exec: false,
    };
    for off in (0..size).step_by(abi::PAGE_SIZE as usize) {
        if let Err(e) = k.map_user(space, va + off, pa + off, attrs) {
            for done in (0..off).step_by(abi::PAGE_SIZE as usize) {
                k.unmap_user(space, va + done);
            }
            return Err(e);
        }
    }
    Ok([pa, u64::MAX])
}

/// InterruptControl: attach SPI `intid` (or the user timer) to a handler thread (it
/// then receives the interrupt as IPC from the interrupt's pseudo-thread, and
/// acknowledges by sending to it), or detach it (handler NIL); or arm the user timer.
fn interrupt_control<M: Machine>(k: &mut Kernel<M>, c: InterruptControl) -> Result<(), Error> {
    match c {
        InterruptControl::Arm { handler, deadline } => {
            // Arm the user timer of the caller's CPU for its handler (attached already).
            let t = k.lookup(handler.raw()).ok_or(Error::InvalidThread)?;
            k.machine.arm_user_timer(t, deadline).map_err(|e| match e {
                ArmError::NotHandler => Error::InvalidThread,
                ArmError::WrongCpu => Error::InvalidCpu,
            })
        }
        InterruptControl::Detach { intid } => {
            let handler = k.machine.interrupt_handler(intid).ok_or(Error::InvalidInterrupt)?;
            k.machine.detach_interrupt(intid, handler);
            Ok(())
        }
        InterruptControl::Attach { intid, handler, .. } => {
            let t = k.lookup(handler.raw()).ok_or(Error::InvalidThread)?;
            let cpu = k.tcb(t).map(|t| t.cpu).ok_or(Error::InvalidThread)?;
            let mpidr = k.machine.cpu(cpu as usize).map(|b| b.mpidr).ok_or(Error::InvalidCpu)?;
            k.machine.attach_interrupt(intid, t, mpidr).map_err(|e| match e {
                AttachError::NotAnSpi => Error::InvalidInterrupt,
                AttachError::Busy => Error::Busy,
            })
        }
    }
}

/// Copies a thread's pager and exception handler into its UTCB (for the thread's
/// convenience: the kernel's own record stays the TCB's).
fn write_utcb_words<M: Machine>(t: &crate::thread::Tcb) {
    // SAFETY: the thread's UTCB frame (user memory); the offsets are inside it.
    unsafe { M::MEMORY.write_u64(t.utcb_pa + abi::utcb::PAGER_OFFSET as u64, t.pager) };
    // SAFETY: as above.
    unsafe {
        M::MEMORY.write_u64(t.utcb_pa + abi::utcb::EXCEPTION_HANDLER_OFFSET as u64, t.exception_handler)
    };
}

/// Whether `pa` is in the initrd (RAM the kernel reserved, mapped into the root task).
fn in_initrd<M: Machine>(k: &Kernel<M>, pa: u64) -> bool {
    k.board().chosen.initrd.is_some_and(|r| r.contains(pa))
}

#[cfg(test)]
mod tests {
    use super::super::Machine;
    use super::super::fake::{Outcome, ROOT, World};
    use super::super::tests::{memory, tag};
    use crate::halt::Halt;
    use crate::thread::ThreadState;
    use abi::Error::{self, *};
    use abi::fpage::{Fpage, Rights};
    use abi::memory_control::MemoryControlFlags;
    use abi::syscall::{ExregsControl, KEEP, SpaceControlFlags, Syscall};
    use abi::thread::ThreadId;
    use platform::NodeId;
    use std::vec::Vec;

    const P: u64 = abi::PAGE_SIZE;

    /// Ids that name no live thread, as `pagers/badargs` makes them.
    struct Bad {
        version0: u64,
        unused: u64,
        beyond: u64,
        stale: u64,
    }

    fn bad(w: &mut World) -> Bad {
        let s = w.k.create_space(NodeId::ZERO, 16 << 20).unwrap();
        let gone = w.thread(s, 0x20_0000, 1, 10);
        let keep = w.thread(s, 0x21_0000, 1, 10);
        let stale = w.id(gone);
        w.k.delete_thread(gone);
        let _ = keep;
        Bad {
            version0: (ROOT as u64) << 16,
            unused: 900 << 16 | 1,
            beyond: (crate::thread::MAX_THREADS as u64) << 16 | 1,
            stale,
        }
    }

    /// Runs each case as `caller` and checks its status.
    fn table(w: &mut World, caller: u32, call: Syscall, cases: &[(&str, [u64; 8], Result<(), Error>)]) {
        for (name, args, want) in cases {
            assert_eq!(w.svc(caller, call, *args).status(), *want, "{}: {name}", call.name());
        }
        w.check();
    }

    #[test]
    fn unknown_numbers_and_immediates_are_refused() {
        let mut w = World::new();
        let _ = w.enter(ROOT);
        let c = &mut w.k.tcb(ROOT).unwrap().context;
        c.x[8] = 15;
        c.esr = crate::ipc_fast::SVC0_ESR;
        let me = w.m.cpu(0).unwrap();
        w.k.trap(me, crate::exception::Trap::from_slot(8), super::super::Events::default());
        assert_eq!(w.outcome(ROOT).status(), Err(UnknownSyscall));
        let c = &mut w.k.tcb(ROOT).unwrap().context;
        c.x[8] = 7;
        c.esr = crate::ipc_fast::SVC0_ESR | 1;
        w.k.trap(me, crate::exception::Trap::from_slot(8), super::super::Events::default());
        assert_eq!(w.outcome(ROOT).status(), Err(UnknownSyscall), "svc #1");
    }

    #[test]
    fn schedule_exchange_registers_thread_switch_and_notify_name_each_bad_argument() {
        let mut w = World::new();
        let b = bad(&mut w);
        let me = w.id(ROOT);
        let sched = |dest: u64, prio: u64, cpu: u64| [dest, prio, cpu, 0, 0, 0, 0, 0];
        table(
            &mut w,
            ROOT,
            Syscall::Schedule,
            &[
                ("keep everything", sched(me, KEEP, KEEP), Ok(())),
                ("dest NIL", sched(0, KEEP, KEEP), Err(InvalidThread)),
                ("dest ANY", sched(u64::MAX, KEEP, KEEP), Err(InvalidThread)),
                ("dest version 0", sched(b.version0, KEEP, KEEP), Err(InvalidThread)),
                ("dest unused", sched(b.unused, KEEP, KEEP), Err(InvalidThread)),
                ("dest past the table", sched(b.beyond, KEEP, KEEP), Err(InvalidThread)),
                ("dest stale", sched(b.stale, KEEP, KEEP), Err(InvalidThread)),
                ("priority 256", sched(me, 256, KEEP), Err(InvalidArgument)),
                ("priority u64::MAX - 1", sched(me, u64::MAX - 1, KEEP), Err(InvalidArgument)),
                ("CPU 4 of 4", sched(me, KEEP, 4), Err(InvalidCpu)),
                ("CPU 1 << 32", sched(me, KEEP, 1 << 32), Err(InvalidCpu)),
            ],
        );
        let exregs =
            |dest: u64, control: u64, pager: u64, handler: u64| [dest, control, 0, 0, pager, handler, 0, 0];
        let (pager, handler) = (ExregsControl::SET_PAGER.raw(), ExregsControl::SET_EXCEPTION_HANDLER.raw());
        table(
            &mut w,
            ROOT,
            Syscall::ExchangeRegisters,
            &[
                ("read myself", exregs(me, 0, 0, 0), Ok(())),
                ("control bit 6", exregs(me, 1 << 6, 0, 0), Err(InvalidArgument)),
                ("control u64::MAX", exregs(me, u64::MAX, 0, 0), Err(InvalidArgument)),
                ("dest NIL", exregs(0, 0, 0, 0), Err(InvalidThread)),
                ("dest stale", exregs(b.stale, 0, 0, 0), Err(InvalidThread)),
                ("pager names no thread", exregs(me, pager, b.unused, 0), Err(InvalidThread)),
                ("exception handler past the table", exregs(me, handler, 0, b.beyond), Err(InvalidThread)),
            ],
        );
        let one = |dest: u64| [dest, 7, 0, 0, 0, 0, 0, 0];
        table(
            &mut w,
            ROOT,
            Syscall::ThreadSwitch,
            &[
                ("NIL yields", one(0), Ok(())),
                ("dest unused", one(b.unused), Err(InvalidThread)),
                ("dest version 0", one(b.version0), Err(InvalidThread)),
            ],
        );
        let irq = ThreadId::interrupt(40).unwrap().raw();
        table(
            &mut w,
            ROOT,
            Syscall::Notify,
            &[
                ("dest NIL", one(0), Err(InvalidThread)),
                ("dest ANY", one(u64::MAX), Err(InvalidThread)),
                ("dest unused", one(b.unused), Err(InvalidThread)),
                ("dest stale", one(b.stale), Err(InvalidThread)),
                ("dest an interrupt", one(irq), Err(InvalidThread)),
            ],
        );
    }

    #[test]
    fn debug_write_copies_user_bytes_and_refuses_what_it_cannot_read() {
        let mut w = World::new();
        let va = 0x1000_0000;
        let pa = memory(&mut w, 0, va, 1);
        // SAFETY: the page is the root task's, host memory of this world.
        unsafe {
            super::super::fake::Fake::MEMORY
                .write_bytes(crate::mm::addr::PhysAddr::new(pa + P - 3), b"hi \xffok")
        };
        let write = |ptr: u64, len: u64| [ptr, len, 0, 0, 0, 0, 0, 0];
        w.output();
        assert_eq!(w.svc(ROOT, Syscall::DebugWrite, write(va + P - 3, 6)).regs()[..2], [0, 6]);
        assert_eq!(w.output(), "hi ?ok", "across a page boundary; a byte that is not UTF-8 is shown as ?");
        let limit = abi::USER_ADDRESS_LIMIT;
        table(
            &mut w,
            ROOT,
            Syscall::DebugWrite,
            &[
                ("length 0", write(va, 0), Ok(())),
                ("length 4097", write(va, 4097), Err(InvalidArgument)),
                ("length u64::MAX", write(va, u64::MAX), Err(InvalidArgument)),
                ("null pointer", write(0, 1), Err(InvalidArgument)),
                ("unmapped pointer", write(0x7000_0000, 8), Err(InvalidArgument)),
                ("pointer + length wraps", write(u64::MAX - 1, 4), Err(InvalidArgument)),
                ("range crosses the user limit", write(limit - 2, 4), Err(InvalidArgument)),
                ("range runs off the block", write(va + 2 * P - 2, 4), Err(InvalidArgument)),
            ],
        );
    }

    #[test]
    fn introspect_answers_and_names_each_bad_query() {
        let mut w = World::new();
        let b = bad(&mut w);
        let me = w.id(ROOT);
        let va = 0x1000_0000;
        let pa = memory(&mut w, 1, va, 0);
        let q = |a: u64, b: u64, c: u64, d: u64| [a, b, c, d, 0, 0, 0, 0];
        let t = w.svc(ROOT, Syscall::Introspect, q(1, 0, va, 0)).regs();
        assert_eq!((t[0], t[1], t[2]), (0, pa, 1), "translated, on node 1");
        assert_eq!(w.svc(ROOT, Syscall::Introspect, q(2, pa, 0, 0)).regs()[..2], [0, 1], "node of physical");
        let cpu = w.svc(ROOT, Syscall::Introspect, q(3, 0, 0, 0)).regs();
        assert_eq!(cpu[..3], [0, 0, 0], "CPU 0 on node 0");
        let kmem = w.svc(ROOT, Syscall::Introspect, q(0, me, 0, 0)).regs();
        assert_eq!(kmem[0], 0);
        assert!(w.output().contains("report: kmem space="));
        table(
            &mut w,
            ROOT,
            Syscall::Introspect,
            &[
                ("FastPaths", q(4, 0, 0, 0), Ok(())),
                ("FastPaths with x3 != 0", q(4, 0, 0, 1), Err(InvalidArgument)),
                ("NodeMemory of node 0", q(5, 0, 0, 0), Ok(())),
                ("NodeMemory of node 2 (none)", q(5, 2, 0, 0), Err(InvalidNode)),
                ("NodeMemory of node 64", q(5, 64, 0, 0), Err(InvalidNode)),
                ("unknown query 6", q(6, 0, 0, 0), Err(InvalidArgument)),
                ("query u64::MAX", q(u64::MAX, 0, 0, 0), Err(InvalidArgument)),
                ("NodeOfPhysical of PA 0", q(2, 0, 0, 0), Err(InvalidArgument)),
                ("KmemReport of an unused thread", q(0, b.unused, 0, 0), Err(InvalidThread)),
                ("Translate in a stale id's space", q(1, b.stale, va, 0), Err(InvalidThread)),
            ],
        );
        let t = w.svc(ROOT, Syscall::Introspect, q(1, 0, abi::USER_ADDRESS_LIMIT + va, 0)).regs();
        assert_eq!((t[0], t[4]), (0, 0), "an address outside the user half is not mapped");
    }

    #[test]
    fn memory_control_hands_out_owned_frames_and_free_gives_them_back() {
        let mut w = World::new();
        let free = w.free();
        let va = 0x4000_0000;
        let pa = memory(&mut w, 1, va, 2);
        assert_eq!(w.frames.node_of(pa), Some(NodeId::new(1).unwrap()));
        assert!(w.free()[1] <= free[1] - 4 * P);
        let root = w.space_of(ROOT);
        for i in 0..4 {
            let e = w.entry(root, va + i * P).expect("an MDB root");
            assert!(w.k.mdb.entry(e).owned());
        }
        // The frames are zeroed before the program sees them.
        assert_eq!(w.touch(ROOT, va, true), Some(pa));
        w.check();
        let rw = MemoryControlFlags {
            nearest_if_exhausted: false,
            rights: Rights::RW,
            device: false,
            free: false,
        };
        let free_flags = MemoryControlFlags::FREE.raw();
        let mc = |node: u64, order: u64, dest: u64, flags: u64| [node, order, dest, flags, 0, 0, 0, 0];
        table(
            &mut w,
            ROOT,
            Syscall::MemoryControl,
            &[
                ("node 2 (none)", mc(2, 0, 0x5000_0000, rw.raw()), Err(InvalidNode)),
                ("node 64", mc(64, 0, 0x5000_0000, rw.raw()), Err(InvalidNode)),
                ("order 36", mc(0, 36, 0x5000_0000, rw.raw()), Err(InvalidArgument)),
                (
                    "destination not aligned to the block",
                    mc(0, 1, 0x5000_1000, rw.raw()),
                    Err(InvalidArgument),
                ),
                ("destination 0", mc(0, 0, 0, rw.raw()), Err(InvalidArgument)),
                (
                    "destination past the user half",
                    mc(0, 0, abi::USER_ADDRESS_LIMIT, rw.raw()),
                    Err(InvalidArgument),
                ),
                ("reserved flag bits", mc(0, 0, 0x5000_0000, 1 << 9), Err(InvalidArgument)),
                ("destination already mapped", mc(0, 0, va, rw.raw()), Err(InvalidArgument)),
                ("larger than the node", mc(0, 20, 0x80_0000_0000, rw.raw()), Err(OutOfMemory)),
                (
                    "free of lent memory (the KIP)",
                    mc(0, 0, abi::kip::KIP_ADDRESS, free_flags),
                    Err(InvalidArgument),
                ),
                ("free of memory not all owned", mc(0, 3, va, free_flags), Err(InvalidArgument)),
            ],
        );
        assert_eq!(w.svc(ROOT, Syscall::MemoryControl, mc(0, 2, va, free_flags)).regs()[..2], [0, 4]);
        assert_eq!(w.k.translate_user(root, va), None);
        assert_eq!(w.free()[1], free[1], "the frames are back on node 1");
        w.check();
    }

    #[test]
    fn freed_memory_leaves_every_space_it_was_mapped_into() {
        let mut w = World::new();
        let va = 0x4000_0000;
        let _ = memory(&mut w, 0, va, 0);
        let s = w.k.create_space(NodeId::ZERO, 16 << 20).unwrap();
        let t = w.thread(s, 0x20_0000, 1, 100);
        let tid = w.id(t);
        w.write_utcb(t, abi::utcb::BR_OFFSET, Fpage::new(0x5000_0000, 20, Rights::RWX).unwrap().raw());
        let _ = w.svc(t, Syscall::Ipc, [0, u64::MAX, abi::timeout::Timeouts::NEVER.pack(), 0, 0, 0, 0, 0]);
        let item =
            abi::message::TypedItem::Map { send_base: 0, fpage: Fpage::new(va, 12, Rights::RW).unwrap() };
        let [i0, i1] = item.encode().unwrap();
        let send = [tid, 0, abi::timeout::Timeouts::NEVER.pack(), tag(1, 0, 2), i0, i1, 0, 0];
        assert_eq!(w.svc(ROOT, Syscall::Ipc, send).status(), Ok(()));
        assert!(w.touch(t, 0x5000_0000, true).is_some());
        let free = w.free();
        let flags = MemoryControlFlags::FREE.raw();
        assert_eq!(w.svc(ROOT, Syscall::MemoryControl, [0, 0, va, flags, 0, 0, 0, 0]).status(), Ok(()));
        assert_eq!(w.k.translate_user(s, 0x5000_0000), None, "the child's mapping went first");
        assert_eq!(w.free()[0], free[0] + P);
        w.check();
    }

    #[test]
    fn device_memory_is_mapped_for_drivers_but_ram_and_the_gic_are_not() {
        let mut w = World::new();
        let device =
            MemoryControlFlags { nearest_if_exhausted: false, rights: Rights::RW, device: true, free: false };
        let dev = |pa: u64, order: u64, va: u64| [pa, order, va, device.raw(), 0, 0, 0, 0];
        let uart = 0x0900_0000;
        let r = w.svc(ROOT, Syscall::MemoryControl, dev(uart, 0, 0x6000_0000)).regs();
        assert_eq!(r[..3], [0, uart, u64::MAX]);
        let root = w.space_of(ROOT);
        let (pa, attrs) = w.k.translate_user(root, 0x6000_0000).unwrap();
        assert_eq!((pa, attrs.mem), (uart, crate::mm::table::MemType::Device));
        let ram = w.ram[0].base;
        let gic = match w.board.gic {
            Some(platform::Gic::V3 { distributor, .. }) => distributor.base,
            _ => panic!("the fixture has a GICv3"),
        };
        table(
            &mut w,
            ROOT,
            Syscall::MemoryControl,
            &[
                ("RAM", dev(ram, 0, 0x6100_0000), Err(InvalidArgument)),
                ("the GIC distributor", dev(gic, 0, 0x6100_0000), Err(InvalidArgument)),
                ("unaligned", dev(uart + 8, 0, 0x6100_0000), Err(InvalidArgument)),
                ("order 19", dev(uart, 19, 0x6100_0000), Err(InvalidArgument)),
                ("already mapped", dev(uart, 0, 0x6000_0000), Err(InvalidArgument)),
            ],
        );
        // Device memory is never read by DebugWrite on a user's say-so.
        assert_eq!(
            w.svc(ROOT, Syscall::DebugWrite, [0x6000_0000, 4, 0, 0, 0, 0, 0, 0]).status(),
            Err(InvalidArgument)
        );
    }

    #[test]
    fn thread_control_creates_moves_and_deletes_and_names_each_bad_argument() {
        let mut w = World::new();
        let b = bad(&mut w);
        let me = w.id(ROOT);
        let (t1, t2) = (0x50 << 16 | 1, 0x51 << 16 | 1);
        let tc =
            |dest: u64, space: u64, pager: u64, utcb: u64, cpu: u64| [dest, space, 0, pager, utcb, cpu, 0, 0];
        // A new thread in a new space on CPU 2 (node 1).
        assert_eq!(w.svc(ROOT, Syscall::ThreadControl, tc(t1, t1, me, 0x20_0000, 2)).status(), Ok(()));
        let n1 = w.k.lookup(t1).unwrap();
        let s1 = w.space_of(n1);
        assert_eq!(w.k.space(s1).unwrap().home, NodeId::new(1).unwrap(), "homed on its CPU's node");
        assert_eq!(w.read_utcb(n1, abi::utcb::PAGER_OFFSET), me);
        // A second one in the same space, on the caller's CPU.
        assert_eq!(w.svc(ROOT, Syscall::ThreadControl, tc(t2, t1, 0, 0x21_0000, u64::MAX)).status(), Ok(()));
        let n2 = w.k.lookup(t2).unwrap();
        assert_eq!((w.space_of(n2), w.k.tcb(n2).unwrap().cpu), (s1, 0));
        w.check();
        table(
            &mut w,
            ROOT,
            Syscall::ThreadControl,
            &[
                (
                    "create with a bad pager",
                    tc(0x52 << 16 | 1, t1, b.unused, 0x22_0000, 0),
                    Err(InvalidThread),
                ),
                (
                    "create in a stale id's space",
                    tc(0x52 << 16 | 1, b.stale, 0, 0x22_0000, 0),
                    Err(InvalidSpace),
                ),
                ("create on CPU 4", tc(0x52 << 16 | 1, t1, 0, 0x22_0000, 4), Err(InvalidCpu)),
                ("create with the UTCB taken", tc(0x52 << 16 | 1, t1, 0, 0x20_0000, 0), Err(InvalidUtcb)),
                ("create version 0", tc(0x52 << 16, t1, 0, 0x22_0000, 0), Err(InvalidThread)),
                ("create past the table", tc(b.beyond, t1, 0, 0x22_0000, 0), Err(InvalidThread)),
                ("a stale id of a live thread", tc(t2 + 1, t1, 0, 0, 0), Err(InvalidThread)),
                ("change the caller itself", tc(me, t1, 0, 0, 0), Err(InvalidThread)),
                ("delete an unused thread", tc(b.unused, 0, 0, 0, 0), Err(InvalidThread)),
                ("delete the caller", tc(me, 0, 0, 0, 0), Err(InvalidThread)),
            ],
        );
        let bad_scheduler = [0x52 << 16 | 1, t1, b.unused, 0, 0x22_0000, 0, 0, 0];
        assert_eq!(w.svc(ROOT, Syscall::ThreadControl, bad_scheduler).status(), Err(InvalidScheduler));
        // Move t2 into the root's space on CPU 1, then delete both.
        assert_eq!(w.svc(ROOT, Syscall::ThreadControl, tc(t2, me, 0, 0x23_0000, 1)).status(), Ok(()));
        assert_eq!(w.space_of(n2), w.space_of(ROOT));
        assert_eq!(w.svc(ROOT, Syscall::ThreadControl, tc(t1, 0, 0, 0, 0)).status(), Ok(()));
        assert!(w.k.space(s1).is_none(), "its last thread gone, the space went too");
        assert_eq!(w.svc(ROOT, Syscall::ThreadControl, tc(t2, 0, 0, 0, 0)).status(), Ok(()));
        w.check();
    }

    #[test]
    fn deleting_the_root_task_stops_the_machine() {
        let mut w = World::new();
        let me = w.id(ROOT);
        let other = 0x50 << 16 | 1;
        let tc = [other, me, 0, 0, 0x60_0000, u64::MAX, 0, 0];
        assert_eq!(w.svc(ROOT, Syscall::ThreadControl, tc).status(), Ok(()));
        let n = w.k.lookup(other).unwrap();
        w.start(n, 0x40_0000, 0x30_0000);
        let delete_root = [me, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(w.svc(n, Syscall::ThreadControl, delete_root), Outcome::Stopped(Halt::RootTaskDied));
        assert!(w.output().starts_with("fatal: the root task died"));
    }

    /// The root task, an unprivileged space in group 7 with two threads (`a` runs),
    /// a second space of group 7, a space of group 8 and a privileged space of group 7.
    fn groups(w: &mut World) -> [u32; 5] {
        let mut make = |group: u16, privileged: bool| {
            let s = w.k.create_space(NodeId::ZERO, 16 << 20).unwrap();
            let space = w.k.space(s).unwrap();
            (space.group, space.privileged) = (group, privileged);
            s
        };
        let (mine, peer, other, strong) = (make(7, false), make(7, false), make(8, false), make(7, true));
        let a = w.thread(mine, 0x20_0000, 1, 100);
        let mover = w.thread(peer, 0x30_0000, 2, 10);
        let peer_thread = w.thread(peer, 0x21_0000, 2, 10);
        let stranger = w.thread(other, 0x20_0000, 2, 10);
        let privileged = w.thread(strong, 0x20_0000, 2, 10);
        let _ = peer_thread;
        [a, mover, stranger, privileged, peer_thread]
    }

    #[test]
    fn an_unprivileged_thread_acts_only_on_its_groups_threads_and_spaces() {
        let mut w = World::new();
        let [a, mover, stranger, privileged, peer] = groups(&mut w);
        let ids = [a, mover, stranger, privileged, peer].map(|t| w.id(t));
        let [me, mover_id, stranger_id, privileged_id, peer_id] = ids;
        let root = w.id(ROOT);
        let tc = |dest: u64, space: u64, pager: u64| [dest, space, 0, pager, 0, u64::MAX, 0, 0];
        table(
            &mut w,
            a,
            Syscall::Notify,
            &[
                ("a thread of my group", [peer_id, 1, 0, 0, 0, 0, 0, 0], Ok(())),
                ("a thread of another group", [stranger_id, 1, 0, 0, 0, 0, 0, 0], Err(NoPrivilege)),
                ("no such thread", [900 << 16 | 1, 1, 0, 0, 0, 0, 0, 0], Err(InvalidThread)),
            ],
        );
        table(
            &mut w,
            a,
            Syscall::ThreadControl,
            &[
                ("move my group's thread into my space", tc(mover_id, me, 0), Ok(())),
                ("and back", tc(mover_id, peer_id, 0), Ok(())),
                ("into another group's space", tc(mover_id, stranger_id, 0), Err(NoPrivilege)),
                ("another group's thread into my space", tc(stranger_id, me, 0), Err(NoPrivilege)),
                ("into a new space", tc(mover_id, mover_id, 0), Err(NoPrivilege)),
                ("delete", tc(mover_id, 0, 0), Err(NoPrivilege)),
                ("into a privileged space of my group", tc(mover_id, privileged_id, 0), Err(NoPrivilege)),
                ("with a pager outside the group", tc(mover_id, me, root), Err(NoPrivilege)),
                ("create", tc(0x60 << 16 | 1, me, 0), Err(NoPrivilege)),
            ],
        );
        let rw = MemoryControlFlags {
            nearest_if_exhausted: false,
            rights: Rights::RW,
            device: false,
            free: false,
        };
        let cases: Vec<(Syscall, [u64; 8], Error)> = std::vec![
            (Syscall::MemoryControl, [0, 0, 0x5000_0000, rw.raw(), 0, 0, 0, 0], NoPrivilege),
            (Syscall::InterruptControl, [27, me, 0, 0, 0, 0, 0, 0], NoPrivilege),
            (Syscall::SystemControl, [abi::syscall::SYSTEM_POWER_OFF, 99, 0, 0, 0, 0, 0, 0], NoPrivilege),
            (Syscall::Schedule, [stranger_id, KEEP, KEEP, 0, 0, 0, 0, 0], NoPrivilege),
            (Syscall::ExchangeRegisters, [stranger_id, 0, 0, 0, 0, 0, 0, 0], InvalidThread),
            (Syscall::SpaceControl, [me, 1, 0, 0, 0, 0, 0, 0], NoPrivilege),
            (Syscall::Introspect, [1, root, abi::kip::KIP_ADDRESS, 0, 0, 0, 0, 0], NoPrivilege),
        ];
        for (call, args, want) in cases {
            assert_eq!(w.svc(a, call, args).status(), Err(want), "unprivileged {}", call.name());
        }
        let mine = w.space_of(a);
        assert!(!w.k.space(mine).unwrap().privileged);
        w.check();
    }

    #[test]
    fn space_control_sets_privilege_and_groups_and_refuses_bad_words() {
        let mut w = World::new();
        let s = w.k.create_space(NodeId::new(1).unwrap(), 16 << 20).unwrap();
        let t = w.thread(s, 0x20_0000, 2, 10);
        let tid = w.id(t);
        let group = SpaceControlFlags { privileged: false, group: true }.raw();
        let r = w.svc(ROOT, Syscall::SpaceControl, [tid, group, 9, 0, 0, 0, 0, 0]).regs();
        assert_eq!(r[..3], [0, 1, 9], "home node 1, group 9");
        let sc = |space: u64, flags: u64, group: u64| [space, flags, group, 0, 0, 0, 0, 0];
        table(
            &mut w,
            ROOT,
            Syscall::SpaceControl,
            &[
                ("reserved bits", sc(tid, 4, 0), Err(InvalidArgument)),
                ("a group above 65535", sc(tid, group, 1 << 16), Err(InvalidArgument)),
                ("a group without the bit", sc(tid, 0, 3), Err(InvalidArgument)),
                ("no such thread", sc(900 << 16 | 1, 0, 0), Err(InvalidSpace)),
            ],
        );
        assert_eq!(w.svc(ROOT, Syscall::SpaceControl, sc(tid, 1, 0)).status(), Ok(()));
        assert!(w.k.space(s).unwrap().privileged);
    }

    #[test]
    fn exchange_registers_reads_sets_starts_and_halts() {
        let mut w = World::new();
        let me = w.id(ROOT);
        let tc = [0x50 << 16 | 1, me, 0, 0, 0x60_0000, 1, 0, 0];
        assert_eq!(w.svc(ROOT, Syscall::ThreadControl, tc).status(), Ok(()));
        let t = w.k.lookup(0x50 << 16 | 1).unwrap();
        let tid = w.id(t);
        let set =
            (ExregsControl::SET_SP | ExregsControl::SET_IP | ExregsControl::SET_PAGER | ExregsControl::START)
                .raw();
        let r = w.svc(ROOT, Syscall::ExchangeRegisters, [tid, set, 0x30_0000, 0x40_1000, me, 0, 0, 0]).regs();
        assert_eq!(r[..5], [0, 0, 0, 0, 1], "the old values, and `inactive`");
        assert_eq!(w.state(t), ThreadState::Ready);
        let c = w.k.tcb(t).unwrap().context;
        assert_eq!((c.sp, c.elr, c.x[0]), (0x30_0000, 0x40_1000, 0x60_0000), "started with its UTCB in x0");
        assert_eq!(w.read_utcb(t, abi::utcb::PAGER_OFFSET), me);
        // It waits in a receive; a halt cancels that, a start resumes it with Cancelled.
        let _ = w.svc(t, Syscall::Ipc, [0, u64::MAX, abi::timeout::Timeouts::NEVER.pack(), 0, 0, 0, 0, 0]);
        let halt = ExregsControl::HALT.raw();
        assert_eq!(w.svc(ROOT, Syscall::ExchangeRegisters, [tid, halt, 0, 0, 0, 0, 0, 0]).status(), Ok(()));
        assert_eq!(w.state(t), ThreadState::Halted);
        let r = w.svc(ROOT, Syscall::ExchangeRegisters, [tid, ExregsControl::START.raw(), 0, 0, 0, 0, 0, 0]);
        assert_eq!(r.regs()[4], 2, "`halted`");
        assert_eq!(w.outcome(t).status(), Err(Cancelled));
        w.check();
    }

    #[test]
    fn schedule_sets_priority_and_cpu_and_moves_a_running_thread_on_its_way_out() {
        let mut w = World::new();
        let me = w.id(ROOT);
        let r = w.svc(ROOT, Syscall::Schedule, [me, 150, 2, 20_000, 0, 0, 0, 0]).regs();
        assert_eq!(r[..3], [0, 200, 0], "old priority and CPU");
        let root = w.k.tcb(ROOT).unwrap();
        assert_eq!((root.priority, root.cpu, root.timeslice_us), (150, 2, 20_000));
        assert_eq!(w.run(2), ROOT, "the caller moved to CPU 2 on its way out");
        assert_eq!(w.read_utcb(ROOT, abi::utcb::CPU_OFFSET), 2);
        w.check();
    }

    #[test]
    fn interrupt_control_attaches_detaches_and_arms_the_user_timer() {
        let mut w = World::new();
        let me = w.id(ROOT);
        let ic = |intid: u64, handler: u64, control: u64, deadline: u64| {
            [intid, handler, control, deadline, 0, 0, 0, 0]
        };
        let arm = abi::syscall::INTERRUPT_CONTROL_ARM;
        let timer = u64::from(abi::syscall::USER_TIMER_INTID);
        table(
            &mut w,
            ROOT,
            Syscall::InterruptControl,
            &[
                ("attach SPI 40", ic(40, me, 0, 0), Ok(())),
                ("attach it again", ic(40, me, 0, 0), Ok(())),
                ("an INTID above 32 bits", ic(1 << 32, me, 0, 0), Err(InvalidInterrupt)),
                ("not an SPI", ic(20, me, 0, 0), Err(InvalidInterrupt)),
                ("reserved control bits", ic(40, me, 4, 0), Err(InvalidArgument)),
                ("arm with NIL", ic(timer, 0, arm, 5), Err(InvalidArgument)),
                ("arm an SPI", ic(40, me, arm, 5), Err(InvalidInterrupt)),
                ("arm before attaching", ic(timer, me, arm, 5), Err(InvalidThread)),
                ("attach the user timer", ic(timer, me, 0, 0), Ok(())),
                ("arm it", ic(timer, me, arm, 5), Ok(())),
                ("detach SPI 40", ic(40, 0, 0, 0), Ok(())),
                ("detach it again", ic(40, 0, 0, 0), Err(InvalidInterrupt)),
                ("attach to no thread", ic(41, 900 << 16 | 1, 0, 0), Err(InvalidThread)),
            ],
        );
        assert_eq!(w.user_timer(), Some((0, Some(5))));
    }

    #[test]
    fn system_control_powers_off_with_the_user_status_after_the_reports() {
        let mut w = World::new();
        let sc = |op: u64, status: u64| [op, status, 0, 0, 0, 0, 0, 0];
        assert_eq!(w.svc(ROOT, Syscall::SystemControl, sc(1, 0)).status(), Err(InvalidArgument));
        w.output();
        let out = w.svc(ROOT, Syscall::SystemControl, sc(abi::syscall::SYSTEM_POWER_OFF, 3));
        assert_eq!(out, Outcome::Stopped(Halt::of_user_status(3)));
        let text = w.output();
        assert!(text.starts_with("report: kmem space="), "{text}");
        assert!(text.ends_with("report: user-level result=fail status=3\n"), "{text}");
    }

    #[test]
    fn the_clock_and_the_kip_are_there_whatever_the_arguments() {
        let mut w = World::new();
        w.advance(41);
        let r = w.svc(ROOT, Syscall::SystemClock, [u64::MAX; 8]).regs();
        assert_eq!(r[..3], [0, 42, super::super::fake::FREQUENCY]);
        let r = w.svc(ROOT, Syscall::KernelInterface, [u64::MAX; 8]).regs();
        assert_eq!(
            r[..4],
            [0, abi::kip::KIP_ADDRESS, u64::from(abi::ABI_VERSION), abi::kip::KIP_SIZE as u64]
        );
    }
}
