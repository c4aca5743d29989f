// SPDX-License-Identifier: MIT OR Apache-2.0
//! The L4 core: threads, address spaces, scheduling, and the way in and out of user mode.
//!
//! # Design
//! The kernel follows the event model: every entry from user mode (system call, fault,
//! interrupt) saves the thread's registers into its TCB, runs to completion on the
//! CPU's one kernel stack, picks the thread to run next, and leaves by restoring that
//! thread's registers. Nothing ever blocks *inside* the kernel: a thread that waits
//! (for an IPC partner, for its pager) is just a state in its TCB, and its system-call
//! results are written into its saved registers when the partner arrives. A CPU with
//! nothing to run idles ([`Kernel::idle`]).
//!
//! All of it is logic over a [`Machine`] ([`machine`]): [`Kernel`] is generic over the
//! hardware it runs on. [`Kernel::trap`] is its one safe entry: given the CPU, the
//! trap and what the interrupt controller said, it does the work and says what the CPU
//! runs next ([`Next`]). On the target, `crate::entry` holds the one `Kernel` behind
//! the kernel lock and calls it from the exception vectors; in host tests, `fake`
//! provides a machine and the tests drive the same code with system calls, faults and
//! timer interrupts (`l4::tests`, `l4::ipc::tests`, `l4::syscall::tests`, `l4::fastpath::tests`).
//!
//! Three things keep the common IPC cheap without changing that model:
//! - the entry vectors save a thread's registers **straight into its TCB** (through
//!   `PerCpu::user_context`) and the exit loads the next thread's from its TCB: no
//!   frame is copied (`arch::aarch64::trap`);
//! - FP/SIMD registers are switched **lazily** (`Kernel::fp_switch`, `fp_trap`):
//!   a thread's TCB copy is current whenever it is not running with FP open, and a
//!   thread that does not touch FP costs no FP work;
//! - a register-only `Call`/`ReplyWait` to a partner already waiting on this CPU takes
//!   the **fast path** ([`fastpath`]) before the general code, with the same result.
//!
//! # Locking
//! No lock is shared by all CPUs on the paths user level takes most: a CPU-local IPC
//! (`Call`, `ReplyWait`) and the delivery of a page fault to a pager on the same CPU
//! take only that CPU's own lock, in its node-local block. Everything else still takes
//! one lock shared by all CPUs, the *general lock*. Two kinds of lock, then:
//!
//! | lock | where | protects |
//! |---|---|---|
//! | CPU `c`'s lock (`PerCpu::sched`) | `c`'s per-CPU block, on `c`'s node | `c`'s `CpuSched` (run queues, `current`, lazy-FP state, fast-path counters, and the time state: timeout queue, slice, timer; [`time`]'s "Locking"), and every TCB `c` *owns* |
//! | the general lock (`crate::entry`'s `KERNEL`) | the kernel image | everything in [`Kernel`]: spaces, the MDB, translation tables, ASIDs, the run-queue links, thread versions, the interrupt routing; and the *writes* of the thread table ([`threads`]) |
//!
//! A CPU owns the threads placed on it (`Tcb::cpu`); the thread table records the
//! owner beside each TCB ([`threads::Threads`]), because a fast path must know whether
//! a thread is its own before it reads the TCB.
//!
//! **Who takes what, in which order.**
//! - A *fast path* ([`fastpath`]: `Call`/`ReplyWait` to a partner waiting on this CPU,
//!   a page fault to a pager waiting on this CPU) takes its own CPU's lock and nothing
//!   else ([`threads::Local`]). It touches only threads that CPU owns, and gives up to
//!   the general path (changing nothing) when the partner is another CPU's.
//! - The *general path* (every other system call, fault and interrupt, and the idle
//!   loop) takes the general lock first, then the lock of each *other* CPU whose
//!   threads or scheduler state it touches, as it touches them ([`Kernel::tcb`] and
//!   [`Kernel::sched`] take it on the first touch) and in any order, and keeps them
//!   until the operation ends ([`Kernel::release_cpus`], called when the general lock
//!   is let go). The CPU it runs on ([`Kernel::enter`]: `trap` and `idle` say which)
//!   it touches without that CPU's lock: that lock keeps out that CPU's own fast path,
//!   which cannot run while the same CPU runs the general path (the kernel is not
//!   preemptible: a long call that stops at a preemption point, [`restart`], ends its
//!   operation and lets its locks go, and the interrupt waiting is taken by a general
//!   path operation of its own), and every other CPU's general path, which waits for
//!   the general lock. So an interrupt, the idle loop and most system calls take no
//!   CPU lock at all.
//! - A pager's reply that maps a page on the fast path needs the general lock too
//!   (for the MDB and the target's tables). Holding its CPU's lock from the fast path,
//!   it only *tries* the general lock (`crate::entry`): a free one it takes, which
//!   cannot deadlock, since it waits for nothing; a held one it does not wait for, but
//!   lets its own lock go, then takes the general lock and its CPU's again: the general
//!   path's order.
//!
//! **Why this cannot deadlock.** Only the holder of the general lock ever holds more
//! than one CPU lock; every other CPU holds at most its own and waits for nothing
//! while it holds it (a fast path runs to its end; a map reply only tries the general
//! lock). So the general lock's holder,
//! waiting for a CPU lock, waits for a fast path that finishes; and a CPU waiting for
//! the general lock holds no CPU lock. **Why no two CPUs work on one CPU's state at
//! once**: CPU `c`'s threads and scheduler state are worked on by `c`'s fast path
//! (holding `c`'s lock), by `c`'s general path (holding the general lock; `c` runs
//! one of the two at a time), or by another CPU's general path (holding the general
//! lock and `c`'s lock). `l4::lockorder` checks both exhaustively on small machines
//! (every interleaving of fast paths, map replies and general operations on three
//! CPUs), and that skipping another CPU's lock is caught.
//!
//! **What is read without a lock, and why that is safe.**
//! - The thread table's slots, by fast paths: a slot owned by CPU `c` changes only
//!   under `c`'s lock (the table's protocol, [`threads`]), so `c`'s fast path, holding
//!   it, sees a stable slot; another CPU's slot it does not use.
//! - Whether an interrupt is pending (`Machine::any_interrupt_pending`): an atomic
//!   the fast path only reads (it gives up when one is).
//! - A running thread's saved registers, written by the entry vectors of the CPU that
//!   runs it without any lock: no one else changes a running thread's registers.
//!
//! **Cross-CPU work** is asked of the other CPU, never done by spinning on its state:
//! a thread made ready on another CPU is queued there (under that CPU's lock, held by
//! the general path) and the CPU is woken by an SGI (`Machine::wake`); a thread deleted
//! or moved while it runs on another CPU is marked (`doomed`, `move_to`) and that CPU
//! finishes the work at its next kernel entry, which the SGI makes immediate.
//!
//! **Not yet** (issue 15): the general lock is still one lock for every CPU. Its next
//! splits are per-space locks for the tables and MDB (map, grant and unmap then take
//! the locks of the spaces they span in space-number order, and the MDB tree of a
//! frame its own) and per-node thread tables.
//!
//! Every object the kernel makes for a space comes from the space's home node and is
//! charged to the space ([`Kernel::alloc_for`]); see `space.rs`.
//!
//! # Invariants
//! - A thread number names at most one live TCB; its version changes on each reuse.
//! - A thread in state `Running` is the `current` of exactly its CPU; `Ready` threads
//!   are on their CPU's run queue, and nothing else is.
//! - A thread's saved context is only changed by the kernel while the thread is not
//!   running (or by the CPU running it, on the way out).
//! - The frame allocator and the board are the ones [`Kernel::init`] was handed; no
//!   system call runs before it.

pub mod fastpath;
pub mod inherit;
pub mod ipc;
pub mod kip;
pub mod machine;
pub mod mapdb;
pub mod restart;
pub mod syscall;
pub mod task;
pub mod threads;
pub mod time;

#[cfg(test)]
pub mod fake;
#[cfg(test)]
mod lockorder;
#[cfg(test)]
mod tests;

pub use machine::Machine;

use crate::exception::{self, Kind, Source, Trap};
use crate::halt::Halt;
use crate::mdb::{EntryId, Mdb, MdbError, Revoked, SpaceId};
use crate::mm::addr::{PhysAddr, VirtAddr};
use crate::mm::asid::{Asids, ttbr0};
use crate::mm::frames::Frames;
use crate::mm::table::{self, Attrs, ENTRIES, MemType, PAGE_SIZE, TableMemory};
use crate::percpu::{CpuSched, PerCpu};
use crate::sched::Links;
use crate::slab::SlabCache;
use crate::space::{Kmem, MAX_SPACES, Space};
use crate::thread::{FaultKind, MAX_THREADS, Tcb, ThreadState, split_id};
use abi::Error;
use core::marker::PhantomData;
use core::sync::atomic::Ordering;
use platform::{Board, MAX_CPUS, NodeId};
use threads::Threads;

