// SPDX-License-Identifier: MIT OR Apache-2.0
//! Heaps for user programs: one buddy heap per NUMA node, each behind its own lock.
//!
//! A NUMA program's `alloc` (`Vec`, `Box`) takes memory from the arena of the node the
//! calling thread runs on, so what a thread allocates is local to it; `numa_rt` can
//! also ask for another node's arena. Each arena is a range of the program's heap
//! region (`layout::arena`), global memory whose pages the memory server places on
//! the arena's node: any thread of any node can use (and free) any object, it only
//! costs a remote access. A free goes back to the arena the address belongs to,
//! whichever thread frees it.
//!
//! The heaps are `buddy_system_allocator::Heap`s (power-of-two blocks, merged on
//! free), each with a spin lock of its own, so threads of different nodes never
//! contend. A holder of the lock can fault (the allocator writes arena pages first
//! touched under it), and the fault waits for a pager that may share a CPU with a
//! waiter; so a waiter does not only spin: after each failed try it calls the arena's
//! `relax` (`numa_rt` yields the CPU, `ThreadSwitch`), or it could starve the very
//! pager the holder waits for (a one-space run under `-icount` hung so, and spun 55
//! million remote loads where it did not). A heap's bookkeeping (its free-list heads) lives in the [`Arenas`] value,
//! a static of the program; its free lists live in the arena's own memory. Memory comes
//! from the arena lazily: the heap is given the whole arena at once, and pages are
//! faulted in (zeroed, on the arena's node) as the allocator first writes them.
//!
//! The memory server uses one [`Arena`] of its own for its tables.

use buddy_system_allocator::Heap;
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

/// Orders of the buddy heap: blocks up to 2^31 bytes.
const ORDER: usize = 32;

/// One heap behind a spin lock.
pub struct Arena {
    lock: AtomicBool,
    /// Called after each failed try for the lock.
    relax: fn(),
    heap: UnsafeCell<Heap<ORDER>>,
    /// `[start, end)` of the memory given to it (0, 0: none yet).
    range: UnsafeCell<(usize, usize)>,
}

// SAFETY: the heap and the range are only touched with `lock` held (`with`), so the
// arena may be shared between threads.
unsafe impl Sync for Arena {}

impl Arena {
    /// An arena with no memory, whose waiters only spin (one thread, or no faults).
    pub const fn new() -> Arena {
        Arena::with_relax(core::hint::spin_loop)
    }

    /// An arena with no memory whose waiters call `relax` after each failed try (a
    /// yield of the CPU).
    pub const fn with_relax(relax: fn()) -> Arena {
        Arena {
            lock: AtomicBool::new(false),
            relax,
            heap: UnsafeCell::new(Heap::new()),
            range: UnsafeCell::new((0, 0)),
        }
    }

    /// Runs `f` on the heap and its range with the lock held.
    fn with<R>(&self, f: impl FnOnce(&mut Heap<ORDER>, &mut (usize, usize)) -> R) -> R {
        while self.lock.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            (self.relax)();
        }
        // SAFETY: the lock is held: nobody else reaches the heap or the range now.
        let r = f(unsafe { &mut *self.heap.get() }, unsafe { &mut *self.range.get() });
        self.lock.store(false, Ordering::Release);
        r
    }

    /// Gives the arena `[start, end)`, once; false if it has memory already or the range
    /// is empty.
    ///
    /// # Safety
    /// `[start, end)` is memory the program owns and uses for nothing else, readable and
    /// writable for as long as the arena is used.
    pub unsafe fn init(&self, start: usize, end: usize) -> bool {
        self.with(|heap, range| {
            if range.1 != 0 || end <= start {
                return false;
            }
            *range = (start, end);
            // SAFETY: the caller gives the range to this heap alone.
            unsafe { heap.init(start, end - start) };
            true
        })
    }

    /// Whether `ptr` lies in the arena's memory.
    pub fn holds(&self, ptr: usize) -> bool {
        self.with(|_, range| (range.0..range.1).contains(&ptr))
    }

    /// A block for `layout`, or `None`.
    pub fn alloc(&self, layout: Layout) -> Option<NonNull<u8>> {
        self.with(|heap, _| heap.alloc(layout).ok())
    }

    /// Returns a block.
    ///
    /// # Safety
    /// `ptr` came from [`Arena::alloc`] of this arena with this `layout`, and is not
    /// used any more.
    pub unsafe fn dealloc(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: as the caller guarantees.
        self.with(|heap, _| unsafe { heap.dealloc(ptr, layout) })
    }

    /// Bytes the heap has handed out and not got back.
    pub fn allocated(&self) -> usize {
        self.with(|heap, _| heap.stats_alloc_actual())
    }
}

impl Default for Arena {
    fn default() -> Arena {
        Arena::new()
    }
}

/// One [`Arena`] per node slot, and a way to say which one the caller wants.
pub struct Arenas<const N: usize> {
    arenas: [Arena; N],
    /// The slot of the calling thread's node (a function: the program's own way to
    /// know where it runs; `numa_rt` reads the UTCB's CPU word).
    here: fn() -> usize,
}

impl<const N: usize> Arenas<N> {
    /// Arenas without memory; `here` names the caller's node slot, `relax` is what a
    /// thread waiting for an arena's lock does between tries ([`Arena::with_relax`]).
    pub const fn new(here: fn() -> usize, relax: fn()) -> Arenas<N> {
        let mut arenas = [const { Arena::new() }; N];
        let mut i = 0;
        while i < N {
            arenas[i].relax = relax;
            i += 1;
        }
        Arenas { arenas, here }
    }

