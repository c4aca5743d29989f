// SPDX-License-Identifier: MIT OR Apache-2.0
//! The QEMU boot-test matrix and what each boot must show.
//!
//! Host unit tests prove the pieces; these tests prove that the pieces work together on the
//! target. Each entry boots the real kernel Image on one machine shape (a NUMA topology, an
//! entry exception level, a loader) and then judges the captured serial output:
//!
//! * a good boot exits through semihosting with status 0, prints the `report: boot` line with
//!   the expected entry level, prints exactly the `numactl --hardware` block computed from the
//!   spec (see `numactl.rs`), prints `report: boot result=pass`, and never `panic:` or
//!   `exception:`;
//! * a deliberate failure (`selftest=panic`, `selftest=fault`) exits with a non-zero status and
//!   prints the diagnostics a developer would need: the source location of the panic and a
//!   backtrace, or the exception class with FAR, ELR and the CPU.
//!
//! Every check that fails is reported, not only the first, so one run tells the whole story.
//! The judging is pure (`check` takes text and an [`Ending`]) and unit-tested below.

#![forbid(unsafe_code)]

use crate::numactl::{describe_mismatch, expected_block, find_block};
use crate::qemu::{Boot, QemuConfig, UBOOT_BIOS};
use crate::report::{self, parse_u64};
use crate::runner::Ending;
use crate::symbolize::parse_frame;
use crate::topology::Topology;
use std::path::Path;

/// Where QEMU's own loader puts a flat Image (`-kernel` without firmware).
pub const QEMU_LOAD_PA: u64 = 0x4020_0000;

/// What a boot must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// A clean boot that prints the topology and passes.
    Pass {
        /// The exception level the kernel must report it was entered at.
        entry_el: u8,
        /// The kernel must report a `load_pa` other than this (a different loader was used).
        load_pa_not: Option<u64>,
    },
    /// `selftest=panic`: a panic with a location and a backtrace, non-zero exit.
    Panic,
    /// `selftest=fault`: a data abort report with FAR, ELR and CPU, non-zero exit.
    Fault,
}

/// One boot test.
#[derive(Debug, Clone)]
pub struct BootTest {
    /// Name printed in the `ok NAME` / `FAILED NAME` line and matched by `--filter`.
    pub name: &'static str,
    /// What QEMU runs.
    pub config: QemuConfig,
    /// What the output must show.
    pub expect: Expect,
}

fn spec(nodes: &[&str], dists: &[&str], clusters: Option<u32>) -> Topology {
    Topology::parse(nodes, dists, clusters).expect("the boot-test topologies are valid")
}

/// The matrix, in the order it runs.
pub fn matrix(image: &Path) -> Vec<BootTest> {
    let config = |topology: Topology| QemuConfig::new(topology, image);
    let pass = Expect::Pass { entry_el: 1, load_pa_not: None };
    let single = || spec(&["cpus=1,mem=512M"], &[], None);
    let mut tests = vec![
        BootTest { name: "single-node-1cpu", config: config(single()), expect: pass.clone() },
        BootTest { name: "numa-2x2", config: config(Topology::demo()), expect: pass.clone() },
        BootTest {
            name: "numa-2x2-no-distance-map",
            config: config(spec(&["cpus=2,mem=512M"; 2], &[], None)),
            expect: pass.clone(),
        },
        BootTest {
            name: "numa-4-asymmetric",
            config: config(spec(
                &["cpus=1,mem=256M"; 4],
                &["0-1=15", "1-0=25", "0-2=30", "2-0=40", "0-3=40", "1-2=35", "1-3=30", "2-3=15", "3-2=18"],
                None,
            )),
            expect: pass.clone(),
        },
        BootTest {
            name: "numa-memoryless-node",
            config: config(spec(
                &["cpus=2,mem=512M", "cpus=1,mem=0", "cpus=1,mem=256M"],
                &["0-1=15", "1-0=25"],
                None,
            )),
            expect: pass.clone(),
        },
        BootTest {
            name: "numa-cpuless-node",
            config: config(spec(
                &["cpus=2,mem=256M", "cpus=0,mem=256M", "cpus=2,mem=256M"],
                &["0-1=30", "1-2=30", "0-2=20"],
                None,
            )),
            expect: pass.clone(),
        },
        BootTest {
            name: "numa-clusters",
            config: config(spec(&["cpus=2,mem=256M"; 2], &["0-1=20"], Some(2))),
            expect: pass.clone(),
        },
    ];
    let mut el2 = config(Topology::demo());
    el2.el2 = true;
    tests.push(BootTest {
        name: "el2-entry",
        config: el2,
        expect: Expect::Pass { entry_el: 2, load_pa_not: None },
    });
    for (name, arg, expect) in [
        ("selftest-panic", "selftest=panic", Expect::Panic),
        ("selftest-fault", "selftest=fault", Expect::Fault),
    ] {
        let mut c = config(single());
        c.append.push(arg.to_string());
        tests.push(BootTest { name, config: c, expect });
    }
    // U-Boot loads the Image itself (`booti`), at another address than QEMU's loader. With
    // several memory nodes U-Boot 2023.01 hangs placing the DTB (FACTS.md), so one node.
    let mut uboot = config(spec(&["cpus=1,mem=1G"], &[], None));
    uboot.boot = Boot::Firmware(UBOOT_BIOS.into());
    tests.push(BootTest {
        name: "uboot-booti",
        config: uboot,
        expect: Expect::Pass { entry_el: 1, load_pa_not: Some(QEMU_LOAD_PA) },
    });
    tests
}

