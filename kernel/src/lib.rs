// SPDX-License-Identifier: MIT OR Apache-2.0
//! numa-l4: an L4-family microkernel for NUMA AArch64 machines.
//!
//! The kernel offers local, policy-free primitives; every NUMA policy lives in
//! user-level pagers (Kupferschmied, Stoess, Bellosa: "NUMA-Aware User-Level Memory
//! Management for Microkernel-Based Operating Systems"). This crate is the kernel;
//! `platform` reads the board from the device tree and drives its devices.
//!
//! # The boot flow, and where each step lives
//!
//! ```text
//!  0. loader jumps to the Image header, x0 = DTB    arch/aarch64/boot.rs  (_start)
//!  1. EL2 -> EL1, stack, .bss                        arch/aarch64/boot.rs  (primary_entry)
//!  2. first tables: image at KERNEL_BASE, DTB window mm/early.rs, mm/table.rs
//!  3. MMU on, jump to the link address               arch/aarch64/boot.rs  (high_entry)
//!  4. drop the identity map, read the board          boot.rs (kernel_main) -> platform::Board
//!  5. console from /chosen/stdout-path (else the    boot.rs -> platform::pl011 / ns16550,
//!     first UART); what the board lacks, named      console.rs; platform::support
//!  6. direct map of RAM; one frame pool per node     memory.rs -> mm/physmem.rs, mm/frames.rs
//!  7. boot CPU's block and stack on its node         smp.rs (prepare) -> percpu.rs
//!  8. GIC distributor, this CPU's redistributor      irq.rs -> platform::gicv3 / gicv2,
//!     (v3) or banked registers (v2), CPU interface,    arch/aarch64/gic.rs, arch/aarch64/timer.rs
//!     timer (one-shot: it fires once here)
//!  9. every other CPU: PSCI CPU_ON or spin-table,    smp.rs (start_secondaries) -> psci.rs,
//!     each on its node                               arch/aarch64/boot.rs (secondary_entry,
//!                                                    spin_table_entry)
//! 10. NUMA self-test on every CPU, SGI ping, timers  smp.rs (selftest, ping_all, check_ticks)
//! 11. topology report with free memory per node      platform::numactl, memory.rs (report)
//! 12. the root task, then user level: every trap      entry.rs -> l4 (Kernel::trap), machine.rs
//!     enters the L4 core through `entry`
//! 13. exit with a status the host sees               stop.rs (exit): semihosting or PSCI
//! ```
//!
//! Failures on the way: an unexpected exception lands in `arch/aarch64/trap.rs` and
//! is reported by `stop::fatal_exception` (decoded by `exception.rs`); a panic by
//! `stop`'s panic handler; both print a frame-pointer backtrace (`backtrace.rs`).
//!
//! # Portable logic and hardware leaves
//! Every module but the hardware leaf compiles for the host and is tested there with
//! plain `cargo test`: the L4 core (`l4`) included, over a fake machine
//! (`l4::fake`). `arch` (the instructions) and the modules that assemble the kernel
//! on the hardware (`boot`, `entry`, `irq`, `ktext`, `machine`, `memory`, `smp`,
//! `stop`) exist only on the bare-metal target: one cfg gate, below, chooses them.
//!
//! # Layers
//! Modules depend on the ones below them, never up (`tests::modules_form_no_cycle`
//! checks every `crate::` path): `boot` assembles the machine and hands the frame
//! allocator and the board to what needs them; `entry` and `machine` put the L4 core
//! on the hardware; `l4` is logic over `l4::Machine`; `arch` is the leaf the rest
//! stands on, calling up only by symbol (the vectors' entries are `entry`'s).
#![cfg_attr(not(test), no_std)]

pub mod backtrace;
pub mod cmdline;
pub mod console;
pub mod exception;
pub mod halt;
pub mod ipc_fast;
pub mod l4;
#[cfg(test)]
mod layers;
pub mod mdb;
pub mod mm;
pub mod notify;
pub mod pending;
pub mod percpu;
pub mod pernode;
pub mod psci;
pub mod sched;
pub mod slab;
pub mod space;
pub mod sync;
pub mod thread;
pub mod timeouts;

/// Applies the one target gate to every item given: the modules that exist only on
/// the bare-metal AArch64 target.
macro_rules! on_target {
    ($($item:item)*) => { $( #[cfg(all(target_arch = "aarch64", target_os = "none"))] $item )* };
}

on_target! {
    pub mod arch;
    pub mod boot;
    pub mod entry;
    pub mod irq;
    pub mod ktext;
    pub mod machine;
    pub mod memory;
    pub mod smp;
    pub mod stop;
}
