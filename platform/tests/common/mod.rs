// SPDX-License-Identifier: MIT OR Apache-2.0
//! What the platform's integration tests share: the mutation tests' random numbers and
//! their "use everything a caller might touch" walk over a parsed board (the device-tree
//! and the ACPI mutation tests run the same walk), and a node id from a number.
#![allow(dead_code, reason = "each test crate uses a part of this module")]

use platform::{Board, NodeId};

/// Marsaglia's xorshift64: tiny, deterministic, good enough to choose bytes.
pub struct XorShift(pub u64);

impl XorShift {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Uses everything a caller might touch on a parsed board: the numactl block, every
/// node's memory, CPUs and distances, the warnings, the clusters, and the board
/// reshaped with `numa=clusters` (printed again, or its error printed).
pub fn exercise_board(mut b: Board<'_>) {
    let _ = b.numactl().to_string();
    for n in b.nodes() {
        let _ = b.node_memory_bytes(n);
        let _ = b.node_cpus(n).count();
        for m in b.nodes() {
            let _ = b.distance(n, m);
        }
    }
    for w in b.warnings.iter() {
        let _ = w.to_string();
    }
    let _ = b.cluster_of(0);
    match b.numa_from_clusters() {
        Ok(_) => {
            let _ = b.numactl().to_string();
            for w in b.warnings.iter() {
                let _ = w.to_string();
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// Node `raw`, which the test knows is valid.
pub fn node(raw: u32) -> NodeId {
    NodeId::new(raw).expect("a node number the test knows is valid")
}
