// SPDX-License-Identifier: MIT OR Apache-2.0
//! Interrupts: the GIC (v3 or v2), each CPU's one-shot kernel timer, and SGIs between
//! CPUs.
//!
//! The boot CPU maps the interrupt controller the device tree (or ACPI's MADT) names
//! and sets its distributor up; every CPU then prepares its own part and fires its
//! generic timer once (the boot self-test counts that every CPU's timer works). There
//! is no periodic tick: the L4 core sets each CPU's timer for its next deadline or
//! slice end ([`set_deadline`], `l4::time`), and an idle CPU with nothing due has its
//! timer off. On a GICv3 that part is the CPU's redistributor
//! (found by MPIDR, across all regions) and its system-register CPU interface
//! (`arch::gic`); on a GICv2 (GIC-400: the Raspberry Pi 4, most Cortex-A53/A72 boards)
//! it is the distributor's banked SGI/PPI registers and the memory-mapped CPU
//! interface, and the CPU records its CPU-interface bit, by which a GICv2 names CPUs
//! where a GICv3 uses the MPIDR ([`Controller`]). Software-generated interrupts (SGIs) are the
//! inter-processor interrupts: the boot self-test's ping and pong, and
//! [`SGI_RESCHEDULE`], which wakes a CPU that a thread became ready on (an IPC partner,
//! a thread that a `Notify` from another node woke).
//!
//! The kernel is not preemptible: interrupts are taken only where a CPU waits
//! (`arch::cpu::wait_for_interrupt`), so a handler never interrupts kernel work.
//!
//! # References
//! GICv3/v4 architecture specification (IHI 0069H): 2.2 (INTID ranges), 12 (the CPU
//! interface); GICv2 architecture specification (IHI 0048B): 4.3 (`GICD_ITARGETSR`,
//! `GICD_SGIR`), 4.4 (`GICC_IAR`, `GICC_EOIR`); Arm ARM D11 (generic timer).

use crate::arch::{cpu, gic, tables, timer};
use crate::kprintln;
use crate::pending::PendingSet;
use crate::percpu::{self, PerCpu};
use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use core::time::Duration;
use platform::gicv2;
use platform::gicv3::{self, GicError, Redistributor};
use platform::{Board, FixedVec, Gic};
use spin::Once;

/// SGI the boot CPU sends to each CPU in the self-test.
pub const SGI_PING: u32 = 1;
/// SGI a CPU answers a ping with.
pub const SGI_PONG: u32 = 2;
/// SGI that tells a CPU a thread became ready on it.
pub const SGI_RESCHEDULE: u32 = 3;

/// What the interrupts just handled mean for the scheduler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events {
    /// This CPU's kernel timer fired.
    pub timer: bool,
    /// Another CPU made a thread ready here.
    pub reschedule: bool,
    /// A device interrupt for a user-level handler is pending.
    pub interrupts: bool,
}

/// The largest INTID the GIC can route as an SPI (exclusive).
const SPI_LIMIT: usize = 1020;
/// Per SPI: the thread number of its user-level handler (0: none).
static HANDLERS: [AtomicU32; SPI_LIMIT] = [const { AtomicU32::new(0) }; SPI_LIMIT];
/// One more than the highest SPI ever attached: [`detach_all`] looks no further.
static ATTACHED_LIMIT: AtomicU32 = AtomicU32::new(32);
/// SPIs (and the user timer) raised, masked, and not yet delivered to their handler:
/// counted, so [`any_pending`], on the IPC fast path, is one load, and summarised, so
/// a visit reads only the words with a bit set (`crate::pending`).
static PENDING: PendingSet<{ SPI_LIMIT.div_ceil(64) }> = PendingSet::new();

/// Marks SPI `i` pending.
fn set_pending(i: usize) {
    PENDING.set(i);
}

/// Clears SPI `i`'s pending bit; whether it was set.
fn clear_pending(i: usize) -> bool {
    PENDING.clear(i)
}
/// Why an interrupt could not be attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachError {
    /// Not an SPI the distributor implements (or no interrupt controller).
    NotAnSpi,
    /// Another thread handles it.
    Busy,
}

