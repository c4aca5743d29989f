// SPDX-License-Identifier: MIT OR Apache-2.0
//! ACPI: the board from the tables UEFI firmware hands over, instead of a device tree.
//!
//! Arm servers (Ampere, Kunpeng, Grace, ThunderX2) and QEMU `virt` booted through
//! EDK2 describe themselves with ACPI, not a device tree: CPUs and the GIC in the MADT,
//! NUMA in the SRAT and SLIT, packaging in the PPTT, the timer in the GTDT, PSCI in
//! the FADT, the console in the SPCR. This module reads those tables into the same
//! [`Board`] the device-tree path builds ([`Board::from_acpi`] /
//! [`Board::parse_acpi`]), so nothing above it changes; [`Board::firmware`] says which
//! path made it. The kernel gives the parser the RSDP's physical address (from the UEFI
//! configuration table, handed over by the loader in its stub device tree: see
//! [`crate::acpi_rsdp_of`]) and an [`AcpiMemory`] that maps the pages asked for into a
//! kernel window (`kernel/src/mm/window.rs`); host tests give a fake memory
//! ([`MemoryWindow`]s) with tables at chosen addresses. What ACPI does not say (command
//! line, initrd, reserved ranges, and memory without an SRAT) comes from that stub tree
//! ([`Board::parse_acpi_handover`]).
//!
//! Reading order: `table` (RSDP, XSDT, headers, checksums), `madt`, `srat`, `slit`,
//! `pptt`, `gtdt`, `fadt`, `spcr` (one table each), then `board` (how they combine).
//!
//! # Design
//!
//! *Validate, then assume*, as for the device tree: every table is found through the
//! XSDT, its length checked against the memory and its checksum verified before a
//! field is read; structures are walked by their length bytes, each checked against its
//! type's size and the table's end; every read returns `Option`. No `unsafe`, no
//! allocation, no panics: fixed capacities (`MAX_CPUS`, `MAX_NODES`, ...) bound every
//! list, and exceeding one is an error.
//!
//! *The same board as the device tree.* For a machine both describe (QEMU `virt` with
//! `acpi=on` and `acpi=off`), both paths give the same CPUs in the same order (MADT
//! GICC order is QEMU's CPU order), MPIDRs, nodes, memory, distances, clusters, GIC,
//! timer PPIs, PSCI conduit and console; `tests/acpi_qemu.rs` checks it on tables
//! captured from QEMU 7.2 + EDK2. Where ACPI says less, the board says less: no
//! `clock-frequency` (firmware must program `CNTFRQ_EL0`), PSCI version 0.2 (ACPI
//! guarantees no more), no command line, initrd or reserved ranges (those come from
//! UEFI, not ACPI).
//!
//! *Proximity domains become node ids in ascending order*: the domains that have an
//! enabled CPU or present memory, sorted, are nodes `0, 1, 2, ...`. QEMU numbers
//! domains as its `-numa nodeid`, which is also the device tree's `numa-node-id`, so
//! with dense domains (QEMU's, and every server's we know of) node `k` is domain `k` on
//! both paths. Sorting, not first appearance (Linux's rule), makes the numbering
//! independent of the order of SRAT structures, which differs between firmware.
//!
//! *Memory* is the SRAT's enabled, non-hot-pluggable memory ranges: on a NUMA machine
//! that is where the RAM is. RAM present at boot is known exactly only from the UEFI
//! memory map: the loader puts the map's RAM in its stub tree's `/memory` nodes, which
//! the kernel takes, on node 0, when there is no SRAT. With an SRAT its ranges are used
//! as they are, as the device tree's memory nodes are (RAM as a whole), and what the
//! firmware keeps inside them is reserved by the stub's `/memreserve/` entries; an
//! intersection with the map would only matter for SRAT ranges with holes that are not
//! RAM, which no firmware we boot on has.
//!
//! # Errors and fallbacks
//!
//! The rule is the device tree's: what describes the topology (CPUs, memory, NUMA)
//! must be right or the kernel would place data on the wrong node, so a contradiction
//! there is an error; optional devices fall back to "absent" with a warning.
//!
//! | case | fatal or fallback | error kind / warning |
//! |---|---|---|
//! | RSDP/XSDT/a table or XSDT entry outside readable memory | fatal | `Unreadable` |
//! | RSDP signature not `RSD PTR `; XSDT signature not `XSDT` | fatal | `BadSignature` |
//! | checksum (RSDP: both; every table read) not zero | fatal | `BadChecksum` |
//! | length below the header or the table's fixed fields | fatal | `BadLength` |
//! | XSDT not whole 8-byte entries | fatal | `RaggedXsdt` |
//! | RSDP revision 0 (ACPI 1.0, no XSDT) | fatal | `RsdpTooOld` |
//! | table revision older than supported (MADT < 3, SRAT < 3, GTDT < 2, PPTT/SPCR < 1) | fatal | `RevisionTooOld` |
//! | FADT version below 5.1 | fatal | `FadtTooOld` |
//! | revision newer than known (MADT > 6, SRAT 3, SLIT 1, PPTT 3, GTDT 3, SPCR 4, FADT 6.5, XSDT 1) | fallback: read as newest known | `NewerRevision` |
//! | two tables with one signature (of those read) | fatal | `DuplicateTable` |
//! | null XSDT entry | fallback: skipped | `NullXsdtEntry` |
//! | no MADT | fatal | `MissingTable` |
//! | structure length below 2, past the table, or short for its type | fatal | `BadStructure` |
//! | no enabled GICC | fatal | `NoCpus` |
//! | GICC disabled (online-capable or not) | skipped (not a CPU) | none |
//! | GICC MPIDR with non-affinity bits; two with one MPIDR; over `MAX_CPUS` | fatal | `Board(InvalidMpidr / DuplicateMpidr / TooManyCpus)` |
//! | two enabled GICCs with one UID | fatal | `DuplicateUid` |
//! | no GICD | fallback: `gic = None` | `NoGicd` |
//! | two GICDs | fatal | `DuplicateGicd` |
//! | GIC version 0 (unspecified) | fallback: v3 if GICR structures or GICC GICR bases exist, else v2 | none |
//! | GIC version 5 or more | fallback: `gic = None` | `UnknownGicVersion` |
//! | GICv3 without GICR structures and a GICC without GICR base; over `MAX_REDIST_REGIONS` regions | fallback: `gic = None` | `NoRedistributors` |
//! | no SRAT | fallback: one node 0, no memory | `TableMissing(SRAT)`, `NoMemory` |
//! | enabled GICC without an enabled SRAT GICC affinity | fatal | `CpuWithoutAffinity` |
//! | one CPU in two domains | fatal | `ConflictingAffinity` |
//! | GICC affinity for a UID no GICC has | fallback: ignored | `AffinityForUnknownCpu` |
//! | GICC affinity for a disabled GICC | ignored | none |
//! | domain with CPUs and no memory | memory-less node (as in the device tree) | none |
//! | enabled empty memory range in a domain with neither CPUs nor memory | fatal | `EmptyDomain` |
//! | enabled empty memory range in a domain with CPUs or memory | fallback: skipped | `EmptyMemoryRange` |
//! | hot-pluggable memory range | fallback: skipped | `HotplugMemorySkipped` |
//! | disabled affinity structures, other affinity types | ignored | none |
//! | more than `MAX_NODES` domains | fatal | `TooManyDomains` |
//! | memory of two nodes overlaps / `base + length` overflows / over `MAX_MEMORY_RANGES` | fatal | `Board(MemoryOverlap / RangeOverflow / TooManyMemoryRanges)` |
//! | memory of one node overlaps | fallback: union counted | `MemoryOverlapSameNode` |
//! | several nodes and no SLIT | fallback: 10 / 20 | `NoDistanceMap` |
//! | SLIT shorter than N x N | fatal | `SlitTruncated` |
//! | SLIT diagonal not 10 (any locality) | fatal | `SlitSelfDistance` |
//! | SLIT off-diagonal 10 or less (any pair) | fatal | `SlitDistanceTooSmall` |
//! | SLIT value 255 (unreachable) | kept as 255, the farthest | `Unreachable` |
//! | SRAT domain beyond the SLIT's localities | fatal | `DomainNotInSlit` |
//! | SLIT localities that are no SRAT domain (or a SLIT without SRAT) | fallback: ignored | `SlitExtraLocalities` |
//! | no PPTT | fallback: no clusters (topology unknown) | `TableMissing(PPTT)` |
//! | PPTT parent not a processor node; chain deeper than [`MAX_PPTT_DEPTH`] or a loop | fatal | `PpttBadParent` / `PpttTooDeep` |
//! | PPTT leaf naming no GICC / a CPU twice / a CPU in no leaf | fallback: ignored / first kept / topology unknown | `PpttUnknownProcessor` / `PpttDuplicate` / `CpuMissingFromPptt` |
//! | no GTDT | fallback: `timer = None` | `TableMissing(GTDT)` |
//! | GTDT GSIV 0 | that PPI `None` (not provided) | none |
//! | GTDT GSIV not a PPI (16-31) | fallback: that PPI `None` | `TimerNotPpi` |
//! | no FADT | fallback: `psci = None` | `TableMissing(FACP)` |
//! | FADT without PSCI_COMPLIANT | fallback: `psci = None`, no enable method | `NoPsci` |
//! | no SPCR | fallback: no console | `TableMissing(SPCR)` |
//! | SPCR base 0 / not in memory space | fallback: no console | `ConsoleDisabled` / `ConsoleNotMmio` |
//! | SPCR interface type unknown | fallback: `UartKind::Other("unknown")` | `UnknownConsoleType` |
//!
//! Tables other than these eight (DSDT, MCFG, IORT, ...) are not read; only their
//! XSDT entry's header must be readable.
//!
//! # Invariants
//!
//! For a `Board` returned by `from_acpi`, the device-tree path's invariants hold
//! (non-empty `cpus` with unique MPIDRs, every CPU and memory range on a node in
//! `nodes()`, memory sorted without zero sizes or cross-node overlaps, `distance(a, a)
//! == 10`, `distance(a, b) > 10`), and `firmware() == Firmware::Acpi`.
//!
//! # References
//!
//! - ACPI Specification 6.5: 5.2.5 RSDP, 5.2.6 header, 5.2.8 XSDT, 5.2.9 FADT,
//!   5.2.12 MADT, 5.2.16 SRAT, 5.2.17 SLIT, 5.2.25 GTDT, 5.2.30 PPTT.
//! - Arm, "ACPI for Arm Components" / Base Boot Requirements (DEN0044): which tables an
//!   Arm server must have, PSCI over ACPI, `CNTFRQ_EL0` set by firmware.
//! - Microsoft, SPCR and DBG2 specifications (console interface types).
//! - Linux `Documentation/arch/arm64/acpi_object_usage.rst` (what an OS uses from each
//!   table); facts only, no code.
//!
//! [`Board`]: crate::Board
//! [`Board::from_acpi`]: crate::Board::from_acpi
//! [`Board::parse_acpi`]: crate::Board::parse_acpi
//! [`Board::parse_acpi_handover`]: crate::Board::parse_acpi_handover
//! [`Board::firmware`]: crate::Board::firmware
#![forbid(unsafe_code)]

mod board;
mod error;
mod fadt;
mod gtdt;
mod madt;
mod pptt;
mod slit;
mod spcr;
mod srat;
mod table;

#[cfg(test)]
pub(crate) mod builder;
#[cfg(test)]
mod tests;

pub use board::console;
pub use error::{AcpiError, AcpiErrorKind, AcpiWarning, Signature};
pub use pptt::MAX_PPTT_DEPTH;
pub use spcr::SPCR_PATH;
pub use table::{AcpiMemory, MemoryWindow};
