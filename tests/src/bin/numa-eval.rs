// SPDX-License-Identifier: MIT OR Apache-2.0
//! `numa-eval`: runs the NUMA evaluation's matrix under QEMU and writes its results.
//!
//! `scripts/bench` calls it after the kernel's micro-benchmarks (whose `results.json`
//! entries it passes with `--micro`). For every configuration of `harness::eval::matrix`
//! it packs an initrd (the root task, the NUMA runtime, the programs `sweep`, `stencil`
//! and `numacost`, and the manifest `programs` that carries the configuration:
//! `harness::eval::Config::manifest`), boots it on QEMU `-M virt-5.0` with NUMA memory given
//! as `-numa node,mem=` (so the memory-locality plugin sees correct physical addresses),
//! `-cpu cortex-a53 -icount shift=0` and the plugin, and measures it
//! (`harness::eval::measure`, which refuses a run whose results fail a check). Two
//! QEMUs run at a time (each is one host thread under `-icount`). The logic is in
//! `harness::eval`, host-tested; this is the plumbing.

#![forbid(unsafe_code)]

use harness::eval::{self, Config, Metrics, Outcome};
use harness::initrd;
use harness::qemu::QemuConfig;
use harness::runner::{Ending, Runner};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Mutex;
use std::time::Duration;

const USAGE: &str = "\
usage: numa-eval --kernel IMAGE --programs DIR --plugin LIBMEMPLUGIN.so --out-dir DIR
                 [--micro FILE] [--commit ID] [--runs R] [--jobs N] [--timeout SECS]
                 [--only SLUG]

