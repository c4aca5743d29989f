// SPDX-License-Identifier: MIT OR Apache-2.0
//! `MemoryControl`: frames from a chosen node's pool, mapped into the caller's space.
//!
//! This is how physical memory reaches user level, in place of X.2's sigma0 holding a
//! 1:1 window onto all of RAM. A privileged pager asks for a naturally aligned block of
//! 2^order frames *from a node*; the kernel takes it from the same per-node pool it
//! allocates its own memory from, maps it at the given address in the caller's space,
//! and records it as a mapping-database root owned by that space. From there the pager
//! maps and grants it on like any other memory. Which node to ask, and what to do when
//! a node runs dry, is the pager's policy; the kernel's only concession is the
//! "nearest node if exhausted" flag, which falls back by distance in one call.
//!
//! Memory comes back the same way: with the free flag, the caller gives a block it
//! got from `MemoryControl` back. The kernel revokes every mapping derived from it,
//! in every space, through the mapping database (with the TLBs of every CPU), and
//! returns the frames to their node's pool. A space's deletion does the same for
//! every block it still holds: memory a program's pagers took is never lost.
//!
//! # Design
//! ```text
//!  x0 node   x1 order   x2 dest VA (aligned to 4 KiB << order)   x3 flags:
//!      bit 63            7 6   5   4 3   2    1      0
//!         |  reserved (0)  | R | W | X |res|free|device|nearest|
//!  returns x1 physical base, x2 node the block came from (free: x1 frames freed)
//! ```
#![forbid(unsafe_code)]

use crate::error::Error;
use crate::fpage::{MAX_SIZE_LOG2, Rights};
use crate::{MAX_NODES, PAGE_SIZE, USER_ADDRESS_LIMIT};

/// The largest order: a block of 2^35 frames is 2^47 bytes, the largest flexpage.
/// (A node may not have that much; the kernel then answers `OutOfMemory`.)
pub const MAX_ORDER: u64 = MAX_SIZE_LOG2 as u64 - 12;

/// The flags word (`x3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryControlFlags {
    /// Bit 0: if the node's pool cannot serve the block, take it from the nearest node
    /// (by the KIP's distances) that can, instead of failing with `OutOfMemory`.
    pub nearest_if_exhausted: bool,
    /// Bits 6..4: the rights of the new mapping (6 R, 5 W, 4 X).
    pub rights: Rights,
    /// Bit 1: device registers, not RAM. `x0` is then the physical address of the
    /// registers (page aligned) instead of a node, and the block is mapped as Device
    /// memory (uncached, never executable) for a user-level driver. Not a mapping-
    /// database root: it cannot be passed on. The kernel refuses RAM, reserved memory
    /// and the interrupt controller with `InvalidArgument` (the console UART may be mapped:
    /// a user-level console driver shares it with the kernel's own output).
    pub device: bool,
    /// Bit 2: give the block at `x2` back instead of taking one. Every page of the
    /// block must be memory the caller's space got from `MemoryControl` (and still
    /// holds where it was put: the root of its frame's mappings); `x0` must be 0 and
    /// the rights and other flags clear. Every mapping derived from the pages is
    /// revoked, everywhere; the frames return to their node's pool. Answers the
    /// number of frames freed in `x1`.
    pub free: bool,
}

const NEAREST: u64 = 1 << 0;
const DEVICE: u64 = 1 << 1;
const FREE: u64 = 1 << 2;
const RIGHTS_SHIFT: u32 = 4;
const DEFINED: u64 = NEAREST | DEVICE | FREE | 0b111 << RIGHTS_SHIFT;

impl MemoryControlFlags {
    /// The flags word.
    pub const fn raw(self) -> u64 {
        (self.rights.bits() as u64) << RIGHTS_SHIFT
            | if self.nearest_if_exhausted { NEAREST } else { 0 }
            | if self.device { DEVICE } else { 0 }
            | if self.free { FREE } else { 0 }
    }

    /// The flags of a free: nothing but the free bit.
    pub const FREE: MemoryControlFlags =
        MemoryControlFlags { nearest_if_exhausted: false, rights: Rights::NONE, device: false, free: true };

    /// The flags most programs want for memory of their own: read-write, from the
    /// nearest node that has it if the asked one is exhausted.
    pub const RW_NEAREST: MemoryControlFlags =
        MemoryControlFlags { nearest_if_exhausted: true, rights: Rights::RW, device: false, free: false };

    /// Decodes `x3`; a reserved bit set is [`Error::InvalidArgument`].
    pub const fn from_raw(raw: u64) -> Result<MemoryControlFlags, Error> {
        if raw & !DEFINED != 0 {
            return Err(Error::InvalidArgument);
        }
        let rights = match Rights::from_bits(((raw >> RIGHTS_SHIFT) & 0b111) as u8) {
            Some(r) => r,
            None => return Err(Error::InvalidArgument),
        };
        // A free takes nothing else: no rights to give, no node to fall back from.
        if raw & FREE != 0 && raw != FREE {
            return Err(Error::InvalidArgument);
        }
        Ok(MemoryControlFlags {
            nearest_if_exhausted: raw & NEAREST != 0,
            rights,
            device: raw & DEVICE != 0,
            free: raw & FREE != 0,
        })
    }
}

/// A whole `MemoryControl` request (`x0..x3`), checked as far as is possible without
/// knowing the machine (the kernel then checks the node exists and has memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryControlRequest {
    /// The node to take frames from.
    pub node: u64,
    /// 2^order frames.
    pub order: u64,
    /// Where to map the block in the caller's space.
    pub dest: u64,
    /// Flags.
    pub flags: MemoryControlFlags,
}

