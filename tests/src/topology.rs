// SPDX-License-Identifier: MIT OR Apache-2.0
//! The NUMA topology a test or a demo asks QEMU for, parsed and validated.
//!
//! Every QEMU boot of this project starts from a small spec: a list of nodes, each
//! `cpus=N,mem=SIZE`, and a list of distances `A-B=D`. The same spec drives two independent
//! computations: the QEMU command line (`qemu.rs`) and the `numactl --hardware` block the kernel
//! ought to print for it (`numactl.rs`). Because the expectation is computed from the spec, not
//! from the device tree QEMU generates, a boot test catches mistakes in QEMU option handling,
//! in the device-tree parser and in the kernel's printing alike.
//!
//! Validation happens here, once, with errors that name the offending option, so that nothing
//! downstream has to wonder whether a node index is in range. QEMU's own rules (see
//! `shared/FACTS.md`) are checked here too, because QEMU's messages about them are cryptic.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt;

/// QEMU's `virt` machine with GICv3 stops at 512 CPUs.
pub const MAX_CPUS: u32 = 512;
/// QEMU's `MAX_NODES`.
pub const MAX_NODES: usize = 128;
/// The distance of a node to itself (ACPI SLIT and the device-tree binding agree).
pub const LOCAL_DISTANCE: u8 = 10;
/// The distance between two different nodes when the spec says nothing (Linux's default too).
pub const REMOTE_DISTANCE: u8 = 20;

/// One NUMA node of the spec: how many CPUs it gets and how much memory, in MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeSpec {
    /// Number of CPUs in this node (0 for a CPU-less node).
    pub cpus: u32,
    /// Memory in MiB (0 for a memory-less node).
    pub mem_mib: u64,
}

/// One directed distance `from-to=value` as the user wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DistanceSpec {
    /// Source node.
    pub from: usize,
    /// Destination node.
    pub to: usize,
    /// Relative distance, 10..=255.
    pub value: u8,
}

/// A validated topology: nodes, the full distance matrix, and the CPU grouping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    nodes: Vec<NodeSpec>,
    /// The distances exactly as given (validated), in the order given.
    given: Vec<DistanceSpec>,
    /// `matrix[i][j]`: the distance from node i to node j, defaults filled in.
    matrix: Vec<Vec<u8>>,
    /// `Some(c)`: tell QEMU the CPUs form `c` clusters in one socket.
    clusters: Option<u32>,
}

/// Everything that can be wrong with a spec. Each variant names what was wrong and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecError {
    /// A `--node` argument that is not `cpus=N,mem=SIZE`.
    BadNode {
        /// The text as given.
        text: String,
        /// What is wrong with it.
        why: String,
    },
    /// A size that is not a number with a K/M/G/T suffix, or not whole MiB.
    BadSize {
        /// The text as given.
        text: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A `--dist` argument that is not `A-B=D`.
    BadDistance {
        /// The text as given.
        text: String,
        /// What is wrong with it.
        why: String,
    },
    /// No nodes at all.
    NoNodes,
    /// More nodes than QEMU supports.
    TooManyNodes(usize),
    /// The spec has no CPU at all.
    NoCpus,
    /// More CPUs than QEMU `virt` supports.
    TooManyCpus(u32),
    /// The spec has no memory at all: there is nowhere to load the kernel.
    NoMemory,
    /// A node with neither CPUs nor memory: it would not exist in the device tree.
    EmptyNode(usize),
    /// A distance names a node the spec does not have.
    UnknownNode {
        /// The distance as written.
        dist: String,
        /// The node that does not exist.
        node: usize,
        /// How many nodes there are.
        nodes: usize,
    },
    /// A distance from a node to itself (always 10; not configurable).
    SelfDistance(usize),
    /// A distance outside 10..=255.
    DistanceOutOfRange {
        /// The distance as written.
        dist: String,
        /// The value given.
        value: u64,
    },
    /// The same direction of a pair given twice.
    DuplicateDistance {
        /// Source node.
        from: usize,
        /// Destination node.
        to: usize,
    },
    /// Distances need at least two nodes.
    DistanceWithOneNode,
    /// The cluster count does not divide the CPU count, or is zero.
    BadClusters {
        /// Clusters requested.
        clusters: u32,
        /// Total CPUs.
        cpus: u32,
    },
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecError::BadNode { text, why } => {
                write!(f, "bad --node `{text}`: {why} (expected e.g. cpus=2,mem=512M)")
            }
            SpecError::BadSize { text, why } => {
                write!(f, "bad size `{text}`: {why} (expected e.g. 512M, 1G or 0)")
            }
            SpecError::BadDistance { text, why } => {
                write!(f, "bad --dist `{text}`: {why} (expected e.g. 0-1=20)")
            }
            SpecError::NoNodes => write!(f, "the topology has no nodes"),
            SpecError::TooManyNodes(n) => {
                write!(f, "{n} nodes: QEMU supports at most {MAX_NODES}")
            }
            SpecError::NoCpus => write!(f, "the topology has no CPU at all (total cpus=0)"),
            SpecError::TooManyCpus(n) => {
                write!(f, "{n} CPUs: QEMU virt with GICv3 supports at most {MAX_CPUS}")
            }
            SpecError::NoMemory => {
                write!(f, "the topology has no memory at all (every node has mem=0)")
            }
            SpecError::EmptyNode(k) => {
                write!(f, "node {k} has neither CPUs nor memory, so it would not appear in the device tree")
            }
            SpecError::UnknownNode { dist, node, nodes } => {
                write!(f, "--dist {dist}: unknown node {node} (the nodes are 0..={})", nodes - 1)
            }
            SpecError::SelfDistance(k) => {
                write!(f, "--dist {k}-{k}: the distance of a node to itself is always {LOCAL_DISTANCE}")
            }
            SpecError::DistanceOutOfRange { dist, value } => {
                write!(f, "--dist {dist}: distance {value} is out of range {LOCAL_DISTANCE}..=255")
            }
            SpecError::DuplicateDistance { from, to } => {
                write!(f, "--dist {from}-{to} is given twice")
            }
            SpecError::DistanceWithOneNode => {
                write!(f, "--dist needs at least two nodes")
            }
            SpecError::BadClusters { clusters, cpus } => write!(
                f,
                "{clusters} clusters cannot split {cpus} CPUs evenly (QEMU needs cpus = clusters * cores)"
            ),
        }
    }
}

