// SPDX-License-Identifier: MIT OR Apache-2.0
//! A reader for SVR4 "newc" cpio archives, the conventional initrd format.
//!
//! Linux's initramfs is a newc archive, so every distribution's tools write and read it,
//! and it is simple enough to check completely: a sequence of entries, each a fixed-size
//! text header, a name, and the file's bytes, ended by an entry named `TRAILER!!!`.
//!
//! ```text
//!  offset 0    6        14       22       ...     94       102      110
//!         +----+--------+--------+-- ... --+--------+--------+--------+
//!         |magic| ino   | mode   |         |namesize| check  | name\0 |pad| data |pad|
//!         +----+--------+--------+-- ... --+--------+--------+--------+
//!         "070701"  13 fields of 8 ASCII hex digits       to 4 bytes      to 4 bytes
//! ```
//!
//! The header and name together are padded to a multiple of 4 bytes, and so is the data;
//! since the archive starts at offset 0, every header starts on a 4-byte boundary.
//! Magic `070702` is the same format with `check` holding the sum of the data bytes
//! (modulo 2^32); this reader verifies it. For `070701`, `check` is ignored, as Linux's
//! `init/initramfs.c` ignores it.
//!
//! # Design
//!
//! [`Archive::entries`] walks the archive one entry at a time and yields
//! `Result<Entry, CpioError>`; the first error ends the walk. Every field is parsed as
//! exactly eight hex digits (no sign, no blanks), every size is checked against what is
//! left of the archive, and every offset computed with checked arithmetic, so no input
//! makes the reader panic or read out of bounds.
//!
//! An archive that ends without `TRAILER!!!` is an error ([`CpioError::MissingTrailer`]),
//! not a quiet end: a truncated initrd that happens to stop on an entry boundary would
//! otherwise lose programs without a word. Whatever follows the trailer (boot loaders and
//! `cpio` itself pad archives to a block size) is ignored.
//!
//! Hard links are not resolved: newc stores a hard-linked file's data with the last of
//! its names and gives the others no data. The initrd the project builds has none.
//!
//! # References
//!
//! `man 5 cpio` (libarchive), Linux `Documentation/driver-api/early-userspace/buffer-format.rst`.

#![forbid(unsafe_code)]

use core::fmt;

#[cfg(any(test, feature = "alloc"))]
pub mod write;

/// The magic of a newc header without a checksum.
pub const MAGIC_NEWC: &[u8; 6] = b"070701";
/// The magic of a newc header whose `check` field is the sum of the data bytes.
pub const MAGIC_NEWC_CRC: &[u8; 6] = b"070702";
/// The size of a newc header: the magic and 13 fields of 8 hex digits.
pub const HEADER_LEN: usize = 6 + 13 * 8;
/// The name of the entry that ends an archive.
pub const TRAILER: &str = "TRAILER!!!";

/// The `mode` bits that give the file type (`S_IFMT`).
pub const MODE_TYPE_MASK: u32 = 0o170_000;
/// File type: a regular file (`S_IFREG`).
pub const MODE_REGULAR: u32 = 0o100_000;
/// File type: a directory (`S_IFDIR`).
pub const MODE_DIRECTORY: u32 = 0o040_000;

/// One of the 13 numeric header fields, in the order they appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `c_ino`: the inode number.
    Ino,
    /// `c_mode`: file type and permissions.
    Mode,
    /// `c_uid`.
    Uid,
    /// `c_gid`.
    Gid,
    /// `c_nlink`: the number of links.
    Nlink,
    /// `c_mtime`: modification time, seconds since 1970.
    Mtime,
    /// `c_filesize`: the size of the data.
    FileSize,
    /// `c_devmajor`.
    DevMajor,
    /// `c_devminor`.
    DevMinor,
    /// `c_rdevmajor`.
    RdevMajor,
    /// `c_rdevminor`.
    RdevMinor,
    /// `c_namesize`: the size of the name, its NUL included.
    NameSize,
    /// `c_check`: the data checksum (magic `070702` only).
    Check,
}

