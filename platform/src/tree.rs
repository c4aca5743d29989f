// SPDX-License-Identifier: MIT OR Apache-2.0
//! A read-only view of a validated device tree: nodes, properties, paths, phandles.
//!
//! Why not the `fdt` crate's navigation? Two reasons found while writing this crate.
//! First, `fdt` 0.1.5 panics on malformed input, which [`crate::dt_check`] rules out, but
//! it also mis-walks *well-formed* blobs that contain `FDT_NOP` tokens between nodes or
//! properties: children after a NOP vanish, and skipping such a node trips an
//! `assert_eq!`. QEMU produces exactly such blobs: when it boots a guest with `-dtb`, it
//! NOPs out the old `/memory` nodes and appends its own. Second, resolving
//! `stdout-path` to a CPU physical address needs a node's *ancestors* (for their
//! `ranges`), which `fdt` does not expose. So the crate walks the blob itself: the
//! validator has already proved every offset sound, and every read here is still a
//! bounds-checked `get` that yields `None` rather than panicking (defence in depth).
//!
//! The model is small: a [`Node`] is its name plus the offset of its first property in
//! the structure block. Properties are the `PROP` tokens that follow; children are the
//! `BEGIN_NODE` tokens after those; `NOP`s are skipped everywhere.
#![forbid(unsafe_code)]

use crate::dt_check::{
    self, FDT_BEGIN_NODE, FDT_END_NODE, FDT_NOP, FDT_PROP, MAX_DEPTH, align4, be32, be64, cstr_at,
};
use crate::error::NodePath;
use crate::fixed::FixedVec;

/// A validated device tree.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Tree<'a> {
    structs: &'a [u8],
    strings: &'a [u8],
    mem_reserve: &'a [u8],
}

/// One node of the tree.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Node<'a> {
    tree: Tree<'a>,
    /// The node's name, e.g. `cpu@100` (empty for the root).
    pub name: &'a str,
    /// Offset (in the structure block) just after the name: the first property.
    body: usize,
}

/// A node and its ancestors, root first, the node itself last.
pub(crate) type Lineage<'a> = FixedVec<Node<'a>, MAX_DEPTH>;

impl<'a> Tree<'a> {
    /// Validates `blob` and returns a view of it.
    pub fn new(blob: &'a [u8]) -> Result<Tree<'a>, dt_check::DtFault> {
        let layout = dt_check::check(blob)?;
        Ok(Tree {
            structs: &blob[layout.structs],
            strings: &blob[layout.strings],
            mem_reserve: &blob[layout.mem_reserve],
        })
    }

    fn token(&self, off: usize) -> Option<u32> {
        be32(self.structs, off)
    }

    fn skip_nops(&self, mut off: usize) -> usize {
        while self.token(off) == Some(FDT_NOP) {
            off += 4;
        }
        off
    }

    /// The node whose `BEGIN_NODE` token is at `off`, and the offset after its name.
    fn node_at(&self, off: usize) -> Option<Node<'a>> {
        let name = cstr_at(self.structs, off + 4)?.ok()?;
        Some(Node { tree: *self, name, body: align4(off + 4 + name.len() + 1)? })
    }

    /// The property whose `PROP` token is at `off`, and the offset after it.
    fn prop_at(&self, off: usize) -> Option<(&'a str, &'a [u8], usize)> {
        let len = be32(self.structs, off + 4)? as usize;
        let name_off = be32(self.structs, off + 8)? as usize;
        let value = self.structs.get(off + 12..(off + 12).checked_add(len)?)?;
        let name = cstr_at(self.strings, name_off)?.ok()?;
        Some((name, value, align4(off + 12 + len)?))
    }

    /// Skips the whole node starting at the `BEGIN_NODE` at `off`.
    fn skip_node(&self, mut off: usize) -> Option<usize> {
        let mut depth = 0usize;
        loop {
            match self.token(off)? {
                FDT_BEGIN_NODE => {
                    depth += 1;
                    off = self.node_at(off)?.body;
                }
                FDT_END_NODE => {
                    depth = depth.checked_sub(1)?;
                    off += 4;
                    if depth == 0 {
                        return Some(off);
                    }
                }
                FDT_PROP => off = self.prop_at(off)?.2,
                FDT_NOP => off += 4,
                _ => return None,
            }
        }
    }

