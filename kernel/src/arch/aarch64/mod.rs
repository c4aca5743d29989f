// SPDX-License-Identifier: MIT OR Apache-2.0
//! AArch64: everything that must be an instruction rather than logic.
//!
//! This directory is the kernel's hardware leaf. `boot` takes the CPU from the boot
//! loader to Rust at the kernel's link address; `trap` is the exception vector
//! table; `cpu` wraps single instructions (MPIDR, PSCI, semihosting, barriers);
//! `tables` maps device registers once the MMU is on. Everything they compute with
//! (descriptor encoding, the early map, syndrome decoding) lives in portable modules
//! and is tested on the host.

pub mod boot;
pub mod cpu;
pub mod tables;
pub mod trap;
