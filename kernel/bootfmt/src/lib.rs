// SPDX-License-Identifier: MIT OR Apache-2.0
//! The boot-image formats: the initrd archive and the user programs inside it.
//!
//! The kernel does not load user programs from a disk; a boot loader (QEMU's `-initrd`,
//! U-Boot's `booti ... ${ramdisk}`) puts one archive in RAM next to the kernel and names
//! its place in the device tree. The archive holds the root pager and the programs it
//! starts, each an ELF executable. Both the kernel (to find and start the root pager) and
//! the root pager (to start everything else) read these formats, so they live here, in a
//! crate that depends on nothing and runs its tests on the host.
//!
//! - [`cpio`]: the SVR4 "newc" cpio archive, the format Linux uses for its initramfs, so
//!   standard tools (`cpio -t`, `bsdtar`) can inspect what the project builds.
//! - [`elf`]: ELF64 little-endian AArch64 executables, checked so that a loader can map
//!   their segments without further checks.
//!
//! # Design
//!
//! *Validate, then assume.* Every byte comes from outside the kernel's control, so every
//! reader checks each field before use and returns an error that names what was wrong and
//! where (an offset into the blob, a segment index). Nothing panics on bad input: the
//! tests feed every truncation and thousands of mutations of valid files to prove it.
//! The readers never allocate and never copy; they hand out slices of the input.
//!
//! The writer (`cpio::write`, feature `alloc`) exists for the host tool that builds the
//! initrd (`mkinitrd` in the harness) and for the tests, which build archives by hand.
//!
//! # References
//!
//! - cpio newc: `man 5 cpio` (libarchive's `cpio.5`), Linux
//!   `Documentation/driver-api/early-userspace/buffer-format.rst` and `init/initramfs.c`.
//! - ELF: the System V gABI ("Object Files", "Program Loading"), and the "ELF for the Arm
//!   64-bit Architecture" supplement (AAELF64) for `EM_AARCH64`.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

#[cfg(any(test, feature = "alloc"))]
extern crate alloc;

pub mod cpio;
pub mod elf;
