// SPDX-License-Identifier: MIT OR Apache-2.0
//! The device-tree validator: prove a blob well-formed before anything reads it.
//!
//! A flattened device tree (DTB) arrives from firmware, a boot loader or QEMU as a bag of
//! bytes at an address in x0. Every later step follows offsets and lengths stored *inside*
//! those bytes, so a truncated or corrupt blob would make a naive reader index out of
//! bounds (a panic, in Rust; a wild read, in C). The `fdt` crate we depend on behaves that
//! way: it asserts and `expect`s on bad structure. Rather than sprinkle checks through
//! every reader, this module walks the whole blob *once* and checks every rule the
//! readers rely on. Only a blob that passes is handed on ("validate, then assume").
//!
//! # Design
//!
//! ```text
//!  offset 0        off_mem_rsvmap     off_dt_struct              off_dt_strings   totalsize
//!  | header (40 B) | (addr,size)* 0,0 | BEGIN_NODE "" PROP ... END | "compatible\0..." |
//! ```
//!
//! The header check bounds every block inside `totalsize` and inside the slice. The slice
//! may end before `totalsize` when only the free space at the end is missing: a loader
//! may declare far more than the blob uses (QEMU's `-dtb` doubles a file's size, plus
//! slack, to leave room for its edits), and the kernel maps only the used part
//! (`kernel/src/mm/early.rs`). A block that runs past the slice is still refused. The
//! structure walk then reads every token: `BEGIN_NODE` (a NUL-terminated UTF-8 name,
//! padded to 4 bytes), `PROP` (length, name offset into the strings block, value, padding),
//! `END_NODE`, `NOP`, and finally `END`. It keeps a depth counter to check that nodes
//! balance, that there is exactly one root, that properties come before child nodes (the
//! readers stop at the first child), and that nesting stays below [`MAX_DEPTH`].
//!
//! # Invariants
//!
//! After `check` returns `Ok(layout)`, for the blob it was given:
//! - every range in `layout` lies inside the blob;
//! - walking tokens from the start of the structure block reaches `END` at depth 0 after
//!   exactly one root node, with every read inside the block;
//! - every name (node or property) is NUL-terminated UTF-8 inside its block;
//! - nesting depth is below [`MAX_DEPTH`].
//!
//! # References
//!
//! - Devicetree Specification v0.4, chapter 5 "Flattened Devicetree (DTB) Format".
//! - Linux `scripts/dtc/libfdt/fdt.c` (`fdt_check_header`, `fdt_next_tag`) does the
//!   same job for C readers.
#![forbid(unsafe_code)]

use core::fmt;
use core::ops::Range;

/// The DTB magic number, big-endian at offset 0.
pub const FDT_MAGIC: u32 = 0xd00d_feed;
/// Nodes may nest at most this deep (the root is depth 1). Real trees stay below 10;
/// the limit bounds the readers' stacks.
pub const MAX_DEPTH: usize = 32;

pub(crate) const FDT_BEGIN_NODE: u32 = 1;
pub(crate) const FDT_END_NODE: u32 = 2;
pub(crate) const FDT_PROP: u32 = 3;
pub(crate) const FDT_NOP: u32 = 4;
pub(crate) const FDT_END: u32 = 9;

/// The oldest header layout we read (v16 lacks `size_dt_struct`, v17 has it).
const MIN_VERSION: u32 = 16;
/// The newest format we understand; a blob whose `last_comp_version` is newer is
/// refused.
const MAX_COMPAT_VERSION: u32 = 17;
const V16_HEADER_LEN: usize = 36;
const V17_HEADER_LEN: usize = 40;

/// Which block of the blob a fault is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Block {
    /// The header.
    Header,
    /// The memory reservation block.
    MemReserve,
    /// The structure block.
    Struct,
    /// The strings block.
    Strings,
}

