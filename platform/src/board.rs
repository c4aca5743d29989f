// SPDX-License-Identifier: MIT OR Apache-2.0
//! The board: everything the kernel needs to know, read once from the device tree
//! (or from ACPI tables: [`Board::from_acpi`], in [`crate::acpi`]).
//!
//! At boot the kernel knows nothing about the machine except the address of a device
//! tree blob. [`Board::from_fdt`] turns that blob into plain data: the CPUs (with their
//! MPIDR, NUMA node, packaging and how to start them), the memory ranges per node, the
//! reserved ranges, the distances between nodes, and the few devices the kernel drives
//! itself (interrupt controller, timer, PSCI firmware, console UART). The rest of the
//! kernel never looks at the device tree again.
//!
//! # Design
//!
//! One pass per concern, in this order: validate the blob ([`crate::dt_check`]); refuse
//! RISC-V trees; CPUs; memory (and its overlaps); the NUMA node set and distances;
//! `cpu-map`; reserved memory; GIC, timer, PSCI; `/chosen`. The NUMA semantics follow
//! Linux (`drivers/of/of_numa.c`, `bindings/numa.txt`): no `numa-node-id` anywhere means
//! one node 0; no `/distance-map` means 10 local / 20 remote; nodes may have CPUs
//! without memory or memory without CPUs.
//!
//! The rule for *fatal* versus *fallback*: what describes the machine's topology (CPUs,
//! memory, NUMA) must be right or the kernel would place data on the wrong node, so a
//! contradiction there is an error. Optional devices and boot parameters (GIC, timer,
//! PSCI, console, initrd) fall back to "absent" with a [`Warning`]: the host tools still
//! work on odd boards, and the kernel decides for itself which absences it cannot boot
//! without. Every fallback taken is recorded in [`Board::warnings`].
//!
//! | case | fatal or fallback | error kind / warning |
//! |---|---|---|
//! | truncated or corrupt blob (any [`crate::DtFault`]) | fatal | `ErrorKind::Blob(..)` |
//! | CPU with `riscv,isa` or a `riscv` compatible | fatal | `ErrorKind::NotArm64` |
//! | no `/cpus`, or no enabled CPU in it | fatal | `ErrorKind::NoCpus` |
//! | `/cpus` `#address-cells` not 1 or 2 | fatal | `ErrorKind::BadCellCount` |
//! | CPU without `reg` | fatal | `ErrorKind::MissingProperty` (`reg`) |
//! | CPU `reg` not exactly `#address-cells` cells | fatal | `ErrorKind::BadPropertyLength` |
//! | CPU `reg` with non-affinity bits | fatal | `ErrorKind::InvalidMpidr` |
//! | two CPUs with one MPIDR | fatal | `ErrorKind::DuplicateMpidr` |
//! | more than `MAX_CPUS` enabled CPUs | fatal | `ErrorKind::TooManyCpus` |
//! | CPU with `status` not okay/ok | skipped (not a CPU) | none |
//! | `numa-node-id` on some CPUs/memory nodes but not on this one | fatal | `ErrorKind::MixedNumaNodeId` |
//! | `numa-node-id` not one cell | fatal | `ErrorKind::BadPropertyLength` |
//! | `numa-node-id >= MAX_NODES` (CPU, memory or matrix) | fatal | `ErrorKind::NodeIdOutOfRange` |
//! | no `device_type = "memory"` node at all | fallback: zero memory | `Warning::NoMemory` |
//! | memory `reg` entry of size 0 (firmware fills it in) | fallback: entry skipped | `Warning::EmptyMemoryRange` |
//! | memory node without `reg` | fatal | `ErrorKind::MissingProperty` (`reg`) |
//! | memory `reg` not whole entries / root cells unsupported | fatal | `ErrorKind::BadPropertyLength` / `BadCellCount` |
//! | `base + size` overflows (memory or reserved) | fatal | `ErrorKind::RangeOverflow` |
//! | more than `MAX_MEMORY_RANGES` ranges | fatal | `ErrorKind::TooManyMemoryRanges` |
//! | memory ranges of different nodes overlap | fatal | `ErrorKind::MemoryOverlap` |
//! | memory ranges of the same node overlap | fallback: sizes count the union | `Warning::MemoryOverlapSameNode` |
//! | several nodes and no distance map | fallback: 10 / 20 | `Warning::NoDistanceMap` |
//! | distance map without `distance-matrix` | fatal | `ErrorKind::MissingProperty` |
//! | matrix not whole triples | fatal | `ErrorKind::MatrixNotTriples` |
//! | self-distance other than 10 | fatal | `ErrorKind::SelfDistance` |
//! | distance between different nodes <= 10 | fatal | `ErrorKind::DistanceTooSmall` |
//! | distance above 255 | fatal | `ErrorKind::DistanceTooLarge` |
//! | the same pair twice with different values | fatal | `ErrorKind::DistanceConflict` |
//! | one direction only | fallback: mirrored (as Linux) | none (binding rule) |
//! | pair of existing nodes missing from the matrix | fallback: 20 | `Warning::DistanceDefaulted` |
//! | matrix names a node with no CPU and no memory | fallback: node kept, empty | `Warning::DistanceMapNamesEmptyNode` |
//! | more than `MAX_RESERVED` reserved ranges | fatal | `ErrorKind::TooManyReserved` |
//! | `/reserved-memory` child `reg` malformed | fatal | `ErrorKind::BadPropertyLength` |
//! | cpu-map leaf naming no enabled CPU | fallback: leaf ignored | `Warning::CpuMapUnknownCpu` |
//! | CPU listed twice in cpu-map | fallback: first kept | `Warning::CpuMapDuplicate` |
//! | enabled CPU missing from an existing cpu-map | fallback: topology `None` | `Warning::CpuMissingFromCpuMap` |
//! | `enable-method` not psci / spin-table | fallback: `EnableMethod::None` | `Warning::UnknownEnableMethod` |
//! | spin-table without a usable `cpu-release-addr` | fallback: `EnableMethod::None` | `Warning::SpinTableWithoutReleaseAddr` |
//! | GIC `reg` missing, short or untranslatable; too many redistributor regions | fallback: `gic = None` | `Warning::DeviceIgnored { device: Gic, .. }` |
//! | timer `interrupts` unusable | fallback: PPIs `None` | `Warning::DeviceIgnored { device: Timer, .. }` |
//! | PSCI `method` not hvc/smc; PSCI 0.1 without `cpu_on` | fallback: `psci = None` | `Warning::DeviceIgnored { device: Psci, .. }` |
//! | `stdout-path` (or its alias) names no node; UART `reg` unusable | fallback: `stdout = None` | `Warning::DeviceIgnored { device: Stdout, .. }` |
//! | only one of `linux,initrd-start/-end`, bad length, or end < start | fallback: `initrd = None` | `Warning::DeviceIgnored { device: Initrd, .. }` |
//! | `numa=clusters`, but the tree has `numa-node-id` | fallback: the tree's nodes kept | `Warning::ClustersIgnoredNumaPresent` |
//! | `numa=clusters`, but no CPU is in a `cpu-map` cluster (no map) | fallback: one node 0 kept | `Warning::ClustersIgnoredNoCpuMap` |
//! | `numa=clusters`, but all CPUs in one cluster | fallback: one node 0 kept | `Warning::ClustersIgnoredOneCluster` |
//! | `numa=clusters`: CPU missing from the `cpu-map` | fallback: CPU on node 0 | `Warning::ClustersCpuOnNodeZero` |
//! | `numa=clusters`: more than `MAX_NODES` clusters | fatal, board unchanged | `ErrorKind::NodeIdOutOfRange` (`/cpus/cpu-map`) |
//! | `numa=clusters`: the split needs more than `MAX_MEMORY_RANGES` ranges | fatal, board unchanged | `ErrorKind::TooManyMemoryRanges` |
//!
//! The `numa=clusters` rows belong to [`Board::numa_from_clusters`] (next section), which
//! runs only when the caller asks, after parsing; its errors leave the board as parsing
//! made it, so a kernel may report them and go on with the tree's own topology.
//!
//! # Clusters as NUMA nodes (`numa=clusters`)
//!
//! Big.LITTLE and other multi-cluster boards (Juno: Cortex-A57 + A53; RK3399: big +
//! little; QEMU `-smp 4,sockets=1,clusters=2,cores=2` without `-numa`) carry no NUMA data,
//! yet each cluster has its own L2: a cluster is the closest thing they have to a NUMA
//! node. With the word `numa=clusters` in `/chosen/bootargs` (tested by
//! [`numa_clusters_requested`], which the kernel and the host `topology` tool share), the
//! kernel calls [`Board::numa_from_clusters`] after parsing and NUMA code can be exercised
//! on such boards. Like Linux's `numa=fake`, this is a *model*, not the hardware's truth:
//! memory on these boards is uniformly close to every CPU, and the split below is made up.
//!
//! - It applies only when the tree has no `numa-node-id` at all; otherwise the tree's
//!   nodes stay. Without a `cpu-map`, or with one cluster, the board stays one node.
//!   (A `/distance-map` without any `numa-node-id` describes nothing and is replaced.)
//! - Node `k` is the `k`-th cluster in `cpu-map` order, i.e. the `k`-th smallest
//!   board-unique cluster number ([`Board::cluster_of`]) among the enabled CPUs. That is
//!   the cluster number itself unless a cluster has no enabled CPU; such a cluster gets no
//!   node. Every CPU goes to its cluster's node; a CPU the map leaves out goes to node 0.
//! - Memory is divided evenly: the RAM, in address order and with overlaps counted
//!   once, is cut into as many chunks as there are nodes. Every chunk but the last is
//!   `total / nodes` rounded down to 2 MiB (a level-2 block with 4 KiB pages); the last
//!   node takes the remainder. A range a chunk boundary falls in is split; every piece
//!   becomes a [`MemoryRange`] of its node. Boundaries are 2 MiB multiples of *RAM
//!   offset*, so they are 2 MiB-aligned addresses when the ranges themselves are (as on
//!   every board in the tests). A board with no memory has nodes of 0 MB.
//! - Distances: 10 local, 20 between clusters of one socket
//!   ([`crate::numa::CLUSTER_DISTANCE`]), 30 across sockets
//!   ([`crate::numa::SOCKET_DISTANCE`]).
//!
//! ```text
//!  RAM:    |- range A --|     |------------- range B --------------|
//!  nodes:  |-- node 0 --|     |-- node 0 --|------- node 1 --------|
//!                             split here --^
//! ```
//!
//! # Invariants
//!
//! For a `Board` returned by `from_fdt`:
//! - `cpus` is non-empty, MPIDRs are unique, and every CPU's node is in `nodes()`;
//! - `memory` is sorted by base, has no zero-size entries, and ranges of different
//!   nodes do not overlap; every range's node is in `nodes()`;
//! - `distance(a, a) == 10` and `distance(a, b) > 10` for `a != b`.
//!
//! [`Board::numa_from_clusters`] keeps all three.
//!
//! A `Board` is about 30 KiB (512 CPUs): the kernel should build it into a static, not
//! on a small boot stack.
//!
//! # References
//!
//! - Linux `Documentation/devicetree/bindings/numa.txt` and `drivers/of/of_numa.c`.
//! - Linux `Documentation/devicetree/bindings/cpu/cpu-topology.txt` (`cpu-map`).
//! - Devicetree Specification v0.4: 2.3.5 cells, 2.3.8 `ranges`, 3.3 `/chosen`,
//!   3.4 `/memory`, 3.5 `/reserved-memory`, 3.7-3.8 `/cpus`.
//! - Arm Power State Coordination Interface (DEN0022), function ids; Linux
//!   `bindings/arm/psci.yaml`, `bindings/interrupt-controller/arm,gic-v3.yaml`,
//!   `bindings/timer/arm,arch_timer.yaml`.
#![forbid(unsafe_code)]

use core::fmt;

use crate::acpi::AcpiWarning;
use crate::cpumap::{self, Cluster, CpuTopology};
use crate::dt_check::DtFault;
use crate::error::{BoardError, ErrorKind, NodePath};
use crate::fixed::FixedVec;
use crate::numa::{DistanceMatrix, LOCAL_DISTANCE, NodeId, NodeSet, REMOTE_DISTANCE};
use crate::numactl::Numactl;
use crate::tree::{Lineage, Node, Tree, path_of, read_cells, reg_entries, translate};
use crate::{MAX_CPUS, MAX_MEMORY_RANGES, MAX_NODES, MAX_RESERVED};

/// The MPIDR bits that identify a CPU: Aff3 (39:32) and Aff2..Aff0 (23:0).
pub const MPIDR_AFFINITY_MASK: u64 = 0xff_00ff_ffff;
/// Most GICv3 redistributor regions kept (QEMU uses 2 beyond 123 CPUs, Hip07 uses 4).
pub const MAX_REDIST_REGIONS: usize = 8;
/// Most warnings kept; later ones are counted in [`Board::dropped_warnings`].
pub const MAX_WARNINGS: usize = 32;

/// PSCI 0.2+ standard function id of `CPU_ON` (SMC64).
pub const PSCI_CPU_ON_64: u32 = 0xC400_0003;
/// PSCI 0.2+ standard function id of `SYSTEM_OFF`.
pub const PSCI_SYSTEM_OFF: u32 = 0x8400_0008;

/// A physical address range `[base, base + size)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhysRange {
    /// First byte.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

impl PhysRange {
    /// The empty range at 0.
    pub const EMPTY: PhysRange = PhysRange { base: 0, size: 0 };

    /// One past the last byte (saturating; ranges from `from_fdt` never overflow).
    pub fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }

    /// True when `addr` is inside the range.
    pub fn contains(&self, addr: u64) -> bool {
        self.base <= addr && addr < self.end()
    }

    /// True when the two ranges share at least one byte.
    pub fn overlaps(&self, other: &PhysRange) -> bool {
        self.base < other.end() && other.base < self.end()
    }
}

/// A range of RAM and the NUMA node it belongs to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryRange {
    /// The addresses.
    pub range: PhysRange,
    /// The node.
    pub node: NodeId,
}

impl MemoryRange {
    /// An empty range on node 0 (a placeholder for unused storage).
    pub const EMPTY: MemoryRange = MemoryRange { range: PhysRange::EMPTY, node: NodeId::ZERO };
}

/// How a secondary CPU is started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EnableMethod {
    /// No usable method (often the boot CPU, which is already running).
    #[default]
    None,
    /// PSCI `CPU_ON` (see [`Board::psci`]).
    Psci,
    /// Write the entry point to `release_addr` and `sev`.
    SpinTable {
        /// Physical address of the release word.
        release_addr: u64,
    },
}

/// One enabled CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cpu {
    /// Its `reg`: the MPIDR affinity fields.
    pub mpidr: u64,
    /// Its NUMA node.
    pub node: NodeId,
    /// Its place in `cpu-map`.
    pub topo: CpuTopology,
    /// How to start it.
    pub enable_method: EnableMethod,
}

impl Cpu {
    /// A placeholder for unused storage.
    pub const EMPTY: Cpu =
        Cpu { mpidr: 0, node: NodeId::ZERO, topo: CpuTopology::UNKNOWN, enable_method: EnableMethod::None };
}

/// The `compatible` strings of GICv2 implementations (Linux `arm,gic.yaml`, those of
/// architecture version 2 that arm64 boards carry; Qualcomm's QGIC2 is one, driven by
/// Linux's generic GIC driver).
pub const GICV2_COMPATIBLES: [&str; 4] =
    ["arm,gic-400", "arm,cortex-a15-gic", "arm,cortex-a7-gic", "qcom,msm-qgic2"];

/// The interrupt controller's register frames (CPU physical addresses).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Gic {
    /// GICv2 ([`GICV2_COMPATIBLES`]: `arm,gic-400`, `arm,cortex-a15-gic`, ...).
    V2 {
        /// Distributor.
        distributor: PhysRange,
        /// CPU interface.
        cpu_interface: PhysRange,
    },
    /// GICv3 (`arm,gic-v3`).
    V3 {
        /// Distributor.
        distributor: PhysRange,
        /// Redistributor regions (`#redistributor-regions` of them).
        redistributors: FixedVec<PhysRange, MAX_REDIST_REGIONS>,
    },
}

/// The Arm generic timer (`arm,armv8-timer`). PPI numbers are as the device tree gives
/// them; the GIC interrupt id is `16 + ppi`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timer {
    /// `clock-frequency`, when firmware failed to program `CNTFRQ_EL0`.
    pub clock_frequency: Option<u32>,
    /// Secure physical timer PPI.
    pub secure_phys_ppi: Option<u32>,
    /// Non-secure physical timer PPI.
    pub phys_ppi: Option<u32>,
    /// Virtual timer PPI.
    pub virt_ppi: Option<u32>,
    /// Hypervisor (EL2) physical timer PPI.
    pub hyp_ppi: Option<u32>,
}

/// How to call PSCI firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    /// `hvc #0` (firmware at EL2, e.g. QEMU `virt` entered at EL1).
    Hvc,
    /// `smc #0` (firmware at EL3, or QEMU with `virtualization=on`).
    Smc,
}