fn has_line(output: &str, pred: impl Fn(&str) -> bool) -> bool {
    output.lines().any(pred)
}

/// Judges one boot: `Ok` or every reason it failed.
pub fn check(test: &BootTest, ending: Ending, output: &str) -> Result<(), Vec<String>> {
    let mut why = Vec::new();
    let passed_line = has_line(output, |l| {
        report::Report::parse(l).is_some_and(|r| r.kind == "boot" && r.get("result") == Some("pass"))
    });
    match &test.expect {
        Expect::Pass { entry_el, load_pa_not } => {
            if !ending.is_success() {
                why.push(format!("expected exit status 0, got {ending}"));
            }
            for bad in ["panic:", "exception:"] {
                if let Some(l) = output.lines().find(|l| l.starts_with(bad)) {
                    why.push(format!("unexpected `{l}`"));
                }
            }
            match report::find(output, "boot", "entry_el") {
                None => why.push("no `report: boot ... entry_el=` line".to_string()),
                Some(boot) => {
                    let el = boot.get("entry_el").unwrap_or("");
                    if el != entry_el.to_string() {
                        why.push(format!("expected entry_el={entry_el}, got entry_el={el}"));
                    }
                    if let Some(not) = load_pa_not {
                        match boot.get("load_pa").and_then(parse_u64) {
                            None => why.push("the boot line has no load_pa=".to_string()),
                            Some(pa) if pa == *not => why.push(format!(
                                "load_pa={pa:#x} is QEMU's own loader's address: the Image was not loaded by the firmware"
                            )),
                            Some(_) => {}
                        }
                    }
                }
            }
            let want = expected_block(&test.config.topology);
            match find_block(output) {
                None => why.push("no numactl block (`available: ...`) in the output".to_string()),
                Some(got) if got != want => why.push(format!(
                    "the numactl block differs (- expected, + printed):\n{}",
                    describe_mismatch(&want, &got)
                )),
                Some(_) => {}
            }
            if !passed_line {
                why.push("no `report: boot result=pass` line".to_string());
            }
        }
        Expect::Panic | Expect::Fault => {
            match ending {
                Ending::Exited(code) if code != 0 => {}
                other => why.push(format!("expected a non-zero exit status, got {other}")),
            }
            if passed_line {
                why.push("`report: boot result=pass` printed although the kernel must fail".into());
            }
            if test.expect == Expect::Panic {
                let located = has_line(output, |l| l.starts_with("panic:") && has_location(l));
                if !located {
                    why.push("no `panic:` line with a source location (file.rs:LINE)".into());
                }
                if !has_line(output, |l| parse_frame(l).is_some()) {
                    why.push("no backtrace line (`  #N 0xADDR`)".into());
                }
            } else {
                let reported = has_line(output, |l| {
                    let low = l.to_ascii_lowercase();
                    l.starts_with("exception:")
                        && low.contains("data abort")
                        && ["far", "elr", "cpu"].iter().all(|k| low.contains(k))
                });
                if !reported {
                    why.push("no `exception:` line naming `data abort` with FAR, ELR and CPU".into());
                }
            }
        }
    }
    if why.is_empty() { Ok(()) } else { Err(why) }
}

