// SPDX-License-Identifier: MIT OR Apache-2.0
//! The register-only half of the IPC fast path's decision (`l4::fastpath` has the rest
//! and the reasons): which `Ipc` system calls are, by their registers alone, a
//! register-only `Call` or `ReplyWait` with nothing to time out. Kept apart from the
//! L4 core so that it builds, and is tested, on the host.
#![forbid(unsafe_code)]

use abi::message::REGISTER_MRS;
#[cfg(doc)]
use abi::message::Tag;
use abi::syscall::Syscall;
use abi::thread::INTERRUPT_NUMBER_BASE;
use abi::timeout::{NEVER, ZERO};

/// The two shapes of IPC the fast path takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `to == from`: send, then wait for that partner's reply.
    Call,
    /// `from` = any: send (the reply), then wait for anyone.
    ReplyWait,
    /// A `ReplyWait` whose reply carries one typed item (`t = 2`) after its untyped
    /// words, all in registers: a pager's answer to a page fault (or to a `Call`)
    /// with a map item.
    ReplyMap,
}

/// ESR_EL1 of an `svc #0` from AArch64 EL0: EC 0x15, IL set (a 32-bit instruction),
/// immediate 0. The entry assembly (`arch::aarch64::trap`) compares the whole
/// register with this one value before it calls the fast path at all, so the Rust
/// below never sees another exception, another immediate or AArch32.
pub const SVC0_ESR: u64 = 0x15 << 26 | 1 << 25;

/// The tag bits a fast message may use: the label (31..16), `t` (11..6) and `u`
/// (5..0). Everything else (bits above 31, the flags 15..12) must be zero.
const FAST_TAG_BITS: u64 = 0xFFFF_0000 | 0xFFF;

