// SPDX-License-Identifier: MIT OR Apache-2.0
//! Slab allocators for fixed-size kernel objects: one set of slabs per NUMA node, with quotas.
//!
//! The kernel allocates many small objects of a few fixed sizes: mapping-database
//! entries (~56 bytes), thread control blocks (1-2 KiB). The paper wants each of them
//! on the *home node* of the address space it belongs to, so the CPUs that use that
//! space read local memory; and a user program must not be able to exhaust kernel
//! memory by asking for mappings or threads. A slab cache gives both: it carves frames
//! from [`Frames::alloc_on`] into objects of one size, keeps the slabs of each node
//! apart, and charges every object to a [`Quota`] owned by an address space.
//!
//! # Design
//!
//! - **One cache per object type, one list of slabs per node.** [`SlabCache::alloc`]
//!   takes an object from a slab of the requested node; when that node's slabs are
//!   full it grows the cache by one slab from [`Frames::alloc_on`] on that node.
//! - **Fallback is the caller's choice, and reported.** With [`Fallback::Never`] an
//!   exhausted node is an error. With [`Fallback::Nearest`] the cache tries the other
//!   nodes in [`Frames::fallback_order`] (by distance), each first from its partial
//!   slabs, then by growing on that node; the [`Slot`] says which node served and
//!   whether that was a fallback, so the kernel can count fallbacks per space, and the
//!   cache counts them per requesting node ([`SlabStats::fallbacks`]). The cache does
//!   not use [`Frames::alloc_near`]: that function cannot see the partial slabs of
//!   other nodes, so using it would take a fresh frame for every fallback object. As
//!   a consequence, [`Frames::fallbacks`] does not count slab fallbacks; the slab's own
//!   counter does.
//! - **The header sits at the start of the slab.** A slab is `slab_frames` frames (a
//!   power of two) that [`Frames`] aligns to its own size, so the slab of any object
//!   is its address rounded down to the slab size: `free` needs no side table and no
//!   search. The header holds the slab's list links and its free list; the objects
//!   follow it, each `stride` bytes (the object size rounded up to its alignment).
//!
//!   ```text
//!    slab base (aligned to slab_frames * 4 KiB)
//!    +--------+-------+-------+-------+-----+-------+--------+
//!    | Header | obj 0 | obj 1 | obj 2 | ... | obj n | unused |
//!    +--------+-------+-------+-------+-----+-------+--------+
//!     magic stride in_use bump free prev next
//!   ```
//!
//!   Objects `bump..capacity` have never been handed out (a new slab costs nothing
//!   to set up); objects returned by `free` form a list threaded through their first
//!   four bytes (the index of the next free object).
//! - **Slab size.** The smallest power of two of frames that holds at least
//!   [`MIN_OBJECTS_PER_SLAB`] objects, at most [`MAX_SLAB_FRAMES`] frames: one frame
//!   (63 objects) for 64-byte objects, eight frames (15 objects) for 2 KiB ones.
//! - **Lists.** Each node keeps a doubly linked list of its slabs that have a free
//!   object (partial or empty); a full slab leaves the list and comes back, at the
//!   front, when one of its objects is freed, so the most recently touched slab is
//!   used first (its lines are likely still cached).
//! - **Empty slabs.** A node keeps at most [`KEEP_EMPTY`] empty slab, so an allocation
//!   pattern that crosses a slab boundary back and forth does not take and return a
//!   frame each time; further empty slabs go back to [`Frames`] at once, and
//!   [`SlabCache::shrink`] returns the kept ones too (under memory pressure).
//! - **Locks.** One spin lock per node guards that node's list and every header of
//!   its slabs; allocations on different nodes never contend. The lock order is: a
//!   node's slab lock, then the frame allocator's lock of a node (growth happens under
//!   the slab lock; slabs are returned to [`Frames`] after the slab lock is dropped).
//! - **Quotas.** Every object costs its `stride` in bytes against the [`Quota`] the
//!   caller passes (the quota of the address space the object belongs to). The charge
//!   is taken first, with one atomic compare-and-swap, and given back if the
//!   allocation then fails; a refused charge changes nothing. Slab headers and the
//!   unused tail of partial slabs are the kernel's cost, not the space's.
//! - **Memory is reached through the frame allocator's [`Window`]**: the direct map in
//!   the kernel, host memory in tests. The unsafe boundary is three small functions:
//!   writing a new header, reaching a header, reading or writing a free object's link,
//!   all on memory the cache owns and only under the node's lock.
//!
//! # Invariants
//! - Every slab on node K's list was allocated by `alloc_on(K)` (so its frames are
//!   node K's) and is only touched while node K's lock is held.
//! - A slab is on its node's list if and only if it has a free object;
//!   `0 <= in_use <= bump <= capacity`, and the free list holds exactly the
//!   `bump - in_use` objects below `bump` that are not in use.
//! - At most [`KEEP_EMPTY`] empty slabs per node stay allocated (except transiently
//!   inside one call).
//! - A quota's `used` is the sum of the strides of the objects charged to it and not
//!   freed; it never exceeds its limit.
//! - Running out of memory or quota is an error ([`SlabError`]), never a panic.
//!
//! # References
//! Bonwick, "The Slab Allocator: An Object-Caching Kernel Memory Allocator" (USENIX
//! 1994); Kupferschmied, Stoess, Bellosa (kernel metadata on the home node); seL4's
//! untyped memory, for why a user-visible kernel-memory budget matters.

use core::fmt;
use core::mem::size_of;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU64, Ordering};

use crate::pernode::PerNode;
use crate::sync::{Mutex, MutexGuard};
use platform::{MAX_NODES, NodeId};

use crate::mm::frames::{Frames, Window};
use crate::mm::table::PAGE_SIZE;

