// SPDX-License-Identifier: MIT OR Apache-2.0
//! The first translation tables: what the kernel maps before the MMU is on.
//!
//! A boot loader may put the kernel image at any 4 KiB-aligned physical address (QEMU's
//! `-kernel` at RAM + 2 MiB, U-Boot's `booti` elsewhere), yet the kernel is linked at
//! one virtual address, [`KERNEL_BASE`]. The boot code bridges the two: still running
//! at the load address with the MMU off, it calls [`build`], which maps
//!
//! - the image at `KERNEL_BASE`, text read-only and executable, read-only data
//!   read-only, data/BSS/stack read-write and never executable, except one guard
//!   page below the boot stack, left unmapped (TTBR1);
//! - the device tree blob at [`FDT_WINDOW`], read-only (TTBR1);
//! - the image's text once more at its own physical address (TTBR0, identity), so the
//!   instructions that switch the MMU on and jump up keep being fetchable.
//!
//! The function is careful to be runnable with the MMU off: it only computes with the
//! numbers it is given and writes aligned 64-bit words (with the MMU off every data
//! access is Device memory, which faults on unaligned access; the target is built
//! `+strict-align`). It takes no addresses of statics and calls nothing that could.
//!
//! # References
//! Linux `Documentation/arch/arm64/booting.rst` (the boot protocol: MMU off, image
//! anywhere 2 MiB-aligned + text_offset, DTB 8-byte aligned and at most 2 MiB).
#![forbid(unsafe_code)]

use crate::mm::layout::{FDT_MAX_SIZE, FDT_WINDOW, KERNEL_BASE};
use crate::mm::table::{self, Attrs, MapError, PAGE_SIZE, TableMemory};

/// Where the parts of the kernel image are in physical memory, as the boot code
/// computed them with PC-relative addressing. Each boundary is page-aligned by the
/// linker script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageLayout {
    /// Physical address of the first byte (the Image header).
    pub start: u64,
    /// End of text (start of read-only data).
    pub text_end: u64,
    /// End of read-only data (start of data).
    pub rodata_end: u64,
    /// The boot stack's guard page, left unmapped.
    pub stack_guard: u64,
    /// End of the whole footprint: data, BSS, boot stack.
    pub end: u64,
}

impl ImageLayout {
    /// The kernel virtual address of physical address `pa` inside the image.
    pub fn va_of(&self, pa: u64) -> u64 {
        KERNEL_BASE + (pa - self.start)
    }

    /// The physical address of kernel virtual address `va` inside the image.
    pub fn pa_of(&self, va: u64) -> u64 {
        va - KERNEL_BASE + self.start
    }

    /// Whether `pa` lies inside the image.
    pub fn contains(&self, pa: u64) -> bool {
        (self.start..self.end).contains(&pa)
    }
}

/// The roots the boot code loads into TTBR1_EL1 and TTBR0_EL1.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EarlyRoots {
    /// Kernel half: image and device tree window.
    pub ttbr1: u64,
    /// Lower half: the identity map of the text, dropped once running high.
    pub ttbr0: u64,
}

/// The bytes of the DTB header's `totalsize` field, read by the caller (big-endian
/// u32 at offset 4) and checked here: a blob that is absent, unaligned or too large
/// for the window is not mapped, and the kernel reports that once it can print.
pub fn fdt_extent(dtb_pa: u64, magic: u32, totalsize: u32) -> Option<(u64, u64)> {
    const FDT_MAGIC: u32 = 0xD00D_FEED;
    let size = u64::from(totalsize);
    let in_page = dtb_pa % PAGE_SIZE;
    if dtb_pa == 0
        || !dtb_pa.is_multiple_of(8)
        || magic != FDT_MAGIC
        || size < 40
        || in_page + size > FDT_MAX_SIZE
    {
        return None;
    }
    Some((dtb_pa, size))
}

