// SPDX-License-Identifier: MIT OR Apache-2.0
//! From a topology spec to a QEMU `virt` command line.
//!
//! QEMU's NUMA options have rules that are easy to get wrong and that QEMU reports tersely
//! (see `shared/FACTS.md`): node memory sizes must add up to `-m`; a memory-less node has no
//! `memdev`; a CPU-less node has no `cpus=`; once any `-numa dist` is given, every pair of nodes
//! needs a distance, and once any pair is asymmetric, both directions of every pair are needed.
//! This module encodes those rules once, so `scripts/run`, the boot tests and `topology --qemu`
//! all ask QEMU for a machine the same way.
//!
//! The command line is built as a list of arguments (never a shell string), so nothing is
//! re-split or re-quoted on the way to QEMU; [`shell_quote`] exists only to *print* it.

#![forbid(unsafe_code)]

use crate::topology::Topology;
use std::path::{Path, PathBuf};

/// U-Boot for QEMU's arm64 `virt`, from Debian's `u-boot-qemu`.
pub const UBOOT_BIOS: &str = "/usr/lib/u-boot/qemu_arm64/u-boot.bin";

/// EDK2 (UEFI) for QEMU's arm64 `virt`, from Debian's `qemu-efi-aarch64`.
pub const EDK2_BIOS: &str = "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd";

/// The bootarg that makes the kernel exit QEMU through semihosting with its status.
pub const EXIT_BOOTARG: &str = "exit=semihosting";

/// How the kernel reaches the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boot {
    /// QEMU's own loader: `-kernel IMAGE`, entered at 0x4020_0000 with x0 = DTB.
    Direct,
    /// Through firmware given with `-bios` (U-Boot runs `booti` on the `-kernel` Image).
    Firmware(PathBuf),
    /// Only dump the device tree QEMU would hand the kernel, then exit.
    DumpDtb(PathBuf),
    /// Through UEFI: EDK2 ([`EDK2_BIOS`]) boots `loader` (`kernel/uefi-loader`) from the
    /// directory `esp`, which QEMU presents as a FAT disk (vvfat); the loader reads the
    /// Image, the initrd and `cmdline.txt` from there ([`QemuConfig::esp_files`]).
    /// Without `acpi` the machine has `acpi=off`, so the firmware passes a device tree;
    /// with it the firmware passes only ACPI tables (SRAT and SLIT with `-numa`) and the
    /// loader a stub tree that hands over to them.
    Uefi {
        /// The loader, `uefi-loader.efi`, copied to `EFI/BOOT/BOOTAA64.EFI`.
        loader: PathBuf,
        /// The directory that becomes the EFI system partition (its contents are replaced).
        esp: PathBuf,
        /// Let the firmware describe the machine with ACPI (no `acpi=off`).
        acpi: bool,
    },
}

/// Where a file of the EFI system partition comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EspSource {
    /// A copy of this file.
    Copy(PathBuf),
    /// These bytes.
    Text(String),
}

/// The board QEMU emulates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Machine {
    /// QEMU `virt`, any topology, with a GICv3 (`gic: 3`, the default) or a GICv2
    /// (`gic: 2`: at most 8 CPUs, the GICv2's limit).
    Virt {
        /// The GIC architecture version: 2 or 3.
        gic: u8,
    },
    /// QEMU's Raspberry Pi 4 Model B (`-M raspi4b`, QEMU 9 or later: see
    /// `scripts/lib.sh` `ensure_qemu10`), booted with Linux's device tree for it: 4
    /// CPUs, 2 GiB, a GIC-400, CPUs started by spin-table, the console on the
    /// BCM2835 mini-UART (QEMU's second serial port).
    Raspi4b {
        /// `bcm2711-rpi-4-b.dtb` (from Debian's arm64 Linux image package).
        dtb: PathBuf,
    },
}