impl std::error::Error for SpecError {}

/// Parses a memory size: `0`, or a number with a binary suffix `K`, `M`, `G` or `T`
/// (case-insensitive, an optional trailing `B` or `iB` allowed). Returns MiB.
///
/// Whole MiB only: `numactl` prints sizes in MB, and QEMU's NUMA memory wants coarse blocks.
pub fn parse_size_mib(text: &str) -> Result<u64, SpecError> {
    let bad = |why| SpecError::BadSize { text: text.to_string(), why };
    let t = text.trim();
    if t == "0" {
        return Ok(0);
    }
    let upper = t.to_ascii_uppercase();
    let stripped = upper.strip_suffix("IB").or_else(|| upper.strip_suffix('B')).unwrap_or(&upper);
    let (digits, unit) = match stripped.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&stripped[..i], c),
        _ => return Err(bad("no unit: write K, M, G or T after the number")),
    };
    let shift_kib: u32 = match unit {
        'K' => 0,
        'M' => 10,
        'G' => 20,
        'T' => 30,
        _ => return Err(bad("unknown unit: use K, M, G or T")),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("not a whole number"));
    }
    let n: u64 = digits.parse().map_err(|_| bad("number too large"))?;
    let kib = n.checked_mul(1u64 << shift_kib).ok_or_else(|| bad("number too large"))?;
    if kib % 1024 != 0 {
        return Err(bad("not a whole number of MiB"));
    }
    Ok(kib / 1024)
}

/// Parses one node, `cpus=N,mem=SIZE` (either order; both keys required).
pub fn parse_node(text: &str) -> Result<NodeSpec, SpecError> {
    let bad = |why: String| SpecError::BadNode { text: text.to_string(), why };
    let mut cpus = None;
    let mut mem = None;
    for part in text.split(',') {
        let (key, value) = part.split_once('=').ok_or_else(|| bad(format!("`{part}` is not key=value")))?;
        match key.trim() {
            "cpus" => {
                if cpus.is_some() {
                    return Err(bad("cpus given twice".into()));
                }
                let n: u32 =
                    value.trim().parse().map_err(|_| bad(format!("cpus=`{value}` is not a whole number")))?;
                cpus = Some(n);
            }
            "mem" => {
                if mem.is_some() {
                    return Err(bad("mem given twice".into()));
                }
                mem = Some(parse_size_mib(value)?);
            }
            other => return Err(bad(format!("unknown key `{other}` (keys: cpus, mem)"))),
        }
    }
    match (cpus, mem) {
        (Some(cpus), Some(mem_mib)) => Ok(NodeSpec { cpus, mem_mib }),
        (None, _) => Err(bad("cpus= is missing".into())),
        (_, None) => Err(bad("mem= is missing".into())),
    }
}

