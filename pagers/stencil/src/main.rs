// SPDX-License-Identifier: MIT OR Apache-2.0
//! `stencil`: the evaluation's stencil, as an ordinary NUMA program.
//!
//! One thread per CPU (`Threads::PerCpu(1)`), up to `numa::workload::MAX_RANKS` of them
//! working: a one-dimensional Jacobi stencil (`numa::workload::stencil_step`) over a
//! grid cut into one slab per rank, double buffered, in the global region `grid`
//! (first touch). Each rank first-touches its own slab, so its frames are on its node;
//! only the edge cells of its neighbours' slabs are read across nodes: the sharing of a
//! real domain decomposition. The ranks meet at a barrier between steps.
//!
//! Two things are checked, neither taken on trust: every rank's final sum against the
//! same computation done in one place by rank 0 (`numa::workload::stencil_reference`,
//! over a heap buffer), and the page faults: the program predicts which pages each
//! node touches ([`touched_pages`], [`predicted_misses`]) and tells the runtime
//! (`Note::ExpectedMisses`), which compares it with the misses it counted on `grid`.
//!
//! Arguments (its manifest line): `stencil-iters=N` (`numa::workload::Params`), beside
//! the runtime's own (`mode=single-space`, `replicate=off`). It prints
//! `report: stencil ranks= steps= predicted= sums= result=ok|wrong`, `sums` each working
//! rank's final sum (`a/b/..`), which `scripts/bench` recomputes on the host.
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

extern crate alloc;

use alloc::collections::BTreeSet;
use numa::workload::{Layout, MAX_RANKS, STENCIL_CELLS};
use numa_rt::{DeclRegion, Declaration, Kind, Policy, Threads};

/// Where the grids are.
const GRID: u64 = 0x2000_0000_0000;
/// The workload's layout (the stencil only).
#[cfg_attr(
    not(all(target_arch = "aarch64", target_os = "none")),
    allow(dead_code, reason = "host: the workers run on the target")
)]
const LAYOUT: Layout = Layout { sweep: 0, grid: GRID };
/// Pages of one slab of one grid.
const SLAB_PAGES: u64 = STENCIL_CELLS * 8 / 0x1000;

numa_rt::program!(
    Declaration::new().threads(Threads::PerCpu(1)).region(DeclRegion::new(
        "grid",
        GRID,
        Layout::GRID_REGION_PAGES,
        Kind::Global(Policy::FirstTouch)
    )),
    stencil
);

/// The pages (indices from [`GRID`]) rank `rank` of `ranks` touches in `steps` steps:
/// its slab in both grids (the initialisation writes both), and the neighbours' edge
/// pages of each grid it reads (grid 0 from the first step, grid 1 from the second).
pub fn touched_pages(ranks: u64, rank: u64, steps: u64) -> impl Iterator<Item = u64> {
    let page_of = move |g: u64, cell: u64| (g * ranks * STENCIL_CELLS + cell) * 8 / 0x1000;
    let own = (0..2).flat_map(move |g| {
        let first = page_of(g, rank * STENCIL_CELLS);
        first..first + SLAB_PAGES
    });
    let edges = (0..steps.min(2)).flat_map(move |g| {
        let left = (rank > 0).then(|| page_of(g, rank * STENCIL_CELLS - 1));
        let right = (rank + 1 < ranks).then(|| page_of(g, (rank + 1) * STENCIL_CELLS));
        left.into_iter().chain(right)
    });
    own.chain(edges)
}

