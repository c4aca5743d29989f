// SPDX-License-Identifier: MIT OR Apache-2.0
//! Flexpages: the unit of map, grant and unmap.
//!
//! A flexpage ("fpage") is a naturally aligned, power-of-two sized region of virtual
//! memory plus access rights, packed in one word. Because it is aligned to its own
//! size, one word names anything from a page to the whole address space, and the
//! kernel can map it with the largest translation-table blocks that fit. Map and grant
//! items carry one, `Unmap` takes a list of them, and a receiver's window (BR0) is one.
//!
//! # Design
//! ```text
//!  bit 63                              12 11       6 5  4 3  2  1  0
//!     |  base (bits 63..12 of the address) | size log2 | res | res R  W  X |
//! ```
//! - size log2 12..=47: a region of 2^size bytes at `base`, which is aligned to it.
//! - size log2 0: the nil fpage (no region); every other bit must then be 0.
//! - size log2 63: the whole user address space (`0..2^48`); the base must be 0.
//! - bits 5..4 and rights bit 3 are reserved and must be 0.
//!
//! A region must lie inside the user address space ([`crate::USER_ADDRESS_LIMIT`]).
//! [`Fpage::from_raw`] checks all of this, so a decoded `Fpage` is always well formed.
//!
//! # References
//! L4 X.2 reference manual, 4.1 "Fpage" (layout, nil fpage, complete address space).
#![forbid(unsafe_code)]

use core::fmt;

use crate::USER_ADDRESS_LIMIT;

/// Access rights of a flexpage, and the access kind of a page fault: a set of R, W, X.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rights(u8);

impl Rights {
    /// No access.
    pub const NONE: Rights = Rights(0);
    /// Execute (bit 0).
    pub const X: Rights = Rights(1 << 0);
    /// Write (bit 1).
    pub const W: Rights = Rights(1 << 1);
    /// Read (bit 2).
    pub const R: Rights = Rights(1 << 2);
    /// Read and write.
    pub const RW: Rights = Rights(Self::R.0 | Self::W.0);
    /// Read and execute.
    pub const RX: Rights = Rights(Self::R.0 | Self::X.0);
    /// Everything.
    pub const RWX: Rights = Rights(Self::R.0 | Self::W.0 | Self::X.0);

    /// The rights in bits 2..0 of `bits`; `None` if any other bit is set.
    pub const fn from_bits(bits: u8) -> Option<Rights> {
        if bits & !Self::RWX.0 != 0 {
            return None;
        }
        Some(Rights(bits))
    }

    /// The bits (2 = R, 1 = W, 0 = X).
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every right in `other` is also here.
    pub const fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether there are no rights.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The rights in both.
    pub const fn intersection(self, other: Rights) -> Rights {
        Rights(self.0 & other.0)
    }

    /// The rights in either.
    pub const fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }
}

impl core::ops::BitOr for Rights {
    type Output = Rights;
    fn bitor(self, rhs: Rights) -> Rights {
        self.union(rhs)
    }
}

impl core::ops::BitAnd for Rights {
    type Output = Rights;
    fn bitand(self, rhs: Rights) -> Rights {
        self.intersection(rhs)
    }
}

/// `rwx`, with `-` for a missing right (as `ls` and `/proc/self/maps` print them).
impl fmt::Display for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = |r: Rights, ch: char| if self.contains(r) { ch } else { '-' };
        write!(f, "{}{}{}", c(Rights::R, 'r'), c(Rights::W, 'w'), c(Rights::X, 'x'))
    }
}

impl fmt::Debug for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a word is not a flexpage. The kernel answers all of them with
/// [`crate::Error::InvalidArgument`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FpageError {
    /// The base is not a multiple of the size.
    Misaligned,
    /// The size log2 is neither 0 (nil), 12..=47, nor 63 (whole space).
    SizeOutOfRange {
        /// The size field found.
        size_log2: u8,
    },
    /// Reserved bits (5..4, or rights bit 3) are set, or a nil fpage has a base or
    /// rights.
    ReservedBits,
    /// The region reaches beyond the user address space.
    OutOfRange,
}

