// SPDX-License-Identifier: MIT OR Apache-2.0
//! The NUMA evaluation behind `scripts/bench`: configurations, measurements, results.
//!
//! The paper closes with open questions: how per-node address spaces compare with one
//! node-spanning space, what the extra global unmap costs, and what happens on realistic
//! workloads. This module answers them with numbers anyone can reproduce, through the
//! NUMA runtime as any program meets it. Every configuration ([`Config`]: one space or
//! one per node, 1/2/4 nodes, a sharing degree, code replication on or off) boots the
//! root task with the runtime (`pagers/numa-pager`) and an ordinary NUMA program from a
//! manifest that carries the configuration, once for each of three programs
//! ([`Config::boots`]): `sweep`, `stencil` and `numacost calls=unmap`, under QEMU with
//! `-icount shift=0`
//! (instructions, deterministic) and the memory-locality plugin (`tests/memplugin`).
//! From each boot's `report:` lines and the plugin's ([`measure`]) come the figures
//! ([`Metrics`]): page faults, the global unmap's cost per page, where the kernel's
//! metadata is, and the remote access fraction seen from outside the kernel (all, user
//! level, kernel; the user level's also by span of the programs' layout,
//! [`Config::spans`]), with a modelled cost that weighs each access by the board's
//! distance / 10.
//!
//! Nothing is taken on trust: every program must end `result=pass` in the runtime's
//! report (its own checks and the runtime's: code on its node, pagers on theirs, no
//! stale read after an unmap); the sweep's and the stencil's table misses, which the
//! runtime counts on their regions, must equal what each program predicts from where
//! its threads ran; and each stencil rank's result must equal the host's own run of
//! the same code ([`numa::workload::stencil_reference`]). A run that disagrees is an
//! error, not a number. The `numa-eval` binary runs the matrix and writes
//! `results.json` ([`results_json`]), a markdown table ([`markdown`]) and the SVG plots
//! ([`plots`]).
//!
//! # What "user level" counts
//! The plugin splits accesses by the half of the address space they use: user (EL0,
//! lower half) or kernel. Everything at EL0 is user level: the programs, and the
//! runtime's memory server and pagers, and the root task that starts them (its boot
//! self-test included), over the whole of the configuration's three boots. The runtime is user level in the paper's
//! design too (that is its point), so its accesses count; the spans
//! ([`Config::spans`]) say which part of the layout each remote access went through.

#![forbid(unsafe_code)]

use crate::plot::{self, Chart, PlotError, Series};
use crate::topology::{NodeSpec, Topology};
use numa::layout;
use numa::workload::{self, Layout, MAX_RANKS, Params, STENCIL_CELLS, Words};
use report::Report;
use std::fmt;

/// The CPU model of every run (seL4's numbers on this QEMU were measured on it too).
pub const CPU: &str = "cortex-a53";
/// QEMU's instruction counting: one instruction per nanosecond of virtual time.
/// (`sleep=off`: an idle machine's clock jumps to the next deadline, not real time.)
pub const ICOUNT: &str = "shift=0,sleep=off";
/// Guest RAM of every board, split evenly over its nodes.
pub const TOTAL_MEM_MIB: u64 = 512;
/// Where QEMU `virt` puts RAM: node k's from `RAM_BASE + k * size`, in node order (with
/// `-numa node,mem=`).
pub const RAM_BASE: u64 = 0x4000_0000;
/// The initrd entries of every run besides the manifest: the root task, the runtime,
/// the programs.
pub const PROGRAMS: [&str; 5] = ["root", "numa-pager", "sweep", "stencil", "numacost"];
/// Pages of the global unmap's batch (`numacost`'s pool).
pub const UNMAP_BATCH: u64 = 64;

/// One space for all nodes (the baseline), or one per node (the paper).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One address space spanning the nodes, one pager.
    SingleSpace,
    /// One space and one pager per node.
    PerNode,
}

impl Mode {
    /// The name in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Mode::SingleSpace => "single-space",
            Mode::PerNode => "per-node",
        }
    }
}

/// One configuration of the evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Spaces.
    pub mode: Mode,
    /// Nodes, one CPU each.
    pub nodes: usize,
    /// The sweep's sharing degree, percent.
    pub share: u64,
    /// Per-node copies of code and read-only data (per-node spaces only).
    pub replicate: bool,
}

impl Config {
    /// A short unique name for files: `per-node-4n-s25` (`-norep` without replication).
    pub fn slug(&self) -> String {
        let rep = if self.replicate { "" } else { "-norep" };
        format!("{}-{}n-s{}{rep}", self.mode.name(), self.nodes, self.share)
    }

    /// The workloads' knobs: this configuration's sharing and replication, default sizes.
    pub fn params(&self) -> Params {
        Params { share: self.share, replicate: self.replicate, ..Params::default() }
    }

    /// The runtime's flags as program arguments: the baseline's mode, no replication.
    fn flags(&self) -> String {
        let mut f = String::new();
        if self.mode == Mode::SingleSpace {
            f.push_str(" mode=single-space");
        }
        if !self.replicate {
            f.push_str(" replicate=off");
        }
        f
    }

