// SPDX-License-Identifier: MIT OR Apache-2.0
//! memplugin: a QEMU TCG plugin that counts the guest's local and remote memory accesses.
//!
//! The paper's evaluation (issue 5) compares one address space with per-node spaces by the
//! fraction of memory accesses that cross nodes. The kernel can count what it does on
//! purpose, but a count that the measured system keeps about itself cannot show what it
//! gets wrong: a frame allocated on the wrong node, a page table or kernel object on a
//! remote node, a pager that touches a neighbour's memory. This plugin measures the same
//! quantity from outside: QEMU calls it on every load and store the guest (kernel and user
//! alike) executes, with the physical address; it classifies the address by the node whose
//! RAM holds it, and at exit writes per-(cpu node, memory node) counts and the remote
//! fraction as `report:` lines. It knows only what it is told on the command line, so it
//! shares no code, and no bug, with the kernel's view of the topology.
//!
//! # Use
//!
//! ```text
//! cargo build -p memplugin --release          # -> target/release/libmemplugin.so
//! qemu-system-aarch64 -M virt-5.0,gic-version=3 -cpu cortex-a53 -smp 2 -m 512M \
//!     -numa node,nodeid=0,cpus=0,mem=256M -numa node,nodeid=1,cpus=1,mem=256M \
//!     -icount shift=0 -nographic -nic none -semihosting \
//!     -kernel target/kernel.img -initrd target/programs/initrd.cpio -append exit=semihosting \
//!     -plugin target/release/libmemplugin.so,out=/tmp/mem.txt,cpu=0:0,cpu=1:1,mem=0x40000000:0x10000000:0,mem=0x50000000:0x10000000:1
//! ```
//!
//! Arguments ([`config`]): `out=PATH` (required), `cpu=VCPU:NODE` (repeatable; vCPUs not
//! named count as `cpu-node=unknown`), `mem=START:SIZE:NODE` (repeatable, at least one).
//! A bad argument makes the install fail with a message on stderr, and QEMU does not start.
//! The report format is in [`report`].
//!
//! # Caveats
//!
//! - QEMU 7.2 hands plugins wrong physical addresses for RAM given as `memdev` NUMA nodes
//!   (fixed in QEMU 8.2): use `-M virt-5.0` with `-numa node,mem=SIZE`, which builds the same
//!   NUMA device tree, as above. The nodes' RAM is then contiguous from `0x4000_0000`, in
//!   node order.
//! - QEMU shows plugins data accesses only: no instruction fetches and no page-table walks,
//!   so a remote page table is invisible here.
//! - Spin-waits count: a vCPU polling a lock or flag on another node makes remote loads for
//!   as long as it spins, and how long that is depends on how QEMU schedules the vCPUs. Use
//!   `-icount shift=0` (one vCPU at a time, time counted in instructions): repeated runs then
//!   agree to a few hundredths of a percent. Without it the counts follow host timing (the
//!   demo measured 0.52 remote without, 0.88 with `-icount`).
//! - Every access costs a call into the plugin: the guest runs several times slower.
//!
//! # Layout
//!
//! [`config`] parses the arguments, [`counters`] holds the per-vCPU atomic counters,
//! [`lines`] the measured windows and the cache-line transfer model, [`report`] turns
//! them into the report; all four are safe, host-tested Rust.
//!
//! # Windows and line transfers
//!
//! A guest marks the phase to measure with `hint #126` (open) and `hint #127` (close),
//! NOPs on any CPU ([`lines`]). Inside windows the plugin counts accesses again, apart
//! (`report: memwindow`), and counts cache-line transfers between vCPUs, by level and
//! by same / other node, with the lines that moved most (`report: linetransfer`,
//! `report: linetransfer-top`): so the boot stays out of run-time figures, and a line
//! every CPU writes shows up with its address. The FFI layer
//! is `qemu.rs` (our declarations of the QEMU plugin API v1) and `plugin.rs` (the exported
//! symbols and callbacks); it is left out of `cargo test` builds, whose test binaries could
//! not resolve QEMU's symbols.

pub mod config;
pub mod counters;
pub mod lines;
pub mod report;

#[cfg(not(test))]
mod plugin;
#[cfg(not(test))]
mod qemu;
