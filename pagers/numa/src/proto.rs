// SPDX-License-Identifier: MIT OR Apache-2.0
//! The NUMA runtime's messages: between the root task and a program's memory server,
//! the server and its per-node pagers, and the program's threads and the server.
//!
//! ```text
//!   root task ──starts──> memory server (numa-pager, on the first node) ──> pager space P_n (home n)
//!                           │  owns the program's global and stack frames      │  pages A_n
//!                           └──creates──> program space A_n (home n) <──grants──┘
//! ```
//!
//! Every message is an ordinary IPC (`abi::message::Tag` label, MR1.. words). The
//! labels live in `0x5000..0x5100`, clear of the kernel's (`0xFFxx`), the root task's
//! (`rt::EXIT_LABEL`, the shutdown protocol) and the programs' own. Each call below is
//! answered with the same label (or [`REFUSED`] with an error in MR1) unless it says
//! otherwise.
//!
//! | label | from -> to | MR1.. | answer |
//! |---|---|---|---|
//! | [`HELLO`] | server -> root | - | app ELF length, its offset in the page, pager ELF length, offset |
//! | [`CONFIG`] | server -> root | - | first thread number, how many, group, flags |
//! | [`NAME`] | server -> root | chunk | the program's name, 24 bytes a chunk (`rt::words`), length |
//! | [`ARGS`] | server -> root, program -> server | offset | its arguments from `offset`, 24 bytes, length |
//! | [`PAGER_HELLO`] | pager -> server | - | node slot, node, memory node, ELF length \| offset << 32 |
//! | [`PAGE`] | pager -> server | address, slot | a map item into the pager's staging page |
//! | [`CRASH`] | pager -> server | thread, address, ip, reason | (no answer) |
//! | [`SPAWN`] | program -> server | function, argument, place | thread slot |
//! | [`JOIN`] | program -> server | thread slot | its result, once it has ended |
//! | [`MIGRATE`] | program -> server | node | the CPU it runs on now |
//! | [`UNMAP`] | program -> server | address, pages | pages unmapped |
//! | [`SAMPLE`] | program -> server | address, pages | pages revoked for sampling |
//! | [`PLACE`] | program -> server | address, pages | pages moved to their users |
//! | [`BARRIER`] | program -> server | id, count | once `count` threads have arrived |
//! | [`NOTE`] | program -> server | what, value | - (for the program's report) |
//! | [`EXIT`] | program -> server | result | (no answer: the thread is deleted) |
#![forbid(unsafe_code)]

/// Server -> root: the ELF files.
pub const HELLO: u16 = 0x5000;
/// Server -> root: threads, group, flags.
pub const CONFIG: u16 = 0x5001;
/// Server -> root: the program's name.
pub const NAME: u16 = 0x5002;
/// Server -> root and program -> server: the program's arguments.
pub const ARGS: u16 = 0x5003;
/// Pager -> server: who am I.
pub const PAGER_HELLO: u16 = 0x5010;
/// Pager -> server: a global or stack page for a thread of my node.
pub const PAGE: u16 = 0x5011;
/// Pager -> server: a thread of my node faulted where nothing can be served.
pub const CRASH: u16 = 0x5012;
/// Program -> server: start a thread.
pub const SPAWN: u16 = 0x5020;
/// Program -> server: wait for a thread to end.
pub const JOIN: u16 = 0x5021;
/// Program -> server: move me to a node.
pub const MIGRATE: u16 = 0x5022;
/// Program -> server: unmap global pages.
pub const UNMAP: u16 = 0x5023;
/// Program -> server: revoke global pages for sampling.
pub const SAMPLE: u16 = 0x5024;
/// Program -> server: move sampled pages to the nodes that use them.
pub const PLACE: u16 = 0x5025;
/// Program -> server: wait until `count` threads are here.
pub const BARRIER: u16 = 0x5026;
/// Program -> server: a number for the program's report.
pub const NOTE: u16 = 0x5027;
/// Program -> server: this thread is done.
pub const EXIT: u16 = 0x5028;
/// Any answer that refuses: MR1 an error code ([`Fail`]).
pub const REFUSED: u16 = 0x50FF;

/// Why the server refused a request (MR1 of [`REFUSED`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Fail {
    /// A label the server does not take from this sender.
    Unknown = 1,
    /// A node the program does not run on.
    BadNode = 2,
    /// No free thread slot, or the kernel refused the thread.
    NoThread = 3,
    /// A thread slot that is not one of the program's.
    BadThread = 4,
    /// No memory.
    NoMemory = 5,
    /// A bad address or range.
    BadRange = 6,
    /// The kernel refused (the move, the map).
    Kernel = 7,
}

impl Fail {
    /// The code's name.
    pub fn name(code: u64) -> &'static str {
        match code {
            1 => "unknown request",
            2 => "no such node",
            3 => "no thread slot",
            4 => "no such thread",
            5 => "out of memory",
            6 => "bad range",
            7 => "the kernel refused",
            _ => "?",
        }
    }
}

