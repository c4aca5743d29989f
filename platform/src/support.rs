// SPDX-License-Identifier: MIT OR Apache-2.0
//! Will the kernel boot this board? What it needs from a board, checked in one place.
//!
//! [`Board::from_fdt`] reads any arm64 device tree (all 577 of Linux 6.1's boards);
//! the kernel *runs* only where it has a driver for the few devices it uses itself. This
//! module names them, for two readers that must agree:
//!
//! - the kernel, which checks a board right after reading it and, before it touches any
//!   of these devices, stops with a `fatal:` line naming the first piece it lacks
//!   (`kernel/src/boot.rs`; exit status `UNSUPPORTED_BOARD`) instead of faulting on
//!   it later;
//! - `scripts/topology --support FILE.dtb`, which prints the same verdict for a board
//!   nobody has booted yet: `support: bootable=yes|no gic= enable-method= console=
//!   timer= missing=...` ([`Support`]'s `Display`).
//!
//! | piece | the kernel has | missing when |
//! |---|---|---|
//! | interrupt controller | GICv3; GICv2 (GIC-400, Cortex-A15/A7 GIC) with at most 8 CPUs | no GIC node, another controller (named by the root's `interrupt-parent`), a GICv2 board with more than 8 CPUs |
//! | timer | the Arm generic timer's non-secure physical PPI (`arm,armv8-timer`) | no such node, or its PPI unreadable |
//! | CPU start | PSCI `CPU_ON` (with a usable PSCI node), spin-table (`cpu-release-addr`) | another `enable-method` (named), none at all, spin-table without a release address, PSCI without a PSCI node; the boot CPU needs none |
//! | console | PL011, 8250/16550 family, BCM2835 mini-UART, chosen by [`Board::console`] | `stdout-path` names another kind (named), or the tree has no UART the kernel drives |
//!
//! On the kernel's side a board without any console still boots (it has nowhere to
//! print and nothing to name); the support report counts it as not bootable, since
//! nobody could see it work. `bootable=yes` means: every piece above is there.
//!
//! The host tool does not know which CPU a board boots on; it assumes the first one in
//! `/cpus` (as every tree in the corpus has it), the kernel uses the real one.
#![forbid(unsafe_code)]

use core::fmt;

use crate::board::{Board, EnableMethod, Gic, Uart, UartKind};
use crate::fixed::FixedVec;
use crate::gicv2::MAX_CPU_INTERFACES;
use crate::tree::{Node, Tree};

/// A piece the kernel lacks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Missing<'a> {
    /// The tree has no UART the kernel drives.
    #[default]
    NoConsole,
    /// No interrupt controller the kernel drives: the tree's (its `compatible`), if
    /// it names one.
    InterruptController(Option<&'a str>),
    /// A GICv2 (at most 8 CPU interfaces) on a board with more CPUs.
    GicV2TooManyCpus {
        /// The board's CPUs.
        cpus: usize,
    },
    /// No generic timer with a non-secure physical PPI.
    Timer,
    /// CPU `cpu` has an `enable-method` the kernel lacks (`None`: none at all, or
    /// spin-table without `cpu-release-addr`, as `method` then says).
    EnableMethod {
        /// Logical CPU number.
        cpu: usize,
        /// The method's name, if there is one.
        method: Option<&'a str>,
    },
    /// CPU `cpu` is started by PSCI, and the board has no usable PSCI node.
    NoPsci {
        /// Logical CPU number.
        cpu: usize,
    },
    /// The console is a UART the kernel does not drive (its `compatible`).
    Console(&'a str),
}

impl Missing<'_> {
    /// The piece, as the support line's keys name it: `gic`, `timer`,
    /// `enable-method`, `console`.
    pub fn piece(&self) -> &'static str {
        match self {
            Missing::InterruptController(_) | Missing::GicV2TooManyCpus { .. } => "gic",
            Missing::Timer => "timer",
            Missing::EnableMethod { .. } | Missing::NoPsci { .. } => "enable-method",
            Missing::Console(_) | Missing::NoConsole => "console",
        }
    }
}