impl Field {
    /// Every field, in header order.
    pub const ALL: [Field; 13] = [
        Field::Ino,
        Field::Mode,
        Field::Uid,
        Field::Gid,
        Field::Nlink,
        Field::Mtime,
        Field::FileSize,
        Field::DevMajor,
        Field::DevMinor,
        Field::RdevMajor,
        Field::RdevMinor,
        Field::NameSize,
        Field::Check,
    ];

    /// The field's offset within the header.
    pub const fn offset(self) -> usize {
        6 + 8 * self as usize
    }

    /// The field's name as `cpio(5)` spells it.
    pub const fn name(self) -> &'static str {
        match self {
            Field::Ino => "c_ino",
            Field::Mode => "c_mode",
            Field::Uid => "c_uid",
            Field::Gid => "c_gid",
            Field::Nlink => "c_nlink",
            Field::Mtime => "c_mtime",
            Field::FileSize => "c_filesize",
            Field::DevMajor => "c_devmajor",
            Field::DevMinor => "c_devminor",
            Field::RdevMajor => "c_rdevmajor",
            Field::RdevMinor => "c_rdevminor",
            Field::NameSize => "c_namesize",
            Field::Check => "c_check",
        }
    }
}

/// Why an archive cannot be read. `offset` is always where the entry's header starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpioError {
    /// Fewer than [`HEADER_LEN`] bytes are left for a header.
    TruncatedHeader {
        /// Where the header starts.
        offset: usize,
        /// How many bytes are left.
        available: usize,
    },
    /// The header does not start with `070701` or `070702`.
    BadMagic {
        /// Where the header starts.
        offset: usize,
        /// The six bytes found.
        found: [u8; 6],
    },
    /// A numeric field is not exactly eight hex digits.
    BadHex {
        /// Where the header starts.
        offset: usize,
        /// The field.
        field: Field,
    },
    /// `c_namesize` is 0: there is not even room for the NUL.
    EmptyName {
        /// Where the header starts.
        offset: usize,
    },
    /// The name runs past the end of the archive.
    NamePastEnd {
        /// Where the header starts.
        offset: usize,
        /// `c_namesize`.
        name_size: u32,
    },
    /// The name's last byte is not NUL, or a NUL comes earlier.
    NameNotTerminated {
        /// Where the header starts.
        offset: usize,
    },
    /// The name is not UTF-8.
    NameNotUtf8 {
        /// Where the header starts.
        offset: usize,
    },
    /// The data runs past the end of the archive.
    DataPastEnd {
        /// Where the header starts.
        offset: usize,
        /// `c_filesize`.
        file_size: u32,
        /// How many bytes are left after the name.
        available: usize,
    },
    /// A `070702` entry's data does not sum to its `c_check`.
    ChecksumMismatch {
        /// Where the header starts.
        offset: usize,
        /// `c_check`.
        expected: u32,
        /// The sum of the data bytes.
        actual: u32,
    },
    /// The archive ends without a `TRAILER!!!` entry.
    MissingTrailer {
        /// Where the next header should have started.
        offset: usize,
    },
}

impl fmt::Display for CpioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CpioError::TruncatedHeader { offset, available } => write!(
                f,
                "cpio: entry at offset {offset}: header truncated ({available} of {HEADER_LEN} bytes left)"
            ),
            CpioError::BadMagic { offset, found } => write!(
                f,
                "cpio: entry at offset {offset}: bad magic \"{}\" (want \"070701\" or \"070702\", newc format)",
                found.escape_ascii()
            ),
            CpioError::BadHex { offset, field } => write!(
                f,
                "cpio: entry at offset {offset}: field {} (header offset {}) is not 8 hex digits",
                field.name(),
                field.offset()
            ),
            CpioError::EmptyName { offset } => {
                write!(f, "cpio: entry at offset {offset}: c_namesize is 0")
            }
            CpioError::NamePastEnd { offset, name_size } => write!(
                f,
                "cpio: entry at offset {offset}: name of {name_size} bytes runs past the end of the archive"
            ),
            CpioError::NameNotTerminated { offset } => write!(
                f,
                "cpio: entry at offset {offset}: name is not exactly c_namesize bytes ending in one NUL"
            ),
            CpioError::NameNotUtf8 { offset } => {
                write!(f, "cpio: entry at offset {offset}: name is not UTF-8")
            }
            CpioError::DataPastEnd { offset, file_size, available } => write!(
                f,
                "cpio: entry at offset {offset}: data of {file_size} bytes runs past the end of the archive ({available} left)"
            ),
            CpioError::ChecksumMismatch { offset, expected, actual } => write!(
                f,
                "cpio: entry at offset {offset}: checksum {actual:#010x} does not match c_check {expected:#010x}"
            ),
            CpioError::MissingTrailer { offset } => {
                write!(f, "cpio: archive ends at offset {offset} without a {TRAILER} entry (truncated?)")
            }
        }
    }
}

