// SPDX-License-Identifier: MIT OR Apache-2.0
//! The NUMA runtime's address map: where everything is in a program's per-node spaces,
//! in its pagers' spaces and in its memory server's.
//!
//! Every per-node space of a program has the same layout (a global page is at the same
//! address everywhere; a node-local one too, with another frame behind it):
//!
//! ```text
//!  program space (one per node)                  kind
//!  0x0000_0010_0000  KIP                          the kernel's
//!  0x0000_0040_0000  the program: code, rodata    node-local (a copy per node)
//!                               data, bss         global (first touch)
//!  0x0001_0000_0000  UTCBs, one page per thread   the kernel's (on the space's home)
//!  0x0002_0000_0000  stacks, a STACK_SLOT each    node-local to the thread: follows it
//!                    (its ThreadInfo at the top)
//!  0x0100_0000_0000  heap: an ARENA_SPAN per node global, arena n's pages on node n
//!  0x1000_0000_0000  the program's own regions    as declared (decl.rs)
//!  ...USER_TOP       (2^47)
//! ```
//!
//! The runtime's pager of node `n` lives in a space of its own (home `n`):
//!
//! ```text
//!  pager space
//!  0x0000_0020_0000  the pager's UTCB
//!  0x0000_0040_0000  numa-pager: code (a copy on node n), data
//!  0x0000_1000_0000  the pager's stack (top)
//!  0x0010_0000_0000  the program's ELF file, read-only (APP_ELF)
//!  0x0020_0000_0000  STAGING: the one page on its way to the program
//! ```
//!
//! Every page passes through the pager's staging page and is *granted* on to the
//! program's space, so a pager holds nothing for long and every frame belongs to the
//! space that uses it: a node-local page (code, a declared node-local region) is
//! allocated by the pager on its node, made in staging and granted, and the program's
//! space owns it from then on; a global or stack page is mapped into staging by the
//! memory server and granted on, so the program's mapping derives from the server's.
//! The memory server keeps every global and stack frame of the program at `WINDOW +
//! address` of its own space (a stack page that has followed its thread an odd number of
//! times at `WINDOW + address + STACK_ALIAS`), the root of every mapping of it: one `MemoryControl`
//! free there revokes the page from every node (the global unmap). When the program
//! ends its spaces are deleted and every frame goes back: what they owned by the
//! kernel's deletion, what the server owns at the server's.
#![forbid(unsafe_code)]

use crate::region::PAGE;

/// The top of a program's address space: its regions lie below; the windows above.
pub const USER_TOP: u64 = 1 << 47;
/// Where a program's image starts (`linker/user.ld`).
pub const IMAGE_BASE: u64 = 0x40_0000;
/// The end of the range reserved for the image (4 GiB).
pub const IMAGE_LIMIT: u64 = 0x1_0000_0000;
/// Thread slot `s`'s UTCB is at `UTCB_BASE + s * PAGE`.
pub const UTCB_BASE: u64 = 0x1_0000_0000;
/// Most threads of one program (the kernel holds 1024 threads in all).
pub const MAX_THREADS: usize = 1024;
/// Thread slot `s`'s stack is the top of `STACK_BASE + s * STACK_SLOT .. + STACK_SLOT`;
/// below the stack the slot stays unmapped (a guard).
pub const STACK_BASE: u64 = 0x2_0000_0000;
/// Virtual space per thread's stack: the largest stack plus a guard.
pub const STACK_SLOT: u64 = 2 << 20;
/// Bytes at the top of each stack slot for the thread's words (`proto::ThreadInfo`).
pub const THREAD_INFO_BYTES: u64 = 64;
/// Node `n`'s heap arena: `HEAP_BASE + n * ARENA_SPAN`, as much of it as declared.
pub const HEAP_BASE: u64 = 0x100_0000_0000;
/// Virtual space per node's arena (64 GiB, `decl::MAX_HEAP_KIB`).
pub const ARENA_SPAN: u64 = 64 << 30;
/// The lowest address a program may declare a region at.
pub const DECLARED_BASE: u64 = 0x1000_0000_0000;
/// In the memory server's space: `WINDOW + address` holds the frame of the program's
/// global or stack page at `address`.
pub const WINDOW: u64 = 1 << 47;
/// In the memory server's space: the second place a stack page's frame may be, at
/// `WINDOW + address + STACK_ALIAS`. A stack page that follows its thread to another
/// node is copied once, from the one place to the other, instead of through a spare
/// page and back. It lies past the last stack slot (`STACK_BASE + MAX_THREADS *
/// STACK_SLOT`) and below the heap: no page of a program is there.
pub const STACK_ALIAS: u64 = MAX_THREADS as u64 * STACK_SLOT;

/// In a pager's space: the program's ELF file, read-only, at its offset in the page.
pub const APP_ELF: u64 = 0x10_0000_0000;
/// In a pager's space: the page on its way to the program (its receive window for
/// the memory server's pages, and where it makes node-local ones).
pub const STAGING: u64 = 0x20_0000_0000;
/// In a pager's space: the pager thread's UTCB and stack top.
pub const PAGER_UTCB: u64 = 0x20_0000;
/// The pager's stack top (its stack: 128 KiB below it).
pub const PAGER_STACK_TOP: u64 = 0x1000_0000;
/// The pager's stack size.
pub const PAGER_STACK: u64 = 128 << 10;
/// In the memory server's space: the program's ELF and the pager's own, read-only,
/// at their offsets in the page (the root task maps them).
pub const SERVER_APP_ELF: u64 = 0x10_0000_0000;
/// See [`SERVER_APP_ELF`].
pub const SERVER_PAGER_ELF: u64 = 0x11_0000_0000;

