// SPDX-License-Identifier: MIT OR Apache-2.0
//! The memory server's decisions: which frame backs a program's global and stack pages,
//! on which node, and when one goes.
//!
//! One memory server runs per NUMA program (`server.rs`). It
//! owns every frame that more than one of the program's spaces may map: the **global**
//! pages (the image's data and bss, the heap, the program's global regions) and the
//! **stacks** (node-local to their thread, following it when it migrates). Each such
//! frame is the root of all its mappings, kept at `layout::WINDOW + address` of the
//! server's space. A node's pager asks for a page when a thread of its node faults on
//! one (`Server::page`); the server maps the frame into the pager's staging page, and
//! the pager grants it on to its node's space. So:
//!
//! - **lazy coherence through faults**: a node's space gets a global page when one of
//!   its threads first touches it, at most once per node and page between two unmaps
//!   (a second request from the same node is counted apart, as two CPUs of one node
//!   faulting on one page at the same moment do);
//! - **placement**: a page's frame is allocated when the page is first touched, on the
//!   node the region's policy names (first touch: the toucher's; interleave; fixed),
//!   or, for a node without memory, on its memory node (`numa::plan`);
//! - **the global unmap is one kernel call per page** (`Server::unmap`): the frame is
//!   the root of every node's mapping, so giving it back (`MemoryControl`'s free)
//!   revokes the page from every space and every CPU's TLB; no round of messages
//!   between the pagers is needed, and no node can keep a stale mapping (the kernel's
//!   mapping database does what `numa::global`'s protocol did by hand);
//! - **stacks follow their thread**: a stack page asked for by a node other than its
//!   frame's is copied into a frame on that node and the old frame given back (the new
//!   frame at the page's other window address, `layout::STACK_ALIAS` above the first:
//!   one copy, no spare);
//! - **moving a page to the node that uses it** (`Server::sample`, `Server::place`):
//!   revoke the pages (keeping the frames), count which nodes fault them back in, and
//!   move each to the node that clearly uses it most (`numa::access`).
//!
//! Pure logic over a `Frames` trait (the server's system calls), so the host tests
//! drive it with a fake and check every decision.
//!
//! # Invariants
//! - Every global or stack page has at most one frame, recorded here, at the server's
//!   window address for it (a stack page's at one of its two: the second if the page
//!   is in `aliased`); a page not recorded has no mapping in any space.
//! - `mapped` holds exactly the node slots that got the page since its last unmap or
//!   revoke (a slot may have lost it since, in a concurrent re-grant: never more).
//! - A node misses a page at most once between two unmaps or revokes of it: table
//!   misses per (page, slot) never exceed `1 + unmaps + revokes` of that page.

use alloc::collections::BTreeMap;
use core::fmt;
use numa::access::{self, Samples, Thresholds};
use numa::decl::Declaration;
use numa::layout::{self, Area, WINDOW};
use numa::region::{Kind, PAGE, Policy};

/// The server's system calls (the target's are `MemoryControl`, its free, `Unmap`, and
/// plain stores into its own mappings).
pub trait Frames {
    /// A zeroed frame on `node` (or the nearest node with memory), mapped read-write at
    /// the server's address `va`; the node it came from, or `None` when memory is out.
    fn alloc(&mut self, node: u16, va: u64) -> Option<u16>;
    /// Gives the block of `2^order` frames at `va` back (each got by `alloc`, `va`
    /// aligned to the block): every mapping derived from them goes, everywhere. One
    /// kernel call, however many frames.
    fn free(&mut self, va: u64, order: u32);
    /// Revokes every mapping derived from the frame at `va`, keeping the frame.
    fn revoke(&mut self, va: u64);
    /// Writes `bytes` at `va` (inside one page).
    fn write(&mut self, va: u64, bytes: &[u8]);
    /// Copies the page at `from` to the page at `to`.
    fn copy(&mut self, from: u64, to: u64);
}

/// A loadable segment of the program (from its ELF), as the server needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Where it starts.
    pub vaddr: u64,
    /// Its size in memory.
    pub memsz: u64,
    /// Its size in the file.
    pub filesz: u64,
    /// Where its bytes are in the file.
    pub offset: u64,
    /// Writable (data, bss: global). The others (code, read-only data) are node-local:
    /// a node's pager copies them itself.
    pub writable: bool,
    /// Executable (code).
    pub executable: bool,
}

impl Segment {
    /// No segment (an unused entry of a table of them).
    pub const NONE: Segment =
        Segment { vaddr: 0, memsz: 0, filesz: 0, offset: 0, writable: false, executable: false };
}

/// What a page request gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The server's address of the frame (to map into the pager's staging page).
    pub va: u64,
    /// The program's page.
    pub page: u64,
    /// The frame's node.
    pub node: u16,
    /// Whether this request was a table miss (the node's first since the last unmap).
    pub miss: bool,
    /// The rights the program's threads get: read-write, or for the image's code and
    /// read-only data (one copy for every node, without replication) read-execute or
    /// read.
    pub rights: numa::region::Access,
}

