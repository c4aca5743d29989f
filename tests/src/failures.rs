// SPDX-License-Identifier: MIT OR Apache-2.0
//! The failure matrix: bad inputs a careless or hostile user gives the kernel, each of
//! which must end the run loudly.
//!
//! "Loudly" means three things at once, all checked by the boot tests
//! (`boot::Expect::Stop`): a line that names the cause (`fatal: ...`, or the root
//! task's own words), the kernel's `report: halt status=N cause=NAME` line
//! (`kernel/src/halt.rs`), and QEMU ending with exactly that status, well before the
//! test's deadline: a hang is a failure, and so is a wrong status, above all a 0.
//!
//! This module builds the inputs: initrds broken in each way the kernel's loader can
//! see ([`InitrdCase`]), with the `root` program's ELF header broken field by field
//! ([`ElfCase`]). Every builder is a pure function of the real programs' bytes, so the
//! tests below check what each one breaks, without QEMU.

#![forbid(unsafe_code)]

use bootfmt::cpio;

/// An initrd the kernel must refuse (or start, and see die), built from the real
/// `root` program's ELF (`root`) and another program's (`other`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitrdCase {
    /// A file of 0 bytes (QEMU would drop it without a word: the runner refuses it).
    Empty,
    /// 64 KiB of pseudo-random bytes: not an archive at all.
    Garbage,
    /// A good archive cut off inside the `root` entry's data.
    Truncated,
    /// A good archive without a `root` entry (only `hello`).
    NoRoot,
    /// `root` with its ELF header broken as the case says.
    RootElf(ElfCase),
    /// `root` whose first instruction is `UDF #0` (the word 0): it starts, and its
    /// very first instruction kills it. Nobody can handle the root task's exception.
    RootCrash,
    /// `root` whose writable segment asks for 4 GiB of zero-filled memory: a program
    /// no board of the matrix can hold.
    RootHuge,
}

/// One broken field of an ELF64 header, or of `root`'s program headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElfCase {
    /// 32 bytes: shorter than the header.
    TooShort,
    /// No `\x7fELF`.
    BadMagic,
    /// `EI_CLASS` = 1 (ELF32).
    Class32,
    /// `EI_DATA` = 2 (big-endian).
    BigEndian,
    /// `EI_VERSION` = 0.
    BadVersion,
    /// `e_machine` = 62 (x86-64), `e_type` as linked (ET_EXEC).
    X86Executable,
    /// `e_machine` = 62 and `e_type` = ET_DYN: an x86-64 PIE, refused for its machine.
    X86Pie,
    /// `e_type` = ET_DYN on AArch64: a PIE this loader cannot relocate.
    Pie,
    /// `e_type` = ET_REL: an object file.
    Relocatable,
    /// `e_phoff` far past the end of the file.
    ProgramHeadersOutside,
    /// The first `PT_LOAD` both writable and executable.
    WritableCode,
    /// The first `PT_LOAD` at a virtual address above the user half.
    AboveUserHalf,
    /// The first `PT_LOAD`'s file size above its memory size.
    FileSizeAboveMemSize,
    /// `e_entry` not 4-byte aligned.
    MisalignedEntry,
    /// `e_entry` outside every executable segment.
    EntryOutside,
}

impl ElfCase {
    /// Every case, in the order the matrix runs them.
    pub const ALL: [ElfCase; 15] = [
        ElfCase::TooShort,
        ElfCase::BadMagic,
        ElfCase::Class32,
        ElfCase::BigEndian,
        ElfCase::BadVersion,
        ElfCase::X86Executable,
        ElfCase::X86Pie,
        ElfCase::Pie,
        ElfCase::Relocatable,
        ElfCase::ProgramHeadersOutside,
        ElfCase::WritableCode,
        ElfCase::AboveUserHalf,
        ElfCase::FileSizeAboveMemSize,
        ElfCase::MisalignedEntry,
        ElfCase::EntryOutside,
    ];

