// SPDX-License-Identifier: MIT OR Apache-2.0
//! Reading and writing physical memory that belongs to user level, through the direct map.
//!
//! The kernel never dereferences a user virtual address: it translates it through the
//! space's tables (checking the mapping is user-accessible with the rights needed),
//! then touches the frame through the direct map. User memory can change under the
//! kernel at any moment (another thread of the space runs on another CPU), so every
//! access is volatile, word or byte at a time, and nothing read is trusted beyond the
//! access itself.

use crate::mm::layout::direct_map;

/// Reads the 64-bit word at physical address `pa`.
///
/// # Safety
/// `pa` must be 8-byte aligned and lie in a frame of RAM outside the kernel image that
/// is user memory or a UTCB (never a kernel object Rust code holds references into).
pub unsafe fn read_u64(pa: u64) -> u64 {
    // SAFETY: the caller's contract; the direct map covers all RAM outside the image.
    unsafe { core::ptr::read_volatile(direct_map(pa) as *const u64) }
}

/// Writes the 64-bit word at physical address `pa`.
///
/// # Safety
/// As for [`read_u64`].
pub unsafe fn write_u64(pa: u64, value: u64) {
    // SAFETY: the caller's contract; the direct map covers all RAM outside the image.
    unsafe { core::ptr::write_volatile(direct_map(pa) as *mut u64, value) }
}

/// Reads `out.len()` bytes starting at physical address `pa` (within one frame).
///
/// # Safety
/// `[pa, pa + out.len())` must lie in one frame that satisfies [`read_u64`]'s contract.
pub unsafe fn read_bytes(pa: u64, out: &mut [u8]) {
    for (i, byte) in out.iter_mut().enumerate() {
        let at = (direct_map(pa) + i as u64) as *const u8;
        // SAFETY: the caller's contract covers every byte of the range.
        *byte = unsafe { core::ptr::read_volatile(at) };
    }
}

/// Writes `bytes` starting at physical address `pa` (within one frame).
///
/// # Safety
/// As for [`read_bytes`].
pub unsafe fn write_bytes(pa: u64, bytes: &[u8]) {
    for (i, byte) in bytes.iter().enumerate() {
        let at = (direct_map(pa) + i as u64) as *mut u8;
        // SAFETY: the caller's contract covers every byte of the range.
        unsafe { core::ptr::write_volatile(at, *byte) };
    }
}

/// A read-only view of `len` bytes of physical memory at `pa`.
///
/// # Safety
/// The range must be RAM outside the kernel image that nothing writes for as long as
/// the slice is used (the initrd: reserved from every pool, never written).
pub unsafe fn slice(pa: u64, len: usize) -> &'static [u8] {
    // SAFETY: the caller's contract; the direct map covers all RAM outside the image.
    unsafe { core::slice::from_raw_parts(direct_map(pa) as *const u8, len) }
}