    /// Arena `slot`.
    pub fn arena(&self, slot: usize) -> Option<&Arena> {
        self.arenas.get(slot)
    }

    /// A block from arena `slot`, falling back to the others in turn when it is out.
    pub fn alloc_on(&self, slot: usize, layout: Layout) -> Option<NonNull<u8>> {
        (0..N).map(|i| (slot + i) % N).find_map(|s| self.arenas[s].alloc(layout))
    }

    /// Returns a block to the arena it belongs to.
    ///
    /// # Safety
    /// `ptr` came from this value's `alloc`/`alloc_on` with `layout`, and is not used any
    /// more.
    pub unsafe fn free(&self, ptr: NonNull<u8>, layout: Layout) {
        if let Some(arena) = self.arenas.iter().find(|a| a.holds(ptr.as_ptr() as usize)) {
            // SAFETY: the block is the arena's (it holds the address), per the caller.
            unsafe { arena.dealloc(ptr, layout) };
        }
    }
}

// SAFETY: `alloc` hands out blocks of the arenas' heaps, each block to one caller until
// it comes back through `dealloc`, which returns it to the arena holding its address;
// the heaps are sized and aligned as `layout` asks (`buddy_system_allocator`'s
// contract).
unsafe impl<const N: usize> GlobalAlloc for Arenas<N> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.alloc_on((self.here)() % N.max(1), layout).map_or(core::ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(ptr) = NonNull::new(ptr) {
            // SAFETY: `GlobalAlloc`'s caller returns a block `alloc` gave it, with its layout.
            unsafe { self.free(ptr, layout) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    static HERE: AtomicUsize = AtomicUsize::new(0);

    fn here() -> usize {
        HERE.load(Ordering::Relaxed)
    }

    #[test]
    fn blocks_come_from_the_callers_arena_and_go_back_to_their_own() {
        let memory: Vec<Box<[u64]>> = (0..3).map(|_| vec![0u64; 8192].into_boxed_slice()).collect();
        let arenas: Arenas<3> = Arenas::new(here, core::hint::spin_loop);
        for (i, m) in memory.iter().enumerate() {
            let start = m.as_ptr() as usize;
            // SAFETY: the test's own memory, used for nothing else while `arenas` lives.
            assert!(unsafe { arenas.arena(i).unwrap().init(start, start + 8 * 8192) });
        }
        let layout = Layout::from_size_align(100, 8).unwrap();
        let mut blocks = Vec::new();
        for slot in 0..3 {
            HERE.store(slot, Ordering::Relaxed);
            // SAFETY: a valid, non-zero layout.
            let p = unsafe { arenas.alloc(layout) };
            assert!(!p.is_null());
            assert!(arenas.arena(slot).unwrap().holds(p as usize), "from the caller's arena");
            blocks.push(p);
        }
        // A thread of another node frees them: each goes back where it belongs.
        HERE.store(0, Ordering::Relaxed);
        for p in blocks {
            // SAFETY: `p` came from `alloc` with `layout`.
            unsafe { arenas.dealloc(p, layout) };
        }
        assert!((0..3).all(|s| arenas.arena(s).unwrap().allocated() == 0));
    }

    #[test]
    fn an_empty_arena_falls_back_and_a_range_is_given_once() {
        let memory = vec![0u64; 4096].into_boxed_slice();
        let arenas: Arenas<2> = Arenas::new(here, core::hint::spin_loop);
        let start = memory.as_ptr() as usize;
        // SAFETY: the test's own memory.
        assert!(unsafe { arenas.arena(1).unwrap().init(start, start + 8 * 4096) });
        // SAFETY: as above; a second range is refused.
        assert!(!unsafe { arenas.arena(1).unwrap().init(start, start + 8) });
        let layout = Layout::from_size_align(64, 8).unwrap();
        let p = arenas.alloc_on(0, layout).expect("falls back to arena 1");
        assert!(arenas.arena(1).unwrap().holds(p.as_ptr() as usize));
        assert!(
            arenas.alloc_on(0, Layout::from_size_align(1 << 20, 8).unwrap()).is_none(),
            "too big anywhere"
        );
    }

    #[test]
    fn a_waiter_relaxes_between_tries_until_the_holder_lets_go() {
        use std::sync::atomic::AtomicUsize;
        static RELAXED: AtomicUsize = AtomicUsize::new(0);
        fn relax() {
            RELAXED.fetch_add(1, Ordering::Relaxed);
            std::thread::yield_now();
        }
        let arena = Box::leak(Box::new(Arena::with_relax(relax)));
        let mem = Box::leak(vec![0u64; 4096].into_boxed_slice());
        let start = mem.as_mut_ptr() as usize;
        // SAFETY: the leaked buffer is the arena's alone.
        assert!(unsafe { arena.init(start, start + 8 * 4096) });
        let holding = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            s.spawn(|| {
                arena.with(|_, _| {
                    holding.wait();
                    while RELAXED.load(Ordering::Relaxed) == 0 {
                        std::thread::yield_now();
                    }
                })
            });
            holding.wait();
            assert!(arena.alloc(Layout::from_size_align(64, 8).unwrap()).is_some());
        });
        assert!(RELAXED.load(Ordering::Relaxed) > 0, "the waiter relaxed while the lock was held");
    }
}
