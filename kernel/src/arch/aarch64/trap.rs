// SPDX-License-Identifier: MIT OR Apache-2.0
//! The exception vector table and the register frame every exception saves.
//!
//! Every exception the CPU takes at EL1 lands in one of the sixteen 128-byte slots
//! of `exception_vectors` (four sources x four kinds). There are two ways in:
//!
//! - **From EL1** (slots 0..7: interrupts while the kernel idles, kernel bugs): the slot
//!   saves x0/x1, puts its slot number in x0 and branches to `trap_common`, which saves
//!   the rest of the registers and the syndrome into a [`TrapFrame`] on the kernel
//!   stack, calls `trap_entry` (`crate::entry`) and restores from that frame (`trap_restore`).
//! - **From EL0** (slots 8..15: system calls, faults, interrupts while a thread ran):
//!   `trap_user` saves the thread's registers **straight into its TCB** (the frame the
//!   CPU's `PerCpu::user_context` points at), calls `trap_user_entry`, and
//!   `user_restore` loads the registers of whichever thread the kernel picked from
//!   `user_context` again (the kernel repointed it in `dispatch`) and erets to EL0.
//!   No copy of the frame is made on the way in or out: a system call that switches
//!   threads touches each thread's registers once. The synchronous slot from AArch64
//!   has a path of its own (`trap_user_sync`): an `svc #0` (the ESR compared as one
//!   value) first tries the IPC fast path (`trap_user_svc`), a data or instruction
//!   abort the page-fault fast path (`trap_user_abort`, both in `l4::fastpath`); each
//!   returns straight to `user_restore` when it did the work.
//!
//! The Rust functions the assembly calls (`trap_entry`, `trap_user_entry`,
//! `trap_user_svc`, `trap_user_abort`) are not here: they are the kernel's entries
//! (`crate::entry`), reached by symbol name, so this leaf depends on nothing above it.
//!
//! The frame's layout is shared by the assembly and the Rust struct; a `const`
//! assertion below keeps the two in step, and `PerCpu::user_context`'s offset is
//! passed to the assembly by `offset_of!`.
//!
//! # References
//! Arm ARM (DDI 0487) D1.10 "Exception entry" (vector offsets), D17.2.40 ESR_EL1.

use crate::percpu::PerCpu;

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

