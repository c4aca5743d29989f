// SPDX-License-Identifier: MIT OR Apache-2.0
//! Status numbers: what `x0` holds when a system call returns.
//!
//! Every system call returns a status in `x0`: 0 for success, otherwise one of the
//! [`Error`] numbers below. The kernel decodes a call's arguments before it changes
//! anything, so an error always means *nothing happened* (the one documented
//! exception is `Ipc`, where a receive-phase error can follow a completed send; see
//! [`crate::Syscall::Ipc`]). Errors are numbers on the wire and an enum in Rust, never
//! strings.
//!
//! The numbers are stable: a released number is never reassigned, new errors are
//! appended. The test at the bottom pins every number to the design brief.
#![forbid(unsafe_code)]

use core::fmt;

/// The status of a successful system call.
pub const OK: u64 = 0;

/// Why a system call failed: the nonzero status in `x0`.
///
/// 0 is success and not an error, so the enum starts at 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum Error {
    /// The caller's space is not privileged and the syscall is (`ThreadControl`,
    /// `SpaceControl`, `InterruptControl`, `MemoryControl`).
    NoPrivilege = 1,
    /// A thread id names no existing thread, is stale (its version does not match),
    /// or is NIL/ANY where a real thread is needed.
    InvalidThread = 2,
    /// The space argument (a thread of the space) names no usable address space.
    InvalidSpace = 3,
    /// The scheduler argument of `ThreadControl` names no usable scheduler thread.
    InvalidScheduler = 4,
    /// An argument is malformed: reserved bits set, a flexpage or tag that does not
    /// decode, an address that is not aligned, a value out of range.
    InvalidArgument = 5,
    /// The UTCB address of `ThreadControl` is not page aligned, not in the user half,
    /// or overlaps another mapping.
    InvalidUtcb = 6,
    /// A quota or the node's frame pool is exhausted; nothing was changed.
    OutOfMemory = 7,
    /// `Ipc`: the send phase timed out before the partner was ready.
    SendTimeout = 8,
    /// `Ipc`: the receive phase timed out before a message arrived.
    ReceiveTimeout = 9,
    /// `Ipc`: the partner does not exist (or was deleted while we waited).
    NonExistingPartner = 10,
    /// `Ipc`: the operation was cancelled by `ExchangeRegisters` (halt or restart).
    Cancelled = 11,
    /// `Ipc`: the message does not fit: more words than the message registers hold.
    MessageOverflow = 12,
    /// `Ipc`: a map or grant item falls outside (or is larger than) the receiver's
    /// window; the whole IPC fails for both parties and nothing is mapped.
    MapRejected = 13,
    /// `x8` holds no syscall number, or the `svc` immediate is not 0.
    UnknownSyscall = 14,
    /// A CPU index is not that of an online CPU.
    InvalidCpu = 15,
    /// A node number is not that of a NUMA node of this machine.
    InvalidNode = 16,
    /// An interrupt id is not one the interrupt controller has, or is not attached to
    /// the caller.
    InvalidInterrupt = 17,
    /// The object is in use (an interrupt already has a handler, a thread is in a
    /// state that forbids the operation); try again or detach first.
    Busy = 18,
    /// `Notify`: the target's notification queue is full (it has not received the
    /// ones before); nothing was queued.
    QueueFull = 19,
}

impl Error {
    /// Every error, in number order.
    pub const ALL: [Error; 19] = [
        Error::NoPrivilege,
        Error::InvalidThread,
        Error::InvalidSpace,
        Error::InvalidScheduler,
        Error::InvalidArgument,
        Error::InvalidUtcb,
        Error::OutOfMemory,
        Error::SendTimeout,
        Error::ReceiveTimeout,
        Error::NonExistingPartner,
        Error::Cancelled,
        Error::MessageOverflow,
        Error::MapRejected,
        Error::UnknownSyscall,
        Error::InvalidCpu,
        Error::InvalidNode,
        Error::InvalidInterrupt,
        Error::Busy,
        Error::QueueFull,
    ];

    /// The error with status number `code`, or `None` for 0 (success) and for numbers
    /// this version does not know (a newer kernel may append errors).
    pub const fn from_code(code: u64) -> Option<Error> {
        if code == 0 || code > Error::ALL.len() as u64 {
            return None;
        }
        Some(Error::ALL[(code - 1) as usize])
    }

    /// The status number of this error, as it appears in `x0`.
    pub const fn code(self) -> u64 {
        self as u64
    }

