// SPDX-License-Identifier: MIT OR Apache-2.0
//! The plan: which nodes a NUMA program runs on, where each of its threads goes, and
//! which node's memory serves a node that has none.
//!
//! The runtime asks the kernel interface page for the machine (CPUs with their nodes,
//! the nodes with memory, the distances) and the declaration for the threads, and
//! works out, before anything is created:
//!
//! - the program's **nodes**: every node with CPUs, in number order. A node without
//!   CPUs runs nothing, so it gets no space and no pager; a node without memory does
//!   run threads (its CPUs are not left idle), served from its **memory node**: the
//!   nearest node with memory by distance (ties: the lower number);
//! - each thread's **CPU and node**, in rank order (`decl::Threads`): per CPU, per node
//!   (round robin over the node's CPUs), or on chosen nodes.
//!
//! A declaration the machine cannot satisfy is refused here with a [`PlanError`]
//! that names the node: a program asking for threads on a node without CPUs, or on a
//! node the machine does not have. No lower limit than the kernel's: up to
//! `abi::MAX_NODES` nodes and `abi::MAX_CPUS` CPUs, and [`crate::layout::MAX_THREADS`]
//! threads.
#![forbid(unsafe_code)]

use crate::decl::Threads;
use crate::layout::MAX_THREADS;
use core::fmt;

/// Most nodes (`abi::MAX_NODES`).
pub const MAX_NODES: usize = 64;
/// Most CPUs (`abi::MAX_CPUS`).
pub const MAX_CPUS: usize = 512;

/// What the runtime knows of the machine (from the KIP).
#[derive(Clone, Debug)]
pub struct Machine {
    /// The node of CPU `i`, for `i < cpu_count`.
    pub cpu_node: [u16; MAX_CPUS],
    /// How many CPUs.
    pub cpu_count: usize,
    /// How many nodes (node numbers `0..node_count`).
    pub node_count: usize,
    /// Bit `n`: node `n` has memory.
    pub with_memory: u64,
    /// `distance[from][to]`, 10 local.
    pub distance: [[u8; MAX_NODES]; MAX_NODES],
}

impl Machine {
    /// A machine of `node_count` nodes without CPUs or memory, every distance 20 (10 to
    /// itself): fill it with [`Machine::add_cpu`] and friends.
    pub fn new(node_count: usize) -> Machine {
        let mut distance = [[20; MAX_NODES]; MAX_NODES];
        for (i, row) in distance.iter_mut().enumerate() {
            row[i] = 10;
        }
        Machine {
            cpu_node: [0; MAX_CPUS],
            cpu_count: 0,
            node_count: node_count.min(MAX_NODES),
            with_memory: 0,
            distance,
        }
    }

    /// Adds the next CPU, on `node`.
    pub fn add_cpu(&mut self, node: u16) {
        if self.cpu_count < MAX_CPUS {
            self.cpu_node[self.cpu_count] = node;
            self.cpu_count += 1;
        }
    }

    /// The CPUs of `node`, in order.
    pub fn cpus_of(&self, node: u16) -> impl Iterator<Item = usize> + '_ {
        (0..self.cpu_count).filter(move |&c| self.cpu_node[c] == node)
    }

    /// Whether `node` has memory.
    pub fn has_memory(&self, node: u16) -> bool {
        usize::from(node) < MAX_NODES && self.with_memory & (1 << node) != 0
    }

    /// The node whose memory serves `node`: itself if it has memory, else the nearest
    /// with memory (by `distance[node][m]`, ties to the lower number); `None` if no
    /// node has memory.
    pub fn memory_node(&self, node: u16) -> Option<u16> {
        if self.has_memory(node) {
            return Some(node);
        }
        let row = &self.distance[usize::from(node).min(MAX_NODES - 1)];
        (0..self.node_count as u16).filter(|&m| self.has_memory(m)).min_by_key(|&m| (row[usize::from(m)], m))
    }
}

/// Where one thread runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ThreadPlan {
    /// Its CPU.
    pub cpu: u16,
    /// The CPU's node.
    pub node: u16,
}

/// The program's nodes and threads.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The nodes with CPUs, ascending (`nodes[..node_count]`).
    pub nodes: [u16; MAX_NODES],
    /// How many.
    pub node_count: usize,
    /// The threads in rank order (`threads[..thread_count]`).
    pub threads: [ThreadPlan; MAX_THREADS],
    /// How many.
    pub thread_count: usize,
}

