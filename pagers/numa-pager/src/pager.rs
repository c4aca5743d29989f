// SPDX-License-Identifier: MIT OR Apache-2.0
//! A node's pager: serves the page faults of its node's threads.
//!
//! It runs in a space of its own whose home is its node, from its node's copy of this
//! program (the server made that copy when the pager first faulted on each page). Its
//! loop is the classic L4 pager's: receive a fault, answer it with a page, receive the
//! next in the same system call. Which page:
//!
//! | the fault is on | the pager |
//! |---|---|
//! | the program's code or read-only data | copies the file's bytes into a frame of its node |
//! | a declared node-local region | takes a zeroed frame of its node |
//! | anything else (data, bss, heap, stacks, global regions) | asks the server ([`proto::PAGE`]), which maps its frame into the staging page |
//!
//! and *grants* the staging page to the faulting thread at the faulting address: the
//! program's space owns its node-local pages from then on, and its global ones derive
//! from the server's frame, so one free at the server takes them away everywhere.
//! A fault the server refuses (outside the program, a stack overflow, no memory) is not
//! answered: the pager tells the server ([`proto::CRASH`]), which ends the program. A
//! thread that calls `rt::exit` (a panic does) sends its pager the exit message: the
//! pager passes it to the server.

use crate::common::{
    Local, Program, RWX_NEAREST, file, item, label, read, set_receive_window, tag, unmap_own, write_bytes,
};
use abi::Error;
use abi::fault::{PAGE_FAULT_ACCESS_MASK, PAGE_FAULT_LABEL};
use abi::fpage::{Fpage, Rights};
use abi::timeout::{Timeout, Timeouts};
use numa::layout::{APP_ELF, STAGING};
use numa::proto;
use numa::region::PAGE;
use rt::sys;

/// A pager's start: the server starts each pager thread here (SP: its stack).
pub extern "C" fn run(utcb: u64) -> ! {
    let server = read(utcb + abi::utcb::PAGER_OFFSET as u64);
    let never = Timeouts::NEVER.pack();
    let hello = sys::ipc(server, server, never, [tag(proto::PAGER_HELLO, 0, 0), 0, 0, 0, 0]);
    let Ok(hello) = hello else { park() };
    let (slot, memory) = (hello.mr[1], hello.mr[3]);
    let (elf_len, elf_offset, flags) =
        (hello.mr[4] & 0xFFFF_FFFF, (hello.mr[4] >> 32) & 0xFFF, hello.mr[4] >> 48);
    let replicate = flags & proto::FLAG_NO_REPLICATION == 0;
    let elf = file(APP_ELF, elf_offset, elf_len);
    let Ok(program) = Program::parse(elf) else {
        // The server checked the program before it started any pager: unreachable, but
        // a pager that cannot read it says so and serves nothing.
        let _ = sys::ipc(server, 0, never, [tag(proto::CRASH, 4, 0), 0, 0, 0, u64::MAX]);
        park()
    };
    if let Ok(staging) = Fpage::new(STAGING, 12, Rights::RWX) {
        set_receive_window(utcb, staging);
    }
    let mut pager = Pager { utcb, server, slot, memory, elf, program, replicate };
    let (mut reply_to, mut reply) = (0u64, [0u64; 5]);
    loop {
        let timeouts = Timeouts { send: Timeout::Zero, receive: Timeout::Never }.pack();
        let got = sys::ipc(reply_to, u64::MAX, timeouts, reply);
        (reply_to, reply) = (0, [0; 5]);
        let Ok(m) = got else { continue };
        let l = label(m.mr[0]);
        if l & !PAGE_FAULT_ACCESS_MASK == PAGE_FAULT_LABEL {
            if let Some(answer) = pager.fault(m.from, m.mr[1], m.mr[2]) {
                (reply_to, reply) = (m.from, answer);
            }
        } else if l == rt::EXIT_LABEL {
            // A thread of ours ended the rt way (a panic does): the server ends it.
            let msg = [tag(proto::EXIT, 2, 0), m.mr[1], m.from, 0, 0];
            let _ =
                sys::ipc(server, 0, Timeouts { send: Timeout::Never, receive: Timeout::Zero }.pack(), msg);
        }
    }
}

