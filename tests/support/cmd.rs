//! A small fluent runner for the binaries under test.
//!
//! ```ignore
//! let out = Cmd::imagekit().args(["render", "--os", "linux"]).run();
//! out.code(0).stdout_contains("fingerprint");
//! ```
//!
//! Stderr is checked exactly: a run whose stderr the test never states must leave it empty.
//! A test states it with [`Run::stderr_is`] (the whole text) or [`Run::one_line_error`] (one
//! line, returned for an exact comparison), or opts out with [`Run::stderr_any`] where stderr
//! carries what no test can fix in advance (Packer's streamed output, log lines with timings).

use std::cell::Cell;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub struct Cmd {
    command: Command,
    display: String,
    stdin: Option<Vec<u8>>,
}

impl Cmd {
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        let mut command = Command::new(program.as_ref());
        // Keep the developer's AWS set-up out of every test.
        for var in [
            "AWS_PROFILE",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_EC2",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            "RUST_LOG",
        ] {
            command.env_remove(var);
        }
        // Empty files rather than missing ones: the SDK warns about a missing one on stderr.
        command
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        Cmd {
            command,
            display: program.as_ref().to_string_lossy().into_owned(),
            stdin: None,
        }
    }

    pub fn imagekit() -> Self {
        Cmd::new(super::imagekit_bin())
    }

    /// `imagekit-bootstrap`, keeping its own log file in a temp dir rather than the machine's
    /// `/var/log/imagekit` (a boot test names its own).
    pub fn bootstrap() -> Self {
        Cmd::new(super::bootstrap_bin()).env(
            "IMAGEKIT_LOG_DIR",
            std::env::temp_dir().join("imagekit-test-bootstrap-logs"),
        )
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.display.push(' ');
        self.display.push_str(&arg.as_ref().to_string_lossy());
        self.command.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for arg in args {
            self = self.arg(arg);
        }
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.command.envs(vars);
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.command.env_remove(key);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.command.current_dir(dir);
        self
    }

    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// The underlying command, for tests that need to spawn and signal it themselves.
    pub fn into_command(self) -> Command {
        self.command
    }

    pub fn run(mut self) -> Run {
        use std::io::Write;
        self.command
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self
            .command
            .spawn()
            .unwrap_or_else(|e| panic!("spawning `{}`: {e}", self.display));
        if let Some(input) = self.stdin.take() {
            child.stdin.take().unwrap().write_all(&input).unwrap();
        }
        let output = child.wait_with_output().unwrap();
        Run::new(self.display, output)
    }
}

/// A finished run, with assertions that print the whole output when they fail.
pub struct Run {
    pub display: String,
    pub output: Output,
    /// Whether the test said what stderr holds (or that it may hold anything).
    stderr_stated: Cell<bool>,
}

impl Drop for Run {
    /// Unstated stderr must be empty. (Not while a test is already failing: a second panic
    /// would abort the test binary.)
    fn drop(&mut self) {
        if !self.stderr_stated.get() && !std::thread::panicking() {
            assert!(
                self.output.stderr.is_empty(),
                "stderr is not empty: state it with .stderr_is(..) or .one_line_error(), or \
                 opt out with .stderr_any()\n{}",
                self.explain()
            );
        }
    }
}

impl Run {
    /// A run the test spawned and waited for itself.
    pub fn new(display: impl Into<String>, output: Output) -> Run {
        Run {
            display: display.into(),
            output,
            stderr_stated: Cell::new(false),
        }
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn exit_code(&self) -> Option<i32> {
        self.output.status.code()
    }

    fn explain(&self) -> String {
        format!(
            "`{}` exited {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.display,
            self.output.status.code(),
            self.stdout(),
            self.stderr()
        )
    }

    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.output.status.code(),
            Some(expected),
            "{}",
            self.explain()
        );
        self
    }

    #[track_caller]
    pub fn success(&self) -> &Self {
        self.code(0)
    }

    #[track_caller]
    pub fn stdout_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stdout().contains(needle),
            "stdout lacks {needle:?}\n{}",
            self.explain()
        );
        self
    }

    /// Stdout is exactly `expected`.
    #[track_caller]
    pub fn stdout_is(&self, expected: &str) -> &Self {
        assert_eq!(
            self.stdout(),
            expected,
            "stdout differs\n{}",
            self.explain()
        );
        self
    }

    /// A substring of stderr. Not a statement of the whole: the test still has to call
    /// [`Run::stderr_is`] or opt out with [`Run::stderr_any`].
    #[track_caller]
    pub fn stderr_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stderr().contains(needle),
            "stderr lacks {needle:?}\n{}",
            self.explain()
        );
        self
    }

    /// Stderr is exactly `expected`.
    #[track_caller]
    pub fn stderr_is(&self, expected: &str) -> &Self {
        self.stderr_stated.set(true);
        assert_eq!(
            self.stderr(),
            expected,
            "stderr differs\n{}",
            self.explain()
        );
        self
    }

    /// Opts out of the exact stderr check, for output no test can fix in advance; say why where
    /// it is called.
    pub fn stderr_any(&self) -> &Self {
        self.stderr_stated.set(true);
        self
    }

    /// Stderr as JSON log lines (imagekit's log format off a terminal), each as `LEVEL message`:
    /// exact, but without the timestamps and timings no test can fix in advance. Every line must
    /// be one.
    #[track_caller]
    pub fn log_messages(&self) -> Vec<String> {
        self.stderr_stated.set(true);
        self.stderr()
            .lines()
            .map(|line| {
                let entry: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| {
                    panic!(
                        "stderr line {line:?} is not a JSON log line: {e}\n{}",
                        self.explain()
                    )
                });
                match (entry["level"].as_str(), entry["message"].as_str()) {
                    (Some(level), Some(message)) => format!("{level} {message}"),
                    _ => panic!("log line without level or message: {line}"),
                }
            })
            .collect()
    }

    /// Asserts stderr is exactly one non-empty line (the "one clear line" rule for bad input) and
    /// returns it for an exact comparison.
    #[track_caller]
    pub fn one_line_error(&self) -> String {
        self.stderr_stated.set(true);
        let err = self.stderr();
        let lines: Vec<&str> = err.lines().collect();
        assert!(
            lines.len() == 1 && !lines[0].trim().is_empty() && err.ends_with('\n'),
            "expected one error line\n{}",
            self.explain()
        );
        lines[0].to_string()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.output.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document: {e}\n{}", self.explain()))
    }
}

/// Every regular file below `dir`, relative to it, sorted.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
