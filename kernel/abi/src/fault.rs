// SPDX-License-Identifier: MIT OR Apache-2.0
//! Messages the kernel sends: page faults, exceptions, interrupts.
//!
//! In L4 the kernel resolves nothing itself. When a thread touches memory its space
//! has no mapping for, the kernel stops it and sends its *pager* an IPC on its behalf
//! (the sender id is the faulting thread); the pager answers with a map item, and the
//! thread resumes. Other exceptions (an undefined instruction, an alignment fault) go
//! the same way to the thread's *exception handler*, and a hardware interrupt becomes
//! an IPC from the interrupt's pseudo-thread to the thread attached to it. This module
//! builds and decodes those messages, so a pager and the kernel agree on every word.
//!
//! # Design
//! ```text
//!  message      label            u   MR1          MR2      MR3   MR4  MR5
//!  page fault   0xFFE0 | rwx     2   fault addr   IP
//!  exception    0xFFB0           5   ESR_EL1      FAR_EL1  ELR   SP   SPSR
//!  interrupt    0xFFF0           1   INTID
//!  notification 0xFFD0           1   the word     (from: the notifier; `Notify`)
//! ```
//! `rwx` is the attempted access (bit 2 read, bit 1 write, bit 0 execute: the same bits
//! as flexpage [`Rights`]). The replies:
//! - page fault: a message with a map/grant item resolving it; any other message
//!   resumes the thread, which faults again if nothing was mapped. A reply whose
//!   items the faulter's kernel-memory quota or the free memory cannot cover fails
//!   for the pager with `OutOfMemory`, maps nothing and leaves the thread in its
//!   fault, waiting for this pager's next answer (a resumed thread would fault again
//!   at once, and pager and thread would loop for ever without a word).
//! - exception: u = 2, MR1 new IP, MR2 new SP resumes the thread there ([`ExceptionReply`]);
//!   any other reply leaves it halted.
//! - interrupt: nothing to reply; the handler re-enables the interrupt with
//!   `InterruptControl` (or automatically, with its ack flag).
//!
//! These labels are ordinary labels: any thread can send a message labelled 0xFFE0. A
//! pager should believe a fault message only from a thread it pages (the kernel sends
//! it *as* that thread), and an interrupt message only from an interrupt pseudo-thread.
//!
//! # References
//! L4 X.2 reference manual, 6.1 "Page faults" and 6.2 "Exception handling"; Arm ARM
//! (DDI 0487) D17.2 for ESR_EL1, FAR_EL1, ELR_EL1 and SPSR_EL1.
#![forbid(unsafe_code)]

use core::fmt;

use crate::fpage::Rights;
use crate::message::{MR_COUNT, Message, Tag};
use crate::thread::ThreadId;

/// The label of a page-fault message, without the access bits.
pub const PAGE_FAULT_LABEL: u16 = 0xFFE0;
/// The bits of a page-fault label that hold the access (`rwx`).
pub const PAGE_FAULT_ACCESS_MASK: u16 = 0x7;
/// The label of an exception message.
pub const EXCEPTION_LABEL: u16 = 0xFFB0;
/// The label of an interrupt message.
pub const INTERRUPT_LABEL: u16 = 0xFFF0;
/// The label of a notification (`Notify`) delivered to an open receive.
pub const NOTIFY_LABEL: u16 = 0xFFD0;

/// Why a message is not the kernel message it was decoded as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultError {
    /// The label is not one of the kernel's.
    NotAKernelMessage {
        /// The label found.
        label: u16,
    },
    /// The label is right but the untyped word count is not.
    WrongLength {
        /// The label found.
        label: u16,
        /// The `u` the label requires.
        expected: u8,
        /// The `u` found.
        found: u8,
    },
    /// The message carries typed items; kernel messages have none.
    TypedItems,
    /// An interrupt message's INTID does not fit 32 bits.
    BadIntid,
}

impl fmt::Display for FaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultError::NotAKernelMessage { label } => write!(f, "label {label:#x} is not a kernel message"),
            FaultError::WrongLength { label, expected, found } => {
                write!(f, "label {label:#x} needs u={expected}, found u={found}")
            }
            FaultError::TypedItems => f.write_str("kernel message with typed items"),
            FaultError::BadIntid => f.write_str("interrupt message INTID out of range"),
        }
    }
}

/// A page fault: the thread tried `access` at `address` and the space has no mapping
/// that allows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFault {
    /// The faulting virtual address (from FAR_EL1).
    pub address: u64,
    /// The instruction that faulted (ELR_EL1).
    pub ip: u64,
    /// What was attempted: read, write or execute.
    pub access: Rights,
}

impl PageFault {
    /// Words after the tag.
    pub const U: u8 = 2;

