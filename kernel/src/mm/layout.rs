// SPDX-License-Identifier: MIT OR Apache-2.0
//! The kernel's virtual address map and the MMU configuration that makes it real.
//!
//! User address spaces live in the lower half (TTBR0_EL1, one per space, switched with
//! the ASID); the kernel lives in the upper half (TTBR1_EL1, the same in every space),
//! so entering the kernel never needs a table switch.
//!
//! ```text
//!  0xFFFF_FFFF_FFFF_FFFF +----------------------------------+
//!                        | ACPI window (4 MiB)              |  ACPI_WINDOW
//!  0xFFFF_FFFF_C020_0000 +----------------------------------+
//!                        | device tree window (2 MiB)       |  FDT_WINDOW
//!  0xFFFF_FFFF_C000_0000 +----------------------------------+
//!                        | kernel image (linked here)       |  KERNEL_BASE
//!  0xFFFF_FFFF_8000_0000 +----------------------------------+
//!                        | ...                              |
//!  0xFFFF_E000_0000_0000 | kernel stacks, one slot per CPU  |  STACKS_BASE
//!                        | ...                              |
//!  0xFFFF_C000_0000_0000 | MMIO window (devices, 512 GiB)   |  MMIO_BASE
//!                        | ...                              |
//!  0xFFFF_8000_0000_0000 +----------------------------------+
//!                        | direct map of physical memory    |  DIRECT_MAP_BASE + pa
//!  0xFFFF_0000_0000_0000 +----------------------------------+
//!                        | (non-canonical hole)             |
//!  0x0000_FFFF_FFFF_FFFF +----------------------------------+
//!                        | user space (TTBR0, per space)    |
//!  0x0000_0000_0000_0000 +----------------------------------+
//! ```
//!
//! # Invariants
//! - `KERNEL_BASE` equals the address `linker/kernel.ld` links the image at; the boot
//!   code checks this before relying on it.
//! - Each region above starts at an L0 (512 GiB) boundary or lies in its own L1 slot,
//!   so the regions never share a translation table below the root.
//!
//! # References
//! Arm ARM (DDI 0487) D8.2 "Translation process" (TCR_EL1 fields), D8.5 "Memory
//! region attributes" (MAIR_EL1 encodings).
#![forbid(unsafe_code)]

/// Where the direct map of physical memory starts: `va = DIRECT_MAP_BASE + pa`.
pub const DIRECT_MAP_BASE: u64 = 0xFFFF_0000_0000_0000;
/// The largest physical address the direct map can cover (128 TiB).
pub const DIRECT_MAP_SIZE: u64 = 1 << 47;
/// Where device registers are mapped, one after another.
pub const MMIO_BASE: u64 = 0xFFFF_C000_0000_0000;
/// Size of the MMIO window.
pub const MMIO_SIZE: u64 = 1 << 39;
/// Where the kernel stacks are: CPU `i`'s slot is `STACK_SLOT` bytes at
/// `STACKS_BASE + i * STACK_SLOT`; its stack fills the top `STACK_SIZE` bytes and the
/// rest stays unmapped, so an overflow faults instead of running into a neighbour.
pub const STACKS_BASE: u64 = 0xFFFF_E000_0000_0000;
/// Virtual space per CPU stack (stack plus unmapped guard).
pub const STACK_SLOT: u64 = 64 * 1024;
/// The mapped part of a kernel stack.
pub const STACK_SIZE: u64 = 16 * 1024;

/// The stack of CPU `cpu`: `(bottom, top)` virtual addresses.
pub fn stack_of(cpu: usize) -> (u64, u64) {
    let top = STACKS_BASE + (cpu as u64 + 1) * STACK_SLOT;
    (top - STACK_SIZE, top)
}

/// The kernel image's link address (must equal `KERNEL_BASE` in `linker/kernel.ld`).
pub const KERNEL_BASE: u64 = 0xFFFF_FFFF_8000_0000;
/// Where the early boot code maps the device tree blob handed over in x0.
pub const FDT_WINDOW: u64 = 0xFFFF_FFFF_C000_0000;
/// The largest device tree the window holds (the arm64 boot protocol's limit).
pub const FDT_MAX_SIZE: u64 = 2 << 20;
/// Where the ACPI tables are mapped, page by page as the parser reads them, before the
/// direct map exists ([`crate::mm::window`]); right after the device tree window.
pub const ACPI_WINDOW: u64 = FDT_WINDOW + FDT_MAX_SIZE;
/// Size of the ACPI window: QEMU's tables fill a few pages, a server's tens of KiB.
pub const ACPI_WINDOW_SIZE: u64 = 4 << 20;

/// A page that is never mapped, by rule: the one just below the kernel image. The
/// `selftest=fault` boot option reads it to prove kernel faults are reported.
pub const NEVER_MAPPED: u64 = KERNEL_BASE - 4096;

