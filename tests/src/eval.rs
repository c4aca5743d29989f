// SPDX-License-Identifier: MIT OR Apache-2.0
//! The NUMA evaluation behind `scripts/bench`: configurations, measurements, results.
//!
//! The paper closes with open questions: how per-node address spaces compare with one
//! node-spanning space, what the extra global unmap costs, and what happens on realistic
//! workloads. This module answers them with numbers anyone can reproduce. Every
//! configuration ([`Config`]: one space or one per node, 1/2/4 nodes, a sharing degree,
//! code replication on or off) boots `pagers/numademo` in its bench mode under QEMU with
//! `-icount shift=0` (instructions, deterministic) and the memory-locality plugin
//! (`tests/memplugin`). From each boot's `report:` lines and the plugin's ([`measure`])
//! come the figures ([`Metrics`]): page faults, the global unmap's cost per page, where the
//! kernel's metadata is, and the remote access fraction seen from outside the kernel,
//! with a modelled cost that weighs each access by the board's distance / 10.
//!
//! Nothing is taken on trust: the sweep's page faults must equal what the sharing degree
//! predicts (numademo checks), and each worker's stencil result must equal the host's own
//! run of the same code ([`numa::workload::stencil_reference`]); a run that disagrees is
//! an error, not a number. The `numa-eval` binary runs the matrix and writes
//! `results.json` ([`results_json`]), a markdown table ([`markdown`]) and the SVG plots
//! ([`plots`]).

#![forbid(unsafe_code)]

