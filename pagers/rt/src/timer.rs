// SPDX-License-Identifier: MIT OR Apache-2.0
//! Timers for programs: `sleep`, `sleep_until`, a periodic timer, IPC with a deadline,
//! and an `embedded-hal` `DelayNs` that sleeps instead of spinning when the wait is long.
//!
//! # Design
//! Every timer is a kernel IPC timeout: a thread sleeps by waiting in a closed receive
//! from itself (which nothing can ever satisfy) with a receive timeout, and the kernel's
//! tickless timer (`kernel/src/l4/time.rs`) wakes it when that expires, to the
//! microsecond: so any number of threads have any number of timers, each costing
//! nothing while it waits, and the CPU runs other threads (or sleeps) meanwhile. There
//! is no timer service and no shared state.
//!
//! Deadlines are system-counter values (`sys::counter`, read at user level without a
//! system call). A timeout is relative and in whole microseconds (at most
//! [`MAX_TIMEOUT_US`], about 71 minutes), so `sleep_until` ([`sleep_until_with`])
//! turns the deadline into microseconds rounded **up** (never early), and loops for
//! longer waits or when it woke early for any reason. A wake-up is late by the kernel's
//! path from the timer interrupt to the thread (`scripts/bench`: `timeout_lateness_*`)
//! plus the time between reading the counter and the system call; it is never early.
//!
//! [`Periodic`] releases a thread at `start + k * period` exactly: each release is
//! computed from the first, not from when the thread woke, so lateness never
//! accumulates (no drift); a release missed entirely is skipped and counted
//! ([`Periodic::overruns`]), not made up in a burst.
//!
//! `call_until` and `receive_until` (through [`timeouts_until`]) are IPC with a
//! deadline: both phases get the time left. The kernel times the receive phase from
//! when it starts, so a Call whose send had to wait for the server may end up to that
//! wait after the deadline (with `ReceiveTimeout`); a server already waiting (the usual
//! case) makes it exact.
//!
//! [`SleepDelay`] implements `DelayNs`: waits of at least [`SLEEP_THRESHOLD_NS`]
//! sleep for all but the last [`SPIN_MARGIN_NS`] and spin the rest (so the wait is as
//! precise as the spinning `Delay`), shorter ones only spin.
//!
//! The arithmetic is here, generic over a [`Clock`] and a [`Waiter`], and tested on the
//! host against a clock the tests advance; the target's clock and waiter are the
//! counter and the kernel (`on_target` below).

use abi::timeout::{Timeout, Timeouts};

/// The longest timeout one IPC can carry, in microseconds (`u32::MAX` means never).
pub const MAX_TIMEOUT_US: u64 = 0xFFFF_FFFE;
/// Waits at least this long sleep in the kernel ([`SleepDelay`]); shorter ones spin.
pub const SLEEP_THRESHOLD_NS: u64 = 50_000;
/// How much of a long wait [`SleepDelay`] spins at its end, for precision.
pub const SPIN_MARGIN_NS: u64 = 10_000;

/// A counter to read deadlines against.
pub trait Clock {
    /// The counter now.
    fn now(&self) -> u64;
    /// Its frequency, in Hz (nonzero).
    fn frequency(&self) -> u64;
}

/// A way to block for a while.
pub trait Waiter {
    /// Blocks for about `us` microseconds (`1..=MAX_TIMEOUT_US`), never less.
    fn wait_us(&mut self, us: u32);
}

/// Microseconds from `now` to `deadline` on a counter of `frequency` Hz, rounded up
/// (a wait that long never ends early); `None` when the deadline has come.
pub fn micros_until(now: u64, deadline: u64, frequency: u64) -> Option<u64> {
    let ticks = deadline.checked_sub(now).filter(|&t| t > 0)?;
    let us = (u128::from(ticks) * 1_000_000).div_ceil(u128::from(frequency.max(1)));
    Some(u64::try_from(us).unwrap_or(u64::MAX).max(1))
}