/// Why a declaration does not fit the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// Threads asked for on a node that has no CPUs.
    NoCpus {
        /// The node.
        node: u32,
    },
    /// Threads asked for on a node the machine does not have.
    UnknownNode {
        /// The node.
        node: u32,
    },
    /// More threads than the runtime holds ([`MAX_THREADS`]).
    TooManyThreads {
        /// How many were asked for.
        asked: u64,
    },
    /// No node has CPUs, or none has memory.
    NoMachine,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PlanError::NoCpus { node } => write!(f, "threads asked for on node {node}, which has no CPUs"),
            PlanError::UnknownNode { node } => {
                write!(f, "threads asked for on node {node}, which this machine does not have")
            }
            PlanError::TooManyThreads { asked } => {
                write!(f, "{asked} threads asked for, at most {MAX_THREADS}")
            }
            PlanError::NoMachine => f.write_str("no node with CPUs, or none with memory"),
        }
    }
}

impl Plan {
    /// The plan for `threads` on `machine`.
    pub fn new(machine: &Machine, threads: Threads) -> Result<Plan, PlanError> {
        let mut plan = Plan {
            nodes: [0; MAX_NODES],
            node_count: 0,
            threads: [ThreadPlan::default(); MAX_THREADS],
            thread_count: 0,
        };
        for node in 0..machine.node_count as u16 {
            if machine.cpus_of(node).next().is_some() {
                plan.nodes[plan.node_count] = node;
                plan.node_count += 1;
            }
        }
        if plan.node_count == 0 || machine.with_memory == 0 {
            return Err(PlanError::NoMachine);
        }
        let nodes = plan.nodes;
        match threads {
            Threads::Main => {
                let cpu = machine.cpus_of(nodes[0]).next().ok_or(PlanError::NoMachine)?;
                plan.push(machine, cpu, 1)?;
            }
            Threads::PerCpu(k) => {
                let asked = machine.cpu_count as u64 * u64::from(k);
                if asked > MAX_THREADS as u64 {
                    return Err(PlanError::TooManyThreads { asked });
                }
                for &node in &nodes[..plan.node_count] {
                    for cpu in machine.cpus_of(node) {
                        plan.push(machine, cpu, k)?;
                    }
                }
            }
            Threads::PerNode(k) => {
                for &node in &nodes[..plan.node_count] {
                    plan.spread(machine, node, k)?;
                }
            }
            Threads::On(pairs, n) => {
                for &(node, count) in &pairs[..n.min(pairs.len())] {
                    if node as usize >= machine.node_count {
                        return Err(PlanError::UnknownNode { node });
                    }
                    if machine.cpus_of(node as u16).next().is_none() {
                        return Err(PlanError::NoCpus { node });
                    }
                    plan.spread(machine, node as u16, count)?;
                }
            }
        }
        Ok(plan)
    }

    /// `count` threads on `cpu`.
    fn push(&mut self, machine: &Machine, cpu: usize, count: u32) -> Result<(), PlanError> {
        for _ in 0..count {
            if self.thread_count == MAX_THREADS {
                return Err(PlanError::TooManyThreads { asked: self.thread_count as u64 + u64::from(count) });
            }
            self.threads[self.thread_count] = ThreadPlan { cpu: cpu as u16, node: machine.cpu_node[cpu] };
            self.thread_count += 1;
        }
        Ok(())
    }

    /// `count` threads on `node`'s CPUs in turn.
    fn spread(&mut self, machine: &Machine, node: u16, count: u32) -> Result<(), PlanError> {
        let cpus = machine.cpus_of(node).count();
        for i in 0..count as usize {
            let cpu = machine
                .cpus_of(node)
                .nth(i % cpus.max(1))
                .ok_or(PlanError::NoCpus { node: u32::from(node) })?;
            self.push(machine, cpu, 1)?;
        }
        Ok(())
    }

    /// The program's nodes.
    pub fn nodes(&self) -> &[u16] {
        &self.nodes[..self.node_count]
    }

    /// The threads, in rank order.
    pub fn threads(&self) -> &[ThreadPlan] {
        &self.threads[..self.thread_count]
    }