/// A slab grows until it holds at least this many objects (or reaches [`MAX_SLAB_FRAMES`]).
pub const MIN_OBJECTS_PER_SLAB: usize = 8;
/// The largest slab, in frames: objects that do not fit once into it are refused.
pub const MAX_SLAB_FRAMES: usize = 16;
/// Objects are at least this large and this aligned (a free object holds a link).
pub const MIN_ALIGN: usize = 8;
/// Empty slabs a node keeps instead of returning them to the frame allocator.
pub const KEEP_EMPTY: u64 = 1;

/// Marks a slab header: a `free` of something that is not an object of a slab is
/// caught before it corrupts anything (most of the time: this is a sanity check).
const MAGIC: u32 = 0x51ab_ca4e;
/// "No slab" in a list link (a physical address can be 0, so 0 cannot mean none).
const NO_SLAB: u64 = u64::MAX;
/// "No object" in a free-list link.
const NO_OBJECT: u32 = u32::MAX;

/// Whether an allocation may be served by another node when the requested one is
/// exhausted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fallback {
    /// Only the requested node: its exhaustion is [`SlabError::Exhausted`].
    Never,
    /// The requested node, else the nearest node that can serve (by distance).
    Nearest,
}

/// Why an object could not be allocated or freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlabError {
    /// The object would take the quota over its limit.
    QuotaExceeded {
        /// The quota's limit, in bytes.
        limit: u64,
        /// Bytes charged to it already.
        used: u64,
        /// Bytes this object would cost.
        asked: u64,
    },
    /// The node's slabs are full and it has no frame for another ([`Fallback::Never`]).
    Exhausted {
        /// The node asked.
        node: NodeId,
    },
    /// No node can serve the object ([`Fallback::Nearest`]).
    NoMemoryAnywhere,
    /// `free` of an address that is not an object of this cache.
    NotAnObject {
        /// The physical address given.
        pa: u64,
    },
}

impl fmt::Display for SlabError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SlabError::QuotaExceeded { limit, used, asked } => {
                write!(f, "quota exceeded: {used} of {limit} bytes used, {asked} more asked")
            }
            SlabError::Exhausted { node } => write!(f, "node {node} has no memory for another slab"),
            SlabError::NoMemoryAnywhere => f.write_str("no node has memory for another slab"),
            SlabError::NotAnObject { pa } => write!(f, "{pa:#x} is not an object of this cache"),
        }
    }
}

/// A kernel-memory budget, in bytes: one per address space.
///
/// The kernel gives each space a quota when it creates it (the root task's is
/// [`Quota::unlimited`]); every kernel object allocated on the space's behalf is
/// charged to it, and credited back when freed.
#[derive(Debug)]
pub struct Quota {
    limit: u64,
    used: AtomicU64,
}

impl Quota {
    /// A budget of `limit` bytes, nothing used.
    pub const fn new(limit: u64) -> Quota {
        Quota { limit, used: AtomicU64::new(0) }
    }

    /// A budget that never refuses (the root task's); it still counts what is used.
    pub const fn unlimited() -> Quota {
        Quota::new(u64::MAX)
    }

    /// Takes `bytes` from the budget, or refuses without changing anything.
    pub fn charge(&self, bytes: u64) -> Result<(), SlabError> {
        let fits = |used: u64| used.checked_add(bytes).filter(|&total| total <= self.limit);
        match self.used.fetch_update(Ordering::Relaxed, Ordering::Relaxed, fits) {
            Ok(_) => Ok(()),
            Err(used) => Err(SlabError::QuotaExceeded { limit: self.limit, used, asked: bytes }),
        }
    }

    /// Gives `bytes` back.
    ///
    /// # Panics
    /// When more is credited than was charged: a broken kernel invariant (an object
    /// freed against another space's quota, or twice).
    pub fn credit(&self, bytes: u64) {
        let before = self.used.fetch_sub(bytes, Ordering::Relaxed);
        assert!(before >= bytes, "quota credited {bytes} bytes with only {before} charged");
    }

    /// Bytes charged and not credited back.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// The limit in bytes; `None` for an unlimited quota.
    pub fn limit(&self) -> Option<u64> {
        (self.limit != u64::MAX).then_some(self.limit)
    }
}

/// An object handed out by [`SlabCache::alloc`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Where the CPU reaches the object (through the frame allocator's window). Its
    /// contents are unspecified: the caller initialises it.
    pub ptr: NonNull<u8>,
    /// The object's physical address.
    pub pa: u64,
    /// The node whose memory holds it.
    pub node: NodeId,
    /// True when the requested node could not serve and `node` is another one.
    pub fell_back: bool,
}

/// Counters of one node of a cache (a snapshot: may be stale by the time it is read).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlabStats {
    /// Slabs allocated on the node.
    pub slabs: u64,
    /// Of those, slabs with no object in use (kept for reuse).
    pub empty_slabs: u64,
    /// Objects in use on the node.
    pub objects: u64,
    /// Allocations requested for this node that another node served.
    pub fallbacks: u64,
}

/// How objects of one size are laid out in a slab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Geometry {
    /// Bytes from one object to the next (size rounded up to the alignment).
    stride: usize,
    /// Offset of object 0 (the header rounded up to the alignment).
    first: usize,
    /// Objects per slab.
    capacity: u32,
    /// Frames per slab (a power of two).
    slab_frames: usize,
}

