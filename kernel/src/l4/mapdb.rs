// SPDX-License-Identifier: MIT OR Apache-2.0
//! The mapping database in the kernel: entries on home nodes, and the two indices.
//!
//! `crate::mdb` is the MDB's logic; it keeps its entries in an [`MdbStore`] and asks
//! the store for two indices. This is the kernel's store:
//!
//! - **Entries** are slab objects (`crate::slab`) on the home node of the space that
//!   holds the mapping (the paper: an MDB entry lives on the node of the space that
//!   holds the mapping), falling back to the nearest node only when the home node is
//!   exhausted, and counted per space for `report: kmem`. An [`EntryId`] is the
//!   entry's physical address.
//! - **`(space, va) -> entry`** is a *shadow* page beside every user translation
//!   table: user tables are allocated as two frames, the table and 512 entry ids for
//!   its slots (used in last-level tables). Finding a page's entry is a table walk.
//! - **`frame -> root entry`** is one 8-byte slot per frame of RAM, in an array per
//!   memory range, allocated at boot on that range's own node (0.2 % of memory).

use super::{Machine, UserTables};
use crate::mdb::{Entry, EntryId, MdbError, MdbStore, SpaceId};
use crate::mm::addr::PhysAddr;
use crate::mm::frames::Frames;
use crate::mm::table::{self, PAGE_SIZE, index};
use crate::slab::{Fallback, Quota, SlabCache};
use crate::space::MAX_SPACES;
use core::marker::PhantomData;
use core::ptr::NonNull;
use platform::{Board, FixedVec, MAX_MEMORY_RANGES, NodeId};

/// Entries are not charged to a quota: each sits in a slot of a last-level table its
/// space paid for (the table and its shadow page are charged), so a space holds at
/// most 512 entries per such table, about 3.5 times the tables' own memory. The
/// slab's quota is therefore unlimited; [`KernelStore`] counts entries per space for
/// `report: kmem`.
static NO_QUOTA: Quota = Quota::unlimited();

/// What the store knows of a space.
#[derive(Clone, Copy, Debug, Default)]
pub struct SpaceSlot {
    /// Root translation table (0: no such space).
    pub root: u64,
    /// Home node.
    pub home: NodeId,
    /// MDB entries on the home node, in all, and allocated elsewhere.
    pub on_home: u32,
    /// All MDB entries of the space.
    pub total: u32,
    /// Entries that had to fall back to another node.
    pub fallbacks: u32,
}

/// One memory range's frame-root slots.
#[derive(Clone, Copy, Debug, Default)]
struct RootArray {
    base: u64,
    frames: u64,
    /// Physical address of the slot array.
    slots: u64,
}

/// The kernel's MDB store, reaching memory through machine `M`'s window.
pub struct KernelStore<M> {
    /// Per space (indexed like the space table).
    pub spaces: [SpaceSlot; MAX_SPACES],
    roots: FixedVec<RootArray, MAX_MEMORY_RANGES>,
    /// The slab cache of MDB entries (one set of slabs per node), handed over by
    /// [`KernelStore::init`] (the kernel's is built beside the frame allocator, in
    /// `boot`).
    entries: Option<&'static SlabCache<'static>>,
    machine: PhantomData<M>,
}

impl<M: Machine> KernelStore<M> {
    /// An empty store (no root arrays and no entries until [`KernelStore::init`]).
    pub const fn new() -> KernelStore<M> {
        const EMPTY: SpaceSlot =
            SpaceSlot { root: 0, home: NodeId::ZERO, on_home: 0, total: 0, fallbacks: 0 };
        const NONE: RootArray = RootArray { base: 0, frames: 0, slots: 0 };
        KernelStore {
            spaces: [EMPTY; MAX_SPACES],
            roots: FixedVec::filled(NONE),
            entries: None,
            machine: PhantomData,
        }
    }

    /// Takes the slab cache the entries come from, and allocates the frame-root
    /// arrays from `frames`, each on its memory range's node.
    pub fn init(
        &mut self,
        frames: &Frames,
        entries: &'static SlabCache<'static>,
        board: &Board,
    ) -> Result<(), abi::Error> {
        assert!(
            entries.object_bytes() >= core::mem::size_of::<Entry>() as u64,
            "invariant: the cache was made for MDB entries"
        );
        self.entries = Some(entries);
        for m in board.memory.iter() {
            let frames_in_range = m.range.size / PAGE_SIZE;
            let bytes = frames_in_range * 8;
            let table_frames = bytes.div_ceil(PAGE_SIZE) as usize;
            let (pa, _) = frames.alloc_near(m.node, table_frames).map_err(|_| abi::Error::OutOfMemory)?;
            for f in 0..table_frames as u64 {
                // SAFETY: the block was just allocated for this array, referenced by nothing.
                unsafe { M::MEMORY.zero_frame(PhysAddr::new(pa + f * PAGE_SIZE)) };
            }
            let array = RootArray { base: m.range.base, frames: frames_in_range, slots: pa };
            self.roots.push(array).map_err(|_| abi::Error::OutOfMemory)?;
        }
        Ok(())
    }

