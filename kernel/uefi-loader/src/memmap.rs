// SPDX-License-Identifier: MIT OR Apache-2.0
//! The UEFI memory map: its descriptors, where the Image can go, what the kernel must keep.
//!
//! `GetMemoryMap` fills a buffer with descriptors whose size the firmware chooses
//! (`DescriptorSize`, 48 bytes on EDK2, never less than the 40 of the spec's struct), so
//! the map is walked as bytes with that stride rather than as a Rust slice of structs.
//!
//! After `ExitBootServices` the kernel owns all RAM except what the firmware still uses:
//! runtime services code and data, ACPI tables and NVS, reserved and unusable memory,
//! PAL code and persistent memory. The device tree EDK2 passes (`-M virt,acpi=off`) does
//! not list those ranges, so [`firmware_reservations`] collects them for `/memreserve/`.
//!
//! With ACPI (`-M virt` without `acpi=off`) EDK2 passes no device tree at all, and the
//! memory map is the only description of RAM outside an SRAT (which QEMU builds only
//! with `-numa`). [`ram`] collects it for the loader's `/memory` nodes: every range
//! the CPU can map cacheable (`EFI_MEMORY_WB`, `WT` or `WC`, the rule Linux's arm64 EFI
//! code uses for "is memory"), whatever its type; what the firmware keeps of it is
//! reserved as above, as a device tree's memory nodes cover RAM as a whole.
//!
//! # References
//! - UEFI 2.10, 7.2 "Memory Allocation Services": `EFI_MEMORY_DESCRIPTOR`, `EFI_MEMORY_TYPE`
//!   and table 7.6 "Memory Type Usage after ExitBootServices()".
#![forbid(unsafe_code)]

use crate::image::{self, ImageHeader};

/// Bytes of `EFI_MEMORY_DESCRIPTOR` as the spec declares it; the firmware's stride may be
/// larger.
pub const DESCRIPTOR_MIN: usize = 40;

/// UEFI pages are 4 KiB whatever the CPU's granule.
pub const PAGE_SIZE: u64 = 4096;

/// `EFI_MEMORY_TYPE` values this loader cares about (UEFI 2.10 table 7.5).
pub mod kind {
    /// `EfiReservedMemoryType`.
    pub const RESERVED: u32 = 0;
    /// `EfiLoaderData`: what this loader allocates for the Image, initrd and DTB.
    pub const LOADER_DATA: u32 = 2;
    /// `EfiRuntimeServicesCode`.
    pub const RUNTIME_CODE: u32 = 5;
    /// `EfiRuntimeServicesData`.
    pub const RUNTIME_DATA: u32 = 6;
    /// `EfiConventionalMemory`: free.
    pub const CONVENTIONAL: u32 = 7;
    /// `EfiUnusableMemory`: RAM with errors.
    pub const UNUSABLE: u32 = 8;
    /// `EfiACPIReclaimMemory`: the ACPI tables.
    pub const ACPI_RECLAIM: u32 = 9;
    /// `EfiACPIMemoryNVS`.
    pub const ACPI_NVS: u32 = 10;
    /// `EfiPalCode`.
    pub const PAL_CODE: u32 = 13;
    /// `EfiPersistentMemory`.
    pub const PERSISTENT: u32 = 14;
}

/// One descriptor, the fields the loader reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptor {
    /// `Type`.
    pub kind: u32,
    /// `PhysicalStart` (4 KiB-aligned).
    pub start: u64,
    /// `NumberOfPages` (4 KiB pages).
    pub pages: u64,
    /// `Attribute`: the cacheability bits ([`attribute`]) and others.
    pub attribute: u64,
}

/// `EFI_MEMORY_*` attribute bits (UEFI 2.10, 7.2 `GetMemoryMap`).
pub mod attribute {
    /// Write-combining.
    pub const WC: u64 = 0x2;
    /// Write-through.
    pub const WT: u64 = 0x4;
    /// Write-back: ordinary RAM.
    pub const WB: u64 = 0x8;
}

