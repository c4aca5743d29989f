// SPDX-License-Identifier: MIT OR Apache-2.0
//! The UEFI calls the loader makes: our own bindings, and the only FFI in the crate.
//!
//! Only what the loader uses is declared, each table at the offsets UEFI 2.10 gives it;
//! unused function pointers are kept as `usize` placeholders so the used ones land at
//! their spec offsets (checked by the `const` assertions below). Above the raw tables,
//! [`BootServices`] is a safe wrapper: one `unsafe` constructor whose contract covers
//! everything after it, and [`BootServices::exit`], which consumes it, so nothing can call
//! a boot service after `ExitBootServices` (UEFI 2.10 7.4.6).
//!
//! Calling convention: `extern "efiapi"`, which on AArch64 is the AAPCS64 (UEFI 2.10
//! 2.3.6). UEFI runs with the MMU on and an identity map, so the physical addresses
//! AllocatePages returns are also the addresses the loader writes through.
//!
//! # References
//! UEFI 2.10: 4.3 `EFI_SYSTEM_TABLE`, 4.4 `EFI_BOOT_SERVICES`, 4.6 configuration tables,
//! 7.2 memory services, 7.4.6 `ExitBootServices`, 9.1 `EFI_LOADED_IMAGE_PROTOCOL`,
//! 12.4 `EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL`, 13.4 `EFI_SIMPLE_FILE_SYSTEM_PROTOCOL`,
//! 13.5 `EFI_FILE_PROTOCOL`, appendix D status codes.

use crate::guid::{self, Guid};
use core::ffi::c_void;
use core::mem::offset_of;
use core::ptr;

/// `EFI_HANDLE`.
pub type Handle = *mut c_void;

/// `EFI_STATUS`: 0 is success; the top bit marks errors (UEFI 2.10 appendix D).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct Status(pub usize);

const ERROR_BIT: usize = 1 << (usize::BITS - 1);

impl Status {
    /// `EFI_SUCCESS`.
    pub const SUCCESS: Status = Status(0);
    /// `EFI_INVALID_PARAMETER` (from ExitBootServices: the map key is stale).
    pub const INVALID_PARAMETER: Status = Status(ERROR_BIT | 2);
    /// `EFI_NOT_FOUND`.
    pub const NOT_FOUND: Status = Status(ERROR_BIT | 14);
    /// `EFI_LOAD_ERROR`, what the loader returns to the firmware on its own errors.
    pub const LOAD_ERROR: Status = Status(ERROR_BIT | 1);

    fn ok(self) -> Result<(), Status> {
        if self == Status::SUCCESS { Ok(()) } else { Err(self) }
    }
}

#[repr(C)]
struct TableHeader {
    signature: u64,
    revision: u32,
    header_size: u32,
    crc32: u32,
    reserved: u32,
}

/// `EFI_SYSTEM_TABLE` (UEFI 2.10 4.3.1).
#[repr(C)]
pub struct SystemTable {
    hdr: TableHeader,
    firmware_vendor: *const u16,
    firmware_revision: u32,
    console_in_handle: Handle,
    con_in: *mut c_void,
    console_out_handle: Handle,
    con_out: *mut TextOutput,
    standard_error_handle: Handle,
    std_err: *mut c_void,
    runtime_services: *mut c_void,
    boot_services: *mut RawBootServices,
    number_of_table_entries: usize,
    configuration_table: *const ConfigurationTable,
}

/// `EFI_CONFIGURATION_TABLE`.
#[repr(C)]
struct ConfigurationTable {
    vendor_guid: Guid,
    vendor_table: *mut c_void,
}

