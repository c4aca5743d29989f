// SPDX-License-Identifier: MIT OR Apache-2.0
//! The boot flow after the MMU is on: read the board, find the console, report.
//!
//! `arch::boot` ends by calling [`kernel_main`] at the kernel's link address with the
//! load address, the device tree's physical address and the exception level the
//! loader entered at. From here on the kernel is ordinary Rust. Each step below is
//! numbered as in the map in `lib.rs`.
//!
//! # Device tree or ACPI
//!
//! The loader always hands over a device tree (x0). Under QEMU `-kernel`, U-Boot or
//! UEFI with `acpi=off` it describes the machine; under UEFI with ACPI the loader
//! (`kernel/uefi-loader`) writes a stub instead: `/chosen` (command line, initrd and
//! `numa-l4,acpi-rsdp`), `/memreserve/` for the firmware's ranges and `/memory` for the
//! UEFI map's RAM, but no `/cpus` ([`platform::acpi_rsdp_of`] decides). The board is
//! then read from ACPI first ([`Board::parse_acpi`]: CPUs, GIC, nodes, SRAT memory,
//! distances, timer, PSCI, SPCR console), then completed from the stub
//! ([`Board::parse_acpi_handover`]: chosen, reservations, and memory when there is no
//! SRAT). The order is the simplest one that works: the ACPI tables are read before
//! the direct map exists (it needs the memory ranges the SRAT gives), through
//! [`AcpiTables`], which maps the pages the parser asks for into `ACPI_WINDOW`
//! (`mm::window`) with the kernel tables the boot code built; everything after step 3
//! is the same on both paths.
//!
//! This module is where the kernel is assembled: it owns the frame allocator
//! ([`FRAMES`]) and the board, and hands them to what needs them (`memory`, `smp`,
//! `ktext`, and the L4 core through `entry::init`); nothing else names them. How the
//! kernel ends (`stop::exit`, `stop::fatal`) is `stop`'s, told here how to end as
//! soon as that is known.

use crate::arch::{boot as arch_boot, cpu, tables};
use crate::cmdline::{self, SelfTest};
use crate::mm::early::ImageLayout;
use crate::mm::frames::Frames;
use crate::mm::layout::{ACPI_WINDOW, ACPI_WINDOW_SIZE, FDT_WINDOW, KERNEL_BASE, NEVER_MAPPED};
use crate::mm::table::Attrs;
use crate::mm::window::Window;
use crate::percpu::PerCpu;
use crate::slab::SlabCache;
use crate::stop::{exit, fatal};
use crate::{console, entry, irq, kprintln, memory, smp, stop};
use report::{Hex, Maybe, Prefixed, Ratio};
use core::sync::atomic::Ordering;
use platform::mmio::MmioPage;
use platform::ns16550::Ns16550;
use platform::pl011::{self, Pl011};
use crate::halt::Halt;
use platform::{AcpiMemory, Board, EarlyFacts, NodeId, PhysRange};
use crate::sync::{Mutex, MutexGuard};
use spin::Once;

/// Storage for the board, parsed in place (a `Board` is tens of KiB: too big to move
/// through the boot stack). Locked once and leaked into [`BOARD`].
static BOARD_STORE: Mutex<Board<'static>> = Mutex::new(Board::empty());
/// The board, once read; `'static` because the blob stays mapped at `FDT_WINDOW`.
static BOARD: Once<&'static Board<'static>> = Once::new();
/// The command line, once read.
static OPTIONS: Once<cmdline::Options<'static>> = Once::new();
/// The physical memory of every node: the frame allocator, handed to what needs it.
static FRAMES: Frames = Frames::new();
/// The mapping database's entries: a slab cache on [`FRAMES`], one set of slabs per
/// node (an entry lives on its space's home node), handed to the L4 core.
static MDB_ENTRIES: SlabCache = SlabCache::for_type::<crate::mdb::Entry>(&FRAMES);

unsafe extern "C" {
    static __image_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __image_end: u8;
    static __boot_stack_guard: u8;
    static __boot_stack_bottom: u8;
    static __boot_stack_top: u8;
}

