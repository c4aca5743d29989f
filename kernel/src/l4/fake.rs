// SPDX-License-Identifier: MIT OR Apache-2.0
//! A fake machine for the L4 core's host tests, and a world to drive the kernel in.
//!
//! # The machine
//! [`Fake`] implements [`Machine`] over host memory: the frame allocator's "physical"
//! frames are host allocations (window offset 0, `Window::HOST`), one range per node,
//! so TCBs, UTCBs, translation tables and MDB entries live in real memory and the
//! kernel's code touches them exactly as on the target. What the hardware would do,
//! the fake records or models:
//!
//! - **a TLB**: [`World::touch`] (a user access) walks the space's tables the way the
//!   MMU would and caches the translation under the space's ASID; the kernel's
//!   invalidations remove entries. [`World::check`] then requires every cached entry
//!   to agree with the tables: a missing invalidation is a stale entry, found.
//! - **CPUs**: a `PerCpu` block per CPU of the board, which CPU runs the kernel now,
//!   each CPU's TTBR0, FP/SIMD registers and whether EL0 may use them;
//! - **SGIs**: every wake-up, by CPU;
//! - **the clock**: a counter the test advances ([`World::advance`]), and each CPU's
//!   one-shot kernel timer, which fires when the clock passes its deadline;
//! - **interrupts**: handlers, pending and masked lines, the user timer; and, for the
//!   preemption points (`l4::restart`), an interrupt that waits at every n-th time the
//!   kernel asks ([`World::preempt_every`]), with the page-table changes made between
//!   two questions counted ([`World::most_work_between_checks`]);
//! - **the console**: a string the test reads.
//!
//! # The world
//! [`World`] holds a `Kernel<Fake>` set up on the board of a QEMU `virt` machine with
//! two nodes of two CPUs (`platform/tests/fixtures/virt-2n2c.dtb`), its memory
//! replaced by the fake's, and a root task (a privileged space with one thread). A
//! test makes system calls as a thread ([`World::svc`]), faults ([`World::fault`]),
//! timer interrupts and device interrupts ([`World::tick`], [`World::irq`]), lets time
//! pass ([`World::advance`]), and after each step can
//! check every invariant of the kernel's state ([`World::check`]).
//!
//! What must hold: the fake decides nothing the kernel decides. It only runs the
//! kernel's entries the way the vectors would, and reports what the kernel asked of
//! the hardware.

use super::machine::{ArmError, AttachError, Machine};
use super::{Events, Kernel, Next, UserTables};
use crate::exception::{Kind, Source, Trap, TrapFrame};
use crate::ipc_fast::SVC0_ESR;
use crate::mdb::{EntryId, MdbStore, SpaceId};
use crate::mm::addr::{PhysAddr, VirtAddr};
use crate::mm::frames::Frames;
use crate::mm::phys::Window;
use crate::mm::table::{self, PAGE_SIZE};
use crate::percpu::PerCpu;
use crate::slab::SlabCache;
use crate::space::MAX_SPACES;
use crate::thread::{FpState, MAX_THREADS, ThreadState};
use abi::syscall::Syscall;
use core::cell::{Cell, RefCell};
use core::fmt;
use platform::{Board, MemoryRange, NodeId, PhysRange};
use std::collections::{BTreeMap, BTreeSet};
use std::string::String;
use std::vec::Vec;

/// What the fake hardware holds and records.
pub struct FakeState {
    cpus: Vec<&'static PerCpu>,
    this_cpu: Cell<usize>,
    now: Cell<u64>,
    /// Each CPU's kernel timer: the deadline it is set for (`u64::MAX`: off).
    timers: RefCell<Vec<u64>>,
    /// How often each CPU's kernel timer was set (or turned off).
    timer_sets: RefCell<Vec<u64>>,
    /// The TLB model: `(asid, page) -> (pa, writable)`.
    tlb: RefCell<BTreeMap<(u16, u64), (u64, bool)>>,
    /// Each CPU's TTBR0.
    ttbr0: RefCell<Vec<u64>>,
    /// Each CPU's FP/SIMD registers, and whether EL0 may use them.
    fp: RefCell<Vec<(FpState, bool)>>,
    /// SGIs sent, by target CPU index.
    wakes: RefCell<Vec<usize>>,
    /// Pages whose instructions were made visible.
    icache_syncs: Cell<u64>,
    output: RefCell<String>,
    irq: RefCell<FakeIrq>,
    /// An interrupt waits at every `preempt_every`-th preemption point (0: never).
    preempt_every: Cell<u64>,
    /// Preemption points passed (`Machine::interrupt_waiting` asked).
    checks: Cell<u64>,
    /// Page-table changes (`tables_changed`, `invalidate_page`) since the last
    /// preemption point, and the most between two.
    work: Cell<u64>,
    most_work: Cell<u64>,
}

/// The interrupt controller's routing as the kernel sees it.
#[derive(Default)]
struct FakeIrq {
    handlers: BTreeMap<u32, u32>,
    pending: BTreeSet<u32>,
    masked: BTreeSet<u32>,
    /// The CPU the user timer belongs to, and its deadline when armed.
    user_timer: Option<(usize, Option<u64>)>,
}

