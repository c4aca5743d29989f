// SPDX-License-Identifier: MIT OR Apache-2.0
//! `irqtest`: a user-level device driver, end to end: registers, interrupt, acknowledge.
//!
//! In an L4 system drivers live at user level. This program is the smallest real one:
//! it drives the PL031 real-time clock of QEMU `virt`, run as the root task (the calls
//! it needs, device mapping and `InterruptControl`, are privileged):
//!
//! 1. it maps the RTC's registers into its space (`MemoryControl` with the device
//!    flag: Device memory, never cached, never executable);
//! 2. it sets the RTC's match register one second ahead, unmasks the RTC's interrupt
//!    and attaches SPI 34 (the RTC's line) to itself;
//! 3. it waits in an open receive; the kernel masks the line when it fires and sends
//!    it the interrupt as IPC (label 0xFFF0, MR1 = INTID) from the interrupt's
//!    pseudo-thread;
//! 4. it clears the device's interrupt and acknowledges by sending to that
//!    pseudo-thread (the kernel unmasks the line), then detaches;
//! 5. it checks the refusals: an SGI cannot be attached, RAM and the kernel's own
//!    interrupt controller cannot be mapped as a device;
//! 6. **a driver that misbehaves is contained**: a second thread attaches the RTC's
//!    interrupt, receives it, never acknowledges it and faults (a read of an unmapped
//!    page). Its fault reaches its pager (the root) as IPC; the line stays masked (the
//!    RTC keeps asserting it, and nothing is delivered again); the root deletes the
//!    driver (which detaches the line), re-attaches it to itself and at once gets the
//!    interrupt still asserted: the system went on, the storm never came.
//!    `report: irq-contained fault-to-pager= masked= recovered=`.
//!
//! 7. **the user timer**: the EL1 virtual timer, which the kernel leaves to one
//!    user-level handler (`abi::syscall::USER_TIMER_INTID`), attached to this thread,
//!    armed 10 ms ahead (`InterruptControl` arm) and received as IPC from its
//!    pseudo-thread, on whatever interrupt controller the board has (GICv2 or v3).
//!    `report: irq ... user-timer=yes`.
//!
//! The RTC's address and line come from the device tree (`rt::device::find_local`:
//! on QEMU `virt`, `pl031@9010000`, `interrupts = <0 2 4>`): a board without a PL031
//! fails the test with that reason. The kernel knows nothing of the RTC.
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

