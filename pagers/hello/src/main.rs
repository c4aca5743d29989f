// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hello`: the smallest user program. It starts, and loops.
//!
//! It exists to prove the pipeline before there is anything to say: built for
//! `aarch64-unknown-none`, linked by `linker/user.ld` (see `build.rs`), packed into the
//! initrd by `mkinitrd`, and accepted by `bootfmt::elf` (`scripts/test`, stage `initrd`).
//! It makes no system calls because the kernel ABI does not exist yet; once it does, this
//! program prints a greeting and exits. Meanwhile it counts its turns in a static (in
//! `.bss`, so the file also has a zero-filled RW segment), which a debugger can watch.
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

use core::sync::atomic::{AtomicU64, Ordering};

/// How many times the loop has gone round.
static TURNS: AtomicU64 = AtomicU64::new(0);

rt::entry!(hello);

/// The program: nothing to do yet but count until it is stopped.
fn hello(_utcb: rt::UtcbAddr) -> ! {
    loop {
        TURNS.fetch_add(1, Ordering::Relaxed);
        core::hint::spin_loop();
    }
}