/// Interrupt lines the fake controller has (SPIs are 32..LINES).
pub const LINES: u32 = 96;
/// The fake counter's frequency: one tick per microsecond.
pub const FREQUENCY: u64 = 1_000_000;

/// The fake machine: a reference to its state (so it is `Copy`, as a `Machine` must
/// be).
#[derive(Clone, Copy)]
pub struct Fake(pub &'static FakeState);

impl Machine for Fake {
    const MEMORY: Window = Window::HOST;

    fn tables_changed(self) {
        self.0.work.set(self.0.work.get() + 1);
    }

    fn sync_icache(self, _pa: PhysAddr) {
        self.0.icache_syncs.set(self.0.icache_syncs.get() + 1);
    }

    fn invalidate_page(self, asid: u16, va: VirtAddr) {
        self.0.work.set(self.0.work.get() + 1);
        self.0.tlb.borrow_mut().remove(&(asid, va.page().raw()));
    }

    fn invalidate_asid(self, asid: u16) {
        self.0.tlb.borrow_mut().retain(|&(a, _), _| a != asid);
    }

    unsafe fn zero_frame(self, pa: PhysAddr) {
        // SAFETY: the caller's contract: a whole frame of host memory it owns.
        unsafe { Self::MEMORY.zero_frame(pa) };
    }

    fn this_cpu(self) -> usize {
        self.0.this_cpu.get()
    }

    fn set_ttbr0(self, value: u64) {
        self.0.ttbr0.borrow_mut()[self.this_cpu()] = value;
    }

    fn save_fp(self, state: &mut FpState) {
        *state = self.0.fp.borrow()[self.this_cpu()].0;
    }

    fn restore_fp(self, state: &FpState) {
        self.0.fp.borrow_mut()[self.this_cpu()].0 = *state;
    }

    fn set_user_fp(self, open: bool) {
        self.0.fp.borrow_mut()[self.this_cpu()].1 = open;
    }

    fn cpu(self, index: usize) -> Option<&'static PerCpu> {
        self.0.cpus.get(index).copied()
    }

    fn cpus(self) -> impl Iterator<Item = &'static PerCpu> {
        self.0.cpus.iter().copied()
    }

    fn wake(self, cpu: &PerCpu) {
        self.0.wakes.borrow_mut().push(cpu.index);
    }

    fn now(self) -> u64 {
        self.0.now.get()
    }

    fn counter_frequency(self) -> u64 {
        FREQUENCY
    }

    fn set_timer(self, deadline: u64) {
        let cpu = self.this_cpu();
        self.0.timers.borrow_mut()[cpu] = deadline;
        self.0.timer_sets.borrow_mut()[cpu] += 1;
    }

    fn interrupt_handler(self, intid: u32) -> Option<u32> {
        self.0.irq.borrow().handlers.get(&intid).copied()
    }

    fn unmask_interrupt(self, intid: u32) {
        self.0.irq.borrow_mut().masked.remove(&intid);
    }

    fn take_pending_interrupt(self, thread: u32) -> Option<u32> {
        let mut irq = self.0.irq.borrow_mut();
        let intid = irq.pending.iter().copied().find(|i| irq.handlers.get(i) == Some(&thread))?;
        irq.pending.remove(&intid);
        Some(intid)
    }

    fn pending_interrupts(self) -> impl Iterator<Item = (u32, u32)> {
        let irq = self.0.irq.borrow();
        let all: Vec<_> = irq.pending.iter().filter_map(|i| Some((*i, *irq.handlers.get(i)?))).collect();
        all.into_iter()
    }

    fn any_interrupt_pending(self) -> bool {
        !self.0.irq.borrow().pending.is_empty()
    }

    fn interrupt_waiting(self) -> bool {
        let s = self.0;
        s.most_work.set(s.most_work.get().max(s.work.replace(0)));
        s.checks.set(s.checks.get() + 1);
        s.preempt_every.get() != 0 && s.checks.get().is_multiple_of(s.preempt_every.get())
    }

    fn attach_interrupt(self, intid: u32, thread: u32, _mpidr: u64) -> Result<(), AttachError> {
        let mut irq = self.0.irq.borrow_mut();
        if intid != Self::USER_TIMER && !(32..LINES).contains(&intid) {
            return Err(AttachError::NotAnSpi);
        }
        match irq.handlers.get(&intid) {
            Some(&t) if t != thread => return Err(AttachError::Busy),
            _ => {}
        }
        irq.handlers.insert(intid, thread);
        if intid == Self::USER_TIMER {
            let cpu = self.this_cpu();
            irq.user_timer = Some((cpu, None));
        }
        Ok(())
    }

    fn detach_interrupt(self, intid: u32, thread: u32) -> bool {
        let mut irq = self.0.irq.borrow_mut();
        if irq.handlers.get(&intid) != Some(&thread) {
            return false;
        }
        irq.handlers.remove(&intid);
        irq.pending.remove(&intid);
        if intid == Self::USER_TIMER {
            irq.user_timer = None;
        }
        true
    }

    fn detach_all_interrupts(self, thread: u32) {
        let mine: Vec<u32> =
            self.0.irq.borrow().handlers.iter().filter(|&(_, &t)| t == thread).map(|(&i, _)| i).collect();
        for intid in mine {
            self.detach_interrupt(intid, thread);
        }
    }

    fn arm_user_timer(self, thread: u32, deadline: u64) -> Result<(), ArmError> {
        let mut irq = self.0.irq.borrow_mut();
        if irq.handlers.get(&Self::USER_TIMER) != Some(&thread) {
            return Err(ArmError::NotHandler);
        }
        match irq.user_timer {
            Some((cpu, _)) if cpu == self.this_cpu() => {
                irq.user_timer = Some((cpu, Some(deadline)));
                Ok(())
            }
            _ => Err(ArmError::WrongCpu),
        }
    }

    fn print(self, args: fmt::Arguments) {
        use fmt::Write;
        let _ = self.0.output.borrow_mut().write_fmt(args);
    }
}

