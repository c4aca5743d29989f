// SPDX-License-Identifier: MIT OR Apache-2.0
//! The system calls: their numbers (in `x8`), their registers, their control words.
//!
//! A user thread enters the kernel with `svc #0`, the syscall number in `x8` and the
//! arguments in `x0..x7`; it gets the status back in `x0` and the results in `x1..x7`
//! (the crate documentation has the whole table and the reasons for it). This module
//! names the numbers ([`Syscall`]) and encodes and decodes the control words of the
//! calls that take one, so the kernel's decoder and a user's stub share the bit
//! positions.
//!
//! # Invariants
//! Numbers are stable: never renumbered, only appended. [`Syscall::COUNT`] is what the
//! KIP publishes as the syscall count.
#![forbid(unsafe_code)]

use crate::error::Error;

/// A system call, by its number in `x8`.
///
/// Each variant lists its argument registers, its results and the errors it returns
/// beyond the ones every call may return ([`Error::UnknownSyscall`] for a bad number or
/// `svc` immediate). Registers other than the results are preserved, except `x0..x8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum Syscall {
    /// Send and/or receive one message (L4's only communication primitive).
    ///
    /// | reg | in | out |
    /// |---|---|---|
    /// | x0 | `to`: destination [`crate::ThreadId`]; NIL = no send phase | status |
    /// | x1 | `from_spec`: whom to receive from; ANY = anyone, NIL = no receive phase | sender id |
    /// | x2 | timeouts, [`crate::Timeouts::pack`] (send << 32 \| receive) | - |
    /// | x3 | MR0, the message [`crate::Tag`] | MR0 of the received message |
    /// | x4..x7 | MR1..MR4 | MR1..MR4 of the received message |
    ///
    /// MR5..MR63 travel in the UTCB. The receiver's window for map/grant items is BR0
    /// of its UTCB.
    ///
    /// A finite timeout is microseconds from when its phase starts to wait, to the
    /// system counter's tick, never early (the kernel is tickless). A `Call` (to ==
    /// from) lends the caller's priority to the receiver: a waiting receiver runs at
    /// it, a busy one is raised at once (and what it waits for, transitively), until
    /// the receiver next waits in an open receive; a page fault lends the faulting
    /// thread's priority to its pager the same way.
    ///
    /// Errors: [`Error::InvalidArgument`] (a tag or typed item that does not decode),
    /// [`Error::MessageOverflow`] (u + t > 63), [`Error::InvalidThread`],
    /// [`Error::NonExistingPartner`], [`Error::SendTimeout`], [`Error::ReceiveTimeout`],
    /// [`Error::Cancelled`], [`Error::MapRejected`]. A send followed by a receive can
    /// fail in the receive phase after the send completed; the error says which phase.
    Ipc = 0,
    /// Create, move or delete a thread (privileged; a move also within a group).
    ///
    /// | reg | in |
    /// |---|---|
    /// | x0 | `dest`: the thread to create or change |
    /// | x1 | `space`: a thread of the target space; == dest: a new space; NIL: delete dest |
    /// | x2 | `scheduler` thread (changing an existing thread: 0 keeps it) |
    /// | x3 | `pager` thread (changing an existing thread: 0 keeps it) |
    /// | x4 | UTCB address: page-aligned user VA; the kernel maps a kernel-owned UTCB page there (changing: 0 keeps the address) |
    /// | x5 | CPU: a CPU index, or [`CURRENT_CPU`] |
    ///
    /// A `dest` that does not exist is created in `space`, on that CPU. A `dest` that
    /// exists (its exact id; not the caller) is **moved** into `space` and placed on
    /// that CPU: the paper's thread migration, where a thread that moves to another
    /// node also moves into that node's address space. Its registers, FP state and IPC
    /// state go with it (a thread blocked in an IPC stays blocked in it); its control
    /// block and UTCB are re-made in the target space's home-node memory (the UTCB's
    /// contents copied, mapped at the UTCB address there); a space left without threads
    /// is deleted. The caller's space must be privileged, which is authority over both
    /// spaces (see the crate documentation on privilege). `space` = the space it is in
    /// already changes only the CPU, pager and scheduler.
    ///
    /// **Within a group** ([`SpaceControlFlags::group`]) an unprivileged thread may move
    /// its group's threads between its group's spaces: the thread, the target space
    /// and the caller's space must all be in the same group (not 0), the target space
    /// must not be privileged, and a new pager or scheduler must be a thread of the
    /// group too. Creating, deleting and moving into a new space stay privileged. This
    /// is the authority a NUMA program needs to migrate its own threads into its own
    /// per-node spaces, and no more.
    ///
    /// Errors: [`Error::NoPrivilege`] (unprivileged, and not a move within the
    /// caller's group), [`Error::InvalidThread`], [`Error::InvalidSpace`],
    /// [`Error::InvalidScheduler`], [`Error::InvalidUtcb`], [`Error::InvalidCpu`],
    /// [`Error::OutOfMemory`], [`Error::Busy`] (moving a thread that is running on
    /// another CPU at this moment: retry, or stop it first).
    ThreadControl = 1,
    /// Configure an address space (privileged).
    ///
    /// | reg | in | out |
    /// |---|---|---|
    /// | x0 | `space`: a thread in it | status |
    /// | x1 | control: [`SpaceControlFlags`] | the space's home node |
    /// | x2 | the group to set (with the group bit), else 0 | the space's group |
    ///
    /// Errors: [`Error::NoPrivilege`], [`Error::InvalidSpace`],
    /// [`Error::InvalidArgument`] (reserved bits, a group above 65535, x2 without the
    /// group bit).
    SpaceControl = 2,
    /// Set a thread's priority, CPU and timeslice.
    ///
    /// | reg | in | out |
    /// |---|---|---|
    /// | x0 | `dest` | status |
    /// | x1 | priority `0..=`[`MAX_PRIORITY`], or [`KEEP`] | old priority (its own) |
    /// | x2 | CPU index, or [`KEEP`] | old CPU |
    /// | x3 | timeslice in µs (to the counter tick: the kernel is tickless), 0 = keep | - |
    ///
    /// A thread that is running moves too: on another CPU, that CPU is interrupted
    /// (SGI) and moves it at once; the caller itself moves on its way out of this call.
    /// The call does not wait for the move; the old CPU it returns is the one asked
    /// for by the previous `Schedule`. The UTCB's `cpu` word follows the move. The
    /// priority set is the thread's own: while it serves a caller of higher priority
    /// (see `Ipc`) it runs at that one, and drops to its own when it next waits in an
    /// open receive.
    ///
    /// Errors: [`Error::InvalidThread`], [`Error::NoPrivilege`] (the caller is not the
    /// thread's scheduler), [`Error::InvalidArgument`] (priority), [`Error::InvalidCpu`].
    Schedule = 3,
    /// Read and change a thread's stack pointer, IP, pager, exception handler and
    /// run state.
    ///
    /// | reg | in | out |
    /// |---|---|---|
    /// | x0 | `dest` (a thread of the caller's space) | status |
    /// | x1 | control: [`ExregsControl`] | old SP |
    /// | x2 | SP | old IP |
    /// | x3 | IP | old pager |
    /// | x4 | pager | state flags |
    /// | x5 | exception handler | - |
    ///
    /// Errors: [`Error::InvalidThread`], [`Error::InvalidArgument`] (reserved control
    /// bits), [`Error::Busy`] (the thread is running on another CPU at this moment:
    /// its registers are not in memory; retry, or stop it first, e.g. by `Schedule`
    /// to the caller's CPU at a lower priority).
    ExchangeRegisters = 4,
    /// Revoke mappings, recursively through the mapping database.
    ///
    /// | reg | in | out |
    /// |---|---|---|
    /// | x0 | control: [`UnmapControl`] | status |
    ///
    /// The `n` flexpages are in MR0..MR(n-1) of the caller's UTCB; the kernel writes
    /// them back with their rights field cleared. That field is reserved for accessed
    /// bits (R, W, X: the page was read, written, executed since the last `Unmap` that
    /// asked), which this kernel does not track yet: a cleared field means "not
    /// reported", not "not accessed".
    ///
    /// Errors: [`Error::InvalidArgument`] (a flexpage that does not decode).
    Unmap = 5,
    /// Yield the rest of the timeslice: the caller goes to the back of its priority's
    /// run queue. `dest` is reserved for donating the slice to that thread (L4 X.2);
    /// this kernel checks that it names a thread but does not donate yet: it yields
    /// as for NIL.
    ///
    /// | reg | in |
    /// |---|---|
    /// | x0 | `dest`; NIL = yield to anyone |
    ///
    /// Errors: [`Error::InvalidThread`].
    ThreadSwitch = 6,
    /// Read the system counter.
    ///
    /// | reg | out |
    /// |---|---|
    /// | x1 | counter ticks (`CNTVCT_EL0`) |
    /// | x2 | counter frequency in Hz |
    SystemClock = 7,
    /// Find the kernel interface page.
    ///
    /// | reg | out |
    /// |---|---|
    /// | x1 | KIP user address ([`crate::kip::KIP_ADDRESS`]) |
    /// | x2 | ABI version ([`crate::ABI_VERSION`]) |
    /// | x3 | KIP size ([`crate::kip::KIP_SIZE`]) |
    KernelInterface = 8,
    /// Attach a thread to an interrupt, or detach it (privileged).
    ///
    /// | reg | in |
    /// |---|---|
    /// | x0 | INTID: an SPI, or [`USER_TIMER_INTID`] |
    /// | x1 | handler thread; NIL = detach |
    /// | x2 | control: [`INTERRUPT_CONTROL_ACK`] = acknowledge/unmask after handling; [`INTERRUPT_CONTROL_ARM`] = arm the user timer |
    /// | x3 | with [`INTERRUPT_CONTROL_ARM`]: the deadline, in system-counter ticks (`CNTVCT_EL0`, which EL0 reads) |
    ///
    /// The interrupt arrives as an IPC from its pseudo-thread
    /// ([`crate::ThreadId::interrupt`]); see [`crate::fault::Interrupt`].
    ///
    /// The **user timer** ([`USER_TIMER_INTID`], the CPU's EL1 virtual timer, which the
    /// kernel does not use) is a per-CPU device: attached, it belongs to the handler's
    /// CPU; `INTERRUPT_CONTROL_ARM` (by a thread running on that CPU) makes it fire once
    /// at the deadline (at once if it has passed), delivered like an SPI; arming again
    /// replaces the deadline. It is what an RTOS measures interrupt latency with.
    ///
    /// Errors: [`Error::NoPrivilege`], [`Error::InvalidInterrupt`] (not an SPI the
    /// distributor implements nor the user timer; ARM of anything but the user timer;
    /// the board's virtual timer is not INTID 27), [`Error::InvalidThread`] (no such
    /// thread; ARM naming a thread that is not the timer's handler),
    /// [`Error::InvalidCpu`] (ARM from a thread not on the timer's CPU), [`Error::Busy`]
    /// (another handler is attached), [`Error::InvalidArgument`] (reserved control
    /// bits; ARM with a NIL handler).
    InterruptControl = 9,
    /// Write bytes to the kernel console (for bring-up and tests).
    ///
    /// | reg | in | out |
    /// |---|---|---|
    /// | x0 | user pointer | status |
    /// | x1 | length, at most [`DEBUG_WRITE_MAX`] | bytes written |
    ///
    /// Errors: [`Error::InvalidArgument`] (too long, or not readable memory).
    DebugWrite = 10,
    /// Ask the kernel what it knows: memory reports, translations, placement.
    ///
    /// | reg | in | out |
    /// |---|---|---|
    /// | x0 | query: [`crate::introspect::Query`] | status |
    /// | x1..x3 | query arguments | x1..x6: answers, per query |
    ///
    /// Errors: [`Error::InvalidArgument`] (unknown query), and the query's own.
    Introspect = 11,
    /// Take a block of frames from a node's pool into the caller's space
    /// (privileged). Replaces X.2's sigma0 1:1 window: see the crate documentation.
    ///
    /// | reg | in | out |
    /// |---|---|---|
    /// | x0 | node | status |
    /// | x1 | order: 2^order frames, naturally aligned | physical base |
    /// | x2 | destination VA in the caller's space, aligned to the block | node used |
    /// | x3 | flags: [`crate::memory_control::MemoryControlFlags`] | - |
    ///
    /// The block becomes a mapping-database root owned by the caller's space.
    ///
    /// Errors: [`Error::NoPrivilege`], [`Error::InvalidNode`],
    /// [`Error::InvalidArgument`] (order, alignment, reserved flag bits),
    /// [`Error::OutOfMemory`] (the node, and with the nearest flag every node, is
    /// exhausted).
    MemoryControl = 12,
    /// Control the whole system (privileged): today, power it off.
    ///
    /// | reg | in |
    /// |---|---|
    /// | x0 | operation: [`SYSTEM_POWER_OFF`] |
    /// | x1 | for power-off: the exit status (0 = success) the host sees where it can |
    ///
    /// Does not return on success. Errors: [`Error::NoPrivilege`],
    /// [`Error::InvalidArgument`] (an unknown operation).
    SystemControl = 13,
    /// Post a one-word notification to a thread, without waiting (privileged, or to a
    /// thread of the caller's own group): the pagers' signal to each other across
    /// nodes, and a NUMA program's signal between its threads on different nodes.
    ///
    /// | reg | in |
    /// |---|---|
    /// | x0 | `dest` |
    /// | x1 | the word |
    ///
    /// The word joins `dest`'s notification queue ([`NOTIFY_QUEUE`] entries, first in
    /// first out) and is delivered at `dest`'s next open receive (`Ipc` with `from` =
    /// ANY), before any sender, as a message from the caller: label
    /// [`crate::fault::NOTIFY_LABEL`], u = 1, MR1 = the word. If `dest` waits in an
    /// open receive now, it gets it at once and runs on its CPU (another CPU, on this
    /// node or another, is interrupted by an SGI to run it). The caller never blocks.
    ///
    /// An unprivileged caller may notify the threads of its own group (not group 0:
    /// [`SpaceControlFlags::group`]); any other `dest` is [`Error::NoPrivilege`].
    ///
    /// Errors: [`Error::NoPrivilege`], [`Error::InvalidThread`] (NIL, ANY, an
    /// interrupt, a stale id, no such thread), [`Error::QueueFull`] (`dest` has
    /// [`NOTIFY_QUEUE`] words it has not received).
    Notify = 14,
}

