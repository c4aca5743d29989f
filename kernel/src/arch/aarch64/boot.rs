// SPDX-License-Identifier: MIT OR Apache-2.0
//! Power-on to Rust: the Image header, EL2 -> EL1, the early map, the MMU, the jump up.
//!
//! This is the first code that runs. A boot loader (QEMU `-kernel`, U-Boot `booti`, a
//! UEFI stub) has put the Image at some 2 MiB-aligned physical address, left the MMU
//! off, and passed the device tree's physical address in x0. The assembly below:
//!
//! 1. is the arm64 Image header the loader looks for (branch, `image_size`, flags, the
//!    magic `ARM\x64`);
//! 2. if entered at EL2 (QEMU `virtualization=on`, most servers), configures EL2 so it
//!    stays out of the way (EL1 is AArch64; timer, FP and GIC system registers are not
//!    trapped) and drops to EL1;
//! 3. sets up the boot stack and clears .bss, addressing everything PC-relatively
//!    (`adrp`), because nothing is at its link address yet;
//! 4. calls [`early_map`] (Rust, but written to be safe with the MMU off, see
//!    `mm::early`) to build the first tables, invalidating the cache lines of that
//!    memory before and after so no stale line can overwrite them later;
//! 5. programs MAIR/TCR/TTBRs, turns on the MMU and caches, and jumps to the link
//!    address in the upper half, from where it calls `kernel_main`.
//!
//! # References
//! - Linux `Documentation/arch/arm64/booting.rst`: the Image header and entry state.
//! - Arm ARM (DDI 0487): D1.6 (exception return), D13.2 (HCR_EL2, CPTR_EL2, CNTHCTL_EL2,
//!   SCTLR_EL1), D8 (the VMSA), D7.5.9 "Data cache maintenance" (`DC IVAC`).
//! - GICv3 architecture specification (IHI 0069) 12.1.13: ICC_SRE_EL2.

use crate::mm::early::{self, EarlyRoots, ImageLayout};
use crate::mm::table::{ENTRIES, PAGE_SIZE, TableMemory};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Translation tables reserved in .bss for the early map and the first kernel
/// mappings after it (devices, the direct map of RAM). Later tables come from the
/// frame allocators.
pub const EARLY_TABLES: usize = 64;

/// How many of the early tables [`early_map`] used; the rest are handed to the
/// running kernel by [`super::tables::KernelTables`].
pub static EARLY_TABLES_USED: AtomicUsize = AtomicUsize::new(0);

/// The root of the identity map of the kernel text (TTBR0 during the MMU switch),
/// kept for the secondary CPUs, which switch their MMUs on the same way.
pub static IDENTITY_ROOT: AtomicU64 = AtomicU64::new(0);

/// The device tree blob the early map placed at `FDT_WINDOW`: physical address and
/// size, or zero size when x0 held no usable blob.
static EARLY_FDT: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// The blob [`early_map`] mapped: `(physical address, size)`.
pub fn early_fdt() -> Option<(u64, u64)> {
    let size = EARLY_FDT[1].load(Ordering::Relaxed);
    (size != 0).then(|| (EARLY_FDT[0].load(Ordering::Relaxed), size))
}

// SCTLR_EL1 with the MMU, caches and alignment checks off: the RES1 bits (11, 20,
// 22, 23, 28, 29) and EE/E0E = 0 (little-endian). Written before anything else so no
// state a loader left behind survives.
const SCTLR_EL1_OFF: u64 = 0x30D0_0800;

