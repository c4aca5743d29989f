// SPDX-License-Identifier: MIT OR Apache-2.0
//! `uefi-loader`: boots the kernel from UEFI firmware as QEMU's `-kernel` would.
//!
//! Real arm64 servers start an operating system as a UEFI application. This small one
//! (`BOOTAA64.EFI` on the EFI system partition) loads the kernel's flat Image and the
//! initrd from the same partition and enters the kernel exactly as QEMU's own loader and
//! U-Boot's `booti` do, so the kernel needs no UEFI code of its own.
//!
//! # The boot flow (where each step lives)
//!
//! 1. `efi_main`: the firmware's entry; `efi::BootServices` wraps the system table.
//! 2. The device tree from the configuration table ([`guid::DEVICE_TREE`]; EDK2 on QEMU
//!    `virt` publishes one with `-M virt,acpi=off`) and the ACPI RSDP if any. Without a
//!    device tree but with an RSDP (EDK2's default: ACPI only) the loader starts from
//!    [`fdt::STUB_TREE`] and adds `/memory` nodes for the map's RAM ([`memmap::ram`]).
//! 3. `\kernel.img`: header ([`image::parse_header`]), then the lowest free 2 MiB
//!    boundary + `text_offset` ([`memmap::lowest_load_address`]), allocated at that
//!    address for the Image's whole footprint, and read there.
//! 4. `\initrd.cpio` (optional) and `\cmdline.txt` (optional, [`cmdline::bootargs`]).
//! 5. A buffer for the new tree; then the memory map, the firmware's ranges
//!    ([`memmap::firmware_reservations`]), the RAM for a stub tree, the new tree
//!    ([`fdt::rewrite`]) and
//!    `ExitBootServices`, retried once with a fresh map if the key went stale.
//! 6. `enter::start_kernel`: caches cleaned, MMU off, x0 = DTB.
//!
//! # Files on the ESP
//!
//! ```text
//! \EFI\BOOT\BOOTAA64.EFI   this loader (the removable-media default path)
//! \kernel.img              the flat Image (target/kernel.img)
//! \initrd.cpio             the initrd, if any
//! \cmdline.txt             the bootargs, one line, if any
//! ```
//!
//! # Design
//! The UEFI bindings are our own (`efi.rs`, from the UEFI 2.10 specification) and are the
//! only FFI; the kernel jump is the only assembly (`enter.rs`). Everything else is pure
//! and tested on the host (`cargo test -p uefi-loader`): the parts that need the
//! firmware compile only for `target_os = "uefi"`.
#![cfg_attr(target_os = "uefi", no_std, no_main)]
#![cfg_attr(
    not(target_os = "uefi"),
    allow(dead_code, reason = "host: the pure modules are used by tests only")
)]

mod cmdline;
mod fdt;
mod guid;
mod image;
mod memmap;

#[cfg(target_os = "uefi")]
mod efi;
#[cfg(target_os = "uefi")]
mod enter;

/// On the host the loader is only its tests.
#[cfg(not(target_os = "uefi"))]
fn main() {
    eprintln!("uefi-loader: a UEFI application; build it with --target aarch64-unknown-uefi");
}

#[cfg(target_os = "uefi")]
mod boot {
    use crate::efi::{BootServices, File, Handle, Status, SystemTable};
    use crate::memmap::{self, Range};
    use crate::{cmdline, fdt, guid, image};
    use core::fmt::Write;

    /// Most firmware ranges the loader reserves (the kernel's table holds 64, and the
    /// tree's own reservations come first).
    const MAX_RESERVATIONS: usize = 48;
    /// Most separate RAM ranges for a stub tree's `/memory` nodes (QEMU has one, a
    /// server one or two per node).
    const MAX_RAM: usize = 32;
    /// Bytes for the memory map: EDK2's has around a hundred 48-byte descriptors.
    const MAP_BYTES: usize = 64 * 1024;

    /// Why the loader gives up, reported on the firmware console.
    #[derive(Debug)]
    #[allow(dead_code, reason = "the fields are read through Debug, on the console")]
    enum LoadError {
        NoDeviceTreeNorAcpi,
        BootVolume(Status),
        Open(&'static str, Status),
        Read(&'static str, Status),
        Image(image::ImageError),
        NoRoomForImage { footprint: u64 },
        Allocate(&'static str, Status),
        MemoryMap(Status),
        Map(memmap::MapError),
        Cmdline(cmdline::CmdlineError),
        Fdt(fdt::FdtError),
        ExitBootServices(Status),
    }

    /// A `core::fmt` sink on the firmware console.
    struct Console<'a>(&'a BootServices);

    impl Write for Console<'_> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            self.0.print(s);
            Ok(())
        }
    }

