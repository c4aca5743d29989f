// SPDX-License-Identifier: MIT OR Apache-2.0
//! The thread table: which TCB a thread number names, and which CPU owns it.
//!
//! # Why
//! The IPC and fault fast paths ([`super::fastpath`]) run without the general lock
//! (see "Locking" in [`super`]): a CPU takes only its own lock, `PerCpu::sched`, and may
//! then touch only the threads it *owns*. To know that, it must read a thread's slot
//! while another CPU, holding the general lock, may be creating, moving or deleting
//! some other thread. So the table is not a field of [`super::Kernel`] (whose `&mut`
//! the general path holds) but a table of its own, shared by reference, whose slots are
//! atomics: a TCB pointer and the number of the CPU that owns the thread.
//!
//! # Protocol
//! - A slot is written only by the holder of the general lock, and only while it also
//!   holds the lock of every CPU the write concerns (the owner before the write and
//!   the owner after it: `Kernel::tcb` and `Kernel::hold` take those), or runs on that
//!   CPU (whose fast path then cannot run). A deleted thread's slot keeps no owner
//!   ([`NO_OWNER`]).
//! - So while CPU `c` holds its own lock, a slot whose owner reads `c` cannot change:
//!   every write that makes `c` the owner, or takes it away, needs `c`'s lock or `c`
//!   itself. The
//!   fast path of `c` may then use that slot's TCB as its own (`&mut`); a slot with
//!   another owner it leaves alone (the general path handles that IPC).
//! - Loads and stores are `Relaxed`: the CPU locks order them (a writer's release of
//!   `c`'s lock happens before `c`'s next acquire).
//!
//! The owner is kept here, beside the pointer, and not only in the TCB (`Tcb::cpu`,
//! which equals it): a fast path must decide whether a TCB is its own *before* it
//! reads the TCB, which another CPU may be changing.
//!
//! [`Local`] is the fast path's view: its CPU's scheduler state, locked, and the TCBs
//! that CPU owns, borrowed from the guard (so no two `&mut` to one TCB can exist).
//!
//! # Not yet
//! One table for the machine, in the kernel image, with [`MAX_THREADS`] slots: the
//! per-node tables of issue 15 (slots in each node's memory, named by thread ids that
//! say which node's table holds them, grown from the node's memory) replace it.

use crate::percpu::{CpuSched, PerCpu};
use crate::sync::MutexGuard;
use crate::thread::{MAX_THREADS, Tcb};
use crate::timeouts::{Links, Nodes};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

/// The owner of an empty slot: no CPU.
pub const NO_OWNER: u32 = u32::MAX;

/// One thread number's slot: its TCB and the CPU that owns it.
#[repr(C)]
struct Slot {
    tcb: AtomicPtr<Tcb>,
    owner: AtomicU32,
}

/// Every thread's TCB, by number.
pub struct Threads {
    slots: [Slot; MAX_THREADS],
}

impl Default for Threads {
    fn default() -> Self {
        Threads::new()
    }
}

impl Threads {
    /// An empty table.
    pub const fn new() -> Threads {
        Threads {
            slots: [const { Slot { tcb: AtomicPtr::new(core::ptr::null_mut()), owner: AtomicU32::new(NO_OWNER) } };
                MAX_THREADS],
        }
    }

    /// Thread `number`'s TCB and owner, if it exists.
    #[inline(always)]
    pub fn get(&self, number: u32) -> Option<(NonNull<Tcb>, u32)> {
        let slot = self.slots.get(number as usize)?;
        let tcb = NonNull::new(slot.tcb.load(Ordering::Relaxed))?;
        Some((tcb, slot.owner.load(Ordering::Relaxed)))
    }

