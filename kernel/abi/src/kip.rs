// SPDX-License-Identifier: MIT OR Apache-2.0
//! The kernel interface page (KIP): what the kernel tells every program about the
//! machine.
//!
//! The kernel maps one read-only KIP at the same address, [`KIP_ADDRESS`], in every
//! address space. A program reads the machine's shape there without a system call:
//! how many CPUs and NUMA nodes, which node each CPU belongs to, how far apart the
//! nodes are, where memory is and on which node, where the initial RAM disk was put.
//! The per-node pagers decide their NUMA policy from exactly this data, so it is the
//! contract between the kernel's topology discovery (`platform`) and user-level
//! policy.
//!
//! A program gets a `&Kip` by casting the address (the one `unsafe` step, which this
//! crate leaves to the program), then calls [`Kip::validate`] once; the accessors
//! ([`Kip::cpus`], [`Kip::node_of_cpu`], [`Kip::distance`], [`Kip::memory`], ...)
//! check their bounds on every call regardless, so even an unvalidated KIP never
//! makes them index out of range.
//!
//! # Design
//! ```text
//!  offset  size   field
//!       0     4   magic "NL4K"
//!       4     4   abi_version (1)
//!       8     4   kip_size (16384)
//!      12     4   page_size (4096)
//!      16     8   counter_frequency (Hz)
//!      24     4   cpus
//!      28     4   nodes
//!      32  8192   cpu[512]:        mpidr u64, node u16, 6 reserved bytes
//!    8224  4096   distance[64][64]: u8, 10 = local (ACPI SLIT / device-tree units)
//!   12320     4   memory_count
//!   12324     4   reserved
//!   12328  3072   memory[128]:     base u64, size u64, node u16, kind u16, 4 reserved
//!   15400     8   initrd_address (user VA in the root task, read-only; 0 = none)
//!   15408     8   initrd_size
//!   15416     8   syscall_count
//!   15424     8   dtb_address (user VA in the root task, read-only; 0 = none)
//!   15432     8   dtb_size
//!   15440     8   console_pl011 (physical base of the console UART if it is a PL011; 0 = none)
//!   15448     8   console_base (physical base of the console UART, any kind; 0 = none)
//!   15456     4   console_kind ([`ConsoleKind`]: 0 none, 1 PL011, 2 8250/16550, 3 BCM2835 mini-UART)
//!   15460     1   console_reg_shift (8250: register i at i << shift)
//!   15461     1   console_io_width (8250: access width in bytes, 1 or 4)
//!   15462     2   reserved
//!   15464         end (the page is 16 KiB; the rest is 0)
//! ```
//! Only appending changes this layout: a program built for version 1 reads a later
//! KIP correctly, so [`Kip::validate`] accepts any `abi_version >= 1`.
//!
//! # Invariants
//! The struct matches the offsets above and fits in [`KIP_SIZE`]; compile-time
//! assertions fail the build otherwise.
#![forbid(unsafe_code)]

use core::fmt;
use core::mem::{offset_of, size_of};

use crate::syscall::Syscall;
use crate::{ABI_VERSION, MAX_CPUS, MAX_MEMORY_DESCRIPTORS, MAX_NODES, PAGE_SIZE};

/// Where the KIP is mapped in every address space.
pub const KIP_ADDRESS: u64 = 0x0000_0000_0010_0000;
/// The size of the KIP mapping: 16 KiB (four pages).
pub const KIP_SIZE: usize = 16 * 1024;
/// The first four bytes of the KIP.
pub const MAGIC: [u8; 4] = *b"NL4K";
/// The distance of a node to itself (ACPI SLIT and device-tree convention).
pub const LOCAL_DISTANCE: u8 = 10;

/// One CPU: its hardware id and its node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct KipCpu {
    /// MPIDR_EL1 affinity value (Aff3..Aff0), as in the device tree.
    pub mpidr: u64,
    /// The CPU's NUMA node.
    pub node: u16,
    /// Reserved: 0.
    pub reserved: [u8; 6],
}

