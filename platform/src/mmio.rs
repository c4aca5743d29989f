// SPDX-License-Identifier: MIT OR Apache-2.0
//! One page of device registers, for the user-level drivers.
//!
//! The drivers a user program runs (`pl061`'s GPIO, `uart`'s console) read and write
//! 32-bit registers of one mapped page. They do it through [`Mmio`], so the same driver
//! code runs against the real page ([`MmioPage`], the one `unsafe` place) and against a
//! fake register block in host tests.

/// Bytes of one register page.
pub const PAGE: usize = 0x1000;

/// 32-bit register access at byte offsets of one register block.
pub trait Mmio {
    /// Reads the register at `offset`.
    fn read(&self, offset: usize) -> u32;
    /// Writes `value` to the register at `offset`.
    fn write(&self, offset: usize, value: u32);
}

/// The real registers: a mapped page of a device.
pub struct MmioPage {
    base: usize,
}

impl MmioPage {
    /// The register page at virtual address `base`.
    ///
    /// # Safety
    /// `base` must be the address of a mapped page of device registers (Device
    /// memory) whose 32-bit registers the driver may read and write, used by nothing
    /// else while this value lives.
    pub const unsafe fn new(base: usize) -> MmioPage {
        MmioPage { base }
    }
}

impl Mmio for MmioPage {
    fn read(&self, offset: usize) -> u32 {
        debug_assert!(offset < PAGE && offset.is_multiple_of(4));
        // SAFETY: `new`'s contract: a mapped register page; offsets stay inside it.
        unsafe { core::ptr::read_volatile((self.base + offset) as *const u32) }
    }

    fn write(&self, offset: usize, value: u32) {
        debug_assert!(offset < PAGE && offset.is_multiple_of(4));
        // SAFETY: as in `read`.
        unsafe { core::ptr::write_volatile((self.base + offset) as *mut u32, value) }
    }
}
