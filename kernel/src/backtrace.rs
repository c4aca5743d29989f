// SPDX-License-Identifier: MIT OR Apache-2.0
//! Frame-pointer backtraces: the chain of callers, for panic and fault reports.
//!
//! The kernel is built with frame pointers (`.cargo/config.toml`), so every function
//! stores a two-word *frame record* `[previous x29, return address]` and points x29 at
//! it. Following x29 from record to record yields the return addresses of the
//! callers. The walk trusts nothing it reads: every record must lie inside the stack,
//! be aligned, and sit above the previous one (the stack grows down), or the walk
//! stops. A corrupt stack therefore ends the backtrace early rather than faulting
//! inside the fault report.
//!
//! The kernel prints raw addresses (`  #1 0xffffffff80012345`); `scripts/run`
//! turns them into function names and source lines with the kernel ELF.
#![forbid(unsafe_code)]

/// Walks the frame-record chain starting at `fp`, calling `emit(depth, address)`
/// for each return address, at most `max` times. `read` loads a word of the stack;
/// `stack` bounds where records may be.
pub fn walk(
    mut fp: u64,
    stack: core::ops::Range<u64>,
    read: impl Fn(u64) -> u64,
    mut emit: impl FnMut(usize, u64),
    max: usize,
) {
    for depth in 0..max {
        let record_fits = fp >= stack.start && fp.checked_add(16).is_some_and(|end| end <= stack.end);
        if fp == 0 || !fp.is_multiple_of(8) || !record_fits {
            return;
        }
        let (next, ret) = (read(fp), read(fp + 8));
        if ret == 0 {
            return;
        }
        // The return address is the instruction after the call; the call itself is
        // 4 bytes earlier, which is the line a reader wants to see.
        emit(depth, ret.wrapping_sub(4));
        if next <= fp {
            return;
        }
        fp = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn run(stack: &HashMap<u64, u64>, fp: u64) -> Vec<u64> {
        let mut out = Vec::new();
        walk(fp, 0x1000..0x2000, |a| stack.get(&a).copied().unwrap_or(0), |_, a| out.push(a), 16);
        out
    }

    #[test]
    fn follows_records_up_the_stack_until_the_chain_ends() {
        let stack = HashMap::from([
            (0x1100, 0x1200),
            (0x1108, 0xFFFF_FFFF_8000_1004),
            (0x1200, 0),
            (0x1208, 0xFFFF_FFFF_8000_2008),
        ]);
        assert_eq!(run(&stack, 0x1100), vec![0xFFFF_FFFF_8000_1000, 0xFFFF_FFFF_8000_2004]);
    }

    #[test]
    fn stops_at_records_outside_the_stack_or_going_down() {
        let loops = HashMap::from([(0x1100, 0x1100), (0x1108, 0x44)]);
        assert_eq!(run(&loops, 0x1100), vec![0x40], "a record pointing at itself");
        let outside = HashMap::from([(0x1100, 0x9000), (0x1108, 0x44)]);
        assert_eq!(run(&outside, 0x1100), vec![0x40]);
        assert!(run(&HashMap::new(), 0x1FF8).is_empty(), "record would cross the stack end");
        assert!(run(&HashMap::new(), 0x1101).is_empty(), "misaligned");
        assert!(run(&HashMap::new(), 0).is_empty());
    }
}
