// SPDX-License-Identifier: MIT OR Apache-2.0
//! Which node's memory serves a CPU, and which node owns an address: from the board.
//!
//! The kernel puts a CPU's data on the CPU's own node; a node without memory is served
//! by the nearest node that has some. The frame allocator implements that choice with
//! its own bookkeeping (`mm::frames`); these two functions state it again from the
//! device tree alone, so the boot self-test can check the allocator's answers and the
//! MMU's translations against an independent source.
#![forbid(unsafe_code)]

use platform::{Board, NodeId};

/// The node whose memory serves `node`: itself when it has memory, else the nearest
/// node with memory by (distance, id); `None` when no node has memory.
pub fn memory_node_for(board: &Board, node: NodeId) -> Option<NodeId> {
    board
        .nodes()
        .filter(|&n| board.node_memory_bytes(n) > 0)
        .min_by_key(|&n| (n != node, board.distance(node, n), n))
}

/// The node that owns physical address `pa`, from the board's memory map.
pub fn node_of_pa(board: &Board, pa: u64) -> Option<NodeId> {
    board.memory.iter().find(|m| m.range.contains(pa)).map(|m| m.node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: u32) -> NodeId {
        NodeId::new(id).unwrap()
    }

    #[test]
    fn a_node_with_memory_serves_itself() {
        let blob = include_bytes!("../../../platform/tests/fixtures/virt-4n-asym.dtb");
        let board = Board::from_fdt(blob).unwrap();
        for n in board.nodes() {
            assert_eq!(memory_node_for(&board, n), Some(n));
        }
    }

    #[test]
    fn a_memory_less_node_is_served_by_the_nearest_node_with_memory() {
        let blob = include_bytes!("../../../platform/tests/fixtures/virt-memless.dtb");
        let board = Board::from_fdt(blob).unwrap();
        let memless: Vec<NodeId> = board.nodes().filter(|&n| board.node_memory_bytes(n) == 0).collect();
        assert!(!memless.is_empty(), "the fixture has a memory-less node");
        for n in memless {
            let served = memory_node_for(&board, n).unwrap();
            assert!(board.node_memory_bytes(served) > 0);
            let nearest = board
                .nodes()
                .filter(|&m| board.node_memory_bytes(m) > 0)
                .map(|m| board.distance(n, m))
                .min()
                .unwrap();
            assert_eq!(board.distance(n, served), nearest);
        }
    }

    #[test]
    fn addresses_map_to_the_node_whose_memory_holds_them() {
        let blob = include_bytes!("../../../platform/tests/fixtures/virt-2n2c.dtb");
        let board = Board::from_fdt(blob).unwrap();
        let first = board.memory.iter().find(|m| m.node == node(0)).unwrap().range;
        let second = board.memory.iter().find(|m| m.node == node(1)).unwrap().range;
        assert_eq!(node_of_pa(&board, first.base), Some(node(0)));
        assert_eq!(node_of_pa(&board, first.end() - 1), Some(node(0)));
        assert_eq!(node_of_pa(&board, second.base), Some(node(1)));
        assert_eq!(node_of_pa(&board, 0), None, "below RAM");
        assert_eq!(node_of_pa(&board, second.end()), None, "past RAM");
    }
}
