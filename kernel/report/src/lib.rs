// SPDX-License-Identifier: MIT OR Apache-2.0
//! `report:` lines: the one format in which the kernel, the programs and the tools say
//! what happened, written and parsed by the same code.
//!
//! A report line is what a person reads and what a test checks:
//!
//! ```text
//! report: boot cpu=0 mpidr=0x0 entry_el=1 load_pa=0x40200000 dtb_pa=0x48200000 image_kib=752
//! ^^^^^^^ ^^^^ ^^^^^ ^^^^^^^^^^ ...
//! prefix  name fields: key=value, separated by one space
//! ```
//!
//! The kernel and the user programs write them ([`Line`], usually through [`line!`]), the
//! host harness and the benchmark tools parse them ([`Report`]). One crate for both sides
//! means the format cannot drift between the writer and the test that reads it.
//!
//! # Design
//!
//! - **No allocation, no dependencies, no `unsafe`.** The kernel writes reports before it
//!   has a heap, the programs have none, so a [`Line`] is a name and a fixed array of
//!   borrowed [`Field`]s that implements [`Display`]: it goes into any
//!   [`core::fmt::Write`] (the kernel's console, a program's line buffer, a `String`) with
//!   `write!`/`println!`, formatting each value in place. Parsing borrows from the text.
//! - **Values format themselves.** A value is anything [`Display`]; [`Hex`] writes
//!   `0x...` (`{:#x}`), [`Ratio`] writes `a/b`, [`Slashed`] a list `a/b/c`, [`Prefixed`] a fixed prefix and a value,
//!   [`Dbg`] writes `{:?}`, [`Maybe`] leaves the whole field out when absent, and
//!   `format_args!` covers the rest, so a conversion from a format string keeps every
//!   byte.
//! - **Small in the kernel.** The kernel's text is copied to every node, so every line
//!   shares one out-of-line writer, whatever its number of fields.
//!
//! # Invariants
//!
//! - A written line is `report: ` + name + (` ` + key + `=` + value)* and nothing else
//!   (no newline: the caller's `println!` ends it). A field with an empty key writes its
//!   value alone (a word without `=`).
//! - [`Report::parse`] of a written line gives back the name and every field, provided
//!   the name, keys and values contain no whitespace and the keys no `=` (true of every
//!   line in this project but one: `refaults=[0, 6]` in `report: numa-policy`, which
//!   parses as the fields `refaults=[0,` and `6]`).

#![no_std]
#![forbid(unsafe_code)]

use core::fmt::{self, Display};

/// What every report line starts with.
pub const PREFIX: &str = "report: ";

/// One `key=value` of a line. The value is borrowed and formatted when the line is
/// written.
#[derive(Clone, Copy)]
pub struct Field<'a> {
    key: &'a str,
    value: &'a dyn Value,
}

impl<'a> Field<'a> {
    /// `key=value`; with an empty `key`, the value alone; nothing at all (not even the
    /// space before it) if the value is an absent [`Maybe`].
    pub fn new(key: &'a str, value: &'a dyn Value) -> Field<'a> {
        Field { key, value }
    }
}

/// What a field holds: anything [`Display`], or a [`Maybe`] that may be absent.
pub trait Value {
    /// The value to write, if there is one.
    fn value(&self) -> Option<&dyn Display>;
}

impl<T: Display> Value for T {
    fn value(&self) -> Option<&dyn Display> {
        Some(self)
    }
}

/// A field that is written only when present: `"gic" => Maybe(board.gic_version())`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Maybe<T>(pub Option<T>);

impl<T: Display> Value for Maybe<T> {
    fn value(&self) -> Option<&dyn Display> {
        self.0.as_ref().map(|v| v as &dyn Display)
    }
}

/// A report line to write: `report: NAME` and `N` fields. Write it with `{}`.
#[derive(Clone, Copy)]
pub struct Line<'a, const N: usize> {
    name: &'a str,
    fields: [Field<'a>; N],
}

impl<'a, const N: usize> Line<'a, N> {
    /// A line named `name` with `fields` in order.
    pub fn new(name: &'a str, fields: [Field<'a>; N]) -> Line<'a, N> {
        Line { name, fields }
    }
}

impl<const N: usize> Display for Line<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_line(f, self.name, &self.fields)
    }
}

