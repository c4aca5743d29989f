// SPDX-License-Identifier: MIT OR Apache-2.0
//! The Arm generic timer's arithmetic: frequencies, tick counts, nanoseconds, delays.
//!
//! Every Armv8 CPU has a system counter that counts up at a fixed frequency, the same
//! on every CPU of the system (`CNTPCT_EL0`/`CNTVCT_EL0`, frequency in `CNTFRQ_EL0`),
//! and per-CPU timers that fire when the counter reaches a compare value. Reading and
//! programming those are system-register instructions, in the kernel's arch module.
//! What is left is arithmetic that is easy to get subtly wrong, and so lives here,
//! pure and host-tested: which frequency to believe, how many ticks make a period, how
//! to convert without overflow, and how to wait without being fooled by wrap-around.
//!
//! # Design
//!
//! - *Which frequency.* `CNTFRQ_EL0` is written by firmware, which sometimes forgets.
//!   The device tree's `arm,armv8-timer` node may then carry `clock-frequency`;
//!   as in Linux (`arch_timer_of_configure_rate`), a present value overrides the
//!   register. [`choose_frequency`] does that, and refuses a frequency of zero rather
//!   than divide by it later.
//! - *No overflow.* Conversions multiply in `u128`: `u64 * u64` always fits, so the
//!   only failure is a *result* beyond `u64`, reported as [`TimerError::Overflow`].
//! - *Rounding favours waiting.* Nanoseconds to ticks rounds up (a delay is never
//!   shorter than asked); ticks to nanoseconds rounds down (a measured time is never
//!   longer than it was).
//! - *Wrap-safe waits.* A deadline is a start value and a tick count, and "passed"
//!   means `now.wrapping_sub(start) > ticks`; this is correct across the counter's
//!   wrap for any wait shorter than 2^64 ticks. (Counters narrower than 64 bits, which
//!   Armv8.0-8.5 allow down to 56, roll over no sooner than 40 years after reset.)
//! - *Hardware behind a trait.* [`Delay`] busy-waits on any [`Counter`]; the kernel
//!   implements it with the real counter, the tests with an atomic that advances on
//!   every read. It implements `embedded_hal::delay::DelayNs`, so drivers written
//!   against `embedded-hal` 1.0 can use the kernel's delay unchanged.
//!
//! # References
//!
//! - Arm Architecture Reference Manual for A-profile (DDI 0487), chapter "The Generic
//!   Timer in AArch64 state": the system counter (frequency, width of at least 56 bits,
//!   roll-over no sooner than 40 years), the timers' `CVAL`/`TVAL` views and their
//!   firing condition, and the register descriptions of `CNTFRQ_EL0`, `CNTPCT_EL0`,
//!   `CNTP_CVAL_EL0`.
//! - Linux `Documentation/devicetree/bindings/timer/arm,arch_timer.yaml`
//!   (`clock-frequency`) and `drivers/clocksource/arm_arch_timer.c`.
//! - `embedded-hal` 1.0, `delay::DelayNs`.
#![forbid(unsafe_code)]

use core::fmt;
use core::time::Duration;
use embedded_hal::delay::DelayNs;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Why a frequency or a conversion was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerError {
    /// The counter frequency is zero (neither firmware nor device tree set it).
    ZeroFrequency,
    /// A periodic interval of zero was asked for (it would fire continuously).
    ZeroPeriod,
    /// The result does not fit in 64 bits.
    Overflow,
}

impl fmt::Display for TimerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimerError::ZeroFrequency => "counter frequency is zero",
            TimerError::ZeroPeriod => "timer period is zero",
            TimerError::Overflow => "timer value does not fit in 64 bits",
        })
    }
}

/// The counter frequency to use, in Hz: the device tree's `clock-frequency` when it
/// is present and nonzero (it exists to correct firmware), else `CNTFRQ_EL0`.
pub fn choose_frequency(cntfrq: u64, dt_clock_frequency: Option<u32>) -> Result<u64, TimerError> {
    match dt_clock_frequency {
        Some(hz) if hz != 0 => Ok(u64::from(hz)),
        _ if cntfrq != 0 => Ok(cntfrq),
        _ => Err(TimerError::ZeroFrequency),
    }
}

fn narrow(value: u128) -> Result<u64, TimerError> {
    u64::try_from(value).map_err(|_| TimerError::Overflow)
}

/// Ticks of a `hz` counter in `ns` nanoseconds, rounded up.
pub fn ns_to_ticks(ns: u64, hz: u64) -> Result<u64, TimerError> {
    if hz == 0 {
        return Err(TimerError::ZeroFrequency);
    }
    // At most (2^64 - 1)^2 < 2^128: the product cannot overflow.
    let product = u128::from(ns) * u128::from(hz);
    narrow(product.div_ceil(NANOS_PER_SEC))
}