// A slot for exceptions from EL0: x0 = this thread's saved-register frame in its TCB
// (PerCpu::user_context, TPIDR_EL1 = this CPU's block), x1 = the slot; x0/x1 wait on
// the (otherwise empty) kernel stack.
.macro VECTOR_USER slot
    .balign 128
    stp     x0, x1, [sp, #-16]!
    mrs     x0, tpidr_el1
    ldr     x0, [x0, #{user_context}]
    mov     x1, #\slot
    b       trap_user
.endm

// Saves every register of the thread into the TCB frame at x0 (its x0/x1 waiting on
// the stack); leaves ELR in x4 and ESR in x5.
.macro SAVE_USER
    stp     x2, x3, [x0, #16]
    stp     x4, x5, [x0, #32]
    stp     x6, x7, [x0, #48]
    stp     x8, x9, [x0, #64]
    stp     x10, x11, [x0, #80]
    stp     x12, x13, [x0, #96]
    stp     x14, x15, [x0, #112]
    stp     x16, x17, [x0, #128]
    stp     x18, x19, [x0, #144]
    stp     x20, x21, [x0, #160]
    stp     x22, x23, [x0, #176]
    stp     x24, x25, [x0, #192]
    stp     x26, x27, [x0, #208]
    stp     x28, x29, [x0, #224]
    mrs     x2, sp_el0
    stp     x30, x2, [x0, #240]
    mrs     x4, elr_el1
    mrs     x3, spsr_el1
    stp     x4, x3, [x0, #256]
    mrs     x5, esr_el1
    mrs     x3, far_el1
    stp     x5, x3, [x0, #272]
    ldp     x2, x3, [sp], #16       // the thread's x0/x1
    stp     x2, x3, [x0, #0]
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
    // lower EL, AArch64: sync (its own path: the fast paths come first)
    .balign 128
    stp     x0, x1, [sp, #-16]!
    mrs     x0, tpidr_el1
    ldr     x0, [x0, #{user_context}]
    b       trap_user_sync
    VECTOR_USER 9     //                     IRQ
    VECTOR_USER 10    //                     FIQ
    VECTOR_USER 11    //                     SError
    VECTOR_USER 12    // lower EL, AArch32:  sync
    VECTOR_USER 13    //                     IRQ
    VECTOR_USER 14    //                     FIQ
    VECTOR_USER 15    //                     SError

// A synchronous exception from AArch64 EL0 (slot 8). An `svc #0` (this ESR) tries the
// IPC fast path first, a data or instruction abort (EC 0x24 / 0x20) the page-fault
// fast path: done, or nothing changed and the general path runs, with x0 and x4
// reloaded (the call clobbered them) and the slot in x1.
trap_user_sync:
    SAVE_USER
    mov     x2, #{svc0_esr}
    cmp     x5, x2
    b.ne    2f
    bl      trap_user_svc
3:  cbnz    w0, user_restore
    mrs     x0, tpidr_el1
    ldr     x0, [x0, #{user_context}]
    ldr     x4, [x0, #256]
    b       1f
2:  lsr     x2, x5, #26
    bic     x2, x2, #4              // EC 0x24 and 0x20 (only they) become 0x20
    cmp     x2, #0x20
    b.ne    1f
    bl      trap_user_abort
    b       3b
1:  mov     x1, #8
    b       trap_user_general

// From EL0: save every register into the TCB frame at x0 (slot in x1).
trap_user:
    SAVE_USER
trap_user_general:
    // The interrupted code as the caller in the frame-pointer chain (for backtraces).
    stp     x29, x4, [sp, #-16]!
    mov     x29, sp
    mov     x0, x1
    bl      trap_user_entry
    add     sp, sp, #16
// Back to EL0 in the thread whose frame user_context names (the kernel stack is empty
// again). `enter_user` jumps here too.
.global user_restore
user_restore:
    mrs     x0, tpidr_el1
    ldr     x0, [x0, #{user_context}]
    ldp     x2, x3, [x0, #256]
    msr     elr_el1, x2
    msr     spsr_el1, x3
    ldp     x30, x2, [x0, #240]
    msr     sp_el0, x2
    ldp     x2, x3, [x0, #16]
    ldp     x4, x5, [x0, #32]
    ldp     x6, x7, [x0, #48]
    ldp     x8, x9, [x0, #64]
    ldp     x10, x11, [x0, #80]
    ldp     x12, x13, [x0, #96]
    ldp     x14, x15, [x0, #112]
    ldp     x16, x17, [x0, #128]
    ldp     x18, x19, [x0, #144]
    ldp     x20, x21, [x0, #160]
    ldp     x22, x23, [x0, #176]
    ldp     x24, x25, [x0, #192]
    ldp     x26, x27, [x0, #208]
    ldp     x28, x29, [x0, #224]
    ldp     x0, x1, [x0, #0]
    eret

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
    // sp slot: the pre-exception SP (only EL1 entries come here).
    add     x2, sp, #{frame}
    stp     x30, x2, [sp, #240]
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
// Return path to EL1: restore everything from the frame at sp.
trap_restore:
    ldp     x2, x3, [sp, #256]
    msr     elr_el1, x2
    msr     spsr_el1, x3
    ldr     x30, [sp, #240]
    ldp     x0, x1, [sp, #0]
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
    user_context = const core::mem::offset_of!(PerCpu, user_context),
    svc0_esr = const crate::ipc_fast::SVC0_ESR,
);
