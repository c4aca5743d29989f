// SPDX-License-Identifier: MIT OR Apache-2.0
//! The GICv3 interrupt controller's memory-mapped parts: the Distributor and the
//! Redistributors.
//!
//! Every interrupt the kernel sees passes through the Generic Interrupt Controller. A
//! GICv3 has three parts, and this module drives the two that are memory-mapped:
//!
//! ```text
//!   devices --SPI--> Distributor (GICD, one per system)
//!                        |  routes each SPI to one CPU by affinity (GICD_IROUTER<n>)
//!                        v
//!   timer --PPI-->  Redistributor (GICR, one frame per CPU)  <--SGI-- other CPUs
//!                        |
//!                        v
//!                   CPU interface (ICC_* system registers: not here, see below)
//! ```
//!
//! The CPU interface is programmed with system-register instructions (`ICC_SRE_EL1`,
//! `ICC_PMR_EL1`, `ICC_IGRPEN1_EL1`, `ICC_IAR1_EL1`, `ICC_EOIR1_EL1`,
//! `ICC_SGI1R_EL1`), so it lives in the kernel's arch module. What *is* here for it is
//! pure arithmetic: the [`sgi1r_value`] to write to send an SGI, and [`iar_intid`] and
//! [`is_spurious`] for an acknowledged interrupt.
//!
//! INTID ranges ([`SGI_INTIDS`], [`PPI_INTIDS`], [`SPI_INTIDS`], [`SPECIAL_INTIDS`]):
//! SGIs (0-15) are software-generated, between CPUs; PPIs (16-31) are private to one
//! CPU (its timers); SPIs (32-1019) are shared device interrupts; 1020-1023 are
//! special values an acknowledge returns, never real interrupts. LPIs (8192 and up,
//! message-based, through an ITS) and the GICv3.1 extended ranges are not handled.
//!
//! # Design
//!
//! *One security state or two.* A GIC may implement two security states
//! (`GICD_CTLR.DS == 0`, real servers with EL3 firmware) or one (`DS == 1`: QEMU
//! `virt` without EL3, or firmware that disabled security). The kernel runs
//! Non-secure, and `GICD_CTLR` then looks different in the two cases (IHI 0069,
//! `GICD_CTLR` register description, "Non-secure access" and "DS == 1" views):
//!
//! ```text
//!   bit                31    6    4        1             0
//!   DS == 1           RWP   DS   ARE      EnableGrp1    EnableGrp0
//!   DS == 0, NS view  RWP   0    ARE_NS   EnableGrp1A   EnableGrp1 (ARE_NS == 0 only)
//! ```
//!
//! The two bits this driver needs coincide: bit 4 turns on affinity routing and bit
//! 1 enables Non-secure Group 1 with affinity routing, in both views. So one write,
//! `ARE_NS | EnableGrp1A`, is right in both; bit 0 is left clear (with `DS == 1` it
//! would enable Group 0, which the kernel does not use; with `DS == 0` it is RES0 once
//! `ARE_NS` is set). `DS` itself reads 1 in the single-state view and RES0 in the
//! Non-secure view, which is how [`Distributor::security_disabled`] tells them apart;
//! when set it is written back as 1 (it can only be cleared by a reset).
//! What differs is the group registers: with `DS == 0` the Non-secure view of
//! `GICD_IGROUPR`/`GICD_IGRPMODR` (and their GICR twins) is RAZ/WI, because EL3
//! firmware owns the grouping. Writing "Group 1 Non-secure" (`IGROUPR = 1`,
//! `IGRPMODR = 0`) is then a harmless no-op, and right when `DS == 1`, so the driver
//! writes it unconditionally.
//!
//! *Changing `ARE`.* Setting `ARE` while a group is enabled, and clearing it once set,
//! are UNPREDICTABLE. [`Distributor::init`] therefore first disables both groups
//! keeping `ARE` as it is, then sets `ARE`, then programs the SPIs (`GICD_IROUTER<n>`
//! only exists with `ARE` set), and only then enables Group 1.
//!
//! *Bounded waits.* `GICD_CTLR.RWP`, `GICR_CTLR.RWP` and `GICR_WAKER.ChildrenAsleep`
//! are polled at most [`POLL_LIMIT`] times; a GIC that never answers gives
//! [`GicError::Timeout`], not a hung CPU (and a host test with a stuck fake bit fails
//! instead of hanging).
//!
//! *Redistributor discovery.* The device tree gives one or more redistributor regions
//! (QEMU `virt` adds a second above 123 CPUs). Each is a run of frames, one per CPU:
//! `RD_base` (64 KiB) and `SGI_base` (64 KiB), plus two more 64 KiB pages for GICv4
//! virtual LPIs when `GICR_TYPER.VLPIS` says so. A region's frames end at the frame
//! with `GICR_TYPER.Last`, or at the region's end. [`locate_frame`] walks them
//! comparing `GICR_TYPER.Affinity_Value` with the CPU's MPIDR; it is pure (it reads
//! `GICR_TYPER` through a closure) and host-tested; [`Redistributor::find`] runs it on
//! the real frames.
//!
//! *Priorities.* Everything starts at [`DEFAULT_PRIORITY`] (0xA0): below the middle of
//! the range, and a value whose top bits survive on a GIC that implements only 4 or 5
//! priority bits (the unimplemented low bits are RAZ/WI).
//!
//! # Safety boundary
//!
//! [`Distributor::new`], [`Redistributor::new`] and [`Redistributor::find`] are the
//! only `unsafe` items: the caller promises the addresses are mapped GIC register
//! frames used by nobody else. Everything above them is safe; every register access is
//! a single volatile read or write through tock-registers.
//!
//! # References
//!
//! - Arm, *Generic Interrupt Controller Architecture Specification, GIC architecture
//!   version 3 and version 4*, IHI 0069 (issue H): "INTIDs" (the ranges), "Affinity
//!   routing", "Power management" (`GICR_WAKER`), "Redistributor memory map" (frame
//!   layout), and the register descriptions of `GICD_CTLR`, `GICD_TYPER`,
//!   `GICD_IROUTER<n>`, `GICR_TYPER`, `GICR_WAKER`, `GICR_CTLR`, `ICC_SGI1R_EL1` and
//!   `ICC_IAR1_EL1`.
//! - Linux `drivers/irqchip/irq-gic-v3.c` (`gic_dist_init`, `gic_populate_rdist`,
//!   `gic_enable_redist`), for what real hardware needs in practice.
//! - Linux `Documentation/devicetree/bindings/interrupt-controller/arm,gic-v3.yaml`
//!   (PPI numbering in `interrupts`).

use core::fmt;
use core::ops::RangeInclusive;
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite};
use tock_registers::{register_bitfields, register_structs};

/// Software-generated interrupts: sent by one CPU to others.
pub const SGI_INTIDS: RangeInclusive<u32> = 0..=15;
/// Private peripheral interrupts: per CPU (the generic timer's are here).
pub const PPI_INTIDS: RangeInclusive<u32> = 16..=31;
/// Shared peripheral interrupts: devices, routed to one CPU by the Distributor.
pub const SPI_INTIDS: RangeInclusive<u32> = 32..=1019;
/// Special INTIDs an acknowledge may return; never a real interrupt, never EOI'd.
pub const SPECIAL_INTIDS: RangeInclusive<u32> = 1020..=1023;
/// The INTID `ICC_IAR1_EL1` returns when there is nothing to acknowledge.
pub const SPURIOUS_INTID: u32 = 1023;

/// The priority every interrupt gets at initialisation (lower value = more urgent).
pub const DEFAULT_PRIORITY: u8 = 0xA0;

