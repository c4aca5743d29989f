// SPDX-License-Identifier: MIT OR Apache-2.0
//! The mapping database: who mapped which frame to whom, so that unmap can revoke it.
//!
//! In L4, memory management is done by user-level pagers: a space that holds a page
//! can *map* it to another space (both then hold it), *grant* it (it moves), and
//! *unmap* it, which takes it away not only from the spaces it mapped it to but from
//! every space those passed it on to. To make that recursive revocation possible the
//! kernel records, for every frame handed to user level, the tree of mappings derived
//! from it: the mapping database (MDB). The root of a tree is the mapping the kernel
//! gave to the first owner (sigma0, the root task); every `map` adds a child.
//!
//! This module is the MDB's logic, with no memory management and no `unsafe`: entries
//! live in a [`MdbStore`] and are named by [`EntryId`] handles, never by pointers. The
//! kernel's store puts each entry in a slab ([`crate::slab`]) on the home node of the
//! space that holds the mapping; the tests' store is a `Vec`.
//!
//! # Design
//!
//! - **A tree per frame, linked in the entries.** Each entry has a parent, a first
//!   child and two sibling links, so linking, unlinking and walking a subtree need no
//!   memory besides the entries: no recursion, no stack, no heap. Every walk is
//!   iterative (pre-order for rights reduction, post-order for removal), so a deep
//!   chain of mappings cannot overflow the kernel stack.
//!
//!   ```text
//!    frame pa ──root──> sigma0:va0 rwx
//!                         ├── A:va1 rw-            map(sigma0:va0 -> A:va1, rw)
//!                         │    ├── B:va2 r--       map(A:va1 -> B:va2, r)
//!                         │    └── C:va3 rw-
//!                         └── D:va4 r-x
//!   ```
//!
//! - **Two indices, which the kernel provides.** The MDB needs `(space, va) -> entry`
//!   (to find the entry of the page a pager names in `map`, `grant` or `unmap`) and
//!   `frame -> root entry` (so a frame is handed to user level once, and can be
//!   revoked as a whole). In the kernel the first is a shadow slot next to each
//!   page-table entry of the space (the page tables already give `va -> pa`; the
//!   shadow gives `va -> entry`, as in L4Ka::Pistachio), and the second a per-frame
//!   slot in the frame table. The MDB only reads and writes them through
//!   [`MdbStore`]; the kernel allocates the translation tables (and so the shadow
//!   slots) of a target page *before* calling `map` or `grant`, so updating an index
//!   never allocates and never fails.
//! - **Rights.** Every entry has read, write, execute rights ([`Rights`]); a child's
//!   are a subset of its parent's. `map` and `grant` may give fewer rights than the
//!   source has, never more ([`MdbError::RightsNotSubset`]).
//! - **Occupied targets (L4 X.2 semantics).** Mapping or granting onto a page of the
//!   target space that already holds a mapping first unmaps the old one, with
//!   everything derived from it, and reports it. One exception, also X.2's: when the
//!   old mapping is a child of the very source being mapped, it is kept and its rights
//!   are *extended* to include the new ones (a pager re-sending a page with more
//!   rights). When the target holds the source itself, or an ancestor of it, the
//!   operation is refused ([`MdbError::TargetHoldsSource`]): unmapping the old
//!   mapping would revoke the source before it is mapped.
//! - **Unmap with a rights mask (X.2).** [`Mdb::unmap`] removes the rights in `mask`
//!   from every mapping derived from an entry (and from the entry itself, for a
//!   "flush"); a mapping left without rights is removed with its subtree. Removing
//!   every right is a plain recursive unmap. Because children's rights are subsets, a
//!   mapping the mask does not touch has no descendant the mask touches, so the walk
//!   skips such subtrees.
//! - **Grant moves the entry.** The granted entry is re-created in a slot of the
//!   receiving space (on that space's home node), takes the old entry's place in the
//!   tree and keeps its subtree; the old slot is reported as removed.
//! - **Everything the page tables must forget is reported.** Every operation takes a
//!   callback that receives a [`Revoked`] for each `(space, va)` whose mapping was
//!   removed or lost rights, so the kernel can clear or downgrade the page-table
//!   entry and collect TLB shootdowns. What is *added* (the new mapping of `map`,
//!   `grant` and `insert_root`) the caller knows and installs itself.
//! - **Check, allocate, then change.** Every operation validates its arguments, then
//!   allocates the one entry it needs (the only step that can fail for lack of
//!   memory or quota), and only then changes anything: an error leaves the database
//!   as it was. (The new entry is allocated before an old mapping at the target is
//!   freed, so a replacement needs room for one more entry.)
//! - **Page sizes.** An entry records the size of its page (`size_log2`); every
//!   mapping of a tree has the size of its root. Only 4 KiB pages ([`PAGE_SHIFT`]) are
//!   accepted today ([`MdbError::UnsupportedSize`]). Larger pages need the `(space,
//!   va)` index to reject overlaps of different sizes, and `map` of part of a large
//!   page to create smaller children; the entry format already has room for both.
//!
//! # Invariants
//! [`Mdb::check_invariants`] checks them all; the tests call it after every step.
//! - Every entry has some rights; its `va` and `pa` are aligned to its page size.
//! - Every non-root entry's parent exists, maps the same frame with the same size,
//!   and has a superset of its rights. (So a tree never holds rights its root lacks.)
//! - The child links agree with the parent links: an entry is in its parent's child
//!   list exactly once, and the sibling links are consistent both ways.
//! - No two entries of one space map the same va: the index maps `(space, va)` to the
//!   one entry that holds it. A root is the index's entry for its frame.
//! - No cycles: every entry reaches a root.
//! - Unmapping an entry leaves none of its descendants; a grant keeps the subtree.
//!
//! # References
//! L4 eXperimental Kernel Reference Manual, Version X.2, sections "Mapping" (map, grant,
//! unmap, flush, the mapping database) and "Unmap" (rights masks); Liedtke, "On
//! µ-Kernel Construction" (SOSP 1995), recursive address spaces; Kupferschmied,
//! Stoess, Bellosa (MDB entries on the home node of the space).
#![forbid(unsafe_code)]

use core::fmt;
use core::num::NonZeroU64;

use platform::NodeId;

/// log2 of the page size every mapping has today (4 KiB).
pub const PAGE_SHIFT: u8 = 12;

/// An address space, as the MDB knows it: an opaque number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpaceId(u32);

impl SpaceId {
    /// The space with number `raw`.
    pub const fn new(raw: u32) -> SpaceId {
        SpaceId(raw)
    }

    /// Its number.
    pub const fn raw(self) -> u32 {
        self.0
    }
}

/// A handle of an entry in a [`MdbStore`]: what it means (an index, an address) is
/// the store's business. Never zero, so `Option<EntryId>` costs nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryId(NonZeroU64);

impl EntryId {
    /// The handle `raw`; `None` for 0.
    pub const fn new(raw: u64) -> Option<EntryId> {
        match NonZeroU64::new(raw) {
            Some(raw) => Some(EntryId(raw)),
            None => None,
        }
    }

    /// The handle's value.
    pub const fn raw(self) -> u64 {
        self.0.get()
    }
}

/// Access rights of a mapping: read, write, execute.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Rights(u8);

impl Rights {
    /// No rights.
    pub const NONE: Rights = Rights(0);
    /// Read.
    pub const READ: Rights = Rights(0b001);
    /// Write.
    pub const WRITE: Rights = Rights(0b010);
    /// Execute.
    pub const EXEC: Rights = Rights(0b100);
    /// Read, write and execute.
    pub const ALL: Rights = Rights(0b111);

    /// The rights with these bits (bit 0 read, 1 write, 2 execute); `None` when other
    /// bits are set.
    pub const fn from_bits(bits: u8) -> Option<Rights> {
        if bits & !Rights::ALL.0 == 0 { Some(Rights(bits)) } else { None }
    }

    /// The bits (as [`Rights::from_bits`] takes them).
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// True when there are none.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when `self` includes every right of `other`.
    pub const fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }

    /// The rights of either.
    pub const fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }

    /// `self` without the rights of `other`.
    pub const fn without(self, other: Rights) -> Rights {
        Rights(self.0 & !other.0)
    }
}

