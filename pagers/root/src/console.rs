// SPDX-License-Identifier: MIT OR Apache-2.0
//! The console driver: a thread of the root task that owns the UART.
//!
//! In an L4 system the console is a user-level driver like the GPIO one: this thread
//! maps the UART the kernel's console uses (the KIP's `console_base`, `console_kind`
//! and 8250 register layout, from the device tree's `stdout-path` or ACPI's SPCR): a
//! PL011, an 8250/16550 or a BCM2835 mini-UART; drives
//! it with `embedded-io`'s `Write` (`platform::uart::Console`), and writes what the programs send
//! it (`rt::console`: calls of 24 bytes, answered once the bytes are in the UART's
//! FIFO or held for the rest of their line, so a program's output keeps its order
//! against everything after it). Each program's chunks are assembled into whole lines
//! (`rt::console::Lines`) before they go out, so two programs' lines never interleave.
//! `\n` goes out as `\r\n`, for terminals, as the kernel's console does.
//!
//! The root task writes through it too once it runs (`rt::console::retry`): with the
//! root writing through the kernel, a root line once landed in the middle of a
//! program's (`report: powerbtn r` ... `eady`), and the test that waited for the
//! program's line never saw it. The kernel keeps its own console: it prints its
//! reports before and after user level, and a warning at run time may still cut into
//! a line, which is rare and harmless for reading.
//!
//! The thread never prints (its own output would be a call to itself).

use core::sync::atomic::{AtomicU64, Ordering};

/// Messages and bytes written, for `report: console`.
static MESSAGES: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

/// Where the UART's registers, the thread's stack and its UTCB go in the root's space.
const REGS: u64 = 0x30_0000_0000;
const STACK: u64 = 0x31_0000_0000;
const UTCB: u64 = 0x28_0000;
/// Above the programs (100), below the root (200).
const PRIORITY: u8 = 150;

/// (messages, bytes) written so far.
pub fn written() -> (u64, u64) {
    (MESSAGES.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed))
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod target {
    use super::*;
    use abi::kip::ConsoleKind;
    use abi::syscall::{CURRENT_CPU, ExregsControl};
    use abi::timeout::{Timeout, Timeouts};
    use core::sync::atomic::AtomicU64;
    use embedded_io::Write;
    use platform::UartKind;
    use platform::mmio::MmioPage;
    use platform::uart::Console;
    use rt::sys;

    /// Where in the mapped page the registers start (a mini-UART's is 0x40), and their
    /// kind: set by `start`, read by the thread.
    static OFFSET: AtomicU64 = AtomicU64::new(0);

    /// The console's kind as the KIP describes it.
    fn kind() -> Option<UartKind<'static>> {
        let kip = sys::kip();
        Some(match ConsoleKind::from_raw(kip.console_kind)? {
            ConsoleKind::None => return None,
            ConsoleKind::Pl011 => UartKind::Pl011,
            ConsoleKind::Bcm2835Aux => UartKind::Bcm2835Aux,
            ConsoleKind::Ns16550 => {
                UartKind::Ns16550 { reg_shift: kip.console_reg_shift, io_width: kip.console_io_width }
            }
        })
    }

    /// MemoryControl flags: device, read-write; read-write, nearest node.
    const DEVICE_RW: u64 = (1 << 1) | (0b110 << 4);
    const RW_NEAREST: u64 = abi::memory_control::MemoryControlFlags::RW_NEAREST.raw();

    /// Starts the console thread; the UART's physical base and kind (its name in
    /// reports), or why not.
    pub fn start(me: u64) -> Result<(u64, &'static str), &'static str> {
        // The UART the kernel's console uses (the KIP says, from the device tree or
        // ACPI's SPCR): the one a reader of the console watches.
        let base = sys::kip().console_base;
        if base == 0 || kind().is_none() {
            return Err("the kernel has no console this driver knows");
        }
        let page = base & !(abi::PAGE_SIZE - 1);
        OFFSET.store(base - page, Ordering::Relaxed);
        sys::memory_control(page, 0, REGS, DEVICE_RW).map_err(|_| "cannot map the UART")?;
        sys::memory_control(0, 2, STACK, RW_NEAREST).map_err(|_| "no stack")?;
        let t = rt::console::console_id();
        sys::thread_control(t, me, me, me, UTCB, CURRENT_CPU).map_err(|_| "cannot create the thread")?;
        sys::set_priority(t, PRIORITY).map_err(|_| "cannot set the thread's priority")?;
        let start = (ExregsControl::START | ExregsControl::SET_SP | ExregsControl::SET_IP).raw();
        let entry = console_main as *const () as u64;
        sys::exchange_registers(t, start, STACK + 0x4000, entry, 0).map_err(|_| "cannot start the thread")?;
        let name = ConsoleKind::from_raw(sys::kip().console_kind).map_or("none", ConsoleKind::name);
        Ok((base, name))
    }

    /// The console thread: write what arrives, answer, wait for the next.
    extern "C" fn console_main(_utcb: u64) -> ! {
        // SAFETY: `start` mapped the UART's register page at REGS (device memory) for
        // this thread alone; the registers start OFFSET bytes into it.
        let regs = unsafe { MmioPage::new((REGS + OFFSET.load(Ordering::Relaxed)) as usize) };
        let uart = kind().and_then(|k| Console::new(regs, k));
        let mut uart = uart.expect("invariant: start checked that the KIP's console kind has a driver");
        let (mut reply_to, mut reply) = (0u64, [0u64; 5]);
        // Whole lines only: a program's line comes in several calls (see rt::console).
        let mut lines: rt::console::Lines<8> = rt::console::Lines::new();
        loop {
            // The answer never blocks the console: a caller that stopped waiting misses it.
            let timeouts = Timeouts { send: Timeout::Zero, receive: Timeout::Never }.pack();
            let got = sys::ipc(reply_to, u64::MAX, timeouts, reply);
            (reply_to, reply) = (0, [0; 5]);
            let Ok(m) = got else { continue };
            let Some((bytes, n)) = rt::console::decode_write(m.mr) else { continue };
            lines.push(m.from, &bytes[..n], |line| {
                let (text, newline) = match line.split_last() {
                    Some((b'\n', text)) => (text, true),
                    _ => (line, false),
                };
                let _ = uart.write_all(text);
                if newline {
                    let _ = uart.write_all(b"\r\n");
                }
            });
            MESSAGES.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(n as u64, Ordering::Relaxed);
            reply_to = m.from;
        }
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub use target::start;
