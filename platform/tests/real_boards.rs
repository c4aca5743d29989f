// SPDX-License-Identifier: MIT OR Apache-2.0
//! Real boards: device trees compiled from Linux's own sources, parsed on the host.
//!
//! These blobs were written by people who never saw this parser, so they catch the
//! assumptions a hand-made fixture shares with the code. The expected values below
//! were worked out by reading each tree with `dtc -I dtb -O dts` (never by running this
//! parser); the comments say where each number comes from. The blobs live in the
//! repository's `platform/tests/fixtures/dtb/` (origin, licences and checksums in its README).

use platform::{
    Board, Cluster, Conduit, EnableMethod, ErrorKind, Gic, NodeId, PhysRange, PsciVersion, UartKind, Warning,
};

fn blob(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/dtb/{name}.dtb", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn node(raw: u32) -> NodeId {
    NodeId::new(raw).unwrap()
}

fn range(base: u64, size: u64) -> PhysRange {
    PhysRange { base, size }
}

/// `0 1 2 ... n-1` as numactl writes a CPU list.
fn cpu_list(from: usize, to: usize) -> String {
    (from..to).map(|c| format!(" {c}")).collect()
}

#[test]
fn hip07_d05_has_four_nodes_and_its_distance_map() {
    let data = blob("hip07-d05");
    let b = Board::from_fdt(&data).unwrap();
    // 64 cpu@ nodes: numa-node-id 0 for cpu@10000..10303, 1 for 30000.., 2 for 50000..,
    // 3 for 70000..; one memory@0 of 1 GiB on node 0; distance-matrix as written.
    let expected = "available: 4 nodes (0-3)\n\
        node 0 cpus: 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n\
        node 0 size: 1024 MB\n\
        node 1 cpus: 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31\n\
        node 1 size: 0 MB\n\
        node 2 cpus: 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47\n\
        node 2 size: 0 MB\n\
        node 3 cpus: 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63\n\
        node 3 size: 0 MB\n\
        node distances:\n\
        node   0   1   2   3 \n  \
        0:  10  15  20  25 \n  \
        1:  15  10  25  30 \n  \
        2:  20  25  10  15 \n  \
        3:  25  30  15  10 \n";
    assert_eq!(b.numactl().to_string(), expected);
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
    assert_eq!(b.cpus[17].mpidr, 0x30001);
    assert_eq!(b.cpu_index_by_mpidr(0x70303), Some(63));
    // cpu-map: cluster0..cluster15, four cores each, in cpu order.
    assert_eq!(b.cluster_of(0), Some(Cluster { socket: 0, id: 0 }));
    assert_eq!(b.cluster_of(5), Some(Cluster { socket: 0, id: 1 }));
    assert_eq!(b.cluster_of(63), Some(Cluster { socket: 0, id: 15 }));
    assert_eq!(b.cpus[62].topo.core, Some(2));
    // GICv3 with #redistributor-regions = 4.
    let Some(Gic::V3 { distributor, redistributors }) = b.gic else { panic!("{:?}", b.gic) };
    assert_eq!(distributor, range(0x4d00_0000, 0x1_0000));
    assert_eq!(
        redistributors.as_slice(),
        &[
            range(0x4d10_0000, 0x40_0000),
            range(0x6d10_0000, 0x40_0000),
            range(0x400_4d10_0000, 0x40_0000),
            range(0x400_6d10_0000, 0x40_0000),
        ]
    );
    let psci = b.psci.unwrap();
    assert_eq!((psci.conduit, psci.version), (Conduit::Smc, PsciVersion::V0_2));
    // stdout-path = "serial0:115200n8", serial0 = "/soc/serial@602b0000" (arm,sbsa-uart).
    let uart = b.chosen.stdout.unwrap();
    assert_eq!(uart.base, 0x602b_0000);
    assert_eq!(uart.kind, UartKind::Other("arm,sbsa-uart"));
    assert_eq!(uart.options, Some("115200n8"));
    let t = b.timer.unwrap();
    assert_eq!(
        [t.secure_phys_ppi, t.phys_ppi, t.virt_ppi, t.hyp_ppi],
        [Some(13), Some(14), Some(11), Some(10)]
    );
}

#[test]
fn thunder_88xx_is_one_node_of_48_cpus() {
    let data = blob("thunder-88xx");
    let b = Board::from_fdt(&data).unwrap();
    // 48 cpu@ nodes, no numa-node-id, memory@0 of 0x80000000, no distance map.
    let expected = format!(
        "available: 1 nodes (0)\nnode 0 cpus:{}\nnode 0 size: 2048 MB\n\
         node distances:\nnode   0 \n  0:  10 \n",
        cpu_list(0, 48)
    );
    assert_eq!(b.numactl().to_string(), expected);
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
    assert_eq!(b.cpus[16].mpidr, 0x100);
    assert_eq!(b.cpus[47].mpidr, 0x20f);
    assert_eq!(b.cluster_of(0), None); // no cpu-map
    assert!(b.cpus.iter().all(|c| c.enable_method == EnableMethod::Psci));
    // GIC under /soc (ranges;): reg <0x8010 0 0 0x10000 0x8010 0x80000000 0 0x600000>.
    let Some(Gic::V3 { distributor, redistributors }) = b.gic else { panic!("{:?}", b.gic) };
    assert_eq!(distributor, range(0x8010_0000_0000, 0x1_0000));
    assert_eq!(redistributors.as_slice(), &[range(0x8010_8000_0000, 0x60_0000)]);
    assert_eq!(b.chosen.stdout, None); // no /chosen
}

