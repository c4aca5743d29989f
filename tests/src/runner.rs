// SPDX-License-Identifier: MIT OR Apache-2.0
//! Running QEMU: stream the serial line, keep a copy, and never wait forever.
//!
//! A kernel under test can hang, and a hang must be a failure, never a pass. So every run has
//! a deadline: when it passes, QEMU is killed and the run ends as [`Ending::TimedOut`]. While
//! QEMU runs, two threads read its stdout (the guest's serial line) and stderr line by line:
//! each line is captured for the caller's assertions and, for interactive runs, echoed at once,
//! so a person watching `scripts/run` sees the boot as it happens. Backtrace lines are
//! symbolized on the way (see `symbolize.rs`), in both the echo and the capture.
//!
//! The runner takes any [`Command`], not just QEMU, so its timeout and capture logic is unit
//! tested with `sleep` and `sh`.

#![forbid(unsafe_code)]

use crate::symbolize::Symbolizer;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The process exited with this status (for QEMU: the kernel's semihosting exit status).
    Exited(i32),
    /// The process was killed by this signal (not by us).
    Signalled(i32),
    /// The deadline passed; the process was killed.
    TimedOut(Duration),
}

impl Ending {
    /// The status a wrapper should exit with: the child's own status, 128 + signal for a
    /// signal, and 124 for a timeout (the convention of coreutils' `timeout`).
    pub fn exit_code(self) -> i32 {
        match self {
            Ending::Exited(code) => code,
            Ending::Signalled(sig) => 128 + sig,
            Ending::TimedOut(_) => 124,
        }
    }

    /// True only for a clean exit with status 0.
    pub fn is_success(self) -> bool {
        self == Ending::Exited(0)
    }
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Exited(code) => write!(f, "exit status {code}"),
            Ending::Signalled(sig) => write!(f, "killed by signal {sig}"),
            Ending::TimedOut(t) => write!(f, "timeout after {} s", t.as_secs_f64()),
        }
    }
}

/// The status the kernel ended with, as a host should report it: QEMU's own exit
/// status, except when the kernel powered off through PSCI (`exit=psci`), which cannot
/// carry a status: QEMU then exits 0, and the kernel's last `report: halt status=N`
/// line says what the status was (`kernel/src/halt.rs`). A run whose QEMU failed, or
/// that timed out, keeps that ending whatever it printed.
pub fn kernel_status(ending: Ending, stdout: &str) -> Ending {
    if ending != Ending::Exited(0) {
        return ending;
    }
    let halt = stdout
        .lines()
        .rev()
        .filter_map(report::Report::parse)
        .find(|r| r.name == "halt")
        .and_then(|r| r.get("status").and_then(|s| s.parse::<i32>().ok()));
    halt.map_or(ending, Ending::Exited)
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// How it ended.
    pub ending: Ending,
    /// Standard output (the serial line), `\r\n` normalised to `\n`, backtraces annotated.
    pub stdout: String,
    /// Standard error (QEMU's own complaints).
    pub stderr: String,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

/// Options of one run.
pub struct Runner {
    /// Kill the child after this long; `None` waits forever (only for `--gdb`).
    pub timeout: Option<Duration>,
    /// Echo output live to our own stdout/stderr.
    pub echo: bool,
    /// Resolves backtrace lines; `None` leaves them raw.
    pub symbolizer: Option<Symbolizer>,
    /// A QMP command to send when a line of output starts with a prefix (QEMU started
    /// with `-qmp unix:SOCKET,server=on,wait=off`): how a test presses the power button.
    pub on_line: Option<OnLine>,
}

/// When a line starting with `prefix` appears (the first time), connect to QEMU's QMP
/// socket at `socket` and execute `command` (e.g. `system_powerdown`).
#[derive(Clone, Debug)]
pub struct OnLine {
    /// The start of the line to wait for.
    pub prefix: String,
    /// QEMU's QMP socket.
    pub socket: std::path::PathBuf,
    /// The QMP command (no arguments).
    pub command: String,
}

impl OnLine {
    /// Connects, negotiates, executes the command, and returns QEMU's answers.
    fn fire(&self) -> std::io::Result<String> {
        use std::os::unix::net::UnixStream;
        let stream = UnixStream::connect(&self.socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut writer = stream;
        let mut answers = String::new();
        reader.read_line(&mut answers)?; // the greeting
        writeln!(writer, "{{\"execute\": \"qmp_capabilities\"}}")?;
        reader.read_line(&mut answers)?;
        writeln!(writer, "{{\"execute\": \"{}\"}}", self.command)?;
        reader.read_line(&mut answers)?;
        Ok(answers)
    }
}

/// The runner could not start the child at all.
#[derive(Debug)]
pub struct SpawnError {
    /// The program.
    pub program: String,
    /// Why.
    pub error: std::io::Error,
}

impl std::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.error.kind() == std::io::ErrorKind::NotFound {
            write!(
                f,
                "cannot run `{}`: not found (install it: apt-get install qemu-system-arm, or run scripts/run which installs it)",
                self.program
            )
        } else {
            write!(f, "cannot run `{}`: {}", self.program, self.error)
        }
    }
}

