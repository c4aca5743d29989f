// SPDX-License-Identifier: MIT OR Apache-2.0
//! `EFI_GUID`s: how they sit in memory, and the ones this loader looks up.
//!
//! A GUID is written `aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee`, but stored as a
//! little-endian u32, two little-endian u16s and eight bytes in order (UEFI 2.10
//! appendix A), so the text form cannot be compared byte by byte with what the
//! firmware holds. [`Guid::new`] takes the fields as the spec prints them.
#![forbid(unsafe_code)]

/// An `EFI_GUID`, laid out as the firmware stores it.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guid {
    data1: u32,
    data2: u16,
    data3: u16,
    data4: [u8; 8],
}

impl Guid {
    /// The GUID `d1-d2-d3-d4[0..2]-d4[2..8]`.
    pub const fn new(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Guid {
        Guid { data1: d1, data2: d2, data3: d3, data4: d4 }
    }

    /// The 16 bytes as they are in memory.
    #[cfg(test)]
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0; 16];
        b[0..4].copy_from_slice(&self.data1.to_le_bytes());
        b[4..6].copy_from_slice(&self.data2.to_le_bytes());
        b[6..8].copy_from_slice(&self.data3.to_le_bytes());
        b[8..16].copy_from_slice(&self.data4);
        b
    }
}

/// The flattened device tree in the configuration table (`EFI_DTB_TABLE_GUID`, UEFI 2.10
/// 4.6.1.3 "Devicetree Tables").
pub const DEVICE_TREE: Guid =
    Guid::new(0xb1b6_21d5, 0xf19c, 0x41a5, [0x83, 0x0b, 0xd9, 0x15, 0x2c, 0x69, 0xaa, 0xe0]);

/// The ACPI 2.0+ RSDP in the configuration table (`EFI_ACPI_20_TABLE_GUID`, UEFI 2.10 4.6.1.1).
pub const ACPI_20: Guid =
    Guid::new(0x8868_e871, 0xe4f1, 0x11d3, [0xbc, 0x22, 0x00, 0x80, 0xc7, 0x3c, 0x88, 0x81]);

/// `EFI_LOADED_IMAGE_PROTOCOL_GUID` (UEFI 2.10 9.1).
pub const LOADED_IMAGE: Guid =
    Guid::new(0x5b1b_31a1, 0x9562, 0x11d2, [0x8e, 0x3f, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b]);

/// `EFI_SIMPLE_FILE_SYSTEM_PROTOCOL_GUID` (UEFI 2.10 13.4).
pub const SIMPLE_FILE_SYSTEM: Guid =
    Guid::new(0x964e_5b22, 0x6459, 0x11d2, [0x8e, 0x39, 0x00, 0xa0, 0xc9, 0x69, 0x72, 0x3b]);

/// The first configuration-table entry whose GUID is `want`: its table pointer.
pub fn find_table<T: Copy>(entries: impl IntoIterator<Item = (Guid, T)>, want: Guid) -> Option<T> {
    entries.into_iter().find(|(g, _)| *g == want).map(|(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_tree_guid_is_stored_with_little_endian_leading_fields() {
        assert_eq!(
            DEVICE_TREE.to_bytes(),
            [0xd5, 0x21, 0xb6, 0xb1, 0x9c, 0xf1, 0xa5, 0x41, 0x83, 0x0b, 0xd9, 0x15, 0x2c, 0x69, 0xaa, 0xe0]
        );
        assert_eq!(core::mem::size_of::<Guid>(), 16);
    }

    #[test]
    fn tables_are_found_by_guid_and_only_by_guid() {
        let table = [(ACPI_20, 0x1000u64), (DEVICE_TREE, 0x2000), (DEVICE_TREE, 0x3000)];
        assert_eq!(find_table(table, DEVICE_TREE), Some(0x2000));
        assert_eq!(find_table(table, ACPI_20), Some(0x1000));
        assert_eq!(find_table(table, LOADED_IMAGE), None);
    }
}
