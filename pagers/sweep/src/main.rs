// SPDX-License-Identifier: MIT OR Apache-2.0
//! `sweep`: the evaluation's sweep, as an ordinary NUMA program.
//!
//! One thread per CPU (`Threads::PerCpu(1)`), up to `numa::workload::MAX_RANKS` of
//! them working. Each reads and writes [`numa::workload::SWEEP_PAGES`] pages of the
//! global region `sweep` (first touch), of which the first `share` percent are a pool
//! every thread uses and the rest its own (`numa::workload::sweep`). What that costs in
//! page faults is known in advance: a page is missed once by each node whose threads
//! touch it (per-node spaces), or once in all (one space, `mode=single-space`); the
//! program works the prediction out ([`predicted_misses`]) and tells the runtime
//! (`Note::ExpectedMisses`), which checks it against the misses it counted on the
//! region. Each thread's result is checked against `numa::workload::sweep_expected`.
//!
//! Arguments (its manifest line): `share=PERCENT sweep-rounds=N` (`numa::workload::Params`),
//! beside the runtime's own (`mode=single-space`, `replicate=off`). It prints
//! `report: sweep ranks= share= shared-pages= rounds= predicted= result=ok|wrong`.
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

use numa::workload::{Layout, MAX_RANKS, SWEEP_PAGES};
use numa_rt::{DeclRegion, Declaration, Kind, Policy, Threads};

/// Where the sweep's pages are.
const SWEEP: u64 = 0x1000_0000_0000;
/// The workload's layout (the sweep only).
#[cfg_attr(
    not(all(target_arch = "aarch64", target_os = "none")),
    allow(dead_code, reason = "host: the workers run on the target")
)]
const LAYOUT: Layout = Layout { sweep: SWEEP, grid: 0 };

numa_rt::program!(
    Declaration::new().threads(Threads::PerCpu(1)).region(DeclRegion::new(
        "sweep",
        SWEEP,
        Layout::SWEEP_REGION_PAGES,
        Kind::Global(Policy::FirstTouch)
    )),
    sweep
);

/// The table misses the sweep takes on its region: with per-node spaces, each node
/// misses each page its working threads touch once (the shared pool once per node,
/// private pages once); with one space, every page once. `node_of_rank[r]` is the node
/// of rank `r`'s CPU.
pub fn predicted_misses(node_of_rank: &[u16], shared: u64, single_space: bool) -> u64 {
    let working = &node_of_rank[..node_of_rank.len().min(MAX_RANKS as usize)];
    let private = working.len() as u64 * (SWEEP_PAGES - shared);
    let pool_users = if single_space {
        u64::from(!working.is_empty())
    } else {
        let mut nodes: [bool; 64] = [false; 64];
        for &n in working {
            nodes[usize::from(n).min(63)] = true;
        }
        nodes.iter().filter(|&&b| b).count() as u64
    };
    private + if shared > 0 { pool_users * shared } else { 0 }
}

/// Each working rank's node (global data: rank 0 reads them all for the prediction).
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
static NODES: [core::sync::atomic::AtomicU16; MAX_RANKS as usize] =
    [const { core::sync::atomic::AtomicU16::new(0) }; MAX_RANKS as usize];

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
fn sweep(ctx: &numa_rt::Context) -> u64 {
    use core::sync::atomic::Ordering;
    use numa::workload;
    use numa_rt::Note;

    let Some(params) = numa_rt::workload_params("sweep", ctx) else { return 1 };
    let (rank, ranks) = (ctx.rank(), ctx.ranks());
    let shared = params.shared_pages();
    if let Some(n) = NODES.get(rank as usize) {
        n.store(numa_rt::node(), Ordering::Relaxed);
    }
    let _ = numa_rt::barrier(1, ranks);
    // SAFETY: the sweep touches only its region's words, each by one rank.
    let mut mem = unsafe { numa_rt::Mapped::new() };
    let ok = if rank < MAX_RANKS {
        workload::sweep(&mut mem, &LAYOUT, rank, shared, params.sweep_rounds)
            == workload::sweep_expected(rank, params.sweep_rounds)
    } else {
        true
    };
    if !ok {
        numa_rt::note(Note::Failed, 1);
    }
    let _ = numa_rt::barrier(2, ranks);
    if rank == 0 {
        let mut nodes = [0u16; MAX_RANKS as usize];
        let working = ranks.min(MAX_RANKS) as usize;
        for (slot, node) in nodes.iter_mut().zip(&NODES).take(working) {
            *slot = node.load(Ordering::Relaxed);
        }
        let predicted = predicted_misses(&nodes[..working], shared, numa_rt::single_space());
        numa_rt::note(Note::ExpectedMisses, predicted);
        rt::println!(
            "{}",
            report::line!("sweep",
                "ranks" => ranks,
                "share" => params.share,
                "shared-pages" => shared,
                "rounds" => params.sweep_rounds,
                "predicted" => predicted,
                "result" => if ok { "ok" } else { "wrong" },
            )
        );
    }
    u64::from(!ok)
}

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn sweep(_ctx: &numa_rt::Context) -> u64 {
    unreachable!("the host build only type-checks the entry")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prediction_counts_each_node_once_per_shared_page() {
        // Four ranks on two nodes, 4 of 16 pages shared.
        let nodes = [0, 0, 1, 1];
        assert_eq!(predicted_misses(&nodes, 4, false), 4 * 12 + 2 * 4);
        assert_eq!(predicted_misses(&nodes, 4, true), 4 * 12 + 4);
        assert_eq!(predicted_misses(&nodes, 0, false), 4 * 16);
        assert_eq!(predicted_misses(&nodes, 16, false), 2 * 16, "everything shared");
        // Only MAX_RANKS ranks work.
        let many = [0u16; 20];
        assert_eq!(predicted_misses(&many, 0, false), MAX_RANKS * 16);
    }
}
