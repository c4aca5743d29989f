// SPDX-License-Identifier: MIT OR Apache-2.0
//! Thread numbers: which the root task hands out to programs and takes back.
//!
//! The kernel names threads by number, one table for the whole system
//! (`kernel/src/thread.rs`: `MAX_THREADS`), and the creator of a thread chooses the
//! number. The root task chooses every program's, and a NUMA program's memory server
//! gets a run of them for its pagers, spaces and threads. A program that ends gives its
//! numbers back, so a run of a thousand programs reuses them instead of running out
//! (the version in the id changes nothing here: the kernel refuses only a number in
//! use). Pure: a bit per number, tested on the host.

/// Numbers `0..SIZE` (the kernel's thread table).
pub const SIZE: usize = 1024;

/// Which thread numbers are taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Numbers {
    taken: [u64; SIZE / 64],
}

impl Numbers {
    /// Numbers below `first` and `reserved` are never handed out (the root task's own,
    /// its console thread).
    pub fn new(first: u64, reserved: &[u64]) -> Numbers {
        let mut n = Numbers { taken: [0; SIZE / 64] };
        for i in 0..first.min(SIZE as u64) {
            n.set(i, true);
        }
        for &r in reserved {
            n.set(r, true);
        }
        n
    }

    fn set(&mut self, i: u64, on: bool) {
        if let Some(w) = self.taken.get_mut((i / 64) as usize) {
            if on {
                *w |= 1 << (i % 64);
            } else {
                *w &= !(1 << (i % 64));
            }
        }
    }

    fn is_taken(&self, i: u64) -> bool {
        self.taken.get((i / 64) as usize).is_none_or(|w| w & (1 << (i % 64)) != 0)
    }

    /// The lowest run of `count` free numbers, taken; `None` if there is none.
    pub fn take(&mut self, count: u64) -> Option<u64> {
        if count == 0 || count > SIZE as u64 {
            return None;
        }
        let mut start = 0;
        while start + count <= SIZE as u64 {
            match (start..start + count).find(|&i| self.is_taken(i)) {
                Some(busy) => start = busy + 1,
                None => {
                    for i in start..start + count {
                        self.set(i, true);
                    }
                    return Some(start);
                }
            }
        }
        None
    }

    /// Gives `count` numbers from `start` back.
    pub fn give(&mut self, start: u64, count: u64) {
        for i in start..start.saturating_add(count).min(SIZE as u64) {
            self.set(i, false);
        }
    }

    /// How many are free.
    #[cfg(test)]
    pub fn free(&self) -> u64 {
        (0..SIZE as u64).filter(|&i| !self.is_taken(i)).count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_come_lowest_first_around_what_is_reserved_and_come_back() {
        let mut n = Numbers::new(0x100, &[0x105]);
        assert_eq!(n.take(1), Some(0x100));
        assert_eq!(n.take(4), Some(0x101));
        assert_eq!(n.take(3), Some(0x106), "0x105 is reserved");
        n.give(0x101, 4);
        assert_eq!(n.take(2), Some(0x101), "given back, taken again");
        assert_eq!(n.take(0), None);
        assert_eq!(n.take(SIZE as u64 + 1), None);
    }

    #[test]
    fn a_thousand_programs_reuse_the_same_numbers() {
        let mut n = Numbers::new(0x100, &[0x3E0]);
        let free = n.free();
        for _ in 0..1000 {
            let a = n.take(1).unwrap();
            let b = n.take(40).unwrap();
            n.give(b, 40);
            n.give(a, 1);
        }
        assert_eq!(n.free(), free);
        assert_eq!(n.take(free), None, "no run that long around the reserved number");
        assert!(n.take(0x3E0 - 0x100).is_some());
    }
}
