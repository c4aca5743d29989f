// SPDX-License-Identifier: MIT OR Apache-2.0
//! ACPI errors and warnings: which table, where in it, and what was wrong.
//!
//! The tables come from firmware the kernel cannot fix, so a refusal must say enough
//! for a person to find the bad bytes with `acpidump`/`iasl`: the table's signature,
//! the offset of the structure at fault (when there is one), and the problem as an
//! enum ([`AcpiErrorKind`]), never a string. Fallbacks the parser takes are
//! [`AcpiWarning`]s, recorded in [`crate::Board::warnings`] as
//! [`crate::Warning::Acpi`], next to the warnings the device-tree path records.
//!
//! The rules for which problem is fatal and which is a fallback are in the table of
//! [`crate::acpi`]'s module docs.
#![forbid(unsafe_code)]

use core::fmt;

use crate::error::ErrorKind;
use crate::numa::NodeId;

/// A table signature, e.g. `SRAT` (the FADT's is `FACP`, the MADT's `APIC`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 4]);

impl Signature {
    /// The Root System Description Pointer (its real signature is the 8 bytes
    /// `RSD PTR `; errors about it use this short name).
    pub const RSDP: Signature = Signature(*b"RSDP");
    /// Extended System Description Table: the list of every other table.
    pub const XSDT: Signature = Signature(*b"XSDT");
    /// Fixed ACPI Description Table (FADT): ACPI version and the PSCI flags.
    pub const FADT: Signature = Signature(*b"FACP");
    /// Multiple APIC Description Table (MADT): CPUs and the GIC.
    pub const MADT: Signature = Signature(*b"APIC");
    /// System Resource Affinity Table: which CPU and memory is in which domain.
    pub const SRAT: Signature = Signature(*b"SRAT");
    /// System Locality Information Table: distances between domains.
    pub const SLIT: Signature = Signature(*b"SLIT");
    /// Processor Properties Topology Table: sockets, clusters, cores, threads.
    pub const PPTT: Signature = Signature(*b"PPTT");
    /// Serial Port Console Redirection table: the console UART.
    pub const SPCR: Signature = Signature(*b"SPCR");
    /// Generic Timer Description Table: the timer interrupts.
    pub const GTDT: Signature = Signature(*b"GTDT");
}

