#!/usr/bin/env bash
# SPDX-License-Identifier: MIT OR Apache-2.0
#
# tests/scripts/installer.sh: scripts/lib.sh's dependency installer adds what is missing
# and never removes a package the user has.
#
# On a machine with qemu-utils from bookworm-backports (which `Breaks` the system QEMU's
# qemu-system-common), `apt-get install -y` of the whole package list removed it. The
# installer now asks only for the missing packages and passes `--no-remove`, so apt-get
# stops instead of removing anything. Checked here against a fake apt-get that records
# its arguments (nothing is installed), and the detection against an empty PATH.
# Ends with `N passed, N failed`.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

source "$(dirname "${BASH_SOURCE[0]}")/check.sh"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/empty"
cat >"$work/apt-get" <<FAKE
#!/bin/sh
echo "\$*" >>"$work/log"
FAKE
chmod +x "$work/apt-get"

# Detection: with nothing on PATH and no firmware files, every package is missing; with
# the real PATH and files, only what this machine lacks.
all="$(PATH="$work/empty" UBOOT_BIN=/nonexistent EDK2_BIN=/nonexistent missing_packages | tr '\n' ' ')"
check "an empty machine misses every package" \
    test "$all" = "qemu-system-arm device-tree-compiler u-boot-qemu qemu-efi-aarch64 llvm mtools "
some="$(UBOOT_BIN=/nonexistent missing_packages | tr '\n' ' ')"
check "a missing file is one missing package" grep -q "u-boot-qemu" <<<"$some"

# Installing: exactly the missing packages, --no-remove, nothing else asked for.
if [[ "$(id -u)" -eq 0 ]]; then
    (APT_GET="$work/apt-get" install_packages u-boot-qemu llvm) >"$work/out" 2>&1
    check "the installer runs apt-get update, then install" test "$(wc -l <"$work/log")" -eq 2
    check "apt-get update first" grep -qx "update -q" "$work/log"
    check "only the missing packages, never removing one" \
        grep -qx -- "install -y -q --no-install-recommends --no-remove u-boot-qemu llvm" "$work/log"
else
    (install_packages u-boot-qemu llvm) >"$work/out" 2>&1
    check "without root it refuses" test $? -ne 0
    check "and prints the command, with --no-remove" \
        grep -q -- "apt-get install -y --no-install-recommends --no-remove u-boot-qemu llvm" "$work/out"
fi
# apt-get failing (as --no-remove makes it when it would have to remove something)
# stops the installer with the reason.
cat >"$work/apt-get" <<'FAKE'
#!/bin/sh
[ "$1" = update ] && exit 0
echo "E: Packages need to be removed but remove is disabled." >&2
exit 100
FAKE
if [[ "$(id -u)" -eq 0 ]]; then
    (APT_GET="$work/apt-get" install_packages qemu-system-arm) >"$work/out" 2>&1
    status=$?
    check "a refusal to remove stops the installer" test "$status" -ne 0
    check "and says why" grep -q "removes nothing (--no-remove)" "$work/out"
fi
finish
