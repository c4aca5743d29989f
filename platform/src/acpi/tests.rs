// SPDX-License-Identifier: MIT OR Apache-2.0
//! Host tests of the ACPI path: QEMU-like tables for several topologies, each checked
//! against the device tree QEMU would give for the same topology, and one broken
//! table per row of the error table in [`crate::acpi`].
//!
//! The tables come from [`super::builder`] (QEMU 7.2's layout), the device trees from
//! `dtb_writer` following QEMU's `virt` device tree (`cpu-map` socket/cluster/core,
//! `numa-node-id`, `distance-map`, GICv3 with `#redistributor-regions`, PSCI, PL011).
//! The captured tables of real QEMU runs are tested in `tests/acpi_qemu.rs`.
#![forbid(unsafe_code)]

extern crate std;
use std::format;
use std::println;
use std::string::ToString;
use std::vec::Vec;

use super::builder::{self, Image, TableBuf, Virt, srat_gicc, srat_memory};
use crate::acpi::{AcpiError, AcpiErrorKind, AcpiWarning, MemoryWindow, Signature};
use crate::board::{Board, Conduit, EnableMethod, Firmware, Gic, PhysRange, UartKind, Warning};
use crate::board::{NumaFromClusters, PSCI_CPU_ON_64, PSCI_SYSTEM_OFF};
use crate::cpumap::{Cluster, CpuTopology};
use crate::dtb_writer::DtbWriter;
use crate::error::ErrorKind;
use crate::numa::NodeId;

const MIB: u64 = 1 << 20;

fn n(raw: u32) -> NodeId {
    NodeId::new(raw).unwrap()
}

fn windows(image: &Image) -> Vec<MemoryWindow<'_>> {
    image.regions.iter().map(|(base, bytes)| MemoryWindow { base: *base, bytes }).collect()
}

fn parse(image: &Image) -> Result<Board<'static>, AcpiError> {
    Board::from_acpi(image.rsdp, windows(image).as_slice())
}

fn board(image: &Image) -> Board<'static> {
    parse(image).unwrap_or_else(|e| panic!("{e}"))
}

fn error(image: &Image) -> AcpiError {
    parse(image).expect_err("the tables were accepted")
}

fn acpi(w: &Board<'_>) -> Vec<AcpiWarning> {
    w.warnings
        .iter()
        .filter_map(|w| match w {
            Warning::Acpi(a) => Some(*a),
            _ => None,
        })
        .collect()
}

/// The device tree QEMU `virt` gives for `v` (what `dumpdtb` writes, reduced to the
/// nodes the board reads; PSCI written as `arm,psci-0.2`, the version ACPI implies).
fn dt_of(v: &Virt) -> Vec<u8> {
    const GIC_PHANDLE: u32 = 0x8001;
    let mut w = DtbWriter::new();
    w.begin("").prop_u32("#address-cells", 2).prop_u32("#size-cells", 2);
    w.prop_u32("interrupt-parent", GIC_PHANDLE);
    w.begin("cpus").prop_u32("#address-cells", 1).prop_u32("#size-cells", 0);
    w.begin("cpu-map");
    for s in 0..v.sockets {
        w.begin(&format!("socket{s}"));
        for c in 0..v.clusters {
            w.begin(&format!("cluster{c}"));
            for k in 0..v.cores {
                w.begin(&format!("core{k}"));
                let first = ((s * v.clusters + c) * v.cores + k) * v.threads;
                if v.threads > 1 {
                    for t in 0..v.threads {
                        w.begin(&format!("thread{t}")).prop_u32("cpu", 0x100 + (first + t) as u32).end();
                    }
                } else {
                    w.prop_u32("cpu", 0x100 + first as u32);
                }
                w.end();
            }
            w.end();
        }
        w.end();
    }
    w.end();
    for i in 0..v.cpus {
        w.begin(&format!("cpu@{i}")).prop_str("device_type", "cpu");
        w.prop_str("compatible", "arm,cortex-a72").prop_u32("reg", Virt::mpidr(i) as u32);
        w.prop_str("enable-method", "psci").prop_u32("phandle", 0x100 + i as u32);
        if let Some(node) = v.node_of_cpu(i) {
            w.prop_u32("numa-node-id", node as u32);
        }
        w.end();
    }
    w.end();
    for (base, size, node) in v.memory() {
        w.begin(&format!("memory@{base:x}")).prop_str("device_type", "memory");
        w.prop_cells("reg", &[(base >> 32) as u32, base as u32, (size >> 32) as u32, size as u32]);
        if let Some(node) = node {
            w.prop_u32("numa-node-id", node as u32);
        }
        w.end();
    }
    if let Some(dist) = &v.dist {
        let mut cells = Vec::new();
        for (a, row) in dist.iter().enumerate() {
            for (b, d) in row.iter().enumerate() {
                cells.extend_from_slice(&[a as u32, b as u32, u32::from(*d)]);
            }
        }
        w.begin("distance-map").prop_str("compatible", "numa-distance-map-v1");
        w.prop_cells("distance-matrix", &cells).end();
    }
    let mut reg = std::vec![0, builder::GICD_BASE as u32, 0, 0x10000];
    let regions = v.redistributors();
    for (base, size) in &regions {
        reg.extend_from_slice(&[(base >> 32) as u32, *base as u32, 0, *size as u32]);
    }
    w.begin("intc@8000000").prop_str("compatible", "arm,gic-v3").prop("interrupt-controller", &[]);
    w.prop_u32("#interrupt-cells", 3).prop_cells("reg", &reg);
    w.prop_u32("#redistributor-regions", regions.len() as u32).prop_u32("phandle", GIC_PHANDLE).end();
    w.begin("timer").prop_strs("compatible", &["arm,armv8-timer", "arm,armv7-timer"]);
    w.prop_cells("interrupts", &[1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4]).end();
    w.begin("psci").prop_str("compatible", "arm,psci-0.2");
    w.prop_str("method", if v.el2 { "smc" } else { "hvc" }).end();
    w.begin("pl011@9000000").prop_strs("compatible", &["arm,pl011", "arm,primecell"]);
    w.prop_cells("reg", &[0, builder::UART_BASE as u32, 0, 0x1000]).end();
    w.begin("chosen").prop_str("stdout-path", "/pl011@9000000").end();
    w.end();
    w.finish()
}

