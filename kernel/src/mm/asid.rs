// SPDX-License-Identifier: MIT OR Apache-2.0
//! Address-space identifiers: which TLB entries belong to which space.
//!
//! Every user address space gets an ASID; TTBR0_EL1 carries it, and the TLB tags the
//! space's entries with it, so switching spaces needs no TLB flush. The CPU offers 8 or
//! 16 bits of ASID (ID_AA64MMFR0_EL1.ASIDBits); this allocator hands out 1..limit
//! (0 is never a user space's: it tags nothing) from a bitmap, searching from a rotating
//! hint so a just-freed ASID is not reused at once.
//!
//! # Invariants
//! - An ASID is owned by at most one live space.
//! - Before a freed ASID is handed out again, the kernel has invalidated its TLB entries
//!   on every CPU (`TLBI ASIDE1IS`): the space's teardown does it before [`Asids::free`].
#![forbid(unsafe_code)]

/// The largest number of ASIDs any CPU has (16-bit ASIDs).
pub const MAX_ASIDS: usize = 1 << 16;

/// TTBR0_EL1 for the space with root table `root` (physical) and `asid`: the ASID
/// in bits 63..48, the table's address in 47..12.
pub const fn ttbr0(root: u64, asid: u16) -> u64 {
    ((asid as u64) << 48) | (root & 0x0000_FFFF_FFFF_F000)
}

/// A pool of ASIDs.
pub struct Asids {
    used: [u64; MAX_ASIDS / 64],
    limit: usize,
    hint: usize,
    count: usize,
}

impl Asids {
    /// A pool of ASIDs `1..limit` (`limit` = 256 or 65536, from the CPU; clamped).
    pub const fn new(limit: usize) -> Asids {
        let limit = if limit > MAX_ASIDS {
            MAX_ASIDS
        } else if limit < 2 {
            2
        } else {
            limit
        };
        let mut used = [0; MAX_ASIDS / 64];
        used[0] = 1; // ASID 0 is never handed out.
        Asids { used, limit, hint: 1, count: 0 }
    }

    /// ASIDs in use.
    pub fn in_use(&self) -> usize {
        self.count
    }

    /// A free ASID, or `None` when all are taken.
    pub fn alloc(&mut self) -> Option<u16> {
        for step in 0..self.limit {
            let a = (self.hint + step) % self.limit;
            if self.used[a / 64] & (1 << (a % 64)) == 0 {
                self.used[a / 64] |= 1 << (a % 64);
                self.hint = (a + 1) % self.limit;
                self.count += 1;
                return Some(a as u16);
            }
        }
        None
    }

    /// Returns `asid` to the pool (after its TLB entries are gone). `false` when it was
    /// not allocated (a kernel bug the caller reports).
    pub fn free(&mut self, asid: u16) -> bool {
        let a = asid as usize;
        if a == 0 || a >= self.limit || self.used[a / 64] & (1 << (a % 64)) == 0 {
            return false;
        }
        self.used[a / 64] &= !(1 << (a % 64));
        self.count -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asids_are_unique_nonzero_and_run_out() {
        let mut pool = Asids::new(256);
        let mut seen = std::collections::HashSet::new();
        while let Some(a) = pool.alloc() {
            assert_ne!(a, 0);
            assert!(seen.insert(a), "{a} handed out twice");
        }
        assert_eq!(seen.len(), 255);
        assert_eq!(pool.in_use(), 255);
    }

    #[test]
    fn a_freed_asid_is_reused_only_after_the_others() {
        let mut pool = Asids::new(256);
        let first = pool.alloc().unwrap();
        assert!(pool.free(first));
        assert!(!pool.free(first), "double free is refused");
        assert!(!pool.free(0));
        let next = pool.alloc().unwrap();
        assert_ne!(next, first, "the hint rotates past a just-freed ASID");
    }

    #[test]
    fn sixteen_bit_pools_hand_out_large_asids() {
        let mut pool = Asids::new(1 << 16);
        for _ in 0..1000 {
            pool.alloc().unwrap();
        }
        assert_eq!(pool.in_use(), 1000);
        assert!(!pool.free(u16::MAX), "never allocated");
    }
}
