// SPDX-License-Identifier: MIT OR Apache-2.0
//! Free physical memory at boot: the board's RAM minus everything already in use, per node.
//!
//! Before the kernel hands out a single frame it must know which RAM nobody owns yet.
//! The device tree lists all RAM (`/memory` nodes, each on a NUMA node) and part of
//! what is taken (`/memreserve/` entries, `/reserved-memory` children); the boot adds
//! what it occupies itself: the kernel image, the device tree blob, the initrd, the boot
//! translation tables. This module subtracts the second list from the first and says,
//! node by node, what the frame allocators ([`crate::mm::frames`]) may have. It is pure
//! arithmetic on ranges, so the host tests can feed it every awkward layout a board has.
//!
//! # Design
//!
//! ```text
//!  RAM        |======== node 0 ========|=== node 0 ===|   |====== node 1 ======|
//!  reserved       [image]    [dtb]                 [ reserved-memory .... ]   [x]  (x: not RAM)
//!  free       |--|       |--|     |--------------|         |---------------|
//! ```
//!
//! 1. RAM ranges are sorted by base; ranges of one node that overlap or touch are
//!    joined (a page that straddles two touching `reg` entries is still whole); ranges
//!    of different nodes that overlap are an error, since a byte cannot be on two nodes.
//! 2. Each joined RAM range shrinks *inward* to page boundaries and each reserved range
//!    grows *outward* to page boundaries: a frame is handed out whole, so a page that
//!    is only partly RAM or partly reserved is not free.
//! 3. A sweep over the reserved ranges, sorted by base, cuts the holes. Reserved ranges
//!    outside RAM (firmware, device memory) simply never meet a RAM range.
//!
//! Everything lives in fixed-size storage: this runs before any allocator exists. The
//! capacities follow from the inputs (each reserved range splits at most one free range
//! in two), so the output always fits; the error for it exists anyway, because an
//! error is cheaper to reason about than a proof that a push cannot fail.
//!
//! # Invariants
//! - The ranges of a [`FreeMap`] are sorted by base, disjoint, non-empty, page aligned
//!   (base and size), each inside the RAM of its node and outside every reserved range.
//! - For every node, [`NodeAccount`]'s `total == reserved + free` exactly: `total` is
//!   the node's RAM (overlaps counted once), `free` the bytes of its free ranges, and
//!   `reserved` everything else, partial pages lost to alignment included.
//!
//! # References
//! Devicetree Specification v0.4, 3.4 `/memory`, 3.5 `/reserved-memory`, 5.3 the
//! memory reservation block (`/memreserve/`); Linux `Documentation/arch/arm64/booting.rst`
//! (what the boot loader leaves in RAM: image, DTB, initrd).
#![forbid(unsafe_code)]

use core::fmt;

use crate::pernode::PerNode;
use platform::{FixedVec, MAX_MEMORY_RANGES, MAX_RESERVED, MemoryRange, NodeId, PhysRange};

use crate::mm::table::PAGE_SIZE;

/// Reserved ranges the boot adds to the device tree's: image, DTB, initrd, boot tables,
/// with room to spare.
pub const MAX_BOOT_RESERVED: usize = 16;
/// Most reserved ranges [`free_ranges`] takes: the board's plus the boot's.
pub const MAX_RESERVED_INPUT: usize = MAX_RESERVED + MAX_BOOT_RESERVED;
/// Most free ranges: each RAM range gives one, and each reserved range splits at most
/// one of them in two.
pub const MAX_FREE_RANGES: usize = MAX_MEMORY_RANGES + MAX_RESERVED_INPUT;