/// Makes thread `thread` (on the CPU with affinity `mpidr`) the handler of SPI
/// `intid`: routes it there, unmasks it.
pub fn attach(intid: u32, thread: u32, mpidr: u64) -> Result<(), AttachError> {
    if intid == USER_TIMER {
        if !INTERRUPTS.get().is_some_and(|irqs| irqs.user_timer) {
            return Err(AttachError::NotAnSpi);
        }
        match HANDLERS[USER_TIMER as usize].compare_exchange(0, thread, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {}
            Err(t) if t == thread => {}
            Err(_) => return Err(AttachError::Busy),
        }
        USER_TIMER_MPIDR.store(mpidr, Ordering::Release);
        return Ok(());
    }
    let gic = &INTERRUPTS.get().ok_or(AttachError::NotAnSpi)?.controller;
    let i = intid as usize;
    if !(32..SPI_LIMIT).contains(&i) || intid >= gic.interrupt_lines() {
        return Err(AttachError::NotAnSpi);
    }
    // Raised before the handler is stored: `detach_all` never misses it.
    ATTACHED_LIMIT.fetch_max(intid + 1, Ordering::AcqRel);
    match HANDLERS[i].compare_exchange(0, thread, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {}
        Err(t) if t == thread => {}
        Err(_) => return Err(AttachError::Busy),
    }
    let routed = gic.route_spi(intid, mpidr).and_then(|()| gic.enable_spi(intid));
    routed.map_err(|_| AttachError::NotAnSpi)
}

/// Detaches SPI `intid` from `thread`: masked, forgotten. `false` if `thread` did not
/// handle it.
pub fn detach(intid: u32, thread: u32) -> bool {
    let i = intid as usize;
    if i >= SPI_LIMIT || HANDLERS[i].compare_exchange(thread, 0, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return false;
    }
    if intid == USER_TIMER {
        // Stopped here if it is this CPU's; elsewhere it fires at most once more, and
        // the interrupt handler stops it then.
        if USER_TIMER_MPIDR.load(Ordering::Acquire) == cpu::mpidr() {
            timer::disarm_user();
        }
    } else if let Some(irqs) = INTERRUPTS.get() {
        let _ = irqs.controller.disable_spi(intid);
    }
    clear_pending(i);
    true
}

/// Forgets every interrupt `thread` handles (it is being deleted): the user timer and
/// the SPIs up to the highest ever attached.
pub fn detach_all(thread: u32) {
    let limit = ATTACHED_LIMIT.load(Ordering::Acquire).min(SPI_LIMIT as u32);
    for intid in core::iter::once(USER_TIMER).chain(32..limit) {
        if HANDLERS[intid as usize].load(Ordering::Acquire) == thread {
            detach(intid, thread);
        }
    }
}

/// The handler thread of SPI `intid`, if any.
pub fn handler_of(intid: u32) -> Option<u32> {
    let t = HANDLERS.get(intid as usize)?.load(Ordering::Acquire);
    (t != 0).then_some(t)
}

/// Unmasks SPI `intid` again: its handler acknowledged it. (The user timer needs no
/// unmasking: it fires again when it is armed again.)
pub fn unmask(intid: u32) {
    if intid < 32 {
        return;
    }
    if let Some(irqs) = INTERRUPTS.get() {
        let _ = irqs.controller.enable_spi(intid);
    }
}

/// Whether any SPI waits to be delivered (to any handler). The IPC fast path leaves
/// open receives to the general path while one does.
pub fn any_pending() -> bool {
    PENDING.any()
}

/// Takes one pending SPI whose handler is `thread`, if there is one.
pub fn take_pending(thread: u32) -> Option<u32> {
    let taken = PENDING.take(|i| HANDLERS.get(i).is_some_and(|h| h.load(Ordering::Acquire) == thread));
    taken.map(|i| i as u32)
}

