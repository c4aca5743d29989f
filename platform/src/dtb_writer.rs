// SPDX-License-Identifier: MIT OR Apache-2.0
//! A minimal DTB *writer*, for tests only: build device trees from Rust.
//!
//! The error table of `board.rs` needs one device tree per row, each broken in one
//! precise way. Writing them as `.dts` files would make `cargo test` depend on `dtc`;
//! writing bytes by hand would be unreadable. This writer emits the three blocks of a
//! version-17 DTB (header, memory reservations, structure, strings) from calls like
//! `begin("cpus")`, `prop_u32("reg", 1)`, `end()`. It checks nothing on purpose, so
//! tests can also build malformed trees.
#![forbid(unsafe_code)]

extern crate std;
use std::vec::Vec;

use crate::dt_check::{FDT_BEGIN_NODE, FDT_END, FDT_END_NODE, FDT_MAGIC, FDT_NOP, FDT_PROP};

/// Builds a DTB token by token.
#[derive(Default)]
pub(crate) struct DtbWriter {
    structs: Vec<u8>,
    strings: Vec<u8>,
    reserved: Vec<(u64, u64)>,
}

impl DtbWriter {
    pub fn new() -> Self {
        Self::default()
    }

    fn word(&mut self, w: u32) {
        self.structs.extend_from_slice(&w.to_be_bytes());
    }

    fn pad(&mut self) {
        while !self.structs.len().is_multiple_of(4) {
            self.structs.push(0);
        }
    }

    pub fn begin(&mut self, name: &str) -> &mut Self {
        self.word(FDT_BEGIN_NODE);
        self.structs.extend_from_slice(name.as_bytes());
        self.structs.push(0);
        self.pad();
        self
    }

    pub fn end(&mut self) -> &mut Self {
        self.word(FDT_END_NODE);
        self
    }

    pub fn nop(&mut self) -> &mut Self {
        self.word(FDT_NOP);
        self
    }

    fn string_offset(&mut self, name: &str) -> u32 {
        let mut off = 0;
        while off < self.strings.len() {
            let end = off + self.strings[off..].iter().position(|&b| b == 0).unwrap();
            if &self.strings[off..end] == name.as_bytes() {
                return off as u32;
            }
            off = end + 1;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        off
    }

    pub fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let name_off = self.string_offset(name);
        self.word(FDT_PROP);
        self.word(value.len() as u32);
        self.word(name_off);
        self.structs.extend_from_slice(value);
        self.pad();
        self
    }

    pub fn prop_cells(&mut self, name: &str, cells: &[u32]) -> &mut Self {
        let bytes: Vec<u8> = cells.iter().flat_map(|c| c.to_be_bytes()).collect();
        self.prop(name, &bytes)
    }

    pub fn prop_u32(&mut self, name: &str, v: u32) -> &mut Self {
        self.prop_cells(name, &[v])
    }

    pub fn prop_u64(&mut self, name: &str, v: u64) -> &mut Self {
        self.prop_cells(name, &[(v >> 32) as u32, v as u32])
    }

    pub fn prop_str(&mut self, name: &str, s: &str) -> &mut Self {
        self.prop_strs(name, &[s])
    }

    pub fn prop_strs(&mut self, name: &str, list: &[&str]) -> &mut Self {
        let mut bytes = Vec::new();
        for s in list {
            bytes.extend_from_slice(s.as_bytes());
            bytes.push(0);
        }
        self.prop(name, &bytes)
    }

    pub fn reserve(&mut self, base: u64, size: u64) -> &mut Self {
        self.reserved.push((base, size));
        self
    }

    /// Header (40 bytes), reservation block, structure block (with `END`), strings.
    pub fn finish(&mut self) -> Vec<u8> {
        self.word(FDT_END);
        let off_rsv = 40usize;
        let rsv_len = (self.reserved.len() + 1) * 16;
        let off_struct = off_rsv + rsv_len;
        let off_strings = off_struct + self.structs.len();
        let total = off_strings + self.strings.len();
        let mut out = Vec::with_capacity(total);
        for w in [
            FDT_MAGIC,
            total as u32,
            off_struct as u32,
            off_strings as u32,
            off_rsv as u32,
            17,
            16,
            0,
            self.strings.len() as u32,
            self.structs.len() as u32,
        ] {
            out.extend_from_slice(&w.to_be_bytes());
        }
        for &(a, s) in self.reserved.iter().chain([(0, 0)].iter()) {
            out.extend_from_slice(&a.to_be_bytes());
            out.extend_from_slice(&s.to_be_bytes());
        }
        out.extend_from_slice(&self.structs);
        out.extend_from_slice(&self.strings);
        out
    }
}
