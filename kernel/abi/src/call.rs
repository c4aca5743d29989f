// SPDX-License-Identifier: MIT OR Apache-2.0
//! One type per system call: what its argument registers mean, decoded and encoded in
//! one place.
//!
//! # Why
//! A system call's arguments are eight registers. Decoding them by index in the
//! kernel (`a[3]`) and encoding them by hand in the user runtime lets the two drift
//! apart silently, and mixes "is this value well-formed" with "what does it do" in the
//! kernel's handlers. Here each call is a type ([`ThreadControl`], [`Schedule`], ...)
//! with [`SystemCall::decode`], which the kernel uses, and [`SystemCall::encode`],
//! which the runtime (`rt::sys`) uses; the tests below check that every value survives
//! the round trip and that every malformed register is refused with the error the
//! [`Syscall`] documentation names.
//!
//! # What decode checks, and what it leaves to the kernel
//! `decode` is pure: it checks what the registers alone say (reserved bits, ranges,
//! encodings), and produces values that cannot be malformed (an `Option<u8>` priority,
//! an enum for the forms of a call). What needs the kernel's state (does this thread
//! exist, is that CPU online, may the caller do this) the kernel checks after decoding,
//! before it changes anything: seL4's decode, then invoke. So a call that is wrong in
//! both ways gets the register error first.
//!
//! The IPC fast path (`kernel/src/ipc_fast.rs`) does not go through [`Ipc::decode`]:
//! it tests the same conditions with masks on the raw registers, and its tests check
//! that the masks decide as the ABI's decoders do.
//!
//! # Invariants
//! For every value `v` of a call type, `decode(&v.encode()) == Ok(v)`; for every
//! register array `r` that decodes, `decode(&decode(r)?.encode())` gives the same
//! value (encode writes the canonical form, and 0 in every register a call ignores).
#![forbid(unsafe_code)]

use crate::USER_ADDRESS_LIMIT;
use crate::error::Error;
use crate::introspect::Request;
use crate::memory_control::MemoryControlRequest;
use crate::message::Tag;
use crate::syscall::{
    CURRENT_CPU, DEBUG_WRITE_MAX, ExregsControl, INTERRUPT_CONTROL_ACK, INTERRUPT_CONTROL_ARM, KEEP,
    MAX_PRIORITY, SYSTEM_POWER_OFF, SpaceControlFlags, Syscall, USER_TIMER_INTID, UnmapControl,
};
use crate::thread::ThreadId;
use crate::timeout::Timeouts;

/// A system call's argument registers as a value.
pub trait SystemCall: Sized {
    /// The call's number.
    const SYSCALL: Syscall;

    /// Decodes x0..x7 (see the module documentation for what is checked here).
    fn decode(x: &[u64; 8]) -> Result<Self, Error>;

    /// x0..x7 for this call (0 in the registers it does not use).
    fn encode(&self) -> [u64; 8];
}

/// `Ipc`: send and/or receive one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipc {
    /// The destination; NIL: no send phase.
    pub to: ThreadId,
    /// Whom to receive from: ANY, a thread, or NIL (no receive phase).
    pub from: ThreadId,
    /// The send and receive timeouts.
    pub timeouts: Timeouts,
    /// MR0: the message tag.
    pub tag: Tag,
    /// MR1..MR4 (the message's first words travel in registers).
    pub mr: [u64; 4],
}

impl SystemCall for Ipc {
    const SYSCALL: Syscall = Syscall::Ipc;

    /// Errors: [`Error::MessageOverflow`] (u + t > 63), [`Error::InvalidArgument`] (any
    /// other tag that does not decode).
    fn decode(x: &[u64; 8]) -> Result<Ipc, Error> {
        let tag = Tag::from_raw(x[3]).map_err(Error::from)?;
        Ok(Ipc {
            to: ThreadId::from_raw(x[0]),
            from: ThreadId::from_raw(x[1]),
            timeouts: Timeouts::unpack(x[2]),
            tag,
            mr: [x[4], x[5], x[6], x[7]],
        })
    }

    fn encode(&self) -> [u64; 8] {
        let [m1, m2, m3, m4] = self.mr;
        [self.to.raw(), self.from.raw(), self.timeouts.pack(), self.tag.raw(), m1, m2, m3, m4]
    }
}

