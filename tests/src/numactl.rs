// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `numactl --hardware` block a topology spec should produce, and finding it in output.
//!
//! The kernel prints the NUMA topology it read from the device tree in exactly the format of
//! Linux's `numactl --hardware`, so a person can compare it with a real machine at a glance
//! and a test can compare it line by line. This module computes that block *from the spec
//! alone*, without looking at any device tree: CPUs numbered consecutively node by node (as
//! QEMU assigns them), sizes in MiB, distances from the spec's matrix.
//!
//! The machine the kernel should see is a [`Layout`]: which CPUs each node has, its size and
//! the distances. Usually that is the spec as QEMU builds it ([`Layout::from_spec`]); with
//! `numa=clusters` on the command line it is the kernel's cluster rule applied to the spec
//! ([`Layout::from_clusters`]); a test that edits QEMU's device tree adds CPUs to it
//! ([`Layout::add_cpu`]). Whatever the source, one function prints the block.
//!
//! The format follows numactl's `printf` strings, trailing spaces included:
//! `"node %d cpus:"` then `" %d"` per CPU; `"node %d size: %lu MB"`; `"node %d free: %lu MB"`;
//! the distance header `"node "` then `"% 3d "` per node; each row `"% 3d: "` then `"% 3d "`
//! per entry. Note that `% 3d` is a *minimum* width of three that includes the space flag's
//! blank, so 100 prints as ` 100` (four characters).
//!
//! ## The free lines
//!
//! The booted kernel prints numactl's `node K free: X MB` line after each size line; the
//! device-tree parser alone (`boot-tests --dtb-only`, `scripts/topology`) does not, since only
//! a running kernel knows what is free. How much is free depends on the kernel's own
//! allocations, so it cannot be predicted from the spec: the expected block holds the
//! placeholder [`FREE_PLACEHOLDER`] there (`node 0 free: <N> MB`), and [`match_block`]
//! accepts any whole number in its place and hands the numbers back, so that the caller can
//! check them against what else the kernel reported (see `boot.rs`).

#![forbid(unsafe_code)]

use crate::topology::{LOCAL_DISTANCE, Topology};
use std::fmt::Write as _;

/// C's `printf("% 3d", n)` for a non-negative `n`: a blank for the sign, then right-aligned
/// to a total width of at least three.
pub fn space3(n: u64) -> String {
    format!("{:>3}", format!(" {n}"))
}

/// Formats a sorted set of node ids as numactl does: ranges joined by commas, `0-1`, `0,2-3`.
pub fn node_set(ids: &[usize]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < ids.len() {
        let start = ids[i];
        let mut end = start;
        while i + 1 < ids.len() && ids[i + 1] == end + 1 {
            i += 1;
            end = ids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}-{end}");
        }
        i += 1;
    }
    out
}

/// The text that stands for the unpredictable number of a free line in an expected block.
pub const FREE_PLACEHOLDER: &str = "<N>";

/// The `numa=clusters` memory split rounds every chunk but the last down to this.
pub const CLUSTER_SPLIT_MIB: u64 = 2;
/// The `numa=clusters` distance between two clusters of one socket.
pub const SAME_SOCKET_DISTANCE: u8 = 20;

/// Whether an expected block has numactl's `node K free:` lines (a booted kernel prints
/// them; the device-tree parser on its own does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeLines {
    /// No free lines: the block of `platform::Board::numactl()` without free memory.
    Without,
    /// A `node K free: <N> MB` line after each size line, as the booted kernel prints.
    Placeholder,
}

/// The NUMA machine the kernel should see: per node its CPU ids and size, and the distances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// `cpus[k]`: the logical CPU ids of node `k`, ascending.
    pub cpus: Vec<Vec<u32>>,
    /// `size_mib[k]`: node `k`'s memory in MiB.
    pub size_mib: Vec<u64>,
    /// `distances[i][j]`: the distance from node `i` to node `j`.
    pub distances: Vec<Vec<u8>>,
}

