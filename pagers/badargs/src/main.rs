// SPDX-License-Identifier: MIT OR Apache-2.0
//! `badargs`: every documented error of every system call, provoked on purpose.
//!
//! The kernel promises that nothing a user program passes can crash, hang or corrupt
//! it, and that every bad argument gets the error the ABI (`kernel/abi/src/syscall.rs`)
//! documents. This program holds the kernel to that, table by table: for each system
//! call a list of (case, arguments, expected status), covering every error the ABI
//! names for the call that the kernel implements and a user program can provoke, plus
//! one good call per syscall as a control (so a kernel that fails everything fails).
//!
//! It runs in both roles (see `role.rs`):
//! - **as the root task** (how the boot test `badargs` runs it) it has privilege, so
//!   it also checks the privileged calls' own errors, creates helper threads for the
//!   cases that need a partner (an IPC receiver for bad typed items, a thread that is
//!   not waiting for `SendTimeout`, a spinner so that a finite timeout can expire),
//!   and starts a child in a new, unprivileged space that makes the privileged calls
//!   and reports the statuses back by IPC (it pages the child as `pagers/root` pages
//!   its worker); the child is in a group with a peer space, beside a stranger's
//!   group and a privileged space of its own group, and tries every move and
//!   notification a group allows and every one it refuses (`GROUP_CASES`);
//! - **as an unprivileged child** it makes the privileged calls itself and skips the
//!   cases that need privilege (`skipped=` in the report).
//!
//! Output: one `badargs: FAIL <case>: got X want Y` line per failed case, then
//! `report: badargs cases=N failed=M known-failures=K skipped=S`; it ends with status
//! M. Kernel bugs this test found are listed in `KNOWN` with the reason: such a case
//! prints `badargs: KNOWN <case>: got X want Y (why)`, counts in `known-failures=`,
//! and not in `failed=`, so the suite stays green and honest. A known case that starts
//! passing prints `badargs: FIXED <case>`: remove it from the list.
//!
//! Not covered, because a user program cannot provoke it cheaply or at all:
//! `OutOfMemory` (needs the machine's memory exhausted; `l4test` drives a space over
//! its quota instead), `Busy` from `ExchangeRegisters` (a race with another CPU),
//! `Cancelled` by a restart.
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

