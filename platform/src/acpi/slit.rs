// SPDX-License-Identifier: MIT OR Apache-2.0
//! SLIT: the distance between every pair of proximity domains.
//!
//! The System Locality Information Table is ACPI's `distance-map`: a square matrix of
//! one-byte relative distances, row `i` column `j` being the distance from locality
//! (proximity domain) `i` to locality `j`. As in the device-tree binding, 10 means
//! local and every other pair must be larger; 0-9 are reserved and 255 means "no
//! route" (the memory of `j` cannot be reached from `i`).
//!
//! ```text
//! SLIT: header | 36 Number of System Localities u64 (N) | 44 Entry[N][N] u8
//! ```
//!
//! [`Slit::validate`] checks the whole matrix, not only the rows of the domains the
//! SRAT uses: a corrupt row is a sign of a corrupt table.
//!
//! # References
//!
//! - ACPI 6.5, 5.2.17 (SLIT).
#![forbid(unsafe_code)]

use crate::acpi::error::{AcpiError, AcpiErrorKind, AcpiWarning, Signature};
use crate::acpi::table::Table;
use crate::numa::LOCAL_DISTANCE;

/// The only SLIT revision (ACPI 2.0 to 6.5).
pub(crate) const REVISION: u8 = 1;

/// A SLIT whose revision, length and matrix have been checked.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slit<'m> {
    localities: u64,
    matrix: &'m [u8],
}

impl<'m> Slit<'m> {
    pub fn new(table: Table<'m>, warn: &mut dyn FnMut(AcpiWarning)) -> Result<Slit<'m>, AcpiError> {
        table.check_revision(REVISION, REVISION, warn)?;
        table.need_len(44)?;
        let localities = table.u64(36).unwrap_or(0);
        let truncated = AcpiError::new(Signature::SLIT, AcpiErrorKind::SlitTruncated { localities });
        let cells = localities.checked_mul(localities).ok_or(truncated)?;
        let cells = usize::try_from(cells).map_err(|_| truncated)?;
        let matrix = table.bytes.get(44..).and_then(|m| m.get(..cells)).ok_or(truncated)?;
        let slit = Slit { localities, matrix };
        slit.validate()?;
        Ok(slit)
    }

    /// Checks every entry: 10 on the diagonal, above 10 elsewhere.
    fn validate(&self) -> Result<(), AcpiError> {
        // `matrix.len() == localities^2`, so the row length fits in usize.
        let n = self.localities as usize;
        for (k, &distance) in self.matrix.iter().enumerate() {
            let (from, to) = ((k / n.max(1)) as u64, (k % n.max(1)) as u64);
            let kind = if from == to && distance != LOCAL_DISTANCE {
                AcpiErrorKind::SlitSelfDistance { locality: from, distance }
            } else if from != to && distance <= LOCAL_DISTANCE {
                AcpiErrorKind::SlitDistanceTooSmall { from, to, distance }
            } else {
                continue;
            };
            return Err(AcpiError::at(Signature::SLIT, 44 + k, kind));
        }
        Ok(())
    }

    pub fn localities(&self) -> u64 {
        self.localities
    }

    /// The distance from locality `from` to `to` (`None` beyond the matrix).
    pub fn distance(&self, from: u32, to: u32) -> Option<u8> {
        let (from, to) = (u64::from(from), u64::from(to));
        if from >= self.localities || to >= self.localities {
            return None;
        }
        let index = usize::try_from(from * self.localities + to).ok()?;
        self.matrix.get(index).copied()
    }
}