    /// The root node.
    pub fn root(&self) -> Option<Node<'a>> {
        let off = self.skip_nops(0);
        match self.token(off)? {
            FDT_BEGIN_NODE => self.node_at(off),
            _ => None,
        }
    }

    /// Every node, depth first, in blob order.
    pub fn all_nodes(&self) -> impl Iterator<Item = Node<'a>> + 'a {
        let tree = *self;
        let mut off = 0usize;
        core::iter::from_fn(move || {
            loop {
                match tree.token(off)? {
                    FDT_BEGIN_NODE => {
                        let node = tree.node_at(off)?;
                        off = node.body;
                        return Some(node);
                    }
                    FDT_PROP => off = tree.prop_at(off)?.2,
                    FDT_END_NODE | FDT_NOP => off += 4,
                    _ => return None,
                }
            }
        })
    }

    /// The node at an absolute `path` (`/`, `/cpus`, `/soc/serial@1000`), with its
    /// ancestors. A path component without `@` also matches a name with a unit address,
    /// as the spec allows when unambiguous.
    pub fn find_path(&self, path: &str) -> Option<Lineage<'a>> {
        let mut lineage = Lineage::new();
        let mut node = self.root()?;
        lineage.push(node).ok()?;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            node = node.children().find(|c| name_matches(c.name, part))?;
            lineage.push(node).ok()?;
        }
        Some(lineage)
    }

    /// `node` with its ancestors (found by walking the tree from the root).
    pub fn lineage_of(&self, node: &Node<'a>) -> Option<Lineage<'a>> {
        let mut stack = Lineage::new();
        let mut off = 0usize;
        loop {
            match self.token(off)? {
                FDT_BEGIN_NODE => {
                    let n = self.node_at(off)?;
                    stack.push(n).ok()?;
                    if n.body == node.body {
                        return Some(stack);
                    }
                    off = n.body;
                }
                FDT_END_NODE => {
                    let len = stack.len().checked_sub(1)?;
                    let mut shorter = Lineage::new();
                    for n in &stack[..len] {
                        shorter.push(*n).ok()?;
                    }
                    stack = shorter;
                    off += 4;
                }
                FDT_PROP => off = self.prop_at(off)?.2,
                FDT_NOP => off += 4,
                _ => return None,
            }
        }
    }

    /// The node whose `phandle` (or legacy `linux,phandle`) is `phandle`.
    pub fn find_phandle(&self, phandle: u32) -> Option<Node<'a>> {
        self.all_nodes().find(|n| n.phandle() == Some(phandle))
    }

    /// The `/memreserve/` entries, `(address, size)`, up to the `(0, 0)` terminator.
    pub fn mem_reservations(&self) -> impl Iterator<Item = (u64, u64)> + 'a {
        let rsv = self.mem_reserve;
        let mut off = 0usize;
        core::iter::from_fn(move || {
            let entry = (be64(rsv, off)?, be64(rsv, off + 8)?);
            off += 16;
            (entry != (0, 0)).then_some(entry)
        })
    }
}

/// True when a node called `name` answers to path component `part`.
fn name_matches(name: &str, part: &str) -> bool {
    name == part || (!part.contains('@') && name.split('@').next() == Some(part))
}

impl<'a> Node<'a> {
    /// The node's properties as `(name, value)`.
    pub fn properties(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        let tree = self.tree;
        let mut off = self.body;
        core::iter::from_fn(move || {
            off = tree.skip_nops(off);
            if tree.token(off)? != FDT_PROP {
                return None;
            }
            let (name, value, next) = tree.prop_at(off)?;
            off = next;
            Some((name, value))
        })
    }

    /// The node's children, in blob order.
    pub fn children(&self) -> impl Iterator<Item = Node<'a>> + 'a {
        let tree = self.tree;
        let mut off = self.body;
        // Skip the properties first (validated: they all precede the children).
        loop {
            off = tree.skip_nops(off);
            match tree.token(off).and_then(|t| (t == FDT_PROP).then(|| tree.prop_at(off))) {
                Some(Some((_, _, next))) => off = next,
                _ => break,
            }
        }
        core::iter::from_fn(move || {
            off = tree.skip_nops(off);
            if tree.token(off)? != FDT_BEGIN_NODE {
                return None;
            }
            let child = tree.node_at(off)?;
            off = tree.skip_node(off)?;
            Some(child)
        })
    }

