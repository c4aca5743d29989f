// SPDX-License-Identifier: MIT OR Apache-2.0
//! The L4 core's machine on the target: AArch64 instructions, the GIC, the console.
//!
//! [`Aarch64`] implements `l4::Machine` with what the hardware leaves provide: the
//! direct map (`mm::phys::Window::DIRECT_MAP`), TLB and cache maintenance, TTBR0 and
//! FP/SIMD state (`arch::aarch64::user`), barriers and this CPU's identity
//! (`arch::aarch64::cpu`), the system counter (`arch::aarch64::timer`), SGIs and
//! user-level interrupts (`irq`), and the console. It is zero-sized and every method
//! is inlined, so `Kernel<Aarch64>` compiles to the code the kernel had before the
//! seam existed: the fast paths' instruction counts (`scripts/bench`) did not move.
//!
//! What must hold: nothing here decides anything. Each method is one hardware
//! operation (or a call into the driver that owns it); the decisions are the L4
//! core's, where the host tests see them.

use crate::arch::{cpu, tables, timer, user};
use crate::l4::machine::{ArmError, AttachError, Machine};
use crate::mm::addr::{PhysAddr, VirtAddr};
use crate::mm::phys::Window;
use crate::percpu::{self, PerCpu};
use crate::thread::FpState;
use crate::{console, irq};
use core::fmt;

/// The AArch64 machine the kernel runs on.
#[derive(Clone, Copy, Debug, Default)]
pub struct Aarch64;

impl Machine for Aarch64 {
    const MEMORY: Window = Window::DIRECT_MAP;
    const USER_TIMER: u32 = irq::USER_TIMER;

    #[inline(always)]
    fn tables_changed(self) {
        cpu::tables_changed();
    }

    #[inline(always)]
    fn sync_icache(self, pa: PhysAddr) {
        user::sync_icache(pa.raw());
    }

    #[inline(always)]
    fn invalidate_page(self, asid: u16, va: VirtAddr) {
        user::invalidate_page(asid, va.raw());
    }

    #[inline(always)]
    fn invalidate_asid(self, asid: u16) {
        user::invalidate_asid(asid);
    }

    #[inline(always)]
    unsafe fn zero_frame(self, pa: PhysAddr) {
        // SAFETY: the caller's contract (a whole frame of RAM it owns), which is
        // `tables::zero_frame`'s; the direct map is `Self::MEMORY`.
        unsafe { tables::zero_frame(pa.raw()) };
    }

    #[inline(always)]
    fn this_cpu(self) -> usize {
        cpu::this_percpu().map_or(usize::MAX, |b| b.index)
    }

    #[inline(always)]
    fn set_ttbr0(self, value: u64) {
        user::set_ttbr0(value);
    }

    #[inline(always)]
    fn save_fp(self, state: &mut FpState) {
        user::save_fp(state);
    }

    #[inline(always)]
    fn restore_fp(self, state: &FpState) {
        user::restore_fp(state);
    }

    #[inline(always)]
    fn set_user_fp(self, open: bool) {
        user::set_user_fp(open);
    }

    #[inline(always)]
    fn cpu(self, index: usize) -> Option<&'static PerCpu> {
        percpu::get(index)
    }

    #[inline(always)]
    fn cpus(self) -> impl Iterator<Item = &'static PerCpu> {
        percpu::all()
    }

    #[inline(always)]
    fn wake(self, cpu: &PerCpu) {
        irq::send_sgi(irq::SGI_RESCHEDULE, cpu.mpidr);
    }

    #[inline(always)]
    fn now(self) -> u64 {
        timer::now()
    }

    #[inline(always)]
    fn counter_frequency(self) -> u64 {
        timer::cntfrq()
    }

    #[inline(always)]
    fn set_timer(self, deadline: u64) {
        irq::set_deadline(deadline);
    }

    #[inline(always)]
    fn interrupt_handler(self, intid: u32) -> Option<u32> {
        irq::handler_of(intid)
    }

    #[inline(always)]
    fn unmask_interrupt(self, intid: u32) {
        irq::unmask(intid);
    }

    #[inline(always)]
    fn take_pending_interrupt(self, thread: u32) -> Option<u32> {
        irq::take_pending(thread)
    }

    #[inline(always)]
    fn pending_interrupts(self) -> impl Iterator<Item = (u32, u32)> {
        irq::pending()
    }

    #[inline(always)]
    fn any_interrupt_pending(self) -> bool {
        irq::any_pending()
    }

    #[inline(always)]
    fn interrupt_waiting(self) -> bool {
        cpu::interrupt_waiting()
    }

    fn attach_interrupt(self, intid: u32, thread: u32, mpidr: u64) -> Result<(), AttachError> {
        irq::attach(intid, thread, mpidr).map_err(|e| match e {
            irq::AttachError::NotAnSpi => AttachError::NotAnSpi,
            irq::AttachError::Busy => AttachError::Busy,
        })
    }

    fn detach_interrupt(self, intid: u32, thread: u32) -> bool {
        irq::detach(intid, thread)
    }

    fn detach_all_interrupts(self, thread: u32) {
        irq::detach_all(thread);
    }

    fn arm_user_timer(self, thread: u32, deadline: u64) -> Result<(), ArmError> {
        irq::arm_user_timer(thread, deadline).map_err(|e| match e {
            irq::ArmError::NotHandler => ArmError::NotHandler,
            irq::ArmError::WrongCpu => ArmError::WrongCpu,
        })
    }

    fn print(self, args: fmt::Arguments) {
        console::print(args);
    }
}