/// How many times a "write pending" or "asleep" bit is polled before giving up.
/// Real hardware answers within microseconds; this is tens of milliseconds.
pub const POLL_LIMIT: u32 = 1_000_000;

/// Bytes of one redistributor's `RD_base` page (and of its `SGI_base` page).
pub const GICR_PAGE_SIZE: usize = 0x1_0000;
/// Stride of a GICv3 redistributor frame: `RD_base` + `SGI_base`.
pub const GICR_FRAME_SIZE_V3: usize = 2 * GICR_PAGE_SIZE;
/// Stride of a frame with GICv4 virtual LPI pages (`VLPI_base` + reserved page).
pub const GICR_FRAME_SIZE_V4: usize = 4 * GICR_PAGE_SIZE;
/// Bytes of the Distributor's register frame.
pub const GICD_SIZE: usize = 0x1_0000;

register_bitfields! {u32,
    /// Distributor control. Field names are the Non-secure view's; with `DS == 1` bit
    /// 4 is called `ARE`, bit 1 `EnableGrp1`, bit 0 `EnableGrp0` (see module docs).
    GICD_CTLR [
        /// Register write pending.
        RWP OFFSET(31) NUMBITS(1) [],
        /// Disable security: reads 1 when the GIC has a single security state.
        DS OFFSET(6) NUMBITS(1) [],
        /// Affinity routing enable (Non-secure state; `ARE` with `DS == 1`).
        ARE_NS OFFSET(4) NUMBITS(1) [],
        /// Non-secure Group 1 enable with affinity routing (`EnableGrp1` with `DS == 1`).
        EnableGrp1A OFFSET(1) NUMBITS(1) []
    ],
    /// Distributor type.
    GICD_TYPER [
        /// Range selector support for SGIs (Aff0 values 16-255 reachable).
        RSS OFFSET(26) NUMBITS(1) [],
        /// `32 * (ITLinesNumber + 1)` INTIDs below 1020 are implemented.
        ITLinesNumber OFFSET(0) NUMBITS(5) []
    ],
    /// Redistributor control.
    GICR_CTLR [
        /// Register write pending (tracks `GICR_ICENABLER0` writes).
        RWP OFFSET(3) NUMBITS(1) []
    ],
    /// Redistributor power management.
    GICR_WAKER [
        /// The interface to the CPU is quiescent.
        ChildrenAsleep OFFSET(2) NUMBITS(1) [],
        /// The CPU is asleep as far as the GIC knows: no interrupts reach it.
        ProcessorSleep OFFSET(1) NUMBITS(1) []
    ]
}

register_bitfields! {u64,
    /// Redistributor type.
    GICR_TYPER [
        /// Affinity of the CPU this frame serves (the four fields packed).
        Aff3 OFFSET(56) NUMBITS(8) [],
        /// Affinity level 2.
        Aff2 OFFSET(48) NUMBITS(8) [],
        /// Affinity level 1.
        Aff1 OFFSET(40) NUMBITS(8) [],
        /// Affinity level 0.
        Aff0 OFFSET(32) NUMBITS(8) [],
        /// A number for the CPU, unique within the GIC (used by the ITS).
        Processor_Number OFFSET(8) NUMBITS(16) [],
        /// This is the last frame of its region.
        Last OFFSET(4) NUMBITS(1) [],
        /// The frame has the GICv4 `VLPI_base` pages (frame is 256 KiB).
        VLPIS OFFSET(1) NUMBITS(1) []
    ],
    /// Routing of one SPI (affinity routing).
    GICD_IROUTER [
        /// Affinity level 3.
        Aff3 OFFSET(32) NUMBITS(8) [],
        /// 0: route to the CPU named by the affinity fields; 1: to any one CPU.
        Interrupt_Routing_Mode OFFSET(31) NUMBITS(1) [],
        /// Affinity level 2.
        Aff2 OFFSET(16) NUMBITS(8) [],
        /// Affinity level 1.
        Aff1 OFFSET(8) NUMBITS(8) [],
        /// Affinity level 0.
        Aff0 OFFSET(0) NUMBITS(8) []
    ],
    /// `MPIDR_EL1` (and a CPU node's `reg`): the affinity fields.
    MPIDR [
        /// Affinity level 3.
        Aff3 OFFSET(32) NUMBITS(8) [],
        /// Affinity level 2.
        Aff2 OFFSET(16) NUMBITS(8) [],
        /// Affinity level 1.
        Aff1 OFFSET(8) NUMBITS(8) [],
        /// Affinity level 0.
        Aff0 OFFSET(0) NUMBITS(8) []
    ],
    /// Generate a Group 1 SGI (the value the kernel writes with `msr`).
    ICC_SGI1R_EL1 [
        /// Affinity level 3 of the targets.
        Aff3 OFFSET(48) NUMBITS(8) [],
        /// Range selector: TargetList bit n means Aff0 = 16 * RS + n.
        RS OFFSET(44) NUMBITS(4) [],
        /// 0: the CPUs in TargetList; 1: every CPU but this one.
        IRM OFFSET(40) NUMBITS(1) [],
        /// Affinity level 2 of the targets.
        Aff2 OFFSET(32) NUMBITS(8) [],
        /// The SGI number.
        INTID OFFSET(24) NUMBITS(4) [],
        /// Affinity level 1 of the targets.
        Aff1 OFFSET(16) NUMBITS(8) [],
        /// One bit per target Aff0 within the range.
        TargetList OFFSET(0) NUMBITS(16) []
    ],
    /// Interrupt acknowledge, Group 1 (`ICC_IAR1_EL1`).
    ICC_IAR1_EL1 [
        /// The acknowledged INTID (24 bits wide at most).
        INTID OFFSET(0) NUMBITS(24) []
    ]
}

register_structs! {
    /// The Distributor registers this driver uses.
    #[allow(non_snake_case)]
    DistributorRegisters {
        (0x0000 => CTLR: ReadWrite<u32, GICD_CTLR::Register>),
        (0x0004 => TYPER: ReadOnly<u32, GICD_TYPER::Register>),
        (0x0008 => _reserved0),
        (0x0080 => IGROUPR: [ReadWrite<u32>; 32]),
        (0x0100 => ISENABLER: [ReadWrite<u32>; 32]),
        (0x0180 => ICENABLER: [ReadWrite<u32>; 32]),
        (0x0200 => _reserved1),
        (0x0280 => ICPENDR: [ReadWrite<u32>; 32]),
        (0x0300 => _reserved2),
        (0x0380 => ICACTIVER: [ReadWrite<u32>; 32]),
        (0x0400 => IPRIORITYR: [ReadWrite<u8>; 1020]),
        (0x07fc => _reserved3),
        (0x0c00 => ICFGR: [ReadWrite<u32>; 64]),
        (0x0d00 => IGRPMODR: [ReadWrite<u32>; 32]),
        (0x0d80 => _reserved4),
        (0x6100 => IROUTER: [ReadWrite<u64, GICD_IROUTER::Register>; 988]),
        (0x7fe0 => @END),
    }
}

register_structs! {
    /// A redistributor's `RD_base` page (the part this driver uses).
    #[allow(non_snake_case)]
    RdRegisters {
        (0x0000 => CTLR: ReadWrite<u32, GICR_CTLR::Register>),
        (0x0004 => _reserved0),
        (0x0008 => TYPER: ReadOnly<u64, GICR_TYPER::Register>),
        (0x0010 => _reserved1),
        (0x0014 => WAKER: ReadWrite<u32, GICR_WAKER::Register>),
        (0x0018 => @END),
    }
}

