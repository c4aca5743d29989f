// SPDX-License-Identifier: MIT OR Apache-2.0
//! Regions: what the application (or its loader) declares about its address range, and
//! where each page of a region gets its frame.
//!
//! The paper's runtime distinguishes two kinds of memory:
//! - **global**: one frame per page, the same in every node's space (shared data). A
//!   placement [`Policy`] decides the node of the frame when the page is first made:
//!   the node that touched it first, the nodes in turn (interleave), or one fixed
//!   node.
//! - **node-local**: a different frame per node at the same address. Its contents come
//!   from a [`Source`]: a copy of a template page (code and read-only data: each node
//!   executes its own replica), or fresh zeroed frames (stacks, per-node buffers).
//!
//! A pager looks the faulting address up ([`Regions::find`]) and acts on the kind. Pure
//! logic, host-tested.

/// What a program's threads may do with a page the runtime gives them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read and write (data, bss, heap, stacks, regions).
    ReadWrite,
    /// Read and execute (code).
    ReadExecute,
    /// Read only (read-only data).
    Read,
}

/// Where a global page's frame is allocated when the page is first made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// On the node whose thread touched it first.
    FirstTouch,
    /// Page `i` on the `i mod n`-th of the application's `n` nodes.
    Interleave,
    /// Always on this node slot.
    Fixed(usize),
}

impl Policy {
    /// The node slot (of `slots`, `0..slots`) for page `index` of a region first
    /// touched from slot `toucher`.
    pub fn place(self, index: usize, toucher: usize, slots: usize) -> usize {
        match self {
            Policy::FirstTouch => toucher,
            Policy::Interleave => index % slots.max(1),
            Policy::Fixed(slot) if slot < slots => slot,
            Policy::Fixed(_) => toucher,
        }
    }
}

/// Where a node-local page's contents come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A copy of the page at the same address in the runtime's own space (code,
    /// read-only data: replicated per node).
    Template,
    /// A zeroed frame (stacks, per-node data).
    Zero,
}

/// What a region is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One frame per page for all nodes, placed by the policy.
    Global(Policy),
    /// One frame per page per node.
    NodeLocal(Source),
}

/// A declared range of pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// A name for reports.
    pub name: &'static str,
    /// First address (page aligned).
    pub base: u64,
    /// Length in pages.
    pub pages: usize,
    /// What it is.
    pub kind: Kind,
}

/// Why a region table was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionError {
    /// A region's base is not page aligned, it is empty, or it wraps around.
    Malformed(usize),
    /// Regions `a` and `b` overlap.
    Overlap(usize, usize),
}

/// A checked table of regions (no overlaps).
#[derive(Clone, Copy, Debug)]
pub struct Regions<'a> {
    table: &'a [Region],
}

/// Bytes in a page.
pub const PAGE: u64 = 4096;

impl<'a> Regions<'a> {
    /// Checks `table`: every region aligned, non-empty, not wrapping, and no two
    /// overlapping.
    pub fn new(table: &'a [Region]) -> Result<Regions<'a>, RegionError> {
        let end = |r: &Region| r.base.checked_add(r.pages as u64 * PAGE);
        for (i, r) in table.iter().enumerate() {
            if !r.base.is_multiple_of(PAGE) || r.pages == 0 || end(r).is_none() {
                return Err(RegionError::Malformed(i));
            }
        }
        for (a, ra) in table.iter().enumerate() {
            for (b, rb) in table.iter().enumerate().skip(a + 1) {
                if ra.base < end(rb).unwrap_or(u64::MAX) && rb.base < end(ra).unwrap_or(u64::MAX) {
                    return Err(RegionError::Overlap(a, b));
                }
            }
        }
        Ok(Regions { table })
    }

    /// The region holding `va` and the page's index in it.
    pub fn find(&self, va: u64) -> Option<(usize, usize)> {
        self.table.iter().enumerate().find_map(|(i, r)| {
            let off = va.checked_sub(r.base)?;
            let page = (off / PAGE) as usize;
            (page < r.pages).then_some((i, page))
        })
    }

    /// Region `i`.
    pub fn get(&self, i: usize) -> Option<&Region> {
        self.table.get(i)
    }

    /// The regions.
    pub fn iter(&self) -> impl Iterator<Item = &Region> {
        self.table.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn region(name: &'static str, base: u64, pages: usize, kind: Kind) -> Region {
        Region { name, base, pages, kind }
    }

    #[test]
    fn addresses_find_their_region_and_page() {
        let table = [
            region("code", 0x40_0000, 16, Kind::NodeLocal(Source::Template)),
            region("data", 0x80_0000_0000, 8, Kind::Global(Policy::FirstTouch)),
        ];
        let r = Regions::new(&table).unwrap();
        assert_eq!(r.find(0x40_0000), Some((0, 0)));
        assert_eq!(r.find(0x40_0FFF + 0x1000), Some((0, 1)));
        assert_eq!(r.find(0x40_0000 + 16 * PAGE), None, "one past the end");
        assert_eq!(r.find(0x80_0000_7123), Some((1, 7)));
        assert_eq!(r.find(0x3F_FFFF), None);
        assert_eq!(r.find(u64::MAX), None);
    }

    #[test]
    fn bad_tables_are_refused() {
        let ok = region("a", 0x1000, 2, Kind::NodeLocal(Source::Zero));
        assert_eq!(Regions::new(&[region("x", 0x1001, 1, ok.kind)]).err(), Some(RegionError::Malformed(0)));
        assert_eq!(
            Regions::new(&[ok, region("x", 0x9000, 0, ok.kind)]).err(),
            Some(RegionError::Malformed(1))
        );
        let wraps = region("x", !0xFFF, 2, ok.kind);
        assert_eq!(Regions::new(&[wraps]).err(), Some(RegionError::Malformed(0)));
        assert_eq!(
            Regions::new(&[ok, region("b", 0x2000, 4, ok.kind)]).err(),
            Some(RegionError::Overlap(0, 1))
        );
        assert!(Regions::new(&[ok, region("b", 0x3000, 4, ok.kind)]).is_ok(), "adjacent is fine");
    }

    #[test]
    fn policies_place_pages() {
        assert_eq!(Policy::FirstTouch.place(5, 2, 4), 2);
        assert_eq!((0..6).map(|i| Policy::Interleave.place(i, 3, 4)).collect::<Vec<_>>(), [0, 1, 2, 3, 0, 1]);
        assert_eq!(Policy::Fixed(1).place(9, 3, 4), 1);
        assert_eq!(Policy::Fixed(7).place(9, 3, 4), 3, "a node the application lacks: first touch");
        assert_eq!(Policy::Interleave.place(3, 0, 0), 0, "no nodes: slot 0, no division by zero");
    }
}