    /// The firmware's entry point.
    ///
    /// # Safety
    /// Called by the firmware only, with its image handle and system table.
    #[unsafe(no_mangle)]
    pub unsafe extern "efiapi" fn efi_main(image: Handle, st: *const SystemTable) -> Status {
        // SAFETY: the firmware's own arguments; boot services run; this is the only
        // `BootServices`.
        let bs = unsafe { BootServices::new(image, st) };
        let Err((bs, e)) = load_and_start(bs);
        if let Some(bs) = bs {
            let _ = writeln!(Console(&bs), "uefi-loader: error: {e:?}");
        }
        Status::LOAD_ERROR
    }

    fn pages(bytes: u64) -> usize {
        bytes.div_ceil(memmap::PAGE_SIZE) as usize
    }

    /// Reads the whole of `name` into new pages; `None` if there is no such file.
    fn read_file(dir: &File<'_>, name: &'static str, bs: &BootServices) -> Result<Option<Range>, LoadError> {
        let file = match dir.open(name) {
            Ok(f) => f,
            Err(Status::NOT_FOUND) => return Ok(None),
            Err(e) => return Err(LoadError::Open(name, e)),
        };
        let size = file.size().map_err(|e| LoadError::Read(name, e))?;
        let buf = bs.allocate_pages(None, pages(size.max(1))).map_err(|e| LoadError::Allocate(name, e))?;
        let n = file.read(&mut buf[..size as usize]).map_err(|e| LoadError::Read(name, e))?;
        Ok(Some(Range { base: buf.as_ptr() as u64, size: n as u64 }))
    }

    type Failure = (Option<BootServices>, LoadError);

    fn load_and_start(bs: BootServices) -> Result<core::convert::Infallible, Failure> {
        match prepare(&bs) {
            Ok(plan) => leave_and_start(bs, plan),
            Err(e) => Err((Some(bs), e)),
        }
    }

    /// Everything decided before the memory map is taken for the last time.
    struct Plan {
        entry: u64,
        footprint: u64,
        initrd: Option<Range>,
        bootargs: ([u8; cmdline::MAX_LEN], usize),
        has_bootargs: bool,
        fdt_src: &'static [u8],
        /// The firmware has no tree: the loader writes a stub with `/memory` nodes.
        stub: bool,
        fdt_out: &'static mut [u8],
        rsdp: Option<u64>,
        map: &'static mut [u8],
    }

    fn prepare(bs: &BootServices) -> Result<Plan, LoadError> {
        let mut con = Console(bs);
        let _ = writeln!(con, "uefi-loader: numa-l4 kernel loader");
        let dtb = guid::find_table(bs.config_tables(), guid::DEVICE_TREE);
        let rsdp = guid::find_table(bs.config_tables(), guid::ACPI_20);
        let (fdt_src, stub) = match (dtb, rsdp) {
            (Some(dtb), _) => (bs.device_tree(dtb).map_err(LoadError::Fdt)?, false),
            (None, Some(_)) => (&fdt::STUB_TREE[..], true),
            (None, None) => return Err(LoadError::NoDeviceTreeNorAcpi),
        };

        let root = bs.boot_volume().map_err(LoadError::BootVolume)?;
        let map =
            bs.allocate_pages(None, MAP_BYTES / 4096).map_err(|e| LoadError::Allocate("memory map", e))?;

        // The kernel: header first, then its place, then the bytes.
        let kernel = root.open("\\kernel.img").map_err(|e| LoadError::Open("\\kernel.img", e))?;
        let size = kernel.size().map_err(|e| LoadError::Read("\\kernel.img", e))?;
        let mut head = [0u8; image::HEADER_SIZE];
        kernel.read(&mut head).map_err(|e| LoadError::Read("\\kernel.img", e))?;
        let header = image::parse_header(&head, size).map_err(LoadError::Image)?;
        let (used, _, desc_size) = bs.memory_map(map).map_err(LoadError::MemoryMap)?;
        let descs = || memmap::descriptors(&map[..used], desc_size).map_err(LoadError::Map);
        let load = memmap::lowest_load_address(descs()?, &header)
            .ok_or(LoadError::NoRoomForImage { footprint: header.footprint })?;
        let dst = bs
            .allocate_pages(Some(load), pages(header.footprint))
            .map_err(|e| LoadError::Allocate("kernel", e))?;
        dst[..image::HEADER_SIZE].copy_from_slice(&head);
        let rest = kernel
            .read(&mut dst[image::HEADER_SIZE..size as usize])
            .map_err(|e| LoadError::Read("\\kernel.img", e))?;
        if (image::HEADER_SIZE + rest) as u64 != size {
            return Err(LoadError::Read("\\kernel.img", Status::LOAD_ERROR));
        }
        drop(kernel);
        let _ = writeln!(
            con,
            "uefi-loader: kernel.img: {size} bytes at {load:#x} (footprint {:#x})",
            header.footprint
        );
        // What the firmware keeps now (the final list is taken again right before
        // ExitBootServices, when nothing can be printed any more).
        let mut reserve = [Range::default(); MAX_RESERVATIONS];
        let n = memmap::firmware_reservations(descs()?, &mut reserve).map_err(LoadError::Map)?;
        let kib: u64 = reserve[..n].iter().map(|r| r.size / 1024).sum();
        let _ = writeln!(con, "uefi-loader: {n} firmware ranges ({kib} KiB) go to /memreserve/");

        let initrd = read_file(&root, "\\initrd.cpio", bs)?;
        if let Some(r) = initrd {
            let _ = writeln!(con, "uefi-loader: initrd.cpio: {} bytes at {:#x}", r.size, r.base);
        }
        let mut bootargs = ([0u8; cmdline::MAX_LEN], 0);
        let mut has_bootargs = false;
        if let Ok(file) = root.open("\\cmdline.txt") {
            let mut raw = [0u8; cmdline::MAX_LEN + 2];
            let n = file.read(&mut raw).map_err(|e| LoadError::Read("\\cmdline.txt", e))?;
            let args = cmdline::bootargs(&raw[..n]).map_err(LoadError::Cmdline)?;
            bootargs.0[..args.len()].copy_from_slice(args.as_bytes());
            bootargs.1 = args.len();
            has_bootargs = true;
            let _ = writeln!(con, "uefi-loader: bootargs: {args}");
        }

        let memory_nodes = if stub { MAX_RAM } else { 0 };
        let out_len = fdt_src.len() + fdt::growth_bound(MAX_RESERVATIONS, memory_nodes, bootargs.1);
        let fdt_out = bs
            .allocate_pages(None, pages(out_len as u64))
            .map_err(|e| LoadError::Allocate("device tree", e))?;
        match (dtb, rsdp) {
            (Some(dtb), _) => {
                let _ = writeln!(con, "uefi-loader: device tree at {dtb:#x} ({} bytes)", fdt_src.len());
            }
            (None, rsdp) => {
                let _ = writeln!(con, "uefi-loader: no device tree; ACPI RSDP at {:#x}", rsdp.unwrap_or(0));
            }
        }
        let _ = writeln!(con, "uefi-loader: starting the kernel");
        Ok(Plan {
            entry: load,
            footprint: header.footprint,
            initrd,
            bootargs,
            has_bootargs,
            fdt_src,
            stub,
            fdt_out,
            rsdp,
            map,
        })
    }

