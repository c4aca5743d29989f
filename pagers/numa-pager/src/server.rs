// SPDX-License-Identifier: MIT OR Apache-2.0
//! The memory server: builds a NUMA program's spaces, pagers and threads, owns its
//! shared memory, runs its requests, and ends it.
//!
//! 1. **Ask the root task** what to run ([`proto::HELLO`], [`proto::NAME`],
//!    [`proto::CONFIG`]): the program's ELF and this program's own (mapped read-only
//!    into this space on first touch), the thread numbers it may use, its flags. The
//!    root put this space in the program's group and made it privileged.
//! 2. **Check the program**: its declaration (`numa::decl`) and a plan on this machine
//!    (`numa::plan`). A bad one is reported (`report: numa-program ... result=fail
//!    error=...`) and nothing is started.
//! 3. **Build**: for each node with CPUs a pager space (homed on the node, privileged,
//!    in the group) with its pager thread, and a program space (homed on the node) held
//!    by an anchor thread that never runs (a space lives while it has a thread); then
//!    the declared threads, each with its `ThreadInfo` at its stack's top.
//! 4. **Serve**: the pagers' own faults (their code and data copied onto their node,
//!    their stacks there, the program's ELF mapped), their page requests
//!    (`memory.rs`), and the program's requests; a thread's exception or an
//!    unservable fault ends the program as a crash.
//! 5. **End** when the last thread has ended: the checks, the report, everything
//!    deleted; exit with 0 (pass) or 1.

use crate::common::{self, Program, file, item, label, read, tag, unmap_own, write};
use crate::memory::{Frames, Refusal, Server};
use crate::pager;
use abi::Error;
use abi::fault::{EXCEPTION_LABEL, PAGE_FAULT_ACCESS_MASK, PAGE_FAULT_LABEL};
use abi::fpage::Rights;
use abi::introspect::{KmemReport, Request, Translation};
use abi::thread::ThreadId;
use abi::timeout::{Timeout, Timeouts};
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use numa::access::Thresholds;
use numa::heap::Arena;
use numa::layout::{self, PAGER_STACK, PAGER_STACK_TOP, PAGER_UTCB, SERVER_APP_ELF, SERVER_PAGER_ELF};
use numa::plan::{Machine, Plan};
use numa::proto::{self, Fail, Note, Place, ThreadInfo};
use numa::region::{Access, PAGE};
use rt::{println, sys};

/// The server's own heap: its tables (`memory.rs`'s maps, the thread table).
struct Heap(Arena);

// SAFETY: `Arena` hands out each block to one caller until it is freed (its contract);
// the server is one thread, and the pagers (in other spaces, with their own copy of
// this static) never allocate.
unsafe impl core::alloc::GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
        self.0.alloc(layout).map_or(core::ptr::null_mut(), core::ptr::NonNull::as_ptr)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: core::alloc::Layout) {
        if let Some(p) = core::ptr::NonNull::new(ptr) {
            // SAFETY: `GlobalAlloc`'s caller returns a block `alloc` gave it.
            unsafe { self.0.dealloc(p, layout) };
        }
    }
}

#[global_allocator]
static HEAP: Heap = Heap(Arena::new());

/// Where the heap is (1 MiB, order 8) and the server's scratch page (for frames on
/// their way to a pager).
const HEAP_BASE: u64 = 0x20_0000_0000;
const HEAP_ORDER: u64 = 8;
const SCRATCH: u64 = 0x30_0000_0000;
/// The priority of the program's threads: below the pagers' and the server's (the
/// kernel's default, 100), as an L4 pager runs above the threads it serves.
const PROGRAM_PRIORITY: u8 = 90;
/// The app thread slots reserved beyond the declared threads, for `spawn`.
const SPARE_THREADS: u64 = 64;