/// Where `scripts/lib.sh`'s `ensure_qemu10` extracts QEMU 10 (Debian bookworm-backports'
/// `qemu-system-arm`, `-common`, `-data`), beside the system's QEMU 7.2 (which the
/// memory plugin of `scripts/bench` needs): the root of that tree.
pub fn qemu10_root() -> PathBuf {
    crate::cli::target_dir().join("qemu10")
}

/// The QEMU 10 binary `raspi4b` runs on.
pub fn qemu10_bin() -> PathBuf {
    qemu10_root().join("usr/bin/qemu-system-aarch64")
}

/// QEMU 10's data directory (`-L`).
pub fn qemu10_data() -> PathBuf {
    qemu10_root().join("usr/share/qemu")
}

/// Where `scripts/lib.sh`'s `ensure_dtbs` puts the Raspberry Pi 4's device tree (from
/// Debian's arm64 Linux image package).
pub fn rpi4_dtb() -> PathBuf {
    crate::cli::target_dir().join("dtbs/broadcom/bcm2711-rpi-4-b.dtb")
}

/// The most CPUs QEMU `virt` takes with a GICv2.
pub const GICV2_MAX_CPUS: u32 = 8;
/// The topology of QEMU's `raspi4b`, fixed by the board: 4 CPUs, and of its 2 GiB the
/// 960 MiB QEMU writes into the tree's memory node (the low GiB less the VideoCore's
/// share, as the Pi's firmware does).
pub const RASPI4B_TOPOLOGY: &str = "cpus=4,mem=960M";

/// Everything that decides one QEMU invocation.
#[derive(Debug, Clone)]
pub struct QemuConfig {
    /// The QEMU binary.
    pub qemu: String,
    /// QEMU's data directory (`-L`: firmware and option ROMs), when the binary is not
    /// the system's (the QEMU 10 that `raspi4b` needs is extracted privately).
    pub qemu_data: Option<PathBuf>,
    /// The board.
    pub machine: Machine,
    /// The machine's NUMA topology.
    pub topology: Topology,
    /// Enter the kernel at EL2 (`virtualization=on`), as on a server without a hypervisor.
    pub el2: bool,
    /// The loader path.
    pub boot: Boot,
    /// The flat arm64 Image.
    pub kernel: PathBuf,
    /// The initrd (`-initrd`): QEMU loads it into RAM after the kernel, names its place
    /// in `/chosen` (`linux,initrd-start`/`-end`) and moves the DTB above it.
    pub initrd: Option<PathBuf>,
    /// Bootargs beyond [`EXIT_BOOTARG`], which is always passed.
    pub append: Vec<String>,
    /// Wait for gdb on :1234 before the first instruction (`-s -S`).
    pub gdb: bool,
    /// Arguments appended verbatim, after everything else.
    pub extra: Vec<String>,
    /// Give node memory the old way (`-M virt-5.0`, `-numa node,mem=SIZE`) instead of
    /// memory backends: the same NUMA device tree, and the guest-physical addresses
    /// QEMU 7.2 hands TCG plugins are then correct (with `memdev` they are not; see
    /// `shared/FACTS.md`). For the memory-locality plugin of `scripts/bench`.
    pub legacy_numa: bool,
}

impl QemuConfig {
    /// A configuration with the defaults: direct boot at EL1, no extra bootargs.
    pub fn new(topology: Topology, kernel: impl Into<PathBuf>) -> QemuConfig {
        QemuConfig {
            qemu: "qemu-system-aarch64".to_string(),
            qemu_data: None,
            machine: Machine::Virt { gic: 3 },
            topology,
            el2: false,
            boot: Boot::Direct,
            kernel: kernel.into(),
            initrd: None,
            append: Vec::new(),
            gdb: false,
            extra: Vec::new(),
            legacy_numa: false,
        }
    }