/// `ThreadControl`: create, change (move) or delete a thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadControl {
    /// Delete `dest` (x1 = NIL); the other registers are ignored.
    Delete {
        /// The thread.
        dest: ThreadId,
    },
    /// Create `dest` if it does not exist, else move it (see [`Syscall::ThreadControl`]).
    Make {
        /// The thread (a valid id).
        dest: ThreadId,
        /// A thread of the target space; `dest` itself: a new space.
        space: ThreadId,
        /// The scheduler thread (changing: NIL keeps it).
        scheduler: ThreadId,
        /// The pager thread (changing: NIL keeps it).
        pager: ThreadId,
        /// The UTCB's user address (changing: 0 keeps it).
        utcb: u64,
        /// The CPU; `None`: the caller's ([`CURRENT_CPU`]).
        cpu: Option<u32>,
    },
}

impl SystemCall for ThreadControl {
    const SYSCALL: Syscall = Syscall::ThreadControl;

    /// Errors: [`Error::InvalidThread`] (a `dest` that cannot name a thread: NIL, ANY,
    /// version 0), [`Error::InvalidCpu`] (a CPU above 32 bits).
    fn decode(x: &[u64; 8]) -> Result<ThreadControl, Error> {
        let dest = ThreadId::from_raw(x[0]);
        if x[1] == 0 {
            return Ok(ThreadControl::Delete { dest });
        }
        if !dest.is_valid() || dest.number() == 0 {
            return Err(Error::InvalidThread);
        }
        let cpu = match x[5] {
            CURRENT_CPU => None,
            c => Some(u32::try_from(c).map_err(|_| Error::InvalidCpu)?),
        };
        Ok(ThreadControl::Make {
            dest,
            space: ThreadId::from_raw(x[1]),
            scheduler: ThreadId::from_raw(x[2]),
            pager: ThreadId::from_raw(x[3]),
            utcb: x[4],
            cpu,
        })
    }

    fn encode(&self) -> [u64; 8] {
        match *self {
            ThreadControl::Delete { dest } => [dest.raw(), 0, 0, 0, 0, 0, 0, 0],
            ThreadControl::Make { dest, space, scheduler, pager, utcb, cpu } => {
                let cpu = cpu.map_or(CURRENT_CPU, u64::from);
                [dest.raw(), space.raw(), scheduler.raw(), pager.raw(), utcb, cpu, 0, 0]
            }
        }
    }
}

/// `SpaceControl`: report, make privileged, or put in a group, a space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpaceControl {
    /// A thread of the space.
    pub space: ThreadId,
    /// Make its threads privileged.
    pub privileged: bool,
    /// The group to put it in, if any.
    pub group: Option<u16>,
}

impl SystemCall for SpaceControl {
    const SYSCALL: Syscall = Syscall::SpaceControl;

    /// Errors: [`Error::InvalidArgument`] (reserved control bits, a group above 65535,
    /// a group word without the group bit).
    fn decode(x: &[u64; 8]) -> Result<SpaceControl, Error> {
        let (flags, group) = SpaceControlFlags::decode(x[1], x[2])?;
        Ok(SpaceControl { space: ThreadId::from_raw(x[0]), privileged: flags.privileged, group })
    }

    fn encode(&self) -> [u64; 8] {
        let flags = SpaceControlFlags { privileged: self.privileged, group: self.group.is_some() };
        [self.space.raw(), flags.raw(), self.group.map_or(0, u64::from), 0, 0, 0, 0, 0]
    }
}

/// `Schedule`: set a thread's priority, CPU and timeslice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The thread.
    pub dest: ThreadId,
    /// The new priority; `None` keeps it ([`KEEP`]).
    pub priority: Option<u8>,
    /// The new CPU; `None` keeps it.
    pub cpu: Option<u32>,
    /// The new timeslice in µs; `None` (0) keeps it.
    pub timeslice_us: Option<u64>,
}

impl SystemCall for Schedule {
    const SYSCALL: Syscall = Syscall::Schedule;