/// `EFI_BOOT_SERVICES` up to `HandleProtocol`... `ExitBootServices` (UEFI 2.10 4.4.1).
#[repr(C)]
struct RawBootServices {
    hdr: TableHeader,
    raise_tpl: usize,
    restore_tpl: usize,
    allocate_pages: unsafe extern "efiapi" fn(u32, u32, usize, *mut u64) -> Status,
    free_pages: usize,
    get_memory_map:
        unsafe extern "efiapi" fn(*mut usize, *mut u8, *mut usize, *mut usize, *mut u32) -> Status,
    allocate_pool: usize,
    free_pool: usize,
    create_event: usize,
    set_timer: usize,
    wait_for_event: usize,
    signal_event: usize,
    close_event: usize,
    check_event: usize,
    install_protocol_interface: usize,
    reinstall_protocol_interface: usize,
    uninstall_protocol_interface: usize,
    handle_protocol: unsafe extern "efiapi" fn(Handle, *const Guid, *mut *mut c_void) -> Status,
    reserved: usize,
    register_protocol_notify: usize,
    locate_handle: usize,
    locate_device_path: usize,
    install_configuration_table: usize,
    load_image: usize,
    start_image: usize,
    exit: usize,
    unload_image: usize,
    exit_boot_services: unsafe extern "efiapi" fn(Handle, usize) -> Status,
}

// The spec's offsets: 24-byte header, then one 8-byte pointer per service.
const _: () = assert!(offset_of!(RawBootServices, allocate_pages) == 24 + 2 * 8);
const _: () = assert!(offset_of!(RawBootServices, get_memory_map) == 24 + 4 * 8);
const _: () = assert!(offset_of!(RawBootServices, handle_protocol) == 24 + 16 * 8);
const _: () = assert!(offset_of!(RawBootServices, exit_boot_services) == 24 + 26 * 8);
const _: () = assert!(offset_of!(SystemTable, con_out) == 64);
const _: () = assert!(offset_of!(SystemTable, boot_services) == 96);
const _: () = assert!(offset_of!(SystemTable, configuration_table) == 112);

/// `EFI_SIMPLE_TEXT_OUTPUT_PROTOCOL`, up to `OutputString`.
#[repr(C)]
struct TextOutput {
    reset: usize,
    output_string: unsafe extern "efiapi" fn(*mut TextOutput, *const u16) -> Status,
}

/// `EFI_LOADED_IMAGE_PROTOCOL`, up to `DeviceHandle` (UEFI 2.10 9.1.1).
#[repr(C)]
struct LoadedImage {
    revision: u32,
    parent_handle: Handle,
    system_table: *mut SystemTable,
    device_handle: Handle,
}
const _: () = assert!(offset_of!(LoadedImage, device_handle) == 24);

/// `EFI_SIMPLE_FILE_SYSTEM_PROTOCOL` (UEFI 2.10 13.4.1).
#[repr(C)]
struct SimpleFileSystem {
    revision: u64,
    open_volume: unsafe extern "efiapi" fn(*mut SimpleFileSystem, *mut *mut RawFile) -> Status,
}

/// `EFI_FILE_PROTOCOL`, up to `SetPosition` (UEFI 2.10 13.5.1).
#[repr(C)]
struct RawFile {
    revision: u64,
    open: unsafe extern "efiapi" fn(*mut RawFile, *mut *mut RawFile, *const u16, u64, u64) -> Status,
    close: unsafe extern "efiapi" fn(*mut RawFile) -> Status,
    delete: usize,
    read: unsafe extern "efiapi" fn(*mut RawFile, *mut usize, *mut u8) -> Status,
    write: usize,
    get_position: unsafe extern "efiapi" fn(*mut RawFile, *mut u64) -> Status,
    set_position: unsafe extern "efiapi" fn(*mut RawFile, u64) -> Status,
}
const _: () = assert!(offset_of!(RawFile, set_position) == 56);

/// `EFI_FILE_MODE_READ`.
const FILE_MODE_READ: u64 = 1;
/// `AllocateAnyPages`, `AllocateAddress` (`EFI_ALLOCATE_TYPE`).
const ALLOCATE_ANY_PAGES: u32 = 0;
const ALLOCATE_ADDRESS: u32 = 2;

/// The boot services, usable until [`BootServices::exit`].
pub struct BootServices {
    image: Handle,
    st: &'static SystemTable,
    bs: &'static RawBootServices,
}

impl BootServices {
    /// # Safety
    /// `image` and `st` must be what the firmware passed to the entry point, boot services
    /// must not have been exited, and only one value may exist (the firmware is not
    /// re-entrant: one caller at a time).
    pub unsafe fn new(image: Handle, st: *const SystemTable) -> BootServices {
        // SAFETY: the caller passes the firmware's system table, valid and unchanging
        // while boot services run.
        let st: &'static SystemTable = unsafe { &*st };
        // SAFETY: the boot services table of a live system table is valid likewise.
        let bs: &'static RawBootServices = unsafe { &*st.boot_services };
        BootServices { image, st, bs }
    }

