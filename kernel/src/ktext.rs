// SPDX-License-Identifier: MIT OR Apache-2.0
//! The kernel's text and read-only data, copied to every node.
//!
//! Every system call, fault and interrupt runs kernel code. With one copy of the
//! kernel in the first node's memory, every instruction fetch (and every read of a
//! constant table) a CPU of another node makes crosses the interconnect: the same
//! remote traffic the paper's per-node pagers remove at user level, inside the kernel
//! itself. So at boot each node with memory gets its own copy of the image's text and
//! read-only data, and its CPUs run from it: their kernel tables (TTBR1) are a
//! replica of the master tables in which only the image's text and read-only pages
//! point elsewhere (`mm::table::replicate`); data, stacks, devices and the direct map
//! stay shared, and later changes to the master reach every replica
//! (`mm::table::sync_replica`). A CPU of a node without memory runs from the copy of
//! the node its own memory comes from.
//!
//! The copies are made once, by the boot CPU, before the other CPUs start: code is
//! never written after that, so the copies never diverge. Each CPU checks through the
//! MMU (`AT S1E1R`) that its kernel text is on its memory node
//! (`report: ktext-replica cpus= local=`). `ktext=shared` on the command line keeps
//! the one copy, for comparison.
//!
//! # References
//! Arm ARM (DDI 0487) D7.5.9 "Instruction cache maintenance" (the sequence after
//! writing code), D8.14 (TLB maintenance after changing TTBR1).

use crate::arch::{cpu, tables};
use crate::mm::frames::Frames;
use crate::kprintln;
use crate::mm::layout::direct_map;
use crate::mm::table::PAGE_SIZE;
use crate::percpu::PerCpu;
use crate::pernode::PerNode;
use core::sync::atomic::{AtomicUsize, Ordering};
use platform::Board;

/// Replicas made (nodes with a copy of their own; the image's node has the image).
static REPLICAS: AtomicUsize = AtomicUsize::new(0);

/// Makes a copy of the kernel's text and read-only data on every node with memory but
/// the image's own, and a replica of the kernel tables using it, then moves the boot CPU (`me`) onto its
/// node's replica. A node whose copy cannot be made (no memory, no tables) keeps
/// running from the master copy, with a warning.
pub fn replicate(board: &Board, frames: &Frames, me: &PerCpu) {
    let image = tables::image();
    let bytes = image.rodata_end - image.start;
    let count = bytes.div_ceil(PAGE_SIZE) as usize;
    let source = image.va_of(image.start);
    let mut nodes_done = PerNode::filled(false);
    for range in board.memory.iter() {
        let node = range.node;
        // (The node the image itself is on runs from the image: no copy needed.)
        let image_node = crate::mm::placement::node_of_pa(board, image.start);
        if core::mem::replace(&mut nodes_done[node], true) || image_node == Some(node) {
            continue;
        }
        let pa = match frames.alloc_on(node, count) {
            Ok(pa) => pa,
            Err(err) => {
                kprintln!("warning: node {}: no copy of the kernel text ({err:?})", node.index());
                continue;
            }
        };
        // SAFETY: `pa` is a block of `count` frames just allocated for the copy (RAM
        // outside the image, mapped read-write at `direct_map(pa)`); the source is the
        // image's text and read-only data, mapped readable at `source`, and never
        // written; the two do not overlap.
        unsafe { core::ptr::copy_nonoverlapping(source as *const u8, direct_map(pa) as *mut u8, bytes as usize) };
        cpu::sync_icache(direct_map(pa), bytes);
        match tables::replicate_image(node, pa) {
            Ok(_) => {
                REPLICAS.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => kprintln!("warning: node {}: no kernel tables for the text copy ({err:?})", node.index()),
        }
    }
    let root = tables::kernel_root(me.memory_node);
    cpu::switch_kernel_root(root);
}

/// This CPU's check: the frame behind a kernel text address, through the MMU, is on
/// the node this CPU's memory comes from. Counted in the CPU's self-test too.
pub fn check_local(board: &Board, me: &PerCpu) -> bool {
    let text = check_local as *const () as u64;
    let node = cpu::translate(text).and_then(|pa| crate::mm::placement::node_of_pa(board, pa));
    node == Some(me.memory_node)
}

/// Prints `report: ktext-replica mode= replicas= cpus= local=`: how many online CPUs
/// run kernel text from their own memory node.
pub fn report(replicated: bool) {
    let (mut cpus, mut local) = (0, 0);
    for block in crate::percpu::all().filter(|b| b.online.load(Ordering::Acquire)) {
        cpus += 1;
        local += usize::from(block.ktext_local.load(Ordering::Acquire));
    }
    kprintln!(
        "{}",
        report::line!("ktext-replica",
            "mode" => if replicated { "per-node" } else { "shared" },
            "replicas" => REPLICAS.load(Ordering::Relaxed),
            "cpus" => cpus,
            "local" => local,
        )
    );
}