    /// The boots of this configuration, one per program: the program's name and its
    /// manifest (initrd entry `programs`, `pagers/root/src/manifest.rs`), a line with
    /// this configuration's knobs and the runtime's flags. The sweep, the stencil and
    /// the unmap's measurement each boot alone, as when the figures were first
    /// published (a hang in one boot for all three, found here, was the root task's
    /// and is fixed: see the evaluation chapter).
    pub fn boots(&self) -> [(&'static str, String); 3] {
        let (p, f) = (self.params(), self.flags());
        [
            ("sweep", format!("sweep share={} sweep-rounds={}{f}\n", p.share, p.sweep_rounds)),
            ("stencil", format!("stencil stencil-iters={}{f}\n", p.stencil_steps)),
            ("numacost", format!("numacost calls=unmap{f}\n")),
        ]
    }

    /// The spans of user addresses the plugin counts apart (`span=NAME:START:END`): the
    /// parts of the runtime's layout (`numa::layout`) where a program's and the
    /// runtime's accesses go. Every user space uses the same map (the root task's image
    /// is at the same address as a program's), so a span names a kind of memory, not a
    /// space.
    pub fn spans() -> Vec<(&'static str, u64, u64)> {
        vec![
            // The KIP, a pager's UTCB, the images (code, data, bss) of the root task,
            // the runtime and the programs; a pager's stack.
            ("images", 0x10_0000, layout::UTCB_BASE),
            ("utcbs", layout::UTCB_BASE, layout::STACK_BASE),
            ("stacks", layout::STACK_BASE, layout::APP_ELF),
            // The program's and the runtime's files, read-only windows onto the initrd.
            ("elf-windows", layout::APP_ELF, layout::STAGING),
            // A pager's staging page; the server's heap (at the same address in its own
            // space) and its scratch page.
            ("staging-server-heap", layout::STAGING, layout::HEAP_BASE),
            ("heap-arenas", layout::HEAP_BASE, layout::DECLARED_BASE),
            ("declared-regions", layout::DECLARED_BASE, layout::WINDOW),
            // The server's frames of every global and stack page.
            ("server-window", layout::WINDOW, 1 << 48),
        ]
    }

    /// MiB of RAM per node.
    pub fn mem_per_node_mib(&self) -> u64 {
        TOTAL_MEM_MIB / self.nodes as u64
    }

    /// The board: `nodes` nodes of one CPU and an equal share of RAM, default distances
    /// (10 local, 20 remote).
    pub fn topology(&self) -> Topology {
        let nodes = vec![NodeSpec { cpus: 1, mem_mib: self.mem_per_node_mib() }; self.nodes];
        Topology::new(nodes, Vec::new(), None)
            .expect("invariant: 1..=8 nodes of 1 CPU and equal RAM are valid")
    }

    /// The plugin's arguments after its path: vCPU k on node k, node k's RAM range,
    /// the spans.
    pub fn plugin_args(&self, out: &str) -> String {
        let size = self.mem_per_node_mib() << 20;
        let mut a = format!("out={out}");
        for k in 0..self.nodes {
            a.push_str(&format!(",cpu={k}:{k},mem={:#x}:{size:#x}:{k}", RAM_BASE + k as u64 * size));
        }
        for (name, start, end) in Config::spans() {
            a.push_str(&format!(",span={name}:{start:#x}:{end:#x}"));
        }
        a
    }
}

/// The matrix `scripts/bench` runs: one space and per-node spaces on 1, 2 and 4 nodes
/// (sharing 25 %); on 4 nodes the sharing degrees 0, 50 and 100 % as well; per-node
/// spaces without code replication on 2 and 4 nodes.
pub fn matrix() -> Vec<Config> {
    let mut m = Vec::new();
    let c = |mode, nodes, share, replicate| Config { mode, nodes, share, replicate };
    for nodes in [1, 2, 4] {
        for mode in [Mode::SingleSpace, Mode::PerNode] {
            m.push(c(mode, nodes, 25, true));
        }
    }
    for share in [0, 50, 100] {
        for mode in [Mode::SingleSpace, Mode::PerNode] {
            m.push(c(mode, 4, share, true));
        }
    }
    for nodes in [2, 4] {
        m.push(c(Mode::PerNode, nodes, 25, false));
    }
    m
}

/// Loads and stores to RAM by vCPUs of a node: to their own node's RAM, or another's.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Locality {
    /// Accesses to the CPU's own node.
    pub local: u64,
    /// Accesses to another node.
    pub remote: u64,
}

impl Locality {
    /// Both counts added.
    pub fn plus(self, other: Locality) -> Locality {
        Locality { local: self.local + other.local, remote: self.remote + other.remote }
    }

    /// `remote / (local + remote)`; 0 without accesses.
    pub fn fraction(&self) -> f64 {
        let all = self.local + self.remote;
        if all == 0 { 0.0 } else { self.remote as f64 / all as f64 }
    }
}

/// What one configuration measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics {
    /// Global-page table misses of the workloads (sweep and stencil, every region:
    /// each node's first fault on a page, as the runtime counts them).
    pub page_faults: u64,
    /// The same, by the node of the faulting thread.
    pub page_faults_per_node: Vec<u64>,
    /// Table misses on the sweep's region.
    pub sweep_faults: u64,
    /// What the sweep predicts: shared pages once per space, private pages once.
    pub sweep_faults_predicted: u64,
    /// Table misses on the stencil's grid.
    pub stencil_faults: u64,
    /// Guest instructions per page of the global unmap, one call per page.
    pub global_unmap_insns: u64,
    /// The same, [`UNMAP_BATCH`] pages in one call.
    pub global_unmap_insns_batched: u64,
    /// The kernel's own `Unmap` per page, [`UNMAP_BATCH`] pages of one space in one
    /// flexpage: what revoking a page costs the kernel in one space.
    pub kernel_unmap_insns: u64,
    /// Frames of tables, MDB entries and TCBs on their space's home node, of all.
    pub kmeta_home_fraction: f64,
    /// The plugin's counts: all accesses, through user addresses, through kernel ones.
    pub all: Locality,
    /// Accesses through user (lower-half) addresses.
    pub user: Locality,
    /// Accesses through kernel (upper-half) addresses.
    pub kernel: Locality,
    /// The user accesses by span of the layout ([`Config::spans`], then `other`).
    pub user_spans: Vec<(String, Locality)>,
    /// The average cost of an access, in local accesses, with each (CPU node, memory
    /// node) pair weighted by distance / 10.
    pub modelled_access_cost: f64,
}

/// Why a run gave no numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EvalError {
    /// A `report:` line or key the run must print is missing or malformed.
    Missing(String),
    /// The run printed its numbers but they contradict a check.
    Wrong(String),
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalError::Missing(what) => write!(f, "missing from the run's output: {what}"),
            EvalError::Wrong(what) => write!(f, "the run's numbers fail a check: {what}"),
        }
    }
}

impl std::error::Error for EvalError {}

fn line<'a>(reports: &[Report<'a>], kind: &str, key: &str) -> Result<Report<'a>, EvalError> {
    reports
        .iter()
        .rev()
        .find(|r| r.name == kind && r.get(key).is_some())
        .copied()
        .ok_or_else(|| EvalError::Missing(format!("`report: {kind}` with `{key}=`")))
}

fn number(r: &Report, key: &str) -> Result<u64, EvalError> {
    r.get(key)
        .and_then(report::parse_u64)
        .ok_or_else(|| EvalError::Missing(format!("a number `{key}=` in `report: {}`", r.name)))
}