    /// Errors: [`Error::InvalidArgument`] (a priority above [`MAX_PRIORITY`]),
    /// [`Error::InvalidCpu`] (a CPU above 32 bits).
    fn decode(x: &[u64; 8]) -> Result<Schedule, Error> {
        let priority = match x[1] {
            KEEP => None,
            p if p <= MAX_PRIORITY => Some(p as u8),
            _ => return Err(Error::InvalidArgument),
        };
        let cpu = match x[2] {
            KEEP => None,
            c => Some(u32::try_from(c).map_err(|_| Error::InvalidCpu)?),
        };
        let timeslice_us = (x[3] != 0).then_some(x[3]);
        Ok(Schedule { dest: ThreadId::from_raw(x[0]), priority, cpu, timeslice_us })
    }

    fn encode(&self) -> [u64; 8] {
        let priority = self.priority.map_or(KEEP, u64::from);
        let cpu = self.cpu.map_or(KEEP, u64::from);
        [self.dest.raw(), priority, cpu, self.timeslice_us.unwrap_or(0), 0, 0, 0, 0]
    }
}

/// `ExchangeRegisters`: read and change a thread's SP, IP, pager, exception handler and
/// run state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExchangeRegisters {
    /// The thread.
    pub dest: ThreadId,
    /// What to set, and whether to start or halt it.
    pub control: ExregsControl,
    /// The stack pointer (with [`ExregsControl::SET_SP`]).
    pub sp: u64,
    /// The instruction pointer (with [`ExregsControl::SET_IP`]).
    pub ip: u64,
    /// The pager (with [`ExregsControl::SET_PAGER`]).
    pub pager: ThreadId,
    /// The exception handler (with [`ExregsControl::SET_EXCEPTION_HANDLER`]).
    pub exception_handler: ThreadId,
}

impl SystemCall for ExchangeRegisters {
    const SYSCALL: Syscall = Syscall::ExchangeRegisters;

    /// Errors: [`Error::InvalidArgument`] (reserved control bits).
    fn decode(x: &[u64; 8]) -> Result<ExchangeRegisters, Error> {
        Ok(ExchangeRegisters {
            dest: ThreadId::from_raw(x[0]),
            control: ExregsControl::from_raw(x[1])?,
            sp: x[2],
            ip: x[3],
            pager: ThreadId::from_raw(x[4]),
            exception_handler: ThreadId::from_raw(x[5]),
        })
    }

    fn encode(&self) -> [u64; 8] {
        let (pager, handler) = (self.pager.raw(), self.exception_handler.raw());
        [self.dest.raw(), self.control.raw(), self.sp, self.ip, pager, handler, 0, 0]
    }
}

/// `Unmap`: revoke the flexpages in the caller's UTCB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unmap {
    /// How many flexpages, and whether the caller's own mappings go too.
    pub control: UnmapControl,
}

impl SystemCall for Unmap {
    const SYSCALL: Syscall = Syscall::Unmap;

    /// Errors: [`Error::InvalidArgument`] (reserved control bits).
    fn decode(x: &[u64; 8]) -> Result<Unmap, Error> {
        Ok(Unmap { control: UnmapControl::from_raw(x[0])? })
    }

    fn encode(&self) -> [u64; 8] {
        [self.control.raw(), 0, 0, 0, 0, 0, 0, 0]
    }
}

/// `ThreadSwitch`: yield.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadSwitch {
    /// The thread the slice is meant for; NIL: anyone.
    pub dest: ThreadId,
}

impl SystemCall for ThreadSwitch {
    const SYSCALL: Syscall = Syscall::ThreadSwitch;

    fn decode(x: &[u64; 8]) -> Result<ThreadSwitch, Error> {
        Ok(ThreadSwitch { dest: ThreadId::from_raw(x[0]) })
    }

    fn encode(&self) -> [u64; 8] {
        [self.dest.raw(), 0, 0, 0, 0, 0, 0, 0]
    }
}

/// `SystemClock`: no arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemClock;

impl SystemCall for SystemClock {
    const SYSCALL: Syscall = Syscall::SystemClock;

    fn decode(_: &[u64; 8]) -> Result<SystemClock, Error> {
        Ok(SystemClock)
    }

    fn encode(&self) -> [u64; 8] {
        [0; 8]
    }
}

/// `KernelInterface`: no arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelInterface;

impl SystemCall for KernelInterface {
    const SYSCALL: Syscall = Syscall::KernelInterface;

