// SPDX-License-Identifier: MIT OR Apache-2.0
//! The EL1 physical timer and the system counter: this CPU's one-shot timer and clock.
//!
//! Every CPU has its own timer, comparing the system-wide counter (CNTPCT_EL0, the same
//! on all CPUs) with a deadline and raising a PPI when it passes. The kernel uses it
//! one-shot, for each CPU's next deadline or slice end ([`arm_at`]), and, through
//! [`Counter`], for delays. The EL1
//! virtual timer, which the kernel does not need, is the **user timer**: armed for a
//! user-level handler ([`arm_user`]), its interrupt delivered as IPC (`irq.rs`).
//!
//! # References
//! Arm ARM (DDI 0487) D11 "The Generic Timer in AArch64 state": CNTP_CTL_EL0,
//! CNTP_TVAL_EL0, CNTP_CVAL_EL0, CNTPCT_EL0, CNTFRQ_EL0.

use aarch64_cpu::registers::{
    CNTFRQ_EL0, CNTP_CTL_EL0, CNTP_CVAL_EL0, CNTP_TVAL_EL0, CNTPCT_EL0, CNTV_CTL_EL0, CNTV_CVAL_EL0, Readable, Writeable,
};

/// The system counter's current value.
pub fn now() -> u64 {
    // The ISB keeps the read from being done early, before preceding instructions.
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    CNTPCT_EL0.get()
}

/// What firmware says the counter frequency is (Hz).
pub fn cntfrq() -> u64 {
    CNTFRQ_EL0.get()
}

/// Arms this CPU's timer to fire `ticks` counter ticks from now, unmasked.
pub fn arm(ticks: u64) {
    // TVAL is a signed 32-bit count: anything above i32::MAX would read as negative
    // and fire at once.
    CNTP_TVAL_EL0.set(ticks.min(i32::MAX as u64));
    CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::SET + CNTP_CTL_EL0::IMASK::CLEAR);
}

/// Arms this CPU's timer to fire when the system counter reaches `deadline` (at once
/// if it has), unmasked.
pub fn arm_at(deadline: u64) {
    CNTP_CVAL_EL0.set(deadline);
    CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::SET + CNTP_CTL_EL0::IMASK::CLEAR);
}

/// Stops this CPU's timer: its (level) interrupt drops.
pub fn disarm() {
    CNTP_CTL_EL0.set(0);
}

/// Arms this CPU's EL1 virtual timer (the user timer: `irq::USER_TIMER`) to fire when
/// the virtual count reaches `deadline` (at once if it has).
pub fn arm_user(deadline: u64) {
    CNTV_CVAL_EL0.set(deadline);
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}

/// Stops this CPU's EL1 virtual timer: its (level) interrupt drops.
pub fn disarm_user() {
    CNTV_CTL_EL0.set(0);
}

/// The system counter as a `platform::timer::Counter`, for delays and timeouts.
#[derive(Clone, Copy)]
pub struct Counter {
    /// Ticks per second.
    pub frequency: u64,
}

impl platform::timer::Counter for Counter {
    fn now(&self) -> u64 {
        now()
    }

    fn frequency(&self) -> u64 {
        self.frequency
    }
}