/// The Rust entry point, called once by the boot CPU from `arch::boot`.
#[unsafe(no_mangle)]
extern "C" fn kernel_main(load_pa: u64, dtb_pa: u64, entry_el: u64) -> ! {
    // 1. Leave the boot identity map behind; take over the kernel tables.
    cpu::drop_identity_map();
    let image = image_layout(load_pa);
    tables::init(image);

    // 2. The device tree (and ACPI, if the tree hands over to it): nothing is known
    //    about the board without it, not even where the console is, so a missing
    //    blob can only stop the CPU: the one silent stop (see `halt.rs`). First what
    //    every stop needs (exit method, PSCI, console), then the board.
    let Some(blob) = fdt_blob() else { cpu::park() };
    let early = platform::early_facts(blob);
    stop::set_exit(cmdline::parse(early.bootargs).exit, early.psci);
    let store = MutexGuard::leak(BOARD_STORE.lock());
    read_board(store, blob, dtb_pa, &early);

    // 3. The command line and the console.
    let opts = cmdline::parse(store.chosen.bootargs);
    OPTIONS.call_once(|| opts);
    start_board_console(store);
    kprintln!("numa-l4 {}: an L4-family microkernel for NUMA AArch64 machines", env!("CARGO_PKG_VERSION"));
    kprintln!(
        "{}",
        report::line!("boot",
            "cpu" => store.cpu_index_by_mpidr(cpu::mpidr()).map_or(-1, |i| i as i64),
            "mpidr" => Hex(cpu::mpidr()),
            "entry_el" => entry_el,
            "load_pa" => Hex(load_pa),
            "dtb_pa" => Hex(dtb_pa),
            "image_kib" => (image.end - image.start) / 1024,
        )
    );
    if let Some(word) = opts.unknown {
        kprintln!("warning: {} unknown boot argument(s) ignored, the first: {word}", opts.unknown_count);
    }
    if opts.numa_clusters
        && let Err(err) = store.numa_from_clusters()
    {
        fatal(Halt::BadBoard, format_args!("numa=clusters: {err}"));
    }
    let board: &'static Board = BOARD.call_once(|| store);
    stop::set_board(board);
    for warning in board.warnings.iter() {
        kprintln!("warning: {warning}");
    }
    report_board(board);
    let Some(boot_index) = board.cpu_index_by_mpidr(cpu::mpidr()) else {
        fatal(Halt::BadBoard, format_args!("the boot CPU (mpidr {:#x}) is not among the board's CPUs", cpu::mpidr()));
    };
    // What the kernel needs of the board (interrupt controller, timer, a way to start
    // the other CPUs, a console it drives), before it touches any of it: a missing
    // piece is named here instead of faulting later.
    let tree = (board.firmware() == platform::Firmware::DeviceTree).then_some(blob);
    if let Some(missing) = platform::support::check(board, tree, boot_index).fatal() {
        fatal(Halt::UnsupportedBoard, format_args!("unsupported {missing}"));
    }

    // 4. Memory: the direct map of RAM, one frame allocator per node.
    let dtb = arch_boot::early_fdt().map(|(pa, size)| PhysRange { base: pa, size });
    if let Err(err) = memory::init(board, &FRAMES, &image, dtb, board.cpus[boot_index].node) {
        fatal(Halt::NoMemory, format_args!("memory: {err:?}"));
    }

    // 5. The boot CPU moves to a stack on its own node and continues there.
    match smp::prepare(board, &FRAMES, boot_index) {
        Ok(block) => {
            let arg = block as *const PerCpu as u64;
            // SAFETY: `prepare` just mapped this CPU's stack, unused so far; nothing on
            // the boot stack is needed after the switch (everything lives in statics).
            unsafe { cpu::switch_stack(block.stack.1, boot_cpu_main, arg) }
        }
        Err(err) => {
            fatal(Halt::NoMemory, format_args!("no per-CPU data for the boot CPU: {err:?}"));
        }
    }
}

