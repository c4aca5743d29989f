// SPDX-License-Identifier: MIT OR Apache-2.0
//! Threads: the thread control block (TCB) and the states a thread moves through.
//!
//! An L4 thread is a user context (integer and FP/SIMD registers), a UTCB (its page of
//! message registers), an address space it runs in, a pager that receives its page
//! faults, an exception handler, a priority and a CPU. The kernel keeps all of it in
//! one TCB, allocated from the home node of the thread's space: the TCB is what every
//! IPC and every fault of the thread touches, so it should be local to where the space
//! (and, by the NUMA runtime's policy, the thread) lives.
//!
//! ```text
//!          ThreadControl            ExchangeRegisters(start)
//!  (none) -------------> Inactive ------------------------> Ready <---------+
//!                                                          |  ^             |
//!                                             picked by CPU|  |preempted    |
//!                                                          v  |             |
//!                       send, partner not waiting       Running ---------+  |
//!          SendBlocked <---------------------------------/  |  \         |  |
//!          RecvBlocked <--- receive, nobody sending ----/   |   \ fault  |  |
//!               |  partner arrives / timeout                |    v       |  |
//!               +---------------------------------------> Ready   FaultBlocked (waits for pager)
//!                                                           halt: Halted
//! ```
#![forbid(unsafe_code)]

use crate::exception::TrapFrame;
use crate::mm::addr::PhysAddr;
use platform::NodeId;

/// Most threads the kernel holds at once (thread numbers are `1..MAX_THREADS`).
pub const MAX_THREADS: usize = 1024;

/// The FP/SIMD registers of a thread: q0..q31, FPCR, FPSR (layout fixed: the arch code
/// stores them with `stp`/`ldp` at these offsets).
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FpState {
    /// The 32 128-bit vector registers.
    pub q: [u128; 32],
    /// Floating-point control register.
    pub fpcr: u64,
    /// Floating-point status register.
    pub fpsr: u64,
}

/// Where a thread is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// Created, never started (ExchangeRegisters starts it).
    Inactive,
    /// On its CPU's run queue.
    Ready,
    /// Running on its CPU.
    Running,
    /// Waiting to send to `to` (on `to`'s send queue). `call`: receive from `to` after.
    SendBlocked {
        /// The receiver.
        to: u32,
        /// A call: the reply is awaited next.
        call: bool,
    },
    /// Waiting to receive; `from` is a thread number, or `None` for any sender.
    RecvBlocked {
        /// The accepted sender.
        from: Option<u32>,
    },
    /// Faulted; waiting for its pager's (or exception handler's) reply.
    FaultBlocked {
        /// The handler thread asked.
        handler: u32,
        /// Whether the request was delivered already (else it waits to be sent).
        delivered: bool,
        /// What was reported: page fault or exception.
        kind: FaultKind,
    },
    /// Stopped (by ExchangeRegisters, or an unhandled fault).
    Halted,
}

/// What a thread reported to its handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A page fault, to the pager.
    Page,
    /// Another exception, to the exception handler.
    Exception,
}

