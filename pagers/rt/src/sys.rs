// SPDX-License-Identifier: MIT OR Apache-2.0
//! System-call stubs: one `svc #0` each, registers as the `abi` crate documents them.
//!
//! These are the only place user code enters the kernel. Each stub puts the syscall
//! number in x8 and the arguments in x0..x7, and gets the status in x0 and results in
//! x1..x7. The arguments are encoded by the call's type in `abi::call` ([`call`]), the
//! same types whose `decode` the kernel uses, so the two sides cannot drift apart; the
//! wrappers below turn the status into `Result<_, abi::Error>`. [`raw`] stays for the
//! programs that pass registers no type would encode on purpose (`badargs`, `fuzz`).

use abi::Error;
use abi::call::{self, SystemCall};
use abi::memory_control::{MemoryControlFlags, MemoryControlRequest};
use abi::syscall::Syscall;
use abi::thread::ThreadId;
use core::arch::asm;

/// Makes syscall `call` with arguments `a`; returns x0..x7 after it.
pub fn raw(call: Syscall, a: [u64; 8]) -> [u64; 8] {
    let mut r = a;
    // SAFETY: `svc #0` enters the kernel, which reads x0..x8 and writes x0..x7 only
    // (the ABI preserves every other register); no memory of ours is touched except
    // what a call's documented pointer arguments name.
    unsafe {
        asm!(
            "svc #0",
            inout("x0") r[0], inout("x1") r[1], inout("x2") r[2], inout("x3") r[3],
            inout("x4") r[4], inout("x5") r[5], inout("x6") r[6], inout("x7") r[7],
            inout("x8") call.number() => _,
            options(nostack)
        );
    }
    r
}

/// Makes the system call `c` (its registers encoded by its `abi::call` type); returns
/// x0..x7 after it.
pub fn call<C: SystemCall>(c: &C) -> [u64; 8] {
    raw(C::SYSCALL, c.encode())
}

/// The status in x0 as a result.
pub fn status(x0: u64) -> Result<(), Error> {
    match Error::from_code(x0) {
        None if x0 == 0 => Ok(()),
        Some(e) => Err(e),
        None => Err(Error::InvalidArgument),
    }
}

/// Writes `bytes` to the kernel console.
pub fn debug_write(bytes: &[u8]) -> Result<u64, Error> {
    let r = call(&call::DebugWrite { va: bytes.as_ptr() as u64, len: bytes.len() as u64 });
    status(r[0]).map(|()| r[1])
}

/// The result of an IPC: the sender and MR0..MR4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Who sent (raw thread id).
    pub from: u64,
    /// MR0..MR4 (MR0 is the tag).
    pub mr: [u64; 5],
}

/// `Ipc`: send `mr` (MR0..MR4; MR0 the tag) to `to`, then receive from `from`.
///
/// The one stub that does not build its `abi::call::Ipc` first: it is on every
/// program's hot path (a fault's round trip through a pager, every server's loop), and
/// checking the tag here would only repeat what the kernel checks anyway (its fast
/// path with masks the `abi` decoders are tested against). The registers are the ones
/// [`abi::call::Ipc::encode`] writes.
pub fn ipc(to: u64, from: u64, timeouts: u64, mr: [u64; 5]) -> Result<Received, Error> {
    let r = raw(Syscall::Ipc, [to, from, timeouts, mr[0], mr[1], mr[2], mr[3], mr[4]]);
    status(r[0]).map(|()| Received { from: r[1], mr: [r[3], r[4], r[5], r[6], r[7]] })
}

/// `ThreadControl`: create `dest` in the space of `space` (== dest: a new space).
/// `space` NIL deletes `dest`; `cpu` is an index or [`abi::syscall::CURRENT_CPU`].
pub fn thread_control(
    dest: u64,
    space: u64,
    scheduler: u64,
    pager: u64,
    utcb: u64,
    cpu: u64,
) -> Result<(), Error> {
    let dest = ThreadId::from_raw(dest);
    let c = if space == 0 {
        call::ThreadControl::Delete { dest }
    } else {
        if !dest.is_valid() || dest.number() == 0 {
            return Err(Error::InvalidThread);
        }
        let cpu = match cpu {
            abi::syscall::CURRENT_CPU => None,
            c => Some(u32::try_from(c).map_err(|_| Error::InvalidCpu)?),
        };
        let (space, scheduler, pager) = (ThreadId::from_raw(space), ThreadId::from_raw(scheduler), ThreadId::from_raw(pager));
        call::ThreadControl::Make { dest, space, scheduler, pager, utcb, cpu }
    };
    status(call(&c)[0])
}