/// The boot CPU after the stack switch: interrupts, the other CPUs, the self-test.
extern "C" fn boot_cpu_main(block_va: u64) -> ! {
    let board = BOARD.get().copied().expect("invariant: read before the stack switch");
    let block = crate::percpu::all().find(|&b| b as *const PerCpu as u64 == block_va);
    let block = block.expect("invariant: smp::prepare installed the boot CPU's block");
    cpu::set_percpu(block);
    block.online.store(true, Ordering::Release);
    let opts = OPTIONS.get().copied().expect("invariant: set before the stack switch");

    // 6. Interrupts and the timer, then every other CPU.
    match irq::init(board) {
        Ok(()) => irq::init_this_cpu(block),
        Err(err) => kprintln!("warning: no interrupts: {err:?}"),
    }
    // The kernel interface page and the empty lower half, before any CPU can run a
    // user thread.
    // Every node's copy of the kernel text, before any other CPU starts (they start on
    // their node's copy), and this CPU moves to its own.
    if opts.ktext_replicas {
        crate::ktext::replicate(board, &FRAMES, block);
    }
    block.ktext_local.store(crate::ktext::check_local(board, block), Ordering::Release);
    let initrd = board.chosen.initrd;
    if let Err(err) = entry::init(&FRAMES, &MDB_ENTRIES, board, arch_boot::early_fdt()) {
        fatal(Halt::NoMemory, format_args!("kernel objects: {err}"));
    }
    let online = smp::start_secondaries(board, &FRAMES);
    kprintln!("{}", report::line!("smp", "online" => online, "expected" => board.cpus.len()));
    crate::ktext::report(opts.ktext_replicas);

    // 7. Every CPU checked its own placement; the boot CPU adds its own and the pings.
    if opts.numa_selftest {
        smp::selftest(board, &FRAMES, block);
        if opts.selftest == Some(SelfTest::Placement) {
            block.check(false); // on purpose: the failure path below must stop the boot
        }
        let (answered, asked) = smp::ping_all(block);
        let (ticking, cpus) = smp::check_ticks(block);
        let (checks, failed, unprobed) = crate::percpu::all().fold((0, 0, 0), |(c, f, u), b| {
            let load = |counter: &core::sync::atomic::AtomicU32| counter.load(Ordering::Relaxed);
            (c + load(&b.checks), f + load(&b.failed), u + load(&b.unprobed))
        });
        kprintln!(
            "{}",
            report::line!("numa-selftest",
                "checks" => checks,
                "failed" => failed,
                "pings" => Ratio(answered, asked),
                "ticks" => Ratio(ticking, cpus),
                "unprobed" => unprobed,
            )
        );
        if failed > 0 || answered < asked || ticking < cpus {
            fatal(
                Halt::SelfTestFailed,
                format_args!(
                    "NUMA self-test: {failed} of {checks} placement checks failed, {answered} of {asked} CPUs answered a ping, {ticking} of {cpus} ticked"
                ),
            );
        }
    }

    // 8. The topology as `numactl --hardware` prints it, free memory included, and
    //    where each node's memory went.
    let free = |node: NodeId| FRAMES.free_bytes(node);
    kprintln!("{}", board.numactl().with_free(&free));
    memory::report(board, &FRAMES);

    // 9. Deliberate failures, for the tests of the failure paths.
    match opts.selftest {
        Some(SelfTest::Panic) => panic!("selftest=panic: a deliberate panic"),
        Some(SelfTest::Fault) => {
            // SAFETY: none needed for soundness: the address is never mapped (a layout
            // rule), so this read faults and the exception path reports it and stops.
            let _ = unsafe { core::ptr::read_volatile(NEVER_MAPPED as *const u64) };
            kprintln!("error: selftest=fault: reading {NEVER_MAPPED:#x} did not fault");
        }
        Some(SelfTest::Placement) | None => {}
    }
    kprintln!("{}", report::line!("boot", "result" => "pass", "stack_used_kib" => boot_stack_used() / 1024));

    // 10. User level: the root task from the initrd, if there is one; it ends the run
    //     (SystemControl). Without an initrd the boot itself was the whole job.
    let Some(initrd) = initrd else { exit(Halt::Pass) };
    if let Err(err) = entry::start_root(initrd, arch_boot::early_fdt(), block.index as u32, block.node) {
        fatal(err.halt(), format_args!("root task: {err}"));
    }
    entry::idle_loop(block)
}

