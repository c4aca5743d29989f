// SPDX-License-Identifier: MIT OR Apache-2.0
//! Physical memory at boot: the direct map, then one frame allocator per node.
//!
//! Two steps, in this order:
//!
//! 1. **The direct map.** All RAM except the kernel image is mapped at
//!    `DIRECT_MAP_BASE + pa`, read-write, never executable, with the largest blocks
//!    alignment allows. The image is left out so its text and read-only data have no
//!    writable alias.
//! 2. **The frame allocators.** A node's free memory is its RAM minus everything in
//!    use: the device tree's reservations (`/memreserve/`, `/reserved-memory`), the
//!    kernel image, the DTB and the initrd (`mm::physmem` does the subtraction). Each
//!    node's free ranges go to that node's allocator (`mm::frames`); the free lists
//!    live in the node's own memory.
//!
//! From then on kernel translation tables come from frames of the boot CPU's node.
//!
//! [`report`] prints, per node, where its memory went, so that a test can check the
//! numbers add up: `total = reserved + kernel + free`.

use crate::arch::tables;
use crate::kprintln;
use crate::mm::early::ImageLayout;
use crate::mm::frames::{FrameError, Frames};
use crate::mm::layout::{DIRECT_MAP_SIZE, direct_map};
use crate::mm::physmem::{self, NodeAccount, PhysmemError};
use crate::mm::table::{Attrs, MapError};
use core::sync::atomic::{AtomicU16, Ordering};
use crate::pernode::PerNode;
use platform::{Board, NodeId, PhysRange};
use spin::Once;

/// Why memory could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryError {
    /// The subtraction of reserved ranges failed.
    Physmem(PhysmemError),
    /// RAM lies beyond what the direct map covers.
    BeyondDirectMap {
        /// The first such address.
        pa: u64,
    },
    /// The direct map could not be built.
    Map(MapError),
    /// No node has free memory.
    NoFreeMemory,
    /// The frame allocator refused a range.
    Frames(FrameError),
}

/// Each node's RAM as the allocators received it (for the report).
static ACCOUNTS: Once<PerNode<NodeAccount>> = Once::new();
/// The node kernel tables come from (the boot CPU's, or the nearest with memory).
static TABLE_NODE: AtomicU16 = AtomicU16::new(0);

/// The frame allocator kernel translation tables come from ([`init`] is handed it).
static TABLE_FRAMES: Once<&'static Frames> = Once::new();

/// Builds the direct map and hands every node's free memory to `frames`, one
/// allocator per node.
pub fn init(
    board: &Board,
    frames: &'static Frames,
    image: &ImageLayout,
    dtb: Option<PhysRange>,
    boot_node: NodeId,
) -> Result<(), MemoryError> {
    // 1. The direct map: RAM minus the image.
    let image_range = PhysRange { base: image.start, size: image.end - image.start };
    let mapped = physmem::free_ranges(&board.memory, [image_range]).map_err(MemoryError::Physmem)?;
    for m in mapped.ranges() {
        if m.range.end() > DIRECT_MAP_SIZE {
            return Err(MemoryError::BeyondDirectMap { pa: m.range.base.max(DIRECT_MAP_SIZE) });
        }
        tables::map_kernel(direct_map(m.range.base), m.range.base, m.range.size, Attrs::KERNEL_RW, true)
            .map_err(MemoryError::Map)?;
    }

    // 2. Free memory per node: RAM minus every reservation.
    let boot_ranges = [Some(image_range), dtb, board.chosen.initrd];
    // Spin-table release words: the firmware's loop reads them (and usually runs
    // beside them, in the same page) until the CPU is started.
    let release_words = board.cpus.iter().filter_map(|c| match c.enable_method {
        platform::EnableMethod::SpinTable { release_addr } => Some(PhysRange { base: release_addr, size: 8 }),
        _ => None,
    });
    let reserved = board.reserved.iter().copied().chain(boot_ranges.into_iter().flatten()).chain(release_words);
    let free = physmem::free_ranges(&board.memory, reserved).map_err(MemoryError::Physmem)?;
    if free.total_free() == 0 {
        return Err(MemoryError::NoFreeMemory);
    }
    frames.set_distances(|a, b| board.distance(a, b));
    for m in free.ranges() {
        // SAFETY: `m.range` is RAM (from the device tree's memory nodes) minus every
        // range in use (reservations, image, DTB, initrd), so nothing else uses it; it
        // is mapped read-write at `direct_map(pa)` by step 1 (only the image, which it
        // excludes, was left out); `free_ranges` returns disjoint ranges, so none is
        // handed over twice.
        unsafe { frames.add_free(m.node, m.range) }.map_err(MemoryError::Frames)?;
    }
    let mut accounts: PerNode<NodeAccount> = PerNode::default();
    for node in board.nodes() {
        accounts[node] = free.account(node);
    }
    ACCOUNTS.call_once(|| accounts);
    let table_node = crate::mm::placement::memory_node_for(board, boot_node).unwrap_or(boot_node);
    TABLE_NODE.store(table_node.raw() as u16, Ordering::Relaxed);
    TABLE_FRAMES.call_once(|| frames);
    tables::set_table_source(table_frame);
    Ok(())
}

/// A zeroed frame for a kernel translation table.
fn table_frame() -> Option<u64> {
    let node = NodeId::new(u32::from(TABLE_NODE.load(Ordering::Relaxed)))?;
    let (pa, _) = TABLE_FRAMES.get()?.alloc_near(node, 1).ok()?;
    // SAFETY: the frame was just allocated from the node's pool (RAM outside the image)
    // and nothing references it yet.
    unsafe { tables::zero_frame(pa) };
    Some(pa)
}

/// Prints one line per node: `total = reserved + kernel + free` in KiB, plus how
/// often an allocation for the node had to fall back to another.
pub fn report(board: &Board, frames: &Frames) {
    let Some(accounts) = ACCOUNTS.get() else { return };
    for node in board.nodes() {
        let account = accounts[node];
        let free_now = frames.free_bytes(node);
        let kernel = account.free.saturating_sub(free_now);
        kprintln!(
            "{}",
            report::line!("memory",
                "node" => node,
                "total_kib" => account.total / 1024,
                "reserved_kib" => account.reserved / 1024,
                "kernel_kib" => kernel / 1024,
                "free_kib" => free_now / 1024,
                "fallbacks" => frames.fallbacks(node),
            )
        );
    }
    let (pool, frames) = tables::tables_used();
    kprintln!("{}", report::line!("kernel-tables", "early_pool" => pool, "frames" => frames));
}
