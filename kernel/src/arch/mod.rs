// SPDX-License-Identifier: MIT OR Apache-2.0
//! The architecture leaf, chosen once: only AArch64 exists today.

mod aarch64;
pub use aarch64::*;
