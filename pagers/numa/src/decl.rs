// SPDX-License-Identifier: MIT OR Apache-2.0
//! A program's NUMA declaration: what it asks of the runtime, carried in its own ELF.
//!
//! A program says it runs across nodes by carrying an ELF note (`PT_NOTE`, name
//! `numa-l4`, type [`NOTE_TYPE`]) whose descriptor is a [`Declaration`], encoded
//! here. `numa_rt::program!` writes it (a `static` in section `.note.numa-l4`, which
//! `linker/user.ld` puts in a `PT_NOTE` segment); the root task finds it with
//! `bootfmt::elf::Elf::note` and starts the program under the NUMA runtime
//! (`pagers/numa-pager`), which decodes and checks it. A program without the note is an
//! ordinary, single-space program. The note is the program's own: it travels with
//! the binary, nothing else need name it.
//!
//! # What a program declares
//! - **threads**: the main thread only, `k` per CPU or per node, or counts on chosen
//!   nodes ([`Threads`]). Each runs the program's entry with its rank; ranks go in the
//!   order of the nodes, then CPUs.
//! - **regions** of its own beside the runtime's: global (one frame per page for all
//!   nodes, with a placement [`Policy`]) or node-local (a frame per node, zeroed). The
//!   runtime's own (code and read-only data node-local, data, bss and heap global,
//!   stacks and UTCBs node-local) need no declaration (`layout.rs`).
//! - sizes: the heap's arena per node and each thread's stack.
//!
//! # Encoding
//! Little-endian, fixed size ([`ENCODED_LEN`] bytes), so that a `const fn` can build it
//! in the program and a loader can refuse it by length alone:
//!
//! ```text
//!  0   magic "NUMA"   4 version (1)   8 threads kind   12 threads count
//!  16  8 x (node u32, count u32)      (Threads::On; unused pairs 0,0)
//!  80  heap KiB per node u32   84 stack KiB u32   88 regions u32   92 reserved 0
//!  96  16 x region: name [u8; 16], base u64, pages u64, kind u32, policy arg u32
//! ```
//!
//! Every way a declaration can be wrong has a [`DeclError`] that names it: the runtime
//! prints it in the program's report and starts nothing.
#![forbid(unsafe_code)]

use crate::region::{Kind, Policy, Source};
use core::fmt;

/// The note's name (`namesz` = 8 with the NUL).
pub const NOTE_NAME: &str = "numa-l4";
/// The note's type: a declaration, version 1.
pub const NOTE_TYPE: u32 = 1;
/// The descriptor's first four bytes.
pub const MAGIC: [u8; 4] = *b"NUMA";
/// The encoding's version.
pub const VERSION: u32 = 1;
/// Most `(node, count)` pairs of [`Threads::On`].
pub const MAX_PLACEMENTS: usize = 8;
/// Most declared regions.
pub const MAX_REGIONS: usize = 16;
/// Bytes of a region's name.
pub const NAME_LEN: usize = 16;
const REGION_LEN: usize = NAME_LEN + 8 + 8 + 4 + 4;
const REGIONS_AT: usize = 96;
/// The descriptor's size in bytes.
pub const ENCODED_LEN: usize = REGIONS_AT + MAX_REGIONS * REGION_LEN;
/// The default heap arena of each node (KiB).
pub const DEFAULT_HEAP_KIB: u32 = 16 * 1024;
/// The default stack of each thread (KiB).
pub const DEFAULT_STACK_KIB: u32 = 64;
/// The largest stack (KiB): a thread's stack slot holds this much.
pub const MAX_STACK_KIB: u32 = 1024;
/// The largest heap arena per node (KiB): 64 GiB.
pub const MAX_HEAP_KIB: u32 = 64 * 1024 * 1024;

