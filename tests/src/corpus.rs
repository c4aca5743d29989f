// SPDX-License-Identifier: MIT OR Apache-2.0
//! "Will it boot my board?", over every arm64 board Linux knows.
//!
//! Debian's arm64 Linux image package carries the device trees of 577 boards (Linux
//! 6.1; `scripts/lib.sh` `ensure_dtbs` fetches them into `target/dtbs`). `topology
//! --corpus DIR` reads each with the kernel's own parser and support check
//! (`platform::support`), and judges it:
//!
//! - the parser must not panic (it runs under `catch_unwind`: a panic is counted and
//!   named, never a crash of the tool);
//! - it must read the board, and find as many CPUs as the tree has, counted
//!   independently of the parser: from `dtc`'s source text of the blob
//!   ([`tree_cpu_count`]: the enabled `cpu` nodes of `/cpus`);
//! - its verdict (`support: bootable=yes|no ...`) is tallied by what the board has and
//!   what the kernel lacks.
//!
//! The summary is one line, `report: dtb-corpus boards= parsed= cpus-match= panics=
//! bootable= ...`, and `N passed, N failed` (a board passes on the first two points).

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The enabled CPUs of `/cpus` in `dts`, the source text `dtc -I dtb -O dts` prints:
/// the children of the top-level `cpus` node that are CPUs (`device_type = "cpu"`, or
/// named `cpu@...`, as the Devicetree Specification names them) and whose `status`,
/// if any, is `okay` or `ok`. A line-based reading of dtc's own layout (one node or
/// property a line, `};` closing a node), independent of the kernel's parser.
pub fn tree_cpu_count(dts: &str) -> usize {
    // (name, is a cpu so far, enabled so far) of the /cpus child being read.
    let mut depth = 0usize;
    let mut in_cpus = false;
    let mut child: Option<(String, bool, bool)> = None;
    let mut count = 0;
    for line in dts.lines().map(str::trim) {
        if let Some(head) = line.strip_suffix('{') {
            let name = head.trim().rsplit(':').next().unwrap_or("").trim().to_string();
            depth += 1;
            match depth {
                2 if name == "cpus" => in_cpus = true,
                3 if in_cpus => child = Some((name.clone(), name.starts_with("cpu@"), true)),
                _ => {}
            }
            continue;
        }
        if line == "};" {
            match depth {
                3 if in_cpus => {
                    if let Some((_, true, true)) = child.take() {
                        count += 1;
                    }
                }
                2 => in_cpus = false,
                _ => {}
            }
            depth = depth.saturating_sub(1);
            continue;
        }
        if depth == 3
            && let Some((_, is_cpu, enabled)) = child.as_mut()
        {
            if line.starts_with("device_type = \"cpu\"") {
                *is_cpu = true;
            }
            if let Some(status) = line.strip_prefix("status = \"") {
                *enabled = status.starts_with("okay\"") || status.starts_with("ok\"");
            }
        }
    }
    count
}

/// What one board came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The parser panicked: the message.
    Panicked(String),
    /// The parser refused the board: its error.
    Refused(String),
    /// Read: the CPUs the parser found, the tree's count, and the support line.
    Read {
        /// CPUs `Board::from_fdt` found.
        cpus: usize,
        /// CPUs the tree has ([`tree_cpu_count`]).
        tree_cpus: usize,
        /// `support: bootable=... missing=...`.
        support: String,
        /// Whether it is bootable.
        bootable: bool,
        /// What is missing, by piece: `gic`, `timer`, `enable-method`, `console`.
        missing: Vec<&'static str>,
    },
}

impl Verdict {
    /// Whether the board passes: read without a panic, with the tree's CPU count.
    pub fn passes(&self) -> bool {
        matches!(self, Verdict::Read { cpus, tree_cpus, .. } if cpus == tree_cpus)
    }
}

/// Reads `blob` as the kernel would (booting on the first CPU), with a panic caught;
/// `tree_cpus` is the tree's own CPU count.
pub fn judge(blob: &[u8], tree_cpus: usize) -> Verdict {
    let read = std::panic::catch_unwind(|| match platform::Board::from_fdt(blob) {
        Err(e) => Verdict::Refused(e.to_string()),
        Ok(board) => {
            let support = platform::support::check(&board, Some(blob), 0);
            Verdict::Read {
                cpus: board.cpus.len(),
                tree_cpus,
                support: support.to_string(),
                bootable: support.bootable(),
                missing: support.missing.iter().map(platform::support::Missing::piece).collect(),
            }
        }
    });
    read.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        Verdict::Panicked(what)
    })
}

/// The corpus as a whole.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Boards read.
    pub boards: usize,
    /// Parsed without an error.
    pub parsed: usize,
    /// Parsed, with the tree's CPU count.
    pub cpus_match: usize,
    /// Parser panics (must be 0).
    pub panics: usize,
    /// `bootable=yes`.
    pub bootable: usize,
    /// Boards missing each piece.
    pub missing: BTreeMap<&'static str, usize>,
    /// Boards by key=value of their support line (`gic=v2`, `enable-method=psci`,
    /// console kinds).
    pub kinds: BTreeMap<String, usize>,
}

