// SPDX-License-Identifier: MIT OR Apache-2.0
//! The kernel's own translation tables once the MMU is on.
//!
//! After the jump to the upper half, the kernel keeps adding to the tables the boot
//! code built: device registers ([`map_device`]), the direct map of RAM and the
//! per-CPU stacks ([`map_kernel`]). New tables come from the rest of the early pool in
//! the kernel's .bss and, once the frame allocators exist, from frames of the boot
//! CPU's node ([`set_table_source`]). A table in the image is reached through the
//! image's mapping; any other through the direct map.
//!
//! The tables are shared by every CPU (TTBR1). Only entries that were invalid are ever
//! written, which needs no TLB maintenance, only a barrier so other CPUs' table walkers
//! see the stores ([`super::cpu::tables_changed`]).

use super::boot::{EARLY_TABLES, EARLY_TABLES_USED};
use crate::mm::early::ImageLayout;
use crate::mm::layout::{MMIO_BASE, MMIO_SIZE, direct_map};
use crate::mm::table::{self, Attrs, ENTRIES, MapError, PAGE_SIZE, TableMemory};
use crate::percpu::PerCpu;
use crate::pernode::PerNode;
use platform::NodeId;
use crate::thread::Tcb;
use core::ptr::NonNull;
use core::sync::atomic::Ordering;
use crate::sync::Mutex;

unsafe extern "C" {
    static early_table_pool: u8;
}

/// Where table frames come from after the pool: a function returning a zeroed frame's
/// physical address.
pub type TableSource = fn() -> Option<u64>;

struct KernelTables {
    image: ImageLayout,
    pool_pa: u64,
    mmio_next: u64,
    source: Option<TableSource>,
    from_source: usize,
    /// The root every change is made in (the boot code's).
    master: u64,
    /// Per node: the root of its replica (its own copy of the kernel's text and
    /// read-only data; every other table shared with `master`), or 0.
    replicas: PerNode<u64>,
}


impl KernelTables {
    /// After a change in `master`: the replicas see it too.
    fn sync_replicas(&mut self) {
        let (master, replicas) = (self.master, self.replicas);
        for (_, &replica) in replicas.iter().filter(|(_, r)| **r != 0) {
            table::sync_replica(self, master, replica);
        }
    }
}

static TABLES: Mutex<Option<KernelTables>> = Mutex::new(None);

impl TableMemory for KernelTables {
    fn entries(&mut self, pa: u64) -> &mut [u64; ENTRIES] {
        assert!(pa.is_multiple_of(PAGE_SIZE), "invariant: tables are page aligned");
        let va = if self.image.contains(pa) { self.image.va_of(pa) } else { direct_map(pa) };
        // SAFETY: every kernel table is either one of the early pool's (inside the
        // image, mapped read-write at `va_of`) or a frame from `source`, reached
        // through the direct map, which covers all RAM outside the image before any
        // frame is handed out. Tables are only reached through `TABLES`' lock, so this
        // is the only reference.
        unsafe { &mut *(va as *mut [u64; ENTRIES]) }
    }

    fn alloc_table(&mut self) -> Option<u64> {
        let used = EARLY_TABLES_USED.load(Ordering::Relaxed);
        if used < EARLY_TABLES {
            EARLY_TABLES_USED.store(used + 1, Ordering::Relaxed);
            return Some(self.pool_pa + used as u64 * PAGE_SIZE);
        }
        let pa = (self.source?)()?;
        self.from_source += 1;
        Some(pa)
    }
}

/// Takes over the kernel tables from the boot code.
pub fn init(image: ImageLayout) {
    let pool_va = &raw const early_table_pool as u64;
    let pool_pa = pool_va - crate::mm::layout::KERNEL_BASE + image.start;
    *TABLES.lock() = Some(KernelTables {
        image,
        pool_pa,
        mmio_next: MMIO_BASE,
        source: None,
        from_source: 0,
        master: ttbr1(),
        replicas: PerNode::filled(0),
    });
}

