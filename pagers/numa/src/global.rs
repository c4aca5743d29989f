// SPDX-License-Identifier: MIT OR Apache-2.0
//! One global page: its entry in the table the per-node pagers share, and the
//! protocol by which they map it lazily and take it away everywhere.
//!
//! # The setting
//! An application runs on several nodes, one address space and one pager per node.
//! A *global* page has one frame, mapped at the same address in every node's space —
//! but only in the spaces whose threads touched it: node k's space gets the mapping
//! when a thread there faults and pager k answers. Pager k finds the frame (or
//! allocates it, by the region's policy) in the **global table**, one [`Entry`] per
//! page, shared by all pagers and guarded by a lock (each step below runs with the
//! entry's lock held; what a pager does with the kernel — a map in a fault reply, an
//! `Unmap` — happens between steps, without the lock).
//!
//! A **global unmap** takes the page away from every node, so its frame can be reused:
//! the initiating pager marks the entry, removes its own mapping, and asks every
//! other node that maps the page (a `Notify` to its pager) to remove its mapping; each
//! does (its kernel `Unmap` invalidates the TLBs of every CPU: `TLBI ... IS`) and
//! acknowledges; when the last acknowledgement is in, the frame is free.
//!
//! # Invariants
//! 1. **No stale translation of a free frame**: when the frame is freed, no node's space
//!    maps it and no CPU's TLB holds a translation to it. So no thread can touch a
//!    frame after it was given back (the property the model check proves).
//! 2. **`mapped` covers every node that maps, or is about to map, the page**: a pager
//!    adds its node in the same locked step in which it finds the frame (before it
//!    maps it), so an unmap that starts later asks that node too. (Reading the entry
//!    without the lock, or adding the node in a later step — the *unlocked re-check*
//!    bug — lets an unmap miss a node that then maps a freed frame.)
//! 3. **While an unmap is in progress no node gains the mapping**: a fault on an
//!    [`Entry::Unmapping`] page is answered [`Fault::Retry`] (no map); the thread
//!    faults again, and finds the page absent (or re-made) once the unmap is done.
//! 4. **The frame is freed once, and only by the last acknowledgement** (or at once when
//!    no other node mapped the page): freeing earlier — *freeing before invalidation* —
//!    leaves other nodes' mappings and TLB entries to a frame that is free.
//! 5. The kernel's `Unmap` of a node's mapping invalidates the translation on **every**
//!    CPU (broadcast); invalidating only the local CPU — *local-only TLB invalidation* —
//!    leaves another CPU of that node reading the freed frame.
//!
//! These follow from each step being atomic under the entry's lock and from the order
//! (mark, unmap, acknowledge, free). `crate::model` checks them by exploring every
//! interleaving of faults, cached translations, evictions, unmaps and
//! acknowledgements on a small machine, for this protocol and for the three broken
//! variants named above, which it must catch.

/// A set of nodes (up to 64), as a bit mask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NodeSet(pub u64);

impl NodeSet {
    /// No node.
    pub const EMPTY: NodeSet = NodeSet(0);

    /// Whether `node` is in the set.
    pub const fn contains(self, node: usize) -> bool {
        self.0 & (1 << node) != 0
    }

    /// The set with `node` added.
    pub const fn with(self, node: usize) -> NodeSet {
        NodeSet(self.0 | 1 << node)
    }

    /// The set with `node` removed.
    pub const fn without(self, node: usize) -> NodeSet {
        NodeSet(self.0 & !(1 << node))
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The nodes in the set, lowest first.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..64).filter(move |&n| self.contains(n))
    }
}

/// A global page's entry in the shared table. `F` names a frame (a physical address
/// in the pagers, a small number in the model).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Entry<F> {
    /// No frame: the next fault allocates one.
    Absent,
    /// The page's frame, and the nodes whose spaces map it (or are about to).
    Present {
        /// The frame.
        frame: F,
        /// Nodes that map it, or found it and are about to map it.
        mapped: NodeSet,
    },
    /// A global unmap (or revoke) is in progress: the nodes still to acknowledge.
    Unmapping {
        /// The frame being taken away.
        frame: F,
        /// Nodes asked to unmap that have not acknowledged yet.
        pending: NodeSet,
        /// A revoke: the page keeps its frame afterwards (unmapped everywhere).
        keep: bool,
    },
}

