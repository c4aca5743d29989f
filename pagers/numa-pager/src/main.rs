// SPDX-License-Identifier: MIT OR Apache-2.0
//! `numa-pager`: the NUMA runtime, a service for any program that declares itself NUMA.
//!
//! The root task starts one instance of this program for each NUMA program it runs
//! (a program whose ELF carries the `numa-l4` note: `pagers/numa/src/decl.rs`). The
//! instance is the program's **memory server**; it builds the rest:
//!
//! ```text
//!   root ──> server (this program, privileged, the program's group; on the first node)
//!              │ owns every global and stack frame (memory.rs), answers the
//!              │ program's requests (spawn, join, migrate, unmap, sample, place,
//!              │ barrier), ends the program and reports it
//!              ├─> pager space P_n (home n) for each node n with CPUs: this program's
//!              │   code again, copied onto node n as P_n faults (a pager runs from its
//!              │   own node's copy), its data and stack on node n, privileged
//!              └─> program space A_n (home n) for each node n: the program's threads
//!                  of node n, paged by P_n
//! ```
//!
//! A node's **pager** (`pager.rs`) serves its node's page faults: node-local pages
//! (the program's code and read-only data, declared node-local regions) it makes
//! itself, on its node, from the program's ELF; global and stack pages it asks the
//! server for. Either way the page passes through its staging page and is *granted* on,
//! so the program's space owns what is local to it, and the server owns what is shared
//! (`numa/src/layout.rs`). The **server** (`server.rs`) creates the spaces, pagers and
//! threads from the plan (`numa/src/plan.rs`), pages the pagers themselves, and runs
//! the program's requests. When the last thread has ended it checks what the runtime
//! promises (code on its node, pagers on theirs, no node missing a page twice between
//! two unmaps), prints
//!
//! ```text
//! report: numa-program name= nodes= spaces= pagers= pager-spaces-local=L/P code-local=X/Y
//!         global-faults= max-faults= migrations= unmaps= stale= result=pass|fail
//! ```
//!
//! deletes everything it made (every frame goes back: what the program's spaces own by
//! their deletion, the server's by its own end) and exits with 0 or 1.
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

rt::entry!(start);

extern crate alloc;

/// The memory server's decisions: pure, host-tested.
#[cfg_attr(
    not(all(target_arch = "aarch64", target_os = "none")),
    allow(dead_code, reason = "host: tests only")
)]
mod memory;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod common;
/// Copying file bytes a word at a time: pure, host-tested.
#[cfg_attr(
    not(all(target_arch = "aarch64", target_os = "none")),
    allow(dead_code, reason = "host: tests only")
)]
mod copy;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod pager;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod server;

/// The server's entry (the root task starts it here; pagers start at `pager::run`).
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
fn start(utcb: rt::UtcbAddr) -> ! {
    server::run(utcb.as_usize() as u64)
}

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn start(_utcb: rt::UtcbAddr) -> ! {
    unreachable!("the host build only type-checks the entry")
}
