// SPDX-License-Identifier: MIT OR Apache-2.0
//! The initrd: user programs packed into a newc cpio archive, and the check that they load.
//!
//! The kernel finds its root pager, and the root pager its programs, in one archive the
//! boot loader puts in RAM (QEMU `-initrd`). `mkinitrd` builds that archive from
//! `NAME=PATH` pairs with `bootfmt`'s own writer, so the archive is read by exactly the
//! code that wrote it; and `mkinitrd --check` reads it back with `bootfmt`'s readers, as
//! the kernel and the root pager will, so a program the linker laid out wrongly fails on
//! the host, with a named error, instead of faulting at boot.
//!
//! The archive is deterministic: entries in the order given, inode numbers from 1, times
//! 0, owner root, mode 0755. Building it twice from the same programs gives the same bytes.

#![forbid(unsafe_code)]

use bootfmt::cpio::write::{Format, WriteError, Writer};
use bootfmt::cpio::{Archive, CpioError};
use bootfmt::elf::{Elf, ElfError};
use report::Hex;
use std::fmt;
use std::path::{Path, PathBuf};

/// The lowest address a program may occupy: the first 1 MiB stays unmapped (null
/// pointers fault) and the KIP page follows at 0x10_0000 (see `linker/user.ld`).
pub const PROGRAM_AREA_START: u64 = 0x10_1000;

/// One `NAME=PATH` argument: the file at `path` goes into the archive as `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// The entry's name in the archive (a program's name).
    pub name: String,
    /// The file on the host.
    pub path: PathBuf,
}

/// Why `mkinitrd` cannot build or accept an archive.
#[derive(Debug)]
pub enum InitrdError {
    /// An argument is not `NAME=PATH` with both parts non-empty.
    BadInput(String),
    /// Two inputs have the same name.
    DuplicateName(String),
    /// No inputs: an empty initrd has nothing to start.
    NoInputs,
    /// An input file cannot be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The archive cannot be written.
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The writer refused an entry.
    Archive(WriteError),
    /// The archive does not read back.
    Cpio(CpioError),
}

impl fmt::Display for InitrdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitrdError::BadInput(a) => write!(f, "argument `{a}` is not NAME=PATH"),
            InitrdError::DuplicateName(n) => write!(f, "name `{n}` is given twice"),
            InitrdError::NoInputs => write!(f, "no NAME=PATH given: nothing to pack"),
            InitrdError::Read { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            InitrdError::Write { path, source } => write!(f, "cannot write {}: {source}", path.display()),
            InitrdError::Archive(e) => write!(f, "{e}"),
            InitrdError::Cpio(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for InitrdError {}

/// Parses `NAME=PATH` arguments, refusing malformed ones and repeated names.
pub fn parse_inputs<S: AsRef<str>>(args: &[S]) -> Result<Vec<Input>, InitrdError> {
    let mut inputs: Vec<Input> = Vec::new();
    for arg in args {
        let arg = arg.as_ref();
        let (name, path) = match arg.split_once('=') {
            Some((n, p)) if !n.is_empty() && !p.is_empty() => (n, p),
            _ => return Err(InitrdError::BadInput(arg.to_string())),
        };
        if inputs.iter().any(|i| i.name == name) {
            return Err(InitrdError::DuplicateName(name.to_string()));
        }
        inputs.push(Input { name: name.to_string(), path: PathBuf::from(path) });
    }
    if inputs.is_empty() {
        return Err(InitrdError::NoInputs);
    }
    Ok(inputs)
}

/// Packs named contents into an archive, in the order given.
pub fn pack_bytes<'a>(entries: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Result<Vec<u8>, WriteError> {
    let mut writer = Writer::new(Format::Newc);
    for (name, data) in entries {
        writer.add_file(name, 0o755, data)?;
    }
    Ok(writer.finish())
}

/// Reads every input and packs them; also returns each input's size, for the listing.
pub fn pack(inputs: &[Input]) -> Result<(Vec<u8>, Vec<usize>), InitrdError> {
    let mut contents = Vec::with_capacity(inputs.len());
    for input in inputs {
        let data = std::fs::read(&input.path)
            .map_err(|source| InitrdError::Read { path: input.path.clone(), source })?;
        contents.push(data);
    }
    let sizes = contents.iter().map(Vec::len).collect();
    let archive = pack_bytes(inputs.iter().zip(&contents).map(|(i, d)| (i.name.as_str(), d.as_slice())))
        .map_err(InitrdError::Archive)?;
    Ok((archive, sizes))
}

/// Writes `bytes` to `path`.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), InitrdError> {
    std::fs::write(path, bytes).map_err(|source| InitrdError::Write { path: path.to_path_buf(), source })
}

