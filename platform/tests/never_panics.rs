// SPDX-License-Identifier: MIT OR Apache-2.0
//! Mutation test: no input makes `Board::from_fdt` panic.
//!
//! The kernel parses a blob it did not write, before it can print a useful panic
//! message; a panic there is a dead board. So this test takes real blobs and breaks
//! them every way it cheaply can: every truncation length, thousands of random byte
//! flips, random header fields. A deterministic xorshift generator keeps failures
//! reproducible (the failing iteration is printed). Success here is *not panicking*:
//! errors are expected and fine, and a blob that still parses is also exercised
//! through the query and printing paths, and through `numa=clusters`
//! (`Board::numa_from_clusters`), which reshapes the board after parsing.

mod common;
use common::{XorShift, exercise_board};
use platform::Board;

fn blobs() -> Vec<Vec<u8>> {
    let dir = env!("CARGO_MANIFEST_DIR");
    [
        format!("{dir}/tests/fixtures/virt-4n-asym.dtb"),
        format!("{dir}/tests/fixtures/virt-clusters.dtb"),
        format!("{dir}/tests/fixtures/dtb/thunder2-99xx.dtb"),
    ]
    .iter()
    .map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}")))
    .collect()
}

/// Parses and, when that works, uses everything a caller might touch.
fn exercise(blob: &[u8]) {
    match Board::from_fdt(blob) {
        Ok(b) => exercise_board(b),
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

#[test]
fn every_truncation_is_refused_without_panicking() {
    for blob in blobs() {
        for len in 0..blob.len() {
            exercise(&blob[..len]);
        }
    }
}

#[test]
fn random_byte_flips_never_panic() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for blob in blobs() {
        for _ in 0..4000 {
            let mut b = blob.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(b.len());
                b[at] ^= 1 << rng.below(8);
            }
            exercise(&b);
        }
    }
}

#[test]
fn random_words_in_the_header_and_structure_never_panic() {
    let mut rng = XorShift(0x1234_5678_9ABC_DEF1);
    for blob in blobs() {
        for _ in 0..4000 {
            let mut b = blob.clone();
            // Word-aligned overwrites hit tokens, lengths and offsets, which single-bit
            // flips reach only slowly. Values favour small and boundary numbers.
            let at = rng.below(b.len() / 4) * 4;
            let value: u32 = match rng.below(4) {
                0 => rng.below(16) as u32,
                1 => u32::MAX - rng.below(16) as u32,
                2 => (b.len() + rng.below(64)) as u32 - 32,
                _ => rng.next() as u32,
            };
            b[at..at + 4].copy_from_slice(&value.to_be_bytes());
            exercise(&b);
        }
    }
}
