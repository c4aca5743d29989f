// SPDX-License-Identifier: MIT OR Apache-2.0
//! `boot-tests`: boot the kernel Image over the QEMU test matrix and judge every boot.
//!
//! This is the last stage of `scripts/test`: it proves that the kernel, the device-tree parser
//! and QEMU's machine agree, on every machine shape the project cares about (see
//! `harness::boot`). Each boot has a deadline (a hang fails), tests run two at a time to suit
//! small CI machines, and each prints one line, `ok NAME (1.2 s)` or `FAILED NAME: why`
//! followed by the captured output. The last line is always `N passed, N failed`.

#![forbid(unsafe_code)]

use harness::boot::{BootTest, Expect, NUMA_CLUSTERS_BOOTARG, check, matrix};
use harness::cli::{default_elf, default_image, workspace_root};
use harness::dtb;
use harness::initrd::{InitrdError, pack, pack_bytes, parse_inputs, write};
use harness::numactl::{FreeLines, describe_mismatch};
use harness::qemu::{Boot, Machine, QemuConfig};
use harness::runner::{OnLine, RunResult, Runner, kernel_status};
use harness::symbolize::Symbolizer;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

const USAGE: &str = "\
usage: boot-tests [OPTIONS]

Boots the kernel Image in QEMU over the test matrix and checks each boot's output.
Prints `ok NAME (T s)` or `FAILED NAME: why` per test, then `N passed, N failed`;
exits 1 if any test failed.

  --filter TEXT      run only tests whose name contains TEXT (repeatable: any matches)
  --list             print the test names and their QEMU command lines, run nothing
  --jobs N           boots at a time (default 2)
  --timeout SECS     deadline per boot (default 30); a boot that hits it fails
  --kernel IMAGE     the flat Image (default: target/kernel.img)
  --elf ELF          the kernel ELF, for symbolizing backtraces
  --initrd FILE      pass FILE to every boot as the initrd (-initrd); not to --dtb-only
                     dumps (QEMU takes -initrd only with -kernel)
  --user-bin DIR     where the user programs' ELFs are (default: aarch64-unknown-none/release
                     beside the kernel Image's directory). The tests `badargs` and `fuzz`
                     boot an initrd packed for them whose `root` is DIR/badargs, DIR/fuzz;
                     `powerbtn` and `shutdown-timeout` one of DIR/root and their programs
  --qemu BIN         the QEMU binary (default: qemu-system-aarch64)
  --verbose          print the output of passing tests too
  --dtb-only         boot nothing: for each passing-boot test (U-Boot excepted), let QEMU
                     dump its DTB (edited as the test edits it) and check that the kernel's
                     parser (platform) reads the expected numactl block from it, applying
                     numa=clusters when the test's bootargs hold it. Needs QEMU and dtc,
                     not the kernel.
  -h, --help         this text
";

struct Options {
    filters: Vec<String>,
    list: bool,
    jobs: usize,
    timeout: Duration,
    kernel: PathBuf,
    elf: PathBuf,
    initrd: Option<PathBuf>,
    user_bin: Option<PathBuf>,
    qemu: Option<String>,
    verbose: bool,
    dtb_only: bool,
}

fn parse_args() -> Result<Option<Options>, String> {
    let mut o = Options {
        filters: Vec::new(),
        list: false,
        jobs: 2,
        timeout: Duration::from_secs(30),
        kernel: default_image(),
        elf: default_elf(),
        initrd: None,
        user_bin: None,
        qemu: None,
        verbose: false,
        dtb_only: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("option `{arg}` needs a value"));
        match arg.as_str() {
            "--filter" => o.filters.push(value()?),
            "--list" => o.list = true,
            "--jobs" => {
                let v = value()?;
                o.jobs = v.parse().ok().filter(|&j| j > 0).ok_or(format!("--jobs: bad value `{v}`"))?;
            }
            "--timeout" => {
                let v = value()?;
                let secs: u64 = v
                    .parse()
                    .ok()
                    .filter(|&s| s > 0)
                    .ok_or(format!("--timeout: bad value `{v}` (seconds, > 0)"))?;
                o.timeout = Duration::from_secs(secs);
            }
            "--kernel" => o.kernel = value()?.into(),
            "--elf" => o.elf = value()?.into(),
            "--initrd" => o.initrd = Some(value()?.into()),
            "--user-bin" => o.user_bin = Some(value()?.into()),
            "--qemu" => o.qemu = Some(value()?),
            "--verbose" => o.verbose = true,
            "--dtb-only" => o.dtb_only = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(None);
            }
            _ => return Err(format!("unknown option `{arg}` (see --help)")),
        }
    }
    Ok(Some(o))
}