/// Lets new kernel tables come from `source` once the early pool is used up.
pub fn set_table_source(source: TableSource) {
    with_tables(|t| t.source = Some(source));
}

/// Tables taken from the early pool and from the frame source, for reports.
pub fn tables_used() -> (usize, usize) {
    let from_source = with_tables(|t| t.from_source);
    (EARLY_TABLES_USED.load(Ordering::Relaxed), from_source)
}

fn with_tables<R>(f: impl FnOnce(&mut KernelTables) -> R) -> R {
    let mut guard = TABLES.lock();
    f(guard.as_mut().expect("invariant: tables::init ran first"))
}

/// Maps `[va, va + size)` to `[pa, pa + size)` in the kernel half.
pub fn map_kernel(va: u64, pa: u64, size: u64, attrs: Attrs, blocks: bool) -> Result<(), MapError> {
    let result = with_tables(|t| {
        let result = table::map(t, t.master, va, pa, size, attrs, blocks);
        t.sync_replicas();
        result
    });
    super::cpu::tables_changed();
    result
}

/// Maps `size` bytes of device registers at physical `pa` into the MMIO window and
/// returns the virtual address of `pa` there. Large, aligned register ranges (a GIC's
/// redistributors) get 2 MiB blocks: the window position keeps `pa`'s alignment.
pub fn map_device(pa: u64, size: u64) -> Result<u64, MapError> {
    const BLOCK: u64 = 2 << 20;
    let first = pa & !(PAGE_SIZE - 1);
    let last = pa.checked_add(size.max(1)).ok_or(MapError::BadRange)?.div_ceil(PAGE_SIZE) * PAGE_SIZE;
    let len = last - first;
    with_tables(|t| {
        let align = if len >= BLOCK && first.is_multiple_of(BLOCK) { BLOCK } else { PAGE_SIZE };
        let va = t.mmio_next.div_ceil(align) * align;
        if va + len > MMIO_BASE + MMIO_SIZE {
            return Err(MapError::OutOfTables);
        }
        let mapped = table::map(t, t.master, va, first, len, Attrs::KERNEL_DEVICE, align == BLOCK);
        t.sync_replicas();
        mapped?;
        super::cpu::tables_changed();
        t.mmio_next = va + len;
        Ok(va + (pa - first))
    })
}

/// Translation tables outside the image (user spaces' tables), reached through the
/// direct map; new tables come from `alloc`, which the caller makes charge the right
/// space and node.
pub struct DirectTables<F: FnMut() -> Option<u64>> {
    /// Gives a zeroed frame for a new table.
    pub alloc: F,
}

impl<F: FnMut() -> Option<u64>> TableMemory for DirectTables<F> {
    fn entries(&mut self, pa: u64) -> &mut [u64; ENTRIES] {
        assert!(pa.is_multiple_of(PAGE_SIZE), "invariant: tables are page aligned");
        // SAFETY: user-space tables are frames from the node pools (RAM outside the
        // image, all mapped read-write at `direct_map(pa)`), owned by their space and
        // only ever reached under the kernel lock, through the one `DirectTables` in use
        // (the `&mut self` borrow), so no other reference to the table exists.
        unsafe { &mut *(direct_map(pa) as *mut [u64; ENTRIES]) }
    }

    fn alloc_table(&mut self) -> Option<u64> {
        (self.alloc)()
    }
}

/// The kernel image's physical layout (as `init` was told).
pub fn image() -> ImageLayout {
    with_tables(|t| t.image)
}

/// The root of the kernel's tables (TTBR1_EL1) for a CPU whose memory node is
/// `node`: that node's replica if it has one, else the master.
pub fn kernel_root(node: NodeId) -> u64 {
    with_tables(|t| match t.replicas[node] {
        0 => t.master,
        r => r,
    })
}

