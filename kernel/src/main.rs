// SPDX-License-Identifier: MIT OR Apache-2.0
//! The kernel binary: links the `kernel` library into an image.
//!
//! All code lives in the library (entry point `_start` in `arch/aarch64/boot.rs`);
//! this file only makes cargo produce the ELF that `scripts/run` turns into an arm64
//! Image. Built for the host, it explains itself and exits, so that `cargo build` and
//! `cargo test` on the host work for the whole workspace.
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
use kernel as _;

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn main() {
    eprintln!("the numa-l4 kernel runs on aarch64 bare metal: build and boot it with scripts/run");
    std::process::exit(2);
}
