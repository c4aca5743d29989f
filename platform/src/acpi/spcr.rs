// SPDX-License-Identifier: MIT OR Apache-2.0
//! SPCR: the console UART.
//!
//! The Serial Port Console Redirection table is ACPI's `/chosen/stdout-path`: the
//! UART the firmware used as its console, as an interface type and a Generic Address
//! Structure (GAS). The interface types of revision 2 and later are the serial
//! subtypes of Microsoft's DBG2 specification; revision 1 knew only 16550 (0) and
//! 16450 (1). The board records the UART the way the device-tree path does: a PL011
//! as [`UartKind::Pl011`], a 16550 or 16450 as [`UartKind::Ns16550`] (byte-wide, or
//! 32-bit when the GAS of interface 0x12 says so), the BCM2835 mini-UART as
//! [`UartKind::Bcm2835Aux`] (the kinds the kernel drives), anything else as
//! [`UartKind::Other`] with the device-tree compatible string of that kind (the SBSA
//! generic UART, a PL011 subset without baud-rate or line control, is
//! `arm,sbsa-uart`), and the configured baud rate as the `options` a `stdout-path`
//! would carry.
//!
//! ```text
//! SPCR: header | 36 Interface Type u8 | 37 Reserved[3]
//!   40 Base Address (GAS: 40 Space ID u8, 41 Bit Width, 42 Bit Offset, 43 Access Size,
//!      44 Address u64) | 52 Interrupt Type u8 | 53 IRQ u8 | 54 GSIV u32
//!   58 Baud Rate u8 (0 as is, 3 9600, 4 19200, 6 57600, 7 115200) | 59 Parity ...
//! ```
//!
//! # References
//!
//! - Microsoft, "Serial Port Console Redirection Table" (revisions 1-4).
//! - Microsoft, "Debug Port Table 2 (DBG2)", table 3 (serial port subtypes).
//! - ACPI 6.5, 5.2.3.2 (Generic Address Structure; space 0 = system memory).
#![forbid(unsafe_code)]

use crate::acpi::error::{AcpiError, AcpiWarning};
use crate::acpi::table::Table;
use crate::board::{Uart, UartKind};

/// Oldest SPCR revision read.
pub(crate) const MIN_REVISION: u8 = 1;
/// Newest SPCR revision known.
pub(crate) const NEWEST_REVISION: u8 = 4;

/// The path recorded in [`Uart::path`] for a console from the SPCR.
pub const SPCR_PATH: &str = "SPCR";

/// The console, or `None` (with a warning saying why) when the SPCR names none usable.
pub(crate) fn console(
    table: Table<'_>,
    warn: &mut dyn FnMut(AcpiWarning),
) -> Result<Option<Uart<'static>>, AcpiError> {
    table.check_revision(MIN_REVISION, NEWEST_REVISION, warn)?;
    table.need_len(80)?;
    let interface = table.u8(36).unwrap_or(0);
    let space = table.u8(40).unwrap_or(0);
    let base = table.u64(44).unwrap_or(0);
    if base == 0 {
        warn(AcpiWarning::ConsoleDisabled);
        return Ok(None);
    }
    if space != 0 {
        warn(AcpiWarning::ConsoleNotMmio { space });
        return Ok(None);
    }
    // A 16550 "with parameters in the GAS" says its access width there (Access Size 3:
    // 32-bit registers 4 bytes apart, as Linux's earlycon `mmio32`); the others are
    // byte-wide and byte-spaced.
    let byte_wide = UartKind::Ns16550 { reg_shift: 0, io_width: 1 };
    let kind = match (table.revision, interface) {
        (2.., 0x12) if table.u8(43) == Some(3) => UartKind::Ns16550 { reg_shift: 2, io_width: 4 },
        (1, 0 | 1) | (2.., 0x00 | 0x01 | 0x12) => byte_wide,
        (2.., 0x03) => UartKind::Pl011,
        (2.., 0x0D | 0x0E) => UartKind::Other("arm,sbsa-uart"),
        (2.., 0x0F) => UartKind::Other("arm,dcc"),
        (2.., 0x10) => UartKind::Bcm2835Aux,
        _ => {
            warn(AcpiWarning::UnknownConsoleType { interface });
            UartKind::Other("unknown")
        }
    };
    let options = match table.u8(58).unwrap_or(0) {
        3 => Some("9600"),
        4 => Some("19200"),
        6 => Some("57600"),
        7 => Some("115200"),
        _ => None,
    };
    Ok(Some(Uart { base, kind, path: SPCR_PATH, options }))
}