/// Every SPI pending now, with its handler: `(intid, thread)`. Every idle CPU asks
/// after every interrupt, so this visits only set bits, and only the words the set's
/// summary names, and nothing at all when the count says none is pending (bit by bit,
/// the 988 SPIs cost 8000 instructions per wake-up; word by word, 210 of each
/// interrupt's latency).
pub fn pending() -> impl Iterator<Item = (u32, u32)> {
    PENDING.iter().filter_map(|i| {
        let intid = i as u32;
        if user_intid(intid) { handler_of(intid).map(|t| (intid, t)) } else { None }
    })
}
/// When each CPU's timer fires once at start, for the self-test that it works.
const FIRST_FIRE: Duration = Duration::from_millis(1);

/// The interrupt controller, mapped and set up by [`init`].
enum Controller {
    /// A GICv3: the distributor, and the redistributor regions every CPU searches for
    /// its own frame; CPU interfaces are system registers (`arch::gic`).
    V3 {
        dist: gicv3::Distributor,
        /// Mapped redistributor regions: (virtual address, length).
        redistributors: FixedVec<(usize, usize), { platform::board::MAX_REDIST_REGIONS }>,
    },
    /// A GICv2: the distributor (its SGI/PPI part banked per CPU), the CPU interface
    /// (one address, banked per CPU), and which CPU-interface bit each CPU is.
    V2 { dist: gicv2::Distributor, cpu: gicv2::CpuInterface, targets: Targets },
}

/// A GICv2 names CPUs by CPU-interface bit, not by MPIDR: each CPU records its pair
/// here when it prepares its interrupts (at most eight CPUs: the GICv2 limit).
struct Targets {
    mpidr: [AtomicU64; gicv2::MAX_CPU_INTERFACES],
    mask: [AtomicU8; gicv2::MAX_CPU_INTERFACES],
}

impl Targets {
    const fn new() -> Targets {
        Targets {
            mpidr: [const { AtomicU64::new(u64::MAX) }; gicv2::MAX_CPU_INTERFACES],
            mask: [const { AtomicU8::new(0) }; gicv2::MAX_CPU_INTERFACES],
        }
    }

    /// Records the calling CPU's bit (its slot is the bit's number).
    fn record(&self, mpidr: u64, mask: u8) {
        let slot = mask.trailing_zeros() as usize % gicv2::MAX_CPU_INTERFACES;
        self.mask[slot].store(mask, Ordering::Relaxed);
        self.mpidr[slot].store(mpidr, Ordering::Release);
    }

    /// The CPU-interface bit of the CPU `mpidr` (0: not recorded yet).
    fn mask_of(&self, mpidr: u64) -> u8 {
        let slot = self.mpidr.iter().position(|m| m.load(Ordering::Acquire) == mpidr);
        slot.map_or(0, |s| self.mask[s].load(Ordering::Relaxed))
    }
}

impl Controller {
    fn interrupt_lines(&self) -> u32 {
        match self {
            Controller::V3 { dist, .. } => dist.interrupt_lines(),
            Controller::V2 { dist, .. } => dist.interrupt_lines(),
        }
    }

    fn enable_spi(&self, intid: u32) -> Result<(), GicError> {
        match self {
            Controller::V3 { dist, .. } => dist.enable_spi(intid),
            Controller::V2 { dist, .. } => dist.enable_spi(intid),
        }
    }

    fn disable_spi(&self, intid: u32) -> Result<(), GicError> {
        match self {
            Controller::V3 { dist, .. } => dist.disable_spi(intid),
            Controller::V2 { dist, .. } => dist.disable_spi(intid),
        }
    }

    /// Sends SPI `intid` to the CPU `mpidr` only.
    fn route_spi(&self, intid: u32, mpidr: u64) -> Result<(), GicError> {
        match self {
            Controller::V3 { dist, .. } => dist.route_spi(intid, mpidr),
            Controller::V2 { dist, targets, .. } => dist.route_spi(intid, targets.mask_of(mpidr)),
        }
    }

