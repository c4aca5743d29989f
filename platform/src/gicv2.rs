// SPDX-License-Identifier: MIT OR Apache-2.0
//! The GICv2 interrupt controller (GIC-400 and compatibles): Distributor and CPU
//! interface, both memory-mapped.
//!
//! Most Arm boards of the Cortex-A53/A72 generation (the Raspberry Pi 4, Allwinner,
//! Amlogic and most Rockchip SoCs; 223 of the 577 arm64 boards Linux 6.1 knows) have a
//! GICv2 rather than a GICv3. It has the same three INTID ranges (SGIs 0-15, PPIs
//! 16-31, SPIs 32-1019; see [`crate::gicv3`]) but a simpler shape:
//!
//! ```text
//!   devices --SPI--> Distributor (GICD, one per system; SGI/PPI registers banked per CPU)
//!                        |  sends each SPI to the CPUs in its GICD_ITARGETSR<n> byte
//!                        v
//!   timer --PPI-->  CPU interface (GICC, MMIO, the same address banked per CPU)
//! ```
//!
//! - No redistributors: the SGI and PPI registers (word 0 of the enable, pending and
//!   active bitmaps, priorities 0-31) are in the Distributor, *banked*: each CPU sees
//!   its own copy at the same address. [`Distributor::init_this_cpu`] programs the
//!   calling CPU's copy.
//! - No affinity routing: CPUs are named by their **CPU interface number** (0-7), one
//!   bit each in an 8-bit mask, not by MPIDR. A CPU learns its own bit by reading the
//!   banked `GICD_ITARGETSR0..7` ([`Distributor::this_cpu_mask`]); the kernel keeps the
//!   MPIDR-to-mask table. Hence at most eight CPUs.
//! - The CPU interface is MMIO ([`CpuInterface`]): `GICC_IAR` to acknowledge, `GICC_EOIR`
//!   to end. For an SGI the acknowledged value also carries the sending CPU's number in
//!   bits 12:10, and the same *whole* value must go back to `GICC_EOIR`
//!   ([`Acknowledged`] keeps it).
//! - SGIs are sent by writing `GICD_SGIR` ([`Distributor::send_sgi`]).
//!
//! # Design
//!
//! *Groups and security.* A GIC-400 with the Security Extensions, booted by firmware
//! into the Non-secure state as every board is, shows the kernel a Non-secure view:
//! `GICD_IGROUPR` is RAZ/WI (firmware made every interrupt Group 1) and bit 0 of
//! `GICD_CTLR` and `GICC_CTLR` enables Group 1. Without the Security Extensions (QEMU
//! `virt,gic-version=2` without EL3) the same bit 0 enables Group 0, where every
//! interrupt is after reset, and Group 0 interrupts are IRQs while `GICC_CTLR.FIQEn` is
//! 0. So the driver never writes `GICD_IGROUPR` and sets bit 0 only: right in both cases
//! (what Linux's `irq-gic.c` does too). Making interrupts Group 1 without the Security
//! Extensions would be wrong: with `GICC_CTLR.AckCtl == 0`, `GICC_IAR` then answers 1022
//! for them.
//!
//! *Bypass.* `GICC_CTLR` bits 5-8 disable the legacy IRQ/FIQ bypass; firmware sets them
//! and they are kept. Everything else in `GICC_CTLR` is written 0 (EOImode 0: a write to
//! `GICC_EOIR` drops the priority and deactivates).
//!
//! *Priorities.* [`crate::gicv3::DEFAULT_PRIORITY`] (0xA0) everywhere: a GIC-400 keeps
//! five priority bits and 0xA0 survives them; the priority mask `GICC_PMR` is 0xFF
//! (everything passes).
//!
//! # Safety boundary
//!
//! [`Distributor::new`] and [`CpuInterface::new`] are the only `unsafe` items: the
//! caller promises the addresses are mapped GICv2 register frames. Every register
//! access is one volatile read or write through tock-registers; `GICD_IPRIORITYR` and
//! `GICD_ITARGETSR` are byte-accessible in GICv2, and are accessed by byte.
//!
//! # References
//!
//! - Arm, *ARM Generic Interrupt Controller Architecture Specification, version 2.0*,
//!   IHI 0048B.b: 4.3 (the Distributor registers: `GICD_CTLR`, `GICD_TYPER`,
//!   `GICD_ITARGETSR<n>` "In a multiprocessor implementation, GICD_ITARGETSR0 to
//!   GICD_ITARGETSR7 are read-only, and each field returns a value that corresponds only
//!   to the processor reading the register", `GICD_SGIR`), 4.4 (the CPU interface:
//!   `GICC_CTLR`, `GICC_PMR`, `GICC_IAR`, `GICC_EOIR`), 3.2.3 (the SGI's CPUID in IAR).
//! - Arm CoreLink GIC-400 Generic Interrupt Controller TRM (DDI 0471B): the register
//!   map offsets (GICD 4 KiB, GICC 8 KiB) and 5 priority bits.
//! - Linux `Documentation/devicetree/bindings/interrupt-controller/arm,gic.yaml`:
//!   `reg` = distributor, then CPU interface.