/// What a pager answers a fault with ([`Entry::fault`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault<F> {
    /// Map this frame (the node was added to the entry's `mapped`).
    Map(F),
    /// Map nothing; the thread will fault again (an unmap is in progress, or no frame
    /// could be had).
    Retry,
}

/// How a global unmap or revoke ended ([`Entry::acknowledge`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Done<F> {
    /// An unmap: the frame is free now (no node maps it, no TLB holds it).
    Free(F),
    /// A revoke: the page keeps the frame, mapped nowhere (free it only after
    /// [`Entry::relocate`] gave it back).
    Kept(F),
}

/// What starting a global unmap asks of the initiator ([`Entry::begin_unmap`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Unmap<F> {
    /// The frame being taken away.
    pub frame: F,
    /// The other nodes to ask (a `Notify` each); each acknowledges with
    /// [`Entry::acknowledge`].
    pub ask: NodeSet,
    /// Whether the initiator itself maps the page (and must `Unmap` it first).
    pub own: bool,
    /// The frame may be freed now, after the initiator's own `Unmap` (nobody else
    /// maps it).
    pub free_now: bool,
}

impl<F: Copy + PartialEq> Entry<F> {
    /// Pager `node` handles a fault on the page (one locked step): finds the frame,
    /// or allocates one with `alloc` (the region's policy), and records the node as
    /// mapping it before it answers.
    pub fn fault(&mut self, node: usize, alloc: impl FnOnce() -> Option<F>) -> Fault<F> {
        match *self {
            Entry::Absent => match alloc() {
                Some(frame) => {
                    *self = Entry::Present { frame, mapped: NodeSet::EMPTY.with(node) };
                    Fault::Map(frame)
                }
                None => Fault::Retry,
            },
            Entry::Present { frame, mapped } => {
                *self = Entry::Present { frame, mapped: mapped.with(node) };
                Fault::Map(frame)
            }
            Entry::Unmapping { .. } => Fault::Retry,
        }
    }

    /// Pager `initiator` starts a global unmap (one locked step): `None` if the page
    /// has no frame or is being unmapped already. After it: the initiator `Unmap`s its
    /// own mapping (if `own`), then notifies every node in `ask`; if `free_now`, it
    /// frees the frame after its own `Unmap`.
    pub fn begin_unmap(&mut self, initiator: usize) -> Option<Unmap<F>> {
        self.begin(initiator, false)
    }

    /// Pager `initiator` starts a global **revoke** (one locked step): the same
    /// protocol as [`Entry::begin_unmap`], but the page keeps its frame: when every
    /// node has acknowledged, the entry is present again with no node mapping it (the
    /// runtime's sampling of who uses the page, and the first half of moving it:
    /// [`Entry::relocate`]). `free_now` is never set.
    pub fn begin_revoke(&mut self, initiator: usize) -> Option<Unmap<F>> {
        self.begin(initiator, true)
    }

    fn begin(&mut self, initiator: usize, keep: bool) -> Option<Unmap<F>> {
        let Entry::Present { frame, mapped } = *self else { return None };
        let ask = mapped.without(initiator);
        *self = match (ask.is_empty(), keep) {
            (true, false) => Entry::Absent,
            (true, true) => Entry::Present { frame, mapped: NodeSet::EMPTY },
            (false, _) => Entry::Unmapping { frame, pending: ask, keep },
        };
        Some(Unmap { frame, ask, own: mapped.contains(initiator), free_now: ask.is_empty() && !keep })
    }

    /// Moves the page to frame `new` (one locked step), if no node maps it (after a
    /// revoke, before any fault maps it again): `copy(old, new)` copies the contents,
    /// and the old frame, returned, may be freed. `None` (and nothing copied) if a
    /// node maps the page, or it is absent or being unmapped.
    pub fn relocate(&mut self, new: F, copy: impl FnOnce(F, F)) -> Option<F> {
        let Entry::Present { frame, mapped } = *self else { return None };
        if !mapped.is_empty() {
            return None;
        }
        copy(frame, new);
        *self = Entry::Present { frame: new, mapped: NodeSet::EMPTY };
        Some(frame)
    }

