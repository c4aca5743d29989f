// SPDX-License-Identifier: MIT OR Apache-2.0
//! What the server and the pagers both need: messages, map and grant items, the
//! program's ELF as a window onto the initrd, and which pages are node-local.

use crate::memory::Segment;
use abi::fpage::{Fpage, Rights};
use abi::message::{Tag, TypedItem};
use bootfmt::elf::Elf;
use numa::decl::{self, Declaration};
use numa::region::{Kind, PAGE};
use rt::sys;

/// MR0 of a message: `label`, `u` untyped words, `t` typed words.
pub fn tag(label: u16, u: u8, t: u8) -> u64 {
    Tag::new(label, u, t).map_or(0, |t| t.raw())
}

/// The label of a received MR0 (0 if it does not decode).
pub fn label(mr0: u64) -> u16 {
    Tag::from_raw(mr0).map_or(0, |t| t.label())
}

/// The two words of an item passing the page at `from` (this space) on, with `rights`,
/// to `to` (the receiver's page): a map, or a grant that moves it.
pub fn item(from: u64, to: u64, rights: Rights, grant: bool) -> [u64; 2] {
    let Ok(fpage) = Fpage::new(from, 12, rights) else { return [0, 0] };
    let item = if grant {
        TypedItem::Grant { send_base: to, fpage }
    } else {
        TypedItem::Map { send_base: to, fpage }
    };
    item.encode().unwrap_or([0, 0])
}

/// Reads the word at `va` of this space.
pub fn read(va: u64) -> u64 {
    // SAFETY: the callers read memory this thread has mapped (its UTCB, a window, a
    // frame of its own); volatile, since other threads and the kernel change it.
    unsafe { core::ptr::read_volatile(va as *const u64) }
}

/// Writes the word at `va` of this space.
pub fn write(va: u64, value: u64) {
    // SAFETY: as in `read`, memory this thread has mapped writable.
    unsafe { core::ptr::write_volatile(va as *mut u64, value) }
}

/// This space's memory for `copy::copy`: the callers' ranges (see [`write_bytes`]).
struct Mapped;

impl crate::copy::Memory for Mapped {
    fn load(&mut self, addr: u64) -> u64 {
        read(addr)
    }
    fn store(&mut self, addr: u64, value: u64) {
        write(addr, value)
    }
    fn load_byte(&mut self, addr: u64) -> u8 {
        // SAFETY: a byte of the source slice `write_bytes` was given.
        unsafe { core::ptr::read_volatile(addr as *const u8) }
    }
    fn store_byte(&mut self, addr: u64, value: u8) {
        // SAFETY: a byte of the destination range `write_bytes` was given.
        unsafe { core::ptr::write_volatile(addr as *mut u8, value) }
    }
}

/// Copies `bytes` to `va` of this space (a frame of its own, writable), a word at a
/// time (`copy.rs`).
pub fn write_bytes(va: u64, bytes: &[u8]) {
    // `va .. va + bytes.len()` lies in a page this thread just mapped writable for
    // exactly this (the callers keep the range inside the page); `copy` reads only
    // aligned words holding bytes of `bytes`, which lie in mapped pages of the file.
    crate::copy::copy(&mut Mapped, bytes.as_ptr() as u64, va, bytes.len() as u64);
}

/// Copies the page at `from` to the page at `to` (both mapped in this space).
pub fn copy_page(from: u64, to: u64) {
    for off in (0..PAGE).step_by(8) {
        write(to + off, read(from + off));
    }
}

/// Sets BR0 of the UTCB at `utcb`: where map and grant items sent to this thread land.
pub fn set_receive_window(utcb: u64, window: Fpage) {
    write(utcb + abi::utcb::BR_OFFSET as u64, window.raw());
}

/// Takes the page at `va` out of this space (`Unmap` of MR0, flush-own): with
/// everything mapped from it; an owned frame goes back to its pool.
pub fn unmap_own(utcb: u64, va: u64) {
    if let Ok(f) = Fpage::new(va, 12, Rights::RWX) {
        write(utcb + abi::utcb::MR_OFFSET as u64, f.raw());
        let _ = sys::unmap(1, true);
    }
}

