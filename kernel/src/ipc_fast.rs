// SPDX-License-Identifier: MIT OR Apache-2.0
//! The register-only half of the IPC fast path's decision (`l4::fastpath` has the rest
//! and the reasons): which `Ipc` system calls are, by their registers alone, a
//! register-only `Call` or `ReplyWait` with nothing to time out. Kept apart from the
//! L4 core so that it builds, and is tested, on the host.
#![forbid(unsafe_code)]

use abi::message::{REGISTER_MRS, Tag};
use abi::syscall::Syscall;
use abi::thread::ThreadId;
use abi::timeout::Timeout;

/// The two shapes of IPC the fast path takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `to == from`: send, then wait for that partner's reply.
    Call,
    /// `from` = any: send (the reply), then wait for anyone.
    ReplyWait,
}

/// The register-only half of the decision: given the caller's `svc` immediate and x0,
/// x1, x2, x3, x8, the shape and the number of message words (MR0..MR(n-1), n <= 5),
/// or `None` for the general path.
pub fn classify(imm: u16, x: &[u64; 9]) -> Option<(Shape, usize)> {
    let (to, from, timeouts, tag, number) = (x[0], x[1], x[2], x[3], x[8]);
    if imm != 0 || number != Syscall::Ipc.number() {
        return None;
    }
    if to == 0 || ThreadId::from_raw(to).interrupt_id().is_some() {
        return None;
    }
    let shape = if from == to {
        Shape::Call
    } else if from == u64::MAX {
        Shape::ReplyWait
    } else {
        return None;
    };
    if Timeout::from_raw(timeouts as u32) != Timeout::Never {
        return None;
    }
    let tag = Tag::from_raw(tag).ok()?;
    if tag.t() != 0 || 1 + tag.u() as usize > REGISTER_MRS {
        return None;
    }
    Some((shape, 1 + tag.u() as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::timeout::{NEVER, Timeouts};

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
        assert_eq!(classify(0, &regs(PEER, PEER, NEVER_BOTH, tag(1, 0))), Some((Shape::Call, 2)));
        assert_eq!(classify(0, &regs(PEER, u64::MAX, NEVER_BOTH, tag(4, 0))), Some((Shape::ReplyWait, 5)));
        assert_eq!(classify(0, &regs(PEER, PEER, Timeouts::NEVER.pack(), tag(0, 0))), Some((Shape::Call, 1)));
        // The send timeout does not matter: the partner waits already.
        assert_eq!(classify(0, &regs(PEER, PEER, NEVER as u64, tag(0, 0))), Some((Shape::Call, 1)));
    }

    #[test]
    fn everything_else_takes_the_general_path() {
        let ok = regs(PEER, PEER, NEVER_BOTH, tag(1, 0));
        assert_eq!(classify(1, &ok), None, "svc immediate");
        let mut other = ok;
        other[8] = Syscall::ThreadSwitch.number();
        assert_eq!(classify(0, &other), None, "not Ipc");
        assert_eq!(classify(0, &regs(0, PEER, NEVER_BOTH, tag(1, 0))), None, "receive only");
        assert_eq!(classify(0, &regs(PEER, 0, NEVER_BOTH, tag(1, 0))), None, "send only");
        assert_eq!(classify(0, &regs(PEER, PEER + (1 << 16), NEVER_BOTH, tag(1, 0))), None, "other partner");
        assert_eq!(
            classify(0, &regs(PEER, PEER, NEVER_BOTH & !0xFFFF_FFFF, tag(1, 0))),
            None,
            "zero receive"
        );
        assert_eq!(
            classify(0, &regs(PEER, PEER, (NEVER_BOTH & !0xFFFF_FFFF) | 10, tag(1, 0))),
            None,
            "finite"
        );
        assert_eq!(classify(0, &regs(PEER, PEER, NEVER_BOTH, tag(5, 0))), None, "UTCB words");
        assert_eq!(classify(0, &regs(PEER, PEER, NEVER_BOTH, tag(1, 2))), None, "typed items");
        assert_eq!(classify(0, &regs(PEER, PEER, NEVER_BOTH, 1 << 40)), None, "bad tag");
        assert_eq!(classify(0, &regs(PEER, PEER, NEVER_BOTH, 1 << 12)), None, "flags");
        let irq = ThreadId::interrupt(40).unwrap().raw();
        assert_eq!(classify(0, &regs(irq, u64::MAX, NEVER_BOTH, tag(0, 0))), None, "interrupt ack");
    }
}
