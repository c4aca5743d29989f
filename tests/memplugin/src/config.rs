// SPDX-License-Identifier: MIT OR Apache-2.0
//! The plugin's arguments: where the output goes, which vCPU sits on which node, which RAM
//! belongs to which node.
//!
//! QEMU hands a plugin its `-plugin PATH,key=value,...` options as an array of `key=value`
//! strings, in order, repeated keys kept. [`parse_args`] turns them into a [`Config`] without
//! side effects (no file is opened here), so that every way an argument can be wrong is a host
//! test; the FFI layer only acts once the whole command line was accepted. QEMU refuses to
//! start when the plugin's install function fails, so a typo can not silently produce a
//! report that counts everything as `unmapped`.
//!
//! Syntax (numbers are decimal or hexadecimal with `0x`):
//!
//! ```text
//! out=PATH                 required, once: the file the report is written to at exit
//! cpu=VCPU:NODE            repeatable: vCPU index VCPU (QEMU's cpu_index) is on NODE
//! mem=START:SIZE:NODE      repeatable, at least once: guest-physical RAM [START, START+SIZE)
//!                          is on NODE
//! span=NAME:START:END      repeatable, at most MAX_SPANS: user accesses through virtual
//!                          addresses [START, END) are also counted under NAME (where in a
//!                          program's layout the remote ones come from); the rest as `other`
//! ```

#![forbid(unsafe_code)]

use std::fmt;
use std::io;

/// vCPUs with an index at or above this are counted, but always under `cpu-node=unknown`.
pub const MAX_VCPUS: usize = 64;

/// Node ids must be below this (the counters are arrays indexed by node).
pub const MAX_NODES: usize = 16;

/// Most `span=` arguments.
pub const MAX_SPANS: usize = 16;

/// One line that shows the whole argument syntax, printed after every argument error.
pub const USAGE: &str = "usage: -plugin libmemplugin.so,out=PATH[,cpu=VCPU:NODE...],mem=START:SIZE:NODE[,...][,span=NAME:START:END...]";

/// A NUMA node id, known to be below [`MAX_NODES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(u8);

impl NodeId {
    /// The node `id`, or `None` if it does not fit the counters.
    pub fn new(id: u64) -> Option<NodeId> {
        if id < MAX_NODES as u64 { u8::try_from(id).ok().map(NodeId) } else { None }
    }

    /// The node as an array index, below [`MAX_NODES`].
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Guest-physical RAM `[start, last]` on one node. `last` is inclusive so that a range may
/// end at the top of the 64-bit address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemRange {
    start: u64,
    last: u64,
    node: NodeId,
}

impl MemRange {
    /// The range's first address.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// The range's last address (inclusive).
    pub fn last(&self) -> u64 {
        self.last
    }

    /// The node the range belongs to.
    pub fn node(&self) -> NodeId {
        self.node
    }
}

/// The guest's RAM ranges, sorted by start and disjoint, so that a lookup is a binary search.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryMap {
    ranges: Vec<MemRange>,
}

impl MemoryMap {
    /// The node whose RAM holds `addr`, or `None` if no range covers it.
    ///
    /// This runs on every guest memory access: a binary search over a handful of ranges.
    #[inline]
    pub fn node_of(&self, addr: u64) -> Option<NodeId> {
        // Ranges are sorted and disjoint: the only candidate is the last one starting at or
        // below `addr`.
        let after = self.ranges.partition_point(|r| r.start <= addr);
        let candidate = self.ranges.get(after.checked_sub(1)?)?;
        (addr <= candidate.last).then_some(candidate.node)
    }

    /// The ranges, sorted by start.
    pub fn ranges(&self) -> &[MemRange] {
        &self.ranges
    }
}

/// A named span of user virtual addresses `[start, end)` (`span=`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// Its name in the report.
    pub name: String,
    /// First address.
    pub start: u64,
    /// One past the last.
    pub end: u64,
}

