// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `numactl --hardware` block a topology spec should produce, and finding it in output.
//!
//! The kernel prints the NUMA topology it read from the device tree in exactly the format of
//! Linux's `numactl --hardware` (without the `free:` lines), so a person can compare it with a
//! real machine at a glance and a test can compare it byte for byte. This module computes that
//! block *from the spec alone*, without looking at any device tree: CPUs numbered consecutively
//! node by node (as QEMU assigns them), sizes in MiB, distances from the spec's matrix.
//!
//! The format follows numactl's `printf` strings, trailing spaces included:
//! `"node %d cpus:"` then `" %d"` per CPU; `"node %d size: %lu MB"`; the distance header
//! `"node "` then `"% 3d "` per node; each row `"% 3d: "` then `"% 3d "` per entry. Note that
//! `% 3d` is a *minimum* width of three that includes the space flag's blank, so 100 prints as
//! ` 100` (four characters).

#![forbid(unsafe_code)]

use crate::topology::Topology;
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

/// The block the kernel must print for `topo`, one `\n` after every line.
pub fn expected_block(topo: &Topology) -> String {
    let n = topo.nodes().len();
    let ids: Vec<usize> = (0..n).collect();
    let mut out = String::new();
    let _ = writeln!(out, "available: {n} nodes ({})", node_set(&ids));
    for (k, node) in topo.nodes().iter().enumerate() {
        let _ = write!(out, "node {k} cpus:");
        for cpu in topo.cpu_range(k) {
            let _ = write!(out, " {cpu}");
        }
        out.push('\n');
        let _ = writeln!(out, "node {k} size: {} MB", node.mem_mib);
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
            let _ = write!(out, "{} ", space3(u64::from(topo.distance(i, j))));
        }
        out.push('\n');
    }
    out
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