    /// Writes `s` to the firmware console (ASCII; a `\n` becomes `\r\n`).
    pub fn print(&self, s: &str) {
        let mut buf = [0u16; 128];
        let mut n = 0;
        for b in s.bytes() {
            if n + 3 >= buf.len() {
                self.output(&mut buf, n);
                n = 0;
            }
            if b == b'\n' {
                buf[n] = u16::from(b'\r');
                n += 1;
            }
            buf[n] = if b.is_ascii() { u16::from(b) } else { u16::from(b'?') };
            n += 1;
        }
        self.output(&mut buf, n);
    }

    fn output(&self, buf: &mut [u16; 128], n: usize) {
        buf[n] = 0;
        let out = self.st.con_out;
        if out.is_null() {
            return;
        }
        // SAFETY: `con_out` is the firmware's console protocol (non-null checked).
        let output_string = unsafe { (*out).output_string };
        // SAFETY: the protocol's own function with its own pointer and a NUL-terminated
        // UCS-2 string that outlives the call.
        let _ = unsafe { output_string(out, buf.as_ptr()) };
    }

    /// The configuration table: (GUID, table address) pairs.
    pub fn config_tables(&self) -> impl Iterator<Item = (Guid, u64)> + '_ {
        let (base, n) = (self.st.configuration_table, self.st.number_of_table_entries);
        // SAFETY: the system table has `n` entries at `base`, valid while boot services
        // run (and `self` proves they do).
        let table: &[ConfigurationTable] = unsafe { core::slice::from_raw_parts(base, n) };
        table.iter().map(|e| (e.vendor_guid, e.vendor_table as u64))
    }

    /// The device tree the configuration table points to, `totalsize` bytes long.
    pub fn device_tree(&self, address: u64) -> Result<&'static [u8], crate::fdt::FdtError> {
        // SAFETY: the configuration table's device-tree entry points to a blob the
        // firmware keeps while boot services run; its 40-byte header is read first.
        let header = unsafe { core::slice::from_raw_parts(address as *const u8, 40) };
        let total = crate::fdt::total_size(header)?;
        // SAFETY: as above, now with the size the header gives (magic checked).
        Ok(unsafe { core::slice::from_raw_parts(address as *const u8, total) })
    }

    /// `pages` 4 KiB pages of loader data at `address` (or anywhere with `None`), as a
    /// slice; the memory stays allocated (the kernel receives it).
    pub fn allocate_pages(&self, address: Option<u64>, pages: usize) -> Result<&'static mut [u8], Status> {
        let (kind, mut addr) = match address {
            Some(a) => (ALLOCATE_ADDRESS, a),
            None => (ALLOCATE_ANY_PAGES, 0),
        };
        // SAFETY: a boot service called with valid arguments while boot services run.
        unsafe { (self.bs.allocate_pages)(kind, crate::memmap::kind::LOADER_DATA, pages, &mut addr) }.ok()?;
        // SAFETY: the firmware gave us `pages` pages at `addr`, identity-mapped and
        // writable, owned by nobody else until the kernel takes them over.
        Ok(unsafe { core::slice::from_raw_parts_mut(addr as *mut u8, pages * 4096) })
    }

    /// Fills `buf` with the memory map: returns (bytes used, map key, descriptor size).
    pub fn memory_map(&self, buf: &mut [u8]) -> Result<(usize, usize, usize), Status> {
        let (mut size, mut key, mut desc_size, mut version) = (buf.len(), 0usize, 0usize, 0u32);
        // SAFETY: a boot service called with a buffer of `size` writable bytes.
        unsafe {
            (self.bs.get_memory_map)(&mut size, buf.as_mut_ptr(), &mut key, &mut desc_size, &mut version)
        }
        .ok()?;
        Ok((size, key, desc_size))
    }

    /// The root directory of the volume this loader was loaded from (the ESP).
    pub fn boot_volume(&self) -> Result<File<'_>, Status> {
        let loaded: *mut LoadedImage = self.protocol(self.image, &guid::LOADED_IMAGE)?;
        // SAFETY: the firmware returned a valid loaded-image protocol for our handle.
        let device = unsafe { (*loaded).device_handle };
        let fs: *mut SimpleFileSystem = self.protocol(device, &guid::SIMPLE_FILE_SYSTEM)?;
        let mut root = ptr::null_mut();
        // SAFETY: `fs` is the device's file-system protocol; OpenVolume writes a file
        // handle into `root`.
        let open_volume = unsafe { (*fs).open_volume };
        // SAFETY: calling the protocol's own function with its own pointer.
        unsafe { open_volume(fs, &mut root) }.ok()?;
        Ok(File { raw: root, _bs: self })
    }

    fn protocol<T>(&self, handle: Handle, guid: &Guid) -> Result<*mut T, Status> {
        let mut iface = ptr::null_mut();
        // SAFETY: a boot service called with a valid handle and GUID; it writes the
        // interface pointer.
        unsafe { (self.bs.handle_protocol)(handle, guid, &mut iface) }.ok()?;
        Ok(iface.cast())
    }

    /// `ExitBootServices` with the key of the latest memory map. On success the boot
    /// services are gone, and so is `self`; on failure (a stale key) they are still
    /// there and `self` comes back.
    pub fn exit(self, map_key: usize) -> Result<(), (BootServices, Status)> {
        // SAFETY: a boot service called with our image handle; after success nothing
        // uses `self` again (it is consumed).
        match unsafe { (self.bs.exit_boot_services)(self.image, map_key) }.ok() {
            Ok(()) => Ok(()),
            Err(e) => Err((self, e)),
        }
    }
}

