// SPDX-License-Identifier: MIT OR Apache-2.0
//! The architecture leaf: everything the kernel does with instructions rather than logic.
//!
//! The rest of the kernel reaches the hardware only through `arch::...`, and `lib.rs`
//! compiles this module only for the bare-metal target (its one cfg gate), so the
//! portable modules build and are tested on the host. What must hold: no `asm!` and no
//! system-register access outside this directory. AArch64 is the only architecture, so
//! the leaf is its module, re-exported whole.

mod aarch64;
pub use aarch64::*;
