// SPDX-License-Identifier: MIT OR Apache-2.0
//! Run queues: fixed-priority preemptive scheduling, 256 levels, round-robin within one.
//!
//! Each CPU has its own [`RunQueues`]: a FIFO per priority and a 256-bit map of the
//! non-empty levels, so picking the highest-priority ready thread is a few bit scans,
//! independent of how many threads exist. Threads are named by their number (an index
//! into the thread table); the queue links live in one [`Links`] array indexed the same
//! way, because a thread is on at most one queue at a time. Nothing here allocates.
//!
//! Round robin: the running thread is not on any queue; when its timeslice ends it is
//! appended to the tail of its level, so threads of equal priority take turns.
//!
//! # Invariants
//! - A thread is on at most one queue, at most once ([`Links`] marks queued threads).
//! - Bit `p` of the map is set exactly when level `p`'s FIFO is non-empty.
#![forbid(unsafe_code)]

/// Priority levels: 0 (lowest) ..= 255 (highest).
pub const PRIORITIES: usize = 256;
/// No thread (the end of a list).
const NONE: u32 = u32::MAX;

/// The queue links of every thread, indexed by thread number.
pub struct Links<const N: usize> {
    next: [u32; N],
    queued: [bool; N],
}

impl<const N: usize> Links<N> {
    /// No thread queued.
    pub const fn new() -> Self {
        Links { next: [NONE; N], queued: [false; N] }
    }

    /// Whether thread `t` is on some queue.
    pub fn is_queued(&self, t: u32) -> bool {
        self.queued.get(t as usize).copied().unwrap_or(false)
    }
}

impl<const N: usize> Default for Links<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// One CPU's ready threads.
pub struct RunQueues {
    head: [u32; PRIORITIES],
    tail: [u32; PRIORITIES],
    map: [u64; PRIORITIES / 64],
    len: usize,
}

/// Why a thread could not be queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// The thread number is outside the links array.
    BadThread,
    /// The thread is already on a queue.
    AlreadyQueued,
}

impl RunQueues {
    /// Empty queues.
    pub const fn new() -> RunQueues {
        RunQueues { head: [NONE; PRIORITIES], tail: [NONE; PRIORITIES], map: [0; PRIORITIES / 64], len: 0 }
    }

    /// Threads queued on this CPU.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no thread is ready.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends thread `t` at priority `prio` (behind the threads already there).
    pub fn push_back<const N: usize>(
        &mut self,
        links: &mut Links<N>,
        t: u32,
        prio: u8,
    ) -> Result<(), QueueError> {
        let i = t as usize;
        if i >= N {
            return Err(QueueError::BadThread);
        }
        if links.queued[i] {
            return Err(QueueError::AlreadyQueued);
        }
        let p = prio as usize;
        links.next[i] = NONE;
        links.queued[i] = true;
        match self.tail[p] {
            NONE => self.head[p] = t,
            last => links.next[last as usize] = t,
        }
        self.tail[p] = t;
        self.map[p / 64] |= 1 << (p % 64);
        self.len += 1;
        Ok(())
    }

    /// Whether a thread at priority `prio` or above is ready (the IPC fast path's
    /// question: then the partner would not run at once). One load when nothing is
    /// ready, the common case there.
    #[inline(always)]
    pub fn any_at_or_above(&self, prio: u8) -> bool {
        self.len != 0 && self.highest().is_some_and(|h| h >= prio)
    }

    /// The highest priority with a ready thread.
    /// (A plain loop, inlined: the IPC fast path asks this with values in registers
    /// that a call would make the compiler spill.)
    #[inline(always)]
    pub fn highest(&self) -> Option<u8> {
        let mut w = self.map.len();
        while w > 0 {
            w -= 1;
            let word = self.map[w];
            if word != 0 {
                return Some((w * 64 + 63 - word.leading_zeros() as usize) as u8);
            }
        }
        None
    }

    /// Takes the first thread of the highest non-empty level.
    pub fn pop_highest<const N: usize>(&mut self, links: &mut Links<N>) -> Option<(u32, u8)> {
        let prio = self.highest()?;
        let p = prio as usize;
        let t = self.head[p];
        let i = t as usize;
        self.head[p] = links.next[i];
        if self.head[p] == NONE {
            self.tail[p] = NONE;
            self.map[p / 64] &= !(1 << (p % 64));
        }
        links.next[i] = NONE;
        links.queued[i] = false;
        self.len -= 1;
        Some((t, prio))
    }

