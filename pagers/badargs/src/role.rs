// SPDX-License-Identifier: MIT OR Apache-2.0
//! Who am I, and how do I end: the two roles of a robustness test program.
//!
//! `badargs` and `fuzz` run either as the root task (the kernel started them: their
//! space is privileged, there is no pager, and they end the run with `SystemControl`
//! power-off) or as an unprivileged child of the root task (they end with an exit
//! message to their pager: label [`EXIT_LABEL`], MR1 the status). [`Role::detect`]
//! tells which by asking for something only a privileged space may do, harmlessly:
//! `SpaceControl` on its own space with no flags changes nothing.
//!
//! `fuzz` includes this file too (`#[path]`), so both programs agree on it. When the
//! runtime gains `rt::exit`, [`Role::finish`] can call it for the child role.

use abi::syscall::Syscall;
use core::arch::asm;

/// The label of the exit message a child sends its pager (MR1: the status).
pub const EXIT_LABEL: u16 = 0x1EE7;

/// Makes system call number `number` (any value, valid or not) with `svc #0`.
pub fn svc(number: u64, a: [u64; 8]) -> [u64; 8] {
    let mut r = a;
    // SAFETY: `svc #0` enters the kernel, which reads x0..x8 and writes x0..x7 only
    // (the ABI preserves every other register, and x8 is declared clobbered). The
    // kernel writes no memory of ours except through pointer arguments a call
    // documents, and those calls only read (DebugWrite) or map new pages (MemoryControl
    // refuses an occupied destination), so no Rust-visible memory changes under us.
    unsafe {
        asm!(
            "svc #0",
            inout("x0") r[0], inout("x1") r[1], inout("x2") r[2], inout("x3") r[3],
            inout("x4") r[4], inout("x5") r[5], inout("x6") r[6], inout("x7") r[7],
            inout("x8") number => _,
            options(nostack)
        );
    }
    r
}

/// This program's place in the system.
#[derive(Clone, Copy, Debug)]
pub struct Role {
    /// My thread id (from my UTCB).
    pub me: u64,
    /// My pager (0 for the root task).
    pub pager: u64,
    /// Whether my space is privileged (the root task's is).
    pub privileged: bool,
}

impl Role {
    /// Finds out, with calls that change nothing.
    pub fn detect(utcb: rt::UtcbAddr) -> Role {
        let at = utcb.as_usize() + abi::utcb::MY_GLOBAL_ID_OFFSET;
        // SAFETY: the kernel maps this thread's UTCB at the address it passed to
        // `_start` for the thread's whole life; the global-id word is aligned and is
        // written by the kernel only when the thread is created.
        let me = unsafe { core::ptr::read_volatile(at as *const u64) };
        // ExchangeRegisters with no control bits only reads: x3 is the pager.
        let pager = svc(Syscall::ExchangeRegisters.number(), [me, 0, 0, 0, 0, 0, 0, 0]);
        let pager = if pager[0] == 0 { pager[3] } else { 0 };
        let privileged = svc(Syscall::SpaceControl.number(), [me, 0, 0, 0, 0, 0, 0, 0])[0] == 0;
        Role { me, pager, privileged }
    }

    /// Ends the program with `status` (0 = pass): power-off as the root task, an exit
    /// message to the pager as a child. Never returns.
    pub fn finish(&self, status: u64) -> ! {
        if self.privileged && self.me == abi::thread::ThreadId::ROOT.raw() {
            let r = svc(
                Syscall::SystemControl.number(),
                [abi::syscall::SYSTEM_POWER_OFF, status, 0, 0, 0, 0, 0, 0],
            );
            rt::println!("finish: SystemControl power-off refused with status {}", r[0]);
        }
        let tag = abi::message::Tag::new(EXIT_LABEL, 1, 0).map_or(0, |t| t.raw());
        let never = abi::timeout::Timeouts::NEVER.pack();
        let _ = svc(Syscall::Ipc.number(), [self.pager, 0, never, tag, status, 0, 0, 0]);
        loop {
            // Nobody answers this: the pager ends the program. Receiving blocks without
            // burning the CPU.
            let _ = svc(Syscall::Ipc.number(), [0, self.pager, never, 0, 0, 0, 0, 0]);
        }
    }
}
