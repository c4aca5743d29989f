// SPDX-License-Identifier: MIT OR Apache-2.0
//! Turning the kernel's backtrace addresses into function names and source lines.
//!
//! When the kernel panics or takes an unexpected exception it prints its call chain as bare
//! addresses, one per line (`  #N 0xffffffff80012345`): the kernel has no symbol table at run
//! time and should not need one. The host has the ELF with full debug info, so the runner
//! resolves each address there as the line streams past and prints the answer right below it.
//!
//! Any of `llvm-symbolizer`, `llvm-addr2line` or a binutils `addr2line` that knows AArch64
//! understands `-e ELF -f -C -p -i ADDR`, so one invocation shape serves all of them. When none
//! is installed, the raw addresses are still printed, followed by one line saying what to install.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What to install when no symbolizer is found (Debian package name).
pub const INSTALL_HINT: &str =
    "note: no symbolizer found for the backtrace; install one with `apt-get install llvm`";

/// One parsed backtrace line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// The frame number after `#`.
    pub index: u32,
    /// The address.
    pub addr: u64,
}

/// Parses `  #N 0xHEX` (leading blanks, then anything after the address ignored).
pub fn parse_frame(line: &str) -> Option<Frame> {
    let rest = line.trim_start().strip_prefix('#')?;
    let digits_end = rest.find(|c: char| !c.is_ascii_digit())?;
    let index = rest[..digits_end].parse().ok()?;
    let rest = rest[digits_end..].trim_start();
    if rest.len() == line.len() || !line[..line.len() - rest.len()].ends_with([' ', '\t']) {
        return None;
    }
    let hex = rest.strip_prefix("0x")?;
    let hex_end = hex.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(hex.len());
    if hex_end == 0 || (hex_end < hex.len() && !hex[hex_end..].starts_with([' ', '\t'])) {
        return None;
    }
    let addr = u64::from_str_radix(&hex[..hex_end], 16).ok()?;
    Some(Frame { index, addr })
}

/// A symbolizer program together with the ELF it reads.
#[derive(Debug, Clone)]
pub struct Symbolizer {
    tool: Option<PathBuf>,
    elf: PathBuf,
    /// Prefix stripped from source paths to keep lines short (the workspace root).
    strip_prefix: Option<String>,
}

/// The programs tried, best first.
const CANDIDATES: &[&str] = &[
    "llvm-symbolizer",
    "llvm-symbolizer-19",
    "llvm-symbolizer-18",
    "llvm-symbolizer-17",
    "llvm-symbolizer-16",
    "llvm-symbolizer-15",
    "llvm-symbolizer-14",
    "llvm-addr2line",
    "llvm-addr2line-14",
    "aarch64-linux-gnu-addr2line",
    "addr2line",
];

/// Finds `name` on `PATH`.
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

impl Symbolizer {
    /// Picks the first installed symbolizer for `elf` (none at all is allowed: see [`Self::tool`]).
    pub fn find(elf: impl Into<PathBuf>, strip_prefix: Option<&Path>) -> Symbolizer {
        Symbolizer {
            tool: CANDIDATES.iter().find_map(|c| which(c)),
            elf: elf.into(),
            strip_prefix: strip_prefix.map(|p| format!("{}/", p.display())),
        }
    }

    /// A symbolizer that never resolves anything (for tests and for `--no-symbolize`).
    pub fn none(elf: impl Into<PathBuf>) -> Symbolizer {
        Symbolizer { tool: None, elf: elf.into(), strip_prefix: None }
    }

    /// The program in use, if any.
    pub fn tool(&self) -> Option<&Path> {
        self.tool.as_deref()
    }

    /// Resolves one frame to `function at file:line:col` lines (inlined callers included).
    ///
    /// Every address is resolved as printed: the kernel already turns return addresses
    /// into the address of the call instruction (`kernel/src/backtrace.rs`), and frame
    /// #0 of an exception is the faulting instruction itself.
    pub fn resolve(&self, frame: Frame) -> Result<Vec<String>, String> {
        let tool = self.tool.as_ref().ok_or_else(|| INSTALL_HINT.to_string())?;
        if !self.elf.is_file() {
            return Err(format!("note: cannot symbolize: no kernel ELF at {}", self.elf.display()));
        }
        let addr = frame.addr;
        let out = Command::new(tool)
            .arg("-e")
            .arg(&self.elf)
            .args(["-f", "-C", "-p", "-i"])
            .arg(format!("{addr:#x}"))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("note: cannot run {}: {e}", tool.display()))?;
        if !out.status.success() {
            return Err(format!(
                "note: {} failed: {}",
                tool.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| match &self.strip_prefix {
                Some(p) => l.replace(p.as_str(), ""),
                None => l.to_string(),
            })
            .collect();
        Ok(lines)
    }

    /// The text to print for one output line: the line itself, plus the resolved location
    /// indented beneath it when it is a backtrace line. `hinted` remembers whether the
    /// "install a symbolizer" note was printed already, so it appears once per run.
    pub fn annotate(&self, line: &str, hinted: &mut bool) -> String {
        let Some(frame) = parse_frame(line) else {
            return line.to_string();
        };
        match self.resolve(frame) {
            Ok(locs) if !locs.is_empty() => {
                let mut out = line.to_string();
                for loc in locs {
                    out.push_str("\n        ");
                    out.push_str(&loc);
                }
                out
            }
            Ok(_) => line.to_string(),
            Err(note) => {
                if *hinted {
                    line.to_string()
                } else {
                    *hinted = true;
                    format!("{line}\n{note}")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backtrace_lines_parse() {
        assert_eq!(
            parse_frame("  #0 0xffffffff80012345"),
            Some(Frame { index: 0, addr: 0xffff_ffff_8001_2345 })
        );
        assert_eq!(parse_frame("  #12 0x40200000 (fp=0x1)"), Some(Frame { index: 12, addr: 0x4020_0000 }));
        assert_eq!(parse_frame("#3\t0xABCDEF\r").map(|f| f.addr), None, "a trailing CR is not a separator");
        assert_eq!(parse_frame("#3\t0xABCDEF").map(|f| f.addr), Some(0xabcdef));
    }

    #[test]
    fn other_lines_are_not_frames() {
        for line in [
            "report: boot result=pass",
            "panic: at kernel/src/main.rs:3",
            "  #x 0x1234",
            "  # 0x1234",
            "  #1 1234",
            "  #1 0x",
            "  #1 0x12zz",
            "  #10x1234",
            "",
        ] {
            assert_eq!(parse_frame(line), None, "{line:?}");
        }
    }

    #[test]
    fn without_a_tool_the_hint_is_printed_once() {
        let s = Symbolizer::none("/nonexistent");
        let mut hinted = false;
        let a = s.annotate("  #0 0x1000", &mut hinted);
        assert_eq!(a, format!("  #0 0x1000\n{INSTALL_HINT}"));
        let b = s.annotate("  #1 0x2000", &mut hinted);
        assert_eq!(b, "  #1 0x2000");
        assert_eq!(s.annotate("hello", &mut hinted), "hello");
    }

    #[test]
    fn a_missing_elf_is_reported_not_hidden() {
        let mut s = Symbolizer::none("/nonexistent/kernel");
        s.tool = Some("/bin/true".into());
        let err = s.resolve(Frame { index: 1, addr: 4 }).unwrap_err();
        assert!(err.contains("no kernel ELF at /nonexistent/kernel"), "{err}");
    }
}