/// The newest PSCI version the `compatible` list claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PsciVersion {
    /// `arm,psci`: function ids come from the node.
    V0_1,
    /// `arm,psci-0.2`: standard function ids.
    V0_2,
    /// `arm,psci-1.0`.
    V1_0,
}

/// PSCI firmware interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Psci {
    /// `hvc` or `smc`.
    pub conduit: Conduit,
    /// Version from `compatible`.
    pub version: PsciVersion,
    /// Function id of `CPU_ON`.
    pub cpu_on: u32,
    /// Function id of `SYSTEM_OFF` (PSCI 0.2+ only).
    pub system_off: Option<u32>,
}

/// What kind of UART the console is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartKind<'a> {
    /// Arm PL011 (`arm,pl011`, also SBSA UARTs that list it).
    Pl011,
    /// The 8250/16550 family (`ns16550a`, `ns16550`, `ns16450`, `ns8250`,
    /// `snps,dw-apb-uart`, `nvidia,tegra20-uart`): register `i` at byte offset
    /// `i << reg_shift`, accessed `io_width` bytes wide (`reg-shift`, `reg-io-width`
    /// of Linux's `8250.yaml`; 0 and 1 when absent).
    Ns16550 {
        /// `reg-shift`: 0 (byte-spaced registers) to 3.
        reg_shift: u8,
        /// `reg-io-width`: 1 or 4 bytes.
        io_width: u8,
    },
    /// The BCM2835 mini-UART (`brcm,bcm2835-aux-uart`: the Raspberry Pi's
    /// `serial1`): a 16550 subset with 32-bit registers 4 bytes apart.
    Bcm2835Aux,
    /// Something else: its first `compatible` string.
    Other(&'a str),
}

/// The `compatible` strings of the 8250/16550 family the kernel drives as
/// [`UartKind::Ns16550`] (a node may list a SoC-specific string first, as
/// `rockchip,rk3399-uart` does before `snps,dw-apb-uart`: every string is tried).
pub const NS16550_COMPATIBLES: [&str; 6] =
    ["ns16550a", "ns16550", "ns16450", "ns8250", "snps,dw-apb-uart", "nvidia,tegra20-uart"];

impl UartKind<'_> {
    /// Whether the kernel (and the user-level console driver) can drive this UART:
    /// PL011, 8250 family, BCM2835 mini-UART.
    pub fn is_driven(&self) -> bool {
        !matches!(self, UartKind::Other(_))
    }

    /// The name `report: board console=` and the support report give it: `pl011`,
    /// `ns16550`, `bcm2835-aux`, or the compatible string of one not driven.
    pub fn name(&self) -> &str {
        match self {
            UartKind::Pl011 => "pl011",
            UartKind::Ns16550 { .. } => "ns16550",
            UartKind::Bcm2835Aux => "bcm2835-aux",
            UartKind::Other(compatible) => compatible,
        }
    }
}

/// A console UART: from `/chosen/stdout-path`, or the first UART a tree without one
/// names ([`Board::console`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uart<'a> {
    /// Register base, a CPU physical address (the bus address translated through the
    /// parents' `ranges`, plus `reg-offset`).
    pub base: u64,
    /// The kind of UART.
    pub kind: UartKind<'a>,
    /// The path of its node as resolved (after alias lookup).
    pub path: &'a str,
    /// The options after `:` in `stdout-path`, e.g. `115200n8`.
    pub options: Option<&'a str>,
}

impl Uart<'_> {
    /// The register base if this is a PL011.
    pub fn pl011_base(&self) -> Option<u64> {
        matches!(self.kind, UartKind::Pl011).then_some(self.base)
    }
}

impl fmt::Display for Uart<'_> {
    /// `pl011@0x9000000`, `ns16550@0xff1a0000`, `bcm2835-aux@0xfe215040`, or the
    /// compatible string of a UART the kernel does not drive.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{:#x}", self.kind.name(), self.base)
    }
}

impl Gic {
    /// The architecture version: 2 or 3.
    pub fn version(&self) -> u8 {
        match self {
            Gic::V2 { .. } => 2,
            Gic::V3 { .. } => 3,
        }
    }
}

impl fmt::Display for Conduit {
    /// `hvc` or `smc`, as in the device tree's `method` property.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Conduit::Hvc => "hvc",
            Conduit::Smc => "smc",
        })
    }
}

/// The console UART alone, for when [`Board::from_fdt`] refused the blob: the kernel
/// still wants to print why. Needs a structurally valid blob, nothing else: the UART
/// `/chosen/stdout-path` names if it is one the kernel drives, else the first UART
/// the tree names ([`Board::console`]'s rule).
pub fn console_of(blob: &[u8]) -> Option<Uart<'_>> {
    let tree = Tree::new(blob).ok()?;
    let stdout = tree.find_path("/chosen").and_then(|chosen| {
        let chosen = chosen[chosen.len() - 1];
        let spec = chosen.prop_str("stdout-path").or_else(|| chosen.prop_str("linux,stdout-path"))?;
        stdout_uart(&tree, spec).ok()
    });
    stdout.filter(|u| u.kind.is_driven()).or_else(|| first_uart(&tree))
}

/// The `/chosen` property in which a UEFI loader hands over the ACPI RSDP's physical
/// address (a u64; `kernel/uefi-loader` writes it). Our own name, vendor prefix
/// `numa-l4`: Linux finds the RSDP through the UEFI system table, which this kernel
/// does not keep.
pub const ACPI_RSDP_PROPERTY: &str = "numa-l4,acpi-rsdp";

/// What the kernel needs of a device tree to say why it stops and to end the run, read
/// without the rest of the board: the command line (it names the exit method), PSCI
/// (how to power off) and the console. The kernel reads these first, so that a tree the
/// board parser refuses (a NUMA node id out of range, a CPU without `reg`) still ends
/// with a named error on the console and the status the command line asked for. Each
/// item is best effort: a blob that is not even structurally valid gives nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EarlyFacts<'a> {
    /// `/chosen/bootargs` (empty when absent).
    pub bootargs: &'a str,
    /// The PSCI node, when there is a usable one.
    pub psci: Option<Psci>,
    /// The console: `/chosen/stdout-path` resolved to a UART.
    pub console: Option<Uart<'a>>,
}

/// Reads the [`EarlyFacts`] of `blob`.
pub fn early_facts(blob: &[u8]) -> EarlyFacts<'_> {
    let Ok(tree) = Tree::new(blob) else {
        return EarlyFacts::default();
    };
    let chosen = tree.find_path("/chosen").map(|path| path[path.len() - 1]);
    let bootargs = chosen.as_ref().and_then(|c| c.prop_str("bootargs")).unwrap_or("");
    let psci = find_psci(&tree).and_then(Result::ok);
    EarlyFacts { bootargs, psci, console: console_of(blob) }
}

/// The ACPI RSDP's physical address when `blob` hands the machine's description over
/// to ACPI: `/chosen` has [`ACPI_RSDP_PROPERTY`] and the tree has no `/cpus` (a
/// loader's stub tree, as Linux's EFI stub builds when firmware has no device tree).
/// A full tree wins over ACPI even with an RSDP: it describes the machine by itself.
/// Read the board with [`Board::parse_acpi`], then [`Board::parse_acpi_handover`].
pub fn acpi_rsdp_of(blob: &[u8]) -> Option<u64> {
    let tree = Tree::new(blob).ok()?;
    if tree.find_path("/cpus").is_some() {
        return None;
    }
    let chosen = tree.find_path("/chosen")?;
    match chosen[chosen.len() - 1].prop(ACPI_RSDP_PROPERTY)? {
        &[a, b, c, d, e, f, g, h] => Some(u64::from_be_bytes([a, b, c, d, e, f, g, h])),
        _ => None,
    }
}

/// Boot parameters from `/chosen`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Chosen<'a> {
    /// The console `stdout-path` names (of any kind; `None` without a usable one).
    pub stdout: Option<Uart<'a>>,
    /// The first UART the tree names that the kernel drives ([`Board::console`]'s
    /// rule): where the kernel prints when `stdout-path` names none, or one it does
    /// not drive.
    pub first_uart: Option<Uart<'a>>,
    /// The command line (empty when absent).
    pub bootargs: &'a str,
    /// The initrd (`linux,initrd-start` .. `linux,initrd-end`).
    pub initrd: Option<PhysRange>,
}

impl Chosen<'_> {
    /// Nothing chosen.
    pub const EMPTY: Chosen<'static> = Chosen { stdout: None, first_uart: None, bootargs: "", initrd: None };
}

/// An optional device that was left out (see [`Warning::DeviceIgnored`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// The interrupt controller.
    Gic,
    /// The generic timer.
    Timer,
    /// PSCI firmware.
    Psci,
    /// The console UART.
    Stdout,
    /// The initrd.
    Initrd,
}

/// Why an optional device was left out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceProblem {
    /// The property is absent.
    MissingProperty(&'static str),
    /// The property is malformed or has an unusable value.
    BadProperty(&'static str),
    /// The path (or alias) names no node.
    NotFound,
    /// The address cannot be translated to a CPU physical address.
    Untranslatable,
}

/// A fallback `from_fdt` took. See the table in the module docs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Warning {
    /// No `device_type = "memory"` node: the board has zero memory as far as the device
    /// tree says (firmware usually adds it).
    #[default]
    NoMemory,
    /// A memory `reg` entry of size 0 was skipped.
    EmptyMemoryRange {
        /// Its base.
        base: u64,
    },
    /// Two memory ranges of one node overlap.
    MemoryOverlapSameNode {
        /// The node.
        node: NodeId,
        /// Base of one range.
        base_a: u64,
        /// Base of the other.
        base_b: u64,
    },
    /// Several nodes and no distance map: 10 local, 20 remote.
    NoDistanceMap,
    /// The distance map lacks this pair: 20 assumed.
    DistanceDefaulted {
        /// From.
        from: NodeId,
        /// To.
        to: NodeId,
    },
    /// The distance map names a node with no CPU and no memory; it is kept (empty).
    DistanceMapNamesEmptyNode {
        /// The node.
        node: NodeId,
    },
    /// A `cpu-map` leaf names no enabled CPU (phandle `None`: no `cpu` property).
    CpuMapUnknownCpu {
        /// The phandle it names.
        phandle: Option<u32>,
    },
    /// A CPU appears twice in `cpu-map`; the first place is kept.
    CpuMapDuplicate {
        /// Logical CPU number.
        cpu: usize,
    },
    /// A CPU is missing from an existing `cpu-map`.
    CpuMissingFromCpuMap {
        /// Logical CPU number.
        cpu: usize,
    },
    /// `enable-method` is not one we know.
    UnknownEnableMethod {
        /// Logical CPU number.
        cpu: usize,
    },
    /// `spin-table` without a usable `cpu-release-addr`.
    SpinTableWithoutReleaseAddr {
        /// Logical CPU number.
        cpu: usize,
    },
    /// An optional device was left out.
    DeviceIgnored {
        /// Which.
        device: Device,
        /// Why.
        problem: DeviceProblem,
    },
    /// `numa=clusters` asked for, but the tree has `numa-node-id`: its nodes are kept.
    ClustersIgnoredNumaPresent,
    /// `numa=clusters` asked for, but no CPU is in a `cpu-map` cluster: one node kept.
    ClustersIgnoredNoCpuMap,
    /// `numa=clusters` asked for, but every CPU is in one cluster: one node kept.
    ClustersIgnoredOneCluster,
    /// `numa=clusters`: a CPU missing from the `cpu-map` was put on node 0.
    ClustersCpuOnNodeZero {
        /// Logical CPU number.
        cpu: usize,
    },
    /// A fallback of the ACPI parser ([`Board::from_acpi`]; see [`crate::acpi`]).
    Acpi(AcpiWarning),
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Warning::*;
        match *self {
            NoMemory => f.write_str("no memory node: zero memory recorded"),
            EmptyMemoryRange { base } => write!(f, "memory range at {base:#x} has size 0: skipped"),
            MemoryOverlapSameNode { node, base_a, base_b } => {
                write!(f, "memory at {base_a:#x} and {base_b:#x} of node {node} overlap: union counted")
            }
            NoDistanceMap => f.write_str("no distance map: 10 local, 20 remote assumed"),
            DistanceDefaulted { from, to } => {
                write!(f, "distance {from} -> {to} not given: 20 assumed")
            }
            DistanceMapNamesEmptyNode { node } => {
                write!(f, "distance map names node {node}, which has no CPU and no memory")
            }
            CpuMapUnknownCpu { phandle: Some(p) } => {
                write!(f, "cpu-map leaf names phandle {p:#x}, not an enabled CPU: ignored")
            }
            CpuMapUnknownCpu { phandle: None } => f.write_str("cpu-map leaf without a cpu phandle: ignored"),
            CpuMapDuplicate { cpu } => write!(f, "CPU {cpu} listed twice in cpu-map"),
            CpuMissingFromCpuMap { cpu } => write!(f, "CPU {cpu} missing from cpu-map"),
            UnknownEnableMethod { cpu } => write!(f, "CPU {cpu}: unknown enable-method"),
            SpinTableWithoutReleaseAddr { cpu } => {
                write!(f, "CPU {cpu}: spin-table without cpu-release-addr")
            }
            DeviceIgnored { device, problem } => {
                write!(f, "{device:?} ignored: ")?;
                match problem {
                    DeviceProblem::MissingProperty(p) => write!(f, "property {p} missing"),
                    DeviceProblem::BadProperty(p) => write!(f, "property {p} unusable"),
                    DeviceProblem::NotFound => f.write_str("node not found"),
                    DeviceProblem::Untranslatable => f.write_str("address not translatable"),
                }
            }
            ClustersIgnoredNumaPresent => {
                f.write_str("numa=clusters ignored: the device tree has numa-node-id; its nodes kept")
            }
            ClustersIgnoredNoCpuMap => {
                f.write_str("numa=clusters ignored: no cpu-map clusters; one node kept")
            }
            ClustersIgnoredOneCluster => {
                f.write_str("numa=clusters ignored: only one cluster; one node kept")
            }
            ClustersCpuOnNodeZero { cpu } => {
                write!(f, "numa=clusters: CPU {cpu} is in no cluster: put on node 0")
            }
            Acpi(w) => fmt::Display::fmt(&w, f),
        }
    }
}

/// The `/chosen/bootargs` word that asks for clusters as NUMA nodes.
pub const NUMA_CLUSTERS_WORD: &str = "numa=clusters";

/// True when `bootargs` holds the word `numa=clusters`: a whole word, split at ASCII
/// whitespace as the kernel's command-line parser splits it (`xnuma=clusters` and
/// `numa=clustersx` do not count). The kernel and the host `topology` tool both decide
/// with this, so they cannot disagree.
pub fn numa_clusters_requested(bootargs: &str) -> bool {
    bootargs.split_ascii_whitespace().any(|w| w == NUMA_CLUSTERS_WORD)
}

/// What [`Board::numa_from_clusters`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumaFromClusters {
    /// Every cluster is now a node: nodes `0..nodes`.
    Applied {
        /// How many nodes (clusters) there are.
        nodes: usize,
    },
    /// The board kept its nodes; `reason` (also in [`Board::warnings`]) says why.
    Skipped {
        /// One of the `Warning::ClustersIgnored..` warnings.
        reason: Warning,
    },
}

/// Chunk boundaries of the `numa=clusters` memory split are multiples of this.
const CLUSTER_SPLIT_ALIGN: u64 = 2 << 20;

#[derive(Clone, Copy)]
struct Numa {
    nodes: NodeSet,
    /// Distances from a device tree's `distance-matrix` (or `numa=clusters`).
    distances: DistanceMatrix,
    /// Distances from an ACPI SLIT, mapped to node ids (`[a][b]`, 0 = not given);
    /// used instead of `distances` when `from_slit`.
    slit: [[u8; MAX_NODES]; MAX_NODES],
    from_slit: bool,
    /// Some CPU or memory node carried `numa-node-id`: the tree has NUMA data of its own.
    from_node_ids: bool,
}

impl fmt::Debug for Numa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Numa").field("nodes", &self.nodes).finish_non_exhaustive()
    }
}

/// Where a [`Board`] was read from: the kernel reports it as
/// `report: firmware table=dt|acpi`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Firmware {
    /// A flattened device tree ([`Board::from_fdt`]).
    #[default]
    DeviceTree,
    /// ACPI tables ([`Board::from_acpi`]).
    Acpi,
}

impl fmt::Display for Firmware {
    /// `dt` or `acpi`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Firmware::DeviceTree => "dt",
            Firmware::Acpi => "acpi",
        })
    }
}