/// Which threads the runtime starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// One thread, on the first CPU of the first node with CPUs.
    Main,
    /// `k` threads on every CPU of every node.
    PerCpu(u32),
    /// `k` threads on every node with CPUs (on its CPUs in turn).
    PerNode(u32),
    /// `count` threads on `node`, for each pair (node numbers as the KIP gives them).
    On([(u32, u32); MAX_PLACEMENTS], usize),
}

/// A region the program declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeclRegion {
    /// Its name (for reports; NUL-padded UTF-8).
    pub name: [u8; NAME_LEN],
    /// First address, page aligned.
    pub base: u64,
    /// Length in pages.
    pub pages: u64,
    /// What it is.
    pub kind: Kind,
}

impl DeclRegion {
    /// A region called `name` (at most [`NAME_LEN`] bytes; longer is cut).
    pub const fn new(name: &str, base: u64, pages: u64, kind: Kind) -> DeclRegion {
        let mut n = [0u8; NAME_LEN];
        let bytes = name.as_bytes();
        let mut i = 0;
        while i < bytes.len() && i < NAME_LEN {
            n[i] = bytes[i];
            i += 1;
        }
        DeclRegion { name: n, base, pages, kind }
    }

    /// The name as text (`?` if it is not UTF-8).
    pub fn name(&self) -> &str {
        let len = self.name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        core::str::from_utf8(&self.name[..len]).unwrap_or("?")
    }

    /// One past the last byte, if it does not wrap.
    pub fn end(&self) -> Option<u64> {
        self.pages.checked_mul(crate::region::PAGE).and_then(|len| self.base.checked_add(len))
    }
}

/// A program's declaration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Declaration {
    /// The threads to start.
    pub threads: Threads,
    /// The heap arena of each node, KiB.
    pub heap_kib: u32,
    /// Each thread's stack, KiB.
    pub stack_kib: u32,
    /// The declared regions (the first `region_count`).
    pub regions: [DeclRegion; MAX_REGIONS],
    /// How many regions.
    pub region_count: usize,
}

/// Why a declaration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeclError {
    /// The descriptor is not [`ENCODED_LEN`] bytes long.
    BadLength(usize),
    /// It does not start with [`MAGIC`].
    BadMagic,
    /// A version this runtime does not read.
    UnknownVersion(u32),
    /// A threads kind other than 0..=3.
    UnknownThreadsKind(u32),
    /// `PerCpu(0)`, `PerNode(0)`, or a pair with count 0.
    NoThreads,
    /// More than [`MAX_PLACEMENTS`] pairs.
    TooManyPlacements(u32),
    /// More than [`MAX_REGIONS`] regions.
    TooManyRegions(u32),
    /// Region `index` has a kind other than 0 (global) and 1 (node-local).
    UnknownRegionKind {
        /// The region's index.
        index: usize,
        /// The kind found.
        kind: u32,
    },
    /// Region `index` has a policy this runtime does not know.
    UnknownPolicy {
        /// The region's index.
        index: usize,
        /// The policy found.
        policy: u32,
    },
    /// Region `index` is not page aligned, is empty, or wraps around.
    MalformedRegion(usize),
    /// Regions `a` and `b` overlap.
    Overlap(usize, usize),
    /// Region `index` overlaps the runtime's own part of the address space.
    Reserved(usize),
    /// A stack of 0 KiB or above [`MAX_STACK_KIB`], or not a multiple of 4.
    BadStack(u32),
    /// A heap arena of 0 KiB or above [`MAX_HEAP_KIB`], or not a multiple of 4.
    BadHeap(u32),
    /// Reserved bytes are not zero.
    Reserved92,
}

