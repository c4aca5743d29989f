// SPDX-License-Identifier: MIT OR Apache-2.0
//! `powerbtn`: a user-level GPIO driver that turns the power button into an orderly
//! shutdown.
//!
//! QEMU `virt` wires its power button (`gpio-keys`, `KEY_POWER`) to line 3 of its
//! PL061 GPIO controller: the monitor's `system_powerdown` pulses that line. This
//! program, the root task (mapping a device and attaching an interrupt are
//! privileged), is the whole driver at user level:
//!
//! 1. it maps the PL061's register page (`MemoryControl`, device flag) and drives it
//!    with `platform::pl061` (the same code the host tests run against a fake PL061),
//!    through `embedded-hal` 1.0's `InputPin`;
//! 2. it makes line 3 an input that interrupts on its rising edge and attaches the
//!    controller's SPI to itself (`InterruptControl`);
//! 3. it prints `report: powerbtn ready` and waits in an open receive: the kernel
//!    masks the line when it fires and sends the interrupt as IPC;
//! 4. on the interrupt it checks that line 3 is what is pending, acknowledges it at
//!    the device and to the kernel, debounces (20 ms with `embedded-hal`'s `DelayNs`
//!    on the system counter, `rt::time`), announces the shutdown (`report: powerbtn
//!    pressed=yes` — the place where a system would tell its running programs), and
//!    powers off through `SystemControl` (PSCI) with status 0.
//!
//! The boot test `powerbtn` sends `system_powerdown` through QEMU's QMP socket when it
//! sees the ready line, and wants the orderly end. The controller's address and line
//! are QEMU `virt`'s (`pl061@9030000`, `interrupts = <0 7 4>`); like `irqtest`, this
//! program runs on that board only.
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

    /// The PL061 on QEMU `virt`, and its interrupt (SPI 7).
    const PL061: u64 = 0x0903_0000;
    const INTID: u32 = 32 + 7;
    /// The power button's line.
    const BUTTON: u8 = 3;
    /// Where the registers go in this space.
    const REGS: u64 = 0x30_0000_0000;
    /// MemoryControl flags: device, read-write.
    const DEVICE_RW: u64 = (1 << 1) | (0b110 << 4);

    fn fail(what: &str) -> ! {
        println!("powerbtn: FAIL {what}");
        println!("report: powerbtn pressed=no");
        let e = sys::power_off(1);
        println!("powerbtn: SystemControl refused: {e}");
        loop {
            core::hint::spin_loop();
        }
    }

    /// The driver: see the crate docs.
    pub fn powerbtn(_utcb: rt::UtcbAddr) -> ! {
        let me = ThreadId::ROOT.raw();
        if sys::memory_control(PL061, 0, REGS, DEVICE_RW).is_err() {
            fail("map the PL061 registers");
        }
        // SAFETY: REGS now maps the PL061's register page (device memory), which
        // nothing else in this program touches.
        let page = unsafe { MmioPage::new(REGS as usize) };
        let gpio = match Pl061::new(page) {
            Ok(g) => g,
            Err(e) => fail(gpio_error_text(e)),
        };
        let Ok(mut button) = gpio.input(BUTTON) else { fail("line 3 as an input") };
        if gpio.listen(BUTTON, Trigger::RisingEdge).is_err() {
            fail("listen to line 3");
        }
        if sys::interrupt_control(u64::from(INTID), me, 0).is_err() {
            fail("attach the PL061's interrupt");
        }
        println!(
            "report: powerbtn ready line={BUTTON} intid={INTID} level={}",
            u8::from(button.is_high() == Ok(true))
        );
        let irq = ThreadId::interrupt(INTID).map_or(0, |t| t.raw());
        let timeouts = Timeouts { send: Timeout::Never, receive: Timeout::Never };
        loop {
            let Ok(m) = sys::ipc(0, u64::MAX, timeouts.pack(), [0; 5]) else { continue };
            let label = Tag::from_raw(m.mr[0]).map(|t| t.label()).unwrap_or(0);
            if label != abi::fault::INTERRUPT_LABEL || m.from != irq {
                continue;
            }
            let pending = gpio.pending();
            gpio.acknowledge(pending);
            let _ = sys::ipc(irq, 0, Timeouts::ZERO.pack(), [0; 5]);
            if pending & (1 << BUTTON) == 0 {
                continue; // another line: not ours
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
            // The orderly shutdown: a system would tell its programs here and wait for
            // them; this one has nothing else running.
            println!(
                "report: powerbtn pressed=yes pending={pending:#x} held={}",
                if held { "yes" } else { "no" }
            );
            let e = sys::power_off(0);
            println!("powerbtn: SystemControl refused: {e}");
            fail("power off");
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
