// SPDX-License-Identifier: MIT OR Apache-2.0
//! The calls, on the target: each is a message to the program's memory server (its id
//! is in the calling thread's `ThreadInfo`, at the top of its stack slot) or a system
//! call of the thread's own.

use crate::Context;
use abi::message::Tag;
use abi::timeout::Timeouts;
use core::alloc::{GlobalAlloc, Layout};
use core::fmt;
use core::sync::atomic::{AtomicU8, Ordering};
use numa::decl::Declaration;
use numa::heap::Arenas;
use numa::layout;
use numa::proto::{self, Note, Place, ThreadInfo};
use rt::sys;

/// Most nodes (the KIP's limit).
const MAX_NODES: usize = 64;
/// `SLOT_OF_NODE[n]`: node `n`'s slot among the program's nodes (the nodes with CPUs,
/// in order); [`NO_SLOT`] for a node without CPUs.
static SLOT_OF_NODE: [AtomicU8; MAX_NODES] = [const { AtomicU8::new(NO_SLOT) }; MAX_NODES];
const NO_SLOT: u8 = u8::MAX;

/// The program's allocator: an arena per node ([`numa::heap`]), the calling thread's
/// node's first.
pub struct Heap(Arenas<MAX_NODES>);

impl Heap {
    /// Arenas without memory yet (each gets its range when the program starts).
    pub const fn new() -> Heap {
        Heap(Arenas::new(here_slot, yield_cpu))
    }
}

impl Default for Heap {
    fn default() -> Heap {
        Heap::new()
    }
}

// SAFETY: delegates to `Arenas`, whose blocks each go to one caller until freed.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller of `GlobalAlloc::alloc` guarantees.
        unsafe { self.0.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as the caller of `GlobalAlloc::dealloc` guarantees.
        unsafe { self.0.dealloc(ptr, layout) }
    }
}

/// Gives the CPU to another thread (`ThreadSwitch` NIL): what a thread waiting for an
/// arena's lock does, so the holder's pager, on the same CPU maybe, can run.
fn yield_cpu() {
    sys::yield_now();
}

/// The program's heap, as `run` was given it (for [`alloc_on`]).
static HEAP: core::sync::atomic::AtomicPtr<Heap> = core::sync::atomic::AtomicPtr::new(core::ptr::null_mut());