impl std::error::Error for SpawnError {}

/// Where a pump thread echoes to, if anywhere.
type Echo = Option<Box<dyn Write + Send>>;

/// Reads `source` line by line until EOF; each line is annotated, echoed and kept; the
/// first line `on_line` waits for fires its QMP command (failures are noted in the
/// capture, where the test's checks will see them).
fn pump(
    source: impl Read,
    symbolizer: Option<Symbolizer>,
    mut echo: Echo,
    mut on_line: Option<OnLine>,
) -> String {
    let mut reader = BufReader::new(source);
    let mut captured = String::new();
    let mut raw = Vec::new();
    let mut hinted = false;
    loop {
        raw.clear();
        match reader.read_until(b'\n', &mut raw) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&raw);
        let line = text.strip_suffix('\n').unwrap_or(&text).trim_end_matches('\r');
        let shown = match &symbolizer {
            Some(s) => s.annotate(line, &mut hinted),
            None => line.to_string(),
        };
        if let Some(out) = echo.as_mut() {
            // A closed stdout (e.g. `| head`) must not stop the capture.
            let _ = writeln!(out, "{shown}");
            let _ = out.flush();
        }
        captured.push_str(&shown);
        captured.push('\n');
        if on_line.as_ref().is_some_and(|o| line.starts_with(&o.prefix))
            && let Some(o) = on_line.take()
            && let Err(e) = o.fire()
        {
            captured.push_str(&format!(
                "runner: QMP `{}` on {} failed: {e}\n",
                o.command,
                o.socket.display()
            ));
        }
    }
    captured
}

impl Runner {
    /// Runs `cmd` to completion or to the deadline. Its stdin is closed (`/dev/null`), so QEMU
    /// never puts the terminal into raw mode and Ctrl-C stops the run.
    pub fn run(&self, mut cmd: Command) -> Result<RunResult, SpawnError> {
        let program = cmd.get_program().to_string_lossy().into_owned();
        let start = Instant::now();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| SpawnError { program, error })?;

        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (echo_out, echo_err): (Echo, Echo) = if self.echo {
            (Some(Box::new(std::io::stdout())), Some(Box::new(std::io::stderr())))
        } else {
            (None, None)
        };
        let symbolizer = self.symbolizer.clone();
        let on_line = self.on_line.clone();
        let out_thread = thread::spawn(move || pump(stdout, symbolizer, echo_out, on_line));
        let err_thread = thread::spawn(move || pump(stderr, None, echo_err, None));