/// What a memory range is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum MemoryKind {
    /// RAM the frame pools serve (through `MemoryControl`).
    Conventional = 0,
    /// RAM nobody may use (firmware, `/reserved-memory`).
    Reserved = 1,
    /// RAM the kernel image and its boot allocations occupy.
    Kernel = 2,
    /// The initial RAM disk's frames.
    Initrd = 3,
}

impl MemoryKind {
    /// The kind with number `raw`, if it is one.
    pub const fn from_raw(raw: u16) -> Option<MemoryKind> {
        Some(match raw {
            0 => MemoryKind::Conventional,
            1 => MemoryKind::Reserved,
            2 => MemoryKind::Kernel,
            3 => MemoryKind::Initrd,
            _ => return None,
        })
    }
}

/// One range of physical memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct MemoryDescriptor {
    /// Physical base address.
    pub base: u64,
    /// Size in bytes.
    pub size: u64,
    /// The NUMA node the range belongs to.
    pub node: u16,
    /// A [`MemoryKind`] number.
    pub kind: u16,
    /// Reserved: 0.
    pub reserved: [u8; 4],
}

impl MemoryDescriptor {
    /// A descriptor with its reserved bytes zero.
    pub const fn new(base: u64, size: u64, node: u16, kind: MemoryKind) -> MemoryDescriptor {
        MemoryDescriptor { base, size, node, kind: kind as u16, reserved: [0; 4] }
    }

    /// The kind, or `None` for a number this version does not know.
    pub const fn kind(&self) -> Option<MemoryKind> {
        MemoryKind::from_raw(self.kind)
    }

    /// One past the last byte, or `None` if `base + size` overflows.
    pub const fn end(&self) -> Option<u64> {
        self.base.checked_add(self.size)
    }
}

/// The kernel interface page, field for field (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Kip {
    /// [`MAGIC`].
    pub magic: [u8; 4],
    /// The kernel's ABI version, at least [`ABI_VERSION`].
    pub abi_version: u32,
    /// [`KIP_SIZE`].
    pub kip_size: u32,
    /// [`PAGE_SIZE`].
    pub page_size: u32,
    /// The system counter's frequency in Hz (`CNTFRQ_EL0`); `SystemClock` ticks at it.
    pub counter_frequency: u64,
    /// CPUs in [`Kip::cpu`]; CPU indices (in `Schedule`, `ThreadControl`) are
    /// `0..cpus`.
    pub cpus: u32,
    /// NUMA nodes; node numbers are `0..nodes`.
    pub nodes: u32,
    /// Per CPU, by index.
    pub cpu: [KipCpu; MAX_CPUS],
    /// `distance[a][b]`: the relative cost for node `a` to reach node `b`'s memory
    /// ([`LOCAL_DISTANCE`] = local).
    pub distance: [[u8; MAX_NODES]; MAX_NODES],
    /// Descriptors in [`Kip::memory`].
    pub memory_count: u32,
    /// Reserved: 0.
    pub reserved: u32,
    /// Physical memory ranges.
    pub memory: [MemoryDescriptor; MAX_MEMORY_DESCRIPTORS],
    /// Where the initrd is mapped (read-only) in the root task's space; 0 if none.
    pub initrd_address: u64,
    /// The initrd's size in bytes; 0 if none.
    pub initrd_size: u64,
    /// Syscall numbers the kernel implements (`0..syscall_count`).
    pub syscall_count: u64,
    /// Where the device tree the kernel booted with is mapped (read-only) in the root
    /// task's space, so it can tell drivers where their devices are; 0 if none.
    pub dtb_address: u64,
    /// The device tree's size in bytes; 0 if none.
    pub dtb_size: u64,
    /// The physical base of the UART the kernel's console writes to, if it is a PL011
    /// (from the device tree's `stdout-path` or ACPI's SPCR); 0 if none. A user-level
    /// console driver shares it (`pagers/root/src/console.rs`).
    pub console_pl011: u64,
    /// The physical base of the UART the kernel's console writes to, whatever its
    /// kind ([`Kip::console_kind`]); 0 if none. A user-level console driver shares it.
    pub console_base: u64,
    /// A [`ConsoleKind`] number.
    pub console_kind: u32,
    /// For an 8250-family console: register `i` is at `console_base + (i << shift)`.
    pub console_reg_shift: u8,
    /// For an 8250-family console: each access is this many bytes wide (1 or 4).
    pub console_io_width: u8,
    /// Reserved: 0.
    pub console_reserved: [u8; 2],
}

