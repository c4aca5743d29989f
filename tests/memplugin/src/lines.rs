// SPDX-License-Identifier: MIT OR Apache-2.0
//! Cache-line transfers between vCPUs, and the markers that open and close a measured
//! window.
//!
//! # Why
//! A lock or a counter that every CPU writes costs little on one CPU and a great deal
//! on many: each write by another CPU moves the 64-byte line across the interconnect.
//! Local/remote counts ([`crate::counters`]) do not show that (a line on the writer's
//! own node is "local" every time it moves). So the plugin also keeps, inside the
//! measured windows, a model of who holds each line and counts every access to a line
//! that another vCPU wrote since this one last had it: a **transfer**, from the
//! writer's node to the reader's, through a kernel or a user address. The lines that
//! move most are listed with the first virtual address seen, so a kernel symbol can be
//! put on them (`scripts/bench` does, with the kernel's ELF).
//!
//! # The model
//! Per line: the vCPU that wrote it last, and the set of vCPUs that have read it since
//! (a bit each; vCPUs from 64 on share the last bit). An access by vCPU `v`:
//! - a load: a transfer if someone else wrote the line and `v` has not read it since;
//!   `v` then has it;
//! - a store: a transfer if someone else wrote it last and `v` has not read it since
//!   (the line comes to `v`); a store to a line only `v` wrote is free; `v` becomes the
//!   writer and the only holder.
//!
//! A line's history starts when a window opens (the first access in a window moves
//! nothing): the boot is never counted, and a window measures what its own work moves.
//! This is a model of data movement, not of a real coherence protocol: upgrades
//! (a store to a line others only read) are not counted, evictions never happen.
//!
//! # Transfers depend on the schedule; sharing does not
//! Under `-icount` QEMU runs one vCPU at a time, each for a long slice (until the next
//! timer deadline): a lock that every CPU takes moves once per slice, not once per
//! take, so the transfer count above measures QEMU's schedule as much as the kernel.
//! So the model also counts a schedule-free bound, the **possible transfers**: per line
//! and vCPU `v`, `min(accesses by v, writes by the other vCPUs)` in the window. A
//! transfer to `v` needs a write by another vCPU since `v` last had the line, so under
//! *any* interleaving `v` cannot see more; when the CPUs really run at once, a line
//! that all write (a lock shared by all CPUs) comes close to it on every take. A line
//! written once by another CPU (a message handed over) adds one; a line written before
//! the window and only read inside it adds none. The `other-node` part counts only the
//! writes of vCPUs on another node than `v`.
//!
//! # Windows
//! The guest marks a window with two hint instructions, which execute as NOPs on any
//! CPU ([`MARK_OPEN`]: `hint #126`, [`MARK_CLOSE`]: `hint #127`; unallocated hint
//! encodings, ARM ARM C6.2.118). Windows may repeat; counts add up.
#![forbid(unsafe_code)]

use std::collections::HashMap;

use crate::config::{MAX_VCPUS, NodeId};
use crate::report::Level;

/// Bytes in a line.
pub const LINE: u64 = 64;

/// `hint #126`: opens a measured window.
pub const MARK_OPEN: u32 = 0xD503_201F | (126 << 5);
/// `hint #127`: closes it.
pub const MARK_CLOSE: u32 = 0xD503_201F | (127 << 5);

/// vCPUs whose accesses to a line are counted one by one (the rest share the last).
const TRACKED: usize = 16;

/// One line's holders and what moved it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Line {
    /// Accesses and writes in this window, by vCPU (`min(vcpu, TRACKED - 1)`).
    accesses: [u32; TRACKED],
    writes: [u32; TRACKED],
    /// The last writer, plus one (0: not written in this window).
    writer: u32,
    /// vCPUs that have the line since the last write (bit `min(vcpu, 63)`).
    holders: u64,
    /// Transfers to a vCPU of the writer's node, of another node, or of an unknown one.
    same: u64,
    other: u64,
    unknown: u64,
    /// The first virtual address through which it was accessed, and its level.
    vaddr: u64,
    level: Option<Level>,
}