/// What a map could cost, checked before anything is mapped ([`Kernel::map_cost`]).
#[derive(Clone, Copy, Default)]
pub struct MapCost {
    /// Translation tables to create (each two frames, table and MDB shadow page,
    /// charged to the receiving space's quota).
    pub tables: table::TableCount,
    /// Bytes of MDB entries (slab memory; not charged: see `mapdb::KernelStore`).
    pub entries: u64,
}

impl MapCost {
    /// Bytes of tables, for the quota.
    pub fn table_bytes(&self) -> u64 {
        self.tables.tables.saturating_mul(2 * FRAME)
    }
}

/// Whose a frame is that the kernel hands to user level as a mapping-database root
/// ([`Kernel::map_root`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Lent: the initrd, the device tree, the root task's own image; never freed.
    Lent,
    /// From a node's pool, owned by the space: when its root mapping goes (a free, an
    /// unmap of it, the space's deletion) the frame returns to the pool
    /// ([`crate::mdb::Revoked::freed`], in `revoke`).
    Owned,
}

/// What the interrupts taken with a trap mean for the scheduler (the interrupt
/// controller's driver works it out; the kernel acts on it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events {
    /// This CPU's kernel timer fired (a deadline, or the end of a slice).
    pub timer: bool,
    /// A device interrupt for a user-level handler is pending.
    pub interrupts: bool,
}

/// What a CPU does once [`Kernel::trap`] has handled a trap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Return to user mode, in the thread whose registers `PerCpu::user_context`
    /// names (and whose space and FP state are loaded).
    User,
    /// Nothing to run: the CPU idles until an interrupt ([`Kernel::idle`]).
    Idle,
    /// The machine stops with this status: the root task died, or powered off. What
    /// happened is printed already; the caller ends the run, still holding the lock.
    Stop(Halt),
}

/// Translation tables of user spaces, reached through the machine's memory window;
/// new tables come from `alloc`, which the caller makes charge the right space and
/// node.
pub struct UserTables<M, F> {
    /// Gives a zeroed frame for a new table.
    pub alloc: F,
    machine: PhantomData<M>,
}

impl<M: Machine> UserTables<M, fn() -> Option<u64>> {
    /// Tables that are only walked or changed in place: nothing is allocated.
    #[inline(always)]
    pub fn existing() -> Self {
        UserTables { alloc: || None, machine: PhantomData }
    }
}

impl<M: Machine, F: FnMut() -> Option<u64>> UserTables<M, F> {
    /// Tables whose new tables come from `alloc`.
    pub fn new(alloc: F) -> Self {
        UserTables { alloc, machine: PhantomData }
    }
}

impl<M: Machine, F: FnMut() -> Option<u64>> TableMemory for UserTables<M, F> {
    #[inline(always)]
    fn entries(&mut self, pa: u64) -> &mut [u64; ENTRIES] {
        // SAFETY: user-space tables are frames from the node pools (reached through
        // the machine's window), owned by their space and only ever reached under the
        // kernel lock, through the one `UserTables` in use (the `&mut self` borrow),
        // so no other reference to the table exists.
        unsafe { M::MEMORY.table(PhysAddr::new(pa)) }
    }

    fn alloc_table(&mut self) -> Option<u64> {
        (self.alloc)()
    }
}

/// All kernel objects, behind the kernel lock.
pub struct Kernel<M: Machine> {
    machine: M,
    /// The frame allocator, handed over by [`Kernel::init`].
    frames: Option<&'static Frames>,
    /// The board, handed over by [`Kernel::init`].
    board: Option<&'static Board<'static>>,
    /// The thread table, shared with the fast paths ([`threads`]).
    threads: &'static Threads,
    /// The CPUs whose locks this general-path operation holds (a bit each): taken on
    /// first touch ([`Kernel::hold`]), let go by [`Kernel::release_cpus`].
    held: [u64; MAX_CPUS / 64],
    /// The first [`HELD_LIST`] of them, in the order taken (most operations touch one
    /// or two CPUs: letting go of them needs no scan of `held`).
    held_list: [Option<&'static PerCpu>; HELD_LIST],
    /// How many CPU locks are held; more than [`HELD_LIST`]: `release_cpus` scans.
    held_count: usize,
    /// One more than the highest thread number ever created: a search of the thread
    /// table (a deleted thread's waiters) looks no further.
    thread_limit: u32,
    /// The CPU this general-path operation runs on, when it said so ([`Kernel::trap`],
    /// [`Kernel::idle`], [`Kernel::enter`]); [`NO_CPU`] otherwise. Its own lock is
    /// never needed (see "Locking"), so [`Kernel::hold`] skips it.
    here: usize,
    /// That CPU's block (`None` with [`NO_CPU`]).
    here_block: Option<&'static PerCpu>,
    versions: [u16; MAX_THREADS],
    spaces: [Option<Space>; MAX_SPACES],
    asids: Asids,
    links: Links<MAX_THREADS>,
    /// Root table with no mappings: TTBR0 while no user space runs.
    empty_root: u64,
    /// Physical address of the kernel interface page (its first frame).
    kip: u64,
    /// The mapping database: every user mapping of a frame, rooted where the kernel
    /// handed the frame out.
    pub mdb: Mdb<mapdb::KernelStore<M>>,
    /// A stop the last operation asked for ([`Next::Stop`]).
    stop: Option<Halt>,
}

/// Bytes charged for one frame.
const FRAME: u64 = PAGE_SIZE;

/// How many pages of a last-level table a step of a space's deletion looks through
/// for its next mapping ([`Kernel::delete_space_from`]).
pub const DELETE_SCAN_PAGES: u64 = 64;

/// How many missing tables a preemptible walk over a space passes between two
/// preemption points ([`Kernel::next_span_within`]).
pub const SCAN_TABLES: usize = 16;

/// How many table entries a step of freeing a deleted space's tables looks at
/// ([`Kernel::destroy_space_step`]).
pub const SCAN_TABLE_ENTRIES: usize = 64;

/// CPU locks a general-path operation remembers by number ([`Kernel::release_cpus`]).
const HELD_LIST: usize = 8;

/// [`Kernel`]'s `here` when the operation did not say which CPU it runs on: no CPU
/// (every CPU lock it needs is taken).
const NO_CPU: usize = usize::MAX;

impl<M: Machine> Kernel<M> {
    /// An empty kernel on `machine`, its threads in `threads`; [`Kernel::init`] hands
    /// it its memory and board.
    pub const fn new(machine: M, threads: &'static Threads) -> Kernel<M> {
        Kernel {
            machine,
            frames: None,
            board: None,
            threads,
            held: [0; MAX_CPUS / 64],
            held_list: [None; HELD_LIST],
            held_count: 0,
            thread_limit: 0,
            here: NO_CPU,
            here_block: None,
            versions: [0; MAX_THREADS],
            spaces: [const { None }; MAX_SPACES],
            asids: Asids::new(1 << 16),
            links: Links::new(),
            empty_root: 0,
            kip: 0,
            mdb: Mdb::new(mapdb::KernelStore::new()),
            stop: None,
        }
    }

    /// Prepares the kernel objects: takes the frame allocator, the slab cache of MDB
    /// entries (built on it) and the board, builds the empty root table, the kernel
    /// interface page (`initrd` and `dtb`: where the root task will find them) and
    /// the MDB's frame-root arrays.
    pub fn init(
        &mut self,
        frames: &'static Frames,
        entries: &'static SlabCache<'static>,
        board: &'static Board<'static>,
        initrd: Option<(u64, u64)>,
        dtb: Option<(u64, u64)>,
    ) -> Result<(), Error> {
        assert!(frames.window() == M::MEMORY, "invariant: the kernel reaches memory as its allocator does");
        self.frames = Some(frames);
        self.board = Some(board);
        let boot_node = board.cpus.first().map_or(NodeId::ZERO, |c| c.node);
        let (empty, _) = frames.alloc_near(boot_node, 1).map_err(|_| Error::OutOfMemory)?;
        // SAFETY: just allocated, unshared.
        unsafe { self.machine.zero_frame(PhysAddr::new(empty)) };
        self.empty_root = empty;
        self.kip = task::build_kip::<M>(frames, board, self.machine.counter_frequency(), initrd, dtb)?;
        self.mdb.store_mut().init(frames, entries, board)?;
        Ok(())
    }

