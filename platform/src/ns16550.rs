// SPDX-License-Identifier: MIT OR Apache-2.0
//! The 8250/16550 UART family and the BCM2835 mini-UART: the consoles of most Arm
//! boards that are not servers.
//!
//! Every Rockchip board (RK3399, RK3588: `snps,dw-apb-uart`), most Allwinner and
//! MediaTek boards and many others put their console on a 16550-compatible UART (158
//! of Linux 6.1's 577 arm64 boards); the Raspberry Pi 4's console (`serial1`) is the
//! BCM2835 mini-UART, a 16550 subset whose registers sit 4 bytes apart. One driver
//! serves both, in the kernel (its console: [`Ns16550::put`] through `core::fmt`) and
//! at user level (the console driver: `embedded-io`'s `Read` and `Write`), over the
//! register interface [`Mmio`], so host tests run it against a fake UART.
//!
//! # Design
//!
//! *Where the registers are.* The 16550's eight registers are numbered 0-7; a board
//! wires register `i` at byte offset `i << reg-shift` and accesses it `reg-io-width`
//! bytes wide (Linux's `8250.yaml`; the DesignWare APB UART: shift 2, width 4; a
//! plain `ns16550a`: 0 and 1). Both come from the device tree
//! ([`crate::UartKind::Ns16550`], [`Variant::layout`]), which is why this driver computes offsets
//! instead of using a fixed `register_structs!` block; the bit fields are still
//! declared with `register_bitfields!`.
//!
//! *What it touches.* Like the PL011 driver it never programs the baud rate or the
//! line format: the firmware that named the console set them, and the divisor needs
//! the UART's input clock, which the kernel does not otherwise read. [`Ns16550::init`]
//! only turns the UART's interrupts off (`IER = 0`: the kernel polls), and on the
//! mini-UART makes sure the transmitter and receiver are enabled (`AUX_MU_CNTL_REG`).
//!
//! *Writing.* Polled: wait until `LSR.THRE` ("the transmitter can take a byte": on a
//! 16550 with FIFOs the FIFO is empty, on the mini-UART it has room), write `THR`.
//! [`embedded_io::Write::write`] waits for the first byte only and sends more while
//! `THRE` stays set. `flush` waits for `LSR.TEMT` (everything sent).
//!
//! *Reading.* `LSR.DR` says a byte waits in `RBR`. Reading `LSR` also reports, and
//! clears, the errors of the byte at the head of the FIFO (`OE`, `PE`, `FE`, `BI`):
//! such a byte is read and dropped, and the error reported after the good bytes
//! before it, as the PL011 driver ([`crate::uart`]) does.
//!
//! # References
//!
//! - National Semiconductor / TI, *PC16550D UART with FIFOs* datasheet: register map
//!   (RBR/THR 0, IER 1, IIR/FCR 2, LCR 3, MCR 4, LSR 5), LSR bits (DR 0, OE 1, PE 2,
//!   FE 3, BI 4, THRE 5, TEMT 6).
//! - Synopsys DesignWare DW_apb_uart databook: the same map with 32-bit registers.
//! - Broadcom, *BCM2711 ARM Peripherals*, 2.2 "Mini UART": `AUX_MU_IO_REG` at +0x00
//!   (of 0x7e215040), `AUX_MU_IER_REG` +0x04, `AUX_MU_LSR_REG` +0x14 (bit 0 data
//!   ready, 1 receiver overrun, 5 transmitter empty, 6 transmitter idle),
//!   `AUX_MU_CNTL_REG` +0x20 (bit 0 receiver enable, 1 transmitter enable).
//! - Linux `Documentation/devicetree/bindings/serial/8250.yaml` (`reg-shift`,
//!   `reg-io-width`) and `brcm,bcm2835-aux-uart.yaml`.

use crate::mmio::Mmio;
use crate::uart::UartError;
use core::fmt;
use tock_registers::LocalRegisterCopy;
use tock_registers::register_bitfields;

