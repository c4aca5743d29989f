// SPDX-License-Identifier: MIT OR Apache-2.0
//! The kernel console: `kprintln!` to the UART the device tree names.
//!
//! There is one console, shared by every CPU, behind a lock so lines do not
//! interleave. It is whichever UART the board's rule picks (`platform::Board::console`:
//! `stdout-path`, else the first UART the tree names) of the kinds the kernel drives: a
//! PL011 (`platform::pl011`), or an 8250/16550 or BCM2835 mini-UART
//! (`platform::ns16550`, through one register page). Until the board is read there is no console at all, and output is
//! dropped: the boot code keeps such early phases tiny. Panics and fatal exceptions
//! use [`print_fatal`], which takes the console even from a CPU that died holding it.

use crate::sync::Mutex;
use core::fmt::{self, Write};
use platform::mmio::MmioPage;
use platform::ns16550::Ns16550;
use platform::pl011::Pl011;

/// The console's UART.
pub enum Uart {
    /// An Arm PL011.
    Pl011(Pl011),
    /// An 8250/16550 or BCM2835 mini-UART.
    Ns16550(Ns16550<MmioPage>),
}

impl Uart {
    /// Waits until every byte written has left the UART.
    fn flush(&mut self) {
        match self {
            Uart::Pl011(u) => u.flush(),
            Uart::Ns16550(u) => u.wait_idle(),
        }
    }
}

impl Write for Uart {
    /// Writes `s`, `\n` as `\r\n`.
    fn write_str(&mut self, s: &str) -> fmt::Result {
        match self {
            Uart::Pl011(u) => u.write_str(s),
            Uart::Ns16550(u) => u.write_str(s),
        }
    }
}

static CONSOLE: Mutex<Option<Uart>> = Mutex::new(None);

/// Makes `uart` the console.
pub fn install(uart: Uart) {
    *CONSOLE.lock() = Some(uart);
}

/// Whether a console exists yet.
pub fn present() -> bool {
    CONSOLE.lock().is_some()
}

#[doc(hidden)]
pub fn print(args: fmt::Arguments) {
    if let Some(uart) = CONSOLE.lock().as_mut() {
        // The UARTs' write_str never fails.
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
