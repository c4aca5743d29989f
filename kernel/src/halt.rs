// SPDX-License-Identifier: MIT OR Apache-2.0
//! Every way the kernel stops, each with its exit status and its name.
//!
//! A run that ends must say how, to a person reading the console and to a program
//! reading the exit status, and the two must agree. So every stop goes through one
//! function (`boot::exit`) with one of these values: it prints
//!
//! ```text
//! report: halt status=N cause=NAME
//! ```
//!
//! and then ends the machine the way the command line asked: the semihosting exit
//! carries `N` to the host (QEMU's exit status); PSCI `SYSTEM_OFF` carries nothing, so
//! a runner reads the line instead (`tests/src/runner.rs`, `kernel_status`). The line
//! comes after the line that names the cause in words (`fatal: ...`, `panic: ...`,
//! `exception: ...`, `report: user-level ...`).
//!
//! # Invariants
//! - Statuses and names are unique, and stable: they are the documented interface
//!   (the table in the book's chapter on failures), and tests compare them.
//! - Only [`Halt::Pass`] is 0: nothing that went wrong may look like success.
//! - The host-side runner's own statuses (124 for a timeout; 64 and 66 for bad
//!   options and input files) are outside this table.
#![forbid(unsafe_code)]

/// How the kernel stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Halt {
    /// Everything passed: the root task powered off with status 0, or a boot without
    /// an initrd ended after its own checks.
    Pass,
    /// The root task powered off with a non-zero status of its own (it counts failed
    /// programs, for example); `report: user-level result=fail status=K` gives `K`.
    UserFailed,
    /// The device tree or the ACPI tables could not be used.
    BadBoard,
    /// A kernel panic (a broken invariant).
    Panic,
    /// An unexpected exception in the kernel.
    Exception,
    /// Not enough memory to boot.
    NoMemory,
    /// The initrd has no usable root task.
    NoRootTask,
    /// The root task's thread died (an exception or fault nobody could handle, or its
    /// deletion): nothing else can ever run.
    RootTaskDied,
    /// The kernel's boot self-test found memory on the wrong node, a CPU that did
    /// not answer an SGI, or one without timer ticks (`report: numa-selftest`).
    SelfTestFailed,
    /// The board needs what the kernel lacks: an interrupt controller, timer, CPU
    /// enable method or console (`fatal: unsupported PIECE:NAME`, `platform::support`),
    /// found before the kernel touches any of it.
    UnsupportedBoard,
}

impl Halt {
    /// Every stop, in status order.
    pub const ALL: [Halt; 10] = [
        Halt::Pass,
        Halt::UserFailed,
        Halt::BadBoard,
        Halt::Panic,
        Halt::Exception,
        Halt::NoMemory,
        Halt::NoRootTask,
        Halt::RootTaskDied,
        Halt::SelfTestFailed,
        Halt::UnsupportedBoard,
    ];

    /// The exit status the host sees.
    pub const fn status(self) -> u32 {
        match self {
            Halt::Pass => 0,
            Halt::UserFailed => 1,
            Halt::BadBoard => 2,
            Halt::Panic => 3,
            Halt::Exception => 4,
            Halt::NoMemory => 5,
            Halt::NoRootTask => 6,
            Halt::RootTaskDied => 7,
            Halt::SelfTestFailed => 8,
            Halt::UnsupportedBoard => 9,
        }
    }

    /// The `cause=` of the halt line.
    pub const fn name(self) -> &'static str {
        match self {
            Halt::Pass => "pass",
            Halt::UserFailed => "user-level-failed",
            Halt::BadBoard => "bad-board",
            Halt::Panic => "panic",
            Halt::Exception => "exception",
            Halt::NoMemory => "no-memory",
            Halt::NoRootTask => "no-root-task",
            Halt::RootTaskDied => "root-task-died",
            Halt::SelfTestFailed => "selftest-failed",
            Halt::UnsupportedBoard => "unsupported-board",
        }
    }

    /// The stop for the root task's power-off with `status`.
    pub const fn of_user_status(status: u64) -> Halt {
        if status == 0 { Halt::Pass } else { Halt::UserFailed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_names_are_unique_and_only_pass_is_zero() {
        for (i, a) in Halt::ALL.iter().enumerate() {
            assert_eq!(a.status(), i as u32, "ALL is in status order");
            for b in &Halt::ALL[i + 1..] {
                assert_ne!(a.name(), b.name());
            }
        }
        assert!(Halt::ALL.iter().all(|h| (h.status() == 0) == (*h == Halt::Pass)));
    }

    #[test]
    fn statuses_stay_clear_of_the_runners_own() {
        assert!(Halt::ALL.iter().all(|h| h.status() < 64));
    }

    #[test]
    fn a_user_status_other_than_zero_is_a_failure() {
        assert_eq!(Halt::of_user_status(0), Halt::Pass);
        assert_eq!(Halt::of_user_status(1), Halt::UserFailed);
        assert_eq!(Halt::of_user_status(u64::MAX), Halt::UserFailed);
    }
}
