// SPDX-License-Identifier: MIT OR Apache-2.0
//! The exception vector table and the register frame every exception saves.
//!
//! Every exception the CPU takes at EL1 lands in one of the sixteen 128-byte slots
//! of `exception_vectors` (four sources x four kinds). Each slot saves x0/x1, puts its
//! slot number in x0 and branches to one common path that saves the rest of the
//! general registers and the exception syndrome into a [`TrapFrame`] on the stack and
//! calls [`trap_entry`]. The frame's layout is shared by the assembly and the Rust
//! struct; a test-free check (`const` assertion below) keeps the two in step.
//!
//! Today every exception is unexpected and fatal: the kernel prints what happened
//! and stops. The return path (restore and `eret`) is already here, so system calls,
//! interrupts and user faults can be added as cases of [`trap_entry`] without
//! touching the assembly.
//!
//! # References
//! Arm ARM (DDI 0487) D1.10 "Exception entry" (vector offsets), D17.2.40 ESR_EL1.

use crate::exception::{Kind, Source, Trap};

pub use crate::exception::TrapFrame;

const FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
const _: () = assert!(FRAME_SIZE == 36 * 8 && FRAME_SIZE.is_multiple_of(16), "the assembly stores 36 words");

core::arch::global_asm!(
    r#"
.macro VECTOR slot
    .balign 128
    sub     sp, sp, #{frame}
    stp     x0, x1, [sp, #0]
    mov     x0, #\slot
    b       trap_common
.endm

.section .text
.balign 2048
.global exception_vectors
exception_vectors:
    VECTOR 0     // current EL, SP_EL0: sync
    VECTOR 1     //                     IRQ
    VECTOR 2     //                     FIQ
    VECTOR 3     //                     SError
    VECTOR 4     // current EL, SP_ELx: sync
    VECTOR 5     //                     IRQ
    VECTOR 6     //                     FIQ
    VECTOR 7     //                     SError
    VECTOR 8     // lower EL, AArch64:  sync
    VECTOR 9     //                     IRQ
    VECTOR 10    //                     FIQ
    VECTOR 11    //                     SError
    VECTOR 12    // lower EL, AArch32:  sync
    VECTOR 13    //                     IRQ
    VECTOR 14    //                     FIQ
    VECTOR 15    //                     SError

trap_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    // sp slot: SP_EL0 for lower-EL entries (slots 8..15), else the pre-exception SP.
    add     x2, sp, #{frame}
    cmp     x0, #8
    b.lo    1f
    mrs     x2, sp_el0
1:  stp     x30, x2, [sp, #240]
    mrs     x2, elr_el1
    mrs     x3, spsr_el1
    stp     x2, x3, [sp, #256]
    mrs     x2, esr_el1
    mrs     x3, far_el1
    stp     x2, x3, [sp, #272]
    mov     x1, sp
    // Make the interrupted code the caller in the frame-pointer chain, so a backtrace
    // from the handler continues into it.
    ldr     x2, [x1, #256]          // ELR as the "return address" of that record
    stp     x29, x2, [sp, #-16]!
    mov     x29, sp
    bl      trap_entry
    add     sp, sp, #16
// Return path: restore everything from the frame at sp (the handler may have replaced
// it with another thread's context). `enter_user` jumps here with a frame it built.
.global trap_restore
trap_restore:
    ldp     x2, x3, [sp, #256]
    msr     elr_el1, x2
    msr     spsr_el1, x3
    ldp     x30, x2, [sp, #240]
    mrs     x3, spsr_el1            // back to EL0 (SPSR.M[3:0] = 0)? Then restore SP_EL0.
    tst     x3, #0xf
    b.ne    2f
    msr     sp_el0, x2              // returning to EL0: its stack pointer
2:  ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    add     sp, sp, #{frame}
    eret
"#,
    frame = const FRAME_SIZE,
);

/// Called by the common vector path with the slot number and the saved frame.
#[unsafe(no_mangle)]
extern "C" fn trap_entry(slot: u64, frame: &mut TrapFrame) {
    let trap = Trap::from_slot(slot);
    match (trap.source, trap.kind) {
        // Interrupts, taken where the kernel waits (it is not preemptible): the idle
        // loop looks for ready threads after each one.
        (Source::CurrentSpx, Kind::Irq) => {
            let _ = crate::irq::handle();
        }
        // Everything from user mode: system calls, faults, interrupts while a thread ran.
        (Source::Lower64 | Source::Lower32, _) => crate::l4::user_trap(trap, frame),
        // Nothing else is expected yet: system calls and user faults arrive with the
        // L4 core. Everything else is a kernel bug, reported and fatal.
        _ => crate::fatal_exception(trap, frame),
    }
}
