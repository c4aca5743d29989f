// SPDX-License-Identifier: MIT OR Apache-2.0
//! User mode: entering EL0, switching address spaces, FP/SIMD state, TLB invalidation.
//!
//! A user thread runs at EL0 in its space's lower-half tables (TTBR0_EL1, tagged with
//! the space's ASID); the kernel half (TTBR1) never changes. Leaving the kernel for a
//! thread means: load its space into TTBR0 (no TLB flush: the ASID tags its entries),
//! restore its FP/SIMD registers, and `eret` from a frame holding its registers.
//!
//! When no user space is active, TTBR0 points at an empty root table with ASID 0, so a
//! stray kernel access to a low address faults cleanly instead of walking garbage.
//!
//! # References
//! Arm ARM (DDI 0487): D8.2.5 (TTBR0_EL1 and ASIDs), D8.13 (TLB maintenance: `TLBI
//! VAE1IS`, `ASIDE1IS`, and the DSB/ISB sequence around them), D19.2.30 (CPACR_EL1).

use crate::exception::TrapFrame;
use crate::thread::FpState;

/// Sets this CPU's FP/SIMD trap control (CPACR_EL1.FPEN): `true` opens FP/SIMD to EL0
/// and EL1 (0b11), `false` to EL1 only (0b01: EL0 use traps with EC 0x07). The kernel
/// itself is built soft-float; EL1 uses the registers only to save and restore
/// threads'.
#[inline(always)]
pub fn set_user_fp(open: bool) {
    let fpen: u64 = if open { 0b11 << 20 } else { 0b01 << 20 };
    // SAFETY: changes only this CPU's FP trap control. Kernel code (EL1) is never
    // trapped either way. The ISB makes the change apply to the instructions after it:
    // the FP save/restore below a close, and the return to EL0 (whose `eret` also
    // synchronises the context).
    unsafe {
        core::arch::asm!(
            "mrs {t}, cpacr_el1",
            "bic {t}, {t}, #(3 << 20)",
            "orr {t}, {t}, {f}",
            "msr cpacr_el1, {t}",
            "isb",
            t = out(reg) _,
            f = in(reg) fpen,
            options(nostack, preserves_flags)
        )
    };
}

/// Lets EL0 read this CPU's cycle counter (PMCCNTR_EL0), counting at EL0 and EL1.
///
/// A deliberate measurement choice: `scripts/bench` times IPC and faults from user
/// level with `mrs PMCCNTR_EL0` (under QEMU `-icount shift=0` the counter equals the
/// guest instruction count), the way sel4bench does on seL4. It exposes a fine-grained
/// clock to every user thread, which sharpens timing side channels (cache attacks
/// against other spaces); `CNTVCT_EL0` is readable at EL0 anyway, but coarser. A boot
/// argument could turn this off later.
///
/// Only *reads* of the cycle counter are opened (PMUSERENR_EL0.CR, not .EN): EL0 cannot
/// reset, stop or reprogram the PMU. The kernel does not use the PMU itself.
///
/// Harmless on a CPU without an Arm PMU: ID_AA64DFR0_EL1.PMUVer (bits 11:8) 0 means no
/// PMU and 0xF an IMPLEMENTATION DEFINED one; then no PMU register is touched (they
/// would be UNDEFINED) and EL0 reads keep trapping. Entered at EL2, the boot code leaves
/// MDCR_EL2 as it found it; its TPM/TPMCR bits must be clear or these EL1 accesses trap
/// to EL2 (QEMU resets them to 0; on hardware the EL2 setup should clear them).
///
/// # References
/// Arm ARM (DDI 0487): D13 (the Performance Monitors Extension); D13.2 registers:
/// PMCR_EL0 (E bit 0, C bit 2, LC bit 6), PMCNTENSET_EL0 (C bit 31), PMCCFILTR_EL0
/// (P bit 31, U bit 30, NSK bit 29, NSU bit 28, NSH bit 27: 0 = count; all 0 counts at
/// EL0 and EL1 in both security states, not at EL2), PMUSERENR_EL0 (CR bit 2).
pub fn enable_user_cycle_counter() {
    let dfr0: u64;
    // SAFETY: reads an ID register; no side effects.
    unsafe { core::arch::asm!("mrs {}, id_aa64dfr0_el1", out(reg) dfr0, options(nomem, nostack, preserves_flags)) };
    let pmu_version = (dfr0 >> 8) & 0xF;
    if pmu_version == 0 || pmu_version == 0xF {
        return;
    }
    // SAFETY: the CPU has an architected PMU (checked above), so these registers exist
    // at EL1. They configure only this CPU's cycle counter, which nothing in the kernel
    // depends on: count at EL0 and EL1 (filter 0), enable it, reset it to 0 and make it
    // 64-bit (PMCR_EL0.E | C | LC), and let EL0 read it (PMUSERENR_EL0.CR). Writes to the
    // other PMCR fields keep their reset values except D (0: count every cycle). The ISB
    // (context synchronization, D13.1) makes the settings apply before the first eret
    // to EL0.
    unsafe {
        core::arch::asm!(
            "msr pmccfiltr_el0, xzr",
            "mov {t}, #(1 << 31)",
            "msr pmcntenset_el0, {t}",
            "mrs {t}, pmcr_el0",
            "bic {t}, {t}, #(1 << 3)",
            "mov {u}, #((1 << 0) | (1 << 2) | (1 << 6))",
            "orr {t}, {t}, {u}",
            "msr pmcr_el0, {t}",
            "mov {t}, #(1 << 2)",
            "msr pmuserenr_el0, {t}",
            "isb",
            t = out(reg) _,
            u = out(reg) _,
            options(nomem, nostack, preserves_flags)
        )
    };
}