/// The fields that matter are equal; the numactl blocks are byte for byte equal.
fn assert_same_board(a: &Board<'_>, d: &Board<'_>) {
    assert_eq!((a.firmware(), d.firmware()), (Firmware::Acpi, Firmware::DeviceTree));
    assert_eq!(a.cpus.len(), d.cpus.len());
    for (i, (x, y)) in a.cpus.iter().zip(d.cpus.iter()).enumerate() {
        assert_eq!(x, y, "cpu {i}");
    }
    assert_eq!(a.memory, d.memory);
    assert_eq!(a.node_set(), d.node_set());
    for p in a.nodes() {
        for q in a.nodes() {
            assert_eq!(a.distance(p, q), d.distance(p, q), "distance {p} -> {q}");
        }
    }
    assert_eq!(a.gic, d.gic);
    assert_eq!(a.timer, d.timer);
    assert_eq!(a.psci, d.psci);
    let (ua, ud) = (a.chosen.stdout.unwrap(), d.chosen.stdout.unwrap());
    assert_eq!((ua.base, ua.kind), (ud.base, ud.kind));
    assert_eq!(ua.to_string(), ud.to_string());
    assert_eq!(a.numactl().to_string(), d.numactl().to_string());
}

/// Parses `v` both ways, checks they agree, prints the block, returns the ACPI board.
fn equivalent(v: &Virt) -> Board<'static> {
    let image = v.image();
    let a = board(&image);
    let blob = dt_of(v);
    let d = Board::from_fdt(&blob).unwrap();
    assert_same_board(&a, &d);
    println!("{}", a.numactl());
    a
}

// ---- good topologies: the same board as the device tree ---------------------------

#[test]
fn one_node_with_an_srat_is_node_zero() {
    let mut v = Virt::numa(1, 1, 256);
    v.sockets = 1;
    let b = equivalent(&v);
    assert_eq!(
        b.numactl().to_string(),
        "available: 1 nodes (0)\nnode 0 cpus: 0\nnode 0 size: 256 MB\n\
         node distances:\nnode   0 \n  0:  10 \n"
    );
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
}

#[test]
fn two_nodes_of_two_cpus() {
    let b = equivalent(&Virt::numa(2, 2, 512));
    assert_eq!(
        b.numactl().to_string(),
        "available: 2 nodes (0-1)\n\
         node 0 cpus: 0 1\nnode 0 size: 512 MB\n\
         node 1 cpus: 2 3\nnode 1 size: 512 MB\n\
         node distances:\nnode   0   1 \n  0:  10  20 \n  1:  20  10 \n"
    );
    assert_eq!(b.warnings.as_slice(), &[Warning::NoDistanceMap]);
    assert_eq!(b.psci.unwrap().conduit, Conduit::Hvc);
    assert!(b.cpus.iter().all(|c| c.enable_method == EnableMethod::Psci));
}

#[test]
fn four_nodes_with_an_asymmetric_slit() {
    let mut v = Virt::numa(4, 1, 256);
    v.dist =
        Some((0..4).map(|s| (0..4).map(|d| if s == d { 10 } else { 20 + 2 * s + d }).collect()).collect());
    let b = equivalent(&v);
    assert!(b.numactl().to_string().ends_with(
        "node   0   1   2   3 \n  \
         0:  10  21  22  23 \n  \
         1:  22  10  24  25 \n  \
         2:  24  25  10  27 \n  \
         3:  26  27  28  10 \n"
    ));
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
}

#[test]
fn a_memory_less_node_has_cpus_and_no_memory() {
    let mut v = Virt::numa(2, 2, 512);
    v.nodes[1].1 = 0;
    v.dist = Some(std::vec![std::vec![10, 30], std::vec![30, 10]]);
    let b = equivalent(&v);
    assert!(b.numactl().to_string().contains("node 1 cpus: 2 3\nnode 1 size: 0 MB\n"));
    assert_eq!(b.memory.len(), 1);
}

#[test]
fn a_cpu_less_node_has_memory_and_no_cpus() {
    let mut v = Virt::numa(2, 1, 512);
    v.cpus = 2;
    v.cores = 2;
    v.nodes[0].0 = std::vec![0, 1];
    v.nodes[1].0 = std::vec![];
    let b = equivalent(&v);
    assert!(b.numactl().to_string().contains("node 1 cpus:\nnode 1 size: 512 MB\n"));
}

#[test]
fn eight_nodes_of_eight_cpus_in_two_sockets() {
    let mut v = Virt::numa(8, 8, 128);
    (v.sockets, v.clusters, v.cores) = (2, 4, 8);
    v.dist = Some(
        (0..8)
            .map(|a: usize| {
                (0..8)
                    .map(|b: usize| {
                        if a == b {
                            10
                        } else if a / 4 == b / 4 {
                            16
                        } else {
                            32
                        }
                    })
                    .collect()
            })
            .collect(),
    );
    let b = equivalent(&v);
    assert_eq!(b.cpus.len(), 64);
    assert_eq!(b.node_count(), 8);
    // CPU 63: socket 1, its 4th cluster (board-wide cluster 7), core 7.
    let topo = b.cpus[63].topo;
    assert_eq!(topo, CpuTopology { socket: Some(1), cluster: Some(7), core: Some(7), thread: None });
    assert_eq!(b.cpus[63].node, n(7));
    assert_eq!(b.distance(n(0), n(3)), 16);
    assert_eq!(b.distance(n(0), n(4)), 32);
}

#[test]
fn more_than_123_cpus_use_two_redistributor_regions() {
    let mut v = Virt::numa(2, 64, 512);
    v.sockets = 2;
    v.cores = 64;
    let b = equivalent(&v);
    assert_eq!(b.cpus.len(), 128);
    assert_eq!(b.cpus[127].mpidr, 0x70f);
    let Some(Gic::V3 { redistributors, .. }) = b.gic else { panic!("{:?}", b.gic) };
    assert_eq!(
        redistributors.as_slice(),
        &[
            PhysRange { base: builder::GICR_BASE, size: builder::GICR_SIZE },
            PhysRange { base: builder::GICR2_BASE, size: builder::GICR2_SIZE },
        ]
    );
}

