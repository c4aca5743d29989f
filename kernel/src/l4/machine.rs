// SPDX-License-Identifier: MIT OR Apache-2.0
//! What the L4 core needs from the machine it runs on: the one seam between the
//! kernel's logic and the hardware.
//!
//! # Why
//! IPC, thread and space lifecycle, map/grant/unmap, timeouts, scheduling decisions and
//! every system call's checks are logic. They touch the hardware only at a few points:
//! physical memory through the direct map, TLB and cache maintenance, this CPU's
//! TTBR0 and FP/SIMD registers, an SGI to wake another CPU, the system counter, the
//! interrupt controller's routing for user-level drivers, the CPU's one-shot kernel
//! timer, whether an interrupt waits while the kernel runs masked, and the console. [`Machine`]
//! names exactly those points, so [`super::Kernel`] is generic over it: on the target
//! it is `crate::machine::Aarch64` (a zero-sized type whose methods are the
//! instructions, inlined: the fast paths compile to what they were before the seam),
//! and in the host tests it is `super::fake::Fake`, which records what the kernel did
//! (TLB invalidations, SGIs, output) and keeps a model TLB to check against.
//!
//! The L4 core never names `crate::arch`, `crate::irq`, `crate::boot` or the console:
//! everything it needs from them comes through this trait (and the frame allocator
//! and the board, handed to [`super::Kernel::init`]).
//!
//! # What must hold
//! - A `Machine` is `Copy` (the target's is zero-sized; the fake's is a reference), so
//!   kernel code takes a copy before it borrows a TCB out of the kernel.
//! - [`Machine::MEMORY`] is the window the frame allocator handed to the kernel uses
//!   (`Kernel::init` checks it).
//! - Nothing here may fail in a way a user could cause: the interrupt operations
//!   return the reasons the ABI turns into errors.

use crate::mm::addr::{PhysAddr, VirtAddr};
use crate::mm::phys::Window;
use crate::percpu::PerCpu;
use crate::thread::FpState;
use core::fmt;

/// Why an interrupt could not be attached to a handler thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachError {
    /// Not an SPI the interrupt controller implements (nor the user timer).
    NotAnSpi,
    /// Another thread handles it.
    Busy,
}

/// Why the user timer could not be armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArmError {
    /// The thread named is not the user timer's handler.
    NotHandler,
    /// The caller runs on another CPU than the timer's.
    WrongCpu,
}

/// The hardware the L4 core runs on (see the module documentation).
pub trait Machine: Copy {
    /// How the kernel reaches physical memory: TCBs, UTCBs, translation tables, MDB
    /// shadow pages and the frames it zeroes for user level.
    const MEMORY: Window;
    /// The user timer's interrupt number (`abi::syscall::USER_TIMER_INTID`).
    const USER_TIMER: u32 = abi::syscall::USER_TIMER_INTID;

    // --- Translation tables, TLBs and caches ---

    /// New translation-table entries (that were invalid before) become visible to the
    /// table walkers before the next return to user mode.
    fn tables_changed(self);
    /// Instructions written to the frame at `pa` become visible to instruction fetch
    /// on every CPU (before the frame is first mapped executable).
    fn sync_icache(self, pa: PhysAddr);
    /// Every CPU forgets its TLB entries for user page `va` of address space `asid`.
    fn invalidate_page(self, asid: u16, va: VirtAddr);
    /// Every CPU forgets its TLB entries of address space `asid` (before it is reused).
    fn invalidate_asid(self, asid: u16);

    /// Zeroes the frame at `pa` (the fastest way the CPU has: a long call zeroes a
    /// frame between two preemption points, `super::restart`).
    ///
    /// # Safety
    /// `pa` must be a whole frame of RAM reachable through [`Machine::MEMORY`] that the
    /// caller owns (just allocated, referenced by nothing).
    unsafe fn zero_frame(self, pa: PhysAddr);

    // --- This CPU ---

    /// The logical index of the CPU running this code.
    fn this_cpu(self) -> usize;
    /// Loads TTBR0 (the user half: a space's root table and ASID).
    fn set_ttbr0(self, value: u64);
    /// Saves this CPU's FP/SIMD registers into `state`.
    fn save_fp(self, state: &mut FpState);
    /// Loads this CPU's FP/SIMD registers from `state`.
    fn restore_fp(self, state: &FpState);
    /// Opens FP/SIMD to user mode (`true`), or makes its use trap (`false`).
    fn set_user_fp(self, open: bool);

    // --- Every CPU ---

    /// CPU `index`'s block, once it exists.
    fn cpu(self, index: usize) -> Option<&'static PerCpu>;
    /// Every CPU's block, in index order.
    fn cpus(self) -> impl Iterator<Item = &'static PerCpu>;
    /// Interrupts `cpu` (an SGI) so that it looks at its run queue.
    fn wake(self, cpu: &PerCpu);

    // --- Time ---

    /// The system counter.
    fn now(self) -> u64;
    /// The system counter's frequency, in Hz.
    fn counter_frequency(self) -> u64;
    /// Sets this CPU's kernel timer to interrupt once the system counter reaches
    /// `deadline` (at once if it has); `u64::MAX` turns it off. One-shot: the timer
    /// stops when it fires, and the kernel sets it again for what comes next.
    fn set_timer(self, deadline: u64);

    // --- Interrupts delivered to user-level handlers ---

    /// The handler thread of interrupt `intid`, if it has one.
    fn interrupt_handler(self, intid: u32) -> Option<u32>;
    /// Unmasks interrupt `intid` again: its handler acknowledged it.
    fn unmask_interrupt(self, intid: u32);
    /// Takes one pending interrupt whose handler is `thread`.
    fn take_pending_interrupt(self, thread: u32) -> Option<u32>;
    /// Every interrupt pending now, with its handler: `(intid, thread)`.
    fn pending_interrupts(self) -> impl Iterator<Item = (u32, u32)>;
    /// Whether any interrupt waits to be delivered (one load: the IPC fast path asks).
    fn any_interrupt_pending(self) -> bool;
    /// Whether an interrupt waits to be *taken* by this CPU, which runs the kernel with
    /// interrupts masked: a long system call asks at its preemption points
    /// (`l4::restart`) and, if one does, stops there to let it be served.
    fn interrupt_waiting(self) -> bool;
    /// Makes `thread` (on the CPU with affinity `mpidr`) the handler of `intid`.
    fn attach_interrupt(self, intid: u32, thread: u32, mpidr: u64) -> Result<(), AttachError>;
    /// Detaches `intid` from `thread`; `false` if `thread` did not handle it.
    fn detach_interrupt(self, intid: u32, thread: u32) -> bool;
    /// Forgets every interrupt `thread` handles (it is being deleted).
    fn detach_all_interrupts(self, thread: u32);
    /// Arms the user timer of this CPU for `thread`, its handler, to fire at
    /// `deadline` (system counter).
    fn arm_user_timer(self, thread: u32, deadline: u64) -> Result<(), ArmError>;

    // --- The console ---

    /// Prints on the kernel console (`DebugWrite`, warnings, `report:` lines).
    fn print(self, args: fmt::Arguments);
}