/// Everything the kernel needs from the firmware's description of the machine. Built
/// by [`Board::from_fdt`] from a device tree or by [`Board::from_acpi`] from ACPI
/// tables; either way the same value for the same machine.
#[derive(Debug)]
pub struct Board<'a> {
    /// Enabled CPUs in `/cpus` order; the index is the logical CPU number.
    pub cpus: FixedVec<Cpu, MAX_CPUS>,
    /// Every memory node's `reg` entries (size > 0), sorted by base.
    pub memory: FixedVec<MemoryRange, MAX_MEMORY_RANGES>,
    /// `/memreserve/` entries, then `/reserved-memory` children's `reg`.
    pub reserved: FixedVec<PhysRange, MAX_RESERVED>,
    /// The interrupt controller.
    pub gic: Option<Gic>,
    /// The generic timer.
    pub timer: Option<Timer>,
    /// PSCI firmware.
    pub psci: Option<Psci>,
    /// `/chosen`.
    pub chosen: Chosen<'a>,
    numa: Numa,
    /// Every fallback taken, in order (at most [`MAX_WARNINGS`]).
    pub warnings: FixedVec<Warning, MAX_WARNINGS>,
    dropped_warnings: usize,
    firmware: Firmware,
}

/// Tracks which topology nodes carry `numa-node-id`, to refuse a mixture.
#[derive(Default)]
struct NodeIdUse {
    with: bool,
    first_without: Option<NodePath>,
}

impl NodeIdUse {
    fn check(&self) -> Result<(), BoardError> {
        match (self.with, self.first_without) {
            (true, Some(path)) => {
                Err(BoardError::new(ErrorKind::MixedNumaNodeId, path, Some("numa-node-id")))
            }
            _ => Ok(()),
        }
    }
}

fn err(kind: ErrorKind, path: NodePath, property: &'static str) -> BoardError {
    BoardError::new(kind, path, Some(property))
}

fn child_path(parent: &Lineage<'_>, child: Node<'_>) -> NodePath {
    let mut path = path_of(parent);
    if parent.len() <= 1 {
        path = NodePath::NONE;
    }
    path.push(child.name);
    path
}

fn node_path(tree: &Tree<'_>, node: &Node<'_>) -> NodePath {
    tree.lineage_of(node).map(|l| path_of(&l)).unwrap_or(NodePath::NONE)
}

/// Reads `numa-node-id` of a CPU or memory node, recording whether it was there.
fn numa_node_id(node: &Node<'_>, path: NodePath, ids: &mut NodeIdUse) -> Result<NodeId, BoardError> {
    match node.prop_u32("numa-node-id") {
        None => {
            ids.first_without.get_or_insert(path);
            Ok(NodeId::ZERO)
        }
        Some(Err(len)) => Err(err(ErrorKind::BadPropertyLength { len }, path, "numa-node-id")),
        Some(Ok(raw)) => {
            ids.with = true;
            NodeId::new(raw).ok_or(err(
                ErrorKind::NodeIdOutOfRange { id: raw, limit: MAX_NODES },
                path,
                "numa-node-id",
            ))
        }
    }
}

fn is_cpu_node(node: &Node<'_>) -> bool {
    node.prop_str("device_type") == Some("cpu") || node.name.split('@').next() == Some("cpu")
}

impl<'a> Board<'a> {
    /// Reads the board from a device tree blob.
    ///
    /// Never panics, whatever `blob` holds: malformed blobs are refused by the validator
    /// before anything else reads them.
    pub fn from_fdt(blob: &'a [u8]) -> Result<Board<'a>, BoardError> {
        let mut board = Board::empty();
        board.parse(blob)?;
        Ok(board)
    }

    /// A board with nothing on it: the starting point of [`Board::parse`]. `const`, so
    /// a kernel can keep its board in a `static` and parse into it in place: a `Board`
    /// is tens of KiB, too large to move around on a boot stack.
    pub const fn empty() -> Board<'a> {
        Board {
            cpus: FixedVec::filled(Cpu::EMPTY),
            memory: FixedVec::filled(MemoryRange::EMPTY),
            reserved: FixedVec::filled(PhysRange::EMPTY),
            gic: None,
            timer: None,
            psci: None,
            chosen: Chosen::EMPTY,
            numa: Numa {
                nodes: NodeSet::EMPTY,
                distances: DistanceMatrix::EMPTY,
                slit: [[0; MAX_NODES]; MAX_NODES],
                from_slit: false,
                from_node_ids: false,
            },
            warnings: FixedVec::filled(Warning::NoMemory),
            dropped_warnings: 0,
            firmware: Firmware::DeviceTree,
        }
    }

    /// Reads `blob` into this board, replacing whatever it held: [`Board::from_fdt`]
    /// without the move. On error the board is left partly filled and must not be used.
    pub fn parse(&mut self, blob: &'a [u8]) -> Result<(), BoardError> {
        self.reset(Firmware::DeviceTree);
        let tree = Tree::new(blob)?;
        let root = tree.root().ok_or(DtFault::MissingEnd)?;
        let mut ids = NodeIdUse::default();
        let cpus = tree.find_path("/cpus").ok_or(BoardError::new(ErrorKind::NoCpus, NodePath::NONE, None))?;
        reject_riscv(&cpus)?;
        let mut phandles: FixedVec<u32, MAX_CPUS> = FixedVec::new();
        self.read_cpus(&cpus, &mut phandles, &mut ids)?;
        self.read_memory(&tree, &root, &mut ids)?;
        ids.check()?;
        self.read_numa(&tree)?;
        self.numa.from_node_ids = ids.with;
        self.read_cpu_map(&cpus, &phandles);
        self.read_reserved(&tree)?;
        self.read_gic(&tree);
        self.read_timer(&tree);
        self.read_psci(&tree);
        self.read_chosen(&tree);
        Ok(())
    }

    /// Completes a board read from ACPI ([`Board::parse_acpi`]) with what only the
    /// loader's stub tree `blob` knows (see [`acpi_rsdp_of`]): `/chosen` (command line,
    /// initrd, and a console if the tree names one, else the SPCR's stays), the
    /// reserved ranges (`/memreserve/`, `/reserved-memory`: what the firmware keeps),
    /// and, only when the ACPI tables gave no memory (no SRAT: no `-numa` under QEMU),
    /// the tree's memory nodes, all on node 0 (the only node then).
    ///
    /// With an SRAT its ranges stay the board's memory, as the device tree's memory
    /// nodes are on the device-tree path: both are the RAM as a whole, and what the
    /// firmware keeps inside it is reserved, not cut out.
    pub fn parse_acpi_handover(&mut self, blob: &'a [u8]) -> Result<(), BoardError> {
        let tree = Tree::new(blob)?;
        let root = tree.root().ok_or(DtFault::MissingEnd)?;
        self.read_reserved(&tree)?;
        self.read_chosen(&tree);
        if self.memory.is_empty() {
            // `parse_acpi` warned of no memory; `read_memory` warns again if the tree
            // has none either.
            let mut kept = FixedVec::new();
            for &w in self.warnings.iter().filter(|&&w| w != Warning::NoMemory) {
                let _ = kept.push(w);
            }
            self.warnings = kept;
            self.read_memory(&tree, &root, &mut NodeIdUse::default())?;
            for m in self.memory.as_mut_slice() {
                m.node = NodeId::ZERO;
            }
        }
        Ok(())
    }

    /// Empties the board, which is about to be read from `firmware`'s tables.
    pub(crate) fn reset(&mut self, firmware: Firmware) {
        self.cpus.clear();
        self.memory.clear();
        self.reserved.clear();
        self.warnings.clear();
        self.dropped_warnings = 0;
        (self.gic, self.timer, self.psci, self.chosen) = (None, None, None, Chosen::EMPTY);
        self.numa.nodes = NodeSet::EMPTY;
        self.numa.distances = DistanceMatrix::EMPTY;
        self.numa.from_slit = false;
        self.numa.from_node_ids = false;
        self.firmware = firmware;
    }

    /// Sets the NUMA nodes the ACPI parser found. `from_srat`: the firmware gave NUMA
    /// data (so `numa=clusters` leaves the nodes alone). Distances are 10 / 20 until
    /// [`Board::slit_distances`] is called.
    pub(crate) fn set_acpi_nodes(&mut self, nodes: NodeSet, from_srat: bool) {
        self.numa.nodes = nodes;
        self.numa.from_node_ids = from_srat;
    }

    /// The node-to-node distance table, for the ACPI parser to fill from a SLIT
    /// (`[a][b]`; 0 = not given, read as 10 / 20). From now on it is the board's.
    pub(crate) fn slit_distances(&mut self) -> &mut [[u8; MAX_NODES]; MAX_NODES] {
        self.numa.from_slit = true;
        self.numa.slit = [[0; MAX_NODES]; MAX_NODES];
        &mut self.numa.slit
    }

    pub(crate) fn warn(&mut self, w: Warning) {
        if self.warnings.push(w).is_err() {
            self.dropped_warnings += 1;
        }
    }

    fn read_cpus(
        &mut self,
        cpus: &Lineage<'a>,
        phandles: &mut FixedVec<u32, MAX_CPUS>,
        ids: &mut NodeIdUse,
    ) -> Result<(), BoardError> {
        let node = cpus[cpus.len() - 1];
        let (ac, _) = node.child_cells();
        if !(1..=2).contains(&ac) {
            return Err(err(ErrorKind::BadCellCount { cells: ac }, path_of(cpus), "#address-cells"));
        }
        for child in node.children().filter(is_cpu_node) {
            if !child.is_enabled() {
                continue;
            }
            let path = child_path(cpus, child);
            let reg = child.prop("reg").ok_or(err(ErrorKind::MissingProperty, path, "reg"))?;
            if reg.len() != ac as usize * 4 {
                return Err(err(ErrorKind::BadPropertyLength { len: reg.len() }, path, "reg"));
            }
            let mpidr = read_cells(reg, ac).unwrap_or(0);
            if mpidr & !MPIDR_AFFINITY_MASK != 0 {
                return Err(err(ErrorKind::InvalidMpidr { mpidr }, path, "reg"));
            }
            if self.cpus.iter().any(|c| c.mpidr == mpidr) {
                return Err(err(ErrorKind::DuplicateMpidr { mpidr }, path, "reg"));
            }
            let cpu = Cpu {
                mpidr,
                node: numa_node_id(&child, path, ids)?,
                topo: CpuTopology::default(),
                enable_method: self.enable_method(&child),
            };
            self.cpus
                .push(cpu)
                .map_err(|_| BoardError::new(ErrorKind::TooManyCpus { limit: MAX_CPUS }, path, None))?;
            // Cannot fail: `phandles` has the same capacity as `cpus`.
            let _ = phandles.push(child.phandle().unwrap_or(0));
        }
        if self.cpus.is_empty() {
            return Err(BoardError::new(ErrorKind::NoCpus, path_of(cpus), None));
        }
        Ok(())
    }

    /// `enable-method` of the CPU about to become number `self.cpus.len()`.
    fn enable_method(&mut self, cpu: &Node<'_>) -> EnableMethod {
        let index = self.cpus.len();
        match cpu.prop_str("enable-method") {
            None => EnableMethod::None,
            Some("psci") => EnableMethod::Psci,
            Some("spin-table") => match cpu.prop_u32_or_u64("cpu-release-addr") {
                Some(Ok(release_addr)) => EnableMethod::SpinTable { release_addr },
                _ => {
                    self.warn(Warning::SpinTableWithoutReleaseAddr { cpu: index });
                    EnableMethod::None
                }
            },
            Some(_) => {
                self.warn(Warning::UnknownEnableMethod { cpu: index });
                EnableMethod::None
            }
        }
    }

    fn read_memory(
        &mut self,
        tree: &Tree<'a>,
        root: &Node<'a>,
        ids: &mut NodeIdUse,
    ) -> Result<(), BoardError> {
        let mut any = false;
        let memory_nodes =
            tree.all_nodes().filter(|n| n.prop_str("device_type") == Some("memory") && n.is_enabled());
        for node in memory_nodes {
            let path = node_path(tree, &node);
            if !any {
                check_root_cells(root)?;
            }
            any = true;
            let (ac, sc) = root.child_cells();
            let reg = node.prop("reg").ok_or(err(ErrorKind::MissingProperty, path, "reg"))?;
            let entries = reg_entries(reg, ac, sc).ok_or(err(
                ErrorKind::BadPropertyLength { len: reg.len() },
                path,
                "reg",
            ))?;
            let id = numa_node_id(&node, path, ids)?;
            for (base, size) in entries {
                if size == 0 {
                    self.warn(Warning::EmptyMemoryRange { base });
                    continue;
                }
                let range = checked_range(base, size).map_err(|k| err(k, path, "reg"))?;
                self.add_memory(MemoryRange { range, node: id }, path)?;
            }
        }
        if !any {
            self.warn(Warning::NoMemory);
        }
        self.memory.as_mut_slice().sort_unstable_by_key(|m| (m.range.base, m.range.size));
        Ok(())
    }

    fn add_memory(&mut self, new: MemoryRange, path: NodePath) -> Result<(), BoardError> {
        let mut same_node_overlap = None;
        for old in self.memory.iter() {
            if !old.range.overlaps(&new.range) {
                continue;
            }
            if old.node != new.node {
                let kind = ErrorKind::MemoryOverlap {
                    base_a: old.range.base,
                    node_a: old.node,
                    base_b: new.range.base,
                    node_b: new.node,
                };
                return Err(err(kind, path, "reg"));
            }
            same_node_overlap = Some(old.range.base);
        }
        if let Some(base_a) = same_node_overlap {
            self.warn(Warning::MemoryOverlapSameNode { node: new.node, base_a, base_b: new.range.base });
        }
        self.memory.push(new).map_err(|_| {
            let kind = ErrorKind::TooManyMemoryRanges { limit: MAX_MEMORY_RANGES };
            err(kind, path, "reg")
        })
    }

    fn read_numa(&mut self, tree: &Tree<'a>) -> Result<(), BoardError> {
        let mut nodes = NodeSet::EMPTY;
        for c in self.cpus.iter() {
            nodes.insert(c.node);
        }
        for m in self.memory.iter() {
            nodes.insert(m.node);
        }
        if nodes.is_empty() {
            nodes.insert(NodeId::ZERO);
        }
        let map = tree.all_nodes().find(|n| n.is_compatible("numa-distance-map-v1") && n.is_enabled());
        let Some(map) = map else {
            if nodes.len() > 1 {
                self.warn(Warning::NoDistanceMap);
            }
            self.numa.nodes = nodes;
            return Ok(());
        };
        let path = node_path(tree, &map);
        let matrix =
            map.prop("distance-matrix").ok_or(err(ErrorKind::MissingProperty, path, "distance-matrix"))?;
        let distances = DistanceMatrix::parse(matrix).map_err(|k| err(k, path, "distance-matrix"))?;
        for n in distances.named_nodes().iter() {
            if !nodes.contains(n) {
                self.warn(Warning::DistanceMapNamesEmptyNode { node: n });
                nodes.insert(n);
            }
        }
        for a in nodes.iter() {
            for b in nodes.iter().filter(|&b| b != a) {
                if distances.given(a, b).is_none() {
                    self.warn(Warning::DistanceDefaulted { from: a, to: b });
                }
            }
        }
        (self.numa.nodes, self.numa.distances) = (nodes, distances);
        Ok(())
    }

    fn read_cpu_map(&mut self, cpus: &Lineage<'a>, phandles: &FixedVec<u32, MAX_CPUS>) {
        let Some(map) = cpus[cpus.len() - 1].child("cpu-map") else {
            return;
        };
        let mut leaves = |(phandle, topo): cpumap::Leaf| {
            let cpu = phandle.and_then(|p| phandles.iter().position(|&q| q == p && q != 0));
            let Some(cpu) = cpu else {
                self.warn(Warning::CpuMapUnknownCpu { phandle });
                return;
            };
            if self.cpus[cpu].topo.cluster.is_some() {
                self.warn(Warning::CpuMapDuplicate { cpu });
                return;
            }
            self.cpus.as_mut_slice()[cpu].topo = topo;
        };
        cpumap::walk(&map, &mut leaves);
        for cpu in 0..self.cpus.len() {
            if self.cpus[cpu].topo.cluster.is_none() {
                self.warn(Warning::CpuMissingFromCpuMap { cpu });
            }
        }
    }

    fn read_reserved(&mut self, tree: &Tree<'a>) -> Result<(), BoardError> {
        for (base, size) in tree.mem_reservations() {
            if size == 0 {
                continue;
            }
            let range = checked_range(base, size).map_err(|k| BoardError::new(k, NodePath::NONE, None))?;
            self.add_reserved(range, NodePath::NONE)?;
        }
        let Some(rm) = tree.find_path("/reserved-memory") else {
            return Ok(());
        };
        let parent = rm[rm.len() - 1];
        let (ac, sc) = parent.child_cells();
        for child in parent.children().filter(Node::is_enabled) {
            let path = child_path(&rm, child);
            // Children without `reg` are dynamic allocations (`size`/`alloc-ranges`)
            // that firmware resolves; nothing is reserved yet.
            let Some(reg) = child.prop("reg") else {
                continue;
            };
            let entries = reg_entries(reg, ac, sc).ok_or(err(
                ErrorKind::BadPropertyLength { len: reg.len() },
                path,
                "reg",
            ))?;
            for (base, size) in entries {
                let range = checked_range(base, size).map_err(|k| err(k, path, "reg"))?;
                self.add_reserved(range, path)?;
            }
        }
        Ok(())
    }

