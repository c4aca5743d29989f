// SPDX-License-Identifier: MIT OR Apache-2.0
//! The GICv3 CPU interface: the `ICC_*` system registers of this CPU.
//!
//! A GICv3 has three parts: the distributor (one, MMIO), a redistributor per CPU
//! (MMIO), both driven by `platform::gicv3`, and the CPU interface, which is a set of
//! system registers each CPU reaches with `mrs`/`msr`. The `aarch64-cpu` crate does not
//! name them, so they are written here by their encodings:
//!
//! | register          | encoding         | use                                  |
//! |-------------------|------------------|--------------------------------------|
//! | ICC_SRE_EL1       | S3_0_C12_C12_5   | use system registers, not MMIO       |
//! | ICC_PMR_EL1       | S3_0_C4_C6_0     | priority mask: let everything in     |
//! | ICC_BPR1_EL1      | S3_0_C12_C12_3   | no priority grouping                 |
//! | ICC_IGRPEN1_EL1   | S3_0_C12_C12_7   | enable Group 1 interrupts            |
//! | ICC_IAR1_EL1      | S3_0_C12_C12_0   | acknowledge: which interrupt is it?  |
//! | ICC_EOIR1_EL1     | S3_0_C12_C12_1   | end of interrupt                     |
//! | ICC_SGI1R_EL1     | S3_0_C12_C11_5   | send a software-generated interrupt  |
//!
//! # References
//! GICv3/v4 architecture specification (IHI 0069H), 12.2 "AArch64 System register
//! descriptions of the CPU interface".

/// Switches this CPU's interface to system-register access and opens it to all
/// priorities and Group 1 interrupts.
pub fn init_cpu_interface() {
    // SAFETY: writes this CPU's own GIC CPU-interface registers, which only affect
    // interrupt delivery to this CPU; DAIF still masks IRQs. The ISBs make each write
    // take effect before the next (SRE must be set before the other ICC accesses).
    unsafe {
        core::arch::asm!(
            "mrs {t}, S3_0_C12_C12_5",
            "orr {t}, {t}, #1",
            "msr S3_0_C12_C12_5, {t}",
            "isb",
            "mov {t}, #0xff",
            "msr S3_0_C4_C6_0, {t}",
            "msr S3_0_C12_C12_3, xzr",
            "mov {t}, #1",
            "msr S3_0_C12_C12_7, {t}",
            "isb",
            t = out(reg) _,
            options(nostack)
        );
    }
}

/// Acknowledges the highest-priority pending interrupt; returns its INTID
/// (1020..=1023 mean none/spurious).
pub fn acknowledge() -> u32 {
    let iar: u64;
    // SAFETY: reading ICC_IAR1_EL1 acknowledges one interrupt of this CPU; the caller
    // must signal its end with `end_of_interrupt`, which the IRQ path always does.
    unsafe { core::arch::asm!("mrs {}, S3_0_C12_C12_0", out(reg) iar, options(nomem, nostack)) };
    platform::gicv3::iar_intid(iar)
}

/// Ends interrupt `intid` (priority drop and deactivation, EOImode 0).
pub fn end_of_interrupt(intid: u32) {
    // SAFETY: writes ICC_EOIR1_EL1 for an INTID this CPU acknowledged.
    unsafe { core::arch::asm!("msr S3_0_C12_C12_1, {}", in(reg) u64::from(intid), options(nomem, nostack)) };
}

/// Sends an SGI: `sgi1r` is the ICC_SGI1R_EL1 value (`platform::gicv3` encodes it).
pub fn send_sgi(sgi1r: u64) {
    // SAFETY: raising an SGI only interrupts the target CPUs, whose handlers expect it.
    // The DSB makes memory writes before the SGI visible to the receivers first (the
    // receiver reads what the sender wrote); the ISB issues the write now.
    unsafe {
        core::arch::asm!(
            "dsb ish",
            "msr S3_0_C12_C11_5, {}",
            "isb",
            in(reg) sgi1r,
            options(nostack)
        )
    };
}
