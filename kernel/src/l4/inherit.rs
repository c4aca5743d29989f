// SPDX-License-Identifier: MIT OR Apache-2.0
//! Priority inheritance through IPC: a thread that waits for another's answer lends it
//! its priority.
//!
//! # Why
//! Without it, a high-priority client blocked in a `Call` on a low-priority server
//! waits for every medium-priority thread that wants the CPU: the server, holding the
//! client's request, never runs (unbounded priority inversion).
//!
//! # Design
//! Each thread has its own priority (`Tcb::base_priority`, which `Schedule` sets) and
//! the one it is scheduled by (`Tcb::priority`), which is never lower. A thread that
//! waits for another's answer lends it its priority:
//!
//! - a `Call` delivered to a waiting server raises the server to the caller's priority
//!   (so does a fault delivered to the pager or exception handler: a fault is a call);
//! - a caller (or faulting thread) that has to queue on a busy server raises it at once,
//!   and what that server waits for in turn (the thread it sends to, calls, or whose
//!   fault reply it awaits), and so on: transitively, at most [`MAX_CHAIN`] threads
//!   deep (a chain that is longer, or a cycle of threads waiting for each other, stops
//!   there: a cycle at its first repeat, since a thread is raised only if lower);
//! - a server's inheritance ends when it next waits in an **open** receive (its
//!   `ReplyWait` for the next request): it drops to its own priority, raised again by
//!   the callers still queued on it, and by the request it takes. A closed receive
//!   (the reply wait of its own `Call` further down) keeps it: it still works for its
//!   caller.
//!
//! This is donation as seL4's scheduling contexts and Fiasco do it, with priorities:
//! the server runs at the priority of the requests it serves. It costs the IPC fast
//! paths one compare (a Call raises the partner, a `ReplyWait` resets the caller),
//! and no bookkeeping of who lends what. What it does not do: a caller that times out
//! or is deleted while queued leaves its server raised until the server's next open
//! receive (bounded: one request's worth); a server that takes a second request
//! before answering the first runs at the priority of the ones still queued and the
//! one it took last.
//!
//! # Invariants
//! - `priority >= base_priority` for every thread.
//! - A ready thread is queued at its `priority` (raising one requeues it).

use super::{Kernel, Machine};
use crate::thread::{MAX_THREADS, Tcb, ThreadState};

/// The most threads a raise travels through: a chain of servers calling servers is
/// rarely three deep; this bounds the kernel's work on one IPC.
pub const MAX_CHAIN: usize = 16;

/// Whether a thread in `state` lends its priority to the thread whose queue it is on
/// (a queued Call or fault: it waits for that thread's answer).
#[inline]
fn lends(state: ThreadState) -> bool {
    matches!(state, ThreadState::SendBlocked { call: true, .. } | ThreadState::FaultBlocked { .. })
}

impl<M: Machine> Kernel<M> {
    /// Sets thread `t`'s scheduling priority to `prio`, requeueing it if it is ready.
    fn set_effective(&mut self, t: u32, prio: u8) {
        let Some(tcb) = self.tcb(t) else { return };
        if tcb.priority == prio {
            return;
        }
        if tcb.state == ThreadState::Ready {
            self.unready(t);
            if let Some(tcb) = self.tcb(t) {
                tcb.priority = prio;
            }
            self.make_ready(t);
        } else {
            tcb.priority = prio;
        }
    }

    /// Thread `t` now serves (or is about to serve) a thread of priority `prio`: it
    /// runs at `prio` at least. No chain: `t` waits for nobody (it takes a message).
    pub(crate) fn lend(&mut self, t: u32, prio: u8) {
        if self.tcb(t).is_some_and(|tcb| tcb.priority < prio) {
            self.set_effective(t, prio);
        }
    }

    /// A thread of priority `prio` now waits for thread `t` (queued on it): `t` runs at
    /// `prio` at least, and so does whatever `t` waits for, up to [`MAX_CHAIN`] deep.
    pub(crate) fn inherit(&mut self, mut t: u32, prio: u8) {
        for _ in 0..MAX_CHAIN {
            let Some(tcb) = self.tcb(t) else { return };
            if tcb.priority >= prio {
                return; // raised already (a cycle ends here too)
            }
            let state = tcb.state;
            self.set_effective(t, prio);
            t = match state {
                ThreadState::SendBlocked { to, .. } => to,
                ThreadState::RecvBlocked { from: Some(from) } if from != t => from,
                ThreadState::FaultBlocked { handler, .. } => handler,
                _ => return,
            };
        }
    }