    fn add_reserved(&mut self, range: PhysRange, path: NodePath) -> Result<(), BoardError> {
        self.reserved
            .push(range)
            .map_err(|_| BoardError::new(ErrorKind::TooManyReserved { limit: MAX_RESERVED }, path, None))
    }

    fn read_gic(&mut self, tree: &Tree<'a>) {
        let gic = tree.all_nodes().find(|n| {
            n.is_enabled()
                && (n.is_compatible("arm,gic-v3") || GICV2_COMPATIBLES.iter().any(|c| n.is_compatible(c)))
        });
        let Some(node) = gic else {
            return;
        };
        let result = tree.lineage_of(&node).ok_or(DeviceProblem::NotFound).and_then(|l| {
            if node.is_compatible("arm,gic-v3") {
                gic_v3(&l)
            } else {
                Ok(Gic::V2 { distributor: device_reg(&l, 0)?, cpu_interface: device_reg(&l, 1)? })
            }
        });
        match result {
            Ok(gic) => self.gic = Some(gic),
            Err(problem) => self.warn(Warning::DeviceIgnored { device: Device::Gic, problem }),
        }
    }

    fn read_timer(&mut self, tree: &Tree<'a>) {
        let Some(node) = tree.all_nodes().find(|n| n.is_compatible("arm,armv8-timer") && n.is_enabled())
        else {
            return;
        };
        let mut timer = Timer {
            clock_frequency: node.prop_u32("clock-frequency").and_then(Result::ok),
            ..Timer::default()
        };
        match timer_ppis(tree, &node) {
            Ok(ppis) => {
                [timer.secure_phys_ppi, timer.phys_ppi, timer.virt_ppi, timer.hyp_ppi] = ppis;
            }
            Err(problem) => self.warn(Warning::DeviceIgnored { device: Device::Timer, problem }),
        }
        self.timer = Some(timer);
    }

    fn read_psci(&mut self, tree: &Tree<'a>) {
        match find_psci(tree) {
            None => {}
            Some(Ok(p)) => self.psci = Some(p),
            Some(Err(problem)) => self.warn(Warning::DeviceIgnored { device: Device::Psci, problem }),
        }
    }

    fn read_chosen(&mut self, tree: &Tree<'a>) {
        let Some(chosen) = tree.find_path("/chosen") else {
            return;
        };
        let chosen = chosen[chosen.len() - 1];
        self.chosen.bootargs = chosen.prop_str("bootargs").unwrap_or("");
        let stdout = chosen.prop_str("stdout-path").or_else(|| chosen.prop_str("linux,stdout-path"));
        if let Some(spec) = stdout {
            match stdout_uart(tree, spec) {
                Ok(uart) => self.chosen.stdout = Some(uart),
                Err(problem) => self.warn(Warning::DeviceIgnored { device: Device::Stdout, problem }),
            }
        }
        self.chosen.first_uart = first_uart(tree);
        match initrd(&chosen) {
            Ok(range) => self.chosen.initrd = range,
            Err(problem) => self.warn(Warning::DeviceIgnored { device: Device::Initrd, problem }),
        }
    }

    /// Makes every `cpu-map` cluster a NUMA node (`numa=clusters`; the semantics are in
    /// the module docs, "Clusters as NUMA nodes"). Call it after parsing, when
    /// [`numa_clusters_requested`] says the command line asks for it.
    ///
    /// Decode, then invoke: everything is worked out before the board changes, so on
    /// an error (more than `MAX_NODES` clusters, or a split needing more than
    /// `MAX_MEMORY_RANGES` ranges) the board is exactly as it was and still usable.
    /// Calling it again changes no node, CPU or memory range (it may repeat warnings).
    pub fn numa_from_clusters(&mut self) -> Result<NumaFromClusters, BoardError> {
        if self.numa.from_node_ids {
            return Ok(self.skip_clusters(Warning::ClustersIgnoredNumaPresent));
        }
        // The clusters in cpu-map order (ascending board-unique number), with sockets.
        let mut clusters: FixedVec<Cluster, MAX_NODES> = FixedVec::new();
        for c in self.cpus.iter().filter_map(|cpu| cpu.topo.cluster()) {
            if clusters.iter().any(|k| k.id == c.id) {
                continue;
            }
            if clusters.push(c).is_err() {
                let mut path = NodePath::NONE;
                path.push("cpus");
                path.push("cpu-map");
                let kind = ErrorKind::NodeIdOutOfRange { id: MAX_NODES as u32, limit: MAX_NODES };
                return Err(BoardError::new(kind, path, None));
            }
        }
        clusters.as_mut_slice().sort_unstable_by_key(|c| c.id);
        match clusters.len() {
            0 => return Ok(self.skip_clusters(Warning::ClustersIgnoredNoCpuMap)),
            1 => return Ok(self.skip_clusters(Warning::ClustersIgnoredOneCluster)),
            _ => {}
        }
        let memory = self.split_memory(clusters.len())?;

        // Invoke: nothing below can fail.
        let node_of = |cluster: Option<Cluster>| {
            let k = cluster.and_then(|c| clusters.iter().position(|k| k.id == c.id)).unwrap_or(0);
            NodeId::new(k as u32).unwrap_or(NodeId::ZERO)
        };
        for cpu in 0..self.cpus.len() {
            let topo = self.cpus[cpu].topo;
            if topo.cluster().is_none() {
                self.warn(Warning::ClustersCpuOnNodeZero { cpu });
            }
            self.cpus.as_mut_slice()[cpu].node = node_of(topo.cluster());
        }
        self.memory = memory;
        let mut nodes = NodeSet::EMPTY;
        let mut sockets = [0u16; MAX_NODES];
        for (k, c) in clusters.iter().enumerate() {
            nodes.insert(node_of(Some(*c)));
            sockets[k] = c.socket;
        }
        self.numa.nodes = nodes;
        self.numa.distances = DistanceMatrix::of_clusters(&sockets[..clusters.len()]);
        self.numa.from_slit = false;
        Ok(NumaFromClusters::Applied { nodes: clusters.len() })
    }

    fn skip_clusters(&mut self, reason: Warning) -> NumaFromClusters {
        self.warn(reason);
        NumaFromClusters::Skipped { reason }
    }

    /// The board's memory cut into `count` nodes' shares (see the module docs): the
    /// union of the ranges in address order, split at multiples of the chunk size.
    fn split_memory(&self, count: usize) -> Result<FixedVec<MemoryRange, MAX_MEMORY_RANGES>, BoardError> {
        let last = count.saturating_sub(1) as u64;
        // `memory` is sorted by base: skipping what an earlier range covered leaves
        // disjoint pieces in address order.
        let mut covered_to = 0u64;
        let union = self.memory.iter().filter_map(move |m| {
            let base = m.range.base.max(covered_to);
            let end = m.range.end();
            covered_to = covered_to.max(end);
            (end > base).then_some(PhysRange { base, size: end - base })
        });
        let total = union.clone().fold(0u64, |sum, r| sum.saturating_add(r.size));
        let chunk = (total / count.max(1) as u64) & !(CLUSTER_SPLIT_ALIGN - 1);
        let mut out = FixedVec::new();
        let mut offset = 0u64; // RAM offset of `base`
        for r in union {
            let (mut base, end) = (r.base, r.end());
            while base < end {
                // A chunk of 0 (less RAM than 2 MiB per node): all of it goes to the last node.
                let k = offset.checked_div(chunk).map_or(last, |k| k.min(last));
                // `k * chunk <= offset`, so the node's end is past `offset`.
                let node_end = if k == last { u64::MAX } else { (k + 1).saturating_mul(chunk) };
                let size = (end - base).min(node_end - offset);
                let node = NodeId::new(k as u32).unwrap_or(NodeId::ZERO);
                out.push(MemoryRange { range: PhysRange { base, size }, node }).map_err(|_| {
                    BoardError::new(
                        ErrorKind::TooManyMemoryRanges { limit: MAX_MEMORY_RANGES },
                        NodePath::NONE,
                        None,
                    )
                })?;
                base += size;
                offset = offset.saturating_add(size);
            }
        }
        Ok(out)
    }

    /// The NUMA nodes, ascending: every node a CPU, a memory range or the distance map
    /// names (node 0 alone on a board without NUMA data).
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.numa.nodes.iter()
    }

    /// The set of NUMA nodes.
    pub fn node_set(&self) -> NodeSet {
        self.numa.nodes
    }

    /// The number of NUMA nodes.
    pub fn node_count(&self) -> usize {
        self.numa.nodes.len()
    }

    /// Logical numbers of the CPUs on node `n`, ascending.
    pub fn node_cpus(&self, n: NodeId) -> impl Iterator<Item = usize> + '_ {
        self.cpus.iter().enumerate().filter(move |(_, c)| c.node == n).map(|(i, _)| i)
    }

    /// Bytes of memory on node `n` (overlapping ranges counted once).
    pub fn node_memory_bytes(&self, n: NodeId) -> u64 {
        let mut covered_to = 0u64;
        let mut total = 0u64;
        for m in self.memory.iter().filter(|m| m.node == n) {
            let start = m.range.base.max(covered_to);
            let end = m.range.end();
            if end > start {
                total += end - start;
                covered_to = end;
            }
        }
        total
    }

    /// The distance from node `a` to node `b` (10 local; 20 remote when not given).
    pub fn distance(&self, a: NodeId, b: NodeId) -> u8 {
        if !self.numa.from_slit {
            return self.numa.distances.distance(a, b);
        }
        match self.numa.slit[a.index()][b.index()] {
            0 if a == b => LOCAL_DISTANCE,
            0 => REMOTE_DISTANCE,
            d => d,
        }
    }

    /// The logical number of the CPU whose MPIDR is `mpidr` (affinity fields only, so
    /// a raw `MPIDR_EL1` value with its U/MT bits works).
    pub fn cpu_index_by_mpidr(&self, mpidr: u64) -> Option<usize> {
        let want = mpidr & MPIDR_AFFINITY_MASK;
        self.cpus.iter().position(|c| c.mpidr & MPIDR_AFFINITY_MASK == want)
    }

    /// The leaf cluster (board-unique number, and socket) of logical CPU `cpu`, when
    /// the board has a `cpu-map` listing it.
    pub fn cluster_of(&self, cpu: usize) -> Option<Cluster> {
        self.cpus.get(cpu)?.topo.cluster()
    }

    /// The topology in `numactl --hardware` format.
    pub fn numactl(&self) -> Numactl<'_> {
        Numactl::new(self)
    }

    /// Warnings that did not fit in [`Board::warnings`].
    pub fn dropped_warnings(&self) -> usize {
        self.dropped_warnings
    }

    /// The console the kernel uses, by this rule: the UART `/chosen/stdout-path` (or
    /// ACPI's SPCR) names, of whatever kind (the kernel refuses to boot on one it does
    /// not drive, and says so on [`Chosen::first_uart`]); without one, the first UART
    /// the tree names that the kernel drives: the enabled `serialN` alias with the
    /// lowest N, else the first enabled UART node in tree order. (Linux prints nothing
    /// without `stdout-path` unless told `earlycon=`; a kernel that must say why it
    /// stopped takes the board's first serial port, as a person would.)
    pub fn console(&self) -> Option<Uart<'a>> {
        self.chosen.stdout.or(self.chosen.first_uart)
    }

    /// Where the board was read from: a device tree or ACPI tables.
    pub fn firmware(&self) -> Firmware {
        self.firmware
    }
}

fn reject_riscv(cpus: &Lineage<'_>) -> Result<(), BoardError> {
    for child in cpus[cpus.len() - 1].children().filter(is_cpu_node) {
        let riscv =
            child.prop("riscv,isa").is_some() || child.prop_strs("compatible").any(|c| c.contains("riscv"));
        if riscv {
            return Err(err(ErrorKind::NotArm64, child_path(cpus, child), "compatible"));
        }
    }
    Ok(())
}

fn check_root_cells(root: &Node<'_>) -> Result<(), BoardError> {
    let (ac, sc) = root.child_cells();
    let mut path = NodePath::NONE;
    path.push("");
    if !(1..=2).contains(&ac) {
        return Err(err(ErrorKind::BadCellCount { cells: ac }, path, "#address-cells"));
    }
    if !(1..=2).contains(&sc) {
        return Err(err(ErrorKind::BadCellCount { cells: sc }, path, "#size-cells"));
    }
    Ok(())
}

fn checked_range(base: u64, size: u64) -> Result<PhysRange, ErrorKind> {
    match base.checked_add(size) {
        Some(_) => Ok(PhysRange { base, size }),
        None => Err(ErrorKind::RangeOverflow { base, size }),
    }
}

/// Entry `index` of the `reg` of the last node of `lineage`, as a CPU physical range.
fn device_reg(lineage: &Lineage<'_>, index: usize) -> Result<PhysRange, DeviceProblem> {
    let node = lineage[lineage.len() - 1];
    let parent = lineage[lineage.len().saturating_sub(2)];
    let (ac, sc) = parent.child_cells();
    let reg = node.prop("reg").ok_or(DeviceProblem::MissingProperty("reg"))?;
    let (addr, size) =
        reg_entries(reg, ac, sc).and_then(|mut e| e.nth(index)).ok_or(DeviceProblem::BadProperty("reg"))?;
    let base = translate(lineage, addr).ok_or(DeviceProblem::Untranslatable)?;
    checked_range(base, size).map_err(|_| DeviceProblem::BadProperty("reg"))
}

fn gic_v3(lineage: &Lineage<'_>) -> Result<Gic, DeviceProblem> {
    let node = lineage[lineage.len() - 1];
    let regions = match node.prop_u32("#redistributor-regions") {
        None => 1,
        Some(Ok(n)) if (1..=MAX_REDIST_REGIONS as u32).contains(&n) => n as usize,
        Some(_) => return Err(DeviceProblem::BadProperty("#redistributor-regions")),
    };
    let mut redistributors = FixedVec::new();
    for i in 0..regions {
        // Cannot fail: `regions <= MAX_REDIST_REGIONS`.
        let _ = redistributors.push(device_reg(lineage, 1 + i)?);
    }
    Ok(Gic::V3 { distributor: device_reg(lineage, 0)?, redistributors })
}

/// The interrupt parent's `#interrupt-cells` for `node` (nearest `interrupt-parent` up
/// the tree).
fn interrupt_cells(tree: &Tree<'_>, node: &Node<'_>) -> Result<u32, DeviceProblem> {
    let lineage = tree.lineage_of(node).ok_or(DeviceProblem::NotFound)?;
    let phandle = lineage
        .iter()
        .rev()
        .find_map(|n| n.prop_u32("interrupt-parent"))
        .ok_or(DeviceProblem::MissingProperty("interrupt-parent"))?
        .map_err(|_| DeviceProblem::BadProperty("interrupt-parent"))?;
    let parent = tree.find_phandle(phandle).ok_or(DeviceProblem::BadProperty("interrupt-parent"))?;
    match parent.prop_u32("#interrupt-cells") {
        Some(Ok(cells)) if (2..=4).contains(&cells) => Ok(cells),
        _ => Err(DeviceProblem::BadProperty("#interrupt-cells")),
    }
}

/// The four timer PPIs (secure phys, phys, virt, hyp), from `interrupts` entries whose
/// first cell says PPI (1).
fn timer_ppis(tree: &Tree<'_>, node: &Node<'_>) -> Result<[Option<u32>; 4], DeviceProblem> {
    let cells = interrupt_cells(tree, node)? as usize;
    let irqs = node.prop("interrupts").ok_or(DeviceProblem::MissingProperty("interrupts"))?;
    if irqs.len() % (cells * 4) != 0 {
        return Err(DeviceProblem::BadProperty("interrupts"));
    }
    let mut ppis = [None; 4];
    for (slot, entry) in ppis.iter_mut().zip(irqs.chunks_exact(cells * 4)) {
        let kind = read_cells(entry, 1);
        let number = read_cells(&entry[4..], 1);
        if kind == Some(1) {
            *slot = number.map(|n| n as u32);
        }
    }
    Ok(ppis)
}

/// The first enabled PSCI node, read; `None` when there is none.
fn find_psci(tree: &Tree<'_>) -> Option<Result<Psci, DeviceProblem>> {
    let versions = [
        ("arm,psci-1.0", PsciVersion::V1_0),
        ("arm,psci-0.2", PsciVersion::V0_2),
        ("arm,psci", PsciVersion::V0_1),
    ];
    let (node, version) = tree
        .all_nodes()
        .filter(Node::is_enabled)
        .find_map(|n| versions.iter().find(|(c, _)| n.is_compatible(c)).map(|&(_, v)| (n, v)))?;
    Some(psci(&node, version))
}