/// `Notify`: how many words a thread's notification queue holds.
pub const NOTIFY_QUEUE: usize = 16;
/// `SystemControl` x0: power the system off (QEMU: exit with the status in x1).
pub const SYSTEM_POWER_OFF: u64 = 0;

/// `Schedule`: "leave this setting as it is" for priority (x1) and CPU (x2).
pub const KEEP: u64 = u64::MAX;
/// `Schedule`: the highest priority.
pub const MAX_PRIORITY: u64 = 255;
/// `ThreadControl` x5: "the CPU the caller runs on".
pub const CURRENT_CPU: u64 = u64::MAX;
/// `DebugWrite`: the longest write.
pub const DEBUG_WRITE_MAX: u64 = 4096;
/// `InterruptControl` x2 bit 0: acknowledge and unmask the interrupt after handling.
pub const INTERRUPT_CONTROL_ACK: u64 = 1 << 0;
/// `InterruptControl` x2 bit 1: arm the user timer to fire at the deadline in x3.
pub const INTERRUPT_CONTROL_ARM: u64 = 1 << 1;
/// The user timer's INTID: the EL1 virtual timer's PPI (27 on every SBSA board and on
/// QEMU `virt`), a per-CPU timer the kernel leaves to one user-level handler.
pub const USER_TIMER_INTID: u32 = 27;