core::arch::global_asm!(
    r#"
.section .text.head, "ax"
.global _start
_start:
    b       primary_entry           // code0: the Image header starts with a branch
    .long   0                       // code1
    .quad   0                       // text_offset: load at a 2 MiB boundary + 0
    .quad   __image_size            // image_size: the whole footprint incl. .bss, stack
    .quad   0xA                     // flags: little-endian, 4 KiB pages, anywhere in RAM
    .quad   0, 0, 0                 // res2..res4
    .ascii  "ARM\x64"               // magic
    .long   0                       // res5 (no PE/COFF header)

.section .text.boot, "ax"
primary_entry:
    mov     x19, x0                 // x19 = DTB physical address (boot protocol: x0)
    adrp    x20, __image_start      // x20 = where we were loaded (PC-relative)
    mrs     x21, CurrentEL
    ubfx    x21, x21, #2, #2        // x21 = entry exception level, reported later
    cmp     x21, #1
    b.eq    in_el1
    cmp     x21, #2
    b.ne    park                    // EL3 or other: not an entry the protocol allows
    bl      el2_to_el1              // returns at EL1
in_el1:
    msr     daifset, #0xf           // no interrupts until the kernel asks for them
    movz    x0, #{sctlr_lo}
    movk    x0, #{sctlr_hi}, lsl #16
    msr     sctlr_el1, x0           // MMU and caches off, whatever the loader left
    isb
    msr     cpacr_el1, xzr          // FP/SIMD traps at EL1: the kernel never uses them

    adrp    x0, __boot_stack_top
    add     x0, x0, :lo12:__boot_stack_top
    mov     sp, x0

    // Discard any cache lines a loader left for .bss (incl. the table pool) and the
    // stack, clear both with the caches off, build the tables, and discard again: a
    // dirty line evicted later would otherwise overwrite what we wrote to memory. The
    // stack is cleared too, so its high-water mark can be measured; nothing is on it
    // yet (this code calls nothing before the loop ends).
    adrp    x0, __bss_start
    add     x0, x0, :lo12:__bss_start
    adrp    x1, __boot_stack_top
    bl      dcache_invalidate_range
    adrp    x0, __bss_start
    add     x0, x0, :lo12:__bss_start
    adrp    x1, __boot_stack_top
2:  cmp     x0, x1
    b.hs    3f
    stp     xzr, xzr, [x0], #16
    b       2b
3:
    adrp    x0, early_vectors       // a fault before the MMU is on parks visibly
    add     x0, x0, :lo12:early_vectors
    msr     vbar_el1, x0
    isb

    mov     x0, x20                 // image start
    adrp    x1, __text_end
    adrp    x2, __rodata_end
    adrp    x3, __image_end
    mov     x4, x19                 // DTB
    adrp    x5, early_table_pool
    adrp    x6, __boot_stack_guard
    bl      early_map               // returns x0 = TTBR1 root, x1 = TTBR0 root
    cbz     x0, park                // out of early tables: nothing sensible to do
    mov     x22, x0
    mov     x23, x1
    adrp    x0, __bss_start
    add     x0, x0, :lo12:__bss_start
    adrp    x1, __boot_stack_top
    bl      dcache_invalidate_range

    // ---- the MMU ----
    movz    x0, #{mair_lo}
    movk    x0, #{mair_hi}, lsl #16
    msr     mair_el1, x0
    mrs     x0, id_aa64mmfr0_el1
    bl      early_tcr               // TCR_EL1 for this CPU (mm::layout::tcr_el1)
    msr     tcr_el1, x0
    msr     ttbr0_el1, x23
    msr     ttbr1_el1, x22
    isb                             // table registers visible before the TLB flush
    tlbi    vmalle1                 // nothing a loader cached may survive
    dsb     nsh                     // TLBI complete before the MMU goes on
    isb
    mrs     x0, sctlr_el1
    orr     x0, x0, #(1 << 0)       // M: MMU on
    orr     x0, x0, #(1 << 2)       // C: data cache on
    orr     x0, x0, #(1 << 12)      // I: instruction cache on
    msr     sctlr_el1, x0
    isb                             // the next fetch uses the new translation
    ldr     x0, =high_entry         // the link address, from the literal pool
    br      x0

high_entry:
    ldr     x0, =__boot_stack_top
    mov     sp, x0
    ldr     x0, =exception_vectors
    msr     vbar_el1, x0
    isb
    mov     x29, xzr                // end of the frame-pointer chain for backtraces
    mov     x30, xzr
    mov     x0, x20                 // load address
    mov     x1, x19                 // DTB physical address
    mov     x2, x21                 // entry EL
    bl      kernel_main             // never returns
park:
    wfe
    b       park

// el2_to_el1: called with `bl` at EL2; returns to the caller at EL1h with D, A, I, F
// masked. Makes EL1 a plain AArch64 kernel level: EL2 traps nothing, EL1 owns the
// physical timer and the GIC system registers. Clobbers x0.
el2_to_el1:
    mov     x0, #(1 << 31)          // HCR_EL2.RW = 1: EL1 is AArch64; E2H = 0, no traps
    msr     hcr_el2, x0
    mrs     x0, cnthctl_el2
    orr     x0, x0, #3              // EL1PCTEN | EL1PCEN: EL1 owns the physical timer
    msr     cnthctl_el2, x0
    msr     cntvoff_el2, xzr        // virtual count = physical count
    mov     x0, #0x33ff             // CPTR_EL2: RES1 bits only, so TFP = 0 (no FP trap)
    msr     cptr_el2, x0
    mrs     x0, mdcr_el2            // MDCR_EL2: keep HPMN, but trap nothing to EL2:
    bic     x0, x0, #(0x3f << 5)    //   TPMCR, TPM, TDE, TDA, TDOSA, TDRA (bits 5..11,
    bic     x0, x0, #(1 << 11)      //   firmware may leave them set): PMU and debug
    msr     mdcr_el2, x0            //   accesses at EL1 must not trap to an EL2 with no handler
    msr     vttbr_el2, xzr
    mrs     x0, id_aa64pfr0_el1
    ubfx    x0, x0, #24, #4         // GIC field: are there GICv3 system registers?
    cbz     x0, 1f
    mrs     x0, S3_4_C12_C9_5       // ICC_SRE_EL2
    orr     x0, x0, #0x1            // SRE: system register interface at EL2
    orr     x0, x0, #0x8            // Enable: EL1 may use ICC_SRE_EL1 (and so ICC_*)
    msr     S3_4_C12_C9_5, x0
    isb
1:  movz    x0, #{sctlr_lo}
    movk    x0, #{sctlr_hi}, lsl #16
    msr     sctlr_el1, x0
    mov     x0, #0x3c5              // SPSR: return to EL1h with D, A, I, F masked
    msr     spsr_el2, x0
    msr     elr_el2, x30            // "return" to the caller, one level down
    eret

// ---- secondary CPUs ----
// PSCI CPU_ON enters here, at the physical address, MMU off, x0 = the physical address
// of the hand-off block (see `SecondaryBoot`): the boot CPU filled it and cleaned it to
// the point of coherency, so this CPU reads it correctly with its caches off.
.global secondary_entry
secondary_entry:
    mov     x19, x0
    mrs     x21, CurrentEL
    ubfx    x21, x21, #2, #2
    cmp     x21, #1
    b.eq    2f
    cmp     x21, #2
    b.ne    park
    bl      el2_to_el1
2:  msr     daifset, #0xf
    movz    x0, #{sctlr_lo}
    movk    x0, #{sctlr_hi}, lsl #16
    msr     sctlr_el1, x0
    isb
    msr     cpacr_el1, xzr
    ldp     x0, x1, [x19, #0]       // MAIR, TCR
    msr     mair_el1, x0
    msr     tcr_el1, x1
    ldp     x0, x1, [x19, #16]      // TTBR0 (identity of the text), TTBR1 (kernel)
    msr     ttbr0_el1, x0
    msr     ttbr1_el1, x1
    ldp     x22, x23, [x19, #32]    // stack top, argument: kernel virtual addresses
    isb
    tlbi    vmalle1                 // nothing cached from before may survive
    dsb     nsh
    isb
    mrs     x0, sctlr_el1
    orr     x0, x0, #(1 << 0)       // M
    orr     x0, x0, #(1 << 2)       // C
    orr     x0, x0, #(1 << 12)      // I
    msr     sctlr_el1, x0
    isb
    ldr     x0, =secondary_high
    br      x0
secondary_high:
    mov     sp, x22
    ldr     x0, =exception_vectors
    msr     vbar_el1, x0
    isb
    mov     x29, xzr
    mov     x30, xzr
    mov     x0, x23
    bl      secondary_main          // never returns
    b       park

// ---- secondary CPUs started by spin-table ----
// The firmware's spin loop jumps here, at the physical address, MMU off, with nothing
// in x0 (Linux `booting.rst`: only the release address's value matters). The CPU finds
// its hand-off block in SPIN_HANDOFF by its MPIDR (the boot CPU wrote the entry and
// cleaned it to the point of coherency before the release) and goes on as a PSCI-started
// CPU does. A CPU with no entry parks.
.global spin_table_entry
spin_table_entry:
    mrs     x1, mpidr_el1
    movz    x3, #0xffff             // the affinity fields: 0xff_00ff_ffff
    movk    x3, #0xff, lsl #16
    movk    x3, #0xff, lsl #32
    and     x1, x1, x3
    adrp    x2, SPIN_HANDOFF        // PC-relative: the image runs at its load address
    add     x2, x2, :lo12:SPIN_HANDOFF
    mov     x4, #{max_cpus}
6:  cbz     x4, park
    ldp     x5, x6, [x2], #16       // (mpidr, hand-off block PA); PA 0: unused slot
    sub     x4, x4, #1
    cbz     x6, 6b
    cmp     x5, x1
    b.ne    6b
    mov     x0, x6
    b       secondary_entry

// dcache_invalidate_range(x0 = start, x1 = end): DC IVAC over [start, end) by line.
// Clobbers x0, x2, x3.
dcache_invalidate_range:
    mrs     x3, ctr_el0
    ubfx    x3, x3, #16, #4         // DminLine: log2(words per smallest D-cache line)
    mov     x2, #4
    lsl     x2, x2, x3              // line size in bytes
    sub     x3, x2, #1
    bic     x0, x0, x3              // round start down to a line
4:  cmp     x0, x1
    b.hs    5f
    dc      ivac, x0
    add     x0, x0, x2
    b       4b
5:  dsb     sy                      // maintenance complete before the memory is used
    ret

// Early vectors: every exception before the MMU is on parks this CPU. ELR/ESR are
// left in their registers for a debugger (scripts/run --gdb).
.balign 2048
early_vectors:
    .rept 16
    b       park
    .balign 128
    .endr

.section .bss.early_tables, "aw", %nobits
.balign 4096
early_table_pool:
    .space  {pool_bytes}
"#,
    sctlr_lo = const SCTLR_EL1_OFF & 0xFFFF,
    sctlr_hi = const SCTLR_EL1_OFF >> 16,
    mair_lo = const crate::mm::layout::MAIR_EL1 & 0xFFFF,
    mair_hi = const crate::mm::layout::MAIR_EL1 >> 16,
    pool_bytes = const EARLY_TABLES * PAGE_SIZE as usize,
    max_cpus = const platform::MAX_CPUS,
);

/// The spin-table hand-offs: per CPU slot `(MPIDR, physical address of its hand-off
/// block)`, read by `spin_table_entry` with the MMU and caches off. Written only by the
/// boot CPU, before it releases the CPU ([`spin_table_handoff`]).
#[unsafe(no_mangle)]
static SPIN_HANDOFF: [[AtomicU64; 2]; platform::MAX_CPUS] =
    [const { [AtomicU64::new(0), AtomicU64::new(0)] }; platform::MAX_CPUS];

/// Records that the CPU `mpidr` (logical number `slot`) starts with the hand-off block
/// at physical `handoff_pa`, and pushes the entry to memory, where that CPU reads it
/// with its caches off.
pub fn spin_table_handoff(slot: usize, mpidr: u64, handoff_pa: u64) {
    let Some(entry) = SPIN_HANDOFF.get(slot) else { return };
    entry[0].store(mpidr & platform::board::MPIDR_AFFINITY_MASK, Ordering::Relaxed);
    entry[1].store(handoff_pa, Ordering::Release);
    super::cpu::clean_to_poc(entry.as_ptr() as u64, core::mem::size_of_val(entry) as u64);
}

/// The early table pool with the MMU off: table `i` is at `base + i * 4 KiB`,
/// addressed physically.
struct PhysPool {
    base: u64,
    used: usize,
}

impl TableMemory for PhysPool {
    fn entries(&mut self, pa: u64) -> &mut [u64; ENTRIES] {
        let end = self.base + (self.used as u64) * PAGE_SIZE;
        assert!(
            pa >= self.base && pa < end && pa.is_multiple_of(PAGE_SIZE),
            "invariant: early table from the pool"
        );
        // SAFETY: `pa` is one of the pool's tables handed out by `alloc_table` (checked
        // above): page-aligned, inside the kernel's own .bss, used by nothing else, and
        // with the MMU off its physical address is the address the CPU uses.
        unsafe { &mut *(pa as *mut [u64; ENTRIES]) }
    }

    fn alloc_table(&mut self) -> Option<u64> {
        if self.used == EARLY_TABLES {
            return None;
        }
        let pa = self.base + (self.used as u64) * PAGE_SIZE;
        self.used += 1;
        // .bss was cleared by the boot code, so the table is already zero.
        Some(pa)
    }
}

/// Builds the early tables (see `mm::early`). Called from the boot assembly with the
/// MMU off; returns zeroes when the pool is too small.
#[unsafe(no_mangle)]
extern "C" fn early_map(
    start: u64,
    text_end: u64,
    rodata_end: u64,
    end: u64,
    dtb_pa: u64,
    pool: u64,
    stack_guard: u64,
) -> EarlyRoots {
    let img = ImageLayout { start, text_end, rodata_end, stack_guard, end };
    let fdt = if dtb_pa != 0 && dtb_pa.is_multiple_of(8) {
        let p = dtb_pa as *const u32;
        let mut header = early::FdtHeader::default();
        for (i, word) in header.0.iter_mut().enumerate() {
            // SAFETY: the boot protocol puts an 8-byte aligned DTB at x0, in RAM; its
            // header's first ten words are aligned 32-bit loads the checks above allow
            // (with the MMU off every access is Device memory: alignment matters). A
            // wrong x0 yields a bad magic and the blob is not mapped.
            *word = u32::from_be(unsafe { p.wrapping_add(i).read_volatile() });
        }
        early::fdt_extent(dtb_pa, &header)
    } else {
        None
    };
    let mut mem = PhysPool { base: pool, used: 0 };
    match early::build(&mut mem, &img, fdt) {
        Ok(roots) => {
            EARLY_TABLES_USED.store(mem.used, Ordering::Relaxed);
            IDENTITY_ROOT.store(roots.ttbr0, Ordering::Relaxed);
            if let Some((pa, size)) = fdt {
                EARLY_FDT[0].store(pa, Ordering::Relaxed);
                EARLY_FDT[1].store(size, Ordering::Relaxed);
            }
            roots
        }
        Err(_) => EarlyRoots { ttbr1: 0, ttbr0: 0 },
    }
}

unsafe extern "C" {
    fn secondary_entry();
    fn spin_table_entry();
}

/// Releases the CPUs spinning on the spin-table word at physical `release_pa`: writes
/// `entry` (the physical address they jump to) there, pushes it to the point of
/// coherency, where they read it with their caches off, and wakes them from `wfe`
/// (`sev`). `in_ram`: the word is RAM the direct map covers (the usual case: the
/// firmware's spin loop sits in low RAM, its page reserved); otherwise it is mapped as
/// device memory, which needs no cache maintenance.
pub fn spin_table_release(release_pa: u64, entry: u64, in_ram: bool) -> Result<(), crate::mm::table::MapError> {
    if in_ram {
        // SAFETY: `release_pa` is an 8-byte aligned word of RAM outside the kernel image
        // (the caller checked), which the direct map covers; it belongs to the firmware's
        // spin loop, which only reads it, and no Rust reference points into it.
        unsafe { super::phys::write_u64(release_pa, entry) };
        super::cpu::clean_to_poc(crate::mm::layout::direct_map(release_pa), 8);
    } else {
        let va = super::tables::map_device(release_pa, 8)?;
        // SAFETY: `va` maps the release word, as device memory, just now; the write is
        // the one the spin-table protocol asks for.
        unsafe { core::ptr::write_volatile(va as *mut u64, entry) };
    }
    // The write is complete (the clean's DSB, or the DSB in `send_event`) before SEV.
    super::cpu::send_event();
    Ok(())
}

/// The physical address a spin-table release sends secondary CPUs to.
pub fn spin_table_entry_pa() -> u64 {
    super::tables::image().pa_of(spin_table_entry as *const () as u64)
}

/// The physical address PSCI `CPU_ON` starts secondary CPUs at.
pub fn secondary_entry_pa() -> u64 {
    super::tables::image().pa_of(secondary_entry as *const () as u64)
}

/// TCR_EL1 as the boot code set it (the same for every CPU: they must agree on the
/// translation regime to share the kernel's tables).
pub fn tcr() -> u64 {
    use aarch64_cpu::registers::{ID_AA64MMFR0_EL1, Readable};
    crate::mm::layout::tcr_el1(ID_AA64MMFR0_EL1.get())
}

/// TCR_EL1 for this CPU; called from the boot assembly.
#[unsafe(no_mangle)]
extern "C" fn early_tcr(id_aa64mmfr0: u64) -> u64 {
    crate::mm::layout::tcr_el1(id_aa64mmfr0)
}
