#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# tests/scripts/image.sh: the boot media of scripts/image, checked as far as QEMU can go
# (docs/boards.md, the flashing guides).
#
# 1. `scripts/image --board rpi4`: the FAT partition holds what the Pi 4's firmware
#    reads (config.txt with arm_64bit=1 and the file names it uses, cmdline.txt,
#    start4.elf, fixup4.dat, the tree, the kernel, the initrd); the kernel, tree and
#    initrd read back from the image boot QEMU 10's raspi4b to user level on four CPUs.
#    (QEMU has no VideoCore to run start4.elf: the firmware's own part is not tested.)
# 2. `scripts/image --board uboot`: QEMU virt's U-Boot (Debian's u-boot-qemu), given
#    nothing but the image as a virtio disk, finds extlinux/extlinux.conf by its distro
#    boot, loads the kernel and initrd from it and starts them with booti: user level
#    passes, the kernel exits with status 0.
# Every boot has a deadline (a hang fails). Ends with `N passed, N failed`.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
cd "$ROOT"

source "$(dirname "${BASH_SOURCE[0]}")/check.sh"

dir="$TARGET_DIR/images"
mkdir -p "$dir"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fat() { echo "$1@@1M"; }

# 1. The Raspberry Pi 4 card.
rpi="$dir/rpi4.img"
if scripts/image --board rpi4 "$rpi" >"$work/rpi.log" 2>&1; then
    listing="$(mdir -b -i "$(fat "$rpi")" :: 2>&1)"
    for f in config.txt cmdline.txt start4.elf fixup4.dat bcm2711-rpi-4-b.dtb numa-l4.img initrd.cpio; do
        check "rpi4 image has $f" grep -q "/$f\$" <<<"$listing"
    done
    mtype -i "$(fat "$rpi")" ::config.txt >"$work/config.txt" 2>&1
    for line in arm_64bit=1 kernel=numa-l4.img "initramfs initrd.cpio followkernel" \
        device_tree=bcm2711-rpi-4-b.dtb enable_uart=1; do
        check "rpi4 config.txt says $line" grep -qx "$line" "$work/config.txt"
    done
    for f in numa-l4.img bcm2711-rpi-4-b.dtb initrd.cpio; do
        mcopy -o -i "$(fat "$rpi")" "::$f" "$work/$f"
    done
    check "rpi4 image's kernel is the one built" cmp -s "$work/numa-l4.img" "$KERNEL_IMG"
    build_harness
    "$HARNESS_BIN/qemu-run" --board raspi4b --kernel "$work/numa-l4.img" --dtb "$work/bcm2711-rpi-4-b.dtb" \
        --initrd "$work/initrd.cpio" --no-symbolize --timeout 60 >"$work/rpi-boot.log" 2>&1
    status=$?
    check "rpi4 image's files boot raspi4b (exit status $status)" test "$status" -eq 0
    check "rpi4 image's files start all four CPUs" grep -q "^report: smp online=4 expected=4" "$work/rpi-boot.log"
    check "rpi4 image's files reach user level" grep -q "^report: user-level result=pass" "$work/rpi-boot.log"
    ((status == 0)) || tail -20 "$work/rpi-boot.log"
else
    cat "$work/rpi.log"
    check "scripts/image --board rpi4" false
fi

# 2. Through U-Boot's distro boot from the image alone.
uboot="$dir/uboot.img"
if scripts/image --board uboot --append exit=semihosting "$uboot" >"$work/uboot.log" 2>&1; then
    check "uboot image has extlinux.conf" mtype -i "$(fat "$uboot")" ::extlinux/extlinux.conf >/dev/null
    timeout 90 qemu-system-aarch64 -M virt,gic-version=3 -cpu cortex-a72 -m 1G -nographic -nic none \
        -bios "$UBOOT_BIN" -drive "if=virtio,format=raw,readonly=on,file=$uboot" -semihosting \
        </dev/null >"$work/uboot-boot.log" 2>&1
    status=$?
    check "U-Boot boots the uboot image (exit status $status)" test "$status" -eq 0
    check "U-Boot found extlinux.conf on the disk" grep -q "Found /extlinux/extlinux.conf" "$work/uboot-boot.log"
    check "the kernel ran from it to user level" grep -q "^report: user-level result=pass" "$work/uboot-boot.log"
    ((status == 0)) || tail -30 "$work/uboot-boot.log"
else
    cat "$work/uboot.log"
    check "scripts/image --board uboot" false
fi
finish
