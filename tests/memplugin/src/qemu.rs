// SPDX-License-Identifier: MIT OR Apache-2.0
//! The part of QEMU's TCG plugin API (version 1, QEMU 7.2) this plugin calls.
//!
//! Written from the API's documentation (`docs/devel/tcg-plugins.rst` and the comments of
//! `include/qemu/qemu-plugin.h`), not generated from the GPL header. The functions live in the
//! QEMU executable, which exports them dynamically; the cdylib leaves them undefined and the
//! dynamic loader binds them when QEMU `dlopen`s the plugin (a Linux shared object may have
//! undefined symbols; rustc does not link cdylibs with `-z defs`).
//!
//! C types, as the header declares them:
//!
//! | C                                   | here                              |
//! |-------------------------------------|-----------------------------------|
//! | `qemu_plugin_id_t` (`uint64_t`)     | [`PluginId`]                      |
//! | `qemu_plugin_meminfo_t` (`uint32_t`)| [`MemInfo`]                       |
//! | `struct qemu_plugin_tb *` etc.      | pointers to opaque types          |
//! | `enum qemu_plugin_cb_flags`         | `c_uint`, [`CB_NO_REGS`]          |
//! | `enum qemu_plugin_mem_rw`           | `c_uint`, [`MEM_RW`]              |
//! | `qemu_info_t`                       | [`Info`]                          |
//!
//! Handles (`tb`, `insn`, `hwaddr`, `meminfo`) are valid only during the callback that
//! received them; nothing here stores one.

use core::ffi::{c_char, c_int, c_uint, c_void};
use core::marker::{PhantomData, PhantomPinned};

/// The plugin's id, handed to `qemu_plugin_install` and to the callbacks.
pub type PluginId = u64;

/// An opaque description of one memory access, valid during a memory callback.
pub type MemInfo = u32;

/// An opaque C type: only ever behind a pointer QEMU gave us; not `Send`, not `Unpin`.
macro_rules! opaque {
    ($(#[$doc:meta] $name:ident;)*) => {$(
        #[$doc]
        #[repr(C)]
        pub struct $name {
            _data: [u8; 0],
            _marker: PhantomData<(*mut u8, PhantomPinned)>,
        }
    )*};
}

opaque! {
    /// `struct qemu_plugin_tb`: a translation block being translated.
    Tb;
    /// `struct qemu_plugin_insn`: one guest instruction of a [`Tb`].
    Insn;
    /// `struct qemu_plugin_hwaddr`: the physical side of one memory access.
    HwAddr;
}

/// `QEMU_PLUGIN_CB_NO_REGS`: the callback does not read or write guest registers.
pub const CB_NO_REGS: c_uint = 0;

/// `QEMU_PLUGIN_MEM_RW`: call back on loads and on stores (`R` = 1, `W` = 2).
pub const MEM_RW: c_uint = 3;

/// `qemu_info_t`, valid only during `qemu_plugin_install`.
///
/// In C the two vCPU counts sit in a union (`system`) that only full-system emulation fills;
/// a struct of one member has the same layout, so they are flattened here. Read them only
/// when `system_emulation` is true.
#[repr(C)]
pub struct Info {
    /// The guest architecture, e.g. `aarch64`.
    pub target_name: *const c_char,
    /// The oldest plugin API version this QEMU supports.
    pub version_min: c_int,
    /// The newest plugin API version this QEMU supports.
    pub version_cur: c_int,
    /// Full-system emulation (rather than linux-user).
    pub system_emulation: bool,
    /// `system.smp_vcpus`: vCPUs at start.
    pub smp_vcpus: c_int,
    /// `system.max_vcpus`: vCPUs the machine may ever have.
    pub max_vcpus: c_int,
}

/// `qemu_plugin_vcpu_tb_trans_cb_t`: called when QEMU translates a block.
pub type TbTransCb = extern "C" fn(id: PluginId, tb: *mut Tb);

/// `qemu_plugin_vcpu_mem_cb_t`: called on a memory access by an instrumented instruction.
pub type MemCb = extern "C" fn(vcpu_index: c_uint, info: MemInfo, vaddr: u64, userdata: *mut c_void);

/// `qemu_plugin_udata_cb_t`: e.g. the exit callback.
pub type UdataCb = extern "C" fn(id: PluginId, userdata: *mut c_void);

/// `qemu_plugin_vcpu_udata_cb_t`: called on a vCPU with the registered userdata.
pub type VcpuUdataCb = extern "C" fn(vcpu_index: c_uint, userdata: *mut c_void);

// SAFETY: each declaration below matches the QEMU 7.2 (plugin API v1) prototype in argument
// and return types, per the table in this module's documentation; QEMU exports them all
// (`nm -D qemu-system-aarch64`).
unsafe extern "C" {
    /// Calls `cb` every time QEMU translates a block, before it runs.
    pub fn qemu_plugin_register_vcpu_tb_trans_cb(id: PluginId, cb: TbTransCb);

    /// The number of instructions in `tb` (valid only during the translation callback).
    pub fn qemu_plugin_tb_n_insns(tb: *const Tb) -> usize;

    /// Instruction `idx` of `tb`, `idx` below [`qemu_plugin_tb_n_insns`].
    pub fn qemu_plugin_tb_get_insn(tb: *const Tb, idx: usize) -> *mut Insn;

    /// The bytes of `insn` (valid during the translation callback).
    pub fn qemu_plugin_insn_data(insn: *const Insn) -> *const c_void;

    /// How many bytes [`qemu_plugin_insn_data`] points to.
    pub fn qemu_plugin_insn_size(insn: *const Insn) -> usize;

    /// Calls `cb` with `userdata` every time `insn` executes, before it does.
    pub fn qemu_plugin_register_vcpu_insn_exec_cb(
        insn: *mut Insn,
        cb: VcpuUdataCb,
        flags: c_uint,
        userdata: *mut c_void,
    );

    /// Calls `cb` on each memory access of `insn` of the kinds `rw`, every time it executes.
    pub fn qemu_plugin_register_vcpu_mem_cb(
        insn: *mut Insn,
        cb: MemCb,
        flags: c_uint,
        rw: c_uint,
        userdata: *mut c_void,
    );

    /// The physical side of an access (NULL in linux-user), valid during the memory callback.
    pub fn qemu_plugin_get_hwaddr(info: MemInfo, vaddr: u64) -> *mut HwAddr;

    /// Whether the access went to a device (MMIO) rather than RAM.
    pub fn qemu_plugin_hwaddr_is_io(haddr: *const HwAddr) -> bool;

    /// The guest-physical address of the access.
    pub fn qemu_plugin_hwaddr_phys_addr(haddr: *const HwAddr) -> u64;

    /// Whether the access was a store.
    pub fn qemu_plugin_mem_is_store(info: MemInfo) -> bool;

    /// Calls `cb` with `userdata` when QEMU exits (from a C `atexit` handler).
    pub fn qemu_plugin_register_atexit_cb(id: PluginId, cb: UdataCb, userdata: *mut c_void);

    /// Writes a NUL-terminated string to QEMU's log; shown only with `-d plugin`.
    pub fn qemu_plugin_outs(string: *const c_char);
}