/// Why an entry of the archive is not a program the system can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryProblem {
    /// The entry is not a regular file.
    NotAFile,
    /// `bootfmt::elf` refuses it.
    Elf(ElfError),
    /// A segment starts below [`PROGRAM_AREA_START`], where the null guard and the KIP are.
    BelowProgramArea {
        /// The lowest address of any segment.
        low: u64,
    },
}

impl fmt::Display for EntryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryProblem::NotAFile => write!(f, "not a regular file"),
            EntryProblem::Elf(e) => write!(f, "{e}"),
            EntryProblem::BelowProgramArea { low } => write!(
                f,
                "a segment starts at {low:#x}, below {PROGRAM_AREA_START:#x} (null guard and KIP; see linker/user.ld)"
            ),
        }
    }
}

/// One entry of a checked archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedEntry {
    /// The entry's name.
    pub name: String,
    /// Its size in bytes.
    pub bytes: usize,
    /// What the loader would see, or why it would refuse it.
    pub verdict: Result<ProgramSummary, EntryProblem>,
}

/// What a loader needs to know of a program, for the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSummary {
    /// The entry point.
    pub entry: u64,
    /// One `flags vaddr..end (file N)` description per segment.
    pub segments: Vec<String>,
    /// The lowest and one-past-the-highest address the program occupies.
    pub extent: (u64, u64),
}

impl CheckedEntry {
    /// The `ok NAME: ...` or `FAILED NAME: ...` line, then the `report:` line of a good entry.
    pub fn lines(&self) -> Vec<String> {
        match &self.verdict {
            Ok(p) => vec![
                format!("ok {}: entry {:#x}, {}", self.name, p.entry, p.segments.join(", ")),
                report::line!("initrd-entry",
                    "name" => self.name,
                    "bytes" => self.bytes,
                    "entry" => Hex(p.entry),
                    "segments" => p.segments.len(),
                    "low" => Hex(p.extent.0),
                    "high" => Hex(p.extent.1),
                )
                .to_string(),
            ],
            Err(e) => vec![format!("FAILED {}: {e}", self.name)],
        }
    }
}

/// Checks one program as a loader would.
pub fn check_program(data: &[u8]) -> Result<ProgramSummary, EntryProblem> {
    let elf = Elf::parse(data).map_err(EntryProblem::Elf)?;
    let extent = elf.extent();
    if extent.0 < PROGRAM_AREA_START {
        return Err(EntryProblem::BelowProgramArea { low: extent.0 });
    }
    let segments = elf
        .segments()
        .map(|s| format!("{} {:#x}..{:#x} (file {:#x})", s.flags, s.vaddr, s.end(), s.filesz))
        .collect();
    Ok(ProgramSummary { entry: elf.entry(), segments, extent })
}