    /// The boot test's name.
    pub fn test_name(self) -> &'static str {
        match self {
            ElfCase::TooShort => "bad-elf-too-short",
            ElfCase::BadMagic => "bad-elf-magic",
            ElfCase::Class32 => "bad-elf-class32",
            ElfCase::BigEndian => "bad-elf-big-endian",
            ElfCase::BadVersion => "bad-elf-version",
            ElfCase::X86Executable => "bad-elf-x86-64",
            ElfCase::X86Pie => "bad-elf-x86-64-pie",
            ElfCase::Pie => "bad-elf-pie",
            ElfCase::Relocatable => "bad-elf-relocatable",
            ElfCase::ProgramHeadersOutside => "bad-elf-phdrs-outside",
            ElfCase::WritableCode => "bad-elf-writable-code",
            ElfCase::AboveUserHalf => "bad-elf-above-user-half",
            ElfCase::FileSizeAboveMemSize => "bad-elf-filesz-above-memsz",
            ElfCase::MisalignedEntry => "bad-elf-misaligned-entry",
            ElfCase::EntryOutside => "bad-elf-entry-outside",
        }
    }

    /// Words the kernel's line must contain: the part of the loader's error that names
    /// this very field (written out here, not taken from the loader's own text).
    pub fn named(self) -> &'static str {
        match self {
            ElfCase::TooShort => "shorter than the 64-byte header",
            ElfCase::BadMagic => "magic",
            ElfCase::Class32 => "EI_CLASS is 1",
            ElfCase::BigEndian => "EI_DATA is 2",
            ElfCase::BadVersion => "version 0",
            ElfCase::X86Executable | ElfCase::X86Pie => "e_machine is 62",
            ElfCase::Pie => "ET_DYN",
            ElfCase::Relocatable => "e_type is 1",
            ElfCase::ProgramHeadersOutside => "run past the end of the file",
            ElfCase::WritableCode => "writable and executable",
            ElfCase::AboveUserHalf => "user half",
            ElfCase::FileSizeAboveMemSize => "exceeds p_memsz",
            ElfCase::MisalignedEntry => "not 4-byte aligned",
            ElfCase::EntryOutside => "not inside the file bytes of an executable segment",
        }
    }

    /// Breaks `elf` (a good AArch64 executable) as the case says.
    pub fn apply(self, elf: &mut Vec<u8>) {
        let put16 = |e: &mut Vec<u8>, at: usize, v: u16| e[at..at + 2].copy_from_slice(&v.to_le_bytes());
        let put32 = |e: &mut Vec<u8>, at: usize, v: u32| e[at..at + 4].copy_from_slice(&v.to_le_bytes());
        let put64 = |e: &mut Vec<u8>, at: usize, v: u64| e[at..at + 8].copy_from_slice(&v.to_le_bytes());
        let first_load = first_load(elf);
        match self {
            ElfCase::TooShort => elf.truncate(32),
            ElfCase::BadMagic => elf[1] = b'X',
            ElfCase::Class32 => elf[4] = 1,
            ElfCase::BigEndian => elf[5] = 2,
            ElfCase::BadVersion => elf[6] = 0,
            ElfCase::X86Executable => put16(elf, 18, 62),
            ElfCase::X86Pie => {
                put16(elf, 16, 3);
                put16(elf, 18, 62);
            }
            ElfCase::Pie => put16(elf, 16, 3),
            ElfCase::Relocatable => put16(elf, 16, 1),
            ElfCase::ProgramHeadersOutside => put64(elf, 32, 1 << 40),
            ElfCase::WritableCode => put32(elf, first_load + 4, 7),
            ElfCase::AboveUserHalf => put64(elf, first_load + 16, 1 << 50),
            ElfCase::FileSizeAboveMemSize => {
                let memsz = u64_at(elf, first_load + 40);
                put64(elf, first_load + 32, memsz + 0x1000);
            }
            ElfCase::MisalignedEntry => {
                let entry = u64_at(elf, 24);
                put64(elf, 24, entry + 2);
            }
            ElfCase::EntryOutside => put64(elf, 24, 0x1000),
        }
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(word)
}

/// The file offset of the first `PT_LOAD` program header of `elf`.
fn first_load(elf: &[u8]) -> usize {
    let phoff = u64_at(elf, 32) as usize;
    let phnum = usize::from(u16::from_le_bytes([elf[56], elf[57]]));
    (0..phnum)
        .map(|i| phoff + 56 * i)
        .find(|&at| u32::from_le_bytes([elf[at], elf[at + 1], elf[at + 2], elf[at + 3]]) == 1)
        .expect("the program has a PT_LOAD segment")
}