    /// Node `node` has removed its mapping (its kernel `Unmap` returned) and says so
    /// (one locked step, by whichever pager receives the acknowledgement): when this was
    /// the last node to acknowledge, what became of the frame.
    pub fn acknowledge(&mut self, node: usize) -> Option<Done<F>> {
        let Entry::Unmapping { frame, pending, keep } = *self else { return None };
        if !pending.contains(node) {
            return None;
        }
        let pending = pending.without(node);
        let (next, done) = match (pending.is_empty(), keep) {
            (false, _) => (Entry::Unmapping { frame, pending, keep }, None),
            (true, false) => (Entry::Absent, Some(Done::Free(frame))),
            (true, true) => (Entry::Present { frame, mapped: NodeSet::EMPTY }, Some(Done::Kept(frame))),
        };
        *self = next;
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_fault_allocates_later_faults_share_and_an_unmap_waits_for_every_mapper() {
        let mut e: Entry<u32> = Entry::Absent;
        assert_eq!(e.fault(1, || Some(7)), Fault::Map(7));
        assert_eq!(e.fault(2, || unreachable!("the frame exists")), Fault::Map(7));
        let u = e.begin_unmap(0).unwrap();
        assert_eq!(u, Unmap { frame: 7, ask: NodeSet(0b110), own: false, free_now: false });
        assert_eq!(e.fault(3, || Some(9)), Fault::Retry, "no new mapper during an unmap");
        assert_eq!(e.begin_unmap(0), None, "one unmap at a time");
        assert_eq!(e.acknowledge(2), None);
        assert_eq!(e.acknowledge(2), None, "twice counts once");
        assert_eq!(e.acknowledge(1), Some(Done::Free(7)), "the last acknowledgement frees");
        assert_eq!(e, Entry::Absent);
        assert_eq!(e.fault(3, || Some(9)), Fault::Map(9), "then the page is made again");
    }

    #[test]
    fn a_revoke_keeps_the_frame_and_a_page_nobody_maps_can_move() {
        let mut e: Entry<u32> = Entry::Absent;
        assert_eq!(e.relocate(8, |_, _| unreachable!()), None, "nothing to move");
        e.fault(0, || Some(7));
        e.fault(1, || None);
        assert_eq!(e.relocate(8, |_, _| unreachable!()), None, "mapped: cannot move");
        let u = e.begin_revoke(0).unwrap();
        assert_eq!(u, Unmap { frame: 7, ask: NodeSet(0b10), own: true, free_now: false });
        assert_eq!(e.fault(2, || unreachable!()), Fault::Retry);
        assert_eq!(e.acknowledge(1), Some(Done::Kept(7)), "done: the frame stays");
        assert_eq!(e, Entry::Present { frame: 7, mapped: NodeSet::EMPTY });
        let mut copied = None;
        assert_eq!(e.relocate(8, |old, new| copied = Some((old, new))), Some(7));
        assert_eq!(copied, Some((7, 8)));
        assert_eq!(e.fault(2, || unreachable!()), Fault::Map(8));
        // A revoke nobody else maps completes at once, keeping the frame.
        let u = e.begin_revoke(2).unwrap();
        assert!(u.own && !u.free_now && u.ask.is_empty());
        assert_eq!(e, Entry::Present { frame: 8, mapped: NodeSet::EMPTY });
    }

    #[test]
    fn an_unmap_nobody_else_maps_frees_at_once_and_no_frame_means_retry() {
        let mut e: Entry<u32> = Entry::Absent;
        assert_eq!(e.fault(0, || None), Fault::Retry);
        assert_eq!(e, Entry::Absent);
        assert_eq!(e.fault(0, || Some(4)), Fault::Map(4));
        let u = e.begin_unmap(0).unwrap();
        assert!(u.own && u.free_now && u.ask.is_empty());
        assert_eq!(e, Entry::Absent);
        assert_eq!(e.acknowledge(0), None);
    }
}
