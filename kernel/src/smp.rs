// SPDX-License-Identifier: MIT OR Apache-2.0
//! Every CPU up, each on its own node: per-CPU data, stacks, PSCI `CPU_ON` or
//! spin-table, self-test.
//!
//! The boot CPU prepares each other CPU before starting it: a per-CPU block and a
//! kernel stack from that CPU's NUMA node (the nearest node with memory when its own
//! has none), the stack mapped in the CPU's slot of the stack region with an unmapped
//! guard below it. It then starts the CPU the way its device-tree node says
//! (`enable-method`), and waits for the CPU to say it is online:
//!
//! - **PSCI**: the firmware is asked (`CPU_ON`) to start the CPU at `secondary_entry`
//!   (`arch::boot`) with the block's physical address in x0.
//! - **spin-table** (the Raspberry Pi and other boards without PSCI firmware): the CPU
//!   already runs, in the firmware's loop that waits in `wfe` until its
//!   `cpu-release-addr` word is non-zero and then jumps there with nothing in x0. The
//!   boot CPU records (MPIDR, block) in a table the CPU searches by its own MPIDR
//!   (`spin_table_entry` in `arch::boot`), cleans that entry to the point of coherency
//!   (the waiting CPU reads with its caches off), writes the entry point's physical
//!   address to the release word, cleans it too, and wakes the CPU with `sev`. The
//!   release word's page is never handed to the frame allocator (`memory::init`): the
//!   firmware's loop usually lives beside it.
//!
//! A CPU that the firmware refuses to start, or that never reports, is named by MPIDR
//! and error; the others carry on.
//!
//! Each CPU then checks its own NUMA placement (see [`selftest`]): frames it allocates
//! on its node lie in that node's memory, and its stack and per-CPU block really are
//! there, as the MMU translates them, independently of the allocator's bookkeeping.
//!
//! # Invariants
//! - A CPU receives no interrupt before it sets `online` (its redistributor and CPU
//!   interface are ready by then).
//! - The per-CPU block and stack of a CPU are never freed (no CPU hot-unplug).

use crate::arch::{boot as arch_boot, cpu, tables, timer};
use crate::mm::frames::Frames;
use crate::mm::layout::{self, STACK_SIZE, direct_map, stack_of};
use crate::mm::table::{Attrs, PAGE_SIZE};
use crate::percpu::{self, PerCpu, SecondaryBoot};
use crate::psci::{self, PsciError};
use crate::{irq, kprintln};
use core::sync::atomic::{AtomicUsize, Ordering};
use crate::mm::placement::{memory_node_for, node_of_pa};
use platform::{Board, EnableMethod};

/// Why a CPU could not be prepared or started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartError {
    /// No memory for its block or stack, on any node.
    NoMemory,
    /// Its stack could not be mapped.
    Map,
    /// The firmware refused `CPU_ON`.
    Psci(PsciError),
    /// The board names no PSCI firmware, so secondaries cannot be started.
    NoPsci,
    /// The CPU has no enable method the kernel knows (the boot's support check stops
    /// before this on a device tree; kept for the record).
    NoEnableMethod,
    /// Its spin-table release address is not 8-byte aligned, or cannot be mapped.
    BadReleaseAddress(u64),
    /// It was started but did not report online in time.
    Timeout,
}

/// How many secondaries reported online.
static ONLINE: AtomicUsize = AtomicUsize::new(1);

/// Allocates and maps CPU `index`'s block and stack on its node, and installs them.
pub fn prepare(board: &Board, frames: &Frames, index: usize) -> Result<&'static PerCpu, StartError> {
    let cpu = board.cpus[index];
    let (block_pa, memory_node) = frames.alloc_near(cpu.node, 1).map_err(|_| StartError::NoMemory)?;
    let stack_frames = (STACK_SIZE / PAGE_SIZE) as usize;
    let (stack_pa, _) = frames.alloc_near(cpu.node, stack_frames).map_err(|_| StartError::NoMemory)?;
    let stack = stack_of(index);
    tables::map_kernel(stack.0, stack_pa, STACK_SIZE, Attrs::KERNEL_RW, false)
        .map_err(|_| StartError::Map)?;
    let mut block = PerCpu::new(index, cpu.mpidr, cpu.node, memory_node, stack);
    block.handoff = SecondaryBoot {
        mair: layout::MAIR_EL1,
        tcr: arch_boot::tcr(),
        ttbr0: arch_boot::IDENTITY_ROOT.load(Ordering::Relaxed),
        ttbr1: tables::kernel_root(memory_node),
        stack_top: stack.1,
        arg: direct_map(block_pa),
    };
    // SAFETY: `block_pa` was allocated just above for this block alone, and per-CPU
    // blocks are never freed.
    let block = unsafe { tables::place_percpu(block_pa, block) };
    percpu::install(block);
    Ok(block)
}