impl fmt::Debug for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flag = |right: Rights, c: char| if self.contains(right) { c } else { '-' };
        write!(f, "{}{}{}", flag(Rights::READ, 'r'), flag(Rights::WRITE, 'w'), flag(Rights::EXEC, 'x'))
    }
}

/// One mapping: a page of a space, the frame behind it, its rights, and its place in
/// the tree of its frame. About 56 bytes, for a slab of 63 per frame.
///
/// The links are private: only the MDB changes them. A store moves entries around
/// whole and records where it placed them ([`Entry::set_node`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    va: u64,
    pa: u64,
    space: SpaceId,
    size_log2: u8,
    rights: Rights,
    node: NodeId,
    /// (Roots only) the frame is memory the kernel handed out from a node's pool: when
    /// this root goes, the frame goes back ([`Revoked::freed`]).
    owned: bool,
    parent: Option<EntryId>,
    first_child: Option<EntryId>,
    prev: Option<EntryId>,
    next: Option<EntryId>,
}

impl Entry {
    fn new(space: SpaceId, va: u64, pa: u64, size_log2: u8, rights: Rights) -> Entry {
        Entry {
            va,
            pa,
            space,
            size_log2,
            rights,
            node: NodeId::ZERO,
            owned: false,
            parent: None,
            first_child: None,
            prev: None,
            next: None,
        }
    }

    /// The space that holds the mapping.
    pub fn space(&self) -> SpaceId {
        self.space
    }

    /// The virtual address of the page.
    pub fn va(&self) -> u64 {
        self.va
    }

    /// The physical address of the frame.
    pub fn pa(&self) -> u64 {
        self.pa
    }

    /// log2 of the page size.
    pub fn size_log2(&self) -> u8 {
        self.size_log2
    }

    /// The access rights.
    pub fn rights(&self) -> Rights {
        self.rights
    }

    /// The node whose memory holds this entry (set by the store).
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// Records the node the store placed the entry on.
    pub fn set_node(&mut self, node: NodeId) {
        self.node = node;
    }

    /// The entry this one was mapped from; `None` for a root.
    pub fn parent(&self) -> Option<EntryId> {
        self.parent
    }

    /// Whether this is the root of a frame the kernel handed out from a node's pool
    /// ([`Mdb::own`]), which goes back when the root is removed.
    pub fn owned(&self) -> bool {
        self.owned && self.parent.is_none()
    }
}

/// A mapping the page tables must forget or downgrade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Revoked {
    /// The space that held it.
    pub space: SpaceId,
    /// Its virtual address.
    pub va: u64,
    /// log2 of its page size.
    pub size_log2: u8,
    /// The frame it mapped.
    pub pa: u64,
    /// The rights it keeps: [`Rights::NONE`] when the mapping is gone.
    pub rights: Rights,
    /// The mapping was the root of an owned frame ([`Mdb::own`]) and
    /// is gone: no mapping of the frame is left (its descendants were reported
    /// first), so the caller gives the frame back to its node's pool once the page
    /// tables and TLBs have forgotten this last one.
    pub freed: bool,
}

impl Revoked {
    /// True when the mapping is gone (rather than downgraded).
    pub fn removed(&self) -> bool {
        self.rights.is_empty()
    }
}

/// Why an MDB operation was refused. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MdbError {
    /// A mapping needs at least one right.
    NoRights,
    /// `map` or `grant` asked for rights the source does not have.
    RightsNotSubset {
        /// The source's rights.
        have: Rights,
        /// The rights asked for.
        asked: Rights,
    },
    /// An address not aligned to the page size.
    Misaligned {
        /// The address.
        addr: u64,
    },
    /// A page size this MDB does not support (yet).
    UnsupportedSize {
        /// log2 of the size asked for.
        size_log2: u8,
    },
    /// `insert_root` onto a page the space already has a mapping at.
    Occupied {
        /// The space.
        space: SpaceId,
        /// The page.
        va: u64,
    },
    /// `insert_root` of a frame that already has a root.
    FrameAlreadyRooted {
        /// The frame.
        pa: u64,
    },
    /// The target page holds the source of the `map` or `grant`, or a mapping it is
    /// derived from: replacing it would revoke the source.
    TargetHoldsSource {
        /// The target space.
        space: SpaceId,
        /// The target page.
        va: u64,
    },
    /// The store has no memory for another entry.
    NoMemory,
    /// The space's kernel-memory quota does not allow another entry.
    QuotaExceeded,
}

impl fmt::Display for MdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            MdbError::NoRights => f.write_str("a mapping needs at least one right"),
            MdbError::RightsNotSubset { have, asked } => {
                write!(f, "rights {asked:?} are not a subset of the source's {have:?}")
            }
            MdbError::Misaligned { addr } => write!(f, "{addr:#x} is not page aligned"),
            MdbError::UnsupportedSize { size_log2 } => write!(f, "pages of 2^{size_log2} bytes unsupported"),
            MdbError::Occupied { space, va } => write!(f, "space {} already maps {va:#x}", space.raw()),
            MdbError::FrameAlreadyRooted { pa } => write!(f, "frame {pa:#x} is handed out already"),
            MdbError::TargetHoldsSource { space, va } => {
                write!(f, "space {} at {va:#x} holds the source of the mapping", space.raw())
            }
            MdbError::NoMemory => f.write_str("no memory for a mapping entry"),
            MdbError::QuotaExceeded => f.write_str("kernel memory quota exceeded"),
        }
    }
}

/// A broken invariant found by [`Mdb::check_invariants`] (a kernel bug, never a user
/// error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// The entry has no rights.
    NoRights(EntryId),
    /// Its va or pa is not aligned to its page size.
    Misaligned(EntryId),
    /// The `(space, va)` index does not lead to this entry (or two entries share it).
    NotIndexed(EntryId),
    /// A root that is not the frame index's root of its frame.
    RootNotIndexed(EntryId),
    /// A link (parent, child, sibling) names an entry that is not live.
    DeadLink(EntryId),
    /// Its rights are not a subset of its parent's.
    RightsExceedParent(EntryId),
    /// It maps another frame or page size than its parent.
    FrameDiffersFromParent(EntryId),
    /// The child and sibling links disagree with the parent links.
    BrokenChildList(EntryId),
    /// Following parents from here never reaches a root.
    Cycle(EntryId),
}

/// Where the MDB keeps its entries and its two indices.
///
/// The kernel implements it with slabs on each space's home node, the page tables'
/// shadow slots (`(space, va) -> entry`) and the frame table (`frame -> root`); the
/// tests with a `Vec` and two `BTreeMap`s. Handing the MDB an [`EntryId`] that is not
/// live is a kernel bug: a store may panic on it.
pub trait MdbStore {
    /// Stores `entry` on the home node of `entry.space()` (recording the node with
    /// [`Entry::set_node`]) and charges it to that space. Fails with
    /// [`MdbError::NoMemory`] or [`MdbError::QuotaExceeded`], having stored nothing.
    fn alloc(&mut self, entry: Entry) -> Result<EntryId, MdbError>;
    /// Frees a live entry (and credits its space).
    fn free(&mut self, id: EntryId);
    /// A live entry.
    fn get(&self, id: EntryId) -> &Entry;
    /// A live entry, to change.
    fn get_mut(&mut self, id: EntryId) -> &mut Entry;

    /// The entry of `space`'s page at `va`.
    fn lookup(&self, space: SpaceId, va: u64) -> Option<EntryId>;
    /// Sets or clears the entry of `space`'s page at `va`. Never fails: the kernel
    /// prepares the slot (its translation tables) before it maps or grants there.
    fn set_lookup(&mut self, space: SpaceId, va: u64, id: Option<EntryId>);
    /// The mapping of `space` with the lowest va in `[from, end)`.
    fn next_in_space(&self, space: SpaceId, from: u64, end: u64) -> Option<(u64, EntryId)>;

    /// The root entry of the frame at `pa`.
    fn root_of(&self, pa: u64) -> Option<EntryId>;
    /// Sets or clears the root entry of the frame at `pa`.
    fn set_root(&mut self, pa: u64, id: Option<EntryId>);
}

