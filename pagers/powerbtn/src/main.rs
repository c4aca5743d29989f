// SPDX-License-Identifier: MIT OR Apache-2.0
//! `powerbtn`: a user-level GPIO driver that turns the power button into an orderly
//! shutdown.
//!
//! QEMU `virt` wires its power button (`gpio-keys`, `KEY_POWER`) to line 3 of its
//! PL061 GPIO controller: the monitor's `system_powerdown` pulses that line. This
//! program is the whole driver at user level. The root task starts it like any program
//! of the initrd, but as a **driver** (`pagers/root/src/supervisor.rs`, `Role`): in a
//! privileged space (mapping a device and attaching an interrupt are privileged, and
//! the kernel maps device registers only into the caller's own space), resident
//! alongside the programs started after it, and the one kind of program the root lets
//! ask for the shutdown.
//!
//! 0. it asks the root task where its button is (`rt::device::power_key`: the device
//!    tree's `gpio-keys` key with `linux,code` KEY_POWER, its GPIO controller's
//!    registers and interrupt, and the line): nothing about the board is hard-coded;
//! 1. it maps the PL061's register page (`MemoryControl`, device flag) and drives it
//!    with `platform::pl061` (the same code the host tests run against a fake PL061),
//!    through `embedded-hal` 1.0's `InputPin`;
//! 2. it makes the line an input that interrupts on its rising edge and attaches the
//!    controller's SPI to its own thread (`InterruptControl`; its id from the UTCB,
//!    `rt::my_id`);
//! 3. it prints `report: powerbtn ready` and waits in an open receive: the kernel
//!    masks the line when it fires and sends the interrupt as IPC;
//! 4. on the interrupt it checks that its line is what is pending, acknowledges it at
//!    the device and to the kernel, debounces (20 ms with `embedded-hal`'s `DelayNs`
//!    on the system counter, `rt::time`) and prints `report: powerbtn pressed=yes`;
//! 5. it asks the root task to shut the system down (`rt::shutdown::request`). The
//!    root tells every program that registered to be told, waits for their answers
//!    (a bounded time), reports `report: shutdown told= acknowledged= timed-out=` and
//!    powers off through PSCI; the driver only waits for that. It does not power off
//!    itself, although its privilege would let it: the programs would not be told.
//!
//! A failure before the button works (the device not there, the interrupt refused)
//! ends the program with status 1, which the root reports as a failed program.
//!
//! The boot test `powerbtn` packs the root, this driver and `pagers/shutdownlistener`,
//! sends `system_powerdown` through QEMU's QMP socket when it sees the ready line, and
//! wants the orderly end. On QEMU `virt` the root answers `pl061@9030000`, INTID 39,
//! line 3; a board whose device tree has no power key ends the driver with a message
//! naming why. It is not in the default initrd: a resident driver keeps the system
//! running until its button is pressed.
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