impl Descriptor {
    /// The end of the range (exclusive), saturating on a corrupt page count.
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.pages.saturating_mul(PAGE_SIZE))
    }

    /// Whether this is RAM (mappable cacheable), whoever owns it.
    pub fn is_ram(&self) -> bool {
        self.attribute & (attribute::WB | attribute::WT | attribute::WC) != 0
    }

    /// Whether the kernel must leave this range alone after `ExitBootServices`.
    pub fn stays_with_firmware(&self) -> bool {
        use kind::*;
        matches!(
            self.kind,
            RESERVED
                | RUNTIME_CODE
                | RUNTIME_DATA
                | UNUSABLE
                | ACPI_RECLAIM
                | ACPI_NVS
                | PAL_CODE
                | PERSISTENT
        )
    }
}

/// Why a memory map cannot be read or used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// `DescriptorSize` below the spec's 40 bytes.
    DescriptorTooSmall { size: usize },
    /// More firmware ranges (after merging) than fit the reservation list.
    TooManyReservations { limit: usize },
    /// More separate RAM ranges (after merging) than fit the memory list.
    TooManyRamRanges { limit: usize },
}

/// The descriptors of a map of `map.len()` bytes written with stride `descriptor_size`
/// (a trailing partial descriptor is ignored).
pub fn descriptors(
    map: &[u8],
    descriptor_size: usize,
) -> Result<impl Iterator<Item = Descriptor> + '_, MapError> {
    if descriptor_size < DESCRIPTOR_MIN {
        return Err(MapError::DescriptorTooSmall { size: descriptor_size });
    }
    Ok(map.chunks_exact(descriptor_size).map(|d| {
        let word = |at: usize| u64::from_le_bytes(d[at..at + 8].try_into().unwrap_or([0; 8]));
        // Layout: Type u32, 4 bytes padding, PhysicalStart, VirtualStart, NumberOfPages,
        // Attribute (all u64).
        Descriptor {
            kind: u32::from_le_bytes([d[0], d[1], d[2], d[3]]),
            start: word(8),
            pages: word(24),
            attribute: word(32),
        }
    }))
}

/// A physical range `[base, base + size)`. `repr(C)`: the kernel-entry code reads
/// arrays of them as (base, size) pairs.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Range {
    /// First byte.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

impl Range {
    fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }
}

/// Collects the ranges that stay with the firmware into `out`, sorted by address, with
/// touching and overlapping ranges merged; returns how many. Fails rather than drop one.
pub fn firmware_reservations(
    descriptors: impl Iterator<Item = Descriptor>,
    out: &mut [Range],
) -> Result<usize, MapError> {
    let limit = out.len();
    collect(descriptors.filter(Descriptor::stays_with_firmware), out)
        .ok_or(MapError::TooManyReservations { limit })
}

/// Collects the RAM ([`Descriptor::is_ram`]) into `out`, sorted by address, touching
/// ranges merged; returns how many. Fails rather than drop one.
pub fn ram(descriptors: impl Iterator<Item = Descriptor>, out: &mut [Range]) -> Result<usize, MapError> {
    let limit = out.len();
    collect(descriptors.filter(Descriptor::is_ram), out).ok_or(MapError::TooManyRamRanges { limit })
}