/// Why a page request is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Nothing of the program is at the address: the thread is broken.
    Unmapped(u64),
    /// The address is below a thread's stack: a stack overflow.
    StackOverflow(u64),
    /// A node-local page: the asking pager makes it itself (a pager bug to ask).
    NodeLocal(u64),
    /// No memory on any node.
    OutOfMemory(u64),
    /// A node slot the program does not run on.
    BadSlot(usize),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Refusal::Unmapped(a) => write!(f, "fault at {a:#x}, outside the program"),
            Refusal::StackOverflow(a) => write!(f, "fault at {a:#x}, below a thread's stack: stack overflow"),
            Refusal::NodeLocal(a) => write!(f, "page {a:#x} is node-local: its pager makes it"),
            Refusal::OutOfMemory(a) => write!(f, "no memory on any node for page {a:#x}"),
            Refusal::BadSlot(s) => write!(f, "node slot {s} is not one of the program's"),
        }
    }
}

/// One global or stack page's frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Frame {
    /// The frame's node.
    node: u16,
    /// Node slots that got the page since its last unmap or revoke (bit per slot).
    mapped: u64,
}

/// The server's counters, for the program's report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Table misses: a node's first request for a global page since its last unmap.
    pub misses: u64,
    /// Requests from a node that already had the page (concurrent faults).
    pub repeats: u64,
    /// Distinct global pages ever made.
    pub pages_made: u64,
    /// Global pages unmapped (given back on the program's request).
    pub unmapped: u64,
    /// Revokes for sampling (frames kept).
    pub revokes: u64,
    /// Pages moved to another node (stacks following a thread, the access policy).
    pub moves: u64,
    /// Stack pages copied after a migrated thread.
    pub stack_moves: u64,
    /// Frames given back in all.
    pub freed: u64,
}

/// The memory server's state for one program.
pub struct Server {
    decl: Declaration,
    /// The node of each slot and the node whose memory serves it.
    nodes: [u16; numa::plan::MAX_NODES],
    memory: [u16; numa::plan::MAX_NODES],
    slots: usize,
    /// The program's loadable segments.
    segments: [Segment; 16],
    segment_count: usize,
    /// Global pages, by page address.
    global: BTreeMap<u64, Frame>,
    /// Stack pages, by page address.
    stacks: BTreeMap<u64, Frame>,
    /// The stack pages whose frame is at their second window address
    /// (`layout::STACK_ALIAS` above the first): moved an odd number of times.
    aliased: alloc::collections::BTreeSet<u64>,
    /// Pages being sampled, and who faulted them back in.
    sampling: BTreeMap<u64, Samples>,
    /// Misses per (page, slot) since the start, and unmaps + revokes per page: the
    /// invariant's check.
    misses: BTreeMap<(u64, usize), u32>,
    epochs: BTreeMap<u64, u32>,
    /// Table misses by the node slot of the faulting thread (in one space too).
    misses_by_slot: [u64; numa::plan::MAX_NODES],
    stats: Stats,
    /// Code and read-only data node-local (the pagers copy them) or the server's.
    replicate: bool,
    /// One space for every slot (the paper's baseline): a page is mapped, and
    /// missed, once for all of them; placement still follows the toucher's node.
    single: bool,
}

impl Server {
    /// A server for a program declared `decl`, running on `nodes` (by slot), whose
    /// slot `s` is served by the memory of `memory[s]`, with loadable `segments`.
    pub fn new(decl: Declaration, nodes: &[u16], memory: &[u16], segments: &[Segment]) -> Server {
        let mut s = Server {
            decl,
            nodes: [0; numa::plan::MAX_NODES],
            memory: [0; numa::plan::MAX_NODES],
            slots: nodes.len().min(numa::plan::MAX_NODES),
            segments: [Segment::NONE; 16],
            segment_count: segments.len().min(16),
            global: BTreeMap::new(),
            stacks: BTreeMap::new(),
            aliased: alloc::collections::BTreeSet::new(),
            sampling: BTreeMap::new(),
            misses: BTreeMap::new(),
            epochs: BTreeMap::new(),
            misses_by_slot: [0; numa::plan::MAX_NODES],
            stats: Stats::default(),
            replicate: true,
            single: false,
        };
        s.nodes[..s.slots].copy_from_slice(&nodes[..s.slots]);
        s.memory[..s.slots].copy_from_slice(&memory[..s.slots]);
        s.segments[..s.segment_count].copy_from_slice(&segments[..s.segment_count]);
        s
    }

    /// Without replication: the image's code and read-only data are global pages (one
    /// frame for every node, placed by first touch) instead of node-local copies.
    pub fn without_replication(mut self) -> Server {
        self.replicate = false;
        self
    }

    /// One space and one pager for every node (`mode=single-space`): a page's table
    /// entry is shared by all slots, so each page is missed once, whoever touches it.
    pub fn single_space(mut self) -> Server {
        self.single = true;
        self
    }

