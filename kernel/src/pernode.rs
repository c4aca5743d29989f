// SPDX-License-Identifier: MIT OR Apache-2.0
//! One value per NUMA node, indexed by `NodeId`: the kernel's per-node state.
//!
//! # Why
//! Per-node state (a frame pool per node, a slab list per node, an account per node, a
//! kernel-text replica per node) was an array `[T; MAX_NODES]` in each module, indexed
//! with `node.index()`, or with a bare `usize` that could be a CPU's index as easily as
//! a node's. [`PerNode`] is that array with the index typed: it is indexed only by a
//! [`NodeId`], and iterates as `(NodeId, &T)` pairs. The per-CPU counterpart is
//! `percpu`'s registry.
//!
//! # Invariants
//! Every `NodeId` is below `MAX_NODES` (`platform::NodeId::new` refuses the others), so
//! indexing never fails.
#![forbid(unsafe_code)]

use core::ops::{Index, IndexMut};
use platform::{MAX_NODES, NodeId};

/// A `T` for every possible node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PerNode<T>([T; MAX_NODES]);

impl<T> PerNode<T> {
    /// The values, node 0 first (usable in a `const` or `static`).
    pub const fn new(values: [T; MAX_NODES]) -> PerNode<T> {
        PerNode(values)
    }

    /// Every node's value, with its node, in node order.
    pub fn iter(&self) -> impl Iterator<Item = (NodeId, &T)> {
        self.0.iter().enumerate().filter_map(|(i, v)| Some((NodeId::new(i as u32)?, v)))
    }
}

impl<T: Copy> PerNode<T> {
    /// `value` for every node.
    pub const fn filled(value: T) -> PerNode<T> {
        PerNode([value; MAX_NODES])
    }
}

impl<T: Copy + Default> Default for PerNode<T> {
    fn default() -> PerNode<T> {
        PerNode::filled(T::default())
    }
}

impl<T> Index<NodeId> for PerNode<T> {
    type Output = T;

    #[inline(always)]
    fn index(&self, node: NodeId) -> &T {
        &self.0[node.index()]
    }
}

impl<T> IndexMut<NodeId> for PerNode<T> {
    #[inline(always)]
    fn index_mut(&mut self, node: NodeId) -> &mut T {
        &mut self.0[node.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_has_its_own_value_and_iteration_names_the_node() {
        let mut per: PerNode<u32> = PerNode::default();
        let (a, b) = (NodeId::new(0).unwrap(), NodeId::new(MAX_NODES as u32 - 1).unwrap());
        per[a] = 7;
        per[b] += 3;
        assert_eq!((per[a], per[b]), (7, 3));
        let set: Vec<(u32, u32)> = per.iter().filter(|(_, v)| **v != 0).map(|(n, v)| (n.raw(), *v)).collect();
        assert_eq!(set, [(0, 7), (MAX_NODES as u32 - 1, 3)]);
        assert_eq!(per.iter().count(), MAX_NODES);
    }
}
