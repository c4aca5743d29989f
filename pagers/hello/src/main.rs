// SPDX-License-Identifier: MIT OR Apache-2.0
//! `hello`: the smallest real program. It greets, checks its statics, and exits.
//!
//! The root task starts it like every program of the initrd (in a new address space, on a
//! CPU it chose, with itself as the pager; see `pagers/root/src/supervisor.rs`). It asks
//! the kernel where it runs (`Introspect` `CurrentCpu`), prints
//! `hello from hello on cpu C node N`, and ends with `rt::exit`, which the supervisor
//! reports as `report: program name=hello status=0 ...`.
//!
//! It also checks the loader's side of the ELF contract, because the file has both kinds
//! of static: [`SEED`] has a nonzero initial value, so it lives in `.data` and must have
//! been *copied* from the file; [`TURNS`] starts at zero, so it lives in `.bss` and must
//! have been *zeroed* (it has no file bytes). If either is wrong, the program exits with
//! status 1 and the boot tests fail.
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

use core::sync::atomic::{AtomicU64, Ordering};

/// A `.data` static: its value comes from the file.
static SEED: AtomicU64 = AtomicU64::new(0x5EED_F1AB);
/// A `.bss` static: the loader zero-fills it.
static TURNS: AtomicU64 = AtomicU64::new(0);

rt::entry!(hello);

/// Whether the statics hold what the file says, then one write to each (so the data
/// page really is writable).
#[cfg_attr(
    not(all(target_arch = "aarch64", target_os = "none")),
    allow(dead_code, reason = "host: tests only")
)]
fn statics_are_as_loaded() -> bool {
    let loaded = SEED.load(Ordering::Relaxed) == 0x5EED_F1AB && TURNS.load(Ordering::Relaxed) == 0;
    TURNS.fetch_add(1, Ordering::Relaxed);
    SEED.fetch_add(1, Ordering::Relaxed);
    loaded && TURNS.load(Ordering::Relaxed) == 1
}

/// The program: greet, then exit 0 (1 if the statics were not loaded right).
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
fn hello(_utcb: rt::UtcbAddr) -> ! {
    use abi::introspect::{CurrentCpu, Request};
    let statics_ok = statics_are_as_loaded();
    match rt::sys::introspect(Request::CurrentCpu.encode()) {
        Ok(regs) => {
            let here = CurrentCpu::from_regs(regs);
            rt::println!("hello from {} on cpu {} node {}", env!("CARGO_PKG_NAME"), here.cpu, here.node);
        }
        Err(e) => rt::println!("hello from {}: Introspect CurrentCpu failed: {e}", env!("CARGO_PKG_NAME")),
    }
    if !statics_ok {
        rt::println!("hello: .data was not copied or .bss not zeroed");
        rt::exit(1);
    }
    rt::exit(0)
}

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn hello(_utcb: rt::UtcbAddr) -> ! {
    unreachable!("the host build only type-checks the entry")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_statics_read_as_loaded_once() {
        assert!(statics_are_as_loaded());
        assert!(!statics_are_as_loaded(), "the second look sees the first one's writes");
    }
}