/// What kind of UART the console is ([`Kip::console_kind`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ConsoleKind {
    /// No console.
    None = 0,
    /// Arm PL011.
    Pl011 = 1,
    /// The 8250/16550 family, with [`Kip::console_reg_shift`] and
    /// [`Kip::console_io_width`].
    Ns16550 = 2,
    /// The BCM2835 mini-UART (16550 registers 4 bytes apart, 32 bits wide).
    Bcm2835Aux = 3,
}

impl ConsoleKind {
    /// The name reports give it (as the kernel's `report: board console=`): `none`,
    /// `pl011`, `ns16550`, `bcm2835-aux`.
    pub const fn name(self) -> &'static str {
        match self {
            ConsoleKind::None => "none",
            ConsoleKind::Pl011 => "pl011",
            ConsoleKind::Ns16550 => "ns16550",
            ConsoleKind::Bcm2835Aux => "bcm2835-aux",
        }
    }

    /// The kind with number `raw`, if it is one.
    pub const fn from_raw(raw: u32) -> Option<ConsoleKind> {
        Some(match raw {
            0 => ConsoleKind::None,
            1 => ConsoleKind::Pl011,
            2 => ConsoleKind::Ns16550,
            3 => ConsoleKind::Bcm2835Aux,
            _ => return None,
        })
    }
}

const _: () = {
    assert!(size_of::<KipCpu>() == 16);
    assert!(size_of::<MemoryDescriptor>() == 24);
    assert!(offset_of!(Kip, magic) == 0);
    assert!(offset_of!(Kip, abi_version) == 4);
    assert!(offset_of!(Kip, kip_size) == 8);
    assert!(offset_of!(Kip, page_size) == 12);
    assert!(offset_of!(Kip, counter_frequency) == 16);
    assert!(offset_of!(Kip, cpus) == 24);
    assert!(offset_of!(Kip, nodes) == 28);
    assert!(offset_of!(Kip, cpu) == 32);
    assert!(offset_of!(Kip, distance) == 8224);
    assert!(offset_of!(Kip, memory_count) == 12320);
    assert!(offset_of!(Kip, memory) == 12328);
    assert!(offset_of!(Kip, initrd_address) == 15400);
    assert!(offset_of!(Kip, initrd_size) == 15408);
    assert!(offset_of!(Kip, syscall_count) == 15416);
    assert!(offset_of!(Kip, dtb_address) == 15424);
    assert!(offset_of!(Kip, dtb_size) == 15432);
    assert!(offset_of!(Kip, console_pl011) == 15440);
    assert!(offset_of!(Kip, console_base) == 15448);
    assert!(offset_of!(Kip, console_kind) == 15456);
    assert!(offset_of!(Kip, console_reg_shift) == 15460);
    assert!(offset_of!(Kip, console_io_width) == 15461);
    assert!(size_of::<Kip>() == 15464);
    assert!(size_of::<Kip>() <= KIP_SIZE);
    assert!(KIP_ADDRESS.is_multiple_of(KIP_SIZE as u64));
};

