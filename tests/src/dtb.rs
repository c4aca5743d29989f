// SPDX-License-Identifier: MIT OR Apache-2.0
//! Editing QEMU's device tree, for machines QEMU will not build by itself.
//!
//! Some boards the kernel must survive cannot be asked of QEMU with options: a device tree
//! that lists a CPU the firmware cannot start is one (a CPU held in reset, a wrong `reg`, a
//! socket that failed its self-test). Such a test starts from the tree QEMU would hand the
//! kernel for an ordinary spec and changes it:
//!
//! 1. QEMU dumps its tree: `-M virt,...,dumpdtb=F` with the test's own command line;
//! 2. `dtc -I dtb -O dts` turns the blob into source text;
//! 3. the change is *appended* to that text as a node reference, `&{/cpus} { cpu@4 {...}; };`,
//!    which dtc merges into the existing `/cpus` node. Appending instead of splicing text
//!    in the middle means no brace counting and no dependence on dtc's layout;
//! 4. `dtc -I dts -O dtb` compiles it, and the test boots its usual command line plus
//!    `-dtb F.dtb`.
//!
//! With `-dtb`, QEMU 7.2 still rewrites what it owns at load time (`hw/arm/boot.c`,
//! `arm_load_dtb`): every `/memory` node is replaced by its own (one per NUMA node with
//! `numa-node-id`) and `/chosen` gets the `-append` bootargs. The CPUs, the distance map and
//! the devices are kept as the file has them. So an added CPU reaches the kernel, while
//! memory is what the spec says, as without `-dtb`.
//!
//! An added CPU's MPIDR must be one QEMU has no vCPU for: PSCI `CPU_ON` then fails with
//! `INVALID_PARAMETERS` (-2), and the kernel must warn and carry on without it.

#![forbid(unsafe_code)]

use crate::qemu::{Boot, QemuConfig};
use crate::runner::Runner;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A CPU node added to QEMU's `/cpus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtraCpu {
    /// Its `reg`, the MPIDR affinity the kernel passes to PSCI `CPU_ON` (one cell, as QEMU's
    /// `/cpus` has `#address-cells = <1>`: Aff3 must be zero).
    pub mpidr: u64,
    /// Its `numa-node-id`.
    pub node: usize,
}

/// The source text appended to QEMU's tree: one `&{/cpus}` block with a Cortex-A72 node per
/// CPU, started through PSCI like QEMU's own CPUs.
pub fn cpu_nodes_dts(cpus: &[ExtraCpu]) -> String {
    let mut out = String::from("\n&{/cpus} {\n");
    for cpu in cpus {
        let _ = write!(
            out,
            "\tcpu@{mpidr:x} {{\n\
             \t\tdevice_type = \"cpu\";\n\
             \t\tcompatible = \"arm,cortex-a72\";\n\
             \t\treg = <{mpidr:#x}>;\n\
             \t\tenable-method = \"psci\";\n\
             \t\tnuma-node-id = <{node}>;\n\
             \t}};\n",
            mpidr = cpu.mpidr,
            node = cpu.node,
        );
    }
    out.push_str("};\n");
    out
}

/// Runs `dtc` with `args`; its stdout, or an error with the command and dtc's complaint.
fn dtc(args: &[&str]) -> Result<Vec<u8>, String> {
    let shown = format!("dtc {}", args.join(" "));
    let out = Command::new("dtc").args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            "cannot run `dtc`: not found (apt-get install device-tree-compiler)".to_string()
        } else {
            format!("cannot run `{shown}`: {e}")
        }
    })?;
    if !out.status.success() {
        return Err(format!(
            "`{shown}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

/// How a test changes QEMU's device tree before booting it with `-dtb`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DtbEdit {
    /// QEMU's own dump, byte for byte: a 1 MiB blob (QEMU's `virt` reserves that much)
    /// that `-dtb` loads with a declared size of twice its file size plus slack, as a
    /// tree dumped from one run and given to the next always is.
    AsDumped,
    /// Source text appended to the dump's source, recompiled with dtc (steps 2 to 4 of
    /// the module text).
    Append(String),
}

/// Writes to `out` QEMU's device tree for `config` with `cpus` added (steps 1 to 4 of the
/// module text). Intermediate files go next to `out` and are removed.
pub fn write_with_cpus(
    config: &QemuConfig,
    cpus: &[ExtraCpu],
    out: &Path,
    timeout: Duration,
) -> Result<(), String> {
    write_edited(config, &DtbEdit::Append(cpu_nodes_dts(cpus)), out, timeout)
}

/// Writes to `out` QEMU's device tree for `config`, changed by `edit`. Intermediate
/// files go next to `out` and are removed.
pub fn write_edited(
    config: &QemuConfig,
    edit: &DtbEdit,
    out: &Path,
    timeout: Duration,
) -> Result<(), String> {
    let dumped = out.with_extension("qemu.dtb");
    let source = out.with_extension("dts");
    let result = (|| {
        let mut dump = config.clone();
        dump.boot = Boot::DumpDtb(dumped.clone());
        let cmd = dump.command();
        let run = Runner { timeout: Some(timeout), echo: false, symbolizer: None, on_line: None }
            .run(cmd)
            .map_err(|e| e.to_string())?;
        if !run.ending.is_success() {
            return Err(format!("QEMU could not dump the DTB ({}): {}", run.ending, run.stderr.trim()));
        }
        let text = match edit {
            DtbEdit::AsDumped => {
                return std::fs::copy(&dumped, out)
                    .map(|_| ())
                    .map_err(|e| format!("cannot copy {} to {}: {e}", dumped.display(), out.display()));
            }
            DtbEdit::Append(text) => text,
        };
        let dumped_text = dumped.display().to_string();
        let dts = dtc(&["-q", "-I", "dtb", "-O", "dts", &dumped_text])?;
        let mut dts = String::from_utf8(dts).map_err(|_| "dtc wrote source that is not UTF-8".to_string())?;
        dts.push_str(text);
        std::fs::write(&source, dts).map_err(|e| format!("cannot write {}: {e}", source.display()))?;
        dtc(&[
            "-q",
            "-I",
            "dts",
            "-O",
            "dtb",
            "-o",
            &out.display().to_string(),
            &source.display().to_string(),
        ])?;
        Ok(())
    })();
    let _ = std::fs::remove_file(&dumped);
    let _ = std::fs::remove_file(&source);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_added_cpu_becomes_a_node_reference_into_cpus() {
        let dts = cpu_nodes_dts(&[ExtraCpu { mpidr: 4, node: 1 }]);
        assert_eq!(
            dts,
            "\n&{/cpus} {\n\
             \tcpu@4 {\n\
             \t\tdevice_type = \"cpu\";\n\
             \t\tcompatible = \"arm,cortex-a72\";\n\
             \t\treg = <0x4>;\n\
             \t\tenable-method = \"psci\";\n\
             \t\tnuma-node-id = <1>;\n\
             \t};\n\
             };\n"
        );
    }

    #[test]
    fn node_names_use_the_hex_mpidr_without_prefix() {
        let dts = cpu_nodes_dts(&[ExtraCpu { mpidr: 0x100, node: 0 }, ExtraCpu { mpidr: 0x1_0000, node: 2 }]);
        assert!(dts.contains("\tcpu@100 {\n") && dts.contains("reg = <0x100>;"), "{dts}");
        assert!(dts.contains("\tcpu@10000 {\n") && dts.contains("numa-node-id = <2>;"), "{dts}");
        assert_eq!(dts.matches("&{/cpus}").count(), 1, "{dts}");
    }
}
