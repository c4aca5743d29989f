// SPDX-License-Identifier: MIT OR Apache-2.0
//! Time in the L4 core: each CPU's timeout queue, time slices, and the one-shot timer.
//!
//! # Design
//! The kernel is tickless. Each CPU keeps the threads that wait on it with a timeout
//! in a queue ordered by deadline (`crate::timeouts`, linked through the TCBs), and
//! its running thread's slice end (`CpuSched::slice_end`). On its way out of the
//! kernel (`Kernel::trap`, `Kernel::idle`) the CPU sets its one-shot timer
//! ([`super::Machine::set_timer`]) for the earlier of the two: an idle CPU with no
//! timeouts sets none at all and sleeps until something else wakes it. When the
//! timer fires, the CPU ends the waits that are due (`ipc::expire_timeouts`), in
//! deadline order, and rotates the running thread if its slice is over.
//!
//! Deadlines are system-counter values (`deadline_of`: the timeout in microseconds,
//! converted with the counter's frequency and rounded up, so a wait never ends early).
//! A thread's timeout lives in the queue of the CPU it is placed on (`Tcb::cpu`):
//! moving the thread moves it (`Kernel::set_cpu`). A CPU that queues a deadline on
//! another CPU, earlier than that CPU's timer, wakes it (an SGI), and that CPU sets its
//! timer again on its way back out.
//!
//! Slices are in microseconds (`Tcb::timeslice_us`). A thread the general path
//! dispatches starts a fresh slice unless it is the slice's owner and time is left;
//! IPC on the fast path hands the running slice to the partner with the CPU, as a
//! Call's caller hands the server its time.
//!
//! # Locking
//! A CPU's timeout queue, slice and timer state are fields of its `CpuSched`, so CPU
//! `c`'s lock (`PerCpu::sched`) protects them as it protects `c`'s run queues ("Locking"
//! in [`super`]): the general path reaches them through [`Kernel::sched`] (which holds
//! `c`'s lock for the rest of the operation, or needs none on `c` itself), a fast path
//! of `c` through its `threads::Local`. The queue's nodes are TCBs, and every thread in
//! `c`'s queue is one `c` owns (queued on `Tcb::cpu`, which is the owner in the
//! thread table; `Kernel::set_cpu` takes a thread out of the old CPU's queue before
//! the owner changes and puts it into the new one's after), so whoever holds the
//! queue may walk it: no lock beyond `c`'s is taken on the way. Only `c` sets `c`'s
//! timer (`program_timer`, on its way out); another CPU that queues an earlier
//! deadline there wakes `c` instead. No lock shared by all CPUs is needed for any of
//! it, so issue 15's split of the general lock leaves this alone.
//!
//! # Invariants
//! - `Tcb::deadline != 0` exactly when the thread is in the timeout queue of
//!   `Tcb::cpu`, and then it waits in an IPC (`SendBlocked` or `RecvBlocked`).
//! - A CPU's timer is set for its queue's earliest deadline, or earlier (the slice
//!   end), whenever it runs user code or idles (`Kernel::program_timer` on every way
//!   out of the general path; the fast paths change neither).

use super::{Kernel, Machine};
use crate::percpu::{CpuSched, PerCpu};
use crate::timeouts::{Links, Nodes, Queue};

/// The kernel's TCBs as the nodes of a timeout queue. Every node of CPU `c`'s queue
/// is a thread `c` owns (a timeout is queued on `Tcb::cpu`, the owner), so reaching
/// them through [`Kernel::tcb`] takes no lock that reaching the queue did not.
struct Waiters<'a, M: Machine>(&'a mut Kernel<M>);

impl<M: Machine> Nodes for Waiters<'_, M> {
    fn deadline(&mut self, t: u32) -> u64 {
        self.0.tcb(t).expect("invariant: only live threads are in timeout queues").deadline
    }

    fn links(&mut self, t: u32) -> &mut Links {
        &mut self.0.tcb(t).expect("invariant: only live threads are in timeout queues").timeout
    }
}