/// Pages of fake RAM per node.
pub const PAGES_PER_NODE: u64 = 2048;

/// The root task's thread number and its UTCB, as the real kernel makes them.
pub const ROOT: u32 = abi::thread::ROOT_THREAD_NUMBER as u32;

/// The result of a system call made by [`World::svc`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The call returned: x0 (the status) and the results x1..x7.
    Done([u64; 8]),
    /// The caller waits (in an IPC): its state.
    Blocked(ThreadState),
    /// The kernel stopped the machine.
    Stopped(crate::halt::Halt),
}

impl Outcome {
    /// The status as an ABI result (panics if the call did not return).
    pub fn status(self) -> Result<(), abi::Error> {
        match self {
            Outcome::Done(r) => match abi::Error::from_code(r[0]) {
                Some(e) => Err(e),
                None => Ok(()),
            },
            other => panic!("the call did not return: {other:?}"),
        }
    }

    /// The registers of a call that returned (panics otherwise).
    pub fn regs(self) -> [u64; 8] {
        match self {
            Outcome::Done(r) => r,
            other => panic!("the call did not return: {other:?}"),
        }
    }
}

/// A kernel on the fake machine, with a root task.
pub struct World {
    /// The kernel.
    pub k: Box<Kernel<Fake>>,
    /// Its machine.
    pub m: Fake,
    /// Its frame allocator.
    pub frames: &'static Frames,
    /// The board it was handed.
    pub board: &'static Board<'static>,
    /// Each node's RAM.
    pub ram: Vec<PhysRange>,
    /// The root task's space.
    pub root_space: u16,
    /// Map replies on the fast path so far: every other one keeps the view of its CPU
    /// (the general lock was free), the others let it go first (it was not), so both
    /// ways of `fastpath::map_reply` run against the general path.
    pub map_replies: u64,
}

/// A zeroed, page-aligned piece of host memory that lives as long as the test
/// process (the kernel keeps `'static` references into it).
fn host_ram(pages: u64) -> PhysRange {
    let size = pages * PAGE_SIZE;
    // Aligned to its (power-of-two) size, so the buddy allocator can hand out blocks
    // of any order in it.
    let align = size.next_power_of_two();
    let backing: &'static mut [u8] = Vec::leak(vec![0u8; (size + align) as usize]);
    let base = (backing.as_ptr() as u64).next_multiple_of(align);
    PhysRange { base, size }
}

impl World {
    /// A kernel on a two-node, four-CPU machine ([`PAGES_PER_NODE`] pages per node),
    /// with the root task's thread running on CPU 0.
    pub fn new() -> World {
        World::with_pages(PAGES_PER_NODE)
    }

    /// As [`World::new`], with `pages` pages of RAM on each node.
    pub fn with_pages(pages: u64) -> World {
        let mut w = World::bare(pages);
        w.root_space = w.k.create_space(NodeId::ZERO, u64::MAX).expect("room for the root space");
        w.k.space(w.root_space).expect("just made").privileged = true;
        let root =
            w.k.create_thread_numbered_checked(ROOT, w.root_space, 0x20_0000, 0).expect("the root thread");
        w.k.tcb(root).expect("just made").set_priority(200);
        w.start(root, 0x40_0000, 0x38_0000);
        w.run(0);
        w
    }