/// Reads the archive with `bootfmt::cpio` and every entry with `bootfmt::elf`. An archive
/// that does not read is an error; each entry has its own verdict.
pub fn check_archive(bytes: &[u8]) -> Result<Vec<CheckedEntry>, InitrdError> {
    let archive = Archive::new(bytes);
    archive.validate().map_err(InitrdError::Cpio)?;
    let mut checked = Vec::new();
    for entry in archive.entries() {
        let entry = entry.map_err(InitrdError::Cpio)?;
        let verdict = if entry.is_file() { check_program(entry.data) } else { Err(EntryProblem::NotAFile) };
        checked.push(CheckedEntry { name: entry.name.to_string(), bytes: entry.data.len(), verdict });
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal program at 0x40_0000: one RX page holding `ret`-sized filler.
    fn tiny_program(vaddr: u64) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"\x7fELF\x02\x01\x01\x00\0\0\0\0\0\0\0\0");
        b.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        b.extend_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&vaddr.to_le_bytes()); // e_entry
        b.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
        b.extend_from_slice(&[0; 12]); // e_shoff, e_flags
        for v in [64u16, 56, 1, 0, 0, 0] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        b.extend_from_slice(&5u32.to_le_bytes()); // R X
        for v in [0x1000u64, vaddr, vaddr, 8, 8, 0x1000] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.resize(0x1008, 0);
        b
    }

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn inputs_are_name_equals_path_pairs() {
        let inputs = parse_inputs(&args(&["hello=/t/hello", "sigma0=a=b"])).unwrap();
        assert_eq!(inputs[0], Input { name: "hello".into(), path: "/t/hello".into() });
        assert_eq!(inputs[1].path, PathBuf::from("a=b"), "only the first = separates");
    }

    #[test]
    fn malformed_and_repeated_inputs_are_refused() {
        assert!(matches!(parse_inputs(&args(&["hello"])), Err(InitrdError::BadInput(a)) if a == "hello"));
        assert!(matches!(parse_inputs(&args(&["=x"])), Err(InitrdError::BadInput(_))));
        assert!(matches!(parse_inputs(&args(&["x="])), Err(InitrdError::BadInput(_))));
        let e = parse_inputs(&args(&["a=1", "b=2", "a=3"])).unwrap_err();
        assert!(matches!(&e, InitrdError::DuplicateName(n) if n == "a"));
        assert_eq!(e.to_string(), "name `a` is given twice");
        assert!(matches!(parse_inputs::<&str>(&[]), Err(InitrdError::NoInputs)));
    }

    #[test]
    fn a_missing_file_is_named() {
        let inputs = parse_inputs(&args(&["x=/nonexistent/numa-l4/x"])).unwrap();
        let e = pack(&inputs).unwrap_err();
        assert!(e.to_string().starts_with("cannot read /nonexistent/numa-l4/x: "), "{e}");
    }

    #[test]
    fn packing_is_deterministic_and_reads_back() {
        let dir = std::env::temp_dir().join(format!("numa-l4-initrd-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a"), dir.join("b"));
        std::fs::write(&a, tiny_program(0x40_0000)).unwrap();
        std::fs::write(&b, b"not a program").unwrap();
        let inputs =
            parse_inputs(&[format!("prog={}", a.display()), format!("data={}", b.display())]).unwrap();
        let (first, sizes) = pack(&inputs).unwrap();
        let (second, _) = pack(&inputs).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(first, second);
        assert_eq!(sizes, [0x1008, 13]);
        let checked = check_archive(&first).unwrap();
        assert_eq!(checked.len(), 2);
        assert_eq!(checked[0].name, "prog");
        let p = checked[0].verdict.as_ref().unwrap();
        assert_eq!((p.entry, p.extent), (0x40_0000, (0x40_0000, 0x40_0008)));
        assert_eq!(
            checked[0].lines(),
            [
                "ok prog: entry 0x400000, r-x 0x400000..0x400008 (file 0x8)",
                "report: initrd-entry name=prog bytes=4104 entry=0x400000 segments=1 low=0x400000 high=0x400008"
            ]
        );
        assert_eq!(checked[1].verdict, Err(EntryProblem::Elf(ElfError::TooShort { len: 13 })));
        assert_eq!(checked[1].lines(), ["FAILED data: elf: 13 bytes, shorter than the 64-byte header"]);
    }

    #[test]
    fn a_program_in_the_null_guard_or_on_the_kip_is_refused() {
        assert_eq!(check_program(&tiny_program(0x1000)), Err(EntryProblem::BelowProgramArea { low: 0x1000 }));
        assert_eq!(
            check_program(&tiny_program(0x10_0000)),
            Err(EntryProblem::BelowProgramArea { low: 0x10_0000 })
        );
        assert!(check_program(&tiny_program(PROGRAM_AREA_START)).is_ok());
    }

    #[test]
    fn a_corrupt_archive_is_an_error() {
        let mut bytes = pack_bytes([("x", &b"1"[..])]).unwrap();
        bytes.truncate(bytes.len() - 20);
        assert!(matches!(check_archive(&bytes), Err(InitrdError::Cpio(_))));
    }
}
