// SPDX-License-Identifier: MIT OR Apache-2.0
//! The user-level runtime: how a user program starts, and what happens when it panics.
//!
//! A user program is a static AArch64 ELF from the initrd (`linker/user.ld` lays it out,
//! `bootfmt::elf` checks it). Whoever starts it (the kernel for the root pager, a pager
//! for everything else) maps its segments, zero-filling each one's memory past its file
//! bytes (ELF semantics: that is `.bss`), and creates a thread with
//!
//! ```text
//!   pc = e_entry = _start    sp = top of a stack the starter mapped (16-byte aligned)
//!   x0 = the thread's UTCB address
//! ```
//!
//! So `_start` has nothing to prepare: no stack to find, no `.bss` to clear, no
//! relocations to apply (the program is linked at a fixed address). It only calls the
//! program's entry function with the UTCB address. A program names that function with
//! [`entry!`]:
//!
//! ```text
//! #![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]
//! rt::entry!(start);
//! fn start(utcb: rt::UtcbAddr) -> ! { loop {} }
//! ```
//!
//! Programs are built for `aarch64-unknown-none`, whose code uses FP/SIMD registers
//! freely (even `core::fmt` does): the kernel keeps each thread's FP/SIMD state
//! (switched lazily: a thread's first FP instruction after another thread used FP on
//! its CPU traps once and loads its state), so the runtime need not avoid it.
//!
//! # Host builds
//!
//! The runtime and every program also compile for the host, so `cargo test --workspace`
//! covers the whole workspace. One cfg gate, `all(target_arch = "aarch64", target_os =
//! "none")`, the kernel's, chooses the target-only code: the `_start` entry and the panic
//! handler here (`start.rs`), and the `__rt_main` symbol that [`entry!`] defines. On the
//! host, [`entry!`] instead defines a `main` that says where the program really runs.
//!
//! # Ending a program
//!
//! A program started by the root task ends with `exit` (on the target): it tells its
//! pager it is done, with a status, and never runs again. The message is an ordinary
//! IPC, labelled [`EXIT_LABEL`] with the status in MR1; the pager (the root task's
//! supervisor) reports it and starts the next program. The thread does not disappear:
//! it blocks waiting for an answer that never comes, and the root task halts it (and
//! keeps it: the root reclaims nothing of an ended program). A panic ends the program the same way,
//! with [`PANIC_STATUS`], after printing the message.
//!
//! # Being told of a shutdown
//!
//! A program that must clean up before the power goes off (or a driver that sees the
//! power button) speaks the root task's shutdown protocol, [`shutdown`]: it registers
//! to be told, waits for the notice, answers when done.

#![cfg_attr(not(test), no_std)]

/// Applies the one target gate to every item given.
macro_rules! on_target {
    ($($item:item)*) => { $( #[cfg(all(target_arch = "aarch64", target_os = "none"))] $item )* };
}

on_target! {
    pub mod start;
    pub mod sys;
    pub mod time;
    pub use start::{exit, my_id, set_utcb_locator};
}

pub mod console;

/// Up to 24 bytes in three message registers (little-endian, zero-padded), and back:
/// how `console` and `device` carry bytes in MR2..MR4.
pub mod words {
    /// The bytes the three words hold.
    pub const BYTES: usize = 24;

    /// `bytes` (at most [`BYTES`]; more are dropped) as three words.
    pub fn pack(bytes: &[u8]) -> [u64; 3] {
        let mut padded = [0u8; BYTES];
        let n = bytes.len().min(BYTES);
        padded[..n].copy_from_slice(&bytes[..n]);
        core::array::from_fn(|i| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&padded[i * 8..i * 8 + 8]);
            u64::from_le_bytes(w)
        })
    }

    /// The bytes of three words.
    pub fn unpack(words: &[u64]) -> [u8; BYTES] {
        let mut bytes = [0u8; BYTES];
        for (i, w) in words.iter().take(3).enumerate() {
            bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        bytes
    }
}
pub mod device;
pub mod shutdown;
pub mod timer;

/// The label of the message with which a program tells its pager that it is done; MR1
/// holds the exit status (0 = success). Sent by `exit`, read by the root task's
/// supervisor (`pagers/root/src/supervisor.rs`).
pub const EXIT_LABEL: u16 = 0x1EE7;

/// The exit status of a program that panicked (Rust's own test harness uses 101 too).
pub const PANIC_STATUS: u64 = 101;

/// The address of the calling thread's UTCB (user thread control block), as the kernel
/// passes it to `_start` in `x0`.
///
/// Only the address: the UTCB's layout (message registers, thread words) belongs to the
/// kernel ABI crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcbAddr(usize);

impl UtcbAddr {
    /// The UTCB at `addr`.
    pub const fn new(addr: usize) -> UtcbAddr {
        UtcbAddr(addr)
    }

    /// The address as a number.
    pub const fn as_usize(self) -> usize {
        self.0
    }
}

/// Names the program's entry function, `fn(UtcbAddr) -> !`, which `_start` calls.
///
/// On the target it defines the symbol `__rt_main` that `start.rs` calls; the function is
/// bound to a typed `fn` pointer first, so a wrong signature is a compile error, not a
/// crash. On the host it defines `main`, which explains that the program runs on the
/// kernel and exits with status 2 (so the entry function must not be called `main`).
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[cfg(all(target_arch = "aarch64", target_os = "none"))]
        #[unsafe(export_name = "__rt_main")]
        fn __rt_main(utcb: $crate::UtcbAddr) -> ! {
            let main: fn($crate::UtcbAddr) -> ! = $main;
            main(utcb)
        }

        #[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
        fn main() {
            let _checked: fn($crate::UtcbAddr) -> ! = $main;
            ::std::eprintln!(
                "{} is a numa-l4 user program: build it for aarch64-unknown-none (scripts/lib.sh build_user) \
                 and start it from the initrd",
                ::core::env!("CARGO_PKG_NAME")
            );
            ::std::process::exit(2);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_utcb_address_round_trips() {
        assert_eq!(UtcbAddr::new(0x10_2000).as_usize(), 0x10_2000);
    }
}