/// An open file or directory on the boot volume.
pub struct File<'b> {
    raw: *mut RawFile,
    _bs: &'b BootServices,
}

impl File<'_> {
    /// Opens `name` (ASCII, `\`-separated, at most 63 characters) for reading.
    pub fn open(&self, name: &str) -> Result<File<'_>, Status> {
        let mut wide = [0u16; 64];
        if name.len() >= wide.len() || !name.is_ascii() {
            return Err(Status::NOT_FOUND);
        }
        for (w, b) in wide.iter_mut().zip(name.bytes()) {
            *w = u16::from(b);
        }
        let mut out = ptr::null_mut();
        // SAFETY: `raw` is an open file handle; Open takes a NUL-terminated UCS-2 name.
        let open = unsafe { (*self.raw).open };
        // SAFETY: calling the protocol's own function with its own pointer.
        unsafe { open(self.raw, &mut out, wide.as_ptr(), FILE_MODE_READ, 0) }.ok()?;
        Ok(File { raw: out, _bs: self._bs })
    }

    /// The file's size: the position at its end.
    pub fn size(&self) -> Result<u64, Status> {
        // SAFETY: `raw` is an open file handle.
        let file: &RawFile = unsafe { &*self.raw };
        let (set, get) = (file.set_position, file.get_position);
        // SAFETY: SetPosition(-1) moves to the end of a file (UEFI 2.10 13.5.12).
        unsafe { set(self.raw, u64::MAX) }.ok()?;
        let mut size = 0;
        // SAFETY: GetPosition writes the position.
        unsafe { get(self.raw, &mut size) }.ok()?;
        // SAFETY: back to the start for the reads.
        unsafe { set(self.raw, 0) }.ok()?;
        Ok(size)
    }

    /// Reads into `buf` until it is full or the file ends; returns the bytes read.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, Status> {
        // SAFETY: `raw` is an open file handle.
        let read = unsafe { (*self.raw).read };
        let mut done = 0;
        while done < buf.len() {
            let mut n = buf.len() - done;
            // SAFETY: Read writes at most `n` bytes at the pointer, which has `n` left.
            unsafe { read(self.raw, &mut n, buf[done..].as_mut_ptr()) }.ok()?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(done)
    }
}

impl Drop for File<'_> {
    fn drop(&mut self) {
        // SAFETY: `raw` is an open file handle, closed once, here.
        let close = unsafe { (*self.raw).close };
        // SAFETY: calling the protocol's own function with its own pointer.
        let _ = unsafe { close(self.raw) };
    }
}
