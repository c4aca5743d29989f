// SPDX-License-Identifier: MIT OR Apache-2.0
//! The kernel's lock: `spin`'s mutex, waiting with the `yield` hint.
//!
//! Every kernel lock is a spin lock (no thread can sleep inside the kernel). What a CPU
//! does while it waits matters more than it seems:
//!
//! - On hardware, the `yield` hint tells a core with several hardware threads (SMT, as
//!   on ThunderX2) to give the others the pipeline, among them perhaps the lock's
//!   holder; on other cores it costs nothing.
//! - Under QEMU's TCG with `-icount` (every benchmark here), the CPUs run in turn on one
//!   host thread, each for a slice of up to 100 ms of virtual time. A CPU that waits for
//!   a lock held by a CPU that is not running can only burn its slice: `spin`'s default
//!   (`isb` on AArch64) did, and every cross-CPU operation measured tens of thousands
//!   of extra instructions, most of them loads of the lock word from another node
//!   (the memory-locality plugin of `scripts/bench` showed them). QEMU ends a CPU's
//!   turn at a `yield`, so the holder runs at once and the numbers measure the kernel.
//!
//! The same type, with `core::hint::spin_loop`, serves the host tests.
//!
//! What must hold: this module depends on no other kernel module (everything, the
//! hardware leaf `arch` included, takes locks). Its one instruction, the hint, is its
//! own child module, kept with the other instructions in `arch/aarch64/relax.rs`.

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
#[path = "arch/aarch64/relax.rs"]
mod hint;

/// How a CPU waits for a kernel lock: see the module docs.
pub struct Relax;

impl spin::RelaxStrategy for Relax {
    #[inline(always)]
    fn relax() {
        relax();
    }
}

/// A spin-wait's pause (the `yield` hint on the target): for every loop that waits
/// for another CPU.
#[inline(always)]
pub fn relax() {
    #[cfg(all(target_arch = "aarch64", target_os = "none"))]
    hint::relax();
    #[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
    core::hint::spin_loop();
}

/// A spin lock that waits with [`Relax`]. (`spin`'s plain spin mutex, not its
/// feature-selected wrapper: the per-CPU locks are held across a whole kernel operation
/// without a guard, which needs `as_mut_ptr` and `force_unlock`; see `l4`'s "Locking".)
pub type Mutex<T> = spin::mutex::SpinMutex<T, Relax>;
/// The guard of a [`Mutex`].
pub type MutexGuard<'a, T> = spin::mutex::SpinMutexGuard<'a, T, Relax>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_excludes_and_releases() {
        static COUNT: Mutex<u64> = Mutex::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        *COUNT.lock() += 1;
                    }
                });
            }
        });
        assert_eq!(*COUNT.lock(), 4000);
        let guard = COUNT.lock();
        assert!(COUNT.try_lock().is_none(), "held");
        drop(guard);
        assert!(COUNT.try_lock().is_some(), "released");
    }
}
