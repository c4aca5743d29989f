// SPDX-License-Identifier: MIT OR Apache-2.0
//! `fuzz`: a seeded random-syscall fuzzer; afterwards the kernel must still answer.
//!
//! The kernel promises that nothing a user program passes can crash, hang or corrupt
//! it. `badargs` checks the documented errors case by case; this program throws
//! `CALLS` random system calls at the kernel instead: random numbers (valid and
//! not, and now and then a nonzero `svc` immediate) with argument words biased toward
//! the values where bugs live (0, all ones, small integers, powers of two, thread ids
//! that exist, are stale, malformed or out of range, page-aligned user addresses,
//! addresses in its own image, stack and the KIP, kernel addresses, tags, flexpages
//! and typed-item words). Every status must be 0 or an error the ABI knows
//! (`bad-status=` counts the others). Then it proves the kernel still works: a
//! zero-timeout receive must answer `ReceiveTimeout` once the queue is drained, a
//! `DebugWrite` must print, and (as the root task) an IPC round trip with a helper
//! thread on another CPU must come back.
//!
//! The run is reproducible: the generator is splitmix64 from the constant `SEED`,
//! printed in `report: fuzz seed=0x... calls=N`; the same seed and kernel give the
//! same calls (helper threads on other CPUs can change which calls succeed).
//!
//! # On every CPU at once
//! As the root task on a machine of several CPUs, the fuzzer runs on every one of
//! them (up to `MAX_FUZZERS`, 16): a fuzzing thread in the root's space on each
//! CPU but the first, the root itself on the first, the calls shared out (together at
//! least `CALLS`), each thread with its own seed (`SEED` plus its index) and its own
//! share of the thread numbers it may create. So the kernel meets random calls from
//! all CPUs concurrently: the races a one-CPU storm cannot reach (issue 15). The
//! siblings are each other's own: the filters below protect them as they protect the
//! helper. `report: fuzz ... fuzzers=N` says how many ran; the boot test wants one
//! per CPU online.
//!
//! # Filters: what the fuzzer does not do
//! It must neither stop itself nor disturb other programs (as a child it shares the
//! machine with its pager and siblings), so before each call it rewrites (and counts,
//! `filtered=`):
//! - `Ipc`: x2 = 0 (zero timeouts only: it must never block); a call (to == from)
//!   becomes a send to `to` and a receive from anyone, because a call's receive phase
//!   waits for the reply without any timeout (a kernel bug, see `badargs`); grant items
//!   in MR1..MR4 become map items, so it never gives its own pages away;
//! - `Ipc` send, `Schedule`, `ExchangeRegisters`, `ThreadControl`: a thread id that
//!   could name another program's thread (not mine, not my helper, not one I made)
//!   gets version 0, so it names nothing (`Schedule` does not check the caller is
//!   the scheduler: another program's priority could change);
//! - `Schedule` of myself or my helper keeps the priority (a low priority could
//!   starve me); `ExchangeRegisters` of myself or my helper never sets SP, IP or pager
//!   and never halts; `ThreadControl` never adds threads to my own space (they would
//!   run at random IPs in my memory): such a space argument becomes a new space;
//! - `ThreadControl` never deletes or moves me or my helper; `Notify` goes only to me
//!   or threads I made;
//! - `SystemControl` never powers off; `SpaceControl` never sets the privileged bit;
//! - `MemoryControl` orders up to 18 are cut to 0..=3 (16 frames at most: the kernel
//!   zeroes each block, and a few 1 GiB blocks would take the whole boot budget);
//! - `DebugWrite` lengths up to 4096 are cut to 0..=1, and pointers into memory that may
//!   be mapped (below the end of the image, scratch) point at dots instead (random memory
//!   makes poor console output); `Introspect` `KmemReport` (which prints a line) at most 8 times.
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