    /// Thread `t` waits in an open receive: it keeps its own priority and what the
    /// calls (and faults) queued on it lend; what it inherited for requests it took is
    /// over.
    pub(crate) fn reset_inheritance(&mut self, t: u32) {
        let Some(tcb) = self.tcb(t) else { return };
        let mut prio = tcb.base_priority;
        let mut at = tcb.send_queue;
        for _ in 0..MAX_THREADS {
            if at == 0 {
                break;
            }
            let Some(s) = self.tcb(at) else { break };
            if lends(s.state) {
                prio = prio.max(s.priority);
            }
            at = s.send_next;
        }
        self.set_effective(t, prio);
    }
}

/// `Schedule` gives thread `t` its own priority `prio`, keeping what it inherits: a
/// raised thread stays at least as high as it was raised. (Not for a ready thread,
/// which is queued at its priority: the caller takes it off its queue first.)
pub fn set_base(t: &mut Tcb, prio: u8) {
    let raised = t.priority > t.base_priority;
    t.priority = if raised { t.priority.max(prio) } else { prio };
    t.base_priority = prio;
}

#[cfg(test)]
mod tests {
    use super::super::fake::{Outcome, ROOT, World};
    use crate::thread::ThreadState;
    use abi::syscall::Syscall;
    use abi::timeout::Timeouts;
    use platform::NodeId;

    const NEVER: u64 = Timeouts::NEVER.pack();
    const ANY: u64 = u64::MAX;
    const P: u64 = abi::PAGE_SIZE;
    /// Priorities: low (the servers), medium (a thread that wants the CPU), high.
    const LOW: u8 = 10;
    const MEDIUM: u8 = 100;
    const HIGH: u8 = 200;

    /// A space on node 0 and threads of the given priorities in it, all on CPU 1.
    fn world(priorities: &[u8]) -> (World, std::vec::Vec<u32>) {
        let mut w = World::new();
        let s = w.k.create_space(NodeId::ZERO, 16 << 20).unwrap();
        let threads = priorities
            .iter()
            .enumerate()
            .map(|(i, &p)| w.thread(s, 0x20_0000 + i as u64 * P, 1, p))
            .collect();
        (w, threads)
    }

    fn ipc(to: u64, from: u64) -> [u64; 8] {
        [to, from, NEVER, 0, 0, 0, 0, 0]
    }

    fn priority(w: &mut World, t: u32) -> u8 {
        w.k.tcb(t).unwrap().priority
    }

    #[test]
    fn a_call_to_a_waiting_low_server_runs_it_at_the_callers_priority_ahead_of_a_medium_thread() {
        let (mut w, t) = world(&[LOW, MEDIUM, HIGH]);
        let (low, medium, high) = (t[0], t[1], t[2]);
        let (lid, hid) = (w.id(low), w.id(high));
        assert!(matches!(w.svc(low, Syscall::Ipc, ipc(0, ANY)), Outcome::Blocked(_)), "the server waits");
        assert!(matches!(w.svc(high, Syscall::Ipc, ipc(lid, lid)), Outcome::Blocked(_)), "the call waits");
        assert_eq!(w.run(1), low, "the server runs, not the medium thread");
        assert_eq!(priority(&mut w, low), HIGH, "at the caller's priority");
        w.advance(1_000_000); // a second of work: slices end, the medium thread still waits
        assert_eq!(w.run(1), low, "the medium thread never preempts it");
        assert_eq!(w.state(medium), ThreadState::Ready);
        let reply = w.svc(low, Syscall::Ipc, ipc(hid, ANY));
        assert!(matches!(reply, Outcome::Blocked(_)), "replied, waits for the next");
        assert_eq!(priority(&mut w, low), LOW, "its own priority again, waiting");
        assert_eq!(w.run(1), high, "the caller has its answer first");
        assert_eq!(w.outcome(high).status(), Ok(()));
        w.check();
    }