    /// The machine the kernel runs on.
    pub fn machine(&self) -> M {
        self.machine
    }

    /// The frame allocator.
    pub fn frames(&self) -> &'static Frames {
        self.frames.expect("invariant: Kernel::init ran before any kernel object is made")
    }

    /// The board.
    pub fn board(&self) -> &'static Board<'static> {
        self.board.expect("invariant: Kernel::init ran before any system call")
    }

    /// TTBR0 while no user space runs (the empty root, ASID 0).
    pub fn empty_ttbr0(&self) -> u64 {
        ttbr0(self.empty_root, 0)
    }

    /// The thread table.
    pub fn threads(&self) -> &'static Threads {
        self.threads
    }

    /// What the fast paths reach without the general lock.
    pub fn fast(&self) -> fastpath::Fast<M> {
        fastpath::Fast { machine: self.machine, threads: self.threads }
    }

    /// Says that this general-path operation runs on CPU `me` (with the general lock
    /// held): `me`'s own threads and scheduler state need no lock of `me`'s (see
    /// "Locking"), until [`Kernel::release_cpus`] ends the operation. Only if `me` is
    /// the CPU the machine says runs this: a wrong `me` costs locks, not safety.
    #[inline(always)]
    pub fn enter(&mut self, me: &'static PerCpu) {
        if me.index == self.machine.this_cpu() {
            self.here = me.index;
            self.here_block = Some(me);
        }
    }

    /// CPU `cpu`'s block: this operation's own without a look-up.
    #[inline(always)]
    fn block(&self, cpu: usize) -> Option<&'static PerCpu> {
        if cpu == self.here { self.here_block } else { self.machine.cpu(cpu) }
    }

    /// Takes CPU `cpu`'s lock for the rest of this operation, unless it holds it
    /// already or runs on `cpu` (see "Locking"): the general path's one way to a CPU's
    /// threads and scheduler state. `None`: no such CPU (it has no block, so no fast
    /// path runs there, and the general lock alone protects its threads).
    #[inline(always)]
    fn hold(&mut self, cpu: usize) {
        if cpu == self.here {
            return;
        }
        let held = self.held.get(cpu / 64).is_some_and(|w| w & (1 << (cpu % 64)) != 0);
        if !held {
            self.take(cpu);
        }
    }

    /// [`Kernel::hold`]'s first touch: takes the lock and remembers it.
    #[inline(never)]
    fn take(&mut self, cpu: usize) {
        let Some(block) = self.machine.cpu(cpu) else { return };
        // Held without a guard until `release_cpus`: the operation's borrows of the
        // data are tied to `&mut self`, which `release_cpus` needs too.
        core::mem::forget(block.sched.lock());
        self.held[cpu / 64] |= 1 << (cpu % 64);
        if let Some(slot) = self.held_list.get_mut(self.held_count) {
            *slot = Some(block);
        }
        self.held_count += 1;
    }

    /// Lets go of every CPU lock this operation took (`Kernel::hold`): the end of a
    /// general-path operation, before the general lock goes. Nothing borrowed from
    /// them outlives the call (it takes `&mut self`).
    #[inline(always)]
    pub fn release_cpus(&mut self) {
        self.here = NO_CPU;
        self.here_block = None;
        if self.held_count != 0 {
            self.release_held();
        }
    }

    /// [`Kernel::release_cpus`] when some lock is held.
    #[inline(never)]
    fn release_held(&mut self) {
        let m = self.machine;
        let unlock = |block: &PerCpu| {
            // SAFETY: this operation took the lock in `take` and forgot the guard;
            // every reference to the data made since borrowed the kernel, which
            // `release_cpus` borrows mutably, so none is left.
            unsafe { block.sched.force_unlock() };
        };
        if self.held_count <= HELD_LIST {
            for block in self.held_list[..self.held_count].iter().flatten() {
                unlock(block);
                self.held[block.index / 64] = 0;
            }
        } else {
            for (w, word) in self.held.iter_mut().enumerate() {
                while *word != 0 {
                    let bit = word.trailing_zeros() as usize;
                    *word &= *word - 1;
                    if let Some(block) = m.cpu(w * 64 + bit) {
                        unlock(block);
                    }
                }
            }
        }
        self.held_count = 0;
    }

    /// CPU `cpu`'s scheduler state, its lock held for the rest of the operation (or
    /// none needed: this operation runs on `cpu`).
    pub fn sched(&mut self, cpu: usize) -> Option<&mut CpuSched> {
        self.hold(cpu);
        let block = self.block(cpu)?;
        // SAFETY: this operation holds `block`'s lock (`hold`) until `release_cpus`,
        // which needs `&mut self`, or runs on `block`'s CPU with the general lock, so
        // neither that CPU's fast path nor another CPU's general path runs meanwhile
        // ("Locking"); the reference borrows `self` mutably, so it is the only one.
        Some(unsafe { &mut *block.sched.as_mut_ptr() })
    }

    /// CPU `cpu`'s scheduler state and the run-queue links, at once.
    fn sched_links(&mut self, cpu: usize) -> Option<(&mut CpuSched, &mut Links<MAX_THREADS>)> {
        self.hold(cpu);
        let block = self.block(cpu)?;
        // SAFETY: as in `sched`; the links are another field of `self`.
        Some((unsafe { &mut *block.sched.as_mut_ptr() }, &mut self.links))
    }

    /// Thread `number`, if it exists; its owner's lock is held from now on (unless
    /// the owner is the CPU this operation runs on: "Locking").
    #[inline(always)]
    pub fn tcb(&mut self, number: u32) -> Option<&mut Tcb> {
        let (ptr, owner) = self.threads.get(number)?;
        self.hold(owner as usize);
        // SAFETY: the table holds pointers to live TCBs (frames never freed while
        // listed; only the general lock's holder, this operation, changes it), and
        // this operation holds the general lock and the owner's lock, or runs on the
        // owner (whose fast path cannot run meanwhile), so no fast path reaches the
        // TCB; `&mut self` makes this the only reference.
        Some(unsafe { &mut *ptr.as_ptr() })
    }

    /// Thread `t` and CPU `cpu`'s scheduler state, at once.
    fn tcb_and_sched(&mut self, t: u32, cpu: usize) -> Option<(&mut Tcb, &mut CpuSched)> {
        let (ptr, owner) = self.threads.get(t)?;
        self.hold(owner as usize);
        self.hold(cpu);
        let block = self.block(cpu)?;
        // SAFETY: as in `tcb`.
        let tcb = unsafe { &mut *ptr.as_ptr() };
        // SAFETY: as in `sched`; a TCB is never part of a per-CPU block.
        let sched = unsafe { &mut *block.sched.as_mut_ptr() };
        Some((tcb, sched))
    }

    /// Two different threads at once (an IPC's sender and receiver).
    #[inline(always)]
    pub fn two(&mut self, a: u32, b: u32) -> Option<(&mut Tcb, &mut Tcb)> {
        if a == b {
            return None;
        }
        let (pa, oa) = self.threads.get(a)?;
        let (pb, ob) = self.threads.get(b)?;
        self.hold(oa as usize);
        self.hold(ob as usize);
        // SAFETY: as in `tcb`, for both; `a != b` and the table never lists one TCB
        // twice, so the two references are to different objects.
        let first = unsafe { &mut *pa.as_ptr() };
        // SAFETY: as above, for the other, different TCB.
        let second = unsafe { &mut *pb.as_ptr() };
        Some((first, second))
    }

    /// The thread a full id names, if it exists with that version.
    pub fn lookup(&mut self, id: u64) -> Option<u32> {
        let (number, version) = split_id(id)?;
        (self.tcb(number)?.version == version).then_some(number)
    }

    /// Space `index`.
    pub fn space(&mut self, index: u16) -> Option<&mut Space> {
        self.spaces.get_mut(index as usize)?.as_mut()
    }

    /// Prints `fatal: WHY` and asks the CPU that made this trap to stop the machine
    /// with `halt` ([`Next::Stop`]): the root task died, and nothing else can run.
    fn fatal(&mut self, halt: Halt, why: core::fmt::Arguments) {
        self.machine.print(format_args!("fatal: {why}\n"));
        self.stop = Some(halt);
    }

    /// A zeroed frame for `space`, from its home node (else the nearest), charged to it.
    /// A translation table takes two frames: the table and its MDB shadow page
    /// (`mapdb`); the address returned is the table's.
    pub fn alloc_for(&mut self, space: u16, kind: Kmem) -> Result<(u64, NodeId), Error> {
        let frames = if kind == Kmem::Table { 2 } else { 1 };
        let bytes = FRAME * frames as u64;
        let s = self.space(space).ok_or(Error::InvalidSpace)?;
        s.can_charge(bytes).map_err(|_| Error::OutOfMemory)?;
        let home = s.home;
        let (pa, node) = self.frames().alloc_near(home, frames).map_err(|_| Error::OutOfMemory)?;
        for f in 0..frames as u64 {
            // SAFETY: the block was just allocated (RAM outside the image), unshared.
            unsafe { self.machine.zero_frame(PhysAddr::new(pa + f * FRAME)) };
        }
        let s = self.space(space).ok_or(Error::InvalidSpace)?;
        s.record(kind, node, bytes).map_err(|_| Error::OutOfMemory)?;
        Ok((pa, node))
    }

    /// Creates the translation tables down to `va`'s page entry in `space` (so a
    /// mapping there, and its MDB slot, need no further allocation).
    pub fn prepare_user(&mut self, space: u16, va: u64) -> Result<(), Error> {
        self.prepare_tables(space, va, false).map(|_| ())
    }

    /// [`Kernel::prepare_user`] a table at a time: creates at most one of the tables
    /// down to `va`'s page entry; whether they are all there now. A long call maps a
    /// page at a time with a preemption point between two tables (each takes two
    /// frames, zeroed: `restart`).
    pub fn prepare_user_step(&mut self, space: u16, va: u64) -> Result<bool, Error> {
        self.prepare_tables(space, va, true)
    }

    /// Creates the tables down to `va`'s page entry in `space`, or only the first one
    /// missing when `one`: whether they are all there.
    fn prepare_tables(&mut self, space: u16, va: u64, one: bool) -> Result<bool, Error> {
        let root = self.space(space).ok_or(Error::InvalidSpace)?.root;
        let mut failure = None;
        let mut made = false;
        let result = {
            let this = &mut *self;
            let mut mem = UserTables::<M, _>::new(|| {
                if one && made {
                    return None;
                }
                match this.alloc_for(space, Kmem::Table) {
                    Ok((pa, _)) => {
                        made = true;
                        Some(pa)
                    }
                    Err(e) => {
                        failure = Some(e);
                        None
                    }
                }
            });
            table::prepare(&mut mem, root, va)
        };
        match result {
            Ok(_) => Ok(true),
            // The one table allowed is made; the next waits for another step.
            Err(table::MapError::OutOfTables) if one && failure.is_none() => Ok(false),
            Err(table::MapError::OutOfTables) => Err(failure.unwrap_or(Error::OutOfMemory)),
            Err(_) => Err(Error::InvalidArgument),
        }
    }

    /// Gives `space` the frame at `pa` as a new MDB root mapped at `va` (memory the
    /// kernel hands to user level: MemoryControl, the root task's image).
    pub fn map_root(
        &mut self,
        space: u16,
        va: u64,
        pa: u64,
        rights: crate::mdb::Rights,
        frame: Frame,
    ) -> Result<(), Error> {
        self.prepare_user(space, va)?;
        let id = self
            .mdb
            .insert_root(SpaceId::new(u32::from(space)), va, pa, crate::mdb::PAGE_SHIFT, rights)
            .map_err(mdb_error)?;
        if frame == Frame::Owned {
            self.mdb.own(id);
        }
        self.map_user(space, va, pa, mapdb::attrs_of(rights))
    }

    /// Maps (or grants) the page of `space`'s mapping `entry` to `to` at `to_va` with
    /// `rights`, through the MDB; revoked mappings leave the page tables and TLBs. A
    /// target that holds the source (or a mapping the source derives from) is left
    /// as it is.
    pub fn map_entry(
        &mut self,
        entry: EntryId,
        to: u16,
        to_va: u64,
        rights: crate::mdb::Rights,
        grant: bool,
    ) -> Result<(), Error> {
        self.prepare_user(to, to_va)?;
        let (machine, frames) = (self.machine, self.frames());
        let Kernel { mdb, spaces, .. } = self;
        let target = SpaceId::new(u32::from(to));
        let result = if grant {
            mdb.grant(entry, target, to_va, rights, |r| revoke(machine, frames, spaces, r))
        } else {
            mdb.map(entry, target, to_va, rights, |r| revoke(machine, frames, spaces, r))
        };
        let new = match result {
            // The target already holds the source, or a mapping it derives from:
            // replacing it would revoke the source. The page stays as it is (a
            // no-op, so a message never fails part way over it).
            Err(MdbError::TargetHoldsSource { .. }) => return Ok(()),
            other => other.map_err(mdb_error)?,
        };
        let (pa, rights) = {
            let e = self.mdb.entry(new);
            (e.pa(), e.rights())
        };
        // A mapping extended in place (X.2) is re-entered with its new rights.
        if self.translate_user(to, to_va).is_some() {
            self.unmap_user(to, to_va);
        }
        self.map_user(to, to_va, pa, mapdb::attrs_of(rights))
    }

    /// Removes `mask` rights from everything derived from `space`'s mapping at `va`
    /// (and from it too when `flush`): L4's recursive unmap.
    pub fn unmap_recursive(&mut self, space: u16, va: u64, mask: crate::mdb::Rights, flush: bool) {
        let Some(entry) = self.mdb.lookup(SpaceId::new(u32::from(space)), va) else { return };
        let (machine, frames) = (self.machine, self.frames());
        let Kernel { mdb, spaces, .. } = self;
        mdb.unmap(entry, mask, flush, |r| revoke(machine, frames, spaces, r));
    }

    /// Copies the MDB's placement counters into the space (for `report: kmem`).
    pub fn sync_mdb_counts(&mut self, space: u16) {
        let slot = self.mdb.store().spaces[space as usize];
        if let Some(s) = self.space(space) {
            s.mdb.on_home = slot.on_home;
            s.mdb.total = slot.total;
            s.fallbacks = s.fallbacks.max(slot.fallbacks);
        }
    }

    /// Maps one user page of `space`, allocating tables from its home node.
    pub fn map_user(&mut self, space: u16, va: u64, pa: u64, attrs: Attrs) -> Result<(), Error> {
        let root = self.space(space).ok_or(Error::InvalidSpace)?.root;
        if attrs.user_exec && attrs.mem == MemType::Normal {
            self.machine.sync_icache(PhysAddr::new(pa));
        }
        let mut failure = None;
        let result = {
            let this = &mut *self;
            let mut mem = UserTables::<M, _>::new(|| match this.alloc_for(space, Kmem::Table) {
                Ok((pa, _)) => Some(pa),
                Err(e) => {
                    failure = Some(e);
                    None
                }
            });
            table::map(&mut mem, root, va, pa, PAGE_SIZE, attrs, false)
        };
        // The new entry visible to table walks before the thread runs again (an eret
        // orders instructions, not the table stores).
        self.machine.tables_changed();
        match result {
            Ok(()) => Ok(()),
            Err(table::MapError::OutOfTables) => Err(failure.unwrap_or(Error::OutOfMemory)),
            Err(table::MapError::AlreadyMapped { .. }) => Err(Error::InvalidArgument),
            Err(_) => Err(Error::InvalidArgument),
        }
    }

    /// Removes a user page of `space` and invalidates it in every CPU's TLB.
    pub fn unmap_user(&mut self, space: u16, va: u64) -> Option<(u64, Attrs)> {
        let s = self.space(space)?;
        let (root, asid) = (s.root, s.asid);
        let old = table::unmap_page(&mut UserTables::<M, _>::existing(), root, va)?;
        self.machine.invalidate_page(asid, VirtAddr::new(va));
        Some(old)
    }

    /// The next part of `[at, end)` that `space` has a last-level table for: from the
    /// first such address to the end of that table's 2 MiB span (or `end`). Loops over
    /// user-given ranges step with this, so empty space costs nothing
    /// ([`table::next_populated`]).
    pub fn next_span(&mut self, space: u16, at: u64, end: u64) -> Option<(u64, u64)> {
        self.next_span_within(space, at, end, usize::MAX).ok().flatten()
    }

    /// [`Kernel::next_span`], skipping at most `budget` missing tables
    /// ([`table::next_populated_within`]): `Err(at)` when the budget is spent, with
    /// no table in `[at, ..)` before the returned address.
    pub fn next_span_within(
        &mut self,
        space: u16,
        at: u64,
        end: u64,
        budget: usize,
    ) -> Result<Option<(u64, u64)>, u64> {
        let Some(root) = self.space(space).map(|s| s.root) else { return Ok(None) };
        let mut mem = UserTables::<M, _>::existing();
        let end = end.min(abi::USER_ADDRESS_LIMIT);
        let Some(found) = table::next_populated_within(&mut mem, root, at, end, budget)? else {
            return Ok(None);
        };
        let span_end = (found | (table::entry_span(2) - 1)).saturating_add(1).min(end);
        Ok(Some((found, span_end)))
    }

    /// What mapping `src`'s pages in `[va, va + size)` to `to` in `dst` could cost:
    /// for each 2 MiB span where `src` has pages, the tables `dst` lacks for it and an
    /// MDB entry per page. Added to `cost` (several items add up).
    pub fn map_cost(
        &mut self,
        src: u16,
        (va, size): (u64, u64),
        dst: u16,
        to: u64,
        cost: &mut MapCost,
    ) -> Option<()> {
        let dst_root = self.space(dst)?.root;
        let src_root = self.space(src)?.root;
        let entry_bytes = core::mem::size_of::<crate::mdb::Entry>() as u64;
        let end = va.saturating_add(size);
        let mut at = va;
        while let Some((found, span_end)) = self.next_span(src, at, end) {
            let mut mem = UserTables::<M, _>::existing();
            let pages = table::mapped_in_span(&mut mem, src_root, found, span_end);
            if pages > 0 {
                cost.tables.add(&mut mem, dst_root, to + (found - va), span_end - found);
                cost.entries += pages * entry_bytes;
            }
            at = span_end;
        }
        Some(())
    }

    /// Where `va` of `space` maps, with what rights (user mappings only).
    pub fn translate_user(&mut self, space: u16, va: u64) -> Option<(u64, Attrs)> {
        // The table walk indexes with VA bits 47..12 only: an address outside the user
        // half would alias a user page.
        if va >= abi::USER_ADDRESS_LIMIT {
            return None;
        }
        let root = self.space(space)?.root;
        table::translate(&mut UserTables::<M, _>::existing(), root, va).filter(|(_, a)| a.user)
    }

    /// Creates an empty space homed on `home`.
    pub fn create_space(&mut self, home: NodeId, quota: u64) -> Result<u16, Error> {
        let index = (1..MAX_SPACES).find(|&i| self.spaces[i].is_none()).ok_or(Error::OutOfMemory)? as u16;
        let asid = self.asids.alloc().ok_or(Error::OutOfMemory)?;
        // Two frames: the root table and its MDB shadow page (unused at the root level,
        // but every user table has one, so any table can be a last-level table).
        let (root, node) = match self.frames().alloc_near(home, 2) {
            Ok(frame) => frame,
            Err(_) => {
                self.asids.free(asid);
                return Err(Error::OutOfMemory);
            }
        };
        for f in 0..2 {
            // SAFETY: just allocated, unshared.
            unsafe { self.machine.zero_frame(PhysAddr::new(root + f * FRAME)) };
        }
        let mut space = Space::new(index, root, asid, home, quota);
        // The root table is the space's first table: every quota holds it.
        space.record(Kmem::Table, node, 2 * FRAME).expect("invariant: a space's quota holds its root table");
        self.spaces[index as usize] = Some(space);
        self.mdb.store_mut().add_space(index, root, home);
        if self.kip != 0 {
            let ro = user_attrs(false, false);
            for page in 0..(abi::kip::KIP_SIZE as u64 / PAGE_SIZE) {
                let va = abi::kip::KIP_ADDRESS + page * PAGE_SIZE;
                if let Err(e) = self.map_user(index, va, self.kip + page * PAGE_SIZE, ro) {
                    self.destroy_space(index);
                    return Err(e);
                }
            }
        }
        Ok(index)
    }

    /// Frees a space with no threads: its tables and ASID (after a TLB flush).
    pub fn destroy_space(&mut self, index: u16) {
        self.destroy_space_with(index, true);
    }

    /// [`Kernel::destroy_space`]; `walk`: its tables below the root may be left (a
    /// space whose tables were freed a step at a time has none: not looked for).
    fn destroy_space_with(&mut self, index: u16, walk: bool) {
        let Some(space) = self.spaces[index as usize].take() else { return };
        let frames = self.frames();
        let mut frees = |t: u64| {
            // SAFETY: `t` is a table (with its shadow) of this space, which is gone from
            // the space table; nothing references it any more.
            let freed = unsafe { frames.free(t, 2) };
            freed.expect("invariant: a space's tables came from a node's pool and are freed once");
        };
        if walk {
            table::for_each_table(&mut UserTables::<M, _>::existing(), space.root, &mut frees);
        }
        // SAFETY: as above, for the root table.
        let freed = unsafe { frames.free(space.root, 2) };
        freed.expect("invariant: a space's root table came from a node's pool and is freed once");
        self.mdb.store_mut().remove_space(index);
        self.machine.invalidate_asid(space.asid);
        self.asids.free(space.asid);
    }

    /// Creates an inactive thread in `space`, its TCB and UTCB from the space's home
    /// node, the UTCB mapped at `utcb_va`; returns its number.
    pub fn create_thread(&mut self, space: u16, utcb_va: u64, cpu: u32) -> Result<u32, Error> {
        if !utcb_va.is_multiple_of(PAGE_SIZE) || utcb_va == 0 || utcb_va >= abi::USER_ADDRESS_LIMIT {
            return Err(Error::InvalidUtcb);
        }
        if self.translate_user(space, utcb_va).is_some() {
            return Err(Error::InvalidUtcb);
        }
        let number = (2..MAX_THREADS as u32).find(|&i| self.threads.is_free(i)).ok_or(Error::OutOfMemory)?;
        self.create_thread_numbered(number, space, utcb_va, cpu)
    }

    /// Creates thread `number` (which the caller chose and checked is free), checking
    /// the UTCB address first.
    pub fn create_thread_numbered_checked(
        &mut self,
        number: u32,
        space: u16,
        utcb_va: u64,
        cpu: u32,
    ) -> Result<u32, Error> {
        if !utcb_va.is_multiple_of(PAGE_SIZE) || utcb_va == 0 || utcb_va >= abi::USER_ADDRESS_LIMIT {
            return Err(Error::InvalidUtcb);
        }
        if self.translate_user(space, utcb_va).is_some() {
            return Err(Error::InvalidUtcb);
        }
        self.create_thread_numbered(number, space, utcb_va, cpu)
    }

    /// A TCB frame and a UTCB frame for a thread of `space` (from its home node,
    /// charged to it), the UTCB mapped at `utcb_va`: `(tcb_pa, node, utcb_pa)`. All or
    /// nothing.
    fn thread_frames(&mut self, space: u16, utcb_va: u64) -> Result<(u64, NodeId, u64), Error> {
        let (tcb_pa, node) = self.alloc_for(space, Kmem::Tcb)?;
        let (utcb_pa, _) = match self.alloc_for(space, Kmem::Tcb) {
            Ok(frame) => frame,
            Err(e) => {
                self.free_for(space, Kmem::Tcb, tcb_pa);
                return Err(e);
            }
        };
        if let Err(e) = self.map_user(space, utcb_va, utcb_pa, user_attrs(true, false)) {
            self.free_for(space, Kmem::Tcb, utcb_pa);
            self.free_for(space, Kmem::Tcb, tcb_pa);
            return Err(e);
        }
        Ok((tcb_pa, node, utcb_pa))
    }

    fn create_thread_numbered(
        &mut self,
        number: u32,
        space: u16,
        utcb_va: u64,
        cpu: u32,
    ) -> Result<u32, Error> {
        let (tcb_pa, node, utcb_pa) = self.thread_frames(space, utcb_va)?;
        let version = self.versions[number as usize].wrapping_add(1).max(1);
        self.versions[number as usize] = version;
        let mut tcb = Tcb::new(number, version, space, cpu, node);
        tcb.ttbr0 = self.space(space).map_or(0, |s| ttbr0(s.root, s.asid));
        tcb.utcb_va = utcb_va;
        tcb.utcb_pa = PhysAddr::new(utcb_pa);
        // SAFETY: `tcb_pa` was allocated just above for this TCB alone; the thread table
        // owns it from here on.
        let ptr = unsafe { M::MEMORY.place(PhysAddr::new(tcb_pa), tcb) };
        self.hold(cpu as usize);
        self.threads.set(number, ptr, cpu);
        self.thread_limit = self.thread_limit.max(number + 1);
        if let Some(s) = self.space(space) {
            s.threads += 1;
        }
        let id = self.tcb(number).map_or(0, |t| t.id());
        // SAFETY: the UTCB frame is this thread's, user memory now mapped in its space.
        unsafe { M::MEMORY.write_u64(PhysAddr::new(utcb_pa + abi::utcb::MY_GLOBAL_ID_OFFSET as u64), id) };
        self.set_cpu(number, cpu);
        Ok(number)
    }

    fn free_for(&mut self, space: u16, kind: Kmem, pa: u64) {
        let frames = self.frames();
        let node = frames.node_of(pa);
        // SAFETY: `pa` is a frame `alloc_for` gave this space, no longer referenced.
        let freed = unsafe { frames.free(pa, 1) };
        freed.expect("invariant: a TCB or UTCB frame came from a node's pool and is freed once");
        if let (Some(s), Some(node)) = (self.space(space), node) {
            s.release(kind, node, FRAME);
        }
    }

    /// The physical address of thread `t`'s TCB frame.
    fn tcb_pa(&self, t: u32) -> Option<u64> {
        let (ptr, _) = self.threads.get(t)?;
        Some(M::MEMORY.pa(ptr.as_ptr() as usize))
    }

    /// Moves thread `t` (not running) into space `to` and places it on `cpu`: the
    /// paper's migration of a thread into the space of the node it moves to.
    ///
    /// Its control block and UTCB move with it into `to`'s home-node memory (charged
    /// to `to`, so the kmem report stays true): new frames there, the TCB and the
    /// UTCB's contents copied, the UTCB mapped at `utcb_va` in `to` and unmapped from
    /// the old space, the old frames freed. Registers, FP state, IPC state (a thread
    /// blocked in an IPC stays blocked in it), priority and queue place go with it.
    /// The old space is deleted if this was its last thread (spaces live as long as
    /// their threads). All or nothing: an error changes nothing.
    ///
    /// Errors: `InvalidThread` (no such thread, or being deleted), `Busy` (it runs
    /// now, on some CPU: its registers are not in its TCB), `InvalidSpace`,
    /// `InvalidUtcb` (`utcb_va` unusable in `to`, or a different address in the same
    /// space), `OutOfMemory` (`to`'s quota or every node).
    pub fn move_thread(&mut self, t: u32, to: u16, utcb_va: u64, cpu: u32) -> Result<(), Error> {
        let tcb = self.tcb(t).ok_or(Error::InvalidThread)?;
        if tcb.doomed {
            return Err(Error::InvalidThread);
        }
        if tcb.state == ThreadState::Running {
            return Err(Error::Busy);
        }
        let (from, old_utcb_va, old_utcb_pa, was_ready) =
            (tcb.space, tcb.utcb_va, tcb.utcb_pa, tcb.state == ThreadState::Ready);
        let ttbr0 = self.space(to).map(|s| ttbr0(s.root, s.asid)).ok_or(Error::InvalidSpace)?;
        if from == to {
            // Nothing to move but the CPU.
            if utcb_va != old_utcb_va {
                return Err(Error::InvalidUtcb);
            }
            self.place(t, cpu);
            return Ok(());
        }
        if !utcb_va.is_multiple_of(PAGE_SIZE) || utcb_va == 0 || utcb_va >= abi::USER_ADDRESS_LIMIT {
            return Err(Error::InvalidUtcb);
        }
        if self.translate_user(to, utcb_va).is_some() {
            return Err(Error::InvalidUtcb);
        }
        let (tcb_pa, node, utcb_pa) = self.thread_frames(to, utcb_va)?;
        // From here nothing fails. The UTCB's words (its id, CPU word, message and
        // buffer registers) first.
        // SAFETY: the old UTCB frame, still this thread's (kernel-allocated user
        // memory, a whole page), read while nothing writes it (kernel lock held).
        let old_words = unsafe { M::MEMORY.slice(old_utcb_pa, PAGE_SIZE as usize) };
        // SAFETY: the new UTCB frame, just allocated for this thread, a whole page,
        // distinct from the old one.
        unsafe { M::MEMORY.write_bytes(PhysAddr::new(utcb_pa), old_words) };
        if was_ready {
            self.unready(t);
        }
        let mut copy = self.tcb(t).expect("invariant: looked up above").clone();
        (copy.space, copy.ttbr0, copy.utcb_va, copy.utcb_pa, copy.memory_node) =
            (to, ttbr0, utcb_va, PhysAddr::new(utcb_pa), node);
        let old_tcb_pa = self.tcb_pa(t);
        // SAFETY: `tcb_pa` was allocated just above for this TCB alone; the thread table
        // owns it from here on (the old frame is forgotten in the same step).
        let ptr = unsafe { M::MEMORY.place(PhysAddr::new(tcb_pa), copy) };
        // Same owner (`tcb` above took its lock); `set_cpu` below moves it.
        let owner = self.threads.get(t).map_or(threads::NO_OWNER, |(_, o)| o);
        self.threads.set(t, ptr, owner);
        self.unmap_user(from, old_utcb_va);
        if let Some(old) = old_tcb_pa {
            self.free_for(from, Kmem::Tcb, old);
        }
        self.free_for(from, Kmem::Tcb, old_utcb_pa.raw());
        if let Some(s) = self.space(to) {
            s.threads += 1;
        }
        let left = self.space(from).map_or(0, |s| {
            s.threads = s.threads.saturating_sub(1);
            s.threads
        });
        if left == 0 {
            self.delete_space(from);
        }
        self.set_cpu(t, cpu);
        if was_ready {
            self.make_ready(t);
        }
        Ok(())
    }

    /// Places thread `t` (not running) on `cpu`, requeueing it there if it is ready.
    pub fn place(&mut self, t: u32, cpu: u32) {
        let ready = self.tcb(t).is_some_and(|tcb| tcb.state == ThreadState::Ready);
        if ready {
            self.unready(t);
        }
        self.set_cpu(t, cpu);
        if ready {
            self.make_ready(t);
        }
    }

    /// Deletes thread `t`, or, when it runs on another CPU, dooms it and makes that CPU
    /// enter the kernel to finish (the caller sees the thread gone at once: it can no
    /// longer be named, and its partners have their results).
    pub fn delete_thread(&mut self, t: u32) {
        if let Some(space) = self.delete_thread_keeping_space(t) {
            self.delete_space(space);
        }
    }

    /// [`Kernel::delete_thread`], but a space left without threads is not deleted:
    /// returned, for the caller to delete a mapping at a time
    /// ([`Kernel::delete_space_from`], then [`Kernel::destroy_space`]). (A thread
    /// running on another CPU is deleted there, with its space, whole.)
    pub fn delete_thread_keeping_space(&mut self, t: u32) -> Option<u16> {
        let m = self.machine;
        let tcb = self.tcb(t)?;
        let (state, cpu) = (tcb.state, tcb.cpu);
        if state == ThreadState::Running && cpu as usize != m.this_cpu() {
            tcb.doomed = true;
            if let Some(block) = m.cpu(cpu as usize) {
                m.wake(block);
            }
            return None;
        }
        self.destroy_thread_keeping_space(t)
    }

    /// Frees thread `t` now: partners get defined results, its memory goes back, and
    /// its space too if it was the last.
    fn destroy_thread(&mut self, t: u32) {
        if let Some(space) = self.destroy_thread_keeping_space(t) {
            self.delete_space(space);
        }
    }

    /// Frees thread `t` now; its space if that has no threads left (not deleted yet).
    fn destroy_thread_keeping_space(&mut self, t: u32) -> Option<u16> {
        let tcb = self.tcb(t)?;
        let (space, utcb_va, utcb_pa, id) = (tcb.space, tcb.utcb_va, tcb.utcb_pa, tcb.id());
        if tcb.state == ThreadState::Ready {
            self.unready(t);
        }
        self.disarm_timeout(t);
        // A call it stopped at a preemption point will not be made again.
        restart::forget(self, t);
        ipc::dequeue_anywhere(self, t);
        // Everyone waiting for this thread: senders queued on it, callers awaiting its
        // reply, threads whose fault it was to handle.
        for n in 1..self.thread_limit {
            if n == t {
                continue;
            }
            let Some(other) = self.tcb(n) else { continue };
            match other.state {
                ThreadState::SendBlocked { to, .. } if to == t => {
                    ipc::dequeue_anywhere(self, n);
                    ipc::cancel(self, n);
                }
                ThreadState::RecvBlocked { from: Some(from) } if from == t => ipc::cancel(self, n),
                ThreadState::FaultBlocked { handler, .. } if handler == t => {
                    let other_id = other.id();
                    self.machine.print(format_args!(
                        "warning: thread {other_id:#x} halted: its fault handler {id:#x} was deleted\n"
                    ));
                    ipc::dequeue_anywhere(self, n);
                    if let Some(o) = self.tcb(n) {
                        o.state = ThreadState::Halted;
                    }
                }
                _ => {}
            }
        }
        let m = self.machine;
        for block in m.cpus() {
            let Some(sched) = self.sched(block.index) else { continue };
            // Its registers die with it (the CPU's `fp_open`, if set, is closed at that
            // CPU's next dispatch: only the running owner has FP open).
            if sched.fp_owner == t {
                sched.fp_owner = 0;
            }
            if sched.current == t {
                sched.current = 0;
            }
        }
        self.machine.detach_all_interrupts(t);
        self.unmap_user(space, utcb_va);
        // Forget the TCB first, then give its frame back: no reference to it remains.
        let tcb_pa = self.tcb_pa(t);
        if self.threads.clear(t).is_some()
            && let Some(tcb_pa) = tcb_pa
        {
            self.free_for(space, Kmem::Tcb, tcb_pa);
        }
        self.free_for(space, Kmem::Tcb, utcb_pa.raw());
        let threads = self.space(space).map_or(0, |s| {
            s.threads = s.threads.saturating_sub(1);
            s.threads
        });
        (threads == 0).then_some(space)
    }

    /// Deletes a space without threads: every mapping it holds is revoked (with all
    /// derived from it, in every space), then its tables and ASID go.
    pub fn delete_space(&mut self, space: u16) {
        {
            let (machine, frames) = (self.machine, self.frames());
            let Kernel { mdb, spaces, .. } = self;
            mdb.delete_space(SpaceId::new(u32::from(space)), |r| revoke(machine, frames, spaces, r));
        }
        self.destroy_space(space);
    }

    /// One step of deleting `space` (without threads): its first mapping at or above
    /// `from` revoked, with all derived from it, looking at most
    /// [`DELETE_SCAN_PAGES`] pages of one last-level table far (and passing at most
    /// [`SCAN_TABLES`] missing tables to find that table); where the next step
    /// starts, or `None` when no table is left at or above `from` (then its tables go:
    /// [`Kernel::destroy_space_step`]).
    pub fn delete_space_from(&mut self, space: u16, from: u64) -> Option<u64> {
        let (found, span_end) = match self.next_span_within(space, from, abi::USER_ADDRESS_LIMIT, SCAN_TABLES)
        {
            Ok(span) => span?,
            Err(passed) => return Some(passed),
        };
        let end = span_end.min(found.saturating_add(DELETE_SCAN_PAGES * PAGE_SIZE));
        let (machine, frames) = (self.machine, self.frames());
        let Kernel { mdb, spaces, .. } = self;
        let sid = SpaceId::new(u32::from(space));
        Some(mdb.delete_space_from(sid, (found, end), |r| revoke(machine, frames, spaces, r)).unwrap_or(end))
    }

    /// One step of freeing the tables of `space` (without threads or mappings), whose
    /// tables below `from` are freed already: the next table with no tables below it;
    /// where the next step starts. When only the root is left, the space goes
    /// ([`Kernel::destroy_space`]): `None`.
    pub fn destroy_space_step(&mut self, space: u16, from: u64) -> Option<u64> {
        let root = self.space(space)?.root;
        let frames = self.frames();
        let mem = &mut UserTables::<M, _>::existing();
        let freed = table::free_one_table(mem, root, from, SCAN_TABLE_ENTRIES, |t| {
            // SAFETY: `t` is a table (with its shadow) of this space, which has no
            // threads and no mappings, and is unlinked from its parent: nothing
            // references it any more.
            let freed = unsafe { frames.free(t, 2) };
            freed.expect("invariant: a space's tables came from a node's pool and are freed once");
        });
        if freed.is_none() {
            // No table is left below the root (`free_one_table` found none).
            self.destroy_space_with(space, false);
        }
        freed
    }

    /// Places thread `t` on `cpu` (not running, not queued): the TCB and the
    /// UTCB's `cpu` word, which the thread may read; a timeout it waits with moves to
    /// that CPU's queue.
    pub fn set_cpu(&mut self, t: u32, cpu: u32) {
        let Some(deadline) = self.tcb(t).map(|tcb| tcb.deadline) else { return };
        self.disarm_timeout(t);
        // The new owner's lock too: the slot changes owner (`threads`' protocol).
        self.hold(cpu as usize);
        self.threads.set_owner(t, cpu);
        let Some(tcb) = self.tcb(t) else { return };
        tcb.cpu = cpu;
        tcb.move_to = None;
        // SAFETY: the UTCB frame is this thread's (user memory, kernel-allocated).
        unsafe { M::MEMORY.write_u64(tcb.utcb_pa + abi::utcb::CPU_OFFSET as u64, u64::from(cpu)) };
        if deadline != 0 {
            self.arm_timeout(t, deadline);
        }
    }

    /// Makes thread `t` ready on its CPU, waking that CPU if it is another. A timeout
    /// it waited with is over.
    pub fn make_ready(&mut self, t: u32) {
        self.disarm_timeout(t);
        let m = self.machine;
        let Some(mut tcb) = self.tcb(t) else { return };
        if let Some(to) = tcb.move_to {
            self.set_cpu(t, to);
            let Some(moved) = self.tcb(t) else { return };
            tcb = moved;
        }
        tcb.state = ThreadState::Ready;
        let (cpu, prio) = (tcb.cpu as usize, tcb.priority);
        let Some((sched, links)) = self.sched_links(cpu) else { return };
        let queued = sched.queues.push_back(links, t, prio);
        if queued.is_ok()
            && cpu != self.here
            && cpu != m.this_cpu()
            && let Some(block) = m.cpu(cpu)
        {
            m.wake(block);
        }
    }

    /// Takes thread `t` off its CPU's run queue if it is there.
    pub fn unready(&mut self, t: u32) {
        let Some(tcb) = self.tcb(t) else { return };
        let (cpu, prio) = (tcb.cpu, tcb.priority);
        if let Some((sched, links)) = self.sched_links(cpu as usize) {
            sched.queues.remove(links, t, prio);
        }
    }

    /// Chooses what `me` runs next, given that `current` was running (0: nothing).
    #[inline(always)]
    fn pick(&mut self, me: &PerCpu, current: u32, expired: bool) -> u32 {
        let (running, prio) = match self.tcb(current) {
            Some(t) if current != 0 && t.state == ThreadState::Running => (true, t.priority),
            _ => (false, 0),
        };
        let (sched, links) = self.sched_links(me.index).expect("invariant: a CPU has its block");
        if running {
            let preempt = sched.queues.highest().is_some_and(|h| h > prio || (expired && h == prio));
            if !preempt {
                return current;
            }
            let queued = sched.queues.push_back(links, current, prio);
            queued.expect("invariant: the running thread is on no run queue");
            if let Some(t) = self.tcb(current) {
                t.state = ThreadState::Ready;
            }
        }
        let (sched, links) = self.sched_links(me.index).expect("invariant: a CPU has its block");
        match sched.queues.pop_highest(links) {
            Some((t, _)) => t,
            None => 0,
        }
    }

    /// Lazy FP/SIMD switching, on the way out of the kernel on `me` to `next` (0: the
    /// CPU idles).
    ///
    /// **Invariant**: a thread's FP/SIMD state is in its TCB (`Tcb::fp`) whenever it
    /// is not running with EL0 FP open (`fp_open`) on a CPU. The registers of a CPU hold
    /// `fp_owner`'s state (equal to its TCB copy while FP is closed); no two CPUs name
    /// the same owner (`fp_trap` clears it elsewhere when it loads a thread).
    ///
    /// So leaving an owner that had FP open saves its registers (they may be newer),
    /// closes EL0 FP, and keeps it as the owner: if it is the next thread to run here,
    /// FP opens again without a load. Any other thread runs with FP closed until it
    /// uses FP, which traps (`fp_trap`) and loads its state. Threads that never touch
    /// FP (most IPC round trips) cost no FP work at all. Because the TCB copy is
    /// current whenever a thread is off a CPU, moving a thread to another CPU
    /// (`Schedule`), `ExchangeRegisters` and deletion need no FP care beyond
    /// `Kernel::destroy_thread` forgetting a deleted owner.
    #[inline(never)]
    fn fp_switch(&mut self, me: &PerCpu, next: u32) {
        let m = self.machine;
        let sched = self.sched(me.index).expect("invariant: a CPU has its block");
        if let Some(owner) = fp_handover(m, sched, next) {
            if let Some(old) = self.tcb(owner) {
                m.save_fp(&mut old.fp);
            }
            m.set_user_fp(false);
        }
    }

    /// Makes `next` the running thread of `me`: state, FP/SIMD registers, space, and
    /// `me.user_context` (the frame the way back to EL0 loads).
    fn dispatch(&mut self, me: &PerCpu, next: u32) {
        let m = self.machine;
        self.fp_switch(me, next);
        let (tcb, sched) = self.tcb_and_sched(next, me.index).expect("invariant: a picked thread exists");
        if tcb.slice_ticks == 0 {
            let us = u64::from(tcb.timeslice_us);
            tcb.slice_ticks = crate::thread::micros_to_ticks(us, m.counter_frequency());
        }
        let slice = tcb.slice_ticks;
        make_running(m, tcb, me, sched, next);
        time::start_slice(m, sched, next, slice);
    }

    /// The kernel's one entry from user mode (and for interrupts taken while a thread
    /// ran on `me`): the trap's work, then what `me` runs next.
    ///
    /// The thread's registers are already in its TCB (the vectors saved them there);
    /// on [`Next::User`] the thread this leaves for is named by `me.user_context`,
    /// which `Kernel::dispatch` set, with its space and FP state loaded. `events` is
    /// what the interrupts taken with the trap meant (default for other traps).
    pub fn trap(&mut self, me: &'static PerCpu, trap: Trap, events: Events) -> Next {
        self.enter(me);
        let mut current = self.sched(me.index).map_or(0, |s| s.current);
        // Deleted by another CPU while it ran here: finish the deletion now.
        if self.tcb(current).is_some_and(|t| t.doomed) {
            self.destroy_thread(current);
            current = 0;
        }
        if events.interrupts {
            ipc::deliver_interrupts(self);
        }
        let mut expired = false;
        if events.timer {
            // A deadline or the slice's end: whichever it was, handle all that is due.
            let now = self.machine.now();
            ipc::expire_timeouts(self, me, now);
            expired = current != 0 && self.sched(me.index).is_some_and(|s| now >= s.slice_end);
        }
        if trap.kind == Kind::Sync && current != 0 {
            let esr = self.tcb(current).map_or(0, |t| t.context.esr);
            match exception::class(esr) {
                0x15 => syscall::dispatch(self, current, (esr & 0xFFFF) as u16),
                0x20 | 0x24 => ipc::fault(self, current, FaultKind::Page),
                0x07 => fp_trap(self, me, current),
                _ => ipc::fault(self, current, FaultKind::Exception),
            }
        } else if trap.kind == Kind::SError || trap.kind == Kind::Fiq || trap.source == Source::Lower32 {
            ipc::fault(self, current, FaultKind::Exception);
        }
        if let Some(halt) = self.stop.take() {
            return Next::Stop(halt);
        }
        // Moved to another CPU by `Schedule` while it ran here: it goes there now.
        if self.tcb(current).is_some_and(|t| t.state == ThreadState::Running && t.move_to.is_some()) {
            self.make_ready(current);
            current = 0;
        }
        let next = self.pick(me, current, expired);
        if next == 0 {
            self.fp_switch(me, 0);
            if let Some(sched) = self.sched(me.index) {
                sched.current = 0;
            }
            self.machine.set_ttbr0(self.empty_ttbr0());
            self.end_slice(me);
            self.program_timer(me);
            return Next::Idle;
        }
        self.dispatch(me, next);
        self.program_timer(me);
        Next::User
    }

    /// A CPU with nothing to run, after an interrupt woke it: ends the waits on it
    /// that are due, delivers pending interrupts, and dispatches a ready thread if
    /// there is one. True: `me.user_context` names it, and the CPU enters user mode;
    /// false: it waits again, its timer set for its earliest timeout (or off).
    pub fn idle(&mut self, me: &'static PerCpu) -> bool {
        self.enter(me);
        let now = self.machine.now();
        ipc::expire_timeouts(self, me, now);
        ipc::deliver_interrupts(self);
        let next = self.pick(me, 0, false);
        if next == 0 {
            self.program_timer(me);
            return false;
        }
        self.dispatch(me, next);
        self.program_timer(me);
        true
    }

    /// Prepares the calling CPU for user threads: FP/SIMD closed to EL0 (its use traps:
    /// lazy switching, `fp_trap`), the empty lower half loaded.
    pub fn cpu_init(&self) {
        self.machine.set_user_fp(false);
        self.machine.set_ttbr0(self.empty_ttbr0());
    }
}