/// The mapping database over a store.
#[derive(Debug)]
pub struct Mdb<S> {
    store: S,
}

impl<S: MdbStore> Mdb<S> {
    /// An MDB over `store` (which holds no entries yet).
    pub const fn new(store: S) -> Mdb<S> {
        Mdb { store }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, to change what the MDB does not own (its quotas, say).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// A live entry.
    pub fn entry(&self, id: EntryId) -> &Entry {
        self.store.get(id)
    }

    /// The entry of `space`'s page at `va`.
    pub fn lookup(&self, space: SpaceId, va: u64) -> Option<EntryId> {
        self.store.lookup(space, va)
    }

    /// The entries mapped from `id`, most recent first.
    pub fn children(&self, id: EntryId) -> impl Iterator<Item = EntryId> + '_ {
        core::iter::successors(self.store.get(id).first_child, |&c| self.store.get(c).next)
    }

    /// Makes the root `id` (from [`Mdb::insert_root`]) own its frame: when the root is
    /// removed (an unmap that includes it, or the space's deletion) the removal is
    /// reported with [`Revoked::freed`] and the frame goes back to the pool it came
    /// from. Memory a space asked for (`MemoryControl`) is owned; the initrd and the
    /// device tree, which the kernel lends, are not. Not for a mapped-from entry (a
    /// frame has one owner, its root): returns false and changes nothing.
    pub fn own(&mut self, id: EntryId) -> bool {
        let e = self.store.get_mut(id);
        if e.parent.is_some() {
            return false;
        }
        e.owned = true;
        true
    }

    /// Hands the frame at `pa` to `space` at `va`: the root of the frame's tree (the
    /// kernel giving memory to sigma0 or the root task).
    pub fn insert_root(
        &mut self,
        space: SpaceId,
        va: u64,
        pa: u64,
        size_log2: u8,
        rights: Rights,
    ) -> Result<EntryId, MdbError> {
        if rights.is_empty() {
            return Err(MdbError::NoRights);
        }
        if size_log2 != PAGE_SHIFT {
            return Err(MdbError::UnsupportedSize { size_log2 });
        }
        aligned(va, size_log2)?;
        aligned(pa, size_log2)?;
        if self.store.lookup(space, va).is_some() {
            return Err(MdbError::Occupied { space, va });
        }
        if self.store.root_of(pa).is_some() {
            return Err(MdbError::FrameAlreadyRooted { pa });
        }
        let id = self.store.alloc(Entry::new(space, va, pa, size_log2, rights))?;
        self.store.set_root(pa, Some(id));
        self.store.set_lookup(space, va, Some(id));
        Ok(id)
    }

    /// Maps the page of `parent` into `to_space` at `to_va` with `rights` (a subset of
    /// the parent's): a new child of `parent`, returned.
    ///
    /// A mapping already at the target is unmapped first, recursively, and reported
    /// to `revoked`; unless it is a child of `parent`, whose rights are then extended
    /// and which is returned (X.2). See the module docs for the target that holds the
    /// source.
    pub fn map(
        &mut self,
        parent: EntryId,
        to_space: SpaceId,
        to_va: u64,
        rights: Rights,
        mut revoked: impl FnMut(Revoked),
    ) -> Result<EntryId, MdbError> {
        let p = self.store.get(parent);
        let (pa, size_log2) = (p.pa, p.size_log2);
        check_rights(p.rights, rights)?;
        aligned(to_va, size_log2)?;
        let old = self.target(parent, to_space, to_va)?;
        if let Some(old) = old.filter(|&old| self.store.get(old).parent == Some(parent)) {
            let e = self.store.get_mut(old);
            e.rights = e.rights.union(rights);
            return Ok(old);
        }
        let mut entry = Entry::new(to_space, to_va, pa, size_log2, rights);
        entry.parent = Some(parent);
        let id = self.store.alloc(entry)?;
        if let Some(old) = old {
            self.remove_subtree(old, &mut revoked);
        }
        self.link_child(parent, id);
        self.store.set_lookup(to_space, to_va, Some(id));
        Ok(id)
    }

    /// [`Mdb::map`] onto a target the caller has found vacant (`to_space` holds
    /// nothing at `to_va`): the same new child, without looking the target up again
    /// (the IPC fast path has walked the receiver's tables already). Nothing can be
    /// replaced, so nothing is revoked.
    pub fn map_vacant(
        &mut self,
        parent: EntryId,
        to_space: SpaceId,
        to_va: u64,
        rights: Rights,
    ) -> Result<EntryId, MdbError> {
        debug_assert!(
            self.store.lookup(to_space, to_va).is_none(),
            "invariant: the caller checked the target"
        );
        let p = self.store.get(parent);
        let (pa, size_log2) = (p.pa, p.size_log2);
        check_rights(p.rights, rights)?;
        aligned(to_va, size_log2)?;
        let mut entry = Entry::new(to_space, to_va, pa, size_log2, rights);
        entry.parent = Some(parent);
        let id = self.store.alloc(entry)?;
        self.link_child(parent, id);
        self.store.set_lookup(to_space, to_va, Some(id));
        Ok(id)
    }

    /// Moves `entry` to `to_space` at `to_va`, with `rights` (a subset of its own),
    /// keeping everything mapped from it; returns the entry's new handle.
    ///
    /// The old page is reported to `revoked` as removed; a mapping already at the
    /// target is unmapped first, recursively, and reported; when `rights` are fewer
    /// than the entry had, the rights taken away are also taken from everything
    /// derived from it (as [`Mdb::unmap`] would), and reported.
    pub fn grant(
        &mut self,
        entry: EntryId,
        to_space: SpaceId,
        to_va: u64,
        rights: Rights,
        mut revoked: impl FnMut(Revoked),
    ) -> Result<EntryId, MdbError> {
        let e = self.store.get(entry).clone();
        check_rights(e.rights, rights)?;
        aligned(to_va, e.size_log2)?;
        let old = self.target(entry, to_space, to_va)?;
        let mut moved = Entry::new(to_space, to_va, e.pa, e.size_log2, rights);
        moved.parent = e.parent;
        // A granted root keeps owning its frame: the memory moves with it.
        moved.owned = e.owned;
        let id = self.store.alloc(moved)?;
        if let Some(old) = old {
            // Neither `entry` nor an ancestor (checked by `target`): `entry` survives.
            self.remove_subtree(old, &mut revoked);
        }
        self.reduce_descendants(entry, e.rights.without(rights), &mut revoked);

        // Re-read: removing `old` or reducing may have changed the links.
        let e = self.store.get(entry).clone();
        let m = self.store.get_mut(id);
        (m.first_child, m.prev, m.next) = (e.first_child, e.prev, e.next);
        match (e.prev, e.parent) {
            (Some(prev), _) => self.store.get_mut(prev).next = Some(id),
            (None, Some(parent)) => self.store.get_mut(parent).first_child = Some(id),
            (None, None) => self.store.set_root(e.pa, Some(id)),
        }
        if let Some(next) = e.next {
            self.store.get_mut(next).prev = Some(id);
        }
        let mut child = e.first_child;
        while let Some(c) = child {
            let c = self.store.get_mut(c);
            c.parent = Some(id);
            child = c.next;
        }
        self.store.set_lookup(e.space, e.va, None);
        self.store.set_lookup(to_space, to_va, Some(id));
        self.store.free(entry);
        revoked(Revoked { rights: Rights::NONE, ..report(&e) });
        Ok(id)
    }

    /// Takes the rights in `mask` from every mapping derived from `entry`, and from
    /// `entry` itself if `include_self` (an X.2 "flush"); a mapping left without
    /// rights is removed with everything derived from it. Every mapping removed or
    /// downgraded is reported to `revoked`. [`Rights::ALL`] unmaps recursively.
    pub fn unmap(
        &mut self,
        entry: EntryId,
        mask: Rights,
        include_self: bool,
        mut revoked: impl FnMut(Revoked),
    ) {
        if include_self {
            let e = self.store.get(entry);
            let rights = e.rights.without(mask);
            if rights.is_empty() {
                self.remove_subtree(entry, &mut revoked);
                return;
            }
            if rights != e.rights {
                let e = self.store.get_mut(entry);
                e.rights = rights;
                revoked(report(e));
            }
        }
        self.reduce_descendants(entry, mask, &mut revoked);
    }

