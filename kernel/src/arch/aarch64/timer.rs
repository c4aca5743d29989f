// SPDX-License-Identifier: MIT OR Apache-2.0
//! The EL1 physical timer and the system counter: this CPU's tick and clock.
//!
//! Every CPU has its own timer, comparing the system-wide counter (CNTPCT_EL0, the same
//! on all CPUs) with a deadline and raising a PPI when it passes. The kernel uses it
//! for a periodic tick and, through [`Counter`], for delays and timeouts.
//!
//! # References
//! Arm ARM (DDI 0487) D11 "The Generic Timer in AArch64 state": CNTP_CTL_EL0,
//! CNTP_TVAL_EL0, CNTPCT_EL0, CNTFRQ_EL0.

use aarch64_cpu::registers::{CNTFRQ_EL0, CNTP_CTL_EL0, CNTP_TVAL_EL0, CNTPCT_EL0, Readable, Writeable};

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
