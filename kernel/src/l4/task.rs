// SPDX-License-Identifier: MIT OR Apache-2.0
//! The first user program: the root task (sigma0 and root pager in one), from the initrd.
//!
//! The boot loader hands over an initrd (a `newc` cpio archive, found through
//! `/chosen/linux,initrd-start/-end`). The kernel starts exactly one program from it,
//! `root`, in a privileged space homed on the boot CPU's node: it copies the ELF's
//! loadable segments into frames of that node, gives it a stack and a UTCB, maps the
//! kernel interface page and the whole initrd (read-only, at [`INITRD_ADDRESS`]), and
//! makes its thread ready. Everything after that is the root task's business: it gets
//! memory node by node with `MemoryControl`, starts the other programs of the initrd,
//! and pages them.
//!
//! Its program and stack frames are mapping-database roots the kernel *lends*, like
//! the initrd's pages, not memory the root owns: `MemoryControl`'s free refuses
//! them, so the root cannot give away the code it runs; they live as long as the
//! system does.
//!
//! The layout of the root task's space, below its program (linked at 0x40_0000 by
//! `linker/user.ld`):
//!
//! ```text
//!  0x0010_0000  KIP (16 KiB, read-only)
//!  0x0020_0000  the root thread's UTCB
//!  0x0030_0000 .. 0x0038_0000  its stack (512 KiB), growing down
//!  0x0040_0000  the program
//!  0x10_0000_0000  the initrd, read-only
//!  0x11_0000_0000  the device tree, read-only (at its offset in the first page)
//! ```

use super::{Frame, Kernel, Machine};
use crate::exception::TrapFrame;
use crate::mm::addr::PhysAddr;
use crate::mm::frames::Frames;
use abi::Error;
use bootfmt::cpio::Archive;
use bootfmt::elf::Elf;
use platform::{Board, NodeId, PhysRange};

/// The root thread's UTCB.
pub const ROOT_UTCB: u64 = 0x20_0000;
/// The top of the root thread's stack.
pub const ROOT_STACK_TOP: u64 = 0x38_0000;
/// The root thread's stack size.
pub const ROOT_STACK_SIZE: u64 = 512 * 1024;
/// Where the root task finds the initrd.
pub const INITRD_ADDRESS: u64 = 0x10_0000_0000;
/// Where the root task finds the device tree (plus the blob's offset in its first
/// page), read-only: it tells drivers where their devices are (`platform::devices`).
pub const DTB_ADDRESS: u64 = 0x11_0000_0000;
/// The name of the root task in the initrd.
pub const ROOT_NAME: &str = "root";

/// Why the root task could not be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootError {
    /// The initrd is not a valid archive.
    Archive(bootfmt::cpio::CpioError),
    /// The archive has no `root`.
    NoRoot,
    /// `root` is not a loadable executable.
    Elf(bootfmt::elf::ElfError),
    /// Out of memory or another kernel error.
    Kernel(Error),
}

impl core::fmt::Display for RootError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RootError::Archive(e) => write!(f, "the initrd is not a usable archive: {e}"),
            RootError::NoRoot => write!(f, "the initrd has no `{ROOT_NAME}` entry"),
            RootError::Elf(e) => {
                write!(f, "the initrd's `{ROOT_NAME}` is not a program this kernel can start: {e}")
            }
            RootError::Kernel(e) => write!(f, "the kernel could not set up the root task: {e}"),
        }
    }
}

impl RootError {
    /// How the boot ends with this error: short of memory, or short of a root task.
    pub fn halt(&self) -> crate::halt::Halt {
        match self {
            RootError::Kernel(Error::OutOfMemory) => crate::halt::Halt::NoMemory,
            _ => crate::halt::Halt::NoRootTask,
        }
    }
}

impl From<Error> for RootError {
    fn from(e: Error) -> Self {
        RootError::Kernel(e)
    }
}