register_structs! {
    /// A redistributor's `SGI_base` page: the SGI/PPI twins of the GICD registers.
    #[allow(non_snake_case)]
    SgiRegisters {
        (0x0000 => _reserved0),
        (0x0080 => IGROUPR0: ReadWrite<u32>),
        (0x0084 => _reserved1),
        (0x0100 => ISENABLER0: ReadWrite<u32>),
        (0x0104 => _reserved2),
        (0x0180 => ICENABLER0: ReadWrite<u32>),
        (0x0184 => _reserved3),
        (0x0280 => ICPENDR0: ReadWrite<u32>),
        (0x0284 => _reserved4),
        (0x0380 => ICACTIVER0: ReadWrite<u32>),
        (0x0384 => _reserved5),
        (0x0400 => IPRIORITYR: [ReadWrite<u8>; 32]),
        (0x0420 => _reserved6),
        (0x0d00 => IGRPMODR0: ReadWrite<u32>),
        (0x0d04 => @END),
    }
}

/// Which hardware handshake did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// `GICD_CTLR.RWP` stayed set.
    DistributorWrite,
    /// `GICR_CTLR.RWP` stayed set.
    RedistributorWrite,
    /// `GICR_WAKER.ChildrenAsleep` stayed set after clearing `ProcessorSleep`.
    RedistributorWake,
}

/// What went wrong talking to the GIC, or what was wrong with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicError {
    /// A bit the GIC should have cleared was still set after [`POLL_LIMIT`] polls.
    Timeout(Wait),
    /// `GICD_CTLR.ARE_NS` did not stick: affinity routing is unavailable (the kernel
    /// needs it; legacy GICv2-style operation is not supported).
    AffinityRoutingOff,
    /// The INTID is not an SPI (32-1019).
    NotSpi(u32),
    /// The SPI is beyond the lines this Distributor implements.
    NotImplemented {
        /// The INTID asked for.
        intid: u32,
        /// INTIDs `0..lines` are implemented.
        lines: u32,
    },
    /// The INTID is not an SGI or PPI (0-31), so it is not a redistributor's.
    NotPrivate(u32),
    /// The INTID is not an SGI (0-15).
    NotSgi(u32),
    /// A device tree PPI number outside 0-15.
    NotPpi(u32),
    /// A GICv2 request naming no CPU interface (an empty target mask).
    NoTarget,
}

impl fmt::Display for GicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GicError::Timeout(Wait::DistributorWrite) => f.write_str("GICD_CTLR.RWP never cleared"),
            GicError::Timeout(Wait::RedistributorWrite) => f.write_str("GICR_CTLR.RWP never cleared"),
            GicError::Timeout(Wait::RedistributorWake) => {
                f.write_str("GICR_WAKER.ChildrenAsleep never cleared")
            }
            GicError::AffinityRoutingOff => f.write_str("GICD_CTLR.ARE_NS cannot be set"),
            GicError::NotSpi(i) => write!(f, "INTID {i} is not an SPI"),
            GicError::NotImplemented { intid, lines } => {
                write!(f, "INTID {intid} is beyond the {lines} implemented lines")
            }
            GicError::NotPrivate(i) => write!(f, "INTID {i} is not an SGI or PPI"),
            GicError::NotSgi(i) => write!(f, "INTID {i} is not an SGI"),
            GicError::NotPpi(p) => write!(f, "PPI {p} is out of range 0-15"),
            GicError::NoTarget => f.write_str("no target CPU interface"),
        }
    }
}

/// The four affinity fields that name a CPU (MPIDR_EL1.Aff3.Aff2.Aff1.Aff0).
///
/// Only a name: on QEMU it is a linear index (Aff0 = idx % 16, Aff1 = idx / 16), on
/// servers it often follows sockets and clusters, but topology comes from the device
/// tree's `cpu-map`, never from these numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Affinity {
    /// Affinity level 3.
    pub aff3: u8,
    /// Affinity level 2.
    pub aff2: u8,
    /// Affinity level 1.
    pub aff1: u8,
    /// Affinity level 0.
    pub aff0: u8,
}

impl Affinity {
    /// The affinity fields of an `MPIDR_EL1` value (or of a CPU node's `reg`); the other
    /// bits (U, MT) are ignored.
    pub fn from_mpidr(mpidr: u64) -> Affinity {
        Affinity {
            aff3: MPIDR::Aff3.read(mpidr) as u8,
            aff2: MPIDR::Aff2.read(mpidr) as u8,
            aff1: MPIDR::Aff1.read(mpidr) as u8,
            aff0: MPIDR::Aff0.read(mpidr) as u8,
        }
    }

    /// The CPU a redistributor frame serves, from its `GICR_TYPER`.
    pub fn from_gicr_typer(typer: u64) -> Affinity {
        Affinity {
            aff3: GICR_TYPER::Aff3.read(typer) as u8,
            aff2: GICR_TYPER::Aff2.read(typer) as u8,
            aff1: GICR_TYPER::Aff1.read(typer) as u8,
            aff0: GICR_TYPER::Aff0.read(typer) as u8,
        }
    }

    /// The affinity in `MPIDR_EL1` layout.
    pub fn to_mpidr(self) -> u64 {
        (MPIDR::Aff3.val(self.aff3.into())
            + MPIDR::Aff2.val(self.aff2.into())
            + MPIDR::Aff1.val(self.aff1.into())
            + MPIDR::Aff0.val(self.aff0.into()))
        .value
    }
}

impl fmt::Display for Affinity {
    /// `aff3.aff2.aff1.aff0`, as the GIC specification writes affinities.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}.{}", self.aff3, self.aff2, self.aff1, self.aff0)
    }
}

/// The bit for `index` (0-31) in a one-bit-per-item register.
///
/// `GICx_ISENABLER`, `ICENABLER`, `IGROUPR` and the SGI TargetList are bitmaps indexed
/// by interrupt or CPU number rather than registers with named fields, so a bitfield
/// macro cannot name their bits; this is the one place an index becomes a bit.
pub(crate) fn one_hot(index: u32) -> u32 {
    1u32 << (index % 32)
}

/// The GIC INTID of a PPI numbered as the device tree numbers it (`interrupts =
/// <GIC_PPI n flags>`, e.g. the generic timer's): `16 + n`.
pub fn ppi_to_intid(ppi: u32) -> Result<u32, GicError> {
    let intid = ppi.checked_add(*PPI_INTIDS.start()).ok_or(GicError::NotPpi(ppi))?;
    if PPI_INTIDS.contains(&intid) { Ok(intid) } else { Err(GicError::NotPpi(ppi)) }
}

/// The value to write to `ICC_SGI1R_EL1` to send SGI `intid` (0-15) to the CPU whose
/// `MPIDR_EL1` is `target_mpidr`.
///
/// One write reaches any subset of up to 16 CPUs that share Aff3.Aff2.Aff1 and whose
/// Aff0 lie in the same 16-value range (`RS = Aff0 / 16`, TargetList bit `Aff0 % 16`);
/// this function builds the single-target form. An `RS` other than 0 (Aff0 >= 16)
/// needs range-selector support (`ICC_CTLR_EL1.RSS` and `GICD_TYPER.RSS`, see
/// [`Distributor::supports_range_selector`]); QEMU keeps Aff0 below 16.
pub fn sgi1r_value(intid: u32, target_mpidr: u64) -> Result<u64, GicError> {
    if !SGI_INTIDS.contains(&intid) {
        return Err(GicError::NotSgi(intid));
    }
    let target = Affinity::from_mpidr(target_mpidr);
    let aff0 = u32::from(target.aff0);
    let value = ICC_SGI1R_EL1::Aff3.val(target.aff3.into())
        + ICC_SGI1R_EL1::Aff2.val(target.aff2.into())
        + ICC_SGI1R_EL1::Aff1.val(target.aff1.into())
        + ICC_SGI1R_EL1::RS.val((aff0 / 16).into())
        + ICC_SGI1R_EL1::IRM.val(0)
        + ICC_SGI1R_EL1::INTID.val(intid.into())
        + ICC_SGI1R_EL1::TargetList.val(one_hot(aff0 % 16).into());
    Ok(value.value)
}

