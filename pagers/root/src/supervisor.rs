// SPDX-License-Identifier: MIT OR Apache-2.0
//! The supervisor: starts the initrd's programs, serves them, reports them, and shuts
//! the system down in order.
//!
//! After its own checks the root task runs every program of the initrd except itself,
//! in name order. For each it
//!
//! 1. picks a CPU ([`CpuOrder`]: round-robin over the nodes first, so consecutive
//!    programs land on different nodes; a CPU the KIP lists but that did not come up
//!    answers `InvalidCpu` and is skipped);
//! 2. creates the program's thread in a **new address space** on that CPU
//!    (`ThreadControl` with space == dest: the space's home node is the CPU's node),
//!    with the root as its pager and exception handler, its UTCB at `CHILD_UTCB`; a
//!    driver's space is made privileged ([`Role`]);
//! 3. lays the program out and builds its file pages on that node (`loader.rs`);
//! 4. starts it (`ExchangeRegisters`: SP = `CHILD_STACK_TOP`, IP = the ELF entry);
//! 5. serves it until it ends ([`Event`]): page faults get a mapping (`pager.rs`), an
//!    `EXIT` message (`rt::exit`) ends it with its status, a fault outside its memory or
//!    an exception (label `0xFFB0`) ends it as a crash, and so does silence for
//!    [`SILENCE_US`] (a program that hangs must not hang the boot);
//! 6. halts the thread (it stays, blocked, with its space and memory: the root reclaims
//!    nothing of an ended program, so it never deletes the thread, see `loader.rs`) and
//!    prints
//!    `report: program name=NAME status=S node=N cpu=C faults=F`, S being the exit status,
//!    `crash`, `timeout`, `load-error`, `shutdown` or `no-answer`.
//!
//! # Foreground and resident programs
//!
//! An ordinary program is the **foreground**: the root starts the next one only when it
//! has ended, which keeps the output of programs apart and makes every run the same. Two
//! kinds of program stay instead, **resident**, and the root goes on with the next
//! program while it keeps paging them:
//! - a **driver** ([`Role::Driver`], by name: [`DRIVERS`]) is resident from its start;
//! - a program that registers to be told of shutdown (`rt::shutdown::register`) is
//!   resident from then on: it means to live until the system goes down.
//!
//! The serve loop therefore serves whoever its messages come from, checked against the
//! table of running programs ([`Children`]; the kernel sends faults *as* the faulting
//! thread; anything else claiming to be a fault is not answered). A program started
//! beside the next (`&` in the manifest) is not the foreground but is no resident either:
//! the root starts the next program at once, and still waits for it to end before the
//! run ends. Every program the root waits for (the foreground, and those) has the
//! silence limit; a resident waits, legitimately, for as long as the
//! system runs.
//!
//! # The orderly shutdown
//!
//! The protocol is `rt::shutdown`'s; its decisions are `shutdown.rs`'s. What the loop
//! does with them ([`next_step`]):
//!
//! ```text
//!   start the next program  <- no foreground program, programs left in the initrd
//!   begin the shutdown      <- every program has started, and either a driver asked
//!                              (a request that came earlier waited for this), or
//!                              programs are resident but no driver is left to ask
//!   finish                  <- every program has started and none is running, or the
//!                              shutdown is over (all told threads answered, or its
//!                              deadline, shutdown::ANSWER_US, passed)
//!   wait for a message      <- otherwise (until the foreground's silence limit or the
//!                              shutdown's deadline, whichever comes first)
//! ```
//!
//! Beginning the shutdown sends every registered thread the notice (`Notify`, which
//! never blocks the root); the answers come in as messages like any other, while the
//! root goes on paging (a program may fault during its cleanup). When it is over the
//! root prints `report: shutdown told=N acknowledged=N timed-out=N`, then a
//! `report: program` line for each program still running (`shutdown` if it answered or
//! never registered, `no-answer`, a failure, if a thread of it did not), and returns.
//! `main.rs` powers off through PSCI (`SystemControl`) with the failures: 0 when every
//! program and every told thread did its part.
//!
//! **Why the driver runs privileged.** A driver needs its device's registers mapped
//! and its interrupt attached. The kernel maps device registers only into the caller's
//! own space (`MemoryControl`'s device flag) and does not let such a mapping be passed
//! on by a map item (it is not a mapping-database root), so the root cannot map the
//! PL061 for the driver as it maps RAM; the alternative, running the driver as a thread
//! of the root's own space, would make it no ordinary program. So the root marks the
//! driver's space privileged (`SpaceControl`, the kernel's one notion of authority,
//! which it documents for trusted system components) and the driver maps its device and
//! attaches its interrupt itself. The root's own, narrower authority, asking for the
//! shutdown, goes to the same programs: [`Role::Driver`]. (A kernel that let device
//! mappings be passed on, as X.2's sigma0 hands out device memory, would let the root
//! map the registers and attach the interrupt for an unprivileged driver instead.)
//!
//! [`Tally`] counts the programs run and failed (any status but 0 or `shutdown`); the
//! root adds the failures to its own failed checks for its power-off status.

use abi::fault::{EXCEPTION_LABEL, PAGE_FAULT_ACCESS_MASK, PAGE_FAULT_LABEL};
use abi::fpage::Rights;
use abi::kip::KipCpu;
use abi::message::Tag;
use abi::timeout::Timeout;
use rt::shutdown;

use crate::loader::Image;
use crate::shutdown::Phase;

/// How long a program the root waits for (the foreground, or one started beside it) may
/// stay silent (no fault, no message) before it is given up on (resident programs may
/// wait as long as the system runs):
/// 10 s, a third of the boot tests' deadline, and far longer than any program here needs
/// between two messages.
pub const SILENCE_US: u32 = 10_000_000;
/// The thread number of the first program; the n-th gets `FIRST_THREAD + n`.
pub const FIRST_THREAD: u64 = 0x100;

/// The CPUs in the order programs are placed on them: the first CPU of every node, then
/// the second of every node, and so on, so that consecutive programs run on different
/// nodes (and every CPU gets its turn).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuOrder {
    order: [u16; abi::MAX_CPUS],
    count: usize,
}

impl CpuOrder {
    /// The order for `cpus` (the KIP's table: index = CPU number).
    pub fn new(cpus: &[KipCpu]) -> CpuOrder {
        let cpus = &cpus[..cpus.len().min(abi::MAX_CPUS)];
        let mut order = CpuOrder { order: [0; abi::MAX_CPUS], count: 0 };
        // rank[i]: how many CPUs of CPU i's node come before it.
        let mut rank = [0u16; abi::MAX_CPUS];
        let mut seen = [0u16; abi::MAX_NODES];
        for (i, c) in cpus.iter().enumerate() {
            let node = usize::from(c.node).min(abi::MAX_NODES - 1);
            rank[i] = seen[node];
            seen[node] += 1;
        }
        let max_rank = seen.iter().copied().max().unwrap_or(0);
        for r in 0..max_rank {
            for node in 0..abi::MAX_NODES {
                for (i, c) in cpus.iter().enumerate() {
                    if rank[i] == r && usize::from(c.node).min(abi::MAX_NODES - 1) == node {
                        order.order[order.count] = i as u16;
                        order.count += 1;
                    }
                }
            }
        }
        order
    }