Runs the NUMA programs sweep, stencil and numacost under the NUMA runtime (DIR holds
the ELFs root, numa-pager, sweep, stencil, numacost) in every configuration of the NUMA
evaluation (one space vs per-node spaces; 1, 2, 4 nodes; sharing 0/25/50/100 %; code
replication on/off) under QEMU -icount shift=0 with the memory-locality plugin, and
writes DIR/results.json (the --micro file's entries first: one JSON object per line),
DIR/numa-table.md, DIR/numa-spans.md (where the user level's remote accesses went),
DIR/*.svg and the logs DIR/numa-SLUG-PROGRAM.log and .mem (a boot per program). With --runs R
(default 1) every configuration runs R times and results.json says whether all runs
gave the same figures (\"deterministic\").
Exits 1 if a configuration gave no (or contradictory) numbers.";

struct Options {
    kernel: PathBuf,
    programs: PathBuf,
    plugin: PathBuf,
    out_dir: PathBuf,
    micro: Option<PathBuf>,
    commit: String,
    jobs: usize,
    runs: usize,
    timeout: u64,
    only: Option<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let (mut kernel, mut programs, mut plugin, mut out_dir) = (None, None, None, None);
    let mut o = Options {
        kernel: PathBuf::new(),
        programs: PathBuf::new(),
        plugin: PathBuf::new(),
        out_dir: PathBuf::new(),
        micro: None,
        commit: "unknown".into(),
        jobs: 2,
        runs: 1,
        timeout: 600,
        only: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--kernel" => kernel = Some(PathBuf::from(value()?)),
            "--programs" => programs = Some(PathBuf::from(value()?)),
            "--plugin" => plugin = Some(PathBuf::from(value()?)),
            "--out-dir" => out_dir = Some(PathBuf::from(value()?)),
            "--micro" => o.micro = Some(PathBuf::from(value()?)),
            "--commit" => o.commit = value()?,
            "--only" => o.only = Some(value()?),
            "--jobs" => {
                let v = value()?;
                o.jobs = v.parse().ok().filter(|&j| j >= 1).ok_or(format!("--jobs {v}: a number >= 1"))?
            }
            "--runs" => {
                let v = value()?;
                o.runs = v.parse().ok().filter(|&r| r >= 1).ok_or(format!("--runs {v}: a number >= 1"))?
            }
            "--timeout" => {
                let v = value()?;
                o.timeout = v.parse().map_err(|_| format!("--timeout {v}: seconds"))?
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    let need = |p: Option<PathBuf>, name: &str| p.ok_or(format!("{name} is required"));
    o.kernel = need(kernel, "--kernel")?;
    o.programs = need(programs, "--programs")?;
    o.plugin = need(plugin, "--plugin")?;
    o.out_dir = need(out_dir, "--out-dir")?;
    for (path, what) in [(&o.kernel, "kernel Image"), (&o.plugin, "plugin")] {
        if !path.is_file() {
            return Err(format!("no {what} at {}", path.display()));
        }
    }
    for name in eval::PROGRAMS {
        if !o.programs.join(name).is_file() {
            return Err(format!("no {name} ELF in {}", o.programs.display()));
        }
    }
    Ok(o)
}

/// (configuration index, run index, figures or why none)
type RunResult = (usize, usize, Result<Metrics, String>);

/// Boots one configuration (run `run` of them), a boot per program; its figures, or
/// why there are none.
fn run(o: &Options, elfs: &[Vec<u8>], config: &Config, run: usize) -> Result<Metrics, String> {
    let slug = if run == 0 { config.slug() } else { format!("{}-run{}", config.slug(), run + 1) };
    let (mut stdout, mut mems) = (String::new(), Vec::new());
    for (program, manifest) in config.boots() {
        let (out, mem) = boot(o, elfs, config, &format!("{slug}-{program}"), &manifest)?;
        stdout.push_str(&out);
        mems.push(mem);
    }
    let mems: Vec<&str> = mems.iter().map(String::as_str).collect();
    eval::measure(config, &stdout, &mems)
        .map_err(|e| format!("{e} (logs: {}/numa-{slug}-*.log)", o.out_dir.display()))
}

/// One boot of `config` with `manifest`: its serial output and the plugin's report.
fn boot(
    o: &Options,
    elfs: &[Vec<u8>],
    config: &Config,
    name: &str,
    manifest: &str,
) -> Result<(String, String), String> {
    let initrd_path = o.out_dir.join(format!("numa-{name}.cpio"));
    let mut entries: Vec<(&str, &[u8])> =
        eval::PROGRAMS.iter().zip(elfs).map(|(name, elf)| (*name, elf.as_slice())).collect();
    entries.push(("programs", manifest.as_bytes()));
    let archive = initrd::pack_bytes(entries).map_err(|e| format!("packing the initrd: {e:?}"))?;
    std::fs::write(&initrd_path, archive).map_err(|e| format!("writing {}: {e}", initrd_path.display()))?;
    let mem_path = o.out_dir.join(format!("numa-{name}.mem"));
    let _ = std::fs::remove_file(&mem_path);
    let mut q = QemuConfig::new(config.topology(), &o.kernel);
    q.initrd = Some(initrd_path);
    q.legacy_numa = true;
    let plugin = format!("{},{}", o.plugin.display(), config.plugin_args(&mem_path.display().to_string()));
    q.extra = ["-cpu", eval::CPU, "-icount", eval::ICOUNT, "-plugin", &plugin].map(String::from).to_vec();
    let mut cmd = Command::new(&q.qemu);
    cmd.args(q.args());
    let runner = Runner {
        timeout: Some(Duration::from_secs(o.timeout)),
        echo: false,
        symbolizer: None,
        on_line: None,
    };
    let result = runner.run(cmd).map_err(|e| e.to_string())?;
    let log_path = o.out_dir.join(format!("numa-{name}.log"));
    let log = format!("$ {}\n{}{}", q.command_line(), result.stdout, result.stderr);
    std::fs::write(&log_path, &log).map_err(|e| format!("writing {}: {e}", log_path.display()))?;
    if result.ending != Ending::Exited(0) {
        return Err(format!("QEMU ended with {} (log: {})", result.ending, log_path.display()));
    }
    let mem = std::fs::read_to_string(&mem_path).map_err(|e| {
        format!("the plugin wrote no {}: {e} (log: {})", mem_path.display(), log_path.display())
    })?;
    eprintln!("numa-eval: {name}: done in {:.1} s", result.elapsed.as_secs_f64());
    Ok((result.stdout, mem))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse(&args) {
        Ok(o) => o,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("numa-eval: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(&o.out_dir) {
        eprintln!("numa-eval: creating {}: {e}", o.out_dir.display());
        return ExitCode::from(2);
    }
    let mut elfs = Vec::new();
    for name in eval::PROGRAMS {
        let path = o.programs.join(name);
        match std::fs::read(&path) {
            Ok(b) => elfs.push(b),
            Err(e) => {
                eprintln!("numa-eval: reading {}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    let micro: Vec<String> = match &o.micro {
        None => Vec::new(),
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => t.lines().map(String::from).collect(),
            Err(e) => {
                eprintln!("numa-eval: reading {}: {e}", p.display());
                return ExitCode::from(2);
            }
        },
    };
    let configs: Vec<Config> =
        eval::matrix().into_iter().filter(|c| o.only.as_ref().is_none_or(|s| *s == c.slug())).collect();
    if configs.is_empty() {
        eprintln!("numa-eval: no configuration is named {}", o.only.as_deref().unwrap_or(""));
        return ExitCode::from(2);
    }
    eprintln!("numa-eval: {} configurations, {} at a time", configs.len(), o.jobs);
    let queue = Mutex::new(
        configs.iter().enumerate().flat_map(|(i, c)| (0..o.runs).map(move |r| (i, c, r))).collect::<Vec<_>>(),
    );
    let results: Mutex<Vec<RunResult>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..o.jobs {
            s.spawn(|| {
                loop {
                    let Some((i, c, k)) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop() else {
                        break;
                    };
                    let r = run(&o, &elfs, c, k);
                    results.lock().unwrap_or_else(|p| p.into_inner()).push((i, k, r));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(i, k, _)| (*i, *k));
    let mut outcomes = Vec::new();
    let mut failed = 0;
    for (i, config) in configs.iter().enumerate() {
        let mut runs = Vec::new();
        let mut ok = true;
        for (_, k, r) in results.iter().filter(|(j, _, _)| *j == i) {
            match r {
                Ok(m) => runs.push(m.clone()),
                Err(e) => {
                    eprintln!("numa-eval: error: {} (run {}): {e}", config.slug(), k + 1);
                    ok = false;
                }
            }
        }
        match Outcome::of_runs(*config, runs) {
            Some(outcome) if ok => {
                if outcome.deterministic == Some(false) {
                    eprintln!("numa-eval: warning: {}: the runs gave different figures", config.slug());
                }
                outcomes.push(outcome);
            }
            _ => failed += 1,
        }
    }
    let table = eval::markdown(&outcomes);
    let mut written = vec![
        (o.out_dir.join("results.json"), eval::results_json(&micro, &outcomes, &o.commit)),
        (o.out_dir.join("numa-table.md"), table.clone()),
        (o.out_dir.join("numa-spans.md"), eval::spans_markdown(&outcomes)),
    ];
    match eval::plots(&outcomes) {
        Ok(plots) => written.extend(plots.into_iter().map(|(name, svg)| (o.out_dir.join(name), svg))),
        Err(e) => {
            eprintln!("numa-eval: error: plotting: {e}");
            failed += 1;
        }
    }
    for (path, text) in &written {
        if let Err(e) = write(path, text) {
            eprintln!("numa-eval: error: {e}");
            failed += 1;
        } else {
            eprintln!("numa-eval: wrote {}", path.display());
        }
    }
    println!("{table}");
    println!(
        "QEMU virt-5.0 -cpu {} -icount {}, one CPU per node, {} MiB RAM in all; commit {}; definitions: tests/src/eval.rs.",
        eval::CPU,
        eval::ICOUNT,
        eval::TOTAL_MEM_MIB,
        o.commit
    );
    // (The line scripts/test counts, as it counts the boot tests'.)
    println!("{} passed, {failed} failed", outcomes.len());
    if failed > 0 {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
