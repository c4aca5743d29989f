// SPDX-License-Identifier: MIT OR Apache-2.0
//! ACPI tables captured from QEMU 7.2 + EDK2, parsed on the host and compared with the
//! device tree QEMU gives for the same options.
//!
//! `tests/fixtures/acpi/capture.sh` made each fixture directory: the RSDP and every
//! table the XSDT lists, one file per physical address, read out of a guest's memory
//! by the UEFI Shell (`capture.py`), and `virt.dtb`, QEMU's device tree for the same
//! `-smp`/`-numa` options. The expectations are the topologies of the capture script
//! written again by hand, and the claim of `platform::acpi`: both descriptions give
//! the same board. Where ACPI says less than the device tree, the difference is named
//! in [`assert_same_board`].

mod common;
use common::node;
use std::path::Path;

use platform::acpi::Signature;
use platform::{
    AcpiWarning, Board, Conduit, CpuTopology, EnableMethod, Firmware, Gic, MemoryWindow, PhysRange,
    PsciVersion, UartKind, Warning,
};

/// Every capture, with the options it was made with (see `capture.sh`).
const FIXTURES: [&str; 9] = [
    "virt-1n1c",     // -m 256M -smp 1
    "virt-2n2c",     // -m 1G -smp 4, node0 cpus=0-1 512M, node1 cpus=2-3 512M
    "virt-4n-asym",  // 4 x (1 CPU, 256M), dist s->d = 20 + 2s + d
    "virt-memless",  // -m 512M -smp 4, node0 cpus=0-1 512M, node1 cpus=2-3, dist 30
    "virt-cpuless",  // -m 1G -smp 2, node0 cpus=0-1 512M, node1 512M
    "virt-clusters", // -m 256M -smp 4,sockets=1,clusters=2,cores=2
    "virt-el2",      // virtualization=on -m 256M -smp 2
    "virt-8n8c",     // -smp 64,sockets=2,clusters=4,cores=8; 8 x (8 CPUs, 128M), 16 / 32
    "virt-128c",     // -m 1G -smp 128, node0 cpus=0-63 512M, node1 cpus=64-127 512M
];

/// Fixtures made without `-numa`: QEMU builds no SRAT, so ACPI knows no memory.
const WITHOUT_SRAT: [&str; 3] = ["virt-1n1c", "virt-clusters", "virt-el2"];

/// One capture: memory regions (file `ADDR.bin` at `ADDR`), the RSDP's address, the DTB.
struct Fixture {
    rsdp: u64,
    regions: Vec<(u64, Vec<u8>)>,
    dtb: Vec<u8>,
}

fn fixture(name: &str) -> Fixture {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/acpi").join(name);
    let mut rsdp = None;
    let mut regions = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_str().unwrap().to_string();
        let Some(stem) = file.strip_suffix(".bin") else { continue };
        let hex = stem.strip_prefix("rsdp-");
        let address = u64::from_str_radix(hex.unwrap_or(stem), 16).unwrap();
        if hex.is_some() {
            rsdp = Some(address);
        }
        regions.push((address, std::fs::read(&path).unwrap()));
    }
    let dtb = std::fs::read(dir.join("virt.dtb")).unwrap();
    Fixture { rsdp: rsdp.expect("no rsdp-ADDR.bin"), regions, dtb }
}

/// The board from the fixture's ACPI tables, and its device tree blob.
fn parse(name: &str) -> (Board<'static>, Vec<u8>) {
    let Fixture { rsdp, regions, dtb } = fixture(name);
    let windows: Vec<MemoryWindow<'_>> =
        regions.iter().map(|(base, bytes)| MemoryWindow { base: *base, bytes }).collect();
    let board = Board::from_acpi(rsdp, windows.as_slice()).unwrap_or_else(|e| panic!("{name}: {e}"));
    (board, dtb)
}