fn psci(node: &Node<'_>, version: PsciVersion) -> Result<Psci, DeviceProblem> {
    let conduit = match node.prop_str("method") {
        Some("hvc") => Conduit::Hvc,
        Some("smc") => Conduit::Smc,
        Some(_) => return Err(DeviceProblem::BadProperty("method")),
        None => return Err(DeviceProblem::MissingProperty("method")),
    };
    let (cpu_on, system_off) = if version >= PsciVersion::V0_2 {
        (PSCI_CPU_ON_64, Some(PSCI_SYSTEM_OFF))
    } else {
        let cpu_on = match node.prop_u32("cpu_on") {
            Some(Ok(id)) => id,
            Some(Err(_)) => return Err(DeviceProblem::BadProperty("cpu_on")),
            None => return Err(DeviceProblem::MissingProperty("cpu_on")),
        };
        (cpu_on, None)
    };
    Ok(Psci { conduit, version, cpu_on, system_off })
}

/// Resolves `stdout-path` (`/path[:options]` or `alias[:options]`) to a UART.
fn stdout_uart<'a>(tree: &Tree<'a>, spec: &'a str) -> Result<Uart<'a>, DeviceProblem> {
    let (target, options) = match spec.split_once(':') {
        Some((t, o)) => (t, Some(o)),
        None => (spec, None),
    };
    let path = if target.starts_with('/') {
        target
    } else {
        let aliases = tree.find_path("/aliases").ok_or(DeviceProblem::NotFound)?;
        aliases[aliases.len() - 1].prop_str(target).ok_or(DeviceProblem::NotFound)?
    };
    let lineage = tree.find_path(path).ok_or(DeviceProblem::NotFound)?;
    uart_at(&lineage, path, options)
}

/// The UART at the end of `lineage` (found as `path`): its kind from `compatible`,
/// its base translated to a CPU address.
fn uart_at<'a>(
    lineage: &Lineage<'a>,
    path: &'a str,
    options: Option<&'a str>,
) -> Result<Uart<'a>, DeviceProblem> {
    let node = lineage[lineage.len() - 1];
    let offset = match node.prop_u32("reg-offset") {
        None => 0,
        Some(Ok(o)) => u64::from(o),
        Some(Err(_)) => return Err(DeviceProblem::BadProperty("reg-offset")),
    };
    let base =
        device_reg(lineage, 0)?.base.checked_add(offset).ok_or(DeviceProblem::BadProperty("reg-offset"))?;
    Ok(Uart { base, kind: uart_kind(&node)?, path, options })
}

/// The kind of the UART `node`, from every string of its `compatible`.
fn uart_kind<'a>(node: &Node<'a>) -> Result<UartKind<'a>, DeviceProblem> {
    if node.is_compatible("arm,pl011") {
        return Ok(UartKind::Pl011);
    }
    if node.is_compatible("brcm,bcm2835-aux-uart") {
        return Ok(UartKind::Bcm2835Aux);
    }
    if !NS16550_COMPATIBLES.iter().any(|c| node.is_compatible(c)) {
        return Ok(UartKind::Other(node.prop_str("compatible").unwrap_or("")));
    }
    let reg_shift = match node.prop_u32("reg-shift") {
        None => 0,
        Some(Ok(shift @ 0..=3)) => shift as u8,
        Some(_) => return Err(DeviceProblem::BadProperty("reg-shift")),
    };
    let io_width = match node.prop_u32("reg-io-width") {
        None => 1,
        Some(Ok(width @ (1 | 4))) => width as u8,
        Some(_) => return Err(DeviceProblem::BadProperty("reg-io-width")),
    };
    Ok(UartKind::Ns16550 { reg_shift, io_width })
}

/// The first UART the tree names that the kernel drives ([`Board::console`]'s rule):
/// the `serialN` alias with the lowest N whose node is such a UART, enabled and with a
/// usable `reg`; else the first such node in tree order.
fn first_uart<'a>(tree: &Tree<'a>) -> Option<Uart<'a>> {
    let usable = |path: &'a str| {
        let lineage = tree.find_path(path)?;
        let node = lineage[lineage.len() - 1];
        if !node.is_enabled() {
            return None;
        }
        uart_at(&lineage, path, None).ok().filter(|u| u.kind.is_driven())
    };
    let by_alias = tree.find_path("/aliases").and_then(|aliases| {
        let aliases = aliases[aliases.len() - 1];
        let numbered = aliases.properties().filter_map(|(name, _)| {
            let n: u32 = name.strip_prefix("serial")?.parse().ok()?;
            Some((n, aliases.prop_str(name)?))
        });
        let mut best: Option<(u32, Uart<'a>)> = None;
        for (n, path) in numbered {
            if best.is_none_or(|(m, _)| n < m)
                && let Some(uart) = usable(path)
            {
                best = Some((n, uart));
            }
        }
        best.map(|(_, uart)| uart)
    });
    by_alias.or_else(|| {
        // Without an alias there is no path string in the blob to borrow: the node's
        // name stands in for it.
        let driven = |node: &Node<'a>| node.is_enabled() && uart_kind(node).is_ok_and(|k| k.is_driven());
        tree.all_nodes()
            .filter(driven)
            .find_map(|node| uart_at(&tree.lineage_of(&node)?, node.name, None).ok())
    })
}

