// SPDX-License-Identifier: MIT OR Apache-2.0
//! The board from ACPI tables: [`Board::from_acpi`], the counterpart of
//! [`Board::from_fdt`].
//!
//! This is where the tables meet: the MADT gives the CPUs and the GIC, the SRAT puts
//! CPUs (by ACPI processor UID) and memory into proximity domains, the SLIT gives the
//! distances, the PPTT the packaging, the GTDT the timer, the FADT PSCI, the SPCR the
//! console. The order of the passes and the rules for what is fatal are in
//! [`crate::acpi`]'s module docs; this file carries them out.
#![forbid(unsafe_code)]

use crate::acpi::error::{AcpiError, AcpiErrorKind, AcpiWarning, Signature};
use crate::acpi::madt::{Entry, Madt};
use crate::acpi::pptt::Pptt;
use crate::acpi::slit::Slit;
use crate::acpi::srat::{Affinity, Srat};
use crate::acpi::table::{AcpiMemory, Tables, find_one};
use crate::acpi::{fadt, gtdt, spcr};
use crate::board::{
    Board, Cpu, EnableMethod, Firmware, Gic, MPIDR_AFFINITY_MASK, MemoryRange, PhysRange, Uart, Warning,
};
use crate::cpumap::CpuTopology;
use crate::error::ErrorKind;
use crate::fixed::FixedVec;
use crate::gicv3::{GICD_SIZE, GICR_FRAME_SIZE_V3, GICR_FRAME_SIZE_V4};
use crate::numa::{NodeId, NodeSet};
use crate::{MAX_CPUS, MAX_MEMORY_RANGES, MAX_NODES};

/// The GICv2 distributor's architected size.
const GICV2_DIST_SIZE: u64 = 0x1000;
/// The GICv2 CPU interface's architected size.
const GICV2_CPU_SIZE: u64 = 0x2000;

/// Proximity domains with CPUs or memory, ascending: node `k` is `domains[k]`.
type Domains = FixedVec<u32, MAX_NODES>;
/// ACPI processor UIDs of the enabled CPUs: `uids[i]` is logical CPU `i`'s.
type Uids = FixedVec<u32, MAX_CPUS>;

/// One bit per logical CPU.
#[derive(Default)]
struct CpuBits([u64; MAX_CPUS.div_ceil(64)]);

impl CpuBits {
    fn get(&self, cpu: usize) -> bool {
        self.0.get(cpu / 64).is_some_and(|w| w & (1 << (cpu % 64)) != 0)
    }

    fn set(&mut self, cpu: usize) {
        if let Some(w) = self.0.get_mut(cpu / 64) {
            *w |= 1 << (cpu % 64);
        }
    }
}

fn board_error(table: Signature, offset: usize, kind: ErrorKind) -> AcpiError {
    AcpiError::at(table, offset, AcpiErrorKind::Board(kind))
}

/// The console the SPCR names, for when [`Board::from_acpi`] refused the tables: the
/// kernel still wants to print why. Needs a sound RSDP, XSDT and SPCR, nothing else.
pub fn console<M: AcpiMemory + ?Sized>(rsdp: u64, mem: &M) -> Option<Uart<'static>> {
    let table = find_one(mem, rsdp, Signature::SPCR)?;
    spcr::console(table, &mut |_| {}).ok()?
}

