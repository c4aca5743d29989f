// SPDX-License-Identifier: MIT OR Apache-2.0
//! The options of `qemu-run` (what `scripts/run` passes through), parsed without a library.
//!
//! The option set is small and fixed, and the harness depends on nothing outside `std` and the
//! project's own `platform` crate, so a fresh machine builds it offline. Parsing is separate
//! from running so the tests can check every option without starting QEMU.

#![forbid(unsafe_code)]

use crate::qemu::{Boot, GICV2_MAX_CPUS, Machine, QemuConfig, RASPI4B_TOPOLOGY, UBOOT_BIOS};
use crate::topology::{SpecError, Topology};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The default timeout of an interactive run, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 60;

/// The repository root, where `target/` and the sources are.
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The cargo target directory: `$CARGO_TARGET_DIR` when set (as cargo does), else `target/`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() { dir } else { workspace_root().join(dir) }
        }
        _ => workspace_root().join("target"),
    }
}

/// Where `scripts/lib.sh`'s `build_kernel` puts the flat Image.
pub fn default_image() -> PathBuf {
    target_dir().join("kernel.img")
}

/// The kernel ELF with debug info (for symbols and gdb).
pub fn default_elf() -> PathBuf {
    target_dir().join("aarch64-unknown-none-softfloat/release/kernel")
}

/// Where `scripts/lib.sh`'s `build_uefi_loader` puts the UEFI loader.
pub fn default_uefi_loader() -> PathBuf {
    target_dir().join("aarch64-unknown-uefi/release/uefi-loader.efi")
}

/// The directory a `--uefi` run serves to the firmware as its EFI system partition.
pub fn default_esp() -> PathBuf {
    target_dir().join("esp")
}

/// `qemu-run`'s own exit statuses, apart from the kernel's (`kernel/src/halt.rs`, all
/// below 64) and 124 for a timeout: the `sysexits.h` numbers for a bad command line and
/// a bad input file, so a script can tell "the kernel failed" from "it never ran".
pub mod status {
    /// A bad option or value (`EX_USAGE`).
    pub const USAGE: u8 = 64;
    /// A file to boot is missing, unreadable or empty (`EX_NOINPUT`).
    pub const NO_INPUT: u8 = 66;
    /// QEMU could not be started (the shell's "command not found").
    pub const NO_QEMU: u8 = 127;
}

/// Checks a file `qemu-run` hands QEMU as the initrd: it must exist, be readable and
/// hold at least one byte. QEMU drops a 0-byte initrd from the device tree without a
/// word, and the kernel would then boot as if none had been given (no root task, exit
/// 0): the one place that can tell the user is here.
pub fn check_initrd_file(path: &std::path::Path) -> Result<(), String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read the initrd {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("the initrd {shown} is not a regular file"));
    }
    std::fs::File::open(path).map_err(|e| format!("cannot read the initrd {shown}: {e}"))?;
    if meta.len() == 0 {
        return Err(format!(
            "the initrd {shown} is empty (0 bytes): QEMU would drop it and the kernel would boot without a root task"
        ));
    }
    Ok(())
}

/// Parsed `qemu-run` options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// `--node` values in order.
    pub nodes: Vec<String>,
    /// `--dist` values in order.
    pub dists: Vec<String>,
    /// `--clusters C`.
    pub clusters: Option<u32>,
    /// `--el2`.
    pub el2: bool,
    /// `--uboot`.
    pub uboot: bool,
    /// `--uefi`.
    pub uefi: bool,
    /// `--dt` (with `--uefi`): the firmware hands over a device tree, not ACPI.
    pub dt: bool,
    /// `--append` values, joined with blanks.
    pub append: Vec<String>,
    /// `--timeout SECS` (0 = none).
    pub timeout_secs: Option<u64>,
    /// `--gdb`.
    pub gdb: bool,
    /// `--print-cmd`.
    pub print_cmd: bool,
    /// `--kernel IMAGE`.
    pub kernel: Option<PathBuf>,
    /// `--elf ELF`.
    pub elf: Option<PathBuf>,
    /// `--initrd FILE`.
    pub initrd: Option<PathBuf>,
    /// `--qemu BIN`.
    pub qemu: Option<String>,
    /// `--no-symbolize`.
    pub no_symbolize: bool,
    /// `--legacy-numa`.
    pub legacy_numa: bool,
    /// `--gic 2|3` (`v2`, `v3`): the GIC of QEMU `virt`.
    pub gic: Option<u8>,
    /// `--board virt|raspi4b`.
    pub board: Option<String>,
    /// `--dtb FILE`: the device tree of `--board raspi4b`.
    pub dtb: Option<PathBuf>,
    /// `--qemu-data DIR`: QEMU's data directory (`-L`).
    pub qemu_data: Option<PathBuf>,
    /// Everything after `--`, passed to QEMU verbatim.
    pub extra: Vec<String>,
    /// `--help`.
    pub help: bool,
}

