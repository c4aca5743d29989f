// SPDX-License-Identifier: MIT OR Apache-2.0
//! `Introspect`: questions a program may ask the kernel about placement.
//!
//! The paper's claims are about *where* things are: an address space's kernel
//! metadata on its home node, a pager's frames on the node it asked for. Tests and
//! benchmarks must be able to check that from user level, and a NUMA-aware pager
//! needs the node of a frame it was given. `Introspect` answers those questions and
//! changes nothing.
//!
//! # Design
//! `x0` = query number, `x1..x3` = its arguments (argument registers a query does not
//! use must be 0, so later versions can give them meaning); on return `x0` = status,
//! `x1..x6` = answers (answer registers a query does not use are 0).
//!
//! ```text
//!  no query            arguments          answers
//!   0 KmemReport       x1 space (thread)  x1 home node, x2 kernel frames on the home
//!                                         node, x3 kernel frames on other nodes,
//!                                         x4 translation-table frames (part of x2+x3),
//!                                         x5 UTCB frames, x6 threads
//!   1 Translate        x1 space (thread), x1 physical address of the VA, x2 its node,
//!                      x2 VA              x3 rights (rwx), x4 size log2 of the mapping
//!                                         (12, 21, 30; 0 = not mapped, all answers 0)
//!   2 NodeOfPhysical   x1 physical addr   x1 node
//!   3 CurrentCpu       -                  x1 CPU index, x2 node, x3 MPIDR
//!   4 FastPaths        -                  x1 IPCs, x2 map replies, x3 page faults
//!                                         done by the kernel's fast paths since boot
//!                                         (all CPUs; see kernel/src/l4/fastpath.rs)
//! ```
//! Errors: [`Error::InvalidArgument`] (unknown query, nonzero unused argument, a
//! physical address that is not RAM), [`Error::InvalidSpace`] / [`Error::InvalidThread`]
//! (the space argument).
#![forbid(unsafe_code)]

use crate::error::Error;
use crate::fpage::Rights;
use crate::thread::ThreadId;

/// An `Introspect` query, by its number in `x0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum Query {
    /// Kernel memory of a space: how much and on which node ([`KmemReport`]).
    KmemReport = 0,
    /// The translation of a virtual address in a space ([`Translation`]).
    Translate = 1,
    /// The node a physical address belongs to.
    NodeOfPhysical = 2,
    /// The CPU the caller runs on, and its node ([`CurrentCpu`]).
    CurrentCpu = 3,
    /// How often the kernel's fast paths ran ([`FastPaths`]): tests check that the
    /// common cases really take them, benchmarks report how often.
    FastPaths = 4,
    /// The free and total bytes of a node's frame pool ([`NodeMemory`]): what a
    /// supervisor compares before and after a program to see that nothing leaked.
    NodeMemory = 5,
}

impl Query {
    /// Every query, in number order.
    pub const ALL: [Query; 6] = [
        Query::KmemReport,
        Query::Translate,
        Query::NodeOfPhysical,
        Query::CurrentCpu,
        Query::FastPaths,
        Query::NodeMemory,
    ];

    /// The query with number `x0`, if it is one.
    pub const fn from_number(number: u64) -> Option<Query> {
        if number >= Query::ALL.len() as u64 {
            return None;
        }
        Some(Query::ALL[number as usize])
    }

    /// The number that goes in `x0`.
    pub const fn number(self) -> u64 {
        self as u64
    }
}

/// A query with its arguments (registers `x0..x3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// Query 0.
    KmemReport {
        /// A thread of the space.
        space: ThreadId,
    },
    /// Query 1.
    Translate {
        /// A thread of the space.
        space: ThreadId,
        /// The virtual address.
        va: u64,
    },
    /// Query 2.
    NodeOfPhysical {
        /// The physical address.
        pa: u64,
    },
    /// Query 3.
    CurrentCpu,
    /// Query 4.
    FastPaths,
    /// Query 5.
    NodeMemory {
        /// The node.
        node: u64,
    },
}

impl Request {
    /// `x0..x3`.
    pub const fn encode(self) -> [u64; 4] {
        match self {
            Request::KmemReport { space } => [Query::KmemReport as u64, space.raw(), 0, 0],
            Request::Translate { space, va } => [Query::Translate as u64, space.raw(), va, 0],
            Request::NodeOfPhysical { pa } => [Query::NodeOfPhysical as u64, pa, 0, 0],
            Request::CurrentCpu => [Query::CurrentCpu as u64, 0, 0, 0],
            Request::FastPaths => [Query::FastPaths as u64, 0, 0, 0],
            Request::NodeMemory { node } => [Query::NodeMemory as u64, node, 0, 0],
        }
    }

