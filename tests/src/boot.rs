// SPDX-License-Identifier: MIT OR Apache-2.0
//! The QEMU boot-test matrix and what each boot must show.
//!
//! Host unit tests prove the pieces; these tests prove that the pieces work together on the
//! target. Each entry boots the real kernel Image on one machine shape (a NUMA topology, an
//! entry exception level, a loader) and then judges the captured serial output:
//!
//! * a good boot exits through semihosting with status 0, prints the `report: boot` line with
//!   the expected entry level, prints the `numactl --hardware` block computed from the spec
//!   (see `numactl.rs`; with numactl's `free:` lines, whose numbers are checked against the
//!   memory reports), prints `report: boot result=pass`, and never `panic:` or `exception:`;
//! * it also reports what it made of the machine, and each report must agree with the spec:
//!   - `report: smp online=N expected=M`: N is QEMU's CPU count, M the device tree's (equal
//!     unless a test added a CPU QEMU cannot start, which must then be named in a
//!     `warning: cpu K (mpidr 0x..) did not start: PSCI CPU_ON returned -2 ...` line);
//!   - `report: numa-selftest checks=C failed=0 pings=A/A`: every check passed, every other
//!     online CPU answered (A = N - 1), and at least four checks ran per CPU. With
//!     `numa-selftest=off` on the command line there must be no such line at all;
//!   - `report: memory node=K total_kib= reserved_kib= kernel_kib= free_kib= fallbacks=`:
//!     one per node; the total is the node's size and is exactly reserved + kernel + free;
//!     a memory-less node with CPUs must have served them from elsewhere (`fallbacks` > 0);
//!     and the node's numactl `free:` line says `free_kib / 1024` MB (numactl's bytes >> 20);
//! * a deliberate failure (`selftest=panic`, `selftest=fault`) exits with a non-zero status and
//!   prints the diagnostics a developer would need: the source location of the panic and a
//!   backtrace, or the exception class with FAR, ELR and the CPU.
//!
//! Every check that fails is reported, not only the first, so one run tells the whole story.
//! The judging is pure (`check` takes text and an [`Ending`]) and unit-tested below.

#![forbid(unsafe_code)]

use crate::dtb::{DtbEdit, ExtraCpu};
use crate::failures::{DeclCase, ElfCase, InitrdCase};
use crate::numactl::{FreeLines, Layout, describe_mismatch, find_block, match_block};
use crate::qemu::{Boot, Machine, QemuConfig, UBOOT_BIOS};
use crate::runner::Ending;
use crate::symbolize::parse_frame;
use crate::topology::Topology;
use report::{Report, parse_u64};
use std::path::Path;

/// Where QEMU's own loader puts a flat Image (`-kernel` without firmware).
pub const QEMU_LOAD_PA: u64 = 0x4020_0000;

/// What a boot must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// A clean boot that prints the topology and passes.
    Pass {
        /// The exception level the kernel must report it was entered at.
        entry_el: u8,
        /// The kernel must report a `load_pa` other than this (a different loader was used).
        load_pa_not: Option<u64>,
    },
    /// `selftest=panic`: a panic with a location and a backtrace, non-zero exit.
    Panic,
    /// `selftest=fault`: a data abort report with FAR, ELR and CPU, non-zero exit.
    Fault,
    /// A boot that must stop (`failures.rs`): with exactly `status`, a line that starts
    /// with `line` and contains `named`, the kernel's `report: halt status=STATUS
    /// cause=...` line, and never `report: boot result=pass` unless `after_boot`.
    Stop {
        /// The exit status (the kernel's, `kernel/src/halt.rs`).
        status: i32,
        /// How the line that names the cause starts (`fatal: `, `root: ` ...).
        line: &'static str,
        /// Words that line must contain.
        named: &'static str,
        /// Whether the kernel's own boot passes first (the stop comes at user level).
        after_boot: bool,
    },
    /// `qemu-run` refuses to start QEMU: `status` (its own, `cli::status`) and a line
    /// on its standard error that contains `named`.
    Refused {
        /// `qemu-run`'s exit status.
        status: i32,
        /// Words its complaint must contain.
        named: &'static str,
    },
    /// A board with a piece the kernel lacks: a `fatal: unsupported PIECE:NAME` line
    /// containing this text, exit status [`UNSUPPORTED_BOARD_STATUS`], before any
    /// CPU is started or the GIC touched (no `report: smp`), nothing else fatal.
    Unsupported(&'static str),
}

/// The kernel's exit status for a board it lacks a driver for
/// (`kernel/src/halt.rs`, `Halt::UnsupportedBoard`).
pub const UNSUPPORTED_BOARD_STATUS: i32 = 9;

/// One boot test.
#[derive(Debug, Clone)]
pub struct BootTest {
    /// Name printed in the `ok NAME` / `FAILED NAME` line and matched by `--filter`.
    pub name: &'static str,
    /// What QEMU runs.
    pub config: QemuConfig,
    /// What the output must show.
    pub expect: Expect,
    /// CPUs added to QEMU's device tree before the boot (see `dtb.rs`); the test then boots
    /// with `-dtb` and the edited tree. Empty for the tests that take QEMU's tree as it is.
    pub extra_cpus: Vec<ExtraCpu>,
    /// The user program to boot as the root task instead of `pagers/root`: boot-tests
    /// packs an initrd whose `root` entry is that program's ELF (from the user-program
    /// directory) and judges the program's `report:` lines ([`ROOT_PROGRAMS`]) instead
    /// of the root task's. `None`: the shared initrd (`--initrd`), if any.
    pub root_program: Option<&'static str>,
    /// Empty entries packed next to the root program: flags it reads from the initrd
    /// (`single-space`: numademo's baseline).
    pub root_flags: &'static [&'static str],
    /// Press QEMU's power button (`system_powerdown` over a QMP socket) when a line of
    /// output starts with this.
    pub powerdown_on: Option<&'static str>,
    /// End QEMU (QMP `quit`) when a line starts with this: a board without PSCI, whose
    /// kernel parks its CPU after the halt line, for nothing else could end the run. The
    /// halt line must then be `report: halt status=0 cause=pass` and the last line.
    pub quit_on: Option<&'static str>,
    /// A boot of `pagers/root` with programs of the test's choosing, ending with the
    /// root task's orderly shutdown: boot-tests packs an initrd of `root` and these
    /// programs, and judges the shutdown's reports ([`Supervised`]). `None`: not such a
    /// test.
    pub supervised: Option<Supervised>,
    /// A boot of `pagers/root` running NUMA programs under the runtime
    /// (`pagers/numa-pager`) from a manifest ([`NumaRun`]). `None`: not such a test.
    pub numa: Option<NumaRun>,
    /// A device tree of the test's own, from QEMU's: boot-tests writes it (see
    /// `dtb.rs`) and boots with `-dtb` (after any `extra_cpus`' edit).
    pub dtb_edit: Option<DtbEdit>,
    /// An initrd broken for the test (`failures.rs`), built from the real programs.
    pub initrd_case: Option<InitrdCase>,
    /// Boot through `qemu-run` (what `scripts/run` runs) instead of QEMU directly: the
    /// tests of the runner's own part (refusing a bad initrd, the status after a PSCI
    /// power-off). Only for the demo topology, which is `qemu-run`'s default.
    pub via_runner: bool,
    /// The most the boot may take, when less than boot-tests' `--timeout`: a failure
    /// must end promptly, not merely before the general deadline.
    pub deadline: Option<std::time::Duration>,
    /// The least time the boot is given, when more than `--timeout`: a soak test's
    /// long run.
    pub at_least: Option<std::time::Duration>,
}

/// A boot whose root task (`pagers/root`) supervises [`Supervised::programs`] and ends
/// with the orderly shutdown (`pagers/root/src/shutdown.rs`): the root's own checks
/// must pass, each program must print its reports (see [`check_supervised`]), and the
/// shutdown must report exactly these numbers before the power-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supervised {
    /// The user programs packed beside `root`, under their own names.
    pub programs: &'static [&'static str],
    /// `report: shutdown told=`.
    pub told: u64,
    /// `acknowledged=`.
    pub acknowledged: u64,
    /// `timed-out=`.
    pub timed_out: u64,
    /// The exit status the root powers off with: its failed programs (a program that
    /// did not answer the notice is one).
    pub status: i32,
}

/// A boot of `pagers/root` that runs NUMA programs (written with `pagers/numa-rt`)
/// under the runtime (`pagers/numa-pager`), as `scripts/run --program` does:
/// boot-tests packs `root`, `numa-pager`, the programs and the manifest. The run must
/// pass [`check_numa_run`]: every run's `report: numa-program ... result=pass` with
/// its code and pager spaces local and no stale mapping, each program's own `report:
/// NAME ... result=ok`, every node's memory back (`report: memory-balance ...
/// leaked_kib=0`), and `report: programs ran=RUNS failed=0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumaRun {
    /// The NUMA programs packed beside `root` and `numa-pager`.
    pub programs: &'static [&'static str],
    /// The manifest: the initrd's `programs` entry (`pagers/root/src/manifest.rs`).
    pub manifest: &'static str,
    /// The runs the manifest makes (each a `report: numa-program` line).
    pub runs: u64,
    /// Programs packed under these names with a broken declaration: `hist`'s ELF, its
    /// declaration broken as the case says.
    pub broken: &'static [(&'static str, DeclCase)],
    /// Runs that must fail, by the program's name, with the words of their `error=`
    /// (blanks as `_`), while the others pass: the root counts them failed (`report:
    /// user-level result=fail status=N`) and the kernel ends with status 1.
    pub refused: &'static [(&'static str, &'static str)],
    /// Programs (ordinary ones, packed too) that must be given up by the root's silence
    /// limit: `root: NAME: silent for 10 s: given up` and `report: program name=NAME
    /// status=timeout`, each one failure of the run.
    pub given_up: &'static [&'static str],
    /// The least global map and unmap operations the runs must make together (the
    /// runtime's table misses, `global-faults=`, plus the pages it unmapped,
    /// `unmaps=`, over every `report: numa-program`): a soak test that says how much
    /// it soaked. 0: not counted.
    pub operations: u64,
}

/// What `numa-bad-declarations` expects of its three broken programs.
const BAD_DECLARATIONS_REFUSED: &[(&str, &str)] = &[
    ("bad-kind", DeclCase::UnknownKind.error()),
    ("bad-overlap", DeclCase::Overlap.error()),
    ("bad-no-cpus", DeclCase::NoCpus.error()),
];

/// The soak test's manifest (boot test `numa-soak`): `churn` with 521 rounds of 64
/// pages mapped on two nodes and unmapped (66,688 maps, 33,344 unmaps: 100,032
/// operations, [`SOAK_OPERATIONS`] asked), then 1,000 starts and exits of it.
pub const SOAK_MANIFEST: &str = "churn rounds=521\nchurn *1000\n";

/// The global map and unmap operations the soak test must make (issue 14: 100,000).
pub const SOAK_OPERATIONS: u64 = 100_000;

/// The programs a boot test may run as the root task, each judged by its reports:
/// - `badargs` (`pagers/badargs`): every documented error of every syscall; must
///   report `failed=0` over at least 100 cases (known kernel bugs are listed apart,
///   `known-failures=`, and do not fail it);
/// - `fuzz` (`pagers/fuzz`): at least 100,000 random syscalls, no status outside the
///   ABI's errors, and the kernel still answering afterwards (`kernel-responsive=yes`);
/// - `irqtest` (`pagers/irqtest`): a user-level driver of QEMU virt's PL031 RTC; its
///   interrupt must arrive as IPC, and the user timer's too (`report: irq ... delivered=yes
///   user-timer=yes checks-failed=0`),
///   and a driver that never acknowledges and faults must be contained (`report:
///   irq-contained fault-to-pager=true masked=true recovered=true`).
///
/// - `l4test` (`pagers/l4test`): map, remap and recursive unmap across three spaces
///   checked by faults, unmap of a page in use on another node, preemption by priority,
///   round robin, a dead pager, a dead partner, FP/SIMD state, exceptions, grant, a
///   map over the receiver's quota, a map back onto its source, moving a running thread, IPC on one CPU and across CPUs, faults served on the
///   root's CPU (`report: l4test checks= failed=0`, every one of [`L4TEST_SCENARIOS`]
///   `=pass`, and `report: fastpath` with each of the kernel's fast paths run).
///
/// - `numademo` (`pagers/numademo`): the paper at user level, per-node spaces and pagers,
///   replicated code, a lazy global region, a migration, a global unmap (`report:
///   numa-demo ... result=pass` with every code page local, global faults within their
///   bound, stale=0, one unmap, one migration when there are two nodes). Also on four
///   nodes of one CPU (`numademo-4-nodes`).
///
/// - `rttest` (`pagers/rttest`): hard real time at user level on one CPU: sleeps,
///   a periodic timer, IPC deadlines, a `DelayNs` that sleeps, and priority inheritance
///   with a high-priority client, a medium-priority spinner and low-priority servers
///   (`report: rttest checks= failed=0`, every one of [`RTTEST_SCENARIOS`] `=pass`).
///
/// - `smpstress` (`pagers/smpstress`): every CPU at once, each result checked: threads
///   made in new spaces on other CPUs, IPC across CPUs and on one CPU, a frame mapped
///   into every space and revoked from all of them while they use it, grants, moves,
///   deletion of threads and spaces (`report: smpstress ops= failed=0 leaked-kib=0
///   result=pass` with at least [`SMPSTRESS_OPS`] operations). Also on four nodes of two
///   CPUs (`smpstress-8-cpus`). Measured: 33 s on 4 CPUs, 50 s on 8, with a benchmark
///   running beside them on the two host cores.
///
/// All must end with status 0 and `report: user-level result=pass`. (The power-button
/// driver, `pagers/powerbtn`, runs under `pagers/root` instead: the boot test
/// `powerbtn`, a [`Supervised`] boot.)
pub const ROOT_PROGRAMS: [&str; 7] =
    ["badargs", "fuzz", "irqtest", "l4test", "numademo", "rttest", "smpstress"];

/// The operations `smpstress` must make, at least (its `TOTAL_OPS`: issue 15 asks for
/// 10^6, which does not fit a boot test's time under TCG on two host cores; see
/// `pagers/smpstress`).
pub const SMPSTRESS_OPS: u64 = 250_000;

/// How long an `smpstress` boot may take: three times what it took under TCG (50 s on
/// 8 CPUs, with a benchmark running beside it on two host cores).
pub const SMPSTRESS_TIME: std::time::Duration = std::time::Duration::from_secs(150);

/// The most fuzzing threads `fuzz` runs (`MAX_FUZZERS` in `pagers/fuzz`): one per CPU
/// up to this many.
pub const FUZZERS_MAX: u64 = 16;

/// The scenarios `rttest` reports (`report: rttest NAME=pass`); each must pass.
pub const RTTEST_SCENARIOS: [&str; 6] =
    ["sleep", "sleep-until", "periodic", "ipc-deadline", "delay-sleeps", "pi"];

/// The scenarios `l4test` reports (`report: l4test NAME=pass`); each must pass.
pub const L4TEST_SCENARIOS: [&str; 16] = [
    "map-unmap",
    "unmap-in-use",
    "preemption",
    "dead-pager",
    "dead-partner",
    "fp-state",
    "exception",
    "grant",
    "quota",
    "map-back",
    "move-running",
    "same-cpu",
    "same-cpu-pager",
    "notify",
    "move-space",
    "cross-cpu",
];

/// The bootarg that makes every `cpu-map` cluster a NUMA node.
pub const NUMA_CLUSTERS_BOOTARG: &str = "numa=clusters";
/// The bootarg that skips the kernel's NUMA self-test.
pub const SELFTEST_OFF_BOOTARG: &str = "numa-selftest=off";
/// The bootarg that keeps one copy of the kernel text (no per-node replicas).
pub const KTEXT_SHARED_BOOTARG: &str = "ktext=shared";

impl BootTest {
    /// A test of QEMU's machine as the config describes it.
    pub fn new(name: &'static str, config: QemuConfig, expect: Expect) -> BootTest {
        BootTest {
            name,
            config,
            expect,
            extra_cpus: Vec::new(),
            root_program: None,
            root_flags: &[],
            powerdown_on: None,
            quit_on: None,
            supervised: None,
            numa: None,
            dtb_edit: None,
            initrd_case: None,
            via_runner: false,
            deadline: None,
            at_least: None,
        }
    }

