// SPDX-License-Identifier: MIT OR Apache-2.0
//! The root's side of the orderly shutdown: who is to be told, who answered, and when
//! to stop waiting.
//!
//! The supervisor (`supervisor.rs`) receives the protocol's messages
//! (`rt::shutdown`: register, request, done) and the programs' exits, and sends the
//! notices; every decision in between is made here, without system calls, so the host
//! tests drive it through every path, the timeout and every refusal included. Time is
//! an argument (microseconds on the root's clock), never read here.
//!
//! # Design
//!
//! ```text
//!            request (a driver)                 begin(deadline): notices to
//!   Running ------------------> Requested ----- every registered thread ----> Waiting
//!      |    (the root finishes starting                                        |
//!      |     the initrd's programs first)            done / exit of each told  |
//!      +--- begin (the root itself: no driver        thread, or the deadline   |
//!           left that could ask) ---------------------------------------------->+--> Over
//!
//!   a registration:  Registered --begin--> Told --done / exit--> Acknowledged
//!                                            \--deadline / crash / notice refused--> TimedOut
//! ```
//!
//! # Invariants
//! - At most [`REGISTRATIONS`] threads are registered; a thread at most once.
//! - Registrations until the shutdown begins: a request that comes while the root
//!   still starts programs waits for them (`Requested`), and they may still register;
//!   once the notices are out the set of threads to tell is fixed (a late
//!   registration is refused with `ShuttingDown`).
//! - Once `Waiting`, every registration is `Told`, `Acknowledged` or `TimedOut`, and
//!   [`Shutdown::counts`] has `told = acknowledged + timed_out + still waiting`; after
//!   the deadline ([`Shutdown::expire`]) nothing is still waiting, so the shutdown is
//!   over in bounded time whatever the programs do.
#![forbid(unsafe_code)]

use abi::thread::ThreadId;
use rt::shutdown::{REGISTRATIONS, ShutdownError};

/// How long the root waits for the told threads to answer: 3 s of its clock. The
/// programs here answer within milliseconds; a boot test of the timeout path waits it
/// out once, well inside its 30 s deadline.
pub const ANSWER_US: u64 = 3_000_000;

/// Where a shutdown is (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Nobody asked.
    Running,
    /// Asked for by this thread; not begun yet (the root starts the remaining programs
    /// of the initrd first, so each can register).
    Requested {
        /// The thread that asked.
        by: u64,
    },
    /// The notices are out; answers are awaited until `deadline`.
    Waiting {
        /// Microseconds on the root's clock.
        deadline: u64,
    },
    /// Every told thread answered, or the deadline passed.
    Over,
}

/// Why a told thread is counted timed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unanswered {
    /// No answer before the deadline.
    Silent,
    /// The kernel did not take the notice (`Notify` failed: no such thread, its queue
    /// full).
    NotDelivered(abi::Error),
    /// Its program crashed before it answered.
    Crashed,
}

impl core::fmt::Display for Unanswered {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Unanswered::Silent => write!(f, "no answer within {} ms", ANSWER_US / 1000),
            Unanswered::NotDelivered(e) => write!(f, "the notice was not delivered ({e})"),
            Unanswered::Crashed => f.write_str("its program crashed first"),
        }
    }
}

/// One registration's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Registered,
    Told,
    Acknowledged,
    TimedOut(Unanswered),
}

/// A thread to tell, and the program (main thread) it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Registration {
    program: u64,
    thread: u64,
    state: State,
}

/// The threads a shutdown tells (what [`Shutdown::begin`] returns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notices {
    threads: [u64; REGISTRATIONS],
    count: usize,
}

impl Notices {
    /// The threads, in registration order.
    pub fn threads(&self) -> &[u64] {
        &self.threads[..self.count]
    }
}

/// A shutdown's numbers: `report: shutdown told= acknowledged= timed-out=`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Threads told (registered when the shutdown began).
    pub told: u64,
    /// Those that answered (`done`, or their program exited).
    pub acknowledged: u64,
    /// Those that did not ([`Unanswered`]).
    pub timed_out: u64,
}

impl Counts {
    /// The report line: `report: shutdown told= acknowledged= timed-out=`.
    pub fn report(&self) -> report::Line<'_, 3> {
        report::line!("shutdown", "told" => self.told, "acknowledged" => self.acknowledged, "timed-out" => self.timed_out)
    }
}