impl Layout {
    /// The machine QEMU builds from the spec: its nodes, CPUs numbered node by node.
    pub fn from_spec(topo: &Topology) -> Layout {
        let n = topo.nodes().len();
        Layout {
            cpus: (0..n).map(|k| topo.cpu_range(k).collect()).collect(),
            size_mib: topo.nodes().iter().map(|node| node.mem_mib).collect(),
            distances: (0..n).map(|i| (0..n).map(|j| topo.distance(i, j)).collect()).collect(),
        }
    }

    /// The machine after the kernel's `numa=clusters` (see `platform::board`), for a spec
    /// without NUMA data whose CPUs QEMU groups into clusters (`--clusters C`).
    ///
    /// Written from the rule, not from the kernel's output: node `k` is cluster `k`, and QEMU
    /// fills clusters in CPU order, so node `k` gets the `k`-th run of `cpus / C` CPUs. Memory
    /// is split evenly in address order: every node but the last gets `total / C` rounded
    /// down to [`CLUSTER_SPLIT_MIB`], the last the remainder. Distances are 10 local and 20
    /// between clusters of one socket (`-smp ...,sockets=1`: every cluster shares the socket).
    /// A spec without clusters (or with one) stays as it is.
    pub fn from_clusters(topo: &Topology) -> Layout {
        let clusters = match topo.clusters() {
            Some(c) if c > 1 && !topo.is_numa() => c as usize,
            _ => return Layout::from_spec(topo),
        };
        let per_cluster = topo.total_cpus() / clusters as u32;
        let total = topo.total_mem_mib();
        let chunk = total / clusters as u64 / CLUSTER_SPLIT_MIB * CLUSTER_SPLIT_MIB;
        let mut size_mib = vec![chunk; clusters];
        size_mib[clusters - 1] = total - chunk * (clusters as u64 - 1);
        Layout {
            cpus: (0..clusters as u32).map(|k| (k * per_cluster..(k + 1) * per_cluster).collect()).collect(),
            size_mib,
            distances: (0..clusters)
                .map(|i| {
                    (0..clusters)
                        .map(|j| if i == j { LOCAL_DISTANCE } else { SAME_SOCKET_DISTANCE })
                        .collect()
                })
                .collect(),
        }
    }

    /// Adds one CPU to `node`, with the next logical id (a CPU node appended to `/cpus`).
    pub fn add_cpu(&mut self, node: usize) {
        let next = self.total_cpus();
        self.cpus[node].push(next);
    }

    /// How many CPUs the machine describes.
    pub fn total_cpus(&self) -> u32 {
        self.cpus.iter().map(|c| c.len() as u32).sum()
    }

    /// How many nodes.
    pub fn node_count(&self) -> usize {
        self.cpus.len()
    }

    /// The block the kernel must print for this machine, one `\n` after every line.
    pub fn block(&self, free: FreeLines) -> String {
        let n = self.node_count();
        let ids: Vec<usize> = (0..n).collect();
        let mut out = String::new();
        let _ = writeln!(out, "available: {n} nodes ({})", node_set(&ids));
        for k in 0..n {
            let _ = write!(out, "node {k} cpus:");
            for cpu in &self.cpus[k] {
                let _ = write!(out, " {cpu}");
            }
            out.push('\n');
            let _ = writeln!(out, "node {k} size: {} MB", self.size_mib[k]);
            if free == FreeLines::Placeholder {
                let _ = writeln!(out, "node {k} free: {FREE_PLACEHOLDER} MB");
            }
        }
        out.push_str("node distances:\n");
        out.push_str("node ");
        for k in 0..n {
            let _ = write!(out, "{} ", space3(k as u64));
        }
        out.push('\n');
        for i in 0..n {
            let _ = write!(out, "{}: ", space3(i as u64));
            for j in 0..n {
                let _ = write!(out, "{} ", space3(u64::from(self.distances[i][j])));
            }
            out.push('\n');
        }
        out
    }
}

/// The block the device-tree parser must produce for `topo` (no free lines), one `\n` after
/// every line.
pub fn expected_block(topo: &Topology) -> String {
    Layout::from_spec(topo).block(FreeLines::Without)
}

