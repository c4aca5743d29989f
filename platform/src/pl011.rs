// SPDX-License-Identifier: MIT OR Apache-2.0
//! The Arm PrimeCell PL011 UART: the console of QEMU `virt` and of most Arm servers.
//!
//! The kernel's only use of a UART is its own console, so this driver does only what
//! a console needs: write bytes, reliably, from any CPU, before and after interrupts
//! exist. It polls (waits while the transmit FIFO is full) and never touches the baud
//! rate: the firmware or boot loader that chose `/chosen/stdout-path` already set the
//! line up, and reprogramming it would need the UART's reference clock, which the
//! device tree describes in ways this kernel does not otherwise need. This is what
//! Linux's `earlycon=pl011` does too.
//!
//! # Safety boundary
//! [`Pl011::new`] is the only `unsafe` item: the caller promises the address is a
//! mapped PL011 register block used by nobody else. Everything above it is safe.
//!
//! # References
//! Arm PrimeCell UART (PL011) Technical Reference Manual, r1p5 (DDI 0183), section 3
//! "Programmers model": register offsets and the FR/CR bits used below.

use core::fmt;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_bitfields! {u32,
    /// Flag register.
    FR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// UART busy transmitting.
        BUSY OFFSET(3) NUMBITS(1) []
    ],
    /// Control register.
    CR [
        /// Receive enable.
        RXE OFFSET(9) NUMBITS(1) [],
        /// Transmit enable.
        TXE OFFSET(8) NUMBITS(1) [],
        /// UART enable.
        UARTEN OFFSET(0) NUMBITS(1) []
    ]
}

register_structs! {
    /// The PL011 register block (the part this driver uses).
    #[allow(non_snake_case)]
    pub RegisterBlock {
        (0x00 => DR: ReadWrite<u32>),
        (0x04 => _reserved0),
        (0x18 => FR: ReadOnly<u32, FR::Register>),
        (0x1c => _reserved1),
        (0x30 => CR: ReadWrite<u32, CR::Register>),
        (0x34 => _reserved2),
        (0x44 => ICR: WriteOnly<u32>),
        (0x48 => @END),
    }
}

/// Bytes of MMIO space the driver touches (one page is mapped for it).
pub const REGISTER_BLOCK_SIZE: usize = 0x1000;

/// A polled PL011 transmitter.
pub struct Pl011 {
    regs: &'static RegisterBlock,
}

// SAFETY: the register block is plain MMIO reachable from every CPU; `Pl011` holds no
// CPU-local state. Exclusive use is the owner's business (the kernel keeps the console
// behind a lock), exactly as for any other `Send` value.
unsafe impl Send for Pl011 {}

impl Pl011 {
    /// Takes over the PL011 whose registers are mapped at virtual address `base`.
    ///
    /// # Safety
    /// `base` must be the virtual address of a PL011 register block, mapped as device
    /// memory for at least [`REGISTER_BLOCK_SIZE`] bytes for the rest of the program,
    /// and no other `Pl011` may exist for the same block.
    pub unsafe fn new(base: usize) -> Pl011 {
        // SAFETY: the caller guarantees a mapped, exclusively owned register block.
        let regs = unsafe { &*(base as *const RegisterBlock) };
        Pl011 { regs }
    }

    /// Makes sure the transmitter is on (firmware normally left it on) and clears
    /// stale interrupt status.
    pub fn init(&mut self) {
        self.regs.ICR.set(0x7FF);
        if !self.regs.CR.is_set(CR::UARTEN) || !self.regs.CR.is_set(CR::TXE) {
            self.regs.CR.write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
        }
    }

    /// Sends one byte, waiting for room in the FIFO.
    pub fn put(&mut self, byte: u8) {
        while self.regs.FR.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        self.regs.DR.set(u32::from(byte));
    }

    /// Waits until every byte written has left the UART (before power-off, say).
    pub fn flush(&mut self) {
        while self.regs.FR.is_set(FR::BUSY) {
            core::hint::spin_loop();
        }
    }
}

impl fmt::Write for Pl011 {
    /// Writes `s`, turning `\n` into `\r\n` for terminals.
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for_terminal(s, |b| self.put(b));
        Ok(())
    }
}

/// Sends `s` byte by byte through `put`, each `\n` as `\r\n`: what a terminal on a
/// serial line wants (the kernel consoles, PL011 and 8250 alike).
pub fn for_terminal(s: &str, mut put: impl FnMut(u8)) {
    for b in s.bytes() {
        if b == b'\n' {
            put(b'\r');
        }
        put(b);
    }
}