/// The INTID in an `ICC_IAR1_EL1` value (the same value goes back to `ICC_EOIR1_EL1`).
pub fn iar_intid(iar: u64) -> u32 {
    ICC_IAR1_EL1::INTID.read(iar) as u32
}

/// Whether an acknowledged INTID ([`iar_intid`] of an `ICC_IAR1_EL1` read) is no
/// interrupt at all: a special INTID (1020-1023; in practice 1023, "spurious", when the
/// interrupt was withdrawn or taken by another CPU). Such a value must not be handled
/// and must not be written to `ICC_EOIR1_EL1`.
pub fn is_spurious(intid: u32) -> bool {
    SPECIAL_INTIDS.contains(&intid)
}

/// The stride from a redistributor frame to the next, from its `GICR_TYPER`.
pub fn frame_stride(typer: u64) -> usize {
    if GICR_TYPER::VLPIS.is_set(typer) { GICR_FRAME_SIZE_V4 } else { GICR_FRAME_SIZE_V3 }
}

/// Finds the `RD_base` address of the redistributor frame serving `target`.
///
/// `regions` are `(address, length)` pairs, as the device tree lists them;
/// `typer_at(address)` reads the `GICR_TYPER` of the frame at `address`. Each region
/// is walked from its start, frame by frame (128 or 256 KiB per [`frame_stride`]),
/// until a frame says `Last` or the next frame would not fit (both `RD_base` and
/// `SGI_base` pages inside the region); then the next region is tried.
///
/// `typer_at` is only ever called with an address `a` such that
/// `a..a + GICR_FRAME_SIZE_V3` lies inside one of the regions.
pub fn locate_frame(
    regions: &[(usize, usize)],
    target: Affinity,
    mut typer_at: impl FnMut(usize) -> u64,
) -> Option<usize> {
    for &(base, len) in regions {
        let mut offset = 0usize;
        while offset.checked_add(GICR_FRAME_SIZE_V3).is_some_and(|end| end <= len) {
            let Some(frame) = base.checked_add(offset) else { break };
            let typer = typer_at(frame);
            if Affinity::from_gicr_typer(typer) == target {
                return Some(frame);
            }
            if GICR_TYPER::Last.is_set(typer) {
                break;
            }
            let Some(next) = offset.checked_add(frame_stride(typer)) else { break };
            offset = next;
        }
    }
    None
}

/// The INTIDs a Distributor implements below the special range, from its
/// `GICD_TYPER.ITLinesNumber` (the same field in GICv2 and v3): `32 * (n + 1)`, at
/// most 1020.
pub(crate) fn lines_of(it_lines_number: u32) -> u32 {
    (32 * (it_lines_number + 1)).min(*SPECIAL_INTIDS.start())
}

/// `Ok` if `intid` is an SPI among the `lines` a Distributor implements.
pub(crate) fn check_spi(intid: u32, lines: u32) -> Result<(), GicError> {
    if !SPI_INTIDS.contains(&intid) {
        return Err(GicError::NotSpi(intid));
    }
    if intid >= lines {
        return Err(GicError::NotImplemented { intid, lines });
    }
    Ok(())
}

/// Polls `busy` until it is false, at most [`POLL_LIMIT`] times.
fn wait_while(what: Wait, mut busy: impl FnMut() -> bool) -> Result<(), GicError> {
    for _ in 0..POLL_LIMIT {
        if !busy() {
            return Ok(());
        }
        core::hint::spin_loop();
    }
    Err(GicError::Timeout(what))
}

/// The GICv3 Distributor: SPI configuration and routing, and the global enables.
pub struct Distributor {
    regs: &'static DistributorRegisters,
}

// SAFETY: the register frame is MMIO reachable from every CPU and `Distributor` holds
// no CPU-local state. The `&self` methods each change one interrupt's state with single
// register writes the GIC applies atomically (write-1-to-set/clear enables, byte-wide
// priorities, 64-bit routing), so they may race; `init`, the one read-modify-write
// sequence, takes `&mut self`.
unsafe impl Send for Distributor {}
// SAFETY: as for `Send` above.
unsafe impl Sync for Distributor {}

impl Distributor {
    /// Takes over the Distributor whose registers are mapped at virtual address `base`.
    ///
    /// # Safety
    /// `base` must be the virtual address of a GICv3 Distributor register frame, mapped
    /// as device memory for at least [`GICD_SIZE`] bytes for the rest of the program,
    /// and no other `Distributor` may exist for the same frame.
    pub unsafe fn new(base: usize) -> Distributor {
        // SAFETY: the caller guarantees a mapped, exclusively owned register frame.
        let regs = unsafe { &*(base as *const DistributorRegisters) };
        Distributor { regs }
    }

    /// Number of INTIDs the Distributor implements below the special range:
    /// `32 * (GICD_TYPER.ITLinesNumber + 1)`, at most 1020. SPIs are `32..lines`.
    pub fn interrupt_lines(&self) -> u32 {
        lines_of(self.regs.TYPER.read(GICD_TYPER::ITLinesNumber))
    }

    /// Whether the GIC has a single security state (`GICD_CTLR.DS == 1`): QEMU `virt`
    /// without EL3. With two states the Non-secure view reads this bit as 0.
    pub fn security_disabled(&self) -> bool {
        self.regs.CTLR.is_set(GICD_CTLR::DS)
    }

    /// Whether SGIs can reach CPUs with Aff0 >= 16 (`GICD_TYPER.RSS`).
    pub fn supports_range_selector(&self) -> bool {
        self.regs.TYPER.is_set(GICD_TYPER::RSS)
    }

    /// Brings the Distributor to a known state, whatever firmware left behind: affinity
    /// routing on; every SPI Group 1 Non-secure, level-sensitive, disabled, not pending
    /// or active, priority [`DEFAULT_PRIORITY`], routed to the CPU `boot_mpidr`; then
    /// Group 1 enabled. The order is the one the module docs explain.
    pub fn init(&mut self, boot_mpidr: u64) -> Result<(), GicError> {
        let ctlr = &self.regs.CTLR;
        // DS, once 1, stays 1 (it is RES0 in the two-state Non-secure view, where it
        // reads 0 and is written back as 0).
        let keep =
            GICD_CTLR::DS.val(ctlr.read(GICD_CTLR::DS)) + GICD_CTLR::ARE_NS.val(ctlr.read(GICD_CTLR::ARE_NS));
        ctlr.write(keep);
        self.wait_for_write()?;
        ctlr.write(keep + GICD_CTLR::ARE_NS::SET);
        self.wait_for_write()?;
        if !ctlr.is_set(GICD_CTLR::ARE_NS) {
            return Err(GicError::AffinityRoutingOff);
        }

        let lines = self.interrupt_lines();
        let boot = Affinity::from_mpidr(boot_mpidr);
        // One bit per INTID; word 0 (SGIs and PPIs) belongs to the redistributors.
        for word in (*SPI_INTIDS.start() / 32)..lines.div_ceil(32) {
            let w = word as usize;
            self.regs.ICENABLER[w].set(u32::MAX);
            self.regs.ICACTIVER[w].set(u32::MAX);
            self.regs.ICPENDR[w].set(u32::MAX);
            self.regs.IGROUPR[w].set(u32::MAX);
            self.regs.IGRPMODR[w].set(0);
            // Two bits per INTID: 0b00 in the Int_config bit is level-sensitive.
            self.regs.ICFGR[2 * w].set(0);
            self.regs.ICFGR[2 * w + 1].set(0);
        }
        for intid in *SPI_INTIDS.start()..lines {
            self.regs.IPRIORITYR[intid as usize].set(DEFAULT_PRIORITY);
            self.irouter(intid).write(route_to(boot));
        }
        // The disables above must have taken effect before anything is enabled.
        self.wait_for_write()?;

        ctlr.write(keep + GICD_CTLR::ARE_NS::SET + GICD_CTLR::EnableGrp1A::SET);
        self.wait_for_write()
    }