fn slashed(r: &Report, key: &str) -> Result<Vec<u64>, EvalError> {
    let text = r.get(key).ok_or_else(|| EvalError::Missing(format!("`{key}=` in `report: {}`", r.name)))?;
    text.split('/')
        .map(|n| n.parse().map_err(|_| EvalError::Missing(format!("numbers a/b/.. in `{key}={text}`"))))
        .collect()
}

/// The stencil results every rank must report, from the host's own run.
pub fn stencil_expected(ranks: u64, steps: u64) -> Vec<u64> {
    let mut words = vec![0u64; (2 * ranks * STENCIL_CELLS) as usize];
    let layout = Layout { sweep: 0, grid: 0 };
    let sums = workload::stencil_reference(&mut Words { base: 0, words: &mut words }, &layout, ranks, steps);
    sums[..ranks as usize].to_vec()
}

/// The line `report: NAME` whose `key` is `value`.
fn line_with<'a>(
    reports: &[Report<'a>],
    kind: &str,
    key: &str,
    value: &str,
) -> Result<Report<'a>, EvalError> {
    reports
        .iter()
        .rev()
        .find(|r| r.name == kind && r.get(key) == Some(value))
        .copied()
        .ok_or_else(|| EvalError::Missing(format!("`report: {kind} {key}={value}`")))
}

/// A program's checks: the runtime passed it, on this configuration's nodes and spaces
/// and replication. Its `numa-program` and `numa-program-detail` lines.
fn program<'a>(
    reports: &[Report<'a>],
    config: &Config,
    name: &str,
) -> Result<(Report<'a>, Report<'a>), EvalError> {
    let run = line_with(reports, "numa-program", "name", name)?;
    let detail = line_with(reports, "numa-program-detail", "name", name)?;
    if run.get("result") != Some("pass") {
        return Err(EvalError::Wrong(format!(
            "the runtime says {name} result={} (error={})",
            run.get("result").unwrap_or(""),
            run.get("error").unwrap_or("none")
        )));
    }
    let spaces = if config.mode == Mode::SingleSpace { 1 } else { config.nodes as u64 };
    let replicated = config.mode == Mode::PerNode && config.replicate;
    if number(&run, "nodes")? != config.nodes as u64
        || number(&run, "spaces")? != spaces
        || detail.get("mode") != Some(config.mode.name())
        || detail.get("replicate") != Some(if replicated { "on" } else { "off" })
    {
        return Err(EvalError::Wrong(format!(
            "{name} ran another configuration: nodes={} spaces={} mode={} replicate={}",
            run.get("nodes").unwrap_or(""),
            run.get("spaces").unwrap_or(""),
            detail.get("mode").unwrap_or(""),
            detail.get("replicate").unwrap_or("")
        )));
    }
    Ok((run, detail))
}

/// The table misses the runtime counted on `program`'s region `region`.
fn region_misses(reports: &[Report], program: &str, region: &str) -> Result<u64, EvalError> {
    let r = reports
        .iter()
        .rev()
        .find(|r| {
            r.name == "numa-region" && r.get("program") == Some(program) && r.get("name") == Some(region)
        })
        .ok_or_else(|| {
            EvalError::Missing(format!("`report: numa-region program={program} name={region}`"))
        })?;
    number(r, "misses")
}

/// The figures of one configuration, from the serial output of its boots `log` (one
/// after the other) and the plugin's report of each boot, `mems`.
pub fn measure(config: &Config, log: &str, mems: &[&str]) -> Result<Metrics, EvalError> {
    let reports: Vec<Report> = report::reports(log).collect();
    let params = config.params();
    let (sweep_run, sweep_detail) = program(&reports, config, "sweep")?;
    let (stencil_run, stencil_detail) = program(&reports, config, "stencil")?;
    program(&reports, config, "numacost")?;
    let sweep = line(&reports, "sweep", "predicted")?;
    if number(&sweep, "share")? != params.share || number(&sweep, "rounds")? != params.sweep_rounds {
        return Err(EvalError::Wrong("the sweep ran other parameters than the manifest's".into()));
    }
    if sweep.get("result") != Some("ok") {
        return Err(EvalError::Wrong("a rank's sweep result differs from sweep_expected".into()));
    }
    let (sweep_faults, predicted) =
        (region_misses(&reports, "sweep", "sweep")?, number(&sweep, "predicted")?);
    if sweep_faults != predicted {
        return Err(EvalError::Wrong(format!("{sweep_faults} sweep faults, {predicted} predicted")));
    }
    let stencil = line(&reports, "stencil", "sums")?;
    if number(&stencil, "steps")? != params.stencil_steps {
        return Err(EvalError::Wrong("the stencil ran other parameters than the manifest's".into()));
    }
    let working = number(&stencil, "ranks")?.min(MAX_RANKS);
    let sums = slashed(&stencil, "sums")?;
    let expected = stencil_expected(working, params.stencil_steps);
    if sums != expected || stencil.get("result") != Some("ok") {
        return Err(EvalError::Wrong(format!("stencil sums {sums:?}, the host computes {expected:?}")));
    }
    let stencil_faults = region_misses(&reports, "stencil", "grid")?;
    let stencil_predicted = number(&stencil, "predicted")?;
    if stencil_faults != stencil_predicted {
        return Err(EvalError::Wrong(format!(
            "{stencil_faults} stencil faults, {stencil_predicted} predicted"
        )));
    }
    let cost = line_with(&reports, "numacost", "calls", "unmap")?;
    if cost.get("result") != Some("ok") || number(&cost, "pages")? != UNMAP_BATCH {
        return Err(EvalError::Wrong("numacost's unmaps failed their checks".into()));
    }
    let unmap = |call: &str| number(&line_with(&reports, "numa-cost", "call", call)?, "insns");
    let mut per_node = slashed(&sweep_detail, "faults-per-node")?;
    for (a, b) in per_node.iter_mut().zip(slashed(&stencil_detail, "faults-per-node")?) {
        *a += b;
    }
    // Kernel metadata: frames of tables, MDB entries and TCBs of every space, on its home.
    let (mut home, mut total) = (0u64, 0u64);
    for r in reports.iter().filter(|r| r.name == "kmem") {
        for key in ["tables", "mdb", "tcbs"] {
            let text = r.get(key).ok_or_else(|| EvalError::Missing(format!("`{key}=` in `report: kmem`")))?;
            let (h, t) = text
                .split_once('/')
                .and_then(|(h, t)| Some((h.parse::<u64>().ok()?, t.parse::<u64>().ok()?)))
                .ok_or_else(|| EvalError::Missing(format!("`{key}=HOME/TOTAL` in `report: kmem`")))?;
            home += h;
            total += t;
        }
    }
    if total == 0 {
        return Err(EvalError::Missing("`report: kmem` lines".into()));
    }
    if mems.is_empty() {
        return Err(EvalError::Missing("the plugin's reports".into()));
    }
    let (mut all, mut user, mut kernel, mut weighted, mut count) =
        (Locality::default(), Locality::default(), Locality::default(), 0, 0);
    let mut user_spans: Vec<(String, Locality)> = Vec::new();
    for mem in mems {
        let (a, u, k, w, c) = locality(config, mem)?;
        (all, user, kernel) = (all.plus(a), user.plus(u), kernel.plus(k));
        (weighted, count) = (weighted + w, count + c);
        let boot = spans(mem)?;
        if user_spans.is_empty() {
            user_spans = boot;
        } else {
            for ((_, sum), (_, l)) in user_spans.iter_mut().zip(boot) {
                *sum = sum.plus(l);
            }
        }
    }
    let cost = if count == 0 { 0.0 } else { weighted as f64 / 10.0 / count as f64 };
    Ok(Metrics {
        page_faults: number(&sweep_run, "global-faults")? + number(&stencil_run, "global-faults")?,
        page_faults_per_node: per_node,
        sweep_faults,
        sweep_faults_predicted: predicted,
        stencil_faults,
        global_unmap_insns: unmap("unmap-page")?,
        global_unmap_insns_batched: unmap("unmap-page-batched")?,
        kernel_unmap_insns: unmap("kernel-unmap-page")?,
        kmeta_home_fraction: home as f64 / total as f64,
        all,
        user,
        kernel,
        user_spans,
        modelled_access_cost: cost,
    })
}

