// SPDX-License-Identifier: MIT OR Apache-2.0
//! The Arm PrimeCell PL061 GPIO controller, with `embedded-hal` 1.0's digital traits.
//!
//! QEMU `virt` has one (eight lines; line 3 is the power button of its `gpio-keys`:
//! `system_powerdown` raises it), and so do many Arm boards. In an L4 system its
//! driver runs at user level: it gets the register page mapped and the interrupt
//! delivered as IPC. This module is that driver's logic, written against a small
//! register-access trait ([`Mmio`]) so that the same code drives the real registers
//! ([`MmioPage`]) and a fake register block in host tests, which emulates the device
//! closely enough to catch the classic mistakes (a read-modify-write of the data
//! register instead of a masked write; forgetting that a pin must be an output before
//! its data bit does anything; clearing interrupts that were not handled).
//!
//! # The device in brief
//! - `GPIODATA` is 256 registers: the access at offset `mask << 2` reads or writes only
//!   the data bits set in `mask`. A pin's own bit is written with the address of that
//!   bit alone, so two drivers (or a driver and an interrupt handler) changing different
//!   pins never race. Writes change only pins configured as outputs.
//! - `GPIODIR` (1 = output), `GPIOIS` (1 = level), `GPIOIBE` (1 = both edges),
//!   `GPIOIEV` (1 = rising edge / high level), `GPIOIE` (1 = interrupt enabled),
//!   `GPIORIS` / `GPIOMIS` (raw / masked status), `GPIOIC` (write 1 to clear an edge).
//! - Identification: peripheral ID 0x00041061, PrimeCell ID 0xB105F00D, in the last
//!   words of the page.
//!
//! # References
//! Arm PrimeCell GPIO (PL061) Technical Reference Manual, r1p1 (DDI 0190), chapter 3
//! "Programmers model": register offsets and bit meanings above.

use core::convert::Infallible;
use embedded_hal::digital::{ErrorType, InputPin, OutputPin, StatefulOutputPin};

/// Register offsets (bytes from the block's base).
pub mod reg {
    /// Data: the access at `DATA + (mask << 2)` touches the bits of `mask` only.
    pub const DATA: usize = 0x000;
    /// Direction: 1 = output.
    pub const DIR: usize = 0x400;
    /// Interrupt sense: 1 = level, 0 = edge.
    pub const IS: usize = 0x404;
    /// Interrupt on both edges (edge sense only).
    pub const IBE: usize = 0x408;
    /// Interrupt event: 1 = rising edge or high level.
    pub const IEV: usize = 0x40C;
    /// Interrupt mask: 1 = enabled.
    pub const IE: usize = 0x410;
    /// Raw interrupt status.
    pub const RIS: usize = 0x414;
    /// Masked interrupt status (RIS & IE).
    pub const MIS: usize = 0x418;
    /// Interrupt clear (write 1 to clear an edge-detected interrupt).
    pub const IC: usize = 0x41C;
    /// Mode control (hardware control of the pin): 0 = software.
    pub const AFSEL: usize = 0x420;
    /// Peripheral ID 0..3 (one byte each, in words).
    pub const PERIPH_ID0: usize = 0xFE0;
    /// PrimeCell ID 0..3 (one byte each, in words).
    pub const CELL_ID0: usize = 0xFF0;
}

/// Lines of one PL061.
pub const PINS: u8 = 8;
/// Bytes of MMIO space the driver uses (one page).
pub const MMIO_SIZE: usize = crate::mmio::PAGE;
/// The peripheral ID (PERIPH_ID3..0) of a PL061.
pub const PERIPH_ID: u32 = 0x0004_1061;
/// The PrimeCell ID (CELL_ID3..0) of every PrimeCell.
pub const CELL_ID: u32 = 0xB105_F00D;

pub use crate::mmio::{Mmio, MmioPage};

/// What makes a line interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A low-to-high transition.
    RisingEdge,
    /// A high-to-low transition.
    FallingEdge,
    /// Either transition.
    BothEdges,
    /// While the line is high.
    HighLevel,
    /// While the line is low.
    LowLevel,
}

/// Why a call was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpioError {
    /// No such line (a PL061 has [`PINS`]).
    NoSuchPin(u8),
    /// The identification registers are not a PL061's: (peripheral ID, PrimeCell ID).
    NotAPl061(u32, u32),
}

/// A PL061.
pub struct Pl061<M: Mmio> {
    regs: M,
}

fn bit(pin: u8) -> u32 {
    1 << pin
}

