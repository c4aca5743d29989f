// SPDX-License-Identifier: MIT OR Apache-2.0
//! `kvstore`: a key-value store, as an ordinary NUMA program; the runtime's mechanisms
//! at work on something that looks like an application.
//!
//! One thread per CPU (`Threads::PerCpu(1)`). The store has [`KEYS`] keys:
//!
//! - the **index** (region `index`, global, interleaved over the nodes): for each key,
//!   the address of its value;
//! - a **shard per node**: the values of the keys `k` with `k % shards == s`, in a block
//!   of node `s`'s heap arena (`numa_rt::alloc_on`), which the loader fills;
//! - an update **log** (region `log`, global, first touch): each rank appends its
//!   updates, then the log is compacted away: `numa_rt::unmap` gives its frames back on
//!   every node at once, and every rank checks it reads zeros, not the old records
//!   (a stale read is counted and fails the run);
//! - a **hot** page (region `hot`, global, on the first node): read only by the last
//!   node's threads; sampling periods (`numa_rt::sample`) count who faults it back in,
//!   and `numa_rt::place` moves it to them.
//!
//! The run: the ranks say where they are; rank 0 loads every shard onto its node; every
//! rank reads every key (a scan: readers on every node, the index's pages mapped on
//! each); each rank updates its share of the keys through the index (remote writes into
//! other nodes' shards) and logs them; everyone reads every key again; the log is
//! unmapped and checked; the hot page is sampled and placed; the last rank migrates to
//! the first rank's node and reads every key from there (its stack goes with it: a
//! canary on it must survive). Everything read is checked against [`value`].
//!
//! The index's page faults are predicted ([`predicted_index_misses`]: one per page for
//! each node's space, or once with one space) and the runtime checks them.
//!
//! It prints `report: kvstore keys= shards= ranks= checked= errors= shards-local=
//! stale= hot-moved= migrated= result=ok|wrong`; arguments: the runtime's own only.
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

use numa::workload::Memory;
use numa_rt::{DeclRegion, Declaration, Kind, Policy, Threads};

/// Keys in the store.
pub const KEYS: u64 = 4096;
/// The index: one word per key.
const INDEX: u64 = 0x3000_0000_0000;
/// Pages of the index.
pub const INDEX_PAGES: u64 = KEYS * 8 / 0x1000;
/// The hot page.
const HOT: u64 = 0x3001_0000_0000;
/// The update log: two words (key, value) per update.
const LOG: u64 = 0x3002_0000_0000;
/// Pages of the log.
pub const LOG_PAGES: u64 = KEYS * 16 / 0x1000;

numa_rt::program!(
    Declaration::new()
        .threads(Threads::PerCpu(1))
        .region(DeclRegion::new("index", INDEX, INDEX_PAGES, Kind::Global(Policy::Interleave)))
        .region(DeclRegion::new("hot", HOT, 1, Kind::Global(Policy::Fixed(0))))
        .region(DeclRegion::new("log", LOG, LOG_PAGES, Kind::Global(Policy::FirstTouch))),
    kvstore
);

/// Key `key`'s value in `version` (never 0: a zero word is an unwritten one).
pub fn value(key: u64, version: u64) -> u64 {
    let mut x = key ^ (version << 40) ^ 0x6b76_7374_6f72_6500;
    x = (x ^ (x >> 31)).wrapping_mul(0x7fb5_d329_728e_a185);
    x = (x ^ (x >> 27)).wrapping_mul(0x81da_def4_bc2d_d44d);
    (x ^ (x >> 33)) | 1
}

/// The address of key `key`'s index word.
fn index_word(key: u64) -> u64 {
    INDEX + key * 8
}

/// Loads shard `s` of `shards`, whose block of values starts at `base`: writes each of
/// its keys' first value there and points the index at it.
pub fn load_shard(mem: &mut impl Memory, base: u64, s: u64, shards: u64) {
    for (slot, key) in (s..KEYS).step_by(shards as usize).enumerate() {
        let at = base + 8 * slot as u64;
        mem.store(at, value(key, 0));
        mem.store(index_word(key), at);
    }
}

/// Values each shard holds, at most (the block size [`load_shard`] needs, in words).
pub fn shard_words(shards: u64) -> u64 {
    KEYS.div_ceil(shards)
}

