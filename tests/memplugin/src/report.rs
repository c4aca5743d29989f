// SPDX-License-Identifier: MIT OR Apache-2.0
//! The report written at exit: counts per (cpu node, memory node) pair, and the totals.
//!
//! Lines follow the project's `report: key=value ...` convention (see `tests/src/report.rs`),
//! so the benchmark scripts parse what a person reads:
//!
//! ```text
//! report: memaccess cpu-node=0 mem-node=0 loads=N stores=M
//! report: memaccess cpu-node=0 mem-node=1 loads=N stores=M
//! report: memaccess cpu-node=unknown mem-node=io loads=N stores=M
//! report: memaccess-total local=L remote=R io=I unmapped=U unknown-cpu=K remote-fraction=0.1234
//! report: memaccess-level level=user local=L remote=R io=I unmapped=U unknown-cpu=K remote-fraction=0.1234
//! report: memaccess-level level=kernel local=L remote=R io=I unmapped=U unknown-cpu=K remote-fraction=0.1234
//! report: memaccess-span name=NAME local=L remote=R remote-fraction=0.1234
//! report: memaccess-span name=other local=L remote=R remote-fraction=0.1234
//! ```
//!
//! Inside the measured windows ([`crate::lines`]), when the guest opened any:
//!
//! ```text
//! report: memwindow windows=W level=user local=L remote=R io=I unmapped=U unknown-cpu=K remote-fraction=F
//! report: memwindow windows=W level=kernel local=L remote=R io=I unmapped=U unknown-cpu=K remote-fraction=F
//! report: linetransfer level=user same-node=S other-node=O unknown=U possible=P possible-other-node=Q
//! report: linetransfer level=kernel same-node=S other-node=O unknown=U possible=P possible-other-node=Q
//! report: linetransfer-top rank=1 level=kernel vaddr=0x... pa=0x... transfers=T other-node=O possible=P
//! ```
//!
//! `cpu-node` is a node or `unknown` (a vCPU no `cpu=` named); `mem-node` is a node, `io` (a
//! device) or `unmapped` (RAM no `mem=` range covers). Only pairs with a count are listed,
//! sorted by cpu node, then memory node. The totals partition every access exactly once:
//! `local` and `remote` are RAM accesses by a vCPU of known node to its own / another node;
//! `unknown-cpu` are RAM accesses by a vCPU of unknown node; `io` and `unmapped` are counted
//! whatever the vCPU. `remote-fraction` is `remote / (local + remote)`, rounded half up to 4
//! decimals, and `none` when there were no local or remote accesses.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::config::{MAX_VCPUS, NodeId};
use crate::counters::{Snapshot, Target};

/// The node of the vCPU that made an access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CpuNode {
    /// Named by a `cpu=` argument.
    Node(NodeId),
    /// Not named (sorted after every node).
    Unknown,
}

/// Loads and stores of one (cpu node, target) pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pair {
    /// Loads.
    pub loads: u64,
    /// Stores.
    pub stores: u64,
}

/// The counters grouped by the vCPUs' nodes, and the totals derived from them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Every (cpu node, target) pair with a nonzero count, sorted.
    pub pairs: BTreeMap<(CpuNode, Target), Pair>,
}

/// The totals line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// RAM accesses to the vCPU's own node.
    pub local: u64,
    /// RAM accesses to another node.
    pub remote: u64,
    /// Device accesses, any vCPU.
    pub io: u64,
    /// Accesses to RAM no `mem=` range covers, any vCPU.
    pub unmapped: u64,
    /// RAM accesses by vCPUs of unknown node.
    pub unknown_cpu: u64,
}

