// SPDX-License-Identifier: MIT OR Apache-2.0
//! Stage-1 translation tables: descriptor encoding and a mapper, as plain logic.
//!
//! The kernel builds translation tables three times over its life: with the MMU off
//! (the early map of the kernel image), right after (devices, the direct map of RAM),
//! and for every user address space. All three use this one mapper. It never touches
//! memory itself: it asks a [`TableMemory`] for the 512 entries of a table at a
//! physical address and for fresh zeroed tables. The early boot code implements that
//! with physical addresses, the running kernel through the direct map, and the host
//! tests with a `HashMap`, so the walk and the encoding are tested without hardware.
//!
//! # Design
//! 4 KiB granule, 48-bit virtual addresses, four levels (L0..L3), each indexing 9 bits:
//!
//! ```text
//!  VA bit  47      39 38      30 29      21 20      12 11        0
//!         |  L0 idx  |  L1 idx  |  L2 idx  |  L3 idx  |  offset   |
//!  entry maps          512 GiB     1 GiB      2 MiB      4 KiB
//! ```
//!
//! L1 and L2 entries may be blocks (1 GiB, 2 MiB) instead of pointing at a next-level
//! table; [`map`] uses the largest block that alignment and size allow when asked to,
//! and never replaces an existing table with a block.
//!
//! # Invariants
//! - A mapping is only ever added, never silently changed: mapping over a valid entry
//!   with a different address or attributes is [`MapError::AlreadyMapped`]. Remapping
//!   the identical entry is accepted (idempotent), so overlapping requests for the
//!   same memory are harmless.
//! - On error, tables allocated so far stay linked (they are empty or hold complete
//!   entries); no half-written entry is ever visible.
//!
//! # References
//! Arm ARM (DDI 0487), D8.3 "Translation table descriptor formats" and D8.4
//! "Memory access control"; the MAIR indices used here are set in
//! [`crate::mm::layout::MAIR_EL1`].
#![forbid(unsafe_code)]

/// Entries per table (4 KiB / 8 bytes).
pub const ENTRIES: usize = 512;
/// Size of a page and of a translation table.
pub const PAGE_SIZE: u64 = 4096;

const VALID: u64 = 1 << 0;
/// At L0..L2: the entry points at a table (set) or is a block (clear). At L3: must be set.
const TABLE_OR_PAGE: u64 = 1 << 1;
const ATTR_INDX_SHIFT: u64 = 2;
/// AP[2:1]: bit 6 grants EL0 access, bit 7 makes the page read-only.
const AP_EL0: u64 = 1 << 6;
const AP_RO: u64 = 1 << 7;
const SH_INNER: u64 = 0b11 << 8;
/// Access flag: set up front, so the first touch does not fault.
const AF: u64 = 1 << 10;
/// Not global: the entry belongs to one ASID (user mappings).
const NG: u64 = 1 << 11;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;
/// Output address bits [47:12].
const ADDR_MASK: u64 = 0x0000_FFFF_FFFF_F000;

/// The memory type of a mapping; each is one MAIR_EL1 attribute index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemType {
    /// Device-nGnRE: MMIO registers. Never cached, never speculatively read.
    Device = 0,
    /// Normal, inner and outer write-back, read/write-allocate: RAM.
    Normal = 1,
    /// Normal, non-cacheable: memory shared with non-coherent agents.
    NormalUncached = 2,
}

/// Who may do what with a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attrs {
    /// Memory type (MAIR index).
    pub mem: MemType,
    /// Writable (at every privilege that may access it).
    pub write: bool,
    /// Executable by the kernel (EL1).
    pub kernel_exec: bool,
    /// Accessible from EL0 (user).
    pub user: bool,
    /// Executable by EL0.
    pub user_exec: bool,
}

impl Attrs {
    /// Kernel code: read-only, executable by the kernel only.
    pub const KERNEL_TEXT: Attrs =
        Attrs { mem: MemType::Normal, write: false, kernel_exec: true, user: false, user_exec: false };
    /// Kernel read-only data.
    pub const KERNEL_RO: Attrs =
        Attrs { mem: MemType::Normal, write: false, kernel_exec: false, user: false, user_exec: false };
    /// Kernel data: read-write, never executable.
    pub const KERNEL_RW: Attrs =
        Attrs { mem: MemType::Normal, write: true, kernel_exec: false, user: false, user_exec: false };
    /// Device registers, kernel only.
    pub const KERNEL_DEVICE: Attrs =
        Attrs { mem: MemType::Device, write: true, kernel_exec: false, user: false, user_exec: false };

    /// The attribute and permission bits of a leaf (block or page) descriptor.
    #[inline]
    pub fn leaf_bits(self) -> u64 {
        let mut bits = AF | ((self.mem as u64) << ATTR_INDX_SHIFT);
        if self.mem != MemType::Device {
            bits |= SH_INNER;
        }
        if !self.write {
            bits |= AP_RO;
        }
        if self.user {
            bits |= AP_EL0 | NG;
        }
        // Device memory is never executable: instruction fetches could touch registers.
        if !self.kernel_exec || self.mem == MemType::Device {
            bits |= PXN;
        }
        if !(self.user && self.user_exec) || self.mem == MemType::Device {
            bits |= UXN;
        }
        bits
    }

    /// Decodes the attributes of a leaf descriptor (the inverse of [`Attrs::leaf_bits`]).
    pub fn from_leaf(desc: u64) -> Option<Attrs> {
        let mem = match (desc >> ATTR_INDX_SHIFT) & 0b111 {
            0 => MemType::Device,
            1 => MemType::Normal,
            2 => MemType::NormalUncached,
            _ => return None,
        };
        let user = desc & AP_EL0 != 0;
        Some(Attrs {
            mem,
            write: desc & AP_RO == 0,
            kernel_exec: desc & PXN == 0,
            user,
            user_exec: user && desc & UXN == 0,
        })
    }
}