    /// Unmaps everything `space` holds, and everything derived from it in any space
    /// (the space is being deleted).
    pub fn delete_space(&mut self, space: SpaceId, mut revoked: impl FnMut(Revoked)) {
        let mut from = 0;
        while let Some(next) = self.delete_space_from(space, (from, u64::MAX), &mut revoked) {
            from = next;
        }
    }

    /// One step of [`Mdb::delete_space`]: unmaps `space`'s first mapping in
    /// `[from, end)` (and everything derived from it); where the next step starts, or
    /// `None` when `space` holds nothing there. (A long deletion stops between two
    /// steps: `l4::restart`.)
    pub fn delete_space_from(
        &mut self,
        space: SpaceId,
        (from, end): (u64, u64),
        mut revoked: impl FnMut(Revoked),
    ) -> Option<u64> {
        let (va, id) = self.store.next_in_space(space, from, end)?;
        self.remove_subtree(id, &mut revoked);
        // The entry at `va` is gone, so a step from `va` again finds the next one.
        Some(va)
    }

    /// Checks every invariant of the module docs over the live entries `all` (every
    /// one of them, each once); the first violation found. Costs `O(n^2)`: for tests
    /// and debugging.
    pub fn check_invariants(&self, all: &[EntryId]) -> Result<(), Violation> {
        let live = |id: &EntryId| all.contains(id);
        for &id in all {
            let e = self.store.get(id);
            if e.rights.is_empty() {
                return Err(Violation::NoRights(id));
            }
            if aligned(e.va, e.size_log2).and(aligned(e.pa, e.size_log2)).is_err() {
                return Err(Violation::Misaligned(id));
            }
            if self.store.lookup(e.space, e.va) != Some(id) {
                return Err(Violation::NotIndexed(id));
            }
            let links = [e.parent, e.first_child, e.prev, e.next];
            if !links.iter().flatten().all(live) {
                return Err(Violation::DeadLink(id));
            }
            match e.parent {
                None if self.store.root_of(e.pa) != Some(id) || e.prev.is_some() || e.next.is_some() => {
                    return Err(Violation::RootNotIndexed(id));
                }
                None => {}
                Some(p) => {
                    let p = self.store.get(p);
                    if !p.rights.contains(e.rights) {
                        return Err(Violation::RightsExceedParent(id));
                    }
                    if (p.pa, p.size_log2) != (e.pa, e.size_log2) {
                        return Err(Violation::FrameDiffersFromParent(id));
                    }
                }
            }
            // The child list: bounded (no loop), each child points back, prev links agree.
            let mut prev = None;
            let mut child = e.first_child;
            let mut steps = 0;
            while let Some(c) = child {
                let ce = self.store.get(c);
                steps += 1;
                if steps > all.len() || ce.parent != Some(id) || ce.prev != prev {
                    return Err(Violation::BrokenChildList(id));
                }
                prev = child;
                child = ce.next;
            }
            // In the parent's child list: reachable from its first child.
            if let Some(p) = e.parent
                && !self.children(p).take(all.len()).any(|c| c == id)
            {
                return Err(Violation::BrokenChildList(id));
            }
            let mut up = e.parent;
            for _ in 0..all.len() {
                match up {
                    Some(p) => up = self.store.get(p).parent,
                    None => break,
                }
            }
            if up.is_some() {
                return Err(Violation::Cycle(id));
            }
        }
        Ok(())
    }

    /// The mapping at the target of a `map` or `grant` of `source`, if any, after
    /// checking that replacing it would not revoke `source`.
    fn target(&self, source: EntryId, space: SpaceId, va: u64) -> Result<Option<EntryId>, MdbError> {
        let Some(old) = self.store.lookup(space, va) else { return Ok(None) };
        let mut up = Some(source);
        while let Some(e) = up {
            if e == old {
                return Err(MdbError::TargetHoldsSource { space, va });
            }
            up = self.store.get(e).parent;
        }
        Ok(Some(old))
    }

    /// Takes `mask` from every strict descendant of `top`, removing those left
    /// without rights (with their subtrees). Pre-order, iterative.
    fn reduce_descendants(&mut self, top: EntryId, mask: Rights, revoked: &mut impl FnMut(Revoked)) {
        if mask.is_empty() {
            return;
        }
        let mut cursor = self.store.get(top).first_child;
        while let Some(id) = cursor {
            let e = self.store.get(id);
            let rights = e.rights.without(mask);
            if rights == e.rights {
                // Untouched, and so is everything below: children's rights are subsets.
                cursor = self.after_subtree(id, top);
            } else if rights.is_empty() {
                cursor = self.after_subtree(id, top);
                self.remove_subtree(id, revoked);
            } else {
                let e = self.store.get_mut(id);
                e.rights = rights;
                revoked(report(e));
                cursor = e.first_child.or_else(|| self.after_subtree(id, top));
            }
        }
    }

    /// The next entry in pre-order after the subtree of `id`, within the subtree of
    /// `top` (a strict ancestor of `id`).
    fn after_subtree(&self, mut id: EntryId, top: EntryId) -> Option<EntryId> {
        while id != top {
            let e = self.store.get(id);
            if e.next.is_some() {
                return e.next;
            }
            id = e.parent.expect("a strict descendant of `top` has a parent");
        }
        None
    }

    /// Removes `root` and everything derived from it, reporting each. Post-order,
    /// iterative: descend to a leaf, remove it, go back to its parent.
    fn remove_subtree(&mut self, root: EntryId, revoked: &mut impl FnMut(Revoked)) {
        let mut id = root;
        loop {
            while let Some(child) = self.store.get(id).first_child {
                id = child;
            }
            let e = self.store.get(id).clone();
            self.unlink(id, &e);
            if e.parent.is_none() {
                self.store.set_root(e.pa, None);
            }
            self.store.set_lookup(e.space, e.va, None);
            self.store.free(id);
            let freed = e.owned && e.parent.is_none();
            revoked(Revoked { rights: Rights::NONE, freed, ..report(&e) });
            if id == root {
                return;
            }
            id = e.parent.expect("a strict descendant of `root` has a parent");
        }
    }

    /// Takes `id` (whose current contents are `e`) out of its parent's child list.
    fn unlink(&mut self, id: EntryId, e: &Entry) {
        match (e.prev, e.parent) {
            (Some(prev), _) => self.store.get_mut(prev).next = e.next,
            (None, Some(parent)) => self.store.get_mut(parent).first_child = e.next,
            (None, None) => {}
        }
        if let Some(next) = e.next {
            self.store.get_mut(next).prev = e.prev;
        }
        let e = self.store.get_mut(id);
        (e.parent, e.prev, e.next) = (None, None, None);
    }

    /// Makes `id` the first child of `parent`.
    fn link_child(&mut self, parent: EntryId, id: EntryId) {
        let next = self.store.get(parent).first_child;
        if let Some(next) = next {
            self.store.get_mut(next).prev = Some(id);
        }
        self.store.get_mut(parent).first_child = Some(id);
        let e = self.store.get_mut(id);
        (e.parent, e.prev, e.next) = (Some(parent), None, next);
    }
}

/// The report for an entry as it is now.
fn report(e: &Entry) -> Revoked {
    Revoked { space: e.space, va: e.va, size_log2: e.size_log2, pa: e.pa, rights: e.rights, freed: false }
}

fn check_rights(have: Rights, asked: Rights) -> Result<(), MdbError> {
    if asked.is_empty() {
        return Err(MdbError::NoRights);
    }
    if !have.contains(asked) {
        return Err(MdbError::RightsNotSubset { have, asked });
    }
    Ok(())
}

