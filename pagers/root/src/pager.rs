// SPDX-License-Identifier: MIT OR Apache-2.0
//! The pager: answers a child's page faults with pages of the root's scratch window.
//!
//! A child starts with an empty address space (only the kernel's KIP and UTCB pages).
//! Its first instruction fetch faults, and so does every first touch of a page after
//! that; the kernel turns each fault into an IPC to the child's pager, the root task,
//! sent *as* the child: label `0xFFE0 | rwx` (the attempted access), MR1 the address,
//! MR2 the instruction (`abi::fault`). The root answers with one map item: the scratch
//! page that holds the child's page, with the rights the child may have. The kernel
//! maps it into the child's space at the faulting page (a reply's `send_base` is the
//! faulting address, aligned down to the flexpage's size: one page here) and lets the
//! child run on. Mapping, not copying: the frame is the same one the loader filled.
//!
//! # Design
//! [`resolve`] decides, without system calls (so the host tests check it):
//!
//! | where the fault is | answer |
//! |---|---|
//! | a segment page with file bytes | its scratch page, the segment's rights |
//! | a segment page past the file bytes (`.bss`) | a fresh frame at its scratch page |
//! | the stack, `CHILD_STACK_TOP - 256 KiB .. CHILD_STACK_TOP` | a fresh frame, read-write |
//! | a segment page, but an access its rights forbid | crash: [`Crash::Denied`] |
//! | just below the stack, down to the UTCB | crash: [`Crash::StackOverflow`] |
//! | anywhere else | crash: [`Crash::Unmapped`] |
//!
//! "Fresh" frames come from the child's home node on first touch (`serve` on the
//! target asks the kernel whether the scratch page exists yet, and takes a frame with
//! `MemoryControl` if not). A crash is not answered at all: the child stays blocked in
//! its fault, and the supervisor reports it and halts it.

use abi::fpage::Rights;

use crate::loader::{CHILD_STACK_TOP, CHILD_UTCB, Image, PAGE};

/// Where a faulting page comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// The child's page.
    pub page: u64,
    /// The root's address of the frame that backs it.
    pub scratch: u64,
    /// The rights the child gets.
    pub rights: Rights,
    /// The frame may not exist yet (no file bytes): take one on first touch.
    pub fresh: bool,
}

/// Why a fault cannot be served: the child is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crash {
    /// Nothing of the program is there.
    Unmapped {
        /// The faulting address.
        address: u64,
    },
    /// The page is the program's, but not for this kind of access (a write to code).
    Denied {
        /// The faulting address.
        address: u64,
        /// What the child tried.
        access: Rights,
        /// What the page allows.
        rights: Rights,
    },
    /// The stack grew past its limit.
    StackOverflow {
        /// The faulting address.
        address: u64,
    },
}

impl core::fmt::Display for Crash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Crash::Unmapped { address } => write!(f, "fault at {address:#x}, outside the program"),
            Crash::Denied { address, access, rights } => write!(
                f,
                "fault at {address:#x}: access {:#05b} (rwx) where the page allows {:#05b}",
                access.bits(),
                rights.bits()
            ),
            Crash::StackOverflow { address } => write!(f, "fault at {address:#x}: stack overflow"),
        }
    }
}

/// Decides how to serve a fault of the child laid out by `image` at `address`, for
/// `access` (no bits, as no fault message has, counts as a read).
pub fn resolve(image: &Image, address: u64, access: Rights) -> Result<Resolution, Crash> {
    let access = if access.is_empty() { Rights::R } else { access };
    let page = address & !(PAGE - 1);
    let allowed = |rights: Rights| {
        if rights.contains(access) { Ok(()) } else { Err(Crash::Denied { address, access, rights }) }
    };
    if let Some(region) = image.regions().iter().find(|r| r.contains(page)) {
        allowed(region.rights)?;
        return Ok(Resolution {
            page,
            scratch: region.scratch_of(page),
            rights: region.rights,
            fresh: page >= region.file_end,
        });
    }
    if (Image::stack_bottom()..CHILD_STACK_TOP).contains(&page) {
        allowed(Rights::RW)?;
        return Ok(Resolution {
            page,
            scratch: image.stack_scratch + (page - Image::stack_bottom()),
            rights: Rights::RW,
            fresh: true,
        });
    }
    if (CHILD_UTCB + PAGE..Image::stack_bottom()).contains(&page) {
        return Err(Crash::StackOverflow { address });
    }
    Err(Crash::Unmapped { address })
}

