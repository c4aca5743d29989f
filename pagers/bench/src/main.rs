// SPDX-License-Identifier: MIT OR Apache-2.0
//! `bench`: the kernel's micro-benchmarks (IPC, page faults, mapping), run as the root
//! task by `scripts/bench`.
//!
//! Timings are never asserted in tests; they live here and in `scripts/bench`, measured
//! in guest instructions: under QEMU `-icount shift=0` the cycle counter PMCCNTR_EL0
//! counts exactly one per instruction, identically on every run. The kernel lets EL0
//! read it (`enable_user_cycle_counter` in `kernel/src/arch/aarch64/user.rs`), so each
//! number is the difference of two `mrs PMCCNTR_EL0` at user level, as sel4bench does on
//! seL4, whose numbers on the same QEMU `scripts/bench` prints beside ours.
//!
//! # Setup
//! The kernel starts this program as `root` (`mkinitrd OUT root=.../bench`). It creates
//! two threads, a **client** and a **server**, each in its **own new address space**
//! (as in real L4 use: every IPC below switches address spaces), both on the root's
//! CPU (home-CPU hint `CURRENT_CPU`), at the default priority 100 (the root runs at 200
//! but is blocked in a receive whenever they run). The root is their pager: their code
//! is its own pages mapped read-execute, their stack pages fresh frames, as
//! `pagers/root` does. The client runs every benchmark and sends the results to the
//! root, which prints them and powers off. Client and server run this program's code in
//! their own spaces, so they must not touch `static`s (their stacks only).
//!
//! # What is measured
//! Every IPC of the benchmarks goes through `ipc_timed`: `mrs` of the counter into a
//! register that is also sent as MR1, `svc`, `mrs` again. A counter value read in one
//! thread is compared with one read in another (same CPU, same counter).
//!
//! - `ipc_call_insns`: from the client's counter read right before the `svc` of a Call
//!   (to = from = server, one untyped word) to the server's read right after its
//!   receive returned with that message (the server was blocked in a ReplyWait).
//! - `ipc_reply_insns`: from the server's read right before the `svc` of its ReplyWait
//!   (reply of two untyped words to the client, then an open receive that blocks) to
//!   the client's read right after its Call returned. Together the two are one
//!   round trip, like seL4's Call and ReplyRecv.
//! - `fault_roundtrip_insns`: the client reads the counter, loads from an unmapped page,
//!   reads the counter: the fault, its IPC to the root (pager), the root's user-level
//!   handling (decode, build the map item of one 4 KiB page), its reply (ReplyWait),
//!   the mapping and the retried load. A fresh page each time.
//! - `map_page_insns`: the kernel's cost of one map item of one 4 KiB page in an IPC:
//!   the reply phase of a Call to the root (from the root's read before its ReplyWait
//!   `svc` to the client's read after its Call returned) when the reply carries one
//!   map item into the client's receive window (a fresh page each time), **minus** the
//!   same reply phase carrying two untyped words instead (same message length, no
//!   item). The root builds either message before its first counter read, so only
//!   kernel work differs.
//!
//! Each metric subtracts the measuring overhead: the same instruction sequence without
//! the `svc` (or the load), timed back to back (minimum of 100). So a number counts the
//! `svc` (or the faulting load, both times) and everything it causes.
//!
//! - `irq_latency_insns` (and `irq_latency_storm_*`): interrupt latency as an RTOS
//!   measures it, from the user timer's interrupt (the EL1 virtual timer, armed through
//!   `InterruptControl` for a handler thread of the highest priority, 250) to the
//!   handler's first counter read after its receive returned with the interrupt. The
//!   moment the timer fires is its deadline on the system counter, converted to the
//!   cycle counter's scale (under QEMU both follow the virtual clock: one counter tick
//!   is `1e9 / CNTFRQ` = 16 instructions; the offset between the two is calibrated at
//!   a tick edge, to within the few instructions of the calibration loop). Measured
//!   with the CPU idle (`irq_latency_insns`, the median), and while two threads of
//!   lower priority on the same CPU run an IPC storm (Call / ReplyWait between them,
//!   as fast as they can): `irq_latency_storm_median_insns` and
//!   `irq_latency_storm_max_insns`, the worst case seen. Deadlines step through 37
//!   phases so the interrupt lands at different points of the storm's loop (in user
//!   code, on the way into the kernel, in it with interrupts masked). `IRQ_SAMPLES`
//!   samples each.
//!
//! Each benchmark runs `WARMUP` times unrecorded, then `ITERATIONS` times; the
//! report gives the **median** (the upper median, sample `n / 2` of the sorted `n`),
//! and a detail line per metric gives minimum and maximum too. Under icount every
//! iteration takes the same path except the few that also take a timer tick or
//! allocate a page table (a new 2 MiB region every 512 pages): the median ignores them.
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