/// What [`match_block`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockMatch {
    /// The printed block with every number that filled a placeholder put back as the
    /// placeholder: equal to the expected block exactly when the block matches.
    pub normalized: String,
    /// `(node, MB)` of every free line that matched, in order.
    pub free_mib: Vec<(usize, u64)>,
}

impl BlockMatch {
    /// True when the printed block matched the expected one.
    pub fn matches(&self, expected: &str) -> bool {
        self.normalized == expected
    }
}

/// Compares a printed block with an expected one line by line. An expected line holding
/// [`FREE_PLACEHOLDER`] matches a printed line that reads the same with a whole number in
/// its place; the numbers are collected, keyed by the node id of `node K free:`. Every other
/// line must be equal byte for byte (see [`BlockMatch::matches`]).
pub fn match_block(expected: &str, printed: &str) -> BlockMatch {
    let want: Vec<&str> = expected.lines().collect();
    let mut normalized = String::new();
    let mut free_mib = Vec::new();
    for (i, line) in printed.lines().enumerate() {
        let filled = want.get(i).and_then(|w| fill_placeholder(w, line));
        match filled {
            Some(number) => {
                normalized.push_str(want[i]);
                if let Some(node) = free_line_node(line) {
                    free_mib.push((node, number));
                }
            }
            None => normalized.push_str(line),
        }
        normalized.push('\n');
    }
    BlockMatch { normalized, free_mib }
}

