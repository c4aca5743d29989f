// SPDX-License-Identifier: MIT OR Apache-2.0
//! `rttest`: hard real time at user level, end to end, run as the root task.
//!
//! The host tests check the arithmetic of `rt::timer` and the kernel's timeout queues
//! and inheritance on the fake machine; this program checks that the pieces work
//! together on the target, all on the root's CPU:
//!
//! 1. **sleep**: `rt::timer::sleep` for 2 ms wakes no earlier;
//! 2. **sleep-until**: `sleep_until` a counter value wakes no earlier;
//! 3. **periodic**: a 1 kHz `Periodic` for 50 periods: each release a whole number of
//!    periods after the last (one, unless the thread came a period late or more, which
//!    an unloaded host never makes it but a busy one can: each skipped release must be
//!    counted in `overruns`), each wake-up no earlier than its release;
//! 4. **ipc-deadline**: `receive_until` from a thread that never sends, and
//!    `call_until` to a server that takes the call and never answers, each end with
//!    `ReceiveTimeout`, no earlier than the deadline;
//! 5. **delay-sleeps**: `rt::timer::delay()`'s `DelayNs::delay_ms(5)` lets a thread of
//!    lower priority on the same CPU run meanwhile (a spinning delay would not: it
//!    runs at the higher priority);
//! 6. **pi**: priority inheritance, high / medium / low on one CPU: a low-priority
//!    server (20) that works 2 ms per request, a medium-priority thread (100) that
//!    spins for 200 ms once started, a high-priority client (150) that calls the
//!    server after starting the spinner. With inheritance the server runs at the
//!    client's priority and the client has its answer while the spinner still spins;
//!    without it the server waits for the spinner to finish (the check: the answer
//!    came before the spinner's end). Then the same with the server busy when the
//!    call comes (queued: the server is raised at once) and through a chain
//!    (client -> server A -> server B, both low).
//!
//! `report: rttest checks= failed=0 sleep=pass ...` (each scenario `pass` or
//! `fail`) and `report: rttest-timing ...` with what was measured (microseconds, for
//! reading, never judged: timings are `scripts/bench`'s).
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

