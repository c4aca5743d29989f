# SPDX-License-Identifier: MIT OR Apache-2.0
#
# scripts/lib.sh: shared helpers for scripts/run, scripts/test and scripts/topology.
#
# Source it, do not run it:
#     source scripts/lib.sh
#     ensure_deps      # QEMU, dtc, U-Boot, llvm; installs them as root, else says how
#     ensure_qemu10    # QEMU 10 (raspi4b) from bookworm-backports, extracted into target/qemu10
#     ensure_dtbs      # every arm64 board DTB of Debian's Linux image package, in target/dtbs
#     build_kernel     # target/kernel.img (flat arm64 Image) + the ELF beside it
#     build_uefi_loader   # kernel/uefi-loader for aarch64-unknown-uefi: $UEFI_LOADER
#     build_harness    # the host tools: $TARGET_DIR/debug/{qemu-run,boot-tests,topology,mkinitrd}
#     build_user       # every user program (pagers/NAME/src/main.rs), aarch64-unknown-none
#     build_initrd     # build_user, then pack them all into target/initrd.cpio
#     build_bench_initrd  # pagers/bench as the root task: target/bench/initrd.cpio
#     build_program_initrd LINE...  # root + the NUMA runtime + programs, a manifest line each
#     ensure_mdbook    # mdBook (pinned, from crates.io) in target/tools/bin, built once
#     build_book       # docs/ -> target/book/ (the book); fails on any mdBook warning
#     ensure_llvm_cov  # cargo-llvm-cov (pinned, crates.io) and rustup's llvm-tools, for scripts/coverage
#
# Everything a fresh Debian machine lacks is installed here (CI runs as root with no
# standard input), so no step of the project depends on what someone installed by hand.

# The repository root, wherever the caller's working directory is.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Cargo's output directory: honour CARGO_TARGET_DIR as cargo itself does.
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
KERNEL_TARGET=aarch64-unknown-none-softfloat
KERNEL_ELF="$TARGET_DIR/$KERNEL_TARGET/release/kernel"
KERNEL_IMG="$TARGET_DIR/kernel.img"
HARNESS_BIN="$TARGET_DIR/debug"
# User programs: built for the target with FP/SIMD (the kernel saves it per thread),
# linked by linker/user.ld, packed into the initrd by mkinitrd.
USER_TARGET=aarch64-unknown-none
USER_BIN_DIR="$TARGET_DIR/$USER_TARGET/release"
INITRD="$TARGET_DIR/initrd.cpio"
# The benchmark's initrd: pagers/bench packed as `root` (scripts/bench boots it).
BENCH_INITRD="$TARGET_DIR/bench/initrd.cpio"
# A NUMA run's initrd (scripts/run --program): root, the runtime (pagers/numa-pager),
# the programs and their manifest.
PROGRAM_INITRD="$TARGET_DIR/programs/initrd.cpio"
# The default demo (scripts/run, scripts/image): such a run of these programs.
DEMO_INITRD="$PROGRAM_INITRD"
DEMO_PROGRAMS=(sweep stencil kvstore)
UBOOT_BIN=/usr/lib/u-boot/qemu_arm64/u-boot.bin
# EDK2 (UEFI) for QEMU virt: scripts/run --uefi boots the kernel through it.
EDK2_BIN=/usr/share/qemu-efi-aarch64/QEMU_EFI.fd
# The UEFI loader (kernel/uefi-loader), a PE/COFF application EDK2 starts.
UEFI_TARGET=aarch64-unknown-uefi
UEFI_LOADER="$TARGET_DIR/$UEFI_TARGET/release/uefi-loader.efi"
# Debian packages the QEMU side needs: the emulator, dtc (to read DTBs), U-Boot for the
# booti test, EDK2 for UEFI boots, llvm for llvm-symbolizer (backtraces) and llvm-objcopy.
# mtools writes the FAT file systems of scripts/image's boot media (no mount, no root).
DEB_PACKAGES=(qemu-system-arm device-tree-compiler u-boot-qemu qemu-efi-aarch64 llvm mtools)