/// Builds the early tables. `fdt` is the blob's physical address and size, when
/// [`fdt_extent`] accepted it; it is then readable at `FDT_WINDOW + dtb_pa % 4096`.
pub fn build(
    mem: &mut impl TableMemory,
    img: &ImageLayout,
    fdt: Option<(u64, u64)>,
) -> Result<EarlyRoots, MapError> {
    let ttbr1 = mem.alloc_table().ok_or(MapError::OutOfTables)?;
    let parts = [
        (img.start, img.text_end, Attrs::KERNEL_TEXT),
        (img.text_end, img.rodata_end, Attrs::KERNEL_RO),
        (img.rodata_end, img.stack_guard, Attrs::KERNEL_RW),
        (img.stack_guard + PAGE_SIZE, img.end, Attrs::KERNEL_RW),
    ];
    for (start, end, attrs) in parts {
        if end > start {
            table::map(mem, ttbr1, img.va_of(start), start, end - start, attrs, false)?;
        }
    }
    if let Some((pa, size)) = fdt {
        let first = pa - pa % PAGE_SIZE;
        let last = (pa + size).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        table::map(mem, ttbr1, FDT_WINDOW, first, last - first, Attrs::KERNEL_RO, false)?;
    }
    let ttbr0 = mem.alloc_table().ok_or(MapError::OutOfTables)?;
    table::map(mem, ttbr0, img.start, img.start, img.text_end - img.start, Attrs::KERNEL_TEXT, false)?;
    Ok(EarlyRoots { ttbr1, ttbr0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::table::{ENTRIES, translate};
    use std::collections::HashMap;

    struct Pool {
        tables: HashMap<u64, Box<[u64; ENTRIES]>>,
        next: u64,
    }

    impl TableMemory for Pool {
        fn entries(&mut self, pa: u64) -> &mut [u64; ENTRIES] {
            self.tables.get_mut(&pa).unwrap()
        }
        fn alloc_table(&mut self) -> Option<u64> {
            let pa = self.next;
            self.next += PAGE_SIZE;
            self.tables.insert(pa, Box::new([0; ENTRIES]));
            Some(pa)
        }
    }

    fn image(start: u64) -> ImageLayout {
        ImageLayout {
            start,
            text_end: start + 0x5000,
            rodata_end: start + 0x8000,
            stack_guard: start + 0x1_0000,
            end: start + 0x2_3000,
        }
    }

    #[test]
    fn the_image_maps_at_kernel_base_wherever_it_was_loaded() {
        for start in [0x4020_0000, 0x4040_0000, 0x80_0000_1000] {
            let img = image(start);
            let mut pool = Pool { tables: HashMap::new(), next: 0x1000_0000 };
            let roots = build(&mut pool, &img, None).unwrap();
            let t = |pool: &mut Pool, va| translate(pool, roots.ttbr1, va);
            assert_eq!(t(&mut pool, KERNEL_BASE), Some((start, Attrs::KERNEL_TEXT)));
            assert_eq!(t(&mut pool, KERNEL_BASE + 0x5000), Some((start + 0x5000, Attrs::KERNEL_RO)));
            assert_eq!(t(&mut pool, KERNEL_BASE + 0x2_2FF8), Some((start + 0x2_2FF8, Attrs::KERNEL_RW)));
            assert_eq!(t(&mut pool, KERNEL_BASE + 0x2_3000), None);
            assert_eq!(t(&mut pool, KERNEL_BASE + 0x1_0000), None, "the stack guard page");
            assert_eq!(t(&mut pool, KERNEL_BASE + 0x0_FFF8).map(|t| t.0), Some(start + 0xFFF8));
            assert_eq!(t(&mut pool, KERNEL_BASE + 0x1_1000).map(|t| t.0), Some(start + 0x1_1000));
            // The identity map covers the text only, so the jump up can be fetched.
            assert_eq!(translate(&mut pool, roots.ttbr0, start + 0x40).map(|t| t.0), Some(start + 0x40));
            assert_eq!(translate(&mut pool, roots.ttbr0, start + 0x5000), None);
        }
    }

    #[test]
    fn the_device_tree_appears_in_its_window_at_its_page_offset() {
        let img = image(0x4020_0000);
        let mut pool = Pool { tables: HashMap::new(), next: 0x1000_0000 };
        let fdt = fdt_extent(0x4800_0008, 0xD00D_FEED, 0x1_0000);
        let roots = build(&mut pool, &img, fdt).unwrap();
        assert_eq!(translate(&mut pool, roots.ttbr1, FDT_WINDOW + 8), Some((0x4800_0008, Attrs::KERNEL_RO)));
        assert_eq!(translate(&mut pool, roots.ttbr1, FDT_WINDOW + 0x1_0007).map(|t| t.0), Some(0x4801_0007));
    }

    #[test]
    fn unusable_device_trees_are_not_mapped() {
        assert_eq!(fdt_extent(0, 0xD00D_FEED, 0x1000), None, "no DTB (an ELF booted by QEMU)");
        assert_eq!(fdt_extent(0x4800_0004, 0xD00D_FEED, 0x1000), None, "misaligned");
        assert_eq!(fdt_extent(0x4800_0000, 0x1234_5678, 0x1000), None, "bad magic");
        assert_eq!(fdt_extent(0x4800_0000, 0xD00D_FEED, 3 << 20), None, "larger than 2 MiB");
        assert_eq!(fdt_extent(0x4800_0000, 0xD00D_FEED, 8), None, "smaller than a header");
        assert_eq!(fdt_extent(0x4800_0000, 0xD00D_FEED, 0x1000), Some((0x4800_0000, 0x1000)));
    }
}
