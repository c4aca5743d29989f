// SPDX-License-Identifier: MIT OR Apache-2.0
//! Memory management: the kernel's address map and its translation tables.
//!
//! Everything here is logic that the host tests exercise; the few lines that write
//! system registers or touch table memory by address live in `arch::aarch64`.

pub mod early;
pub mod layout;
pub mod table;