/// `ExchangeRegisters`; returns (old sp, old ip, old pager, state flags).
pub fn exchange_registers(dest: u64, control: u64, sp: u64, ip: u64, pager: u64) -> Result<[u64; 4], Error> {
    let c = call::ExchangeRegisters {
        dest: ThreadId::from_raw(dest),
        control: abi::syscall::ExregsControl::from_raw(control)?,
        sp,
        ip,
        pager: ThreadId::from_raw(pager),
        exception_handler: ThreadId::NIL,
    };
    let r = call(&c);
    status(r[0]).map(|()| [r[1], r[2], r[3], r[4]])
}

/// `MemoryControl`: 2^order frames on `node` at `va`; returns (physical base, node used).
pub fn memory_control(node: u64, order: u64, va: u64, flags: u64) -> Result<(u64, u64), Error> {
    let request = MemoryControlRequest { node, order, dest: va, flags: MemoryControlFlags::from_raw(flags)? };
    let r = call(&request);
    status(r[0]).map(|()| (r[1], r[2]))
}

/// `Introspect` with request words `q`; returns x1..x6.
pub fn introspect(q: [u64; 4]) -> Result<[u64; 6], Error> {
    let c = call::Introspect { request: abi::introspect::Request::decode(q)? };
    let r = call(&c);
    status(r[0]).map(|()| [r[1], r[2], r[3], r[4], r[5], r[6]])
}

/// `InterruptControl`: make `handler` (raw id; 0 = detach) the handler of `intid`.
pub fn interrupt_control(intid: u64, handler: u64, control: u64) -> Result<(), Error> {
    let c = <call::InterruptControl as SystemCall>::decode(&[intid, handler, control, 0, 0, 0, 0, 0])?;
    status(call(&c)[0])
}

/// `InterruptControl` with `INTERRUPT_CONTROL_ARM`: the user timer (attached to
/// `handler`, on the caller's CPU) fires once when the counter reaches `deadline`.
pub fn arm_user_timer(handler: u64, deadline: u64) -> Result<(), Error> {
    status(call(&call::InterruptControl::Arm { handler: ThreadId::from_raw(handler), deadline })[0])
}

/// `SpaceControl`: report the home node of `space`'s space (a thread in it) and, with
/// `privileged`, make its threads privileged.
pub fn space_control(space: u64, privileged: bool) -> Result<u64, Error> {
    let r = call(&call::SpaceControl { space: ThreadId::from_raw(space), privileged, group: None });
    status(r[0]).map(|()| r[1])
}

/// `SpaceControl` with the group bit: puts `space`'s space in `group` (and, with
/// `privileged`, makes it privileged). Returns the space's home node.
pub fn set_group(space: u64, group: u16, privileged: bool) -> Result<u64, Error> {
    let r = call(&call::SpaceControl { space: ThreadId::from_raw(space), privileged, group: Some(group) });
    status(r[0]).map(|()| r[1])
}

/// `MemoryControl` with the free flag: gives back the block of `2^order` pages at
/// `va` (memory `memory_control` put there); every mapping derived from it goes, and
/// the frames return to their node. Returns the frames freed.
pub fn memory_free(va: u64, order: u64) -> Result<u64, Error> {
    let r = call(&MemoryControlRequest { node: 0, order, dest: va, flags: MemoryControlFlags::FREE });
    status(r[0]).map(|()| r[1])
}

/// Free and total bytes of `node`'s frame pool (`Introspect`, `NodeMemory`).
pub fn node_memory(node: u64) -> Result<abi::introspect::NodeMemory, Error> {
    introspect(abi::introspect::Request::NodeMemory { node }.encode()).map(abi::introspect::NodeMemory::from_regs)
}

/// `Notify`: queue `word` for `dest` (delivered at its next open receive); never blocks.
pub fn notify(dest: u64, word: u64) -> Result<(), Error> {
    status(call(&call::Notify { dest: ThreadId::from_raw(dest), word })[0])
}

/// `Schedule`: `dest`'s priority, CPU and timeslice (`None`: keep); the old priority
/// and CPU.
pub fn schedule(dest: u64, priority: Option<u8>, cpu: Option<u32>, timeslice_us: Option<u64>) -> Result<(u64, u64), Error> {
    let r = call(&call::Schedule { dest: ThreadId::from_raw(dest), priority, cpu, timeslice_us });
    status(r[0]).map(|()| (r[1], r[2]))
}

