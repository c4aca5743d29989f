// SPDX-License-Identifier: MIT OR Apache-2.0
//! MADT: the CPUs (one GICC structure each) and the GIC (distributor, redistributors).
//!
//! On an Arm ACPI system the MADT is where CPUs are listed: every logical CPU has a
//! GIC CPU interface (GICC) structure giving its MPIDR, its ACPI processor UID (the
//! key the SRAT and the PPTT use to name it) and whether it is enabled. The same table
//! describes the interrupt controller: one GIC distributor (GICD, with the GIC
//! version), the GICv3 redistributor regions (GICR structures) or, when the
//! redistributors are not in an always-on power domain, one redistributor base per
//! GICC, plus ITS and MSI frames this kernel does not use.
//!
//! ```text
//! MADT: header | 36 Local Interrupt Controller Address u32 | 40 Flags u32 | 44 structures...
//! GICC (0xB, 76 bytes in ACPI 5.1, 80 in 6.0-6.4, 82 in 6.5):
//!   4 CPU Interface Number u32   8 ACPI Processor UID u32   12 Flags u32
//!   16 Parking Protocol Version u32   20 Performance Interrupt GSIV u32
//!   24 Parked Address u64   32 Physical Base Address u64 (GICv2 CPU interface)
//!   40 GICV u64   48 GICH u64   56 VGIC Maintenance Interrupt u32
//!   60 GICR Base Address u64   68 MPIDR u64   76 Power Efficiency Class u8
//!   78 SPE Overflow Interrupt u16 (6.3)   80 TRBE Interrupt u16 (6.5)
//!   Flags: bit 0 Enabled, bit 3 Online Capable (6.5).
//! GICD (0xC, 24): 4 GIC ID u32   8 Physical Base Address u64   20 GIC Version u8
//! GICR (0xE, 16): 4 Discovery Range Base Address u64   12 Discovery Range Length u32
//! ```
//!
//! Only the fields up to the MPIDR are read, so any GICC of 76 bytes or more is
//! accepted whatever the MADT's revision says (Linux does the same: firmware mixes
//! them up).
//!
//! # References
//!
//! - ACPI 6.5, 5.2.12 (MADT), 5.2.12.14 (GICC), 5.2.12.15 (GICD), 5.2.12.17 (GICR).
//! - Arm GIC architecture specification (IHI 0069): redistributor frames of 128 KiB
//!   (GICv3) or 256 KiB (GICv4).
#![forbid(unsafe_code)]

use crate::acpi::error::{AcpiError, AcpiWarning, Signature};
use crate::acpi::table::{Structure, Table};

/// Oldest MADT revision read (ACPI 5.0/5.1, the first with GICC structures).
pub(crate) const MIN_REVISION: u8 = 3;
/// Newest MADT revision known (ACPI 6.5).
pub(crate) const NEWEST_REVISION: u8 = 6;

const GICC: u8 = 0x0B;
const GICD: u8 = 0x0C;
const GICR: u8 = 0x0E;
const GICC_MIN_LEN: usize = 76;
const GICD_LEN: usize = 24;
const GICR_LEN: usize = 16;
const GICC_ENABLED: u32 = 1 << 0;

/// One GICC structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Gicc {
    pub offset: usize,
    pub uid: u32,
    pub enabled: bool,
    pub cpu_interface_base: u64,
    pub gicr_base: u64,
    pub mpidr: u64,
}

/// A MADT structure this parser uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    Gicc(Gicc),
    Gicd { offset: usize, base: u64, version: u8 },
    Gicr { base: u64, length: u32 },
    Other,
}

/// A MADT whose revision and length have been checked.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Madt<'m>(Table<'m>);

impl<'m> Madt<'m> {
    pub fn new(table: Table<'m>, warn: &mut dyn FnMut(AcpiWarning)) -> Result<Madt<'m>, AcpiError> {
        table.check_revision(MIN_REVISION, NEWEST_REVISION, warn)?;
        table.need_len(44)?;
        Ok(Madt(table))
    }

    /// The structures, decoded; a malformed one is an error.
    pub fn entries(&self) -> impl Iterator<Item = Result<Entry, AcpiError>> + 'm {
        self.0.structures(44).map(|s| s.and_then(decode))
    }

    /// The GICCs (errors in other structures are left to [`Madt::entries`]).
    pub fn giccs(&self) -> impl Iterator<Item = Gicc> + 'm {
        self.entries().filter_map(|e| match e {
            Ok(Entry::Gicc(g)) => Some(g),
            _ => None,
        })
    }

    /// True when some GICC, enabled or not, has this UID.
    pub fn has_uid(&self, uid: u32) -> bool {
        self.giccs().any(|g| g.uid == uid)
    }
}

fn decode(s: Structure<'_>) -> Result<Entry, AcpiError> {
    let sig = Signature::MADT;
    Ok(match s.kind {
        GICC => {
            s.need(sig, GICC_MIN_LEN)?;
            Entry::Gicc(Gicc {
                offset: s.offset,
                uid: s.u32(8).unwrap_or(0),
                enabled: s.u32(12).unwrap_or(0) & GICC_ENABLED != 0,
                cpu_interface_base: s.u64(32).unwrap_or(0),
                gicr_base: s.u64(60).unwrap_or(0),
                mpidr: s.u64(68).unwrap_or(0),
            })
        }
        GICD => {
            s.need(sig, GICD_LEN)?;
            Entry::Gicd { offset: s.offset, base: s.u64(8).unwrap_or(0), version: s.u8(20).unwrap_or(0) }
        }
        GICR => {
            s.need(sig, GICR_LEN)?;
            Entry::Gicr { base: s.u64(4).unwrap_or(0), length: s.u32(12).unwrap_or(0) }
        }
        _ => Entry::Other,
    })
}