impl<'a> Board<'a> {
    /// Reads the board from the ACPI tables whose RSDP is at physical address `rsdp`,
    /// through `mem`.
    ///
    /// Never panics, whatever the memory holds. The errors and fallbacks are listed in
    /// [`crate::acpi`]; every fallback taken is in [`Board::warnings`].
    pub fn from_acpi<M: AcpiMemory + ?Sized>(rsdp: u64, mem: &M) -> Result<Board<'a>, AcpiError> {
        let mut board = Board::empty();
        board.parse_acpi(rsdp, mem)?;
        Ok(board)
    }

    /// Reads the ACPI tables into this board, replacing whatever it held:
    /// [`Board::from_acpi`] without the move (a `Board` is tens of KiB). On error the
    /// board is left partly filled and must not be used.
    pub fn parse_acpi<M: AcpiMemory + ?Sized>(&mut self, rsdp: u64, mem: &M) -> Result<(), AcpiError> {
        self.reset(Firmware::Acpi);
        let tables = Tables::find(mem, rsdp, &mut self.sink())?;
        let madt = tables.madt.ok_or(AcpiError::new(Signature::MADT, AcpiErrorKind::MissingTable))?;
        let madt = Madt::new(madt, &mut self.sink())?;
        let mut uids = Uids::new();
        self.read_madt_cpus(&madt, &mut uids)?;
        self.read_madt_gic(&madt)?;

        let domains = match tables.srat {
            Some(table) => {
                let srat = Srat::new(table, &mut self.sink())?;
                Some(self.read_srat(&srat, &madt, &uids)?)
            }
            None => {
                self.warn(Warning::Acpi(AcpiWarning::TableMissing(Signature::SRAT)));
                self.warn(Warning::NoMemory);
                let mut nodes = NodeSet::EMPTY;
                nodes.insert(NodeId::ZERO);
                self.set_acpi_nodes(nodes, false);
                None
            }
        };
        match (tables.slit, &domains) {
            (Some(table), Some(domains)) => {
                let slit = Slit::new(table, &mut self.sink())?;
                self.read_slit(&slit, domains)?;
            }
            (Some(table), None) => {
                let slit = Slit::new(table, &mut self.sink())?;
                self.warn(Warning::Acpi(AcpiWarning::SlitExtraLocalities { count: slit.localities() }));
            }
            (None, Some(domains)) if domains.len() > 1 => self.warn(Warning::NoDistanceMap),
            (None, _) => {}
        }

        match tables.pptt {
            Some(table) => {
                let pptt = Pptt::new(table, &mut self.sink())?;
                self.read_pptt(&pptt, &madt, &uids)?;
            }
            None => self.warn(Warning::Acpi(AcpiWarning::TableMissing(Signature::PPTT))),
        }
        match tables.gtdt {
            Some(table) => {
                let timer = gtdt::timer(table, &mut self.sink())?;
                self.timer = Some(timer);
            }
            None => self.warn(Warning::Acpi(AcpiWarning::TableMissing(Signature::GTDT))),
        }
        match tables.fadt {
            Some(table) => {
                let psci = fadt::psci(table, &mut self.sink())?;
                self.psci = psci;
            }
            None => self.warn(Warning::Acpi(AcpiWarning::TableMissing(Signature::FADT))),
        }
        if self.psci.is_some() {
            for cpu in self.cpus.as_mut_slice() {
                cpu.enable_method = EnableMethod::Psci;
            }
        }
        match tables.spcr {
            Some(table) => {
                let console = spcr::console(table, &mut self.sink())?;
                self.chosen.stdout = console;
            }
            None => self.warn(Warning::Acpi(AcpiWarning::TableMissing(Signature::SPCR))),
        }
        Ok(())
    }

    /// Where the table parsers put their warnings.
    fn sink(&mut self) -> impl FnMut(AcpiWarning) + '_ {
        move |w| self.warn(Warning::Acpi(w))
    }

    /// The enabled GICCs become the CPUs, in MADT order.
    fn read_madt_cpus(&mut self, madt: &Madt<'_>, uids: &mut Uids) -> Result<(), AcpiError> {
        let sig = Signature::MADT;
        for entry in madt.entries() {
            let Entry::Gicc(g) = entry? else { continue };
            if !g.enabled {
                continue;
            }
            let mpidr = g.mpidr;
            if mpidr & !MPIDR_AFFINITY_MASK != 0 {
                return Err(board_error(sig, g.offset, ErrorKind::InvalidMpidr { mpidr }));
            }
            if self.cpus.iter().any(|c| c.mpidr == mpidr) {
                return Err(board_error(sig, g.offset, ErrorKind::DuplicateMpidr { mpidr }));
            }
            if uids.contains(&g.uid) {
                return Err(AcpiError::at(sig, g.offset, AcpiErrorKind::DuplicateUid { uid: g.uid }));
            }
            let cpu = Cpu { mpidr, ..Cpu::EMPTY };
            self.cpus
                .push(cpu)
                .map_err(|_| board_error(sig, g.offset, ErrorKind::TooManyCpus { limit: MAX_CPUS }))?;
            // Cannot fail: `uids` has the capacity of `cpus`.
            let _ = uids.push(g.uid);
        }
        if self.cpus.is_empty() {
            return Err(AcpiError::new(sig, AcpiErrorKind::NoCpus));
        }
        Ok(())
    }

    /// The GIC: the distributor and its version, then the redistributor regions (GICR
    /// structures, else one frame per GICC, merged where adjacent).
    fn read_madt_gic(&mut self, madt: &Madt<'_>) -> Result<(), AcpiError> {
        let mut gicd = None;
        let mut regions = FixedVec::new();
        let mut too_many = false;
        for entry in madt.entries() {
            match entry? {
                Entry::Gicd { offset, base, version } => {
                    if gicd.is_some() {
                        return Err(AcpiError::at(Signature::MADT, offset, AcpiErrorKind::DuplicateGicd));
                    }
                    gicd = Some((base, version));
                }
                Entry::Gicr { base, length } => {
                    too_many |= regions.push(PhysRange { base, size: u64::from(length) }).is_err();
                }
                _ => {}
            }
        }
        let Some((base, version)) = gicd else {
            self.warn(Warning::Acpi(AcpiWarning::NoGicd));
            return Ok(());
        };
        let v3 = match version {
            1 | 2 => false,
            3 | 4 => true,
            // "Unspecified": GICv3 if anything describes redistributors.
            0 => !regions.is_empty() || madt.giccs().any(|g| g.gicr_base != 0),
            version => {
                self.warn(Warning::Acpi(AcpiWarning::UnknownGicVersion { version }));
                return Ok(());
            }
        };
        if !v3 {
            let cpu_interface = madt.giccs().find(|g| g.enabled).map_or(0, |g| g.cpu_interface_base);
            self.gic = Some(Gic::V2 {
                distributor: PhysRange { base, size: GICV2_DIST_SIZE },
                cpu_interface: PhysRange { base: cpu_interface, size: GICV2_CPU_SIZE },
            });
            return Ok(());
        }
        if regions.is_empty() && !too_many {
            let frame = if version == 4 { GICR_FRAME_SIZE_V4 } else { GICR_FRAME_SIZE_V3 } as u64;
            match per_cpu_redistributors(madt, frame) {
                Some(r) => regions = r,
                None => too_many = true,
            }
        }
        if too_many || regions.is_empty() {
            self.warn(Warning::Acpi(AcpiWarning::NoRedistributors));
            return Ok(());
        }
        let distributor = PhysRange { base, size: GICD_SIZE as u64 };
        self.gic = Some(Gic::V3 { distributor, redistributors: regions });
        Ok(())
    }

    /// Nodes and memory from the SRAT; returns the domains (node `k` is `domains[k]`).
    fn read_srat(&mut self, srat: &Srat<'_>, madt: &Madt<'_>, uids: &Uids) -> Result<Domains, AcpiError> {
        let sig = Signature::SRAT;
        // Pass 1: the domains with an enabled CPU or present memory, sorted.
        let mut domains = Domains::new();
        for affinity in srat.entries() {
            let domain = match affinity? {
                Affinity::Cpu { uid, domain } if uids.contains(&uid) => domain,
                Affinity::Memory { length, domain, hotplug: false, .. } if length > 0 => domain,
                _ => continue,
            };
            if !domains.contains(&domain) {
                domains
                    .push(domain)
                    .map_err(|_| AcpiError::new(sig, AcpiErrorKind::TooManyDomains { limit: MAX_NODES }))?;
            }
        }
        domains.as_mut_slice().sort_unstable();
        let node_of = |domain: u32| {
            let k = domains.iter().position(|&d| d == domain)?;
            NodeId::new(k as u32)
        };

        // Pass 2: place CPUs and memory.
        let mut placed = CpuBits::default();
        for affinity in srat.entries() {
            match affinity? {
                Affinity::Cpu { uid, domain } => {
                    let Some(cpu) = uids.iter().position(|&u| u == uid) else {
                        if !madt.has_uid(uid) {
                            self.warn(Warning::Acpi(AcpiWarning::AffinityForUnknownCpu { uid }));
                        }
                        continue;
                    };
                    // Pass 1 gave every enabled CPU's domain a node.
                    let node = node_of(domain).unwrap_or(NodeId::ZERO);
                    let Some(slot) = self.cpus.as_mut_slice().get_mut(cpu) else { continue };
                    if placed.get(cpu) && slot.node != node {
                        let first = domains.get(slot.node.index()).copied().unwrap_or(0);
                        let kind = AcpiErrorKind::ConflictingAffinity { uid, first, second: domain };
                        return Err(AcpiError::new(sig, kind));
                    }
                    slot.node = node;
                    placed.set(cpu);
                }
                Affinity::Memory { offset, base, length, domain, hotplug } => {
                    if hotplug {
                        self.warn(Warning::Acpi(AcpiWarning::HotplugMemorySkipped { base, domain }));
                        continue;
                    }
                    // Only an empty range's domain can lack a node.
                    let Some(node) = node_of(domain) else {
                        return Err(AcpiError::at(sig, offset, AcpiErrorKind::EmptyDomain { domain }));
                    };
                    if length == 0 {
                        self.warn(Warning::EmptyMemoryRange { base });
                        continue;
                    }
                    if base.checked_add(length).is_none() {
                        return Err(board_error(
                            sig,
                            offset,
                            ErrorKind::RangeOverflow { base, size: length },
                        ));
                    }
                    let range = PhysRange { base, size: length };
                    self.add_acpi_memory(MemoryRange { range, node }, offset)?;
                }
                Affinity::Other => {}
            }
        }
        for (cpu, &uid) in uids.iter().enumerate() {
            if !placed.get(cpu) {
                return Err(AcpiError::new(sig, AcpiErrorKind::CpuWithoutAffinity { uid }));
            }
        }
        self.memory.as_mut_slice().sort_unstable_by_key(|m| (m.range.base, m.range.size));
        let mut nodes = NodeSet::EMPTY;
        for k in 0..domains.len() {
            if let Some(n) = NodeId::new(k as u32) {
                nodes.insert(n);
            }
        }
        self.set_acpi_nodes(nodes, true);
        Ok(domains)
    }

    /// Adds a memory range; ranges of different nodes must not overlap (as in
    /// [`Board::from_fdt`]).
    fn add_acpi_memory(&mut self, new: MemoryRange, offset: usize) -> Result<(), AcpiError> {
        let sig = Signature::SRAT;
        let mut same_node_overlap = None;
        for old in self.memory.iter().filter(|old| old.range.overlaps(&new.range)) {
            if old.node != new.node {
                let kind = ErrorKind::MemoryOverlap {
                    base_a: old.range.base,
                    node_a: old.node,
                    base_b: new.range.base,
                    node_b: new.node,
                };
                return Err(board_error(sig, offset, kind));
            }
            same_node_overlap = Some(old.range.base);
        }
        if let Some(base_a) = same_node_overlap {
            self.warn(Warning::MemoryOverlapSameNode { node: new.node, base_a, base_b: new.range.base });
        }
        self.memory.push(new).map_err(|_| {
            board_error(sig, offset, ErrorKind::TooManyMemoryRanges { limit: MAX_MEMORY_RANGES })
        })
    }

    /// Distances between the SRAT's domains, from the SLIT.
    fn read_slit(&mut self, slit: &Slit<'_>, domains: &Domains) -> Result<(), AcpiError> {
        let localities = slit.localities();
        for &domain in domains.iter() {
            if u64::from(domain) >= localities {
                let kind = AcpiErrorKind::DomainNotInSlit { domain, localities };
                return Err(AcpiError::new(Signature::SLIT, kind));
            }
        }
        // Every domain is a distinct locality, so this does not underflow.
        let extra = localities - domains.len() as u64;
        if extra > 0 {
            self.warn(Warning::Acpi(AcpiWarning::SlitExtraLocalities { count: extra }));
        }
        let table = self.slit_distances();
        for (row, &from) in table.iter_mut().zip(domains.iter()) {
            for (cell, &to) in row.iter_mut().zip(domains.iter()) {
                *cell = slit.distance(from, to).unwrap_or(0);
            }
        }
        for a in (0..domains.len() as u32).filter_map(NodeId::new) {
            for b in (0..domains.len() as u32).filter_map(NodeId::new) {
                if self.distance(a, b) == u8::MAX {
                    self.warn(Warning::Acpi(AcpiWarning::Unreachable { from: a, to: b }));
                }
            }
        }
        Ok(())
    }

    /// Sockets, clusters, cores and threads from the PPTT's leaves.
    fn read_pptt(&mut self, pptt: &Pptt<'_>, madt: &Madt<'_>, uids: &Uids) -> Result<(), AcpiError> {
        // (socket key, cluster key) per CPU, ranked board-wide below.
        let mut keys: FixedVec<(u32, u32), MAX_CPUS> = FixedVec::new();
        for _ in 0..self.cpus.len() {
            let _ = keys.push((0, 0));
        }
        let mut seen = CpuBits::default();
        for node in pptt.nodes() {
            let Some(id) = node.processor_id() else { continue };
            if !pptt.is_leaf(&node) {
                continue;
            }
            let Some(cpu) = uids.iter().position(|&u| u == id) else {
                if !madt.has_uid(id) {
                    self.warn(Warning::Acpi(AcpiWarning::PpttUnknownProcessor { uid: id }));
                }
                continue;
            };
            if seen.get(cpu) {
                self.warn(Warning::Acpi(AcpiWarning::PpttDuplicate { cpu }));
                continue;
            }
            seen.set(cpu);
            let place = pptt.place(node)?;
            if let Some(k) = keys.as_mut_slice().get_mut(cpu) {
                *k = (place.socket_key, place.cluster_key);
            }
            if let Some(c) = self.cpus.as_mut_slice().get_mut(cpu) {
                c.topo =
                    CpuTopology { socket: None, cluster: None, core: Some(place.core), thread: place.thread };
            }
        }
        // Sockets, then clusters, numbered in table order (ascending offsets).
        let mut sorted: FixedVec<u32, MAX_CPUS> = FixedVec::new();
        distinct_sorted(&keys, &seen, |k| k.0, &mut sorted);
        for (cpu, c) in self.cpus.as_mut_slice().iter_mut().enumerate().filter(|(cpu, _)| seen.get(*cpu)) {
            let key = keys.get(cpu).map(|k| k.0);
            c.topo.socket = sorted.iter().position(|&s| Some(s) == key).map(|r| r as u16);
        }
        distinct_sorted(&keys, &seen, |k| k.1, &mut sorted);
        for (cpu, c) in self.cpus.as_mut_slice().iter_mut().enumerate().filter(|(cpu, _)| seen.get(*cpu)) {
            let key = keys.get(cpu).map(|k| k.1);
            c.topo.cluster = sorted.iter().position(|&s| Some(s) == key).map(|r| r as u16);
        }
        for cpu in 0..self.cpus.len() {
            if !seen.get(cpu) {
                self.warn(Warning::Acpi(AcpiWarning::CpuMissingFromPptt { cpu }));
            }
        }
        Ok(())
    }
}