/// The ranges of `descriptors` into `out`, sorted, touching and overlapping ranges
/// merged; `None` when they do not fit.
fn collect(descriptors: impl Iterator<Item = Descriptor>, out: &mut [Range]) -> Option<usize> {
    let mut n = 0;
    for d in descriptors.filter(|d| d.pages > 0) {
        let r = Range { base: d.start, size: d.end() - d.start };
        // Keep the list sorted: `at` is where `r` goes. A range that touches a neighbour
        // widens it (even when the list is full); any other is inserted.
        let at = out[..n].iter().position(|x| x.base > r.base).unwrap_or(n);
        let widen = |x: &mut Range| {
            let (lo, hi) = (x.base.min(r.base), x.end().max(r.end()));
            *x = Range { base: lo, size: hi - lo };
        };
        if at > 0 && out[at - 1].end() >= r.base {
            widen(&mut out[at - 1]);
        } else if at < n && r.end() >= out[at].base {
            widen(&mut out[at]);
        } else if n == out.len() {
            return None;
        } else {
            out.copy_within(at..n, at + 1);
            out[at] = r;
            n += 1;
        }
        // A widened range may now reach its other neighbour.
        n = merge_sorted(&mut out[..n]);
    }
    Some(n)
}

/// Merges touching or overlapping neighbours of a sorted list in place; returns the new
/// length.
fn merge_sorted(list: &mut [Range]) -> usize {
    if list.is_empty() {
        return 0;
    }
    let mut w = 0;
    for i in 1..list.len() {
        if list[i].base <= list[w].end() {
            let end = list[w].end().max(list[i].end());
            list[w].size = end - list[w].base;
        } else {
            w += 1;
            list[w] = list[i];
        }
    }
    w + 1
}

