// SPDX-License-Identifier: MIT OR Apache-2.0
//! `churn`: the soak test's NUMA program. Nothing it computes matters; what it makes
//! and gives back does.
//!
//! The soak boot test (`numa-soak` in `tests/src/boot.rs`) runs it `rounds=R` once and
//! then a thousand times with no rounds (program start and exit, over and over), and
//! requires every node's free memory back at the end (`report: memory-balance ...
//! leaked_kib=0`). In a round, every thread (one per CPU) writes a word into each of
//! the [`PAGES`] pages of the global region `churn` (each node maps each page: a table
//! miss and a map per node), the threads meet, rank 0 unmaps the region (every node's
//! mapping of every page revoked, every frame given back), and they meet again; then
//! each thread checks the pages read zero again: a fresh frame, never the old one. It
//! prints `report: churn rounds= unmaps= stale= result=ok|wrong`; the maps are the
//! runtime's table misses (`global-faults=` of its `report: numa-program`).
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

use numa_rt::{DeclRegion, Declaration, Kind, Policy, Threads};

/// The region.
const CHURN: u64 = 0x1000_0000_0000;
/// Its pages.
pub const PAGES: u64 = 64;

numa_rt::program!(
    Declaration::new().threads(Threads::PerCpu(1)).region(DeclRegion::new(
        "churn",
        CHURN,
        PAGES,
        Kind::Global(Policy::Interleave)
    )),
    churn
);

/// What the arguments ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    /// `rounds=N` (0..=100000; none: 0).
    Rounds(u64),
    /// `hang`: every thread waits at a barrier one more thread than there are must
    /// reach: a deadlock, which the runtime must give up (`error=silent`) without the
    /// boot hanging (boot test `numa-hang`).
    Hang,
}

/// The arguments (the runtime's own words passed over); `None` for anything else.
pub fn parse_args(args: &str) -> Option<Ask> {
    let mut ask = Ask::Rounds(0);
    for word in args.split_ascii_whitespace() {
        match word.split_once('=') {
            Some(("rounds", n)) => ask = Ask::Rounds(n.parse().ok().filter(|&n| n <= 100_000)?),
            Some(("mode" | "replicate", _)) => {}
            None if word == "hang" => ask = Ask::Hang,
            _ => return None,
        }
    }
    Some(ask)
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
fn churn(ctx: &numa_rt::Context) -> u64 {
    use numa::workload::Memory;
    use numa_rt::Note;

    let mut buf = [0u8; 64];
    let (rank, ranks) = (ctx.rank(), ctx.ranks());
    let rounds = match parse_args(numa_rt::args_text(&mut buf)) {
        Some(Ask::Rounds(n)) => n,
        Some(Ask::Hang) => {
            let _ = numa_rt::barrier(7, ranks + 1);
            return 1;
        }
        None => {
            if rank == 0 {
                rt::println!("churn: arguments: rounds=N (0..=100000), or hang");
            }
            numa_rt::note(Note::Failed, 1);
            return 1;
        }
    };
    // SAFETY: the threads touch only the churn region's words, each its own word of a
    // page (at its rank), which the runtime maps on touch.
    let mut mem = unsafe { numa_rt::Mapped::new() };
    let word = |page: u64| CHURN + page * 4096 + 8 * (rank % 512);
    let (mut unmaps, mut stale) = (0, 0);
    for round in 0..rounds {
        for page in 0..PAGES {
            mem.store(word(page), round + 1);
        }
        let _ = numa_rt::barrier(2 * round, ranks);
        if rank == 0 {
            unmaps += numa_rt::unmap(CHURN, PAGES).unwrap_or(0);
        }
        let _ = numa_rt::barrier(2 * round + 1, ranks);
        stale += (0..PAGES).filter(|&page| mem.load(word(page)) != 0).count() as u64;
    }
    if stale > 0 {
        numa_rt::note(Note::Stale, stale);
    }
    let _ = numa_rt::barrier(u64::MAX, ranks);
    if rank == 0 && rounds > 0 {
        rt::println!(
            "{}",
            report::line!("churn", "rounds" => rounds, "unmaps" => unmaps, "stale" => stale,
                "result" => if stale == 0 && unmaps == rounds * PAGES { "ok" } else { "wrong" })
        );
    }
    u64::from(stale > 0 || (rank == 0 && unmaps != rounds * PAGES))
}

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn churn(_ctx: &numa_rt::Context) -> u64 {
    unreachable!("the host build only type-checks the entry")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_come_from_the_arguments_and_nothing_else_is_accepted() {
        assert_eq!(parse_args(""), Some(Ask::Rounds(0)));
        assert_eq!(parse_args("rounds=520 mode=single-space"), Some(Ask::Rounds(520)));
        assert_eq!(parse_args("hang"), Some(Ask::Hang));
        assert_eq!(parse_args("rounds=100001"), None);
        assert_eq!(parse_args("rounds=x"), None);
        assert_eq!(parse_args("speed=9"), None);
        assert_eq!(parse_args("hang=1"), None);
    }
}