/// Builds the kernel interface page (16 KiB on the boot node) from the board, the
/// counter frequency, the initrd's and the device tree's (physical address, size);
/// returns its address.
pub fn build_kip<M: Machine>(
    frames: &Frames,
    board: &Board,
    counter_frequency: u64,
    initrd: Option<(u64, u64)>,
    dtb: Option<(u64, u64)>,
) -> Result<u64, Error> {
    let boot_node = board.cpus.first().map_or(NodeId::ZERO, |c| c.node);
    let count = abi::kip::KIP_SIZE / abi::PAGE_SIZE as usize;
    let (pa, _) = frames.alloc_near(boot_node, count).map_err(|_| Error::OutOfMemory)?;
    for f in 0..count as u64 {
        // SAFETY: the block was just allocated for the KIP alone, referenced by nothing.
        unsafe { M::MEMORY.zero_frame(PhysAddr::new(pa + f * abi::PAGE_SIZE)) };
    }
    // SAFETY: the frames are the KIP's alone, just zeroed: all-zero bytes are a valid
    // `Kip` (integers and arrays of them, `Kip::zeroed`), page alignment exceeds its
    // alignment, and it fits in KIP_SIZE (abi's assertion). User spaces only ever map
    // it read-only, and the kernel writes it only here.
    let kip = unsafe { M::MEMORY.zeroed::<abi::kip::Kip>(PhysAddr::new(pa)) };
    let dtb = dtb.map(|(pa, size)| (DTB_ADDRESS + (pa & (abi::PAGE_SIZE - 1)), size));
    super::kip::fill(kip, board, counter_frequency, initrd.map(|(_, size)| (INITRD_ADDRESS, size)), dtb);
    Ok(pa)
}

/// Loads and starts the root task from the initrd `blob`, which lies at `initrd`
/// (physical), with the device tree at `dtb` (physical address, size) mapped
/// read-only for it: its thread on `cpu`, its space homed on `node`.
pub fn start_root<M: Machine>(
    k: &mut Kernel<M>,
    blob: &[u8],
    initrd: PhysRange,
    dtb: Option<(u64, u64)>,
    cpu: u32,
    node: NodeId,
) -> Result<(), RootError> {
    let archive = Archive::new(blob);
    let entry = archive.find(ROOT_NAME).map_err(RootError::Archive)?.ok_or(RootError::NoRoot)?;
    let elf = Elf::parse(entry.data).map_err(RootError::Elf)?;
    // A program bigger than all free memory is refused before a frame is taken: page
    // by page it would take seconds to find out (4 GiB of .bss is a million pages).
    let pages: u64 = elf.segments().map(|s| (s.pages().1 - s.pages().0) / abi::PAGE_SIZE).sum();
    let frames = k.frames();
    let free: u64 = frames.nodes_with_memory().iter().map(|n| frames.free_bytes(n)).sum();
    if pages.saturating_add(ROOT_STACK_SIZE / abi::PAGE_SIZE) > free / abi::PAGE_SIZE {
        return Err(RootError::Kernel(Error::OutOfMemory));
    }
    let space = k.create_space(node, u64::MAX)?;
    if let Some(s) = k.space(space) {
        s.privileged = true;
    }
    for seg in elf.segments() {
        let (first, last) = seg.pages();
        let mut page = first;
        while page < last {
            let pa = user_frame::<M>(frames, node)?;
            let rights = crate::mdb::Rights::READ
                .union(if seg.flags.write { crate::mdb::Rights::WRITE } else { crate::mdb::Rights::NONE })
                .union(if seg.flags.execute { crate::mdb::Rights::EXEC } else { crate::mdb::Rights::NONE });
            // Copy the part of the file that lands in this page.
            let (from, to) = (page.max(seg.vaddr), (page + abi::PAGE_SIZE).min(seg.vaddr + seg.filesz));
            if from < to {
                let src = &seg.data[(from - seg.vaddr) as usize..(to - seg.vaddr) as usize];
                // SAFETY: `pa` is a frame just allocated for this program's page.
                unsafe { M::MEMORY.write_bytes(PhysAddr::new(pa + (from - page)), src) };
            }
            k.map_root(space, page, pa, rights, Frame::Lent)?;
            page += abi::PAGE_SIZE;
        }
    }
    let mut page = ROOT_STACK_TOP - ROOT_STACK_SIZE;
    while page < ROOT_STACK_TOP {
        let pa = user_frame::<M>(frames, node)?;
        k.map_root(space, page, pa, crate::mdb::Rights::READ.union(crate::mdb::Rights::WRITE), Frame::Lent)?;
        page += abi::PAGE_SIZE;
    }
    let mut off = 0;
    while off < initrd.size {
        let pa = (initrd.base & !(abi::PAGE_SIZE - 1)) + off;
        k.map_root(space, INITRD_ADDRESS + off, pa, crate::mdb::Rights::READ, Frame::Lent)?;
        off += abi::PAGE_SIZE;
    }
    // The device tree, read-only (the kernel keeps it reserved for good).
    if let Some((pa, size)) = dtb {
        let first = pa & !(abi::PAGE_SIZE - 1);
        let mut off = 0;
        while first + off < pa + size {
            k.map_root(space, DTB_ADDRESS + off, first + off, crate::mdb::Rights::READ, Frame::Lent)?;
            off += abi::PAGE_SIZE;
        }
    }
    let number = abi::thread::ROOT_THREAD_NUMBER as u32;
    let t = k.create_thread_numbered_checked(number, space, ROOT_UTCB, cpu)?;
    if let Some(tcb) = k.tcb(t) {
        tcb.context = TrapFrame::user(elf.entry(), ROOT_STACK_TOP, ROOT_UTCB);
        tcb.set_priority(200);
    }
    k.make_ready(t);
    k.machine.print(format_args!(
        "{}\n",
        report::line!("root-task",
            "entry" => report::Hex(elf.entry()),
            "segments" => elf.segments().count(),
            "space" => space,
            "home" => node,
            "cpu" => cpu,
        )
    ));
    Ok(())
}

