// SPDX-License-Identifier: MIT OR Apache-2.0
//! `numademo`: the paper at user level, end to end, on every node of the board.
//!
//! The kernel gives only local primitives; this program (the root task, privileged)
//! is the NUMA runtime that builds one application out of them, as "NUMA-Aware
//! User-Level Memory Management for Microkernel-Based Operating Systems" describes:
//!
//! - **one address space and one pager per node**: for every node with CPUs, a
//!   *worker* thread in a new space created on a CPU of that node (so the space's home
//!   node is that node: its tables, MDB entries and TCBs come from there), and a
//!   *pager* thread on the same CPU. The pagers are threads of this (root) space: they
//!   share this program's statics, which hold the runtime's tables. The kernel sees
//!   unrelated spaces; the grouping exists only here.
//! - **node-local code**: the workers run this program's code. At the first fault on a
//!   code page in node k's space, pager k copies the page into a frame on node k and
//!   maps that copy: every node executes its own replica.
//! - **node-local stacks (and UTCBs)**: stack pages are fresh frames on the faulting
//!   node; the kernel makes UTCBs on the space's home node.
//! - **a global region**: [`GLOBAL_PAGES`] pages with one frame each, mapped lazily:
//!   a fault on node k asks pager k, which looks the page up in the global table
//!   ([`numa::global::Entry`], under a lock the pagers share) and maps the existing
//!   frame, or allocates it on node k (first touch) and records it. At most one fault
//!   per node per page (the report counts them).
//! - **migration**: worker 0, blocked in its call to the root, is moved into node 1's
//!   space and onto node 1's CPU (`ThreadControl`); node 1's pager becomes its pager.
//!   Its stack follows it: at its first fault there, pager 1 copies each stack page
//!   into a node-1 frame (the runtime knows every worker's stack frames).
//! - **global unmap**: pager 0 takes global page 0 away from every node with the
//!   protocol of [`numa::global`] (the one `crate::model` checks there): mark the entry,
//!   revoke the mappings (one `Unmap` of the root's frame revokes every node's mapping,
//!   with the TLBs of every CPU), ask every other node that mapped it (`Notify`), which
//!   revokes again (a fault it was answering may have mapped it since) and
//!   acknowledges; after the last acknowledgement the frame is free. The demo then
//!   fills the freed frame with a poison value: a thread that could still reach it
//!   would read the poison (`stale=`). Afterwards every node's access faults and the
//!   page is made again.
//!
//! It ends with
//! `report: numa-demo nodes=N spaces=N pagers=N code-local=L/T global-faults=F max-faults=M migrations=K unmaps=U stale=S result=pass|fail`
//! where `code-local` counts code pages of the workers' spaces whose frame is on the
//! space's node (checked through the kernel's translation query), `max-faults` is the
//! number of (page, node) pairs that may fault (every global page on every node, and
//! the unmapped page once more on every node), and `stale` the poison reads.
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

