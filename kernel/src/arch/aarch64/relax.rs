// SPDX-License-Identifier: MIT OR Apache-2.0
//! A spin-wait's pause: the `yield` hint.
//!
//! This file is the one instruction `sync` needs, and it is `sync`'s child module
//! (`#[path]` in `sync.rs`), not part of `arch`: the lock, which every module uses
//! (`arch` too), must depend on no kernel module, or the modules would import each
//! other in a circle. It lives in this directory because it is an instruction, and
//! instructions live here. What the hint does on hardware and under QEMU's
//! round-robin TCG is `sync`'s documentation.

/// Tells the CPU (and QEMU) that this one is spinning: see `sync`.
#[inline(always)]
pub fn relax() {
    // SAFETY: a hint instruction: no memory, no registers, no state changes.
    unsafe { core::arch::asm!("yield", options(nomem, nostack, preserves_flags)) };
}
