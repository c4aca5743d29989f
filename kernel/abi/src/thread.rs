// SPDX-License-Identifier: MIT OR Apache-2.0
//! Thread ids: how a thread is named in every system call.
//!
//! L4 names threads, not ports or capabilities: an IPC goes *to a thread id*. An id is
//! a thread number plus a version. The number picks the kernel's thread slot; the
//! version is bumped whenever the slot is reused, so an id held by someone after its
//! thread was deleted (a stale id) no longer matches and fails with
//! [`crate::Error::InvalidThread`] instead of reaching the slot's new occupant.
//!
//! # Design
//! ```text
//!  bit 63                                       16 15            0
//!     |            thread number (48 bits)        | version (16)  |
//! ```
//! - `NIL` (0) means "no thread": no send or no receive phase in `Ipc`, "yield" in
//!   `ThreadSwitch`, "delete" in `ThreadControl`.
//! - `ANY` (all ones) means "any thread" in the receive specifier of `Ipc`.
//! - A valid id has version != 0 (so no valid id is NIL) and its number is not all
//!   ones (so no valid id is ANY).
//! - Interrupts are pseudo-threads: the message of interrupt `intid` comes from the id
//!   with number [`INTERRUPT_NUMBER_BASE`]` + intid` and version 1.
//!
//! # References
//! L4 X.2 reference manual, 2.1 "ThreadId" (global ids, nil and any).
#![forbid(unsafe_code)]

use core::fmt;

/// A thread's global id. The field is private: an id is made with [`ThreadId::new`]
/// (which validates) or read from a register with [`ThreadId::from_raw`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadId(u64);

/// Bits of the thread number.
pub const NUMBER_BITS: u32 = 48;
/// The largest number a real thread may have (all ones is ANY's).
pub const MAX_NUMBER: u64 = (1 << NUMBER_BITS) - 2;
/// The thread number of the root task's first thread.
pub const ROOT_THREAD_NUMBER: u64 = 1;
/// Interrupt pseudo-threads have numbers `INTERRUPT_NUMBER_BASE + intid`.
pub const INTERRUPT_NUMBER_BASE: u64 = 0x1_0000;
/// The largest interrupt id a pseudo-thread exists for: GICv3 INTIDs are at most 24
/// bits wide (Arm GIC architecture specification, IHI 0069, 2.2).
pub const MAX_INTID: u32 = (1 << 24) - 1;
/// The version of every interrupt pseudo-thread.
pub const INTERRUPT_VERSION: u16 = 1;

impl ThreadId {
    /// No thread.
    pub const NIL: ThreadId = ThreadId(0);
    /// Any thread (receive specifier of `Ipc`).
    pub const ANY: ThreadId = ThreadId(u64::MAX);
    /// The root task's first thread (number 1, version 1): the thread the kernel
    /// starts, the first privileged thread.
    pub const ROOT: ThreadId = ThreadId((ROOT_THREAD_NUMBER << 16) | 1);

    /// The id of thread `number`, generation `version`; `None` if `version` is 0 or
    /// `number` does not fit in 48 bits or is all ones (those are NIL and ANY).
    pub const fn new(number: u64, version: u16) -> Option<ThreadId> {
        if version == 0 || number > MAX_NUMBER {
            return None;
        }
        Some(ThreadId((number << 16) | version as u64))
    }

    /// The id in register `raw`, as it is: NIL, ANY, a valid id, or an invalid one
    /// (version 0 with a nonzero number); check with [`ThreadId::is_valid`].
    pub const fn from_raw(raw: u64) -> ThreadId {
        ThreadId(raw)
    }

    /// The register value.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// The thread number (bits 63..16).
    pub const fn number(self) -> u64 {
        self.0 >> 16
    }

    /// The version (bits 15..0).
    pub const fn version(self) -> u16 {
        self.0 as u16
    }

    /// Whether this is NIL.
    pub const fn is_nil(self) -> bool {
        self.0 == Self::NIL.0
    }

    /// Whether this is ANY.
    pub const fn is_any(self) -> bool {
        self.0 == Self::ANY.0
    }

    /// Whether this names a thread: neither NIL nor ANY, version != 0.
    pub const fn is_valid(self) -> bool {
        self.version() != 0 && !self.is_any()
    }

