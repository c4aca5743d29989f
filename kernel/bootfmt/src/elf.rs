// SPDX-License-Identifier: MIT OR Apache-2.0
//! A reader for ELF64 little-endian AArch64 executables: the user programs in the initrd.
//!
//! Starting a program means copying (or mapping) each loadable segment to its virtual
//! address with its permissions, zero-filling the rest of its memory size, and jumping to
//! the entry point. The kernel does that for the root pager and the root pager for every
//! other program, so both need the same answer to "is this file safe to load?". This
//! module gives it once: [`Elf::parse`] checks the whole file, and only a file that passes
//! yields [`Segment`]s, which a loader can then use without further checks.
//!
//! # What is accepted
//!
//! ```text
//!  identification  \x7fELF, ELFCLASS64, ELFDATA2LSB, EV_CURRENT (OS/ABI byte ignored:
//!                  nothing here depends on it, and linkers disagree on it)
//!  e_machine       EM_AARCH64 (183), checked before the type (the real problem of
//!                  a program built for another machine, PIE or not)
//!  e_type          ET_EXEC only. ET_DYN (a PIE / static-pie) needs its relocations
//!                  applied by the loader, which v1 does not do: PositionIndependent.
//!  program headers 56 bytes each, at most MAX_PROGRAM_HEADERS, inside the file
//!  PT_LOAD         at most MAX_LOAD_SEGMENTS, each:
//!                    filesz <= memsz; file bytes inside the file;
//!                    vaddr + memsz without wrapping, at or below USER_END (2^48);
//!                    align 0, 1 or a power of two, vaddr = offset (mod align);
//!                    not both writable and executable (W^X);
//!                    no two segments touching the same 4 KiB page (a page has one
//!                    set of permissions)
//!  PT_INTERP,      refused: the program wants a dynamic linker / relocations /
//!  PT_DYNAMIC,     thread-local storage set up, none of which v1 provides
//!  PT_TLS
//!  PT_NOTE         not loaded; its notes are read on request ([`Elf::note`]): a program
//!                  declares itself to its loader this way (a NUMA program carries
//!                  the `numa-l4` note, `pagers/numa/src/decl.rs`)
//!  anything else   ignored (PT_GNU_STACK, PT_PHDR, attributes ...)
//!  e_entry         4-byte aligned, inside the file-backed part of an executable segment
//! ```
//!
//! Section headers are not read at all: loading needs only the program headers, and
//! stripped files have no sections.
//!
//! # Design
//!
//! Every field is read with bounds-checked little-endian loads from the byte slice (no
//! casts to structs, no alignment assumptions), every sum is checked, and the limits on
//! the number of headers keep the pairwise overlap check small, so a hostile file costs
//! bounded time and cannot make the reader panic.
//!
//! # References
//!
//! System V gABI, chapter 4 "Object Files" and chapter 5 "Program Loading"; "ELF for the
//! Arm 64-bit Architecture (AArch64)" (AAELF64) for `EM_AARCH64`.

#![forbid(unsafe_code)]

use core::fmt;

/// `e_machine` of AArch64.
pub const EM_AARCH64: u16 = 183;
/// `e_type` of an executable at fixed addresses.
pub const ET_EXEC: u16 = 2;
/// `e_type` of a shared object or position-independent executable.
pub const ET_DYN: u16 = 3;
/// `p_type` of a loadable segment.
pub const PT_LOAD: u32 = 1;
/// `p_type` of dynamic-linking information.
pub const PT_DYNAMIC: u32 = 2;
/// `p_type` naming a program interpreter.
pub const PT_INTERP: u32 = 3;
/// `p_type` of the thread-local storage template.
pub const PT_TLS: u32 = 7;

/// The size of the ELF64 file header.
pub const EHDR_LEN: usize = 64;
/// The size of one ELF64 program header.
pub const PHDR_LEN: usize = 56;
/// At most this many program headers: a linker emits about ten; the limit bounds the work.
pub const MAX_PROGRAM_HEADERS: usize = 64;
/// At most this many `PT_LOAD` segments (text, rodata, data, and room to spare).
pub const MAX_LOAD_SEGMENTS: usize = 16;
/// The end of the user half: TTBR0 covers `[0, 2^48)` with 48-bit virtual addresses.
pub const USER_END: u64 = 1 << 48;
/// The granule a segment's permissions apply to.
pub const PAGE_SIZE: u64 = 4096;