/// Why a mapping could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// Virtual address, physical address or size is not a multiple of 4 KiB.
    Misaligned,
    /// The range is empty, wraps around, or leaves the 48-bit space of one half.
    BadRange,
    /// A different mapping already covers this virtual address.
    AlreadyMapped {
        /// The first virtual address found in conflict.
        va: u64,
    },
    /// No memory for another translation table.
    OutOfTables,
}

/// Where the mapper finds table memory. Implementations decide how a physical
/// address becomes something the CPU can write (identity with the MMU off, the
/// direct map after, a `HashMap` in tests).
pub trait TableMemory {
    /// The 512 entries of the table at physical address `pa`.
    fn entries(&mut self, pa: u64) -> &mut [u64; ENTRIES];
    /// A zeroed, page-aligned table; its physical address.
    fn alloc_table(&mut self) -> Option<u64>;
}

/// The index of `va` in a table at `level` (0..=3).
pub fn index(va: u64, level: usize) -> usize {
    ((va >> (39 - 9 * level)) & 0x1ff) as usize
}

/// Bytes mapped by one entry at `level`.
pub fn entry_span(level: usize) -> u64 {
    1 << (39 - 9 * level)
}

/// A table descriptor pointing at the table at `pa`.
pub fn table_desc(pa: u64) -> u64 {
    (pa & ADDR_MASK) | TABLE_OR_PAGE | VALID
}

/// A leaf descriptor: a page at L3, a block at L1/L2.
#[inline]
pub fn leaf_desc(pa: u64, attrs: Attrs, level: usize) -> u64 {
    let kind = if level == 3 { TABLE_OR_PAGE } else { 0 };
    (pa & ADDR_MASK) | attrs.leaf_bits() | kind | VALID
}

/// Maps `[va, va + size)` to `[pa, pa + size)` in the tables rooted at `root`.
///
/// With `blocks`, 2 MiB and 1 GiB blocks are used where alignment allows (the direct
/// map); without, only 4 KiB pages (anything whose permissions vary per page).
pub fn map(
    mem: &mut impl TableMemory,
    root: u64,
    va: u64,
    pa: u64,
    size: u64,
    attrs: Attrs,
    blocks: bool,
) -> Result<(), MapError> {
    if !va.is_multiple_of(PAGE_SIZE) || !pa.is_multiple_of(PAGE_SIZE) || !size.is_multiple_of(PAGE_SIZE) {
        return Err(MapError::Misaligned);
    }
    let canonical = |a: u64| !((1 << 48)..0xFFFF_0000_0000_0000).contains(&a);
    let end = va.checked_add(size).ok_or(MapError::BadRange)?;
    pa.checked_add(size).ok_or(MapError::BadRange)?;
    if size == 0 || !canonical(va) || !canonical(end - 1) || (va ^ (end - 1)) >> 48 != 0 {
        return Err(MapError::BadRange);
    }
    let mut off = 0;
    while off < size {
        let step = map_one(mem, root, va + off, pa + off, size - off, attrs, blocks)?;
        off += step;
    }
    Ok(())
}

/// Maps the largest single entry that fits at `va`; returns the bytes it covers.
fn map_one(
    mem: &mut impl TableMemory,
    root: u64,
    va: u64,
    pa: u64,
    left: u64,
    attrs: Attrs,
    blocks: bool,
) -> Result<u64, MapError> {
    let mut table = root;
    for level in 0..=3 {
        let span = entry_span(level);
        let slot = index(va, level);
        let entry = mem.entries(table)[slot];
        let block_ok = level == 3
            || (blocks && level >= 1 && va.is_multiple_of(span) && pa.is_multiple_of(span) && left >= span);
        let is_table = level < 3 && entry & (VALID | TABLE_OR_PAGE) == (VALID | TABLE_OR_PAGE);
        if block_ok && !is_table {
            let want = leaf_desc(pa, attrs, level);
            if entry & VALID != 0 && entry != want {
                return Err(MapError::AlreadyMapped { va });
            }
            mem.entries(table)[slot] = want;
            return Ok(span);
        }
        if entry & VALID == 0 {
            let next = mem.alloc_table().ok_or(MapError::OutOfTables)?;
            mem.entries(table)[slot] = table_desc(next);
            table = next;
        } else if is_table {
            table = entry & ADDR_MASK;
        } else {
            // A block already covers this address and we need finer control.
            return Err(MapError::AlreadyMapped { va });
        }
    }
    unreachable!("level 3 always maps a page")
}

/// The last-level table that holds (or would hold) `va`'s page entry, creating the
/// tables on the way: a page can then be mapped at `va` without allocating. Fails on a
/// block mapping in the way, or when no table can be had.
pub fn prepare(mem: &mut impl TableMemory, root: u64, va: u64) -> Result<u64, MapError> {
    let mut table = root;
    for level in 0..3 {
        let slot = index(va, level);
        let entry = mem.entries(table)[slot];
        if entry & VALID == 0 {
            let next = mem.alloc_table().ok_or(MapError::OutOfTables)?;
            mem.entries(table)[slot] = table_desc(next);
            table = next;
        } else if entry & TABLE_OR_PAGE != 0 {
            table = entry & ADDR_MASK;
        } else {
            return Err(MapError::AlreadyMapped { va });
        }
    }
    Ok(table)
}

/// The last-level table holding `va`'s page entry, if the tables exist (no allocation).
pub fn leaf_table(mem: &mut impl TableMemory, root: u64, va: u64) -> Option<u64> {
    let mut table = root;
    for level in 0..3 {
        let entry = mem.entries(table)[index(va, level)];
        if entry & (VALID | TABLE_OR_PAGE) != (VALID | TABLE_OR_PAGE) {
            return None;
        }
        table = entry & ADDR_MASK;
    }
    Some(table)
}