register_bitfields! {u8,
    /// Line status register.
    LSR [
        /// A received byte waits in RBR.
        DR OFFSET(0) NUMBITS(1) [],
        /// Overrun: a byte was lost before this one.
        OE OFFSET(1) NUMBITS(1) [],
        /// Parity error (16550 only).
        PE OFFSET(2) NUMBITS(1) [],
        /// Framing error (16550 only).
        FE OFFSET(3) NUMBITS(1) [],
        /// Break received (16550 only).
        BI OFFSET(4) NUMBITS(1) [],
        /// The transmitter can take a byte.
        THRE OFFSET(5) NUMBITS(1) [],
        /// Everything written has been sent.
        TEMT OFFSET(6) NUMBITS(1) []
    ],
    /// The mini-UART's extra control register.
    AUX_MU_CNTL [
        /// Transmitter enable.
        TX_ENABLE OFFSET(1) NUMBITS(1) [],
        /// Receiver enable.
        RX_ENABLE OFFSET(0) NUMBITS(1) []
    ]
}

/// Register numbers (`index << reg_shift` is the byte offset).
const RBR_THR: usize = 0;
const IER: usize = 1;
const LSR_INDEX: usize = 5;
/// The mini-UART's `AUX_MU_CNTL_REG` (offset 0x20).
const MU_CNTL: usize = 8;

/// Which member of the family: it decides the register layout and what `init` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// A 16550: register `i` at `i << reg_shift`, `io_width` (1 or 4) bytes wide.
    Ns16550 {
        /// `reg-shift`.
        reg_shift: u8,
        /// `reg-io-width`.
        io_width: u8,
    },
    /// The BCM2835 mini-UART: shift 2, width 4, and a control register.
    Bcm2835Aux,
}

impl Variant {
    /// The variant of a UART the board describes, if it is of this family.
    pub fn of(kind: crate::UartKind<'_>) -> Option<Variant> {
        match kind {
            crate::UartKind::Ns16550 { reg_shift, io_width } => {
                Some(Variant::Ns16550 { reg_shift, io_width })
            }
            crate::UartKind::Bcm2835Aux => Some(Variant::Bcm2835Aux),
            crate::UartKind::Pl011 | crate::UartKind::Other(_) => None,
        }
    }

    /// `(reg_shift, io_width)`: register `i` is at `i << reg_shift`, accessed
    /// `io_width` bytes wide.
    pub fn layout(self) -> (u8, u8) {
        match self {
            Variant::Ns16550 { reg_shift, io_width } => (reg_shift, io_width),
            Variant::Bcm2835Aux => (2, 4),
        }
    }
}

/// An 8250/16550 or mini-UART driven through its registers `M`.
pub struct Ns16550<M: Mmio> {
    regs: M,
    variant: Variant,
    /// A receive error met after some good bytes: reported by the next read.
    pending: Option<UartError>,
}

impl<M: Mmio> Ns16550<M> {
    /// The UART behind `regs` (already set up by firmware, as consoles are).
    pub fn new(regs: M, variant: Variant) -> Ns16550<M> {
        Ns16550 { regs, variant, pending: None }
    }

    fn read_reg(&self, index: usize) -> u8 {
        let (shift, width) = self.variant.layout();
        let offset = index << shift;
        if width == 1 { self.regs.read8(offset) } else { self.regs.read(offset) as u8 }
    }

    fn write_reg(&self, index: usize, value: u8) {
        let (shift, width) = self.variant.layout();
        let offset = index << shift;
        if width == 1 { self.regs.write8(offset, value) } else { self.regs.write(offset, value.into()) }
    }

    fn lsr(&self) -> LocalRegisterCopy<u8, LSR::Register> {
        LocalRegisterCopy::new(self.read_reg(LSR_INDEX))
    }

