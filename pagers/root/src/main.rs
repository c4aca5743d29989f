// SPDX-License-Identifier: MIT OR Apache-2.0
//! `root`: the first user program: sigma0, and the loader, pager and supervisor of every
//! other program in the initrd.
//!
//! The kernel starts exactly one program, this one, from the initrd, in a privileged
//! space on the boot CPU's node (`kernel/src/l4/task.rs`); it maps the KIP and the whole
//! initrd (read-only) into it. Everything else is user level's business, as in every L4
//! system: the root task owns the machine's memory (it takes frames node by node with
//! `MemoryControl`), and it starts and pages the further programs.
//!
//! # Design
//!
//! ```text
//!   root task                                              each program (own space)
//!   ---------                                              ------------------------
//!   selftest.rs   checks the L4 core (KIP, MemoryControl
//!                 per node, a worker in a new space,
//!                 IPC ping-pong, kmem placement)
//!   supervisor.rs for each initrd program, in name order:
//!                 ThreadControl (new space, CPU by node  ->  thread on CPU c, home node n
//!                 round-robin), root = pager + handler
//!   loader.rs     ELF -> regions; file pages built in
//!                 root's scratch window, frames on n
//!                 ExchangeRegisters START (sp, entry)    ->  runs; first fetch faults
//!   pager.rs      fault IPC -> map item of scratch page  <-  0xFFE0|rwx, addr, ip
//!                 (stack, .bss: fresh frame on n)
//!   supervisor.rs EXIT -> report, halt, next program     <-  rt::exit(status): 0x1EE7
//!                 fault outside / exception -> crash     <-  0xFFB0 ...
//!   shutdown.rs   register: resident, told at shutdown   <-  0x5D01 (rt::shutdown)
//!                 request (drivers only): shutdown       <-  0x5D02 (powerbtn)
//!                 Notify "shutdown" to each registered   ->  cleanup, then 0x5D03 done
//!                 report: shutdown told= acknowledged= timed-out=
//!   console.rs    the console driver: a thread owning the  <-  0x5D20 write (rt::console:
//!                 PL011 (embedded-io), writes for programs       println! of every program)
//!   main.rs       report: programs ran= failed=; power off with the failures
//! ```
//!
//! Why this shape:
//! - **The root loads without copying into the child.** No system call writes another
//!   space's memory; the root builds each page in its own space and *maps* it to the
//!   child on demand, which is exactly the L4 pager protocol (`pager.rs`).
//! - **Frames come from the child's home node.** The child's space is homed on the node
//!   of the CPU it runs on (the kernel puts its page tables and TCB there); the root asks
//!   `MemoryControl` for the child's pages on the same node, so code, data and stack are
//!   local to where the program runs. A memory-less node gets the nearest node's frames
//!   (`MemoryControl`'s fallback flag): the paper's policy, decided at user level.
//! - **One program at a time, unless it stays.** Output stays readable and every boot
//!   runs the same; the programs are placed round-robin over the nodes, so together
//!   they still visit several nodes (`report: program ... node= cpu=`). A driver, and a
//!   program that asks to be told of shutdown, stay resident: the root starts the next
//!   program and keeps paging them (`supervisor.rs`).
//! - **The end is orderly.** When programs stay resident, the run ends with a shutdown:
//!   asked for by a driver the root trusts (the power button, `pagers/powerbtn`), or
//!   decided by the root when no such driver is left. The root tells every registered
//!   thread, waits for their answers for a bounded time (`shutdown.rs`: a program that
//!   does not answer is reported, never waited for forever), and then powers off.
//! - **A broken program is a report, not a hang.** A fault outside its memory, an
//!   exception, a panic (`rt` exits with status 101) or silence for 10 s ends it with a
//!   status; so does a told program's silence past the shutdown's deadline
//!   (`no-answer`). The run goes on, and the root powers off with the number of failed
//!   programs plus its own failed checks, which the boot tests require to be 0.
//!
//! The root's own address space, for reference:
//!
//! ```text
//!  0x0010_0000       KIP (read-only)          0x40_0000         this program
//!  0x0020_0000       UTCB                     0x10_0000_0000    the initrd (read-only)
//!  0x30_0000..38_0000 stack                   0x20_0000_0000..  the self-test's frames
//!                                             0x80_0000_0000..  scratch: children's pages
//! ```
#![cfg_attr(all(target_arch = "aarch64", target_os = "none"), no_std, no_main)]

/// Items only the target build calls (the host build type-checks and tests them).
macro_rules! host_allows_dead_code {
    ($($item:item)*) => {
        $(
            #[cfg_attr(
                not(all(target_arch = "aarch64", target_os = "none")),
                allow(dead_code, reason = "called by the target build; the host tests the logic")
            )]
            $item
        )*
    };
}

host_allows_dead_code! {
    mod loader;
    mod manifest;
    mod numbers;
    mod pager;
    mod shutdown;
    mod supervisor;
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod console;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod selftest;

rt::entry!(root);

/// The root task: its checks, then every program, then power off.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
fn root(_utcb: rt::UtcbAddr) -> ! {
    use rt::{println, sys};
    let failed = selftest::run();
    println!("{}", report::line!("root-task", "checks-failed" => failed));
    let me = abi::thread::ThreadId::ROOT.raw();
    // The console driver, before the programs: their output goes through it.
    let console = console::start(me);
    match console {
        // The root's own lines too: one writer to the UART at user level, so a
        // program's line and the root's never interleave byte by byte.
        Ok(_) => rt::console::retry(),
        Err(why) => println!("root: no console driver ({why}): programs write through the kernel"),
    }
    let tally = supervisor::run(sys::kip(), me);
    println!("{}", report::line!("programs", "ran" => tally.ran, "failed" => tally.failed));
    if let Ok((base, driver)) = console {
        let (messages, bytes) = console::written();
        println!(
            "{}",
            report::line!("console",
                "driver" => driver, "base" => report::Hex(base), "messages" => messages, "bytes" => bytes)
        );
    }
    let e = sys::power_off(failed + tally.failed);
    println!("root: SystemControl refused: {e}");
    loop {
        core::hint::spin_loop();
    }
}

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
fn root(_utcb: rt::UtcbAddr) -> ! {
    unreachable!("the host build only type-checks the entry")
}
