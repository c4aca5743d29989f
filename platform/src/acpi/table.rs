// SPDX-License-Identifier: MIT OR Apache-2.0
//! Finding and checking the tables: the RSDP, the XSDT, and every table's header.
//!
//! ACPI tables are a linked structure in physical memory: the firmware hands over the
//! address of the RSDP, the RSDP holds the address of the XSDT, and the XSDT lists the
//! address of every other table. Each table starts with the same 36-byte header:
//!
//! ```text
//!  0 Signature[4]  4 Length u32  8 Revision u8  9 Checksum u8  10 OEMID[6]
//! 16 OEM Table ID[8]  24 OEM Revision u32  28 Creator ID u32  32 Creator Revision u32
//! ```
//!
//! Nothing here trusts a byte before checking it: every read goes through
//! [`AcpiMemory::bytes`], which returns `None` rather than reading outside what the
//! kernel mapped; every length is checked against its minimum and against the memory;
//! every checksum is verified before a table's contents are looked at. Readers of a
//! checked table ([`Table::u32`] and friends) return `Option`, so even a table that
//! lies about a structure's size cannot make the parser index out of bounds.
//!
//! # References
//!
//! - ACPI 6.5, 5.2.5 (RSDP: signature, checksums, revision 2 and the XSDT address),
//!   5.2.6 (system description table header), 5.2.8 (XSDT).
#![forbid(unsafe_code)]

use crate::acpi::error::{AcpiError, AcpiErrorKind, AcpiWarning, Signature};

/// Physical memory as the parser sees it: the kernel implements it over its direct
/// map, host tests over byte vectors.
pub trait AcpiMemory {
    /// The `len` bytes at physical address `address`, or `None` when any of them is
    /// outside the memory this reader can show. Must never panic.
    fn bytes(&self, address: u64, len: usize) -> Option<&[u8]>;
}

/// One contiguous piece of physical memory: `bytes` are the bytes at `base`.
///
/// A slice of windows is itself an [`AcpiMemory`] (a read must fall inside one
/// window), which is what host tests and the fixtures use; a kernel with the ACPI
/// tables inside one mapped region can use a single window.
#[derive(Clone, Copy, Debug)]
pub struct MemoryWindow<'m> {
    /// Physical address of `bytes[0]`.
    pub base: u64,
    /// The contents.
    pub bytes: &'m [u8],
}

impl AcpiMemory for MemoryWindow<'_> {
    fn bytes(&self, address: u64, len: usize) -> Option<&[u8]> {
        let start = usize::try_from(address.checked_sub(self.base)?).ok()?;
        self.bytes.get(start..start.checked_add(len)?)
    }
}

impl AcpiMemory for [MemoryWindow<'_>] {
    fn bytes(&self, address: u64, len: usize) -> Option<&[u8]> {
        self.iter().find_map(|w| AcpiMemory::bytes(w, address, len))
    }
}

/// Length of the common table header.
pub(crate) const HEADER_LEN: usize = 36;
/// Length of an ACPI 2.0+ RSDP.
const RSDP_LEN: usize = 36;
/// Bytes covered by the ACPI 1.0 RSDP checksum.
const RSDP_V1_LEN: usize = 20;

/// Little-endian reads that return `None` past the end of `b`.
pub(crate) fn u8_at(b: &[u8], off: usize) -> Option<u8> {
    b.get(off).copied()
}

/// See [`u8_at`].
pub(crate) fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(off..off.checked_add(2)?)?.try_into().ok()?))
}

/// See [`u8_at`].
pub(crate) fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off.checked_add(4)?)?.try_into().ok()?))
}

/// See [`u8_at`].
pub(crate) fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off.checked_add(8)?)?.try_into().ok()?))
}

fn sum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b))
}

/// A table whose header, length and checksum have been checked: `bytes` is exactly
/// the table (`Length` bytes, header included).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Table<'m> {
    pub signature: Signature,
    pub revision: u8,
    pub bytes: &'m [u8],
}

