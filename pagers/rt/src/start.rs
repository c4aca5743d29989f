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
//!
//! [`exit`] and the panic handler end a program by telling its pager (see the crate
//! docs); they find the pager through the UTCB, whose address `rt_entry` keeps in a
//! `.bss` word (zero until then: a loader need only zero `.bss`, which ELF asks anyway).

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicUsize, Ordering};

use abi::message::Tag;
use abi::thread::ThreadId;
use abi::timeout::Timeouts;

use crate::{EXIT_LABEL, PANIC_STATUS, UtcbAddr, sys};

/// The calling thread's UTCB address, as `_start` received it; 0 before `rt_entry`.
static UTCB: AtomicUsize = AtomicUsize::new(0);

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
    UTCB.store(utcb, Ordering::Relaxed);
    // SAFETY: the only definition of `__rt_main` is the one `rt::entry!` generates, which
    // binds the program's function to `fn(UtcbAddr) -> !` before calling it, so the
    // signature declared here is the one defined; a program without `entry!` fails to link.
    unsafe extern "Rust" {
        safe fn __rt_main(utcb: UtcbAddr) -> !;
    }
    __rt_main(UtcbAddr::new(utcb))
}

/// How a program with several threads in one space finds the calling thread's UTCB
/// (a `fn() -> usize` as an address; 0: none, use [`UTCB`]). [`UTCB`] is one `.bss` word
/// for the whole program: right for a program with one thread (every program the root
/// task starts itself), wrong for one whose threads share their statics, which
/// registers a locator ([`set_utcb_locator`]) that works it out per thread (a NUMA
/// program's: from its stack slot, `numa_rt`).
static LOCATOR: AtomicUsize = AtomicUsize::new(0);

/// Makes `locate` the way this program finds the calling thread's UTCB (see
/// [`LOCATOR`]); `exit`, `my_id` and the panic handler use it from then on.
pub fn set_utcb_locator(locate: fn() -> usize) {
    LOCATOR.store(locate as usize, Ordering::Relaxed);
}

/// This thread's UTCB address, or 0 if it is not known yet.
fn utcb() -> usize {
    match LOCATOR.load(Ordering::Relaxed) {
        0 => UTCB.load(Ordering::Relaxed),
        f => {
            // SAFETY: LOCATOR only ever holds 0 or a `fn() -> usize` that
            // `set_utcb_locator` stored (a function pointer as an address, of this very
            // type), so calling it as one is calling that function.
            let locate: fn() -> usize = unsafe { core::mem::transmute::<usize, fn() -> usize>(f) };
            locate()
        }
    }
}

/// Reads word `offset` of this thread's UTCB; 0 if the UTCB is not known yet.
fn utcb_word(offset: usize) -> u64 {
    let utcb = utcb();
    if utcb == 0 {
        return 0;
    }
    // SAFETY: `utcb` is the address the kernel passed to `_start`: it maps the thread's
    // UTCB page there for the thread's whole life, readable by the thread, and `offset`
    // is one of the ABI's word offsets inside that page (aligned, < 4096).
    unsafe { core::ptr::read_volatile((utcb + offset) as *const u64) }
}

/// This thread's id (raw), as `ThreadControl` wrote it into the UTCB; 0 for the root
/// task, which the kernel starts without `ThreadControl` (it is
/// [`ThreadId::ROOT`]).
pub fn my_id() -> u64 {
    utcb_word(abi::utcb::MY_GLOBAL_ID_OFFSET)
}

/// Ends the program with `status` (0 = success): sends its pager an IPC labelled
/// [`EXIT_LABEL`] with the status in MR1, and never returns.
///
/// The pager is the UTCB's pager word; the kernel of ABI v1 does not fill that word in
/// for every thread, so 0 means the root task ([`ThreadId::ROOT`]), which starts every
/// program. The send is a call (send, then receive from the pager): the thread blocks
/// there until the pager halts it. Should the pager ever answer, or the IPC fail, the
/// thread waits again, so it never runs on. The root task itself has no pager to tell:
/// it asks the kernel to power off with `status` instead (the root is the thread whose
/// pager would be itself, or whose UTCB has no id: the kernel starts it without
/// `ThreadControl`, which is what writes the id; for anyone else the call is refused).
pub fn exit(status: u64) -> ! {
    let me = utcb_word(abi::utcb::MY_GLOBAL_ID_OFFSET);
    let pager = match utcb_word(abi::utcb::PAGER_OFFSET) {
        0 => ThreadId::ROOT.raw(),
        p => p,
    };
    if pager == me || me == 0 {
        let _ = sys::power_off(status);
    }
    let tag = Tag::new(EXIT_LABEL, 1, 0).map_or(0, |t| t.raw());
    let mut result = sys::ipc(pager, pager, Timeouts::NEVER.pack(), [tag, status, 0, 0, 0]);
    loop {
        if result.is_err() {
            // Nobody to wait for (the pager is gone): do not spin at full speed.
            // SAFETY: WFE only waits for an event; it touches no memory.
            unsafe { asm!("wfe", options(nomem, nostack, preserves_flags)) };
        }
        result = sys::ipc(0, pager, Timeouts::NEVER.pack(), [0; 5]);
    }
}

/// A panic ends the program: it prints the message and location on the kernel console,
/// then [`exit`]s with [`PANIC_STATUS`], so the supervisor reports it and runs on.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut line = crate::sys::Line::new();
    let _ = core::fmt::Write::write_fmt(&mut line, format_args!("user panic: {info}\n"));
    line.flush();
    exit(PANIC_STATUS)
}
