// SPDX-License-Identifier: MIT OR Apache-2.0
//! The numa-l4 system-call ABI, version 1: every number and layout a user program and
//! the kernel must agree on.
//!
//! Both sides of a system call depend on this crate: the kernel decodes what it
//! receives with it, and user programs (the root task, the per-node pagers) encode
//! what they send with it. Keeping one definition means the two can never drift apart,
//! and keeping it free of dependencies and of `unsafe` means the dependency rule
//! `pagers -> kernel ABI` holds without dragging the kernel or the board in.
//!
//! Everything here is pure data and pure functions: encodings, decodings with named
//! errors, and `#[repr(C)]` layouts with their offsets pinned by compile-time
//! assertions. It builds for the host (where it is tested), for the kernel target
//! `aarch64-unknown-none-softfloat` and for user programs on `aarch64-unknown-none`.
//!
//! # Design
//! The semantics are L4 X.2's: threads, address spaces, synchronous IPC that can map
//! and grant flexpages, page faults delivered as IPC to a user-level pager, recursive
//! unmap through a mapping database. The encoding is AArch64's, with the changes
//! listed below.
//!
//! ## Calling convention
//! A system call is `svc #0` (the immediate must be 0; any other value fails with
//! [`Error::UnknownSyscall`]). The syscall number is in `x8`, arguments in `x0..x7`.
//! On return `x0` is the status (0 = success, else an [`Error`] number) and the
//! results are in `x1..x7`. Registers that are not results keep their values, except
//! `x0..x8`, which the kernel may clobber.
//!
//! ```text
//!  no  syscall              arguments                                      results (x0 = status)
//!   0  Ipc                  x0 to, x1 from_spec, x2 timeouts, x3 MR0,      x1 sender, x3 MR0,
//!                           x4..x7 MR1..MR4                                x4..x7 MR1..MR4
//!   1  ThreadControl  (P/G) x0 dest, x1 space, x2 scheduler, x3 pager,     -
//!                           x4 UTCB address, x5 home-CPU hint
//!   2  SpaceControl    (P)  x0 space, x1 control, x2 group                 x1 home node, x2 group
//!   3  Schedule             x0 dest, x1 priority, x2 cpu, x3 timeslice     x1 old priority, x2 old cpu
//!   4  ExchangeRegisters    x0 dest, x1 control, x2 sp, x3 ip, x4 pager,   x1 sp, x2 ip, x3 pager,
//!                           x5 exception handler                           x4 state flags
//!   5  Unmap                x0 control (n fpages in MR0.., flush-own)      fpages updated in the UTCB
//!   6  ThreadSwitch         x0 dest (NIL; a thread: no donation yet)       -
//!   7  SystemClock          -                                              x1 ticks, x2 frequency (Hz)
//!   8  KernelInterface      -                                              x1 KIP address, x2 ABI
//!                                                                          version, x3 KIP size
//!   9  InterruptControl (P) x0 intid, x1 handler, x2 control               -
//!  10  DebugWrite           x0 pointer, x1 length (<= 4096)                x1 bytes written
//!  11  Introspect           x0 query, x1..x3 query arguments               x1..x6 answers
//!  12  MemoryControl   (P)  x0 node, x1 order, x2 dest VA, x3 flags        x1 physical base, x2 node
//!  13  SystemControl   (P)  x0 operation (power off), x1 exit status      - (does not return)
//!  14  Notify         (P/G) x0 dest, x1 word (queued, never blocks)        -
//!
//!  (P) = privileged: only threads of a privileged space (SpaceControl bit 0)
//!  (G) = or, for an unprivileged thread, within its own group (SpaceControl bit 1):
//!        moving the group's threads between the group's spaces; notifying them
//! ```
//!
//! **Privilege** is the kernel's main notion of authority: a privileged space (the root
//! task's, and those it marks with `SpaceControl`) may create, move and delete threads
//! in any space, hand out memory, attach interrupts and signal with `Notify`. X.2
//! restricts the same calls to privileged threads. The paper's pagers, which create
//! threads in the per-node spaces of a task, are trusted system components and run
//! privileged. **Groups** are the finer authority a NUMA program needs over itself:
//! the spaces of one program share a group number (set by a privileged thread with
//! `SpaceControl`), and an unprivileged thread may move its group's threads between
//! its group's spaces and notify its group's threads, nothing else
//! ([`syscall::SpaceControlFlags`]).
//!
//! The per-syscall details (every bit of every control word, every error) are on the
//! variants of [`Syscall`].
//!
//! ## Where and why this deviates from L4 X.2
//! - **The syscall number is in `x8`, not in the trap instruction or a jump table in
//!   the KIP.** X.2 reaches each syscall through an address published in the KIP.
//!   AArch64 has one trap instruction whose immediate is awkward to read (the kernel
//!   would have to fetch the `svc` from user memory or decode `ESR_EL1.ISS`), while a
//!   register is free and matches what Linux and other AArch64 kernels do. All eight
//!   argument registers `x0..x7` then stay free for arguments, so an IPC carries
//!   MR0..MR4 in registers.
//! - **Thread ids are always 64 bits, split 48/16** (number/version; see [`thread`]).
//!   X.2 ties the id's width and split to the machine word; a fixed 64-bit id with a
//!   48-bit number leaves room for every thread a many-node machine runs, and a 16-bit
//!   version makes a stale id (a thread number reused after deletion) detectable for
//!   65535 generations. Ids travel in one register either way.
//! - **`MemoryControl` replaces sigma0's 1:1 window onto physical memory.** In X.2 the
//!   first pager owns all of RAM and hands it out by physical address, so which node a
//!   frame comes from is invisible to the kernel's own allocator and racy against it.
//!   Here frames are handed to user level *by node*, from the same per-node pools the
//!   kernel allocates from; each block becomes a mapping-database root owned by the
//!   caller's space. Which node to ask is the pager's decision: NUMA policy lives at
//!   user level, the kernel only offers the local primitive.
//! - **Timeouts are microseconds in two `u32`s** (see [`timeout`]), instead of X.2's
//!   16-bit mantissa/exponent format: the counter frequency is known from the KIP and
//!   a plain number is easier to get right.
//! - **No string items and no propagation** in v1: the only typed items
//!   are map and grant, and the tag's propagate flag must be 0.
//!
//! ## Stability
//! Every number in this crate is stable once released: numbers are never reassigned,
//! only appended. The tests at the bottom of each module compare the numbers against
//! the design brief's tables, so renumbering fails a test.
//!
//! # Map of the crate
//! | module | holds |
//! |---|---|
//! | [`syscall`] | the syscall numbers, register roles, control words |
//! | [`error`] | the status numbers returned in `x0` |
//! | [`thread`] | thread ids, NIL/ANY, interrupt pseudo-threads |
//! | [`fpage`] | flexpages and access rights |
//! | [`message`] | the message tag, map/grant items, a view over the message registers |
//! | [`timeout`] | the send/receive timeouts of `Ipc` |
//! | [`fault`] | page-fault, exception and interrupt messages the kernel sends |
//! | [`utcb`] | the user thread control block's layout |
//! | [`kip`] | the kernel interface page's layout and a bounds-checked reader |
//! | [`introspect`] | `Introspect` queries and their answers |
//! | [`memory_control`] | `MemoryControl` flags |
//!
//! # References
//! - L4 eXperimental Kernel Reference Manual, Version X.2 (L4Ka team, 2011), for the
//!   semantics this ABI keeps: chapters 2 (ids, KIP), 3 (threads, UTCB), 4 (address
//!   spaces, flexpages), 5 (IPC), 6 (page faults, exceptions).
//! - Kupferschmied, Stoess, Bellosa: "NUMA-Aware User-Level Memory Management for
//!   Microkernel-Based Operating Systems", for home nodes and per-node pagers.
//! - Arm Architecture Reference Manual (DDI 0487), D1.10 "Exception entry" for `svc`,
//!   `ESR_EL1`, `FAR_EL1` and `ELR_EL1` as they appear in exception messages.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

