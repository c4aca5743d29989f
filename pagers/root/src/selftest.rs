// SPDX-License-Identifier: MIT OR Apache-2.0
//! The root task's own checks of the L4 core, run before any program starts.
//!
//! They prove the kernel end to end at user level, the way an L4 system is built, so
//! that a failure is found here, named, rather than as a mysterious program crash later:
//!
//! 1. read the kernel interface page (the NUMA topology) and print what it says;
//! 2. take one frame on every node with `MemoryControl` and check, through
//!    `Introspect`, that the frame really is on that node;
//! 3. create a worker thread in a **new address space** on a CPU of the last node (so the
//!    space's home is that node), with the root as the worker's pager, and start it; the
//!    worker's space is empty, so its very first instruction fetch faults, and every
//!    fault arrives here as an IPC: code pages are mapped from this program's own pages,
//!    stack pages are fresh frames from the worker's node;
//! 4. the worker calls the root `ROUNDS` times (IPC ping-pong across nodes), then says
//!    done (`report: ipc-pingpong`);
//! 5. ask the kernel where the worker space's metadata lives (`report: kmem`), then halt
//!    the worker.
//!
//! The worker runs this very program's code in its own space, so it must not touch
//! `static`s (its data pages are not this program's); it uses its stack only.

use abi::fpage::{Fpage, Rights};
use abi::message::{Tag, TypedItem};
use abi::timeout::Timeouts;
use rt::println;
use rt::sys;

/// Label of the worker's ping (MR1: a number; the reply's MR1 is the number + 1).
const PING: u16 = 0x100;
/// Label of the worker's last message.
const DONE: u16 = 0x101;
/// Ping-pong rounds.
const ROUNDS: u64 = 100;
/// The worker's thread number and its UTCB, stack top in its own space.
const WORKER: u64 = 0x40;
const WORKER_UTCB: u64 = 0x20_0000;
const WORKER_STACK_TOP: u64 = 0x38_0000;
/// Where this program maps frames for itself (scratch for the worker's stack pages).
const SCRATCH: u64 = 0x20_0000_0000;

unsafe extern "C" {
    static __program_start: u8;
    static __program_end: u8;
}

fn id(number: u64) -> u64 {
    (number << 16) | 1
}

fn tag(label: u16, u: u8, t: u8) -> u64 {
    Tag::new(label, u, t).map_or(0, |t| t.raw())
}

