// SPDX-License-Identifier: MIT OR Apache-2.0
//! `l4test`: the L4 core's semantics, checked from user level where they matter.
//!
//! Run as the root task (it needs `ThreadControl`, `MemoryControl`) on a board with two
//! nodes of two CPUs. Each scenario prints `report: l4test <name>=pass|fail ...`; the
//! program powers off with the number of failed checks.
//!
//! - **map-unmap**: the root maps a page to A (space SA), A maps it on to B (space SB):
//!   both read the root's data. The root then unmaps its page *recursively* (not its
//!   own mapping): A and B fault on their next access (the pager sees both faults) and
//!   get fresh pages, while the root still reads its data. Map, remap, recursive unmap
//!   across three spaces, checked by faults.
//! - **unmap-in-use**: C, in its own space on a CPU of the other node, reads a mapped
//!   page in a tight loop while the root unmaps it: C's next read must fault (no stale
//!   translation survives in any TLB: the kernel broadcasts `TLBI VAE1IS`).
//! - **preemption**: a low-priority thread spins on CPU 1; a high-priority thread there
//!   waits for the root. Each ping must be answered long before the spinner's timeslice
//!   would end (the wakeup preempts the spinner; how fast is reported, not asserted);
//!   two equal-priority spinners both progress (round robin).
//! - **dead-pager**: T's pager receives T's page fault and never answers; deleting the
//!   pager halts T (a defined result, not a hang), and IPC to the dead pager answers
//!   `NonExistingPartner`.
//! - **dead-partner**: S calls X, which never receives from S; deleting X ends S's call
//!   with `Cancelled`.
//! - **fp-state**: two threads on one CPU fill all 32 vector registers with their own
//!   values and switch back and forth 50 times through IPC; all 32 must survive every
//!   switch (the kernel switches FP state lazily), and for one of them a move to a CPU
//!   of the other node too.
//! - **exception**: an undefined instruction reaches the thread's exception handler as
//!   IPC (label 0xFFB0, the ESR), whose reply sets a new IP: the thread goes on.
//! - **grant**: a page granted (not mapped) to a thread of another space carries the
//!   data there and is gone from the granter's space.
//! - **quota**: the root holds one page in each of 2100 spans of 2 MiB and maps them all
//!   (one 8 GiB flexpage) to a thread whose space has the standard 16 MiB quota: the
//!   tables would take 16.4 MiB, so the IPC fails with `OutOfMemory` on both sides and
//!   nothing is mapped (the thread's read of the first page faults); a one-page map
//!   afterwards works.
//! - **move-running**: a thread spinning on CPU 1 is moved by `Schedule` to CPU 3 (the
//!   other node) while it runs: it goes on running, `Introspect CurrentCpu` and its
//!   UTCB's `cpu` word say 3, and a lower-priority thread then runs on CPU 1.
//! - **map-back**: a thread maps the page it got from the root back to the root's
//!   address of that page (where the root holds its source): the message arrives, the
//!   page is left as it is, and both still read it.
//! - **same-cpu** / **cross-cpu**: 100 IPC round trips with a thread on the root's own
//!   CPU (as `Call` and `ReplyWait`: the kernel's IPC fast path), and with one on
//!   another CPU of the same node (send and receive apart; other nodes: the root task).
//! - **same-cpu-pager**: a thread in a space of its own on the root's CPU writes and
//!   reads back 16 fresh stack pages, each a fault the root answers with a one-page map
//!   in its `ReplyWait` (the kernel's fault and map-reply fast paths), and reports the
//!   sum of what it read.
//!
//! - **notify**: the root (node 0) posts 16 words to a thread on node 1 that waits for
//!   something else: all queued, the 17th refused (QueueFull); told to go, the thread
//!   receives the 16 in order, each from the root; a word posted while it waits openly
//!   reaches it at once.
//! - **move-space**: a thread in a space on node 0 asks to be moved; while it waits for
//!   the answer, the root moves it (ThreadControl) into a new space homed on node 1
//!   and onto CPU 2 (the old space goes with its last thread); its UTCB is then on node 1 in the new space, whose kmem report counts
//!   it; answered (its stack page mapped into the new space), it reports running on
//!   CPU 2 of node 1 with its UTCB intact.
//!
//! At the end, `report: fastpath ipc= map= fault=` gives how often the kernel's fast
//! paths ran (`Introspect` FastPaths); the boot test wants each above zero.
//!
//! Threads in spaces of their own (A, B, C, T) run this very program's code: the root
//! is their pager and maps its own code pages to them on fault, and fresh stack pages.
//! They touch no `static`s (their data pages are not the root's).
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