/// Everything the kernel uses is equal, except what ACPI cannot say:
/// - PSCI version: ACPI implies 0.2 with the standard ids; QEMU's DT says 1.0. The
///   conduit and the function ids are equal.
/// - console: the same UART (`pl011@0x9000000`); the path is `SPCR` and the options
///   the SPCR's baud rate instead of the DT's `stdout-path` suffix.
/// - QEMU's DT gives a single CPU no `enable-method`; ACPI's PSCI flag covers every CPU.
/// - without `-numa` there is no SRAT, so no memory (it comes from the UEFI memory map).
fn assert_same_board(name: &str, a: &Board<'_>, d: &Board<'_>) {
    assert_eq!((a.firmware(), d.firmware()), (Firmware::Acpi, Firmware::DeviceTree));
    assert_eq!(a.cpus.len(), d.cpus.len(), "{name}");
    for (i, (x, y)) in a.cpus.iter().zip(d.cpus.iter()).enumerate() {
        assert_eq!((x.mpidr, x.node, x.topo), (y.mpidr, y.node, y.topo), "{name} cpu {i}");
        let single = d.cpus.len() == 1 && y.enable_method == EnableMethod::None;
        assert!(x.enable_method == y.enable_method || single, "{name} cpu {i}");
        assert_eq!(x.enable_method, EnableMethod::Psci, "{name} cpu {i}");
    }
    assert_eq!(a.node_set(), d.node_set(), "{name}");
    for p in a.nodes() {
        for q in a.nodes() {
            assert_eq!(a.distance(p, q), d.distance(p, q), "{name}: {p} -> {q}");
        }
    }
    assert_eq!(a.gic, d.gic, "{name}");
    assert_eq!(a.timer, d.timer, "{name}");
    let (pa, pd) = (a.psci.unwrap(), d.psci.unwrap());
    assert_eq!((pa.conduit, pa.cpu_on, pa.system_off), (pd.conduit, pd.cpu_on, pd.system_off), "{name}");
    assert_eq!((pa.version, pd.version), (PsciVersion::V0_2, PsciVersion::V1_0));
    let (ua, ud) = (a.chosen.stdout.unwrap(), d.chosen.stdout.unwrap());
    assert_eq!((ua.base, ua.kind, ua.to_string()), (ud.base, ud.kind, ud.to_string()), "{name}");
    if WITHOUT_SRAT.contains(&name) {
        assert!(a.memory.is_empty(), "{name}");
        assert_eq!(
            &a.warnings[..2],
            &[Warning::Acpi(AcpiWarning::TableMissing(Signature::SRAT)), Warning::NoMemory],
            "{name}"
        );
    } else {
        assert_eq!(a.memory, d.memory, "{name}");
        assert_eq!(a.numactl().to_string(), d.numactl().to_string(), "{name}");
        assert_eq!(a.warnings, d.warnings, "{name}");
    }
}

#[test]
fn every_capture_gives_the_device_tree_board() {
    for name in FIXTURES {
        let (a, dtb) = parse(name);
        let d = Board::from_fdt(&dtb).unwrap();
        assert_same_board(name, &a, &d);
        println!("== {name}: report: firmware table={}\n{}", a.firmware(), a.numactl());
    }
}

#[test]
fn two_nodes_of_two_cpus_and_512_mib() {
    let (b, _) = parse("virt-2n2c");
    assert_eq!(
        b.numactl().to_string(),
        "available: 2 nodes (0-1)\n\
         node 0 cpus: 0 1\nnode 0 size: 512 MB\n\
         node 1 cpus: 2 3\nnode 1 size: 512 MB\n\
         node distances:\nnode   0   1 \n  0:  10  20 \n  1:  20  10 \n"
    );
    // QEMU 7.2 writes no SLIT without -numa dist.
    assert_eq!(b.warnings.as_slice(), &[Warning::NoDistanceMap]);
    let mem: Vec<_> = b.memory.iter().map(|m| (m.range.base, m.node)).collect();
    assert_eq!(mem, [(0x4000_0000, node(0)), (0x6000_0000, node(1))]);
}

