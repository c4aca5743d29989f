// SPDX-License-Identifier: MIT OR Apache-2.0
//! The loader: which programs the initrd holds, and how one becomes memory for a child.
//!
//! The root task does not copy a program *into* the child's address space: it cannot
//! (there is no system call that writes another space's memory, and there should not
//! be), and it need not. It builds the program's pages in **its own** space instead, in
//! a scratch window, and hands them over one at a time when the child touches them
//! (the child's page faults come to the root as IPC; `pager.rs` answers them with map
//! items). Building a page means: take a frame with `MemoryControl` **on the child's home
//! node** (so the program's memory is local to where it runs, the paper's point), copy
//! the file bytes that land in that page, and leave the rest zero (`MemoryControl`
//! zeroes every frame it hands out, which is what `.bss` needs).
//!
//! # Design
//!
//! ```text
//!   child's space (each program)             root's space (scratch window)
//!   0x10_0000  KIP (kernel)
//!   0x20_0000  UTCB (kernel)
//!   0x34_0000 .. 0x38_0000  stack  <--------  stack_scratch .. + 256 KiB   fresh on first touch
//!   0x40_0000  text  r-x   <------------------ region 0 scratch           file bytes, built at load
//!              rodata r--  <------------------ region 1 scratch           file bytes, built at load
//!              data  rw-   <------------------ region 2 scratch           file bytes, built at load
//!              bss   rw-   <------------------ (same region, past file)   fresh on first touch
//! ```
//!
//! [`plan`] lays a program out: one [`Region`] per loadable segment, each a run of
//! pages placed back to back in the scratch window, then the stack. It is pure, so the
//! host tests check it. Pages that hold file bytes are built when the program is loaded
//! (`load`, on the target); pages with no file bytes (`.bss` past the last file byte,
//! the stack) cost nothing until the child touches them, so a program with a large
//! zero-initialised array pays only for what it uses.
//!
//! When a program ends the root deletes its thread (its space, and what the space owned,
//! go with it) and gives its scratch frames back (`reclaim`: `MemoryControl`'s free
//! flag), so a run of a thousand programs ends with the memory it started with
//! (`report: memory-balance`). Each program gets the next part of the window
//! ([`SCRATCH_BASE`] up to the end of the user address space) while others run; once
//! none does, the window starts again at its base, and the root's own tables for it
//! are made once.
//!
//! # What a program must be
//!
//! A static ELF `bootfmt::elf` accepts (fixed address, W^X, at most 16 segments), with
//! every segment at or above [`PROGRAM_BASE`] (below it are the KIP, the UTCB and the
//! stack, which the loader places) and at most [`MAX_IMAGE_SIZE`] from there to its
//! end. Anything else is refused with a [`LoadError`] and reported as a failed program.
//!
//! # Known gap: instruction-cache coherency
//!
//! The root writes code through its data mapping and the child executes it through
//! another mapping, possibly on another CPU. Arm requires `DC CVAU` + `IC IVAU` between
//! the two unless the CPU reports `CTR_EL0.IDC`/`DIC`. QEMU does not model caches, and
//! the kernel keeps `SCTLR_EL1.UCI` clear (EL0 may not clean caches), so on hardware
//! that needs it, the kernel will have to clean the frames when it maps them
//! executable, as it must for the root task itself.

use abi::fpage::Rights;
use bootfmt::cpio::{Archive, CpioError, Entry};
use bootfmt::elf::{ElfError, MAX_LOAD_SEGMENTS, Segment};

/// The page size (4 KiB granule).
pub const PAGE: u64 = abi::PAGE_SIZE;
/// The name under which the root task itself is in the initrd: never started again.
pub const ROOT_NAME: &str = "root";
/// The NUMA runtime's name in the initrd: started for NUMA programs, never by itself.
pub const RUNTIME_NAME: &str = "numa-pager";
/// Where every child's UTCB is (as for the root task).
pub const CHILD_UTCB: u64 = 0x20_0000;
/// The top of every child's stack (the stack grows down from here).
pub const CHILD_STACK_TOP: u64 = 0x38_0000;
/// How far a child's stack may grow; a touch below it is a crash (stack overflow).
pub const CHILD_STACK_SIZE: u64 = 256 * 1024;
/// The lowest address a program's segments may use (`linker/user.ld`'s `USER_BASE`).
pub const PROGRAM_BASE: u64 = 0x40_0000;
/// The most address range a program's segments may span, from [`PROGRAM_BASE`] (1 GiB):
/// far more than any program here, and a bound on what one bad file can reserve.
pub const MAX_IMAGE_SIZE: u64 = 1 << 30;
/// Where the root task's scratch window for children's pages starts (512 GiB, far above
/// the root's program, its initrd at 0x10_0000_0000 and the self-test's frames).
pub const SCRATCH_BASE: u64 = 0x80_0000_0000;
/// Where the scratch window ends: the end of the user address space.
pub const SCRATCH_END: u64 = abi::USER_ADDRESS_LIMIT;