/// Parses one distance, `A-B=D`. Range checks against the node list happen in
/// [`Topology::new`]; only the value's range is checked here.
pub fn parse_distance(text: &str) -> Result<DistanceSpec, SpecError> {
    let bad = |why: &str| SpecError::BadDistance { text: text.to_string(), why: why.to_string() };
    let (pair, value) = text.split_once('=').ok_or_else(|| bad("no `=`"))?;
    let (a, b) = pair.split_once('-').ok_or_else(|| bad("no `-` between the nodes"))?;
    let node = |s: &str| -> Result<usize, SpecError> {
        s.trim().parse().map_err(|_| bad(&format!("node `{s}` is not a whole number")))
    };
    let (from, to) = (node(a)?, node(b)?);
    let v: u64 =
        value.trim().parse().map_err(|_| bad(&format!("distance `{value}` is not a whole number")))?;
    if from == to {
        return Err(SpecError::SelfDistance(from));
    }
    let value = match u8::try_from(v) {
        Ok(d) if d >= LOCAL_DISTANCE => d,
        _ => {
            return Err(SpecError::DistanceOutOfRange { dist: text.to_string(), value: v });
        }
    };
    Ok(DistanceSpec { from, to, value })
}

impl Topology {
    /// Validates nodes and distances and fills in the distance matrix: a direction not given
    /// takes the reverse direction's value if that was given, else [`REMOTE_DISTANCE`].
    pub fn new(
        nodes: Vec<NodeSpec>,
        distances: Vec<DistanceSpec>,
        clusters: Option<u32>,
    ) -> Result<Topology, SpecError> {
        if nodes.is_empty() {
            return Err(SpecError::NoNodes);
        }
        if nodes.len() > MAX_NODES {
            return Err(SpecError::TooManyNodes(nodes.len()));
        }
        let total_cpus: u64 = nodes.iter().map(|n| u64::from(n.cpus)).sum();
        if total_cpus == 0 {
            return Err(SpecError::NoCpus);
        }
        let total_cpus = u32::try_from(total_cpus)
            .ok()
            .filter(|&n| n <= MAX_CPUS)
            .ok_or(SpecError::TooManyCpus(total_cpus.min(u64::from(u32::MAX)) as u32))?;
        if nodes.iter().all(|n| n.mem_mib == 0) {
            return Err(SpecError::NoMemory);
        }
        if let Some(k) = nodes.iter().position(|n| n.cpus == 0 && n.mem_mib == 0) {
            return Err(SpecError::EmptyNode(k));
        }
        if nodes.len() == 1 && !distances.is_empty() {
            return Err(SpecError::DistanceWithOneNode);
        }
        if let Some(c) = clusters
            && (c == 0 || total_cpus % c != 0)
        {
            return Err(SpecError::BadClusters { clusters: c, cpus: total_cpus });
        }

        let n = nodes.len();
        let mut directed: BTreeMap<(usize, usize), u8> = BTreeMap::new();
        for d in &distances {
            for node in [d.from, d.to] {
                if node >= n {
                    return Err(SpecError::UnknownNode {
                        dist: format!("{}-{}={}", d.from, d.to, d.value),
                        node,
                        nodes: n,
                    });
                }
            }
            if d.from == d.to {
                return Err(SpecError::SelfDistance(d.from));
            }
            if directed.insert((d.from, d.to), d.value).is_some() {
                return Err(SpecError::DuplicateDistance { from: d.from, to: d.to });
            }
        }
        let matrix = (0..n)
            .map(|i| {
                (0..n)
                    .map(|j| {
                        if i == j {
                            LOCAL_DISTANCE
                        } else {
                            directed
                                .get(&(i, j))
                                .or_else(|| directed.get(&(j, i)))
                                .copied()
                                .unwrap_or(REMOTE_DISTANCE)
                        }
                    })
                    .collect()
            })
            .collect();
        Ok(Topology { nodes, given: distances, matrix, clusters })
    }