#[test]
fn thunder2_99xx_is_one_node_with_two_memory_ranges() {
    let data = blob("thunder2-99xx");
    let b = Board::from_fdt(&data).unwrap();
    // memory@80000000: <0 0x80000000 0 0x80000000 8 0x80000000 0 0x80000000>.
    let expected = "available: 1 nodes (0)\nnode 0 cpus: 0 1 2 3\nnode 0 size: 4096 MB\n\
                    node distances:\nnode   0 \n  0:  10 \n";
    assert_eq!(b.numactl().to_string(), expected);
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
    let bases: Vec<_> = b.memory.iter().map(|m| (m.range, m.node)).collect();
    assert_eq!(
        bases,
        [(range(0x8000_0000, 0x8000_0000), node(0)), (range(0x8_8000_0000, 0x8000_0000), node(0))]
    );
    let uart = b.chosen.stdout.unwrap();
    assert_eq!((uart.base, uart.kind), (0x4_0202_0000, UartKind::Pl011));
    assert_eq!(uart.path, "/soc/serial@402020000");
}

#[test]
fn juno_has_two_clusters_and_a_gic_v2() {
    let data = blob("juno");
    let b = Board::from_fdt(&data).unwrap();
    // memory@80000000: 0x7f000000 (2032 MiB) + 0x1_8000_0000 (6144 MiB).
    let expected = "available: 1 nodes (0)\nnode 0 cpus: 0 1 2 3 4 5\nnode 0 size: 8176 MB\n\
                    node distances:\nnode   0 \n  0:  10 \n";
    assert_eq!(b.numactl().to_string(), expected);
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
    // cpu-map: cluster0 = cpu@0, cpu@1 (A57); cluster1 = cpu@100..cpu@103 (A53).
    let clusters: Vec<_> = (0..6).map(|c| b.cluster_of(c).unwrap().id).collect();
    assert_eq!(clusters, [0, 0, 1, 1, 1, 1]);
    let cores: Vec<_> = b.cpus.iter().map(|c| c.topo.core.unwrap()).collect();
    assert_eq!(cores, [0, 1, 0, 1, 2, 3]);
    assert_eq!(b.cpus[2].mpidr, 0x100);
    assert_eq!(
        b.gic,
        Some(Gic::V2 { distributor: range(0x2c01_0000, 0x1000), cpu_interface: range(0x2c02_f000, 0x2000) })
    );
    let uart = b.chosen.stdout.unwrap();
    assert_eq!((uart.base, uart.kind), (0x7ff8_0000, UartKind::Pl011));
}

#[test]
fn rk3399_rock_pi_4b_has_no_memory_node_and_says_so() {
    let data = blob("rk3399-rock-pi-4b");
    let b = Board::from_fdt(&data).unwrap();
    // No device_type = "memory" node (U-Boot adds it at boot): 0 MB and a warning.
    let expected = "available: 1 nodes (0)\nnode 0 cpus: 0 1 2 3 4 5\nnode 0 size: 0 MB\n\
                    node distances:\nnode   0 \n  0:  10 \n";
    assert_eq!(b.numactl().to_string(), expected);
    assert_eq!(b.warnings.as_slice(), &[Warning::NoMemory]);
    // cpu-map: cluster0 = cpu@0..cpu@3, cluster1 = cpu@100, cpu@101.
    let clusters: Vec<_> = (0..6).map(|c| b.cluster_of(c).unwrap().id).collect();
    assert_eq!(clusters, [0, 0, 0, 0, 1, 1]);
    let psci = b.psci.unwrap();
    assert_eq!((psci.conduit, psci.version), (Conduit::Smc, PsciVersion::V1_0));
    // stdout-path = "serial2:1500000n8" -> /serial@ff1a0000, a DesignWare UART
    // (`rockchip,rk3399-uart`, `snps,dw-apb-uart`): 32-bit registers 4 bytes apart.
    let uart = b.chosen.stdout.unwrap();
    assert_eq!(uart.base, 0xff1a_0000);
    assert_eq!(uart.kind, UartKind::Ns16550 { reg_shift: 2, io_width: 4 });
    assert_eq!(uart.options, Some("1500000n8"));
    // GIC with 4 interrupt cells; the timer's PPIs are still the second cell.
    let Some(Gic::V3 { distributor, redistributors }) = b.gic else { panic!("{:?}", b.gic) };
    assert_eq!(distributor, range(0xfee0_0000, 0x1_0000));
    assert_eq!(redistributors.as_slice(), &[range(0xfef0_0000, 0xc_0000)]);
    let t = b.timer.unwrap();
    assert_eq!(
        [t.secure_phys_ppi, t.phys_ppi, t.virt_ppi, t.hyp_ppi],
        [Some(13), Some(14), Some(11), Some(10)]
    );
}

#[test]
fn sg2042_is_refused_as_risc_v() {
    let data = blob("sg2042-milkv-pioneer");
    let e = Board::from_fdt(&data).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotArm64);
    assert!(e.node_path().starts_with("/cpus/cpu@"), "{e}");
}