rt::entry!(fuzz);

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
#[path = "../../badargs/src/role.rs"]
mod role;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod user {
    use crate::role::{Role, svc};
    use abi::message::Tag;
    use abi::syscall::{ExregsControl, KEEP, Syscall};
    use abi::timeout::Timeouts;
    use core::arch::asm;
    use core::sync::atomic::{AtomicU64, Ordering};
    use rt::println;

    /// The generator's seed: change it to explore, keep it to reproduce.
    pub const SEED: u64 = 0x5EED_F022_1234_ABCD;
    /// How many random calls one run makes (all fuzzing threads together).
    pub const CALLS: u64 = 100_000;
    /// The helper thread (root role): number, UTCB, stack.
    const HELPER: u64 = 0x40;
    const HELPER_UTCB: u64 = 0x21_0000;
    const SCRATCH: u64 = 0x20_0000_0000;
    /// The fuzzing threads beside the root (root role): index k (1..) is thread
    /// number `FUZZER_FIRST + k - 1` on CPU k, its UTCB after the helper's, its stack
    /// of 16 KiB at `SCRATCH + k * FUZZER_STACK_STRIDE`.
    const FUZZER_FIRST: u64 = 0x41;
    /// The most fuzzing threads, the root included (CPUs beyond stay out of it).
    pub const MAX_FUZZERS: u64 = 16;
    const FUZZER_STACK_STRIDE: u64 = 0x10_0000;
    /// The label of the final round trip.
    const PING: u16 = 0x300;
    /// Thread numbers this program may create (and then fuzz freely).
    const OWN_FIRST: u64 = 0x200;
    const OWN_COUNT: u64 = 64;
    /// Kernel addresses: the upper half's start, the kernel image, the direct map.
    const KERNEL_VAS: [u64; 4] =
        [0xFFFF_0000_0000_0000, 0xFFFF_FFFF_8000_0000, 0xFFFF_8000_4000_0000, 0xFFFF_FFFF_FFFF_F000];

    /// What a `DebugWrite` of the fuzzer's own memory prints.
    static DOTS: [u8; 16] = *b"................";

    unsafe extern "C" {
        static __program_start: u8;
        static __program_end: u8;
    }

    /// splitmix64: small, fast, and every seed gives a full-period sequence.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// What the fuzzer knows about the threads it may touch.
    struct World {
        me: u64,
        helper: u64,
        /// The fuzzing threads running (the root included): `FUZZER_FIRST..` are the
        /// others.
        fuzzers: u64,
        stack: u64,
        image: (u64, u64),
        /// The thread numbers this fuzzer may create: `own.0..own.0 + own.1`, its share
        /// of `OWN_FIRST..OWN_FIRST + OWN_COUNT`.
        own: (u64, u64),
        /// Those of them it created (bit i: number `own.0 + i`).
        made: u64,
        kmem_reports: u64,
    }

    impl World {
        /// The threads the filters protect: me, and in the root role every thread of
        /// the root's space (the root, the helper, the sibling fuzzers).
        fn own(&self, tid: u64) -> bool {
            let n = tid >> 16;
            tid == self.me
                || (self.helper != 0
                    && (tid == self.helper
                        || tid == abi::thread::ThreadId::ROOT.raw()
                        || (tid & 0xFFFF == 1
                            && (FUZZER_FIRST..FUZZER_FIRST + self.fuzzers - 1).contains(&n))))
        }

        fn mine(&self, tid: u64) -> bool {
            let n = tid >> 16;
            self.own(tid)
                || ((self.own.0..self.own.0 + self.own.1).contains(&n)
                    && self.made & (1 << (n - self.own.0)) != 0)
        }

        /// A number of my share, picked by `rng`.
        fn own_number(&self, rng: &mut Rng) -> u64 {
            self.own.0 + rng.below(self.own.1)
        }

        /// Whether `tid` could name a thread of another program: a well-formed id
        /// with a number the kernel's table holds, not one of mine.
        fn foreign(&self, tid: u64) -> bool {
            tid != 0 && tid != u64::MAX && tid & 0xFFFF != 0 && tid >> 16 < 1024 && !self.mine(tid)
        }

