// SPDX-License-Identifier: MIT OR Apache-2.0
//! Devices for user-level drivers, found in the device tree.
//!
//! Drivers live at user level; where their device is (its registers, its interrupt)
//! is the board's business, and the board says it in the device tree. The kernel maps
//! the tree read-only into the root task's space; the root task answers a driver's
//! question ("where is the `arm,pl031`?", "where is the power key?") with this module,
//! so no driver hard-codes a board's addresses.
//!
//! What is understood: a node's first `reg` entry in its parent's `#address-cells` /
//! `#size-cells`, through parents that translate 1:1 (an empty `ranges`, or the root);
//! its first interrupt in the GIC's three-cell form (SPI or PPI, Linux's
//! `arm,gic-v3` binding), as an INTID; and `gpio-keys` children (`linux,code`, `gpios =
//! <&controller line flags>`). Anything else is a named error, never a guess.

use crate::dt_check::be32;
use crate::tree::{Node, Tree};

/// `linux,code` of the power key (Linux's `KEY_POWER`).
pub const KEY_POWER: u32 = 116;

/// A device's registers and interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    /// Physical address of the first register range.
    pub base: u64,
    /// Its size in bytes.
    pub size: u64,
    /// The GIC INTID of its first interrupt, if it has one.
    pub intid: Option<u32>,
}

/// A key wired to a GPIO line (`gpio-keys`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    /// The GPIO controller.
    pub controller: Device,
    /// The line on it.
    pub line: u32,
}

/// Why a device could not be described.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceError {
    /// The blob is not a valid device tree.
    BadTree,
    /// No enabled node is compatible with what was asked (or no such key).
    NotFound,
    /// Its `reg` is missing, too short, or in cells this reader does not take.
    BadReg,
    /// A parent translates addresses (non-empty `ranges`): not followed.
    Translated,
    /// Its `interrupts` are not the GIC's three-cell form.
    BadInterrupt,
    /// A key's `gpios` is malformed or names no controller.
    BadGpios,
}

impl core::fmt::Display for DeviceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            DeviceError::BadTree => "not a valid device tree",
            DeviceError::NotFound => "no enabled device of that kind",
            DeviceError::BadReg => "its reg is missing or malformed",
            DeviceError::Translated => "a parent bus translates addresses (not followed)",
            DeviceError::BadInterrupt => "its interrupts are not in the GIC's three-cell form",
            DeviceError::BadGpios => "the key's gpios is malformed or names no controller",
        })
    }
}

/// A big-endian number of `cells` 32-bit cells at cell `at` of `bytes`.
fn cells(bytes: &[u8], at: usize, cells: u32) -> Option<u64> {
    match cells {
        1 => be32(bytes, at * 4).map(u64::from),
        2 => Some(u64::from(be32(bytes, at * 4)?) << 32 | u64::from(be32(bytes, at * 4 + 4)?)),
        _ => None,
    }
}

/// The first enabled node compatible with `compatible` in the device tree `blob`,
/// described.
pub fn find(blob: &[u8], compatible: &str) -> Result<Device, DeviceError> {
    let tree = Tree::new(blob).map_err(|_| DeviceError::BadTree)?;
    find_in(&tree, compatible)
}

fn find_in(tree: &Tree<'_>, compatible: &str) -> Result<Device, DeviceError> {
    let node = tree
        .all_nodes()
        .find(|n| n.is_enabled() && n.is_compatible(compatible))
        .ok_or(DeviceError::NotFound)?;
    describe(tree, &node)
}

/// The registers and interrupt of `node`.
fn describe(tree: &Tree<'_>, node: &Node<'_>) -> Result<Device, DeviceError> {
    let lineage = tree.lineage_of(node).ok_or(DeviceError::NotFound)?;
    let parent = lineage.len().checked_sub(2).and_then(|i| lineage.get(i)).ok_or(DeviceError::BadReg)?;
    // Every bus between the root and the node must map 1:1.
    for bus in lineage.iter().skip(1).take(lineage.len().saturating_sub(2)) {
        if bus.prop("ranges").is_some_and(|r| !r.is_empty()) {
            return Err(DeviceError::Translated);
        }
    }
    let (address_cells, size_cells) = parent.child_cells();
    let reg = node.prop("reg").ok_or(DeviceError::BadReg)?;
    let base = cells(reg, 0, address_cells).ok_or(DeviceError::BadReg)?;
    let size = cells(reg, address_cells as usize, size_cells).ok_or(DeviceError::BadReg)?;
    let intid = match node.prop("interrupts") {
        None => None,
        Some(irq) => {
            let (kind, number) = (be32(irq, 0), be32(irq, 4));
            match (kind, number, be32(irq, 8)) {
                (Some(0), Some(n), Some(_)) if n < 988 => Some(32 + n),
                (Some(1), Some(n), Some(_)) if n < 16 => Some(16 + n),
                _ => return Err(DeviceError::BadInterrupt),
            }
        }
    };
    Ok(Device { base, size, intid })
}

