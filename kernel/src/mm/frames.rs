// SPDX-License-Identifier: MIT OR Apache-2.0
//! Physical frame allocators, one per NUMA node.
//!
//! The paper's kernel keeps every address space's metadata (translation tables, thread
//! control blocks, mapping database entries) on the space's *home node*, so the CPUs
//! that use it read local memory. That needs an allocator that can be asked for "a
//! frame on node K", and, for a node whose memory is used up or that has none at all,
//! for "the nearest frame to node K". This module is that allocator: one independent
//! buddy allocator per node, fed at boot from [`crate::mm::physmem`], plus the fallback
//! order between nodes that the device tree's distances give.
//!
//! # Design
//!
//! - **One heap per node, one lock per heap.** Each node has a binary buddy allocator
//!   ([`buddy_system_allocator::Heap`]) behind its own spin lock, so CPUs allocating on
//!   different nodes never contend. The heap is *intrusive*: a free block's list link
//!   is stored in the block itself, so a node's free lists live in that node's memory;
//!   only the list heads (`ORDER` pointers) and the counters sit in the kernel image.
//! - **Blocks are powers of two, naturally aligned.** A request for `n` frames gets a
//!   block of `n.next_power_of_two()` frames ([`block_frames`]), aligned to its own
//!   size: a 4-frame stack is 16 KiB aligned, a 512-frame request 2 MiB aligned (so it
//!   can be mapped with one L2 block). A count that is not a power of two costs the
//!   rounded size, and `free` rounds the same way, so freeing with the count used to
//!   allocate returns exactly the block allocated. Freed blocks merge with their free
//!   buddies at once; two ranges added separately become one block only when such a
//!   merge joins them, so hand [`Frames::add_free`] whole ranges (as `physmem` makes).
//! - **A window onto physical memory.** The heap reads and writes the memory it
//!   manages, so it works on addresses the CPU can write. [`Window`] translates: in
//!   the kernel that is the direct map (`va = DIRECT_MAP_BASE + pa`), in host tests a
//!   window with offset 0 over ordinary host memory. The heap aligns blocks by
//!   *virtual* address; the window offset is a multiple of the largest block, so
//!   virtual and physical alignment agree.
//! - **Fallback by distance.** [`Frames::set_distances`] stores, per node, the other
//!   nodes sorted by `(distance, id)`. [`Frames::alloc_near`] tries the node itself, then
//!   that list, skipping nodes without memory, and counts every allocation served
//!   elsewhere on the *requesting* node's counter (what a report wants to know: whose
//!   CPUs are paying remote latency). [`Frames::alloc_on`] never falls back: the
//!   caller asked for exactly that node.
//! - **Ownership by address.** `free` takes a physical address and finds the node whose
//!   memory it is, from a table of the ranges given to [`Frames::add_free`]. The table
//!   is append-only and published with release/acquire, so lookups take no lock.
//!
//! ```text
//!           Frames (a static in the kernel image)
//!  +------------------------------------------------------------+
//!  | node 0: Mutex<Heap>  total free fallbacks  order: 3 1 2    |--> free lists in node 0's RAM
//!  | node 1: Mutex<Heap>  total free fallbacks  order: 2 0 3    |--> free lists in node 1's RAM
//!  | ...                                                        |
//!  | owned: [base, end) -> node, append-only, lock-free lookup  |
//!  +------------------------------------------------------------+
//! ```
//!
//! # Invariants
//! - A node's heap holds only memory handed to it by [`Frames::add_free`] for that
//!   node; ranges given to `add_free` never overlap (checked).
//! - `free <= total` for every node; both change only while the node's lock is held.
//! - Every address a heap hands out lies in a range of the ownership table with that
//!   heap's node, so `free` finds the right heap by address.
//! - Exhaustion is an error ([`FrameError`]), never a panic.
//!
//! # Costs
//! The buddy heap finds a block's buddy by walking the free list of the block's size,
//! so a free costs time linear in how fragmented that size class is. That is fine for
//! page tables and kernel objects; a hot user-page path would want a bitmap.
//!
//! # References
//! Knuth, TAOCP vol. 1, 2.5 "Dynamic storage allocation" (the buddy system);
//! Kupferschmied, Stoess, Bellosa: "NUMA-Aware User-Level Memory Management for
//! Microkernel-Based Operating Systems" (kernel metadata on the home node); ACPI SLIT
//! and the device tree `/distance-map` binding (distances: 10 local, larger remote).

use core::alloc::Layout;
use core::fmt;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU8, AtomicU16, AtomicU64, AtomicUsize, Ordering};

use crate::pernode::PerNode;
use crate::sync::Mutex;
use buddy_system_allocator::Heap;
use platform::{Board, MAX_NODES, NodeId, NodeSet, PhysRange};

use crate::mm::layout::DIRECT_MAP_BASE;
pub use crate::mm::phys::Window;
use crate::mm::table::PAGE_SIZE;

