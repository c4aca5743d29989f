// SPDX-License-Identifier: MIT OR Apache-2.0
//! Time at user level: the system counter, and `embedded-hal`'s `DelayNs` on it.
//!
//! The kernel lets EL0 read the virtual counter (`CNTVCT_EL0`) and publishes its
//! frequency in the KIP, so a program measures time and busy-waits without a system
//! call. The arithmetic (rounding up, wrap-safe deadlines, no overflow) is
//! `platform::timer`'s, host-tested there: this module only plugs the user-level
//! counter into it, so a driver written against `embedded-hal` 1.0 (`DelayNs`) runs
//! unchanged at user level. This `Delay` spins for the whole wait; `crate::timer`'s
//! `delay()` sleeps through long waits in the kernel instead (a thread's timers:
//! `crate::timer`).

pub use platform::timer::{Counter, Delay, TimerError};

/// The system counter as a user program sees it.
#[derive(Clone, Copy, Debug, Default)]
pub struct UserCounter;

impl Counter for UserCounter {
    fn now(&self) -> u64 {
        crate::sys::counter()
    }

    fn frequency(&self) -> u64 {
        crate::sys::kip().counter_frequency
    }
}

/// A `DelayNs` that spins on the counter, for this program (an error only if the KIP
/// gives no frequency). For waits of more than tens of microseconds,
/// `crate::timer::delay` sleeps instead and lets other threads run.
pub fn delay() -> Result<Delay<UserCounter>, TimerError> {
    Delay::new(UserCounter)
}
