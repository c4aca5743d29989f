// SPDX-License-Identifier: MIT OR Apache-2.0
//! `smpbench`: every CPU at once runs a CPU-local IPC ping-pong, inside a window the
//! memory plugin measures; run as the root task by `scripts/bench`.
//!
//! # Why
//! Issue 15 asks that no kernel data be moved between CPUs by IPC that stays on one
//! CPU: with one kernel lock shared by all CPUs, every call on every CPU pulled that
//! lock's line across the machine. This program makes the traffic to measure: on each
//! CPU a client and a server (in a space of their own, created on that CPU, so homed
//! on its node: their TCBs live there) call and answer `ROUNDS` times, all CPUs at
//! the same time. `scripts/bench` runs it under the memory plugin (`tests/memplugin`),
//! which counts the cache-line transfers between vCPUs inside the window this program
//! opens and closes (`hint #126` / `hint #127`, NOPs on any CPU), and divides by the
//! IPC system calls this program reports:
//!
//! ```text
//! report: smpbench cpus=N rounds=R calls=C failed=F
//! ```
//!
//! `calls` counts every `Ipc` system call of the ping-pong (a Call and a ReplyWait per
//! round, per CPU).
//!
//! # Setup
//! The root task (this program, on CPU 0, priority 200, blocked in a receive whenever
//! the pairs run) is every thread's pager: code pages are its own mapped read-execute,
//! stack pages fresh frames. Each client first runs `WARMUP` rounds (its and its
//! server's code and stack pages fault in then, served by the root across CPUs), then
//! tells the root it is ready. Once all are, the root opens the window and answers
//! each (the only cross-CPU IPC inside the window besides the end: `2 x CPUs`
//! general-path operations against `2 x ROUNDS x CPUs` calls), each client runs its
//! `ROUNDS` and reports to the root, and the root closes the window when the last has.
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

