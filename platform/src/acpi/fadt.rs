// SPDX-License-Identifier: MIT OR Apache-2.0
//! FADT: the ACPI version, and how to call PSCI.
//!
//! The Fixed ACPI Description Table is mostly about x86 power-management hardware; an
//! Arm system is "hardware-reduced" and uses three of its fields: the major version
//! (the table's revision), the minor version (byte 131, added in ACPI 5.1) and the
//! `ARM_BOOT_ARCH` flags (bytes 129-130): bit 0 `PSCI_COMPLIANT`, bit 1 `PSCI_USE_HVC`
//! (set: call PSCI with `hvc`, clear: with `smc`). ACPI for Arm starts at 5.1, so an
//! older FADT is refused. ACPI has no field for the PSCI version or for function ids:
//! PSCI over ACPI means PSCI 0.2 or later with the standard ids, so the board records
//! [`PsciVersion::V0_2`] (firmware may be newer; `PSCI_VERSION` tells at run time).
//!
//! # References
//!
//! - ACPI 6.5, 5.2.9 (FADT: Flags at 112, ARM_BOOT_ARCH at 129, FADT Minor Version at
//!   131), 5.2.9.4 (ARM Architecture Boot Flags).
//! - Arm DEN0022 (PSCI), function ids of `CPU_ON` (SMC64) and `SYSTEM_OFF`.
#![forbid(unsafe_code)]

use crate::acpi::error::{AcpiError, AcpiErrorKind, AcpiWarning, Signature};
use crate::acpi::table::Table;
use crate::board::{Conduit, PSCI_CPU_ON_64, PSCI_SYSTEM_OFF, Psci, PsciVersion};

/// Newest FADT version known: ACPI 6.5.
pub(crate) const NEWEST_VERSION: (u8, u8) = (6, 5);

const ARM_BOOT_ARCH: usize = 129;
const MINOR_VERSION: usize = 131;
const PSCI_COMPLIANT: u16 = 1 << 0;
const PSCI_USE_HVC: u16 = 1 << 1;

/// PSCI from the FADT: `None` (and a warning) when the firmware is not PSCI compliant.
pub(crate) fn psci(table: Table<'_>, warn: &mut dyn FnMut(AcpiWarning)) -> Result<Option<Psci>, AcpiError> {
    let major = table.revision;
    // The minor version exists from 5.1 on; a shorter table is older.
    let minor = table.u8(MINOR_VERSION).filter(|_| major >= 5).unwrap_or(0);
    if (major, minor) < (5, 1) {
        return Err(AcpiError::new(Signature::FADT, AcpiErrorKind::FadtTooOld { major, minor }));
    }
    table.need_len(MINOR_VERSION + 1)?;
    if (major, minor) > NEWEST_VERSION {
        warn(AcpiWarning::NewerRevision { table: Signature::FADT, revision: major });
    }
    let flags = table.u16(ARM_BOOT_ARCH).unwrap_or(0);
    if flags & PSCI_COMPLIANT == 0 {
        warn(AcpiWarning::NoPsci);
        return Ok(None);
    }
    let conduit = if flags & PSCI_USE_HVC != 0 { Conduit::Hvc } else { Conduit::Smc };
    Ok(Some(Psci {
        conduit,
        version: PsciVersion::V0_2,
        cpu_on: PSCI_CPU_ON_64,
        system_off: Some(PSCI_SYSTEM_OFF),
    }))
}