    /// Turns the UART's interrupts off (the kernel polls) and, on the mini-UART, makes
    /// sure its transmitter and receiver are on.
    pub fn init(&mut self) {
        self.write_reg(IER, 0);
        if self.variant == Variant::Bcm2835Aux {
            let mut cntl: LocalRegisterCopy<u8, AUX_MU_CNTL::Register> =
                LocalRegisterCopy::new(self.read_reg(MU_CNTL));
            if !cntl.is_set(AUX_MU_CNTL::TX_ENABLE) || !cntl.is_set(AUX_MU_CNTL::RX_ENABLE) {
                cntl.modify(AUX_MU_CNTL::TX_ENABLE::SET + AUX_MU_CNTL::RX_ENABLE::SET);
                self.write_reg(MU_CNTL, cntl.get());
            }
        }
    }

    /// Sends one byte, waiting until the transmitter can take it.
    pub fn put(&mut self, byte: u8) {
        while !self.lsr().is_set(LSR::THRE) {
            core::hint::spin_loop();
        }
        self.write_reg(RBR_THR, byte);
    }

    /// Waits until every byte written has left the UART.
    pub fn wait_idle(&mut self) {
        while !self.lsr().is_set(LSR::TEMT) {
            core::hint::spin_loop();
        }
    }
}

impl<M: Mmio> fmt::Write for Ns16550<M> {
    /// Writes `s`, turning `\n` into `\r\n` for terminals (the kernel's console).
    fn write_str(&mut self, s: &str) -> fmt::Result {
        crate::pl011::for_terminal(s, |b| self.put(b));
        Ok(())
    }
}

impl<M: Mmio> embedded_io::ErrorType for Ns16550<M> {
    type Error = UartError;
}

impl<M: Mmio> embedded_io::Write for Ns16550<M> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, UartError> {
        let Some((&first, rest)) = buf.split_first() else { return Ok(0) };
        self.put(first);
        let mut written = 1;
        for &b in rest {
            if !self.lsr().is_set(LSR::THRE) {
                break;
            }
            self.write_reg(RBR_THR, b);
            written += 1;
        }
        Ok(written)
    }

    fn flush(&mut self) -> Result<(), UartError> {
        self.wait_idle();
        Ok(())
    }
}

impl<M: Mmio> embedded_io::WriteReady for Ns16550<M> {
    fn write_ready(&mut self) -> Result<bool, UartError> {
        Ok(self.lsr().is_set(LSR::THRE))
    }
}

impl<M: Mmio> embedded_io::Read for Ns16550<M> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, UartError> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        let mut lsr = self.lsr();
        while !lsr.is_set(LSR::DR) {
            core::hint::spin_loop();
            lsr = self.lsr();
        }
        let mut n = 0;
        while n < buf.len() && lsr.is_set(LSR::DR) {
            let byte = self.read_reg(RBR_THR);
            let error = [
                (LSR::OE, UartError::Overrun),
                (LSR::BI, UartError::Break),
                (LSR::PE, UartError::Parity),
                (LSR::FE, UartError::Framing),
            ]
            .into_iter()
            .find(|&(bit, _)| lsr.is_set(bit));
            if let Some((_, e)) = error {
                // The byte came with the error: dropped; the bytes before it first.
                if n == 0 {
                    return Err(e);
                }
                self.pending = Some(e);
                return Ok(n);
            }
            buf[n] = byte;
            n += 1;
            lsr = self.lsr();
        }
        Ok(n)
    }
}

