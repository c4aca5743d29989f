// SPDX-License-Identifier: MIT OR Apache-2.0
//! The kernel command line (`/chosen/bootargs`): the few knobs the kernel has.
//!
//! Policy lives at user level, so the kernel's own options are about how it runs
//! under test, not what it does. Each option is `key=value`; unknown words are kept
//! so the kernel can warn about them instead of guessing.
//!
//! | option             | meaning                                                     |
//! |--------------------|-------------------------------------------------------------|
//! | `exit=semihosting` | end by QEMU semihosting SYS_EXIT with the status (tests)    |
//! | `exit=psci`        | end by PSCI SYSTEM_OFF (the default; status only printed)   |
//! | `selftest=panic`   | panic on purpose after boot (tests the panic path)          |
//! | `selftest=fault`   | touch an unmapped address (tests the exception path)        |
//! | `selftest=placement` | fail one NUMA self-test check (tests that path)           |
//! | `numa=clusters`    | no NUMA data in the device tree: make each cluster a node   |
//! | `numa-selftest=off`| skip the boot NUMA self-test (on by default)                |
#![forbid(unsafe_code)]

/// How the kernel ends when its work is done or it fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitMethod {
    /// PSCI SYSTEM_OFF: works on hardware; QEMU exits with status 0 whatever happened.
    Psci,
    /// QEMU semihosting SYS_EXIT: the status reaches the host as QEMU's exit code.
    Semihosting,
}

/// A deliberate failure, to test that failures are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelfTest {
    /// `panic!` after boot.
    Panic,
    /// A data abort in the kernel after boot.
    Fault,
    /// One NUMA self-test check recorded as failed, as if a frame had come from the
    /// wrong node: the boot must stop with its own status.
    Placement,
}

/// The parsed command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options<'a> {
    /// How to end.
    pub exit: ExitMethod,
    /// A deliberate failure to run, if any.
    pub selftest: Option<SelfTest>,
    /// Treat each `cpu-map` cluster as a NUMA node (`numa=clusters`).
    pub numa_clusters: bool,
    /// Run the boot NUMA self-test (default; `numa-selftest=off` skips it).
    pub numa_selftest: bool,
    /// Give every node its own copy of the kernel's text and read-only data (default;
    /// `ktext=shared` keeps the one copy, for comparison).
    pub ktext_replicas: bool,
    /// The first word that was not understood, for a warning.
    pub unknown: Option<&'a str>,
    /// How many words were not understood.
    pub unknown_count: usize,
}

/// Parses `bootargs`. Never fails: what it does not understand is reported in
/// `unknown` and otherwise ignored (a boot loader may add its own words).
pub fn parse(bootargs: &str) -> Options<'_> {
    let mut opts = Options {
        exit: ExitMethod::Psci,
        selftest: None,
        numa_clusters: false,
        numa_selftest: true,
        ktext_replicas: true,
        unknown: None,
        unknown_count: 0,
    };
    for word in bootargs.split_ascii_whitespace() {
        match word {
            "exit=semihosting" => opts.exit = ExitMethod::Semihosting,
            "exit=psci" => opts.exit = ExitMethod::Psci,
            "selftest=panic" => opts.selftest = Some(SelfTest::Panic),
            "selftest=fault" => opts.selftest = Some(SelfTest::Fault),
            "selftest=placement" => opts.selftest = Some(SelfTest::Placement),
            // The same word the host tool (`scripts/topology`) reads from bootargs.
            platform::board::NUMA_CLUSTERS_WORD => opts.numa_clusters = true,
            "numa-selftest=off" => opts.numa_selftest = false,
            "numa-selftest=on" => opts.numa_selftest = true,
            "ktext=shared" => opts.ktext_replicas = false,
            "ktext=replicated" => opts.ktext_replicas = true,
            other => {
                opts.unknown.get_or_insert(other);
                opts.unknown_count += 1;
            }
        }
    }
    opts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_command_line_means_psci_and_no_selftest() {
        let o = parse("");
        assert_eq!(o.exit, ExitMethod::Psci);
        assert_eq!(o.selftest, None);
        assert_eq!(o.unknown, None);
        assert!(o.numa_selftest);
        assert!(!o.numa_clusters);
        assert!(o.ktext_replicas);
    }

    #[test]
    fn kernel_text_replicas_can_be_turned_off() {
        assert!(!parse("ktext=shared").ktext_replicas);
        assert!(parse("ktext=shared ktext=replicated").ktext_replicas);
        assert_eq!(parse("ktext=off").unknown, Some("ktext=off"));
    }

    #[test]
    fn numa_options_switch_clusters_on_and_the_selftest_off() {
        let o = parse("numa=clusters numa-selftest=off");
        assert!(o.numa_clusters);
        assert!(!o.numa_selftest);
        assert_eq!(parse("numa=clustersx").unknown, Some("numa=clustersx"));
    }

    #[test]
    fn known_options_are_read_in_any_order_and_spacing() {
        let o = parse("  selftest=fault\texit=semihosting ");
        assert_eq!(o.exit, ExitMethod::Semihosting);
        assert_eq!(o.selftest, Some(SelfTest::Fault));
        assert_eq!(parse("selftest=placement").selftest, Some(SelfTest::Placement));
    }

    #[test]
    fn unknown_words_are_counted_and_the_first_kept() {
        let o = parse("console=ttyAMA0 exit=semihosting root=/dev/vda exit=bogus");
        assert_eq!(o.unknown, Some("console=ttyAMA0"));
        assert_eq!(o.unknown_count, 3);
        assert_eq!(o.exit, ExitMethod::Semihosting);
    }
}
