// SPDX-License-Identifier: MIT OR Apache-2.0
//! The access counters, bumped on every guest memory access.
//!
//! The callback runs on the host thread of whichever vCPU made the access (with MTTCG, one host
//! thread per vCPU, all at once), so the counters are atomics. They are kept per vCPU, not per
//! node: each vCPU then writes only its own cache lines, and the vCPU -> node mapping is applied
//! once, when the report is made ([`crate::report`]).
//!
//! ```text
//!   slot (vCPU index; the last slot: every vCPU >= MAX_VCPUS)
//!    └─ target: node 0 .. node 15 | io | unmapped
//!        └─ access: load | store          -> AtomicU64
//! ```

#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering};

use crate::config::{MAX_NODES, MAX_SPANS, MAX_VCPUS, NodeId};

/// Where one access went, as the physical address and QEMU's `is_io` say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// RAM of this node.
    Node(NodeId),
    /// A memory-mapped device.
    Io,
    /// RAM (not IO) at an address no `mem=` range covers.
    Unmapped,
}

/// How many [`Target`]s there are: one per node, then `io`, then `unmapped`.
pub const TARGETS: usize = MAX_NODES + 2;

impl Target {
    /// The target's index in a counter slot, below [`TARGETS`].
    pub fn index(self) -> usize {
        match self {
            Target::Node(node) => node.index(),
            Target::Io => MAX_NODES,
            Target::Unmapped => MAX_NODES + 1,
        }
    }

    /// The target with index `index`, the inverse of [`Target::index`].
    pub fn from_index(index: usize) -> Option<Target> {
        match index {
            MAX_NODES => Some(Target::Io),
            i if i == MAX_NODES + 1 => Some(Target::Unmapped),
            i => NodeId::new(i as u64).map(Target::Node),
        }
    }
}

/// A load or a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A read from memory.
    Load = 0,
    /// A write to memory.
    Store = 1,
}

/// Counter slots: one per vCPU below [`MAX_VCPUS`], and one shared by all vCPUs above.
pub const SLOTS: usize = MAX_VCPUS + 1;

/// One vCPU's counters, on cache lines of their own so that vCPU threads do not contend.
#[repr(align(64))]
struct Slot([[AtomicU64; 2]; TARGETS]);

impl Slot {
    const fn new() -> Slot {
        Slot([const { [const { AtomicU64::new(0) }; 2] }; TARGETS])
    }
}

/// All access counters. `const`-constructible so that the plugin keeps them in a `static`.
pub struct Counters {
    slots: [Slot; SLOTS],
}

impl Default for Counters {
    fn default() -> Self {
        Counters::new()
    }
}

/// A copy of the counters at one moment: `[slot][target][access]`.
pub type Snapshot = [[[u64; 2]; TARGETS]; SLOTS];

impl Counters {
    /// All counters at zero.
    pub const fn new() -> Counters {
        Counters { slots: [const { Slot::new() }; SLOTS] }
    }

    /// Counts one access by `vcpu`. This is the hot path: one uncontended atomic add.
    ///
    /// Relaxed is enough: the counters order nothing, and the report reads them once at exit.
    #[inline]
    pub fn record(&self, vcpu: u32, target: Target, access: Access) {
        let slot = (vcpu as usize).min(MAX_VCPUS);
        self.slots[slot].0[target.index()][access as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters' current values. Other vCPUs may still be counting while this runs (QEMU
    /// calls the exit hook while vCPU threads run on); their in-flight accesses may be missed.
    pub fn snapshot(&self) -> Snapshot {
        let mut out = [[[0; 2]; TARGETS]; SLOTS];
        for (slot, counts) in self.slots.iter().zip(out.iter_mut()) {
            for (target, counts) in slot.0.iter().zip(counts.iter_mut()) {
                for (counter, count) in target.iter().zip(counts.iter_mut()) {
                    *count = counter.load(Ordering::Relaxed);
                }
            }
        }
        out
    }
}

/// User accesses by span of virtual addresses (`config::Span`; the last slot is
/// `other`): `[local, remote]` RAM accesses of vCPUs whose node is known.
pub struct SpanCounters([[AtomicU64; 2]; MAX_SPANS + 1]);

/// A snapshot of [`SpanCounters`].
pub type SpanSnapshot = [[u64; 2]; MAX_SPANS + 1];

impl Default for SpanCounters {
    fn default() -> Self {
        SpanCounters::new()
    }
}

impl SpanCounters {
    /// All zero.
    pub const fn new() -> SpanCounters {
        SpanCounters([const { [const { AtomicU64::new(0) }; 2] }; MAX_SPANS + 1])
    }

    /// Counts one access in span `span` (clamped to `other`), local or remote.
    #[inline]
    pub fn record(&self, span: usize, remote: bool) {
        self.0[span.min(MAX_SPANS)][usize::from(remote)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn snapshot(&self) -> SpanSnapshot {
        let mut out = [[0; 2]; MAX_SPANS + 1];
        for (o, c) in out.iter_mut().zip(&self.0) {
            *o = [c[0].load(Ordering::Relaxed), c[1].load(Ordering::Relaxed)];
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(id: u64) -> NodeId {
        NodeId::new(id).unwrap()
    }

    #[test]
    fn target_index_round_trips() {
        for i in 0..TARGETS {
            assert_eq!(Target::from_index(i).unwrap().index(), i);
        }
        assert_eq!(Target::from_index(TARGETS), None);
        assert_eq!(Target::Node(n(15)).index(), 15);
        assert_eq!(Target::Io.index(), 16);
        assert_eq!(Target::Unmapped.index(), 17);
    }

    #[test]
    fn record_counts_by_vcpu_target_and_access() {
        let c = Counters::new();
        c.record(0, Target::Node(n(0)), Access::Load);
        c.record(0, Target::Node(n(0)), Access::Load);
        c.record(0, Target::Node(n(1)), Access::Store);
        c.record(1, Target::Io, Access::Store);
        c.record(1, Target::Unmapped, Access::Load);
        let s = c.snapshot();
        assert_eq!(s[0][0], [2, 0]);
        assert_eq!(s[0][1], [0, 1]);
        assert_eq!(s[1][Target::Io.index()], [0, 1]);
        assert_eq!(s[1][Target::Unmapped.index()], [1, 0]);
        let total: u64 = s.iter().flatten().flatten().sum();
        assert_eq!(total, 5);
    }

    #[test]
    fn vcpus_beyond_the_table_share_the_last_slot() {
        let c = Counters::new();
        c.record(64, Target::Io, Access::Load);
        c.record(u32::MAX, Target::Io, Access::Load);
        assert_eq!(c.snapshot()[MAX_VCPUS][Target::Io.index()], [2, 0]);
    }

    #[test]
    fn counts_from_many_threads_add_up() {
        let c = Counters::new();
        std::thread::scope(|s| {
            for vcpu in 0..4 {
                let c = &c;
                s.spawn(move || {
                    for _ in 0..10_000 {
                        c.record(vcpu % 2, Target::Node(n(1)), Access::Load);
                    }
                });
            }
        });
        let s = c.snapshot();
        assert_eq!(s[0][1][0] + s[1][1][0], 40_000);
    }

    #[test]
    fn span_counts_keep_local_and_remote_apart_and_clamp_to_other() {
        let c = SpanCounters::new();
        c.record(0, false);
        c.record(0, true);
        c.record(0, true);
        c.record(MAX_SPANS + 7, false);
        let s = c.snapshot();
        assert_eq!(s[0], [1, 2]);
        assert_eq!(s[MAX_SPANS], [1, 0]);
    }
}