impl fmt::Display for DeclError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DeclError::BadLength(n) => write!(f, "declaration of {n} bytes, not {ENCODED_LEN}"),
            DeclError::BadMagic => f.write_str("declaration without the NUMA magic"),
            DeclError::UnknownVersion(v) => {
                write!(f, "declaration version {v}, this runtime reads {VERSION}")
            }
            DeclError::UnknownThreadsKind(k) => write!(f, "unknown threads kind {k}"),
            DeclError::NoThreads => f.write_str("a declaration that asks for no threads"),
            DeclError::TooManyPlacements(n) => write!(f, "{n} thread placements, at most {MAX_PLACEMENTS}"),
            DeclError::TooManyRegions(n) => write!(f, "{n} regions, at most {MAX_REGIONS}"),
            DeclError::UnknownRegionKind { index, kind } => write!(f, "region {index}: unknown kind {kind}"),
            DeclError::UnknownPolicy { index, policy } => {
                write!(f, "region {index}: unknown policy {policy}")
            }
            DeclError::MalformedRegion(i) => write!(f, "region {i}: not page aligned, empty or wrapping"),
            DeclError::Overlap(a, b) => write!(f, "regions {a} and {b} overlap"),
            DeclError::Reserved(i) => write!(f, "region {i} overlaps the runtime's own address range"),
            DeclError::BadStack(k) => write!(f, "a stack of {k} KiB (1..={MAX_STACK_KIB}, a multiple of 4)"),
            DeclError::BadHeap(k) => {
                write!(f, "a heap arena of {k} KiB (1..={MAX_HEAP_KIB}, a multiple of 4)")
            }
            DeclError::Reserved92 => f.write_str("reserved bytes of the declaration are not zero"),
        }
    }
}

const fn put32(b: &mut [u8; ENCODED_LEN], at: usize, v: u32) {
    let bytes = v.to_le_bytes();
    let mut i = 0;
    while i < 4 {
        b[at + i] = bytes[i];
        i += 1;
    }
}

const fn put64(b: &mut [u8; ENCODED_LEN], at: usize, v: u64) {
    let bytes = v.to_le_bytes();
    let mut i = 0;
    while i < 8 {
        b[at + i] = bytes[i];
        i += 1;
    }
}

fn get32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn get64(b: &[u8], at: usize) -> u64 {
    u64::from(get32(b, at)) | u64::from(get32(b, at + 4)) << 32
}

/// Region kind and policy numbers: kind 0 global (policy 0 first touch, 1
/// interleave, 2 fixed node = arg), kind 1 node-local (zeroed).
const fn kind_code(kind: Kind) -> (u32, u32, u32) {
    match kind {
        Kind::Global(Policy::FirstTouch) => (0, 0, 0),
        Kind::Global(Policy::Interleave) => (0, 1, 0),
        Kind::Global(Policy::Fixed(node)) => (0, 2, node as u32),
        Kind::NodeLocal(Source::Zero) => (1, 0, 0),
        Kind::NodeLocal(Source::Template) => (1, 1, 0),
    }
}

impl Declaration {
    /// The main thread only, default heap and stack, no regions of its own.
    pub const fn new() -> Declaration {
        Declaration {
            threads: Threads::Main,
            heap_kib: DEFAULT_HEAP_KIB,
            stack_kib: DEFAULT_STACK_KIB,
            regions: [DeclRegion {
                name: [0; NAME_LEN],
                base: 0,
                pages: 0,
                kind: Kind::Global(Policy::FirstTouch),
            }; MAX_REGIONS],
            region_count: 0,
        }
    }

    /// With these threads.
    pub const fn threads(mut self, threads: Threads) -> Declaration {
        self.threads = threads;
        self
    }

    /// With this heap arena per node (KiB).
    pub const fn heap_kib(mut self, kib: u32) -> Declaration {
        self.heap_kib = kib;
        self
    }

    /// With this stack per thread (KiB).
    pub const fn stack_kib(mut self, kib: u32) -> Declaration {
        self.stack_kib = kib;
        self
    }

    /// With one more region (a declaration with [`MAX_REGIONS`] already keeps them).
    pub const fn region(mut self, region: DeclRegion) -> Declaration {
        if self.region_count < MAX_REGIONS {
            self.regions[self.region_count] = region;
            self.region_count += 1;
        }
        self
    }