/// Runs the checks (see the module docs); returns how many failed.
pub fn run() -> u64 {
    let mut failed = 0u64;
    println!("root: hello from user level");
    let kip = sys::kip();
    match kip.validate() {
        Ok(()) => println!(
            "{}",
            report::line!("kip", "cpus" => kip.cpu_count(), "nodes" => kip.node_count(), "valid" => "yes")
        ),
        Err(e) => {
            println!("root: the KIP is not valid: {e}");
            failed += 1;
        }
    }
    // 2. A frame on every node, checked through the kernel's translation.
    let nodes = kip.node_count() as u64;
    let mut ok_nodes = 0;
    for node in 0..nodes {
        let va = SCRATCH + (0x10_0000 * (node + 1));
        let flags = 0b110 << 4; // RW, this node only
        match sys::memory_control(node, 0, va, flags) {
            Ok((pa, got)) => {
                // SAFETY: just mapped read-write for us by MemoryControl.
                unsafe { core::ptr::write_volatile(va as *mut u64, 0x5eed + node) };
                let t = sys::introspect([1, 0, va, 0]);
                let here = t.map(|r| r[0] == pa && r[1] == node).unwrap_or(false);
                if got == node && here {
                    ok_nodes += 1;
                } else {
                    println!("root: node {node}: frame {pa:#x} reported on node {got}, translation {t:?}");
                }
            }
            // A node without memory has nothing to give: not a failure.
            Err(abi::Error::OutOfMemory) => ok_nodes += 1,
            Err(e) => println!("root: MemoryControl on node {node}: {e}"),
        }
    }
    println!("{}", report::line!("memctl", "nodes" => nodes, "ok" => ok_nodes));
    if ok_nodes != nodes {
        failed += 1;
    }
    // 3. The worker: a new space on the last CPU that runs (the KIP lists every CPU
    //    of the board; the kernel refuses one that did not come up: try the next).
    let me = id(abi::thread::ROOT_THREAD_NUMBER);
    let worker = id(WORKER);
    let mut placed = None;
    for cpu in (0..kip.cpu_count()).rev() {
        match sys::thread_control(worker, worker, me, me, WORKER_UTCB, cpu as u64) {
            Ok(()) => {
                placed = Some(cpu);
                break;
            }
            Err(abi::Error::InvalidCpu) => continue,
            Err(e) => {
                println!("root: ThreadControl: {e}");
                return failed + 1;
            }
        }
    }
    let Some(cpu) = placed else {
        println!("root: no CPU accepted the worker");
        return failed + 1;
    };
    let worker_node = kip.node_of_cpu(cpu).unwrap_or(0) as u64;
    let start = abi::syscall::ExregsControl::START.raw()
        | abi::syscall::ExregsControl::SET_SP.raw()
        | abi::syscall::ExregsControl::SET_IP.raw();
    if let Err(e) =
        sys::exchange_registers(worker, start, WORKER_STACK_TOP, worker_main as *const () as u64, 0)
    {
        println!("root: ExchangeRegisters: {e}");
        return failed + 1;
    }
    println!("{}", report::line!("worker", "cpu" => cpu, "node" => worker_node));
    // 4. Serve: page faults and pings, until the worker is done.
    let (mut faults, mut pings, mut stack_pages) = (0u64, 0u64, 0u64);
    let mut reply_to = 0u64;
    let mut reply = [0u64; 5];
    loop {
        let got = sys::ipc(reply_to, u64::MAX, Timeouts::NEVER.pack(), reply);
        let msg = match got {
            Ok(m) => m,
            Err(e) => {
                println!("root: ipc: {e}");
                failed += 1;
                break;
            }
        };
        let label = Tag::from_raw(msg.mr[0]).map(|t| t.label()).unwrap_or(0);
        reply_to = msg.from;
        if label & !abi::fault::PAGE_FAULT_ACCESS_MASK == abi::fault::PAGE_FAULT_LABEL {
            faults += 1;
            let (addr, ip) = (msg.mr[1], msg.mr[2]);
            let page = addr & !0xFFF;
            let image = (&raw const __program_start as u64)..(&raw const __program_end as u64);
            let fpage = if image.contains(&page) {
                // Code and read-only data: share this program's own page.
                Fpage::new(page, 12, Rights::RX)
            } else if (WORKER_STACK_TOP - 0x8_0000..WORKER_STACK_TOP).contains(&page) {
                // Stack: a fresh frame from the worker's node.
                let scratch = SCRATCH + 0x1000_0000 + stack_pages * 0x1000;
                stack_pages += 1;
                match sys::memory_control(
                    worker_node,
                    0,
                    scratch,
                    abi::memory_control::MemoryControlFlags::RW_NEAREST.raw(),
                ) {
                    Ok(_) => Fpage::new(scratch, 12, Rights::RW),
                    Err(e) => {
                        println!("root: no stack page for the worker: {e}");
                        failed += 1;
                        break;
                    }
                }
            } else {
                println!("root: worker faulted at {addr:#x} (ip {ip:#x}, access {label:#x}): not served");
                failed += 1;
                break;
            };
            let item = fpage.ok().map(|f| TypedItem::Map { send_base: page, fpage: f }.encode());
            match item {
                Some(Ok([w0, w1])) => reply = [tag(0, 0, 2), w0, w1, 0, 0],
                _ => {
                    failed += 1;
                    break;
                }
            }
        } else if label == PING {
            pings += 1;
            reply = [tag(PING, 1, 0), msg.mr[1] + 1, 0, 0, 0];
        } else if label == DONE {
            let worker_ok = msg.mr[1];
            println!(
                "{}",
                report::line!("ipc-pingpong", "rounds" => pings, "worker-checks-ok" => worker_ok, "faults" => faults)
            );
            if pings != ROUNDS || worker_ok != ROUNDS {
                failed += 1;
            }
            break;
        } else {
            println!("root: unexpected message, label {label:#x} from {:#x}", msg.from);
            failed += 1;
            break;
        }
    }
    // 5. Where the worker space's kernel metadata lives.
    // A home node with memory holds all of it; a memory-less home none of it.
    let home_has_memory = kip.memory().any(|m| u64::from(m.node) == worker_node && m.size > 0);
    match sys::introspect([0, worker, 0, 0]) {
        Ok(r) => {
            let placed_right = if home_has_memory { r[2] == 0 } else { r[1] == 0 };
            if r[0] != worker_node || !placed_right {
                println!(
                    "root: worker space: home {} (want {worker_node}), {} frames on it, {} elsewhere",
                    r[0], r[1], r[2]
                );
                failed += 1;
            }
        }
        Err(e) => {
            println!("root: Introspect: {e}");
            failed += 1;
        }
    }
    // The worker waits for an answer to its last message that never comes: halt it
    // for good, so it cannot be confused with the programs that run next.
    let _ = sys::exchange_registers(worker, abi::syscall::ExregsControl::HALT.raw(), 0, 0, 0);
    failed
}

/// The worker: runs in its own space on another node; stack only, no statics.
extern "C" fn worker_main(_utcb: u64) -> ! {
    let root = id(abi::thread::ROOT_THREAD_NUMBER);
    let mut ok = 0;
    for i in 0..ROUNDS {
        let r = sys::ipc(root, root, Timeouts::NEVER.pack(), [tag(PING, 1, 0), i, 0, 0, 0]);
        if matches!(r, Ok(m) if m.mr[1] == i + 1) {
            ok += 1;
        }
    }
    let _ = sys::ipc(root, root, Timeouts::NEVER.pack(), [tag(DONE, 1, 0), ok, 0, 0, 0]);
    loop {
        core::hint::spin_loop();
    }
}