/// Why the free memory could not be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhysmemError {
    /// More RAM ranges than `limit` were given.
    TooManyMemoryRanges {
        /// The capacity ([`MAX_MEMORY_RANGES`]).
        limit: usize,
    },
    /// More reserved ranges than `limit` were given.
    TooManyReserved {
        /// The capacity ([`MAX_RESERVED_INPUT`]).
        limit: usize,
    },
    /// The free ranges do not fit in `limit` entries.
    TooManyFreeRanges {
        /// The capacity ([`MAX_FREE_RANGES`]).
        limit: usize,
    },
    /// RAM ranges of two different nodes overlap.
    MemoryOverlap {
        /// Base of the first range (the lower one).
        base_a: u64,
        /// Its node.
        node_a: NodeId,
        /// Base of the second range.
        base_b: u64,
        /// Its node.
        node_b: NodeId,
    },
}

impl fmt::Display for PhysmemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PhysmemError::TooManyMemoryRanges { limit } => write!(f, "more than {limit} memory ranges"),
            PhysmemError::TooManyReserved { limit } => write!(f, "more than {limit} reserved ranges"),
            PhysmemError::TooManyFreeRanges { limit } => write!(f, "more than {limit} free ranges"),
            PhysmemError::MemoryOverlap { base_a, node_a, base_b, node_b } => write!(
                f,
                "memory at {base_a:#x} (node {node_a}) overlaps memory at {base_b:#x} (node {node_b})"
            ),
        }
    }
}

/// Where one node's RAM went: `total == reserved + free`, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeAccount {
    /// The node's RAM (overlapping ranges counted once).
    pub total: u64,
    /// RAM that is not free: reserved ranges and partial pages at unaligned edges.
    pub reserved: u64,
    /// RAM in the node's free ranges: what its frame allocator gets.
    pub free: u64,
}

/// The free RAM of every node, as page-aligned ranges sorted by base.
#[derive(Clone, Copy, Debug)]
pub struct FreeMap {
    ranges: FixedVec<MemoryRange, MAX_FREE_RANGES>,
    /// Bytes of RAM per node, before anything was subtracted.
    totals: PerNode<u64>,
}

impl FreeMap {
    /// All free ranges, sorted by base.
    pub fn ranges(&self) -> &[MemoryRange] {
        self.ranges.as_slice()
    }

    /// The free ranges of `node`, ascending.
    pub fn ranges_of(&self, node: NodeId) -> impl Iterator<Item = PhysRange> + '_ {
        self.ranges.iter().filter(move |m| m.node == node).map(|m| m.range)
    }

    /// Free bytes on `node`.
    pub fn node_bytes(&self, node: NodeId) -> u64 {
        self.ranges_of(node).map(|r| r.size).sum()
    }

    /// Free bytes on all nodes together.
    pub fn total_free(&self) -> u64 {
        self.ranges.iter().map(|m| m.range.size).sum()
    }

    /// What became of `node`'s RAM: total, reserved, free.
    pub fn account(&self, node: NodeId) -> NodeAccount {
        let total = self.totals[node];
        let free = self.node_bytes(node);
        // `free` is a subset of `total` by construction (invariant above), so this
        // cannot underflow; `saturating_sub` keeps a broken invariant from wrapping.
        NodeAccount { total, reserved: total.saturating_sub(free), free }
    }
}