    /// The space slot whose table a thread of node slot `slot` uses.
    fn space_of(&self, slot: usize) -> usize {
        if self.single { 0 } else { slot }
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The most misses the invariant allows so far: every page made, on every node,
    /// once, and once more per node for each unmap and revoke.
    pub fn max_misses(&self) -> u64 {
        let spaces = if self.single { 1 } else { self.slots as u64 };
        (self.stats.pages_made + self.stats.unmapped + self.stats.revokes) * spaces
    }

    /// Table misses on pages of `[start, end)` (a declared region's, say).
    pub fn misses_in(&self, start: u64, end: u64) -> u64 {
        self.misses.range((start, 0)..(end, 0)).map(|(_, &n)| u64::from(n)).sum()
    }

    /// Table misses by the node slot of the faulting thread, for each slot.
    pub fn misses_by_slot(&self) -> &[u64] {
        &self.misses_by_slot[..self.slots]
    }

    /// Whether every (page, slot) pair missed at most once per epoch of the page.
    pub fn misses_within_bound(&self) -> bool {
        self.misses.iter().all(|(&(page, _), &n)| n <= 1 + self.epochs.get(&page).copied().unwrap_or(0))
    }

    /// The global pages that have a frame, with the frame's node.
    #[cfg(test)]
    pub fn global_pages(&self) -> impl Iterator<Item = (u64, u16)> + '_ {
        self.global.iter().map(|(&page, f)| (page, f.node))
    }

    /// What is at `address`, by the layout and the declaration.
    fn area(&self, address: u64) -> Area {
        let mut declared = [(0u64, 0u64); numa::decl::MAX_REGIONS];
        for (slot, r) in declared.iter_mut().zip(self.decl.declared()) {
            *slot = (r.base, r.end().unwrap_or(r.base));
        }
        layout::area(
            address,
            self.decl.stack_kib,
            self.decl.heap_kib,
            self.slots,
            &declared[..self.decl.region_count],
        )
    }

    /// The node a new global page at `page` goes to, when slot `toucher` touched it.
    fn placement(&self, page: u64, toucher: usize) -> Result<u16, Refusal> {
        let slot = match self.area(page) {
            Area::Image => toucher,
            Area::Heap(node) => node,
            Area::Declared(i) => match self.decl.declared()[i].kind {
                Kind::Global(policy) => {
                    let index = ((page - self.decl.declared()[i].base) / PAGE) as usize;
                    match policy {
                        // A fixed node the program does not run on falls back to the toucher.
                        Policy::Fixed(node) => self.nodes[..self.slots]
                            .iter()
                            .position(|&n| usize::from(n) == node)
                            .unwrap_or(toucher),
                        other => other.place(index, toucher, self.slots),
                    }
                }
                Kind::NodeLocal(_) => return Err(Refusal::NodeLocal(page)),
            },
            Area::Stack(_) => toucher,
            Area::StackGuard(_) => return Err(Refusal::StackOverflow(page)),
            Area::Nothing => return Err(Refusal::Unmapped(page)),
        };
        Ok(self.memory[slot.min(self.slots.saturating_sub(1))])
    }

    /// The segment holding `page`, if any.
    fn segment_of(&self, page: u64) -> Option<&Segment> {
        self.segments[..self.segment_count].iter().find(|s| page + PAGE > s.vaddr && page < s.vaddr + s.memsz)
    }

    /// Fills a new frame at `va` for `page`: the file bytes of the image's data that
    /// land in it (the rest stays zero: bss, heap, stacks, declared regions).
    fn fill(&self, frames: &mut impl Frames, va: u64, page: u64, elf: &[u8]) {
        let Some(seg) = self.segment_of(page) else { return };
        let (from, to) = (page.max(seg.vaddr), (page + PAGE).min(seg.vaddr + seg.filesz));
        if from >= to {
            return;
        }
        let start = (seg.offset + (from - seg.vaddr)) as usize;
        if let Some(bytes) = elf.get(start..start + (to - from) as usize) {
            frames.write(va + (from - page), bytes);
        }
    }