/// The registrations and the phase (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shutdown {
    table: [Option<Registration>; REGISTRATIONS],
    phase: Phase,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// No registrations, nobody asked.
    pub const fn new() -> Shutdown {
        Shutdown { table: [None; REGISTRATIONS], phase: Phase::Running }
    }

    /// Where the shutdown is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// `program` (its main thread) asks that `thread` be told (0: `program` itself).
    /// `privileged`: the root started the program privileged (a driver), so it may have
    /// more threads than its main one.
    ///
    /// The checks go from the request itself to the state: a thread registered already
    /// hears `AlreadyRegistered` even once the shutdown is under way (a program that
    /// checks its second registration must not depend on how fast the root is).
    pub fn register(&mut self, program: u64, thread: u64, privileged: bool) -> Result<(), ShutdownError> {
        let thread = if thread == 0 { program } else { thread };
        let id = ThreadId::from_raw(thread);
        if id.is_any() || id.is_interrupt() {
            return Err(ShutdownError::InvalidThread);
        }
        if !privileged && thread != program {
            return Err(ShutdownError::ForeignThread);
        }
        if self.entries().any(|r| r.thread == thread) {
            return Err(ShutdownError::AlreadyRegistered);
        }
        if matches!(self.phase, Phase::Waiting { .. } | Phase::Over) {
            return Err(ShutdownError::ShuttingDown);
        }
        let slot = self.table.iter_mut().find(|s| s.is_none()).ok_or(ShutdownError::TableFull)?;
        *slot = Some(Registration { program, thread, state: State::Registered });
        Ok(())
    }

    /// `by` asks for the shutdown; `allowed`: the root trusts it to (a driver it
    /// started privileged). The shutdown is then requested, not begun: see
    /// [`Shutdown::begin`].
    pub fn request(&mut self, by: u64, allowed: bool) -> Result<(), ShutdownError> {
        if !allowed {
            return Err(ShutdownError::NotAllowed);
        }
        if self.phase != Phase::Running {
            return Err(ShutdownError::ShuttingDown);
        }
        self.phase = Phase::Requested { by };
        Ok(())
    }

    /// Begins the shutdown (requested, or decided by the root itself): every
    /// registered thread is told, and answers are awaited until `deadline`. Returns
    /// the threads to send the notice to. Calling it again changes nothing and
    /// returns no threads.
    pub fn begin(&mut self, deadline: u64) -> Notices {
        let mut notices = Notices { threads: [0; REGISTRATIONS], count: 0 };
        if matches!(self.phase, Phase::Waiting { .. } | Phase::Over) {
            return notices;
        }
        self.phase = Phase::Waiting { deadline };
        for r in self.table.iter_mut().flatten() {
            r.state = State::Told;
            notices.threads[notices.count] = r.thread;
            notices.count += 1;
        }
        self.settle();
        notices
    }

    /// The kernel refused to deliver the notice to `thread`: it will not answer.
    pub fn not_delivered(&mut self, thread: u64, error: abi::Error) {
        self.answer(thread, State::TimedOut(Unanswered::NotDelivered(error)));
    }

    /// `from` says it has finished its cleanup.
    pub fn acknowledge(&mut self, from: u64) -> Result<(), ShutdownError> {
        let told = self.entries().any(|r| r.thread == from && r.state == State::Told);
        if !told {
            return Err(ShutdownError::NotTold);
        }
        self.answer(from, State::Acknowledged);
        Ok(())
    }

    /// The program whose main thread is `program` ended: `exited` (it called `exit`)
    /// or crashed. Before the shutdown its registrations are dropped (nobody is left to
    /// tell); after the notices, an exit answers for its told threads and a crash
    /// leaves them unanswered.
    pub fn program_ended(&mut self, program: u64, exited: bool) {
        match self.phase {
            Phase::Running | Phase::Requested { .. } => {
                for slot in &mut self.table {
                    if slot.is_some_and(|r| r.program == program) {
                        *slot = None;
                    }
                }
            }
            Phase::Waiting { .. } | Phase::Over => {
                let state = if exited { State::Acknowledged } else { State::TimedOut(Unanswered::Crashed) };
                for r in self.table.iter_mut().flatten() {
                    if r.program == program && r.state == State::Told {
                        r.state = state;
                    }
                }
                self.settle();
            }
        }
    }

    /// The deadline to wait until, while answers are awaited.
    pub fn deadline(&self) -> Option<u64> {
        match self.phase {
            Phase::Waiting { deadline } => Some(deadline),
            _ => None,
        }
    }

    /// At `now`: if the deadline has passed, every thread still silent is timed out and
    /// the shutdown is over. Returns whether it is over.
    pub fn expire(&mut self, now: u64) -> bool {
        if let Phase::Waiting { deadline } = self.phase
            && now >= deadline
        {
            for r in self.table.iter_mut().flatten() {
                if r.state == State::Told {
                    r.state = State::TimedOut(Unanswered::Silent);
                }
            }
            self.phase = Phase::Over;
        }
        self.is_over()
    }

    /// Whether the shutdown is over: begun, and no told thread is still awaited.
    pub fn is_over(&self) -> bool {
        self.phase == Phase::Over
    }

    /// The numbers of the report line (told counts every registration once the
    /// shutdown has begun).
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for r in self.entries() {
            match r.state {
                State::Registered => continue,
                State::Told => {}
                State::Acknowledged => c.acknowledged += 1,
                State::TimedOut(_) => c.timed_out += 1,
            }
            c.told += 1;
        }
        c
    }

    /// The threads that did not answer: (program, thread, why), for the root's report.
    pub fn unanswered(&self) -> impl Iterator<Item = (u64, u64, Unanswered)> + '_ {
        self.entries().filter_map(|r| match r.state {
            State::TimedOut(why) => Some((r.program, r.thread, why)),
            _ => None,
        })
    }

    /// Whether every thread of `program` that was told answered (true for a program
    /// that registered none).
    pub fn answered_all(&self, program: u64) -> bool {
        self.unanswered().all(|(p, _, _)| p != program)
    }

    fn entries(&self) -> impl Iterator<Item = &Registration> + '_ {
        self.table.iter().flatten()
    }

    fn answer(&mut self, thread: u64, state: State) {
        for r in self.table.iter_mut().flatten() {
            if r.thread == thread && r.state == State::Told {
                r.state = state;
            }
        }
        self.settle();
    }

    /// Waiting with nobody left to wait for is over.
    fn settle(&mut self) {
        if matches!(self.phase, Phase::Waiting { .. }) && !self.entries().any(|r| r.state == State::Told) {
            self.phase = Phase::Over;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Thread ids as the supervisor makes them (number 0x100 + n, version 1).
    fn tid(n: u64) -> u64 {
        ThreadId::new(0x100 + n, 1).unwrap().raw()
    }

    const DRIVER: u64 = 0xD0_0001;

    #[test]
    fn a_requested_shutdown_tells_everyone_and_is_over_when_all_answered() {
        let mut s = Shutdown::new();
        s.register(tid(1), 0, false).unwrap();
        s.register(tid(2), tid(2), false).unwrap();
        assert_eq!(s.counts(), Counts::default(), "nobody is told before the shutdown");
        s.request(DRIVER, true).unwrap();
        assert_eq!(s.phase(), Phase::Requested { by: DRIVER });
        assert!(!s.is_over());
        let notices = s.begin(1_000);
        assert_eq!(notices.threads(), [tid(1), tid(2)]);
        assert_eq!(s.deadline(), Some(1_000));
        s.acknowledge(tid(2)).unwrap();
        assert!(!s.is_over());
        s.acknowledge(tid(1)).unwrap();
        assert!(s.is_over());
        assert_eq!(s.counts(), Counts { told: 2, acknowledged: 2, timed_out: 0 });
        assert_eq!(s.counts().report().to_string(), "report: shutdown told=2 acknowledged=2 timed-out=0");
        assert!(s.answered_all(tid(1)) && s.answered_all(tid(2)));
    }

    #[test]
    fn a_thread_that_never_answers_times_out_at_the_deadline_and_no_later() {
        let mut s = Shutdown::new();
        s.register(tid(1), 0, false).unwrap();
        s.register(tid(2), 0, false).unwrap();
        s.begin(5_000);
        s.acknowledge(tid(1)).unwrap();
        assert!(!s.expire(4_999), "before the deadline it still waits");
        assert_eq!(s.counts(), Counts { told: 2, acknowledged: 1, timed_out: 0 });
        assert!(s.expire(5_000));
        assert_eq!(s.counts(), Counts { told: 2, acknowledged: 1, timed_out: 1 });
        assert_eq!(s.unanswered().collect::<Vec<_>>(), [(tid(2), tid(2), Unanswered::Silent)]);
        assert!(s.answered_all(tid(1)) && !s.answered_all(tid(2)));
        // A late answer changes nothing.
        assert_eq!(s.acknowledge(tid(2)), Err(ShutdownError::NotTold));
        assert_eq!(s.counts().timed_out, 1);
    }

    #[test]
    fn a_shutdown_with_nobody_registered_is_over_at_once() {
        let mut s = Shutdown::new();
        s.request(DRIVER, true).unwrap();
        assert!(s.begin(10).threads().is_empty());
        assert!(s.is_over());
        assert_eq!(s.counts(), Counts::default());
    }

    #[test]
    fn the_root_may_begin_without_a_request() {
        let mut s = Shutdown::new();
        s.register(tid(3), 0, false).unwrap();
        assert_eq!(s.begin(100).threads(), [tid(3)]);
        assert!(s.begin(200).threads().is_empty(), "a second begin tells nobody again");
        assert_eq!(s.deadline(), Some(100));
    }

    #[test]
    fn exits_answer_and_crashes_do_not() {
        let mut s = Shutdown::new();
        s.register(tid(1), 0, false).unwrap();
        s.register(tid(2), 0, false).unwrap();
        s.begin(1_000);
        s.program_ended(tid(1), true);
        s.program_ended(tid(2), false);
        assert!(s.is_over(), "nobody is left to wait for: over before the deadline");
        assert_eq!(s.counts(), Counts { told: 2, acknowledged: 1, timed_out: 1 });
        assert_eq!(s.unanswered().collect::<Vec<_>>(), [(tid(2), tid(2), Unanswered::Crashed)]);
        assert!(!s.answered_all(tid(2)));
    }

    #[test]
    fn a_program_that_ends_before_the_shutdown_is_not_told() {
        let mut s = Shutdown::new();
        s.register(tid(1), 0, false).unwrap();
        s.register(tid(2), 0, false).unwrap();
        s.program_ended(tid(1), true);
        assert_eq!(s.begin(1_000).threads(), [tid(2)]);
        // Its slot is free again.
        let mut t = Shutdown::new();
        for n in 0..REGISTRATIONS as u64 {
            t.register(tid(n), 0, false).unwrap();
        }
        t.program_ended(tid(0), false);
        assert_eq!(t.register(tid(99), 0, false), Ok(()));
    }

    #[test]
    fn an_undelivered_notice_counts_as_timed_out_without_waiting() {
        let mut s = Shutdown::new();
        s.register(tid(1), 0, false).unwrap();
        s.begin(1_000);
        s.not_delivered(tid(1), abi::Error::QueueFull);
        assert!(s.is_over());
        assert_eq!(s.counts(), Counts { told: 1, acknowledged: 0, timed_out: 1 });
        assert_eq!(
            s.unanswered().next().map(|(_, _, why)| why.to_string()).as_deref(),
            Some("the notice was not delivered (QueueFull (19))")
        );
    }

    #[test]
    fn only_trusted_programs_may_ask_and_only_once() {
        let mut s = Shutdown::new();
        assert_eq!(s.request(tid(1), false), Err(ShutdownError::NotAllowed));
        assert_eq!(s.phase(), Phase::Running, "a refused request changes nothing");
        s.request(DRIVER, true).unwrap();
        assert_eq!(s.request(DRIVER, true), Err(ShutdownError::ShuttingDown));
        assert_eq!(
            s.request(tid(1), false),
            Err(ShutdownError::NotAllowed),
            "refused for the reason that holds always"
        );
    }

    #[test]
    fn registrations_are_checked() {
        let mut s = Shutdown::new();
        s.register(tid(1), 0, false).unwrap();
        assert_eq!(s.register(tid(1), 0, false), Err(ShutdownError::AlreadyRegistered));
        assert_eq!(
            s.register(tid(1), tid(1), false),
            Err(ShutdownError::AlreadyRegistered),
            "0 means the caller"
        );
        assert_eq!(s.register(tid(2), tid(7), false), Err(ShutdownError::ForeignThread));
        assert_eq!(s.register(tid(2), u64::MAX, false), Err(ShutdownError::InvalidThread));
        let irq = ThreadId::interrupt(39).unwrap().raw();
        assert_eq!(s.register(DRIVER, irq, true), Err(ShutdownError::InvalidThread));
        // A privileged driver may name a helper thread of its own.
        assert_eq!(s.register(DRIVER, tid(50), true), Ok(()));
        assert_eq!(s.register(tid(3), tid(50), false), Err(ShutdownError::ForeignThread));
        assert_eq!(s.register(DRIVER, tid(50), true), Err(ShutdownError::AlreadyRegistered));
    }

    #[test]
    fn the_table_is_bounded() {
        let mut s = Shutdown::new();
        for n in 0..REGISTRATIONS as u64 {
            assert_eq!(s.register(tid(n), 0, false), Ok(()));
        }
        assert_eq!(s.register(tid(100), 0, false), Err(ShutdownError::TableFull));
        assert_eq!(s.begin(1).threads().len(), REGISTRATIONS);
    }

    #[test]
    fn programs_still_starting_when_the_button_is_pressed_are_told_too() {
        // The request comes first (the driver was faster than the listener's start),
        // the registration after it, before the shutdown begins: it is told.
        let mut s = Shutdown::new();
        s.request(DRIVER, true).unwrap();
        assert_eq!(s.register(tid(1), 0, false), Ok(()));
        assert_eq!(s.begin(1).threads(), [tid(1)]);
    }

    #[test]
    fn nobody_registers_once_the_notices_are_out() {
        let mut s = Shutdown::new();
        s.begin(1);
        assert_eq!(s.register(tid(1), 0, false), Err(ShutdownError::ShuttingDown));
        let mut t = Shutdown::new();
        t.register(tid(2), 0, false).unwrap();
        t.begin(1);
        t.expire(1);
        assert_eq!(t.register(tid(1), 0, false), Err(ShutdownError::ShuttingDown), "nor when it is over");
        assert_eq!(
            t.register(tid(2), 0, false),
            Err(ShutdownError::AlreadyRegistered),
            "the more precise answer"
        );
    }

    #[test]
    fn done_is_accepted_only_from_a_told_thread_and_once() {
        let mut s = Shutdown::new();
        s.register(tid(1), 0, false).unwrap();
        s.register(tid(2), 0, false).unwrap();
        assert_eq!(s.acknowledge(tid(1)), Err(ShutdownError::NotTold), "before the shutdown");
        s.begin(1_000);
        assert_eq!(s.acknowledge(tid(9)), Err(ShutdownError::NotTold), "never registered");
        s.acknowledge(tid(1)).unwrap();
        assert_eq!(s.acknowledge(tid(1)), Err(ShutdownError::NotTold), "answered already");
        assert_eq!(s.counts(), Counts { told: 2, acknowledged: 1, timed_out: 0 });
    }

    /// Whatever order the events come in, a begun shutdown ends by the deadline with
    /// every told thread counted once.
    #[test]
    fn every_order_of_answers_ends_with_consistent_counts() {
        #[derive(Clone, Copy, Debug)]
        enum Ev {
            Done(u64),
            Exit(u64),
            Crash(u64),
            Refused(u64),
        }
        let threads = [tid(1), tid(2), tid(3)];
        let mut events = Vec::new();
        for &t in &threads {
            events.extend([Ev::Done(t), Ev::Exit(t), Ev::Crash(t), Ev::Refused(t)]);
        }
        // Every sequence of up to three events (with repeats).
        let n = events.len();
        for a in 0..n {
            for b in 0..n {
                for c in 0..n {
                    let mut s = Shutdown::new();
                    for &t in &threads {
                        s.register(t, 0, false).unwrap();
                    }
                    s.begin(100);
                    for ev in [events[a], events[b], events[c]] {
                        match ev {
                            Ev::Done(t) => {
                                let _ = s.acknowledge(t);
                            }
                            Ev::Exit(t) => s.program_ended(t, true),
                            Ev::Crash(t) => s.program_ended(t, false),
                            Ev::Refused(t) => s.not_delivered(t, abi::Error::InvalidThread),
                        }
                        let now = s.counts();
                        assert_eq!(now.told, 3);
                        assert!(now.acknowledged + now.timed_out <= 3);
                    }
                    s.expire(100);
                    let end = s.counts();
                    assert!(s.is_over());
                    assert_eq!(
                        end.acknowledged + end.timed_out,
                        3,
                        "{:?}",
                        [events[a], events[b], events[c]]
                    );
                    assert_eq!(s.unanswered().count() as u64, end.timed_out);
                }
            }
        }
    }
}