impl fmt::Display for Missing<'_> {
    /// What is missing, as `PIECE:NAME` with the name the tree gives it: the rest of the
    /// kernel's `fatal: unsupported ` line, and an entry of `missing=` (no blanks).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::InterruptController(Some(name)) => write!(f, "interrupt-controller:{name}"),
            Missing::InterruptController(None) => f.write_str("interrupt-controller:none"),
            Missing::GicV2TooManyCpus { cpus } => write!(f, "gicv2-with-{cpus}-cpus"),
            Missing::Timer => f.write_str("timer:none(arm,armv8-timer)"),
            Missing::EnableMethod { cpu, method: Some(m) } => write!(f, "enable-method:{m}(cpu{cpu})"),
            Missing::EnableMethod { cpu, method: None } => write!(f, "enable-method:none(cpu{cpu})"),
            Missing::NoPsci { cpu } => write!(f, "enable-method:psci-without-psci-node(cpu{cpu})"),
            Missing::Console(name) => write!(f, "console:{name}"),
            Missing::NoConsole => f.write_str("console:none"),
        }
    }
}

/// Most missing pieces recorded (one per kind is enough to say what to build).
pub const MAX_MISSING: usize = 8;

/// The verdict on one board.
#[derive(Clone, Copy, Debug)]
pub struct Support<'a> {
    /// The GIC version the kernel would drive (2 or 3), if any.
    pub gic: Option<u8>,
    /// How the other CPUs start: `psci`, `spin-table`, both (`psci+spin-table`), or
    /// `none` (one CPU).
    pub enable_method: &'static str,
    /// The console the kernel would use ([`Board::console`]).
    pub console: Option<Uart<'a>>,
    /// The timer's non-secure physical PPI.
    pub timer_ppi: Option<u32>,
    /// What the kernel lacks, in the order checked (GIC, timer, CPU start, console).
    pub missing: FixedVec<Missing<'a>, MAX_MISSING>,
}

impl Support<'_> {
    /// Whether nothing is missing.
    pub fn bootable(&self) -> bool {
        self.missing.is_empty()
    }

    /// The first missing piece the kernel must stop for, in the order it checks:
    /// everything but the absence of any console (it can boot silently; it has nowhere
    /// to print the line anyway).
    pub fn fatal(&self) -> Option<Missing<'_>> {
        self.missing.iter().copied().find(|m| *m != Missing::NoConsole)
    }
}

impl fmt::Display for Support<'_> {
    /// `support: bootable=yes|no gic=v2|v3|none enable-method=... console=KIND@BASE|none
    /// timer=ppiN|none missing=A;B|none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "support: bootable={}", if self.bootable() { "yes" } else { "no" })?;
        match self.gic {
            Some(v) => write!(f, " gic=v{v}")?,
            None => f.write_str(" gic=none")?,
        }
        write!(f, " enable-method={}", self.enable_method)?;
        match &self.console {
            Some(uart) => write!(f, " console={uart}")?,
            None => f.write_str(" console=none")?,
        }
        match self.timer_ppi {
            Some(ppi) => write!(f, " timer=ppi{ppi}")?,
            None => f.write_str(" timer=none")?,
        }
        f.write_str(" missing=")?;
        if self.missing.is_empty() {
            return f.write_str("none");
        }
        for (i, m) in self.missing.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