/// The stack pointer.
fn sp() -> u64 {
    let sp: u64;
    // SAFETY: reads the stack pointer into a register; no memory, no flags.
    unsafe { core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    sp
}

/// The calling thread's slot: its stack slot, which its stack pointer is in.
fn my_slot() -> usize {
    ((sp().wrapping_sub(layout::STACK_BASE)) / layout::STACK_SLOT) as usize
}

/// The calling thread's UTCB (see `rt::set_utcb_locator`).
fn my_utcb() -> usize {
    layout::utcb(my_slot()) as usize
}

fn utcb_word(offset: usize) -> u64 {
    // SAFETY: the kernel maps this thread's UTCB at its slot's address for the thread's
    // life, in whichever space it is; `offset` is an ABI word offset inside the page.
    unsafe { core::ptr::read_volatile((my_utcb() + offset) as *const u64) }
}

/// The calling thread's `ThreadInfo`.
fn info() -> ThreadInfo {
    let at = layout::thread_info(my_slot());
    let mut w = [0u64; 8];
    for (i, word) in w.iter_mut().enumerate() {
        // SAFETY: the top of this thread's stack slot, which the server wrote before
        // the thread started and which stays mapped (the stack's top page).
        *word = unsafe { core::ptr::read_volatile((at + 8 * i as u64) as *const u64) };
    }
    ThreadInfo::decode(w).unwrap_or_default()
}

/// The CPU the calling thread runs on (the UTCB's word, which the kernel keeps).
pub fn cpu() -> usize {
    utcb_word(abi::utcb::CPU_OFFSET) as usize
}

/// The node the calling thread runs on.
pub fn node() -> u16 {
    sys::kip().node_of_cpu(cpu()).unwrap_or(0)
}

/// The calling thread's node's slot among the program's nodes.
fn here_slot() -> usize {
    let n = usize::from(node()).min(MAX_NODES - 1);
    match SLOT_OF_NODE[n].load(Ordering::Relaxed) {
        NO_SLOT => 0,
        s => usize::from(s),
    }
}

/// The program's nodes: every node with CPUs, in order.
pub fn nodes() -> impl Iterator<Item = u16> {
    let kip = sys::kip();
    (0..kip.node_count() as u16).filter(move |&n| kip.cpus_of_node(n).next().is_some())
}

/// How many CPUs the machine has.
pub fn cpus() -> usize {
    sys::kip().cpu_count()
}

/// The calling thread's id.
fn my_id() -> u64 {
    utcb_word(abi::utcb::MY_GLOBAL_ID_OFFSET)
}

/// The id of the program's thread in slot `t` (threads of a program have consecutive
/// numbers, in slot order).
fn id_of_slot(t: usize) -> u64 {
    let mine = my_id() >> 16;
    let number = (mine - my_slot() as u64) + t as u64;
    (number << 16) | 1
}

/// A thread's entry: see the crate docs. Called by the [`crate::program!`] macro.
pub fn run(utcb: rt::UtcbAddr, decl: &'static Declaration, heap: &'static Heap, main: fn(&Context) -> u64) -> ! {
    rt::set_utcb_locator(my_utcb);
    let _ = utcb;
    let kip = sys::kip();
    let mut slot = 0u8;
    for (n, slot_of) in SLOT_OF_NODE.iter().enumerate().take(kip.node_count()) {
        if kip.cpus_of_node(n as u16).next().is_some() {
            slot_of.store(slot, Ordering::Relaxed);
            // SAFETY: the arena of slot `slot` is its range of the heap region, which
            // this program uses for nothing else; the first thread to get here gives
            // it, the others' `init` returns false.
            let (start, end) = layout::arena(usize::from(slot), decl.heap_kib);
            if let Some(a) = heap.0.arena(usize::from(slot)) {
                // SAFETY: as above.
                unsafe { a.init(start as usize, end as usize) };
            }
            slot += 1;
        }
    }
    HEAP.store(core::ptr::from_ref(heap).cast_mut(), Ordering::Relaxed);
    let info = info();
    let result = if info.function != 0 {
        // SAFETY: the server stored the address of a `fn(u64) -> u64` of this program
        // (`spawn` sent it), and the program is the same binary in every space.
        let f: fn(u64) -> u64 = unsafe { core::mem::transmute::<usize, fn(u64) -> u64>(info.function as usize) };
        f(info.argument)
    } else {
        main(&Context::new(info.rank, info.ranks))
    };
    exit(result)
}

/// Ends the calling thread with `result` (0 = success).
pub fn exit(result: u64) -> ! {
    let server = info().server;
    let send = Timeouts { send: abi::timeout::Timeout::Never, receive: abi::timeout::Timeout::Zero }.pack();
    let _ = sys::ipc(server, 0, send, [tag(proto::EXIT, 1), result, 0, 0, 0]);
    loop {
        let _ = sys::ipc(0, server, Timeouts::NEVER.pack(), [0; 5]);
    }
}

/// Why a call was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The server's reason (`numa::proto::Fail`).
    Server(u64),
    /// The kernel's.
    Kernel(abi::Error),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Server(code) => f.write_str(proto::Fail::name(*code)),
            Refused::Kernel(e) => write!(f, "{e}"),
        }
    }
}

fn tag(label: u16, u: u8) -> u64 {
    Tag::new(label, u, 0).map_or(0, |t| t.raw())
}

/// A call to the server: `label` with `words`; MR1..MR4 of its answer.
fn call(label: u16, words: [u64; 4]) -> Result<[u64; 4], Refused> {
    let server = info().server;
    let m = sys::ipc(server, server, Timeouts::NEVER.pack(), [tag(label, 4), words[0], words[1], words[2], words[3]])
        .map_err(Refused::Kernel)?;
    match Tag::from_raw(m.mr[0]).map(|t| t.label()) {
        Ok(l) if l == label => Ok([m.mr[1], m.mr[2], m.mr[3], m.mr[4]]),
        _ => Err(Refused::Server(m.mr[1])),
    }
}

/// A thread [`spawn`] started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thread {
    slot: usize,
}

impl Thread {
    /// Its slot (what [`signal`] names it by).
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// Waits for it to end; its result.
    pub fn join(self) -> Result<u64, Refused> {
        call(proto::JOIN, [self.slot as u64, 0, 0, 0]).map(|r| r[0])
    }
}

/// Starts a thread running `f(argument)` at `place`.
pub fn spawn(place: Place, f: fn(u64) -> u64, argument: u64) -> Result<Thread, Refused> {
    let r = call(proto::SPAWN, [f as usize as u64, argument, place.encode(), 0])?;
    Ok(Thread { slot: r[0] as usize })
}

