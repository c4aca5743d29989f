// SPDX-License-Identifier: MIT OR Apache-2.0
//! The PL011 UART at user level, behind `embedded-io`'s `Read` and `Write`; and
//! [`Console`], whichever UART the board's console is.
//!
//! In an L4 system the console is a driver like any other: a user-level thread owns the
//! UART's registers and programs hand it their output. This is that driver's device
//! logic (the kernel's own early console is `pl011.rs`, which only ever writes): the
//! ecosystem's traits, so the same code serves any program that writes bytes, and a
//! register interface ([`crate::mmio::Mmio`], the same as the GPIO driver's) so host
//! tests run it against a fake UART.
//!
//! - [`Serial`]'s `write` waits while the transmit FIFO is full, then writes as many bytes as
//!   the FIFO takes without waiting again (at least one): `write_all` does the rest.
//!   `\n` is sent as it is (the console server adds `\r`, see `pagers/root`).
//! - its `read` waits for a first byte, then takes what the receive FIFO holds; a
//!   byte received with an error (overrun, break, parity, framing: `UARTDR` bits 11..8)
//!   is reported as that error, and the byte is dropped. [`embedded_io::ReadReady`] and
//!   [`embedded_io::WriteReady`] say whether either would wait.
//!
//! # References
//! Arm PrimeCell UART (PL011) Technical Reference Manual r1p5 (DDI 0183), 3.3:
//! `UARTDR` (0x000: data, bits 11..8 the receive errors), `UARTFR` (0x018: TXFF bit 5,
//! RXFE bit 4, BUSY bit 3).

use crate::mmio::Mmio;

const DR: usize = 0x000;
const FR: usize = 0x018;
const FR_TXFF: u32 = 1 << 5;
const FR_RXFE: u32 = 1 << 4;
const FR_BUSY: u32 = 1 << 3;
const DR_OE: u32 = 1 << 11;
const DR_BE: u32 = 1 << 10;
const DR_PE: u32 = 1 << 9;
const DR_FE: u32 = 1 << 8;

/// A receive error of the PL011 (the byte it came with is dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartError {
    /// The receive FIFO overflowed: bytes were lost before this one.
    Overrun,
    /// A break condition on the line.
    Break,
    /// A parity error.
    Parity,
    /// A framing error (no valid stop bit).
    Framing,
}

impl embedded_io::Error for UartError {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self {
            UartError::Overrun => embedded_io::ErrorKind::OutOfMemory,
            UartError::Break | UartError::Parity | UartError::Framing => embedded_io::ErrorKind::InvalidData,
        }
    }
}

impl core::fmt::Display for UartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            UartError::Overrun => "receive overrun",
            UartError::Break => "break",
            UartError::Parity => "parity error",
            UartError::Framing => "framing error",
        })
    }
}

/// A PL011 driven through its registers `M`.
pub struct Serial<M: Mmio> {
    regs: M,
    /// A receive error met after some good bytes: reported by the next read.
    pending: Option<UartError>,
}

impl<M: Mmio> Serial<M> {
    /// The UART behind `regs` (already enabled by firmware, as consoles are).
    pub fn new(regs: M) -> Serial<M> {
        Serial { regs, pending: None }
    }

    fn flags(&self) -> u32 {
        self.regs.read(FR)
    }
}

impl<M: Mmio> embedded_io::ErrorType for Serial<M> {
    type Error = UartError;
}

impl<M: Mmio> embedded_io::Write for Serial<M> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, UartError> {
        let Some((&first, rest)) = buf.split_first() else { return Ok(0) };
        while self.flags() & FR_TXFF != 0 {
            core::hint::spin_loop();
        }
        self.regs.write(DR, u32::from(first));
        let mut written = 1;
        for &b in rest {
            if self.flags() & FR_TXFF != 0 {
                break;
            }
            self.regs.write(DR, u32::from(b));
            written += 1;
        }
        Ok(written)
    }

    fn flush(&mut self) -> Result<(), UartError> {
        while self.flags() & FR_BUSY != 0 {
            core::hint::spin_loop();
        }
        Ok(())
    }
}

