// SPDX-License-Identifier: MIT OR Apache-2.0
//! `numademo`: the paper at user level, end to end, on every node of the board.
//!
//! The kernel gives only local primitives; this program (the root task, privileged)
//! is the NUMA runtime that builds one application out of them, as "NUMA-Aware
//! User-Level Memory Management for Microkernel-Based Operating Systems" describes:
//!
//! - **one address space and one pager per node**: for every node with CPUs and memory
//!   (a node without memory can keep nothing local: it is left out), a space created
//!   by a *worker* thread made on that node's first CPU (so the space's home node is
//!   that node: its tables, MDB entries and TCBs come from there), a worker on every
//!   other CPU of the node in the same space, and a *pager* thread on the node's first
//!   CPU. The pagers are threads of this (root) space: they share this program's
//!   statics, which hold the runtime's tables. The kernel sees unrelated spaces; the
//!   grouping exists only here.
//! - **node-local code**: the workers run this program's code. At the first fault on a
//!   code page in node k's space, pager k copies the page into a frame on node k and
//!   maps that copy: every node executes its own replica.
//! - **node-local stacks (and UTCBs)**: stack pages are fresh frames on the faulting
//!   node; the kernel makes UTCBs on the space's home node.
//! - **global regions**, declared as a table ([`numa::region`]): `shared` (8 pages,
//!   first touch), `spread` (4 pages, interleaved over the nodes) and `hot` (1 page,
//!   fixed on the first node); one frame per page, mapped lazily: a fault on node k asks
//!   pager k, which looks the page up in the global table ([`numa::global::Entry`],
//!   under a lock the pagers share) and maps the existing frame, or allocates it on the
//!   node the region's policy names and records it. A node's first
//!   fault on a page is a table miss; two CPUs of one node faulting on the same page
//!   at the same moment make a second fault the node answers from what it has
//!   (`concurrent-faults=` in the detail line).
//! - **migration**: worker 0, blocked in a call to the root, is moved into node 1's
//!   space and onto node 1's first CPU (`ThreadControl`); node 1's pager becomes its
//!   pager. Its stack follows it: at its first faults there, pager 1 copies each stack
//!   page into a node-1 frame (the runtime knows every worker's stack frames).
//! - **global unmap, under load**: while every worker reads global page 0 in a loop,
//!   pager 0 takes it away from every node with the protocol of [`numa::global`] (the
//!   one its model check covers): mark the entry, revoke the mappings (one `Unmap` of
//!   the root's frame revokes every node's mapping, with the TLBs of every CPU), ask
//!   every other node that mapped it (`Notify`), which revokes again (a fault it
//!   answered since may have mapped it) and acknowledges; after the last
//!   acknowledgement the frame is free and the demo fills it with a poison value. A
//!   worker that could still reach the old frame would read the poison (`stale=`).
//!   Faults meanwhile are answered "retry"; afterwards every node with workers faults
//!   the page in again (a new frame). Then a stress: `STRESS_ROUNDS` more global
//!   unmaps of the pages every worker reads (`STRESSED`), 2 ms apart, before the
//!   workers stop. No poison may ever be read, and no node may fault a page twice
//!   without an unmap (or revoke) of it in between (`one-fault-per-node-and-page=` in
//!   the detail line, checked for every pair).
//! - **access information and a policy**: the hot page starts on the first node but
//!   only the other nodes' workers use it. The runtime samples who uses it: six times
//!   it revokes the page everywhere, keeping its frame ([`numa::global::Entry::begin_revoke`],
//!   the same protocol), and counts per node who faults it back in
//!   ([`numa::access::Samples`]); [`numa::access::decide`] then names the node that
//!   uses it most, and a last revoke moves it there: in the locked step of the last
//!   acknowledgement the contents are copied into a frame on that node and the entry
//!   switched ([`numa::global::Entry::relocate`]); the old frame is poisoned. `report:
//!   numa-policy` says where it went and where its frame is (translation query).
//! - **two global-unmap variants**, measured once the workers are parked, on three
//!   pages every node maps: one notification round per page (a `Notify` to each
//!   other node, an acknowledging `Notify` back), and a batch through shared memory
//!   (pager 0 queues every page's request in each node's ring in the root space's
//!   memory and notifies each node once; each node revokes them all and acknowledges
//!   them in its own ring with one notification back). `report: numa-unmap
//!   variant=notify|batched pages=3 notifications=N cycles=C`: C from the cycle counter
//!   (under `-icount shift=0`, instructions; deterministic there).
//! - **a bench mode**: with an (empty) initrd entry named `bench`, the program stops
//!   after the first marks (without the migration: one worker per node stays): the
//!   workers wait while the two unmap variants are measured (`report: numa-unmap`),
//!   then run the evaluation's workloads ([`numa::workload`]: a sweep over pages of
//!   which a chosen share is common to all workers, and a stencil over a grid split
//!   into one first-touched slab per worker) with the knobs of an initrd entry
//!   `params` (`share=25 replicate=off sweep-rounds=16 stencil-iters=8`; a bad one
//!   fails the run with the reason). `report: numa-workload` gives the sweep's table
//!   misses beside the number the sharing degree predicts (they must agree), the
//!   stencil's, and each rank's stencil result (`stencil-sums=`, which `numa-eval`
//!   checks against its own run); then `report: numa-bench nodes= mode= workers=
//!   page-faults= faults-per-node= migrations= result=`. Quick under `-icount`:
//!   `scripts/bench` runs it over nodes, modes, sharing degrees and replication.
//!   `replicate=off` maps the runtime's own code frames into every space instead of
//!   per-node copies: the comparison the memory-locality plugin measures.
//! - **the baseline**: with an (empty) initrd entry named `single-space`
//!   (`scripts/run --single-space`), the same work runs the way a NUMA-unaware system
//!   would: one space spanning the nodes (its tables, MDB entries and TCBs on the first
//!   node), one pager. Data and stacks still go where the faulting thread runs (the
//!   pager knows every worker's node), but a space has one mapping per address, so code
//!   cannot be replicated (`code-local` shows it), the migrant only changes CPU, and
//!   the access policy has nothing to compare (one space faults once for all nodes).
//!   `mode=single-space` in the report.
//!
//! It ends with
//! `report: numa-demo nodes=N spaces=S pagers=P code-local=L/T global-faults=F max-faults=M migrations=K unmaps=U stale=X mode=per-node|single-space result=pass|fail`
//! where `code-local` counts, for every node with workers, the code pages its
//! workers' space maps and whether each frame is on that node (checked through the
//! kernel's translation query), `global-faults` the
//! table misses, `max-faults` the (page, node) pairs that may miss (every global page
//! on every node, and once more on every node for each unmap and each revoke), and
//! `stale` the poison reads. (`spaces` is one less than `nodes` on a board of one CPU per node:
//! the migrant's first space goes with its only thread.)
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