/// Makes node `node`'s replica of the kernel tables: the same mappings, but the
/// kernel's text and read-only data from the copy at `copy_pa` (already written, one
/// page per image page, `image().rodata_end - image().start` bytes). Returns its root.
pub fn replicate_image(node: NodeId, copy_pa: u64) -> Result<u64, MapError> {
    with_tables(|t| {
        let image = t.image;
        let slot = t.replicas[node];
        if slot != 0 {
            return Ok(slot);
        }
        let (start, end) = (image.va_of(image.start), image.va_of(image.rodata_end));
        let master = t.master;
        let root = table::replicate(t, master, start, end, &mut |pa| pa - image.start + copy_pa)?;
        t.replicas[node] = root;
        Ok(root)
    })
}

/// Zeroes the frame at `pa`.
///
/// # Safety
/// `pa` must be a whole RAM frame outside the kernel image that the caller owns (just
/// allocated, referenced by nothing).
///
/// With `DC ZVA`, a block (64 bytes on the Cortex-A53/A72) an instruction: 64
/// instructions for a frame where `write_bytes` takes about 1,900 (a long call zeroes
/// one frame between two preemption points: `l4::restart`). Where the CPU prohibits
/// `DC ZVA` (`DCZID_EL0.DZP`), byte stores as before.
pub unsafe fn zero_frame(pa: u64) {
    let dczid: u64;
    // SAFETY: reads DCZID_EL0, a read-only identification register: no memory, no flags.
    unsafe { core::arch::asm!("mrs {}, dczid_el0", out(reg) dczid, options(nomem, nostack, preserves_flags)) };
    let id = tock_registers::LocalRegisterCopy::<u64, DCZID_EL0::Register>::new(dczid);
    let start = direct_map(pa);
    if id.is_set(DCZID_EL0::DZP) {
        // SAFETY: the frame is the caller's alone (contract above), and all RAM outside
        // the image is mapped read-write at `direct_map(pa)`.
        unsafe { core::ptr::write_bytes(start as *mut u8, 0, PAGE_SIZE as usize) };
        return;
    }
    // BS: log2 of the block in 4-byte words (at most 2 KiB, so a frame is whole blocks).
    let block = 4u64 << id.read(DCZID_EL0::BS);
    let mut at = start;
    // Eight blocks a turn where a frame holds whole turns (blocks of up to 512
    // bytes): a DC ZVA and an add a block, the loop's compare and branch once a turn.
    while block <= PAGE_SIZE / 8 && at < start + PAGE_SIZE {
        // SAFETY: zeroes the eight blocks from `at`, inside the caller's frame (the
        // loop stops at its end, and a frame is whole turns), mapped as below. It
        // writes memory, so no `nomem`; no stack, no flags.
        unsafe {
            core::arch::asm!(
                "dc zva, {a}", "add {a}, {a}, {b}",
                "dc zva, {a}", "add {a}, {a}, {b}",
                "dc zva, {a}", "add {a}, {a}, {b}",
                "dc zva, {a}", "add {a}, {a}, {b}",
                "dc zva, {a}", "add {a}, {a}, {b}",
                "dc zva, {a}", "add {a}, {a}, {b}",
                "dc zva, {a}", "add {a}, {a}, {b}",
                "dc zva, {a}", "add {a}, {a}, {b}",
                a = inout(reg) at,
                b = in(reg) block,
                options(nostack, preserves_flags)
            )
        };
    }
    while at < start + PAGE_SIZE {
        // SAFETY: zeroes the block at `at`, inside the caller's frame (contract above),
        // which the direct map maps as normal, cacheable, writable memory (what DC ZVA
        // needs; at EL1 SCTLR_EL1.DZE does not apply). It writes memory, so no `nomem`;
        // no stack, no flags.
        unsafe { core::arch::asm!("dc zva, {}", in(reg) at, options(nostack, preserves_flags)) };
        at += block;
    }
}