    /// The tag (label `0xFFE0 | rwx`, u = 2).
    pub const fn tag(&self) -> Tag {
        match Tag::new(PAGE_FAULT_LABEL | self.access.bits() as u16, Self::U, 0) {
            Ok(t) => t,
            Err(_) => unreachable!(),
        }
    }

    /// MR0..MR2.
    pub const fn encode(&self) -> [u64; 3] {
        [self.tag().raw(), self.address, self.ip]
    }
}

/// An exception other than a page fault (or a page fault in a thread without a
/// pager), with the registers a handler needs to decide what to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exception {
    /// ESR_EL1: the exception syndrome (class and details).
    pub esr: u64,
    /// FAR_EL1: the faulting address, where the class has one.
    pub far: u64,
    /// ELR_EL1: the IP of the faulting instruction.
    pub elr: u64,
    /// SP_EL0: the thread's stack pointer.
    pub sp: u64,
    /// SPSR_EL1: the thread's saved processor state.
    pub spsr: u64,
}

impl Exception {
    /// Words after the tag.
    pub const U: u8 = 5;

    /// The tag (label 0xFFB0, u = 5).
    pub const fn tag(&self) -> Tag {
        match Tag::new(EXCEPTION_LABEL, Self::U, 0) {
            Ok(t) => t,
            Err(_) => unreachable!(),
        }
    }

    /// MR0..MR5.
    pub const fn encode(&self) -> [u64; 6] {
        [self.tag().raw(), self.esr, self.far, self.elr, self.sp, self.spsr]
    }
}

/// The reply to an exception message that resumes the thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExceptionReply {
    /// Where the thread continues.
    pub ip: u64,
    /// Its stack pointer there.
    pub sp: u64,
}

impl ExceptionReply {
    /// Words after the tag.
    pub const U: u8 = 2;

    /// MR0..MR2 (label 0, u = 2).
    pub const fn encode(&self) -> [u64; 3] {
        let tag = match Tag::new(0, Self::U, 0) {
            Ok(t) => t,
            Err(_) => unreachable!(),
        };
        [tag.raw(), self.ip, self.sp]
    }

    /// The reply in `msg`, or `None` if it does not resume the thread (the thread then
    /// stays halted). Any label is accepted; only u = 2 and t = 0 count.
    pub fn decode(msg: &Message<'_>) -> Option<ExceptionReply> {
        let tag = msg.tag();
        if tag.u() != Self::U || tag.t() != 0 {
            return None;
        }
        let w = msg.untyped();
        Some(ExceptionReply { ip: w[0], sp: w[1] })
    }
}

/// A hardware interrupt, delivered to the thread attached with `InterruptControl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interrupt {
    /// The GIC interrupt id.
    pub intid: u32,
}

impl Interrupt {
    /// Words after the tag.
    pub const U: u8 = 1;

    /// The tag (label 0xFFF0, u = 1).
    pub const fn tag(&self) -> Tag {
        match Tag::new(INTERRUPT_LABEL, Self::U, 0) {
            Ok(t) => t,
            Err(_) => unreachable!(),
        }
    }

    /// MR0..MR1.
    pub const fn encode(&self) -> [u64; 2] {
        [self.tag().raw(), self.intid as u64]
    }

    /// The sender of the message: the interrupt's pseudo-thread (`None` if the INTID
    /// has none).
    pub const fn sender(&self) -> Option<ThreadId> {
        ThreadId::interrupt(self.intid)
    }
}

/// A message the kernel sent, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelMessage {
    /// See [`PageFault`].
    PageFault(PageFault),
    /// See [`Exception`].
    Exception(Exception),
    /// See [`Interrupt`].
    Interrupt(Interrupt),
}

impl KernelMessage {
    /// Decodes a received message by its label, checking its shape.
    pub fn decode(msg: &Message<'_>) -> Result<KernelMessage, FaultError> {
        let tag = msg.tag();
        let label = tag.label();
        let expected = match label {
            l if l & !PAGE_FAULT_ACCESS_MASK == PAGE_FAULT_LABEL => PageFault::U,
            EXCEPTION_LABEL => Exception::U,
            INTERRUPT_LABEL => Interrupt::U,
            _ => return Err(FaultError::NotAKernelMessage { label }),
        };
        if tag.u() != expected {
            return Err(FaultError::WrongLength { label, expected, found: tag.u() });
        }
        if tag.t() != 0 {
            return Err(FaultError::TypedItems);
        }
        let w = msg.untyped();
        Ok(match label {
            EXCEPTION_LABEL => {
                KernelMessage::Exception(Exception { esr: w[0], far: w[1], elr: w[2], sp: w[3], spsr: w[4] })
            }
            INTERRUPT_LABEL => {
                let intid = u32::try_from(w[0]).map_err(|_| FaultError::BadIntid)?;
                KernelMessage::Interrupt(Interrupt { intid })
            }
            _ => {
                let access = match Rights::from_bits((label & PAGE_FAULT_ACCESS_MASK) as u8) {
                    Some(r) => r,
                    None => unreachable!("masked to three bits"),
                };
                KernelMessage::PageFault(PageFault { address: w[0], ip: w[1], access })
            }
        })
    }

