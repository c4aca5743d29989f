// SPDX-License-Identifier: MIT OR Apache-2.0
//! The build script of every user program: hands `linker/user.ld` to the linker, for the
//! bare-metal target only.
//!
//! Every user program is linked by `linker/user.ld` (fixed address, one segment per
//! permission). Link arguments from a dependency's build script do not reach a binary, so
//! `rt` cannot do this for its programs: each program's `Cargo.toml` names this one file
//! instead (`build = "../user-build.rs"`), and cargo builds it once per program, with that
//! program's `CARGO_MANIFEST_DIR`. Host builds are ordinary binaries and must not see the
//! script. `max-page-size=4096` makes `p_align` the 4 KiB granule the loader maps with,
//! instead of lld's AArch64 default of 64 KiB.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../linker/user.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    if os == "none" && arch == "aarch64" {
        println!("cargo:rustc-link-arg-bins=-T{}", script.display());
        println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
    }
}
