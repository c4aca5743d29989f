// SPDX-License-Identifier: MIT OR Apache-2.0
//! Single instructions the rest of the kernel needs: who am I, stop, call firmware.
//!
//! Each function wraps one or two instructions whose effect the portable code cannot
//! express: reading MPIDR_EL1, parking the CPU, calling PSCI firmware through the
//! conduit the device tree named, and QEMU's semihosting exit. They are the leaves
//! of the kernel; each `asm!` says what it reads, writes and clobbers.
//!
//! # References
//! - Arm Power State Coordination Interface (DEN 0022D): SMC calling convention,
//!   SYSTEM_OFF (function id 0x8400_0008).
//! - Arm "Semihosting for AArch32 and AArch64" (version 3): `HLT #0xF000`,
//!   SYS_EXIT (0x18) with ADP_Stopped_ApplicationExit (0x20026).

use crate::percpu::PerCpu;
use aarch64_cpu::registers::{MPIDR_EL1, Readable};
use platform::Conduit;
use tock_registers::{LocalRegisterCopy, register_bitfields};

register_bitfields! {u64,
    /// ISR_EL1, the interrupt status register (Arm ARM D19.2.59): what waits to be
    /// taken, whatever PSTATE masks.
    ISR_EL1 [
        /// An FIQ is pending.
        F OFFSET(6) NUMBITS(1) [],
        /// An IRQ is pending.
        I OFFSET(7) NUMBITS(1) []
    ]
}

/// This CPU's MPIDR_EL1 affinity fields (Aff3..Aff0), without the flag bits.
pub fn mpidr() -> u64 {
    MPIDR_EL1.get() & 0xFF_00FF_FFFF
}

/// Whether an IRQ or FIQ waits to be taken by this CPU. The kernel runs with
/// interrupts masked; its preemption points (`l4::restart`) ask this and stop a long
/// system call so that the interrupt is taken on the way out.
#[inline(always)]
pub fn interrupt_waiting() -> bool {
    let raw: u64;
    // SAFETY: reads ISR_EL1, a read-only status register: no memory, no flags.
    unsafe { core::arch::asm!("mrs {}, isr_el1", out(reg) raw, options(nomem, nostack, preserves_flags)) };
    let isr = LocalRegisterCopy::<u64, ISR_EL1::Register>::new(raw);
    isr.is_set(ISR_EL1::I) || isr.is_set(ISR_EL1::F)
}

/// Stops this CPU for good, with interrupts masked.
pub fn park() -> ! {
    loop {
        // SAFETY: masking interrupts and waiting touch no memory; the loop never ends.
        unsafe { core::arch::asm!("msr daifset, #0xf", "wfe", options(nomem, nostack)) };
    }
}

/// A PSCI call with one function id and up to three arguments; returns x0.
///
/// The conduit comes from the device tree (`/psci` `method`): `hvc` when the
/// firmware is a hypervisor (QEMU entered at EL1), `smc` when it is EL3 firmware.
pub fn psci_call(conduit: Conduit, function: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    let mut x0 = u64::from(function);
    match conduit {
        // SAFETY: the SMC calling convention: x0..x3 in, x0 out, x4..x17 may be
        // clobbered by the firmware (declared below). PSCI touches no memory of ours.
        Conduit::Hvc => unsafe {
            core::arch::asm!(
                "hvc #0",
                inout("x0") x0, inout("x1") a1 => _, inout("x2") a2 => _, inout("x3") a3 => _,
                out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _,
                out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _,
                out("x15") _, out("x16") _, out("x17") _,
                options(nomem, nostack)
            )
        },
        // SAFETY: as above.
        Conduit::Smc => unsafe {
            core::arch::asm!(
                "smc #0",
                inout("x0") x0, inout("x1") a1 => _, inout("x2") a2 => _, inout("x3") a3 => _,
                out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _,
                out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _,
                out("x15") _, out("x16") _, out("x17") _,
                options(nomem, nostack)
            )
        },
    }
    x0 as i64
}

/// Ends the QEMU process with `status` through semihosting. Only call this when
/// semihosting was requested (`exit=semihosting`): without `-semihosting`, QEMU
/// treats `HLT` as an undefined instruction.
pub fn semihosting_exit(status: u32) -> ! {
    const SYS_EXIT: u64 = 0x18;
    const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x2_0026;
    let block = [ADP_STOPPED_APPLICATION_EXIT, u64::from(status)];
    // SAFETY: SYS_EXIT reads the two-word parameter block at x1 (a valid, live stack
    // array) and does not return when the debugger/QEMU honours it.
    unsafe {
        core::arch::asm!(
            "hlt #0xf000",
            in("x0") SYS_EXIT, in("x1") block.as_ptr(),
            options(nostack, readonly)
        );
    }
    park()
}