    #[test]
    fn a_call_to_a_busy_low_server_raises_it_at_once_and_it_serves_the_caller_next() {
        let (mut w, t) = world(&[LOW, MEDIUM, HIGH]);
        let (low, medium, high) = (t[0], t[1], t[2]);
        let (lid, hid) = (w.id(low), w.id(high));
        let _ = w.enter(medium); // the medium thread runs; the server is ready (busy)
        assert!(matches!(w.svc(high, Syscall::Ipc, ipc(lid, lid)), Outcome::Blocked(_)));
        assert_eq!(priority(&mut w, low), HIGH, "raised while the caller queues");
        assert_eq!(w.run(1), low, "and run before the medium thread");
        // It finishes what it did and takes the next request: the queued call.
        let got = w.svc(low, Syscall::Ipc, ipc(0, ANY));
        assert_eq!(got.regs()[1], hid, "it took the call at once");
        assert_eq!(priority(&mut w, low), HIGH, "still the caller's while it serves it");
        assert!(matches!(w.svc(low, Syscall::Ipc, ipc(hid, ANY)), Outcome::Blocked(_)));
        assert_eq!(w.run(1), high);
        assert_eq!(priority(&mut w, low), LOW);
        w.check();
    }

    #[test]
    fn inheritance_goes_down_a_chain_of_servers_and_is_bounded_in_a_cycle() {
        // high calls a (busy calling b); b is ready (busy) below the medium thread.
        let (mut w, t) = world(&[LOW, LOW + 1, MEDIUM, HIGH]);
        let (a, b, medium, high) = (t[0], t[1], t[2], t[3]);
        let (aid, bid) = (w.id(a), w.id(b));
        let _ = w.enter(b);
        let _ = w.enter(medium);
        assert!(matches!(w.svc(a, Syscall::Ipc, ipc(bid, bid)), Outcome::Blocked(_)), "a calls busy b");
        assert_eq!(priority(&mut w, b), LOW + 1, "a lends no more than it has");
        assert!(matches!(w.svc(high, Syscall::Ipc, ipc(aid, aid)), Outcome::Blocked(_)), "high calls a");
        assert_eq!((priority(&mut w, a), priority(&mut w, b)), (HIGH, HIGH), "a, and b that a waits for");
        assert_eq!(w.run(1), b, "b runs first: the chain's end");
        w.check();
        // A cycle: two threads in closed receives from each other, then a caller.
        let (mut w, t) = world(&[LOW, LOW, HIGH]);
        let (x, y, high) = (t[0], t[1], t[2]);
        let (xid, yid) = (w.id(x), w.id(y));
        assert!(matches!(w.svc(x, Syscall::Ipc, ipc(0, yid)), Outcome::Blocked(_)));
        assert!(matches!(w.svc(y, Syscall::Ipc, ipc(0, xid)), Outcome::Blocked(_)));
        assert!(matches!(w.svc(high, Syscall::Ipc, ipc(xid, xid)), Outcome::Blocked(_)));
        // x does not take it (it waits for y only): the call queues, raising x and y,
        // and the raise stops where it began.
        assert_eq!((priority(&mut w, x), priority(&mut w, y)), (HIGH, HIGH));
        w.check();
    }

    #[test]
    fn a_fault_lends_the_pager_the_faulting_threads_priority() {
        let (mut w, t) = world(&[LOW, MEDIUM, HIGH]);
        let (pager, medium, high) = (t[0], t[1], t[2]);
        let pid = w.id(pager);
        w.k.tcb(high).unwrap().pager = pid;
        let _ = w.enter(medium);
        assert!(matches!(w.fault(high, 0x9000, false, false), Outcome::Blocked(_)), "the pager is busy");
        assert_eq!(priority(&mut w, pager), HIGH, "raised while the fault waits for it");
        assert_eq!(w.run(1), pager);
        w.check();
    }

    #[test]
    fn schedule_sets_the_own_priority_and_keeps_what_is_inherited() {
        let (mut w, t) = world(&[LOW, HIGH]);
        let (low, high) = (t[0], t[1]);
        let (lid, root) = (w.id(low), ROOT);
        assert!(matches!(w.svc(low, Syscall::Ipc, ipc(0, ANY)), Outcome::Blocked(_)));
        assert!(matches!(w.svc(high, Syscall::Ipc, ipc(lid, lid)), Outcome::Blocked(_)));
        let r = w.svc(root, Syscall::Schedule, [lid, 50, abi::syscall::KEEP, 0, 0, 0, 0, 0]).regs();
        assert_eq!(r[1], u64::from(LOW), "the old priority is its own");
        assert_eq!(priority(&mut w, low), HIGH, "still serving the high caller");
        assert_eq!(w.k.tcb(low).unwrap().base_priority, 50);
        w.check();
    }
}
