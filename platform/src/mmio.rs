// SPDX-License-Identifier: MIT OR Apache-2.0
//! One page of device registers, for the user-level drivers.
//!
//! The drivers a user program runs (`pl061`'s GPIO, `uart`'s and `ns16550`'s console)
//! read and write the registers of one mapped page, 32 bits wide, or 8 bits wide for
//! an 8250 UART with `reg-io-width = 1`. They do it through [`Mmio`], so the same
//! driver code runs against the real page ([`MmioPage`], the one `unsafe` place) and
//! against a fake register block in host tests. The kernel's own 8250 console uses it
//! too: that UART's register stride is a device-tree property, which a fixed
//! `register_structs!` layout cannot express.

/// Bytes of one register page.
pub const PAGE: usize = 0x1000;

/// 32-bit register access at byte offsets of one register block.
pub trait Mmio {
    /// Reads the register at `offset`.
    fn read(&self, offset: usize) -> u32;
    /// Writes `value` to the register at `offset`.
    fn write(&self, offset: usize, value: u32);
    /// Reads the byte-wide register at `offset`. Only the byte-wide drivers (an 8250
    /// with `reg-io-width = 1`) call it; a register block without byte-wide registers
    /// keeps this default, which refuses (a test fake reached by mistake fails loudly).
    fn read8(&self, offset: usize) -> u8 {
        panic!("no byte-wide register at {offset:#x}")
    }
    /// Writes the byte-wide register at `offset` (see [`Mmio::read8`]).
    fn write8(&self, offset: usize, value: u8) {
        panic!("no byte-wide register at {offset:#x} (writing {value:#x})")
    }
}

/// The real registers: a mapped page of a device.
pub struct MmioPage {
    base: usize,
}

impl MmioPage {
    /// The register page at virtual address `base`.
    ///
    /// # Safety
    /// `base` must be the address of device registers (Device memory) the driver may
    /// read and write, mapped from `base` to the end of its page (a UART's registers
    /// may start inside a page, as the Raspberry Pi's mini-UART at 0xfe215040 does),
    /// used by nothing else while this value lives.
    pub const unsafe fn new(base: usize) -> MmioPage {
        MmioPage { base }
    }
}

impl Mmio for MmioPage {
    fn read(&self, offset: usize) -> u32 {
        debug_assert!(self.base % PAGE + offset < PAGE && offset.is_multiple_of(4));
        // SAFETY: `new`'s contract: a mapped register page; offsets stay inside it.
        unsafe { core::ptr::read_volatile((self.base + offset) as *const u32) }
    }

    fn write(&self, offset: usize, value: u32) {
        debug_assert!(self.base % PAGE + offset < PAGE && offset.is_multiple_of(4));
        // SAFETY: as in `read`.
        unsafe { core::ptr::write_volatile((self.base + offset) as *mut u32, value) }
    }

    fn read8(&self, offset: usize) -> u8 {
        debug_assert!(self.base % PAGE + offset < PAGE);
        // SAFETY: as in `read`, a byte-wide register of the page.
        unsafe { core::ptr::read_volatile((self.base + offset) as *const u8) }
    }

    fn write8(&self, offset: usize, value: u8) {
        debug_assert!(self.base % PAGE + offset < PAGE);
        // SAFETY: as in `read8`.
        unsafe { core::ptr::write_volatile((self.base + offset) as *mut u8, value) }
    }
}