/// Removes the boot identity map from TTBR0: from here on the lower half belongs to
/// user address spaces only, and a stray low access by the kernel faults.
pub fn drop_identity_map() {
    // SAFETY: the kernel runs from the upper half now (called from kernel_main);
    // nothing uses the identity map. TCR.EPD0 stops walks of TTBR0 altogether; the
    // TLBI removes any cached identity entries, the DSB waits for it, the ISB makes
    // later instructions see the new state.
    unsafe {
        core::arch::asm!(
            "mrs {t}, tcr_el1",
            "orr {t}, {t}, #(1 << 7)",
            "msr tcr_el1, {t}",
            "msr ttbr0_el1, xzr",
            "isb",
            "tlbi vmalle1",
            "dsb nsh",
            "isb",
            t = out(reg) _,
            options(nostack)
        );
    }
}

/// Makes new translation-table entries visible to this CPU's table walker (only
/// needed for entries that were invalid before: no TLB entry can exist for them).
pub fn tables_changed() {
    // SAFETY: barriers only. DSB ISHST orders the table stores before later walks;
    // ISB ensures instructions after it are fetched/issued with the walk possible.
    unsafe { core::arch::asm!("dsb ishst", "isb", options(nostack, preserves_flags)) };
}

/// The current frame pointer (x29), to start a backtrace here.
pub fn frame_pointer() -> u64 {
    let fp: u64;
    // SAFETY: reads a register.
    unsafe { core::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags)) };
    fp
}

/// Translates a kernel virtual address the way a kernel read would (`AT S1E1R`);
/// `None` when the address is not mapped. Used by self-tests to check where memory
/// really is, independently of the bookkeeping that put it there.
pub fn translate(va: u64) -> Option<u64> {
    let par: u64;
    // SAFETY: AT only performs a translation and writes PAR_EL1; the ISB makes the
    // result visible to the following MRS.
    unsafe {
        core::arch::asm!(
            "at s1e1r, {va}",
            "isb",
            "mrs {par}, par_el1",
            va = in(reg) va,
            par = out(reg) par,
            options(nostack, preserves_flags)
        );
    }
    // PAR_EL1.F (bit 0) set means the translation faulted; else PA is bits [47:12].
    (par & 1 == 0).then_some((par & 0x0000_FFFF_FFFF_F000) | (va & 0xFFF))
}

/// Makes `block` this CPU's per-CPU data (TPIDR_EL1 holds its address).
pub fn set_percpu(block: &'static PerCpu) {
    let ptr = block as *const PerCpu as u64;
    // SAFETY: TPIDR_EL1 is a scratch register reserved for the kernel's own use.
    unsafe { core::arch::asm!("msr tpidr_el1, {}", in(reg) ptr, options(nomem, nostack, preserves_flags)) };
}

/// This CPU's per-CPU data, once [`set_percpu`] ran on it.
pub fn this_percpu() -> Option<&'static PerCpu> {
    let ptr: u64;
    // SAFETY: reads a register.
    unsafe { core::arch::asm!("mrs {}, tpidr_el1", out(reg) ptr, options(nomem, nostack, preserves_flags)) };
    // SAFETY: TPIDR_EL1 is 0 (reset value, never written otherwise) or was set by
    // `set_percpu` from a `&'static PerCpu`, which stays valid forever.
    (ptr != 0).then(|| unsafe { &*(ptr as *const PerCpu) })
}

/// Waits for an interrupt, takes it, and returns with IRQs masked again: the one
/// place where the kernel takes interrupts (it is not preemptible).
///
/// The WFI runs with IRQs still *masked*: a pending interrupt wakes WFI whether or not
/// it is masked, so one that arrived just before cannot be lost. (Unmasking first
/// would take such an interrupt before the WFI, which would then sleep until the
/// next one: a wakeup SGI lost for a whole tick.) The short unmasked window after it
/// takes whatever woke us.
pub fn wait_for_interrupt() {
    // SAFETY: WFI only waits. The unmask/ISB/mask sequence lets a pending IRQ be taken
    // (the ISB makes the unmask take effect before the mask); the handler returns here.
    unsafe { core::arch::asm!("wfi", "msr daifclr, #2", "isb", "msr daifset, #2", options(nomem, nostack)) };
}