/// The distinct `pick(key)` of the CPUs in `seen`, ascending, into `out`.
fn distinct_sorted(
    keys: &[(u32, u32)],
    seen: &CpuBits,
    pick: fn((u32, u32)) -> u32,
    out: &mut FixedVec<u32, MAX_CPUS>,
) {
    out.clear();
    for (cpu, &k) in keys.iter().enumerate() {
        if seen.get(cpu) && !out.contains(&pick(k)) {
            // Cannot fail: at most one key per CPU.
            let _ = out.push(pick(k));
        }
    }
    out.as_mut_slice().sort_unstable();
}

/// One redistributor frame per enabled GICC (`frame` bytes at its GICR base), sorted
/// and merged where adjacent; `None` when a GICC has no base or there are more than
/// `MAX_REDIST_REGIONS` regions.
fn per_cpu_redistributors(
    madt: &Madt<'_>,
    frame: u64,
) -> Option<FixedVec<PhysRange, { crate::board::MAX_REDIST_REGIONS }>> {
    let mut bases: FixedVec<u64, MAX_CPUS> = FixedVec::new();
    for g in madt.giccs().filter(|g| g.enabled) {
        if g.gicr_base == 0 || g.gicr_base.checked_add(frame).is_none() {
            return None;
        }
        bases.push(g.gicr_base).ok()?;
    }
    bases.as_mut_slice().sort_unstable();
    let mut regions: FixedVec<PhysRange, { crate::board::MAX_REDIST_REGIONS }> = FixedVec::new();
    for &base in bases.iter() {
        if let Some(last) = regions.as_mut_slice().last_mut()
            && base <= last.end()
        {
            last.size = last.size.max(base + frame - last.base);
            continue;
        }
        regions.push(PhysRange { base, size: frame }).ok()?;
    }
    Some(regions)
}