    /// How many CPUs.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The CPU at position `n`, counting round and round.
    pub fn nth(&self, n: usize) -> Option<usize> {
        if self.count == 0 {
            return None;
        }
        Some(usize::from(self.order[n % self.count]))
    }
}

/// What a message from a program means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A page fault (the kernel's message on the program's behalf).
    PageFault {
        /// The faulting address.
        address: u64,
        /// The faulting instruction.
        ip: u64,
        /// The attempted access.
        access: Rights,
    },
    /// An exception other than a page fault: the program crashed.
    Exception {
        /// ESR_EL1.
        esr: u64,
        /// FAR_EL1.
        far: u64,
        /// ELR_EL1.
        elr: u64,
    },
    /// `rt::exit`: the program is done.
    Exit {
        /// Its status (0 = success).
        status: u64,
    },
    /// `rt::shutdown::register`: tell this thread (0 = the sender) of shutdown.
    Register {
        /// The thread to tell.
        thread: u64,
    },
    /// `rt::shutdown::request`: shut the system down.
    RequestShutdown,
    /// `rt::shutdown::done`: the sender has finished its cleanup.
    Done,
    /// `rt::device::find` / `power_key`: where is a device (answered from the device
    /// tree, `rt::device::answer`).
    DeviceQuery {
        /// The query message (MR0..MR4).
        query: [u64; 5],
    },
    /// Anything else: answered with an empty message, so a caller is not left waiting.
    Other {
        /// The label.
        label: u16,
    },
}

impl Event {
    /// Reads MR0..MR4 of a received message.
    pub fn classify(mr: [u64; 5]) -> Event {
        let Ok(tag) = Tag::from_raw(mr[0]) else { return Event::Other { label: 0 } };
        let (label, u) = (tag.label(), tag.u());
        if label & !PAGE_FAULT_ACCESS_MASK == PAGE_FAULT_LABEL && u >= 2 {
            let access = Rights::from_bits((label & PAGE_FAULT_ACCESS_MASK) as u8).unwrap_or(Rights::NONE);
            return Event::PageFault { address: mr[1], ip: mr[2], access };
        }
        if label == EXCEPTION_LABEL && u >= 3 {
            return Event::Exception { esr: mr[1], far: mr[2], elr: mr[3] };
        }
        match label {
            rt::EXIT_LABEL => Event::Exit { status: if u >= 1 { mr[1] } else { 0 } },
            shutdown::REGISTER_LABEL if u >= 1 => Event::Register { thread: mr[1] },
            shutdown::REQUEST_LABEL => Event::RequestShutdown,
            shutdown::DONE_LABEL => Event::Done,
            rt::device::QUERY_LABEL if u >= 2 => Event::DeviceQuery { query: mr },
            _ => Event::Other { label },
        }
    }
}

/// How a program ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It called `rt::exit` with this status.
    Exited(u64),
    /// A fault outside its memory, or an exception.
    Crashed,
    /// Silent for [`SILENCE_US`].
    TimedOut,
    /// It never started (see `loader::LoadError`).
    NotLoaded,
    /// Still running when the system shut down, and every thread of it that was told
    /// answered (or it registered none).
    ShutDown,
    /// Still running when the system shut down, and a thread of it that was told did
    /// not answer before the deadline.
    NoAnswer,
}

impl Outcome {
    /// Whether it counts as a failed program: anything but exit status 0 or an orderly
    /// end at shutdown.
    pub fn failed(self) -> bool {
        !matches!(self, Outcome::Exited(0) | Outcome::ShutDown)
    }
}

impl core::fmt::Display for Outcome {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Outcome::Exited(status) => write!(f, "{status}"),
            Outcome::Crashed => f.write_str("crash"),
            Outcome::TimedOut => f.write_str("timeout"),
            Outcome::NotLoaded => f.write_str("load-error"),
            Outcome::ShutDown => f.write_str("shutdown"),
            Outcome::NoAnswer => f.write_str("no-answer"),
        }
    }
}

/// Programs run and failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Programs the supervisor tried to run.
    pub ran: u64,
    /// Those that did not exit with status 0.
    pub failed: u64,
}

impl Tally {
    /// Counts one program.
    pub fn count(&mut self, outcome: Outcome) {
        self.ran += 1;
        self.failed += u64::from(outcome.failed());
    }
}

/// The programs the root starts as drivers ([`Role::Driver`]), by their name in the
/// initrd. The initrd is the system's configuration (it is part of the boot image,
/// as trusted as the kernel), so a name in it is enough to pick a program out.
pub const DRIVERS: [&str; 1] = ["powerbtn"];

/// What the root trusts a program with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// An ordinary program: its own space, unprivileged; the foreground until it ends
    /// or registers for shutdown.
    Program,
    /// A driver: its space privileged (it maps its device and attaches its interrupt
    /// itself: see the module docs), resident from its start, and allowed to ask for
    /// the shutdown.
    Driver,
    /// The NUMA runtime's memory server for a NUMA program (`pagers/numa-pager`): its
    /// space privileged (it makes the program's spaces, threads and memory) and in a
    /// group of its own, which everything it makes inherits. It has no silence limit:
    /// the program's threads talk to it, not to the root.
    Runtime,
}

impl Role {
    /// The role of the initrd's program `name`.
    pub fn of(name: &str) -> Role {
        if DRIVERS.contains(&name) { Role::Driver } else { Role::Program }
    }

    /// The silence deadline that applies to an awaited program of this role: its own
    /// (`deadline`), or none for the runtime, which may be quiet toward the root for as
    /// long as its program runs. (A deadline that passed and is never acted on would
    /// make the root's receive poll: at its priority, a busy loop on its CPU.)
    pub fn silence(self, deadline: u64) -> Option<u64> {
        (self != Role::Runtime).then_some(deadline)
    }
}

/// How many programs can run at once: every driver, a program per registration (a
/// registered program is resident), and the foreground. Programs are started only
/// when there is no foreground, so the table cannot be full then.
pub const MAX_CHILDREN: usize = DRIVERS.len() + shutdown::REGISTRATIONS + 1;

/// A started program: who it is, where it runs, how it is laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Child<'a> {
    /// Its thread (raw id).
    pub id: u64,
    /// Its name in the initrd.
    pub name: &'a str,
    /// Its CPU.
    pub cpu: usize,
    /// Its space's home node.
    pub node: u64,
    /// Its layout (`loader.rs`), for its faults.
    pub image: Image,
    /// What the root trusts it with.
    pub role: Role,
    /// Whether the root has stopped waiting for it to end (see the module docs).
    pub resident: bool,
    /// Page faults served.
    pub faults: u64,
    /// A NUMA program's: what its memory server runs (`None` for other programs).
    pub runtime: Option<RuntimeOf<'a>>,
    /// Whether the root waits for it to end before starting the next program.
    pub awaited: bool,
    /// When its silence limit runs out (root clock, microseconds): moved on by every
    /// message from it; a resident's is never acted on.
    pub silent_until: u64,
}