/// The table misses the stencil takes on `grid`: with per-node spaces, each node once
/// for each page its ranks touch; with one space, each page touched once.
/// `node_of_rank[r]` is rank `r`'s node; only the first [`MAX_RANKS`] work.
pub fn predicted_misses(node_of_rank: &[u16], steps: u64, single_space: bool) -> u64 {
    let working = &node_of_rank[..node_of_rank.len().min(MAX_RANKS as usize)];
    let ranks = working.len() as u64;
    let mut seen = BTreeSet::new();
    for (rank, &node) in working.iter().enumerate() {
        let space = if single_space { 0 } else { node };
        seen.extend(touched_pages(ranks, rank as u64, steps).map(|p| (space, p)));
    }
    seen.len() as u64
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod target {
    use super::*;
    use core::sync::atomic::{AtomicU16, AtomicU64, Ordering};
    use numa::workload::{self, Words};
    use numa_rt::Note;

    /// Each working rank's final sum and node (global data: every node sees them).
    static SUMS: [AtomicU64; MAX_RANKS as usize] = [const { AtomicU64::new(0) }; MAX_RANKS as usize];
    static NODES: [AtomicU16; MAX_RANKS as usize] = [const { AtomicU16::new(0) }; MAX_RANKS as usize];

    pub fn stencil(ctx: &numa_rt::Context) -> u64 {
        let Some(params) = numa_rt::workload_params("stencil", ctx) else { return 1 };
        // SAFETY: the stencil touches only the grid's words; each cell has one writer
        // per step, read by a neighbour only after the barrier that ends the step.
        let mut mem = unsafe { numa_rt::Mapped::new() };
        let (rank, ranks) = (ctx.rank(), ctx.ranks());
        let working = ranks.min(MAX_RANKS);
        let steps = params.stencil_steps;
        let works = rank < working;
        if works {
            NODES[rank as usize].store(numa_rt::node(), Ordering::Relaxed);
            workload::stencil_init(&mut mem, &LAYOUT, working, rank);
        }
        let _ = numa_rt::barrier(0, ranks);
        for step in 0..steps {
            if works {
                let sum = workload::stencil_step(&mut mem, &LAYOUT, working, rank, step);
                SUMS[rank as usize].store(sum, Ordering::Relaxed);
            }
            let _ = numa_rt::barrier(1 + step, ranks);
        }
        if rank != 0 {
            return 0;
        }
        // The same computation in one place, over a heap buffer of two grids.
        let cells = (2 * working * STENCIL_CELLS) as usize;
        let mut words = alloc::vec![0u64; cells];
        let reference = workload::stencil_reference(
            &mut Words { base: GRID, words: &mut words },
            &LAYOUT,
            working,
            steps,
        );
        let ok = (0..working as usize).all(|r| steps == 0 || SUMS[r].load(Ordering::Relaxed) == reference[r]);
        if !ok {
            numa_rt::note(Note::Failed, 1);
        }
        let nodes: alloc::vec::Vec<u16> =
            (0..working as usize).map(|r| NODES[r].load(Ordering::Relaxed)).collect();
        let predicted = predicted_misses(&nodes, steps, numa_rt::single_space());
        numa_rt::note(Note::ExpectedMisses, predicted);
        let sums: alloc::vec::Vec<u64> =
            (0..working as usize).map(|r| SUMS[r].load(Ordering::Relaxed)).collect();
        rt::println!(
            "{}",
            report::line!("stencil",
                "ranks" => ranks,
                "steps" => steps,
                "predicted" => predicted,
                "sums" => report::Slashed(&sums),
                "result" => if ok { "ok" } else { "wrong" },
            )
        );
        u64::from(!ok)
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
use target::stencil;

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn stencil(_ctx: &numa_rt::Context) -> u64 {
    unreachable!("the host build only type-checks the entry")
}

#[cfg(test)]
mod tests {
    use super::*;
    use numa::workload::{self, Memory};
    use std::collections::BTreeSet;

    /// A memory that records the pages each access touches.
    #[derive(Default)]
    struct Recorder {
        words: std::collections::HashMap<u64, u64>,
        pages: BTreeSet<u64>,
    }

    impl Memory for Recorder {
        fn load(&mut self, addr: u64) -> u64 {
            self.pages.insert((addr - GRID) / 0x1000);
            self.words.get(&addr).copied().unwrap_or(0)
        }
        fn store(&mut self, addr: u64, value: u64) {
            self.pages.insert((addr - GRID) / 0x1000);
            self.words.insert(addr, value);
        }
    }

    #[test]
    fn the_touched_pages_are_what_the_workload_touches() {
        for (ranks, steps) in [(1, 0), (1, 3), (2, 1), (4, 2), (4, 8), (16, 5)] {
            let mut shared = Recorder::default();
            for r in 0..ranks {
                workload::stencil_init(&mut shared, &LAYOUT, ranks, r);
            }
            let mut per_rank: Vec<Recorder> = (0..ranks).map(|_| Recorder::default()).collect();
            for (r, rec) in per_rank.iter_mut().enumerate() {
                workload::stencil_init(rec, &LAYOUT, ranks, r as u64);
            }
            for step in 0..steps {
                for (r, rec) in per_rank.iter_mut().enumerate() {
                    rec.words.clone_from(&shared.words);
                    workload::stencil_step(rec, &LAYOUT, ranks, r as u64, step);
                }
                for r in 0..ranks {
                    workload::stencil_step(&mut shared, &LAYOUT, ranks, r, step);
                }
            }
            for (r, rec) in per_rank.iter().enumerate() {
                let want: BTreeSet<u64> = touched_pages(ranks, r as u64, steps).collect();
                assert_eq!(rec.pages, want, "{ranks} ranks, {steps} steps, rank {r}");
            }
        }
    }

    #[test]
    fn the_prediction_counts_the_edges_once_per_node() {
        // Four ranks on two nodes, two or more steps: 4 x 8 own pages; the edges
        // between ranks 1 and 2 cross nodes: two pages per grid each way.
        let nodes = [0, 0, 1, 1];
        assert_eq!(predicted_misses(&nodes, 2, false), 4 * 8 + 2 * 2);
        assert_eq!(predicted_misses(&nodes, 1, false), 4 * 8 + 2, "grid 1 not read yet");
        assert_eq!(predicted_misses(&nodes, 0, false), 4 * 8);
        assert_eq!(predicted_misses(&nodes, 8, true), 4 * 8, "one space: each page once");
        assert_eq!(predicted_misses(&[0, 1, 0, 1], 2, false), 4 * 8 + 2 * 6, "every edge crosses");
        assert_eq!(predicted_misses(&[0u16; 20], 0, false), MAX_RANKS * 8, "only MAX_RANKS work");
    }
}