impl Syscall {
    /// How many syscalls this ABI version has (numbers `0..COUNT`); the KIP's
    /// syscall count.
    pub const COUNT: u64 = 15;

    /// Every syscall, in number order.
    pub const ALL: [Syscall; Syscall::COUNT as usize] = [
        Syscall::Ipc,
        Syscall::ThreadControl,
        Syscall::SpaceControl,
        Syscall::Schedule,
        Syscall::ExchangeRegisters,
        Syscall::Unmap,
        Syscall::ThreadSwitch,
        Syscall::SystemClock,
        Syscall::KernelInterface,
        Syscall::InterruptControl,
        Syscall::DebugWrite,
        Syscall::Introspect,
        Syscall::MemoryControl,
        Syscall::SystemControl,
        Syscall::Notify,
    ];

    /// The syscall with number `x8`, or `None` (the kernel answers
    /// [`Error::UnknownSyscall`]).
    pub const fn from_number(number: u64) -> Option<Syscall> {
        if number >= Syscall::COUNT {
            return None;
        }
        Some(Syscall::ALL[number as usize])
    }

    /// The number that goes in `x8`.
    pub const fn number(self) -> u64 {
        self as u64
    }

    /// The syscall's name, as spelled in the ABI tables.
    pub const fn name(self) -> &'static str {
        match self {
            Syscall::Ipc => "Ipc",
            Syscall::ThreadControl => "ThreadControl",
            Syscall::SpaceControl => "SpaceControl",
            Syscall::Schedule => "Schedule",
            Syscall::ExchangeRegisters => "ExchangeRegisters",
            Syscall::Unmap => "Unmap",
            Syscall::ThreadSwitch => "ThreadSwitch",
            Syscall::SystemClock => "SystemClock",
            Syscall::KernelInterface => "KernelInterface",
            Syscall::InterruptControl => "InterruptControl",
            Syscall::DebugWrite => "DebugWrite",
            Syscall::Introspect => "Introspect",
            Syscall::MemoryControl => "MemoryControl",
            Syscall::SystemControl => "SystemControl",
            Syscall::Notify => "Notify",
        }
    }

    /// Whether only threads of a privileged space may make this call (others get
    /// [`Error::NoPrivilege`]).
    pub const fn is_privileged(self) -> bool {
        matches!(
            self,
            Syscall::SpaceControl
                | Syscall::InterruptControl
                | Syscall::MemoryControl
                | Syscall::SystemControl
        )
    }

    /// Whether an unprivileged thread may make this call only within its own group
    /// ([`SpaceControlFlags::group`]): moving the group's threads between the group's
    /// spaces, notifying the group's threads. The rest of the call (creating and
    /// deleting threads, anything outside the group) is privileged.
    pub const fn is_group_scoped(self) -> bool {
        matches!(self, Syscall::ThreadControl | Syscall::Notify)
    }
}

