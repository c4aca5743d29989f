// SPDX-License-Identifier: MIT OR Apache-2.0
//! Per-node access information, and a policy that acts on it: move a global page to
//! the node that uses it most.
//!
//! With lazy global mappings a node faults on a page once, then uses its mapping
//! without the pager seeing anything. To learn who *keeps* using a page, the runtime
//! samples: it takes the page away from every node now and then (a global unmap, the
//! protocol of [`crate::global`]) and counts, per node, who faults it back in. Those
//! counts ([`Samples`]) are what [`decide`] weighs: a page is worth moving when another
//! node faulted it back in clearly more often than the node its frame is on, over
//! enough samples. Moving then is: allocate on that node, copy, and switch the entry
//! (again under a global unmap, so no node keeps the old frame). Pure logic, tested.

/// Nodes the counters cover: every node a program can run on.
pub const MAX_SLOTS: usize = crate::plan::MAX_NODES;

/// Re-faults per node over the sampling periods of one page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Samples {
    /// `faults[slot]`: how many periods node `slot` faulted the page back in.
    pub faults: [u32; MAX_SLOTS],
    /// Sampling periods so far.
    pub periods: u32,
}

impl Default for Samples {
    fn default() -> Samples {
        Samples { faults: [0; MAX_SLOTS], periods: 0 }
    }
}

impl Samples {
    /// Records one period: the nodes (slots) that faulted the page back in.
    pub fn record(&mut self, faulted: impl IntoIterator<Item = usize>) {
        for slot in faulted {
            if let Some(f) = self.faults.get_mut(slot) {
                *f = f.saturating_add(1);
            }
        }
        self.periods = self.periods.saturating_add(1);
    }
}

/// When [`decide`] moves a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// Periods before any decision.
    pub min_periods: u32,
    /// The other node must have faulted at least this many times more often than
    /// the home node, in percent (150: one and a half times).
    pub ratio_percent: u32,
}

impl Thresholds {
    /// Four periods; twice as often.
    pub const DEFAULT: Thresholds = Thresholds { min_periods: 4, ratio_percent: 200 };
}

/// The node slot a page whose frame is on slot `home` should move to, if any: the
/// slot with the most re-faults, if it is not `home`, after enough periods, and with
/// clearly more re-faults than `home` (a tie goes to no move).
pub fn decide(home: usize, s: &Samples, t: Thresholds) -> Option<usize> {
    if s.periods < t.min_periods {
        return None;
    }
    let (best, &most) =
        s.faults.iter().enumerate().max_by_key(|&(slot, &f)| (f, core::cmp::Reverse(slot)))?;
    let at_home = s.faults.get(home).copied().unwrap_or(0);
    let clearly = u64::from(most) * 100 >= u64::from(at_home) * u64::from(t.ratio_percent) && most > at_home;
    (best != home && most > 0 && clearly).then_some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(periods: &[&[usize]]) -> Samples {
        let mut s = Samples::default();
        for p in periods {
            s.record(p.iter().copied());
        }
        s
    }

    #[test]
    fn a_page_used_by_another_node_moves_there() {
        let s = samples(&[&[1], &[1], &[0, 1], &[1]]);
        assert_eq!(decide(0, &s, Thresholds::DEFAULT), Some(1));
    }

    #[test]
    fn no_move_too_early_at_home_on_a_tie_or_when_unused() {
        let t = Thresholds::DEFAULT;
        assert_eq!(decide(0, &samples(&[&[1], &[1], &[1]]), t), None, "three periods");
        assert_eq!(decide(1, &samples(&[&[1], &[1], &[1], &[1]]), t), None, "used at home");
        assert_eq!(decide(0, &samples(&[&[0, 1], &[0, 1], &[0, 1], &[0, 1]]), t), None, "shared evenly");
        assert_eq!(decide(0, &samples(&[&[], &[], &[], &[]]), t), None, "nobody came back");
        assert_eq!(decide(0, &samples(&[&[0, 1], &[1], &[0, 1], &[0, 1]]), t), None, "4 vs 3: not twice");
        assert_eq!(decide(0, &samples(&[&[0, 1], &[1], &[0, 1], &[1]]), t), Some(1), "4 vs 2: twice");
        assert_eq!(decide(0, &samples(&[&[0, 1], &[1], &[1], &[1], &[1]]), t), Some(1), "5 vs 1");
    }

    #[test]
    fn ties_between_other_nodes_go_to_the_lower_slot_and_counts_saturate() {
        let s = samples(&[&[2, 3], &[2, 3], &[2, 3], &[2, 3]]);
        assert_eq!(decide(0, &s, Thresholds::DEFAULT), Some(2));
        let mut s = Samples { faults: [u32::MAX; MAX_SLOTS], periods: u32::MAX };
        s.record([0, 9]);
        assert_eq!((s.faults[0], s.periods), (u32::MAX, u32::MAX));
    }
}