    /// The exit status a passing boot ends with: 0, or a supervised boot's own.
    pub fn expected_status(&self) -> i32 {
        match (self.supervised, self.numa) {
            (Some(s), _) => s.status,
            // The kernel's status for a failed user level (`halt::Halt::UserLevelFailed`).
            (None, Some(n)) => i32::from(!n.refused.is_empty() || !n.given_up.is_empty()),
            (None, None) => 0,
        }
    }

    fn has_bootarg(&self, word: &str) -> bool {
        self.config.bootargs().split_whitespace().any(|w| w == word)
    }

    /// The machine the kernel should see: the spec, the cluster rule when the command line
    /// has `numa=clusters`, plus the CPUs added to the device tree.
    pub fn layout(&self) -> Layout {
        let mut layout = if self.has_bootarg(NUMA_CLUSTERS_BOOTARG) {
            Layout::from_clusters(&self.config.topology)
        } else {
            Layout::from_spec(&self.config.topology)
        };
        for cpu in &self.extra_cpus {
            layout.add_cpu(cpu.node);
        }
        layout
    }

    /// True unless the command line turns the NUMA self-test off.
    pub fn selftest_runs(&self) -> bool {
        !self.has_bootarg(SELFTEST_OFF_BOOTARG)
    }

    /// Where the kernel should say the board came from: `acpi` on a UEFI boot with ACPI
    /// on, else `dt` (`report: firmware table=...`).
    pub fn firmware_table(&self) -> &'static str {
        match self.config.boot {
            Boot::Uefi { acpi: true, .. } => "acpi",
            _ => "dt",
        }
    }

    /// The console's driver at user level: QEMU `virt`'s PL011, `raspi4b`'s mini-UART.
    pub fn console_driver(&self) -> &'static str {
        match self.config.machine {
            Machine::Virt { .. } => "pl011",
            Machine::Raspi4b { .. } => "bcm2835-aux",
        }
    }

    /// The GIC version the machine has: QEMU `virt`'s choice, a GIC-400 on `raspi4b`.
    pub fn gic_version(&self) -> u8 {
        match self.config.machine {
            Machine::Virt { gic } => gic,
            Machine::Raspi4b { .. } => 2,
        }
    }

    /// Whether every node runs its own copy of the kernel text (the default).
    pub fn ktext_replicated(&self) -> bool {
        !self.has_bootarg(KTEXT_SHARED_BOOTARG)
    }

    /// The logical id and MPIDR of each added CPU: they follow QEMU's CPUs in `/cpus`.
    pub fn extra_cpu_ids(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        let first = self.config.topology.total_cpus();
        self.extra_cpus.iter().enumerate().map(move |(i, c)| (first + i as u32, c.mpidr))
    }
}

/// The warning the kernel prints for a CPU that PSCI refuses to start because no such CPU
/// exists (`INVALID_PARAMETERS`).
pub fn cpu_not_started_warning(cpu: u32, mpidr: u64) -> String {
    format!(
        "warning: cpu {cpu} (mpidr {mpidr:#x}) did not start: PSCI CPU_ON returned -2 (INVALID_PARAMETERS)"
    )
}

fn spec(nodes: &[&str], dists: &[&str], clusters: Option<u32>) -> Topology {
    Topology::parse(nodes, dists, clusters).expect("the boot-test topologies are valid")
}

/// The deliberately large board (two GICv3 redistributor regions).
pub const LARGE_TEST: &str = "gic-two-redistributor-regions";
/// The deliberately wide board: 64 CPUs over 8 nodes.
pub const WIDE_TEST: &str = "numa-64cpu-8node";

/// The matrix, in the order it runs.
pub fn matrix(image: &Path) -> Vec<BootTest> {
    let config = |topology: Topology| QemuConfig::new(topology, image);
    let pass = Expect::Pass { entry_el: 1, load_pa_not: None };
    let single = || spec(&["cpus=1,mem=512M"], &[], None);
    let with_append = |topology: Topology, arg: &str| {
        let mut c = config(topology);
        c.append.push(arg.to_string());
        c
    };
    let mut tests = vec![
        BootTest::new("single-node-1cpu", config(single()), pass.clone()),
        BootTest::new("numa-2x2", config(Topology::demo()), pass.clone()),
        BootTest::new(
            "numa-2x2-no-distance-map",
            config(spec(&["cpus=2,mem=512M"; 2], &[], None)),
            pass.clone(),
        ),
        BootTest::new(
            "numa-4-asymmetric",
            config(spec(
                &["cpus=1,mem=256M"; 4],
                &["0-1=15", "1-0=25", "0-2=30", "2-0=40", "0-3=40", "1-2=35", "1-3=30", "2-3=15", "3-2=18"],
                None,
            )),
            pass.clone(),
        ),
        BootTest::new(
            "numa-memoryless-node",
            config(spec(
                &["cpus=2,mem=512M", "cpus=1,mem=0", "cpus=1,mem=256M"],
                &["0-1=15", "1-0=25"],
                None,
            )),
            pass.clone(),
        ),
        BootTest::new(
            "numa-cpuless-node",
            config(spec(
                &["cpus=2,mem=256M", "cpus=0,mem=256M", "cpus=2,mem=256M"],
                &["0-1=30", "1-2=30", "0-2=20"],
                None,
            )),
            pass.clone(),
        ),
        BootTest::new(
            "numa-clusters",
            config(spec(&["cpus=2,mem=256M"; 2], &["0-1=20"], Some(2))),
            pass.clone(),
        ),
        // A board without NUMA data whose clusters the kernel turns into nodes: QEMU gets no
        // -numa at all, only `-smp 4,sockets=1,clusters=2,cores=2`.
        BootTest::new(
            "numa-clusters-mode",
            with_append(spec(&["cpus=4,mem=512M"], &[], Some(2)), NUMA_CLUSTERS_BOOTARG),
            pass.clone(),
        ),
        // The largest machine of the matrix: 16 CPUs, every pair of nodes asymmetric.
        BootTest::new(
            "numa-16cpu-4node",
            config(spec(
                &["cpus=4,mem=256M"; 4],
                &[
                    "0-1=12", "1-0=14", "0-2=22", "2-0=24", "0-3=32", "3-0=34", "1-2=16", "2-1=18", "1-3=26",
                    "3-1=28", "2-3=11", "3-2=13",
                ],
                None,
            )),
            pass.clone(),
        ),
        // QEMU's 2x2 tree plus cpu@4 on node 1, an MPIDR QEMU has no vCPU for: PSCI refuses
        // to start it, and the kernel must warn and go on with four.
        BootTest {
            extra_cpus: vec![ExtraCpu { mpidr: 4, node: 1 }],
            ..BootTest::new("cpu-fails-to-start", config(Topology::demo()), pass.clone())
        },
        BootTest::new("numa-selftest-off", with_append(Topology::demo(), SELFTEST_OFF_BOOTARG), pass.clone()),
        BootTest::new("ktext-shared", with_append(Topology::demo(), KTEXT_SHARED_BOOTARG), pass.clone()),
        // The one deliberately large board: above 123 CPUs QEMU puts the GICv3
        // redistributors in a second region, which every CPU must search to find its
        // own frame. About a second of boot on 2 host cores.
        BootTest::new(LARGE_TEST, config(spec(&["cpus=65,mem=256M"; 2], &["0-1=20"], None)), pass.clone()),
        // The other deliberately large board: a server's shape, 8 sockets of 8 CPUs,
        // every node its own kernel text (7 copies) and memory. About 1.5 s of boot.
        BootTest::new(WIDE_TEST, config(spec(&["cpus=8,mem=128M"; 8], &[], None)), pass.clone()),
    ];
    // A GICv2 (QEMU `virt,gic-version=2`, as a GIC-400 board has): the same 2-node
    // board, SGIs by CPU-interface bit, the tick, the root task's user level; and the
    // user-level driver test: an SPI delivered as IPC, the user timer too.
    let gic_v2 = || {
        let mut c = config(Topology::demo());
        c.machine = Machine::Virt { gic: 2 };
        c
    };
    tests.push(BootTest::new("gic-v2", gic_v2(), pass.clone()));
    tests.push(BootTest {
        root_program: Some("irqtest"),
        ..BootTest::new("gic-v2-irqtest", gic_v2(), pass.clone())
    });
    // The Raspberry Pi 4 Model B (QEMU 10's raspi4b, Linux's bcm2711-rpi-4-b.dtb): a
    // GIC-400, four CPUs released from the firmware's spin-table, the console on the
    // BCM2835 mini-UART behind the /soc bus's ranges, entered at EL2, loaded at
    // 0x20_0000 (the board's RAM starts at 0), user level with its console driver on
    // the mini-UART.
    let mut rpi4 = config(spec(&[crate::qemu::RASPI4B_TOPOLOGY], &[], None));
    rpi4.machine = Machine::Raspi4b { dtb: crate::qemu::rpi4_dtb() };
    rpi4.qemu = crate::qemu::qemu10_bin().display().to_string();
    rpi4.qemu_data = Some(crate::qemu::qemu10_data());
    let rpi4_pass = Expect::Pass { entry_el: 2, load_pa_not: Some(QEMU_LOAD_PA) };
    tests.push(BootTest::new("raspi4b", rpi4.clone(), rpi4_pass.clone()));
    // As a real Pi 4 ends: `exit=psci` (the default on hardware) on a board without
    // PSCI prints the halt line and parks the CPU; the test ends QEMU on that line.
    rpi4.append.push("exit=psci".into());
    tests.push(BootTest {
        quit_on: Some("report: halt"),
        ..BootTest::new("raspi4b-halt-without-psci", rpi4, rpi4_pass)
    });
    let mut el2 = config(Topology::demo());
    el2.el2 = true;
    tests.push(BootTest::new("el2-entry", el2, Expect::Pass { entry_el: 2, load_pa_not: None }));
    // The robustness tests run as the root task on a small two-node machine (2 CPUs
    // each: helper threads run on other CPUs). About 1 s and 2 s of boot.
    for program in ROOT_PROGRAMS {
        tests.push(BootTest {
            root_program: Some(program),
            // The fuzzer's storm takes 5-12 s alone, more on a loaded host; smpstress
            // is a long run of its own (SMPSTRESS_TIME).
            at_least: match program {
                "fuzz" => Some(std::time::Duration::from_secs(90)),
                "smpstress" => Some(SMPSTRESS_TIME),
                _ => None,
            },
            ..BootTest::new(program, config(spec(&["cpus=2,mem=256M"; 2], &[], None)), pass.clone())
        });
    }
    // The fuzzer from eight CPUs on four nodes at once (a fuzzing thread on each):
    // 14 s alone, 35 s seen on a loaded host (eight vCPUs on two host cores).
    tests.push(BootTest {
        root_program: Some("fuzz"),
        at_least: Some(std::time::Duration::from_secs(120)),
        ..BootTest::new("fuzz-8-cpus", config(spec(&["cpus=2,mem=256M"; 4], &[], None)), pass.clone())
    });
    // The concurrency stress on eight CPUs over four nodes.
    tests.push(BootTest {
        root_program: Some("smpstress"),
        at_least: Some(SMPSTRESS_TIME),
        ..BootTest::new("smpstress-8-cpus", config(spec(&["cpus=2,mem=256M"; 4], &[], None)), pass.clone())
    });
    // The orderly shutdown: the root task runs the power-button driver and a program
    // that wants to be told; the test presses the button (QMP `system_powerdown`) when
    // the driver is ready. A request that comes while the root is still starting
    // programs waits for the start-up to end, so the listener is always told.
    tests.push(BootTest {
        supervised: Some(Supervised {
            programs: &["powerbtn", "shutdownlistener"],
            told: 1,
            acknowledged: 1,
            timed_out: 0,
            status: 0,
        }),
        powerdown_on: Some("report: powerbtn ready"),
        ..BootTest::new("powerbtn", config(spec(&["cpus=2,mem=256M"; 2], &[], None)), pass.clone())
    });
    // Its timeout path: a program that never answers the notice. Without a driver
    // nobody can ask, so the root shuts down itself once the program is resident; it
    // waits out its deadline (3 s) and powers off with one failed program.
    tests.push(BootTest {
        supervised: Some(Supervised {
            programs: &["shutdownhang"],
            told: 1,
            acknowledged: 0,
            timed_out: 1,
            status: 1,
        }),
        ..BootTest::new("shutdown-timeout", config(spec(&["cpus=2,mem=256M"; 2], &[], None)), pass.clone())
    });
    tests.push(BootTest {
        root_program: Some("numademo"),
        ..BootTest::new("numademo-4-nodes", config(spec(&["cpus=1,mem=128M"; 4], &[], None)), pass.clone())
    });
    // The same work in one node-spanning space with one pager: the paper's baseline.
    tests.push(BootTest {
        root_program: Some("numademo"),
        root_flags: &["single-space"],
        ..BootTest::new(
            "numademo-single-space",
            config(spec(&["cpus=2,mem=256M"; 2], &[], None)),
            pass.clone(),
        )
    });
    // The NUMA runtime (pagers/numa-pager) running ordinary programs from a manifest,
    // as `scripts/run --program` does: per-node spaces and pagers, then the paper's
    // baseline (one space, one pager) in the same boot; every frame back at the end.
    tests.push(BootTest {
        numa: Some(NumaRun {
            programs: &["sweep", "stencil", "kvstore"],
            manifest: "sweep\nstencil\nkvstore\nsweep mode=single-space\nstencil mode=single-space\nkvstore mode=single-space\n",
            runs: 6,
            broken: &[],
            refused: &[],
            given_up: &[],
            operations: 0,
        }),
        ..BootTest::new("numa-programs", config(spec(&["cpus=2,mem=256M"; 2], &[], None)), pass.clone())
    });
    // Boards nobody tuned for: the boot node without memory (its space, pager and
    // threads' memory come from the nearest node), a node without CPUs, four nodes
    // with asymmetric distances.
    for (name, nodes, dist) in [
        (
            "numa-programs-memoryless-boot-node",
            &["cpus=1,mem=0", "cpus=2,mem=256M", "cpus=1,mem=256M"][..],
            &["0-1=15", "1-0=25", "0-2=30", "2-0=30"][..],
        ),
        (
            "numa-programs-cpuless-node",
            &["cpus=2,mem=256M", "cpus=0,mem=256M", "cpus=2,mem=256M"][..],
            &[][..],
        ),
        // More nodes than the old runtime's limit of 8, one of them memory-less (its CPU
        // runs threads, its space's memory from the nearest node). 9 vCPUs: deliberate.
        (
            "numa-programs-9-nodes",
            &[
                "cpus=1,mem=64M",
                "cpus=1,mem=64M",
                "cpus=1,mem=64M",
                "cpus=1,mem=64M",
                "cpus=1,mem=0",
                "cpus=1,mem=64M",
                "cpus=1,mem=64M",
                "cpus=1,mem=64M",
                "cpus=1,mem=64M",
            ][..],
            &[][..],
        ),
        (
            "numa-programs-4-nodes",
            &["cpus=1,mem=128M"; 4][..],
            &["0-1=15", "1-0=25", "0-2=30", "2-0=40", "0-3=40", "1-2=35", "1-3=30", "2-3=15", "3-2=18"][..],
        ),
    ] {
        tests.push(BootTest {
            numa: Some(NumaRun {
                programs: &["sweep", "stencil", "kvstore", "hist"],
                manifest: "sweep\nstencil\nkvstore\nhist\n",
                runs: 4,
                broken: &[],
                refused: &[],
                given_up: &[],
                operations: 0,
            }),
            // Nine vCPUs on a small host: 17 s alone, more when the host is busy.
            at_least: (nodes.len() > 4).then_some(std::time::Duration::from_secs(120)),
            ..BootTest::new(name, config(spec(nodes, dist, None)), pass.clone())
        });
    }
    // A program started beside the next (`&`) is waited for at the end, but not for
    // ever: silent for the root's limit (10 s), it is given up and its memory taken
    // back; the run ends with one failure.
    tests.push(BootTest {
        numa: Some(NumaRun {
            programs: &["silent", "hist"],
            manifest: "silent &\nhist\n",
            runs: 1,
            broken: &[],
            refused: &[],
            given_up: &["silent"],
            operations: 0,
        }),
        at_least: Some(std::time::Duration::from_secs(60)),
        ..BootTest::new("silent-program", config(spec(&["cpus=2,mem=256M"; 2], &[], None)), pass.clone())
    });
    // Programs at once (`&`): each with its own spaces, pagers and server, all four
    // running together on two nodes.
    tests.push(BootTest {
        numa: Some(NumaRun {
            programs: &["sweep", "stencil", "kvstore", "hist"],
            manifest: "sweep &\nstencil &\nkvstore &\nhist\n",
            runs: 4,
            broken: &[],
            refused: &[],
            given_up: &[],
            operations: 0,
        }),
        ..BootTest::new(
            "numa-programs-together",
            config(spec(&["cpus=2,mem=512M"; 2], &[], None)),
            pass.clone(),
        )
    });
    // Declarations the runtime must refuse, each by name, while the run goes on: a
    // region of no known kind, overlapping regions, threads on a node without CPUs;
    // then `hist`, which passes. The root powers off with the three failures.
    tests.push(BootTest {
        numa: Some(NumaRun {
            programs: &["hist"],
            manifest: "bad-kind\nbad-overlap\nbad-no-cpus\nhist\n",
            runs: 4,
            broken: &[
                ("bad-kind", DeclCase::UnknownKind),
                ("bad-overlap", DeclCase::Overlap),
                ("bad-no-cpus", DeclCase::NoCpus),
            ],
            refused: BAD_DECLARATIONS_REFUSED,
            given_up: &[],
            operations: 0,
        }),
        ..BootTest::new(
            "numa-bad-declarations",
            config(spec(&["cpus=2,mem=256M", "cpus=0,mem=256M", "cpus=2,mem=256M"], &[], None)),
            pass.clone(),
        )
    });
    // A NUMA program that deadlocks (a barrier one thread too many must reach) is given
    // up after the silence limit (`numa::proto::SILENCE_US`, 10 s), as an ordinary
    // program is, and the run goes on.
    tests.push(BootTest {
        numa: Some(NumaRun {
            programs: &["churn", "hist"],
            manifest: "churn hang\nhist\n",
            runs: 2,
            broken: &[],
            refused: &[("churn", "silent")],
            given_up: &[],
            operations: 0,
        }),
        ..BootTest::new("numa-hang", config(spec(&["cpus=1,mem=256M"; 2], &[], None)), pass.clone())
    });
    // The soak test: 100,000 global map and unmap operations across two nodes (521
    // rounds of 64 pages mapped on both, then unmapped), then 1,000 starts and exits of
    // a NUMA program; every node's memory must come back (45 s alone; allowed 900 s, as
    // it is the one boot whose length scales with a loaded host).
    tests.push(BootTest {
        numa: Some(NumaRun {
            programs: &["churn"],
            manifest: SOAK_MANIFEST,
            runs: 1001,
            broken: &[],
            refused: &[],
            given_up: &[],
            operations: SOAK_OPERATIONS,
        }),
        at_least: Some(std::time::Duration::from_secs(900)),
        ..BootTest::new("numa-soak", config(spec(&["cpus=1,mem=256M"; 2], &[], None)), pass.clone())
    });
    // Hardware the kernel lacks is named before anything touches it: QEMU's tree with
    // one piece swapped for one no driver here knows (platform::support).
    for (name, patch, fatal) in [
        (
            "unsupported-gic",
            "&{/intc@8000000} { compatible = \"apple,aic\"; };\n",
            "fatal: unsupported interrupt-controller:apple,aic",
        ),
        (
            "unsupported-timer",
            "&{/timer} { compatible = \"arm,armv7-timer\"; };\n",
            "fatal: unsupported timer:none(arm,armv8-timer)",
        ),
        (
            "unsupported-enable-method",
            "&{/cpus/cpu@1} { enable-method = \"brcm,bcm2836-smp\"; };\n",
            "fatal: unsupported enable-method:brcm,bcm2836-smp(cpu1)",
        ),
        (
            // Said on the first UART the kernel drives: the PL011.
            "unsupported-console",
            "/ { serial@9100000 { compatible = \"qcom,msm-uartdm\"; reg = <0x0 0x9100000 0x0 0x1000>; }; };\n\
             &{/chosen} { stdout-path = \"/serial@9100000\"; };\n",
            "fatal: unsupported console:qcom,msm-uartdm",
        ),
    ] {
        tests.push(BootTest {
            dtb_edit: Some(DtbEdit::Append(patch.into())),
            ..BootTest::new(name, config(spec(&["cpus=2,mem=256M"], &[], None)), Expect::Unsupported(fatal))
        });
    }
    // A tree without stdout-path: the console is the first UART the tree names (the
    // PL011), and the whole boot is seen there.
    tests.push(BootTest {
        dtb_edit: Some(DtbEdit::Append("&{/chosen} { /delete-property/ stdout-path; };\n".into())),
        ..BootTest::new(
            "console-without-stdout-path",
            config(spec(&["cpus=2,mem=256M"], &[], None)),
            pass.clone(),
        )
    });
    for (name, arg, expect) in [
        ("selftest-panic", "selftest=panic", Expect::Panic),
        ("selftest-fault", "selftest=fault", Expect::Fault),
    ] {
        tests.push(BootTest::new(name, with_append(single(), arg), expect));
    }
    // U-Boot loads the Image itself (`booti`), at another address than QEMU's loader. With
    // several memory nodes U-Boot 2023.01 hangs placing the DTB (FACTS.md), so one node.
    let mut uboot = config(spec(&["cpus=1,mem=1G"], &[], None));
    uboot.boot = Boot::Firmware(UBOOT_BIOS.into());
    tests.push(BootTest::new(
        "uboot-booti",
        uboot,
        Expect::Pass { entry_el: 1, load_pa_not: Some(QEMU_LOAD_PA) },
    ));
    // UEFI: EDK2 starts kernel/uefi-loader from a vvfat ESP (its own directory: the
    // tests run in parallel and an ESP is emptied before it is filled); the loader puts
    // the Image at the lowest free 2 MiB boundary (0x4000_0000 under EDK2), not at
    // QEMU's 0x4020_0000, and hands over EDK2's device tree (`acpi=off`).
    let mut uefi = config(spec(&["cpus=2,mem=512M", "cpus=2,mem=512M"], &[], None));
    uefi.boot = Boot::Uefi {
        loader: crate::cli::default_uefi_loader(),
        esp: crate::cli::target_dir().join("esp-boot-tests"),
        acpi: false,
    };
    tests.push(BootTest::new("uefi-dt", uefi, Expect::Pass { entry_el: 1, load_pa_not: Some(QEMU_LOAD_PA) }));
    // The same machine with ACPI on: EDK2 passes no device tree, only ACPI tables (SRAT
    // from -numa; no SLIT without --dist, so 10 / 20 as on the DT path); the loader hands
    // over a stub tree and the kernel reads the board from ACPI, same numactl block.
    let mut uefi_acpi = config(spec(&["cpus=2,mem=512M", "cpus=2,mem=512M"], &[], None));
    uefi_acpi.boot = Boot::Uefi {
        loader: crate::cli::default_uefi_loader(),
        esp: crate::cli::target_dir().join("esp-boot-tests-acpi"),
        acpi: true,
    };
    tests.push(BootTest::new(
        "uefi-acpi",
        uefi_acpi,
        Expect::Pass { entry_el: 1, load_pa_not: Some(QEMU_LOAD_PA) },
    ));
    // The GICv2 named by ACPI's MADT (GICC and GICD entries of version 2), not a tree.
    let mut uefi_acpi_v2 = config(spec(&["cpus=2,mem=512M", "cpus=2,mem=512M"], &[], None));
    uefi_acpi_v2.machine = Machine::Virt { gic: 2 };
    uefi_acpi_v2.boot = Boot::Uefi {
        loader: crate::cli::default_uefi_loader(),
        esp: crate::cli::target_dir().join("esp-boot-tests-acpi-gicv2"),
        acpi: true,
    };
    tests.push(BootTest::new(
        "uefi-acpi-gic-v2",
        uefi_acpi_v2,
        Expect::Pass { entry_el: 1, load_pa_not: Some(QEMU_LOAD_PA) },
    ));
    tests.extend(failure_matrix(image));
    tests
}