/// Everything the plugin was told on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Where the report goes at exit.
    pub out: String,
    /// The node of each vCPU index below [`MAX_VCPUS`]; `None`: not given (`unknown`).
    pub cpu_nodes: [Option<NodeId>; MAX_VCPUS],
    /// The guest's RAM and its nodes.
    pub memory: MemoryMap,
    /// The named spans of user addresses, sorted by start and disjoint.
    pub spans: Vec<Span>,
}

impl Config {
    /// The index of the span holding user address `vaddr`, or [`MAX_SPANS`] (`other`).
    #[inline]
    pub fn span_of(&self, vaddr: u64) -> usize {
        let after = self.spans.partition_point(|s| s.start <= vaddr);
        match after.checked_sub(1) {
            Some(i) if vaddr < self.spans[i].end => i,
            _ => MAX_SPANS,
        }
    }
}

/// What QEMU tells the plugin about the machine at install time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MachineInfo {
    /// Full-system emulation (physical addresses exist), not linux-user.
    pub system_emulation: bool,
    /// The highest number of vCPUs the machine can have (`-smp maxcpus`).
    pub max_vcpus: u32,
}

/// A rejected plugin command line. Each variant names the argument that was wrong.
#[derive(Debug)]
pub enum Error {
    /// An argument without `=`.
    NotKeyValue {
        /// The argument as given.
        arg: String,
    },
    /// An argument QEMU passed that is not valid UTF-8.
    NotUtf8 {
        /// The argument, with invalid bytes replaced.
        arg: String,
    },
    /// A key other than `out`, `cpu`, `mem`.
    UnknownKey {
        /// The argument as given.
        arg: String,
    },
    /// No `out=PATH`.
    MissingOut,
    /// `out=` given twice.
    RepeatedOut,
    /// `out=` with an empty path.
    EmptyOut,
    /// No `mem=START:SIZE:NODE`: every access would count as `unmapped`.
    MissingMem,
    /// A `cpu=` or `mem=` value without the right number of `:`-separated fields.
    Malformed {
        /// The argument as given.
        arg: String,
        /// The expected form, e.g. `cpu=VCPU:NODE`.
        syntax: &'static str,
    },
    /// A field that is not a decimal or `0x` hexadecimal number that fits 64 bits.
    BadNumber {
        /// The argument as given.
        arg: String,
        /// The field that did not parse.
        field: String,
    },
    /// A vCPU index at or above [`MAX_VCPUS`].
    VcpuTooLarge {
        /// The argument as given.
        arg: String,
    },
    /// A node id at or above [`MAX_NODES`].
    NodeTooLarge {
        /// The argument as given.
        arg: String,
    },
    /// More than [`MAX_SPANS`] `span=` arguments.
    TooManySpans,
    /// Two `span=` ranges that share addresses, or one named twice.
    SpanOverlap {
        /// The second of the two, as given.
        arg: String,
    },
    /// The same vCPU given twice.
    RepeatedVcpu {
        /// The vCPU index.
        vcpu: usize,
    },
    /// A `mem=` range of size 0.
    EmptyRange {
        /// The argument as given.
        arg: String,
    },
    /// A `mem=` range that runs past the end of the 64-bit address space.
    RangeWraps {
        /// The argument as given.
        arg: String,
    },
    /// Two `mem=` ranges that share addresses.
    Overlap {
        /// One of the two ranges, as `START..=LAST`.
        first: String,
        /// The other one.
        second: String,
    },
    /// The plugin was loaded into linux-user QEMU: there are no physical addresses there.
    NotSystemEmulation,
    /// A `cpu=` index the machine does not have.
    VcpuNotInMachine {
        /// The vCPU index.
        vcpu: usize,
        /// How many vCPUs the machine can have.
        max_vcpus: u32,
    },
    /// The output file could not be created.
    OutFile {
        /// The path from `out=`.
        path: String,
        /// Why it failed.
        error: io::Error,
    },
    /// QEMU loaded this shared object twice (two `-plugin` options with the same path): the
    /// second copy would share the first one's counters.
    LoadedTwice,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotKeyValue { arg } => write!(f, "`{arg}`: expected key=value"),
            Error::NotUtf8 { arg } => write!(f, "`{arg}`: not valid UTF-8"),
            Error::UnknownKey { arg } => write!(f, "`{arg}`: unknown key (known: out, cpu, mem, span)"),
            Error::TooManySpans => write!(f, "more than {MAX_SPANS} span= arguments"),
            Error::SpanOverlap { arg } => write!(f, "`{arg}`: overlaps or repeats the name of another span"),
            Error::MissingOut => write!(f, "missing out=PATH (the file the report is written to)"),
            Error::RepeatedOut => write!(f, "out= given more than once"),
            Error::EmptyOut => write!(f, "out= needs a path"),
            Error::MissingMem => {
                write!(f, "missing mem=START:SIZE:NODE (without it every access counts as unmapped)")
            }
            Error::Malformed { arg, syntax } => write!(f, "`{arg}`: expected {syntax}"),
            Error::BadNumber { arg, field } => {
                write!(f, "`{arg}`: `{field}` is not a decimal or 0x-hex 64-bit number")
            }
            Error::VcpuTooLarge { arg } => {
                write!(f, "`{arg}`: vCPU index must be below {MAX_VCPUS}")
            }
            Error::NodeTooLarge { arg } => write!(f, "`{arg}`: node must be below {MAX_NODES}"),
            Error::RepeatedVcpu { vcpu } => write!(f, "vCPU {vcpu} given more than once"),
            Error::EmptyRange { arg } => write!(f, "`{arg}`: SIZE must not be 0"),
            Error::RangeWraps { arg } => {
                write!(f, "`{arg}`: START+SIZE runs past the end of the address space")
            }
            Error::Overlap { first, second } => write!(f, "mem ranges {first} and {second} overlap"),
            Error::NotSystemEmulation => {
                write!(f, "needs full-system emulation (qemu-system-*): linux-user has no physical addresses")
            }
            Error::VcpuNotInMachine { vcpu, max_vcpus } => {
                write!(f, "cpu={vcpu}:...: the machine has only {max_vcpus} vCPUs")
            }
            Error::OutFile { path, error } => write!(f, "out={path}: cannot create the file: {error}"),
            Error::LoadedTwice => write!(f, "loaded twice (give one -plugin per path)"),
        }
    }
}

