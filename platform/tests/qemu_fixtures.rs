// SPDX-License-Identifier: MIT OR Apache-2.0
//! QEMU `virt` device trees for several topologies, parsed on the host.
//!
//! `scripts/dump-dtbs` made each fixture by asking QEMU 7.2 for the DTB it would give a
//! guest with the `-smp`/`-numa` options noted above each test. The expectations are
//! that topology, written again here by hand: if the parser and QEMU disagree about
//! what `-numa node,cpus=2-3` means, a test fails.

mod common;
use common::node;
use platform::{Board, Cluster, Conduit, Gic, PhysRange, PsciVersion, UartKind, Warning};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}.dtb", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn one_cpu_without_numa_options_is_node_zero() {
    // -m 256M -smp 1
    let data = fixture("virt-1n1c");
    let b = Board::from_fdt(&data).unwrap();
    assert_eq!(
        b.numactl().to_string(),
        "available: 1 nodes (0)\nnode 0 cpus: 0\nnode 0 size: 256 MB\n\
         node distances:\nnode   0 \n  0:  10 \n"
    );
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
    assert_eq!(b.memory[0].range, PhysRange { base: 0x4000_0000, size: 256 << 20 });
    // virt's fixed map: GICD 0x0800_0000, GICR 0x080a_0000, PL011 0x0900_0000.
    let Some(Gic::V3 { distributor, redistributors }) = b.gic else { panic!("{:?}", b.gic) };
    assert_eq!(distributor.base, 0x0800_0000);
    assert_eq!(redistributors[0].base, 0x080a_0000);
    let uart = b.chosen.stdout.unwrap();
    assert_eq!((uart.base, uart.kind, uart.options), (0x0900_0000, UartKind::Pl011, None));
    let psci = b.psci.unwrap();
    assert_eq!((psci.conduit, psci.version), (Conduit::Hvc, PsciVersion::V1_0));
    assert_eq!((psci.cpu_on, psci.system_off), (0xC400_0003, Some(0x8400_0008)));
}

#[test]
fn two_nodes_of_two_cpus_and_512_mib() {
    // -m 1G -smp 4, node0 cpus=0-1 512M, node1 cpus=2-3 512M, no -numa dist.
    let data = fixture("virt-2n2c");
    let b = Board::from_fdt(&data).unwrap();
    assert_eq!(
        b.numactl().to_string(),
        "available: 2 nodes (0-1)\n\
         node 0 cpus: 0 1\nnode 0 size: 512 MB\n\
         node 1 cpus: 2 3\nnode 1 size: 512 MB\n\
         node distances:\nnode   0   1 \n  0:  10  20 \n  1:  20  10 \n"
    );
    assert_eq!(b.warnings.as_slice(), &[Warning::NoDistanceMap]);
    // QEMU lays node memory out from 0x4000_0000 in node order (and writes the memory
    // nodes in reverse order, so this also checks the sort).
    let mem: Vec<_> = b.memory.iter().map(|m| (m.range.base, m.node)).collect();
    assert_eq!(mem, [(0x4000_0000, node(0)), (0x6000_0000, node(1))]);
}

#[test]
fn four_nodes_with_asymmetric_distances() {
    // 4 nodes, cpu i and 256M on node i; -numa dist src=s,dst=d,val=20+2s+d for s != d.
    let data = fixture("virt-4n-asym");
    let b = Board::from_fdt(&data).unwrap();
    assert_eq!(
        b.numactl().to_string(),
        "available: 4 nodes (0-3)\n\
         node 0 cpus: 0\nnode 0 size: 256 MB\n\
         node 1 cpus: 1\nnode 1 size: 256 MB\n\
         node 2 cpus: 2\nnode 2 size: 256 MB\n\
         node 3 cpus: 3\nnode 3 size: 256 MB\n\
         node distances:\n\
         node   0   1   2   3 \n  \
         0:  10  21  22  23 \n  \
         1:  22  10  24  25 \n  \
         2:  24  25  10  27 \n  \
         3:  26  27  28  10 \n"
    );
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
}

#[test]
fn a_memory_less_node_has_cpus_and_zero_size() {
    // -m 512M -smp 4, node0 cpus=0-1 512M, node1 cpus=2-3 (no memdev), dist 0->1 = 30.
    let data = fixture("virt-memless");
    let b = Board::from_fdt(&data).unwrap();
    assert_eq!(
        b.numactl().to_string(),
        "available: 2 nodes (0-1)\n\
         node 0 cpus: 0 1\nnode 0 size: 512 MB\n\
         node 1 cpus: 2 3\nnode 1 size: 0 MB\n\
         node distances:\nnode   0   1 \n  0:  10  30 \n  1:  30  10 \n"
    );
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
}

#[test]
fn a_cpu_less_node_has_memory_and_no_cpus() {
    // -m 1G -smp 2, node0 cpus=0-1 512M, node1 512M without cpus.
    let data = fixture("virt-cpuless");
    let b = Board::from_fdt(&data).unwrap();
    assert_eq!(
        b.numactl().to_string(),
        "available: 2 nodes (0-1)\n\
         node 0 cpus: 0 1\nnode 0 size: 512 MB\n\
         node 1 cpus:\nnode 1 size: 512 MB\n\
         node distances:\nnode   0   1 \n  0:  10  20 \n  1:  20  10 \n"
    );
    assert_eq!(b.node_cpus(node(1)).count(), 0);
}

#[test]
fn smp_clusters_become_cpu_map_clusters() {
    // -smp 4,sockets=1,clusters=2,cores=2, no NUMA.
    let data = fixture("virt-clusters");
    let b = Board::from_fdt(&data).unwrap();
    assert_eq!(b.node_count(), 1);
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
    let clusters: Vec<_> = (0..4).map(|c| b.cluster_of(c).unwrap()).collect();
    let c = |id| Cluster { socket: 0, id };
    assert_eq!(clusters, [c(0), c(0), c(1), c(1)]);
    let cores: Vec<_> = b.cpus.iter().map(|c| c.topo.core.unwrap()).collect();
    assert_eq!(cores, [0, 1, 0, 1]);
}

#[test]
fn virtualization_on_switches_psci_to_smc() {
    // -M virt,virtualization=on -smp 2.
    let data = fixture("virt-el2");
    let b = Board::from_fdt(&data).unwrap();
    assert_eq!(b.psci.unwrap().conduit, Conduit::Smc);
    assert_eq!(b.cpus.len(), 2);
}