    /// The declared regions.
    pub fn declared(&self) -> &[DeclRegion] {
        &self.regions[..self.region_count]
    }

    /// The descriptor bytes ([`ENCODED_LEN`]).
    pub const fn encode(&self) -> [u8; ENCODED_LEN] {
        let mut b = [0u8; ENCODED_LEN];
        b[0] = MAGIC[0];
        b[1] = MAGIC[1];
        b[2] = MAGIC[2];
        b[3] = MAGIC[3];
        put32(&mut b, 4, VERSION);
        let (kind, count) = match self.threads {
            Threads::Main => (0, 1),
            Threads::PerCpu(k) => (1, k),
            Threads::PerNode(k) => (2, k),
            Threads::On(pairs, n) => {
                let mut i = 0;
                while i < n && i < MAX_PLACEMENTS {
                    put32(&mut b, 16 + 8 * i, pairs[i].0);
                    put32(&mut b, 20 + 8 * i, pairs[i].1);
                    i += 1;
                }
                (3, n as u32)
            }
        };
        put32(&mut b, 8, kind);
        put32(&mut b, 12, count);
        put32(&mut b, 80, self.heap_kib);
        put32(&mut b, 84, self.stack_kib);
        put32(&mut b, 88, self.region_count as u32);
        let mut r = 0;
        while r < self.region_count && r < MAX_REGIONS {
            let at = REGIONS_AT + r * REGION_LEN;
            let region = &self.regions[r];
            let mut i = 0;
            while i < NAME_LEN {
                b[at + i] = region.name[i];
                i += 1;
            }
            put64(&mut b, at + 16, region.base);
            put64(&mut b, at + 24, region.pages);
            let (kind, policy, arg) = kind_code(region.kind);
            put32(&mut b, at + 32, kind | policy << 8);
            put32(&mut b, at + 36, arg);
            r += 1;
        }
        b
    }

    /// Decodes and checks a descriptor: every field known, every region well formed,
    /// no two overlapping, none in `reserved` (the runtime's own ranges, `[start,
    /// end)`). The threads are checked against the machine later (`plan.rs`).
    pub fn decode(b: &[u8], reserved: &[(u64, u64)]) -> Result<Declaration, DeclError> {
        if b.len() != ENCODED_LEN {
            return Err(DeclError::BadLength(b.len()));
        }
        if b[..4] != MAGIC {
            return Err(DeclError::BadMagic);
        }
        if get32(b, 4) != VERSION {
            return Err(DeclError::UnknownVersion(get32(b, 4)));
        }
        if get32(b, 92) != 0 {
            return Err(DeclError::Reserved92);
        }
        let (kind, count) = (get32(b, 8), get32(b, 12));
        let threads = match kind {
            0 => Threads::Main,
            1 | 2 if count == 0 => return Err(DeclError::NoThreads),
            1 => Threads::PerCpu(count),
            2 => Threads::PerNode(count),
            3 => {
                if count as usize > MAX_PLACEMENTS {
                    return Err(DeclError::TooManyPlacements(count));
                }
                let mut pairs = [(0, 0); MAX_PLACEMENTS];
                for (i, pair) in pairs.iter_mut().enumerate().take(count as usize) {
                    *pair = (get32(b, 16 + 8 * i), get32(b, 20 + 8 * i));
                    if pair.1 == 0 {
                        return Err(DeclError::NoThreads);
                    }
                }
                if count == 0 {
                    return Err(DeclError::NoThreads);
                }
                Threads::On(pairs, count as usize)
            }
            k => return Err(DeclError::UnknownThreadsKind(k)),
        };
        let (heap_kib, stack_kib) = (get32(b, 80), get32(b, 84));
        if stack_kib == 0 || stack_kib > MAX_STACK_KIB || !stack_kib.is_multiple_of(4) {
            return Err(DeclError::BadStack(stack_kib));
        }
        if heap_kib == 0 || heap_kib > MAX_HEAP_KIB || !heap_kib.is_multiple_of(4) {
            return Err(DeclError::BadHeap(heap_kib));
        }
        let region_count = get32(b, 88);
        if region_count as usize > MAX_REGIONS {
            return Err(DeclError::TooManyRegions(region_count));
        }
        let mut decl = Declaration { threads, heap_kib, stack_kib, ..Declaration::new() }
            .with_regions_from(b, region_count)?;
        decl.region_count = region_count as usize;
        decl.check_regions(reserved)?;
        Ok(decl)
    }