impl From<FpageError> for crate::Error {
    fn from(_: FpageError) -> crate::Error {
        crate::Error::InvalidArgument
    }
}

impl fmt::Display for FpageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FpageError::Misaligned => f.write_str("flexpage base not aligned to its size"),
            FpageError::SizeOutOfRange { size_log2 } => {
                write!(f, "flexpage size 2^{size_log2} not in 2^12..=2^47")
            }
            FpageError::ReservedBits => f.write_str("flexpage reserved bits set"),
            FpageError::OutOfRange => f.write_str("flexpage beyond the user address space"),
        }
    }
}

/// A well-formed flexpage (see the module documentation for the layout).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fpage(u64);

/// The smallest flexpage: one 4 KiB page.
pub const MIN_SIZE_LOG2: u8 = 12;
/// The largest flexpage short of the whole space: half the user address space.
pub const MAX_SIZE_LOG2: u8 = 47;
/// The size field of the whole-space flexpage.
pub const WHOLE_SPACE_SIZE_LOG2: u8 = 63;

const SIZE_SHIFT: u32 = 6;
const SIZE_MASK: u64 = 0x3F << SIZE_SHIFT;
const RESERVED_MASK: u64 = 0b11 << 4 | 1 << 3;
const RIGHTS_MASK: u64 = 0b111;
const BASE_MASK: u64 = !0xFFF;

impl Fpage {
    /// The region `[base, base + 2^size_log2)` with `rights`.
    ///
    /// Errors: `size_log2` outside 12..=47 ([`FpageError::SizeOutOfRange`]; nil and
    /// the whole space have their own constructors), `base` not aligned to the size
    /// ([`FpageError::Misaligned`]), a region past the user address space
    /// ([`FpageError::OutOfRange`]).
    pub const fn new(base: u64, size_log2: u8, rights: Rights) -> Result<Fpage, FpageError> {
        if size_log2 < MIN_SIZE_LOG2 || size_log2 > MAX_SIZE_LOG2 {
            return Err(FpageError::SizeOutOfRange { size_log2 });
        }
        // Low bits of `base` would land in the size and rights fields.
        if base & !BASE_MASK != 0 {
            return Err(FpageError::Misaligned);
        }
        Fpage::from_raw(base | (size_log2 as u64) << SIZE_SHIFT | rights.0 as u64)
    }

    /// The nil fpage: no region (raw 0). As a receive window it accepts nothing.
    pub const fn nil() -> Fpage {
        Fpage(0)
    }

    /// The whole user address space with `rights` (for `Unmap` of everything, or a
    /// receive window that accepts anywhere).
    pub const fn whole_space(rights: Rights) -> Fpage {
        Fpage((WHOLE_SPACE_SIZE_LOG2 as u64) << SIZE_SHIFT | rights.0 as u64)
    }

    /// Decodes a word, checking every rule of the layout.
    #[inline(always)]
    pub const fn from_raw(raw: u64) -> Result<Fpage, FpageError> {
        if raw & RESERVED_MASK != 0 {
            return Err(FpageError::ReservedBits);
        }
        let size_log2 = ((raw & SIZE_MASK) >> SIZE_SHIFT) as u8;
        let base = raw & BASE_MASK;
        match size_log2 {
            0 => {
                if raw != 0 {
                    return Err(FpageError::ReservedBits);
                }
            }
            WHOLE_SPACE_SIZE_LOG2 => {
                if base != 0 {
                    return Err(FpageError::Misaligned);
                }
            }
            MIN_SIZE_LOG2..=MAX_SIZE_LOG2 => {
                if base & ((1u64 << size_log2) - 1) != 0 {
                    return Err(FpageError::Misaligned);
                }
                if base >= USER_ADDRESS_LIMIT || USER_ADDRESS_LIMIT - base < 1u64 << size_log2 {
                    return Err(FpageError::OutOfRange);
                }
            }
            _ => return Err(FpageError::SizeOutOfRange { size_log2 }),
        }
        Ok(Fpage(raw))
    }

    /// The word.
    pub const fn raw(self) -> u64 {
        self.0
    }

    /// Whether this is the nil fpage.
    pub const fn is_nil(self) -> bool {
        self.0 == 0
    }