    /// Node slot `slot`'s pager asks for the page at `address`, which one of its
    /// threads faulted on. `elf` is the program's file (for the data's bytes).
    pub fn page(
        &mut self,
        frames: &mut impl Frames,
        elf: &[u8],
        address: u64,
        slot: usize,
    ) -> Result<Grant, Refusal> {
        if slot >= self.slots {
            return Err(Refusal::BadSlot(slot));
        }
        let page = address & !(PAGE - 1);
        let va = WINDOW + page;
        let area = self.area(page);
        let mut rights = numa::region::Access::ReadWrite;
        if area == Area::Image {
            match self.segment_of(page) {
                None => return Err(Refusal::Unmapped(page)),
                Some(s) if !s.writable && self.replicate => return Err(Refusal::NodeLocal(page)),
                Some(s) if !s.writable && s.executable => rights = numa::region::Access::ReadExecute,
                Some(s) if !s.writable => rights = numa::region::Access::Read,
                Some(_) => {}
            }
        }
        let want = self.placement(page, slot)?;
        if let Area::Stack(_) = area {
            return self.stack_page(frames, page, slot, want);
        }
        let bit = 1u64 << self.space_of(slot);
        if let Some(f) = self.global.get_mut(&page) {
            let miss = f.mapped & bit == 0;
            f.mapped |= bit;
            let node = f.node;
            self.count(page, slot, miss);
            return Ok(Grant { va, page, node, miss, rights });
        }
        let node = frames.alloc(want, va).ok_or(Refusal::OutOfMemory(page))?;
        self.fill(frames, va, page, elf);
        self.global.insert(page, Frame { node, mapped: bit });
        self.stats.pages_made += 1;
        self.count(page, slot, true);
        Ok(Grant { va, page, node, miss: true, rights })
    }

    /// Counts a request of node slot `slot`: a miss of its space (and a sample of its
    /// node, if the page is being sampled) or a repeat.
    fn count(&mut self, page: u64, slot: usize, miss: bool) {
        if !miss {
            self.stats.repeats += 1;
            return;
        }
        self.stats.misses += 1;
        self.misses_by_slot[slot] += 1;
        *self.misses.entry((page, self.space_of(slot))).or_insert(0) += 1;
        let canonical = self.canonical(slot);
        if let Some(s) = self.sampling.get_mut(&page) {
            s.record([canonical]);
            s.periods = s.periods.saturating_sub(1); // `record` counts a period: not ours
        }
    }

    /// The first slot served by the same memory as `slot`: slots that share a memory
    /// node share their samples (a page on that node is home to all of them).
    fn canonical(&self, slot: usize) -> usize {
        let memory = self.memory[slot];
        self.memory[..self.slots].iter().position(|&m| m == memory).unwrap_or(slot)
    }

    /// A stack page for `slot`, whose memory node is `want`: the thread's frame if it is
    /// there; else a copy of it there (the thread migrated), made at the page's other
    /// window address and the old frame given back; else a fresh one.
    fn stack_page(
        &mut self,
        frames: &mut impl Frames,
        page: u64,
        slot: usize,
        want: u16,
    ) -> Result<Grant, Refusal> {
        let at = |alias: bool| WINDOW + page + if alias { layout::STACK_ALIAS } else { 0 };
        let bit = 1u64 << self.space_of(slot);
        let alias = self.aliased.contains(&page);
        match self.stacks.get(&page).copied() {
            Some(f) if f.node == want => {
                self.stacks.insert(page, Frame { mapped: f.mapped | bit, ..f });
                Ok(Grant {
                    va: at(alias),
                    page,
                    node: want,
                    miss: false,
                    rights: numa::region::Access::ReadWrite,
                })
            }
            Some(_) => {
                // The thread moved: copy its page to a frame on the new node at the
                // other window address, and give the old frame back (revoking the old
                // node's mapping). One copy; the page's contents move once.
                let (from, to) = (at(alias), at(!alias));
                let node = frames.alloc(want, to).ok_or(Refusal::OutOfMemory(page))?;
                frames.copy(from, to);
                frames.free(from, 0);
                self.stacks.insert(page, Frame { node, mapped: bit });
                if alias {
                    self.aliased.remove(&page);
                } else {
                    self.aliased.insert(page);
                }
                self.stats.freed += 1;
                self.stats.stack_moves += 1;
                Ok(Grant { va: to, page, node, miss: true, rights: numa::region::Access::ReadWrite })
            }
            None => {
                let va = at(false);
                let node = frames.alloc(want, va).ok_or(Refusal::OutOfMemory(page))?;
                self.stacks.insert(page, Frame { node, mapped: bit });
                Ok(Grant { va, page, node, miss: true, rights: numa::region::Access::ReadWrite })
            }
        }
    }

    /// The program unmaps the global pages of `[start, start + pages)`: each that has a
    /// frame gives it back, which takes it from every node at once. The frames go back
    /// in naturally aligned blocks ([`blocks`]): one kernel call for a whole aligned
    /// batch, not one per page. Returns how many pages.
    pub fn unmap(&mut self, frames: &mut impl Frames, start: u64, pages: u64) -> u64 {
        let (first, end) = (start & !(PAGE - 1), start.saturating_add(pages.saturating_mul(PAGE)));
        let gone: alloc::vec::Vec<u64> = self.global.range(first..end).map(|(&p, _)| p).collect();
        for (page, order) in blocks(&gone) {
            frames.free(WINDOW + page, order);
        }
        for &page in &gone {
            self.global.remove(&page);
            self.sampling.remove(&page);
            *self.epochs.entry(page).or_insert(0) += 1;
        }
        self.stats.unmapped += gone.len() as u64;
        self.stats.freed += gone.len() as u64;
        gone.len() as u64
    }