rt::entry!(bench);

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod user {
    use abi::fpage::{Fpage, Rights};
    use abi::message::{Tag, TypedItem};
    use abi::syscall::{CURRENT_CPU, ExregsControl, Syscall};
    use abi::timeout::Timeouts;
    use core::arch::asm;
    use rt::println;
    use rt::sys;

    /// Unrecorded rounds before each benchmark.
    pub const WARMUP: usize = 100;
    /// Recorded rounds of each benchmark.
    pub const ITERATIONS: usize = 1000;
    /// Rounds of the overhead measurement (the minimum is taken).
    const OVERHEAD_ROUNDS: usize = 100;
    /// Interrupt-latency samples, idle and under the storm.
    const IRQ_SAMPLES: usize = 200;
    /// How far ahead the timer is armed (system-counter ticks; 200 x 16 instructions
    /// under QEMU): far enough that the root has blocked and the CPU idles (or runs
    /// the storm) when it fires, so the arming path is never part of a sample.
    const LEAD_TICKS: u64 = 200;
    /// Samples of the interrupt latency under the adversary, and how far the extra
    /// lead of each is spread (system-counter ticks): the kernel stops the adversary's
    /// long calls at each interrupt, so between two samples it gets on by only what the
    /// CPU gives it; a lead of up to 4096 ticks (65,536 instructions) more lets it
    /// pass through the whole of its take, unmap and free several times over the
    /// samples, each phase sampled at many points.
    const ADVERSARIAL_SAMPLES: usize = 512;
    const ADVERSARIAL_SPREAD_TICKS: u64 = 4096;
    /// The interrupt handler and the two storm threads (in the root's space).
    const HANDLER: u64 = 0x42;
    const STORM_CLIENT: u64 = 0x43;
    const STORM_SERVER: u64 = 0x44;
    /// Their UTCBs and stacks (16 KiB each, mapped by the root before they start).
    const ROOT_UTCBS: u64 = 0x28_0000;
    const ROOT_STACKS: u64 = 0x21_0000_0000;
    /// Priorities: the handler above everything, the storm below the root.
    const HANDLER_PRIORITY: u8 = 250;
    const STORM_PRIORITY: u8 = 50;
    /// The handler's message to the root: MR2 = its counter read after the interrupt,
    /// MR3 = 0 if what it received was the interrupt.
    const LATENCY: u16 = 0x207;
    /// The real-time benchmarks (`rt_benchmarks`): timeouts, the periodic thread, the
    /// inheritance round trips, and the interrupt latency under adversaries.
    const LATENESS_SAMPLES: usize = 1000;
    const PERIODS: usize = 200;
    const PI_SAMPLES: usize = 50;
    /// The fault storm's thread and its pager, the inheritance server and the hog, the
    /// adversary that makes long system calls (all in the root's space).
    const FAULTER: u64 = 0x45;
    const STORM_PAGER: u64 = 0x46;
    const PI_SERVER: u64 = 0x47;
    const HOG: u64 = 0x48;
    const ADVERSARY: u64 = 0x49;
    /// Where the faulter faults (the storm pager maps the source page there again and
    /// again; the faulter unmaps it again and again).
    const FAULT_STORM_VA: u64 = 0x22_0000_0000;
    /// The adversary's region: blocks of 2^ADVERSARY_ORDER pages taken and given back.
    const ADVERSARY_VA: u64 = 0x23_0000_0000;
    const ADVERSARY_ORDER: u64 = 8;
    /// The thread the adversary makes in a new space each round, pages in (it is its
    /// pager: every page of the block, a fault each) and deletes with its space; its
    /// UTCB there, its stack (pages of the root's space, mapped to it like the rest),
    /// and its message when it has touched every page.
    const DOOMED: u64 = 0x4A;
    const DOOMED_UTCB: u64 = 0x24_0000_0000;
    const DOOMED_STACK: u64 = ROOT_STACKS + 8 * 0x10_0000;
    const DOOMED_DONE: u16 = 0x208;
    /// The inheritance server's work per request, and its priority (above the storms,
    /// below the hog); the hog's.
    const PI_WORK_US: u64 = 100;
    const PI_SERVER_PRIORITY: u8 = 60;
    const HOG_PRIORITY: u8 = 100;
    /// The hog spins while this is set (threads of the root's space share it).
    static HOG_ON: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
    /// The adversary runs while this is set.
    static ADVERSARY_ON: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

    /// Thread numbers of the client and the server (each in its own space).
    const CLIENT: u64 = 0x40;
    const SERVER: u64 = 0x41;
    /// UTCB and stack of both, each in its own space.
    const UTCB: u64 = 0x20_0000;
    const STACK_TOP: u64 = 0x38_0000;
    const STACK_SIZE: u64 = 0x8_0000;
    /// The client's pages for the fault benchmark: one fresh page per round.
    const FAULT_REGION: u64 = 0x1000_0000;
    /// The client's receive window for the map benchmark (1 GiB; one fresh page per round).
    const MAP_WINDOW: u64 = 0x4000_0000;
    const MAP_WINDOW_LOG2: u8 = 30;
    /// The root's page that every benchmark mapping maps (read-write).
    const SOURCE_PAGE: u64 = 0x20_0000_0000;
    /// What the source page holds, so the client can check a mapping.
    const SOURCE_MARK: u64 = 0xbe4c_0000_5eed;
    /// Where the root maps fresh frames before handing them on as stack pages.
    const SCRATCH: u64 = 0x20_1000_0000;
    /// `MemoryControl` flags: read-write, nearest node if the asked one is exhausted.
    const RW_NEAREST: u64 = abi::memory_control::MemoryControlFlags::RW_NEAREST.raw();

    /// Message labels.
    const CALL: u16 = 0x200;
    const REPLY: u16 = 0x201;
    const MAP_ITEM: u16 = 0x202;
    const MAP_NONE: u16 = 0x203;
    const RESULT: u16 = 0x204;
    const DONE: u16 = 0x205;
    const FAILED: u16 = 0x206;

    /// The metrics the client reports, by index (MR1 of a RESULT message).
    const METRICS: [&str; 7] = [
        "ipc_call_insns",
        "ipc_reply_insns",
        "fault_roundtrip_insns",
        "map_item_reply_insns",
        "map_none_reply_insns",
        "overhead_ipc_insns",
        "overhead_load_insns",
    ];

    unsafe extern "C" {
        static __program_start: u8;
        static __program_end: u8;
    }

    fn id(number: u64) -> u64 {
        (number << 16) | 1
    }

    fn tag(label: u16, u: u8, t: u8) -> u64 {
        Tag::new(label, u, t).map_or(0, |t| t.raw())
    }

    fn label_of(mr0: u64) -> u16 {
        Tag::from_raw(mr0).map(|t| t.label()).unwrap_or(0)
    }

    /// What a timed IPC returned.
    #[derive(Clone, Copy)]
    struct Timed {
        /// x0: 0 = success, else an `abi::Error` number.
        status: u64,
        /// The sender of the received message.
        from: u64,
        /// MR0..MR4 received.
        mr: [u64; 5],
        /// The counter right before the `svc` (also sent as MR1).
        before: u64,
        /// The counter right after the `svc` returned.
        after: u64,
    }

    /// `Ipc` (send to `to`, then receive from `from`, never timing out) with `mr`, whose
    /// MR1 is replaced by the counter read right before the `svc`.
    #[inline(always)]
    fn ipc_timed(to: u64, from: u64, mr: [u64; 5]) -> Timed {
        let (mut x0, mut x1, mut x3, mut x5, mut x6, mut x7) = (to, from, mr[0], mr[2], mr[3], mr[4]);
        let x4: u64;
        let (before, after): (u64, u64);
        // SAFETY: reads the cycle counter (EL0 may: the kernel set PMUSERENR_EL0.CR) and
        // makes an `Ipc` system call, which reads x0..x8 and writes x0..x7 only (the
        // ABI preserves every other register, so `before`, allocated outside x0..x8,
        // survives the `svc`). No memory of ours is touched: the message travels in
        // registers and the receive window only admits pages at addresses nothing here
        // uses.
        unsafe {
            asm!(
                "mrs {before}, pmccntr_el0",
                "mov x4, {before}",
                "svc #0",
                "mrs {after}, pmccntr_el0",
                before = out(reg) before,
                after = out(reg) after,
                inout("x0") x0, inout("x1") x1, inout("x2") Timeouts::NEVER.pack() => _,
                inout("x3") x3, out("x4") x4, inout("x5") x5, inout("x6") x6, inout("x7") x7,
                inout("x8") Syscall::Ipc.number() => _,
                options(nostack)
            );
        }
        Timed { status: x0, from: x1, mr: [x3, x4, x5, x6, x7], before, after }
    }

    /// The measuring overhead of [`ipc_timed`]: its sequence without the `svc`.
    fn overhead_ipc() -> u64 {
        let (before, after): (u64, u64);
        // SAFETY: reads the cycle counter twice (EL0 may) and moves a register.
        unsafe {
            asm!(
                "mrs {before}, pmccntr_el0",
                "mov {t}, {before}",
                "mrs {after}, pmccntr_el0",
                before = out(reg) before,
                t = out(reg) _,
                after = out(reg) after,
                options(nomem, nostack, preserves_flags)
            );
        }
        after.wrapping_sub(before)
    }

    /// Loads from `addr` between two counter reads; returns the difference.
    #[inline(always)]
    fn load_timed(addr: u64) -> u64 {
        let (before, after): (u64, u64);
        // SAFETY: reads the cycle counter twice and loads one word from `addr`, a page
        // of the fault region that this thread's pager maps on the fault; the value is
        // discarded.
        unsafe {
            asm!(
                "mrs {before}, pmccntr_el0",
                "ldr {v}, [{p}]",
                "mrs {after}, pmccntr_el0",
                before = out(reg) before,
                v = out(reg) _,
                after = out(reg) after,
                p = in(reg) addr,
                options(nostack, readonly, preserves_flags)
            );
        }
        after.wrapping_sub(before)
    }

    /// The measuring overhead of [`load_timed`]: two counter reads back to back.
    fn overhead_load() -> u64 {
        let (before, after): (u64, u64);
        // SAFETY: reads the cycle counter twice (EL0 may).
        unsafe {
            asm!(
                "mrs {before}, pmccntr_el0",
                "mrs {after}, pmccntr_el0",
                before = out(reg) before,
                after = out(reg) after,
                options(nomem, nostack, preserves_flags)
            );
        }
        after.wrapping_sub(before)
    }

    /// Sorts `samples`; returns (upper median, minimum, maximum).
    fn stats(samples: &mut [u64]) -> (u64, u64, u64) {
        samples.sort_unstable();
        match (samples.first(), samples.get(samples.len() / 2), samples.last()) {
            (Some(&min), Some(&median), Some(&max)) => (median, min, max),
            _ => (0, 0, 0),
        }
    }

    /// The root task: sets the benchmark up, pages the client and server, collects the
    /// results, prints the report and powers off.
    pub fn bench(_utcb: rt::UtcbAddr) -> ! {
        println!(
            "bench: client and server in separate spaces on the root's CPU; {WARMUP} warm-up and {ITERATIONS} timed rounds each"
        );
        let me = id(abi::thread::ROOT_THREAD_NUMBER);
        if let Err(e) = sys::memory_control(0, 0, SOURCE_PAGE, RW_NEAREST) {
            println!("bench: MemoryControl for the source page: {e}");
            finish(1);
        }
        // SAFETY: just mapped read-write for us by MemoryControl.
        unsafe { core::ptr::write_volatile(SOURCE_PAGE as *mut u64, SOURCE_MARK) };
        let start = ExregsControl::START | ExregsControl::SET_SP | ExregsControl::SET_IP;
        let threads: [(u64, extern "C" fn(u64) -> !); 2] = [(SERVER, server_main), (CLIENT, client_main)];
        for (number, entry) in threads {
            let t = id(number);
            if let Err(e) = sys::thread_control(t, t, me, me, UTCB, CURRENT_CPU) {
                println!("bench: ThreadControl of thread {number:#x}: {e}");
                finish(1);
            }
            if let Err(e) = sys::exchange_registers(t, start.raw(), STACK_TOP, entry as usize as u64, 0) {
                println!("bench: ExchangeRegisters of thread {number:#x}: {e}");
                finish(1);
            }
        }
        let image = (&raw const __program_start as u64)..(&raw const __program_end as u64);
        let fault_region = FAULT_REGION..FAULT_REGION + ((WARMUP + ITERATIONS) as u64) * abi::PAGE_SIZE;
        let mut results = [[0u64; 3]; METRICS.len()];
        let mut have = [false; METRICS.len()];
        let mut stack_pages = 0u64;
        let mut reply_to = 0u64;
        let mut reply = [0u64; 5];
        loop {
            let got = ipc_timed(reply_to, u64::MAX, reply);
            if got.status != 0 {
                println!("bench: root ipc failed with status {}", got.status);
                finish(1);
            }
            reply_to = got.from;
            let label = label_of(got.mr[0]);
            // The hot paths first: they are timed (including this code, for faults).
            let map = if label & !abi::fault::PAGE_FAULT_ACCESS_MASK == abi::fault::PAGE_FAULT_LABEL {
                let (addr, ip) = (got.mr[1], got.mr[2]);
                let page = addr & !(abi::PAGE_SIZE - 1);
                if fault_region.contains(&page) {
                    Some((page, Fpage::new(SOURCE_PAGE, 12, Rights::RW)))
                } else if image.contains(&page) {
                    Some((page, Fpage::new(page, 12, Rights::RX)))
                } else if (STACK_TOP - STACK_SIZE..STACK_TOP).contains(&page) {
                    let scratch = SCRATCH + stack_pages * abi::PAGE_SIZE;
                    stack_pages += 1;
                    if let Err(e) = sys::memory_control(0, 0, scratch, RW_NEAREST) {
                        println!("bench: no stack page: {e}");
                        finish(1);
                    }
                    Some((page, Fpage::new(scratch, 12, Rights::RW)))
                } else {
                    println!(
                        "bench: thread {:#x} faulted at {addr:#x} (ip {ip:#x}, access {label:#x}): not served",
                        got.from
                    );
                    finish(1)
                }
            } else if label == MAP_ITEM {
                Some((MAP_WINDOW + got.mr[2] * abi::PAGE_SIZE, Fpage::new(SOURCE_PAGE, 12, Rights::RW)))
            } else {
                None
            };
            if let Some((send_base, fpage)) = map {
                match fpage.ok().map(|f| TypedItem::Map { send_base, fpage: f }.encode()) {
                    // MR1 carries the counter (ipc_timed), then the item.
                    Some(Ok([w0, w1])) => reply = [tag(0, 1, 2), 0, w0, w1, 0],
                    _ => {
                        println!("bench: cannot build the map item for {send_base:#x}");
                        finish(1)
                    }
                }
                continue;
            }
            match label {
                // Same length as the MAP_ITEM reply, no item.
                MAP_NONE => reply = [tag(0, 3, 0), 0, 0, 0, 0],
                RESULT => {
                    let metric = got.mr[1] as usize;
                    if metric < METRICS.len() {
                        results[metric] = [got.mr[2], got.mr[3], got.mr[4]];
                        have[metric] = true;
                    }
                    reply = [tag(0, 1, 0), 0, 0, 0, 0];
                }
                DONE => break,
                FAILED => {
                    println!("bench: the client failed in stage {} (status {})", got.mr[1], got.mr[2]);
                    finish(1)
                }
                _ => {
                    println!("bench: unexpected message, label {label:#x} from {:#x}", got.from);
                    finish(1)
                }
            }
        }
        if have.iter().any(|h| !h) {
            println!("bench: the client did not report every metric");
            finish(1);
        }
        let (mut idle, mut storm) = ([0u64; IRQ_SAMPLES], [0u64; IRQ_SAMPLES]);
        if let Err(e) = irq_latency(&mut idle, &mut storm) {
            println!("bench: interrupt latency: {e}");
            finish(1);
        }
        let (idle_median, idle_min, idle_max) = stats(&mut idle);
        let (storm_median, storm_min, storm_max) = stats(&mut storm);
        let metric = |name: &str, median: u64, min: u64, max: u64| {
            println!(
                "{}",
                report::line!("bench-metric", "name" => name, "median" => median, "min" => min, "max" => max)
            );
        };
        metric("irq_latency_insns", idle_median, idle_min, idle_max);
        metric("irq_latency_storm_insns", storm_median, storm_min, storm_max);
        let rt = match rt_benchmarks() {
            Ok(rt) => rt,
            Err(e) => {
                println!("bench: real-time benchmarks: {e}");
                finish(1)
            }
        };
        let [lateness, periodic, nohog, hog, adversarial] = rt;
        metric("timeout_lateness_ns", lateness.0, lateness.1, lateness.2);
        metric("periodic_lateness_ns", periodic.0, periodic.1, periodic.2);
        metric("pi_response_nohog_ns", nohog.0, nohog.1, nohog.2);
        metric("pi_response_hog_ns", hog.0, hog.1, hog.2);
        metric("irq_latency_adversarial_insns", adversarial.0, adversarial.1, adversarial.2);
        let us = |ns: u64| ns.div_ceil(1000);
        for (name, [median, min, max]) in METRICS.iter().zip(results) {
            metric(name, median, min, max);
        }
        let median = |i: usize| results[i][0];
        let map_page = median(3) as i64 - median(4) as i64;
        println!(
            "{}",
            report::line!("bench-setup",
                "statistic" => "median", "iterations" => ITERATIONS, "warmup" => WARMUP, "spaces" => "separate", "cpu" => "root")
        );
        println!(
            "{}",
            report::line!("bench",
                "ipc_call_insns" => median(0),
                "ipc_reply_insns" => median(1),
                "fault_roundtrip_insns" => median(2),
                "map_page_insns" => map_page,
                "irq_latency_insns" => idle_median,
                "irq_latency_storm_median_insns" => storm_median,
                "irq_latency_storm_max_insns" => storm_max,
                "timeout_lateness_median_us" => us(lateness.0),
                "timeout_lateness_max_us" => us(lateness.2),
                "irq_latency_adversarial_max_insns" => adversarial.2,
                "periodic_jitter_max_us" => us(periodic.2),
                "pi_response_nohog_us" => us(nohog.0),
                "pi_response_hog_us" => us(hog.0),
            )
        );
        finish(0)
    }

    fn finish(failed: u64) -> ! {
        let e = sys::power_off(failed);
        println!("bench: SystemControl refused: {e}");
        loop {
            core::hint::spin_loop();
        }
    }

    /// The server: answers every Call with the counter read when the call arrived (MR2)
    /// and the one read right before its reply (MR1, from `ipc_timed`). Stack only.
    extern "C" fn server_main(_utcb: u64) -> ! {
        // Receive only (to = NIL) for the first call.
        let mut got = ipc_timed(0, u64::MAX, [tag(0, 1, 0), 0, 0, 0, 0]);
        loop {
            let client = if got.status == 0 { got.from } else { 0 };
            got = ipc_timed(client, u64::MAX, [tag(REPLY, 2, 0), 0, got.after, 0, 0]);
        }
    }

    /// Tells the root that stage `stage` failed with `status`, and stops.
    fn client_failed(stage: u64, status: u64) -> ! {
        let root = id(abi::thread::ROOT_THREAD_NUMBER);
        let _ = sys::ipc(root, root, Timeouts::NEVER.pack(), [tag(FAILED, 2, 0), stage, status, 0, 0]);
        loop {
            core::hint::spin_loop();
        }
    }

    /// The client: runs every benchmark, sends the statistics to the root. Stack only.
    extern "C" fn client_main(utcb: u64) -> ! {
        let root = id(abi::thread::ROOT_THREAD_NUMBER);
        let server = id(SERVER);
        // Touch every sample page now, so no stack fault lands inside a timed window.
        let mut call = [0u64; ITERATIONS];
        let mut reply = [0u64; ITERATIONS];
        let mut fault = [0u64; ITERATIONS];
        let mut map_item = [0u64; ITERATIONS];
        let mut map_none = [0u64; ITERATIONS];
        for a in [&mut call, &mut reply, &mut fault, &mut map_item, &mut map_none] {
            for s in a.iter_mut() {
                // SAFETY: a valid, aligned element of a local array; volatile so the
                // page is really written now.
                unsafe { core::ptr::write_volatile(s, 0) };
            }
        }
        let mut ov_ipc = u64::MAX;
        let mut ov_load = u64::MAX;
        for _ in 0..OVERHEAD_ROUNDS {
            ov_ipc = ov_ipc.min(overhead_ipc());
            ov_load = ov_load.min(overhead_load());
        }

        // 1. Call and ReplyWait between two spaces.
        for i in 0..WARMUP + ITERATIONS {
            let r = ipc_timed(server, server, [tag(CALL, 1, 0), 0, 0, 0, 0]);
            if r.status != 0 || label_of(r.mr[0]) != REPLY {
                client_failed(1, r.status);
            }
            if let Some(k) = i.checked_sub(WARMUP) {
                call[k] = r.mr[2].wrapping_sub(r.before).wrapping_sub(ov_ipc);
                reply[k] = r.after.wrapping_sub(r.mr[1]).wrapping_sub(ov_ipc);
            }
        }

        // 2. Page faults, each on a fresh page, each served by the root with a map item.
        for i in 0..WARMUP + ITERATIONS {
            let t = load_timed(FAULT_REGION + i as u64 * abi::PAGE_SIZE).wrapping_sub(ov_load);
            if let Some(k) = i.checked_sub(WARMUP) {
                fault[k] = t;
            }
        }
        // SAFETY: the page was mapped by the fault benchmark (the root's source page).
        if unsafe { core::ptr::read_volatile(FAULT_REGION as *const u64) } != SOURCE_MARK {
            client_failed(2, 0);
        }

        // 3. Replies with and without one map item, into a fresh page of the window.
        let window = Fpage::new(MAP_WINDOW, MAP_WINDOW_LOG2, Rights::RWX).map_or(0, |f| f.raw());
        // SAFETY: BR0 lies in this thread's UTCB, mapped read-write for it by the kernel.
        unsafe { core::ptr::write_volatile((utcb + abi::utcb::BR_OFFSET as u64) as *mut u64, window) };
        for i in 0..WARMUP + ITERATIONS {
            let with = ipc_timed(root, root, [tag(MAP_ITEM, 2, 0), 0, i as u64, 0, 0]);
            let without = ipc_timed(root, root, [tag(MAP_NONE, 2, 0), 0, i as u64, 0, 0]);
            if with.status != 0 || without.status != 0 {
                client_failed(3, with.status | without.status);
            }
            if let Some(k) = i.checked_sub(WARMUP) {
                map_item[k] = with.after.wrapping_sub(with.mr[1]).wrapping_sub(ov_ipc);
                map_none[k] = without.after.wrapping_sub(without.mr[1]).wrapping_sub(ov_ipc);
            }
        }
        let last = MAP_WINDOW + (WARMUP + ITERATIONS - 1) as u64 * abi::PAGE_SIZE;
        // SAFETY: the last map reply mapped the root's source page there.
        if unsafe { core::ptr::read_volatile(last as *const u64) } != SOURCE_MARK {
            client_failed(3, 0);
        }

        // 4. The statistics, one metric per message (see METRICS).
        let send = |metric: u64, s: (u64, u64, u64)| {
            let r = sys::ipc(root, root, Timeouts::NEVER.pack(), [tag(RESULT, 4, 0), metric, s.0, s.1, s.2]);
            if r.is_err() {
                client_failed(4, metric);
            }
        };
        send(0, stats(&mut call));
        send(1, stats(&mut reply));
        send(2, stats(&mut fault));
        send(3, stats(&mut map_item));
        send(4, stats(&mut map_none));
        send(5, (ov_ipc, ov_ipc, ov_ipc));
        send(6, (ov_load, ov_load, ov_load));
        let _ = sys::ipc(root, root, Timeouts::NEVER.pack(), [tag(DONE, 0, 0), 0, 0, 0, 0]);
        // Parked (blocked, not spinning: the interrupt benchmark wants an idle CPU).
        loop {
            let _ = sys::ipc(0, 0, Timeouts::NEVER.pack(), [0; 5]);
        }
    }

    /// Reads the system counter and the cycle counter back to back.
    #[inline(always)]
    fn counters() -> (u64, u64) {
        let (ticks, cycles): (u64, u64);
        // SAFETY: reads CNTVCT_EL0 and PMCCNTR_EL0, both enabled for EL0 by the kernel.
        unsafe {
            asm!(
                "mrs {t}, cntvct_el0",
                "mrs {c}, pmccntr_el0",
                t = out(reg) ticks,
                c = out(reg) cycles,
                options(nomem, nostack, preserves_flags)
            );
        }
        (ticks, cycles)
    }

    /// The cycle counter's value at system-counter tick 0, in a scale of `per_tick`
    /// cycles per tick: calibrated at a tick edge (the first read after the system
    /// counter moved), so its error is the loop's few instructions.
    fn calibrate(per_tick: u64) -> u64 {
        let (start, _) = counters();
        loop {
            let (ticks, cycles) = counters();
            if ticks != start {
                return cycles.wrapping_sub(ticks.wrapping_mul(per_tick));
            }
        }
    }

    /// The interrupt handler: waits for the user timer's interrupt, reads the cycle
    /// counter right after its receive returned (`ipc_timed`'s `after`), sends it to
    /// the root in its next wait (send to the root, then an open receive: the kernel
    /// delivers interrupts at open receives).
    extern "C" fn handler_main(_utcb: u64) -> ! {
        let root = id(abi::thread::ROOT_THREAD_NUMBER);
        let irq = abi::thread::ThreadId::interrupt(abi::syscall::USER_TIMER_INTID).map_or(0, |t| t.raw());
        // (Interrupts are delivered at open receives.)
        let mut got = ipc_timed(0, u64::MAX, [tag(0, 0, 0), 0, 0, 0, 0]);
        loop {
            let ok = got.status == 0 && got.from == irq;
            // (MR1 is replaced by ipc_timed's own counter read.)
            let msg = [tag(LATENCY, 3, 0), 0, got.after, u64::from(!ok), 0];
            got = ipc_timed(root, u64::MAX, msg);
        }
    }

    /// The storm's server: answers every call at once.
    extern "C" fn storm_server(_utcb: u64) -> ! {
        let mut got = sys::ipc(0, u64::MAX, Timeouts::NEVER.pack(), [0; 5]);
        loop {
            let to = got.as_ref().map_or(0, |m| m.from);
            got = sys::ipc(to, u64::MAX, Timeouts::NEVER.pack(), [tag(0, 1, 0), 1, 0, 0, 0]);
        }
    }

    /// The storm's client: calls the server for ever.
    extern "C" fn storm_client(_utcb: u64) -> ! {
        let server = id(STORM_SERVER);
        loop {
            let _ = sys::ipc(server, server, Timeouts::NEVER.pack(), [tag(CALL, 1, 0), 0, 0, 0, 0]);
        }
    }

    /// Makes thread `number` of the root's space, priority `priority`, on the root's
    /// CPU, with a stack of its own (mapped now: it never faults); not started yet.
    /// Its stack top.
    fn create_local(number: u64, slot: u64, priority: u8) -> Result<u64, abi::Error> {
        let (me, t) = (id(abi::thread::ROOT_THREAD_NUMBER), id(number));
        let stack = ROOT_STACKS + slot * 0x10_0000;
        sys::memory_control(0, 2, stack, RW_NEAREST)?;
        sys::thread_control(t, me, me, me, ROOT_UTCBS + slot * abi::PAGE_SIZE, CURRENT_CPU)?;
        sys::set_priority(t, priority)?;
        Ok(stack + 0x4000)
    }

    /// Starts thread `number` at `entry` with stack top `sp`.
    fn start_at(number: u64, entry: extern "C" fn(u64) -> !, sp: u64) -> Result<(), abi::Error> {
        let start = ExregsControl::START | ExregsControl::SET_SP | ExregsControl::SET_IP;
        sys::exchange_registers(id(number), start.raw(), sp, entry as usize as u64, 0).map(|_| ())
    }

    /// [`create_local`], then [`start_at`].
    fn start_local(
        number: u64,
        slot: u64,
        entry: extern "C" fn(u64) -> !,
        priority: u8,
    ) -> Result<(), abi::Error> {
        start_at(number, entry, create_local(number, slot, priority)?)
    }

    /// One interrupt-latency sample for each entry of `out`: arm the user timer a
    /// little ahead (stepping through 37 phases, and `spread` ticks more at most, by
    /// a multiplicative hash of the sample's number), wait for the handler's report,
    /// take its counter read minus the deadline in cycles.
    fn irq_samples(out: &mut [u64], per_tick: u64, spread: u64) -> Result<(), &'static str> {
        let handler = id(HANDLER);
        for (k, sample) in out.iter_mut().enumerate() {
            let offset = calibrate(per_tick);
            let extra = if spread == 0 { 0 } else { (k as u64).wrapping_mul(0x9E37_79B9) % spread };
            let deadline = sys::counter() + LEAD_TICKS + (k as u64 * 7) % 37 + extra;
            sys::arm_user_timer(handler, deadline).map_err(|_| "arming the user timer failed")?;
            let m = sys::ipc(0, handler, Timeouts::NEVER.pack(), [0; 5])
                .map_err(|_| "no answer from the handler")?;
            if label_of(m.mr[0]) != LATENCY || m.mr[3] != 0 {
                return Err("the handler did not receive the interrupt");
            }
            let fired = deadline.wrapping_mul(per_tick).wrapping_add(offset);
            *sample = m.mr[2].wrapping_sub(fired);
        }
        Ok(())
    }

    /// Makes thread `number` of the root's space, priority `priority`, on the root's
    /// CPU, with a stack of its own and `pager` as its pager; not started yet. Its
    /// stack top.
    fn create_paged(number: u64, slot: u64, priority: u8, pager: u64) -> Result<u64, abi::Error> {
        let (me, t) = (id(abi::thread::ROOT_THREAD_NUMBER), id(number));
        let stack = ROOT_STACKS + slot * 0x10_0000;
        sys::memory_control(0, 2, stack, RW_NEAREST)?;
        sys::thread_control(t, me, me, pager, ROOT_UTCBS + slot * abi::PAGE_SIZE, CURRENT_CPU)?;
        sys::set_priority(t, priority)?;
        Ok(stack + 0x4000)
    }

    /// The fault storm's pager: answers every page fault by mapping the source page
    /// at the faulting address (the faulter unmaps it again at once).
    extern "C" fn storm_pager(_utcb: u64) -> ! {
        let (mut reply_to, mut reply) = (0u64, [0u64; 5]);
        loop {
            match sys::ipc(reply_to, u64::MAX, Timeouts::NEVER.pack(), reply) {
                Ok(m)
                    if label_of(m.mr[0]) & !abi::fault::PAGE_FAULT_ACCESS_MASK
                        == abi::fault::PAGE_FAULT_LABEL =>
                {
                    let item = Fpage::new(SOURCE_PAGE, 12, Rights::RW).ok().map(|fpage| {
                        TypedItem::Map { send_base: m.mr[1] & !(abi::PAGE_SIZE - 1), fpage }.encode()
                    });
                    match item {
                        Some(Ok([w0, w1])) => (reply_to, reply) = (m.from, [tag(0, 0, 2), w0, w1, 0, 0]),
                        _ => reply_to = 0,
                    }
                }
                _ => reply_to = 0,
            }
        }
    }

    /// The fault storm: touches its page (a fault, mapped by the storm pager), unmaps
    /// it (`Unmap` of its own page), and again, for ever.
    extern "C" fn faulter_main(utcb: u64) -> ! {
        let fpage = Fpage::new(FAULT_STORM_VA, 12, Rights::RWX).map_or(0, |f| f.raw());
        loop {
            // SAFETY: the page at FAULT_STORM_VA is this space's; unmapped, the load
            // faults and the storm pager maps the source page there. Volatile: the
            // access must happen.
            let _ = unsafe { core::ptr::read_volatile(FAULT_STORM_VA as *const u64) };
            // SAFETY: MR0 lies in this thread's UTCB, mapped read-write for it.
            unsafe { core::ptr::write_volatile((utcb + abi::utcb::MR_OFFSET as u64) as *mut u64, fpage) };
            let _ = sys::unmap(1, true);
        }
    }

    /// The inheritance benchmark's server: each request costs it `PI_WORK_US` of the
    /// CPU, then it answers and waits for the next.
    extern "C" fn pi_server(_utcb: u64) -> ! {
        let mut got = sys::ipc(0, u64::MAX, Timeouts::NEVER.pack(), [0; 5]);
        loop {
            let from = got.as_ref().map_or(0, |m| m.from);
            let f = sys::kip().counter_frequency;
            let end = sys::counter() + (PI_WORK_US * f).div_ceil(1_000_000);
            while sys::counter() < end {
                core::hint::spin_loop();
            }
            got = sys::ipc(from, u64::MAX, Timeouts::NEVER.pack(), [tag(REPLY, 0, 0), 0, 0, 0, 0]);
        }
    }

    /// The hog: once told, spins while `HOG_ON` is set (at most 50 ms a go), then
    /// waits to be told again.
    extern "C" fn hog_main(_utcb: u64) -> ! {
        loop {
            let _ = sys::ipc(0, u64::MAX, Timeouts::NEVER.pack(), [0; 5]);
            let end = sys::counter() + sys::kip().counter_frequency / 20;
            while HOG_ON.load(core::sync::atomic::Ordering::Acquire) && sys::counter() < end {
                core::hint::spin_loop();
            }
        }
    }

    /// The adversary: the longest system calls it can make, one after another, while
    /// `ADVERSARY_ON` is set: a block of 256 pages taken (`MemoryControl`: 256 frames
    /// zeroed and mapped), mapped into a new space (a fault each: `DOOMED` touches
    /// them) which is then deleted (`ThreadControl` deleting its only thread: its
    /// mappings revoked and its tables freed), unmapped as one flexpage (`Unmap`, 256
    /// pages through the MDB), and given back (`MemoryControl` free).
    extern "C" fn adversary_main(utcb: u64) -> ! {
        let fpage = Fpage::new(ADVERSARY_VA, 12 + ADVERSARY_ORDER as u8, Rights::RWX).map_or(0, |f| f.raw());
        let (me, doomed) = (id(ADVERSARY), id(DOOMED));
        loop {
            if !ADVERSARY_ON.load(core::sync::atomic::Ordering::Acquire) {
                let _ = sys::ipc(0, u64::MAX, Timeouts::NEVER.pack(), [0; 5]);
                continue;
            }
            if sys::memory_control(0, ADVERSARY_ORDER, ADVERSARY_VA, RW_NEAREST).is_ok() {
                if sys::thread_control(doomed, doomed, me, me, DOOMED_UTCB, CURRENT_CPU).is_ok() {
                    let _ = sys::set_priority(doomed, STORM_PRIORITY);
                    if start_at(DOOMED, doomed_main, DOOMED_STACK + 0x4000).is_ok() {
                        page_doomed(doomed);
                    }
                    // Its space goes with it: every page it was given, its tables.
                    let _ = sys::delete_thread(doomed);
                }
                // SAFETY: MR0 lies in this thread's UTCB, mapped read-write for it.
                unsafe { core::ptr::write_volatile((utcb + abi::utcb::MR_OFFSET as u64) as *mut u64, fpage) };
                // Revokes what others derived (nothing) and keeps its own: a walk of
                // every page through the MDB all the same.
                let _ = sys::unmap(1, false);
                let _ = sys::memory_free(ADVERSARY_VA, ADVERSARY_ORDER);
            }
        }
    }

    /// The adversary as `DOOMED`'s pager, until it says it is done (or anything else
    /// comes): each fault answered with the adversary's own page at the same address
    /// (code, stack, the block), with the rights the adversary has there.
    fn page_doomed(doomed: u64) {
        let (mut reply_to, mut reply) = (0u64, [0u64; 5]);
        loop {
            let Ok(m) = sys::ipc(reply_to, doomed, Timeouts::NEVER.pack(), reply) else { return };
            if label_of(m.mr[0]) & !abi::fault::PAGE_FAULT_ACCESS_MASK != abi::fault::PAGE_FAULT_LABEL {
                return;
            }
            let page = m.mr[1] & !(abi::PAGE_SIZE - 1);
            match Fpage::new(page, 12, Rights::RWX)
                .ok()
                .map(|fpage| TypedItem::Map { send_base: page, fpage }.encode())
            {
                Some(Ok([w0, w1])) => (reply_to, reply) = (m.from, [tag(0, 0, 2), w0, w1, 0, 0]),
                _ => return,
            }
        }
    }

    /// `DOOMED`: touches every page of the adversary's block (each a fault), says so,
    /// and waits to be deleted.
    extern "C" fn doomed_main(_utcb: u64) -> ! {
        for i in 0..1u64 << ADVERSARY_ORDER {
            // SAFETY: the adversary's block, which its pager (the adversary) maps here
            // read-write at the first touch. Volatile: the access must happen.
            let _ = unsafe { core::ptr::read_volatile((ADVERSARY_VA + i * abi::PAGE_SIZE) as *const u64) };
        }
        let _ = sys::ipc(id(ADVERSARY), 0, Timeouts::NEVER.pack(), [tag(DOOMED_DONE, 0, 0), 0, 0, 0, 0]);
        loop {
            let _ = sys::ipc(0, u64::MAX, Timeouts::NEVER.pack(), [0; 5]);
        }
    }

    /// Reads the system counter and the cycle counter and converts a counter value to
    /// the cycle counter's scale (calibrated now, at a tick edge).
    fn cycles_at(deadline: u64, per_tick: u64) -> u64 {
        deadline.wrapping_mul(per_tick).wrapping_add(calibrate(per_tick))
    }

    /// Lateness samples (ns) of `out.len()` receive timeouts of random lengths
    /// (20..520 us) on this CPU, while the storms run below.
    fn lateness_samples(out: &mut [u64], per_tick: u64, f: u64) -> Result<(), &'static str> {
        let me = id(abi::thread::ROOT_THREAD_NUMBER);
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for sample in out.iter_mut() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let us = 20 + (seed % 500) as u32;
            let offset = calibrate(per_tick);
            let (t0, _) = counters();
            let timeouts =
                Timeouts { send: abi::timeout::Timeout::Zero, receive: abi::timeout::Timeout::Micros(us) };
            let r = sys::ipc(0, me, timeouts.pack(), [0; 5]);
            let (_, woke) = counters();
            if r.err() != Some(abi::Error::ReceiveTimeout) {
                return Err("a receive from itself did not time out");
            }
            // The deadline as the kernel computes it from t0 (it reads the counter a
            // little later, so this counts that too: never less than the lateness).
            let deadline = t0 + (u64::from(us) * f).div_ceil(1_000_000);
            *sample = woke.saturating_sub(deadline.wrapping_mul(per_tick).wrapping_add(offset));
        }
        Ok(())
    }

    /// The real-time benchmarks, after the interrupt-latency ones (whose IPC storm
    /// still runs below on this CPU): (median, min, max) of each of timeout lateness
    /// (ns), a 1 kHz periodic thread's lateness under the IPC and a fault storm (ns),
    /// a Call to a low-priority server that works 100 us without and with a
    /// medium-priority hog (ns, round trip), and the user timer's interrupt latency
    /// while an adversary makes the longest system calls (instructions).
    fn rt_benchmarks() -> Result<[(u64, u64, u64); 5], &'static str> {
        let (_, f) = sys::system_clock();
        let per_tick = 1_000_000_000 / f;
        // 1. Timeout lateness on a loaded CPU (the IPC storm).
        let mut lateness = [0u64; LATENESS_SAMPLES];
        lateness_samples(&mut lateness, per_tick, f)?;
        // 2. A 1 kHz periodic thread (this one) under the IPC storm and a fault storm.
        let sp =
            create_local(STORM_PAGER, 3, STORM_PRIORITY).map_err(|_| "creating the storm pager failed")?;
        start_at(STORM_PAGER, storm_pager, sp).map_err(|_| "starting the storm pager failed")?;
        let sp = create_paged(FAULTER, 4, STORM_PRIORITY, id(STORM_PAGER))
            .map_err(|_| "creating the faulter failed")?;
        start_at(FAULTER, faulter_main, sp).map_err(|_| "starting the faulter failed")?;
        let mut periodic = [0u64; PERIODS];
        let mut p = rt::timer::periodic(core::time::Duration::from_millis(1));
        for sample in periodic.iter_mut() {
            let release = p.next_release(sys::counter());
            let at = cycles_at(release, per_tick);
            rt::timer::sleep_until(release);
            let (_, woke) = counters();
            *sample = woke.saturating_sub(at);
        }
        // 3. Inheritance: this thread (200) calls a server (60) that works 100 us; a
        // hog (100) spins in the second half.
        let sp = create_local(PI_SERVER, 5, PI_SERVER_PRIORITY).map_err(|_| "creating the server failed")?;
        start_at(PI_SERVER, pi_server, sp).map_err(|_| "starting the server failed")?;
        let sp = create_local(HOG, 6, HOG_PRIORITY).map_err(|_| "creating the hog failed")?;
        start_at(HOG, hog_main, sp).map_err(|_| "starting the hog failed")?;
        let server = id(PI_SERVER);
        let call = |out: &mut [u64], hog: bool| -> Result<(), &'static str> {
            for sample in out.iter_mut() {
                if hog {
                    HOG_ON.store(true, core::sync::atomic::Ordering::Release);
                    let _ = sys::notify(id(HOG), 0);
                    // The hog spins while this thread sleeps: it is running when the call comes.
                    rt::timer::sleep(core::time::Duration::from_micros(200));
                }
                let (_, before) = counters();
                let r = sys::ipc(server, server, Timeouts::NEVER.pack(), [tag(CALL, 0, 0), 0, 0, 0, 0]);
                let (_, after) = counters();
                if r.is_err() {
                    return Err("the inheritance server did not answer");
                }
                *sample = after.wrapping_sub(before);
                HOG_ON.store(false, core::sync::atomic::Ordering::Release);
            }
            Ok(())
        };
        let (mut nohog, mut hog) = ([0u64; PI_SAMPLES], [0u64; PI_SAMPLES]);
        call(&mut nohog, false)?;
        call(&mut hog, true)?;
        // 4. The user timer's latency while an adversary makes long system calls.
        let sp = create_local(ADVERSARY, 7, STORM_PRIORITY).map_err(|_| "creating the adversary failed")?;
        sys::memory_control(0, 2, DOOMED_STACK, RW_NEAREST).map_err(|_| "no stack for the doomed thread")?;
        ADVERSARY_ON.store(true, core::sync::atomic::Ordering::Release);
        start_at(ADVERSARY, adversary_main, sp).map_err(|_| "starting the adversary failed")?;
        let mut adversarial = [0u64; ADVERSARIAL_SAMPLES];
        irq_samples(&mut adversarial, per_tick, ADVERSARIAL_SPREAD_TICKS)?;
        ADVERSARY_ON.store(false, core::sync::atomic::Ordering::Release);
        Ok([
            stats(&mut lateness),
            stats(&mut periodic),
            stats(&mut nohog),
            stats(&mut hog),
            stats(&mut adversarial),
        ])
    }

    /// The interrupt-latency benchmark (see the crate docs); `(idle, storm)` samples.
    fn irq_latency(idle: &mut [u64], storm: &mut [u64]) -> Result<(), &'static str> {
        let (_, frequency) = sys::system_clock();
        if frequency == 0 || 1_000_000_000 % frequency != 0 {
            return Err("the counter frequency does not divide 1 GHz: no exact scale to the cycle counter");
        }
        let per_tick = 1_000_000_000 / frequency;
        let handler = id(HANDLER);
        // Attached before it runs, so its first wait is for an interrupt it handles.
        let sp = create_local(HANDLER, 0, HANDLER_PRIORITY).map_err(|_| "creating the handler failed")?;
        sys::interrupt_control(u64::from(abi::syscall::USER_TIMER_INTID), handler, 0)
            .map_err(|_| "attaching the user timer failed")?;
        start_at(HANDLER, handler_main, sp).map_err(|_| "starting the handler failed")?;
        // Let the handler reach its first wait (it is of higher priority: it ran at
        // once), then the idle samples: everything else here is blocked.
        irq_samples(idle, per_tick, 0)?;
        start_local(STORM_SERVER, 1, storm_server, STORM_PRIORITY)
            .map_err(|_| "starting the storm failed")?;
        start_local(STORM_CLIENT, 2, storm_client, STORM_PRIORITY)
            .map_err(|_| "starting the storm failed")?;
        irq_samples(storm, per_tick, 0)
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
use user::bench;

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn bench(_utcb: rt::UtcbAddr) -> ! {
    unreachable!("the host build only type-checks the entry")
}