/// `us` microseconds in ticks of a counter of `frequency` Hz (rounded up).
pub fn ticks_of_micros(us: u64, frequency: u64) -> u64 {
    u64::try_from((u128::from(us) * u128::from(frequency)).div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// The timeout of one wait towards a deadline `us` microseconds away: all of it, or
/// the longest one IPC can carry.
pub fn chunk(us: u64) -> u32 {
    us.clamp(1, MAX_TIMEOUT_US) as u32
}

/// Blocks until `clock` reaches `deadline` (at once if it has), waiting through
/// `waiter` as often as it takes.
pub fn sleep_until_with<C: Clock, W: Waiter>(clock: &C, waiter: &mut W, deadline: u64) {
    while let Some(us) = micros_until(clock.now(), deadline, clock.frequency()) {
        waiter.wait_us(chunk(us));
    }
}

/// The IPC timeouts for an IPC that must end by `deadline`: both phases get the time
/// left (zero when it has come: the IPC then only goes through if its partner waits).
pub fn timeouts_until<C: Clock>(clock: &C, deadline: u64) -> Timeouts {
    let left = match micros_until(clock.now(), deadline, clock.frequency()) {
        Some(us) => Timeout::Micros(chunk(us)),
        None => Timeout::Zero,
    };
    Timeouts { send: left, receive: left }
}

/// A periodic release: `start + k * period` for k = 1, 2, ...
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Periodic {
    period: u64,
    next: u64,
    overruns: u64,
}

impl Periodic {
    /// Releases every `period` counter ticks (at least 1) after `start`.
    pub fn new(start: u64, period: u64) -> Periodic {
        let period = period.max(1);
        Periodic { period, next: start.saturating_add(period), overruns: 0 }
    }

    /// The release to wait for, given that it is `now`; the one after becomes next. A
    /// release that `now` is a whole period or more past is skipped (counted in
    /// [`Periodic::overruns`]), so a late thread catches up without a burst.
    pub fn next_release(&mut self, now: u64) -> u64 {
        if now >= self.next.saturating_add(self.period) {
            let missed = (now - self.next) / self.period;
            self.overruns += missed;
            self.next = self.next.saturating_add(missed * self.period);
        }
        let release = self.next;
        self.next = self.next.saturating_add(self.period);
        release
    }

    /// Waits (through `waiter`) for the next release; returns it.
    pub fn wait_with<C: Clock, W: Waiter>(&mut self, clock: &C, waiter: &mut W) -> u64 {
        let release = self.next_release(clock.now());
        sleep_until_with(clock, waiter, release);
        release
    }

    /// The period, in counter ticks.
    pub fn period(&self) -> u64 {
        self.period
    }

    /// Releases skipped because the thread was a whole period late or more.
    pub fn overruns(&self) -> u64 {
        self.overruns
    }
}

/// How a delay of `ns` nanoseconds is spent: (sleeping, spinning), in nanoseconds.
pub fn split_delay(ns: u64) -> (u64, u64) {
    if ns < SLEEP_THRESHOLD_NS { (0, ns) } else { (ns - SPIN_MARGIN_NS, SPIN_MARGIN_NS) }
}

/// An `embedded-hal` `DelayNs` that sleeps through `waiter` for the bulk of a long wait
/// and spins on `clock` for the rest (and for short waits).
pub struct SleepDelay<C: Clock, W: Waiter> {
    clock: C,
    waiter: W,
}

impl<C: Clock, W: Waiter> SleepDelay<C, W> {
    /// A delay on `clock`, sleeping through `waiter`.
    pub fn with(clock: C, waiter: W) -> SleepDelay<C, W> {
        SleepDelay { clock, waiter }
    }

    /// Waits at least `ns` nanoseconds.
    pub fn wait_ns(&mut self, ns: u64) {
        let f = self.clock.frequency();
        let start = self.clock.now();
        let end = start.saturating_add(
            u64::try_from((u128::from(ns) * u128::from(f)).div_ceil(1_000_000_000)).unwrap_or(u64::MAX),
        );
        let (sleep, _) = split_delay(ns);
        if sleep > 0 {
            let wake = start.saturating_add(
                u64::try_from(u128::from(sleep) * u128::from(f) / 1_000_000_000).unwrap_or(u64::MAX),
            );
            sleep_until_with(&self.clock, &mut self.waiter, wake);
        }
        while self.clock.now() < end {
            core::hint::spin_loop();
        }
    }
}

impl<C: Clock, W: Waiter> embedded_hal::delay::DelayNs for SleepDelay<C, W> {
    fn delay_ns(&mut self, ns: u32) {
        self.wait_ns(ns.into());
    }

    /// One wait for the whole time (the trait's default loops over `delay_ns`).
    fn delay_us(&mut self, us: u32) {
        self.wait_ns(u64::from(us) * 1_000);
    }

    /// One wait for the whole time.
    fn delay_ms(&mut self, ms: u32) {
        self.wait_ns(u64::from(ms) * 1_000_000);
    }
}

/// The timers on the target: the system counter, and the kernel as the waiter.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod on_target {
    use super::{Clock, Periodic, SleepDelay, Waiter, sleep_until_with, ticks_of_micros, timeouts_until};
    use crate::sys::{self, Received};
    use abi::Error;
    use abi::timeout::{Timeout, Timeouts};
    use core::time::Duration;

    /// The system counter (read at user level) as a [`Clock`].
    #[derive(Clone, Copy, Debug, Default)]
    pub struct Counter;

    impl Clock for Counter {
        fn now(&self) -> u64 {
            sys::counter()
        }

        fn frequency(&self) -> u64 {
            sys::kip().counter_frequency.max(1)
        }
    }

    /// The kernel as a [`Waiter`]: a closed receive from the calling thread itself,
    /// which no message can end, with a receive timeout.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct Kernel;

    impl Waiter for Kernel {
        fn wait_us(&mut self, us: u32) {
            let timeouts = Timeouts { send: Timeout::Zero, receive: Timeout::Micros(us) };
            // `ReceiveTimeout` is the expected end; any other (a cancel) only makes the
            // caller look at the clock again.
            let _ = sys::ipc(0, self_id(), timeouts.pack(), [0; 5]);
        }
    }

    /// This thread's id (the root task's too, whose UTCB holds none).
    fn self_id() -> u64 {
        match crate::my_id() {
            0 => abi::thread::ThreadId::ROOT.raw(),
            id => id,
        }
    }

    /// Sleeps until the system counter reaches `deadline`.
    pub fn sleep_until(deadline: u64) {
        sleep_until_with(&Counter, &mut Kernel, deadline);
    }

    /// Sleeps for `d` (to the microsecond, rounded up).
    pub fn sleep(d: Duration) {
        let us = u64::try_from(d.as_nanos().div_ceil(1_000)).unwrap_or(u64::MAX);
        sleep_until(deadline_in_us(us));
    }

    /// The counter `us` microseconds from now.
    pub fn deadline_in_us(us: u64) -> u64 {
        Counter.now().saturating_add(ticks_of_micros(us, Counter.frequency()))
    }

    /// A periodic timer of `period` (at least one counter tick), its first release one
    /// period from now.
    pub fn periodic(period: Duration) -> Periodic {
        let us = u64::try_from(period.as_nanos().div_ceil(1_000)).unwrap_or(u64::MAX);
        Periodic::new(Counter.now(), ticks_of_micros(us, Counter.frequency()))
    }

    impl Periodic {
        /// Sleeps until the next release; returns it (a counter value).
        pub fn wait(&mut self) -> u64 {
            self.wait_with(&Counter, &mut Kernel)
        }
    }

    /// A Call (send `mr` to `to`, then receive its answer) that must end by `deadline`
    /// (counter): `SendTimeout` or `ReceiveTimeout` otherwise (see the module's note on
    /// the receive phase).
    pub fn call_until(to: u64, mr: [u64; 5], deadline: u64) -> Result<Received, Error> {
        sys::ipc(to, to, timeouts_until(&Counter, deadline).pack(), mr)
    }

    /// A receive from `from` (`u64::MAX`: anyone) that must end by `deadline`.
    pub fn receive_until(from: u64, deadline: u64) -> Result<Received, Error> {
        sys::ipc(0, from, timeouts_until(&Counter, deadline).pack(), [0; 5])
    }

    /// A `DelayNs` that sleeps through long waits and spins through short ones.
    pub fn delay() -> SleepDelay<Counter, Kernel> {
        SleepDelay::with(Counter, Kernel)
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub use on_target::{
    Counter, Kernel, call_until, deadline_in_us, delay, periodic, receive_until, sleep, sleep_until,
};

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;
    use embedded_hal::delay::DelayNs;

    /// QEMU virt's counter frequency.
    const F: u64 = 62_500_000;

    /// A counter the tests move: by `step` on every read (a spinning CPU's time).
    struct FakeClock {
        now: Cell<u64>,
        step: u64,
    }

    impl Clock for &FakeClock {
        fn now(&self) -> u64 {
            let now = self.now.get();
            self.now.set(now + self.step);
            now
        }

        fn frequency(&self) -> u64 {
            F
        }
    }

    /// The kernel as the tests model it: a wait of `us` ends `us` rounded up to a
    /// counter tick later, plus `late` ticks (the wake-up's path).
    struct FakeKernel<'a> {
        clock: &'a FakeClock,
        late: u64,
        waits: Vec<u32>,
    }

    impl Waiter for FakeKernel<'_> {
        fn wait_us(&mut self, us: u32) {
            assert!((1..=MAX_TIMEOUT_US as u32).contains(&us), "a timeout the ABI can carry: {us}");
            self.waits.push(us);
            let t = self.clock.now.get();
            self.clock.now.set(t + ticks_of_micros(u64::from(us), F) + self.late);
        }
    }

    fn world(start: u64, late: u64) -> (&'static FakeClock, FakeKernel<'static>) {
        let clock: &'static FakeClock = Box::leak(Box::new(FakeClock { now: Cell::new(start), step: 0 }));
        (clock, FakeKernel { clock, late, waits: Vec::new() })
    }

    #[test]
    fn sleep_until_never_wakes_early_and_is_late_only_by_the_kernels_wake_up() {
        for (start, after) in [(0, 1), (1000, 62), (5, 63), (7, 625_000), (123, 62_500_001)] {
            let (clock, mut kernel) = world(start, 0);
            let deadline = start + after;
            sleep_until_with(&clock, &mut kernel, deadline);
            let woke = clock.now.get();
            assert!(woke >= deadline, "never early: {woke} < {deadline}");
            assert!(
                woke - deadline < F / 1_000_000 + 1,
                "late by less than 1 us of rounding: {}",
                woke - deadline
            );
            assert_eq!(kernel.waits.len(), 1, "one wait");
        }
        let (clock, mut kernel) = world(500, 0);
        sleep_until_with(&clock, &mut kernel, 400);
        assert!(kernel.waits.is_empty(), "a deadline that has come: no wait");
    }

    #[test]
    fn a_sleep_longer_than_one_timeout_takes_several_waits() {
        let (clock, mut kernel) = world(0, 3);
        let three_hours = 3 * 3600 * F;
        sleep_until_with(&clock, &mut kernel, three_hours);
        assert!(clock.now.get() >= three_hours);
        assert_eq!(kernel.waits.len(), 3, "71-minute waits: {:?}", kernel.waits);
        assert_eq!(kernel.waits[0], MAX_TIMEOUT_US as u32);
    }

    #[test]
    fn periodic_releases_are_exact_and_lateness_does_not_accumulate() {
        let period = F / 1000; // 1 kHz
        let (clock, mut kernel) = world(1_000, 40); // every wake-up 40 ticks late
        let mut p = Periodic::new(1_000, period);
        for k in 1..=1000 {
            let release = p.wait_with(&clock, &mut kernel);
            assert_eq!(release, 1_000 + k * period, "release {k}");
            let woke = clock.now.get();
            // Late by the wake-up's 40 ticks and at most a microsecond of rounding,
            // whatever k is: no drift.
            let bound = 40 + F / 1_000_000 + 1;
            assert!(woke >= release && woke - release <= bound, "release {k}: woke {} late", woke - release);
        }
        assert_eq!(p.overruns(), 0);
    }

    #[test]
    fn a_periodic_thread_that_falls_behind_skips_the_missed_releases() {
        let mut p = Periodic::new(0, 100);
        assert_eq!(p.next_release(10), 100);
        assert_eq!(p.next_release(150), 200, "late, but not a whole period: the next one");
        assert_eq!(p.next_release(650), 600, "four releases late: three skipped");
        assert_eq!(p.overruns(), 3);
        assert_eq!(p.next_release(600), 700);
        assert_eq!(Periodic::new(u64::MAX - 5, 100).next_release(0), u64::MAX, "no overflow");
    }

    #[test]
    fn an_ipc_deadline_gives_both_phases_the_time_left() {
        let (clock, _) = world(1_000, 0);
        let t = timeouts_until(&clock, 1_000 + F / 1000);
        assert_eq!((t.send, t.receive), (Timeout::Micros(1000), Timeout::Micros(1000)));
        let t = timeouts_until(&clock, 1_001);
        assert_eq!(t.receive, Timeout::Micros(1), "a part of a microsecond: rounded up");
        let t = timeouts_until(&clock, 999);
        assert_eq!((t.send, t.receive), (Timeout::Zero, Timeout::Zero), "past: do not block");
        let t = timeouts_until(&clock, u64::MAX);
        assert_eq!(t.receive, Timeout::Micros(MAX_TIMEOUT_US as u32), "far: the longest there is");
    }

    #[test]
    fn long_delays_sleep_and_short_ones_spin_and_neither_ends_early() {
        assert_eq!(split_delay(1_000), (0, 1_000));
        assert_eq!(split_delay(1_000_000), (990_000, 10_000));
        let clock: &'static FakeClock = Box::leak(Box::new(FakeClock { now: Cell::new(0), step: 3 }));
        let kernel = FakeKernel { clock, late: 20, waits: Vec::new() };
        let mut d = SleepDelay::with(clock, kernel);
        d.delay_ms(5);
        assert!(clock.now.get() >= 5 * F / 1000, "not early");
        assert_eq!(d.waiter.waits, [4990], "slept all but the last 10 us");
        let before = clock.now.get();
        d.delay_us(20);
        assert!(clock.now.get() - before >= 20 * F / 1_000_000);
        assert_eq!(d.waiter.waits.len(), 1, "20 us: spun, not slept");
    }
}