/// The one body behind every [`Line`]'s `Display`, whatever its field count: kept out of
/// line so the kernel carries one copy (its text is copied to every node).
#[inline(never)]
fn write_line(f: &mut fmt::Formatter<'_>, name: &str, fields: &[Field<'_>]) -> fmt::Result {
    f.write_str(PREFIX)?;
    f.write_str(name)?;
    for field in fields {
        let Some(value) = field.value.value() else { continue };
        f.write_str(" ")?;
        if !field.key.is_empty() {
            f.write_str(field.key)?;
            f.write_str("=")?;
        }
        // The line is written with `{}`, so `f` carries no flags a value could pick up.
        value.fmt(f)?;
    }
    Ok(())
}

/// Builds a [`Line`]: `line!("boot", "cpu" => cpu, "mpidr" => Hex(mpidr))`.
///
/// Each value is borrowed, so temporaries such as `Hex(x)` or `format_args!(..)` live to
/// the end of the statement: write the line in the statement that builds it
/// (`println!("{}", report::line!(..))`).
#[macro_export]
macro_rules! line {
    ($name:expr $(, $key:expr => $value:expr)* $(,)?) => {
        $crate::Line::new($name, [$($crate::Field::new($key, &$value)),*])
    };
}

/// A number as `0x...` (`{:#x}`): addresses, MPIDRs, registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hex(pub u64);

impl Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// A value after a fixed prefix: `Prefixed("v", 3)` is `v3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefixed<T>(pub &'static str, pub T);

impl<T: Display> Display for Prefixed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.0, self.1)
    }
}

/// Two values as `a/b`: a part of a whole (`pings=3/3`, `tables=15/15`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ratio<A, B>(pub A, pub B);

impl<A: Display, B: Display> Display for Ratio<A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.0, self.1)
    }
}

/// A list as `a/b/c` (`faults-per-node=40/40`, `sums=1/2/3`); nothing for an empty one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slashed<'a, T>(pub &'a [T]);

impl<T: Display> Display for Slashed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

/// A value as its `Debug` form (`{:?}`).
#[derive(Clone, Copy)]
pub struct Dbg<T>(pub T);

impl<T: fmt::Debug> Display for Dbg<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// A parsed report line, borrowing from the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report<'a> {
    /// The first word after `report: ` (`boot`, `kmem`, `numa-demo`).
    pub name: &'a str,
    /// The rest: the fields.
    rest: &'a str,
}

impl<'a> Report<'a> {
    /// Parses one line; `None` unless it starts with `report: ` (at the very start) and
    /// names something. A trailing `\r` (serial lines) is ignored.
    pub fn parse(line: &'a str) -> Option<Report<'a>> {
        let rest = line.trim_end_matches('\r').strip_prefix(PREFIX)?;
        let rest = rest.trim_start();
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (name, rest) = rest.split_at(end);
        if name.is_empty() {
            return None;
        }
        Some(Report { name, rest })
    }

    /// The fields in order: `(key, value)`; a word without `=` is `(word, "")`.
    pub fn fields(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.rest.split_whitespace().map(|w| w.split_once('=').unwrap_or((w, "")))
    }

    /// The value of the first field named `key`.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.fields().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The value of `key` as a number (decimal or `0x` hex).
    pub fn number(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(parse_u64)
    }
}

/// Every report line of `text`, in order.
pub fn reports(text: &str) -> impl Iterator<Item = Report<'_>> {
    text.lines().filter_map(Report::parse)
}

/// The first `report: NAME` line of `text` that has `key`.
pub fn find<'a>(text: &'a str, name: &str, key: &str) -> Option<Report<'a>> {
    reports(text).find(|r| r.name == name && r.get(key).is_some())
}

