// SPDX-License-Identifier: MIT OR Apache-2.0
//! PPTT: sockets, clusters, cores and threads.
//!
//! The Processor Properties Topology Table is ACPI's `cpu-map`: a tree of processor
//! hierarchy nodes, each naming its parent by byte offset in the table. Leaves are
//! the CPUs (their ACPI processor ID is the GICC's UID); the levels above are
//! clusters, packages (sockets, marked by a flag) and whatever else the firmware
//! describes. This module places a leaf in the same [`crate::CpuTopology`] terms the
//! device-tree path uses for `cpu-map`:
//!
//! - *thread*: when the leaf is flagged "processor is a thread", its index among its
//!   parent's children (in table order), and the parent is the core; otherwise
//!   `None`, and the leaf is the core.
//! - *core*: the core node's index among its parent's children (as `coreN` is local
//!   to its cluster).
//! - *cluster*: the core's parent (a cluster, or the package itself on tables without
//!   a cluster level, which is what QEMU's device tree calls `cluster0`); cores
//!   without a parent share one cluster. Clusters are numbered board-wide in table
//!   order, as the device-tree path numbers leaf clusters in blob order.
//! - *socket*: the nearest node at or above the core with the "physical package" flag
//!   (else the topmost ancestor), numbered in table order.
//!
//! ```text
//! PPTT: header | 36 structures...
//! Processor hierarchy node (type 0, 20 + 4 N bytes): 4 Flags u32   8 Parent u32
//!   12 ACPI Processor ID u32   16 Number of Private Resources u32 (N)   20 u32[N]
//!   Flags: bit 0 Physical package, bit 1 ACPI processor ID valid, bit 2 Processor
//!   is a thread (rev 2), bit 3 Node is a leaf (rev 2), bit 4 Identical implementation.
//! ```
//!
//! A node is a leaf when it says so or when no node names it as parent (revision 1
//! tables have no leaf flag). Non-leaf nodes may carry valid processor-container IDs,
//! which are not CPU UIDs, so only leaves are matched with GICCs.
//!
//! # References
//!
//! - ACPI 6.5, 5.2.30 (PPTT), 5.2.30.1 (Processor hierarchy node structure).
#![forbid(unsafe_code)]

use crate::acpi::error::{AcpiError, AcpiErrorKind, AcpiWarning, Signature};
use crate::acpi::table::{HEADER_LEN, Structure, Table};

/// Oldest PPTT revision read (ACPI 6.2).
pub(crate) const MIN_REVISION: u8 = 1;
/// Newest PPTT revision known (ACPI 6.4-6.5).
pub(crate) const NEWEST_REVISION: u8 = 3;
/// Most levels from a leaf to its root (a longer chain is taken for a loop).
pub const MAX_PPTT_DEPTH: usize = 16;

const PROCESSOR: u8 = 0;
const PROCESSOR_LEN: usize = 20;
const PHYSICAL_PACKAGE: u32 = 1 << 0;
const ID_VALID: u32 = 1 << 1;
const IS_THREAD: u32 = 1 << 2;
const IS_LEAF: u32 = 1 << 3;

/// A processor hierarchy node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Node {
    pub offset: u32,
    pub flags: u32,
    pub parent: u32,
    pub id: u32,
}

impl Node {
    /// The ACPI processor ID, when the flag says it is valid.
    pub fn processor_id(&self) -> Option<u32> {
        (self.flags & ID_VALID != 0).then_some(self.id)
    }
}

/// Where a leaf sits: the keys (table offsets, 0 for "no node") of its socket and
/// cluster, which the caller ranks board-wide, and its core and thread numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Place {
    pub socket_key: u32,
    pub cluster_key: u32,
    pub core: u16,
    pub thread: Option<u16>,
}

/// A processor hierarchy node from its structure, checked for length (20 bytes plus
/// 4 per private resource).
fn decode(s: Structure<'_>) -> Result<Node, AcpiError> {
    let private = s.u32(16).unwrap_or(u32::MAX) as usize;
    let need = private.checked_mul(4).and_then(|n| n.checked_add(PROCESSOR_LEN)).unwrap_or(usize::MAX);
    s.need(Signature::PPTT, PROCESSOR_LEN.max(need))?;
    Ok(Node {
        offset: s.offset as u32,
        flags: s.u32(4).unwrap_or(0),
        parent: s.u32(8).unwrap_or(0),
        id: s.u32(12).unwrap_or(0),
    })
}