/// Nanoseconds in `ticks` ticks of a `hz` counter, rounded down.
pub fn ticks_to_ns(ticks: u64, hz: u64) -> Result<u64, TimerError> {
    if hz == 0 {
        return Err(TimerError::ZeroFrequency);
    }
    // At most (2^64 - 1) * 10^9 < 2^94.
    narrow(u128::from(ticks) * NANOS_PER_SEC / u128::from(hz))
}

/// Ticks between two interrupts of a periodic timer of `period` at `hz`, rounded up
/// (so never zero for a nonzero period).
pub fn ticks_per_period(hz: u64, period: Duration) -> Result<u64, TimerError> {
    if hz == 0 {
        return Err(TimerError::ZeroFrequency);
    }
    if period.is_zero() {
        return Err(TimerError::ZeroPeriod);
    }
    // A `Duration` holds up to ~2^94 ns, so this product can exceed `u128`.
    let product = period.as_nanos().checked_mul(u128::from(hz)).ok_or(TimerError::Overflow)?;
    narrow(product.div_ceil(NANOS_PER_SEC))
}

/// A point in counter time: `ticks` after the counter read `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    start: u64,
    ticks: u64,
}

impl Deadline {
    /// The deadline `ticks` ticks after the counter value `now`.
    pub fn after(now: u64, ticks: u64) -> Deadline {
        Deadline { start: now, ticks }
    }

    /// Whether at least `ticks` whole tick periods have passed since the start, given
    /// the counter now reads `now`. Wrap-safe.
    ///
    /// The start reading may have been taken just before the counter stepped, so
    /// `now - start == ticks` can mean only `ticks - 1` periods and a sliver; one tick
    /// more is required (none for a zero wait).
    pub fn passed(&self, now: u64) -> bool {
        self.ticks == 0 || now.wrapping_sub(self.start) > self.ticks
    }

    /// The value for `CNTP_CVAL_EL0`/`CNTV_CVAL_EL0` that fires at this deadline.
    /// The timer fires once the counter is at or past `cval`, compared as unsigned
    /// numbers, so a deadline that wraps past 2^64 fires at once: program it only for
    /// waits far shorter than the counter's range (centuries), as every real wait is.
    pub fn compare_value(&self) -> u64 {
        self.start.wrapping_add(self.ticks)
    }
}

/// A free-running up-counter: the kernel implements this with `CNTPCT_EL0` or
/// `CNTVCT_EL0` (each read preceded by `isb`, so it is not taken early).
pub trait Counter {
    /// The current count.
    fn now(&self) -> u64;
    /// Counts per second.
    fn frequency(&self) -> u64;
}

/// Busy-wait delays on a [`Counter`].
#[derive(Debug)]
pub struct Delay<C: Counter> {
    counter: C,
    hz: u64,
}

impl<C: Counter> Delay<C> {
    /// A delay provider for `counter`; its frequency is read once, here.
    pub fn new(counter: C) -> Result<Delay<C>, TimerError> {
        let hz = counter.frequency();
        if hz == 0 {
            return Err(TimerError::ZeroFrequency);
        }
        Ok(Delay { counter, hz })
    }

    /// The frequency the delays are computed with.
    pub fn frequency(&self) -> u64 {
        self.hz
    }

    /// The counter.
    pub fn counter(&self) -> &C {
        &self.counter
    }

    /// Gives the counter back.
    pub fn into_inner(self) -> C {
        self.counter
    }

    /// Waits until at least `ticks` counter periods have passed.
    pub fn wait_ticks(&mut self, ticks: u64) {
        if ticks == 0 {
            return;
        }
        let deadline = Deadline::after(self.counter.now(), ticks);
        while !deadline.passed(self.counter.now()) {
            core::hint::spin_loop();
        }
    }

    /// Waits at least `ns` nanoseconds. A wait too long to express in ticks (beyond
    /// 2^64 of them) waits 2^64 - 1 ticks: centuries, as good as forever.
    pub fn wait_ns(&mut self, ns: u64) {
        let ticks = ns_to_ticks(ns, self.hz).unwrap_or(u64::MAX);
        self.wait_ticks(ticks);
    }
}

impl<C: Counter> DelayNs for Delay<C> {
    fn delay_ns(&mut self, ns: u32) {
        self.wait_ns(ns.into());
    }

    /// One wait for the whole time (the trait's default loops over `delay_ns`).
    fn delay_us(&mut self, us: u32) {
        self.wait_ns(u64::from(us) * 1_000);
    }