/// Makes thread `next` (its TCB `tcb`, its state and results already written) the
/// running thread of `me`, with `me`'s scheduler state locked by the caller: state,
/// `me.user_context` (the frame the way back to EL0 loads), its space. The FP/SIMD
/// registers are [`fp_handover`]'s; the slice the general path's (the fast
/// paths hand on the running one: `time`).
#[inline(always)]
fn make_running<M: Machine>(m: M, tcb: &mut Tcb, me: &PerCpu, sched: &mut CpuSched, next: u32) {
    tcb.state = ThreadState::Running;
    me.user_context.store(&raw mut tcb.context as u64, Ordering::Relaxed);
    m.set_ttbr0(tcb.ttbr0);
    sched.current = next;
}

/// The lazy FP/SIMD hand-over on the way out of the kernel on a CPU (its scheduler
/// state `sched`, locked by the caller) to `next` (0: the CPU idles); see
/// [`Kernel::fp_switch`]. `Some(owner)`: the registers hold `owner`'s newer state, which
/// the caller saves into `owner`'s TCB before it closes EL0 FP (`set_user_fp(false)`).
/// Inlined: a call on a fast path would make the compiler keep its live values in
/// callee-saved registers.
#[inline(always)]
fn fp_handover<M: Machine>(m: M, sched: &mut CpuSched, next: u32) -> Option<u32> {
    let (owner, open) = (sched.fp_owner, sched.fp_open);
    if owner == next {
        if !open && next != 0 {
            m.set_user_fp(true);
            sched.fp_open = true;
        }
        None
    } else if open {
        sched.fp_open = false;
        Some(owner)
    } else {
        None
    }
}