        /// An argument word, biased toward interesting values.
        fn word(&self, rng: &mut Rng) -> u64 {
            let r = rng.next();
            match rng.below(16) {
                0 => 0,
                1 => u64::MAX,
                2 => rng.below(64),
                3 | 4 => self.thread_id(rng),
                5 => r & 0x0000_FFFF_FFFF_F000,
                6 => self.image.0 + r % (self.image.1 - self.image.0),
                7 => self.stack.wrapping_add(r % 0x4000).wrapping_sub(0x2000),
                8 => abi::kip::KIP_ADDRESS + r % 0x5000,
                9 => KERNEL_VAS[(r % 4) as usize] + (r >> 60) * 0x1000,
                10 => 1 << (r % 64),
                // A message tag: label, u, t (sometimes with flags or high bits).
                11 => ((r >> 16) & 0xFFFF) << 16 | (r & 0xFFF) | if r >> 63 == 1 { 1 << (r % 64) } else { 0 },
                // A flexpage: base, size 12..47 or 63, rights.
                12 => (r & 0x0000_FFFF_FFFF_F000) | (12 + (r >> 50) % 52) << 6 | (r >> 40) & 7,
                // A typed item's first word: send base and map/grant kind.
                13 => (r & 0x0000_FFFF_FFFF_F000) | if r & 1 == 0 { 0x8 } else { 0xA },
                _ => r,
            }
        }

        fn thread_id(&self, rng: &mut Rng) -> u64 {
            match rng.below(10) {
                0 => self.me,
                1 => self.helper,
                2 => self.me.wrapping_add(1),
                3 => self.me & !0xFFFF,
                4 => (0x3FF << 16) | 1,
                5 => (1024 << 16) | 1,
                6 => (abi::thread::MAX_NUMBER << 16) | 1,
                7 => abi::thread::ThreadId::ROOT.raw(),
                _ => (self.own_number(rng) << 16) | 1,
            }
        }

        /// Makes some arguments of `number` plausible, so that calls get past the first
        /// checks and reach the deeper paths (creating, starting, moving threads).
        fn plausible(&self, number: u64, a: &mut [u64; 8], rng: &mut Rng, cpus: u64) {
            let own = (self.own_number(rng) << 16) | 1;
            let cpu = if rng.below(2) == 0 { u64::MAX } else { rng.below(cpus + 1) };
            let page = (rng.next() & 0x0000_00FF_FFFF_F000) | 0x1000_0000;
            match Syscall::from_number(number) {
                Some(Syscall::ThreadControl) => {
                    let space = [own, self.me, (self.own_number(rng) << 16) | 1][rng.below(3) as usize];
                    let pager = [0, self.me, self.helper, own][rng.below(4) as usize];
                    *a = [own, space, self.me, pager, page, cpu, 0, 0];
                }
                Some(Syscall::ExchangeRegisters) => {
                    a[0] = own;
                    a[1] &= 0x3F;
                }
                Some(Syscall::Schedule) => {
                    a[0] = own;
                    a[1] = rng.below(256);
                    a[2] = cpu;
                }
                Some(Syscall::Ipc) => {
                    a[0] = [own, self.helper, 0][rng.below(3) as usize];
                    a[3] = rng.below(1 << 12) & !(1 << 6);
                }
                Some(Syscall::MemoryControl) => {
                    *a = [
                        rng.below(3),
                        rng.below(3),
                        page & !0xFFFF,
                        (rng.below(8) << 4) | rng.below(2),
                        0,
                        0,
                        0,
                        0,
                    ];
                }
                _ => {}
            }
        }