/// The failure matrix (`failures.rs`): every way a run can go wrong that a user can
/// cause, each a boot that must end with its named line and documented status within
/// [`FAILURE_DEADLINE`]; and the inputs that once hung or failed silently and now
/// boot. Statuses are `kernel/src/halt.rs`'s.
pub fn failure_matrix(image: &Path) -> Vec<BootTest> {
    let config = |topology: Topology| QemuConfig::new(topology, image);
    let small = || spec(&["cpus=2,mem=256M"; 2], &[], None);
    let deadline = Some(std::time::Duration::from_secs(FAILURE_DEADLINE));
    let stop = |status, line, named, after_boot| Expect::Stop { status, line, named, after_boot };
    let with = |name, cfg: QemuConfig, expect| BootTest { deadline, ..BootTest::new(name, cfg, expect) };
    let mut tests = Vec::new();
    // The device tree.
    let node_99 = "\n&{/cpus/cpu@0} { numa-node-id = <99>; };\n";
    tests.push(BootTest {
        dtb_edit: Some(DtbEdit::Append(node_99.into())),
        ..with("bad-dtb-node-id", config(small()), stop(2, "fatal: device tree", "NUMA node id 99", false))
    });
    // The same through scripts/run's runner with exit=psci: PSCI carries no status,
    // so qemu-run must take it from the halt line (it used to return 0).
    let mut psci = config(Topology::demo());
    psci.append.push("exit=psci".into());
    tests.push(BootTest {
        dtb_edit: Some(DtbEdit::Append(node_99.into())),
        via_runner: true,
        ..with("exit-psci-bad-dtb", psci.clone(), stop(2, "fatal: device tree", "NUMA node id 99", false))
    });
    tests.push(BootTest {
        via_runner: true,
        ..with("exit-psci-pass", psci, Expect::Pass { entry_el: 1, load_pa_not: None })
    });
    // A tree dumped by QEMU and passed back by file: QEMU declares it twice its size
    // plus slack (over 2 MiB); the kernel maps what it uses and boots.
    tests.push(BootTest {
        dtb_edit: Some(DtbEdit::AsDumped),
        ..with(
            "dtb-by-file",
            config(spec(&["cpus=4,mem=512M"], &[], None)),
            Expect::Pass { entry_el: 1, load_pa_not: None },
        )
    });
    // Garbage on the command line: named and ignored.
    tests.push(with(
        "garbage-bootargs",
        QemuConfig {
            append: vec!["%%%".into(), "=x".into(), "numa=bogus".into(), "exit=".into()],
            ..config(small())
        },
        Expect::Pass { entry_el: 1, load_pa_not: None },
    ));
    // The initrd and the root task.
    let no_root = "fatal: root task: ";
    for (case, named) in [
        (InitrdCase::Garbage, "the initrd is not a usable archive: cpio"),
        (InitrdCase::Truncated, "the initrd is not a usable archive: cpio"),
        (InitrdCase::NoRoot, "the initrd has no `root` entry"),
    ] {
        tests.push(BootTest {
            initrd_case: Some(case),
            ..with(case.test_name(), config(small()), stop(6, no_root, named, true))
        });
    }
    for case in ElfCase::ALL {
        tests.push(BootTest {
            initrd_case: Some(InitrdCase::RootElf(case)),
            ..with(case.test_name(), config(small()), stop(6, no_root, case.named(), true))
        });
    }
    tests.push(BootTest {
        initrd_case: Some(InitrdCase::RootHuge),
        ..with("root-task-too-big", config(small()), stop(5, no_root, "OutOfMemory", true))
    });
    tests.push(BootTest {
        initrd_case: Some(InitrdCase::RootCrash),
        ..with(
            "root-task-crashes",
            config(small()),
            stop(7, "fatal: the root task died: thread 0x10001", "at ip 0x400000", true),
        )
    });
    // Memory: a board too small for its CPUs' kernel data and the root task; one
    // whose root task runs out of memory at user level (it used to hang: the fault
    // reply that could not be paid for was dropped and the worker faulted for ever);
    // and the smallest board QEMU starts, on which everything runs.
    tests.push(with(
        "many-cpus-little-memory",
        config(spec(&["cpus=256,mem=5M"], &[], None)),
        stop(5, no_root, "OutOfMemory", true),
    ));
    // 108 CPUs leave the root task some 100 KiB more than it needs to start (each CPU's
    // kernel data takes 20 KiB): at 120 a kernel image one page larger left it none,
    // and at 116 the per-CPU locking's larger kernel (820 KiB) with the default
    // initrd's `silent` did too: the boot ended in the kernel (status 5) instead of at
    // user level.
    tests.push(with(
        "user-level-out-of-memory",
        config(spec(&["cpus=108,mem=5M"], &[], None)),
        stop(1, "root: ", "OutOfMemory", true),
    ));
    tests.push(with(
        "tiny-memory",
        config(spec(&["cpus=1,mem=5M"], &[], None)),
        Expect::Pass { entry_el: 1, load_pa_not: None },
    ));
    // The kernel's self-test, made to fail on purpose.
    tests.push(with(
        "selftest-fails",
        QemuConfig { append: vec!["selftest=placement".into()], ..config(small()) },
        stop(8, "fatal: NUMA self-test", "1 of", false),
    ));
    // The runner's refusal: QEMU would drop an empty initrd and the kernel would boot
    // without a root task, saying nothing.
    tests.push(BootTest {
        via_runner: true,
        initrd_case: Some(InitrdCase::Empty),
        ..with(
            "empty-initrd",
            config(Topology::demo()),
            Expect::Refused { status: 66, named: "is empty (0 bytes)" },
        )
    });
    tests
}

/// The failure-matrix boards with many CPUs on little memory (`failure_matrix`).
pub const LITTLE_MEMORY_TESTS: [&str; 2] = ["many-cpus-little-memory", "user-level-out-of-memory"];

/// Seconds a failure-matrix boot may take (the slowest, 256 CPUs, takes about 1 s).
pub const FAILURE_DEADLINE: u64 = 20;

fn has_line(output: &str, pred: impl Fn(&str) -> bool) -> bool {
    output.lines().any(pred)
}