/// What is wrong with a KIP (or with an attempt to fill one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KipError {
    /// The first four bytes are not "NL4K": this is not a KIP.
    BadMagic,
    /// `abi_version` is older than this crate's.
    UnsupportedVersion {
        /// The version found.
        found: u32,
    },
    /// `kip_size` is not [`KIP_SIZE`].
    BadKipSize {
        /// The size found.
        found: u32,
    },
    /// `page_size` is not [`PAGE_SIZE`].
    BadPageSize {
        /// The size found.
        found: u32,
    },
    /// `cpus` is 0 or above [`MAX_CPUS`].
    BadCpuCount {
        /// The count found.
        found: u32,
    },
    /// `nodes` is 0 or above [`MAX_NODES`].
    BadNodeCount {
        /// The count found.
        found: u32,
    },
    /// A CPU's node is not below `nodes`.
    CpuNodeOutOfRange {
        /// The CPU index.
        cpu: usize,
        /// Its node.
        node: u16,
    },
    /// `memory_count` is above [`MAX_MEMORY_DESCRIPTORS`], or a table is full.
    BadMemoryCount {
        /// The count found.
        found: u32,
    },
    /// A memory descriptor's node is not below `nodes`.
    MemoryNodeOutOfRange {
        /// The descriptor's index.
        index: usize,
        /// Its node.
        node: u16,
    },
    /// A memory descriptor's kind is not a [`MemoryKind`].
    UnknownMemoryKind {
        /// The descriptor's index.
        index: usize,
        /// The kind found.
        kind: u16,
    },
    /// A memory descriptor's `base + size` overflows.
    MemoryOverflow {
        /// The descriptor's index.
        index: usize,
    },
    /// A node number handed to [`Kip::set_distance`] is not below `nodes`.
    NodeOutOfRange {
        /// The node.
        node: usize,
    },
    /// `syscall_count` is below this crate's [`Syscall::COUNT`].
    TooFewSyscalls {
        /// The count found.
        found: u64,
    },
}

impl fmt::Display for KipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            KipError::BadMagic => f.write_str("KIP: bad magic"),
            KipError::UnsupportedVersion { found } => write!(f, "KIP: ABI version {found} unsupported"),
            KipError::BadKipSize { found } => write!(f, "KIP: size {found}, expected {KIP_SIZE}"),
            KipError::BadPageSize { found } => write!(f, "KIP: page size {found}, expected {PAGE_SIZE}"),
            KipError::BadCpuCount { found } => write!(f, "KIP: {found} CPUs (1..={MAX_CPUS})"),
            KipError::BadNodeCount { found } => write!(f, "KIP: {found} nodes (1..={MAX_NODES})"),
            KipError::CpuNodeOutOfRange { cpu, node } => {
                write!(f, "KIP: cpu {cpu} on node {node}, out of range")
            }
            KipError::BadMemoryCount { found } => {
                write!(f, "KIP: {found} memory descriptors (at most {MAX_MEMORY_DESCRIPTORS})")
            }
            KipError::MemoryNodeOutOfRange { index, node } => {
                write!(f, "KIP: memory {index} on node {node}, out of range")
            }
            KipError::UnknownMemoryKind { index, kind } => write!(f, "KIP: memory {index} has kind {kind}"),
            KipError::MemoryOverflow { index } => write!(f, "KIP: memory {index} wraps around"),
            KipError::NodeOutOfRange { node } => write!(f, "KIP: node {node} out of range"),
            KipError::TooFewSyscalls { found } => {
                write!(f, "KIP: {found} syscalls, expected {}", Syscall::COUNT)
            }
        }
    }
}

impl Kip {
    /// An all-zero KIP (not valid: no magic). The kernel starts from this, then fills
    /// it with [`Kip::set_header`], [`Kip::add_cpu`], [`Kip::set_distance`],
    /// [`Kip::add_memory`]. The value is 15 KiB: the kernel should fill its KIP frames
    /// in place through `&mut Kip` rather than build one on a small kernel stack.
    pub const fn zeroed() -> Kip {
        Kip {
            magic: [0; 4],
            abi_version: 0,
            kip_size: 0,
            page_size: 0,
            counter_frequency: 0,
            cpus: 0,
            nodes: 0,
            cpu: [KipCpu { mpidr: 0, node: 0, reserved: [0; 6] }; MAX_CPUS],
            distance: [[0; MAX_NODES]; MAX_NODES],
            memory_count: 0,
            reserved: 0,
            memory: [MemoryDescriptor::new(0, 0, 0, MemoryKind::Conventional); MAX_MEMORY_DESCRIPTORS],
            initrd_address: 0,
            initrd_size: 0,
            syscall_count: 0,
            dtb_address: 0,
            dtb_size: 0,
            console_pl011: 0,
            console_base: 0,
            console_kind: 0,
            console_reg_shift: 0,
            console_io_width: 0,
            console_reserved: [0; 2],
        }
    }