/// One file (or directory, or other node) in an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The name, without its NUL; as stored (no `./` stripped).
    pub name: &'a str,
    /// `c_mode`: file type ([`MODE_TYPE_MASK`]) and permission bits.
    pub mode: u32,
    /// `c_ino`.
    pub ino: u32,
    /// The file's bytes, a slice of the archive.
    pub data: &'a [u8],
    /// Where the entry's header starts in the archive.
    pub offset: usize,
}

impl Entry<'_> {
    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.mode & MODE_TYPE_MASK == MODE_REGULAR
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.mode & MODE_TYPE_MASK == MODE_DIRECTORY
    }
}

/// A newc archive in memory. Creating one checks nothing; [`Archive::entries`] checks as
/// it walks, and [`Archive::validate`] walks it all once.
#[derive(Debug, Clone, Copy)]
pub struct Archive<'a> {
    bytes: &'a [u8],
}

impl<'a> Archive<'a> {
    /// The archive in `bytes`.
    pub const fn new(bytes: &'a [u8]) -> Archive<'a> {
        Archive { bytes }
    }

    /// The entries in order, up to (not including) `TRAILER!!!`. The first error is the
    /// last item.
    pub fn entries(&self) -> Entries<'a> {
        Entries { bytes: self.bytes, offset: 0, done: false }
    }

    /// The first entry called `name`, `Ok(None)` when the whole archive is valid and has
    /// none. An error *before* the entry is found is returned; errors after it are not
    /// looked for (call [`Archive::validate`] first to check everything).
    pub fn find(&self, name: &str) -> Result<Option<Entry<'a>>, CpioError> {
        for entry in self.entries() {
            let entry = entry?;
            if entry.name == name {
                return Ok(Some(entry));
            }
        }
        Ok(None)
    }

    /// Walks the whole archive; returns the number of entries before the trailer.
    pub fn validate(&self) -> Result<usize, CpioError> {
        let mut count = 0;
        for entry in self.entries() {
            entry?;
            count += 1;
        }
        Ok(count)
    }
}

