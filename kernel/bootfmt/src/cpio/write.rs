// SPDX-License-Identifier: MIT OR Apache-2.0
//! A writer for newc cpio archives: what `mkinitrd` and the tests build initrds with.
//!
//! The initrd must come out byte-for-byte the same from the same inputs, so that a build
//! is reproducible and a changed archive means changed programs. So the writer takes no
//! metadata from the host: modification times are 0, owners are root, inode numbers count
//! from 1 in the order entries are added, and the caller chooses the order.
//!
//! It refuses what the reader or the kernel would trip over later: empty names, names with
//! a NUL, an entry called `TRAILER!!!`, the same name twice, and files of 4 GiB or more
//! (newc sizes are 32 bits). Only available with the `alloc` feature (host tools, tests).

#![forbid(unsafe_code)]

use super::{HEADER_LEN, MAGIC_NEWC, MAGIC_NEWC_CRC, MODE_DIRECTORY, MODE_REGULAR, TRAILER, checksum};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Which of the two newc variants to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Magic `070701`, `c_check` 0 (what Linux and `cpio -H newc` write).
    Newc,
    /// Magic `070702`, `c_check` the sum of the data bytes (`cpio -H crc`).
    NewcCrc,
}

/// Why an entry cannot be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// The name is empty.
    EmptyName,
    /// The name contains a NUL byte (newc names end at the first NUL).
    NulInName(String),
    /// The name is `TRAILER!!!`, which would end the archive early.
    ReservedName,
    /// An entry with this name was added before.
    DuplicateName(String),
    /// The file is 4 GiB or larger (or its name is): newc sizes are 32-bit.
    TooLarge {
        /// The entry's name.
        name: String,
        /// Its size in bytes.
        size: usize,
    },
    /// More than 2^32 - 1 entries: inode numbers would repeat.
    TooManyEntries,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::EmptyName => write!(f, "cpio: an entry name is empty"),
            WriteError::NulInName(n) => write!(f, "cpio: entry name {n:?} contains a NUL byte"),
            WriteError::ReservedName => write!(f, "cpio: {TRAILER} is reserved for the end of the archive"),
            WriteError::DuplicateName(n) => write!(f, "cpio: entry {n:?} is given twice"),
            WriteError::TooLarge { name, size } => {
                write!(f, "cpio: entry {name:?} is {size} bytes; newc holds at most 4 GiB - 1")
            }
            WriteError::TooManyEntries => write!(f, "cpio: more than 2^32 - 1 entries"),
        }
    }
}

/// Builds an archive in memory; [`Writer::finish`] appends the trailer.
#[derive(Debug, Clone)]
pub struct Writer {
    format: Format,
    bytes: Vec<u8>,
    names: Vec<String>,
    next_ino: u32,
}

impl Writer {
    /// An empty archive.
    pub fn new(format: Format) -> Writer {
        Writer { format, bytes: Vec::new(), names: Vec::new(), next_ino: 1 }
    }

    /// Adds a regular file; `permissions` are the low 12 mode bits (e.g. `0o755`).
    pub fn add_file(&mut self, name: &str, permissions: u32, data: &[u8]) -> Result<(), WriteError> {
        self.add(name, MODE_REGULAR | (permissions & 0o7777), 1, data)
    }

    /// Adds a directory (mode 0755), for archives that want their paths' parents listed.
    pub fn add_dir(&mut self, name: &str) -> Result<(), WriteError> {
        self.add(name, MODE_DIRECTORY | 0o755, 2, &[])
    }

    /// The names added so far, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// Appends the trailer and returns the archive.
    pub fn finish(mut self) -> Vec<u8> {
        // The trailer has inode 0, mode 0 and nlink 1, as GNU cpio writes it.
        self.entry(TRAILER, 0, 0, 1, &[]);
        self.bytes
    }

    fn add(&mut self, name: &str, mode: u32, nlink: u32, data: &[u8]) -> Result<(), WriteError> {
        if name.is_empty() {
            return Err(WriteError::EmptyName);
        }
        if name.contains('\0') {
            return Err(WriteError::NulInName(name.into()));
        }
        if name == TRAILER {
            return Err(WriteError::ReservedName);
        }
        if self.names.iter().any(|n| n == name) {
            return Err(WriteError::DuplicateName(name.into()));
        }
        for size in [data.len(), name.len() + 1] {
            if u32::try_from(size).is_err() {
                return Err(WriteError::TooLarge { name: name.into(), size });
            }
        }
        let ino = self.next_ino;
        self.next_ino = self.next_ino.checked_add(1).ok_or(WriteError::TooManyEntries)?;
        self.entry(name, ino, mode, nlink, data);
        self.names.push(name.into());
        Ok(())
    }