/// The heap's number of size classes: blocks of `2^0 ..= 2^(ORDER-1)` bytes, so one
/// block can be as large as 512 GiB. Larger free ranges are simply several blocks.
pub const ORDER: usize = 40;
/// The largest block, in bytes.
pub const MAX_BLOCK: u64 = 1 << (ORDER - 1);
/// The most frames one allocation may ask for (one largest block).
pub const MAX_FRAMES: usize = (MAX_BLOCK / PAGE_SIZE) as usize;
/// Most ranges [`Frames::add_free`] accepts (adjacent ranges of one node share an entry).
pub const MAX_OWNED_RANGES: usize = 256;

// Addresses are `u64`, the heap's are `usize`: they must be the same width.
const _: () = assert!(usize::BITS == 64);
// The direct map's offset keeps virtual and physical block alignment equal.
const _: () = assert!(DIRECT_MAP_BASE.is_multiple_of(MAX_BLOCK));

/// The number of frames an allocation of `frames` really takes: the next power of two.
pub const fn block_frames(frames: usize) -> usize {
    frames.next_power_of_two()
}

/// Why frames could not be allocated, freed or added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The node has no free block as large as the request (or no memory at all).
    Exhausted {
        /// The node asked.
        node: NodeId,
    },
    /// Neither the node nor any other node has a free block as large as the request.
    NoMemoryAnywhere,
    /// Zero frames, or more than [`MAX_FRAMES`].
    BadCount {
        /// The count asked for.
        frames: usize,
    },
    /// No node owns this address: it was never given to [`Frames::add_free`].
    NotOwned {
        /// The address.
        pa: u64,
    },
    /// The address is not aligned to the block size (for `free`) or to a page (for
    /// `add_free`).
    Misaligned {
        /// The address.
        pa: u64,
    },
    /// Freeing this block would leave its node with more free bytes than it has: this
    /// block, or another, is freed twice (not every double free is caught this way).
    NotAllocated {
        /// The address.
        pa: u64,
    },
    /// A range for `add_free` that is empty, wraps around or leaves the window.
    BadRange {
        /// The range.
        range: PhysRange,
    },
    /// A range for `add_free` overlaps memory added before.
    Overlaps {
        /// The range.
        range: PhysRange,
    },
    /// The ownership table is full ([`MAX_OWNED_RANGES`]).
    TooManyRanges {
        /// The capacity.
        limit: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameError::Exhausted { node } => write!(f, "node {node} has no free block that large"),
            FrameError::NoMemoryAnywhere => f.write_str("no node has a free block that large"),
            FrameError::BadCount { frames } => write!(f, "cannot allocate {frames} frames"),
            FrameError::NotOwned { pa } => write!(f, "no node owns {pa:#x}"),
            FrameError::Misaligned { pa } => write!(f, "{pa:#x} is misaligned"),
            FrameError::NotAllocated { pa } => write!(f, "{pa:#x} freed but not allocated"),
            FrameError::BadRange { range } => {
                write!(f, "bad range {:#x}+{:#x}", range.base, range.size)
            }
            FrameError::Overlaps { range } => {
                write!(f, "range {:#x}+{:#x} overlaps memory added before", range.base, range.size)
            }
            FrameError::TooManyRanges { limit } => write!(f, "more than {limit} free ranges"),
        }
    }
}

/// `order_len` before [`Frames::set_distances`]: fall back by node id.
const ORDER_UNSET: usize = usize::MAX;

/// One node's allocator. Aligned to a cache line so nodes do not share lines.
#[repr(align(64))]
struct Node {
    heap: Mutex<Heap<ORDER>>,
    total: AtomicU64,
    free: AtomicU64,
    fallbacks: AtomicU64,
    /// The other nodes by `(distance, id)`: `order[..order_len]`.
    order: [AtomicU8; MAX_NODES],
    order_len: AtomicUsize,
}

impl Node {
    const fn new() -> Node {
        Node {
            heap: Mutex::new(Heap::new()),
            total: AtomicU64::new(0),
            free: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            order: [const { AtomicU8::new(0) }; MAX_NODES],
            order_len: AtomicUsize::new(ORDER_UNSET),
        }
    }
}

/// One entry of the ownership table: `[base, end)` belongs to `node`.
struct Owned {
    base: AtomicU64,
    end: AtomicU64,
    node: AtomicU16,
}

/// The frame allocators of all nodes.
pub struct Frames {
    window: Window,
    nodes: PerNode<Node>,
    owned: [Owned; MAX_OWNED_RANGES],
    /// Entries of `owned` in use; stored with `Release` after the entry is written.
    owned_len: AtomicUsize,
    /// Serialises writers of the ownership table (`add_free`); lookups never take it.
    adding: Mutex<()>,
}

impl Frames {
    /// Allocators with no memory yet, reaching memory through the direct map; usable
    /// in a `static`.
    pub const fn new() -> Frames {
        Frames::with_window(Window::DIRECT_MAP)
    }