/// The iterator of [`Archive::entries`].
#[derive(Debug, Clone)]
pub struct Entries<'a> {
    bytes: &'a [u8],
    offset: usize,
    done: bool,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, CpioError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match parse_entry(self.bytes, self.offset) {
            Ok(Parsed::Entry(entry, next)) => {
                self.offset = next;
                Some(Ok(entry))
            }
            Ok(Parsed::Trailer) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl core::iter::FusedIterator for Entries<'_> {}

/// What one step of the walk found.
enum Parsed<'a> {
    /// An entry, and where the next header starts.
    Entry(Entry<'a>, usize),
    /// The trailer.
    Trailer,
}

/// Rounds `n` up to a multiple of 4, `None` on overflow.
fn align4(n: usize) -> Option<usize> {
    n.checked_add(3).map(|n| n & !3)
}

/// Parses eight ASCII hex digits (either case). `None` for anything else.
fn parse_hex8(digits: &[u8]) -> Option<u32> {
    if digits.len() != 8 {
        return None;
    }
    digits.iter().try_fold(0u32, |acc, &b| {
        let d = (b as char).to_digit(16)?;
        Some(acc << 4 | d)
    })
}

/// The sum of `data`'s bytes modulo 2^32: newc's "CRC", which is no CRC.
pub fn checksum(data: &[u8]) -> u32 {
    data.iter().fold(0u32, |sum, &b| sum.wrapping_add(u32::from(b)))
}

/// Parses the entry whose header starts at `offset`.
fn parse_entry(bytes: &[u8], offset: usize) -> Result<Parsed<'_>, CpioError> {
    let rest = bytes.get(offset..).unwrap_or(&[]);
    if rest.is_empty() {
        return Err(CpioError::MissingTrailer { offset });
    }
    let Some(header) = rest.get(..HEADER_LEN) else {
        return Err(CpioError::TruncatedHeader { offset, available: rest.len() });
    };
    let mut magic = [0u8; 6];
    magic.copy_from_slice(&header[..6]);
    let with_check = match &magic {
        m if m == MAGIC_NEWC => false,
        m if m == MAGIC_NEWC_CRC => true,
        _ => return Err(CpioError::BadMagic { offset, found: magic }),
    };
    let field = |field: Field| {
        let at = field.offset();
        header.get(at..at + 8).and_then(parse_hex8).ok_or(CpioError::BadHex { offset, field })
    };
    // Parse every field, so that a bad digit anywhere is reported, used or not.
    let mut values = [0u32; 13];
    for (value, f) in values.iter_mut().zip(Field::ALL) {
        *value = field(f)?;
    }
    let [ino, mode, _uid, _gid, _nlink, _mtime, file_size, _, _, _, _, name_size, check] = values;

    if name_size == 0 {
        return Err(CpioError::EmptyName { offset });
    }
    let name_start = offset + HEADER_LEN; // header fits, so this does not overflow
    let name_bytes = usize::try_from(name_size)
        .ok()
        .and_then(|size| bytes.get(name_start..name_start.checked_add(size)?))
        .ok_or(CpioError::NamePastEnd { offset, name_size })?;
    let name_end = name_start + name_bytes.len();
    // Exactly one NUL, at the end.
    let (&last, name) = name_bytes.split_last().ok_or(CpioError::EmptyName { offset })?;
    if last != 0 || name.contains(&0) {
        return Err(CpioError::NameNotTerminated { offset });
    }
    let name = core::str::from_utf8(name).map_err(|_| CpioError::NameNotUtf8 { offset })?;
    if name == TRAILER {
        return Ok(Parsed::Trailer);
    }

    let data_start = align4(name_end).ok_or(CpioError::NamePastEnd { offset, name_size })?;
    let available = bytes.len().saturating_sub(data_start);
    let data = usize::try_from(file_size)
        .ok()
        .and_then(|size| bytes.get(data_start..data_start.checked_add(size)?))
        .ok_or(CpioError::DataPastEnd { offset, file_size, available })?;
    if with_check {
        let actual = checksum(data);
        if actual != check {
            return Err(CpioError::ChecksumMismatch { offset, expected: check, actual });
        }
    }
    // The padding after the data may be missing at the very end; the next step then
    // reports the missing trailer at the archive's end.
    let next = align4(data_start + data.len()).map_or(bytes.len(), |n| n.min(bytes.len()));
    Ok(Parsed::Entry(Entry { name, mode, ino, data, offset }, next))
}

#[cfg(test)]
mod tests {
    use super::write::{Format, Writer};
    use super::*;
    use alloc::vec::Vec;

    fn two_files() -> Vec<u8> {
        let mut w = Writer::new(Format::Newc);
        w.add_file("hello", 0o755, b"hello, world\n").unwrap();
        w.add_dir("etc").unwrap();
        w.add_file("etc/motd", 0o644, b"").unwrap();
        w.add_file("sigma0", 0o755, &[1, 2, 3, 4, 5]).unwrap();
        w.finish()
    }

    /// Overwrites field `f` of the header at `offset` with `digits`.
    fn set_field(archive: &mut [u8], offset: usize, f: Field, digits: &[u8; 8]) {
        let at = offset + f.offset();
        archive[at..at + 8].copy_from_slice(digits);
    }

    #[test]
    fn entries_come_back_in_order_with_names_modes_and_data() {
        let bytes = two_files();
        let archive = Archive::new(&bytes);
        let entries: Vec<Entry<'_>> = archive.entries().map(Result::unwrap).collect();
        let names: Vec<&str> = entries.iter().map(|e| e.name).collect();
        assert_eq!(names, ["hello", "etc", "etc/motd", "sigma0"]);
        assert_eq!(entries[0].data, b"hello, world\n");
        assert_eq!(entries[0].mode, MODE_REGULAR | 0o755);
        assert!(entries[0].is_file() && !entries[0].is_dir());
        assert!(entries[1].is_dir());
        assert_eq!(entries[2].data, b"");
        assert_eq!(entries[3].data, [1, 2, 3, 4, 5]);
        assert_eq!(archive.validate(), Ok(4));
        assert!(entries.iter().all(|e| e.offset % 4 == 0), "every header is 4-byte aligned");
    }