    fn decode(_: &[u64; 8]) -> Result<KernelInterface, Error> {
        Ok(KernelInterface)
    }

    fn encode(&self) -> [u64; 8] {
        [0; 8]
    }
}

/// `InterruptControl`: attach a handler to an interrupt, detach it, or arm the user
/// timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterruptControl {
    /// Make `handler` the handler of `intid`.
    Attach {
        /// The interrupt: an SPI, or [`USER_TIMER_INTID`].
        intid: u32,
        /// The handler (not NIL).
        handler: ThreadId,
        /// [`INTERRUPT_CONTROL_ACK`] was set (accepted; interrupts are acknowledged
        /// by a send to their pseudo-thread either way).
        ack: bool,
    },
    /// Detach `intid` from its handler (x1 = NIL).
    Detach {
        /// The interrupt.
        intid: u32,
    },
    /// Arm the user timer (attached to `handler`) to fire at `deadline`.
    Arm {
        /// The timer's handler.
        handler: ThreadId,
        /// The system counter's value to fire at.
        deadline: u64,
    },
}

impl SystemCall for InterruptControl {
    const SYSCALL: Syscall = Syscall::InterruptControl;

    /// Errors, in this order: [`Error::InvalidInterrupt`] (an INTID above 32 bits),
    /// [`Error::InvalidArgument`] (reserved control bits; arming with a NIL handler),
    /// [`Error::InvalidInterrupt`] (arming anything but the user timer).
    fn decode(x: &[u64; 8]) -> Result<InterruptControl, Error> {
        let intid = u32::try_from(x[0]).map_err(|_| Error::InvalidInterrupt)?;
        if x[2] & !(INTERRUPT_CONTROL_ACK | INTERRUPT_CONTROL_ARM) != 0 {
            return Err(Error::InvalidArgument);
        }
        let handler = ThreadId::from_raw(x[1]);
        if x[2] & INTERRUPT_CONTROL_ARM != 0 {
            if handler.is_nil() {
                return Err(Error::InvalidArgument);
            }
            if intid != USER_TIMER_INTID {
                return Err(Error::InvalidInterrupt);
            }
            return Ok(InterruptControl::Arm { handler, deadline: x[3] });
        }
        if handler.is_nil() {
            return Ok(InterruptControl::Detach { intid });
        }
        Ok(InterruptControl::Attach { intid, handler, ack: x[2] & INTERRUPT_CONTROL_ACK != 0 })
    }

    fn encode(&self) -> [u64; 8] {
        match *self {
            InterruptControl::Attach { intid, handler, ack } => {
                let control = if ack { INTERRUPT_CONTROL_ACK } else { 0 };
                [u64::from(intid), handler.raw(), control, 0, 0, 0, 0, 0]
            }
            InterruptControl::Detach { intid } => [u64::from(intid), 0, 0, 0, 0, 0, 0, 0],
            InterruptControl::Arm { handler, deadline } => {
                [u64::from(USER_TIMER_INTID), handler.raw(), INTERRUPT_CONTROL_ARM, deadline, 0, 0, 0, 0]
            }
        }
    }
}

/// `DebugWrite`: bytes of the caller's memory to the kernel console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DebugWrite {
    /// Where the bytes are (a user address).
    pub va: u64,
    /// How many, at most [`DEBUG_WRITE_MAX`].
    pub len: u64,
}

impl SystemCall for DebugWrite {
    const SYSCALL: Syscall = Syscall::DebugWrite;

    /// Errors: [`Error::InvalidArgument`] (too long, or a range that leaves the user
    /// half of the address space).
    fn decode(x: &[u64; 8]) -> Result<DebugWrite, Error> {
        let (va, len) = (x[0], x[1]);
        if len > DEBUG_WRITE_MAX || va.checked_add(len).is_none_or(|end| end > USER_ADDRESS_LIMIT) {
            return Err(Error::InvalidArgument);
        }
        Ok(DebugWrite { va, len })
    }

    fn encode(&self) -> [u64; 8] {
        [self.va, self.len, 0, 0, 0, 0, 0, 0]
    }
}

/// `Introspect`: ask the kernel what it knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Introspect {
    /// The query and its arguments.
    pub request: Request,
}