#[test]
fn threads_are_numbered_within_their_core() {
    let mut v = Virt::plain(8, 256);
    (v.sockets, v.clusters, v.cores, v.threads) = (1, 2, 2, 2);
    v.nodes = std::vec![((0..8).collect(), 256)];
    let b = equivalent(&v);
    let t = b.cpus[5].topo;
    assert_eq!(t, CpuTopology { socket: Some(0), cluster: Some(1), core: Some(0), thread: Some(1) });
}

#[test]
fn el2_firmware_takes_psci_over_smc() {
    let mut v = Virt::numa(1, 2, 256);
    v.el2 = true;
    let b = equivalent(&v);
    let psci = b.psci.unwrap();
    assert_eq!(
        (psci.conduit, psci.cpu_on, psci.system_off),
        (Conduit::Smc, PSCI_CPU_ON_64, Some(PSCI_SYSTEM_OFF))
    );
}

#[test]
fn without_an_srat_the_board_is_one_node_without_memory() {
    // QEMU without -numa: no SRAT. The device tree has memory; ACPI leaves it to UEFI.
    let v = Virt::plain(4, 256);
    let b = board(&v.image());
    assert_eq!(b.node_count(), 1);
    assert!(b.memory.is_empty());
    assert_eq!(
        b.warnings.as_slice(),
        &[Warning::Acpi(AcpiWarning::TableMissing(Signature::SRAT)), Warning::NoMemory]
    );
    let blob = dt_of(&v);
    let d = Board::from_fdt(&blob).unwrap();
    assert_eq!(b.cpus, d.cpus);
    assert_eq!((b.gic, b.timer, b.psci), (d.gic, d.timer, d.psci));
    assert_eq!(
        b.numactl().to_string(),
        "available: 1 nodes (0)\nnode 0 cpus: 0 1 2 3\nnode 0 size: 0 MB\n\
         node distances:\nnode   0 \n  0:  10 \n"
    );
}

#[test]
fn the_board_says_it_came_from_acpi() {
    let b = board(&Virt::numa(1, 1, 64).image());
    assert_eq!(b.firmware(), Firmware::Acpi);
    assert_eq!(b.firmware().to_string(), "acpi");
    assert_eq!(Firmware::DeviceTree.to_string(), "dt");
    let mut again = Board::empty();
    again.parse_acpi(builder::RSDP_ADDRESS, windows(&Virt::numa(2, 1, 64).image()).as_slice()).unwrap();
    assert_eq!(again.node_count(), 2);
    assert_eq!(again.firmware(), Firmware::Acpi);
}

#[test]
fn one_window_over_all_the_tables_is_enough() {
    // The kernel's view: one mapped range holding every table.
    let image = Virt::numa(2, 2, 512).image();
    let start = image.regions.iter().map(|(a, _)| *a).min().unwrap();
    let end = image.regions.iter().map(|(a, b)| a + b.len() as u64).max().unwrap();
    let mut all = std::vec![0u8; (end - start) as usize];
    for (a, b) in &image.regions {
        all[(a - start) as usize..][..b.len()].copy_from_slice(b);
    }
    let window = MemoryWindow { base: start, bytes: &all };
    let b = Board::from_acpi(image.rsdp, &window).unwrap();
    assert_eq!(b.node_count(), 2);
}

#[test]
fn the_console_is_the_spcr_pl011() {
    let b = board(&Virt::numa(1, 1, 64).image());
    let uart = b.chosen.stdout.unwrap();
    assert_eq!(
        (uart.base, uart.kind, uart.path, uart.options),
        (0x0900_0000, UartKind::Pl011, "SPCR", Some("9600"))
    );
    assert_eq!(uart.to_string(), "pl011@0x9000000");
    assert_eq!(uart.pl011_base(), Some(0x0900_0000));
}

// ---- domains to nodes -------------------------------------------------------------

/// Two CPUs in `domains[0]` and `domains[1]` (one each), 64 MiB each.
fn sparse(domains: [u32; 2], slit: Option<(u64, &[u8])>) -> Image {
    let v = Virt::plain(2, 128);
    let mut srat = TableBuf::new(b"SRAT", 3);
    srat.u32(1).u64(0);
    // Listed in reverse: the numbering must not depend on the order.
    srat_gicc(&mut srat, domains[1], 1, 1);
    srat_gicc(&mut srat, domains[0], 0, 1);
    srat_memory(&mut srat, domains[1], 0x4400_0000, 64 * MIB, 1);
    srat_memory(&mut srat, domains[0], 0x4000_0000, 64 * MIB, 1);
    let mut tables = v.tables();
    tables.push(srat.finish());
    if let Some((localities, matrix)) = slit {
        let mut t = TableBuf::new(b"SLIT", 1);
        t.u64(localities).bytes(matrix);
        tables.push(t.finish());
    }
    builder::layout(&tables)
}

#[test]
fn sparse_domains_become_dense_nodes_in_ascending_order() {
    let mut matrix = std::vec![0u8; 36];
    for a in 0..6 {
        for b in 0..6 {
            matrix[a * 6 + b] = if a == b { 10 } else { 40 + a as u8 };
        }
    }
    let b = board(&sparse([5, 2], Some((6, &matrix))));
    assert_eq!(b.node_set().to_string(), "0-1");
    // Domain 2 is node 0, domain 5 is node 1.
    assert_eq!((b.cpus[0].node, b.cpus[1].node), (n(1), n(0)));
    assert_eq!(b.memory[0].node, n(1));
    assert_eq!(b.distance(n(0), n(1)), 42);
    assert_eq!(b.distance(n(1), n(0)), 45);
    assert!(acpi(&b).contains(&AcpiWarning::SlitExtraLocalities { count: 4 }));
}

#[test]
fn too_many_domains_is_an_error() {
    let v = Virt::plain(1, 64);
    let mut srat = TableBuf::new(b"SRAT", 3);
    srat.u32(1).u64(0);
    srat_gicc(&mut srat, 0, 0, 1);
    for d in 0..65u32 {
        srat_memory(&mut srat, d, 0x4000_0000 + u64::from(d) * MIB, MIB, 1);
    }
    let mut tables = v.tables();
    tables.push(srat.finish());
    let e = error(&builder::layout(&tables));
    assert_eq!(e.kind(), AcpiErrorKind::TooManyDomains { limit: 64 });
}

// ---- broken tables ----------------------------------------------------------------