rt::entry!(numademo);

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod demo {
    use abi::fpage::{Fpage, Rights};
    use abi::message::{Tag, TypedItem};
    use abi::syscall::{ExregsControl, Syscall};
    use abi::thread::ThreadId;
    use abi::timeout::{Timeout, Timeouts};
    use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use numa::global::{Entry, Fault, NodeSet};
    use rt::{println, sys};

    /// Nodes the demo uses at most.
    const MAX_NODES: usize = 8;
    /// Thread numbers: pager of node k, worker of node k.
    const PAGER_BASE: u64 = 0x80;
    const WORKER_BASE: u64 = 0x100;
    /// The global region (in every worker's space) and its size in pages.
    const GLOBAL: u64 = 0x80_0000_0000;
    /// Pages of the global region.
    pub const GLOBAL_PAGES: usize = 8;
    /// Where the root space keeps the frames the pagers allocate.
    const SCRATCH: u64 = 0x90_0000_0000;
    /// The pagers' stacks and UTCBs (root space).
    const PAGER_STACKS: u64 = 0x70_0000_0000;
    const PAGER_UTCBS: u64 = 0x28_0000;
    /// Worker k's UTCB (distinct per worker, so a migrant's is free in another space)
    /// and stack region (the stack grows down from its end).
    const WORKER_UTCBS: u64 = 0x20_0000;
    const STACKS: u64 = 0x1000_0000;
    const STACK_SPAN: u64 = 0x10_0000;
    const STACK_PAGES: usize = 16;
    /// Image pages the code table covers.
    const IMAGE_PAGES: usize = 256;
    /// MemoryControl flags: rights (bits 6..4) and "nearest node if exhausted".
    const RWX_NEAREST: u64 = (0b111 << 4) | 1;
    const RW_NEAREST: u64 = (0b110 << 4) | 1;
    /// Message labels between the workers, the pagers and the root.
    const DONE: u16 = 0x300;
    const UNMAP: u16 = 0x302;
    const UNMAPPED: u16 = 0x303;
    /// Notification words between pagers: kind in bits 63..32, node in 31..16, page.
    const ASK: u64 = 1 << 32;
    const ACK: u64 = 2 << 32;
    /// What a freed frame is filled with.
    const POISON: u64 = 0xDEAD_0BAD_DEAD_0BAD;

    /// The frame (root VA) of node k's copy of image page i; 0 = none yet.
    static CODE: [[AtomicU64; IMAGE_PAGES]; MAX_NODES] =
        [const { [const { AtomicU64::new(0) }; IMAGE_PAGES] }; MAX_NODES];
    /// Worker w's stack page i (from the top): its frame's root VA | its node.
    static STACK: [[AtomicU64; STACK_PAGES]; MAX_NODES] =
        [const { [const { AtomicU64::new(0) }; STACK_PAGES] }; MAX_NODES];
    /// The global table: one entry per global page, encoded in three words (kind,
    /// frame, node set), under one lock.
    static TABLE_LOCK: AtomicBool = AtomicBool::new(false);
    static TABLE: [[AtomicU64; 3]; GLOBAL_PAGES] = [const { [const { AtomicU64::new(0) }; 3] }; GLOBAL_PAGES];
    /// Faults on global page i served on node k.
    static GLOBAL_FAULTS: [[AtomicU64; GLOBAL_PAGES]; MAX_NODES] =
        [const { [const { AtomicU64::new(0) }; GLOBAL_PAGES] }; MAX_NODES];
    /// Next free scratch page of the root space.
    static NEXT_SCRATCH: AtomicU64 = AtomicU64::new(0);
    /// Faults the pagers could not serve.
    static ERRORS: AtomicU64 = AtomicU64::new(0);

    fn tag(label: u16, u: u8, t: u8) -> u64 {
        Tag::new(label, u, t).map_or(0, |t| t.raw())
    }

    fn label(mr0: u64) -> u16 {
        Tag::from_raw(mr0).map_or(0, |t| t.label())
    }

    fn read(va: u64) -> u64 {
        // SAFETY: the callers read memory this program has mapped (its UTCB, its stack,
        // the global region, frames in its scratch window); volatile: other threads
        // and the pagers change it.
        unsafe { core::ptr::read_volatile(va as *const u64) }
    }

    fn write(va: u64, value: u64) {
        // SAFETY: as in `read`, memory this program has mapped writable.
        unsafe { core::ptr::write_volatile(va as *mut u64, value) }
    }

    /// Runs `f` on global page `i`'s entry with the table locked.
    fn with_entry<R>(i: usize, f: impl FnOnce(&mut Entry<u64>) -> R) -> R {
        while TABLE_LOCK.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            core::hint::spin_loop();
        }
        let w = &TABLE[i];
        let (kind, frame, set) =
            (w[0].load(Ordering::Relaxed), w[1].load(Ordering::Relaxed), w[2].load(Ordering::Relaxed));
        let mut e = match kind {
            1 => Entry::Present { frame, mapped: NodeSet(set) },
            2 => Entry::Unmapping { frame, pending: NodeSet(set) },
            _ => Entry::Absent,
        };
        let r = f(&mut e);
        let (kind, frame, set) = match e {
            Entry::Absent => (0, 0, 0),
            Entry::Present { frame, mapped } => (1, frame, mapped.0),
            Entry::Unmapping { frame, pending } => (2, frame, pending.0),
        };
        w[0].store(kind, Ordering::Relaxed);
        w[1].store(frame, Ordering::Relaxed);
        w[2].store(set, Ordering::Relaxed);
        TABLE_LOCK.store(false, Ordering::Release);
        r
    }

    /// A fresh frame on `node` (or the nearest node with memory), mapped at a new
    /// scratch address of the root space with `flags`; that address.
    fn alloc_frame(node: usize, flags: u64) -> Option<u64> {
        let va = SCRATCH + NEXT_SCRATCH.fetch_add(1, Ordering::Relaxed) * 0x1000;
        sys::memory_control(node as u64, 0, va, flags).ok().map(|_| va)
    }

    fn copy_page(from: u64, to: u64) {
        for off in (0..0x1000).step_by(8) {
            write(to + off, read(from + off));
        }
    }

    fn item(page: u64, frame_va: u64, rights: Rights) -> Option<[u64; 2]> {
        let fpage = Fpage::new(frame_va, 12, rights).ok()?;
        TypedItem::Map { send_base: page, fpage }.encode().ok()
    }

    fn image() -> (u64, u64) {
        unsafe extern "C" {
            static __program_start: u8;
            static __program_end: u8;
        }
        (&raw const __program_start as u64, &raw const __program_end as u64)
    }

    /// Pager `node`'s answer to a fault at `addr`: the map item, or `None` (the
    /// thread retries).
    fn serve_fault(node: usize, addr: u64) -> Option<[u64; 2]> {
        let page = addr & !0xFFF;
        let (start, end) = image();
        if (start..end).contains(&page) {
            // Node-local code: this node's copy of the page, made at the first fault.
            let slot = CODE[node].get(((page - start) / 0x1000) as usize)?;
            let mut va = slot.load(Ordering::Acquire);
            if va == 0 {
                va = alloc_frame(node, RWX_NEAREST)?;
                copy_page(page, va);
                slot.store(va, Ordering::Release);
            }
            return item(page, va, Rights::RX);
        }
        if (STACKS..STACKS + MAX_NODES as u64 * STACK_SPAN).contains(&page) {
            // A worker's stack page: a frame on this node; a migrant's page made on
            // another node is copied here (its stack follows it).
            let (w, top) =
                ((page - STACKS) / STACK_SPAN, STACKS + ((page - STACKS) / STACK_SPAN + 1) * STACK_SPAN);
            let slot = STACK[w as usize].get(((top - page) / 0x1000 - 1) as usize)?;
            let old = slot.load(Ordering::Acquire);
            let (old_va, old_node) = (old & !0xFFF, old & 0xFFF);
            if old != 0 && old_node == node as u64 {
                return item(page, old_va, Rights::RW);
            }
            let va = alloc_frame(node, RW_NEAREST)?;
            if old != 0 {
                copy_page(old_va, va);
            }
            slot.store(va | node as u64, Ordering::Release);
            return item(page, va, Rights::RW);
        }
        if (GLOBAL..GLOBAL + GLOBAL_PAGES as u64 * 0x1000).contains(&page) {
            let i = ((page - GLOBAL) / 0x1000) as usize;
            return match with_entry(i, |e| e.fault(node, || alloc_frame(node, RW_NEAREST))) {
                Fault::Map(va) => {
                    GLOBAL_FAULTS[node][i].fetch_add(1, Ordering::Relaxed);
                    item(page, va, Rights::RW)
                }
                Fault::Retry => None,
            };
        }
        ERRORS.fetch_add(1, Ordering::Relaxed);
        println!("numademo: pager {node}: a fault at {addr:#x} outside every region");
        None
    }

    /// Revokes every mapping derived from the root's frame at `frame_va` (in every
    /// node's space; the kernel invalidates every CPU's TLB). Uses MR0 of `utcb`.
    fn revoke(utcb: u64, frame_va: u64) {
        write(
            utcb + abi::utcb::MR_OFFSET as u64,
            Fpage::new(frame_va, 12, Rights::RWX).map_or(0, |f| f.raw()),
        );
        let _ = sys::raw(Syscall::Unmap, [1, 0, 0, 0, 0, 0, 0, 0]);
    }

    fn notify(to: u64, word: u64) {
        let r = sys::raw(Syscall::Notify, [to, word, 0, 0, 0, 0, 0, 0]);
        if r[0] != 0 {
            ERRORS.fetch_add(1, Ordering::Relaxed);
            println!("numademo: Notify to {to:#x} refused: status {}", r[0]);
        }
    }

    fn pager_id(node: u64) -> u64 {
        ((PAGER_BASE + node) << 16) | 1
    }

    fn worker_id(w: u64) -> u64 {
        ((WORKER_BASE + w) << 16) | 1
    }

    /// A freed frame: poisoned, so a stale reader would see it.
    fn poison(frame_va: u64) {
        for off in (0..0x1000).step_by(8) {
            write(frame_va + off, POISON);
        }
    }

    /// A node's pager: the L4 pager loop (each answer in the `ReplyWait` that takes
    /// the next message); pager 0 also runs global unmaps.
    extern "C" fn pager_main(utcb: u64) -> ! {
        let me = read(utcb + abi::utcb::MY_GLOBAL_ID_OFFSET as u64);
        let node = ((me >> 16) - PAGER_BASE) as usize;
        let (mut reply_to, mut reply) = (0u64, [0u64; 5]);
        let mut waiter = 0u64; // (pager 0) who waits for the unmap to finish
        loop {
            let timeouts = Timeouts { send: Timeout::Zero, receive: Timeout::Never }.pack();
            let got = sys::ipc(reply_to, u64::MAX, timeouts, reply);
            reply_to = 0;
            let Ok(m) = got else { continue };
            let l = label(m.mr[0]);
            if l & !abi::fault::PAGE_FAULT_ACCESS_MASK == abi::fault::PAGE_FAULT_LABEL {
                // Answer with the map item, or with nothing (the thread faults again).
                reply = match serve_fault(node, m.mr[1]) {
                    Some([w0, w1]) => [tag(0, 0, 2), w0, w1, 0, 0],
                    None => [0; 5],
                };
                reply_to = m.from;
            } else if l == abi::fault::NOTIFY_LABEL {
                let (kind, from, page) =
                    (m.mr[1] & !0xFFFF_FFFF, (m.mr[1] >> 16) & 0xFFFF, (m.mr[1] & 0xFFFF) as usize);
                if kind == ASK && page < GLOBAL_PAGES {
                    // Take our node's mapping away (a fault we answered since the
                    // initiator's revoke may have mapped it again), then say so.
                    let frame = with_entry(page, |e| match *e {
                        Entry::Unmapping { frame, .. } => Some(frame),
                        _ => None,
                    });
                    if let Some(frame) = frame {
                        revoke(utcb, frame);
                    }
                    notify(pager_id(0), ACK | (node as u64) << 16 | page as u64);
                } else if kind == ACK
                    && page < GLOBAL_PAGES
                    && let Some(frame) = with_entry(page, |e| e.acknowledge(from as usize))
                {
                    // The last acknowledgement: the frame is free.
                    poison(frame);
                    (reply_to, reply) = (waiter, [tag(UNMAPPED, 0, 0), 0, 0, 0, 0]);
                }
            } else if l == UNMAP && node == 0 {
                let page = (m.mr[1] as usize).min(GLOBAL_PAGES - 1);
                match with_entry(page, |e| e.begin_unmap(node)) {
                    Some(u) => {
                        revoke(utcb, u.frame);
                        if u.free_now {
                            poison(u.frame);
                            (reply_to, reply) = (m.from, [tag(UNMAPPED, 0, 0), 0, 0, 0, 0]);
                        } else {
                            waiter = m.from;
                            for j in u.ask.iter() {
                                notify(pager_id(j as u64), ASK | page as u64);
                            }
                        }
                    }
                    None => (reply_to, reply) = (m.from, [tag(UNMAPPED, 0, 0), 0, 0, 0, 0]),
                }
            }
        }
    }

    /// A worker: marks every global page with its number, reads them back, reports;
    /// after the root's answer (the unmap is done by then, and worker 0 has moved to
    /// node 1) it reads global page 0 again and reports where it runs and whether it
    /// ever saw a freed frame's poison. Uses no statics (its space has none of ours).
    extern "C" fn worker_main(utcb: u64) -> ! {
        let me = read(utcb + abi::utcb::MY_GLOBAL_ID_OFFSET as u64);
        let w = (me >> 16) - WORKER_BASE;
        let here =
            || sys::introspect(abi::introspect::Request::CurrentCpu.encode()).map_or(u64::MAX, |x| x[1]);
        let mark = 0x5EED_0000 + w;
        for i in 0..GLOBAL_PAGES as u64 {
            write(GLOBAL + i * 0x1000 + 8 * w, mark);
        }
        let mine = (0..GLOBAL_PAGES as u64).all(|i| read(GLOBAL + i * 0x1000 + 8 * w) == mark);
        let root = ThreadId::ROOT.raw();
        let never = Timeouts::NEVER.pack();
        let _ = sys::ipc(root, root, never, [tag(DONE, 3, 0), w, here(), u64::from(mine), 0]);
        // Page 0 was unmapped and made again: our mark is gone, and poison never seen.
        let again = read(GLOBAL + 8 * w);
        let stale = u64::from(again == POISON);
        let _ = sys::ipc(root, root, never, [tag(DONE, 3, 0), w, here(), stale, again]);
        loop {
            let _ = sys::ipc(0, u64::MAX, never, [0; 5]);
        }
    }

    /// Starts thread `t` in space `space` on `cpu` at `entry` (stack top `sp`, UTCB
    /// `utcb`, pager `pager`, priority `prio`).
    #[allow(clippy::too_many_arguments)]
    fn start(
        t: u64,
        space: u64,
        cpu: usize,
        entry: extern "C" fn(u64) -> !,
        sp: u64,
        utcb: u64,
        pager: u64,
        prio: u64,
    ) -> bool {
        let root = ThreadId::ROOT.raw();
        if let Err(e) = sys::thread_control(t, space, root, pager, utcb, cpu as u64) {
            println!("numademo: ThreadControl {t:#x}: {e}");
            return false;
        }
        let _ = sys::raw(Syscall::Schedule, [t, prio, u64::MAX, 0, 0, 0, 0, 0]);
        let control = (ExregsControl::START | ExregsControl::SET_SP | ExregsControl::SET_IP).raw();
        sys::exchange_registers(t, control, sp, entry as *const () as u64, 0).is_ok()
    }

    /// The runtime's main thread: see the crate docs.
    pub fn numademo(_utcb: rt::UtcbAddr) -> ! {
        let kip = sys::kip();
        // The nodes with CPUs, each with its first CPU.
        let mut cpu_of = [usize::MAX; MAX_NODES];
        let mut nodes = 0;
        for n in 0..kip.node_count().min(MAX_NODES) {
            if let Some(c) = kip.cpus_of_node(n as u16).next() {
                cpu_of[nodes] = c;
                nodes += 1;
            }
        }
        let node_of_slot = |k: usize| kip.node_of_cpu(cpu_of[k]).unwrap_or(0) as usize;
        let root = ThreadId::ROOT.raw();
        let mut ok = true;
        for (k, &cpu) in cpu_of.iter().enumerate().take(nodes) {
            let node = node_of_slot(k);
            let stack = PAGER_STACKS + k as u64 * 0x10_0000;
            ok &= sys::memory_control(node as u64, 2, stack, RW_NEAREST).is_ok();
            ok &= start(
                pager_id(k as u64),
                root,
                cpu,
                pager_main,
                stack + 0x4000,
                PAGER_UTCBS + k as u64 * 0x1000,
                root,
                200,
            );
        }
        for (k, &cpu) in cpu_of.iter().enumerate().take(nodes) {
            let w = worker_id(k as u64);
            let top = STACKS + (k as u64 + 1) * STACK_SPAN;
            ok &=
                start(w, w, cpu, worker_main, top, WORKER_UTCBS + k as u64 * 0x1000, pager_id(k as u64), 100);
        }
        // Phase 1: every worker marks the global pages and waits for our answer.
        let mut seen = 0u64;
        let mut marks_ok = true;
        while seen.count_ones() < nodes as u32 {
            match sys::ipc(
                0,
                u64::MAX,
                Timeouts { send: Timeout::Never, receive: Timeout::Micros(10_000_000) }.pack(),
                [0; 5],
            ) {
                Ok(m) if label(m.mr[0]) == DONE && (m.mr[1] as usize) < nodes => {
                    seen |= 1 << m.mr[1];
                    marks_ok &= m.mr[3] == 1 && m.mr[2] == node_of_slot(m.mr[1] as usize) as u64;
                }
                Ok(m) => println!("numademo: unexpected message {:#x} from {:#x}", m.mr[0], m.from),
                Err(e) => {
                    println!("numademo: the workers did not all report: {e}");
                    ok = false;
                    break;
                }
            }
        }
        // Migration: worker 0 (blocked in its call to us) into node 1's space and CPU.
        let mut migrations = 0;
        if nodes >= 2 && ok {
            match sys::thread_control(worker_id(0), worker_id(1), 0, pager_id(1), 0, cpu_of[1] as u64) {
                Ok(()) => migrations += 1,
                Err(e) => {
                    println!("numademo: moving worker 0 to node 1 failed: {e}");
                    ok = false;
                }
            }
        }
        // Global unmap of page 0, run by pager 0.
        let before: u64 = (0..nodes).map(|k| GLOBAL_FAULTS[k][0].load(Ordering::Relaxed)).sum();
        let mut unmaps = 0;
        let never = Timeouts::NEVER.pack();
        match sys::ipc(pager_id(0), pager_id(0), never, [tag(UNMAP, 1, 0), 0, 0, 0, 0]) {
            Ok(m) if label(m.mr[0]) == UNMAPPED => unmaps += 1,
            other => {
                println!("numademo: the global unmap did not complete: {other:?}");
                ok = false;
            }
        }
        // Phase 2: answer the workers; each reads page 0 again.
        for k in 0..nodes {
            let _ = sys::ipc(worker_id(k as u64), 0, never, [0; 5]);
        }
        let (mut stale, mut where_ok, mut done) = (0u64, true, 0u64);
        while done.count_ones() < nodes as u32 {
            match sys::ipc(
                0,
                u64::MAX,
                Timeouts { send: Timeout::Never, receive: Timeout::Micros(10_000_000) }.pack(),
                [0; 5],
            ) {
                Ok(m) if label(m.mr[0]) == DONE && (m.mr[1] as usize) < nodes => {
                    let w = m.mr[1] as usize;
                    done |= 1 << w;
                    stale += m.mr[3];
                    let expect = if w == 0 && migrations == 1 { node_of_slot(1) } else { node_of_slot(w) };
                    where_ok &= m.mr[2] == expect as u64;
                }
                Ok(m) => println!("numademo: unexpected message {:#x} from {:#x}", m.mr[0], m.from),
                Err(e) => {
                    println!("numademo: the workers did not all report again: {e}");
                    ok = false;
                    break;
                }
            }
        }
        let after: u64 = (0..nodes).map(|k| GLOBAL_FAULTS[k][0].load(Ordering::Relaxed)).sum();
        // Code pages of each worker space: how many are mapped, and on the space's node.
        let (start_va, end_va) = image();
        let (mut code_total, mut code_local) = (0u64, 0u64);
        // (Worker 0's first space went with it: a space lives as long as its threads.)
        let spaces = (0..nodes).filter(|&k| !(k == 0 && migrations == 1));
        for k in spaces.clone() {
            let space = ThreadId::from_raw(worker_id(k as u64));
            for va in (start_va..end_va).step_by(0x1000) {
                let q = abi::introspect::Request::Translate { space, va }.encode();
                if let Some(t) = sys::introspect(q).ok().and_then(abi::introspect::Translation::from_regs) {
                    code_total += 1;
                    code_local += u64::from(t.node == node_of_slot(k) as u64);
                }
            }
        }
        // The migrant's stack is on node 1 now.
        let migrant_stack_local = migrations == 0 || {
            let space = ThreadId::from_raw(worker_id(0));
            let q = abi::introspect::Request::Translate { space, va: STACKS + STACK_SPAN - 0x1000 }.encode();
            sys::introspect(q)
                .ok()
                .and_then(abi::introspect::Translation::from_regs)
                .is_some_and(|t| t.node == node_of_slot(1) as u64)
        };
        let faults: u64 = (0..nodes)
            .flat_map(|k| (0..GLOBAL_PAGES).map(move |i| (k, i)))
            .map(|(k, i)| GLOBAL_FAULTS[k][i].load(Ordering::Relaxed))
            .sum();
        let max_faults = (GLOBAL_PAGES as u64 + unmaps) * nodes as u64;
        let refaulted_everywhere = unmaps == 0 || after - before == nodes as u64 - migrations;
        for k in spaces {
            let q = abi::introspect::Request::KmemReport { space: ThreadId::from_raw(worker_id(k as u64)) }
                .encode();
            let _ = sys::introspect(q);
        }
        let errors = ERRORS.load(Ordering::Relaxed);
        let spaces_made = nodes; // one per node (worker 0's left with it when it moved)
        let pass = ok
            && marks_ok
            && where_ok
            && migrant_stack_local
            && refaulted_everywhere
            && stale == 0
            && errors == 0
            && code_total > 0
            && code_local == code_total
            && faults <= max_faults
            && (nodes < 2 || migrations == 1)
            && unmaps == 1;
        println!(
            "report: numa-demo nodes={nodes} spaces={spaces_made} pagers={nodes} code-local={code_local}/{code_total} global-faults={faults} max-faults={max_faults} migrations={migrations} unmaps={unmaps} stale={stale} result={}",
            if pass { "pass" } else { "fail" }
        );
        if !pass {
            println!(
                "numademo: ok={ok} marks={marks_ok} where={where_ok} migrant-stack-local={migrant_stack_local} refaulted={refaulted_everywhere} ({before} -> {after}) errors={errors}"
            );
        }
        let e = sys::power_off(u64::from(!pass));
        println!("numademo: SystemControl refused: {e}");
        loop {
            core::hint::spin_loop();
        }
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
use demo::numademo;

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn numademo(_utcb: rt::UtcbAddr) -> ! {
    unreachable!("the host build only type-checks the entry")
}
