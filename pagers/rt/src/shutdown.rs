// SPDX-License-Identifier: MIT OR Apache-2.0
//! The shutdown protocol between the programs and the root task: its words, its
//! errors, and the calls a program makes.
//!
//! A system that is switched off in order tells its running programs first and gives
//! them time to finish (flush a log, park a device), then powers off. In this system
//! the root task is the supervisor of every program (`pagers/root/src/supervisor.rs`),
//! so it keeps the list of who wants to be told and does the telling; a driver that
//! sees the power button (`pagers/powerbtn`) only asks it to begin. This module is the
//! part both sides share, so the numbers are written once: the root decodes what
//! `register`, `request` and `done` send (the calls, on the target), and programs decode
//! the root's notice ([`is_notice`]).
//!
//! # Design
//!
//! ```text
//!  program                                   root task (supervisor)
//!  -------                                   ----------------------
//!  register(tell)   0x5D01 u=1 MR1=tell ---> table of threads to tell (REGISTRATIONS)
//!                   <--- 0x5D00 u=1 MR1=status  the program is now resident: the root
//!                                             starts the next one and keeps paging it
//!  (driver) request 0x5D02 u=0 ------------> only a driver the root trusts; the
//!                   <--- 0x5D00 u=1 MR1=status  shutdown begins once every program of
//!                                             the initrd has started
//!                   <=== Notify NOTICE ====== to every registered thread at once
//!                        (label 0xFFD0, MR1 = NOTICE, from = the root)
//!  ... cleanup ...
//!  done()           0x5D03 u=0 ------------> counted; a thread silent for the
//!                   <--- 0x5D00 u=1 MR1=status  root's deadline is counted timed out
//!                                             report: shutdown told= acknowledged=
//!                                             timed-out=; power off (PSCI)
//! ```
//!
//! - **Requests are calls.** Each request is an IPC call to the root (send, then
//!   receive from the root), answered with a status: 0, or a [`ShutdownError`] number.
//! - **The notice is a `Notify`.** The root tells with the kernel's non-blocking
//!   notification (`Notify`: a one-word message, delivered at the thread's next *open*
//!   receive as label [`abi::fault::NOTIFY_LABEL`] with MR1 = [`NOTICE`], from the
//!   root). A thread that is busy at that moment gets it when it next waits, and the
//!   root never blocks on a slow program: it tells everyone, then waits for the answers
//!   with one deadline. A registered thread must therefore wait in open receives
//!   (`from` = ANY), as servers and drivers do.
//! - **`tell` = 0 means the caller itself.** A program the root does not trust with
//!   privilege has exactly one thread (it cannot create threads), so naming another
//!   is refused ([`ShutdownError::ForeignThread`]); a privileged driver may name one of
//!   its helper threads.
//! - **Exiting counts as an answer.** A told program that calls `rt::exit` instead of
//!   `done` has finished too; one that crashes has not, and is counted timed out.
#![forbid(unsafe_code)]

use abi::message::Tag;

/// The label of the root's answer to every request: MR1 = status (0 or a
/// [`ShutdownError`] number).
pub const REPLY_LABEL: u16 = 0x5D00;
/// "Tell this thread when the system shuts down": MR1 = the thread (0 = the caller).
pub const REGISTER_LABEL: u16 = 0x5D01;
/// "Shut the system down" (drivers the root trusts only).
pub const REQUEST_LABEL: u16 = 0x5D02;
/// "I have finished my cleanup": the answer to the notice.
pub const DONE_LABEL: u16 = 0x5D03;
/// The word of the root's notice (`Notify`): `"shutdown"` in ASCII.
pub const NOTICE: u64 = u64::from_be_bytes(*b"shutdown");

/// Why the root refused a request: MR1 of its answer. The numbers are stable (new
/// errors are appended); 0 is success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum ShutdownError {
    /// A shutdown request from a program the root does not trust to make it (only the
    /// drivers it started privileged may).
    NotAllowed = 1,
    /// The sender is not a program the root started (it answers anyone who asks, so a
    /// caller is not left waiting, but does nothing for them).
    UnknownThread = 2,
    /// The thread is registered already.
    AlreadyRegistered = 3,
    /// The root's table of threads to tell is full (it holds
    /// [`REGISTRATIONS`] entries).
    TableFull = 4,
    /// The shutdown has begun (the notices are out: no more registrations), or has been
    /// requested already (no second request).
    ShuttingDown = 5,
    /// A `done` from a thread that was not told: not registered, told already and
    /// answered, or sent before the shutdown began.
    NotTold = 6,
    /// A program without privilege named a thread other than itself to be told.
    ForeignThread = 7,
    /// The thread to tell is no thread (ANY, or an interrupt's pseudo-thread).
    InvalidThread = 8,
}