impl<'m> Table<'m> {
    /// Reads and checks the table at `address`: readable header, `Length >= min_len`,
    /// readable `Length` bytes, checksum zero.
    pub fn read<M: AcpiMemory + ?Sized>(
        mem: &'m M,
        address: u64,
        signature: Signature,
        min_len: usize,
    ) -> Result<Table<'m>, AcpiError> {
        let unreadable =
            |len: usize| AcpiError::new(signature, AcpiErrorKind::Unreadable { address, len: len as u64 });
        let header = mem.bytes(address, HEADER_LEN).ok_or(unreadable(HEADER_LEN))?;
        let length = u32_at(header, 4).unwrap_or(0);
        let revision = u8_at(header, 8).unwrap_or(0);
        if (length as usize) < min_len.max(HEADER_LEN) {
            let min = min_len.max(HEADER_LEN) as u32;
            return Err(AcpiError::new(signature, AcpiErrorKind::BadLength { length, min }));
        }
        let bytes = mem.bytes(address, length as usize).ok_or(unreadable(length as usize))?;
        match sum(bytes) {
            0 => Ok(Table { signature, revision, bytes }),
            s => Err(AcpiError::new(signature, AcpiErrorKind::BadChecksum { sum: s })),
        }
    }

    /// Refuses revisions below `min`; warns about revisions above `newest` (read as
    /// `newest`: later revisions only append).
    pub fn check_revision(
        &self,
        min: u8,
        newest: u8,
        warn: &mut dyn FnMut(AcpiWarning),
    ) -> Result<(), AcpiError> {
        if self.revision < min {
            let kind = AcpiErrorKind::RevisionTooOld { revision: self.revision, min };
            return Err(AcpiError::new(self.signature, kind));
        }
        if self.revision > newest {
            warn(AcpiWarning::NewerRevision { table: self.signature, revision: self.revision });
        }
        Ok(())
    }

    /// Refuses the table when it is shorter than `min` bytes (the fixed fields its
    /// revision has).
    pub fn need_len(&self, min: usize) -> Result<(), AcpiError> {
        if self.bytes.len() < min {
            let kind = AcpiErrorKind::BadLength { length: self.bytes.len() as u32, min: min as u32 };
            return Err(AcpiError::new(self.signature, kind));
        }
        Ok(())
    }

    pub fn u8(&self, off: usize) -> Option<u8> {
        u8_at(self.bytes, off)
    }

    pub fn u16(&self, off: usize) -> Option<u16> {
        u16_at(self.bytes, off)
    }

    pub fn u32(&self, off: usize) -> Option<u32> {
        u32_at(self.bytes, off)
    }

    pub fn u64(&self, off: usize) -> Option<u64> {
        u64_at(self.bytes, off)
    }

    /// The `type, length`-prefixed structures from `start` to the end (MADT, SRAT and
    /// PPTT all use a one-byte type and a one-byte length).
    pub fn structures(&self, start: usize) -> Structures<'m> {
        Structures { signature: self.signature, bytes: self.bytes, offset: start }
    }
}

/// One structure of a table: its offset in the table, its type, and its bytes
/// (`length` of them, the type and length bytes included).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Structure<'m> {
    pub offset: usize,
    pub kind: u8,
    pub bytes: &'m [u8],
}

impl Structure<'_> {
    /// Refuses the structure when it is shorter than `min` bytes.
    pub fn need(&self, signature: Signature, min: usize) -> Result<(), AcpiError> {
        if self.bytes.len() < min {
            let kind = AcpiErrorKind::BadStructure { kind: self.kind, length: self.bytes.len() as u8 };
            return Err(AcpiError::at(signature, self.offset, kind));
        }
        Ok(())
    }

    pub fn u8(&self, off: usize) -> Option<u8> {
        u8_at(self.bytes, off)
    }

    pub fn u32(&self, off: usize) -> Option<u32> {
        u32_at(self.bytes, off)
    }

    pub fn u64(&self, off: usize) -> Option<u64> {
        u64_at(self.bytes, off)
    }
}

/// Iterates [`Structure`]s; a length below 2 or past the table's end is an error,
/// after which the iterator ends (a bad length leaves no way to find the next one).
#[derive(Clone)]
pub(crate) struct Structures<'m> {
    signature: Signature,
    bytes: &'m [u8],
    offset: usize,
}