/// The thread control block.
#[derive(Clone, Debug)]
pub struct Tcb {
    /// Thread number (index in the thread table).
    pub number: u32,
    /// Version: bumped each time the number is reused, so stale ids are refused.
    pub version: u16,
    /// Life state.
    pub state: ThreadState,
    /// The integer registers while the thread does not run.
    pub context: TrapFrame,
    /// The FP/SIMD registers while the thread does not run.
    pub fp: FpState,
    /// Index of its address space.
    pub space: u16,
    /// TTBR0_EL1 while it runs: its space's root table and ASID, cached here at
    /// creation (a space keeps both for life and outlives its threads), so a switch
    /// to this thread needs no space lookup.
    pub ttbr0: u64,
    /// The priority it is scheduled at, 0..=255: its own ([`Tcb::base_priority`]) or
    /// higher, while it serves a thread of higher priority (`l4::inherit`).
    pub priority: u8,
    /// Its own priority, as `Schedule` set it.
    pub base_priority: u8,
    /// The CPU it runs on (logical index).
    pub cpu: u32,
    /// Timeslice in microseconds: how long it runs before an equal-priority thread
    /// gets its turn (the CPU's timer is set for the slice's end: `l4::time`).
    pub timeslice_us: u32,
    /// The same in system-counter ticks, worked out at its first dispatch (0: not
    /// yet), so a dispatch divides nothing.
    pub slice_ticks: u64,
    /// Pager (full thread id), 0 = none.
    pub pager: u64,
    /// The thread allowed to change this one's priority and CPU (`Schedule`), 0 = only
    /// privileged threads.
    pub scheduler: u64,
    /// Exception handler (full thread id), 0 = none.
    pub exception_handler: u64,
    /// The UTCB: user virtual address and the kernel frame behind it.
    pub utcb_va: u64,
    /// Physical address of the UTCB frame.
    pub utcb_pa: PhysAddr,
    /// The node the TCB and UTCB frames came from.
    pub memory_node: NodeId,
    /// First thread waiting to send to this one (thread number), 0 = none.
    pub send_queue: u32,
    /// Next thread in the send queue this one waits on.
    pub send_next: u32,
    /// Words `Notify` posted to it, for its next open receives.
    pub notes: crate::notify::NoteQueue,
    /// Deadline (system counter) of a blocking IPC, 0 = none. Nonzero exactly while
    /// the thread is in its CPU's timeout queue ([`Tcb::timeout`]).
    pub deadline: u64,
    /// Its place in its CPU's timeout queue (`crate::timeouts`).
    pub timeout: crate::timeouts::Links,
    /// The receive phase waiting behind a blocked send (`Ipc` with both phases): whom
    /// to accept (a thread number, `None` for anyone) and the receive timeout. It runs
    /// when the send completes; a call's reply wait is this with `accept = to`.
    pub after_send: Option<(Option<u32>, abi::timeout::Timeout)>,
    /// Deleted while it ran on another CPU: that CPU finishes the deletion at its next
    /// kernel entry (an SGI makes that immediate).
    pub doomed: bool,
    /// `Schedule` moved it to this CPU while it ran on its old one: the old CPU moves
    /// it at its next kernel entry (an SGI makes that immediate), or `make_ready`
    /// does if it blocks first.
    pub move_to: Option<u32>,
    /// A long system call stopped at a preemption point, to go on from where it
    /// stopped when the thread makes it again (`l4::restart`).
    pub restart: Option<Restart>,
}

/// A system call stopped at a preemption point (`l4::restart`): which call it was and
/// how far it got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restart {
    /// The caller's x0..x8 when it stopped: only the same call goes on from here.
    /// `None`: no call to go on with, only work the thread owes (a space deletion it
    /// began, given another IP since: it goes on at the thread's next call).
    pub regs: Option<[u64; 9]>,
    /// The caller's space then (a thread moved since starts afresh).
    pub space: u16,
    /// How far it got.
    pub progress: Progress,
}

/// How far a stopped system call got: everything before this point is done, and
/// stays done (each step is one the call would have made anyway).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// `Unmap`: the flexpages before `index` are done, and flexpage `index` (its raw
    /// value `fpage`) below `at`.
    Unmap {
        /// The flexpage being worked on (an index of MR0..MR63).
        index: u8,
        /// Its raw value when the call stopped (another value starts it afresh).
        fpage: u64,
        /// Its pages below this address are done.
        at: u64,
    },
    /// `MemoryControl` taking a block: the `frames` frames at `pa` (node `node`) are
    /// taken; the pages below `next` are mapped, and frame `next` is zeroed already
    /// when `zeroed`. The frames from `next` on are the call's own until it ends.
    Take {
        /// The block.
        pa: u64,
        /// Its size in frames.
        frames: u64,
        /// The node it came from.
        node: u32,
        /// The pages below this one are mapped.
        next: u64,
        /// Frame `next` is zeroed.
        zeroed: bool,
    },
    /// `MemoryControl` taking a block failed with `error`: the frames not mapped are
    /// given back, and the `left` pages mapped first are being unmapped (from the top).
    Undo {
        /// The block.
        pa: u64,
        /// Pages still mapped (the lowest ones).
        left: u64,
        /// What the call returns once they are gone.
        error: abi::Error,
    },
    /// `ThreadControl` deleted the last thread of `space`: the space's mappings
    /// below `from` are gone (with all derived from them); then (`tables`) all its
    /// mappings are gone and its tables below `from` are freed; then its root and
    /// ASID. Owed by the thread that made the call: whatever call it makes next goes
    /// on with this first (`l4::restart`).
    DeleteSpace {
        /// The space being deleted (it has no threads).
        space: u16,
        /// Its mappings (or, once `tables`, its tables) below this address are gone.
        from: u64,
        /// The mappings are gone, the tables are going.
        tables: bool,
        /// The call being made is another than the deletion: made after it.
        owed: bool,
    },
    /// `MemoryControl` freeing a block: the pages below `next` are checked (every one
    /// owned) or, once `checked`, given back.
    Free {
        /// The pages below this index are done.
        next: u64,
        /// The check is over: now the pages go.
        checked: bool,
    },
}

