// SPDX-License-Identifier: MIT OR Apache-2.0
//! AArch64: everything that must be an instruction rather than logic.
//!
//! This directory is the kernel's hardware leaf. `boot` takes a CPU from the boot
//! loader (or from PSCI `CPU_ON`) to Rust at the kernel's link address; `trap` is the
//! exception vector table; `cpu` wraps single instructions (MPIDR, PSCI, semihosting,
//! barriers, address translation); `gic` the GIC CPU interface; `timer` the generic
//! timer; `tables` maps kernel memory once the MMU is on. Everything they compute with
//! (descriptor encoding, the early map, syndrome decoding) lives in portable modules
//! and is tested on the host.

pub mod boot;
pub mod cpu;
pub mod gic;
pub mod phys;
pub mod tables;
pub mod timer;
pub mod trap;
pub mod user;