/// Removes the 4 KiB page mapping of `va`; returns what it mapped. Blocks are not
/// split (user mappings are pages), and tables left empty are kept: a space's tables
/// are freed with the space. The caller invalidates the TLB (`TLBI VAE1IS`) after.
pub fn unmap_page(mem: &mut impl TableMemory, root: u64, va: u64) -> Option<(u64, Attrs)> {
    let mut table = root;
    for level in 0..3 {
        let entry = mem.entries(table)[index(va, level)];
        if entry & (VALID | TABLE_OR_PAGE) != (VALID | TABLE_OR_PAGE) {
            return None;
        }
        table = entry & ADDR_MASK;
    }
    let slot = index(va, 3);
    let entry = mem.entries(table)[slot];
    if entry & VALID == 0 {
        return None;
    }
    mem.entries(table)[slot] = 0;
    Some((entry & ADDR_MASK, Attrs::from_leaf(entry)?))
}

/// Calls `f` with the physical address of every translation table below `root`
/// (not `root` itself), deepest first: how a space's tables are freed.
pub fn for_each_table(mem: &mut impl TableMemory, root: u64, f: &mut impl FnMut(u64)) {
    fn walk(mem: &mut impl TableMemory, table: u64, level: usize, f: &mut impl FnMut(u64)) {
        if level == 3 {
            return;
        }
        for slot in 0..ENTRIES {
            let entry = mem.entries(table)[slot];
            if entry & (VALID | TABLE_OR_PAGE) == (VALID | TABLE_OR_PAGE) {
                let next = entry & ADDR_MASK;
                walk(mem, next, level + 1, f);
                f(next);
            }
        }
    }
    walk(mem, root, 0, f);
}

/// Frees one table below `root` that has no tables below it, the lowest in address
/// at or above `from` (every table below `from` must be freed already), after
/// clearing the entry that pointed to it; the start of the span it translated, where
/// the next search starts, or `None` when no table is left below the root. A space
/// being deleted frees its tables so, one between two preemption points
/// (`l4::restart`), in address order, its root last. A step looks at no more than
/// `budget` entries: when they are spent, it frees nothing and returns how far it
/// looked (further than `from`).
pub fn free_one_table(
    mem: &mut impl TableMemory,
    root: u64,
    from: u64,
    budget: usize,
    free: impl FnOnce(u64),
) -> Option<u64> {
    let mut table = root;
    let mut parent = None;
    // At least the three entries on `from`'s own path: a step always gets on.
    let (mut base, mut on_from, mut left) = (0u64, true, budget.max(3));
    // A last-level table (level 3) holds pages, not tables.
    for level in 0..3 {
        let start = if on_from { index(from, level) } else { 0 };
        let window = start.saturating_add(left).min(ENTRIES);
        let entries = mem.entries(table);
        let is_table = |e: u64| e & (VALID | TABLE_OR_PAGE) == (VALID | TABLE_OR_PAGE);
        let Some(slot) = (start..window).find(|&i| is_table(entries[i])) else {
            if window < ENTRIES {
                // No table in [start, window) of this one: the next step looks on.
                return Some(base + window as u64 * entry_span(level));
            }
            break;
        };
        left -= slot + 1 - start;
        on_from &= slot == start;
        base += slot as u64 * entry_span(level);
        parent = Some((table, slot));
        table = entries[slot] & ADDR_MASK;
        if left == 0 && level < 2 {
            // Spent on the way down: the next step goes on from this table's span.
            return Some(base);
        }
    }
    let (parent, slot) = parent?;
    mem.entries(parent)[slot] = 0;
    free(table);
    Some(base)
}

/// The first address in `[va, end)` whose last-level table exists (`va` itself or the
/// start of a later table's 2 MiB span); `None` when there is none.
///
/// Loops over a user-given range step with this instead of page by page: missing
/// subtrees are skipped whole, so a flexpage of 2^47 bytes costs what the space's
/// tables cost, not 2^35 steps with the kernel lock held.
pub fn next_populated(mem: &mut impl TableMemory, root: u64, va: u64, end: u64) -> Option<u64> {
    next_populated_within(mem, root, va, end, usize::MAX).ok().flatten()
}

/// [`next_populated`], skipping at most `budget` missing tables (each a walk from the
/// root): `Ok` as `next_populated`, or `Err(at)` when the budget is spent, with no
/// table in `[va, at)` (`at > va`). Over a sparse space the whole walk passes up to
/// 3 x 512 entries; a preemptible call walks it a budget at a time (`l4::restart`).
pub fn next_populated_within(
    mem: &mut impl TableMemory,
    root: u64,
    va: u64,
    end: u64,
    budget: usize,
) -> Result<Option<u64>, u64> {
    let mut at = va;
    let mut left = budget;
    'outer: while at < end {
        let mut table = root;
        for level in 0..3 {
            let entry = mem.entries(table)[index(at, level)];
            if entry & (VALID | TABLE_OR_PAGE) != (VALID | TABLE_OR_PAGE) {
                let span = entry_span(level);
                let Some(next) = (at & !(span - 1)).checked_add(span) else { return Ok(None) };
                at = next;
                left = left.saturating_sub(1);
                if left == 0 && at < end {
                    return Err(at);
                }
                continue 'outer;
            }
            table = entry & ADDR_MASK;
        }
        return Ok(Some(at));
    }
    Ok(None)
}

/// How many pages are mapped in `[va, end)` (valid last-level entries), when that
/// range lies inside one last-level table's 2 MiB span.
pub fn mapped_in_span(mem: &mut impl TableMemory, root: u64, va: u64, end: u64) -> u64 {
    let Some(leaf) = leaf_table(mem, root, va) else { return 0 };
    let last = index(end - 1, 3).max(index(va, 3));
    mem.entries(leaf)[index(va, 3)..=last].iter().filter(|&&e| e & VALID != 0).count() as u64
}