    /// The pseudo-thread of interrupt `intid`, the sender of its messages; `None` if
    /// `intid` exceeds [`MAX_INTID`].
    pub const fn interrupt(intid: u32) -> Option<ThreadId> {
        if intid > MAX_INTID {
            return None;
        }
        ThreadId::new(INTERRUPT_NUMBER_BASE + intid as u64, INTERRUPT_VERSION)
    }

    /// The interrupt this id is the pseudo-thread of, if it is one.
    pub const fn interrupt_id(self) -> Option<u32> {
        let n = self.number();
        if self.version() != INTERRUPT_VERSION
            || n < INTERRUPT_NUMBER_BASE
            || n > INTERRUPT_NUMBER_BASE + MAX_INTID as u64
        {
            return None;
        }
        Some((n - INTERRUPT_NUMBER_BASE) as u32)
    }

    /// Whether this is an interrupt pseudo-thread.
    pub const fn is_interrupt(self) -> bool {
        self.interrupt_id().is_some()
    }
}

impl fmt::Debug for ThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `NIL`, `ANY`, `irq<intid>` or `<number>.<version>` (numbers in hex).
impl fmt::Display for ThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_nil() {
            f.write_str("NIL")
        } else if self.is_any() {
            f.write_str("ANY")
        } else if let Some(intid) = self.interrupt_id() {
            write!(f, "irq{intid}")
        } else {
            write!(f, "{:#x}.{}", self.number(), self.version())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_and_version_round_trip_through_the_register() {
        for (number, version) in [(1, 1), (0x1234, 0xFFFF), (MAX_NUMBER, 7), (0, 1)] {
            let id = ThreadId::new(number, version).unwrap();
            assert_eq!((id.number(), id.version()), (number, version));
            assert_eq!(ThreadId::from_raw(id.raw()), id);
            assert!(id.is_valid());
        }
        assert_eq!(ThreadId::new(0x1234, 5).unwrap().raw(), 0x1234_0005);
    }

    #[test]
    fn version_zero_and_oversized_numbers_are_refused() {
        assert_eq!(ThreadId::new(1, 0), None);
        assert_eq!(ThreadId::new(1 << 48, 1), None);
        // All ones with version 0xFFFF would be ANY.
        assert_eq!(ThreadId::new((1 << 48) - 1, 0xFFFF), None);
        assert!(!ThreadId::from_raw(0x5_0000).is_valid(), "number 5, version 0");
    }

    #[test]
    fn nil_and_any_are_the_brief_values_and_not_valid_threads() {
        assert_eq!(ThreadId::NIL.raw(), 0);
        assert_eq!(ThreadId::ANY.raw(), u64::MAX);
        assert!(ThreadId::NIL.is_nil() && !ThreadId::NIL.is_valid());
        assert!(ThreadId::ANY.is_any() && !ThreadId::ANY.is_valid());
        assert_eq!(ThreadId::ROOT.number(), 1);
        assert!(ThreadId::ROOT.is_valid());
    }

    #[test]
    fn interrupt_pseudo_threads_have_number_base_plus_intid_and_version_one() {
        let id = ThreadId::interrupt(33).unwrap();
        assert_eq!(id.number(), 0x1_0000 + 33);
        assert_eq!(id.version(), 1);
        assert_eq!(id.interrupt_id(), Some(33));
        assert!(id.is_interrupt());
        assert_eq!(ThreadId::interrupt(MAX_INTID).unwrap().interrupt_id(), Some(MAX_INTID));
        assert_eq!(ThreadId::interrupt(MAX_INTID + 1), None);
        assert!(!ThreadId::new(0x1_0000 + 33, 2).unwrap().is_interrupt());
        assert!(!ThreadId::ROOT.is_interrupt());
    }

    #[test]
    fn ids_print_as_nil_any_irq_or_number_dot_version() {
        assert_eq!(ThreadId::NIL.to_string(), "NIL");
        assert_eq!(ThreadId::ANY.to_string(), "ANY");
        assert_eq!(ThreadId::interrupt(27).unwrap().to_string(), "irq27");
        assert_eq!(format!("{:?}", ThreadId::new(0x42, 3).unwrap()), "0x42.3");
    }
}
