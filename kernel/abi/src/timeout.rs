// SPDX-License-Identifier: MIT OR Apache-2.0
//! IPC timeouts: how long each phase of an `Ipc` may wait.
//!
//! An `Ipc` has up to two phases, send then receive, and each may block: the send
//! until the partner is ready to receive, the receive until a message arrives. Each
//! phase has its own timeout, both packed in `x2`. A timeout that expires ends the IPC
//! with [`crate::Error::SendTimeout`] or [`crate::Error::ReceiveTimeout`].
//!
//! # Design
//! ```text
//!  x2:  bit 63          32 31           0
//!      |  send timeout    | receive timeout |
//!  each u32: 0xFFFF_FFFF = never (wait forever), 0 = zero (do not block),
//!            anything else = relative, in microseconds (up to ~71 minutes)
//! ```
//! X.2 encodes timeouts in 16 bits as mantissa and exponent; microseconds in a plain
//! `u32` are easier to read and to get right, and the kernel converts with the counter
//! frequency it publishes in the KIP.
#![forbid(unsafe_code)]

/// One phase's timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    /// Wait as long as it takes (`0xFFFF_FFFF`).
    Never,
    /// Do not block: if the partner is not ready now, fail at once (`0`).
    Zero,
    /// Wait at most this many microseconds. The useful range is
    /// `1..=0xFFFF_FFFE`: `Micros(0)` encodes as [`Timeout::Zero`] and
    /// `Micros(0xFFFF_FFFF)` as [`Timeout::Never`], the values they collide with.
    Micros(u32),
}

/// The encoding of [`Timeout::Never`].
pub const NEVER: u32 = u32::MAX;
/// The encoding of [`Timeout::Zero`].
pub const ZERO: u32 = 0;

impl Timeout {
    /// The timeout a `u32` field holds. Every value decodes.
    pub const fn from_raw(raw: u32) -> Timeout {
        match raw {
            NEVER => Timeout::Never,
            ZERO => Timeout::Zero,
            us => Timeout::Micros(us),
        }
    }

    /// The `u32` field.
    pub const fn raw(self) -> u32 {
        match self {
            Timeout::Never => NEVER,
            Timeout::Zero => ZERO,
            Timeout::Micros(us) => us,
        }
    }

    /// The same timeout in its canonical variant (what a round trip through
    /// [`Timeout::raw`] gives).
    pub const fn normalized(self) -> Timeout {
        Timeout::from_raw(self.raw())
    }
}

/// The two timeouts of an `Ipc` (register `x2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// How long the send phase may wait for the partner.
    pub send: Timeout,
    /// How long the receive phase may wait for a message.
    pub receive: Timeout,
}

impl Timeouts {
    /// Both phases wait forever: the usual blocking call or reply-and-wait.
    pub const NEVER: Timeouts = Timeouts { send: Timeout::Never, receive: Timeout::Never };
    /// Neither phase blocks (polling).
    pub const ZERO: Timeouts = Timeouts { send: Timeout::Zero, receive: Timeout::Zero };

    /// `x2`: `(send << 32) | receive`.
    pub const fn pack(self) -> u64 {
        (self.send.raw() as u64) << 32 | self.receive.raw() as u64
    }

    /// The timeouts in `x2`. Every value decodes.
    pub const fn unpack(x2: u64) -> Timeouts {
        Timeouts { send: Timeout::from_raw((x2 >> 32) as u32), receive: Timeout::from_raw(x2 as u32) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_and_zero_are_the_brief_values() {
        assert_eq!(Timeout::Never.raw(), 0xFFFF_FFFF);
        assert_eq!(Timeout::Zero.raw(), 0);
        assert_eq!(Timeout::from_raw(0xFFFF_FFFF), Timeout::Never);
        assert_eq!(Timeout::from_raw(0), Timeout::Zero);
        assert_eq!(Timeout::from_raw(1500), Timeout::Micros(1500));
    }

    #[test]
    fn send_is_the_high_half_and_receive_the_low_half_of_x2() {
        let t = Timeouts { send: Timeout::Zero, receive: Timeout::Micros(0x1234) };
        assert_eq!(t.pack(), 0x0000_0000_0000_1234);
        let t = Timeouts { send: Timeout::Micros(7), receive: Timeout::Never };
        assert_eq!(t.pack(), 0x0000_0007_FFFF_FFFF);
        assert_eq!(Timeouts::NEVER.pack(), u64::MAX);
        assert_eq!(Timeouts::ZERO.pack(), 0);
    }

    #[test]
    fn timeouts_round_trip_through_x2() {
        let samples = [Timeout::Never, Timeout::Zero, Timeout::Micros(1), Timeout::Micros(0xFFFF_FFFE)];
        for send in samples {
            for receive in samples {
                let t = Timeouts { send, receive };
                assert_eq!(Timeouts::unpack(t.pack()), t);
            }
        }
        for x2 in [0, u64::MAX, 0x1234_5678_9ABC_DEF0] {
            assert_eq!(Timeouts::unpack(x2).pack(), x2);
        }
    }

    #[test]
    fn micros_that_collide_with_the_special_values_normalize_to_them() {
        assert_eq!(Timeout::Micros(0).normalized(), Timeout::Zero);
        assert_eq!(Timeout::Micros(u32::MAX).normalized(), Timeout::Never);
        assert_eq!(Timeout::Micros(5).normalized(), Timeout::Micros(5));
    }
}