impl<M: Machine> Kernel<M> {
    /// CPU `cpu`'s timeout queue, worked on by `f` with the TCBs as its nodes, then
    /// stored back. The queue is two words (`Copy`): taken out of the CPU's
    /// scheduler state (its lock held for the operation: [`Kernel::sched`]) so that
    /// the nodes can be reached through the kernel meanwhile. `None`: no such CPU.
    #[inline(always)]
    fn with_queue<R>(
        &mut self,
        cpu: usize,
        f: impl FnOnce(&mut Queue, &mut Waiters<'_, M>) -> R,
    ) -> Option<R> {
        let mut queue = self.sched(cpu)?.timeouts;
        let r = f(&mut queue, &mut Waiters(self));
        if let Some(sched) = self.sched(cpu) {
            sched.timeouts = queue;
        }
        Some(r)
    }

    /// Thread `t` waits until `deadline` (nonzero): queued on its CPU, whose timer is
    /// set earlier if need be (another CPU is woken to do that itself).
    pub(crate) fn arm_timeout(&mut self, t: u32, deadline: u64) {
        self.disarm_timeout(t);
        let m = self.machine;
        let Some(cpu) = self.tcb(t).map(|tcb| tcb.cpu as usize) else { return };
        let Some(timer_at) = self.sched(cpu).map(|s| s.timer_at) else { return };
        if let Some(tcb) = self.tcb(t) {
            tcb.deadline = deadline;
        }
        self.with_queue(cpu, |q, n| q.insert(n, t));
        if deadline < timer_at
            && cpu != m.this_cpu()
            && let Some(block) = m.cpu(cpu)
        {
            m.wake(block);
        }
    }

    /// Thread `t` no longer waits with a timeout (a message came, it was cancelled,
    /// it moves or goes): out of its CPU's queue. Nothing when it had none.
    #[inline]
    pub(crate) fn disarm_timeout(&mut self, t: u32) {
        let Some(tcb) = self.tcb(t) else { return };
        if tcb.deadline == 0 {
            return;
        }
        let cpu = tcb.cpu as usize;
        let removed = self.with_queue(cpu, |q, n| q.remove(n, t));
        debug_assert!(removed != Some(false), "invariant: a thread with a deadline is in its CPU's queue");
        if let Some(tcb) = self.tcb(t) {
            tcb.deadline = 0;
        }
    }

    /// The next thread on `me` whose deadline is at or before `now`, taken out of the
    /// queue (its deadline cleared), earliest first.
    #[inline]
    pub(crate) fn pop_expired(&mut self, me: &PerCpu, now: u64) -> Option<u32> {
        if self.sched(me.index)?.timeouts.is_empty() {
            return None;
        }
        let t = self.with_queue(me.index, |q, n| q.pop_expired(n, now))??;
        if let Some(tcb) = self.tcb(t) {
            tcb.deadline = 0;
        }
        Some(t)
    }

    /// The earliest deadline of a thread waiting on `me`.
    pub fn earliest_timeout(&mut self, me: &PerCpu) -> Option<u64> {
        // Read only: the copy need not go back.
        let queue = self.sched(me.index)?.timeouts;
        queue.earliest(&mut Waiters(self))
    }

    /// Sets `me`'s timer for its earliest timeout or the end of its running thread's
    /// slice, whichever comes first (off when there is neither). Called by `me` on its
    /// way out of the kernel.
    pub(crate) fn program_timer(&mut self, me: &PerCpu) {
        let earliest = self.earliest_timeout(me).unwrap_or(u64::MAX);
        let Some(sched) = self.sched(me.index) else { return };
        let slice = if sched.current != 0 { sched.slice_end } else { u64::MAX };
        let at = earliest.min(slice);
        if at != sched.timer_at {
            sched.timer_at = at;
            self.machine.set_timer(at);
        }
    }

    /// `me` idles: no slice runs.
    pub(crate) fn end_slice(&mut self, me: &PerCpu) {
        if let Some(sched) = self.sched(me.index) {
            sched.slice_owner = 0;
            sched.slice_end = u64::MAX;
        }
    }
}

/// Starts `next`'s slice on the CPU whose scheduler state is `sched` (it is about to
/// run there, dispatched by the general path) unless it owns the running slice and
/// time is left of it. `slice`: its timeslice in counter ticks.
#[inline]
pub(crate) fn start_slice<M: Machine>(m: M, sched: &mut CpuSched, next: u32, slice: u64) {
    let now = m.now();
    if sched.slice_owner != next || now >= sched.slice_end {
        sched.slice_owner = next;
        sched.slice_end = now.saturating_add(slice);
    }
}

#[cfg(test)]
impl<M: Machine> Kernel<M> {
    /// Checks the invariants above over every CPU's queue and every thread: each queue
    /// is a well-formed tree, and a thread has a deadline exactly when it is in the
    /// queue of its own CPU, waiting in an IPC.
    pub(crate) fn check_timeouts(&mut self) -> Result<(), std::string::String> {
        use crate::thread::ThreadState;
        let m = self.machine;
        let mut queued = 0;
        for block in m.cpus() {
            let queue = self.sched(block.index).map(|s| s.timeouts).unwrap_or_default();
            queue
                .check(&mut Waiters(self))
                .map_err(|e| format!("CPU {}'s timeout queue: {e}", block.index))?;
            queued += queue.len();
        }
        let mut with_deadline = 0;
        for t in 1..crate::thread::MAX_THREADS as u32 {
            let Some(tcb) = self.tcb(t) else { continue };
            let (deadline, linked, state, cpu) = (tcb.deadline, tcb.timeout.queued(), tcb.state, tcb.cpu);
            if (deadline != 0) != linked {
                return Err(format!("thread {t}: deadline {deadline} but queued {linked}"));
            }
            if deadline == 0 {
                continue;
            }
            with_deadline += 1;
            if !matches!(state, ThreadState::SendBlocked { .. } | ThreadState::RecvBlocked { .. }) {
                return Err(format!("thread {t} has a deadline but is {state:?}"));
            }
            let queue = self.sched(cpu as usize).map(|s| s.timeouts).ok_or("a thread on no CPU")?;
            if !queue.contains(&mut Waiters(self), t) {
                return Err(format!("thread {t} is not in the timeout queue of its CPU {cpu}"));
            }
        }
        if with_deadline != queued {
            return Err(format!("{with_deadline} threads have deadlines, {queued} are queued"));
        }
        Ok(())
    }
}
