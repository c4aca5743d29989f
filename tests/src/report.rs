// SPDX-License-Identifier: MIT OR Apache-2.0
//! Reading the kernel's `report:` lines.
//!
//! The kernel speaks to tests the way it speaks to people: a line starting `report: ` names
//! what is reported and then gives `key=value` pairs, e.g.
//! `report: boot cpu=0 mpidr=0x0 entry_el=1 load_pa=0x40200000 dtb_pa=0x48000000`.
//! Tests, benchmarks and tools all parse this one format, so a person reading a log sees
//! exactly what the test checked.

#![forbid(unsafe_code)]

/// One `report:` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The first word after `report:` (`boot`, `bench`, ...).
    pub kind: String,
    /// The `key=value` pairs in order (words without `=` are kept with an empty value).
    pub fields: Vec<(String, String)>,
}

impl Report {
    /// Parses one line; `None` unless it starts with `report: ` and names a kind.
    pub fn parse(line: &str) -> Option<Report> {
        let rest = line.trim_end_matches('\r').strip_prefix("report: ")?;
        let mut words = rest.split_whitespace();
        let kind = words.next()?.to_string();
        let fields = words
            .map(|w| match w.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (w.to_string(), String::new()),
            })
            .collect();
        Some(Report { kind, fields })
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Every report line of `output`, in order.
pub fn reports(output: &str) -> Vec<Report> {
    output.lines().filter_map(Report::parse).collect()
}

/// The first `report: <kind>` line that has `key`.
pub fn find(output: &str, kind: &str, key: &str) -> Option<Report> {
    reports(output).into_iter().find(|r| r.kind == kind && r.get(key).is_some())
}

/// Parses `0x...` or decimal.
pub fn parse_u64(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_lines_parse_into_fields() {
        let r = Report::parse("report: boot cpu=0 mpidr=0x0 entry_el=1 load_pa=0x40200000\r").unwrap();
        assert_eq!(r.kind, "boot");
        assert_eq!(r.get("entry_el"), Some("1"));
        assert_eq!(r.get("load_pa").and_then(parse_u64), Some(0x4020_0000));
        assert_eq!(r.get("missing"), None);
    }

    #[test]
    fn non_reports_are_ignored() {
        assert_eq!(Report::parse("reports: x"), None);
        assert_eq!(Report::parse("report: "), None);
        assert_eq!(Report::parse("  report: boot"), None);
    }

    #[test]
    fn find_picks_the_line_with_the_key() {
        let out = "report: boot cpu=0 entry_el=2\nnoise\nreport: boot result=pass\n";
        assert_eq!(find(out, "boot", "result").unwrap().get("result"), Some("pass"));
        assert_eq!(find(out, "boot", "entry_el").unwrap().get("cpu"), Some("0"));
        assert_eq!(find(out, "bench", "result"), None);
        assert_eq!(reports(out).len(), 2);
    }

    #[test]
    fn numbers_parse_in_hex_and_decimal() {
        assert_eq!(parse_u64("0x40400000"), Some(0x4040_0000));
        assert_eq!(parse_u64("12"), Some(12));
        assert_eq!(parse_u64("0xzz"), None);
    }
}