fn two_nodes() -> Image {
    Virt::numa(2, 2, 512).image()
}

#[test]
fn a_bad_table_checksum_names_the_table() {
    let mut image = two_nodes();
    image.table_mut(b"SRAT")[40] ^= 1;
    let e = error(&image);
    assert_eq!((e.table(), e.kind()), (Signature::SRAT, AcpiErrorKind::BadChecksum { sum: 1 }));
    assert_eq!(e.to_string(), "ACPI SRAT: checksum wrong: bytes sum to 0x01, not 0");
}

#[test]
fn both_rsdp_checksums_are_checked() {
    let mut image = two_nodes();
    image.rsdp_mut()[16] ^= 2; // inside the first 20 bytes
    assert_eq!(error(&image).kind(), AcpiErrorKind::BadChecksum { sum: 2 });
    let mut image = two_nodes();
    image.rsdp_mut()[33] ^= 4; // only the extended checksum covers it
    assert_eq!(error(&image).kind(), AcpiErrorKind::BadChecksum { sum: 4 });
}

#[test]
fn the_rsdp_must_be_one_of_acpi_2_or_later() {
    let mut image = two_nodes();
    image.rsdp_mut()[15] = 0;
    builder::fix_rsdp(image.rsdp_mut());
    assert_eq!(error(&image).kind(), AcpiErrorKind::RsdpTooOld { revision: 0 });
    let mut image = two_nodes();
    image.rsdp_mut()[..8].copy_from_slice(b"RSD PTX ");
    let e = error(&image);
    assert_eq!(
        (e.table(), e.kind()),
        (Signature::RSDP, AcpiErrorKind::BadSignature { found: Signature(*b"RSD ") })
    );
    let e = parse_at(&two_nodes(), 0x1234);
    assert_eq!(e.kind(), AcpiErrorKind::Unreadable { address: 0x1234, len: 20 });
}

fn parse_at(image: &Image, rsdp: u64) -> AcpiError {
    Board::from_acpi(rsdp, windows(image).as_slice()).unwrap_err()
}

#[test]
fn a_length_beyond_memory_is_unreadable_and_below_the_header_is_bad() {
    let mut image = two_nodes();
    let address = image.address_of(b"APIC");
    let madt = image.table_mut(b"APIC");
    let len = madt.len() as u32 + 4;
    madt[4..8].copy_from_slice(&len.to_le_bytes());
    let e = error(&image);
    assert_eq!(
        (e.table(), e.kind()),
        (Signature::MADT, AcpiErrorKind::Unreadable { address, len: u64::from(len) })
    );

    let mut image = two_nodes();
    image.table_mut(b"APIC")[4..8].copy_from_slice(&20u32.to_le_bytes());
    assert_eq!(error(&image).kind(), AcpiErrorKind::BadLength { length: 20, min: 36 });

    let mut image = two_nodes();
    let mut short = TableBuf::new(b"GTDT", 2);
    short.u64(0);
    image.replace(b"GTDT", short.finish());
    let e = error(&image);
    assert_eq!((e.table(), e.kind()), (Signature::GTDT, AcpiErrorKind::BadLength { length: 44, min: 96 }));
}

#[test]
fn an_xsdt_entry_outside_memory_is_named_with_its_offset() {
    let mut image = two_nodes();
    image.list(0xdead_0000);
    let e = error(&image);
    assert_eq!(e.table(), Signature::XSDT);
    assert_eq!(e.kind(), AcpiErrorKind::Unreadable { address: 0xdead_0000, len: 36 });
    assert_eq!(e.offset(), Some(36 + 6 * 8));
}

#[test]
fn a_ragged_xsdt_and_a_wrong_xsdt_signature_are_errors() {
    let mut image = two_nodes();
    let xsdt = image.table_mut(b"XSDT");
    xsdt.push(0);
    let len = xsdt.len() as u32;
    xsdt[4..8].copy_from_slice(&len.to_le_bytes());
    builder::fix_checksum(xsdt);
    assert_eq!(error(&image).kind(), AcpiErrorKind::RaggedXsdt { length: len });

    let mut image = two_nodes();
    image.table_mut(b"XSDT")[..4].copy_from_slice(b"RSDT");
    image.refresh_checksums();
    assert_eq!(error(&image).kind(), AcpiErrorKind::BadSignature { found: Signature(*b"RSDT") });
}

#[test]
fn a_null_xsdt_entry_is_skipped() {
    let mut image = two_nodes();
    image.list(0);
    let b = board(&image);
    assert!(acpi(&b).contains(&AcpiWarning::NullXsdtEntry { index: 6 }));
}

#[test]
fn old_revisions_are_refused_and_newer_ones_read_with_a_warning() {
    for (sig, old, min) in
        [(b"SRAT", 2, 3), (b"APIC", 2, 3), (b"GTDT", 1, 2), (b"PPTT", 0, 1), (b"SPCR", 0, 1)]
    {
        let mut image = two_nodes();
        image.table_mut(sig)[8] = old;
        image.refresh_checksums();
        let e = error(&image);
        assert_eq!(
            (e.table(), e.kind()),
            (Signature(*sig), AcpiErrorKind::RevisionTooOld { revision: old, min })
        );
    }
    let mut image = two_nodes();
    image.table_mut(b"SRAT")[8] = 4;
    image.table_mut(b"APIC")[8] = 45; // ACPI 6.2b's errata revision
    image.refresh_checksums();
    let b = board(&image);
    let w = acpi(&b);
    assert!(w.contains(&AcpiWarning::NewerRevision { table: Signature::SRAT, revision: 4 }));
    assert!(w.contains(&AcpiWarning::NewerRevision { table: Signature::MADT, revision: 45 }));
    assert_eq!(b.node_count(), 2);
}

#[test]
fn an_fadt_older_than_5_1_is_refused() {
    let mut image = two_nodes();
    image.table_mut(b"FACP")[8] = 5; // 5.0: minor version 0
    image.refresh_checksums();
    assert_eq!(error(&image).kind(), AcpiErrorKind::FadtTooOld { major: 5, minor: 0 });
    let mut image = two_nodes();
    let fadt = image.table_mut(b"FACP");
    fadt[8] = 5;
    fadt[131] = 1;
    image.refresh_checksums();
    assert!(parse(&image).is_ok());
}