/// Reads every key through the index; the keys whose value is not `version`'s.
pub fn scan(mem: &mut impl Memory, version: u64) -> u64 {
    (0..KEYS)
        .filter(|&key| {
            let at = mem.load(index_word(key));
            at == 0 || mem.load(at) != value(key, version)
        })
        .count() as u64
}

/// The log records of rank `rank` of `ranks`: its first word's address and how many.
pub fn log_share(rank: u64, ranks: u64) -> (u64, u64) {
    let per = KEYS / ranks.max(1);
    (LOG + rank * per * 16, per)
}

/// Rank `rank` of `ranks` updates its keys (`key % ranks == rank`) to version 1 in
/// place, through the index, and logs each (key + 1, value) in its share of the log.
/// Returns the updates.
pub fn update(mem: &mut impl Memory, rank: u64, ranks: u64) -> u64 {
    let (log, room) = log_share(rank, ranks);
    let mut n = 0;
    for key in (rank..KEYS).step_by(ranks.max(1) as usize) {
        let at = mem.load(index_word(key));
        if at != 0 {
            mem.store(at, value(key, 1));
        }
        if n < room {
            mem.store(log + 16 * n, key + 1); // (+1: no record is all zeros)
            mem.store(log + 16 * n + 8, value(key, 1));
        }
        n += 1;
    }
    n
}

/// Words of rank `rank`'s log share that are not zero (after the unmap: stale).
pub fn stale_words(mem: &mut impl Memory, rank: u64, ranks: u64) -> u64 {
    let (log, records) = log_share(rank, ranks);
    (0..2 * records).filter(|&w| mem.load(log + 8 * w) != 0).count() as u64
}

