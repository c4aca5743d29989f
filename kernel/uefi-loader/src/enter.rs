// SPDX-License-Identifier: MIT OR Apache-2.0
//! The jump into the kernel: caches cleaned, MMU off, x0 = device tree.
//!
//! The kernel's entry (`kernel/src/arch/aarch64/boot.rs`) expects Linux's arm64 boot
//! protocol: MMU off, data cache off or the Image cleaned to the point of coherency,
//! instruction cache invalidated, interrupts masked, x0 = the DTB's physical address,
//! x1 = x2 = x3 = 0, at EL2 or EL1. UEFI runs with the MMU and caches on, so the bytes the
//! loader wrote may still sit in the data cache; the kernel reads them with its caches
//! off and would see stale memory. Hence, after `ExitBootServices`:
//!
//! 1. mask interrupts (DAIF);
//! 2. `DC CIVAC` every line of the Image's footprint, the initrd and the DTB: clean to
//!    PoC (the kernel reads them uncached) and invalidate (no dirty line of this memory
//!    can be evicted over what the kernel writes later with caches off);
//! 3. `DSB SY`: the maintenance completes before the MMU goes off (Arm ARM D7.5.9);
//! 4. clear SCTLR_ELx.{M, C, I} at the current EL (EL1 on QEMU virt, EL2 with
//!    `virtualization=on`), then `ISB` so the next fetch sees the change. UEFI's map is
//!    the identity, so the code below keeps running at the same address;
//! 5. `IC IALLU`, `DSB NSH`, `ISB`: no stale instructions of the old contents remain;
//! 6. branch to the entry with x0 = DTB, x1 = x2 = x3 = 0.
//!
//! # References
//! - Linux `Documentation/arch/arm64/booting.rst`, "Call the kernel image".
//! - Arm ARM (DDI 0487): D7.5.9 data cache maintenance by VA, D17.2.118 SCTLR_EL1,
//!   D17.2.119 SCTLR_EL2, D17.2.33 CTR_EL0 (`DminLine`).

use crate::memmap::Range;

/// Cleans and invalidates `ranges` to PoC, turns the MMU and caches off at the current
/// EL and jumps to `entry` with x0 = `dtb`.
///
/// # Safety
/// Boot services must have been exited; `entry` must be the first instruction of an arm64
/// Image loaded at a valid load address, `dtb` a valid device tree, and every range real,
/// identity-mapped memory. The code and stack of this function must be identity-mapped
/// (UEFI guarantees it). Never returns: everything the loader owned is the kernel's now.
pub unsafe fn start_kernel(entry: u64, dtb: u64, ranges: &[Range]) -> ! {
    // SAFETY: the caller's contract. Reads x0-x3 and the ranges (before the MMU goes
    // off: the array is on the cacheable stack); writes SCTLR_ELx, the scratch registers
    // named, and never returns (`noreturn`), so no clobber outlives it. `nostack`: it
    // pushes nothing.
    unsafe {
        core::arch::asm!(
            "msr    daifset, #0xf",
            // x10 = the smallest data cache line: 4 << CTR_EL0.DminLine bytes.
            "mrs    x9, ctr_el0",
            "ubfx   x9, x9, #16, #4",
            "mov    x10, #4",
            "lsl    x10, x10, x9",
            "sub    x11, x10, #1",
            "1:",
            "cbz    x3, 4f",
            "ldp    x4, x5, [x2], #16",        // base, size
            "add    x5, x4, x5",               // end
            "bic    x4, x4, x11",              // down to a line
            "2:",
            "cmp    x4, x5",
            "b.hs   3f",
            "dc     civac, x4",
            "add    x4, x4, x10",
            "b      2b",
            "3:",
            "sub    x3, x3, #1",
            "b      1b",
            "4:",
            "dsb    sy",
            // SCTLR_ELx with M (bit 0), C (bit 2) and I (bit 12) cleared.
            "mov    x12, #0x1005",
            "mrs    x9, CurrentEL",
            "ubfx   x9, x9, #2, #2",
            "cmp    x9, #2",
            "b.eq   5f",
            "mrs    x9, sctlr_el1",
            "bic    x9, x9, x12",
            "msr    sctlr_el1, x9",
            "isb",
            "b      6f",
            "5:",
            "mrs    x9, sctlr_el2",
            "bic    x9, x9, x12",
            "msr    sctlr_el2, x9",
            "isb",
            "6:",
            "ic     iallu",
            "dsb    nsh",
            "isb",
            "mov    x1, xzr",
            "mov    x2, xzr",
            "mov    x3, xzr",
            "br     x16",
            in("x0") dtb,
            in("x16") entry,
            in("x2") ranges.as_ptr(),
            in("x3") ranges.len(),
            options(noreturn, nostack),
        )
    }
}
