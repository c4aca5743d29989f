// SPDX-License-Identifier: MIT OR Apache-2.0
//! `topology`: print the NUMA topology of a device-tree blob, as the kernel would see it.
//!
//! The kernel's device-tree parser (`platform::Board::from_fdt`) is pure code, so it can run
//! on the host too. This tool feeds it a `.dtb` (for example one QEMU dumps with
//! `-M virt,dumpdtb=f.dtb`, or one from a real board) and prints the `numactl --hardware`
//! block the kernel would print, its warnings on stderr, or the error that would stop the
//! kernel. With `--node`/`--dist` it asks QEMU for the device tree of that topology first
//! and, with `--check`, compares the result with the block computed from the spec.

#![forbid(unsafe_code)]

use harness::cli::RunOptions;
use harness::numactl::{describe_mismatch, expected_block};
use harness::qemu::Boot;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: topology FILE.dtb
       topology [--check] [--keep FILE.dtb] --node cpus=N,mem=SIZE [--node ...] [--dist A-B=D ...]
                [--clusters C] [--el2] [--qemu BIN]

Parses a device-tree blob with the kernel's own parser (platform::Board::from_fdt) and prints
the `numactl --hardware` block; warnings go to stderr; a parse error exits 1.

With --node (same syntax as scripts/run), QEMU dumps the DTB of that topology first
(-M virt,dumpdtb=...), which is then parsed the same way.
  --check       also compare with the block computed from the spec; exit 1 if they differ
  --keep FILE   keep the dumped DTB at FILE (default: a temporary file, removed)

Examples:
  topology /tmp/virt.dtb
  topology --check --node cpus=2,mem=512M --node cpus=1,mem=0 --dist 0-1=15 --dist 1-0=25
";

fn parse_dtb(bytes: &[u8], what: &str) -> Result<String, String> {
    let board = platform::Board::from_fdt(bytes).map_err(|e| format!("{what}: {e}"))?;
    for w in board.warnings.iter() {
        eprintln!("warning: {w}");
    }
    Ok(board.numactl().to_string())
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return if args.is_empty() { ExitCode::from(2) } else { ExitCode::SUCCESS };
    }
    if args.len() == 1 && !args[0].starts_with("--") {
        let path = &args[0];
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("topology: cannot read {path}: {e}");
                return ExitCode::FAILURE;
            }
        };
        return match parse_dtb(&bytes, path) {
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
            .and_then(|bytes| parse_dtb(&bytes, &dtb.display().to_string())),
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