/// A zeroed frame of user memory for the root task, on its node.
fn user_frame<M: Machine>(frames: &Frames, node: NodeId) -> Result<u64, Error> {
    let (pa, _) = frames.alloc_near(node, 1).map_err(|_| Error::OutOfMemory)?;
    // SAFETY: just allocated, unshared.
    unsafe { M::MEMORY.zero_frame(PhysAddr::new(pa)) };
    Ok(pa)
}

#[cfg(test)]
mod tests {
    use super::super::Machine;
    use super::super::fake::{Fake, PAGES_PER_NODE, World};
    use super::*;
    use crate::thread::ThreadState;
    use bootfmt::cpio::write::{Format, Writer};
    use std::vec::Vec;

    /// A program as `linker/user.ld` lays one out: text (read, execute) at 0x40_0000,
    /// data (read, write) at 0x40_1000 with 0x40 bytes from the file and 0x2000 in
    /// memory (the rest is .bss), entry at 0x40_0010.
    fn program() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(b"\x7fELF\x02\x01\x01\x00");
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        b.extend_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&0x40_0010u64.to_le_bytes());
        b.extend_from_slice(&64u64.to_le_bytes()); // program headers after the header
        b.extend_from_slice(&0u64.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&64u16.to_le_bytes());
        b.extend_from_slice(&56u16.to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&[0; 6]);
        for (flags, offset, vaddr, filesz, memsz) in
            [(5u32, 0x1000u64, 0x40_0000u64, 0x100u64, 0x100u64), (6, 0x2000, 0x40_1000, 0x40, 0x2000)]
        {
            b.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
            b.extend_from_slice(&flags.to_le_bytes());
            for v in [offset, vaddr, vaddr, filesz, memsz, 0x1000] {
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        b.resize(0x2040, 0);
        for (i, byte) in b[0x1000..].iter_mut().enumerate() {
            *byte = (i as u8) | 1;
        }
        b
    }

    /// `files` packed as an initrd, placed in the world's memory (node 0): the blob
    /// and where it lies.
    fn initrd(w: &mut World, files: &[(&str, &[u8])]) -> (&'static [u8], PhysRange) {
        let mut archive = Writer::new(Format::Newc);
        for (name, data) in files {
            archive.add_file(name, 0o755, data).unwrap();
        }
        let bytes = archive.finish();
        let pages = bytes.len().div_ceil(abi::PAGE_SIZE as usize);
        let (pa, _) = w.frames.alloc_near(NodeId::ZERO, pages).unwrap();
        // SAFETY: the block was just allocated from the world's host memory for this
        // archive alone; it is written once, here, and only read after.
        unsafe { Fake::MEMORY.write_bytes(PhysAddr::new(pa), &bytes) };
        // SAFETY: as above: nothing writes the block from now on.
        let blob = unsafe { Fake::MEMORY.slice(PhysAddr::new(pa), bytes.len()) };
        (blob, PhysRange { base: pa, size: bytes.len() as u64 })
    }

    #[test]
    fn the_root_task_starts_from_the_initrd_with_its_image_stack_and_initrd_mapped() {
        let mut w = World::bare(PAGES_PER_NODE);
        let elf = program();
        let (blob, range) = initrd(&mut w, &[("hello", b"not a program"), ("root", &elf)]);
        let (tree, _) = w.frames.alloc_near(NodeId::ZERO, 1).unwrap();
        start_root(&mut w.k, blob, range, Some((tree + 0x10, 64)), 1, NodeId::ZERO).unwrap();
        let root = abi::thread::ROOT_THREAD_NUMBER as u32;
        let tcb = w.k.tcb(root).unwrap();
        assert_eq!(
            (tcb.state, tcb.priority, tcb.context.elr, tcb.context.sp),
            (ThreadState::Ready, 200, 0x40_0010, ROOT_STACK_TOP)
        );
        assert_eq!(tcb.context.x[0], ROOT_UTCB, "the UTCB's address in x0");
        let space = tcb.space;
        assert!(w.k.space(space).unwrap().privileged);
        let text = w.k.translate_user(space, 0x40_0000).unwrap();
        assert!(text.1.user_exec && !text.1.write, "text: read and execute");
        let data = w.k.translate_user(space, 0x40_1000).unwrap();
        assert!(data.1.write && !data.1.user_exec, "data: read and write");
        // SAFETY: the data page is the root task's frame, host memory of this world.
        let first = unsafe { Fake::MEMORY.read_u64(PhysAddr::new(data.0)) };
        assert_eq!(first & 0xFF, 1, "the data segment's file bytes are copied");
        let bss = w.k.translate_user(space, 0x40_2000).unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { Fake::MEMORY.read_u64(PhysAddr::new(bss.0 + 8)) }, 0, ".bss is zero");
        assert!(w.k.translate_user(space, ROOT_STACK_TOP - 8).is_some_and(|(_, a)| a.write));
        assert!(
            w.k.translate_user(space, ROOT_STACK_TOP - ROOT_STACK_SIZE - 8).is_none(),
            "a guard below the stack"
        );
        let initrd = w.k.translate_user(space, INITRD_ADDRESS).unwrap();
        assert_eq!((initrd.0, initrd.1.write), (range.base, false), "the initrd, read-only");
        assert_eq!(w.k.translate_user(space, DTB_ADDRESS).map(|(pa, _)| pa), Some(tree), "the device tree");
        assert!(w.output().starts_with("report: root-task entry=0x400010 segments=2 space="));
        w.check();
    }

    #[test]
    fn an_initrd_without_a_usable_root_is_refused_with_the_reason() {
        let mut w = World::bare(PAGES_PER_NODE);
        let (blob, range) = initrd(&mut w, &[("hello", b"x")]);
        assert_eq!(start_root(&mut w.k, blob, range, None, 0, NodeId::ZERO), Err(RootError::NoRoot));
        let (blob, range) = initrd(&mut w, &[("root", b"\x7fELF but no more")]);
        assert!(matches!(start_root(&mut w.k, blob, range, None, 0, NodeId::ZERO), Err(RootError::Elf(_))));
        let garbage = [0x55u8; 64];
        assert!(matches!(
            start_root(&mut w.k, &garbage, range, None, 0, NodeId::ZERO),
            Err(RootError::Archive(_))
        ));
        let mut huge = program();
        // The data segment asks for 1 GiB: more than every node has.
        huge[64 + 56 + 40..64 + 56 + 48].copy_from_slice(&(1u64 << 30).to_le_bytes());
        let (blob, range) = initrd(&mut w, &[("root", &huge)]);
        let err = start_root(&mut w.k, blob, range, None, 0, NodeId::ZERO).unwrap_err();
        assert_eq!((err, err.halt()), (RootError::Kernel(Error::OutOfMemory), crate::halt::Halt::NoMemory));
        assert_eq!(RootError::NoRoot.halt(), crate::halt::Halt::NoRootTask);
        assert!(std::format!("{}", RootError::NoRoot).contains("`root`"));
        assert_eq!(w.spaces(), [] as [u16; 0], "nothing was made");
    }
}
