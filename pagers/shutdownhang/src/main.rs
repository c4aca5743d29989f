// SPDX-License-Identifier: MIT OR Apache-2.0
//! `shutdownhang`: a program that registers for shutdown and never answers.
//!
//! The root task waits for the answers of the programs it told of a shutdown, but only
//! until its deadline (`pagers/root/src/shutdown.rs`, `ANSWER_US`): a program that
//! hangs in its cleanup must not keep the system from powering off. This program is
//! that program, for the boot test `shutdown-timeout`: it registers
//! (`rt::shutdown::register`), prints `report: shutdownhang registered=yes`, and when
//! the notice comes prints `report: shutdownhang told=yes answer=never` and waits for
//! ever. The test boots it alone with the root, so no driver can ask for the shutdown
//! and the root begins it itself once every program has started; it wants
//! `report: shutdown told=1 acknowledged=0 timed-out=1`, this program reported
//! `status=no-answer`, and the root's power-off status 1 (one failed program).
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

rt::entry!(hang);

/// The program: see the crate docs.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
fn hang(_utcb: rt::UtcbAddr) -> ! {
    use abi::timeout::Timeouts;
    use rt::{println, shutdown, sys};
    if let Err(e) = shutdown::register(0) {
        println!("shutdownhang: registering failed: {e}");
        println!("{}", report::line!("shutdownhang", "registered" => "no"));
        rt::exit(1);
    }
    println!("{}", report::line!("shutdownhang", "registered" => "yes"));
    let mut told = false;
    loop {
        let Ok(m) = sys::ipc(0, u64::MAX, Timeouts::NEVER.pack(), [0; 5]) else { continue };
        if shutdown::is_notice(m.from, m.mr) && !told {
            told = true;
            println!("{}", report::line!("shutdownhang", "told" => "yes", "answer" => "never"));
        }
    }
}

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn hang(_utcb: rt::UtcbAddr) -> ! {
    unreachable!("the host build only type-checks the entry")
}