    /// The child called `name` (see [`Tree::find_path`] for matching).
    pub fn child(&self, name: &str) -> Option<Node<'a>> {
        self.children().find(|c| name_matches(c.name, name))
    }

    /// The raw value of property `name`.
    pub fn prop(&self, name: &str) -> Option<&'a [u8]> {
        self.properties().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Property `name` as exactly one `u32` cell; `Some(Err(len))` for another length.
    pub fn prop_u32(&self, name: &str) -> Option<Result<u32, usize>> {
        self.prop(name).map(|v| match v.len() {
            4 => be32(v, 0).ok_or(v.len()),
            len => Err(len),
        })
    }

    /// Property `name` as one or two cells (`u32` or `u64`); `Some(Err(len))` otherwise.
    pub fn prop_u32_or_u64(&self, name: &str) -> Option<Result<u64, usize>> {
        self.prop(name).map(|v| match v.len() {
            4 => be32(v, 0).map(u64::from).ok_or(4),
            8 => be64(v, 0).ok_or(8),
            len => Err(len),
        })
    }

    /// Property `name` as a string (its first NUL-terminated, UTF-8 string).
    pub fn prop_str(&self, name: &str) -> Option<&'a str> {
        self.prop_strs(name).next()
    }

    /// Property `name` as a string list (NUL-separated).
    pub fn prop_strs(&self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let value = self.prop(name).unwrap_or(&[]);
        let value = value.strip_suffix(&[0]).unwrap_or(value);
        value
            .split(|&b| b == 0)
            .filter(move |_| !value.is_empty())
            .filter_map(|s| core::str::from_utf8(s).ok())
    }

    /// True when `compatible` lists `what`.
    pub fn is_compatible(&self, what: &str) -> bool {
        self.prop_strs("compatible").any(|c| c == what)
    }

    /// True when `status` is absent, `"okay"` or `"ok"`.
    pub fn is_enabled(&self) -> bool {
        match self.prop("status") {
            None => true,
            Some(_) => matches!(self.prop_str("status"), Some("okay" | "ok")),
        }
    }

    /// The node's phandle, if it has one.
    pub fn phandle(&self) -> Option<u32> {
        self.prop_u32("phandle").or_else(|| self.prop_u32("linux,phandle")).and_then(Result::ok)
    }

    /// `#address-cells` and `#size-cells` for this node's children (defaults 2 and 1,
    /// DT spec 2.3.5). A malformed value reads as `u32::MAX`, which every caller refuses.
    pub fn child_cells(&self) -> (u32, u32) {
        let cells = |name, default| match self.prop_u32(name) {
            None => default,
            Some(Ok(v)) => v,
            Some(Err(_)) => u32::MAX,
        };
        (cells("#address-cells", 2), cells("#size-cells", 1))
    }
}

/// The path of the last node of `lineage`.
pub(crate) fn path_of(lineage: &Lineage<'_>) -> NodePath {
    let mut path = NodePath::NONE;
    if lineage.len() <= 1 {
        path.push("");
        return path;
    }
    for n in &lineage[1..] {
        path.push(n.name);
    }
    path
}

/// Reads a number of `cells` 32-bit cells (0, 1 or 2) from the front of `bytes`.
pub(crate) fn read_cells(bytes: &[u8], cells: u32) -> Option<u64> {
    match cells {
        0 => Some(0),
        1 => be32(bytes, 0).map(u64::from),
        2 => be64(bytes, 0),
        _ => None,
    }
}

/// Splits a `reg`-style property into `(address, size)` pairs with the given cell
/// counts. Returns `None` when the counts are unsupported or the length is not a whole
/// number of entries.
pub(crate) fn reg_entries(
    value: &[u8],
    address_cells: u32,
    size_cells: u32,
) -> Option<impl Iterator<Item = (u64, u64)> + '_> {
    if !(1..=2).contains(&address_cells) || size_cells > 2 {
        return None;
    }
    let entry = ((address_cells + size_cells) * 4) as usize;
    if !value.len().is_multiple_of(entry) {
        return None;
    }
    Some(value.chunks_exact(entry).filter_map(move |e| {
        let a = read_cells(e, address_cells)?;
        let s = read_cells(e.get(address_cells as usize * 4..)?, size_cells)?;
        Some((a, s))
    }))
}