    /// Starts a sampling period over the global pages of `[start, start + pages)`:
    /// each is revoked everywhere (its frame kept), and the nodes that fault it back
    /// in are counted. Returns the pages revoked.
    pub fn sample(&mut self, frames: &mut impl Frames, start: u64, pages: u64) -> u64 {
        let end = start.saturating_add(pages.saturating_mul(PAGE));
        let mut n = 0;
        for (&page, f) in self.global.range_mut(start & !(PAGE - 1)..end) {
            frames.revoke(WINDOW + page);
            f.mapped = 0;
            let s = self.sampling.entry(page).or_default();
            s.periods = s.periods.saturating_add(1);
            *self.epochs.entry(page).or_insert(0) += 1;
            n += 1;
        }
        self.stats.revokes += n;
        n
    }

    /// Ends sampling over `[start, start + pages)`: each sampled page that another node
    /// used clearly more often than the node its frame is on ([`access::decide`]) moves
    /// there (a copy, the old frame given back, every mapping revoked). Returns the
    /// pages moved.
    pub fn place(&mut self, frames: &mut impl Frames, start: u64, pages: u64, t: Thresholds) -> u64 {
        let end = start.saturating_add(pages.saturating_mul(PAGE));
        let sampled: alloc::vec::Vec<(u64, Samples)> =
            self.sampling.range(start & !(PAGE - 1)..end).map(|(&p, &s)| (p, s)).collect();
        let mut moved = 0;
        for (page, samples) in sampled {
            self.sampling.remove(&page);
            let Some(f) = self.global.get(&page).copied() else { continue };
            let home = self.memory[..self.slots].iter().position(|&m| m == f.node).unwrap_or(0);
            let Some(to) = access::decide(home, &samples, t) else { continue };
            let target = self.memory[to];
            if target == f.node {
                continue;
            }
            let (va, spare) = (WINDOW + page, WINDOW + layout::USER_TOP - PAGE);
            let Some(_) = frames.alloc(target, spare) else { continue };
            frames.copy(va, spare);
            frames.free(va, 0);
            let Some(node) = frames.alloc(target, va) else {
                // The old frame is gone and no new one could be had: the page is gone
                // too (a fresh one on the next touch), as after an unmap.
                frames.free(spare, 0);
                self.global.remove(&page);
                continue;
            };
            frames.copy(spare, va);
            frames.free(spare, 0);
            self.global.insert(page, Frame { node, mapped: 0 });
            *self.epochs.entry(page).or_insert(0) += 1;
            self.stats.moves += 1;
            self.stats.freed += 2;
            moved += 1;
        }
        moved
    }
}