    /// Thread `number`'s TCB if CPU `cpu` owns it: the fast path's lookup.
    #[inline(always)]
    pub fn owned_by(&self, number: u32, cpu: usize) -> Option<NonNull<Tcb>> {
        let slot = self.slots.get(number as usize)?;
        // The owner first: only a slot `cpu` owns is stable while `cpu` holds its lock.
        if slot.owner.load(Ordering::Relaxed) as usize != cpu {
            return None;
        }
        NonNull::new(slot.tcb.load(Ordering::Relaxed))
    }

    /// Whether slot `number` is free (no thread).
    pub fn is_free(&self, number: u32) -> bool {
        self.get(number).is_none()
    }

    /// Fills slot `number` (the caller holds the general lock and `owner`'s lock, or
    /// runs on `owner`).
    pub fn set(&self, number: u32, tcb: NonNull<Tcb>, owner: u32) {
        if let Some(slot) = self.slots.get(number as usize) {
            slot.owner.store(owner, Ordering::Relaxed);
            slot.tcb.store(tcb.as_ptr(), Ordering::Relaxed);
        }
    }

    /// Gives thread `number` a new owner (the caller holds the general lock and both
    /// owners' locks, or runs on one of them and holds the other's).
    pub fn set_owner(&self, number: u32, owner: u32) {
        if let Some(slot) = self.slots.get(number as usize)
            && !slot.tcb.load(Ordering::Relaxed).is_null()
        {
            slot.owner.store(owner, Ordering::Relaxed);
        }
    }

    /// Empties slot `number` (the caller holds the general lock and the owner's lock,
    /// or runs on the owner); returns the TCB it held.
    pub fn clear(&self, number: u32) -> Option<NonNull<Tcb>> {
        let slot = self.slots.get(number as usize)?;
        let old = NonNull::new(slot.tcb.swap(core::ptr::null_mut(), Ordering::Relaxed));
        slot.owner.store(NO_OWNER, Ordering::Relaxed);
        old
    }
}

/// A TCB that a [`Local`] found owned by its CPU ([`Local::tcb_owned`]): while that
/// view lives (its lock held) the thread stays its CPU's. Only a view makes one.
#[derive(Clone, Copy)]
pub struct Owned(NonNull<Tcb>);

/// A fast path's view of the kernel: `me`'s scheduler state, locked, and the threads
/// `me` owns. Every TCB it hands out is borrowed from the view, so the borrow checker
/// keeps them apart from each other and from the lock's lifetime.
pub struct Local<'a> {
    /// `me`'s scheduler state.
    pub sched: MutexGuard<'a, CpuSched>,
    /// The CPU.
    pub me: &'a PerCpu,
    threads: &'a Threads,
}