/// How many threads the root can tell (its table is fixed: no heap in the root).
pub const REGISTRATIONS: usize = 8;

impl ShutdownError {
    /// Every error, in number order.
    pub const ALL: [ShutdownError; 8] = [
        ShutdownError::NotAllowed,
        ShutdownError::UnknownThread,
        ShutdownError::AlreadyRegistered,
        ShutdownError::TableFull,
        ShutdownError::ShuttingDown,
        ShutdownError::NotTold,
        ShutdownError::ForeignThread,
        ShutdownError::InvalidThread,
    ];

    /// The number on the wire.
    pub const fn code(self) -> u64 {
        self as u64
    }

    /// The error a status number names; `None` for 0 and for numbers not (yet) known.
    pub fn from_code(code: u64) -> Option<ShutdownError> {
        ShutdownError::ALL.into_iter().find(|e| e.code() == code)
    }
}

impl core::fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ShutdownError::NotAllowed => "not allowed to shut the system down",
            ShutdownError::UnknownThread => "not a program of the root task",
            ShutdownError::AlreadyRegistered => "registered already",
            ShutdownError::TableFull => "the table of threads to tell is full",
            ShutdownError::ShuttingDown => "the shutdown is under way",
            ShutdownError::NotTold => "not told of a shutdown",
            ShutdownError::ForeignThread => "not the caller's thread",
            ShutdownError::InvalidThread => "not a thread",
        })
    }
}

/// Why an answer is not the root's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// The root refused, for this reason.
    Refused(ShutdownError),
    /// The status is none of the known numbers.
    UnknownStatus(u64),
    /// The message is not labelled [`REPLY_LABEL`] with one word.
    NotAReply {
        /// MR0 as received.
        tag: u64,
    },
    /// The IPC itself failed (the root was not reached).
    Ipc(abi::Error),
}

impl core::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ReplyError::Refused(e) => write!(f, "refused: {e}"),
            ReplyError::UnknownStatus(s) => write!(f, "unknown status {s}"),
            ReplyError::NotAReply { tag } => write!(f, "not the root's answer (tag {tag:#x})"),
            ReplyError::Ipc(e) => write!(f, "IPC failed: {e}"),
        }
    }
}

fn tag(label: u16, u: u8) -> u64 {
    Tag::new(label, u, 0).map_or(0, |t| t.raw())
}

/// MR0..MR4 of a registration: tell `thread` (0 = the caller).
pub fn register_message(thread: u64) -> [u64; 5] {
    [tag(REGISTER_LABEL, 1), thread, 0, 0, 0]
}

/// MR0..MR4 of a shutdown request.
pub fn request_message() -> [u64; 5] {
    [tag(REQUEST_LABEL, 0), 0, 0, 0, 0]
}

/// MR0..MR4 of the answer to the notice.
pub fn done_message() -> [u64; 5] {
    [tag(DONE_LABEL, 0), 0, 0, 0, 0]
}

/// MR0..MR4 of the root's answer with `status`.
pub fn reply_message(status: Result<(), ShutdownError>) -> [u64; 5] {
    [tag(REPLY_LABEL, 1), status.err().map_or(0, ShutdownError::code), 0, 0, 0]
}

/// Reads the root's answer (MR0..MR4).
pub fn decode_reply(mr: [u64; 5]) -> Result<(), ReplyError> {
    match Tag::from_raw(mr[0]) {
        Ok(t) if t.label() == REPLY_LABEL && t.u() == 1 => {}
        _ => return Err(ReplyError::NotAReply { tag: mr[0] }),
    }
    match mr[1] {
        0 => Ok(()),
        code => {
            Err(ShutdownError::from_code(code).map_or(ReplyError::UnknownStatus(code), ReplyError::Refused))
        }
    }
}