    /// A kernel on the machine, set up (`Kernel::init`), with no space and no thread.
    pub fn bare(pages: u64) -> World {
        let blob = include_bytes!("../../../platform/tests/fixtures/virt-2n2c.dtb");
        let mut board = Box::new(Board::from_fdt(blob).expect("the fixture is a valid board"));
        let frames: &'static Frames = Box::leak(Box::new(Frames::with_window(Window::HOST)));
        frames.set_board_distances(&board);
        let mut ram = Vec::new();
        board.memory.clear();
        for node in [0, 1] {
            let node = NodeId::new(node).expect("a valid node id");
            let range = host_ram(pages);
            // SAFETY: `range` is host memory leaked for this allocator, used by nothing
            // else, and reachable at its own address (the host window).
            unsafe { frames.add_free(node, range) }.expect("fresh host memory");
            board.memory.push(MemoryRange { range, node }).expect("room for two ranges");
            ram.push(range);
        }
        let board: &'static Board<'static> = Box::leak(board);
        let cpus: Vec<&'static PerCpu> = board
            .cpus
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let block: &'static PerCpu =
                    Box::leak(Box::new(PerCpu::new(i, c.mpidr, c.node, c.node, (0, 0))));
                block.online.store(true, core::sync::atomic::Ordering::Release);
                block
            })
            .collect();
        let n = cpus.len();
        let state = Box::leak(Box::new(FakeState {
            cpus,
            this_cpu: Cell::new(0),
            now: Cell::new(1),
            timers: RefCell::new(vec![u64::MAX; n]),
            timer_sets: RefCell::new(vec![0; n]),
            tlb: RefCell::new(BTreeMap::new()),
            ttbr0: RefCell::new(vec![0; n]),
            fp: RefCell::new(vec![(FpState::default(), false); n]),
            wakes: RefCell::new(Vec::new()),
            icache_syncs: Cell::new(0),
            output: RefCell::new(String::new()),
            irq: RefCell::new(FakeIrq::default()),
            preempt_every: Cell::new(0),
            checks: Cell::new(0),
            work: Cell::new(0),
            most_work: Cell::new(0),
        }));
        let m = Fake(state);
        let entries: &'static SlabCache<'static> =
            Box::leak(Box::new(SlabCache::for_type::<crate::mdb::Entry>(frames)));
        let threads: &'static super::threads::Threads = Box::leak(Box::default());
        let mut k = Box::new(Kernel::new(m, threads));
        k.init(frames, entries, board, None, None).expect("the kernel's objects fit");
        for cpu in m.cpus() {
            m.0.this_cpu.set(cpu.index);
            k.cpu_init();
        }
        m.0.this_cpu.set(0);
        World { k, m, frames, board, ram, root_space: 0, map_replies: 0 }
    }

    /// The thread CPU `cpu` runs (0: none), as its scheduler state says.
    pub fn current(&mut self, cpu: usize) -> u32 {
        self.k.sched(cpu).expect("a CPU of the board").current
    }

    /// The id of thread `t`.
    pub fn id(&mut self, t: u32) -> u64 {
        self.k.tcb(t).map_or(0, |t| t.id())
    }

    /// Starts inactive thread `t` at `ip` with stack `sp` (as `ExchangeRegisters`
    /// would): it becomes ready.
    pub fn start(&mut self, t: u32, ip: u64, sp: u64) {
        let tcb = self.k.tcb(t).expect("a live thread");
        tcb.context = TrapFrame::user(ip, sp, tcb.utcb_va);
        self.k.make_ready(t);
    }

    /// Creates a thread in `space` on `cpu` with priority `prio`, its UTCB at `utcb`,
    /// started: ready to run.
    pub fn thread(&mut self, space: u16, utcb: u64, cpu: u32, prio: u8) -> u32 {
        let t = self.k.create_thread(space, utcb, cpu).expect("room for a thread");
        self.k.tcb(t).expect("just made").set_priority(prio);
        self.start(t, 0x40_1000, 0x30_0000);
        t
    }

    /// Makes the kernel's next operations run on `cpu` (as if that CPU made them).
    pub fn on_cpu(&mut self, cpu: usize) {
        self.m.0.this_cpu.set(cpu);
    }

    /// The thread running on `cpu` (after letting it pick one if it idles): 0 for none.
    pub fn run(&mut self, cpu: usize) -> u32 {
        let me = self.m.cpu(cpu).expect("a CPU of the board");
        self.m.0.this_cpu.set(cpu);
        let current = self.current(cpu);
        if current != 0 {
            return current;
        }
        self.k.idle(me);
        self.current(cpu)
    }

    /// Makes thread `t` (ready, or running) the running thread of its CPU, as if the
    /// scheduler had picked it; the thread running there before goes back to its run
    /// queue. Returns the CPU's block.
    pub fn enter(&mut self, t: u32) -> &'static PerCpu {
        let tcb = self.k.tcb(t).expect("a live thread");
        let (cpu, state) = (tcb.cpu as usize, tcb.state);
        let me = self.m.cpu(cpu).expect("a CPU of the board");
        self.m.0.this_cpu.set(cpu);
        let current = self.current(cpu);
        if current == t {
            return me;
        }
        assert_eq!(state, ThreadState::Ready, "only a ready thread can be made to run");
        if current != 0 {
            self.k.make_ready(current);
        }
        self.k.unready(t);
        self.k.dispatch(me, t);
        me
    }

    /// Thread `t` makes system call `call` with arguments `args` (x0..x7), through the
    /// general path ([`Kernel::trap`]).
    pub fn svc(&mut self, t: u32, call: Syscall, args: [u64; 8]) -> Outcome {
        let me = self.enter_svc(t, call, args);
        self.trap(t, me, Trap { source: Source::Lower64, kind: Kind::Sync }, Events::default())
    }

    /// Runs `t` and puts system call `call` with `args` in its registers, as the
    /// vectors leave them for the kernel: x0..x7, x8 the number, ESR an `svc #0`.
    fn enter_svc(&mut self, t: u32, call: Syscall, args: [u64; 8]) -> &'static PerCpu {
        let me = self.enter(t);
        let c = &mut self.k.tcb(t).expect("a live thread").context;
        c.x[..8].copy_from_slice(&args);
        c.x[8] = call.number();
        c.esr = SVC0_ESR;
        me
    }

    /// From now on an interrupt waits at every `n`-th preemption point the kernel
    /// passes (0: never), as if a device kept interrupting; a long call stops there
    /// ([`World::svc_restarting`] makes it again).
    pub fn preempt_every(&mut self, n: u64) {
        self.m.0.preempt_every.set(n);
        self.m.0.checks.set(0);
    }

    /// The most page-table changes (pages mapped or unmapped) the kernel made between
    /// two preemption points, or after the last one, since the previous call.
    pub fn most_work_between_checks(&mut self) -> u64 {
        let s = self.m.0;
        s.most_work.replace(0).max(s.work.replace(0))
    }

    /// As [`World::svc`], and again each time the kernel stopped the call at a
    /// preemption point (its return address set back onto the `svc`), as the thread
    /// would once the interrupt was served: the outcome, and how often the call was
    /// made again. A stopped call must leave x0..x7 as they were.
    pub fn svc_restarting(&mut self, t: u32, call: Syscall, args: [u64; 8]) -> (Outcome, u64) {
        const SVC_AT: u64 = 0x40_2000;
        let mut restarts = 0;
        loop {
            self.k.tcb(t).expect("a live thread").context.elr = SVC_AT + 4;
            let out = self.svc(t, call, args);
            if self.k.tcb(t).map(|tcb| tcb.context.elr) != Some(SVC_AT) {
                return (out, restarts);
            }
            assert_eq!(self.regs(t), args, "a stopped call leaves its registers as they were");
            restarts += 1;
            assert!(restarts < 1 << 20, "a call that stops makes progress each time");
        }
    }

    /// As [`World::svc`], through the IPC fast path first (as the entry assembly does):
    /// whether it took the call, and the outcome.
    pub fn svc_fast(&mut self, t: u32, call: Syscall, args: [u64; 8]) -> (bool, Outcome) {
        let me = self.enter_svc(t, call, args);
        // As on the target: the general path's operations are over (their CPU locks
        // let go), and the fast path takes only `me`'s lock; a map reply the general
        // lock (here: the kernel) with it, or first, having let it go.
        self.k.release_cpus();
        let done = match super::fastpath::svc(self.k.fast(), me) {
            super::fastpath::Taken::Done => true,
            super::fastpath::Taken::No => false,
            super::fastpath::Taken::MapReply(reply, local) => {
                self.map_replies += 1;
                let held = if self.map_replies.is_multiple_of(2) {
                    Some(local)
                } else {
                    drop(local);
                    None
                };
                let done = super::fastpath::map_reply(&mut self.k, me, reply, held);
                self.k.release_cpus();
                done
            }
        };
        if done {
            return (true, self.outcome(t));
        }
        (false, self.trap(t, me, Trap { source: Source::Lower64, kind: Kind::Sync }, Events::default()))
    }

    /// Thread `t` takes a page fault at `va` (a write when `write`), through the
    /// fault fast path first when `fast`.
    pub fn fault(&mut self, t: u32, va: u64, write: bool, fast: bool) -> Outcome {
        let me = self.enter(t);
        let c = &mut self.k.tcb(t).expect("a live thread").context;
        // A data abort from EL0 (EC 0x24), translation fault level 3, WnR for a write.
        c.esr = (0x24 << 26) | (1 << 25) | 0x07 | if write { 1 << 6 } else { 0 };
        c.far = va;
        self.k.release_cpus();
        if fast && super::fastpath::abort(self.k.fast(), me) {
            return self.outcome(t);
        }
        self.trap(t, me, Trap { source: Source::Lower64, kind: Kind::Sync }, Events::default())
    }

    /// Thread `t` takes an exception with syndrome `esr` (not a page fault or call).
    pub fn exception(&mut self, t: u32, esr: u64) -> Outcome {
        let me = self.enter(t);
        self.k.tcb(t).expect("a live thread").context.esr = esr;
        self.trap(t, me, Trap { source: Source::Lower64, kind: Kind::Sync }, Events::default())
    }

    /// `cpu`'s kernel timer interrupts (with what runs there, if anything), whether or
    /// not anything is due: the kernel handles what is and sets the timer again. (It
    /// stops when it fires, as the hardware's does.)
    pub fn tick(&mut self, cpu: usize) -> Next {
        let me = self.m.cpu(cpu).expect("a CPU of the board");
        self.m.0.this_cpu.set(cpu);
        self.m.0.timers.borrow_mut()[cpu] = u64::MAX;
        let events = Events { timer: true, interrupts: false };
        let next = self.k.trap(me, Trap { source: Source::Lower64, kind: Kind::Irq }, events);
        if next == Next::Idle {
            self.k.idle(me);
        }
        next
    }

    /// Device interrupt `intid` fires on `cpu`: masked and pending, as the
    /// interrupt controller's driver would make it, then the kernel is told.
    pub fn irq(&mut self, cpu: usize, intid: u32) -> Next {
        {
            let mut irq = self.m.0.irq.borrow_mut();
            if !irq.handlers.contains_key(&intid) {
                return Next::User;
            }
            irq.masked.insert(intid);
            irq.pending.insert(intid);
        }
        let me = self.m.cpu(cpu).expect("a CPU of the board");
        self.m.0.this_cpu.set(cpu);
        let events = Events { timer: false, interrupts: true };
        let next = self.k.trap(me, Trap { source: Source::Lower64, kind: Kind::Irq }, events);
        if next == Next::Idle {
            self.k.idle(me);
        }
        next
    }

    /// Whether `intid` is masked (raised, not yet acknowledged by its handler).
    pub fn masked(&self, intid: u32) -> bool {
        self.m.0.irq.borrow().masked.contains(&intid)
    }

    /// The user timer's CPU and deadline, if it has a handler.
    pub fn user_timer(&self) -> Option<(usize, Option<u64>)> {
        self.m.0.irq.borrow().user_timer
    }

    /// Advances the clock by `ticks` counter ticks; every CPU whose kernel timer is due
    /// by then takes its interrupt ([`World::tick`]), as the hardware's would.
    pub fn advance(&mut self, ticks: u64) {
        self.m.0.now.set(self.m.0.now.get() + ticks);
        self.fire_due_timers();
    }

    /// Every CPU whose kernel timer is due takes its interrupt (again, while one is:
    /// the kernel sets it for what comes next).
    pub fn fire_due_timers(&mut self) {
        for _round in 0..MAX_THREADS {
            let now = self.now();
            let due = self.m.0.timers.borrow().iter().position(|&d| d <= now);
            let Some(cpu) = due else { return };
            let back = self.m.this_cpu();
            self.tick(cpu);
            self.m.0.this_cpu.set(back);
        }
        panic!("a timer kept firing: the kernel sets it for a deadline that has passed");
    }

    /// The system counter now.
    pub fn now(&self) -> u64 {
        self.m.0.now.get()
    }

    /// What `cpu`'s kernel timer is set for (`u64::MAX`: off).
    pub fn timer(&self, cpu: usize) -> u64 {
        self.m.0.timers.borrow()[cpu]
    }

    /// How often `cpu`'s kernel timer was set since the last call (and forgets it).
    pub fn timer_sets(&self, cpu: usize) -> u64 {
        core::mem::take(&mut self.m.0.timer_sets.borrow_mut()[cpu])
    }

    fn trap(&mut self, t: u32, me: &'static PerCpu, trap: Trap, events: Events) -> Outcome {
        match self.k.trap(me, trap, events) {
            Next::Stop(halt) => Outcome::Stopped(halt),
            Next::Idle | Next::User => self.outcome(t),
        }
    }

    /// What thread `t` sees: its results if it can run (Ready or Running), else its
    /// state.
    pub fn outcome(&mut self, t: u32) -> Outcome {
        match self.k.tcb(t) {
            Some(tcb) if matches!(tcb.state, ThreadState::Ready | ThreadState::Running) => {
                Outcome::Done(tcb.context.x[..8].try_into().expect("eight registers"))
            }
            Some(tcb) => Outcome::Blocked(tcb.state),
            None => Outcome::Blocked(ThreadState::Halted),
        }
    }

    /// Thread `t`'s saved x0..x7.
    pub fn regs(&mut self, t: u32) -> [u64; 8] {
        self.k.tcb(t).expect("a live thread").context.x[..8].try_into().expect("eight registers")
    }

    /// Thread `t`'s state.
    pub fn state(&mut self, t: u32) -> ThreadState {
        self.k.tcb(t).expect("a live thread").state
    }

    /// Thread `t`'s space.
    pub fn space_of(&mut self, t: u32) -> u16 {
        self.k.tcb(t).expect("a live thread").space
    }

    /// Writes word `i` (MR i, or the buffer registers from `BR_OFFSET`) of `t`'s
    /// UTCB, as the thread would.
    pub fn write_utcb(&mut self, t: u32, offset: usize, value: u64) {
        let pa = self.k.tcb(t).expect("a live thread").utcb_pa;
        // SAFETY: `pa` is the thread's UTCB frame (host memory of this world) and the
        // offset is inside it.
        unsafe { Fake::MEMORY.write_u64(pa + offset as u64, value) };
    }

    /// Reads word at `offset` of `t`'s UTCB.
    pub fn read_utcb(&mut self, t: u32, offset: usize) -> u64 {
        let pa = self.k.tcb(t).expect("a live thread").utcb_pa;
        // SAFETY: as in `write_utcb`.
        unsafe { Fake::MEMORY.read_u64(pa + offset as u64) }
    }

    /// A user access by thread `t` to `va` (a write when `write`), as the MMU would
    /// make it: the translation, cached in the TLB model, or `None` (a fault).
    pub fn touch(&mut self, t: u32, va: u64, write: bool) -> Option<u64> {
        let space = self.space_of(t);
        let asid = self.k.space(space)?.asid;
        let page = va & !(PAGE_SIZE - 1);
        if let Some(&(pa, w)) = self.m.0.tlb.borrow().get(&(asid, page))
            && (w || !write)
        {
            return Some(pa + va % PAGE_SIZE);
        }
        let (pa, attrs) = self.k.translate_user(space, page)?;
        if write && !attrs.write {
            return None;
        }
        self.m.0.tlb.borrow_mut().insert((asid, page), (pa, attrs.write));
        Some(pa + va % PAGE_SIZE)
    }

    /// What the console printed so far (and forgets it).
    pub fn output(&self) -> String {
        core::mem::take(&mut *self.m.0.output.borrow_mut())
    }

    /// The CPUs woken by an SGI since the last call (and forgets them).
    pub fn wakes(&self) -> Vec<usize> {
        core::mem::take(&mut *self.m.0.wakes.borrow_mut())
    }

    /// Whether EL0 may use FP/SIMD on `cpu`, and the registers there.
    pub fn fp(&self, cpu: usize) -> (FpState, bool) {
        self.m.0.fp.borrow()[cpu]
    }

    /// Thread `t`, running on its CPU with EL0 FP open, writes `value` into its q0
    /// (what a user program using FP does to the CPU's registers).
    pub fn use_fp(&mut self, t: u32, value: u128) -> Outcome {
        let me = self.enter(t);
        if !self.fp(me.index).1 {
            // FP closed: the instruction traps (EC 0x07) and is retried.
            let outcome = self.exception(t, 0x07 << 26 | 1 << 25);
            assert!(matches!(outcome, Outcome::Done(_)), "an FP trap resumes the thread");
            assert!(self.fp(me.index).1, "the FP trap opened FP for the thread");
        }
        self.m.0.fp.borrow_mut()[me.index].0.q[0] = value;
        self.outcome(t)
    }

    /// The thread's FP/SIMD state as its program sees it: the CPU's registers while
    /// it runs with FP open, else its TCB copy.
    pub fn fp_of(&mut self, t: u32) -> u128 {
        let (cpu, running, saved) = {
            let tcb = self.k.tcb(t).expect("a live thread");
            (tcb.cpu as usize, tcb.state == ThreadState::Running, tcb.fp.q[0])
        };
        let (regs, open) = self.fp(cpu);
        let owner = self.k.sched(cpu).expect("a CPU").fp_owner;
        if running && open && owner == t { regs.q[0] } else { saved }
    }

    /// Every live thread's number.
    pub fn threads(&mut self) -> Vec<u32> {
        (1..MAX_THREADS as u32).filter(|&t| self.k.tcb(t).is_some()).collect()
    }

    /// Every live space's index.
    pub fn spaces(&mut self) -> Vec<u16> {
        (0..MAX_SPACES as u16).filter(|&s| self.k.space(s).is_some()).collect()
    }

    /// Every MDB entry of every live space.
    pub fn entries(&mut self) -> Vec<EntryId> {
        let mut all = Vec::new();
        for s in self.spaces() {
            let mut from = 0;
            while let Some((va, id)) =
                self.k.mdb.store().next_in_space(SpaceId::new(u32::from(s)), from, u64::MAX)
            {
                all.push(id);
                from = va + PAGE_SIZE;
            }
        }
        all
    }

    /// Checks every invariant of the kernel's state; panics with the first broken one.
    ///
    /// - scheduling: a `Running` thread is the current of exactly its CPU, a `Ready`
    ///   one is on a run queue, nothing else is queued;
    /// - IPC: a thread on a send queue waits to send to (or fault to) that thread,
    ///   once; each waiting sender is on its receiver's queue;
    /// - time: every CPU's timeout queue is a well-formed tree, and a thread has a
    ///   deadline exactly when it waits in an IPC and is in its own CPU's queue;
    /// - memory: every thread's TCB and UTCB are on its space's home node and the
    ///   UTCB is mapped at its address; the MDB's own invariants hold over every
    ///   entry, and every entry's page is mapped in its space's tables;
    /// - the TLB: every cached translation agrees with the tables (no stale entry
    ///   survives an unmap or a space's deletion).
    pub fn check(&mut self) {
        let threads = self.threads();
        let mut currents = BTreeMap::new();
        for cpu in self.m.cpus() {
            let current = self.current(cpu.index);
            if current != 0 {
                let tcb = self.k.tcb(current).expect("a CPU runs a live thread");
                assert_eq!(
                    tcb.state,
                    ThreadState::Running,
                    "CPU {}'s current {current} is running",
                    cpu.index
                );
                assert_eq!(tcb.cpu as usize, cpu.index, "thread {current} runs on its own CPU");
                currents.insert(current, cpu.index);
            }
        }
        let mut queued_on = BTreeMap::new();
        for &t in &threads {
            let tcb = self.k.tcb(t).expect("listed");
            let (state, send_queue, prio, base) =
                (tcb.state, tcb.send_queue, tcb.priority, tcb.base_priority);
            match state {
                ThreadState::Running => {
                    assert!(currents.contains_key(&t), "running thread {t} is some CPU's current")
                }
                _ => assert!(!currents.contains_key(&t), "thread {t} is current but {state:?}"),
            }
            assert_eq!(
                self.k.links.is_queued(t),
                state == ThreadState::Ready,
                "thread {t} is {state:?}: queued exactly when ready"
            );
            assert!(prio >= base, "thread {t} runs at its own priority or higher");
            let mut at = send_queue;
            let mut steps = 0;
            while at != 0 {
                steps += 1;
                assert!(steps <= threads.len(), "thread {t}'s send queue has no loop");
                assert!(queued_on.insert(at, t).is_none(), "thread {at} is on one send queue only");
                at = self.k.tcb(at).expect("a queued thread is live").send_next;
            }
        }
        for &t in &threads {
            let state = self.state(t);
            let waits_on = match state {
                ThreadState::SendBlocked { to, .. } => Some(to),
                ThreadState::FaultBlocked { handler, delivered: false, .. } => Some(handler),
                _ => None,
            };
            assert_eq!(
                queued_on.get(&t).copied(),
                waits_on,
                "thread {t} ({state:?}) is queued where it waits"
            );
        }
        for &t in &threads {
            let tcb = self.k.tcb(t).expect("listed");
            let (space, utcb_va, utcb_pa, memory_node) =
                (tcb.space, tcb.utcb_va, tcb.utcb_pa, tcb.memory_node);
            let tcb_pa = self.k.tcb_pa(t).expect("listed");
            let home = self.k.space(space).expect("a thread's space is live").home;
            assert_eq!(self.frames.node_of(tcb_pa), Some(home), "thread {t}'s TCB is on its home node");
            assert_eq!(
                self.frames.node_of(utcb_pa.raw()),
                Some(home),
                "thread {t}'s UTCB is on its home node"
            );
            assert_eq!(memory_node, home);
            assert_eq!(
                self.k.translate_user(space, utcb_va).map(|(pa, _)| pa),
                Some(utcb_pa.raw()),
                "UTCB of {t} mapped"
            );
        }
        for s in self.spaces() {
            let count = threads.iter().filter(|&&t| self.k.tcb(t).is_some_and(|tcb| tcb.space == s)).count();
            assert_eq!(self.k.space(s).expect("live").threads as usize, count, "space {s}'s thread count");
        }
        if let Err(why) = self.k.check_timeouts() {
            panic!("timeouts: {why}");
        }
        let entries = self.entries();
        if let Err(v) = self.k.mdb.check_invariants(&entries) {
            panic!("MDB invariant broken: {v:?}");
        }
        for &id in &entries {
            let e = self.k.mdb.entry(id);
            let (space, va, pa) = (e.space().raw() as u16, e.va(), e.pa());
            let mapped = self.k.translate_user(space, va).map(|(p, _)| p);
            assert_eq!(mapped, Some(pa), "MDB entry of space {space} at {va:#x} is mapped");
        }
        let tlb: Vec<_> = self.m.0.tlb.borrow().iter().map(|(&k, &v)| (k, v)).collect();
        for ((asid, va), (pa, write)) in tlb {
            let space =
                self.spaces().into_iter().find(|&s| self.k.space(s).is_some_and(|sp| sp.asid == asid));
            let Some(space) = space else { panic!("stale TLB entry of a dead ASID {asid} at {va:#x}") };
            let now = self.k.translate_user(space, va);
            let agrees = now.is_some_and(|(p, attrs)| p == pa && (attrs.write || !write));
            assert!(
                agrees,
                "stale TLB entry: space {space} {va:#x} -> {pa:#x} (write {write}), tables say {now:?}"
            );
        }
    }

    /// The pages `space` maps, with their frames, walking its tables.
    pub fn mappings(&mut self, space: u16) -> BTreeMap<u64, (u64, bool)> {
        let mut out = BTreeMap::new();
        let Some(root) = self.k.space(space).map(|s| s.root) else { return out };
        let mut at = 0;
        let mut mem = UserTables::<Fake, _>::existing();
        while let Some(found) = table::next_populated(&mut mem, root, at, abi::USER_ADDRESS_LIMIT) {
            let end = (found | (table::entry_span(2) - 1)) + 1;
            let mut va = found;
            while va < end {
                if let Some((pa, attrs)) = table::translate(&mut mem, root, va).filter(|(_, a)| a.user) {
                    out.insert(va, (pa, attrs.write));
                }
                va += PAGE_SIZE;
            }
            at = end;
        }
        out
    }

    /// Free bytes on every node.
    pub fn free(&self) -> [u64; 2] {
        [0, 1].map(|n| self.frames.free_bytes(NodeId::new(n).expect("a valid id")))
    }

    /// The MDB entry `space` holds at `va`.
    pub fn entry(&mut self, space: u16, va: u64) -> Option<EntryId> {
        self.k.mdb.lookup(SpaceId::new(u32::from(space)), va)
    }
}

impl Default for World {
    fn default() -> World {
        World::new()
    }
}

/// A small deterministic random number generator (xorshift), for the model tests.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (not 0).
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// The next 64 random bits.
    pub fn bits(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.bits() % n
    }

    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}