rt::entry!(powerbtn);

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod driver {
    use abi::message::Tag;
    use abi::thread::ThreadId;
    use abi::timeout::{Timeout, Timeouts};
    use embedded_hal::delay::DelayNs;
    use embedded_hal::digital::InputPin;
    use platform::pl061::{MmioPage, Pl061, Trigger};
    use rt::{println, sys};

    /// Where the registers go in this space.
    const REGS: u64 = 0x30_0000_0000;
    /// MemoryControl flags: device, read-write.
    const DEVICE_RW: u64 = (1 << 1) | (0b110 << 4);

    /// Ends the driver with status 1: the root reports it as a failed program.
    fn fail(what: &str) -> ! {
        println!("powerbtn: FAIL {what}");
        println!("{}", report::line!("powerbtn", "pressed" => "no"));
        rt::exit(1)
    }

    /// The driver: see the crate docs.
    pub fn powerbtn(_utcb: rt::UtcbAddr) -> ! {
        let me = rt::my_id();
        if me == 0 {
            fail("run as the root task: the driver runs under the root task, which it asks for the shutdown");
        }
        // Where the button is: the root task reads the device tree.
        let key = match rt::device::power_key() {
            Ok(k) => k,
            Err(e) => {
                println!("powerbtn: no power key: {e}");
                fail("find the power key in the device tree")
            }
        };
        let (Some(intid), Ok(line)) = (key.controller.intid, u8::try_from(key.line)) else {
            fail("the power key's controller has no interrupt, or its line is out of range")
        };
        const BUTTON_MAX: u8 = 7;
        if line > BUTTON_MAX {
            fail("a PL061 has lines 0..=7 only");
        }
        let (button_line, pl061) = (line, key.controller.base);
        if sys::memory_control(pl061, 0, REGS, DEVICE_RW).is_err() {
            fail("map the PL061 registers");
        }
        // SAFETY: REGS now maps the PL061's register page (device memory), which
        // nothing else in this program touches.
        let page = unsafe { MmioPage::new(REGS as usize) };
        let gpio = match Pl061::new(page) {
            Ok(g) => g,
            Err(e) => fail(gpio_error_text(e)),
        };
        let Ok(mut button) = gpio.input(button_line) else { fail("the button's line as an input") };
        if gpio.listen(button_line, Trigger::RisingEdge).is_err() {
            fail("listen to the button's line");
        }
        if sys::interrupt_control(u64::from(intid), me, 0).is_err() {
            fail("attach the PL061's interrupt");
        }
        println!(
            "{}",
            report::line!("powerbtn",
                "" => "ready", "line" => button_line, "intid" => intid,
                "level" => u8::from(button.is_high() == Ok(true)))
        );
        let irq = ThreadId::interrupt(intid).map_or(0, |t| t.raw());
        let timeouts = Timeouts { send: Timeout::Never, receive: Timeout::Never };
        let mut asked = false;
        loop {
            let Ok(m) = sys::ipc(0, u64::MAX, timeouts.pack(), [0; 5]) else { continue };
            let label = Tag::from_raw(m.mr[0]).map(|t| t.label()).unwrap_or(0);
            if label != abi::fault::INTERRUPT_LABEL || m.from != irq {
                continue;
            }
            let pending = gpio.pending();
            gpio.acknowledge(pending);
            let _ = sys::ipc(irq, 0, Timeouts::ZERO.pack(), [0; 5]);
            if pending & (1 << button_line) == 0 {
                continue; // another line: not ours
            }
            if asked {
                println!("powerbtn: pressed again: the shutdown is under way");
                continue;
            }
            // Debounce with `embedded-hal`'s `DelayNs` (the system counter, at user
            // level): still high 20 ms later is a press, not a glitch.
            let held = match rt::time::delay() {
                Ok(mut delay) => {
                    delay.delay_ms(20);
                    button.is_high() == Ok(true)
                }
                Err(_) => false,
            };
            println!(
                "{}",
                report::line!("powerbtn",
                    "pressed" => "yes", "pending" => report::Hex(u64::from(pending)), "held" => if held { "yes" } else { "no" })
            );
            // The orderly shutdown is the root's to run: it tells the programs.
            match rt::shutdown::request() {
                Ok(()) => {
                    println!("powerbtn: shutdown requested");
                    asked = true;
                }
                Err(e) => {
                    println!("powerbtn: the root task did not take the shutdown request: {e}");
                    fail("ask for the shutdown");
                }
            }
        }
    }

    fn gpio_error_text(e: platform::pl061::GpioError) -> &'static str {
        match e {
            platform::pl061::GpioError::NotAPl061(..) => "the registers are not a PL061's",
            platform::pl061::GpioError::NoSuchPin(_) => "no such line",
        }
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
use driver::powerbtn;

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn powerbtn(_utcb: rt::UtcbAddr) -> ! {
    unreachable!("the host build only type-checks the entry")
}
