// SPDX-License-Identifier: MIT OR Apache-2.0
//! The symbols QEMU looks up in the plugin, and the three callbacks: translate, access, exit.
//!
//! The only `unsafe` of the crate is here: reading `argv` and `qemu_info_t`, and calling QEMU's
//! API. Everything the callbacks decide is the safe logic of [`crate::config`],
//! [`crate::counters`] and [`crate::report`].
//!
//! ```text
//! qemu_plugin_install   parse argv -> check machine -> create out file -> register callbacks
//! on_translate          per translated block: a memory callback on each instruction
//! on_access             per guest load/store: classify the physical address, count it
//! on_exit               C atexit: snapshot the counters, write the report to out=
//! ```

use core::ffi::{CStr, c_char, c_int, c_uint, c_void};
use std::ffi::CString;
use std::fs::File;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::config::{self, Config, Error, MachineInfo};
use crate::counters::{Access, Counters, SpanCounters, Target};
use crate::lines::{Lines, MARK_CLOSE, MARK_OPEN};
use crate::qemu::{self, HwAddr, Info, Insn, MemInfo, PluginId, Tb};
use crate::report;

/// The plugin API version this plugin is written against. QEMU reads this `int` (a data
/// symbol, not a function) before it calls anything, and refuses to load a plugin without it
/// or outside the range of versions it supports (QEMU 7.2's current version is 1).
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals, reason = "QEMU looks the symbol up by this exact name")]
pub static qemu_plugin_version: c_int = 1;

/// Everything the callbacks need, set once by a successful install.
struct State {
    config: Config,
    /// Created at install (so that a bad path stops QEMU at once); taken by the exit hook.
    out: Mutex<Option<File>>,
}

static STATE: OnceLock<State> = OnceLock::new();

/// The accesses through user (lower-half) addresses.
static COUNTERS: Counters = Counters::new();
/// The accesses through kernel (upper-half) addresses; [`COUNTERS`] has the user's.
static KERNEL_COUNTERS: Counters = Counters::new();
/// The user's RAM accesses again, by `span=` of virtual addresses.
static SPANS: SpanCounters = SpanCounters::new();

/// The same two, counted only while a measured window is open.
static WINDOW_COUNTERS: Counters = Counters::new();
static WINDOW_KERNEL_COUNTERS: Counters = Counters::new();

/// Whether a window is open (read on every access; [`LINES`] holds the truth).
static OPEN: AtomicBool = AtomicBool::new(false);

/// The cache-line model, set at install.
static LINES: OnceLock<Mutex<Lines>> = OnceLock::new();

/// How many of the lines that moved most the report lists.
const TOP_LINES: usize = 12;

/// Called by QEMU once, when it loads the plugin, before the guest runs. Returns 0 on success;
/// anything else makes QEMU print "qemu_plugin_install returned error code" and exit.
///
/// # Safety
///
/// `info` must point to a valid `qemu_info_t` and `argv` to `argc` NUL-terminated strings, for
/// the duration of the call: QEMU's contract for this entry point.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qemu_plugin_install(
    id: PluginId,
    info: *const Info,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    // SAFETY: QEMU passes a valid info block and argc valid strings (this function's contract).
    let installed = unsafe { install(id, info, argc, argv) };
    match installed {
        Ok(()) => 0,
        Err(error) => {
            // qemu_plugin_outs would show nothing without `-d plugin`: stderr always does.
            eprintln!("memplugin: {error}");
            eprintln!("memplugin: {}", config::USAGE);
            1
        }
    }
}