/// Why a file is not a loadable AArch64 executable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfError {
    /// The file is shorter than the 64-byte ELF header.
    TooShort {
        /// The file's length.
        len: usize,
    },
    /// The file does not start with `\x7fELF`.
    BadMagic,
    /// `EI_CLASS` is not `ELFCLASS64` (2).
    NotElf64 {
        /// The byte found.
        class: u8,
    },
    /// `EI_DATA` is not `ELFDATA2LSB` (1).
    NotLittleEndian {
        /// The byte found.
        data: u8,
    },
    /// `EI_VERSION` or `e_version` is not `EV_CURRENT` (1).
    BadVersion {
        /// The version found.
        version: u32,
    },
    /// `e_type` is `ET_DYN`: a position-independent executable, not supported in v1.
    PositionIndependent,
    /// `e_type` is neither `ET_EXEC` nor `ET_DYN` (an object file, a core dump ...).
    NotExecutable {
        /// `e_type`.
        e_type: u16,
    },
    /// `e_machine` is not `EM_AARCH64`.
    WrongMachine {
        /// `e_machine`.
        machine: u16,
    },
    /// `e_ehsize` is smaller than the ELF64 header.
    BadHeaderSize {
        /// `e_ehsize`.
        ehsize: u16,
    },
    /// `e_phentsize` is not 56 although there are program headers.
    BadProgramHeaderSize {
        /// `e_phentsize`.
        phentsize: u16,
    },
    /// More than [`MAX_PROGRAM_HEADERS`].
    TooManyProgramHeaders {
        /// `e_phnum`.
        phnum: u16,
    },
    /// The program header table runs past the end of the file.
    ProgramHeadersOutOfBounds {
        /// `e_phoff`.
        phoff: u64,
        /// `e_phnum`.
        phnum: u16,
    },
    /// A segment type v1 cannot honour (`PT_INTERP`, `PT_DYNAMIC`, `PT_TLS`).
    UnsupportedSegment {
        /// The program header's index.
        index: usize,
        /// Its `p_type`.
        p_type: u32,
    },
    /// More than [`MAX_LOAD_SEGMENTS`] `PT_LOAD` segments.
    TooManyLoadSegments,
    /// `p_filesz > p_memsz`.
    FileSizeExceedsMemSize {
        /// The program header's index.
        index: usize,
        /// `p_filesz`.
        filesz: u64,
        /// `p_memsz`.
        memsz: u64,
    },
    /// `[p_offset, p_offset + p_filesz)` is not inside the file.
    SegmentOutsideFile {
        /// The program header's index.
        index: usize,
        /// `p_offset`.
        offset: u64,
        /// `p_filesz`.
        filesz: u64,
    },
    /// `[p_vaddr, p_vaddr + p_memsz)` wraps or reaches past [`USER_END`].
    SegmentOutsideUserHalf {
        /// The program header's index.
        index: usize,
        /// `p_vaddr`.
        vaddr: u64,
        /// `p_memsz`.
        memsz: u64,
    },
    /// `p_align` is not a power of two, or `p_vaddr` and `p_offset` disagree modulo it.
    BadAlignment {
        /// The program header's index.
        index: usize,
        /// `p_align`.
        align: u64,
    },
    /// A segment is both writable and executable.
    WritableAndExecutable {
        /// The program header's index.
        index: usize,
    },
    /// Two loadable segments touch the same 4 KiB page.
    Overlap {
        /// The earlier program header's index.
        first: usize,
        /// The later program header's index.
        second: usize,
    },
    /// There is no `PT_LOAD` segment.
    NoLoadableSegment,
    /// `e_entry` is not 4-byte aligned (AArch64 instructions are).
    MisalignedEntry {
        /// `e_entry`.
        entry: u64,
    },
    /// `e_entry` is not in the file-backed part of an executable segment.
    EntryNotExecutable {
        /// `e_entry`.
        entry: u64,
    },
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ElfError::TooShort { len } => write!(f, "elf: {len} bytes, shorter than the 64-byte header"),
            ElfError::BadMagic => write!(f, "elf: no \\x7fELF magic at offset 0"),
            ElfError::NotElf64 { class } => write!(f, "elf: EI_CLASS is {class}, not ELFCLASS64 (2)"),
            ElfError::NotLittleEndian { data } => {
                write!(f, "elf: EI_DATA is {data}, not ELFDATA2LSB (1)")
            }
            ElfError::BadVersion { version } => write!(f, "elf: version {version}, not EV_CURRENT (1)"),
            ElfError::PositionIndependent => write!(
                f,
                "elf: e_type is ET_DYN (position-independent); user programs must be linked \
                 at a fixed address (ET_EXEC, linker/user.ld)"
            ),
            ElfError::NotExecutable { e_type } => write!(f, "elf: e_type is {e_type}, not ET_EXEC (2)"),
            ElfError::WrongMachine { machine } => {
                write!(f, "elf: e_machine is {machine}, not EM_AARCH64 (183)")
            }
            ElfError::BadHeaderSize { ehsize } => write!(f, "elf: e_ehsize is {ehsize}, less than 64"),
            ElfError::BadProgramHeaderSize { phentsize } => {
                write!(f, "elf: e_phentsize is {phentsize}, not 56")
            }
            ElfError::TooManyProgramHeaders { phnum } => {
                write!(f, "elf: {phnum} program headers, more than {MAX_PROGRAM_HEADERS}")
            }
            ElfError::ProgramHeadersOutOfBounds { phoff, phnum } => {
                write!(f, "elf: {phnum} program headers at offset {phoff:#x} run past the end of the file")
            }
            ElfError::UnsupportedSegment { index, p_type } => write!(
                f,
                "elf: program header {index}: segment type {p_type:#x} (interpreter, dynamic or TLS) \
                 is not supported"
            ),
            ElfError::TooManyLoadSegments => {
                write!(f, "elf: more than {MAX_LOAD_SEGMENTS} PT_LOAD segments")
            }
            ElfError::FileSizeExceedsMemSize { index, filesz, memsz } => {
                write!(f, "elf: program header {index}: p_filesz {filesz:#x} exceeds p_memsz {memsz:#x}")
            }
            ElfError::SegmentOutsideFile { index, offset, filesz } => write!(
                f,
                "elf: program header {index}: file bytes {offset:#x} + {filesz:#x} are past the end of the file"
            ),
            ElfError::SegmentOutsideUserHalf { index, vaddr, memsz } => write!(
                f,
                "elf: program header {index}: {vaddr:#x} + {memsz:#x} is not below {USER_END:#x} (user half)"
            ),
            ElfError::BadAlignment { index, align } => write!(
                f,
                "elf: program header {index}: p_align {align:#x} is not a power of two \
                 congruent with p_vaddr and p_offset"
            ),
            ElfError::WritableAndExecutable { index } => {
                write!(f, "elf: program header {index}: segment is writable and executable")
            }
            ElfError::Overlap { first, second } => {
                write!(f, "elf: program headers {first} and {second}: segments share a 4 KiB page")
            }
            ElfError::NoLoadableSegment => write!(f, "elf: no PT_LOAD segment"),
            ElfError::MisalignedEntry { entry } => {
                write!(f, "elf: entry point {entry:#x} is not 4-byte aligned")
            }
            ElfError::EntryNotExecutable { entry } => {
                write!(f, "elf: entry point {entry:#x} is not inside the file bytes of an executable segment")
            }
        }
    }
}