/// True when `line` holds `something.rs:DIGITS`.
fn has_location(line: &str) -> bool {
    line.match_indices(".rs:")
        .any(|(i, m)| line[i + m.len()..].chars().next().is_some_and(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_named(name: &str) -> BootTest {
        matrix(Path::new("k.img")).into_iter().find(|t| t.name == name).unwrap()
    }

    fn good_output(t: &BootTest, boot_line: &str) -> String {
        format!("{boot_line}\n{}report: boot result=pass\n", expected_block(&t.config.topology))
    }

    #[test]
    fn the_matrix_covers_the_required_shapes() {
        let m = matrix(Path::new("k.img"));
        let names: Vec<&str> = m.iter().map(|t| t.name).collect();
        for want in [
            "single-node-1cpu",
            "numa-2x2",
            "numa-4-asymmetric",
            "numa-memoryless-node",
            "el2-entry",
            "selftest-panic",
            "selftest-fault",
            "uboot-booti",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        let single = test_named("single-node-1cpu").config.args().join(" ");
        assert!(!single.contains("-numa"), "{single}");
        assert!(test_named("numa-4-asymmetric").config.topology.is_asymmetric());
        assert!(test_named("el2-entry").config.el2);
    }

    #[test]
    fn a_good_boot_passes() {
        let t = test_named("numa-2x2");
        let out = good_output(&t, "report: boot cpu=0 entry_el=1 load_pa=0x40200000");
        assert_eq!(check(&t, Ending::Exited(0), &out), Ok(()));
    }

    #[test]
    fn a_timeout_or_wrong_block_fails_with_every_reason() {
        let t = test_named("numa-2x2");
        let out = "report: boot cpu=0 entry_el=2\navailable: 2 nodes (0-1)\nnode 0 cpus: 0\n";
        let why = check(&t, Ending::TimedOut(std::time::Duration::from_secs(3)), out).unwrap_err().join("\n");
        assert!(why.contains("timeout after 3 s"), "{why}");
        assert!(why.contains("expected entry_el=1, got entry_el=2"), "{why}");
        assert!(why.contains("the numactl block differs"), "{why}");
        assert!(why.contains("no `report: boot result=pass`"), "{why}");
    }

    #[test]
    fn uboot_must_not_report_qemus_load_address() {
        let t = test_named("uboot-booti");
        let bad = good_output(&t, "report: boot cpu=0 entry_el=1 load_pa=0x40200000");
        let why = check(&t, Ending::Exited(0), &bad).unwrap_err().join("\n");
        assert!(why.contains("QEMU's own loader"), "{why}");
        let good = good_output(&t, "report: boot cpu=0 entry_el=1 load_pa=0x40400000");
        assert_eq!(check(&t, Ending::Exited(0), &good), Ok(()));
    }

    #[test]
    fn the_panic_selftest_needs_location_and_backtrace() {
        let t = test_named("selftest-panic");
        let good =
            "report: boot cpu=0\npanic: at kernel/src/main.rs:42:5: selftest\n  #0 0xffffffff80001234\n";
        assert_eq!(check(&t, Ending::Exited(1), good), Ok(()));
        let why = check(&t, Ending::Exited(0), "panic: oops\n").unwrap_err().join("\n");
        assert!(why.contains("non-zero exit status, got exit status 0"), "{why}");
        assert!(why.contains("source location"), "{why}");
        assert!(why.contains("no backtrace line"), "{why}");
    }

    #[test]
    fn the_fault_selftest_needs_far_elr_and_cpu() {
        let t = test_named("selftest-fault");
        let good = "exception: data abort on cpu 0: FAR=0x0 ELR=0xffffffff80001000 ESR=0x96000004\n";
        assert_eq!(check(&t, Ending::Exited(3), good), Ok(()));
        let why = check(&t, Ending::Exited(3), "exception: data abort FAR=0x0\n").unwrap_err().join("\n");
        assert!(why.contains("FAR, ELR and CPU"), "{why}");
    }

    #[test]
    fn locations_are_recognised() {
        assert!(has_location("panic: at kernel/src/main.rs:42:5"));
        assert!(!has_location("panic: at kernel/src/main.rs"));
        assert!(!has_location("panic: oops"));
    }
}