/// Parses `0x...` (or `0X...`) as hex, anything else as decimal.
pub fn parse_u64(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;
    use std::string::String;
    use std::vec::Vec;

    #[test]
    fn a_line_writes_exactly_what_a_format_string_did() {
        let (cpu, mpidr, el, load, dtb, kib) = (0u32, 0u64, 1u8, 0x4020_0000u64, 0x4820_0000u64, 752u64);
        let old = format!(
            "report: boot cpu={} mpidr={:#x} entry_el={} load_pa={:#x} dtb_pa={:#x} image_kib={}",
            cpu, mpidr, el, load, dtb, kib
        );
        let new = format!(
            "{}",
            line!("boot", "cpu" => cpu, "mpidr" => Hex(mpidr), "entry_el" => el, "load_pa" => Hex(load),
                  "dtb_pa" => Hex(dtb), "image_kib" => kib)
        );
        assert_eq!(new, old);
    }

    #[test]
    fn ratios_debug_and_format_args_keep_their_bytes() {
        let refaults = [0u32, 6];
        let s = format!(
            "{}",
            line!("numa-policy", "pings" => Ratio(3, 3), "refaults" => Dbg(refaults),
                  "fraction" => format_args!("{:.4}", 0.5f64))
        );
        assert_eq!(s, "report: numa-policy pings=3/3 refaults=[0, 6] fraction=0.5000");
    }

    #[test]
    fn a_line_without_fields_is_its_name_and_an_empty_key_writes_a_bare_word() {
        assert_eq!(format!("{}", line!("halt")), "report: halt");
        assert_eq!(format!("{}", line!("x", "" => "bare", "k" => "v")), "report: x bare k=v");
    }

    #[test]
    fn optional_fields_appear_only_when_present() {
        let (gic, psci): (Option<Prefixed<u8>>, Option<&str>) = (Some(Prefixed("v", 3)), None);
        let s = format!(
            "{}",
            line!("board", "cpus" => 4, "gic" => Maybe(gic), "psci" => Maybe(psci), "console" => "pl011")
        );
        assert_eq!(s, "report: board cpus=4 gic=v3 console=pl011");
    }

    #[test]
    fn keys_may_be_computed() {
        let name = "same-cpu";
        assert_eq!(format!("{}", line!("l4test", name => "pass")), "report: l4test same-cpu=pass");
    }

    #[test]
    fn a_line_goes_into_any_fmt_write() {
        struct Buf([u8; 64], usize);
        impl fmt::Write for Buf {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                let end = self.1 + s.len();
                self.0.get_mut(self.1..end).ok_or(fmt::Error)?.copy_from_slice(s.as_bytes());
                self.1 = end;
                Ok(())
            }
        }
        let mut buf = Buf([0; 64], 0);
        fmt::Write::write_fmt(&mut buf, format_args!("{}\n", line!("smp", "online" => 4, "expected" => 4)))
            .unwrap();
        assert_eq!(&buf.0[..buf.1], b"report: smp online=4 expected=4\n");
    }

    #[test]
    fn written_lines_parse_back() {
        let text = format!(
            "{}\r",
            line!("kmem", "space" => 1, "home" => 0, "tables" => Ratio(15, 15), "bare" => "")
        );
        let r = Report::parse(&text).unwrap();
        assert_eq!(r.name, "kmem");
        let fields: Vec<_> = r.fields().collect();
        assert_eq!(fields, [("space", "1"), ("home", "0"), ("tables", "15/15"), ("bare", "")]);
        assert_eq!(r.get("tables"), Some("15/15"));
        assert_eq!(r.number("space"), Some(1));
        assert_eq!(r.get("missing"), None);
    }

    #[test]
    fn lines_that_are_not_reports_are_ignored() {
        assert_eq!(Report::parse("reports: x"), None);
        assert_eq!(Report::parse("report: "), None);
        assert_eq!(Report::parse("report:boot"), None);
        assert_eq!(Report::parse("  report: boot"), None);
        assert_eq!(Report::parse("report: boot").map(|r| r.fields().count()), Some(0));
    }

    #[test]
    fn a_word_without_equals_is_a_key_with_an_empty_value() {
        let r = Report::parse("report: numa-policy refaults=[0, 6] moved-to=1").unwrap();
        let fields: Vec<_> = r.fields().collect();
        assert_eq!(fields, [("refaults", "[0,"), ("6]", ""), ("moved-to", "1")]);
    }

    #[test]
    fn find_picks_the_first_line_of_the_name_with_the_key() {
        let out = "report: boot cpu=0 entry_el=2\nnoise\nreport: boot result=pass\n";
        assert_eq!(find(out, "boot", "result").unwrap().get("result"), Some("pass"));
        assert_eq!(find(out, "boot", "entry_el").unwrap().get("cpu"), Some("0"));
        assert_eq!(find(out, "bench", "result"), None);
        assert_eq!(reports(out).count(), 2);
    }

    #[test]
    fn numbers_parse_in_hex_and_decimal() {
        assert_eq!(parse_u64("0x40400000"), Some(0x4040_0000));
        assert_eq!(parse_u64("0X10"), Some(16));
        assert_eq!(parse_u64("12"), Some(12));
        assert_eq!(parse_u64("0xzz"), None);
        assert_eq!(parse_u64(""), None);
    }

    #[test]
    fn a_slashed_list_is_one_word() {
        let s = format!(
            "{}",
            line!("numa-program-detail", "faults-per-node" => Slashed(&[40u64, 41, 0]), "none" => Slashed::<u64>(&[]))
        );
        assert_eq!(s, "report: numa-program-detail faults-per-node=40/41/0 none=");
    }

    #[test]
    fn hex_of_zero_is_0x0() {
        let s: String = format!("{}", Hex(0));
        assert_eq!(s, "0x0");
    }
}