    /// Allocators with no memory yet, reaching memory through `window` (host tests use
    /// a window with offset 0 over host memory).
    pub const fn with_window(window: Window) -> Frames {
        Frames {
            window,
            nodes: PerNode::new([const { Node::new() }; MAX_NODES]),
            owned: [const { Owned { base: AtomicU64::new(0), end: AtomicU64::new(0), node: AtomicU16::new(0) } };
                MAX_OWNED_RANGES],
            owned_len: AtomicUsize::new(0),
            adding: Mutex::new(()),
        }
    }

    /// Gives `range` to `node`'s allocator.
    ///
    /// Checked first: the range must be non-empty, page aligned, inside the window and
    /// disjoint from every range added before; a range that starts where one of the
    /// same node ends extends that entry of the ownership table.
    ///
    /// # Safety
    /// `range` is RAM that nothing else uses or will use except through this allocator
    /// (no kernel image, device tree, boot tables, reserved memory, live data), and the
    /// CPU can read and write it at `window.va(pa)` for as long as this `Frames` lives.
    pub unsafe fn add_free(&self, node: NodeId, range: PhysRange) -> Result<(), FrameError> {
        if range.size == 0 || !self.window.covers(range) {
            return Err(FrameError::BadRange { range });
        }
        if !range.base.is_multiple_of(PAGE_SIZE) || !range.size.is_multiple_of(PAGE_SIZE) {
            return Err(FrameError::Misaligned { pa: range.base });
        }
        let _writer = self.adding.lock();
        let len = self.owned_len.load(Ordering::Relaxed);
        let entries = &self.owned[..len];
        let overlaps = |o: &Owned| {
            range.base < o.end.load(Ordering::Relaxed) && o.base.load(Ordering::Relaxed) < range.end()
        };
        if entries.iter().any(overlaps) {
            return Err(FrameError::Overlaps { range });
        }
        let raw = node.raw() as u16;
        let extends =
            |o: &&Owned| o.node.load(Ordering::Relaxed) == raw && o.end.load(Ordering::Relaxed) == range.base;
        if let Some(o) = entries.iter().find(extends) {
            o.end.store(range.end(), Ordering::Release);
        } else {
            let o = self.owned.get(len).ok_or(FrameError::TooManyRanges { limit: MAX_OWNED_RANGES })?;
            o.base.store(range.base, Ordering::Relaxed);
            o.end.store(range.end(), Ordering::Relaxed);
            o.node.store(raw, Ordering::Relaxed);
            self.owned_len.store(len + 1, Ordering::Release);
        }

        let n = &self.nodes[node];
        let mut heap = n.heap.lock();
        // SAFETY: the caller guarantees the range is otherwise unused RAM, writable at
        // its window address for the allocator's lifetime; the checks above make it
        // disjoint from everything added before, so no byte enters a heap twice. The
        // range is page aligned and does not start at virtual address 0.
        unsafe { heap.add_to_heap(self.window.va(range.base), self.window.va(range.end())) };
        n.total.fetch_add(range.size, Ordering::Relaxed);
        n.free.fetch_add(range.size, Ordering::Relaxed);
        Ok(())
    }

    /// Sets each node's fallback order: the other nodes sorted by
    /// `(distance(node, other), other)`. Meant for boot, before CPUs allocate; until it
    /// is called, nodes fall back by id (as if every remote distance were equal).
    pub fn set_distances(&self, distance: impl Fn(NodeId, NodeId) -> u8) {
        for from in all_nodes() {
            let mut others = [0u8; MAX_NODES];
            let mut len = 0;
            for to in all_nodes().filter(|&to| to != from) {
                others[len] = to.raw() as u8;
                len += 1;
            }
            let node_of = |raw: u8| NodeId::new(u32::from(raw)).unwrap_or(NodeId::ZERO);
            others[..len].sort_unstable_by_key(|&raw| (distance(from, node_of(raw)), raw));
            let n = &self.nodes[from];
            for (slot, &raw) in n.order.iter().zip(&others[..len]) {
                slot.store(raw, Ordering::Relaxed);
            }
            n.order_len.store(len, Ordering::Release);
        }
    }

    /// [`Frames::set_distances`] with the board's distance matrix.
    pub fn set_board_distances(&self, board: &Board<'_>) {
        self.set_distances(|a, b| board.distance(a, b));
    }

    /// The nodes [`Frames::alloc_near`] tries after `node`, in order: those with memory.
    pub fn fallback_order(&self, node: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        let n = &self.nodes[node];
        let len = n.order_len.load(Ordering::Acquire);
        let by_id = len == ORDER_UNSET;
        let len = if by_id { MAX_NODES - 1 } else { len };
        (0..len)
            .filter_map(move |i| {
                let raw = match by_id {
                    true if i < node.index() => i,
                    true => i + 1,
                    false => usize::from(n.order[i].load(Ordering::Relaxed)),
                };
                NodeId::new(raw as u32)
            })
            .filter(move |&other| self.total_bytes(other) > 0)
    }

