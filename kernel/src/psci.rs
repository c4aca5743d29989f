// SPDX-License-Identifier: MIT OR Apache-2.0
//! PSCI: the firmware calls that power CPUs on and the system off, and what they return.
//!
//! Secondary CPUs on arm64 servers and on QEMU `virt` sit powered off until the kernel
//! asks the firmware to start them (`CPU_ON`), naming the CPU by MPIDR, the physical
//! address to start at and one argument. The call itself is one instruction (`hvc` or
//! `smc`, in `arch::cpu::psci_call`); what it returns is decoded here, so a CPU that
//! will not start is reported by name ("ALREADY_ON", "INVALID_PARAMETERS") instead of
//! by number.
//!
//! # References
//! Arm Power State Coordination Interface, DEN 0022D, 5.1 (function ids) and 5.2.2
//! (return codes).
#![forbid(unsafe_code)]

/// `CPU_ON`, SMC64 calling convention (PSCI 0.2+).
pub const CPU_ON_64: u32 = 0xC400_0003;
/// `SYSTEM_OFF`.
pub const SYSTEM_OFF: u32 = 0x8400_0008;

/// A PSCI failure, decoded from the negative return value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciError {
    /// -1: the function is not implemented.
    NotSupported,
    /// -2: a parameter (e.g. an MPIDR no CPU has) is wrong.
    InvalidParameters,
    /// -3: the caller may not do this.
    Denied,
    /// -4: the CPU is already running.
    AlreadyOn,
    /// -5: a `CPU_ON` for this CPU is still in progress.
    OnPending,
    /// -6: the firmware failed internally.
    InternalFailure,
    /// -7: the CPU is not present.
    NotPresent,
    /// -8: the CPU is disabled.
    Disabled,
    /// -9: the entry address is invalid.
    InvalidAddress,
    /// Any other value.
    Unknown(i64),
}

impl PsciError {
    /// The specification's name for the error.
    pub fn name(self) -> &'static str {
        match self {
            PsciError::NotSupported => "NOT_SUPPORTED",
            PsciError::InvalidParameters => "INVALID_PARAMETERS",
            PsciError::Denied => "DENIED",
            PsciError::AlreadyOn => "ALREADY_ON",
            PsciError::OnPending => "ON_PENDING",
            PsciError::InternalFailure => "INTERNAL_FAILURE",
            PsciError::NotPresent => "NOT_PRESENT",
            PsciError::Disabled => "DISABLED",
            PsciError::InvalidAddress => "INVALID_ADDRESS",
            PsciError::Unknown(_) => "UNKNOWN",
        }
    }

    /// The raw return value.
    pub fn code(self) -> i64 {
        match self {
            PsciError::NotSupported => -1,
            PsciError::InvalidParameters => -2,
            PsciError::Denied => -3,
            PsciError::AlreadyOn => -4,
            PsciError::OnPending => -5,
            PsciError::InternalFailure => -6,
            PsciError::NotPresent => -7,
            PsciError::Disabled => -8,
            PsciError::InvalidAddress => -9,
            PsciError::Unknown(code) => code,
        }
    }
}

/// Decodes a PSCI return value: 0 is success.
pub fn result(ret: i64) -> Result<(), PsciError> {
    Err(match ret {
        0 => return Ok(()),
        -1 => PsciError::NotSupported,
        -2 => PsciError::InvalidParameters,
        -3 => PsciError::Denied,
        -4 => PsciError::AlreadyOn,
        -5 => PsciError::OnPending,
        -6 => PsciError::InternalFailure,
        -7 => PsciError::NotPresent,
        -8 => PsciError::Disabled,
        -9 => PsciError::InvalidAddress,
        other => PsciError::Unknown(other),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_success_and_every_error_keeps_its_code() {
        assert_eq!(result(0), Ok(()));
        for code in -10..0 {
            let err = result(code).unwrap_err();
            assert_eq!(err.code(), code);
        }
        assert_eq!(result(-2).unwrap_err().name(), "INVALID_PARAMETERS");
        assert_eq!(result(-4).unwrap_err().name(), "ALREADY_ON");
        assert_eq!(result(7), Err(PsciError::Unknown(7)));
    }
}