impl SystemCall for Introspect {
    const SYSCALL: Syscall = Syscall::Introspect;

    /// Errors: those of [`Request::decode`].
    fn decode(x: &[u64; 8]) -> Result<Introspect, Error> {
        Ok(Introspect { request: Request::decode([x[0], x[1], x[2], x[3]])? })
    }

    fn encode(&self) -> [u64; 8] {
        let [a, b, c, d] = self.request.encode();
        [a, b, c, d, 0, 0, 0, 0]
    }
}

/// `MemoryControl`: frames from a node's pool, device registers, or frames given back
/// ([`MemoryControlRequest`] says which).
impl SystemCall for MemoryControlRequest {
    const SYSCALL: Syscall = Syscall::MemoryControl;

    /// Errors: those of [`MemoryControlRequest::decode`].
    fn decode(x: &[u64; 8]) -> Result<MemoryControlRequest, Error> {
        MemoryControlRequest::decode([x[0], x[1], x[2], x[3]])
    }

    fn encode(&self) -> [u64; 8] {
        let [a, b, c, d] = MemoryControlRequest::encode(self);
        [a, b, c, d, 0, 0, 0, 0]
    }
}

/// `SystemControl`: control the whole system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemControl {
    /// Power off, with the exit status the host sees (0 = success).
    PowerOff {
        /// The status.
        status: u64,
    },
}

impl SystemCall for SystemControl {
    const SYSCALL: Syscall = Syscall::SystemControl;

    /// Errors: [`Error::InvalidArgument`] (an unknown operation).
    fn decode(x: &[u64; 8]) -> Result<SystemControl, Error> {
        match x[0] {
            SYSTEM_POWER_OFF => Ok(SystemControl::PowerOff { status: x[1] }),
            _ => Err(Error::InvalidArgument),
        }
    }

    fn encode(&self) -> [u64; 8] {
        match *self {
            SystemControl::PowerOff { status } => [SYSTEM_POWER_OFF, status, 0, 0, 0, 0, 0, 0],
        }
    }
}

/// `Notify`: post a word to a thread without waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notify {
    /// The thread.
    pub dest: ThreadId,
    /// The word.
    pub word: u64,
}

impl SystemCall for Notify {
    const SYSCALL: Syscall = Syscall::Notify;

    fn decode(x: &[u64; 8]) -> Result<Notify, Error> {
        Ok(Notify { dest: ThreadId::from_raw(x[0]), word: x[1] })
    }