use crate::gicv3::{DEFAULT_PRIORITY, GicError, PPI_INTIDS, SGI_INTIDS, SPI_INTIDS};
use crate::gicv3::{check_private, check_spi, lines_of, one_hot};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

/// Bytes of the Distributor's register frame (GIC-400: 4 KiB).
pub const GICD_SIZE: usize = 0x1000;
/// Bytes of the CPU interface's register frame (GIC-400: 8 KiB; the second page holds
/// only `GICC_DIR`, which EOImode 0 does not use).
pub const GICC_SIZE: usize = 0x2000;
/// Most CPU interfaces a GICv2 has: `GICD_ITARGETSR` and the SGI target list are 8 bits.
pub const MAX_CPU_INTERFACES: usize = 8;

register_bitfields! {u32,
    /// Distributor control (the Non-secure view's bit 0 is `EnableGrp1`).
    GICD_CTLR [
        /// Forward interrupts of the group this view controls to the CPU interfaces.
        Enable OFFSET(0) NUMBITS(1) []
    ],
    /// Distributor type.
    GICD_TYPER [
        /// The GIC implements the Security Extensions.
        SecurityExtn OFFSET(10) NUMBITS(1) [],
        /// CPU interfaces implemented, minus one.
        CPUNumber OFFSET(5) NUMBITS(3) [],
        /// `32 * (ITLinesNumber + 1)` INTIDs are implemented (at most 1020).
        ITLinesNumber OFFSET(0) NUMBITS(5) []
    ],
    /// Software-generated interrupt register.
    GICD_SGIR [
        /// 0: the CPUs in `CPUTargetList`; 1: all but the sender; 2: the sender only.
        TargetListFilter OFFSET(24) NUMBITS(2) [
            List = 0,
            AllButSelf = 1,
            SelfOnly = 2
        ],
        /// One bit per target CPU interface.
        CPUTargetList OFFSET(16) NUMBITS(8) [],
        /// The SGI number.
        SGIINTID OFFSET(0) NUMBITS(4) []
    ],
    /// CPU interface control (the Non-secure view's bit 0 is `EnableGrp1`).
    GICC_CTLR [
        /// Disable the legacy IRQ bypass, Group 1 (kept as firmware left it).
        IRQBypDisGrp1 OFFSET(8) NUMBITS(1) [],
        /// Disable the legacy FIQ bypass, Group 1.
        FIQBypDisGrp1 OFFSET(7) NUMBITS(1) [],
        /// Disable the legacy IRQ bypass, Group 0.
        IRQBypDisGrp0 OFFSET(6) NUMBITS(1) [],
        /// Disable the legacy FIQ bypass, Group 0.
        FIQBypDisGrp0 OFFSET(5) NUMBITS(1) [],
        /// Signal interrupts of the group this view controls to the CPU.
        Enable OFFSET(0) NUMBITS(1) []
    ],
    /// Interrupt acknowledge (the same value goes back to `GICC_EOIR`).
    GICC_IAR [
        /// For an SGI: the CPU interface that sent it.
        CPUID OFFSET(10) NUMBITS(3) [],
        /// The acknowledged INTID (1023: none).
        InterruptID OFFSET(0) NUMBITS(10) []
    ]
}

