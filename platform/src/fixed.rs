// SPDX-License-Identifier: MIT OR Apache-2.0
//! `FixedVec`: a tiny vector with its capacity fixed at compile time.
//!
//! The kernel reads the device tree before it has any allocator (the allocators are
//! built *from* what the device tree says), so everything the board description holds
//! must live in storage whose size is known up front. `FixedVec` is that storage: an
//! array plus a length. Pushing past the capacity is an error the caller must handle,
//! never a silent truncation and never a panic.
//!
//! Elements are `Copy + Default` so the backing array can be filled without `unsafe`
//! (no `MaybeUninit`): the unused tail simply holds default values nobody can see.
#![forbid(unsafe_code)]

use core::fmt;
use core::ops::Deref;

/// The vector is at capacity; the element was not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

impl fmt::Display for Full {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fixed-capacity vector is full")
    }
}

/// A vector of at most `N` elements, stored inline.
#[derive(Clone, Copy)]
pub struct FixedVec<T: Copy + Default, const N: usize> {
    items: [T; N],
    len: usize,
}

impl<T: Copy + Default, const N: usize> FixedVec<T, N> {
    /// An empty vector.
    pub fn new() -> Self {
        FixedVec { items: [T::default(); N], len: 0 }
    }

    /// An empty vector whose unused slots hold `fill`: usable in `const` and `static`
    /// initialisers (where `Default::default` cannot be called).
    pub const fn filled(fill: T) -> Self {
        FixedVec { items: [fill; N], len: 0 }
    }

    /// Forgets every element (the slots keep their stale values, unseen).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Appends `item`, or returns [`Full`] when all `N` slots are taken.
    pub fn push(&mut self, item: T) -> Result<(), Full> {
        let slot = self.items.get_mut(self.len).ok_or(Full)?;
        *slot = item;
        self.len += 1;
        Ok(())
    }

    /// The stored elements, in insertion order.
    pub fn as_slice(&self) -> &[T] {
        &self.items[..self.len]
    }

    /// The stored elements, mutably (for in-place sorting).
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.items[..self.len]
    }

    /// The number of stored elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The capacity, `N`.
    pub const fn capacity(&self) -> usize {
        N
    }
}

impl<T: Copy + Default, const N: usize> Default for FixedVec<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy + Default, const N: usize> Deref for FixedVec<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Copy + Default + fmt::Debug, const N: usize> fmt::Debug for FixedVec<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<T: Copy + Default + PartialEq, const N: usize> PartialEq for FixedVec<T, N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_fills_up_to_capacity_then_reports_full() {
        let mut v: FixedVec<u8, 2> = FixedVec::new();
        assert_eq!(FixedVec::<u8, 2>::filled(7).len(), 0);
        assert_eq!(v.push(1), Ok(()));
        assert_eq!(v.push(2), Ok(()));
        assert_eq!(v.push(3), Err(Full));
        assert_eq!(v.as_slice(), &[1, 2]);
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn an_empty_vector_derefs_to_an_empty_slice() {
        let v: FixedVec<u32, 4> = FixedVec::default();
        assert!(v.is_empty());
        assert_eq!(v.iter().count(), 0);
        assert_eq!(v.capacity(), 4);
    }
}
