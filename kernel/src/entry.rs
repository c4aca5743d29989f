// SPDX-License-Identifier: MIT OR Apache-2.0
//! The kernel on this machine: the one `Kernel`, its locks, and the ways in from the
//! exception vectors.
//!
//! The L4 core (`l4`) is logic over a `Machine`; this module makes it *the* kernel:
//! [`KERNEL`] is the one `Kernel<Aarch64>` (`crate::machine`) behind the general lock,
//! [`THREADS`] its thread table, and the functions the vector assembly
//! (`arch::aarch64::trap`) calls by name take the locks `l4`'s "Locking" asks for and
//! hand the trap to the core:
//!
//! - `trap_user_svc` and `trap_user_abort`: the fast paths (`l4::fastpath`), tried
//!   first for an `svc #0` and for a page fault from AArch64 EL0, with only this CPU's
//!   own lock (a map reply takes the general lock first, then its own);
//! - `trap_user_entry`: every other trap from EL0, through `Kernel::trap`, which says
//!   what the CPU runs next: back to user mode, idle ([`idle_loop`]), or stop
//!   (`stop::exit`, still holding the lock, as a stop from anywhere else would);
//! - `trap_entry`: exceptions from EL1, which are interrupts while the kernel idles
//!   (it is not preemptible) or kernel bugs (`stop::fatal_exception`).
//!
//! `boot` hands the kernel its frame allocator and board ([`init`]) before any CPU
//! can run a user thread, and starts the root task ([`start_root`]).
//!
//! What must hold: the vectors reach the kernel only through these functions; every
//! one but the fast paths holds [`KERNEL`]'s lock (through [`lock`], which lets go of
//! the CPU locks the operation took before the general lock) while it touches kernel
//! state.

use crate::arch::{cpu, user};
use crate::exception::{Kind, Source, Trap, TrapFrame};
use crate::l4::task::RootError;
use crate::l4::threads::Threads;
use crate::l4::{self, Events, Kernel, Next};
use crate::machine::Aarch64;
use crate::mm::frames::Frames;
use crate::percpu::PerCpu;
use crate::slab::SlabCache;
use crate::sync::{Mutex, MutexGuard};
use crate::{irq, stop};
use abi::Error;
use core::sync::atomic::Ordering;
use platform::{Board, NodeId, PhysRange};
use crate::mm::addr::PhysAddr;

/// The general lock and everything it protects (`l4`'s "Locking").
///
/// A plain spin lock, knowingly unfair: a CPU making system calls in a tight loop can
/// win it again and again (user code busy-waits on the counter it reads directly, not
/// through system calls, to avoid that). A ticket lock was tried and measured worse
/// here: with more vCPUs than host cores, a waiter the host has descheduled holds up
/// every CPU behind it (stalls of 100 ms and more in `pagers/l4test`). The CPU-local
/// fast paths do not take it; the rest of the kernel's work still does.
pub static KERNEL: Mutex<Kernel<Aarch64>> = Mutex::new(Kernel::new(Aarch64, &THREADS));

/// The thread table, shared by the general path and the CPU-local fast paths
/// (`l4::threads`).
pub static THREADS: Threads = Threads::new();

/// What the fast paths reach without the general lock.
const FAST: l4::fastpath::Fast<Aarch64> = l4::fastpath::Fast { machine: Aarch64, threads: &THREADS };

