// SPDX-License-Identifier: MIT OR Apache-2.0
//! `qemu-run`: boot the kernel on a QEMU machine of a given NUMA shape (behind `scripts/run`).
//!
//! A developer wants one command that builds the right QEMU invocation, shows the kernel's
//! serial output live with backtraces already resolved to source lines, gives up on a hang,
//! and exits with the kernel's own status so shell scripts can act on it. This is that command;
//! the logic lives in the `harness` library, where it is unit-tested.

#![forbid(unsafe_code)]

use harness::cli::{DEFAULT_TIMEOUT_SECS, RunOptions, check_initrd_file, status, workspace_root};
use harness::qemu::{Boot, EDK2_BIOS, UBOOT_BIOS};
use harness::runner::{Ending, Runner, kernel_status};
use harness::symbolize::Symbolizer;
use std::process::ExitCode;

fn usage() -> String {
    format!(
        "\
usage: qemu-run [OPTIONS] [-- QEMU-ARGS...]
       scripts/run [OPTIONS] [-- QEMU-ARGS...]   (installs what is missing and builds first)

Boots the kernel Image on QEMU `virt` (GICv3, cortex-a72) with the given NUMA topology,
streams the serial output with backtraces symbolized, and exits with the kernel's status
(QEMU semihosting exit, or the `report: halt status=` line after a PSCI power-off;
124 on timeout, 64 for a bad option, 66 for a missing or empty input file).

Topology (without --node: the demo, 2 nodes x 2 CPUs, 512M each, distance 20):
  --node cpus=N,mem=SIZE  add a node (repeatable; node ids count from 0 in order).
                          SIZE is 0 or a number with K/M/G/T, in whole MiB: 512M, 1G, 0.
                          mem=0 makes a memory-less node, cpus=0 a CPU-less node.
  --dist A-B=D            distance from node A to node B, 10..=255 (repeatable). B-A
                          defaults to the same value; unlisted pairs are 20. Without any
                          --dist, QEMU writes no distance map and the kernel assumes 10/20.
  --clusters C            group the CPUs into C clusters of one socket (-smp N,clusters=C).

Machine and kernel:
  --gic v2|v3             QEMU virt's interrupt controller (default v3; v2: at most 8 CPUs)
  --board raspi4b         QEMU's Raspberry Pi 4 Model B (-M raspi4b: 4 CPUs, 2 GiB, GIC-400,
                          spin-table, the mini-UART console); needs QEMU >= 9, which
                          scripts/run extracts from Debian's bookworm-backports into
                          target/qemu10 (the default --qemu, --qemu-data), and the DTB
                          from Debian's arm64 Linux image package (the default --dtb,
                          target/dtbs/broadcom/bcm2711-rpi-4-b.dtb)
  --dtb FILE              the device tree of --board raspi4b (bcm2711-rpi-4-b.dtb)
  --qemu-data DIR         QEMU's data directory (-L), for a QEMU outside the system's
  --el2                   enter the kernel at EL2 (-M virt,virtualization=on)
  --legacy-numa           node memory as -numa node,mem=SIZE on -M virt-5.0 (no memory
                          backends): QEMU 7.2 then gives TCG plugins correct physical
                          addresses (scripts/bench's memory-locality plugin needs this)
  --uboot                 boot through U-Boot's booti ({UBOOT_BIOS}); single memory node only
  --uefi                  boot through UEFI ({EDK2_BIOS}) and kernel/uefi-loader,
                          from target/esp/ (filled here: loader, Image, initrd,
                          cmdline.txt); as a server boots: the firmware passes only
                          ACPI tables and the kernel reads the board from them
  --dt                    with --uefi: -M virt,acpi=off, so the firmware passes a DTB
  --append ARGS           extra kernel bootargs (repeatable), after `exit=semihosting`;
                          test-only: selftest=panic, selftest=fault
  --kernel IMAGE          the flat Image (default: target/kernel.img)
  --initrd FILE           load FILE as the initrd (-initrd): the kernel starts its `root`
                          entry as the root task (scripts/run passes the default demo's,
                          target/demo/initrd.cpio, unless given one or --bare)
  (scripts/run only)      --program 'NAME [ARGS]': run NUMA programs under the runtime
                          (repeatable; packs target/programs/initrd.cpio); --single-space:
                          the paper's baseline; --bare: no initrd
  --elf ELF               the kernel ELF for symbols and gdb
                          (default: target/aarch64-unknown-none-softfloat/release/kernel)
  --qemu BIN              the QEMU binary (default: qemu-system-aarch64)
  -- QEMU-ARGS...         passed to QEMU verbatim, last (e.g. -- -d int -D /tmp/q.log)

Running:
  --timeout SECS          kill QEMU and fail after SECS (default {DEFAULT_TIMEOUT_SECS}; 0 = never)
  --gdb                   wait for gdb on :1234 (-s -S), no timeout; prints the gdb command
  --print-cmd             print the QEMU command line and exit without running it
  --no-symbolize          leave backtrace addresses raw
  -h, --help              this text

Examples:
  scripts/run
  scripts/run --node cpus=1,mem=1G
  scripts/run --node cpus=2,mem=512M --node cpus=1,mem=0 --node cpus=1,mem=256M --dist 0-1=15 --dist 1-0=25
  scripts/run --node cpus=4,mem=1G --node cpus=4,mem=1G --clusters 2 --el2
  scripts/run --node cpus=1,mem=1G --uboot
  scripts/run --uefi
  scripts/run --uefi --node cpus=2,mem=512M --node cpus=2,mem=512M
  scripts/run --uefi --dt
  scripts/run --gic v2 --node cpus=2,mem=512M --node cpus=2,mem=512M
  scripts/run --board raspi4b
  scripts/run --append selftest=panic
  scripts/run --gdb
  scripts/run --print-cmd --node cpus=1,mem=512M --node cpus=0,mem=512M
"
    )
}