/// A segment's permissions (`p_flags`: `PF_X` = 1, `PF_W` = 2, `PF_R` = 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub execute: bool,
}

impl Flags {
    /// The flags of a `p_flags` value; bits other than R, W, X are ignored.
    pub const fn from_bits(p_flags: u32) -> Flags {
        Flags { read: p_flags & 4 != 0, write: p_flags & 2 != 0, execute: p_flags & 1 != 0 }
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bit = |on: bool, c: char| if on { c } else { '-' };
        write!(f, "{}{}{}", bit(self.read, 'r'), bit(self.write, 'w'), bit(self.execute, 'x'))
    }
}

/// One checked `PT_LOAD` segment.
///
/// Guaranteed by [`Elf::parse`]: `data.len() == filesz <= memsz`,
/// `vaddr + memsz <= USER_END`, `align` is 0 or a power of two with
/// `vaddr % align == offset % align`, and not both `write` and `execute`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    /// The program header's index in the table.
    pub index: usize,
    /// Where the segment starts in the program's address space.
    pub vaddr: u64,
    /// Its size in memory; the bytes past `filesz` are zero.
    pub memsz: u64,
    /// How many bytes come from the file.
    pub filesz: u64,
    /// Where those bytes are in the file.
    pub offset: u64,
    /// Its permissions.
    pub flags: Flags,
    /// `p_align`.
    pub align: u64,
    /// The file bytes, `filesz` of them: a slice of the file.
    pub data: &'a [u8],
}

impl Segment<'_> {
    const EMPTY: Segment<'static> = Segment {
        index: 0,
        vaddr: 0,
        memsz: 0,
        filesz: 0,
        offset: 0,
        flags: Flags::from_bits(0),
        align: 0,
        data: &[],
    };

    /// The end of the segment in memory (`vaddr + memsz`; checked not to wrap).
    pub fn end(&self) -> u64 {
        self.vaddr + self.memsz
    }

    /// The first and one-past-the-last page address the segment touches (equal when empty).
    pub fn pages(&self) -> (u64, u64) {
        if self.memsz == 0 {
            return (self.vaddr, self.vaddr);
        }
        // end <= USER_END, so rounding up cannot overflow.
        (self.vaddr & !(PAGE_SIZE - 1), (self.end() + PAGE_SIZE - 1) & !(PAGE_SIZE - 1))
    }
}

/// A checked executable: its entry point and loadable segments.
#[derive(Debug, Clone)]
pub struct Elf<'a> {
    entry: u64,
    loads: [Segment<'a>; MAX_LOAD_SEGMENTS],
    count: usize,
    /// The whole file and its program header table (for [`Elf::note`]).
    file: &'a [u8],
    phdrs: &'a [u8],
}

/// `p_type` of a segment of notes.
pub const PT_NOTE: u32 = 4;

/// Little-endian loads from `bytes` at `at`; `None` when out of bounds.
fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at.checked_add(2)?)?.try_into().ok()?))
}
fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}
fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