/// What a NUMA program's memory server is told ([`Role::Runtime`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuntimeOf<'a> {
    /// The program's name and ELF.
    pub name: &'a str,
    pub elf: &'a [u8],
    /// The runtime's own ELF (the pagers run it).
    pub pager_elf: &'a [u8],
    /// The program's arguments (its manifest line).
    pub args: &'a str,
    /// The runtime's flags (`numa::proto::FLAG_*`).
    pub flags: u64,
    /// The program's group.
    pub group: u16,
    /// The thread numbers the server was given (start, count), if it asked.
    pub block: Option<(u64, u64)>,
}


/// The running programs: a fixed table, found by thread id.
#[derive(Clone, Debug, Default)]
pub struct Children<'a> {
    slots: [Option<Child<'a>>; MAX_CHILDREN],
}

/// [`Children::insert`]: every slot is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableFull;

impl<'a> Children<'a> {
    /// Adds `child` (dropped if the table is full).
    pub fn insert(&mut self, child: Child<'a>) -> Result<(), TableFull> {
        let slot = self.slots.iter_mut().find(|s| s.is_none()).ok_or(TableFull)?;
        *slot = Some(child);
        Ok(())
    }

    /// Whether no program could be added.
    pub fn is_full(&self) -> bool {
        self.slots.iter().all(Option::is_some)
    }

    /// The running program whose thread is `id`.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut Child<'a>> {
        self.slots.iter_mut().flatten().find(|c| c.id == id)
    }

    /// The running program whose thread is `id`.
    pub fn get(&self, id: u64) -> Option<&Child<'a>> {
        self.iter().find(|c| c.id == id)
    }

    /// Takes the program whose thread is `id` out of the table.
    pub fn remove(&mut self, id: u64) -> Option<Child<'a>> {
        self.slots.iter_mut().find(|s| s.as_ref().is_some_and(|c| c.id == id)).and_then(Option::take)
    }

    /// The running programs.
    pub fn iter(&self) -> impl Iterator<Item = &Child<'a>> + '_ {
        self.slots.iter().flatten()
    }
}

/// What the supervisor's loop does next (see the module docs' table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Start the next program of the initrd.
    StartProgram,
    /// Begin the shutdown: tell every registered thread.
    BeginShutdown(Reason),
    /// Stop serving: return the tally.
    Finish,
    /// Wait for the next message (or the next deadline).
    Wait,
}

/// Why a shutdown begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A driver asked (this thread).
    Requested(u64),
    /// Programs are resident, but no driver is left that could ask: the root decides,
    /// rather than wait for ever.
    NobodyCanAsk,
}

/// What the loop sees when it decides: see [`next_step`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    /// Every program of the initrd has been started (or failed to).
    pub all_started: bool,
    /// A program the root waits for before it starts the next is running.
    pub foreground: bool,
    /// Programs the root waits for (not resident) still running.
    pub awaited: usize,
    /// Programs running (foreground and resident).
    pub running: usize,
    /// Drivers running.
    pub drivers: usize,
    /// Where the shutdown is.
    pub phase: Phase,
}

/// The supervisor's next step (the module docs' table, as a function the host tests).
pub fn next_step(v: View) -> Step {
    if v.phase == Phase::Over {
        return Step::Finish;
    }
    if !v.all_started {
        return if v.foreground { Step::Wait } else { Step::StartProgram };
    }
    match v.phase {
        Phase::Requested { by } => Step::BeginShutdown(Reason::Requested(by)),
        Phase::Running if v.running == 0 => Step::Finish,
        // Programs started beside the next (`&` in the manifest) are waited for, not
        // shut down.
        Phase::Running if v.awaited > 0 => Step::Wait,
        Phase::Running if v.drivers == 0 => Step::BeginShutdown(Reason::NobodyCanAsk),
        _ => Step::Wait,
    }
}

/// The receive timeout that wakes the loop at the earliest of `deadlines` (microseconds
/// on the root's clock; `None`: no such deadline), from `now`: never without any, zero
/// (poll) when one has passed.
pub fn receive_timeout(now: u64, deadlines: [Option<u64>; 2]) -> Timeout {
    match deadlines.into_iter().flatten().min() {
        None => Timeout::Never,
        Some(d) if d <= now => Timeout::Zero,
        // Micros(NEVER) would mean never: cap one below; the loop simply waits again.
        Some(d) => Timeout::Micros(u32::try_from(d - now).unwrap_or(u32::MAX - 1).min(u32::MAX - 1)),
    }
}