    /// Whether this is the whole address space.
    pub const fn is_whole_space(self) -> bool {
        self.size_log2() == WHOLE_SPACE_SIZE_LOG2
    }

    /// The size field: 0 (nil), 12..=47, or 63 (whole space).
    pub const fn size_log2(self) -> u8 {
        ((self.0 & SIZE_MASK) >> SIZE_SHIFT) as u8
    }

    /// The first address (0 for nil and the whole space).
    pub const fn base(self) -> u64 {
        self.0 & BASE_MASK
    }

    /// The size in bytes: 0 for nil, [`USER_ADDRESS_LIMIT`] for the whole space.
    pub const fn size(self) -> u64 {
        match self.size_log2() {
            0 => 0,
            WHOLE_SPACE_SIZE_LOG2 => USER_ADDRESS_LIMIT,
            s => 1 << s,
        }
    }

    /// One past the last address (`base + size`; never overflows, the region is in
    /// the user address space).
    pub const fn end(self) -> u64 {
        self.base() + self.size()
    }

    /// The rights.
    pub const fn rights(self) -> Rights {
        Rights((self.0 & RIGHTS_MASK) as u8)
    }

    /// The same region with other rights (nil stays nil: it has no rights field).
    pub const fn with_rights(self, rights: Rights) -> Fpage {
        if self.is_nil() {
            return self;
        }
        Fpage(self.0 & !RIGHTS_MASK | rights.0 as u64)
    }

    /// Whether `other`'s region lies entirely inside this one (rights are not
    /// compared). Nil contains nothing and is contained in nothing.
    pub const fn contains(self, other: Fpage) -> bool {
        !self.is_nil() && !other.is_nil() && self.base() <= other.base() && other.end() <= self.end()
    }

    /// Whether the two regions share an address. Nil overlaps nothing.
    pub const fn overlaps(self, other: Fpage) -> bool {
        !self.is_nil() && !other.is_nil() && self.base() < other.end() && other.base() < self.end()
    }

    /// Whether `address` is inside the region.
    pub const fn contains_address(self, address: u64) -> bool {
        self.base() <= address && address < self.end()
    }
}

/// `nil`, or `[base, end) rwx` in hex.
impl fmt::Display for Fpage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_nil() {
            return f.write_str("nil");
        }
        write!(f, "[{:#x}, {:#x}) {}", self.base(), self.end(), self.rights())
    }
}