rt::entry!(irqtest);

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod driver {
    use abi::message::Tag;
    use abi::thread::ThreadId;
    use abi::timeout::{Timeout, Timeouts};
    use rt::{println, sys};

    /// The RTC's interrupt, from the device tree (`rt::device::find_local`; on QEMU
    /// `virt` SPI 2, INTID 34), for every thread of this program.
    static INTID: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

    fn intid() -> u32 {
        INTID.load(core::sync::atomic::Ordering::Relaxed)
    }
    /// Where the registers go in this space.
    const REGS: u64 = 0x30_0000_0000;
    /// PL031 register offsets (PrimeCell RTC TRM, DDI 0224): data, match, interrupt
    /// mask set/clear, interrupt clear.
    const RTCDR: u64 = 0x000;
    const RTCMR: u64 = 0x004;
    const RTCIMSC: u64 = 0x010;
    const RTCMIS: u64 = 0x018;
    const RTCICR: u64 = 0x01C;
    /// MemoryControl flags: device, read-write.
    const DEVICE_RW: u64 = (1 << 1) | (0b110 << 4);

    fn read(offset: u64) -> u32 {
        // SAFETY: REGS maps the PL031's register page (MemoryControl, device memory);
        // `offset` is one of its 32-bit registers.
        unsafe { core::ptr::read_volatile((REGS + offset) as *const u32) }
    }

    fn write(offset: u64, value: u32) {
        // SAFETY: as in `read`.
        unsafe { core::ptr::write_volatile((REGS + offset) as *mut u32, value) };
    }

    /// The misbehaving driver's thread, its UTCB and its stack (in the root's space).
    const BAD_DRIVER: u64 = (0x50 << 16) | 1;
    const BAD_UTCB: u64 = 0x21_0000;
    const BAD_STACK: u64 = 0x31_0000_0000;
    /// An address nothing maps: the misbehaving driver reads it.
    const NOWHERE: u64 = 0x7_0000_0000;

    /// The misbehaving driver: takes the RTC's interrupt, never acknowledges it, faults.
    extern "C" fn bad_driver(_utcb: u64) -> ! {
        let me = BAD_DRIVER;
        let _ = sys::interrupt_control(u64::from(intid()), me, 0);
        write(RTCMR, read(RTCDR).wrapping_add(1));
        write(RTCICR, 1);
        write(RTCIMSC, 1);
        let _ = sys::ipc(0, u64::MAX, Timeouts::NEVER.pack(), [0; 5]);
        // SAFETY: deliberately wrong: NOWHERE is mapped by nothing, so this read
        // faults, which is what this thread is for; the root is its pager.
        let _ = unsafe { core::ptr::read_volatile(NOWHERE as *const u64) };
        loop {
            core::hint::spin_loop();
        }
    }

    /// Scenario 6 of the crate docs; returns (fault reached the pager, line stayed
    /// masked, recovered).
    fn contained(failed: &mut u64) -> (bool, bool, bool) {
        let me = ThreadId::ROOT.raw();
        let made = sys::thread_control(BAD_DRIVER, me, me, me, BAD_UTCB, u64::MAX).is_ok()
            && sys::memory_control(
                0,
                2,
                BAD_STACK,
                abi::memory_control::MemoryControlFlags::RW_NEAREST.raw(),
            )
            .is_ok();
        check(failed, made, "make the misbehaving driver");
        let _ = sys::set_priority(BAD_DRIVER, 100);
        let start = (abi::syscall::ExregsControl::START
            | abi::syscall::ExregsControl::SET_SP
            | abi::syscall::ExregsControl::SET_IP)
            .raw();
        let started =
            sys::exchange_registers(BAD_DRIVER, start, BAD_STACK + 0x4000, bad_driver as *const () as u64, 0)
                .is_ok();
        check(failed, started, "start the misbehaving driver");
        // Its fault, as a page-fault message from it (within 5 s: the RTC's next second).
        let timeouts = Timeouts { send: Timeout::Never, receive: Timeout::Micros(5_000_000) };
        let fault = match sys::ipc(0, u64::MAX, timeouts.pack(), [0; 5]) {
            Ok(m) => {
                let label = Tag::from_raw(m.mr[0]).map(|t| t.label()).unwrap_or(0);
                m.from == BAD_DRIVER
                    && label & !abi::fault::PAGE_FAULT_ACCESS_MASK == abi::fault::PAGE_FAULT_LABEL
                    && m.mr[1] == NOWHERE
            }
            Err(_) => false,
        };
        check(failed, fault, "the driver's fault reaches its pager");
        // The RTC still asserts its interrupt (masked status set), yet nothing arrives:
        // the kernel masked the line when it delivered it, and nobody acknowledged.
        let asserted = read(RTCMIS) & 1 == 1;
        let quiet = sys::ipc(
            0,
            u64::MAX,
            Timeouts { send: Timeout::Never, receive: Timeout::Micros(200_000) }.pack(),
            [0; 5],
        ) == Err(abi::Error::ReceiveTimeout);
        let masked = asserted && quiet;
        check(failed, masked, "the unacknowledged line stays masked: no interrupt storm");
        // Recovery: delete the driver (its interrupt is detached with it), take the
        // line ourselves: the interrupt still asserted arrives at once.
        let deleted = sys::delete_thread(BAD_DRIVER).is_ok();
        check(failed, deleted, "delete the misbehaving driver");
        let attached = sys::interrupt_control(u64::from(intid()), me, 0).is_ok();
        check(failed, attached, "attach the line again");
        let irq = ThreadId::interrupt(intid()).map_or(0, |t| t.raw());
        let got = sys::ipc(0, u64::MAX, timeouts.pack(), [0; 5]);
        let recovered = attached && got.is_ok_and(|m| m.from == irq);
        check(failed, recovered, "the line works again for a new driver");
        write(RTCICR, 1);
        write(RTCIMSC, 0);
        let _ = sys::ipc(irq, 0, Timeouts::ZERO.pack(), [0; 5]);
        let _ = sys::interrupt_control(u64::from(intid()), 0, 0);
        (fault, masked, recovered)
    }

    /// Scenario 7 of the crate docs: whether the user timer's interrupt arrived.
    fn user_timer(failed: &mut u64) -> bool {
        let me = ThreadId::ROOT.raw();
        let timer = abi::syscall::USER_TIMER_INTID;
        let attached = sys::interrupt_control(u64::from(timer), me, 0).is_ok();
        check(failed, attached, "attach the user timer");
        let (now, hz) = sys::system_clock();
        let armed = sys::arm_user_timer(me, now + hz / 100).is_ok();
        check(failed, armed, "arm the user timer");
        let irq = ThreadId::interrupt(timer).map_or(0, |t| t.raw());
        let timeouts = Timeouts { send: Timeout::Never, receive: Timeout::Micros(2_000_000) };
        let arrived = attached
            && armed
            && sys::ipc(0, u64::MAX, timeouts.pack(), [0; 5]).is_ok_and(|m| {
                let label = Tag::from_raw(m.mr[0]).map(|t| t.label()).unwrap_or(0);
                m.from == irq && label == abi::fault::INTERRUPT_LABEL && m.mr[1] == u64::from(timer)
            });
        check(failed, arrived, "the user timer's interrupt arrives as IPC");
        check(failed, sys::interrupt_control(u64::from(timer), 0, 0).is_ok(), "detach the user timer");
        arrived
    }

    fn check(failed: &mut u64, ok: bool, what: &str) {
        if !ok {
            println!("irqtest: FAIL {what}");
            *failed += 1;
        }
    }

    /// The driver: see the crate docs.
    pub fn irqtest(_utcb: rt::UtcbAddr) -> ! {
        let mut failed = 0;
        let me = ThreadId::ROOT.raw();
        // Where the RTC is: the device tree (this program is the root task: it reads
        // the tree the kernel mapped for it).
        let rtc = match rt::device::find_local("arm,pl031") {
            Ok(d) if d.intid.is_some() => d,
            other => {
                println!("irqtest: FAIL no usable arm,pl031 in the device tree: {other:?}");
                println!(
                    "{}",
                    report::line!("irq", "intid" => 0, "delivered" => 0, "waited_us" => 0, "checks-failed" => 1)
                );
                let _ = sys::power_off(1);
                loop {
                    core::hint::spin_loop();
                }
            }
        };
        INTID.store(rtc.intid.unwrap_or(0), core::sync::atomic::Ordering::Relaxed);
        let pl031 = rtc.base;
        check(&mut failed, sys::memory_control(pl031, 0, REGS, DEVICE_RW).is_ok(), "map the RTC registers");
        let now = read(RTCDR);
        write(RTCMR, now.wrapping_add(1));
        write(RTCICR, 1);
        write(RTCIMSC, 1);
        check(
            &mut failed,
            sys::interrupt_control(u64::from(intid()), me, 0).is_ok(),
            "attach the RTC's interrupt",
        );
        let (t0, hz) = sys::system_clock();
        // Wait at most 5 s for the RTC's next second.
        let timeouts = Timeouts { send: Timeout::Never, receive: Timeout::Micros(5_000_000) };
        let got = sys::ipc(0, u64::MAX, timeouts.pack(), [0; 5]);
        let (t1, _) = sys::system_clock();
        let irq = ThreadId::interrupt(intid()).map_or(0, |t| t.raw());
        let delivered = match got {
            Ok(m) => {
                let label = Tag::from_raw(m.mr[0]).map(|t| t.label()).unwrap_or(0);
                label == abi::fault::INTERRUPT_LABEL && m.mr[1] == u64::from(intid()) && m.from == irq
            }
            Err(e) => {
                println!("irqtest: no interrupt: {e}");
                false
            }
        };
        check(&mut failed, delivered, "the RTC interrupt arrives as IPC from its pseudo-thread");
        write(RTCICR, 1);
        write(RTCIMSC, 0);
        check(&mut failed, sys::ipc(irq, 0, Timeouts::ZERO.pack(), [0; 5]).is_ok(), "acknowledge");
        check(&mut failed, sys::interrupt_control(u64::from(intid()), 0, 0).is_ok(), "detach");
        // Refusals.
        check(
            &mut failed,
            sys::interrupt_control(1, me, 0) == Err(abi::Error::InvalidInterrupt),
            "an SGI cannot be attached",
        );
        let kip = sys::kip();
        let ram = kip.memory().next().map_or(0x4000_0000, |m| m.base);
        check(
            &mut failed,
            sys::memory_control(ram, 0, REGS + 0x10_0000, DEVICE_RW) == Err(abi::Error::InvalidArgument),
            "RAM is not a device",
        );
        check(
            &mut failed,
            sys::memory_control(0x0800_0000, 0, REGS + 0x20_0000, DEVICE_RW)
                == Err(abi::Error::InvalidArgument),
            "the kernel's GIC is not the user's to drive",
        );
        let (fault, masked, recovered) = contained(&mut failed);
        println!(
            "{}",
            report::line!("irq-contained", "fault-to-pager" => fault, "masked" => masked, "recovered" => recovered)
        );
        let timer = user_timer(&mut failed);
        let waited_us = (t1.saturating_sub(t0)).saturating_mul(1_000_000) / hz.max(1);
        let yes = |b: bool| if b { "yes" } else { "no" };
        println!(
            "{}",
            report::line!("irq",
                "intid" => intid(), "delivered" => yes(delivered), "user-timer" => yes(timer), "waited_us" => waited_us,
                "checks-failed" => failed)
        );
        let e = sys::power_off(failed);
        println!("irqtest: SystemControl refused: {e}");
        loop {
            core::hint::spin_loop();
        }
    }
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
use driver::irqtest;

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn irqtest(_utcb: rt::UtcbAddr) -> ! {
    unreachable!("the host build only type-checks the entry")
}