register_structs! {
    /// The Distributor registers this driver uses.
    #[allow(non_snake_case)]
    DistributorRegisters {
        (0x000 => CTLR: ReadWrite<u32, GICD_CTLR::Register>),
        (0x004 => TYPER: ReadOnly<u32, GICD_TYPER::Register>),
        (0x008 => _reserved0),
        (0x100 => ISENABLER: [ReadWrite<u32>; 32]),
        (0x180 => ICENABLER: [ReadWrite<u32>; 32]),
        (0x200 => _reserved1),
        (0x280 => ICPENDR: [ReadWrite<u32>; 32]),
        (0x300 => _reserved2),
        (0x380 => ICACTIVER: [ReadWrite<u32>; 32]),
        (0x400 => IPRIORITYR: [ReadWrite<u8>; 1020]),
        (0x7fc => _reserved3),
        (0x800 => ITARGETSR: [ReadWrite<u8>; 1020]),
        (0xbfc => _reserved4),
        (0xc00 => ICFGR: [ReadWrite<u32>; 64]),
        (0xd00 => _reserved5),
        (0xf00 => SGIR: WriteOnly<u32, GICD_SGIR::Register>),
        (0xf04 => _reserved6),
        (0x1000 => @END),
    }
}

register_structs! {
    /// The CPU interface registers this driver uses.
    #[allow(non_snake_case)]
    CpuInterfaceRegisters {
        (0x000 => CTLR: ReadWrite<u32, GICC_CTLR::Register>),
        (0x004 => PMR: ReadWrite<u32>),
        (0x008 => BPR: ReadWrite<u32>),
        (0x00c => IAR: ReadOnly<u32, GICC_IAR::Register>),
        (0x010 => EOIR: WriteOnly<u32>),
        (0x014 => @END),
    }
}

/// An acknowledged interrupt: its INTID, and the raw `GICC_IAR` value that must be
/// written back to end it (for an SGI it names the sender too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acknowledged {
    /// The INTID (1020-1023: none; see [`crate::gicv3::is_spurious`]).
    pub intid: u32,
    /// The value read from `GICC_IAR`.
    pub raw: u32,
}

impl Acknowledged {
    /// Decodes a `GICC_IAR` value.
    pub fn from_iar(raw: u32) -> Acknowledged {
        Acknowledged { intid: GICC_IAR::InterruptID.read(raw), raw }
    }

    /// The CPU interface that sent it, if it is an SGI.
    pub fn sender(&self) -> Option<u8> {
        SGI_INTIDS.contains(&self.intid).then(|| GICC_IAR::CPUID.read(self.raw) as u8)
    }
}

/// The `GICD_SGIR` value that sends SGI `intid` to the CPU interfaces in `targets`.
pub fn sgir_value(intid: u32, targets: u8) -> Result<u32, GicError> {
    if !SGI_INTIDS.contains(&intid) {
        return Err(GicError::NotSgi(intid));
    }
    if targets == 0 {
        return Err(GicError::NoTarget);
    }
    let value = GICD_SGIR::TargetListFilter::List
        + GICD_SGIR::CPUTargetList.val(targets.into())
        + GICD_SGIR::SGIINTID.val(intid);
    Ok(value.value)
}

/// The GICv2 Distributor.
pub struct Distributor {
    regs: &'static DistributorRegisters,
}

// SAFETY: the register frame is MMIO reachable from every CPU. The `&self` methods
// each write single registers for single interrupts (write-1-to-set/clear bitmaps,
// byte-wide priorities and targets, the SGI register), which the GIC applies
// atomically, so they may race; the banked part is per CPU by hardware. `init`, the
// one multi-register sequence on shared state, takes `&mut self`.
unsafe impl Send for Distributor {}
// SAFETY: as for `Send` above.
unsafe impl Sync for Distributor {}

