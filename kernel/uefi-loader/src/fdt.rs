// SPDX-License-Identifier: MIT OR Apache-2.0
//! Rewriting the firmware's device tree into the one the kernel gets.
//!
//! EDK2 (with `-M virt,acpi=off`) hands over QEMU's tree, which says nothing of what the
//! loader did or of what the firmware keeps after `ExitBootServices`. The kernel reads
//! both from the tree only, as it does under QEMU's `-kernel` (see
//! `platform/src/board.rs`: `/chosen` and `reserved`). So the loader copies the tree
//! into a larger buffer of its own and, on the way:
//!
//! - appends a `/memreserve/` entry for each range the firmware keeps (runtime services,
//!   ACPI, reserved: `memmap::firmware_reservations`), after the tree's own entries;
//! - sets `/chosen` properties (`linux,initrd-start`/`-end`, `bootargs`, and
//!   [`RSDP_PROPERTY`]), replacing any of the same name and creating `/chosen` if the
//!   tree has none;
//! - appends a `/memory@...` node for each RAM range it is given ([`Handover::memory`]);
//! - appends the names of new properties to the strings block.
//!
//! With ACPI, EDK2 publishes no device tree, only the RSDP. The loader then rewrites
//! [`STUB_TREE`], a root with nothing but its cell sizes, into a stub tree: `/chosen`
//! (bootargs, initrd, the RSDP), the `/memreserve/` entries, and `/memory` nodes for the
//! UEFI map's RAM (`memmap::ram`). The kernel sees the RSDP and no `/cpus` and reads
//! the machine from ACPI, the rest from the stub (`platform::acpi_rsdp_of`,
//! `Board::parse_acpi_handover`). The memory nodes are the fallback for ACPI without
//! an SRAT (QEMU without `-numa`): with one, the SRAT's ranges, which carry the nodes,
//! are the board's memory.
//!
//! Writing a new blob rather than patching in place keeps this a pure function of
//! (old tree, additions), easy to test, and needs no free space in the firmware's copy.
//! `/memreserve/` entries rather than `/reserved-memory` nodes because they need no
//! `#address-cells` and no node names, and the kernel honours both.
//!
//! The loader's own copy of the tree needs no reservation: the kernel keeps the blob x0
//! points to (`kernel/src/memory.rs`), as it keeps the Image and the initrd.
//!
//! # References
//! - Devicetree Specification v0.4, chapter 5 "Flattened Devicetree (DTB) Format".
//! - Linux `Documentation/devicetree/bindings/chosen.txt` (`linux,initrd-start/-end`).
#![forbid(unsafe_code)]

use crate::memmap::Range;

/// The `/chosen` property that carries the ACPI RSDP's physical address (a u64) when the
/// firmware has one. Our own name (vendor prefix `numa-l4`): Linux finds the RSDP
/// through the UEFI system table instead, which this kernel does not keep.
pub const RSDP_PROPERTY: &str = "numa-l4,acpi-rsdp";

/// The smallest tree: a root with `#address-cells = <2>` and `#size-cells = <2>` (the
/// cells of the memory nodes [`rewrite`] adds), nothing else. The start of the stub
/// tree when the firmware has none.
pub const STUB_TREE: [u8; 131] = stub_tree();

const fn stub_tree() -> [u8; 131] {
    const STRINGS: &[u8] = b"#address-cells\0#size-cells\0";
    let mut t = [0u8; 131];
    // Header: magic, totalsize, off_dt_struct (after the 16-byte empty reservation
    // block at 40), off_dt_strings, off_mem_rsvmap, version, last compatible version,
    // boot CPU, size_dt_strings, size_dt_struct.
    let header = [MAGIC, 131, 56, 104, 40, 17, 16, 0, STRINGS.len() as u32, 48];
    // Structure: the root node (empty name), two u32 properties, its end, the end.
    let structs = [BEGIN_NODE, 0, PROP, 4, 0, 2, PROP, 4, 15, 2, END_NODE, END];
    let mut i = 0;
    while i < header.len() {
        let b = header[i].to_be_bytes();
        let mut k = 0;
        while k < 4 {
            t[i * 4 + k] = b[k];
            k += 1;
        }
        i += 1;
    }
    i = 0;
    while i < structs.len() {
        let b = structs[i].to_be_bytes();
        let mut k = 0;
        while k < 4 {
            t[56 + i * 4 + k] = b[k];
            k += 1;
        }
        i += 1;
    }
    i = 0;
    while i < STRINGS.len() {
        t[104 + i] = STRINGS[i];
        i += 1;
    }
    t
}

