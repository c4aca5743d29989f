// SPDX-License-Identifier: MIT OR Apache-2.0
//! How the kernel ends: a status the host can see, and the fatal reports before it.
//!
//! Every stop goes through [`exit`]: it prints `report: halt status= cause=` (the
//! statuses are `halt.rs`'s), then stops the machine the way the command line asked
//! (semihosting carries the status to QEMU; PSCI `SYSTEM_OFF` cannot, so the line is
//! how a runner learns it there). [`fatal`] prints `fatal: WHY` first; a panic and an
//! unexpected exception ([`fatal_exception`]) print what happened with a frame-pointer
//! backtrace (`backtrace.rs`).
//!
//! `boot` tells this module how to end as soon as it knows ([`set_exit`], from the
//! command line and the tree's PSCI node, before the board is read) and then the board
//! ([`set_board`]: its PSCI, which ACPI may give where the loader's stub tree has
//! none, and the CPU numbers fatal reports name). Until then an exit parks the CPU,
//! its line printed. Nothing here depends on the rest of the kernel being sound: it
//! runs when it is not.

use crate::arch::cpu;
use crate::cmdline::ExitMethod;
use crate::exception::{self, Trap, TrapFrame};
use crate::halt::Halt;
use crate::{backtrace, console};
use core::sync::atomic::{AtomicBool, Ordering};
use platform::{Board, Psci};
use spin::Once;

/// How to end: the command line's exit method and the tree's PSCI node.
static EXIT: Once<(ExitMethod, Option<Psci>)> = Once::new();
/// The board, once read.
static BOARD: Once<&'static Board<'static>> = Once::new();

// The boot stack's bounds, from the kernel's linker script: only their addresses are
// taken.
unsafe extern "C" {
    static __boot_stack_bottom: u8;
    static __boot_stack_top: u8;
}

/// Records how to end (the first call counts): the exit method and the PSCI node the
/// device tree names, read before the board itself ([`platform::early_facts`]) so
/// that even a refused board ends the way the command line asked.
pub fn set_exit(method: ExitMethod, psci: Option<Psci>) {
    EXIT.call_once(|| (method, psci));
}

/// Records the board: its PSCI takes precedence over the early one, and fatal reports
/// name CPUs by their index in it.
pub fn set_board(board: &'static Board<'static>) {
    BOARD.call_once(|| board);
}

/// Prints `fatal: WHY` and stops with `halt`: the end of every boot step that cannot go
/// on.
pub fn fatal(halt: Halt, why: core::fmt::Arguments) -> ! {
    console::print_fatal(format_args!("fatal: {why}\n"));
    exit(halt)
}

/// Ends the kernel: prints `report: halt status= cause=` (see `halt.rs`), then stops
/// the machine the way the command line asked. Semihosting carries the status to the
/// host; PSCI `SYSTEM_OFF` cannot, so the line is how a runner learns it there. Without
/// PSCI (or before anything about the board is known) the CPU parks, the line printed.
pub fn exit(halt: Halt) -> ! {
    let status = halt.status();
    console::print_fatal(format_args!("{}\n", report::line!("halt", "status" => status, "cause" => halt.name())));
    let (method, early_psci) = EXIT.get().copied().unwrap_or((ExitMethod::Psci, None));
    match method {
        ExitMethod::Semihosting => cpu::semihosting_exit(status),
        ExitMethod::Psci => {
            let psci = BOARD.get().and_then(|b| b.psci).or(early_psci);
            if let Some((conduit, system_off)) = psci.and_then(|p| Some((p.conduit, p.system_off?))) {
                cpu::psci_call(conduit, system_off, 0, 0, 0);
            }
            cpu::park()
        }
    }
}

/// Set by the first fatal report; a second one (a fault inside the report) stops.
static DYING: AtomicBool = AtomicBool::new(false);

fn enter_fatal() {
    if DYING.swap(true, Ordering::SeqCst) {
        cpu::park();
    }
}

fn this_cpu() -> i64 {
    let mpidr = cpu::mpidr();
    BOARD.get().and_then(|b| b.cpu_index_by_mpidr(mpidr)).map_or(-1, |i| i as i64)
}

/// Prints the return addresses up the frame-pointer chain from `fp`, numbered from
/// `first` (the caller may have printed frame #0 itself).
fn print_backtrace(fp: u64, first: usize) {
    // The stack this CPU runs on: its own once it has one, else the boot stack.
    let stack = match cpu::this_percpu() {
        Some(block) => block.stack.0..block.stack.1,
        None => (&raw const __boot_stack_bottom as u64)..(&raw const __boot_stack_top as u64),
    };
    // SAFETY: `walk` only reads addresses inside `stack`, this CPU's current stack,
    // which is mapped read-write for the kernel's whole life.
    let read = |addr: u64| unsafe { core::ptr::read_volatile(addr as *const u64) };
    backtrace::walk(
        fp,
        stack,
        read,
        |i, addr| console::print_fatal(format_args!("  #{} {addr:#x}\n", first + i)),
        32,
    );
}

/// Reports an exception nobody expected and stops: a kernel bug.
pub fn fatal_exception(trap: Trap, frame: &TrapFrame) -> ! {
    enter_fatal();
    let ec = exception::class(frame.esr);
    console::print_fatal(format_args!(
        "exception: {} ({:?} {:?}) esr={:#x} far={:#x} elr={:#x} cpu={} mpidr={:#x}\n",
        exception::class_name(ec),
        trap.source,
        trap.kind,
        frame.esr,
        frame.far,
        frame.elr,
        this_cpu(),
        cpu::mpidr(),
    ));
    if let Some(status) = exception::fault_status(frame.esr) {
        let access = if exception::is_write(frame.esr) { "write" } else { "read" };
        console::print_fatal(format_args!("exception: {status} on {access} of {:#x}\n", frame.far));
    }
    console::print_fatal(format_args!("backtrace:\n  #0 {:#x}\n", frame.elr));
    print_backtrace(frame.x[29], 1);
    exit(Halt::Exception)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    enter_fatal();
    match info.location() {
        Some(loc) => console::print_fatal(format_args!(
            "panic: {} at {}:{}:{} cpu={}\n",
            info.message(),
            loc.file(),
            loc.line(),
            loc.column(),
            this_cpu()
        )),
        None => console::print_fatal(format_args!("panic: {} cpu={}\n", info.message(), this_cpu())),
    }
    console::print_fatal(format_args!("backtrace:\n"));
    print_backtrace(cpu::frame_pointer(), 0);
    exit(Halt::Panic)
}