impl Distributor {
    /// Takes over the Distributor whose registers are mapped at virtual address `base`.
    ///
    /// # Safety
    /// `base` must be the virtual address of a GICv2 Distributor register frame, mapped
    /// as device memory for at least [`GICD_SIZE`] bytes for the rest of the program,
    /// and no other `Distributor` may exist for the same frame.
    pub unsafe fn new(base: usize) -> Distributor {
        // SAFETY: the caller guarantees a mapped, exclusively owned register frame.
        let regs = unsafe { &*(base as *const DistributorRegisters) };
        Distributor { regs }
    }

    /// Number of INTIDs implemented below the special range: `32 * (ITLinesNumber +
    /// 1)`, at most 1020. SPIs are `32..lines`.
    pub fn interrupt_lines(&self) -> u32 {
        lines_of(self.regs.TYPER.read(GICD_TYPER::ITLinesNumber))
    }

    /// How many CPU interfaces the GIC has (1-8).
    pub fn cpu_interfaces(&self) -> usize {
        self.regs.TYPER.read(GICD_TYPER::CPUNumber) as usize + 1
    }

    /// Whether the GIC implements the Security Extensions (then the kernel sees the
    /// Non-secure view; see the module docs).
    pub fn has_security_extensions(&self) -> bool {
        self.regs.TYPER.is_set(GICD_TYPER::SecurityExtn)
    }

    /// The calling CPU's CPU-interface bit: the first non-zero byte of the banked
    /// `GICD_ITARGETSR0..7`. A GIC with one CPU interface reads them as zero (they are
    /// RAZ/WI there); its only CPU is bit 0.
    pub fn this_cpu_mask(&self) -> u8 {
        let mask = self.regs.ITARGETSR[..32].iter().map(ReadWrite::get).find(|&m| m != 0);
        mask.unwrap_or(1)
    }

    /// Brings the shared part to a known state, whatever firmware left: forwarding off;
    /// every SPI disabled, not pending or active, level-sensitive, priority
    /// [`DEFAULT_PRIORITY`], sent to the CPU interfaces `boot_mask`; then forwarding on.
    /// Groups are left to firmware (module docs).
    pub fn init(&mut self, boot_mask: u8) {
        self.regs.CTLR.write(GICD_CTLR::Enable::CLEAR);
        let lines = self.interrupt_lines();
        // One bit per INTID; word 0 (SGIs and PPIs) is banked: `init_this_cpu`.
        for word in (*SPI_INTIDS.start() / 32)..lines.div_ceil(32) {
            let w = word as usize;
            self.regs.ICENABLER[w].set(u32::MAX);
            self.regs.ICPENDR[w].set(u32::MAX);
            self.regs.ICACTIVER[w].set(u32::MAX);
            // Two bits per INTID: 0b0x is level-sensitive.
            self.regs.ICFGR[2 * w].set(0);
            self.regs.ICFGR[2 * w + 1].set(0);
        }
        for intid in *SPI_INTIDS.start()..lines {
            self.regs.IPRIORITYR[intid as usize].set(DEFAULT_PRIORITY);
            self.regs.ITARGETSR[intid as usize].set(boot_mask);
        }
        self.regs.CTLR.write(GICD_CTLR::Enable::SET);
    }

    /// Prepares the calling CPU's banked SGIs and PPIs: all disabled, not active,
    /// priority [`DEFAULT_PRIORITY`]. Each CPU calls it for itself.
    pub fn init_this_cpu(&self) {
        self.regs.ICENABLER[0].set(u32::MAX);
        self.regs.ICACTIVER[0].set(u32::MAX);
        self.regs.ICPENDR[0].set(u32::MAX);
        for intid in 0..=*PPI_INTIDS.end() {
            self.regs.IPRIORITYR[intid as usize].set(DEFAULT_PRIORITY);
        }
    }

    /// Lets SGI or PPI `intid` (0-31) be signalled to the calling CPU (banked).
    pub fn enable_private(&self, intid: u32) -> Result<(), GicError> {
        check_private(intid)?;
        self.regs.ISENABLER[0].set(one_hot(intid));
        Ok(())
    }

