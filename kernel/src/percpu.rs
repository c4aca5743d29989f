// SPDX-License-Identifier: MIT OR Apache-2.0
//! Per-CPU data: one block per CPU, in the memory of that CPU's own node.
//!
//! Everything a CPU touches on every interrupt or system call (its identity, its
//! stack, its interrupt-controller frame, its counters) lives in one `PerCpu` block
//! that the CPU finds through TPIDR_EL1 in a single instruction. The block is allocated
//! from the CPU's NUMA node (the nearest node with memory, for a memory-less node), so
//! the hottest kernel data of a CPU never crosses the interconnect. A registry indexed
//! by logical CPU number lets one CPU reach another's block (to wake it, to read its
//! counters for a report).
//!
//! The block begins with the [`SecondaryBoot`] hand-off that the starting CPU reads
//! with its MMU still off: the boot CPU fills it, cleans it to memory, and passes its
//! physical address to PSCI `CPU_ON`.
//!
//! # Invariants
//! - A registered block is never freed or moved: CPUs are never unplugged.
//! - `online` is set by the CPU itself once it runs on its own stack with its
//!   interrupt controller ready; nothing sends it interrupts before that.
#![forbid(unsafe_code)]

use crate::sched::RunQueues;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use platform::{MAX_CPUS, NodeId};

/// What a secondary CPU needs before its MMU is on: read by `secondary_entry`, in this
/// order (the assembly loads it with `ldp` at offsets 0, 16, 32).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SecondaryBoot {
    /// MAIR_EL1.
    pub mair: u64,
    /// TCR_EL1.
    pub tcr: u64,
    /// TTBR0_EL1: the identity map of the kernel text, for the switch.
    pub ttbr0: u64,
    /// TTBR1_EL1: the kernel's tables.
    pub ttbr1: u64,
    /// The CPU's stack top (kernel virtual address).
    pub stack_top: u64,
    /// The argument for `secondary_main`: the block's own virtual address.
    pub arg: u64,
}

/// One CPU's kernel data.
#[repr(C)]
#[derive(Debug)]
pub struct PerCpu {
    /// The MMU-off hand-off (must stay first: its physical address is the block's).
    pub handoff: SecondaryBoot,
    /// Logical CPU number (`/cpus` order).
    pub index: usize,
    /// MPIDR affinity.
    pub mpidr: u64,
    /// The CPU's NUMA node.
    pub node: NodeId,
    /// The node its memory (this block, its stack) came from.
    pub memory_node: NodeId,
    /// Kernel stack `[bottom, top)`.
    pub stack: (u64, u64),
    /// Virtual address of this CPU's GIC redistributor frame (0 until known).
    pub redistributor: AtomicUsize,
    /// Set by the boot CPU once the firmware accepted `CPU_ON` for it.
    pub launched: AtomicBool,
    /// Set by the CPU when it is up.
    pub online: AtomicBool,
    /// Set by the CPU when its kernel text, through the MMU, is on its memory node
    /// (`ktext::check_local`).
    pub ktext_local: AtomicBool,
    /// Kernel timer interrupts taken (deadlines and slice ends; the boot self-test
    /// fires one on every CPU).
    pub ticks: AtomicU64,

    /// Self-test pings received (SGI from the boot CPU).
    pub pings: AtomicU32,
    /// Self-test answers received (on the boot CPU).
    pub pongs: AtomicU32,
    /// Self-test checks run and failed on this CPU.
    pub checks: AtomicU32,
    /// Self-test checks failed on this CPU.
    pub failed: AtomicU32,
    /// Self-test probes that could not run: no free frame to place (a board with all
    /// its memory taken, by design of the test that gave it so little). Neither
    /// passed nor failed.
    pub unprobed: AtomicU32,
    /// This CPU's scheduler: ready threads and who runs (changed only under the
    /// kernel lock; the mutex makes that visible to the type system, uncontended).
    pub sched: crate::sync::Mutex<CpuSched>,
    /// Address of the saved registers (`Tcb::context`) of the thread this CPU runs or
    /// last ran at EL0: the user-entry vectors save a thread's registers straight into
    /// it and the way back to EL0 loads them from it (`arch::aarch64::trap`). Written
    /// by this CPU only (`dispatch`, kernel lock held); 0 before any thread ran.
    pub user_context: AtomicU64,
}