/// Serves a resolved fault: makes sure a fresh page's frame exists (taking one on
/// `node`, or the nearest node with memory), and returns the reply's MR0..MR2 (a map
/// item of the scratch page at the child's page).
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub fn serve(r: Resolution, node: u64) -> Result<[u64; 3], abi::Error> {
    use abi::fpage::Fpage;
    use abi::introspect::{Request, Translation};
    use abi::message::{Tag, TypedItem};
    use abi::thread::ThreadId;
    if r.fresh {
        let here = Request::Translate { space: ThreadId::NIL, va: r.scratch }.encode();
        let mapped = rt::sys::introspect(here).map(Translation::from_regs)?.is_some();
        if !mapped {
            crate::loader::frame(node, r.scratch, Rights::RW.union(r.rights))?;
        }
    }
    let fpage = Fpage::new(r.scratch, 12, r.rights).map_err(|_| abi::Error::InvalidArgument)?;
    let [w0, w1] = TypedItem::Map { send_base: r.page, fpage }.encode().map_err(|_| abi::Error::InvalidArgument)?;
    let tag = Tag::new(0, 0, 2).map_err(|_| abi::Error::InvalidArgument)?;
    Ok([tag.raw(), w0, w1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::{CHILD_STACK_SIZE, SCRATCH_BASE, SCRATCH_END, plan};
    use bootfmt::elf::{Flags, Segment};

    /// text r-x 0x40_0000..0x40_2000, data rw- 0x40_2000 (file) + 0x40_3000..0x40_5000 (bss).
    fn image() -> Image {
        let segs = [
            Segment {
                index: 0,
                vaddr: 0x40_0000,
                memsz: 0x2000,
                filesz: 0x2000,
                offset: 0,
                flags: Flags::from_bits(5),
                align: PAGE,
                data: &[0; 0x2000],
            },
            Segment {
                index: 1,
                vaddr: 0x40_2000,
                memsz: 0x3000,
                filesz: 8,
                offset: 0,
                flags: Flags::from_bits(6),
                align: PAGE,
                data: &[0; 8],
            },
        ];
        plan(segs.iter(), 0x40_0000, SCRATCH_BASE, SCRATCH_END).unwrap()
    }

    #[test]
    fn code_faults_map_the_loaded_page_with_the_segments_rights() {
        let r = resolve(&image(), 0x40_1234, Rights::X).unwrap();
        assert_eq!(r, Resolution { page: 0x40_1000, scratch: SCRATCH_BASE + 0x1000, rights: Rights::RX, fresh: false });
        assert!(resolve(&image(), 0x40_0000, Rights::R).is_ok());
    }

    #[test]
    fn data_is_loaded_but_bss_pages_are_fresh() {
        let img = image();
        let data = resolve(&img, 0x40_2004, Rights::W).unwrap();
        assert_eq!((data.scratch, data.rights, data.fresh), (SCRATCH_BASE + 0x2000, Rights::RW, false));
        let bss = resolve(&img, 0x40_4FF8, Rights::W).unwrap();
        assert_eq!((bss.page, bss.scratch, bss.fresh), (0x40_4000, SCRATCH_BASE + 0x4000, true));
    }

    #[test]
    fn the_stack_is_fresh_read_write_memory_up_to_its_limit() {
        let img = image();
        let top = resolve(&img, CHILD_STACK_TOP - 8, Rights::W).unwrap();
        assert_eq!(top.scratch, img.stack_scratch + CHILD_STACK_SIZE - PAGE);
        assert!(top.fresh && top.rights == Rights::RW);
        let bottom = resolve(&img, CHILD_STACK_TOP - CHILD_STACK_SIZE, Rights::R).unwrap();
        assert_eq!(bottom.scratch, img.stack_scratch);
        let below = CHILD_STACK_TOP - CHILD_STACK_SIZE - 1;
        assert_eq!(resolve(&img, below, Rights::W), Err(Crash::StackOverflow { address: below }));
    }

    #[test]
    fn forbidden_accesses_and_stray_addresses_are_crashes() {
        let img = image();
        assert_eq!(
            resolve(&img, 0x40_0010, Rights::W),
            Err(Crash::Denied { address: 0x40_0010, access: Rights::W, rights: Rights::RX })
        );
        assert!(matches!(resolve(&img, 0x40_2000, Rights::X), Err(Crash::Denied { .. })));
        assert!(matches!(resolve(&img, CHILD_STACK_TOP - 8, Rights::X), Err(Crash::Denied { .. })));
        for address in [0, 8, 0x10_0000, CHILD_UTCB, 0x40_5000, 0xdead_0000_0000] {
            assert_eq!(resolve(&img, address, Rights::R), Err(Crash::Unmapped { address }), "{address:#x}");
        }
        assert_eq!(
            Crash::Denied { address: 0x40_0010, access: Rights::W, rights: Rights::RX }.to_string(),
            "fault at 0x400010: access 0b010 (rwx) where the page allows 0b101"
        );
    }

    #[test]
    fn a_fault_without_access_bits_counts_as_a_read() {
        assert!(resolve(&image(), 0x40_0000, Rights::NONE).is_ok());
    }
}
