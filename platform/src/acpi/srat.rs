// SPDX-License-Identifier: MIT OR Apache-2.0
//! SRAT: which proximity domain (NUMA node) each CPU and each memory range is in.
//!
//! The System Resource Affinity Table is ACPI's `numa-node-id`: a list of affinity
//! structures, each tying a resource to a *proximity domain*, a 32-bit number the
//! firmware chooses. On Arm the two that matter are the GICC affinity (a CPU, named
//! by its ACPI processor UID from the MADT) and the memory affinity (a physical range).
//! Domains are turned into dense node ids in [`crate::acpi`] (sorted, see there).
//!
//! ```text
//! SRAT: header | 36 Reserved u32 (1) | 40 Reserved u64 | 48 structures...
//! Memory Affinity (type 1, 40 bytes): 2 Proximity Domain u32   8 Base Address u64
//!   16 Length u64   28 Flags u32 (bit 0 Enabled, bit 1 Hot Pluggable, bit 2 NonVolatile)
//! GICC Affinity (type 3, 18 bytes): 2 Proximity Domain u32   6 ACPI Processor UID u32
//!   10 Flags u32 (bit 0 Enabled)   14 Clock Domain u32
//! ```
//!
//! Structures with the Enabled flag clear are to be ignored (ACPI 6.5, 5.2.16.2 and
//! 5.2.16.4), as are the x86 and ITS/initiator affinity types.
//!
//! # References
//!
//! - ACPI 6.5, 5.2.16 (SRAT), 5.2.16.2 (Memory Affinity), 5.2.16.4 (GICC Affinity).
#![forbid(unsafe_code)]

use crate::acpi::error::{AcpiError, AcpiWarning, Signature};
use crate::acpi::table::{Structure, Table};

/// Oldest SRAT revision read (ACPI 5.1 added the GICC affinity to revision 3).
pub(crate) const MIN_REVISION: u8 = 3;
/// Newest SRAT revision known (ACPI 6.5 is still 3).
pub(crate) const NEWEST_REVISION: u8 = 3;

const MEMORY: u8 = 1;
const GICC: u8 = 3;
const MEMORY_LEN: usize = 40;
const GICC_LEN: usize = 18;
const ENABLED: u32 = 1 << 0;
const HOT_PLUGGABLE: u32 = 1 << 1;

/// An affinity structure this parser uses (only enabled ones are returned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Affinity {
    Cpu { uid: u32, domain: u32 },
    Memory { offset: usize, base: u64, length: u64, domain: u32, hotplug: bool },
    Other,
}

/// An SRAT whose revision and length have been checked.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Srat<'m>(Table<'m>);

impl<'m> Srat<'m> {
    pub fn new(table: Table<'m>, warn: &mut dyn FnMut(AcpiWarning)) -> Result<Srat<'m>, AcpiError> {
        table.check_revision(MIN_REVISION, NEWEST_REVISION, warn)?;
        table.need_len(48)?;
        Ok(Srat(table))
    }

    /// The enabled affinity structures, decoded (disabled ones read as `Other`).
    pub fn entries(&self) -> impl Iterator<Item = Result<Affinity, AcpiError>> + 'm {
        self.0.structures(48).map(|s| s.and_then(decode))
    }
}

fn decode(s: Structure<'_>) -> Result<Affinity, AcpiError> {
    let sig = Signature::SRAT;
    Ok(match s.kind {
        MEMORY => {
            s.need(sig, MEMORY_LEN)?;
            let flags = s.u32(28).unwrap_or(0);
            if flags & ENABLED == 0 {
                return Ok(Affinity::Other);
            }
            Affinity::Memory {
                offset: s.offset,
                base: s.u64(8).unwrap_or(0),
                length: s.u64(16).unwrap_or(0),
                domain: s.u32(2).unwrap_or(0),
                hotplug: flags & HOT_PLUGGABLE != 0,
            }
        }
        GICC => {
            s.need(sig, GICC_LEN)?;
            if s.u32(10).unwrap_or(0) & ENABLED == 0 {
                return Ok(Affinity::Other);
            }
            Affinity::Cpu { uid: s.u32(6).unwrap_or(0), domain: s.u32(2).unwrap_or(0) }
        }
        _ => Affinity::Other,
    })
}