/// The file offset of `vaddr` in `elf`: inside the file bytes of some `PT_LOAD`.
fn file_offset_of(elf: &[u8], vaddr: u64) -> Option<usize> {
    let phoff = u64_at(elf, 32) as usize;
    let phnum = usize::from(u16::from_le_bytes([elf[56], elf[57]]));
    (0..phnum).map(|i| phoff + 56 * i).find_map(|at| {
        let kind = u32::from_le_bytes([elf[at], elf[at + 1], elf[at + 2], elf[at + 3]]);
        let (offset, start, filesz) = (u64_at(elf, at + 8), u64_at(elf, at + 16), u64_at(elf, at + 32));
        (kind == 1 && (start..start + filesz).contains(&vaddr)).then(|| (offset + vaddr - start) as usize)
    })
}

impl InitrdCase {
    /// The boot test's name.
    pub fn test_name(self) -> &'static str {
        match self {
            InitrdCase::Empty => "empty-initrd",
            InitrdCase::Garbage => "bad-initrd-garbage",
            InitrdCase::Truncated => "bad-initrd-truncated",
            InitrdCase::NoRoot => "bad-initrd-no-root",
            InitrdCase::RootElf(e) => e.test_name(),
            InitrdCase::RootCrash => "root-task-crashes",
            InitrdCase::RootHuge => "root-task-too-big",
        }
    }

    /// The archive's bytes, from the real `root` and `other` programs.
    pub fn build(self, root: &[u8], other: &[u8]) -> Vec<u8> {
        let pack = |entries: &[(&str, &[u8])]| {
            crate::initrd::pack_bytes(entries.iter().copied()).expect("small archives always pack")
        };
        match self {
            InitrdCase::Empty => Vec::new(),
            InitrdCase::Garbage => {
                let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
                (0..64 * 1024)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect()
            }
            InitrdCase::Truncated => {
                let mut archive = pack(&[("root", root), ("hello", other)]);
                // 110-byte header + "root\0" padded to 4: the data starts at 116.
                archive.truncate(116 + root.len() / 2);
                archive
            }
            InitrdCase::NoRoot => pack(&[("hello", other)]),
            InitrdCase::RootElf(case) => {
                let mut elf = root.to_vec();
                case.apply(&mut elf);
                pack(&[("root", &elf)])
            }
            InitrdCase::RootCrash => {
                let mut elf = root.to_vec();
                let entry = u64_at(&elf, 24);
                let at = file_offset_of(&elf, entry).expect("the entry point is in the file");
                elf[at..at + 4].copy_from_slice(&[0; 4]); // UDF #0
                pack(&[("root", &elf)])
            }
            InitrdCase::RootHuge => {
                let mut elf = root.to_vec();
                let phoff = u64_at(&elf, 32) as usize;
                let phnum = usize::from(u16::from_le_bytes([elf[56], elf[57]]));
                let writable = (0..phnum)
                    .map(|i| phoff + 56 * i)
                    .filter(|&at| u32::from_le_bytes([elf[at], elf[at + 1], elf[at + 2], elf[at + 3]]) == 1)
                    .find(|&at| elf[at + 4] & 2 != 0)
                    .expect("the program has a writable segment");
                elf[writable + 40..writable + 48].copy_from_slice(&(4u64 << 30).to_le_bytes());
                pack(&[("root", &elf)])
            }
        }
    }
}

/// Reads an archive back the way the kernel's loader does, for the tests: the `root`
/// entry's bytes, or the archive's own error.
pub fn root_of(archive: &[u8]) -> Result<Option<Vec<u8>>, cpio::CpioError> {
    Ok(cpio::Archive::new(archive).find("root")?.map(|e| e.data.to_vec()))
}

/// A NUMA program whose declaration the runtime must refuse by name, while the rest of
/// the run goes on (boot test `numa-bad-declarations`): a real program's ELF with its
/// declaration note rewritten ([`DeclCase::patch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclCase {
    /// Region 0's kind word is 9 (neither global nor node-local).
    UnknownKind,
    /// A second region over region 0's first page.
    Overlap,
    /// Threads on node 1 only: a boot whose node 1 has no CPUs.
    NoCpus,
}

impl DeclCase {
    /// Every case.
    pub const ALL: [DeclCase; 3] = [DeclCase::UnknownKind, DeclCase::Overlap, DeclCase::NoCpus];