/// Judges one boot: `Ok` or every reason it failed.
pub fn check(test: &BootTest, ending: Ending, output: &str) -> Result<(), Vec<String>> {
    let mut why = Vec::new();
    let passed_line = has_line(output, |l| {
        Report::parse(l).is_some_and(|r| r.name == "boot" && r.get("result") == Some("pass"))
    });
    match &test.expect {
        Expect::Pass { entry_el, load_pa_not } => {
            let status = test.expected_status();
            if ending != Ending::Exited(status) {
                why.push(format!("expected exit status {status}, got {ending}"));
            }
            for bad in ["panic:", "exception:"] {
                if let Some(l) = output.lines().find(|l| l.starts_with(bad)) {
                    why.push(format!("unexpected `{l}`"));
                }
            }
            match report::find(output, "boot", "entry_el") {
                None => why.push("no `report: boot ... entry_el=` line".to_string()),
                Some(boot) => {
                    let el = boot.get("entry_el").unwrap_or("");
                    if el != entry_el.to_string() {
                        why.push(format!("expected entry_el={entry_el}, got entry_el={el}"));
                    }
                    if let Some(not) = load_pa_not {
                        match boot.get("load_pa").and_then(parse_u64) {
                            None => why.push("the boot line has no load_pa=".to_string()),
                            Some(pa) if pa == *not => why.push(format!(
                                "load_pa={pa:#x} is QEMU's own loader's address: the Image was not loaded by the firmware"
                            )),
                            Some(_) => {}
                        }
                    }
                }
            }
            check_reports(test, output, &mut why);
            if test.quit_on.is_some()
                && output.lines().rev().find(|l| !l.trim().is_empty())
                    != Some("report: halt status=0 cause=pass")
            {
                why.push("the run must end with `report: halt status=0 cause=pass`, nothing after it (the CPU parks)".into());
            }
            if !passed_line {
                why.push("no `report: boot result=pass` line".to_string());
            }
            match (test.root_program, test.supervised, test.numa) {
                (Some(program), _, _) => check_root_program(program, output, &mut why),
                (None, Some(supervised), _) => check_supervised(&supervised, output, &mut why),
                (None, None, Some(numa)) => check_numa_run(&numa, output, &mut why),
                (None, None, None) if test.config.initrd.is_some() => {
                    check_user_level(output, test.console_driver(), &mut why)
                }
                (None, None, None) => {}
            }
        }
        Expect::Stop { status, line, named, after_boot } => {
            if ending != Ending::Exited(*status) {
                why.push(format!("expected exit status {status}, got {ending}"));
            }
            if !has_line(output, |l| l.starts_with(line) && l.contains(named)) {
                why.push(format!("no line starting `{line}` that names `{named}`"));
            }
            let halted = report::reports(output).any(|r| {
                r.name == "halt" && r.get("status") == Some(&status.to_string()) && r.get("cause").is_some()
            });
            if !halted {
                why.push(format!(
                    "no `{}...` line",
                    report::line!("halt", "status" => status, "cause" => "")
                ));
            }
            if passed_line != *after_boot {
                why.push(if *after_boot {
                    "no `report: boot result=pass` line: the kernel's own boot must pass first".to_string()
                } else {
                    "`report: boot result=pass` printed although the boot must stop".to_string()
                });
            }
            for bad in ["panic:", "exception:"] {
                if let Some(l) = output.lines().find(|l| l.starts_with(bad)) {
                    why.push(format!("unexpected `{l}`"));
                }
            }
        }
        Expect::Refused { status, named } => {
            if ending != Ending::Exited(*status) {
                why.push(format!("expected qemu-run's exit status {status}, got {ending}"));
            }
            if !has_line(output, |l| l.contains(named)) {
                why.push(format!("qemu-run did not say why (no line naming `{named}`)"));
            }
            if has_line(output, |l| l.starts_with("numa-l4 ")) {
                why.push("the kernel started although qemu-run must refuse".to_string());
            }
        }
        Expect::Unsupported(fatal) => {
            if ending != Ending::Exited(UNSUPPORTED_BOARD_STATUS) {
                why.push(format!("expected exit status {UNSUPPORTED_BOARD_STATUS}, got {ending}"));
            }
            let fatals: Vec<&str> = output.lines().filter(|l| l.starts_with("fatal:")).collect();
            if fatals.len() != 1 || !fatals[0].contains(fatal) {
                why.push(format!("expected one `fatal:` line containing `{fatal}`, got {fatals:?}"));
            }
            let halt = format!("report: halt status={UNSUPPORTED_BOARD_STATUS} cause=unsupported-board");
            if !has_line(output, |l| l == halt) {
                why.push(format!("no `{halt}` line"));
            }
            for bad in ["panic:", "exception:", "report: smp", "report: boot result=pass"] {
                if let Some(l) = output.lines().find(|l| l.starts_with(bad)) {
                    why.push(format!("`{l}` printed: the kernel went on past the missing piece"));
                }
            }
        }
        Expect::Panic | Expect::Fault => {
            let (status, cause) = if test.expect == Expect::Panic { (3, "panic") } else { (4, "exception") };
            if ending != Ending::Exited(status) {
                why.push(format!("expected exit status {status}, got {ending}"));
            }
            if position(output, "halt", &[("status", &status.to_string()), ("cause", cause)]).is_none() {
                why.push(format!(
                    "no `{}` line",
                    report::line!("halt", "status" => status, "cause" => cause)
                ));
            }
            if passed_line {
                why.push("`report: boot result=pass` printed although the kernel must fail".into());
            }
            if test.expect == Expect::Panic {
                let located = has_line(output, |l| l.starts_with("panic:") && has_location(l));
                if !located {
                    why.push("no `panic:` line with a source location (file.rs:LINE)".into());
                }
                if !has_line(output, |l| parse_frame(l).is_some()) {
                    why.push("no backtrace line (`  #N 0xADDR`)".into());
                }
            } else {
                let reported = has_line(output, |l| {
                    let low = l.to_ascii_lowercase();
                    l.starts_with("exception:")
                        && low.contains("data abort")
                        && ["far", "elr", "cpu"].iter().all(|k| low.contains(k))
                });
                if !reported {
                    why.push("no `exception:` line naming `data abort` with FAR, ELR and CPU".into());
                }
            }
        }
    }
    if why.is_empty() { Ok(()) } else { Err(why) }
}

/// One node's `report: memory` line, its numbers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MemoryReport {
    total_kib: u64,
    reserved_kib: u64,
    kernel_kib: u64,
    free_kib: u64,
    fallbacks: u64,
}

/// Reads the numbers of a `report: memory` line; `Err` names the missing or bad field.
fn memory_report(r: &Report) -> Result<MemoryReport, String> {
    let field = |key: &str| -> Result<u64, String> {
        match r.get(key) {
            None => Err(format!("no {key}=")),
            Some(v) => parse_u64(v).ok_or_else(|| format!("{key}={v} is not a number")),
        }
    };
    Ok(MemoryReport {
        total_kib: field("total_kib")?,
        reserved_kib: field("reserved_kib")?,
        kernel_kib: field("kernel_kib")?,
        free_kib: field("free_kib")?,
        fallbacks: field("fallbacks")?,
    })
}