const MAGIC: u32 = 0xd00d_feed;
const HEADER_SIZE: usize = 40;
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;

/// What the loader adds to the tree.
#[derive(Debug, Clone, Copy, Default)]
pub struct Handover<'a> {
    /// Ranges to add as `/memreserve/` entries.
    pub reserve: &'a [Range],
    /// The initrd, for `linux,initrd-start`/`-end`.
    pub initrd: Option<Range>,
    /// `/chosen/bootargs`; `None` keeps the tree's own.
    pub bootargs: Option<&'a str>,
    /// The ACPI RSDP, for [`RSDP_PROPERTY`].
    pub rsdp: Option<u64>,
    /// RAM for new `/memory@...` nodes (the root must have 2 address and 2 size cells,
    /// as [`STUB_TREE`] has); empty when the tree describes the memory itself.
    pub memory: &'a [Range],
}

/// Why a tree cannot be rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdtError {
    /// No `0xd00dfeed` at the start.
    BadMagic,
    /// A version below 17 (no `size_dt_struct`).
    OldVersion { version: u32 },
    /// A block or the header reaches past the blob.
    Truncated,
    /// An unknown token or a malformed name at this offset of the structure block.
    BadStructure { offset: usize },
    /// The output buffer is smaller than the new tree.
    OutputTooSmall { need: usize },
}

/// A `/chosen` property the loader writes.
#[derive(Clone, Copy)]
enum Value<'a> {
    U64(u64),
    Str(&'a str),
}

impl Value<'_> {
    fn len(&self) -> usize {
        match self {
            Value::U64(_) => 8,
            Value::Str(s) => s.len() + 1,
        }
    }
}

fn be32(b: &[u8], at: usize) -> Result<u32, FdtError> {
    let w = b.get(at..at + 4).ok_or(FdtError::Truncated)?;
    Ok(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
}

fn be64(b: &[u8], at: usize) -> Result<u64, FdtError> {
    Ok((u64::from(be32(b, at)?) << 32) | u64::from(be32(b, at + 4)?))
}

fn pad4(n: usize) -> usize {
    n.next_multiple_of(4)
}

/// An upper bound of the bytes [`rewrite`] adds to a tree for `h` (allocate the tree's
/// `totalsize` plus this), with `memory` memory nodes.
pub fn growth_bound(reservations: usize, memory: usize, bootargs_len: usize) -> usize {
    // Each /memreserve/ entry is 16 bytes; a new /chosen node 16; each of at most four
    // properties 12 + value (8 or the string, padded) + its name in the strings block;
    // each memory node 4 + name 24 + device_type 20 + reg 28 + 4, and the two names.
    16 * reservations + 16 + 4 * (12 + 8 + 24) + pad4(bootargs_len + 1) + 80 * memory + 16
}

/// `memory@<base in hex>` and its NUL, padded to 4 bytes, into `o`.
fn put_memory_name(o: &mut Out<'_>, base: u64) {
    o.put(b"memory@");
    let digits = ((64 - base.leading_zeros()).div_ceil(4)).max(1);
    for d in (0..digits).rev() {
        let nibble = ((base >> (4 * d)) & 0xF) as usize;
        o.put(&[b"0123456789abcdef"[nibble]]);
    }
    o.put(&[0]);
    o.pad();
}

/// The bytes of the tree at the start of `blob` (its `totalsize`), after checking the
/// header's magic.
pub fn total_size(blob_header: &[u8]) -> Result<usize, FdtError> {
    if be32(blob_header, 0)? != MAGIC {
        return Err(FdtError::BadMagic);
    }
    Ok(be32(blob_header, 4)? as usize)
}

/// Writes into `out`, bounds-checked.
struct Out<'o> {
    buf: &'o mut [u8],
    at: usize,
    overflow: bool,
}

impl Out<'_> {
    fn put(&mut self, bytes: &[u8]) {
        match self.buf.get_mut(self.at..self.at + bytes.len()) {
            Some(dst) => dst.copy_from_slice(bytes),
            None => self.overflow = true,
        }
        self.at += bytes.len();
    }

    fn put32(&mut self, w: u32) {
        self.put(&w.to_be_bytes());
    }

    fn put64(&mut self, w: u64) {
        self.put(&w.to_be_bytes());
    }

    fn pad(&mut self) {
        while !self.at.is_multiple_of(4) {
            self.put(&[0]);
        }
    }
}