/// What a program reports with [`NOTE`] (MR1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Note {
    /// Reads of data that an unmap should have taken away (must stay 0).
    Stale = 1,
    /// The table misses the program expects (its own prediction; the report shows it).
    ExpectedMisses = 2,
    /// A check of the program's own failed.
    Failed = 3,
}

/// How long a program may be silent (no request, no fault, from any of its threads or
/// pagers) before the runtime gives it up as hung: the root task's limit for an
/// ordinary program (`pagers/root/src/supervisor.rs`, `SILENCE_US`), so a NUMA program
/// that deadlocks cannot hang the boot either.
pub const SILENCE_US: u32 = 10_000_000;

/// `CONFIG` flags (MR4): run as the paper's baseline, one space and one pager for
/// every node (the program's threads still on every node's CPUs).
pub const FLAG_SINGLE_SPACE: u64 = 1 << 0;
/// `CONFIG` flags: map the program's one copy of code and read-only data into every
/// node's space instead of a copy per node (the evaluation's comparison).
pub const FLAG_NO_REPLICATION: u64 = 1 << 1;

/// Where a spawned thread goes ([`SPAWN`] MR3): a CPU, a node (its CPUs in turn), or
/// anywhere (the nodes in turn).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// This CPU.
    Cpu(u16),
    /// A CPU of this node.
    Node(u16),
    /// Any node, the next in turn.
    Any,
}

impl Place {
    const CPU: u64 = 1 << 32;
    const NODE: u64 = 2 << 32;

    /// The word.
    pub const fn encode(self) -> u64 {
        match self {
            Place::Cpu(c) => Place::CPU | c as u64,
            Place::Node(n) => Place::NODE | n as u64,
            Place::Any => 0,
        }
    }

    /// From the word (`None`: not one).
    pub const fn decode(w: u64) -> Option<Place> {
        match w >> 32 {
            0 if w == 0 => Some(Place::Any),
            1 if w & 0xFFFF_0000 == 0 => Some(Place::Cpu(w as u16)),
            2 if w & 0xFFFF_0000 == 0 => Some(Place::Node(w as u16)),
            _ => None,
        }
    }
}

/// A thread's words at the top of its stack slot (`layout::thread_info`), written by
/// the server before the thread starts: who it is, and what it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ThreadInfo {
    /// Its rank among the declared threads (spawned threads: after them, in order).
    pub rank: u64,
    /// How many declared threads.
    pub ranks: u64,
    /// Its thread slot (its UTCB and stack slot).
    pub slot: u64,
    /// The memory server's thread id.
    pub server: u64,
    /// A spawned thread's function (`fn(u64) -> u64`), 0 for a declared thread (it runs
    /// the program's entry).
    pub function: u64,
    /// The spawned function's argument.
    pub argument: u64,
    /// The program's flags (`CONFIG`).
    pub flags: u64,
}

/// The first word of a [`ThreadInfo`]: says the other words are there.
pub const THREAD_INFO_MAGIC: u64 = 0x4E55_4D41_5254_0001; // "NUMART" v1

impl ThreadInfo {
    /// The words, as stored (magic first).
    pub const fn encode(&self) -> [u64; 8] {
        [
            THREAD_INFO_MAGIC,
            self.rank,
            self.ranks,
            self.slot,
            self.server,
            self.function,
            self.argument,
            self.flags,
        ]
    }

    /// From the words; `None` without the magic.
    pub const fn decode(w: [u64; 8]) -> Option<ThreadInfo> {
        if w[0] != THREAD_INFO_MAGIC {
            return None;
        }
        Some(ThreadInfo {
            rank: w[1],
            ranks: w[2],
            slot: w[3],
            server: w[4],
            function: w[5],
            argument: w[6],
            flags: w[7],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_and_thread_info_round_trip() {
        for p in [Place::Cpu(511), Place::Node(63), Place::Any, Place::Cpu(0), Place::Node(0)] {
            assert_eq!(Place::decode(p.encode()), Some(p));
        }
        assert_eq!(Place::decode(3 << 32), None);
        assert_eq!(Place::decode((1 << 32) | (1 << 20)), None);
        let t = ThreadInfo {
            rank: 3,
            ranks: 8,
            slot: 5,
            server: 0x1_0001,
            function: 0x40_1000,
            argument: 7,
            flags: 2,
        };
        assert_eq!(ThreadInfo::decode(t.encode()), Some(t));
        assert_eq!(ThreadInfo::decode([0; 8]), None);
        const { assert!(8 * 8 <= crate::layout::THREAD_INFO_BYTES, "the words fit their bytes") };
    }

    #[test]
    fn labels_are_distinct_and_in_their_range() {
        let all = [
            HELLO,
            CONFIG,
            NAME,
            ARGS,
            PAGER_HELLO,
            PAGE,
            CRASH,
            SPAWN,
            JOIN,
            MIGRATE,
            UNMAP,
            SAMPLE,
            PLACE,
            BARRIER,
            NOTE,
            EXIT,
            REFUSED,
        ];
        for (i, a) in all.iter().enumerate() {
            assert!((0x5000..0x5100).contains(a));
            assert!(all[i + 1..].iter().all(|b| b != a));
        }
    }
}