/// Starts every CPU but the boot CPU; returns how many are online in all.
pub fn start_secondaries(board: &Board, frames: &Frames) -> usize {
    let boot_mpidr = cpu::mpidr();
    let mut started = 0;
    for index in 0..board.cpus.len() {
        let mpidr = board.cpus[index].mpidr;
        if mpidr == boot_mpidr {
            continue;
        }
        match start(board, frames, index) {
            Ok(()) => started += 1,
            Err(err) => report_failure(index, mpidr, err),
        }
    }
    // Wait for the started CPUs, with a timeout in counter time (generous: under
    // emulation on a loaded host a CPU can take long to come up).
    let deadline = timer::now() + timer::cntfrq().saturating_mul(10);
    while ONLINE.load(Ordering::Acquire) < started + 1 && timer::now() < deadline {
        crate::sync::relax();
    }
    for block in percpu::all() {
        // Only CPUs the firmware accepted: a refused one was reported already.
        if block.launched.load(Ordering::Relaxed) && !block.online.load(Ordering::Acquire) {
            report_failure(block.index, block.mpidr, StartError::Timeout);
        }
    }
    ONLINE.load(Ordering::Acquire)
}

/// Prepares CPU `index` and starts it by its enable method.
fn start(board: &Board, frames: &Frames, index: usize) -> Result<(), StartError> {
    let method = board.cpus[index].enable_method;
    // Decode, then act: nothing is allocated for a CPU that cannot be started.
    let psci = match method {
        EnableMethod::Psci => Some(board.psci.as_ref().ok_or(StartError::NoPsci)?),
        EnableMethod::SpinTable { release_addr } if !release_addr.is_multiple_of(8) => {
            return Err(StartError::BadReleaseAddress(release_addr));
        }
        EnableMethod::SpinTable { .. } => None,
        EnableMethod::None => return Err(StartError::NoEnableMethod),
    };
    let block = prepare(board, frames, index)?;
    // The CPU reads its hand-off with the MMU and caches off: push it to memory.
    cpu::clean_to_poc(block as *const PerCpu as u64, core::mem::size_of::<SecondaryBoot>() as u64);
    let handoff = tables::percpu_pa(block);
    match (psci, method) {
        (Some(psci), _) => {
            let entry = arch_boot::secondary_entry_pa();
            let ret = cpu::psci_call(psci.conduit, psci.cpu_on, block.mpidr, entry, handoff);
            psci::result(ret).map_err(StartError::Psci)?;
        }
        (None, EnableMethod::SpinTable { release_addr }) => {
            arch_boot::spin_table_handoff(index, block.mpidr, handoff);
            let in_ram = board.memory.iter().any(|m| m.range.contains(release_addr) && m.range.contains(release_addr + 7));
            arch_boot::spin_table_release(release_addr, arch_boot::spin_table_entry_pa(), in_ram)
                .map_err(|_| StartError::BadReleaseAddress(release_addr))?;
        }
        (None, _) => return Err(StartError::NoEnableMethod),
    }
    block.launched.store(true, Ordering::Relaxed);
    Ok(())
}

fn report_failure(index: usize, mpidr: u64, err: StartError) {
    match err {
        StartError::Psci(e) => kprintln!(
            "warning: cpu {index} (mpidr {mpidr:#x}) did not start: PSCI CPU_ON returned {} ({})",
            e.code(),
            e.name()
        ),
        other => kprintln!("warning: cpu {index} (mpidr {mpidr:#x}) did not start: {other:?}"),
    }
}

/// Called by a secondary CPU (`boot`'s `secondary_main`) once it runs on its own
/// stack with its interrupt controller ready: it may be sent interrupts from now on.
pub fn came_online(block: &PerCpu) {
    block.online.store(true, Ordering::Release);
    ONLINE.fetch_add(1, Ordering::AcqRel);
}