    /// The full kernel command line as passed with `-append`.
    pub fn bootargs(&self) -> String {
        let mut args = vec![EXIT_BOOTARG.to_string()];
        args.extend(self.append.iter().filter(|a| !a.is_empty()).cloned());
        args.join(" ")
    }

    /// The command that runs QEMU with [`QemuConfig::args`]. A QEMU outside the
    /// system's (`qemu_data` given) loads its own modules (`QEMU_MODULE_DIR`: the
    /// `lib/<triplet>/qemu` directory of its tree), not the system QEMU's, which a
    /// different build refuses with a warning each.
    pub fn command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(&self.qemu);
        cmd.args(self.args());
        let usr = self.qemu_data.as_deref().and_then(|d| d.parent()).and_then(|d| d.parent());
        let modules = usr
            .and_then(|usr| std::fs::read_dir(usr.join("lib")).ok())
            .and_then(|dirs| dirs.filter_map(Result::ok).map(|e| e.path().join("qemu")).find(|p| p.is_dir()));
        if let Some(dir) = modules {
            cmd.env("QEMU_MODULE_DIR", dir);
        }
        cmd
    }

    /// The argument vector, without the QEMU binary itself.
    pub fn args(&self) -> Vec<String> {
        let mut a = match &self.machine {
            Machine::Virt { gic } => self.virt_args(*gic),
            Machine::Raspi4b { dtb } => raspi4b_args(self.qemu_data.as_deref(), dtb),
        };
        let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
        if let Boot::Firmware(bios) = &self.boot {
            push(&["-bios", &bios.display().to_string()]);
        }
        if let Boot::Uefi { esp, .. } = &self.boot {
            // vvfat: QEMU serves the directory as a FAT disk; EDK2 boots the removable-media
            // path EFI/BOOT/BOOTAA64.EFI from it with no boot entry configured. Read-only
            // (`readonly=on`; without it a read-only vvfat is refused: "Block node is
            // read-only"), so nothing the guest does is written back into the directory.
            push(&["-bios", EDK2_BIOS]);
            push(&["-drive", &format!("if=virtio,format=raw,readonly=on,file=fat:{}", esp.display())]);
            push(&["-semihosting"]);
        } else if !matches!(self.boot, Boot::DumpDtb(_)) {
            push(&["-kernel", &self.kernel.display().to_string()]);
            // QEMU accepts -initrd only with -kernel, so a DTB dump never gets one.
            if let Some(initrd) = &self.initrd {
                push(&["-initrd", &initrd.display().to_string()]);
            }
            push(&["-semihosting", "-append", &self.bootargs()]);
        }
        if self.gdb {
            push(&["-s", "-S"]);
        }
        a.extend(self.extra.iter().cloned());
        a
    }

    /// QEMU `virt`'s machine, CPUs, memory and NUMA options.
    fn virt_args(&self, gic: u8) -> Vec<String> {
        let t = &self.topology;
        let mut a: Vec<String> = Vec::new();
        let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));

        // (virt-5.0 is the newest machine version that still takes `-numa node,mem=`.)
        let mut machine = String::from(if self.legacy_numa && t.is_numa() { "virt-5.0" } else { "virt" });
        machine.push_str(&format!(",gic-version={gic}"));
        if self.el2 {
            machine.push_str(",virtualization=on");
        }
        if matches!(self.boot, Boot::Uefi { acpi: false, .. }) {
            // EDK2 passes the device tree only without ACPI tables.
            machine.push_str(",acpi=off");
        }
        if let Boot::DumpDtb(path) = &self.boot {
            // Reproducible dumps: without this, QEMU puts random seeds into /chosen.
            machine.push_str(",dtb-randomness=off,dumpdtb=");
            machine.push_str(&path.display().to_string());
        }
        push(&["-M", &machine, "-cpu", "cortex-a72"]);

        let cpus = t.total_cpus();
        let smp = match t.clusters() {
            Some(c) => format!("{cpus},sockets=1,clusters={c},cores={},threads=1", cpus / c),
            None => cpus.to_string(),
        };
        push(&["-smp", &smp, "-m", &format!("{}M", t.total_mem_mib())]);
        push(&["-nographic", "-nic", "none"]);

        if t.is_numa() {
            a.extend(numa_args(t, self.legacy_numa));
        }
        a
    }

    /// The files of the EFI system partition of a [`Boot::Uefi`] boot, as paths relative
    /// to the ESP directory (empty for other boots). The bootargs go to `cmdline.txt`.
    pub fn esp_files(&self) -> Vec<(PathBuf, EspSource)> {
        let Boot::Uefi { loader, .. } = &self.boot else {
            return Vec::new();
        };
        let mut files = vec![
            (PathBuf::from("EFI/BOOT/BOOTAA64.EFI"), EspSource::Copy(loader.clone())),
            (PathBuf::from("kernel.img"), EspSource::Copy(self.kernel.clone())),
        ];
        if let Some(initrd) = &self.initrd {
            files.push((PathBuf::from("initrd.cpio"), EspSource::Copy(initrd.clone())));
        }
        files.push((PathBuf::from("cmdline.txt"), EspSource::Text(format!("{}\n", self.bootargs()))));
        files
    }

    /// Fills the ESP directory of a [`Boot::Uefi`] boot with [`QemuConfig::esp_files`],
    /// after removing whatever it held (a stale initrd must not be booted). Nothing for
    /// other boots.
    pub fn prepare_esp(&self) -> std::io::Result<()> {
        let Boot::Uefi { esp, .. } = &self.boot else {
            return Ok(());
        };
        write_esp(esp, &self.esp_files())
    }

    /// The command as one line a person can paste into a shell.
    pub fn command_line(&self) -> String {
        std::iter::once(self.qemu.clone())
            .chain(self.args())
            .map(|s| shell_quote(&s))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `-M raspi4b`: the board has its own CPUs and RAM (no `-smp`/`-numa`), takes the device
/// tree from a file, and its console, the mini-UART, is QEMU's second serial port (the
/// first, the PL011, goes nowhere). `data`: QEMU's data directory, when not the system's.
fn raspi4b_args(data: Option<&Path>, dtb: &Path) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    if let Some(dir) = data {
        a.extend(["-L".to_string(), dir.display().to_string()]);
    }
    for arg in ["-M", "raspi4b", "-m", "2G", "-display", "none", "-monitor", "none"] {
        a.push(arg.to_string());
    }
    for arg in ["-serial", "null", "-serial", "stdio", "-dtb"] {
        a.push(arg.to_string());
    }
    a.push(dtb.display().to_string());
    a
}