    /// Lets SPI `intid` be signalled (`GICD_ISENABLER<n>`).
    pub fn enable_spi(&self, intid: u32) -> Result<(), GicError> {
        self.check_spi(intid)?;
        self.regs.ISENABLER[(intid / 32) as usize].set(one_hot(intid));
        Ok(())
    }

    /// Stops SPI `intid` from being signalled, and waits until the GIC has stopped
    /// (`GICD_ICENABLER<n>`, then `RWP`): after `Ok` no new instance of it is delivered.
    pub fn disable_spi(&self, intid: u32) -> Result<(), GicError> {
        self.check_spi(intid)?;
        self.regs.ICENABLER[(intid / 32) as usize].set(one_hot(intid));
        self.wait_for_write()
    }

    /// Sets SPI `intid`'s priority (lower is more urgent; unimplemented low bits read 0).
    pub fn set_spi_priority(&self, intid: u32, priority: u8) -> Result<(), GicError> {
        self.check_spi(intid)?;
        self.regs.IPRIORITYR[intid as usize].set(priority);
        Ok(())
    }

    /// Routes SPI `intid` to the CPU whose `MPIDR_EL1` is `mpidr` (`GICD_IROUTER<n>`,
    /// `Interrupt_Routing_Mode = 0`: that CPU only).
    pub fn route_spi(&self, intid: u32, mpidr: u64) -> Result<(), GicError> {
        self.check_spi(intid)?;
        self.irouter(intid).write(route_to(Affinity::from_mpidr(mpidr)));
        Ok(())
    }

    fn check_spi(&self, intid: u32) -> Result<(), GicError> {
        check_spi(intid, self.interrupt_lines())
    }

    /// `GICD_IROUTER<intid>`; `intid` must be a checked SPI.
    fn irouter(&self, intid: u32) -> &ReadWrite<u64, GICD_IROUTER::Register> {
        &self.regs.IROUTER[(intid - SPI_INTIDS.start()) as usize]
    }

    fn wait_for_write(&self) -> Result<(), GicError> {
        wait_while(Wait::DistributorWrite, || self.regs.CTLR.is_set(GICD_CTLR::RWP))
    }
}

/// The `GICD_IROUTER<n>` value that sends an SPI to exactly the CPU `target`.
fn route_to(target: Affinity) -> tock_registers::fields::FieldValue<u64, GICD_IROUTER::Register> {
    GICD_IROUTER::Aff3.val(target.aff3.into())
        + GICD_IROUTER::Aff2.val(target.aff2.into())
        + GICD_IROUTER::Aff1.val(target.aff1.into())
        + GICD_IROUTER::Aff0.val(target.aff0.into())
        + GICD_IROUTER::Interrupt_Routing_Mode.val(0)
}

/// One CPU's Redistributor: its SGIs and PPIs, and its wake state.
pub struct Redistributor {
    rd: &'static RdRegisters,
    sgi: &'static SgiRegisters,
}

// SAFETY: the frame is MMIO reachable from every CPU (it is per CPU by convention,
// not by addressing). The `&self` methods each write single registers for single
// interrupts, which the GIC applies atomically; `init_cpu`, the read-modify-write
// sequence, takes `&mut self`.
unsafe impl Send for Redistributor {}
// SAFETY: as for `Send` above.
unsafe impl Sync for Redistributor {}

impl Redistributor {
    /// Takes over the redistributor frame whose `RD_base` is mapped at `rd_base`.
    ///
    /// # Safety
    /// `rd_base` must be the virtual address of a GICv3 redistributor frame, mapped as
    /// device memory for at least [`GICR_FRAME_SIZE_V3`] bytes (`RD_base` and
    /// `SGI_base`) for the rest of the program, and no other `Redistributor` may exist
    /// for the same frame.
    pub unsafe fn new(rd_base: usize) -> Redistributor {
        // SAFETY: the caller guarantees the frame's first page is mapped and ours.
        let rd = unsafe { &*(rd_base as *const RdRegisters) };
        // SAFETY: and its second page, `SGI_base`, right after it.
        let sgi = unsafe { &*((rd_base + GICR_PAGE_SIZE) as *const SgiRegisters) };
        Redistributor { rd, sgi }
    }

    /// Finds and takes over the redistributor of the CPU whose `MPIDR_EL1` is `mpidr`,
    /// searching the `(virtual address, length)` regions with [`locate_frame`].
    ///
    /// # Safety
    /// Every region must be mapped as device memory for its whole length for the rest
    /// of the program, and hold GICv3 redistributor frames from its start (as the
    /// device tree's `reg` of `arm,gic-v3` describes them); no `Redistributor` may
    /// already exist for the frame of `mpidr`.
    pub unsafe fn find(regions: &[(usize, usize)], mpidr: u64) -> Option<Redistributor> {
        let frame = locate_frame(regions, Affinity::from_mpidr(mpidr), |rd_base| {
            // SAFETY: `locate_frame` passes only frame addresses with a whole frame
            // inside a region, which the caller guarantees is mapped redistributor
            // space; reading GICR_TYPER has no side effects.
            let rd = unsafe { &*(rd_base as *const RdRegisters) };
            rd.TYPER.get()
        })?;
        // SAFETY: `frame` is such an address, and the caller guarantees no other
        // `Redistributor` exists for it.
        Some(unsafe { Redistributor::new(frame) })
    }

    /// The virtual address of this frame's `RD_base` (for per-CPU records and reports).
    pub fn base(&self) -> usize {
        self.rd as *const RdRegisters as usize
    }

    /// The CPU this redistributor serves (`GICR_TYPER.Affinity_Value`).
    pub fn affinity(&self) -> Affinity {
        Affinity::from_gicr_typer(self.rd.TYPER.get())
    }

    /// `GICR_TYPER.Processor_Number`: the GIC's own number for the CPU.
    pub fn processor_number(&self) -> u16 {
        self.rd.TYPER.read(GICR_TYPER::Processor_Number) as u16
    }

    /// Prepares the redistributor of the calling CPU: wakes it (clear
    /// `ProcessorSleep`, wait for `ChildrenAsleep` to clear), then makes every SGI and
    /// PPI Group 1 Non-secure, disabled, not pending or active, priority
    /// [`DEFAULT_PRIORITY`]. PPI trigger modes are left alone: they are fixed or set by
    /// firmware per the device tree (the timer's are level-sensitive).
    pub fn init_cpu(&mut self) -> Result<(), GicError> {
        self.rd.WAKER.modify(GICR_WAKER::ProcessorSleep::CLEAR);
        wait_while(Wait::RedistributorWake, || self.rd.WAKER.is_set(GICR_WAKER::ChildrenAsleep))?;

        self.sgi.ICENABLER0.set(u32::MAX);
        self.wait_for_write()?;
        self.sgi.ICACTIVER0.set(u32::MAX);
        self.sgi.ICPENDR0.set(u32::MAX);
        self.sgi.IGROUPR0.set(u32::MAX);
        self.sgi.IGRPMODR0.set(0);
        for priority in &self.sgi.IPRIORITYR {
            priority.set(DEFAULT_PRIORITY);
        }
        Ok(())
    }