    #[test]
    fn find_returns_the_named_entry_or_none() {
        let bytes = two_files();
        let archive = Archive::new(&bytes);
        assert_eq!(archive.find("sigma0").unwrap().unwrap().data, [1, 2, 3, 4, 5]);
        assert_eq!(archive.find("nothing"), Ok(None));
        assert_eq!(archive.find(TRAILER), Ok(None), "the trailer is not an entry");
    }

    #[test]
    fn an_archive_of_only_the_trailer_is_empty_and_valid() {
        let bytes = Writer::new(Format::Newc).finish();
        assert_eq!(Archive::new(&bytes).validate(), Ok(0));
    }

    #[test]
    fn bytes_after_the_trailer_are_ignored() {
        let mut bytes = two_files();
        bytes.extend_from_slice(&[0xff; 1000]);
        assert_eq!(Archive::new(&bytes).validate(), Ok(4));
    }

    #[test]
    fn an_archive_without_a_trailer_is_an_error() {
        let full = two_files();
        // Cut just before the trailer's header: a whole number of entries, no trailer.
        let trailer_at = full.len() - (align4(HEADER_LEN + TRAILER.len() + 1).unwrap());
        let cut = &full[..trailer_at];
        let errors: Vec<_> = Archive::new(cut).entries().filter_map(Result::err).collect();
        assert_eq!(errors, [CpioError::MissingTrailer { offset: trailer_at }]);
        assert_eq!(Archive::new(&[]).validate(), Err(CpioError::MissingTrailer { offset: 0 }));
    }

    #[test]
    fn every_truncation_is_an_error_and_none_panics() {
        let full = two_files();
        let trailer_at = full.len() - align4(HEADER_LEN + TRAILER.len() + 1).unwrap();
        // The trailer itself needs only its header and name (with the NUL), not its padding.
        let trailer_end = trailer_at + HEADER_LEN + TRAILER.len() + 1;
        for len in 0..full.len() {
            let result = Archive::new(&full[..len]).validate();
            if len >= trailer_end {
                assert_eq!(result, Ok(4), "length {len}");
            } else {
                assert!(result.is_err(), "length {len} was accepted");
            }
        }
    }

    #[test]
    fn a_wrong_magic_is_named_with_its_offset() {
        let mut bytes = two_files();
        bytes[0..6].copy_from_slice(b"070707"); // the old binary-compatible "odc" format
        assert_eq!(
            Archive::new(&bytes).validate(),
            Err(CpioError::BadMagic { offset: 0, found: *b"070707" })
        );
    }

    #[test]
    fn a_bad_hex_digit_names_the_field() {
        for field in Field::ALL {
            let mut bytes = two_files();
            set_field(&mut bytes, 0, field, b"0000000g");
            assert_eq!(Archive::new(&bytes).validate(), Err(CpioError::BadHex { offset: 0, field }));
            set_field(&mut bytes, 0, field, b" 0000001");
            assert_eq!(Archive::new(&bytes).validate(), Err(CpioError::BadHex { offset: 0, field }));
        }
    }

    #[test]
    fn hex_fields_accept_both_cases() {
        assert_eq!(parse_hex8(b"DEADbeef"), Some(0xdead_beef));
        assert_eq!(parse_hex8(b"+0000001"), None);
        assert_eq!(parse_hex8(b"0000001"), None);
    }