/// The lowest address in free memory where the Image can be loaded (see
/// [`image::load_address_in`]), as close to the start of RAM as QEMU's own loader puts it.
pub fn lowest_load_address(
    descriptors: impl Iterator<Item = Descriptor>,
    header: &ImageHeader,
) -> Option<u64> {
    descriptors
        .filter(|d| d.kind == kind::CONVENTIONAL)
        .filter_map(|d| image::load_address_in(d.start, d.end(), header))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A map as EDK2 writes it: 48-byte descriptors, all RAM (attributes UC to WB).
    fn map(entries: &[(u32, u64, u64)]) -> Vec<u8> {
        let with_attributes: Vec<_> = entries.iter().map(|&(k, s, p)| (k, s, p, 0xF)).collect();
        map_with(&with_attributes)
    }

    /// [`map`] with each descriptor's `Attribute`.
    fn map_with(entries: &[(u32, u64, u64, u64)]) -> Vec<u8> {
        let mut m = Vec::new();
        for &(kind, start, pages, attribute) in entries {
            let mut d = [0u8; 48];
            d[0..4].copy_from_slice(&kind.to_le_bytes());
            d[8..16].copy_from_slice(&start.to_le_bytes());
            d[16..24].copy_from_slice(&0xdead_u64.to_le_bytes()); // VirtualStart: ignored
            d[24..32].copy_from_slice(&pages.to_le_bytes());
            d[32..40].copy_from_slice(&attribute.to_le_bytes());
            m.extend_from_slice(&d);
        }
        m
    }

    #[test]
    fn descriptors_are_read_with_the_firmwares_stride() {
        let m = map(&[(kind::CONVENTIONAL, 0x4000_0000, 16), (kind::RUNTIME_CODE, 0x4001_0000, 2)]);
        let d: Vec<_> = descriptors(&m, 48).unwrap().collect();
        let runtime = Descriptor { kind: kind::RUNTIME_CODE, start: 0x4001_0000, pages: 2, attribute: 0xF };
        assert_eq!(d[1], runtime);
        assert_eq!(d[0].end(), 0x4001_0000);
        assert_eq!(descriptors(&m, 24).err(), Some(MapError::DescriptorTooSmall { size: 24 }));
    }

    #[test]
    fn only_firmware_owned_ranges_are_reserved_sorted_and_merged() {
        let m = map(&[
            (kind::CONVENTIONAL, 0x4000_0000, 0x100),
            (kind::RUNTIME_DATA, 0x7f00_2000, 1),
            (kind::RUNTIME_CODE, 0x7f00_0000, 2), // touches the next: merged
            (4, 0x7f10_0000, 4),                  // boot services data: free after exit
            (kind::ACPI_RECLAIM, 0x7e00_0000, 1),
            (kind::LOADER_DATA, 0x4800_0000, 8), // ours: the kernel reserves what it needs
            (11, 0x0900_0000, 1),                // MMIO: not RAM
            (kind::RESERVED, 0x7f00_1000, 1),    // overlaps: merged
        ]);
        let mut out = [Range::default(); 8];
        let n = firmware_reservations(descriptors(&m, 48).unwrap(), &mut out).unwrap();
        assert_eq!(
            &out[..n],
            [Range { base: 0x7e00_0000, size: 0x1000 }, Range { base: 0x7f00_0000, size: 0x3000 }]
        );
    }

    #[test]
    fn too_many_separate_ranges_are_an_error_not_a_silent_drop() {
        let entries: Vec<_> = (0..5).map(|i| (kind::RUNTIME_DATA, 0x1000_0000 * (i + 1), 1)).collect();
        let m = map(&entries);
        let mut out = [Range::default(); 4];
        assert_eq!(
            firmware_reservations(descriptors(&m, 48).unwrap(), &mut out),
            Err(MapError::TooManyReservations { limit: 4 })
        );
        // A full list still takes a range that merges into a neighbour.
        let mut entries: Vec<_> = (0..4).map(|i| (kind::RUNTIME_DATA, 0x1000_0000 * (i + 1), 1)).collect();
        entries.push((kind::RUNTIME_CODE, 0x1000_1000, 1));
        let m = map(&entries);
        let n = firmware_reservations(descriptors(&m, 48).unwrap(), &mut out).unwrap();
        assert_eq!(n, 4);
        assert_eq!(out[0], Range { base: 0x1000_0000, size: 0x2000 });
    }

    #[test]
    fn ram_is_every_cacheable_range_whatever_its_type_sorted_and_merged() {
        const UC: u64 = 0x1;
        const RUNTIME: u64 = 1 << 63;
        let m = map_with(&[
            (kind::CONVENTIONAL, 0x4100_0000, 0x1000, UC | attribute::WB),
            (kind::RUNTIME_DATA, 0x4000_0000, 0x800, UC | attribute::WB | RUNTIME),
            (kind::ACPI_RECLAIM, 0x4080_0000, 0x800, UC | attribute::WB), // touches both
            (11, 0x0900_0000, 1, UC | RUNTIME),                           // MMIO: not RAM
            (kind::CONVENTIONAL, 0x1_0000_0000, 0x100, attribute::WT),
        ]);
        let mut out = [Range::default(); 4];
        let n = ram(descriptors(&m, 48).unwrap(), &mut out).unwrap();
        assert_eq!(
            &out[..n],
            [Range { base: 0x4000_0000, size: 0x200_0000 }, Range { base: 0x1_0000_0000, size: 0x10_0000 }]
        );
        let mut one = [Range::default(); 1];
        assert_eq!(ram(descriptors(&m, 48).unwrap(), &mut one), Err(MapError::TooManyRamRanges { limit: 1 }));
    }

    #[test]
    fn the_image_goes_to_the_lowest_free_2mib_boundary() {
        let h = ImageHeader { text_offset: 0, footprint: 0x40_0000 };
        let m = map(&[
            (kind::CONVENTIONAL, 0x7000_0000, 0x1000),
            (kind::CONVENTIONAL, 0x4000_0000, 0x100), // 1 MiB: too small
            (kind::CONVENTIONAL, 0x4010_0000, 0x1000),
            (kind::RUNTIME_CODE, 0x4040_0000, 0x10000), // not free
        ]);
        assert_eq!(lowest_load_address(descriptors(&m, 48).unwrap(), &h), Some(0x4020_0000));
        let none = map(&[(kind::CONVENTIONAL, 0x4000_0000, 0x100)]);
        assert_eq!(lowest_load_address(descriptors(&none, 48).unwrap(), &h), None);
    }
}
