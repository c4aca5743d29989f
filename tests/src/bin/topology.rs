// SPDX-License-Identifier: MIT OR Apache-2.0
//! `topology`: print the NUMA topology of a device-tree blob, as the kernel would see it.
//!
//! The kernel's device-tree parser (`platform::Board::from_fdt`) is pure code, so it can run
//! on the host too. This tool feeds it a `.dtb` (for example one QEMU dumps with
//! `-M virt,dumpdtb=f.dtb`, or one from a real board) and prints the `numactl --hardware`
//! block the kernel would print, its warnings on stderr, or the error that would stop the
//! kernel. With `--node`/`--dist` it asks QEMU for the device tree of that topology first
//! and, with `--check`, compares the result with the block computed from the spec.
//!
//! `numa=clusters` (every `cpu-map` cluster a NUMA node, see `platform::board`) is applied
//! exactly when the kernel would apply it, by the same code: when the blob's
//! `/chosen/bootargs` holds the word (`platform::board::numa_clusters_requested`), or
//! when `--clusters` before a file name says "as if it did".

#![forbid(unsafe_code)]

use harness::cli::RunOptions;
use harness::corpus;
use harness::numactl::{describe_mismatch, expected_block};
use harness::qemu::Boot;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: topology [--clusters] FILE.dtb
       topology --support FILE.dtb
       topology --corpus DIR [--min-bootable N] [--out FILE]
       topology [--check] [--keep FILE.dtb] --node cpus=N,mem=SIZE [--node ...] [--dist A-B=D ...]
                [--clusters C] [--el2] [--qemu BIN]

Parses a device-tree blob with the kernel's own parser (platform::Board::from_fdt) and prints
the `numactl --hardware` block; warnings go to stderr; a parse error exits 1.
  --clusters    (before or after FILE.dtb) make every cpu-map cluster a NUMA node, as the
                kernel does with `numa=clusters` in /chosen/bootargs (a blob whose bootargs
                hold that word gets it without the flag); refused transformations exit 1

--support FILE.dtb: the same, then whether the kernel would boot the board, naming every
piece it lacks (platform::support): one line
    support: bootable=yes|no gic=v2|v3|none enable-method=... console=KIND@BASE|none
             timer=ppiN|none missing=PIECE:NAME;...|none
exit 0 whatever the verdict (1 only if the blob cannot be read).