/// The fallible part of [`qemu_plugin_install`].
///
/// # Safety
///
/// As for [`qemu_plugin_install`].
unsafe fn install(
    id: PluginId,
    info: *const Info,
    argc: c_int,
    argv: *const *const c_char,
) -> Result<(), Error> {
    let entries: &[*const c_char] = match usize::try_from(argc) {
        Ok(len) if len > 0 && !argv.is_null() => {
            // SAFETY: argv points to argc entries that stay valid during this call (the
            // caller's contract); it is non-null and the count positive, as checked.
            unsafe { core::slice::from_raw_parts(argv, len) }
        }
        _ => &[],
    };
    let mut args = Vec::with_capacity(entries.len());
    for &entry in entries {
        // SAFETY: each entry is a NUL-terminated string (QEMU keeps them for the plugin's life).
        let arg = unsafe { CStr::from_ptr(entry) };
        args.push(arg.to_str().map_err(|_| Error::NotUtf8 { arg: arg.to_string_lossy().into_owned() })?);
    }
    let config = config::parse_args(args)?;

    // SAFETY: info points to a valid qemu_info_t for this call (the caller's contract).
    let info = unsafe { &*info };
    let machine = MachineInfo {
        system_emulation: info.system_emulation,
        // Only meaningful in system emulation, which check_machine tests first.
        max_vcpus: u32::try_from(info.max_vcpus).unwrap_or(0),
    };
    config.check_machine(machine)?;

    let out =
        File::create(&config.out).map_err(|error| Error::OutFile { path: config.out.clone(), error })?;
    let _ = LINES.set(Mutex::new(Lines::new(config.cpu_nodes)));
    STATE.set(State { config, out: Mutex::new(Some(out)) }).map_err(|_| Error::LoadedTwice)?;

    // SAFETY: id is the id QEMU just gave us; on_translate has the tb_trans callback type.
    unsafe { qemu::qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate) };
    // SAFETY: as above; on_exit has the udata callback type and ignores its null userdata.
    unsafe { qemu::qemu_plugin_register_atexit_cb(id, on_exit, core::ptr::null_mut()) };
    Ok(())
}

/// Instruments a block being translated: every instruction's loads and stores call
/// [`on_access`]. QEMU only emits the call where an instruction actually accesses memory.
/// A window marker ([`MARK_OPEN`], [`MARK_CLOSE`]) calls [`on_mark`] when it executes.
extern "C" fn on_translate(_id: PluginId, tb: *mut Tb) {
    // SAFETY: tb is the handle QEMU passed to this translation callback, valid during it.
    let insns = unsafe { qemu::qemu_plugin_tb_n_insns(tb) };
    for i in 0..insns {
        // SAFETY: tb is valid (as above) and i is below its instruction count.
        let insn: *mut Insn = unsafe { qemu::qemu_plugin_tb_get_insn(tb, i) };
        if let Some(mark) = marker(insn) {
            // SAFETY: insn was just returned for this tb, during its translation
            // callback; on_mark has the vCPU-udata callback type; the userdata is a
            // number (1 open, 2 close), never dereferenced.
            unsafe {
                qemu::qemu_plugin_register_vcpu_insn_exec_cb(
                    insn,
                    on_mark,
                    qemu::CB_NO_REGS,
                    mark as usize as *mut c_void,
                )
            };
        }
        // SAFETY: insn was just returned for this tb, during its translation callback;
        // on_access has the memory callback type and ignores its null userdata.
        unsafe {
            qemu::qemu_plugin_register_vcpu_mem_cb(
                insn,
                on_access,
                qemu::CB_NO_REGS,
                qemu::MEM_RW,
                core::ptr::null_mut(),
            )
        };
    }
}

/// 1 if `insn` opens a window, 2 if it closes one.
fn marker(insn: *mut Insn) -> Option<u8> {
    // SAFETY: insn is valid during the translation callback that called us.
    let size = unsafe { qemu::qemu_plugin_insn_size(insn) };
    if size != 4 {
        return None;
    }
    // SAFETY: as above.
    let data = unsafe { qemu::qemu_plugin_insn_data(insn) }.cast::<u32>();
    if data.is_null() {
        return None;
    }
    // SAFETY: the data is `size` (4) readable bytes during this callback, perhaps
    // unaligned; non-null as checked.
    let word = unsafe { core::ptr::read_unaligned(data) };
    match u32::from_le(word) {
        MARK_OPEN => Some(1),
        MARK_CLOSE => Some(2),
        _ => None,
    }
}

/// A window marker executed: opens (userdata 1) or closes (2) the window.
extern "C" fn on_mark(_vcpu_index: c_uint, userdata: *mut c_void) {
    let Some(lines) = LINES.get() else { return };
    let mut lines = lines.lock().unwrap_or_else(PoisonError::into_inner);
    match userdata as usize {
        1 => lines.open(),
        _ => lines.close(),
    }
    OPEN.store(lines.is_open(), Ordering::Relaxed);
}