impl fmt::Display for Signature {
    /// The four characters, with anything unprintable as `\xNN`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in &self.0 {
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, "{}", char::from(b))?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// What was wrong with the ACPI tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcpiErrorKind {
    /// The memory reader cannot show these bytes: the address points outside the
    /// memory the kernel can read (or the length runs past it).
    Unreadable {
        /// First byte asked for.
        address: u64,
        /// How many bytes.
        len: u64,
    },
    /// The signature is not the one the pointer promised (`RSD PTR ` for the RSDP,
    /// `XSDT` for the table the RSDP names).
    BadSignature {
        /// The first four bytes found.
        found: Signature,
    },
    /// The bytes do not sum to zero (mod 256). For the RSDP: the ACPI 1.0 checksum
    /// (first 20 bytes) or the extended one (the whole structure).
    BadChecksum {
        /// The sum found.
        sum: u8,
    },
    /// The length field is too small for what the table must hold.
    BadLength {
        /// The length field.
        length: u32,
        /// The least this table (of this revision) needs.
        min: u32,
    },
    /// The XSDT's entries are not a whole number of 8-byte addresses.
    RaggedXsdt {
        /// The XSDT's length field.
        length: u32,
    },
    /// The RSDP is ACPI 1.0 (revision 0): there is no XSDT, and arm64 requires one.
    RsdpTooOld {
        /// The RSDP's revision field.
        revision: u8,
    },
    /// The table revision is older than the first one with the fields this parser needs.
    RevisionTooOld {
        /// The table's revision field.
        revision: u8,
        /// The oldest revision supported.
        min: u8,
    },
    /// The FADT says ACPI older than 5.1, the first version for arm64 (no PSCI flags,
    /// no GICC).
    FadtTooOld {
        /// FADT major version (its header revision).
        major: u8,
        /// FADT minor version.
        minor: u8,
    },
    /// The XSDT lists two tables with this signature (of the tables this parser reads).
    DuplicateTable,
    /// A required table is absent (the MADT: without it there are no CPUs).
    MissingTable,
    /// An interrupt-controller, affinity or processor structure is shorter than its
    /// type requires, shorter than 2 bytes, or runs past the end of its table.
    BadStructure {
        /// The structure type.
        kind: u8,
        /// Its length field.
        length: u8,
    },
    /// The MADT has no enabled GICC.
    NoCpus,
    /// Two enabled GICCs have the same ACPI processor UID.
    DuplicateUid {
        /// The UID.
        uid: u32,
    },
    /// The MADT has two GIC distributor structures.
    DuplicateGicd,
    /// A problem the device-tree path names the same way (MPIDR with non-affinity
    /// bits, duplicate MPIDR, too many CPUs or memory ranges, range overflow, memory
    /// of two nodes overlapping).
    Board(ErrorKind),
    /// The SRAT has no enabled GICC affinity for an enabled MADT GICC: its node is
    /// unknown.
    CpuWithoutAffinity {
        /// The GICC's ACPI processor UID.
        uid: u32,
    },
    /// Two SRAT GICC affinity structures put one CPU in different domains.
    ConflictingAffinity {
        /// The ACPI processor UID.
        uid: u32,
        /// The first domain.
        first: u32,
        /// The second domain.
        second: u32,
    },
    /// The SRAT names a proximity domain (with an enabled, empty memory range) that
    /// has no CPU and no memory at all.
    EmptyDomain {
        /// The proximity domain.
        domain: u32,
    },
    /// More proximity domains (with CPUs or memory) than `MAX_NODES`.
    TooManyDomains {
        /// `MAX_NODES`.
        limit: usize,
    },
    /// The SLIT's matrix is longer than the table: `localities` squared bytes do not
    /// fit.
    SlitTruncated {
        /// The number of localities it claims.
        localities: u64,
    },
    /// A proximity domain of the SRAT is not a SLIT locality (the domain number is at
    /// or beyond the SLIT's count).
    DomainNotInSlit {
        /// The proximity domain.
        domain: u32,
        /// The SLIT's number of localities.
        localities: u64,
    },
    /// A locality's distance to itself is not 10.
    SlitSelfDistance {
        /// The locality.
        locality: u64,
        /// The value found.
        distance: u8,
    },
    /// A distance between two different localities is 10 or less (0-9 are reserved,
    /// 10 means local).
    SlitDistanceTooSmall {
        /// From.
        from: u64,
        /// To.
        to: u64,
        /// The value found.
        distance: u8,
    },
    /// A PPTT processor node's parent is not a processor node of the table.
    PpttBadParent {
        /// The parent offset found.
        parent: u32,
    },
    /// A PPTT processor's chain of parents is longer than [`crate::acpi::MAX_PPTT_DEPTH`]
    /// (or loops).
    PpttTooDeep,
}

impl fmt::Display for AcpiErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use AcpiErrorKind::*;
        match *self {
            Unreadable { address, len } => {
                write!(f, "{len} bytes at {address:#x} are outside readable memory")
            }
            BadSignature { found } => write!(f, "signature is {found}"),
            BadChecksum { sum } => write!(f, "checksum wrong: bytes sum to {sum:#04x}, not 0"),
            BadLength { length, min } => write!(f, "length {length} is below the minimum {min}"),
            RaggedXsdt { length } => write!(f, "length {length} is not a whole number of entries"),
            RsdpTooOld { revision } => write!(f, "revision {revision} (ACPI 1.0) has no XSDT"),
            RevisionTooOld { revision, min } => {
                write!(f, "revision {revision} is older than the oldest supported, {min}")
            }
            FadtTooOld { major, minor } => {
                write!(f, "ACPI {major}.{minor} is older than 5.1, the first for arm64")
            }
            DuplicateTable => f.write_str("listed twice in the XSDT"),
            MissingTable => f.write_str("required table missing"),
            BadStructure { kind, length } => {
                write!(f, "structure of type {kind:#x} has unusable length {length}")
            }
            NoCpus => f.write_str("no enabled GICC"),
            DuplicateUid { uid } => write!(f, "ACPI processor UID {uid} used by two GICCs"),
            DuplicateGicd => f.write_str("two GIC distributor structures"),
            Board(kind) => fmt::Display::fmt(&kind, f),
            CpuWithoutAffinity { uid } => {
                write!(f, "no GICC affinity for the CPU with ACPI processor UID {uid}")
            }
            ConflictingAffinity { uid, first, second } => {
                write!(f, "CPU with UID {uid} is in proximity domains {first} and {second}")
            }
            EmptyDomain { domain } => {
                write!(f, "proximity domain {domain} has neither CPUs nor memory")
            }
            TooManyDomains { limit } => write!(f, "more than {limit} proximity domains"),
            SlitTruncated { localities } => {
                write!(f, "{localities} x {localities} distances do not fit in the table")
            }
            DomainNotInSlit { domain, localities } => {
                write!(f, "proximity domain {domain} is beyond the {localities} localities")
            }
            SlitSelfDistance { locality, distance } => {
                write!(f, "distance of locality {locality} to itself is {distance}, not 10")
            }
            SlitDistanceTooSmall { from, to, distance } => {
                write!(f, "distance {from} -> {to} is {distance}, must be above 10")
            }
            PpttBadParent { parent } => {
                write!(f, "parent offset {parent:#x} is not a processor node")
            }
            PpttTooDeep => f.write_str("processor hierarchy too deep (or a loop)"),
        }
    }
}

