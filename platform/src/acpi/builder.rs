// SPDX-License-Identifier: MIT OR Apache-2.0
//! A small ACPI table *builder*, for tests only: QEMU-like tables from Rust.
//!
//! The error table of [`crate::acpi`] needs one set of tables per row, each broken in
//! one precise way, and the equivalence tests need the tables QEMU `virt` would build
//! for topologies nobody captured. This writes headers (length and checksum filled
//! in), the structures of the MADT, SRAT, SLIT, PPTT, GTDT, FADT and SPCR the way
//! QEMU 7.2 lays them out (checked against the captures in
//! `tests/fixtures/acpi/`), and an RSDP and XSDT listing them at chosen physical
//! addresses. Like `dtb_writer`, it checks nothing, so tests can also build broken
//! tables; [`Image::refresh_checksums`] makes a mutated image consistent again, so a
//! test (or the fuzzer) can reach the parsers behind the checksums.
//!
//! It uses only `std`, no item of this crate, so integration tests include the same
//! file with `#[path]`.
#![forbid(unsafe_code)]
#![allow(dead_code)] // each test binary uses a different part of it

extern crate std;
use std::vec;
use std::vec::Vec;

/// Where [`layout`] puts the RSDP; the XSDT and the tables follow, 4 KiB apart.
pub const RSDP_ADDRESS: u64 = 0x5c43_0018;
/// Distance between laid-out tables.
pub const TABLE_STRIDE: u64 = 0x1000;

/// One table: a header (filled in by [`TableBuf::finish`]) and its body.
#[derive(Clone, Debug)]
pub struct TableBuf {
    pub signature: [u8; 4],
    pub revision: u8,
    pub body: Vec<u8>,
}

impl TableBuf {
    pub fn new(signature: &[u8; 4], revision: u8) -> TableBuf {
        TableBuf { signature: *signature, revision, body: Vec::new() }
    }

    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.body.push(v);
        self
    }

    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.body.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.body.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.body.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.body.extend_from_slice(v);
        self
    }

    /// Offset in the finished table of the next byte written.
    pub fn offset(&self) -> usize {
        36 + self.body.len()
    }

    /// Header + body, `Length` and `Checksum` right.
    pub fn finish(&self) -> Vec<u8> {
        let mut t = Vec::with_capacity(36 + self.body.len());
        t.extend_from_slice(&self.signature);
        t.extend_from_slice(&((36 + self.body.len()) as u32).to_le_bytes());
        t.push(self.revision);
        t.push(0);
        t.extend_from_slice(b"BOCHS ");
        t.extend_from_slice(b"BXPC    ");
        t.extend_from_slice(&1u32.to_le_bytes());
        t.extend_from_slice(b"BXPC");
        t.extend_from_slice(&1u32.to_le_bytes());
        t.extend_from_slice(&self.body);
        fix_checksum(&mut t);
        t
    }
}

fn sum(b: &[u8]) -> u8 {
    b.iter().fold(0u8, |s, &x| s.wrapping_add(x))
}

/// Sets byte 9 so the table's `Length` bytes (or all of them, if shorter) sum to 0.
pub fn fix_checksum(t: &mut [u8]) {
    if t.len() < 10 {
        return;
    }
    let len = u32::from_le_bytes([t[4], t[5], t[6], t[7]]) as usize;
    let len = len.clamp(10, t.len());
    t[9] = 0;
    t[9] = 0u8.wrapping_sub(sum(&t[..len]));
}

/// Sets both RSDP checksums (bytes 8 and 32).
pub fn fix_rsdp(r: &mut [u8]) {
    if r.len() < 36 {
        return;
    }
    r[8] = 0;
    r[8] = 0u8.wrapping_sub(sum(&r[..20]));
    r[32] = 0;
    r[32] = 0u8.wrapping_sub(sum(&r[..36]));
}