/// Counts one guest memory access. Runs on every load and store, on the vCPU's host thread.
extern "C" fn on_access(vcpu_index: c_uint, info: MemInfo, vaddr: u64, _userdata: *mut c_void) {
    // Callbacks are registered only after STATE was set, so this is always Some.
    let Some(state) = STATE.get() else { return };
    // SAFETY: info and vaddr are this memory callback's arguments, as get_hwaddr expects.
    let hwaddr: *mut HwAddr = unsafe { qemu::qemu_plugin_get_hwaddr(info, vaddr) };
    let target = match core::ptr::NonNull::new(hwaddr) {
        // Only linux-user returns NULL, and install refused that; count it rather than guess.
        None => Target::Unmapped,
        Some(hwaddr) => {
            // SAFETY: hwaddr is non-null and valid for the rest of this callback.
            let is_io = unsafe { qemu::qemu_plugin_hwaddr_is_io(hwaddr.as_ptr()) };
            if is_io {
                Target::Io
            } else {
                // SAFETY: as above.
                let phys = unsafe { qemu::qemu_plugin_hwaddr_phys_addr(hwaddr.as_ptr()) };
                state.config.memory.node_of(phys).map_or(Target::Unmapped, Target::Node)
            }
        }
    };
    // SAFETY: info is this memory callback's argument.
    let access = if unsafe { qemu::qemu_plugin_mem_is_store(info) } { Access::Store } else { Access::Load };
    let level = report::Level::of(vaddr);
    if let (report::Level::User, Target::Node(mem)) = (level, target)
        && let Some(Some(cpu)) = state.config.cpu_nodes.get(vcpu_index as usize)
    {
        SPANS.record(state.config.span_of(vaddr), *cpu != mem);
    }
    let counters = match level {
        report::Level::User => &COUNTERS,
        report::Level::Kernel => &KERNEL_COUNTERS,
    };
    counters.record(vcpu_index, target, access);
    if OPEN.load(Ordering::Relaxed) {
        let window = match level {
            report::Level::User => &WINDOW_COUNTERS,
            report::Level::Kernel => &WINDOW_KERNEL_COUNTERS,
        };
        window.record(vcpu_index, target, access);
        if let (Target::Node(_), Some(hwaddr), Some(lines)) =
            (target, core::ptr::NonNull::new(hwaddr), LINES.get())
        {
            // SAFETY: hwaddr is non-null and valid for the rest of this callback.
            let phys = unsafe { qemu::qemu_plugin_hwaddr_phys_addr(hwaddr.as_ptr()) };
            let mut lines = lines.lock().unwrap_or_else(PoisonError::into_inner);
            lines.access(vcpu_index, phys, vaddr, access == Access::Store);
        }
    }
}

/// Writes the report. QEMU calls this from its C `atexit` handler: after semihosting
/// `SYS_EXIT` (which calls `exit()` on a vCPU thread while the others still run) and after a
/// normal shutdown such as PSCI `SYSTEM_OFF`.
extern "C" fn on_exit(_id: PluginId, _userdata: *mut c_void) {
    let Some(state) = STATE.get() else { return };
    let (user, kernel) = (COUNTERS.snapshot(), KERNEL_COUNTERS.snapshot());
    let tally = report::tally(&report::sum(&user, &kernel), &state.config.cpu_nodes);
    let mut text = report::format_levels(
        &report::tally(&user, &state.config.cpu_nodes),
        &report::tally(&kernel, &state.config.cpu_nodes),
        &tally,
    );
    text.push_str(&report::format_spans(&state.config.spans, &SPANS.snapshot()));
    if let Some(lines) = LINES.get() {
        let lines = lines.lock().unwrap_or_else(PoisonError::into_inner);
        text.push_str(&report::format_window(
            &report::tally(&WINDOW_COUNTERS.snapshot(), &state.config.cpu_nodes),
            &report::tally(&WINDOW_KERNEL_COUNTERS.snapshot(), &state.config.cpu_nodes),
            &lines,
            TOP_LINES,
        ));
    }
    let file = state.out.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(mut file) = file
        && let Err(error) = file.write_all(text.as_bytes())
    {
        eprintln!("memplugin: writing {}: {error}", state.config.out);
    }
    let totals = tally.totals();
    if totals.unmapped > 0 {
        // Most likely `memdev` NUMA on QEMU < 8.2 (wrong physical addresses) or a mem= range
        // that misses part of the RAM: say so where the person running QEMU looks.
        eprintln!(
            "memplugin: warning: {} accesses hit RAM outside every mem= range (memdev NUMA on \
             QEMU < 8.2 reports wrong physical addresses; use -numa node,mem=SIZE)",
            totals.unmapped
        );
    }
    if let Ok(line) = CString::new(format!("memplugin: {}\n", totals.line())) {
        // SAFETY: line is a NUL-terminated string that lives across the call.
        unsafe { qemu::qemu_plugin_outs(line.as_ptr()) };
    }
}