#[test]
fn a_duplicate_table_is_an_error() {
    let mut image = two_nodes();
    let again = image.table_mut(b"SRAT").clone();
    image.regions.push((0x7000_0000, again));
    image.list(0x7000_0000);
    let e = error(&image);
    assert_eq!((e.table(), e.kind()), (Signature::SRAT, AcpiErrorKind::DuplicateTable));
}

#[test]
fn a_cpu_without_srat_affinity_is_named_by_uid() {
    let v = Virt::numa(2, 2, 512);
    let mut srat = TableBuf::new(b"SRAT", 3);
    srat.u32(1).u64(0);
    for uid in [0, 1, 3] {
        srat_gicc(&mut srat, uid / 2, uid, 1);
    }
    srat_gicc(&mut srat, 1, 2, 0); // disabled: does not count
    for (base, size, node) in v.memory() {
        srat_memory(&mut srat, node.unwrap() as u32, base, size, 1);
    }
    let mut image = v.image();
    image.replace(b"SRAT", srat.finish());
    let e = error(&image);
    assert_eq!((e.table(), e.kind()), (Signature::SRAT, AcpiErrorKind::CpuWithoutAffinity { uid: 2 }));
    assert_eq!(e.to_string(), "ACPI SRAT: no GICC affinity for the CPU with ACPI processor UID 2");
}

#[test]
fn one_cpu_in_two_domains_is_an_error() {
    let mut image = two_nodes();
    let mut srat = Virt::numa(2, 2, 512).srat().unwrap();
    srat_gicc(&mut srat, 0, 3, 1);
    image.replace(b"SRAT", srat.finish());
    assert_eq!(error(&image).kind(), AcpiErrorKind::ConflictingAffinity { uid: 3, first: 1, second: 0 });
}

#[test]
fn affinity_for_an_unknown_cpu_is_ignored_with_a_warning() {
    let mut image = two_nodes();
    let mut srat = Virt::numa(2, 2, 512).srat().unwrap();
    srat_gicc(&mut srat, 7, 99, 1);
    image.replace(b"SRAT", srat.finish());
    let b = board(&image);
    assert_eq!(b.node_count(), 2);
    assert!(acpi(&b).contains(&AcpiWarning::AffinityForUnknownCpu { uid: 99 }));
}

#[test]
fn a_domain_without_memory_and_without_cpus_is_an_error() {
    let mut image = two_nodes();
    let mut srat = Virt::numa(2, 2, 512).srat().unwrap();
    let at = srat.offset();
    srat_memory(&mut srat, 9, 0x9000_0000, 0, 1);
    image.replace(b"SRAT", srat.finish());
    let e = error(&image);
    assert_eq!((e.kind(), e.offset()), (AcpiErrorKind::EmptyDomain { domain: 9 }, Some(at as u32)));
    // The same empty range in a domain that has CPUs is only skipped.
    let mut image = two_nodes();
    let mut srat = Virt::numa(2, 2, 512).srat().unwrap();
    srat_memory(&mut srat, 1, 0x9000_0000, 0, 1);
    image.replace(b"SRAT", srat.finish());
    assert!(board(&image).warnings.contains(&Warning::EmptyMemoryRange { base: 0x9000_0000 }));
}

#[test]
fn hot_pluggable_and_disabled_memory_is_not_ram() {
    let mut image = two_nodes();
    let mut srat = Virt::numa(2, 2, 512).srat().unwrap();
    srat_memory(&mut srat, 1, 0x1_0000_0000, 1 << 30, 0b11); // enabled, hot-pluggable
    srat_memory(&mut srat, 5, 0x2_0000_0000, 1 << 30, 0); // disabled
    image.replace(b"SRAT", srat.finish());
    let b = board(&image);
    assert_eq!(b.memory.len(), 2);
    assert_eq!(b.node_count(), 2);
    assert!(acpi(&b).contains(&AcpiWarning::HotplugMemorySkipped { base: 0x1_0000_0000, domain: 1 }));
}

#[test]
fn memory_of_two_nodes_overlapping_is_an_error() {
    let mut image = two_nodes();
    let mut srat = Virt::numa(2, 2, 512).srat().unwrap();
    srat_memory(&mut srat, 1, 0x4000_0000, MIB, 1);
    image.replace(b"SRAT", srat.finish());
    let e = error(&image);
    let kind =
        ErrorKind::MemoryOverlap { base_a: 0x4000_0000, node_a: n(0), base_b: 0x4000_0000, node_b: n(1) };
    assert_eq!(e.kind(), AcpiErrorKind::Board(kind));
    let mut image = two_nodes();
    let mut srat = Virt::numa(2, 2, 512).srat().unwrap();
    srat_memory(&mut srat, 0, u64::MAX - 10, 20, 1);
    image.replace(b"SRAT", srat.finish());
    let kind = ErrorKind::RangeOverflow { base: u64::MAX - 10, size: 20 };
    assert_eq!(error(&image).kind(), AcpiErrorKind::Board(kind));
}

fn with_slit(localities: u64, matrix: &[u8]) -> Image {
    let mut t = TableBuf::new(b"SLIT", 1);
    t.u64(localities).bytes(matrix);
    let mut tables = Virt::numa(2, 2, 512).tables();
    tables.push(t.finish());
    builder::layout(&tables)
}

#[test]
fn slit_diagonal_must_be_ten_and_the_rest_above() {
    let e = error(&with_slit(2, &[10, 20, 20, 11]));
    assert_eq!(
        (e.table(), e.kind()),
        (Signature::SLIT, AcpiErrorKind::SlitSelfDistance { locality: 1, distance: 11 })
    );
    assert_eq!(e.offset(), Some(47));
    let e = error(&with_slit(2, &[10, 10, 20, 10]));
    assert_eq!(e.kind(), AcpiErrorKind::SlitDistanceTooSmall { from: 0, to: 1, distance: 10 });
    let e = error(&with_slit(2, &[10, 5, 20, 10]));
    assert_eq!(e.kind(), AcpiErrorKind::SlitDistanceTooSmall { from: 0, to: 1, distance: 5 });
    // A row the SRAT does not use is checked too.
    let e = error(&with_slit(3, &[10, 20, 20, 20, 10, 20, 20, 20, 9]));
    assert_eq!(e.kind(), AcpiErrorKind::SlitSelfDistance { locality: 2, distance: 9 });
}