    /// Lets SPI `intid` be signalled.
    pub fn enable_spi(&self, intid: u32) -> Result<(), GicError> {
        self.check_spi(intid)?;
        self.regs.ISENABLER[(intid / 32) as usize].set(one_hot(intid));
        Ok(())
    }

    /// Stops SPI `intid` from being signalled. (GICv2 has no write-pending bit: the
    /// write takes effect as the Distributor sees it.)
    pub fn disable_spi(&self, intid: u32) -> Result<(), GicError> {
        self.check_spi(intid)?;
        self.regs.ICENABLER[(intid / 32) as usize].set(one_hot(intid));
        Ok(())
    }

    /// Sends SPI `intid` to the CPU interfaces in `targets` (`GICD_ITARGETSR<n>`).
    pub fn route_spi(&self, intid: u32, targets: u8) -> Result<(), GicError> {
        self.check_spi(intid)?;
        if targets == 0 {
            return Err(GicError::NoTarget);
        }
        self.regs.ITARGETSR[intid as usize].set(targets);
        Ok(())
    }

    /// Sends SGI `intid` to the CPU interfaces in `targets`.
    pub fn send_sgi(&self, intid: u32, targets: u8) -> Result<(), GicError> {
        self.regs.SGIR.set(sgir_value(intid, targets)?);
        Ok(())
    }

    fn check_spi(&self, intid: u32) -> Result<(), GicError> {
        check_spi(intid, self.interrupt_lines())
    }
}

/// The GICv2 CPU interface (banked: one address, each CPU its own).
pub struct CpuInterface {
    regs: &'static CpuInterfaceRegisters,
}

// SAFETY: as for `Distributor`: MMIO reachable from every CPU; every CPU reaches its
// own banked copy through the same address, so nothing is shared between CPUs.
unsafe impl Send for CpuInterface {}
// SAFETY: as for `Send` above.
unsafe impl Sync for CpuInterface {}

impl CpuInterface {
    /// Takes over the CPU interface whose registers are mapped at virtual address
    /// `base`.
    ///
    /// # Safety
    /// `base` must be the virtual address of a GICv2 CPU interface register frame,
    /// mapped as device memory for at least `0x14` bytes (the registers used; map
    /// [`GICC_SIZE`]) for the rest of the program, and no other `CpuInterface` may
    /// exist for it.
    pub unsafe fn new(base: usize) -> CpuInterface {
        // SAFETY: the caller guarantees a mapped, exclusively owned register frame.
        let regs = unsafe { &*(base as *const CpuInterfaceRegisters) };
        CpuInterface { regs }
    }

    /// Opens the calling CPU's interface: every priority passes, no grouping of
    /// priorities, signalling on; firmware's bypass-disable bits kept.
    pub fn init_this_cpu(&self) {
        let keep = self.regs.CTLR.extract();
        self.regs.PMR.set(0xff);
        self.regs.BPR.set(0);
        self.regs.CTLR.write(
            GICC_CTLR::IRQBypDisGrp1.val(keep.read(GICC_CTLR::IRQBypDisGrp1))
                + GICC_CTLR::FIQBypDisGrp1.val(keep.read(GICC_CTLR::FIQBypDisGrp1))
                + GICC_CTLR::IRQBypDisGrp0.val(keep.read(GICC_CTLR::IRQBypDisGrp0))
                + GICC_CTLR::FIQBypDisGrp0.val(keep.read(GICC_CTLR::FIQBypDisGrp0))
                + GICC_CTLR::Enable::SET,
        );
    }

    /// Acknowledges the highest-priority pending interrupt of the calling CPU.
    pub fn acknowledge(&self) -> Acknowledged {
        Acknowledged::from_iar(self.regs.IAR.get())
    }