    fn with_regions_from(mut self, b: &[u8], count: u32) -> Result<Declaration, DeclError> {
        for index in 0..count as usize {
            let at = REGIONS_AT + index * REGION_LEN;
            let mut name = [0u8; NAME_LEN];
            name.copy_from_slice(&b[at..at + NAME_LEN]);
            let (code, arg) = (get32(b, at + 32), get32(b, at + 36));
            let (kind, policy) = (code & 0xFF, code >> 8);
            let kind = match (kind, policy) {
                (0, 0) => Kind::Global(Policy::FirstTouch),
                (0, 1) => Kind::Global(Policy::Interleave),
                (0, 2) => Kind::Global(Policy::Fixed(arg as usize)),
                (1, 0) => Kind::NodeLocal(Source::Zero),
                (0 | 1, policy) => return Err(DeclError::UnknownPolicy { index, policy }),
                (kind, _) => return Err(DeclError::UnknownRegionKind { index, kind }),
            };
            self.regions[index] =
                DeclRegion { name, base: get64(b, at + 16), pages: get64(b, at + 24), kind };
        }
        Ok(self)
    }

    fn check_regions(&self, reserved: &[(u64, u64)]) -> Result<(), DeclError> {
        let regions = self.declared();
        for (i, r) in regions.iter().enumerate() {
            let end = r.end().ok_or(DeclError::MalformedRegion(i))?;
            if !r.base.is_multiple_of(crate::region::PAGE) || r.pages == 0 || end > crate::layout::USER_TOP {
                return Err(DeclError::MalformedRegion(i));
            }
            if reserved.iter().any(|&(start, stop)| r.base < stop && start < end) {
                return Err(DeclError::Reserved(i));
            }
            for (j, other) in regions.iter().enumerate().take(i) {
                let other_end = other.end().unwrap_or(u64::MAX);
                if r.base < other_end && other.base < end {
                    return Err(DeclError::Overlap(j, i));
                }
            }
        }
        Ok(())
    }
}

impl Default for Declaration {
    fn default() -> Declaration {
        Declaration::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: &[(u64, u64)] = &[];

    fn sample() -> Declaration {
        Declaration::new()
            .threads(Threads::PerCpu(2))
            .heap_kib(4096)
            .stack_kib(128)
            .region(DeclRegion::new("index", 0x20_0000_0000, 64, Kind::Global(Policy::Interleave)))
            .region(DeclRegion::new("shard", 0x21_0000_0000, 16, Kind::Global(Policy::Fixed(2))))
            .region(DeclRegion::new("scratch", 0x22_0000_0000, 8, Kind::NodeLocal(Source::Zero)))
    }

    #[test]
    fn a_declaration_round_trips_through_its_bytes() {
        let d = sample();
        let got = Declaration::decode(&d.encode(), NONE).unwrap();
        assert_eq!(got, d);
        assert_eq!(got.declared()[0].name(), "index");
        let on = Declaration::new()
            .threads(Threads::On([(0, 1), (3, 2), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0)], 2));
        assert_eq!(Declaration::decode(&on.encode(), NONE), Ok(on));
        assert_eq!(Declaration::decode(&Declaration::new().encode(), NONE), Ok(Declaration::new()));
    }