#[test]
fn slit_255_is_unreachable_and_kept() {
    let b = board(&with_slit(2, &[10, 255, 30, 10]));
    assert_eq!(b.distance(n(0), n(1)), 255);
    assert_eq!(b.distance(n(1), n(0)), 30);
    assert_eq!(acpi(&b), [AcpiWarning::Unreachable { from: n(0), to: n(1) }]);
}

#[test]
fn a_slit_too_small_for_the_srat_or_too_short_is_an_error() {
    let e = error(&with_slit(1, &[10]));
    assert_eq!(e.kind(), AcpiErrorKind::DomainNotInSlit { domain: 1, localities: 1 });
    let e = error(&with_slit(3, &[10, 20, 20, 20]));
    assert_eq!(e.kind(), AcpiErrorKind::SlitTruncated { localities: 3 });
    let e = error(&with_slit(u64::MAX, &[]));
    assert_eq!(e.kind(), AcpiErrorKind::SlitTruncated { localities: u64::MAX });
}

#[test]
fn a_slit_without_srat_is_ignored() {
    let mut v = Virt::plain(2, 128);
    v.dist = Some(std::vec![std::vec![10, 20], std::vec![20, 10]]);
    let b = board(&v.image());
    assert_eq!(b.node_count(), 1);
    assert!(acpi(&b).contains(&AcpiWarning::SlitExtraLocalities { count: 2 }));
}

fn madt_with(f: impl FnOnce(&mut TableBuf)) -> Image {
    let v = Virt::numa(1, 2, 256);
    let mut madt = TableBuf::new(b"APIC", 4);
    madt.u32(0).u32(0);
    f(&mut madt);
    let mut image = v.image();
    image.replace(b"APIC", madt.finish());
    image
}

fn gicd(t: &mut TableBuf, version: u8) {
    t.u8(0x0c).u8(24).u16(0).u32(0).u64(builder::GICD_BASE).u32(0).u8(version).bytes(&[0; 3]);
}

#[test]
fn duplicate_and_invalid_mpidrs_and_uids_are_errors() {
    let image = madt_with(|t| {
        Virt::gicc(t, 0, 0, 1, 0);
        Virt::gicc(t, 1, 0, 1, 0);
    });
    let e = error(&image);
    assert_eq!(e.kind(), AcpiErrorKind::Board(ErrorKind::DuplicateMpidr { mpidr: 0 }));
    assert_eq!(e.offset(), Some(44 + 80));
    let image = madt_with(|t| {
        Virt::gicc(t, 0, 0, 1, 0);
        Virt::gicc(t, 0, 1, 1, 0);
    });
    assert_eq!(error(&image).kind(), AcpiErrorKind::DuplicateUid { uid: 0 });
    let image = madt_with(|t| Virt::gicc(t, 0, 1 << 31, 1, 0));
    assert_eq!(error(&image).kind(), AcpiErrorKind::Board(ErrorKind::InvalidMpidr { mpidr: 1 << 31 }));
}

#[test]
fn disabled_gicc_are_not_cpus_and_none_enabled_is_an_error() {
    let image = madt_with(|t| {
        gicd(t, 3);
        Virt::gicc(t, 0, 0, 1, 0);
        Virt::gicc(t, 1, 1, 0b1000, 0); // online capable, not enabled
        t.u8(0x0e).u8(16).u16(0).u64(builder::GICR_BASE).u32(builder::GICR_SIZE as u32);
    });
    let b = board(&image);
    assert_eq!(b.cpus.len(), 1);
    let image = madt_with(|t| Virt::gicc(t, 0, 0, 0, 0));
    assert_eq!(error(&image).kind(), AcpiErrorKind::NoCpus);
    let mut image = two_nodes();
    image.unlist(b"APIC");
    assert_eq!(error(&image).kind(), AcpiErrorKind::MissingTable);
}

#[test]
fn short_or_zero_length_structures_are_errors() {
    let image = madt_with(|t| {
        t.u8(0x0b).u8(40).bytes(&[0; 38]); // a 40-byte GICC
    });
    let e = error(&image);
    assert_eq!((e.kind(), e.offset()), (AcpiErrorKind::BadStructure { kind: 0x0b, length: 40 }, Some(44)));
    let image = madt_with(|t| {
        Virt::gicc(t, 0, 0, 1, 0);
        t.u8(0x0c).u8(0);
    });
    assert_eq!(error(&image).kind(), AcpiErrorKind::BadStructure { kind: 0x0c, length: 0 });
    let image = madt_with(|t| {
        Virt::gicc(t, 0, 0, 1, 0);
        t.u8(0x0e).u8(30).u16(0);
    });
    assert_eq!(error(&image).kind(), AcpiErrorKind::BadStructure { kind: 0x0e, length: 30 });
}

#[test]
fn giccs_of_acpi_5_1_and_6_5_are_read() {
    // 76 bytes (ACPI 5.1) and 82 (6.5, with the TRBE interrupt) in one MADT.
    let image = madt_with(|t| {
        gicd(t, 3);
        t.u8(0x0b).u8(76).u16(0).u32(0).u32(0).u32(1).bytes(&[0; 44]).u64(0).u64(0);
        t.u8(0x0b).u8(82).u16(0).u32(1).u32(1).u32(1).bytes(&[0; 44]).u64(0).u64(1).bytes(&[0; 6]);
        t.u8(0x0e).u8(16).u16(0).u64(builder::GICR_BASE).u32(builder::GICR_SIZE as u32);
    });
    let b = board(&image);
    assert_eq!(b.cpus.iter().map(|c| c.mpidr).collect::<Vec<_>>(), [0, 1]);
}