    /// The memory map, the new tree, `ExitBootServices` (twice at most), the jump.
    fn leave_and_start(mut bs: BootServices, plan: Plan) -> Result<core::convert::Infallible, Failure> {
        let Plan { entry, footprint, initrd, bootargs, has_bootargs, fdt_src, stub, fdt_out, rsdp, map } =
            plan;
        let args = core::str::from_utf8(&bootargs.0[..bootargs.1]).unwrap_or("");
        let mut reserve = [Range::default(); MAX_RESERVATIONS];
        let mut ram = [Range::default(); MAX_RAM];
        let mut tree_len = 0;
        for attempt in 0..2 {
            // From here to ExitBootServices nothing may allocate (not even printing), or
            // the map key goes stale.
            let step = (|| {
                let (used, key, desc_size) = bs.memory_map(map).map_err(LoadError::MemoryMap)?;
                let descs = || memmap::descriptors(&map[..used], desc_size).map_err(LoadError::Map);
                let n = memmap::firmware_reservations(descs()?, &mut reserve).map_err(LoadError::Map)?;
                let n_ram = if stub { memmap::ram(descs()?, &mut ram).map_err(LoadError::Map)? } else { 0 };
                let h = fdt::Handover {
                    reserve: &reserve[..n],
                    initrd,
                    bootargs: has_bootargs.then_some(args),
                    rsdp,
                    memory: &ram[..n_ram],
                };
                tree_len = fdt::rewrite(fdt_src, fdt_out, &h).map_err(LoadError::Fdt)?;
                Ok(key)
            })();
            let key = match step {
                Ok(key) => key,
                Err(e) => return Err((Some(bs), e)),
            };
            match bs.exit(key) {
                Ok(()) => {
                    let dtb = fdt_out.as_ptr() as u64;
                    let ranges = [
                        Range { base: entry, size: footprint },
                        initrd.unwrap_or_default(),
                        Range { base: dtb, size: tree_len as u64 },
                    ];
                    // SAFETY: boot services are gone; `entry` is the Image placed by the
                    // header's rule, `dtb` the tree just written, every range memory this
                    // loader allocated, identity-mapped by UEFI.
                    unsafe { crate::enter::start_kernel(entry, dtb, &ranges) }
                }
                Err((back, e)) if e == Status::INVALID_PARAMETER && attempt == 0 => bs = back,
                Err((back, e)) => return Err((Some(back), LoadError::ExitBootServices(e))),
            }
        }
        Err((None, LoadError::ExitBootServices(Status::INVALID_PARAMETER)))
    }

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
        loop {
            core::hint::spin_loop();
        }
    }
}