    /// Writes the constant fields (magic, versions, sizes, syscall count), the counter
    /// frequency and the node count.
    ///
    /// Errors: [`KipError::BadNodeCount`] for 0 or more than [`MAX_NODES`] nodes.
    pub const fn set_header(&mut self, counter_frequency: u64, nodes: u32) -> Result<(), KipError> {
        if nodes == 0 || nodes as usize > MAX_NODES {
            return Err(KipError::BadNodeCount { found: nodes });
        }
        self.magic = MAGIC;
        self.abi_version = ABI_VERSION;
        self.kip_size = KIP_SIZE as u32;
        self.page_size = PAGE_SIZE as u32;
        self.counter_frequency = counter_frequency;
        self.nodes = nodes;
        self.syscall_count = Syscall::COUNT;
        Ok(())
    }

    /// Appends a CPU; returns its index.
    ///
    /// Errors: [`KipError::BadCpuCount`] if the table is full,
    /// [`KipError::CpuNodeOutOfRange`] if `node` is not below `nodes`.
    pub const fn add_cpu(&mut self, mpidr: u64, node: u16) -> Result<usize, KipError> {
        let cpu = self.cpus as usize;
        if cpu >= MAX_CPUS {
            return Err(KipError::BadCpuCount { found: self.cpus.saturating_add(1) });
        }
        if node as u32 >= self.nodes {
            return Err(KipError::CpuNodeOutOfRange { cpu, node });
        }
        self.cpu[cpu] = KipCpu { mpidr, node, reserved: [0; 6] };
        self.cpus += 1;
        Ok(cpu)
    }

    /// Sets `distance[from][to]`. Errors: [`KipError::NodeOutOfRange`] if either node
    /// is not below `nodes`.
    pub const fn set_distance(&mut self, from: usize, to: usize, distance: u8) -> Result<(), KipError> {
        if from >= self.node_count() {
            return Err(KipError::NodeOutOfRange { node: from });
        }
        if to >= self.node_count() {
            return Err(KipError::NodeOutOfRange { node: to });
        }
        self.distance[from][to] = distance;
        Ok(())
    }

    /// Appends a memory descriptor.
    ///
    /// Errors: [`KipError::BadMemoryCount`] if the table is full,
    /// [`KipError::MemoryNodeOutOfRange`], [`KipError::MemoryOverflow`].
    pub const fn add_memory(&mut self, desc: MemoryDescriptor) -> Result<(), KipError> {
        let index = self.memory_count as usize;
        if index >= MAX_MEMORY_DESCRIPTORS {
            return Err(KipError::BadMemoryCount { found: self.memory_count.saturating_add(1) });
        }
        if desc.node as u32 >= self.nodes {
            return Err(KipError::MemoryNodeOutOfRange { index, node: desc.node });
        }
        if desc.end().is_none() {
            return Err(KipError::MemoryOverflow { index });
        }
        self.memory[index] = desc;
        self.memory_count += 1;
        Ok(())
    }