    /// `frames` frames (rounded up to a power of two) on exactly `node`; the physical
    /// address of the block, aligned to its size.
    pub fn alloc_on(&self, node: NodeId, frames: usize) -> Result<u64, FrameError> {
        let layout = block_layout(frames)?;
        self.alloc_block(node, layout).ok_or(FrameError::Exhausted { node })
    }

    /// `frames` frames on `node` if it has them, else on the nearest node that does;
    /// the block's physical address and the node it came from. An allocation served
    /// by another node counts as a fallback of `node`.
    pub fn alloc_near(&self, node: NodeId, frames: usize) -> Result<(u64, NodeId), FrameError> {
        let layout = block_layout(frames)?;
        if let Some(pa) = self.alloc_block(node, layout) {
            return Ok((pa, node));
        }
        for other in self.fallback_order(node) {
            if let Some(pa) = self.alloc_block(other, layout) {
                self.nodes[node].fallbacks.fetch_add(1, Ordering::Relaxed);
                return Ok((pa, other));
            }
        }
        Err(FrameError::NoMemoryAnywhere)
    }

    /// Returns the block at `pa` to its node.
    ///
    /// Checked first: the count, the block alignment, that one node owns the whole
    /// block, and that the node does not end up with more free bytes than it has.
    ///
    /// A block may come back in pieces: every naturally aligned sub-block of an
    /// allocation (a single frame of a 2 MiB block, say) may be freed on its own, as
    /// the user memory that `MemoryControl` hands out in blocks comes back page by
    /// page. The buddy heap keeps no record of its allocations, and the pieces merge as
    /// they return.
    ///
    /// # Safety
    /// `[pa, pa + block_frames(frames) frames)` is all or a naturally aligned part of a
    /// block returned by [`Frames::alloc_on`] or [`Frames::alloc_near`] of this
    /// `Frames`, no part of it has been freed since, and nothing uses it any more (the
    /// allocator writes its list links into it).
    pub unsafe fn free(&self, pa: u64, frames: usize) -> Result<(), FrameError> {
        let layout = block_layout(frames)?;
        let size = layout.size() as u64;
        if !pa.is_multiple_of(size) {
            return Err(FrameError::Misaligned { pa });
        }
        let node = self.node_of(pa).ok_or(FrameError::NotOwned { pa })?;
        // `pa` is aligned to `size`, so `pa + size - 1` cannot overflow.
        let last = pa + (size - 1);
        if self.node_of(last) != Some(node) {
            return Err(FrameError::NotOwned { pa: last });
        }
        let va = NonNull::new(ptr::with_exposed_provenance_mut::<u8>(self.window.va(pa)))
            .ok_or(FrameError::NotOwned { pa })?;
        let n = &self.nodes[node];
        let mut heap = n.heap.lock();
        if n.free.load(Ordering::Relaxed) + size > n.total.load(Ordering::Relaxed) {
            return Err(FrameError::NotAllocated { pa });
        }
        // SAFETY: the caller guarantees the block is a live allocation of this
        // allocator, unused now. Blocks come from the heap of the node owning their
        // address, which is `node`; `layout` is the one `alloc_block` used, because
        // `block_layout` depends only on `block_frames(frames)`.
        unsafe { heap.dealloc(va, layout) };
        n.free.fetch_add(size, Ordering::Relaxed);
        Ok(())
    }

    /// How this allocator reaches the memory it manages (allocators built on it, such
    /// as [`crate::slab`], reach their frames the same way).
    pub fn window(&self) -> Window {
        self.window
    }

    /// The node that owns physical address `pa`, if any.
    pub fn node_of(&self, pa: u64) -> Option<NodeId> {
        let len = self.owned_len.load(Ordering::Acquire);
        let hit = self.owned[..len]
            .iter()
            .find(|o| o.base.load(Ordering::Relaxed) <= pa && pa < o.end.load(Ordering::Acquire))?;
        NodeId::new(u32::from(hit.node.load(Ordering::Relaxed)))
    }

    /// Free bytes on `node` (for reports: may be stale by the time it is read).
    pub fn free_bytes(&self, node: NodeId) -> u64 {
        self.nodes[node].free.load(Ordering::Relaxed)
    }

    /// Bytes ever given to `node`'s allocator.
    pub fn total_bytes(&self, node: NodeId) -> u64 {
        self.nodes[node].total.load(Ordering::Relaxed)
    }

    /// How many of `node`'s [`Frames::alloc_near`] requests another node served.
    pub fn fallbacks(&self, node: NodeId) -> u64 {
        self.nodes[node].fallbacks.load(Ordering::Relaxed)
    }

    /// The nodes that have memory.
    pub fn nodes_with_memory(&self) -> NodeSet {
        let mut set = NodeSet::EMPTY;
        all_nodes().filter(|&n| self.total_bytes(n) > 0).for_each(|n| set.insert(n));
        set
    }