    /// Removes thread `t` (queued at `prio`) wherever it is in its FIFO; `false` when
    /// it was not there.
    pub fn remove<const N: usize>(&mut self, links: &mut Links<N>, t: u32, prio: u8) -> bool {
        let p = prio as usize;
        if !links.is_queued(t) {
            return false;
        }
        let (mut prev, mut cur) = (NONE, self.head[p]);
        while cur != NONE && cur != t {
            prev = cur;
            cur = links.next[cur as usize];
        }
        if cur == NONE {
            return false;
        }
        let after = links.next[cur as usize];
        match prev {
            NONE => self.head[p] = after,
            prev => links.next[prev as usize] = after,
        }
        if self.tail[p] == t {
            self.tail[p] = prev;
        }
        if self.head[p] == NONE {
            self.map[p / 64] &= !(1 << (p % 64));
        }
        links.next[t as usize] = NONE;
        links.queued[t as usize] = false;
        self.len -= 1;
        true
    }
}

impl Default for RunQueues {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_priority_runs_first_and_equal_priorities_take_turns() {
        let mut links = Links::<16>::new();
        let mut q = RunQueues::new();
        q.push_back(&mut links, 1, 10).unwrap();
        q.push_back(&mut links, 2, 200).unwrap();
        q.push_back(&mut links, 3, 10).unwrap();
        q.push_back(&mut links, 4, 255).unwrap();
        q.push_back(&mut links, 5, 0).unwrap();
        assert_eq!(q.highest(), Some(255));
        let order: Vec<_> = std::iter::from_fn(|| q.pop_highest(&mut links)).collect();
        assert_eq!(order, vec![(4, 255), (2, 200), (1, 10), (3, 10), (5, 0)]);
        assert!(q.is_empty());
        assert_eq!(q.highest(), None);
    }

    #[test]
    fn a_thread_cannot_be_queued_twice_or_out_of_range() {
        let mut links = Links::<4>::new();
        let mut q = RunQueues::new();
        q.push_back(&mut links, 1, 7).unwrap();
        assert_eq!(q.push_back(&mut links, 1, 9), Err(QueueError::AlreadyQueued));
        assert_eq!(q.push_back(&mut links, 4, 9), Err(QueueError::BadThread));
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn removal_from_head_middle_and_tail_keeps_the_fifo_and_the_map() {
        let mut links = Links::<8>::new();
        let mut q = RunQueues::new();
        for t in 1..=4 {
            q.push_back(&mut links, t, 50).unwrap();
        }
        assert!(q.remove(&mut links, 2, 50));
        assert!(q.remove(&mut links, 4, 50));
        assert!(!q.remove(&mut links, 4, 50), "not queued any more");
        q.push_back(&mut links, 5, 50).unwrap();
        assert!(q.remove(&mut links, 1, 50));
        assert_eq!(q.pop_highest(&mut links), Some((3, 50)));
        assert_eq!(q.pop_highest(&mut links), Some((5, 50)));
        assert_eq!(q.highest(), None);
    }

    #[test]
    fn random_operations_match_a_simple_model() {
        let mut links = Links::<64>::new();
        let mut q = RunQueues::new();
        let mut model: Vec<(u32, u8)> = Vec::new(); // insertion order
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let t = (rand() % 64) as u32;
            match rand() % 3 {
                0 => {
                    let prio = (rand() % 4 * 60) as u8;
                    let r = q.push_back(&mut links, t, prio);
                    if model.iter().any(|&(m, _)| m == t) {
                        assert_eq!(r, Err(QueueError::AlreadyQueued));
                    } else {
                        r.unwrap();
                        model.push((t, prio));
                    }
                }
                1 => {
                    let want = model.iter().map(|&(_, p)| p).max().map(|top| {
                        let at = model.iter().position(|&(_, p)| p == top).unwrap();
                        model.remove(at)
                    });
                    assert_eq!(q.pop_highest(&mut links), want);
                }
                _ if rand() % 2 == 0 => {
                    let prio = (rand() % 256) as u8;
                    let want = model.iter().any(|&(_, p)| p >= prio);
                    assert_eq!(q.any_at_or_above(prio), want, "any at or above {prio}");
                }
                _ => {
                    let found = model.iter().position(|&(m, _)| m == t);
                    let prio = found.map_or(0, |at| model[at].1);
                    assert_eq!(q.remove(&mut links, t, prio), found.is_some());
                    if let Some(at) = found {
                        model.remove(at);
                    }
                }
            }
            assert_eq!(q.len(), model.len());
        }
    }
}