        /// Rewrites a call so it cannot stop this program or disturb another (see the
        /// crate docs); returns whether anything changed.
        fn filter(&mut self, number: u64, a: &mut [u64; 8]) -> bool {
            let before = *a;
            let own = |w: &World, tid: u64| w.own(tid);
            match Syscall::from_number(number) {
                Some(Syscall::Ipc) => {
                    a[2] = 0;
                    if a[0] != 0 && a[0] == a[1] {
                        a[1] = u64::MAX;
                    }
                    if self.foreign(a[0]) {
                        a[0] &= !0xFFFF;
                    }
                    for w in &mut a[4..8] {
                        if *w & 0xF == 0xA {
                            *w ^= 0x2;
                        }
                    }
                }
                Some(Syscall::Schedule) => {
                    if self.foreign(a[0]) {
                        a[0] &= !0xFFFF;
                    }
                    if own(self, a[0]) {
                        a[1] = KEEP;
                    }
                }
                Some(Syscall::ExchangeRegisters) => {
                    if self.foreign(a[0]) {
                        a[0] &= !0xFFFF;
                    }
                    if own(self, a[0]) {
                        let keep_out = ExregsControl::SET_SP.raw()
                            | ExregsControl::SET_IP.raw()
                            | ExregsControl::SET_PAGER.raw()
                            | ExregsControl::HALT.raw();
                        a[1] &= !keep_out;
                    }
                }
                Some(Syscall::ThreadControl) => {
                    // Numbers of my share may be created (only the root role can).
                    let creatable = (self.own.0..self.own.0 + self.own.1).contains(&(a[0] >> 16));
                    if !creatable && self.foreign(a[0]) {
                        a[0] &= !0xFFFF;
                    }
                    if own(self, a[1]) {
                        a[1] = a[0];
                    }
                    // Deleting or moving (to another space) myself or my helper would
                    // end the test: those names become no thread.
                    if own(self, a[0]) {
                        a[0] &= !0xFFFF;
                    }
                }
                // A notification could wake another program's (or my helper's) receive
                // with a message it does not expect.
                Some(Syscall::Notify) if self.foreign(a[0]) || own(self, a[0]) && a[0] != self.me => {
                    a[0] &= !0xFFFF;
                }
                Some(Syscall::SystemControl) if a[0] == abi::syscall::SYSTEM_POWER_OFF => a[0] = 1,
                Some(Syscall::SpaceControl) => a[1] &= !1,
                Some(Syscall::MemoryControl) if a[1] <= 18 => a[1] &= 3,
                Some(Syscall::DebugWrite) if a[1] <= abi::syscall::DEBUG_WRITE_MAX => {
                    a[1] &= 1;
                    // Memory that may be mapped holds binary: print dots from there.
                    if a[0] < self.image.1 || (SCRATCH..SCRATCH << 1).contains(&a[0]) {
                        a[0] = DOTS.as_ptr() as u64 + a[0] % 8;
                    }
                }
                Some(Syscall::Introspect) if a[0] == 0 => {
                    if self.kmem_reports >= 8 {
                        a[0] = 1;
                    }
                    self.kmem_reports += 1;
                }
                _ => {}
            }
            *a != before
        }
    }

    /// `svc #1`, with x8 = `number`: the kernel must refuse the immediate.
    fn svc_imm1(number: u64, a: [u64; 8]) -> u64 {
        let mut x0 = a[0];
        // SAFETY: as for `role::svc`: the kernel reads x0..x8 and writes x0..x7 only.
        unsafe {
            asm!(
                "svc #1",
                inout("x0") x0, inout("x1") a[1] => _, inout("x2") a[2] => _, inout("x3") a[3] => _,
                inout("x4") a[4] => _, inout("x5") a[5] => _, inout("x6") a[6] => _, inout("x7") a[7] => _,
                inout("x8") number => _,
                options(nostack)
            );
        }
        x0
    }