    /// Writes one header, name, data and padding. Sizes were checked by the caller.
    fn entry(&mut self, name: &str, ino: u32, mode: u32, nlink: u32, data: &[u8]) {
        let (magic, check) = match self.format {
            Format::Newc => (MAGIC_NEWC, 0),
            Format::NewcCrc => (MAGIC_NEWC_CRC, checksum(data)),
        };
        let start = self.bytes.len();
        self.bytes.extend_from_slice(magic);
        let size = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        #[rustfmt::skip]
        let fields = [
            ino, mode, 0 /* uid */, 0 /* gid */, nlink, 0 /* mtime */, size(data.len()),
            0, 0, 0, 0 /* dev, rdev */, size(name.len() + 1), check,
        ];
        for value in fields {
            push_hex8(&mut self.bytes, value);
        }
        debug_assert_eq!(self.bytes.len() - start, HEADER_LEN);
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        self.pad();
        self.bytes.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }
}

/// Appends `value` as eight upper-case hex digits.
fn push_hex8(out: &mut Vec<u8>, value: u32) {
    for shift in (0..8).rev() {
        out.push(b"0123456789ABCDEF"[(value >> (4 * shift) & 0xf) as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpio::{Archive, Field};

    #[test]
    fn the_header_matches_what_gnu_cpio_writes() {
        let mut w = Writer::new(Format::Newc);
        w.add_file("hi", 0o644, b"x").unwrap();
        let bytes = w.finish();
        // ino 1, mode 100644, uid 0, gid 0, nlink 1, mtime 0, size 1, devs 0, namesize 3.
        let fields = [
            "00000001", "000081A4", "00000000", "00000000", "00000001", "00000000", "00000001", "00000000",
            "00000000", "00000000", "00000000", "00000003", "00000000",
        ];
        let header = alloc::format!("070701{}", fields.concat());
        assert_eq!(core::str::from_utf8(&bytes[..HEADER_LEN]).unwrap(), header);
        // header + "hi\0" = 113 bytes, padded to 116; then "x" padded to 4.
        assert_eq!(&bytes[HEADER_LEN..116], b"hi\0\0\0\0");
        assert_eq!(&bytes[116..120], b"x\0\0\0");
        assert_eq!(&bytes[120..126], MAGIC_NEWC);
        assert_eq!(bytes.len() % 4, 0);
    }

    #[test]
    fn the_same_inputs_give_the_same_bytes() {
        let build = || {
            let mut w = Writer::new(Format::Newc);
            w.add_file("a", 0o755, b"one").unwrap();
            w.add_file("b", 0o755, b"two").unwrap();
            w.finish()
        };
        assert_eq!(build(), build());
    }

    #[test]
    fn inode_numbers_count_from_one_in_order() {
        let mut w = Writer::new(Format::Newc);
        for name in ["c", "a", "b"] {
            w.add_file(name, 0o755, name.as_bytes()).unwrap();
        }
        assert_eq!(w.names().collect::<Vec<_>>(), ["c", "a", "b"]);
        let bytes = w.finish();
        let inos: Vec<u32> = Archive::new(&bytes).entries().map(|e| e.unwrap().ino).collect();
        assert_eq!(inos, [1, 2, 3]);
    }

    #[test]
    fn bad_names_are_refused() {
        let mut w = Writer::new(Format::Newc);
        assert_eq!(w.add_file("", 0o644, b""), Err(WriteError::EmptyName));
        assert_eq!(w.add_file("a\0b", 0o644, b""), Err(WriteError::NulInName("a\0b".into())));
        assert_eq!(w.add_file(TRAILER, 0o644, b""), Err(WriteError::ReservedName));
        w.add_file("x", 0o644, b"1").unwrap();
        assert_eq!(w.add_dir("x"), Err(WriteError::DuplicateName("x".into())));
        // Refused entries leave no trace.
        let bytes = w.finish();
        assert_eq!(Archive::new(&bytes).validate(), Ok(1));
    }

    #[test]
    fn permissions_cannot_change_the_file_type() {
        let mut w = Writer::new(Format::Newc);
        w.add_file("f", 0o170_755, b"").unwrap();
        let bytes = w.finish();
        let e = Archive::new(&bytes).find("f").unwrap().unwrap();
        assert_eq!(e.mode, MODE_REGULAR | 0o755);
    }

    #[test]
    fn every_data_length_round_trips_with_the_right_padding() {
        for len in 0..9 {
            for format in [Format::Newc, Format::NewcCrc] {
                let data: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(37)).collect();
                let mut w = Writer::new(format);
                w.add_file("name-of-odd-length", 0o644, &data).unwrap();
                w.add_file("n", 0o644, &data).unwrap();
                let bytes = w.finish();
                let archive = Archive::new(&bytes);
                assert_eq!(archive.find("name-of-odd-length").unwrap().unwrap().data, data);
                assert_eq!(archive.find("n").unwrap().unwrap().data, data);
                assert_eq!(bytes.len() % 4, 0);
            }
        }
    }

    #[test]
    fn the_crc_format_writes_the_byte_sum() {
        let mut w = Writer::new(Format::NewcCrc);
        w.add_file("f", 0o644, &[0xff, 0xff, 2]).unwrap();
        let bytes = w.finish();
        let at = Field::Check.offset();
        assert_eq!(&bytes[at..at + 8], b"00000200");
    }
}