/// A pager's state: who it is and what it pages.
struct Pager {
    utcb: u64,
    server: u64,
    slot: u64,
    /// The node whose memory this pager's node uses.
    memory: u64,
    elf: &'static [u8],
    program: Program,
    replicate: bool,
}

impl Pager {
    /// The answer to `thread`'s fault at `address` (instruction `ip`), or `None` (not
    /// served: the server was told).
    fn fault(&mut self, thread: u64, address: u64, ip: u64) -> Option<[u64; 5]> {
        let page = address & !(PAGE - 1);
        let (rights, made) = match self.program.local(page, self.replicate) {
            Local::Copy { rights } => (rights, self.make(page, true)),
            Local::Zero => (Rights::RW, self.make(page, false)),
            Local::Server => return self.ask(thread, address, ip),
        };
        match made {
            Ok(()) => {
                let [w0, w1] = item(STAGING, page, rights, true);
                Some([tag(0, 0, 2), w0, w1, 0, 0])
            }
            Err(e) => {
                self.crash(thread, address, ip, proto::Fail::NoMemory as u64);
                rt::println!("numa-pager {}: no frame for {address:#x}: {e}", self.slot);
                None
            }
        }
    }

    /// A frame of this node at the staging page: the file's bytes of `page` (`copy`) or
    /// zeros.
    fn make(&self, page: u64, copy: bool) -> Result<(), Error> {
        let mut taken = sys::memory_control(self.memory, 0, STAGING, RWX_NEAREST);
        if taken == Err(Error::InvalidArgument) {
            // Staging still holds a page whose grant did not happen (its thread went
            // away): give it back first.
            unmap_own(self.utcb, STAGING);
            taken = sys::memory_control(self.memory, 0, STAGING, RWX_NEAREST);
        }
        taken?;
        if copy
            && let Some(s) =
                self.program.segments().iter().find(|s| page + PAGE > s.vaddr && page < s.vaddr + s.memsz)
        {
            let (from, to) = (page.max(s.vaddr), (page + PAGE).min(s.vaddr + s.filesz));
            if from < to {
                let start = (s.offset + (from - s.vaddr)) as usize;
                if let Some(bytes) = self.elf.get(start..start + (to - from) as usize) {
                    write_bytes(STAGING + (from - page), bytes);
                }
            }
        }
        Ok(())
    }

    /// Asks the server for `address`'s page (it maps it at staging) and grants it on.
    fn ask(&mut self, thread: u64, address: u64, ip: u64) -> Option<[u64; 5]> {
        let never = Timeouts::NEVER.pack();
        let got = sys::ipc(self.server, self.server, never, [tag(proto::PAGE, 2, 0), address, thread, 0, 0]);
        match got {
            Ok(m) if label(m.mr[0]) == proto::PAGE => {
                let rights = Rights::from_bits(m.mr[1] as u8).unwrap_or(Rights::R);
                let [w0, w1] = item(STAGING, address & !(PAGE - 1), rights, true);
                Some([tag(0, 0, 2), w0, w1, 0, 0])
            }
            Ok(m) => {
                self.crash(thread, address, ip, m.mr[1]);
                None
            }
            Err(e) => {
                rt::println!("numa-pager {}: the server did not answer: {e}", self.slot);
                None
            }
        }
    }

    /// Tells the server that `thread`'s fault at `address` cannot be served.
    fn crash(&self, thread: u64, address: u64, ip: u64, why: u64) {
        let send = Timeouts { send: Timeout::Never, receive: Timeout::Zero }.pack();
        let _ = sys::ipc(self.server, 0, send, [tag(proto::CRASH, 4, 0), thread, address, ip, why]);
    }
}

/// Waits for ever (a pager the server will delete).
fn park() -> ! {
    loop {
        let _ = sys::ipc(0, u64::MAX, Timeouts::NEVER.pack(), [0; 5]);
    }
}
