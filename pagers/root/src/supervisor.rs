// SPDX-License-Identifier: MIT OR Apache-2.0
//! The supervisor: starts the initrd's programs one by one, serves them, reports them.
//!
//! After its own checks the root task runs every program of the initrd except itself,
//! in name order, one at a time. For each it
//!
//! 1. picks a CPU ([`CpuOrder`]: round-robin over the nodes first, so consecutive
//!    programs land on different nodes; a CPU the KIP lists but that did not come up
//!    answers `InvalidCpu` and is skipped);
//! 2. creates the program's thread in a **new address space** on that CPU
//!    (`ThreadControl` with space == dest: the space's home node is the CPU's node),
//!    with the root as its pager and exception handler, its UTCB at `CHILD_UTCB`;
//! 3. lays the program out and builds its file pages on that node (`loader.rs`);
//! 4. starts it (`ExchangeRegisters`: SP = `CHILD_STACK_TOP`, IP = the ELF entry);
//! 5. serves it until it ends ([`Event`]): page faults get a mapping (`pager.rs`), an
//!    `EXIT` message (`rt::exit`) ends it with its status, a fault outside its memory or
//!    an exception (label `0xFFB0`) ends it as a crash, and so does silence for
//!    [`SILENCE_US`] (a program that hangs must not hang the boot);
//! 6. halts the thread (the kernel has no thread deletion yet, so it stays, blocked,
//!    with its memory) and prints
//!    `report: program name=NAME status=S node=N cpu=C faults=F`, S being the exit status,
//!    `crash`, `timeout` or `load-error`.
//!
//! One at a time keeps the output of programs apart and makes every run the same; the
//! loop itself serves whoever its messages come from, checked against the current
//! program's thread id (the kernel sends faults *as* the faulting thread; anything else
//! claiming to be a fault is not answered).
//!
//! [`Tally`] counts the programs run and failed (any status but 0); the root adds the
//! failures to its own failed checks for its power-off status.

use abi::fault::{EXCEPTION_LABEL, PAGE_FAULT_ACCESS_MASK, PAGE_FAULT_LABEL};
use abi::fpage::Rights;
use abi::kip::KipCpu;
use abi::message::Tag;

/// How long a program may stay silent (no fault, no message) before it is given up on:
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
        if label == rt::EXIT_LABEL {
            return Event::Exit { status: if u >= 1 { mr[1] } else { 0 } };
        }
        Event::Other { label }
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
}

impl Outcome {
    /// Whether it counts as a failed program: anything but exit status 0.
    pub fn failed(self) -> bool {
        self != Outcome::Exited(0)
    }
}

