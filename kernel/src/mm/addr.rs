// SPDX-License-Identifier: MIT OR Apache-2.0
//! Physical and virtual addresses as types of their own.
//!
//! # Why
//! A physical address and a user virtual address are both a `u64`, and the kernel
//! handles both at every step of a mapping: a function that took one where it meant the
//! other would compile, and might even work on a machine whose RAM starts at 0.
//! [`PhysAddr`] and [`VirtAddr`] make the two different types, with private fields:
//! memory is reached only through a `PhysAddr` (`mm::phys::Window`'s accesses), and the
//! TLB is told about a `VirtAddr`.
//!
//! What must hold: the conversions are explicit (`new`, `raw`), and arithmetic stays
//! within the type (an address plus a byte offset is an address of the same kind).
#![forbid(unsafe_code)]

use crate::mm::table::PAGE_SIZE;
use core::fmt;
use core::ops::Add;

/// A physical address.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct PhysAddr(u64);

/// A virtual address (of a user space, or of the kernel).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct VirtAddr(u64);

macro_rules! address {
    ($name:ident, $what:literal) => {
        impl $name {
            #[doc = concat!("The ", $what, " `raw`.")]
            #[inline(always)]
            pub const fn new(raw: u64) -> $name {
                $name(raw)
            }

            /// The number.
            #[inline(always)]
            pub const fn raw(self) -> u64 {
                self.0
            }

            /// Whether it is the first byte of a page.
            #[inline(always)]
            pub const fn is_page_aligned(self) -> bool {
                self.0.is_multiple_of(PAGE_SIZE)
            }

            /// Its offset in its page.
            #[inline(always)]
            pub const fn page_offset(self) -> u64 {
                self.0 % PAGE_SIZE
            }

            /// The first byte of its page.
            #[inline(always)]
            pub const fn page(self) -> $name {
                $name(self.0 & !(PAGE_SIZE - 1))
            }
        }

        impl Add<u64> for $name {
            type Output = $name;

            /// The address `bytes` further on.
            #[inline(always)]
            fn add(self, bytes: u64) -> $name {
                $name(self.0 + bytes)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:#x})"), self.0)
            }
        }

        impl fmt::LowerHex for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::LowerHex::fmt(&self.0, f)
            }
        }
    };
}

address!(PhysAddr, "physical address");
address!(VirtAddr, "virtual address");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_keep_their_kind_through_arithmetic_and_print_in_hex() {
        let pa = PhysAddr::new(0x4000_1234);
        assert_eq!((pa + 8).raw(), 0x4000_123c);
        assert_eq!(
            (pa.page(), pa.page_offset(), pa.is_page_aligned()),
            (PhysAddr::new(0x4000_1000), 0x234, false)
        );
        assert!(pa.page().is_page_aligned());
        assert_eq!(std::format!("{pa:?} {pa:#x}"), "PhysAddr(0x40001234) 0x40001234");
        let va = VirtAddr::new(0x20_0000);
        assert_eq!(std::format!("{:?}", va + 0x1000), "VirtAddr(0x201000)");
    }
}