/// Decodes the syscall of an `svc`: the immediate (from `ESR_EL1.ISS`) must be 0 and
/// `x8` a known number.
pub const fn decode(svc_immediate: u16, x8: u64) -> Result<Syscall, Error> {
    if svc_immediate != 0 {
        return Err(Error::UnknownSyscall);
    }
    match Syscall::from_number(x8) {
        Some(s) => Ok(s),
        None => Err(Error::UnknownSyscall),
    }
}

/// `SpaceControl` control word (x1).
///
/// **Groups.** Every space is in a group, a number `0..=65535`: the spaces of one
/// program (a NUMA program's per-node spaces and its runtime's pagers). A space
/// made by `ThreadControl` starts in its creator's group; a privileged thread sets
/// another with the group bit. Group 0 is no group: its unprivileged threads have no
/// peers. Within a group an unprivileged thread may move the group's threads between
/// the group's (unprivileged) spaces and notify the group's threads: what a program
/// needs to act on its own threads, and nothing outside them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpaceControlFlags {
    /// Bit 0: threads of the space may make privileged syscalls.
    pub privileged: bool,
    /// Bit 1: put the space in the group in x2.
    pub group: bool,
}

impl SpaceControlFlags {
    const PRIVILEGED: u64 = 1 << 0;
    const GROUP: u64 = 1 << 1;

