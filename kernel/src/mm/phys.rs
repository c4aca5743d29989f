// SPDX-License-Identifier: MIT OR Apache-2.0
//! Physical memory as the kernel reaches it: a window, and the accesses made through it.
//!
//! The kernel never dereferences a physical address: it reaches a frame through a
//! [`Window`], `va = pa + offset`. On the target the window is the direct map
//! ([`Window::DIRECT_MAP`], `crate::mm::layout::direct_map`); in host tests it is offset
//! 0 over ordinary host memory, so the same code (frame allocator, slabs, translation
//! tables, the L4 core's TCBs and UTCBs) runs on both, the fake machine's "physical"
//! frames being host allocations.
//!
//! Memory that belongs to user level (UTCBs, frames handed out) can change under the
//! kernel at any moment (another thread of the space runs on another CPU), so the word
//! and byte accesses here are volatile, and nothing read is trusted beyond the access.
//!
//! Every access takes a [`PhysAddr`]: the one way from a physical address to memory.
//!
//! # Invariants
//! - The offset is a multiple of the frame allocator's largest block, so virtual and
//!   physical block alignment agree ([`Window::new`] checks it).
//! - Every access's `# Safety` says which frames the caller must own: the window itself
//!   only computes addresses.

use crate::mm::addr::PhysAddr;
use crate::mm::frames::MAX_BLOCK;
use crate::mm::layout::{DIRECT_MAP_BASE, DIRECT_MAP_SIZE};
use crate::mm::table::{ENTRIES, PAGE_SIZE};
use core::ptr::NonNull;
use platform::PhysRange;

/// How the CPU reaches physical memory: `va = pa + offset`, for physical addresses
/// below `limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    offset: u64,
    limit: u64,
}

impl Window {
    /// The kernel's direct map of physical memory ([`crate::mm::layout::direct_map`]).
    pub const DIRECT_MAP: Window = Window::new(DIRECT_MAP_BASE, DIRECT_MAP_SIZE);

    /// Host memory as "physical" memory (host tests: a physical address is a host
    /// address).
    pub const HOST: Window = Window::new(0, 1 << 56);

    /// A window at `offset` covering physical addresses `[0, limit)`.
    ///
    /// # Panics
    /// When `offset` is not a multiple of [`MAX_BLOCK`] (block alignment would differ
    /// between virtual and physical addresses) or `offset + limit` overflows. Used in
    /// a `const` or `static`, that is a compile-time error.
    pub const fn new(offset: u64, limit: u64) -> Window {
        assert!(offset.is_multiple_of(MAX_BLOCK), "window offset must be MAX_BLOCK aligned");
        assert!(offset.checked_add(limit).is_some(), "window wraps around");
        Window { offset, limit }
    }

    /// The address through which the CPU reaches physical address `pa`.
    #[inline(always)]
    pub const fn va(self, pa: u64) -> usize {
        pa.wrapping_add(self.offset) as usize
    }

    /// The physical address behind `va` (the inverse of [`Window::va`]).
    #[inline(always)]
    pub const fn pa(self, va: usize) -> u64 {
        (va as u64).wrapping_sub(self.offset)
    }

    /// True when all of `range` is inside the window and none of it sits at virtual
    /// address 0 (the frame allocator's lists use 0 as "end of list").
    pub fn covers(self, range: PhysRange) -> bool {
        let inside = range.base.checked_add(range.size).is_some_and(|end| end <= self.limit);
        inside && self.va(range.base) != 0
    }

    /// Reads the 64-bit word at `pa`.
    ///
    /// # Safety
    /// `pa` must be 8-byte aligned and lie in a frame of RAM reachable through this
    /// window that is user memory, a UTCB, or a kernel page no Rust reference points
    /// into (MDB shadow pages and root arrays).
    #[inline(always)]
    pub unsafe fn read_u64(self, pa: PhysAddr) -> u64 {
        // SAFETY: the caller's contract; the window reaches the frame at `va(pa)`.
        unsafe { core::ptr::read_volatile(self.va(pa.raw()) as *const u64) }
    }

    /// Writes the 64-bit word at `pa`.
    ///
    /// # Safety
    /// As for [`Window::read_u64`].
    #[inline(always)]
    pub unsafe fn write_u64(self, pa: PhysAddr, value: u64) {
        // SAFETY: the caller's contract; the window reaches the frame at `va(pa)`.
        unsafe { core::ptr::write_volatile(self.va(pa.raw()) as *mut u64, value) }
    }

    /// Reads `out.len()` bytes starting at `pa` (within one frame).
    ///
    /// # Safety
    /// `[pa, pa + out.len())` must lie in one frame that satisfies
    /// [`Window::read_u64`]'s contract.
    pub unsafe fn read_bytes(self, pa: PhysAddr, out: &mut [u8]) {
        for (i, byte) in out.iter_mut().enumerate() {
            let at = (self.va(pa.raw()) + i) as *const u8;
            // SAFETY: the caller's contract covers every byte of the range.
            *byte = unsafe { core::ptr::read_volatile(at) };
        }
    }

    /// Writes `bytes` starting at `pa` (within one frame).
    ///
    /// # Safety
    /// As for [`Window::read_bytes`].
    pub unsafe fn write_bytes(self, pa: PhysAddr, bytes: &[u8]) {
        for (i, byte) in bytes.iter().enumerate() {
            let at = (self.va(pa.raw()) + i) as *mut u8;
            // SAFETY: the caller's contract covers every byte of the range.
            unsafe { core::ptr::write_volatile(at, *byte) };
        }
    }