/// ACPI tables that [`crate::Board::from_acpi`] refused: which table, where, what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcpiError {
    table: Signature,
    offset: Option<u32>,
    kind: AcpiErrorKind,
}

impl AcpiError {
    pub(crate) fn new(table: Signature, kind: AcpiErrorKind) -> Self {
        AcpiError { table, offset: None, kind }
    }

    pub(crate) fn at(table: Signature, offset: usize, kind: AcpiErrorKind) -> Self {
        AcpiError { table, offset: u32::try_from(offset).ok(), kind }
    }

    /// The table at fault (`RSDP` for the root pointer; `XSDT` for an entry of it that
    /// cannot be read).
    pub fn table(&self) -> Signature {
        self.table
    }

    /// Byte offset in the table of the structure (or XSDT entry) at fault, if one is.
    pub fn offset(&self) -> Option<u32> {
        self.offset
    }

    /// What was wrong.
    pub fn kind(&self) -> AcpiErrorKind {
        self.kind
    }
}

impl fmt::Display for AcpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ACPI {}", self.table)?;
        if let Some(offset) = self.offset {
            write!(f, " at offset {offset:#x}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

/// A fallback the ACPI parser took (see the table in [`crate::acpi`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcpiWarning {
    /// An optional table is absent; the documented fallback applies (SRAT: one node
    /// and no memory; PPTT: no clusters; SPCR: no console; GTDT: no timer; FADT: no
    /// PSCI).
    TableMissing(Signature),
    /// The table's revision is newer than the newest this parser knows; it was read
    /// with the newest known layout (ACPI only appends fields).
    NewerRevision {
        /// The table.
        table: Signature,
        /// Its revision field.
        revision: u8,
    },
    /// An XSDT entry is 0; skipped.
    NullXsdtEntry {
        /// The entry's index.
        index: u32,
    },
    /// An SRAT GICC affinity names a UID no MADT GICC has; ignored.
    AffinityForUnknownCpu {
        /// The ACPI processor UID.
        uid: u32,
    },
    /// A hot-pluggable SRAT memory range was skipped: it is address space for memory
    /// that may be added later, not RAM present at boot.
    HotplugMemorySkipped {
        /// Start of the range.
        base: u64,
        /// Its proximity domain.
        domain: u32,
    },
    /// The SLIT has localities that are not SRAT domains with CPUs or memory; their
    /// rows are ignored.
    SlitExtraLocalities {
        /// How many.
        count: u64,
    },
    /// The SLIT says 255: memory of node `to` is unreachable from `from`. Kept as 255,
    /// the largest distance, so it is tried last.
    Unreachable {
        /// From.
        from: NodeId,
        /// To.
        to: NodeId,
    },
    /// The MADT has no GIC distributor: `gic = None`.
    NoGicd,
    /// The distributor's GIC version is reserved (5 or more): `gic = None`.
    UnknownGicVersion {
        /// The version field.
        version: u8,
    },
    /// GICv3 without usable redistributors (no GICR structure, and a GICC without a
    /// GICR base), or more regions than `MAX_REDIST_REGIONS`: `gic = None`.
    NoRedistributors,
    /// A GTDT timer interrupt is not a PPI (16-31): that timer's PPI is `None`.
    TimerNotPpi {
        /// The GSIV found.
        gsiv: u32,
    },
    /// The SPCR's base address is 0 (console redirection disabled): no console.
    ConsoleDisabled,
    /// The SPCR's UART is not in system memory space (e.g. I/O ports): no console.
    ConsoleNotMmio {
        /// The GAS address space id.
        space: u8,
    },
    /// The SPCR names an interface type this parser does not know; the console is
    /// recorded as `UartKind::Other("unknown")`.
    UnknownConsoleType {
        /// The interface type.
        interface: u8,
    },
    /// The FADT does not set PSCI_COMPLIANT: `psci = None` and no CPU has an enable
    /// method (the parking protocol is not supported).
    NoPsci,
    /// A PPTT leaf names an ACPI processor ID no MADT GICC has; ignored.
    PpttUnknownProcessor {
        /// The ACPI processor ID.
        uid: u32,
    },
    /// Two PPTT leaves name the same CPU; the first is kept.
    PpttDuplicate {
        /// Logical CPU number.
        cpu: usize,
    },
    /// A CPU is in no PPTT leaf: its topology is unknown.
    CpuMissingFromPptt {
        /// Logical CPU number.
        cpu: usize,
    },
}

impl fmt::Display for AcpiWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use AcpiWarning::*;
        match *self {
            TableMissing(sig) => {
                let fallback = match sig {
                    Signature::SRAT => "one node, memory unknown",
                    Signature::PPTT => "no clusters",
                    Signature::SPCR => "no console",
                    Signature::GTDT => "no timer",
                    Signature::FADT => "no PSCI",
                    _ => "ignored",
                };
                write!(f, "ACPI {sig} missing: {fallback}")
            }
            NewerRevision { table, revision } => {
                write!(f, "ACPI {table} revision {revision} is newer than known: read as the newest known")
            }
            NullXsdtEntry { index } => write!(f, "ACPI XSDT entry {index} is null: skipped"),
            AffinityForUnknownCpu { uid } => {
                write!(f, "ACPI SRAT: GICC affinity for unknown UID {uid}: ignored")
            }
            HotplugMemorySkipped { base, domain } => {
                write!(f, "ACPI SRAT: hot-pluggable memory at {base:#x} (domain {domain}) skipped")
            }
            SlitExtraLocalities { count } => {
                write!(f, "ACPI SLIT: {count} localities without CPUs or memory ignored")
            }
            Unreachable { from, to } => {
                write!(f, "ACPI SLIT: node {to} is unreachable from node {from} (255 kept)")
            }
            NoGicd => f.write_str("ACPI MADT: no GIC distributor: no GIC"),
            UnknownGicVersion { version } => write!(f, "ACPI MADT: GIC version {version} unknown: no GIC"),
            NoRedistributors => f.write_str("ACPI MADT: no usable GIC redistributors: no GIC"),
            TimerNotPpi { gsiv } => write!(f, "ACPI GTDT: timer interrupt {gsiv} is not a PPI: ignored"),
            ConsoleDisabled => f.write_str("ACPI SPCR: base address 0 (disabled): no console"),
            ConsoleNotMmio { space } => {
                write!(f, "ACPI SPCR: UART in address space {space}, not memory: no console")
            }
            UnknownConsoleType { interface } => {
                write!(f, "ACPI SPCR: interface type {interface:#x} unknown")
            }
            NoPsci => f.write_str("ACPI FADT: not PSCI compliant: no PSCI"),
            PpttUnknownProcessor { uid } => {
                write!(f, "ACPI PPTT: processor ID {uid} is no GICC's: ignored")
            }
            PpttDuplicate { cpu } => write!(f, "ACPI PPTT: CPU {cpu} in two leaves: first kept"),
            CpuMissingFromPptt { cpu } => write!(f, "ACPI PPTT: CPU {cpu} missing: topology unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn an_error_names_the_table_the_offset_and_the_problem() {
        let e = AcpiError::at(Signature::MADT, 0x2c, AcpiErrorKind::BadStructure { kind: 0xb, length: 40 });
        assert_eq!(e.to_string(), "ACPI APIC at offset 0x2c: structure of type 0xb has unusable length 40");
        let e = AcpiError::new(Signature::RSDP, AcpiErrorKind::BadChecksum { sum: 1 });
        assert_eq!(e.to_string(), "ACPI RSDP: checksum wrong: bytes sum to 0x01, not 0");
        assert_eq!(e.offset(), None);
    }

    #[test]
    fn unprintable_signatures_are_escaped() {
        assert_eq!(Signature(*b"AB\x00\xff").to_string(), "AB\\x00\\xff");
        assert_eq!(std::format!("{:?}", Signature::SRAT), "\"SRAT\"");
    }

    #[test]
    fn errors_stay_small() {
        assert!(core::mem::size_of::<AcpiError>() <= 64);
        assert!(core::mem::size_of::<AcpiWarning>() <= 24);
    }
}