/// `Some(number)` when `pattern` holds the placeholder and `line` is `pattern` with a whole
/// number (digits only) in its place.
fn fill_placeholder(pattern: &str, line: &str) -> Option<u64> {
    let (before, after) = pattern.split_once(FREE_PLACEHOLDER)?;
    let digits = line.strip_prefix(before)?.strip_suffix(after)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The node id of a `node K free: ...` line.
fn free_line_node(line: &str) -> Option<usize> {
    let (node, rest) = line.strip_prefix("node ")?.split_once(' ')?;
    rest.starts_with("free:").then(|| node.parse().ok()).flatten()
}

/// Finds the numactl block in captured serial output: from the first line starting with
/// `available: ` through the last row of the distance matrix. `\r` line endings are dropped;
/// trailing blanks are kept, since they are part of the format.
///
/// The block's length is read from the output itself (the node count on the `available:`
/// line), so a kernel that prints too few nodes yields a short block that then fails to
/// compare, rather than swallowing unrelated lines.
pub fn find_block(output: &str) -> Option<String> {
    let lines: Vec<&str> = output.lines().map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let start = lines.iter().position(|l| l.starts_with("available: "))?;
    let mut out = String::new();
    let mut in_matrix_rows = false;
    for line in &lines[start..] {
        let is_block_line = line.starts_with("available: ")
            || line.starts_with("node ")
            || line.starts_with("node distances:");
        let is_row = line.len() > 4 && {
            let head = line.split(':').next().unwrap_or("");
            !head.trim().is_empty() && head.trim().bytes().all(|b| b.is_ascii_digit())
        };
        if line.starts_with("node distances:") {
            in_matrix_rows = true;
        }
        if out.is_empty() || is_block_line || (in_matrix_rows && is_row) {
            out.push_str(line);
            out.push('\n');
        } else {
            break;
        }
    }
    Some(out)
}

/// A readable line-by-line comparison for a failed block match: `-` expected, `+` printed,
/// with trailing blanks made visible as `·`.
pub fn describe_mismatch(expected: &str, actual: &str) -> String {
    let show = |l: &str| {
        let trimmed = l.trim_end_matches(' ');
        format!("{trimmed}{}", "·".repeat(l.len() - trimmed.len()))
    };
    let e: Vec<&str> = expected.lines().collect();
    let a: Vec<&str> = actual.lines().collect();
    let mut out = String::new();
    for i in 0..e.len().max(a.len()) {
        match (e.get(i), a.get(i)) {
            (Some(x), Some(y)) if x == y => {
                let _ = writeln!(out, "   {}", show(x));
            }
            (x, y) => {
                if let Some(x) = x {
                    let _ = writeln!(out, "  -{}", show(x));
                }
                if let Some(y) = y {
                    let _ = writeln!(out, "  +{}", show(y));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space3_matches_c_printf() {
        // printf("% 3d|", n) with glibc: "  0|", " 10|", " 100|".
        assert_eq!(space3(0), "  0");
        assert_eq!(space3(7), "  7");
        assert_eq!(space3(10), " 10");
        assert_eq!(space3(100), " 100");
        assert_eq!(space3(255), " 255");
    }

    #[test]
    fn node_sets_collapse_into_ranges() {
        assert_eq!(node_set(&[0]), "0");
        assert_eq!(node_set(&[0, 1]), "0-1");
        assert_eq!(node_set(&[0, 1, 2, 3]), "0-3");
        assert_eq!(node_set(&[0, 2, 3]), "0,2-3");
        assert_eq!(node_set(&[1, 3, 5, 6, 7]), "1,3,5-7");
        assert_eq!(node_set(&[]), "");
    }

    #[test]
    fn two_by_two_matches_numactl_byte_for_byte() {
        let t = Topology::demo();
        let want = "available: 2 nodes (0-1)\n\
                    node 0 cpus: 0 1\n\
                    node 0 size: 512 MB\n\
                    node 1 cpus: 2 3\n\
                    node 1 size: 512 MB\n\
                    node distances:\n\
                    node   0   1 \n  0:  10  20 \n  1:  20  10 \n";
        assert_eq!(expected_block(&t), want);
    }

    #[test]
    fn single_node_has_a_one_by_one_matrix() {
        let t = Topology::parse(&["cpus=1,mem=1G"], &[] as &[&str], None).unwrap();
        assert_eq!(
            expected_block(&t),
            "available: 1 nodes (0)\nnode 0 cpus: 0\nnode 0 size: 1024 MB\n\
             node distances:\nnode   0 \n  0:  10 \n"
        );
    }

    #[test]
    fn memoryless_and_cpuless_nodes_and_asymmetry_show_up() {
        let t = Topology::parse(
            &["cpus=2,mem=512M", "cpus=1,mem=0", "cpus=0,mem=256M"],
            &["0-1=15", "1-0=25", "0-2=100"],
            None,
        )
        .unwrap();
        let want = "available: 3 nodes (0-2)\n\
                    node 0 cpus: 0 1\n\
                    node 0 size: 512 MB\n\
                    node 1 cpus: 2\n\
                    node 1 size: 0 MB\n\
                    node 2 cpus:\n\
                    node 2 size: 256 MB\n\
                    node distances:\n\
                    node   0   1   2 \n  0:  10  15  100 \n  1:  25  10  20 \n  2:  100  20  10 \n";
        assert_eq!(expected_block(&t), want);
    }

    #[test]
    fn the_booted_kernels_block_has_a_free_line_after_each_size_line() {
        let want = "available: 2 nodes (0-1)\n\
                    node 0 cpus: 0 1\n\
                    node 0 size: 512 MB\n\
                    node 0 free: <N> MB\n\
                    node 1 cpus: 2 3\n\
                    node 1 size: 512 MB\n\
                    node 1 free: <N> MB\n\
                    node distances:\n\
                    node   0   1 \n  0:  10  20 \n  1:  20  10 \n";
        assert_eq!(Layout::from_spec(&Topology::demo()).block(FreeLines::Placeholder), want);
    }

    #[test]
    fn numa_clusters_makes_each_cluster_a_node_and_splits_memory_evenly() {
        let t = Topology::parse(&["cpus=4,mem=512M"], &[] as &[&str], Some(2)).unwrap();
        let l = Layout::from_clusters(&t);
        assert_eq!(l.cpus, [vec![0, 1], vec![2, 3]]);
        assert_eq!(l.size_mib, [256, 256]);
        assert_eq!(l.distances, [vec![10, 20], vec![20, 10]]);
        assert_eq!(
            l.block(FreeLines::Without),
            "available: 2 nodes (0-1)\nnode 0 cpus: 0 1\nnode 0 size: 256 MB\n\
             node 1 cpus: 2 3\nnode 1 size: 256 MB\n\
             node distances:\nnode   0   1 \n  0:  10  20 \n  1:  20  10 \n"
        );
    }

    #[test]
    fn the_cluster_split_rounds_down_to_2_mib_and_the_last_node_takes_the_rest() {
        let t = Topology::parse(&["cpus=6,mem=1000M"], &[] as &[&str], Some(3)).unwrap();
        let l = Layout::from_clusters(&t);
        // 1000 / 3 = 333, rounded down to 332; the last node gets 1000 - 2 * 332 = 336.
        assert_eq!(l.size_mib, [332, 332, 336]);
        assert_eq!(l.cpus, [vec![0, 1], vec![2, 3], vec![4, 5]]);
    }

    #[test]
    fn without_clusters_or_with_numa_data_the_cluster_rule_changes_nothing() {
        let plain = Topology::parse(&["cpus=4,mem=512M"], &[] as &[&str], None).unwrap();
        assert_eq!(Layout::from_clusters(&plain), Layout::from_spec(&plain));
        let numa = Topology::parse(&["cpus=2,mem=256M"; 2], &[] as &[&str], Some(2)).unwrap();
        assert_eq!(Layout::from_clusters(&numa), Layout::from_spec(&numa));
    }

    #[test]
    fn an_added_cpu_gets_the_next_id_on_its_node() {
        let mut l = Layout::from_spec(&Topology::demo());
        l.add_cpu(1);
        assert_eq!(l.cpus, [vec![0, 1], vec![2, 3, 4]]);
        assert_eq!(l.total_cpus(), 5);
        assert!(l.block(FreeLines::Without).contains("node 1 cpus: 2 3 4\n"));
    }

    #[test]
    fn free_lines_match_any_number_and_hand_it_back() {
        let want = Layout::from_spec(&Topology::demo()).block(FreeLines::Placeholder);
        let printed = want.replace("node 0 free: <N> MB", "node 0 free: 510 MB").replace("<N>", "0");
        let m = match_block(&want, &printed);
        assert!(m.matches(&want), "{}", m.normalized);
        assert_eq!(m.free_mib, [(0, 510), (1, 0)]);
    }

    #[test]
    fn a_free_line_without_a_number_or_a_wrong_line_does_not_match() {
        let want = Layout::from_spec(&Topology::demo()).block(FreeLines::Placeholder);
        for bad in ["node 0 free: MB", "node 0 free: -1 MB", "node 0 free: 51O MB", "node 0 free: 510 KB"] {
            let printed = want.replacen("node 0 free: <N> MB", bad, 1).replace("<N>", "7");
            let m = match_block(&want, &printed);
            assert!(!m.matches(&want), "{bad}");
            assert_eq!(m.free_mib, [(1, 7)], "{bad}");
        }
        let wrong_size = want.replace("node 1 size: 512 MB", "node 1 size: 511 MB").replace("<N>", "1");
        assert!(!match_block(&want, &wrong_size).matches(&want));
        let missing_free = Layout::from_spec(&Topology::demo()).block(FreeLines::Without);
        assert!(!match_block(&want, &missing_free).matches(&want));
    }

    #[test]
    fn the_block_is_found_among_other_output() {
        let t = Topology::demo();
        let block = expected_block(&t);
        let serial = format!(
            "report: boot cpu=0 mpidr=0x0\r\nwarning: x\r\n{}report: boot result=pass\r\n",
            block.replace('\n', "\r\n")
        );
        assert_eq!(find_block(&serial).as_deref(), Some(block.as_str()));
        assert_eq!(find_block("nothing here\n"), None);
    }

    #[test]
    fn a_short_block_is_found_short() {
        let serial = "available: 2 nodes (0-1)\nnode 0 cpus: 0\nnode 0 size: 1 MB\nreport: x\n";
        assert_eq!(
            find_block(serial).unwrap(),
            "available: 2 nodes (0-1)\nnode 0 cpus: 0\nnode 0 size: 1 MB\n"
        );
    }

    #[test]
    fn mismatches_show_trailing_blanks() {
        let d = describe_mismatch("a \nb\n", "a\nb\n");
        assert!(d.contains("  -a·"), "{d}");
        assert!(d.contains("  +a\n"), "{d}");
        assert!(d.contains("   b"), "{d}");
    }
}