/// The free RAM of `memory` once every range of `reserved` is taken out, page aligned.
///
/// `memory` is typically `board.memory`; `reserved` is `board.reserved` chained with
/// the ranges the boot occupies (image, DTB, initrd, boot tables). Neither needs to be
/// sorted; zero-size entries are ignored; an end past `u64::MAX` is clamped there.
pub fn free_ranges(
    memory: &[MemoryRange],
    reserved: impl IntoIterator<Item = PhysRange>,
) -> Result<FreeMap, PhysmemError> {
    let ram = joined_memory(memory)?;

    // Reserved ranges, grown outward to whole pages, sorted by base.
    let mut holes: FixedVec<PhysRange, MAX_RESERVED_INPUT> = FixedVec::new();
    for r in reserved.into_iter().filter(|r| r.size > 0) {
        let base = page_down(r.base);
        let grown = PhysRange { base, size: page_up(r.end()) - base };
        holes.push(grown).map_err(|_| PhysmemError::TooManyReserved { limit: MAX_RESERVED_INPUT })?;
    }
    holes.as_mut_slice().sort_unstable_by_key(|r| r.base);

    let mut map = FreeMap { ranges: FixedVec::new(), totals: PerNode::filled(0) };
    let full = PhysmemError::TooManyFreeRanges { limit: MAX_FREE_RANGES };
    for m in ram.iter() {
        map.totals[m.node] += m.range.size;
        let (mut cur, end) = (page_up(m.range.base), page_down(m.range.end()));
        for hole in holes.iter() {
            if cur >= end || hole.base >= end {
                break;
            }
            if hole.end() <= cur {
                continue;
            }
            if hole.base > cur {
                let free = PhysRange { base: cur, size: hole.base - cur };
                map.ranges.push(MemoryRange { range: free, node: m.node }).map_err(|_| full)?;
            }
            cur = cur.max(hole.end());
        }
        if cur < end {
            let free = PhysRange { base: cur, size: end - cur };
            map.ranges.push(MemoryRange { range: free, node: m.node }).map_err(|_| full)?;
        }
    }
    Ok(map)
}

/// `memory` sorted by base, without empty ranges, with overlapping or touching ranges
/// of one node joined; ranges of different nodes must not overlap.
fn joined_memory(memory: &[MemoryRange]) -> Result<FixedVec<MemoryRange, MAX_MEMORY_RANGES>, PhysmemError> {
    let too_many = PhysmemError::TooManyMemoryRanges { limit: MAX_MEMORY_RANGES };
    let mut sorted: FixedVec<MemoryRange, MAX_MEMORY_RANGES> = FixedVec::new();
    for m in memory.iter().filter(|m| m.range.size > 0) {
        // Clamp an overflowing end, so `size == end - base` holds from here on.
        let range = PhysRange { base: m.range.base, size: m.range.end() - m.range.base };
        sorted.push(MemoryRange { range, node: m.node }).map_err(|_| too_many)?;
    }
    sorted.as_mut_slice().sort_unstable_by_key(|m| m.range.base);

    let mut joined: FixedVec<MemoryRange, MAX_MEMORY_RANGES> = FixedVec::new();
    for m in sorted.iter() {
        if let Some(last) = joined.as_mut_slice().last_mut()
            && m.range.base <= last.range.end()
        {
            if m.node != last.node {
                if m.range.base < last.range.end() {
                    return Err(PhysmemError::MemoryOverlap {
                        base_a: last.range.base,
                        node_a: last.node,
                        base_b: m.range.base,
                        node_b: m.node,
                    });
                }
            } else {
                last.range.size = last.range.end().max(m.range.end()) - last.range.base;
                continue;
            }
        }
        // Never fails: `joined` has no more entries than `sorted`.
        joined.push(*m).map_err(|_| too_many)?;
    }
    Ok(joined)
}

/// `addr` rounded down to a page boundary.
fn page_down(addr: u64) -> u64 {
    addr & !(PAGE_SIZE - 1)
}