impl core::fmt::Display for Outcome {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Outcome::Exited(status) => write!(f, "{status}"),
            Outcome::Crashed => f.write_str("crash"),
            Outcome::TimedOut => f.write_str("timeout"),
            Outcome::NotLoaded => f.write_str("load-error"),
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

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub use target::run;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod target {
    use super::*;
    use crate::loader::{self, CHILD_STACK_TOP, CHILD_UTCB, Image, LoadError, SCRATCH_BASE, SCRATCH_END};
    use crate::pager;
    use abi::Error;
    use abi::kip::Kip;
    use abi::syscall::{ExregsControl, Syscall};
    use abi::timeout::{Timeout, Timeouts};
    use bootfmt::cpio::Archive;
    use bootfmt::elf::Elf;
    use rt::{println, sys};

    /// A started program: who it is and where it runs.
    struct Child {
        id: u64,
        cpu: usize,
        node: u64,
        image: Image,
    }

    /// Runs every program of the initrd (see the module docs); returns the tally.
    pub fn run(kip: &Kip, me: u64) -> Tally {
        let mut tally = Tally::default();
        let Some((address, size)) = kip.initrd() else {
            println!("root: no initrd in the KIP: no programs to run");
            return tally;
        };
        // SAFETY: the kernel maps the initrd read-only at `address` in the root task's
        // space for its whole life (KIP `initrd`, kernel/src/l4/task.rs), `size` bytes.
        let blob = unsafe { core::slice::from_raw_parts(address as *const u8, size as usize) };
        let archive = Archive::new(blob);
        let cpus = CpuOrder::new(kip.cpus());
        // Position 0 is the first CPU of node 0, where the root itself runs (the boot
        // CPU): start one further, so the first program runs on another node if there is
        // one, and the root's CPU comes last in each round.
        let mut next_cpu = 1usize;
        let mut scratch = SCRATCH_BASE;
        let mut after: Option<&str> = None;
        loop {
            let entry = match loader::next_program(&archive, after) {
                Ok(Some(entry)) => entry,
                Ok(None) => break,
                Err(e) => {
                    println!("root: the initrd is damaged: {e}");
                    tally.count(Outcome::NotLoaded);
                    break;
                }
            };
            after = Some(entry.name);
            let id = abi::thread::ThreadId::new(FIRST_THREAD + tally.ran, 1).map_or(0, |t| t.raw());
            let (outcome, cpu, node, faults) = match start(kip, me, id, entry.data, &cpus, &mut next_cpu, scratch) {
                Ok(child) => {
                    scratch = child.image.scratch_end;
                    let (outcome, faults) = serve(&child, entry.name);
                    stop(child.id, entry.name);
                    (outcome, Some(child.cpu), Some(child.node), faults)
                }
                Err((e, placed)) => {
                    println!("root: {} not started: {e}", entry.name);
                    if let Some(child) = placed {
                        stop(child, entry.name);
                    }
                    (Outcome::NotLoaded, None, None, 0)
                }
            };
            println!(
                "report: program name={} status={outcome} node={} cpu={} faults={faults}",
                entry.name,
                Dash(node),
                Dash(cpu.map(|c| c as u64)),
            );
            tally.count(outcome);
        }
        tally
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

    /// Places, loads and starts one program; on failure also returns the thread id if a
    /// thread was already created (so it can be halted).
    fn start(
        kip: &Kip,
        me: u64,
        id: u64,
        file: &[u8],
        cpus: &CpuOrder,
        next_cpu: &mut usize,
        scratch: u64,
    ) -> Result<Child, (LoadError, Option<u64>)> {
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
        // 3. Its file pages, on its node.
        loader::load(&image, &elf, node).map_err(|e| (e, Some(id)))?;
        // 4. Go: the root is its exception handler too, so a crash comes here as IPC.
        let control = ExregsControl::SET_SP
            | ExregsControl::SET_IP
            | ExregsControl::SET_EXCEPTION_HANDLER
            | ExregsControl::START;
        let r = sys::raw(Syscall::ExchangeRegisters, [id, control.raw(), CHILD_STACK_TOP, elf.entry(), 0, me, 0, 0]);
        if let Some(e) = Error::from_code(r[0]) {
            return Err((LoadError::Kernel(e), Some(id)));
        }
        Ok(Child { id, cpu, node, image })
    }

    /// Serves `child` until it ends; returns how, and how many page faults it had.
    fn serve(child: &Child, name: &str) -> (Outcome, u64) {
        let mut faults = 0u64;
        let mut reply_to = 0u64;
        let mut reply = [0u64; 5];
        // The reply never waits (the child is blocked in its fault or call, or gone);
        // the receive waits at most SILENCE_US.
        let timeouts = Timeouts { send: Timeout::Zero, receive: Timeout::Micros(SILENCE_US) }.pack();
        loop {
            let got = sys::ipc(reply_to, u64::MAX, timeouts, reply);
            reply_to = 0;
            let msg = match got {
                Ok(m) => m,
                Err(Error::ReceiveTimeout) => {
                    println!("root: {name}: silent for {} s: given up", SILENCE_US / 1_000_000);
                    return (Outcome::TimedOut, faults);
                }
                // The reply could not be delivered (the child is no longer waiting):
                // nothing to do but listen again.
                Err(Error::SendTimeout | Error::NonExistingPartner) => continue,
                Err(e) => {
                    println!("root: {name}: ipc: {e}");
                    return (Outcome::Crashed, faults);
                }
            };
            if msg.from != child.id {
                // Not the program being served (a thread the root does not page, or a
                // message someone else labelled like a kernel message): not answered.
                println!("root: ignored a message from {:#x} (label {:#x})", msg.from, msg.mr[0] >> 16);
                continue;
            }
            match Event::classify(msg.mr) {
                Event::PageFault { address, ip, access } => {
                    faults += 1;
                    let served = pager::resolve(&child.image, address, access)
                        .map_err(Served::Crash)
                        .and_then(|r| pager::serve(r, child.node).map_err(Served::Kernel));
                    match served {
                        Ok([w0, w1, w2]) => {
                            reply = [w0, w1, w2, 0, 0];
                            reply_to = msg.from;
                        }
                        Err(Served::Crash(c)) => {
                            println!("root: {name} crashed: {c} (ip {ip:#x})");
                            return (Outcome::Crashed, faults);
                        }
                        Err(Served::Kernel(e)) => {
                            println!("root: {name}: no page for {address:#x}: {e}");
                            return (Outcome::Crashed, faults);
                        }
                    }
                }
                Event::Exception { esr, far, elr } => {
                    println!("root: {name} crashed: exception, ESR {esr:#x} FAR {far:#x} ELR {elr:#x}");
                    return (Outcome::Crashed, faults);
                }
                Event::Exit { status } => return (Outcome::Exited(status), faults),
                Event::Other { label } => {
                    println!("root: {name} sent label {label:#x}, which the root task does not serve");
                    reply = [0; 5];
                    reply_to = msg.from;
                }
            }
        }
    }

    /// Why a fault was not served.
    enum Served {
        Crash(pager::Crash),
        Kernel(Error),
    }

    /// Halts a program's thread for good (the kernel cannot delete it yet). A thread
    /// blocked in its fault, call or exit halts at once. One that still runs (a program
    /// that timed out) makes the kernel answer `Busy` (in ABI v1 also while it waits in
    /// a run queue after preemption): it is retried a few times, yielding in between,
    /// and if it never halts the root says so and goes on; the program keeps its CPU
    /// share, which slows the programs after it but does not stop them.
    fn stop(id: u64, name: &str) {
        let halt = ExregsControl::HALT.raw();
        for _ in 0..STOP_TRIES {
            match sys::exchange_registers(id, halt, 0, 0, 0) {
                Err(Error::Busy) => {
                    let _ = sys::raw(Syscall::ThreadSwitch, [0; 8]);
                }
                _ => return,
            }
        }
        println!("root: {name} could not be halted (the kernel answers Busy): it keeps running");
    }

    /// How often [`stop`] asks before it gives up.
    const STOP_TRIES: usize = 100;
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
        assert_eq!(Event::classify([tag(0xFFE4, 0), 0, 0, 0, 0]), Event::Other { label: 0xFFE4 }, "too short");
        assert_eq!(Event::classify([u64::MAX, 0, 0, 0, 0]), Event::Other { label: 0 }, "a tag that does not decode");
    }

    #[test]
    fn only_exit_status_0_is_success() {
        let mut t = Tally::default();
        for o in [Outcome::Exited(0), Outcome::Exited(1), Outcome::Crashed, Outcome::TimedOut, Outcome::NotLoaded] {
            t.count(o);
        }
        assert_eq!(t, Tally { ran: 5, failed: 4 });
        let shown: Vec<String> =
            [Outcome::Exited(3), Outcome::Crashed, Outcome::TimedOut, Outcome::NotLoaded].iter().map(|o| o.to_string()).collect();
        assert_eq!(shown, ["3", "crash", "timeout", "load-error"]);
    }
}