    /// A block of `layout` from `node`'s heap, as a physical address.
    fn alloc_block(&self, node: NodeId, layout: Layout) -> Option<u64> {
        let n = &self.nodes[node];
        // Skip a node that certainly cannot serve without touching its lock (and its
        // cache line of remote memory); the heap has the final word.
        if n.free.load(Ordering::Relaxed) < layout.size() as u64 {
            return None;
        }
        let mut heap = n.heap.lock();
        let block = heap.alloc(layout).ok()?;
        n.free.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        Some(self.window.pa(block.addr().get()))
    }
}

impl Default for Frames {
    fn default() -> Frames {
        Frames::new()
    }
}

/// Every possible node id, ascending.
fn all_nodes() -> impl Iterator<Item = NodeId> {
    (0..MAX_NODES as u32).filter_map(NodeId::new)
}

/// The heap request for `frames` frames: the rounded size, page aligned (the heap
/// aligns every block to its size anyway).
fn block_layout(frames: usize) -> Result<Layout, FrameError> {
    if frames == 0 || frames > MAX_FRAMES {
        return Err(FrameError::BadCount { frames });
    }
    let size = block_frames(frames) * PAGE_SIZE as usize;
    Layout::from_size_align(size, PAGE_SIZE as usize).map_err(|_| FrameError::BadCount { frames })
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = PAGE_SIZE;

    /// Host "physical" memory: physical addresses are host addresses (offset 0).
    const HOST: Window = Window::new(0, 1 << 56);

    fn n(raw: u32) -> NodeId {
        NodeId::new(raw).unwrap()
    }

    /// A piece of host memory standing in for a node's RAM: `pages` pages, aligned to
    /// `align` bytes (a power of two, at least a page).
    struct Ram {
        _backing: Vec<u8>,
        range: PhysRange,
    }

    fn ram(pages: u64, align: u64) -> Ram {
        let size = pages * P;
        let backing = vec![0u8; (size + align) as usize];
        let base = (backing.as_ptr() as u64).next_multiple_of(align);
        Ram { _backing: backing, range: PhysRange { base, size } }
    }

    /// A `Frames` over host memory with `pages[k]` pages on node `k` (0 = no memory).
    fn frames(pages: &[u64]) -> (Box<Frames>, Vec<Ram>) {
        let f = Box::new(Frames::with_window(HOST));
        let mut backing = Vec::new();
        for (k, &p) in pages.iter().enumerate().filter(|(_, p)| **p > 0) {
            let r = ram(p, p.next_power_of_two() * P);
            // SAFETY: `r` is host memory owned by the returned vector, used by nothing else.
            unsafe { f.add_free(n(k as u32), r.range) }.unwrap();
            backing.push(r);
        }
        (f, backing)
    }

    /// Distances for four nodes, deliberately asymmetric (d(0,1) != d(1,0)).
    fn four_node_distance(a: NodeId, b: NodeId) -> u8 {
        const D: [[u8; 4]; 4] = [[10, 20, 30, 15], [25, 10, 15, 30], [30, 15, 10, 20], [15, 30, 20, 10]];
        D.get(a.index()).and_then(|row| row.get(b.index())).copied().unwrap_or(40)
    }

    fn order(f: &Frames, node: u32) -> Vec<u32> {
        f.fallback_order(n(node)).map(NodeId::raw).collect()
    }

    #[test]
    fn a_block_comes_back_page_by_page_and_merges_again() {
        let (f, mem) = frames(&[16]);
        let block = f.alloc_on(n(0), 8).unwrap();
        assert_eq!(f.free_bytes(n(0)), 8 * P);
        for i in [3u64, 0, 7, 1, 2, 6, 4, 5] {
            // SAFETY: frame i of the 8-frame block just allocated, unused, freed once.
            unsafe { f.free(block + i * P, 1) }.unwrap();
        }
        assert_eq!(f.free_bytes(n(0)), 16 * P);
        // Merged: the whole node is one block again.
        let all = f.alloc_on(n(0), 16).unwrap();
        assert_eq!(all, mem[0].range.base);
    }

    #[test]
    fn blocks_come_from_the_requested_node_and_are_disjoint_and_writable() {
        let (f, mem) = frames(&[16, 16]);
        let mut seen = Vec::new();
        for i in 0..8u8 {
            let pa = f.alloc_on(n(1), 1).unwrap();
            assert!(mem[1].range.contains(pa) && !mem[0].range.contains(pa));
            assert_eq!(f.node_of(pa), Some(n(1)));
            // SAFETY: the frame was just allocated from host memory that `mem` owns.
            unsafe { core::ptr::write_bytes(pa as *mut u8, i, P as usize) };
            seen.push((pa, i));
        }
        for &(pa, i) in &seen {
            // SAFETY: as above; nothing else wrote the frame since.
            let page = unsafe { core::slice::from_raw_parts(pa as *const u8, P as usize) };
            assert!(page.iter().all(|&b| b == i), "frames overlap");
        }
    }

    #[test]
    fn an_exhausted_node_is_an_error_not_a_panic() {
        let (f, _mem) = frames(&[4, 4]);
        for _ in 0..4 {
            f.alloc_on(n(0), 1).unwrap();
        }
        assert_eq!(f.alloc_on(n(0), 1), Err(FrameError::Exhausted { node: n(0) }));
        assert_eq!(f.alloc_on(n(5), 1), Err(FrameError::Exhausted { node: n(5) }), "a node with no memory");
        assert_eq!(f.alloc_on(n(1), 8), Err(FrameError::Exhausted { node: n(1) }), "larger than the node");
        assert_eq!(f.free_bytes(n(1)), 4 * P, "a failed request takes nothing");
    }

    #[test]
    fn fallback_order_sorts_other_nodes_by_distance() {
        let (f, _mem) = frames(&[4, 4, 4, 4]);
        f.set_distances(four_node_distance);
        assert_eq!(order(&f, 0), [3, 1, 2]);
        assert_eq!(order(&f, 1), [2, 0, 3]);
        assert_eq!(order(&f, 2), [1, 3, 0]);
        assert_eq!(order(&f, 3), [0, 2, 1]);
    }

    #[test]
    fn fallback_order_breaks_ties_by_node_id_and_skips_nodes_without_memory() {
        let (f, _mem) = frames(&[4, 4, 0, 4, 4]);
        // Before any distances: by id.
        assert_eq!(order(&f, 2), [0, 1, 3, 4]);
        // Every remote distance is 20 except 4 -> 1: node 0 falls back by id, node 4
        // tries 1 first; node 2, without memory, is never in an order.
        let distance = |a: NodeId, b: NodeId| match (a.raw(), b.raw()) {
            (a, b) if a == b => 10,
            (4, 1) => 12,
            _ => 20,
        };
        f.set_distances(distance);
        assert_eq!(order(&f, 0), [1, 3, 4]);
        assert_eq!(order(&f, 4), [1, 0, 3]);
        assert_eq!(f.nodes_with_memory().iter().map(NodeId::raw).collect::<Vec<_>>(), [0, 1, 3, 4]);
    }

    #[test]
    fn alloc_near_prefers_the_node_then_falls_back_by_distance() {
        let (f, mem) = frames(&[2, 1, 1, 1]);
        f.set_distances(four_node_distance);
        let mut got = Vec::new();
        for _ in 0..5 {
            let (pa, from) = f.alloc_near(n(0), 1).unwrap();
            assert!(mem.iter().any(|m| m.range.contains(pa)));
            assert_eq!(f.node_of(pa), Some(from));
            got.push(from.raw());
        }
        // Its own two frames first, then nodes 3, 1, 2: its order by distance.
        assert_eq!(got, [0, 0, 3, 1, 2]);
        assert_eq!(f.fallbacks(n(0)), 3);
        assert_eq!(f.fallbacks(n(3)), 0, "counted on the requesting node only");
    }

    #[test]
    fn alloc_near_fails_only_when_every_node_is_exhausted() {
        let (f, _mem) = frames(&[2, 2]);
        for _ in 0..4 {
            f.alloc_near(n(1), 1).unwrap();
        }
        assert_eq!(f.alloc_near(n(1), 1), Err(FrameError::NoMemoryAnywhere));
        assert_eq!(f.alloc_near(n(0), 1), Err(FrameError::NoMemoryAnywhere));
        assert_eq!(f.fallbacks(n(1)), 2);
    }

    #[test]
    fn a_node_without_memory_allocates_near_and_counts_each_fallback() {
        let (f, _mem) = frames(&[0, 4, 4, 4]);
        f.set_distances(four_node_distance);
        assert_eq!(order(&f, 0), [3, 1, 2], "node 0 itself has no memory");
        assert_eq!(f.alloc_on(n(0), 1), Err(FrameError::Exhausted { node: n(0) }));
        for _ in 0..3 {
            assert_eq!(f.alloc_near(n(0), 1).map(|(_, from)| from), Ok(n(3)));
        }
        assert_eq!(f.fallbacks(n(0)), 3);
        assert_eq!(f.free_bytes(n(0)), 0);
        assert_eq!(f.total_bytes(n(0)), 0);
    }

    #[test]
    fn multi_frame_blocks_are_naturally_aligned() {
        // Node memory deliberately misaligned for large blocks: starts 1 page past 64 KiB.
        let r = ram(64, 16 * P);
        let f = Frames::with_window(HOST);
        let range = PhysRange { base: r.range.base + P, size: r.range.size - P };
        // SAFETY: `r` is host memory owned by this test, used by nothing else.
        unsafe { f.add_free(n(0), range) }.unwrap();
        for frames in [1, 2, 4, 8, 16, 1, 4, 2] {
            let pa = f.alloc_on(n(0), frames).unwrap();
            let size = frames as u64 * P;
            assert_eq!(pa % size, 0, "{frames} frames at {pa:#x}");
            assert!(range.contains(pa) && range.contains(pa + size - 1));
        }
    }

    #[test]
    fn a_count_that_is_not_a_power_of_two_takes_and_returns_the_rounded_block() {
        let (f, _mem) = frames(&[16]);
        assert_eq!(block_frames(3), 4);
        assert_eq!(block_frames(4), 4);
        assert_eq!(block_frames(5), 8);
        let pa = f.alloc_on(n(0), 3).unwrap();
        assert_eq!(pa % (4 * P), 0);
        assert_eq!(f.free_bytes(n(0)), 12 * P, "three frames cost four");
        let pb = f.alloc_on(n(0), 5).unwrap();
        assert_eq!(pb % (8 * P), 0);
        assert_eq!(f.free_bytes(n(0)), 4 * P);
        // SAFETY: both blocks were allocated above with these counts and are unused.
        unsafe { f.free(pa, 3) }.unwrap();
        // SAFETY: as above.
        unsafe { f.free(pb, 5) }.unwrap();
        assert_eq!(f.free_bytes(n(0)), 16 * P);
        assert!(f.alloc_on(n(0), 16).is_ok(), "the rounded blocks coalesced back");
    }

    #[test]
    fn freeing_every_single_frame_coalesces_into_one_big_block() {
        const PAGES: usize = 256;
        let (f, _mem) = frames(&[PAGES as u64]);
        let all: Vec<u64> = (0..PAGES).map(|_| f.alloc_on(n(0), 1).unwrap()).collect();
        assert_eq!(f.alloc_on(n(0), 1), Err(FrameError::Exhausted { node: n(0) }));
        // Free in an order that is neither ascending nor descending.
        for &pa in all.iter().step_by(2).chain(all.iter().skip(1).step_by(2).rev()) {
            // SAFETY: each frame was allocated above and is freed exactly once.
            unsafe { f.free(pa, 1) }.unwrap();
        }
        assert_eq!(f.free_bytes(n(0)), PAGES as u64 * P);
        let big = f.alloc_on(n(0), PAGES).unwrap();
        assert_eq!(big % (PAGES as u64 * P), 0);
    }

    #[test]
    fn frees_of_addresses_no_node_owns_or_of_bad_blocks_are_rejected() {
        // Eight pages aligned to sixteen, so that the 16-page block below is aligned
        // and runs past the node's memory (with an 8-page alignment only, whether it
        // is misaligned too would depend on where the host's allocator put the test's
        // memory: a flaky test).
        let f = Box::new(Frames::with_window(HOST));
        let mem = [ram(8, 16 * P)];
        // SAFETY: `mem[0]` is host memory owned by this test, used by nothing else.
        unsafe { f.add_free(n(0), mem[0].range) }.unwrap();
        let outside = mem[0].range.end() + 16 * P;
        let free = |pa, frames| {
            // SAFETY: every call below is one the checks reject before the heap is
            // touched (what this test proves).
            unsafe { f.free(pa, frames) }
        };
        assert_eq!(free(outside, 1), Err(FrameError::NotOwned { pa: outside }));
        assert_eq!(free(0x1000, 1), Err(FrameError::NotOwned { pa: 0x1000 }));
        let base = mem[0].range.base;
        assert_eq!(free(base + 1, 1), Err(FrameError::Misaligned { pa: base + 1 }));
        assert_eq!(free(base + P, 2), Err(FrameError::Misaligned { pa: base + P }));
        // A block that runs past the node's memory.
        let last = base + 16 * P - 1;
        assert_eq!(free(base, 16), Err(FrameError::NotOwned { pa: last }));
        // Nothing allocated yet: any free would make free > total.
        assert_eq!(free(base, 1), Err(FrameError::NotAllocated { pa: base }));
        assert_eq!(free(base, 0), Err(FrameError::BadCount { frames: 0 }));
        assert_eq!(f.free_bytes(n(0)), 8 * P);
    }

    #[test]
    fn counters_follow_allocations_and_frees() {
        let (f, _mem) = frames(&[8, 0, 8]);
        assert_eq!((f.total_bytes(n(0)), f.free_bytes(n(0))), (8 * P, 8 * P));
        let a = f.alloc_on(n(0), 2).unwrap();
        let (b, from) = f.alloc_near(n(1), 4).unwrap();
        assert_eq!(from, n(0), "node 1 has none; by id, node 0 comes first");
        assert_eq!(f.free_bytes(n(0)), 2 * P);
        assert_eq!(f.fallbacks(n(1)), 1);
        // SAFETY: `a` and `b` were allocated above with these counts and are unused.
        unsafe { f.free(a, 2) }.unwrap();
        // SAFETY: as above.
        unsafe { f.free(b, 4) }.unwrap();
        assert_eq!(f.free_bytes(n(0)), 8 * P);
        assert_eq!(f.total_bytes(n(0)), 8 * P);
        assert_eq!((f.total_bytes(n(2)), f.free_bytes(n(2))), (8 * P, 8 * P));
        assert_eq!(f.fallbacks(n(1)), 1, "freeing does not touch the fallback count");
    }

    #[test]
    fn bad_counts_are_rejected() {
        let (f, _mem) = frames(&[4]);
        assert_eq!(f.alloc_on(n(0), 0), Err(FrameError::BadCount { frames: 0 }));
        let huge = MAX_FRAMES + 1;
        assert_eq!(f.alloc_near(n(0), huge), Err(FrameError::BadCount { frames: huge }));
        assert_eq!(f.alloc_on(n(0), usize::MAX), Err(FrameError::BadCount { frames: usize::MAX }));
        assert_eq!(f.alloc_on(n(0), MAX_FRAMES), Err(FrameError::Exhausted { node: n(0) }));
    }

    #[test]
    fn add_free_checks_ranges_before_touching_memory() {
        let r = ram(16, 16 * P);
        let f = Frames::with_window(HOST);
        let (base, size) = (r.range.base, r.range.size);
        let half = PhysRange { base, size: size / 2 };
        let add = |node, range| {
            // SAFETY: the accepted ranges below are the two halves of host memory owned
            // by `r`, each added once; every other call is rejected before the heap is
            // touched (what this test proves).
            unsafe { f.add_free(node, range) }
        };
        assert_eq!(add(n(0), half), Ok(()));
        let bad = PhysRange { base: base + 1, size: P };
        assert_eq!(add(n(0), bad), Err(FrameError::Misaligned { pa: base + 1 }));
        let bad = PhysRange { base, size: 0 };
        assert_eq!(add(n(0), bad), Err(FrameError::BadRange { range: bad }));
        let bad = PhysRange { base: u64::MAX - P + 1, size: P };
        assert_eq!(add(n(0), bad), Err(FrameError::BadRange { range: bad }));
        let bad = PhysRange { base: 0, size: P };
        assert_eq!(add(n(0), bad), Err(FrameError::BadRange { range: bad }), "va 0");
        let bad = PhysRange { base: base + size / 2 - P, size: 2 * P };
        assert_eq!(add(n(1), bad), Err(FrameError::Overlaps { range: bad }));
        // The second half extends the first entry of the ownership table.
        assert_eq!(add(n(0), PhysRange { base: base + size / 2, size: size / 2 }), Ok(()));
        assert_eq!(f.owned_len.load(Ordering::Relaxed), 1);
        assert_eq!(f.node_of(base + size - 1), Some(n(0)));
        assert_eq!(f.node_of(base + size), None);
        assert_eq!(f.total_bytes(n(0)), size);
        // The halves are separate blocks until a free lets the buddies merge.
        assert_eq!(f.alloc_on(n(0), 16), Err(FrameError::Exhausted { node: n(0) }));
        let pa = f.alloc_on(n(0), 8).unwrap();
        // SAFETY: allocated just above with this count, unused.
        unsafe { f.free(pa, 8) }.unwrap();
        assert_eq!(f.alloc_on(n(0), 16), Ok(base));
    }

    #[test]
    fn node_of_tells_nodes_apart_across_interleaved_ranges() {
        let r = ram(12, P);
        let f = Frames::with_window(HOST);
        let base = r.range.base;
        // Node 0, node 1, node 0 again: memory interleaved as on some servers.
        for (i, node) in [0, 1, 0].into_iter().enumerate() {
            let range = PhysRange { base: base + 4 * P * i as u64, size: 4 * P };
            // SAFETY: disjoint pieces of host memory owned by `r`, each added once.
            unsafe { f.add_free(n(node), range) }.unwrap();
        }
        assert_eq!(f.node_of(base), Some(n(0)));
        assert_eq!(f.node_of(base + 5 * P), Some(n(1)));
        assert_eq!(f.node_of(base + 11 * P), Some(n(0)));
        assert_eq!(f.total_bytes(n(0)), 8 * P);
        for _ in 0..8 {
            let pa = f.alloc_on(n(0), 1).unwrap();
            assert_eq!(f.node_of(pa), Some(n(0)));
        }
    }

    #[test]
    fn cpus_of_different_nodes_allocate_and_free_concurrently() {
        let (f, _mem) = frames(&[64, 64, 64, 64]);
        std::thread::scope(|s| {
            for t in 0..8u32 {
                let f = &*f;
                s.spawn(move || {
                    for round in 0..200 {
                        let frames = 1 << (round % 3);
                        let (pa, _) = f.alloc_near(n(t % 4), frames).unwrap();
                        // SAFETY: allocated just above with this count, unused.
                        unsafe { f.free(pa, frames) }.unwrap();
                    }
                });
            }
        });
        for k in 0..4 {
            assert_eq!(f.free_bytes(n(k)), 64 * P);
        }
    }

    #[test]
    fn the_kernel_allocator_reaches_memory_through_the_direct_map() {
        assert_eq!(Frames::new().window, Window::DIRECT_MAP);
    }
}