/// The plugin's `memaccess-span` lines: every span of [`Config::spans`], then `other`.
fn spans(mem: &str) -> Result<Vec<(String, Locality)>, EvalError> {
    let reports: Vec<Report> = report::reports(mem).collect();
    let names = Config::spans().into_iter().map(|(n, _, _)| n).chain(["other"]);
    names
        .map(|name| {
            let r = line_with(&reports, "memaccess-span", "name", name)?;
            Ok((name.to_string(), Locality { local: number(&r, "local")?, remote: number(&r, "remote")? }))
        })
        .collect()
}

/// The plugin's totals (all, user, kernel) of one boot, and its accesses weighted by
/// distance and counted (for the modelled cost).
fn locality(config: &Config, mem: &str) -> Result<(Locality, Locality, Locality, u64, u64), EvalError> {
    let reports: Vec<Report> = report::reports(mem).collect();
    let of = |r: &Report| -> Result<Locality, EvalError> {
        if number(r, "unmapped")? > 0 || number(r, "unknown-cpu")? > 0 {
            return Err(EvalError::Wrong(format!(
                "the plugin could not place every access (unmapped={} unknown-cpu={}): wrong RAM ranges?",
                r.get("unmapped").unwrap_or(""),
                r.get("unknown-cpu").unwrap_or("")
            )));
        }
        Ok(Locality { local: number(r, "local")?, remote: number(r, "remote")? })
    };
    let all = of(&line(&reports, "memaccess-total", "remote")?)?;
    let level = |name: &str| {
        reports
            .iter()
            .find(|r| r.name == "memaccess-level" && r.get("level") == Some(name))
            .ok_or_else(|| EvalError::Missing(format!("`report: memaccess-level level={name}`")))
            .and_then(of)
    };
    let (user, kernel) = (level("user")?, level("kernel")?);
    let t = config.topology();
    let (mut weighted, mut count) = (0u64, 0u64);
    for r in reports.iter().filter(|r| r.name == "memaccess") {
        let (Some(cpu), Some(node)) = (r.get("cpu-node"), r.get("mem-node")) else { continue };
        let (Ok(cpu), Ok(node)) = (cpu.parse::<usize>(), node.parse::<usize>()) else { continue };
        if cpu >= config.nodes || node >= config.nodes {
            return Err(EvalError::Wrong(format!(
                "an access by node {cpu} to node {node}: not on this board"
            )));
        }
        let n = number(r, "loads")? + number(r, "stores")?;
        weighted += n * u64::from(t.distance(cpu, node));
        count += n;
    }
    if count != all.local + all.remote {
        return Err(EvalError::Wrong("the plugin's pairs do not add up to its totals".into()));
    }
    Ok((all, user, kernel, weighted, count))
}

/// One configuration's outcome.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The configuration.
    pub config: Config,
    /// Its figures (of the first run).
    pub metrics: Metrics,
    /// How many times it ran.
    pub runs: usize,
    /// With several runs: whether every run gave the same figures.
    pub deterministic: Option<bool>,
}

impl Outcome {
    /// The outcome of `runs` (at least one) of `config`: the first run's figures, and
    /// whether the others agree.
    pub fn of_runs(config: Config, runs: Vec<Metrics>) -> Option<Outcome> {
        let first = runs.first()?.clone();
        let deterministic = (runs.len() > 1).then(|| runs.iter().all(|m| *m == first));
        Some(Outcome { config, metrics: first, runs: runs.len(), deterministic })
    }
}

fn json_f(x: f64) -> String {
    format!("{x:.4}")
}