/// The server: see the module docs.
pub fn run(utcb: u64) -> ! {
    let root = ThreadId::ROOT.raw();
    let me = rt::my_id();
    let heap = sys::memory_control(
        node_here(),
        HEAP_ORDER,
        HEAP_BASE,
        abi::memory_control::MemoryControlFlags::RW_NEAREST.raw(),
    );
    let heap_ok = heap.is_ok()
        // SAFETY: the block just mapped at HEAP_BASE is this space's, used for nothing else.
        && unsafe { HEAP.0.init(HEAP_BASE as usize, (HEAP_BASE + (PAGE << HEAP_ORDER)) as usize) };
    let mut name = [0u8; 24];
    let name_len = ask_name(root, &mut name);
    let name = core::str::from_utf8(&name[..name_len]).unwrap_or("?");
    if !heap_ok {
        fail(name, "no memory for the runtime's tables");
    }
    let never = Timeouts::NEVER.pack();
    let Ok(hello) = sys::ipc(root, root, never, [tag(proto::HELLO, 0, 0), 0, 0, 0, 0]) else {
        fail(name, "the root task did not answer")
    };
    let (app_len, app_off, pager_len, pager_off) = (hello.mr[1], hello.mr[2], hello.mr[3], hello.mr[4]);
    let app_elf = file(SERVER_APP_ELF, app_off, app_len);
    let pager_elf = file(SERVER_PAGER_ELF, pager_off, pager_len);
    let program = match Program::parse(app_elf) {
        Ok(p) => p,
        Err(e) => fail(name, &alloc::format!("{e}")),
    };
    let own = match Program::parse_plain(pager_elf) {
        Some(p) => p,
        None => fail(name, "the runtime's own ELF does not parse"),
    };
    let machine = machine(sys::kip());
    let plan = match Plan::new(&machine, program.decl.threads) {
        Ok(p) => Box::new(p),
        Err(e) => fail(name, &alloc::format!("{e}")),
    };
    let slots = plan.nodes().len();
    let want = 2 * slots as u64 + plan.threads().len() as u64 + SPARE_THREADS;
    let Ok(config) = sys::ipc(root, root, never, [tag(proto::CONFIG, 1, 0), want, 0, 0, 0]) else {
        fail(name, "the root task gave no thread numbers")
    };
    let (base, count, flags) = (config.mr[1], config.mr[2], config.mr[4]);
    if count < 2 * slots as u64 + plan.threads().len() as u64 {
        fail(name, &alloc::format!("{count} thread numbers, {want} wanted"));
    }
    let single = flags & proto::FLAG_SINGLE_SPACE != 0;
    let replicate = flags & proto::FLAG_NO_REPLICATION == 0;
    let nodes: Vec<u16> = plan.nodes().to_vec();
    let memory: Vec<u16> = nodes.iter().map(|&n| machine.memory_node(n).unwrap_or(n)).collect();
    let mut server = Server::new(program.decl, &nodes, &memory, program.segments());
    if !replicate {
        server = server.without_replication();
    }
    if single {
        server = server.single_space();
    }
    let mut rt = Runtime {
        utcb,
        me,
        root,
        name,
        app_elf,
        app_off,
        app_len,
        pager_elf,
        own,
        program,
        plan,
        nodes,
        memory,
        base,
        count,
        flags,
        single,
        server,
        threads: BTreeMap::new(),
        declared: 0,
        barriers: BTreeMap::new(),
        next_cpu: BTreeMap::new(),
        migrations: 0,
        migrant_local: (0, 0),
        crashed: false,
        silent: false,
        notes: [0; 4],
        reply_to: 0,
        reply: [0; 5],
    };
    if let Err(why) = rt.build() {
        rt.crashed = true;
        println!("numa-pager: {}: {why}", rt.name);
        rt.end()
    }
    rt.serve()
}

/// The node of the CPU this thread runs on.
fn node_here() -> u64 {
    sys::introspect(Request::CurrentCpu.encode()).map_or(0, |x| x[1])
}

/// Asks the root task for the program's name (24 bytes a chunk); its length.
fn ask_name(root: u64, name: &mut [u8; 24]) -> usize {
    let never = Timeouts::NEVER.pack();
    match sys::ipc(root, root, never, [tag(proto::NAME, 1, 0), 0, 0, 0, 0]) {
        Ok(m) if label(m.mr[0]) == proto::NAME => {
            let bytes = rt::words::unpack(&m.mr[1..4]);
            let len = (m.mr[4] as usize).min(24);
            name[..len].copy_from_slice(&bytes[..len]);
            len
        }
        _ => {
            name[..1].copy_from_slice(b"?");
            1
        }
    }
}

/// Reports a program that could not start, and ends.
fn fail(name: &str, why: &str) -> ! {
    println!("numa-pager: {name}: {why}");
    println!("{}", report::line!("numa-program", "name" => name, "result" => "fail", "error" => Quoted(why)));
    rt::exit(1)
}

/// Text with its blanks replaced, so a report value stays one word.
struct Quoted<'a>(&'a str);