/// The `-object`/`-numa` arguments for a multi-node topology (`legacy`: node memory
/// as `mem=SIZE`, no backends).
fn numa_args(t: &Topology, legacy: bool) -> Vec<String> {
    let mut a = Vec::new();
    for (k, node) in t.nodes().iter().enumerate() {
        if node.mem_mib > 0 && !legacy {
            a.push("-object".to_string());
            a.push(format!("memory-backend-ram,id=m{k},size={}M", node.mem_mib));
        }
    }
    for (k, node) in t.nodes().iter().enumerate() {
        let mut opt = format!("node,nodeid={k}");
        let cpus = t.cpu_range(k);
        match cpus.len() {
            0 => {}
            1 => opt.push_str(&format!(",cpus={}", cpus.start)),
            _ => opt.push_str(&format!(",cpus={}-{}", cpus.start, cpus.end - 1)),
        }
        if legacy {
            opt.push_str(&format!(",mem={}M", node.mem_mib));
        } else if node.mem_mib > 0 {
            opt.push_str(&format!(",memdev=m{k}"));
        }
        a.push("-numa".to_string());
        a.push(opt);
    }
    // Without any `-numa dist` QEMU writes no /distance-map and the kernel falls back to
    // 10/20; that path deserves testing, so an empty list stays empty. Once one distance is
    // given, QEMU wants every pair; once one pair is asymmetric, every direction.
    if !t.given_distances().is_empty() {
        let n = t.nodes().len();
        let both = t.is_asymmetric();
        for i in 0..n {
            for j in 0..n {
                if i != j && (both || i < j) {
                    a.push("-numa".to_string());
                    a.push(format!("dist,src={i},dst={j},val={}", t.distance(i, j)));
                }
            }
        }
    }
    a
}

