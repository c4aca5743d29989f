// SPDX-License-Identifier: MIT OR Apache-2.0
//! The host side of numa-l4: QEMU machines, the boot runner, and the boot tests.
//!
//! The kernel runs on an emulated AArch64 server; everything that prepares that machine,
//! watches it and judges what it printed runs on the host and lives here, as plain `std` Rust
//! that `cargo test` checks without starting QEMU. The pieces, in the order data flows:
//!
//! 1. [`topology`]: a NUMA spec (`--node cpus=2,mem=512M --dist 0-1=20`) parsed and validated;
//! 2. [`qemu`]: the spec turned into a QEMU `virt` command line, following QEMU's NUMA rules;
//! 3. [`runner`]: QEMU started, its serial line streamed and captured, a deadline enforced;
//! 4. [`symbolize`]: backtrace addresses resolved against the kernel ELF as they stream by;
//! 5. [`numactl`] and the `report` crate (`kernel/report`): what the output must contain,
//!    computed from the spec alone, and the kernel's `report:` lines parsed;
//! 6. [`boot`]: the boot-test matrix and the judgement of each boot; [`dtb`] edits QEMU's
//!    device tree for the machines QEMU cannot build from options.
//!
//! The binaries are thin: `qemu-run` (behind `scripts/run`), `boot-tests` (the QEMU stage of
//! `scripts/test`), `topology` (behind `scripts/topology`, the device-tree parser on a
//! `.dtb` file) and `mkinitrd` (packs the user programs into the initrd and checks it, see
//! [`initrd`]). [`cli`] holds `qemu-run`'s option parsing so that it is tested too.
//! [`plot`] draws the benchmark results as SVG charts for the book, with no plotting
//! dependency; [`doccheck`] checks that the book and the README name only files, items and
//! links that exist (`doc-check`, a stage of `scripts/test`).

#![forbid(unsafe_code)]

pub mod boot;
pub mod cli;
pub mod corpus;
pub mod doccheck;
pub mod dtb;
pub mod eval;
pub mod failures;
pub mod initrd;
pub mod numactl;
pub mod plot;
pub mod qemu;
pub mod runner;
pub mod symbolize;
pub mod topology;