impl<'a> Local<'a> {
    /// Takes `me`'s lock.
    #[inline(always)]
    pub fn lock(threads: &'a Threads, me: &'a PerCpu) -> Local<'a> {
        Local { sched: me.sched.lock(), me, threads }
    }

    /// The table.
    #[inline(always)]
    pub fn threads(&self) -> &'a Threads {
        self.threads
    }

    /// Thread `t`, if `me` owns it.
    #[inline(always)]
    pub fn tcb(&mut self, t: u32) -> Option<&mut Tcb> {
        let ptr = self.threads.owned_by(t, self.me.index)?;
        // SAFETY: `me` owns thread `t` and this view holds `me`'s lock, so nothing else
        // reaches the TCB until the lock goes (see the module's protocol: its slot, and
        // so the frame it names, cannot change meanwhile); the reference borrows the
        // view mutably, so it is the only one made through it.
        Some(unsafe { &mut *ptr.as_ptr() })
    }

    /// Thread `t`, if `me` owns it, with the proof of that for [`Local::two_with`] (so
    /// a fast path that reads the caller first does not look it up twice).
    #[inline(always)]
    pub fn tcb_owned(&mut self, t: u32) -> Option<(&mut Tcb, Owned)> {
        let ptr = self.threads.owned_by(t, self.me.index)?;
        // SAFETY: as in `tcb`.
        Some((unsafe { &mut *ptr.as_ptr() }, Owned(ptr)))
    }

    /// Threads `a` and `b` (different), both `me`'s, and the scheduler state.
    #[inline(always)]
    pub fn two(&mut self, a: u32, b: u32) -> Option<(&mut Tcb, &mut Tcb, &mut CpuSched)> {
        if a == b {
            return None;
        }
        let pa = self.threads.owned_by(a, self.me.index)?;
        self.pair(pa, b)
    }

    /// [`Local::two`] for an `a` this view found owned already ([`Local::tcb_owned`]).
    #[inline(always)]
    pub fn two_with(&mut self, a: Owned, b: u32) -> Option<(&mut Tcb, &mut Tcb, &mut CpuSched)> {
        self.pair(a.0, b)
    }

    /// `pa` (a TCB `me` owns) and thread `b`, if `me` owns it and it is another.
    #[inline(always)]
    fn pair(&mut self, pa: NonNull<Tcb>, b: u32) -> Option<(&mut Tcb, &mut Tcb, &mut CpuSched)> {
        let pb = self.threads.owned_by(b, self.me.index)?;
        if pa == pb {
            return None;
        }
        // SAFETY: as in `tcb`, for both (`pa` was found owned by `me` under this view's
        // lock, which is still held, so it still is); they are different objects.
        let first = unsafe { &mut *pa.as_ptr() };
        // SAFETY: as above, for the other, different TCB.
        let second = unsafe { &mut *pb.as_ptr() };
        Some((first, second, &mut self.sched))
    }

    /// Thread `t` (`me`'s) no longer waits with a timeout: out of `me`'s queue, which
    /// this view's lock protects (`super::time`'s "Locking"). Nothing when it had none.
    #[inline(never)]
    pub fn disarm_timeout(&mut self, t: u32) {
        if self.tcb(t).is_none_or(|tcb| tcb.deadline == 0) {
            return;
        }
        // The queue is two words: worked on as a copy, so the nodes can be reached
        // through the view meanwhile.
        let mut queue = self.sched.timeouts;
        let removed = queue.remove(self, t);
        debug_assert!(removed, "invariant: a thread with a deadline is in its CPU's queue");
        self.sched.timeouts = queue;
        if let Some(tcb) = self.tcb(t) {
            tcb.deadline = 0;
        }
    }
}

/// The threads of a fast path's CPU as the nodes of its timeout queue: every thread in
/// it is one the CPU owns.
impl Nodes for Local<'_> {
    fn deadline(&mut self, t: u32) -> u64 {
        self.tcb(t).expect("invariant: a CPU's timeout queue holds only threads it owns").deadline
    }

    fn links(&mut self, t: u32) -> &mut Links {
        &mut self.tcb(t).expect("invariant: a CPU's timeout queue holds only threads it owns").timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_found_only_by_its_owner_and_forgets_it_when_cleared() {
        let t = Threads::new();
        let tcb = Box::leak(Box::new(Tcb::new(5, 1, 0, 2, platform::NodeId::ZERO)));
        let ptr = NonNull::from(&mut *tcb);
        assert!(t.is_free(5));
        t.set(5, ptr, 2);
        assert_eq!(t.get(5), Some((ptr, 2)));
        assert_eq!(t.owned_by(5, 2), Some(ptr));
        assert_eq!(t.owned_by(5, 1), None, "another CPU's thread");
        t.set_owner(5, 1);
        assert_eq!(t.owned_by(5, 1), Some(ptr));
        assert_eq!(t.clear(5), Some(ptr));
        assert_eq!(t.get(5), None);
        assert_eq!(t.owned_by(5, NO_OWNER as usize), None, "an empty slot has no owner to match");
        t.set_owner(5, 3);
        assert!(t.is_free(5), "no owner without a thread");
        assert_eq!(t.get(MAX_THREADS as u32), None, "beyond the table");
    }
}