fn aligned(addr: u64, size_log2: u8) -> Result<(), MdbError> {
    if addr.trailing_zeros() >= u32::from(size_log2) { Ok(()) } else { Err(MdbError::Misaligned { addr }) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    const P: u64 = 1 << PAGE_SHIFT;
    const RW: Rights = Rights(0b011);
    const R: Rights = Rights::READ;

    /// Entries in a `Vec` (handles are index + 1, never reused, so a stale handle
    /// panics instead of aliasing), the indices in `BTreeMap`s; each space's home node
    /// is `space % 4`; optionally a limit on live entries.
    #[derive(Default)]
    struct VecStore {
        slots: Vec<Option<Entry>>,
        index: BTreeMap<(SpaceId, u64), EntryId>,
        roots: BTreeMap<u64, EntryId>,
        live: usize,
        limit: Option<usize>,
    }

    fn home(space: SpaceId) -> NodeId {
        NodeId::new(space.raw() % 4).unwrap()
    }

    impl VecStore {
        fn ids(&self) -> Vec<EntryId> {
            let live = self.slots.iter().enumerate().filter(|(_, e)| e.is_some());
            live.map(|(i, _)| EntryId::new(i as u64 + 1).unwrap()).collect()
        }
    }

    impl MdbStore for VecStore {
        fn alloc(&mut self, mut entry: Entry) -> Result<EntryId, MdbError> {
            if self.limit.is_some_and(|limit| self.live >= limit) {
                return Err(MdbError::NoMemory);
            }
            entry.set_node(home(entry.space()));
            self.slots.push(Some(entry));
            self.live += 1;
            Ok(EntryId::new(self.slots.len() as u64).unwrap())
        }
        fn free(&mut self, id: EntryId) {
            self.slots[id.raw() as usize - 1].take().expect("double free");
            self.live -= 1;
        }
        fn get(&self, id: EntryId) -> &Entry {
            self.slots[id.raw() as usize - 1].as_ref().expect("stale entry id")
        }
        fn get_mut(&mut self, id: EntryId) -> &mut Entry {
            self.slots[id.raw() as usize - 1].as_mut().expect("stale entry id")
        }
        fn lookup(&self, space: SpaceId, va: u64) -> Option<EntryId> {
            self.index.get(&(space, va)).copied()
        }
        fn set_lookup(&mut self, space: SpaceId, va: u64, id: Option<EntryId>) {
            match id {
                Some(id) => self.index.insert((space, va), id),
                None => self.index.remove(&(space, va)),
            };
        }
        fn next_in_space(&self, space: SpaceId, from: u64, end: u64) -> Option<(u64, EntryId)> {
            let (&(_, va), &id) = self.index.range((space, from)..(space, end.max(from))).next()?;
            Some((va, id))
        }
        fn root_of(&self, pa: u64) -> Option<EntryId> {
            self.roots.get(&pa).copied()
        }
        fn set_root(&mut self, pa: u64, id: Option<EntryId>) {
            match id {
                Some(id) => self.roots.insert(pa, id),
                None => self.roots.remove(&pa),
            };
        }
    }

    fn s(raw: u32) -> SpaceId {
        SpaceId::new(raw)
    }

    fn mdb() -> Mdb<VecStore> {
        Mdb::new(VecStore::default())
    }

    /// Checks the invariants, that each entry is on its space's home node, and that
    /// the index holds nothing but live entries.
    fn check(m: &Mdb<VecStore>) {
        let ids = m.store().ids();
        m.check_invariants(&ids).unwrap();
        for &id in &ids {
            let e = m.entry(id);
            assert_eq!(e.node(), home(e.space()), "entry on its space's home node");
        }
        assert_eq!(m.store().index.len(), ids.len());
    }

    /// `(space, va, rights)` of every mapping, sorted.
    fn mappings(m: &Mdb<VecStore>) -> Vec<(u32, u64, Rights)> {
        m.store().index.iter().map(|(&(space, va), &id)| (space.raw(), va, m.entry(id).rights())).collect()
    }

    /// A callback collecting reports.
    fn collect(into: &mut Vec<Revoked>) -> impl FnMut(Revoked) + '_ {
        |r| into.push(r)
    }

    fn ignore(_: Revoked) {}

    #[test]
    fn an_owned_frame_is_freed_when_its_root_goes_and_only_then() {
        let mut m = mdb();
        let root = m.insert_root(s(1), 0x1000, 0x8000_0000, PAGE_SHIFT, Rights::ALL).unwrap();
        assert!(m.own(root));
        let child = m.map(root, s(2), 0x2000, RW, ignore).unwrap();
        assert!(!m.own(child), "a mapped-from entry owns nothing");
        m.map(child, s(3), 0x3000, R, ignore).unwrap();
        let plain = m.insert_root(s(1), 0x5000, 0x8000_1000, PAGE_SHIFT, RW).unwrap();
        assert!(m.entry(root).owned() && !m.entry(plain).owned() && !m.entry(child).owned());
        let freed = |gone: &[Revoked]| gone.iter().filter(|r| r.freed).map(|r| r.pa).collect::<Vec<_>>();
        // Unmapping the children, or taking rights from the root, frees nothing.
        let mut gone = Vec::new();
        m.unmap(root, Rights::WRITE, true, collect(&mut gone));
        m.unmap(root, Rights::ALL, false, collect(&mut gone));
        assert_eq!(gone.len(), 4, "root and child downgraded, then both children removed");
        assert!(freed(&gone).is_empty());
        // Granting the root moves the ownership with it.
        let moved = m.grant(root, s(4), 0x4000, R, collect(&mut gone)).unwrap();
        assert!(m.entry(moved).owned());
        assert!(freed(&gone).is_empty());
        m.map(moved, s(2), 0x2000, R, ignore).unwrap();
        // Its removal, with everything mapped from it, frees the frame: reported last,
        // after the child.
        gone.clear();
        m.unmap(moved, Rights::ALL, true, collect(&mut gone));
        assert_eq!(
            gone.iter().map(|r| (r.space.raw(), r.freed)).collect::<Vec<_>>(),
            [(2, false), (4, true)]
        );
        // A lent frame (not owned) is never freed; a space's deletion frees its owned ones.
        let again = m.insert_root(s(1), 0x6000, 0x8000_0000, PAGE_SHIFT, RW).unwrap();
        m.own(again);
        m.map(again, s(5), 0x6000, R, ignore).unwrap();
        gone.clear();
        m.delete_space(s(1), collect(&mut gone));
        assert_eq!(freed(&gone), [0x8000_0000]);
        assert_eq!(gone.len(), 3, "plain root, owned root and its child");
        check(&m);
    }

    #[test]
    fn an_entry_fits_a_cache_line() {
        assert!(core::mem::size_of::<Entry>() <= 64);
        assert_eq!(core::mem::size_of::<Option<EntryId>>(), 8);
    }

    #[test]
    fn rights_are_sets_of_read_write_execute() {
        assert!(Rights::ALL.contains(RW) && RW.contains(R) && !R.contains(RW));
        assert_eq!(Rights::ALL.without(Rights::WRITE), Rights::READ.union(Rights::EXEC));
        assert_eq!(format!("{:?}", Rights::READ.union(Rights::EXEC)), "r-x");
        assert_eq!(Rights::from_bits(8), None);
        assert!(Rights::NONE.is_empty() && Rights::ALL.contains(Rights::NONE));
    }

    #[test]
    fn map_remap_and_unmap_revoke_recursively_across_three_spaces() {
        let mut m = mdb();
        let (sigma0, a, b, c) = (s(0), s(1), s(2), s(3));
        let root = m.insert_root(sigma0, 0x10_0000, 0x8000_0000, PAGE_SHIFT, Rights::ALL).unwrap();
        let in_a = m.map(root, a, 0x1000, RW, ignore).unwrap();
        let in_b = m.map(in_a, b, 0x2000, RW, ignore).unwrap();
        let in_c = m.map(in_b, c, 0x3000, R, ignore).unwrap();
        let also_c = m.map(in_a, c, 0x5000, R, ignore).unwrap();
        check(&m);
        assert_eq!(m.lookup(c, 0x3000), Some(in_c));
        assert_eq!(m.entry(in_c).pa(), 0x8000_0000);
        assert_eq!(m.entry(in_c).parent(), Some(in_b));
        assert_eq!(m.children(in_a).collect::<Vec<_>>(), [also_c, in_b], "most recent first");

        // Unmap A's mapping: everything derived from it goes, A's own stays.
        let mut gone = Vec::new();
        m.unmap(in_a, Rights::ALL, false, collect(&mut gone));
        check(&m);
        let mut gone: Vec<(u32, u64)> = gone.iter().map(|r| (r.space.raw(), r.va)).collect();
        gone.sort();
        assert_eq!(gone, [(2, 0x2000), (3, 0x3000), (3, 0x5000)]);
        assert_eq!(mappings(&m), [(0, 0x10_0000, Rights::ALL), (1, 0x1000, RW)]);

        // Flush: A's own mapping too.
        m.map(in_a, b, 0x2000, R, ignore).unwrap();
        let mut gone = Vec::new();
        m.unmap(in_a, Rights::ALL, true, collect(&mut gone));
        assert_eq!(gone.len(), 2);
        assert!(gone.iter().all(Revoked::removed));
        assert_eq!(gone[0].space, b, "children are removed before their parents");
        assert_eq!(m.lookup(b, 0x2000), None);
        assert_eq!(mappings(&m), [(0, 0x10_0000, Rights::ALL)]);
        check(&m);
    }

    #[test]
    fn mapping_onto_a_mapped_page_replaces_it_or_extends_a_child_of_the_same_source() {
        let mut m = mdb();
        let f1 = m.insert_root(s(0), 0, 0x8000_0000, PAGE_SHIFT, Rights::ALL).unwrap();
        let f2 = m.insert_root(s(0), P, 0x8000_1000, PAGE_SHIFT, Rights::ALL).unwrap();
        let a = m.map(f1, s(1), 0x4000, R, ignore).unwrap();
        let b = m.map(a, s(2), 0x4000, R, ignore).unwrap();
        // Same source again, more rights: extended in place, subtree kept, nothing revoked.
        let mut gone = Vec::new();
        assert_eq!(m.map(f1, s(1), 0x4000, Rights::WRITE, collect(&mut gone)), Ok(a));
        assert!(gone.is_empty());
        assert_eq!(m.entry(a).rights(), RW);
        assert_eq!(m.lookup(s(2), 0x4000), Some(b));
        // Another frame onto the same page: the old mapping and its subtree go.
        let a2 = m.map(f2, s(1), 0x4000, R, collect(&mut gone)).unwrap();
        assert_eq!(
            gone.iter().map(|r| (r.space.raw(), r.pa)).collect::<Vec<_>>(),
            [(2, 0x8000_0000), (1, 0x8000_0000)]
        );
        assert_eq!(m.entry(a2).pa(), 0x8000_1000);
        assert_eq!(m.lookup(s(2), 0x4000), None);
        check(&m);
    }

    #[test]
    fn map_refuses_more_rights_no_rights_misalignment_and_a_target_holding_the_source() {
        let mut m = mdb();
        let root = m.insert_root(s(0), 0, 0x8000_0000, PAGE_SHIFT, RW).unwrap();
        let a = m.map(root, s(1), 0, R, ignore).unwrap();
        let before = mappings(&m);
        assert_eq!(m.map(a, s(2), 0, RW, ignore), Err(MdbError::RightsNotSubset { have: R, asked: RW }));
        assert_eq!(m.map(a, s(2), 0, Rights::NONE, ignore), Err(MdbError::NoRights));
        assert_eq!(m.map(a, s(2), 0x123, R, ignore), Err(MdbError::Misaligned { addr: 0x123 }));
        // Onto the source itself, or onto the mapping it came from.
        assert_eq!(m.map(a, s(1), 0, R, ignore), Err(MdbError::TargetHoldsSource { space: s(1), va: 0 }));
        assert_eq!(m.map(a, s(0), 0, R, ignore), Err(MdbError::TargetHoldsSource { space: s(0), va: 0 }));
        assert_eq!(mappings(&m), before);
        check(&m);
    }

    #[test]
    fn insert_root_hands_each_frame_out_once() {
        let mut m = mdb();
        let root = m.insert_root(s(0), 0, 0x8000_0000, PAGE_SHIFT, Rights::ALL).unwrap();
        assert_eq!(
            m.insert_root(s(1), 0, 0x8000_0000, PAGE_SHIFT, R),
            Err(MdbError::FrameAlreadyRooted { pa: 0x8000_0000 })
        );
        assert_eq!(
            m.insert_root(s(0), 0, 0x9000_0000, PAGE_SHIFT, R),
            Err(MdbError::Occupied { space: s(0), va: 0 })
        );
        assert_eq!(
            m.insert_root(s(0), 0, 0x9000_0000, 21, R),
            Err(MdbError::UnsupportedSize { size_log2: 21 })
        );
        assert_eq!(
            m.insert_root(s(0), P, 0x9000_0800, PAGE_SHIFT, R),
            Err(MdbError::Misaligned { addr: 0x9000_0800 })
        );
        assert_eq!(m.insert_root(s(0), P, 0x9000_0000, PAGE_SHIFT, Rights::NONE), Err(MdbError::NoRights));
        // Once its root is gone, the frame can be handed out again.
        m.unmap(root, Rights::ALL, true, ignore);
        assert!(m.insert_root(s(1), 0, 0x8000_0000, PAGE_SHIFT, R).is_ok());
        check(&m);
    }

    #[test]
    fn grant_moves_the_entry_with_its_subtree_to_the_new_home_node() {
        let mut m = mdb();
        let root = m.insert_root(s(0), 0, 0x8000_0000, PAGE_SHIFT, Rights::ALL).unwrap();
        let a = m.map(root, s(1), 0x1000, RW, ignore).unwrap();
        let b = m.map(a, s(2), 0x2000, RW, ignore).unwrap();
        let c = m.map(a, s(3), 0x3000, R, ignore).unwrap();
        let d = m.map(b, s(3), 0x4000, R, ignore).unwrap();
        let mut gone = Vec::new();
        let moved = m.grant(a, s(5), 0x5000, RW, collect(&mut gone)).unwrap();
        assert_eq!(
            gone,
            [Revoked {
                space: s(1),
                va: 0x1000,
                size_log2: PAGE_SHIFT,
                pa: 0x8000_0000,
                rights: Rights::NONE,
                freed: false
            }]
        );
        assert_eq!(m.lookup(s(1), 0x1000), None);
        assert_eq!(m.lookup(s(5), 0x5000), Some(moved));
        assert_eq!(m.entry(moved).node(), home(s(5)), "re-created on the receiver's home node");
        assert_eq!(m.entry(moved).parent(), Some(root));
        let mut kids: Vec<EntryId> = m.children(moved).collect();
        kids.sort();
        assert_eq!(kids, [b, c]);
        assert_eq!(m.entry(b).parent(), Some(moved));
        assert_eq!(m.entry(d).parent(), Some(b), "grandchildren untouched");
        check(&m);
        // Unmapping the granted entry still reaches the whole subtree.
        m.unmap(moved, Rights::ALL, false, ignore);
        assert_eq!(mappings(&m), [(0, 0, Rights::ALL), (5, 0x5000, RW)]);
        check(&m);
    }

    #[test]
    fn grant_with_fewer_rights_reduces_the_subtree_and_a_root_can_be_granted() {
        let mut m = mdb();
        let root = m.insert_root(s(0), 0, 0x8000_0000, PAGE_SHIFT, Rights::ALL).unwrap();
        let a = m.map(root, s(1), 0, RW, ignore).unwrap();
        m.map(a, s(2), 0, Rights::WRITE, ignore).unwrap();
        m.map(a, s(3), 0, R, ignore).unwrap();
        let mut gone = Vec::new();
        let moved_root = m.grant(root, s(4), 0, R.union(Rights::EXEC), collect(&mut gone)).unwrap();
        // W is gone everywhere: the write-only mapping entirely, A keeps R.
        assert_eq!(mappings(&m), [(1, 0, R), (3, 0, R), (4, 0, Rights(0b101))]);
        assert_eq!(m.store().root_of(0x8000_0000), Some(moved_root));
        assert_eq!(gone.len(), 3, "A downgraded, space 2 removed, space 0's page removed");
        check(&m);
    }

    #[test]
    fn rights_reduction_propagates_down_the_tree() {
        let mut m = mdb();
        let root = m.insert_root(s(0), 0, 0x8000_0000, PAGE_SHIFT, Rights::ALL).unwrap();
        let a = m.map(root, s(1), 0, Rights::ALL, ignore).unwrap();
        let b = m.map(a, s(2), 0, RW, ignore).unwrap();
        m.map(b, s(3), 0, Rights::WRITE, ignore).unwrap();
        m.map(a, s(4), 0, Rights::EXEC, ignore).unwrap();
        let mut changed = Vec::new();
        m.unmap(a, Rights::WRITE, false, collect(&mut changed));
        assert_eq!(mappings(&m), [(0, 0, Rights::ALL), (1, 0, Rights::ALL), (2, 0, R), (4, 0, Rights::EXEC)]);
        let mut changed: Vec<(u32, Rights)> = changed.iter().map(|r| (r.space.raw(), r.rights)).collect();
        changed.sort();
        assert_eq!(changed, [(2, R), (3, Rights::NONE)], "the exec-only mapping is untouched");
        // With the entry itself: A loses X, so does space 4's mapping (removed).
        m.unmap(a, Rights::EXEC, true, ignore);
        assert_eq!(mappings(&m), [(0, 0, Rights::ALL), (1, 0, RW), (2, 0, R)]);
        check(&m);
    }

    #[test]
    fn delete_space_unmaps_everything_it_holds_and_everything_derived() {
        let mut m = mdb();
        for k in 0..4 {
            let root = m.insert_root(s(0), k * P, 0x8000_0000 + k * P, PAGE_SHIFT, Rights::ALL).unwrap();
            let a = m.map(root, s(1), k * P, RW, ignore).unwrap();
            let b = m.map(a, s(2), k * P, R, ignore).unwrap();
            m.map(b, s(1), 0x10_0000 + k * P, R, ignore).unwrap(); // back into space 1
            m.map(root, s(3), k * P, R, ignore).unwrap();
        }
        let mut gone = Vec::new();
        m.delete_space(s(1), collect(&mut gone));
        assert_eq!(gone.len(), 12, "4 x (space 1's two mappings + space 2's)");
        let spaces: BTreeSet<u32> = mappings(&m).iter().map(|&(space, _, _)| space).collect();
        assert_eq!(spaces, BTreeSet::from([0, 3]));
        assert_eq!(m.store().ids().len(), 8);
        check(&m);
        m.delete_space(s(0), ignore);
        assert!(m.store().ids().is_empty() && m.store().roots.is_empty());
    }

    #[test]
    fn running_out_of_entries_changes_nothing() {
        let mut m = mdb();
        let root = m.insert_root(s(0), 0, 0x8000_0000, PAGE_SHIFT, Rights::ALL).unwrap();
        let a = m.map(root, s(1), 0, RW, ignore).unwrap();
        let other = m.insert_root(s(0), P, 0x8000_1000, PAGE_SHIFT, Rights::ALL).unwrap();
        m.map(other, s(2), 0, R, ignore).unwrap();
        m.store_mut().limit = Some(4);
        let before = mappings(&m);
        let mut gone = Vec::new();
        assert_eq!(m.map(root, s(2), 0, R, collect(&mut gone)), Err(MdbError::NoMemory));
        assert_eq!(m.grant(a, s(2), 0, R, collect(&mut gone)), Err(MdbError::NoMemory));
        assert_eq!(m.insert_root(s(0), 2 * P, 0x8000_2000, PAGE_SHIFT, R), Err(MdbError::NoMemory));
        assert!(gone.is_empty(), "the mapping at the target was not unmapped");
        assert_eq!(mappings(&m), before);
        // Extending a child needs no new entry.
        assert_eq!(m.map(root, s(1), 0, Rights::EXEC, ignore), Ok(a));
        check(&m);
    }

    #[test]
    fn a_long_chain_is_unmapped_without_recursion() {
        let mut m = mdb();
        let mut id = m.insert_root(s(0), 0, 0x8000_0000, PAGE_SHIFT, Rights::ALL).unwrap();
        let root = id;
        for k in 1..=20_000u64 {
            id = m.map(id, s((k % 7) as u32 + 1), k * P, R, ignore).unwrap();
        }
        let mut count = 0;
        m.unmap(root, Rights::READ, false, |_| count += 1);
        assert_eq!(count, 20_000);
        assert_eq!(m.store().ids(), [root]);
    }

    // ---- The randomized model test -------------------------------------------------

    /// xorshift64*: small, seeded, reproducible.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn rights(&mut self) -> Rights {
            Rights(self.below(7) as u8 + 1)
        }
    }

    type Key = (u32, u64);

    /// One mapping of the reference model. `serial` names the mapping (it survives a
    /// grant, a rights change, an extension), so a replaced mapping is seen as such.
    #[derive(Clone, Debug, PartialEq)]
    struct M {
        serial: u64,
        pa: u64,
        rights: Rights,
        parent: Option<Key>,
    }

    /// The MDB, naively: a map from `(space, va)` to mappings that name their parent
    /// by key; descendants found by scanning everything until nothing changes.
    #[derive(Clone, Default)]
    struct Model {
        map: BTreeMap<Key, M>,
        serial: u64,
        limit: usize,
    }

    impl Model {
        /// `key` and everything derived from it.
        fn subtree(&self, key: Key) -> BTreeSet<Key> {
            let mut set = BTreeSet::from([key]);
            loop {
                let more: Vec<Key> = self
                    .map
                    .iter()
                    .filter(|(k, m)| !set.contains(k) && m.parent.is_some_and(|p| set.contains(&p)))
                    .map(|(k, _)| *k)
                    .collect();
                if more.is_empty() {
                    return set;
                }
                set.extend(more);
            }
        }

        fn remove_subtree(&mut self, key: Key) {
            for k in self.subtree(key) {
                self.map.remove(&k);
            }
        }

        /// Removes every mapping without rights, and every mapping whose parent is gone.
        fn purge(&mut self) {
            loop {
                let dead: Vec<Key> = self
                    .map
                    .iter()
                    .filter(|(_, m)| {
                        m.rights.is_empty() || m.parent.is_some_and(|p| !self.map.contains_key(&p))
                    })
                    .map(|(k, _)| *k)
                    .collect();
                if dead.is_empty() {
                    return;
                }
                for k in dead {
                    self.map.remove(&k);
                }
            }
        }

        fn fresh(&mut self, pa: u64, rights: Rights, parent: Option<Key>) -> Result<M, MdbError> {
            if self.map.len() >= self.limit {
                return Err(MdbError::NoMemory);
            }
            self.serial += 1;
            Ok(M { serial: self.serial, pa, rights, parent })
        }

        fn check_rights(have: Rights, asked: Rights) -> Result<(), MdbError> {
            if asked.is_empty() {
                Err(MdbError::NoRights)
            } else if !have.contains(asked) {
                Err(MdbError::RightsNotSubset { have, asked })
            } else {
                Ok(())
            }
        }

        fn target_check(&self, source: Key, to: Key) -> Result<(), MdbError> {
            match self.map.contains_key(&to) && self.subtree(to).contains(&source) {
                true => Err(MdbError::TargetHoldsSource { space: s(to.0), va: to.1 }),
                false => Ok(()),
            }
        }

        fn insert_root(&mut self, to: Key, pa: u64, rights: Rights) -> Result<(), MdbError> {
            if rights.is_empty() {
                return Err(MdbError::NoRights);
            }
            aligned(to.1, PAGE_SHIFT)?;
            if self.map.contains_key(&to) {
                return Err(MdbError::Occupied { space: s(to.0), va: to.1 });
            }
            if self.map.values().any(|m| m.parent.is_none() && m.pa == pa) {
                return Err(MdbError::FrameAlreadyRooted { pa });
            }
            let m = self.fresh(pa, rights, None)?;
            self.map.insert(to, m);
            Ok(())
        }

        fn map_(&mut self, from: Key, to: Key, rights: Rights) -> Result<(), MdbError> {
            let p = self.map[&from].clone();
            Model::check_rights(p.rights, rights)?;
            aligned(to.1, PAGE_SHIFT)?;
            self.target_check(from, to)?;
            if let Some(old) = self.map.get_mut(&to)
                && old.parent == Some(from)
            {
                old.rights = old.rights.union(rights);
                return Ok(());
            }
            let m = self.fresh(p.pa, rights, Some(from))?;
            if self.map.contains_key(&to) {
                self.remove_subtree(to);
            }
            self.map.insert(to, m);
            Ok(())
        }

        fn grant(&mut self, from: Key, to: Key, rights: Rights) -> Result<(), MdbError> {
            let e = self.map[&from].clone();
            Model::check_rights(e.rights, rights)?;
            aligned(to.1, PAGE_SHIFT)?;
            self.target_check(from, to)?;
            self.fresh(e.pa, rights, None)?;
            if self.map.contains_key(&to) {
                self.remove_subtree(to);
            }
            let mask = e.rights.without(rights);
            for k in self.subtree(from) {
                if k != from {
                    let m = self.map.get_mut(&k).unwrap();
                    m.rights = m.rights.without(mask);
                }
            }
            self.purge();
            let mut moved = self.map.remove(&from).unwrap();
            moved.rights = rights;
            self.map.insert(to, moved);
            for m in self.map.values_mut() {
                if m.parent == Some(from) {
                    m.parent = Some(to);
                }
            }
            Ok(())
        }

        fn unmap(&mut self, key: Key, mask: Rights, include_self: bool) {
            for k in self.subtree(key) {
                if k != key || include_self {
                    let m = self.map.get_mut(&k).unwrap();
                    m.rights = m.rights.without(mask);
                }
            }
            self.purge();
        }

        fn delete_space(&mut self, space: u32) {
            let held: Vec<Key> = self.map.keys().filter(|k| k.0 == space).copied().collect();
            for k in held {
                if self.map.contains_key(&k) {
                    self.remove_subtree(k);
                }
            }
        }

        /// The keys whose page-table entries an operation from `before` to `self`
        /// must have changed: gone, replaced by another mapping, or with fewer rights.
        fn changed_since(&self, before: &Model) -> BTreeSet<Key> {
            let changed = |(k, old): (&Key, &M)| match self.map.get(k) {
                None => true,
                Some(new) => new.serial != old.serial || !new.rights.contains(old.rights),
            };
            before.map.iter().filter(|e| changed(*e)).map(|(k, _)| *k).collect()
        }
    }

    /// The MDB's state in the model's terms (serials aside): key -> (pa, rights, parent key).
    fn state(m: &Mdb<VecStore>) -> BTreeMap<Key, (u64, Rights, Option<Key>)> {
        let key = |id: EntryId| (m.entry(id).space().raw(), m.entry(id).va());
        let entry = |(k, &id): (&(SpaceId, u64), &EntryId)| {
            let e = m.entry(id);
            ((k.0.raw(), k.1), (e.pa(), e.rights(), e.parent().map(key)))
        };
        m.store().index.iter().map(entry).collect()
    }

    fn model_state(model: &Model) -> BTreeMap<Key, (u64, Rights, Option<Key>)> {
        model.map.iter().map(|(k, m)| (*k, (m.pa, m.rights, m.parent))).collect()
    }

    #[test]
    fn random_operations_agree_with_a_naive_model_and_keep_the_invariants() {
        const SPACES: u64 = 5;
        const PAGES: u64 = 6;
        const FRAMES: u64 = 6;
        const STEPS: usize = 4000;
        for seed in [0x9E37_79B9_7F4A_7C15u64, 42, 0xDEAD_BEEF] {
            let mut rng = Rng(seed);
            let limit = 40;
            let mut m = mdb();
            m.store_mut().limit = Some(limit);
            let mut model = Model { limit, ..Model::default() };
            let (mut oks, mut errs) = (0, 0);
            // Frames handed out as owned roots and not yet freed; frames freed in all.
            let mut owned = BTreeSet::new();
            let mut freed_total = 0;
            for step in 0..STEPS {
                let before = model.clone();
                let keys: Vec<Key> = model.map.keys().copied().collect();
                let key = |rng: &mut Rng| (rng.below(SPACES) as u32, 0x10_0000 + rng.below(PAGES) * P);
                let to = key(&mut rng);
                // Now and then a misaligned target.
                let to = if rng.below(40) == 0 { (to.0, to.1 + 8) } else { to };
                let source = (!keys.is_empty()).then(|| keys[rng.below(keys.len() as u64) as usize]);
                let id_of = |m: &Mdb<VecStore>, k: Key| m.lookup(s(k.0), k.1).unwrap();
                let mut reported = BTreeSet::new();
                let mut freed = BTreeSet::new();
                let mut report = |r: Revoked| {
                    reported.insert((r.space.raw(), r.va));
                    if r.freed {
                        assert!(freed.insert(r.pa), "a frame freed twice in one step");
                    }
                };
                let op = rng.below(100);
                let (got, want) = match (op, source) {
                    (0..20, _) | (_, None) => {
                        let pa = 0x8000_0000 + rng.below(FRAMES) * P;
                        let rights = rng.rights();
                        let got = m.insert_root(s(to.0), to.1, pa, PAGE_SHIFT, rights);
                        if let Ok(id) = got
                            && rng.below(2) == 0
                        {
                            assert!(m.own(id));
                            owned.insert(pa);
                        }
                        let got = got.map(|_| ());
                        (got, model.insert_root(to, pa, rights))
                    }
                    // A vacant target, half the time through `map_vacant` (the fast
                    // path's): the same result as `map`.
                    (20..55, Some(src)) if m.lookup(s(to.0), to.1).is_none() && rng.below(2) == 0 => {
                        let rights = rng.rights();
                        let got = m.map_vacant(id_of(&m, src), s(to.0), to.1, rights).map(|_| ());
                        (got, model.map_(src, to, rights))
                    }
                    (20..55, Some(src)) => {
                        let rights = rng.rights();
                        let got = m.map(id_of(&m, src), s(to.0), to.1, rights, &mut report).map(|_| ());
                        (got, model.map_(src, to, rights))
                    }
                    (55..70, Some(src)) => {
                        let rights = rng.rights();
                        let got = m.grant(id_of(&m, src), s(to.0), to.1, rights, &mut report).map(|_| ());
                        (got, model.grant(src, to, rights))
                    }
                    (70..97, Some(src)) => {
                        let (mask, include_self) = (rng.rights(), rng.below(2) == 0);
                        m.unmap(id_of(&m, src), mask, include_self, &mut report);
                        model.unmap(src, mask, include_self);
                        (Ok(()), Ok(()))
                    }
                    (_, Some(_)) => {
                        let space = rng.below(SPACES) as u32;
                        m.delete_space(s(space), &mut report);
                        model.delete_space(space);
                        (Ok(()), Ok(()))
                    }
                };
                assert_eq!(got, want, "seed {seed:#x} step {step}: result");
                if got.is_ok() {
                    oks += 1
                } else {
                    errs += 1
                }
                assert_eq!(state(&m), model_state(&model), "seed {seed:#x} step {step}: state");
                assert_eq!(reported, model.changed_since(&before), "seed {seed:#x} step {step}: reports");
                // An owned frame is freed exactly when no root of it is left.
                let rooted: BTreeSet<u64> =
                    model.map.values().filter(|e| e.parent.is_none()).map(|e| e.pa).collect();
                let gone: BTreeSet<u64> = owned.difference(&rooted).copied().collect();
                assert_eq!(freed, gone, "seed {seed:#x} step {step}: frames freed");
                owned.retain(|pa| rooted.contains(pa));
                freed_total += freed.len();
                let ids = m.store().ids();
                if let Err(v) = m.check_invariants(&ids) {
                    panic!("seed {seed:#x} step {step}: {v:?}");
                }
                assert!(ids.iter().all(|&id| m.entry(id).node() == home(m.entry(id).space())));
            }
            assert!(oks > STEPS / 3 && errs > STEPS / 20, "seed {seed:#x}: {oks} ok, {errs} refused");
            assert!(freed_total > 50, "seed {seed:#x}: only {freed_total} owned frames freed");
        }
    }
}