fn main() -> ExitCode {
    let opts = match RunOptions::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("qemu-run: {e}");
            return ExitCode::from(status::USAGE);
        }
    };
    if opts.help {
        print!("{}", usage());
        return ExitCode::SUCCESS;
    }
    let config = match opts.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("qemu-run: {e}");
            return ExitCode::from(status::USAGE);
        }
    };
    if opts.print_cmd {
        println!("{}", config.command_line());
        return ExitCode::SUCCESS;
    }
    if !config.kernel.is_file() {
        eprintln!(
            "qemu-run: no kernel Image at {} (build it: scripts/run does, or `source scripts/lib.sh && build_kernel`)",
            config.kernel.display()
        );
        return ExitCode::from(status::NO_INPUT);
    }
    if let Some(initrd) = config.initrd.as_ref() {
        if !initrd.exists() {
            eprintln!(
                "qemu-run: no initrd at {} (build it: `source scripts/lib.sh && build_initrd`)",
                initrd.display()
            );
            return ExitCode::from(status::NO_INPUT);
        }
        if let Err(e) = check_initrd_file(initrd) {
            eprintln!("qemu-run: {e}");
            return ExitCode::from(status::NO_INPUT);
        }
    }
    if let Boot::Firmware(bios) = &config.boot {
        if !bios.is_file() {
            eprintln!(
                "qemu-run: no firmware at {} (install it: apt-get install u-boot-qemu)",
                bios.display()
            );
            return ExitCode::from(status::NO_INPUT);
        }
        if config.topology.nodes().iter().filter(|n| n.mem_mib > 0).count() > 1 {
            eprintln!(
                "qemu-run: warning: U-Boot 2023.01 may hang placing the device tree with several memory nodes"
            );
        }
    }
    if let Boot::Uefi { loader, .. } = &config.boot {
        if !std::path::Path::new(EDK2_BIOS).is_file() {
            eprintln!("qemu-run: no firmware at {EDK2_BIOS} (install it: apt-get install qemu-efi-aarch64)");
            return ExitCode::from(status::NO_INPUT);
        }
        if !loader.is_file() {
            eprintln!(
                "qemu-run: no UEFI loader at {} (build it: `source scripts/lib.sh && build_uefi_loader`)",
                loader.display()
            );
            return ExitCode::from(status::NO_INPUT);
        }
        if let Err(e) = config.prepare_esp() {
            eprintln!("qemu-run: cannot prepare the EFI system partition: {e}");
            return ExitCode::from(status::NO_INPUT);
        }
    }
    if opts.gdb {
        eprintln!("qemu-run: QEMU waits for gdb on :1234; in another terminal run:");
        eprintln!("    {}", opts.gdb_command());
    }

    let cmd = config.command();
    let runner = Runner {
        timeout: opts.timeout(),
        echo: true,
        symbolizer: (!opts.no_symbolize).then(|| Symbolizer::find(opts.elf(), Some(&workspace_root()))),
        on_line: None,
    };
    let result = match runner.run(cmd) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("qemu-run: {e}");
            return ExitCode::from(status::NO_QEMU);
        }
    };
    // Under exit=psci QEMU exits 0 whatever happened: the kernel's halt line says.
    let ending = kernel_status(result.ending, &result.stdout);
    match ending {
        Ending::Exited(0) => {}
        Ending::TimedOut(_) => eprintln!("qemu-run: {ending} (QEMU killed)"),
        other if other != result.ending => {
            eprintln!("qemu-run: the kernel halted with {other} (QEMU exited 0)")
        }
        other => eprintln!("qemu-run: QEMU ended with {other}"),
    }
    // A process status is 8 bits already; anything else would still be a failure.
    ExitCode::from(u8::try_from(ending.exit_code()).unwrap_or(1))
}
