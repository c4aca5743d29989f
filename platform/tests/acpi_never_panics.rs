// SPDX-License-Identifier: MIT OR Apache-2.0
//! Mutation test: no memory contents make `Board::from_acpi` panic.
//!
//! The kernel parses tables it did not write, before it has a console it can trust;
//! a panic there is a dead server. So this test takes good tables (captured from QEMU,
//! and built by the test builder) and breaks them every way it cheaply can: every
//! truncation of every table (with and without its length field following), random
//! byte flips, random words at aligned offsets, pointers bent to nearby addresses.
//! Most mutations are followed by fixing every checksum, or the checksum check would
//! stop them all before the structure parsers see them. A deterministic xorshift
//! generator keeps failures reproducible. Success is *not panicking*: errors are
//! expected; a board that still parses is also printed, queried and reshaped
//! (`numa=clusters`).

mod common;
use common::{XorShift, exercise_board};
use std::path::Path;

use platform::{Board, MemoryWindow, acpi};

// The test builder of `platform::acpi` (it allows its own dead code).
#[path = "../src/acpi/builder.rs"]
mod builder;

use builder::{Image, Virt};

fn captured(name: &str) -> Image {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/acpi").join(name);
    let mut image = Image { rsdp: 0, regions: Vec::new() };
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_str().unwrap().to_string();
        let Some(stem) = file.strip_suffix(".bin") else { continue };
        let hex = stem.strip_prefix("rsdp-");
        let address = u64::from_str_radix(hex.unwrap_or(stem), 16).unwrap();
        if hex.is_some() {
            image.rsdp = address;
        }
        image.regions.push((address, std::fs::read(&path).unwrap()));
    }
    image
}

/// Good images: three captures and a built board with threads, a memory-less node
/// and a SLIT. (The 128-CPU boards are left out: in a debug build each parse takes
/// milliseconds, and they add no code path the 64-CPU capture lacks.)
fn images() -> Vec<Image> {
    let mut threads = Virt::plain(8, 256);
    (threads.clusters, threads.cores, threads.threads) = (2, 2, 2);
    threads.nodes = vec![((0..4).collect(), 128), ((4..8).collect(), 0)];
    threads.dist = Some(vec![vec![10, 25], vec![25, 10]]);
    vec![captured("virt-4n-asym"), captured("virt-clusters"), captured("virt-8n8c"), threads.image()]
}

/// Mutations per image for the random tests.
const ROUNDS: usize = 2000;

/// Parses and, when that works, uses everything a caller might touch.
fn exercise(image: &Image) {
    let windows: Vec<MemoryWindow<'_>> =
        image.regions.iter().map(|(base, bytes)| MemoryWindow { base: *base, bytes }).collect();
    let mem = windows.as_slice();
    let _ = acpi::console(image.rsdp, mem);
    match Board::from_acpi(image.rsdp, mem) {
        Ok(b) => exercise_board(b),
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

#[test]
fn the_good_images_parse() {
    for image in images() {
        let windows: Vec<MemoryWindow<'_>> =
            image.regions.iter().map(|(base, bytes)| MemoryWindow { base: *base, bytes }).collect();
        let b = Board::from_acpi(image.rsdp, windows.as_slice()).unwrap();
        assert!(!b.cpus.is_empty());
    }
}

#[test]
fn every_truncation_is_refused_or_read_without_panicking() {
    for image in images() {
        for r in 0..image.regions.len() {
            let len = image.regions[r].1.len();
            // Every length of small tables; about 150 through the big ones.
            let step = (len / 150).max(1);
            for cut in (0..len).step_by(step) {
                let mut short = image.clone();
                short.regions[r].1.truncate(cut);
                exercise(&short);
                // The same, with the length field saying so and the checksum fixed.
                if cut >= 8 {
                    short.regions[r].1[4..8].copy_from_slice(&(cut as u32).to_le_bytes());
                    short.refresh_checksums();
                    exercise(&short);
                }
            }
        }
    }
}

#[test]
fn random_byte_flips_never_panic() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for image in images() {
        for i in 0..ROUNDS {
            let mut m = image.clone();
            for _ in 0..1 + rng.below(4) {
                let r = rng.below(m.regions.len());
                let bytes = &mut m.regions[r].1;
                let at = rng.below(bytes.len());
                bytes[at] ^= 1 << rng.below(8);
            }
            if i % 4 != 0 {
                m.refresh_checksums();
            }
            exercise(&m);
        }
    }
}

#[test]
fn random_words_never_panic() {
    let mut rng = XorShift(0x1234_5678_9ABC_DEF1);
    for image in images() {
        for _ in 0..ROUNDS {
            let mut m = image.clone();
            let r = rng.below(m.regions.len());
            let len = m.regions[r].1.len();
            if len < 4 {
                continue;
            }
            // Lengths, counts, offsets, UIDs, domains: small and boundary values
            // reach more branches than uniform ones.
            let value: u32 = match rng.below(5) {
                0 => rng.below(16) as u32,
                1 => u32::MAX - rng.below(16) as u32,
                2 => (len + rng.below(64)) as u32 - 32,
                3 => 36 + 20 * rng.below(80) as u32,
                _ => rng.next() as u32,
            };
            let at = rng.below(len - 3);
            m.regions[r].1[at..at + 4].copy_from_slice(&value.to_le_bytes());
            m.refresh_checksums();
            exercise(&m);
        }
    }
}

#[test]
fn bent_pointers_never_panic() {
    let mut rng = XorShift(0x0DDB_A11C_AFE0_0001);
    for image in images() {
        for _ in 0..500 {
            let mut m = image.clone();
            // The RSDP's XSDT address or an XSDT entry, moved a little.
            let xsdt_at = u64::from_le_bytes(m.rsdp_mut()[24..32].try_into().unwrap());
            let delta = rng.below(0x2000) as i64 - 0x1000;
            if rng.below(2) == 0 {
                let bent = xsdt_at.wrapping_add_signed(delta);
                m.rsdp_mut()[24..32].copy_from_slice(&bent.to_le_bytes());
            } else if let Some((_, xsdt)) = m.regions.iter_mut().find(|(a, _)| *a == xsdt_at) {
                let entries = (xsdt.len() - 36) / 8;
                let at = 36 + 8 * rng.below(entries);
                let old = u64::from_le_bytes(xsdt[at..at + 8].try_into().unwrap());
                xsdt[at..at + 8].copy_from_slice(&old.wrapping_add_signed(delta).to_le_bytes());
            }
            m.refresh_checksums();
            exercise(&m);
        }
    }
}