fn initrd(chosen: &Node<'_>) -> Result<Option<PhysRange>, DeviceProblem> {
    const START: &str = "linux,initrd-start";
    const END: &str = "linux,initrd-end";
    match (chosen.prop_u32_or_u64(START), chosen.prop_u32_or_u64(END)) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(DeviceProblem::MissingProperty(START)),
        (Some(_), None) => Err(DeviceProblem::MissingProperty(END)),
        (Some(Err(_)), _) => Err(DeviceProblem::BadProperty(START)),
        (_, Some(Err(_))) => Err(DeviceProblem::BadProperty(END)),
        (Some(Ok(start)), Some(Ok(end))) if end >= start => {
            Ok(Some(PhysRange { base: start, size: end - start }))
        }
        (Some(Ok(_)), Some(Ok(_))) => Err(DeviceProblem::BadProperty(END)),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::dtb_writer::DtbWriter;
    use std::string::ToString;
    use std::vec::Vec;

    const GIB: u64 = 1 << 30;

    /// A root with 2/2 cells; `f` adds the rest.
    fn build(f: impl FnOnce(&mut DtbWriter)) -> Vec<u8> {
        let mut w = DtbWriter::new();
        w.begin("");
        w.prop_u32("#address-cells", 2).prop_u32("#size-cells", 2);
        f(&mut w);
        w.end();
        w.finish()
    }

    /// One CPU node (inside an open `/cpus`), phandle `0x100 + reg`.
    fn cpu(w: &mut DtbWriter, reg: u32, node: Option<u32>) {
        w.begin(&std::format!("cpu@{reg:x}"));
        w.prop_str("device_type", "cpu").prop_str("compatible", "arm,cortex-a72");
        w.prop_u32("reg", reg).prop_str("enable-method", "psci");
        w.prop_u32("phandle", 0x100 + reg);
        if let Some(n) = node {
            w.prop_u32("numa-node-id", n);
        }
        w.end();
    }

    fn cpus(w: &mut DtbWriter, list: &[(u32, Option<u32>)]) {
        w.begin("cpus").prop_u32("#address-cells", 1).prop_u32("#size-cells", 0);
        for &(reg, node) in list {
            cpu(w, reg, node);
        }
        w.end();
    }

    fn memory(w: &mut DtbWriter, base: u64, size: u64, node: Option<u32>) {
        w.begin(&std::format!("memory@{base:x}"));
        w.prop_str("device_type", "memory");
        w.prop_cells("reg", &[(base >> 32) as u32, base as u32, (size >> 32) as u32, size as u32]);
        if let Some(n) = node {
            w.prop_u32("numa-node-id", n);
        }
        w.end();
    }

    /// Two NUMA nodes, 2 CPUs and 1 GiB each.
    fn two_nodes(w: &mut DtbWriter) {
        cpus(w, &[(0, Some(0)), (1, Some(0)), (2, Some(1)), (3, Some(1))]);
        memory(w, GIB, GIB, Some(0));
        memory(w, 2 * GIB, GIB, Some(1));
    }

    fn plain(w: &mut DtbWriter) {
        cpus(w, &[(0, None), (1, None)]);
        memory(w, 0x4000_0000, GIB, None);
    }

    fn distance_map(w: &mut DtbWriter, cells: &[u32]) {
        w.begin("distance-map").prop_str("compatible", "numa-distance-map-v1");
        w.prop_cells("distance-matrix", cells).end();
    }

    fn error(blob: &[u8]) -> BoardError {
        Board::from_fdt(blob).unwrap_err()
    }

    fn n(raw: u32) -> NodeId {
        NodeId::new(raw).unwrap()
    }

    fn has(board: &Board<'_>, w: Warning) -> bool {
        board.warnings.contains(&w)
    }

    // ---- the happy path -------------------------------------------------------------

    #[test]
    fn a_plain_board_is_one_node_with_default_distance() {
        let blob = build(plain);
        let b = Board::from_fdt(&blob).unwrap();
        assert_eq!(b.cpus.len(), 2);
        assert_eq!(b.node_count(), 1);
        assert_eq!(b.node_memory_bytes(n(0)), GIB);
        assert_eq!(b.distance(n(0), n(0)), 10);
        assert!(b.warnings.is_empty(), "{:?}", b.warnings);
        assert_eq!(b.cpus[1].enable_method, EnableMethod::Psci);
        assert_eq!(b.cpus[1].topo, CpuTopology::default());
    }

    #[test]
    fn numactl_prints_the_documented_block_byte_for_byte() {
        let blob = build(|w| {
            cpus(w, &[(0, Some(0)), (1, Some(0)), (2, Some(1)), (3, Some(1))]);
            memory(w, 0x4000_0000, 512 << 20, Some(0));
            memory(w, 0x6000_0000, 512 << 20, Some(1));
        });
        let b = Board::from_fdt(&blob).unwrap();
        let expected = "available: 2 nodes (0-1)\n\
                        node 0 cpus: 0 1\n\
                        node 0 size: 512 MB\n\
                        node 1 cpus: 2 3\n\
                        node 1 size: 512 MB\n\
                        node distances:\n\
                        node   0   1 \n  \
                        0:  10  20 \n  \
                        1:  20  10 \n";
        assert_eq!(b.numactl().to_string(), expected);
        assert_eq!(b.warnings.as_slice(), &[Warning::NoDistanceMap]);
    }

    #[test]
    fn numactl_can_add_free_lines() {
        let blob = build(plain);
        let b = Board::from_fdt(&blob).unwrap();
        let free = |_n: NodeId| 3u64 << 20;
        let text = b.numactl().with_free(&free).to_string();
        assert!(text.contains("node 0 size: 1024 MB\nnode 0 free: 3 MB\n"), "{text}");
    }

    #[test]
    fn mpidr_lookup_ignores_non_affinity_bits() {
        let blob = build(plain);
        let b = Board::from_fdt(&blob).unwrap();
        assert_eq!(b.cpu_index_by_mpidr(0x8000_0001), Some(1));
        assert_eq!(b.cpu_index_by_mpidr(2), None);
    }

    // ---- one test per row of the table ----------------------------------------------

    #[test]
    fn a_corrupt_blob_is_a_blob_error() {
        let e = error(&[0; 8]);
        assert_eq!(e.kind(), ErrorKind::Blob(DtFault::TooShortForHeader { len: 8 }));
        let mut blob = build(plain);
        let len = blob.len();
        blob[len - 1] = 0xff; // strings block no longer NUL-terminated
        assert!(matches!(error(&blob).kind(), ErrorKind::Blob(_)));
    }

    #[test]
    fn a_riscv_tree_is_refused_by_name() {
        let blob = build(|w| {
            w.begin("cpus").prop_u32("#address-cells", 1).prop_u32("#size-cells", 0);
            w.begin("cpu@0").prop_str("device_type", "cpu").prop_u32("reg", 0);
            w.prop_str("riscv,isa", "rv64imafdc").end();
            w.end();
        });
        let e = error(&blob);
        assert_eq!(e.kind(), ErrorKind::NotArm64);
        assert_eq!(e.node_path(), "/cpus/cpu@0");
        let blob = build(|w| {
            w.begin("cpus").begin("cpu@0").prop_strs("compatible", &["thead,c920", "riscv"]);
            w.end().end();
        });
        assert_eq!(error(&blob).kind(), ErrorKind::NotArm64);
    }

    #[test]
    fn no_cpus_node_or_no_enabled_cpu_is_fatal() {
        let blob = build(|w| memory(w, 0, GIB, None));
        assert_eq!(error(&blob).kind(), ErrorKind::NoCpus);
        let blob = build(|w| {
            w.begin("cpus").prop_u32("#address-cells", 1).prop_u32("#size-cells", 0);
            w.begin("cpu@0").prop_u32("reg", 0).prop_str("status", "disabled").end();
            w.end();
        });
        let e = error(&blob);
        assert_eq!(e.kind(), ErrorKind::NoCpus);
        assert_eq!(e.node_path(), "/cpus");
    }

    #[test]
    fn unsupported_cpu_address_cells_are_fatal() {
        let blob = build(|w| {
            w.begin("cpus").prop_u32("#address-cells", 3).end();
        });
        let e = error(&blob);
        assert_eq!(e.kind(), ErrorKind::BadCellCount { cells: 3 });
        assert_eq!(e.property(), Some("#address-cells"));
    }

    #[test]
    fn a_cpu_without_reg_is_named() {
        let blob = build(|w| {
            w.begin("cpus").prop_u32("#address-cells", 1).prop_u32("#size-cells", 0);
            w.begin("cpu@0").prop_str("device_type", "cpu").end();
            w.end();
        });
        let e = error(&blob);
        assert_eq!(e.kind(), ErrorKind::MissingProperty);
        assert_eq!((e.node_path(), e.property()), ("/cpus/cpu@0", Some("reg")));
        assert_eq!(e.to_string(), "device tree node /cpus/cpu@0 property reg: required property missing");
    }

    #[test]
    fn a_cpu_reg_of_the_wrong_size_is_named() {
        let blob = build(|w| {
            w.begin("cpus").prop_u32("#address-cells", 1).prop_u32("#size-cells", 0);
            w.begin("cpu@0").prop_cells("reg", &[0, 0]).end();
            w.end();
        });
        assert_eq!(error(&blob).kind(), ErrorKind::BadPropertyLength { len: 8 });
    }

    #[test]
    fn a_cpu_reg_with_non_affinity_bits_is_invalid() {
        let blob = build(|w| cpus(w, &[(0x0100_0000, None)]));
        assert_eq!(error(&blob).kind(), ErrorKind::InvalidMpidr { mpidr: 0x0100_0000 });
    }

    #[test]
    fn two_cpus_with_one_mpidr_are_refused() {
        let blob = build(|w| {
            w.begin("cpus").prop_u32("#address-cells", 1).prop_u32("#size-cells", 0);
            w.begin("cpu@0").prop_u32("reg", 5).end();
            w.begin("cpu@1").prop_u32("reg", 5).end();
            w.end();
        });
        let e = error(&blob);
        assert_eq!(e.kind(), ErrorKind::DuplicateMpidr { mpidr: 5 });
        assert_eq!(e.node_path(), "/cpus/cpu@1");
    }

    #[test]
    fn more_cpus_than_the_limit_are_refused() {
        let list: Vec<_> = (0..=MAX_CPUS as u32).map(|i| (i, None)).collect();
        let blob = build(|w| cpus(w, &list));
        assert_eq!(error(&blob).kind(), ErrorKind::TooManyCpus { limit: MAX_CPUS });
    }

    #[test]
    fn disabled_cpus_are_left_out() {
        let blob = build(|w| {
            w.begin("cpus").prop_u32("#address-cells", 1).prop_u32("#size-cells", 0);
            w.begin("cpu@0").prop_u32("reg", 0).prop_str("status", "okay").end();
            w.begin("cpu@1").prop_u32("reg", 1).prop_str("status", "fail").end();
            w.begin("cpu@2").prop_u32("reg", 2).prop_str("status", "ok").end();
            w.end();
            memory(w, 0, GIB, None);
        });
        let b = Board::from_fdt(&blob).unwrap();
        let mpidrs: Vec<_> = b.cpus.iter().map(|c| c.mpidr).collect();
        assert_eq!(mpidrs, [0, 2]);
    }

    #[test]
    fn a_cpu_without_numa_node_id_among_cpus_with_one_is_fatal() {
        let blob = build(|w| {
            cpus(w, &[(0, Some(0)), (1, None)]);
            memory(w, 0, GIB, Some(0));
        });
        let e = error(&blob);
        assert_eq!(e.kind(), ErrorKind::MixedNumaNodeId);
        assert_eq!((e.node_path(), e.property()), ("/cpus/cpu@1", Some("numa-node-id")));
    }

    #[test]
    fn a_memory_node_without_numa_node_id_among_cpus_with_one_is_fatal() {
        let blob = build(|w| {
            cpus(w, &[(0, Some(0))]);
            memory(w, 0, GIB, None);
        });
        let e = error(&blob);
        assert_eq!(e.kind(), ErrorKind::MixedNumaNodeId);
        assert_eq!(e.node_path(), "/memory@0");
    }

    #[test]
    fn a_numa_node_id_of_the_wrong_size_is_fatal() {
        let blob = build(|w| {
            w.begin("cpus").prop_u32("#address-cells", 1).prop_u32("#size-cells", 0);
            w.begin("cpu@0").prop_u32("reg", 0).prop_cells("numa-node-id", &[0, 0]).end();
            w.end();
        });
        assert_eq!(error(&blob).kind(), ErrorKind::BadPropertyLength { len: 8 });
    }

    #[test]
    fn a_node_id_out_of_range_is_fatal_for_cpus_and_memory() {
        let blob = build(|w| cpus(w, &[(0, Some(64))]));
        assert_eq!(error(&blob).kind(), ErrorKind::NodeIdOutOfRange { id: 64, limit: 64 });
        let blob = build(|w| {
            cpus(w, &[(0, Some(0))]);
            memory(w, 0, GIB, Some(1000));
        });
        let e = error(&blob);
        assert_eq!(e.kind(), ErrorKind::NodeIdOutOfRange { id: 1000, limit: 64 });
        assert_eq!(e.node_path(), "/memory@0");
    }

    #[test]
    fn no_memory_node_is_zero_memory_and_a_warning() {
        let blob = build(|w| cpus(w, &[(0, None)]));
        let b = Board::from_fdt(&blob).unwrap();
        assert!(b.memory.is_empty());
        assert_eq!(b.node_memory_bytes(n(0)), 0);
        assert_eq!(b.warnings.as_slice(), &[Warning::NoMemory]);
        assert!(b.numactl().to_string().contains("node 0 size: 0 MB\n"));
    }

    #[test]
    fn zero_size_memory_entries_are_skipped_with_a_warning() {
        let blob = build(|w| {
            cpus(w, &[(0, None)]);
            memory(w, 0, 0, None);
        });
        let b = Board::from_fdt(&blob).unwrap();
        assert!(b.memory.is_empty());
        assert_eq!(b.warnings.as_slice(), &[Warning::EmptyMemoryRange { base: 0 }]);
    }

    #[test]
    fn a_memory_node_without_reg_is_fatal() {
        let blob = build(|w| {
            cpus(w, &[(0, None)]);
            w.begin("memory@0").prop_str("device_type", "memory").end();
        });
        let e = error(&blob);
        assert_eq!(e.kind(), ErrorKind::MissingProperty);
        assert_eq!((e.node_path(), e.property()), ("/memory@0", Some("reg")));
    }

    #[test]
    fn a_memory_reg_that_is_not_whole_entries_is_fatal() {
        let blob = build(|w| {
            cpus(w, &[(0, None)]);
            w.begin("memory@0").prop_str("device_type", "memory");
            w.prop_cells("reg", &[0, 0, 1]).end();
        });
        assert_eq!(error(&blob).kind(), ErrorKind::BadPropertyLength { len: 12 });
    }

    #[test]
    fn unsupported_root_cells_are_fatal_for_memory() {
        let mut w = DtbWriter::new();
        w.begin("").prop_u32("#address-cells", 3).prop_u32("#size-cells", 2);
        cpus(&mut w, &[(0, None)]);
        memory(&mut w, 0, GIB, None);
        w.end();
        let blob = w.finish();
        let e = error(&blob);
        assert_eq!(e.kind(), ErrorKind::BadCellCount { cells: 3 });
        assert_eq!(e.node_path(), "/");
    }

    #[test]
    fn a_range_past_the_end_of_the_address_space_is_fatal() {
        let blob = build(|w| {
            cpus(w, &[(0, None)]);
            memory(w, u64::MAX - 10, 100, None);
        });
        assert_eq!(error(&blob).kind(), ErrorKind::RangeOverflow { base: u64::MAX - 10, size: 100 });
    }

    #[test]
    fn more_memory_ranges_than_the_limit_are_fatal() {
        let cells: Vec<u32> = (0..=MAX_MEMORY_RANGES as u32).flat_map(|i| [i, 0, 0, 0x1000]).collect();
        let blob = build(|w| {
            cpus(w, &[(0, None)]);
            w.begin("memory@0").prop_str("device_type", "memory");
            w.prop_cells("reg", &cells).end();
        });
        assert_eq!(error(&blob).kind(), ErrorKind::TooManyMemoryRanges { limit: MAX_MEMORY_RANGES });
    }

    #[test]
    fn memory_of_different_nodes_that_overlaps_is_fatal() {
        let blob = build(|w| {
            cpus(w, &[(0, Some(0)), (1, Some(1))]);
            memory(w, 0, 2 * GIB, Some(0));
            memory(w, GIB, 2 * GIB, Some(1));
        });
        let e = error(&blob);
        assert_eq!(e.kind(), ErrorKind::MemoryOverlap { base_a: 0, node_a: n(0), base_b: GIB, node_b: n(1) });
        assert_eq!(e.node_path(), "/memory@40000000");
    }

    #[test]
    fn memory_of_one_node_that_overlaps_counts_once_with_a_warning() {
        let blob = build(|w| {
            cpus(w, &[(0, None)]);
            memory(w, 0, 2 * GIB, None);
            memory(w, GIB, 2 * GIB, None);
        });
        let b = Board::from_fdt(&blob).unwrap();
        assert_eq!(b.node_memory_bytes(n(0)), 3 * GIB);
        assert!(has(&b, Warning::MemoryOverlapSameNode { node: n(0), base_a: 0, base_b: GIB }));
    }

    #[test]
    fn memory_is_sorted_by_base() {
        let blob = build(|w| {
            cpus(w, &[(0, Some(0)), (1, Some(1))]);
            memory(w, 2 * GIB, GIB, Some(1));
            memory(w, GIB, GIB, Some(0));
        });
        let b = Board::from_fdt(&blob).unwrap();
        let bases: Vec<_> = b.memory.iter().map(|m| (m.range.base, m.node)).collect();
        assert_eq!(bases, [(GIB, n(0)), (2 * GIB, n(1))]);
    }

    #[test]
    fn several_nodes_without_a_distance_map_use_ten_and_twenty() {
        let blob = build(two_nodes);
        let b = Board::from_fdt(&blob).unwrap();
        assert_eq!(b.distance(n(0), n(1)), 20);
        assert_eq!(b.distance(n(1), n(1)), 10);
        assert_eq!(b.warnings.as_slice(), &[Warning::NoDistanceMap]);
    }

    #[test]
    fn a_distance_map_without_a_matrix_is_fatal() {
        let blob = build(|w| {
            two_nodes(w);
            w.begin("distance-map").prop_str("compatible", "numa-distance-map-v1").end();
        });
        let e = error(&blob);
        assert_eq!(e.kind(), ErrorKind::MissingProperty);
        assert_eq!((e.node_path(), e.property()), ("/distance-map", Some("distance-matrix")));
    }

    #[test]
    fn matrix_errors_name_the_distance_map() {
        let cases: [(&[u32], ErrorKind); 5] = [
            (&[0, 1], ErrorKind::MatrixNotTriples { bytes: 8 }),
            (&[1, 1, 20], ErrorKind::SelfDistance { node: n(1), distance: 20 }),
            (&[0, 1, 9], ErrorKind::DistanceTooSmall { from: n(0), to: n(1), distance: 9 }),
            (&[0, 1, 300], ErrorKind::DistanceTooLarge { from: n(0), to: n(1), distance: 300 }),
            (
                &[0, 1, 20, 0, 1, 30],
                ErrorKind::DistanceConflict { from: n(0), to: n(1), first: 20, second: 30 },
            ),
        ];
        for (cells, kind) in cases {
            let blob = build(|w| {
                two_nodes(w);
                distance_map(w, cells);
            });
            let e = error(&blob);
            assert_eq!(e.kind(), kind);
            assert_eq!((e.node_path(), e.property()), ("/distance-map", Some("distance-matrix")));
        }
    }

    #[test]
    fn a_matrix_node_id_out_of_range_is_fatal() {
        let blob = build(|w| {
            two_nodes(w);
            distance_map(w, &[0, 70, 20]);
        });
        assert_eq!(error(&blob).kind(), ErrorKind::NodeIdOutOfRange { id: 70, limit: 64 });
    }

    #[test]
    fn one_direction_given_implies_the_other() {
        let blob = build(|w| {
            two_nodes(w);
            distance_map(w, &[0, 0, 10, 0, 1, 40, 1, 1, 10]);
        });
        let b = Board::from_fdt(&blob).unwrap();
        assert_eq!(b.distance(n(1), n(0)), 40);
        assert!(b.warnings.is_empty());
    }

    #[test]
    fn a_pair_missing_from_the_matrix_defaults_to_twenty_with_a_warning() {
        let blob = build(|w| {
            cpus(w, &[(0, Some(0)), (1, Some(1)), (2, Some(2))]);
            memory(w, 0, GIB, Some(0));
            distance_map(w, &[0, 1, 15]);
        });
        let b = Board::from_fdt(&blob).unwrap();
        assert_eq!(b.distance(n(0), n(2)), 20);
        assert_eq!(b.distance(n(0), n(1)), 15);
        assert!(has(&b, Warning::DistanceDefaulted { from: n(2), to: n(1) }));
        assert!(!has(&b, Warning::DistanceDefaulted { from: n(1), to: n(0) }));
    }

    #[test]
    fn a_matrix_naming_an_empty_node_keeps_it_with_a_warning() {
        let blob = build(|w| {
            cpus(w, &[(0, Some(0))]);
            memory(w, 0, GIB, Some(0));
            distance_map(w, &[0, 2, 30]);
        });
        let b = Board::from_fdt(&blob).unwrap();
        assert_eq!(b.warnings.as_slice(), &[Warning::DistanceMapNamesEmptyNode { node: n(2) }]);
        let text = b.numactl().to_string();
        assert!(text.starts_with("available: 2 nodes (0,2)\n"), "{text}");
        assert!(text.contains("node 2 cpus:\nnode 2 size: 0 MB\n"), "{text}");
        assert!(text.ends_with("  0:  10  30 \n  2:  30  10 \n"), "{text}");
    }

    #[test]
    fn reserved_ranges_come_from_memreserve_and_reserved_memory() {
        let mut w = DtbWriter::new();
        w.reserve(0x4800_0000, 0x1000).reserve(0x100, 0);
        w.begin("").prop_u32("#address-cells", 2).prop_u32("#size-cells", 2);
        plain(&mut w);
        w.begin("reserved-memory").prop_u32("#address-cells", 1).prop_u32("#size-cells", 1);
        w.prop("ranges", &[]);
        w.begin("tee@50000000").prop_cells("reg", &[0x5000_0000, 0x10_0000]).end();
        w.begin("pool").prop_cells("size", &[0x1000]).end();
        w.begin("off@0").prop_cells("reg", &[0, 1]).prop_str("status", "disabled").end();
        w.end();
        w.end();
        let blob = w.finish();
        let b = Board::from_fdt(&blob).unwrap();
        assert_eq!(
            b.reserved.as_slice(),
            &[
                PhysRange { base: 0x4800_0000, size: 0x1000 },
                PhysRange { base: 0x5000_0000, size: 0x10_0000 }
            ]
        );
    }

    #[test]
    fn more_reserved_ranges_than_the_limit_are_fatal() {
        let mut w = DtbWriter::new();
        for i in 0..=MAX_RESERVED as u64 {
            w.reserve(i * 0x1000, 0x1000);
        }
        w.begin("").prop_u32("#address-cells", 2).prop_u32("#size-cells", 2);
        plain(&mut w);
        w.end();
        let blob = w.finish();
        assert_eq!(error(&blob).kind(), ErrorKind::TooManyReserved { limit: MAX_RESERVED });
    }

    #[test]
    fn a_malformed_reserved_memory_reg_is_fatal() {
        let blob = build(|w| {
            plain(w);
            w.begin("reserved-memory").prop_u32("#address-cells", 2).prop_u32("#size-cells", 2);
            w.begin("x@0").prop_cells("reg", &[0, 0, 1]).end();
            w.end();
        });
        let e = error(&blob);
        assert_eq!(e.kind(), ErrorKind::BadPropertyLength { len: 12 });
        assert_eq!(e.node_path(), "/reserved-memory/x@0");
    }

    fn with_cpu_map(map: impl FnOnce(&mut DtbWriter)) -> Vec<u8> {
        build(|w| {
            w.begin("cpus").prop_u32("#address-cells", 1).prop_u32("#size-cells", 0);
            w.begin("cpu-map");
            map(w);
            w.end();
            for i in 0..3 {
                cpu(w, i, None);
            }
            w.end();
            memory(w, 0, GIB, None);
        })
    }

    fn leaf(w: &mut DtbWriter, name: &str, phandle: u32) {
        w.begin(name).prop_u32("cpu", phandle).end();
    }

    #[test]
    fn cpu_map_clusters_are_board_unique_and_queryable() {
        let blob = with_cpu_map(|w| {
            w.begin("cluster0");
            leaf(w, "core0", 0x100);
            leaf(w, "core1", 0x101);
            w.end();
            w.begin("cluster1");
            leaf(w, "core0", 0x102);
            w.end();
        });
        let b = Board::from_fdt(&blob).unwrap();
        assert!(b.warnings.is_empty(), "{:?}", b.warnings);
        assert_eq!(b.cluster_of(1), Some(Cluster { socket: 0, id: 0 }));
        assert_eq!(b.cluster_of(2), Some(Cluster { socket: 0, id: 1 }));
        assert_eq!(b.cpus[1].topo.core, Some(1));
        assert_eq!(b.cluster_of(3), None);
    }

    #[test]
    fn cpu_map_problems_fall_back_with_warnings() {
        let blob = with_cpu_map(|w| {
            w.begin("cluster0");
            leaf(w, "core0", 0x100);
            leaf(w, "core1", 0x100);
            leaf(w, "core2", 0x999);
            w.begin("core3").end();
            w.end();
        });
        let b = Board::from_fdt(&blob).unwrap();
        assert_eq!(
            b.warnings.as_slice(),
            &[
                Warning::CpuMapDuplicate { cpu: 0 },
                Warning::CpuMapUnknownCpu { phandle: Some(0x999) },
                Warning::CpuMapUnknownCpu { phandle: None },
                Warning::CpuMissingFromCpuMap { cpu: 1 },
                Warning::CpuMissingFromCpuMap { cpu: 2 },
            ]
        );
        assert_eq!(b.cpus[0].topo.core, Some(0));
        assert_eq!(b.cluster_of(1), None);
    }

    #[test]
    fn enable_methods_are_read_and_unknown_ones_fall_back() {
        let blob = build(|w| {
            w.begin("cpus").prop_u32("#address-cells", 1).prop_u32("#size-cells", 0);
            w.begin("cpu@0").prop_u32("reg", 0).end();
            w.begin("cpu@1").prop_u32("reg", 1).prop_str("enable-method", "spin-table");
            w.prop_u64("cpu-release-addr", 0x8000_fff8).end();
            w.begin("cpu@2").prop_u32("reg", 2).prop_str("enable-method", "spin-table").end();
            w.begin("cpu@3").prop_u32("reg", 3).prop_str("enable-method", "magic").end();
            w.end();
            memory(w, 0, GIB, None);
        });
        let b = Board::from_fdt(&blob).unwrap();
        let methods: Vec<_> = b.cpus.iter().map(|c| c.enable_method).collect();
        assert_eq!(
            methods,
            [
                EnableMethod::None,
                EnableMethod::SpinTable { release_addr: 0x8000_fff8 },
                EnableMethod::None,
                EnableMethod::None
            ]
        );
        assert_eq!(
            b.warnings.as_slice(),
            &[Warning::SpinTableWithoutReleaseAddr { cpu: 2 }, Warning::UnknownEnableMethod { cpu: 3 }]
        );
    }

    fn gic_board(gic: impl FnOnce(&mut DtbWriter)) -> Vec<u8> {
        build(|w| {
            plain(w);
            w.begin("soc").prop_u32("#address-cells", 1).prop_u32("#size-cells", 1);
            w.prop_cells("ranges", &[0, 0, 0x1000_0000, 0x1000_0000]);
            w.begin("intc@0").prop_u32("phandle", 1).prop_u32("#interrupt-cells", 3);
            gic(w);
            w.end();
            w.end();
        })
    }

    #[test]
    fn a_gic_v3_is_read_through_bus_ranges() {
        let blob = gic_board(|w| {
            w.prop_str("compatible", "arm,gic-v3").prop_u32("#redistributor-regions", 2);
            w.prop_cells("reg", &[0, 0x1_0000, 0x10_0000, 0x2_0000, 0x20_0000, 0x2_0000]);
        });
        let b = Board::from_fdt(&blob).unwrap();
        let Some(Gic::V3 { distributor, redistributors }) = b.gic else {
            panic!("{:?}", b.gic);
        };
        assert_eq!(distributor, PhysRange { base: 0x1000_0000, size: 0x1_0000 });
        assert_eq!(
            redistributors.as_slice(),
            &[
                PhysRange { base: 0x1010_0000, size: 0x2_0000 },
                PhysRange { base: 0x1020_0000, size: 0x2_0000 }
            ]
        );
    }

    #[test]
    fn an_unusable_gic_is_left_out_with_a_warning() {
        let short = gic_board(|w| {
            w.prop_str("compatible", "arm,gic-400").prop_cells("reg", &[0, 0x1000]);
        });
        let b = Board::from_fdt(&short).unwrap();
        assert_eq!(b.gic, None);
        let bad_reg =
            Warning::DeviceIgnored { device: Device::Gic, problem: DeviceProblem::BadProperty("reg") };
        assert_eq!(b.warnings.as_slice(), &[bad_reg]);
        let outside = gic_board(|w| {
            w.prop_str("compatible", "arm,gic-v3").prop_cells("reg", &[0x2000_0000, 1, 0, 1]);
        });
        let b = Board::from_fdt(&outside).unwrap();
        let untranslatable =
            Warning::DeviceIgnored { device: Device::Gic, problem: DeviceProblem::Untranslatable };
        assert_eq!(b.warnings.as_slice(), &[untranslatable]);
        let many = gic_board(|w| {
            w.prop_str("compatible", "arm,gic-v3").prop_u32("#redistributor-regions", 9);
        });
        let b = Board::from_fdt(&many).unwrap();
        assert_eq!(b.gic, None);
        assert_eq!(b.warnings.len(), 1);
    }

    #[test]
    fn timer_ppis_follow_the_interrupt_parents_cells() {
        let blob = gic_board(|w| {
            w.prop_str("compatible", "arm,gic-v3").prop_cells("reg", &[0, 1, 2, 1]);
            w.end();
            w.begin("timer").prop_str("compatible", "arm,armv8-timer");
            w.prop_u32("interrupt-parent", 1).prop_u32("clock-frequency", 62_500_000);
            w.prop_cells("interrupts", &[1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4]);
        });
        let b = Board::from_fdt(&blob).unwrap();
        let t = b.timer.unwrap();
        assert_eq!(t.clock_frequency, Some(62_500_000));
        assert_eq!(
            [t.secure_phys_ppi, t.phys_ppi, t.virt_ppi, t.hyp_ppi],
            [Some(13), Some(14), Some(11), Some(10)]
        );
    }

    #[test]
    fn a_timer_without_interrupts_keeps_no_ppis_and_warns() {
        let blob = build(|w| {
            plain(w);
            w.begin("timer").prop_str("compatible", "arm,armv8-timer").end();
        });
        let b = Board::from_fdt(&blob).unwrap();
        assert_eq!(b.timer, Some(Timer::default()));
        assert_eq!(
            b.warnings.as_slice(),
            &[Warning::DeviceIgnored {
                device: Device::Timer,
                problem: DeviceProblem::MissingProperty("interrupt-parent")
            }]
        );
    }

    fn psci_board(compat: &[&str], method: &str, cpu_on: Option<u32>) -> Vec<u8> {
        build(|w| {
            plain(w);
            w.begin("psci").prop_strs("compatible", compat).prop_str("method", method);
            if let Some(id) = cpu_on {
                w.prop_u32("cpu_on", id);
            }
            w.end();
        })
    }

    #[test]
    fn psci_versions_conduits_and_function_ids() {
        let blob = psci_board(&["arm,psci-1.0", "arm,psci-0.2", "arm,psci"], "smc", Some(1));
        let b = Board::from_fdt(&blob).unwrap();
        assert_eq!(
            b.psci,
            Some(Psci {
                conduit: Conduit::Smc,
                version: PsciVersion::V1_0,
                cpu_on: PSCI_CPU_ON_64,
                system_off: Some(PSCI_SYSTEM_OFF)
            })
        );
        let blob = psci_board(&["arm,psci"], "hvc", Some(0x9500_0003));
        let p = Board::from_fdt(&blob).unwrap().psci.unwrap();
        assert_eq!(
            (p.version, p.conduit, p.cpu_on, p.system_off),
            (PsciVersion::V0_1, Conduit::Hvc, 0x9500_0003, None)
        );
    }

    #[test]
    fn unusable_psci_is_left_out_with_a_warning() {
        for (blob, problem) in [
            (psci_board(&["arm,psci-0.2"], "svc", None), DeviceProblem::BadProperty("method")),
            (psci_board(&["arm,psci"], "smc", None), DeviceProblem::MissingProperty("cpu_on")),
        ] {
            let b = Board::from_fdt(&blob).unwrap();
            assert_eq!(b.psci, None);
            assert_eq!(b.warnings.as_slice(), &[Warning::DeviceIgnored { device: Device::Psci, problem }]);
        }
    }

    fn chosen_board(chosen: impl FnOnce(&mut DtbWriter)) -> Vec<u8> {
        build(|w| {
            plain(w);
            w.begin("aliases").prop_str("serial0", "/soc/serial@1000").end();
            w.begin("soc").prop_u32("#address-cells", 1).prop_u32("#size-cells", 1);
            w.prop_cells("ranges", &[0, 0, 0x900_0000, 0x10_0000]);
            w.begin("serial@1000").prop_strs("compatible", &["arm,pl011", "arm,primecell"]);
            w.prop_cells("reg", &[0x1000, 0x1000]).end();
            w.begin("uart@2000").prop_str("compatible", "snps,dw-apb-uart");
            w.prop_cells("reg", &[0x2000, 0x100]).end();
            w.end();
            w.begin("chosen");
            chosen(w);
            w.end();
        })
    }

    #[test]
    fn stdout_path_resolves_aliases_options_and_ranges() {
        let blob = chosen_board(|w| {
            w.prop_str("stdout-path", "serial0:115200n8").prop_str("bootargs", "quiet");
        });
        let b = Board::from_fdt(&blob).unwrap();
        assert_eq!(
            b.chosen.stdout,
            Some(Uart {
                base: 0x900_1000,
                kind: UartKind::Pl011,
                path: "/soc/serial@1000",
                options: Some("115200n8")
            })
        );
        assert_eq!(b.chosen.bootargs, "quiet");
        let blob = chosen_board(|w| {
            w.prop_str("stdout-path", "/soc/uart@2000");
        });
        let uart = Board::from_fdt(&blob).unwrap().chosen.stdout.unwrap();
        assert_eq!((uart.base, uart.kind), (0x900_2000, UartKind::Ns16550 { reg_shift: 0, io_width: 1 }));
        assert_eq!(format!("{uart}"), "ns16550@0x9002000");
    }

    /// A UART node of a test board: name, `compatible` strings, extra `u32` properties.
    type UartNode<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, u32)]);

    /// A board whose UARTs are the given nodes (name, compatibles, extra cells) under a
    /// `/soc` bus at 0x7e00_0000 mapped to 0xfe00_0000 (the Raspberry Pi 4's), with
    /// `aliases` and `chosen` as given.
    fn uart_board(uarts: &[UartNode<'_>], aliases: &[(&str, &str)], stdout: Option<&str>) -> Vec<u8> {
        build(|w| {
            plain(w);
            w.begin("aliases");
            for (alias, path) in aliases {
                w.prop_str(alias, path);
            }
            w.end();
            w.begin("soc").prop_u32("#address-cells", 1).prop_u32("#size-cells", 1);
            w.prop_cells("ranges", &[0x7e00_0000, 0, 0xfe00_0000, 0x180_0000]);
            for (i, (name, compatibles, props)) in uarts.iter().enumerate() {
                w.begin(name).prop_strs("compatible", compatibles);
                w.prop_cells("reg", &[0x7e20_1000 + 0x1000 * i as u32, 0x100]);
                for (prop, value) in props.iter() {
                    w.prop_u32(prop, *value);
                }
                w.end();
            }
            w.end();
            w.begin("chosen");
            if let Some(spec) = stdout {
                w.prop_str("stdout-path", spec);
            }
            w.end();
        })
    }

    #[test]
    fn uart_kinds_come_from_any_compatible_with_their_register_layout() {
        let uarts: &[UartNode<'_>] = &[
            (
                "serial@0",
                &["rockchip,rk3399-uart", "snps,dw-apb-uart"],
                &[("reg-shift", 2), ("reg-io-width", 4)],
            ),
            ("serial@1", &["ns16550a"], &[]),
            ("serial@2", &["brcm,bcm2835-aux-uart"], &[]),
            ("serial@3", &["arm,pl011", "arm,primecell"], &[("reg-offset", 0x40)]),
            ("serial@4", &["qcom,msm-uartdm-v1.4", "qcom,msm-uartdm"], &[]),
            ("serial@5", &["ns16550a"], &[("reg-io-width", 2)]),
            ("serial@6", &["ns16550a"], &[("reg-shift", 7)]),
        ];
        let blob = uart_board(uarts, &[], None);
        let tree = Tree::new(&blob).unwrap();
        let at = |i: usize| {
            let path = format!("/soc/serial@{i}");
            let lineage = tree.find_path(&path).unwrap();
            uart_at(&lineage, "x", None).map(|u| (u.base, u.kind))
        };
        assert_eq!(at(0), Ok((0xfe20_1000, UartKind::Ns16550 { reg_shift: 2, io_width: 4 })));
        assert_eq!(at(1), Ok((0xfe20_2000, UartKind::Ns16550 { reg_shift: 0, io_width: 1 })));
        assert_eq!(at(2), Ok((0xfe20_3000, UartKind::Bcm2835Aux)));
        assert_eq!(at(3), Ok((0xfe20_4040, UartKind::Pl011)), "reg-offset added");
        assert_eq!(at(4), Ok((0xfe20_5000, UartKind::Other("qcom,msm-uartdm-v1.4"))));
        assert_eq!(at(5), Err(DeviceProblem::BadProperty("reg-io-width")));
        assert_eq!(at(6), Err(DeviceProblem::BadProperty("reg-shift")));
        assert!(!UartKind::Other("x").is_driven());
    }

    #[test]
    fn the_raspberry_pi_4_console_is_the_mini_uart_at_its_cpu_address() {
        let uarts: &[UartNode<'_>] = &[
            ("serial@7e201000", &["arm,pl011", "arm,primecell"], &[]),
            ("serial@7e215040", &["brcm,bcm2835-aux-uart"], &[]),
        ];
        let blob = uart_board(
            uarts,
            &[("serial0", "/soc/serial@7e201000"), ("serial1", "/soc/serial@7e215040")],
            Some("serial1:115200n8"),
        );
        let b = Board::from_fdt(&blob).unwrap();
        let console = b.console().unwrap();
        assert_eq!(
            (console.base, console.kind, console.path),
            (0xfe20_2000, UartKind::Bcm2835Aux, "/soc/serial@7e215040")
        );
        assert_eq!(format!("{console}"), "bcm2835-aux@0xfe202000");
    }

    #[test]
    fn without_stdout_path_the_console_is_the_first_uart_the_tree_names() {
        let uarts: &[UartNode<'_>] = &[
            ("serial@0", &["qcom,msm-uartdm"], &[]),
            ("serial@1", &["ns16550a"], &[]),
            ("serial@2", &["arm,pl011"], &[]),
        ];
        // The lowest serialN alias naming a UART the kernel drives.
        let blob = uart_board(
            uarts,
            &[("serial2", "/soc/serial@1"), ("serial0", "/soc/serial@0"), ("serial1", "/soc/serial@2")],
            None,
        );
        let b = Board::from_fdt(&blob).unwrap();
        assert_eq!(b.chosen.stdout, None);
        assert_eq!(b.console().map(|u| (u.base, u.path)), Some((0xfe20_3000, "/soc/serial@2")));
        // No alias: tree order, the node's name standing in for its path.
        let blob = uart_board(uarts, &[], None);
        let b = Board::from_fdt(&blob).unwrap();
        assert_eq!(b.console().map(|u| (u.base, u.path)), Some((0xfe20_2000, "serial@1")));
        assert_eq!(console_of(&blob).map(|u| u.base), Some(0xfe20_2000));
        // stdout-path wins, even naming a UART the kernel does not drive; the first
        // driven UART is still known, for saying so.
        let blob = uart_board(uarts, &[("serial0", "/soc/serial@0")], Some("serial0"));
        let b = Board::from_fdt(&blob).unwrap();
        assert_eq!(b.console().map(|u| u.kind), Some(UartKind::Other("qcom,msm-uartdm")));
        assert_eq!(b.chosen.first_uart.map(|u| u.base), Some(0xfe20_2000));
        assert_eq!(
            console_of(&blob).map(|u| u.base),
            Some(0xfe20_2000),
            "a refused board prints where it can"
        );
        // Nothing driven at all: no console.
        let only: &[UartNode<'_>] = &[("serial@0", &["qcom,msm-uartdm"], &[])];
        assert_eq!(Board::from_fdt(&uart_board(only, &[], None)).unwrap().console(), None);
    }

    #[test]
    fn parsing_in_place_replaces_everything_a_previous_parse_left() {
        let first = chosen_board(|w| {
            w.prop_str("stdout-path", "serial0:115200n8").prop_str("bootargs", "one");
        });
        let second = chosen_board(|w| {
            w.prop_str("bootargs", "two");
        });
        let mut board = Board::empty();
        board.parse(&first).unwrap();
        board.parse(&second).unwrap();
        let fresh = Board::from_fdt(&second).unwrap();
        assert_eq!(board.chosen, fresh.chosen);
        assert_eq!(board.cpus.as_slice(), fresh.cpus.as_slice());
        assert_eq!(board.memory.as_slice(), fresh.memory.as_slice());
        assert_eq!(board.warnings.as_slice(), fresh.warnings.as_slice());
        assert_eq!(format!("{}", board.numactl()), format!("{}", fresh.numactl()));
    }

    #[test]
    fn the_console_is_found_even_when_the_board_is_refused() {
        let blob = chosen_board(|w| {
            w.prop_str("stdout-path", "serial0:115200n8");
        });
        let uart = console_of(&blob).expect("console");
        assert_eq!(uart.pl011_base(), Board::from_fdt(&blob).unwrap().chosen.stdout.unwrap().pl011_base());
        assert_eq!(console_of(&blob[..20]), None);
    }

    #[test]
    fn early_facts_survive_a_board_the_parser_refuses() {
        // The board of `chosen_board` with a PSCI node and a CPU on NUMA node 99: the
        // board is refused, yet the kernel must still learn how to exit and where to
        // say why.
        let blob = build(|w| {
            cpus(w, &[(0, Some(99))]);
            memory(w, 0x4000_0000, GIB, Some(0));
            w.begin("psci").prop_str("compatible", "arm,psci-1.0").prop_str("method", "smc").end();
            w.begin("pl011@9000000").prop_str("compatible", "arm,pl011");
            w.prop_cells("reg", &[0, 0x900_0000, 0, 0x1000]).end();
            w.begin("chosen");
            w.prop_str("stdout-path", "/pl011@9000000").prop_str("bootargs", "exit=semihosting x");
            w.end();
        });
        assert!(Board::from_fdt(&blob).is_err(), "node 99 is out of range");
        let facts = early_facts(&blob);
        assert_eq!(facts.bootargs, "exit=semihosting x");
        assert_eq!(
            facts.psci.map(|p| (p.conduit, p.system_off)),
            Some((Conduit::Smc, Some(PSCI_SYSTEM_OFF)))
        );
        assert_eq!(facts.console.and_then(|u| u.pl011_base()), Some(0x900_0000));
        assert_eq!(early_facts(&blob[..20]), EarlyFacts::default(), "not even a tree: nothing");
        assert_eq!(early_facts(&build(plain)), EarlyFacts::default(), "nothing chosen, no PSCI");
    }

    #[test]
    fn devices_print_as_the_boot_report_names_them() {
        assert_eq!(format!("{}", Conduit::Hvc), "hvc");
        assert_eq!(format!("{}", Conduit::Smc), "smc");
        let uart = Uart { base: 0x900_0000, kind: UartKind::Pl011, path: "/pl011@9000000", options: None };
        assert_eq!(format!("{uart}"), "pl011@0x9000000");
        let other = Uart { kind: UartKind::Other("qcom,msm-uartdm"), ..uart };
        assert_eq!(format!("{other}"), "qcom,msm-uartdm@0x9000000");
        assert_eq!(other.pl011_base(), None);
    }

    #[test]
    fn a_stdout_path_naming_nothing_is_a_warning() {
        for spec in ["serial7", "/nowhere"] {
            let blob = chosen_board(|w| {
                w.prop_str("stdout-path", spec);
            });
            let b = Board::from_fdt(&blob).unwrap();
            assert_eq!(b.chosen.stdout, None);
            assert_eq!(
                b.warnings.as_slice(),
                &[Warning::DeviceIgnored { device: Device::Stdout, problem: DeviceProblem::NotFound }]
            );
        }
    }

    #[test]
    fn initrd_takes_32_or_64_bit_cells() {
        let blob = chosen_board(|w| {
            w.prop_u32("linux,initrd-start", 0x4800_0000).prop_u32("linux,initrd-end", 0x4810_0000);
        });
        let b = Board::from_fdt(&blob).unwrap();
        assert_eq!(b.chosen.initrd, Some(PhysRange { base: 0x4800_0000, size: 0x10_0000 }));
        let blob = chosen_board(|w| {
            w.prop_u64("linux,initrd-start", 0x1_0000_0000).prop_u64("linux,initrd-end", 0x1_0000_1000);
        });
        let b = Board::from_fdt(&blob).unwrap();
        assert_eq!(b.chosen.initrd, Some(PhysRange { base: 0x1_0000_0000, size: 0x1000 }));
    }

    #[test]
    fn a_broken_initrd_is_left_out_with_a_warning() {
        let only_start = chosen_board(|w| {
            w.prop_u32("linux,initrd-start", 0x4800_0000);
        });
        let backwards = chosen_board(|w| {
            w.prop_u32("linux,initrd-start", 2).prop_u32("linux,initrd-end", 1);
        });
        for (blob, problem) in [
            (only_start, DeviceProblem::MissingProperty("linux,initrd-end")),
            (backwards, DeviceProblem::BadProperty("linux,initrd-end")),
        ] {
            let b = Board::from_fdt(&blob).unwrap();
            assert_eq!(b.chosen.initrd, None);
            assert_eq!(b.warnings.as_slice(), &[Warning::DeviceIgnored { device: Device::Initrd, problem }]);
        }
    }

    // ---- numa=clusters -----------------------------------------------------------------

    const MIB: u64 = 1 << 20;

    /// CPUs `0..cpus` (no `numa-node-id`, phandle `0x100 + reg`); a cpu-map whose
    /// `sockets[s][c]` lists the CPU regs of cluster `c` of socket `s` (no socket level
    /// when there is one socket); one memory node with `(base, size)` entries.
    fn clustered(cpus: u32, sockets: &[&[&[u32]]], mem: &[(u64, u64)]) -> Vec<u8> {
        build(|w| {
            w.begin("cpus").prop_u32("#address-cells", 1).prop_u32("#size-cells", 0);
            w.begin("cpu-map");
            for (s, clusters) in sockets.iter().enumerate() {
                if sockets.len() > 1 {
                    w.begin(&std::format!("socket{s}"));
                }
                for (c, regs) in clusters.iter().enumerate() {
                    w.begin(&std::format!("cluster{c}"));
                    for (k, &reg) in regs.iter().enumerate() {
                        leaf(w, &std::format!("core{k}"), 0x100 + reg);
                    }
                    w.end();
                }
                if sockets.len() > 1 {
                    w.end();
                }
            }
            w.end();
            for i in 0..cpus {
                cpu(w, i, None);
            }
            w.end();
            if !mem.is_empty() {
                w.begin("memory@0").prop_str("device_type", "memory");
                let cells: Vec<u32> = mem
                    .iter()
                    .flat_map(|&(b, s)| [(b >> 32) as u32, b as u32, (s >> 32) as u32, s as u32])
                    .collect();
                w.prop_cells("reg", &cells).end();
            }
        })
    }

    fn mem_of(b: &Board<'_>) -> Vec<(u64, u64, u32)> {
        b.memory.iter().map(|m| (m.range.base, m.range.size, m.node.raw())).collect()
    }

    #[test]
    fn the_numa_clusters_word_must_match_as_a_whole_word() {
        assert!(numa_clusters_requested("numa=clusters"));
        assert!(numa_clusters_requested("exit=semihosting\tnuma=clusters  quiet"));
        assert!(!numa_clusters_requested(""));
        assert!(!numa_clusters_requested("xnuma=clusters"));
        assert!(!numa_clusters_requested("numa=clustersx"));
        assert!(!numa_clusters_requested("numa=cluster numa= clusters"));
        assert!(!numa_clusters_requested("NUMA=clusters"));
    }

    #[test]
    fn clusters_become_nodes_and_memory_is_split_evenly_across_ranges() {
        // 512 MiB + 1536 MiB = 2 GiB: node 0 takes the first range and 512 MiB of the
        // second, which is split there; node 1 the remaining 1 GiB.
        let blob = clustered(4, &[&[&[0, 1], &[2, 3]]], &[(GIB, 512 * MIB), (4 * GIB, 1536 * MIB)]);
        let mut b = Board::from_fdt(&blob).unwrap();
        assert_eq!(b.numa_from_clusters(), Ok(NumaFromClusters::Applied { nodes: 2 }));
        assert!(b.warnings.is_empty(), "{:?}", b.warnings);
        assert_eq!(mem_of(&b), [(GIB, 512 * MIB, 0), (4 * GIB, 512 * MIB, 0), (4 * GIB + 512 * MIB, GIB, 1)]);
        let expected = "available: 2 nodes (0-1)\n\
                        node 0 cpus: 0 1\n\
                        node 0 size: 1024 MB\n\
                        node 1 cpus: 2 3\n\
                        node 1 size: 1024 MB\n\
                        node distances:\n\
                        node   0   1 \n  \
                        0:  10  20 \n  \
                        1:  20  10 \n";
        assert_eq!(b.numactl().to_string(), expected);
    }

    #[test]
    fn an_uneven_total_rounds_chunks_down_to_two_mib_and_the_last_node_takes_the_rest() {
        // 1001 MiB / 3 = 333.67 MiB -> chunks of 332 MiB; the last node gets 337 MiB.
        let blob = clustered(3, &[&[&[0], &[1], &[2]]], &[(0, 1001 * MIB)]);
        let mut b = Board::from_fdt(&blob).unwrap();
        assert_eq!(b.numa_from_clusters(), Ok(NumaFromClusters::Applied { nodes: 3 }));
        assert_eq!(mem_of(&b), [(0, 332 * MIB, 0), (332 * MIB, 332 * MIB, 1), (664 * MIB, 337 * MIB, 2)]);
    }

    #[test]
    fn cluster_nodes_are_twenty_apart_in_a_socket_and_thirty_across_sockets() {
        let blob = clustered(4, &[&[&[0], &[1]], &[&[2, 3]]], &[(0, 3 * GIB)]);
        let mut b = Board::from_fdt(&blob).unwrap();
        assert_eq!(b.numa_from_clusters(), Ok(NumaFromClusters::Applied { nodes: 3 }));
        let text = b.numactl().to_string();
        assert!(
            text.ends_with("node   0   1   2 \n  0:  10  20  30 \n  1:  20  10  30 \n  2:  30  30  10 \n"),
            "{text}"
        );
        assert!(text.contains("node 2 cpus: 2 3\nnode 2 size: 1024 MB\n"), "{text}");
    }

    #[test]
    fn numa_node_ids_keep_the_trees_nodes_with_a_warning() {
        let blob = build(two_nodes);
        let mut b = Board::from_fdt(&blob).unwrap();
        let before = b.numactl().to_string();
        let reason = Warning::ClustersIgnoredNumaPresent;
        assert_eq!(b.numa_from_clusters(), Ok(NumaFromClusters::Skipped { reason }));
        assert_eq!(b.numactl().to_string(), before);
        assert_eq!(b.warnings.as_slice(), &[Warning::NoDistanceMap, reason]);
    }

    #[test]
    fn a_board_without_a_cpu_map_stays_one_node_with_a_warning() {
        let blob = build(plain);
        let mut b = Board::from_fdt(&blob).unwrap();
        let reason = Warning::ClustersIgnoredNoCpuMap;
        assert_eq!(b.numa_from_clusters(), Ok(NumaFromClusters::Skipped { reason }));
        assert_eq!(b.node_count(), 1);
        assert_eq!(b.warnings.as_slice(), &[reason]);
    }

    #[test]
    fn a_board_with_one_cluster_stays_one_node_with_a_warning() {
        let blob = clustered(2, &[&[&[0, 1]]], &[(0, GIB)]);
        let mut b = Board::from_fdt(&blob).unwrap();
        let reason = Warning::ClustersIgnoredOneCluster;
        assert_eq!(b.numa_from_clusters(), Ok(NumaFromClusters::Skipped { reason }));
        assert_eq!(mem_of(&b), [(0, GIB, 0)]);
        assert_eq!(b.warnings.as_slice(), &[reason]);
    }

    #[test]
    fn a_cpu_missing_from_the_cpu_map_goes_to_node_zero_with_a_warning() {
        let blob = clustered(3, &[&[&[1], &[2]]], &[(0, GIB)]);
        let mut b = Board::from_fdt(&blob).unwrap();
        assert_eq!(b.numa_from_clusters(), Ok(NumaFromClusters::Applied { nodes: 2 }));
        assert_eq!(
            b.warnings.as_slice(),
            &[Warning::CpuMissingFromCpuMap { cpu: 0 }, Warning::ClustersCpuOnNodeZero { cpu: 0 }]
        );
        assert!(b.numactl().to_string().contains("node 0 cpus: 0 1\n"));
    }

    #[test]
    fn a_cluster_without_an_enabled_cpu_gets_no_node() {
        // cluster1's only leaf names phandle 0x109, no CPU: clusters 0 and 2 become 0, 1.
        let blob = clustered(2, &[&[&[0], &[9], &[1]]], &[(0, GIB)]);
        let mut b = Board::from_fdt(&blob).unwrap();
        assert_eq!(b.cluster_of(1).map(|c| c.id), Some(2));
        assert_eq!(b.numa_from_clusters(), Ok(NumaFromClusters::Applied { nodes: 2 }));
        assert_eq!(b.cpus[1].node, n(1));
        assert_eq!(b.node_set().to_string(), "0-1");
    }

    #[test]
    fn no_memory_gives_every_cluster_node_zero_mb() {
        let blob = clustered(2, &[&[&[0], &[1]]], &[]);
        let mut b = Board::from_fdt(&blob).unwrap();
        assert_eq!(b.numa_from_clusters(), Ok(NumaFromClusters::Applied { nodes: 2 }));
        assert!(b.memory.is_empty());
        let text = b.numactl().to_string();
        assert!(text.contains("node 0 size: 0 MB\nnode 1 cpus: 1\nnode 1 size: 0 MB\n"), "{text}");
    }

    #[test]
    fn overlapping_memory_is_counted_once_when_split() {
        // [0, 2G) and [1G, 3G) overlap: 3 GiB of RAM, 1.5 GiB per node.
        let blob = clustered(2, &[&[&[0], &[1]]], &[(0, 2 * GIB), (GIB, 2 * GIB)]);
        let mut b = Board::from_fdt(&blob).unwrap();
        assert_eq!(b.numa_from_clusters(), Ok(NumaFromClusters::Applied { nodes: 2 }));
        assert_eq!(mem_of(&b), [(0, 1536 * MIB, 0), (1536 * MIB, 512 * MIB, 1), (2 * GIB, GIB, 1)]);
        assert_eq!(b.node_memory_bytes(n(1)), 1536 * MIB);
    }

    #[test]
    fn applying_clusters_twice_changes_nothing_more() {
        let blob = clustered(4, &[&[&[0, 1], &[2, 3]]], &[(GIB, 512 * MIB), (4 * GIB, 1536 * MIB)]);
        let mut b = Board::from_fdt(&blob).unwrap();
        b.numa_from_clusters().unwrap();
        let once = (b.numactl().to_string(), mem_of(&b));
        assert_eq!(b.numa_from_clusters(), Ok(NumaFromClusters::Applied { nodes: 2 }));
        assert_eq!((b.numactl().to_string(), mem_of(&b)), once);
    }

    #[test]
    fn more_clusters_than_nodes_is_an_error_and_leaves_the_board_unchanged() {
        let cpus = MAX_NODES as u32 + 1;
        let singles: Vec<[u32; 1]> = (0..cpus).map(|i| [i]).collect();
        let clusters: Vec<&[u32]> = singles.iter().map(|c| &c[..]).collect();
        let blob = clustered(cpus, &[&clusters], &[(0, GIB)]);
        let mut b = Board::from_fdt(&blob).unwrap();
        let before = b.numactl().to_string();
        let e = b.numa_from_clusters().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NodeIdOutOfRange { id: 64, limit: 64 });
        assert_eq!(e.node_path(), "/cpus/cpu-map");
        assert_eq!(b.numactl().to_string(), before);
        assert!(b.warnings.is_empty());
    }

    #[test]
    fn a_split_needing_too_many_ranges_is_an_error_and_leaves_the_board_unchanged() {
        // 128 ranges of 3 MiB; 3 nodes of 128 MiB cut ranges 42 and 85 in two: 130 pieces.
        let mem: Vec<(u64, u64)> = (0..MAX_MEMORY_RANGES as u64).map(|i| (i * 4 * MIB, 3 * MIB)).collect();
        let blob = clustered(3, &[&[&[0], &[1], &[2]]], &mem);
        let mut b = Board::from_fdt(&blob).unwrap();
        let e = b.numa_from_clusters().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::TooManyMemoryRanges { limit: MAX_MEMORY_RANGES });
        assert_eq!(b.memory.len(), MAX_MEMORY_RANGES);
        assert!(b.memory.iter().all(|m| m.node == NodeId::ZERO));
        assert_eq!(b.node_count(), 1);
    }

    #[test]
    fn cluster_warnings_say_what_was_kept() {
        assert_eq!(
            Warning::ClustersIgnoredNumaPresent.to_string(),
            "numa=clusters ignored: the device tree has numa-node-id; its nodes kept"
        );
        assert_eq!(
            Warning::ClustersIgnoredNoCpuMap.to_string(),
            "numa=clusters ignored: no cpu-map clusters; one node kept"
        );
        assert_eq!(
            Warning::ClustersIgnoredOneCluster.to_string(),
            "numa=clusters ignored: only one cluster; one node kept"
        );
        assert_eq!(
            Warning::ClustersCpuOnNodeZero { cpu: 3 }.to_string(),
            "numa=clusters: CPU 3 is in no cluster: put on node 0"
        );
    }

    #[test]
    fn warnings_beyond_capacity_are_counted() {
        let blob = build(|w| {
            cpus(w, &[(0, None)]);
            w.begin("memory@0").prop_str("device_type", "memory");
            let cells: Vec<u32> = (0..40).flat_map(|i| [0, i, 0, 0]).collect();
            w.prop_cells("reg", &cells).end();
        });
        let b = Board::from_fdt(&blob).unwrap();
        assert_eq!(b.warnings.len(), MAX_WARNINGS);
        assert_eq!(b.dropped_warnings(), 40 - MAX_WARNINGS);
        assert_eq!(b.warnings[0].to_string(), "memory range at 0x0 has size 0: skipped");
    }

    /// A UEFI loader's stub tree: `/chosen` with the RSDP, bootargs and an initrd, one
    /// reservation, one memory node; `/cpus` too when `with_cpus`.
    fn stub_tree(with_cpus: bool) -> Vec<u8> {
        build(|w| {
            w.reserve(0x5c00_0000, 0x1000);
            w.begin("chosen").prop_u64(ACPI_RSDP_PROPERTY, 0x5c43_0018);
            w.prop_str("bootargs", "exit=semihosting");
            w.prop_u64("linux,initrd-start", 0x4800_0000).prop_u64("linux,initrd-end", 0x4800_1000);
            w.end();
            w.begin("memory@40000000").prop_str("device_type", "memory");
            w.prop_cells("reg", &[0, 0x4000_0000, 0, 0x4000_0000]).end();
            if with_cpus {
                w.begin("cpus").prop_u32("#address-cells", 1).prop_u32("#size-cells", 0);
                cpu(w, 0, None);
                w.end();
            }
        })
    }

    #[test]
    fn a_stub_tree_with_an_rsdp_hands_over_to_acpi_and_a_full_tree_does_not() {
        assert_eq!(acpi_rsdp_of(&stub_tree(false)), Some(0x5c43_0018));
        assert_eq!(acpi_rsdp_of(&stub_tree(true)), None, "a tree with /cpus describes the machine");
        assert_eq!(
            acpi_rsdp_of(&build(|w| {
                w.begin("chosen").end();
            })),
            None
        );
        assert_eq!(acpi_rsdp_of(&[0; 64]), None);
    }

    #[test]
    fn the_acpi_handover_takes_chosen_and_reservations_and_memory_only_when_acpi_has_none() {
        let blob = stub_tree(false);
        // As `parse_acpi` leaves a board without an SRAT: no memory, and a warning.
        let mut b = Board::empty();
        b.reset(Firmware::Acpi);
        b.warn(Warning::NoMemory);
        b.parse_acpi_handover(&blob).unwrap();
        assert_eq!(b.firmware(), Firmware::Acpi);
        assert_eq!(b.chosen.bootargs, "exit=semihosting");
        assert_eq!(b.chosen.initrd, Some(PhysRange { base: 0x4800_0000, size: 0x1000 }));
        assert_eq!(b.reserved.as_slice(), &[PhysRange { base: 0x5c00_0000, size: 0x1000 }]);
        let range = PhysRange { base: 0x4000_0000, size: 0x4000_0000 };
        assert_eq!(b.memory.as_slice(), &[MemoryRange { range, node: NodeId::ZERO }]);
        assert!(b.warnings.is_empty(), "{:?}", b.warnings);

        // With memory from an SRAT, the tree's memory nodes are not read.
        let mut b = Board::empty();
        b.reset(Firmware::Acpi);
        let srat = MemoryRange { range: PhysRange { base: 0x4000_0000, size: GIB / 2 }, node: NodeId::ZERO };
        b.memory.push(srat).unwrap();
        b.parse_acpi_handover(&blob).unwrap();
        assert_eq!(b.memory.as_slice(), &[srat]);
        assert_eq!(b.chosen.bootargs, "exit=semihosting");
    }
}