    /// Decodes `x0..x3`. Errors: [`Error::InvalidArgument`] for an unknown query or a
    /// nonzero unused argument register.
    pub const fn decode(x: [u64; 4]) -> Result<Request, Error> {
        let (request, used) = match Query::from_number(x[0]) {
            Some(Query::KmemReport) => (Request::KmemReport { space: ThreadId::from_raw(x[1]) }, 1),
            Some(Query::Translate) => (Request::Translate { space: ThreadId::from_raw(x[1]), va: x[2] }, 2),
            Some(Query::NodeOfPhysical) => (Request::NodeOfPhysical { pa: x[1] }, 1),
            Some(Query::CurrentCpu) => (Request::CurrentCpu, 0),
            Some(Query::FastPaths) => (Request::FastPaths, 0),
            Some(Query::NodeMemory) => (Request::NodeMemory { node: x[1] }, 1),
            None => return Err(Error::InvalidArgument),
        };
        let mut i = used + 1;
        while i < 4 {
            if x[i] != 0 {
                return Err(Error::InvalidArgument);
            }
            i += 1;
        }
        Ok(request)
    }
}

/// The answer to [`Query::NodeMemory`]: x1 free bytes, x2 total bytes of the node's
/// pool (both 0 for a node without memory; `InvalidNode` for a node the machine does
/// not have). Free memory is what user level and the kernel's own objects can still
/// take: a program that gave back everything it took leaves it as it found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NodeMemory {
    /// x1: free bytes.
    pub free: u64,
    /// x2: total bytes.
    pub total: u64,
}

impl NodeMemory {
    /// `x1..x6`.
    pub const fn to_regs(self) -> [u64; 6] {
        [self.free, self.total, 0, 0, 0, 0]
    }

    /// From `x1..x6`.
    pub const fn from_regs(x: [u64; 6]) -> NodeMemory {
        NodeMemory { free: x[0], total: x[1] }
    }
}

/// The answer to [`Query::KmemReport`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct KmemReport {
    /// x1: the space's home node.
    pub home_node: u64,
    /// x2: frames of kernel metadata for the space on its home node.
    pub frames_home: u64,
    /// x3: frames of kernel metadata for the space on other nodes (0 unless the home
    /// node ran out).
    pub frames_remote: u64,
    /// x4: translation-table frames (counted in x2 + x3).
    pub table_frames: u64,
    /// x5: UTCB frames.
    pub utcb_frames: u64,
    /// x6: threads in the space.
    pub threads: u64,
}

impl KmemReport {
    /// `x1..x6`.
    pub const fn to_regs(self) -> [u64; 6] {
        [
            self.home_node,
            self.frames_home,
            self.frames_remote,
            self.table_frames,
            self.utcb_frames,
            self.threads,
        ]
    }

    /// From `x1..x6`.
    pub const fn from_regs(x: [u64; 6]) -> KmemReport {
        KmemReport {
            home_node: x[0],
            frames_home: x[1],
            frames_remote: x[2],
            table_frames: x[3],
            utcb_frames: x[4],
            threads: x[5],
        }
    }
}

/// The answer to [`Query::Translate`] for a mapped address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// x1: the physical address the VA translates to.
    pub pa: u64,
    /// x2: the node of that frame.
    pub node: u64,
    /// x3: the mapping's rights.
    pub rights: Rights,
    /// x4: log2 of the mapping's size (12 page, 21 or 30 block).
    pub size_log2: u8,
}

impl Translation {
    /// `x1..x6` for a translation, or all zero for "not mapped".
    pub const fn to_regs(t: Option<Translation>) -> [u64; 6] {
        match t {
            Some(t) => [t.pa, t.node, t.rights.bits() as u64, t.size_log2 as u64, 0, 0],
            None => [0; 6],
        }
    }

    /// From `x1..x6`: `None` if the address is not mapped (x4 = 0) or the answer does
    /// not decode.
    pub const fn from_regs(x: [u64; 6]) -> Option<Translation> {
        if x[3] == 0 || x[3] > 63 || x[2] > u8::MAX as u64 {
            return None;
        }
        match Rights::from_bits(x[2] as u8) {
            Some(rights) => Some(Translation { pa: x[0], node: x[1], rights, size_log2: x[3] as u8 }),
            None => None,
        }
    }
}