/// Checks `board` (read from the device tree `blob`, if it was: the tree gives the
/// names of what the kernel lacks; from ACPI there are none to give), the kernel
/// booting on CPU `boot_cpu`.
pub fn check<'a>(board: &Board<'a>, blob: Option<&'a [u8]>, boot_cpu: usize) -> Support<'a> {
    let tree = blob.and_then(|b| Tree::new(b).ok());
    let mut missing = FixedVec::new();
    let mut miss = |m: Missing<'a>| {
        let _ = missing.push(m);
    };

    let gic = board.gic.map(|g| g.version());
    match board.gic {
        None => miss(Missing::InterruptController(tree.as_ref().and_then(interrupt_controller))),
        Some(Gic::V2 { .. }) if board.cpus.len() > MAX_CPU_INTERFACES => {
            miss(Missing::GicV2TooManyCpus { cpus: board.cpus.len() })
        }
        Some(_) => {}
    }

    let timer_ppi = board.timer.and_then(|t| t.phys_ppi);
    if timer_ppi.is_none() {
        miss(Missing::Timer);
    }

    let (mut psci, mut spin) = (false, false);
    let mut method_missing = None;
    for (cpu, c) in board.cpus.iter().enumerate().filter(|&(i, _)| i != boot_cpu) {
        let problem = match c.enable_method {
            EnableMethod::Psci if board.psci.is_some() => {
                psci = true;
                None
            }
            EnableMethod::Psci => Some(Missing::NoPsci { cpu }),
            EnableMethod::SpinTable { .. } => {
                spin = true;
                None
            }
            EnableMethod::None => {
                Some(Missing::EnableMethod { cpu, method: tree.as_ref().and_then(|t| method_of(t, cpu)) })
            }
        };
        if method_missing.is_none() {
            method_missing = problem;
        }
    }
    if let Some(m) = method_missing {
        miss(m);
    }
    let enable_method = match (psci, spin) {
        (true, true) => "psci+spin-table",
        (true, false) => "psci",
        (false, true) => "spin-table",
        (false, false) if board.cpus.len() <= 1 => "none",
        (false, false) => "unsupported",
    };

    let console = board.console();
    match console.map(|u| u.kind) {
        Some(UartKind::Other(name)) => miss(Missing::Console(name)),
        Some(_) => {}
        None => miss(Missing::NoConsole),
    }
    Support { gic, enable_method, console, timer_ppi, missing }
}

/// The interrupt controller the tree names: the root's `interrupt-parent`, else the
/// first node that says it is one (its first `compatible` string).
fn interrupt_controller<'a>(tree: &Tree<'a>) -> Option<&'a str> {
    let by_parent = tree
        .root()
        .and_then(|root| root.prop_u32("interrupt-parent"))
        .and_then(Result::ok)
        .and_then(|phandle| tree.find_phandle(phandle));
    let node = by_parent.or_else(|| tree.all_nodes().find(|n| n.prop("interrupt-controller").is_some()))?;
    node.prop_str("compatible")
}