    /// Acknowledges this CPU's most urgent interrupt: its INTID and the value that ends
    /// it (the same on a GICv3; on a GICv2 the raw `GICC_IAR`, sender included).
    fn acknowledge(&self) -> (u32, u32) {
        match self {
            Controller::V3 { .. } => {
                let intid = gic::acknowledge();
                (intid, intid)
            }
            Controller::V2 { cpu, .. } => {
                let ack = cpu.acknowledge();
                (ack.intid, ack.raw)
            }
        }
    }

    fn end_of_interrupt(&self, raw: u32) {
        match self {
            Controller::V3 { .. } => gic::end_of_interrupt(raw),
            Controller::V2 { cpu, .. } => cpu.end_of_interrupt(gicv2::Acknowledged::from_iar(raw)),
        }
    }
}

/// What every CPU needs to find and drive its part of the GIC and its timer.
struct Interrupts {
    /// The controller.
    controller: Controller,
    /// INTID of the EL1 physical timer.
    timer_intid: u32,
    /// Counter ticks from a CPU's start to its timer's first (self-test) interrupt.
    first_fire: u64,
    /// The board's virtual timer is [`USER_TIMER`]: user-level handlers may have it.
    user_timer: bool,
}

/// The user timer: the EL1 virtual timer's PPI, which the kernel leaves to one
/// user-level handler (`abi::syscall::USER_TIMER_INTID`). A PPI is per CPU: attached,
/// it belongs to the handler's CPU ([`USER_TIMER_MPIDR`]); every CPU enables it in its
/// redistributor at boot, with the timer itself off, so only an armed timer fires.
pub const USER_TIMER: u32 = abi::syscall::USER_TIMER_INTID;
/// MPIDR of the CPU the user timer belongs to (valid while it has a handler).
static USER_TIMER_MPIDR: AtomicU64 = AtomicU64::new(u64::MAX);

/// Whether `intid` can have a user-level handler at all: an SPI below the GIC's limit,
/// or the user timer.
fn user_intid(intid: u32) -> bool {
    intid == USER_TIMER || (32..SPI_LIMIT as u32).contains(&intid)
}

/// Why the user timer could not be armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArmError {
    /// It has no handler, or another one: the thread named is not its handler.
    NotHandler,
    /// The caller runs on another CPU than the timer's.
    WrongCpu,
}

/// Arms the user timer (this CPU's virtual timer) for `thread`, its handler, to fire
/// at `deadline` (virtual count).
pub fn arm_user_timer(thread: u32, deadline: u64) -> Result<(), ArmError> {
    if handler_of(USER_TIMER) != Some(thread) {
        return Err(ArmError::NotHandler);
    }
    if USER_TIMER_MPIDR.load(Ordering::Acquire) != cpu::mpidr() {
        return Err(ArmError::WrongCpu);
    }
    timer::arm_user(deadline);
    Ok(())
}

static INTERRUPTS: Once<Interrupts> = Once::new();
/// MPIDR of the boot CPU, which pongs go to.
static BOOT_MPIDR: AtomicU64 = AtomicU64::new(0);

/// Why interrupts could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqError {
    /// The board names no interrupt controller the kernel drives (GICv2 or GICv3).
    NoGic,
    /// The board has no usable timer description.
    NoTimer,
    /// The counter frequency is unusable.
    BadFrequency,
    /// The GIC registers could not be mapped.
    Map,
    /// The distributor did not respond.
    Distributor(GicError),
}

