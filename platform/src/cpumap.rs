// SPDX-License-Identifier: MIT OR Apache-2.0
//! `cpu-map`: which CPUs share a socket, a cluster, a core.
//!
//! NUMA nodes group CPUs by memory distance; `cpu-map` groups them by physical packaging,
//! which matters for caches and for power: CPUs in one *cluster* usually share an L2
//! cache, *threads* of one core share almost everything. On boards without NUMA data the
//! kernel may treat clusters as scheduling domains, or even as NUMA nodes (`numa=clusters`,
//! [`crate::board::Board::numa_from_clusters`]), so this module gives every leaf cluster a
//! board-unique number, in map order.
//!
//! The binding (Linux `Documentation/devicetree/bindings/cpu/cpu-topology.txt`):
//!
//! ```text
//! /cpus/cpu-map
//!   socket0            (optional level; without it the whole map is socket 0)
//!     cluster0         (clusters may nest: cluster0/cluster1/...)
//!       core0
//!         thread0 { cpu = <&CPU0>; }   (threads optional: then core0 has `cpu`)
//! ```
//!
//! Choices made here, to keep numbering simple and board-unique:
//! - `cluster` is a flat index of *leaf* clusters (those that hold cores), numbered in
//!   blob order across the whole map, starting at 0. Enclosing clusters only group.
//! - `core` and `thread` are the `N` of `coreN` / `threadN` (local to their parent).
//! - `socket` is the `N` of `socketN`, or 0 when the map has no socket level (as Linux
//!   does: one package).
//! - Children with other names are ignored; a leaf without a well-formed `cpu` phandle
//!   is reported to the caller.
#![forbid(unsafe_code)]

use crate::tree::Node;

/// Where a CPU sits in the packaging hierarchy; every field is `None` when the board
/// has no `cpu-map` (or does not list this CPU).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTopology {
    /// Socket (package) number.
    pub socket: Option<u16>,
    /// Board-unique leaf-cluster number.
    pub cluster: Option<u16>,
    /// Core number within the cluster.
    pub core: Option<u16>,
    /// Thread number within the core (`None` for single-threaded cores).
    pub thread: Option<u16>,
}

impl CpuTopology {
    /// Nothing known (no `cpu-map`).
    pub const UNKNOWN: CpuTopology = CpuTopology { socket: None, cluster: None, core: None, thread: None };
}

/// A leaf cluster: its board-unique number and its socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cluster {
    /// The socket the cluster is in.
    pub socket: u16,
    /// The board-unique cluster number.
    pub id: u16,
}

impl CpuTopology {
    /// The CPU's leaf cluster, if the map gives one.
    pub fn cluster(&self) -> Option<Cluster> {
        Some(Cluster { socket: self.socket?, id: self.cluster? })
    }
}

/// One leaf of the map: a `cpu` phandle (or `None` if the leaf has none, or a bad one)
/// and its position.
pub(crate) type Leaf = (Option<u32>, CpuTopology);

/// Walks `map` (the `/cpus/cpu-map` node) and calls `emit` for every leaf.
pub(crate) fn walk(map: &Node<'_>, emit: &mut dyn FnMut(Leaf)) {
    let mut next_cluster = 0u16;
    let mut any_socket = false;
    for socket in map.children() {
        if let Some(s) = index_of(socket.name, "socket") {
            any_socket = true;
            clusters_in(&socket, s, &mut next_cluster, emit);
        }
    }
    if !any_socket {
        clusters_in(map, 0, &mut next_cluster, emit);
    }
}

fn clusters_in(parent: &Node<'_>, socket: u16, next: &mut u16, emit: &mut dyn FnMut(Leaf)) {
    for c in parent.children() {
        if index_of(c.name, "cluster").is_some() {
            cluster(&c, socket, next, emit);
        }
    }
}

fn cluster(node: &Node<'_>, socket: u16, next: &mut u16, emit: &mut dyn FnMut(Leaf)) {
    let nested = node.children().any(|c| index_of(c.name, "cluster").is_some());
    if nested {
        // Depth is bounded by the validator's MAX_DEPTH, so this recursion is too.
        clusters_in(node, socket, next, emit);
        return;
    }
    let id = *next;
    *next = next.saturating_add(1);
    for core in node.children() {
        let Some(core_no) = index_of(core.name, "core") else {
            continue;
        };
        let mut topo =
            CpuTopology { socket: Some(socket), cluster: Some(id), core: Some(core_no), thread: None };
        let mut threads = false;
        for t in core.children() {
            if let Some(thread_no) = index_of(t.name, "thread") {
                threads = true;
                topo.thread = Some(thread_no);
                emit((cpu_phandle(&t), topo));
            }
        }
        if !threads {
            topo.thread = None;
            emit((cpu_phandle(&core), topo));
        }
    }
}

fn cpu_phandle(leaf: &Node<'_>) -> Option<u32> {
    leaf.prop_u32("cpu").and_then(Result::ok)
}

/// `N` from a node called `{prefix}N` (digits only, fits in `u16`).
fn index_of(name: &str, prefix: &str) -> Option<u16> {
    let digits = name.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::dtb_writer::DtbWriter;
    use crate::tree::Tree;
    use std::vec::Vec;

    fn leaves(blob: &[u8]) -> Vec<Leaf> {
        let tree = Tree::new(blob).unwrap();
        let map = tree.find_path("/cpus/cpu-map").unwrap();
        let mut out = Vec::new();
        walk(&map[map.len() - 1], &mut |l| out.push(l));
        out
    }

    fn topo(socket: u16, cluster: u16, core: u16, thread: Option<u16>) -> CpuTopology {
        CpuTopology { socket: Some(socket), cluster: Some(cluster), core: Some(core), thread }
    }

    #[test]
    fn nested_clusters_get_flat_board_unique_numbers() {
        let mut w = DtbWriter::new();
        w.begin("").begin("cpus").begin("cpu-map");
        w.begin("socket0").begin("cluster0");
        w.begin("cluster0").begin("core0").prop_u32("cpu", 1).end().end();
        w.begin("cluster1").begin("core0").prop_u32("cpu", 2).end().end();
        w.end().end();
        w.begin("socket1").begin("cluster0").begin("core3");
        w.begin("thread0").prop_u32("cpu", 3).end();
        w.begin("thread1").prop_u32("cpu", 4).end();
        w.end().end().end();
        w.end().end().end();
        assert_eq!(
            leaves(&w.finish()),
            [
                (Some(1), topo(0, 0, 0, None)),
                (Some(2), topo(0, 1, 0, None)),
                (Some(3), topo(1, 2, 3, Some(0))),
                (Some(4), topo(1, 2, 3, Some(1))),
            ]
        );
    }

    #[test]
    fn a_map_without_sockets_is_socket_zero() {
        let mut w = DtbWriter::new();
        w.begin("").begin("cpus").begin("cpu-map");
        w.begin("cluster0").begin("core0").prop_u32("cpu", 9).end().end();
        w.begin("cluster1").begin("core1").end().end();
        w.end().end().end();
        assert_eq!(leaves(&w.finish()), [(Some(9), topo(0, 0, 0, None)), (None, topo(0, 1, 1, None))]);
    }

    #[test]
    fn only_prefix_and_digits_count_as_names() {
        assert_eq!(index_of("core12", "core"), Some(12));
        assert_eq!(index_of("core", "core"), None);
        assert_eq!(index_of("core1x", "core"), None);
        assert_eq!(index_of("core99999", "core"), None);
    }
}