/// Why a blob is not a well-formed DTB. Offsets are from the start of the blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtFault {
    /// The slice is shorter than the header.
    TooShortForHeader {
        /// Bytes available.
        len: usize,
    },
    /// The first word is not `0xd00dfeed`.
    BadMagic {
        /// The word found.
        found: u32,
    },
    /// `totalsize` is larger than the slice, or smaller than the header.
    BadTotalSize {
        /// The header's `totalsize`.
        totalsize: u32,
        /// Bytes available.
        len: usize,
    },
    /// A format version we cannot read.
    UnsupportedVersion {
        /// `version`.
        version: u32,
        /// `last_comp_version`.
        last_comp: u32,
    },
    /// A block lies (partly) outside `totalsize` or overlaps the header.
    BlockOutOfBounds {
        /// Which block.
        block: Block,
    },
    /// A block offset or size is not aligned as the spec requires.
    Misaligned {
        /// Which block.
        block: Block,
    },
    /// The reservation list has no `(0, 0)` terminator inside the blob.
    UnterminatedMemReserve,
    /// A read would leave the structure block.
    Truncated {
        /// Where the read started.
        offset: usize,
    },
    /// An unknown token.
    BadToken {
        /// Where.
        offset: usize,
        /// The token value.
        token: u32,
    },
    /// A node name without a NUL inside the structure block.
    UnterminatedName {
        /// Where the name starts.
        offset: usize,
    },
    /// A node or property name that is not UTF-8.
    NameNotUtf8 {
        /// Where the name starts.
        offset: usize,
    },
    /// A property's name offset points outside the strings block or at an
    /// unterminated string.
    BadNameOffset {
        /// Where the property is.
        offset: usize,
        /// Its name offset.
        name_offset: u32,
    },
    /// A property outside any node, or after a child node.
    MisplacedProperty {
        /// Where.
        offset: usize,
    },
    /// `END_NODE` with no node open, or `END` with nodes still open.
    Unbalanced {
        /// Where.
        offset: usize,
    },
    /// A second top-level node.
    MultipleRoots {
        /// Where.
        offset: usize,
    },
    /// The root node has a non-empty name.
    NamedRoot,
    /// No `END` token before the end of the structure block.
    MissingEnd,
    /// Bytes after `END` inside a version-17 structure block.
    DataAfterEnd {
        /// Where the `END` token is.
        offset: usize,
    },
    /// Nodes nest deeper than [`MAX_DEPTH`].
    TooDeep {
        /// Where.
        offset: usize,
    },
}

impl fmt::Display for DtFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DtFault::*;
        match *self {
            TooShortForHeader { len } => write!(f, "{len} bytes is too short for a header"),
            BadMagic { found } => write!(f, "bad magic {found:#010x}"),
            BadTotalSize { totalsize, len } => {
                write!(f, "totalsize {totalsize} does not fit the {len}-byte blob")
            }
            UnsupportedVersion { version, last_comp } => {
                write!(f, "unsupported version {version} (compatible with {last_comp})")
            }
            BlockOutOfBounds { block } => write!(f, "{block:?} block out of bounds"),
            Misaligned { block } => write!(f, "{block:?} block misaligned"),
            UnterminatedMemReserve => f.write_str("memory reservation list not terminated"),
            Truncated { offset } => write!(f, "structure block truncated at {offset:#x}"),
            BadToken { offset, token } => write!(f, "bad token {token:#x} at {offset:#x}"),
            UnterminatedName { offset } => write!(f, "unterminated node name at {offset:#x}"),
            NameNotUtf8 { offset } => write!(f, "name at {offset:#x} is not UTF-8"),
            BadNameOffset { offset, name_offset } => {
                write!(f, "property at {offset:#x} has bad name offset {name_offset:#x}")
            }
            MisplacedProperty { offset } => write!(f, "misplaced property at {offset:#x}"),
            Unbalanced { offset } => write!(f, "unbalanced node nesting at {offset:#x}"),
            MultipleRoots { offset } => write!(f, "second root node at {offset:#x}"),
            NamedRoot => f.write_str("root node has a name"),
            MissingEnd => f.write_str("no END token"),
            DataAfterEnd { offset } => write!(f, "data after END token at {offset:#x}"),
            TooDeep { offset } => write!(f, "nodes nest deeper than {MAX_DEPTH} at {offset:#x}"),
        }
    }
}

/// Where the blocks of a validated blob are (byte ranges of the blob).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub structs: Range<usize>,
    pub strings: Range<usize>,
    pub mem_reserve: Range<usize>,
}