/// The index's table misses: each page once in each node's space (every node's ranks
/// scan every key), or once with one space. `spaces` is the number of nodes with ranks.
pub fn predicted_index_misses(spaces: u64, single_space: bool) -> u64 {
    INDEX_PAGES * if single_space { 1 } else { spaces }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod target {
    use super::*;
    use core::alloc::Layout;
    use core::sync::atomic::{AtomicU16, AtomicU64, Ordering};
    use numa_rt::Note;

    /// Sampling periods before the hot page is placed (`numa::access::Thresholds`'
    /// minimum).
    const PERIODS: u64 = 4;

    /// Most ranks and nodes this program keeps track of (more CPUs only read).
    const MAX: usize = 512;
    /// Each rank's node.
    static NODES: [AtomicU16; MAX] = [const { AtomicU16::new(0) }; MAX];
    /// The shards' blocks and nodes, and how many.
    static SHARD_AT: [AtomicU64; MAX] = [const { AtomicU64::new(0) }; MAX];
    static SHARD_NODE: [AtomicU16; MAX] = [const { AtomicU16::new(0) }; MAX];
    static SHARDS: AtomicU64 = AtomicU64::new(0);
    /// Errors any rank found, and whether the migrant's canary survived.
    static ERRORS: AtomicU64 = AtomicU64::new(0);
    static MIGRATED: AtomicU64 = AtomicU64::new(0);

    fn shard_layout(shards: u64) -> Layout {
        Layout::from_size_align((shard_words(shards) * 8) as usize, 4096).unwrap_or(Layout::new::<u64>())
    }

    fn fail(what: &str) {
        rt::println!("kvstore: {what}");
        ERRORS.fetch_add(1, Ordering::Relaxed);
    }

    pub fn kvstore(ctx: &numa_rt::Context) -> u64 {
        let (rank, ranks) = (ctx.rank(), ctx.ranks());
        let single = numa_rt::single_space();
        // SAFETY: the store touches its regions and its shards' blocks only; each word
        // has one writer between two barriers (the loader, then its key's updater).
        let mut mem = unsafe { numa_rt::Mapped::new() };
        let mut step = 0;
        let mut barrier = || {
            step += 1;
            let _ = numa_rt::barrier(step, ranks);
        };
        if let Some(n) = NODES.get(rank as usize) {
            n.store(numa_rt::node(), Ordering::Relaxed);
        }
        barrier();
        let known = (ranks as usize).min(MAX);
        if rank == 0 {
            // The shards: one per node with ranks, in rank order; each block on its node.
            let mut shards = 0;
            for n in NODES.iter().take(known) {
                let node = n.load(Ordering::Relaxed);
                if !(0..shards).any(|s| SHARD_NODE[s].load(Ordering::Relaxed) == node) {
                    SHARD_NODE[shards].store(node, Ordering::Relaxed);
                    shards += 1;
                }
            }
            SHARDS.store(shards as u64, Ordering::Relaxed);
            for s in 0..shards {
                let node = SHARD_NODE[s].load(Ordering::Relaxed);
                match numa_rt::alloc_on(node, shard_layout(shards as u64)) {
                    Some(p) => {
                        SHARD_AT[s].store(p.as_ptr() as u64, Ordering::Relaxed);
                        load_shard(&mut mem, p.as_ptr() as u64, s as u64, shards as u64);
                    }
                    None => fail("no memory for a shard"),
                }
            }
            numa_rt::note(Note::ExpectedMisses, predicted_index_misses(shards as u64, single));
        }
        barrier();
        let shards = SHARDS.load(Ordering::Relaxed);
        let mut errors = scan(&mut mem, 0);
        barrier();
        update(&mut mem, rank, ranks);
        barrier();
        errors += scan(&mut mem, 1);
        barrier();
        if rank == 0 && numa_rt::unmap(LOG, LOG_PAGES).is_err() {
            fail("the log's unmap was refused");
        }
        barrier();
        let stale = stale_words(&mut mem, rank, ranks);
        if stale > 0 {
            numa_rt::note(Note::Stale, stale);
        }
        barrier();
        // The hot page: written once by rank 0 (on the first node, by its policy),
        // then read by the last shard's node only, over the sampling periods.
        let last = SHARD_NODE[(shards as usize).saturating_sub(1)].load(Ordering::Relaxed);
        let here = numa_rt::node();
        if rank == 0 {
            mem.store(HOT, 0x407);
        }
        barrier();
        let home = numa_rt::node_of(HOT);
        for _ in 0..PERIODS {
            if rank == 0 {
                let _ = numa_rt::sample(HOT, 1);
            }
            barrier();
            if here == last && mem.load(HOT) != 0x407 {
                errors += 1;
            }
            barrier();
        }
        let mut hot_moved = 0;
        if rank == 0 {
            hot_moved = numa_rt::place(HOT, 1).unwrap_or(0);
        }
        barrier();
        // The migrant: the last rank moves to rank 0's node, its stack with it.
        let target = NODES[0].load(Ordering::Relaxed);
        if rank + 1 == ranks && ranks > 1 && here != target {
            let mut canary = [0u64; 256];
            for (i, w) in canary.iter_mut().enumerate() {
                *w = value(i as u64, rank);
            }
            core::hint::black_box(&mut canary);
            match numa_rt::migrate(target) {
                Ok(_) if numa_rt::node() == target => {
                    let kept = core::hint::black_box(&canary)
                        .iter()
                        .enumerate()
                        .all(|(i, &w)| w == value(i as u64, rank));
                    if !kept {
                        fail("the migrant's stack did not follow it");
                    }
                    errors += scan(&mut mem, 1);
                    MIGRATED.store(1, Ordering::Relaxed);
                }
                Ok(_) => fail("the migrant is not on its new node"),
                Err(_) => fail("the migration was refused"),
            }
        }
        ERRORS.fetch_add(errors, Ordering::Relaxed);
        barrier();
        if rank != 0 {
            return 0;
        }
        // The shards' blocks on their nodes; then given back.
        let mut local = 0;
        for s in 0..shards as usize {
            let at = SHARD_AT[s].load(Ordering::Relaxed);
            let want = numa_rt::memory_node(SHARD_NODE[s].load(Ordering::Relaxed));
            local += u64::from(at != 0 && numa_rt::node_of(at) == Some(u64::from(want)));
            if at != 0 {
                // SAFETY: `at` came from `alloc_on` with this layout; nobody uses it now.
                unsafe { alloc::alloc::dealloc(at as *mut u8, shard_layout(shards)) };
            }
        }
        // The hot page moves when its users' memory is not where it is.
        let users = numa_rt::memory_node(last);
        let should_move = home.is_some_and(|h| h != u64::from(users));
        let _ = mem.load(HOT);
        let now = numa_rt::node_of(HOT);
        let hot_ok =
            if should_move { hot_moved == 1 && now == Some(u64::from(users)) } else { hot_moved == 0 };
        let errors = ERRORS.load(Ordering::Relaxed);
        let migrated = MIGRATED.load(Ordering::Relaxed) == 1;
        let ok = errors == 0 && local == shards && hot_ok && (migrated || shards < 2 || ranks < 2);
        if !ok {
            numa_rt::note(Note::Failed, 1);
        }
        rt::println!(
            "{}",
            report::line!("kvstore",
                "keys" => KEYS,
                "shards" => shards,
                "ranks" => ranks,
                "errors" => errors,
                "shards-local" => report::Ratio(local, shards),
                "hot-moved" => if should_move { if hot_moved == 1 { "yes" } else { "no" } } else { "not-needed" },
                "migrated" => if migrated { "yes" } else { "no" },
                "result" => if ok { "ok" } else { "wrong" },
            )
        );
        u64::from(!ok)
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
extern crate alloc;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
use target::kvstore;

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn kvstore(_ctx: &numa_rt::Context) -> u64 {
    unreachable!("the host build only type-checks the entry")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Fake(HashMap<u64, u64>);
    impl Memory for Fake {
        fn load(&mut self, addr: u64) -> u64 {
            self.0.get(&addr).copied().unwrap_or(0)
        }
        fn store(&mut self, addr: u64, value: u64) {
            self.0.insert(addr, value);
        }
    }

    /// The run's data phases over one memory, for `shards` shards and `ranks` ranks.
    fn run(shards: u64, ranks: u64) -> Fake {
        let mut m = Fake::default();
        for s in 0..shards {
            load_shard(&mut m, 0x5000_0000 + s * 0x10_0000, s, shards);
        }
        assert_eq!(scan(&mut m, 0), 0, "every key has its first value");
        assert_eq!(scan(&mut m, 1), KEYS, "none has the second yet");
        let updates: u64 = (0..ranks).map(|r| update(&mut m, r, ranks)).sum();
        assert_eq!(updates, KEYS, "each key updated by exactly one rank");
        assert_eq!(scan(&mut m, 1), 0);
        m
    }

    #[test]
    fn every_key_is_loaded_updated_and_logged_once() {
        for (shards, ranks) in [(1, 1), (2, 4), (3, 7), (8, 16)] {
            let mut m = run(shards, ranks);
            assert!(shard_words(shards) * shards >= KEYS);
            // The log holds each rank's updates, in its own share.
            let mut logged = 0;
            for r in 0..ranks {
                let (at, n) = log_share(r, ranks);
                assert!(at + 16 * n <= LOG + LOG_PAGES * 0x1000, "inside the region");
                logged +=
                    (0..n).filter(|&i| m.load(at + 16 * i + 8) == value(m.load(at + 16 * i) - 1, 1)).count();
                assert_eq!(stale_words(&mut m, r, ranks), 2 * n, "before the unmap: all written");
            }
            assert_eq!(logged as u64, (KEYS / ranks) * ranks, "{shards} shards, {ranks} ranks");
        }
    }

    #[test]
    fn a_wrong_value_or_a_stale_log_is_found() {
        let mut m = run(2, 4);
        let at = m.load(INDEX + 8 * 77);
        m.store(at, 5);
        assert_eq!(scan(&mut m, 1), 1);
        m.store(INDEX + 8 * 78, 0);
        assert_eq!(scan(&mut m, 1), 2, "a key without an index entry");
        // After the unmap, the log reads zeros; a word left is stale.
        m.0.retain(|&a, _| !(LOG..LOG + LOG_PAGES * 0x1000).contains(&a));
        assert_eq!(stale_words(&mut m, 1, 4), 0);
        m.store(log_share(1, 4).0 + 8, 9);
        assert_eq!(stale_words(&mut m, 1, 4), 1);
    }

    #[test]
    fn values_are_never_zero_and_differ_by_version() {
        for key in 0..KEYS {
            assert_ne!(value(key, 0), 0);
            assert_ne!(value(key, 0), value(key, 1));
        }
        assert_eq!(predicted_index_misses(3, false), 3 * INDEX_PAGES);
        assert_eq!(predicted_index_misses(3, true), INDEX_PAGES);
    }
}