/// A PPTT whose revision and structures have been checked.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pptt<'m>(Table<'m>);

impl<'m> Pptt<'m> {
    /// Checks the revision and every structure's length (so the walks below cannot
    /// meet a malformed one).
    pub fn new(table: Table<'m>, warn: &mut dyn FnMut(AcpiWarning)) -> Result<Pptt<'m>, AcpiError> {
        table.check_revision(MIN_REVISION, NEWEST_REVISION, warn)?;
        let pptt = Pptt(table);
        for node in pptt.checked_nodes() {
            node?;
        }
        Ok(pptt)
    }

    fn checked_nodes(&self) -> impl Iterator<Item = Result<Node, AcpiError>> + 'm {
        self.0.structures(HEADER_LEN).filter_map(|s| match s {
            Ok(s) if s.kind == PROCESSOR => Some(decode(s)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
    }

    /// Every processor hierarchy node, in table order.
    pub fn nodes(&self) -> impl Iterator<Item = Node> + 'm {
        self.checked_nodes().filter_map(Result::ok)
    }

    /// `(offset, parent)` of every processor node: the cheap walk for the searches
    /// below (the structures were checked by [`Pptt::new`]).
    fn links(&self) -> impl Iterator<Item = (u32, u32)> + 'm {
        self.0.structures(HEADER_LEN).filter_map(|s| {
            let s = s.ok().filter(|s| s.kind == PROCESSOR)?;
            Some((s.offset as u32, s.u32(8)?))
        })
    }

    /// True when `node` is a CPU: flagged as a leaf, or nobody's parent.
    pub fn is_leaf(&self, node: &Node) -> bool {
        node.flags & IS_LEAF != 0 || !self.links().any(|(_, parent)| parent == node.offset)
    }

    /// The node at `offset` (a parent pointer), which must be a processor node:
    /// type 0, long enough for its private resources, inside the table. Read in
    /// place, not searched for, so placing a CPU costs one read per level.
    fn node_at(&self, offset: u32) -> Result<Node, AcpiError> {
        let bad = AcpiError::new(Signature::PPTT, AcpiErrorKind::PpttBadParent { parent: offset });
        let at = offset as usize;
        let length = usize::from(self.0.u8(at + 1).ok_or(bad)?);
        let bytes = self.0.bytes.get(at..at.checked_add(length).ok_or(bad)?).ok_or(bad)?;
        let s = Structure { offset: at, kind: self.0.u8(at).ok_or(bad)?, bytes };
        if at < HEADER_LEN || s.kind != PROCESSOR {
            return Err(bad);
        }
        decode(s).map_err(|_| bad)
    }

    /// `node`'s index among the nodes with the same parent, in table order.
    fn child_index(&self, node: &Node) -> u16 {
        let before = self
            .links()
            .take_while(|&(offset, _)| offset < node.offset)
            .filter(|&(_, parent)| parent == node.parent)
            .count();
        u16::try_from(before).unwrap_or(u16::MAX)
    }

    /// Places the leaf `leaf` (see the module docs).
    pub fn place(&self, leaf: Node) -> Result<Place, AcpiError> {
        // chain[0] = leaf, chain[k + 1] = parent of chain[k].
        let mut chain = [Node::default(); MAX_PPTT_DEPTH];
        chain[0] = leaf;
        let mut len = 1;
        while chain[len - 1].parent != 0 {
            if len == MAX_PPTT_DEPTH {
                return Err(AcpiError::new(Signature::PPTT, AcpiErrorKind::PpttTooDeep));
            }
            chain[len] = self.node_at(chain[len - 1].parent)?;
            len += 1;
        }
        let chain = &chain[..len];
        let (core_at, thread) = match chain {
            [leaf, _, ..] if leaf.flags & IS_THREAD != 0 => (1, Some(self.child_index(leaf))),
            _ => (0, None),
        };
        let core = chain[core_at];
        let above = &chain[core_at..];
        let cluster_key = above.get(1).map_or(0, |n| n.offset);
        let socket_key = match above.iter().find(|n| n.flags & PHYSICAL_PACKAGE != 0) {
            Some(package) => package.offset,
            None if above.len() > 1 => above[above.len() - 1].offset,
            None => 0,
        };
        Ok(Place { socket_key, cluster_key, core: self.child_index(&core), thread })
    }
}