/// Lets EL0 read the virtual counter (CNTKCTL_EL1.EL0VCTEN), so programs read the time
/// without a system call (CNTVOFF is 0: it equals the physical count the kernel uses;
/// the frequency is in the KIP). Timers stay the kernel's.
pub fn enable_user_counter() {
    // SAFETY: sets one access bit of this CPU's timer control for EL0; the ISB makes it
    // take effect.
    unsafe {
        core::arch::asm!(
            "mrs {t}, cntkctl_el1",
            "orr {t}, {t}, #(1 << 1)",
            "msr cntkctl_el1, {t}",
            "isb",
            t = out(reg) _,
            options(nostack)
        )
    };
}

/// Saves this CPU's FP/SIMD registers into `state`.
#[inline(always)]
pub fn save_fp(state: &mut FpState) {
    let p = state as *mut FpState;
    // SAFETY: `p` points at a live, 16-byte aligned FpState of 528 bytes, written
    // entirely by the stores below (32 x 16 bytes, then FPCR and FPSR). FP is enabled
    // at EL1 (`set_user_fp`, either setting) before any thread runs.
    unsafe {
        core::arch::asm!(
            // The kernel target is soft-float: enable the FP/SIMD encodings for this
            // block only (the compiler still emits no FP code of its own).
            ".arch_extension fp",
            ".arch_extension simd",
            "stp q0, q1, [{p}, #0]", "stp q2, q3, [{p}, #32]", "stp q4, q5, [{p}, #64]",
            "stp q6, q7, [{p}, #96]", "stp q8, q9, [{p}, #128]", "stp q10, q11, [{p}, #160]",
            "stp q12, q13, [{p}, #192]", "stp q14, q15, [{p}, #224]", "stp q16, q17, [{p}, #256]",
            "stp q18, q19, [{p}, #288]", "stp q20, q21, [{p}, #320]", "stp q22, q23, [{p}, #352]",
            "stp q24, q25, [{p}, #384]", "stp q26, q27, [{p}, #416]", "stp q28, q29, [{p}, #448]",
            "stp q30, q31, [{p}, #480]",
            "mrs {t}, fpcr", "str {t}, [{p}, #512]",
            "mrs {t}, fpsr", "str {t}, [{p}, #520]",
            p = in(reg) p,
            t = out(reg) _,
            options(nostack)
        )
    };
}

/// Loads this CPU's FP/SIMD registers from `state`.
pub fn restore_fp(state: &FpState) {
    let p = state as *const FpState;
    // SAFETY: `p` points at a live, 16-byte aligned FpState; the loads only write FP
    // registers, which belong to the thread about to run.
    unsafe {
        core::arch::asm!(
            ".arch_extension fp",
            ".arch_extension simd",
            "ldp q0, q1, [{p}, #0]", "ldp q2, q3, [{p}, #32]", "ldp q4, q5, [{p}, #64]",
            "ldp q6, q7, [{p}, #96]", "ldp q8, q9, [{p}, #128]", "ldp q10, q11, [{p}, #160]",
            "ldp q12, q13, [{p}, #192]", "ldp q14, q15, [{p}, #224]", "ldp q16, q17, [{p}, #256]",
            "ldp q18, q19, [{p}, #288]", "ldp q20, q21, [{p}, #320]", "ldp q22, q23, [{p}, #352]",
            "ldp q24, q25, [{p}, #384]", "ldp q26, q27, [{p}, #416]", "ldp q28, q29, [{p}, #448]",
            "ldp q30, q31, [{p}, #480]",
            "ldr {t}, [{p}, #512]", "msr fpcr, {t}",
            "ldr {t}, [{p}, #520]", "msr fpsr, {t}",
            p = in(reg) p,
            t = out(reg) _,
            options(nostack, readonly)
        )
    };
}

/// TTBR0_EL1 for the space with root table `root` (physical) and `asid`.
pub const fn ttbr0(root: u64, asid: u16) -> u64 {
    ((asid as u64) << 48) | (root & 0x0000_FFFF_FFFF_F000)
}

/// Makes the space with root table `root` (physical) and `asid` the lower half.
pub fn switch_space(root: u64, asid: u16) {
    set_ttbr0(ttbr0(root, asid));
}

