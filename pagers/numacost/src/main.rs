// SPDX-License-Identifier: MIT OR Apache-2.0
//! `numacost`: what each `numa_rt` call costs, measured by a NUMA program on the runtime
//! it runs on.
//!
//! The book promises a cost for every call of the API ("Write a NUMA program"), and the
//! evaluation compares the global unmap of per-node spaces with one space's. Both are
//! numbers only a run can give, so this program takes them: one thread per node
//! (`Threads::PerNode(1)`, rank `r` on the `r`-th node), the cycle counter
//! (`numa_rt::cycles`: under QEMU `-icount shift=0` one per guest instruction, every
//! CPU's work for the call included) read before and after each call, the reading's own
//! cost subtracted, the median of [`REPS`] calls kept. A call that moves the caller to
//! another CPU (`migrate`) is timed by the system counter instead, the one clock all
//! CPUs share ([`ns_of_ticks`]: under `-icount shift=0` a nanosecond is a guest
//! instruction; 16 to a tick at QEMU's 62.5 MHz): the cycle counter is each CPU's own,
//! and two CPUs' readings differ by when each was started. It prints
//! `report: numa-cost call=NAME insns=N` for each:
//!
//! | call | what is timed (rank 0, on the first node; "the other node": rank 1's) |
//! |---|---|
//! | `unmap-page` | `unmap` of one page that every node maps, one call per page: per page |
//! | `unmap-page-batched` | `unmap` of [`POOL_PAGES`] such pages in one call: per page |
//! | `kernel-unmap-page` | the kernel's own `Unmap` of [`POOL_PAGES`] pages from the caller's space alone (one flexpage): per page; the one-space baseline |
//! | `note` | `note` |
//! | `barrier` | `barrier` that only the caller waits at (the call, no waiting) |
//! | `alloc`, `dealloc` | a 64-byte `alloc` from the node's warm arena, and its `dealloc` |
//! | `fault-global-first` | the first load of a fresh global page (a frame made on this node) |
//! | `fault-global-mapped` | the other node's first load of that page (its frame exists: mapped there) |
//! | `spawn`, `join` | a thread started on the other node, and waiting for it (its whole life: start, first faults, exit) |
//! | `migrate` | a move to the other node or back, with the stack pages its return touches |
//! | `signal` | `signal` to the other node's waiting thread |
//! | `signal-wait-roundtrip` | a signal to the other node and its answer received (`wait`) |
//! | `sample`, `place` | `sample` and `place` of one page both nodes map (`place` moves nothing: one period is not enough evidence) |
//!
//! The unmap rows are checked, not only timed: before each unmap every node reads the
//! marker rank 0 wrote; after it every node must read zeros (a fresh page: `Note::Stale`
//! counts each word that is not), and after the kernel's own `Unmap` rank 0 must read
//! its marker again (the frame stayed). Arguments: `calls=unmap` times the unmap rows
//! only (what `scripts/bench` needs of every configuration; the default is `calls=all`),
//! beside the runtime's own (`mode=single-space`, `replicate=off`). It ends with
//! `report: numacost ranks= pages= calls= result=ok|wrong`.
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

use numa_rt::{DeclRegion, Declaration, Kind, Policy, Threads};

/// `ticks` of a counter of `frequency` Hz, in nanoseconds (rounded down; 0 for a
/// frequency of 0).
pub fn ns_of_ticks(ticks: u64, frequency: u64) -> u64 {
    if frequency == 0 {
        return 0;
    }
    u64::try_from(u128::from(ticks) * 1_000_000_000 / u128::from(frequency)).unwrap_or(u64::MAX)
}

/// Pages unmapped in one batch (the evaluation's batch size).
pub const POOL_PAGES: u64 = 64;
/// The pages every node maps and the unmaps take: aligned to the batch, so the kernel
/// sees one flexpage and the runtime one naturally aligned block.
const POOL: u64 = 0x4000_0000_0000;
/// Fresh global pages, one for each first-touch fault timed.
const FRESH: u64 = 0x4001_0000_0000;
/// Calls timed of each kind (the median is reported).
pub const REPS: usize = 5;
const FRESH_PAGES: u64 = REPS as u64;

