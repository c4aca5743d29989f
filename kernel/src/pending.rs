// SPDX-License-Identifier: MIT OR Apache-2.0
//! A set of pending interrupt lines that any CPU may raise and any CPU may take, found
//! without scanning every word of it.
//!
//! # Why
//! Every idle CPU, after every interrupt, and every interrupt taken while a thread ran,
//! asks which device interrupts wait for their user-level handlers (`l4::ipc`'s
//! `deliver_interrupts`). A GIC has up to 1020 lines: sixteen words of bits. Visiting
//! all sixteen cost about 210 instructions of each interrupt's latency
//! (`irq_latency_insns`, `scripts/bench`), nearly always to find the one word with a
//! bit set. So beside the words there is a *summary*: one bit per word that may be
//! non-zero. A visit reads the summary and only the words it names.
//!
//! # Protocol (lock-free: interrupt handlers on every CPU raise lines)
//! - The summary is a **superset**: a word with a bit set always has its summary bit
//!   set; a summary bit may stay set over an empty word for a while.
//! - [`PendingSet::set`] sets the line's bit, *then* the word's summary bit.
//! - [`PendingSet::clear`] clears only the line's bit.
//! - A visit that finds a word empty clears its summary bit, *then* reads the word again
//!   and sets the summary bit back if the word is no longer empty. So a line raised
//!   concurrently is never lost: if its summary store came before the visitor's clear,
//!   the visitor's clear (acquire) sees the line's bit (released by that store) on the
//!   second read; if after, the summary bit stays set.
//! - A count ([`PendingSet::any`]) is raised before a bit is set and lowered after one
//!   is cleared: one load tells the IPC fast path that nothing is pending.
//!
//! The orders are `AcqRel` read-modify-writes and `Acquire` loads, as the argument
//! needs; the module's tests check the set's behaviour single-threaded and the protocol
//! under threads racing on the host.
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Pending flags for `64 * WORDS` lines (`WORDS <= 64`: one summary word).
pub struct PendingSet<const WORDS: usize> {
    words: [AtomicU64; WORDS],
    /// Bit `w`: word `w` may be non-zero (a superset; see the module's protocol).
    summary: AtomicU64,
    /// At least the number of bits set in `words`.
    count: AtomicUsize,
}

impl<const WORDS: usize> Default for PendingSet<WORDS> {
    fn default() -> Self {
        PendingSet::new()
    }
}

impl<const WORDS: usize> PendingSet<WORDS> {
    /// No line pending.
    pub const fn new() -> Self {
        assert!(WORDS <= 64, "one summary word names at most 64 words");
        PendingSet {
            words: [const { AtomicU64::new(0) }; WORDS],
            summary: AtomicU64::new(0),
            count: AtomicUsize::new(0),
        }
    }

    /// How many lines the set holds.
    pub const LINES: usize = 64 * WORDS;

    /// Marks line `i` pending (a line beyond the set is ignored).
    pub fn set(&self, i: usize) {
        let Some(word) = self.words.get(i / 64) else { return };
        let bit = 1u64 << (i % 64);
        self.count.fetch_add(1, Ordering::AcqRel);
        if word.fetch_or(bit, Ordering::AcqRel) & bit != 0 {
            self.count.fetch_sub(1, Ordering::AcqRel); // it was pending already
        }
        self.summary.fetch_or(1 << (i / 64), Ordering::AcqRel);
    }

    /// Clears line `i`; whether it was pending.
    pub fn clear(&self, i: usize) -> bool {
        let Some(word) = self.words.get(i / 64) else { return false };
        let bit = 1u64 << (i % 64);
        let was = word.fetch_and(!bit, Ordering::AcqRel) & bit != 0;
        if was {
            self.count.fetch_sub(1, Ordering::AcqRel);
        }
        was
    }

    /// Whether any line may be pending (one load; never false while one is).
    #[inline(always)]
    pub fn any(&self) -> bool {
        self.count.load(Ordering::Acquire) != 0
    }

    /// Whether line `i` is pending now.
    pub fn is_set(&self, i: usize) -> bool {
        self.words.get(i / 64).is_some_and(|w| w.load(Ordering::Acquire) & (1 << (i % 64)) != 0)
    }