        let ending = loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    break match (status.code(), status.signal()) {
                        (Some(code), _) => Ending::Exited(code),
                        (None, Some(sig)) => Ending::Signalled(sig),
                        (None, None) => Ending::Signalled(0),
                    };
                }
                Ok(None) => {}
                Err(_) => break Ending::Signalled(0),
            }
            if let Some(limit) = self.timeout
                && start.elapsed() >= limit
            {
                let _ = child.kill();
                let _ = child.wait();
                break Ending::TimedOut(limit);
            }
            thread::sleep(Duration::from_millis(10));
        };
        let stdout = out_thread.join().unwrap_or_default();
        let stderr = err_thread.join().unwrap_or_default();
        Ok(RunResult { ending, stdout, stderr, elapsed: start.elapsed() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_psci_power_off_reports_the_halt_lines_status() {
        let out = "boot\nreport: halt status=6 cause=no-root-task\n";
        assert_eq!(kernel_status(Ending::Exited(0), out), Ending::Exited(6));
        assert_eq!(kernel_status(Ending::Exited(0), "report: halt status=0 cause=pass\n"), Ending::Exited(0));
        // No halt line (an older kernel, or output lost): QEMU's status stands.
        assert_eq!(kernel_status(Ending::Exited(0), "boot\n"), Ending::Exited(0));
        // A semihosting exit already carries the status; a timeout stays a timeout.
        assert_eq!(kernel_status(Ending::Exited(3), out), Ending::Exited(3));
        let timeout = Ending::TimedOut(Duration::from_secs(1));
        assert_eq!(kernel_status(timeout, out), timeout);
    }

    fn quiet(timeout: Option<Duration>) -> Runner {
        Runner { timeout, echo: false, symbolizer: None, on_line: None }
    }

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn a_hang_times_out_and_is_killed() {
        let mut sleep = Command::new("sleep");
        sleep.arg("5");
        let r = quiet(Some(Duration::from_secs(1))).run(sleep).unwrap();
        assert_eq!(r.ending, Ending::TimedOut(Duration::from_secs(1)));
        assert!(!r.ending.is_success());
        assert_eq!(r.ending.exit_code(), 124);
        assert_eq!(r.ending.to_string(), "timeout after 1 s");
        assert!(r.elapsed < Duration::from_secs(4), "{:?}", r.elapsed);
    }

    #[test]
    fn output_is_captured_and_the_status_returned() {
        let r = quiet(Some(Duration::from_secs(10)))
            .run(sh("printf 'one\\r\\ntwo\\nthree'; echo oops >&2; exit 3"))
            .unwrap();
        assert_eq!(r.ending, Ending::Exited(3));
        assert_eq!(r.ending.exit_code(), 3);
        assert_eq!(r.stdout, "one\ntwo\nthree\n");
        assert_eq!(r.stderr, "oops\n");
    }

    #[test]
    fn a_clean_exit_is_success() {
        let r = quiet(None).run(sh("exit 0")).unwrap();
        assert!(r.ending.is_success());
    }

    #[test]
    fn a_signal_is_not_success() {
        let r = quiet(Some(Duration::from_secs(10))).run(sh("kill -9 $$")).unwrap();
        assert_eq!(r.ending, Ending::Signalled(9));
        assert_eq!(r.ending.exit_code(), 137);
    }

    #[test]
    fn backtrace_lines_are_annotated_in_the_capture() {
        let runner = Runner {
            timeout: Some(Duration::from_secs(10)),
            echo: false,
            symbolizer: Some(Symbolizer::none("/nonexistent")),
            on_line: None,
        };
        let r = runner.run(sh("echo 'panic: x'; echo '  #0 0x10'")).unwrap();
        assert!(r.stdout.starts_with("panic: x\n  #0 0x10\nnote: "), "{}", r.stdout);
    }

    #[test]
    fn a_line_fires_its_qmp_command_once() {
        use std::io::{BufRead, Write};
        use std::os::unix::net::UnixListener;
        let socket = std::env::temp_dir().join(format!("numa-l4-runner-test-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket).unwrap();
        // A QMP server in miniature: greeting, then one answer per command; records them.
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            writeln!(writer, "{{\"QMP\": {{}}}}").unwrap();
            let mut got = Vec::new();
            for _ in 0..2 {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                got.push(line.trim().to_string());
                writeln!(writer, "{{\"return\": {{}}}}").unwrap();
            }
            got
        });
        let runner = Runner {
            timeout: Some(Duration::from_secs(10)),
            echo: false,
            symbolizer: None,
            on_line: Some(OnLine {
                prefix: "ready".into(),
                socket: socket.clone(),
                command: "system_powerdown".into(),
            }),
        };
        let r = runner.run(sh("echo boot; echo 'ready now'; echo 'ready again'")).unwrap();
        let got = server.join().unwrap();
        assert_eq!(got, ["{\"execute\": \"qmp_capabilities\"}", "{\"execute\": \"system_powerdown\"}"]);
        assert!(!r.stdout.contains("failed"), "{}", r.stdout);
        let _ = std::fs::remove_file(&socket);
    }

    #[test]
    fn a_missing_program_is_a_clear_error() {
        let err = quiet(None).run(Command::new("/nonexistent/qemu-system-aarch64")).unwrap_err();
        assert!(err.to_string().contains("not found"), "{err}");
    }
}