/// `Schedule` of the priority alone: `dest` runs at `priority` from now on.
pub fn set_priority(dest: u64, priority: u8) -> Result<(), Error> {
    schedule(dest, Some(priority), None, None).map(|_| ())
}

/// `Schedule` of the CPU alone: `dest` moves to CPU `cpu` (its registers follow it);
/// returns the CPU it was on.
pub fn move_to_cpu(dest: u64, cpu: u32) -> Result<u64, Error> {
    schedule(dest, None, Some(cpu), None).map(|(_, old)| old)
}

/// `ThreadControl` with a NIL space: deletes `dest` (with its space's last thread, the
/// space and what it held).
pub fn delete_thread(dest: u64) -> Result<(), Error> {
    status(call(&call::ThreadControl::Delete { dest: ThreadId::from_raw(dest) })[0])
}

/// `ExchangeRegisters` that starts `dest` at `ip` with stack `sp`, `handler` getting
/// its exceptions (set in the same call: set later, the thread could fault first).
pub fn start_thread(dest: u64, sp: u64, ip: u64, handler: u64) -> Result<(), Error> {
    let control = abi::syscall::ExregsControl::SET_SP
        | abi::syscall::ExregsControl::SET_IP
        | abi::syscall::ExregsControl::SET_EXCEPTION_HANDLER
        | abi::syscall::ExregsControl::START;
    let c = call::ExchangeRegisters {
        dest: ThreadId::from_raw(dest),
        control,
        sp,
        ip,
        pager: ThreadId::NIL,
        exception_handler: ThreadId::from_raw(handler),
    };
    status(call(&c)[0])
}

/// `ThreadSwitch`: yield the rest of the timeslice.
pub fn yield_now() {
    let _ = call(&call::ThreadSwitch { dest: ThreadId::NIL });
}

/// `Unmap` of the first `count` flexpages in the caller's UTCB (flush-own: the
/// caller's own mappings too).
pub fn unmap(count: u8, flush_own: bool) -> Result<(), Error> {
    let control = abi::syscall::UnmapControl::new(count, flush_own).ok_or(Error::InvalidArgument)?;
    status(call(&call::Unmap { control })[0])
}

/// The system counter, read directly (the kernel lets EL0 read CNTVCT_EL0): no
/// system call, so busy-waiting does not load the kernel. Its frequency is the KIP's
/// `counter_frequency`.
pub fn counter() -> u64 {
    let ticks: u64;
    // SAFETY: reads CNTVCT_EL0, which the kernel enabled for EL0; ISB: not read early.
    unsafe { asm!("isb", "mrs {}, cntvct_el0", out(reg) ticks, options(nomem, nostack, preserves_flags)) };
    ticks
}

/// `SystemClock`: (counter ticks, counter frequency).
pub fn system_clock() -> (u64, u64) {
    let r = call(&call::SystemClock);
    (r[1], r[2])
}

/// `SystemControl`: power off with `status_code`; returns only if refused.
pub fn power_off(status_code: u64) -> Error {
    let r = call(&call::SystemControl::PowerOff { status: status_code });
    status(r[0]).err().unwrap_or(Error::InvalidArgument)
}

/// The kernel interface page.
pub fn kip() -> &'static abi::kip::Kip {
    // SAFETY: the kernel maps the KIP read-only at KIP_ADDRESS in every space for the
    // space's whole life; all its bit patterns are valid (`validate` says if it is sane).
    unsafe { &*(abi::kip::KIP_ADDRESS as *const abi::kip::Kip) }
}

/// A line formatter for `debug_write` without a heap.
pub struct Line {
    buf: [u8; 256],
    len: usize,
}

impl Line {
    /// An empty line.
    pub const fn new() -> Line {
        Line { buf: [0; 256], len: 0 }
    }

    /// Writes the line to the console (`crate::console`: the user-level console
    /// driver if the program has one, else the kernel's `DebugWrite`).
    pub fn flush(&mut self) {
        crate::console::write(&self.buf[..self.len]);
        self.len = 0;
    }
}

impl Default for Line {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

/// Prints a line on the console (see `rt::console`), like `println!`.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let mut line = $crate::sys::Line::new();
        let _ = writeln!(line, $($arg)*);
        line.flush();
    }};
}