impl<M: Mmio> embedded_io::WriteReady for Serial<M> {
    fn write_ready(&mut self) -> Result<bool, UartError> {
        Ok(self.flags() & FR_TXFF == 0)
    }
}

impl<M: Mmio> embedded_io::Read for Serial<M> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, UartError> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        while self.flags() & FR_RXFE != 0 {
            core::hint::spin_loop();
        }
        let mut n = 0;
        while n < buf.len() && self.flags() & FR_RXFE == 0 {
            let word = self.regs.read(DR);
            let error = [
                (DR_OE, UartError::Overrun),
                (DR_BE, UartError::Break),
                (DR_PE, UartError::Parity),
                (DR_FE, UartError::Framing),
            ]
            .into_iter()
            .find(|&(bit, _)| word & bit != 0);
            if let Some((_, e)) = error {
                // The bytes before the bad one are delivered first, the error next.
                if n == 0 {
                    return Err(e);
                }
                self.pending = Some(e);
                return Ok(n);
            }
            buf[n] = word as u8;
            n += 1;
        }
        Ok(n)
    }
}

impl<M: Mmio> embedded_io::ReadReady for Serial<M> {
    fn read_ready(&mut self) -> Result<bool, UartError> {
        Ok(self.flags() & FR_RXFE == 0)
    }
}

/// The console UART at user level, whichever kind the board has: a PL011 ([`Serial`])
/// or an 8250/16550 or BCM2835 mini-UART ([`crate::ns16550::Ns16550`]). The kernel
/// already set it up (its own console is the same UART): nothing is initialised here.
pub enum Console<M: Mmio> {
    /// A PL011.
    Pl011(Serial<M>),
    /// An 8250/16550 or mini-UART.
    Ns16550(crate::ns16550::Ns16550<M>),
}

impl<M: Mmio> Console<M> {
    /// The console of kind `kind` behind `regs`; `None` for a kind without a driver.
    pub fn new(regs: M, kind: crate::UartKind<'_>) -> Option<Console<M>> {
        match crate::ns16550::Variant::of(kind) {
            Some(variant) => Some(Console::Ns16550(crate::ns16550::Ns16550::new(regs, variant))),
            None if kind == crate::UartKind::Pl011 => Some(Console::Pl011(Serial::new(regs))),
            None => None,
        }
    }
}

impl<M: Mmio> embedded_io::ErrorType for Console<M> {
    type Error = UartError;
}