/// Makes `value` ([`ttbr0`] of a live space) the lower half.
#[inline(always)]
pub fn set_ttbr0(value: u64) {
    // SAFETY: `value` names a live translation table of a user space (or the empty
    // root), whose entries map only user memory (the callers' duty: values come from
    // [`ttbr0`] of a space that outlives its use); the kernel half is unaffected. The
    // ISB makes the new TTBR0 apply to the instructions after it (the eret to user).
    unsafe { core::arch::asm!("msr ttbr0_el1, {}", "isb", in(reg) value, options(nostack, preserves_flags)) };
}

/// Opens TTBR0 walks (clears TCR_EL1.EPD0), which the boot code closed while the
/// identity map was dropped; TTBR0 must hold a valid root first ([`switch_space`]).
pub fn open_lower_half() {
    // SAFETY: TTBR0 holds the empty root or a user space (the caller's duty, stated
    // above), so opening walks exposes nothing; the ISB makes it take effect.
    unsafe {
        core::arch::asm!(
            "mrs {t}, tcr_el1",
            "bic {t}, {t}, #(1 << 7)",
            "msr tcr_el1, {t}",
            "isb",
            t = out(reg) _,
            options(nostack)
        )
    };
}

/// Makes the instructions in the frame at physical `pa` visible to instruction fetch
/// on every CPU: cleans its data-cache lines to the point of unification and
/// invalidates the instruction caches. Needed before a page written through the data
/// side (a loaded program) is first mapped executable; QEMU does not model caches, real
/// CPUs do.
pub fn sync_icache(pa: u64) {
    let va = crate::mm::layout::direct_map(pa);
    let ctr: u64;
    // SAFETY: reads CTR_EL0, always readable at EL1.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
    let line = 4u64 << ((ctr >> 16) & 0xF);
    let mut at = va;
    while at < va + crate::mm::table::PAGE_SIZE {
        // SAFETY: DC CVAU writes a line back to the point of unification; it changes no
        // data, and `at` lies in the direct map (RAM, mapped).
        unsafe { core::arch::asm!("dc cvau, {}", in(reg) at, options(nostack, preserves_flags)) };
        at += line;
    }
    // SAFETY: barriers and a whole-I-cache invalidation (inner shareable): the cleans
    // complete before the invalidation, which completes before any later fetch.
    unsafe { core::arch::asm!("dsb ish", "ic ialluis", "dsb ish", "isb", options(nostack, preserves_flags)) };
}

/// Invalidates, on every CPU, the TLB entries for user page `va` of space `asid`.
pub fn invalidate_page(asid: u16, va: u64) {
    let arg = (u64::from(asid) << 48) | ((va >> 12) & 0x0FFF_FFFF_FFFF);
    // SAFETY: TLB maintenance only. DSB ISHST: the cleared table entry is visible to
    // every walker before the invalidation; TLBI VAE1IS: broadcast to the inner-shareable
    // domain (all CPUs); DSB ISH: wait until every CPU has done it; ISB: later
    // instructions see the result.
    unsafe {
        core::arch::asm!("dsb ishst", "tlbi vae1is, {}", "dsb ish", "isb", in(reg) arg, options(nostack, preserves_flags))
    };
}

/// Invalidates, on every CPU, all TLB entries of space `asid` (before the ASID is reused).
pub fn invalidate_asid(asid: u16) {
    let arg = u64::from(asid) << 48;
    // SAFETY: TLB maintenance only; barriers as in `invalidate_page`.
    unsafe {
        core::arch::asm!("dsb ishst", "tlbi aside1is, {}", "dsb ish", "isb", in(reg) arg, options(nostack, preserves_flags))
    };
}

unsafe extern "C" {
    fn user_restore() -> !;
}

/// Leaves the kernel for good on this path: resets the stack to `stack_top` and returns
/// to user mode in the thread whose saved registers are at `frame`.
///
/// # Safety
/// `stack_top` must be the top of this CPU's kernel stack, and nothing on that stack
/// may be needed again. `frame` must be this CPU's `PerCpu::user_context` (set by
/// `dispatch`): a user context (`is_user`) in the TCB of a thread Running on this CPU,
/// which nobody else changes meanwhile. TTBR0 and FP state must already be the
/// thread's.
pub unsafe fn enter_user(frame: *const TrapFrame, stack_top: u64) -> ! {
    // SAFETY: the caller guarantees `frame` points at a live, unchanging context.
    let context = unsafe { &*frame };
    assert!(context.is_user(), "invariant: only user contexts are entered this way");
    // SAFETY: `user_restore` loads every register from the frame `user_context` names
    // (the caller's contract: `frame`) and erets to EL0; the stack is empty from here.
    unsafe {
        core::arch::asm!(
            "mov sp, {top}", "b {restore}",
            top = in(reg) stack_top, restore = sym user_restore, options(noreturn)
        )
    }
}
