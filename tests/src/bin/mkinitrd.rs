// SPDX-License-Identifier: MIT OR Apache-2.0
//! `mkinitrd`: pack user programs into the initrd, or check that an initrd loads.
//!
//! `scripts/lib.sh` (`build_initrd`) calls it with every program built by `build_user`;
//! `scripts/test` runs `--check` on the result, so each program goes through the same
//! `bootfmt` readers the kernel and the root pager use before any boot test sees it. The
//! logic lives in `harness::initrd`, where it is unit-tested.

#![forbid(unsafe_code)]

use harness::initrd::{InitrdError, check_archive, pack, parse_inputs, write};
use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "\
usage: mkinitrd OUT.cpio NAME=PATH...
       mkinitrd --check FILE.cpio

Packs each file PATH into a newc cpio archive OUT.cpio as entry NAME (mode 0755), in the
order given; the archive is deterministic (mtime 0, inode numbers from 1, owner root).
Missing files and repeated names are errors.

--check reads FILE.cpio back with bootfmt::cpio and every entry with bootfmt::elf, as the
kernel and the root pager will: prints `ok NAME: ...` and a `report: initrd-entry` line per
loadable program, `FAILED NAME: why` otherwise, then `N passed, N failed`; exits 1 if
anything failed.
";

fn pack_to(out: &Path, specs: &[String]) -> Result<(), InitrdError> {
    let inputs = parse_inputs(specs)?;
    let (archive, sizes) = pack(&inputs)?;
    write(out, &archive)?;
    for (input, size) in inputs.iter().zip(sizes) {
        println!("mkinitrd: packed {} ({size} bytes) from {}", input.name, input.path.display());
    }
    println!(
        "{}",
        report::line!("initrd", "file" => out.display(), "entries" => inputs.len(), "bytes" => archive.len())
    );
    Ok(())
}

/// Prints the check's lines; returns (passed, failed).
fn check(path: &Path) -> (usize, usize) {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            println!("FAILED {}: cannot read: {e}", path.display());
            return (0, 1);
        }
    };
    let entries = match check_archive(&bytes) {
        Ok(entries) => entries,
        Err(e) => {
            println!("FAILED {}: {e}", path.display());
            return (0, 1);
        }
    };
    println!(
        "{}",
        report::line!("initrd", "file" => path.display(), "entries" => entries.len(), "bytes" => bytes.len())
    );
    if entries.is_empty() {
        println!("FAILED {}: the archive holds no programs", path.display());
        return (0, 1);
    }
    let mut passed = 0;
    for entry in &entries {
        for line in entry.lines() {
            println!("{line}");
        }
        passed += usize::from(entry.verdict.is_ok());
    }
    (passed, entries.len() - passed)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => {
            eprint!("{USAGE}");
            ExitCode::from(2)
        }
        [h] if h == "-h" || h == "--help" => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        [flag, file] if flag == "--check" => {
            let (passed, failed) = check(Path::new(file));
            println!("{passed} passed, {failed} failed");
            if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        [flag, ..] if flag.starts_with('-') => {
            eprintln!("mkinitrd: unknown option or usage `{}` (see --help)", args.join(" "));
            ExitCode::from(2)
        }
        [out, specs @ ..] => match pack_to(Path::new(out), specs) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mkinitrd: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
