// SPDX-License-Identifier: MIT OR Apache-2.0
//! System-call stubs: one `svc #0` each, registers as the `abi` crate documents them.
//!
//! These are the only place user code enters the kernel. Each stub puts the syscall
//! number in x8 and the arguments in x0..x7, and gets the status in x0 and results in
//! x1..x7. The typed wrappers turn the status into `Result<_, abi::Error>`.

use abi::Error;
use abi::syscall::Syscall;
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

fn status(x0: u64) -> Result<(), Error> {
    match Error::from_code(x0) {
        None if x0 == 0 => Ok(()),
        Some(e) => Err(e),
        None => Err(Error::InvalidArgument),
    }
}

/// Writes `bytes` to the kernel console.
pub fn debug_write(bytes: &[u8]) -> Result<u64, Error> {
    let r = raw(Syscall::DebugWrite, [bytes.as_ptr() as u64, bytes.len() as u64, 0, 0, 0, 0, 0, 0]);
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
pub fn ipc(to: u64, from: u64, timeouts: u64, mr: [u64; 5]) -> Result<Received, Error> {
    let r = raw(Syscall::Ipc, [to, from, timeouts, mr[0], mr[1], mr[2], mr[3], mr[4]]);
    status(r[0]).map(|()| Received { from: r[1], mr: [r[3], r[4], r[5], r[6], r[7]] })
}

/// `ThreadControl`: create `dest` in the space of `space` (== dest: a new space).
pub fn thread_control(
    dest: u64,
    space: u64,
    scheduler: u64,
    pager: u64,
    utcb: u64,
    cpu: u64,
) -> Result<(), Error> {
    status(raw(Syscall::ThreadControl, [dest, space, scheduler, pager, utcb, cpu, 0, 0])[0])
}

/// `ExchangeRegisters`; returns (old sp, old ip, old pager, state flags).
pub fn exchange_registers(dest: u64, control: u64, sp: u64, ip: u64, pager: u64) -> Result<[u64; 4], Error> {
    let r = raw(Syscall::ExchangeRegisters, [dest, control, sp, ip, pager, 0, 0, 0]);
    status(r[0]).map(|()| [r[1], r[2], r[3], r[4]])
}

/// `MemoryControl`: 2^order frames on `node` at `va`; returns (physical base, node used).
pub fn memory_control(node: u64, order: u64, va: u64, flags: u64) -> Result<(u64, u64), Error> {
    let r = raw(Syscall::MemoryControl, [node, order, va, flags, 0, 0, 0, 0]);
    status(r[0]).map(|()| (r[1], r[2]))
}

/// `Introspect` with request words `q`; returns x1..x6.
pub fn introspect(q: [u64; 4]) -> Result<[u64; 6], Error> {
    let r = raw(Syscall::Introspect, [q[0], q[1], q[2], q[3], 0, 0, 0, 0]);
    status(r[0]).map(|()| [r[1], r[2], r[3], r[4], r[5], r[6]])
}

/// `InterruptControl`: make `handler` (raw id; 0 = detach) the handler of `intid`.
pub fn interrupt_control(intid: u64, handler: u64, control: u64) -> Result<(), Error> {
    status(raw(Syscall::InterruptControl, [intid, handler, control, 0, 0, 0, 0, 0])[0])
}

/// `InterruptControl` with `INTERRUPT_CONTROL_ARM`: the user timer (attached to
/// `handler`, on the caller's CPU) fires once when the counter reaches `deadline`.
pub fn arm_user_timer(handler: u64, deadline: u64) -> Result<(), Error> {
    let intid = u64::from(abi::syscall::USER_TIMER_INTID);
    status(
        raw(
            Syscall::InterruptControl,
            [intid, handler, abi::syscall::INTERRUPT_CONTROL_ARM, deadline, 0, 0, 0, 0],
        )[0],
    )
}

/// `SpaceControl`: report the home node of `space`'s space (a thread in it) and, with
/// `privileged`, make its threads privileged.
pub fn space_control(space: u64, privileged: bool) -> Result<u64, Error> {
    let flags = abi::syscall::SpaceControlFlags { privileged, group: false }.raw();
    let r = raw(Syscall::SpaceControl, [space, flags, 0, 0, 0, 0, 0, 0]);
    status(r[0]).map(|()| r[1])
}

/// `SpaceControl` with the group bit: puts `space`'s space in `group` (and, with
/// `privileged`, makes it privileged). Returns the space's home node.
pub fn set_group(space: u64, group: u16, privileged: bool) -> Result<u64, Error> {
    let flags = abi::syscall::SpaceControlFlags { privileged, group: true }.raw();
    let r = raw(Syscall::SpaceControl, [space, flags, u64::from(group), 0, 0, 0, 0, 0]);
    status(r[0]).map(|()| r[1])
}

/// `MemoryControl` with the free flag: gives back the block of `2^order` pages at
/// `va` (memory `memory_control` put there); every mapping derived from it goes, and
/// the frames return to their node. Returns the frames freed.
pub fn memory_free(va: u64, order: u64) -> Result<u64, Error> {
    let flags = abi::memory_control::MemoryControlFlags::FREE.raw();
    let r = raw(Syscall::MemoryControl, [0, order, va, flags, 0, 0, 0, 0]);
    status(r[0]).map(|()| r[1])
}

/// Free and total bytes of `node`'s frame pool (`Introspect`, `NodeMemory`).
pub fn node_memory(node: u64) -> Result<abi::introspect::NodeMemory, Error> {
    introspect(abi::introspect::Request::NodeMemory { node }.encode()).map(abi::introspect::NodeMemory::from_regs)
}

/// `Notify`: queue `word` for `dest` (delivered at its next open receive); never blocks.
pub fn notify(dest: u64, word: u64) -> Result<(), Error> {
    status(raw(Syscall::Notify, [dest, word, 0, 0, 0, 0, 0, 0])[0])
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
    let r = raw(Syscall::SystemClock, [0; 8]);
    (r[1], r[2])
}

/// `SystemControl`: power off with `status_code`; returns only if refused.
pub fn power_off(status_code: u64) -> Error {
    let r = raw(Syscall::SystemControl, [abi::syscall::SYSTEM_POWER_OFF, status_code, 0, 0, 0, 0, 0, 0]);
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