# Prints a message on stderr, prefixed with the calling script's name.
say() { echo "${0##*/}: $*" >&2; }

# Prints an error and exits 1.
die() {
    say "error: $*"
    exit 1
}

# missing_packages: prints the Debian packages of DEB_PACKAGES whose program or file is
# not there, one a line (nothing when all are).
missing_packages() {
    command -v qemu-system-aarch64 >/dev/null || echo qemu-system-arm
    command -v dtc >/dev/null || echo device-tree-compiler
    [[ -f "$UBOOT_BIN" ]] || echo u-boot-qemu
    [[ -f "$EDK2_BIN" ]] || echo qemu-efi-aarch64
    command -v llvm-symbolizer >/dev/null || command -v llvm-symbolizer-14 >/dev/null || echo llvm
    command -v mcopy >/dev/null || echo mtools
}

# ensure_deps: makes sure the Debian packages and the Rust targets are there.
# As root, installs what is missing (non-interactively); otherwise prints the exact command
# to run and exits non-zero.
ensure_deps() {
    local missing=()
    mapfile -t missing < <(missing_packages)
    if ((${#missing[@]} > 0)); then
        install_packages "${missing[@]}"
    fi
    ensure_rust_targets
}

# install_packages PKG...: installs exactly these Debian packages (as root; otherwise
# prints the command and exits 1), and never removes a package the user has. Why that
# needs saying: `apt-get install -y` removes installed packages when that is its way to
# satisfy a `Breaks`, and QEMU from bookworm-backports has one: its qemu-utils
# `Breaks: qemu-system-common (<< 1:8.0)`, the common files of the system's QEMU 7.2
# that qemu-system-arm needs. So on a machine with qemu-utils from backports,
# installing the whole package list removed qemu-utils. Now only what is missing is
# asked for, and `--no-remove` makes apt-get stop instead of removing anything; the
# user then decides. (`APT_GET` names the program, for the test: tests/scripts.)
install_packages() {
    local apt="${APT_GET:-apt-get}"
    local install="DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends --no-remove $*"
    if [[ "$(id -u)" -ne 0 ]]; then
        say "error: missing packages: $*. Install them with:"
        echo "    sudo apt-get update && sudo $install" >&2
        exit 1
    fi
    say "installing missing packages: $*"
    "$apt" update -q || die "apt-get update failed"
    env DEBIAN_FRONTEND=noninteractive "$apt" install -y -q --no-install-recommends --no-remove "$@" </dev/null ||
        die "apt-get install $* failed; it removes nothing (--no-remove): if it would have to remove a package you have (a QEMU from another release, say), install these yourself"
}

# private_apt NAME ARCH SOURCE-LINE ARGS...: apt-get (or, with ARGS starting with
# `cache`, apt-cache) with lists and cache of its own under $TARGET_DIR/apt/NAME, for
# ARCH, from the one source line given (a `deb ...` line): it reads package indices and
# downloads .deb files without touching the system's apt state, its architectures or
# its installed packages. `update` first, then `download` or `cache search`.
private_apt() {
    local name="$1" arch="$2" source="$3" dir="$TARGET_DIR/apt/$1"
    shift 3
    mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
    echo "$source" >"$dir/sources.list"
    local opts=(-o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache"
        -o "Dir::Etc::SourceList=$dir/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
        -o "Dir::State::status=/dev/null" -o "APT::Architecture=$arch" -o "APT::Architectures::=$arch"
        -o "Debug::NoLocking=true" -o "APT::Sandbox::User=$(id -un)")
    if [[ "$1" == cache ]]; then
        shift
        apt-cache "${opts[@]}" "$@"
    else
        apt-get -q "${opts[@]}" "$@"
    fi
}

# QEMU 10 for `-M raspi4b` (QEMU 7.2 has no raspi4b): Debian bookworm-backports'
# qemu-system-arm, -common and -data, extracted (not installed) into $QEMU10_DIR; the
# system's QEMU 7.2 stays, for scripts/bench's TCG plugin (plugin API v1). The harness
# finds it there (tests/src/qemu.rs, `qemu10_bin`) and loads its own modules.
QEMU10_DIR="$TARGET_DIR/qemu10"
QEMU10_BIN="$QEMU10_DIR/usr/bin/qemu-system-aarch64"
DEBIAN_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
BACKPORTS_SOURCE="deb [signed-by=$DEBIAN_KEYRING] http://deb.debian.org/debian bookworm-backports main"
ensure_qemu10() {
    if [[ -x "$QEMU10_BIN" ]] && "$QEMU10_BIN" -M help 2>/dev/null | grep -q '^raspi4b '; then
        return 0
    fi
    say "extracting QEMU 10 from Debian bookworm-backports into $QEMU10_DIR (for -M raspi4b)"
    local debs="$QEMU10_DIR/debs" deb
    rm -rf "$QEMU10_DIR" && mkdir -p "$debs"
    private_apt backports amd64 "$BACKPORTS_SOURCE" update >/dev/null || die "apt-get update of bookworm-backports failed"
    (cd "$debs" && private_apt backports amd64 "$BACKPORTS_SOURCE" download \
        qemu-system-arm/bookworm-backports qemu-system-common/bookworm-backports qemu-system-data/bookworm-backports) ||
        die "apt-get download of QEMU 10 from bookworm-backports failed"
    for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$QEMU10_DIR" || die "dpkg-deb -x $deb failed"; done
    "$QEMU10_BIN" -M help 2>/dev/null | grep -q '^raspi4b ' || die "$QEMU10_BIN has no -M raspi4b"
}

# Every arm64 board's device tree from Debian's Linux image package (the newest
# linux-image-6.1.0-N-arm64-unsigned of bookworm, arm64, through apt), in $DTB_DIR as
# VENDOR/BOARD.dtb; $DTB_DIR/PACKAGE names the package they came from. For the
# support-report corpus (scripts/topology --support) and the Raspberry Pi 4 boot
# ($RPI4_DTB). Fetched once, a few seconds and 60 MB.
DTB_DIR="$TARGET_DIR/dtbs"
RPI4_DTB="$DTB_DIR/broadcom/bcm2711-rpi-4-b.dtb"
BOOKWORM_SOURCE="deb [signed-by=$DEBIAN_KEYRING] http://deb.debian.org/debian bookworm main
deb [signed-by=$DEBIAN_KEYRING] http://deb.debian.org/debian-security bookworm-security main"
ensure_dtbs() {
    if [[ -f "$DTB_DIR/PACKAGE" && -f "$RPI4_DTB" ]]; then
        return 0
    fi
    say "fetching the arm64 board device trees from Debian's Linux image package into $DTB_DIR"
    private_apt arm64 arm64 "$BOOKWORM_SOURCE" update >/dev/null || die "apt-get update (arm64) failed"
    local pkg
    pkg="$(private_apt arm64 arm64 "$BOOKWORM_SOURCE" cache search --names-only '^linux-image-6\.1\.0-[0-9]+-arm64-unsigned$' |
        awk '{print $1}' | sort -V | tail -n 1)"
    [[ -n "$pkg" ]] || die "no linux-image-6.1.0-N-arm64-unsigned package in bookworm"
    rm -rf "$DTB_DIR" && mkdir -p "$DTB_DIR/deb"
    (cd "$DTB_DIR/deb" && private_apt arm64 arm64 "$BOOKWORM_SOURCE" download "$pkg:arm64") ||
        die "apt-get download $pkg:arm64 failed"
    # ./usr/lib/linux-image-VERSION/VENDOR/BOARD.dtb -> VENDOR/BOARD.dtb
    dpkg-deb --fsys-tarfile "$DTB_DIR"/deb/*.deb | tar -x -C "$DTB_DIR" --wildcards --strip-components=4 '*.dtb' ||
        die "extracting the device trees of $pkg failed"
    rm -rf "$DTB_DIR/deb"
    [[ -f "$RPI4_DTB" ]] || die "$pkg has no $(basename "$RPI4_DTB")"
    echo "$pkg" >"$DTB_DIR/PACKAGE"
}

# ensure_rust_targets: the bare-metal and UEFI targets of rust-toolchain.toml (rustup normally fetches
# them by itself; this covers a toolchain installed without them).
ensure_rust_targets() {
    command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs)"
    if ! command -v rustup >/dev/null; then
        say "warning: no rustup; assuming the toolchain has $KERNEL_TARGET, aarch64-unknown-none and $UEFI_TARGET"
        return 0
    fi
    local installed want=() t
    installed="$(cd "$ROOT" && rustup target list --installed 2>/dev/null)" ||
        die "rustup target list failed"
    for t in aarch64-unknown-none-softfloat aarch64-unknown-none "$UEFI_TARGET"; do
        grep -qx "$t" <<<"$installed" || want+=("$t")
    done
    if ((${#want[@]} > 0)); then
        say "adding Rust targets: ${want[*]}"
        (cd "$ROOT" && rustup target add "${want[@]}") || die "rustup target add ${want[*]} failed"
    fi
}

# run_objcopy ARGS...: runs an llvm objcopy: the toolchain's own rust-objcopy first, else
# Debian's llvm-objcopy. rust-objcopy looks for libLLVM next to itself (the llvm-tools
# component), so point it at the copy that rustc's own lib/ directory already has.
run_objcopy() {
    local sysroot host tool
    sysroot="$(cd "$ROOT" && rustc --print sysroot)"
    host="$(cd "$ROOT" && rustc -vV | sed -n 's/^host: //p')"
    tool="$sysroot/lib/rustlib/$host/bin/rust-objcopy"
    if [[ -x "$tool" ]] && LD_LIBRARY_PATH="$sysroot/lib" "$tool" --version >/dev/null 2>&1; then
        LD_LIBRARY_PATH="$sysroot/lib" "$tool" "$@"
    elif command -v llvm-objcopy >/dev/null; then
        llvm-objcopy "$@"
    else
        die "no working objcopy: neither $tool nor llvm-objcopy (apt-get install llvm)"
    fi
}

# build_kernel: builds the kernel ELF (release, with debug info) and the flat Image that
# QEMU's -kernel and U-Boot's booti take.
build_kernel() {
    say "building the kernel ($KERNEL_TARGET, release)"
    (cd "$ROOT" && cargo build -p kernel --release --target "$KERNEL_TARGET") ||
        die "the kernel does not build (cargo build -p kernel --release --target $KERNEL_TARGET)"
    [[ -f "$KERNEL_ELF" ]] || die "cargo built no kernel ELF at $KERNEL_ELF"
    run_objcopy -O binary "$KERNEL_ELF" "$KERNEL_IMG" ||
        die "objcopy of $KERNEL_ELF to a flat Image failed"
    say "kernel: ELF $KERNEL_ELF"
    say "kernel: Image $KERNEL_IMG ($(stat -c %s "$KERNEL_IMG") bytes)"
}

# build_uefi_loader: builds kernel/uefi-loader, the UEFI application that loads the Image
# and the initrd from the EFI system partition (scripts/run --uefi), at $UEFI_LOADER.
build_uefi_loader() {
    say "building the UEFI loader ($UEFI_TARGET, release)"
    (cd "$ROOT" && cargo build -q -p uefi-loader --release --target "$UEFI_TARGET") ||
        die "the UEFI loader does not build (cargo build -p uefi-loader --release --target $UEFI_TARGET)"
    [[ -f "$UEFI_LOADER" ]] || die "cargo built no UEFI loader at $UEFI_LOADER"
}

# build_harness: builds the host tools (qemu-run, boot-tests, topology).
build_harness() {
    (cd "$ROOT" && cargo build -q -p harness --bins) || die "the host harness does not build"
}

# user_programs: prints the name of every user program, one a line, sorted. A user
# program is a crate pagers/NAME/ with a src/main.rs; its package and binary are NAME
# (libraries such as pagers/rt have no main.rs and are not programs).
user_programs() {
    local main
    for main in "$ROOT"/pagers/*/src/main.rs; do
        [[ -f "$main" ]] || continue
        main="${main%/src/main.rs}"
        echo "${main##*/}"
    done | LC_ALL=C sort
}

# build_user: builds every user program for $USER_TARGET in release (static ELFs at
# $USER_BIN_DIR/NAME).
build_user() {
    local programs=() p pkgs=()
    mapfile -t programs < <(user_programs)
    ((${#programs[@]} > 0)) || die "no user programs found (pagers/NAME/src/main.rs)"
    for p in "${programs[@]}"; do pkgs+=(-p "$p"); done
    say "building the user programs (${programs[*]}; $USER_TARGET, release)"
    (cd "$ROOT" && cargo build "${pkgs[@]}" --release --target "$USER_TARGET") ||
        die "the user programs do not build (cargo build ${pkgs[*]} --release --target $USER_TARGET)"
    for p in "${programs[@]}"; do
        [[ -f "$USER_BIN_DIR/$p" ]] || die "cargo built no ELF for user program $p at $USER_BIN_DIR/$p"
    done
}

# initrd_programs: the programs of the default initrd: every user program but those whose
# Cargo.toml says `[package.metadata.initrd] default = false` (programs that run as the
# root task in a boot of their own: bench, irqtest, badargs, fuzz; and those a boot test
# packs with the root task itself: powerbtn, shutdownlistener, shutdownhang, silent). The root
# task starts every other program of the initrd as an unprivileged child.
initrd_programs() {
    local p
    while read -r p; do
        grep -qs '^default = false' "$ROOT/pagers/$p/Cargo.toml" && continue
        echo "$p"
    done < <(user_programs)
}

# build_initrd: builds the user programs and mkinitrd, then packs every program into
# $INITRD under its own name, in sorted order (so the archive is reproducible).
build_initrd() {
    build_user
    (cd "$ROOT" && cargo build -q -p harness --bin mkinitrd) || die "mkinitrd does not build"
    local specs=() p
    while read -r p; do specs+=("$p=$USER_BIN_DIR/$p"); done < <(initrd_programs)
    "$HARNESS_BIN/mkinitrd" "$INITRD" "${specs[@]}" || die "mkinitrd could not pack $INITRD"
}

# check_initrd: builds the initrd, then reads it back with bootfmt (archive, and every
# program as an ELF the loader accepts). Ends with `N passed, N failed`.
check_initrd() {
    build_initrd
    "$HARNESS_BIN/mkinitrd" --check "$INITRD"
}

# build_demo_initrd [true]: the default demo into $DEMO_INITRD: the NUMA runtime running
# $DEMO_PROGRAMS one after the other (build_program_initrd); with `true`, each as the
# paper's baseline (`mode=single-space`: one space, one pager).
build_demo_initrd() {
    local lines=() p
    for p in "${DEMO_PROGRAMS[@]}"; do
        if [[ "${1:-false}" == true ]]; then lines+=("$p mode=single-space"); else lines+=("$p"); fi
    done
    build_program_initrd "${lines[@]}"
}

# build_program_initrd LINE...: builds the user programs and packs a NUMA run into
# $PROGRAM_INITRD: the root task, the runtime (pagers/numa-pager), each program a LINE
# names and the manifest `programs`, one LINE a line (`NAME [ARGS] [*N] [&]`, see
# pagers/root/src/manifest.rs). A name that is no user program is refused with the list.
build_program_initrd() {
    (($# > 0)) || die "build_program_initrd: no program"
    build_user
    (cd "$ROOT" && cargo build -q -p harness --bin mkinitrd) || die "mkinitrd does not build"
    local dir="${PROGRAM_INITRD%/*}" line name names=() specs=()
    mkdir -p "$dir"
    : >"$dir/programs"
    for line in "$@"; do
        name="${line%% *}"
        [[ "$name" != root && "$name" != numa-pager ]] ||
            die "'$name' is the system's own (the root task, the NUMA runtime), not a program to run"
        if [[ ! -f "$ROOT/pagers/$name/src/main.rs" || ! -f "$USER_BIN_DIR/$name" ]]; then
            die "no user program named '$name' (pagers/NAME); the programs are: $(user_programs | tr '\n' ' ')"
        fi
        case " ${names[*]} " in *" $name "*) ;; *) names+=("$name") ;; esac
        echo "$line" >>"$dir/programs"
    done
    specs=("root=$USER_BIN_DIR/root" "numa-pager=$USER_BIN_DIR/numa-pager")
    for name in "${names[@]}"; do specs+=("$name=$USER_BIN_DIR/$name"); done
    specs+=("programs=$dir/programs")
    "$HARNESS_BIN/mkinitrd" "$PROGRAM_INITRD" "${specs[@]}" >/dev/null ||
        die "mkinitrd could not pack $PROGRAM_INITRD"
}

# build_memplugin: the memory-locality plugin (tests/memplugin, a QEMU TCG plugin) for
# the host, release (it runs on every guest load and store) at $MEMPLUGIN.
MEMPLUGIN="$TARGET_DIR/release/libmemplugin.so"
build_memplugin() {
    (cd "$ROOT" && cargo build -q -p memplugin --release) || die "tests/memplugin does not build"
    [[ -f "$MEMPLUGIN" ]] || die "cargo built no plugin at $MEMPLUGIN"
}

# run_numa_eval ARGS...: the NUMA evaluation (tests/src/bin/numa-eval.rs) with the kernel,
# the root task, the NUMA runtime, the programs sweep, stencil and numacost (from
# $USER_BIN_DIR) and the plugin (all built already); ARGS: --out-dir DIR and more.
run_numa_eval() {
    "$HARNESS_BIN/numa-eval" --kernel "$KERNEL_IMG" --programs "$USER_BIN_DIR" \
        --plugin "$MEMPLUGIN" "$@"
}

# build_bench_initrd: packs pagers/bench (already built for $USER_TARGET, e.g. by build_user)
# and mkinitrd into $BENCH_INITRD as the root task: the kernel starts the entry named
# `root`, so the benchmark replaces the usual root task.
build_bench_initrd() {
    (cd "$ROOT" && cargo build -q -p harness --bin mkinitrd) || die "mkinitrd does not build"
    [[ -f "$USER_BIN_DIR/bench" ]] || die "no pagers/bench ELF at $USER_BIN_DIR/bench (build_user builds it)"
    mkdir -p "${BENCH_INITRD%/*}"
    "$HARNESS_BIN/mkinitrd" "$BENCH_INITRD" "root=$USER_BIN_DIR/bench" ||
        die "mkinitrd could not pack $BENCH_INITRD"
}

# check_bench_initrd: build_initrd (which builds every program, pagers/bench too), then
# packs the benchmark as the root task and reads that archive back like check_initrd.
# Only that it builds and would load: timings are never asserted in tests (scripts/bench).
check_bench_initrd() {
    build_initrd >/dev/null
    build_bench_initrd >/dev/null
    "$HARNESS_BIN/mkinitrd" --check "$BENCH_INITRD"
}

# mdBook, which builds the book in docs/: one pinned version, installed from crates.io by
# cargo into a directory of the build output (so `cargo clean` removes it and a fresh
# clone or CI builds it once: about a minute on 2 cores). Without its default features
# (`search`, `serve`, `watch`): the book needs only `mdbook build`, and a third of the
# dependencies go.
MDBOOK_VERSION=0.5.4
TOOLS_DIR="$TARGET_DIR/tools"
MDBOOK="$TOOLS_DIR/bin/mdbook"
BOOK_DIR="$TARGET_DIR/book"

# ensure_mdbook: installs mdBook $MDBOOK_VERSION at $MDBOOK unless that version is there.
ensure_mdbook() {
    if [[ -x "$MDBOOK" && "$("$MDBOOK" --version 2>/dev/null)" == "mdbook v$MDBOOK_VERSION" ]]; then
        return 0
    fi
    command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs)"
    say "installing mdBook $MDBOOK_VERSION from crates.io into $TOOLS_DIR (once)"
    (cd "$ROOT" && cargo install mdbook --quiet --locked --version "=$MDBOOK_VERSION" \
        --no-default-features --root "$TOOLS_DIR") ||
        die "cargo install mdbook $MDBOOK_VERSION failed (it needs crates.io)"
    [[ -x "$MDBOOK" ]] || die "cargo installed no mdbook at $MDBOOK"
}

# cargo-llvm-cov (for scripts/coverage), pinned, from crates.io, beside mdBook; it needs
# rustup's llvm-tools component (llvm-profdata, llvm-cov of the toolchain's own LLVM).
LLVM_COV_VERSION=0.9.1
CARGO_LLVM_COV="$TOOLS_DIR/bin/cargo-llvm-cov"

# ensure_llvm_cov: installs llvm-tools (rustup) and cargo-llvm-cov (crates.io, into
# $TOOLS_DIR) when they are missing.
ensure_llvm_cov() {
    command -v rustup >/dev/null || die "scripts/coverage needs rustup (for its llvm-tools component)"
    if ! (cd "$ROOT" && rustup component list --installed 2>/dev/null | grep -q '^llvm-tools'); then
        say "adding the llvm-tools component (rustup)"
        (cd "$ROOT" && rustup component add llvm-tools) || die "rustup component add llvm-tools failed"
    fi
    if [[ -x "$CARGO_LLVM_COV" && "$("$CARGO_LLVM_COV" llvm-cov --version 2>/dev/null)" == "cargo-llvm-cov $LLVM_COV_VERSION" ]]; then
        return 0
    fi
    say "installing cargo-llvm-cov $LLVM_COV_VERSION from crates.io into $TOOLS_DIR (once)"
    (cd "$ROOT" && cargo install cargo-llvm-cov --quiet --locked --version "=$LLVM_COV_VERSION" --root "$TOOLS_DIR") ||
        die "cargo install cargo-llvm-cov $LLVM_COV_VERSION failed (it needs crates.io)"
    [[ -x "$CARGO_LLVM_COV" ]] || die "cargo installed no cargo-llvm-cov at $CARGO_LLVM_COV"
}

# build_book: builds the book (docs/) into $BOOK_DIR. mdBook reports problems (a missing
# include, unbalanced HTML) as WARN/ERROR log lines and still exits 0, so any such line
# is a failure here: warnings denied. Broken links and stale code references are
# doc-check's (tests/src/doccheck.rs), which mdBook does not check.
build_book() {
    ensure_mdbook
    local log status
    log="$(cd "$ROOT/docs" && "$MDBOOK" build --dest-dir "$BOOK_DIR" 2>&1)"
    status=$?
    [[ -z "$log" ]] || echo "$log"
    ((status == 0)) || die "mdbook build failed (exit status $status)"
    if grep -qE '(^|[^A-Za-z])(WARN|ERROR)([^A-Za-z]|$)' <<<"$log"; then
        die "mdbook warned (see above): warnings are errors for the book"
    fi
    say "book: $BOOK_DIR/index.html"
}

# check_docs: every file, item and link that README.md and docs/ name must exist (the
# harness's doc-check, built by build_harness).
check_docs() {
    "$HARNESS_BIN/doc-check" "$ROOT"
}

# check_self_contained: a clone is all a user has. Fails if a tracked file other than
# Markdown names a path outside the repository: the team's shared folder beside the
# checkout (its relative path, one level up) or this machine's workspace (the patterns
# below). Markdown may mention them when it says where something came from. This file is
# left out of the search only because the search's own pattern names them.
check_self_contained() {
    local hits
    hits="$(cd "$ROOT" && git grep -nE '\.\./shared|/work/' -- ':!*.md' ':!scripts/lib.sh' || true)"
    if [[ -n "$hits" ]]; then
        echo "$hits"
        say "these tracked files read paths outside the repository; copy what they need into it"
        return 1
    fi
    echo "no tracked file reads a path outside the repository"
}