/// A test's verdict: `Ok(elapsed)` or the reasons, plus what it printed.
struct Outcome {
    name: &'static str,
    verdict: Result<Duration, Vec<String>>,
    output: Option<RunResult>,
    command: String,
}

/// Where a test's edited device tree goes (unique per run and test).
fn edited_dtb_path(test: &BootTest, what: &str) -> PathBuf {
    std::env::temp_dir().join(format!("numa-l4-boot-tests-{}-{}-{what}.dtb", std::process::id(), test.name))
}

/// The test's QEMU configuration, with `-dtb` of its edited device tree when it adds CPUs
/// (see `harness::dtb`). The caller removes the file when `Some`.
fn prepare(test: &BootTest, opts: &Options) -> Result<(QemuConfig, Option<PathBuf>), String> {
    let mut config = test.config.clone();
    let edit = match (&test.dtb_edit, test.extra_cpus.is_empty()) {
        (None, true) => return Ok((config, None)),
        (Some(edit), true) => edit.clone(),
        (None, false) => dtb::DtbEdit::Append(dtb::cpu_nodes_dts(&test.extra_cpus)),
        (Some(_), false) => return Err("a test either adds CPUs or edits the tree, not both".into()),
    };
    let path = edited_dtb_path(test, "edited");
    if let Err(e) = dtb::write_edited(&config, &edit, &path, opts.timeout) {
        let _ = std::fs::remove_file(&path);
        return Err(format!("cannot build the edited device tree: {e}"));
    }
    config.extra.extend(["-dtb".to_string(), path.display().to_string()]);
    Ok((config, Some(path)))
}

/// For a test with a broken initrd (`failures.rs`): builds it from the real `root` and
/// `hello` programs into a temporary file the caller removes.
fn pack_initrd_case(
    test: &BootTest,
    config: &mut QemuConfig,
    opts: &Options,
) -> Result<Option<PathBuf>, String> {
    let Some(case) = test.initrd_case else { return Ok(None) };
    let bin = user_bin(opts);
    let read = |name: &str| {
        let path = bin.join(name);
        std::fs::read(&path).map_err(|e| {
            format!(
                "no user program at {} ({e}; build it: source scripts/lib.sh && build_user)",
                path.display()
            )
        })
    };
    let bytes = case.build(&read("root")?, &read("hello")?);
    let path =
        std::env::temp_dir().join(format!("numa-l4-boot-tests-{}-{}.cpio", std::process::id(), test.name));
    std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    config.initrd = Some(path.clone());
    Ok(Some(path))
}

/// The `qemu-run` command a [`BootTest::via_runner`] test runs: the binary beside this
/// one, with the test's kernel, bootargs, initrd and extra QEMU arguments (the
/// topology is `qemu-run`'s default, the demo board).
fn runner_command(test: &BootTest, config: &QemuConfig, opts: &Options, timeout: Duration) -> Command {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("boot-tests"));
    let mut cmd = Command::new(exe.with_file_name("qemu-run"));
    cmd.args(["--kernel", &config.kernel.display().to_string(), "--elf", &opts.elf.display().to_string()]);
    cmd.args(["--qemu", &config.qemu, "--timeout", &timeout.as_secs().max(1).to_string()]);
    for word in &config.append {
        cmd.args(["--append", word]);
    }
    if let Some(initrd) = &config.initrd {
        cmd.args(["--initrd", &initrd.display().to_string()]);
    }
    if !config.extra.is_empty() {
        cmd.arg("--").args(&config.extra);
    }
    debug_assert!(
        test.config.topology == harness::topology::Topology::demo(),
        "via_runner boots the demo board"
    );
    cmd
}