/// Transfers of one level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Moves {
    /// Between two vCPUs of the same node.
    pub same_node: u64,
    /// Between vCPUs of different nodes.
    pub other_node: u64,
    /// Where either vCPU's node is unknown.
    pub unknown: u64,
}

impl Moves {
    /// All transfers.
    pub fn total(&self) -> u64 {
        self.same_node + self.other_node + self.unknown
    }
}

/// A line that moved or is shared-written, for the list of the busiest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hot {
    /// The line's physical address.
    pub pa: u64,
    /// The first virtual address seen for it.
    pub vaddr: u64,
    /// The level of that address.
    pub level: Level,
    /// Its transfers.
    pub moves: Moves,
    /// Its possible transfers ([`Lines::sharing`]'s, for this line).
    pub shared: Moves,
}

/// The line model and its totals.
#[derive(Debug)]
pub struct Lines {
    cpu_nodes: [Option<NodeId>; MAX_VCPUS],
    lines: HashMap<u64, Line>,
    user: Moves,
    kernel: Moves,
    open: bool,
    windows: u64,
}

impl Lines {
    /// No window yet; `cpu_nodes` says which node each vCPU is on.
    pub fn new(cpu_nodes: [Option<NodeId>; MAX_VCPUS]) -> Lines {
        Lines {
            cpu_nodes,
            lines: HashMap::new(),
            user: Moves::default(),
            kernel: Moves::default(),
            open: false,
            windows: 0,
        }
    }

    /// Opens a window (a second open while one is open changes nothing).
    pub fn open(&mut self) {
        if !self.open {
            self.open = true;
            self.windows += 1;
            // A window starts with no history: what it counts, its own work moved.
            for line in self.lines.values_mut() {
                line.writer = 0;
                line.holders = 0;
                line.accesses = [0; TRACKED];
                line.writes = [0; TRACKED];
            }
        }
    }

    /// Closes the window.
    pub fn close(&mut self) {
        self.open = false;
    }

    /// Whether a window is open.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// Windows opened so far.
    pub fn windows(&self) -> u64 {
        self.windows
    }

    /// One access by `vcpu` to physical address `pa` through `vaddr` (a store when
    /// `store`); counted only inside a window. The vCPU it came from, if it moved.
    pub fn access(&mut self, vcpu: u32, pa: u64, vaddr: u64, store: bool) -> Option<u32> {
        if !self.open {
            return None;
        }
        let level = Level::of(vaddr);
        let bit = 1u64 << (vcpu as usize).min(63);
        let line = self.lines.entry(pa / LINE * LINE).or_insert_with(|| Line { vaddr, ..Line::default() });
        if line.level.is_none() {
            line.level = Some(level);
            line.vaddr = vaddr;
        }
        let moved = line.writer != 0 && line.writer != vcpu + 1 && line.holders & bit == 0;
        let from = line.writer.wrapping_sub(1);
        let slot = (vcpu as usize).min(TRACKED - 1);
        line.accesses[slot] = line.accesses[slot].saturating_add(1);
        if store {
            line.writes[slot] = line.writes[slot].saturating_add(1);
            line.writer = vcpu + 1;
            line.holders = bit;
        } else {
            line.holders |= bit;
        }
        if !moved {
            return None;
        }
        let node = |v: u32| self.cpu_nodes.get(v as usize).copied().flatten();
        let (bucket_line, totals) = match (node(from), node(vcpu)) {
            (Some(a), Some(b)) if a == b => (&mut line.same, 0),
            (Some(_), Some(_)) => (&mut line.other, 1),
            _ => (&mut line.unknown, 2),
        };
        *bucket_line += 1;
        let moves = match level {
            Level::User => &mut self.user,
            Level::Kernel => &mut self.kernel,
        };
        match totals {
            0 => moves.same_node += 1,
            1 => moves.other_node += 1,
            _ => moves.unknown += 1,
        }
        Some(from)
    }

    /// The transfers through user and kernel addresses.
    pub fn totals(&self) -> (Moves, Moves) {
        (self.user, self.kernel)
    }

