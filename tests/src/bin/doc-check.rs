// SPDX-License-Identifier: MIT OR Apache-2.0
//! `doc-check`: every file, item and link the Markdown docs name must exist.
//!
//! `scripts/test` runs it (stage `doc-check`) so that the book and the README cannot
//! drift from the code they teach: a renamed function or a moved file fails the run with
//! the line that names it. What counts as a reference: `harness::doccheck`.
//!
//!     doc-check [ROOT]     # ROOT: the repository (default: the current directory)

#![forbid(unsafe_code)]

use harness::doccheck::{Tree, check};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let root = std::env::args_os().nth(1).map_or_else(|| PathBuf::from("."), PathBuf::from);
    let tree = match Tree::from_git(&root) {
        Ok(tree) => tree,
        Err(e) => {
            eprintln!("doc-check: {e}");
            return ExitCode::FAILURE;
        }
    };
    let files = tree.markdown().len();
    let outcome = check(&tree);
    for finding in &outcome.findings {
        println!("{finding}");
    }
    println!(
        "doc-check: {} references in {files} Markdown files, {} broken",
        outcome.checked,
        outcome.findings.len()
    );
    if outcome.findings.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
