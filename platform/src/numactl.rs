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
//! `" {:>2}"`. Once the kernel tracks free memory it can pass a per-node "free bytes"
//! function with [`Numactl::with_free`], which adds numactl's `node N free: M MB` lines.
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

    /// Adds a `node N free: M MB` line per node, from `free_bytes(node)`.
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
    use std::format;

    #[test]
    fn columns_match_printf_space_flag_width_three() {
        assert_eq!(format!("{}", Col(0)), "  0");
        assert_eq!(format!("{}", Col(10)), " 10");
        assert_eq!(format!("{}", Col(255)), " 255");
    }
}
