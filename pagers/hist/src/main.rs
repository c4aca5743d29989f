// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hist`: the smallest NUMA program, the one the book's chapter "Write a NUMA program"
//! builds step by step.
//!
//! Every thread (one per CPU) draws [`DRAWS`] numbers into a `Vec` (its node's heap
//! arena: local memory) and counts them into a histogram every node shares: the
//! declared global region `counts`, interleaved over the nodes, one atomic word per
//! bucket. After a barrier, rank 0 adds the buckets up; the total must be every
//! thread's draws, and each bucket what [`bucket_of`] predicts. It prints
//! `report: hist ranks= draws= buckets-used= result=ok|wrong`.
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

extern crate alloc;

use numa_rt::{DeclRegion, Declaration, Kind, Policy, Threads};

/// The histogram: a region of our own, interleaved over the nodes.
const COUNTS: u64 = 0x1000_0000_0000;
/// Its pages, and its buckets (one 8-byte counter each).
const PAGES: u64 = 4;
/// Buckets of the histogram.
pub const BUCKETS: usize = (PAGES * 4096 / 8) as usize;
/// Numbers each thread draws.
pub const DRAWS: u64 = 1000;

numa_rt::program!(
    Declaration::new().threads(Threads::PerCpu(1)).region(DeclRegion::new(
        "counts",
        COUNTS,
        PAGES,
        Kind::Global(Policy::Interleave)
    )),
    hist
);

/// The bucket of thread `rank`'s `i`-th draw.
pub fn bucket_of(rank: u64, i: u64) -> usize {
    let mut x = rank.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i;
    x = (x ^ (x >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    ((x ^ (x >> 32)) % BUCKETS as u64) as usize
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
fn hist(ctx: &numa_rt::Context) -> u64 {
    use alloc::vec::Vec;
    use core::sync::atomic::{AtomicU64, Ordering};

    // SAFETY: `counts` is this program's declared region, BUCKETS words, mapped on
    // touch on every node (one frame per page for all of them); it is only ever used
    // through these atomics.
    let counts: &[AtomicU64; BUCKETS] = unsafe { &*(COUNTS as *const [AtomicU64; BUCKETS]) };
    let (rank, ranks) = (ctx.rank(), ctx.ranks());
    let draws: Vec<usize> = (0..DRAWS).map(|i| bucket_of(rank, i)).collect();
    for &b in &draws {
        counts[b].fetch_add(1, Ordering::Relaxed);
    }
    let _ = numa_rt::barrier(1, ranks);
    if rank != 0 {
        return 0;
    }
    let mut want = alloc::vec![0u64; BUCKETS];
    for r in 0..ranks {
        for i in 0..DRAWS {
            want[bucket_of(r, i)] += 1;
        }
    }
    let ok = counts.iter().zip(&want).all(|(c, &w)| c.load(Ordering::Relaxed) == w);
    let used = want.iter().filter(|&&w| w > 0).count();
    rt::println!(
        "{}",
        report::line!("hist", "ranks" => ranks, "draws" => DRAWS, "buckets-used" => used,
            "result" => if ok { "ok" } else { "wrong" })
    );
    u64::from(!ok)
}

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn hist(_ctx: &numa_rt::Context) -> u64 {
    unreachable!("the host build only type-checks the entry")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_spread_over_the_buckets_and_differ_by_rank() {
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..DRAWS {
            seen.insert(bucket_of(0, i));
        }
        assert!(seen.len() > 700, "1000 draws over 2048 buckets land in {}", seen.len());
        assert!((0..DRAWS).any(|i| bucket_of(0, i) != bucket_of(1, i)));
        assert!((0..DRAWS).all(|i| bucket_of(3, i) < BUCKETS));
    }
}