/// `addr` rounded up to a page boundary; the last page boundary when that overflows
/// (an end clamped to `u64::MAX` means "to the top").
fn page_up(addr: u64) -> u64 {
    addr.checked_next_multiple_of(PAGE_SIZE).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::MAX_NODES;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    const P: u64 = PAGE_SIZE;

    fn n(raw: u32) -> NodeId {
        NodeId::new(raw).unwrap()
    }

    fn ram(base: u64, size: u64, node: u32) -> MemoryRange {
        MemoryRange { range: PhysRange { base, size }, node: n(node) }
    }

    fn r(base: u64, size: u64) -> PhysRange {
        PhysRange { base, size }
    }

    /// The free ranges as `(base, size, node)` triples, for compact assertions.
    fn triples(map: &FreeMap) -> Vec<(u64, u64, u32)> {
        map.ranges().iter().map(|m| (m.range.base, m.range.size, m.node.raw())).collect()
    }

    fn check_accounts(map: &FreeMap) {
        for raw in 0..MAX_NODES as u32 {
            let a = map.account(n(raw));
            assert_eq!(a.total, a.reserved + a.free, "node {raw}: {a:?}");
        }
    }

    #[test]
    fn memory_without_reservations_is_free_whole() {
        let map = free_ranges(&[ram(GIB, 512 * MIB, 0), ram(2 * GIB, 256 * MIB, 1)], []).unwrap();
        assert_eq!(triples(&map), [(GIB, 512 * MIB, 0), (2 * GIB, 256 * MIB, 1)]);
        assert_eq!(map.node_bytes(n(0)), 512 * MIB);
        assert_eq!(map.node_bytes(n(1)), 256 * MIB);
        assert_eq!(map.total_free(), 768 * MIB);
        assert_eq!(map.account(n(0)), NodeAccount { total: 512 * MIB, reserved: 0, free: 512 * MIB });
    }

    #[test]
    fn a_reserved_range_at_the_start_of_ram_trims_it() {
        let map = free_ranges(&[ram(GIB, 64 * MIB, 0)], [r(GIB, 2 * MIB)]).unwrap();
        assert_eq!(triples(&map), [(GIB + 2 * MIB, 62 * MIB, 0)]);
        assert_eq!(map.account(n(0)), NodeAccount { total: 64 * MIB, reserved: 2 * MIB, free: 62 * MIB });
    }

    #[test]
    fn a_reserved_range_in_the_middle_splits_ram_in_two() {
        let map = free_ranges(&[ram(GIB, 64 * MIB, 0)], [r(GIB + 8 * MIB, 4 * MIB)]).unwrap();
        assert_eq!(triples(&map), [(GIB, 8 * MIB, 0), (GIB + 12 * MIB, 52 * MIB, 0)]);
        check_accounts(&map);
    }

    #[test]
    fn a_reserved_range_at_the_end_of_ram_trims_it() {
        // It also runs past the end of RAM: only the part inside counts.
        let map = free_ranges(&[ram(GIB, 64 * MIB, 0)], [r(GIB + 60 * MIB, 100 * MIB)]).unwrap();
        assert_eq!(triples(&map), [(GIB, 60 * MIB, 0)]);
        assert_eq!(map.account(n(0)).reserved, 4 * MIB);
    }

    #[test]
    fn a_reserved_range_spanning_two_ranges_of_one_node_trims_both() {
        let memory = [ram(0, 16 * MIB, 0), ram(32 * MIB, 16 * MIB, 0)];
        let map = free_ranges(&memory, [r(8 * MIB, 32 * MIB)]).unwrap();
        assert_eq!(triples(&map), [(0, 8 * MIB, 0), (40 * MIB, 8 * MIB, 0)]);
        assert_eq!(map.account(n(0)), NodeAccount { total: 32 * MIB, reserved: 16 * MIB, free: 16 * MIB });
    }

    #[test]
    fn a_reserved_range_spanning_two_nodes_trims_both() {
        let memory = [ram(0, 16 * MIB, 0), ram(16 * MIB, 16 * MIB, 1)];
        let map = free_ranges(&memory, [r(12 * MIB, 8 * MIB)]).unwrap();
        assert_eq!(triples(&map), [(0, 12 * MIB, 0), (20 * MIB, 12 * MIB, 1)]);
        assert_eq!(map.account(n(0)).reserved, 4 * MIB);
        assert_eq!(map.account(n(1)).reserved, 4 * MIB);
        check_accounts(&map);
    }

    #[test]
    fn overlapping_reserved_ranges_are_taken_out_once() {
        let reserved = [r(4 * MIB, 4 * MIB), r(6 * MIB, 4 * MIB), r(5 * MIB, MIB), r(20 * MIB, MIB)];
        let map = free_ranges(&[ram(0, 32 * MIB, 0)], reserved).unwrap();
        assert_eq!(triples(&map), [(0, 4 * MIB, 0), (10 * MIB, 10 * MIB, 0), (21 * MIB, 11 * MIB, 0)]);
        assert_eq!(map.account(n(0)).reserved, 7 * MIB);
    }

    #[test]
    fn reserved_ranges_outside_ram_are_ignored() {
        let reserved = [r(0, MIB), r(GIB + 64 * MIB, MIB), r(0x1_0000_0000, GIB)];
        let map = free_ranges(&[ram(GIB, 64 * MIB, 0)], reserved).unwrap();
        assert_eq!(triples(&map), [(GIB, 64 * MIB, 0)]);
        assert_eq!(map.account(n(0)).reserved, 0);
    }

    #[test]
    fn unaligned_edges_shrink_ram_inward_and_grow_reservations_outward() {
        // RAM [0x1800, 0x10_0800): the partial pages at both ends are not free.
        // Reserved [0x8010, 0x8020): the whole page 0x8000 is lost.
        let map = free_ranges(&[ram(0x1800, 0xF_F000, 0)], [r(0x8010, 0x10)]).unwrap();
        assert_eq!(triples(&map), [(0x2000, 0x6000, 0), (0x9000, 0xF_7000, 0)]);
        let a = map.account(n(0));
        assert_eq!(a, NodeAccount { total: 0xF_F000, reserved: 0x800 + 0x1000 + 0x800, free: 0xF_D000 });
    }

    #[test]
    fn ram_smaller_than_a_page_gives_nothing() {
        let map = free_ranges(&[ram(0x1800, 0x1000, 0)], []).unwrap();
        assert!(map.ranges().is_empty());
        assert_eq!(map.account(n(0)), NodeAccount { total: 0x1000, reserved: 0x1000, free: 0 });
    }

    #[test]
    fn no_memory_gives_an_empty_map() {
        let map = free_ranges(&[], [r(0, MIB)]).unwrap();
        assert!(map.ranges().is_empty());
        assert_eq!(map.total_free(), 0);
        assert_eq!(map.account(n(0)), NodeAccount::default());
        let map = free_ranges(&[ram(GIB, 0, 0)], []).unwrap();
        assert!(map.ranges().is_empty());
    }

    #[test]
    fn unsorted_memory_and_reservations_come_out_sorted() {
        let memory = [ram(2 * GIB, 16 * MIB, 1), ram(GIB, 16 * MIB, 0)];
        let reserved = [r(2 * GIB + 8 * MIB, MIB), r(GIB, MIB)];
        let map = free_ranges(&memory, reserved).unwrap();
        assert_eq!(
            triples(&map),
            [(GIB + MIB, 15 * MIB, 0), (2 * GIB, 8 * MIB, 1), (2 * GIB + 9 * MIB, 7 * MIB, 1)]
        );
        assert_eq!(map.ranges_of(n(1)).count(), 2);
    }

    #[test]
    fn overlapping_or_touching_memory_of_one_node_is_joined() {
        // Touching at an unaligned address: the straddling page is still whole.
        let memory = [ram(0, 0x1800, 0), ram(0x1800, 0x2800, 0), ram(0x2000, 0x1000, 0)];
        let map = free_ranges(&memory, []).unwrap();
        assert_eq!(triples(&map), [(0, 0x4000, 0)]);
        assert_eq!(map.account(n(0)).total, 0x4000);
    }

    #[test]
    fn overlapping_memory_of_two_nodes_is_an_error() {
        let memory = [ram(0, 2 * MIB, 0), ram(MIB, 2 * MIB, 1)];
        assert_eq!(
            free_ranges(&memory, []).unwrap_err(),
            PhysmemError::MemoryOverlap { base_a: 0, node_a: n(0), base_b: MIB, node_b: n(1) }
        );
        // Touching is fine.
        let memory = [ram(0, MIB, 0), ram(MIB, MIB, 1)];
        assert_eq!(triples(&free_ranges(&memory, []).unwrap()), [(0, MIB, 0), (MIB, MIB, 1)]);
    }

    #[test]
    fn too_many_inputs_are_errors_not_truncations() {
        let reserved = (0..=MAX_RESERVED_INPUT as u64).map(|i| r(i * 2 * P, P));
        assert_eq!(
            free_ranges(&[ram(0, GIB, 0)], reserved).unwrap_err(),
            PhysmemError::TooManyReserved { limit: MAX_RESERVED_INPUT }
        );
        let memory: Vec<_> = (0..=MAX_MEMORY_RANGES as u64).map(|i| ram(i * 2 * P, P, 0)).collect();
        assert_eq!(
            free_ranges(&memory, []).unwrap_err(),
            PhysmemError::TooManyMemoryRanges { limit: MAX_MEMORY_RANGES }
        );
    }

    #[test]
    fn the_capacities_hold_the_worst_case_layout() {
        // Every RAM range split by reserved ranges, as many as allowed of each.
        let memory: Vec<_> = (0..MAX_MEMORY_RANGES as u64).map(|i| ram(i * 16 * P, 8 * P, 0)).collect();
        let reserved = (0..MAX_RESERVED_INPUT as u64).map(|i| r(i * 16 * P + 4 * P, P));
        let map = free_ranges(&memory, reserved).unwrap();
        assert_eq!(map.ranges().len(), MAX_FREE_RANGES);
        check_accounts(&map);
    }

    #[test]
    fn ranges_reaching_the_top_of_the_address_space_do_not_overflow() {
        let top = u64::MAX - 2 * MIB + 1;
        let memory = [ram(top, u64::MAX, 0)];
        let map = free_ranges(&memory, [r(top + MIB, u64::MAX)]).unwrap();
        assert_eq!(triples(&map), [(top, MIB, 0)]);
        check_accounts(&map);
    }

    /// Brute force over a small address space: a page is free exactly when every byte
    /// of it is RAM of one node and no byte of it is reserved.
    #[test]
    fn random_layouts_match_a_page_by_page_model() {
        const PAGES: u64 = 64;
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = |limit: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % limit
        };
        for _ in 0..500 {
            let space = PAGES * P;
            // Disjoint RAM ranges: cut the space at sorted points, keep some pieces.
            let mut cuts: Vec<u64> = (0..6).map(|_| next(space)).collect();
            cuts.extend([0, space]);
            cuts.sort_unstable();
            let mut memory = Vec::new();
            for w in cuts.windows(2) {
                let (keep, node) = (next(3) != 0, next(3) as u32);
                if keep {
                    memory.push(ram(w[0], w[1] - w[0], node));
                }
            }
            let reserved: Vec<_> = (0..next(5)).map(|_| r(next(space + P), next(8 * P))).collect();
            let map = free_ranges(&memory, reserved.iter().copied()).unwrap();

            let mut expect = vec![None; PAGES as usize];
            for (p, slot) in expect.iter_mut().enumerate() {
                let page = r(p as u64 * P, P);
                let home = memory.iter().find(|m| m.range.overlaps(&page)).map(|m| m.node);
                let whole = memory
                    .iter()
                    .filter(|m| Some(m.node) == home && m.range.overlaps(&page))
                    .map(|m| m.range.end().min(page.end()) - m.range.base.max(page.base))
                    .sum::<u64>()
                    == P;
                if whole && !reserved.iter().any(|x| x.size > 0 && x.overlaps(&page)) {
                    *slot = home;
                }
            }
            let mut got = vec![None; PAGES as usize];
            for m in map.ranges() {
                for p in m.range.base / P..m.range.end() / P {
                    assert!(got[p as usize].is_none(), "page {p} twice");
                    got[p as usize] = Some(m.node);
                }
            }
            assert_eq!(got, expect, "memory {memory:?} reserved {reserved:?}");
            assert!(map.ranges().windows(2).all(|w| w[0].range.end() <= w[1].range.base));
            check_accounts(&map);
        }
    }
}
