// SPDX-License-Identifier: MIT OR Apache-2.0
//! The evaluation's workloads, as pure functions over a memory the caller provides.
//!
//! The paper closes with questions only measurements answer: how many page faults do
//! per-node spaces cost against one space as more of the data is shared, and what do
//! they do on a realistic workload. `scripts/bench` answers them by running these
//! workloads in `pagers/numademo`'s workers (one per CPU) under QEMU. Written here, once,
//! so that the same code runs three ways: in the workers (over their mappings of the
//! global regions), on the host (`numa-eval` recomputes the results the workers report:
//! nothing is taken on trust), and in host tests.
//!
//! - [`sweep`]: each worker reads and writes [`SWEEP_PAGES`] pages, of which a chosen
//!   share is one pool every worker uses and the rest its own. The sharing degree
//!   decides the page faults: a page every node touches costs one fault per node with
//!   per-node spaces and one fault in total with one space; a private page one fault
//!   either way. Every update also reads [`MIX`], a table in the program's read-only
//!   data, which per-node spaces replicate with the code.
//! - [`stencil_step`]: a one-dimensional Jacobi stencil over a grid split into one slab
//!   per worker, double buffered; each worker first-touches its slab, so the data is
//!   local and only the cells next to a neighbour's slab are read across nodes, the
//!   sharing of a real domain decomposition. Coefficients come from [`COEFF`] (read-only
//!   data again). Workers synchronise only with their neighbours (the caller's job).
//! - [`Params`]: the knobs, parsed from the text of the initrd entry `params`
//!   (`share=25 replicate=off sweep-rounds=16 stencil-iters=8`).

/// Pages each worker's sweep touches.
pub const SWEEP_PAGES: u64 = 16;
/// The words of a sweep page one worker uses: one in each 128-byte group, at its rank
/// (so up to 16 workers share every group of a shared page without a data race).
pub const SWEEP_GROUPS: u64 = 32;
/// Workers at most (ranks `0..MAX_RANKS`).
pub const MAX_RANKS: u64 = 16;
/// Grid cells in each worker's slab of the stencil.
pub const STENCIL_CELLS: u64 = 2048;

/// A memory the workloads read and write, in 8-byte words at byte addresses.
pub trait Memory {
    /// The word at `addr`.
    fn load(&mut self, addr: u64) -> u64;
    /// Writes `value` at `addr`.
    fn store(&mut self, addr: u64, value: u64);
}

const fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

const fn mix_table() -> [u64; 256] {
    let mut t = [0; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = splitmix(i as u64);
        i += 1;
    }
    t
}

const fn coeff_table() -> [u64; 512] {
    let mut t = [0; 512];
    let mut i = 0;
    while i < 512 {
        t[i] = 1 + splitmix(i as u64 + 1000) % 3;
        i += 1;
    }
    t
}

/// The sweep's mixing table (read-only data: 2 KiB).
pub static MIX: [u64; 256] = mix_table();
/// The stencil's per-cell coefficients, 1..=3 (read-only data: one page), repeating
/// every 512 cells: a material map.
pub static COEFF: [u64; 512] = coeff_table();

/// Where the workloads' data lives in the workers' spaces (and how big it is).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The sweep's pages: first the shared pool ([`SWEEP_PAGES`]), then each rank's
    /// private pages ([`SWEEP_PAGES`] each).
    pub sweep: u64,
    /// The stencil's two grids, one after the other, each
    /// `ranks * STENCIL_CELLS` words.
    pub grid: u64,
}

impl Layout {
    /// Pages the sweep's region needs.
    pub const SWEEP_REGION_PAGES: u64 = SWEEP_PAGES * (1 + MAX_RANKS);
    /// Pages the stencil's region needs (two grids of up to [`MAX_RANKS`] slabs).
    pub const GRID_REGION_PAGES: u64 = 2 * MAX_RANKS * STENCIL_CELLS * 8 / 0x1000;