rt::entry!(badargs);

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod role;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod user {
    use crate::role::{Role, svc};
    use abi::Error;
    use abi::fpage::{Fpage, Rights};
    use abi::message::{Tag, TypedItem};
    use abi::syscall::{ExregsControl, KEEP, Syscall};
    use abi::thread::ThreadId;
    use abi::timeout::{Timeout, Timeouts};
    use core::arch::asm;
    use core::fmt;
    use rt::println;

    /// Kernel bugs found by this test: (case, what is wrong). Each is reported as a
    /// known failure, not a failure; see the crate docs.
    ///
    /// Empty today: every kernel bug this test found (14, listed in the project's issue
    /// notes) has been fixed, and those cases now pass as ordinary ones.
    const KNOWN: &[(&str, &str)] = &[];

    /// What a case must return.
    #[derive(Clone, Copy)]
    enum Want {
        Ok,
        Err(Error),
    }

    impl Want {
        fn status(self) -> u64 {
            match self {
                Want::Ok => 0,
                Want::Err(e) => e.code(),
            }
        }
    }

    /// A status word, by name.
    struct Status(u64);

    impl fmt::Display for Status {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match abi::error::check(self.0) {
                Ok(Ok(())) => f.write_str("Ok"),
                Ok(Err(e)) => f.write_str(e.name()),
                Err(u) => write!(f, "{u}"),
            }
        }
    }

    impl fmt::Display for Want {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            Status(self.status()).fmt(f)
        }
    }

    /// The tally.
    #[derive(Default)]
    struct Tally {
        cases: u64,
        failed: u64,
        known: u64,
        skipped: u64,
    }

    impl Tally {
        /// Records case `name`: `pass`, else `got` and `want` say how it failed.
        fn verdict(&mut self, name: &str, pass: bool, got: &dyn fmt::Display, want: &dyn fmt::Display) {
            self.cases += 1;
            let known = KNOWN.iter().find(|(n, _)| *n == name).map(|(_, why)| *why);
            match (pass, known) {
                (true, None) => {}
                (true, Some(_)) => println!("badargs: FIXED {name}: passes now; remove it from KNOWN"),
                (false, None) => {
                    self.failed += 1;
                    println!("badargs: FAIL {name}: got {got} want {want}");
                }
                (false, Some(why)) => {
                    self.known += 1;
                    println!("badargs: KNOWN {name}: got {got} want {want} ({why})");
                }
            }
        }

        /// Records a case whose status must be `want`.
        fn status(&mut self, name: &str, got: u64, want: Want) {
            self.verdict(name, got == want.status(), &Status(got), &want);
        }

        /// Runs one row of a table: syscall `call` with `args`.
        fn row(&mut self, call: Syscall, (name, args, want): (&str, [u64; 8], Want)) {
            let r = svc(call.number(), args);
            self.status(name, r[0], want);
        }
    }

    /// `Err(e)` for the tables.
    const fn err(e: Error) -> Want {
        Want::Err(e)
    }

    fn tag(label: u16, u: u8, t: u8) -> u64 {
        Tag::new(label, u, t).map_or(0, |t| t.raw())
    }

    fn id(number: u64, version: u16) -> u64 {
        (number << 16) | u64::from(version)
    }

    /// The same call as [`svc`] through `svc #1`: the kernel must refuse the immediate.
    fn svc_imm1(number: u64) -> u64 {
        let mut x0 = 0u64;
        // SAFETY: as for `role::svc`: the kernel reads x0..x8 and writes x0..x7 only.
        unsafe {
            asm!(
                "svc #1",
                inout("x0") x0, inout("x1") 0u64 => _, inout("x2") 0u64 => _, inout("x3") 0u64 => _,
                inout("x4") 0u64 => _, inout("x5") 0u64 => _, inout("x6") 0u64 => _, inout("x7") 0u64 => _,
                inout("x8") number => _,
                options(nostack)
            );
        }
        x0
    }

    /// The same through `svc #0xffff`, the largest immediate.
    fn svc_imm_ffff(number: u64) -> u64 {
        let mut x0 = 0u64;
        // SAFETY: as for `svc_imm1`.
        unsafe {
            asm!(
                "svc #0xffff",
                inout("x0") x0, inout("x1") 0u64 => _, inout("x2") 0u64 => _, inout("x3") 0u64 => _,
                inout("x4") 0u64 => _, inout("x5") 0u64 => _, inout("x6") 0u64 => _, inout("x7") 0u64 => _,
                inout("x8") number => _,
                options(nostack)
            );
        }
        x0
    }

    /// Thread ids that name no thread, in every way an id can be bad.
    struct BadIds {
        /// Version 0 (with my number): malformed.
        version0: u64,
        /// A number in range whose slot is empty.
        unused: u64,
        /// A number past the kernel's thread table.
        beyond: u64,
        /// The largest number an id can hold.
        huge: u64,
        /// My number with the wrong version: stale.
        stale: u64,
    }

    impl BadIds {
        fn new(me: u64) -> BadIds {
            let (number, version) = (me >> 16, me as u16);
            BadIds {
                version0: me & !0xFFFF,
                unused: id(0x3FF, 1),
                beyond: id(1024, 1),
                huge: id(abi::thread::MAX_NUMBER, 1),
                stale: id(number, version.wrapping_add(1).max(1)),
            }
        }
    }

    // The root role's threads and the addresses it uses.
    const HELPER: u64 = 0x40;
    const IDLE: u64 = 0x41;
    const SPINNER: u64 = 0x42;
    const CHILD: u64 = 0x43;
    const HELPER_UTCB: u64 = 0x21_0000;
    const IDLE_UTCB: u64 = 0x22_0000;
    const SPINNER_UTCB: u64 = 0x23_0000;
    /// The root task's own UTCB (`kernel/src/l4/task.rs`), mapped.
    const ROOT_UTCB: u64 = 0x20_0000;
    /// A child's UTCB and stack top in its own space.
    const CHILD_UTCB: u64 = 0x20_0000;
    const CHILD_STACK_TOP: u64 = 0x38_0000;
    /// Where the root role maps memory for itself.
    const SCRATCH: u64 = 0x20_0000_0000;
    /// A user address that is never mapped (user.ld's null guard).
    const UNMAPPED: u64 = 0x1000;
    /// A kernel address (the upper half).
    const KERNEL_VA: u64 = 0xFFFF_0000_0010_0000;
    /// `MemoryControl` flags: read-write, take the nearest node if this one is empty.
    const RW_NEAREST: u64 = abi::memory_control::MemoryControlFlags::RW_NEAREST.raw();
    const RW: u64 = 0b110 << 4;
    /// Labels of the messages between the root role and its threads.
    const REPORT: u16 = 0x200;
    const RESULTS: u16 = 0x201;
    /// The helper's first report.
    const READY: u64 = 0xFFFF;
    /// The timeout of the finite-timeout case, and the counter ticks it must take.
    const TIMEOUT_US: u32 = 20_000;

    unsafe extern "C" {
        static __program_start: u8;
        static __program_end: u8;
    }

    /// The test: see the crate docs.
    pub fn badargs(utcb: rt::UtcbAddr) -> ! {
        let role = Role::detect(utcb);
        let kip = rt::sys::kip();
        let (cpus, nodes) = (kip.cpu_count() as u64, kip.node_count() as u64);
        println!(
            "badargs: thread {:#x}, {} role, {cpus} CPUs, {nodes} nodes",
            role.me,
            if role.privileged { "privileged (root)" } else { "unprivileged (child)" }
        );
        let mut t = Tally::default();
        let me = role.me;
        let bad = BadIds::new(me);
        let zero = Timeouts::ZERO.pack();
        let buf = b"badargs\n";
        let buf_at = buf.as_ptr() as u64;

        // --- Every call: the syscall number and the svc immediate. -------------------
        use Error::*;
        let unknown = [
            ("x8 = 15, the first unknown number", 15),
            ("x8 = 0x1_0000_0000", 1 << 32),
            ("x8 = u64::MAX", u64::MAX),
        ];
        for (name, number) in unknown {
            let r = svc(number, [0; 8]);
            t.status(name, r[0], err(UnknownSyscall));
        }
        t.status("svc #1 (x8 = SystemClock)", svc_imm1(Syscall::SystemClock.number()), err(UnknownSyscall));
        t.status(
            "svc #0xffff (x8 = SystemClock)",
            svc_imm_ffff(Syscall::SystemClock.number()),
            err(UnknownSyscall),
        );

        // --- Ipc, the cases that need no partner. -------------------------------------
        let ipc = |to: u64, from: u64, x2: u64, mr0: u64| [to, from, x2, mr0, 0, 0, 0, 0];
        let table = [
            ("Ipc: no send, no receive", ipc(0, 0, zero, 0), Want::Ok),
            ("Ipc: tag bits 63..32 set", ipc(0, 0, zero, 1 << 32), err(InvalidArgument)),
            ("Ipc: tag flag bit 12 set", ipc(0, 0, zero, 1 << 12), err(InvalidArgument)),
            ("Ipc: tag t odd", ipc(0, 0, zero, 1 << 6), err(InvalidArgument)),
            ("Ipc: tag u+t > 63", ipc(0, 0, zero, (2 << 6) | 63), err(MessageOverflow)),
            // The ABI lists InvalidThread and NonExistingPartner for Ipc; the kernel
            // answers NonExistingPartner for any destination it cannot resolve.
            ("Ipc: send to a version-0 id", ipc(bad.version0, 0, zero, 0), err(NonExistingPartner)),
            ("Ipc: send to ANY", ipc(u64::MAX, 0, zero, 0), err(NonExistingPartner)),
            ("Ipc: send to an unused thread", ipc(bad.unused, 0, zero, 0), err(NonExistingPartner)),
            ("Ipc: send past the thread table", ipc(bad.beyond, 0, zero, 0), err(NonExistingPartner)),
            ("Ipc: send to the largest number", ipc(bad.huge, 0, zero, 0), err(NonExistingPartner)),
            ("Ipc: send to a stale id", ipc(bad.stale, 0, zero, 0), err(NonExistingPartner)),
            ("Ipc: send to myself", ipc(me, 0, zero, 0), err(NonExistingPartner)),
            ("Ipc: call myself", ipc(me, me, zero, 0), err(NonExistingPartner)),
            ("Ipc: receive from an unused thread", ipc(0, bad.unused, zero, 0), err(NonExistingPartner)),
            ("Ipc: receive from a version-0 id", ipc(0, bad.version0, zero, 0), err(NonExistingPartner)),
            ("Ipc: receive from a stale id", ipc(0, bad.stale, zero, 0), err(NonExistingPartner)),
            ("Ipc: zero-timeout receive from anyone", ipc(0, u64::MAX, zero, 0), err(ReceiveTimeout)),
            ("Ipc: zero-timeout receive from myself", ipc(0, me, zero, 0), err(ReceiveTimeout)),
        ];
        for row in table {
            t.row(Syscall::Ipc, row);
        }

        // --- Schedule. -----------------------------------------------------------------
        let sched = |dest: u64, prio: u64, cpu: u64| [dest, prio, cpu, 0, 0, 0, 0, 0];
        let table = [
            ("Schedule: keep everything of myself", sched(me, KEEP, KEEP), Want::Ok),
            ("Schedule: dest NIL", sched(0, KEEP, KEEP), err(InvalidThread)),
            ("Schedule: dest ANY", sched(u64::MAX, KEEP, KEEP), err(InvalidThread)),
            ("Schedule: dest version 0", sched(bad.version0, KEEP, KEEP), err(InvalidThread)),
            ("Schedule: dest unused", sched(bad.unused, KEEP, KEEP), err(InvalidThread)),
            ("Schedule: dest past the table", sched(bad.beyond, KEEP, KEEP), err(InvalidThread)),
            ("Schedule: dest stale", sched(bad.stale, KEEP, KEEP), err(InvalidThread)),
            ("Schedule: priority 256", sched(me, 256, KEEP), err(InvalidArgument)),
            ("Schedule: priority u64::MAX - 1", sched(me, u64::MAX - 1, KEEP), err(InvalidArgument)),
            ("Schedule: CPU = CPU count", sched(me, KEEP, cpus), err(InvalidCpu)),
            ("Schedule: CPU 1 << 32", sched(me, KEEP, 1 << 32), err(InvalidCpu)),
        ];
        for row in table {
            t.row(Syscall::Schedule, row);
        }

        // --- ExchangeRegisters (on myself: reads, or refused before anything changes). -
        let exregs =
            |dest: u64, control: u64, pager: u64, handler: u64| [dest, control, 0, 0, pager, handler, 0, 0];
        let (set_pager, set_handler) =
            (ExregsControl::SET_PAGER.raw(), ExregsControl::SET_EXCEPTION_HANDLER.raw());
        let table = [
            ("ExchangeRegisters: read myself", exregs(me, 0, 0, 0), Want::Ok),
            ("ExchangeRegisters: control bit 6", exregs(me, 1 << 6, 0, 0), err(InvalidArgument)),
            ("ExchangeRegisters: control u64::MAX", exregs(me, u64::MAX, 0, 0), err(InvalidArgument)),
            ("ExchangeRegisters: dest NIL", exregs(0, 0, 0, 0), err(InvalidThread)),
            ("ExchangeRegisters: dest ANY", exregs(u64::MAX, 0, 0, 0), err(InvalidThread)),
            ("ExchangeRegisters: dest version 0", exregs(bad.version0, 0, 0, 0), err(InvalidThread)),
            ("ExchangeRegisters: dest unused", exregs(bad.unused, 0, 0, 0), err(InvalidThread)),
            ("ExchangeRegisters: dest past the table", exregs(bad.beyond, 0, 0, 0), err(InvalidThread)),
            ("ExchangeRegisters: dest stale", exregs(bad.stale, 0, 0, 0), err(InvalidThread)),
            (
                "ExchangeRegisters: pager names no thread",
                exregs(me, set_pager, bad.unused, 0),
                err(InvalidThread),
            ),
            ("ExchangeRegisters: pager stale", exregs(me, set_pager, bad.stale, 0), err(InvalidThread)),
            (
                "ExchangeRegisters: exception handler names no thread",
                exregs(me, set_handler, 0, bad.beyond),
                err(InvalidThread),
            ),
        ];
        for row in table {
            t.row(Syscall::ExchangeRegisters, row);
        }

        // --- Unmap: zero flexpages is a valid no-op; reserved control bits are refused.
        let table = [
            ("Unmap: nothing", [0; 8], Want::Ok),
            ("Unmap: reserved control bits", [1 << 7, 0, 0, 0, 0, 0, 0, 0], err(InvalidArgument)),
        ];
        for row in table {
            t.row(Syscall::Unmap, row);
        }
        // A flexpage of the whole user half (no flush-own, and nothing derived from this
        // program's pages yet): the kernel must skip the empty space, not take 2^35
        // steps with its lock held (the boot test's timeout catches a hang).
        let everything = Fpage::new(0, abi::fpage::MAX_SIZE_LOG2, Rights::RWX).map_or(0, |f| f.raw());
        // SAFETY: MR0 of this thread's UTCB, which the kernel mapped at `utcb`.
        unsafe { core::ptr::write_volatile(utcb.as_usize() as *mut u64, everything) };
        t.row(
            Syscall::Unmap,
            ("Unmap: a 2^47-byte flexpage of a sparse space", [1, 0, 0, 0, 0, 0, 0, 0], Want::Ok),
        );

        // --- ThreadSwitch. --------------------------------------------------------------
        let table = [
            ("ThreadSwitch: NIL yields", [0; 8], Want::Ok),
            ("ThreadSwitch: dest names no thread", [bad.unused, 0, 0, 0, 0, 0, 0, 0], err(InvalidThread)),
            ("ThreadSwitch: dest version 0", [bad.version0, 0, 0, 0, 0, 0, 0, 0], err(InvalidThread)),
        ];
        for row in table {
            t.row(Syscall::ThreadSwitch, row);
        }

        // --- SystemClock and KernelInterface: no errors; the answers must make sense. --
        let clock = svc(Syscall::SystemClock.number(), [u64::MAX; 8]);
        t.verdict(
            "SystemClock: any arguments",
            clock[0] == 0 && clock[2] > 0,
            &Status(clock[0]),
            &"Ok, frequency > 0",
        );
        let ki = svc(Syscall::KernelInterface.number(), [u64::MAX; 8]);
        let ki_ok = ki[0] == 0 && ki[1] == abi::kip::KIP_ADDRESS && ki[3] == abi::kip::KIP_SIZE as u64;
        t.verdict("KernelInterface: any arguments", ki_ok, &Status(ki[0]), &"Ok, the KIP's address and size");

        // --- DebugWrite. -----------------------------------------------------------------
        let write = |ptr: u64, len: u64| [ptr, len, 0, 0, 0, 0, 0, 0];
        let limit = abi::USER_ADDRESS_LIMIT;
        let kip_end = abi::kip::KIP_ADDRESS + abi::kip::KIP_SIZE as u64;
        let table = [
            ("DebugWrite: length 0", write(buf_at, 0), Want::Ok),
            (
                "DebugWrite: length 4097",
                write(buf_at, abi::syscall::DEBUG_WRITE_MAX + 1),
                err(InvalidArgument),
            ),
            ("DebugWrite: length u64::MAX", write(buf_at, u64::MAX), err(InvalidArgument)),
            ("DebugWrite: null pointer", write(0, 1), err(InvalidArgument)),
            ("DebugWrite: unmapped pointer", write(UNMAPPED, 8), err(InvalidArgument)),
            ("DebugWrite: kernel pointer", write(KERNEL_VA, 8), err(InvalidArgument)),
            ("DebugWrite: pointer + length wraps", write(u64::MAX - 1, 4), err(InvalidArgument)),
            ("DebugWrite: range crosses the user limit", write(limit - 2, 4), err(InvalidArgument)),
            (
                "DebugWrite: range runs off the KIP into an unmapped page",
                write(kip_end - 2, 4),
                err(InvalidArgument),
            ),
        ];
        for row in table {
            t.row(Syscall::DebugWrite, row);
        }

        // --- Introspect. -----------------------------------------------------------------
        let q = |a: u64, b: u64, c: u64, d: u64| [a, b, c, d, 0, 0, 0, 0];
        let table = [
            ("Introspect: CurrentCpu", q(3, 0, 0, 0), Want::Ok),
            ("Introspect: FastPaths", q(4, 0, 0, 0), Want::Ok),
            ("Introspect: FastPaths with x3 != 0", q(4, 0, 0, 1), err(InvalidArgument)),
            ("Introspect: NodeMemory of node 0", q(5, 0, 0, 0), Want::Ok),
            ("Introspect: NodeMemory of node 64", q(5, 64, 0, 0), err(InvalidNode)),
            ("Introspect: NodeMemory of node u64::MAX", q(5, u64::MAX, 0, 0), err(InvalidNode)),
            ("Introspect: NodeMemory with x2 != 0", q(5, 0, 1, 0), err(InvalidArgument)),
            ("Introspect: unknown query 6", q(6, 0, 0, 0), err(InvalidArgument)),
            ("Introspect: query u64::MAX", q(u64::MAX, 0, 0, 0), err(InvalidArgument)),
            ("Introspect: CurrentCpu with x1 != 0", q(3, 1, 0, 0), err(InvalidArgument)),
            ("Introspect: KmemReport with x2 != 0", q(0, me, 1, 0), err(InvalidArgument)),
            ("Introspect: Translate with x3 != 0", q(1, me, 0x40_0000, 1), err(InvalidArgument)),
            ("Introspect: NodeOfPhysical with x2 != 0", q(2, 0x4000_0000, 1, 0), err(InvalidArgument)),
            ("Introspect: NodeOfPhysical of PA 0 (not RAM)", q(2, 0, 0, 0), err(InvalidArgument)),
            (
                "Introspect: NodeOfPhysical of the UART (not RAM)",
                q(2, 0x0900_0000, 0, 0),
                err(InvalidArgument),
            ),
            ("Introspect: NodeOfPhysical of u64::MAX", q(2, u64::MAX, 0, 0), err(InvalidArgument)),
            ("Introspect: KmemReport of an unused thread", q(0, bad.unused, 0, 0), err(InvalidThread)),
            ("Introspect: KmemReport of ANY", q(0, u64::MAX, 0, 0), err(InvalidThread)),
            (
                "Introspect: Translate in a stale id's space",
                q(1, bad.stale, 0x40_0000, 0),
                err(InvalidThread),
            ),
        ];
        for row in table {
            t.row(Syscall::Introspect, row);
        }
        // An address nothing maps is not an error: the answer says "not mapped" (x4 = 0).
        for (name, va) in [
            ("Introspect: Translate of an unmapped VA", UNMAPPED),
            ("Introspect: Translate of a VA above the user range", limit + abi::kip::KIP_ADDRESS),
            ("Introspect: Translate of a kernel VA", KERNEL_VA),
        ] {
            let r = svc(Syscall::Introspect.number(), q(1, 0, va, 0));
            // InvalidArgument would be acceptable for a VA outside the user range too;
            // claiming a mapping is not.
            let pass = (r[0] == 0 && r[4] == 0) || (va >= limit && r[0] == InvalidArgument.code());
            let got = Translated(r);
            t.verdict(name, pass, &got, &"not mapped");
        }

        // --- Notify (privileged): every id that names no thread. -------------------------
        if role.privileged {
            let n = |dest: u64| [dest, 7, 0, 0, 0, 0, 0, 0];
            let irq = abi::thread::ThreadId::interrupt(40).map_or(0, |i| i.raw());
            let table = [
                ("Notify: dest NIL", n(0), err(InvalidThread)),
                ("Notify: dest ANY", n(u64::MAX), err(InvalidThread)),
                ("Notify: dest unused", n(bad.unused), err(InvalidThread)),
                ("Notify: dest past the table", n(bad.beyond), err(InvalidThread)),
                ("Notify: dest version 0", n(bad.version0), err(InvalidThread)),
                ("Notify: dest stale", n(bad.stale), err(InvalidThread)),
                ("Notify: dest an interrupt", n(irq), err(InvalidThread)),
            ];
            for row in table {
                t.row(Syscall::Notify, row);
            }
        }

        // --- The calls that need privilege, or a partner thread. -------------------------
        if role.privileged {
            privileged_cases(&mut t, me, &bad, cpus, nodes);
        } else {
            // A child makes the privileged calls itself; the cases that need a thread
            // of its own (partners for IPC, a child space) need privilege to set up.
            let statuses = unprivileged_calls(me, role.pager);
            judge_unprivileged(&mut t, &statuses);
            t.skipped += 1;
        }

        println!(
            "\n{}",
            report::line!("badargs", "cases" => t.cases, "failed" => t.failed, "known-failures" => t.known, "skipped" => t.skipped)
        );
        role.finish(t.failed)
    }

    /// A `Translate` answer, for messages.
    struct Translated([u64; 8]);

    impl fmt::Display for Translated {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let r = &self.0;
            if r[0] != 0 {
                Status(r[0]).fmt(f)
            } else if r[4] == 0 {
                f.write_str("not mapped")
            } else {
                write!(f, "mapped to PA {:#x} (size 2^{})", r[1], r[4])
            }
        }
    }

    /// The privileged calls an unprivileged thread makes, in this order (the escalation
    /// attempt last, so that a kernel that wrongly grants it does not turn the other
    /// refusals into successes). `me`: the caller; `other`: a thread of another space.
    const UNPRIVILEGED: [(&str, Error); 8] = [
        ("unprivileged: ThreadControl", Error::NoPrivilege),
        ("unprivileged: MemoryControl", Error::NoPrivilege),
        ("unprivileged: InterruptControl", Error::NoPrivilege),
        ("unprivileged: SystemControl power-off", Error::NoPrivilege),
        ("unprivileged: Schedule of another space's thread", Error::NoPrivilege),
        ("unprivileged: ExchangeRegisters on another space's thread", Error::InvalidThread),
        ("unprivileged: Notify", Error::NoPrivilege),
        ("unprivileged: SpaceControl making my space privileged", Error::NoPrivilege),
    ];

    /// The group cases of an unprivileged child in group [`GROUP`] (see
    /// [`group_calls`]): what a program may do with its own threads and spaces, and
    /// every way of reaching outside them.
    const GROUP_CASES: [(&str, Want); 13] = [
        ("group: Notify a thread of my group", Want::Ok),
        ("group: Notify a thread of another group", err(Error::NoPrivilege)),
        ("group: move my group's thread into my space", Want::Ok),
        ("group: move it back into its space", Want::Ok),
        ("group: move my group's thread into another group's space", err(Error::NoPrivilege)),
        ("group: move another group's thread into my space", err(Error::NoPrivilege)),
        ("group: move my group's thread into a new space", err(Error::NoPrivilege)),
        ("group: delete my group's thread", err(Error::NoPrivilege)),
        ("group: move my group's thread into a privileged space of my group", err(Error::NoPrivilege)),
        ("group: move my group's thread and give it a pager outside the group", err(Error::NoPrivilege)),
        ("group: create a thread in my space", err(Error::NoPrivilege)),
        ("group: Translate in another space", err(Error::NoPrivilege)),
        ("group: Translate in my own space", Want::Ok),
    ];
    /// The child's group, the other group, and their threads (made by the root role,
    /// never started: a thread need not run to be moved or notified).
    const GROUP: u64 = 7;
    const OTHER_GROUP: u64 = 8;
    /// In a space of the child's group; a second thread of that space (which moves).
    const PEER: u64 = 0x44;
    const MOVER: u64 = 0x45;
    /// In a space of the other group; in a privileged space of the child's group.
    const STRANGER: u64 = 0x46;
    const PRIVILEGED_PEER: u64 = 0x47;
    const PEER_UTCB: u64 = 0x30_0000;
    const MOVER_UTCB: u64 = 0x31_0000;

    /// Makes the [`GROUP_CASES`] calls from the child `me`; their statuses. No statics.
    #[inline(never)]
    fn group_calls(me: u64) -> [u64; 13] {
        let (peer, mover, stranger, privileged) =
            (id(PEER, 1), id(MOVER, 1), id(STRANGER, 1), id(PRIVILEGED_PEER, 1));
        let root = ThreadId::ROOT.raw();
        let here = u64::MAX; // ThreadControl's "the caller's CPU"
        let tc = |dest, space, scheduler, pager| [dest, space, scheduler, pager, 0, here, 0, 0];
        let translate = |space, va| [1, space, va, 0, 0, 0, 0, 0];
        let calls: [(Syscall, [u64; 8]); 13] = [
            (Syscall::Notify, [peer, 1, 0, 0, 0, 0, 0, 0]),
            (Syscall::Notify, [stranger, 1, 0, 0, 0, 0, 0, 0]),
            (Syscall::ThreadControl, tc(mover, me, 0, 0)),
            (Syscall::ThreadControl, tc(mover, peer, 0, 0)),
            (Syscall::ThreadControl, tc(mover, stranger, 0, 0)),
            (Syscall::ThreadControl, tc(stranger, me, 0, 0)),
            (Syscall::ThreadControl, tc(mover, mover, 0, 0)),
            (Syscall::ThreadControl, tc(mover, 0, 0, 0)),
            (Syscall::ThreadControl, tc(mover, privileged, 0, 0)),
            (Syscall::ThreadControl, tc(mover, me, 0, root)),
            (Syscall::ThreadControl, [id(0x48, 1), me, me, me, 0x32_0000, here, 0, 0]),
            (Syscall::Introspect, translate(root, abi::kip::KIP_ADDRESS)),
            (Syscall::Introspect, translate(me, CHILD_STACK_TOP - 8)),
        ];
        let mut out = [0; 13];
        for (slot, (call, args)) in out.iter_mut().zip(calls) {
            *slot = svc(call.number(), args)[0];
        }
        out
    }

    /// Makes the [`UNPRIVILEGED`] calls; returns their statuses. Uses no statics: it
    /// also runs in a child space that shares only this program's code pages.
    #[inline(never)]
    fn unprivileged_calls(me: u64, other: u64) -> [u64; 8] {
        let power_off_status = 99; // if the kernel obeyed, the run would end with it
        let calls: [(Syscall, [u64; 8]); 8] = [
            (Syscall::ThreadControl, [id(0x60, 1), id(0x60, 1), me, me, 0x30_0000, u64::MAX, 0, 0]),
            (Syscall::MemoryControl, [0, 0, SCRATCH, RW, 0, 0, 0, 0]),
            (Syscall::InterruptControl, [27, me, 0, 0, 0, 0, 0, 0]),
            (Syscall::SystemControl, [abi::syscall::SYSTEM_POWER_OFF, power_off_status, 0, 0, 0, 0, 0, 0]),
            (Syscall::Schedule, [other, KEEP, KEEP, 0, 0, 0, 0, 0]),
            (Syscall::ExchangeRegisters, [other, 0, 0, 0, 0, 0, 0, 0]),
            (Syscall::Notify, [other, 1, 0, 0, 0, 0, 0, 0]),
            (Syscall::SpaceControl, [me, 1, 0, 0, 0, 0, 0, 0]),
        ];
        let mut out = [0; 8];
        for (slot, (call, args)) in out.iter_mut().zip(calls) {
            *slot = svc(call.number(), args)[0];
        }
        out
    }

    fn judge_unprivileged(t: &mut Tally, statuses: &[u64]) {
        for ((name, want), got) in UNPRIVILEGED.iter().zip(statuses) {
            t.status(name, *got, Want::Err(*want));
        }
    }

    fn judge_group(t: &mut Tally, statuses: &[u64]) {
        for ((name, want), got) in GROUP_CASES.iter().zip(statuses) {
            t.status(name, *got, *want);
        }
    }

    /// The group scene of the child's cases: the child's space and a peer space in
    /// [`GROUP`] (with a second thread, the mover), a stranger's space in
    /// [`OTHER_GROUP`], and a privileged space in [`GROUP`]. False (and said why) if a
    /// step fails.
    fn group_scene(me: u64, child: u64) -> bool {
        let sc = |space: u64, control: u64, group: u64| {
            svc(Syscall::SpaceControl.number(), [space, control, group, 0, 0, 0, 0, 0])[0]
        };
        let make = |t: u64, space: u64, utcb: u64| {
            svc(Syscall::ThreadControl.number(), [t, space, me, me, utcb, u64::MAX, 0, 0])[0]
        };
        let (peer, mover, stranger, privileged) =
            (id(PEER, 1), id(MOVER, 1), id(STRANGER, 1), id(PRIVILEGED_PEER, 1));
        let steps = [
            ("put the child in its group", sc(child, 2, GROUP)),
            ("make the peer", make(peer, peer, PEER_UTCB)),
            ("put the peer in the group", sc(peer, 2, GROUP)),
            ("make the mover", make(mover, peer, MOVER_UTCB)),
            ("make the stranger", make(stranger, stranger, PEER_UTCB)),
            ("put the stranger in another group", sc(stranger, 2, OTHER_GROUP)),
            ("make the privileged peer", make(privileged, privileged, PEER_UTCB)),
            ("put it in the group, privileged", sc(privileged, 3, GROUP)),
        ];
        for (what, status) in steps {
            if status != 0 {
                println!("badargs: group scene: cannot {what}: {}", Status(status));
                return false;
            }
        }
        true
    }

    /// Deletes the group scene's threads (and so their spaces).
    fn group_scene_gone(me: u64) {
        let _ = me;
        for t in [MOVER, PEER, STRANGER, PRIVILEGED_PEER] {
            let _ = svc(Syscall::ThreadControl.number(), [id(t, 1), 0, 0, 0, 0, 0, 0, 0]);
        }
    }

    /// The cases of the root role: the privileged calls' errors, IPC with partners,
    /// and a child space for the unprivileged ones.
    fn privileged_cases(t: &mut Tally, me: u64, bad: &BadIds, cpus: u64, nodes: u64) {
        use Error::*;
        let tc = |dest: u64, space: u64, sched: u64, pager: u64, utcb: u64, cpu: u64| {
            [dest, space, sched, pager, utcb, cpu, 0, 0]
        };
        let any_cpu = u64::MAX;
        let (new, new2) = (id(0x50, 1), id(0x51, 1));
        let program = &raw const __program_start as u64;
        let limit = abi::USER_ADDRESS_LIMIT;
        // Each row is wrong in one argument only; `new` must not exist after any of
        // them (a wrongly accepted row makes the next ones fail with InvalidThread).
        let table = [
            (
                "ThreadControl: delete a thread that does not exist",
                tc(new, 0, me, me, 0x24_0000, any_cpu),
                err(InvalidThread),
            ),
            ("ThreadControl: delete myself", tc(me, 0, me, me, 0x24_0000, any_cpu), err(InvalidThread)),
            ("ThreadControl: dest NIL", tc(0, me, me, me, 0x24_0000, any_cpu), err(InvalidThread)),
            ("ThreadControl: dest ANY", tc(u64::MAX, me, me, me, 0x24_0000, any_cpu), err(InvalidThread)),
            (
                "ThreadControl: dest version 0",
                tc(id(0x50, 0), me, me, me, 0x24_0000, any_cpu),
                err(InvalidThread),
            ),
            (
                "ThreadControl: dest number 0",
                tc(id(0, 1), me, me, me, 0x24_0000, any_cpu),
                err(InvalidThread),
            ),
            (
                "ThreadControl: dest past the table",
                tc(bad.beyond, me, me, me, 0x24_0000, any_cpu),
                err(InvalidThread),
            ),
            (
                "ThreadControl: dest exists (myself)",
                tc(me, me, me, me, 0x24_0000, any_cpu),
                err(InvalidThread),
            ),
            ("ThreadControl: CPU = CPU count", tc(new, me, me, me, 0x24_0000, cpus), err(InvalidCpu)),
            ("ThreadControl: CPU 1 << 63", tc(new, me, me, me, 0x24_0000, 1 << 63), err(InvalidCpu)),
            (
                "ThreadControl: pager names no thread",
                tc(new, me, me, bad.unused, 0x24_0000, any_cpu),
                err(InvalidThread),
            ),
            (
                "ThreadControl: space names no thread",
                tc(new, bad.unused, me, me, 0x24_0000, any_cpu),
                err(InvalidSpace),
            ),
            ("ThreadControl: space stale", tc(new, bad.stale, me, me, 0x24_0000, any_cpu), err(InvalidSpace)),
            (
                "ThreadControl: UTCB not page aligned",
                tc(new, me, me, me, 0x24_0008, any_cpu),
                err(InvalidUtcb),
            ),
            ("ThreadControl: UTCB 0", tc(new, me, me, me, 0, any_cpu), err(InvalidUtcb)),
            ("ThreadControl: UTCB on my own UTCB", tc(new, me, me, me, ROOT_UTCB, any_cpu), err(InvalidUtcb)),
            ("ThreadControl: UTCB on my program", tc(new, me, me, me, program, any_cpu), err(InvalidUtcb)),
            ("ThreadControl: UTCB at the user limit", tc(new, me, me, me, limit, any_cpu), err(InvalidUtcb)),
            (
                "ThreadControl: UTCB kernel address",
                tc(new, me, me, me, KERNEL_VA & !0xFFF, any_cpu),
                err(InvalidUtcb),
            ),
            (
                "ThreadControl: UTCB on the KIP of a new space",
                tc(new, new, me, me, abi::kip::KIP_ADDRESS, any_cpu),
                err(InvalidUtcb),
            ),
            // Last: the kernel ignores the scheduler and makes the thread.
            (
                "ThreadControl: scheduler names no thread",
                tc(new2, me, bad.unused, me, 0x25_0000, any_cpu),
                err(InvalidScheduler),
            ),
        ];
        for row in table {
            t.row(Syscall::ThreadControl, row);
        }

        let sc = |space: u64, control: u64, x2: u64| [space, control, x2, 0, 0, 0, 0, 0];
        let table = [
            ("SpaceControl: read my space", sc(me, 0, 0), Want::Ok),
            ("SpaceControl: reserved control bit 2", sc(me, 4, 0), err(InvalidArgument)),
            ("SpaceControl: group 65536", sc(me, 2, 1 << 16), err(InvalidArgument)),
            ("SpaceControl: group u64::MAX", sc(me, 2, u64::MAX), err(InvalidArgument)),
            ("SpaceControl: control u64::MAX", sc(me, u64::MAX, 0), err(InvalidArgument)),
            ("SpaceControl: space NIL", sc(0, 0, 0), err(InvalidSpace)),
            ("SpaceControl: space ANY", sc(u64::MAX, 0, 0), err(InvalidSpace)),
            ("SpaceControl: space names no thread", sc(bad.unused, 0, 0), err(InvalidSpace)),
            ("SpaceControl: space stale", sc(bad.stale, 0, 0), err(InvalidSpace)),
            ("SpaceControl: a group in x2 without the group bit", sc(me, 0, 1), err(InvalidArgument)),
            ("SpaceControl: my own group set to 0", sc(me, 2, 0), Want::Ok),
        ];
        for row in table {
            t.row(Syscall::SpaceControl, row);
        }

        let table = [
            ("SystemControl: unknown operation 1", [1, 0, 0, 0, 0, 0, 0, 0], err(InvalidArgument)),
            ("SystemControl: operation u64::MAX", [u64::MAX, 0, 0, 0, 0, 0, 0, 0], err(InvalidArgument)),
        ];
        for row in table {
            t.row(Syscall::SystemControl, row);
        }

        // InterruptControl: only SPIs the distributor implements and the user timer (27)
        // can be attached; another PPI (30, the kernel's tick) or an INTID past the
        // lines cannot; reserved control bits are refused; detaching what nobody
        // handles is InvalidInterrupt; ARM only for the user timer, with a handler,
        // naming the timer's handler.
        let arm = abi::syscall::INTERRUPT_CONTROL_ARM;
        let table = [
            (
                "InterruptControl: the kernel's tick cannot be attached",
                [30, me, 0, 0, 0, 0, 0, 0],
                err(InvalidInterrupt),
            ),
            ("InterruptControl: INTID past the lines", [5000, me, 0, 0, 0, 0, 0, 0], err(InvalidInterrupt)),
            ("InterruptControl: reserved control bits", [40, me, 4, 0, 0, 0, 0, 0], err(InvalidArgument)),
            ("InterruptControl: ARM an SPI", [40, me, arm, 0, 0, 0, 0, 0], err(InvalidInterrupt)),
            ("InterruptControl: ARM with no handler", [27, 0, arm, 0, 0, 0, 0, 0], err(InvalidArgument)),
            (
                "InterruptControl: ARM a timer nobody handles",
                [27, me, arm, 0, 0, 0, 0, 0],
                err(InvalidThread),
            ),
            (
                "InterruptControl: detach what nobody handles",
                [40, 0, 0, 0, 0, 0, 0, 0],
                err(InvalidInterrupt),
            ),
        ];
        for row in table {
            t.row(Syscall::InterruptControl, row);
        }

        // MemoryControl: the good row first maps the helpers' stacks (16 KiB).
        let mc = |node: u64, order: u64, va: u64, flags: u64| [node, order, va, flags, 0, 0, 0, 0];
        let free = SCRATCH + 0x10_0000; // unmapped, 1 MiB aligned
        // RAM (the first memory range of the KIP) is never device registers.
        let ram_base = rt::sys::kip().memory().next().map_or(0x4000_0000, |m| m.base);
        let table = [
            ("MemoryControl: four frames for the helpers' stacks", mc(0, 2, SCRATCH, RW_NEAREST), Want::Ok),
            ("MemoryControl: node = node count", mc(nodes, 0, free, RW), err(InvalidNode)),
            ("MemoryControl: node 64", mc(64, 0, free, RW_NEAREST), err(InvalidNode)),
            ("MemoryControl: node 1 << 32", mc(1 << 32, 0, free, RW_NEAREST), err(InvalidNode)),
            ("MemoryControl: node u64::MAX", mc(u64::MAX, 0, free, RW_NEAREST), err(InvalidNode)),
            (
                "MemoryControl: order 19",
                mc(0, 19, 0x4000_0000_0000 - (0x1000 << 19), RW_NEAREST),
                err(OutOfMemory),
            ),
            ("MemoryControl: order 36 (above MAX_ORDER)", mc(0, 36, 0, RW_NEAREST), err(InvalidArgument)),
            ("MemoryControl: order u64::MAX", mc(0, u64::MAX, free, RW_NEAREST), err(InvalidArgument)),
            (
                "MemoryControl: destination not page aligned",
                mc(0, 0, free + 8, RW_NEAREST),
                err(InvalidArgument),
            ),
            (
                "MemoryControl: destination not aligned to the block",
                mc(0, 1, free + 0x1000, RW_NEAREST),
                err(InvalidArgument),
            ),
            ("MemoryControl: destination 0", mc(0, 0, 0, RW_NEAREST), err(InvalidArgument)),
            (
                "MemoryControl: destination at the user limit",
                mc(0, 0, limit, RW_NEAREST),
                err(InvalidArgument),
            ),
            (
                "MemoryControl: destination kernel address",
                mc(0, 0, KERNEL_VA, RW_NEAREST),
                err(InvalidArgument),
            ),
            (
                "MemoryControl: destination occupied (my program)",
                mc(0, 0, program, RW_NEAREST),
                err(InvalidArgument),
            ),
            (
                "MemoryControl: destination occupied (my UTCB)",
                mc(0, 0, ROOT_UTCB, RW_NEAREST),
                err(InvalidArgument),
            ),
            (
                "MemoryControl: destination occupied (the KIP)",
                mc(0, 2, abi::kip::KIP_ADDRESS, RW_NEAREST),
                err(InvalidArgument),
            ),
            ("MemoryControl: reserved flag bit 3", mc(0, 0, free, RW | 8), err(InvalidArgument)),
            ("MemoryControl: free with rights", mc(0, 0, SCRATCH, RW | 4), err(InvalidArgument)),
            ("MemoryControl: free with the nearest flag", mc(0, 0, SCRATCH, 1 | 4), err(InvalidArgument)),
            ("MemoryControl: free with a node", mc(1, 0, SCRATCH, 4), err(InvalidArgument)),
            ("MemoryControl: free of an unmapped page", mc(0, 0, free, 4), err(InvalidArgument)),
            (
                "MemoryControl: free of my program (not memory I asked for)",
                mc(0, 0, program, 4),
                err(InvalidArgument),
            ),
            ("MemoryControl: free of the KIP", mc(0, 0, abi::kip::KIP_ADDRESS, 4), err(InvalidArgument)),
            ("MemoryControl: free of my UTCB", mc(0, 0, ROOT_UTCB, 4), err(InvalidArgument)),
            (
                "MemoryControl: free misaligned for its order",
                mc(0, 1, SCRATCH + 0x1000, 4),
                err(InvalidArgument),
            ),
            ("MemoryControl: free of a block partly unmapped", mc(0, 3, SCRATCH, 4), err(InvalidArgument)),
            ("MemoryControl: a page to give back", mc(0, 0, free, RW), Want::Ok),
            ("MemoryControl: give it back", mc(0, 0, free, 4), Want::Ok),
            ("MemoryControl: give it back twice", mc(0, 0, free, 4), err(InvalidArgument)),
            ("MemoryControl: device flag on RAM", mc(ram_base, 0, free, RW | 2), err(InvalidArgument)),
            ("MemoryControl: reserved flag bit 63", mc(0, 0, free, RW | 1 << 63), err(InvalidArgument)),
            // Last: the kernel serves this one from another node and maps it.
            (
                "MemoryControl: node = node count, nearest flag",
                mc(nodes, 0, free, RW_NEAREST),
                err(InvalidNode),
            ),
        ];
        for row in table {
            t.row(Syscall::MemoryControl, row);
        }

        partner_cases(t, me);
        child_space_cases(t, me);
    }

    /// Creates thread `number` in my space on my CPU, running `entry` on `stack_top` at
    /// `priority`; `None` (after saying why) if the kernel refuses.
    fn start_thread(
        me: u64,
        number: u64,
        utcb: u64,
        entry: Option<extern "C" fn(u64) -> !>,
        stack_top: u64,
        priority: u64,
    ) -> Option<u64> {
        let tid = id(number, 1);
        let r = svc(Syscall::ThreadControl.number(), [tid, me, me, me, utcb, u64::MAX, 0, 0]);
        if r[0] != 0 {
            println!("badargs: cannot create thread {number:#x}: {}", Status(r[0]));
            return None;
        }
        let r = svc(Syscall::Schedule.number(), [tid, priority, KEEP, 0, 0, 0, 0, 0]);
        if r[0] != 0 {
            println!("badargs: cannot set the priority of thread {number:#x}: {}", Status(r[0]));
            return None;
        }
        if let Some(entry) = entry {
            let start = (ExregsControl::START | ExregsControl::SET_SP | ExregsControl::SET_IP).raw();
            let r = svc(
                Syscall::ExchangeRegisters.number(),
                [tid, start, stack_top, entry as *const () as u64, 0, 0, 0, 0],
            );
            if r[0] != 0 {
                println!("badargs: cannot start thread {number:#x}: {}", Status(r[0]));
                return None;
            }
        }
        Some(tid)
    }

    /// The helper: reports the status of its last receive to the root, then receives
    /// again (a send and a receive of their own, so that a receive is never skipped).
    /// Stack only: no statics.
    extern "C" fn helper_main(_utcb: u64) -> ! {
        let root = ThreadId::ROOT.raw();
        let never = Timeouts::NEVER.pack();
        let mut status = READY;
        loop {
            let _ = svc(Syscall::Ipc.number(), [root, 0, never, tag(REPORT, 1, 0), status, 0, 0, 0]);
            status = svc(Syscall::Ipc.number(), [0, u64::MAX, never, 0, 0, 0, 0, 0])[0];
        }
    }

    /// The spinner: keeps a CPU in user mode (see the finite-timeout case).
    extern "C" fn spinner_main(_utcb: u64) -> ! {
        loop {
            core::hint::spin_loop();
        }
    }

    /// The helper's next report (it runs at a higher priority on my CPU, so it is
    /// waiting to send by the time this runs).
    fn helper_report(helper: u64) -> u64 {
        let r = svc(Syscall::Ipc.number(), [0, helper, Timeouts::NEVER.pack(), 0, 0, 0, 0, 0]);
        if r[0] != 0 || Tag::from_raw(r[3]).map(|t| t.label()) != Ok(REPORT) {
            println!("badargs: no report from the helper: {}", Status(r[0]));
            return u64::MAX;
        }
        r[4]
    }

    /// IPC cases that need a partner: a receiver for bad typed items, a thread that is
    /// not waiting, a running CPU for a finite timeout.
    fn partner_cases(t: &mut Tally, me: u64) {
        use Error::*;
        let zero = Timeouts::ZERO.pack();
        let never = Timeouts::NEVER.pack();
        let Some(idle) = start_thread(me, IDLE, IDLE_UTCB, None, 0, 100) else {
            t.failed += 1;
            return;
        };
        let table = [
            (
                "Ipc: zero-timeout send to a thread not waiting",
                [idle, 0, zero, 0, 0, 0, 0, 0],
                err(SendTimeout),
            ),
            (
                "Ipc: zero-timeout call of a thread not waiting",
                [idle, idle, zero, 0, 0, 0, 0, 0],
                err(SendTimeout),
            ),
            (
                "Ipc: send to a stale id of a live thread",
                [id(IDLE, 2), 0, zero, 0, 0, 0, 0, 0],
                err(NonExistingPartner),
            ),
        ];
        for row in table {
            t.row(Syscall::Ipc, row);
        }

        // InterruptControl: an SPI handled by one thread is Busy for another, until the
        // first detaches (INTID 40: no device raises it on these boards).
        let table = [
            ("InterruptControl: attach SPI 40 to me", [40, me, 0, 0, 0, 0, 0, 0], Want::Ok),
            ("InterruptControl: SPI 40 for another thread", [40, idle, 0, 0, 0, 0, 0, 0], err(Busy)),
            ("InterruptControl: detach SPI 40", [40, 0, 0, 0, 0, 0, 0, 0], Want::Ok),
            ("InterruptControl: SPI 40 free again", [40, idle, 0, 0, 0, 0, 0, 0], Want::Ok),
            ("InterruptControl: detach it again", [40, 0, 0, 0, 0, 0, 0, 0], Want::Ok),
            // The user timer: attached to IDLE, it is Busy for us and IDLE's to arm
            // (not ours); detached, it is free again.
            ("InterruptControl: user timer to IDLE", [27, idle, 0, 0, 0, 0, 0, 0], Want::Ok),
            ("InterruptControl: user timer for another thread", [27, me, 0, 0, 0, 0, 0, 0], err(Busy)),
            (
                "InterruptControl: ARM naming a thread that does not handle it",
                [27, me, abi::syscall::INTERRUPT_CONTROL_ARM, u64::MAX, 0, 0, 0, 0],
                err(InvalidThread),
            ),
            ("InterruptControl: detach the user timer", [27, 0, 0, 0, 0, 0, 0, 0], Want::Ok),
        ];
        for row in table {
            t.row(Syscall::InterruptControl, row);
        }
        // The user timer belongs to its handler's CPU: with IDLE on another CPU (a
        // board of two or more), arming it from here is InvalidCpu.
        let cpus = rt::sys::kip().cpu_count() as u64;
        let here = rt::sys::introspect(abi::introspect::Request::CurrentCpu.encode()).map_or(0, |x| x[0]);
        if cpus >= 2 {
            let arm = abi::syscall::INTERRUPT_CONTROL_ARM;
            let other = (here + 1) % cpus;
            t.row(
                Syscall::Schedule,
                ("Schedule: IDLE to another CPU", [idle, KEEP, other, 0, 0, 0, 0, 0], Want::Ok),
            );
            let table = [
                ("InterruptControl: user timer to IDLE there", [27, idle, 0, 0, 0, 0, 0, 0], Want::Ok),
                (
                    "InterruptControl: ARM it from another CPU",
                    [27, idle, arm, u64::MAX, 0, 0, 0, 0],
                    err(InvalidCpu),
                ),
                ("InterruptControl: detach it", [27, 0, 0, 0, 0, 0, 0, 0], Want::Ok),
            ];
            for row in table {
                t.row(Syscall::InterruptControl, row);
            }
            t.row(
                Syscall::Schedule,
                ("Schedule: IDLE back to this CPU", [idle, KEEP, here, 0, 0, 0, 0, 0], Want::Ok),
            );
        }

        // Notify: IDLE never receives, so its queue fills and then refuses.
        for i in 0..abi::syscall::NOTIFY_QUEUE as u64 {
            let r = svc(Syscall::Notify.number(), [idle, i, 0, 0, 0, 0, 0, 0]);
            t.status("Notify: a word for a thread that does not receive", r[0], Want::Ok);
        }
        let r = svc(Syscall::Notify.number(), [idle, 99, 0, 0, 0, 0, 0, 0]);
        t.status("Notify: one word more than the queue holds", r[0], err(QueueFull));

        // ThreadControl on an existing thread (IDLE: never started, so not running):
        // a move; each bad argument refused, changing nothing.
        let tc = |dest: u64, space: u64, scheduler: u64, pager: u64, utcb: u64, cpu: u64| {
            [dest, space, scheduler, pager, utcb, cpu, 0, 0]
        };
        let unused = id(0x3FF, 1);
        let table = [
            (
                "ThreadControl: move into a space that names no thread",
                tc(idle, unused, 0, 0, 0, u64::MAX),
                err(InvalidSpace),
            ),
            ("ThreadControl: move a stale id", tc(id(IDLE, 2), me, 0, 0, 0, u64::MAX), err(InvalidThread)),
            (
                "ThreadControl: move with a pager that names no thread",
                tc(idle, me, 0, unused, 0, u64::MAX),
                err(InvalidThread),
            ),
            (
                "ThreadControl: move with a scheduler that names no thread",
                tc(idle, me, unused, 0, 0, u64::MAX),
                err(InvalidScheduler),
            ),
            (
                "ThreadControl: move to another UTCB in the same space",
                tc(idle, me, 0, 0, IDLE_UTCB + 0x1000, u64::MAX),
                err(InvalidUtcb),
            ),
            (
                "ThreadControl: move to a CPU that does not exist",
                tc(idle, me, 0, 0, 0, 1 << 40),
                err(InvalidCpu),
            ),
            (
                "ThreadControl: move within its own space (CPU only)",
                tc(idle, me, 0, 0, 0, u64::MAX),
                Want::Ok,
            ),
        ];
        for row in table {
            t.row(Syscall::ThreadControl, row);
        }

        // A finite receive timeout must expire: first while a spinner keeps another
        // CPU busy, then with every other CPU idle (the kernel is tickless: each CPU's
        // one-shot timer is set for its earliest deadline).
        let stack = SCRATCH + 0x4000;
        let Some(spinner) = start_thread(me, SPINNER, SPINNER_UTCB, Some(spinner_main), stack, 1) else {
            t.failed += 1;
            return;
        };
        let before = svc(Syscall::SystemClock.number(), [0; 8]);
        let recv = Timeouts { send: Timeout::Zero, receive: Timeout::Micros(TIMEOUT_US) }.pack();
        let r = svc(Syscall::Ipc.number(), [0, u64::MAX, recv, 0, 0, 0, 0, 0]);
        let after = svc(Syscall::SystemClock.number(), [0; 8]);
        let want_ticks = u64::from(TIMEOUT_US) * before[2] / 1_000_000;
        let waited = after[1].wrapping_sub(before[1]);
        let pass = r[0] == ReceiveTimeout.code() && waited >= want_ticks;
        let got = Waited { status: r[0], us: waited * 1_000_000 / before[2].max(1) };
        t.verdict(
            "Ipc: finite receive timeout expires (20 ms)",
            pass,
            &got,
            &"ReceiveTimeout after >= 20000 us",
        );
        // The spinner goes (deleted while it runs on another CPU: that CPU finishes the
        // deletion), and the same receive must expire with every other CPU idle.
        let deleted = svc(Syscall::ThreadControl.number(), [spinner, 0, 0, 0, 0, 0, 0, 0]);
        t.status("ThreadControl: delete a running thread", deleted[0], Want::Ok);
        let before = svc(Syscall::SystemClock.number(), [0; 8]);
        let r = svc(Syscall::Ipc.number(), [0, u64::MAX, recv, 0, 0, 0, 0, 0]);
        let after = svc(Syscall::SystemClock.number(), [0; 8]);
        let waited = after[1].wrapping_sub(before[1]);
        let pass = r[0] == ReceiveTimeout.code() && waited >= want_ticks;
        let got = Waited { status: r[0], us: waited * 1_000_000 / before[2].max(1) };
        t.verdict(
            "Ipc: finite receive timeout while every CPU idles",
            pass,
            &got,
            &"ReceiveTimeout after >= 20000 us",
        );

        // Typed items need a receiver: the helper, waiting with a nil receive window.
        let stack = SCRATCH + 0x2000;
        let Some(helper) = start_thread(me, HELPER, HELPER_UTCB, Some(helper_main), stack, 255) else {
            t.failed += 1;
            return;
        };
        if helper_report(helper) != READY {
            t.failed += 1;
            return;
        }
        let page = Fpage::new(SCRATCH, 12, Rights::RW).map_or(0, |f| f.raw());
        let map = |send_base: u64, fpage: u64| {
            TypedItem::Map { send_base, fpage: Fpage::from_raw(fpage).unwrap_or(Fpage::nil()) }
                .encode()
                .unwrap_or([0, 0])
        };
        let [m0, m1] = map(0, page);
        let [g0, g1] =
            TypedItem::Grant { send_base: 0, fpage: Fpage::from_raw(page).unwrap_or(Fpage::nil()) }
                .encode()
                .unwrap_or([0, 0]);
        let items = [
            ("Ipc: typed item of unknown kind 0x3", [0x3, m1], InvalidArgument),
            ("Ipc: typed item with reserved bits 11..4", [m0 | 0x10, m1], InvalidArgument),
            ("Ipc: typed item whose fpage has reserved bits", [m0, m1 | 0x8], InvalidArgument),
            ("Ipc: typed item whose fpage has size 2^11", [m0, SCRATCH | 11 << 6 | 0b110], InvalidArgument),
            (
                "Ipc: typed item whose fpage is misaligned",
                [m0, (SCRATCH + 0x1000) | 13 << 6 | 0b110],
                InvalidArgument,
            ),
            ("Ipc: map item into a nil receive window", [m0, m1], MapRejected),
            ("Ipc: grant item into a nil receive window", [g0, g1], MapRejected),
        ];
        for (name, [w0, w1], want) in items {
            let r = svc(Syscall::Ipc.number(), [helper, 0, never, tag(0x300, 0, 2), w0, w1, 0, 0]);
            let partner = helper_report(helper);
            // Both sides of a failed transfer get the error.
            let pass = r[0] == want.code() && partner == want.code();
            let got = Both { sender: r[0], receiver: partner };
            t.verdict(name, pass, &got, &Want::Err(want));
        }

        // Halting a thread cancels its IPC: restarted, it must see Cancelled.
        let (halt, start) = (ExregsControl::HALT.raw(), ExregsControl::START.raw());
        let h = svc(Syscall::ExchangeRegisters.number(), [helper, halt, 0, 0, 0, 0, 0, 0]);
        let s = svc(Syscall::ExchangeRegisters.number(), [helper, start, 0, 0, 0, 0, 0, 0]);
        let partner = if h[0] == 0 && s[0] == 0 { helper_report(helper) } else { u64::MAX };
        t.status("Ipc: halt cancels a waiting receive", partner, Want::Err(Cancelled));
    }

    /// A status and how long it took, for messages.
    struct Waited {
        status: u64,
        us: u64,
    }

    impl fmt::Display for Waited {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{} after {} us", Status(self.status), self.us)
        }
    }

    /// The statuses of both sides of an IPC, for messages.
    struct Both {
        sender: u64,
        receiver: u64,
    }

    impl fmt::Display for Both {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "sender {}, receiver {}", Status(self.sender), Status(self.receiver))
        }
    }

    /// A child in a new (unprivileged) space makes the privileged calls and sends the
    /// statuses back; this thread is its pager meanwhile.
    fn child_space_cases(t: &mut Tally, me: u64) {
        let child = id(CHILD, 1);
        let r = svc(Syscall::ThreadControl.number(), [child, child, me, me, CHILD_UTCB, u64::MAX, 0, 0]);
        if r[0] == 0 && !group_scene(me, child) {
            t.failed += 1;
            return;
        }
        let start = (ExregsControl::START | ExregsControl::SET_SP | ExregsControl::SET_IP).raw();
        let s = svc(
            Syscall::ExchangeRegisters.number(),
            [child, start, CHILD_STACK_TOP, child_main as *const () as u64, 0, 0, 0, 0],
        );
        if r[0] != 0 || s[0] != 0 {
            println!("badargs: cannot start the child space: {} / {}", Status(r[0]), Status(s[0]));
            t.failed += 1;
            return;
        }
        let image = (&raw const __program_start as u64)..(&raw const __program_end as u64);
        let (mut reply_to, mut reply) = (0u64, [0u64; 3]);
        let mut stack_pages = 0;
        loop {
            let r = svc(
                Syscall::Ipc.number(),
                [reply_to, child, Timeouts::NEVER.pack(), reply[0], reply[1], reply[2], 0, 0],
            );
            let label = Tag::from_raw(r[3]).map_or(0, |t| t.label());
            if r[0] != 0 {
                println!("badargs: child space: ipc {}", Status(r[0]));
                t.failed += 1;
                return;
            }
            reply_to = r[1];
            if label & !abi::fault::PAGE_FAULT_ACCESS_MASK == abi::fault::PAGE_FAULT_LABEL {
                let page = r[4] & !0xFFF;
                let fpage = if image.contains(&page) {
                    Fpage::new(page, 12, Rights::RX)
                } else if (CHILD_STACK_TOP - 0x8_0000..CHILD_STACK_TOP).contains(&page) && stack_pages < 16 {
                    let scratch = SCRATCH + 0x1000_0000 + stack_pages * 0x1000;
                    stack_pages += 1;
                    let m = svc(Syscall::MemoryControl.number(), [0, 0, scratch, RW_NEAREST, 0, 0, 0, 0]);
                    if m[0] != 0 {
                        println!("badargs: no stack page for the child: {}", Status(m[0]));
                        t.failed += 1;
                        return;
                    }
                    Fpage::new(scratch, 12, Rights::RW)
                } else {
                    println!("badargs: the child faulted at {:#x} (ip {:#x}): not served", r[4], r[5]);
                    t.failed += 1;
                    return;
                };
                let item = fpage.ok().map(|f| TypedItem::Map { send_base: page, fpage: f }.encode());
                let Some(Ok([w0, w1])) = item else {
                    t.failed += 1;
                    return;
                };
                reply = [tag(0, 0, 2), w0, w1];
            } else if label == RESULTS {
                // Eight statuses a word, in MR1..MR3.
                let mut statuses = [0u64; 24];
                for (i, s) in statuses.iter_mut().enumerate() {
                    *s = (r[4 + i / 8] >> (8 * (i % 8))) & 0xFF;
                }
                judge_unprivileged(t, &statuses[..UNPRIVILEGED.len()]);
                judge_group(t, &statuses[UNPRIVILEGED.len()..UNPRIVILEGED.len() + GROUP_CASES.len()]);
                group_scene_gone(me);
                return;
            } else {
                println!("badargs: unexpected message from the child, label {label:#x}");
                t.failed += 1;
                return;
            }
        }
    }

    /// The child: runs this program's code in a space of its own without privilege;
    /// stack only, no statics (its data pages are this program's, read-only).
    extern "C" fn child_main(utcb: u64) -> ! {
        // SAFETY: the kernel maps this thread's UTCB at `utcb` and wrote its id there.
        let me = unsafe {
            core::ptr::read_volatile((utcb as usize + abi::utcb::MY_GLOBAL_ID_OFFSET) as *const u64)
        };
        let root = ThreadId::ROOT.raw();
        // The group's cases first: the unprivileged list ends with an escalation
        // attempt that must not have worked when they run.
        let group = group_calls(me);
        let statuses = unprivileged_calls(me, root);
        let mut packed = [0u64; 3];
        for (i, s) in statuses.iter().chain(group.iter()).enumerate() {
            packed[i / 8] |= (s & 0xFF) << (8 * (i % 8));
        }
        let never = Timeouts::NEVER.pack();
        let _ = svc(
            Syscall::Ipc.number(),
            [root, 0, never, tag(RESULTS, 3, 0), packed[0], packed[1], packed[2], 0],
        );
        loop {
            let _ = svc(Syscall::Ipc.number(), [0, root, never, 0, 0, 0, 0, 0]);
        }
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
use user::badargs;

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn badargs(_utcb: rt::UtcbAddr) -> ! {
    unreachable!("the host build only type-checks the entry")
}