    fn encode(&self) -> [u64; 8] {
        [self.dest.raw(), self.word, 0, 0, 0, 0, 0, 0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fpage::Rights;
    use crate::memory_control::MemoryControlFlags;
    use crate::timeout::Timeout;

    /// A small xorshift generator: registers biased toward the values where bugs
    /// live (0, all ones, the call's constants, small numbers).
    struct Rng(u64);

    impl Rng {
        fn bits(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn word(&mut self) -> u64 {
            match self.bits() % 8 {
                0 => 0,
                1 => u64::MAX,
                2 => self.bits() % 300,
                3 => 1 << (self.bits() % 64),
                4 => u64::from(self.bits() as u32),
                5 => (self.bits() % 64) << 16 | 1,
                _ => self.bits(),
            }
        }

        fn regs(&mut self) -> [u64; 8] {
            core::array::from_fn(|_| self.word())
        }
    }

    /// Every register array that decodes re-encodes to the same value, and every
    /// value round-trips: checked on a million biased random register arrays.
    fn round_trips<C: SystemCall + PartialEq + core::fmt::Debug>(seed: u64) -> usize {
        let mut rng = Rng(seed);
        let mut decoded = 0;
        for _ in 0..100_000 {
            let regs = rng.regs();
            if let Ok(call) = C::decode(&regs) {
                decoded += 1;
                let again = C::decode(&call.encode());
                assert_eq!(again.as_ref(), Ok(&call), "{} from {regs:x?}", C::SYSCALL.name());
            }
        }
        decoded
    }

    #[test]
    fn every_call_round_trips_through_its_registers() {
        assert!(round_trips::<Ipc>(1) > 1000);
        assert!(round_trips::<ThreadControl>(2) > 1000);
        assert!(round_trips::<SpaceControl>(3) > 1000);
        assert!(round_trips::<Schedule>(4) > 1000);
        assert!(round_trips::<ExchangeRegisters>(5) > 1000);
        assert!(round_trips::<Unmap>(6) > 1000);
        assert!(round_trips::<ThreadSwitch>(7) > 1000);
        assert!(round_trips::<SystemClock>(8) > 1000);
        assert!(round_trips::<KernelInterface>(9) > 1000);
        assert!(round_trips::<InterruptControl>(10) > 1000);
        assert!(round_trips::<DebugWrite>(11) > 1000);
        assert!(round_trips::<Introspect>(12) > 50);
        assert!(round_trips::<MemoryControlRequest>(13) > 0);
        assert!(round_trips::<SystemControl>(14) > 1000);
        assert!(round_trips::<Notify>(15) > 1000);
    }

    #[test]
    fn memory_requests_and_queries_round_trip_too() {
        // Random registers rarely make a valid MemoryControl (aligned destination,
        // defined flags): build valid ones, and every query.
        let mut rng = Rng(0x3C);
        let mut built = 0;
        while built < 10_000 {
            let order = rng.bits() % (crate::memory_control::MAX_ORDER + 1);
            let size = crate::PAGE_SIZE << order;
            let dest = (rng.bits() % (USER_ADDRESS_LIMIT / size)) * size;
            let Ok(flags) = MemoryControlFlags::from_raw(rng.bits() & 0x77) else { continue };
            let node = if flags.free {
                0
            } else if flags.device {
                (rng.bits() >> 20) << 12
            } else {
                rng.bits() % 64
            };
            let request = MemoryControlRequest { node, order, dest, flags };
            assert_eq!(
                <MemoryControlRequest as SystemCall>::decode(&SystemCall::encode(&request)),
                Ok(request)
            );
            built += 1;
        }
        let t = ThreadId::new(0x41, 1).unwrap();
        for request in [
            Request::KmemReport { space: t },
            Request::Translate { space: ThreadId::NIL, va: 0x40_0000 },
            Request::NodeOfPhysical { pa: 0x4000_0000 },
            Request::CurrentCpu,
            Request::FastPaths,
            Request::NodeMemory { node: 3 },
        ] {
            let call = Introspect { request };
            assert_eq!(Introspect::decode(&call.encode()), Ok(call));
        }
    }

    #[test]
    fn values_encode_as_the_abi_tables_say() {
        let t = ThreadId::new(0x41, 1).unwrap();
        let ipc = Ipc {
            to: t,
            from: ThreadId::ANY,
            timeouts: Timeouts::NEVER,
            tag: Tag::new(7, 2, 0).unwrap(),
            mr: [1, 2, 0, 0],
        };
        assert_eq!(ipc.encode(), [t.raw(), u64::MAX, u64::MAX, Tag::new(7, 2, 0).unwrap().raw(), 1, 2, 0, 0]);
        let make = ThreadControl::Make {
            dest: t,
            space: t,
            scheduler: ThreadId::NIL,
            pager: ThreadId::ROOT,
            utcb: 0x20_0000,
            cpu: None,
        };
        assert_eq!(make.encode(), [t.raw(), t.raw(), 0, ThreadId::ROOT.raw(), 0x20_0000, CURRENT_CPU, 0, 0]);
        assert_eq!(ThreadControl::Delete { dest: t }.encode(), [t.raw(), 0, 0, 0, 0, 0, 0, 0]);
        let sched = Schedule { dest: t, priority: Some(9), cpu: None, timeslice_us: None };
        assert_eq!(sched.encode(), [t.raw(), 9, KEEP, 0, 0, 0, 0, 0]);
        let arm = InterruptControl::Arm { handler: t, deadline: 5 };
        assert_eq!(arm.encode(), [27, t.raw(), INTERRUPT_CONTROL_ARM, 5, 0, 0, 0, 0]);
        let free =
            MemoryControlRequest { node: 0, order: 2, dest: 0x4000_0000, flags: MemoryControlFlags::FREE };
        assert_eq!(
            SystemCall::encode(&free),
            [0, 2, 0x4000_0000, MemoryControlFlags::FREE.raw(), 0, 0, 0, 0]
        );
        let space = SpaceControl { space: t, privileged: true, group: Some(7) };
        assert_eq!(space.encode(), [t.raw(), 3, 7, 0, 0, 0, 0, 0]);
        let timeouts = Timeouts { send: Timeout::Zero, receive: Timeout::Micros(10) };
        let ipc = Ipc { timeouts, ..ipc };
        assert_eq!(Ipc::decode(&ipc.encode()), Ok(ipc));
        let _ = Rights::R;
    }

    #[test]
    fn malformed_registers_get_the_documented_errors() {
        let t = ThreadId::new(0x41, 1).unwrap().raw();
        let cases: [(Syscall, Result<(), Error>, [u64; 8]); 18] = [
            (Syscall::Ipc, Err(Error::MessageOverflow), [0, 0, 0, (2 << 6) | 63, 0, 0, 0, 0]),
            (Syscall::Ipc, Err(Error::InvalidArgument), [0, 0, 0, 1 << 32, 0, 0, 0, 0]),
            (Syscall::ThreadControl, Err(Error::InvalidThread), [0, t, 0, 0, 0, 0, 0, 0]),
            (Syscall::ThreadControl, Err(Error::InvalidThread), [0x41 << 16, t, 0, 0, 0, 0, 0, 0]),
            (Syscall::ThreadControl, Err(Error::InvalidCpu), [t, t, 0, 0, 0, 1 << 32, 0, 0]),
            (Syscall::ThreadControl, Ok(()), [0, 0, 5, 5, 5, 1 << 40, 5, 5]),
            (Syscall::SpaceControl, Err(Error::InvalidArgument), [t, 4, 0, 0, 0, 0, 0, 0]),
            (Syscall::Schedule, Err(Error::InvalidArgument), [t, 256, KEEP, 0, 0, 0, 0, 0]),
            (Syscall::Schedule, Err(Error::InvalidCpu), [t, KEEP, 1 << 32, 0, 0, 0, 0, 0]),
            (Syscall::ExchangeRegisters, Err(Error::InvalidArgument), [t, 1 << 6, 0, 0, 0, 0, 0, 0]),
            (Syscall::Unmap, Err(Error::InvalidArgument), [1 << 7, 0, 0, 0, 0, 0, 0, 0]),
            (Syscall::InterruptControl, Err(Error::InvalidInterrupt), [1 << 32, t, 0, 0, 0, 0, 0, 0]),
            (Syscall::InterruptControl, Err(Error::InvalidArgument), [40, t, 4, 0, 0, 0, 0, 0]),
            (
                Syscall::InterruptControl,
                Err(Error::InvalidArgument),
                [27, 0, INTERRUPT_CONTROL_ARM, 0, 0, 0, 0, 0],
            ),
            (
                Syscall::InterruptControl,
                Err(Error::InvalidInterrupt),
                [40, t, INTERRUPT_CONTROL_ARM, 0, 0, 0, 0, 0],
            ),
            (Syscall::DebugWrite, Err(Error::InvalidArgument), [u64::MAX - 1, 4, 0, 0, 0, 0, 0, 0]),
            (
                Syscall::DebugWrite,
                Err(Error::InvalidArgument),
                [0x1000, DEBUG_WRITE_MAX + 1, 0, 0, 0, 0, 0, 0],
            ),
            (Syscall::SystemControl, Err(Error::InvalidArgument), [1, 0, 0, 0, 0, 0, 0, 0]),
        ];
        for (call, want, x) in cases {
            let got = match call {
                Syscall::Ipc => Ipc::decode(&x).map(drop),
                Syscall::ThreadControl => ThreadControl::decode(&x).map(drop),
                Syscall::SpaceControl => SpaceControl::decode(&x).map(drop),
                Syscall::Schedule => Schedule::decode(&x).map(drop),
                Syscall::ExchangeRegisters => ExchangeRegisters::decode(&x).map(drop),
                Syscall::Unmap => Unmap::decode(&x).map(drop),
                Syscall::InterruptControl => InterruptControl::decode(&x).map(drop),
                Syscall::DebugWrite => DebugWrite::decode(&x).map(drop),
                Syscall::SystemControl => SystemControl::decode(&x).map(drop),
                other => panic!("no case for {}", other.name()),
            };
            assert_eq!(got, want, "{} {x:x?}", call.name());
        }
    }
}