    #[test]
    fn every_bad_field_is_named() {
        let good = sample().encode();
        let with = |at: usize, v: u32| {
            let mut b = good;
            b[at..at + 4].copy_from_slice(&v.to_le_bytes());
            Declaration::decode(&b, NONE)
        };
        assert_eq!(Declaration::decode(&good[..100], NONE), Err(DeclError::BadLength(100)));
        assert_eq!(with(0, 0), Err(DeclError::BadMagic));
        assert_eq!(with(4, 2), Err(DeclError::UnknownVersion(2)));
        assert_eq!(with(8, 7), Err(DeclError::UnknownThreadsKind(7)));
        assert_eq!(with(12, 0), Err(DeclError::NoThreads));
        assert_eq!(with(84, 0), Err(DeclError::BadStack(0)));
        assert_eq!(with(84, 2048), Err(DeclError::BadStack(2048)));
        assert_eq!(with(80, 3), Err(DeclError::BadHeap(3)));
        assert_eq!(with(88, 17), Err(DeclError::TooManyRegions(17)));
        assert_eq!(with(92, 1), Err(DeclError::Reserved92));
        // Region 1's kind word is at 96 + 40 + 32.
        assert_eq!(with(96 + 40 + 32, 5), Err(DeclError::UnknownRegionKind { index: 1, kind: 5 }));
        assert_eq!(with(96 + 40 + 32, 9 << 8), Err(DeclError::UnknownPolicy { index: 1, policy: 9 }));
        let mut placements = Declaration::new().encode();
        placements[8..12].copy_from_slice(&3u32.to_le_bytes());
        placements[12..16].copy_from_slice(&9u32.to_le_bytes());
        assert_eq!(Declaration::decode(&placements, NONE), Err(DeclError::TooManyPlacements(9)));
    }

    #[test]
    fn regions_must_be_well_formed_apart_and_clear_of_the_runtime() {
        let one = |base, pages| {
            Declaration::new().region(DeclRegion::new("r", base, pages, Kind::Global(Policy::FirstTouch)))
        };
        let check = |d: Declaration, reserved: &[(u64, u64)]| Declaration::decode(&d.encode(), reserved);
        assert_eq!(check(one(0x1001, 1), NONE), Err(DeclError::MalformedRegion(0)));
        assert_eq!(check(one(0x1000, 0), NONE), Err(DeclError::MalformedRegion(0)));
        assert_eq!(check(one(!0xFFF, 2), NONE), Err(DeclError::MalformedRegion(0)));
        assert_eq!(check(one(crate::layout::USER_TOP, 1), NONE), Err(DeclError::MalformedRegion(0)));
        let overlapping = one(0x20_0000_0000, 4).region(DeclRegion::new(
            "b",
            0x20_0000_3000,
            1,
            Kind::NodeLocal(Source::Zero),
        ));
        assert_eq!(check(overlapping, NONE), Err(DeclError::Overlap(0, 1)));
        let touching = one(0x20_0000_0000, 4).region(DeclRegion::new(
            "b",
            0x20_0000_4000,
            1,
            Kind::NodeLocal(Source::Zero),
        ));
        assert!(check(touching, NONE).is_ok(), "adjacent is not overlapping");
        assert_eq!(
            check(one(0x40_0000, 1), &[(0x40_0000, 0x80_0000)]),
            Err(DeclError::Reserved(0)),
            "inside the program image"
        );
    }

    #[test]
    fn a_template_region_cannot_be_declared() {
        // Node-local copies of a template are the runtime's (code); a program declares
        // zeroed node-local regions only.
        let d = Declaration::new().region(DeclRegion::new(
            "t",
            0x20_0000_0000,
            1,
            Kind::NodeLocal(Source::Template),
        ));
        assert_eq!(
            Declaration::decode(&d.encode(), NONE),
            Err(DeclError::UnknownPolicy { index: 0, policy: 1 })
        );
    }
}