    /// Parses `--node` and `--dist` texts, then validates them (see [`Topology::new`]).
    pub fn parse(
        nodes: &[impl AsRef<str>],
        distances: &[impl AsRef<str>],
        clusters: Option<u32>,
    ) -> Result<Topology, SpecError> {
        let nodes = nodes.iter().map(|s| parse_node(s.as_ref())).collect::<Result<Vec<_>, _>>()?;
        let distances =
            distances.iter().map(|s| parse_distance(s.as_ref())).collect::<Result<Vec<_>, _>>()?;
        Topology::new(nodes, distances, clusters)
    }

    /// The demo `scripts/run` boots by default: two nodes of two CPUs and 512 MiB, distance 20.
    pub fn demo() -> Topology {
        Topology::parse(&["cpus=2,mem=512M", "cpus=2,mem=512M"], &["0-1=20"], None)
            .expect("the demo topology is valid")
    }

    /// The nodes, in node-id order.
    pub fn nodes(&self) -> &[NodeSpec] {
        &self.nodes
    }

    /// The distances exactly as given.
    pub fn given_distances(&self) -> &[DistanceSpec] {
        &self.given
    }

    /// The distance from node `from` to node `to`, defaults filled in.
    pub fn distance(&self, from: usize, to: usize) -> u8 {
        self.matrix[from][to]
    }

    /// True when some pair has different distances in its two directions.
    pub fn is_asymmetric(&self) -> bool {
        let n = self.nodes.len();
        (0..n).any(|i| (0..n).any(|j| self.matrix[i][j] != self.matrix[j][i]))
    }

    /// Total number of CPUs.
    pub fn total_cpus(&self) -> u32 {
        self.nodes.iter().map(|n| n.cpus).sum()
    }

    /// Total memory in MiB (what QEMU's `-m` must say).
    pub fn total_mem_mib(&self) -> u64 {
        self.nodes.iter().map(|n| n.mem_mib).sum()
    }

    /// The cluster count, if the spec groups CPUs into clusters.
    pub fn clusters(&self) -> Option<u32> {
        self.clusters
    }

    /// The CPU ids of node `k`: QEMU numbers CPUs consecutively in node order when each node
    /// is given `cpus=A-B` the way `qemu.rs` does.
    pub fn cpu_range(&self, k: usize) -> std::ops::Range<u32> {
        let first: u32 = self.nodes[..k].iter().map(|n| n.cpus).sum();
        first..first + self.nodes[k].cpus
    }

    /// True when QEMU should be told about NUMA at all: a single node is a plain machine.
    pub fn is_numa(&self) -> bool {
        self.nodes.len() > 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo(nodes: &[&str], dists: &[&str]) -> Result<Topology, SpecError> {
        Topology::parse(nodes, dists, None)
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size_mib("512M"), Ok(512));
        assert_eq!(parse_size_mib("1G"), Ok(1024));
        assert_eq!(parse_size_mib("1g"), Ok(1024));
        assert_eq!(parse_size_mib("2GiB"), Ok(2048));
        assert_eq!(parse_size_mib("1024K"), Ok(1));
        assert_eq!(parse_size_mib("1T"), Ok(1024 * 1024));
        assert_eq!(parse_size_mib("0"), Ok(0));
        assert_eq!(parse_size_mib("0M"), Ok(0));
    }

    #[test]
    fn sizes_without_unit_or_whole_mib_are_rejected() {
        assert!(matches!(parse_size_mib("512"), Err(SpecError::BadSize { .. })));
        assert!(matches!(parse_size_mib("1536K"), Err(SpecError::BadSize { .. })));
        assert!(matches!(parse_size_mib("M"), Err(SpecError::BadSize { .. })));
        assert!(matches!(parse_size_mib("1.5G"), Err(SpecError::BadSize { .. })));
        assert!(matches!(parse_size_mib("5Q"), Err(SpecError::BadSize { .. })));
        assert!(matches!(parse_size_mib("99999999999999999999G"), Err(SpecError::BadSize { .. })));
    }

    #[test]
    fn nodes_parse_in_either_order() {
        assert_eq!(parse_node("cpus=2,mem=512M"), Ok(NodeSpec { cpus: 2, mem_mib: 512 }));
        assert_eq!(parse_node("mem=0,cpus=1"), Ok(NodeSpec { cpus: 1, mem_mib: 0 }));
    }