impl<'a> Elf<'a> {
    /// Checks `bytes` as described in the module docs and returns the executable.
    pub fn parse(bytes: &'a [u8]) -> Result<Elf<'a>, ElfError> {
        let too_short = ElfError::TooShort { len: bytes.len() };
        let header = bytes.get(..EHDR_LEN).ok_or(too_short)?;
        if header[..4] != *b"\x7fELF" {
            return Err(ElfError::BadMagic);
        }
        if header[4] != 2 {
            return Err(ElfError::NotElf64 { class: header[4] });
        }
        if header[5] != 1 {
            return Err(ElfError::NotLittleEndian { data: header[5] });
        }
        if header[6] != 1 {
            return Err(ElfError::BadVersion { version: u32::from(header[6]) });
        }
        // The header is 64 bytes long, so these loads are in bounds.
        let h16 = |at| u16_at(header, at).unwrap_or(0);
        let h32 = |at| u32_at(header, at).unwrap_or(0);
        let h64 = |at| u64_at(header, at).unwrap_or(0);
        // The machine first: an x86-64 program is wrong for that reason, whatever its
        // type, and that is what its author needs to hear.
        let machine = h16(18);
        if machine != EM_AARCH64 {
            return Err(ElfError::WrongMachine { machine });
        }
        match h16(16) {
            ET_EXEC => {}
            ET_DYN => return Err(ElfError::PositionIndependent),
            e_type => return Err(ElfError::NotExecutable { e_type }),
        }
        let version = h32(20);
        if version != 1 {
            return Err(ElfError::BadVersion { version });
        }
        let entry = h64(24);
        let phoff = h64(32);
        let ehsize = h16(52);
        let phentsize = h16(54);
        let phnum = h16(56);
        if usize::from(ehsize) < EHDR_LEN {
            return Err(ElfError::BadHeaderSize { ehsize });
        }
        if phnum > 0 && usize::from(phentsize) != PHDR_LEN {
            return Err(ElfError::BadProgramHeaderSize { phentsize });
        }
        if usize::from(phnum) > MAX_PROGRAM_HEADERS {
            return Err(ElfError::TooManyProgramHeaders { phnum });
        }
        let table = usize::try_from(phoff)
            .ok()
            .and_then(|start| bytes.get(start..start.checked_add(usize::from(phnum) * PHDR_LEN)?))
            .ok_or(ElfError::ProgramHeadersOutOfBounds { phoff, phnum })?;

        let mut elf =
            Elf { entry, loads: [Segment::EMPTY; MAX_LOAD_SEGMENTS], count: 0, file: bytes, phdrs: table };
        for (index, ph) in table.chunks_exact(PHDR_LEN).enumerate() {
            let p_type = u32_at(ph, 0).unwrap_or(0);
            match p_type {
                PT_LOAD => {}
                PT_INTERP | PT_DYNAMIC | PT_TLS => {
                    return Err(ElfError::UnsupportedSegment { index, p_type });
                }
                _ => continue,
            }
            let segment = check_load(bytes, index, ph)?;
            for other in elf.segments() {
                let (a_start, a_end) = other.pages();
                let (b_start, b_end) = segment.pages();
                if a_start < b_end && b_start < a_end {
                    return Err(ElfError::Overlap { first: other.index, second: index });
                }
            }
            *elf.loads.get_mut(elf.count).ok_or(ElfError::TooManyLoadSegments)? = segment;
            elf.count += 1;
        }
        if elf.count == 0 {
            return Err(ElfError::NoLoadableSegment);
        }
        if entry % 4 != 0 {
            return Err(ElfError::MisalignedEntry { entry });
        }
        let runs_entry = |s: &Segment<'_>| s.flags.execute && entry >= s.vaddr && entry - s.vaddr < s.filesz;
        if !elf.segments().any(runs_entry) {
            return Err(ElfError::EntryNotExecutable { entry });
        }
        Ok(elf)
    }

    /// The entry point: the address of the first instruction.
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// The loadable segments, in program-header order.
    pub fn segments(&self) -> impl Iterator<Item = &Segment<'a>> + '_ {
        self.loads.iter().take(self.count)
    }

    /// The descriptor of the first note called `name` with type `kind` in the file's
    /// `PT_NOTE` segments, or `None`. A note is `namesz`, `descsz`, `type` (32 bits
    /// each), the name (NUL-terminated, padded to 4 bytes), the descriptor (padded to 4
    /// bytes). Read with bounds-checked loads: a broken note (sizes past the segment,
    /// a segment past the file) ends the search instead of reading out of bounds.
    pub fn note(&self, name: &str, kind: u32) -> Option<&'a [u8]> {
        let pad = |n: usize| n.checked_add(3).map(|n| n & !3);
        for ph in self.phdrs.chunks_exact(PHDR_LEN) {
            if u32_at(ph, 0) != Some(PT_NOTE) {
                continue;
            }
            let (offset, size) =
                (usize::try_from(u64_at(ph, 8)?).ok()?, usize::try_from(u64_at(ph, 32)?).ok()?);
            let notes = self.file.get(offset..offset.checked_add(size)?)?;
            let mut at = 0;
            while at + 12 <= notes.len() {
                let (namesz, descsz) = (u32_at(notes, at)? as usize, u32_at(notes, at + 4)? as usize);
                let name_at = at + 12;
                let desc_at = name_at.checked_add(pad(namesz)?)?;
                let end = desc_at.checked_add(pad(descsz)?)?;
                let this_name = notes.get(name_at..name_at.checked_add(namesz)?)?;
                let desc = notes.get(desc_at..desc_at.checked_add(descsz)?)?;
                let matches = this_name.strip_suffix(&[0]).unwrap_or(this_name) == name.as_bytes();
                if matches && u32_at(notes, at + 8) == Some(kind) {
                    return Some(desc);
                }
                at = end;
            }
        }
        None
    }