    /// A read-only view of `len` bytes of physical memory at `pa`.
    ///
    /// # Safety
    /// The range must be RAM reachable through this window that nothing writes for as
    /// long as the slice is used (the initrd: reserved from every pool, never written).
    pub unsafe fn slice<'a>(self, pa: PhysAddr, len: usize) -> &'a [u8] {
        // SAFETY: the caller's contract.
        unsafe { core::slice::from_raw_parts(self.va(pa.raw()) as *const u8, len) }
    }

    /// Zeroes the frame at `pa`.
    ///
    /// # Safety
    /// `pa` must be a whole frame of RAM reachable through this window that the caller
    /// owns (just allocated, referenced by nothing).
    pub unsafe fn zero_frame(self, pa: PhysAddr) {
        // SAFETY: the frame is the caller's alone (contract above).
        unsafe { core::ptr::write_bytes(self.va(pa.raw()) as *mut u8, 0, PAGE_SIZE as usize) };
    }

    /// Moves `value` into the frames at `pa` and returns where it now lives.
    ///
    /// # Safety
    /// `[pa, pa + size_of::<T>())` must be whole frames of RAM reachable through this
    /// window, just allocated for this value and referenced by nothing; they stay the
    /// value's until its owner forgets the pointer.
    pub unsafe fn place<T>(self, pa: PhysAddr, value: T) -> NonNull<T> {
        assert!(pa.is_page_aligned(), "invariant: a whole, aligned frame");
        const { assert!(core::mem::align_of::<T>() as u64 <= PAGE_SIZE) };
        let ptr = self.va(pa.raw()) as *mut T;
        // SAFETY: the frames are the value's alone (the caller's contract), page aligned
        // (more than `T` needs, checked above) and large enough.
        unsafe { ptr.write(value) };
        NonNull::new(ptr).expect("invariant: no frame sits at virtual address 0")
    }

    /// The value of type `T` whose bytes are at `pa`, to be filled in place (for
    /// values too large for a kernel stack, such as the kernel interface page).
    ///
    /// # Safety
    /// `[pa, pa + size_of::<T>())` must be whole frames of RAM reachable through this
    /// window, just allocated and zeroed for this value and referenced by nothing else;
    /// all-zero bytes must be a valid `T`.
    pub unsafe fn zeroed<'a, T>(self, pa: PhysAddr) -> &'a mut T {
        assert!(pa.is_page_aligned(), "invariant: whole, aligned frames");
        const { assert!(core::mem::align_of::<T>() as u64 <= PAGE_SIZE) };
        // SAFETY: the caller's contract: zeroed memory of the right size, valid as a
        // `T`, aligned (a page is more than `T` needs), referenced by nothing else.
        unsafe { &mut *(self.va(pa.raw()) as *mut T) }
    }

    /// The 512 entries of the translation table at `pa`.
    ///
    /// # Safety
    /// `pa` must be a translation table (a page-aligned frame reachable through this
    /// window) that no other reference reaches while the returned one is used: tables
    /// are only reached under the lock of the tables they belong to.
    #[inline(always)]
    pub unsafe fn table<'a>(self, pa: PhysAddr) -> &'a mut [u64; ENTRIES] {
        debug_assert!(pa.is_page_aligned(), "invariant: tables are page aligned");
        // SAFETY: the caller's contract.
        unsafe { &mut *(self.va(pa.raw()) as *mut [u64; ENTRIES]) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_direct_map_window_matches_the_kernel_layout() {
        let w = Window::DIRECT_MAP;
        assert_eq!(w.va(0x4000_0000) as u64, crate::mm::layout::direct_map(0x4000_0000));
        assert_eq!(w.pa(w.va(0x8_4000_1000)), 0x8_4000_1000);
        assert!(w.covers(PhysRange { base: 0, size: PAGE_SIZE }), "pa 0 is fine behind an offset");
        assert!(!w.covers(PhysRange { base: DIRECT_MAP_SIZE - PAGE_SIZE, size: 2 * PAGE_SIZE }));
        assert!(!Window::HOST.covers(PhysRange { base: 0, size: PAGE_SIZE }), "va 0 is never memory");
    }

    #[test]
    fn words_bytes_and_values_go_where_the_window_says() {
        let mut frame = vec![0u64; 2 * ENTRIES];
        let base = PhysAddr::new((frame.as_mut_ptr() as u64).next_multiple_of(PAGE_SIZE / 2));
        let w = Window::HOST;
        // `base` and the words after it lie in `frame`, host memory of this test, which
        // nothing else uses.
        // SAFETY: as said.
        unsafe { w.write_u64(base, 0x1122_3344_5566_7788) };
        // SAFETY: as above.
        assert_eq!(unsafe { w.read_u64(base) }, 0x1122_3344_5566_7788);
        let mut two = [0u8; 2];
        // SAFETY: as above.
        unsafe { w.read_bytes(base, &mut two) };
        assert_eq!(two, [0x88, 0x77], "little endian");
        // SAFETY: as above.
        unsafe { w.write_bytes(base + 8, b"hi") };
        // SAFETY: as above.
        assert_eq!(unsafe { w.slice(base + 8, 2) }, b"hi");
    }
}