/// Translates `addr`, a bus address of the last node of `lineage` (as its `reg` says),
/// into a CPU physical address by applying every ancestor bus's `ranges`
/// (DT spec 2.3.8). `None` when a bus has no `ranges` (its children are not
/// memory-mapped) or no entry covers `addr`.
pub(crate) fn translate(lineage: &Lineage<'_>, mut addr: u64) -> Option<u64> {
    // lineage[i] is a bus whose children use its cells; lineage[i - 1] is its parent.
    let last = lineage.len().checked_sub(1)?;
    for i in (1..last).rev() {
        let bus = lineage[i];
        let parent = lineage[i - 1];
        let ranges = bus.prop("ranges")?;
        if ranges.is_empty() {
            continue; // identity mapping
        }
        let (child_ac, child_sc) = bus.child_cells();
        let (parent_ac, _) = parent.child_cells();
        if child_ac > 2 || child_sc > 2 || parent_ac > 2 {
            return None;
        }
        let entry = ((child_ac + parent_ac + child_sc) * 4) as usize;
        if entry == 0 || ranges.len() % entry != 0 {
            return None;
        }
        addr = ranges.chunks_exact(entry).find_map(|e| {
            let child = read_cells(e, child_ac)?;
            let parent_base = read_cells(e.get(child_ac as usize * 4..)?, parent_ac)?;
            let size = read_cells(e.get((child_ac + parent_ac) as usize * 4..)?, child_sc)?;
            let offset = addr.checked_sub(child)?;
            (offset < size).then(|| parent_base.checked_add(offset))?
        })?;
    }
    Some(addr)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::dtb_writer::DtbWriter;
    use std::vec::Vec;

    fn sample() -> Vec<u8> {
        let mut w = DtbWriter::new();
        w.begin("");
        w.prop_u32("#address-cells", 2);
        w.prop_u32("#size-cells", 2);
        w.begin("memory@0");
        w.end();
        w.nop();
        w.nop();
        w.begin("soc");
        w.prop_u32("#address-cells", 1);
        w.prop_u32("#size-cells", 1);
        w.nop();
        w.prop_cells("ranges", &[0, 0x10, 0x2000_0000, 0x1000_0000]);
        w.begin("serial@1000");
        w.prop_strs("compatible", &["arm,pl011", "arm,primecell"]);
        w.prop_cells("reg", &[0x1000, 0x100]);
        w.prop_u32("phandle", 7);
        w.end();
        w.end();
        w.begin("chosen");
        w.end();
        w.end();
        w.finish()
    }

    #[test]
    fn children_after_nop_tokens_are_found() {
        let blob = sample();
        let tree = Tree::new(&blob).unwrap();
        let root = tree.root().unwrap();
        let names: Vec<_> = root.children().map(|c| c.name).collect();
        assert_eq!(names, ["memory@0", "soc", "chosen"]);
        let soc = root.child("soc").unwrap();
        assert!(soc.prop("ranges").is_some());
        assert_eq!(soc.child_cells(), (1, 1));
    }

    #[test]
    fn paths_resolve_with_or_without_unit_addresses() {
        let blob = sample();
        let tree = Tree::new(&blob).unwrap();
        let l = tree.find_path("/soc/serial").unwrap();
        assert_eq!(l.len(), 3);
        assert_eq!(path_of(&l).as_str(), "/soc/serial@1000");
        assert!(tree.find_path("/soc/serial@1000").is_some());
        assert!(tree.find_path("/soc/serial@2000").is_none());
        assert_eq!(path_of(&tree.find_path("/").unwrap()).as_str(), "/");
    }

    #[test]
    fn addresses_translate_through_bus_ranges() {
        let blob = sample();
        let tree = Tree::new(&blob).unwrap();
        let l = tree.find_path("/soc/serial").unwrap();
        assert_eq!(translate(&l, 0x1000), Some(0x10_2000_1000));
        assert_eq!(translate(&l, 0x2000_0000), None);
    }

    #[test]
    fn phandles_strings_and_lineage_are_found() {
        let blob = sample();
        let tree = Tree::new(&blob).unwrap();
        let serial = tree.find_phandle(7).unwrap();
        assert!(serial.is_compatible("arm,primecell"));
        assert_eq!(serial.prop_str("compatible"), Some("arm,pl011"));
        let l = tree.lineage_of(&serial).unwrap();
        assert_eq!(path_of(&l).as_str(), "/soc/serial@1000");
        assert_eq!(tree.all_nodes().count(), 5);
    }
}
