// SPDX-License-Identifier: MIT OR Apache-2.0
//! `numa`: the user-level half of the paper, as a library: the NUMA runtime's logic.
//!
//! The kernel offers only local primitives (a space per node, `Notify` between nodes,
//! moving a thread into another space, memory that comes back). Everything that makes
//! one application out of several per-node spaces lives here, at user level, as the
//! paper prescribes. Pure logic, `no_std` (with `alloc`), so the same code runs in the
//! runtime (`pagers/numa-pager`) and in host tests:
//!
//! - [`decl`]: what a program declares in its ELF (threads, regions, sizes) and every
//!   way a declaration can be wrong;
//! - [`layout`]: the runtime's address map: program spaces, pager spaces, the server;
//! - [`plan`]: the program's nodes and where each thread goes, from the machine;
//! - the memory server's decisions (global and stack frames, placement, the global
//!   unmap, stacks following their thread, pages moved to their users) are
//!   `pagers/numa-pager/src/memory.rs`, beside the server that makes them;
//! - [`proto`]: the messages between the root task, the server, the pagers and the
//!   program's threads;
//! - [`region`]: region kinds and placement policies;
//! - [`heap`]: per-node heap arenas behind `alloc`, for programs and the server;
//! - [`access`]: per-node access information and the policy that moves a page;
//! - [`workload`]: the evaluation's workloads (a sweep, a stencil), shared by the
//!   programs that run them and the host that checks them;
//! - [`global`]: the earlier protocol of pagers in one shared space (`numademo`), with
//!   `model` (tests only), its exhaustive check.
#![cfg_attr(not(test), no_std)]

pub mod access;
pub mod decl;
pub mod global;
pub mod heap;
pub mod layout;
pub mod plan;
pub mod proto;
pub mod region;
pub mod workload;

#[cfg(test)]
mod model;