/// The naturally aligned blocks `(first page, order)` that cover `pages` (sorted,
/// distinct, page-aligned addresses): each run of consecutive pages is cut into blocks
/// of `2^order` pages aligned to their size, each as large as its alignment and what is
/// left of the run allow. A run of 64 pages aligned to 64 is one block; an unaligned or
/// broken run takes a few more (at most two per order). The server frees each block
/// with one kernel call (`MemoryControl`'s free takes such a block).
pub fn blocks(pages: &[u64]) -> alloc::vec::Vec<(u64, u32)> {
    let mut out = alloc::vec::Vec::new();
    let mut i = 0;
    while i < pages.len() {
        let mut j = i + 1;
        while j < pages.len() && pages[j] == pages[j - 1] + PAGE {
            j += 1;
        }
        let (mut at, end) = (pages[i] / PAGE, pages[j - 1] / PAGE + 1);
        while at < end {
            let fits = (end - at).ilog2();
            let order = if at == 0 { fits } else { at.trailing_zeros().min(fits) };
            out.push((at * PAGE, order));
            at += 1 << order;
        }
        i = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use numa::decl::{DeclRegion, Threads};
    use numa::region::Source;
    use std::collections::{BTreeMap, BTreeSet};

    /// Frames in a map: address -> (node, contents); every free and revoke recorded.
    #[derive(Default)]
    struct Fake {
        pages: BTreeMap<u64, (u16, Vec<u8>)>,
        freed: Vec<u64>,
        revoked: Vec<u64>,
        /// Kernel calls that freed.
        calls: usize,
        /// Nodes that have no memory left.
        full: BTreeSet<u16>,
    }

    impl Frames for Fake {
        fn alloc(&mut self, node: u16, va: u64) -> Option<u16> {
            assert!(!self.pages.contains_key(&va), "alloc over a live frame at {va:#x}");
            if self.full.contains(&node) {
                return None;
            }
            self.pages.insert(va, (node, vec![0; PAGE as usize]));
            Some(node)
        }
        fn free(&mut self, va: u64, order: u32) {
            assert_eq!(va % (PAGE << order), 0, "a block aligned to its size");
            for i in 0..1u64 << order {
                let page = va + i * PAGE;
                assert!(self.pages.remove(&page).is_some(), "free of nothing at {page:#x}");
                self.freed.push(page);
            }
            self.calls += 1;
        }
        fn revoke(&mut self, va: u64) {
            assert!(self.pages.contains_key(&va));
            self.revoked.push(va);
        }
        fn write(&mut self, va: u64, bytes: &[u8]) {
            let (base, off) = (va & !(PAGE - 1), (va % PAGE) as usize);
            let page = &mut self.pages.get_mut(&base).expect("write to a live frame").1;
            page[off..off + bytes.len()].copy_from_slice(bytes);
        }
        fn copy(&mut self, from: u64, to: u64) {
            let data = self.pages[&from].1.clone();
            self.pages.get_mut(&to).expect("copy to a live frame").1 = data;
        }
    }

    const NODES: [u16; 3] = [0, 1, 3];
    /// Node 1 has no memory: node 3 serves it.
    const MEMORY: [u16; 3] = [0, 3, 3];
    const DATA: u64 = 0x40_2000;

    fn segments() -> [Segment; 2] {
        [
            Segment {
                vaddr: 0x40_0000,
                memsz: 0x2000,
                filesz: 0x2000,
                offset: 0x1000,
                writable: false,
                executable: true,
            },
            // Data: 0x1800 file bytes, then bss to 0x40_6000.
            Segment {
                vaddr: DATA,
                memsz: 0x4000,
                filesz: 0x1800,
                offset: 0x3000,
                writable: true,
                executable: false,
            },
        ]
    }

    fn elf() -> Vec<u8> {
        (0..0x8000u32).map(|i| (i % 251) as u8).collect()
    }

    fn decl() -> Declaration {
        Declaration::new()
            .threads(Threads::PerCpu(1))
            .heap_kib(64)
            .region(DeclRegion::new("spread", 0x1000_0000_0000, 6, Kind::Global(Policy::Interleave)))
            .region(DeclRegion::new("fixed", 0x1001_0000_0000, 2, Kind::Global(Policy::Fixed(3))))
            .region(DeclRegion::new("local", 0x1002_0000_0000, 2, Kind::NodeLocal(Source::Zero)))
    }

    fn server() -> Server {
        Server::new(decl(), &NODES, &MEMORY, &segments())
    }

    #[test]
    fn a_data_page_is_made_once_with_its_file_bytes_and_shared_by_every_node() {
        let (mut s, mut f, elf) = (server(), Fake::default(), elf());
        let g = s.page(&mut f, &elf, DATA + 0x1234, 1).unwrap();
        assert_eq!((g.page, g.va, g.node, g.miss), (DATA + 0x1000, WINDOW + DATA + 0x1000, 3, true));
        // File bytes 0x1000..0x1800 of the segment, then zeros (bss).
        let page = &f.pages[&g.va].1;
        assert_eq!(page[..0x800], elf[0x4000..0x4800]);
        assert!(page[0x800..].iter().all(|&b| b == 0));
        let again = s.page(&mut f, &elf, DATA + 0x1000, 0).unwrap();
        assert_eq!((again.va, again.node, again.miss), (g.va, 3, true), "same frame, first touch stays");
        let repeat = s.page(&mut f, &elf, DATA + 0x1008, 0).unwrap();
        assert!(!repeat.miss, "node 0 had it: a concurrent fault");
        assert_eq!(s.stats().misses, 2);
        assert_eq!(s.misses_in(DATA, DATA + 0x4000), 2);
        assert_eq!(s.misses_in(DATA, DATA + 0x1000), 0, "another page");
        assert_eq!(s.stats().repeats, 1);
        assert_eq!(s.misses_by_slot(), [1, 1, 0], "slot 1's and slot 0's");
        assert_eq!(s.stats().pages_made, 1);
        assert!(s.misses_within_bound());
    }

    #[test]
    fn placement_follows_the_policy_and_a_memoryless_node_uses_its_memory_node() {
        let (mut s, mut f, elf) = (server(), Fake::default(), elf());
        let node = |s: &mut Server, f: &mut Fake, a, slot| s.page(f, &elf, a, slot).unwrap().node;
        let spread: Vec<u16> = (0..6).map(|i| node(&mut s, &mut f, 0x1000_0000_0000 + i * PAGE, 0)).collect();
        assert_eq!(spread, [0, 3, 3, 0, 3, 3], "interleaved over the slots, slot 1 served by node 3");
        assert_eq!(node(&mut s, &mut f, 0x1001_0000_0000, 0), 3, "fixed on node 3");
        let (arena2, _) = layout::arena(2, 64);
        assert_eq!(node(&mut s, &mut f, arena2, 0), 3, "slot 2's arena lives on slot 2's node");
        assert_eq!(node(&mut s, &mut f, layout::arena(0, 64).0, 2), 0);
        assert_eq!(node(&mut s, &mut f, DATA + 0x3000, 1), 3, "bss: first touch");
    }

    #[test]
    fn in_one_space_a_page_is_missed_once_but_placed_by_its_toucher() {
        let (mut s, mut f, elf) = (server().single_space(), Fake::default(), elf());
        let first = s.page(&mut f, &elf, 0x1000_0000_0000 + PAGE, 1).unwrap();
        assert_eq!((first.node, first.miss), (3, true), "interleave: page 1 goes to slot 1's memory");
        let other = s.page(&mut f, &elf, 0x1000_0000_0000 + PAGE, 0).unwrap();
        assert!(!other.miss, "slot 0 shares slot 1's table: not a miss");
        assert_eq!(s.page(&mut f, &elf, DATA, 1).unwrap().node, 3, "first touch: slot 1's node");
        assert_eq!(s.stats().misses, 2);
        assert_eq!(s.misses_in(0x1000_0000_0000, 0x1000_0001_0000), 1);
        assert_eq!(s.max_misses(), 2, "one space: each page once");
        assert!(s.misses_within_bound());
    }

    #[test]
    fn without_replication_the_code_is_one_global_copy() {
        let (mut s, mut f, elf) = (server().without_replication(), Fake::default(), elf());
        let g = s.page(&mut f, &elf, 0x40_0010, 1).unwrap();
        assert_eq!((g.page, g.node, g.rights), (0x40_0000, 3, numa::region::Access::ReadExecute));
        assert_eq!(f.pages[&g.va].1[..16], elf[0x1000..0x1010], "the code's bytes");
        assert_eq!(s.page(&mut f, &elf, 0x40_0000, 0).unwrap().va, g.va, "the same frame for node 0");
    }

    #[test]
    fn what_is_not_the_servers_is_refused_by_name() {
        let (mut s, mut f, elf) = (server(), Fake::default(), elf());
        assert_eq!(s.page(&mut f, &elf, 0x40_0010, 0), Err(Refusal::NodeLocal(0x40_0000)), "code");
        assert_eq!(s.page(&mut f, &elf, 0x1002_0000_0000, 0), Err(Refusal::NodeLocal(0x1002_0000_0000)));
        assert_eq!(s.page(&mut f, &elf, 0x10, 0), Err(Refusal::Unmapped(0)));
        assert_eq!(s.page(&mut f, &elf, 0x40_7000, 0), Err(Refusal::Unmapped(0x40_7000)), "past the image");
        let (low, _) = layout::stack_slot(4);
        assert_eq!(s.page(&mut f, &elf, low, 0), Err(Refusal::StackOverflow(low)));
        assert_eq!(s.page(&mut f, &elf, DATA, 3), Err(Refusal::BadSlot(3)));
        f.full.insert(0);
        assert_eq!(s.page(&mut f, &elf, DATA, 0), Err(Refusal::OutOfMemory(DATA)));
        assert!(f.pages.is_empty(), "nothing made for a refusal");
    }

    #[test]
    fn an_unmap_gives_every_frame_back_and_the_next_touch_makes_a_new_one() {
        let (mut s, mut f, elf) = (server(), Fake::default(), elf());
        for slot in 0..3 {
            for i in 0..3 {
                s.page(&mut f, &elf, 0x1000_0000_0000 + i * PAGE, slot).unwrap();
            }
        }
        assert_eq!(s.stats().misses, 9);
        assert_eq!(s.unmap(&mut f, 0x1000_0000_0000, 6), 3, "three of the six pages had frames");
        assert_eq!(f.freed.len(), 3);
        assert!(f.pages.is_empty());
        // Every node misses again, once: within the bound.
        for slot in 0..3 {
            assert!(s.page(&mut f, &elf, 0x1000_0000_0000, slot).unwrap().miss);
        }
        assert!(s.misses_within_bound());
        assert_eq!(s.max_misses(), (4 + 3) * 3);
        assert!(s.stats().misses <= s.max_misses());
    }

    #[test]
    fn a_stack_follows_its_thread_to_another_node() {
        let (mut s, mut f, elf) = (server(), Fake::default(), elf());
        let top = layout::stack_top(2);
        let g = s.page(&mut f, &elf, top - 8, 0).unwrap();
        assert_eq!(g.node, 0);
        f.write(g.va + 0xFF0, b"hello");
        // The thread moved to slot 2 (node 3): its page is copied there, once, to the
        // page's other window address.
        let moved = s.page(&mut f, &elf, top - 8, 2).unwrap();
        assert_eq!((moved.va, moved.node), (g.va + layout::STACK_ALIAS, 3));
        assert_eq!(&f.pages[&moved.va].1[0xFF0..0xFF5], b"hello");
        assert_eq!(f.freed, [g.va], "the old frame only: no spare");
        assert!(!f.pages.contains_key(&g.va));
        assert_eq!(s.stats().stack_moves, 1);
        // Slot 1 is served by node 3 too: no copy.
        assert_eq!(s.page(&mut f, &elf, top - 8, 1).unwrap(), Grant { miss: false, ..moved });
        assert_eq!(s.stats().stack_moves, 1);
        // Back to node 0 (slot 0): to the first address again, the alias freed.
        let back = s.page(&mut f, &elf, top - 8, 0).unwrap();
        assert_eq!((back.va, back.node), (g.va, 0));
        assert_eq!(&f.pages[&back.va].1[0xFF0..0xFF5], b"hello");
        assert_eq!(f.freed, [g.va, moved.va]);
        assert_eq!(s.stats().stack_moves, 2);
    }

    #[test]
    fn sampling_moves_a_page_to_the_node_that_uses_it() {
        let (mut s, mut f, elf) = (server(), Fake::default(), elf());
        let hot = 0x1001_0000_0000; // fixed on node 3, used from slot 0 only
        s.page(&mut f, &elf, hot, 0).unwrap();
        f.write(WINDOW + hot, b"data");
        for _ in 0..4 {
            assert_eq!(s.sample(&mut f, hot, 1), 1);
            assert!(s.page(&mut f, &elf, hot, 0).unwrap().miss);
        }
        assert_eq!(f.revoked.len(), 4);
        assert_eq!(s.place(&mut f, hot, 1, Thresholds::DEFAULT), 1);
        assert_eq!(f.pages[&(WINDOW + hot)].0, 0, "on node 0 now");
        assert_eq!(&f.pages[&(WINDOW + hot)].1[..4], b"data");
        assert_eq!(s.stats().moves, 1);
        assert!(s.misses_within_bound());
        // A page used evenly stays.
        let even = 0x1001_0000_1000;
        s.page(&mut f, &elf, even, 0).unwrap();
        for _ in 0..4 {
            s.sample(&mut f, even, 1);
            s.page(&mut f, &elf, even, 0).unwrap();
            s.page(&mut f, &elf, even, 2).unwrap();
        }
        assert_eq!(s.place(&mut f, even, 1, Thresholds::DEFAULT), 0);
    }

    #[test]
    fn random_requests_keep_the_invariants() {
        let (mut s, mut f, elf) = (server(), Fake::default(), elf());
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for _ in 0..5000 {
            let page = 0x1000_0000_0000 + next(6) * PAGE;
            match next(10) {
                0 => {
                    s.unmap(&mut f, page, 1 + next(3));
                }
                1 => {
                    s.sample(&mut f, page, 1);
                }
                2 => {
                    s.place(&mut f, 0x1000_0000_0000, 6, Thresholds::DEFAULT);
                }
                _ => {
                    s.page(&mut f, &elf, page, next(3) as usize).unwrap();
                }
            }
            // One frame per page with an entry, at its window address, nothing else.
            let live: BTreeSet<u64> = f.pages.keys().copied().collect();
            let recorded: BTreeSet<u64> = s.global_pages().map(|(p, _)| WINDOW + p).collect();
            assert_eq!(live, recorded);
            assert!(s.misses_within_bound());
            assert!(s.stats().misses <= s.max_misses());
        }
    }

    #[test]
    fn an_aligned_batch_goes_back_in_one_call() {
        let (mut s, mut f, elf) = (server(), Fake::default(), elf());
        let base = 0x1000_0000_0000;
        let spread = |s: &mut Server, f: &mut Fake| {
            for slot in 0..3 {
                for i in 0..6 {
                    s.page(f, &elf, base + i * PAGE, slot).unwrap();
                }
            }
        };
        spread(&mut s, &mut f);
        assert_eq!(s.unmap(&mut f, base, 4), 4);
        assert_eq!((f.calls, f.freed.len()), (1, 4), "four pages aligned to four: one call");
        f.calls = 0;
        assert_eq!(s.unmap(&mut f, base, 6), 2, "the two left");
        assert_eq!(f.calls, 1);
        assert!(f.pages.is_empty());
    }

    #[test]
    fn blocks_are_aligned_to_their_size_and_cover_exactly_the_pages() {
        let p = |i: u64| i * PAGE;
        assert_eq!(blocks(&[]), []);
        assert_eq!(blocks(&(64..128).map(p).collect::<Vec<_>>()), [(p(64), 6)]);
        assert_eq!(blocks(&[p(0), p(1), p(2)]), [(0, 1), (p(2), 0)]);
        assert_eq!(blocks(&[p(3), p(4), p(5), p(6), p(7), p(9)]), [(p(3), 0), (p(4), 2), (p(9), 0)]);
        // Random sets: the blocks are aligned, disjoint, and cover the set exactly.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200 {
            let mut pages = Vec::new();
            for i in 0..200 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if !x.is_multiple_of(5) {
                    pages.push(p(1000 + i));
                }
            }
            let mut covered = Vec::new();
            for (at, order) in blocks(&pages) {
                assert_eq!(at % (PAGE << order), 0, "aligned");
                covered.extend((0..1u64 << order).map(|i| at + i * PAGE));
            }
            assert_eq!(covered, pages);
            assert!(blocks(&pages).len() <= pages.len());
        }
    }
}