impl Geometry {
    const fn new(size: usize, align: usize) -> Geometry {
        assert!(align.is_power_of_two(), "alignment must be a power of two");
        assert!(align as u64 <= PAGE_SIZE, "alignment larger than a page");
        let align = if align < MIN_ALIGN { MIN_ALIGN } else { align };
        let size = if size < MIN_ALIGN { MIN_ALIGN } else { size };
        let stride = size.next_multiple_of(align);
        let first = size_of::<Header>().next_multiple_of(align);
        let mut slab_frames = 1;
        loop {
            let bytes = slab_frames * PAGE_SIZE as usize;
            let capacity = (bytes - first) / stride;
            if capacity >= MIN_OBJECTS_PER_SLAB || (slab_frames == MAX_SLAB_FRAMES && capacity > 0) {
                return Geometry { stride, first, capacity: capacity as u32, slab_frames };
            }
            assert!(slab_frames < MAX_SLAB_FRAMES, "object too large for a slab");
            slab_frames *= 2;
        }
    }

    fn slab_bytes(self) -> u64 {
        self.slab_frames as u64 * PAGE_SIZE
    }
}

/// The start of every slab. Plain integers: any bit pattern is a valid header, so a
/// bad `free` reads garbage, not undefined behaviour.
#[repr(C)]
struct Header {
    magic: u32,
    /// The cache's stride: a `free` into a slab of another cache is caught.
    stride: u32,
    /// Objects handed out and not freed.
    in_use: u32,
    /// Objects `bump..capacity` were never handed out.
    bump: u32,
    /// First object of the free list, or [`NO_OBJECT`].
    free: u32,
    _reserved: u32,
    /// Neighbours in the node's list (physical addresses), or [`NO_SLAB`].
    prev: u64,
    next: u64,
}

/// One node's slabs.
#[repr(align(64))]
struct NodeSlabs {
    /// First slab with a free object, or [`NO_SLAB`].
    head: u64,
    slabs: u64,
    empty_slabs: u64,
    objects: u64,
}

impl NodeSlabs {
    const fn new() -> NodeSlabs {
        NodeSlabs { head: NO_SLAB, slabs: 0, empty_slabs: 0, objects: 0 }
    }
}

/// A cache of objects of one size and alignment, with slabs on every node.
pub struct SlabCache<'f> {
    frames: &'f Frames,
    geometry: Geometry,
    nodes: PerNode<Mutex<NodeSlabs>>,
    /// Per requesting node: allocations another node served.
    fallbacks: PerNode<AtomicU64>,
}

impl<'f> SlabCache<'f> {
    /// A cache of `size`-byte objects aligned to `align`, growing from `frames`;
    /// usable in a `static`.
    ///
    /// # Panics
    /// When `align` is not a power of two or exceeds a page, or one object does not
    /// fit into a slab of [`MAX_SLAB_FRAMES`] frames. In a `const` or `static` that is a
    /// compile-time error.
    pub const fn new(frames: &'f Frames, size: usize, align: usize) -> SlabCache<'f> {
        SlabCache {
            frames,
            geometry: Geometry::new(size, align),
            nodes: PerNode::new([const { Mutex::new(NodeSlabs::new()) }; MAX_NODES]),
            fallbacks: PerNode::new([const { AtomicU64::new(0) }; MAX_NODES]),
        }
    }

    /// A cache for objects of type `T`.
    pub const fn for_type<T>(frames: &'f Frames) -> SlabCache<'f> {
        SlabCache::new(frames, size_of::<T>(), align_of::<T>())
    }

    /// What one object costs a quota: its size rounded up to its alignment.
    pub fn object_bytes(&self) -> u64 {
        self.geometry.stride as u64
    }

    /// Objects per slab.
    pub fn objects_per_slab(&self) -> usize {
        self.geometry.capacity as usize
    }

    /// Frames per slab.
    pub fn slab_frames(&self) -> usize {
        self.geometry.slab_frames
    }

    /// An object on `node` (or, if `fallback` allows and `node` is exhausted, on the
    /// nearest node that can serve), charged to `quota`.
    ///
    /// On any error nothing changed: the quota is as it was, no object is taken.
    pub fn alloc(&self, node: NodeId, fallback: Fallback, quota: &Quota) -> Result<Slot, SlabError> {
        let bytes = self.object_bytes();
        quota.charge(bytes)?;
        let slot = self.alloc_uncharged(node, fallback);
        if slot.is_err() {
            quota.credit(bytes);
        }
        slot
    }

    /// Returns the object at `ptr` to its slab and credits `quota`.
    ///
    /// Checked first: that `ptr` is at an object boundary of a slab of this cache's
    /// geometry, on a node's memory, in a slab whose header matches. Double frees are
    /// not reliably caught.
    ///
    /// # Safety
    /// `ptr` was returned by [`SlabCache::alloc`] of this cache, has not been freed
    /// since, and nothing uses the object any more (the cache writes into it). `quota`
    /// is the quota it was charged to.
    pub unsafe fn free(&self, ptr: NonNull<u8>, quota: &Quota) -> Result<(), SlabError> {
        let g = self.geometry;
        let pa = self.frames.window().pa(ptr.addr().get());
        let base = pa & !(g.slab_bytes() - 1);
        let offset = (pa - base) as usize;
        let not_an_object = SlabError::NotAnObject { pa };
        if offset < g.first || !(offset - g.first).is_multiple_of(g.stride) {
            return Err(not_an_object);
        }
        let index = ((offset - g.first) / g.stride) as u32;
        if index >= g.capacity {
            return Err(not_an_object);
        }
        let node = self.frames.node_of(base).ok_or(not_an_object)?;
        let mut locked = self.lock(node);
        // SAFETY: the caller guarantees `ptr` is a live object of this cache; objects
        // lie in slabs aligned to the slab size, so `base` is its slab, a live slab
        // (it has an object in use) allocated on the node that owns its memory,
        // `node`, whose lock we hold.
        let slab = unsafe { SlabRef::assume(base) };
        let release = locked.put(slab, index).ok_or(not_an_object)?;
        drop(locked);
        quota.credit(self.object_bytes());
        if let Some(slab) = release {
            self.release(slab);
        }
        Ok(())
    }

    /// Returns every empty slab to the frame allocator; the number of slabs returned.
    pub fn shrink(&self) -> usize {
        let mut released = 0;
        for i in 0..MAX_NODES {
            let Some(node) = NodeId::new(i as u32) else { continue };
            loop {
                let slab = self.lock(node).take_empty();
                let Some(slab) = slab else { break };
                self.release(slab);
                released += 1;
            }
        }
        released
    }

    /// The counters of `node`.
    pub fn stats(&self, node: NodeId) -> SlabStats {
        let list = self.nodes[node].lock();
        SlabStats {
            slabs: list.slabs,
            empty_slabs: list.empty_slabs,
            objects: list.objects,
            fallbacks: self.fallbacks[node].load(Ordering::Relaxed),
        }
    }

    fn alloc_uncharged(&self, node: NodeId, fallback: Fallback) -> Result<Slot, SlabError> {
        if let Some(pa) = self.alloc_from(node) {
            return Ok(self.slot(pa, node, false));
        }
        if fallback == Fallback::Never {
            return Err(SlabError::Exhausted { node });
        }
        for other in self.frames.fallback_order(node) {
            if let Some(pa) = self.alloc_from(other) {
                self.fallbacks[node].fetch_add(1, Ordering::Relaxed);
                return Ok(self.slot(pa, other, true));
            }
        }
        Err(SlabError::NoMemoryAnywhere)
    }

    /// An object from `node`'s slabs, growing them by one slab if they are full.
    fn alloc_from(&self, node: NodeId) -> Option<u64> {
        let mut locked = self.lock(node);
        if let Some(pa) = locked.take() {
            return Some(pa);
        }
        let base = self.frames.alloc_on(node, self.geometry.slab_frames).ok()?;
        locked.grow(base);
        locked.take()
    }

    fn slot(&self, pa: u64, node: NodeId, fell_back: bool) -> Slot {
        let va = self.frames.window().va(pa);
        let ptr = NonNull::new(ptr::with_exposed_provenance_mut::<u8>(va))
            .expect("the frame allocator never hands out memory at address 0");
        Slot { ptr, pa, node, fell_back }
    }

    /// Gives an unlinked, empty slab back to the frame allocator.
    fn release(&self, slab: SlabRef) {
        // SAFETY: `slab` came from `alloc_on` with this count (`grow`), is off every
        // list and has no object in use, so nothing refers to it any more.
        let freed = unsafe { self.frames.free(slab.0, self.geometry.slab_frames) };
        freed.expect("a slab goes back to the frame allocator it came from");
    }

    fn lock(&self, node: NodeId) -> Locked<'_> {
        Locked { list: self.nodes[node].lock(), window: self.frames.window(), g: self.geometry }
    }
}

/// The physical address of a live slab of the locked node: the proof that reaching
/// its header is sound. Made only from a fresh slab (`grow`), from list links, and
/// from the checked address of an object being freed ([`SlabRef::assume`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SlabRef(u64);

impl SlabRef {
    /// # Safety
    /// `base` is a live slab (initialised by `grow`, not released) of the cache and of
    /// the node whose lock the user of the reference holds.
    unsafe fn assume(base: u64) -> SlabRef {
        SlabRef(base)
    }