/// One CPU's scheduling state.
#[derive(Default)]
pub struct CpuSched {
    /// Ready threads by priority.
    pub queues: RunQueues,
    /// The thread running (its number), 0 when the CPU idles.
    pub current: u32,
    /// The thread whose FP/SIMD state the CPU's registers hold, 0 for none (lazy FP
    /// switching: see `l4::fp_trap`).
    pub fp_owner: u32,
    /// EL0 may use FP/SIMD now (CPACR_EL1.FPEN = 0b11): `fp_owner` runs and may change
    /// the registers, so they are newer than its TCB copy. Else EL0 FP use traps.
    pub fp_open: bool,
    /// Threads that wait here with a timeout, by deadline (`l4::time`).
    pub timeouts: crate::timeouts::Queue,
    /// The thread whose time slice runs (0: none), and when the slice ends (system
    /// counter). IPC on the fast path hands the slice on with the CPU: the partner
    /// runs on what is left of it.
    pub slice_owner: u32,
    /// The end of the current slice (`u64::MAX`: none).
    pub slice_end: u64,
    /// What this CPU's kernel timer is set for (`u64::MAX`: off), so that setting it
    /// again to the same deadline costs nothing. After it fires the kernel always
    /// sets a later one (everything due by then has been handled).
    pub timer_at: u64,
    /// How often this CPU's fast paths ran (under this lock, which they hold: plain
    /// counters), for `Introspect`'s `FastPaths`.
    pub fast: abi::introspect::FastPaths,
}

impl core::fmt::Debug for CpuSched {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CpuSched").field("ready", &self.queues.len()).field("current", &self.current).finish()
    }
}

impl PerCpu {
    /// A fresh block for CPU `index`.
    pub fn new(index: usize, mpidr: u64, node: NodeId, memory_node: NodeId, stack: (u64, u64)) -> PerCpu {
        PerCpu {
            handoff: SecondaryBoot::default(),
            index,
            mpidr,
            node,
            memory_node,
            stack,
            redistributor: AtomicUsize::new(0),
            launched: AtomicBool::new(false),
            online: AtomicBool::new(false),
            ktext_local: AtomicBool::new(false),
            ticks: AtomicU64::new(0),

            pings: AtomicU32::new(0),
            pongs: AtomicU32::new(0),
            checks: AtomicU32::new(0),
            failed: AtomicU32::new(0),
            unprobed: AtomicU32::new(0),
            sched: crate::sync::Mutex::new(CpuSched {
                queues: RunQueues::new(),
                current: 0,
                fp_owner: 0,
                fp_open: false,
                timeouts: crate::timeouts::Queue::new(),
                slice_owner: 0,
                slice_end: u64::MAX,
                timer_at: u64::MAX,
                fast: abi::introspect::FastPaths { ipc: 0, map_replies: 0, faults: 0 },
            }),
            user_context: AtomicU64::new(0),
        }
    }

    /// Records one self-test check.
    pub fn check(&self, ok: bool) -> bool {
        self.checks.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }
}

/// The registry: CPU `i`'s block, once installed.
static CPUS: [spin::Once<&'static PerCpu>; MAX_CPUS] = [const { spin::Once::new() }; MAX_CPUS];

/// One more than the highest index installed: [`all`] looks no further (it runs
/// with the general lock held and interrupts masked, as when a thread is deleted).
static INSTALLED: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Makes `block` CPU `block.index`'s data, for good.
pub fn install(block: &'static PerCpu) {
    let mut fresh = false;
    CPUS[block.index].call_once(|| {
        fresh = true;
        block
    });
    assert!(fresh, "invariant: one per-CPU block per CPU");
    INSTALLED.fetch_max(block.index + 1, core::sync::atomic::Ordering::AcqRel);
}

/// CPU `index`'s data, once installed.
pub fn get(index: usize) -> Option<&'static PerCpu> {
    CPUS.get(index)?.get().copied()
}

/// Every registered CPU, in index order.
pub fn all() -> impl Iterator<Item = &'static PerCpu> {
    (0..INSTALLED.load(core::sync::atomic::Ordering::Acquire).min(MAX_CPUS)).filter_map(get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handoff_block_has_the_layout_the_assembly_reads() {
        assert_eq!(core::mem::offset_of!(PerCpu, handoff), 0);
        assert_eq!(core::mem::offset_of!(SecondaryBoot, mair), 0);
        assert_eq!(core::mem::offset_of!(SecondaryBoot, tcr), 8);
        assert_eq!(core::mem::offset_of!(SecondaryBoot, ttbr0), 16);
        assert_eq!(core::mem::offset_of!(SecondaryBoot, ttbr1), 24);
        assert_eq!(core::mem::offset_of!(SecondaryBoot, stack_top), 32);
        assert_eq!(core::mem::offset_of!(SecondaryBoot, arg), 40);
        assert!(core::mem::size_of::<PerCpu>() <= 4096, "one frame per CPU");
    }

    #[test]
    fn registered_blocks_are_found_by_index_and_counted_checks_add_up() {
        let block: &'static PerCpu =
            Box::leak(Box::new(PerCpu::new(7, 0x107, NodeId::ZERO, NodeId::ZERO, (0, 0))));
        install(block);
        assert!(core::ptr::eq(get(7).unwrap(), block));
        assert!(get(8).is_none());
        assert!(get(MAX_CPUS).is_none());
        block.check(true);
        block.check(false);
        assert_eq!(block.checks.load(Ordering::Relaxed), 2);
        assert_eq!(block.failed.load(Ordering::Relaxed), 1);
        assert!(all().any(|b| b.index == 7));
    }
}