/// Why a program was not started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The file is not an executable the loader accepts.
    Elf(ElfError),
    /// A segment starts below [`PROGRAM_BASE`], where the KIP, UTCB and stack go.
    BelowProgramBase {
        /// The segment's address.
        vaddr: u64,
    },
    /// The segments reach further than [`MAX_IMAGE_SIZE`] above [`PROGRAM_BASE`].
    TooLarge {
        /// Where the highest segment ends.
        end: u64,
    },
    /// The scratch window has no room left for this program.
    OutOfScratch,
    /// The kernel refused a frame or a thread (`MemoryControl`, `ThreadControl`, ...).
    Kernel(abi::Error),
    /// No CPU accepted the program's thread.
    NoCpu,
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LoadError::Elf(e) => e.fmt(f),
            LoadError::BelowProgramBase { vaddr } => {
                write!(f, "a segment at {vaddr:#x} is below the program base {PROGRAM_BASE:#x}")
            }
            LoadError::TooLarge { end } => {
                write!(f, "the segments end at {end:#x}, more than {MAX_IMAGE_SIZE:#x} above the base")
            }
            LoadError::OutOfScratch => f.write_str("the root task's scratch window is full"),
            LoadError::Kernel(e) => write!(f, "the kernel refused: {e}"),
            LoadError::NoCpu => f.write_str("no CPU accepted the program's thread"),
        }
    }
}

/// One loadable segment of a child, and where its pages are built in the root's space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// The program-header index of the segment (to find its file bytes again).
    pub index: usize,
    /// The first page of the segment in the child's space.
    pub first: u64,
    /// One past its last page.
    pub end: u64,
    /// One past the last page that holds file bytes: pages below it are built at load
    /// time, pages from it on are fresh (zero) frames taken on first touch.
    pub file_end: u64,
    /// The rights the child gets (from the segment's flags; R always, as AArch64 has
    /// no write-only or execute-only user pages in this kernel).
    pub rights: Rights,
    /// The root's address of page `first`; the others follow it.
    pub scratch: u64,
}

impl Region {
    const EMPTY: Region = Region { index: 0, first: 0, end: 0, file_end: 0, rights: Rights::NONE, scratch: 0 };

    /// Whether the child's page `page` is in this region.
    pub fn contains(&self, page: u64) -> bool {
        (self.first..self.end).contains(&page)
    }

    /// The root's address of the child's page `page` (which must be in the region).
    pub fn scratch_of(&self, page: u64) -> u64 {
        self.scratch + (page - self.first)
    }

    /// The rights of the root's own mapping of the region's frames: read-write (the root
    /// fills them), plus execute when the child executes them (a mapping can pass on
    /// only rights its source has).
    pub fn scratch_rights(&self) -> Rights {
        Rights::RW.union(self.rights.intersection(Rights::X))
    }
}

/// A program laid out for loading: its regions, its entry point, its stack's scratch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    regions: [Region; MAX_LOAD_SEGMENTS],
    count: usize,
    /// The entry point (the child's first instruction).
    pub entry: u64,
    /// The root's address of the child's lowest stack page.
    pub stack_scratch: u64,
    /// One past the last scratch address the image uses: where the next program goes.
    pub scratch_end: u64,
}

impl Image {
    /// The regions, in program-header order.
    pub fn regions(&self) -> &[Region] {
        &self.regions[..self.count]
    }

    /// The lowest address of the child's stack.
    pub const fn stack_bottom() -> u64 {
        CHILD_STACK_TOP - CHILD_STACK_SIZE
    }
}