    fn link(pa: u64) -> Option<SlabRef> {
        (pa != NO_SLAB).then_some(SlabRef(pa))
    }
}

/// A node's slabs with its lock held: every header access goes through here.
struct Locked<'c> {
    list: MutexGuard<'c, NodeSlabs>,
    window: Window,
    g: Geometry,
}

impl Locked<'_> {
    /// The header of `slab`. Borrowing `self` mutably makes one header reference live
    /// at a time.
    fn header(&mut self, slab: SlabRef) -> &mut Header {
        let va = self.window.va(slab.0);
        // SAFETY: a `SlabRef` names a live slab of this node (see its constructors);
        // the slab's first bytes are an initialised `Header` (written by `init`),
        // aligned (slabs are frame aligned), reachable through the window, and only
        // touched while this node's lock, held by `self`, is held.
        unsafe { &mut *ptr::with_exposed_provenance_mut::<Header>(va) }
    }

    /// The address of object `index` of `slab`.
    fn object(&self, slab: SlabRef, index: u32) -> u64 {
        slab.0 + (self.g.first + index as usize * self.g.stride) as u64
    }

    /// The free-list link stored in free object `index` of `slab`.
    fn next_free(&self, slab: SlabRef, index: u32) -> u32 {
        let va = self.window.va(self.object(slab, index));
        // SAFETY: the object is on `slab`'s free list (the caller's only use), so the
        // cache owns it and `set_next_free` wrote its first four bytes; objects are
        // at least `MIN_ALIGN` aligned. We hold the node's lock.
        unsafe { ptr::with_exposed_provenance::<u32>(va).read() }
    }

    fn set_next_free(&mut self, slab: SlabRef, index: u32, next: u32) {
        let va = self.window.va(self.object(slab, index));
        // SAFETY: the object was just freed (`put`): the cache owns it again and no
        // one else uses it; it lies inside `slab` (index < capacity), at least
        // `MIN_ALIGN` aligned. We hold the node's lock.
        unsafe { ptr::with_exposed_provenance_mut::<u32>(va).write(next) };
    }

    /// Makes the fresh frames at `base` an empty slab at the front of the list.
    fn grow(&mut self, base: u64) {
        let header = Header {
            magic: MAGIC,
            stride: self.g.stride as u32,
            in_use: 0,
            bump: 0,
            free: NO_OBJECT,
            _reserved: 0,
            prev: NO_SLAB,
            next: NO_SLAB,
        };
        // SAFETY: `base` was just returned by `alloc_on` for a slab's worth of
        // frames: memory no one else uses, reachable through the window, frame
        // aligned; `write` does not read the old (uninitialised) contents.
        unsafe { ptr::with_exposed_provenance_mut::<Header>(self.window.va(base)).write(header) };
        // SAFETY: initialised just above, on this node (`alloc_on` of this node), lock held.
        let slab = unsafe { SlabRef::assume(base) };
        self.push_front(slab);
        self.list.slabs += 1;
        self.list.empty_slabs += 1;
    }

    /// An object from the first slab with one free, as a physical address.
    fn take(&mut self) -> Option<u64> {
        let slab = SlabRef::link(self.list.head)?;
        let h = self.header(slab);
        let (free, bump, was_empty) = (h.free, h.bump, h.in_use == 0);
        let (index, next_free, bump) = match free {
            NO_OBJECT => (bump, NO_OBJECT, bump + 1),
            index => (index, self.next_free(slab, index), bump),
        };
        let capacity = self.g.capacity;
        let h = self.header(slab);
        h.free = next_free;
        h.bump = bump;
        h.in_use += 1;
        let full = h.in_use == capacity;
        if was_empty {
            self.list.empty_slabs -= 1;
        }
        if full {
            self.unlink(slab);
        }
        self.list.objects += 1;
        Some(self.object(slab, index))
    }

    /// Returns object `index` to `slab`; `None` if the header says this cannot be an
    /// object in use of this cache. `Some(Some(slab))` when the slab became empty and
    /// must go back to the frame allocator (it is off the list already).
    fn put(&mut self, slab: SlabRef, index: u32) -> Option<Option<SlabRef>> {
        let (capacity, stride) = (self.g.capacity, self.g.stride as u32);
        let h = self.header(slab);
        if h.magic != MAGIC || h.stride != stride || h.in_use == 0 || index >= h.bump {
            return None;
        }
        let was_full = h.in_use == capacity;
        let next = h.free;
        h.free = index;
        h.in_use -= 1;
        let empty = h.in_use == 0;
        self.set_next_free(slab, index, next);
        self.list.objects -= 1;
        if was_full {
            self.push_front(slab);
        }
        if !empty {
            return Some(None);
        }
        if self.list.empty_slabs < KEEP_EMPTY {
            self.list.empty_slabs += 1;
            return Some(None);
        }
        self.unlink(slab);
        self.list.slabs -= 1;
        Some(Some(slab))
    }

    /// Unlinks one empty slab, for [`SlabCache::shrink`].
    fn take_empty(&mut self) -> Option<SlabRef> {
        let mut cursor = SlabRef::link(self.list.head);
        while let Some(slab) = cursor {
            let h = self.header(slab);
            let (empty, next) = (h.in_use == 0, h.next);
            if empty {
                self.unlink(slab);
                self.list.slabs -= 1;
                self.list.empty_slabs -= 1;
                return Some(slab);
            }
            cursor = SlabRef::link(next);
        }
        None
    }

    fn push_front(&mut self, slab: SlabRef) {
        let old = self.list.head;
        let h = self.header(slab);
        h.prev = NO_SLAB;
        h.next = old;
        if let Some(old) = SlabRef::link(old) {
            self.header(old).prev = slab.0;
        }
        self.list.head = slab.0;
    }

    fn unlink(&mut self, slab: SlabRef) {
        let h = self.header(slab);
        let (prev, next) = (h.prev, h.next);
        h.prev = NO_SLAB;
        h.next = NO_SLAB;
        match SlabRef::link(prev) {
            Some(prev) => self.header(prev).next = next,
            None => self.list.head = next,
        }
        if let Some(next) = SlabRef::link(next) {
            self.header(next).prev = prev;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::PhysRange;
    use std::collections::BTreeSet;

    const P: u64 = PAGE_SIZE;
    /// Host "physical" memory: physical addresses are host addresses (offset 0).
    const HOST: Window = Window::new(0, 1 << 56);

    fn n(raw: u32) -> NodeId {
        NodeId::new(raw).unwrap()
    }

    /// Host memory standing in for the RAM of nodes: `pages[k]` pages on node `k`.
    struct Machine {
        frames: Box<Frames>,
        _backing: Vec<Vec<u8>>,
    }

    fn machine(pages: &[u64]) -> Machine {
        let frames = Box::new(Frames::with_window(HOST));
        let mut backing = Vec::new();
        for (k, &p) in pages.iter().enumerate().filter(|(_, p)| **p > 0) {
            let align = p.next_power_of_two() * P;
            let mem = vec![0u8; (p * P + align) as usize];
            let base = (mem.as_ptr() as u64).next_multiple_of(align);
            // SAFETY: host memory owned by the returned machine, used by nothing else.
            unsafe { frames.add_free(n(k as u32), PhysRange { base, size: p * P }) }.unwrap();
            backing.push(mem);
        }
        Machine { frames, _backing: backing }
    }

    /// Distances for four nodes, deliberately asymmetric (as in `frames`' tests).
    fn four_node_distance(a: NodeId, b: NodeId) -> u8 {
        const D: [[u8; 4]; 4] = [[10, 20, 30, 15], [25, 10, 15, 30], [30, 15, 10, 20], [15, 30, 20, 10]];
        D.get(a.index()).and_then(|row| row.get(b.index())).copied().unwrap_or(40)
    }

    /// A 56-byte object, about an MDB entry.
    const ENTRY: (usize, usize) = (56, 8);

    fn free(cache: &SlabCache<'_>, slot: Slot, quota: &Quota) -> Result<(), SlabError> {
        // SAFETY: every test frees only slots its cache handed out, once, and keeps no
        // reference into them; the rejection tests pass addresses the checks refuse.
        unsafe { cache.free(slot.ptr, quota) }
    }

    #[test]
    fn geometry_fits_small_objects_in_one_frame_and_large_ones_in_a_few() {
        let g = Geometry::new(56, 8);
        assert_eq!((g.stride, g.first, g.slab_frames), (56, 40, 1));
        assert_eq!(g.capacity, (4096 - 40) / 56);
        let g = Geometry::new(64, 64);
        assert_eq!((g.first, g.capacity, g.slab_frames), (64, 63, 1));
        let g = Geometry::new(2048, 16);
        assert_eq!((g.slab_frames, g.capacity), (8, 15), "2 KiB objects: 8 frames, 15 objects");
        let g = Geometry::new(1, 1);
        assert_eq!(g.stride, MIN_ALIGN, "room for the free-list link");
        let g = Geometry::new(40000, 8);
        assert_eq!((g.slab_frames, g.capacity), (MAX_SLAB_FRAMES, 1));
    }

    #[test]
    fn objects_lie_in_the_frames_of_the_requested_node() {
        let m = machine(&[16, 16, 16]);
        let cache = SlabCache::new(&m.frames, ENTRY.0, ENTRY.1);
        let quota = Quota::unlimited();
        for node in [2, 0, 1, 2] {
            for _ in 0..100 {
                let slot = cache.alloc(n(node), Fallback::Never, &quota).unwrap();
                assert_eq!(m.frames.node_of(slot.pa), Some(n(node)));
                assert_eq!((slot.node, slot.fell_back), (n(node), false));
                assert_eq!(slot.ptr.addr().get() as u64, slot.pa, "host window: va = pa");
            }
        }
        assert_eq!(cache.stats(n(2)).objects, 200);
        assert_eq!(cache.stats(n(0)).objects, 100);
        assert_eq!(quota.used(), 400 * 56);
    }

    #[test]
    fn the_cache_grows_by_one_slab_when_a_nodes_slabs_are_full() {
        let m = machine(&[8]);
        let cache = SlabCache::new(&m.frames, ENTRY.0, ENTRY.1);
        let quota = Quota::unlimited();
        let per_slab = cache.objects_per_slab();
        assert_eq!(cache.stats(n(0)), SlabStats::default(), "no slab before the first object");
        for _ in 0..per_slab {
            cache.alloc(n(0), Fallback::Never, &quota).unwrap();
        }
        assert_eq!(cache.stats(n(0)).slabs, 1);
        assert_eq!(m.frames.free_bytes(n(0)), 7 * P);
        let slot = cache.alloc(n(0), Fallback::Never, &quota).unwrap();
        assert_eq!(cache.stats(n(0)).slabs, 2);
        assert_eq!(m.frames.free_bytes(n(0)), 6 * P);
        assert_eq!(slot.pa % P, 40, "the first object of a new slab follows its header");
    }

    #[test]
    fn an_exhausted_node_fails_without_fallback_and_reports_the_fallback_with_it() {
        let m = machine(&[1, 4]);
        let cache = SlabCache::new(&m.frames, ENTRY.0, ENTRY.1);
        let quota = Quota::new(1 << 20);
        let home: Vec<Slot> = (0..cache.objects_per_slab())
            .map(|_| cache.alloc(n(0), Fallback::Never, &quota).unwrap())
            .collect();
        let used = quota.used();
        let err = cache.alloc(n(0), Fallback::Never, &quota);
        assert_eq!(err, Err(SlabError::Exhausted { node: n(0) }));
        assert_eq!(quota.used(), used, "a failed allocation is not charged");

        let slot = cache.alloc(n(0), Fallback::Nearest, &quota).unwrap();
        assert_eq!((slot.node, slot.fell_back), (n(1), true));
        assert_eq!(m.frames.node_of(slot.pa), Some(n(1)));
        // The next fallback uses the partial slab on node 1, not another frame.
        let again = cache.alloc(n(0), Fallback::Nearest, &quota).unwrap();
        assert_eq!((again.node, again.fell_back), (n(1), true));
        assert_eq!(cache.stats(n(1)).slabs, 1);
        assert_eq!(cache.stats(n(0)).fallbacks, 2, "counted on the requesting node");
        assert_eq!(cache.stats(n(1)).fallbacks, 0);
        // Node 1's own allocations are not fallbacks, and share the slab.
        let own = cache.alloc(n(1), Fallback::Nearest, &quota).unwrap();
        assert!(!own.fell_back);
        assert_eq!(cache.stats(n(1)).slabs, 1);
        // Freeing an object of node 0 makes room at home: no fallback any more.
        free(&cache, home[3], &quota).unwrap();
        let back = cache.alloc(n(0), Fallback::Nearest, &quota).unwrap();
        assert_eq!((back.pa, back.node, back.fell_back), (home[3].pa, n(0), false));
        free(&cache, slot, &quota).unwrap();
        assert_eq!(cache.stats(n(1)).objects, 2);
        assert_eq!(cache.stats(n(0)).fallbacks, 2);
    }

    #[test]
    fn fallback_goes_to_the_nearest_node_by_distance() {
        let m = machine(&[0, 4, 4, 4]);
        m.frames.set_distances(four_node_distance);
        let cache = SlabCache::new(&m.frames, 2048, 8);
        let quota = Quota::unlimited();
        // Node 0 has no memory; its order is 3, 1, 2. Node 3 has 4 frames: one slab
        // of 8 frames does not fit there, nor on 1 or 2.
        assert_eq!(cache.alloc(n(0), Fallback::Nearest, &quota), Err(SlabError::NoMemoryAnywhere));
        let small = SlabCache::new(&m.frames, 256, 8);
        let slot = small.alloc(n(0), Fallback::Nearest, &quota).unwrap();
        assert_eq!((slot.node, slot.fell_back), (n(3), true));
        assert_eq!(quota.used(), 256);
    }

    #[test]
    fn no_memory_anywhere_is_an_error_and_charges_nothing() {
        let m = machine(&[1, 1]);
        let cache = SlabCache::new(&m.frames, 1024, 8);
        let quota = Quota::new(1 << 20);
        // A slab of 1 KiB objects takes 4 frames: no node has them.
        assert_eq!(cache.slab_frames(), 4);
        assert_eq!(cache.alloc(n(0), Fallback::Nearest, &quota), Err(SlabError::NoMemoryAnywhere));
        assert_eq!(cache.alloc(n(1), Fallback::Never, &quota), Err(SlabError::Exhausted { node: n(1) }));
        assert_eq!(quota.used(), 0);
        assert_eq!(cache.stats(n(0)), SlabStats::default());
    }

    #[test]
    fn an_exceeded_quota_refuses_without_side_effects_and_a_free_credits_it() {
        let m = machine(&[8]);
        let cache = SlabCache::new(&m.frames, ENTRY.0, ENTRY.1);
        let quota = Quota::new(3 * cache.object_bytes() + 10);
        let slots: Vec<Slot> = (0..3).map(|_| cache.alloc(n(0), Fallback::Never, &quota).unwrap()).collect();
        let stats = cache.stats(n(0));
        let free_bytes = m.frames.free_bytes(n(0));
        let err = cache.alloc(n(0), Fallback::Nearest, &quota);
        assert_eq!(err, Err(SlabError::QuotaExceeded { limit: 3 * 56 + 10, used: 3 * 56, asked: 56 }));
        assert_eq!(cache.stats(n(0)), stats);
        assert_eq!(m.frames.free_bytes(n(0)), free_bytes);
        assert_eq!(quota.used(), 3 * 56);
        free(&cache, slots[1], &quota).unwrap();
        assert_eq!(quota.used(), 2 * 56);
        assert!(cache.alloc(n(0), Fallback::Never, &quota).is_ok());
        // A second space's quota is independent.
        let other = Quota::new(56);
        assert!(cache.alloc(n(0), Fallback::Never, &other).is_ok());
        assert!(cache.alloc(n(0), Fallback::Never, &other).is_err());
    }

    #[test]
    fn an_unlimited_quota_never_refuses_and_still_counts() {
        let q = Quota::unlimited();
        assert_eq!(q.limit(), None);
        q.charge(u64::MAX / 2).unwrap();
        q.charge(1000).unwrap();
        assert_eq!(q.used(), u64::MAX / 2 + 1000);
        q.credit(1000);
        assert_eq!(Quota::new(5).limit(), Some(5));
    }

    #[test]
    fn freed_objects_are_reused_before_the_cache_grows() {
        let m = machine(&[8]);
        let cache = SlabCache::new(&m.frames, ENTRY.0, ENTRY.1);
        let quota = Quota::unlimited();
        let slots: Vec<Slot> = (0..10).map(|_| cache.alloc(n(0), Fallback::Never, &quota).unwrap()).collect();
        let freed: BTreeSet<u64> = slots.iter().step_by(2).map(|s| s.pa).collect();
        for s in slots.iter().step_by(2) {
            free(&cache, *s, &quota).unwrap();
        }
        assert_eq!(cache.stats(n(0)).objects, 5);
        let again: BTreeSet<u64> =
            (0..5).map(|_| cache.alloc(n(0), Fallback::Never, &quota).unwrap().pa).collect();
        assert_eq!(again, freed);
        assert_eq!(cache.stats(n(0)).slabs, 1);
    }

    #[test]
    fn one_empty_slab_is_kept_and_the_others_go_back_to_the_frame_allocator() {
        let m = machine(&[8]);
        let cache = SlabCache::new(&m.frames, ENTRY.0, ENTRY.1);
        let quota = Quota::unlimited();
        let count = 3 * cache.objects_per_slab();
        let slots: Vec<Slot> =
            (0..count).map(|_| cache.alloc(n(0), Fallback::Never, &quota).unwrap()).collect();
        assert_eq!(cache.stats(n(0)).slabs, 3);
        assert_eq!(m.frames.free_bytes(n(0)), 5 * P);
        for s in slots.iter().rev() {
            free(&cache, *s, &quota).unwrap();
        }
        let stats = cache.stats(n(0));
        assert_eq!((stats.slabs, stats.empty_slabs, stats.objects), (1, 1, 0));
        assert_eq!(m.frames.free_bytes(n(0)), 7 * P);
        assert_eq!(quota.used(), 0);
        // The kept slab serves the next object without a new frame.
        let s = cache.alloc(n(0), Fallback::Never, &quota).unwrap();
        assert_eq!(m.frames.free_bytes(n(0)), 7 * P);
        assert_eq!(cache.stats(n(0)).empty_slabs, 0);
        free(&cache, s, &quota).unwrap();
        assert_eq!(cache.shrink(), 1);
        assert_eq!(cache.stats(n(0)).slabs, 0);
        assert_eq!(m.frames.free_bytes(n(0)), 8 * P);
        assert!(m.frames.alloc_on(n(0), 8).is_ok(), "every frame came back and coalesced");
    }

    #[test]
    fn thousands_of_objects_are_distinct_aligned_writable_and_all_come_back() {
        let m = machine(&[128, 128]);
        let cache = SlabCache::new(&m.frames, 64, 64);
        let quota = Quota::unlimited();
        let mut slots = Vec::new();
        for i in 0..5000u32 {
            let slot = cache.alloc(n(i % 2), Fallback::Never, &quota).unwrap();
            assert_eq!(slot.pa % 64, 0);
            assert_eq!(m.frames.node_of(slot.pa), Some(n(i % 2)));
            // SAFETY: a fresh 64-byte object of this cache, used by nothing else.
            unsafe { core::ptr::write_bytes(slot.ptr.as_ptr(), i as u8, 64) };
            slots.push((slot, i as u8));
        }
        let distinct: BTreeSet<u64> = slots.iter().map(|(s, _)| s.pa).collect();
        assert_eq!(distinct.len(), slots.len());
        for (slot, byte) in &slots {
            // SAFETY: as above; only this test wrote it.
            let object = unsafe { core::slice::from_raw_parts(slot.ptr.as_ptr(), 64) };
            assert!(object.iter().all(|b| b == byte), "objects overlap");
        }
        // Free in a scrambled order (a stride coprime to the count).
        for k in 0..slots.len() {
            let (slot, _) = slots[(k * 7919) % slots.len()];
            free(&cache, slot, &quota).unwrap();
        }
        assert_eq!(quota.used(), 0);
        cache.shrink();
        for node in [0, 1] {
            assert_eq!(cache.stats(n(node)).slabs, 0);
            assert_eq!(m.frames.free_bytes(n(node)), 128 * P);
        }
    }

    #[test]
    fn objects_of_different_sizes_get_their_own_fitting_slabs() {
        let m = machine(&[256]);
        let quota = Quota::unlimited();
        for (size, align) in [(48, 8), (56, 8), (64, 64), (1024, 8), (1536, 64), (2048, 16), (4000, 8)] {
            let cache = SlabCache::new(&m.frames, size, align);
            assert!(cache.objects_per_slab() >= MIN_OBJECTS_PER_SLAB, "{size}");
            let slab_bytes = cache.slab_frames() as u64 * P;
            let mut slots = Vec::new();
            for i in 0..3 * cache.objects_per_slab() {
                let slot = cache.alloc(n(0), Fallback::Never, &quota).unwrap();
                assert_eq!(slot.pa % align as u64, 0, "{size}: aligned");
                let base = slot.pa & !(slab_bytes - 1);
                assert!(slot.pa + size as u64 <= base + slab_bytes, "{size}: inside its slab");
                // SAFETY: a fresh object of `size` bytes, used by nothing else.
                unsafe { core::ptr::write_bytes(slot.ptr.as_ptr(), i as u8, size) };
                slots.push(slot);
            }
            assert_eq!(cache.stats(n(0)).slabs, 3);
            for s in slots {
                free(&cache, s, &quota).unwrap();
            }
            cache.shrink();
        }
        assert_eq!(m.frames.free_bytes(n(0)), 256 * P);
        assert_eq!(SlabCache::for_type::<[u64; 7]>(&m.frames).object_bytes(), 56);
    }

    #[test]
    fn frees_of_addresses_that_are_not_objects_are_rejected() {
        let m = machine(&[8]);
        let cache = SlabCache::new(&m.frames, ENTRY.0, ENTRY.1);
        let other = SlabCache::new(&m.frames, 128, 8);
        let quota = Quota::unlimited();
        let slot = cache.alloc(n(0), Fallback::Never, &quota).unwrap();
        let at = |pa: u64| Slot { ptr: NonNull::new(pa as *mut u8).unwrap(), ..slot };
        let base = slot.pa & !(P - 1);
        let reject = |pa| Err(SlabError::NotAnObject { pa });
        assert_eq!(free(&cache, at(base), &quota), reject(base), "the header");
        assert_eq!(free(&cache, at(slot.pa + 8), &quota), reject(slot.pa + 8), "inside an object");
        let unused = base + 40 + 56;
        assert_eq!(free(&cache, at(unused), &quota), reject(unused), "never handed out");
        // A frame of the node that is no slab: its zeroed "header" has no magic.
        let frame = m.frames.alloc_on(n(0), 1).unwrap();
        assert_eq!(free(&cache, at(frame + 40), &quota), reject(frame + 40));
        // An object of another cache (same node): the stride in the header differs.
        let foreign = other.alloc(n(0), Fallback::Never, &quota).unwrap();
        let mismatched = (foreign.pa & !(P - 1)) + 40 + 56 * 16;
        assert_eq!(free(&cache, at(mismatched), &quota), reject(mismatched));
        assert_eq!(cache.stats(n(0)).objects, 1);
        assert_eq!(quota.used(), 56 + 128);
        free(&cache, slot, &quota).unwrap();
        assert_eq!(free(&cache, slot, &quota), reject(slot.pa), "a double free of the last object");
    }

    #[test]
    fn cpus_of_different_nodes_allocate_and_free_concurrently() {
        let m = machine(&[64, 64, 64, 64]);
        let cache = SlabCache::new(&m.frames, ENTRY.0, ENTRY.1);
        let quotas: Vec<Quota> = (0..4).map(|_| Quota::new(1 << 20)).collect();
        std::thread::scope(|s| {
            for t in 0..8u32 {
                let (cache, quota) = (&cache, &quotas[(t % 4) as usize]);
                s.spawn(move || {
                    let mut held = Vec::new();
                    for round in 0..2000 {
                        let slot = cache.alloc(n(t % 4), Fallback::Nearest, quota).unwrap();
                        held.push(slot.pa);
                        if round % 3 == 2 {
                            for pa in held.drain(..) {
                                let ptr = NonNull::new(pa as *mut u8).unwrap();
                                // SAFETY: allocated above by this thread, freed once.
                                unsafe { cache.free(ptr, quota) }.unwrap();
                            }
                        }
                    }
                    for pa in held {
                        let ptr = NonNull::new(pa as *mut u8).unwrap();
                        // SAFETY: as above.
                        unsafe { cache.free(ptr, quota) }.unwrap();
                    }
                });
            }
        });
        for (k, quota) in quotas.iter().enumerate() {
            assert_eq!(quota.used(), 0);
            assert_eq!(cache.stats(n(k as u32)).objects, 0);
        }
    }
}