/// A secondary CPU's first Rust code, on its own stack, MMU on, at the link address
/// (`arch::boot`'s `secondary_entry` jumps here with its block's virtual address).
#[unsafe(no_mangle)]
extern "C" fn secondary_main(block_va: u64) -> ! {
    cpu::drop_identity_map();
    let block = crate::percpu::all().find(|&b| b as *const PerCpu as u64 == block_va);
    let block = block.expect("invariant: the boot CPU installed this block before starting the CPU");
    cpu::set_percpu(block);
    irq::init_this_cpu(block);
    let board = BOARD.get().expect("invariant: the board is read before any other CPU starts");
    block.ktext_local.store(crate::ktext::check_local(board, block), Ordering::Release);
    smp::selftest(board, &FRAMES, block);
    entry::cpu_init();
    smp::came_online(block);
    entry::idle_loop(block)
}

/// Reads the board into `store` from the device tree `blob`, or from ACPI when the tree
/// is a loader's stub that hands over to it (see the module docs). On failure, prints
/// why on the console `early` names (or the ACPI SPCR's) and stops.
fn read_board(store: &mut Board<'static>, blob: &'static [u8], dtb_pa: u64, early: &EarlyFacts<'static>) {
    // Without a board there is no console to be sure of; the error paths try the one
    // the firmware names anyway, so the error is seen.
    let early_console = || {
        if let Some(uart) = early.console.as_ref() {
            start_console(uart);
        }
    };
    let Some(rsdp) = platform::acpi_rsdp_of(blob) else {
        if let Err(err) = store.parse(blob) {
            early_console();
            fatal(Halt::BadBoard, format_args!("device tree at {dtb_pa:#x}: {err}"));
        }
        return;
    };
    let tables = AcpiTables(Window::new(ACPI_WINDOW, ACPI_WINDOW_SIZE));
    if let Err(err) = store.parse_acpi(rsdp, &tables) {
        match platform::acpi::console(rsdp, &tables) {
            Some(uart) if uart.kind.is_driven() => start_console(&uart),
            _ => early_console(),
        }
        fatal(Halt::BadBoard, format_args!("ACPI tables (RSDP at {rsdp:#x}): {err}"));
    }
    if let Err(err) = store.parse_acpi_handover(blob) {
        match store.console() {
            Some(uart) if uart.kind.is_driven() => start_console(&uart),
            _ => early_console(),
        }
        fatal(Halt::BadBoard, format_args!("the loader's device tree at {dtb_pa:#x}: {err}"));
    }
}

/// The ACPI tables as the parser reads them: each range it asks for is mapped
/// read-only into `ACPI_WINDOW` on first use ([`Window`]) and stays mapped.
struct AcpiTables(Window);

impl AcpiMemory for AcpiTables {
    fn bytes(&self, address: u64, len: usize) -> Option<&[u8]> {
        let map = |va, pa, size| tables::map_kernel(va, pa, size, Attrs::KERNEL_RO, false).is_ok();
        let va = self.0.place(address, len as u64, map)?;
        // SAFETY: `place` returned where `[address, address + len)` is mapped, read-only
        // Normal memory, in the ACPI window, whose mappings are never removed or
        // changed (it only grows), so the slice stays valid for `self`'s borrow and
        // longer. The RSDP and the tables the parser follows lie in memory the firmware
        // keeps (ACPI reclaim/NVS, reserved by the loader), which nothing writes. An
        // address that is no memory at all (a corrupt table pointer) faults here, and
        // the exception is reported like any kernel fault: the firmware broke the
        // machine's description, and there is no RAM map yet to check it against.
        Some(unsafe { core::slice::from_raw_parts(va as *const u8, len) })
    }
}

/// Starts the console by the board's rule ([`Board::console`]): `stdout-path`'s UART,
/// else the first UART the tree names. When `stdout-path` names a UART the kernel
/// does not drive, the first one it does drive instead, so the `fatal:` line that
/// follows (`platform::support`) is seen somewhere.
fn start_board_console(board: &Board) {
    match board.console() {
        Some(uart) if uart.kind.is_driven() => start_console(&uart),
        Some(_) => {
            if let Some(uart) = board.chosen.first_uart {
                start_console(&uart);
            }
        }
        None => {}
    }
}