/// Groups a counter snapshot by the vCPUs' nodes. The last slot (vCPUs beyond the table) is
/// always `unknown`.
pub fn tally(snapshot: &Snapshot, cpu_nodes: &[Option<NodeId>; MAX_VCPUS]) -> Tally {
    let mut pairs = BTreeMap::new();
    for (slot, targets) in snapshot.iter().enumerate() {
        let cpu = match cpu_nodes.get(slot).copied().flatten() {
            Some(node) => CpuNode::Node(node),
            None => CpuNode::Unknown,
        };
        for (index, &[loads, stores]) in targets.iter().enumerate() {
            if loads == 0 && stores == 0 {
                continue;
            }
            let Some(target) = Target::from_index(index) else { continue };
            let pair: &mut Pair = pairs.entry((cpu, target)).or_default();
            pair.loads += loads;
            pair.stores += stores;
        }
    }
    Tally { pairs }
}

impl Tally {
    /// Sums the pairs into the totals line.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for (&(cpu, target), pair) in &self.pairs {
            let n = pair.loads + pair.stores;
            let bucket = match (cpu, target) {
                (_, Target::Io) => &mut t.io,
                (_, Target::Unmapped) => &mut t.unmapped,
                (CpuNode::Unknown, Target::Node(_)) => &mut t.unknown_cpu,
                (CpuNode::Node(c), Target::Node(m)) if c == m => &mut t.local,
                (CpuNode::Node(_), Target::Node(_)) => &mut t.remote,
            };
            *bucket += n;
        }
        t
    }
}

/// `remote / (local + remote)` with 4 decimals, rounded half up, in exact integer arithmetic
/// (no float rounding surprises in a number the paper quotes); `none` without RAM accesses.
pub fn remote_fraction(local: u64, remote: u64) -> String {
    let all = u128::from(local) + u128::from(remote);
    if all == 0 {
        return "none".to_owned();
    }
    let scaled = (u128::from(remote) * 20_000 + all) / (2 * all);
    format!("{}.{:04}", scaled / 10_000, scaled % 10_000)
}

fn show_cpu(cpu: CpuNode) -> String {
    match cpu {
        CpuNode::Node(node) => node.to_string(),
        CpuNode::Unknown => "unknown".to_owned(),
    }
}

fn show_target(target: Target) -> String {
    match target {
        Target::Node(node) => node.to_string(),
        Target::Io => "io".to_owned(),
        Target::Unmapped => "unmapped".to_owned(),
    }
}

impl Totals {
    /// The `report: memaccess-total ...` line, without a newline.
    pub fn line(&self) -> String {
        self.named("memaccess-total", None)
    }

    /// The totals as the line `report: NAME [level=LEVEL] local= remote= ...`.
    fn named(&self, name: &str, level: Option<&str>) -> String {
        ::report::line!(name,
            "level" => ::report::Maybe(level),
            "local" => self.local,
            "remote" => self.remote,
            "io" => self.io,
            "unmapped" => self.unmapped,
            "unknown-cpu" => self.unknown_cpu,
            "remote-fraction" => remote_fraction(self.local, self.remote),
        )
        .to_string()
    }
}

/// Which half of the address space an access used: the user's (TTBR0, top bit of the
/// virtual address clear) or the kernel's (TTBR1, top bit set). The kernel runs in the
/// upper half, so this splits the kernel's own accesses from the programs' (a kernel
/// access to user memory through a user address counts as the user's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Top bit of the virtual address clear.
    User,
    /// Top bit set.
    Kernel,
}

impl Level {
    /// The level of an access at virtual address `vaddr`.
    pub fn of(vaddr: u64) -> Level {
        if vaddr >> 63 == 0 { Level::User } else { Level::Kernel }
    }
}

/// The `memaccess-span` lines: each span's user-level local and remote accesses, in
/// address order, then those in no span (`other`); every line ends in `\n`.
pub fn format_spans(spans: &[crate::config::Span], counts: &crate::counters::SpanSnapshot) -> String {
    let mut out = String::new();
    let names = spans.iter().map(|s| s.name.as_str()).chain(["other"]);
    let rows = counts[..spans.len()].iter().chain([&counts[crate::config::MAX_SPANS]]);
    for (name, &[local, remote]) in names.zip(rows) {
        let fraction = remote_fraction(local, remote);
        let line = ::report::line!("memaccess-span",
            "name" => name,
            "local" => local,
            "remote" => remote,
            "remote-fraction" => fraction,
        );
        let _ = writeln!(out, "{line}");
    }
    out
}