/// A command line `qemu-run` cannot accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// An option this program does not know.
    UnknownOption(String),
    /// An option that needs a value came last.
    MissingValue(String),
    /// An option's value is malformed.
    BadValue {
        /// The option.
        option: String,
        /// The value.
        value: String,
    },
    /// `--dist` or `--clusters` without `--node`: the demo's topology is fixed.
    NeedsNodes(&'static str),
    /// The topology is invalid.
    Spec(SpecError),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::UnknownOption(o) => write!(f, "unknown option `{o}` (see --help)"),
            CliError::MissingValue(o) => write!(f, "option `{o}` needs a value (see --help)"),
            CliError::BadValue { option, value } => {
                write!(f, "option `{option}`: bad value `{value}` (see --help)")
            }
            CliError::NeedsNodes(o) => {
                write!(f, "`{o}` changes the topology, so give the nodes too with --node (see --help)")
            }
            CliError::Spec(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for CliError {}

impl From<SpecError> for CliError {
    fn from(e: SpecError) -> CliError {
        CliError::Spec(e)
    }
}

impl RunOptions {
    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<RunOptions, CliError> {
        let mut o = RunOptions::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            // Accept both `--opt value` and `--opt=value`.
            let (name, inline) = match arg.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let mut value = |name: &str| -> Result<String, CliError> {
                match &inline {
                    Some(v) => Ok(v.clone()),
                    None => args.next().ok_or_else(|| CliError::MissingValue(name.to_string())),
                }
            };
            let bad = |option: &str, value: &str| CliError::BadValue {
                option: option.to_string(),
                value: value.to_string(),
            };
            match name.as_str() {
                "--node" => o.nodes.push(value(&name)?),
                "--dist" => o.dists.push(value(&name)?),
                "--clusters" => {
                    let v = value(&name)?;
                    o.clusters = Some(v.parse().map_err(|_| bad(&name, &v))?);
                }
                "--append" => o.append.push(value(&name)?),
                "--timeout" => {
                    let v = value(&name)?;
                    o.timeout_secs = Some(v.parse().map_err(|_| bad(&name, &v))?);
                }
                "--kernel" => o.kernel = Some(value(&name)?.into()),
                "--elf" => o.elf = Some(value(&name)?.into()),
                "--initrd" => o.initrd = Some(value(&name)?.into()),
                "--qemu" => o.qemu = Some(value(&name)?),
                "--qemu-data" => o.qemu_data = Some(value(&name)?.into()),
                "--dtb" => o.dtb = Some(value(&name)?.into()),
                "--gic" => {
                    let v = value(&name)?;
                    o.gic = Some(match v.as_str() {
                        "2" | "v2" => 2,
                        "3" | "v3" => 3,
                        _ => return Err(bad(&name, &v)),
                    });
                }
                "--board" => {
                    let v = value(&name)?;
                    if !["virt", "raspi4b"].contains(&v.as_str()) {
                        return Err(bad(&name, &v));
                    }
                    o.board = Some(v);
                }
                "--el2" | "--uboot" | "--uefi" | "--dt" | "--gdb" | "--print-cmd" | "--no-symbolize"
                | "--legacy-numa" | "--help" | "-h"
                    if inline.is_some() =>
                {
                    return Err(bad(&name, inline.as_deref().unwrap_or("")));
                }
                "--el2" => o.el2 = true,
                "--uboot" => o.uboot = true,
                "--uefi" => o.uefi = true,
                "--dt" => o.dt = true,
                "--gdb" => o.gdb = true,
                "--print-cmd" => o.print_cmd = true,
                "--no-symbolize" => o.no_symbolize = true,
                "--legacy-numa" => o.legacy_numa = true,
                "--help" | "-h" => o.help = true,
                "--" => {
                    o.extra.extend(args.by_ref());
                }
                _ => return Err(CliError::UnknownOption(arg)),
            }
        }
        Ok(o)
    }

    /// Whether `--board raspi4b` was asked for.
    pub fn raspi4b(&self) -> bool {
        self.board.as_deref() == Some("raspi4b")
    }

    /// The topology: the given nodes, or the demo when none are given (the board's own
    /// with `--board raspi4b`).
    pub fn topology(&self) -> Result<Topology, CliError> {
        if self.raspi4b() {
            if !self.nodes.is_empty() || !self.dists.is_empty() || self.clusters.is_some() {
                return Err(CliError::BadValue {
                    option: "--board".into(),
                    value: "raspi4b has a fixed topology: no --node, --dist or --clusters".into(),
                });
            }
            return Ok(Topology::parse(&[RASPI4B_TOPOLOGY], &[] as &[&str], None)?);
        }
        if self.nodes.is_empty() {
            if !self.dists.is_empty() {
                return Err(CliError::NeedsNodes("--dist"));
            }
            if self.clusters.is_some() {
                return Err(CliError::NeedsNodes("--clusters"));
            }
            return Ok(Topology::demo());
        }
        Ok(Topology::parse(&self.nodes, &self.dists, self.clusters)?)
    }

    /// The timeout: none with `--gdb` or `--timeout 0`, else the given or default seconds.
    pub fn timeout(&self) -> Option<Duration> {
        if self.gdb {
            return None;
        }
        match self.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS) {
            0 => None,
            s => Some(Duration::from_secs(s)),
        }
    }

    /// The kernel ELF path.
    pub fn elf(&self) -> PathBuf {
        self.elf.clone().unwrap_or_else(default_elf)
    }

    /// The QEMU configuration these options describe.
    pub fn config(&self) -> Result<QemuConfig, CliError> {
        let mut c = QemuConfig::new(self.topology()?, self.kernel.clone().unwrap_or_else(default_image));
        if let Some(q) = &self.qemu {
            c.qemu = q.clone();
        }
        if let Some(dir) = &self.qemu_data {
            c.qemu_data = Some(dir.clone());
        }
        c.el2 = self.el2;
        if self.raspi4b() {
            // Without --dtb, --qemu and --qemu-data: where scripts/lib.sh puts them.
            let dtb = self.dtb.clone().unwrap_or_else(crate::qemu::rpi4_dtb);
            if self.qemu.is_none() {
                c.qemu = crate::qemu::qemu10_bin().display().to_string();
                c.qemu_data = Some(self.qemu_data.clone().unwrap_or_else(crate::qemu::qemu10_data));
            }
            if self.gic.is_some() || self.el2 || self.uboot || self.uefi || self.legacy_numa {
                return Err(CliError::BadValue {
                    option: "--board".into(),
                    value: "raspi4b takes no --gic, --el2, --uboot, --uefi or --legacy-numa".into(),
                });
            }
            c.machine = Machine::Raspi4b { dtb };
        } else if self.dtb.is_some() {
            return Err(CliError::BadValue {
                option: "--dtb".into(),
                value: "only with --board raspi4b".into(),
            });
        }
        if let Some(gic) = self.gic {
            if gic == 2 && c.topology.total_cpus() > GICV2_MAX_CPUS {
                return Err(CliError::BadValue {
                    option: "--gic".into(),
                    value: format!(
                        "v2 with {} CPUs: a GICv2 serves at most {GICV2_MAX_CPUS}",
                        c.topology.total_cpus()
                    ),
                });
            }
            c.machine = Machine::Virt { gic };
        }
        if self.uboot && self.uefi {
            return Err(CliError::BadValue {
                option: "--uefi".into(),
                value: "with --uboot: choose one".into(),
            });
        }
        if self.dt && !self.uefi {
            return Err(CliError::BadValue { option: "--dt".into(), value: "needs --uefi".into() });
        }
        if self.uboot {
            c.boot = Boot::Firmware(UBOOT_BIOS.into());
        }
        if self.uefi {
            // As a server boots: ACPI, unless --dt asks for the firmware's device tree.
            c.boot = Boot::Uefi { loader: default_uefi_loader(), esp: default_esp(), acpi: !self.dt };
        }
        c.initrd = self.initrd.clone();
        c.append = self.append.clone();
        c.gdb = self.gdb;
        c.legacy_numa = self.legacy_numa;
        c.extra = self.extra.clone();
        Ok(c)
    }

    /// The exact gdb command for a `--gdb` run.
    pub fn gdb_command(&self) -> String {
        format!("gdb-multiarch -ex 'target remote :1234' -ex 'symbol-file {}'", self.elf().display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<RunOptions, CliError> {
        RunOptions::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn an_initrd_must_exist_be_readable_and_hold_something() {
        let dir = std::env::temp_dir().join(format!("numa-l4-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (empty, good) = (dir.join("empty.cpio"), dir.join("good.cpio"));
        std::fs::write(&empty, b"").unwrap();
        std::fs::write(&good, b"070701").unwrap();
        assert!(check_initrd_file(&empty).unwrap_err().contains("is empty (0 bytes)"));
        assert!(check_initrd_file(&dir.join("none.cpio")).unwrap_err().starts_with("cannot read the initrd"));
        assert!(check_initrd_file(&dir).unwrap_err().contains("not a regular file"));
        assert_eq!(check_initrd_file(&good), Ok(()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_options_boot_the_demo_with_the_default_timeout() {
        let o = parse(&[]).unwrap();
        assert_eq!(o.topology().unwrap(), Topology::demo());
        assert_eq!(o.timeout(), Some(Duration::from_secs(DEFAULT_TIMEOUT_SECS)));
        let c = o.config().unwrap();
        assert!(c.kernel.ends_with("kernel.img"));
        assert_eq!(c.initrd, None);
        assert!(!c.args().contains(&"-initrd".to_string()));
    }

    #[test]
    fn every_option_is_understood() {
        let o = parse(&[
            "--node",
            "cpus=2,mem=512M",
            "--node=cpus=1,mem=0",
            "--node",
            "cpus=1,mem=256M",
            "--dist",
            "0-1=15",
            "--dist",
            "1-0=25",
            "--el2",
            "--append",
            "selftest=panic",
            "--append=x=1",
            "--timeout",
            "5",
            "--kernel",
            "/k.img",
            "--elf",
            "/k.elf",
            "--initrd",
            "/i.cpio",
            "--qemu",
            "/bin/q",
            "--no-symbolize",
            "--legacy-numa",
            "--print-cmd",
            "--",
            "-d",
            "int",
        ])
        .unwrap();
        assert_eq!(o.nodes.len(), 3);
        assert_eq!(o.nodes[1], "cpus=1,mem=0");
        assert_eq!(o.dists, ["0-1=15", "1-0=25"]);
        assert_eq!(o.append, ["selftest=panic", "x=1"]);
        assert_eq!(o.timeout(), Some(Duration::from_secs(5)));
        assert_eq!(o.extra, ["-d", "int"]);
        let c = o.config().unwrap();
        assert_eq!(c.qemu, "/bin/q");
        assert_eq!(c.initrd, Some(PathBuf::from("/i.cpio")));
        assert!(c.args().join(" ").contains("-kernel /k.img -initrd /i.cpio -semihosting"), "{:?}", c.args());
        assert!(c.el2);
        assert_eq!(c.bootargs(), "exit=semihosting selftest=panic x=1");
        assert!(c.topology.is_asymmetric());
        assert!(o.print_cmd && o.no_symbolize);
        assert!(c.legacy_numa && c.args().join(" ").contains("-M virt-5.0,gic-version=3"));
        assert!(parse(&["--legacy-numa=1"]).is_err());
    }

    #[test]
    fn gdb_disables_the_timeout_and_names_the_elf() {
        let o = parse(&["--gdb", "--timeout", "5", "--elf", "/x/kernel"]).unwrap();
        assert_eq!(o.timeout(), None);
        assert_eq!(o.gdb_command(), "gdb-multiarch -ex 'target remote :1234' -ex 'symbol-file /x/kernel'");
        assert!(o.config().unwrap().args().ends_with(&["-s".into(), "-S".into()]));
        assert_eq!(parse(&["--timeout", "0"]).unwrap().timeout(), None);
    }

    #[test]
    fn an_initrd_is_passed_with_either_spelling() {
        for args in [&["--initrd", "x.cpio"][..], &["--initrd=x.cpio"][..]] {
            let c = parse(args).unwrap().config().unwrap();
            let a = c.args();
            let at = a.iter().position(|s| s == "-initrd").expect("an -initrd argument");
            assert_eq!(a[at + 1], "x.cpio");
            assert_eq!(a[at - 2], "-kernel", "right after the kernel: {a:?}");
        }
    }

    #[test]
    fn uboot_and_clusters() {
        let o = parse(&["--uboot", "--node", "cpus=4,mem=1G", "--clusters", "2"]).unwrap();
        let line = o.config().unwrap().args().join(" ");
        assert!(line.contains(&format!("-bios {UBOOT_BIOS}")), "{line}");
        assert!(line.contains("clusters=2,cores=2"), "{line}");
    }

    #[test]
    fn uefi_boots_the_loader_from_target_esp() {
        let c = parse(&["--uefi", "--dt", "--node", "cpus=1,mem=1G"]).unwrap().config().unwrap();
        assert_eq!(c.boot, Boot::Uefi { loader: default_uefi_loader(), esp: default_esp(), acpi: false });
        assert!(c.args().join(" ").contains(",acpi=off "), "{:?}", c.args());
        let c = parse(&["--uefi"]).unwrap().config().unwrap();
        assert_eq!(c.boot, Boot::Uefi { loader: default_uefi_loader(), esp: default_esp(), acpi: true });
        assert!(!c.args().join(" ").contains("acpi=off"), "{:?}", c.args());
        assert!(parse(&["--dt"]).unwrap().config().is_err(), "--dt needs --uefi");
        assert!(parse(&["--dt=1"]).is_err());
        assert!(parse(&["--uefi", "--uboot"]).unwrap().config().is_err());
        assert!(parse(&["--uefi=1"]).is_err());
    }

    #[test]
    fn gic_v2_and_the_raspberry_pi_4_are_chosen_with_their_limits() {
        let c = parse(&["--gic", "v2"]).unwrap().config().unwrap();
        assert_eq!(c.machine, Machine::Virt { gic: 2 });
        assert!(c.args().join(" ").starts_with("-M virt,gic-version=2 "), "{:?}", c.args());
        assert_eq!(parse(&["--gic=3"]).unwrap().config().unwrap().machine, Machine::Virt { gic: 3 });
        assert!(matches!(parse(&["--gic", "4"]), Err(CliError::BadValue { .. })));
        let e = parse(&["--gic", "2", "--node", "cpus=9,mem=1G"]).unwrap().config().unwrap_err();
        assert!(e.to_string().contains("at most 8"), "{e}");

        let o = parse(&[
            "--board",
            "raspi4b",
            "--dtb",
            "/d/rpi.dtb",
            "--qemu",
            "/q/qemu",
            "--qemu-data",
            "/q/share",
        ])
        .unwrap();
        assert_eq!(o.topology().unwrap().total_cpus(), 4);
        let c = o.config().unwrap();
        assert_eq!(c.machine, Machine::Raspi4b { dtb: "/d/rpi.dtb".into() });
        let line = c.args().join(" ");
        assert!(line.starts_with("-L /q/share -M raspi4b -m 2G "), "{line}");
        assert!(line.contains("-serial null -serial stdio -dtb /d/rpi.dtb -kernel "), "{line}");
        assert!(line.ends_with("-semihosting -append exit=semihosting"), "{line}");
        let c = parse(&["--board", "raspi4b"]).unwrap().config().unwrap();
        assert_eq!(c.machine, Machine::Raspi4b { dtb: crate::qemu::rpi4_dtb() });
        assert_eq!(c.qemu, crate::qemu::qemu10_bin().display().to_string(), "scripts/lib.sh's QEMU 10");
        assert_eq!(c.qemu_data, Some(crate::qemu::qemu10_data()));
        assert!(parse(&["--board", "raspi4b", "--dtb", "x", "--gic", "2"]).unwrap().config().is_err());
        assert!(
            parse(&["--board", "raspi4b", "--dtb", "x", "--node", "cpus=1,mem=1G"])
                .unwrap()
                .topology()
                .is_err()
        );
        assert!(parse(&["--dtb", "x"]).unwrap().config().is_err(), "--dtb belongs to raspi4b");
        assert!(matches!(parse(&["--board", "pi5"]), Err(CliError::BadValue { .. })));
    }

    #[test]
    fn mistakes_are_reported() {
        assert_eq!(parse(&["--nodes", "x"]), Err(CliError::UnknownOption("--nodes".into())));
        assert_eq!(parse(&["--node"]), Err(CliError::MissingValue("--node".into())));
        assert!(matches!(parse(&["--timeout", "soon"]), Err(CliError::BadValue { .. })));
        assert!(matches!(parse(&["--el2=yes"]), Err(CliError::BadValue { .. })));
        assert_eq!(parse(&["--initrd"]), Err(CliError::MissingValue("--initrd".into())));
        assert_eq!(parse(&["--dist", "0-1=20"]).unwrap().topology(), Err(CliError::NeedsNodes("--dist")));
        let e = parse(&["--node", "cpus=1,mem=1G", "--node", "cpus=1,mem=1G", "--dist", "0-3=20"])
            .unwrap()
            .topology()
            .unwrap_err();
        assert!(e.to_string().contains("unknown node 3"), "{e}");
    }
}