#[test]
fn per_cpu_redistributors_merge_into_regions() {
    let image = madt_with(|t| {
        gicd(t, 3);
        Virt::gicc(t, 0, 0, 1, 0x1002_0000);
        Virt::gicc(t, 1, 1, 1, 0x1000_0000); // adjacent, listed out of order
    });
    let Some(Gic::V3 { distributor, redistributors }) = board(&image).gic else { panic!() };
    assert_eq!(distributor, PhysRange { base: builder::GICD_BASE, size: 0x10000 });
    assert_eq!(redistributors.as_slice(), &[PhysRange { base: 0x1000_0000, size: 0x40000 }]);
    let image = madt_with(|t| {
        gicd(t, 4); // GICv4: 256 KiB frames
        Virt::gicc(t, 0, 0, 1, 0x1000_0000);
        Virt::gicc(t, 1, 1, 1, 0x2000_0000);
    });
    let Some(Gic::V3 { redistributors, .. }) = board(&image).gic else { panic!() };
    assert_eq!(
        redistributors.as_slice(),
        &[PhysRange { base: 0x1000_0000, size: 0x40000 }, PhysRange { base: 0x2000_0000, size: 0x40000 }]
    );
}

#[test]
fn gic_fallbacks_are_warnings() {
    let no_gicd = madt_with(|t| Virt::gicc(t, 0, 0, 1, 0));
    let b = board(&no_gicd);
    assert_eq!((b.gic, acpi(&b).contains(&AcpiWarning::NoGicd)), (None, true));
    let reserved = madt_with(|t| {
        gicd(t, 5);
        Virt::gicc(t, 0, 0, 1, 0);
    });
    assert!(acpi(&board(&reserved)).contains(&AcpiWarning::UnknownGicVersion { version: 5 }));
    let no_redist = madt_with(|t| {
        gicd(t, 3);
        Virt::gicc(t, 0, 0, 1, 0);
    });
    let b = board(&no_redist);
    assert_eq!((b.gic, acpi(&b).contains(&AcpiWarning::NoRedistributors)), (None, true));
    let twice = madt_with(|t| {
        gicd(t, 3);
        gicd(t, 3);
        Virt::gicc(t, 0, 0, 1, 0);
    });
    assert_eq!(error(&twice).kind(), AcpiErrorKind::DuplicateGicd);
}

#[test]
fn gicv2_and_an_unspecified_version_are_told_apart() {
    let v2 = madt_with(|t| {
        gicd(t, 0); // unspecified, no redistributors: v2
        t.u8(0x0b).u8(80).u16(0).u32(0).u32(0).u32(1).bytes(&[0; 16]).u64(0x0801_0000).bytes(&[0; 40]);
    });
    let gic = board(&v2).gic;
    assert_eq!(
        gic,
        Some(Gic::V2 {
            distributor: PhysRange { base: builder::GICD_BASE, size: 0x1000 },
            cpu_interface: PhysRange { base: 0x0801_0000, size: 0x2000 },
        })
    );
    let v3 = madt_with(|t| {
        gicd(t, 0);
        Virt::gicc(t, 0, 0, 1, 0x1000_0000);
    });
    assert_eq!(board(&v3).gic.map(|g| g.version()), Some(3));
}

/// PPTT nodes: (flags, parent index or None, id); offsets are computed.
fn pptt_of(revision: u8, nodes: &[(u32, Option<usize>, u32)]) -> Vec<u8> {
    let mut t = TableBuf::new(b"PPTT", revision);
    let offset = |i: usize| 36 + 20 * i as u32;
    for &(flags, parent, id) in nodes {
        t.u8(0).u8(20).u16(0).u32(flags).u32(parent.map_or(0, offset)).u32(id).u32(0);
    }
    t.finish()
}

#[test]
fn a_revision_1_pptt_finds_leaves_without_the_leaf_flag() {
    // package -> core0 (cpu 0), core1 (cpu 1); no leaf flags, IDs valid on cores.
    let mut image = Virt::numa(1, 2, 256).image();
    image.replace(b"PPTT", pptt_of(1, &[(0b01, None, 0), (0b10, Some(0), 0), (0b10, Some(0), 1)]));
    let b = board(&image);
    let expect = |core| CpuTopology { socket: Some(0), cluster: Some(0), core: Some(core), thread: None };
    assert_eq!([b.cpus[0].topo, b.cpus[1].topo], [expect(0), expect(1)]);
    assert_eq!(b.cluster_of(1), Some(Cluster { socket: 0, id: 0 }));
}

#[test]
fn a_container_id_equal_to_a_cpu_uid_is_not_taken_for_a_cpu() {
    // The package has a valid ID 1, which is also CPU 1's UID.
    let mut image = Virt::numa(1, 2, 256).image();
    image.replace(b"PPTT", pptt_of(2, &[(0b11, None, 1), (0b1010, Some(0), 0), (0b1010, Some(0), 1)]));
    let b = board(&image);
    assert_eq!(b.cpus[1].topo.core, Some(1));
    assert!(acpi(&b).is_empty(), "{:?}", b.warnings);
}

#[test]
fn pptt_loops_and_bad_parents_are_errors() {
    let mut image = Virt::numa(1, 2, 256).image();
    image.replace(b"PPTT", pptt_of(2, &[(0b1010, Some(1), 0), (0, Some(1), 0), (0b1010, None, 1)]));
    assert_eq!(error(&image).kind(), AcpiErrorKind::PpttTooDeep);
    let mut image = Virt::numa(1, 2, 256).image();
    let mut t = TableBuf::new(b"PPTT", 2);
    t.u8(0).u8(20).u16(0).u32(0b1010).u32(0x99).u32(0).u32(0);
    image.replace(b"PPTT", t.finish());
    assert_eq!(error(&image).kind(), AcpiErrorKind::PpttBadParent { parent: 0x99 });
    let mut image = Virt::numa(1, 2, 256).image();
    let mut t = TableBuf::new(b"PPTT", 2);
    t.u8(0).u8(24).u16(0).u32(0b1010).u32(0).u32(0).u32(2).u32(0); // 2 resources, room for 1
    image.replace(b"PPTT", t.finish());
    assert_eq!(error(&image).kind(), AcpiErrorKind::BadStructure { kind: 0, length: 24 });
}

#[test]
fn pptt_leaves_naming_no_cpu_twice_or_none_are_warnings() {
    let mut image = Virt::numa(1, 2, 256).image();
    let nodes = [(0b01, None, 0), (0b1010, Some(0), 0), (0b1010, Some(0), 0), (0b1010, Some(0), 42)];
    image.replace(b"PPTT", pptt_of(2, &nodes));
    let b = board(&image);
    let w = acpi(&b);
    assert!(w.contains(&AcpiWarning::PpttDuplicate { cpu: 0 }));
    assert!(w.contains(&AcpiWarning::PpttUnknownProcessor { uid: 42 }));
    assert!(w.contains(&AcpiWarning::CpuMissingFromPptt { cpu: 1 }));
    assert_eq!(b.cpus[1].topo, CpuTopology::UNKNOWN);
}