    #[test]
    fn nodes_with_missing_or_unknown_keys_are_rejected() {
        for bad in ["cpus=2", "mem=1G", "cpus=2,mem=1G,foo=1", "cpus=x,mem=1G", "cpus", ""] {
            assert!(parse_node(bad).is_err(), "{bad} should be rejected");
        }
        let msg = parse_node("cpus=2,mem=1G,foo=1").unwrap_err().to_string();
        assert!(msg.contains("unknown key `foo`"), "{msg}");
    }

    #[test]
    fn distances_parse_and_check_their_range() {
        assert_eq!(parse_distance("0-1=15"), Ok(DistanceSpec { from: 0, to: 1, value: 15 }));
        assert_eq!(parse_distance("2-3=255").unwrap().value, 255);
        assert!(matches!(parse_distance("0-1=9"), Err(SpecError::DistanceOutOfRange { value: 9, .. })));
        assert!(matches!(parse_distance("0-1=256"), Err(SpecError::DistanceOutOfRange { value: 256, .. })));
        assert_eq!(parse_distance("1-1=10"), Err(SpecError::SelfDistance(1)));
        assert!(matches!(parse_distance("01=20"), Err(SpecError::BadDistance { .. })));
        assert!(matches!(parse_distance("0-1"), Err(SpecError::BadDistance { .. })));
    }

    #[test]
    fn the_reverse_direction_defaults_to_the_given_one() {
        let t = topo(&["cpus=1,mem=1G"; 3], &["0-1=15", "2-1=30"]).unwrap();
        assert_eq!(t.distance(0, 1), 15);
        assert_eq!(t.distance(1, 0), 15);
        assert_eq!(t.distance(1, 2), 30);
        assert_eq!(t.distance(0, 2), REMOTE_DISTANCE);
        assert_eq!(t.distance(2, 2), LOCAL_DISTANCE);
        assert!(!t.is_asymmetric());
    }

    #[test]
    fn asymmetric_pairs_are_detected() {
        let t = topo(&["cpus=1,mem=1G"; 2], &["0-1=15", "1-0=25"]).unwrap();
        assert_eq!(t.distance(0, 1), 15);
        assert_eq!(t.distance(1, 0), 25);
        assert!(t.is_asymmetric());
    }

    #[test]
    fn invalid_topologies_name_the_problem() {
        assert_eq!(topo(&[] as &[&str], &[]), Err(SpecError::NoNodes));
        assert_eq!(topo(&["cpus=0,mem=1G"], &[]), Err(SpecError::NoCpus));
        assert_eq!(topo(&["cpus=1,mem=0"], &[]), Err(SpecError::NoMemory));
        assert_eq!(topo(&["cpus=1,mem=1G", "cpus=0,mem=0"], &[]), Err(SpecError::EmptyNode(1)));
        assert_eq!(topo(&["cpus=513,mem=1G"], &[]), Err(SpecError::TooManyCpus(513)));
        assert_eq!(topo(&["cpus=1,mem=1G"], &["0-1=20"]), Err(SpecError::DistanceWithOneNode));
        let unknown = topo(&["cpus=1,mem=1G"; 2], &["0-2=20"]).unwrap_err();
        assert!(matches!(unknown, SpecError::UnknownNode { node: 2, nodes: 2, .. }));
        assert!(unknown.to_string().contains("unknown node 2"), "{unknown}");
        assert_eq!(
            topo(&["cpus=1,mem=1G"; 2], &["0-1=20", "0-1=30"]),
            Err(SpecError::DuplicateDistance { from: 0, to: 1 })
        );
        assert_eq!(
            Topology::parse(&["cpus=3,mem=1G"], &[] as &[&str], Some(2)),
            Err(SpecError::BadClusters { clusters: 2, cpus: 3 })
        );
    }

    #[test]
    fn cpus_are_numbered_consecutively_node_by_node() {
        let t = topo(&["cpus=2,mem=1G", "cpus=0,mem=1G", "cpus=3,mem=0"], &[]).unwrap();
        assert_eq!(t.cpu_range(0), 0..2);
        assert_eq!(t.cpu_range(1), 2..2);
        assert_eq!(t.cpu_range(2), 2..5);
        assert_eq!(t.total_cpus(), 5);
        assert_eq!(t.total_mem_mib(), 2048);
    }

    #[test]
    fn the_demo_is_two_nodes_of_two_cpus() {
        let t = Topology::demo();
        assert_eq!(t.nodes().len(), 2);
        assert_eq!(t.total_cpus(), 4);
        assert_eq!(t.total_mem_mib(), 1024);
        assert_eq!(t.distance(0, 1), 20);
    }
}