/// The `enable-method` string of logical CPU `cpu` (the `cpu`-th enabled CPU node of
/// `/cpus`, as [`Board::from_fdt`] numbers them), if it has one.
fn method_of<'a>(tree: &Tree<'a>, cpu: usize) -> Option<&'a str> {
    let cpus = tree.find_path("/cpus")?;
    let is_cpu = |n: &Node<'a>| {
        n.is_enabled()
            && (n.prop_str("device_type") == Some("cpu") || n.name.split('@').next() == Some("cpu"))
    };
    cpus[cpus.len() - 1].children().filter(is_cpu).nth(cpu)?.prop_str("enable-method")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtb_writer::DtbWriter;

    /// A board of `cpus` CPUs with `method` (and a release address for spin-table), the
    /// interrupt controller `intc`, a timer if `timer`, a PSCI node if `psci`, and a
    /// console of compatible `uart` named by stdout-path.
    fn board(cpus: u32, method: Option<&str>, intc: &str, timer: bool, psci: bool, uart: &str) -> Vec<u8> {
        let mut w = DtbWriter::new();
        w.begin("");
        w.prop_u32("#address-cells", 2).prop_u32("#size-cells", 2).prop_u32("interrupt-parent", 1);
        w.begin("cpus").prop_u32("#address-cells", 1).prop_u32("#size-cells", 0);
        for i in 0..cpus {
            w.begin(&format!("cpu@{i}")).prop_str("device_type", "cpu").prop_u32("reg", i);
            if let Some(m) = method {
                w.prop_str("enable-method", m);
                if m == "spin-table" {
                    w.prop_u64("cpu-release-addr", 0xd8 + 8 * u64::from(i));
                }
            }
            w.end();
        }
        w.end();
        w.begin("memory@0")
            .prop_str("device_type", "memory")
            .prop_cells("reg", &[0, 0, 0, 0x4000_0000])
            .end();
        w.begin("intc@8000000").prop_str("compatible", intc).prop_u32("phandle", 1);
        w.prop("interrupt-controller", &[]).prop_u32("#interrupt-cells", 3);
        w.prop_cells("reg", &[0, 0x800_0000, 0, 0x1000, 0, 0x801_0000, 0, 0x2000]).end();
        if timer {
            w.begin("timer").prop_str("compatible", "arm,armv8-timer");
            w.prop_cells("interrupts", &[1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4]).end();
        }
        if psci {
            w.begin("psci").prop_str("compatible", "arm,psci-1.0").prop_str("method", "smc").end();
        }
        w.begin("serial@9000000")
            .prop_str("compatible", uart)
            .prop_cells("reg", &[0, 0x900_0000, 0, 0x1000])
            .end();
        w.begin("chosen").prop_str("stdout-path", "/serial@9000000").end();
        w.end();
        w.finish()
    }

    fn verdict(blob: &[u8]) -> String {
        let b = Board::from_fdt(blob).unwrap();
        check(&b, Some(blob), 0).to_string()
    }

    #[test]
    fn a_gic_400_spin_table_mini_uart_board_is_bootable() {
        let blob = board(4, Some("spin-table"), "arm,gic-400", true, false, "brcm,bcm2835-aux-uart");
        assert_eq!(
            verdict(&blob),
            "support: bootable=yes gic=v2 enable-method=spin-table console=bcm2835-aux@0x9000000 timer=ppi14 missing=none"
        );
        let blob = board(2, Some("psci"), "arm,gic-v3", true, true, "snps,dw-apb-uart");
        assert_eq!(
            verdict(&blob),
            "support: bootable=yes gic=v3 enable-method=psci console=ns16550@0x9000000 timer=ppi14 missing=none"
        );
        let one = board(1, None, "arm,cortex-a15-gic", true, false, "arm,pl011");
        assert!(verdict(&one).starts_with("support: bootable=yes gic=v2 enable-method=none console=pl011@"));
    }

    #[test]
    fn every_missing_piece_is_named() {
        let blob = board(2, Some("brcm,bcm2836-smp"), "apple,aic", false, false, "qcom,msm-uartdm");
        let b = Board::from_fdt(&blob).unwrap();
        let s = check(&b, Some(&blob), 0);
        assert!(!s.bootable());
        assert_eq!(
            s.to_string(),
            "support: bootable=no gic=none enable-method=unsupported console=qcom,msm-uartdm@0x9000000 timer=none \
             missing=interrupt-controller:apple,aic;timer:none(arm,armv8-timer);enable-method:brcm,bcm2836-smp(cpu1);\
             console:qcom,msm-uartdm"
        );
        assert_eq!(s.fatal(), Some(Missing::InterruptController(Some("apple,aic"))));
        assert_eq!(
            s.missing.iter().map(Missing::piece).collect::<Vec<_>>(),
            ["gic", "timer", "enable-method", "console"]
        );
        // PSCI named but no PSCI node; no enable-method at all.
        let blob = board(2, Some("psci"), "arm,gic-v3", true, false, "arm,pl011");
        assert!(verdict(&blob).ends_with("missing=enable-method:psci-without-psci-node(cpu1)"));
        let blob = board(2, None, "arm,gic-v3", true, false, "arm,pl011");
        assert!(verdict(&blob).ends_with("missing=enable-method:none(cpu1)"));
        // The boot CPU needs no method: booting on CPU 1, CPU 0 is the one to start.
        let b = Board::from_fdt(&blob).unwrap();
        assert_eq!(
            check(&b, Some(&blob), 1).missing.as_slice(),
            &[Missing::EnableMethod { cpu: 0, method: None }]
        );
        // From ACPI there is no tree to name things with.
        assert_eq!(check(&b, None, 0).missing.as_slice(), &[Missing::EnableMethod { cpu: 1, method: None }]);
    }

    #[test]
    fn a_board_without_a_driven_uart_boots_silently_but_is_not_called_bootable() {
        let mut blob = board(1, None, "arm,gic-v3", true, false, "arm,pl011");
        // Make the UART's compatible unknown and drop nothing else.
        let at = blob.windows(9).position(|w| w == b"arm,pl011").unwrap();
        blob[at..at + 9].copy_from_slice(b"xyz,uart0");
        let b = Board::from_fdt(&blob).unwrap();
        let s = check(&b, Some(&blob), 0);
        assert_eq!(s.missing.as_slice(), &[Missing::Console("xyz,uart0")]);
        assert_eq!(s.fatal(), Some(Missing::Console("xyz,uart0")));
        let mut silent = s;
        silent.missing = FixedVec::new();
        let _ = silent.missing.push(Missing::NoConsole);
        assert!(!silent.bootable());
        assert_eq!(silent.fatal(), None, "no console: nothing to say, the kernel boots on");
    }
}