/// The register-only half of the decision: given x0, x1, x2, x3 and x8 of an
/// `svc #0`, the shape and the number of message words (MR0..MR(n-1), n <= 5), or
/// `None` for the general path.
///
/// Written as a few mask tests (it runs on every system call), equivalent to:
/// the call is `Ipc`; `to` is a thread (not nil, not an interrupt); `from` is `to` or
/// any; the receive timeout is not zero (that fails at once: the general path's), and
/// never but for a [`Shape::ReplyMap`] (a pager's wait may have a deadline: that path
/// queues it, out of line); the tag decodes ([`Tag::from_raw`]) and its
/// words fit the registers, with `t = 0` (a `Call` or `ReplyWait`) or, for a
/// `ReplyWait` only, `t = 2` (a [`Shape::ReplyMap`], its item in the last two
/// words). The tests check the equivalence on random tags.
pub fn classify(x: &[u64; 9]) -> Option<(Shape, usize)> {
    let (to, from, timeouts, tag, number) = (x[0], x[1], x[2], x[3], x[8]);
    // A zero receive timeout fails at once instead of waiting: the general path's.
    if number != Syscall::Ipc.number() || timeouts as u32 == ZERO {
        return None;
    }
    // Interrupt pseudo-threads (and nil, any) are for the general path; numbers at or
    // above the interrupt base are never threads.
    if to == 0 || to >> 16 >= INTERRUPT_NUMBER_BASE {
        return None;
    }
    let shape = if from == to {
        Shape::Call
    } else if from == u64::MAX {
        Shape::ReplyWait
    } else {
        return None;
    };
    if tag & !FAST_TAG_BITS != 0 {
        return None;
    }
    let (u, t) = ((tag & 0x3F) as usize, (tag >> 6 & 0x3F) as usize);
    let words = 1 + u + t;
    // A deadline to queue: only the map reply's path (out of line) does that.
    let finite = timeouts as u32 != NEVER;
    match (shape, t) {
        (_, 0) if words <= REGISTER_MRS && !finite => Some((shape, words)),
        (Shape::ReplyWait, 2) if words <= REGISTER_MRS => Some((Shape::ReplyMap, words)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::message::Tag;
    use abi::thread::ThreadId;
    use abi::timeout::{NEVER, Timeout, Timeouts};

    fn regs(to: u64, from: u64, x2: u64, tag: u64) -> [u64; 9] {
        [to, from, x2, tag, 0, 0, 0, 0, Syscall::Ipc.number()]
    }

    fn tag(u: u8, t: u8) -> u64 {
        Tag::new(7, u, t).unwrap().raw()
    }

    const PEER: u64 = (0x41 << 16) | 1;
    const NEVER_BOTH: u64 = (NEVER as u64) << 32 | NEVER as u64;

    #[test]
    fn a_register_call_or_reply_wait_qualifies() {
        assert_eq!(classify(&regs(PEER, PEER, NEVER_BOTH, tag(1, 0))), Some((Shape::Call, 2)));
        assert_eq!(classify(&regs(PEER, u64::MAX, NEVER_BOTH, tag(4, 0))), Some((Shape::ReplyWait, 5)));
        assert_eq!(classify(&regs(PEER, PEER, Timeouts::NEVER.pack(), tag(0, 0))), Some((Shape::Call, 1)));
        // A reply with one map item (a pager's), its words in registers.
        assert_eq!(classify(&regs(PEER, u64::MAX, NEVER_BOTH, tag(0, 2))), Some((Shape::ReplyMap, 3)));
        assert_eq!(classify(&regs(PEER, u64::MAX, NEVER_BOTH, tag(2, 2))), Some((Shape::ReplyMap, 5)));
        // The send timeout does not matter: the partner waits already.
        assert_eq!(classify(&regs(PEER, PEER, NEVER as u64, tag(0, 0))), Some((Shape::Call, 1)));
    }

    #[test]
    fn everything_else_takes_the_general_path() {
        let ok = regs(PEER, PEER, NEVER_BOTH, tag(1, 0));
        let mut other = ok;
        other[8] = Syscall::ThreadSwitch.number();
        assert_eq!(classify(&other), None, "not Ipc");
        assert_eq!(classify(&regs(0, PEER, NEVER_BOTH, tag(1, 0))), None, "receive only");
        assert_eq!(classify(&regs(PEER, 0, NEVER_BOTH, tag(1, 0))), None, "send only");
        assert_eq!(classify(&regs(PEER, PEER + (1 << 16), NEVER_BOTH, tag(1, 0))), None, "other partner");
        assert_eq!(classify(&regs(PEER, PEER, NEVER_BOTH & !0xFFFF_FFFF, tag(1, 0))), None, "zero receive");
        // A finite receive timeout: the deadline goes into the CPU's timeout queue,
        // which only the map reply's path does (out of line).
        assert_eq!(
            classify(&regs(PEER, PEER, (NEVER_BOTH & !0xFFFF_FFFF) | 10, tag(1, 0))),
            None,
            "finite receive"
        );
        assert_eq!(
            classify(&regs(PEER, u64::MAX, (NEVER_BOTH & !0xFFFF_FFFF) | 10, tag(0, 2))),
            Some((Shape::ReplyMap, 3)),
            "a pager's map reply with a deadline on its wait"
        );
        assert_eq!(classify(&regs(PEER, PEER, NEVER_BOTH, tag(5, 0))), None, "UTCB words");
        assert_eq!(classify(&regs(PEER, PEER, NEVER_BOTH, tag(1, 2))), None, "a Call with an item");
        assert_eq!(classify(&regs(PEER, u64::MAX, NEVER_BOTH, tag(3, 2))), None, "item in the UTCB");
        assert_eq!(classify(&regs(PEER, u64::MAX, NEVER_BOTH, tag(0, 4))), None, "two items");
        assert_eq!(classify(&regs(PEER, PEER, NEVER_BOTH, 1 << 40)), None, "bad tag");
        assert_eq!(classify(&regs(PEER, PEER, NEVER_BOTH, 1 << 12)), None, "flags");
        let irq = ThreadId::interrupt(40).unwrap().raw();
        assert_eq!(classify(&regs(irq, u64::MAX, NEVER_BOTH, tag(0, 0))), None, "interrupt ack");
    }

    /// The definition [`classify`] implements with masks, spelled out with the ABI's
    /// own decoders.
    fn reference(x: &[u64; 9]) -> Option<(Shape, usize)> {
        let (to, from, timeouts, tag, number) = (x[0], x[1], x[2], x[3], x[8]);
        if number != Syscall::Ipc.number() || to == 0 || to == u64::MAX {
            return None;
        }
        let id = ThreadId::from_raw(to);
        if id.interrupt_id().is_some() || to >> 16 >= abi::thread::INTERRUPT_NUMBER_BASE {
            return None;
        }
        let shape = match from {
            f if f == to => Shape::Call,
            u64::MAX => Shape::ReplyWait,
            _ => return None,
        };
        let receive = Timeout::from_raw(timeouts as u32);
        if receive == Timeout::Zero {
            return None;
        }
        let tag = Tag::from_raw(tag).ok()?;
        let words = 1 + tag.words() as usize;
        match (shape, tag.t()) {
            (_, 0) if words <= REGISTER_MRS && receive == Timeout::Never => Some((shape, words)),
            (Shape::ReplyWait, 2) if words <= REGISTER_MRS => Some((Shape::ReplyMap, words)),
            _ => None,
        }
    }

    #[test]
    fn the_masks_decide_as_the_abi_decoders_do() {
        // A small xorshift: every tag shape (bits spread over the whole word, and
        // dense in the low 16 bits), every partner shape, both timeouts.
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for i in 0..300_000 {
            let r = next();
            let tag = match i % 4 {
                0 => r,
                1 => r & 0xFFFF_FFFF,
                2 => r & 0xFFFF_0FFF & !(0x3F << 6) | (r >> 40 & 0x3),
                _ => r & 0xFFFF_0FFF & !(0x3F << 6) | (r >> 40 & 0x3) | ((r >> 50) & 0x3) << 7,
            };
            let to = [PEER, 0, u64::MAX, ThreadId::interrupt(40).unwrap().raw(), r >> 20][i % 5];
            let from = [to, u64::MAX, PEER + (1 << 16)][(r >> 60) as usize % 3];
            let x2 = match r >> 62 {
                0 => NEVER_BOTH,
                1 => NEVER_BOTH & !0xFFFF_FFFF, // zero receive
                _ => r >> 8,
            };
            let x = [to, from, x2, tag, 0, 0, 0, 0, Syscall::Ipc.number()];
            assert_eq!(classify(&x), reference(&x), "registers {x:x?}");
        }
    }

    #[test]
    fn the_entry_compares_the_esr_of_an_svc_0_from_aarch64() {
        assert_eq!(crate::exception::class(SVC0_ESR), 0x15);
        assert_eq!(SVC0_ESR & 0xFFFF, 0, "immediate 0");
        assert_eq!(SVC0_ESR, 0x5600_0000);
    }
}