/// MAIR_EL1: attribute index 0 = Device-nGnRE, 1 = Normal write-back
/// read/write-allocate (inner and outer), 2 = Normal non-cacheable. The indices are
/// [`crate::mm::table::MemType`]'s discriminants.
pub const MAIR_EL1: u64 = 0x04 | (0xFF << 8) | (0x44 << 16);

/// The virtual address of physical address `pa` in the direct map.
pub fn direct_map(pa: u64) -> u64 {
    DIRECT_MAP_BASE + pa
}

/// TCR_EL1 for this map: 48-bit VAs in both halves, 4 KiB granules, write-back
/// inner-shareable table walks, the physical address size the CPU reports
/// (`ID_AA64MMFR0_EL1.PARange`, bits \[3:0\]) and 16-bit ASIDs when the CPU has them
/// (`ASIDBits`, bits \[7:4\] = 0b0010).
pub fn tcr_el1(id_aa64mmfr0: u64) -> u64 {
    const T0SZ: u64 = 16; // 64 - 48
    const T1SZ: u64 = 16 << 16;
    const WALK0: u64 = (0b01 << 8) | (0b01 << 10) | (0b11 << 12); // IRGN0, ORGN0 WB-WA; SH0 inner
    const WALK1: u64 = (0b01 << 24) | (0b01 << 26) | (0b11 << 28); // the same for TTBR1
    const TG0_4K: u64 = 0b00 << 14;
    const TG1_4K: u64 = 0b10 << 30;
    const AS16: u64 = 1 << 36;
    // PARange values 0..=6 encode 32..=52 bits; IPS takes the same encoding. Clamp to
    // 48 bits (5): 52-bit output addresses need the 64 KiB or LPA2 formats.
    let ips = (id_aa64mmfr0 & 0xF).min(5);
    let asid16 = if (id_aa64mmfr0 >> 4) & 0xF == 0b0010 { AS16 } else { 0 };
    T0SZ | T1SZ | WALK0 | WALK1 | TG0_4K | TG1_4K | (ips << 32) | asid16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::table::index;

    #[test]
    fn regions_do_not_share_top_level_slots() {
        assert_eq!(index(DIRECT_MAP_BASE, 0), 0);
        assert_eq!(index(DIRECT_MAP_BASE + DIRECT_MAP_SIZE - 1, 0), 255);
        assert_eq!(index(MMIO_BASE, 0), 384);
        assert_eq!(index(STACKS_BASE, 0), 448);
        let (_, last_top) = stack_of(platform::MAX_CPUS - 1);
        assert_eq!(index(last_top - 1, 0), 448, "all stacks fit in one L0 slot");
        assert_eq!(index(KERNEL_BASE, 0), 511);
        assert_eq!(index(KERNEL_BASE, 1), 510);
        assert_eq!(index(FDT_WINDOW, 1), 511);
        assert_eq!(index(ACPI_WINDOW + ACPI_WINDOW_SIZE - 1, 1), 511, "beside the DTB, one L1 slot");
    }

    #[test]
    fn stacks_have_an_unmapped_guard_below_them() {
        let (bottom0, top0) = stack_of(0);
        let (bottom1, _) = stack_of(1);
        assert_eq!(top0 - bottom0, STACK_SIZE);
        assert_eq!(bottom1 - top0, STACK_SLOT - STACK_SIZE, "CPU 1's guard sits on CPU 0's stack top");
        assert_eq!(top0 % 16, 0);
    }

    #[test]
    fn tcr_takes_the_cpus_physical_address_size_and_asid_width() {
        // Cortex-A72 under QEMU: PARange 0b0100 (44 bits), 16-bit ASIDs.
        let tcr = tcr_el1(0x1124);
        assert_eq!((tcr >> 32) & 0b111, 0b100);
        assert_ne!(tcr & (1 << 36), 0);
        assert_eq!(tcr & 0x3F, 16);
        assert_eq!((tcr >> 16) & 0x3F, 16);
        assert_eq!((tcr >> 30) & 0b11, 0b10, "TG1 = 4 KiB");
        // 8-bit ASIDs and a 52-bit PARange: AS clear, IPS clamped to 48 bits.
        let tcr = tcr_el1(0x0006);
        assert_eq!(tcr & (1 << 36), 0);
        assert_eq!((tcr >> 32) & 0b111, 0b101);
    }

    #[test]
    fn mair_indices_match_the_memory_types() {
        use crate::mm::table::MemType;
        let attr = |i: MemType| (MAIR_EL1 >> (8 * i as u64)) & 0xFF;
        assert_eq!(attr(MemType::Device), 0x04);
        assert_eq!(attr(MemType::Normal), 0xFF);
        assert_eq!(attr(MemType::NormalUncached), 0x44);
    }
}