/// Counts the tables [`prepare`] would allocate to reach every page of several
/// ranges: what a map must be able to pay for before it changes anything.
///
/// Ranges added in increasing address order share the tables they have in common (a
/// missing table is counted once, not once per range); in any other order a shared
/// table may be counted twice, which errs on the safe side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableCount {
    /// Tables counted so far.
    pub tables: u64,
    /// Per level: the chunk index (`va >> span`) of the last missing table counted.
    last: [Option<u64>; 4],
}

impl TableCount {
    /// Adds the tables missing for `[va, va + size)` in the tables rooted at `root`.
    pub fn add(&mut self, mem: &mut impl TableMemory, root: u64, va: u64, size: u64) {
        if size > 0 {
            self.walk(mem, root, 0, va, va + (size - 1));
        }
    }

    /// Tables below a missing entry at `level` covering `[lo, hi]`: one per chunk at
    /// each deeper level, less the one counted last at that level.
    fn below_missing(&mut self, level: usize, lo: u64, hi: u64) {
        for k in level + 1..=3 {
            let shift = 48 - 9 * k;
            let (first, last) = (lo >> shift, hi >> shift);
            let seen = u64::from(self.last[k] == Some(first));
            self.tables += last - first + 1 - seen;
            self.last[k] = Some(last);
        }
    }

    fn walk(&mut self, mem: &mut impl TableMemory, table: u64, level: usize, lo: u64, hi: u64) {
        let span = entry_span(level);
        let mut at = lo;
        loop {
            let end = ((at & !(span - 1)) + (span - 1)).min(hi);
            let entry = mem.entries(table)[index(at, level)];
            if entry & VALID == 0 {
                self.below_missing(level, at, end);
            } else if entry & TABLE_OR_PAGE != 0 && level < 2 {
                self.walk(mem, entry & ADDR_MASK, level + 1, at, end);
            }
            if end == hi {
                return;
            }
            at = end + 1;
        }
    }
}

/// Walks the tables like the MMU: the physical address and attributes `va` maps to.
pub fn translate(mem: &mut impl TableMemory, root: u64, va: u64) -> Option<(u64, Attrs)> {
    let mut table = root;
    for level in 0..=3 {
        let entry = mem.entries(table)[index(va, level)];
        if entry & VALID == 0 {
            return None;
        }
        let leaf = level == 3 || entry & TABLE_OR_PAGE == 0;
        if leaf {
            let span = entry_span(level);
            let pa = (entry & ADDR_MASK & !(span - 1)) | (va & (span - 1));
            return Some((pa, Attrs::from_leaf(entry)?));
        }
        table = entry & ADDR_MASK;
    }
    None
}

/// A copy of the translation tables under `root` along the path to `[start, end)`:
/// every table whose span meets the range is copied (new tables from `mem`), every
/// leaf inside the range points where `remap` sends its output address; every other
/// entry is the original's, so all tables off that path are shared. The kernel uses it
/// for a per-node copy of its text (`arch::aarch64::tables::replicate_image`): the same
/// virtual addresses, other frames.
///
/// The range must be page aligned; a leaf (block) reaching outside it is refused
/// (`BadRange`): splitting a block is not this function's business. Returns the new
/// root; on error the tables allocated so far are lost (the kernel gives up on the
/// replica, it does not retry).
pub fn replicate(
    mem: &mut impl TableMemory,
    root: u64,
    start: u64,
    end: u64,
    remap: &mut impl FnMut(u64) -> u64,
) -> Result<u64, MapError> {
    if !start.is_multiple_of(PAGE_SIZE) || !end.is_multiple_of(PAGE_SIZE) {
        return Err(MapError::Misaligned);
    }
    if end <= start {
        return Err(MapError::BadRange);
    }
    // The root covers the 48-bit half `start` is in.
    replicate_table(mem, root, 0, start & !((1 << 48) - 1), start, end, remap)
}

fn replicate_table(
    mem: &mut impl TableMemory,
    table: u64,
    level: usize,
    base: u64,
    start: u64,
    end: u64,
    remap: &mut impl FnMut(u64) -> u64,
) -> Result<u64, MapError> {
    let copy = mem.alloc_table().ok_or(MapError::OutOfTables)?;
    // Entry by entry, never a whole table on the stack: the recursion runs on a
    // kernel stack of a few KiB.
    for i in 0..ENTRIES {
        let entry = mem.entries(table)[i];
        mem.entries(copy)[i] = entry;
    }
    let span = entry_span(level);
    for i in 0..ENTRIES {
        let entry = mem.entries(table)[i];
        let lo = base.wrapping_add(i as u64 * span);
        let last = lo.wrapping_add(span - 1);
        if last < start || lo >= end || entry & VALID == 0 {
            continue;
        }
        let new = if level < 3 && entry & TABLE_OR_PAGE != 0 {
            let child = replicate_table(mem, entry & ADDR_MASK, level + 1, lo, start, end, remap)?;
            (entry & !ADDR_MASK) | child
        } else if lo >= start && last < end {
            (entry & !ADDR_MASK) | (remap(entry & ADDR_MASK) & ADDR_MASK)
        } else {
            return Err(MapError::BadRange);
        };
        mem.entries(copy)[i] = new;
    }
    Ok(copy)
}

/// Brings the replica `replica` (made by [`replicate`] from `master`) up to date:
/// every entry valid in one of the master's tables and invalid in the replica's copy
/// of it is copied over. Tables the two share need nothing; entries valid in both are
/// left alone (the replica's own leaves, its own tables). Enough because the kernel's
/// tables only ever turn invalid entries valid.
pub fn sync_replica(mem: &mut impl TableMemory, master: u64, replica: u64) {
    sync_table(mem, master, replica, 0);
}