fn remove(path: Option<&Path>) {
    if let Some(p) = path {
        let _ = std::fs::remove_file(p);
    }
}

/// The directory of the user programs' ELFs: `--user-bin`, else the target directory
/// the kernel Image is in (`target/kernel.img` -> `target/aarch64-unknown-none/release`).
fn user_bin(opts: &Options) -> PathBuf {
    opts.user_bin.clone().unwrap_or_else(|| {
        let target = opts.kernel.parent().unwrap_or(Path::new("."));
        target.join("aarch64-unknown-none/release")
    })
}

/// For a test with a root program: packs an initrd whose `root` is that program (in a
/// temporary file the caller removes) and points the config at it. For a supervised
/// test: an initrd of `pagers/root` and the test's programs, under their own names; for
/// a NUMA run, `root`, `numa-pager`, the programs and the manifest (`programs`).
fn pack_root_program(
    test: &BootTest,
    config: &mut QemuConfig,
    opts: &Options,
) -> Result<Option<PathBuf>, String> {
    let numa_programs: Vec<&str> = test
        .numa
        .iter()
        .flat_map(|n| std::iter::once("numa-pager").chain(n.programs.iter().copied()))
        .collect();
    let (root, others): (&str, &[&str]) = match (test.root_program, test.supervised, &test.numa) {
        (Some(program), _, _) => (program, &[]),
        (None, Some(s), _) => ("root", s.programs),
        (None, None, Some(_)) => ("root", &numa_programs),
        (None, None, None) => return Ok(None),
    };
    let bin = user_bin(opts);
    for program in std::iter::once(&root).chain(others) {
        let elf = bin.join(program);
        if !elf.is_file() {
            return Err(format!(
                "no user program at {} (build it: source scripts/lib.sh && build_user)",
                elf.display()
            ));
        }
    }
    let elf = bin.join(root);
    let path =
        std::env::temp_dir().join(format!("numa-l4-boot-tests-{}-{}.cpio", std::process::id(), test.name));
    let mut specs = vec![format!("root={}", elf.display())];
    specs.extend(others.iter().map(|p| format!("{p}={}", bin.join(p).display())));
    // A NUMA run's manifest: an entry called `programs` beside the ELFs.
    let manifest = test.numa.map(|n| {
        let file = std::env::temp_dir().join(format!(
            "numa-l4-boot-tests-{}-{}.programs",
            std::process::id(),
            test.name
        ));
        specs.push(format!("programs={}", file.display()));
        (file, n.manifest)
    });
    if let Some((file, text)) = &manifest
        && let Err(e) = std::fs::write(file, text)
    {
        return Err(format!("cannot write the manifest {}: {e}", file.display()));
    }
    // Programs with a broken declaration: `hist`'s ELF, its note rewritten.
    let mut broken = Vec::new();
    for &(name, case) in test.numa.map_or(&[][..], |n| n.broken) {
        let hist = bin.join("hist");
        let bytes = std::fs::read(&hist).map_err(|e| format!("cannot read {}: {e}", hist.display()))?;
        let patched = case.patch(&bytes).ok_or(format!("{} has no declaration to break", hist.display()))?;
        let file = std::env::temp_dir().join(format!("numa-l4-boot-tests-{}-{name}", std::process::id()));
        std::fs::write(&file, patched).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        specs.push(format!("{name}={}", file.display()));
        broken.push(file);
    }
    let packed = parse_inputs(&specs)
        .and_then(|inputs| pack(&inputs))
        .and_then(|(archive, _)| {
            if test.root_flags.is_empty() {
                return Ok(archive);
            }
            // The flags: empty entries beside `root`.
            let root =
                std::fs::read(&elf).map_err(|source| InitrdError::Read { path: elf.clone(), source })?;
            let mut entries: Vec<(&str, &[u8])> = vec![("root", &root)];
            entries.extend(test.root_flags.iter().map(|f| (*f, &[][..])));
            pack_bytes(entries).map_err(InitrdError::Archive)
        })
        .and_then(|archive| write(&path, &archive));
    for file in manifest.iter().map(|(f, _)| f).chain(&broken) {
        let _ = std::fs::remove_file(file);
    }
    if let Err(e) = packed {
        let _ = std::fs::remove_file(&path);
        return Err(format!("cannot pack the initrd for {}: {e}", test.name));
    }
    config.initrd = Some(path.clone());
    Ok(Some(path))
}