/// Shows a report line the way the kernel printed it, for messages.
fn show(r: &Report) -> String {
    let mut out = format!("{}", report::line!(r.name));
    for (k, v) in r.fields() {
        out.push(' ');
        out.push_str(k);
        if !v.is_empty() {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// The index of the first line of `output` that is `report: NAME` with every one of
/// `fields` (`("ready", "")` for a bare word).
fn position(output: &str, name: &str, fields: &[(&str, &str)]) -> Option<usize> {
    output.lines().position(|l| {
        Report::parse(l).is_some_and(|r| r.name == name && fields.iter().all(|&(k, v)| r.get(k) == Some(v)))
    })
}

/// The checks of a good boot that read what the kernel reported about the machine: CPUs
/// started, the self-test, per-node memory and the numactl block. Every failure is pushed.
/// With an initrd the kernel starts the root task (`pagers/root`), which tests the L4
/// core at user level, then starts every other program of the initrd and powers off: it
/// must report a clean run, 100 IPC round trips with its worker, every space's kernel
/// metadata on the space's home node (or, for a space homed on a memory-less node, none
/// of it there), and its programs: at least one ran (`hello` with status 0), none failed.
fn check_user_level(output: &str, driver: &str, why: &mut Vec<String>) {
    if !check_root_task(output, why) {
        return;
    }
    if report::find(output, "user-level", "result")
        .and_then(|r| r.get("result").map(str::to_string))
        .as_deref()
        != Some("pass")
    {
        why.push("no `report: user-level result=pass` line".to_string());
    }
    check_programs(output, driver, why);
}

/// The root task's own checks (`pagers/root/src/selftest.rs`): it started, its checks
/// passed, the ping-pong with its worker ran, and every space's kernel metadata is on
/// the space's home node. False if it did not even start.
fn check_root_task(output: &str, why: &mut Vec<String>) -> bool {
    let get =
        |kind: &str, key: &str| report::find(output, kind, key).and_then(|r| r.get(key).map(str::to_string));
    if get("root-task", "entry").is_none() {
        why.push("no `report: root-task entry=` line: the root task did not start".to_string());
        return false;
    }
    if get("root-task", "checks-failed").as_deref() != Some("0") {
        why.push(format!("root task checks failed: {:?}", get("root-task", "checks-failed")));
    }
    if get("ipc-pingpong", "rounds").as_deref() != Some("100")
        || get("ipc-pingpong", "worker-checks-ok").as_deref() != Some("100")
    {
        why.push("the IPC ping-pong did not complete 100 checked rounds".to_string());
    }
    let memoryless: Vec<String> = output
        .lines()
        .filter_map(Report::parse)
        .filter(|r| r.name == "memory" && r.get("total_kib") == Some("0"))
        .filter_map(|r| r.get("node").map(str::to_string))
        .collect();
    let mut spaces = 0;
    for r in output.lines().filter_map(Report::parse).filter(|r| r.name == "kmem") {
        spaces += 1;
        let home = r.get("home").unwrap_or("?").to_string();
        for key in ["tables", "mdb", "tcbs"] {
            let Some((on, total)) = r.get(key).and_then(|v| v.split_once('/')) else {
                why.push(format!("kmem line without {key}=ON/TOTAL"));
                continue;
            };
            let ok = if memoryless.contains(&home) { on == "0" } else { on == total };
            if !ok {
                why.push(format!(
                    "space {} (home {home}): {key}={on}/{total} not where it should be",
                    r.get("space").unwrap_or("?")
                ));
            }
        }
    }
    if spaces < 2 {
        why.push(format!("expected kmem lines for at least 2 spaces, got {spaces}"));
    }
    true
}

/// The checks of a [`Supervised`] boot: the root task's own checks; each program's
/// reports (`powerbtn`: ready, pressed, debounced; `shutdownlistener`: registered with
/// every refusal as expected, told and cleaned up; `shutdownhang`: registered and
/// told); `report: shutdown` with exactly the expected numbers, printed after every
/// told program's cleanup line (the orderly part: programs first, power-off last);
/// each program's `report: program` line (`shutdown`, or `no-answer` for one that did
/// not answer); `report: programs ran= failed=`; and the kernel's `user-level` verdict
/// with the expected status.
pub fn check_supervised(s: &Supervised, output: &str, why: &mut Vec<String>) {
    if !check_root_task(output, why) {
        return;
    }
    let get =
        |kind: &str, key: &str| report::find(output, kind, key).and_then(|r| r.get(key).map(str::to_string));
    let want_shutdown = report::line!("shutdown",
        "told" => s.told, "acknowledged" => s.acknowledged, "timed-out" => s.timed_out)
    .to_string();
    let shutdown_at = output.lines().position(|l| l == want_shutdown);
    match (shutdown_at, report::find(output, "shutdown", "told")) {
        (Some(_), _) => {}
        (None, Some(r)) => why.push(format!("expected `{want_shutdown}`, got `{}`", show(&r))),
        (None, None) => why.push(format!("no `report: shutdown` line (expected `{want_shutdown}`)")),
    }
    // Told programs clean up before the shutdown's report (and so before the power-off).
    let before_shutdown = |what: &str, at: Option<usize>, why: &mut Vec<String>| {
        if let (Some(line), Some(end)) = (at, shutdown_at)
            && line > end
        {
            why.push(format!("{what} came after `report: shutdown`: not an orderly shutdown"));
        }
    };
    let programs: Vec<Report> = report::reports(output).filter(|r| r.name == "program").collect();
    for &program in s.programs {
        let (status, own) = match program {
            "powerbtn" => ("shutdown", vec![(&[("ready", "")][..], "the driver never got ready")]),
            "shutdownlistener" => (
                "shutdown",
                vec![
                    (&[("registered", "yes")][..], "the listener did not register"),
                    (
                        &[("told", "yes"), ("cleanup", "done")][..],
                        "the listener was not told, or did not clean up",
                    ),
                ],
            ),
            "shutdownhang" => (
                "no-answer",
                vec![
                    (&[("registered", "yes")][..], "shutdownhang did not register"),
                    (&[("told", "yes")][..], "shutdownhang was not told"),
                ],
            ),
            other => {
                why.push(format!("no checks for supervised program `{other}`"));
                continue;
            }
        };
        for (fields, problem) in own {
            let words: Vec<String> = fields
                .iter()
                .map(|(k, v)| if v.is_empty() { k.to_string() } else { format!("{k}={v}") })
                .collect();
            let want = format!("report: {program} {}", words.join(" "));
            match position(output, program, fields) {
                None => why.push(format!("{problem} (no `{want}`)")),
                Some(at) if fields.contains(&("told", "yes")) => before_shutdown(&want, Some(at), why),
                Some(_) => {}
            }
        }
        match programs.iter().find(|r| r.get("name") == Some(program)) {
            None => why.push(format!("no `report: program name={program}` line")),
            Some(r) if r.get("status") != Some(status) => {
                why.push(format!("expected {program} status={status}, got `{}`", show(r)))
            }
            Some(_) => {}
        }
    }
    if s.programs.contains(&"powerbtn") {
        if get("powerbtn", "pressed").as_deref() != Some("yes") {
            why.push(
                "the power button did not reach the driver (no `report: powerbtn pressed=yes`)".to_string(),
            );
        }
        // The debounce's verdict: QEMU releases the key 100 ms after the press, in host
        // time, so on a loaded host the driver may wake after that and see it released
        // (`held=no`). Either is an answer; no answer means the debounce never ended.
        if !matches!(get("powerbtn", "held").as_deref(), Some("yes" | "no")) {
            why.push(
                "the driver's 20 ms debounce (DelayNs at user level) never ended (no `held=`)".to_string(),
            );
        }
    }
    if s.programs.contains(&"shutdownlistener") {
        let refusals = get("shutdownlistener", "refusals").unwrap_or_default();
        let all = refusals.split_once('/').is_some_and(|(got, of)| got == of && got != "0");
        if !all {
            why.push(format!(
                "the root did not refuse every bad request as documented: refusals={refusals} (see the `shutdownlistener: FAIL` lines)"
            ));
        }
    }
    let want_programs = format!("ran={} failed={}", s.programs.len(), s.status);
    match report::find(output, "programs", "ran") {
        Some(r)
            if r.get("ran") == Some(&s.programs.len().to_string())
                && r.get("failed") == Some(&s.status.to_string()) => {}
        Some(r) => why.push(format!("expected `report: programs {want_programs}`, got `{}`", show(&r))),
        None => {
            why.push(format!("no `report: programs {want_programs}` line: the supervisor did not finish"))
        }
    }
    let verdict = if s.status == 0 { "pass" } else { "fail" };
    let want_user = report::line!("user-level", "result" => verdict, "status" => s.status).to_string();
    if position(output, "user-level", &[("result", verdict), ("status", &s.status.to_string())]).is_none() {
        why.push(format!("no `{want_user}` line"));
    }
}

/// The checks of a [`NumaRun`]: the root task's own; for each run, `report:
/// numa-program ... result=pass` with `pager-spaces-local` and `code-local` all local
/// (`A/B` with A = B; code only when its `numa-program-detail` says `replicate=on`),
/// `stale=0`, and the detail's `migrant-local` all local (or `0/0`: no migrant); each program's own
/// `report: NAME ... result=ok` (the programs of this repository end so); `report:
/// program name=NAME status=0` for each run; `report: memory-balance ... leaked_kib=0`
/// for every node with memory; `report: programs ran=RUNS failed=0`; and the kernel's
/// `report: user-level result=pass status=0`.
pub fn check_numa_run(n: &NumaRun, output: &str, why: &mut Vec<String>) {
    if !check_root_task(output, why) {
        return;
    }
    let all_local =
        |v: Option<&str>| v.and_then(|v| v.split_once('/')).is_some_and(|(a, b)| a == b && b != "0");
    let refused = |name: Option<&str>| n.refused.iter().find(|(r, _)| Some(*r) == name).map(|&(_, e)| e);
    let given_up = |name: Option<&str>| n.given_up.iter().any(|g| Some(*g) == name);
    for &name in n.given_up {
        let said = format!("root: {name}: silent for 10 s: given up");
        if !output.lines().any(|l| l == said) {
            why.push(format!("no `{said}` line"));
        }
        if position(output, "program", &[("name", name), ("status", "timeout")]).is_none() {
            why.push(format!("no `report: program name={name} status=timeout` line"));
        }
    }
    let runs: Vec<Report> = report::reports(output).filter(|r| r.name == "numa-program").collect();
    let details: Vec<Report> = report::reports(output).filter(|r| r.name == "numa-program-detail").collect();
    // A run that started prints its detail line too (a refused declaration's did not).
    let started = runs.iter().filter(|r| r.get("nodes").is_some()).count();
    if runs.len() as u64 != n.runs || details.len() != started {
        why.push(format!(
            "expected {} `report: numa-program` lines and a `numa-program-detail` for each that ran, got {} and {}",
            n.runs,
            runs.len(),
            details.len()
        ));
    }
    for &(name, error) in n.refused {
        // The report writes the words with `_` for each blank (one value).
        let want = error.replace(' ', "_");
        match runs.iter().find(|r| r.get("name") == Some(name)) {
            Some(r)
                if r.get("result") == Some("fail") && r.get("error").is_some_and(|e| e.ends_with(&want)) => {}
            Some(r) => why.push(format!("{name}: expected `result=fail error=...{want}`, got `{}`", show(r))),
            None => why.push(format!("{name}: no `report: numa-program name={name}` line")),
        }
    }
    // Each run's detail is the next one of its program's name: programs that run at
    // once (`&` in the manifest) print their lines in whatever order they end.
    let mut taken = vec![false; details.len()];
    for r in runs.iter() {
        let detail = if r.get("nodes").is_some() {
            let next =
                details.iter().enumerate().position(|(i, d)| !taken[i] && d.get("name") == r.get("name"));
            next.map(|i| {
                taken[i] = true;
                &details[i]
            })
        } else {
            None
        };
        if refused(r.get("name")).is_some() {
            continue;
        }
        if r.get("result") != Some("pass") {
            why.push(format!("a NUMA run failed: `{}`", show(r)));
            continue;
        }
        if !all_local(r.get("pager-spaces-local")) || r.get("stale") != Some("0") {
            why.push(format!("a pager space not local, or a stale mapping: `{}`", show(r)));
        }
        let Some(detail) = detail else { continue };
        if detail.get("replicate") == Some("on") && !all_local(r.get("code-local")) {
            why.push(format!("replicated code not on the node that runs it: `{}`", show(r)));
        }
        if detail.get("migrant-local") != Some("0/0") && !all_local(detail.get("migrant-local")) {
            why.push(format!("a migrated thread's stack or UTCB not on its new node: `{}`", show(detail)));
        }
    }
    // Each program that ran to a pass prints its own `result=ok`.
    for &program in n.programs.iter().filter(|p| refused(Some(p)).is_none() && !given_up(Some(p))) {
        let own: Vec<Report> = report::reports(output).filter(|r| r.name == program).collect();
        if own.is_empty() {
            why.push(format!("no `report: {program} ... result=ok` line"));
        }
        for r in own.iter().filter(|r| r.get("result") != Some("ok")) {
            why.push(format!("{program} found its own results wrong: `{}`", show(r)));
        }
    }
    let programs: Vec<Report> = report::reports(output).filter(|r| r.name == "program").collect();
    for r in programs.iter().filter(|r| {
        r.get("status") != Some("0") && refused(r.get("name")).is_none() && !given_up(r.get("name"))
    }) {
        why.push(format!("program failed: `{}`", show(r)));
    }
    let balance: Vec<Report> = report::reports(output).filter(|r| r.name == "memory-balance").collect();
    if balance.is_empty() {
        why.push("no `report: memory-balance` line: the root did not measure what the runs left".into());
    }
    for r in balance.iter().filter(|r| r.get("leaked_kib") != Some("0")) {
        why.push(format!("memory not given back: `{}`", show(r)));
    }
    if n.operations > 0 {
        let count = |r: &Report, key: &str| r.get(key).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let made: u64 = runs.iter().map(|r| count(r, "global-faults") + count(r, "unmaps")).sum();
        if made < n.operations {
            why.push(format!(
                "the runs made {made} global map and unmap operations (global-faults + unmaps), expected at least {}",
                n.operations
            ));
        }
    }
    let failed = n.refused.len() + n.given_up.len();
    let ran = n.runs + n.given_up.len() as u64;
    let want = report::line!("programs", "ran" => ran, "failed" => failed).to_string();
    if !output.lines().any(|l| l == want) {
        why.push(format!("no `{want}` line"));
    }
    let (verdict, status) =
        if failed == 0 { ("pass", "0".to_string()) } else { ("fail", failed.to_string()) };
    if position(output, "user-level", &[("result", verdict), ("status", &status)]).is_none() {
        why.push(format!("no `report: user-level result={verdict} status={status}` line"));
    }
}

/// The root task's supervisor: `report: programs ran=N failed=0` with N >= 1, a
/// `report: program name=hello status=0` line, every program that did not exit with
/// status 0 named, and the programs' output written by the user-level console driver
/// (`report: console driver=KIND ... messages=M` with M >= 1: hello's line at least;
/// KIND the board's console, `driver`).
fn check_programs(output: &str, driver: &str, why: &mut Vec<String>) {
    match report::find(output, "console", "messages") {
        None => why.push("no `report: console driver= messages=` line: no user-level console".to_string()),
        Some(r) => {
            if r.get("driver") != Some(driver) || r.get("messages").and_then(parse_u64).is_none_or(|m| m < 1)
            {
                why.push(format!(
                    "the programs' output did not go through the console driver: `{}`",
                    show(&r)
                ));
            }
        }
    }
    let programs: Vec<Report> = report::reports(output).filter(|r| r.name == "program").collect();
    for r in programs.iter().filter(|r| r.get("status") != Some("0")) {
        why.push(format!("program failed: `{}`", show(r)));
    }
    if !programs.iter().any(|r| r.get("name") == Some("hello") && r.get("status") == Some("0")) {
        why.push("no `report: program name=hello status=0` line".to_string());
    }
    match report::find(output, "programs", "ran") {
        None => {
            why.push("no `report: programs ran= failed=` line: the supervisor did not finish".to_string())
        }
        Some(r) => {
            let ran = r.get("ran").and_then(parse_u64);
            if ran.is_none_or(|n| n < 1) || r.get("failed") != Some("0") {
                why.push(format!(
                    "expected `report: programs ran=N failed=0` with N >= 1, got `{}`",
                    show(&r)
                ));
            }
        }
    }
}

/// A test program's verdicts: `report: NAME checks= failed=0`, and `SCENARIO=pass` for
/// each of `scenarios` on a `report: NAME` line.
fn check_scenarios(output: &str, name: &str, scenarios: &[&str], why: &mut Vec<String>) {
    let get = |key: &str| report::find(output, name, key).and_then(|r| r.get(key).map(str::to_string));
    match get("failed").as_deref().and_then(parse_u64) {
        Some(0) => {}
        Some(n) => why.push(format!("{name}: {n} checks failed (see the `{name}: FAIL` lines)")),
        None => why.push(format!("no `report: {name} checks= failed=` line")),
    }
    for scenario in scenarios {
        if get(scenario).as_deref() != Some("pass") {
            why.push(format!("{name} scenario {scenario} did not pass"));
        }
    }
}

/// The checks of a boot whose root task is one of the [`ROOT_PROGRAMS`].
fn check_root_program(program: &str, output: &str, why: &mut Vec<String>) {
    let get =
        |kind: &str, key: &str| report::find(output, kind, key).and_then(|r| r.get(key).map(str::to_string));
    let number = |kind: &str, key: &str| get(kind, key).as_deref().and_then(parse_u64);
    if get("root-task", "entry").is_none() {
        why.push(format!("no `report: root-task entry=` line: {program} did not start"));
        return;
    }
    if get("user-level", "result").as_deref() != Some("pass") {
        why.push(format!("no `report: user-level result=pass` line: {program} did not end with status 0"));
    }
    match program {
        "badargs" => {
            match number("badargs", "failed") {
                Some(0) => {}
                Some(n) => why.push(format!("badargs: {n} cases failed (see the `badargs: FAIL` lines)")),
                None => why.push("no `report: badargs cases= failed=` line".to_string()),
            }
            if number("badargs", "cases").is_none_or(|n| n < 100) {
                why.push(format!("badargs ran {:?} cases, expected at least 100", get("badargs", "cases")));
            }
        }
        "fuzz" => {
            // The last line counts the calls made (the first, with the seed, those planned).
            let last = report::find(output, "fuzz", "kernel-responsive");
            let calls = last.as_ref().and_then(|r| r.get("calls")).and_then(parse_u64);
            if calls.is_none_or(|n| n < 100_000) {
                why.push(format!("fuzz made {calls:?} calls, expected at least 100000"));
            }
            if last.as_ref().and_then(|r| r.get("kernel-responsive")) != Some("yes") {
                why.push("no `report: fuzz ... kernel-responsive=yes` line".to_string());
            }
            // A fuzzing thread on every CPU online (up to the fuzzer's 16).
            let online = number("smp", "online").map(|n| n.min(FUZZERS_MAX));
            let fuzzers = last.as_ref().and_then(|r| r.get("fuzzers")).and_then(parse_u64);
            if online.is_none() || fuzzers != online {
                why.push(format!(
                    "fuzz ran {fuzzers:?} fuzzing threads, expected one per CPU online ({online:?})"
                ));
            }
            if number("fuzz-statuses", "bad-status") != Some(0) {
                why.push(format!(
                    "fuzz: statuses outside the ABI's errors: {:?}",
                    get("fuzz-statuses", "bad-status")
                ));
            }
        }
        "irqtest" => {
            if get("irq", "delivered").as_deref() != Some("yes") {
                why.push("the RTC interrupt was not delivered to the user-level driver".to_string());
            }
            if get("irq", "user-timer").as_deref() != Some("yes") {
                why.push("the user timer's interrupt was not delivered to its handler".to_string());
            }
            if number("irq", "checks-failed") != Some(0) {
                why.push(format!("irqtest checks failed: {:?}", get("irq", "checks-failed")));
            }
            for key in ["fault-to-pager", "masked", "recovered"] {
                if get("irq-contained", key).as_deref() != Some("true") {
                    why.push(format!(
                        "a misbehaving driver was not contained: {key}={:?}",
                        get("irq-contained", key)
                    ));
                }
            }
        }
        "smpstress" => {
            if get("smpstress", "result").as_deref() != Some("pass") {
                why.push(format!(
                    "smpstress result is {:?}, not pass (see the `smpstress: FAIL` lines)",
                    get("smpstress", "result")
                ));
            }
            if number("smpstress", "failed") != Some(0) {
                why.push(format!("smpstress: {:?} checks failed", get("smpstress", "failed")));
            }
            if number("smpstress", "ops").is_none_or(|n| n < SMPSTRESS_OPS) {
                why.push(format!(
                    "smpstress made {:?} operations, expected at least {SMPSTRESS_OPS}",
                    get("smpstress", "ops")
                ));
            }
            if number("smpstress", "leaked-kib") != Some(0) {
                why.push(format!(
                    "smpstress: {:?} KiB of memory did not come back",
                    get("smpstress", "leaked-kib")
                ));
            }
        }
        "l4test" => {
            check_scenarios(output, "l4test", &L4TEST_SCENARIOS, why);
            // The common cases took the kernel's fast paths (`Introspect` FastPaths).
            for path in ["ipc", "map", "fault"] {
                if number("fastpath", path).is_none_or(|n| n == 0) {
                    why.push(format!("the {path} fast path never ran: {:?}", get("fastpath", path)));
                }
            }
        }
        "numademo" => {
            if get("numa-demo", "result").as_deref() != Some("pass") {
                why.push(format!("numa-demo result is {:?}, not pass", get("numa-demo", "result")));
            }
            let single = get("numa-demo", "mode").as_deref() == Some("single-space");
            let nodes = number("numa-demo", "nodes").unwrap_or(0);
            let code = get("numa-demo", "code-local").unwrap_or_default();
            let local_of_total = code.split_once('/').and_then(|(l, t)| Some((parse_u64(l)?, parse_u64(t)?)));
            if !single && !local_of_total.is_some_and(|(l, t)| l == t && t > 0) {
                why.push(format!("numa-demo code-local={code}: every code page must be on its space's node"));
            }
            // The baseline: one space, one pager, and code the other nodes run remotely.
            if single
                && (number("numa-demo", "spaces") != Some(1)
                    || number("numa-demo", "pagers") != Some(1)
                    || nodes >= 2 && local_of_total.is_none_or(|(l, t)| l >= t))
            {
                why.push(format!(
                    "numa-demo single-space: want 1 space, 1 pager and remote code (code-local={code})"
                ));
            }
            let (faults, max) = (number("numa-demo", "global-faults"), number("numa-demo", "max-faults"));
            if !faults.zip(max).is_some_and(|(f, m)| f <= m && f > 0) {
                why.push(format!("numa-demo global-faults={faults:?} max-faults={max:?}: more than one fault per node per page"));
            }
            if number("numa-demo", "stale") != Some(0) {
                why.push(format!(
                    "numa-demo stale={:?}: a freed frame was reached",
                    get("numa-demo", "stale")
                ));
            }
            if number("numa-demo", "unmaps").is_none_or(|u| u < 2) {
                why.push(
                    "numa-demo: the global unmaps (one, then the stress rounds) did not run".to_string(),
                );
            }
            if get("numa-demo-detail", "one-fault-per-node-and-page").as_deref() != Some("true") {
                why.push("numa-demo: a node faulted a page twice without an unmap in between".to_string());
            }
            if nodes >= 2 && number("numa-demo", "migrations") != Some(1) {
                why.push("numa-demo: the migration did not run".to_string());
            }
            for variant in ["notify", "batched"] {
                if position(output, "numa-unmap", &[("variant", variant), ("pages", "3")]).is_none() {
                    why.push(format!("numa-unmap: the {variant} variant did not complete"));
                }
            }
            if get("numa-policy", "spread-interleaved").as_deref() != Some("true") {
                why.push(
                    "numa-policy: the interleaved region's frames are not spread over the nodes".to_string(),
                );
            }
            let (moved, frame) = (get("numa-policy", "moved-to"), get("numa-policy", "frame-node"));
            if nodes >= 2 && !single && (moved.is_none() || moved.as_deref() == Some("-1") || moved != frame)
            {
                why.push(format!("numa-policy: the hot page was not moved to its users' node (moved-to={moved:?} frame-node={frame:?})"));
            }
        }
        "rttest" => check_scenarios(output, "rttest", &RTTEST_SCENARIOS, why),
        other => why.push(format!("no checks for root program `{other}`")),
    }
}

fn check_reports(test: &BootTest, output: &str, why: &mut Vec<String>) {
    let layout = test.layout();
    let reports: Vec<Report> = report::reports(output).collect();

    // SMP: QEMU's CPUs are online; the tree's CPUs were expected.
    let online = test.config.topology.total_cpus();
    let expected = layout.total_cpus();
    let want_smp = report::line!("smp", "online" => online, "expected" => expected).to_string();
    match reports.iter().find(|r| r.name == "smp") {
        None => why.push(format!("no `report: smp` line (expected `{want_smp}`)")),
        Some(r)
            if r.get("online") != Some(&online.to_string())
                || r.get("expected") != Some(&expected.to_string()) =>
        {
            why.push(format!("expected `{want_smp}`, got `{}`", show(r)));
        }
        Some(_) => {}
    }
    for (cpu, mpidr) in test.extra_cpu_ids() {
        let warning = cpu_not_started_warning(cpu, mpidr);
        if !has_line(output, |l| l == warning) {
            why.push(format!("no `{warning}` line"));
        }
    }

    // The NUMA self-test: all checks pass, every other online CPU answers.
    let selftest = reports.iter().find(|r| r.name == "numa-selftest");
    match (test.selftest_runs(), selftest) {
        (true, None) => why.push("no `report: numa-selftest` line".to_string()),
        (true, Some(r)) => {
            if r.get("failed") != Some("0") {
                why.push(format!("the NUMA self-test failed: `{}` (expected failed=0)", show(r)));
            }
            let peers = online.saturating_sub(1);
            if r.get("pings") != Some(&format!("{peers}/{peers}")) {
                why.push(format!(
                    "expected pings={peers}/{peers} (every other online CPU), got `{}`",
                    show(r)
                ));
            }
            let min_checks = 4 * u64::from(online);
            match r.get("checks").and_then(parse_u64) {
                Some(c) if c >= min_checks => {}
                _ => why.push(format!("expected checks >= {min_checks} (4 per CPU), got `{}`", show(r))),
            }
        }
        (false, Some(r)) => {
            why.push(format!("`{}` printed although the command line has {SELFTEST_OFF_BOOTARG}", show(r)))
        }
        (false, None) => {}
    }

    // The interrupt controller the machine has, and how the console was chosen.
    let want_gic = format!("v{}", test.gic_version());
    match reports.iter().find(|r| r.name == "board") {
        None => why.push("no `report: board` line".to_string()),
        Some(r) if r.get("gic") != Some(want_gic.as_str()) => {
            why.push(format!("expected gic={want_gic} in `{}`", show(r)));
        }
        Some(_) => {}
    }

    // The board came from the device tree, or from ACPI on a UEFI boot with ACPI on.
    let table = test.firmware_table();
    if !reports.iter().any(|r| r.name == "firmware" && r.get("table") == Some(table)) {
        why.push(format!("no `report: firmware table={table}` line"));
    }

    // Kernel text: with replicas, every online CPU runs it from its own memory node
    // (checked by each CPU through the MMU); with one copy, only the first node's.
    match reports.iter().find(|r| r.name == "ktext-replica") {
        None => why.push("no `report: ktext-replica` line".to_string()),
        Some(r) => {
            let want_mode = if test.ktext_replicated() { "per-node" } else { "shared" };
            if r.get("mode") != Some(want_mode) || r.get("cpus") != Some(&online.to_string()) {
                why.push(format!(
                    "expected `ktext-replica mode={want_mode} cpus={online}`, got `{}`",
                    show(r)
                ));
            }
            if test.ktext_replicated() && r.get("local") != r.get("cpus") {
                why.push(format!("a CPU runs kernel text from another node: `{}`", show(r)));
            }
        }
    }

    // Memory: one line per node, adding up, matching the node's size.
    let mut memory: Vec<Option<MemoryReport>> = vec![None; layout.node_count()];
    for r in reports.iter().filter(|r| r.name == "memory") {
        let node = match r.get("node").and_then(parse_u64) {
            Some(k) if (k as usize) < memory.len() => k as usize,
            _ => {
                why.push(format!("`{}` names no node of the spec (0..{})", show(r), memory.len()));
                continue;
            }
        };
        if memory[node].is_some() {
            why.push(format!("a second `report: memory node={node}` line: `{}`", show(r)));
            continue;
        }
        let m = match memory_report(r) {
            Ok(m) => m,
            Err(e) => {
                why.push(format!("`{}`: {e}", show(r)));
                continue;
            }
        };
        memory[node] = Some(m);
        let size_kib = layout.size_mib[node] * 1024;
        if m.total_kib != size_kib {
            why.push(format!(
                "node {node} has {size_kib} KiB, but `{}` says total_kib={}",
                show(r),
                m.total_kib
            ));
        }
        let parts = m.reserved_kib.checked_add(m.kernel_kib).and_then(|s| s.checked_add(m.free_kib));
        if parts != Some(m.total_kib) {
            why.push(format!("`{}`: reserved_kib + kernel_kib + free_kib is not total_kib", show(r)));
        }
        if size_kib == 0 && !layout.cpus[node].is_empty() && m.fallbacks == 0 {
            why.push(format!(
                "node {node} has CPUs but no memory, so their memory must come from another node, yet `{}` says fallbacks=0",
                show(r)
            ));
        }
    }
    for (node, m) in memory.iter().enumerate() {
        if m.is_none() {
            why.push(format!("no `report: memory node={node} ...` line"));
        }
    }

    // The numactl block, free lines matched as numbers and checked against the memory lines.
    let want = layout.block(FreeLines::Placeholder);
    let Some(got) = find_block(output) else {
        why.push("no numactl block (`available: ...`) in the output".to_string());
        return;
    };
    let found = match_block(&want, &got);
    if !found.matches(&want) {
        why.push(format!(
            "the numactl block differs (- expected, + printed; <N> is any whole number):\n{}",
            describe_mismatch(&want, &found.normalized)
        ));
    }
    for &(node, free_mib) in &found.free_mib {
        let Some(&size_mib) = layout.size_mib.get(node) else { continue };
        if free_mib > size_mib {
            why.push(format!("node {node} free: {free_mib} MB is more than its size, {size_mib} MB"));
        }
        if let Some(Some(m)) = memory.get(node)
            && free_mib != m.free_kib / 1024
        {
            why.push(format!(
                "node {node} free: {free_mib} MB disagrees with its memory report, free_kib={} (= {} MB)",
                m.free_kib,
                m.free_kib / 1024
            ));
        }
    }
}

/// True when `line` holds `something.rs:DIGITS`.
fn has_location(line: &str) -> bool {
    line.match_indices(".rs:")
        .any(|(i, m)| line[i + m.len()..].chars().next().is_some_and(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numactl::FREE_PLACEHOLDER;

    fn test_named(name: &str) -> BootTest {
        matrix(Path::new("k.img")).into_iter().find(|t| t.name == name).unwrap()
    }

    /// What a good kernel prints for `t`: the boot line given, then the reports and the
    /// block as the kernel prints them, with 1 MiB reserved on node 0 and 40 KiB of kernel
    /// data on every node with memory.
    fn good_output(t: &BootTest, boot_line: &str) -> String {
        let layout = t.layout();
        let online = t.config.topology.total_cpus();
        let mut out = format!("{boot_line}\n");
        for (cpu, mpidr) in t.extra_cpu_ids() {
            out.push_str(&cpu_not_started_warning(cpu, mpidr));
            out.push('\n');
        }
        out.push_str(&format!("report: smp online={online} expected={}\n", layout.total_cpus()));
        out.push_str(&format!("report: firmware table={}\n", t.firmware_table()));
        out.push_str(&format!("report: board cpus={online} gic=v{} psci=hvc\n", t.gic_version()));
        let mode = if t.ktext_replicated() { "per-node" } else { "shared" };
        out.push_str(&format!("report: ktext-replica mode={mode} replicas=1 cpus={online} local={online}\n"));
        if t.selftest_runs() {
            out.push_str(&format!(
                "report: numa-selftest checks={} failed=0 pings={}/{}\n",
                4 * online + 3,
                online - 1,
                online - 1
            ));
        }
        let mut memory = String::new();
        let mut block = layout.block(FreeLines::Placeholder);
        // The image and the boot's reservations are on the first node with memory.
        let first = (0..layout.node_count()).find(|&k| layout.size_mib[k] > 0);
        for k in 0..layout.node_count() {
            let total = layout.size_mib[k] * 1024;
            let reserved = if Some(k) == first { 1024 } else { 0 };
            let kernel = if total > 0 { 40 } else { 0 };
            let free = total - reserved - kernel;
            let fallbacks = if total == 0 && !layout.cpus[k].is_empty() { 3 } else { 0 };
            memory.push_str(&format!(
                "report: memory node={k} total_kib={total} reserved_kib={reserved} kernel_kib={kernel} free_kib={free} fallbacks={fallbacks}\n"
            ));
            block = block.replacen(FREE_PLACEHOLDER, &(free / 1024).to_string(), 1);
        }
        let scenarios: String =
            L4TEST_SCENARIOS.iter().map(|s| format!("report: l4test {s}=pass\n")).collect();
        let l4test = format!(
            "report: root-task entry=0x400000\n{scenarios}report: fastpath ipc=900 map=80 fault=80\nreport: l4test checks=69 failed=0\nreport: user-level result=pass status=0\n"
        );
        let program = match t.root_program {
            Some("badargs") => {
                "report: root-task entry=0x400000\nreport: badargs cases=148 failed=0 known-failures=14\nreport: user-level result=pass status=0\n"
            }
            Some("l4test") => l4test.as_str(),
            Some("smpstress") => {
                "report: root-task entry=0x400000\nreport: smpstress cpus=4 ops=250040 failed=0 rounds=3000 faults=24000 cross-calls=48000 local-calls=144000 leaked-kib=0 ms=30000 result=pass\nreport: user-level result=pass status=0\n"
            }
            Some("numademo") => {
                "report: root-task entry=0x400000\nreport: numa-unmap variant=notify pages=3 notifications=6 cycles=177591\nreport: numa-unmap variant=batched pages=3 notifications=2 cycles=67820\nreport: numa-demo-detail workers=4 reads=9 one-fault-per-node-and-page=true\nreport: numa-policy page=hot home=0 periods=6 refaults=[0, 6] moved-to=1 frame-node=1 spread-interleaved=true\nreport: numa-demo nodes=2 spaces=2 pagers=2 code-local=1/1 global-faults=17 max-faults=18 migrations=1 unmaps=13 stale=0 result=pass\nreport: user-level result=pass status=0\n"
            }
            Some("irqtest") => {
                "report: root-task entry=0x400000\nreport: irq-contained fault-to-pager=true masked=true recovered=true\nreport: irq intid=34 delivered=yes user-timer=yes waited_us=1000000 checks-failed=0\nreport: user-level result=pass status=0\n"
            }
            Some("rttest") => {
                "report: root-task entry=0x400000\nreport: rttest checks=7 failed=0 sleep=pass sleep-until=pass periodic=pass ipc-deadline=pass delay-sleeps=pass pi=pass\nreport: user-level result=pass status=0\n"
            }
            Some("fuzz") => {
                "report: root-task entry=0x400000\nreport: fuzz seed=0x5eed calls=100000 role=root fuzzers=4\nreport: fuzz-statuses ok=1 errors=2 bad-status=0\nreport: fuzz calls=100000 kernel-responsive=yes fuzzers=4\nreport: user-level result=pass status=0\n"
            }
            _ => "",
        };
        // The fuzzer runs a thread per CPU online.
        let program = program.replace("fuzzers=4", &format!("fuzzers={online}"));
        let supervised = t.supervised.map(|s| supervised_output(&s)).unwrap_or_default();
        let mut numa = t.numa.map(|n| numa_output(&n)).unwrap_or_default();
        if layout.size_mib[0] == 0 {
            // The root's space is homed on a memoryless boot node: nothing of it there.
            numa = numa.replace(
                "home=0 tables=37/37 mdb=1084/1084 tcbs=4/4",
                "home=0 tables=0/37 mdb=0/1084 tcbs=0/4",
            );
        }
        let halt = if t.quit_on.is_some() { "report: halt status=0 cause=pass\n" } else { "" };
        format!(
            "{out}{block}\n{memory}report: boot result=pass stack_used_kib=35\n{program}{supervised}{numa}{halt}"
        )
    }

    /// What a good NUMA run prints (as `numa-programs` printed it, trimmed).
    fn numa_output(n: &NumaRun) -> String {
        let mut out = String::from(
            "report: root-task entry=0x400000 segments=3 space=1 home=0 cpu=0\n\
             report: ipc-pingpong rounds=100 worker-checks-ok=100 faults=2\n\
             report: kmem space=2 home=1 tables=6/6 mdb=2/2 tcbs=2/2 fallbacks=0\n\
             report: root-task checks-failed=0\n",
        );
        for &(name, error) in n.refused {
            out.push_str(&format!(
                "report: numa-program name={name} result=fail error=declaration:_{}\nreport: program name={name} status=1 node=0 cpu=1 faults=20\n",
                error.replace(' ', "_")
            ));
        }
        for name in n.given_up {
            out.push_str(&format!(
                "report: {name} waiting=yes\nroot: {name}: silent for 10 s: given up\nreport: program name={name} status=timeout node=0 cpu=1 faults=4\n"
            ));
        }
        let passing: Vec<&str> = n
            .programs
            .iter()
            .copied()
            .filter(|p| !n.refused.iter().any(|(r, _)| r == p) && !n.given_up.contains(p))
            .collect();
        for run in 0..n.runs - n.refused.len() as u64 {
            let p = passing[run as usize % passing.len()];
            // A soak's first run makes its operations (churn's rounds), the rest none.
            let faults = match (run, n.operations) {
                (_, 0) => 62,
                (0, ops) => ops - 33_344,
                _ => 0,
            };
            let unmaps = if run == 0 && n.operations > 0 { 33_344 } else { 0 };
            out.push_str(&format!(
                "report: {p} ranks=4 share=25 predicted=56 result=ok\n\
                 report: numa-region program={p} name={p} pages=272 misses=56\n\
                 report: numa-program name={p} nodes=2 spaces=2 pagers=2 pager-spaces-local=2/2 code-local=10/10 global-faults={faults} max-faults=112 migrations=0 unmaps={unmaps} stale=0 result=pass\n\
                 report: numa-program-detail name={p} threads=4 repeats=8 pages=56 stack-moves=0 moves=0 migrant-local=2/2 expected-faults=56 mode=per-node replicate=on\n\
                 report: program name={p} status=0 node=1 cpu=2 faults=33\n"
            ));
        }
        out.push_str(&format!(
            "report: memory-balance node=0 before_kib=517712 after_kib=517712 leaked_kib=0\n\
             report: memory-balance node=1 before_kib=522644 after_kib=522644 leaked_kib=0\n\
             report: programs ran={} failed={failed}\n\
             report: kmem space=1 home=0 tables=37/37 mdb=1084/1084 tcbs=4/4 fallbacks=0\n\
             report: user-level result={verdict} status={failed}\n",
            n.runs + n.given_up.len() as u64,
            failed = n.refused.len() + n.given_up.len(),
            verdict = if n.refused.is_empty() && n.given_up.is_empty() { "pass" } else { "fail" },
        ));
        out
    }

    /// What the root task and its programs print on a good supervised run (as the
    /// `powerbtn` boot printed it, trimmed).
    fn supervised_output(s: &Supervised) -> String {
        let mut out = String::from(
            "report: root-task entry=0x400000 segments=3 space=1 home=0 cpu=0\n\
             report: ipc-pingpong rounds=100 worker-checks-ok=100 faults=3\n\
             report: kmem space=2 home=1 tables=6/6 mdb=2/2 tcbs=2/2 fallbacks=0\n\
             report: root-task checks-failed=0\n",
        );
        let mut programs = String::new();
        for (i, p) in s.programs.iter().enumerate() {
            let (lines, status) = match *p {
                "powerbtn" => (
                    "report: powerbtn ready line=3 intid=39 level=0\n\
                     report: powerbtn pressed=yes pending=0x8 held=yes\n",
                    "shutdown",
                ),
                "shutdownlistener" => (
                    "report: shutdownlistener registered=yes refusals=4/4\n\
                     report: shutdownlistener told=yes cleanup=done\n",
                    "shutdown",
                ),
                _ => (
                    "report: shutdownhang registered=yes\nreport: shutdownhang told=yes answer=never\n",
                    "no-answer",
                ),
            };
            out.push_str(lines);
            programs.push_str(&format!(
                "report: program name={p} status={status} node={} cpu={i} faults=9\n",
                i % 2
            ));
        }
        out.push_str(&format!(
            "report: shutdown told={} acknowledged={} timed-out={}\n{programs}report: programs ran={} failed={}\n\
             report: kmem space=1 home=0 tables=15/15 mdb=0/0 tcbs=2/2 fallbacks=0\n\
             report: user-level result={} status={}\n",
            s.told,
            s.acknowledged,
            s.timed_out,
            s.programs.len(),
            s.status,
            if s.status == 0 { "pass" } else { "fail" },
            s.status
        ));
        out
    }

    fn good_boot_line() -> &'static str {
        "report: boot cpu=0 mpidr=0x0 entry_el=1 load_pa=0x40200000"
    }

    /// The reasons `check` gives for `output` with a clean exit, joined.
    fn reasons(t: &BootTest, output: &str) -> String {
        check(t, Ending::Exited(0), output).unwrap_err().join("\n")
    }

    #[test]
    fn the_matrix_covers_the_required_shapes() {
        let m = matrix(Path::new("k.img"));
        let names: Vec<&str> = m.iter().map(|t| t.name).collect();
        for want in [
            "single-node-1cpu",
            "numa-2x2",
            "numa-4-asymmetric",
            "numa-memoryless-node",
            "numa-clusters-mode",
            "numa-16cpu-4node",
            "cpu-fails-to-start",
            "numa-selftest-off",
            "el2-entry",
            "selftest-panic",
            "selftest-fault",
            "uboot-booti",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        let single = test_named("single-node-1cpu").config.args().join(" ");
        assert!(!single.contains("-numa"), "{single}");
        assert!(test_named("numa-4-asymmetric").config.topology.is_asymmetric());
        assert!(test_named("el2-entry").config.el2);
    }

    #[test]
    fn every_test_is_small_but_the_two_large_boards() {
        for t in matrix(Path::new("k.img")) {
            if t.name == LARGE_TEST {
                assert!(t.layout().total_cpus() > 123, "the large board must need a second GICR region");
            } else if t.name == WIDE_TEST {
                assert_eq!((t.layout().total_cpus(), t.layout().node_count()), (64, 8));
            } else if LITTLE_MEMORY_TESTS.contains(&t.name) {
                // Many CPUs on the least memory QEMU starts with, so that memory runs
                // out: they must stop early, and fast.
                assert!(t.config.topology.total_mem_mib() <= 8, "{}", t.name);
                assert!(t.deadline.is_some(), "{} must have a deadline", t.name);
            } else {
                assert!(t.layout().total_cpus() <= 16, "{} has more than 16 CPUs", t.name);
            }
        }
    }

    #[test]
    fn the_clusters_mode_test_asks_qemu_for_clusters_and_no_numa() {
        let t = test_named("numa-clusters-mode");
        let line = t.config.args().join(" ");
        assert!(line.contains("-smp 4,sockets=1,clusters=2,cores=2"), "{line}");
        assert!(line.contains("-m 512M") && !line.contains("-numa"), "{line}");
        assert!(line.ends_with("-append exit=semihosting numa=clusters"), "{line}");
        let block = t.layout().block(FreeLines::Without);
        assert!(
            block.starts_with("available: 2 nodes (0-1)\nnode 0 cpus: 0 1\nnode 0 size: 256 MB\n"),
            "{block}"
        );
        assert!(block.contains("node 1 cpus: 2 3\nnode 1 size: 256 MB\n"), "{block}");
        assert!(block.ends_with("  0:  10  20 \n  1:  20  10 \n"), "{block}");
    }

    #[test]
    fn the_16_cpu_test_has_four_asymmetric_nodes_of_four() {
        let t = test_named("numa-16cpu-4node");
        let topo = &t.config.topology;
        assert_eq!(topo.total_cpus(), 16);
        assert!(topo.nodes().iter().all(|n| n.cpus == 4 && n.mem_mib == 256));
        assert!((0..4).all(|i| (0..4).all(|j| i == j || topo.distance(i, j) != topo.distance(j, i))));
    }

    #[test]
    fn the_failing_cpu_is_a_fifth_on_node_1() {
        let t = test_named("cpu-fails-to-start");
        assert_eq!(t.extra_cpus, [ExtraCpu { mpidr: 4, node: 1 }]);
        assert_eq!(t.extra_cpu_ids().collect::<Vec<_>>(), [(4, 4)]);
        assert!(t.layout().block(FreeLines::Without).contains("node 1 cpus: 2 3 4\n"));
        assert_eq!(
            cpu_not_started_warning(4, 4),
            "warning: cpu 4 (mpidr 0x4) did not start: PSCI CPU_ON returned -2 (INVALID_PARAMETERS)"
        );
    }

    #[test]
    fn a_good_boot_passes() {
        let t = test_named("numa-2x2");
        let out = good_output(&t, good_boot_line());
        assert!(out.contains("node 0 free: 510 MB\n"), "{out}");
        assert_eq!(check(&t, Ending::Exited(0), &out), Ok(()));
    }

    #[test]
    fn a_board_without_psci_must_end_with_its_halt_line() {
        let t = test_named("raspi4b-halt-without-psci");
        let good = good_output(&t, "report: boot cpu=0 entry_el=2 load_pa=0x200000");
        assert_eq!(check(&t, Ending::Exited(0), &good), Ok(()));
        let after = format!("{good}exception: undefined (CurrentSpx Sync)\n");
        assert!(reasons(&t, &after).contains("nothing after it"), "{}", reasons(&t, &after));
        let none = good.replace("report: halt status=0 cause=pass\n", "");
        assert!(reasons(&t, &none).contains("must end with `report: halt"));
    }

    #[test]
    fn a_good_boot_of_every_passing_shape_passes() {
        for t in matrix(Path::new("k.img")) {
            let Expect::Pass { entry_el, .. } = t.expect else { continue };
            let out = good_output(&t, &format!("report: boot cpu=0 entry_el={entry_el} load_pa=0x40400000"));
            assert_eq!(check(&t, Ending::Exited(t.expected_status()), &out), Ok(()), "{}:\n{out}", t.name);
        }
    }

    #[test]
    fn the_free_lines_must_agree_with_the_memory_reports() {
        let t = test_named("numa-2x2");
        let good = good_output(&t, good_boot_line());
        let why = reasons(&t, &good.replace("node 1 free: 511 MB", "node 1 free: 500 MB"));
        assert!(
            why.contains("node 1 free: 500 MB disagrees with its memory report, free_kib=524248"),
            "{why}"
        );
        let why = reasons(&t, &good.replace("node 1 free: 511 MB", "node 1 free: 513 MB"));
        assert!(why.contains("node 1 free: 513 MB is more than its size, 512 MB"), "{why}");
        let why = reasons(&t, &good.replace("node 1 free: 511 MB\n", ""));
        assert!(why.contains("the numactl block differs"), "{why}");
        assert!(why.contains("  -node 1 free: <N> MB"), "{why}");
    }

    #[test]
    fn memory_reports_must_add_up_to_each_nodes_size() {
        let t = test_named("numa-2x2");
        let good = good_output(&t, good_boot_line());
        let why = reasons(&t, &good.replace("node=1 total_kib=524288", "node=1 total_kib=524287"));
        assert!(why.contains("node 1 has 524288 KiB, but"), "{why}");
        assert!(why.contains("reserved_kib + kernel_kib + free_kib is not total_kib"), "{why}");
        let why = reasons(&t, &good.replace("reserved_kib=1024", "reserved_kib=1000"));
        assert!(why.contains("reserved_kib + kernel_kib + free_kib is not total_kib"), "{why}");
        let dropped: String = good
            .lines()
            .filter(|l| !l.starts_with("report: memory node=1"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(reasons(&t, &dropped).contains("no `report: memory node=1 ...` line"));
        let doubled = good.replace(
            "report: boot result=pass",
            "report: memory node=0 total_kib=1\nreport: boot result=pass",
        );
        assert!(reasons(&t, &doubled).contains("a second `report: memory node=0` line"));
        let stray = good.replace(
            "report: boot result=pass",
            "report: memory node=2 total_kib=0\nreport: boot result=pass",
        );
        assert!(reasons(&t, &stray).contains("names no node of the spec (0..2)"));
        let missing = good.replace(" fallbacks=0", "");
        assert!(reasons(&t, &missing).contains(": no fallbacks="));
    }

    #[test]
    fn a_memoryless_node_with_cpus_must_fall_back() {
        let t = test_named("numa-memoryless-node");
        let good = good_output(&t, good_boot_line());
        assert!(good.contains(
            "report: memory node=1 total_kib=0 reserved_kib=0 kernel_kib=0 free_kib=0 fallbacks=3"
        ));
        let why = reasons(&t, &good.replace("fallbacks=3", "fallbacks=0"));
        assert!(why.contains("node 1 has CPUs but no memory"), "{why}");
        // A CPU-less node needs no fallback.
        let t = test_named("numa-cpuless-node");
        assert_eq!(check(&t, Ending::Exited(0), &good_output(&t, good_boot_line())), Ok(()));
    }

    #[test]
    fn a_numa_run_must_pass_give_every_frame_back_and_run_each_program() {
        let t = test_named("numa-programs");
        let good = good_output(&t, good_boot_line());
        assert_eq!(check(&t, Ending::Exited(0), &good), Ok(()));
        let leaked = good.replacen("after_kib=522644 leaked_kib=0", "after_kib=522640 leaked_kib=4", 1);
        assert!(reasons(&t, &leaked).contains("memory not given back"));
        let failed = good.replacen("stale=0 result=pass", "stale=0 result=fail", 1);
        assert!(reasons(&t, &failed).contains("a NUMA run failed"));
        let remote = good.replacen("pager-spaces-local=2/2", "pager-spaces-local=1/2", 1);
        assert!(reasons(&t, &remote).contains("a pager space not local"));
        let code = good.replacen("code-local=10/10", "code-local=9/10", 1);
        assert!(reasons(&t, &code).contains("replicated code not on the node"));
        let unreplicated = code.replacen("replicate=on", "replicate=off", 1);
        assert_eq!(check(&t, Ending::Exited(0), &unreplicated), Ok(()), "one copy: not all local");
        let moved = good.replacen("migrant-local=2/2", "migrant-local=1/2", 1);
        assert!(reasons(&t, &moved).contains("a migrated thread's stack or UTCB"));
        let wrong = good.replacen("predicted=56 result=ok", "predicted=56 result=wrong", 1);
        assert!(reasons(&t, &wrong).contains("sweep found its own results wrong"));
        let one_run: String = good
            .lines()
            .filter(|l| !l.starts_with("report: numa-program"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(reasons(&t, &one_run).contains("expected 6 `report: numa-program` lines"));
        let fewer = good.replace("programs ran=6", "programs ran=5");
        assert!(reasons(&t, &fewer).contains("report: programs ran=6 failed=0"));
    }

    #[test]
    fn a_silent_program_must_be_given_up_and_the_run_fail_with_it() {
        let t = test_named("silent-program");
        assert_eq!(t.expected_status(), 1);
        let good = good_output(&t, good_boot_line());
        assert_eq!(check(&t, Ending::Exited(1), &good), Ok(()));
        let kept = good.replace("root: silent: silent for 10 s: given up\n", "");
        let why = reasons_with(&t, Ending::Exited(1), &kept);
        assert!(why.contains("given up` line"), "{why}");
        let ended = good.replace("name=silent status=timeout", "name=silent status=0");
        assert!(reasons_with(&t, Ending::Exited(1), &ended).contains("status=timeout"));
    }

    #[test]
    fn a_soak_must_make_the_operations_it_promises() {
        let t = test_named("numa-soak");
        let good = good_output(&t, good_boot_line());
        assert_eq!(check(&t, Ending::Exited(0), &good), Ok(()));
        let short = good.replacen("unmaps=33344", "unmaps=33343", 1);
        assert!(reasons(&t, &short).contains("expected at least 100000"), "{}", reasons(&t, &short));
    }

    #[test]
    fn a_refused_declaration_must_be_named_and_the_rest_must_pass() {
        let t = test_named("numa-bad-declarations");
        assert_eq!(t.expected_status(), 1, "the kernel's status for a failed user level");
        let good = good_output(&t, good_boot_line());
        assert_eq!(check(&t, Ending::Exited(1), &good), Ok(()));
        let other = good.replace("unknown_kind_9", "unknown_kind_8");
        assert!(reasons(&t, &other).contains("bad-kind: expected `result=fail"));
        let started = good.replacen("name=bad-overlap result=fail", "name=bad-overlap result=pass", 1);
        assert!(reasons(&t, &started).contains("bad-overlap: expected"));
        let hist_failed = good.replacen("stale=0 result=pass", "stale=0 result=fail", 1);
        assert!(reasons(&t, &hist_failed).contains("a NUMA run failed"));
    }

    #[test]
    fn every_cpu_must_come_online_and_answer_the_selftest() {
        let t = test_named("numa-2x2");
        let good = good_output(&t, good_boot_line());
        let why = reasons(&t, &good.replace("online=4", "online=3"));
        assert!(
            why.contains("expected `report: smp online=4 expected=4`, got `report: smp online=3 expected=4`"),
            "{why}"
        );
        let why = reasons(&t, &good.replace("failed=0 pings=3/3", "failed=2 pings=2/3"));
        assert!(why.contains("the NUMA self-test failed"), "{why}");
        assert!(why.contains("expected pings=3/3"), "{why}");
        let why = reasons(&t, &good.replace("checks=19", "checks=15"));
        assert!(why.contains("expected checks >= 16 (4 per CPU)"), "{why}");
        let no_smp: String =
            good.lines().filter(|l| !l.starts_with("report: smp")).map(|l| format!("{l}\n")).collect();
        assert!(reasons(&t, &no_smp).contains("no `report: smp` line"));
        let no_selftest = good.replace("report: numa-selftest", "report: numa-sel");
        assert!(reasons(&t, &no_selftest).contains("no `report: numa-selftest` line"));
        let remote = good.replace("cpus=4 local=4", "cpus=4 local=2");
        assert!(reasons(&t, &remote).contains("a CPU runs kernel text from another node"));
        let shared = good.replace("mode=per-node", "mode=shared");
        assert!(reasons(&t, &shared).contains("expected `ktext-replica mode=per-node cpus=4`"));
        let acpi = good.replace("table=dt", "table=acpi");
        assert!(reasons(&t, &acpi).contains("no `report: firmware table=dt` line"));
        let v2 = good.replace("gic=v3", "gic=v2");
        assert!(reasons(&t, &v2).contains("expected gic=v3"));
        let gic_v2 = test_named("gic-v2");
        assert!(check(&gic_v2, Ending::Exited(0), &good_output(&gic_v2, good_boot_line())).is_ok());
        assert!(reasons(&gic_v2, &good).contains("expected gic=v2"));
        let none = good.replace("report: ktext-replica", "report: ktext-x");
        assert!(reasons(&t, &none).contains("no `report: ktext-replica` line"));
        let off = test_named("ktext-shared");
        assert!(!off.ktext_replicated());
        let shared_good = good_output(&off, good_boot_line()).replace("local=4", "local=2");
        assert_eq!(
            check(&off, Ending::Exited(0), &shared_good),
            Ok(()),
            "one copy: remote CPUs are expected"
        );
    }

    #[test]
    fn selftest_off_means_no_selftest_line() {
        let t = test_named("numa-selftest-off");
        assert!(!t.selftest_runs());
        let good = good_output(&t, good_boot_line());
        assert!(!good.contains("numa-selftest"), "{good}");
        assert_eq!(check(&t, Ending::Exited(0), &good), Ok(()));
        let with = good_output(&test_named("numa-2x2"), good_boot_line());
        let why = reasons(&t, &with);
        assert!(why.contains("printed although the command line has numa-selftest=off"), "{why}");
    }

    #[test]
    fn a_cpu_that_fails_to_start_must_be_named_and_counted() {
        let t = test_named("cpu-fails-to-start");
        let good = good_output(&t, good_boot_line());
        assert!(good.contains("report: smp online=4 expected=5\n"), "{good}");
        assert!(good.contains("pings=3/3"), "{good}");
        assert_eq!(check(&t, Ending::Exited(0), &good), Ok(()));
        let silent: String =
            good.lines().filter(|l| !l.starts_with("warning:")).map(|l| format!("{l}\n")).collect();
        let why = reasons(&t, &silent);
        assert!(why.contains("no `warning: cpu 4 (mpidr 0x4) did not start"), "{why}");
        let why = reasons(&t, &good.replace("expected=5", "expected=4"));
        assert!(why.contains("expected `report: smp online=4 expected=5`"), "{why}");
    }

    #[test]
    fn a_timeout_or_wrong_block_fails_with_every_reason() {
        let t = test_named("numa-2x2");
        let out = "report: boot cpu=0 entry_el=2\navailable: 2 nodes (0-1)\nnode 0 cpus: 0\n";
        let why = check(&t, Ending::TimedOut(std::time::Duration::from_secs(3)), out).unwrap_err().join("\n");
        assert!(why.contains("timeout after 3 s"), "{why}");
        assert!(why.contains("expected entry_el=1, got entry_el=2"), "{why}");
        assert!(why.contains("the numactl block differs"), "{why}");
        assert!(why.contains("no `report: boot result=pass`"), "{why}");
    }

    #[test]
    fn uboot_must_not_report_qemus_load_address() {
        let t = test_named("uboot-booti");
        let bad = good_output(&t, good_boot_line());
        let why = check(&t, Ending::Exited(0), &bad).unwrap_err().join("\n");
        assert!(why.contains("QEMU's own loader"), "{why}");
        let good = good_output(&t, "report: boot cpu=0 entry_el=1 load_pa=0x40400000");
        assert_eq!(check(&t, Ending::Exited(0), &good), Ok(()));
    }

    #[test]
    fn the_panic_selftest_needs_location_and_backtrace() {
        let t = test_named("selftest-panic");
        let good = "report: boot cpu=0\npanic: at kernel/src/main.rs:42:5: selftest\n  #0 0xffffffff80001234\n\
                    report: halt status=3 cause=panic\n";
        assert_eq!(check(&t, Ending::Exited(3), good), Ok(()));
        let why = check(&t, Ending::Exited(0), "panic: oops\n").unwrap_err().join("\n");
        assert!(why.contains("expected exit status 3, got exit status 0"), "{why}");
        assert!(why.contains("no `report: halt status=3 cause=panic` line"), "{why}");
        assert!(why.contains("source location"), "{why}");
        assert!(why.contains("no backtrace line"), "{why}");
    }

    #[test]
    fn the_fault_selftest_needs_far_elr_and_cpu() {
        let t = test_named("selftest-fault");
        let good = "exception: data abort on cpu 0: FAR=0x0 ELR=0xffffffff80001000 ESR=0x96000004\n\
                    report: halt status=4 cause=exception\n";
        assert_eq!(check(&t, Ending::Exited(4), good), Ok(()));
        let why = check(&t, Ending::Exited(3), "exception: data abort FAR=0x0\n").unwrap_err().join("\n");
        assert!(why.contains("FAR, ELR and CPU"), "{why}");
        assert!(why.contains("expected exit status 4, got exit status 3"), "{why}");
    }

    #[test]
    fn a_stop_needs_its_status_its_named_line_and_the_halt_line() {
        let t = test_named("bad-dtb-node-id");
        let good = "numa-l4 0.1.0\nfatal: device tree at 0x48000000: ... NUMA node id 99 out of range\n\
                    report: halt status=2 cause=bad-board\n";
        assert_eq!(check(&t, Ending::Exited(2), good), Ok(()));
        // A hang is never a pass, whatever was printed.
        let hung =
            check(&t, Ending::TimedOut(std::time::Duration::from_secs(20)), good).unwrap_err().join("\n");
        assert!(hung.contains("expected exit status 2, got timeout"), "{hung}");
        // PSCI's status 0 after the same lines: the runner turns it into 2 (kernel_status);
        // a real 0 is a failure.
        assert!(check(&t, Ending::Exited(0), good).is_err());
        let silent =
            check(&t, Ending::Exited(2), "report: halt status=2 cause=bad-board\n").unwrap_err().join("\n");
        assert!(
            silent.contains("no line starting `fatal: device tree` that names `NUMA node id 99`"),
            "{silent}"
        );
        let unlisted = good.replace("report: halt status=2 cause=bad-board\n", "");
        assert!(
            check(&t, Ending::Exited(2), &unlisted).unwrap_err().join("\n").contains("report: halt status=2")
        );
        let passed = format!("{good}report: boot result=pass\n");
        assert!(check(&t, Ending::Exited(2), &passed).unwrap_err().join("\n").contains("must stop"));
    }

    #[test]
    fn a_refusal_needs_the_runners_status_and_its_reason() {
        let t = test_named("empty-initrd");
        let said = "qemu-run: the initrd /tmp/x.cpio is empty (0 bytes): QEMU would drop it\n";
        assert_eq!(check(&t, Ending::Exited(66), said), Ok(()));
        assert!(check(&t, Ending::Exited(0), said).is_err());
        let booted = format!("numa-l4 0.1.0: an L4-family microkernel\n{said}");
        assert!(check(&t, Ending::Exited(66), &booted).unwrap_err().join("\n").contains("kernel started"));
    }

    #[test]
    fn every_kernel_status_is_produced_by_a_test() {
        // kernel/src/halt.rs: 0 pass .. 9 unsupported-board; each must be some test's
        // expected ending, so a status nobody provokes cannot rot.
        let tests = matrix(Path::new("k.img"));
        for status in 0..=9 {
            let produced = tests.iter().any(|t| match t.expect {
                Expect::Pass { .. } => t.expected_status() == status,
                Expect::Panic => status == 3,
                Expect::Fault => status == 4,
                Expect::Stop { status: s, .. } => s == status,
                Expect::Unsupported(_) => status == UNSUPPORTED_BOARD_STATUS,
                Expect::Refused { .. } => false,
            });
            assert!(produced, "no boot test ends with status {status}");
        }
    }

    /// What the root task prints on a good run with programs `(name, status)`.
    fn user_level_output(programs: &[(&str, &str)]) -> String {
        let mut out = String::from(
            "report: root-task entry=0x400000 segments=3 space=1 home=0 cpu=0\n\
             report: ipc-pingpong rounds=100 worker-checks-ok=100 faults=3\n\
             report: root-task checks-failed=0\n",
        );
        for (i, (name, status)) in programs.iter().enumerate() {
            out.push_str(&format!(
                "report: program name={name} status={status} node={} cpu={i} faults=6\n",
                i % 2
            ));
        }
        let failed = programs.iter().filter(|(_, s)| *s != "0").count();
        out.push_str(&format!("report: programs ran={} failed={failed}\n", programs.len()));
        out.push_str("report: console driver=pl011 base=0x9000000 messages=2 bytes=33\n");
        out.push_str(
            "report: kmem space=1 home=0 tables=15/15 mdb=0/0 tcbs=2/2 fallbacks=0\n\
             report: kmem space=2 home=1 tables=6/6 mdb=0/0 tcbs=2/2 fallbacks=0\n\
             report: user-level result=pass status=0\n",
        );
        out
    }

    #[test]
    fn unsupported_hardware_must_be_named_once_with_its_status_and_stop_the_boot() {
        let t = test_named("unsupported-gic");
        let good = "numa-l4 0.1.0\nreport: board cpus=2\nfatal: unsupported interrupt-controller:apple,aic\n\
                    report: halt status=9 cause=unsupported-board\n";
        assert!(check(&t, Ending::Exited(UNSUPPORTED_BOARD_STATUS), good).is_ok());
        assert!(reasons_with(&t, Ending::Exited(0), good).contains("expected exit status 9"));
        let silent = good.replace("report: halt", "report: hal");
        assert!(reasons_with(&t, Ending::Exited(9), &silent).contains("no `report: halt status=9"));
        let vague = good.replace("apple,aic", "x");
        assert!(reasons_with(&t, Ending::Exited(9), &vague).contains("expected one `fatal:` line"));
        let went_on = format!("{good}report: smp online=2 expected=2\n");
        assert!(reasons_with(&t, Ending::Exited(9), &went_on).contains("went on past"));
    }

    fn reasons_with(t: &BootTest, ending: Ending, output: &str) -> String {
        check(t, ending, output).err().unwrap_or_default().join("\n")
    }

    fn user_level_reasons(output: &str) -> String {
        let mut why = Vec::new();
        check_user_level(output, "pl011", &mut why);
        why.join("\n")
    }

    #[test]
    fn a_root_task_that_ran_hello_and_more_passes() {
        assert_eq!(user_level_reasons(&user_level_output(&[("bench", "0"), ("hello", "0")])), "");
    }

    #[test]
    fn a_failed_or_crashed_program_is_named() {
        let out = user_level_output(&[("fuzz", "crash"), ("hello", "0"), ("zeta", "3")]);
        let why = user_level_reasons(&out);
        assert!(
            why.contains("program failed: `report: program name=fuzz status=crash node=0 cpu=0 faults=6`"),
            "{why}"
        );
        assert!(why.contains("program failed: `report: program name=zeta status=3"), "{why}");
        assert!(why.contains("expected `report: programs ran=N failed=0` with N >= 1, got `report: programs ran=3 failed=2`"), "{why}");
    }

    #[test]
    fn hello_must_have_run_and_exited_0() {
        let why = user_level_reasons(&user_level_output(&[("other", "0")]));
        assert!(why.contains("no `report: program name=hello status=0` line"), "{why}");
        let why = user_level_reasons(&user_level_output(&[("hello", "timeout")]));
        assert!(why.contains("no `report: program name=hello status=0` line"), "{why}");
        let why = user_level_reasons(&user_level_output(&[]));
        assert!(why.contains("got `report: programs ran=0 failed=0`"), "{why}");
    }

    #[test]
    fn the_programs_output_goes_through_the_console_driver() {
        let good = user_level_output(&[("hello", "0")]);
        assert!(user_level_reasons(&good).is_empty(), "{}", user_level_reasons(&good));
        let none = good.replace("report: console ", "report: consol ");
        assert!(user_level_reasons(&none).contains("no user-level console"));
        let unused = good.replace("messages=2", "messages=0");
        assert!(user_level_reasons(&unused).contains("did not go through the console driver"));
    }

    #[test]
    fn a_supervisor_that_never_finished_fails() {
        let out = user_level_output(&[("hello", "0")]).replace("report: programs ran=1 failed=0\n", "");
        let why = user_level_reasons(&out);
        assert!(why.contains("no `report: programs ran= failed=` line"), "{why}");
        assert!(!why.contains("hello status=0` line"), "{why}");
    }

    #[test]
    fn the_robustness_programs_boot_as_root_and_are_judged_by_their_reports() {
        for program in ROOT_PROGRAMS {
            let t = test_named(program);
            assert_eq!(t.root_program, Some(program));
            assert_eq!(check(&t, Ending::Exited(0), &good_output(&t, good_boot_line())), Ok(()), "{program}");
        }
        let t = test_named("badargs");
        let good = good_output(&t, good_boot_line());
        let why = reasons(&t, &good.replace("failed=0 known", "failed=2 known"));
        assert!(why.contains("badargs: 2 cases failed"), "{why}");
        let why = reasons(&t, &good.replace("cases=148", "cases=12"));
        assert!(why.contains("expected at least 100"), "{why}");
        let why = reasons(&t, &good.replace("result=pass status=0", "result=fail status=2"));
        assert!(why.contains("did not end with status 0"), "{why}");
        let t = test_named("fuzz");
        let good = good_output(&t, good_boot_line());
        let why = reasons(&t, &good.replace("kernel-responsive=yes", "kernel-responsive=no"));
        assert!(why.contains("kernel-responsive=yes"), "{why}");
        let why = reasons(&t, &good.replace("bad-status=0", "bad-status=3"));
        assert!(why.contains("statuses outside the ABI's errors"), "{why}");
        let why = reasons(&t, &good.replace("calls=100000 kernel", "calls=99999 kernel"));
        assert!(why.contains("expected at least 100000"), "{why}");
        let why =
            reasons(&t, &good.replace("kernel-responsive=yes fuzzers=4", "kernel-responsive=yes fuzzers=1"));
        assert!(why.contains("expected one per CPU online"), "{why}");
        let why = reasons(&t, &good.replace("report: root-task entry=0x400000\n", ""));
        assert!(why.contains("fuzz did not start"), "{why}");
        for name in ["smpstress", "smpstress-8-cpus"] {
            let t = test_named(name);
            assert_eq!(t.root_program, Some("smpstress"));
            assert!(t.at_least.is_some(), "{name}: a long run, given its time");
            let good = good_output(&t, good_boot_line());
            assert_eq!(check(&t, Ending::Exited(0), &good), Ok(()), "{name}");
            let why = reasons(&t, &good.replace("ops=250040", "ops=249999"));
            assert!(why.contains("expected at least 250000"), "{why}");
            let why = reasons(&t, &good.replace("failed=0 rounds", "failed=3 rounds"));
            assert!(why.contains("checks failed"), "{why}");
            let why = reasons(&t, &good.replace("leaked-kib=0", "leaked-kib=8"));
            assert!(why.contains("did not come back"), "{why}");
            let why = reasons(&t, &good.replace("result=pass\nreport: user", "result=fail\nreport: user"));
            assert!(why.contains("not pass"), "{why}");
        }
        let t = test_named("l4test");
        let good = good_output(&t, good_boot_line());
        let why = reasons(&t, &good.replace("fault=80", "fault=0"));
        assert!(why.contains("the fault fast path never ran"), "{why}");
        let why = reasons(&t, &good.replace("report: fastpath ipc=900 map=80 fault=80\n", ""));
        assert!(why.contains("the ipc fast path never ran"), "{why}");
        let t = test_named("numademo");
        let good = good_output(&t, good_boot_line());
        let why = reasons(&t, &good.replace("code-local=1/1", "code-local=1/2"));
        assert!(why.contains("every code page must be on its space's node"), "{why}");
        let why = reasons(&t, &good.replace("global-faults=17", "global-faults=19"));
        assert!(why.contains("more than one fault per node per page"), "{why}");
        let why = reasons(&t, &good.replace("stale=0", "stale=1"));
        assert!(why.contains("a freed frame was reached"), "{why}");
        let why = reasons(&t, &good.replace("migrations=1", "migrations=0"));
        assert!(why.contains("the migration did not run"), "{why}");
        let why = reasons(&t, &good.replace("frame-node=1", "frame-node=0"));
        assert!(why.contains("the hot page was not moved"), "{why}");
        let why = reasons(
            &t,
            &good.replace(
                "migrations=1 unmaps=13 stale=0",
                "migrations=1 unmaps=13 stale=0 mode=single-space",
            ),
        );
        assert!(why.contains("want 1 space, 1 pager and remote code"), "{why}");
        let baseline = good
            .replace("spaces=2 pagers=2 code-local=1/1", "spaces=1 pagers=1 code-local=1/2")
            .replace("stale=0 result", "stale=0 mode=single-space result")
            .replace("moved-to=1 frame-node=1", "moved-to=-1 frame-node=0");
        assert_eq!(
            check(&t, Ending::Exited(0), &baseline),
            Ok(()),
            "the baseline's remote code and unmoved page pass"
        );
        let why = reasons(&t, &good.replace("and-page=true", "and-page=false"));
        assert!(why.contains("faulted a page twice"), "{why}");
        let why = reasons(&t, &good.replace("unmaps=13", "unmaps=1"));
        assert!(why.contains("stress rounds"), "{why}");
        let why = reasons(&t, &good.replace("variant=batched", "variant=other"));
        assert!(why.contains("the batched variant did not complete"), "{why}");
        let why = reasons(&t, &good.replace("spread-interleaved=true", "spread-interleaved=false"));
        assert!(why.contains("not spread over the nodes"), "{why}");
    }

    #[test]
    fn the_power_button_boot_wants_an_orderly_shutdown() {
        let t = test_named("powerbtn");
        assert_eq!(t.root_program, None, "the driver runs under the root task");
        assert_eq!(t.powerdown_on, Some("report: powerbtn ready"));
        let good = good_output(&t, good_boot_line());
        assert_eq!(check(&t, Ending::Exited(0), &good), Ok(()));
        let why = check(&t, Ending::Exited(1), &good).unwrap_err().join("\n");
        assert!(why.contains("expected exit status 0, got exit status 1"), "{why}");
        let why = reasons(&t, &good.replace("acknowledged=1 timed-out=0", "acknowledged=0 timed-out=1"));
        assert!(why.contains("expected `report: shutdown told=1 acknowledged=1 timed-out=0`, got `report: shutdown told=1 acknowledged=0 timed-out=1`"), "{why}");
        let why = reasons(&t, &good.replace("report: shutdown told=1 acknowledged=1 timed-out=0\n", ""));
        assert!(why.contains("no `report: shutdown` line"), "{why}");
        let why = reasons(&t, &good.replace("report: shutdownlistener told=yes cleanup=done\n", ""));
        assert!(why.contains("the listener was not told"), "{why}");
        let why = reasons(&t, &good.replace("refusals=4/4", "refusals=3/4"));
        assert!(why.contains("did not refuse every bad request"), "{why}");
        let why = reasons(&t, &good.replace("pressed=yes", "pressed=no"));
        assert!(why.contains("did not reach the driver"), "{why}");
        assert_eq!(
            check(&t, Ending::Exited(0), &good.replace("held=yes", "held=no")),
            Ok(()),
            "a late wake-up"
        );
        let why = reasons(&t, &good.replace(" held=yes", ""));
        assert!(why.contains("debounce"), "{why}");
        let why = reasons(&t, &good.replace("name=powerbtn status=shutdown", "name=powerbtn status=crash"));
        assert!(why.contains("expected powerbtn status=shutdown"), "{why}");
        let why = reasons(&t, &good.replace("ran=2 failed=0", "ran=1 failed=0"));
        assert!(why.contains("expected `report: programs ran=2 failed=0`"), "{why}");
        // Cleanup reported after the shutdown's report: not orderly.
        let late = good.replace("report: shutdownlistener told=yes cleanup=done\n", "").replace(
            "report: shutdown told=1",
            "report: shutdownlistener told=yes cleanup=done\nreport: shutdown told=1",
        );
        assert_eq!(check(&t, Ending::Exited(0), &late), Ok(()), "before the report is in order");
        let after = good.replace("report: shutdownlistener told=yes cleanup=done\n", "").replace(
            "report: programs ran=2",
            "report: shutdownlistener told=yes cleanup=done\nreport: programs ran=2",
        );
        let why = reasons(&t, &after);
        assert!(why.contains("came after `report: shutdown`"), "{why}");
        let why = reasons(
            &t,
            &good.replace("report: root-task checks-failed=0", "report: root-task checks-failed=2"),
        );
        assert!(why.contains("root task checks failed"), "{why}");
    }

    #[test]
    fn the_timeout_boot_wants_the_silent_program_counted_and_a_failed_status() {
        let t = test_named("shutdown-timeout");
        assert_eq!(t.expected_status(), 1);
        assert_eq!(t.powerdown_on, None, "the root shuts down itself: no driver");
        let good = good_output(&t, good_boot_line());
        assert_eq!(check(&t, Ending::Exited(1), &good), Ok(()), "{good}");
        let why = check(&t, Ending::Exited(0), &good).unwrap_err().join("\n");
        assert!(why.contains("expected exit status 1, got exit status 0"), "{why}");
        let why =
            check(&t, Ending::TimedOut(std::time::Duration::from_secs(30)), &good).unwrap_err().join("\n");
        assert!(why.contains("expected exit status 1"), "a hang is a failure: {why}");
        let why = check(&t, Ending::Exited(1), &good.replace("status=no-answer", "status=shutdown"))
            .unwrap_err()
            .join("\n");
        assert!(why.contains("expected shutdownhang status=no-answer"), "{why}");
        let why = check(&t, Ending::Exited(1), &good.replace("result=fail status=1", "result=pass status=0"))
            .unwrap_err()
            .join("\n");
        assert!(why.contains("no `report: user-level result=fail status=1` line"), "{why}");
    }

    #[test]
    fn locations_are_recognised() {
        assert!(has_location("panic: at kernel/src/main.rs:42:5"));
        assert!(!has_location("panic: at kernel/src/main.rs"));
        assert!(!has_location("panic: oops"));
    }
}