    /// The error's name, as spelled in the ABI tables.
    pub const fn name(self) -> &'static str {
        match self {
            Error::NoPrivilege => "NoPrivilege",
            Error::InvalidThread => "InvalidThread",
            Error::InvalidSpace => "InvalidSpace",
            Error::InvalidScheduler => "InvalidScheduler",
            Error::InvalidArgument => "InvalidArgument",
            Error::InvalidUtcb => "InvalidUtcb",
            Error::OutOfMemory => "OutOfMemory",
            Error::SendTimeout => "SendTimeout",
            Error::ReceiveTimeout => "ReceiveTimeout",
            Error::NonExistingPartner => "NonExistingPartner",
            Error::Cancelled => "Cancelled",
            Error::MessageOverflow => "MessageOverflow",
            Error::MapRejected => "MapRejected",
            Error::UnknownSyscall => "UnknownSyscall",
            Error::InvalidCpu => "InvalidCpu",
            Error::InvalidNode => "InvalidNode",
            Error::InvalidInterrupt => "InvalidInterrupt",
            Error::Busy => "Busy",
            Error::QueueFull => "QueueFull",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// The status word for a result: 0 for `Ok`, the error's number otherwise (what the
/// kernel puts in `x0`).
pub const fn status(result: Result<(), Error>) -> u64 {
    match result {
        Ok(()) => OK,
        Err(e) => e.code(),
    }
}

/// A status word that is neither 0 nor an error this version knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownStatus(pub u64);

impl fmt::Display for UnknownStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown status {}", self.0)
    }
}

/// Decodes the status word in `x0` (what a user program does after `svc`): `Ok` for
/// 0, the [`Error`] for a known number, [`UnknownStatus`] for anything else.
pub const fn check(status: u64) -> Result<Result<(), Error>, UnknownStatus> {
    if status == OK {
        return Ok(Ok(()));
    }
    match Error::from_code(status) {
        Some(e) => Ok(Err(e)),
        None => Err(UnknownStatus(status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The brief's table, copied by hand: if an error is renumbered, this fails.
    const BRIEF: [(u64, &str); 19] = [
        (1, "NoPrivilege"),
        (2, "InvalidThread"),
        (3, "InvalidSpace"),
        (4, "InvalidScheduler"),
        (5, "InvalidArgument"),
        (6, "InvalidUtcb"),
        (7, "OutOfMemory"),
        (8, "SendTimeout"),
        (9, "ReceiveTimeout"),
        (10, "NonExistingPartner"),
        (11, "Cancelled"),
        (12, "MessageOverflow"),
        (13, "MapRejected"),
        (14, "UnknownSyscall"),
        (15, "InvalidCpu"),
        (16, "InvalidNode"),
        (17, "InvalidInterrupt"),
        (18, "Busy"),
        (19, "QueueFull"),
    ];

    #[test]
    fn every_error_keeps_the_number_and_name_of_the_brief() {
        assert_eq!(Error::ALL.len(), BRIEF.len());
        for (e, (code, name)) in Error::ALL.iter().zip(BRIEF) {
            assert_eq!(e.code(), code, "{name}");
            assert_eq!(e.name(), name);
            assert_eq!(*e as u64, code);
        }
        // Spot checks that do not go through ALL, in case ALL and the enum disagree.
        assert_eq!(Error::MapRejected as u64, 13);
        assert_eq!(Error::Busy as u64, 18);
    }

    #[test]
    fn codes_round_trip_and_zero_and_unknown_numbers_are_not_errors() {
        for e in Error::ALL {
            assert_eq!(Error::from_code(e.code()), Some(e));
        }
        assert_eq!(Error::from_code(0), None);
        assert_eq!(Error::from_code(20), None);
        assert_eq!(Error::from_code(u64::MAX), None);
    }

    #[test]
    fn status_words_decode_to_success_errors_or_unknown() {
        assert_eq!(status(Ok(())), 0);
        assert_eq!(status(Err(Error::OutOfMemory)), 7);
        assert_eq!(check(0), Ok(Ok(())));
        assert_eq!(check(7), Ok(Err(Error::OutOfMemory)));
        assert_eq!(check(99), Err(UnknownStatus(99)));
    }

    #[test]
    fn display_shows_name_and_number() {
        assert_eq!(Error::InvalidArgument.to_string(), "InvalidArgument (5)");
        assert_eq!(UnknownStatus(42).to_string(), "unknown status 42");
    }
}