fn run_one(test: &BootTest, opts: &Options) -> Outcome {
    let fail = |why: String| Outcome {
        name: test.name,
        verdict: Err(vec![why]),
        output: None,
        command: test.config.command_line(),
    };
    let (mut config, edited) = match prepare(test, opts) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let initrd = if opts.dtb_only {
        Ok(None)
    } else if test.initrd_case.is_some() {
        pack_initrd_case(test, &mut config, opts)
    } else {
        pack_root_program(test, &mut config, opts)
    };
    let initrd = match initrd {
        Ok(i) => i,
        Err(e) => {
            remove(edited.as_deref());
            return fail(e);
        }
    };
    let outcome = if opts.dtb_only { run_dtb(test, &config, opts) } else { run_boot(test, &config, opts) };
    remove(edited.as_deref());
    remove(initrd.as_deref());
    outcome
}

fn run_boot(test: &BootTest, config: &QemuConfig, opts: &Options) -> Outcome {
    let command = config.command_line();
    let fail = |why: String| Outcome {
        name: test.name,
        verdict: Err(vec![why]),
        output: None,
        command: command.clone(),
    };
    if let Boot::Firmware(bios) = &test.config.boot
        && !bios.is_file()
    {
        return fail(format!("no firmware at {} (apt-get install u-boot-qemu)", bios.display()));
    }
    if let Boot::Uefi { loader, .. } = &test.config.boot {
        if !std::path::Path::new(harness::qemu::EDK2_BIOS).is_file() {
            return fail(format!(
                "no firmware at {} (apt-get install qemu-efi-aarch64)",
                harness::qemu::EDK2_BIOS
            ));
        }
        if !loader.is_file() {
            return fail(format!(
                "no UEFI loader at {} (source scripts/lib.sh && build_uefi_loader)",
                loader.display()
            ));
        }
        // The ESP gets this test's kernel, initrd and bootargs.
        if let Err(e) = config.prepare_esp() {
            return fail(format!("filling the ESP: {e}"));
        }
    }
    let timeout =
        test.deadline.map_or(opts.timeout, |d| d.min(opts.timeout)).max(test.at_least.unwrap_or_default());
    let mut cmd =
        if test.via_runner { runner_command(test, config, opts, timeout) } else { config.command() };
    // The power button: a QMP socket, and the line that says when to press it.
    let socket =
        std::env::temp_dir().join(format!("numa-l4-boot-tests-{}-{}.qmp", std::process::id(), test.name));
    let qmp = test.powerdown_on.map(|p| (p, "system_powerdown")).or(test.quit_on.map(|p| (p, "quit")));
    let on_line = qmp.map(|(prefix, command)| {
        let _ = std::fs::remove_file(&socket);
        cmd.args(["-qmp", &format!("unix:{},server=on,wait=off", socket.display())]);
        OnLine { prefix: prefix.to_string(), socket: socket.clone(), command: command.to_string() }
    });
    // qemu-run has a deadline of its own; ours comes a little later, so that its
    // verdict (a timeout is its status 124) is the one judged.
    let runner = Runner {
        timeout: Some(if test.via_runner { timeout + Duration::from_secs(5) } else { timeout }),
        echo: false,
        symbolizer: Some(Symbolizer::find(&opts.elf, Some(&workspace_root()))),
        on_line,
    };
    let result = runner.run(cmd);
    let _ = std::fs::remove_file(&socket);
    match result {
        Err(e) => fail(e.to_string()),
        Ok(result) => {
            // As qemu-run does: after a PSCI power-off the halt line carries the status.
            let ending = kernel_status(result.ending, &result.stdout);
            // qemu-run's own complaints are on its standard error.
            let output = if test.via_runner {
                format!("{}{}", result.stdout, result.stderr)
            } else {
                result.stdout.clone()
            };
            let verdict = check(test, ending, &output).map(|()| result.elapsed);
            Outcome { name: test.name, verdict, output: Some(result), command }
        }
    }
}

