// SPDX-License-Identifier: MIT OR Apache-2.0
//! System calls: decode and check the arguments, then act.
//!
//! Each call reads its arguments from the caller's saved registers, validates all of
//! them before changing anything (seL4's decode-then-invoke), and writes its status
//! to x0 and its results to x1.. of the saved registers. Nothing a user passes can
//! make the kernel panic: every bad value is an `abi::Error`. The ABI (numbers,
//! registers, errors) is documented item by item in the `abi` crate.
//!
//! Every syscall of the ABI is handled here: `Ipc` (in `ipc`), `ThreadControl` (create
//! and delete), `SpaceControl`, `Schedule`, `ExchangeRegisters`, `Unmap`,
//! `ThreadSwitch` (a yield: donation to `dest` is not implemented, as the ABI says),
//! `SystemClock`, `KernelInterface`, `DebugWrite`, `Introspect`, `MemoryControl`,
//! `InterruptControl`, `SystemControl`.

use super::machine::{ArmError, AttachError};
use super::{Kernel, Machine, ipc};
use crate::thread::ThreadState;
use abi::Error;
use abi::syscall::Syscall;
use platform::NodeId;

/// Handles the `svc` of thread `cur` (immediate `imm`).
pub fn dispatch<M: Machine>(k: &mut Kernel<M>, cur: u32, imm: u16) {
    let Some(t) = k.tcb(cur) else { return };
    let number = t.context.x[8];
    let args: [u64; 8] = core::array::from_fn(|i| t.context.x[i]);
    let space = t.space;
    let call = match abi::syscall::decode(imm, number) {
        Ok(call) => call,
        Err(e) => return finish(k, cur, Err(e), &[]),
    };
    let privileged = k.space(space).is_some_and(|s| s.privileged);
    if call.is_privileged() && !privileged {
        return finish(k, cur, Err(Error::NoPrivilege), &[]);
    }
    match call {
        Syscall::Ipc => ipc::ipc(k, cur),
        Syscall::ThreadControl => {
            let r = if privileged { thread_control(k, cur, &args) } else { group_move(k, cur, &args) };
            finish(k, cur, r.map(|_| ()), &[])
        }
        Syscall::Schedule => {
            let r = schedule(k, cur, privileged, &args);
            match r {
                Ok((prio, cpu)) => finish(k, cur, Ok(()), &[prio, cpu]),
                Err(e) => finish(k, cur, Err(e), &[]),
            }
        }
        Syscall::ExchangeRegisters => match exchange_registers(k, cur, &args) {
            Ok(old) => finish(k, cur, Ok(()), &old),
            Err(e) => finish(k, cur, Err(e), &[]),
        },
        Syscall::ThreadSwitch => {
            // NIL yields; another thread is checked (donating the rest of the slice to
            // it is not implemented: it yields as well).
            if args[0] != 0 && k.lookup(args[0]).is_none() {
                return finish(k, cur, Err(Error::InvalidThread), &[]);
            }
            if let Some(t) = k.tcb(cur) {
                t.remaining = 0;
            }
            finish(k, cur, Ok(()), &[]);
            // Yield: back of the queue at the same priority.
            if let Some(t) = k.tcb(cur) {
                t.state = ThreadState::Ready;
            }
            k.make_ready(cur);
        }
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
            let r = debug_write(k, space, args[0], args[1]);
            match r {
                Ok(n) => finish(k, cur, Ok(()), &[n]),
                Err(e) => finish(k, cur, Err(e), &[]),
            }
        }
        Syscall::Introspect => match introspect(k, cur, privileged, &args) {
            Ok(v) => finish(k, cur, Ok(()), &v),
            Err(e) => finish(k, cur, Err(e), &[]),
        },
        Syscall::MemoryControl => match memory_control(k, space, &args) {
            Ok((pa, node)) => finish(k, cur, Ok(()), &[pa, node]),
            Err(e) => finish(k, cur, Err(e), &[]),
        },
        Syscall::SpaceControl => match space_control(k, &args) {
            Ok((home, group)) => finish(k, cur, Ok(()), &[home, group]),
            Err(e) => finish(k, cur, Err(e), &[]),
        },
        Syscall::SystemControl => system_control(k, cur, &args),
        Syscall::Unmap => {
            let r = unmap(k, cur, args[0]);
            finish(k, cur, r, &[])
        }
        Syscall::InterruptControl => {
            let r = interrupt_control(k, &args);
            finish(k, cur, r, &[])
        }
        Syscall::Notify => {
            let r = if privileged || same_group(k, space, args[0]) {
                ipc::notify(k, cur, args[0], args[1])
            } else if k.lookup(args[0]).is_none() {
                Err(Error::InvalidThread)
            } else {
                Err(Error::NoPrivilege)
            };
            finish(k, cur, r, &[])
        }
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

/// ThreadControl: create `dest` in the space of `space_of` (or a new space when
/// `space_of == dest`), with pager, UTCB address and CPU.
fn thread_control<M: Machine>(k: &mut Kernel<M>, cur: u32, a: &[u64; 8]) -> Result<u32, Error> {
    let (dest, space_of, scheduler, pager, utcb, cpu_hint) = (a[0], a[1], a[2], a[3], a[4], a[5]);
    if space_of == 0 {
        // Delete `dest` (and its space with its last thread). Not the caller itself:
        // a thread that deletes itself has nobody to report the result to.
        let t = k.lookup(dest).ok_or(Error::InvalidThread)?;
        if t == cur {
            return Err(Error::InvalidThread);
        }
        if t == abi::thread::ROOT_THREAD_NUMBER as u32 {
            // A thread of the root task deleted the root's own: it supervises everything
            // and nothing else can ever run (`halt.rs`).
            let by = k.tcb(cur).map_or(0, |c| c.id());
            k.fatal(
                crate::halt::Halt::RootTaskDied,
                format_args!("the root task died: thread {dest:#x} deleted by thread {by:#x}"),
            );
            return Ok(t);
        }
        k.delete_thread(t);
        return Ok(t);
    }
    let number = abi::thread::ThreadId::from_raw(dest).number();
    if !abi::thread::ThreadId::from_raw(dest).is_valid()
        || number == 0
        || number >= crate::thread::MAX_THREADS as u64
    {
        return Err(Error::InvalidThread);
    }
    let existing = k.tcb(number as u32).is_some();
    if existing && (k.lookup(dest) != Some(number as u32) || number as u32 == cur) {
        return Err(Error::InvalidThread); // a stale id of a live thread, or the caller
    }
    let cpu = match cpu_hint {
        u64::MAX => k.tcb(cur).map_or(0, |t| t.cpu),
        c if k
            .machine
            .cpu(c as usize)
            .is_some_and(|b| b.online.load(core::sync::atomic::Ordering::Acquire)) =>
        {
            c as u32
        }
        _ => return Err(Error::InvalidCpu),
    };
    if existing {
        return move_thread(k, cur, number as u32, dest, space_of, scheduler, pager, utcb, cpu);
    }
    let pager_ok = pager == 0 || k.lookup(pager).is_some();
    if !pager_ok {
        return Err(Error::InvalidThread);
    }
    if scheduler != 0 && k.lookup(scheduler).is_none() {
        return Err(Error::InvalidScheduler);
    }
    let space = if space_of == dest {
        new_space(k, cur, cpu)?
    } else {
        let s = k.lookup(space_of).ok_or(Error::InvalidSpace)?;
        k.tcb(s).ok_or(Error::InvalidSpace)?.space
    };
    let made = k.create_thread_numbered_checked(number as u32, space, utcb, cpu);
    let t = match made {
        Ok(t) => t,
        Err(e) => {
            if space_of == dest {
                k.destroy_space(space);
            }
            return Err(e);
        }
    };
    if let Some(tcb) = k.tcb(t) {
        tcb.pager = pager;
        tcb.scheduler = scheduler;
        tcb.version = abi::thread::ThreadId::from_raw(dest).version();
        let id = tcb.id();
        // SAFETY: the new thread's UTCB frame, user memory.
        unsafe { M::MEMORY.write_u64(tcb.utcb_pa + abi::utcb::MY_GLOBAL_ID_OFFSET as u64, id) };
        write_utcb_words::<M>(tcb);
    }
    Ok(t)
}

/// ThreadControl on an existing thread `t` (`dest`, not the caller): moves it into
/// the space of `space_of` (== `dest`: a new space homed on `cpu`'s node) at UTCB
/// address `utcb` (0: the one it has), places it on `cpu`, and sets its pager and
/// scheduler where those are not 0. Checks everything before changing anything.
#[allow(clippy::too_many_arguments)]
fn move_thread<M: Machine>(
    k: &mut Kernel<M>,
    cur: u32,
    t: u32,
    dest: u64,
    space_of: u64,
    scheduler: u64,
    pager: u64,
    utcb: u64,
    cpu: u32,
) -> Result<u32, Error> {
    if pager != 0 && k.lookup(pager).is_none() {
        return Err(Error::InvalidThread);
    }
    if scheduler != 0 && k.lookup(scheduler).is_none() {
        return Err(Error::InvalidScheduler);
    }
    let (state, old_utcb) = k.tcb(t).map(|c| (c.state, c.utcb_va)).ok_or(Error::InvalidThread)?;
    if state == ThreadState::Running {
        return Err(Error::Busy);
    }
    let utcb = if utcb == 0 { old_utcb } else { utcb };
    let (space, fresh) = if space_of == dest {
        (new_space(k, cur, cpu)?, true)
    } else {
        let s = k.lookup(space_of).ok_or(Error::InvalidSpace)?;
        (k.tcb(s).ok_or(Error::InvalidSpace)?.space, false)
    };
    if let Err(e) = k.move_thread(t, space, utcb, cpu) {
        if fresh {
            k.destroy_space(space);
        }
        return Err(e);
    }
    if let Some(c) = k.tcb(t) {
        if pager != 0 {
            c.pager = pager;
        }
        if scheduler != 0 {
            c.scheduler = scheduler;
        }
    }
    Ok(t)
}

/// Kernel memory a new space may use (bytes): tables, TCBs, UTCBs.
const QUOTA: u64 = 16 << 20;

/// Schedule: set priority and CPU of `dest` (its scheduler, or a privileged thread).
fn schedule<M: Machine>(
    k: &mut Kernel<M>,
    cur: u32,
    privileged: bool,
    a: &[u64; 8],
) -> Result<(u64, u64), Error> {
    let dest = k.lookup(a[0]).ok_or(Error::InvalidThread)?;
    let caller = k.tcb(cur).map_or(0, |t| t.id());
    let scheduler = k.tcb(dest).map_or(0, |t| t.scheduler);
    if !privileged && (scheduler == 0 || scheduler != caller) {
        return Err(Error::NoPrivilege);
    }
    let (prio, cpu) = (a[1], a[2]);
    if prio != u64::MAX && prio > 255 {
        return Err(Error::InvalidArgument);
    }
    let m = k.machine;
    if cpu != u64::MAX
        && !m.cpu(cpu as usize).is_some_and(|b| b.online.load(core::sync::atomic::Ordering::Acquire))
    {
        return Err(Error::InvalidCpu);
    }
    let t = k.tcb(dest).ok_or(Error::InvalidThread)?;
    let old = (u64::from(t.priority), u64::from(t.move_to.unwrap_or(t.cpu)));
    if a[3] != 0 {
        t.timeslice = crate::thread::timeslice_ticks(a[3], M::TICK_HZ);
    }
    if t.state == ThreadState::Running {
        // Running (here: the caller itself; or on another CPU): its CPU moves it at
        // its next kernel entry (`user_trap`), at the end of this call here, or after
        // the SGI there. Its priority counts from its next scheduling decision.
        if prio != u64::MAX {
            t.priority = prio as u8;
        }
        if cpu != u64::MAX && cpu != u64::from(t.cpu) {
            t.move_to = Some(cpu as u32);
            if let Some(block) = m.cpu(t.cpu as usize).filter(|b| b.index != m.this_cpu()) {
                m.wake(block);
            }
        } else if cpu != u64::MAX {
            t.move_to = None;
        }
        return Ok(old);
    }
    let was_ready = t.state == ThreadState::Ready;
    if was_ready {
        k.unready(dest);
    }
    let t = k.tcb(dest).ok_or(Error::InvalidThread)?;
    if prio != u64::MAX {
        t.priority = prio as u8;
    }
    if cpu != u64::MAX {
        k.set_cpu(dest, cpu as u32);
    }
    if was_ready {
        k.make_ready(dest);
    }
    Ok(old)
}

/// ExchangeRegisters: read and set SP, IP, pager, exception handler; start or halt.
fn exchange_registers<M: Machine>(k: &mut Kernel<M>, cur: u32, a: &[u64; 8]) -> Result<[u64; 4], Error> {
    let control = abi::syscall::ExregsControl::from_raw(a[1])?;
    use abi::syscall::ExregsControl as C;
    let dest = k.lookup(a[0]).ok_or(Error::InvalidThread)?;
    let same_space = k.tcb(dest).map(|t| t.space) == k.tcb(cur).map(|t| t.space);
    let privileged = k.tcb(cur).map(|t| t.space).and_then(|s| k.space(s)).is_some_and(|s| s.privileged);
    if !same_space && !privileged {
        // Another space's threads are not the caller's to name (the ABI's error).
        return Err(Error::InvalidThread);
    }
    if control.contains(C::SET_PAGER) && a[4] != 0 && k.lookup(a[4]).is_none() {
        return Err(Error::InvalidThread);
    }
    if control.contains(C::SET_EXCEPTION_HANDLER) && a[5] != 0 && k.lookup(a[5]).is_none() {
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
    if control.contains(C::SET_SP) {
        t.context.sp = a[2];
    }
    if control.contains(C::SET_IP) {
        t.context.elr = a[3];
    }
    if control.contains(C::SET_PAGER) {
        t.pager = a[4];
    }
    if control.contains(C::SET_EXCEPTION_HANDLER) {
        t.exception_handler = a[5];
    }
    write_utcb_words::<M>(t);
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

/// DebugWrite: copies up to 4096 bytes from the caller's memory to the console.
fn debug_write<M: Machine>(k: &mut Kernel<M>, space: u16, va: u64, len: u64) -> Result<u64, Error> {
    if len > abi::syscall::DEBUG_WRITE_MAX
        || va.checked_add(len).is_none_or(|end| end > abi::USER_ADDRESS_LIMIT)
    {
        return Err(Error::InvalidArgument);
    }
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
        unsafe { M::MEMORY.read_bytes(pa, &mut buf[done as usize..(done + chunk) as usize]) };
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
    Ok(len)
}

/// Introspect: kmem of a space, translation in a space, node of an address, where am I,
/// how often the fast paths ran.
fn introspect<M: Machine>(
    k: &mut Kernel<M>,
    cur: u32,
    privileged: bool,
    a: &[u64; 8],
) -> Result<[u64; 6], Error> {
    use abi::introspect::{CurrentCpu, FastPaths, KmemReport, NodeMemory, Request, Translation};
    let space_of = |k: &mut Kernel<M>, id: abi::thread::ThreadId| -> Result<u16, Error> {
        let t = if id.is_nil() { cur } else { k.lookup(id.raw()).ok_or(Error::InvalidThread)? };
        k.tcb(t).map(|t| t.space).ok_or(Error::InvalidThread)
    };
    match Request::decode([a[0], a[1], a[2], a[3]])? {
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
            for block in k.machine.cpus() {
                let f = block.sched.lock().fast;
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
fn memory_control<M: Machine>(k: &mut Kernel<M>, space: u16, a: &[u64; 8]) -> Result<(u64, u64), Error> {
    let flags = abi::memory_control::MemoryControlFlags::from_raw(a[3])?;
    if flags.device {
        return device_map(k, space, a[0], a[1], a[2], flags.rights);
    }
    if flags.free {
        let request = abi::memory_control::MemoryControlRequest::decode([a[0], a[1], a[2], a[3]])?;
        return free_block(k, space, request.dest, request.block_size()).map(|freed| (freed, 0));
    }
    let node = u32::try_from(a[0]).ok().and_then(NodeId::new).ok_or(Error::InvalidNode)?;
    if !k.board().nodes().any(|n| n == node) {
        return Err(Error::InvalidNode);
    }
    let order = a[1];
    if order > abi::memory_control::MAX_ORDER {
        return Err(Error::InvalidArgument);
    }
    let frames = 1usize << order;
    let size = (frames as u64) * abi::PAGE_SIZE;
    let va = a[2];
    if !va.is_multiple_of(size) || va == 0 || va.checked_add(size).is_none_or(|e| e > abi::USER_ADDRESS_LIMIT)
    {
        return Err(Error::InvalidArgument);
    }
    // Allocate first: a block larger than the node fails here at once, so the loops
    // below only ever walk memory that exists.
    let pool = k.frames();
    let (pa, used) = if flags.nearest_if_exhausted {
        pool.alloc_near(node, frames).map_err(|_| Error::OutOfMemory)?
    } else {
        (pool.alloc_on(node, frames).map_err(|_| Error::OutOfMemory)?, node)
    };
    for off in (0..size).step_by(abi::PAGE_SIZE as usize) {
        if k.translate_user(space, va + off).is_some() {
            // SAFETY: the block was just allocated by this call and is mapped nowhere.
            let freed = unsafe { pool.free(pa, frames) };
            freed.expect("invariant: the block this call allocated");
            return Err(Error::InvalidArgument);
        }
    }
    let rights = super::mapdb::mdb_rights(flags.rights.union(abi::fpage::Rights::R));
    for i in 0..frames as u64 {
        let off = i * abi::PAGE_SIZE;
        // SAFETY: the block was just allocated for this call; zeroing it before the
        // user sees it (no data leaks between spaces).
        unsafe { M::MEMORY.zero_frame(pa + off) };
        if let Err(e) = k.map_root(space, va + off, pa + off, rights, super::Frame::Owned) {
            // The pages mapped so far are owned roots: unmapping them gives their
            // frames back (`revoke`); the rest were never mapped.
            for j in 0..i {
                k.unmap_recursive(space, va + j * abi::PAGE_SIZE, crate::mdb::Rights::ALL, true);
            }
            for j in i..frames as u64 {
                // SAFETY: frame j of the block is ours and was never mapped.
                let freed = unsafe { pool.free(pa + j * abi::PAGE_SIZE, 1) };
                freed.expect("invariant: a frame of the block this call allocated");
            }
            return Err(e);
        }
    }
    Ok((pa, u64::from(used.raw())))
}

/// MemoryControl with the free flag: gives back the block `[va, va + size)` of
/// `space`. Decode, then act: every page must be an owned root of `space` (memory it
/// got from `MemoryControl`), or nothing happens (`InvalidArgument`). Then each page
/// is unmapped with everything derived from it, everywhere, and its frame goes back to
/// its node's pool (in `revoke`, when the MDB reports the root gone). Returns the
/// frames freed.
fn free_block<M: Machine>(k: &mut Kernel<M>, space: u16, va: u64, size: u64) -> Result<u64, Error> {
    let sid = crate::mdb::SpaceId::new(u32::from(space));
    let owned = |k: &Kernel<M>, page: u64| k.mdb.lookup(sid, page).is_some_and(|e| k.mdb.entry(e).owned());
    let pages = (0..size / abi::PAGE_SIZE).map(|i| va + i * abi::PAGE_SIZE);
    if !pages.clone().all(|page| owned(k, page)) {
        return Err(Error::InvalidArgument);
    }
    for page in pages {
        k.unmap_recursive(space, page, crate::mdb::Rights::ALL, true);
    }
    Ok(size / abi::PAGE_SIZE)
}

/// SpaceControl: report (and optionally set privileged on, or put in a group) a space.
fn space_control<M: Machine>(k: &mut Kernel<M>, a: &[u64; 8]) -> Result<(u64, u64), Error> {
    let (flags, group) = abi::syscall::SpaceControlFlags::decode(a[1], a[2])?;
    let t = k.lookup(a[0]).ok_or(Error::InvalidSpace)?;
    let s = k.tcb(t).map(|t| t.space).ok_or(Error::InvalidSpace)?;
    let space = k.space(s).ok_or(Error::InvalidSpace)?;
    if flags.privileged {
        space.privileged = true;
    }
    if let Some(group) = group {
        space.group = group;
    }
    Ok((u64::from(space.home.raw()), u64::from(space.group)))
}

/// ThreadControl by an unprivileged thread: only a move of a thread of the caller's
/// group into another (unprivileged) space of the group (see the ABI). Decode and
/// check everything, then move as a privileged caller would.
fn group_move<M: Machine>(k: &mut Kernel<M>, cur: u32, a: &[u64; 8]) -> Result<u32, Error> {
    let (dest, space_of, scheduler, pager) = (a[0], a[1], a[2], a[3]);
    let group_of = |k: &mut Kernel<M>, id: u64| -> Option<(u16, bool)> {
        let t = k.lookup(id)?;
        let s = k.tcb(t)?.space;
        k.space(s).map(|s| (s.group, s.privileged))
    };
    let mine = k.tcb(cur).map(|t| t.space).and_then(|s| k.space(s)).map_or(0, |s| s.group);
    // Creating (a dest that does not exist), deleting (space NIL), a new space
    // (space == dest): privileged. So are threads and spaces outside the group.
    let in_group = |k: &mut Kernel<M>, id: u64| group_of(k, id).is_some_and(|(g, _)| g == mine);
    let target_ok = group_of(k, space_of).is_some_and(|(g, privileged)| g == mine && !privileged);
    if mine == 0
        || space_of == 0
        || space_of == dest
        || !in_group(k, dest)
        || !target_ok
        || (pager != 0 && !in_group(k, pager))
        || (scheduler != 0 && !in_group(k, scheduler))
    {
        return Err(Error::NoPrivilege);
    }
    thread_control(k, cur, a)
}

/// SystemControl: power off with a status (the root task ends the run this way).
fn system_control<M: Machine>(k: &mut Kernel<M>, cur: u32, a: &[u64; 8]) {
    if a[0] != abi::syscall::SYSTEM_POWER_OFF {
        return finish(k, cur, Err(Error::InvalidArgument), &[]);
    }
    let m = k.machine;
    for i in 0..crate::space::MAX_SPACES as u16 {
        k.sync_mdb_counts(i);
        if let Some(s) = k.space(i) {
            m.print(format_args!("{}\n", s.kmem_report()));
        }
    }
    let status = a[1];
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
/// flexpages are written back with an empty rights field.
fn unmap<M: Machine>(k: &mut Kernel<M>, cur: u32, control: u64) -> Result<(), Error> {
    let control = abi::syscall::UnmapControl::from_raw(control)?;
    let (space, utcb) = k.tcb(cur).map(|t| (t.space, t.utcb_pa)).ok_or(Error::InvalidThread)?;
    let n = usize::from(control.count());
    let mut fpages = [abi::fpage::Fpage::nil(); 64];
    for (i, slot) in fpages.iter_mut().enumerate().take(n) {
        // SAFETY: MR i of the caller's UTCB frame (user memory, i < 64).
        let raw = unsafe { M::MEMORY.read_u64(utcb + (abi::utcb::MR_OFFSET + 8 * i) as u64) };
        *slot = abi::fpage::Fpage::from_raw(raw).map_err(|_| Error::InvalidArgument)?;
    }
    for (i, fpage) in fpages.iter().enumerate().take(n) {
        if fpage.is_nil() {
            continue;
        }
        let mask = super::mapdb::mdb_rights(fpage.rights());
        let end = fpage.base() + fpage.size();
        // Only where the caller has tables: unmapping a 2^47-byte flexpage of a sparse
        // space must not take 2^35 steps with the kernel lock held.
        let mut at = fpage.base();
        while let Some((found, span_end)) = k.next_span(space, at, end) {
            for va in (found..span_end).step_by(abi::PAGE_SIZE as usize) {
                k.unmap_recursive(space, va, mask, control.flush_own);
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
) -> Result<(u64, u64), Error> {
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
    Ok((pa, u64::MAX))
}

/// InterruptControl: attach SPI `intid` (or the user timer) to a handler thread (it
/// then receives the interrupt as IPC from the interrupt's pseudo-thread, and
/// acknowledges by sending to it), or detach it (handler NIL); or arm the user timer.
fn interrupt_control<M: Machine>(k: &mut Kernel<M>, a: &[u64; 8]) -> Result<(), Error> {
    use abi::syscall::{INTERRUPT_CONTROL_ACK, INTERRUPT_CONTROL_ARM};
    let intid = u32::try_from(a[0]).map_err(|_| Error::InvalidInterrupt)?;
    if a[2] & !(INTERRUPT_CONTROL_ACK | INTERRUPT_CONTROL_ARM) != 0 {
        return Err(Error::InvalidArgument);
    }
    if a[2] & INTERRUPT_CONTROL_ARM != 0 {
        // Arm the user timer of the caller's CPU for its handler (attached already).
        if a[1] == 0 {
            return Err(Error::InvalidArgument);
        }
        if intid != M::USER_TIMER {
            return Err(Error::InvalidInterrupt);
        }
        let t = k.lookup(a[1]).ok_or(Error::InvalidThread)?;
        return k.machine.arm_user_timer(t, a[3]).map_err(|e| match e {
            ArmError::NotHandler => Error::InvalidThread,
            ArmError::WrongCpu => Error::InvalidCpu,
        });
    }
    if a[1] == 0 {
        let handler = k.machine.interrupt_handler(intid).ok_or(Error::InvalidInterrupt)?;
        k.machine.detach_interrupt(intid, handler);
        return Ok(());
    }
    let t = k.lookup(a[1]).ok_or(Error::InvalidThread)?;
    let cpu = k.tcb(t).map(|t| t.cpu).ok_or(Error::InvalidThread)?;
    let mpidr = k.machine.cpu(cpu as usize).map(|b| b.mpidr).ok_or(Error::InvalidCpu)?;
    k.machine.attach_interrupt(intid, t, mpidr).map_err(|e| match e {
        AttachError::NotAnSpi => Error::InvalidInterrupt,
        AttachError::Busy => Error::Busy,
    })
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