impl<M: Mmio> embedded_io::ReadReady for Ns16550<M> {
    fn read_ready(&mut self) -> Result<bool, UartError> {
        Ok(self.lsr().is_set(LSR::DR))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::RefCell;
    use embedded_io::{Read, ReadReady, Write, WriteReady};
    use std::collections::VecDeque;

    const THRE: u8 = 1 << 5;
    const TEMT: u8 = 1 << 6;
    const DR: u8 = 1;

    /// A 16550 with the given register layout: every access is checked against it (a
    /// byte access on a 32-bit UART, or an offset off the stride, fails the test). It
    /// transmits into `sent`; THRE reads clear for the next `busy_polls` LSR reads;
    /// `rx` holds (byte, LSR error bits) pairs.
    struct Fake {
        shift: u8,
        width: u8,
        sent: RefCell<Vec<u8>>,
        busy_polls: RefCell<u32>,
        rx: RefCell<VecDeque<(u8, u8)>>,
        regs: RefCell<[u8; 11]>,
    }

    impl Fake {
        fn new(shift: u8, width: u8) -> Fake {
            Fake {
                shift,
                width,
                sent: RefCell::default(),
                busy_polls: RefCell::default(),
                rx: RefCell::default(),
                regs: RefCell::new([0; 11]),
            }
        }

        fn index(&self, offset: usize, width: u8) -> usize {
            assert_eq!(width, self.width, "accessed {width} bytes wide at {offset:#x}");
            assert_eq!(offset % (1 << self.shift), 0, "offset {offset:#x} is off the stride");
            offset >> self.shift
        }

        fn read_at(&self, index: usize) -> u8 {
            match index {
                RBR_THR => self.rx.borrow_mut().pop_front().expect("read RBR with nothing received").0,
                LSR_INDEX => {
                    let mut lsr = TEMT | THRE;
                    let mut busy = self.busy_polls.borrow_mut();
                    if *busy > 0 {
                        *busy -= 1;
                        lsr = 0;
                    }
                    if let Some(&(_, errors)) = self.rx.borrow().front() {
                        lsr |= DR | errors;
                    }
                    lsr
                }
                other => self.regs.borrow()[other],
            }
        }

        fn write_at(&self, index: usize, value: u8) {
            match index {
                RBR_THR => {
                    assert_eq!(*self.busy_polls.borrow(), 0, "wrote THR while the transmitter was busy");
                    self.sent.borrow_mut().push(value);
                }
                other => self.regs.borrow_mut()[other] = value,
            }
        }
    }

    impl Mmio for &Fake {
        fn read(&self, offset: usize) -> u32 {
            self.read_at(self.index(offset, 4)).into()
        }
        fn write(&self, offset: usize, value: u32) {
            assert!(value <= 0xff, "a 16550 register is 8 bits: wrote {value:#x}");
            self.write_at(self.index(offset, 4), value as u8)
        }
        fn read8(&self, offset: usize) -> u8 {
            self.read_at(self.index(offset, 1))
        }
        fn write8(&self, offset: usize, value: u8) {
            self.write_at(self.index(offset, 1), value)
        }
    }

    #[test]
    fn every_register_layout_of_the_family_is_honoured() {
        for (variant, shift, width) in [
            (Variant::Ns16550 { reg_shift: 0, io_width: 1 }, 0, 1),
            (Variant::Ns16550 { reg_shift: 2, io_width: 4 }, 2, 4),
            (Variant::Ns16550 { reg_shift: 2, io_width: 1 }, 2, 1),
            (Variant::Bcm2835Aux, 2, 4),
        ] {
            let fake = Fake::new(shift, width);
            fake.regs.borrow_mut()[IER] = 0x0f;
            let mut uart = Ns16550::new(&fake, variant);
            uart.init();
            assert_eq!(fake.regs.borrow()[IER], 0, "{variant:?}: interrupts off");
            *fake.busy_polls.borrow_mut() = 3;
            fmt::Write::write_str(&mut uart, "report: ok\n").unwrap();
            assert_eq!(fake.sent.borrow().as_slice(), b"report: ok\r\n", "{variant:?}");
        }
    }

    #[test]
    fn the_mini_uart_turns_its_transmitter_on_and_the_16550_has_no_such_register() {
        let fake = Fake::new(2, 4);
        let mut uart = Ns16550::new(&fake, Variant::Bcm2835Aux);
        uart.init();
        assert_eq!(fake.regs.borrow()[MU_CNTL], 0b11);
        fake.regs.borrow_mut()[MU_CNTL] = 0b111;
        uart.init();
        assert_eq!(fake.regs.borrow()[MU_CNTL], 0b111, "enabled already: untouched");
        let fake = Fake::new(0, 1);
        Ns16550::new(&fake, Variant::Ns16550 { reg_shift: 0, io_width: 1 }).init();
        assert_eq!(fake.regs.borrow()[MU_CNTL], 0);
    }

    #[test]
    fn write_waits_for_the_first_byte_only_and_flush_for_the_transmitter() {
        struct Slow<'a>(&'a Fake, RefCell<u32>);
        impl Mmio for Slow<'_> {
            fn read(&self, offset: usize) -> u32 {
                // THRE for the first two LSR reads, then never again.
                let mut reads = self.1.borrow_mut();
                *reads += 1;
                if offset == LSR_INDEX << 2 && *reads > 2 { 0 } else { (&self.0).read(offset) }
            }
            fn write(&self, offset: usize, value: u32) {
                (&self.0).write(offset, value)
            }
        }
        let fake = Fake::new(2, 4);
        let mut uart = Ns16550::new(Slow(&fake, RefCell::new(0)), Variant::Bcm2835Aux);
        assert_eq!(uart.write(b"abcdef").unwrap(), 2);
        assert_eq!(fake.sent.borrow().as_slice(), b"ab");
        assert_eq!(uart.write(b"").unwrap(), 0);
        let fake = Fake::new(0, 1);
        let mut uart = Ns16550::new(&fake, Variant::Ns16550 { reg_shift: 0, io_width: 1 });
        assert!(uart.write_ready().unwrap());
        uart.write_all(b"xyz").unwrap();
        *fake.busy_polls.borrow_mut() = 2;
        uart.flush().unwrap();
        assert_eq!(*fake.busy_polls.borrow(), 0, "flush waited for TEMT");
        assert_eq!(fake.sent.borrow().as_slice(), b"xyz");
    }

    #[test]
    fn reads_take_what_arrived_and_name_receive_errors() {
        const OE: u8 = 1 << 1;
        const PE: u8 = 1 << 2;
        const FE: u8 = 1 << 3;
        const BI: u8 = 1 << 4;
        let fake = Fake::new(2, 4);
        fake.rx.borrow_mut().extend([(b'o', 0), (b'k', 0), (b'x', PE), (b'!', 0)]);
        let mut uart = Ns16550::new(&fake, Variant::Ns16550 { reg_shift: 2, io_width: 4 });
        assert!(uart.read_ready().unwrap());
        let mut buf = [0u8; 8];
        assert_eq!(uart.read(&mut buf).unwrap(), 2, "the good bytes first");
        assert_eq!(&buf[..2], b"ok");
        assert_eq!(uart.read(&mut buf), Err(UartError::Parity), "then the error, its byte dropped");
        assert_eq!(uart.read(&mut buf).unwrap(), 1);
        assert_eq!(buf[0], b'!');
        assert!(!uart.read_ready().unwrap());
        assert_eq!(uart.read(&mut []).unwrap(), 0);
        for (bit, e) in [(OE, UartError::Overrun), (BI, UartError::Break), (FE, UartError::Framing)] {
            fake.rx.borrow_mut().push_back((0, bit));
            assert_eq!(uart.read(&mut buf), Err(e));
        }
        assert!(fake.rx.borrow().is_empty(), "every erroneous byte was read and dropped");
    }

    #[test]
    fn the_board_s_uart_kinds_map_to_variants() {
        use crate::UartKind;
        assert_eq!(
            Variant::of(UartKind::Ns16550 { reg_shift: 2, io_width: 4 }),
            Some(Variant::Ns16550 { reg_shift: 2, io_width: 4 })
        );
        assert_eq!(Variant::of(UartKind::Bcm2835Aux), Some(Variant::Bcm2835Aux));
        assert_eq!(Variant::of(UartKind::Pl011), None);
        assert_eq!(Variant::of(UartKind::Other("x")), None);
    }
}