/// `--dtb-only`: QEMU dumps the machine's DTB; the kernel's own parser must read the block
/// the test expects (without free lines: only a running kernel knows what is free). A test
/// that edits the tree boots with `-dtb`, so QEMU dumps the edited tree as the kernel would
/// get it; a test with `numa=clusters` gets the cluster rule applied, as the kernel does.
/// This separates "QEMU/platform disagree" from "the kernel misbehaves".
fn run_dtb(test: &BootTest, config: &QemuConfig, opts: &Options) -> Outcome {
    let dtb = edited_dtb_path(test, "dump");
    let mut config = config.clone();
    config.boot = Boot::DumpDtb(dtb.clone());
    let command = config.command_line();
    let cmd = config.command();
    let runner = Runner { timeout: Some(opts.timeout), echo: false, symbolizer: None, on_line: None };
    let outcome = |verdict, output| Outcome { name: test.name, verdict, output, command: command.clone() };
    let result = match runner.run(cmd) {
        Ok(r) => r,
        Err(e) => return outcome(Err(vec![e.to_string()]), None),
    };
    if !result.ending.is_success() {
        let _ = std::fs::remove_file(&dtb);
        let why = format!("QEMU could not dump the DTB: {}", result.ending);
        return outcome(Err(vec![why]), Some(result));
    }
    let bytes = std::fs::read(&dtb);
    let _ = std::fs::remove_file(&dtb);
    let clusters = test.config.bootargs().split_whitespace().any(|w| w == NUMA_CLUSTERS_BOOTARG);
    let verdict = match bytes {
        Err(e) => Err(vec![format!("cannot read the dumped DTB {}: {e}", dtb.display())]),
        Ok(bytes) => match platform::Board::from_fdt(&bytes) {
            Err(e) => Err(vec![format!("platform rejects QEMU's DTB: {e}")]),
            Ok(mut board) => {
                let applied = if clusters {
                    board.numa_from_clusters().map(|_| ()).map_err(|e| format!("numa=clusters: {e}"))
                } else {
                    Ok(())
                };
                let got = board.numactl().to_string();
                let want = test.layout().block(FreeLines::Without);
                match applied {
                    Err(e) => Err(vec![e]),
                    Ok(()) if got == want => Ok(result.elapsed),
                    Ok(()) => Err(vec![format!(
                        "the parsed numactl block differs (- expected, + parsed):\n{}",
                        describe_mismatch(&want, &got)
                    )]),
                }
            }
        },
    };
    outcome(verdict, Some(result))
}