/// The key with `linux,code` `code` of the first enabled `gpio-keys` node of the
/// device tree `blob`: its controller and line.
pub fn key(blob: &[u8], code: u32) -> Result<Key, DeviceError> {
    let tree = Tree::new(blob).map_err(|_| DeviceError::BadTree)?;
    let keys = tree
        .all_nodes()
        .find(|n| n.is_enabled() && n.is_compatible("gpio-keys"))
        .ok_or(DeviceError::NotFound)?;
    let key = keys
        .children()
        .find(|k| k.is_enabled() && k.prop_u32("linux,code") == Some(Ok(code)))
        .ok_or(DeviceError::NotFound)?;
    let gpios = key.prop("gpios").ok_or(DeviceError::BadGpios)?;
    let (phandle, line) = (be32(gpios, 0), be32(gpios, 4));
    let (Some(phandle), Some(line)) = (phandle, line) else { return Err(DeviceError::BadGpios) };
    let controller = tree.find_phandle(phandle).ok_or(DeviceError::BadGpios)?;
    Ok(Key { controller: describe(&tree, &controller)?, line })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtb_writer::DtbWriter;

    fn virt() -> Vec<u8> {
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/virt-2n2c.dtb")).unwrap()
    }

    #[test]
    fn qemu_virt_devices_are_found_with_their_intids() {
        let blob = virt();
        assert_eq!(find(&blob, "arm,pl031"), Ok(Device { base: 0x901_0000, size: 0x1000, intid: Some(34) }));
        assert_eq!(find(&blob, "arm,pl061"), Ok(Device { base: 0x903_0000, size: 0x1000, intid: Some(39) }));
        assert_eq!(find(&blob, "arm,pl011").map(|d| d.base), Ok(0x900_0000));
        assert_eq!(find(&blob, "no,such-device"), Err(DeviceError::NotFound));
        let power = key(&blob, KEY_POWER).unwrap();
        assert_eq!(power.line, 3);
        assert_eq!(power.controller, find(&blob, "arm,pl061").unwrap());
        assert_eq!(key(&blob, 1), Err(DeviceError::NotFound));
    }

    fn one_device(extra: impl FnOnce(&mut DtbWriter)) -> Vec<u8> {
        let mut w = DtbWriter::new();
        w.begin("");
        w.prop_u32("#address-cells", 2);
        w.prop_u32("#size-cells", 2);
        extra(&mut w);
        w.end();
        w.finish()
    }

    #[test]
    fn malformed_devices_are_named_errors() {
        let short_reg = one_device(|w| {
            w.begin("dev@1000");
            w.prop_str("compatible", "x,dev");
            w.prop_cells("reg", &[0, 0x1000]);
            w.end();
        });
        assert_eq!(find(&short_reg, "x,dev"), Err(DeviceError::BadReg));
        let bad_irq = one_device(|w| {
            w.begin("dev@1000");
            w.prop_str("compatible", "x,dev");
            w.prop_cells("reg", &[0, 0x1000, 0, 0x100]);
            w.prop_cells("interrupts", &[5, 1, 4]);
            w.end();
        });
        assert_eq!(find(&bad_irq, "x,dev"), Err(DeviceError::BadInterrupt));
        let behind_bus = one_device(|w| {
            w.begin("bus");
            w.prop_u32("#address-cells", 1);
            w.prop_u32("#size-cells", 1);
            w.prop_cells("ranges", &[0, 0, 0x1000_0000, 0x1000]);
            w.begin("dev@0");
            w.prop_str("compatible", "x,dev");
            w.prop_cells("reg", &[0, 0x100]);
            w.end();
            w.end();
        });
        assert_eq!(find(&behind_bus, "x,dev"), Err(DeviceError::Translated));
        let flat_bus = one_device(|w| {
            w.begin("bus");
            w.prop_u32("#address-cells", 1);
            w.prop_u32("#size-cells", 1);
            w.prop("ranges", &[]);
            w.begin("dev@2000");
            w.prop_str("compatible", "x,dev");
            w.prop_cells("reg", &[0x2000, 0x100]);
            w.prop_cells("interrupts", &[1, 14, 4]);
            w.end();
            w.end();
        });
        assert_eq!(find(&flat_bus, "x,dev"), Ok(Device { base: 0x2000, size: 0x100, intid: Some(30) }));
        let disabled = one_device(|w| {
            w.begin("dev@1000");
            w.prop_str("compatible", "x,dev");
            w.prop_str("status", "disabled");
            w.prop_cells("reg", &[0, 0x1000, 0, 0x100]);
            w.end();
        });
        assert_eq!(find(&disabled, "x,dev"), Err(DeviceError::NotFound));
        let dangling_key = one_device(|w| {
            w.begin("keys");
            w.prop_str("compatible", "gpio-keys");
            w.begin("power");
            w.prop_u32("linux,code", KEY_POWER);
            w.prop_cells("gpios", &[0x99, 3, 0]);
            w.end();
            w.end();
        });
        assert_eq!(key(&dangling_key, KEY_POWER), Err(DeviceError::BadGpios));
        assert!(DeviceError::Translated.to_string().contains("translates"));
        assert_eq!(find(b"not a tree", "x,dev"), Err(DeviceError::BadTree));
    }
}
