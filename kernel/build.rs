// SPDX-License-Identifier: MIT OR Apache-2.0
//! Hands the kernel linker script to the linker, for the bare-metal target only.
//!
//! The kernel binary must be laid out by `linker/kernel.ld` (Image header first, fixed
//! link address in the upper half); host builds of the same crate are ordinary test
//! binaries and must not see the script.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../linker/kernel.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    if os == "none" && arch == "aarch64" {
        println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    }
}