    /// Lets SGI or PPI `intid` (0-31) be signalled to this CPU.
    pub fn enable_ppi_or_sgi(&self, intid: u32) -> Result<(), GicError> {
        check_private(intid)?;
        self.sgi.ISENABLER0.set(one_hot(intid));
        Ok(())
    }

    /// Stops SGI or PPI `intid` (0-31) and waits until the GIC has (`RWP`).
    pub fn disable(&self, intid: u32) -> Result<(), GicError> {
        check_private(intid)?;
        self.sgi.ICENABLER0.set(one_hot(intid));
        self.wait_for_write()
    }

    /// Sets SGI or PPI `intid`'s priority on this CPU.
    pub fn set_priority(&self, intid: u32, priority: u8) -> Result<(), GicError> {
        check_private(intid)?;
        self.sgi.IPRIORITYR[intid as usize].set(priority);
        Ok(())
    }

    fn wait_for_write(&self) -> Result<(), GicError> {
        wait_while(Wait::RedistributorWrite, || self.rd.CTLR.is_set(GICR_CTLR::RWP))
    }
}

pub(crate) fn check_private(intid: u32) -> Result<(), GicError> {
    if intid <= *PPI_INTIDS.end() { Ok(()) } else { Err(GicError::NotPrivate(intid)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_regs::Fake;

    const CTLR: usize = 0x0;
    const TYPER: usize = 0x4;
    const IGROUPR: usize = 0x80;
    const ISENABLER: usize = 0x100;
    const ICENABLER: usize = 0x180;
    const ICPENDR: usize = 0x280;
    const ICACTIVER: usize = 0x380;
    const IPRIORITYR: usize = 0x400;
    const ICFGR: usize = 0xc00;
    const IGRPMODR: usize = 0xd00;
    const IROUTER: usize = 0x6000;
    const ARE_NS: u32 = 0x10;
    const ENABLE_GRP1A: u32 = 0x2;
    const DS: u32 = 0x40;
    const RWP: u32 = 0x8000_0000;

    // GICR: RD_base, then SGI_base one page up.
    const GICR_CTLR: usize = 0x0;
    const GICR_TYPER_OFF: usize = 0x8;
    const GICR_WAKER_OFF: usize = 0x14;
    const SGI: usize = GICR_PAGE_SIZE;
    const PROCESSOR_SLEEP: u32 = 0x2;
    const CHILDREN_ASLEEP: u32 = 0x4;
    const TYPER_LAST: u64 = 0x10;
    const TYPER_VLPIS: u64 = 0x2;

    fn distributor(fake: &Fake) -> Distributor {
        // SAFETY: the fake is a zeroed/filled host block of GICD_SIZE bytes that
        // outlives the driver, and only this driver uses it.
        unsafe { Distributor::new(fake.base()) }
    }

    /// QEMU's MPIDR for CPU `idx` with GICv3: Aff0 = idx % 16, Aff1 = idx / 16.
    fn qemu_mpidr(idx: u64) -> u64 {
        Affinity { aff3: 0, aff2: 0, aff1: (idx / 16) as u8, aff0: (idx % 16) as u8 }.to_mpidr()
    }

    /// GICR_TYPER for a frame serving `mpidr`, with extra flag bits.
    fn typer_for(mpidr: u64, flags: u64) -> u64 {
        let a = Affinity::from_mpidr(mpidr);
        let packed = u64::from_be_bytes([a.aff3, a.aff2, a.aff1, a.aff0, 0, 0, 0, 0]);
        packed | flags
    }

    #[test]
    fn intid_ranges_partition_the_non_lpi_space() {
        assert_eq!(SGI_INTIDS.end() + 1, *PPI_INTIDS.start());
        assert_eq!(PPI_INTIDS.end() + 1, *SPI_INTIDS.start());
        assert_eq!(SPI_INTIDS.end() + 1, *SPECIAL_INTIDS.start());
        assert_eq!(*SPECIAL_INTIDS.end(), SPURIOUS_INTID);
    }

    #[test]
    fn dt_timer_ppis_map_to_intids_16_up() {
        // QEMU virt's timer: PPIs 13, 14, 11, 10 (sec phys, phys, virt, hyp).
        assert_eq!(ppi_to_intid(13), Ok(29));
        assert_eq!(ppi_to_intid(14), Ok(30));
        assert_eq!(ppi_to_intid(11), Ok(27));
        assert_eq!(ppi_to_intid(10), Ok(26));
        assert_eq!(ppi_to_intid(0), Ok(16));
        assert_eq!(ppi_to_intid(15), Ok(31));
        assert_eq!(ppi_to_intid(16), Err(GicError::NotPpi(16)));
        assert_eq!(ppi_to_intid(u32::MAX), Err(GicError::NotPpi(u32::MAX)));
    }

    #[test]
    fn special_intids_are_spurious_and_others_are_not() {
        for intid in [1020, 1021, 1022, 1023] {
            assert!(is_spurious(intid), "{intid}");
        }
        for intid in [0, 15, 16, 27, 31, 32, 1019, 8192] {
            assert!(!is_spurious(intid), "{intid}");
        }
        // Bits above the 24-bit INTID field are RES0 and do not count.
        assert!(is_spurious(iar_intid(0xFFFF_FFFF_FF00_0000 | 1023)));
        assert_eq!(iar_intid(0xFF00_0000 | 30), 30);
    }

    #[test]
    fn sgi1r_targets_qemu_cpus_by_aff1_and_target_list() {
        // CPU 0: Aff0 0 -> TargetList bit 0, INTID in [27:24].
        assert_eq!(sgi1r_value(0, qemu_mpidr(0)), Ok(0x1));
        assert_eq!(sgi1r_value(1, qemu_mpidr(3)), Ok(0x0100_0008));
        // CPU 17: Aff1 = 1, Aff0 = 1.
        assert_eq!(sgi1r_value(15, qemu_mpidr(17)), Ok(0x0F01_0002));
        // CPU 511 (QEMU's maximum): Aff1 = 31, Aff0 = 15.
        assert_eq!(sgi1r_value(2, qemu_mpidr(511)), Ok(0x021F_8000));
    }

    #[test]
    fn sgi1r_uses_the_range_selector_and_upper_affinities() {
        // Aff3 = 1, Aff2 = 2, Aff1 = 3, Aff0 = 35 -> RS = 2, TargetList bit 3.
        let mpidr = Affinity { aff3: 1, aff2: 2, aff1: 3, aff0: 35 }.to_mpidr();
        assert_eq!(mpidr, 0x01_0002_0323);
        assert_eq!(sgi1r_value(7, mpidr), Ok(0x0001_2002_0703_0008));
        // MPIDR's U and MT bits (30, 24) and RES1 bit 31 are not affinity.
        assert_eq!(sgi1r_value(0, 0x8100_0000 | qemu_mpidr(1)), Ok(0x2));
        assert_eq!(sgi1r_value(16, 0), Err(GicError::NotSgi(16)));
    }

    #[test]
    fn affinity_reads_mpidr_and_gicr_typer_layouts() {
        let a = Affinity { aff3: 0xAB, aff2: 0xCD, aff1: 0xEF, aff0: 0x12 };
        assert_eq!(Affinity::from_mpidr(a.to_mpidr()), a);
        assert_eq!(Affinity::from_gicr_typer(0xABCD_EF12_0000_0013), a);
        assert_eq!(Affinity::from_gicr_typer(typer_for(a.to_mpidr(), 0)), a);
        assert_eq!(a.to_string(), "171.205.239.18");
    }

    /// Runs `locate_frame` for QEMU CPU `idx` over a table of `(address, GICR_TYPER)`,
    /// returning what it found and the addresses it read.
    fn walk(regions: &[(usize, usize)], table: &[(usize, u64)], idx: u64) -> (Option<usize>, Vec<usize>) {
        let mut reads = Vec::new();
        let found = locate_frame(regions, Affinity::from_mpidr(qemu_mpidr(idx)), |addr| {
            reads.push(addr);
            table.iter().find(|(at, _)| *at == addr).map(|(_, t)| *t).expect("read outside the frames")
        });
        (found, reads)
    }

    #[test]
    fn frame_walk_crosses_regions_with_different_strides() {
        // Region A: 3 GICv3 frames (128 KiB), CPUs 14, 15, 16, Last on the third; its
        // length claims room for more, so Last must stop the walk.
        // Region B: 2 GICv4 frames (256 KiB), CPUs 17, 18.
        let a = 0x8_0000_0000usize;
        let b = 0x40_0000_0000usize;
        let table = [
            (a, typer_for(qemu_mpidr(14), 0)),
            (a + 0x2_0000, typer_for(qemu_mpidr(15), 0)),
            (a + 0x4_0000, typer_for(qemu_mpidr(16), TYPER_LAST)),
            (b, typer_for(qemu_mpidr(17), TYPER_VLPIS)),
            (b + 0x4_0000, typer_for(qemu_mpidr(18), TYPER_VLPIS | TYPER_LAST)),
        ];
        let regions = [(a, 0x10_0000), (b, 0x8_0000)];
        assert_eq!(walk(&regions, &table, 14), (Some(a), vec![a]));
        assert_eq!(walk(&regions, &table, 16).0, Some(a + 0x4_0000));
        assert_eq!(walk(&regions, &table, 17).0, Some(b));
        assert_eq!(
            walk(&regions, &table, 18),
            (Some(b + 0x4_0000), vec![a, a + 0x2_0000, a + 0x4_0000, b, b + 0x4_0000])
        );
        assert_eq!(walk(&regions, &table, 19).0, None);
        assert_eq!(walk(&regions, &table, 0).0, None);
    }

    #[test]
    fn frame_walk_stops_at_the_region_end_without_a_last_bit() {
        let base = 0x1000_0000usize;
        let mut reads = Vec::new();
        // Two frames' worth of region, no Last anywhere, nothing matches.
        let found = locate_frame(&[(base, 2 * GICR_FRAME_SIZE_V3 + 0x1000)], Affinity::default(), |at| {
            reads.push(at);
            typer_for(qemu_mpidr(5), 0)
        });
        assert_eq!(found, None);
        assert_eq!(reads, [base, base + GICR_FRAME_SIZE_V3]);
        // A region too short for one frame is not read at all; neither is an empty one.
        let found = locate_frame(&[(base, GICR_PAGE_SIZE), (base, 0)], Affinity::default(), |_| {
            panic!("read a frame that does not fit")
        });
        assert_eq!(found, None);
        // A region at the top of the address space does not wrap around.
        let top = usize::MAX - GICR_FRAME_SIZE_V3 + 1;
        let found = locate_frame(&[(top, GICR_FRAME_SIZE_V3 * 4)], Affinity::default(), |at| {
            assert_eq!(at, top);
            typer_for(qemu_mpidr(1), 0)
        });
        assert_eq!(found, None);
    }

    #[test]
    fn redistributor_find_reads_real_frames_in_two_regions() {
        // Region 1: two v3 frames (CPUs 0, 1; Last on CPU 1). Region 2: two v4
        // frames (CPUs 124, 130), as QEMU adds above 123 CPUs (there v3, here v4 to
        // vary the stride).
        let r1 = Fake::new(2 * GICR_FRAME_SIZE_V3);
        let r2 = Fake::new(2 * GICR_FRAME_SIZE_V4);
        r1.write(GICR_TYPER_OFF, typer_for(qemu_mpidr(0), 0));
        r1.write(GICR_FRAME_SIZE_V3 + GICR_TYPER_OFF, typer_for(qemu_mpidr(1), TYPER_LAST) | 0x100);
        r2.write(GICR_TYPER_OFF, typer_for(qemu_mpidr(124), TYPER_VLPIS));
        r2.write(GICR_FRAME_SIZE_V4 + GICR_TYPER_OFF, typer_for(qemu_mpidr(130), TYPER_VLPIS | TYPER_LAST));
        let regions = [(r1.base(), 2 * GICR_FRAME_SIZE_V3), (r2.base(), 2 * GICR_FRAME_SIZE_V4)];
        for (idx, region, offset) in
            [(0, &r1, 0), (1, &r1, GICR_FRAME_SIZE_V3), (124, &r2, 0), (130, &r2, GICR_FRAME_SIZE_V4)]
        {
            // SAFETY: both fakes are host blocks of exactly the lengths given, holding
            // redistributor frames, alive for this test; each frame is taken once.
            let rd = unsafe { Redistributor::find(&regions, qemu_mpidr(idx)) }.expect("found");
            assert_eq!(rd.affinity(), Affinity::from_mpidr(qemu_mpidr(idx)));
            assert_eq!(rd.base(), region.base() + offset);
        }
        // SAFETY: as above; no frame matches, so nothing is taken.
        assert!(unsafe { Redistributor::find(&regions, qemu_mpidr(2)) }.is_none());
        // SAFETY: as above.
        let rd = unsafe { Redistributor::find(&regions, qemu_mpidr(1)) }.expect("found");
        assert_eq!(rd.processor_number(), 1);
    }

    #[test]
    fn distributor_init_overwrites_stale_state() {
        let fake = Fake::new(GICD_SIZE);
        fake.fill(0x5A);
        // 96 lines: SPIs 32..96. Stale CTLR: groups on, ARE off, RWP set.
        fake.write::<u32>(TYPER, 2);
        fake.write::<u32>(CTLR, RWP | 0x3);
        let mut gicd = distributor(&fake);
        assert_eq!(gicd.interrupt_lines(), 96);
        let boot = Affinity { aff3: 1, aff2: 2, aff1: 3, aff0: 4 }.to_mpidr();
        assert_eq!(gicd.init(boot), Ok(()));

        assert_eq!(fake.read::<u32>(CTLR), ARE_NS | ENABLE_GRP1A);
        for w in 1..3 {
            assert_eq!(fake.read::<u32>(IGROUPR + 4 * w), u32::MAX, "IGROUPR{w}");
            assert_eq!(fake.read::<u32>(IGRPMODR + 4 * w), 0, "IGRPMODR{w}");
            assert_eq!(fake.read::<u32>(ICENABLER + 4 * w), u32::MAX, "ICENABLER{w}");
            assert_eq!(fake.read::<u32>(ICACTIVER + 4 * w), u32::MAX, "ICACTIVER{w}");
            assert_eq!(fake.read::<u32>(ICPENDR + 4 * w), u32::MAX, "ICPENDR{w}");
            assert_eq!(fake.read::<u32>(ICFGR + 8 * w), 0, "ICFGR{}", 2 * w);
            assert_eq!(fake.read::<u32>(ICFGR + 8 * w + 4), 0, "ICFGR{}", 2 * w + 1);
        }
        for intid in 32..96 {
            assert_eq!(fake.read::<u8>(IPRIORITYR + intid), DEFAULT_PRIORITY, "priority {intid}");
            assert_eq!(fake.read::<u64>(IROUTER + 8 * intid), 0x01_0002_0304, "route {intid}");
        }
        // SGI/PPI words (redistributor business) and unimplemented lines are untouched.
        let stale32 = 0x5A5A_5A5A;
        assert_eq!(fake.read::<u32>(IGROUPR), stale32);
        assert_eq!(fake.read::<u32>(ICENABLER), stale32);
        assert_eq!(fake.read::<u32>(IGROUPR + 4 * 3), stale32);
        assert_eq!(fake.read::<u8>(IPRIORITYR + 31), 0x5A);
        assert_eq!(fake.read::<u8>(IPRIORITYR + 96), 0x5A);
        assert_eq!(fake.read::<u64>(IROUTER + 8 * 96), 0x5A5A_5A5A_5A5A_5A5A);
        // Nothing was enabled.
        assert_eq!(fake.read::<u32>(ISENABLER + 4), stale32);
    }

    #[test]
    fn distributor_init_keeps_ds_and_existing_affinity_routing() {
        let fake = Fake::new(GICD_SIZE);
        // Single security state (QEMU virt, no EL3), ARE already on, Group 0 on.
        fake.write::<u32>(CTLR, DS | ARE_NS | 0x1);
        let mut gicd = distributor(&fake);
        assert!(gicd.security_disabled());
        assert_eq!(gicd.interrupt_lines(), 32);
        assert_eq!(gicd.init(qemu_mpidr(0)), Ok(()));
        // Group 0 off, Group 1 on, DS written back as it was.
        assert_eq!(fake.read::<u32>(CTLR), DS | ARE_NS | ENABLE_GRP1A);
        // Two-state Non-secure view: DS reads 0 and stays 0.
        fake.write::<u32>(CTLR, 0);
        assert!(!gicd.security_disabled());
        assert_eq!(gicd.init(qemu_mpidr(0)), Ok(()));
        assert_eq!(fake.read::<u32>(CTLR), ARE_NS | ENABLE_GRP1A);
    }

    #[test]
    fn interrupt_lines_stop_below_the_special_range() {
        let fake = Fake::new(GICD_SIZE);
        fake.write::<u32>(TYPER, 0x1F | 0x0400_0000);
        let gicd = distributor(&fake);
        assert_eq!(gicd.interrupt_lines(), 1020);
        assert!(gicd.supports_range_selector());
    }

    #[test]
    fn spi_accessors_write_one_interrupts_bits() {
        let fake = Fake::new(GICD_SIZE);
        fake.write::<u32>(TYPER, 2); // SPIs 32..96
        let gicd = distributor(&fake);
        assert_eq!(gicd.enable_spi(33), Ok(()));
        assert_eq!(fake.read::<u32>(ISENABLER + 4), 0x2);
        assert_eq!(gicd.enable_spi(95), Ok(()));
        assert_eq!(fake.read::<u32>(ISENABLER + 8), 0x8000_0000);
        assert_eq!(gicd.disable_spi(64), Ok(()));
        assert_eq!(fake.read::<u32>(ICENABLER + 8), 0x1);
        assert_eq!(gicd.set_spi_priority(40, 0x80), Ok(()));
        assert_eq!(fake.read::<u8>(IPRIORITYR + 40), 0x80);
        assert_eq!(gicd.route_spi(41, qemu_mpidr(33)), Ok(()));
        assert_eq!(fake.read::<u64>(IROUTER + 8 * 41), 0x0201);

        assert_eq!(gicd.enable_spi(31), Err(GicError::NotSpi(31)));
        assert_eq!(gicd.route_spi(1020, 0), Err(GicError::NotSpi(1020)));
        assert_eq!(gicd.enable_spi(96), Err(GicError::NotImplemented { intid: 96, lines: 96 }));
        assert_eq!(gicd.set_spi_priority(1019, 0), Err(GicError::NotImplemented { intid: 1019, lines: 96 }));
    }

    #[test]
    fn a_stuck_distributor_write_pending_bit_times_out() {
        let fake = Fake::new(GICD_SIZE);
        fake.write::<u32>(TYPER, 2);
        fake.write::<u32>(CTLR, RWP);
        let gicd = distributor(&fake);
        assert_eq!(gicd.disable_spi(40), Err(GicError::Timeout(Wait::DistributorWrite)));
    }

    #[test]
    fn redistributor_init_wakes_it_and_overwrites_stale_state() {
        let fake = Fake::new(GICR_FRAME_SIZE_V3);
        fake.fill(0xA5);
        fake.write::<u64>(GICR_TYPER_OFF, typer_for(qemu_mpidr(3), TYPER_LAST));
        fake.write::<u32>(GICR_CTLR, 0);
        fake.write::<u32>(GICR_WAKER_OFF, PROCESSOR_SLEEP);
        // SAFETY: the fake is a host block of one redistributor frame, alive for the test.
        let mut rd = unsafe { Redistributor::new(fake.base()) };
        assert_eq!(rd.init_cpu(), Ok(()));
        assert_eq!(fake.read::<u32>(GICR_WAKER_OFF), 0);
        assert_eq!(fake.read::<u32>(SGI + ICENABLER), u32::MAX);
        assert_eq!(fake.read::<u32>(SGI + ICACTIVER), u32::MAX);
        assert_eq!(fake.read::<u32>(SGI + ICPENDR), u32::MAX);
        assert_eq!(fake.read::<u32>(SGI + IGROUPR), u32::MAX);
        assert_eq!(fake.read::<u32>(SGI + IGRPMODR), 0);
        for intid in 0..32 {
            assert_eq!(fake.read::<u8>(SGI + IPRIORITYR + intid), DEFAULT_PRIORITY);
        }
        // Nothing enabled, PPI trigger configuration left to firmware.
        assert_eq!(fake.read::<u32>(SGI + ISENABLER), 0xA5A5_A5A5);
        assert_eq!(fake.read::<u32>(SGI + ICFGR + 4), 0xA5A5_A5A5);
    }

    #[test]
    fn a_redistributor_that_stays_asleep_times_out() {
        let fake = Fake::new(GICR_FRAME_SIZE_V3);
        fake.write::<u32>(GICR_WAKER_OFF, PROCESSOR_SLEEP | CHILDREN_ASLEEP);
        // SAFETY: the fake is a host block of one redistributor frame, alive for the test.
        let mut rd = unsafe { Redistributor::new(fake.base()) };
        assert_eq!(rd.init_cpu(), Err(GicError::Timeout(Wait::RedistributorWake)));
        // ProcessorSleep was cleared, ChildrenAsleep (the GIC's to clear) kept.
        assert_eq!(fake.read::<u32>(GICR_WAKER_OFF), CHILDREN_ASLEEP);
        // A stuck RWP fails `disable` the same way.
        fake.write::<u32>(GICR_CTLR, 0x8);
        assert_eq!(rd.disable(27), Err(GicError::Timeout(Wait::RedistributorWrite)));
    }

    #[test]
    fn private_interrupt_accessors_take_sgis_and_ppis_only() {
        let fake = Fake::new(GICR_FRAME_SIZE_V3);
        // SAFETY: the fake is a host block of one redistributor frame, alive for the test.
        let rd = unsafe { Redistributor::new(fake.base()) };
        let timer = ppi_to_intid(14).expect("PPI");
        assert_eq!(rd.enable_ppi_or_sgi(timer), Ok(()));
        assert_eq!(fake.read::<u32>(SGI + ISENABLER), 0x4000_0000);
        assert_eq!(rd.enable_ppi_or_sgi(0), Ok(()));
        assert_eq!(fake.read::<u32>(SGI + ISENABLER), 0x1);
        assert_eq!(rd.disable(timer), Ok(()));
        assert_eq!(fake.read::<u32>(SGI + ICENABLER), 0x4000_0000);
        assert_eq!(rd.set_priority(timer, 0x90), Ok(()));
        assert_eq!(fake.read::<u8>(SGI + IPRIORITYR + 30), 0x90);
        assert_eq!(rd.enable_ppi_or_sgi(32), Err(GicError::NotPrivate(32)));
        assert_eq!(rd.disable(1023), Err(GicError::NotPrivate(1023)));
        assert_eq!(rd.set_priority(40, 0), Err(GicError::NotPrivate(40)));
    }
}