use crate::plot::{self, Chart, PlotError, Series};
use crate::topology::{NodeSpec, Topology};
use numa::workload::{self, Layout, Params, STENCIL_CELLS, Words};
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

    /// The numademo knobs: this configuration's sharing and replication, default sizes.
    pub fn params(&self) -> Params {
        Params { share: self.share, replicate: self.replicate, ..Params::default() }
    }

    /// The text of the initrd entry `params`.
    pub fn params_text(&self) -> String {
        let p = self.params();
        format!(
            "share={} replicate={} sweep-rounds={} stencil-iters={}\n",
            p.share,
            if p.replicate { "on" } else { "off" },
            p.sweep_rounds,
            p.stencil_steps
        )
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

    /// The plugin's arguments after its path: vCPU k on node k, node k's RAM range.
    pub fn plugin_args(&self, out: &str) -> String {
        let size = self.mem_per_node_mib() << 20;
        let mut a = format!("out={out}");
        for k in 0..self.nodes {
            a.push_str(&format!(",cpu={k}:{k},mem={:#x}:{size:#x}:{k}", RAM_BASE + k as u64 * size));
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
    /// `remote / (local + remote)`; 0 without accesses.
    pub fn fraction(&self) -> f64 {
        let all = self.local + self.remote;
        if all == 0 { 0.0 } else { self.remote as f64 / all as f64 }
    }
}

/// What one configuration measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics {
    /// Global-page table misses of the whole run (every node's first fault on a page).
    pub page_faults: u64,
    /// The same, by the node of the faulting thread.
    pub page_faults_per_node: Vec<u64>,
    /// Table misses of the sweep alone, and what the sharing degree predicts.
    pub sweep_faults: u64,
    /// Predicted sweep faults: shared pages once per space, private pages once.
    pub sweep_faults_predicted: u64,
    /// Table misses of the stencil.
    pub stencil_faults: u64,
    /// Guest instructions per page of a global unmap with a notification round per page.
    pub global_unmap_insns: u64,
    /// The same with one batch through shared memory.
    pub global_unmap_insns_batched: u64,
    /// Frames of tables, MDB entries and TCBs on their space's home node, of all.
    pub kmeta_home_fraction: f64,
    /// The plugin's counts: all accesses, through user addresses, through kernel ones.
    pub all: Locality,
    /// Accesses through user (lower-half) addresses.
    pub user: Locality,
    /// Accesses through kernel (upper-half) addresses.
    pub kernel: Locality,
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

/// The figures of one run, from the serial output `log` and the plugin's report `mem`.
pub fn measure(config: &Config, log: &str, mem: &str) -> Result<Metrics, EvalError> {
    let reports: Vec<Report> = report::reports(log).collect();
    let bench = line(&reports, "numa-bench", "result")?;
    if bench.get("result") != Some("pass") {
        return Err(EvalError::Wrong(format!("numademo says result={}", bench.get("result").unwrap_or(""))));
    }
    if bench.get("mode") != Some(config.mode.name()) || number(&bench, "nodes")? != config.nodes as u64 {
        return Err(EvalError::Wrong(format!(
            "the run is not the configuration: mode={} nodes={}",
            bench.get("mode").unwrap_or(""),
            bench.get("nodes").unwrap_or("")
        )));
    }
    let work = line(&reports, "numa-workload", "stencil-sums")?;
    let params = config.params();
    if number(&work, "share")? != params.share || number(&work, "sweep-rounds")? != params.sweep_rounds {
        return Err(EvalError::Wrong("numa-workload ran other parameters than the initrd's".into()));
    }
    if work.get("sweep") != Some("ok") {
        return Err(EvalError::Wrong("a worker's sweep result differs from sweep_expected".into()));
    }
    let ranks = number(&work, "ranks")?;
    let sums = slashed(&work, "stencil-sums")?;
    let expected = stencil_expected(ranks, params.stencil_steps);
    if sums != expected {
        return Err(EvalError::Wrong(format!("stencil sums {sums:?}, the host computes {expected:?}")));
    }
    let (sweep_faults, predicted) = (number(&work, "sweep-faults")?, number(&work, "sweep-faults-expected")?);
    if sweep_faults != predicted {
        return Err(EvalError::Wrong(format!("{sweep_faults} sweep faults, {predicted} predicted")));
    }
    let unmap = |variant: &str| -> Result<u64, EvalError> {
        let r = reports
            .iter()
            .find(|r| r.name == "numa-unmap" && r.get("variant") == Some(variant))
            .ok_or_else(|| EvalError::Missing(format!("`report: numa-unmap variant={variant}`")))?;
        Ok(number(r, "cycles")? / number(r, "pages")?.max(1))
    };
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
    let (all, user, kernel, cost) = locality(config, mem)?;
    Ok(Metrics {
        page_faults: number(&bench, "page-faults")?,
        page_faults_per_node: slashed(&bench, "faults-per-node")?,
        sweep_faults,
        sweep_faults_predicted: predicted,
        stencil_faults: number(&work, "stencil-faults")?,
        global_unmap_insns: unmap("notify")?,
        global_unmap_insns_batched: unmap("batched")?,
        kmeta_home_fraction: home as f64 / total as f64,
        all,
        user,
        kernel,
        modelled_access_cost: cost,
    })
}

/// The plugin's totals (all, user, kernel) and the modelled cost per access.
fn locality(config: &Config, mem: &str) -> Result<(Locality, Locality, Locality, f64), EvalError> {
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
    let cost = if count == 0 { 0.0 } else { weighted as f64 / 10.0 / count as f64 };
    Ok((all, user, kernel, cost))
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
    format!(
        "{{\"config\": {{\"workload\": \"numademo\", \"mode\": \"{}\", \"nodes\": {}, \"cpus_per_node\": 1, \"mem_per_node_mib\": {}, \
         \"share_percent\": {}, \"code_replication\": {}, \"sweep_rounds\": {}, \"stencil_steps\": {}, \"cpu\": \"{CPU}\", \
         \"icount\": \"{ICOUNT}\", \"machine\": \"virt-5.0, -numa node,mem=\", \"commit\": \"{commit}\"}}, \
         \"metrics\": {{\"page_faults\": {}, \"page_faults_per_node\": [{per_node}], \"sweep_page_faults\": {}, \
         \"sweep_page_faults_predicted\": {}, \"stencil_page_faults\": {}, \"global_unmap_insns\": {}, \
         \"global_unmap_insns_batched\": {}, \"kmeta_home_fraction\": {}, \"remote_access_fraction\": {}, \
         \"remote_access_fraction_user\": {}, \"remote_access_fraction_kernel\": {}, \"modelled_access_cost\": {}, \
         \"ram_accesses\": {}}}, \"runs\": {}, \"deterministic\": {}}}",
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
        "| spaces | nodes | sharing | code replicated | sweep faults (predicted) | stencil faults | global unmap / page (Notify round) | (batched) | kernel metadata on home | remote accesses: all | user | kernel | modelled cost / access |\n\
         |---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for o in outcomes {
        let (c, m) = (&o.config, &o.metrics);
        let replicated = match c.mode {
            Mode::SingleSpace => "n/a (one copy)",
            Mode::PerNode if c.replicate => "yes",
            Mode::PerNode => "no",
        };
        t.push_str(&format!(
            "| {} | {} | {} % | {replicated} | {} ({}) | {} | {} | {} | {:.3} | {:.4} | {:.4} | {:.4} | {:.3} |\n",
            if c.mode == Mode::PerNode { "one per node" } else { "one" },
            c.nodes,
            c.share,
            m.sweep_faults,
            m.sweep_faults_predicted,
            m.stencil_faults,
            m.global_unmap_insns,
            m.global_unmap_insns_batched,
            m.kmeta_home_fraction,
            m.all.fraction(),
            m.user.fraction(),
            m.kernel.fraction(),
            m.modelled_access_cost,
        ));
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
        unmap("per-node spaces, a Notify round per page", Mode::PerNode, false),
        unmap("per-node spaces, batched in shared memory", Mode::PerNode, true),
        unmap("one space", Mode::SingleSpace, false),
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

    fn log(c: &Config, sums: &str) -> String {
        let p = c.params();
        let ranks = c.nodes;
        let predicted = if c.mode == Mode::PerNode {
            p.shared_pages() * ranks as u64 + (16 - p.shared_pages()) * ranks as u64
        } else {
            p.shared_pages() + (16 - p.shared_pages()) * ranks as u64
        };
        format!(
            "noise\nreport: numa-unmap variant=notify pages=3 notifications=6 cycles=300\n\
             report: numa-unmap variant=batched pages=3 notifications=2 cycles=150\n\
             report: numa-workload mode={} ranks={ranks} share={} shared-pages={} replicate=on sweep-rounds={} stencil-steps={} \
             sweep-faults={predicted} sweep-faults-expected={predicted} stencil-faults=22 sweep=ok stencil-sums={sums}\n\
             report: numa-bench nodes={} mode={} workers={ranks} page-faults=80 faults-per-node=40/40 migrations=0 result=pass\n\
             report: kmem space=1 home=0 tables=15/15 mdb=470/470 tcbs=6/6 fallbacks=0\n\
             report: kmem space=2 home=1 tables=5/10 mdb=42/42 tcbs=2/2 fallbacks=0\n",
            c.mode.name(),
            c.share,
            p.shared_pages(),
            p.sweep_rounds,
            p.stencil_steps,
            c.nodes,
            c.mode.name()
        )
    }

    const MEM: &str = "report: memaccess cpu-node=0 mem-node=0 loads=60 stores=20\n\
        report: memaccess cpu-node=0 mem-node=1 loads=5 stores=5\n\
        report: memaccess cpu-node=1 mem-node=0 loads=10 stores=0\n\
        report: memaccess cpu-node=1 mem-node=io loads=1 stores=1\n\
        report: memaccess-total local=80 remote=20 io=2 unmapped=0 unknown-cpu=0 remote-fraction=0.2000\n\
        report: memaccess-level level=user local=30 remote=10 io=0 unmapped=0 unknown-cpu=0 remote-fraction=0.2500\n\
        report: memaccess-level level=kernel local=50 remote=10 io=2 unmapped=0 unknown-cpu=0 remote-fraction=0.1667\n";

    const MEM1: &str = "report: memaccess cpu-node=0 mem-node=0 loads=80 stores=20\n\
        report: memaccess-total local=100 remote=0 io=0 unmapped=0 unknown-cpu=0 remote-fraction=0.0000\n\
        report: memaccess-level level=user local=40 remote=0 io=0 unmapped=0 unknown-cpu=0 remote-fraction=0.0000\n\
        report: memaccess-level level=kernel local=60 remote=0 io=0 unmapped=0 unknown-cpu=0 remote-fraction=0.0000\n";

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
    fn a_configuration_becomes_a_board_params_and_plugin_ranges() {
        let c = Config { mode: Mode::PerNode, nodes: 4, share: 50, replicate: false };
        assert_eq!(c.slug(), "per-node-4n-s50-norep");
        assert_eq!(Params::parse(&c.params_text()).unwrap(), c.params());
        assert_eq!(c.topology().total_mem_mib(), TOTAL_MEM_MIB);
        assert_eq!(c.topology().nodes().len(), 4);
        let a = c.plugin_args("/t/m.txt");
        assert!(a.starts_with("out=/t/m.txt,cpu=0:0,mem=0x40000000:0x8000000:0,"), "{a}");
        assert!(a.ends_with(",cpu=3:3,mem=0x58000000:0x8000000:3"), "{a}");
    }

    #[test]
    fn a_good_run_gives_its_numbers() {
        let c = two_nodes();
        let m = measure(&c, &log(&c, &sums(&c)), MEM).unwrap();
        assert_eq!((m.global_unmap_insns, m.global_unmap_insns_batched), (100, 50));
        assert_eq!(m.page_faults, 80);
        assert_eq!(m.page_faults_per_node, [40, 40]);
        assert_eq!(m.sweep_faults, 32);
        assert_eq!(m.stencil_faults, 22);
        assert!((m.kmeta_home_fraction - (15.0 + 470.0 + 6.0 + 5.0 + 42.0 + 2.0) / 545.0).abs() < 1e-9);
        assert!((m.all.fraction() - 0.2).abs() < 1e-9);
        assert!((m.user.fraction() - 0.25).abs() < 1e-9);
        // 80 local at 1.0, 20 remote at 2.0 (distance 20): 120 / 100.
        assert!((m.modelled_access_cost - 1.2).abs() < 1e-9);
        let again = Metrics { global_unmap_insns: 101, ..m.clone() };
        let o = Outcome::of_runs(c, vec![m.clone(), m.clone()]).unwrap();
        assert_eq!((o.runs, o.deterministic), (2, Some(true)));
        assert_eq!(Outcome::of_runs(c, vec![m.clone(), again]).unwrap().deterministic, Some(false));
        assert!(Outcome::of_runs(c, Vec::new()).is_none());
        let json = json_entry(&Outcome::of_runs(c, vec![m]).unwrap(), "abc");
        assert!(json.ends_with("\"runs\": 1, \"deterministic\": null}"), "{json}");
        assert!(json.contains("\"global_unmap_insns\": 100"), "{json}");
        assert!(json.contains("\"remote_access_fraction\": 0.2000"), "{json}");
        assert!(json.contains("\"page_faults_per_node\": [40, 40]"), "{json}");
    }

    #[test]
    fn runs_that_contradict_a_check_are_errors_not_numbers() {
        let c = two_nodes();
        let good = log(&c, &sums(&c));
        let wrong_sums = log(&c, "1/2");
        assert!(matches!(measure(&c, &wrong_sums, MEM), Err(EvalError::Wrong(e)) if e.contains("stencil")));
        let failed = good.replace("result=pass", "result=fail");
        assert!(matches!(measure(&c, &failed, MEM), Err(EvalError::Wrong(_))));
        let sweep = good.replace("sweep=ok", "sweep=wrong");
        assert!(matches!(measure(&c, &sweep, MEM), Err(EvalError::Wrong(_))));
        let faults = good.replace("sweep-faults=32", "sweep-faults=33");
        assert!(matches!(measure(&c, &faults, MEM), Err(EvalError::Wrong(e)) if e.contains("predicted")));
        let other = Config { nodes: 4, ..c };
        assert!(matches!(measure(&other, &good, MEM), Err(EvalError::Wrong(_))));
        let unmapped =
            MEM.replace("unmapped=0 unknown-cpu=0 remote-fraction=0.2000", "unmapped=5 unknown-cpu=0 x=1");
        assert!(matches!(measure(&c, &good, &unmapped), Err(EvalError::Wrong(e)) if e.contains("place")));
        let mismatch = MEM.replace("loads=60", "loads=61");
        assert!(matches!(measure(&c, &good, &mismatch), Err(EvalError::Wrong(e)) if e.contains("add up")));
    }

    #[test]
    fn missing_lines_are_named() {
        let c = two_nodes();
        let good = log(&c, &sums(&c));
        let no_unmap: String =
            good.lines().filter(|l| !l.contains("variant=batched")).map(|l| format!("{l}\n")).collect();
        assert_eq!(
            measure(&c, &no_unmap, MEM).unwrap_err(),
            EvalError::Missing("`report: numa-unmap variant=batched`".into())
        );
        assert!(measure(&c, "", MEM).unwrap_err().to_string().contains("numa-bench"));
        assert!(measure(&c, &good, "").unwrap_err().to_string().contains("memaccess-total"));
        let no_kmem: String =
            good.lines().filter(|l| !l.contains("kmem")).map(|l| format!("{l}\n")).collect();
        assert!(matches!(measure(&c, &no_kmem, MEM), Err(EvalError::Missing(e)) if e.contains("kmem")));
    }

    #[test]
    fn results_tables_and_plots_come_from_the_outcomes() {
        let outcomes: Vec<Outcome> = matrix()
            .into_iter()
            .map(|config| {
                let log = log(&config, &sums(&config));
                let mem = if config.nodes == 1 { MEM1 } else { MEM };
                let metrics =
                    measure(&config, &log, mem).map_err(|e| format!("{}: {e}", config.slug())).unwrap();
                Outcome::of_runs(config, vec![metrics]).unwrap()
            })
            .collect();
        let json =
            results_json(&["{\"config\": {\"micro\": 1}, \"metrics\": {}},".into()], &outcomes, "c0ffee");
        assert!(json.starts_with(
            "[\n  {\"config\": {\"micro\": 1}, \"metrics\": {}},\n  {\"config\": {\"workload\""
        ));
        assert_eq!(json.matches("\"workload\": \"numademo\"").count(), outcomes.len());
        assert!(json.ends_with("\"deterministic\": null}\n]\n"), "{json}");
        let table = markdown(&outcomes);
        assert_eq!(table.lines().count(), 2 + outcomes.len());
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