/// Moves the calling thread to `node`: into that node's space, onto one of its CPUs,
/// paged by its pager; its stack follows it page by page, its UTCB is made there.
/// Returns the CPU it runs on now.
pub fn migrate(node: u16) -> Result<usize, Refused> {
    call(proto::MIGRATE, [u64::from(node), 0, 0, 0]).map(|r| r[0] as usize)
}

/// Takes the global pages of `[address, address + pages * 4 KiB)` away from every node:
/// their frames go back, and the next touch of a page gets a fresh, zeroed one. Returns
/// the pages that had a frame.
pub fn unmap(address: u64, pages: u64) -> Result<u64, Refused> {
    call(proto::UNMAP, [address, pages, 0, 0]).map(|r| r[0])
}

/// Starts a sampling period over the global pages of the range (see [`place`]).
pub fn sample(address: u64, pages: u64) -> Result<u64, Refused> {
    call(proto::SAMPLE, [address, pages, 0, 0]).map(|r| r[0])
}

/// Moves each sampled page of the range to the node that faulted it back in clearly
/// most often; the pages moved.
pub fn place(address: u64, pages: u64) -> Result<u64, Refused> {
    call(proto::PLACE, [address, pages, 0, 0]).map(|r| r[0])
}

/// Waits until `count` threads have called `barrier` with `id`.
/// What each thread wrote before its call is seen by every thread after it (the calls
/// are fenced).
pub fn barrier(id: u64, count: u64) -> Result<(), Refused> {
    core::sync::atomic::fence(Ordering::SeqCst);
    let r = call(proto::BARRIER, [id, count, 0, 0]).map(|_| ());
    core::sync::atomic::fence(Ordering::SeqCst);
    r
}

/// Adds `value` to the program's report (`Note::Stale` must stay 0, `Note::Failed`
/// fails the program).
pub fn note(what: Note, value: u64) {
    let _ = call(proto::NOTE, [what as u64, value, 0, 0]);
}

/// Posts `word` to the program's thread in slot `thread` (on any node); never blocks.
pub fn signal(thread: usize, word: u64) -> Result<(), Refused> {
    sys::notify(id_of_slot(thread), word).map_err(Refused::Kernel)
}

/// Waits for a [`signal`]: the word.
pub fn wait() -> u64 {
    loop {
        if let Ok(m) = sys::ipc(0, u64::MAX, Timeouts::NEVER.pack(), [0; 5])
            && Tag::from_raw(m.mr[0]).is_ok_and(|t| t.label() == abi::fault::NOTIFY_LABEL)
        {
            return m.mr[1];
        }
    }
}

/// The calling thread's slot (its rank for a declared thread).
pub fn slot() -> usize {
    my_slot()
}

/// A block from `node`'s arena (the program's nodes only; falls back to the others when
/// that arena is full), freed with `alloc::alloc::dealloc` like any other.
pub fn alloc_on(node: u16, layout: Layout) -> Option<core::ptr::NonNull<u8>> {
    let slot = usize::from(SLOT_OF_NODE.get(usize::from(node))?.load(Ordering::Relaxed));
    let heap = HEAP.load(Ordering::Relaxed);
    // SAFETY: `HEAP` is 0 or the program's `'static` heap, stored by `run`.
    let heap = unsafe { heap.as_ref() }?;
    heap.0.alloc_on(slot, layout)
}

/// The physical node of the page at `address` of this thread's space (0..: a node;
/// `None`: not mapped).
pub fn node_of(address: u64) -> Option<u64> {
    let q = abi::introspect::Request::Translate { space: abi::thread::ThreadId::NIL, va: address }.encode();
    sys::introspect(q).ok().and_then(abi::introspect::Translation::from_regs).map(|t| t.node)
}

/// The node whose memory serves `node` (itself, or the nearest with memory).
pub fn memory_node(node: u16) -> u16 {
    let kip = sys::kip();
    let has = |n: u16| kip.memory().any(|m| m.node == n && m.size > 0 && m.kind() == Some(abi::kip::MemoryKind::Conventional));
    if has(node) {
        return node;
    }
    (0..kip.node_count() as u16)
        .filter(|&m| has(m))
        .min_by_key(|&m| (kip.distance(usize::from(node), usize::from(m)).unwrap_or(u8::MAX), m))
        .unwrap_or(node)
}

/// The program's own memory as a `numa::workload::Memory`: 8-byte volatile loads and
/// stores at the addresses the workload names (its declared regions, its heap), which
/// the runtime maps on touch. Volatile, so every access reaches memory (and its fault)
/// in program order.
pub struct Mapped(());

