// SPDX-License-Identifier: MIT OR Apache-2.0
//! `numa`: the user-level half of the paper, as a library the per-node pagers share.
//!
//! The kernel offers only local primitives (a space per node, `Notify` between nodes,
//! moving a thread into another space). Everything that makes one application out of
//! several per-node spaces lives here, at user level, as the paper prescribes: the
//! global mapping table that keeps the spaces coherent lazily through page faults, and
//! the protocol that takes a global page away from every node before its frame is
//! reused. Pure logic, `no_std`, so the same code runs in the pagers and in host tests.
//!
//! - [`region`]: the regions an application declares (global with a placement policy,
//!   node-local replicated or zeroed) and the lookup a pager does on a fault;
//! - [`global`]: one global page's entry and its protocol (fault, global unmap,
//!   acknowledgement), with the invariants it keeps;
//! - [`access`]: per-node access information (re-faults after sampling unmaps) and the
//!   policy that moves a page to the node that uses it most;
//! - [`workload`]: the evaluation's workloads (a sweep with a chosen sharing degree, a
//!   stencil) and their parameters, run by the workers and checked by the root task;
//! - `model` (tests only): an exhaustive check of that protocol, composed with CPUs
//!   that cache translations, pagers that interleave, and the kernel's unmap, and of
//!   the broken variants the check must catch.
#![cfg_attr(not(test), no_std)]

pub mod access;
pub mod global;
pub mod region;
pub mod workload;

#[cfg(test)]
mod model;
