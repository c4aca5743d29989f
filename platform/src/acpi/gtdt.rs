// SPDX-License-Identifier: MIT OR Apache-2.0
//! GTDT: the generic timer's interrupts.
//!
//! The Generic Timer Description Table gives, for each per-CPU timer of the Arm
//! generic timer, its interrupt as a GSIV. Timer interrupts are PPIs, GIC INTIDs
//! 16-31, and a GSIV is the INTID itself, so the device tree's PPI number (what
//! [`crate::Timer`] holds) is `GSIV - 16`. A GSIV of 0 means "not provided" (the
//! secure timer, typically, when the OS may not use it). The counter's frequency is not
//! in the table: on ACPI systems firmware must program `CNTFRQ_EL0` (Arm BBR), so
//! `clock_frequency` is `None`.
//!
//! ```text
//! GTDT: header | 36 CntControlBase u64 | 44 Reserved u32
//!   48 Secure EL1 GSIV u32  52 flags | 56 Non-secure EL1 GSIV u32  60 flags
//!   64 Virtual EL1 GSIV u32  68 flags | 72 EL2 GSIV u32  76 flags
//!   80 CntReadBase u64 | 88 Platform Timer Count u32 | 92 Platform Timer Offset u32
//!   (revision 3: 96 Virtual EL2 GSIV u32  100 flags)
//! ```
//!
//! # References
//!
//! - ACPI 6.5, 5.2.25 (GTDT); Arm Base Boot Requirements (DEN0044), `CNTFRQ_EL0`.
#![forbid(unsafe_code)]

use crate::acpi::error::{AcpiError, AcpiWarning};
use crate::acpi::table::Table;
use crate::board::Timer;

/// Oldest GTDT revision read (ACPI 5.1).
pub(crate) const MIN_REVISION: u8 = 2;
/// Newest GTDT revision known (ACPI 6.3-6.5: the EL2 virtual timer).
pub(crate) const NEWEST_REVISION: u8 = 3;

/// The four timer PPIs of the board's [`Timer`], from the table's four GSIVs.
pub(crate) fn timer(table: Table<'_>, warn: &mut dyn FnMut(AcpiWarning)) -> Result<Timer, AcpiError> {
    table.check_revision(MIN_REVISION, NEWEST_REVISION, warn)?;
    table.need_len(96)?;
    let mut ppi = |offset: usize| match table.u32(offset).unwrap_or(0) {
        0 => None,
        gsiv @ 16..=31 => Some(gsiv - 16),
        gsiv => {
            warn(AcpiWarning::TimerNotPpi { gsiv });
            None
        }
    };
    Ok(Timer {
        clock_frequency: None,
        secure_phys_ppi: ppi(48),
        phys_ppi: ppi(56),
        virt_ppi: ppi(64),
        hyp_ppi: ppi(72),
    })
}