    /// A line's possible transfers (see the module docs).
    fn shared(&self, l: &Line) -> Moves {
        let mut m = Moves::default();
        let node = |v: usize| self.cpu_nodes.get(v).copied().flatten();
        for (v, &count) in l.accesses.iter().enumerate() {
            let (mut others, mut far, mut unknown) = (0u64, 0u64, 0u64);
            for (u, &w) in l.writes.iter().enumerate() {
                if u == v || w == 0 {
                    continue;
                }
                others += u64::from(w);
                match (node(u), node(v)) {
                    (Some(a), Some(b)) if a != b => far += u64::from(w),
                    (Some(_), Some(_)) => {}
                    _ => unknown += u64::from(w),
                }
            }
            let count = u64::from(count);
            let all = count.min(others);
            let other_node = count.min(far);
            let unknown = count.min(unknown).min(all - other_node);
            m.other_node += other_node;
            m.unknown += unknown;
            m.same_node += all - other_node - unknown;
        }
        m
    }

    /// The possible transfers of the window, through user and kernel addresses.
    pub fn sharing(&self) -> (Moves, Moves) {
        let (mut user, mut kernel) = (Moves::default(), Moves::default());
        for l in self.lines.values() {
            let s = self.shared(l);
            let m = match l.level {
                Some(Level::Kernel) => &mut kernel,
                _ => &mut user,
            };
            m.same_node += s.same_node;
            m.other_node += s.other_node;
            m.unknown += s.unknown;
        }
        (user, kernel)
    }