impl MemoryControlRequest {
    /// The block size in bytes: `4 KiB << order`.
    pub const fn block_size(&self) -> u64 {
        PAGE_SIZE << self.order
    }

    /// `x0..x3`.
    pub const fn encode(&self) -> [u64; 4] {
        [self.node, self.order, self.dest, self.flags.raw()]
    }

    /// Decodes `x0..x3`.
    ///
    /// Errors: [`Error::InvalidNode`] for a node number no machine has (at least
    /// [`MAX_NODES`]); [`Error::InvalidArgument`] for an order above [`MAX_ORDER`], a
    /// destination not aligned to the block or not inside the user address space, or
    /// reserved flag bits.
    /// With the device flag, `node` is instead the registers' physical address, which
    /// must be page aligned ([`Error::InvalidArgument`]).
    pub const fn decode(x: [u64; 4]) -> Result<MemoryControlRequest, Error> {
        let [node, order, dest, flags] = x;
        let flags = match MemoryControlFlags::from_raw(flags) {
            Ok(f) => f,
            Err(e) => return Err(e),
        };
        if flags.device {
            if node % PAGE_SIZE != 0 {
                return Err(Error::InvalidArgument);
            }
        } else if flags.free {
            if node != 0 {
                return Err(Error::InvalidArgument);
            }
        } else if node >= MAX_NODES as u64 {
            return Err(Error::InvalidNode);
        }
        if order > MAX_ORDER {
            return Err(Error::InvalidArgument);
        }
        let size = PAGE_SIZE << order;
        if dest & (size - 1) != 0 || dest >= USER_ADDRESS_LIMIT || USER_ADDRESS_LIMIT - dest < size {
            return Err(Error::InvalidArgument);
        }
        Ok(MemoryControlRequest { node, order, dest, flags })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rw_nearest_is_read_write_and_nearest() {
        assert_eq!(MemoryControlFlags::RW_NEAREST.raw(), (0b110 << 4) | 1);
        assert_eq!(MemoryControlFlags::from_raw((0b110 << 4) | 1), Ok(MemoryControlFlags::RW_NEAREST));
    }

    #[test]
    fn flags_use_the_briefs_bits_and_round_trip() {
        let f =
            MemoryControlFlags { nearest_if_exhausted: true, rights: Rights::RW, device: false, free: false };
        assert_eq!(f.raw(), 1 | 0b110 << 4);
        assert_eq!(
            MemoryControlFlags { nearest_if_exhausted: false, rights: Rights::X, device: false, free: false }
                .raw(),
            1 << 4
        );
        let dev =
            MemoryControlFlags { nearest_if_exhausted: false, rights: Rights::RW, device: true, free: false };
        assert_eq!(dev.raw(), (1 << 1) | (0b110 << 4));
        assert_eq!(MemoryControlFlags::from_raw(dev.raw()), Ok(dev));
        for bits in 0..8 {
            for nearest_if_exhausted in [false, true] {
                let f = MemoryControlFlags {
                    nearest_if_exhausted,
                    rights: Rights::from_bits(bits).unwrap(),
                    device: false,
                    free: false,
                };
                assert_eq!(MemoryControlFlags::from_raw(f.raw()), Ok(f));
            }
        }
    }

    #[test]
    fn reserved_flag_bits_are_refused() {
        for bit in [3, 7, 63] {
            assert_eq!(MemoryControlFlags::from_raw(1 << bit), Err(Error::InvalidArgument), "bit {bit}");
        }
    }

    #[test]
    fn a_free_takes_no_other_flag_and_no_node() {
        assert_eq!(MemoryControlFlags::FREE.raw(), 1 << 2);
        assert_eq!(MemoryControlFlags::from_raw(1 << 2), Ok(MemoryControlFlags::FREE));
        for other in [NEAREST, DEVICE, 0b110 << RIGHTS_SHIFT] {
            assert_eq!(MemoryControlFlags::from_raw(FREE | other), Err(Error::InvalidArgument));
        }
        let free = |node, order, dest| MemoryControlRequest::decode([node, order, dest, FREE]);
        assert_eq!(free(0, 1, 0x2000).map(|r| r.flags.free), Ok(true));
        assert_eq!(free(1, 0, 0x1000).unwrap_err(), Error::InvalidArgument, "a node with a free");
        assert_eq!(free(0, 1, 0x1000).unwrap_err(), Error::InvalidArgument, "misaligned");
    }

    #[test]
    fn requests_round_trip_and_bad_ones_are_named() {
        let flags = MemoryControlFlags {
            nearest_if_exhausted: false,
            rights: Rights::RWX,
            device: false,
            free: false,
        };
        let r = MemoryControlRequest { node: 1, order: 9, dest: 0x4000_0000, flags };
        assert_eq!(r.block_size(), 2 << 20);
        assert_eq!(MemoryControlRequest::decode(r.encode()), Ok(r));
        let with = |node, order, dest| MemoryControlRequest::decode([node, order, dest, flags.raw()]);
        assert_eq!(with(64, 0, 0x1000).unwrap_err(), Error::InvalidNode);
        assert_eq!(with(0, MAX_ORDER + 1, 0).unwrap_err(), Error::InvalidArgument);
        assert_eq!(with(0, 9, 0x1000).unwrap_err(), Error::InvalidArgument, "misaligned");
        assert_eq!(with(0, 0, 1 << 48).unwrap_err(), Error::InvalidArgument, "beyond user space");
        assert!(with(0, MAX_ORDER, 1 << 47).is_ok());
        assert_eq!(MAX_ORDER, 35);
    }
}
