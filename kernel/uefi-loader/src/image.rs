// SPDX-License-Identifier: MIT OR Apache-2.0
//! The arm64 Image header, and where such an Image may be placed in RAM.
//!
//! The loader starts the kernel the way QEMU's `-kernel` and U-Boot's `booti` do, so it
//! follows the same rule: the Image goes at a 2 MiB-aligned physical address plus the
//! header's `text_offset`, and the memory it needs is `image_size` bytes from there (the
//! whole footprint, `.bss` and the boot stack included, not only the file's bytes).
//!
//! # References
//! - Linux `Documentation/arch/arm64/booting.rst`, "Call the kernel image": the 64-byte
//!   header (`code0`, `code1`, `text_offset`, `image_size`, `flags`, `magic = "ARM\x64"`).
//! - `kernel/src/arch/aarch64/boot.rs`: this kernel's header.
#![forbid(unsafe_code)]

/// Bytes of the arm64 Image header.
pub const HEADER_SIZE: usize = 64;

/// The header's magic, `"ARM\x64"` read as a little-endian word.
const MAGIC: u32 = u32::from_le_bytes(*b"ARM\x64");

/// The alignment of the Image's base (the load address minus `text_offset`).
pub const IMAGE_ALIGN: u64 = 2 << 20;

/// What the loader needs from an Image header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageHeader {
    /// Offset of the Image from a 2 MiB boundary.
    pub text_offset: u64,
    /// Bytes the Image occupies once running, from its load address (at least the file).
    pub footprint: u64,
}

/// Why a file is not an Image this loader starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageError {
    /// Fewer than [`HEADER_SIZE`] bytes.
    TooShort { len: usize },
    /// No `ARM\x64` at offset 56: not an arm64 Image (an ELF, say).
    BadMagic { found: u32 },
    /// `flags` bit 0 set: a big-endian kernel.
    BigEndian,
    /// `text_offset` not a multiple of 4 KiB (pages are allocated in 4 KiB units).
    UnalignedTextOffset { text_offset: u64 },
    /// The footprint does not fit in the address space.
    TooLarge,
}

fn le64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// Reads the header at the start of `file`; `file_len` is the whole file's length (the
/// footprint is at least that, for headers that leave `image_size` at 0).
pub fn parse_header(file: &[u8], file_len: u64) -> Result<ImageHeader, ImageError> {
    if file.len() < HEADER_SIZE {
        return Err(ImageError::TooShort { len: file.len() });
    }
    let magic = u32::from_le_bytes([file[56], file[57], file[58], file[59]]);
    if magic != MAGIC {
        return Err(ImageError::BadMagic { found: magic });
    }
    let (mut text_offset, image_size, flags) = (le64(file, 8), le64(file, 16), le64(file, 24));
    // booting.rst: an `image_size` of 0 marks a pre-3.17 header, whose text_offset is
    // 0x80000 whatever the field says.
    if image_size == 0 {
        text_offset = 0x8_0000;
    }
    if flags & 1 != 0 {
        return Err(ImageError::BigEndian);
    }
    if !text_offset.is_multiple_of(4096) {
        return Err(ImageError::UnalignedTextOffset { text_offset });
    }
    let footprint = image_size.max(file_len);
    footprint.checked_add(IMAGE_ALIGN + text_offset).ok_or(ImageError::TooLarge)?;
    Ok(ImageHeader { text_offset, footprint })
}

/// The lowest load address inside the free range `[start, end)` that obeys the rule
/// (2 MiB-aligned base + `text_offset`) and leaves room for the footprint.
pub fn load_address_in(start: u64, end: u64, header: &ImageHeader) -> Option<u64> {
    let base = start.checked_next_multiple_of(IMAGE_ALIGN)?;
    let load = base.checked_add(header.text_offset)?;
    let last = load.checked_add(header.footprint)?;
    (load >= start && last <= end).then_some(load)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(text_offset: u64, image_size: u64, flags: u64) -> [u8; 64] {
        let mut h = [0u8; 64];
        h[0..4].copy_from_slice(&0x1400_0010u32.to_le_bytes()); // b +0x40
        h[8..16].copy_from_slice(&text_offset.to_le_bytes());
        h[16..24].copy_from_slice(&image_size.to_le_bytes());
        h[24..32].copy_from_slice(&flags.to_le_bytes());
        h[56..60].copy_from_slice(b"ARM\x64");
        h
    }

    #[test]
    fn this_kernels_header_gives_its_footprint() {
        let h = parse_header(&header(0, 0x30_0000, 0xA), 0x12_3456).unwrap();
        assert_eq!(h, ImageHeader { text_offset: 0, footprint: 0x30_0000 });
    }

    #[test]
    fn the_footprint_is_at_least_the_file() {
        let h = parse_header(&header(0x1000, 0x1000, 0xA), 0x5000).unwrap();
        assert_eq!(h.footprint, 0x5000);
    }

    #[test]
    fn an_old_header_without_image_size_means_text_offset_0x80000() {
        let h = parse_header(&header(0, 0, 0), 0x4000).unwrap();
        assert_eq!(h, ImageHeader { text_offset: 0x8_0000, footprint: 0x4000 });
    }

    #[test]
    fn what_is_not_a_little_endian_image_is_refused() {
        assert_eq!(parse_header(&[0; 10], 10), Err(ImageError::TooShort { len: 10 }));
        let mut elf = header(0, 0x1000, 0);
        elf[56..60].copy_from_slice(b"\x7fELF");
        assert!(matches!(parse_header(&elf, 0x1000), Err(ImageError::BadMagic { .. })));
        assert_eq!(parse_header(&header(0, 0x1000, 1), 0x1000), Err(ImageError::BigEndian));
        assert_eq!(
            parse_header(&header(0x10, 0x1000, 0), 0x1000),
            Err(ImageError::UnalignedTextOffset { text_offset: 0x10 })
        );
        assert_eq!(parse_header(&header(0, u64::MAX - 4096, 0), 1), Err(ImageError::TooLarge));
    }

    #[test]
    fn the_load_address_is_the_next_2mib_boundary_plus_text_offset() {
        let h = ImageHeader { text_offset: 0, footprint: 0x40_0000 };
        // QEMU virt's RAM starts at 0x4000_0000; firmware may hold the first pages.
        assert_eq!(load_address_in(0x4000_0000, 0x5000_0000, &h), Some(0x4000_0000));
        assert_eq!(load_address_in(0x4000_1000, 0x5000_0000, &h), Some(0x4020_0000));
        let h = ImageHeader { text_offset: 0x8_0000, footprint: 0x1000 };
        assert_eq!(load_address_in(0x4000_1000, 0x5000_0000, &h), Some(0x4028_0000));
    }

    #[test]
    fn a_range_too_small_after_alignment_has_no_load_address() {
        let h = ImageHeader { text_offset: 0, footprint: 0x20_0000 };
        assert_eq!(load_address_in(0x4000_1000, 0x4040_0000, &h), Some(0x4020_0000));
        assert_eq!(load_address_in(0x4000_1000, 0x403F_F000, &h), None);
        assert_eq!(load_address_in(u64::MAX - 0x1000, u64::MAX, &h), None);
    }
}