/// The window's lines: its access counts by level (`user`, `kernel`: tallies of the
/// accesses made while a window was open) and the line transfers with the `top` lines
/// that moved most. Empty when no window was opened.
pub fn format_window(user: &Tally, kernel: &Tally, lines: &crate::lines::Lines, top: usize) -> String {
    let mut out = String::new();
    if lines.windows() == 0 {
        return out;
    }
    let windows = lines.windows();
    for (name, tally) in [("user", user), ("kernel", kernel)] {
        let t = tally.totals();
        let _ = writeln!(
            out,
            "{}",
            ::report::line!("memwindow",
                "windows" => windows,
                "level" => name,
                "local" => t.local,
                "remote" => t.remote,
                "io" => t.io,
                "unmapped" => t.unmapped,
                "unknown-cpu" => t.unknown_cpu,
                "remote-fraction" => remote_fraction(t.local, t.remote),
            )
        );
    }
    let (user_moves, kernel_moves) = lines.totals();
    let (user_shared, kernel_shared) = lines.sharing();
    for (name, m, sh) in [("user", user_moves, user_shared), ("kernel", kernel_moves, kernel_shared)] {
        let _ = writeln!(
            out,
            "{}",
            ::report::line!("linetransfer",
                "level" => name, "same-node" => m.same_node, "other-node" => m.other_node, "unknown" => m.unknown,
                "possible" => sh.total(), "possible-other-node" => sh.other_node)
        );
    }
    for (rank, hot) in lines.busiest(top).iter().enumerate() {
        let level = match hot.level {
            Level::User => "user",
            Level::Kernel => "kernel",
        };
        let _ = writeln!(
            out,
            "{}",
            ::report::line!("linetransfer-top",
                "rank" => rank + 1,
                "level" => level,
                "vaddr" => format!("{:#x}", hot.vaddr),
                "pa" => format!("{:#x}", hot.pa),
                "transfers" => hot.moves.total(),
                "other-node" => hot.moves.other_node,
                "possible" => hot.shared.total(),
            )
        );
    }
    out
}

/// Element-wise sum of two snapshots.
pub fn sum(a: &Snapshot, b: &Snapshot) -> Snapshot {
    let mut out = *a;
    for (o, b) in out.iter_mut().flatten().flatten().zip(b.iter().flatten().flatten()) {
        *o += b;
    }
    out
}

/// The report over both levels: the pairs and totals of all accesses, then one
/// `memaccess-level` line per level.
pub fn format_levels(user: &Tally, kernel: &Tally, all: &Tally) -> String {
    let mut out = format_report(all);
    for (name, tally) in [("user", user), ("kernel", kernel)] {
        let _ = writeln!(out, "{}", tally.totals().named("memaccess-level", Some(name)));
    }
    out
}