    /// The message registers MR0..MR(u) of this message, in a full MR array (the
    /// rest zero), as the kernel would deliver it.
    pub fn to_mrs(&self) -> [u64; MR_COUNT] {
        let mut mrs = [0; MR_COUNT];
        match self {
            KernelMessage::PageFault(p) => mrs[..3].copy_from_slice(&p.encode()),
            KernelMessage::Exception(e) => mrs[..6].copy_from_slice(&e.encode()),
            KernelMessage::Interrupt(i) => mrs[..2].copy_from_slice(&i.encode()),
        }
        mrs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(mrs: &[u64; MR_COUNT]) -> Result<KernelMessage, FaultError> {
        KernelMessage::decode(&Message::new(mrs).unwrap())
    }

    #[test]
    fn labels_are_the_briefs() {
        assert_eq!(PAGE_FAULT_LABEL, 0xFFE0);
        assert_eq!(EXCEPTION_LABEL, 0xFFB0);
        assert_eq!(INTERRUPT_LABEL, 0xFFF0);
        let w = PageFault { address: 0x1000, ip: 0x40_0000, access: Rights::W };
        assert_eq!(w.tag().label(), 0xFFE2);
        assert_eq!(w.tag().u(), 2);
        let x = PageFault { access: Rights::X, ..w };
        assert_eq!(x.tag().label(), 0xFFE1);
    }

    #[test]
    fn every_kernel_message_round_trips_through_the_registers() {
        let messages = [
            KernelMessage::PageFault(PageFault { address: 0xDEAD_B000, ip: 0x40_1234, access: Rights::R }),
            KernelMessage::PageFault(PageFault { address: 0, ip: 0, access: Rights::RWX }),
            KernelMessage::Exception(Exception { esr: 0x5600_0000, far: 1, elr: 2, sp: 3, spsr: 0x3C0 }),
            KernelMessage::Interrupt(Interrupt { intid: 33 }),
        ];
        for m in messages {
            assert_eq!(decode(&m.to_mrs()), Ok(m));
        }
        assert_eq!(Interrupt { intid: 33 }.sender(), ThreadId::interrupt(33));
    }

    #[test]
    fn the_exception_message_puts_each_register_in_its_mr() {
        let e = Exception { esr: 10, far: 11, elr: 12, sp: 13, spsr: 14 };
        assert_eq!(&e.encode()[1..], &[10, 11, 12, 13, 14]);
        assert_eq!(Tag::from_raw(e.encode()[0]).unwrap().u(), 5);
    }

    #[test]
    fn other_labels_wrong_lengths_and_typed_items_are_refused() {
        let mut mrs = [0u64; MR_COUNT];
        mrs[0] = Tag::new(0x1234, 2, 0).unwrap().raw();
        assert_eq!(decode(&mrs), Err(FaultError::NotAKernelMessage { label: 0x1234 }));
        mrs[0] = Tag::new(0xFFE8, 2, 0).unwrap().raw();
        assert_eq!(decode(&mrs), Err(FaultError::NotAKernelMessage { label: 0xFFE8 }));
        mrs[0] = Tag::new(EXCEPTION_LABEL, 2, 0).unwrap().raw();
        assert_eq!(
            decode(&mrs),
            Err(FaultError::WrongLength { label: EXCEPTION_LABEL, expected: 5, found: 2 })
        );
        mrs[0] = Tag::new(0xFFE4, 2, 2).unwrap().raw();
        assert_eq!(decode(&mrs), Err(FaultError::TypedItems));
        mrs[0] = Tag::new(INTERRUPT_LABEL, 1, 0).unwrap().raw();
        mrs[1] = 1 << 32;
        assert_eq!(decode(&mrs), Err(FaultError::BadIntid));
    }

    #[test]
    fn an_exception_reply_resumes_only_with_two_words_and_no_items() {
        let reply = ExceptionReply { ip: 0x1000, sp: 0x8000 };
        let mut mrs = [0u64; MR_COUNT];
        mrs[..3].copy_from_slice(&reply.encode());
        assert_eq!(ExceptionReply::decode(&Message::new(&mrs).unwrap()), Some(reply));
        mrs[0] = Tag::new(0, 1, 0).unwrap().raw();
        assert_eq!(ExceptionReply::decode(&Message::new(&mrs).unwrap()), None);
        mrs[0] = Tag::new(0, 2, 2).unwrap().raw();
        assert_eq!(ExceptionReply::decode(&Message::new(&mrs).unwrap()), None);
    }
}