#[test]
fn four_nodes_with_an_asymmetric_slit() {
    let (b, _) = parse("virt-4n-asym");
    assert!(b.numactl().to_string().ends_with(
        "node distances:\n\
         node   0   1   2   3 \n  \
         0:  10  21  22  23 \n  \
         1:  22  10  24  25 \n  \
         2:  24  25  10  27 \n  \
         3:  26  27  28  10 \n"
    ));
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
}

#[test]
fn a_memory_less_node_and_a_cpu_less_node() {
    let (b, _) = parse("virt-memless");
    assert!(b.numactl().to_string().contains("node 1 cpus: 2 3\nnode 1 size: 0 MB\n"));
    assert_eq!(b.distance(node(0), node(1)), 30);
    let (b, _) = parse("virt-cpuless");
    assert!(b.numactl().to_string().contains("node 1 cpus:\nnode 1 size: 512 MB\n"));
}

#[test]
fn pptt_clusters_are_the_cpu_map_clusters() {
    let (b, _) = parse("virt-clusters");
    let topo = |socket, cluster, core| CpuTopology {
        socket: Some(socket),
        cluster: Some(cluster),
        core: Some(core),
        thread: None,
    };
    let got: Vec<_> = b.cpus.iter().map(|c| c.topo).collect();
    assert_eq!(got, [topo(0, 0, 0), topo(0, 0, 1), topo(0, 1, 0), topo(0, 1, 1)]);
}

#[test]
fn eight_nodes_of_eight_cpus_in_two_sockets() {
    let (b, _) = parse("virt-8n8c");
    assert_eq!((b.cpus.len(), b.node_count()), (64, 8));
    for (i, cpu) in b.cpus.iter().enumerate() {
        assert_eq!(cpu.node, node(i as u32 / 8), "cpu {i}");
        assert_eq!(cpu.topo.socket, Some(i as u16 / 32), "cpu {i}");
        assert_eq!(cpu.topo.cluster, Some(i as u16 / 8), "cpu {i}");
    }
    assert_eq!((b.distance(node(0), node(3)), b.distance(node(3), node(4))), (16, 32));
    assert_eq!(b.node_memory_bytes(node(7)), 128 << 20);
}

#[test]
fn beyond_123_cpus_a_second_redistributor_region() {
    let (b, _) = parse("virt-128c");
    assert_eq!(b.cpus.len(), 128);
    assert_eq!(b.cpus[127].mpidr, 0x70f);
    let Some(Gic::V3 { distributor, redistributors }) = b.gic else { panic!("{:?}", b.gic) };
    assert_eq!(distributor, PhysRange { base: 0x0800_0000, size: 0x1_0000 });
    assert_eq!(
        redistributors.as_slice(),
        &[
            PhysRange { base: 0x080a_0000, size: 0xf6_0000 },
            PhysRange { base: 0x40_0000_0000, size: 0x400_0000 },
        ]
    );
}

#[test]
fn firmware_facts_of_qemu_virt() {
    let (b, _) = parse("virt-1n1c");
    let t = b.timer.unwrap();
    assert_eq!(
        (t.secure_phys_ppi, t.phys_ppi, t.virt_ppi, t.hyp_ppi),
        (Some(13), Some(14), Some(11), Some(10))
    );
    assert_eq!(t.clock_frequency, None);
    let uart = b.chosen.stdout.unwrap();
    assert_eq!(
        (uart.base, uart.kind, uart.path, uart.options),
        (0x0900_0000, UartKind::Pl011, "SPCR", Some("9600"))
    );
    assert_eq!(b.psci.unwrap().conduit, Conduit::Hvc);
    let (b, _) = parse("virt-el2");
    assert_eq!(b.psci.unwrap().conduit, Conduit::Smc);
}