    /// Checks everything a program relies on: the magic, the version, the sizes, the
    /// counts, and that every CPU and memory range is on an existing node.
    pub fn validate(&self) -> Result<(), KipError> {
        if self.magic != MAGIC {
            return Err(KipError::BadMagic);
        }
        if self.abi_version < ABI_VERSION {
            return Err(KipError::UnsupportedVersion { found: self.abi_version });
        }
        if self.kip_size as usize != KIP_SIZE {
            return Err(KipError::BadKipSize { found: self.kip_size });
        }
        if self.page_size as u64 != PAGE_SIZE {
            return Err(KipError::BadPageSize { found: self.page_size });
        }
        if self.cpus == 0 || self.cpus as usize > MAX_CPUS {
            return Err(KipError::BadCpuCount { found: self.cpus });
        }
        if self.nodes == 0 || self.nodes as usize > MAX_NODES {
            return Err(KipError::BadNodeCount { found: self.nodes });
        }
        if self.memory_count as usize > MAX_MEMORY_DESCRIPTORS {
            return Err(KipError::BadMemoryCount { found: self.memory_count });
        }
        if self.syscall_count < Syscall::COUNT {
            return Err(KipError::TooFewSyscalls { found: self.syscall_count });
        }
        for (cpu, c) in self.cpus().iter().enumerate() {
            if c.node as u32 >= self.nodes {
                return Err(KipError::CpuNodeOutOfRange { cpu, node: c.node });
            }
        }
        for (index, m) in self.memory().enumerate() {
            if m.node as u32 >= self.nodes {
                return Err(KipError::MemoryNodeOutOfRange { index, node: m.node });
            }
            if m.kind().is_none() {
                return Err(KipError::UnknownMemoryKind { index, kind: m.kind });
            }
            if m.end().is_none() {
                return Err(KipError::MemoryOverflow { index });
            }
        }
        Ok(())
    }

    /// CPUs described (`cpus`, capped at [`MAX_CPUS`]).
    pub const fn cpu_count(&self) -> usize {
        let n = self.cpus as usize;
        if n < MAX_CPUS { n } else { MAX_CPUS }
    }

    /// Nodes described (`nodes`, capped at [`MAX_NODES`]).
    pub const fn node_count(&self) -> usize {
        let n = self.nodes as usize;
        if n < MAX_NODES { n } else { MAX_NODES }
    }

    /// The CPU table, `cpu_count()` entries.
    pub fn cpus(&self) -> &[KipCpu] {
        &self.cpu[..self.cpu_count()]
    }

    /// The node of CPU `cpu`, or `None` if there is no such CPU.
    pub fn node_of_cpu(&self, cpu: usize) -> Option<u16> {
        self.cpus().get(cpu).map(|c| c.node)
    }

    /// The MPIDR of CPU `cpu`, or `None` if there is no such CPU.
    pub fn mpidr_of_cpu(&self, cpu: usize) -> Option<u64> {
        self.cpus().get(cpu).map(|c| c.mpidr)
    }