impl<'m> Iterator for Structures<'m> {
    type Item = Result<Structure<'m>, AcpiError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.offset >= self.bytes.len() {
            return None;
        }
        let offset = self.offset;
        let kind = u8_at(self.bytes, offset).unwrap_or(0);
        let length = u8_at(self.bytes, offset + 1).unwrap_or(0);
        let end = offset + usize::from(length);
        match self.bytes.get(offset..end) {
            Some(bytes) if length >= 2 => {
                self.offset = end;
                Some(Ok(Structure { offset, kind, bytes }))
            }
            _ => {
                self.offset = self.bytes.len();
                let err = AcpiError::at(self.signature, offset, AcpiErrorKind::BadStructure { kind, length });
                Some(Err(err))
            }
        }
    }
}

/// Reads and checks the RSDP at `address`; returns the XSDT's address.
pub(crate) fn rsdp<M: AcpiMemory + ?Sized>(mem: &M, address: u64) -> Result<u64, AcpiError> {
    let err = |kind| AcpiError::new(Signature::RSDP, kind);
    let v1 = mem
        .bytes(address, RSDP_V1_LEN)
        .ok_or(err(AcpiErrorKind::Unreadable { address, len: RSDP_V1_LEN as u64 }))?;
    if v1.get(..8) != Some(b"RSD PTR ".as_slice()) {
        let found = v1.get(..4).and_then(|s| s.try_into().ok()).map_or(Signature([0; 4]), Signature);
        return Err(err(AcpiErrorKind::BadSignature { found }));
    }
    match sum(v1) {
        0 => {}
        s => return Err(err(AcpiErrorKind::BadChecksum { sum: s })),
    }
    let revision = u8_at(v1, 15).unwrap_or(0);
    if revision < 2 {
        return Err(err(AcpiErrorKind::RsdpTooOld { revision }));
    }
    let head = mem
        .bytes(address, RSDP_LEN)
        .ok_or(err(AcpiErrorKind::Unreadable { address, len: RSDP_LEN as u64 }))?;
    let length = u32_at(head, 20).unwrap_or(0);
    if (length as usize) < RSDP_LEN {
        return Err(err(AcpiErrorKind::BadLength { length, min: RSDP_LEN as u32 }));
    }
    let all = mem
        .bytes(address, length as usize)
        .ok_or(err(AcpiErrorKind::Unreadable { address, len: u64::from(length) }))?;
    match sum(all) {
        0 => {}
        s => return Err(err(AcpiErrorKind::BadChecksum { sum: s })),
    }
    Ok(u64_at(head, 24).unwrap_or(0))
}

/// The tables this parser reads, found through the XSDT (each checked by
/// [`Table::read`], revisions not yet checked).
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct Tables<'m> {
    pub fadt: Option<Table<'m>>,
    pub madt: Option<Table<'m>>,
    pub srat: Option<Table<'m>>,
    pub slit: Option<Table<'m>>,
    pub pptt: Option<Table<'m>>,
    pub spcr: Option<Table<'m>>,
    pub gtdt: Option<Table<'m>>,
}