    /// The control word.
    pub const fn raw(self) -> u64 {
        (if self.privileged { Self::PRIVILEGED } else { 0 }) | if self.group { Self::GROUP } else { 0 }
    }

    /// Decodes x1; any bit but bits 0 and 1 is [`Error::InvalidArgument`].
    pub const fn from_raw(raw: u64) -> Result<SpaceControlFlags, Error> {
        if raw & !(Self::PRIVILEGED | Self::GROUP) != 0 {
            return Err(Error::InvalidArgument);
        }
        Ok(SpaceControlFlags { privileged: raw & Self::PRIVILEGED != 0, group: raw & Self::GROUP != 0 })
    }

    /// Decodes x1 and x2: the flags and the group to set, if any. x2 must be 0 without
    /// the group bit and at most 65535 with it ([`Error::InvalidArgument`]).
    pub const fn decode(x1: u64, x2: u64) -> Result<(SpaceControlFlags, Option<u16>), Error> {
        let flags = match SpaceControlFlags::from_raw(x1) {
            Ok(f) => f,
            Err(e) => return Err(e),
        };
        match (flags.group, x2) {
            (false, 0) => Ok((flags, None)),
            (true, g) if g <= u16::MAX as u64 => Ok((flags, Some(g as u16))),
            _ => Err(Error::InvalidArgument),
        }
    }
}