    /// Registers a space (its root table and home node).
    pub fn add_space(&mut self, index: u16, root: u64, home: NodeId) {
        self.spaces[index as usize] = SpaceSlot { root, home, ..SpaceSlot::default() };
    }

    /// Forgets a space (its entries are gone: `Mdb::delete_space` ran).
    pub fn remove_space(&mut self, index: u16) {
        self.spaces[index as usize] = SpaceSlot::default();
    }

    fn root_slot(&self, pa: u64) -> Option<u64> {
        let r = self.roots.iter().find(|r| pa >= r.base && (pa - r.base) / PAGE_SIZE < r.frames)?;
        Some(r.slots + (pa - r.base) / PAGE_SIZE * 8)
    }

    /// The shadow slot of `va` in `space`, if its last-level table exists.
    fn shadow_slot(&self, space: SpaceId, va: u64) -> Option<u64> {
        let root = self.spaces.get(space.raw() as usize)?.root;
        if root == 0 {
            return None;
        }
        let leaf = table::leaf_table(&mut UserTables::<M, _>::existing(), root, va)?;
        Some(shadow_slot_in(leaf, va))
    }

    /// Returns the entry cache's empty slabs to the frame allocator.
    pub fn shrink_entries(&self) {
        if let Some(entries) = self.entries {
            entries.shrink();
        }
    }

    fn slab(&self) -> &'static SlabCache<'static> {
        self.entries.expect("invariant: KernelStore::init ran before the first mapping")
    }
}

/// Where the MDB entry of `va`'s page is recorded, given its last-level table `leaf`:
/// the same index in the shadow page beside it.
fn shadow_slot_in(leaf: u64, va: u64) -> u64 {
    leaf + PAGE_SIZE + index(va, 3) as u64 * 8
}

/// The MDB entry of the page at `va`, given the last-level table `leaf` that holds
/// its entry (a caller that has walked the tables already: the IPC fast path).
pub fn entry_in<M: Machine>(leaf: u64, va: u64) -> Option<EntryId> {
    // SAFETY: as in `KernelStore::lookup`: `leaf` is a space's last-level table, so
    // its shadow page follows it.
    EntryId::new(unsafe { M::MEMORY.read_u64(PhysAddr::new(shadow_slot_in(leaf, va))) })
}

impl<M: Machine> Default for KernelStore<M> {
    fn default() -> Self {
        Self::new()
    }
}

fn entry_ptr<M: Machine>(id: EntryId) -> NonNull<Entry> {
    NonNull::new(M::MEMORY.va(id.raw()) as *mut Entry).expect("invariant: no entry sits at address 0")
}

impl<M: Machine> MdbStore for KernelStore<M> {
    fn alloc(&mut self, mut entry: Entry) -> Result<EntryId, MdbError> {
        let space = entry.space().raw() as usize;
        let home = self.spaces.get(space).map(|s| s.home).ok_or(MdbError::NoMemory)?;
        let slot = self.slab().alloc(home, Fallback::Nearest, &NO_QUOTA).map_err(|_| MdbError::NoMemory)?;
        entry.set_node(slot.node);
        // SAFETY: the slab handed out this object for us alone: `slot.ptr` is writable,
        // aligned and sized for an `Entry` (the cache was made for that type).
        unsafe { slot.ptr.cast::<Entry>().as_ptr().write(entry) };
        let s = &mut self.spaces[space];
        s.total += 1;
        if slot.node == home {
            s.on_home += 1;
        } else {
            s.fallbacks += 1;
        }
        EntryId::new(slot.pa).ok_or(MdbError::NoMemory)
    }

