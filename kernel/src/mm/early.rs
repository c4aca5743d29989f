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

/// The DTB header's first ten big-endian words, as the boot code read them (with the
/// MMU off: aligned 32-bit loads), converted to native order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FdtHeader(pub [u32; 10]);

impl FdtHeader {
    const MAGIC: u32 = 0xD00D_FEED;

    /// The bytes the blob's blocks use, which may be far fewer than its `totalsize`: a
    /// loader may leave free space at the end for its own edits (QEMU's `-dtb` declares
    /// twice the file's size plus slack, so a 1 MiB tree dumped by QEMU comes back with
    /// a `totalsize` above 2 MiB). The used part ends with the last of the structure and
    /// strings blocks; the memory reservation map lies before the structure block in
    /// every blob dtc, libfdt or QEMU writes. For a v16 header (no structure size) or
    /// any other layout, the answer is `totalsize`.
    pub fn used(&self) -> u64 {
        let [_, totalsize, off_struct, off_strings, off_rsvmap, version, _, _, size_strings, size_struct] =
            self.0;
        let total = u64::from(totalsize);
        if version < 17 || off_rsvmap > off_struct {
            return total;
        }
        let struct_end = u64::from(off_struct) + u64::from(size_struct);
        let strings_end = u64::from(off_strings) + u64::from(size_strings);
        struct_end.max(strings_end).min(total)
    }
}

/// Where the device tree at `dtb_pa` is and how many bytes of it to map, from its
/// `header`: the used part ([`FdtHeader::used`]), not the declared size. A blob that is
/// absent, unaligned, not a DTB or uses more than the window holds is not mapped, and
/// the kernel cannot know its console: the one stop that stays silent (see `boot.rs`).
pub fn fdt_extent(dtb_pa: u64, header: &FdtHeader) -> Option<(u64, u64)> {
    let size = header.used();
    let in_page = dtb_pa % PAGE_SIZE;
    if dtb_pa == 0
        || !dtb_pa.is_multiple_of(8)
        || header.0[0] != FdtHeader::MAGIC
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

    /// A v17 header: `totalsize`, structure block at 0x40 of `size_struct` bytes,
    /// strings right after it, reservation map at 0x28.
    fn header(totalsize: u32, size_struct: u32, size_strings: u32) -> FdtHeader {
        let off_strings = 0x40 + size_struct;
        FdtHeader([0xD00D_FEED, totalsize, 0x40, off_strings, 0x28, 17, 16, 0, size_strings, size_struct])
    }

    #[test]
    fn the_device_tree_appears_in_its_window_at_its_page_offset() {
        let img = image(0x4020_0000);
        let mut pool = Pool { tables: HashMap::new(), next: 0x1000_0000 };
        let fdt = fdt_extent(0x4800_0008, &header(0x1_0000, 0xF000, 0xFC0));
        let roots = build(&mut pool, &img, fdt).unwrap();
        assert_eq!(translate(&mut pool, roots.ttbr1, FDT_WINDOW + 8), Some((0x4800_0008, Attrs::KERNEL_RO)));
        assert_eq!(translate(&mut pool, roots.ttbr1, FDT_WINDOW + 0x1_0007).map(|t| t.0), Some(0x4801_0007));
    }

    #[test]
    fn unusable_device_trees_are_not_mapped() {
        let good = header(0x1000, 0x800, 0x100);
        let mut bad_magic = good;
        bad_magic.0[0] = 0x1234_5678;
        assert_eq!(fdt_extent(0, &good), None, "no DTB (an ELF booted by QEMU)");
        assert_eq!(fdt_extent(0x4800_0004, &good), None, "misaligned");
        assert_eq!(fdt_extent(0x4800_0000, &bad_magic), None, "bad magic");
        assert_eq!(fdt_extent(0x4800_0000, &header(3 << 20, 0x28_0000, 0x100)), None, "uses more than 2 MiB");
        assert_eq!(fdt_extent(0x4800_0000, &header(8, 0, 0)), None, "smaller than a header");
        assert_eq!(fdt_extent(0x4800_0000, &good), Some((0x4800_0000, 0x940)));
    }

    #[test]
    fn only_the_used_part_of_a_padded_tree_is_mapped() {
        // QEMU's -dtb of a 1 MiB dumped tree: totalsize 2 * (1 MiB + 10000), blocks in
        // the first 8 KiB.
        let padded = header(2 * ((1 << 20) + 10_000), 0x1800, 0x200);
        assert_eq!(padded.used(), 0x40 + 0x1800 + 0x200);
        assert_eq!(fdt_extent(0x4800_0000, &padded), Some((0x4800_0000, 0x1A40)));
        // A v16 header has no structure size: all of totalsize, as before.
        let mut v16 = padded;
        v16.0[5] = 16;
        assert_eq!(v16.used(), u64::from(padded.0[1]));
        assert_eq!(fdt_extent(0x4800_0000, &v16), None);
        // A reservation map after the blocks: not the usual layout, so totalsize.
        let mut late_rsv = header(0x1000, 0x800, 0x100);
        late_rsv.0[4] = 0x980;
        assert_eq!(late_rsv.used(), 0x1000);
    }
}