tock_registers::register_bitfields! {u64,
    /// DCZID_EL0, the data cache zero ID register (Arm ARM D19.2.33).
    DCZID_EL0 [
        /// log2 of the block DC ZVA zeroes, in 4-byte words.
        BS OFFSET(0) NUMBITS(4) [],
        /// DC ZVA is prohibited.
        DZP OFFSET(4) NUMBITS(1) []
    ]
}

/// Moves `block` into the frame at `pa` (just allocated for it, on the CPU's node) and
/// returns it as a `'static` reference: per-CPU blocks are never freed.
///
/// # Safety
/// `pa` must be a whole RAM frame outside the kernel image, just allocated for this
/// block, referenced by nothing, and never freed.
pub unsafe fn place_percpu(pa: u64, block: PerCpu) -> &'static PerCpu {
    const _: () = assert!(core::mem::size_of::<PerCpu>() as u64 <= PAGE_SIZE);
    let ptr = direct_map(pa) as *mut PerCpu;
    assert!(pa.is_multiple_of(PAGE_SIZE), "invariant: a whole, aligned frame");
    // SAFETY: the frame at `pa` is this block's alone and never freed (the caller's
    // contract); it is mapped read-write at `direct_map(pa)`, page aligned (more than
    // `PerCpu` needs) and large enough (checked above).
    unsafe { ptr.write(block) };
    // SAFETY: as above; the block was just written, so the reference sees a valid value.
    unsafe { &*ptr }
}

/// Moves `tcb` into the frame at `pa` (just allocated for it on its space's home
/// node) and returns where it now lives.
///
/// # Safety
/// `pa` must be a whole RAM frame outside the kernel image, just allocated for this
/// TCB and referenced by nothing; it stays the TCB's until the thread table forgets it.
pub unsafe fn place_tcb(pa: u64, tcb: Tcb) -> NonNull<Tcb> {
    const _: () = assert!(core::mem::size_of::<Tcb>() as u64 <= PAGE_SIZE);
    assert!(pa.is_multiple_of(PAGE_SIZE), "invariant: a whole, aligned frame");
    let ptr = direct_map(pa) as *mut Tcb;
    // SAFETY: the frame is the TCB's alone (the caller's contract), mapped read-write
    // at `direct_map(pa)`, page aligned (more than `Tcb` needs) and large enough.
    unsafe { ptr.write(tcb) };
    NonNull::new(ptr).expect("invariant: the direct map is never at address 0")
}

/// Zeroes the frames at `pa` for the kernel interface page and returns it to be filled.
///
/// # Safety
/// `[pa, pa + KIP_SIZE)` must be RAM outside the kernel image, just allocated for the
/// KIP and referenced by nothing else; the returned reference is the only writer.
pub unsafe fn place_kip(pa: u64) -> &'static mut abi::kip::Kip {
    let size = abi::kip::KIP_SIZE as u64;
    assert!(pa.is_multiple_of(PAGE_SIZE) && size.is_multiple_of(PAGE_SIZE), "invariant: whole frames");
    let ptr = direct_map(pa) as *mut abi::kip::Kip;
    // SAFETY: the frames are the KIP's alone (the caller's contract) and mapped at
    // `direct_map(pa)`; all-zero bytes are a valid `Kip` (integers and arrays of them,
    // `Kip::zeroed`), page alignment exceeds its alignment, and it fits in KIP_SIZE.
    unsafe {
        core::ptr::write_bytes(ptr as *mut u8, 0, size as usize);
    }
    // SAFETY: as above: initialised (zero) memory of the right size and alignment.
    unsafe { &mut *ptr }
}

/// The physical address of a per-CPU block (it lives in the direct map).
pub fn percpu_pa(block: &PerCpu) -> u64 {
    block as *const PerCpu as u64 - crate::mm::layout::DIRECT_MAP_BASE
}

fn ttbr1() -> u64 {
    use aarch64_cpu::registers::{Readable, TTBR1_EL1};
    TTBR1_EL1.get() & 0x0000_FFFF_FFFF_FFFE
}