/// Whether a message received from `from` (MR0..MR4) is the root's shutdown notice.
pub fn is_notice(from: u64, mr: [u64; 5]) -> bool {
    let label = Tag::from_raw(mr[0]).map(|t| t.label()).ok();
    from == abi::thread::ThreadId::ROOT.raw() && label == Some(abi::fault::NOTIFY_LABEL) && mr[1] == NOTICE
}

on_target! {
    /// Asks the root to tell `thread` (0 = the caller) when the system shuts down. On
    /// success the caller is resident: the root goes on to the next program and the
    /// caller should wait in open receives for the notice ([`is_notice`]).
    pub fn register(thread: u64) -> Result<(), ReplyError> {
        call(register_message(thread))
    }

    /// Asks the root to shut the system down (a driver the root trusts: the power
    /// button). On success the shutdown has begun, or begins once every program has
    /// started; the root powers off when it is over.
    pub fn request() -> Result<(), ReplyError> {
        call(request_message())
    }

    /// Tells the root that this thread has finished its cleanup after the notice.
    pub fn done() -> Result<(), ReplyError> {
        call(done_message())
    }

    /// A call to the root: send `message`, wait for the answer.
    fn call(message: [u64; 5]) -> Result<(), ReplyError> {
        let root = abi::thread::ThreadId::ROOT.raw();
        let got = crate::sys::ipc(root, root, abi::timeout::Timeouts::NEVER.pack(), message);
        decode_reply(got.map_err(ReplyError::Ipc)?.mr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_numbers_are_pinned() {
        let numbers: Vec<(u64, ShutdownError)> = ShutdownError::ALL.iter().map(|e| (e.code(), *e)).collect();
        assert_eq!(
            numbers,
            [
                (1, ShutdownError::NotAllowed),
                (2, ShutdownError::UnknownThread),
                (3, ShutdownError::AlreadyRegistered),
                (4, ShutdownError::TableFull),
                (5, ShutdownError::ShuttingDown),
                (6, ShutdownError::NotTold),
                (7, ShutdownError::ForeignThread),
                (8, ShutdownError::InvalidThread),
            ]
        );
        for e in ShutdownError::ALL {
            assert_eq!(ShutdownError::from_code(e.code()), Some(e));
        }
        assert_eq!(ShutdownError::from_code(0), None);
        assert_eq!(ShutdownError::from_code(9), None);
    }

    #[test]
    fn replies_round_trip() {
        assert_eq!(decode_reply(reply_message(Ok(()))), Ok(()));
        for e in ShutdownError::ALL {
            assert_eq!(decode_reply(reply_message(Err(e))), Err(ReplyError::Refused(e)));
        }
        let mut unknown = reply_message(Ok(()));
        unknown[1] = 77;
        assert_eq!(decode_reply(unknown), Err(ReplyError::UnknownStatus(77)));
        assert!(matches!(decode_reply(register_message(0)), Err(ReplyError::NotAReply { .. })));
        assert!(matches!(decode_reply([u64::MAX, 0, 0, 0, 0]), Err(ReplyError::NotAReply { .. })));
    }

    #[test]
    fn requests_carry_their_labels_and_words() {
        let label = |mr: [u64; 5]| Tag::from_raw(mr[0]).unwrap().label();
        let words = |mr: [u64; 5]| Tag::from_raw(mr[0]).unwrap().u();
        let r = register_message(0x1234_0001);
        assert_eq!((label(r), words(r), r[1]), (REGISTER_LABEL, 1, 0x1234_0001));
        assert_eq!((label(request_message()), words(request_message())), (REQUEST_LABEL, 0));
        assert_eq!((label(done_message()), words(done_message())), (DONE_LABEL, 0));
    }

    #[test]
    fn only_the_roots_notification_with_the_word_is_the_notice() {
        let root = abi::thread::ThreadId::ROOT.raw();
        let note = |word| [Tag::new(abi::fault::NOTIFY_LABEL, 1, 0).unwrap().raw(), word, 0, 0, 0];
        assert_eq!(NOTICE.to_be_bytes(), *b"shutdown");
        assert!(is_notice(root, note(NOTICE)));
        assert!(!is_notice(root + (1 << 16), note(NOTICE)), "from someone else");
        assert!(!is_notice(root, note(NOTICE + 1)), "another word");
        assert!(!is_notice(root, [Tag::new(0x42, 1, 0).unwrap().raw(), NOTICE, 0, 0, 0]), "another label");
    }
}