    /// The address of page `j` (of [`SWEEP_PAGES`]) of rank `rank`'s sweep, when the
    /// first `shared` of its pages are the common pool.
    pub fn sweep_page(&self, rank: u64, shared: u64, j: u64) -> u64 {
        let index = if j < shared { j } else { SWEEP_PAGES * (1 + rank) + j };
        self.sweep + index * 0x1000
    }

    /// The address of cell `i` of grid `g` (0 or 1) of a stencil over `ranks` slabs.
    pub fn cell(&self, ranks: u64, g: u64, i: u64) -> u64 {
        self.grid + (g * ranks * STENCIL_CELLS + i) * 8
    }
}

/// One sweep word's next value.
fn sweep_next(x: u64, rank: u64, j: u64, group: u64, round: u64) -> u64 {
    let k = (x ^ group ^ round ^ j) & 0xFF;
    x.wrapping_add(MIX[k as usize]).wrapping_add(rank + 1)
}

/// Rank `rank`'s sweep: `rounds` times, every word it owns in its [`SWEEP_PAGES`] pages
/// (the first `shared` from the common pool) read, mixed with [`MIX`] and written back.
/// Returns the sum of the values written. Words start at zero (fresh frames).
pub fn sweep(mem: &mut impl Memory, layout: &Layout, rank: u64, shared: u64, rounds: u64) -> u64 {
    let mut sum = 0u64;
    for round in 0..rounds {
        for j in 0..SWEEP_PAGES {
            let page = layout.sweep_page(rank, shared, j);
            for group in 0..SWEEP_GROUPS {
                let addr = page + group * 128 + 8 * (rank % MAX_RANKS);
                let y = sweep_next(mem.load(addr), rank, j, group, round);
                mem.store(addr, y);
                sum = sum.wrapping_add(y);
            }
        }
    }
    sum
}

/// What [`sweep`] returns for `rank`, computed without memory (every word evolves on
/// its own): what the root task checks each worker's answer against.
pub fn sweep_expected(rank: u64, rounds: u64) -> u64 {
    let mut sum = 0u64;
    for j in 0..SWEEP_PAGES {
        for group in 0..SWEEP_GROUPS {
            let mut x = 0;
            for round in 0..rounds {
                x = sweep_next(x, rank, j, group, round);
                sum = sum.wrapping_add(x);
            }
        }
    }
    sum
}

/// Cell `i`'s value before the first step.
pub fn stencil_initial(i: u64) -> u64 {
    splitmix(i) & 0xFFFF
}

/// Rank `rank` writes its slab's initial values into both grids (its first touch of
/// them: with a first-touch policy the slab's frames are on its node).
pub fn stencil_init(mem: &mut impl Memory, layout: &Layout, ranks: u64, rank: u64) {
    for i in rank * STENCIL_CELLS..(rank + 1) * STENCIL_CELLS {
        mem.store(layout.cell(ranks, 0, i), stencil_initial(i));
        mem.store(layout.cell(ranks, 1, i), 0);
    }
}

/// Step `step` of rank `rank`'s slab: reads grid `step % 2` (the neighbours' edge cells
/// included: they must have finished step `step - 1`), writes grid `(step + 1) % 2`
/// (they must have finished reading it in step `step - 1`). Each cell becomes the
/// weighted mean `(left + k * centre + right) / (k + 2)`, k from [`COEFF`]; the grid's
/// ends use their own value for the missing neighbour. Returns the sum of the slab's
/// new values.
pub fn stencil_step(mem: &mut impl Memory, layout: &Layout, ranks: u64, rank: u64, step: u64) -> u64 {
    let (src, dst) = (step % 2, (step + 1) % 2);
    let last = ranks * STENCIL_CELLS - 1;
    let first = rank * STENCIL_CELLS;
    let mut left = if first == 0 {
        mem.load(layout.cell(ranks, src, 0))
    } else {
        mem.load(layout.cell(ranks, src, first - 1))
    };
    let mut centre = mem.load(layout.cell(ranks, src, first));
    let mut sum = 0u64;
    for i in first..first + STENCIL_CELLS {
        let right = if i == last { centre } else { mem.load(layout.cell(ranks, src, i + 1)) };
        let k = COEFF[(i % 512) as usize];
        let value = (left + k * centre + right) / (k + 2);
        mem.store(layout.cell(ranks, dst, i), value);
        sum = sum.wrapping_add(value);
        (left, centre) = (centre, right);
    }
    sum
}

