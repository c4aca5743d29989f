// SPDX-License-Identifier: MIT OR Apache-2.0
//! Errors: why a device tree was refused, and where in it the problem is.
//!
//! A device tree is input the kernel did not write, so a bad one must produce an error
//! that a person can act on: *which node*, *which property*, *what was wrong*. The kind
//! of problem is an enum ([`ErrorKind`]), never a string, so code and tests can match on
//! it; the node path is stored inline (no allocator exists this early) and truncated
//! with `...` if it is absurdly long.
#![forbid(unsafe_code)]

use core::fmt;

use crate::dt_check::DtFault;
use crate::numa::NodeId;

/// Longest node path kept in an error; longer paths end in `...`. Kept short so a
/// `Result<_, BoardError>` stays small (clippy's `result_large_err` limit is 128 bytes).
pub const MAX_PATH_LEN: usize = 64;

/// What was wrong with the device tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The blob is not a well-formed flattened device tree (see [`DtFault`]).
    Blob(DtFault),
    /// A CPU node describes a RISC-V hart (`riscv,isa`, or a `riscv` compatible);
    /// this kernel runs on arm64 only.
    NotArm64,
    /// There is no `/cpus` node, or it has no enabled CPU.
    NoCpus,
    /// A required property is absent.
    MissingProperty,
    /// A property has a length the binding does not allow.
    BadPropertyLength {
        /// Its length in bytes.
        len: usize,
    },
    /// `#address-cells` / `#size-cells` outside what this parser supports (1 or 2 for
    /// addresses, 0..=2 for sizes).
    BadCellCount {
        /// The value found.
        cells: u32,
    },
    /// A CPU `reg` has bits outside the MPIDR affinity fields (`0xff00ffffff`).
    InvalidMpidr {
        /// The value found.
        mpidr: u64,
    },
    /// Two enabled CPUs have the same MPIDR.
    DuplicateMpidr {
        /// The repeated value.
        mpidr: u64,
    },
    /// More enabled CPUs than `MAX_CPUS`.
    TooManyCpus {
        /// The limit.
        limit: usize,
    },
    /// More memory ranges than `MAX_MEMORY_RANGES`.
    TooManyMemoryRanges {
        /// The limit.
        limit: usize,
    },
    /// More reserved ranges than `MAX_RESERVED`.
    TooManyReserved {
        /// The limit.
        limit: usize,
    },
    /// `base + size` does not fit in 64 bits.
    RangeOverflow {
        /// Start of the range.
        base: u64,
        /// Its size.
        size: u64,
    },
    /// A node id `>= MAX_NODES`.
    NodeIdOutOfRange {
        /// The id found.
        id: u32,
        /// `MAX_NODES`.
        limit: usize,
    },
    /// Some CPUs or memory nodes carry `numa-node-id` and this one does not (Linux then
    /// disables NUMA; we refuse to guess).
    MixedNumaNodeId,
    /// Memory ranges of two different nodes overlap.
    MemoryOverlap {
        /// Start of the first range.
        base_a: u64,
        /// Its node.
        node_a: NodeId,
        /// Start of the second range.
        base_b: u64,
        /// Its node.
        node_b: NodeId,
    },
    /// A node's distance to itself is not 10.
    SelfDistance {
        /// The node.
        node: NodeId,
        /// The distance given.
        distance: u32,
    },
    /// A distance between two different nodes is 10 or less.
    DistanceTooSmall {
        /// From.
        from: NodeId,
        /// To.
        to: NodeId,
        /// The distance given.
        distance: u32,
    },
    /// A distance above 255.
    DistanceTooLarge {
        /// From.
        from: NodeId,
        /// To.
        to: NodeId,
        /// The distance given.
        distance: u32,
    },
    /// `distance-matrix` is not a whole number of `(from, to, distance)` triples.
    MatrixNotTriples {
        /// The property length in bytes.
        bytes: usize,
    },
    /// The same `(from, to)` pair appears twice with different distances.
    DistanceConflict {
        /// From.
        from: NodeId,
        /// To.
        to: NodeId,
        /// The first value.
        first: u8,
        /// The second value.
        second: u8,
    },
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ErrorKind::*;
        match *self {
            Blob(fault) => write!(f, "malformed device tree: {fault}"),
            NotArm64 => f.write_str("RISC-V CPU found: this kernel supports arm64 only"),
            NoCpus => f.write_str("no enabled CPU"),
            MissingProperty => f.write_str("required property missing"),
            BadPropertyLength { len } => write!(f, "property has invalid length {len}"),
            BadCellCount { cells } => write!(f, "unsupported cell count {cells}"),
            InvalidMpidr { mpidr } => write!(f, "MPIDR {mpidr:#x} has non-affinity bits set"),
            DuplicateMpidr { mpidr } => write!(f, "MPIDR {mpidr:#x} used by two CPUs"),
            TooManyCpus { limit } => write!(f, "more than {limit} CPUs"),
            TooManyMemoryRanges { limit } => write!(f, "more than {limit} memory ranges"),
            TooManyReserved { limit } => write!(f, "more than {limit} reserved ranges"),
            RangeOverflow { base, size } => {
                write!(f, "range {base:#x} + {size:#x} overflows 64 bits")
            }
            NodeIdOutOfRange { id, limit } => {
                write!(f, "NUMA node id {id} out of range (limit {limit})")
            }
            MixedNumaNodeId => f.write_str("numa-node-id missing here but present on other CPUs or memory"),
            MemoryOverlap { base_a, node_a, base_b, node_b } => write!(
                f,
                "memory at {base_a:#x} (node {node_a}) overlaps memory at {base_b:#x} (node {node_b})"
            ),
            SelfDistance { node, distance } => {
                write!(f, "distance of node {node} to itself is {distance}, not 10")
            }
            DistanceTooSmall { from, to, distance } => {
                write!(f, "distance {from} -> {to} is {distance}, must be above 10")
            }
            DistanceTooLarge { from, to, distance } => {
                write!(f, "distance {from} -> {to} is {distance}, above 255")
            }
            MatrixNotTriples { bytes } => {
                write!(f, "{bytes} bytes is not a whole number of (a, b, distance) triples")
            }
            DistanceConflict { from, to, first, second } => {
                write!(f, "distance {from} -> {to} given as both {first} and {second}")
            }
        }
    }
}