impl<M: Mmio> embedded_io::Write for Console<M> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, UartError> {
        match self {
            Console::Pl011(u) => u.write(buf),
            Console::Ns16550(u) => u.write(buf),
        }
    }

    fn flush(&mut self) -> Result<(), UartError> {
        match self {
            Console::Pl011(u) => u.flush(),
            Console::Ns16550(u) => u.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::RefCell;
    use embedded_io::{Read, ReadReady, Write, WriteReady};
    use std::collections::VecDeque;

    /// A PL011 that transmits into `sent`, whose FIFO reports full for the next
    /// `full_polls` reads of the flags, and whose receive FIFO holds `rx` (data words,
    /// error bits included). Reading `UARTDR` with an empty FIFO is a test failure.
    #[derive(Default)]
    struct Fake {
        sent: RefCell<Vec<u8>>,
        full_polls: RefCell<u32>,
        rx: RefCell<VecDeque<u32>>,
        busy_polls: RefCell<u32>,
    }

    impl Mmio for &Fake {
        fn read(&self, offset: usize) -> u32 {
            match offset {
                FR => {
                    let mut flags = 0;
                    let mut full = self.full_polls.borrow_mut();
                    if *full > 0 {
                        *full -= 1;
                        flags |= FR_TXFF;
                    }
                    let mut busy = self.busy_polls.borrow_mut();
                    if *busy > 0 {
                        *busy -= 1;
                        flags |= FR_BUSY;
                    }
                    if self.rx.borrow().is_empty() {
                        flags |= FR_RXFE;
                    }
                    flags
                }
                DR => self.rx.borrow_mut().pop_front().expect("read UARTDR with an empty receive FIFO"),
                other => panic!("read of an unexpected register {other:#x}"),
            }
        }
        fn write(&self, offset: usize, value: u32) {
            assert_eq!(offset, DR, "only UARTDR is written");
            assert!(*self.full_polls.borrow() == 0, "wrote UARTDR while the FIFO was full");
            self.sent.borrow_mut().push(value as u8);
        }
    }

    #[test]
    fn write_all_waits_for_room_and_sends_every_byte_in_order() {
        let fake = Fake::default();
        *fake.full_polls.borrow_mut() = 3;
        let mut uart = Serial::new(&fake);
        assert!(!uart.write_ready().unwrap() || *fake.full_polls.borrow() == 2);
        uart.write_all(b"report: hello\n").unwrap();
        assert_eq!(fake.sent.borrow().as_slice(), b"report: hello\n");
        assert_eq!(uart.write(b"").unwrap(), 0);
        *fake.busy_polls.borrow_mut() = 2;
        uart.flush().unwrap();
        assert_eq!(*fake.busy_polls.borrow(), 0, "flush waited for the transmitter");
    }

    #[test]
    fn a_write_stops_when_the_fifo_fills_after_the_first_byte() {
        struct Fills<'a>(&'a Fake, RefCell<u32>);
        impl Mmio for Fills<'_> {
            fn read(&self, offset: usize) -> u32 {
                // Room for two bytes, then full for good.
                let mut reads = self.1.borrow_mut();
                *reads += 1;
                if offset == FR && *reads > 2 { FR_TXFF | FR_RXFE } else { (&self.0).read(offset) }
            }
            fn write(&self, offset: usize, value: u32) {
                (&self.0).write(offset, value)
            }
        }
        let fake = Fake::default();
        let mut uart = Serial::new(Fills(&fake, RefCell::new(0)));
        assert_eq!(uart.write(b"abcdef").unwrap(), 2);
        assert_eq!(fake.sent.borrow().as_slice(), b"ab");
    }

    #[test]
    fn the_console_is_the_driver_of_its_kind() {
        use embedded_io::Write as _;
        let fake = Fake::default();
        let mut console = Console::new(&fake, crate::UartKind::Pl011).expect("a PL011 is driven");
        console.write_all(b"pl011\n").unwrap();
        console.flush().unwrap();
        assert_eq!(fake.sent.borrow().as_slice(), b"pl011\n");
        assert!(matches!(Console::new(&fake, crate::UartKind::Bcm2835Aux), Some(Console::Ns16550(_))));
        assert!(Console::new(&fake, crate::UartKind::Other("qcom,msm-uartdm")).is_none());
    }

    #[test]
    fn reads_take_what_arrived_and_name_receive_errors() {
        let fake = Fake::default();
        fake.rx.borrow_mut().extend([b'o' as u32, b'k' as u32, DR_PE | b'x' as u32, b'!' as u32]);
        let mut uart = Serial::new(&fake);
        assert!(uart.read_ready().unwrap());
        let mut buf = [0u8; 8];
        assert_eq!(uart.read(&mut buf).unwrap(), 2, "the good bytes first");
        assert_eq!(&buf[..2], b"ok");
        assert_eq!(uart.read(&mut buf), Err(UartError::Parity), "then the error, its byte dropped");
        assert_eq!(uart.read(&mut buf).unwrap(), 1);
        assert_eq!(buf[0], b'!');
        assert!(!uart.read_ready().unwrap());
        assert_eq!(uart.read(&mut []).unwrap(), 0);
        for (bit, e) in [(DR_OE, UartError::Overrun), (DR_BE, UartError::Break), (DR_FE, UartError::Framing)]
        {
            fake.rx.borrow_mut().push_back(bit);
            assert_eq!(uart.read(&mut buf), Err(e));
            assert!(!e.to_string().is_empty());
            assert_ne!(embedded_io::Error::kind(&e), embedded_io::ErrorKind::Other);
        }
    }
}