--corpus DIR: every .dtb under DIR (e.g. target/dtbs, Debian's arm64 board trees:
scripts/lib.sh ensure_dtbs): each read with a panic caught, its CPU count compared with
the tree's (counted from `dtc -O dts` text), its support line written to FILE (--out,
default DIR/support.txt); prints the boards that fail, the tally by GIC, enable method
and console, `report: dtb-corpus boards= parsed= cpus-match= panics= bootable= missing-...`
and `N passed, N failed` (a board passes when it is read, without a panic, with the
tree's CPU count; with --min-bootable N one more check: at least N bootable boards).

With --node (same syntax as scripts/run), QEMU dumps the DTB of that topology first
(-M virt,dumpdtb=...), which is then parsed the same way.
  --check       also compare with the block computed from the spec; exit 1 if they differ
  --keep FILE   keep the dumped DTB at FILE (default: a temporary file, removed)

Examples:
  topology /tmp/virt.dtb
  topology --clusters platform/tests/fixtures/dtb/juno.dtb
  topology --check --node cpus=2,mem=512M --node cpus=1,mem=0 --dist 0-1=15 --dist 1-0=25
";

/// What the kernel would make of a blob: the `numactl` block and the warnings, in order.
struct Reading {
    block: String,
    warnings: Vec<String>,
}

/// Parses `bytes` as the kernel does, then applies `numa=clusters` when `clusters` is set
/// or the blob's bootargs ask for it.
fn read_board(bytes: &[u8], what: &str, clusters: bool) -> Result<Reading, String> {
    let mut board = platform::Board::from_fdt(bytes).map_err(|e| format!("{what}: {e}"))?;
    if clusters || platform::board::numa_clusters_requested(board.chosen.bootargs) {
        board.numa_from_clusters().map_err(|e| format!("{what}: numa=clusters: {e}"))?;
    }
    let mut warnings: Vec<String> = board.warnings.iter().map(ToString::to_string).collect();
    if board.dropped_warnings() > 0 {
        warnings.push(format!("{} more warnings dropped", board.dropped_warnings()));
    }
    Ok(Reading { block: board.numactl().to_string(), warnings })
}

/// [`read_board`], with the warnings printed on stderr.
fn parse_dtb(bytes: &[u8], what: &str, clusters: bool) -> Result<String, String> {
    let reading = read_board(bytes, what, clusters)?;
    for w in &reading.warnings {
        eprintln!("warning: {w}");
    }
    Ok(reading.block)
}

/// The file form, `[--clusters] FILE.dtb` (the flag on either side): the file and whether
/// `--clusters` was given. `None` for anything else, which is a QEMU spec (where
/// `--clusters C` means something else: C clusters in the dumped tree).
fn file_args(args: &[String]) -> Option<(&str, bool)> {
    match args {
        [file] if !file.starts_with("--") => Some((file, false)),
        [flag, file] | [file, flag] if flag == "--clusters" && !file.starts_with("--") => Some((file, true)),
        _ => None,
    }
}

/// `--support FILE.dtb`: the block, then the support line.
fn support(path: &str) -> ExitCode {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("topology: cannot read {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match parse_dtb(&bytes, path, false) {
        Ok(block) => print!("{block}"),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    match platform::Board::from_fdt(&bytes) {
        Ok(board) => println!("{}", platform::support::check(&board, Some(&bytes), 0)),
        Err(e) => eprintln!("error: {path}: {e}"),
    }
    ExitCode::SUCCESS
}

/// The tree's CPU count, from `dtc`'s source text of the blob at `path`.
fn tree_cpus(path: &Path) -> Result<usize, String> {
    let out = Command::new("dtc")
        .args(["-q", "-I", "dtb", "-O", "dts"])
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run dtc (apt-get install device-tree-compiler): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "dtc could not read {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(corpus::tree_cpu_count(&String::from_utf8_lossy(&out.stdout)))
}

/// `--corpus DIR [--min-bootable N] [--out FILE]`: see the usage.
fn run_corpus(args: &[String]) -> ExitCode {
    let mut dir = None;
    let mut min_bootable = None;
    let mut out_file = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match (a.as_str(), it.clone().next()) {
            ("--corpus", Some(v)) => dir = Some(PathBuf::from(v)),
            ("--min-bootable", Some(v)) => match v.parse::<usize>() {
                Ok(n) => min_bootable = Some(n),
                Err(_) => {
                    eprintln!("topology: --min-bootable: bad value `{v}`");
                    return ExitCode::from(2);
                }
            },
            ("--out", Some(v)) => out_file = Some(PathBuf::from(v)),
            _ => {
                eprintln!("topology: unexpected `{a}` with --corpus (see --help)");
                return ExitCode::from(2);
            }
        }
        it.next();
    }
    let Some(dir) = dir else {
        eprintln!("topology: --corpus needs a directory");
        return ExitCode::from(2);
    };
    let files = match corpus::dtbs(&dir) {
        Ok(f) if !f.is_empty() => f,
        Ok(_) => {
            eprintln!("topology: no .dtb under {} (scripts/lib.sh: ensure_dtbs)", dir.display());
            println!("0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("topology: cannot read {}: {e}", dir.display());
            println!("0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
    };
    // A panic is caught and counted per board; the default hook would print each.
    std::panic::set_hook(Box::new(|_| {}));
    let (mut tally, mut lines, mut failed) = (corpus::Tally::default(), String::new(), 0);
    for (path, name) in &files {
        let verdict = match (std::fs::read(path), tree_cpus(path)) {
            (Ok(bytes), Ok(count)) => corpus::judge(&bytes, count),
            (Err(e), _) => corpus::Verdict::Refused(format!("cannot read: {e}")),
            (_, Err(e)) => corpus::Verdict::Refused(e),
        };
        tally.add(&verdict);
        let line = match &verdict {
            corpus::Verdict::Read { support, cpus, tree_cpus, .. } => {
                format!("{} board={name} cpus={cpus} tree-cpus={tree_cpus}", support)
            }
            corpus::Verdict::Refused(e) => format!("support: board={name} refused: {e}"),
            corpus::Verdict::Panicked(p) => format!("support: board={name} PANIC: {p}"),
        };
        if !verdict.passes() {
            failed += 1;
            println!("FAILED {name}: {line}");
        }
        lines.push_str(&line);
        lines.push('\n');
    }
    let _ = std::panic::take_hook();
    let out_file = out_file.unwrap_or_else(|| dir.join("support.txt"));
    if let Err(e) = std::fs::write(&out_file, &lines) {
        eprintln!("topology: cannot write {}: {e}", out_file.display());
        failed += 1;
    }
    for (kind, n) in &tally.kinds {
        println!("  {kind}: {n}");
    }
    println!("support lines: {}", out_file.display());
    println!("{tally}");
    let mut passed = files.len() - failed.min(files.len());
    if let Some(min) = min_bootable {
        if tally.bootable >= min {
            passed += 1;
        } else {
            println!("FAILED bootable boards: {} < {min}", tally.bootable);
            failed += 1;
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return if args.is_empty() { ExitCode::from(2) } else { ExitCode::SUCCESS };
    }
    if let [flag, file] = args.as_slice()
        && flag == "--support"
    {
        return support(file);
    }
    if args.first().is_some_and(|a| a == "--corpus") {
        return run_corpus(&args);
    }
    if let Some((path, clusters)) = file_args(&args) {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("topology: cannot read {path}: {e}");
                return ExitCode::FAILURE;
            }
        };
        return match parse_dtb(&bytes, path, clusters) {
            Ok(block) => {
                print!("{block}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }

    // A spec: pull out our own flags, hand the rest to qemu-run's parser.
    let mut take_flag = |flag: &str| -> bool {
        let before = args.len();
        args.retain(|a| a != flag);
        args.len() != before
    };
    let check = take_flag("--check");
    let keep = match args.iter().position(|a| a == "--keep") {
        Some(i) if i + 1 < args.len() => {
            let path = PathBuf::from(args.remove(i + 1));
            args.remove(i);
            Some(path)
        }
        Some(_) => {
            eprintln!("topology: --keep needs a file name");
            return ExitCode::from(2);
        }
        None => None,
    };
    let opts = match RunOptions::parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("topology: {e}");
            return ExitCode::from(2);
        }
    };
    let mut config = match opts.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("topology: {e}");
            return ExitCode::from(2);
        }
    };
    let dtb = keep
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("numa-l4-topology-{}.dtb", std::process::id())));
    config.boot = Boot::DumpDtb(dtb.clone());
    let out = Command::new(&config.qemu).args(config.args()).output();
    let result = match out {
        Err(e) => Err(format!("cannot run {}: {e}", config.qemu)),
        Ok(o) if !o.status.success() => Err(format!(
            "QEMU failed ({}): {}\n  command: {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim(),
            config.command_line()
        )),
        Ok(_) => std::fs::read(&dtb)
            .map_err(|e| format!("cannot read the dumped {}: {e}", dtb.display()))
            .and_then(|bytes| parse_dtb(&bytes, &dtb.display().to_string(), false)),
    };
    if keep.is_none() {
        let _ = std::fs::remove_file(&dtb);
    }
    let block = match result {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{block}");
    if check {
        let want = expected_block(&config.topology);
        if block != want {
            eprintln!(
                "topology: the parsed block differs from the spec (- expected, + parsed):\n{}",
                describe_mismatch(&want, &block)
            );
            return ExitCode::FAILURE;
        }
        eprintln!("topology: matches the spec");
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn linux_dtb(name: &str) -> Vec<u8> {
        let path = format!("{}/../platform/tests/fixtures/dtb/{name}.dtb", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn the_clusters_flag_goes_on_either_side_of_the_file() {
        assert_eq!(file_args(&args(&["juno.dtb"])), Some(("juno.dtb", false)));
        assert_eq!(file_args(&args(&["--clusters", "juno.dtb"])), Some(("juno.dtb", true)));
        assert_eq!(file_args(&args(&["juno.dtb", "--clusters"])), Some(("juno.dtb", true)));
    }

    #[test]
    fn anything_else_is_a_qemu_spec() {
        assert_eq!(file_args(&args(&["--check"])), None);
        assert_eq!(file_args(&args(&["--node", "cpus=4,mem=1G", "--clusters", "2"])), None);
        assert_eq!(file_args(&args(&["--clusters", "--check"])), None);
        assert_eq!(file_args(&args(&["a.dtb", "b.dtb"])), None);
    }

    #[test]
    fn clusters_turn_juno_into_two_nodes() {
        let r = read_board(&linux_dtb("juno"), "juno", true).unwrap();
        assert!(r.block.starts_with("available: 2 nodes (0-1)\nnode 0 cpus: 0 1\nnode 0 size: 4088 MB\n"));
        assert!(r.block.contains("node 1 cpus: 2 3 4 5\nnode 1 size: 4088 MB\n"), "{}", r.block);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        let plain = read_board(&linux_dtb("juno"), "juno", false).unwrap();
        assert!(plain.block.starts_with("available: 1 nodes (0)\n"), "{}", plain.block);
    }

    #[test]
    fn a_board_with_numa_data_keeps_it_and_the_warning_is_reported() {
        let r = read_board(&linux_dtb("hip07-d05"), "d05", true).unwrap();
        assert!(r.block.starts_with("available: 4 nodes (0-3)\n"), "{}", r.block);
        assert_eq!(r.warnings, ["numa=clusters ignored: the device tree has numa-node-id; its nodes kept"]);
    }

    #[test]
    fn a_refused_blob_is_an_error_naming_the_file() {
        let e = read_board(&[0; 8], "x.dtb", true).err().unwrap();
        assert!(e.starts_with("x.dtb: device tree"), "{e}");
    }
}