/// Replaces the directory `esp` with `files`.
fn write_esp(esp: &Path, files: &[(PathBuf, EspSource)]) -> std::io::Result<()> {
    let with_path =
        |e: std::io::Error, p: &Path| std::io::Error::new(e.kind(), format!("{}: {e}", p.display()));
    if esp.exists() {
        std::fs::remove_dir_all(esp).map_err(|e| with_path(e, esp))?;
    }
    for (rel, source) in files {
        let to = esp.join(rel);
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).map_err(|e| with_path(e, dir))?;
        }
        match source {
            EspSource::Copy(from) => std::fs::copy(from, &to).map(|_| ()).map_err(|e| with_path(e, from))?,
            EspSource::Text(text) => std::fs::write(&to, text).map_err(|e| with_path(e, &to))?,
        }
    }
    Ok(())
}

/// Quotes `s` for a POSIX shell when it needs it (only for printing commands).
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_=,./:+@%".contains(&b));
    if plain { s.to_string() } else { format!("'{}'", s.replace('\'', r"'\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo(nodes: &[&str], dists: &[&str]) -> Topology {
        Topology::parse(nodes, dists, None).unwrap()
    }

    fn line(c: &QemuConfig) -> String {
        c.args().join(" ")
    }

    #[test]
    fn a_single_node_has_no_numa_options() {
        let c = QemuConfig::new(topo(&["cpus=1,mem=1G"], &[]), "k.img");
        assert_eq!(
            line(&c),
            "-M virt,gic-version=3 -cpu cortex-a72 -smp 1 -m 1024M -nographic -nic none \
             -kernel k.img -semihosting -append exit=semihosting"
        );
    }

    #[test]
    fn two_nodes_get_backends_cpus_and_one_distance_per_pair() {
        let c = QemuConfig::new(Topology::demo(), "k.img");
        let l = line(&c);
        assert!(l.contains("-smp 4 -m 1024M"), "{l}");
        assert!(
            l.contains(
                "-object memory-backend-ram,id=m0,size=512M \
                 -object memory-backend-ram,id=m1,size=512M \
                 -numa node,nodeid=0,cpus=0-1,memdev=m0 \
                 -numa node,nodeid=1,cpus=2-3,memdev=m1 \
                 -numa dist,src=0,dst=1,val=20 -kernel"
            ),
            "{l}"
        );
    }

    #[test]
    fn legacy_numa_gives_node_memory_without_backends_on_virt_5_0() {
        let mut c = QemuConfig::new(topo(&["cpus=1,mem=256M", "cpus=1,mem=0"], &[]), "k.img");
        c.legacy_numa = true;
        let l = line(&c);
        assert!(l.contains("-M virt-5.0,gic-version=3 "), "{l}");
        assert!(l.contains("-numa node,nodeid=0,cpus=0,mem=256M -numa node,nodeid=1,cpus=1,mem=0M "), "{l}");
        assert!(!l.contains("memory-backend") && !l.contains("memdev"), "{l}");
        // One node: no NUMA options, the current machine version.
        let mut c = QemuConfig::new(topo(&["cpus=1,mem=256M"], &[]), "k.img");
        c.legacy_numa = true;
        assert!(line(&c).contains("-M virt,gic-version=3 "));
    }

    #[test]
    fn memoryless_and_cpuless_nodes_omit_memdev_and_cpus() {
        let c = QemuConfig::new(topo(&["cpus=1,mem=0", "cpus=0,mem=256M", "cpus=2,mem=256M"], &[]), "k.img");
        let l = line(&c);
        assert!(!l.contains("id=m0"), "{l}");
        assert!(l.contains("-numa node,nodeid=0,cpus=0 "), "{l}");
        assert!(l.contains("-numa node,nodeid=1,memdev=m1 "), "{l}");
        assert!(l.contains("-numa node,nodeid=2,cpus=1-2,memdev=m2 "), "{l}");
        assert!(l.contains("-m 512M"), "{l}");
        assert!(!l.contains("dist"), "no distances given means no -numa dist: {l}");
    }

    #[test]
    fn one_distance_given_means_every_pair_is_emitted() {
        let c = QemuConfig::new(topo(&["cpus=1,mem=256M"; 3], &["0-1=15"]), "k");
        let dists: Vec<String> = c.args().into_iter().filter(|a| a.starts_with("dist,")).collect();
        assert_eq!(dists, ["dist,src=0,dst=1,val=15", "dist,src=0,dst=2,val=20", "dist,src=1,dst=2,val=20"]);
    }

    #[test]
    fn asymmetry_emits_both_directions_of_every_pair() {
        let c = QemuConfig::new(topo(&["cpus=1,mem=256M"; 3], &["0-1=15", "1-0=25"]), "k");
        let dists: Vec<String> = c.args().into_iter().filter(|a| a.starts_with("dist,")).collect();
        assert_eq!(
            dists,
            [
                "dist,src=0,dst=1,val=15",
                "dist,src=0,dst=2,val=20",
                "dist,src=1,dst=0,val=25",
                "dist,src=1,dst=2,val=20",
                "dist,src=2,dst=0,val=20",
                "dist,src=2,dst=1,val=20"
            ]
        );
    }

    #[test]
    fn el2_uboot_gdb_clusters_and_bootargs() {
        let t = Topology::parse(&["cpus=4,mem=1G"], &[] as &[&str], Some(2)).unwrap();
        let mut c = QemuConfig::new(t, "Image");
        c.el2 = true;
        c.gdb = true;
        c.boot = Boot::Firmware(UBOOT_BIOS.into());
        c.append = vec!["selftest=panic".into()];
        let l = line(&c);
        assert!(l.starts_with("-M virt,gic-version=3,virtualization=on "), "{l}");
        assert!(l.contains("-smp 4,sockets=1,clusters=2,cores=2,threads=1 "), "{l}");
        assert!(l.contains(&format!("-bios {UBOOT_BIOS} -kernel Image")), "{l}");
        assert!(l.ends_with("-append exit=semihosting selftest=panic -s -S"), "{l}");
    }

    #[test]
    fn dumpdtb_has_no_kernel() {
        let mut c = QemuConfig::new(Topology::demo(), "k.img");
        c.boot = Boot::DumpDtb("/tmp/x.dtb".into());
        let l = line(&c);
        assert!(l.starts_with("-M virt,gic-version=3,dtb-randomness=off,dumpdtb=/tmp/x.dtb "));
        assert!(!l.contains("-kernel"), "{l}");
    }

    #[test]
    fn an_initrd_follows_the_kernel_and_never_goes_with_a_dtb_dump() {
        let mut c = QemuConfig::new(topo(&["cpus=1,mem=1G"], &[]), "k.img");
        c.initrd = Some("target/initrd.cpio".into());
        assert!(line(&c).contains("-kernel k.img -initrd target/initrd.cpio -semihosting "), "{}", line(&c));
        c.boot = Boot::DumpDtb("/tmp/x.dtb".into());
        assert!(!line(&c).contains("-initrd"), "{}", line(&c));
        c.initrd = None;
        c.boot = Boot::Direct;
        assert!(!line(&c).contains("-initrd"), "no initrd unless asked: {}", line(&c));
    }

    #[test]
    fn uefi_boots_edk2_from_a_vvfat_esp_with_acpi_off_and_no_kernel_option() {
        let mut c = QemuConfig::new(Topology::demo(), "k.img");
        c.boot = Boot::Uefi { loader: "l.efi".into(), esp: "/t/esp".into(), acpi: false };
        c.initrd = Some("i.cpio".into());
        c.append = vec!["selftest=panic".into()];
        let l = line(&c);
        assert!(l.starts_with("-M virt,gic-version=3,acpi=off "), "{l}");
        assert!(
            l.ends_with(&format!(
                "-bios {EDK2_BIOS} -drive if=virtio,format=raw,readonly=on,file=fat:/t/esp -semihosting"
            )),
            "{l}"
        );
        assert!(!l.contains("-kernel") && !l.contains("-initrd") && !l.contains("-append"), "{l}");
        assert!(l.contains("-numa node,nodeid=1,cpus=2-3,memdev=m1"), "NUMA as for any boot: {l}");
        c.el2 = true;
        assert!(line(&c).starts_with("-M virt,gic-version=3,virtualization=on,acpi=off "));
    }

    #[test]
    fn the_esp_holds_the_loader_kernel_initrd_and_bootargs() {
        let mut c = QemuConfig::new(Topology::demo(), "k.img");
        assert!(c.esp_files().is_empty(), "only a UEFI boot has an ESP");
        c.boot = Boot::Uefi { loader: "l.efi".into(), esp: "/t/esp".into(), acpi: false };
        c.append = vec!["selftest=panic".into()];
        let names = |c: &QemuConfig| {
            c.esp_files().into_iter().map(|(p, _)| p.display().to_string()).collect::<Vec<_>>()
        };
        assert_eq!(names(&c), ["EFI/BOOT/BOOTAA64.EFI", "kernel.img", "cmdline.txt"]);
        assert_eq!(c.esp_files()[0].1, EspSource::Copy("l.efi".into()));
        assert_eq!(c.esp_files()[2].1, EspSource::Text("exit=semihosting selftest=panic\n".into()));
        c.initrd = Some("i.cpio".into());
        assert_eq!(names(&c), ["EFI/BOOT/BOOTAA64.EFI", "kernel.img", "initrd.cpio", "cmdline.txt"]);
    }

    #[test]
    fn preparing_the_esp_replaces_what_it_held() {
        let dir = std::env::temp_dir().join(format!("harness-esp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("esp")).unwrap();
        std::fs::write(dir.join("esp/initrd.cpio"), b"stale").unwrap();
        std::fs::write(dir.join("k.img"), b"kernel").unwrap();
        std::fs::write(dir.join("l.efi"), b"loader").unwrap();
        let mut c = QemuConfig::new(Topology::demo(), dir.join("k.img"));
        c.boot = Boot::Uefi { loader: dir.join("l.efi"), esp: dir.join("esp"), acpi: false };
        c.prepare_esp().unwrap();
        assert_eq!(std::fs::read(dir.join("esp/EFI/BOOT/BOOTAA64.EFI")).unwrap(), b"loader");
        assert_eq!(std::fs::read(dir.join("esp/kernel.img")).unwrap(), b"kernel");
        assert_eq!(std::fs::read_to_string(dir.join("esp/cmdline.txt")).unwrap(), "exit=semihosting\n");
        assert!(!dir.join("esp/initrd.cpio").exists(), "a stale initrd is removed");
        c.kernel = dir.join("missing.img");
        let e = c.prepare_esp().unwrap_err();
        assert!(e.to_string().contains("missing.img"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn printed_commands_are_shell_quoted() {
        assert_eq!(shell_quote("-m"), "-m");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        let mut c = QemuConfig::new(Topology::demo(), "k.img");
        c.append = vec!["selftest=panic".into()];
        assert!(c.command_line().ends_with("-append 'exit=semihosting selftest=panic'"));
    }
}