/// Applies one MDB revocation to the page tables: clears the page (or lowers its
/// rights) and invalidates it in every CPU's TLB.
fn revoke<M: Machine>(m: M, frames: &Frames, spaces: &mut [Option<Space>; MAX_SPACES], r: Revoked) {
    let Some(s) = spaces.get(r.space.raw() as usize).and_then(Option::as_ref) else { return };
    let (root, asid) = (s.root, s.asid);
    let mut mem = UserTables::<M, _>::existing();
    if table::unmap_page(&mut mem, root, r.va).is_some() && !r.rights.is_empty() {
        // Downgrade: the tables exist (the page was mapped), so this allocates nothing.
        let mapped = table::map(&mut mem, root, r.va, r.pa, PAGE_SIZE, mapdb::attrs_of(r.rights), false);
        mapped.expect("invariant: a page just unmapped has its tables: mapping it again needs none");
    }
    m.invalidate_page(asid, VirtAddr::new(r.va));
    if r.freed {
        // SAFETY: the MDB reported the owned frame's root removed after every mapping
        // derived from it, and each was cleared from its page table and invalidated
        // in every CPU's TLB (the machine waits for that) before this one; the kernel
        // keeps no other reference to a user frame beyond a system call, and this one
        // holds the kernel lock. Nobody can reach it.
        let freed = unsafe { frames.free(r.pa, 1) };
        freed.expect("invariant: an owned root's frame came from a node's pool and is freed once");
    }
}