    /// The words the program's report must carry (`error="..."`): the runtime's own
    /// message for it (`numa::decl::DeclError`, `numa::plan::PlanError`).
    pub const fn error(self) -> &'static str {
        match self {
            DeclCase::UnknownKind => "region 0: unknown kind 9",
            DeclCase::Overlap => "regions 0 and 1 overlap",
            DeclCase::NoCpus => "threads asked for on node 1, which has no CPUs",
        }
    }

    /// `elf` (a NUMA program with at least one declared region) with its declaration
    /// broken as the case says; `None` if `elf` has no declaration to break.
    pub fn patch(self, elf: &[u8]) -> Option<Vec<u8>> {
        use numa::decl::{DeclRegion, Declaration, NOTE_NAME, NOTE_TYPE, Threads};
        use numa::region::{Kind, Policy};
        let parsed = bootfmt::elf::Elf::parse(elf).ok()?;
        let desc = parsed.note(NOTE_NAME, NOTE_TYPE)?;
        let at = (desc.as_ptr() as usize).checked_sub(elf.as_ptr() as usize)?;
        let decl = Declaration::decode(desc, &numa::layout::RESERVED).ok()?;
        let first = *decl.declared().first()?;
        let bytes = match self {
            DeclCase::UnknownKind => {
                let mut b = decl.encode();
                // Region 0's kind word: after the 96-byte header, its name and two u64s.
                let kind = 96 + numa::decl::NAME_LEN + 16;
                b[kind..kind + 4].copy_from_slice(&9u32.to_le_bytes());
                b
            }
            DeclCase::Overlap => {
                decl.region(DeclRegion::new("over", first.base, 1, Kind::Global(Policy::FirstTouch))).encode()
            }
            DeclCase::NoCpus => {
                let mut on = [(0, 0); numa::decl::MAX_PLACEMENTS];
                on[0] = (1, 1);
                decl.threads(Threads::On(on, 1)).encode()
            }
        };
        let mut out = elf.to_vec();
        out.get_mut(at..at + bytes.len())?.copy_from_slice(&bytes);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bootfmt::elf::{Elf, ElfError};

    /// A small but real AArch64 executable: two segments (code RX at 0x40_0000 from
    /// file offset 0x1000, data RW at 0x40_1000 from 0x2000), entry at the start of the
    /// code, whose first word is `ret`.
    fn program() -> Vec<u8> {
        let mut e = vec![0u8; 0x3000];
        e[0x1000..0x1004].copy_from_slice(&0xD65F_03C0u32.to_le_bytes());
        e[..4].copy_from_slice(b"\x7fELF");
        e[4] = 2;
        e[5] = 1;
        e[6] = 1;
        e[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        e[18..20].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
        e[20..24].copy_from_slice(&1u32.to_le_bytes());
        e[24..32].copy_from_slice(&0x40_0000u64.to_le_bytes()); // entry
        e[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
        e[52..54].copy_from_slice(&64u16.to_le_bytes()); // ehsize
        e[54..56].copy_from_slice(&56u16.to_le_bytes()); // phentsize
        e[56..58].copy_from_slice(&2u16.to_le_bytes()); // phnum
        let phdr = |e: &mut Vec<u8>, at: usize, flags: u32, offset: u64, vaddr: u64, size: u64| {
            e[at..at + 4].copy_from_slice(&1u32.to_le_bytes());
            e[at + 4..at + 8].copy_from_slice(&flags.to_le_bytes());
            e[at + 8..at + 16].copy_from_slice(&offset.to_le_bytes());
            e[at + 16..at + 24].copy_from_slice(&vaddr.to_le_bytes());
            e[at + 24..at + 32].copy_from_slice(&vaddr.to_le_bytes());
            e[at + 32..at + 40].copy_from_slice(&size.to_le_bytes());
            e[at + 40..at + 48].copy_from_slice(&size.to_le_bytes());
            e[at + 48..at + 56].copy_from_slice(&0x1000u64.to_le_bytes());
        };
        phdr(&mut e, 64, 5, 0x1000, 0x40_0000, 0x1000);
        phdr(&mut e, 120, 6, 0x2000, 0x40_1000, 0x1000);
        e
    }

    /// [`program`] with a third program header: a `PT_NOTE` at file offset 0x3000 (its end) holding
    /// one note.
    fn program_with_note(name: &str, kind: u32, desc: &[u8]) -> Vec<u8> {
        let mut e = program();
        e[56..58].copy_from_slice(&3u16.to_le_bytes());
        let mut note = Vec::new();
        note.extend_from_slice(&(name.len() as u32 + 1).to_le_bytes());
        note.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        note.extend_from_slice(&kind.to_le_bytes());
        note.extend_from_slice(name.as_bytes());
        note.push(0);
        while note.len() % 4 != 0 {
            note.push(0);
        }
        note.extend_from_slice(desc);
        let at = 176;
        e[at..at + 4].copy_from_slice(&4u32.to_le_bytes()); // PT_NOTE
        e[at + 8..at + 16].copy_from_slice(&0x3000u64.to_le_bytes());
        e[at + 32..at + 40].copy_from_slice(&(note.len() as u64).to_le_bytes());
        e.extend_from_slice(&note);
        e
    }

    #[test]
    fn the_test_program_is_accepted_as_it_is() {
        assert!(Elf::parse(&program()).is_ok());
    }

    #[test]
    fn each_elf_case_breaks_the_field_it_names() {
        for case in ElfCase::ALL {
            let mut elf = program();
            case.apply(&mut elf);
            let err = Elf::parse(&elf).expect_err(case.test_name());
            assert!(err.to_string().contains(case.named()), "{case:?}: `{err}` lacks `{}`", case.named());
        }
        // The x86-64 PIE is refused for its machine, not for being a PIE.
        let mut pie = program();
        ElfCase::X86Pie.apply(&mut pie);
        assert!(matches!(Elf::parse(&pie), Err(ElfError::WrongMachine { machine: 62 })));
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = ElfCase::ALL.iter().map(|c| c.test_name()).collect();
        names.extend(
            [
                InitrdCase::Empty,
                InitrdCase::Garbage,
                InitrdCase::Truncated,
                InitrdCase::NoRoot,
                InitrdCase::RootCrash,
                InitrdCase::RootHuge,
            ]
            .map(InitrdCase::test_name),
        );
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count);
    }

    #[test]
    fn archives_break_where_they_say() {
        let (root, other) = (program(), vec![7u8; 300]);
        assert!(root_of(&InitrdCase::Garbage.build(&root, &other)).is_err(), "not an archive");
        assert!(root_of(&InitrdCase::Truncated.build(&root, &other)).is_err(), "cut inside root");
        assert_eq!(root_of(&InitrdCase::NoRoot.build(&root, &other)), Ok(None));
        let crash = root_of(&InitrdCase::RootCrash.build(&root, &other)).unwrap().unwrap();
        let changed: Vec<usize> = (0..root.len()).filter(|&i| crash[i] != root[i]).collect();
        assert_eq!(changed, [0x1000, 0x1001, 0x1002, 0x1003], "only the entry word, now UDF #0");
        assert!(Elf::parse(&crash).is_ok(), "a crashing program is still a valid one");
        let huge = root_of(&InitrdCase::RootHuge.build(&root, &other)).unwrap().unwrap();
        let elf = Elf::parse(&huge).expect("a huge program is still a valid one");
        assert!(elf.segments().any(|s| s.memsz == 4 << 30));
    }

    #[test]
    fn a_declaration_case_breaks_only_the_declaration() {
        use numa::decl::{DeclRegion, Declaration, NOTE_NAME, NOTE_TYPE};
        use numa::region::{Kind, Policy};
        // An ELF with a PT_NOTE holding a good declaration.
        let decl = Declaration::new().region(DeclRegion::new(
            "r",
            0x1000_0000_0000,
            4,
            Kind::Global(Policy::Interleave),
        ));
        let elf = program_with_note(NOTE_NAME, NOTE_TYPE, &decl.encode());
        for case in DeclCase::ALL {
            let broken = case.patch(&elf).expect("a declaration to break");
            assert_eq!(broken.len(), elf.len());
            let desc = Elf::parse(&broken).unwrap().note(NOTE_NAME, NOTE_TYPE).unwrap().to_vec();
            let got = Declaration::decode(&desc, &numa::layout::RESERVED);
            match case {
                DeclCase::UnknownKind | DeclCase::Overlap => {
                    assert_eq!(got.map_err(|e| e.to_string()), Err(case.error().to_string()))
                }
                // A good declaration: the plan refuses it, on a machine whose node 1 has no CPUs.
                DeclCase::NoCpus => {
                    let mut m = numa::plan::Machine::new(2);
                    m.add_cpu(0);
                    m.with_memory = 0b11;
                    let plan = numa::plan::Plan::new(&m, got.unwrap().threads);
                    assert_eq!(plan.err().map(|e| e.to_string()).as_deref(), Some(case.error()));
                }
            }
        }
        assert_eq!(DeclCase::Overlap.patch(b"not an elf"), None);
    }
}