/// Maps `uart` and makes it the console, if it is of a kind the kernel drives.
fn start_console(uart: &platform::Uart) {
    match platform::ns16550::Variant::of(uart.kind) {
        Some(variant) => {
            // The registers from the base to the end of its page (a mini-UART starts
            // inside one: 0xfe215040).
            let page = crate::mm::table::PAGE_SIZE;
            if let Ok(va) = tables::map_device(uart.base, page - uart.base % page) {
                // SAFETY: `va` maps device memory from the UART's physical base to the
                // end of its page, just created and handed to nothing else.
                let regs = unsafe { MmioPage::new(va as usize) };
                let mut ns16550 = Ns16550::new(regs, variant);
                ns16550.init();
                console::install(console::Uart::Ns16550(ns16550));
            }
        }
        None if uart.kind == platform::UartKind::Pl011 => {
            if let Ok(va) = tables::map_device(uart.base, pl011::REGISTER_BLOCK_SIZE as u64) {
                // SAFETY: `va` maps one page of device memory at the PL011's physical
                // address, just created and never handed to anyone else.
                let mut pl011 = unsafe { Pl011::new(va as usize) };
                pl011.init();
                console::install(console::Uart::Pl011(pl011));
            }
        }
        None => {}
    }
}

fn report_board(board: &Board) {
    kprintln!("{}", report::line!("firmware", "table" => board.firmware()));
    let memory: u64 = board.memory.iter().map(|m| m.range.size).sum();
    kprintln!(
        "{}",
        report::line!("board",
            "cpus" => board.cpus.len(),
            "nodes" => board.node_count(),
            "memory_mb" => memory >> 20,
            "gic" => Maybe(board.gic.as_ref().map(|gic| Prefixed("v", gic.version()))),
            "psci" => Maybe(board.psci.as_ref().map(|psci| psci.conduit)),
            "console" => Maybe(board.console()),
        )
    );
    if board.chosen.stdout.is_none()
        && let Some(uart) = board.console()
    {
        // The board's rule (`Board::console`): no stdout-path, so the first UART.
        kprintln!("warning: no usable /chosen/stdout-path: the console is the first UART the tree names, {}", uart.path);
    }
}

/// The image's physical layout, from the linker's symbols and the load address.
fn image_layout(load_pa: u64) -> ImageLayout {
    let va = |sym: *const u8| sym as u64;
    let start = va(&raw const __image_start);
    assert!(start == KERNEL_BASE, "invariant: linked at mm::layout::KERNEL_BASE");
    let pa = |sym: *const u8| va(sym) - KERNEL_BASE + load_pa;
    ImageLayout {
        start: load_pa,
        text_end: pa(&raw const __text_end),
        rodata_end: pa(&raw const __rodata_end),
        stack_guard: pa(&raw const __boot_stack_guard),
        end: pa(&raw const __image_end),
    }
}

/// The device tree blob, as mapped by the early boot code.
fn fdt_blob() -> Option<&'static [u8]> {
    let (pa, size) = arch_boot::early_fdt()?;
    let va = FDT_WINDOW + pa % crate::mm::table::PAGE_SIZE;
    // SAFETY: `early_fdt` reports the blob the early map placed, read-only, at
    // `FDT_WINDOW` plus its page offset, `size` bytes long. Nothing writes it, and the
    // mapping is never removed, so a shared `'static` slice is sound.
    Some(unsafe { core::slice::from_raw_parts(va as *const u8, size as usize) })
}

/// How deep the boot stack has ever been: the boot code zeroed it, so the lowest
/// non-zero word marks the high-water line (a lower bound if a frame left zeros).
fn boot_stack_used() -> u64 {
    let (bottom, top) = (&raw const __boot_stack_bottom as u64, &raw const __boot_stack_top as u64);
    let mut addr = bottom;
    // SAFETY: every address read lies in the boot stack, mapped read-write for the
    // kernel's life; reading words the CPU may also be using is a plain racy-free read
    // (only this CPU runs, and it is here).
    while addr < top && unsafe { core::ptr::read_volatile(addr as *const u64) } == 0 {
        addr += 8;
    }
    top - addr
}