    /// Ends an interrupt [`CpuInterface::acknowledge`] returned (not a spurious one).
    pub fn end_of_interrupt(&self, ack: Acknowledged) {
        self.regs.EOIR.set(ack.raw);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_regs::Fake;
    use crate::gicv3::is_spurious;

    const CTLR: usize = 0x0;
    const TYPER: usize = 0x4;
    const IGROUPR: usize = 0x80;
    const ISENABLER: usize = 0x100;
    const ICENABLER: usize = 0x180;
    const ICPENDR: usize = 0x280;
    const ICACTIVER: usize = 0x380;
    const IPRIORITYR: usize = 0x400;
    const ITARGETSR: usize = 0x800;
    const ICFGR: usize = 0xc00;
    const SGIR: usize = 0xf00;
    const GICC_PMR: usize = 0x4;
    const GICC_BPR: usize = 0x8;
    const GICC_IAR: usize = 0xc;
    const GICC_EOIR: usize = 0x10;

    fn distributor(fake: &Fake) -> Distributor {
        // SAFETY: the fake is a host block of GICD_SIZE bytes that outlives the driver.
        unsafe { Distributor::new(fake.base()) }
    }

    fn cpu_interface(fake: &Fake) -> CpuInterface {
        // SAFETY: the fake is a host block of GICC_SIZE bytes that outlives the driver.
        unsafe { CpuInterface::new(fake.base()) }
    }

    #[test]
    fn distributor_init_overwrites_stale_spi_state_and_leaves_groups_alone() {
        let fake = Fake::new(GICD_SIZE);
        fake.fill(0x5A);
        // 96 lines (SPIs 32..96), 4 CPU interfaces, Security Extensions.
        fake.write::<u32>(TYPER, 2 | (3 << 5) | (1 << 10));
        let mut gicd = distributor(&fake);
        assert_eq!(gicd.interrupt_lines(), 96);
        assert_eq!(gicd.cpu_interfaces(), 4);
        assert!(gicd.has_security_extensions());
        gicd.init(0b0100);
        assert_eq!(fake.read::<u32>(CTLR), 1, "forwarding on, nothing else");
        for w in 1..3 {
            assert_eq!(fake.read::<u32>(ICENABLER + 4 * w), u32::MAX, "ICENABLER{w}");
            assert_eq!(fake.read::<u32>(ICPENDR + 4 * w), u32::MAX, "ICPENDR{w}");
            assert_eq!(fake.read::<u32>(ICACTIVER + 4 * w), u32::MAX, "ICACTIVER{w}");
            assert_eq!(fake.read::<u32>(ICFGR + 8 * w), 0);
            assert_eq!(fake.read::<u32>(ICFGR + 8 * w + 4), 0);
            assert_eq!(fake.read::<u32>(IGROUPR + 4 * w), 0x5A5A_5A5A, "groups are firmware's");
        }
        for intid in 32..96 {
            assert_eq!(fake.read::<u8>(IPRIORITYR + intid), DEFAULT_PRIORITY);
            assert_eq!(fake.read::<u8>(ITARGETSR + intid), 0b0100);
        }
        // The banked word 0 and the lines beyond the implemented ones are untouched.
        assert_eq!(fake.read::<u32>(ICENABLER), 0x5A5A_5A5A);
        assert_eq!(fake.read::<u8>(IPRIORITYR + 31), 0x5A);
        assert_eq!(fake.read::<u8>(ITARGETSR + 96), 0x5A);
        assert_eq!(fake.read::<u32>(ISENABLER + 4), 0x5A5A_5A5A, "nothing enabled");
    }

    #[test]
    fn each_cpu_prepares_its_banked_sgis_and_ppis() {
        let fake = Fake::new(GICD_SIZE);
        fake.fill(0xA5);
        let gicd = distributor(&fake);
        gicd.init_this_cpu();
        assert_eq!(fake.read::<u32>(ICENABLER), u32::MAX);
        assert_eq!(fake.read::<u32>(ICACTIVER), u32::MAX);
        for intid in 0..32 {
            assert_eq!(fake.read::<u8>(IPRIORITYR + intid), DEFAULT_PRIORITY);
        }
        assert_eq!(fake.read::<u8>(IPRIORITYR + 32), 0xA5, "SPIs are not a CPU's");
        let timer = crate::gicv3::ppi_to_intid(14).unwrap();
        assert_eq!(gicd.enable_private(timer), Ok(()));
        assert_eq!(fake.read::<u32>(ISENABLER), 1 << 30);
        assert_eq!(gicd.enable_private(32), Err(GicError::NotPrivate(32)));
    }

    #[test]
    fn a_cpu_finds_its_interface_bit_in_the_banked_targets() {
        let fake = Fake::new(GICD_SIZE);
        let gicd = distributor(&fake);
        assert_eq!(gicd.this_cpu_mask(), 1, "RAZ: a uniprocessor GIC's only CPU");
        fake.write::<u8>(ITARGETSR + 5, 0b1000);
        assert_eq!(gicd.this_cpu_mask(), 0b1000);
        fake.write::<u8>(ITARGETSR, 0b0010);
        assert_eq!(gicd.this_cpu_mask(), 0b0010);
    }

    #[test]
    fn spis_are_enabled_disabled_and_routed_by_mask() {
        let fake = Fake::new(GICD_SIZE);
        fake.write::<u32>(TYPER, 2);
        let gicd = distributor(&fake);
        assert_eq!(gicd.enable_spi(33), Ok(()));
        assert_eq!(fake.read::<u32>(ISENABLER + 4), 0x2);
        assert_eq!(gicd.disable_spi(64), Ok(()));
        assert_eq!(fake.read::<u32>(ICENABLER + 8), 0x1);
        assert_eq!(gicd.route_spi(40, 0b10), Ok(()));
        assert_eq!(fake.read::<u8>(ITARGETSR + 40), 0b10);
        assert_eq!(gicd.route_spi(40, 0), Err(GicError::NoTarget));
        assert_eq!(gicd.enable_spi(31), Err(GicError::NotSpi(31)));
        assert_eq!(gicd.disable_spi(96), Err(GicError::NotImplemented { intid: 96, lines: 96 }));
        assert_eq!(gicd.route_spi(1020, 1), Err(GicError::NotSpi(1020)));
    }

    #[test]
    fn sgis_name_their_targets_by_interface_bit() {
        assert_eq!(sgir_value(3, 0b0100), Ok(0x0004_0003));
        assert_eq!(sgir_value(16, 1), Err(GicError::NotSgi(16)));
        assert_eq!(sgir_value(1, 0), Err(GicError::NoTarget));
        let fake = Fake::new(GICD_SIZE);
        let gicd = distributor(&fake);
        assert_eq!(gicd.send_sgi(1, 0b1000_0000), Ok(()));
        assert_eq!(fake.read::<u32>(SGIR), 0x0080_0001);
    }

    #[test]
    fn the_cpu_interface_opens_keeping_bypass_bits_and_ends_what_it_acknowledged() {
        let fake = Fake::new(GICC_SIZE);
        // Firmware: bypass disabled for both groups, a stale EOImode bit (9).
        fake.write::<u32>(CTLR, 0x1e0 | (1 << 9));
        let gicc = cpu_interface(&fake);
        gicc.init_this_cpu();
        assert_eq!(fake.read::<u32>(CTLR), 0x1e1);
        assert_eq!(fake.read::<u32>(GICC_PMR), 0xff);
        assert_eq!(fake.read::<u32>(GICC_BPR), 0);
        // An SGI 2 from CPU interface 3: the sender rides along and goes back whole.
        fake.write::<u32>(GICC_IAR, (3 << 10) | 2);
        let ack = gicc.acknowledge();
        assert_eq!(ack.intid, 2);
        assert_eq!(ack.sender(), Some(3));
        gicc.end_of_interrupt(ack);
        assert_eq!(fake.read::<u32>(GICC_EOIR), (3 << 10) | 2);
        fake.write::<u32>(GICC_IAR, 1023);
        let none = gicc.acknowledge();
        assert!(is_spurious(none.intid));
        assert_eq!(none.sender(), None);
        assert_eq!(Acknowledged::from_iar(30).sender(), None, "a PPI has no sender");
    }
}