/// Reads a big-endian `u32` at `off`, if it is inside `bytes`.
pub(crate) fn be32(bytes: &[u8], off: usize) -> Option<u32> {
    let b = bytes.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a big-endian `u64` at `off`, if it is inside `bytes`.
pub(crate) fn be64(bytes: &[u8], off: usize) -> Option<u64> {
    Some((u64::from(be32(bytes, off)?) << 32) | u64::from(be32(bytes, off.checked_add(4)?)?))
}

/// The NUL-terminated string starting at `off`: `None` if unterminated, `Some(Err)` if
/// not UTF-8.
pub(crate) fn cstr_at(bytes: &[u8], off: usize) -> Option<Result<&str, core::str::Utf8Error>> {
    let tail = bytes.get(off..)?;
    let nul = tail.iter().position(|&b| b == 0)?;
    Some(core::str::from_utf8(&tail[..nul]))
}

/// Rounds up to the next multiple of 4.
pub(crate) fn align4(x: usize) -> Option<usize> {
    Some(x.checked_add(3)? & !3)
}

/// Checks `blob` and returns where its blocks are.
pub(crate) fn check(blob: &[u8]) -> Result<Layout, DtFault> {
    let layout = check_header(blob)?;
    check_mem_reserve(blob, &layout)?;
    check_structure(blob, &layout)?;
    Ok(layout)
}

fn header_field(blob: &[u8], index: usize) -> u32 {
    // Only called after the length check in `check_header`.
    be32(blob, index * 4).unwrap_or(0)
}

fn check_header(blob: &[u8]) -> Result<Layout, DtFault> {
    if blob.len() < V16_HEADER_LEN {
        return Err(DtFault::TooShortForHeader { len: blob.len() });
    }
    let magic = header_field(blob, 0);
    if magic != FDT_MAGIC {
        return Err(DtFault::BadMagic { found: magic });
    }
    let version = header_field(blob, 5);
    let last_comp = header_field(blob, 6);
    if version < MIN_VERSION || last_comp > MAX_COMPAT_VERSION {
        return Err(DtFault::UnsupportedVersion { version, last_comp });
    }
    let header_len = if version >= 17 { V17_HEADER_LEN } else { V16_HEADER_LEN };
    let totalsize = header_field(blob, 1);
    let total = totalsize as usize;
    if total < header_len {
        return Err(DtFault::BadTotalSize { totalsize, len: blob.len() });
    }
    // What the blocks may use: `totalsize`, or less when the caller holds only the used
    // part of a blob whose free space at the end it did not map (see the module docs).
    let limit = total.min(blob.len());
    let block = |off: u32, size: u32, which: Block| -> Result<Range<usize>, DtFault> {
        let start = off as usize;
        let end = start.checked_add(size as usize).filter(|&e| start >= header_len && e <= total);
        match end {
            Some(end) if end <= limit => Ok(start..end),
            // Inside `totalsize` but past the slice: the blob was cut short.
            Some(_) => Err(DtFault::BadTotalSize { totalsize, len: blob.len() }),
            None => Err(DtFault::BlockOutOfBounds { block: which }),
        }
    };
    let off_struct = header_field(blob, 2);
    let off_strings = header_field(blob, 3);
    let off_rsv = header_field(blob, 4);
    let size_strings = header_field(blob, 8);
    // A v16 header has no struct size: the block runs to the strings block or the end,
    // and the walk stops at END.
    let size_struct = if version >= 17 {
        header_field(blob, 9)
    } else if off_strings > off_struct {
        off_strings - off_struct
    } else {
        totalsize.saturating_sub(off_struct)
    };
    let structs = block(off_struct, size_struct, Block::Struct)?;
    let strings = block(off_strings, size_strings, Block::Strings)?;
    let limit_u32 = limit as u32; // <= totalsize, a u32
    let mem_reserve = block(off_rsv, limit_u32 - off_rsv.min(limit_u32), Block::MemReserve)?;
    if !off_struct.is_multiple_of(4) || size_struct % 4 != 0 {
        return Err(DtFault::Misaligned { block: Block::Struct });
    }
    if !off_rsv.is_multiple_of(8) {
        return Err(DtFault::Misaligned { block: Block::MemReserve });
    }
    Ok(Layout { structs, strings, mem_reserve })
}

fn check_mem_reserve(blob: &[u8], layout: &Layout) -> Result<(), DtFault> {
    let rsv = &blob[layout.mem_reserve.clone()];
    let mut off = 0;
    loop {
        let (Some(addr), Some(size)) = (be64(rsv, off), be64(rsv, off + 8)) else {
            return Err(DtFault::UnterminatedMemReserve);
        };
        if addr == 0 && size == 0 {
            return Ok(());
        }
        off += 16;
    }
}

/// What the walk has seen so far.
struct Walk {
    depth: usize,
    roots: usize,
    // True once the current node has had a child: later properties are misplaced.
    child_seen: [bool; MAX_DEPTH + 1],
}

fn check_structure(blob: &[u8], layout: &Layout) -> Result<(), DtFault> {
    let block = &blob[layout.structs.clone()];
    let strings = &blob[layout.strings.clone()];
    let base = layout.structs.start;
    let mut walk = Walk { depth: 0, roots: 0, child_seen: [false; MAX_DEPTH + 1] };
    // Only a v17 header says how long the structure block is; v16 stops at END.
    let v17 = be32(blob, 20).is_some_and(|v| v >= 17);
    let mut off = 0;
    loop {
        let at = base + off;
        let token = be32(block, off).ok_or(if off >= block.len() {
            DtFault::MissingEnd
        } else {
            DtFault::Truncated { offset: at }
        })?;
        off = match token {
            FDT_BEGIN_NODE => begin_node(block, off, base, &mut walk)?,
            FDT_END_NODE => {
                if walk.depth == 0 {
                    return Err(DtFault::Unbalanced { offset: at });
                }
                walk.depth -= 1;
                off + 4
            }
            FDT_PROP => property(block, strings, off, base, &walk)?,
            FDT_NOP => off + 4,
            FDT_END => return end(block, off, base, &walk, v17),
            _ => return Err(DtFault::BadToken { offset: at, token }),
        };
    }
}

fn begin_node(block: &[u8], off: usize, base: usize, walk: &mut Walk) -> Result<usize, DtFault> {
    let at = base + off;
    if walk.depth == 0 {
        walk.roots += 1;
        if walk.roots > 1 {
            return Err(DtFault::MultipleRoots { offset: at });
        }
    }
    walk.child_seen[walk.depth] = true;
    walk.depth += 1;
    if walk.depth >= MAX_DEPTH {
        return Err(DtFault::TooDeep { offset: at });
    }
    walk.child_seen[walk.depth] = false;
    let name_off = off + 4;
    let name = cstr_at(block, name_off)
        .ok_or(DtFault::UnterminatedName { offset: base + name_off })?
        .map_err(|_| DtFault::NameNotUtf8 { offset: base + name_off })?;
    if walk.depth == 1 && !name.is_empty() {
        return Err(DtFault::NamedRoot);
    }
    // The name fits in the block (it is terminated inside it), so this cannot overflow
    // past `block.len() + 3`; the next token read is bounds-checked anyway.
    align4(name_off + name.len() + 1).ok_or(DtFault::Truncated { offset: at })
}

fn property(block: &[u8], strings: &[u8], off: usize, base: usize, walk: &Walk) -> Result<usize, DtFault> {
    let at = base + off;
    if walk.depth == 0 || walk.child_seen[walk.depth] {
        return Err(DtFault::MisplacedProperty { offset: at });
    }
    let truncated = DtFault::Truncated { offset: at };
    let len = be32(block, off + 4).ok_or(truncated)? as usize;
    let name_offset = be32(block, off + 8).ok_or(truncated)?;
    let value_start = off + 12;
    let value_end = value_start.checked_add(len).ok_or(truncated)?;
    if value_end > block.len() {
        return Err(truncated);
    }
    let bad_name = DtFault::BadNameOffset { offset: at, name_offset };
    cstr_at(strings, name_offset as usize)
        .ok_or(bad_name)?
        .map_err(|_| DtFault::NameNotUtf8 { offset: at })?;
    align4(value_end).ok_or(truncated)
}

fn end(block: &[u8], off: usize, base: usize, walk: &Walk, v17: bool) -> Result<(), DtFault> {
    let at = base + off;
    if walk.depth != 0 || walk.roots != 1 {
        return Err(DtFault::Unbalanced { offset: at });
    }
    if v17 && off + 4 != block.len() {
        return Err(DtFault::DataAfterEnd { offset: at });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::dtb_writer::DtbWriter;
    use std::vec::Vec;

    fn tiny() -> Vec<u8> {
        let mut w = DtbWriter::new();
        w.begin("");
        w.prop_u32("#address-cells", 2);
        w.begin("cpus");
        w.prop_str("name", "x");
        w.end();
        w.end();
        w.finish()
    }

    fn set_be32(b: &mut [u8], off: usize, v: u32) {
        b[off..off + 4].copy_from_slice(&v.to_be_bytes());
    }

    #[test]
    fn a_well_formed_blob_passes() {
        assert!(check(&tiny()).is_ok());
    }

    #[test]
    fn a_bad_magic_is_named() {
        let mut b = tiny();
        b[0] = 0;
        assert!(matches!(check(&b), Err(DtFault::BadMagic { .. })));
    }

    #[test]
    fn a_totalsize_beyond_the_slice_is_refused() {
        let b = tiny();
        assert!(matches!(check(&b[..b.len() - 4]), Err(DtFault::BadTotalSize { .. })));
    }

    #[test]
    fn a_slice_without_the_free_space_at_the_end_is_read() {
        let mut b = tiny();
        let used = b.len();
        // Declare 1 MiB more than the blocks use, as QEMU's -dtb does: the free space
        // is not in the slice, and nothing needs it.
        set_be32(&mut b, 4, used as u32 + (1 << 20));
        let layout = check(&b).expect("the blocks all lie in the slice");
        assert!(layout.structs.end <= used && layout.strings.end <= used);
        // Cut into a block, and the blob is refused as too short for what it declares.
        assert!(matches!(check(&b[..used - 4]), Err(DtFault::BadTotalSize { .. })));
    }

    #[test]
    fn an_old_version_is_refused() {
        let mut b = tiny();
        set_be32(&mut b, 20, 15);
        assert!(matches!(check(&b), Err(DtFault::UnsupportedVersion { .. })));
    }

    #[test]
    fn a_struct_block_past_totalsize_is_refused() {
        let mut b = tiny();
        set_be32(&mut b, 36, 0x1000);
        assert_eq!(check(&b), Err(DtFault::BlockOutOfBounds { block: Block::Struct }));
    }

    #[test]
    fn a_misaligned_struct_block_is_refused() {
        let mut b = tiny();
        let size = be32(&b, 36).unwrap();
        set_be32(&mut b, 36, size - 2);
        assert_eq!(check(&b), Err(DtFault::Misaligned { block: Block::Struct }));
    }

    #[test]
    fn a_property_name_offset_outside_the_strings_block_is_refused() {
        let mut b = tiny();
        let off_struct = be32(&b, 8).unwrap() as usize;
        // BEGIN_NODE "" (8 bytes), then PROP len nameoff.
        set_be32(&mut b, off_struct + 16, 0xffff);
        assert!(matches!(check(&b), Err(DtFault::BadNameOffset { .. })));
    }

    #[test]
    fn a_missing_end_node_is_unbalanced() {
        let mut w = DtbWriter::new();
        w.begin("");
        w.begin("a");
        w.end();
        let b = w.finish();
        assert!(matches!(check(&b), Err(DtFault::Unbalanced { .. })));
    }

    #[test]
    fn two_roots_are_refused() {
        let mut w = DtbWriter::new();
        w.begin("");
        w.end();
        w.begin("");
        w.end();
        assert!(matches!(check(&w.finish()), Err(DtFault::MultipleRoots { .. })));
    }

    #[test]
    fn a_property_after_a_child_node_is_refused() {
        let mut w = DtbWriter::new();
        w.begin("");
        w.begin("a");
        w.end();
        w.prop_u32("late", 1);
        w.end();
        assert!(matches!(check(&w.finish()), Err(DtFault::MisplacedProperty { .. })));
    }

    #[test]
    fn nesting_beyond_the_depth_limit_is_refused() {
        let mut w = DtbWriter::new();
        w.begin("");
        for _ in 0..MAX_DEPTH {
            w.begin("n");
        }
        for _ in 0..=MAX_DEPTH {
            w.end();
        }
        assert!(matches!(check(&w.finish()), Err(DtFault::TooDeep { .. })));
    }

    #[test]
    fn nop_tokens_anywhere_are_accepted() {
        let mut w = DtbWriter::new();
        w.nop();
        w.begin("");
        w.nop();
        w.prop_u32("a", 1);
        w.nop();
        w.begin("c");
        w.end();
        w.nop();
        w.end();
        w.nop();
        assert!(check(&w.finish()).is_ok());
    }

    #[test]
    fn an_unknown_token_is_refused() {
        let mut b = tiny();
        let off_struct = be32(&b, 8).unwrap() as usize;
        set_be32(&mut b, off_struct, 7);
        assert_eq!(check(&b), Err(DtFault::BadToken { offset: off_struct, token: 7 }));
    }
}
