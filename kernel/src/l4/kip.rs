// SPDX-License-Identifier: MIT OR Apache-2.0
//! The kernel interface page: what every program may read about the machine.
//!
//! Mapped read-only at `abi::kip::KIP_ADDRESS` in every space, the KIP tells user level
//! the ABI version, the counter frequency, every CPU with its MPIDR and node, the node
//! distance matrix, the memory map by node, and where the root task finds the initrd.
//! This is how the pagers learn the NUMA topology: the kernel enforces no policy, it
//! only publishes the facts.

use abi::kip::{ConsoleKind, Kip, MemoryDescriptor, MemoryKind};
use platform::Board;

/// Fills `kip` (all zero) from the board.
pub fn fill(
    kip: &mut Kip,
    board: &Board,
    counter_frequency: u64,
    initrd: Option<(u64, u64)>,
    dtb: Option<(u64, u64)>,
) {
    let nodes = board.nodes().map(|n| n.index() + 1).max().unwrap_or(1);
    // The header's checks (nonzero frequency, node count in range) hold for any board
    // the kernel booted on; a failure leaves the KIP invalid, which `validate` reports
    // to whoever reads it.
    let _ = kip.set_header(counter_frequency, nodes as u32);
    for cpu in board.cpus.iter() {
        let _ = kip.add_cpu(cpu.mpidr, cpu.node.raw() as u16);
    }
    for a in board.nodes() {
        for b in board.nodes() {
            let _ = kip.set_distance(a.index(), b.index(), board.distance(a, b));
        }
    }
    for m in board.memory.iter() {
        let desc =
            MemoryDescriptor::new(m.range.base, m.range.size, m.node.raw() as u16, MemoryKind::Conventional);
        let _ = kip.add_memory(desc);
    }
    for r in board.reserved.iter() {
        let _ = kip.add_memory(MemoryDescriptor::new(r.base, r.size, 0, MemoryKind::Reserved));
    }
    if let Some((address, size)) = initrd {
        kip.initrd_address = address;
        kip.initrd_size = size;
    }
    if let Some((address, size)) = dtb {
        kip.dtb_address = address;
        kip.dtb_size = size;
    }
    // The kernel's console (the board's rule: stdout-path, else the first UART).
    if let Some(uart) = board.console().filter(|u| u.kind.is_driven()) {
        let (kind, (shift, width)) = match uart.kind {
            platform::UartKind::Pl011 => {
                kip.console_pl011 = uart.base;
                (ConsoleKind::Pl011, (2, 4))
            }
            platform::UartKind::Bcm2835Aux => (ConsoleKind::Bcm2835Aux, (2, 4)),
            platform::UartKind::Ns16550 { reg_shift, io_width } => {
                (ConsoleKind::Ns16550, (reg_shift, io_width))
            }
            platform::UartKind::Other(_) => (ConsoleKind::None, (0, 0)),
        };
        kip.console_base = uart.base;
        kip.console_kind = kind as u32;
        (kip.console_reg_shift, kip.console_io_width) = (shift, width);
    }
}