/// The ranges a program may not declare regions in: everything below
/// [`DECLARED_BASE`] is the runtime's (image, UTCBs, stacks, heap).
pub const RESERVED: [(u64, u64); 1] = [(0, DECLARED_BASE)];

/// Thread slot `s`'s UTCB address.
pub const fn utcb(slot: usize) -> u64 {
    UTCB_BASE + slot as u64 * PAGE
}

/// Thread slot `s`'s stack slot `[start, end)`; the stack grows down from `end -
/// THREAD_INFO_BYTES`.
pub const fn stack_slot(slot: usize) -> (u64, u64) {
    let start = STACK_BASE + slot as u64 * STACK_SLOT;
    (start, start + STACK_SLOT)
}

/// The initial stack pointer of slot `s` (16-byte aligned, below its ThreadInfo).
pub const fn stack_top(slot: usize) -> u64 {
    stack_slot(slot).1 - THREAD_INFO_BYTES
}

/// Node `n`'s arena `[start, start + kib KiB)`.
pub const fn arena(node: usize, kib: u32) -> (u64, u64) {
    let start = HEAP_BASE + node as u64 * ARENA_SPAN;
    (start, start + kib as u64 * 1024)
}

/// What the runtime keeps at `address` of a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    /// The program image (node-local or global by segment: the ELF says).
    Image,
    /// Thread slot `s`'s stack (within its stack size: `stack_kib`).
    Stack(usize),
    /// Thread slot `s`'s stack guard (below the stack): a fault there is an overflow.
    StackGuard(usize),
    /// Node `n`'s heap arena.
    Heap(usize),
    /// Declared region `i`.
    Declared(usize),
    /// Nothing: a fault there is the program's error.
    Nothing,
}

/// Classifies `address` for a program with `stack_kib` stacks, `heap_kib` arenas on
/// `nodes` nodes, and declared regions `declared` (`(start, end)` each).
pub fn area(address: u64, stack_kib: u32, heap_kib: u32, nodes: usize, declared: &[(u64, u64)]) -> Area {
    if (IMAGE_BASE..IMAGE_LIMIT).contains(&address) {
        return Area::Image;
    }
    if (STACK_BASE..STACK_BASE + MAX_THREADS as u64 * STACK_SLOT).contains(&address) {
        let slot = ((address - STACK_BASE) / STACK_SLOT) as usize;
        let low = stack_slot(slot).1 - u64::from(stack_kib) * 1024;
        return if address >= low { Area::Stack(slot) } else { Area::StackGuard(slot) };
    }
    if (HEAP_BASE..HEAP_BASE + nodes as u64 * ARENA_SPAN).contains(&address) {
        let node = ((address - HEAP_BASE) / ARENA_SPAN) as usize;
        return if address < arena(node, heap_kib).1 { Area::Heap(node) } else { Area::Nothing };
    }
    match declared.iter().position(|&(start, end)| (start..end).contains(&address)) {
        Some(i) => Area::Declared(i),
        None => Area::Nothing,
    }
}

/// A thread's words at the top of its stack slot, written by the memory server before
/// the thread starts (`ThreadInfo` in `proto.rs` says what each is).
pub const fn thread_info(slot: usize) -> u64 {
    stack_slot(slot).1 - THREAD_INFO_BYTES
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stack_alias_lies_between_the_stacks_and_the_heap() {
        let stacks_end = super::STACK_BASE + super::MAX_THREADS as u64 * super::STACK_SLOT;
        assert!(super::STACK_BASE + super::STACK_ALIAS >= stacks_end);
        assert!(stacks_end + super::STACK_ALIAS <= super::HEAP_BASE);
    }

    use super::*;

    #[test]
    fn the_areas_do_not_overlap_and_fit_below_the_windows() {
        let ends = [
            (IMAGE_BASE, IMAGE_LIMIT),
            (UTCB_BASE, UTCB_BASE + MAX_THREADS as u64 * PAGE),
            (STACK_BASE, STACK_BASE + MAX_THREADS as u64 * STACK_SLOT),
            (HEAP_BASE, HEAP_BASE + 64 * ARENA_SPAN),
            (DECLARED_BASE, USER_TOP),
        ];
        for (i, a) in ends.iter().enumerate() {
            for b in &ends[i + 1..] {
                assert!(a.1 <= b.0, "{a:x?} and {b:x?} overlap");
            }
        }
        const { assert!(USER_TOP <= WINDOW && WINDOW + USER_TOP <= 1 << 48, "the window mirrors every address") };
        const { assert!(APP_ELF < STAGING && STAGING < WINDOW, "pager areas apart") };
    }

    #[test]
    fn an_address_is_classified_by_where_it_is() {
        let declared = [(0x1000_0000_0000, 0x1000_0001_0000)];
        let at = |a| area(a, 64, 1024, 4, &declared);
        assert_eq!(at(0x40_1234), Area::Image);
        let (_, top) = stack_slot(3);
        assert_eq!(at(top - 8), Area::Stack(3));
        assert_eq!(at(top - 64 * 1024), Area::Stack(3));
        assert_eq!(at(top - 64 * 1024 - 8), Area::StackGuard(3));
        assert_eq!(at(arena(2, 1024).0), Area::Heap(2));
        assert_eq!(at(arena(2, 1024).1), Area::Nothing, "past the arena's declared size");
        assert_eq!(at(arena(4, 1024).0), Area::Nothing, "no fifth node");
        assert_eq!(at(0x1000_0000_8000), Area::Declared(0));
        assert_eq!(at(0x10), Area::Nothing);
        assert_eq!(at(UTCB_BASE), Area::Nothing, "UTCBs are the kernel's: never a fault to serve");
        assert_eq!(stack_top(0) % 16, 0);
    }
}