fn print_output(o: &Outcome) {
    println!("    command: {}", o.command);
    if let Some(r) = &o.output {
        println!("    --- serial output ({}, {:.1} s) ---", r.ending, r.elapsed.as_secs_f64());
        for line in r.stdout.lines() {
            println!("    | {line}");
        }
        if !r.stderr.trim().is_empty() {
            println!("    --- QEMU stderr ---");
            for line in r.stderr.lines() {
                println!("    | {line}");
            }
        }
        println!("    ---");
    }
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(Some(o)) => o,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("boot-tests: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(initrd) = opts.initrd.as_ref().filter(|i| !i.is_file()) {
        eprintln!(
            "boot-tests: no initrd at {} (build it: source scripts/lib.sh && build_initrd)",
            initrd.display()
        );
        println!("0 passed, 1 failed");
        return ExitCode::FAILURE;
    }
    let mut tests = matrix(&opts.kernel);
    for t in &mut tests {
        if let Some(q) = &opts.qemu {
            t.config.qemu = q.clone();
        }
        t.config.initrd = opts.initrd.clone();
    }
    tests.retain(|t| opts.filters.is_empty() || opts.filters.iter().any(|f| t.name.contains(f)));
    if tests.is_empty() {
        // A filter that matches nothing is a mistake, not a pass.
        eprintln!("boot-tests: no test matches the filter {:?}", opts.filters);
        println!("0 passed, 1 failed");
        return ExitCode::FAILURE;
    }
    if opts.dtb_only {
        // Only clean boots print a block; U-Boot rewrites the DTB, so QEMU's dump is not it.
        // The root-program and supervised tests' machines are checked by the others
        // already. The Raspberry Pi 4 boots Linux's tree, not one QEMU builds (the
        // support-report corpus test reads it).
        tests.retain(|t| {
            matches!(t.expect, Expect::Pass { .. })
                && matches!(t.config.boot, Boot::Direct)
                && matches!(t.config.machine, Machine::Virt { .. })
                && t.root_program.is_none()
                && t.supervised.is_none()
                && t.numa.is_none()
        });
        if tests.is_empty() {
            // The filter chose tests, none of them with a DTB of its own to check (e.g.
            // `scripts/test --filter powerbtn`): nothing to do here, and nothing wrong.
            eprintln!(
                "boot-tests: --dtb-only: none of the tests matching {:?} has a DTB to check",
                opts.filters
            );
            println!("0 passed, 0 failed");
            return ExitCode::SUCCESS;
        }
    }
    if opts.list {
        for t in &tests {
            let edited = match (&t.dtb_edit, t.extra_cpus.is_empty()) {
                (None, true) => "",
                (Some(dtb::DtbEdit::AsDumped), _) => " -dtb DUMPED.dtb (QEMU's own tree, passed back)",
                _ => " -dtb EDITED.dtb (QEMU's tree, edited)",
            };
            let initrd = t.initrd_case.map(|c| format!(" -initrd {c:?}.cpio")).unwrap_or_default();
            let via = if t.via_runner { " (through qemu-run)" } else { "" };
            println!("{}: {}{edited}{initrd}{via}", t.name, t.config.command_line());
        }
        return ExitCode::SUCCESS;
    }

    let (passed, failed) = if !opts.dtb_only && !opts.kernel.is_file() {
        // Every test fails for the same reason; say it once per test, never skip.
        for t in &tests {
            println!(
                "FAILED {}: no kernel Image at {} (build it: source scripts/lib.sh && build_kernel)",
                t.name,
                opts.kernel.display()
            );
        }
        (0, tests.len())
    } else {
        run_all(&tests, &opts)
    };
    println!("{passed} passed, {failed} failed");
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Runs the tests `opts.jobs` at a time; prints each verdict as it arrives.
fn run_all(tests: &[BootTest], opts: &Options) -> (usize, usize) {
    let next = &AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<Outcome>();
    let (mut passed, mut failed) = (0, 0);
    std::thread::scope(|s| {
        for _ in 0..opts.jobs.min(tests.len()) {
            let tx = tx.clone();
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(test) = tests.get(i) else { break };
                    if tx.send(run_one(test, opts)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for _ in 0..tests.len() {
            let Ok(o) = rx.recv() else { break };
            match &o.verdict {
                Ok(t) => {
                    passed += 1;
                    println!("ok {} ({:.1} s)", o.name, t.as_secs_f64());
                    if opts.verbose {
                        print_output(&o);
                    }
                }
                Err(why) => {
                    failed += 1;
                    let mut reasons = why.iter();
                    println!("FAILED {}: {}", o.name, reasons.next().map_or("", |s| s.as_str()));
                    for r in reasons {
                        println!("    and: {r}");
                    }
                    print_output(&o);
                }
            }
        }
    });
    // A worker that died without reporting still counts as a failure.
    let missing = tests.len() - passed - failed;
    (passed, failed + missing)
}