/// The knobs of a benchmark run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// The sharing degree in percent: this share of each worker's sweep pages is the
    /// common pool.
    pub share: u64,
    /// Whether per-node spaces replicate code and read-only data (off: every space
    /// maps the runtime's own frames, on its node).
    pub replicate: bool,
    /// Rounds of the sweep (0: none).
    pub sweep_rounds: u64,
    /// Steps of the stencil (0: none).
    pub stencil_steps: u64,
}

impl Default for Params {
    fn default() -> Params {
        Params { share: 25, replicate: true, sweep_rounds: 16, stencil_steps: 8 }
    }
}

/// Why a `params` text was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamError<'a> {
    /// A word without `=`, or a key this program does not know.
    UnknownKey(&'a str),
    /// A value that is not what the key takes (a number, `on`/`off`), or out of range.
    BadValue {
        /// The key.
        key: &'a str,
        /// What was given.
        value: &'a str,
        /// What the key takes.
        expected: &'static str,
    },
}

impl core::fmt::Display for ParamError<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ParamError::UnknownKey(k) => {
                write!(f, "unknown parameter `{k}` (known: share, replicate, sweep-rounds, stencil-iters)")
            }
            ParamError::BadValue { key, value, expected } => {
                write!(f, "`{key}={value}`: expected {expected}")
            }
        }
    }
}

impl Params {
    /// Parses `key=value` words separated by whitespace; keys not given keep their
    /// defaults. `share` is 0..=100 (percent), `replicate` `on` or `off`,
    /// `sweep-rounds` and `stencil-iters` 0..=1000. `mode=` is the NUMA runtime's
    /// (`numa::proto`), in a program's arguments beside these: passed over.
    pub fn parse(text: &str) -> Result<Params, ParamError<'_>> {
        let mut p = Params::default();
        for word in text.split_ascii_whitespace() {
            let Some((key, value)) = word.split_once('=') else { return Err(ParamError::UnknownKey(word)) };
            let number = |max: u64, expected| match value.parse::<u64>() {
                Ok(n) if n <= max => Ok(n),
                _ => Err(ParamError::BadValue { key, value, expected }),
            };
            match key {
                "share" => p.share = number(100, "a percentage, 0..=100")?,
                "sweep-rounds" => p.sweep_rounds = number(1000, "a number of rounds, 0..=1000")?,
                "stencil-iters" => p.stencil_steps = number(1000, "a number of steps, 0..=1000")?,
                "replicate" => {
                    p.replicate = match value {
                        "on" => true,
                        "off" => false,
                        _ => return Err(ParamError::BadValue { key, value, expected: "on or off" }),
                    }
                }
                "mode" => {}
                _ => return Err(ParamError::UnknownKey(key)),
            }
        }
        Ok(p)
    }

    /// Of each worker's [`SWEEP_PAGES`], how many are the shared pool (the sharing
    /// degree, rounded to the nearest page).
    pub fn shared_pages(&self) -> u64 {
        (SWEEP_PAGES * self.share + 50) / 100
    }
}

/// The stencil's results (the sum of each rank's slab after the last of `steps` steps,
/// as [`stencil_step`] returns it) computed in one place: what the workers' reported
/// sums must be. `mem` needs room for two grids of `ranks` slabs at `layout.grid`.
pub fn stencil_reference(
    mem: &mut impl Memory,
    layout: &Layout,
    ranks: u64,
    steps: u64,
) -> [u64; MAX_RANKS as usize] {
    let mut sums = [0u64; MAX_RANKS as usize];
    let ranks = ranks.min(MAX_RANKS);
    for r in 0..ranks {
        stencil_init(mem, layout, ranks, r);
    }
    for step in 0..steps {
        for r in 0..ranks {
            sums[r as usize] = stencil_step(mem, layout, ranks, r, step);
        }
    }
    sums
}

