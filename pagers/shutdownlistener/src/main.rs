// SPDX-License-Identifier: MIT OR Apache-2.0
//! `shutdownlistener`: a program that is told when the system shuts down, cleans up,
//! and says so.
//!
//! The orderly shutdown (`rt::shutdown`, run by the root task's supervisor) needs
//! someone to tell: this is the smallest such program, and the one the boot test
//! `powerbtn` watches. It
//!
//! 1. checks that the root refuses what an ordinary program may not do ([`CHECKS`]):
//!    ask for the shutdown itself (`NotAllowed`), say "done" before it was told
//!    (`NotTold`), register another program's thread (`ForeignThread`), register
//!    twice (`AlreadyRegistered`), between them registering itself for real;
//! 2. prints `report: shutdownlistener registered=yes refusals=N/M` (every check as
//!    expected: N = M), and from then on is resident: the root starts the next
//!    program and keeps paging this one;
//! 3. waits in open receives (the root's notice is a `Notify`, delivered only there);
//! 4. when told, cleans up: it writes a journal page it never touched before, so the
//!    root serves a page fault in the middle of the shutdown (the root keeps paging
//!    its programs while it waits for their answers); prints
//!    `report: shutdownlistener told=yes cleanup=done`;
//! 5. answers (`rt::shutdown::done`), after which the root may power off at any
//!    moment: nothing is printed after the answer that a test could miss.
//!
//! A check that goes wrong, or a registration that fails, ends it with status 1 (the
//! root reports a failed program and the boot test fails).
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

use rt::shutdown::{ReplyError, ShutdownError};

rt::entry!(listener);

/// One call to the root and the answer it must get.
#[derive(Clone, Copy, Debug)]
pub struct Check {
    /// What is tried (for the failure message).
    pub what: &'static str,
    /// The call.
    pub call: Call,
    /// The answer the root must give.
    pub want: Result<(), ShutdownError>,
}

/// The calls of [`CHECKS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// `rt::shutdown::request`.
    Request,
    /// `rt::shutdown::done`.
    Done,
    /// `rt::shutdown::register` of the root task's thread (someone else's).
    RegisterForeign,
    /// `rt::shutdown::register(0)`: this thread.
    RegisterSelf,
}

/// The calls, in order, and what the root must answer: the error cases an ordinary
/// program can reach, and the registration itself (the fourth).
pub const CHECKS: [Check; 5] = [
    Check { what: "ask for the shutdown", call: Call::Request, want: Err(ShutdownError::NotAllowed) },
    Check { what: "say done before being told", call: Call::Done, want: Err(ShutdownError::NotTold) },
    Check {
        what: "register the root's thread",
        call: Call::RegisterForeign,
        want: Err(ShutdownError::ForeignThread),
    },
    Check { what: "register", call: Call::RegisterSelf, want: Ok(()) },
    Check { what: "register again", call: Call::RegisterSelf, want: Err(ShutdownError::AlreadyRegistered) },
];

/// Whether the root's answer `got` is the one wanted.
pub fn as_wanted(got: Result<(), ReplyError>, want: Result<(), ShutdownError>) -> bool {
    match (got, want) {
        (Ok(()), Ok(())) => true,
        (Err(ReplyError::Refused(e)), Err(w)) => e == w,
        _ => false,
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod target {
    use super::*;
    use abi::timeout::Timeouts;
    use core::sync::atomic::{AtomicU64, Ordering};
    use rt::{println, shutdown, sys};

    /// A page of `.bss` of its own that nothing touches before the notice: its first
    /// write faults, and the root serves the fault during the shutdown.
    #[repr(align(4096))]
    struct Journal([AtomicU64; 512]);
    static JOURNAL: Journal = Journal([const { AtomicU64::new(0) }; 512]);

    /// The program: see the crate docs.
    pub fn listener(_utcb: rt::UtcbAddr) -> ! {
        let root = abi::thread::ThreadId::ROOT.raw();
        let (mut refusals, mut wrong) = (0, 0);
        for check in CHECKS {
            let got = match check.call {
                Call::Request => shutdown::request(),
                Call::Done => shutdown::done(),
                Call::RegisterForeign => shutdown::register(root),
                Call::RegisterSelf => shutdown::register(0),
            };
            if !as_wanted(got, check.want) {
                wrong += 1;
                println!("shutdownlistener: FAIL {}: got {got:?}, want {:?}", check.what, check.want);
                if check.want.is_ok() {
                    println!("{}", report::line!("shutdownlistener", "registered" => "no"));
                    rt::exit(1);
                }
            } else if check.want.is_err() {
                refusals += 1;
            }
        }
        let expected = CHECKS.iter().filter(|c| c.want.is_err()).count();
        println!(
            "{}",
            report::line!("shutdownlistener", "registered" => "yes", "refusals" => report::Ratio(refusals, expected))
        );
        if wrong != 0 {
            rt::exit(1);
        }
        // Open receives only: the notice is a `Notify`.
        loop {
            let Ok(m) = sys::ipc(0, u64::MAX, Timeouts::NEVER.pack(), [0; 5]) else { continue };
            if shutdown::is_notice(m.from, m.mr) {
                break;
            }
            println!("shutdownlistener: ignored a message from {:#x}", m.from);
        }
        for (i, word) in JOURNAL.0.iter().enumerate() {
            word.store(i as u64, Ordering::Relaxed);
        }
        println!("{}", report::line!("shutdownlistener", "told" => "yes", "cleanup" => "done"));
        if let Err(e) = shutdown::done() {
            println!("shutdownlistener: the root did not take the answer: {e}");
            rt::exit(1);
        }
        // The root powers off now; nothing is left to do.
        loop {
            let _ = sys::ipc(0, root, Timeouts::NEVER.pack(), [0; 5]);
        }
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
use target::listener;

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn listener(_utcb: rt::UtcbAddr) -> ! {
    unreachable!("the host build only type-checks the entry")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_check_registers_and_the_rest_are_refusals() {
        let registering: Vec<_> = CHECKS.iter().filter(|c| c.want.is_ok()).collect();
        assert_eq!(registering.len(), 1);
        assert_eq!(registering[0].call, Call::RegisterSelf);
        let position = CHECKS.iter().position(|c| c.want.is_ok()).unwrap();
        assert!(
            CHECKS[position + 1..].iter().any(|c| c.want == Err(ShutdownError::AlreadyRegistered)),
            "registering twice is checked after the registration"
        );
    }

    #[test]
    fn only_the_wanted_answer_counts() {
        assert!(as_wanted(Ok(()), Ok(())));
        assert!(as_wanted(Err(ReplyError::Refused(ShutdownError::NotTold)), Err(ShutdownError::NotTold)));
        assert!(!as_wanted(Err(ReplyError::Refused(ShutdownError::NotTold)), Err(ShutdownError::NotAllowed)));
        assert!(!as_wanted(Ok(()), Err(ShutdownError::NotAllowed)), "accepted where it must be refused");
        assert!(!as_wanted(Err(ReplyError::Ipc(abi::Error::NonExistingPartner)), Ok(())));
        assert!(!as_wanted(Err(ReplyError::UnknownStatus(99)), Err(ShutdownError::NotAllowed)));
    }
}