// `NodePath::len` is a `u8`.
const _: () = assert!(MAX_PATH_LEN < 256);

/// A node path stored inline, e.g. `/cpus/cpu@1`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct NodePath {
    bytes: [u8; MAX_PATH_LEN],
    len: u8,
}

impl NodePath {
    /// The empty path (used for problems with the blob as a whole).
    pub const NONE: NodePath = NodePath { bytes: [0; MAX_PATH_LEN], len: 0 };

    /// Appends `/name`, truncating with `...` when the path would not fit.
    pub(crate) fn push(&mut self, name: &str) {
        self.append("/");
        self.append(name);
    }

    fn append(&mut self, s: &str) {
        for &b in s.as_bytes() {
            let len = usize::from(self.len);
            if len == MAX_PATH_LEN {
                self.bytes[MAX_PATH_LEN - 3..].copy_from_slice(b"...");
                return;
            }
            self.bytes[len] = b;
            self.len += 1;
        }
    }

    /// The path as text (`/` for the root, empty for "no particular node").
    pub fn as_str(&self) -> &str {
        // Names are validated UTF-8 and `...` is ASCII, but truncation may cut a
        // multi-byte character: fall back to the longest valid prefix.
        let bytes = &self.bytes[..usize::from(self.len)];
        match core::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => core::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
        }
    }
}

impl fmt::Debug for NodePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A device tree that [`crate::Board::from_fdt`] refused: where, which property, what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoardError {
    kind: ErrorKind,
    node: NodePath,
    property: Option<&'static str>,
}

impl BoardError {
    pub(crate) fn new(kind: ErrorKind, node: NodePath, property: Option<&'static str>) -> Self {
        BoardError { kind, node, property }
    }

    /// What was wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The path of the node at fault (empty when the blob as a whole is at fault).
    pub fn node_path(&self) -> &str {
        self.node.as_str()
    }

    /// The property at fault, if one is.
    pub fn property(&self) -> Option<&'static str> {
        self.property
    }
}

impl From<DtFault> for BoardError {
    fn from(fault: DtFault) -> Self {
        BoardError::new(ErrorKind::Blob(fault), NodePath::NONE, None)
    }
}

impl fmt::Display for BoardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("device tree")?;
        if self.node.len > 0 {
            write!(f, " node {}", self.node.as_str())?;
        }
        if let Some(p) = self.property {
            write!(f, " property {p}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::{String, ToString};

    #[test]
    fn an_error_names_the_node_the_property_and_the_problem() {
        let mut p = NodePath::NONE;
        p.push("cpus");
        p.push("cpu@1");
        let e = BoardError::new(ErrorKind::MissingProperty, p, Some("reg"));
        assert_eq!(e.to_string(), "device tree node /cpus/cpu@1 property reg: required property missing");
        assert_eq!(e.node_path(), "/cpus/cpu@1");
    }

    #[test]
    fn overlong_paths_are_truncated_with_an_ellipsis() {
        let mut p = NodePath::NONE;
        let long: String = core::iter::repeat_n('x', 200).collect();
        p.push(&long);
        assert_eq!(p.as_str().len(), MAX_PATH_LEN);
        assert!(p.as_str().ends_with("..."));
    }
}