/// Counter `ticks` at `frequency` Hz, in microseconds (0 Hz: the KIP gives no clock,
/// and deadlines then pass at once rather than never).
pub fn micros(ticks: u64, frequency: u64) -> u64 {
    if frequency == 0 {
        return u64::MAX;
    }
    u64::try_from(u128::from(ticks) * 1_000_000 / u128::from(frequency)).unwrap_or(u64::MAX)
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub use target::run;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod target {
    use super::*;
    use crate::loader::{self, CHILD_STACK_TOP, CHILD_UTCB, LoadError, SCRATCH_BASE, SCRATCH_END};
    use crate::manifest::{self, Launch};
    use crate::numbers::Numbers;
    use crate::pager;
    use numa::layout::{SERVER_APP_ELF, SERVER_PAGER_ELF};
    use numa::proto;
    use crate::shutdown::{ANSWER_US, Shutdown, Unanswered};
    use abi::Error;
    use abi::kip::Kip;
    
    use abi::timeout::Timeouts;
    use bootfmt::cpio::{Archive, Entry};
    use bootfmt::elf::Elf;
    use rt::shutdown::ShutdownError;
    use rt::{println, sys};

    /// Runs every program of the initrd (see the module docs); returns the tally.
    pub fn run(kip: &Kip, me: u64) -> Tally {
        let Some((address, size)) = kip.initrd() else {
            println!("root: no initrd in the KIP: no programs to run");
            return Tally::default();
        };
        // SAFETY: the kernel maps the initrd read-only at `address` in the root task's
        // space for its whole life (KIP `initrd`, kernel/src/l4/task.rs), `size` bytes.
        let blob: &'static [u8] = unsafe { core::slice::from_raw_parts(address as *const u8, size as usize) };
        let archive = Archive::new(blob);
        let manifest = match archive.find(manifest::MANIFEST) {
            Ok(Some(entry)) => match manifest::parse(entry.data) {
                Ok(_) => Some(entry.data),
                Err(e) => {
                    println!("root: {e}: no programs run");
                    return Tally { ran: 0, failed: 1 };
                }
            },
            _ => None,
        };
        loader::warm();
        let before = memory_now(kip);
        let mut s = Supervisor {
            kip,
            me,
            archive,
            manifest,
            line: 0,
            runs_left: 0,
            numbers: Numbers::new(FIRST_THREAD, &[rt::console::CONSOLE_THREAD_NUMBER]),
            groups: 0,
            before,
            cpus: CpuOrder::new(kip.cpus()),
            // Position 0 is the first CPU of node 0, where the root itself runs (the
            // boot CPU): start one further, so the first program runs on another node
            // if there is one, and the root's CPU comes last in each round.
            next_cpu: 1,
            scratch: SCRATCH_BASE,
            after: None,
            started: 0,
            all_started: false,
            children: Children::default(),
            foreground: None,
            shutdown: Shutdown::new(),
            shutdown_began: false,
            tally: Tally::default(),
            reply_to: 0,
            reply: [0; 5],
        };
        loop {
            let view = View {
                all_started: s.all_started,
                foreground: s.foreground.is_some(),
                // Every program that is not resident ends by itself: the foreground
                // one and those started beside the next (`&`) alike.
                awaited: s.children.iter().filter(|c| !c.resident).count(),
                running: s.children.iter().count(),
                drivers: s.children.iter().filter(|c| c.role == Role::Driver).count(),
                phase: s.shutdown.phase(),
            };
            match next_step(view) {
                Step::StartProgram => s.start_next(),
                Step::BeginShutdown(reason) => s.begin_shutdown(reason),
                Step::Wait => s.receive(),
                Step::Finish => break,
            }
        }
        s.finish()
    }

    /// The supervisor's state between two steps of its loop.
    struct Supervisor<'k> {
        kip: &'k Kip,
        me: u64,
        archive: Archive<'static>,
        /// The manifest (`manifest.rs`), if the initrd has one; the index of the line
        /// whose runs are under way, and how many of them are left.
        manifest: Option<&'static [u8]>,
        line: usize,
        runs_left: u32,
        /// Thread numbers (`numbers.rs`) and the last group handed out.
        numbers: Numbers,
        groups: u16,
        /// Free memory per node before the first program.
        before: [u64; abi::MAX_NODES],
        cpus: CpuOrder,
        next_cpu: usize,
        /// Where the next program's pages go in the root's scratch window.
        scratch: u64,
        /// The name of the program started last (the initrd is walked in name order).
        after: Option<&'static str>,
        /// Programs started (or tried): the next gets thread number FIRST_THREAD + this.
        started: u64,
        all_started: bool,
        children: Children<'static>,
        /// The foreground program's thread.
        foreground: Option<u64>,
        shutdown: Shutdown,
        shutdown_began: bool,
        tally: Tally,
        /// The answer to send with the next receive (0: none).
        reply_to: u64,
        reply: [u64; 5],
    }

    impl Supervisor<'_> {
        /// Microseconds on the system counter.
        fn now(&self) -> u64 {
            micros(sys::counter(), self.kip.counter_frequency)
        }

        /// The next program to start: the manifest's next run, or the initrd's next
        /// program in name order; `None` when there is none left.
        fn next_launch(&mut self) -> Option<Result<(Entry<'static>, Launch<'static>), &'static str>> {
            let Some(text) = self.manifest else {
                return match loader::next_program(&self.archive, self.after) {
                    Ok(Some(entry)) => {
                        self.after = Some(entry.name);
                        let launch = Launch { name: entry.name, args: "", repeat: 1, parallel: false, flags: 0 };
                        Some(Ok((entry, launch)))
                    }
                    Ok(None) => None,
                    Err(_) => Some(Err("the initrd is damaged")),
                };
            };
            let launch = manifest::parse(text).ok()?.nth(self.line)?;
            if self.runs_left == 0 {
                self.runs_left = launch.repeat;
            }
            self.runs_left -= 1;
            if self.runs_left == 0 {
                self.line += 1;
            }
            match self.archive.find(launch.name) {
                Ok(Some(entry)) => Some(Ok((entry, launch))),
                _ => Some(Err(launch.name)),
            }
        }

        /// Starts the next program of the initrd, or notes that there is none.
        fn start_next(&mut self) {
            let (entry, launch) = match self.next_launch() {
                Some(Ok(next)) => next,
                None => {
                    self.all_started = true;
                    return;
                }
                Some(Err(name)) => {
                    println!("root: {name}: no such program in the initrd (or the initrd is damaged)");
                    self.report(name, Outcome::NotLoaded, None, None, 0);
                    return;
                }
            };
            let Some(number) = self.numbers.take(1) else {
                println!("root: {} not started: no thread number is free", entry.name);
                self.report(entry.name, Outcome::NotLoaded, None, None, 0);
                return;
            };
            let id = abi::thread::ThreadId::new(number, 1).map_or(0, |t| t.raw());
            self.started += 1;
            if self.children.is_full() {
                // Cannot happen (see MAX_CHILDREN), but a full table is a report, not a
                // program the root loses track of.
                println!("root: {} not started: {MAX_CHILDREN} programs run already", entry.name);
                self.numbers.give(number, 1);
                self.report(entry.name, Outcome::NotLoaded, None, None, 0);
                return;
            }
            // A NUMA program runs under the runtime: the root starts its memory server.
            let numa = Elf::parse(entry.data).ok().and_then(|e| e.note(numa::decl::NOTE_NAME, numa::decl::NOTE_TYPE));
            let (role, file, runtime) = match numa {
                None => (Role::of(entry.name), entry.data, None),
                Some(_) => match self.archive.find(loader::RUNTIME_NAME) {
                    Ok(Some(pager)) => {
                        self.groups = self.groups.checked_add(1).unwrap_or(1);
                        let runtime = RuntimeOf {
                            name: entry.name,
                            elf: entry.data,
                            pager_elf: pager.data,
                            args: launch.args,
                            flags: launch.flags,
                            group: self.groups,
                            block: None,
                        };
                        (Role::Runtime, pager.data, Some(runtime))
                    }
                    _ => {
                        println!("root: {} is a NUMA program, and the initrd has no {}", entry.name, loader::RUNTIME_NAME);
                        self.numbers.give(number, 1);
                        self.report(entry.name, Outcome::NotLoaded, None, None, 0);
                        return;
                    }
                },
            };
            let group = runtime.map(|r| r.group);
            let placed =
                start(self.kip, self.me, id, file, &self.cpus, &mut self.next_cpu, self.scratch, role, group);
            let (cpu, node, image) = match placed {
                Ok(p) => p,
                Err((e, placed)) => {
                    println!("root: {} not started: {e}", entry.name);
                    if let Some(child) = placed {
                        delete(child);
                    }
                    self.numbers.give(number, 1);
                    self.report(entry.name, Outcome::NotLoaded, None, None, 0);
                    return;
                }
            };
            self.scratch = image.scratch_end;
            let resident = role == Role::Driver;
            let awaited = !resident && !launch.parallel;
            if resident {
                println!(
                    "root: {} is a driver: privileged, and runs alongside the next programs",
                    entry.name
                );
            } else if awaited {
                self.foreground = Some(id);
            }
            let silent_until = self.now().saturating_add(u64::from(SILENCE_US));
            let child = Child {
                id,
                name: entry.name,
                cpu,
                node,
                image,
                role,
                resident,
                faults: 0,
                runtime,
                awaited,
                silent_until,
            };
            if self.children.insert(child).is_err() {
                // Checked above: unreachable, but never a program left unreported.
                delete(id);
                self.numbers.give(number, 1);
                self.foreground = None;
                self.report(entry.name, Outcome::NotLoaded, Some(cpu), Some(node), 0);
            }
        }

        /// Waits for one message (or deadline) and handles it.
        fn receive(&mut self) {
            let now = self.now();
            let silence = self.children.iter().filter_map(Self::silence_limit).min();
            let timeouts = Timeouts {
                send: Timeout::Zero,
                receive: receive_timeout(now, [silence, self.shutdown.deadline()]),
            };
            // The reply never waits (its receiver is blocked in its fault or call, or
            // gone); the receive waits until the earliest deadline.
            let replied = self.reply_to;
            let got = sys::ipc(replied, u64::MAX, timeouts.pack(), self.reply);
            self.reply_to = 0;
            match got {
                Ok(msg) => self.handle(msg),
                Err(Error::ReceiveTimeout) => self.deadlines(),
                // The reply could not be delivered (the receiver is no longer waiting):
                // nothing to do but listen again.
                Err(Error::SendTimeout | Error::NonExistingPartner) => {}
                Err(e) if replied != 0 => {
                    // The kernel refused the reply itself (a map item the program's
                    // window rejects, say): that program cannot be served.
                    let name = self.children.get(replied).map_or("?", |c| c.name);
                    println!("root: {name}: the answer to it failed: {e}");
                    self.end(replied, Outcome::Crashed);
                }
                // A receive from anyone fails only by timing out (the root is never
                // halted); should the kernel say otherwise, it is said, and the
                // deadlines are checked as after a timeout.
                Err(e) => {
                    println!("root: ipc: {e}");
                    self.deadlines();
                }
            }
        }

        /// When `c`'s silence limit runs out, if one applies: a program the root waits
        /// for (not resident), of a role that has one.
        fn silence_limit(c: &Child) -> Option<u64> {
            if c.resident { None } else { c.role.silence(c.silent_until) }
        }

        /// The silence limits of the programs the root waits for, and the shutdown's
        /// deadline.
        fn deadlines(&mut self) {
            let now = self.now();
            // Each one silent past its limit ends (and leaves the table): look again.
            loop {
                let silent = self.children.iter().find(|c| Self::silence_limit(c).is_some_and(|d| now >= d));
                let Some(id) = silent.map(|c| c.id) else { break };
                let name = self.children.get(id).map_or("?", |c| c.name);
                println!("root: {name}: silent for {} s: given up", SILENCE_US / 1_000_000);
                self.end(id, Outcome::TimedOut);
            }
            if self.shutdown.deadline().is_some() && self.shutdown.expire(now) {
                for (program, thread, why) in self.shutdown.unanswered() {
                    if why == Unanswered::Silent {
                        let name = self.children.get(program).map_or("?", |c| c.name);
                        println!("root: shutdown: {name} (thread {thread:#x}) did not answer: {why}");
                    }
                }
            }
        }

        /// One message from `msg.from`.
        fn handle(&mut self, msg: sys::Received) {
            let event = Event::classify(msg.mr);
            let now = self.now();
            let Some(child) = self.children.get_mut(msg.from) else {
                // Not a program the root runs (a thread it does not page, or a message
                // someone else labelled like a kernel message): not served. A shutdown
                // request is answered, so the caller is not left waiting.
                if matches!(event, Event::Register { .. } | Event::RequestShutdown | Event::Done) {
                    println!(
                        "root: shutdown request from {:#x}, which is no program of the root's: refused",
                        msg.from
                    );
                    self.answer(msg.from, Err(ShutdownError::UnknownThread));
                } else {
                    println!("root: ignored a message from {:#x} (label {:#x})", msg.from, msg.mr[0] >> 16);
                }
                return;
            };
            let (id, name, role) = (child.id, child.name, child.role);
            child.silent_until = now.saturating_add(u64::from(SILENCE_US));
            if let Some(runtime) = child.runtime
                && let Some(answer) = runtime_answer(&runtime, msg.mr, &mut self.numbers)
            {
                if let Some(block) = answer.1 {
                    child.runtime = Some(RuntimeOf { block: Some(block), ..runtime });
                }
                self.reply = answer.0;
                self.reply_to = id;
                return;
            }
            match event {
                Event::PageFault { address, ip, access } => {
                    child.faults += 1;
                    let served = pager::resolve(&child.image, address, access)
                        .map_err(Served::Crash)
                        .and_then(|r| pager::serve(r, child.node).map_err(Served::Kernel));
                    match served {
                        Ok([w0, w1, w2]) => {
                            self.reply = [w0, w1, w2, 0, 0];
                            self.reply_to = id;
                        }
                        Err(Served::Crash(c)) => {
                            println!("root: {name} crashed: {c} (ip {ip:#x})");
                            self.end(id, Outcome::Crashed);
                        }
                        Err(Served::Kernel(e)) => {
                            println!("root: {name}: no page for {address:#x}: {e}");
                            self.end(id, Outcome::Crashed);
                        }
                    }
                }
                Event::Exception { esr, far, elr } => {
                    println!("root: {name} crashed: exception, ESR {esr:#x} FAR {far:#x} ELR {elr:#x}");
                    self.end(id, Outcome::Crashed);
                }
                Event::Exit { status } => self.end(id, Outcome::Exited(status)),
                Event::Register { thread } => {
                    let r = self.shutdown.register(id, thread, role == Role::Driver);
                    match r {
                        Ok(()) => {
                            child.resident = true;
                            child.awaited = false;
                            if self.foreground == Some(id) {
                                self.foreground = None;
                            }
                            let told = if thread == 0 { id } else { thread };
                            println!(
                                "root: {name} will be told of shutdown (thread {told:#x}); it runs alongside the next programs"
                            );
                        }
                        Err(e) => println!("root: {name} registering for shutdown: refused: {e}"),
                    }
                    self.answer(id, r);
                }
                Event::RequestShutdown => {
                    let r = self.shutdown.request(id, role == Role::Driver);
                    match r {
                        Ok(()) if self.all_started => println!("root: {name} asks for shutdown"),
                        Ok(()) => println!(
                            "root: {name} asks for shutdown: it begins once every program has started"
                        ),
                        Err(e) => println!("root: {name} asks for shutdown: refused: {e}"),
                    }
                    self.answer(id, r);
                }
                Event::Done => {
                    let r = self.shutdown.acknowledge(id);
                    match r {
                        Ok(()) => println!("root: {name} has finished its cleanup"),
                        Err(e) => println!("root: {name} says done: refused: {e}"),
                    }
                    self.answer(id, r);
                }
                Event::DeviceQuery { query } => {
                    self.reply = rt::device::answer_local(query);
                    self.reply_to = id;
                    match rt::device::decode(self.reply) {
                        Ok((d, _)) => println!("root: {name} asked where its device is: {:#x}", d.base),
                        Err(e) => println!("root: {name} asked where its device is: {e}"),
                    }
                }
                Event::Other { label } => {
                    println!("root: {name} sent label {label:#x}, which the root task does not serve");
                    self.reply = [0; 5];
                    self.reply_to = id;
                }
            }
        }

        /// Sends `status` as the answer with the next receive.
        fn answer(&mut self, to: u64, status: Result<(), ShutdownError>) {
            self.reply = shutdown::reply_message(status);
            self.reply_to = to;
        }

        /// Tells every registered thread; answers are awaited until the deadline.
        fn begin_shutdown(&mut self, reason: Reason) {
            match reason {
                Reason::Requested(_) => println!("root: shutdown: every program has started; telling them"),
                Reason::NobodyCanAsk => {
                    println!(
                        "root: shutdown: every program has started and no driver is left to ask: shutting down"
                    )
                }
            }
            self.shutdown_began = true;
            let deadline = self.now().saturating_add(ANSWER_US);
            let notices = self.shutdown.begin(deadline);
            for &thread in notices.threads() {
                if let Err(e) = sys::notify(thread, shutdown::NOTICE) {
                    let why = Unanswered::NotDelivered(e);
                    println!("root: shutdown: thread {thread:#x} not told: {why}");
                    self.shutdown.not_delivered(thread, e);
                }
            }
        }

        /// Ends a program: reports it, counts it, halts it, forgets it.
        fn end(&mut self, id: u64, outcome: Outcome) {
            let Some(child) = self.children.remove(id) else { return };
            if self.foreground == Some(id) {
                self.foreground = None;
            }
            self.shutdown.program_ended(id, matches!(outcome, Outcome::Exited(_)));
            self.reclaim(&child);
            let name = child.runtime.map_or(child.name, |r| r.name);
            self.report(name, outcome, Some(child.cpu), Some(child.node), child.faults);
        }

        /// Everything an ended program held goes back: its thread (and so its space,
        /// and every frame the space owned), the frames the root built its pages in,
        /// its thread numbers. The scratch window is reused once no program runs.
        fn reclaim(&mut self, child: &Child<'static>) {
            delete(child.id);
            loader::reclaim(&child.image);
            self.numbers.give(child.id >> 16, 1);
            if let Some((start, count)) = child.runtime.and_then(|r| r.block) {
                self.numbers.give(start, count);
            }
            if self.children.iter().next().is_none() {
                self.scratch = SCRATCH_BASE;
            }
        }

        /// `report: program ...`, and the tally.
        fn report(
            &mut self,
            name: &str,
            outcome: Outcome,
            cpu: Option<usize>,
            node: Option<u64>,
            faults: u64,
        ) {
            println!(
                "{}",
                report::line!("program",
                    "name" => name,
                    "status" => outcome,
                    "node" => Dash(node),
                    "cpu" => Dash(cpu.map(|c| c as u64)),
                    "faults" => faults,
                )
            );
            self.tally.count(outcome);
        }

        /// After the loop: the last answer, the shutdown's report, the programs still
        /// running.
        fn finish(mut self) -> Tally {
            if self.reply_to != 0 {
                let _ = sys::ipc(self.reply_to, 0, Timeouts::ZERO.pack(), self.reply);
            }
            if self.shutdown_began {
                println!("{}", self.shutdown.counts().report());
                let mut running = Children::default();
                core::mem::swap(&mut running, &mut self.children);
                for c in running.iter() {
                    let outcome =
                        if self.shutdown.answered_all(c.id) { Outcome::ShutDown } else { Outcome::NoAnswer };
                    self.report(c.name, outcome, Some(c.cpu), Some(c.node), c.faults);
                    self.reclaim(c);
                }
            }
            self.memory_balance();
            self.tally
        }

        /// `report: memory-balance` for every node with memory: free memory before the
        /// first program and after the last, and what did not come back.
        fn memory_balance(&self) {
            let after = memory_now(self.kip);
            for (node, (&before, &after)) in self.before.iter().zip(after.iter()).enumerate() {
                if before == 0 && after == 0 {
                    continue;
                }
                println!(
                    "{}",
                    report::line!("memory-balance",
                        "node" => node,
                        "before_kib" => before / 1024,
                        "after_kib" => after / 1024,
                        "leaked_kib" => before.saturating_sub(after) / 1024,
                    )
                );
            }
        }
    }

    /// A number, or `-` when there is none (a program that never got a CPU).
    struct Dash(Option<u64>);

    impl core::fmt::Display for Dash {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match self.0 {
                Some(v) => write!(f, "{v}"),
                None => f.write_str("-"),
            }
        }
    }

    /// Places, loads and starts one program; returns its CPU, node and layout. On
    /// failure also returns the thread id if a thread was already created (so it can be
    /// halted).
    #[allow(
        clippy::too_many_arguments,
        reason = "the loop's state, passed apart so the borrows stay disjoint"
    )]
    fn start(
        kip: &Kip,
        me: u64,
        id: u64,
        file: &[u8],
        cpus: &CpuOrder,
        next_cpu: &mut usize,
        scratch: u64,
        role: Role,
        group: Option<u16>,
    ) -> Result<(usize, u64, Image), (LoadError, Option<u64>)> {
        let elf = Elf::parse(file).map_err(|e| (LoadError::Elf(e), None))?;
        let image = loader::plan(elf.segments(), elf.entry(), scratch, SCRATCH_END).map_err(|e| (e, None))?;
        // 1-2. A CPU that accepts the thread, round-robin.
        let mut placed = None;
        for _ in 0..cpus.count() {
            let Some(cpu) = cpus.nth(*next_cpu) else { break };
            *next_cpu += 1;
            match sys::thread_control(id, id, me, me, CHILD_UTCB, cpu as u64) {
                Ok(()) => {
                    placed = Some(cpu);
                    break;
                }
                Err(Error::InvalidCpu) => continue,
                Err(e) => return Err((LoadError::Kernel(e), None)),
            }
        }
        let cpu = placed.ok_or((LoadError::NoCpu, None))?;
        let node = u64::from(kip.node_of_cpu(cpu).unwrap_or(0));
        // A driver's space is privileged (see the module docs for why); so is a NUMA
        // program's memory server's, in the program's own group.
        if role == Role::Driver {
            sys::space_control(id, true).map_err(|e| (LoadError::Kernel(e), Some(id)))?;
        }
        if let Some(group) = group {
            sys::set_group(id, group, true).map_err(|e| (LoadError::Kernel(e), Some(id)))?;
        }
        // 3. Its file pages, on its node.
        loader::load(&image, &elf, node).map_err(|e| (e, Some(id)))?;
        // 4. Go: the root is its exception handler too, so a crash comes here as IPC.
        sys::start_thread(id, CHILD_STACK_TOP, elf.entry(), me).map_err(|e| (LoadError::Kernel(e), Some(id)))?;
        Ok((cpu, node, image))
    }

    /// Why a fault was not served.
    enum Served {
        Crash(pager::Crash),
        Kernel(Error),
    }

    /// Deletes a program's thread (and with its last thread its space, whose memory the
    /// kernel takes back). A thread still running on another CPU is deleted when that
    /// CPU next enters the kernel.
    fn delete(id: u64) {
        let _ = sys::delete_thread(id);
    }

    /// The free bytes of every node's pool now (after the kernel's empty slabs went
    /// back: `Introspect` `NodeMemory`).
    fn memory_now(kip: &Kip) -> [u64; abi::MAX_NODES] {
        let mut free = [0; abi::MAX_NODES];
        for (node, f) in free.iter_mut().enumerate().take(kip.node_count()) {
            *f = sys::node_memory(node as u64).map_or(0, |m| m.free);
        }
        free
    }

    /// An answer to a NUMA program's memory server, and the thread numbers it gave.
    type RuntimeAnswer = ([u64; 5], Option<(u64, u64)>);

    /// The root's answer to a message `mr` of a NUMA program's memory server
    /// (`numa::proto`, or a fault on one of its ELF windows), and the thread numbers
    /// the answer gave it; `None` for any other message (served like any program's).
    fn runtime_answer(r: &RuntimeOf<'_>, mr: [u64; 5], numbers: &mut Numbers) -> Option<RuntimeAnswer> {
        let tag = |label: u16, u: u8, t: u8| Tag::new(label, u, t).map_or(0, |t| t.raw());
        let (app, pager) = (r.elf.as_ptr() as u64, r.pager_elf.as_ptr() as u64);
        match Event::classify(mr) {
            Event::PageFault { address, .. } => {
                // The two ELF windows: the initrd's pages, read-only.
                let window = |base: u64, file: u64, len: u64| {
                    let end = base + (file % loader::PAGE) + len;
                    (base..end)
                        .contains(&address)
                        .then(|| (file & !(loader::PAGE - 1)) + (address & !(loader::PAGE - 1)) - base)
                };
                let page = window(SERVER_APP_ELF, app, r.elf.len() as u64)
                    .or_else(|| window(SERVER_PAGER_ELF, pager, r.pager_elf.len() as u64))?;
                let fpage = abi::fpage::Fpage::new(page, 12, Rights::R).ok()?;
                let item = abi::message::TypedItem::Map { send_base: address & !(loader::PAGE - 1), fpage }.encode().ok()?;
                Some(([tag(0, 0, 2), item[0], item[1], 0, 0], None))
            }
            Event::Other { label: proto::HELLO } => {
                let (a, p) = (app % loader::PAGE, pager % loader::PAGE);
                Some(([tag(proto::HELLO, 4, 0), r.elf.len() as u64, a, r.pager_elf.len() as u64, p], None))
            }
            Event::Other { label: proto::NAME } => {
                let w = rt::words::pack(r.name.as_bytes());
                Some(([tag(proto::NAME, 4, 0), w[0], w[1], w[2], r.name.len() as u64], None))
            }
            Event::Other { label: proto::ARGS } => {
                let from = (mr[1] as usize).min(r.args.len());
                let w = rt::words::pack(&r.args.as_bytes()[from..]);
                Some(([tag(proto::ARGS, 4, 0), w[0], w[1], w[2], r.args.len() as u64], None))
            }
            Event::Other { label: proto::CONFIG } => {
                // The server asks once: a second ask keeps the first block.
                let (start, count) = match r.block {
                    Some(block) => block,
                    None => numbers.take(mr[1]).map_or((0, 0), |start| (start, mr[1])),
                };
                let msg = [tag(proto::CONFIG, 4, 0), start, count, u64::from(r.group), r.flags];
                Some((msg, (count > 0).then_some((start, count))))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpus(nodes: &[u16]) -> Vec<KipCpu> {
        nodes.iter().map(|&node| KipCpu { mpidr: 0, node, reserved: [0; 6] }).collect()
    }

    fn first(order: &CpuOrder, n: usize) -> Vec<usize> {
        (0..n).map(|i| order.nth(i).unwrap()).collect()
    }

    #[test]
    fn consecutive_programs_go_to_different_nodes() {
        let order = CpuOrder::new(&cpus(&[0, 0, 1, 1]));
        assert_eq!(order.count(), 4);
        assert_eq!(first(&order, 6), [0, 2, 1, 3, 0, 2]);
    }

    #[test]
    fn uneven_and_cpu_less_nodes_are_handled() {
        // Node 1 has no CPUs; node 2 has three.
        let order = CpuOrder::new(&cpus(&[0, 2, 2, 0, 2]));
        assert_eq!(first(&order, 5), [0, 1, 3, 2, 4]);
        let one = CpuOrder::new(&cpus(&[0]));
        assert_eq!(first(&one, 3), [0, 0, 0]);
        let none = CpuOrder::new(&[]);
        assert!(none.count() == 0 && none.nth(0).is_none());
    }

    #[test]
    fn every_cpu_of_a_large_machine_appears_once_per_round() {
        let nodes: Vec<u16> = (0..130).map(|i| (i / 65) as u16).collect();
        let order = CpuOrder::new(&cpus(&nodes));
        let mut round = first(&order, 130);
        assert_eq!(&round[..4], [0, 65, 1, 66]);
        round.sort_unstable();
        assert_eq!(round, (0..130).collect::<Vec<_>>());
    }

    fn tag(label: u16, u: u8) -> u64 {
        Tag::new(label, u, 0).unwrap().raw()
    }

    #[test]
    fn kernel_messages_exits_and_others_are_told_apart() {
        assert_eq!(
            Event::classify([tag(0xFFE2, 2), 0x40_1000, 0x40_0004, 0, 0]),
            Event::PageFault { address: 0x40_1000, ip: 0x40_0004, access: Rights::W }
        );
        assert_eq!(
            Event::classify([tag(0xFFE1, 2), 0x40_0000, 0x40_0000, 0, 0]),
            Event::PageFault { address: 0x40_0000, ip: 0x40_0000, access: Rights::X }
        );
        assert_eq!(
            Event::classify([tag(EXCEPTION_LABEL, 5), 0x0200_0000, 0, 0x40_0010, 0]),
            Event::Exception { esr: 0x0200_0000, far: 0, elr: 0x40_0010 }
        );
        assert_eq!(Event::classify([tag(rt::EXIT_LABEL, 1), 7, 0, 0, 0]), Event::Exit { status: 7 });
        assert_eq!(Event::classify([tag(rt::EXIT_LABEL, 0), 7, 0, 0, 0]), Event::Exit { status: 0 });
        assert_eq!(Event::classify([tag(0x42, 1), 1, 0, 0, 0]), Event::Other { label: 0x42 });
        assert_eq!(
            Event::classify([tag(0xFFE4, 0), 0, 0, 0, 0]),
            Event::Other { label: 0xFFE4 },
            "too short"
        );
        assert_eq!(
            Event::classify([u64::MAX, 0, 0, 0, 0]),
            Event::Other { label: 0 },
            "a tag that does not decode"
        );
    }

    #[test]
    fn the_shutdown_protocols_messages_are_recognised() {
        assert_eq!(Event::classify(shutdown::register_message(0)), Event::Register { thread: 0 });
        assert_eq!(
            Event::classify(shutdown::register_message(0x1_0001)),
            Event::Register { thread: 0x1_0001 }
        );
        assert_eq!(Event::classify(shutdown::request_message()), Event::RequestShutdown);
        assert_eq!(Event::classify(shutdown::done_message()), Event::Done);
        let q = rt::device::key_query(rt::device::KEY_POWER);
        assert_eq!(Event::classify(q), Event::DeviceQuery { query: q });
        assert_eq!(
            Event::classify([tag(shutdown::REGISTER_LABEL, 0), 0, 0, 0, 0]),
            Event::Other { label: shutdown::REGISTER_LABEL },
            "a registration without its word"
        );
    }

    #[test]
    fn only_the_named_drivers_are_drivers() {
        assert_eq!(Role::of("powerbtn"), Role::Driver);
        for name in ["hello", "shutdownlistener", "powerbtn2", "Powerbtn", ""] {
            assert_eq!(Role::of(name), Role::Program, "{name}");
        }
    }

    fn view(all_started: bool, foreground: bool, running: usize, drivers: usize, phase: Phase) -> View {
        View { all_started, foreground, awaited: usize::from(foreground), running, drivers, phase }
    }

    #[test]
    fn programs_start_one_foreground_at_a_time() {
        assert_eq!(next_step(view(false, false, 0, 0, Phase::Running)), Step::StartProgram);
        assert_eq!(next_step(view(false, true, 1, 0, Phase::Running)), Step::Wait);
        // Residents do not hold up the next program.
        assert_eq!(next_step(view(false, false, 2, 1, Phase::Running)), Step::StartProgram);
        // Nothing left to start or run: the end, as before there were residents.
        assert_eq!(next_step(view(true, false, 0, 0, Phase::Running)), Step::Finish);
    }

    #[test]
    fn a_request_waits_until_every_program_has_started() {
        let asked = Phase::Requested { by: 7 };
        assert_eq!(next_step(view(false, true, 2, 1, asked)), Step::Wait);
        assert_eq!(next_step(view(false, false, 2, 1, asked)), Step::StartProgram);
        assert_eq!(next_step(view(true, false, 2, 1, asked)), Step::BeginShutdown(Reason::Requested(7)));
        // Even with nobody running any more (the requester crashed): told=0, then over.
        assert_eq!(next_step(view(true, false, 0, 0, asked)), Step::BeginShutdown(Reason::Requested(7)));
    }

    #[test]
    fn residents_without_a_driver_are_shut_down_by_the_root() {
        assert_eq!(
            next_step(view(true, false, 1, 0, Phase::Running)),
            Step::BeginShutdown(Reason::NobodyCanAsk)
        );
        assert_eq!(next_step(view(true, false, 2, 1, Phase::Running)), Step::Wait, "a driver may still ask");
    }

    #[test]
    fn a_begun_shutdown_waits_until_it_is_over() {
        assert_eq!(next_step(view(true, false, 2, 1, Phase::Waiting { deadline: 9 })), Step::Wait);
        assert_eq!(next_step(view(true, false, 2, 1, Phase::Over)), Step::Finish);
        assert_eq!(next_step(view(true, false, 0, 0, Phase::Over)), Step::Finish);
    }

    #[test]
    fn the_receive_wakes_at_the_earliest_deadline() {
        assert_eq!(receive_timeout(100, [None, None]), Timeout::Never);
        // The runtime's silence has no deadline: the root must not poll while it runs.
        assert_eq!(Role::Runtime.silence(5), None);
        assert_eq!(receive_timeout(100, [Role::Runtime.silence(5), None]), Timeout::Never);
        assert_eq!(Role::Program.silence(5), Some(5));
        assert_eq!(Role::Driver.silence(5), Some(5));
        assert_eq!(receive_timeout(100, [Some(350), None]), Timeout::Micros(250));
        assert_eq!(receive_timeout(100, [Some(350), Some(200)]), Timeout::Micros(100));
        assert_eq!(receive_timeout(100, [None, Some(100)]), Timeout::Zero, "due now: poll");
        assert_eq!(receive_timeout(100, [Some(5), Some(900)]), Timeout::Zero, "passed: poll");
        assert_eq!(
            receive_timeout(0, [Some(u64::MAX), None]),
            Timeout::Micros(u32::MAX - 1),
            "never `never`"
        );
    }

    #[test]
    fn counter_ticks_become_microseconds() {
        assert_eq!(micros(62_500_000, 62_500_000), 1_000_000);
        assert_eq!(micros(1, 1_000_000), 1);
        assert_eq!(micros(u64::MAX, 1_000_000), u64::MAX);
        assert_eq!(micros(u64::MAX, 1), u64::MAX, "saturates");
        assert_eq!(micros(5, 0), u64::MAX, "no clock: every deadline has passed");
    }

    fn child(id: u64) -> Child<'static> {
        let image = crate::loader::plan(core::iter::empty(), 0x40_0000, 0x80_0000_0000, u64::MAX).unwrap();
        Child {
            id,
            name: "p",
            cpu: 0,
            node: 0,
            image,
            role: Role::Program,
            resident: false,
            faults: 0,
            runtime: None,
            awaited: true,
            silent_until: 0,
        }
    }

    #[test]
    fn the_table_of_running_programs_is_found_by_id_and_bounded() {
        let mut c = Children::default();
        for id in 0..MAX_CHILDREN as u64 {
            assert!(c.insert(child(100 + id)).is_ok());
        }
        assert!(c.is_full());
        assert_eq!(c.insert(child(999)), Err(TableFull));
        c.get_mut(105).unwrap().faults = 3;
        assert_eq!(c.get(105).map(|c| c.faults), Some(3));
        assert_eq!(c.remove(105).map(|c| c.id), Some(105));
        assert!(c.get(105).is_none() && c.remove(105).is_none());
        assert!(!c.is_full());
        assert!(c.insert(child(999)).is_ok());
        assert_eq!(c.iter().count(), MAX_CHILDREN);
    }

    #[test]
    fn only_exit_status_0_and_an_orderly_shutdown_are_success() {
        let mut t = Tally::default();
        for o in [
            Outcome::Exited(0),
            Outcome::Exited(1),
            Outcome::Crashed,
            Outcome::TimedOut,
            Outcome::NotLoaded,
            Outcome::ShutDown,
            Outcome::NoAnswer,
        ] {
            t.count(o);
        }
        assert_eq!(t, Tally { ran: 7, failed: 5 }, "exit 0 and an orderly shutdown are the successes");
        let shown: Vec<String> = [
            Outcome::Exited(3),
            Outcome::Crashed,
            Outcome::TimedOut,
            Outcome::NotLoaded,
            Outcome::ShutDown,
            Outcome::NoAnswer,
        ]
        .iter()
        .map(|o| o.to_string())
        .collect();
        assert_eq!(shown, ["3", "crash", "timeout", "load-error", "shutdown", "no-answer"]);
    }
}