    fn free(&mut self, id: EntryId) {
        let (space, node) = {
            let e = self.get(id);
            (e.space().raw() as usize, e.node())
        };
        if let Some(s) = self.spaces.get_mut(space) {
            s.total = s.total.saturating_sub(1);
            if node == s.home {
                s.on_home = s.on_home.saturating_sub(1);
            }
        }
        // SAFETY: `id` is a live entry the slab gave `alloc` (the MDB frees each once),
        // reached at its direct-map address; nothing uses it after this.
        let freed = unsafe { self.slab().free(entry_ptr::<M>(id).cast(), &NO_QUOTA) };
        freed.expect("invariant: an MDB entry is a live object of its slab cache, freed once");
    }

    fn get(&self, id: EntryId) -> &Entry {
        // SAFETY: the MDB only passes ids of live entries, which `alloc` initialised in
        // slab memory that stays put until `free`; `&self` ties the borrow to the store.
        unsafe { entry_ptr::<M>(id).as_ref() }
    }

    fn get_mut(&mut self, id: EntryId) -> &mut Entry {
        // SAFETY: as in `get`; `&mut self` makes this the only reference.
        unsafe { entry_ptr::<M>(id).as_mut() }
    }

    fn lookup(&self, space: SpaceId, va: u64) -> Option<EntryId> {
        let slot = self.shadow_slot(space, va)?;
        // SAFETY: shadow pages are kernel frames beside the space's tables, reached
        // only through this store (no Rust reference points into them).
        EntryId::new(unsafe { M::MEMORY.read_u64(PhysAddr::new(slot)) })
    }

    fn set_lookup(&mut self, space: SpaceId, va: u64, id: Option<EntryId>) {
        if let Some(slot) = self.shadow_slot(space, va) {
            // SAFETY: as in `lookup`.
            unsafe { M::MEMORY.write_u64(PhysAddr::new(slot), id.map_or(0, EntryId::raw)) };
        }
    }

    fn next_in_space(&self, space: SpaceId, from: u64, end: u64) -> Option<(u64, EntryId)> {
        let root = self.spaces.get(space.raw() as usize)?.root;
        if root == 0 {
            return None;
        }
        let mut mem = UserTables::<M, _>::existing();
        let mut va = from & !(PAGE_SIZE - 1);
        // Only where last-level tables exist: a missing subtree is skipped whole (a
        // step of 2 MiB over the empty user half would be 2^27 walks, seconds with the
        // kernel lock held, for every space deleted).
        let end = end.min(abi::USER_ADDRESS_LIMIT);
        while let Some(at) = table::next_populated(&mut mem, root, va, end) {
            let leaf = table::leaf_table(&mut mem, root, at)?;
            for i in index(at, 3)..512 {
                if (at & !0x1F_FFFF) + i as u64 * PAGE_SIZE >= end {
                    return None;
                }
                let slot = leaf + PAGE_SIZE + i as u64 * 8;
                // SAFETY: as in `lookup`.
                if let Some(id) = EntryId::new(unsafe { M::MEMORY.read_u64(PhysAddr::new(slot)) }) {
                    return Some(((at & !0x1F_FFFF) + i as u64 * PAGE_SIZE, id));
                }
            }
            va = (at | 0x1F_FFFF).checked_add(1)?;
        }
        None
    }

    fn root_of(&self, pa: u64) -> Option<EntryId> {
        let slot = self.root_slot(pa)?;
        // SAFETY: root arrays are kernel frames reached only through this store.
        EntryId::new(unsafe { M::MEMORY.read_u64(PhysAddr::new(slot)) })
    }

    fn set_root(&mut self, pa: u64, id: Option<EntryId>) {
        if let Some(slot) = self.root_slot(pa) {
            // SAFETY: as in `root_of`.
            unsafe { M::MEMORY.write_u64(PhysAddr::new(slot), id.map_or(0, EntryId::raw)) };
        }
    }
}

/// MDB rights from ABI rights (the two number the bits differently).
pub fn mdb_rights(r: abi::fpage::Rights) -> crate::mdb::Rights {
    let mut out = crate::mdb::Rights::NONE;
    for (abi_bit, mdb_bit) in [
        (abi::fpage::Rights::R, crate::mdb::Rights::READ),
        (abi::fpage::Rights::W, crate::mdb::Rights::WRITE),
        (abi::fpage::Rights::X, crate::mdb::Rights::EXEC),
    ] {
        if r.contains(abi_bit) {
            out = out.union(mdb_bit);
        }
    }
    out
}

/// The user page attributes MDB rights give (user pages are always readable).
#[inline(always)]
pub fn attrs_of(r: crate::mdb::Rights) -> crate::mm::table::Attrs {
    super::user_attrs(r.contains(crate::mdb::Rights::WRITE), r.contains(crate::mdb::Rights::EXEC))
}