rt::entry!(rttest);

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod user {
    use abi::Error;
    use abi::message::Tag;
    use abi::syscall::{CURRENT_CPU, ExregsControl};
    use abi::timeout::{Timeout, Timeouts};
    use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use core::time::Duration;
    use embedded_hal::delay::DelayNs;
    use rt::timer::{self, Clock, Counter};
    use rt::{println, sys};

    /// Threads of this program (in the root's space), their UTCBs and stacks.
    const SERVER: u64 = 0x40;
    const SPINNER: u64 = 0x41;
    const CLIENT: u64 = 0x42;
    const SERVER_B: u64 = 0x43;
    const SILENT: u64 = 0x44;
    const UTCBS: u64 = 0x28_0000;
    const STACKS: u64 = 0x21_0000_0000;
    /// `MemoryControl` flags: read-write, nearest node if the asked one is exhausted.
    const RW_NEAREST: u64 = abi::memory_control::MemoryControlFlags::RW_NEAREST.raw();
    /// Priorities: the root (200) above all; the client, the spinner, the servers.
    const CLIENT_PRIORITY: u8 = 150;
    const SPINNER_PRIORITY: u8 = 100;
    const SERVER_PRIORITY: u8 = 20;
    /// A request's work, and the spinner's run.
    const WORK_US: u64 = 2_000;
    const SPIN_US: u64 = 200_000;
    /// Labels: a request, the client's report to the root.
    const REQUEST: u16 = 0x300;
    const CLIENT_DONE: u16 = 0x301;

    /// Set by the spinner when its run is over (it then blocks for good).
    static SPIN_OVER: AtomicBool = AtomicBool::new(false);
    /// How the client's call went: the counter when it was answered, and whether the
    /// spinner was still spinning then.
    static ANSWERED_AT: AtomicU64 = AtomicU64::new(0);
    static ANSWERED_DURING_SPIN: AtomicBool = AtomicBool::new(false);
    /// Which server the client calls (thread number), and whether server A forwards
    /// each request to server B (the chain).
    static TARGET: AtomicU64 = AtomicU64::new(SERVER);
    static FORWARD: AtomicBool = AtomicBool::new(false);
    /// Counts of the low-priority witness (the spinner's loop when it runs as a witness).
    static WITNESS: AtomicU64 = AtomicU64::new(0);

    fn id(number: u64) -> u64 {
        (number << 16) | 1
    }

    fn tag(label: u16, u: u8) -> u64 {
        Tag::new(label, u, 0).map_or(0, |t| t.raw())
    }

    fn us_of(ticks: u64) -> u64 {
        ticks.saturating_mul(1_000_000) / Counter.frequency()
    }

    struct Checks {
        checks: u32,
        failed: u32,
    }

    impl Checks {
        fn check(&mut self, ok: bool, what: &str) -> bool {
            self.checks += 1;
            if !ok {
                self.failed += 1;
                println!("rttest: FAIL {what}");
            }
            ok
        }
    }

    fn verdict(ok: bool) -> &'static str {
        if ok { "pass" } else { "fail" }
    }

    /// Creates thread `number` in this space on this CPU at `priority`, with a stack,
    /// and starts it at `entry`.
    fn start(number: u64, slot: u64, priority: u8, entry: extern "C" fn(u64) -> !) -> Result<(), Error> {
        let (me, t) = (id(abi::thread::ROOT_THREAD_NUMBER), id(number));
        let stack = STACKS + slot * 0x10_0000;
        sys::memory_control(0, 2, stack, RW_NEAREST)?;
        sys::thread_control(t, me, me, me, UTCBS + slot * abi::PAGE_SIZE, CURRENT_CPU)?;
        sys::schedule(t, Some(priority), None, None)?;
        let start = ExregsControl::START | ExregsControl::SET_SP | ExregsControl::SET_IP;
        sys::exchange_registers(t, start.raw(), stack + 0x4000, entry as usize as u64, 0).map(|_| ())
    }

    /// Busy until the counter has moved `us` microseconds on (the CPU's time, not the
    /// thread's: what it means to work for that long).
    fn work(us: u64) {
        let end = timer::deadline_in_us(us);
        while Counter.now() < end {
            core::hint::spin_loop();
        }
    }

    /// Server A (and B): takes a request, works `WORK_US` (A first forwards it to B
    /// when `FORWARD` is set: a chain), answers in its next wait (an answer nobody
    /// waits for, to a plain send, is dropped: zero send timeout), takes the next.
    extern "C" fn server_main(_utcb: u64) -> ! {
        let never = Timeouts::NEVER.pack();
        let reply_wait = Timeouts { send: Timeout::Zero, receive: Timeout::Never }.pack();
        let mut reply_to = 0;
        loop {
            let from = match sys::ipc(reply_to, u64::MAX, reply_wait, [tag(0, 0), 0, 0, 0, 0]) {
                Ok(m) => m.from,
                Err(_) => {
                    // The answer could not go (and the receive did not run): wait.
                    reply_to = 0;
                    continue;
                }
            };
            if FORWARD.load(Ordering::Acquire) && rt::my_id() == id(SERVER) {
                let b = id(SERVER_B);
                let _ = sys::ipc(b, b, never, [tag(REQUEST, 0), 0, 0, 0, 0]);
            }
            work(WORK_US);
            reply_to = from;
        }
    }

    /// The medium-priority thread: spins `SPIN_US` each time it is told (counting,
    /// as the witness of who gets the CPU), then waits to be told again.
    extern "C" fn spinner_main(_utcb: u64) -> ! {
        loop {
            let _ = sys::ipc(0, u64::MAX, Timeouts::NEVER.pack(), [0; 5]);
            SPIN_OVER.store(false, Ordering::Release);
            let end = timer::deadline_in_us(SPIN_US);
            while Counter.now() < end {
                WITNESS.fetch_add(1, Ordering::Relaxed);
            }
            SPIN_OVER.store(true, Ordering::Release);
        }
    }

    /// The high-priority client: told to go (a notification), calls the server once,
    /// records when the answer came and whether the spinner was still spinning, tells
    /// the root (a Call: the root answers when it has read the result).
    extern "C" fn client_main(_utcb: u64) -> ! {
        let root = id(abi::thread::ROOT_THREAD_NUMBER);
        let never = Timeouts::NEVER.pack();
        loop {
            let _ = sys::ipc(0, u64::MAX, never, [0; 5]);
            let server = id(TARGET.load(Ordering::Acquire));
            let r = sys::ipc(server, server, never, [tag(REQUEST, 0), 0, 0, 0, 0]);
            ANSWERED_AT.store(Counter.now(), Ordering::Release);
            ANSWERED_DURING_SPIN.store(r.is_ok() && !SPIN_OVER.load(Ordering::Acquire), Ordering::Release);
            let _ = sys::ipc(root, root, never, [tag(CLIENT_DONE, 0), 0, 0, 0, 0]);
        }
    }

    /// A thread that takes one call and never answers.
    extern "C" fn silent_main(_utcb: u64) -> ! {
        loop {
            let _ = sys::ipc(0, u64::MAX, Timeouts::NEVER.pack(), [0; 5]);
        }
    }

    /// One priority-inheritance round: the spinner spins, the client calls `target`
    /// (which is waiting, or busy when `busy`); whether the answer came while the
    /// spinner still spun, and after how long.
    fn pi_round(target: u64, busy: bool, forward: bool) -> (bool, u64) {
        TARGET.store(target, Ordering::Release);
        FORWARD.store(forward, Ordering::Release);
        SPIN_OVER.store(false, Ordering::Release);
        ANSWERED_DURING_SPIN.store(false, Ordering::Release);
        let start = Counter.now();
        // The spinner spins (told now: it runs while this thread sleeps), then the
        // client (told next) preempts it and calls.
        let _ = sys::notify(id(SPINNER), 0);
        timer::sleep(Duration::from_millis(1));
        if busy {
            // Keep the server busy when the call comes: ask it for work first, without
            // waiting for the answer (a send; it answers this thread later).
            let s = id(target);
            let _ = sys::ipc(s, 0, Timeouts::NEVER.pack(), [tag(REQUEST, 0), 0, 0, 0, 0]);
        }
        let client = id(CLIENT);
        let _ = sys::notify(client, 0);
        // Wait for the client's report (the server's answer to our own request, if
        // any, comes on the way: skip it).
        loop {
            match sys::ipc(0, client, Timeouts::NEVER.pack(), [0; 5]) {
                Ok(m) if Tag::from_raw(m.mr[0]).map(|t| t.label()) == Ok(CLIENT_DONE) => break,
                Ok(_) => continue,
                Err(_) => return (false, 0),
            }
        }
        let during = ANSWERED_DURING_SPIN.load(Ordering::Acquire);
        let took = ANSWERED_AT.load(Ordering::Acquire).saturating_sub(start);
        let _ = sys::ipc(client, 0, Timeouts::NEVER.pack(), [tag(0, 0), 0, 0, 0, 0]);
        // Let the spinner finish its run (it waits again afterwards).
        while !SPIN_OVER.load(Ordering::Acquire) {
            timer::sleep(Duration::from_millis(10));
        }
        (during, us_of(took))
    }

    pub fn rttest(_utcb: rt::UtcbAddr) -> ! {
        println!("rttest: sleeps, periodic timers, IPC deadlines, a sleeping DelayNs, priority inheritance");
        let mut c = Checks { checks: 0, failed: 0 };
        let f = Counter.frequency();

        // 1. sleep
        let before = Counter.now();
        timer::sleep(Duration::from_millis(2));
        let slept = Counter.now() - before;
        let sleep_ok = c.check(slept >= 2 * f / 1000, "sleep(2 ms) woke early");

        // 2. sleep_until
        let deadline = Counter.now() + f / 1000 * 3 + 7;
        timer::sleep_until(deadline);
        let woke = Counter.now();
        let until_ok = c.check(woke >= deadline, "sleep_until woke early");
        let until_late = us_of(woke - deadline);

        // 3. periodic, 1 kHz
        let mut p = timer::periodic(Duration::from_millis(1));
        let mut last = 0;
        let mut periodic_ok = true;
        let mut periodic_late = 0;
        let mut skipped = 0;
        for k in 0..50 {
            let release = p.wait();
            let now = Counter.now();
            periodic_ok &= now >= release;
            if k > 0 {
                // Exactly one period after the last release, or a whole number more
                // when this thread came late (the host, not the kernel, may stall a
                // QEMU vCPU for milliseconds): what counts is that releases stay on
                // the grid, never early, and every skipped one is counted.
                let missed = p.overruns() - skipped;
                periodic_ok &= release - last == p.period() * (1 + missed);
            }
            skipped = p.overruns();
            periodic_late = periodic_late.max(now - release);
            last = release;
        }
        periodic_ok = c.check(periodic_ok, "periodic releases off the period grid, uncounted, or early");

        // 4. IPC with a deadline
        let mut ipc_ok = true;
        let silent = id(SILENT);
        if start(SILENT, 4, SERVER_PRIORITY, silent_main).is_err() {
            ipc_ok = false;
        }
        let deadline = timer::deadline_in_us(1500);
        let r = timer::receive_until(silent, deadline);
        ipc_ok &= matches!(r, Err(Error::ReceiveTimeout)) && Counter.now() >= deadline;
        let deadline = timer::deadline_in_us(1500);
        let r = timer::call_until(silent, [tag(REQUEST, 0), 0, 0, 0, 0], deadline);
        ipc_ok &= matches!(r, Err(Error::ReceiveTimeout)) && Counter.now() >= deadline;
        ipc_ok = c.check(ipc_ok, "an IPC deadline did not end the IPC, or ended it early");

        // 5. DelayNs sleeps: the spinner (lower priority) runs while this thread waits.
        let mut delay_ok = start(SPINNER, 1, SPINNER_PRIORITY, spinner_main).is_ok();
        // It waits for a word (it is lower: it runs only when this thread waits).
        SPIN_OVER.store(false, Ordering::Release);
        let _ = sys::notify(id(SPINNER), 0);
        let before = WITNESS.load(Ordering::Relaxed);
        let mut d = timer::delay();
        let t0 = Counter.now();
        d.delay_ms(5);
        let waited = Counter.now() - t0;
        let ran = WITNESS.load(Ordering::Relaxed) - before;
        delay_ok &= waited >= 5 * f / 1000 && ran > 0;
        delay_ok = c.check(
            delay_ok,
            "DelayNs over 5 ms did not let a lower-priority thread run (it spun), or ended early",
        );
        while !SPIN_OVER.load(Ordering::Acquire) {
            timer::sleep(Duration::from_millis(10));
        }

        // 6. Priority inheritance.
        let started = start(SERVER, 2, SERVER_PRIORITY, server_main).is_ok()
            && start(SERVER_B, 3, SERVER_PRIORITY + 1, server_main).is_ok()
            && start(CLIENT, 5, CLIENT_PRIORITY, client_main).is_ok();
        let (waiting, waiting_us) = pi_round(SERVER, false, false);
        let (busy, busy_us) = pi_round(SERVER, true, false);
        let (chain, chain_us) = pi_round(SERVER, false, true);
        let pi_ok = c
            .check(started && waiting, "pi: a call to a waiting low server waited for the medium spinner")
            & c.check(busy, "pi: a call to a busy low server waited for the medium spinner")
            & c.check(chain, "pi: a call through a chain of low servers waited for the medium spinner");

        println!(
            "{}",
            report::line!("rttest-timing",
                "sleep_us" => us_of(slept),
                "sleep_until_late_us" => until_late,
                "periodic_max_late_us" => us_of(periodic_late),
                "periodic_overruns" => skipped,
                "pi_waiting_us" => waiting_us,
                "pi_busy_us" => busy_us,
                "pi_chain_us" => chain_us,
                "delay_witness" => WITNESS.load(Ordering::Relaxed),
            )
        );
        println!(
            "{}",
            report::line!("rttest",
                "checks" => c.checks,
                "failed" => c.failed,
                "sleep" => verdict(sleep_ok),
                "sleep-until" => verdict(until_ok),
                "periodic" => verdict(periodic_ok),
                "ipc-deadline" => verdict(ipc_ok),
                "delay-sleeps" => verdict(delay_ok),
                "pi" => verdict(pi_ok),
            )
        );
        let e = sys::power_off(u64::from(c.failed != 0));
        println!("rttest: SystemControl refused: {e}");
        loop {
            core::hint::spin_loop();
        }
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
use user::rttest;

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn rttest(_utcb: rt::UtcbAddr) -> ! {
    unreachable!("the host build only type-checks the entry")
}