/// The offset of `name` in a strings block, if it is there as a whole string.
fn find_string(strings: &[u8], name: &str) -> Option<usize> {
    let mut at = 0;
    for s in strings.split(|&b| b == 0) {
        if s == name.as_bytes() && at + s.len() < strings.len() {
            return Some(at);
        }
        at += s.len() + 1;
    }
    None
}

/// The NUL-terminated name at `at` in `b`.
fn name_at(b: &[u8], at: usize) -> Option<&[u8]> {
    let rest = b.get(at..)?;
    let len = rest.iter().position(|&c| c == 0)?;
    Some(&rest[..len])
}

/// Writes `src` with the additions of `h` into `out`; returns the new tree's size.
pub fn rewrite(src: &[u8], out: &mut [u8], h: &Handover<'_>) -> Result<usize, FdtError> {
    let total = total_size(src)?;
    let src = src.get(..total).ok_or(FdtError::Truncated)?;
    let (off_struct, off_strings, off_rsv) =
        (be32(src, 8)? as usize, be32(src, 12)? as usize, be32(src, 16)? as usize);
    let version = be32(src, 20)?;
    if version < 17 {
        return Err(FdtError::OldVersion { version });
    }
    let (boot_cpu, size_strings, size_struct) =
        (be32(src, 28)?, be32(src, 32)? as usize, be32(src, 36)? as usize);
    let structs = src.get(off_struct..off_struct.saturating_add(size_struct)).ok_or(FdtError::Truncated)?;
    let strings =
        src.get(off_strings..off_strings.saturating_add(size_strings)).ok_or(FdtError::Truncated)?;

    // The properties to set, and where each name is (or will be) in the strings block.
    let mut props: [Option<(&str, Value<'_>)>; 4] = [None; 4];
    if let Some(r) = h.initrd {
        props[0] = Some(("linux,initrd-start", Value::U64(r.base)));
        props[1] = Some(("linux,initrd-end", Value::U64(r.base + r.size)));
    }
    props[2] = h.bootargs.map(|s| ("bootargs", Value::Str(s)));
    props[3] = h.rsdp.map(|a| (RSDP_PROPERTY, Value::U64(a)));
    // The memory nodes' two property names follow the four of /chosen.
    let memory_names = ["device_type", "reg"];
    let names = props
        .iter()
        .map(|p| p.map(|(n, _)| n))
        .chain(memory_names.iter().map(|&n| (!h.memory.is_empty()).then_some(n)));
    let mut name_offsets = [0usize; 6];
    let mut new_strings = size_strings;
    for (i, name) in names.clone().enumerate().filter_map(|(i, n)| n.map(|n| (i, n))) {
        name_offsets[i] = find_string(strings, name).unwrap_or_else(|| {
            let at = new_strings;
            new_strings += name.len() + 1;
            at
        });
    }
    let ours = |name: &[u8]| props.iter().flatten().any(|(n, _)| n.as_bytes() == name);

    let mut o = Out { buf: out, at: HEADER_SIZE, overflow: false };
    // Memory reservations: the tree's own entries, then ours, then the (0, 0) end.
    let rsv_at = o.at;
    let mut at = off_rsv;
    loop {
        let (base, size) = (be64(src, at)?, be64(src, at + 8)?);
        if base == 0 && size == 0 {
            break;
        }
        o.put64(base);
        o.put64(size);
        at += 16;
    }
    for r in h.reserve {
        o.put64(r.base);
        o.put64(r.size);
    }
    o.put64(0);
    o.put64(0);

    // The structure block, token by token.
    let struct_at = o.at;
    let write_props = |o: &mut Out<'_>| {
        for (i, (_, value)) in props.iter().enumerate().filter_map(|(i, p)| p.map(|p| (i, p))) {
            o.put32(PROP);
            o.put32(value.len() as u32);
            o.put32(name_offsets[i] as u32);
            match value {
                Value::U64(v) => o.put64(v),
                Value::Str(s) => {
                    o.put(s.as_bytes());
                    o.put(&[0]);
                }
            }
            o.pad();
        }
    };
    let (mut pos, mut depth, mut chosen_depth, mut saw_chosen) = (0usize, 0usize, None, false);
    loop {
        let bad = FdtError::BadStructure { offset: pos };
        let token = be32(structs, pos).map_err(|_| bad)?;
        match token {
            BEGIN_NODE => {
                let name = name_at(structs, pos + 4).ok_or(bad)?;
                let next = pos + 4 + pad4(name.len() + 1);
                depth += 1;
                // The root is depth 1; /chosen is a child of it (the unit address, if
                // any, is not part of the name QEMU and EDK2 use).
                if depth == 2 && name == b"chosen" {
                    chosen_depth = Some(depth);
                    saw_chosen = true;
                }
                o.put(structs.get(pos..next).ok_or(bad)?);
                pos = next;
            }
            END_NODE => {
                if chosen_depth == Some(depth) {
                    write_props(&mut o);
                    chosen_depth = None;
                } else if depth == 1 && !saw_chosen {
                    o.put32(BEGIN_NODE);
                    o.put(b"chosen\0\0");
                    write_props(&mut o);
                    o.put32(END_NODE);
                }
                if depth == 1 {
                    for r in h.memory {
                        o.put32(BEGIN_NODE);
                        put_memory_name(&mut o, r.base);
                        o.put32(PROP);
                        o.put32(7);
                        o.put32(name_offsets[4] as u32);
                        o.put(b"memory\0");
                        o.pad();
                        o.put32(PROP);
                        o.put32(16);
                        o.put32(name_offsets[5] as u32);
                        o.put64(r.base);
                        o.put64(r.size);
                        o.put32(END_NODE);
                    }
                }
                depth = depth.checked_sub(1).ok_or(bad)?;
                o.put32(END_NODE);
                pos += 4;
            }
            PROP => {
                let len = be32(structs, pos + 4).map_err(|_| bad)? as usize;
                let name_off = be32(structs, pos + 8).map_err(|_| bad)? as usize;
                let next = pos + 12 + pad4(len);
                let name = name_at(strings, name_off).ok_or(bad)?;
                if !(chosen_depth == Some(depth) && ours(name)) {
                    o.put(structs.get(pos..next).ok_or(bad)?);
                }
                pos = next;
            }
            NOP => pos += 4,
            END => {
                if depth != 0 {
                    return Err(bad);
                }
                o.put32(END);
                break;
            }
            _ => return Err(bad),
        }
    }

    // The strings block: the tree's own, then the new names.
    let strings_at = o.at;
    o.put(strings);
    for (i, name) in names.enumerate().filter_map(|(i, n)| n.map(|n| (i, n))) {
        if name_offsets[i] >= size_strings {
            o.put(name.as_bytes());
            o.put(&[0]);
        }
    }
    let end = o.at;
    if o.overflow {
        return Err(FdtError::OutputTooSmall { need: end });
    }

    // The header, now that every offset is known.
    o.at = 0;
    for word in [
        MAGIC,
        end as u32,
        struct_at as u32,
        strings_at as u32,
        rsv_at as u32,
        17,
        16,
        boot_cpu,
        (end - strings_at) as u32,
        (strings_at - struct_at) as u32,
    ] {
        o.put32(word);
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::Board;

    /// QEMU's tree for 2 nodes x 2 CPUs (`-M virt,dumpdtb=`), as EDK2 passes it on.
    const QEMU_2N2C: &[u8] = include_bytes!("../../../platform/tests/fixtures/virt-2n2c.dtb");

    fn rewritten(src: &[u8], h: &Handover<'_>) -> Vec<u8> {
        let mut out = vec![0u8; total_size(src).unwrap() + growth_bound(h.reserve.len(), h.memory.len(), 64)];
        let n = rewrite(src, &mut out, h).unwrap();
        out.truncate(n);
        out
    }

    #[test]
    fn the_kernel_reads_the_initrd_bootargs_and_reservations_the_loader_adds() {
        let reserve = [Range { base: 0x7f00_0000, size: 0x3000 }, Range { base: 0x7fe0_0000, size: 0x1000 }];
        let h = Handover {
            reserve: &reserve,
            initrd: Some(Range { base: 0x7800_0000, size: 0x1234 }),
            bootargs: Some("exit=semihosting selftest=panic"),
            rsdp: None,
            memory: &[],
        };
        let out = rewritten(QEMU_2N2C, &h);
        let before = Board::from_fdt(QEMU_2N2C).unwrap();
        let b = Board::from_fdt(&out).unwrap();
        assert_eq!(b.chosen.bootargs, "exit=semihosting selftest=panic");
        let initrd = b.chosen.initrd.unwrap();
        assert_eq!((initrd.base, initrd.size), (0x7800_0000, 0x1234));
        let got: Vec<_> = b.reserved.iter().map(|r| (r.base, r.size)).collect();
        assert!(got.contains(&(0x7f00_0000, 0x3000)) && got.contains(&(0x7fe0_0000, 0x1000)), "{got:?}");
        assert_eq!(b.reserved.len(), before.reserved.len() + 2);
        // Everything else is as it was.
        assert_eq!(b.cpus.len(), before.cpus.len());
        assert_eq!(b.memory.as_slice(), before.memory.as_slice());
        assert_eq!(b.chosen.stdout, before.chosen.stdout);
    }

    #[test]
    fn existing_chosen_properties_are_replaced_not_duplicated() {
        let h = Handover {
            bootargs: Some("one"),
            initrd: Some(Range { base: 0x1000, size: 0x10 }),
            ..Handover::default()
        };
        let once = rewritten(QEMU_2N2C, &h);
        let h2 = Handover { bootargs: Some("two"), initrd: Some(Range { base: 0x2000, size: 0x20 }), ..h };
        let twice = rewritten(&once, &h2);
        let b = Board::from_fdt(&twice).unwrap();
        assert_eq!(b.chosen.bootargs, "two");
        assert_eq!(b.chosen.initrd.map(|r| (r.base, r.size)), Some((0x2000, 0x20)));
        // The second pass found the names in the strings block: no growth there.
        assert_eq!(twice.len(), once.len());
        assert_eq!(twice.windows(8).filter(|w| w == b"bootargs").count(), 1);
    }

    #[test]
    fn a_tree_without_chosen_gets_one_and_the_rsdp_property() {
        // Drop /chosen from QEMU's tree by rewriting its name to an unknown node's.
        let mut src = QEMU_2N2C.to_vec();
        let at = src.windows(8).position(|w| w == b"chosen\0\0").unwrap();
        src[at..at + 6].copy_from_slice(b"chosex");
        let out = rewritten(
            &src,
            &Handover { bootargs: Some("x"), rsdp: Some(0x7c00_0000), ..Handover::default() },
        );
        let b = Board::from_fdt(&out).unwrap();
        assert_eq!(b.chosen.bootargs, "x");
        let at = out.windows(RSDP_PROPERTY.len()).position(|w| w == RSDP_PROPERTY.as_bytes());
        assert!(at.is_some(), "the RSDP property's name is in the strings block");
        assert!(
            out.windows(8).any(|w| w == 0x7c00_0000u64.to_be_bytes()),
            "its value in the structure block"
        );
    }

    #[test]
    fn bad_trees_and_small_buffers_get_named_errors() {
        let mut out = vec![0u8; QEMU_2N2C.len() + 4096];
        assert_eq!(rewrite(&[0; 64], &mut out, &Handover::default()), Err(FdtError::BadMagic));
        assert_eq!(rewrite(&QEMU_2N2C[..100], &mut out, &Handover::default()), Err(FdtError::Truncated));
        let mut small = vec![0u8; 128];
        assert!(matches!(
            rewrite(QEMU_2N2C, &mut small, &Handover::default()),
            Err(FdtError::OutputTooSmall { .. })
        ));
        let mut old = QEMU_2N2C.to_vec();
        old[20..24].copy_from_slice(&16u32.to_be_bytes());
        assert_eq!(rewrite(&old, &mut out, &Handover::default()), Err(FdtError::OldVersion { version: 16 }));
    }

    #[test]
    fn the_growth_bound_covers_the_worst_case() {
        let reserve = [Range { base: 0x1000, size: 0x1000 }; 48];
        let memory = [Range { base: u64::MAX - 0x1000, size: 0x1000 }; 16];
        let args = "a".repeat(200);
        let h = Handover {
            reserve: &reserve,
            initrd: Some(Range { base: 1, size: 1 }),
            bootargs: Some(&args),
            rsdp: Some(1),
            memory: &memory,
        };
        for src in [QEMU_2N2C, &STUB_TREE] {
            let mut out = vec![0u8; total_size(src).unwrap() + growth_bound(48, 16, args.len())];
            assert!(rewrite(src, &mut out, &h).is_ok());
        }
    }

    /// Captured tables: (physical address, bytes) of each.
    type Regions = Vec<(u64, Vec<u8>)>;

    /// One capture of QEMU + EDK2's ACPI tables (`platform/tests/fixtures/acpi`): the
    /// RSDP's address, the tables as memory, and QEMU's device tree for the same options.
    fn acpi_fixture(name: &str) -> (u64, Regions, Vec<u8>) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../platform/tests/fixtures/acpi")
            .join(name);
        let (mut rsdp, mut regions) = (0, Vec::new());
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_str().unwrap().to_string();
            let Some(stem) = file.strip_suffix(".bin") else { continue };
            let hex = stem.strip_prefix("rsdp-");
            let address = u64::from_str_radix(hex.unwrap_or(stem), 16).unwrap();
            if hex.is_some() {
                rsdp = address;
            }
            regions.push((address, std::fs::read(&path).unwrap()));
        }
        (rsdp, regions, std::fs::read(dir.join("virt.dtb")).unwrap())
    }

    /// The board the kernel reads from the stub tree `h` makes and the fixture's tables.
    fn board_from_stub<'t>(stub: &'t [u8], rsdp: u64, regions: &[(u64, Vec<u8>)]) -> Board<'t> {
        let windows: Vec<_> =
            regions.iter().map(|(base, bytes)| platform::MemoryWindow { base: *base, bytes }).collect();
        assert_eq!(platform::acpi_rsdp_of(stub), Some(rsdp), "the stub hands over to ACPI");
        let mut b = Board::from_acpi(rsdp, windows.as_slice()).unwrap();
        b.parse_acpi_handover(stub).unwrap();
        b
    }

    #[test]
    fn the_stub_tree_gives_the_kernel_the_same_board_as_the_device_tree() {
        // QEMU's RAM as EDK2's map shows it, and a firmware range in it.
        let reserve = [Range { base: 0x5c43_0000, size: 0x1_0000 }];
        let initrd = Some(Range { base: 0x4800_0000, size: 0x1234 });
        for (name, ram) in [("virt-2n2c", 1u64 << 30), ("virt-1n1c", 256 << 20)] {
            let (rsdp, regions, dtb) = acpi_fixture(name);
            let memory = [Range { base: 0x4000_0000, size: ram }];
            let h = Handover {
                reserve: &reserve,
                initrd,
                bootargs: Some("exit=semihosting"),
                rsdp: Some(rsdp),
                memory: &memory,
            };
            let stub = rewritten(&STUB_TREE, &h);
            let b = board_from_stub(&stub, rsdp, &regions);
            let dt = Board::from_fdt(&dtb).unwrap();
            assert_eq!(b.firmware(), platform::Firmware::Acpi);
            assert_eq!(b.chosen.bootargs, "exit=semihosting");
            assert_eq!(b.chosen.initrd.map(|r| (r.base, r.size)), Some((0x4800_0000, 0x1234)));
            assert_eq!(
                b.reserved.iter().map(|r| (r.base, r.size)).collect::<Vec<_>>(),
                [(0x5c43_0000, 0x1_0000)]
            );
            assert_eq!(b.memory.as_slice(), dt.memory.as_slice(), "{name}: SRAT or stub memory as the DT's");
            assert_eq!(b.numactl().to_string(), dt.numactl().to_string(), "{name}");
            assert!(b.chosen.stdout.is_some(), "{name}: the console from the SPCR");
        }
    }

    #[test]
    fn the_stub_tree_alone_is_a_root_with_two_by_two_cells() {
        assert_eq!(total_size(&STUB_TREE), Ok(STUB_TREE.len()));
        // Valid, and no hand-over yet: no /chosen.
        assert!(matches!(Board::from_fdt(&STUB_TREE), Err(e) if e.kind() == platform::ErrorKind::NoCpus));
        assert_eq!(platform::acpi_rsdp_of(&STUB_TREE), None);
        let memory =
            [Range { base: 0x4000_0000, size: 0x1000_0000 }, Range { base: 0x1_2345_0000, size: 0x1000 }];
        let stub =
            rewritten(&STUB_TREE, &Handover { rsdp: Some(0x1000), memory: &memory, ..Handover::default() });
        assert_eq!(platform::acpi_rsdp_of(&stub), Some(0x1000));
        assert!(stub.windows(16).any(|w| w == b"memory@123450000"));
        let mut b = Board::empty();
        b.parse_acpi_handover(&stub).unwrap();
        let got: Vec<_> = b.memory.iter().map(|m| (m.range.base, m.range.size)).collect();
        assert_eq!(got, [(0x4000_0000, 0x1000_0000), (0x1_2345_0000, 0x1000)]);
    }
}
