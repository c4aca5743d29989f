// SPDX-License-Identifier: MIT OR Apache-2.0
//! A register frame faked in host memory, for the MMIO drivers' host tests.
//!
//! The GIC drivers (`gicv2`, `gicv3`) take a register frame's address and read and
//! write it through tock-registers; their tests hand them this block of host memory
//! instead, then check what the driver wrote, byte for byte, with [`Fake::read`].

/// Zeroed, 8-byte-aligned host memory standing in for a register frame. It is
/// reached only through the raw pointer (by the driver and by these accessors), so
/// no Rust reference aliases what the driver writes.
pub(crate) struct Fake {
    ptr: *mut u64,
    words: usize,
}

impl Fake {
    pub(crate) fn new(bytes: usize) -> Fake {
        let words = bytes / 8;
        let ptr = Box::into_raw(vec![0u64; words].into_boxed_slice()) as *mut u64;
        Fake { ptr, words }
    }

    /// Fills every byte with `byte`: stale state a driver must not trust.
    pub(crate) fn fill(&self, byte: u8) {
        // SAFETY: `ptr` owns `words * 8` writable bytes.
        unsafe { core::ptr::write_bytes(self.ptr, byte, self.words) };
    }

    pub(crate) fn base(&self) -> usize {
        self.ptr as usize
    }

    fn at<T>(&self, offset: usize) -> *mut T {
        assert!(offset + size_of::<T>() <= self.words * 8 && offset.is_multiple_of(size_of::<T>()));
        self.ptr.cast::<u8>().wrapping_add(offset).cast::<T>()
    }

    pub(crate) fn read<T: Copy>(&self, offset: usize) -> T {
        // SAFETY: `at` checked bounds and alignment; all bit patterns are valid.
        unsafe { self.at::<T>(offset).read_volatile() }
    }

    pub(crate) fn write<T: Copy>(&self, offset: usize, value: T) {
        // SAFETY: `at` checked bounds and alignment.
        unsafe { self.at::<T>(offset).write_volatile(value) }
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let slice = core::ptr::slice_from_raw_parts_mut(self.ptr, self.words);
        // SAFETY: `ptr`/`words` came from `Box::into_raw` of exactly this slice,
        // and every driver using it has been dropped (declared after the fake).
        drop(unsafe { Box::from_raw(slice) });
    }
}