pub mod call;
pub mod error;
pub mod fault;
pub mod fpage;
pub mod introspect;
pub mod kip;
pub mod memory_control;
pub mod message;
pub mod syscall;
pub mod thread;
pub mod timeout;
pub mod utcb;

pub use error::Error;
pub use fpage::{Fpage, FpageError, Rights};
pub use kip::Kip;
pub use message::{Message, Tag, TypedItem};
pub use syscall::Syscall;
pub use thread::ThreadId;
pub use timeout::{Timeout, Timeouts};
pub use utcb::Utcb;

/// The ABI version this crate describes; `KernelInterface` returns it in `x2` and the
/// KIP holds it in [`Kip::abi_version`].
pub const ABI_VERSION: u32 = 1;

/// The page size of every address space (4 KiB granule).
pub const PAGE_SIZE: u64 = 4096;

/// The size of a user address space: virtual addresses `0..USER_ADDRESS_LIMIT` (48
/// bits, one TTBR0 table tree).
pub const USER_ADDRESS_LIMIT: u64 = 1 << 48;

/// Most CPUs the kernel runs on, and the length of the KIP's per-CPU table.
///
/// Matches `platform::MAX_CPUS`; it is repeated here so that user programs need not
/// depend on `platform` (a test in the workspace ties the two).
pub const MAX_CPUS: usize = 512;

/// Most NUMA nodes (node numbers are `0..MAX_NODES`), and the side of the KIP's
/// distance matrix.
///
/// Matches `platform::MAX_NODES`; repeated here for the same reason as [`MAX_CPUS`].
pub const MAX_NODES: usize = 64;

/// Most memory descriptors the KIP holds.
///
/// Matches `platform::MAX_MEMORY_RANGES`; repeated here for the same reason as
/// [`MAX_CPUS`].
pub const MAX_MEMORY_DESCRIPTORS: usize = 128;