/// The rights a segment's flags give the child.
fn rights_of(seg: &Segment<'_>) -> Rights {
    let mut r = Rights::R;
    if seg.flags.write {
        r = r.union(Rights::W);
    }
    if seg.flags.execute {
        r = r.union(Rights::X);
    }
    r
}

/// Lays out a program with loadable `segments` and `entry` in the scratch window from
/// `scratch` (page aligned) up to `limit`: each non-empty segment's pages, then the
/// stack. Checks the rules of the module docs; changes nothing.
pub fn plan<'s, 'd: 's>(
    segments: impl Iterator<Item = &'s Segment<'d>>,
    entry: u64,
    scratch: u64,
    limit: u64,
) -> Result<Image, LoadError> {
    let mut image = Image {
        regions: [Region::EMPTY; MAX_LOAD_SEGMENTS],
        count: 0,
        entry,
        stack_scratch: 0,
        scratch_end: 0,
    };
    let mut cursor = scratch;
    for seg in segments.filter(|s| s.memsz > 0) {
        if seg.vaddr < PROGRAM_BASE {
            return Err(LoadError::BelowProgramBase { vaddr: seg.vaddr });
        }
        if seg.end() - PROGRAM_BASE > MAX_IMAGE_SIZE {
            return Err(LoadError::TooLarge { end: seg.end() });
        }
        let (first, end) = seg.pages();
        // `bootfmt` guarantees filesz <= memsz, so the file bytes end inside the segment.
        let file_end = if seg.filesz == 0 { first } else { (seg.vaddr + seg.filesz).next_multiple_of(PAGE) };
        let slot = image.regions.get_mut(image.count).ok_or(LoadError::Elf(ElfError::TooManyLoadSegments))?;
        *slot = Region { index: seg.index, first, end, file_end, rights: rights_of(seg), scratch: cursor };
        image.count += 1;
        // Each span is at most MAX_IMAGE_SIZE and there are at most 16: no overflow.
        cursor += end - first;
    }
    image.stack_scratch = cursor;
    image.scratch_end = cursor + CHILD_STACK_SIZE;
    if image.scratch_end > limit {
        return Err(LoadError::OutOfScratch);
    }
    Ok(image)
}

/// The file bytes of `seg` that land in the child's page `page`: their offset in the
/// page and the bytes (empty when the page has none).
pub fn file_bytes_in_page<'d>(seg: &Segment<'d>, page: u64) -> (u64, &'d [u8]) {
    let from = page.max(seg.vaddr);
    let to = (page + PAGE).min(seg.vaddr + seg.filesz);
    if from >= to {
        return (0, &[]);
    }
    // from >= vaddr and to <= vaddr + filesz = vaddr + data.len(), so this is in bounds;
    // `get` keeps it panic-free regardless.
    let bytes = seg.data.get((from - seg.vaddr) as usize..(to - seg.vaddr) as usize).unwrap_or(&[]);
    (from - page, bytes)
}

/// The program to start after the one called `after` (or the first, for `None`): the
/// regular file with the smallest name greater than `after`, `root`, the NUMA runtime
/// and the manifest excepted. Name
/// order, not archive order, so the run does not depend on how the archive was packed.
pub fn next_program<'a>(archive: &Archive<'a>, after: Option<&str>) -> Result<Option<Entry<'a>>, CpioError> {
    let mut best: Option<Entry<'a>> = None;
    for entry in archive.entries() {
        let entry = entry?;
        let later = after.is_none_or(|a| entry.name > a);
        let earlier_than_best = best.is_none_or(|b| entry.name < b.name);
        let program = entry.name != ROOT_NAME && entry.name != RUNTIME_NAME && entry.name != crate::manifest::MANIFEST;
        if entry.is_file() && program && later && earlier_than_best {
            best = Some(entry);
        }
    }
    Ok(best)
}

