// SPDX-License-Identifier: MIT OR Apache-2.0
//! The board, read from the device tree or from ACPI tables: CPUs, memory, NUMA
//! topology and boot devices.
//!
//! A NUMA-aware kernel must know, before it allocates a single byte, which memory is
//! close to which CPU. On arm64 that knowledge arrives in the flattened device tree
//! (DTB) the boot loader passes in `x0`, or, on servers booted through UEFI, in the
//! ACPI tables (MADT, SRAT, SLIT, PPTT, ...) the firmware hands over. This crate turns
//! either into a [`Board`]: plain data the rest of the kernel uses, the same value for
//! the same machine whichever description it came from ([`Board::firmware`] says
//! which), and that host tools print (`numactl` format) to check a DTB without
//! booting it. It also holds the drivers for the devices the kernel itself uses: the
//! PL011 console ([`pl011`]), the GICv3 distributor and redistributors ([`gicv3`]), the
//! GICv2 distributor and CPU interface ([`gicv2`]) and
//! the generic timer's logic ([`timer`]).
//!
//! The device-tree and ACPI modules are pure logic (`#![forbid(unsafe_code)]` each): no
//! allocator, no hardware access. The MMIO drivers have exactly one kind of `unsafe`:
//! the `unsafe fn new(base)` that takes a register block's address, with the safe
//! driver API above it. Everything builds for the host and for
//! `aarch64-unknown-none-softfloat`, and the tests run with plain `cargo test` (the
//! drivers against register blocks faked in host memory).
//!
//! Reading order: [`board`] (what a board is, and the table of errors and fallbacks),
//! [`numa`] (node ids and distances), [`cpumap`] (clusters and cores), [`numactl`]
//! (the printed form), [`dt_check`] (why the parser can trust the blob), `tree` (how it
//! walks it); [`acpi`] (the same board from ACPI tables); then the drivers: [`pl011`],
//! [`gicv3`], [`gicv2`], [`timer`].
//!
//! # Design
//!
//! *Validate, then assume.* [`dt_check`] walks the whole blob once, checking every
//! offset, length, name and token against the Devicetree Specification; only then does
//! the reader (`tree`) navigate it. Topology is read the way Linux reads it
//! (`drivers/of/of_numa.c`), so a DTB that boots Linux NUMA-correctly gives the same
//! nodes, CPU sets and distances here. Every fallback is a named [`Warning`]; every
//! refusal a [`BoardError`] naming node, property and problem.
//!
//! ```text
//!  blob --dt_check--> Layout --tree--> nodes/properties --board--> Board
//!                                                     \--numa/cpumap--/
//!  RSDP --acpi--> XSDT --> MADT, SRAT, SLIT, PPTT, GTDT, FADT, SPCR --> Board
//! ```
//!
//! # Invariants
//!
//! - [`Board::from_fdt`] never panics, whatever bytes it is given (a mutation test feeds
//!   it thousands of corrupted blobs); nor does [`Board::from_acpi`], whatever the
//!   memory holds (`tests/acpi_never_panics.rs`).
//! - Every [`NodeId`] is `< MAX_NODES`; every CPU and memory range has one.
//! - Nothing here allocates: fixed capacities below bound every list, and exceeding one
//!   is an error, never a truncation.
//!
//! # References
//!
//! - Devicetree Specification v0.4 (devicetree.org), chapters 2, 3 and 5.
//! - Linux `Documentation/devicetree/bindings/numa.txt` and `drivers/of/of_numa.c`.
//! - Linux `Documentation/devicetree/bindings/cpu/cpu-topology.txt` (`cpu-map`).
//! - `numactl --hardware` output format (numactl's `numactl.c`, `print_distances`).
//! - ACPI Specification 6.5, chapter 5 (the tables; details in [`acpi`]).

#![cfg_attr(not(test), no_std)]

pub mod acpi;
pub mod board;
pub mod cpumap;
pub mod devices;
pub mod dt_check;
pub mod error;
pub mod fixed;
pub mod gicv2;
pub mod gicv3;
pub mod mmio;
pub mod ns16550;
pub mod numa;
pub mod numactl;
pub mod pl011;
pub mod pl061;
pub mod support;
pub mod timer;
mod tree;
pub mod uart;

#[cfg(test)]
mod dtb_writer;
#[cfg(test)]
mod fake_regs;

pub use acpi::{AcpiError, AcpiErrorKind, AcpiMemory, AcpiWarning, MemoryWindow};
pub use board::{
    ACPI_RSDP_PROPERTY, Board, Chosen, Conduit, Cpu, Device, DeviceProblem, EarlyFacts, EnableMethod,
    Firmware, Gic, MemoryRange, PhysRange, Psci, PsciVersion, Timer, Uart, UartKind, Warning, acpi_rsdp_of,
    console_of, early_facts,
};
pub use cpumap::{Cluster, CpuTopology};
pub use dt_check::DtFault;
pub use error::{BoardError, ErrorKind};
pub use fixed::{FixedVec, Full};
pub use numa::{NodeId, NodeSet};
pub use numactl::Numactl;

/// Most CPUs a board may have (QEMU `virt`'s maximum; big Arm servers have <= 256).
pub const MAX_CPUS: usize = 512;
/// Most NUMA nodes (node ids are `0..MAX_NODES`).
pub const MAX_NODES: usize = 64;
/// Most memory ranges (`reg` entries of memory nodes).
pub const MAX_MEMORY_RANGES: usize = 128;
/// Most reserved ranges (`/memreserve/` plus `/reserved-memory`).
pub const MAX_RESERVED: usize = 64;
