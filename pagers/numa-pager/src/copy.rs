// SPDX-License-Identifier: MIT OR Apache-2.0
//! Copying a file's bytes into a page a word at a time, whatever their alignment.
//!
//! The runtime copies every replicated page (a program's code and read-only data onto
//! each node, a pager's own code onto its node) out of the initrd, whose files start
//! wherever the archive put them (4-byte aligned at best). Byte by byte that was 4096
//! loads from the initrd's node and 4096 stores per page: most of the user level's
//! memory accesses of a run, and most of its remote ones (the memory-locality plugin
//! counts accesses, and so does a real memory system's interconnect). `copy` moves 8
//! bytes per load and store: it aligns the destination with a few single bytes, then
//! reads aligned source words and shifts each output word together from two of them,
//! so a page costs 512 loads and 512 stores whatever the source's offset.
//!
//! Pure over a `Memory` of aligned words and single bytes, so host tests check it
//! against a byte copy for every alignment; the target's memory is in `common.rs`.
#![forbid(unsafe_code)]

/// Memory as the copy sees it.
pub trait Memory {
    /// The 8-byte word at `addr` (a multiple of 8).
    fn load(&mut self, addr: u64) -> u64;
    /// Writes the 8-byte word at `addr` (a multiple of 8).
    fn store(&mut self, addr: u64, value: u64);
    /// The byte at `addr`.
    fn load_byte(&mut self, addr: u64) -> u8;
    /// Writes the byte at `addr`.
    fn store_byte(&mut self, addr: u64, value: u8);
}

/// Copies `len` bytes from `src` to `dst` (not overlapping), little-endian words.
/// Reads only aligned words that hold at least one byte of `[src, src + len)`, so it
/// never touches a page the source does not reach.
pub fn copy(m: &mut impl Memory, mut src: u64, mut dst: u64, mut len: u64) {
    while len > 0 && !dst.is_multiple_of(8) {
        let b = m.load_byte(src);
        m.store_byte(dst, b);
        (src, dst, len) = (src + 1, dst + 1, len - 1);
    }
    let words = len / 8;
    let k = src % 8;
    if words > 0 && k == 0 {
        for i in 0..words {
            let w = m.load(src + 8 * i);
            m.store(dst + 8 * i, w);
        }
    } else if words > 0 {
        let (shift, base) = (8 * k, src - k);
        let mut lo = m.load(base);
        for i in 0..words {
            // The word's last byte, `src + 8 i + 7`, is in the next aligned word.
            let hi = m.load(base + 8 * (i + 1));
            m.store(dst + 8 * i, (lo >> shift) | (hi << (64 - shift)));
            lo = hi;
        }
    }
    let done = 8 * words;
    for i in done..len {
        let b = m.load_byte(src + i);
        m.store_byte(dst + i, b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes at addresses `0..len`, counting the accesses and refusing a word outside
    /// the readable range.
    struct Fake {
        bytes: Vec<u8>,
        readable: core::ops::Range<u64>,
        accesses: u64,
    }

    impl Memory for Fake {
        fn load(&mut self, addr: u64) -> u64 {
            assert_eq!(addr % 8, 0, "aligned");
            assert!(
                self.readable.start < addr + 8 && addr < self.readable.end,
                "a word with none of the source's bytes at {addr:#x}"
            );
            self.accesses += 1;
            u64::from_le_bytes(self.bytes[addr as usize..addr as usize + 8].try_into().unwrap())
        }
        fn store(&mut self, addr: u64, value: u64) {
            assert_eq!(addr % 8, 0, "aligned");
            self.accesses += 1;
            self.bytes[addr as usize..addr as usize + 8].copy_from_slice(&value.to_le_bytes());
        }
        fn load_byte(&mut self, addr: u64) -> u8 {
            self.accesses += 1;
            self.bytes[addr as usize]
        }
        fn store_byte(&mut self, addr: u64, value: u8) {
            self.accesses += 1;
            self.bytes[addr as usize] = value;
        }
    }

    #[test]
    fn every_alignment_and_length_copies_exactly_the_bytes() {
        for src in 4096..4096 + 16 {
            for dst in 8448..8448 + 9 {
                for len in [0, 1, 7, 8, 9, 15, 16, 17, 100, 4093] {
                    let mut m = Fake {
                        bytes: (0..16384u32).map(|i| (i * 7 + 3) as u8).collect(),
                        readable: src..src + len,
                        accesses: 0,
                    };
                    let mut want = m.bytes.clone();
                    want.copy_within(src as usize..(src + len) as usize, dst as usize);
                    copy(&mut m, src, dst, len);
                    let first_wrong = m.bytes.iter().zip(&want).position(|(a, b)| a != b);
                    assert_eq!(first_wrong, None, "src {src} dst {dst} len {len}");
                }
            }
        }
    }

    #[test]
    fn a_page_from_any_offset_costs_a_load_and_a_store_per_word() {
        for src in [0x1000, 0x1004, 0x1003] {
            let mut m = Fake { bytes: vec![1; 0x4000], readable: src..src + 4096, accesses: 0 };
            copy(&mut m, src, 0x2000, 4096);
            assert!(m.accesses <= 2 * 512 + 1, "{} accesses from {src:#x}", m.accesses);
        }
    }
}