/// Sets or clears the bits of `mask` in the register at `offset` (configuration
/// registers: only the driver writes them, from one thread).
fn update<M: Mmio>(regs: &M, offset: usize, mask: u32, set: bool) {
    let old = regs.read(offset);
    regs.write(offset, if set { old | mask } else { old & !mask });
}

impl<M: Mmio> Pl061<M> {
    /// The controller at `regs`, after checking its identification registers; every
    /// line software-controlled, interrupts masked and cleared, directions untouched.
    pub fn new(regs: M) -> Result<Pl061<M>, GpioError> {
        let id = |base: usize| (0..4).fold(0u32, |acc, i| acc | (regs.read(base + 4 * i) & 0xFF) << (8 * i));
        let (periph, cell) = (id(reg::PERIPH_ID0), id(reg::CELL_ID0));
        // (The revision field, bits 23..20 of the peripheral ID, may differ.)
        if periph & 0x000F_FFFF != PERIPH_ID & 0x000F_FFFF || cell != CELL_ID {
            return Err(GpioError::NotAPl061(periph, cell));
        }
        regs.write(reg::IE, 0);
        regs.write(reg::IC, 0xFF);
        regs.write(reg::AFSEL, 0);
        Ok(Pl061 { regs })
    }

    fn check(pin: u8) -> Result<(), GpioError> {
        if pin < PINS { Ok(()) } else { Err(GpioError::NoSuchPin(pin)) }
    }

    /// Line `pin` as an output driven to `high` (the level is set before the
    /// direction, so it never glitches).
    pub fn output(&self, pin: u8, high: bool) -> Result<Pin<'_, M>, GpioError> {
        Self::check(pin)?;
        self.regs.write(reg::DATA + ((bit(pin) as usize) << 2), if high { bit(pin) } else { 0 });
        update(&self.regs, reg::DIR, bit(pin), true);
        Ok(Pin { gpio: self, pin })
    }

    /// Line `pin` as an input.
    pub fn input(&self, pin: u8) -> Result<Pin<'_, M>, GpioError> {
        Self::check(pin)?;
        update(&self.regs, reg::DIR, bit(pin), false);
        Ok(Pin { gpio: self, pin })
    }

    /// Makes line `pin` interrupt on `trigger` and enables that (clearing a stale edge
    /// first).
    pub fn listen(&self, pin: u8, trigger: Trigger) -> Result<(), GpioError> {
        Self::check(pin)?;
        let m = bit(pin);
        update(&self.regs, reg::IE, m, false);
        let (level, both, high) = match trigger {
            Trigger::RisingEdge => (false, false, true),
            Trigger::FallingEdge => (false, false, false),
            Trigger::BothEdges => (false, true, false),
            Trigger::HighLevel => (true, false, true),
            Trigger::LowLevel => (true, false, false),
        };
        update(&self.regs, reg::IS, m, level);
        update(&self.regs, reg::IBE, m, both);
        update(&self.regs, reg::IEV, m, high);
        self.regs.write(reg::IC, m);
        update(&self.regs, reg::IE, m, true);
        Ok(())
    }

    /// Stops line `pin` from interrupting.
    pub fn unlisten(&self, pin: u8) -> Result<(), GpioError> {
        Self::check(pin)?;
        update(&self.regs, reg::IE, bit(pin), false);
        Ok(())
    }

    /// The lines whose (enabled) interrupts are pending, as a bit mask.
    pub fn pending(&self) -> u8 {
        (self.regs.read(reg::MIS) & 0xFF) as u8
    }

    /// Clears the edge interrupts of the lines in `mask` (the ones just handled; a
    /// level interrupt clears itself when the level goes).
    pub fn acknowledge(&self, mask: u8) {
        self.regs.write(reg::IC, u32::from(mask));
    }
}

/// One line, as `embedded-hal` sees it (an input or an output, as made).
pub struct Pin<'a, M: Mmio> {
    gpio: &'a Pl061<M>,
    pin: u8,
}

impl<M: Mmio> Pin<'_, M> {
    fn data(&self) -> usize {
        reg::DATA + ((bit(self.pin) as usize) << 2)
    }

    /// The line number.
    pub fn number(&self) -> u8 {
        self.pin
    }
}

impl<M: Mmio> ErrorType for Pin<'_, M> {
    type Error = Infallible;
}

impl<M: Mmio> OutputPin for Pin<'_, M> {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.gpio.regs.write(self.data(), 0);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        self.gpio.regs.write(self.data(), bit(self.pin));
        Ok(())
    }
}

