// SPDX-License-Identifier: MIT OR Apache-2.0
//! What an exception was: its source from the vector slot, its class from ESR_EL1.
//!
//! The vector assembly only knows which of the sixteen slots fired; the syndrome
//! register says why. Decoding both is pure bit work, kept here so that the fatal
//! report ("data abort at EL1 ...") and, later, the dispatch of system calls and
//! user faults are tested on the host against syndromes from the Arm ARM.
//!
//! # References
//! Arm ARM (DDI 0487) D17.2.40 "ESR_EL1": EC values in table D17-11 (the ones
//! listed in [`class_name`]); D1.10.2 "Exception vectors".
#![forbid(unsafe_code)]

/// The registers saved on exception entry, in the order the vector assembly
/// (`arch/aarch64/trap.rs`) stores them. For a user thread this is its whole integer
/// context: the kernel keeps a copy in the thread's control block while it does not
/// run, and restores it (possibly for another thread) on the way out.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrapFrame {
    /// x0..x30 of the interrupted context.
    pub x: [u64; 31],
    /// The interrupted stack pointer (SP_EL0 for a lower-EL exception).
    pub sp: u64,
    /// ELR_EL1: where the exception was taken (where to resume).
    pub elr: u64,
    /// SPSR_EL1: the interrupted PSTATE.
    pub spsr: u64,
    /// ESR_EL1: the syndrome.
    pub esr: u64,
    /// FAR_EL1: the faulting address, for aborts.
    pub far: u64,
}

impl TrapFrame {
    /// A fresh user context: EL0 (SPSR.M = 0) with interrupts unmasked, starting at `ip`
    /// with stack `sp` and `x0 = arg`.
    pub fn user(ip: u64, sp: u64, arg: u64) -> TrapFrame {
        let mut frame = TrapFrame { elr: ip, sp, spsr: 0, ..TrapFrame::default() };
        frame.x[0] = arg;
        frame
    }

    /// Whether this context runs at EL0 (SPSR.M\[3:0\] = 0).
    pub fn is_user(&self) -> bool {
        self.spsr & 0xF == 0
    }
}

/// Where the exception came from (which quarter of the vector table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// EL1 while using SP_EL0 (the kernel never runs that way: a bug).
    CurrentSp0,
    /// EL1 on its own stack: the kernel itself.
    CurrentSpx,
    /// EL0 in AArch64: a user thread.
    Lower64,
    /// EL0 in AArch32 (not supported: a user thread that should not exist).
    Lower32,
}

/// The kind of exception within a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Synchronous: caused by the instruction (fault, system call, trap).
    Sync,
    /// Normal interrupt.
    Irq,
    /// Fast interrupt.
    Fiq,
    /// System error (asynchronous abort).
    SError,
}

/// One vector slot, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trap {
    /// Where it came from.
    pub source: Source,
    /// What kind it is.
    pub kind: Kind,
}

impl Trap {
    /// Decodes the slot number (0..16) the vector stub passes.
    pub fn from_slot(slot: u64) -> Trap {
        let source = match (slot >> 2) & 3 {
            0 => Source::CurrentSp0,
            1 => Source::CurrentSpx,
            2 => Source::Lower64,
            _ => Source::Lower32,
        };
        let kind = match slot & 3 {
            0 => Kind::Sync,
            1 => Kind::Irq,
            2 => Kind::Fiq,
            _ => Kind::SError,
        };
        Trap { source, kind }
    }
}

/// The exception class: ESR bits \[31:26\].
pub fn class(esr: u64) -> u8 {
    ((esr >> 26) & 0x3F) as u8
}