rt::entry!(numademo);

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod demo {
    use abi::fpage::{Fpage, Rights};
    use abi::message::{Tag, TypedItem};
    use abi::syscall::ExregsControl;
    use abi::thread::ThreadId;
    use abi::timeout::{Timeout, Timeouts};
    use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use numa::access::{Samples, Thresholds, decide};
    use numa::global::{Done, Entry, Fault, NodeSet};
    use numa::region::{Kind, Policy, Region, Regions};
    use numa::workload::{self, Layout, Memory, Params};
    use rt::{println, sys};

    /// Nodes the demo uses at most.
    const MAX_NODES: usize = 8;
    /// Thread numbers: pager of node k, worker of node k.
    const PAGER_BASE: u64 = 0x80;
    const WORKER_BASE: u64 = 0x100;
    /// The global region (in every worker's space) and its size in pages.
    const GLOBAL: u64 = 0x80_0000_0000;
    /// Pages of the global regions, one after the other from [`GLOBAL`]: `shared`
    /// (first touch), `spread` (interleaved over the nodes), `hot` (one page, fixed on
    /// node slot 0: the page the access policy moves), and the bench mode's workload
    /// regions, first touch: `sweep`, `grid` (the stencil) and `sync` (one page of
    /// progress counters).
    pub const GLOBAL_PAGES: usize = SYNC_PAGE + 1;
    const SHARED_PAGES: usize = 8;
    const SPREAD_PAGES: usize = 4;
    /// The demo's pages (`shared`, `spread`, `hot`): the ones the workers mark.
    const DEMO_PAGES: usize = HOT + 1;
    /// The first page of the `sweep`, `grid` and `sync` regions.
    const SWEEP_PAGE: usize = HOT + 1;
    const GRID_PAGE: usize = SWEEP_PAGE + Layout::SWEEP_REGION_PAGES as usize;
    const SYNC_PAGE: usize = GRID_PAGE + Layout::GRID_REGION_PAGES as usize;
    /// Where the workloads' data is in the workers' spaces.
    const LAYOUT: Layout =
        Layout { sweep: GLOBAL + SWEEP_PAGE as u64 * 0x1000, grid: GLOBAL + GRID_PAGE as u64 * 0x1000 };
    /// The stencil's progress counters: rank r's at `SYNC + 64 * r` (a line each).
    const SYNC: u64 = GLOBAL + SYNC_PAGE as u64 * 0x1000;
    /// Global pages the workers read in their loop, and that the stress rounds unmap
    /// under them, one after the other.
    const STRESSED: [usize; 3] = [0, 2, 3];
    /// Stress rounds (global unmaps while every worker reads).
    const STRESS_ROUNDS: usize = 12;
    /// The hot page's index in the global table.
    const HOT: usize = SHARED_PAGES + SPREAD_PAGES;
    /// The application's global regions, as it declares them (pagers/numa `region`).
    const GLOBAL_REGIONS: [Region; 6] = [
        Region { name: "shared", base: GLOBAL, pages: SHARED_PAGES, kind: Kind::Global(Policy::FirstTouch) },
        Region {
            name: "spread",
            base: GLOBAL + SHARED_PAGES as u64 * 0x1000,
            pages: SPREAD_PAGES,
            kind: Kind::Global(Policy::Interleave),
        },
        Region {
            name: "hot",
            base: GLOBAL + HOT as u64 * 0x1000,
            pages: 1,
            kind: Kind::Global(Policy::Fixed(0)),
        },
        Region {
            name: "sweep",
            base: LAYOUT.sweep,
            pages: Layout::SWEEP_REGION_PAGES as usize,
            kind: Kind::Global(Policy::FirstTouch),
        },
        Region {
            name: "grid",
            base: LAYOUT.grid,
            pages: Layout::GRID_REGION_PAGES as usize,
            kind: Kind::Global(Policy::FirstTouch),
        },
        Region { name: "sync", base: SYNC, pages: 1, kind: Kind::Global(Policy::FirstTouch) },
    ];
    /// Where the root space keeps the frames the pagers allocate.
    const SCRATCH: u64 = 0x90_0000_0000;
    /// The pagers' stacks and UTCBs (root space).
    const PAGER_STACKS: u64 = 0x70_0000_0000;
    const PAGER_UTCBS: u64 = 0x28_0000;
    /// Worker k's UTCB (distinct per worker, so a migrant's is free in another space)
    /// and stack region (the stack grows down from its end).
    const WORKER_UTCBS: u64 = 0x20_0000;
    const STACKS: u64 = 0x1000_0000;
    const STACK_SPAN: u64 = 0x10_0000;
    const STACK_PAGES: usize = 16;
    /// Workers at most (one per CPU: worker number = CPU index).
    const MAX_WORKERS: usize = 16;
    /// The stop flag: the last word of global page 1 (the root sets it through the
    /// page's frame).
    const STOP: u64 = GLOBAL + 0x1000 + 0xFF8;
    /// The node the hot page starts on, for the workers (next to the stop flag).
    const HOT_HOME: u64 = GLOBAL + 0x1000 + 0xFF0;
    /// Image pages the code table covers.
    const IMAGE_PAGES: usize = 256;
    /// MemoryControl flags: rights (bits 6..4) and "nearest node if exhausted".
    const RWX_NEAREST: u64 = (0b111 << 4) | 1;
    const RW_NEAREST: u64 = abi::memory_control::MemoryControlFlags::RW_NEAREST.raw();
    /// Message labels between the workers, the pagers and the root.
    const DONE: u16 = 0x300;
    const MIGRATE: u16 = 0x301;
    const UNMAP: u16 = 0x302;
    /// Root to pager 0: unmap global pages MR1.. MR1+MR2-1 in one batch (the
    /// shared-memory variant).
    const BATCH: u16 = 0x305;
    /// Root to pager 0: revoke the page everywhere, keeping its frame (MR1 page), or
    /// move it to a frame on node slot MR2 (MR2 < MAX_NODES).
    const REVOKE: u16 = 0x304;
    const UNMAPPED: u16 = 0x303;
    /// (Bench mode) root to a parked worker: run the workloads; MR1 its rank, MR2 the
    /// ranks, MR3 the sweep's shared pages, MR4 the sweep's rounds (bits 31..0) and the
    /// stencil's steps (bits 63..32).
    const GO: u16 = 0x306;
    /// Notification words between pagers: kind in bits 63..32, node in 31..16, page.
    const ASK: u64 = 1 << 32;
    const ACK: u64 = 2 << 32;
    /// (Batched variant) "your request ring has pages", "my acknowledgement ring has
    /// pages".
    const BATCH_ASK: u64 = 3 << 32;
    const BATCH_ACK: u64 = 4 << 32;
    /// What a freed frame is filled with.
    const POISON: u64 = 0xDEAD_0BAD_DEAD_0BAD;

    /// The frame (root VA) of node k's copy of image page i; 0 = none yet.
    static CODE: [[AtomicU64; IMAGE_PAGES]; MAX_NODES] =
        [const { [const { AtomicU64::new(0) }; IMAGE_PAGES] }; MAX_NODES];
    /// Worker w's stack page i (from the top): its frame's root VA | its node.
    static STACK: [[AtomicU64; STACK_PAGES]; MAX_WORKERS] =
        [const { [const { AtomicU64::new(0) }; STACK_PAGES] }; MAX_WORKERS];
    /// The global table: one entry per global page, encoded in three words (kind,
    /// frame, node set), under one lock.
    static TABLE_LOCK: AtomicBool = AtomicBool::new(false);
    static TABLE: [[AtomicU64; 3]; GLOBAL_PAGES] = [const { [const { AtomicU64::new(0) }; 3] }; GLOBAL_PAGES];
    /// Faults on global page i served on node k.
    static GLOBAL_FAULTS: [[AtomicU64; GLOBAL_PAGES]; MAX_NODES] =
        [const { [const { AtomicU64::new(0) }; GLOBAL_PAGES] }; MAX_NODES];
    /// Faults on a global page by a node that already had it (concurrent faults of two
    /// CPUs of one space on one page): not table misses.
    static DUP_FAULTS: AtomicU64 = AtomicU64::new(0);
    /// The node number of each node slot (slots: the nodes with CPUs and memory, in
    /// order; pagers, tables and node sets are indexed by slot).
    static NODE_OF_SLOT: [AtomicU64; MAX_NODES] = [const { AtomicU64::new(0) }; MAX_NODES];
    /// The node slot of each worker (by worker number = CPU index), `u64::MAX` none.
    static WORKER_SLOT: [AtomicU64; MAX_WORKERS] = [const { AtomicU64::new(u64::MAX) }; MAX_WORKERS];

    /// The node slot of worker thread `id`, if it is one.
    fn worker_slot_of(id: u64) -> Option<usize> {
        let w = (id >> 16).checked_sub(WORKER_BASE)? as usize;
        let slot = WORKER_SLOT.get(w)?.load(Ordering::Relaxed);
        (slot != u64::MAX).then_some(slot as usize)
    }

    /// Node slots in use.
    static SLOTS: AtomicU64 = AtomicU64::new(1);
    /// Next free scratch page of the root space.
    static NEXT_SCRATCH: AtomicU64 = AtomicU64::new(0);
    /// A single-producer, single-consumer ring of words in the root space's memory,
    /// which every pager shares: the batched unmap's requests (pager 0 to pager k) and
    /// acknowledgements (pager k to pager 0).
    struct Ring {
        words: [AtomicU64; 64],
        head: AtomicU64,
        tail: AtomicU64,
    }

    impl Ring {
        const fn new() -> Ring {
            Ring {
                words: [const { AtomicU64::new(0) }; 64],
                head: AtomicU64::new(0),
                tail: AtomicU64::new(0),
            }
        }

        /// Appends `word` (the producer); false if the ring is full.
        fn push(&self, word: u64) -> bool {
            let (head, tail) = (self.head.load(Ordering::Acquire), self.tail.load(Ordering::Relaxed));
            if tail - head == self.words.len() as u64 {
                return false;
            }
            self.words[(tail % self.words.len() as u64) as usize].store(word, Ordering::Relaxed);
            self.tail.store(tail + 1, Ordering::Release);
            true
        }

        /// Takes the oldest word (the consumer).
        fn pop(&self) -> Option<u64> {
            let (head, tail) = (self.head.load(Ordering::Relaxed), self.tail.load(Ordering::Acquire));
            if head == tail {
                return None;
            }
            let word = self.words[(head % self.words.len() as u64) as usize].load(Ordering::Relaxed);
            self.head.store(head + 1, Ordering::Release);
            Some(word)
        }
    }

    /// Batched unmap: pager 0's requests to each node's pager, and their
    /// acknowledgements back.
    static REQUESTS: [Ring; MAX_NODES] = [const { Ring::new() }; MAX_NODES];
    static ACKS: [Ring; MAX_NODES] = [const { Ring::new() }; MAX_NODES];
    /// Notifications sent (the cost the batched variant saves).
    static NOTIFIES: AtomicU64 = AtomicU64::new(0);
    /// This CPU's cycle counter (PMCCNTR_EL0; the kernel lets EL0 read it, counting
    /// EL0 and EL1). QEMU derives it from its virtual clock: under `-icount shift=0`
    /// one per guest instruction executed (on any CPU: they run in turn).
    fn cycles() -> u64 {
        let c: u64;
        // SAFETY: reads a counter register the kernel enabled for EL0 on every CPU.
        unsafe {
            core::arch::asm!("isb", "mrs {}, pmccntr_el0", out(reg) c, options(nomem, nostack, preserves_flags))
        };
        c
    }
    /// Whether per-node spaces get their own copies of the code pages (the `params`
    /// entry's `replicate`; read by the pagers).
    static REPLICATE: AtomicBool = AtomicBool::new(true);
    /// Table misses (first faults of a node on a global page) by the node slot of the
    /// thread that faulted.
    static TOUCHER_FAULTS: [AtomicU64; MAX_NODES] = [const { AtomicU64::new(0) }; MAX_NODES];
    /// Pages the access policy moved.
    static MOVES: AtomicU64 = AtomicU64::new(0);
    /// Faults the pagers could not serve.
    static ERRORS: AtomicU64 = AtomicU64::new(0);

    fn tag(label: u16, u: u8, t: u8) -> u64 {
        Tag::new(label, u, t).map_or(0, |t| t.raw())
    }

    fn label(mr0: u64) -> u16 {
        Tag::from_raw(mr0).map_or(0, |t| t.label())
    }

    fn read(va: u64) -> u64 {
        // SAFETY: the callers read memory this program has mapped (its UTCB, its stack,
        // the global region, frames in its scratch window); volatile: other threads
        // and the pagers change it.
        unsafe { core::ptr::read_volatile(va as *const u64) }
    }

    fn write(va: u64, value: u64) {
        // SAFETY: as in `read`, memory this program has mapped writable.
        unsafe { core::ptr::write_volatile(va as *mut u64, value) }
    }

    /// Runs `f` on global page `i`'s entry with the table locked.
    fn with_entry<R>(i: usize, f: impl FnOnce(&mut Entry<u64>) -> R) -> R {
        while TABLE_LOCK.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            core::hint::spin_loop();
        }
        let w = &TABLE[i];
        let (kind, frame, set) =
            (w[0].load(Ordering::Relaxed), w[1].load(Ordering::Relaxed), w[2].load(Ordering::Relaxed));
        let mut e = match kind {
            1 => Entry::Present { frame, mapped: NodeSet(set) },
            2 | 3 => Entry::Unmapping { frame, pending: NodeSet(set), keep: kind == 3 },
            _ => Entry::Absent,
        };
        let r = f(&mut e);
        let (kind, frame, set) = match e {
            Entry::Absent => (0, 0, 0),
            Entry::Present { frame, mapped } => (1, frame, mapped.0),
            Entry::Unmapping { frame, pending, keep } => (2 + u64::from(keep), frame, pending.0),
        };
        w[0].store(kind, Ordering::Relaxed);
        w[1].store(frame, Ordering::Relaxed);
        w[2].store(set, Ordering::Relaxed);
        TABLE_LOCK.store(false, Ordering::Release);
        r
    }

    /// A fresh frame on the node of slot `slot` (or the nearest node with memory),
    /// mapped at a new scratch address of the root space with `flags`; that address.
    fn alloc_frame(slot: usize, flags: u64) -> Option<u64> {
        let va = SCRATCH + NEXT_SCRATCH.fetch_add(1, Ordering::Relaxed) * 0x1000;
        let node = NODE_OF_SLOT[slot].load(Ordering::Relaxed);
        sys::memory_control(node, 0, va, flags).ok().map(|_| va)
    }

    /// The node of the frame `va` maps to in the space of thread `space` (NIL: ours).
    fn node_in(space: u64, va: u64) -> Option<u64> {
        let q = abi::introspect::Request::Translate { space: ThreadId::from_raw(space), va }.encode();
        sys::introspect(q).ok().and_then(abi::introspect::Translation::from_regs).map(|t| t.node)
    }

    /// The node of the frame at `va` in this (root) space.
    fn frame_node(va: u64) -> Option<u64> {
        node_in(0, va)
    }

    fn copy_page(from: u64, to: u64) {
        for off in (0..0x1000).step_by(8) {
            write(to + off, read(from + off));
        }
    }

    fn item(page: u64, frame_va: u64, rights: Rights) -> Option<[u64; 2]> {
        let fpage = Fpage::new(frame_va, 12, rights).ok()?;
        TypedItem::Map { send_base: page, fpage }.encode().ok()
    }

    fn image() -> (u64, u64) {
        unsafe extern "C" {
            static __program_start: u8;
            static __program_end: u8;
        }
        (&raw const __program_start as u64, &raw const __program_end as u64)
    }

    /// The answer of the pager of the space of node slot `space` to a fault at `addr`
    /// by a thread on node slot `toucher` (the same but in the single-space baseline):
    /// the map item, or `None` (the thread retries). Code comes from the space's copy;
    /// stacks and first-touch data from the toucher's node.
    fn serve_fault(space: usize, toucher: usize, addr: u64) -> Option<[u64; 2]> {
        let page = addr & !0xFFF;
        let (start, end) = image();
        if (start..end).contains(&page) {
            if !REPLICATE.load(Ordering::Relaxed) {
                // (Replication off, for comparison: the runtime's own frame.)
                return item(page, page, Rights::RX);
            }
            // Node-local code: this node's copy of the page, made at the first fault.
            let cell = CODE[space].get(((page - start) / 0x1000) as usize)?;
            let mut va = cell.load(Ordering::Acquire);
            if va == 0 {
                va = alloc_frame(space, RWX_NEAREST)?;
                copy_page(page, va);
                cell.store(va, Ordering::Release);
            }
            return item(page, va, Rights::RX);
        }
        if (STACKS..STACKS + MAX_WORKERS as u64 * STACK_SPAN).contains(&page) {
            // A worker's stack page: a frame on this node; a migrant's page made on
            // another node is copied here (its stack follows it).
            let (w, top) =
                ((page - STACKS) / STACK_SPAN, STACKS + ((page - STACKS) / STACK_SPAN + 1) * STACK_SPAN);
            let cell = STACK[w as usize].get(((top - page) / 0x1000 - 1) as usize)?;
            let old = cell.load(Ordering::Acquire);
            let (old_va, old_node) = (old & !0xFFF, old & 0xFFF);
            if old != 0 && old_node == toucher as u64 {
                return item(page, old_va, Rights::RW);
            }
            let va = alloc_frame(toucher, RW_NEAREST)?;
            if old != 0 {
                copy_page(old_va, va);
            }
            cell.store(va | toucher as u64, Ordering::Release);
            return item(page, va, Rights::RW);
        }
        let regions = Regions::new(&GLOBAL_REGIONS).ok()?;
        if let Some((r, index)) = regions.find(page) {
            let i = ((page - GLOBAL) / 0x1000) as usize;
            let Kind::Global(policy) = regions.get(r)?.kind else { return None };
            let home = policy.place(index, toucher, SLOTS.load(Ordering::Relaxed) as usize);
            let (answer, first) = with_entry(i, |e| {
                let known = matches!(*e, Entry::Present { mapped, .. } if mapped.contains(space));
                (e.fault(space, || alloc_frame(home, RW_NEAREST)), !known)
            });
            return match answer {
                Fault::Map(va) => {
                    // A node's first fault on the page needs the global table; another
                    // CPU of the same node faulting at the same moment is answered from
                    // what the node has (counted apart).
                    let counter = if first { &GLOBAL_FAULTS[space][i] } else { &DUP_FAULTS };
                    counter.fetch_add(1, Ordering::Relaxed);
                    if first {
                        TOUCHER_FAULTS[toucher.min(MAX_NODES - 1)].fetch_add(1, Ordering::Relaxed);
                    }
                    item(page, va, Rights::RW)
                }
                Fault::Retry => None,
            };
        }
        ERRORS.fetch_add(1, Ordering::Relaxed);
        println!("numademo: pager {space}: a fault at {addr:#x} outside every region");
        None
    }

    /// Revokes every mapping derived from the root's frame at `frame_va` (in every
    /// node's space; the kernel invalidates every CPU's TLB). Uses MR0 of `utcb`.
    fn revoke(utcb: u64, frame_va: u64) {
        write(
            utcb + abi::utcb::MR_OFFSET as u64,
            Fpage::new(frame_va, 12, Rights::RWX).map_or(0, |f| f.raw()),
        );
        let _ = sys::unmap(1, false);
    }

    /// A node's part of a global unmap of `page`: revoke the frame the entry is taking
    /// away (a fault this pager answered since the initiator's revoke may have mapped
    /// it again).
    fn revoke_unmapping(utcb: u64, page: usize) {
        let frame = with_entry(page, |e| match *e {
            Entry::Unmapping { frame, .. } => Some(frame),
            _ => None,
        });
        if let Some(frame) = frame {
            revoke(utcb, frame);
        }
    }

    fn notify(to: u64, word: u64) {
        NOTIFIES.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = sys::notify(to, word) {
            ERRORS.fetch_add(1, Ordering::Relaxed);
            println!("numademo: Notify to {to:#x} refused: {e}");
        }
    }

    fn pager_id(node: u64) -> u64 {
        ((PAGER_BASE + node) << 16) | 1
    }

    fn worker_id(w: u64) -> u64 {
        ((WORKER_BASE + w) << 16) | 1
    }

    /// A freed frame: poisoned, so a stale reader would see it.
    fn poison(frame_va: u64) {
        for off in (0..0x1000).step_by(8) {
            write(frame_va + off, POISON);
        }
    }

    /// The end of a global unmap or revoke, in the locked step that saw it end: for a
    /// revoke that moves the page, the move itself (contents copied to `move_to`, the
    /// entry switched to it; the old frame is then free, reported as `Done::Free`).
    fn complete(e: &mut Entry<u64>, done: Option<Done<u64>>, move_to: Option<u64>) -> Option<Done<u64>> {
        match (done?, move_to) {
            (Done::Kept(_), Some(new)) => match e.relocate(new, copy_page) {
                Some(old) => {
                    MOVES.fetch_add(1, Ordering::Relaxed);
                    Some(Done::Free(old))
                }
                None => Some(Done::Kept(new)),
            },
            (done, _) => Some(done),
        }
    }

    /// After [`complete`], with the table unlocked: a free frame is poisoned, so a
    /// stale reader would see it.
    fn finish(done: Done<u64>) {
        if let Done::Free(frame) = done {
            poison(frame);
        }
    }

    /// A node's pager: the L4 pager loop (each answer in the `ReplyWait` that takes
    /// the next message); pager 0 also runs global unmaps.
    extern "C" fn pager_main(utcb: u64) -> ! {
        let me = read(utcb + abi::utcb::MY_GLOBAL_ID_OFFSET as u64);
        let slot = ((me >> 16) - PAGER_BASE) as usize;
        let (mut reply_to, mut reply) = (0u64, [0u64; 5]);
        let mut waiter = 0u64; // (pager 0) who waits for the unmap to finish
        let mut batch_left = 0u64; // (pager 0) acknowledgements a batch still waits for
        // (pager 0) a revoke that moves the page: the frame it moves to, allocated
        // when the revoke starts, taken in the same locked step as the last
        // acknowledgement (no node can map the old frame again in between).
        let mut move_to: Option<u64> = None;
        loop {
            let timeouts = Timeouts { send: Timeout::Zero, receive: Timeout::Never }.pack();
            let got = sys::ipc(reply_to, u64::MAX, timeouts, reply);
            reply_to = 0;
            let Ok(m) = got else { continue };
            let l = label(m.mr[0]);

            if l & !abi::fault::PAGE_FAULT_ACCESS_MASK == abi::fault::PAGE_FAULT_LABEL {
                // Answer with the map item, or with nothing (the thread faults again).
                let toucher = worker_slot_of(m.from).unwrap_or(slot);
                reply = match serve_fault(slot, toucher, m.mr[1]) {
                    Some([w0, w1]) => [tag(0, 0, 2), w0, w1, 0, 0],
                    None => [0; 5],
                };
                reply_to = m.from;
            } else if l == abi::fault::NOTIFY_LABEL {
                let (kind, from, page) =
                    (m.mr[1] & !0xFFFF_FFFF, (m.mr[1] >> 16) & 0xFFFF, (m.mr[1] & 0xFFFF) as usize);
                if kind == BATCH_ASK {
                    // Every page of our request ring: revoke, and acknowledge in our
                    // ring; then one notification for all of them.
                    while let Some(page) = REQUESTS[slot].pop() {
                        revoke_unmapping(utcb, page as usize);
                        while !ACKS[slot].push(page) {
                            core::hint::spin_loop(); // (64 deep: pager 0 drains it)
                        }
                    }
                    notify(pager_id(0), BATCH_ACK | (slot as u64) << 16);
                } else if kind == BATCH_ACK && from < MAX_NODES as u64 {
                    while let Some(page) = ACKS[from as usize].pop() {
                        let done = with_entry(page as usize, |e| e.acknowledge(from as usize));
                        if let Some(done) = done {
                            finish(done);
                        }
                        batch_left = batch_left.saturating_sub(1);
                    }
                    if batch_left == 0 && waiter != 0 {
                        (reply_to, reply) = (waiter, [tag(UNMAPPED, 0, 0), 0, 0, 0, 0]);
                        waiter = 0;
                    }
                } else if kind == ASK && page < GLOBAL_PAGES {
                    // Take our slot's mapping away (a fault we answered since the
                    // initiator's revoke may have mapped it again), then say so.
                    revoke_unmapping(utcb, page);
                    notify(pager_id(0), ACK | (slot as u64) << 16 | page as u64);
                } else if kind == ACK
                    && page < GLOBAL_PAGES
                    && let Some(done) = with_entry(page, |e| {
                        let done = e.acknowledge(from as usize);
                        complete(e, done, move_to)
                    })
                {
                    // The last acknowledgement.
                    finish(done);
                    (reply_to, reply) = (waiter, [tag(UNMAPPED, 0, 0), 0, 0, 0, 0]);
                }
            } else if l == BATCH && slot == 0 {
                // The shared-memory variant: mark and revoke every page of the batch,
                // queue the requests per node, one notification per node.
                let (first, count) = (m.mr[1] as usize, m.mr[2] as usize);
                let mut asked = NodeSet::EMPTY;
                batch_left = 0;
                for page in first..(first + count).min(GLOBAL_PAGES) {
                    let Some(u) = with_entry(page, |e| e.begin_unmap(slot)) else { continue };
                    revoke(utcb, u.frame);
                    if u.free_now {
                        poison(u.frame);
                    }
                    for j in u.ask.iter() {
                        while !REQUESTS[j].push(page as u64) {
                            core::hint::spin_loop();
                        }
                        batch_left += 1;
                    }
                    asked = NodeSet(asked.0 | u.ask.0);
                }
                for j in asked.iter() {
                    notify(pager_id(j as u64), BATCH_ASK);
                }
                if batch_left == 0 {
                    (reply_to, reply) = (m.from, [tag(UNMAPPED, 0, 0), 0, 0, 0, 0]);
                } else {
                    waiter = m.from;
                }
            } else if (l == UNMAP || l == REVOKE) && slot == 0 {
                let page = (m.mr[1] as usize).min(GLOBAL_PAGES - 1);
                let keep = l == REVOKE;
                let target = (m.mr[2] as usize) < MAX_NODES;
                move_to = if keep && target { alloc_frame(m.mr[2] as usize, RW_NEAREST) } else { None };
                let begun =
                    with_entry(page, |e| if keep { e.begin_revoke(slot) } else { e.begin_unmap(slot) });
                match begun {
                    Some(u) => {
                        revoke(utcb, u.frame);
                        if u.ask.is_empty() {
                            let done = if keep { Done::Kept(u.frame) } else { Done::Free(u.frame) };
                            if let Some(done) = with_entry(page, |e| complete(e, Some(done), move_to)) {
                                finish(done);
                            }
                            (reply_to, reply) = (m.from, [tag(UNMAPPED, 0, 0), 0, 0, 0, 0]);
                        } else {
                            waiter = m.from;
                            for j in u.ask.iter() {
                                notify(pager_id(j as u64), ASK | page as u64);
                            }
                        }
                    }
                    None => (reply_to, reply) = (m.from, [tag(UNMAPPED, 0, 0), 0, 0, 0, 0]),
                }
            }
        }
    }

    /// A worker (one per CPU; the first of each node made its node's space): marks
    /// every global page with its number and reads the marks back; the migrant then
    /// asks to be moved; all wait at the root's barrier; then each reads global page 0
    /// over and over — while pager 0 unmaps it — until the root raises the stop flag,
    /// counting reads of a freed frame's poison. Uses no statics (its space has none of
    /// ours).
    extern "C" fn worker_main(utcb: u64) -> ! {
        let me = read(utcb + abi::utcb::MY_GLOBAL_ID_OFFSET as u64);
        let w = (me >> 16) - WORKER_BASE;
        let here =
            || sys::introspect(abi::introspect::Request::CurrentCpu.encode()).map_or(u64::MAX, |x| x[1]);
        let mark = 0x5EED_0000 + w;
        for i in 0..DEMO_PAGES as u64 {
            write(GLOBAL + i * 0x1000 + 8 * w, mark);
        }
        let mine = (0..DEMO_PAGES as u64).all(|i| read(GLOBAL + i * 0x1000 + 8 * w) == mark);
        let root = ThreadId::ROOT.raw();
        let never = Timeouts::NEVER.pack();
        if w == 0 {
            // The migrant: moved (while it waits for this answer) into node 1's space,
            // if there is a second node.
            let _ = sys::ipc(root, root, never, [tag(MIGRATE, 0, 0), 0, 0, 0, 0]);
        }
        let answer = sys::ipc(root, root, never, [tag(DONE, 3, 0), w, here(), u64::from(mine), 0]);
        if let Ok(m) = answer
            && label(m.mr[0]) == GO
        {
            // (Bench mode) the workloads, then the results; parked after.
            let (rank, ranks, shared) = (m.mr[1], m.mr[2], m.mr[3]);
            let (rounds, steps) = (m.mr[4] & 0xFFFF_FFFF, m.mr[4] >> 32);
            let swept = workload::sweep(&mut Mapped, &LAYOUT, rank, shared, rounds);
            let stencil = stencil(rank, ranks, steps);
            let _ = sys::ipc(root, root, never, [tag(DONE, 4, 0), w, here(), swept, stencil]);
            loop {
                let _ = sys::ipc(0, u64::MAX, never, [0; 5]);
            }
        }
        // The hot page is used from the other nodes only (the access policy should
        // move it to one of them).
        let (hot_user, hot) = (here() != read(HOT_HOME), GLOBAL + HOT as u64 * 0x1000 + 8 * w);
        let (mut reads, mut stale) = (0u64, 0u64);
        while read(STOP) == 0 {
            for page in STRESSED {
                stale += u64::from(read(GLOBAL + page as u64 * 0x1000 + 8 * w) == POISON);
            }
            if hot_user {
                stale += u64::from(read(hot) == POISON);
            }
            reads += 1;
        }
        let _ = sys::ipc(root, root, never, [tag(DONE, 4, 0), w, here(), stale, reads]);
        loop {
            let _ = sys::ipc(0, u64::MAX, never, [0; 5]);
        }
    }

    /// This space's memory, for the workloads (the global regions through the workers'
    /// mappings).
    struct Mapped;

    impl Memory for Mapped {
        fn load(&mut self, addr: u64) -> u64 {
            read(addr)
        }
        fn store(&mut self, addr: u64, value: u64) {
            write(addr, value)
        }
    }

    /// A spin-wait's pause: `yield`, a hint to the hardware, and under QEMU's
    /// round-robin TCG (`-icount`) the end of this vCPU's turn, so the CPU it waits for
    /// runs (a plain spin would burn its whole slice, 100 ms of virtual time, first).
    fn relax() {
        // SAFETY: a hint instruction: no memory, no registers, no effect on state.
        unsafe { core::arch::asm!("yield", options(nomem, nostack, preserves_flags)) };
    }

    /// Rank `rank`'s part of the stencil ([`workload::stencil_step`]): its slab
    /// initialised (first touch), then `steps` steps, each after both neighbours have
    /// finished the previous one (their progress counters in the `sync` page: 1 after
    /// the initialisation, `s + 2` after step `s`). The sum of its slab's last values.
    fn stencil(rank: u64, ranks: u64, steps: u64) -> u64 {
        if steps == 0 || rank >= ranks {
            return 0;
        }
        let progress = |r: u64| {
            // SAFETY: the `sync` page is mapped writable in every worker's space (a
            // fault maps it) and 8-aligned; its words are only ever accessed
            // atomically, by the workers.
            unsafe { AtomicU64::from_ptr((SYNC + 64 * r) as *mut u64) }
        };
        workload::stencil_init(&mut Mapped, &LAYOUT, ranks, rank);
        progress(rank).store(1, Ordering::Release);
        let mut sum = 0;
        for step in 0..steps {
            for n in [rank.wrapping_sub(1), rank + 1] {
                while n < ranks && progress(n).load(Ordering::Acquire) < step + 1 {
                    relax();
                }
            }
            sum = workload::stencil_step(&mut Mapped, &LAYOUT, ranks, rank, step);
            progress(rank).store(step + 2, Ordering::Release);
        }
        sum
    }

    /// The contents of the initrd entry `name`, if there is one.
    fn initrd_entry(kip: &abi::kip::Kip, name: &str) -> Option<&'static [u8]> {
        let (va, size) = kip.initrd()?;
        // SAFETY: the kernel maps the initrd read-only at this address of the root
        // task's space for its whole life (the KIP says where and how long).
        let bytes: &'static [u8] = unsafe { core::slice::from_raw_parts(va as *const u8, size as usize) };
        bootfmt::cpio::Archive::new(bytes).find(name).ok()?.map(|e| e.data)
    }

    /// The text of the initrd entry `name`, if there is one and it is UTF-8.
    fn entry_text(kip: &abi::kip::Kip, name: &str) -> Option<&'static str> {
        core::str::from_utf8(initrd_entry(kip, name)?).ok()
    }

    /// Starts thread `t` in space `space` on `cpu` at `entry` (stack top `sp`, UTCB
    /// `utcb`, pager `pager`, priority `prio`).
    #[allow(clippy::too_many_arguments)]
    fn start(
        t: u64,
        space: u64,
        cpu: usize,
        entry: extern "C" fn(u64) -> !,
        sp: u64,
        utcb: u64,
        pager: u64,
        prio: u8,
    ) -> bool {
        let root = ThreadId::ROOT.raw();
        if let Err(e) = sys::thread_control(t, space, root, pager, utcb, cpu as u64) {
            println!("numademo: ThreadControl {t:#x}: {e}");
            return false;
        }
        let _ = sys::set_priority(t, prio);
        let control = (ExregsControl::START | ExregsControl::SET_SP | ExregsControl::SET_IP).raw();
        sys::exchange_registers(t, control, sp, entry as *const () as u64, 0).is_ok()
    }

    /// The two global-unmap variants, on three pages each that every node with workers
    /// maps (the workers are parked by then): one notification round per page, or one
    /// batch through the shared request and acknowledgement rings. Prints `report:
    /// numa-unmap` for each; whether both completed and left the pages absent.
    fn unmap_variants() -> bool {
        let never = Timeouts::NEVER.pack();
        let unmap_all = |label: u16, words: [u64; 2]| {
            let r = sys::ipc(pager_id(0), pager_id(0), never, [tag(label, 2, 0), words[0], words[1], 0, 0]);
            r.is_ok_and(|m| Tag::from_raw(m.mr[0]).is_ok_and(|t| t.label() == UNMAPPED))
        };
        // (Cost: from the call to its answer on this CPU's cycle counter, which QEMU
        // derives from its virtual clock: under `-icount shift=0`, the instructions all
        // CPUs executed meanwhile.)
        let n0 = NOTIFIES.load(Ordering::Relaxed);
        let t0 = cycles();
        let singles = (5..8).all(|p| unmap_all(UNMAP, [p, 0]));
        let notify_cycles = cycles().wrapping_sub(t0);
        let notify_notes = NOTIFIES.load(Ordering::Relaxed) - n0;
        let n1 = NOTIFIES.load(Ordering::Relaxed);
        let t1 = cycles();
        let batched = unmap_all(BATCH, [1, 3]);
        let batch_cycles = cycles().wrapping_sub(t1);
        let batch_notes = NOTIFIES.load(Ordering::Relaxed) - n1;
        let all_gone = [1, 2, 3, 5, 6, 7].iter().all(|&p| with_entry(p, |e| *e) == Entry::Absent);
        for (variant, notes, cycles) in
            [("notify", notify_notes, notify_cycles), ("batched", batch_notes, batch_cycles)]
        {
            println!(
                "{}",
                report::line!("numa-unmap", "variant" => variant, "pages" => 3, "notifications" => notes, "cycles" => cycles)
            );
        }
        singles && batched && all_gone
    }

    /// Whether the initrd holds an (empty) entry named `name`: the program's flags.
    fn flag(kip: &abi::kip::Kip, name: &str) -> bool {
        initrd_entry(kip, name).is_some()
    }

    /// Receives `count` calls labelled `want` (10 s at most for each); their senders'
    /// MR1..MR4, indexed by MR1 (the worker number). False if one did not come.
    fn gather(count: usize, want: u16, out: &mut [[u64; 4]; MAX_WORKERS]) -> bool {
        let timeouts = Timeouts { send: Timeout::Never, receive: Timeout::Micros(10_000_000) }.pack();
        let mut got = 0;
        while got < count {
            match sys::ipc(0, u64::MAX, timeouts, [0; 5]) {
                Ok(m) if label(m.mr[0]) == want && (m.mr[1] as usize) < MAX_WORKERS => {
                    out[m.mr[1] as usize] = [m.mr[1], m.mr[2], m.mr[3], m.mr[4]];
                    got += 1;
                }
                Ok(m) => println!("numademo: unexpected message {:#x} from {:#x}", m.mr[0], m.from),
                Err(e) => {
                    println!("numademo: {got} of {count} workers reported ({want:#x}): {e}");
                    return false;
                }
            }
        }
        true
    }

    /// Numbers joined by `/` (`3/1/1`), for report lines.
    struct Slashed<'a>(&'a [u64]);

    impl core::fmt::Display for Slashed<'_> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            for (i, n) in self.0.iter().enumerate() {
                if i > 0 {
                    f.write_str("/")?;
                }
                write!(f, "{n}")?;
            }
            Ok(())
        }
    }

    /// Table misses on global pages `pages` (all nodes).
    fn faults_on(pages: core::ops::Range<usize>) -> u64 {
        GLOBAL_FAULTS
            .iter()
            .flat_map(|per_page| per_page[pages.clone()].iter())
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// (Bench mode) the workloads: every parked worker (rank = its place in CPU order)
    /// runs the sweep and the stencil ([`numa::workload`]). The sweep's results are
    /// checked against [`workload::sweep_expected`], its table misses against what the
    /// sharing degree predicts (per space that has workers, one per page it touches);
    /// the stencil's sums are reported (`stencil-sums=`, by rank) for the host to check
    /// against its own run of the same code (`numa-eval` does: computing them here
    /// would add as many accesses as the workers make, all local, to what the
    /// memory-locality plugin measures). Prints `report: numa-workload`; whether
    /// everything agreed.
    fn workloads(
        params: &Params,
        worker_slot: &[usize; MAX_WORKERS],
        space_of: impl Fn(usize) -> usize,
        single: bool,
    ) -> bool {
        let never = Timeouts::NEVER.pack();
        let workers: [usize; MAX_WORKERS] = core::array::from_fn(|i| {
            worker_slot
                .iter()
                .enumerate()
                .filter(|&(_, &k)| k != usize::MAX)
                .nth(i)
                .map_or(usize::MAX, |(c, _)| c)
        });
        let ranks = worker_slot.iter().filter(|&&k| k != usize::MAX).count() as u64;
        let shared = params.shared_pages();
        let rounds = params.sweep_rounds | params.stencil_steps << 32;
        for (rank, &c) in workers.iter().enumerate().take(ranks as usize) {
            let go = [tag(GO, 4, 0), rank as u64, ranks, shared, rounds];
            let _ = sys::ipc(worker_id(c as u64), 0, never, go);
        }
        let mut got = [[0u64; 4]; MAX_WORKERS];
        let ok = gather(ranks as usize, DONE, &mut got);
        let mut sweep_ok = true;
        let mut stencil_sums = [0u64; MAX_WORKERS];
        for (rank, &c) in workers.iter().enumerate().take(ranks as usize) {
            sweep_ok &= got[c][2] == workload::sweep_expected(rank as u64, params.sweep_rounds);
            stencil_sums[rank] = got[c][3];
        }
        // Predicted table misses: a shared page once per space with workers, a private
        // page once (each is one worker's).
        let mut spaces = [false; MAX_NODES];
        for &k in worker_slot.iter().filter(|&&k| k != usize::MAX) {
            spaces[space_of(k).min(MAX_NODES - 1)] = true;
        }
        let spaces = spaces.iter().filter(|&&s| s).count() as u64;
        let touched = if params.sweep_rounds == 0 { 0 } else { workload::SWEEP_PAGES };
        let expected = shared.min(touched) * spaces + (touched - shared.min(touched)) * ranks;
        let sweep_faults = faults_on(SWEEP_PAGE..GRID_PAGE);
        println!(
            "{}",
            report::line!("numa-workload",
                "mode" => if single { "single-space" } else { "per-node" },
                "ranks" => ranks,
                "share" => params.share,
                "shared-pages" => shared,
                "replicate" => if params.replicate { "on" } else { "off" },
                "sweep-rounds" => params.sweep_rounds,
                "stencil-steps" => params.stencil_steps,
                "sweep-faults" => sweep_faults,
                "sweep-faults-expected" => expected,
                "stencil-faults" => faults_on(GRID_PAGE..SYNC_PAGE + 1),
                "sweep" => if sweep_ok { "ok" } else { "wrong" },
                "stencil-sums" => Slashed(&stencil_sums[..ranks as usize]),
            )
        );
        ok && sweep_ok && sweep_faults == expected
    }

    /// The runtime's main thread: see the crate docs.
    pub fn numademo(_utcb: rt::UtcbAddr) -> ! {
        let kip = sys::kip();
        let root = ThreadId::ROOT.raw();
        let never = Timeouts::NEVER.pack();
        // Nodes with CPUs (slots 0..nodes), their node numbers and first CPUs; a
        // worker on every CPU of them.
        let (mut node_no, mut first_cpu, mut nodes) = ([0usize; MAX_NODES], [0usize; MAX_NODES], 0);
        let mut worker_slot = [usize::MAX; MAX_WORKERS]; // worker (= CPU index) -> slot
        for n in 0..kip.node_count().min(MAX_NODES) {
            // (A node without memory of its own cannot keep anything local: left out.)
            let has_ram = kip
                .memory()
                .any(|m| m.node == n as u16 && m.kind == abi::kip::MemoryKind::Conventional as u16);
            let mut cpus = kip.cpus_of_node(n as u16).filter(|&c| c < MAX_WORKERS && has_ram).peekable();
            let Some(&first) = cpus.peek() else { continue };
            (node_no[nodes], first_cpu[nodes]) = (n, first);
            NODE_OF_SLOT[nodes].store(n as u64, Ordering::Relaxed);
            for c in cpus {
                worker_slot[c] = nodes;
            }
            nodes += 1;
        }
        let workers: usize = worker_slot.iter().filter(|&&s| s != usize::MAX).count();
        SLOTS.store(nodes as u64, Ordering::Relaxed);
        for (w, &k) in worker_slot.iter().enumerate() {
            WORKER_SLOT[w].store(if k == usize::MAX { u64::MAX } else { k as u64 }, Ordering::Relaxed);
        }
        // The baseline: one node-spanning space and one pager, for the same work.
        let single = flag(kip, "single-space");
        // For scripts/bench: the structure and the measurements, without the demo's
        // spinning and naps (slow under icount).
        let bench = flag(kip, "bench");
        // The bench mode's knobs (the text of an initrd entry `params`; defaults
        // without one).
        let params = match entry_text(kip, "params").map(Params::parse) {
            None => Ok(Params::default()),
            Some(p) => p,
        };
        let params = match params {
            Ok(p) => p,
            Err(e) => {
                println!("numademo: the initrd entry `params`: {e}");
                println!("{}", report::line!("numa-bench", "result" => "fail"));
                let e = sys::power_off(1);
                println!("numademo: SystemControl refused: {e}");
                loop {
                    core::hint::spin_loop();
                }
            }
        };
        REPLICATE.store(params.replicate, Ordering::Relaxed);
        let spaces_of = |k: usize| if single { 0 } else { k }; // node slot -> space (pager) slot
        let pagers = if single { nodes.min(1) } else { nodes };
        let mut ok = true;
        for k in 0..pagers {
            let stack = PAGER_STACKS + k as u64 * 0x10_0000;
            ok &= sys::memory_control(node_no[k] as u64, 2, stack, RW_NEAREST).is_ok();
            let utcb = PAGER_UTCBS + k as u64 * 0x1000;
            ok &= start(pager_id(k as u64), root, first_cpu[k], pager_main, stack + 0x4000, utcb, root, 200);
        }
        // Each node's first CPU's worker makes the space; the others join it.
        for (c, &k) in worker_slot.iter().enumerate() {
            if k == usize::MAX {
                continue;
            }
            let (w, space) = (worker_id(c as u64), worker_id(first_cpu[spaces_of(k)] as u64));
            let top = STACKS + (c as u64 + 1) * STACK_SPAN;
            let utcb = WORKER_UTCBS + c as u64 * 0x1000;
            ok &= start(w, space, c, worker_main, top, utcb, pager_id(spaces_of(k) as u64), 100);
        }
        // The migrant (worker 0) asks to move: into node slot 1's space, onto its first
        // CPU, paged by its pager. It waits for our answer meanwhile.
        let mut migrations = 0;
        let mut moved_to = worker_slot[0];
        if worker_slot[0] != usize::MAX {
            let m = sys::ipc(
                0,
                worker_id(0),
                Timeouts { send: Timeout::Never, receive: Timeout::Micros(10_000_000) }.pack(),
                [0; 5],
            );
            ok &= m.is_ok_and(|m| label(m.mr[0]) == MIGRATE);
            // (The baseline has one space: the move is only to the other node's CPU;
            // the space is named by another of its threads, as `dest` would mean "new".)
            let into = if single {
                (1..MAX_WORKERS).find(|&w| worker_slot[w] != usize::MAX)
            } else {
                Some(first_cpu[1])
            };
            // (The bench mode keeps one worker per node for its workloads.)
            if nodes >= 2
                && ok
                && !bench
                && let Some(into) = into
            {
                match sys::thread_control(
                    worker_id(0),
                    worker_id(into as u64),
                    0,
                    pager_id(spaces_of(1) as u64),
                    0,
                    first_cpu[1] as u64,
                ) {
                    Ok(()) => {
                        // The runtime's bookkeeping: it is node slot 1's thread now.
                        (migrations, moved_to) = (1, 1);
                        WORKER_SLOT[0].store(1, Ordering::Relaxed);
                    }
                    Err(e) => println!("numademo: moving worker 0 to node slot 1 failed: {e}"),
                }
                ok &= migrations == 1;
            }
            let _ = sys::ipc(worker_id(0), 0, never, [0; 5]);
        }
        // Barrier: every worker has marked the global pages.
        let mut first = [[0u64; 4]; MAX_WORKERS];
        ok &= gather(workers, DONE, &mut first);
        let slot_of = |w: usize| if w == 0 { moved_to } else { worker_slot[w] };
        let marks_ok = (0..MAX_WORKERS)
            .filter(|&w| worker_slot[w] != usize::MAX)
            .all(|w| first[w][2] == 1 && first[w][1] == node_no[slot_of(w)] as u64);
        if bench {
            // The workers are parked (waiting for our answer): the unmap variants, then
            // the workloads.
            ok &= marks_ok && unmap_variants();
            ok &= workloads(&params, &worker_slot, spaces_of, single);
            let faults: u64 = (0..nodes)
                .flat_map(|k| (0..GLOBAL_PAGES).map(move |i| (k, i)))
                .map(|(k, i)| GLOBAL_FAULTS[k][i].load(Ordering::Relaxed))
                .sum();
            let mut per_node = [0u64; MAX_NODES];
            for (k, n) in per_node.iter_mut().enumerate().take(nodes) {
                *n = TOUCHER_FAULTS[k].load(Ordering::Relaxed);
            }
            println!(
                "{}",
                report::line!("numa-bench",
                    "nodes" => nodes,
                    "mode" => if single { "single-space" } else { "per-node" },
                    "workers" => workers,
                    "page-faults" => faults,
                    "faults-per-node" => Slashed(&per_node[..nodes]),
                    "migrations" => migrations,
                    "result" => if ok { "pass" } else { "fail" },
                )
            );
            let e = sys::power_off(u64::from(!ok));
            println!("numademo: SystemControl refused: {e}");
            loop {
                core::hint::spin_loop();
            }
        }
        // Let them all read page 0 (and the others the hot page) in a loop, and take
        // page 0 away under them.
        match with_entry(1, |e| *e) {
            Entry::Present { frame, .. } => write(frame + (HOT_HOME - GLOBAL - 0x1000), node_no[0] as u64),
            _ => ok = false,
        }
        for (c, &k) in worker_slot.iter().enumerate() {
            if k != usize::MAX {
                let _ = sys::ipc(worker_id(c as u64), 0, never, [0; 5]);
            }
        }
        let before: [u64; MAX_NODES] = core::array::from_fn(|k| GLOBAL_FAULTS[k][0].load(Ordering::Relaxed));
        let nap = Timeouts { send: Timeout::Never, receive: Timeout::Micros(1000) }.pack();
        let mut unmaps = 0;
        match sys::ipc(pager_id(0), pager_id(0), never, [tag(UNMAP, 1, 0), 0, 0, 0, 0]) {
            Ok(m) if label(m.mr[0]) == UNMAPPED => unmaps += 1,
            other => {
                println!("numademo: the global unmap did not complete: {other:?}");
                ok = false;
            }
        }
        // Until every node with workers has faulted page 0 back in (or 2 s), then stop.
        let with_workers: [bool; MAX_NODES] = core::array::from_fn(|k| {
            (0..MAX_WORKERS).any(|w| worker_slot[w] != usize::MAX && spaces_of(slot_of(w)) == k)
        });
        let refaulted = |k: usize| GLOBAL_FAULTS[k][0].load(Ordering::Relaxed) > before[k];
        // (Waiting blocked, 1 ms at a time: the workers may share our CPU.)
        for _ in 0..2000 {
            if (0..nodes).all(|k| !with_workers[k] || refaulted(k)) {
                break;
            }
            let _ = sys::ipc(0, root, nap, [0; 5]);
        }
        let refaulted_everywhere = (0..nodes).all(|k| !with_workers[k] || refaulted(k));
        // The stress: more global unmaps of the pages every worker reads, each given
        // 2 ms for the workers to fault them back in.
        let mut unmapped = [0u64; GLOBAL_PAGES]; // per page: unmaps and revokes done
        unmapped[0] = unmaps;
        for r in 0..STRESS_ROUNDS {
            let page = STRESSED[r % STRESSED.len()];
            match sys::ipc(pager_id(0), pager_id(0), never, [tag(UNMAP, 1, 0), page as u64, 0, 0, 0]) {
                Ok(m) if label(m.mr[0]) == UNMAPPED => {
                    unmaps += 1;
                    unmapped[page] += 1;
                }
                _ => ok = false,
            }
            for _ in 0..2 {
                let _ = sys::ipc(0, root, nap, [0; 5]);
            }
        }
        // The access policy: sample who keeps using the hot page (revoke it everywhere,
        // keeping its frame, and see who faults it back in), then move it to the node
        // that uses it most.
        let mut samples = Samples::default();
        let mut hot_moved = None;
        let revoke = |target: u64| {
            let r = sys::ipc(pager_id(0), pager_id(0), never, [tag(REVOKE, 2, 0), HOT as u64, target, 0, 0]);
            r.is_ok_and(|m| label(m.mr[0]) == UNMAPPED)
        };
        if nodes >= 2 && !single {
            for _ in 0..6 {
                let before: [u64; MAX_NODES] =
                    core::array::from_fn(|k| GLOBAL_FAULTS[k][HOT].load(Ordering::Relaxed));
                ok &= revoke(u64::MAX);
                unmapped[HOT] += 1;
                for _ in 0..5 {
                    let _ = sys::ipc(0, root, nap, [0; 5]);
                }
                samples.record(
                    (0..nodes).filter(|&k| GLOBAL_FAULTS[k][HOT].load(Ordering::Relaxed) > before[k]),
                );
            }
            if let Some(target) = decide(0, &samples, Thresholds::DEFAULT) {
                ok &= revoke(target as u64);
                unmapped[HOT] += 1;
                hot_moved = Some(target);
            }
        }
        let hot_node = match with_entry(HOT, |e| *e) {
            Entry::Present { frame, .. } => frame_node(frame),
            _ => None,
        };
        let policy_ok = nodes < 2
            || single
            || (hot_moved.is_some()
                && MOVES.load(Ordering::Relaxed) == 1
                && hot_node == hot_moved.map(|t| node_no[t] as u64));
        // The interleaved region: page j's frame on the j-th node (mod the nodes).
        let spread_ok = (0..SPREAD_PAGES).all(|j| match with_entry(SHARED_PAGES + j, |e| *e) {
            Entry::Present { frame, .. } => frame_node(frame) == Some(node_no[j % nodes] as u64),
            _ => false,
        });
        match with_entry(1, |e| *e) {
            Entry::Present { frame, .. } => write(frame + (STOP - GLOBAL - 0x1000), 1),
            _ => ok = false,
        }
        let mut last = [[0u64; 4]; MAX_WORKERS];
        ok &= gather(workers, DONE, &mut last);
        ok &= unmap_variants();
        let stale: u64 = last.iter().map(|r| r[2]).sum();
        let reads: u64 = last.iter().map(|r| r[3]).sum();
        let where_ok = (0..MAX_WORKERS)
            .filter(|&w| worker_slot[w] != usize::MAX)
            .all(|w| last[w][1] == node_no[slot_of(w)] as u64);
        // Code pages of each node's space: how many are mapped, and on the space's node.
        // (Worker 0's first space went with it when it moved, if it was its only thread.)
        let (start_va, end_va) = image();
        // Code pages as the nodes that run them see them: for every node with workers,
        // the code its workers' space maps, and whether each frame is on that node.
        let (mut code_total, mut code_local, mut spaces) = (0u64, 0u64, 0);
        for (k, &node) in node_no.iter().enumerate().take(nodes) {
            let Some(w) = (0..MAX_WORKERS).find(|&w| worker_slot[w] != usize::MAX && slot_of(w) == k) else {
                continue; // (its workers left: the migrant was its only one)
            };
            spaces = if single { 1 } else { spaces + 1 };
            for va in (start_va..end_va).step_by(0x1000) {
                if let Some(frame_node) = node_in(worker_id(w as u64), va) {
                    code_total += 1;
                    code_local += u64::from(frame_node == node as u64);
                }
            }
        }
        // (The kernel prints `report: kmem` for every space alive when we power off.)
        // The migrant's stack (copied by its new pager) and UTCB (re-made by the kernel)
        // are on its new node now (the baseline's one space cannot do that).
        let migrant_stack_local = migrations == 0
            || single
            || [STACKS + STACK_SPAN - 0x1000, WORKER_UTCBS]
                .iter()
                .all(|&va| node_in(worker_id(0), va) == Some(node_no[moved_to] as u64));
        let faults: u64 = (0..nodes)
            .flat_map(|k| (0..GLOBAL_PAGES).map(move |i| (k, i)))
            .map(|(k, i)| GLOBAL_FAULTS[k][i].load(Ordering::Relaxed))
            .sum();
        // At most one table miss per node per page, and per page once more after each
        // of its unmaps and revokes: every (node, page) pair checked, and in sum (the
        // workload regions are the bench mode's: untouched here).
        let max_faults: u64 = unmapped[..DEMO_PAGES].iter().map(|u| (1 + u) * nodes as u64).sum();
        let per_pair_ok = (0..nodes).all(|k| {
            (0..GLOBAL_PAGES).all(|i| GLOBAL_FAULTS[k][i].load(Ordering::Relaxed) <= 1 + unmapped[i])
        });
        let errors = ERRORS.load(Ordering::Relaxed);
        let pass = ok
            && per_pair_ok
            && policy_ok
            && spread_ok
            && marks_ok
            && where_ok
            && migrant_stack_local
            && refaulted_everywhere
            && stale == 0
            && reads > 0
            && errors == 0
            && code_total > 0
            && (single || code_local == code_total)
            && faults <= max_faults
            && (nodes < 2 || migrations == 1)
            && unmaps == 1 + STRESS_ROUNDS as u64;
        println!(
            "{}",
            report::line!("numa-demo-detail",
                "workers" => workers,
                "reads" => reads,
                "concurrent-faults" => DUP_FAULTS.load(Ordering::Relaxed),
                "refaulted-everywhere" => refaulted_everywhere,
                "migrant-stack-and-utcb-local" => migrant_stack_local,
                "one-fault-per-node-and-page" => per_pair_ok,
            )
        );
        println!(
            "{}",
            report::line!("numa-policy",
                "page" => "hot",
                "home" => node_no[0],
                "periods" => samples.periods,
                "refaults" => report::Dbg(&samples.faults[..nodes]),
                "moved-to" => hot_moved.map_or(-1, |t| node_no[t] as i64),
                "frame-node" => hot_node.map_or(-1, |n| n as i64),
                "spread-interleaved" => spread_ok,
            )
        );
        println!(
            "{}",
            report::line!("numa-demo",
                "nodes" => nodes,
                "spaces" => spaces,
                "pagers" => pagers,
                "code-local" => report::Ratio(code_local, code_total),
                "global-faults" => faults,
                "max-faults" => max_faults,
                "migrations" => migrations,
                "unmaps" => unmaps,
                "stale" => stale,
                "mode" => if single { "single-space" } else { "per-node" },
                "result" => if pass { "pass" } else { "fail" },
            )
        );
        if !pass {
            println!("numademo: ok={ok} marks={marks_ok} where={where_ok} errors={errors}");
        }
        let e = sys::power_off(u64::from(!pass));
        println!("numademo: SystemControl refused: {e}");
        loop {
            core::hint::spin_loop();
        }
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
use demo::numademo;

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn numademo(_utcb: rt::UtcbAddr) -> ! {
    unreachable!("the host build only type-checks the entry")
}
