// SPDX-License-Identifier: MIT OR Apache-2.0
//! The run's manifest: which programs the root task starts, in which order, how often,
//! with which arguments, and which run beside the next.
//!
//! Without a manifest the root starts every program of the initrd once, in name order
//! (`loader::next_program`). An initrd entry called [`MANIFEST`] says otherwise, one
//! program a line (`scripts/run --program NAME` writes one):
//!
//! ```text
//! # comments and blank lines are skipped
//! sweep share=25 rounds=16        <- NAME, then its arguments (numa_rt::args)
//! stencil mode=single-space       <- the NUMA runtime's own flags are arguments too
//! churn *1000                     <- *N: N runs, one after the other
//! kvstore &                       <- &: the next program starts without waiting for it
//!                                    (the run still waits for it to end)
//! ```
//!
//! Two arguments are also the NUMA runtime's flags (`numa::proto`): `mode=single-space`
//! (the paper's baseline: one space and one pager for every node) and `replicate=off`
//! (one copy of the code for every node). Pure, host-tested: a bad line is refused with
//! its number and why, and the run starts nothing of a manifest it cannot read.

use core::fmt;

/// The manifest's name in the initrd.
pub const MANIFEST: &str = "programs";
/// Most runs of one line.
pub const MAX_REPEAT: u32 = 100_000;

/// One line: a program to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Launch<'a> {
    /// The program's name in the initrd.
    pub name: &'a str,
    /// Its arguments, as written (blank-separated), without `*N` and `&`.
    pub args: &'a str,
    /// How many runs.
    pub repeat: u32,
    /// Whether the next program starts without waiting for this one.
    pub parallel: bool,
    /// The NUMA runtime's flags its arguments name (`numa::proto::FLAG_*`).
    pub flags: u64,
}

/// Why a manifest was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestError<'a> {
    /// Line `line`: `*N` with N not a number in `1..=MAX_REPEAT`.
    BadRepeat {
        /// The line (1-based).
        line: usize,
        /// The word.
        word: &'a str,
    },
    /// Line `line`: `&` or `*N` before the program's name, or after the end.
    Misplaced {
        /// The line (1-based).
        line: usize,
    },
    /// The manifest is not UTF-8.
    NotText,
}

impl fmt::Display for ManifestError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestError::BadRepeat { line, word } => {
                write!(f, "manifest line {line}: `{word}` is not *N with N in 1..={MAX_REPEAT}")
            }
            ManifestError::Misplaced { line } => write!(f, "manifest line {line}: `&` and `*N` go after the name"),
            ManifestError::NotText => f.write_str("the manifest is not UTF-8 text"),
        }
    }
}

/// The lines of `text` that name programs, checked.
pub fn parse(text: &[u8]) -> Result<impl Iterator<Item = Launch<'_>> + Clone, ManifestError<'_>> {
    let text = core::str::from_utf8(text).map_err(|_| ManifestError::NotText)?;
    for (i, line) in text.lines().enumerate() {
        if let Some(e) = parse_line(line, i + 1).err() {
            return Err(e);
        }
    }
    Ok(text.lines().enumerate().filter_map(|(i, l)| parse_line(l, i + 1).ok().flatten()))
}

/// One line: `None` for a blank or comment line.
fn parse_line(line: &str, number: usize) -> Result<Option<Launch<'_>>, ManifestError<'_>> {
    let line = line.split('#').next().unwrap_or("").trim();
    let mut words = line.split_ascii_whitespace();
    let Some(name) = words.next() else { return Ok(None) };
    if name == "&" || name.starts_with('*') {
        return Err(ManifestError::Misplaced { line: number });
    }
    let (mut repeat, mut parallel, mut flags, mut controls) = (1, false, 0, false);
    // The arguments: from the end of the name to the end of the last word that is one.
    let offset = |w: &str| w.as_ptr() as usize - line.as_ptr() as usize;
    let (start, mut end) = (name.len(), name.len());
    for word in words {
        if word == "&" {
            (parallel, controls) = (true, true);
        } else if let Some(n) = word.strip_prefix('*') {
            repeat = n
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_REPEAT).contains(n))
                .ok_or(ManifestError::BadRepeat { line: number, word })?;
            controls = true;
        } else if controls {
            return Err(ManifestError::Misplaced { line: number });
        } else {
            match word {
                "mode=single-space" => flags |= numa::proto::FLAG_SINGLE_SPACE,
                "replicate=off" => flags |= numa::proto::FLAG_NO_REPLICATION,
                _ => {}
            }
            end = offset(word) + word.len();
        }
    }
    Ok(Some(Launch { name, args: line[start..end].trim(), repeat, parallel, flags }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<Launch<'_>> {
        parse(text.as_bytes()).unwrap().collect()
    }

    #[test]
    fn lines_name_programs_with_arguments_repeats_and_parallel_runs() {
        let m = all("# the run\n\nsweep share=25 rounds=16\nstencil mode=single-space replicate=off\nchurn *1000\nkvstore &\nhello *2 &\n");
        assert_eq!(m.len(), 5);
        assert_eq!((m[0].name, m[0].args, m[0].repeat, m[0].parallel), ("sweep", "share=25 rounds=16", 1, false));
        assert_eq!(m[1].flags, numa::proto::FLAG_SINGLE_SPACE | numa::proto::FLAG_NO_REPLICATION);
        assert_eq!(m[1].args, "mode=single-space replicate=off");
        assert_eq!((m[2].name, m[2].args, m[2].repeat), ("churn", "", 1000));
        assert_eq!((m[3].name, m[3].parallel), ("kvstore", true));
        assert_eq!((m[4].repeat, m[4].parallel), (2, true));
        assert_eq!(all("a # x=1\n")[0].args, "", "comments end the line");
    }

    #[test]
    fn a_bad_line_is_refused_with_its_number() {
        let err = |t: &'static str| parse(t.as_bytes()).err().unwrap();
        assert_eq!(err("a\nb *0\n"), ManifestError::BadRepeat { line: 2, word: "*0" });
        assert_eq!(err("b *x\n"), ManifestError::BadRepeat { line: 1, word: "*x" });
        assert_eq!(err("b *100001\n"), ManifestError::BadRepeat { line: 1, word: "*100001" });
        assert_eq!(err("& b\n"), ManifestError::Misplaced { line: 1 });
        assert_eq!(err("b & x=1\n"), ManifestError::Misplaced { line: 1 });
        assert_eq!(err("*2 b\n"), ManifestError::Misplaced { line: 1 });
        assert_eq!(parse(b"\xff").err(), Some(ManifestError::NotText));
        assert!(ManifestError::BadRepeat { line: 3, word: "*0" }.to_string().contains("line 3"));
    }
}