impl core::fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for c in self.0.chars() {
            let c = if c == ' ' || c == '=' { '_' } else { c };
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

/// The machine, from the kernel interface page.
fn machine(kip: &abi::kip::Kip) -> Box<Machine> {
    let mut m = Box::new(Machine::new(kip.node_count()));
    for cpu in kip.cpus() {
        m.add_cpu(cpu.node);
    }
    for d in kip.memory() {
        if d.kind() == Some(abi::kip::MemoryKind::Conventional) && d.size > 0 && usize::from(d.node) < 64 {
            m.with_memory |= 1 << d.node;
        }
    }
    for from in 0..m.node_count.min(64) {
        for to in 0..m.node_count.min(64) {
            if let Some(d) = kip.distance(from, to) {
                m.distance[from][to] = d;
            }
        }
    }
    m
}

/// One thread of the program.
#[derive(Clone, Copy, Debug)]
struct Thread {
    /// Its id.
    id: u64,
    /// Its node slot (where it runs now).
    slot: usize,
    /// Still running (not exited, not deleted).
    live: bool,
    /// Its result (`EXIT`), once it has ended.
    result: u64,
    /// A thread waiting in `JOIN` for it.
    joiner: u64,
    /// Migrated at least once.
    moved: bool,
}

/// The server's state.
struct Runtime<'a> {
    utcb: u64,
    me: u64,
    root: u64,
    name: &'a str,
    app_elf: &'static [u8],
    app_off: u64,
    app_len: u64,
    pager_elf: &'static [u8],
    own: Program,
    program: Program,
    plan: Box<Plan>,
    nodes: Vec<u16>,
    memory: Vec<u16>,
    base: u64,
    count: u64,
    flags: u64,
    single: bool,
    server: Server,
    /// The program's threads, by thread slot.
    threads: BTreeMap<usize, Thread>,
    /// How many declared threads (ranks).
    declared: u64,
    /// Threads waiting at each barrier.
    barriers: BTreeMap<u64, Vec<u64>>,
    /// The next CPU (in turn) of each node, for spawn and migrate.
    next_cpu: BTreeMap<u16, usize>,
    migrations: u64,
    /// Migrated threads' UTCB and stack pages on their new node, and all of them.
    migrant_local: (u64, u64),
    crashed: bool,
    /// Given up after [`proto::SILENCE_US`] without a word from the program.
    silent: bool,
    /// `NOTE` values, by `Note` number.
    notes: [u64; 4],
    reply_to: u64,
    reply: [u64; 5],
}

/// The server's `MemoryControl`, free, `Unmap` and stores: `memory.rs`'s effects.
struct SysFrames {
    utcb: u64,
}

impl Frames for SysFrames {
    fn alloc(&mut self, node: u16, va: u64) -> Option<u16> {
        // Read-write-execute: a mapping derived from the frame gets at most its rights,
        // and without replication the program's code is such a frame (read-execute in
        // the program's spaces). With read-write only, every code fault of a
        // `replicate=off` run was answered with a page its thread could not execute,
        // and it faulted again for ever.
        sys::memory_control(u64::from(node), 0, va, common::RWX_NEAREST).ok().map(|(_, n)| n as u16)
    }
    fn free(&mut self, va: u64, order: u32) {
        let _ = sys::memory_free(va, u64::from(order));
    }
    fn revoke(&mut self, va: u64) {
        common::revoke_from_others(self.utcb, va);
    }
    fn write(&mut self, va: u64, bytes: &[u8]) {
        common::write_bytes(va, bytes);
    }
    fn copy(&mut self, from: u64, to: u64) {
        common::copy_page(from, to);
    }
}

