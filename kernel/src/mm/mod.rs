// SPDX-License-Identifier: MIT OR Apache-2.0
//! Memory management: the address map, translation tables, and physical memory per node.
//!
//! `layout` is the kernel's virtual address map; `table` and `early` build translation
//! tables; `phys` is how physical memory is reached (a window: the direct map, or host
//! memory in tests); `physmem` works out which RAM is free on each NUMA node; `frames` hands that
//! RAM out, one pool per node with distance-ordered fallback; `placement` states from
//! the device tree alone which node should serve which, for self-tests; `window` maps
//! the ACPI tables on demand before there is a direct map. Everything here
//! is logic the host tests exercise; the few lines that write system registers or
//! touch memory by address live in `arch::aarch64` (and `frames`' narrow unsafe
//! boundary, where free lists are written into free memory).

pub mod addr;
pub mod asid;
pub mod early;
pub mod frames;
pub mod layout;
pub mod phys;
pub mod physmem;
pub mod placement;
pub mod table;
pub mod window;
