// SPDX-License-Identifier: MIT OR Apache-2.0
//! `_start` and the panic handler: the only target-specific code of the runtime.
//!
//! `_start` is the ELF entry point (`ENTRY(_start)` in `linker/user.ld`, which also puts
//! its section first in `.text`). The thread arrives with `sp` and `x0` set by whoever
//! started it (see the crate docs); `_start` zeroes the frame pointer and link register,
//! so that a backtrace walking the `x29` chain ends here (AAPCS64: the outermost frame
//! record is zero), and calls the program's entry function with `x0` unchanged. That
//! function never returns; if it somehow did, `udf` faults at once, which the thread's
//! pager sees, rather than running into whatever follows.

use core::arch::{asm, global_asm};

use crate::UtcbAddr;

global_asm!(
    ".section .text._start, \"ax\", %progbits",
    ".global _start",
    ".type _start, %function",
    "_start:",
    "    mov x29, xzr",
    "    mov x30, xzr",
    "    bl {entry}",
    "    udf #0",
    ".size _start, . - _start",
    entry = sym rt_entry,
);

/// Called by `_start` with the UTCB address the kernel put in `x0`.
extern "C" fn rt_entry(utcb: usize) -> ! {
    // SAFETY: the only definition of `__rt_main` is the one `rt::entry!` generates, which
    // binds the program's function to `fn(UtcbAddr) -> !` before calling it, so the
    // signature declared here is the one defined; a program without `entry!` fails to link.
    unsafe extern "Rust" {
        safe fn __rt_main(utcb: UtcbAddr) -> !;
    }
    __rt_main(UtcbAddr::new(utcb))
}

/// A panic stops the thread: it waits for events forever.
///
/// It cannot say anything yet: printing and reporting need system calls, whose stubs come
/// with the kernel ABI crate. Once that lands, this will report the message and location
/// through the kernel (to the console, or as an exception IPC to the thread's pager) and
/// then stop the thread.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // Say what happened through the kernel console, then stop this thread.
    let mut line = crate::sys::Line::new();
    let _ = core::fmt::Write::write_fmt(&mut line, format_args!("user panic: {info}\n"));
    line.flush();
    loop {
        // SAFETY: WFE only waits; it touches no memory.
        unsafe { asm!("wfe", options(nomem, nostack, preserves_flags)) };
    }
}
