// SPDX-License-Identifier: MIT OR Apache-2.0
//! The kernel's own translation tables once the MMU is on: device mappings.
//!
//! After the jump to the upper half the early table pool (in the kernel's .bss) is
//! still where new kernel tables come from, until the frame allocators exist. Its
//! tables are reached through the kernel image's mapping: physical address minus
//! load address plus `KERNEL_BASE`. [`map_device`] hands out consecutive pieces of
//! the MMIO window for device registers found in the device tree.

use super::boot::{EARLY_TABLES, EARLY_TABLES_USED};
use crate::mm::early::ImageLayout;
use crate::mm::layout::{MMIO_BASE, MMIO_SIZE};
use crate::mm::table::{self, Attrs, ENTRIES, MapError, PAGE_SIZE, TableMemory};
use core::sync::atomic::Ordering;
use spin::Mutex;

unsafe extern "C" {
    static early_table_pool: u8;
}

struct KernelTables {
    image: ImageLayout,
    pool_pa: u64,
    mmio_next: u64,
}

static TABLES: Mutex<Option<KernelTables>> = Mutex::new(None);

impl TableMemory for KernelTables {
    fn entries(&mut self, pa: u64) -> &mut [u64; ENTRIES] {
        let pool_end = self.pool_pa + EARLY_TABLES as u64 * PAGE_SIZE;
        assert!(
            pa >= self.pool_pa && pa < pool_end && pa.is_multiple_of(PAGE_SIZE),
            "invariant: kernel table in the pool"
        );
        // SAFETY: every kernel table so far comes from the early pool (checked above),
        // which lies in the image's .bss, mapped read-write at `va_of(pa)`. The pool is
        // only ever reached through `TABLES`' lock, so this is the only reference.
        unsafe { &mut *(self.image.va_of(pa) as *mut [u64; ENTRIES]) }
    }

    fn alloc_table(&mut self) -> Option<u64> {
        let used = EARLY_TABLES_USED.load(Ordering::Relaxed);
        if used == EARLY_TABLES {
            return None;
        }
        EARLY_TABLES_USED.store(used + 1, Ordering::Relaxed);
        Some(self.pool_pa + used as u64 * PAGE_SIZE)
    }
}

/// Takes over the kernel tables from the boot code.
pub fn init(image: ImageLayout) {
    let pool_va = &raw const early_table_pool as u64;
    let pool_pa = pool_va - crate::mm::layout::KERNEL_BASE + image.start;
    *TABLES.lock() = Some(KernelTables { image, pool_pa, mmio_next: MMIO_BASE });
}

/// Maps `size` bytes of device registers at physical `pa` into the MMIO window and
/// returns the virtual address of `pa` there.
pub fn map_device(pa: u64, size: u64) -> Result<u64, MapError> {
    let mut guard = TABLES.lock();
    let tables = guard.as_mut().expect("invariant: tables::init ran first");
    let first = pa & !(PAGE_SIZE - 1);
    let last = pa.checked_add(size.max(1)).ok_or(MapError::BadRange)?.div_ceil(PAGE_SIZE) * PAGE_SIZE;
    let va = tables.mmio_next;
    if va + (last - first) > MMIO_BASE + MMIO_SIZE {
        return Err(MapError::OutOfTables);
    }
    let root = ttbr1();
    table::map(tables, root, va, first, last - first, Attrs::KERNEL_DEVICE, false)?;
    super::cpu::tables_changed();
    tables.mmio_next = va + (last - first);
    Ok(va + (pa - first))
}

fn ttbr1() -> u64 {
    use aarch64_cpu::registers::{Readable, TTBR1_EL1};
    TTBR1_EL1.get() & 0x0000_FFFF_FFFF_FFFE
}