impl<'m> Tables<'m> {
    /// Walks RSDP -> XSDT -> tables. Every XSDT entry's header must be readable (an
    /// entry pointing outside memory is an error); only the tables read later are
    /// checked in full. A null entry is skipped with a warning.
    pub fn find<M: AcpiMemory + ?Sized>(
        mem: &'m M,
        rsdp_address: u64,
        warn: &mut dyn FnMut(AcpiWarning),
    ) -> Result<Tables<'m>, AcpiError> {
        let xsdt_address = rsdp(mem, rsdp_address)?;
        let xsdt = Table::read(mem, xsdt_address, Signature::XSDT, HEADER_LEN)?;
        let found = xsdt.bytes.get(..4).and_then(|s| s.try_into().ok()).map(Signature);
        if found != Some(Signature::XSDT) {
            let found = found.unwrap_or(Signature([0; 4]));
            return Err(AcpiError::new(Signature::XSDT, AcpiErrorKind::BadSignature { found }));
        }
        xsdt.check_revision(1, 1, warn)?;
        let entries = xsdt.bytes.len() - HEADER_LEN;
        if !entries.is_multiple_of(8) {
            let kind = AcpiErrorKind::RaggedXsdt { length: xsdt.bytes.len() as u32 };
            return Err(AcpiError::new(Signature::XSDT, kind));
        }
        let mut tables = Tables::default();
        for index in 0..entries / 8 {
            let offset = HEADER_LEN + index * 8;
            let address = xsdt.u64(offset).unwrap_or(0);
            if address == 0 {
                warn(AcpiWarning::NullXsdtEntry { index: index as u32 });
                continue;
            }
            let header = mem.bytes(address, HEADER_LEN).ok_or(AcpiError::at(
                Signature::XSDT,
                offset,
                AcpiErrorKind::Unreadable { address, len: HEADER_LEN as u64 },
            ))?;
            let Some(signature) = header.get(..4).and_then(|s| s.try_into().ok()).map(Signature) else {
                continue;
            };
            let slot = match signature {
                Signature::FADT => &mut tables.fadt,
                Signature::MADT => &mut tables.madt,
                Signature::SRAT => &mut tables.srat,
                Signature::SLIT => &mut tables.slit,
                Signature::PPTT => &mut tables.pptt,
                Signature::SPCR => &mut tables.spcr,
                Signature::GTDT => &mut tables.gtdt,
                _ => continue,
            };
            if slot.is_some() {
                return Err(AcpiError::at(signature, offset, AcpiErrorKind::DuplicateTable));
            }
            *slot = Some(Table::read(mem, address, signature, HEADER_LEN)?);
        }
        Ok(tables)
    }
}

/// The table with `signature`, found leniently: the RSDP and XSDT must be sound, the
/// table itself must pass [`Table::read`], nothing else is looked at. For printing an
/// error on the console when the full parse failed.
pub(crate) fn find_one<M: AcpiMemory + ?Sized>(
    mem: &M,
    rsdp_address: u64,
    signature: Signature,
) -> Option<Table<'_>> {
    let xsdt = Table::read(mem, rsdp(mem, rsdp_address).ok()?, Signature::XSDT, HEADER_LEN).ok()?;
    let entries = xsdt.bytes.get(HEADER_LEN..)?;
    entries.chunks_exact(8).filter_map(|e| u64_at(e, 0)).find_map(|address| {
        let header = mem.bytes(address, 4)?;
        (header == signature.0.as_slice()).then(|| Table::read(mem, address, signature, HEADER_LEN).ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_are_none() {
        let b = [1u8, 2, 3];
        assert_eq!(u16_at(&b, 1), Some(0x0302));
        assert_eq!(u16_at(&b, 2), None);
        assert_eq!(u32_at(&b, usize::MAX), None);
        assert_eq!(u64_at(&b, 0), None);
    }

    #[test]
    fn windows_show_only_their_own_bytes() {
        let a = [0u8; 16];
        let b = [1u8; 16];
        let mem = [MemoryWindow { base: 0x1000, bytes: &a }, MemoryWindow { base: 0x2000, bytes: &b }];
        let mem: &[MemoryWindow<'_>] = &mem;
        assert_eq!(mem.bytes(0x1000, 16).map(<[u8]>::len), Some(16));
        assert_eq!(mem.bytes(0x2008, 8), Some(&b[8..]));
        assert_eq!(mem.bytes(0x1008, 16), None); // runs past the window
        assert_eq!(mem.bytes(0x0fff, 1), None);
        assert_eq!(mem.bytes(u64::MAX, 2), None);
        assert_eq!(mem.bytes(0x2000, usize::MAX), None);
    }

    #[test]
    fn a_structure_with_length_below_two_ends_the_walk_with_an_error() {
        let mut bytes = [0u8; 40];
        bytes[HEADER_LEN] = 7;
        bytes[HEADER_LEN + 1] = 1;
        let t = Table { signature: Signature::MADT, revision: 4, bytes: &bytes };
        let mut it = t.structures(HEADER_LEN);
        let e = it.next().unwrap().unwrap_err();
        assert_eq!(e.kind(), AcpiErrorKind::BadStructure { kind: 7, length: 1 });
        assert_eq!(e.offset(), Some(36));
        assert!(it.next().is_none());
    }
}