    /// The helper (root role): answers my calls, ignores everyone else. Stack only.
    extern "C" fn helper_main(_utcb: u64) -> ! {
        let never = Timeouts::NEVER.pack();
        let reply_zero =
            Timeouts { send: abi::timeout::Timeout::Zero, receive: abi::timeout::Timeout::Never }.pack();
        let root = abi::thread::ThreadId::ROOT.raw();
        let mut reply: Option<[u64; 2]> = None;
        loop {
            let r = match reply.take() {
                Some([label, value]) => {
                    svc(Syscall::Ipc.number(), [root, u64::MAX, reply_zero, label, value, 0, 0, 0])
                }
                None => svc(Syscall::Ipc.number(), [0, u64::MAX, never, 0, 0, 0, 0, 0]),
            };
            if r[0] == 0 && r[1] == root {
                let label = Tag::from_raw(r[3]).map_or(0, |t| t.label());
                let answer = Tag::new(label.wrapping_add(1), 1, 0).map_or(0, |t| t.raw());
                reply = Some([answer, r[4].wrapping_add(1)]);
            }
        }
    }

    /// Starts the helper on another CPU (root role); its id, or 0.
    fn start_helper(me: u64, cpus: u64) -> u64 {
        let helper = (HELPER << 16) | 1;
        let cpu = if cpus > 1 { 1 } else { 0 };
        let steps = [
            (
                Syscall::MemoryControl,
                [0, 1, SCRATCH, abi::memory_control::MemoryControlFlags::RW_NEAREST.raw(), 0, 0, 0, 0],
            ),
            (Syscall::ThreadControl, [helper, me, me, me, HELPER_UTCB, cpu, 0, 0]),
            (
                Syscall::ExchangeRegisters,
                [
                    helper,
                    (ExregsControl::START | ExregsControl::SET_SP | ExregsControl::SET_IP).raw(),
                    SCRATCH + 0x2000,
                    helper_main as *const () as u64,
                    0,
                    0,
                    0,
                    0,
                ],
            ),
        ];
        for (call, args) in steps {
            let r = svc(call.number(), args);
            if r[0] != 0 {
                println!("fuzz: cannot start the helper: {} answered {}", call.name(), r[0]);
                return 0;
            }
        }
        helper
    }

    /// What one fuzzing thread's storm came to.
    #[derive(Clone, Copy, Default)]
    struct Counts {
        calls: u64,
        ok: u64,
        errors: u64,
        bad_status: u64,
        filtered: u64,
        made: u64,
    }