    /// The lowest and one-past-the-highest address any segment occupies.
    pub fn extent(&self) -> (u64, u64) {
        let low = self.segments().map(|s| s.vaddr).min().unwrap_or(0);
        let high = self.segments().map(Segment::end).max().unwrap_or(0);
        (low, high)
    }
}

/// Checks one `PT_LOAD` program header (`ph`, 56 bytes) against the file.
fn check_load<'a>(bytes: &'a [u8], index: usize, ph: &[u8]) -> Result<Segment<'a>, ElfError> {
    let f32 = |at| u32_at(ph, at).unwrap_or(0);
    let f64 = |at| u64_at(ph, at).unwrap_or(0);
    let (flags, offset, vaddr, filesz, memsz, align) = (f32(4), f64(8), f64(16), f64(32), f64(40), f64(48));
    if filesz > memsz {
        return Err(ElfError::FileSizeExceedsMemSize { index, filesz, memsz });
    }
    let data = usize::try_from(offset)
        .ok()
        .zip(usize::try_from(filesz).ok())
        .and_then(|(start, len)| bytes.get(start..start.checked_add(len)?))
        .ok_or(ElfError::SegmentOutsideFile { index, offset, filesz })?;
    if vaddr.checked_add(memsz).is_none_or(|end| end > USER_END) {
        return Err(ElfError::SegmentOutsideUserHalf { index, vaddr, memsz });
    }
    if align > 1 && (!align.is_power_of_two() || vaddr % align != offset % align) {
        return Err(ElfError::BadAlignment { index, align });
    }
    let flags = Flags::from_bits(flags);
    if flags.write && flags.execute {
        return Err(ElfError::WritableAndExecutable { index });
    }
    Ok(Segment { index, vaddr, memsz, filesz, offset, flags, align, data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// A program header as a test writes it.
    #[derive(Clone, Copy)]
    struct Ph {
        p_type: u32,
        flags: u32,
        offset: u64,
        vaddr: u64,
        filesz: u64,
        memsz: u64,
        align: u64,
    }

    const R: u32 = 4;
    const W: u32 = 2;
    const X: u32 = 1;

    fn load(flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Ph {
        Ph { p_type: PT_LOAD, flags, offset, vaddr, filesz, memsz, align: PAGE_SIZE }
    }

    /// A minimal executable: header, program headers right after it, then `body` bytes
    /// from offset 0x1000 on (so segments can be page-congruent).
    fn build(entry: u64, phs: &[Ph], body: usize) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"\x7fELF\x02\x01\x01\x00");
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&ET_EXEC.to_le_bytes());
        b.extend_from_slice(&EM_AARCH64.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes()); // e_version
        b.extend_from_slice(&entry.to_le_bytes());
        b.extend_from_slice(&(EHDR_LEN as u64).to_le_bytes()); // e_phoff
        b.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
        b.extend_from_slice(&0u32.to_le_bytes()); // e_flags
        b.extend_from_slice(&(EHDR_LEN as u16).to_le_bytes());
        b.extend_from_slice(&(PHDR_LEN as u16).to_le_bytes());
        b.extend_from_slice(&(phs.len() as u16).to_le_bytes());
        b.extend_from_slice(&[0; 6]); // e_shentsize, e_shnum, e_shstrndx
        assert_eq!(b.len(), EHDR_LEN);
        for ph in phs {
            b.extend_from_slice(&ph.p_type.to_le_bytes());
            b.extend_from_slice(&ph.flags.to_le_bytes());
            for v in [ph.offset, ph.vaddr, ph.vaddr, ph.filesz, ph.memsz, ph.align] {
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        b.resize(0x1000 + body, 0);
        for (i, byte) in b[0x1000..].iter_mut().enumerate() {
            *byte = i as u8;
        }
        b
    }

    /// Text, read-only data and data+bss, laid out as linker/user.ld lays them out.
    fn program() -> Vec<u8> {
        build(
            0x40_0010,
            &[
                load(R | X, 0x1000, 0x40_0000, 0x100, 0x100),
                load(R, 0x2000, 0x40_1000, 0x80, 0x80),
                load(R | W, 0x3000, 0x40_2000, 0x40, 0x2000),
                Ph { p_type: 0x6474_e551, flags: R | W, offset: 0, vaddr: 0, filesz: 0, memsz: 0, align: 16 },
            ],
            // The file ends where the data segment's file bytes end.
            0x2040,
        )
    }

    fn parse_with(edit: impl FnOnce(&mut Vec<u8>)) -> Result<(), ElfError> {
        let mut b = program();
        edit(&mut b);
        Elf::parse(&b).map(|_| ())
    }

    /// The file offset of field `at` of program header `index`.
    fn ph_field(index: usize, at: usize) -> usize {
        EHDR_LEN + index * PHDR_LEN + at
    }

    fn put64(b: &mut [u8], at: usize, v: u64) {
        b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    /// One note: `name` (with its NUL), type `kind`, descriptor `desc`, padded.
    fn note_bytes(name: &str, kind: u32, desc: &[u8]) -> Vec<u8> {
        let mut n = Vec::new();
        n.extend_from_slice(&(name.len() as u32 + 1).to_le_bytes());
        n.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        n.extend_from_slice(&kind.to_le_bytes());
        n.extend_from_slice(name.as_bytes());
        n.push(0);
        n.resize(n.len().next_multiple_of(4), 0);
        n.extend_from_slice(desc);
        n.resize(n.len().next_multiple_of(4), 0);
        n
    }

    /// The program with a PT_NOTE segment holding `notes` in the file at 0x800.
    fn with_notes(notes: &[u8]) -> Vec<u8> {
        let ph = Ph {
            p_type: PT_NOTE,
            flags: R,
            offset: 0x800,
            vaddr: 0,
            filesz: notes.len() as u64,
            memsz: 0,
            align: 4,
        };
        let mut b = build(0x40_0010, &[load(R | X, 0x1000, 0x40_0000, 0x100, 0x100), ph], 0x100);
        b[0x800..0x800 + notes.len()].copy_from_slice(notes);
        b
    }

    #[test]
    fn a_note_is_found_by_name_and_type() {
        let mut notes = note_bytes("GNU", 3, b"build-id");
        notes.extend(note_bytes("numa-l4", 1, b"\x01\x02\x03"));
        notes.extend(note_bytes("numa-l4", 2, b"other type"));
        let bytes = with_notes(&notes);
        let elf = Elf::parse(&bytes).unwrap();
        assert_eq!(elf.note("numa-l4", 1), Some(&b"\x01\x02\x03"[..]));
        assert_eq!(elf.note("numa-l4", 2), Some(&b"other type"[..]));
        assert_eq!(elf.note("GNU", 3), Some(&b"build-id"[..]));
        assert_eq!(elf.note("numa-l4", 9), None);
        assert_eq!(elf.note("numa", 1), None, "names match whole");
        assert_eq!(Elf::parse(&program()).unwrap().note("numa-l4", 1), None, "no PT_NOTE");
    }

    #[test]
    fn a_broken_note_ends_the_search_without_reading_out_of_bounds() {
        let mut notes = note_bytes("numa-l4", 1, b"abcd");
        // A descriptor size far past the segment.
        notes[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        let bytes = with_notes(&notes);
        assert_eq!(Elf::parse(&bytes).unwrap().note("numa-l4", 1), None);
        // A segment past the end of the file.
        let mut bytes = with_notes(&note_bytes("numa-l4", 1, b"abcd"));
        put64(&mut bytes, ph_field(1, 8), 1 << 40);
        assert_eq!(Elf::parse(&bytes).unwrap().note("numa-l4", 1), None);
        // Every truncation of the segment: never a panic.
        let full = note_bytes("numa-l4", 1, b"abcdefgh");
        for len in 0..full.len() {
            let mut bytes = with_notes(&full);
            put64(&mut bytes, ph_field(1, 32), len as u64);
            assert_eq!(Elf::parse(&bytes).unwrap().note("numa-l4", 1), None, "cut at {len}");
        }
    }

    #[test]
    fn a_three_segment_program_yields_its_segments_and_entry() {
        let bytes = program();
        let elf = Elf::parse(&bytes).unwrap();
        assert_eq!(elf.entry(), 0x40_0010);
        let segs: Vec<_> = elf.segments().collect();
        assert_eq!(segs.len(), 3, "PT_GNU_STACK is not a load segment");
        assert_eq!(
            (segs[0].vaddr, segs[0].flags),
            (0x40_0000, Flags { read: true, write: false, execute: true })
        );
        assert_eq!(segs[0].data, &bytes[0x1000..0x1100]);
        assert_eq!(segs[1].flags.to_string(), "r--");
        assert_eq!((segs[2].filesz, segs[2].memsz, segs[2].data.len()), (0x40, 0x2000, 0x40));
        assert_eq!(segs[2].flags.to_string(), "rw-");
        assert_eq!(elf.extent(), (0x40_0000, 0x40_4000));
    }

    #[test]
    fn identification_errors_are_named() {
        assert_eq!(Elf::parse(&[0x7f, b'E']).unwrap_err(), ElfError::TooShort { len: 2 });
        assert_eq!(parse_with(|b| b[1] = b'X'), Err(ElfError::BadMagic));
        assert_eq!(parse_with(|b| b[4] = 1), Err(ElfError::NotElf64 { class: 1 }));
        assert_eq!(parse_with(|b| b[5] = 2), Err(ElfError::NotLittleEndian { data: 2 }));
        assert_eq!(parse_with(|b| b[6] = 0), Err(ElfError::BadVersion { version: 0 }));
        assert_eq!(parse_with(|b| b[20] = 2), Err(ElfError::BadVersion { version: 2 }));
        assert_eq!(parse_with(|b| b[7] = 3), Ok(()), "the OS/ABI byte is ignored");
    }

    #[test]
    fn only_fixed_address_aarch64_executables_are_accepted() {
        assert_eq!(parse_with(|b| b[16] = ET_DYN as u8), Err(ElfError::PositionIndependent));
        assert_eq!(parse_with(|b| b[16] = 1), Err(ElfError::NotExecutable { e_type: 1 }));
        assert_eq!(
            parse_with(|b| b[18..20].copy_from_slice(&62u16.to_le_bytes())),
            Err(ElfError::WrongMachine { machine: 62 })
        );
        // An x86-64 PIE (ET_DYN, EM_X86_64) is refused for its machine, not its type.
        assert_eq!(
            parse_with(|b| {
                b[16] = ET_DYN as u8;
                b[18..20].copy_from_slice(&62u16.to_le_bytes());
            }),
            Err(ElfError::WrongMachine { machine: 62 })
        );
    }

    #[test]
    fn the_program_header_table_must_fit() {
        assert_eq!(parse_with(|b| b[52] = 40), Err(ElfError::BadHeaderSize { ehsize: 40 }));
        assert_eq!(parse_with(|b| b[54] = 64), Err(ElfError::BadProgramHeaderSize { phentsize: 64 }));
        assert_eq!(parse_with(|b| b[56] = 65), Err(ElfError::TooManyProgramHeaders { phnum: 65 }));
        let len = program().len() as u64;
        assert_eq!(
            parse_with(|b| put64(b, 32, len - 100)),
            Err(ElfError::ProgramHeadersOutOfBounds { phoff: len - 100, phnum: 4 })
        );
        assert_eq!(
            parse_with(|b| put64(b, 32, u64::MAX)),
            Err(ElfError::ProgramHeadersOutOfBounds { phoff: u64::MAX, phnum: 4 })
        );
        assert_eq!(parse_with(|b| b[56] = 0), Err(ElfError::NoLoadableSegment));
    }

    #[test]
    fn interpreters_dynamic_sections_and_tls_are_refused() {
        for p_type in [PT_INTERP, PT_DYNAMIC, PT_TLS] {
            let r = parse_with(|b| b[ph_field(3, 0)..ph_field(3, 4)].copy_from_slice(&p_type.to_le_bytes()));
            assert_eq!(r, Err(ElfError::UnsupportedSegment { index: 3, p_type }));
        }
    }

    #[test]
    fn segment_sizes_and_file_ranges_are_checked() {
        assert_eq!(
            parse_with(|b| put64(b, ph_field(1, 32), 0x81)),
            Err(ElfError::FileSizeExceedsMemSize { index: 1, filesz: 0x81, memsz: 0x80 })
        );
        assert_eq!(
            parse_with(|b| put64(b, ph_field(2, 8), 0x5000)),
            Err(ElfError::SegmentOutsideFile { index: 2, offset: 0x5000, filesz: 0x40 })
        );
        assert_eq!(
            parse_with(|b| put64(b, ph_field(2, 8), u64::MAX - 8)),
            Err(ElfError::SegmentOutsideFile { index: 2, offset: u64::MAX - 8, filesz: 0x40 })
        );
    }

    #[test]
    fn segments_stay_in_the_user_half_without_wrapping() {
        let top = USER_END - 0x2000;
        assert_eq!(
            parse_with(|b| put64(b, ph_field(2, 16), top + 0x1000)),
            Err(ElfError::SegmentOutsideUserHalf { index: 2, vaddr: top + 0x1000, memsz: 0x2000 })
        );
        assert_eq!(parse_with(|b| put64(b, ph_field(2, 16), top)), Ok(()), "ending exactly at 2^48 is fine");
        let kernel = 0xffff_ffff_8000_0000;
        assert_eq!(
            parse_with(|b| put64(b, ph_field(1, 16), kernel)),
            Err(ElfError::SegmentOutsideUserHalf { index: 1, vaddr: kernel, memsz: 0x80 })
        );
        assert_eq!(
            parse_with(|b| {
                put64(b, ph_field(2, 16), !0xfffu64);
                put64(b, ph_field(2, 40), 0x2000);
            }),
            Err(ElfError::SegmentOutsideUserHalf { index: 2, vaddr: !0xfffu64, memsz: 0x2000 })
        );
    }

    #[test]
    fn alignment_must_be_a_power_of_two_congruent_with_the_offset() {
        assert_eq!(
            parse_with(|b| put64(b, ph_field(0, 48), 0x3000)),
            Err(ElfError::BadAlignment { index: 0, align: 0x3000 })
        );
        assert_eq!(
            parse_with(|b| put64(b, ph_field(0, 16), 0x40_0800)),
            Err(ElfError::BadAlignment { index: 0, align: 0x1000 })
        );
        assert_eq!(parse_with(|b| put64(b, ph_field(0, 48), 0)), Ok(()), "0 and 1 mean no alignment");
    }

    #[test]
    fn writable_code_is_refused() {
        assert_eq!(
            parse_with(|b| b[ph_field(0, 4)] = (R | W | X) as u8),
            Err(ElfError::WritableAndExecutable { index: 0 })
        );
    }

    #[test]
    fn segments_may_not_share_a_page() {
        // rodata moved into the last page of text.
        assert_eq!(
            parse_with(|b| {
                put64(b, ph_field(1, 16), 0x40_0000 + 0x200);
                put64(b, ph_field(1, 48), 0);
            }),
            Err(ElfError::Overlap { first: 0, second: 1 })
        );
        // data on top of text.
        assert_eq!(
            parse_with(|b| put64(b, ph_field(2, 16), 0x40_0000)),
            Err(ElfError::Overlap { first: 0, second: 2 })
        );
    }

    #[test]
    fn the_entry_must_be_aligned_code_from_the_file() {
        assert_eq!(
            parse_with(|b| put64(b, 24, 0x40_0012)),
            Err(ElfError::MisalignedEntry { entry: 0x40_0012 })
        );
        // In rodata: readable but not executable.
        assert_eq!(
            parse_with(|b| put64(b, 24, 0x40_1000)),
            Err(ElfError::EntryNotExecutable { entry: 0x40_1000 })
        );
        // Just past text's file bytes.
        assert_eq!(
            parse_with(|b| put64(b, 24, 0x40_0100)),
            Err(ElfError::EntryNotExecutable { entry: 0x40_0100 })
        );
        assert_eq!(parse_with(|b| put64(b, 24, 0x40_00fc)), Ok(()));
    }

    #[test]
    fn too_many_load_segments_are_refused() {
        let phs: Vec<Ph> = (0..=MAX_LOAD_SEGMENTS as u64)
            .map(|i| load(R | X, 0x1000, 0x40_0000 + i * 0x1000, 0x10, 0x10))
            .collect();
        let bytes = build(0x40_0000, &phs, 0x100);
        assert_eq!(Elf::parse(&bytes).unwrap_err(), ElfError::TooManyLoadSegments);
    }

    #[test]
    fn errors_say_what_and_where() {
        use alloc::string::ToString;
        let e = ElfError::SegmentOutsideFile { index: 2, offset: 0x5000, filesz: 0x40 };
        assert_eq!(
            e.to_string(),
            "elf: program header 2: file bytes 0x5000 + 0x40 are past the end of the file"
        );
        assert!(ElfError::PositionIndependent.to_string().contains("ET_DYN"));
    }

    #[test]
    fn every_truncation_is_an_error_and_none_panics() {
        let full = program();
        for len in 0..full.len() {
            assert!(Elf::parse(&full[..len]).is_err(), "length {len} was accepted");
        }
    }

    #[test]
    fn no_mutation_of_the_headers_panics() {
        let full = program();
        let headers = EHDR_LEN + 4 * PHDR_LEN;
        let mut bytes = full.clone();
        for i in 0..headers {
            for v in [0u8, 1, 2, 3, 7, 0x10, 0x38, 0x40, 0x7f, 0x80, 0xfe, 0xff, full[i] ^ 1] {
                bytes[i] = v;
                if let Ok(elf) = Elf::parse(&bytes) {
                    // Whatever is accepted keeps the promises a loader relies on.
                    for s in elf.segments() {
                        assert!(s.data.len() as u64 == s.filesz && s.filesz <= s.memsz);
                        assert!(s.end() <= USER_END && !(s.flags.write && s.flags.execute));
                    }
                }
            }
            bytes[i] = full[i];
        }
        // And pairs of bytes set to extremes in the fields that matter most.
        for i in (0..headers).step_by(8) {
            for j in (0..headers).step_by(8) {
                let mut b = full.clone();
                b[i..i + 8].copy_from_slice(&[0xff; 8]);
                b[j..(j + 8).min(headers)].fill(0);
                let _ = Elf::parse(&b);
            }
        }
    }
}