numa_rt::program!(
    Declaration::new()
        .threads(Threads::PerNode(1))
        .region(DeclRegion::new("pool", POOL, POOL_PAGES, Kind::Global(Policy::FirstTouch)))
        .region(DeclRegion::new("fresh", FRESH, FRESH_PAGES, Kind::Global(Policy::FirstTouch))),
    costs
);

/// Which calls to time (the `calls=` argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Calls {
    /// Every call of the table.
    All,
    /// The unmap rows only.
    Unmap,
}

impl Calls {
    /// From the program's arguments (other words are the runtime's or ignored).
    pub fn parse(args: &str) -> Result<Calls, &str> {
        let mut calls = Calls::All;
        for word in args.split_ascii_whitespace() {
            if let Some(v) = word.strip_prefix("calls=") {
                calls = match v {
                    "all" => Calls::All,
                    "unmap" => Calls::Unmap,
                    _ => return Err(word),
                };
            }
        }
        Ok(calls)
    }

    /// The name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Calls::All => "all",
            Calls::Unmap => "unmap",
        }
    }
}

/// The median of `samples` (the lower middle of an even count), each less the cost of
/// the reading itself; 0 for none.
pub fn median(samples: &mut [u64], overhead: u64) -> u64 {
    if samples.is_empty() {
        return 0;
    }
    samples.sort_unstable();
    samples[(samples.len() - 1) / 2].saturating_sub(overhead)
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod target {
    use super::*;
    use core::alloc::Layout;
    use core::sync::atomic::{AtomicU64, Ordering};
    use numa_rt::{Note, Place, barrier, cycles, note};

    /// The marker rank 0 writes into every pool page before an unmap.
    const MARKER: u64 = 0x6e75_6d61_636f_7374;
    /// The other node's timings of `fault-global-mapped` (global data: rank 0 reads it).
    static MAPPED: [AtomicU64; REPS] = [const { AtomicU64::new(0) }; REPS];

    fn load(addr: u64) -> u64 {
        // SAFETY: `addr` is a word of a declared global region, mapped on touch.
        unsafe { core::ptr::read_volatile(addr as *const u64) }
    }

    fn store(addr: u64, value: u64) {
        // SAFETY: as in `load`; rank 0 alone writes, between barriers.
        unsafe { core::ptr::write_volatile(addr as *mut u64, value) }
    }

    fn page(i: u64) -> u64 {
        POOL + i * 0x1000
    }

    /// What reading the counter twice costs, back to back (the least of several).
    fn overhead() -> u64 {
        (0..16).map(|_| cycles().wrapping_neg().wrapping_add(cycles())).min().unwrap_or(0)
    }

    fn emit(call: &str, insns: u64) {
        rt::println!("{}", report::line!("numa-cost", "call" => call, "insns" => insns));
    }

    /// Whether the pool reads as `want` in every page (a word per page); counts the
    /// pages that do not as stale when `want` is 0.
    fn check_pool(want: u64) -> bool {
        let wrong = (0..POOL_PAGES).filter(|&i| load(page(i)) != want).count() as u64;
        if want == 0 && wrong > 0 {
            note(Note::Stale, wrong);
        }
        wrong == 0
    }

    /// One timed unmap of the pool, `how` being the unmap: every node maps the pool
    /// first (and reads the marker), every node reads `after` from it afterwards. The
    /// insns per page; whether every check held.
    fn unmap_round(
        ranks: u64,
        rank: u64,
        id: u64,
        o: u64,
        after: u64,
        how: &dyn Fn() -> bool,
    ) -> (u64, bool) {
        if rank == 0 {
            (0..POOL_PAGES).for_each(|i| store(page(i), MARKER));
        }
        let _ = barrier(id, ranks);
        let mut ok = check_pool(MARKER);
        let _ = barrier(id + 1, ranks);
        let mut insns = 0;
        if rank == 0 {
            let t0 = cycles();
            ok &= how();
            insns = cycles().wrapping_sub(t0).saturating_sub(o) / POOL_PAGES;
        }
        let _ = barrier(id + 2, ranks);
        ok &= check_pool(after);
        let _ = barrier(id + 3, ranks);
        (insns, ok)
    }

    pub fn costs(ctx: &numa_rt::Context) -> u64 {
        let mut buf = [0u8; 160];
        let calls = match Calls::parse(numa_rt::args_text(&mut buf)) {
            Ok(c) => c,
            Err(word) => {
                if ctx.rank() == 0 {
                    rt::println!("numacost: `{word}`: calls=all or calls=unmap");
                }
                note(Note::Failed, 1);
                return 1;
            }
        };
        let (rank, ranks) = (ctx.rank(), ctx.ranks());
        let o = overhead();
        let mut ok = true;

        // The global unmap, one call per page, then batched; the pool fresh after each
        // (every node must read zeros).
        let (per_page, good) = unmap_round(ranks, rank, 10, o, 0, &|| {
            (0..POOL_PAGES).all(|i| numa_rt::unmap(page(i), 1).is_ok_and(|n| n == 1))
        });
        ok &= good;
        let (batched, good) = unmap_round(ranks, rank, 20, o, 0, &|| {
            numa_rt::unmap(POOL, POOL_PAGES).is_ok_and(|n| n == POOL_PAGES)
        });
        ok &= good;
        // The kernel's Unmap in rank 0's space alone: the frames stay, so rank 0 reads
        // its marker again.
        let (kernel, good) =
            unmap_round(ranks, rank, 30, o, MARKER, &|| numa_rt::unmap_own(POOL, POOL_PAGES).is_ok());
        ok &= good;
        if rank == 0 {
            emit("unmap-page", per_page);
            emit("unmap-page-batched", batched);
            emit("kernel-unmap-page", kernel);
        }
        if calls == Calls::All {
            ok &= others(rank, ranks, o);
        }
        let _ = barrier(90, ranks);
        if !ok {
            note(Note::Failed, 1);
        }
        if rank == 0 {
            rt::println!(
                "{}",
                report::line!("numacost",
                    "ranks" => ranks,
                    "pages" => POOL_PAGES,
                    "calls" => calls.name(),
                    "result" => if ok { "ok" } else { "wrong" },
                )
            );
        }
        u64::from(!ok)
    }

    /// Times `f` [`REPS`] times: the median, less the reading's cost.
    fn timed(overhead: u64, mut f: impl FnMut(usize)) -> u64 {
        let mut t = [0u64; REPS];
        for (i, slot) in t.iter_mut().enumerate() {
            let t0 = cycles();
            f(i);
            *slot = cycles().wrapping_sub(t0);
        }
        median(&mut t, overhead)
    }

    /// Spawned threads that ran.
    static RAN: AtomicU64 = AtomicU64::new(0);

    /// A spawned thread's work: it counts itself (a result other than 0 fails the
    /// program).
    fn count_me(x: u64) -> u64 {
        RAN.fetch_add(x, Ordering::Relaxed);
        0
    }

    /// Every other call of the table; rank 1 (on the second node) takes part where a
    /// call needs a partner. Whether every call did what it should.
    fn others(rank: u64, ranks: u64, o: u64) -> bool {
        let mut ok = true;
        let other_node = if ranks > 1 { 1 } else { 0 };
        let here = numa_rt::node();
        if rank == 0 {
            emit("note", timed(o, |_| note(Note::Stale, 0)));
            emit("barrier", timed(o, |i| ok &= barrier(1000 + i as u64, 1).is_ok()));
            let layout = Layout::from_size_align(64, 8).unwrap_or(Layout::new::<u64>());
            // SAFETY: a block of `layout` (nonzero size), freed next with the same layout.
            let warm = unsafe { alloc::alloc::alloc(layout) };
            if !warm.is_null() {
                // SAFETY: the block just allocated with `layout`, used by nobody.
                unsafe { alloc::alloc::dealloc(warm, layout) };
            }
            let mut blocks = [core::ptr::null_mut(); REPS];
            // SAFETY: each block is allocated once and freed once, with `layout`.
            emit("alloc", timed(o, |i| blocks[i] = unsafe { alloc::alloc::alloc(layout) }));
            ok &= blocks.iter().all(|b| !b.is_null());
            // SAFETY: as above: the blocks `alloc` just gave.
            emit("dealloc", timed(o, |i| unsafe { alloc::alloc::dealloc(blocks[i], layout) }));
            emit("fault-global-first", timed(o, |i| ok &= load(FRESH + i as u64 * 0x1000) == 0));
        }
        let _ = barrier(50, ranks);
        if rank == 1 {
            for (i, slot) in MAPPED.iter().enumerate() {
                let t0 = cycles();
                let v = load(FRESH + i as u64 * 0x1000);
                slot.store(cycles().wrapping_sub(t0), Ordering::Relaxed);
                ok &= v == 0;
            }
        }
        let _ = barrier(51, ranks);
        if rank == 0 && ranks > 1 && !numa_rt::single_space() {
            let mut t: [u64; REPS] = core::array::from_fn(|i| MAPPED[i].load(Ordering::Relaxed));
            emit("fault-global-mapped", median(&mut t, o));
        }
        if ranks < 2 {
            return ok;
        }
        let target = {
            // Rank 1's node: the second of the program's nodes.
            let mut nodes = numa_rt::nodes();
            nodes.nth(other_node).unwrap_or(here)
        };
        if rank == 0 {
            let mut threads = [None; REPS];
            emit("spawn", timed(o, |i| threads[i] = numa_rt::spawn(Place::Node(target), count_me, 1).ok()));
            emit("join", timed(o, |i| ok &= threads[i].is_some_and(|t| t.join() == Ok(0))));
            ok &= RAN.load(Ordering::Relaxed) == REPS as u64;
            // The caller changes CPU: timed by the system counter, not this CPU's
            // cycle counter (see the crate docs).
            let f = rt::sys::kip().counter_frequency;
            let mut moves = [0u64; 2 * REPS];
            for (i, m) in moves.iter_mut().enumerate() {
                let to = if i % 2 == 0 { target } else { here };
                let t0 = rt::sys::counter();
                ok &= numa_rt::migrate(to).is_ok();
                *m = crate::ns_of_ticks(rt::sys::counter().wrapping_sub(t0), f);
                ok &= numa_rt::node() == to;
            }
            emit("migrate", median(&mut moves, 0));
        }
        // Signals: rank 0 to rank 1 (which waits), and rank 1's answer.
        let _ = barrier(60, ranks);
        if rank == 0 {
            let (mut signal, mut round) = ([0u64; REPS], [0u64; REPS]);
            for i in 0..REPS {
                let t0 = cycles();
                ok &= numa_rt::signal(1, i as u64 + 1).is_ok();
                let t1 = cycles();
                ok &= numa_rt::wait() == i as u64 + 101;
                (signal[i], round[i]) = (t1.wrapping_sub(t0), cycles().wrapping_sub(t0));
            }
            emit("signal", median(&mut signal, o));
            emit("signal-wait-roundtrip", median(&mut round, o));
        } else if rank == 1 {
            for _ in 0..REPS {
                let w = numa_rt::wait();
                ok &= numa_rt::signal(0, w + 100).is_ok();
            }
        }
        let _ = barrier(61, ranks);
        // Sampling one page both nodes map (the pool, mapped again by the checks).
        if rank == 0 {
            emit("sample", timed(o, |_| ok &= numa_rt::sample(POOL, 1) == Ok(1)));
            let _ = load(POOL);
            emit("place", timed(o, |_| ok &= numa_rt::place(POOL, 1).is_ok()));
        }
        ok
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
extern crate alloc;

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
use target::costs;

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn costs(_ctx: &numa_rt::Context) -> u64 {
    unreachable!("the host build only type-checks the entry")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_ticks_become_nanoseconds() {
        assert_eq!(ns_of_ticks(1, 62_500_000), 16);
        assert_eq!(ns_of_ticks(3, 1_000_000_000), 3);
        assert_eq!(ns_of_ticks(u64::MAX, 1), u64::MAX, "saturates");
        assert_eq!(ns_of_ticks(5, 0), 0);
    }

    #[test]
    fn calls_come_from_the_arguments_and_a_bad_one_is_named() {
        assert_eq!(Calls::parse(""), Ok(Calls::All));
        assert_eq!(Calls::parse("mode=single-space calls=unmap"), Ok(Calls::Unmap));
        assert_eq!(Calls::parse("calls=all replicate=off"), Ok(Calls::All));
        assert_eq!(Calls::parse("calls=some"), Err("calls=some"));
        assert_eq!(Calls::Unmap.name(), "unmap");
    }

    #[test]
    fn the_median_takes_the_middle_less_the_overhead() {
        assert_eq!(median(&mut [9, 1, 5, 7, 3], 1), 4);
        assert_eq!(median(&mut [10, 2, 4, 8], 0), 4, "the lower middle");
        assert_eq!(median(&mut [1], 5), 0, "never below zero");
        assert_eq!(median(&mut [], 0), 0);
    }
}