    /// The sibling fuzzers' counts, added up as each ends, and how many ended.
    static SUM: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];
    static DONE: AtomicU64 = AtomicU64::new(0);
    /// What the siblings need to know: the helper, how many fuzz, the calls each makes.
    static SHARED: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

    /// `calls` random calls from `rng`, through `w`'s filters.
    fn storm(w: &mut World, rng: &mut Rng, calls: u64, cpus: u64) -> Counts {
        let mut c = Counts { calls, ..Counts::default() };
        for _ in 0..calls {
            let number = match rng.below(100) {
                0..88 => rng.below(Syscall::COUNT),
                88..96 => Syscall::COUNT + rng.below(64),
                _ => rng.next(),
            };
            let mut a: [u64; 8] = core::array::from_fn(|_| w.word(rng));
            if rng.below(2) == 0 {
                w.plausible(number, &mut a, rng, cpus);
            }
            if w.filter(number, &mut a) {
                c.filtered += 1;
            }
            let status = if rng.below(512) == 0 { svc_imm1(number, a) } else { svc(number, a)[0] };
            match abi::error::check(status) {
                Ok(Ok(())) => {
                    c.ok += 1;
                    let n = a[0] >> 16;
                    if number == Syscall::ThreadControl.number() && (w.own.0..w.own.0 + w.own.1).contains(&n)
                    {
                        w.made |= 1 << (n - w.own.0);
                    }
                }
                Ok(Err(_)) => c.errors += 1,
                Err(_) => {
                    c.bad_status += 1;
                    if c.bad_status <= 10 {
                        println!(
                            "\nfuzz: call {number:#x} {a:x?} returned status {status}, not an ABI error"
                        );
                    }
                }
            }
        }
        c.made = u64::from(w.made.count_ones());
        c
    }

    /// Fuzzer `k` of `fuzzers` (0: the root) in the root role: its share of the
    /// creatable thread numbers.
    fn share(k: u64, fuzzers: u64) -> (u64, u64) {
        let each = OWN_COUNT / fuzzers.max(1);
        (OWN_FIRST + k * each, each)
    }

    /// A sibling fuzzer (root role, on CPU k): its storm, its counts added to [`SUM`],
    /// then it waits for messages for good (the root ends the run).
    extern "C" fn fuzzer_main(utcb: u64) -> ! {
        // SAFETY: the kernel maps this thread's UTCB at the address it passed in x0
        // for the thread's whole life; the global-id word is aligned and written by
        // the kernel only when the thread is created.
        let me =
            unsafe { core::ptr::read_volatile((utcb + abi::utcb::MY_GLOBAL_ID_OFFSET as u64) as *const u64) };
        let k = (me >> 16) - FUZZER_FIRST + 1;
        let [helper, fuzzers, calls] = [0, 1, 2].map(|i| SHARED[i].load(Ordering::Acquire));
        let stack_marker = 0u64;
        let mut w = World {
            me,
            helper,
            fuzzers,
            stack: &raw const stack_marker as u64,
            image: image(),
            own: share(k, fuzzers),
            made: 0,
            kmem_reports: 8,
        };
        let cpus = rt::sys::kip().cpu_count() as u64;
        let c = storm(&mut w, &mut Rng(SEED.wrapping_add(k)), calls, cpus);
        for (sum, v) in SUM.iter().zip([c.calls, c.ok, c.errors, c.bad_status, c.filtered, c.made]) {
            sum.fetch_add(v, Ordering::Relaxed);
        }
        DONE.fetch_add(1, Ordering::Release);
        let never = Timeouts::NEVER.pack();
        loop {
            let _ = svc(Syscall::Ipc.number(), [0, u64::MAX, never, 0, 0, 0, 0, 0]);
        }
    }

    /// Starts sibling fuzzer `k` on CPU `k` (root role); whether it started.
    fn start_fuzzer(me: u64, k: u64) -> bool {
        let id = ((FUZZER_FIRST + k - 1) << 16) | 1;
        let stack = SCRATCH + k * FUZZER_STACK_STRIDE;
        let start = (ExregsControl::START | ExregsControl::SET_SP | ExregsControl::SET_IP).raw();
        let steps = [
            (
                Syscall::MemoryControl,
                [0, 2, stack, abi::memory_control::MemoryControlFlags::RW_NEAREST.raw(), 0, 0, 0, 0],
            ),
            (Syscall::ThreadControl, [id, me, me, me, HELPER_UTCB + k * 0x1000, k, 0, 0]),
            (
                Syscall::ExchangeRegisters,
                [id, start, stack + 0x4000, fuzzer_main as *const () as u64, 0, 0, 0, 0],
            ),
        ];
        for (call, args) in steps {
            let r = svc(call.number(), args);
            if r[0] != 0 {
                println!("fuzz: cannot start fuzzer {k}: {} answered {}", call.name(), r[0]);
                return false;
            }
        }
        true
    }

    /// This program's image, from the linker's symbols.
    fn image() -> (u64, u64) {
        (&raw const __program_start as u64, &raw const __program_end as u64)
    }

    /// The fuzzer: see the crate docs.
    pub fn fuzz(utcb: rt::UtcbAddr) -> ! {
        let role = Role::detect(utcb);
        let cpus = rt::sys::kip().cpu_count() as u64;
        let helper = if role.privileged { start_helper(role.me, cpus) } else { 0 };
        // Root role: one fuzzer per CPU (up to MAX_FUZZERS), the calls shared out.
        let mut fuzzers = if role.privileged && helper != 0 { cpus.clamp(1, MAX_FUZZERS) } else { 1 };
        let each = CALLS.div_ceil(fuzzers);
        for (i, v) in [helper, fuzzers, each].into_iter().enumerate() {
            SHARED[i].store(v, Ordering::Release);
        }
        let mut started = 1;
        while started < fuzzers && start_fuzzer(role.me, started) {
            started += 1;
        }
        fuzzers = started;
        SHARED[1].store(fuzzers, Ordering::Release);
        let stack_marker = 0u64;
        let mut w = World {
            me: role.me,
            helper,
            fuzzers,
            stack: &raw const stack_marker as u64,
            image: image(),
            own: share(0, fuzzers),
            made: 0,
            kmem_reports: 0,
        };
        println!(
            "{}",
            report::line!("fuzz",
                "seed" => report::Hex(SEED), "calls" => each * fuzzers,
                "role" => if role.privileged { "root" } else { "child" }, "fuzzers" => fuzzers)
        );
        let start = svc(Syscall::SystemClock.number(), [0; 8]);
        let mut c = storm(&mut w, &mut Rng(SEED), each, cpus);
        // The siblings end too (each with its share). Wait by sleeping, never by
        // spinning: the storm may have moved a sibling onto this CPU, below this
        // thread's priority (the root's), where a spinning root would starve it.
        while DONE.load(Ordering::Acquire) < fuzzers - 1 {
            rt::timer::sleep(core::time::Duration::from_millis(1));
        }
        let sums = SUM.each_ref().map(|s| s.load(Ordering::Relaxed));
        c.calls += sums[0];
        c.ok += sums[1];
        c.errors += sums[2];
        c.bad_status += sums[3];
        c.filtered += sums[4];
        c.made += sums[5];
        let end = svc(Syscall::SystemClock.number(), [0; 8]);
        let ms = end[1].wrapping_sub(start[1]) * 1000 / start[2].max(1);
        println!(
            "\n{}",
            report::line!("fuzz-statuses",
                "ok" => c.ok, "errors" => c.errors, "bad-status" => c.bad_status, "filtered" => c.filtered, "ms" => ms,
                "threads-made" => c.made)
        );
        let responsive = responsive(&w);
        println!(
            "\n{}",
            report::line!("fuzz", "calls" => c.calls, "kernel-responsive" => if responsive { "yes" } else { "no" },
                "fuzzers" => fuzzers)
        );
        role.finish(c.bad_status + u64::from(!responsive))
    }

    /// Whether the kernel still does its job after the storm.
    fn responsive(w: &World) -> bool {
        // Drain whatever the storm left queued for me (fault messages of threads it
        // made), then a zero-timeout receive must time out.
        let mut drained = 0;
        let timed_out = loop {
            let r = svc(Syscall::Ipc.number(), [0, u64::MAX, 0, 0, 0, 0, 0, 0]);
            if r[0] == abi::Error::ReceiveTimeout.code() {
                break true;
            }
            drained += 1;
            if drained > 2048 {
                break false;
            }
        };
        let text = b"fuzz: the kernel still prints\n";
        let printed =
            svc(Syscall::DebugWrite.number(), [text.as_ptr() as u64, text.len() as u64, 0, 0, 0, 0, 0, 0]);
        let printed = printed[0] == 0 && printed[1] == text.len() as u64;
        let round_trip = if w.helper == 0 {
            true
        } else {
            let tag = Tag::new(PING, 1, 0).map_or(0, |t| t.raw());
            let r =
                svc(Syscall::Ipc.number(), [w.helper, w.helper, Timeouts::NEVER.pack(), tag, 41, 0, 0, 0]);
            let label = Tag::from_raw(r[3]).map_or(0, |t| t.label());
            r[0] == 0 && r[1] == w.helper && label == PING + 1 && r[4] == 42
        };
        let round_trip_said = if w.helper == 0 {
            "skipped"
        } else if round_trip {
            "yes"
        } else {
            "no"
        };
        println!(
            "{}",
            report::line!("fuzz-after",
                "drained" => drained, "receive-timeout" => timed_out, "debug-write" => printed, "round-trip" => round_trip_said)
        );
        timed_out && printed && round_trip
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
use user::fuzz;

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn fuzz(_utcb: rt::UtcbAddr) -> ! {
    unreachable!("the host build only type-checks the entry")
}