    /// The slot (index in [`Plan::nodes`]) of `node`, if the program runs there.
    pub fn slot_of(&self, node: u16) -> Option<usize> {
        self.nodes().iter().position(|&n| n == node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decl::MAX_PLACEMENTS;

    /// Four nodes: 0 with 2 CPUs and memory, 1 with 1 CPU and no memory, 2 with memory
    /// and no CPUs, 3 with 2 CPUs and memory; node 1 is nearer node 3 than node 0.
    fn board() -> Machine {
        let mut m = Machine::new(4);
        for node in [0, 0, 1, 3, 3] {
            m.add_cpu(node);
        }
        m.with_memory = 0b1101;
        m.distance[1][0] = 30;
        m.distance[1][3] = 15;
        m.distance[1][2] = 40;
        m
    }

    fn on(pairs: &[(u32, u32)]) -> Threads {
        let mut p = [(0, 0); MAX_PLACEMENTS];
        p[..pairs.len()].copy_from_slice(pairs);
        Threads::On(p, pairs.len())
    }

    fn cpus(plan: &Plan) -> Vec<(u16, u16)> {
        plan.threads().iter().map(|t| (t.cpu, t.node)).collect()
    }

    #[test]
    fn every_node_with_cpus_runs_and_a_memoryless_one_is_served_by_the_nearest() {
        let m = board();
        let plan = Plan::new(&m, Threads::PerCpu(1)).unwrap();
        assert_eq!(plan.nodes(), [0, 1, 3], "node 2 has no CPUs: no space there");
        assert_eq!(cpus(&plan), [(0, 0), (1, 0), (2, 1), (3, 3), (4, 3)]);
        assert_eq!(m.memory_node(1), Some(3), "nearest by distance, not by number");
        assert_eq!(m.memory_node(0), Some(0));
        assert_eq!(m.memory_node(2), Some(2), "a CPU-less node serves itself");
        assert_eq!(plan.slot_of(3), Some(2));
        assert_eq!(plan.slot_of(2), None);
    }

    #[test]
    fn threads_go_per_cpu_per_node_or_where_asked() {
        let m = board();
        assert_eq!(cpus(&Plan::new(&m, Threads::Main).unwrap()), [(0, 0)]);
        assert_eq!(
            cpus(&Plan::new(&m, Threads::PerNode(3)).unwrap()),
            [(0, 0), (1, 0), (0, 0), (2, 1), (2, 1), (2, 1), (3, 3), (4, 3), (3, 3)]
        );
        assert_eq!(cpus(&Plan::new(&m, on(&[(3, 2), (1, 1)])).unwrap()), [(3, 3), (4, 3), (2, 1)]);
        assert_eq!(cpus(&Plan::new(&m, Threads::PerCpu(2)).unwrap()).len(), 10);
    }

    #[test]
    fn a_declaration_the_machine_cannot_hold_is_named() {
        let m = board();
        assert_eq!(Plan::new(&m, on(&[(2, 1)])).unwrap_err(), PlanError::NoCpus { node: 2 });
        assert_eq!(Plan::new(&m, on(&[(9, 1)])).unwrap_err(), PlanError::UnknownNode { node: 9 });
        assert_eq!(
            Plan::new(&m, Threads::PerCpu(300)).unwrap_err(),
            PlanError::TooManyThreads { asked: 1500 }
        );
        assert!(matches!(Plan::new(&m, Threads::PerNode(400)), Err(PlanError::TooManyThreads { .. })));
        let mut bare = Machine::new(2);
        bare.add_cpu(0);
        assert_eq!(Plan::new(&bare, Threads::Main).unwrap_err(), PlanError::NoMachine, "no memory anywhere");
    }

    #[test]
    fn the_largest_machines_are_planned_whole() {
        let mut m = Machine::new(MAX_NODES);
        for c in 0..MAX_CPUS {
            m.add_cpu((c % MAX_NODES) as u16);
        }
        m.with_memory = u64::MAX;
        let plan = Plan::new(&m, Threads::PerCpu(1)).unwrap();
        assert_eq!(plan.nodes().len(), MAX_NODES);
        assert_eq!(plan.threads().len(), MAX_CPUS);
        assert!(plan.threads().iter().all(|t| m.cpu_node[usize::from(t.cpu)] == t.node));
    }
}