impl Tcb {
    /// A new, inactive thread.
    pub fn new(number: u32, version: u16, space: u16, cpu: u32, memory_node: NodeId) -> Tcb {
        Tcb {
            number,
            version,
            state: ThreadState::Inactive,
            context: TrapFrame::default(),
            fp: FpState::default(),
            space,
            ttbr0: 0,
            priority: 100,
            base_priority: 100,
            cpu,
            timeslice_us: DEFAULT_TIMESLICE_US,
            slice_ticks: 0,
            pager: 0,
            scheduler: 0,
            exception_handler: 0,
            utcb_va: 0,
            utcb_pa: PhysAddr::new(0),
            memory_node,
            send_queue: 0,
            send_next: 0,
            notes: crate::notify::NoteQueue::new(),
            deadline: 0,
            timeout: crate::timeouts::Links::default(),
            after_send: None,
            doomed: false,
            move_to: None,
            restart: None,
        }
    }

    /// Gives a thread that inherits nothing (not ready: it is queued at its priority)
    /// its own priority.
    pub fn set_priority(&mut self, prio: u8) {
        self.priority = prio;
        self.base_priority = prio;
    }

    /// The full thread id (number and version), as user level names it.
    pub fn id(&self) -> u64 {
        (u64::from(self.number) << 16) | u64::from(self.version)
    }
}

/// Splits a full thread id into (number, version); `None` for nil, any or version 0.
pub fn split_id(id: u64) -> Option<(u32, u16)> {
    let number = id >> 16;
    let version = (id & 0xFFFF) as u16;
    (id != 0 && id != u64::MAX && version != 0 && number < MAX_THREADS as u64)
        .then_some((number as u32, version))
}

/// A new thread's timeslice: 100 ms (`Schedule` sets another).
pub const DEFAULT_TIMESLICE_US: u32 = 100_000;

/// A timeslice of `us` microseconds as the TCB keeps it: at least 1 us, at most
/// `u32::MAX` us (`Schedule`'s x3; 0 there means "keep" and never reaches this).
pub fn timeslice_us(us: u64) -> u32 {
    u32::try_from(us.max(1)).unwrap_or(u32::MAX)
}

/// `us` microseconds in ticks of a counter running at `frequency` Hz: rounded up, at
/// least one tick (a timeout or slice never ends before the time asked), no overflow.
#[inline]
pub fn micros_to_ticks(us: u64, frequency: u64) -> u64 {
    // In 64 bits when it fits (timeouts and slices are 32-bit microseconds, counter
    // frequencies 32-bit: always on the target): a 128-bit division is a library call.
    let ticks = match us.checked_mul(frequency) {
        Some(product) => product.div_ceil(1_000_000),
        None => {
            u64::try_from((u128::from(us) * u128::from(frequency)).div_ceil(1_000_000)).unwrap_or(u64::MAX)
        }
    };
    ticks.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microseconds_round_up_to_whole_counter_ticks() {
        assert_eq!(micros_to_ticks(1, 62_500_000), 63, "62.5 ticks, rounded up");
        assert_eq!(micros_to_ticks(16, 62_500_000), 1000);
        assert_eq!(micros_to_ticks(1, 1_000_000), 1);
        assert_eq!(micros_to_ticks(0, 1_000_000), 1, "at least one tick");
        assert_eq!(micros_to_ticks(3, 100), 1, "a slow counter: rounded up to a tick");
        assert_eq!(micros_to_ticks(u64::MAX, u64::MAX), u64::MAX, "clamped, no overflow");
        assert_eq!(timeslice_us(0), 1);
        assert_eq!(timeslice_us(u64::MAX), u32::MAX, "clamped");
    }

    #[test]
    fn thread_ids_carry_number_and_version() {
        let t = Tcb::new(5, 3, 0, 0, NodeId::ZERO);
        assert_eq!(t.id(), (5 << 16) | 3);
        assert_eq!(split_id(t.id()), Some((5, 3)));
        assert_eq!(split_id(0), None, "nil");
        assert_eq!(split_id(u64::MAX), None, "any");
        assert_eq!(split_id(5 << 16), None, "version 0 is never valid");
        assert_eq!(split_id((MAX_THREADS as u64) << 16 | 1), None, "beyond the table");
    }

    #[test]
    fn the_fp_state_has_the_layout_the_assembly_uses() {
        assert_eq!(core::mem::offset_of!(FpState, fpcr), 512);
        assert_eq!(core::mem::offset_of!(FpState, fpsr), 520);
        assert_eq!(core::mem::align_of::<FpState>(), 16);
    }

    #[test]
    fn a_tcb_fits_in_one_frame() {
        assert!(core::mem::size_of::<Tcb>() <= 4096);
    }
}
