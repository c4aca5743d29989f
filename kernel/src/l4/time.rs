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
//! # Invariants
//! - `Tcb::deadline != 0` exactly when the thread is in the timeout queue of
//!   `Tcb::cpu`, and then it waits in an IPC (`SendBlocked` or `RecvBlocked`).
//! - A CPU's timer is set for its queue's earliest deadline, or earlier (the slice
//!   end), whenever it runs user code or idles (`Kernel::program_timer` on every way
//!   out of the general path; the fast paths change neither).

use super::{Kernel, Machine};
use crate::percpu::{CpuSched, PerCpu};
use crate::timeouts::{Links, Nodes};

/// The kernel's TCBs as the nodes of a timeout queue.
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
    /// Thread `t` waits until `deadline` (nonzero): queued on its CPU, whose timer is
    /// set earlier if need be (another CPU is woken to do that itself).
    pub(crate) fn arm_timeout(&mut self, t: u32, deadline: u64) {
        self.disarm_timeout(t);
        let m = self.machine;
        let Some(tcb) = self.tcb(t) else { return };
        let Some(block) = m.cpu(tcb.cpu as usize) else { return };
        tcb.deadline = deadline;
        let mut sched = block.sched.lock();
        sched.timeouts.insert(&mut Waiters(self), t);
        let sooner = deadline < sched.timer_at;
        drop(sched);
        if sooner && block.index != m.this_cpu() {
            m.wake(block);
        }
    }

    /// Thread `t` no longer waits with a timeout (a message came, it was cancelled,
    /// it moves or goes): out of its CPU's queue. Nothing when it had none.
    #[inline]
    pub(crate) fn disarm_timeout(&mut self, t: u32) {
        let m = self.machine;
        let Some(tcb) = self.tcb(t) else { return };
        if tcb.deadline == 0 {
            return;
        }
        if let Some(block) = m.cpu(tcb.cpu as usize) {
            let removed = block.sched.lock().timeouts.remove(&mut Waiters(self), t);
            debug_assert!(removed, "invariant: a thread with a deadline is in its CPU's queue");
        }
        if let Some(tcb) = self.tcb(t) {
            tcb.deadline = 0;
        }
    }

    /// The next thread on `me` whose deadline is at or before `now`, taken out of the
    /// queue (its deadline cleared), earliest first.
    #[inline]
    pub(crate) fn pop_expired(&mut self, me: &PerCpu, now: u64) -> Option<u32> {
        let t = {
            let mut sched = me.sched.lock();
            if sched.timeouts.is_empty() {
                return None;
            }
            sched.timeouts.pop_expired(&mut Waiters(self), now)?
        };
        if let Some(tcb) = self.tcb(t) {
            tcb.deadline = 0;
        }
        Some(t)
    }

    /// The earliest deadline of a thread waiting on `me`.
    pub fn earliest_timeout(&mut self, me: &PerCpu) -> Option<u64> {
        me.sched.lock().timeouts.earliest(&mut Waiters(self))
    }

    /// Sets `me`'s timer for its earliest timeout or the end of its running thread's
    /// slice, whichever comes first (off when there is neither). Called by `me` on its
    /// way out of the kernel.
    pub(crate) fn program_timer(&mut self, me: &PerCpu) {
        let mut sched = me.sched.lock();
        let earliest = sched.timeouts.earliest(&mut Waiters(self)).unwrap_or(u64::MAX);
        let slice = if sched.current != 0 { sched.slice_end } else { u64::MAX };
        let at = earliest.min(slice);
        if at != sched.timer_at {
            sched.timer_at = at;
            self.machine.set_timer(at);
        }
    }

    /// `me` idles: no slice runs.
    pub(crate) fn end_slice(&mut self, me: &PerCpu) {
        let mut sched = me.sched.lock();
        sched.slice_owner = 0;
        sched.slice_end = u64::MAX;
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
            let queue = block.sched.lock().timeouts;
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
            let block = m.cpu(cpu as usize).ok_or("a thread on no CPU")?;
            let queue = block.sched.lock().timeouts;
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