/// One `results.json` entry (one line).
pub fn json_entry(o: &Outcome, commit: &str) -> String {
    let (c, m, p) = (&o.config, &o.metrics, o.config.params());
    let per_node = m.page_faults_per_node.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
    let spans = m
        .user_spans
        .iter()
        .map(|(name, l)| format!("\"{name}\": [{}, {}]", l.local, l.remote))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{{\"config\": {{\"workload\": \"numa-programs\", \"programs\": \"sweep stencil numacost\", \"mode\": \"{}\", \"nodes\": {}, \"cpus_per_node\": 1, \"mem_per_node_mib\": {}, \
         \"share_percent\": {}, \"code_replication\": {}, \"sweep_rounds\": {}, \"stencil_steps\": {}, \"cpu\": \"{CPU}\", \
         \"icount\": \"{ICOUNT}\", \"machine\": \"virt-5.0, -numa node,mem=\", \"commit\": \"{commit}\"}}, \
         \"metrics\": {{\"page_faults\": {}, \"page_faults_per_node\": [{per_node}], \"sweep_page_faults\": {}, \
         \"sweep_page_faults_predicted\": {}, \"stencil_page_faults\": {}, \"global_unmap_insns\": {}, \
         \"global_unmap_insns_batched\": {}, \"unmap_batch_pages\": {UNMAP_BATCH}, \"kernel_unmap_insns\": {}, \
         \"kmeta_home_fraction\": {}, \"remote_access_fraction\": {}, \
         \"remote_access_fraction_user\": {}, \"remote_access_fraction_kernel\": {}, \"modelled_access_cost\": {}, \
         \"ram_accesses\": {}, \"user_accesses_by_span\": {{{spans}}}}}, \"runs\": {}, \"deterministic\": {}}}",
        c.mode.name(),
        c.nodes,
        c.mem_per_node_mib(),
        c.share,
        c.replicate,
        p.sweep_rounds,
        p.stencil_steps,
        m.page_faults,
        m.sweep_faults,
        m.sweep_faults_predicted,
        m.stencil_faults,
        m.global_unmap_insns,
        m.global_unmap_insns_batched,
        m.kernel_unmap_insns,
        json_f(m.kmeta_home_fraction),
        json_f(m.all.fraction()),
        json_f(m.user.fraction()),
        json_f(m.kernel.fraction()),
        json_f(m.modelled_access_cost),
        m.all.local + m.all.remote,
        o.runs,
        o.deterministic.map_or("null".to_string(), |d| d.to_string()),
    )
}

/// The whole `results.json`: the given entries (lines of JSON objects, e.g. the
/// micro-benchmarks'), then one per outcome.
pub fn results_json(other: &[String], outcomes: &[Outcome], commit: &str) -> String {
    let entries: Vec<String> =
        other.iter().map(|l| l.trim().trim_end_matches(',').to_string()).filter(|l| !l.is_empty()).collect();
    let entries: Vec<String> =
        entries.into_iter().chain(outcomes.iter().map(|o| json_entry(o, commit))).collect();
    format!("[\n  {}\n]\n", entries.join(",\n  "))
}

/// The results as a markdown table, one row per configuration.
pub fn markdown(outcomes: &[Outcome]) -> String {
    let mut t = String::from(
        "| spaces | nodes | sharing | code replicated | sweep faults (predicted) | stencil faults | global unmap / page (a call a page) | (64 a call) | kernel `Unmap` / page, one space | kernel metadata on home | remote accesses: all | user | kernel | modelled cost / access |\n\
         |---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for o in outcomes {
        let (c, m) = (&o.config, &o.metrics);
        let replicated = match c.mode {
            Mode::SingleSpace => "n/a (one copy)",
            Mode::PerNode if c.replicate => "yes",
            Mode::PerNode => "no",
        };
        t.push_str(&format!(
            "| {} | {} | {} % | {replicated} | {} ({}) | {} | {} | {} | {} | {:.3} | {:.4} | {:.4} | {:.4} | {:.3} |\n",
            if c.mode == Mode::PerNode { "one per node" } else { "one" },
            c.nodes,
            c.share,
            m.sweep_faults,
            m.sweep_faults_predicted,
            m.stencil_faults,
            m.global_unmap_insns,
            m.global_unmap_insns_batched,
            m.kernel_unmap_insns,
            m.kmeta_home_fraction,
            m.all.fraction(),
            m.user.fraction(),
            m.kernel.fraction(),
            m.modelled_access_cost,
        ));
    }
    t
}

/// Where the user level's remote accesses went: one row per configuration, one column
/// per span of the layout ([`Config::spans`], then `other`): remote accesses, and in
/// brackets the share of all that configuration's remote user accesses.
pub fn spans_markdown(outcomes: &[Outcome]) -> String {
    let names: Vec<&str> = Config::spans().into_iter().map(|(n, _, _)| n).chain(["other"]).collect();
    let mut t = format!("| configuration | {} |\n|---|{}\n", names.join(" | "), "---:|".repeat(names.len()));
    for o in outcomes {
        let all: u64 = o.metrics.user_spans.iter().map(|(_, l)| l.remote).sum();
        let cells: Vec<String> = o
            .metrics
            .user_spans
            .iter()
            .map(|(_, l)| format!("{} ({:.0} %)", l.remote, 100.0 * l.remote as f64 / all.max(1) as f64))
            .collect();
        t.push_str(&format!("| {} | {} |\n", o.config.slug(), cells.join(" | ")));
    }
    t
}

fn find(outcomes: &[Outcome], want: impl Fn(&Config) -> bool) -> Option<&Metrics> {
    outcomes.iter().find(|o| want(&o.config)).map(|o| &o.metrics)
}

/// The plots, as (file name, SVG): page faults against the sharing degree (4 nodes),
/// the global unmap's cost against the node count, and the remote access fractions
/// (all accesses, and user accesses) of one space, per-node spaces, and per-node spaces
/// without code replication. A plot whose configurations are missing is left out.
pub fn plots(outcomes: &[Outcome]) -> Result<Vec<(&'static str, String)>, PlotError> {
    let mut out = Vec::new();
    let series = |name: &str, mode: Mode| {
        let points = [0, 25, 50, 100]
            .iter()
            .filter_map(|&share| {
                find(outcomes, |c| c.mode == mode && c.nodes == 4 && c.share == share && c.replicate)
                    .map(|m| (share as f64, m.sweep_faults as f64))
            })
            .collect();
        Series::new(name, points)
    };
    let faults = [series("per-node spaces", Mode::PerNode), series("one space", Mode::SingleSpace)];
    if faults.iter().all(|s| !s.points.is_empty()) {
        let chart = Chart {
            title: "Sweep page faults vs sharing degree (4 nodes)",
            x_label: "pages shared by all workers (%)",
            y_label: "page faults (global table misses)",
        };
        out.push(("faults-vs-sharing.svg", plot::line_chart(&chart, &faults)?));
    }
    let unmap = |name: &str, mode: Mode, batched: bool| {
        let points = [1, 2, 4]
            .iter()
            .filter_map(|&n| {
                find(outcomes, |c| c.mode == mode && c.nodes == n && c.share == 25 && c.replicate).map(|m| {
                    (
                        n as f64,
                        if batched { m.global_unmap_insns_batched } else { m.global_unmap_insns } as f64,
                    )
                })
            })
            .collect();
        Series::new(name, points)
    };
    let unmaps = [
        unmap("per-node spaces, a call per page", Mode::PerNode, false),
        unmap("per-node spaces, 64 pages a call", Mode::PerNode, true),
        unmap("one space, 64 pages a call", Mode::SingleSpace, true),
    ];
    if unmaps.iter().all(|s| !s.points.is_empty()) {
        let chart = Chart {
            title: "Global unmap cost per page vs nodes",
            x_label: "nodes",
            y_label: "guest instructions per page",
        };
        out.push(("unmap-vs-nodes.svg", plot::line_chart(&chart, &unmaps)?));
    }
    for (file, title, pick) in [
        (
            "remote-fraction.svg",
            "Remote fraction of all accesses (sharing 25 %)",
            (|m: &Metrics| m.all.fraction()) as fn(&Metrics) -> f64,
        ),
        (
            "remote-fraction-user.svg",
            "Remote fraction of user-level accesses (sharing 25 %)",
            |m: &Metrics| m.user.fraction(),
        ),
    ] {
        let nodes = [2usize, 4];
        let group = |name: &str, want: &dyn Fn(&Config) -> bool| -> Option<(String, Vec<f64>)> {
            let values: Option<Vec<f64>> = nodes
                .iter()
                .map(|&n| find(outcomes, |c| c.nodes == n && c.share == 25 && want(c)).map(pick))
                .collect();
            Some((name.to_string(), values?))
        };
        let groups: Option<Vec<(String, Vec<f64>)>> = [
            group("one space", &|c| c.mode == Mode::SingleSpace),
            group("per-node spaces", &|c| c.mode == Mode::PerNode && c.replicate),
            group("per-node, code not replicated", &|c| c.mode == Mode::PerNode && !c.replicate),
        ]
        .into_iter()
        .collect();
        if let Some(groups) = groups {
            let categories: Vec<String> = nodes.iter().map(|n| format!("{n} nodes")).collect();
            let chart = Chart { title, x_label: "board", y_label: "remote / (local + remote)" };
            out.push((file, plot::bar_chart(&chart, &categories, &groups)?));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run's output as the programs and the runtime print it.
    fn log(c: &Config, sums: &str) -> String {
        let p = c.params();
        let ranks = c.nodes;
        let predicted = if c.mode == Mode::PerNode {
            p.shared_pages() * ranks as u64 + (16 - p.shared_pages()) * ranks as u64
        } else {
            p.shared_pages() + (16 - p.shared_pages()) * ranks as u64
        };
        let spaces = if c.mode == Mode::PerNode { c.nodes } else { 1 };
        let rep = if c.mode == Mode::PerNode && c.replicate { "on" } else { "off" };
        let per_node = vec!["20"; c.nodes].join("/");
        let program = |name: &str, faults: u64| {
            format!(
                "report: numa-program name={name} nodes={} spaces={spaces} pagers={spaces} pager-spaces-local={spaces}/{spaces} \
                 code-local=20/20 global-faults={faults} max-faults=232 migrations=0 unmaps=0 stale=0 result=pass\n\
                 report: numa-program-detail name={name} threads={ranks} repeats=0 pages=58 stack-moves=0 moves=0 \
                 migrant-local=0/0 expected-faults=0 faults-per-node={per_node} mode={} replicate={rep}\n",
                c.nodes,
                c.mode.name()
            )
        };
        format!(
            "noise\nreport: sweep ranks={ranks} share={} shared-pages={} rounds={} predicted={predicted} result=ok\n\
             report: numa-region program=sweep name=sweep pages=272 misses={predicted}\n{}\
             report: stencil ranks={ranks} steps={} predicted=22 sums={sums} result=ok\n\
             report: numa-region program=stencil name=grid pages=128 misses=22\n{}\
             report: numa-cost call=unmap-page insns=6000\n\
             report: numa-cost call=unmap-page-batched insns=2600\n\
             report: numa-cost call=kernel-unmap-page insns=400\n\
             report: numacost ranks={ranks} pages=64 calls=unmap result=ok\n{}\
             report: kmem space=1 home=0 tables=15/15 mdb=470/470 tcbs=6/6 fallbacks=0\n\
             report: kmem space=2 home=1 tables=5/10 mdb=42/42 tcbs=2/2 fallbacks=0\n",
            c.share,
            p.shared_pages(),
            p.sweep_rounds,
            program("sweep", 40),
            p.stencil_steps,
            program("stencil", 40),
            program("numacost", 300),
        )
    }

    /// The plugin's span lines: `remote` remote accesses in the declared regions.
    fn span_lines(remote: u64) -> String {
        Config::spans()
            .into_iter()
            .map(|(n, _, _)| n)
            .chain(["other"])
            .map(|n| {
                let r = if n == "declared-regions" { remote } else { 0 };
                format!("report: memaccess-span name={n} local=5 remote={r} remote-fraction=0.0\n")
            })
            .collect()
    }

    fn mem() -> String {
        "report: memaccess cpu-node=0 mem-node=0 loads=60 stores=20\n\
        report: memaccess cpu-node=0 mem-node=1 loads=5 stores=5\n\
        report: memaccess cpu-node=1 mem-node=0 loads=10 stores=0\n\
        report: memaccess cpu-node=1 mem-node=io loads=1 stores=1\n\
        report: memaccess-total local=80 remote=20 io=2 unmapped=0 unknown-cpu=0 remote-fraction=0.2000\n\
        report: memaccess-level level=user local=30 remote=10 io=0 unmapped=0 unknown-cpu=0 remote-fraction=0.2500\n\
        report: memaccess-level level=kernel local=50 remote=10 io=2 unmapped=0 unknown-cpu=0 remote-fraction=0.1667\n"
            .to_string()
            + &span_lines(10)
    }

    fn mem1() -> String {
        "report: memaccess cpu-node=0 mem-node=0 loads=80 stores=20\n\
        report: memaccess-total local=100 remote=0 io=0 unmapped=0 unknown-cpu=0 remote-fraction=0.0000\n\
        report: memaccess-level level=user local=40 remote=0 io=0 unmapped=0 unknown-cpu=0 remote-fraction=0.0000\n\
        report: memaccess-level level=kernel local=60 remote=0 io=0 unmapped=0 unknown-cpu=0 remote-fraction=0.0000\n"
            .to_string()
            + &span_lines(0)
    }

    fn two_nodes() -> Config {
        Config { mode: Mode::PerNode, nodes: 2, share: 25, replicate: true }
    }

    fn sums(c: &Config) -> String {
        stencil_expected(c.nodes as u64, c.params().stencil_steps)
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("/")
    }

    #[test]
    fn the_matrix_covers_nodes_sharing_and_replication_once_each() {
        let m = matrix();
        let slugs: std::collections::HashSet<String> = m.iter().map(Config::slug).collect();
        assert_eq!(slugs.len(), m.len(), "no configuration twice");
        for n in [1, 2, 4] {
            for mode in [Mode::SingleSpace, Mode::PerNode] {
                assert!(m.contains(&Config { mode, nodes: n, share: 25, replicate: true }));
            }
        }
        for share in [0, 25, 50, 100] {
            assert!(m.iter().any(|c| c.nodes == 4 && c.share == share && c.mode == Mode::PerNode));
        }
        assert!(m.iter().any(|c| !c.replicate && c.nodes == 4));
        assert!(m.len() <= 16, "the matrix stays quick");
    }

    #[test]
    fn a_configuration_becomes_a_board_a_manifest_and_plugin_ranges() {
        let c = Config { mode: Mode::PerNode, nodes: 4, share: 50, replicate: false };
        assert_eq!(c.slug(), "per-node-4n-s50-norep");
        let boots = c.boots();
        assert_eq!(boots.clone().map(|(name, _)| name), ["sweep", "stencil", "numacost"]);
        assert_eq!(
            boots.clone().map(|(_, m)| m).concat(),
            "sweep share=50 sweep-rounds=16 replicate=off\nstencil stencil-iters=8 replicate=off\n\
             numacost calls=unmap replicate=off\n"
        );
        let base = Config { mode: Mode::SingleSpace, nodes: 2, share: 25, replicate: true };
        assert!(base.boots().iter().all(|(_, m)| m.ends_with(" mode=single-space\n")), "{:?}", base.boots());
        // The workloads read their knobs back from their manifest line.
        for (_, line) in boots.iter().take(2) {
            let args = line.trim_end().split_once(' ').unwrap().1;
            let p = Params::parse(args).unwrap();
            assert_eq!((p.share, p.replicate), (if line.starts_with("sweep") { 50 } else { 25 }, false));
        }
        assert_eq!(c.topology().total_mem_mib(), TOTAL_MEM_MIB);
        assert_eq!(c.topology().nodes().len(), 4);
        let a = c.plugin_args("/t/m.txt");
        assert!(a.starts_with("out=/t/m.txt,cpu=0:0,mem=0x40000000:0x8000000:0,"), "{a}");
        assert!(a.contains(",cpu=3:3,mem=0x58000000:0x8000000:3,span=images:0x100000:0x100000000,"), "{a}");
        assert!(a.ends_with(",span=server-window:0x800000000000:0x1000000000000"), "{a}");
    }

    #[test]
    fn the_spans_cover_the_layout_in_order_without_gaps() {
        let spans = Config::spans();
        assert!(spans.windows(2).all(|w| w[0].2 == w[1].1), "each span ends where the next starts");
        for (name, addr) in [
            ("images", layout::IMAGE_BASE),
            ("utcbs", layout::utcb(3)),
            ("stacks", layout::stack_top(3)),
            ("heap-arenas", layout::arena(2, 64).0),
            ("declared-regions", layout::DECLARED_BASE),
            ("server-window", layout::WINDOW + layout::IMAGE_BASE),
        ] {
            let (n, _, _) = spans.iter().find(|(_, s, e)| (*s..*e).contains(&addr)).unwrap();
            assert_eq!(*n, name, "{addr:#x}");
        }
    }

    #[test]
    fn a_good_run_gives_its_numbers() {
        let c = two_nodes();
        let m = measure(&c, &log(&c, &sums(&c)), &[&mem()]).unwrap();
        assert_eq!(
            (m.global_unmap_insns, m.global_unmap_insns_batched, m.kernel_unmap_insns),
            (6000, 2600, 400)
        );
        assert_eq!(m.page_faults, 80, "the sweep's and the stencil's, not numacost's");
        assert_eq!(m.page_faults_per_node, [40, 40]);
        assert_eq!(m.sweep_faults, 32);
        assert_eq!(m.stencil_faults, 22);
        assert!((m.kmeta_home_fraction - (15.0 + 470.0 + 6.0 + 5.0 + 42.0 + 2.0) / 545.0).abs() < 1e-9);
        assert!((m.all.fraction() - 0.2).abs() < 1e-9);
        assert!((m.user.fraction() - 0.25).abs() < 1e-9);
        let declared = m.user_spans.iter().find(|(n, _)| n == "declared-regions").unwrap().1;
        assert_eq!((declared.local, declared.remote), (5, 10));
        assert_eq!(m.user_spans.last().unwrap().0, "other");
        // 80 local at 1.0, 20 remote at 2.0 (distance 20): 120 / 100.
        assert!((m.modelled_access_cost - 1.2).abs() < 1e-9);
        let again = Metrics { global_unmap_insns: 101, ..m.clone() };
        let o = Outcome::of_runs(c, vec![m.clone(), m.clone()]).unwrap();
        assert_eq!((o.runs, o.deterministic), (2, Some(true)));
        assert_eq!(Outcome::of_runs(c, vec![m.clone(), again]).unwrap().deterministic, Some(false));
        assert!(Outcome::of_runs(c, Vec::new()).is_none());
        let json = json_entry(&Outcome::of_runs(c, vec![m]).unwrap(), "abc");
        assert!(json.ends_with("\"runs\": 1, \"deterministic\": null}"), "{json}");
        assert!(json.contains("\"global_unmap_insns\": 6000"), "{json}");
        assert!(json.contains("\"kernel_unmap_insns\": 400"), "{json}");
        assert!(json.contains("\"declared-regions\": [5, 10]"), "{json}");
        assert!(json.contains("\"remote_access_fraction\": 0.2000"), "{json}");
        assert!(json.contains("\"page_faults_per_node\": [40, 40]"), "{json}");
    }

    #[test]
    fn the_boots_accesses_add_up() {
        let c = two_nodes();
        let one = measure(&c, &log(&c, &sums(&c)), &[&mem()]).unwrap();
        let two = measure(&c, &log(&c, &sums(&c)), &[&mem(), &mem()]).unwrap();
        assert_eq!(two.all.local, 2 * one.all.local);
        assert_eq!(two.user.remote, 2 * one.user.remote);
        assert!((two.modelled_access_cost - one.modelled_access_cost).abs() < 1e-9);
        assert_eq!(two.user_spans.iter().map(|(_, l)| l.remote).sum::<u64>(), 20);
        assert!(measure(&c, &log(&c, &sums(&c)), &[]).is_err());
    }

    #[test]
    fn runs_that_contradict_a_check_are_errors_not_numbers() {
        let c = two_nodes();
        let good = log(&c, &sums(&c));
        let wrong = |from: &str, to: &str| measure(&c, &good.replacen(from, to, 1), &[&mem()]);
        assert!(
            matches!(measure(&c, &log(&c, "1/2"), &[&mem()]), Err(EvalError::Wrong(e)) if e.contains("stencil"))
        );
        assert!(
            matches!(wrong("result=pass", "result=fail"), Err(EvalError::Wrong(e)) if e.contains("sweep"))
        );
        assert!(matches!(
            wrong("predicted=32 result=ok", "predicted=32 result=wrong"),
            Err(EvalError::Wrong(_))
        ));
        assert!(
            matches!(wrong("name=sweep pages=272 misses=32", "name=sweep pages=272 misses=33"), Err(EvalError::Wrong(e)) if e.contains("predicted"))
        );
        assert!(matches!(wrong("misses=22", "misses=23"), Err(EvalError::Wrong(e)) if e.contains("stencil")));
        assert!(matches!(
            wrong("calls=unmap result=ok", "calls=unmap result=wrong"),
            Err(EvalError::Wrong(_))
        ));
        assert!(
            matches!(wrong("replicate=on", "replicate=off"), Err(EvalError::Wrong(e)) if e.contains("another"))
        );
        assert!(matches!(wrong("share=25", "share=50"), Err(EvalError::Wrong(_))));
        let other = Config { nodes: 4, ..c };
        assert!(matches!(measure(&other, &good, &[&mem()]), Err(EvalError::Wrong(_))));
        let single = Config { mode: Mode::SingleSpace, ..c };
        assert!(matches!(measure(&single, &good, &[&mem()]), Err(EvalError::Wrong(_))));
        let unmapped =
            mem().replace("unmapped=0 unknown-cpu=0 remote-fraction=0.2000", "unmapped=5 unknown-cpu=0 x=1");
        assert!(matches!(measure(&c, &good, &[&unmapped]), Err(EvalError::Wrong(e)) if e.contains("place")));
        let mismatch = mem().replace("loads=60", "loads=61");
        assert!(matches!(measure(&c, &good, &[&mismatch]), Err(EvalError::Wrong(e)) if e.contains("add up")));
    }

    #[test]
    fn missing_lines_are_named() {
        let c = two_nodes();
        let good = log(&c, &sums(&c));
        let without = |pat: &str| -> String {
            good.lines().filter(|l| !l.contains(pat)).map(|l| format!("{l}\n")).collect()
        };
        assert_eq!(
            measure(&c, &without("call=unmap-page-batched"), &[&mem()]).unwrap_err(),
            EvalError::Missing("`report: numa-cost call=unmap-page-batched`".into())
        );
        assert!(measure(&c, "", &[&mem()]).unwrap_err().to_string().contains("numa-program name=sweep"));
        assert!(
            measure(&c, &without("name=stencil"), &[&mem()]).unwrap_err().to_string().contains("stencil")
        );
        assert!(measure(&c, &good, &[""]).unwrap_err().to_string().contains("memaccess-total"));
        let no_span: String =
            mem().lines().filter(|l| !l.contains("name=other")).map(|l| format!("{l}\n")).collect();
        assert!(
            measure(&c, &good, &[&no_span]).unwrap_err().to_string().contains("memaccess-span name=other")
        );
        assert!(
            matches!(measure(&c, &without("kmem"), &[&mem()]), Err(EvalError::Missing(e)) if e.contains("kmem"))
        );
    }

    #[test]
    fn results_tables_and_plots_come_from_the_outcomes() {
        let outcomes: Vec<Outcome> = matrix()
            .into_iter()
            .map(|config| {
                let log = log(&config, &sums(&config));
                let mem = if config.nodes == 1 { mem1() } else { mem() };
                let metrics =
                    measure(&config, &log, &[&mem]).map_err(|e| format!("{}: {e}", config.slug())).unwrap();
                Outcome::of_runs(config, vec![metrics]).unwrap()
            })
            .collect();
        let json =
            results_json(&["{\"config\": {\"micro\": 1}, \"metrics\": {}},".into()], &outcomes, "c0ffee");
        assert!(json.starts_with(
            "[\n  {\"config\": {\"micro\": 1}, \"metrics\": {}},\n  {\"config\": {\"workload\""
        ));
        assert_eq!(json.matches("\"workload\": \"numa-programs\"").count(), outcomes.len());
        assert!(json.ends_with("\"deterministic\": null}\n]\n"), "{json}");
        let table = markdown(&outcomes);
        assert_eq!(table.lines().count(), 2 + outcomes.len());
        let spans = spans_markdown(&outcomes);
        assert_eq!(spans.lines().count(), 2 + outcomes.len());
        assert!(spans.contains("| per-node-2n-s25 | 0 (0 %) |"), "{spans}");
        assert!(spans.contains(" 10 (100 %) |"), "{spans}");
        let plots = plots(&outcomes).unwrap();
        let names: Vec<&str> = plots.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "faults-vs-sharing.svg",
                "unmap-vs-nodes.svg",
                "remote-fraction.svg",
                "remote-fraction-user.svg"
            ]
        );
        assert!(plots.iter().all(|(_, svg)| svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>")));
        assert!(super::plots(&outcomes[..1]).unwrap().is_empty(), "no plot from incomplete data");
    }
}