/// The general lock, held: the kernel, and on drop the CPU locks the operation took,
/// then the general lock itself.
pub struct Locked(MutexGuard<'static, Kernel<Aarch64>>);

impl core::ops::Deref for Locked {
    type Target = Kernel<Aarch64>;
    fn deref(&self) -> &Kernel<Aarch64> {
        &self.0
    }
}

impl core::ops::DerefMut for Locked {
    fn deref_mut(&mut self) -> &mut Kernel<Aarch64> {
        &mut self.0
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        self.0.release_cpus();
    }
}

/// Takes the general lock.
pub fn lock() -> Locked {
    Locked(KERNEL.lock())
}

/// Prepares the kernel objects on the boot CPU, handing the kernel its frame
/// allocator, the slab cache of MDB entries and the board: the empty root table, the kernel interface page (which
/// names the initrd and the device tree at `dtb`), the MDB's frame-root arrays.
pub fn init(
    frames: &'static Frames,
    entries: &'static SlabCache<'static>,
    board: &'static Board<'static>,
    dtb: Option<(u64, u64)>,
) -> Result<(), Error> {
    let initrd = board.chosen.initrd.map(|r| (r.base, r.size));
    lock().init(frames, entries, board, initrd, dtb)?;
    cpu_init();
    Ok(())
}

/// Prepares this CPU for user threads: FP/SIMD closed to EL0 (lazy switching), the
/// counters readable at EL0 (the cycle counter for `scripts/bench`; see
/// `user::enable_user_cycle_counter`), the empty lower half loaded and opened. Every
/// CPU calls it once, after [`init`].
pub fn cpu_init() {
    lock().cpu_init();
    user::enable_user_counter();
    user::enable_user_cycle_counter();
    user::open_lower_half();
}

/// Loads and starts the root task from the initrd at `initrd` (physical), its thread
/// on CPU `cpu`, its space homed on `node`, the device tree at `dtb` mapped for it.
pub fn start_root(initrd: PhysRange, dtb: Option<(u64, u64)>, cpu: u32, node: NodeId) -> Result<(), RootError> {
    // SAFETY: the initrd range is RAM the boot loader filled and the kernel reserved
    // (it is excluded from every frame pool), so nothing writes it while it is read.
    let blob = unsafe { crate::mm::phys::Window::DIRECT_MAP.slice(PhysAddr::new(initrd.base), initrd.size as usize) };
    l4::task::start_root(&mut lock(), blob, initrd, dtb, cpu, node)
}

/// A CPU with nothing to run: wait for an interrupt, then look for a ready thread.
pub fn idle_loop(me: &'static PerCpu) -> ! {
    loop {
        {
            let mut k = lock();
            if k.idle(me) {
                let context = me.user_context.load(Ordering::Relaxed) as *const TrapFrame;
                drop(k);
                // SAFETY: the stack top is this CPU's own kernel stack, and nothing on
                // it is needed: this loop never returns. `context` is `user_context`,
                // which `idle` just pointed at the saved registers of the thread it
                // dispatched; the thread is Running on this CPU, so no other CPU
                // changes them (nor frees the TCB: deletion of a running thread is
                // finished by its own CPU) now. Its space and FP state are loaded.
                unsafe { user::enter_user(context, me.stack.1) };
            }
        }
        cpu::wait_for_interrupt();
    }
}

/// Called by `trap_common` (exceptions from EL1) with the slot number and the frame.
#[unsafe(no_mangle)]
extern "C" fn trap_entry(slot: u64, frame: &mut TrapFrame) {
    let trap = Trap::from_slot(slot);
    match (trap.source, trap.kind) {
        // Interrupts, taken where the kernel waits (it is not preemptible): the idle
        // loop looks for ready threads after each one.
        (Source::CurrentSpx, Kind::Irq) => {
            let _ = irq::handle();
        }
        // Everything else from EL1 is a kernel bug, reported and fatal. (Exceptions
        // from EL0 take `trap_user`, never this path.)
        _ => stop::fatal_exception(trap, frame),
    }
}

/// Called by `trap_user` for an `svc #0` from AArch64 EL0 (registers in the TCB):
/// whether the IPC fast path did it (see `l4::fastpath`).
#[unsafe(no_mangle)]
extern "C" fn trap_user_svc() -> bool {
    let Some(me) = cpu::this_percpu() else { return false };
    match l4::fastpath::svc(FAST, me) {
        l4::fastpath::Taken::Done => true,
        l4::fastpath::Taken::No => false,
        // Out of line: nothing is live across the call (the lock is a static). The
        // general lock without waiting while this CPU's is held; else in the order.
        l4::fastpath::Taken::MapReply(reply, local) => match KERNEL.try_lock() {
            Some(k) => l4::fastpath::map_reply(&mut Locked(k), me, reply, Some(local)),
            None => {
                drop(local);
                l4::fastpath::map_reply(&mut lock(), me, reply, None)
            }
        },
    }
}

/// Called by `trap_user` for a data or instruction abort from AArch64 EL0 (registers
/// in the TCB): whether the page-fault fast path delivered it (see `l4::fastpath`).
#[unsafe(no_mangle)]
extern "C" fn trap_user_abort() -> bool {
    let Some(me) = cpu::this_percpu() else { return false };
    l4::fastpath::abort(FAST, me)
}

/// Called by `trap_user` (exceptions from EL0: system calls, faults, interrupts while
/// a thread ran) with the slot number; the thread's registers are in its TCB already.
/// Returns into `user_restore`, which loads the thread `me.user_context` names.
///
/// An interrupt that came while a system call ran (interrupts are masked in the
/// kernel) is taken here at once, as if the thread had been interrupted right after
/// its call: not on the way out to user mode and in again, which costs its registers
/// restored and saved once more. A long call stops at a preemption point for it
/// (`l4::restart`) and comes here; it finds the thread's return address on its `svc`.
#[unsafe(no_mangle)]
extern "C" fn trap_user_entry(slot: u64) {
    let mut trap = Trap::from_slot(slot);
    let me = cpu::this_percpu().expect("invariant: user threads run only on set-up CPUs");
    loop {
        let events = match trap.kind {
            Kind::Irq => {
                let irq::Events { timer, interrupts, .. } = irq::handle();
                Events { timer, interrupts }
            }
            _ => Events::default(),
        };
        let mut k = lock();
        match k.trap(me, trap, events) {
            Next::User if trap.kind == Kind::Sync && trap.source == Source::Lower64 && cpu::interrupt_waiting() => {
                drop(k);
                trap = Trap { source: Source::Lower64, kind: Kind::Irq };
            }
            Next::User => return,
            Next::Idle => {
                drop(k);
                idle_loop(me)
            }
            Next::Stop(halt) => stop::exit(halt),
        }
    }
}