/// Sets up the distributor; called once, on the boot CPU, before any CPU's
/// [`init_this_cpu`].
pub fn init(board: &Board) -> Result<(), IrqError> {
    let gic = board.gic.ok_or(IrqError::NoGic)?;
    let timer_desc = board.timer.ok_or(IrqError::NoTimer)?;
    let ppi = timer_desc.phys_ppi.ok_or(IrqError::NoTimer)?;
    let frequency = platform::timer::choose_frequency(timer::cntfrq(), timer_desc.clock_frequency)
        .map_err(|_| IrqError::BadFrequency)?;
    let map = |r: platform::PhysRange| tables::map_device(r.base, r.size).map_err(|_| IrqError::Map);
    BOOT_MPIDR.store(cpu::mpidr(), Ordering::Relaxed);
    let controller = match gic {
        Gic::V3 { distributor, redistributors } => {
            let dist_va = map(distributor)?;
            let mut regions = FixedVec::new();
            for region in redistributors.iter() {
                // The capacity matches the board's, so this cannot fail.
                let _ = regions.push((map(*region)? as usize, region.size as usize));
            }
            // SAFETY: `dist_va` maps the distributor the device tree names, as device
            // memory, for good; this is the only `Distributor` ever made for it.
            let mut dist = unsafe { gicv3::Distributor::new(dist_va as usize) };
            dist.init(cpu::mpidr()).map_err(IrqError::Distributor)?;
            Controller::V3 { dist, redistributors: regions }
        }
        Gic::V2 { distributor, cpu_interface } => {
            let size = |r: platform::PhysRange, least: usize| platform::PhysRange {
                base: r.base,
                size: r.size.max(least as u64),
            };
            let dist_va = map(size(distributor, gicv2::GICD_SIZE))?;
            let cpu_va = map(size(cpu_interface, gicv2::GICC_SIZE))?;
            // SAFETY: `dist_va` maps the distributor the device tree names, as device
            // memory, for good, at least GICD_SIZE bytes; the only driver made for it.
            let mut dist = unsafe { gicv2::Distributor::new(dist_va as usize) };
            // SAFETY: likewise for the CPU interface, at least GICC_SIZE bytes.
            let cpu = unsafe { gicv2::CpuInterface::new(cpu_va as usize) };
            dist.init(dist.this_cpu_mask());
            Controller::V2 { dist, cpu, targets: Targets::new() }
        }
    };
    let timer_intid = gicv3::ppi_to_intid(ppi).map_err(|_| IrqError::NoTimer)?;
    let first_fire =
        platform::timer::ticks_per_period(frequency, FIRST_FIRE).map_err(|_| IrqError::BadFrequency)?;
    let user_timer = timer_desc.virt_ppi.and_then(|p| gicv3::ppi_to_intid(p).ok()) == Some(USER_TIMER);
    INTERRUPTS.call_once(|| Interrupts { controller, timer_intid, first_fire, user_timer });
    Ok(())
}

/// Sets up this CPU's part of the GIC (redistributor or banked registers, CPU
/// interface) and fires its timer once (the self-test's). Without [`init`] having succeeded, the CPU runs without
/// interrupts.
pub fn init_this_cpu(block: &PerCpu) {
    let Some(irqs) = INTERRUPTS.get() else { return };
    let user_timer = irqs.user_timer.then_some(USER_TIMER);
    let wanted = [SGI_PING, SGI_PONG, SGI_RESCHEDULE, irqs.timer_intid].into_iter().chain(user_timer);
    // The user timer: off at its source until armed, enabled in the GIC.
    timer::disarm_user();
    match &irqs.controller {
        Controller::V3 { redistributors, .. } => {
            // SAFETY: the regions are the device tree's redistributor regions, mapped as
            // device memory for good by `init`; each CPU uses only the frame whose
            // affinity is its own.
            let found = unsafe { Redistributor::find(redistributors.as_slice(), block.mpidr) };
            let Some(mut redist) = found else {
                kprintln!("warning: cpu {} (mpidr {:#x}): no GIC redistributor", block.index, block.mpidr);
                return;
            };
            if let Err(err) = redist.init_cpu() {
                kprintln!("warning: cpu {}: redistributor did not wake: {err:?}", block.index);
                return;
            }
            for intid in wanted {
                if let Err(err) = redist.enable_ppi_or_sgi(intid) {
                    kprintln!("warning: cpu {}: interrupt {intid} not enabled: {err:?}", block.index);
                }
            }
            block.redistributor.store(redist.base(), Ordering::Relaxed);
            gic::init_cpu_interface();
        }
        Controller::V2 { dist, cpu, targets } => {
            targets.record(block.mpidr, dist.this_cpu_mask());
            dist.init_this_cpu();
            for intid in wanted {
                if let Err(err) = dist.enable_private(intid) {
                    kprintln!("warning: cpu {}: interrupt {intid} not enabled: {err:?}", block.index);
                }
            }
            cpu.init_this_cpu();
        }
    }
    timer::arm(irqs.first_fire);
}