/// Cleans the data cache lines of `[va, va + len)` to the point of coherency, so a
/// CPU with its caches still off (a starting secondary) reads what this CPU wrote.
pub fn clean_to_poc(va: u64, len: u64) {
    let ctr: u64;
    // SAFETY: reads CTR_EL0 (cache type), which EL1 may always read.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
    // DminLine, bits [19:16]: log2 of the smallest data cache line in 4-byte words.
    let line = 4u64 << ((ctr >> 16) & 0xF);
    let mut addr = va & !(line - 1);
    while addr < va + len {
        // SAFETY: DC CVAC writes a dirty line back to memory; it changes no data.
        unsafe { core::arch::asm!("dc cvac, {}", in(reg) addr, options(nostack, preserves_flags)) };
        addr += line;
    }
    // SAFETY: barrier: the cleans complete before anything after it (the PSCI call).
    unsafe { core::arch::asm!("dsb sy", options(nostack, preserves_flags)) };
}

/// Makes freshly written code at `[va, va + len)` safe to execute on every CPU: each
/// data cache line cleaned to the point of unification, then every instruction cache
/// of the inner-shareable domain invalidated (Arm ARM D7.5.9, "Instruction cache
/// maintenance": the sequence for self-modifying code).
pub fn sync_icache(va: u64, len: u64) {
    let ctr: u64;
    // SAFETY: reads CTR_EL0 (cache type), which EL1 may always read.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
    let line = 4u64 << ((ctr >> 16) & 0xF);
    let mut addr = va & !(line - 1);
    while addr < va + len {
        // SAFETY: DC CVAU writes a dirty line back to the point of unification; it
        // changes no data.
        unsafe { core::arch::asm!("dc cvau, {}", in(reg) addr, options(nostack, preserves_flags)) };
        addr += line;
    }
    // SAFETY: barriers and an instruction-cache invalidation: no data changes; after
    // them no CPU holds a stale instruction for these addresses.
    unsafe { core::arch::asm!("dsb ish", "ic ialluis", "dsb ish", "isb", options(nostack, preserves_flags)) };
}

/// Switches this CPU's kernel half to the tables at `root` (TTBR1_EL1), which must map
/// every kernel address exactly as the current tables do, contents included (a
/// replica of the kernel text: other frames, same bytes), and drops the old
/// translations from this CPU's TLB.
pub fn switch_kernel_root(root: u64) {
    // SAFETY: the new root maps the same addresses to the same contents (the caller's
    // contract), so every instruction and access before, during and after the switch
    // sees the same bytes; the TLBI and barriers retire the old translations.
    unsafe {
        core::arch::asm!(
            "dsb ish",
            "msr ttbr1_el1, {root}",
            "isb",
            "tlbi vmalle1",
            "dsb nsh",
            "isb",
            root = in(reg) root,
            options(nostack, preserves_flags)
        )
    };
}

/// Calls `f(arg)` on the stack ending at `stack_top` and never returns: how the boot
/// CPU leaves the image's boot stack for a stack on its own node.
///
/// # Safety
/// `stack_top` must be the top of a mapped, writable stack that nothing else uses.
/// Nothing on the current stack may be needed again (it is abandoned).
pub unsafe fn switch_stack(stack_top: u64, f: extern "C" fn(u64) -> !, arg: u64) -> ! {
    assert!(stack_top.is_multiple_of(16), "invariant: aligned stack");
    // SAFETY: the new stack is valid and unused (the caller's contract) and aligned
    // (checked above); the old stack is abandoned because `f` never returns. x29/x30
    // are zeroed so backtraces end there.
    unsafe {
        core::arch::asm!(
            "mov sp, {top}",
            "mov x29, xzr",
            "mov x30, xzr",
            "br {f}",
            top = in(reg) stack_top,
            f = in(reg) f,
            in("x0") arg,
            options(noreturn)
        )
    }
}

/// Wakes CPUs waiting in WFE.
pub fn send_event() {
    // SAFETY: SEV only sets the event register of every CPU.
    unsafe { core::arch::asm!("dsb ish", "sev", options(nostack, preserves_flags)) };
}

/// Makes this CPU's earlier stores to memory visible to every CPU before any later
/// store, a device register write included: what a GICv2 SGI (a write to `GICD_SGIR`)
/// needs, so the CPU it wakes reads what the sender wrote.
pub fn barrier_before_device_write() {
    // SAFETY: a barrier: no memory or register state changes. `DSB ISHST` waits until
    // the earlier stores are observable in the Inner Shareable domain (all CPUs), Arm
    // ARM B2.3.12; stores after it, device writes included, come later.
    unsafe { core::arch::asm!("dsb ishst", options(nostack, preserves_flags)) };
}