/// An ACPI 2.0+ RSDP naming `xsdt`.
pub fn rsdp(xsdt: u64) -> Vec<u8> {
    let mut r = Vec::new();
    r.extend_from_slice(b"RSD PTR ");
    r.push(0);
    r.extend_from_slice(b"BOCHS ");
    r.push(2);
    r.extend_from_slice(&0u32.to_le_bytes());
    r.extend_from_slice(&36u32.to_le_bytes());
    r.extend_from_slice(&xsdt.to_le_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    fix_rsdp(&mut r);
    r
}

/// Physical memory: regions of bytes at addresses, and where the RSDP is.
#[derive(Clone, Debug)]
pub struct Image {
    pub rsdp: u64,
    pub regions: Vec<(u64, Vec<u8>)>,
}

impl Image {
    /// The region holding the table with `signature`.
    pub fn table_mut(&mut self, signature: &[u8; 4]) -> &mut Vec<u8> {
        let region = self.regions.iter_mut().find(|(_, b)| b.get(..4) == Some(signature.as_slice()));
        &mut region.expect("no such table in the image").1
    }

    /// The region at `address`.
    pub fn region_mut(&mut self, address: u64) -> &mut Vec<u8> {
        &mut self.regions.iter_mut().find(|(a, _)| *a == address).expect("no region there").1
    }

    /// The RSDP's bytes.
    pub fn rsdp_mut(&mut self) -> &mut Vec<u8> {
        let at = self.rsdp;
        self.region_mut(at)
    }

    /// Recomputes every checksum (the RSDP's two, every table's).
    pub fn refresh_checksums(&mut self) {
        for (_, bytes) in self.regions.iter_mut() {
            if bytes.starts_with(b"RSD PTR ") {
                fix_rsdp(bytes);
            } else {
                fix_checksum(bytes);
            }
        }
    }

    /// Replaces the table with `signature` by `table` (finished bytes).
    pub fn replace(&mut self, signature: &[u8; 4], table: Vec<u8>) {
        *self.table_mut(signature) = table;
    }

    /// Drops the table with `signature` from the XSDT (its bytes stay in memory).
    pub fn unlist(&mut self, signature: &[u8; 4]) {
        let address = self.address_of(signature);
        let xsdt = self.table_mut(b"XSDT");
        let mut entries: Vec<u64> =
            xsdt[36..].chunks_exact(8).map(|e| u64::from_le_bytes(e.try_into().unwrap())).collect();
        entries.retain(|&e| e != address);
        xsdt.truncate(36);
        for e in entries {
            xsdt.extend_from_slice(&e.to_le_bytes());
        }
        let len = xsdt.len() as u32;
        xsdt[4..8].copy_from_slice(&len.to_le_bytes());
        fix_checksum(xsdt);
    }

    /// Adds an XSDT entry pointing at `address` (nothing need be there).
    pub fn list(&mut self, address: u64) {
        let xsdt = self.table_mut(b"XSDT");
        xsdt.extend_from_slice(&address.to_le_bytes());
        let len = xsdt.len() as u32;
        xsdt[4..8].copy_from_slice(&len.to_le_bytes());
        fix_checksum(xsdt);
    }

    /// Physical address of the table with `signature`.
    pub fn address_of(&self, signature: &[u8; 4]) -> u64 {
        self.regions.iter().find(|(_, b)| b.get(..4) == Some(signature.as_slice())).expect("no such table").0
    }
}

/// The RSDP at [`RSDP_ADDRESS`], then the XSDT and `tables`, each at the next
/// multiple of [`TABLE_STRIDE`] after the one before.
pub fn layout(tables: &[Vec<u8>]) -> Image {
    let xsdt_address = RSDP_ADDRESS - 0x18 + TABLE_STRIDE;
    let mut xsdt = TableBuf::new(b"XSDT", 1);
    let mut regions = vec![(RSDP_ADDRESS, rsdp(xsdt_address))];
    let mut address = xsdt_address + TABLE_STRIDE;
    for t in tables {
        xsdt.u64(address);
        regions.push((address, t.clone()));
        address += (t.len() as u64).div_ceil(TABLE_STRIDE).max(1) * TABLE_STRIDE;
    }
    regions.insert(1, (xsdt_address, xsdt.finish()));
    Image { rsdp: RSDP_ADDRESS, regions }
}

/// A QEMU `virt` machine, described like its command line.
#[derive(Clone, Debug)]
pub struct Virt {
    /// `-smp`: the number of CPUs.
    pub cpus: usize,
    /// `-smp sockets=,clusters=,cores=,threads=` (their product is `cpus`).
    pub sockets: usize,
    pub clusters: usize,
    pub cores: usize,
    pub threads: usize,
    /// `-numa node`: (CPUs, MiB of memory) per node id; empty: no `-numa`, no SRAT.
    pub nodes: Vec<(Vec<usize>, u64)>,
    /// `-m` in MiB (used when `nodes` is empty).
    pub ram_mib: u64,
    /// `-numa dist`: the full matrix, or `None` (no SLIT).
    pub dist: Option<Vec<Vec<u8>>>,
    /// `virtualization=on`: PSCI over `smc`.
    pub el2: bool,
}

/// Where QEMU `virt` puts RAM.
pub const RAM_BASE: u64 = 0x4000_0000;
/// GIC distributor.
pub const GICD_BASE: u64 = 0x0800_0000;
/// First redistributor region (123 CPUs).
pub const GICR_BASE: u64 = 0x080a_0000;
pub const GICR_SIZE: u64 = 0xf6_0000;
/// Second redistributor region, beyond 123 CPUs.
pub const GICR2_BASE: u64 = 0x40_0000_0000;
pub const GICR2_SIZE: u64 = 0x400_0000;
/// PL011.
pub const UART_BASE: u64 = 0x0900_0000;

impl Virt {
    /// `-smp cpus` on one node without `-numa`.
    pub fn plain(cpus: usize, ram_mib: u64) -> Virt {
        Virt {
            cpus,
            sockets: 1,
            clusters: 1,
            cores: cpus,
            threads: 1,
            nodes: Vec::new(),
            ram_mib,
            dist: None,
            el2: false,
        }
    }

    /// `nodes` nodes of `per_node` CPUs and `mib` MiB each, CPUs numbered in node order.
    pub fn numa(nodes: usize, per_node: usize, mib: u64) -> Virt {
        let mut v = Virt::plain(nodes * per_node, nodes as u64 * mib);
        v.nodes = (0..nodes).map(|n| ((n * per_node..(n + 1) * per_node).collect(), mib)).collect();
        v
    }

    /// QEMU's MPIDR for CPU `i` with GICv3: Aff1 = i / 16, Aff0 = i % 16.
    pub fn mpidr(i: usize) -> u64 {
        (((i / 16) << 8) | (i % 16)) as u64
    }

    /// The node of CPU `i` (QEMU's node id), if `-numa` was given.
    pub fn node_of_cpu(&self, i: usize) -> Option<usize> {
        self.nodes.iter().position(|(cpus, _)| cpus.contains(&i))
    }

    /// `(base, size, node)` of every node's memory, laid out from [`RAM_BASE`].
    pub fn memory(&self) -> Vec<(u64, u64, Option<usize>)> {
        if self.nodes.is_empty() {
            return vec![(RAM_BASE, self.ram_mib << 20, None)];
        }
        let mut base = RAM_BASE;
        let mut out = Vec::new();
        for (n, (_, mib)) in self.nodes.iter().enumerate() {
            if *mib > 0 {
                out.push((base, mib << 20, Some(n)));
                base += mib << 20;
            }
        }
        out
    }

    /// Redistributor regions.
    pub fn redistributors(&self) -> Vec<(u64, u64)> {
        let mut r = vec![(GICR_BASE, GICR_SIZE)];
        if self.cpus > 123 {
            r.push((GICR2_BASE, GICR2_SIZE));
        }
        r
    }

    /// `(socket, cluster, core, thread)` of CPU `i`: QEMU numbers CPUs threads first.
    pub fn place(&self, i: usize) -> (usize, usize, usize, usize) {
        let thread = i % self.threads;
        let core = (i / self.threads) % self.cores;
        let cluster = (i / (self.threads * self.cores)) % self.clusters;
        let socket = i / (self.threads * self.cores * self.clusters);
        (socket, cluster, core, thread)
    }

    pub fn fadt(&self) -> TableBuf {
        let mut t = TableBuf::new(b"FACP", 6);
        t.bytes(&[0; 112 - 36]);
        t.u32(1 << 20); // Flags: HW_REDUCED_ACPI
        t.bytes(&[0; 129 - 116]);
        t.u16(if self.el2 { 1 } else { 3 }); // ARM_BOOT_ARCH: PSCI_COMPLIANT (| PSCI_USE_HVC)
        t.u8(0); // FADT minor version: 6.0
        t.bytes(&[0; 276 - 132]);
        t
    }

    /// A GICC structure (80 bytes, ACPI 6.0) for CPU `i`.
    pub fn gicc(t: &mut TableBuf, uid: u32, mpidr: u64, flags: u32, gicr_base: u64) {
        t.u8(0x0b).u8(80).u16(0);
        t.u32(uid).u32(uid).u32(flags); // CPU interface number, UID, flags
        t.u32(0).u32(23).u64(0); // parking version, PMU GSIV, parked address
        t.u64(0).u64(0).u64(0).u32(0); // GICC, GICV, GICH, VGIC maintenance
        t.u64(gicr_base).u64(mpidr);
        t.u8(0).u8(0).u16(0); // efficiency class, reserved, SPE interrupt
    }

    pub fn madt(&self) -> TableBuf {
        let mut t = TableBuf::new(b"APIC", 4);
        t.u32(0).u32(0);
        t.u8(0x0c).u8(24).u16(0).u32(0).u64(GICD_BASE).u32(0).u8(3).bytes(&[0; 3]);
        for i in 0..self.cpus {
            Virt::gicc(&mut t, i as u32, Virt::mpidr(i), 1, 0);
        }
        for (base, size) in self.redistributors() {
            t.u8(0x0e).u8(16).u16(0).u64(base).u32(size as u32);
        }
        t.u8(0x0f).u8(20).u16(0).u32(0).u64(0x0808_0000).u32(0); // ITS
        t
    }

    /// SRAT as QEMU writes it: GICC affinities in CPU order, then memory by node.
    pub fn srat(&self) -> Option<TableBuf> {
        if self.nodes.is_empty() {
            return None;
        }
        let mut t = TableBuf::new(b"SRAT", 3);
        t.u32(1).u64(0);
        for i in 0..self.cpus {
            let node = self.node_of_cpu(i).unwrap_or(0) as u32;
            srat_gicc(&mut t, node, i as u32, 1);
        }
        for (base, size, node) in self.memory() {
            srat_memory(&mut t, node.unwrap_or(0) as u32, base, size, 1);
        }
        Some(t)
    }

    pub fn slit(&self) -> Option<TableBuf> {
        let dist = self.dist.as_ref()?;
        let mut t = TableBuf::new(b"SLIT", 1);
        t.u64(dist.len() as u64);
        for row in dist {
            t.bytes(row);
        }
        Some(t)
    }

    /// PPTT (revision 2) as QEMU 7.2 writes it: socket (package), cluster, core
    /// (leaf, or parent of thread leaves).
    pub fn pptt(&self) -> TableBuf {
        let mut t = TableBuf::new(b"PPTT", 2);
        let node = |t: &mut TableBuf, flags: u32, parent: usize, id: usize| {
            let at = t.offset();
            t.u8(0).u8(20).u16(0).u32(flags).u32(parent as u32).u32(id as u32).u32(0);
            at
        };
        let mut cpu = 0;
        for s in 0..self.sockets {
            let socket = node(&mut t, 1, 0, s);
            for c in 0..self.clusters {
                let cluster = node(&mut t, 0, socket, c);
                for k in 0..self.cores {
                    if self.threads > 1 {
                        let core = node(&mut t, 0, cluster, k);
                        for _ in 0..self.threads {
                            node(&mut t, 0b1110, core, cpu);
                            cpu += 1;
                        }
                    } else {
                        node(&mut t, 0b1010, cluster, cpu);
                        cpu += 1;
                    }
                }
            }
        }
        t
    }

    pub fn gtdt(&self) -> TableBuf {
        let mut t = TableBuf::new(b"GTDT", 2);
        t.u64(u64::MAX).u32(0);
        t.u32(29).u32(0).u32(30).u32(4).u32(27).u32(0).u32(26).u32(0);
        t.u64(u64::MAX).u32(0).u32(0);
        t
    }

    pub fn spcr(&self) -> TableBuf {
        let mut t = TableBuf::new(b"SPCR", 2);
        t.u8(3).bytes(&[0; 3]); // PL011
        t.u8(0).u8(8).u8(0).u8(1).u64(UART_BASE); // GAS: memory, 8 bits, byte access
        t.u8(8).u8(0).u32(33); // GIC interrupt, GSIV 33
        t.u8(3).u8(0).u8(1).u8(2).u8(0).u8(0); // 9600, no parity, 1 stop, flow, terminal
        t.u16(0xffff).u16(0xffff).u8(0).u8(0).u8(0).u32(0).u8(0).u32(0);
        t
    }

    /// Every table, in QEMU's XSDT order (FADT, MADT, PPTT, GTDT, SPCR, SRAT, SLIT).
    pub fn tables(&self) -> Vec<Vec<u8>> {
        let mut out = vec![self.fadt().finish(), self.madt().finish(), self.pptt().finish()];
        out.push(self.gtdt().finish());
        out.push(self.spcr().finish());
        if let Some(s) = self.srat() {
            out.push(s.finish());
        }
        if let Some(s) = self.slit() {
            out.push(s.finish());
        }
        out
    }

    pub fn image(&self) -> Image {
        layout(&self.tables())
    }
}

/// An SRAT GICC affinity structure.
pub fn srat_gicc(t: &mut TableBuf, domain: u32, uid: u32, flags: u32) {
    t.u8(3).u8(18).u32(domain).u32(uid).u32(flags).u32(0);
}

/// An SRAT memory affinity structure.
pub fn srat_memory(t: &mut TableBuf, domain: u32, base: u64, length: u64, flags: u32) {
    t.u8(1).u8(40).u32(domain).u16(0).u64(base).u64(length).u32(0).u32(flags).u64(0);
}