rt::entry!(smpbench);

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod user {
    use abi::fpage::{Fpage, Rights};
    use abi::message::{Tag, TypedItem};
    use abi::syscall::ExregsControl;
    use abi::timeout::Timeouts;
    use core::arch::asm;
    use rt::println;
    use rt::sys;

    /// Unmeasured rounds per CPU, before the window (faults in the pages).
    const WARMUP: u64 = 200;
    /// Measured rounds per CPU.
    pub const ROUNDS: u64 = 20_000;
    /// Thread numbers: CPU `c`'s server is `FIRST + 2c`, its client the next.
    const FIRST: u64 = 0x40;
    /// UTCBs and stack tops in each pair's space.
    const SERVER_UTCB: u64 = 0x20_0000;
    const CLIENT_UTCB: u64 = 0x20_1000;
    const SERVER_STACK: u64 = 0x38_0000;
    const CLIENT_STACK: u64 = 0x34_0000;
    const STACK_SIZE: u64 = 0x4_0000;
    /// Where the root maps fresh frames before handing them on as stack pages.
    const SCRATCH: u64 = 0x20_1000_0000;
    /// `MemoryControl` flags: read-write, nearest node if the asked one is exhausted.
    const RW_NEAREST: u64 = abi::memory_control::MemoryControlFlags::RW_NEAREST.raw();

    /// Message labels.
    const CALL: u16 = 0x300;
    const REPLY: u16 = 0x301;
    const READY: u16 = 0x302;
    const GO: u16 = 0x303;
    const DONE: u16 = 0x304;

    // The program's bounds, from `linker/user.ld`: only their addresses are taken.
    unsafe extern "C" {
        static __program_start: u8;
        static __program_end: u8;
    }

    fn id(number: u64) -> u64 {
        (number << 16) | 1
    }

    fn tag(label: u16, u: u8) -> u64 {
        Tag::new(label, u, 0).map_or(0, |t| t.raw())
    }

    fn label_of(mr0: u64) -> u16 {
        Tag::from_raw(mr0).map(|t| t.label()).unwrap_or(0)
    }

    /// Opens the memory plugin's measured window (a NOP to the CPU).
    fn open_window() {
        // SAFETY: `hint #126` is an unallocated hint: it executes as a NOP.
        unsafe { asm!("hint #126", options(nomem, nostack, preserves_flags)) };
    }

    /// Closes it.
    fn close_window() {
        // SAFETY: `hint #127` is an unallocated hint: it executes as a NOP.
        unsafe { asm!("hint #127", options(nomem, nostack, preserves_flags)) };
    }

    fn finish(status: u64) -> ! {
        let e = sys::power_off(status);
        println!("smpbench: SystemControl refused: {e}");
        loop {
            core::hint::spin_loop();
        }
    }

    pub fn smpbench(_utcb: rt::UtcbAddr) -> ! {
        let cpus = u64::from(sys::kip().cpus).max(1);
        let me = id(abi::thread::ROOT_THREAD_NUMBER);
        println!("smpbench: {cpus} CPUs, a client and a server on each, {ROUNDS} rounds each");
        let start = ExregsControl::START | ExregsControl::SET_SP | ExregsControl::SET_IP;
        let (server_ip, client_ip): (extern "C" fn(u64) -> !, extern "C" fn(u64) -> !) =
            (server_main, client_main);
        for cpu in 0..cpus {
            let (server, client) = (id(FIRST + 2 * cpu), id(FIRST + 2 * cpu + 1));
            // The server in a new space, made on `cpu`: homed on its node.
            let made = sys::thread_control(server, server, me, me, SERVER_UTCB, cpu)
                .and_then(|_| sys::thread_control(client, server, me, me, CLIENT_UTCB, cpu))
                .and_then(|_| {
                    sys::exchange_registers(server, start.raw(), SERVER_STACK, server_ip as usize as u64, 0)
                })
                .and_then(|_| {
                    sys::exchange_registers(client, start.raw(), CLIENT_STACK, client_ip as usize as u64, 0)
                });
            if let Err(e) = made {
                println!("smpbench: the pair on CPU {cpu}: {e}");
                finish(1);
            }
        }
        let image = (&raw const __program_start as u64)..(&raw const __program_end as u64);
        let stacks = [SERVER_STACK - STACK_SIZE..SERVER_STACK, CLIENT_STACK - STACK_SIZE..CLIENT_STACK];
        let (mut scratch, mut ready, mut done, mut failed) = (0u64, 0u64, 0u64, 0u64);
        let mut waiting = [0u64; 64];
        let mut reply: Option<(u64, [u64; 5])> = None;
        loop {
            let (to, msg) = reply.take().unwrap_or((0, [0; 5]));
            let got = match sys::ipc(to, u64::MAX, Timeouts::NEVER.pack(), msg) {
                Ok(got) => got,
                Err(e) => {
                    println!("smpbench: the root's receive failed: {e}");
                    finish(1)
                }
            };
            let label = label_of(got.mr[0]);
            if label & !abi::fault::PAGE_FAULT_ACCESS_MASK == abi::fault::PAGE_FAULT_LABEL {
                let page = got.mr[1] & !(abi::PAGE_SIZE - 1);
                let fpage = if image.contains(&page) {
                    Fpage::new(page, 12, Rights::RX)
                } else if stacks.iter().any(|s| s.contains(&page)) {
                    let frame = SCRATCH + scratch * abi::PAGE_SIZE;
                    scratch += 1;
                    if let Err(e) = sys::memory_control(0, 0, frame, RW_NEAREST) {
                        println!("smpbench: no stack page: {e}");
                        finish(1);
                    }
                    Fpage::new(frame, 12, Rights::RW)
                } else {
                    println!("smpbench: thread {:#x} faulted at {:#x}: not served", got.from, got.mr[1]);
                    finish(1)
                };
                match fpage.ok().map(|f| TypedItem::Map { send_base: page, fpage: f }.encode()) {
                    Some(Ok([w0, w1])) => {
                        reply = Some((got.from, [Tag::new(0, 0, 2).map_or(0, |t| t.raw()), w0, w1, 0, 0]))
                    }
                    _ => {
                        println!("smpbench: cannot build the map item for {page:#x}");
                        finish(1)
                    }
                }
                continue;
            }
            match label {
                READY => {
                    if let Some(slot) = waiting.get_mut(ready as usize) {
                        *slot = got.from;
                    }
                    ready += 1;
                    if ready == cpus {
                        open_window();
                        for &client in waiting.iter().take(cpus as usize) {
                            // Send only (no receive phase): each waits in its Call.
                            let _ = sys::ipc(client, 0, Timeouts::NEVER.pack(), [tag(GO, 0), 0, 0, 0, 0]);
                        }
                    }
                }
                DONE => {
                    failed += got.mr[1];
                    done += 1;
                    if done == cpus {
                        close_window();
                        break;
                    }
                }
                _ => {
                    println!("smpbench: unexpected message, label {label:#x} from {:#x}", got.from);
                    finish(1)
                }
            }
        }
        println!(
            "{}",
            report::line!("smpbench", "cpus" => cpus, "rounds" => ROUNDS, "calls" => 2 * ROUNDS * cpus, "failed" => failed)
        );
        finish(u64::from(failed != 0))
    }

    /// A server: answers every call with its MR1 plus one. Stack only.
    extern "C" fn server_main(_utcb: u64) -> ! {
        let mut got = sys::ipc(0, u64::MAX, Timeouts::NEVER.pack(), [0; 5]);
        loop {
            let (to, n) = got.as_ref().map_or((0, 0), |m| (m.from, m.mr[1]));
            got = sys::ipc(to, u64::MAX, Timeouts::NEVER.pack(), [tag(REPLY, 1), n + 1, 0, 0, 0]);
        }
    }

    /// Calls its server `rounds` times, checking every answer; the number of wrong ones.
    fn rounds(server: u64, rounds: u64) -> u64 {
        let mut wrong = 0;
        for i in 0..rounds {
            match sys::ipc(server, server, Timeouts::NEVER.pack(), [tag(CALL, 1), i, 0, 0, 0]) {
                Ok(r) if label_of(r.mr[0]) == REPLY && r.mr[1] == i + 1 => {}
                _ => wrong += 1,
            }
        }
        wrong
    }

    /// A client: warms up, waits for the root's go, runs the rounds, reports. Its
    /// server is the thread numbered one below it. Stack only.
    extern "C" fn client_main(utcb: u64) -> ! {
        let root = id(abi::thread::ROOT_THREAD_NUMBER);
        // SAFETY: the UTCB is this thread's, mapped for it by the kernel; the word is
        // its own global id.
        let my_id =
            unsafe { core::ptr::read_volatile((utcb + abi::utcb::MY_GLOBAL_ID_OFFSET as u64) as *const u64) };
        let server = id((my_id >> 16) - 1);
        let mut wrong = rounds(server, WARMUP);
        let go = sys::ipc(root, root, Timeouts::NEVER.pack(), [tag(READY, 0), 0, 0, 0, 0]);
        if go.map(|m| label_of(m.mr[0])) != Ok(GO) {
            wrong += 1;
        }
        wrong += rounds(server, ROUNDS);
        let _ = sys::ipc(root, root, Timeouts::NEVER.pack(), [tag(DONE, 1), wrong, 0, 0, 0]);
        loop {
            let _ = sys::ipc(0, 0, Timeouts::NEVER.pack(), [0; 5]);
        }
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
use user::smpbench;

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn smpbench(_utcb: rt::UtcbAddr) -> ! {
    unreachable!("the host build only type-checks the entry")
}