impl<M: Mmio> StatefulOutputPin for Pin<'_, M> {
    fn is_set_high(&mut self) -> Result<bool, Infallible> {
        Ok(self.gpio.regs.read(self.data()) & bit(self.pin) != 0)
    }

    fn is_set_low(&mut self) -> Result<bool, Infallible> {
        self.is_set_high().map(|h| !h)
    }
}

impl<M: Mmio> InputPin for Pin<'_, M> {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        Ok(self.gpio.regs.read(self.data()) & bit(self.pin) != 0)
    }

    fn is_low(&mut self) -> Result<bool, Infallible> {
        self.is_high().map(|h| !h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::{Cell, RefCell};
    use std::vec::Vec;

    /// A PL061 as its manual describes it: masked data accesses, direction, the
    /// interrupt logic (edge detection, levels, masking, clearing), identification.
    /// `drive` plays the outside world on input lines. Every register write is logged.
    #[derive(Default)]
    struct Fake {
        out: Cell<u32>,
        inputs: Cell<u32>,
        dir: Cell<u32>,
        is: Cell<u32>,
        ibe: Cell<u32>,
        iev: Cell<u32>,
        ie: Cell<u32>,
        ris: Cell<u32>,
        afsel: Cell<u32>,
        log: RefCell<Vec<(usize, u32)>>,
    }

    impl Fake {
        /// The levels on the pins: outputs driven, inputs from outside.
        fn levels(&self) -> u32 {
            (self.out.get() & self.dir.get()) | (self.inputs.get() & !self.dir.get())
        }

        /// The outside world sets input `pin` to `high`.
        fn drive(&self, pin: u8, high: bool) {
            let m = 1 << pin;
            let before = self.inputs.get() & m != 0;
            self.inputs.set(if high { self.inputs.get() | m } else { self.inputs.get() & !m });
            if self.dir.get() & m == 0 && self.is.get() & m == 0 && before != high {
                let fires = self.ibe.get() & m != 0 || (self.iev.get() & m != 0) == high;
                if fires {
                    self.ris.set(self.ris.get() | m);
                }
            }
        }

        fn raw(&self) -> u32 {
            let lv = self.levels();
            let level = self.is.get() & !(lv ^ self.iev.get()) & !self.dir.get();
            self.ris.get() | level
        }

        fn pl061() -> Fake {
            Fake::default()
        }
    }

    impl Mmio for &Fake {
        fn read(&self, offset: usize) -> u32 {
            let id = |value: u32, base: usize| (value >> (8 * ((offset - base) / 4))) & 0xFF;
            match offset {
                o if o < 0x400 => self.levels() & ((o >> 2) as u32),
                reg::DIR => self.dir.get(),
                reg::IS => self.is.get(),
                reg::IBE => self.ibe.get(),
                reg::IEV => self.iev.get(),
                reg::IE => self.ie.get(),
                reg::RIS => self.raw(),
                reg::MIS => self.raw() & self.ie.get(),
                reg::AFSEL => self.afsel.get(),
                o if (reg::PERIPH_ID0..reg::PERIPH_ID0 + 16).contains(&o) => id(PERIPH_ID, reg::PERIPH_ID0),
                o if (reg::CELL_ID0..reg::CELL_ID0 + 16).contains(&o) => id(CELL_ID, reg::CELL_ID0),
                _ => 0,
            }
        }

        fn write(&self, offset: usize, value: u32) {
            self.log.borrow_mut().push((offset, value));
            let v = value & 0xFF;
            match offset {
                o if o < 0x400 => {
                    let mask = (o >> 2) as u32;
                    self.out.set((self.out.get() & !mask) | (v & mask));
                }
                reg::DIR => self.dir.set(v),
                reg::IS => self.is.set(v),
                reg::IBE => self.ibe.set(v),
                reg::IEV => self.iev.set(v),
                reg::IE => self.ie.set(v),
                reg::IC => self.ris.set(self.ris.get() & !v),
                reg::AFSEL => self.afsel.set(v),
                _ => panic!("write to a read-only or reserved register {offset:#x}"),
            }
        }
    }

    #[test]
    fn a_pl061_is_recognised_and_anything_else_refused() {
        let fake = Fake::pl061();
        assert!(Pl061::new(&fake).is_ok());
        assert_eq!(fake.ie.get(), 0, "interrupts masked");
        struct Blank;
        impl Mmio for Blank {
            fn read(&self, _: usize) -> u32 {
                0
            }
            fn write(&self, _: usize, _: u32) {}
        }
        assert_eq!(Pl061::new(Blank).err(), Some(GpioError::NotAPl061(0, 0)));
    }

    #[test]
    fn outputs_are_written_with_their_own_bit_only_and_read_back() {
        let fake = Fake::pl061();
        let gpio = Pl061::new(&fake).unwrap();
        let mut led = gpio.output(5, false).unwrap();
        let mut other = gpio.output(2, true).unwrap();
        fake.log.borrow_mut().clear();
        led.set_high().unwrap();
        assert_eq!(*fake.log.borrow(), [((1 << 5) << 2, 1 << 5)], "one masked write, no read-modify-write");
        assert!(led.is_set_high().unwrap());
        assert!(other.is_set_high().unwrap(), "the other output is untouched");
        other.set_low().unwrap();
        assert!(led.is_set_high().unwrap() && other.is_set_low().unwrap());
        led.toggle().unwrap();
        assert!(led.is_set_low().unwrap());
        assert_eq!(fake.levels(), 0);
        assert_eq!(gpio.output(8, true).err(), Some(GpioError::NoSuchPin(8)));
    }

    #[test]
    fn an_output_starts_at_its_level_without_a_glitch() {
        let fake = Fake::pl061();
        let gpio = Pl061::new(&fake).unwrap();
        fake.log.borrow_mut().clear();
        let _pin = gpio.output(1, true).unwrap();
        let log = fake.log.borrow();
        let data_at = log.iter().position(|&(o, _)| o == (1 << 1) << 2).unwrap();
        let dir_at = log.iter().position(|&(o, _)| o == reg::DIR).unwrap();
        assert!(data_at < dir_at, "level first, then direction: {log:x?}");
    }

    #[test]
    fn inputs_read_the_outside_world() {
        let fake = Fake::pl061();
        let gpio = Pl061::new(&fake).unwrap();
        let mut button = gpio.input(3).unwrap();
        assert!(button.is_low().unwrap());
        fake.drive(3, true);
        assert!(button.is_high().unwrap());
        // Writing an input's data bit changes nothing on the line.
        (&fake).write(reg::DATA + (0xFF << 2), 0);
        assert!(button.is_high().unwrap());
    }

    #[test]
    fn edge_interrupts_fire_once_per_edge_until_acknowledged() {
        let fake = Fake::pl061();
        let gpio = Pl061::new(&fake).unwrap();
        let _button = gpio.input(3).unwrap();
        gpio.listen(3, Trigger::RisingEdge).unwrap();
        assert_eq!(gpio.pending(), 0);
        fake.drive(3, true);
        assert_eq!(gpio.pending(), 1 << 3);
        fake.drive(3, false);
        assert_eq!(gpio.pending(), 1 << 3, "stays pending until acknowledged");
        gpio.acknowledge(1 << 3);
        assert_eq!(gpio.pending(), 0);
        fake.drive(3, true);
        gpio.unlisten(3).unwrap();
        assert_eq!(gpio.pending(), 0, "masked");
        assert_eq!(fake.raw() & (1 << 3), 1 << 3, "still raw-pending");
    }

    #[test]
    fn both_edges_falling_and_levels() {
        let fake = Fake::pl061();
        let gpio = Pl061::new(&fake).unwrap();
        let _a = gpio.input(0).unwrap();
        let _b = gpio.input(1).unwrap();
        let _c = gpio.input(2).unwrap();
        gpio.listen(0, Trigger::BothEdges).unwrap();
        gpio.listen(1, Trigger::FallingEdge).unwrap();
        gpio.listen(2, Trigger::LowLevel).unwrap();
        assert_eq!(gpio.pending(), 0b100, "line 2 is low: a low-level interrupt pends");
        fake.drive(2, true);
        assert_eq!(gpio.pending(), 0, "a level interrupt goes with the level");
        fake.drive(0, true);
        fake.drive(1, true);
        assert_eq!(gpio.pending(), 0b001, "rising: both-edges fires, falling does not");
        gpio.acknowledge(0b001);
        fake.drive(0, false);
        fake.drive(1, false);
        assert_eq!(gpio.pending(), 0b011);
        gpio.acknowledge(0b010);
        assert_eq!(gpio.pending(), 0b001, "only what was acknowledged is cleared");
    }

    #[test]
    fn listening_clears_a_stale_edge_first() {
        let fake = Fake::pl061();
        let gpio = Pl061::new(&fake).unwrap();
        let _b = gpio.input(4).unwrap();
        fake.ris.set(1 << 4); // an edge from before the driver
        gpio.listen(4, Trigger::RisingEdge).unwrap();
        assert_eq!(gpio.pending(), 0);
    }
}