/// A [`Memory`] over a slice of words starting at address `base` (the host's, for
/// [`stencil_reference`]). Addresses outside it read as zero and are not written.
pub struct Words<'a> {
    /// The address of `words[0]`.
    pub base: u64,
    /// The words.
    pub words: &'a mut [u64],
}

impl Memory for Words<'_> {
    fn load(&mut self, addr: u64) -> u64 {
        let i = addr.wrapping_sub(self.base) / 8;
        usize::try_from(i).ok().and_then(|i| self.words.get(i)).copied().unwrap_or(0)
    }
    fn store(&mut self, addr: u64, value: u64) {
        let i = addr.wrapping_sub(self.base) / 8;
        if let Some(w) = usize::try_from(i).ok().and_then(|i| self.words.get_mut(i)) {
            *w = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Fake(HashMap<u64, u64>);

    impl Memory for Fake {
        fn load(&mut self, addr: u64) -> u64 {
            assert_eq!(addr % 8, 0, "unaligned load at {addr:#x}");
            self.0.get(&addr).copied().unwrap_or(0)
        }
        fn store(&mut self, addr: u64, value: u64) {
            assert_eq!(addr % 8, 0, "unaligned store at {addr:#x}");
            self.0.insert(addr, value);
        }
    }

    const LAYOUT: Layout = Layout { sweep: 0x10_0000_0000, grid: 0x20_0000_0000 };

    #[test]
    fn parameters_parse_with_defaults_and_named_errors() {
        assert_eq!(Params::parse(""), Ok(Params::default()));
        let p = Params::parse("share=100\nreplicate=off  sweep-rounds=3 stencil-iters=0").unwrap();
        assert_eq!(
            Params::parse("mode=single-space share=50").map(|p| p.share),
            Ok(50),
            "the runtime's word"
        );
        assert_eq!(p, Params { share: 100, replicate: false, sweep_rounds: 3, stencil_steps: 0 });
        assert_eq!(
            Params::parse("share=101").unwrap_err(),
            ParamError::BadValue { key: "share", value: "101", expected: "a percentage, 0..=100" }
        );
        assert!(matches!(Params::parse("share=-1"), Err(ParamError::BadValue { key: "share", .. })));
        assert!(matches!(Params::parse("replicate=yes"), Err(ParamError::BadValue { key: "replicate", .. })));
        assert!(matches!(Params::parse("sweep-rounds=1001"), Err(ParamError::BadValue { .. })));
        assert_eq!(Params::parse("shar=1"), Err(ParamError::UnknownKey("shar")));
        assert_eq!(Params::parse("share"), Err(ParamError::UnknownKey("share")));
        assert!(Params::parse("bogus").unwrap_err().to_string().contains("known: share"));
    }

    #[test]
    fn sharing_degrees_map_to_pool_pages() {
        let pages = |share| Params { share, ..Params::default() }.shared_pages();
        assert_eq!([pages(0), pages(25), pages(50), pages(100)], [0, 4, 8, 16]);
    }

    #[test]
    fn shared_pages_are_common_and_private_pages_are_disjoint() {
        for shared in [0, 4, 16] {
            for j in 0..SWEEP_PAGES {
                let (a, b) = (LAYOUT.sweep_page(0, shared, j), LAYOUT.sweep_page(15, shared, j));
                assert_eq!(a == b, j < shared, "page {j} of {shared} shared");
                let end = LAYOUT.sweep + Layout::SWEEP_REGION_PAGES * 0x1000;
                assert!(a < end && b < end && a >= LAYOUT.sweep);
            }
        }
        let all: std::collections::HashSet<u64> =
            (0..MAX_RANKS).flat_map(|r| (0..SWEEP_PAGES).map(move |j| LAYOUT.sweep_page(r, 0, j))).collect();
        assert_eq!(all.len() as u64, MAX_RANKS * SWEEP_PAGES, "private pages never collide");
    }

    #[test]
    fn the_sweep_matches_its_memoryless_expectation_even_when_ranks_share_pages() {
        let mut mem = Fake::default();
        // Every rank on the same (fully shared) pages, interleaved round by round: no
        // rank disturbs another's words.
        let sums: Vec<u64> = (0..4).map(|r| sweep(&mut mem, &LAYOUT, r, 16, 5)).collect();
        for (r, &s) in sums.iter().enumerate() {
            assert_eq!(s, sweep_expected(r as u64, 5));
        }
        assert_ne!(sums[0], sums[1], "ranks compute different values");
        assert_eq!(sweep(&mut Fake::default(), &LAYOUT, 2, 0, 0), 0);
    }

    #[test]
    fn stencil_steps_in_any_rank_order_give_the_same_grid() {
        let ranks = 3;
        let run = |order: &[u64]| {
            let mut mem = Fake::default();
            for r in 0..ranks {
                stencil_init(&mut mem, &LAYOUT, ranks, r);
            }
            let mut sums = vec![0u64; ranks as usize];
            for step in 0..4 {
                for &r in order {
                    sums[r as usize] = stencil_step(&mut mem, &LAYOUT, ranks, r, step);
                }
            }
            sums
        };
        assert_eq!(run(&[0, 1, 2]), run(&[2, 0, 1]));
    }

    #[test]
    fn the_reference_agrees_with_ranks_run_one_step_at_a_time() {
        let ranks = 4;
        let mut words = vec![0u64; (2 * ranks * STENCIL_CELLS) as usize];
        let layout = Layout { sweep: 0, grid: 0x1000 };
        let reference = stencil_reference(&mut Words { base: 0x1000, words: &mut words }, &layout, ranks, 3);
        let mut mem = Fake::default();
        for r in 0..ranks {
            stencil_init(&mut mem, &LAYOUT, ranks, r);
        }
        let mut sums = [0u64; MAX_RANKS as usize];
        for step in 0..3 {
            for r in (0..ranks).rev() {
                sums[r as usize] = stencil_step(&mut mem, &LAYOUT, ranks, r, step);
            }
        }
        assert_eq!(reference, sums);
        assert!(reference[..4].iter().all(|&s| s > 0) && reference[4..].iter().all(|&s| s == 0));
    }

    #[test]
    fn a_stencil_step_is_the_weighted_mean_with_edges_clamped() {
        let ranks = 2;
        let mut mem = Fake::default();
        for r in 0..ranks {
            stencil_init(&mut mem, &LAYOUT, ranks, r);
        }
        stencil_step(&mut mem, &LAYOUT, ranks, 1, 0);
        stencil_step(&mut mem, &LAYOUT, ranks, 0, 0);
        let n = ranks * STENCIL_CELLS;
        for i in [0, 1, STENCIL_CELLS - 1, STENCIL_CELLS, n - 1] {
            let (l, c, r) = (
                stencil_initial(i.saturating_sub(1)),
                stencil_initial(i),
                stencil_initial((i + 1).min(n - 1)),
            );
            let l = if i == 0 { c } else { l };
            let r = if i == n - 1 { c } else { r };
            let k = COEFF[(i % 512) as usize];
            assert_eq!(mem.load(LAYOUT.cell(ranks, 1, i)), (l + k * c + r) / (k + 2), "cell {i}");
        }
        assert!(COEFF.iter().all(|k| (1..=3).contains(k)));
        let grids = 2 * ranks * STENCIL_CELLS * 8;
        assert!(grids <= Layout::GRID_REGION_PAGES * 0x1000);
    }
}