/// A readable name for an exception class.
pub fn class_name(ec: u8) -> &'static str {
    match ec {
        0x00 => "unknown reason",
        0x01 => "trapped WFI/WFE",
        0x07 => "FP/SIMD access trapped",
        0x0E => "illegal execution state",
        0x15 => "SVC (system call)",
        0x16 => "HVC",
        0x17 => "SMC",
        0x18 => "trapped system register access",
        0x20 => "instruction abort from a lower EL",
        0x21 => "instruction abort",
        0x22 => "PC alignment fault",
        0x24 => "data abort from a lower EL",
        0x25 => "data abort",
        0x26 => "SP alignment fault",
        0x2F => "SError",
        0x30 | 0x31 => "breakpoint",
        0x32 | 0x33 => "software step",
        0x34 | 0x35 => "watchpoint",
        0x3C => "BRK instruction",
        _ => "other",
    }
}

/// For aborts: the fault status code (ESR ISS bits \[5:0\]) in words.
pub fn fault_status(esr: u64) -> Option<&'static str> {
    if !matches!(class(esr), 0x20 | 0x21 | 0x24 | 0x25) {
        return None;
    }
    Some(match esr & 0x3F {
        0x00..=0x03 => "address size fault",
        0x04..=0x07 => "translation fault",
        0x09..=0x0B => "access flag fault",
        0x0D..=0x0F => "permission fault",
        0x10 => "synchronous external abort",
        0x21 => "alignment fault",
        _ => "other fault",
    })
}

/// For data aborts: whether the access was a write (ESR ISS.WnR, bit 6).
pub fn is_write(esr: u64) -> bool {
    matches!(class(esr), 0x24 | 0x25) && esr & (1 << 6) != 0
}

/// The attempted access of an abort from EL0, as the page-fault message's `rwx` bits
/// (`abi::fault`): 1 an instruction fetch (EC 0x20), 2 a write, 4 a read.
#[inline(always)]
pub fn fault_access(esr: u64) -> u16 {
    if class(esr) == 0x20 {
        1
    } else if is_write(esr) {
        2
    } else {
        4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_user_context_runs_at_el0_with_interrupts_open() {
        let f = TrapFrame::user(0x40_0000, 0x7FFF_F000, 0x1234);
        assert!(f.is_user());
        assert_eq!(f.spsr & (0xF << 6), 0, "D, A, I, F unmasked");
        assert_eq!((f.elr, f.sp, f.x[0]), (0x40_0000, 0x7FFF_F000, 0x1234));
        assert_eq!(core::mem::size_of::<TrapFrame>(), 36 * 8);
    }

    #[test]
    fn a_page_faults_access_is_fetch_write_or_read() {
        assert_eq!(fault_access(0x20 << 26), 1, "instruction abort");
        assert_eq!(fault_access(0x24 << 26 | 1 << 6), 2, "data abort, WnR");
        assert_eq!(fault_access(0x24 << 26), 4, "data abort, read");
    }

    #[test]
    fn slots_decode_to_source_and_kind() {
        assert_eq!(Trap::from_slot(4), Trap { source: Source::CurrentSpx, kind: Kind::Sync });
        assert_eq!(Trap::from_slot(9), Trap { source: Source::Lower64, kind: Kind::Irq });
        assert_eq!(Trap::from_slot(15), Trap { source: Source::Lower32, kind: Kind::SError });
        assert_eq!(Trap::from_slot(2), Trap { source: Source::CurrentSp0, kind: Kind::Fiq });
    }

    #[test]
    fn a_kernel_write_to_an_unmapped_page_is_a_data_abort_translation_fault() {
        // EC 0x25, IL, WnR, DFSC 0x07 (level 3 translation fault): what QEMU reports.
        let esr = 0x9600_0047;
        assert_eq!(class(esr), 0x25);
        assert_eq!(class_name(class(esr)), "data abort");
        assert_eq!(fault_status(esr), Some("translation fault"));
        assert!(is_write(esr));
    }

    #[test]
    fn non_aborts_have_no_fault_status() {
        assert_eq!(fault_status(0x5600_0000), None, "SVC");
        assert_eq!(class_name(class(0x5600_0000)), "SVC (system call)");
        assert!(!is_write(0x5600_0040));
        assert_eq!(class_name(class(0xF200_0000)), "BRK instruction");
    }
}