/// The NUMA self-test one CPU runs on itself: where its memory really is.
///
/// 1. A frame allocated near the CPU's node comes from the node that should serve it
///    (the node itself, or the nearest with memory), and lies in that node's memory.
/// 2. The CPU's stack, as the MMU translates it, lies in that node's memory.
/// 3. So does its per-CPU block.
pub fn selftest(board: &Board, frames: &Frames, block: &PerCpu) {
    let want = memory_node_for(board, block.node);
    match frames.alloc_near(block.node, 1) {
        Ok((pa, node)) => {
            block.check(Some(node) == want && node_of_pa(board, pa) == want);
            // SAFETY: `pa` is the one frame allocated just above, used for nothing.
            let freed = unsafe { frames.free(pa, 1) };
            block.check(freed.is_ok());
        }
        // No frame anywhere: the probe cannot run, which says nothing about placement.
        Err(_) => {
            block.unprobed.fetch_add(1, Ordering::Relaxed);
        }
    }
    let probe = 0u64;
    let sp = &raw const probe as u64;
    let on_own_stack = (block.stack.0..block.stack.1).contains(&sp);
    block.check(on_own_stack && cpu::translate(sp).and_then(|pa| node_of_pa(board, pa)) == want);
    let block_va = block as *const PerCpu as u64;
    block.check(cpu::translate(block_va).and_then(|pa| node_of_pa(board, pa)) == want);
}

/// The boot CPU's side of the ping test: an SGI to every other online CPU in turn,
/// each answering with an SGI back; returns (answered, asked).
///
/// One CPU at a time: with affinity routing a GICv3 does not track SGI pending state
/// per sender, so answers from several CPUs at once could merge into one interrupt.
pub fn ping_all(me: &PerCpu) -> (usize, usize) {
    let (mut answered, mut asked) = (0, 0);
    for block in percpu::all() {
        if block.index == me.index || !block.online.load(Ordering::Acquire) {
            continue;
        }
        asked += 1;
        let pongs = me.pongs.load(Ordering::Acquire);
        let pings = block.pings.load(Ordering::Acquire);
        irq::send_sgi(irq::SGI_PING, block.mpidr);
        let deadline = timer::now() + timer::cntfrq().saturating_mul(2);
        // The timer wakes this wait at its deadline: there is no tick to do it.
        irq::set_deadline(deadline);
        while me.pongs.load(Ordering::Acquire) == pongs && timer::now() < deadline {
            cpu::wait_for_interrupt();
        }
        irq::set_deadline(u64::MAX);
        let ok = me.pongs.load(Ordering::Acquire) > pongs && block.pings.load(Ordering::Acquire) > pings;
        if me.check(ok) {
            answered += 1;
        } else {
            kprintln!("warning: cpu {} (mpidr {:#x}) did not answer the ping", block.index, block.mpidr);
        }
    }
    (answered, asked)
}

/// Checks that every online CPU's timer fires (each fires once as it starts: the
/// kernel is tickless after that): the boot CPU first waits through `embedded-hal`'s
/// `DelayNs` on the system counter, then (interrupts open) until every online CPU has
/// counted its interrupt; returns how many CPUs' timers fired.
pub fn check_ticks(me: &PerCpu) -> (usize, usize) {
    use embedded_hal::delay::DelayNs;
    let online = || percpu::all().filter(|b| b.online.load(Ordering::Acquire) || b.index == me.index);
    if let Ok(mut delay) = platform::timer::Delay::new(timer::Counter { frequency: timer::cntfrq() }) {
        delay.delay_ms(2);
    }
    let deadline = timer::now() + timer::cntfrq();
    if me.ticks.load(Ordering::Relaxed) == 0 {
        // Its first interrupt was superseded by a wait's deadline (`ping_all`): fire
        // it now, the same test of the same timer.
        irq::set_deadline(timer::now());
    }
    let waiting = || online().any(|b| b.ticks.load(Ordering::Relaxed) == 0);
    while waiting() && timer::now() < deadline {
        // The timer wakes this wait at its deadline (there is no tick to do it); set
        // again after each interrupt, since this CPU's own first one stops it.
        irq::set_deadline(deadline);
        cpu::wait_for_interrupt();
    }
    irq::set_deadline(u64::MAX);
    let (mut ticking, mut total) = (0, 0);
    for block in online() {
        total += 1;
        if me.check(block.ticks.load(Ordering::Relaxed) > 0) {
            ticking += 1;
        } else {
            kprintln!("warning: cpu {} (mpidr {:#x}): no timer tick", block.index, block.mpidr);
        }
    }
    (ticking, total)
}