impl Mapped {
    /// # Safety
    /// Every address given to `load` and `store` must be 8-byte aligned, in a region of
    /// this program the runtime maps on touch (a declared global region, the heap) or
    /// already mapped, and not written by another thread at the same time.
    pub const unsafe fn new() -> Mapped {
        Mapped(())
    }
}

impl numa::workload::Memory for Mapped {
    fn load(&mut self, addr: u64) -> u64 {
        // SAFETY: `new`'s contract: `addr` is aligned and mapped (or mapped on touch).
        unsafe { core::ptr::read_volatile(addr as *const u64) }
    }
    fn store(&mut self, addr: u64, value: u64) {
        // SAFETY: as in `load`; nobody else writes the word now (`new`'s contract).
        unsafe { core::ptr::write_volatile(addr as *mut u64, value) }
    }
}

/// The workload's knobs (`numa::workload::Params`) from the program's arguments; on a
/// bad one, rank 0 says why under the program's name, the run is noted failed, and
/// `None`.
pub fn workload_params(program: &str, ctx: &Context) -> Option<numa::workload::Params> {
    let mut buf = [0u8; 160];
    match numa::workload::Params::parse(args_text(&mut buf)) {
        Ok(p) => Some(p),
        Err(e) => {
            if ctx.rank() == 0 {
                rt::println!("{program}: {e}");
            }
            note(Note::Failed, 1);
            None
        }
    }
}

/// Whether the program runs as the paper's baseline (`mode=single-space` among its
/// arguments): one space and one pager for every node.
pub fn single_space() -> bool {
    let mut buf = [0u8; 160];
    args_text(&mut buf).split_ascii_whitespace().any(|w| w == "mode=single-space")
}

/// The program's arguments as text, read into `buf` (arguments past its end, or a
/// cut character at its end, left out).
pub fn args_text(buf: &mut [u8]) -> &str {
    let n = args(buf);
    match core::str::from_utf8(&buf[..n]) {
        Ok(text) => text,
        Err(e) => core::str::from_utf8(&buf[..e.valid_up_to()]).unwrap_or(""),
    }
}

/// The program's arguments (from its manifest line), up to `out.len()` bytes; how many.
pub fn args(out: &mut [u8]) -> usize {
    let mut at = 0;
    while at < out.len() {
        let Ok(r) = call(proto::ARGS, [at as u64, 0, 0, 0]) else { break };
        let total = r[3] as usize;
        let bytes = rt::words::unpack(&r[..3]);
        let n = total.saturating_sub(at).min(24).min(out.len() - at);
        out[at..at + n].copy_from_slice(&bytes[..n]);
        at += n;
        if n == 0 || at >= total {
            break;
        }
    }
    at
}

/// The calling CPU's cycle counter (PMCCNTR_EL0, which the kernel lets EL0 read). Under
/// QEMU `-icount shift=0` it counts one per guest instruction, on whichever CPU ran it
/// (they run in turn): the difference of two reads is what everything in between cost,
/// the other CPUs' work for the call included. The `isb` keeps the read in order.
/// Compare two reads of the same CPU only: each CPU's counter starts when that CPU
/// enables it, so a thread that changed CPU in between (`migrate`) reads a difference
/// of two offsets; time such a call by the system counter (`rt::sys::counter`).
pub fn cycles() -> u64 {
    let c: u64;
    // SAFETY: reads a counter register the kernel enables for EL0 on every CPU; no
    // memory, no flags.
    unsafe { core::arch::asm!("isb", "mrs {}, pmccntr_el0", out(reg) c, options(nomem, nostack, preserves_flags)) };
    c
}

/// Takes `[address, address + pages * 4 KiB)` out of the calling thread's own space
/// only (the kernel's `Unmap` with flush-own), leaving every other node's mapping and
/// the runtime's frames as they are; the next touch faults the same frame back in.
/// At most one flexpage: `pages` a power of two and `address` aligned to it.
pub fn unmap_own(address: u64, pages: u64) -> Result<(), Refused> {
    let bits = 12 + pages.trailing_zeros() as u8;
    if !pages.is_power_of_two() {
        return Err(Refused::Kernel(abi::Error::InvalidArgument));
    }
    let f = abi::fpage::Fpage::new(address, bits, abi::fpage::Rights::RWX)
        .map_err(|_| Refused::Kernel(abi::Error::InvalidArgument))?;
    let mr = my_utcb() + abi::utcb::MR_OFFSET;
    // SAFETY: MR0 of this thread's own UTCB, mapped for its life (see `utcb_word`).
    unsafe { core::ptr::write_volatile(mr as *mut u64, f.raw()) };
    sys::unmap(1, true).map_err(Refused::Kernel)
}