    /// The indices of the CPUs on `node`.
    pub fn cpus_of_node(&self, node: u16) -> impl Iterator<Item = usize> + '_ {
        self.cpus().iter().enumerate().filter(move |(_, c)| c.node == node).map(|(i, _)| i)
    }

    /// The distance from node `from` to node `to`, or `None` if either is not a node.
    pub fn distance(&self, from: usize, to: usize) -> Option<u8> {
        if from >= self.node_count() || to >= self.node_count() {
            return None;
        }
        Some(self.distance[from][to])
    }

    /// The memory descriptors (`memory_count`, capped at [`MAX_MEMORY_DESCRIPTORS`]).
    pub fn memory(&self) -> impl Iterator<Item = &MemoryDescriptor> + '_ {
        let n = (self.memory_count as usize).min(MAX_MEMORY_DESCRIPTORS);
        self.memory[..n].iter()
    }

    /// The device tree's user address and size (in the root task's space), or `None`.
    pub const fn dtb(&self) -> Option<(u64, u64)> {
        if self.dtb_size == 0 {
            return None;
        }
        Some((self.dtb_address, self.dtb_size))
    }

    /// The initrd's user address and size, or `None` if there is none.
    pub const fn initrd(&self) -> Option<(u64, u64)> {
        if self.initrd_size == 0 {
            return None;
        }
        Some((self.initrd_address, self.initrd_size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two nodes, two CPUs each, a reserved range, conventional memory on each node.
    fn two_nodes() -> Box<Kip> {
        let mut kip = Box::new(Kip::zeroed());
        kip.set_header(62_500_000, 2).unwrap();
        for (mpidr, node) in [(0x0, 0), (0x1, 0), (0x100, 1), (0x101, 1)] {
            kip.add_cpu(mpidr, node).unwrap();
        }
        for (a, b, d) in [(0, 0, 10), (0, 1, 20), (1, 0, 20), (1, 1, 10)] {
            kip.set_distance(a, b, d).unwrap();
        }
        kip.add_memory(MemoryDescriptor::new(0x4000_0000, 0x20_0000, 0, MemoryKind::Kernel)).unwrap();
        kip.add_memory(MemoryDescriptor::new(0x4020_0000, 0x1FE0_0000, 0, MemoryKind::Conventional)).unwrap();
        kip.add_memory(MemoryDescriptor::new(0x6000_0000, 0x2000_0000, 1, MemoryKind::Conventional)).unwrap();
        kip.initrd_address = 0x4000_0000;
        kip.initrd_size = 0x1_0000;
        kip
    }

    #[test]
    fn the_kip_fits_its_16_kib_and_sits_at_the_briefs_address() {
        assert!(size_of::<Kip>() <= KIP_SIZE);
        assert_eq!(KIP_SIZE, 16384);
        assert_eq!(KIP_ADDRESS, 0x10_0000);
        assert_eq!(&MAGIC, b"NL4K");
        assert_eq!(ABI_VERSION, 1);
        assert_eq!((MAX_CPUS, MAX_NODES, MAX_MEMORY_DESCRIPTORS), (512, 64, 128));
    }

    #[test]
    fn memory_kinds_are_the_briefs_numbers() {
        for (n, kind) in [
            (0, MemoryKind::Conventional),
            (1, MemoryKind::Reserved),
            (2, MemoryKind::Kernel),
            (3, MemoryKind::Initrd),
        ] {
            assert_eq!(kind as u16, n);
            assert_eq!(MemoryKind::from_raw(n), Some(kind));
        }
        assert_eq!(MemoryKind::from_raw(4), None);
    }

    #[test]
    fn a_filled_kip_validates_and_answers_its_accessors() {
        let kip = two_nodes();
        assert_eq!(kip.validate(), Ok(()));
        assert_eq!(&kip.magic, b"NL4K");
        assert_eq!((kip.abi_version, kip.kip_size, kip.page_size), (1, 16384, 4096));
        assert_eq!(kip.syscall_count, 15);
        assert_eq!(kip.cpus().len(), 4);
        assert_eq!(kip.node_of_cpu(2), Some(1));
        assert_eq!(kip.mpidr_of_cpu(3), Some(0x101));
        assert_eq!(kip.cpus_of_node(1).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(kip.distance(0, 1), Some(20));
        assert_eq!(kip.distance(1, 1), Some(LOCAL_DISTANCE));
        let conventional: u64 =
            kip.memory().filter(|m| m.kind() == Some(MemoryKind::Conventional)).map(|m| m.size).sum();
        assert_eq!(conventional, 0x1FE0_0000 + 0x2000_0000);
        assert_eq!(kip.initrd(), Some((0x4000_0000, 0x1_0000)));
    }

    #[test]
    fn accessors_refuse_indices_past_the_counts() {
        let kip = two_nodes();
        assert_eq!(kip.node_of_cpu(4), None);
        assert_eq!(kip.node_of_cpu(usize::MAX), None);
        assert_eq!(kip.distance(2, 0), None);
        assert_eq!(kip.distance(0, 64), None);
        // An unvalidated KIP with absurd counts is still read within the tables.
        let mut bad = Kip::zeroed();
        bad.cpus = u32::MAX;
        bad.nodes = u32::MAX;
        bad.memory_count = u32::MAX;
        assert_eq!(bad.cpus().len(), MAX_CPUS);
        assert_eq!(bad.memory().count(), MAX_MEMORY_DESCRIPTORS);
        assert_eq!(bad.distance(63, 63), Some(0));
        assert_eq!(bad.distance(64, 0), None);
        assert_eq!(Kip::zeroed().initrd(), None);
    }

    #[test]
    fn validation_names_what_is_wrong() {
        let check = |f: &dyn Fn(&mut Kip)| {
            let mut kip = two_nodes();
            f(&mut kip);
            kip.validate()
        };
        assert_eq!(check(&|k| k.magic = *b"L4K\0"), Err(KipError::BadMagic));
        assert_eq!(check(&|k| k.abi_version = 0), Err(KipError::UnsupportedVersion { found: 0 }));
        assert_eq!(check(&|k| k.abi_version = 2), Ok(()), "later versions only append");
        assert_eq!(check(&|k| k.kip_size = 4096), Err(KipError::BadKipSize { found: 4096 }));
        assert_eq!(check(&|k| k.page_size = 65536), Err(KipError::BadPageSize { found: 65536 }));
        assert_eq!(check(&|k| k.cpus = 0), Err(KipError::BadCpuCount { found: 0 }));
        assert_eq!(check(&|k| k.cpus = 513), Err(KipError::BadCpuCount { found: 513 }));
        assert_eq!(check(&|k| k.nodes = 0), Err(KipError::BadNodeCount { found: 0 }));
        assert_eq!(check(&|k| k.nodes = 65), Err(KipError::BadNodeCount { found: 65 }));
        assert_eq!(check(&|k| k.cpu[1].node = 2), Err(KipError::CpuNodeOutOfRange { cpu: 1, node: 2 }));
        assert_eq!(check(&|k| k.memory_count = 129), Err(KipError::BadMemoryCount { found: 129 }));
        assert_eq!(
            check(&|k| k.memory[2].node = 5),
            Err(KipError::MemoryNodeOutOfRange { index: 2, node: 5 })
        );
        assert_eq!(check(&|k| k.memory[0].kind = 9), Err(KipError::UnknownMemoryKind { index: 0, kind: 9 }));
        assert_eq!(check(&|k| k.memory[1].size = u64::MAX), Err(KipError::MemoryOverflow { index: 1 }));
        assert_eq!(check(&|k| k.syscall_count = 12), Err(KipError::TooFewSyscalls { found: 12 }));
        assert_eq!(Kip::zeroed().validate(), Err(KipError::BadMagic));
    }

    #[test]
    fn filling_refuses_nodes_that_do_not_exist_and_full_tables() {
        let mut kip = Kip::zeroed();
        assert_eq!(kip.set_header(1, 0), Err(KipError::BadNodeCount { found: 0 }));
        assert_eq!(kip.set_header(1, 65), Err(KipError::BadNodeCount { found: 65 }));
        kip.set_header(1, 1).unwrap();
        assert_eq!(kip.add_cpu(0, 1), Err(KipError::CpuNodeOutOfRange { cpu: 0, node: 1 }));
        for i in 0..MAX_CPUS {
            assert_eq!(kip.add_cpu(i as u64, 0), Ok(i));
        }
        assert_eq!(kip.add_cpu(0, 0), Err(KipError::BadCpuCount { found: 513 }));
        assert_eq!(kip.set_distance(0, 1, 20), Err(KipError::NodeOutOfRange { node: 1 }));
        let m = MemoryDescriptor::new(0, 4096, 0, MemoryKind::Conventional);
        assert_eq!(
            kip.add_memory(MemoryDescriptor { node: 1, ..m }),
            Err(KipError::MemoryNodeOutOfRange { index: 0, node: 1 })
        );
        assert_eq!(
            kip.add_memory(MemoryDescriptor::new(u64::MAX, 2, 0, MemoryKind::Reserved)),
            Err(KipError::MemoryOverflow { index: 0 })
        );
        for _ in 0..MAX_MEMORY_DESCRIPTORS {
            kip.add_memory(m).unwrap();
        }
        assert_eq!(kip.add_memory(m), Err(KipError::BadMemoryCount { found: 129 }));
        kip.set_distance(0, 0, 10).unwrap();
        assert_eq!(kip.validate(), Ok(()));
    }
}