/// The answer to [`Query::FastPaths`]: counts since boot, summed over the CPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FastPaths {
    /// x1: register-only `Call`s and `ReplyWait`s done by the IPC fast path.
    pub ipc: u64,
    /// x2: replies that mapped one page on the fast path.
    pub map_replies: u64,
    /// x3: page faults delivered to a waiting pager on the fast path.
    pub faults: u64,
}

impl FastPaths {
    /// `x1..x6`.
    pub const fn to_regs(self) -> [u64; 6] {
        [self.ipc, self.map_replies, self.faults, 0, 0, 0]
    }

    /// From `x1..x6`.
    pub const fn from_regs(x: [u64; 6]) -> FastPaths {
        FastPaths { ipc: x[0], map_replies: x[1], faults: x[2] }
    }
}

/// The answer to [`Query::CurrentCpu`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CurrentCpu {
    /// x1: the CPU index (as in the KIP and `Schedule`).
    pub cpu: u64,
    /// x2: its node.
    pub node: u64,
    /// x3: its MPIDR.
    pub mpidr: u64,
}

impl CurrentCpu {
    /// `x1..x6`.
    pub const fn to_regs(self) -> [u64; 6] {
        [self.cpu, self.node, self.mpidr, 0, 0, 0]
    }

    /// From `x1..x6`.
    pub const fn from_regs(x: [u64; 6]) -> CurrentCpu {
        CurrentCpu { cpu: x[0], node: x[1], mpidr: x[2] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_numbers_are_the_briefs() {
        let brief = [
            (0, Query::KmemReport),
            (1, Query::Translate),
            (2, Query::NodeOfPhysical),
            (3, Query::CurrentCpu),
            (4, Query::FastPaths),
            (5, Query::NodeMemory),
        ];
        for (n, q) in brief {
            assert_eq!(q.number(), n);
            assert_eq!(Query::from_number(n), Some(q));
        }
        assert_eq!(Query::from_number(6), None);
    }

    #[test]
    fn requests_round_trip_and_unused_arguments_must_be_zero() {
        let space = ThreadId::ROOT;
        for r in [
            Request::KmemReport { space },
            Request::Translate { space, va: 0x40_0000 },
            Request::NodeOfPhysical { pa: 0x8000_0000 },
            Request::CurrentCpu,
            Request::FastPaths,
            Request::NodeMemory { node: 3 },
        ] {
            assert_eq!(Request::decode(r.encode()), Ok(r));
        }
        assert_eq!(Request::decode([6, 0, 0, 0]), Err(Error::InvalidArgument));
        assert_eq!(Request::decode([5, 0, 1, 0]), Err(Error::InvalidArgument));
        let m = NodeMemory { free: 1 << 20, total: 1 << 30 };
        assert_eq!(NodeMemory::from_regs(m.to_regs()), m);
        assert_eq!(Request::decode([4, 0, 0, 1]), Err(Error::InvalidArgument));
        assert_eq!(Request::decode([0, space.raw(), 1, 0]), Err(Error::InvalidArgument));
        assert_eq!(Request::decode([1, space.raw(), 0x1000, 1]), Err(Error::InvalidArgument));
        assert_eq!(Request::decode([3, 1, 0, 0]), Err(Error::InvalidArgument));
    }

    #[test]
    fn answers_round_trip_through_the_registers() {
        let k = KmemReport {
            home_node: 1,
            frames_home: 10,
            frames_remote: 0,
            table_frames: 4,
            utcb_frames: 1,
            threads: 2,
        };
        assert_eq!(KmemReport::from_regs(k.to_regs()), k);
        let t = Translation { pa: 0x8000_1234, node: 1, rights: Rights::RW, size_log2: 12 };
        assert_eq!(Translation::to_regs(Some(t)), [0x8000_1234, 1, 6, 12, 0, 0]);
        assert_eq!(Translation::from_regs(Translation::to_regs(Some(t))), Some(t));
        assert_eq!(Translation::from_regs(Translation::to_regs(None)), None);
        assert_eq!(Translation::from_regs([0, 0, 8, 12, 0, 0]), None, "reserved rights bit");
        let c = CurrentCpu { cpu: 3, node: 1, mpidr: 0x101 };
        assert_eq!(CurrentCpu::from_regs(c.to_regs()), c);
        let f = FastPaths { ipc: 7, map_replies: 2, faults: 1 };
        assert_eq!(FastPaths::from_regs(f.to_regs()), f);
    }
}