impl Tally {
    /// Counts one board's verdict.
    pub fn add(&mut self, v: &Verdict) {
        self.boards += 1;
        match v {
            Verdict::Panicked(_) => self.panics += 1,
            Verdict::Refused(_) => {}
            Verdict::Read { cpus, tree_cpus, support, bootable, missing } => {
                self.parsed += 1;
                self.cpus_match += usize::from(cpus == tree_cpus);
                self.bootable += usize::from(*bootable);
                for piece in missing {
                    *self.missing.entry(piece).or_default() += 1;
                }
                for word in support.split_whitespace() {
                    let kind = match word.split_once('=') {
                        Some(("gic" | "enable-method", _)) => word.to_string(),
                        Some(("console", c)) => format!("console={}", c.split('@').next().unwrap_or(c)),
                        _ => continue,
                    };
                    *self.kinds.entry(kind).or_default() += 1;
                }
            }
        }
    }
}

impl fmt::Display for Tally {
    /// `report: dtb-corpus boards= parsed= cpus-match= panics= bootable=
    /// missing-gic= missing-timer= missing-enable-method= missing-console=`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "report: dtb-corpus boards={} parsed={} cpus-match={} panics={} bootable={}",
            self.boards, self.parsed, self.cpus_match, self.panics, self.bootable
        )?;
        for piece in ["gic", "timer", "enable-method", "console"] {
            write!(f, " missing-{piece}={}", self.missing.get(piece).copied().unwrap_or(0))?;
        }
        Ok(())
    }
}

/// Every `.dtb` under `dir`, sorted, as (path, name relative to `dir`).
pub fn dtbs(dir: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "dtb") {
                let name = path.strip_prefix(dir).unwrap_or(&path).display().to_string();
                out.push((path, name));
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DTS: &str = "/dts-v1/;\n\n/ {\n\tcompatible = \"x\";\n\n\tcpus {\n\t\t#address-cells = <0x01>;\n\n\
        \t\tcpu-map {\n\t\t\tcluster0 {\n\t\t\t\tcore0 {\n\t\t\t\t\tcpu = <0x02>;\n\t\t\t\t};\n\t\t\t};\n\t\t};\n\n\
        \t\tcpu@0 {\n\t\t\tdevice_type = \"cpu\";\n\t\t\treg = <0x00>;\n\t\t};\n\n\
        \t\tcpu0: cpu@1 {\n\t\t\treg = <0x01>;\n\t\t};\n\n\
        \t\tcpu@2 {\n\t\t\tdevice_type = \"cpu\";\n\t\t\tstatus = \"disabled\";\n\t\t};\n\n\
        \t\tcore@3 {\n\t\t\tdevice_type = \"cpu\";\n\t\t\tstatus = \"okay\";\n\t\t};\n\n\
        \t\tidle-states {\n\t\t\tcpu@9 {\n\t\t\t\tdevice_type = \"cpu\";\n\t\t\t};\n\t\t};\n\t};\n\n\
        \tsoc {\n\t\tcpu@5 {\n\t\t\tdevice_type = \"cpu\";\n\t\t};\n\t};\n};\n";

    #[test]
    fn the_tree_s_cpus_are_counted_from_dtc_text() {
        // cpu@0 (type), cpu0: cpu@1 (name), core@3 (type, okay); not the disabled cpu@2,
        // the cpu-map, a grandchild, or a cpu@ outside /cpus.
        assert_eq!(tree_cpu_count(DTS), 3);
        assert_eq!(tree_cpu_count(""), 0);
    }

    #[test]
    fn a_refused_or_panicking_board_fails_and_a_read_one_is_tallied() {
        let v = judge(b"garbage", 1);
        assert!(matches!(v, Verdict::Refused(_)), "{v:?}");
        assert!(!v.passes());
        let virt =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../platform/tests/fixtures/virt-2n2c.dtb"))
                .expect("the QEMU virt fixture");
        let v = judge(&virt, 4);
        assert!(v.passes(), "{v:?}");
        let Verdict::Read { ref support, bootable, .. } = v else { panic!("{v:?}") };
        assert!(bootable, "{support}");
        assert!(
            support.starts_with("support: bootable=yes gic=v3 enable-method=psci console=pl011@"),
            "{support}"
        );
        assert!(!judge(&virt, 5).passes(), "a CPU count that differs from the tree's fails");
        let mut t = Tally::default();
        t.add(&v);
        t.add(&Verdict::Panicked("x".into()));
        t.add(&Verdict::Read {
            cpus: 2,
            tree_cpus: 2,
            support: "support: bootable=no gic=none enable-method=psci console=ns16550@0x1 timer=ppi14"
                .into(),
            bootable: false,
            missing: vec!["gic"],
        });
        assert_eq!(
            t.to_string(),
            "report: dtb-corpus boards=3 parsed=2 cpus-match=2 panics=1 bootable=1 missing-gic=1 missing-timer=0 \
             missing-enable-method=0 missing-console=0"
        );
        assert_eq!(t.kinds.get("console=ns16550"), Some(&1));
        assert_eq!(t.kinds.get("gic=v3"), Some(&1));
    }
}