/// `ExchangeRegisters` control word (x1): which values to set and what to do with the
/// thread. A bit-set newtype; combine with `|`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ExregsControl(u64);

impl ExregsControl {
    /// Nothing set: read the registers only.
    pub const NONE: ExregsControl = ExregsControl(0);
    /// Bit 0: set SP from x2.
    pub const SET_SP: ExregsControl = ExregsControl(1 << 0);
    /// Bit 1: set IP from x3.
    pub const SET_IP: ExregsControl = ExregsControl(1 << 1);
    /// Bit 2: set the pager from x4.
    pub const SET_PAGER: ExregsControl = ExregsControl(1 << 2);
    /// Bit 3: start (resume) the thread.
    pub const START: ExregsControl = ExregsControl(1 << 3);
    /// Bit 4: halt the thread (cancels an IPC in progress with [`Error::Cancelled`]).
    pub const HALT: ExregsControl = ExregsControl(1 << 4);
    /// Bit 5: set the exception handler from x5.
    pub const SET_EXCEPTION_HANDLER: ExregsControl = ExregsControl(1 << 5);

    const DEFINED: u64 = 0x3F;

    /// The control word.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// Decodes x1: bits above 5 are [`Error::InvalidArgument`].
    pub const fn from_raw(raw: u64) -> Result<ExregsControl, Error> {
        if raw & !Self::DEFINED != 0 {
            return Err(Error::InvalidArgument);
        }
        Ok(ExregsControl(raw))
    }

    /// Whether every bit of `other` is set here.
    pub const fn contains(self, other: ExregsControl) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for ExregsControl {
    type Output = ExregsControl;
    fn bitor(self, rhs: ExregsControl) -> ExregsControl {
        ExregsControl(self.0 | rhs.0)
    }
}

/// `Unmap` control word (x0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnmapControl {
    /// Bits 5..0: how many flexpages, in MR0..MR(count-1).
    count: u8,
    /// Bit 6: also remove the pages from the caller's own space (not only from the
    /// spaces it mapped them to).
    pub flush_own: bool,
}

impl UnmapControl {
    /// Most flexpages one `Unmap` takes (the 6-bit count field).
    pub const MAX_COUNT: u8 = 63;
    const FLUSH_OWN: u64 = 1 << 6;

    /// An unmap of `count` flexpages; `None` if `count` exceeds [`Self::MAX_COUNT`].
    pub const fn new(count: u8, flush_own: bool) -> Option<UnmapControl> {
        if count > Self::MAX_COUNT {
            return None;
        }
        Some(UnmapControl { count, flush_own })
    }

    /// How many flexpages (MR0..MR(count-1)).
    pub const fn count(self) -> u8 {
        self.count
    }

    /// The control word.
    pub const fn raw(self) -> u64 {
        self.count as u64 | if self.flush_own { Self::FLUSH_OWN } else { 0 }
    }