/// The whole report: one line per pair, then the totals line; every line ends in `\n`.
pub fn format_report(tally: &Tally) -> String {
    let mut out = String::new();
    for (&(cpu, target), pair) in &tally.pairs {
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "{}",
            ::report::line!("memaccess",
                "cpu-node" => show_cpu(cpu), "mem-node" => show_target(target), "loads" => pair.loads, "stores" => pair.stores)
        );
    }
    out.push_str(&tally.totals().line());
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_split_by_the_top_address_bit_and_sum_to_the_whole() {
        assert_eq!(Level::of(0x40_0000), Level::User);
        assert_eq!(Level::of(0xFFFF_FFFF_8000_0000), Level::Kernel);
        let cfg =
            parse_args(["out=/dev/null", "cpu=0:0", "cpu=1:1", "mem=0:0x1000:0", "mem=0x1000:0x1000:1"])
                .unwrap();
        let (user, kernel) = (Counters::new(), Counters::new());
        let n = |i| NodeId::new(i).unwrap();
        user.record(0, Target::Node(n(0)), Access::Load);
        user.record(1, Target::Node(n(0)), Access::Store);
        kernel.record(1, Target::Node(n(0)), Access::Load);
        kernel.record(1, Target::Node(n(1)), Access::Load);
        let (u, k) = (user.snapshot(), kernel.snapshot());
        let all = tally(&sum(&u, &k), &cfg.cpu_nodes);
        let text = format_levels(&tally(&u, &cfg.cpu_nodes), &tally(&k, &cfg.cpu_nodes), &all);
        assert!(text.contains("report: memaccess-total local=2 remote=2 "), "{text}");
        assert!(text.contains("report: memaccess-level level=user local=1 remote=1 io=0 unmapped=0 unknown-cpu=0 remote-fraction=0.5000\n"), "{text}");
        assert!(text.contains("report: memaccess-level level=kernel local=1 remote=1 "), "{text}");
    }
    use crate::config::parse_args;
    use crate::counters::{Access, Counters};
    use crate::lines::Lines;

    #[test]
    fn the_window_report_has_counts_transfers_and_the_busiest_lines() {
        let cfg = parse_args(["out=o", "cpu=0:0", "cpu=1:1", "mem=0:0x10000:0"]).unwrap();
        let mut lines = Lines::new(cfg.cpu_nodes);
        let none = tally(&Counters::new().snapshot(), &cfg.cpu_nodes);
        assert_eq!(format_window(&none, &none, &lines, 5), "", "no window, no lines");
        lines.open();
        let k = 0xFFFF_0000_0000_2000;
        for cpu in [0, 1, 0] {
            lines.access(cpu, 0x2000, k, true);
        }
        let kernel = Counters::new();
        kernel.record(0, Target::Node(n(0)), Access::Store);
        kernel.record(1, Target::Node(n(0)), Access::Store);
        let k_tally = tally(&kernel.snapshot(), &cfg.cpu_nodes);
        let text = format_window(&none, &k_tally, &lines, 5);
        assert_eq!(
            text,
            "report: memwindow windows=1 level=user local=0 remote=0 io=0 unmapped=0 unknown-cpu=0 remote-fraction=none\n\
             report: memwindow windows=1 level=kernel local=1 remote=1 io=0 unmapped=0 unknown-cpu=0 remote-fraction=0.5000\n\
             report: linetransfer level=user same-node=0 other-node=0 unknown=0 possible=0 possible-other-node=0\n\
             report: linetransfer level=kernel same-node=0 other-node=2 unknown=0 possible=2 possible-other-node=2\n\
             report: linetransfer-top rank=1 level=kernel vaddr=0xffff000000002000 pa=0x2000 transfers=2 other-node=2 possible=2\n"
        );
    }

    fn n(id: u64) -> NodeId {
        NodeId::new(id).unwrap()
    }

    #[test]
    fn remote_fraction_rounds_half_up_to_four_decimals() {
        assert_eq!(remote_fraction(0, 0), "none");
        assert_eq!(remote_fraction(1, 0), "0.0000");
        assert_eq!(remote_fraction(0, 7), "1.0000");
        assert_eq!(remote_fraction(3, 1), "0.2500");
        assert_eq!(remote_fraction(2, 1), "0.3333");
        assert_eq!(remote_fraction(1, 2), "0.6667");
        // 1 / 20000 = 0.00005 exactly: half up.
        assert_eq!(remote_fraction(19_999, 1), "0.0001");
        assert_eq!(remote_fraction(20_000, 1), "0.0000");
        assert_eq!(remote_fraction(u64::MAX, u64::MAX), "0.5000");
    }

    #[test]
    fn an_empty_run_reports_only_zero_totals() {
        let t = tally(&Counters::new().snapshot(), &[None; MAX_VCPUS]);
        assert_eq!(
            format_report(&t),
            "report: memaccess-total local=0 remote=0 io=0 unmapped=0 unknown-cpu=0 remote-fraction=none\n"
        );
    }

    #[test]
    fn formats_pairs_sorted_with_unknown_io_and_unmapped() {
        let config =
            parse_args(["out=o", "cpu=0:0", "cpu=1:1", "mem=0:0x1000:0", "mem=0x1000:0x1000:1"]).unwrap();
        let c = Counters::new();
        let record = |vcpu, target, access, times| {
            for _ in 0..times {
                c.record(vcpu, target, access);
            }
        };
        record(0, Target::Node(n(0)), Access::Load, 6);
        record(0, Target::Node(n(0)), Access::Store, 2);
        record(0, Target::Node(n(1)), Access::Load, 1);
        record(1, Target::Node(n(1)), Access::Store, 3);
        record(1, Target::Node(n(0)), Access::Store, 1);
        record(1, Target::Io, Access::Store, 4);
        record(2, Target::Node(n(0)), Access::Load, 5);
        record(70, Target::Unmapped, Access::Load, 1);
        let t = tally(&c.snapshot(), &config.cpu_nodes);
        assert_eq!(
            format_report(&t),
            "report: memaccess cpu-node=0 mem-node=0 loads=6 stores=2\n\
             report: memaccess cpu-node=0 mem-node=1 loads=1 stores=0\n\
             report: memaccess cpu-node=1 mem-node=0 loads=0 stores=1\n\
             report: memaccess cpu-node=1 mem-node=1 loads=0 stores=3\n\
             report: memaccess cpu-node=1 mem-node=io loads=0 stores=4\n\
             report: memaccess cpu-node=unknown mem-node=0 loads=5 stores=0\n\
             report: memaccess cpu-node=unknown mem-node=unmapped loads=1 stores=0\n\
             report: memaccess-total local=11 remote=2 io=4 unmapped=1 unknown-cpu=5 remote-fraction=0.1538\n"
        );
    }

    #[test]
    fn vcpus_on_the_same_node_are_summed() {
        let config = parse_args(["out=o", "cpu=0:1", "cpu=5:1", "mem=0:1:1"]).unwrap();
        let c = Counters::new();
        c.record(0, Target::Node(n(1)), Access::Load);
        c.record(5, Target::Node(n(1)), Access::Load);
        c.record(5, Target::Node(n(0)), Access::Store);
        let t = tally(&c.snapshot(), &config.cpu_nodes);
        assert_eq!(t.pairs[&(CpuNode::Node(n(1)), Target::Node(n(1)))], Pair { loads: 2, stores: 0 });
        assert_eq!(t.totals(), Totals { local: 2, remote: 1, ..Totals::default() });
    }

    #[test]
    fn totals_count_every_access_once() {
        let config = parse_args(["out=o", "cpu=0:0", "mem=0:1:0"]).unwrap();
        let c = Counters::new();
        let targets = [Target::Node(n(0)), Target::Node(n(3)), Target::Io, Target::Unmapped];
        let mut all = 0;
        for vcpu in [0, 1, 99] {
            for target in targets {
                for access in [Access::Load, Access::Store] {
                    c.record(vcpu, target, access);
                    all += 1;
                }
            }
        }
        let t = tally(&c.snapshot(), &config.cpu_nodes).totals();
        assert_eq!(t.local + t.remote + t.io + t.unmapped + t.unknown_cpu, all);
        assert_eq!(t, Totals { local: 2, remote: 2, io: 6, unmapped: 6, unknown_cpu: 8 });
    }

    #[test]
    fn span_lines_name_every_span_then_other() {
        let spans = [
            crate::config::Span { name: "image".into(), start: 0x40_0000, end: 0x1_0000_0000 },
            crate::config::Span { name: "heap".into(), start: 0x100_0000_0000, end: 0x1000_0000_0000 },
        ];
        let mut counts = [[0; 2]; crate::config::MAX_SPANS + 1];
        counts[0] = [3, 1];
        counts[crate::config::MAX_SPANS] = [0, 2];
        assert_eq!(
            format_spans(&spans, &counts),
            "report: memaccess-span name=image local=3 remote=1 remote-fraction=0.2500\n\
             report: memaccess-span name=heap local=0 remote=0 remote-fraction=none\n\
             report: memaccess-span name=other local=0 remote=2 remote-fraction=1.0000\n"
        );
    }
}