    /// The `n` lines with the most possible transfers, then transfers (most first;
    /// ties by address).
    pub fn busiest(&self, n: usize) -> Vec<Hot> {
        let mut hot: Vec<Hot> = self
            .lines
            .iter()
            .map(|(&pa, l)| Hot {
                pa,
                vaddr: l.vaddr,
                level: l.level.unwrap_or(Level::User),
                moves: Moves { same_node: l.same, other_node: l.other, unknown: l.unknown },
                shared: self.shared(l),
            })
            .filter(|h| h.moves.total() + h.shared.total() > 0)
            .collect();
        hot.sort_by(|a, b| {
            (b.shared.total(), b.moves.total())
                .cmp(&(a.shared.total(), a.moves.total()))
                .then(a.pa.cmp(&b.pa))
        });
        hot.truncate(n);
        hot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(list: &[u64]) -> [Option<NodeId>; MAX_VCPUS] {
        let mut out = [None; MAX_VCPUS];
        for (i, &n) in list.iter().enumerate() {
            out[i] = NodeId::new(n);
        }
        out
    }

    const K: u64 = 0xFFFF_0000_0000_1000;

    #[test]
    fn the_markers_are_hint_instructions() {
        assert_eq!(MARK_OPEN, 0xD503_2FDF);
        assert_eq!(MARK_CLOSE, 0xD503_2FFF);
    }

    #[test]
    fn nothing_is_counted_outside_a_window() {
        let mut l = Lines::new(nodes(&[0, 1]));
        l.access(0, 0x1000, K, true);
        assert_eq!(l.access(1, 0x1000, K, false), None);
        assert_eq!(l.totals(), (Moves::default(), Moves::default()));
        assert_eq!(l.windows(), 0);
    }

    #[test]
    fn a_line_written_by_one_cpu_moves_once_to_each_reader() {
        let mut l = Lines::new(nodes(&[0, 0, 1]));
        l.open();
        assert_eq!(l.access(0, 0x1008, K, true), None, "the first access moves nothing");
        assert_eq!(l.access(1, 0x1000, K, false), Some(0), "same line, another CPU");
        assert_eq!(l.access(1, 0x1030, K, false), None, "it has the line now");
        assert_eq!(l.access(2, 0x1000, K, false), Some(0));
        let (user, kernel) = l.totals();
        assert_eq!(user, Moves::default());
        assert_eq!(kernel, Moves { same_node: 1, other_node: 1, unknown: 0 });
    }

    #[test]
    fn a_lock_handed_back_and_forth_moves_on_every_take() {
        let mut l = Lines::new(nodes(&[0, 1]));
        l.open();
        for round in 0..10 {
            for cpu in 0..2 {
                let moved = l.access(cpu, 0x2000, K, true);
                if round > 0 || cpu > 0 {
                    assert_eq!(moved, Some(1 - cpu), "round {round} cpu {cpu}");
                }
            }
        }
        assert_eq!(l.totals().1.other_node, 19);
        let hot = l.busiest(3);
        assert_eq!(hot.len(), 1);
        assert_eq!((hot[0].pa, hot[0].vaddr, hot[0].level), (0x2000, K, Level::Kernel));
        assert_eq!(hot[0].moves.total(), 19);
        assert_eq!(hot[0].shared.other_node, 20, "every take of a lock both write may move it");
    }

    #[test]
    fn sharing_does_not_depend_on_the_schedule() {
        // Two CPUs take the same lock 10 times each: once interleaved, once one after
        // the other (as -icount runs them). Transfers differ; sharing does not.
        let mut fine = Lines::new(nodes(&[0, 0]));
        let mut coarse = Lines::new(nodes(&[0, 0]));
        fine.open();
        coarse.open();
        for _ in 0..10 {
            fine.access(0, 0x7000, K, true);
            fine.access(1, 0x7000, K, true);
        }
        for cpu in 0..2 {
            for _ in 0..10 {
                coarse.access(cpu, 0x7000, K, true);
            }
        }
        assert_eq!(fine.totals().1.same_node, 19);
        assert_eq!(coarse.totals().1.same_node, 1);
        assert_eq!(fine.sharing(), coarse.sharing());
        assert_eq!(fine.sharing().1, Moves { same_node: 20, other_node: 0, unknown: 0 });
    }

    #[test]
    fn a_line_another_cpu_writes_once_can_move_once() {
        // A message handed over: CPU 1 writes a TCB line once; CPU 0 uses it all along.
        let mut l = Lines::new(nodes(&[0, 1]));
        l.open();
        l.access(1, 0xa000, K, true);
        for _ in 0..100 {
            l.access(0, 0xa000, K, true);
        }
        assert_eq!(l.sharing().1, Moves { same_node: 0, other_node: 2, unknown: 0 }, "one each way");
    }

    #[test]
    fn lines_only_read_in_the_window_or_written_by_one_cpu_cannot_move() {
        let mut l = Lines::new(nodes(&[0, 1]));
        l.access(0, 0x8000, K, true); // before the window
        l.open();
        for _ in 0..5 {
            l.access(0, 0x8000, K, false);
            l.access(1, 0x8000, K, false);
            l.access(0, 0x9000, K, true);
        }
        assert_eq!(l.sharing(), (Moves::default(), Moves::default()));
    }

    #[test]
    fn a_cpu_that_keeps_its_own_lines_moves_nothing() {
        let mut l = Lines::new(nodes(&[0, 1]));
        l.open();
        for _ in 0..100 {
            l.access(0, 0x3000, K, true);
            l.access(0, 0x3000, K, false);
            l.access(1, 0x4000, 0x40_0000, true);
        }
        assert_eq!(l.totals(), (Moves::default(), Moves::default()));
        assert!(l.busiest(5).is_empty());
    }

    #[test]
    fn read_shared_lines_stop_moving_and_a_new_window_starts_afresh() {
        let mut l = Lines::new(nodes(&[0, 1]));
        l.open();
        l.access(0, 0x5000, K, true);
        for _ in 0..10 {
            l.access(1, 0x5000, K, false);
            l.access(0, 0x5000, K, false);
        }
        assert_eq!(l.totals().1.total(), 1, "one move: then both hold it");
        l.close();
        l.access(0, 0x5000, K, true);
        l.open();
        assert_eq!(l.access(1, 0x5000, K, false), None, "history before the window is forgotten");
        assert_eq!(l.windows(), 2);
        l.open();
        assert_eq!(l.windows(), 2, "opening an open window changes nothing");
    }

    #[test]
    fn cpus_of_unknown_node_are_counted_apart() {
        let mut l = Lines::new(nodes(&[0]));
        l.open();
        l.access(0, 0x6000, 0x1000, true);
        l.access(5, 0x6000, 0x1000, false);
        assert_eq!(l.totals().0, Moves { same_node: 0, other_node: 0, unknown: 1 });
    }
}