rt::entry!(l4test);

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod test {
    use abi::Error;
    use abi::fpage::{Fpage, Rights};
    use abi::message::{Tag, TypedItem};

    use abi::thread::ThreadId;
    use abi::timeout::{Timeout, Timeouts};
    use core::sync::atomic::{AtomicU64, Ordering};
    use rt::{println, sys};

    /// Message labels of the protocol between the root and its test threads.
    const GIVE: u16 = 0x200;
    const READ: u16 = 0x201;
    const WAIT: u16 = 0x202;
    const AFTER: u16 = 0x203;
    const PONG: u16 = 0x204;
    const RESULT: u16 = 0x205;
    const BACK: u16 = 0x206;
    const TOUCHED: u16 = 0x207;
    const MOVE_ME: u16 = 0x208;
    const GO: u16 = 0x209;

    /// The root's data page for map-unmap, and where A and B see it.
    const VA_P: u64 = 0x20_0000_0000;
    const VA_A: u64 = 0x50_0000_0000;
    const VA_B: u64 = 0x51_0000_0000;
    /// unmap-in-use: the root's page and where C sees it.
    const VA_Q: u64 = 0x20_0001_0000;
    const VA_C: u64 = 0x52_0000_0000;
    /// The quota scenario's pages, one per 2 MiB span (8 GiB aligned: one flexpage).
    const VA_QUOTA: u64 = 0x60_0000_0000;
    /// Fresh frames the root hands out (stack pages, replacement pages).
    const FRESH: u64 = 0x30_0000_0000;
    /// Stacks of the threads in the root's own space (16 KiB each).
    const STACKS: u64 = 0x40_0000_0000;
    /// In a thread's own space: its UTCB and stack top.
    const OWN_UTCB: u64 = 0x20_0000;
    const OWN_STACK_TOP: u64 = 0x38_0000;
    const MAGIC: u64 = 0x5eed_cafe_f00d_0001;
    const MAGIC_Q: u64 = 0x5eed_cafe_f00d_0002;
    /// MemoryControl flags: read-write, any node if the one asked is exhausted.
    const RW_NEAREST: u64 = abi::memory_control::MemoryControlFlags::RW_NEAREST.raw();

    static SPIN: AtomicU64 = AtomicU64::new(0);
    static SPIN2: AtomicU64 = AtomicU64::new(0);
    /// move-running: the mover's rounds, and the CPU it last saw itself on
    /// (`Introspect CurrentCpu`) and in its UTCB's `cpu` word (`u64::MAX`: they differ).
    static MOVER_ROUNDS: AtomicU64 = AtomicU64::new(0);
    static MOVER_CPU: AtomicU64 = AtomicU64::new(u64::MAX);

    fn id(number: u64) -> u64 {
        (number << 16) | 1
    }

    fn tag(label: u16, u: u8, t: u8) -> u64 {
        Tag::new(label, u, t).map_or(0, |t| t.raw())
    }

    fn label(mr0: u64) -> u16 {
        Tag::from_raw(mr0).map_or(0, |t| t.label())
    }

    fn now_us() -> u64 {
        let hz = sys::kip().counter_frequency.max(1);
        sys::counter().saturating_mul(1_000_000) / hz
    }

    fn sleep_us(us: u64) {
        let end = now_us() + us;
        while now_us() < end {
            core::hint::spin_loop();
        }
    }

    /// Sends `mr` to `to` without waiting (it waits for us: a reply).
    fn reply(to: u64, mr: [u64; 5]) -> Result<(), Error> {
        sys::ipc(to, 0, Timeouts { send: Timeout::Zero, receive: Timeout::Never }.pack(), mr).map(|_| ())
    }

    /// A message or a fault the pager did not serve by itself.
    enum Got {
        Msg(sys::Received),
        Fault { from: u64, addr: u64 },
        Nothing(Error),
    }

    /// The root: pager of the threads in their own spaces, and the test driver.
    struct Root {
        me: u64,
        failed: u64,
        checks: u64,
        fresh: u64,
        /// The stack pages the pager gave out lately: (thread, page, root's VA of the
        /// frame), newest last (the move-space scenario maps them again).
        stacks: [(u64, u64, u64); 8],
    }

    impl Root {
        fn check(&mut self, ok: bool, what: &str) -> bool {
            self.checks += 1;
            if !ok {
                self.failed += 1;
                println!("l4test: FAIL {what}");
            }
            ok
        }

        /// A fresh zeroed frame in the root's space (for a thread's stack or a
        /// replacement page); its address here.
        fn fresh_page(&mut self) -> Option<u64> {
            let va = FRESH + self.fresh * 0x1000;
            self.fresh += 1;
            sys::memory_control(0, 0, va, RW_NEAREST).ok().map(|_| va)
        }

        /// The next message, serving code and stack faults of the test threads itself.
        ///
        /// A pager's loop as L4 writes it: each answer to a fault goes out in the same
        /// `ReplyWait` that waits for the next message (the kernel's fast path for a
        /// one-page map reply takes it when the faulting thread is on this CPU).
        fn next(&mut self, timeout_us: u32) -> Got {
            let (mut reply_to, mut reply) = (0u64, [0u64; 5]);
            loop {
                let timeouts = Timeouts { send: Timeout::Zero, receive: Timeout::Micros(timeout_us) };
                let m = match sys::ipc(reply_to, u64::MAX, timeouts.pack(), reply) {
                    Ok(m) => m,
                    // The reply could not go (its thread is gone, or not waiting): the
                    // receive did not run either; wait without replying.
                    Err(Error::SendTimeout | Error::NonExistingPartner) if reply_to != 0 => {
                        reply_to = 0;
                        continue;
                    }
                    Err(e) => return Got::Nothing(e),
                };
                let l = label(m.mr[0]);
                if l & !abi::fault::PAGE_FAULT_ACCESS_MASK != abi::fault::PAGE_FAULT_LABEL {
                    return Got::Msg(m);
                }
                let addr = m.mr[1];
                let page = addr & !0xFFF;
                let image = (&raw const __program_start as u64)..(&raw const __program_end as u64);
                let source = if image.contains(&page) {
                    Some(Fpage::new(page, 12, Rights::RX))
                } else if (OWN_STACK_TOP - 0x4_0000..OWN_STACK_TOP).contains(&page) {
                    let va = self.fresh_page();
                    if let Some(va) = va {
                        self.stacks.rotate_left(1);
                        self.stacks[7] = (m.from, page, va);
                    }
                    va.map(|va| Fpage::new(va, 12, Rights::RW))
                } else {
                    return Got::Fault { from: m.from, addr };
                };
                match source.map(|f| f.map(|fpage| TypedItem::Map { send_base: page, fpage }.encode())) {
                    Some(Ok(Ok([w0, w1]))) => (reply_to, reply) = (m.from, [tag(0, 0, 2), w0, w1, 0, 0]),
                    _ => return Got::Fault { from: m.from, addr },
                }
            }
        }

        /// Waits for a message with `want` from `from`; anything else fails the check.
        fn expect(&mut self, from: u64, want: u16, what: &str) -> Option<sys::Received> {
            match self.next(2_000_000) {
                Got::Msg(m) if m.from == from && label(m.mr[0]) == want => Some(m),
                Got::Msg(m) => {
                    self.check(false, what);
                    println!("l4test:   got label {:#x} from {:#x}", label(m.mr[0]), m.from);
                    None
                }
                Got::Fault { from, addr } => {
                    self.check(false, what);
                    println!("l4test:   got a fault of {from:#x} at {addr:#x}");
                    None
                }
                Got::Nothing(e) => {
                    self.check(false, what);
                    println!("l4test:   nothing came: {e}");
                    None
                }
            }
        }

        /// Starts thread `number` on `cpu` at `entry`: in a new space of its own
        /// (`own_space`, paged by the root) or in the root's space with a stack of its own.
        fn spawn(
            &mut self,
            number: u64,
            own_space: bool,
            cpu: u64,
            entry: extern "C" fn(u64) -> !,
            prio: u8,
            pager: u64,
        ) -> u64 {
            let t = id(number);
            let (space, utcb, sp) = if own_space {
                (t, OWN_UTCB, OWN_STACK_TOP)
            } else {
                let stack = STACKS + number * 0x1_0000;
                let ok = sys::memory_control(0, 2, stack, RW_NEAREST).is_ok();
                self.check(ok, "a stack for a thread in the root's space");
                (self.me, 0x21_0000 + number * 0x1000, stack + 0x4000)
            };
            let made = sys::thread_control(t, space, self.me, pager, utcb, cpu);
            self.check(made.is_ok(), "ThreadControl creates a test thread");
            let _ = sys::set_priority(t, prio);
            // The root is every test thread's exception handler, set in the same call that
            // starts it (set later, a thread could raise its exception first).
            let started = sys::start_thread(t, sp, entry as *const () as u64, self.me);
            self.check(started.is_ok(), "ExchangeRegisters starts a test thread");
            t
        }

        fn delete(&mut self, t: u64) {
            let r = sys::delete_thread(t);
            self.check(r.is_ok(), "ThreadControl deletes a test thread");
        }

        fn report(&mut self, name: &str, before: u64) {
            let ok = self.failed == before;
            println!("{}", report::line!("l4test", name => if ok { "pass" } else { "fail" }));
        }
    }

    unsafe extern "C" {
        static __program_start: u8;
        static __program_end: u8;
    }

    fn read(va: u64) -> u64 {
        // SAFETY: the callers read pages they were given (or that fault to the pager,
        // which is the point of the test); volatile: the mapping changes under us.
        unsafe { core::ptr::read_volatile(va as *const u64) }
    }

    /// Opens this thread's receive window to its whole space (BR0 of its UTCB).
    fn open_window(utcb: u64) {
        let window = Fpage::whole_space(Rights::RWX).raw();
        // SAFETY: `utcb` is this thread's UTCB (the kernel passed it in x0), mapped
        // read-write; BR0 is at its documented offset.
        unsafe { core::ptr::write_volatile((utcb + abi::utcb::BR_OFFSET as u64) as *mut u64, window) };
    }

    fn call(to: u64, mr: [u64; 5]) -> Result<sys::Received, Error> {
        sys::ipc(to, to, Timeouts::NEVER.pack(), mr)
    }

    fn park() -> ! {
        loop {
            let _ = sys::ipc(0, u64::MAX, Timeouts::NEVER.pack(), [0; 5]);
        }
    }

    // ---- the test threads ----------------------------------------------------------

    extern "C" fn thread_a(utcb: u64) -> ! {
        let root = ThreadId::ROOT.raw();
        open_window(utcb);
        let _ = call(root, [tag(GIVE, 0, 0), 0, 0, 0, 0]);
        let _ = call(root, [tag(READ, 1, 0), read(VA_A), 0, 0, 0]);
        // Map it on to B, which waits for it.
        if let Ok(f) = Fpage::new(VA_A, 12, Rights::RW)
            && let Ok([w0, w1]) = (TypedItem::Map { send_base: VA_B, fpage: f }).encode()
        {
            let _ = sys::ipc(id(0x62), 0, Timeouts::NEVER.pack(), [tag(0, 0, 2), w0, w1, 0, 0]);
        }
        let _ = call(root, [tag(WAIT, 0, 0), 0, 0, 0, 0]);
        let _ = call(root, [tag(AFTER, 1, 0), read(VA_A), 0, 0, 0]);
        park()
    }

    extern "C" fn thread_b(utcb: u64) -> ! {
        let root = ThreadId::ROOT.raw();
        open_window(utcb);
        let _ = sys::ipc(0, id(0x61), Timeouts::NEVER.pack(), [0; 5]);
        let _ = call(root, [tag(READ, 1, 0), read(VA_B), 0, 0, 0]);
        let _ = call(root, [tag(WAIT, 0, 0), 0, 0, 0, 0]);
        let _ = call(root, [tag(AFTER, 1, 0), read(VA_B), 0, 0, 0]);
        park()
    }

    /// Pages the same-cpu-pager thread touches, from the bottom of its stack region
    /// (far below the stack it uses).
    const TOUCH_PAGES: u64 = 16;

    extern "C" fn toucher(_utcb: u64) -> ! {
        let base = OWN_STACK_TOP - 0x4_0000;
        let mut sum = 0;
        for i in 0..TOUCH_PAGES {
            let p = (base + i * 0x1000) as *mut u64;
            // SAFETY: the bottom of this thread's own stack region, which its pager
            // maps (fresh frames) on the first touch; nothing else uses these pages.
            unsafe { core::ptr::write_volatile(p, i + 1) };
            sum += read(base + i * 0x1000);
        }
        let _ = call(ThreadId::ROOT.raw(), [tag(TOUCHED, 1, 0), sum, 0, 0, 0]);
        park()
    }

    /// Waits (for the root only) until told to go, meanwhile the root fills its
    /// notification queue; then takes the 16 words and reports their sum, order and
    /// sender; then waits once more, openly, for one the root posts meanwhile.
    extern "C" fn deaf(_utcb: u64) -> ! {
        let root = ThreadId::ROOT.raw();
        let never = Timeouts::NEVER.pack();
        let _ = sys::ipc(0, root, never, [0; 5]);
        let (mut sum, mut ordered, mut from_root) = (0, 1, 1);
        for i in 0..abi::syscall::NOTIFY_QUEUE as u64 {
            match sys::ipc(0, u64::MAX, never, [0; 5]) {
                Ok(m) if label(m.mr[0]) == abi::fault::NOTIFY_LABEL => {
                    sum += m.mr[1];
                    ordered &= u64::from(m.mr[1] == i);
                    from_root &= u64::from(m.from == root);
                }
                _ => ordered = 0,
            }
        }
        let _ = call(root, [tag(RESULT, 3, 0), sum, ordered, from_root, 0]);
        let late = sys::ipc(0, u64::MAX, never, [0; 5]);
        let got = matches!(late, Ok(m) if label(m.mr[0]) == abi::fault::NOTIFY_LABEL && m.mr[1] == 1000);
        let _ = call(root, [tag(RESULT, 1, 0), u64::from(got), 0, 0, 0]);
        park()
    }

    /// Asks the root to move it (and is moved, while it waits for the answer, into a
    /// space of another node); then reports where it runs now.
    extern "C" fn migrant(utcb: u64) -> ! {
        open_window(utcb);
        let root = ThreadId::ROOT.raw();
        let _ = call(root, [tag(MOVE_ME, 0, 0), 0, 0, 0, 0]);
        let here = sys::introspect(abi::introspect::Request::CurrentCpu.encode()).unwrap_or([u64::MAX; 6]);
        let cpu_word = read(utcb + abi::utcb::CPU_OFFSET as u64);
        let my_id = read(utcb + abi::utcb::MY_GLOBAL_ID_OFFSET as u64);
        let _ = call(root, [tag(RESULT, 4, 0), here[0], here[1], cpu_word, my_id]);
        park()
    }

    extern "C" fn thread_c(utcb: u64) -> ! {
        open_window(utcb);
        let _ = call(ThreadId::ROOT.raw(), [tag(GIVE, 0, 0), 0, 0, 0, 0]);
        loop {
            let _ = read(VA_C);
        }
    }

    /// Fills all 32 vector registers from `seed` (register i, both halves: seed + i).
    fn fill_fp(seed: u64) {
        let mut v = [0u128; 32];
        for (i, q) in v.iter_mut().enumerate() {
            let word = u128::from(seed + i as u64);
            *q = (word << 64) | word;
        }
        let p = v.as_ptr();
        // SAFETY: loads q0..q31 from a live 512-byte array; only FP registers change.
        unsafe {
            core::arch::asm!(
                "ldp q0, q1, [{p}, #0]", "ldp q2, q3, [{p}, #32]", "ldp q4, q5, [{p}, #64]",
                "ldp q6, q7, [{p}, #96]", "ldp q8, q9, [{p}, #128]", "ldp q10, q11, [{p}, #160]",
                "ldp q12, q13, [{p}, #192]", "ldp q14, q15, [{p}, #224]", "ldp q16, q17, [{p}, #256]",
                "ldp q18, q19, [{p}, #288]", "ldp q20, q21, [{p}, #320]", "ldp q22, q23, [{p}, #352]",
                "ldp q24, q25, [{p}, #384]", "ldp q26, q27, [{p}, #416]", "ldp q28, q29, [{p}, #448]",
                "ldp q30, q31, [{p}, #480]",
                p = in(reg) p,
                out("v0") _, out("v1") _, out("v2") _, out("v3") _, out("v4") _, out("v5") _,
                out("v6") _, out("v7") _, out("v8") _, out("v9") _, out("v10") _, out("v11") _,
                out("v12") _, out("v13") _, out("v14") _, out("v15") _, out("v16") _, out("v17") _,
                out("v18") _, out("v19") _, out("v20") _, out("v21") _, out("v22") _, out("v23") _,
                out("v24") _, out("v25") _, out("v26") _, out("v27") _, out("v28") _, out("v29") _,
                out("v30") _, out("v31") _,
                options(nostack, readonly)
            )
        };
    }

    /// How many of the 32 vector registers still hold what `fill_fp(seed)` put there.
    /// Must run right after an IPC, before any code that could use FP registers.
    fn fp_intact(seed: u64) -> u64 {
        let mut v = [0u128; 32];
        let p = v.as_mut_ptr();
        // SAFETY: stores q0..q31 into a live 512-byte array.
        unsafe {
            core::arch::asm!(
                "stp q0, q1, [{p}, #0]", "stp q2, q3, [{p}, #32]", "stp q4, q5, [{p}, #64]",
                "stp q6, q7, [{p}, #96]", "stp q8, q9, [{p}, #128]", "stp q10, q11, [{p}, #160]",
                "stp q12, q13, [{p}, #192]", "stp q14, q15, [{p}, #224]", "stp q16, q17, [{p}, #256]",
                "stp q18, q19, [{p}, #288]", "stp q20, q21, [{p}, #320]", "stp q22, q23, [{p}, #352]",
                "stp q24, q25, [{p}, #384]", "stp q26, q27, [{p}, #416]", "stp q28, q29, [{p}, #448]",
                "stp q30, q31, [{p}, #480]",
                p = in(reg) p,
                options(nostack)
            )
        };
        v.iter()
            .enumerate()
            .filter(|&(i, &q)| {
                let word = u128::from(seed + i as u64);
                q == (word << 64) | word
            })
            .count() as u64
    }

    /// fp-state: fills its vector registers, then 50 times calls the root (which runs
    /// the other FP thread in between on the same CPU) and checks all 32 survived;
    /// reports how many rounds kept them all. The root moves it to another CPU midway.
    extern "C" fn fp_thread(utcb: u64) -> ! {
        let root = ThreadId::ROOT.raw();
        // The seed comes from the root in the first message (its thread number).
        let seed = match sys::ipc(0, root, Timeouts::NEVER.pack(), [0; 5]) {
            Ok(m) => m.mr[1],
            Err(_) => 0,
        };
        let _ = utcb;
        fill_fp(seed);
        let mut good = 0;
        for _ in 0..50 {
            let r = sys::ipc(root, root, Timeouts::NEVER.pack(), [tag(0x304, 0, 0), 0, 0, 0, 0]);
            if r.is_ok() && fp_intact(seed) == 32 {
                good += 1;
            }
        }
        let _ = sys::ipc(root, 0, Timeouts::NEVER.pack(), [tag(RESULT, 1, 0), good, 0, 0, 0]);
        park()
    }

    /// exception: executes an undefined instruction; its exception handler (the root)
    /// answers with a new IP past it, and the thread reports that it went on.
    extern "C" fn undefined(_utcb: u64) -> ! {
        // SAFETY: `udf` raises an undefined-instruction exception, which the kernel sends
        // to this thread's exception handler; its reply resumes us after it.
        unsafe { core::arch::asm!("udf #0x4c", options(nomem, nostack)) };
        let _ =
            sys::ipc(ThreadId::ROOT.raw(), 0, Timeouts::NEVER.pack(), [tag(RESULT, 1, 0), 0x600d, 0, 0, 0]);
        park()
    }

    /// grant: receives a page by grant from the root and reports what it reads there.
    extern "C" fn grantee(utcb: u64) -> ! {
        open_window(utcb);
        let root = ThreadId::ROOT.raw();
        let _ = call(root, [tag(GIVE, 0, 0), 0, 0, 0, 0]);
        let _ = sys::ipc(root, 0, Timeouts::NEVER.pack(), [tag(READ, 1, 0), read(VA_A), 0, 0, 0]);
        park()
    }

    /// quota: asks for the root's pages, reports the error, then reads the first one.
    extern "C" fn quota_taker(utcb: u64) -> ! {
        open_window(utcb);
        let root = ThreadId::ROOT.raw();
        let status = match call(root, [tag(GIVE, 0, 0), 0, 0, 0, 0]) {
            Ok(_) => 0,
            Err(e) => e as u64,
        };
        let never = Timeouts::NEVER.pack();
        let _ = sys::ipc(root, 0, never, [tag(RESULT, 1, 0), status, 0, 0, 0]);
        let _ = sys::ipc(root, 0, never, [tag(READ, 1, 0), read(VA_QUOTA), 0, 0, 0]);
        park()
    }

    /// map-back: takes a page from the root, maps it back to where the root holds it.
    extern "C" fn mapper_back(utcb: u64) -> ! {
        open_window(utcb);
        let root = ThreadId::ROOT.raw();
        let _ = call(root, [tag(GIVE, 0, 0), 0, 0, 0, 0]);
        let never = Timeouts::NEVER.pack();
        let va = VA_P + 0x3_0000;
        let status = match Fpage::new(VA_A, 12, Rights::RW)
            .map(|f| TypedItem::Map { send_base: va, fpage: f }.encode())
        {
            Ok(Ok([w0, w1])) => match sys::ipc(root, 0, never, [tag(BACK, 0, 2), w0, w1, 0, 0]) {
                Ok(_) => 0,
                Err(e) => e as u64,
            },
            _ => u64::MAX,
        };
        let _ = sys::ipc(root, 0, never, [tag(RESULT, 2, 0), status, read(VA_A), 0, 0]);
        park()
    }

    /// move-running: spins, recording where the kernel says it runs.
    extern "C" fn mover(utcb: u64) -> ! {
        loop {
            let query = sys::introspect([abi::introspect::Query::CurrentCpu.number(), 0, 0, 0]);
            let here = query.map_or(u64::MAX - 1, |x| x[0]);
            // SAFETY: this thread's UTCB (the kernel passed it in x0); `cpu` is a
            // kernel-written word at its documented offset.
            let word =
                unsafe { core::ptr::read_volatile((utcb + abi::utcb::CPU_OFFSET as u64) as *const u64) };
            MOVER_CPU.store(if here == word { here } else { u64::MAX }, Ordering::Relaxed);
            MOVER_ROUNDS.fetch_add(1, Ordering::Relaxed);
        }
    }

    extern "C" fn spinner(_utcb: u64) -> ! {
        loop {
            SPIN.fetch_add(1, Ordering::Relaxed);
        }
    }

    extern "C" fn spinner2(_utcb: u64) -> ! {
        loop {
            SPIN2.fetch_add(1, Ordering::Relaxed);
        }
    }

    extern "C" fn echo(_utcb: u64) -> ! {
        let root = ThreadId::ROOT.raw();
        loop {
            if let Ok(m) = sys::ipc(0, root, Timeouts::NEVER.pack(), [0; 5]) {
                let _ = sys::ipc(root, 0, Timeouts::NEVER.pack(), [tag(PONG, 1, 0), m.mr[1] + 1, 0, 0, 0]);
            }
        }
    }

    /// `echo` as an L4 server: one `ReplyWait` answers the last caller and waits for
    /// the next.
    extern "C" fn echo_server(_utcb: u64) -> ! {
        let root = ThreadId::ROOT.raw();
        let mut got = sys::ipc(0, root, Timeouts::NEVER.pack(), [0; 5]);
        loop {
            let (to, answer) = match got {
                Ok(m) => (m.from, [tag(PONG, 1, 0), m.mr[1] + 1, 0, 0, 0]),
                Err(_) => (0, [0; 5]),
            };
            got = sys::ipc(to, u64::MAX, Timeouts::NEVER.pack(), answer);
        }
    }

    extern "C" fn silent(_utcb: u64) -> ! {
        // Receives (a pager's fault messages, say) and never answers.
        park()
    }

    extern "C" fn faulter(_utcb: u64) -> ! {
        // Never runs: its first instruction fetch faults to a pager that does not answer.
        park()
    }

    extern "C" fn only_root(_utcb: u64) -> ! {
        // Receives from the root only: a call from anyone else waits.
        loop {
            let _ = sys::ipc(0, ThreadId::ROOT.raw(), Timeouts::NEVER.pack(), [0; 5]);
        }
    }

    extern "C" fn caller_s(_utcb: u64) -> ! {
        // Tell the root it is about to call, so X is deleted only after the call began
        // (its CPU runs nothing else: the call follows within microseconds).
        let root = ThreadId::ROOT.raw();
        let _ = sys::ipc(root, 0, Timeouts::NEVER.pack(), [tag(READ, 0, 0), 0, 0, 0, 0]);
        let r = call(id(0x71), [tag(0x300, 0, 0), 0, 0, 0, 0]);
        let status = match r {
            Ok(_) => 0,
            Err(e) => e.code(),
        };
        let _ =
            sys::ipc(ThreadId::ROOT.raw(), 0, Timeouts::NEVER.pack(), [tag(RESULT, 1, 0), status, 0, 0, 0]);
        park()
    }

    // ---- the scenarios -------------------------------------------------------------

    fn map_unmap(r: &mut Root) {
        let before = r.failed;
        let ok = sys::memory_control(0, 0, VA_P, RW_NEAREST).is_ok();
        r.check(ok, "MemoryControl gives the root its data page");
        // SAFETY: VA_P was just mapped read-write for us.
        unsafe { core::ptr::write_volatile(VA_P as *mut u64, MAGIC) };
        let a = r.spawn(0x61, true, 1, thread_a, 100, r.me);
        let b = r.spawn(0x62, true, 2, thread_b, 100, r.me);
        if r.expect(a, GIVE, "A asks for the page").is_some() {
            let item = Fpage::new(VA_P, 12, Rights::RW)
                .map(|f| TypedItem::Map { send_base: VA_A, fpage: f }.encode());
            if let Ok(Ok([w0, w1])) = item {
                let _ = reply(a, [tag(0, 0, 2), w0, w1, 0, 0]);
            }
        }
        // A reads and reports, maps the page on to B, which reads and reports; each then
        // waits. A's wait and B's report race: take the four messages in any order.
        let (mut read_a, mut read_b, mut wait_a, mut wait_b) = (None, None, false, false);
        while read_a.is_none() || read_b.is_none() || !wait_a || !wait_b {
            match r.next(2_000_000) {
                Got::Msg(m) if label(m.mr[0]) == READ && (m.from == a || m.from == b) => {
                    *(if m.from == a { &mut read_a } else { &mut read_b }) = Some(m.mr[1]);
                    let _ = reply(m.from, [0; 5]);
                }
                Got::Msg(m) if label(m.mr[0]) == WAIT && (m.from == a || m.from == b) => {
                    *(if m.from == a { &mut wait_a } else { &mut wait_b }) = true;
                }
                _ => {
                    r.check(false, "A and B read the page and wait");
                    break;
                }
            }
        }
        r.check(read_a == Some(MAGIC), "A sees the root's data");
        r.check(read_b == Some(MAGIC), "B sees the root's data through A");
        let (wa, wb) = (wait_a.then_some(()), wait_b.then_some(()));
        // Recursive unmap of everything derived from the root's page, not the page
        // itself (no flush-own).
        // SAFETY: MR0 of the root's UTCB (0x20_0000, documented by the kernel's task
        // layout) holds the flexpage Unmap reads.
        unsafe {
            core::ptr::write_volatile(
                0x20_0000 as *mut u64,
                Fpage::new(VA_P, 12, Rights::RWX).map_or(0, |f| f.raw()),
            )
        };
        let u = sys::unmap(1, false);
        r.check(u.is_ok(), "Unmap succeeds");
        r.check(read(VA_P) == MAGIC, "the root keeps its own mapping (no flush)");
        if wa.is_some() {
            let _ = reply(a, [0; 5]);
        }
        if wb.is_some() {
            let _ = reply(b, [0; 5]);
        }
        // Both must fault now (in any order, interleaved with the other's report); the
        // root gives each a fresh page, and each then reads it: zero, not the old data.
        let (mut faulted, mut fresh) = ([false; 2], [None; 2]);
        while fresh.iter().any(Option::is_none) {
            match r.next(2_000_000) {
                Got::Fault { from, addr } => {
                    let i = match (from, addr & !0xFFF) {
                        (f, VA_A) if f == a => 0,
                        (f, VA_B) if f == b => 1,
                        _ => {
                            r.check(false, "only A and B fault, where their page was");
                            println!("l4test:   fault of {from:#x} at {addr:#x}");
                            break;
                        }
                    };
                    faulted[i] = true;
                    let base = [VA_A, VA_B][i];
                    let item = r.fresh_page().map(|va| {
                        Fpage::new(va, 12, Rights::RW)
                            .map(|f| TypedItem::Map { send_base: base, fpage: f }.encode())
                    });
                    if let Some(Ok(Ok([w0, w1]))) = item {
                        let _ = reply(from, [tag(0, 0, 2), w0, w1, 0, 0]);
                    }
                }
                Got::Msg(m) if label(m.mr[0]) == AFTER && (m.from == a || m.from == b) => {
                    fresh[usize::from(m.from == b)] = Some(m.mr[1]);
                }
                _ => {
                    r.check(false, "the faults and reports after the unmap arrive");
                    break;
                }
            }
        }
        r.check(faulted[0], "A faults after the recursive unmap");
        r.check(faulted[1], "B (mapped from A) faults after the recursive unmap");
        r.check(fresh[0] == Some(0), "A's new page is fresh");
        r.check(fresh[1] == Some(0), "B's new page is fresh");
        r.delete(a);
        r.delete(b);
        r.report("map-unmap", before);
    }

    fn unmap_in_use(r: &mut Root) {
        let before = r.failed;
        let ok = sys::memory_control(0, 0, VA_Q, RW_NEAREST).is_ok();
        r.check(ok, "MemoryControl gives the root a second page");
        // SAFETY: VA_Q was just mapped read-write for us.
        unsafe { core::ptr::write_volatile(VA_Q as *mut u64, MAGIC_Q) };
        let c = r.spawn(0x63, true, 3, thread_c, 100, r.me);
        if r.expect(c, GIVE, "C asks for the page").is_some()
            && let Ok(Ok([w0, w1])) =
                Fpage::new(VA_Q, 12, Rights::R).map(|f| TypedItem::Map { send_base: VA_C, fpage: f }.encode())
        {
            let _ = reply(c, [tag(0, 0, 2), w0, w1, 0, 0]);
        }
        // Let C read for a while on its CPU (another node), then take the page away.
        sleep_us(20_000);
        // SAFETY: as in map_unmap.
        unsafe {
            core::ptr::write_volatile(
                0x20_0000 as *mut u64,
                Fpage::new(VA_Q, 12, Rights::RWX).map_or(0, |f| f.raw()),
            )
        };
        let t0 = now_us();
        let u = sys::unmap(1, false);
        r.check(u.is_ok(), "Unmap succeeds");
        let seen = match r.next(1_000_000) {
            Got::Fault { from, addr } => from == c && addr & !0xFFF == VA_C,
            _ => false,
        };
        let us = now_us() - t0;
        r.check(seen, "C, reading the page on another node's CPU, faults right after the unmap");
        println!("{}", report::line!("l4test-unmap-in-use", "fault_after_us" => us));
        r.delete(c);
        r.report("unmap-in-use", before);
    }

    fn preemption(r: &mut Root) {
        let before = r.failed;
        let low = r.spawn(0x64, false, 1, spinner, 10, r.me);
        let high = r.spawn(0x65, false, 1, echo, 250, r.me);
        // (Up to 2 s: on a loaded host the other vCPU may get no host time for a while;
        // a spinner that never runs still fails.)
        for _ in 0..200 {
            if SPIN.load(Ordering::Relaxed) > 0 {
                break;
            }
            sleep_us(10_000);
        }
        r.check(SPIN.load(Ordering::Relaxed) > 0, "the low-priority spinner runs");
        // 20 pings. The property checked: the woken high-priority thread runs long before
        // the spinner's timeslice (10 ticks, 100 ms) would end; a kernel without priority
        // preemption fails this by far. The median is judged (one round delayed by the
        // host must not decide), against 50 ms. How fast the wakeup SGI makes it is a
        // measurement, reported (`median_answer_us`), not asserted: under QEMU on a loaded
        // host it varies from tens of microseconds to milliseconds.
        let mut times = [0u64; 20];
        for (i, slot) in times.iter_mut().enumerate() {
            let i = i as u64;
            let t0 = now_us();
            let _ = sys::ipc(high, 0, Timeouts::NEVER.pack(), [tag(0x301, 1, 0), i, 0, 0, 0]);
            let got = sys::ipc(
                0,
                high,
                Timeouts { send: Timeout::Never, receive: Timeout::Micros(1_000_000) }.pack(),
                [0; 5],
            );
            *slot = now_us() - t0;
            r.check(matches!(got, Ok(m) if m.mr[1] == i + 1), "the high-priority thread answers");
        }
        times.sort_unstable();
        let (median, worst) = (times[times.len() / 2], times[times.len() - 1]);
        r.check(median < 50_000, "the high-priority thread preempts the spinner before its slice ends");
        println!(
            "{}",
            report::line!("l4test-preemption", "median_answer_us" => median, "worst_answer_us" => worst)
        );
        let low2 = r.spawn(0x66, false, 1, spinner2, 10, r.me);
        let (a0, b0) = (SPIN.load(Ordering::Relaxed), SPIN2.load(Ordering::Relaxed));
        // Both must move; how soon is the host's to say (a loaded host may not run
        // CPU 1's vCPU for a while): up to 3 s, in steps of 100 ms.
        let both = || SPIN.load(Ordering::Relaxed) > a0 && SPIN2.load(Ordering::Relaxed) > b0;
        for _ in 0..30 {
            if both() {
                break;
            }
            sleep_us(100_000);
        }
        r.check(both(), "two equal-priority spinners both run (round robin)");
        for t in [low, high, low2] {
            r.delete(t);
        }
        r.report("preemption", before);
    }

    fn dead_pager(r: &mut Root) {
        let before = r.failed;
        let pager = r.spawn(0x67, false, 1, silent, 100, r.me);
        let t = r.spawn(0x68, true, 1, faulter, 100, pager);
        sleep_us(20_000);
        r.delete(pager);
        // Halted whichever came first on a loaded host (its fault, waiting for the
        // pager, or the pager's death, which its fault then meets): wait for it, up
        // to 3 s, instead of assuming 10 ms is enough for CPU 1 to run it.
        let halted = || sys::exchange_registers(t, 0, 0, 0, 0).is_ok_and(|old| old[3] == 2);
        for _ in 0..300 {
            if halted() {
                break;
            }
            sleep_us(10_000);
        }
        r.check(halted(), "a thread whose pager died is halted");
        let sent = sys::ipc(pager, 0, Timeouts::ZERO.pack(), [tag(0x302, 0, 0), 0, 0, 0, 0]);
        r.check(sent.err() == Some(Error::NonExistingPartner), "IPC to a deleted thread: NonExistingPartner");
        r.delete(t);
        r.report("dead-pager", before);
    }

    fn dead_partner(r: &mut Root) {
        let before = r.failed;
        let x = r.spawn(0x71, false, 2, only_root, 100, r.me);
        let s = r.spawn(0x72, false, 1, caller_s, 100, r.me);
        r.expect(s, READ, "the caller says it is about to call");
        sleep_us(20_000);
        r.delete(x);
        if let Some(m) = r.expect(s, RESULT, "the caller reports its result") {
            r.check(
                m.mr[1] == Error::Cancelled.code(),
                "a call whose partner is deleted ends with Cancelled",
            );
        }
        r.delete(s);
        r.report("dead-partner", before);
    }

    fn fp_state(r: &mut Root) {
        let before = r.failed;
        let f1 = r.spawn(0x74, false, 1, fp_thread, 100, r.me);
        let f2 = r.spawn(0x75, false, 1, fp_thread, 100, r.me);
        // Seeds far apart, so the two threads' registers never look alike.
        let _ = sys::ipc(f1, 0, Timeouts::NEVER.pack(), [tag(0x305, 1, 0), 0x1000, 0, 0, 0]);
        let _ = sys::ipc(f2, 0, Timeouts::NEVER.pack(), [tag(0x305, 1, 0), 0x9000_0000, 0, 0, 0]);
        let (mut rounds, mut results) = (0, [None, None]);
        while results.iter().any(Option::is_none) {
            match r.next(2_000_000) {
                Got::Msg(m) if label(m.mr[0]) == 0x304 && (m.from == f1 || m.from == f2) => {
                    rounds += 1;
                    // Midway, move f1 to a CPU of the other node (it waits for this
                    // reply, so it is not running): its registers must follow it.
                    if rounds == 40 && m.from == f1 {
                        let moved = sys::move_to_cpu(f1, 2);
                        r.check(moved.is_ok(), "Schedule moves an FP thread to another CPU");
                    }
                    let _ = reply(m.from, [0; 5]);
                }
                Got::Msg(m) if label(m.mr[0]) == RESULT && (m.from == f1 || m.from == f2) => {
                    results[usize::from(m.from == f2)] = Some(m.mr[1]);
                }
                _ => {
                    r.check(false, "the FP threads' calls arrive");
                    break;
                }
            }
        }
        r.check(results[0] == Some(50), "thread 1 kept all 32 vector registers over 50 switches and a move");
        r.check(results[1] == Some(50), "thread 2 kept all 32 vector registers over 50 switches");
        for t in [f1, f2] {
            r.delete(t);
        }
        r.report("fp-state", before);
    }

    fn exception(r: &mut Root) {
        let before = r.failed;
        let t = r.spawn(0x76, false, 1, undefined, 100, r.me);
        match r.next(2_000_000) {
            Got::Msg(m) if m.from == t && label(m.mr[0]) == abi::fault::EXCEPTION_LABEL => {
                let (esr, ip, sp) = (m.mr[1], m.mr[3], m.mr[4]);
                r.check(esr >> 26 == 0, "an undefined instruction arrives as an exception message (EC 0)");
                // Resume past the 4-byte `udf`, on the same stack.
                let _ = reply(t, [tag(0, 2, 0), ip + 4, sp, 0, 0]);
            }
            _ => {
                r.check(false, "the exception message arrives");
            }
        }
        if let Some(m) = r.expect(t, RESULT, "the thread goes on after its handler's reply") {
            r.check(m.mr[1] == 0x600d, "the handler's new IP took effect");
        }
        r.delete(t);
        r.report("exception", before);
    }

    fn grant(r: &mut Root) {
        let before = r.failed;
        let va = VA_P + 0x2_0000;
        let ok = sys::memory_control(0, 0, va, RW_NEAREST).is_ok();
        r.check(ok, "MemoryControl gives the root a page to grant");
        // SAFETY: `va` was just mapped read-write for us.
        unsafe { core::ptr::write_volatile(va as *mut u64, MAGIC ^ 0xff) };
        let g = r.spawn(0x77, true, 2, grantee, 100, r.me);
        if r.expect(g, GIVE, "the grantee asks").is_some()
            && let Ok(Ok([w0, w1])) = Fpage::new(va, 12, Rights::RW)
                .map(|f| TypedItem::Grant { send_base: VA_A, fpage: f }.encode())
        {
            let _ = reply(g, [tag(0, 0, 2), w0, w1, 0, 0]);
        }
        if let Some(m) = r.expect(g, READ, "the grantee reads the granted page") {
            r.check(m.mr[1] == MAGIC ^ 0xff, "the granted page carries the root's data");
        }
        // A grant moves the mapping: the root no longer has it.
        let here = sys::introspect([1, 0, va, 0]).map(|x| x[3] != 0).unwrap_or(true);
        r.check(!here, "after a grant the page is gone from the granter's space");
        r.delete(g);
        r.report("grant", before);
    }

    /// quota: a map the receiver's kernel-memory quota cannot pay for fails with
    /// OutOfMemory on both sides and maps nothing; a small map afterwards works.
    fn quota(r: &mut Root) {
        let before = r.failed;
        // One page in each of 2100 spans of 2 MiB: mapping them all needs 2100
        // last-level tables in the receiver (two frames each, 16.4 MiB), over the 16 MiB
        // quota of a space ThreadControl makes. (The root's own quota is unlimited.)
        const SPANS: u64 = 2100;
        let mut got = 0;
        while got < SPANS && sys::memory_control(0, 0, VA_QUOTA + got * 0x20_0000, RW_NEAREST).is_ok() {
            got += 1;
        }
        r.check(got == SPANS, "MemoryControl gives the root a page in each span");
        // SAFETY: mapped read-write for us just now.
        unsafe { core::ptr::write_volatile(VA_QUOTA as *mut u64, MAGIC ^ 0x51) };
        let q = r.spawn(0x79, true, 2, quota_taker, 100, r.me);
        if r.expect(q, GIVE, "the receiver asks").is_some()
            && let Ok(Ok([w0, w1])) = Fpage::new(VA_QUOTA, 33, Rights::RW)
                .map(|f| TypedItem::Map { send_base: VA_QUOTA, fpage: f }.encode())
        {
            let sent = reply(q, [tag(0, 0, 2), w0, w1, 0, 0]);
            r.check(sent == Err(Error::OutOfMemory), "the sender learns the map is over the quota");
        }
        if let Some(m) = r.expect(q, RESULT, "the receiver reports its side") {
            r.check(m.mr[1] == Error::OutOfMemory as u64, "the receiver learns it too");
        }
        // Nothing was mapped: the receiver's read of the first page faults to us.
        match r.next(2_000_000) {
            Got::Fault { from, addr } if from == q && addr == VA_QUOTA => {
                if let Ok(Ok([w0, w1])) = Fpage::new(VA_QUOTA, 12, Rights::RW)
                    .map(|f| TypedItem::Map { send_base: VA_QUOTA, fpage: f }.encode())
                {
                    let sent = reply(q, [tag(0, 0, 2), w0, w1, 0, 0]);
                    r.check(sent.is_ok(), "a map within the quota still works");
                }
            }
            _ => {
                r.check(false, "the receiver's read faults: nothing was mapped");
            }
        }
        if let Some(m) = r.expect(q, READ, "the receiver reads the page") {
            r.check(m.mr[1] == MAGIC ^ 0x51, "the page carries the root's data");
        }
        r.delete(q);
        r.report("quota", before);
    }

    /// map-back: a page mapped back onto the mapping it derives from is left as it is,
    /// and the message still arrives (replacing it would revoke the source).
    fn map_back(r: &mut Root) {
        let before = r.failed;
        let va = VA_P + 0x3_0000;
        let ok = sys::memory_control(0, 0, va, RW_NEAREST).is_ok();
        r.check(ok, "MemoryControl gives the root a page");
        // SAFETY: `va` was just mapped read-write for us.
        unsafe { core::ptr::write_volatile(va as *mut u64, MAGIC ^ 0xb0) };
        set_root_window(Fpage::whole_space(Rights::RWX).raw());
        let m = r.spawn(0x7a, true, 2, mapper_back, 100, r.me);
        if r.expect(m, GIVE, "the thread asks").is_some()
            && let Ok(Ok([w0, w1])) =
                Fpage::new(va, 12, Rights::RW).map(|f| TypedItem::Map { send_base: VA_A, fpage: f }.encode())
        {
            let _ = reply(m, [tag(0, 0, 2), w0, w1, 0, 0]);
        }
        r.expect(m, BACK, "the map back arrives, not refused");
        if let Some(m) = r.expect(m, RESULT, "the thread reports") {
            r.check(m.mr[1] == 0, "its send succeeded");
            r.check(m.mr[2] == MAGIC ^ 0xb0, "it still sees the page");
        }
        r.check(read(va) == MAGIC ^ 0xb0, "the root keeps its page");
        set_root_window(0);
        r.delete(m);
        r.report("map-back", before);
    }

    /// Sets BR0, the receive window, of the root's UTCB.
    fn set_root_window(raw: u64) {
        // SAFETY: the root's UTCB is at 0x20_0000 (the kernel's task layout), mapped
        // read-write; BR0 is at its documented offset.
        unsafe { core::ptr::write_volatile((0x20_0000 + abi::utcb::BR_OFFSET) as *mut u64, raw) };
    }

    /// Polls `done` every 10 ms for at most 500 ms.
    fn until(done: impl Fn() -> bool) {
        for _ in 0..50 {
            if done() {
                return;
            }
            sleep_us(10_000);
        }
    }

    /// move-running: `Schedule` moves a thread while it runs on another CPU (of the
    /// other node): it goes on running there, and its old CPU is free.
    fn move_running(r: &mut Root) {
        let before = r.failed;
        let m = r.spawn(0x7c, false, 1, mover, 10, r.me);
        // (Each wait polls for up to half a second: the vCPUs are host threads, and a
        // loaded host may not run one for tens of milliseconds.)
        until(|| MOVER_ROUNDS.load(Ordering::Relaxed) > 0);
        let (rounds, cpu) = (MOVER_ROUNDS.load(Ordering::Relaxed), MOVER_CPU.load(Ordering::Relaxed));
        r.check(rounds > 0 && cpu == 1, "the mover runs on CPU 1");
        let moved = sys::move_to_cpu(m, 3);
        r.check(moved == Ok(1), "Schedule moves a running thread (old CPU 1)");
        until(|| MOVER_CPU.load(Ordering::Relaxed) == 3);
        r.check(
            MOVER_CPU.load(Ordering::Relaxed) == 3,
            "the mover finds itself on CPU 3 (query and UTCB agree)",
        );
        let asked = sys::schedule(m, None, None, None);
        r.check(asked.is_ok_and(|(_, cpu)| cpu == 3), "Schedule reports CPU 3");
        let r0 = MOVER_ROUNDS.load(Ordering::Relaxed);
        until(|| MOVER_ROUNDS.load(Ordering::Relaxed) > r0);
        r.check(MOVER_ROUNDS.load(Ordering::Relaxed) > r0, "the mover goes on running there");
        // CPU 1 is free: a thread of lower priority than the mover runs there at once.
        let e = r.spawn(0x7d, false, 1, echo, 5, r.me);
        let answered = sys::ipc(
            e,
            e,
            Timeouts { send: Timeout::Never, receive: Timeout::Micros(500_000) }.pack(),
            [tag(0x303, 1, 0), 41, 0, 0, 0],
        );
        r.check(matches!(answered, Ok(a) if a.mr[1] == 42), "a low-priority thread runs on the old CPU");
        r.delete(e);
        r.delete(m);
        r.report("move-running", before);
    }

    fn same_cpu(r: &mut Root) {
        let before = r.failed;
        // The L4 client/server pair: `Call` here, `ReplyWait` there (the shapes the
        // kernel's IPC fast path takes).
        let e = r.spawn(0x78, false, 0, echo_server, 100, r.me);
        let mut ok = 0;
        for i in 0..100 {
            if matches!(sys::ipc(e, e, Timeouts::NEVER.pack(), [tag(0x306, 1, 0), i, 0, 0, 0]), Ok(m) if m.mr[1] == i + 1)
            {
                ok += 1;
            }
        }
        r.check(ok == 100, "100 round trips with a thread on the root's own CPU");
        r.delete(e);
        r.report("same-cpu", before);
    }

    fn same_cpu_pager(r: &mut Root) {
        let before = r.failed;
        let t = r.spawn(0x7e, true, 0, toucher, 100, r.me);
        if let Some(m) = r.expect(t, TOUCHED, "the toucher reports") {
            r.check(m.mr[1] == (1..=TOUCH_PAGES).sum::<u64>(), "each fresh page holds what was written");
            let _ = reply(t, [0; 5]);
        }
        r.delete(t);
        r.report("same-cpu-pager", before);
    }

    fn notify(r: &mut Root) {
        let before = r.failed;
        // A thread on node 1 (CPU 2); the root posts from node 0.
        let d = r.spawn(0x6a, false, 2, deaf, 100, r.me);
        let post = |word: u64| sys::notify(d, word);
        let queued = (0..abi::syscall::NOTIFY_QUEUE as u64).all(|i| post(i).is_ok());
        r.check(queued, "Notify queues 16 words for a thread that does not receive");
        r.check(post(99) == Err(Error::QueueFull), "the 17th is refused: QueueFull");
        let go = sys::ipc(d, 0, Timeouts::NEVER.pack(), [tag(GO, 0, 0), 0, 0, 0, 0]);
        r.check(go.is_ok(), "the go message reaches the notified thread");
        if let Some(m) = r.expect(d, RESULT, "the notified thread reports") {
            r.check(m.mr[1] == (0..16).sum::<u64>(), "it received the 16 words");
            r.check(m.mr[2] == 1, "in the order they were posted");
            r.check(m.mr[3] == 1, "each from the root");
            let _ = reply(d, [0; 5]);
        }
        // Now it waits openly (or soon will): this word is delivered at once, on
        // node 1, by an SGI (or at its receive, if it is not there yet).
        r.check(post(1000).is_ok(), "Notify of a thread waiting for it");
        if let Some(m) = r.expect(d, RESULT, "the notified thread reports again") {
            r.check(m.mr[1] == 1, "it received the word posted while it waited");
            let _ = reply(d, [0; 5]);
        }
        r.delete(d);
        r.report("notify", before);
    }

    fn move_space(r: &mut Root) {
        let before = r.failed;
        // The migrant starts in a space of its own on node 0 (CPU 1).
        let m = r.spawn(0x6c, true, 1, migrant, 100, r.me);
        if r.expect(m, MOVE_ME, "the migrant asks to be moved").is_none() {
            r.delete(m);
            r.report("move-space", before);
            return;
        }
        // It waits for the answer to its call: move it into a new space (space = the
        // thread itself) homed on the node of CPU 2 (node 1), onto that CPU. Its old
        // space, left without threads, is deleted.
        let moved = sys::thread_control(m, m, 0, 0, 0, 2);
        r.check(moved.is_ok(), "ThreadControl moves a blocked thread into a new space on another node");
        let utcb = sys::introspect(
            abi::introspect::Request::Translate { space: ThreadId::from_raw(m), va: OWN_UTCB }.encode(),
        );
        let node = utcb.ok().and_then(abi::introspect::Translation::from_regs).map(|t| t.node);
        r.check(node == Some(1), "its UTCB is now on node 1, mapped in the new space");
        let kmem =
            sys::introspect(abi::introspect::Request::KmemReport { space: ThreadId::from_raw(m) }.encode());
        let kmem = kmem.map(abi::introspect::KmemReport::from_regs);
        r.check(
            kmem.is_ok_and(|k| k.home_node == 1 && k.threads == 1 && k.frames_remote == 0),
            "the new space: home node 1, its one thread, all kernel memory on its node",
        );
        // Its stack pages (one or two so far) follow it: the same frames, mapped in the
        // answer (the NUMA runtime's job in a real task: copy or share them).
        let mut items = [0u64; 4];
        let mut n = 0;
        for &(from, page, va) in r.stacks.iter().rev() {
            if from == m
                && n < 2
                && let Ok(Ok([w0, w1])) = Fpage::new(va, 12, Rights::RW)
                    .map(|f| TypedItem::Map { send_base: page, fpage: f }.encode())
            {
                items[2 * n] = w0;
                items[2 * n + 1] = w1;
                n += 1;
            }
        }
        r.check(n >= 1, "the migrant's stack page is known");
        let _ = reply(m, [tag(0, 0, 2 * n as u8), items[0], items[1], items[2], items[3]]);
        if let Some(msg) = r.expect(m, RESULT, "the migrant reports from its new space") {
            r.check(msg.mr[1] == 2 && msg.mr[2] == 1, "it runs on CPU 2, node 1");
            r.check(msg.mr[3] == 2, "its UTCB's CPU word says 2");
            r.check(msg.mr[4] == m, "its UTCB still holds its id");
            let _ = reply(m, [0; 5]);
        }
        r.delete(m);
        r.report("move-space", before);
    }

    fn cross_cpu(r: &mut Root) {
        let before = r.failed;
        let e = r.spawn(0x73, false, 1, echo, 100, r.me);
        let mut ok = 0;
        for i in 0..100 {
            let _ = sys::ipc(e, 0, Timeouts::NEVER.pack(), [tag(0x303, 1, 0), i, 0, 0, 0]);
            if matches!(sys::ipc(0, e, Timeouts::NEVER.pack(), [0; 5]), Ok(m) if m.mr[1] == i + 1) {
                ok += 1;
            }
        }
        r.check(ok == 100, "100 round trips with a thread on another CPU of the node");
        r.delete(e);
        r.report("cross-cpu", before);
    }

    /// The test driver: see the crate docs.
    pub fn l4test(_utcb: rt::UtcbAddr) -> ! {
        let mut r = Root { me: ThreadId::ROOT.raw(), failed: 0, checks: 0, fresh: 0, stacks: [(0, 0, 0); 8] };
        let kip = sys::kip();
        if kip.cpu_count() < 4 || kip.node_count() < 2 {
            println!(
                "l4test: needs 2 nodes of 2 CPUs (has {} CPUs, {} nodes)",
                kip.cpu_count(),
                kip.node_count()
            );
            r.failed += 1;
        } else {
            map_unmap(&mut r);
            unmap_in_use(&mut r);
            preemption(&mut r);
            dead_pager(&mut r);
            dead_partner(&mut r);
            fp_state(&mut r);
            exception(&mut r);
            grant(&mut r);
            quota(&mut r);
            map_back(&mut r);
            move_running(&mut r);
            same_cpu(&mut r);
            same_cpu_pager(&mut r);
            cross_cpu(&mut r);
            notify(&mut r);
            move_space(&mut r);
        }
        // The scenarios' IPCs, page faults and map replies were the common cases the
        // kernel's fast paths take: the boot test checks that each one ran.
        match sys::introspect(abi::introspect::Request::FastPaths.encode()) {
            Ok(x) => {
                let f = abi::introspect::FastPaths::from_regs(x);
                println!(
                    "{}",
                    report::line!("fastpath", "ipc" => f.ipc, "map" => f.map_replies, "fault" => f.faults)
                );
            }
            Err(e) => {
                println!("l4test: Introspect FastPaths refused: {e}");
                r.check(false, "Introspect FastPaths answers");
            }
        }
        println!("{}", report::line!("l4test", "checks" => r.checks, "failed" => r.failed));
        let e = sys::power_off(r.failed);
        println!("l4test: SystemControl refused: {e}");
        loop {
            core::hint::spin_loop();
        }
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
use test::l4test;

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn l4test(_utcb: rt::UtcbAddr) -> ! {
    unreachable!("the host build only type-checks the entry")
}