impl Runtime<'_> {
    /// Thread ids: pagers first, then anchors, then the program's threads.
    fn pager_id(&self, slot: usize) -> u64 {
        id(self.base + slot as u64)
    }
    fn anchor_id(&self, slot: usize) -> u64 {
        id(self.base + (self.nodes.len() + slot) as u64)
    }
    fn thread_id(&self, t: usize) -> u64 {
        id(self.base + 2 * self.nodes.len() as u64 + t as u64)
    }
    /// The thread slot of a program thread's id, if it is one.
    fn slot_of_thread(&self, id: u64) -> Option<usize> {
        let n = (id >> 16).checked_sub(self.base + 2 * self.nodes.len() as u64)?;
        (n < self.count - 2 * self.nodes.len() as u64).then_some(n as usize)
    }
    /// The node slot of a pager's id, if it is one.
    fn slot_of_pager(&self, id: u64) -> Option<usize> {
        let n = (id >> 16).checked_sub(self.base)? as usize;
        (n < self.nodes.len() && self.pager_id(n) == id).then_some(n)
    }
    /// The pager and space slot that serve node slot `slot` (slot 0 for everyone in the
    /// single-space baseline).
    fn served_by(&self, slot: usize) -> usize {
        if self.single { 0 } else { slot }
    }
    /// The next CPU of node `node`, in turn.
    fn cpu_of(&mut self, node: u16) -> Option<usize> {
        let kip = sys::kip();
        let cpus: Vec<usize> = kip.cpus_of_node(node).collect();
        let turn = self.next_cpu.entry(node).or_insert(0);
        let cpu = cpus.get(*turn % cpus.len().max(1)).copied();
        *turn += 1;
        cpu
    }

    /// Runs `make(cpu)` with `preferred`, else each other CPU of `node` in turn, while
    /// the kernel answers `InvalidCpu` (a CPU the board lists that did not come up);
    /// the CPU that took it.
    fn on_node(
        node: u16,
        preferred: usize,
        mut make: impl FnMut(u64) -> Result<(), Error>,
    ) -> Result<usize, Error> {
        let others = sys::kip().cpus_of_node(node).filter(|&c| c != preferred);
        for cpu in core::iter::once(preferred).chain(others) {
            match make(cpu as u64) {
                Err(Error::InvalidCpu) => continue,
                r => return r.map(|()| cpu),
            }
        }
        Err(Error::InvalidCpu)
    }

    /// Step 3: the pagers, the spaces, the declared threads.
    fn build(&mut self) -> Result<(), alloc::string::String> {
        let spaces = if self.single { 1 } else { self.nodes.len() };
        for s in 0..spaces {
            let node = self.nodes[s];
            let first = sys::kip().cpus_of_node(node).next().ok_or("a node without CPUs")?;
            let (pager, anchor, me) = (self.pager_id(s), self.anchor_id(s), self.me);
            let cpu =
                Self::on_node(node, first, |cpu| sys::thread_control(pager, pager, me, me, PAGER_UTCB, cpu))
                    .map_err(|e| alloc::format!("pager of node {node}: {e}"))? as u64;
            sys::space_control(pager, true).map_err(|e| alloc::format!("pager of node {node}: {e}"))?;
            start(pager, PAGER_STACK_TOP, pager::run as *const () as u64, self.me)
                .map_err(|e| alloc::format!("pager of node {node}: {e}"))?;
            let utcb = layout::utcb(layout::MAX_THREADS + s);
            sys::thread_control(anchor, anchor, self.me, pager, utcb, cpu)
                .map_err(|e| alloc::format!("space of node {node}: {e}"))?;
        }
        let threads: Vec<(u16, u16)> = self.plan.threads().iter().map(|t| (t.cpu, t.node)).collect();
        self.declared = threads.len() as u64;
        for (rank, (cpu, node)) in threads.into_iter().enumerate() {
            let info = ThreadInfo { rank: rank as u64, ranks: self.declared, ..ThreadInfo::default() };
            self.make_thread(rank, usize::from(cpu), node, info)
                .map_err(|e| alloc::format!("thread {rank}: {e}"))?;
        }
        Ok(())
    }

    /// Creates and starts the program thread in slot `t` on `cpu` (of `node`).
    fn make_thread(&mut self, t: usize, cpu: usize, node: u16, mut info: ThreadInfo) -> Result<u64, Error> {
        let slot = self.plan.slot_of(node).ok_or(Error::InvalidCpu)?;
        let serve = self.served_by(slot);
        let tid = self.thread_id(t);
        info.slot = t as u64;
        info.server = self.me;
        info.flags = self.flags;
        // Its ThreadInfo, at the top of its stack: the stack's top page, on its node.
        let mut frames = SysFrames { utcb: self.utcb };
        let at = layout::thread_info(t);
        let g = self.server.page(&mut frames, self.app_elf, at, slot).map_err(|_| Error::OutOfMemory)?;
        for (i, w) in info.encode().iter().enumerate() {
            write(g.va + (at % PAGE) + 8 * i as u64, *w);
        }
        let (anchor, pager, me) = (self.anchor_id(serve), self.pager_id(serve), self.me);
        Self::on_node(node, cpu, |cpu| sys::thread_control(tid, anchor, me, pager, layout::utcb(t), cpu))?;
        // Below the runtime's own threads: a program thread that spins (on a lock whose
        // holder waits in a page fault) must not starve the pager or the server on its
        // CPU that the holder waits for (a one-space run under -icount hung so).
        let _ = sys::set_priority(tid, PROGRAM_PRIORITY);
        start(tid, layout::stack_top(t), self.program.entry, self.me)?;
        self.threads.insert(t, Thread { id: tid, slot, live: true, result: 0, joiner: 0, moved: false });
        Ok(tid)
    }

    /// Step 4: the loop.
    fn serve(&mut self) -> ! {
        loop {
            let silence = Timeout::Micros(proto::SILENCE_US);
            let timeouts = Timeouts { send: Timeout::Zero, receive: silence }.pack();
            let got = sys::ipc(self.reply_to, u64::MAX, timeouts, self.reply);
            (self.reply_to, self.reply) = (0, [0; 5]);
            let m = match got {
                Ok(m) => m,
                Err(Error::ReceiveTimeout) => {
                    // Nobody of the program spoke for the whole limit: hung (a barrier
                    // nobody completes, a thread waiting for itself). Given up, as the
                    // root gives up a silent ordinary program.
                    println!(
                        "numa-pager: {}: silent for {} s: given up",
                        self.name,
                        proto::SILENCE_US / 1_000_000
                    );
                    self.silent = true;
                    self.end()
                }
                Err(_) => continue,
            };
            self.handle(m.from, m.mr);
            if self.crashed || self.threads.values().all(|t| !t.live) {
                self.end()
            }
        }
    }

    /// Answers `to` with `mr` in the next receive.
    fn answer(&mut self, to: u64, mr: [u64; 5]) {
        (self.reply_to, self.reply) = (to, mr);
    }

    /// Sends `mr` to `to` now (a thread waiting in a call: barrier, join).
    fn send_now(&self, to: u64, mr: [u64; 5]) {
        let _ = sys::ipc(to, 0, Timeouts::ZERO.pack(), mr);
    }

    fn refuse(&mut self, to: u64, why: Fail) {
        self.answer(to, [tag(proto::REFUSED, 1, 0), why as u64, 0, 0, 0]);
    }

    /// One message.
    fn handle(&mut self, from: u64, mr: [u64; 5]) {
        let l = label(mr[0]);
        if let Some(slot) = self.slot_of_pager(from) {
            return self.pager_message(from, slot, l, mr);
        }
        let Some(t) = self.slot_of_thread(from) else {
            println!(
                "numa-pager: {}: a message from {from:#x}, not of this program (label {l:#x})",
                self.name
            );
            return;
        };
        if l == EXCEPTION_LABEL {
            println!(
                "numa-pager: {}: thread {t} crashed: exception, ESR {:#x} FAR {:#x} ELR {:#x}",
                self.name, mr[1], mr[2], mr[3]
            );
            self.crashed = true;
            return;
        }
        match l {
            proto::EXIT => self.exit(t, mr[1]),
            proto::SPAWN => self.spawn(from, mr),
            proto::JOIN => self.join(from, mr[1] as usize),
            proto::MIGRATE => self.migrate(from, t, mr[1] as u16),
            proto::UNMAP => {
                let n = self.server.unmap(&mut SysFrames { utcb: self.utcb }, mr[1], mr[2]);
                self.answer(from, [tag(proto::UNMAP, 1, 0), n, 0, 0, 0]);
            }
            proto::SAMPLE => {
                let n = self.server.sample(&mut SysFrames { utcb: self.utcb }, mr[1], mr[2]);
                self.answer(from, [tag(proto::SAMPLE, 1, 0), n, 0, 0, 0]);
            }
            proto::PLACE => {
                let n =
                    self.server.place(&mut SysFrames { utcb: self.utcb }, mr[1], mr[2], Thresholds::DEFAULT);
                self.answer(from, [tag(proto::PLACE, 1, 0), n, 0, 0, 0]);
            }
            proto::BARRIER => self.barrier(from, mr[1], mr[2]),
            proto::NOTE => {
                if let Some(n) = self.notes.get_mut(mr[1] as usize) {
                    *n = n.saturating_add(mr[2]);
                }
                self.answer(from, [tag(proto::NOTE, 0, 0), 0, 0, 0, 0]);
            }
            proto::ARGS => {
                let mut args = [0u8; 24];
                let (len, chunk) = self.args(mr[1], &mut args);
                let w = rt::words::pack(&args[..chunk]);
                self.answer(from, [tag(proto::ARGS, 4, 0), w[0], w[1], w[2], len]);
            }
            _ => self.refuse(from, Fail::Unknown),
        }
    }

    /// The program's arguments from `offset` (asked of the root); their length and how
    /// many bytes went into `out`.
    fn args(&self, offset: u64, out: &mut [u8; 24]) -> (u64, usize) {
        let never = Timeouts::NEVER.pack();
        match sys::ipc(self.root, self.root, never, [tag(proto::ARGS, 1, 0), offset, 0, 0, 0]) {
            Ok(m) if label(m.mr[0]) == proto::ARGS => {
                let bytes = rt::words::unpack(&m.mr[1..4]);
                let chunk = (m.mr[4].saturating_sub(offset) as usize).min(24);
                out[..chunk].copy_from_slice(&bytes[..chunk]);
                (m.mr[4], chunk)
            }
            _ => (0, 0),
        }
    }

    /// A message from the pager of node slot `slot`.
    fn pager_message(&mut self, from: u64, slot: usize, l: u16, mr: [u64; 5]) {
        if l & !PAGE_FAULT_ACCESS_MASK == PAGE_FAULT_LABEL {
            return self.pager_fault(from, slot, mr[1]);
        }
        match l {
            proto::PAGER_HELLO => {
                let elf = self.app_len | (self.app_off << 32) | (self.flags << 48);
                let node = u64::from(self.nodes[slot]);
                self.answer(
                    from,
                    [tag(proto::PAGER_HELLO, 4, 0), slot as u64, node, u64::from(self.memory[slot]), elf],
                );
            }
            proto::PAGE => {
                // The toucher: the faulting thread's node (its pager's, but for the
                // baseline, whose one pager serves every node).
                let toucher =
                    self.slot_of_thread(mr[2]).and_then(|t| self.threads.get(&t)).map_or(slot, |t| t.slot);
                let mut frames = SysFrames { utcb: self.utcb };
                match self.server.page(&mut frames, self.app_elf, mr[1], toucher) {
                    Ok(g) => {
                        let rights = match g.rights {
                            Access::ReadWrite => Rights::RW,
                            Access::ReadExecute => Rights::RX,
                            Access::Read => Rights::R,
                        };
                        let [w0, w1] = item(g.va, g.page, rights, false);
                        self.answer(from, [tag(proto::PAGE, 1, 2), u64::from(rights.bits()), w0, w1, 0]);
                    }
                    Err(why) => {
                        println!("numa-pager: {}: {why}", self.name);
                        let fail = if matches!(why, Refusal::OutOfMemory(_)) {
                            Fail::NoMemory
                        } else {
                            Fail::BadRange
                        };
                        self.refuse(from, fail);
                    }
                }
            }
            proto::CRASH => {
                let t = self.slot_of_thread(mr[1]).map_or(-1, |t| t as i64);
                println!(
                    "numa-pager: {}: thread {t} crashed: fault at {:#x} (ip {:#x}): {}",
                    self.name,
                    mr[2],
                    mr[3],
                    Fail::name(mr[4])
                );
                self.crashed = true;
            }
            proto::EXIT => {
                // A thread ended the rt way (a panic): its pager passes it on.
                if let Some(t) = self.slot_of_thread(mr[2]) {
                    self.exit(t, mr[1]);
                }
            }
            EXCEPTION_LABEL => {
                println!(
                    "numa-pager: {}: the pager of node {} crashed (ELR {:#x})",
                    self.name, self.nodes[slot], mr[3]
                );
                self.crashed = true;
            }
            _ => println!("numa-pager: {}: label {l:#x} from the pager of slot {slot}", self.name),
        }
    }

    /// The pager of `slot` faulted on one of its own pages: its code and data (copied
    /// onto its node from this program's own file), its stack, or the program's file.
    fn pager_fault(&mut self, from: u64, slot: usize, address: u64) {
        let page = address & !(PAGE - 1);
        let node = u64::from(self.memory[slot]);
        let elf_start = layout::APP_ELF;
        if (elf_start..elf_start + self.app_off + self.app_len).contains(&page) {
            // The program's file, read-only, from this space's window onto the initrd.
            let mine = SERVER_APP_ELF + (page - elf_start);
            let _ = read(mine); // in from the root first, should it not be yet
            let [w0, w1] = item(mine, page, Rights::R, false);
            return self.answer(from, [tag(0, 0, 2), w0, w1, 0, 0]);
        }
        let stack = PAGER_STACK_TOP - PAGER_STACK..PAGER_STACK_TOP;
        let segment =
            self.own.segments().iter().find(|s| page + PAGE > s.vaddr && page < s.vaddr + s.memsz).copied();
        if !stack.contains(&page) && segment.is_none() {
            println!(
                "numa-pager: {}: the pager of node {} faulted at {address:#x}",
                self.name, self.nodes[slot]
            );
            self.crashed = true;
            return;
        }
        let mut taken = sys::memory_control(node, 0, SCRATCH, (0b111 << 4) | 1);
        if taken == Err(Error::InvalidArgument) {
            unmap_own(self.utcb, SCRATCH); // a grant that did not happen
            taken = sys::memory_control(node, 0, SCRATCH, (0b111 << 4) | 1);
        }
        if taken.is_err() {
            println!("numa-pager: {}: no memory for the pager of node {}", self.name, self.nodes[slot]);
            self.crashed = true;
            return;
        }
        let mut rights = Rights::RW;
        if let Some(s) = segment {
            let (lo, hi) = (page.max(s.vaddr), (page + PAGE).min(s.vaddr + s.filesz));
            if lo < hi {
                let start = (s.offset + (lo - s.vaddr)) as usize;
                if let Some(bytes) = self.pager_elf.get(start..start + (hi - lo) as usize) {
                    common::write_bytes(SCRATCH + (lo - page), bytes);
                }
            }
            rights = if s.writable {
                Rights::RW
            } else if s.executable {
                Rights::RX
            } else {
                Rights::R
            };
        }
        let [w0, w1] = item(SCRATCH, page, rights, true);
        self.answer(from, [tag(0, 0, 2), w0, w1, 0, 0]);
    }

    /// `EXIT` of thread slot `t` with `result`.
    fn exit(&mut self, t: usize, result: u64) {
        let Some(th) = self.threads.get_mut(&t) else { return };
        if !th.live {
            return;
        }
        th.live = false;
        th.result = result;
        let (id, joiner, moved, slot) = (th.id, th.joiner, th.moved, th.slot);
        if moved && !self.single {
            // Before the thread goes (its UTCB with it).
            let (local, pages) = self.migrant_pages_local(t, slot);
            self.migrant_local.0 += local;
            self.migrant_local.1 += pages;
        }
        let _ = sys::thread_control(id, 0, 0, 0, 0, 0);
        if joiner != 0 {
            self.send_now(joiner, [tag(proto::JOIN, 1, 0), result, 0, 0, 0]);
        }
    }

    /// A migrated thread's pages in the space of node slot `slot` it ended in: its
    /// UTCB (the kernel makes it on the space's home node) and the stack pages it
    /// touched there (its pager copied them after it): `(on slot's memory, all)`.
    fn migrant_pages_local(&self, t: usize, slot: usize) -> (u64, u64) {
        let want = u64::from(self.memory[slot]);
        let space = ThreadId::from_raw(self.anchor_id(self.served_by(slot)));
        let top = layout::stack_slot(t).1;
        let stack = (top - u64::from(self.program.decl.stack_kib) * 1024..top).step_by(PAGE as usize);
        let (mut local, mut pages) = (0, 0);
        for va in core::iter::once(layout::utcb(t)).chain(stack) {
            let q = Request::Translate { space, va }.encode();
            if let Some(tr) = sys::introspect(q).ok().and_then(Translation::from_regs) {
                pages += 1;
                local += u64::from(tr.node == want);
            }
        }
        (local, pages)
    }

    /// `SPAWN`: a thread running `function(argument)` at `place`.
    fn spawn(&mut self, from: u64, mr: [u64; 5]) {
        let Some(place) = Place::decode(mr[3]) else { return self.refuse(from, Fail::BadNode) };
        let node = match place {
            Place::Node(n) if self.plan.slot_of(n).is_some() => n,
            Place::Cpu(c) => match sys::kip().node_of_cpu(usize::from(c)) {
                Some(n) if self.plan.slot_of(n).is_some() => n,
                _ => return self.refuse(from, Fail::BadNode),
            },
            Place::Any => {
                let turn = self.threads.len() % self.nodes.len().max(1);
                self.nodes[turn]
            }
            Place::Node(_) => return self.refuse(from, Fail::BadNode),
        };
        let cpu = match place {
            Place::Cpu(c) => Some(usize::from(c)),
            _ => self.cpu_of(node),
        };
        let Some(cpu) = cpu else { return self.refuse(from, Fail::BadNode) };
        let limit = (self.count - 2 * self.nodes.len() as u64) as usize;
        let Some(t) =
            (self.declared as usize..limit.min(layout::MAX_THREADS)).find(|t| !self.threads.contains_key(t))
        else {
            return self.refuse(from, Fail::NoThread);
        };
        let info = ThreadInfo {
            rank: t as u64,
            ranks: self.declared,
            function: mr[1],
            argument: mr[2],
            ..ThreadInfo::default()
        };
        match self.make_thread(t, cpu, node, info) {
            Ok(_) => self.answer(from, [tag(proto::SPAWN, 1, 0), t as u64, 0, 0, 0]),
            Err(e) => {
                println!("numa-pager: {}: spawn on node {node}: {e}", self.name);
                self.refuse(from, Fail::NoThread)
            }
        }
    }

    /// `JOIN`: answered once thread slot `t` has ended.
    fn join(&mut self, from: u64, t: usize) {
        match self.threads.get_mut(&t) {
            None => self.refuse(from, Fail::BadThread),
            Some(th) if !th.live => {
                let result = th.result;
                self.threads.remove(&t); // joined: the slot is free again
                self.answer(from, [tag(proto::JOIN, 1, 0), result, 0, 0, 0]);
            }
            Some(th) if th.joiner != 0 => self.refuse(from, Fail::BadThread),
            Some(th) => th.joiner = from,
        }
    }

    /// `MIGRATE`: thread slot `t` (waiting for this answer) moves to node `node`: into
    /// that node's space, onto one of its CPUs, paged by its pager from now on.
    fn migrate(&mut self, from: u64, t: usize, node: u16) {
        let Some(slot) = self.plan.slot_of(node) else { return self.refuse(from, Fail::BadNode) };
        let Some(cpu) = self.cpu_of(node) else { return self.refuse(from, Fail::BadNode) };
        let serve = self.served_by(slot);
        let (anchor, pager) = (self.anchor_id(serve), self.pager_id(serve));
        let moved = Self::on_node(node, cpu, |cpu| sys::thread_control(from, anchor, 0, pager, 0, cpu));
        match moved {
            Ok(cpu) => {
                if let Some(th) = self.threads.get_mut(&t) {
                    th.slot = slot;
                    th.moved = true;
                }
                self.migrations += 1;
                self.answer(from, [tag(proto::MIGRATE, 1, 0), cpu as u64, 0, 0, 0]);
            }
            Err(e) => {
                println!("numa-pager: {}: moving thread {t} to node {node}: {e}", self.name);
                self.refuse(from, Fail::Kernel);
            }
        }
    }

    /// `BARRIER`: `from` waits until `count` threads wait at barrier `id`.
    fn barrier(&mut self, from: u64, id: u64, count: u64) {
        let waiting = self.barriers.entry(id).or_default();
        waiting.push(from);
        if (waiting.len() as u64) < count {
            return;
        }
        let all = self.barriers.remove(&id).unwrap_or_default();
        for &t in &all {
            if t != from {
                self.send_now(t, [tag(proto::BARRIER, 0, 0), 0, 0, 0, 0]);
            }
        }
        self.answer(from, [tag(proto::BARRIER, 0, 0), 0, 0, 0, 0]);
    }

    /// Step 5: checks, the report, everything deleted, exit.
    fn end(&mut self) -> ! {
        for th in self.threads.values().filter(|t| t.live) {
            let _ = sys::thread_control(th.id, 0, 0, 0, 0, 0);
        }
        let spaces = if self.single { 1 } else { self.nodes.len() };
        // Code on its space's node: every code and read-only page a space maps.
        let (mut local, mut code) = (0u64, 0u64);
        for s in 0..spaces {
            let want = u64::from(self.memory[s]);
            for seg in self.program.segments().iter().filter(|s| !s.writable) {
                let mut page = seg.vaddr & !(PAGE - 1);
                while page < seg.vaddr + seg.memsz {
                    let q = Request::Translate { space: ThreadId::from_raw(self.anchor_id(s)), va: page }
                        .encode();
                    if let Some(t) = sys::introspect(q).ok().and_then(Translation::from_regs) {
                        code += 1;
                        local += u64::from(t.node == want);
                    }
                    page += PAGE;
                }
            }
        }
        // Each pager in a space homed on its node (or the node whose memory serves it).
        let mut pagers_local = 0;
        for s in 0..spaces {
            let q = Request::KmemReport { space: ThreadId::from_raw(self.pager_id(s)) }.encode();
            if let Ok(k) = sys::introspect(q).map(KmemReport::from_regs) {
                let (node, mem) = (u64::from(self.nodes[s]), u64::from(self.memory[s]));
                pagers_local += u64::from(k.home_node == node || k.home_node == mem);
            }
        }
        let stats = self.server.stats();
        // Each declared region's table misses; the first against the program's own
        // prediction, if it made one (`Note::ExpectedMisses`).
        let expected = self.notes[Note::ExpectedMisses as usize];
        let mut prediction_ok = true;
        for (i, r) in self.program.decl.declared().iter().enumerate() {
            let misses = self.server.misses_in(r.base, r.end().unwrap_or(r.base));
            if i == 0 && expected != 0 && misses != expected {
                prediction_ok = false;
            }
            println!(
                "{}",
                report::line!("numa-region", "program" => self.name, "name" => r.name(), "pages" => r.pages, "misses" => misses)
            );
        }
        let stale = self.notes[Note::Stale as usize];
        let failed_notes = self.notes[Note::Failed as usize];
        let results_ok = self.threads.values().all(|t| t.result == 0);
        let faults_ok = self.server.misses_within_bound() && stats.misses <= self.server.max_misses();
        let code_ok = !self.replicating() || local == code;
        let pass = !self.crashed
            && !self.silent
            && results_ok
            && failed_notes == 0
            && stale == 0
            && faults_ok
            && code_ok
            && prediction_ok
            && self.migrant_local.0 == self.migrant_local.1
            && pagers_local == spaces as u64;
        println!(
            "{}{}",
            report::line!("numa-program",
                "name" => self.name,
                "nodes" => self.nodes.len(),
                "spaces" => spaces,
                "pagers" => spaces,
                "pager-spaces-local" => report::Ratio(pagers_local, spaces as u64),
                "code-local" => report::Ratio(local, code),
                "global-faults" => stats.misses,
                "max-faults" => self.server.max_misses(),
                "migrations" => self.migrations,
                "unmaps" => stats.unmapped,
                "stale" => stale,
                "result" => if pass { "pass" } else { "fail" },
            ),
            // Why, when it was given up: the words the tests and a reader look for.
            if self.silent { " error=silent" } else { "" }
        );
        println!(
            "{}",
            report::line!("numa-program-detail",
                "name" => self.name,
                "threads" => self.declared,
                "repeats" => stats.repeats,
                "pages" => stats.pages_made,
                "stack-moves" => stats.stack_moves,
                "moves" => stats.moves,
                "migrant-local" => report::Ratio(self.migrant_local.0, self.migrant_local.1),
                "expected-faults" => self.notes[Note::ExpectedMisses as usize],
                "faults-per-node" => report::Slashed(self.server.misses_by_slot()),
                "mode" => if self.single { "single-space" } else { "per-node" },
                "replicate" => if self.replicating() { "on" } else { "off" },
            )
        );
        for s in 0..spaces {
            let _ = sys::thread_control(self.anchor_id(s), 0, 0, 0, 0, 0);
            let _ = sys::thread_control(self.pager_id(s), 0, 0, 0, 0, 0);
        }
        rt::exit(u64::from(!pass))
    }

    fn replicating(&self) -> bool {
        self.flags & proto::FLAG_NO_REPLICATION == 0 && !self.single
    }
}

/// The raw id of thread number `n`, version 1.
fn id(n: u64) -> u64 {
    ThreadId::new(n, 1).map_or(0, |t| t.raw())
}

/// Starts thread `t` at `ip` with stack `sp`; `handler` gets its exceptions.
fn start(t: u64, sp: u64, ip: u64, handler: u64) -> Result<(), Error> {
    sys::start_thread(t, sp, ip, handler)
}