/// Revokes every mapping derived from the page at `va` of this space, keeping it.
pub fn revoke_from_others(utcb: u64, va: u64) {
    if let Ok(f) = Fpage::new(va, 12, Rights::RWX) {
        write(utcb + abi::utcb::MR_OFFSET as u64, f.raw());
        let _ = sys::unmap(1, false);
    }
}

/// An ELF file in the initrd, mapped read-only at `window` (+ its offset in the page)
/// by whoever pages this space: its bytes, touched lazily.
pub fn file(window: u64, offset: u64, len: u64) -> &'static [u8] {
    // SAFETY: the file's pages are mapped read-only at `window` on first touch (the
    // root task maps them into the server, the server into each pager) and stay for
    // this space's life; nothing writes them (the initrd is the kernel's, lent).
    unsafe { core::slice::from_raw_parts((window + offset) as *const u8, len as usize) }
}

/// What the runtime knows of the program from its ELF.
pub struct Program {
    /// The entry point.
    pub entry: u64,
    /// Its loadable segments.
    pub segments: [Segment; 16],
    /// How many.
    pub segment_count: usize,
    /// Its declaration.
    pub decl: Declaration,
}

/// Why a program cannot run under the runtime.
pub enum Unfit {
    /// Its ELF does not parse.
    Elf(bootfmt::elf::ElfError),
    /// No `numa-l4` note (the root task should not have sent it here).
    NoNote,
    /// The note does not decode.
    Decl(decl::DeclError),
}

impl core::fmt::Display for Unfit {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Unfit::Elf(e) => write!(f, "{e}"),
            Unfit::NoNote => f.write_str("no numa-l4 declaration"),
            Unfit::Decl(e) => write!(f, "declaration: {e}"),
        }
    }
}

impl Program {
    /// Reads the program from its ELF bytes.
    pub fn parse(bytes: &[u8]) -> Result<Program, Unfit> {
        let elf = Elf::parse(bytes).map_err(Unfit::Elf)?;
        let note = elf.note(decl::NOTE_NAME, decl::NOTE_TYPE).ok_or(Unfit::NoNote)?;
        let decl = Declaration::decode(note, &numa::layout::RESERVED).map_err(Unfit::Decl)?;
        Ok(Program::with(&elf, decl))
    }

    /// Reads a program without a declaration (the runtime's own file): its segments.
    pub fn parse_plain(bytes: &[u8]) -> Option<Program> {
        Elf::parse(bytes).ok().map(|elf| Program::with(&elf, Declaration::new()))
    }

    fn with(elf: &Elf<'_>, decl: Declaration) -> Program {
        let mut p = Program { entry: elf.entry(), segments: [Segment::NONE; 16], segment_count: 0, decl };
        for s in elf.segments().take(16) {
            p.segments[p.segment_count] = Segment {
                vaddr: s.vaddr,
                memsz: s.memsz,
                filesz: s.filesz,
                offset: s.offset,
                writable: s.flags.write,
                executable: s.flags.execute,
            };
            p.segment_count += 1;
        }
        p
    }

    /// The segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments[..self.segment_count]
    }

    /// How a node's pager serves the page at `page`: made on its node from the file
    /// (code, read-only data: their rights), made zeroed on its node (a declared
    /// node-local region), or asked of the server (everything else, which the server
    /// checks). With `replicate` off, code and read-only data are the server's too (one
    /// copy for every node: the evaluation's comparison).
    pub fn local(&self, page: u64, replicate: bool) -> Local {
        if let Some(s) = self.segments().iter().find(|s| page + PAGE > s.vaddr && page < s.vaddr + s.memsz) {
            if s.writable || !replicate {
                return Local::Server;
            }
            return Local::Copy { rights: if s.executable { Rights::RX } else { Rights::R } };
        }
        for r in self.decl.declared() {
            if page >= r.base && r.end().is_some_and(|end| page < end) && matches!(r.kind, Kind::NodeLocal(_))
            {
                return Local::Zero;
            }
        }
        Local::Server
    }
}

/// See [`Program::local`].
pub enum Local {
    /// A copy of the file's bytes on the pager's node, with these rights.
    Copy {
        /// The segment's rights.
        rights: Rights,
    },
    /// A zeroed frame on the pager's node.
    Zero,
    /// The server's.
    Server,
}

/// The `MemoryControl` flags for a read-write-execute frame, from the nearest node with
/// memory if the asked one has none left.
pub const RWX_NEAREST: u64 = (0b111 << 4) | 1;
