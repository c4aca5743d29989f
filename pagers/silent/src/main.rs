// SPDX-License-Identifier: MIT OR Apache-2.0
//! `silent`: a program that never ends and never sends the root task a word.
//!
//! The root task waits for every program it did not make resident (the foreground, and
//! those started beside the next with `&` in the manifest), but only while they show
//! signs of life: a program silent toward it (no fault, no message) for
//! `supervisor::SILENCE_US` is given up, reported `status=timeout` and its memory taken
//! back, so a hung program cannot keep the system from ending. This program is that
//! program, for the boot test `silent-program`: it prints `report: silent waiting=yes`
//! (its one line of output: after it, nothing) and sleeps for ever, a second at a time
//! (kernel timeouts: no CPU, and no message to the root).
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

rt::entry!(silent);

/// The program: see the crate docs.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
fn silent(_utcb: rt::UtcbAddr) -> ! {
    rt::println!("{}", report::line!("silent", "waiting" => "yes"));
    loop {
        rt::timer::sleep(core::time::Duration::from_secs(1));
    }
}

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn silent(_utcb: rt::UtcbAddr) -> ! {
    unreachable!("the host build only type-checks the entry")
}
