// SPDX-License-Identifier: MIT OR Apache-2.0
//! Address spaces with a home node: the paper's one change to the kernel.
//!
//! A space is a lower-half translation-table tree with an ASID. Its **home node** is
//! the node of the CPU that created it, and everything the kernel allocates on the
//! space's behalf comes from that node's memory: its translation tables, the MDB
//! entries of its mappings, the control blocks and UTCBs of its threads. Only when the
//! home node is exhausted does an allocation fall back to the nearest node, and every
//! such fallback is counted here, per space, so the `report: kmem` line can show where
//! a space's kernel metadata really lives.
//!
//! A space also carries a kernel-memory quota (bytes), so no user can exhaust a node's
//! kernel memory for others: an allocation over quota fails with `OutOfMemory` and
//! nothing is changed.
#![forbid(unsafe_code)]

use core::fmt;
use platform::NodeId;

/// Most address spaces at once.
pub const MAX_SPACES: usize = 256;

/// What kind of kernel object an allocation was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kmem {
    /// A translation table.
    Table,
    /// A mapping-database entry.
    Mdb,
    /// A thread control block or UTCB.
    Tcb,
}

/// Objects of one kind: how many, and how many on the home node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// Objects on the space's home node.
    pub on_home: u32,
    /// All objects.
    pub total: u32,
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.on_home, self.total)
    }
}

/// One address space.
#[derive(Debug)]
pub struct Space {
    /// Index in the space table (the `space=` of reports).
    pub index: u16,
    /// Physical address of the root translation table (on the home node).
    pub root: u64,
    /// Address-space identifier.
    pub asid: u16,
    /// The node the space's kernel memory comes from.
    pub home: NodeId,
    /// Privileged: may use ThreadControl, SpaceControl, MemoryControl, InterruptControl.
    pub privileged: bool,
    /// The group (a program's spaces share one; 0: none): within it an unprivileged
    /// thread may move threads between spaces and notify (`abi::syscall::SpaceControlFlags`).
    pub group: u16,
    /// Live threads in the space.
    pub threads: u32,
    /// Kernel memory charged to the space, and its limit (bytes; u64::MAX = none).
    pub charged: u64,
    /// The quota.
    pub quota: u64,
    /// Where its tables, MDB entries and TCBs are.
    pub tables: Placement,
    /// MDB entries.
    pub mdb: Placement,
    /// TCBs and UTCBs.
    pub tcbs: Placement,
    /// Allocations that fell back to another node.
    pub fallbacks: u32,
}

/// Why a charge was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverQuota;

impl Space {
    /// A new space homed on `home`, with its root table at `root`.
    pub fn new(index: u16, root: u64, asid: u16, home: NodeId, quota: u64) -> Space {
        Space {
            index,
            root,
            asid,
            home,
            privileged: false,
            group: 0,
            threads: 0,
            charged: 0,
            quota,
            tables: Placement::default(),
            mdb: Placement::default(),
            tcbs: Placement::default(),
            fallbacks: 0,
        }
    }

    /// Checks that `bytes` more fit in the quota, without charging.
    pub fn can_charge(&self, bytes: u64) -> Result<(), OverQuota> {
        match self.charged.checked_add(bytes) {
            Some(total) if total <= self.quota => Ok(()),
            _ => Err(OverQuota),
        }
    }

    /// Records one object of `kind` (`bytes` long) allocated on `node` for this space.
    pub fn record(&mut self, kind: Kmem, node: NodeId, bytes: u64) -> Result<(), OverQuota> {
        self.can_charge(bytes)?;
        self.charged += bytes;
        let home = node == self.home;
        let placement = match kind {
            Kmem::Table => &mut self.tables,
            Kmem::Mdb => &mut self.mdb,
            Kmem::Tcb => &mut self.tcbs,
        };
        placement.total += 1;
        if home {
            placement.on_home += 1;
        } else {
            self.fallbacks += 1;
        }
        Ok(())
    }

    /// Undoes [`Space::record`] for an object freed.
    pub fn release(&mut self, kind: Kmem, node: NodeId, bytes: u64) {
        self.charged = self.charged.saturating_sub(bytes);
        let placement = match kind {
            Kmem::Table => &mut self.tables,
            Kmem::Mdb => &mut self.mdb,
            Kmem::Tcb => &mut self.tcbs,
        };
        placement.total = placement.total.saturating_sub(1);
        if node == self.home {
            placement.on_home = placement.on_home.saturating_sub(1);
        }
    }

    /// The `report: kmem` line's fields.
    pub fn kmem_report(&self) -> report::Line<'_, 6> {
        report::line!("kmem",
            "space" => self.index,
            "home" => self.home,
            "tables" => self.tables,
            "mdb" => self.mdb,
            "tcbs" => self.tcbs,
            "fallbacks" => self.fallbacks,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(n: u32) -> NodeId {
        NodeId::new(n).unwrap()
    }

    #[test]
    fn objects_on_the_home_node_and_fallbacks_are_counted_apart() {
        let mut s = Space::new(3, 0x1000, 7, node(1), u64::MAX);
        s.record(Kmem::Table, node(1), 4096).unwrap();
        s.record(Kmem::Table, node(0), 4096).unwrap();
        s.record(Kmem::Tcb, node(1), 4096).unwrap();
        s.record(Kmem::Mdb, node(1), 64).unwrap();
        assert_eq!(
            s.kmem_report().to_string(),
            "report: kmem space=3 home=1 tables=1/2 mdb=1/1 tcbs=1/1 fallbacks=1"
        );
        s.release(Kmem::Table, node(0), 4096);
        assert_eq!(s.tables, Placement { on_home: 1, total: 1 });
        assert_eq!(s.charged, 4096 + 4096 + 64);
    }

    #[test]
    fn a_charge_over_quota_is_refused_and_changes_nothing() {
        let mut s = Space::new(1, 0x1000, 1, node(0), 8192);
        s.record(Kmem::Table, node(0), 4096).unwrap();
        s.record(Kmem::Table, node(0), 4096).unwrap();
        assert_eq!(s.record(Kmem::Tcb, node(0), 1), Err(OverQuota));
        assert_eq!(s.charged, 8192);
        assert_eq!(s.tcbs, Placement::default());
        assert_eq!(s.can_charge(u64::MAX), Err(OverQuota), "no overflow");
    }
}