    /// Decodes x0: bits above 6 are [`Error::InvalidArgument`].
    pub const fn from_raw(raw: u64) -> Result<UnmapControl, Error> {
        if raw & !(Self::FLUSH_OWN | 0x3F) != 0 {
            return Err(Error::InvalidArgument);
        }
        Ok(UnmapControl { count: (raw & 0x3F) as u8, flush_own: raw & Self::FLUSH_OWN != 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The brief's table: if a syscall is renumbered, this fails.
    const BRIEF: [(u64, &str); 15] = [
        (0, "Ipc"),
        (1, "ThreadControl"),
        (2, "SpaceControl"),
        (3, "Schedule"),
        (4, "ExchangeRegisters"),
        (5, "Unmap"),
        (6, "ThreadSwitch"),
        (7, "SystemClock"),
        (8, "KernelInterface"),
        (9, "InterruptControl"),
        (10, "DebugWrite"),
        (11, "Introspect"),
        (12, "MemoryControl"),
        (13, "SystemControl"),
        (14, "Notify"),
    ];

    #[test]
    fn every_syscall_keeps_the_number_and_name_of_the_brief() {
        assert_eq!(Syscall::COUNT as usize, BRIEF.len());
        for (s, (number, name)) in Syscall::ALL.iter().zip(BRIEF) {
            assert_eq!(s.number(), number, "{name}");
            assert_eq!(*s as u64, number);
            assert_eq!(s.name(), name);
        }
        assert_eq!(Syscall::MemoryControl as u64, 12);
    }

    #[test]
    fn numbers_round_trip_and_unknown_numbers_are_refused() {
        for s in Syscall::ALL {
            assert_eq!(Syscall::from_number(s.number()), Some(s));
        }
        assert_eq!(Syscall::from_number(15), None);
        assert_eq!(Syscall::from_number(u64::MAX), None);
    }

    #[test]
    fn an_svc_with_a_nonzero_immediate_is_an_unknown_syscall() {
        assert_eq!(decode(0, 0), Ok(Syscall::Ipc));
        assert_eq!(decode(1, 0), Err(Error::UnknownSyscall));
        assert_eq!(decode(0, 15), Err(Error::UnknownSyscall));
    }

    #[test]
    fn exactly_the_control_syscalls_are_privileged() {
        let privileged: Vec<_> =
            Syscall::ALL.iter().filter(|s| s.is_privileged()).map(|s| s.number()).collect();
        assert_eq!(privileged, [2, 9, 12, 13]);
        let grouped: Vec<_> =
            Syscall::ALL.iter().filter(|s| s.is_group_scoped()).map(|s| s.number()).collect();
        assert_eq!(grouped, [1, 14], "ThreadControl and Notify: privileged, or within a group");
    }

    #[test]
    fn control_words_round_trip_and_reserved_bits_are_refused() {
        for privileged in [false, true] {
            for group in [false, true] {
                let f = SpaceControlFlags { privileged, group };
                assert_eq!(SpaceControlFlags::from_raw(f.raw()), Ok(f));
            }
        }
        assert_eq!(SpaceControlFlags::from_raw(4), Err(Error::InvalidArgument));
        let group = SpaceControlFlags { privileged: false, group: true }.raw();
        assert_eq!(SpaceControlFlags::decode(group, 7).map(|(_, g)| g), Ok(Some(7)));
        assert_eq!(SpaceControlFlags::decode(group, 1 << 16), Err(Error::InvalidArgument), "above 65535");
        assert_eq!(SpaceControlFlags::decode(0, 7), Err(Error::InvalidArgument), "a group without the bit");
        assert_eq!(SpaceControlFlags::decode(1, 0).map(|(f, g)| (f.privileged, g)), Ok((true, None)));

        let c = ExregsControl::SET_SP | ExregsControl::SET_IP | ExregsControl::START;
        assert_eq!(c.raw(), 0b1011);
        assert_eq!(ExregsControl::from_raw(c.raw()), Ok(c));
        assert_eq!(ExregsControl::SET_EXCEPTION_HANDLER.raw(), 1 << 5);
        assert_eq!(ExregsControl::from_raw(1 << 6), Err(Error::InvalidArgument));

        let u = UnmapControl::new(63, true).unwrap();
        assert_eq!(u.raw(), 63 | 1 << 6);
        assert_eq!(UnmapControl::from_raw(u.raw()), Ok(u));
        assert_eq!(UnmapControl::new(64, false), None);
        assert_eq!(UnmapControl::from_raw(1 << 7), Err(Error::InvalidArgument));
    }
}
