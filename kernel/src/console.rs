// SPDX-License-Identifier: MIT OR Apache-2.0
//! The kernel console: `kprintln!` to the UART the device tree names.
//!
//! There is one console, shared by every CPU, behind a lock so lines do not
//! interleave. Until the board is read there is no console at all, and output is
//! dropped: the boot code keeps such early phases tiny. Panics and fatal exceptions
//! use [`print_fatal`], which takes the console even from a CPU that died holding it.

use crate::sync::Mutex;
use core::fmt::{self, Write};
use platform::pl011::Pl011;

static CONSOLE: Mutex<Option<Pl011>> = Mutex::new(None);

/// Makes `uart` the console.
pub fn install(uart: Pl011) {
    *CONSOLE.lock() = Some(uart);
}

/// Whether a console exists yet.
pub fn present() -> bool {
    CONSOLE.lock().is_some()
}

#[doc(hidden)]
pub fn print(args: fmt::Arguments) {
    if let Some(uart) = CONSOLE.lock().as_mut() {
        // Pl011's write_str never fails.
        let _ = uart.write_fmt(args);
    }
}

/// Prints on the way down: waits a little for the lock, then takes it regardless.
/// The holder is a CPU that is stuck or is this very CPU (a panic while printing);
/// either way, mixed output beats no output, and nothing runs after a fatal print.
pub fn print_fatal(args: fmt::Arguments) {
    for _ in 0..1_000_000 {
        if let Some(mut guard) = CONSOLE.try_lock() {
            if let Some(uart) = guard.as_mut() {
                let _ = uart.write_fmt(args);
                uart.flush();
            }
            return;
        }
        core::hint::spin_loop();
    }
    // SAFETY: see above: the system is stopping, the lock holder will never finish
    // (or is us, below in this stack); the UART driver itself has no invariant a torn
    // write could break.
    unsafe { CONSOLE.force_unlock() };
    print_fatal(args);
}

/// Prints to the console, like `print!`.
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => { $crate::console::print(format_args!($($arg)*)) };
}

/// Prints a line to the console, like `println!`.
#[macro_export]
macro_rules! kprintln {
    () => { $crate::console::print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}