/// The ABI error for an MDB refusal.
fn mdb_error(e: MdbError) -> Error {
    match e {
        MdbError::NoMemory | MdbError::QuotaExceeded => Error::OutOfMemory,
        _ => Error::MapRejected,
    }
}

/// User page attributes for the given rights (user pages are always readable).
pub fn user_attrs(write: bool, exec: bool) -> Attrs {
    Attrs { mem: MemType::Normal, write, kernel_exec: false, user: true, user_exec: exec }
}

/// EL0 used FP/SIMD while it was closed (EC 0x07): `current` gets its FP state loaded
/// and FP opened, then retries the instruction (ELR points at it). The registers hold
/// nothing newer than the TCB copy of their owner (FP was closed: see
/// [`Kernel::fp_switch`]), so they are overwritten without a save.
fn fp_trap<M: Machine>(k: &mut Kernel<M>, me: &PerCpu, current: u32) {
    {
        let Some(sched) = k.sched(me.index) else { return };
        if sched.fp_open && sched.fp_owner == current {
            return; // not a trap of ours (FP is open): the registers are current's
        }
    }
    let m = k.machine;
    let Some(t) = k.tcb(current) else { return };
    m.restore_fp(&t.fp);
    m.set_user_fp(true);
    for block in m.cpus() {
        let Some(sched) = k.sched(block.index) else { continue };
        if core::ptr::eq(block, me) {
            sched.fp_owner = current;
            sched.fp_open = true;
        } else if sched.fp_owner == current {
            // Its state there is stale from now on: never reuse it.
            sched.fp_owner = 0;
        }
    }
}