    /// One wait for the whole time (the trait's default loops over `delay_ns`).
    fn delay_ms(&mut self, ms: u32) {
        self.wait_ns(u64::from(ms) * 1_000_000);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A counter that advances by `step` on every read, starting from `start`.
    struct FakeCounter {
        value: AtomicU64,
        step: u64,
        hz: u64,
        reads: AtomicU64,
    }

    impl FakeCounter {
        fn new(start: u64, step: u64, hz: u64) -> FakeCounter {
            FakeCounter { value: AtomicU64::new(start), step, hz, reads: AtomicU64::new(0) }
        }
    }

    impl Counter for FakeCounter {
        fn now(&self) -> u64 {
            self.reads.fetch_add(1, Ordering::Relaxed);
            // `fetch_add` wraps, as the hardware counter does.
            self.value.fetch_add(self.step, Ordering::Relaxed)
        }

        fn frequency(&self) -> u64 {
            self.hz
        }
    }

    /// Ticks the fake counter moved during `wait`, and how many times it was read.
    fn measure(start: u64, step: u64, hz: u64, wait: impl FnOnce(&mut Delay<FakeCounter>)) -> (u64, u64) {
        let mut delay = Delay::new(FakeCounter::new(start, step, hz)).expect("nonzero frequency");
        wait(&mut delay);
        let counter = delay.into_inner();
        let reads = counter.reads.load(Ordering::Relaxed);
        // The first read returned `start`; the last returned `start + (reads-1)*step`.
        (reads.saturating_sub(1).wrapping_mul(step), reads)
    }

    #[test]
    fn the_device_tree_frequency_overrides_cntfrq() {
        assert_eq!(choose_frequency(62_500_000, None), Ok(62_500_000));
        assert_eq!(choose_frequency(62_500_000, Some(24_000_000)), Ok(24_000_000));
        assert_eq!(choose_frequency(0, Some(24_000_000)), Ok(24_000_000));
        // A zero property is no correction: fall back to the register.
        assert_eq!(choose_frequency(1_000_000_000, Some(0)), Ok(1_000_000_000));
        assert_eq!(choose_frequency(0, Some(0)), Err(TimerError::ZeroFrequency));
        assert_eq!(choose_frequency(0, None), Err(TimerError::ZeroFrequency));
    }

    #[test]
    fn ns_to_ticks_rounds_up_at_common_frequencies() {
        assert_eq!(ns_to_ticks(1_000_000_000, 62_500_000), Ok(62_500_000));
        assert_eq!(ns_to_ticks(1_000, 62_500_000), Ok(63)); // 62.5 -> 63
        assert_eq!(ns_to_ticks(1, 62_500_000), Ok(1));
        assert_eq!(ns_to_ticks(0, 62_500_000), Ok(0));
        assert_eq!(ns_to_ticks(1_000, 1_000_000_000), Ok(1_000));
        assert_eq!(ns_to_ticks(1, 24_000_000), Ok(1));
        assert_eq!(ns_to_ticks(1_000_000, 24_000_000), Ok(24_000));
    }

    #[test]
    fn ns_to_ticks_at_the_extremes() {
        assert_eq!(ns_to_ticks(u64::MAX, 1_000_000_000), Ok(u64::MAX));
        assert_eq!(ns_to_ticks(u64::MAX, 1), Ok(u64::MAX.div_ceil(1_000_000_000)));
        assert_eq!(ns_to_ticks(u64::MAX, 1_000_000_001), Err(TimerError::Overflow));
        assert_eq!(ns_to_ticks(u64::MAX, u64::MAX), Err(TimerError::Overflow));
        assert_eq!(ns_to_ticks(1, u64::MAX), Ok(u64::MAX / 1_000_000_000 + 1));
        assert_eq!(ns_to_ticks(5, 0), Err(TimerError::ZeroFrequency));
    }

    #[test]
    fn ticks_to_ns_at_the_extremes() {
        assert_eq!(ticks_to_ns(62_500_000, 62_500_000), Ok(1_000_000_000));
        assert_eq!(ticks_to_ns(1, 62_500_000), Ok(16)); // 16.0 exactly
        assert_eq!(ticks_to_ns(1, 24_000_000), Ok(41)); // 41.67 -> 41
        assert_eq!(ticks_to_ns(u64::MAX, 1_000_000_000), Ok(u64::MAX));
        assert_eq!(ticks_to_ns(u64::MAX, u64::MAX), Ok(1_000_000_000));
        // A 64-bit count at 62.5 MHz is ~9358 years: more nanoseconds than fit.
        assert_eq!(ticks_to_ns(u64::MAX, 62_500_000), Err(TimerError::Overflow));
        assert_eq!(ticks_to_ns(u64::MAX, 1), Err(TimerError::Overflow));
        assert_eq!(ticks_to_ns(1, 0), Err(TimerError::ZeroFrequency));
    }

    #[test]
    fn conversions_round_trip_without_losing_time() {
        for hz in [1, 24_000_000, 62_500_000, 1_000_000_000, 3_000_000_000] {
            for ns in [1, 999, 1_000_000, 123_456_789_012, u64::MAX / 4] {
                let Ok(ticks) = ns_to_ticks(ns, hz) else { continue };
                // Rounding up then down never gives back less than was asked.
                if let Ok(back) = ticks_to_ns(ticks, hz) {
                    assert!(back >= ns, "{ns} ns at {hz} Hz -> {ticks} ticks -> {back} ns");
                }
            }
        }
    }

    #[test]
    fn ticks_per_period_is_checked() {
        assert_eq!(ticks_per_period(62_500_000, Duration::from_millis(1)), Ok(62_500));
        assert_eq!(ticks_per_period(24_000_000, Duration::from_millis(10)), Ok(240_000));
        assert_eq!(ticks_per_period(62_500_000, Duration::from_nanos(1)), Ok(1));
        assert_eq!(ticks_per_period(0, Duration::from_millis(1)), Err(TimerError::ZeroFrequency));
        assert_eq!(ticks_per_period(62_500_000, Duration::ZERO), Err(TimerError::ZeroPeriod));
        assert_eq!(ticks_per_period(u64::MAX, Duration::MAX), Err(TimerError::Overflow));
        assert_eq!(ticks_per_period(1_000_000_000, Duration::from_secs(u64::MAX)), Err(TimerError::Overflow));
        assert_eq!(ticks_per_period(1, Duration::from_secs(u64::MAX)), Ok(u64::MAX));
    }

    #[test]
    fn a_deadline_is_wrap_safe() {
        let d = Deadline::after(u64::MAX - 5, 10);
        assert_eq!(d.compare_value(), 4);
        assert!(!d.passed(u64::MAX));
        assert!(!d.passed(4)); // exactly 10 ticks: maybe only 9 whole periods
        assert!(d.passed(5));
        assert!(d.passed(1_000));
        assert!(Deadline::after(7, 0).passed(7));
    }

    #[test]
    fn delay_ns_waits_at_least_the_time_asked() {
        // 62.5 MHz, one tick per read: 1 us is 63 ticks (rounded up), plus one.
        let (elapsed, _) = measure(1_000, 1, 62_500_000, |d| d.delay_ns(1_000));
        assert_eq!(elapsed, 64);
        let (elapsed, _) = measure(0, 7, 1_000_000_000, |d| d.delay_us(3));
        assert!(elapsed > 3_000 && elapsed < 3_000 + 2 * 7, "{elapsed}");
        let (elapsed, _) = measure(0, 1_000, 24_000_000, |d| d.delay_ms(2));
        assert!(elapsed > 48_000 && elapsed <= 48_000 + 2_000, "{elapsed}");
    }

    #[test]
    fn delay_survives_the_counter_wrapping() {
        let start = u64::MAX - 10;
        let (elapsed, reads) = measure(start, 3, 1_000_000_000, |d| d.delay_ns(100));
        assert!(elapsed > 100 && elapsed <= 103, "{elapsed}");
        // It really crossed the wrap, and did not stop at it.
        assert!(start.wrapping_add(elapsed) < start);
        assert_eq!(reads, 35);
    }

    #[test]
    fn the_longest_delays_do_not_overflow() {
        // u32::MAX ms at 1 GHz is ~4.3e15 ticks; a counter stepping 1e12 per read.
        let (elapsed, _) = measure(u64::MAX - 1, 1_000_000_000_000, 1_000_000_000, |d| d.delay_ms(u32::MAX));
        let asked = u64::from(u32::MAX) * 1_000_000;
        assert!(elapsed > asked && elapsed <= asked + 1_000_000_000_000, "{elapsed}");
        // u32::MAX us at 4 GHz is ~1.7e13 ticks.
        let (elapsed, _) = measure(0, 1_000_000_000_000, 4_000_000_000, |d| d.delay_us(u32::MAX));
        let asked = ns_to_ticks(u64::from(u32::MAX) * 1_000, 4_000_000_000).expect("fits");
        assert!(elapsed > asked, "{elapsed} <= {asked}");
    }

    #[test]
    fn a_zero_delay_returns_at_once_and_zero_frequency_is_refused() {
        let (_, reads) = measure(0, 1, 62_500_000, |d| d.delay_ns(0));
        assert_eq!(reads, 0);
        assert_eq!(Delay::new(FakeCounter::new(0, 1, 0)).err(), Some(TimerError::ZeroFrequency));
        let delay = Delay::new(FakeCounter::new(0, 1, 62_500_000)).expect("nonzero");
        assert_eq!(delay.frequency(), 62_500_000);
        assert_eq!(delay.counter().frequency(), 62_500_000);
    }
}
