// SPDX-License-Identifier: MIT OR Apache-2.0
//! A virtual window that maps physical pages on demand: how the early kernel reads ACPI
//! tables.
//!
//! The ACPI tables lie in RAM the firmware keeps, anywhere in the physical map, and the
//! kernel must read them before it has a direct map: the direct map needs the memory
//! ranges, which the SRAT gives. The early map covers only the image and the device
//! tree, so the ACPI reader asks for each range it wants to read, and the window maps
//! the pages that hold it (read-only) at the next free address in
//! [`ACPI_WINDOW`](crate::mm::layout::ACPI_WINDOW). Ranges already mapped are found again,
//! so reading a table's header, then the whole table, then its fields maps each page
//! once or twice, not once per read. Nothing is ever unmapped: the window's contents
//! stay valid for the kernel's life, which is what `AcpiMemory`'s `&self`-borrowed
//! slices need.
//!
//! This file is the bookkeeping (host-tested); the caller supplies the mapping
//! function and turns the virtual address into a slice (`boot.rs`).
#![forbid(unsafe_code)]

use crate::mm::table::PAGE_SIZE;
use core::cell::Cell;

/// Most separate mappings the window remembers.
const MAX_MAPPINGS: usize = 32;

/// One mapping: physical pages `[pa, pa + len)` at `va`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Mapping {
    pa: u64,
    len: u64,
    va: u64,
}

/// A range of kernel virtual addresses filled with physical pages as they are asked
/// for. Single-threaded (`Cell`s): the boot CPU uses it before any other CPU runs.
pub struct Window {
    end: u64,
    next: Cell<u64>,
    mappings: [Cell<Mapping>; MAX_MAPPINGS],
    count: Cell<usize>,
}

impl Window {
    /// An empty window over `[base, base + size)` (page-aligned).
    pub fn new(base: u64, size: u64) -> Window {
        Window {
            end: base + size,
            next: Cell::new(base),
            mappings: [const { Cell::new(Mapping { pa: 0, len: 0, va: 0 }) }; MAX_MAPPINGS],
            count: Cell::new(0),
        }
    }

    /// The virtual address of physical `[pa, pa + len)` in the window, mapping its
    /// pages with `map(va, pa, bytes)` (page-aligned; returns whether it worked) unless
    /// one earlier mapping holds the whole range. `None` when the range overflows, the
    /// window or its list of mappings is full, or `map` failed.
    pub fn place(&self, pa: u64, len: u64, map: impl FnOnce(u64, u64, u64) -> bool) -> Option<u64> {
        let end = pa.checked_add(len.max(1))?;
        let mappings = &self.mappings[..self.count.get()];
        if let Some(m) = mappings.iter().map(Cell::get).find(|m| m.pa <= pa && end <= m.pa + m.len) {
            return Some(m.va + (pa - m.pa));
        }
        let slot = self.mappings.get(self.count.get())?;
        let first = pa & !(PAGE_SIZE - 1);
        let bytes = end.checked_next_multiple_of(PAGE_SIZE)? - first;
        let va = self.next.get();
        if bytes > self.end - va || !map(va, first, bytes) {
            return None;
        }
        slot.set(Mapping { pa: first, len: bytes, va });
        self.count.set(self.count.get() + 1);
        self.next.set(va + bytes);
        Some(va + (pa - first))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    const BASE: u64 = 0xFFFF_FFFF_C020_0000;

    #[test]
    fn each_new_range_maps_its_pages_and_a_covered_range_maps_nothing() {
        let w = Window::new(BASE, 16 * PAGE_SIZE);
        let calls = RefCell::new(Vec::new());
        let map = |va, pa, bytes| {
            calls.borrow_mut().push((va, pa, bytes));
            true
        };
        // A header straddling a page boundary: two pages.
        assert_eq!(w.place(0x5c43_0ff0, 36, map), Some(BASE + 0xff0));
        // The same table read whole, inside those pages: nothing new.
        assert_eq!(w.place(0x5c43_1000, 4, map), Some(BASE + 0x1000));
        // Elsewhere: the next pages of the window.
        assert_eq!(w.place(0x4000_0018, 20, map), Some(BASE + 0x2018));
        assert_eq!(
            *calls.borrow(),
            [(BASE, 0x5c43_0000, 2 * PAGE_SIZE), (BASE + 2 * PAGE_SIZE, 0x4000_0000, PAGE_SIZE)]
        );
    }

    #[test]
    fn a_full_window_a_failed_map_or_an_overflow_gives_none() {
        let w = Window::new(BASE, 2 * PAGE_SIZE);
        assert_eq!(w.place(0x1000, 3 * PAGE_SIZE, |_, _, _| true), None, "larger than the window");
        assert_eq!(w.place(0x1000, 8, |_, _, _| false), None, "map failed");
        assert_eq!(w.place(u64::MAX - 4, 8, |_, _, _| true), None);
        assert_eq!(w.place(0x1000, 8, |_, _, _| true), Some(BASE), "nothing was used up");
        assert_eq!(w.place(0x9000, 8, |_, _, _| true), Some(BASE + PAGE_SIZE));
        assert_eq!(w.place(0xa000, 8, |_, _, _| true), None, "full");
    }
}