#[test]
fn numa_clusters_works_on_an_acpi_board_without_srat() {
    let mut v = Virt::plain(4, 256);
    (v.clusters, v.cores) = (2, 2);
    let mut b = board(&v.image());
    assert_eq!(b.numa_from_clusters(), Ok(NumaFromClusters::Applied { nodes: 2 }));
    assert_eq!(b.node_count(), 2);
    // With an SRAT the firmware's nodes stay.
    let mut b = board(&Virt::numa(1, 4, 256).image());
    assert!(matches!(b.numa_from_clusters(), Ok(NumaFromClusters::Skipped { .. })));
}

#[test]
fn timer_interrupts_that_are_not_ppis_are_left_out() {
    let mut image = two_nodes();
    let gtdt = image.table_mut(b"GTDT");
    gtdt[48..52].copy_from_slice(&0u32.to_le_bytes()); // secure: not provided
    gtdt[64..68].copy_from_slice(&40u32.to_le_bytes()); // virtual: an SPI
    image.refresh_checksums();
    let b = board(&image);
    let t = b.timer.unwrap();
    assert_eq!((t.secure_phys_ppi, t.phys_ppi, t.virt_ppi, t.hyp_ppi), (None, Some(14), None, Some(10)));
    assert!(acpi(&b).contains(&AcpiWarning::TimerNotPpi { gsiv: 40 }));
}

#[test]
fn psci_is_absent_without_the_compliant_flag() {
    let mut image = two_nodes();
    image.table_mut(b"FACP")[129] = 0;
    image.refresh_checksums();
    let b = board(&image);
    assert_eq!(b.psci, None);
    assert!(b.cpus.iter().all(|c| c.enable_method == EnableMethod::None));
    assert!(acpi(&b).contains(&AcpiWarning::NoPsci));
}

#[test]
fn spcr_fallbacks_and_other_uarts() {
    let spcr = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut image = two_nodes();
        f(image.table_mut(b"SPCR"));
        image.refresh_checksums();
        board(&image)
    };
    let b = spcr(&|t| t[44..52].copy_from_slice(&0u64.to_le_bytes()));
    assert_eq!((b.chosen.stdout, acpi(&b).contains(&AcpiWarning::ConsoleDisabled)), (None, true));
    let b = spcr(&|t| t[40] = 1);
    assert!(acpi(&b).contains(&AcpiWarning::ConsoleNotMmio { space: 1 }));
    let b = spcr(&|t| t[36] = 0x0e);
    let uart = b.chosen.stdout.unwrap();
    assert_eq!((uart.kind, uart.pl011_base()), (UartKind::Other("arm,sbsa-uart"), None));
    assert_eq!(uart.to_string(), "arm,sbsa-uart@0x9000000");
    let b = spcr(&|t| t[36] = 0x42);
    assert_eq!(b.chosen.stdout.unwrap().kind, UartKind::Other("unknown"));
    assert!(acpi(&b).contains(&AcpiWarning::UnknownConsoleType { interface: 0x42 }));
    let b = spcr(&|t| {
        t[8] = 1; // revision 1: type 3 is not a PL011 yet
        t[36] = 0;
        t[58] = 7;
    });
    let uart = b.chosen.stdout.unwrap();
    assert_eq!((uart.kind, uart.options), (UartKind::Ns16550 { reg_shift: 0, io_width: 1 }, Some("115200")));
    // A 16550 with its access size in the GAS: 32-bit registers, 4 bytes apart.
    let b = spcr(&|t| {
        t[36] = 0x12;
        t[43] = 3;
    });
    assert_eq!(b.chosen.stdout.unwrap().kind, UartKind::Ns16550 { reg_shift: 2, io_width: 4 });
    let b = spcr(&|t| t[36] = 0x10);
    assert_eq!(b.chosen.stdout.unwrap().kind, UartKind::Bcm2835Aux);
}

#[test]
fn missing_optional_tables_are_warnings_with_fallbacks() {
    let mut image = two_nodes();
    for sig in [b"PPTT", b"GTDT", b"FACP", b"SPCR"] {
        image.unlist(sig);
    }
    let b = board(&image);
    let w = acpi(&b);
    for sig in [Signature::PPTT, Signature::GTDT, Signature::FADT, Signature::SPCR] {
        assert!(w.contains(&AcpiWarning::TableMissing(sig)), "{sig}: {w:?}");
    }
    assert_eq!((b.timer, b.psci, b.chosen.stdout), (None, None, None));
    assert!(b.cpus.iter().all(|c| c.topo == CpuTopology::UNKNOWN));
    assert_eq!(b.node_count(), 2);
    for w in b.warnings.iter() {
        assert!(!w.to_string().is_empty());
    }
}

#[test]
fn the_console_can_be_found_when_the_board_cannot() {
    let mut image = two_nodes();
    image.table_mut(b"APIC")[50] ^= 1; // bad checksum: the board is refused
    let mem = windows(&image);
    assert!(Board::from_acpi(image.rsdp, mem.as_slice()).is_err());
    let uart = crate::acpi::console(image.rsdp, mem.as_slice()).unwrap();
    assert_eq!((uart.base, uart.kind), (builder::UART_BASE, UartKind::Pl011));
    assert_eq!(crate::acpi::console(0, mem.as_slice()), None);
}

#[test]
fn every_error_and_warning_prints() {
    let kinds = [
        AcpiErrorKind::Unreadable { address: 1, len: 2 },
        AcpiErrorKind::BadLength { length: 1, min: 36 },
        AcpiErrorKind::FadtTooOld { major: 5, minor: 0 },
        AcpiErrorKind::PpttTooDeep,
        AcpiErrorKind::Board(ErrorKind::TooManyCpus { limit: 512 }),
    ];
    for k in kinds {
        assert!(!AcpiError::new(Signature::MADT, k).to_string().is_empty());
    }
    let w = Warning::Acpi(AcpiWarning::TableMissing(Signature::SRAT));
    assert_eq!(w.to_string(), "ACPI SRAT missing: one node, memory unknown");
}