    /// Word `w`'s bits, read for a visit: an empty word's summary bit is cleared on the
    /// way (the module's protocol).
    fn visit(&self, w: usize) -> u64 {
        let word = &self.words[w];
        let bits = word.load(Ordering::Acquire);
        if bits != 0 {
            return bits;
        }
        self.summary.fetch_and(!(1 << w), Ordering::AcqRel);
        let again = word.load(Ordering::Acquire);
        if again != 0 {
            self.summary.fetch_or(1 << w, Ordering::AcqRel);
        }
        again
    }

    /// Every line pending now, in ascending order (a line raised during the visit may
    /// or may not be seen; one raised before it starts is).
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let mut words = if self.any() { self.summary.load(Ordering::Acquire) } else { 0 };
        let (mut base, mut bits) = (0, 0u64);
        core::iter::from_fn(move || {
            while bits == 0 {
                if words == 0 {
                    return None;
                }
                let w = words.trailing_zeros() as usize;
                words &= words - 1;
                (base, bits) = (w * 64, self.visit(w));
            }
            let line = base + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some(line)
        })
    }

    /// Clears and returns the lowest pending line that `wanted` accepts.
    pub fn take(&self, mut wanted: impl FnMut(usize) -> bool) -> Option<usize> {
        self.iter().find(|&line| wanted(line) && self.clear(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::vec::Vec;

    #[test]
    fn lines_set_in_any_word_are_visited_in_order_and_taken_once() {
        let set = PendingSet::<16>::new();
        assert!(!set.any());
        assert_eq!(set.iter().count(), 0);
        for line in [1019, 27, 64, 63, 500] {
            set.set(line);
        }
        set.set(27); // twice: still one line
        assert!(set.any());
        assert_eq!(set.iter().collect::<Vec<_>>(), [27, 63, 64, 500, 1019]);
        assert_eq!(set.take(|l| l >= 64), Some(64));
        assert_eq!(set.take(|l| l == 64), None, "taken already");
        assert!(set.clear(27));
        assert!(!set.clear(27), "cleared already");
        assert_eq!(set.iter().collect::<Vec<_>>(), [63, 500, 1019]);
        for line in [63, 500, 1019] {
            assert!(set.clear(line));
        }
        assert!(!set.any(), "the count follows the bits");
        assert_eq!(set.iter().count(), 0);
        set.set(PendingSet::<16>::LINES); // beyond the set: ignored
        assert!(!set.clear(PendingSet::<16>::LINES));
        assert!(!set.any());
    }

    #[test]
    fn a_visit_forgets_empty_words_and_keeps_the_rest() {
        let set = PendingSet::<4>::new();
        set.set(3);
        set.set(130);
        set.clear(3);
        assert_eq!(set.summary.load(Ordering::Relaxed), 0b101, "a superset until visited");
        assert_eq!(set.iter().collect::<Vec<_>>(), [130]);
        assert_eq!(set.summary.load(Ordering::Relaxed), 0b100, "the empty word forgotten");
        assert!(set.is_set(130) && !set.is_set(3));
    }

    #[test]
    fn lines_raised_while_others_visit_are_never_lost() {
        // Raisers set lines; visitors take whatever they see; at the end every line
        // was taken exactly once, and the set is empty.
        const LINES: usize = 16 * 64;
        const ROUNDS: usize = 20_000;
        let set = Arc::new(PendingSet::<16>::new());
        let taken: Arc<Vec<AtomicUsize>> = Arc::new((0..LINES).map(|_| AtomicUsize::new(0)).collect());
        let raised = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for r in 0..2 {
            let set = set.clone();
            let raised = raised.clone();
            handles.push(std::thread::spawn(move || {
                let mut x = 0x9e37_79b9_u64 + r;
                for _ in 0..ROUNDS {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // Each raiser owns every other line, so a line is raised again only
                    // after it was taken (then each raise is counted once).
                    let line = ((x as usize % (LINES / 2)) * 2 + r as usize) % LINES;
                    if !set.is_set(line) {
                        set.set(line);
                        raised.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for _ in 0..2 {
            let set = set.clone();
            let taken = taken.clone();
            handles.push(std::thread::spawn(move || {
                for _ in 0..ROUNDS {
                    while let Some(line) = set.take(|_| true) {
                        taken[line].fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for h in handles {
            h.join().expect("no thread panics");
        }
        // What is left after the racing is visible to one more visit.
        while let Some(line) = set.take(|_| true) {
            taken[line].fetch_add(1, Ordering::Relaxed);
        }
        let total: usize = taken.iter().map(|t| t.load(Ordering::Relaxed)).sum();
        assert_eq!(total, raised.load(Ordering::Relaxed), "every raise was taken once");
        assert!(!set.any());
    }
}