/// Builds the pages of `image` that hold file bytes: a frame on `node` (or the nearest
/// node with memory) for each, mapped at its scratch address, with the file bytes of
/// `elf`'s segments copied in. Pages without file bytes are left to the first touch.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub fn load(image: &Image, elf: &bootfmt::elf::Elf<'_>, node: u64) -> Result<(), LoadError> {
    for region in image.regions() {
        let Some(seg) = elf.segments().find(|s| s.index == region.index) else { continue };
        let mut page = region.first;
        while page < region.file_end {
            let scratch = region.scratch_of(page);
            frame(node, scratch, region.scratch_rights()).map_err(LoadError::Kernel)?;
            let (offset, bytes) = file_bytes_in_page(seg, page);
            // SAFETY: `frame` just mapped one page read-write at `scratch` in this space,
            // nothing else refers to it yet, and offset + bytes.len() <= PAGE by
            // construction of `file_bytes_in_page`.
            let dest = unsafe { core::slice::from_raw_parts_mut((scratch + offset) as *mut u8, bytes.len()) };
            dest.copy_from_slice(bytes);
            page += PAGE;
        }
    }
    Ok(())
}

/// Gives back every frame the root built `image`'s pages in: each page of its scratch
/// range that is mapped (the file pages built at load, the fresh ones its faults took).
/// Call it after the program's thread is deleted: then nothing maps them any more; if
/// something still did, the free would revoke it.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub fn reclaim(image: &Image) {
    let start = image.regions().first().map_or(image.stack_scratch, |r| r.scratch);
    let mut page = start;
    while page < image.scratch_end {
        let q = abi::introspect::Request::Translate { space: abi::thread::ThreadId::NIL, va: page }.encode();
        if rt::sys::introspect(q).ok().and_then(abi::introspect::Translation::from_regs).is_some() {
            let _ = rt::sys::memory_free(page, 0);
        }
        page += PAGE;
    }
}

/// The span of the scratch window whose translation tables the root makes before the
/// first program (`warm`): 32 MiB, room for the programs of a run and those beside
/// them. (The kernel keeps a space's tables once made, so tables first made for a
/// program would count as memory it did not give back.)
pub const WARM_SPAN: u64 = 32 << 20;

/// Makes the root's translation tables for the first [`WARM_SPAN`] of the scratch
/// window: a frame taken and given back every 2 MiB (one last-level table each).
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub fn warm() {
    let mut va = SCRATCH_BASE;
    while va < SCRATCH_BASE + WARM_SPAN {
        if frame(0, va, Rights::RW).is_ok() {
            let _ = rt::sys::memory_free(va, 0);
        }
        va += 2 << 20;
    }
}