/// Sets this CPU's kernel timer to fire once when the system counter reaches
/// `deadline` (at once if it has); `u64::MAX` turns it off (the L4 core's
/// `Machine::set_timer`).
pub fn set_deadline(deadline: u64) {
    if deadline == u64::MAX {
        timer::disarm();
    } else {
        timer::arm_at(deadline);
    }
}

/// Sends SGI `sgi` to the CPU with affinity `mpidr` (nothing without an interrupt
/// controller: no CPU then waits for one).
pub fn send_sgi(sgi: u32, mpidr: u64) {
    let sent = match INTERRUPTS.get().map(|irqs| &irqs.controller) {
        Some(Controller::V3 { .. }) => gicv3::sgi1r_value(sgi, mpidr).map(gic::send_sgi),
        Some(Controller::V2 { dist, targets, .. }) => {
            // The SGI must not overtake the memory writes it announces (GICD_SGIR is a
            // device write: order it after them).
            cpu::barrier_before_device_write();
            dist.send_sgi(sgi, targets.mask_of(mpidr))
        }
        None => Ok(()),
    };
    if let Err(err) = sent {
        kprintln!("warning: SGI {sgi} to mpidr {mpidr:#x} not sent: {err:?}");
    }
}

/// Handles every pending interrupt of this CPU; called from the IRQ vector. Returns
/// what the scheduler must know.
pub fn handle() -> Events {
    let mut events = Events::default();
    let Some(irqs) = INTERRUPTS.get() else { return events };
    let me = cpu::this_percpu();
    let gic = &irqs.controller;
    loop {
        let (intid, raw) = gic.acknowledge();
        if gicv3::is_spurious(intid) {
            return events;
        }
        match (intid, me) {
            (t, Some(me)) if t == irqs.timer_intid => {
                // One-shot: stopped here (its level would fire again at once); the L4
                // core sets it again for whatever is due next.
                me.ticks.fetch_add(1, Ordering::Relaxed);
                timer::disarm();
                events.timer = true;
            }
            (SGI_RESCHEDULE, _) => events.reschedule = true,
            (USER_TIMER, _) => {
                // Fires once per arming: stopped at its source, then delivered to its
                // handler if it has one and this is its CPU.
                timer::disarm_user();
                if handler_of(USER_TIMER).is_some() && USER_TIMER_MPIDR.load(Ordering::Acquire) == cpu::mpidr() {
                    set_pending(USER_TIMER as usize);
                    events.interrupts = true;
                }
            }
            (spi, _) if handler_of(spi).is_some() => {
                // A user-level driver's interrupt: mask it until the handler has seen
                // it and acknowledged, then tell the kernel to deliver it.
                let _ = gic.disable_spi(spi);
                let i = spi as usize;
                set_pending(i);
                events.interrupts = true;
            }
            (SGI_PING, Some(me)) => {
                me.pings.fetch_add(1, Ordering::Release);
                send_sgi(SGI_PONG, BOOT_MPIDR.load(Ordering::Relaxed));
            }
            (SGI_PONG, Some(me)) => {
                me.pongs.fetch_add(1, Ordering::Release);
            }
            (other, _) => kprintln!("warning: unexpected interrupt {other} on mpidr {:#x}", cpu::mpidr()),
        }
        gic.end_of_interrupt(raw);
    }
}

/// Total kernel timer interrupts over all CPUs (for reports).
pub fn total_ticks() -> u64 {
    percpu::all().map(|b| b.ticks.load(Ordering::Relaxed)).sum()
}