impl std::error::Error for Error {}

/// Parses a decimal number, or a hexadecimal one with a `0x`/`0X` prefix. Signs, spaces and
/// empty strings are refused (`u64::from_str` would take a leading `+`).
pub fn parse_number(text: &str) -> Option<u64> {
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Splits `value` at `:` into exactly `N` numbers.
fn numbers<const N: usize>(arg: &str, value: &str, syntax: &'static str) -> Result<[u64; N], Error> {
    let fields: Vec<&str> = value.split(':').collect();
    if fields.len() != N {
        return Err(Error::Malformed { arg: arg.to_owned(), syntax });
    }
    let mut out = [0; N];
    for (slot, field) in out.iter_mut().zip(fields) {
        *slot = parse_number(field)
            .ok_or_else(|| Error::BadNumber { arg: arg.to_owned(), field: field.to_owned() })?;
    }
    Ok(out)
}

fn node(arg: &str, id: u64) -> Result<NodeId, Error> {
    NodeId::new(id).ok_or_else(|| Error::NodeTooLarge { arg: arg.to_owned() })
}

fn show(range: &MemRange) -> String {
    format!("{:#x}..={:#x}", range.start, range.last)
}

/// Parses the plugin's `key=value` arguments, in the order QEMU passed them.
pub fn parse_args<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Config, Error> {
    let mut out = None;
    let mut cpu_nodes = [None; MAX_VCPUS];
    let mut ranges = Vec::new();
    let mut spans: Vec<Span> = Vec::new();

    for arg in args {
        let (key, value) = arg.split_once('=').ok_or_else(|| Error::NotKeyValue { arg: arg.to_owned() })?;
        match key {
            "out" => {
                if out.is_some() {
                    return Err(Error::RepeatedOut);
                }
                if value.is_empty() {
                    return Err(Error::EmptyOut);
                }
                out = Some(value.to_owned());
            }
            "cpu" => {
                let [vcpu, id] = numbers(arg, value, "cpu=VCPU:NODE")?;
                let vcpu = usize::try_from(vcpu)
                    .ok()
                    .filter(|&v| v < MAX_VCPUS)
                    .ok_or_else(|| Error::VcpuTooLarge { arg: arg.to_owned() })?;
                let id = node(arg, id)?;
                if cpu_nodes[vcpu].replace(id).is_some() {
                    return Err(Error::RepeatedVcpu { vcpu });
                }
            }
            "mem" => {
                let [start, size, id] = numbers(arg, value, "mem=START:SIZE:NODE")?;
                let node = node(arg, id)?;
                let size_less_one =
                    size.checked_sub(1).ok_or_else(|| Error::EmptyRange { arg: arg.to_owned() })?;
                let last = start
                    .checked_add(size_less_one)
                    .ok_or_else(|| Error::RangeWraps { arg: arg.to_owned() })?;
                ranges.push(MemRange { start, last, node });
            }
            "span" => {
                const SYNTAX: &str = "span=NAME:START:END";
                let (name, range) = value
                    .split_once(':')
                    .ok_or_else(|| Error::Malformed { arg: arg.to_owned(), syntax: SYNTAX })?;
                if name.is_empty() || name.contains(char::is_whitespace) || name == "other" {
                    return Err(Error::Malformed { arg: arg.to_owned(), syntax: SYNTAX });
                }
                let [start, end] = numbers(arg, range, SYNTAX)?;
                if end <= start {
                    return Err(Error::EmptyRange { arg: arg.to_owned() });
                }
                if spans.len() == MAX_SPANS {
                    return Err(Error::TooManySpans);
                }
                if spans.iter().any(|s| s.name == name || (start < s.end && s.start < end)) {
                    return Err(Error::SpanOverlap { arg: arg.to_owned() });
                }
                spans.push(Span { name: name.to_owned(), start, end });
            }
            _ => return Err(Error::UnknownKey { arg: arg.to_owned() }),
        }
    }

    let out = out.ok_or(Error::MissingOut)?;
    if ranges.is_empty() {
        return Err(Error::MissingMem);
    }
    ranges.sort_by_key(|r| r.start);
    if let Some(pair) = ranges.windows(2).find(|pair| pair[1].start <= pair[0].last) {
        return Err(Error::Overlap { first: show(&pair[0]), second: show(&pair[1]) });
    }
    spans.sort_by_key(|s| s.start);
    Ok(Config { out, cpu_nodes, memory: MemoryMap { ranges }, spans })
}

impl Config {
    /// Checks the configuration against the machine QEMU describes at install time.
    pub fn check_machine(&self, machine: MachineInfo) -> Result<(), Error> {
        if !machine.system_emulation {
            return Err(Error::NotSystemEmulation);
        }
        let max = usize::try_from(machine.max_vcpus).unwrap_or(usize::MAX);
        match self.cpu_nodes.iter().enumerate().skip(max).find(|(_, node)| node.is_some()) {
            Some((vcpu, _)) => Err(Error::VcpuNotInMachine { vcpu, max_vcpus: machine.max_vcpus }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, Error> {
        parse_args(args.iter().copied())
    }

    fn n(id: u64) -> NodeId {
        NodeId::new(id).unwrap()
    }

    const TWO_NODES: [&str; 5] = [
        "out=/tmp/m.txt",
        "cpu=0:0",
        "cpu=1:1",
        "mem=0x40000000:0x10000000:0",
        "mem=0x50000000:0x10000000:1",
    ];

    #[test]
    fn parses_the_two_node_example() {
        let c = parse(&TWO_NODES).unwrap();
        assert_eq!(c.out, "/tmp/m.txt");
        assert_eq!(c.cpu_nodes[0], Some(n(0)));
        assert_eq!(c.cpu_nodes[1], Some(n(1)));
        assert!(c.cpu_nodes[2..].iter().all(Option::is_none));
        let r = c.memory.ranges();
        assert_eq!((r[0].start(), r[0].last(), r[0].node()), (0x4000_0000, 0x4fff_ffff, n(0)));
        assert_eq!((r[1].start(), r[1].last(), r[1].node()), (0x5000_0000, 0x5fff_ffff, n(1)));
    }

    #[test]
    fn numbers_are_decimal_or_0x_hex() {
        assert_eq!(parse_number("0"), Some(0));
        assert_eq!(parse_number("1073741824"), Some(0x4000_0000));
        assert_eq!(parse_number("0x4000_0000"), None);
        assert_eq!(parse_number("0X4000aBcD"), Some(0x4000_abcd));
        assert_eq!(parse_number("0xffffffffffffffff"), Some(u64::MAX));
        assert_eq!(parse_number("0x10000000000000000"), None);
        assert_eq!(parse_number("18446744073709551616"), None);
        for bad in ["", "0x", "+5", "-5", " 5", "5 ", "abc", "0b101", "1e3", "256M"] {
            assert_eq!(parse_number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ranges_are_sorted_and_looked_up_by_node() {
        let c = parse(&["out=o", "mem=0x50000000:0x100:1", "mem=0x40000000:256:0", "mem=0x60000000:1:2"])
            .unwrap();
        let m = &c.memory;
        assert_eq!(
            m.ranges().iter().map(|r| r.start()).collect::<Vec<_>>(),
            [0x4000_0000, 0x5000_0000, 0x6000_0000]
        );
        assert_eq!(m.node_of(0), None);
        assert_eq!(m.node_of(0x3fff_ffff), None);
        assert_eq!(m.node_of(0x4000_0000), Some(n(0)));
        assert_eq!(m.node_of(0x4000_00ff), Some(n(0)));
        assert_eq!(m.node_of(0x4000_0100), None);
        assert_eq!(m.node_of(0x5000_0000), Some(n(1)));
        assert_eq!(m.node_of(0x5000_00ff), Some(n(1)));
        assert_eq!(m.node_of(0x6000_0000), Some(n(2)));
        assert_eq!(m.node_of(0x6000_0001), None);
        assert_eq!(m.node_of(u64::MAX), None);
    }

    #[test]
    fn a_range_may_end_at_the_top_of_the_address_space() {
        let c = parse(&["out=o", "mem=0xffffffffffffff00:0x100:3"]).unwrap();
        assert_eq!(c.memory.node_of(u64::MAX), Some(n(3)));
        assert_eq!(c.memory.node_of(0xffff_ffff_ffff_feff), None);
    }

    #[test]
    fn adjacent_ranges_do_not_overlap() {
        let c = parse(&["out=o", "mem=0x1000:0x1000:0", "mem=0x2000:0x1000:1"]).unwrap();
        assert_eq!(c.memory.node_of(0x1fff), Some(n(0)));
        assert_eq!(c.memory.node_of(0x2000), Some(n(1)));
    }

    #[test]
    fn cpu_is_optional_and_order_does_not_matter() {
        let c = parse(&["mem=0:1:0", "out=o"]).unwrap();
        assert!(c.cpu_nodes.iter().all(Option::is_none));
        let c = parse(&["cpu=63:15", "mem=0:1:15", "out=o"]).unwrap();
        assert_eq!(c.cpu_nodes[63], Some(n(15)));
    }

    #[test]
    fn rejects_an_argument_without_equals() {
        let e = parse(&["out=o", "mem=0:1:0", "verbose"]).unwrap_err();
        assert!(matches!(&e, Error::NotKeyValue { arg } if arg == "verbose"), "{e:?}");
        assert_eq!(e.to_string(), "`verbose`: expected key=value");
    }

    #[test]
    fn rejects_an_unknown_key() {
        let e = parse(&["out=o", "mem=0:1:0", "arg=x"]).unwrap_err();
        assert!(matches!(&e, Error::UnknownKey { arg } if arg == "arg=x"), "{e:?}");
        assert!(e.to_string().contains("unknown key"));
    }

    #[test]
    fn rejects_missing_repeated_or_empty_out() {
        assert!(matches!(parse(&["mem=0:1:0"]), Err(Error::MissingOut)));
        assert!(matches!(parse(&[]), Err(Error::MissingOut)));
        assert!(matches!(parse(&["out=a", "out=a", "mem=0:1:0"]), Err(Error::RepeatedOut)));
        assert!(matches!(parse(&["out=", "mem=0:1:0"]), Err(Error::EmptyOut)));
    }

    #[test]
    fn rejects_a_command_line_without_memory() {
        assert!(matches!(parse(&["out=o", "cpu=0:0"]), Err(Error::MissingMem)));
    }

    #[test]
    fn rejects_the_wrong_number_of_fields() {
        for (arg, syntax) in [
            ("cpu=0", "cpu=VCPU:NODE"),
            ("cpu=0:1:2", "cpu=VCPU:NODE"),
            ("cpu=", "cpu=VCPU:NODE"),
            ("mem=0:1", "mem=START:SIZE:NODE"),
            ("mem=0:1:0:0", "mem=START:SIZE:NODE"),
        ] {
            let e = parse(&["out=o", "mem=0:1:0", arg]).unwrap_err();
            assert!(
                matches!(&e, Error::Malformed { arg: a, syntax: s } if a == arg && *s == syntax),
                "{e:?}"
            );
        }
    }

    #[test]
    fn rejects_a_field_that_is_not_a_number() {
        let e = parse(&["out=o", "mem=0x40000000:256M:0"]).unwrap_err();
        assert!(
            matches!(&e, Error::BadNumber { arg, field } if arg == "mem=0x40000000:256M:0" && field == "256M")
        );
        assert_eq!(e.to_string(), "`mem=0x40000000:256M:0`: `256M` is not a decimal or 0x-hex 64-bit number");
        let e = parse(&["out=o", "mem=0:1:0", "cpu=x:0"]).unwrap_err();
        assert!(matches!(&e, Error::BadNumber { field, .. } if field == "x"));
        let e = parse(&["out=o", "mem=0:1:0", "cpu=0:"]).unwrap_err();
        assert!(matches!(&e, Error::BadNumber { field, .. } if field.is_empty()));
    }

    #[test]
    fn rejects_vcpus_and_nodes_that_do_not_fit_the_counters() {
        let e = parse(&["out=o", "mem=0:1:0", "cpu=64:0"]).unwrap_err();
        assert!(matches!(&e, Error::VcpuTooLarge { arg } if arg == "cpu=64:0"));
        assert!(e.to_string().contains("below 64"));
        assert!(matches!(
            parse(&["out=o", "mem=0:1:0", "cpu=0xffffffffffffffff:0"]),
            Err(Error::VcpuTooLarge { .. })
        ));
        let e = parse(&["out=o", "mem=0:1:0", "cpu=0:16"]).unwrap_err();
        assert!(matches!(&e, Error::NodeTooLarge { arg } if arg == "cpu=0:16"));
        assert!(e.to_string().contains("below 16"));
        assert!(matches!(parse(&["out=o", "mem=0:1:16"]), Err(Error::NodeTooLarge { .. })));
    }

    #[test]
    fn rejects_a_vcpu_given_twice() {
        let e = parse(&["out=o", "mem=0:1:0", "cpu=1:0", "cpu=1:0"]).unwrap_err();
        assert!(matches!(e, Error::RepeatedVcpu { vcpu: 1 }));
        assert_eq!(e.to_string(), "vCPU 1 given more than once");
    }

    #[test]
    fn rejects_empty_and_wrapping_ranges() {
        let e = parse(&["out=o", "mem=0x1000:0:0"]).unwrap_err();
        assert!(matches!(&e, Error::EmptyRange { arg } if arg == "mem=0x1000:0:0"));
        let e = parse(&["out=o", "mem=0xffffffffffffff00:0x101:0"]).unwrap_err();
        assert!(matches!(&e, Error::RangeWraps { .. }));
        assert!(e.to_string().contains("past the end"));
    }

    #[test]
    fn rejects_overlapping_ranges_naming_both() {
        let e = parse(&["out=o", "mem=0x2000:0x1000:1", "mem=0x1000:0x1001:0"]).unwrap_err();
        assert!(
            matches!(&e, Error::Overlap { first, second } if first == "0x1000..=0x2000" && second == "0x2000..=0x2fff"),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "mem ranges 0x1000..=0x2000 and 0x2000..=0x2fff overlap");
        // The same range twice overlaps too.
        assert!(matches!(parse(&["out=o", "mem=0:1:0", "mem=0:1:0"]), Err(Error::Overlap { .. })));
    }

    #[test]
    fn checks_the_machine() {
        let c = parse(&TWO_NODES).unwrap();
        assert!(c.check_machine(MachineInfo { system_emulation: true, max_vcpus: 2 }).is_ok());
        assert!(c.check_machine(MachineInfo { system_emulation: true, max_vcpus: 200 }).is_ok());
        let e = c.check_machine(MachineInfo { system_emulation: true, max_vcpus: 1 }).unwrap_err();
        assert!(matches!(e, Error::VcpuNotInMachine { vcpu: 1, max_vcpus: 1 }));
        assert_eq!(e.to_string(), "cpu=1:...: the machine has only 1 vCPUs");
        let e = c.check_machine(MachineInfo { system_emulation: false, max_vcpus: 2 }).unwrap_err();
        assert!(matches!(e, Error::NotSystemEmulation));
    }

    #[test]
    fn every_error_has_a_message() {
        let io = io::Error::new(io::ErrorKind::NotFound, "No such file or directory");
        for (e, text) in [
            (Error::NotUtf8 { arg: "out=\u{fffd}".into() }, "`out=\u{fffd}`: not valid UTF-8"),
            (Error::EmptyOut, "out= needs a path"),
            (Error::RepeatedOut, "out= given more than once"),
            (
                Error::OutFile { path: "/x/y".into(), error: io },
                "out=/x/y: cannot create the file: No such file or directory",
            ),
            (Error::LoadedTwice, "loaded twice (give one -plugin per path)"),
        ] {
            assert_eq!(e.to_string(), text);
        }
        assert!(Error::MissingOut.to_string().starts_with("missing out=PATH"));
        assert!(Error::MissingMem.to_string().starts_with("missing mem=START:SIZE:NODE"));
        assert!(Error::NotSystemEmulation.to_string().contains("full-system"));
    }

    #[test]
    fn spans_are_named_sorted_and_found_and_bad_ones_refused() {
        let mut args = TWO_NODES.to_vec();
        args.extend(["span=heap:0x1000:0x2000", "span=image:0x400000:0x100000000"]);
        let c = parse(&args).unwrap();
        assert_eq!(c.spans.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["heap", "image"]);
        assert_eq!(c.span_of(0x1000), 0);
        assert_eq!(c.span_of(0x1fff), 0);
        assert_eq!(c.span_of(0x2000), MAX_SPANS, "the end is not in it");
        assert_eq!(c.span_of(0x40_0000), 1);
        assert_eq!(c.span_of(0), MAX_SPANS);
        let with = |extra: &[&str]| {
            let mut a = TWO_NODES.to_vec();
            a.extend(extra);
            parse(&a)
        };
        assert!(matches!(with(&["span=a:0x10"]), Err(Error::Malformed { .. })));
        assert!(matches!(with(&["span=:1:2"]), Err(Error::Malformed { .. })));
        assert!(matches!(with(&["span=other:1:2"]), Err(Error::Malformed { .. })));
        assert!(matches!(with(&["span=a:2:2"]), Err(Error::EmptyRange { .. })));
        assert!(matches!(with(&["span=a:x:2"]), Err(Error::BadNumber { .. })));
        assert!(matches!(with(&["span=a:1:5", "span=b:4:9"]), Err(Error::SpanOverlap { .. })));
        assert!(matches!(with(&["span=a:1:5", "span=a:5:9"]), Err(Error::SpanOverlap { .. })));
        let many: Vec<String> =
            (0..=MAX_SPANS).map(|i| format!("span=s{i}:{}:{}", 2 * i, 2 * i + 1)).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(matches!(with(&many), Err(Error::TooManySpans)));
    }
}
