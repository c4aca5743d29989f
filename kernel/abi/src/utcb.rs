// SPDX-License-Identifier: MIT OR Apache-2.0
//! The UTCB: the page a thread shares with the kernel.
//!
//! Each thread has one user thread control block, a 4 KiB page the kernel allocates
//! (on the home node of the thread's space, so its traffic stays local) and maps at
//! the user address given to `ThreadControl`. It holds what does not fit in registers:
//! message registers MR5..MR63 (MR0..MR4 travel in `x3..x7`), the buffer registers
//! (BR0 is the receive window for mappings), and a few values the kernel publishes to
//! the thread so it can read them without a system call.
//!
//! # Design
//! ```text
//!  offset  size  field
//!       0   512  MR0..MR63           message registers (MR0..MR4 also in x3..x7)
//!     512   264  BR0..BR32           buffer registers; BR0 = receive window (a flexpage)
//!     776     8  my global id        the thread's own ThreadId           (kernel writes)
//!     784     8  pager               the thread's pager                  (kernel writes)
//!     792     8  exception handler   the thread's exception handler      (kernel writes)
//!     800     8  error detail        more about the last error, if any   (kernel writes)
//!     808     8  cpu                 the CPU index the thread runs on    (kernel writes)
//!     816     8  node                that CPU's NUMA node                (kernel writes)
//!     824  3272  reserved            0
//!    4096        end
//! ```
//! The page is writable by the thread (it must be, for the MRs), so the kernel never
//! trusts what it reads there beyond the MRs and BRs of the current operation: the
//! fields marked "kernel writes" are copies of kernel state for the thread's
//! convenience; the authoritative pager and exception handler are in the kernel's
//! thread control block and change only through `ThreadControl` and
//! `ExchangeRegisters`.
//!
//! # Invariants
//! [`Utcb`] matches the offsets above exactly; compile-time assertions fail the build
//! otherwise.
#![forbid(unsafe_code)]

use core::mem::{offset_of, size_of};

use crate::fpage::{Fpage, FpageError};
use crate::message::{MR_COUNT, Message, TagError};
use crate::thread::ThreadId;

/// Size of a UTCB: one page.
pub const UTCB_SIZE: usize = 4096;
/// Buffer registers per thread (BR0..BR32).
pub const BR_COUNT: usize = 33;

/// Offset of MR0.
pub const MR_OFFSET: usize = 0;
/// Offset of BR0 (the receive window).
pub const BR_OFFSET: usize = 512;
/// Offset of the thread's own id.
pub const MY_GLOBAL_ID_OFFSET: usize = 776;
/// Offset of the pager's id.
pub const PAGER_OFFSET: usize = 784;
/// Offset of the exception handler's id.
pub const EXCEPTION_HANDLER_OFFSET: usize = 792;
/// Offset of the error detail word.
pub const ERROR_DETAIL_OFFSET: usize = 800;
/// Offset of the current CPU index.
pub const CPU_OFFSET: usize = 808;
/// Offset of the current node.
pub const NODE_OFFSET: usize = 816;
/// Offset of the reserved tail.
pub const RESERVED_OFFSET: usize = 824;

const RESERVED_WORDS: usize = (UTCB_SIZE - RESERVED_OFFSET) / 8;

/// The UTCB page, field for field.
#[derive(Clone, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Utcb {
    /// MR0..MR63. MR0..MR4 are only meaningful here for messages built in memory:
    /// `Ipc` takes and returns them in `x3..x7`.
    pub mr: [u64; MR_COUNT],
    /// BR0..BR32. BR0 is the receive window: a flexpage where this thread accepts
    /// mappings (nil accepts none). BR1..BR32 are reserved in v1.
    pub br: [u64; BR_COUNT],
    /// The thread's own id (written by the kernel).
    pub my_global_id: u64,
    /// The thread's pager (a copy written by the kernel).
    pub pager: u64,
    /// The thread's exception handler (a copy written by the kernel).
    pub exception_handler: u64,
    /// More about the last failed syscall, when the kernel has more to say than the
    /// status (0 otherwise). Its values are not numbered in v1: informational only.
    pub error_detail: u64,
    /// The CPU index the thread last ran on (written by the kernel).
    pub cpu: u64,
    /// The NUMA node of that CPU (written by the kernel).
    pub node: u64,
    /// Reserved: 0.
    pub reserved: [u64; RESERVED_WORDS],
}