impl fmt::Debug for Fpage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fpage({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_size_and_rights_round_trip_through_the_word() {
        for size_log2 in MIN_SIZE_LOG2..=MAX_SIZE_LOG2 {
            for bits in 0..=7 {
                let rights = Rights::from_bits(bits).unwrap();
                let base = 1u64 << size_log2; // aligned, and inside 2^48 up to size 47
                let f = Fpage::new(base, size_log2, rights).unwrap();
                assert_eq!((f.base(), f.size_log2(), f.rights()), (base, size_log2, rights));
                assert_eq!(f.size(), 1 << size_log2);
                assert_eq!(Fpage::from_raw(f.raw()), Ok(f));
            }
        }
    }

    #[test]
    fn the_layout_is_the_briefs() {
        let f = Fpage::new(0x4000_0000, 30, Rights::RW).unwrap();
        assert_eq!(f.raw(), 0x4000_0000 | 30 << 6 | 0b110);
        assert_eq!(Rights::R.bits(), 4);
        assert_eq!(Rights::W.bits(), 2);
        assert_eq!(Rights::X.bits(), 1);
        assert_eq!(Fpage::nil().raw(), 0);
        assert_eq!(Fpage::whole_space(Rights::RWX).raw(), 63 << 6 | 7);
    }

    #[test]
    fn nil_and_whole_space_are_special_sizes() {
        let nil = Fpage::from_raw(0).unwrap();
        assert!(nil.is_nil());
        assert_eq!((nil.base(), nil.size()), (0, 0));
        let all = Fpage::from_raw(Fpage::whole_space(Rights::R).raw()).unwrap();
        assert!(all.is_whole_space());
        assert_eq!((all.base(), all.size(), all.end()), (0, 1 << 48, 1 << 48));
        assert_eq!(nil.with_rights(Rights::RWX), nil);
    }

    #[test]
    fn a_misaligned_base_is_refused() {
        assert_eq!(Fpage::new(0x1000, 13, Rights::R), Err(FpageError::Misaligned));
        assert_eq!(Fpage::new(0x20_1000, 21, Rights::R), Err(FpageError::Misaligned));
        assert_eq!(Fpage::new(0x1001, 12, Rights::R), Err(FpageError::Misaligned));
        assert_eq!(Fpage::from_raw(0x1000 | 63 << 6), Err(FpageError::Misaligned));
    }

    #[test]
    fn sizes_out_of_range_are_refused() {
        for size_log2 in [1, 11, 48, 62] {
            assert_eq!(Fpage::new(0, size_log2, Rights::R), Err(FpageError::SizeOutOfRange { size_log2 }));
            assert_eq!(
                Fpage::from_raw((size_log2 as u64) << 6),
                Err(FpageError::SizeOutOfRange { size_log2 })
            );
        }
        // 0 and 63 are valid words but not sizes `new` makes.
        assert_eq!(Fpage::new(0, 0, Rights::R), Err(FpageError::SizeOutOfRange { size_log2: 0 }));
        assert_eq!(Fpage::new(0, 63, Rights::R), Err(FpageError::SizeOutOfRange { size_log2: 63 }));
    }

    #[test]
    fn reserved_bits_are_refused() {
        let ok = Fpage::new(0x1000, 12, Rights::R).unwrap().raw();
        for bit in [3, 4, 5] {
            assert_eq!(Fpage::from_raw(ok | 1 << bit), Err(FpageError::ReservedBits), "bit {bit}");
        }
        assert_eq!(
            Fpage::from_raw(Rights::R.bits() as u64),
            Err(FpageError::ReservedBits),
            "nil with rights"
        );
        assert_eq!(Fpage::from_raw(0x1000), Err(FpageError::ReservedBits), "nil with a base");
        assert_eq!(Rights::from_bits(8), None);
    }

    #[test]
    fn regions_beyond_the_user_address_space_are_refused() {
        assert_eq!(Fpage::new(1 << 48, 12, Rights::R), Err(FpageError::OutOfRange));
        assert_eq!(Fpage::new(0xFFFF_0000_0000_0000, 12, Rights::R), Err(FpageError::OutOfRange));
        assert!(Fpage::new((1 << 48) - 0x1000, 12, Rights::R).is_ok());
        assert!(Fpage::new(1 << 47, 47, Rights::R).is_ok());
    }

    #[test]
    fn containment_and_overlap_follow_the_regions() {
        let big = Fpage::new(0x20_0000, 21, Rights::RWX).unwrap();
        let inside = Fpage::new(0x20_1000, 12, Rights::R).unwrap();
        let outside = Fpage::new(0x40_0000, 12, Rights::R).unwrap();
        let all = Fpage::whole_space(Rights::NONE);
        assert!(big.contains(inside) && !inside.contains(big));
        assert!(big.contains(big));
        assert!(!big.contains(outside) && !big.overlaps(outside));
        assert!(big.overlaps(inside) && inside.overlaps(big));
        assert!(all.contains(big) && all.overlaps(outside));
        assert!(!big.contains(Fpage::nil()) && !Fpage::nil().contains(Fpage::nil()));
        assert!(!Fpage::nil().overlaps(all));
        assert!(big.contains_address(0x3F_FFFF) && !big.contains_address(0x40_0000));
    }

    #[test]
    fn rights_combine_and_print_like_ls() {
        assert_eq!(Rights::R | Rights::W, Rights::RW);
        assert_eq!(Rights::RWX & Rights::RX, Rights::RX);
        assert!(Rights::RWX.contains(Rights::W) && !Rights::RX.contains(Rights::W));
        assert_eq!(Rights::RX.to_string(), "r-x");
        assert_eq!(Fpage::new(0x1000, 12, Rights::RW).unwrap().to_string(), "[0x1000, 0x2000) rw-");
        assert_eq!(
            FpageError::SizeOutOfRange { size_log2: 9 }.to_string(),
            "flexpage size 2^9 not in 2^12..=2^47"
        );
    }
}