    #[test]
    fn sizes_past_the_end_are_errors() {
        let bytes = two_files();
        let mut huge_data = bytes.clone();
        set_field(&mut huge_data, 0, Field::FileSize, b"ffffffff");
        assert!(matches!(
            Archive::new(&huge_data).validate(),
            Err(CpioError::DataPastEnd { offset: 0, file_size: 0xffff_ffff, .. })
        ));
        let mut huge_name = bytes.clone();
        set_field(&mut huge_name, 0, Field::NameSize, b"ffffffff");
        assert_eq!(
            Archive::new(&huge_name).validate(),
            Err(CpioError::NamePastEnd { offset: 0, name_size: 0xffff_ffff })
        );
        let mut no_name = bytes;
        set_field(&mut no_name, 0, Field::NameSize, b"00000000");
        assert_eq!(Archive::new(&no_name).validate(), Err(CpioError::EmptyName { offset: 0 }));
    }

    #[test]
    fn names_must_end_in_exactly_one_nul() {
        let bytes = two_files();
        // "hello\0" is 6 bytes; claim 5 so the NUL falls outside the name.
        let mut short = bytes.clone();
        set_field(&mut short, 0, Field::NameSize, b"00000005");
        assert_eq!(Archive::new(&short).validate(), Err(CpioError::NameNotTerminated { offset: 0 }));
        let mut inner_nul = bytes.clone();
        inner_nul[HEADER_LEN + 2] = 0;
        assert_eq!(Archive::new(&inner_nul).validate(), Err(CpioError::NameNotTerminated { offset: 0 }));
        let mut not_utf8 = bytes;
        not_utf8[HEADER_LEN] = 0xff;
        assert_eq!(Archive::new(&not_utf8).validate(), Err(CpioError::NameNotUtf8 { offset: 0 }));
    }

    #[test]
    fn checksummed_archives_are_verified() {
        let mut w = Writer::new(Format::NewcCrc);
        w.add_file("a", 0o644, b"abc").unwrap();
        let bytes = w.finish();
        assert_eq!(&bytes[..6], MAGIC_NEWC_CRC);
        assert_eq!(Archive::new(&bytes).find("a").unwrap().unwrap().data, b"abc");
        let mut corrupt = bytes.clone();
        let data_at = align4(HEADER_LEN + 2).unwrap();
        corrupt[data_at] ^= 1;
        assert_eq!(
            Archive::new(&corrupt).validate(),
            Err(CpioError::ChecksumMismatch { offset: 0, expected: 0x126, actual: 0x125 })
        );
    }

    #[test]
    fn plain_newc_ignores_the_check_field() {
        let mut bytes = two_files();
        set_field(&mut bytes, 0, Field::Check, b"12345678");
        assert_eq!(Archive::new(&bytes).validate(), Ok(4));
    }

    #[test]
    fn errors_after_an_entry_stop_the_walk_but_not_the_entries_before() {
        let mut bytes = two_files();
        let second = Archive::new(&bytes).entries().nth(1).unwrap().unwrap().offset;
        bytes[second] = b'X';
        let mut it = Archive::new(&bytes).entries();
        assert_eq!(it.next().unwrap().unwrap().name, "hello");
        assert!(matches!(it.next(), Some(Err(CpioError::BadMagic { offset, .. })) if offset == second));
        assert!(it.next().is_none(), "the walk ends at the first error");
        assert_eq!(Archive::new(&bytes).find("hello").unwrap().unwrap().name, "hello");
        assert!(Archive::new(&bytes).find("sigma0").is_err());
    }

    #[test]
    fn errors_say_what_and_where() {
        use alloc::string::ToString;
        let e = CpioError::BadHex { offset: 124, field: Field::FileSize };
        assert_eq!(
            e.to_string(),
            "cpio: entry at offset 124: field c_filesize (header offset 54) is not 8 hex digits"
        );
        let e = CpioError::BadMagic { offset: 0, found: *b"\x7fELF\x02\x01" };
        assert!(e.to_string().contains("bad magic \"\\x7fELF\\x02\\x01\""), "{e}");
    }

    #[test]
    fn no_single_byte_mutation_panics() {
        let full = two_files();
        let mut bytes = full.clone();
        for i in 0..full.len() {
            for v in [0u8, b'0', b'f', b'F', b'7', 0xff, b'!', full[i] ^ 0x20] {
                bytes[i] = v;
                let _ = Archive::new(&bytes).validate();
                let _ = Archive::new(&bytes).find("sigma0");
            }
            bytes[i] = full[i];
        }
    }
}