fn sync_table(mem: &mut impl TableMemory, master: u64, replica: u64, level: usize) {
    if master == replica {
        return;
    }
    for i in 0..ENTRIES {
        let (m, r) = (mem.entries(master)[i], mem.entries(replica)[i]);
        if m & VALID == 0 {
            continue;
        }
        if r & VALID == 0 {
            mem.entries(replica)[i] = m;
        } else if level < 3 && m & TABLE_OR_PAGE != 0 && r & TABLE_OR_PAGE != 0 {
            sync_table(mem, m & ADDR_MASK, r & ADDR_MASK, level + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Table memory on the host: physical addresses are keys.
    struct FakeMemory {
        tables: HashMap<u64, Box<[u64; ENTRIES]>>,
        next: u64,
        limit: usize,
    }

    impl FakeMemory {
        fn new(limit: usize) -> (Self, u64) {
            let mut mem = FakeMemory { tables: HashMap::new(), next: 0x8000_0000, limit };
            let root = mem.alloc_table().unwrap();
            (mem, root)
        }
    }

    impl TableMemory for FakeMemory {
        fn entries(&mut self, pa: u64) -> &mut [u64; ENTRIES] {
            self.tables.get_mut(&pa).expect("walk reached an unallocated table")
        }
        fn alloc_table(&mut self) -> Option<u64> {
            if self.tables.len() >= self.limit {
                return None;
            }
            let pa = self.next;
            self.next += PAGE_SIZE;
            self.tables.insert(pa, Box::new([0; ENTRIES]));
            Some(pa)
        }
    }

    const KVA: u64 = 0xFFFF_FFFF_8000_0000;

    #[test]
    fn indices_split_the_address_nine_bits_per_level() {
        assert_eq!(index(KVA, 0), 511);
        assert_eq!(index(KVA, 1), 510);
        assert_eq!(index(KVA, 2), 0);
        assert_eq!(index(KVA + 0x20_1000, 2), 1);
        assert_eq!(index(KVA + 0x20_1000, 3), 1);
    }

    #[test]
    fn pages_translate_back_with_their_attributes() {
        let (mut mem, root) = FakeMemory::new(16);
        map(&mut mem, root, KVA, 0x4020_0000, 3 * PAGE_SIZE, Attrs::KERNEL_TEXT, false).unwrap();
        assert_eq!(translate(&mut mem, root, KVA + 0x1234), Some((0x4020_1234, Attrs::KERNEL_TEXT)));
        assert_eq!(translate(&mut mem, root, KVA + 3 * PAGE_SIZE), None);
        // L0, L1, L2, L3 plus the root already counted: four tables in all.
        assert_eq!(mem.tables.len(), 4);
    }

    #[test]
    fn a_replica_remaps_its_range_and_shares_the_rest() {
        let (mut mem, root) = FakeMemory::new(64);
        let dev = 0xFFFF_C000_0000_0000;
        map(&mut mem, root, KVA, 0x4020_0000, 4 * PAGE_SIZE, Attrs::KERNEL_TEXT, false).unwrap();
        map(&mut mem, root, KVA + 4 * PAGE_SIZE, 0x4020_4000, PAGE_SIZE, Attrs::KERNEL_RW, false).unwrap();
        map(&mut mem, root, dev, 0x900_0000, PAGE_SIZE, Attrs::KERNEL_DEVICE, false).unwrap();
        let before = mem.tables.len();
        let copy =
            replicate(&mut mem, root, KVA, KVA + 4 * PAGE_SIZE, &mut |pa| pa - 0x4020_0000 + 0x5000_0000)
                .unwrap();
        assert_eq!(mem.tables.len(), before + 4, "one table per level on the path");
        for page in 0..4 {
            let va = KVA + page * PAGE_SIZE + 8;
            assert_eq!(
                translate(&mut mem, copy, va),
                Some((0x5000_0008 + page * PAGE_SIZE, Attrs::KERNEL_TEXT))
            );
            assert_eq!(
                translate(&mut mem, root, va),
                Some((0x4020_0008 + page * PAGE_SIZE, Attrs::KERNEL_TEXT))
            );
        }
        let data = KVA + 4 * PAGE_SIZE;
        assert_eq!(translate(&mut mem, copy, data), translate(&mut mem, root, data), "data stays shared");
        assert_eq!(translate(&mut mem, copy, dev), Some((0x900_0000, Attrs::KERNEL_DEVICE)));
        let (shared, original) = (mem.entries(copy)[index(dev, 0)], mem.entries(root)[index(dev, 0)]);
        assert_eq!(shared, original, "the MMIO table is shared");

        // Later mappings of the master reach the replica: in a shared table at once,
        // in a new top-level slot and beside the replicated text after a sync.
        map(&mut mem, root, dev + PAGE_SIZE, 0x900_1000, PAGE_SIZE, Attrs::KERNEL_DEVICE, false).unwrap();
        assert!(translate(&mut mem, copy, dev + PAGE_SIZE).is_some(), "shared table");
        let stacks = 0xFFFF_E000_0000_0000;
        map(&mut mem, root, stacks, 0x6000_0000, PAGE_SIZE, Attrs::KERNEL_RW, false).unwrap();
        map(&mut mem, root, KVA + 5 * PAGE_SIZE, 0x4020_5000, PAGE_SIZE, Attrs::KERNEL_RW, false).unwrap();
        assert_eq!(translate(&mut mem, copy, stacks), None, "not yet");
        sync_replica(&mut mem, root, copy);
        assert_eq!(translate(&mut mem, copy, stacks), Some((0x6000_0000, Attrs::KERNEL_RW)));
        assert_eq!(translate(&mut mem, copy, KVA + 5 * PAGE_SIZE), Some((0x4020_5000, Attrs::KERNEL_RW)));
        assert_eq!(
            translate(&mut mem, copy, KVA + 8),
            Some((0x5000_0008, Attrs::KERNEL_TEXT)),
            "still its own"
        );
    }

    #[test]
    fn a_replica_refuses_blocks_reaching_outside_and_bad_ranges() {
        let (mut mem, root) = FakeMemory::new(64);
        map(&mut mem, root, KVA, 0x4000_0000, 2 << 20, Attrs::KERNEL_RW, true).unwrap();
        let mut same = |pa| pa;
        assert_eq!(replicate(&mut mem, root, KVA, KVA + PAGE_SIZE, &mut same), Err(MapError::BadRange));
        assert!(replicate(&mut mem, root, KVA, KVA + (2 << 20), &mut same).is_ok(), "a whole block is fine");
        assert_eq!(replicate(&mut mem, root, KVA + 1, KVA + PAGE_SIZE, &mut same), Err(MapError::Misaligned));
        assert_eq!(replicate(&mut mem, root, KVA, KVA, &mut same), Err(MapError::BadRange));
        let (mut small, root) = FakeMemory::new(2);
        map(&mut small, root, 0x1000, 0x1000, PAGE_SIZE, Attrs::KERNEL_RW, false).ok();
        assert_eq!(replicate(&mut small, root, 0, PAGE_SIZE, &mut same), Err(MapError::OutOfTables));
    }

    #[test]
    fn kernel_text_is_read_only_and_not_user_executable() {
        let d = leaf_desc(0x4020_0000, Attrs::KERNEL_TEXT, 3);
        assert_eq!(d & 0b11, 0b11, "an L3 page");
        assert_ne!(d & AP_RO, 0);
        assert_eq!(d & PXN, 0);
        assert_ne!(d & UXN, 0);
        assert_ne!(d & AF, 0);
        assert_eq!(d & NG, 0, "kernel mappings are global");
    }

    #[test]
    fn device_memory_is_never_executable() {
        let attrs = Attrs { kernel_exec: true, ..Attrs::KERNEL_DEVICE };
        let d = leaf_desc(0x900_0000, attrs, 3);
        assert_ne!(d & PXN, 0);
        assert_ne!(d & UXN, 0);
        assert_eq!((d >> 2) & 7, MemType::Device as u64);
    }

    #[test]
    fn blocks_are_used_where_aligned_and_pages_at_the_ragged_edges() {
        let (mut mem, root) = FakeMemory::new(16);
        let base = 0xFFFF_0000_0000_0000u64;
        // 1 GiB + 2 MiB + 4 KiB starting on a 1 GiB boundary.
        let size = (1 << 30) + (2 << 20) + PAGE_SIZE;
        map(&mut mem, root, base + (1 << 30), 1 << 30, size, Attrs::KERNEL_RW, true).unwrap();
        // root + L1 + L2 (for the 2 MiB block) + L3 (for the last page).
        assert_eq!(mem.tables.len(), 4);
        let l1 = mem.entries(root)[0] & ADDR_MASK;
        assert_eq!(mem.entries(l1)[1] & 0b11, 0b01, "a 1 GiB block");
        let last = base + (1 << 30) + size - 1;
        assert_eq!(translate(&mut mem, root, last).map(|t| t.0), Some((1 << 30) + size - 1));
    }

    #[test]
    fn remapping_the_same_entry_is_accepted_and_a_different_one_refused() {
        let (mut mem, root) = FakeMemory::new(16);
        map(&mut mem, root, KVA, 0x4000_0000, PAGE_SIZE, Attrs::KERNEL_RW, false).unwrap();
        map(&mut mem, root, KVA, 0x4000_0000, PAGE_SIZE, Attrs::KERNEL_RW, false).unwrap();
        assert_eq!(
            map(&mut mem, root, KVA, 0x5000_0000, PAGE_SIZE, Attrs::KERNEL_RW, false),
            Err(MapError::AlreadyMapped { va: KVA })
        );
        assert_eq!(
            map(&mut mem, root, KVA, 0x4000_0000, PAGE_SIZE, Attrs::KERNEL_RO, false),
            Err(MapError::AlreadyMapped { va: KVA })
        );
    }

    #[test]
    fn a_block_is_not_split_to_map_a_page_inside_it() {
        let (mut mem, root) = FakeMemory::new(16);
        let base = 0xFFFF_0000_0000_0000u64;
        map(&mut mem, root, base, 0, 2 << 20, Attrs::KERNEL_RW, true).unwrap();
        let r = map(&mut mem, root, base + PAGE_SIZE, PAGE_SIZE, PAGE_SIZE, Attrs::KERNEL_RO, false);
        assert_eq!(r, Err(MapError::AlreadyMapped { va: base + PAGE_SIZE }));
    }

    #[test]
    fn an_existing_table_is_descended_instead_of_overwritten_by_a_block() {
        let (mut mem, root) = FakeMemory::new(16);
        let base = 0xFFFF_0000_0000_0000u64;
        map(&mut mem, root, base + PAGE_SIZE, PAGE_SIZE, PAGE_SIZE, Attrs::KERNEL_RW, false).unwrap();
        map(&mut mem, root, base, 0, 2 << 20, Attrs::KERNEL_RW, true).unwrap();
        for off in [0, PAGE_SIZE, (2 << 20) - PAGE_SIZE] {
            assert_eq!(translate(&mut mem, root, base + off).map(|t| t.0), Some(off));
        }
    }

    #[test]
    fn bad_ranges_are_refused_before_anything_is_written() {
        let (mut mem, root) = FakeMemory::new(16);
        let rw = Attrs::KERNEL_RW;
        assert_eq!(map(&mut mem, root, KVA + 1, 0, PAGE_SIZE, rw, false), Err(MapError::Misaligned));
        assert_eq!(map(&mut mem, root, KVA, 0, 100, rw, false), Err(MapError::Misaligned));
        assert_eq!(map(&mut mem, root, KVA, 0, 0, rw, false), Err(MapError::BadRange));
        assert_eq!(map(&mut mem, root, 1 << 48, 0, PAGE_SIZE, rw, false), Err(MapError::BadRange));
        assert_eq!(
            map(&mut mem, root, (1 << 48) - PAGE_SIZE, 0, 2 * PAGE_SIZE, rw, false),
            Err(MapError::BadRange)
        );
        assert_eq!(mem.tables.len(), 1, "nothing allocated");
    }

    #[test]
    fn running_out_of_tables_is_an_error() {
        let (mut mem, root) = FakeMemory::new(2);
        assert_eq!(
            map(&mut mem, root, KVA, 0, PAGE_SIZE, Attrs::KERNEL_RW, false),
            Err(MapError::OutOfTables)
        );
    }

    #[test]
    fn unmapping_a_page_returns_it_and_leaves_its_neighbours() {
        let (mut mem, root) = FakeMemory::new(16);
        let user =
            Attrs { mem: MemType::Normal, write: true, kernel_exec: false, user: true, user_exec: false };
        map(&mut mem, root, 0x40_0000, 0x8000_0000, 2 * PAGE_SIZE, user, false).unwrap();
        assert_eq!(unmap_page(&mut mem, root, 0x40_0000), Some((0x8000_0000, user)));
        assert_eq!(translate(&mut mem, root, 0x40_0000), None);
        assert_eq!(translate(&mut mem, root, 0x40_1000).map(|t| t.0), Some(0x8000_1000));
        assert_eq!(unmap_page(&mut mem, root, 0x40_0000), None, "already gone");
        assert_eq!(unmap_page(&mut mem, root, 0x7000_0000), None, "never mapped");
        // The page can be mapped again, even to another frame.
        map(&mut mem, root, 0x40_0000, 0x9000_0000, PAGE_SIZE, user, false).unwrap();
    }

    #[test]
    fn preparing_creates_the_path_once_and_finds_it_again() {
        let (mut mem, root) = FakeMemory::new(16);
        let l3 = prepare(&mut mem, root, 0x40_0000).unwrap();
        assert_eq!(mem.tables.len(), 4);
        assert_eq!(prepare(&mut mem, root, 0x40_1000).unwrap(), l3, "same last-level table");
        assert_eq!(leaf_table(&mut mem, root, 0x40_0000), Some(l3));
        assert_eq!(leaf_table(&mut mem, root, 0x80_0000_0000), None, "never prepared");
        assert_eq!(translate(&mut mem, root, 0x40_0000), None, "prepared is not mapped");
        let user =
            Attrs { mem: MemType::Normal, write: true, kernel_exec: false, user: true, user_exec: false };
        map(&mut mem, root, 0x40_0000, 0x8000_0000, PAGE_SIZE, user, false).unwrap();
        assert_eq!(mem.tables.len(), 4, "mapping a prepared page allocates nothing");
    }

    #[test]
    fn every_table_below_the_root_is_visited_once() {
        let (mut mem, root) = FakeMemory::new(16);
        let user =
            Attrs { mem: MemType::Normal, write: true, kernel_exec: false, user: true, user_exec: false };
        map(&mut mem, root, 0x40_0000, 0x8000_0000, PAGE_SIZE, user, false).unwrap();
        map(&mut mem, root, 0x80_0000_0000, 0x8000_1000, PAGE_SIZE, user, false).unwrap();
        let mut seen = Vec::new();
        for_each_table(&mut mem, root, &mut |t| seen.push(t));
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), mem.tables.len() - 1, "all but the root");
    }

    #[test]
    fn user_pages_are_not_global_and_may_be_user_executable() {
        let a = Attrs { mem: MemType::Normal, write: false, kernel_exec: false, user: true, user_exec: true };
        let d = leaf_desc(0x1000, a, 3);
        assert_ne!(d & NG, 0);
        assert_eq!(d & UXN, 0);
        assert_ne!(d & PXN, 0);
        assert_eq!(Attrs::from_leaf(d), Some(a));
    }

    #[test]
    fn next_populated_skips_missing_subtrees_whole() {
        let (mut mem, root) = FakeMemory::new(16);
        let user =
            Attrs { mem: MemType::Normal, write: true, kernel_exec: false, user: true, user_exec: false };
        assert_eq!(next_populated(&mut mem, root, 0, 1 << 47), None, "empty space");
        map(&mut mem, root, 0x40_3000, 0x8000_0000, PAGE_SIZE, user, false).unwrap();
        map(&mut mem, root, 0x80_0000_0000, 0x8000_1000, PAGE_SIZE, user, false).unwrap();
        assert_eq!(next_populated(&mut mem, root, 0, 1 << 47), Some(0x40_0000), "the 2 MiB span's start");
        assert_eq!(next_populated(&mut mem, root, 0x40_5000, 1 << 47), Some(0x40_5000), "inside a span");
        assert_eq!(next_populated(&mut mem, root, 0x60_0000, 1 << 47), Some(0x80_0000_0000));
        assert_eq!(next_populated(&mut mem, root, 0x60_0000, 0x80_0000_0000), None, "end is exclusive");
        assert_eq!(next_populated(&mut mem, root, 0x80_0020_0000, 1 << 47), None);
    }

    #[test]
    fn tables_freed_one_at_a_time_in_address_order_are_every_table_once() {
        let (mut mem, root) = FakeMemory::new(32);
        let user =
            Attrs { mem: MemType::Normal, write: true, kernel_exec: false, user: true, user_exec: false };
        for (i, va) in [0x40_3000u64, 0x60_0000, 0x4000_0000, 0x80_0000_0000, 0x80_0020_0000, 0x7F_FFE0_0000]
            .into_iter()
            .enumerate()
        {
            map(&mut mem, root, va, 0x8000_0000 + i as u64 * PAGE_SIZE, PAGE_SIZE, user, false).unwrap();
        }
        let mut all = Vec::new();
        for_each_table(&mut mem, root, &mut |t| all.push(t));
        let (mut freed, mut from) = (Vec::new(), 0);
        let mut steps = 0;
        while let Some(next) = free_one_table(&mut mem, root, from, 3, |t| freed.push(t)) {
            from = next;
            steps += 1;
            assert!(freed.len() <= all.len() && steps < 10_000, "each table once, and on");
        }
        all.sort_unstable();
        freed.sort_unstable();
        assert_eq!(freed, all, "every table below the root");
        assert_eq!(free_one_table(&mut mem, root, 0, usize::MAX, |_| panic!("nothing left")), None);
        assert!(mem.entries(root).iter().all(|&e| e == 0), "the root points to none");
    }

    #[test]
    fn a_walk_with_a_budget_passes_that_many_missing_tables_and_ends_where_the_whole_walk_does() {
        let (mut mem, root) = FakeMemory::new(16);
        let user =
            Attrs { mem: MemType::Normal, write: true, kernel_exec: false, user: true, user_exec: false };
        map(&mut mem, root, 0x40_3000, 0x8000_0000, PAGE_SIZE, user, false).unwrap();
        map(&mut mem, root, 0x80_0000_0000, 0x8000_1000, PAGE_SIZE, user, false).unwrap();
        for (from, end) in
            [(0, 1 << 47), (0x60_0000, 1 << 47), (0x60_0000, 0x80_0000_0000), (0x80_0020_0000, 1 << 47)]
        {
            for budget in [1, 2, 16] {
                let (mut at, mut steps) = (from, 0);
                let found = loop {
                    match next_populated_within(&mut mem, root, at, end, budget) {
                        Ok(found) => break found,
                        Err(passed) => {
                            assert!(passed > at, "each step gets on");
                            at = passed;
                            steps += 1;
                        }
                    }
                };
                assert_eq!(found, next_populated(&mut mem, root, from, end), "{from:#x}..{end:#x}, {budget}");
                if budget == 1 && from == 0x60_0000 {
                    // 0x60_0000 up to 512 GiB: the rest of a 1 GiB table (511 entries),
                    // the rest of the first 512 GiB (511): many steps.
                    assert!(steps > 500, "{steps} steps");
                }
            }
        }
    }

    #[test]
    fn mapped_pages_are_counted_inside_a_span() {
        let (mut mem, root) = FakeMemory::new(16);
        let user =
            Attrs { mem: MemType::Normal, write: true, kernel_exec: false, user: true, user_exec: false };
        assert_eq!(mapped_in_span(&mut mem, root, 0x40_0000, 0x60_0000), 0, "no table");
        map(&mut mem, root, 0x40_3000, 0x8000_0000, 3 * PAGE_SIZE, user, false).unwrap();
        assert_eq!(mapped_in_span(&mut mem, root, 0x40_0000, 0x60_0000), 3);
        assert_eq!(mapped_in_span(&mut mem, root, 0x40_4000, 0x40_5000), 1);
        assert_eq!(mapped_in_span(&mut mem, root, 0x40_6000, 0x60_0000), 0);
    }

    #[test]
    fn missing_tables_counts_what_prepare_allocates() {
        let (mut mem, root) = FakeMemory::new(64);
        let count = |mem: &mut FakeMemory, ranges: &[(u64, u64)]| {
            let mut c = TableCount::default();
            for &(va, size) in ranges {
                c.add(mem, root, va, size);
            }
            c.tables
        };
        assert_eq!(count(&mut mem, &[(0x40_0000, PAGE_SIZE)]), 3, "L1, L2, L3");
        assert_eq!(count(&mut mem, &[(0x40_0000, 0)]), 0);
        assert_eq!(count(&mut mem, &[(0x3F_F000, 2 * PAGE_SIZE)]), 4, "two L3 tables");
        assert_eq!(count(&mut mem, &[(0, 1 << 30)]), 1 + 1 + 512);
        assert_eq!(count(&mut mem, &[(0, 1 << 47)]), 256 + 256 * 512 + 256 * 512 * 512);
        // Ranges in order share their L1 and L2 tables.
        assert_eq!(count(&mut mem, &[(0x40_0000, PAGE_SIZE), (0x60_0000, PAGE_SIZE)]), 4);
        assert_eq!(count(&mut mem, &[(0x40_0000, PAGE_SIZE), (0x40_1000, PAGE_SIZE)]), 3);
        // Against `prepare` itself, over ranges that cross every kind of boundary.
        let ranges =
            [(0x40_0000, PAGE_SIZE), (0x3F_F000, 0x2000), (0x3FFF_F000, 0x4000), (0x7F_FFE0_0000, 0x40_0000)];
        for (va, size) in ranges {
            let predicted = count(&mut mem, &[(va, size)]);
            let before = mem.tables.len();
            let mut at = va;
            while at < va + size {
                prepare(&mut mem, root, at).unwrap();
                at += PAGE_SIZE;
            }
            assert_eq!((mem.tables.len() - before) as u64, predicted, "{va:#x}+{size:#x}");
            assert_eq!(count(&mut mem, &[(va, size)]), 0, "all there now");
        }
        // Scattered pages, added in order, count exactly what preparing them takes.
        let pages: Vec<u64> = (0..40u64).map(|i| 0x100_0000_0000 + i * i * 0x1F_3000).collect();
        let ranges: Vec<(u64, u64)> = pages.iter().map(|&p| (p, PAGE_SIZE)).collect();
        let predicted = count(&mut mem, &ranges);
        let before = mem.tables.len();
        for &p in &pages {
            prepare(&mut mem, root, p).unwrap();
        }
        assert_eq!((mem.tables.len() - before) as u64, predicted);
    }
}
