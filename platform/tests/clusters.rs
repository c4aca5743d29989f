// SPDX-License-Identifier: MIT OR Apache-2.0
//! `numa=clusters` on real boards: each `cpu-map` cluster becomes a NUMA node.
//!
//! The boards are Linux's device trees (from `platform/tests/fixtures/dtb/`, see its README
//! for their origin) and one QEMU fixture. As in `real_boards.rs`, every expected number was worked
//! out by reading the tree with `dtc -I dtb -O dts`, then applying the rules in
//! `platform::board`'s module docs by hand (the comments show the arithmetic), never by
//! running this code.

use platform::board::{NUMA_CLUSTERS_WORD, NumaFromClusters, numa_clusters_requested};
use platform::{Board, NodeId, Warning};

fn blob(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/dtb/{name}.dtb", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}.dtb", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `(base, size, node)` of every memory range.
fn memory(b: &Board<'_>) -> Vec<(u64, u64, u32)> {
    b.memory.iter().map(|m| (m.range.base, m.range.size, m.node.raw())).collect()
}

const MIB: u64 = 1 << 20;

#[test]
fn juno_becomes_two_nodes_of_its_a57_and_a53_clusters() {
    let data = blob("juno");
    let mut b = Board::from_fdt(&data).unwrap();
    assert_eq!(b.numa_from_clusters(), Ok(NumaFromClusters::Applied { nodes: 2 }));
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
    // cpu-map: cluster0 = cpu@0, cpu@1 (A57); cluster1 = cpu@100..cpu@103 (A53).
    // memory@80000000: 0x7f000000 (2032 MiB) + 0x1_8000_0000 (6144 MiB) = 8176 MiB;
    // 8176 / 2 = 4088 MiB, already a multiple of 2 MiB. Node 0 takes all of the first
    // range and 4088 - 2032 = 2056 MiB (0x8080_0000) of the second; node 1 the rest.
    let expected = "available: 2 nodes (0-1)\n\
        node 0 cpus: 0 1\n\
        node 0 size: 4088 MB\n\
        node 1 cpus: 2 3 4 5\n\
        node 1 size: 4088 MB\n\
        node distances:\n\
        node   0   1 \n  \
        0:  10  20 \n  \
        1:  20  10 \n";
    assert_eq!(b.numactl().to_string(), expected);
    assert_eq!(
        memory(&b),
        [(0x8000_0000, 0x7f00_0000, 0), (0x8_8000_0000, 0x8080_0000, 0), (0x9_0080_0000, 0xff80_0000, 1),]
    );
}

#[test]
fn rk3399_becomes_big_and_little_nodes_without_memory() {
    let data = blob("rk3399-rock-pi-4b");
    let mut b = Board::from_fdt(&data).unwrap();
    assert_eq!(b.numa_from_clusters(), Ok(NumaFromClusters::Applied { nodes: 2 }));
    // cpu-map: cluster0 = cpu@0..cpu@3 (A53), cluster1 = cpu@100, cpu@101 (A72). No
    // memory node (U-Boot adds one at boot): both nodes 0 MB, and only that warning.
    let expected = "available: 2 nodes (0-1)\n\
        node 0 cpus: 0 1 2 3\n\
        node 0 size: 0 MB\n\
        node 1 cpus: 4 5\n\
        node 1 size: 0 MB\n\
        node distances:\n\
        node   0   1 \n  \
        0:  10  20 \n  \
        1:  20  10 \n";
    assert_eq!(b.numactl().to_string(), expected);
    assert_eq!(b.warnings.as_slice(), &[Warning::NoMemory]);
    assert!(b.memory.is_empty());
}

#[test]
fn qemu_smp_clusters_become_two_nodes_of_128_mb() {
    // -m 256M -smp 4,sockets=1,clusters=2,cores=2: memory@40000000 of 0x1000_0000;
    // cluster0 = cpu@0, cpu@1, cluster1 = cpu@2, cpu@3; 128 MiB each.
    let data = fixture("virt-clusters");
    let mut b = Board::from_fdt(&data).unwrap();
    assert_eq!(b.numa_from_clusters(), Ok(NumaFromClusters::Applied { nodes: 2 }));
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
    let expected = "available: 2 nodes (0-1)\n\
        node 0 cpus: 0 1\n\
        node 0 size: 128 MB\n\
        node 1 cpus: 2 3\n\
        node 1 size: 128 MB\n\
        node distances:\n\
        node   0   1 \n  \
        0:  10  20 \n  \
        1:  20  10 \n";
    assert_eq!(b.numactl().to_string(), expected);
    assert_eq!(memory(&b), [(0x4000_0000, 128 * MIB, 0), (0x4800_0000, 128 * MIB, 1)]);
    // QEMU wrote no bootargs into the dump: the kernel would not have asked.
    assert!(!numa_clusters_requested(b.chosen.bootargs));
}

#[test]
fn hip07_d05_keeps_its_four_nodes_and_warns() {
    // numa-node-id on every cpu@ and on memory@0: the tree's NUMA data wins, although
    // its cpu-map has 16 clusters.
    let data = blob("hip07-d05");
    let mut b = Board::from_fdt(&data).unwrap();
    let before = b.numactl().to_string();
    let reason = Warning::ClustersIgnoredNumaPresent;
    assert_eq!(b.numa_from_clusters(), Ok(NumaFromClusters::Skipped { reason }));
    assert_eq!(b.numactl().to_string(), before);
    assert!(before.starts_with("available: 4 nodes (0-3)\n"), "{before}");
    assert_eq!(b.warnings.as_slice(), &[reason]);
    assert_eq!(b.cpus[16].node, NodeId::new(1).unwrap());
}

#[test]
fn thunder_88xx_without_a_cpu_map_stays_one_node_and_warns() {
    // 48 cpu@ nodes, no cpu-map, no numa-node-id; memory@0 of 2 GiB.
    let data = blob("thunder-88xx");
    let mut b = Board::from_fdt(&data).unwrap();
    let reason = Warning::ClustersIgnoredNoCpuMap;
    assert_eq!(b.numa_from_clusters(), Ok(NumaFromClusters::Skipped { reason }));
    assert_eq!(b.warnings.as_slice(), &[reason]);
    assert_eq!(b.node_count(), 1);
    assert_eq!(memory(&b), [(0, 2048 * MIB, 0)]);
}

#[test]
fn only_the_whole_word_asks_for_clusters() {
    assert_eq!(NUMA_CLUSTERS_WORD, "numa=clusters");
    assert!(numa_clusters_requested("console=ttyAMA0 numa=clusters"));
    assert!(numa_clusters_requested("numa=clusters\nexit=semihosting"));
    for no in ["xnuma=clusters", "numa=clustersx", "numa=clusters,x", "numa=fake", "numa = clusters"] {
        assert!(!numa_clusters_requested(no), "{no}");
    }
}