const _: () = {
    assert!(offset_of!(Utcb, mr) == MR_OFFSET);
    assert!(offset_of!(Utcb, br) == BR_OFFSET);
    assert!(offset_of!(Utcb, my_global_id) == MY_GLOBAL_ID_OFFSET);
    assert!(offset_of!(Utcb, pager) == PAGER_OFFSET);
    assert!(offset_of!(Utcb, exception_handler) == EXCEPTION_HANDLER_OFFSET);
    assert!(offset_of!(Utcb, error_detail) == ERROR_DETAIL_OFFSET);
    assert!(offset_of!(Utcb, cpu) == CPU_OFFSET);
    assert!(offset_of!(Utcb, node) == NODE_OFFSET);
    assert!(offset_of!(Utcb, reserved) == RESERVED_OFFSET);
    assert!(size_of::<Utcb>() == UTCB_SIZE);
};

impl Utcb {
    /// An all-zero UTCB: no message, a nil receive window, NIL ids.
    pub const fn zeroed() -> Utcb {
        Utcb {
            mr: [0; MR_COUNT],
            br: [0; BR_COUNT],
            my_global_id: 0,
            pager: 0,
            exception_handler: 0,
            error_detail: 0,
            cpu: 0,
            node: 0,
            reserved: [0; RESERVED_WORDS],
        }
    }

    /// The message in the MRs (the tag in MR0 checked).
    pub const fn message(&self) -> Result<Message<'_>, TagError> {
        Message::new(&self.mr)
    }

    /// The receive window (BR0), decoded.
    pub const fn receive_window(&self) -> Result<Fpage, FpageError> {
        Fpage::from_raw(self.br[0])
    }

    /// Opens (or, with [`Fpage::nil`], closes) the receive window.
    pub const fn set_receive_window(&mut self, window: Fpage) {
        self.br[0] = window.raw();
    }

    /// The thread's own id.
    pub const fn my_global_id(&self) -> ThreadId {
        ThreadId::from_raw(self.my_global_id)
    }

    /// The thread's pager.
    pub const fn pager(&self) -> ThreadId {
        ThreadId::from_raw(self.pager)
    }

    /// The thread's exception handler.
    pub const fn exception_handler(&self) -> ThreadId {
        ThreadId::from_raw(self.exception_handler)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpage::Rights;

    #[test]
    fn the_struct_matches_the_briefs_offsets() {
        // The brief's numbers, written out again so that a change to the constants
        // above fails here as well as in the const assertion.
        assert_eq!(offset_of!(Utcb, mr), 0);
        assert_eq!(offset_of!(Utcb, br), 512);
        assert_eq!(offset_of!(Utcb, my_global_id), 776);
        assert_eq!(offset_of!(Utcb, pager), 784);
        assert_eq!(offset_of!(Utcb, exception_handler), 792);
        assert_eq!(offset_of!(Utcb, error_detail), 800);
        assert_eq!(offset_of!(Utcb, cpu), 808);
        assert_eq!(offset_of!(Utcb, node), 816);
        assert_eq!(size_of::<Utcb>(), 4096);
        assert_eq!(BR_COUNT * 8, 264);
        assert_eq!(core::mem::align_of::<Utcb>(), 8);
    }

    #[test]
    fn the_receive_window_round_trips_through_br0() {
        let mut utcb = Utcb::zeroed();
        assert_eq!(utcb.receive_window(), Ok(Fpage::nil()));
        let w = Fpage::new(0x4000_0000, 30, Rights::RWX).unwrap();
        utcb.set_receive_window(w);
        assert_eq!(utcb.receive_window(), Ok(w));
        utcb.br[0] = 0x1000 | 13 << 6;
        assert_eq!(utcb.receive_window(), Err(FpageError::Misaligned));
    }

    #[test]
    fn ids_and_the_message_read_from_their_fields() {
        let mut utcb = Utcb::zeroed();
        let me = ThreadId::new(5, 1).unwrap();
        utcb.my_global_id = me.raw();
        utcb.pager = ThreadId::ROOT.raw();
        assert_eq!(utcb.my_global_id(), me);
        assert_eq!(utcb.pager(), ThreadId::ROOT);
        assert!(utcb.exception_handler().is_nil());
        utcb.mr[0] = crate::Tag::new(7, 1, 0).unwrap().raw();
        utcb.mr[1] = 99;
        assert_eq!(utcb.message().unwrap().untyped(), &[99]);
        utcb.mr[0] = 1 << 40;
        assert_eq!(utcb.message().unwrap_err(), TagError::HighBits);
    }
}
