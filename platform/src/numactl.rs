// SPDX-License-Identifier: MIT OR Apache-2.0
//! The `numactl --hardware` block: the board's NUMA topology as people already read it.
//!
//! Anyone who has tuned a NUMA server knows this output, so the kernel prints it at boot
//! and the host tools print it for a DTB: it is the quickest way to see whether the
//! device tree says what you think it says. The format is numactl's own, byte for byte
//! (trailing spaces included), so the two can be diffed:
//!
//! ```text
//! available: 2 nodes (0-1)
//! node 0 cpus: 0 1
//! node 0 size: 512 MB
//! node 1 cpus: 2 3
//! node 1 size: 512 MB
//! node distances:
//! node   0   1
//!   0:  10  20
//!   1:  20  10
//! ```
//!
//! numactl's `printf` formats are `"% 3d"` for node numbers and distances: a sign column
//! (a space for non-negative numbers) and a minimum width of 3. In Rust that is
//! `" {:>2}"`.
//!
//! Once the kernel tracks free memory it can pass a per-node "free bytes" function with
//! [`Numactl::with_free`]. Then every node gets numactl's third line, in numactl's order
//! (cpus, size, free) and with its format: `"node %d free: %s\n"`, where numactl's
//! `fmt_mem` writes `"%llu MB"` of the bytes shifted down by 20 (so rounded down):
//!
//! ```text
//! node 0 cpus: 0 1
//! node 0 size: 512 MB
//! node 0 free: 498 MB
//! node 1 cpus: 2 3
//! ...
//! ```
#![forbid(unsafe_code)]

use core::fmt;

use crate::board::Board;
use crate::numa::NodeId;

/// Displays a board's topology in `numactl --hardware` format.
pub struct Numactl<'b> {
    board: &'b Board<'b>,
    free: Option<&'b dyn Fn(NodeId) -> u64>,
}

impl<'b> Numactl<'b> {
    pub(crate) fn new(board: &'b Board<'b>) -> Self {
        Numactl { board, free: None }
    }

    /// Adds a `node N free: M MB` line after each `node N size:` line, from
    /// `free_bytes(node)` (bytes; printed in whole MiB, rounded down).
    pub fn with_free(mut self, free_bytes: &'b dyn Fn(NodeId) -> u64) -> Self {
        self.free = Some(free_bytes);
        self
    }
}

/// numactl's `"% 3d"`.
struct Col(u64);

impl fmt::Display for Col {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, " {:>2}", self.0)
    }
}

impl fmt::Display for Numactl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.board;
        writeln!(f, "available: {} nodes ({})", b.node_count(), b.node_set())?;
        for n in b.nodes() {
            write!(f, "node {n} cpus:")?;
            for cpu in b.node_cpus(n) {
                write!(f, " {cpu}")?;
            }
            writeln!(f)?;
            writeln!(f, "node {n} size: {} MB", b.node_memory_bytes(n) >> 20)?;
            if let Some(free) = self.free {
                writeln!(f, "node {n} free: {} MB", free(n) >> 20)?;
            }
        }
        writeln!(f, "node distances:")?;
        write!(f, "node ")?;
        for n in b.nodes() {
            write!(f, "{} ", Col(n.raw().into()))?;
        }
        writeln!(f)?;
        for a in b.nodes() {
            write!(f, "{}: ", Col(a.raw().into()))?;
            for c in b.nodes() {
                write!(f, "{} ", Col(b.distance(a, c).into()))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Col;
    extern crate std;
    use crate::board::Board;
    use crate::dtb_writer::DtbWriter;
    use crate::numa::NodeId;
    use std::format;
    use std::string::ToString;

    #[test]
    fn free_lines_follow_each_size_line_in_numactls_format() {
        let mut w = DtbWriter::new();
        w.begin("").prop_u32("#address-cells", 2).prop_u32("#size-cells", 2);
        w.begin("cpus").prop_u32("#address-cells", 1).prop_u32("#size-cells", 0);
        for (reg, node) in [(0, 0), (1, 0), (2, 1)] {
            w.begin(&format!("cpu@{reg}")).prop_str("device_type", "cpu").prop_u32("reg", reg);
            w.prop_u32("numa-node-id", node).end();
        }
        w.end();
        for (base, node) in [(0x4000_0000u32, 0), (0x6000_0000, 1)] {
            w.begin(&format!("memory@{base:x}")).prop_str("device_type", "memory");
            w.prop_cells("reg", &[0, base, 0, 0x2000_0000]).prop_u32("numa-node-id", node).end();
        }
        w.end();
        let blob = w.finish();
        let board = Board::from_fdt(&blob).unwrap();
        // Node 0: 498 MiB and a half (rounds down); node 1: all 512 MiB free.
        let free = |n: NodeId| if n == NodeId::ZERO { (498 << 20) + (1 << 19) } else { 512 << 20 };
        let expected = "available: 2 nodes (0-1)\n\
                        node 0 cpus: 0 1\n\
                        node 0 size: 512 MB\n\
                        node 0 free: 498 MB\n\
                        node 1 cpus: 2\n\
                        node 1 size: 512 MB\n\
                        node 1 free: 512 MB\n\
                        node distances:\n\
                        node   0   1 \n  \
                        0:  10  20 \n  \
                        1:  20  10 \n";
        assert_eq!(board.numactl().with_free(&free).to_string(), expected);
        assert!(!board.numactl().to_string().contains("free"));
    }

    #[test]
    fn columns_match_printf_space_flag_width_three() {
        assert_eq!(format!("{}", Col(0)), "  0");
        assert_eq!(format!("{}", Col(10)), " 10");
        assert_eq!(format!("{}", Col(255)), " 255");
    }
}