/// Takes one zeroed frame on `node` (the nearest node with memory if it has none) and
/// maps it at `scratch` in the root's space with `rights`.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub fn frame(node: u64, scratch: u64, rights: Rights) -> Result<(), abi::Error> {
    let flags = abi::memory_control::MemoryControlFlags { nearest_if_exhausted: true, rights, device: false, free: false };
    rt::sys::memory_control(node, 0, scratch, flags.raw()).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bootfmt::elf::Flags;

    fn seg(index: usize, vaddr: u64, filesz: u64, memsz: u64, flags: u32, data: &[u8]) -> Segment<'_> {
        Segment { index, vaddr, memsz, filesz, offset: 0, flags: Flags::from_bits(flags), align: PAGE, data }
    }

    #[test]
    fn a_typical_program_gets_one_region_per_segment_then_the_stack() {
        let text = [0u8; 0x1800];
        let data = [1u8; 0x10];
        let segs = [
            seg(0, 0x40_0000, 0x1800, 0x1800, 5, &text),
            seg(1, 0x40_2000, 0, 0, 4, &[]),
            seg(2, 0x40_3000, 0x10, 0x3000, 6, &data),
        ];
        let image = plan(segs.iter(), 0x40_0000, SCRATCH_BASE, SCRATCH_END).unwrap();
        let r = image.regions();
        assert_eq!(r.len(), 2, "the empty segment gets no region");
        assert_eq!((r[0].first, r[0].end, r[0].file_end, r[0].rights), (0x40_0000, 0x40_2000, 0x40_2000, Rights::RX));
        assert_eq!(r[0].scratch, SCRATCH_BASE);
        assert_eq!((r[1].index, r[1].first, r[1].end, r[1].file_end), (2, 0x40_3000, 0x40_6000, 0x40_4000));
        assert_eq!((r[1].rights, r[1].scratch), (Rights::RW, SCRATCH_BASE + 0x2000));
        assert_eq!(image.stack_scratch, SCRATCH_BASE + 0x5000);
        assert_eq!(image.scratch_end, SCRATCH_BASE + 0x5000 + CHILD_STACK_SIZE);
        assert_eq!(r[1].scratch_of(0x40_5000), SCRATCH_BASE + 0x4000);
        assert!(r[1].contains(0x40_5000) && !r[1].contains(0x40_6000));
    }

    #[test]
    fn the_roots_mapping_is_writable_and_executable_only_where_the_child_executes() {
        let segs = [seg(0, 0x40_0000, 4, 4, 5, &[0; 4]), seg(1, 0x40_1000, 4, 4, 4, &[0; 4])];
        let image = plan(segs.iter(), 0x40_0000, SCRATCH_BASE, SCRATCH_END).unwrap();
        assert_eq!(image.regions()[0].scratch_rights(), Rights::RWX);
        assert_eq!(image.regions()[1].scratch_rights(), Rights::RW);
        assert_eq!(image.regions()[1].rights, Rights::R);
    }

    #[test]
    fn segments_below_the_program_base_or_too_large_are_refused() {
        let low = [seg(0, CHILD_STACK_TOP - PAGE, 4, 4, 6, &[0; 4])];
        assert_eq!(
            plan(low.iter(), 0, SCRATCH_BASE, SCRATCH_END),
            Err(LoadError::BelowProgramBase { vaddr: CHILD_STACK_TOP - PAGE })
        );
        let huge = [seg(0, PROGRAM_BASE, 0, MAX_IMAGE_SIZE + 1, 6, &[])];
        assert_eq!(
            plan(huge.iter(), 0, SCRATCH_BASE, SCRATCH_END),
            Err(LoadError::TooLarge { end: PROGRAM_BASE + MAX_IMAGE_SIZE + 1 })
        );
        let exact = [seg(0, PROGRAM_BASE, 0, MAX_IMAGE_SIZE, 6, &[])];
        assert!(plan(exact.iter(), 0, SCRATCH_BASE, SCRATCH_END).is_ok());
    }

    #[test]
    fn a_full_scratch_window_refuses_the_program() {
        let segs = [seg(0, PROGRAM_BASE, 4, 4, 5, &[0; 4])];
        let need = PAGE + CHILD_STACK_SIZE;
        assert!(plan(segs.iter(), 0, SCRATCH_BASE, SCRATCH_BASE + need).is_ok());
        assert_eq!(plan(segs.iter(), 0, SCRATCH_BASE, SCRATCH_BASE + need - 1), Err(LoadError::OutOfScratch));
    }

    #[test]
    fn file_bytes_are_cut_at_page_boundaries() {
        let data: Vec<u8> = (0..0x1400u32).map(|i| i as u8).collect();
        let s = seg(0, 0x40_0100, 0x1400, 0x3000, 6, &data);
        let (off, bytes) = file_bytes_in_page(&s, 0x40_0000);
        assert_eq!((off, bytes.len(), bytes[0]), (0x100, 0xF00, 0));
        let (off, bytes) = file_bytes_in_page(&s, 0x40_1000);
        assert_eq!((off, bytes.len(), bytes[0]), (0, 0x500, 0x00));
        assert_eq!(bytes, &data[0xF00..]);
        assert_eq!(file_bytes_in_page(&s, 0x40_2000), (0, &[][..]), "bss only");
        assert_eq!(file_bytes_in_page(&s, 0x3F_F000), (0, &[][..]), "before the segment");
    }

    #[test]
    fn programs_come_in_name_order_without_the_root_or_directories() {
        let mut w = bootfmt::cpio::write::Writer::new(bootfmt::cpio::write::Format::Newc);
        for name in ["zeta", "root", "alpha", "hello", "numa-pager", "programs"] {
            w.add_file(name, 0o755, b"x").unwrap();
        }
        w.add_dir("dir").unwrap();
        let bytes = w.finish();
        let archive = Archive::new(&bytes);
        let mut names = Vec::new();
        let mut after: Option<&str> = None;
        while let Some(e) = next_program(&archive, after).unwrap() {
            names.push(e.name);
            after = Some(e.name);
        }
        assert_eq!(names, ["alpha", "hello", "zeta"]);
    }

    #[test]
    fn a_broken_archive_is_an_error_not_an_empty_list() {
        assert!(next_program(&Archive::new(b"070701garbage"), None).is_err());
    }
}
