// SPDX-License-Identifier: MIT OR Apache-2.0
//! NUMA vocabulary: node ids, sets of nodes, and the node distance matrix.
//!
//! A NUMA machine is a set of *nodes*, each a group of CPUs and/or memory that are close
//! to each other. The device tree says which node a CPU or memory range belongs to with a
//! `numa-node-id` property, and how far apart nodes are with a `/distance-map` node whose
//! `distance-matrix` property lists `(from, to, distance)` triples. Distances are relative:
//! 10 means "local", and the binding (like ACPI's SLIT) says every other value must be
//! larger. The kernel uses distances to pick the nearest node when the home node of an
//! address space has no memory left.
//!
//! `NodeId` is a newtype so a node number can never be confused with a CPU number or an
//! array index by accident; it can only be built through [`NodeId::new`], which enforces
//! `< MAX_NODES`, so every `NodeId` in the system is a valid index into per-node arrays.
#![forbid(unsafe_code)]

use core::fmt;

use crate::MAX_NODES;
use crate::error::ErrorKind;

/// Distance of a node to itself (the binding and Linux's `LOCAL_DISTANCE`).
pub const LOCAL_DISTANCE: u8 = 10;
/// Distance assumed between two different nodes when the device tree gives none
/// (Linux's `REMOTE_DISTANCE`).
pub const REMOTE_DISTANCE: u8 = 20;
/// Distance between two cluster nodes of one socket when clusters stand in for NUMA
/// nodes (`numa=clusters`, see [`crate::board`]): remote, but on the same die.
pub const CLUSTER_DISTANCE: u8 = 20;
/// Distance between cluster nodes of different sockets (`numa=clusters`): one more
/// step, as a two-socket SLIT usually says.
pub const SOCKET_DISTANCE: u8 = 30;

// A `NodeSet` is a 64-bit mask; widen it before raising MAX_NODES.
const _: () = assert!(MAX_NODES <= 64);

/// A NUMA node number, always `< MAX_NODES`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(u16);

impl NodeId {
    /// Node 0: the only node of a machine without NUMA information.
    pub const ZERO: NodeId = NodeId(0);

    /// The node numbered `raw`, or `None` when `raw >= MAX_NODES`.
    pub fn new(raw: u32) -> Option<NodeId> {
        if (raw as usize) < MAX_NODES { Some(NodeId(raw as u16)) } else { None }
    }

    /// The node number as an index into per-node arrays.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }

    /// The node number as the device tree writes it.
    pub fn raw(self) -> u32 {
        u32::from(self.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A set of NUMA nodes (a bit mask; bit `n` is node `n`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeSet(u64);

impl NodeSet {
    /// The empty set.
    pub const EMPTY: NodeSet = NodeSet(0);

    /// Adds `n` to the set.
    pub fn insert(&mut self, n: NodeId) {
        self.0 |= 1 << n.index();
    }

    /// True when `n` is in the set.
    pub fn contains(self, n: NodeId) -> bool {
        self.0 & (1 << n.index()) != 0
    }

    /// The number of nodes in the set.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// True when the set has no node.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The nodes in ascending order.
    pub fn iter(self) -> impl Iterator<Item = NodeId> {
        (0..MAX_NODES as u32).filter_map(NodeId::new).filter(move |&n| self.contains(n))
    }
}

/// Written the way `numactl` and Linux's `/sys/devices/system/node/online` write a node
/// list: ascending, runs collapsed into ranges, e.g. `0-3` or `0,2-3`.
impl fmt::Display for NodeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut n = 0;
        while n < MAX_NODES {
            if self.0 & (1 << n) == 0 {
                n += 1;
                continue;
            }
            let start = n;
            while n + 1 < MAX_NODES && self.0 & (1 << (n + 1)) != 0 {
                n += 1;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == n {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{n}")?;
            }
            n += 1;
        }
        Ok(())
    }
}

/// Node-to-node distances, as given by a `numa-distance-map-v1` node.
///
/// Entries the device tree did not give read as 0 ("unknown") through [`Self::given`];
/// [`Self::distance`] fills them with the defaults (10 on the diagonal, 20 elsewhere).
#[derive(Clone, Copy)]
pub struct DistanceMatrix {
    // 0 = not given (0 is never a valid distance).
    table: [[u8; MAX_NODES]; MAX_NODES],
    // Bit b of `explicit[a]`: (a, b) was written in the matrix (not implied by mirroring).
    explicit: [u64; MAX_NODES],
    named: NodeSet,
}

impl Default for DistanceMatrix {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl DistanceMatrix {
    /// No distances given.
    pub const EMPTY: DistanceMatrix = DistanceMatrix {
        table: [[0; MAX_NODES]; MAX_NODES],
        explicit: [0; MAX_NODES],
        named: NodeSet::EMPTY,
    };

    /// Parses the raw `distance-matrix` property: big-endian `u32` triples
    /// `(from, to, distance)`.
    ///
    /// Rules (from Linux's `of_numa_parse_distance_map_v1`, made order-independent):
    /// a node's distance to itself must be 10; between different nodes it must be
    /// above 10; no distance may exceed 255; the same pair given twice must agree;
    /// `(a, b, d)` implies `(b, a, d)` unless `(b, a)` is given explicitly (Linux applies
    /// the mirror only in one direction and lets order decide; here an explicit entry
    /// always wins over a mirrored one, whatever the order).
    pub fn parse(matrix: &[u8]) -> Result<DistanceMatrix, ErrorKind> {
        if !matrix.len().is_multiple_of(12) {
            return Err(ErrorKind::MatrixNotTriples { bytes: matrix.len() });
        }
        let mut m = DistanceMatrix::default();
        for triple in matrix.chunks_exact(12) {
            let cell = |i: usize| {
                u32::from_be_bytes([triple[i * 4], triple[i * 4 + 1], triple[i * 4 + 2], triple[i * 4 + 3]])
            };
            m.add_entry(cell(0), cell(1), cell(2))?;
        }
        m.mirror_one_way_entries();
        Ok(m)
    }

    fn add_entry(&mut self, a: u32, b: u32, d: u32) -> Result<(), ErrorKind> {
        let na = node_in_range(a)?;
        let nb = node_in_range(b)?;
        if na == nb && d != u32::from(LOCAL_DISTANCE) {
            return Err(ErrorKind::SelfDistance { node: na, distance: d });
        }
        if na != nb && d <= u32::from(LOCAL_DISTANCE) {
            return Err(ErrorKind::DistanceTooSmall { from: na, to: nb, distance: d });
        }
        let d8 =
            u8::try_from(d).map_err(|_| ErrorKind::DistanceTooLarge { from: na, to: nb, distance: d })?;
        let slot = &mut self.table[na.index()][nb.index()];
        if self.explicit[na.index()] & (1 << nb.index()) != 0 && *slot != d8 {
            return Err(ErrorKind::DistanceConflict { from: na, to: nb, first: *slot, second: d8 });
        }
        *slot = d8;
        self.explicit[na.index()] |= 1 << nb.index();
        self.named.insert(na);
        self.named.insert(nb);
        Ok(())
    }

    fn mirror_one_way_entries(&mut self) {
        for a in 0..MAX_NODES {
            for b in 0..MAX_NODES {
                let given = self.explicit[a] & (1 << b) != 0;
                let reverse_given = self.explicit[b] & (1 << a) != 0;
                if given && !reverse_given {
                    self.table[b][a] = self.table[a][b];
                }
            }
        }
    }

    /// The matrix of a board whose nodes are its clusters (`numa=clusters`): node `k`
    /// is in socket `sockets[k]`; 10 to itself, [`CLUSTER_DISTANCE`] to another node of
    /// its socket, [`SOCKET_DISTANCE`] to a node of another socket. Every pair is given,
    /// so no default ever applies. Entries of `sockets` past `MAX_NODES` are ignored
    /// (the caller refuses more clusters than nodes before it gets here).
    pub(crate) fn of_clusters(sockets: &[u16]) -> DistanceMatrix {
        let mut m = DistanceMatrix::default();
        let count = sockets.len().min(MAX_NODES);
        for (a, sa) in sockets.iter().enumerate().take(count) {
            for (b, sb) in sockets.iter().enumerate().take(count) {
                m.table[a][b] = match (a == b, sa == sb) {
                    (true, _) => LOCAL_DISTANCE,
                    (false, true) => CLUSTER_DISTANCE,
                    (false, false) => SOCKET_DISTANCE,
                };
                m.explicit[a] |= 1 << b;
            }
            // `a < count <= MAX_NODES`, so the id exists.
            if let Some(n) = NodeId::new(a as u32) {
                m.named.insert(n);
            }
        }
        m
    }

    /// Every node the matrix mentions.
    pub fn named_nodes(&self) -> NodeSet {
        self.named
    }

    /// The distance given (or implied by mirroring) for `a -> b`, if any.
    pub fn given(&self, a: NodeId, b: NodeId) -> Option<u8> {
        match self.table[a.index()][b.index()] {
            0 => None,
            d => Some(d),
        }
    }

    /// The distance `a -> b`, with the defaults for pairs the matrix does not give.
    pub fn distance(&self, a: NodeId, b: NodeId) -> u8 {
        match self.given(a, b) {
            Some(d) => d,
            None if a == b => LOCAL_DISTANCE,
            None => REMOTE_DISTANCE,
        }
    }
}

fn node_in_range(raw: u32) -> Result<NodeId, ErrorKind> {
    NodeId::new(raw).ok_or(ErrorKind::NodeIdOutOfRange { id: raw, limit: MAX_NODES })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;
    use std::vec::Vec;

    fn n(raw: u32) -> NodeId {
        NodeId::new(raw).unwrap()
    }

    fn cells(v: &[u32]) -> Vec<u8> {
        v.iter().flat_map(|c| c.to_be_bytes()).collect()
    }

    #[test]
    fn node_ids_at_or_above_the_limit_do_not_exist() {
        assert!(NodeId::new(MAX_NODES as u32 - 1).is_some());
        assert!(NodeId::new(MAX_NODES as u32).is_none());
        assert_eq!(n(7).index(), 7);
        assert_eq!(n(7).raw(), 7);
        assert_eq!(n(7).to_string(), "7");
    }

    #[test]
    fn node_sets_print_as_numactl_ranges() {
        let mut s = NodeSet::EMPTY;
        assert_eq!(s.to_string(), "");
        for i in [0, 2, 3, 5, 6, 7, 63] {
            s.insert(n(i));
        }
        assert_eq!(s.to_string(), "0,2-3,5-7,63");
        assert_eq!(s.len(), 7);
        assert_eq!(s.iter().map(NodeId::raw).collect::<Vec<_>>(), [0, 2, 3, 5, 6, 7, 63]);
    }

    #[test]
    fn one_direction_implies_the_reverse() {
        let m = DistanceMatrix::parse(&cells(&[0, 1, 30])).unwrap();
        assert_eq!(m.distance(n(0), n(1)), 30);
        assert_eq!(m.distance(n(1), n(0)), 30);
        assert_eq!(m.distance(n(1), n(1)), 10);
    }

    #[test]
    fn an_explicit_reverse_wins_over_the_mirror_in_either_order() {
        for v in [[0, 1, 30, 1, 0, 40], [1, 0, 40, 0, 1, 30]] {
            let m = DistanceMatrix::parse(&cells(&v)).unwrap();
            assert_eq!(m.distance(n(0), n(1)), 30);
            assert_eq!(m.distance(n(1), n(0)), 40);
        }
    }

    #[test]
    fn missing_pairs_default_to_twenty() {
        let m = DistanceMatrix::parse(&cells(&[0, 1, 15])).unwrap();
        assert_eq!(m.given(n(0), n(2)), None);
        assert_eq!(m.distance(n(0), n(2)), REMOTE_DISTANCE);
    }

    #[test]
    fn invalid_matrices_are_named_errors() {
        let err = |v: &[u32]| DistanceMatrix::parse(&cells(v)).err().unwrap();
        assert_eq!(err(&[0, 1]), ErrorKind::MatrixNotTriples { bytes: 8 });
        assert_eq!(err(&[0, 0, 11]), ErrorKind::SelfDistance { node: n(0), distance: 11 });
        assert_eq!(err(&[0, 1, 10]), ErrorKind::DistanceTooSmall { from: n(0), to: n(1), distance: 10 });
        assert_eq!(err(&[0, 1, 256]), ErrorKind::DistanceTooLarge { from: n(0), to: n(1), distance: 256 });
        assert_eq!(err(&[0, 64, 20]), ErrorKind::NodeIdOutOfRange { id: 64, limit: 64 });
        assert_eq!(
            err(&[0, 1, 20, 0, 1, 21]),
            ErrorKind::DistanceConflict { from: n(0), to: n(1), first: 20, second: 21 }
        );
    }

    #[test]
    fn cluster_nodes_are_twenty_apart_in_a_socket_and_thirty_across() {
        let m = DistanceMatrix::of_clusters(&[0, 0, 1]);
        assert_eq!(m.named_nodes().to_string(), "0-2");
        let row = |a| [0, 1, 2].map(|b| m.given(n(a), n(b)));
        assert_eq!(row(0), [Some(10), Some(20), Some(30)]);
        assert_eq!(row(1), [Some(20), Some(10), Some(30)]);
        assert_eq!(row(2), [Some(30), Some(30), Some(10)]);
        assert_eq!(m.given(n(0), n(3)), None);
    }

    #[test]
    fn the_same_entry_twice_is_accepted() {
        assert!(DistanceMatrix::parse(&cells(&[0, 1, 20, 0, 1, 20])).is_ok());
    }
}
