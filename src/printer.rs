//! Every line imagekit shows a person or a program goes through one [`Printer`].
//!
//! Results go to stdout: text or a table, or with `--json` exactly one JSON document (`scale
//! --json`: one JSON object per line). Everything that happens on the way goes to stderr:
//! progress (an indicatif multi-progress on a terminal, `[label] line` lines otherwise and
//! always with `--json`, so stdout stays parseable), notes, hints, and the final `error: ...`
//! line.
//! A quiet printer (Lambda mode, where the invocation's response is the result) keeps only
//! errors and the `--json` lines.

mod table;

pub use table::table;

use std::collections::HashMap;
use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Text and tables for a person.
    Human,
    /// One JSON document (or one JSON line per event) for a program.
    Json,
}

/// Where output goes. Cheap to clone; safe to share between tasks.
#[derive(Clone)]
pub struct Printer {
    inner: Arc<Inner>,
}

type Sink = Mutex<Box<dyn Write + Send>>;

struct Inner {
    format: Format,
    quiet: bool,
    /// `--log-format json`: the final error is a JSON log event too, with its parts as fields.
    json_errors: bool,
    stdout: Sink,
    stderr: Sink,
    /// Only on a terminal, in human format, not quiet.
    bars: Option<MultiProgress>,
    /// The progress task shown as `[label]`, while it runs.
    tasks: Mutex<HashMap<String, ProgressBar>>,
}

impl Printer {
    /// The process's stdout and stderr; progress bars when stderr is a terminal and the format
    /// is human.
    pub fn new(format: Format) -> Printer {
        let bars = (format == Format::Human && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Printer::with_sinks(
            format,
            false,
            Box::new(std::io::stdout()),
            Box::new(std::io::stderr()),
            bars,
        )
    }

    /// Errors only, for a process whose results travel another way (the Lambda runtime).
    pub fn quiet() -> Printer {
        Printer::with_sinks(
            Format::Human,
            true,
            Box::new(std::io::stdout()),
            Box::new(std::io::stderr()),
            None,
        )
    }

    fn with_sinks(
        format: Format,
        quiet: bool,
        stdout: Box<dyn Write + Send>,
        stderr: Box<dyn Write + Send>,
        bars: Option<MultiProgress>,
    ) -> Printer {
        Printer {
            inner: Arc::new(Inner {
                format,
                quiet,
                json_errors: false,
                stdout: Mutex::new(stdout),
                stderr: Mutex::new(stderr),
                bars,
                tasks: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The same printer, whose final error is a JSON log event (`--log-format json`).
    pub fn with_json_errors(format: Format) -> Printer {
        let mut printer = Printer::new(format);
        if let Some(inner) = Arc::get_mut(&mut printer.inner) {
            inner.json_errors = true;
        }
        printer
    }

    pub fn is_json(&self) -> bool {
        self.inner.format == Format::Json
    }

    /// Result text on stdout, as given (it carries its own newlines).
    pub fn out(&self, text: &str) -> std::io::Result<()> {
        if self.inner.quiet {
            return Ok(());
        }
        let mut out = self.inner.stdout.lock().unwrap();
        out.write_all(text.as_bytes())?;
        out.flush()
    }

    /// One result line on stdout.
    pub fn line(&self, text: impl Display) -> std::io::Result<()> {
        self.out(&format!("{text}\n"))
    }

    /// `value` as the one (pretty) JSON document on stdout.
    pub fn json(&self, value: &impl serde::Serialize) -> std::io::Result<()> {
        let mut text = serde_json::to_string_pretty(value)?;
        text.push('\n');
        self.out(&text)
    }

    /// `value` as one compact JSON line on stdout, flushed at once (a daemon's events). Printed
    /// by a quiet printer too: whoever asked for `--json` reads it.
    pub fn json_line(&self, value: &impl serde::Serialize) -> std::io::Result<()> {
        let mut text = serde_json::to_string(value)?;
        text.push('\n');
        let mut out = self.inner.stdout.lock().unwrap();
        out.write_all(text.as_bytes())?;
        out.flush()
    }

    /// `note: TEXT` on stderr: something the user should know that is not the result.
    pub fn note(&self, text: impl Display) {
        if !self.inner.quiet {
            self.to_stderr(&format!("note: {text}\n"));
        }
    }

    /// `hint: TEXT` on stderr: what to run next.
    pub fn hint(&self, text: impl Display) {
        if !self.inner.quiet {
            self.to_stderr(&format!("hint: {text}\n"));
        }
    }

    /// The final `error: ...` line, with the error's causes on it (`{:#}`). Never quiet. With
    /// `--log-format json`, the same line as one JSON log event (see
    /// [`imagekit_bootstrap::logging::error`]).
    pub fn error(&self, err: &anyhow::Error) {
        if self.inner.json_errors {
            return self.suspended(|| imagekit_bootstrap::logging::error(err));
        }
        self.to_stderr(&format!("error: {err:#}\n"));
    }

    fn suspended(&self, f: impl FnOnce()) {
        match &self.inner.bars {
            Some(multi) => multi.suspend(f),
            None => f(),
        }
    }

    /// Writes above the bars when they are drawn, so neither garbles the other.
    fn to_stderr(&self, text: &str) {
        let write = || {
            let mut err = self.inner.stderr.lock().unwrap();
            let _ = err.write_all(text.as_bytes());
            let _ = err.flush();
        };
        match &self.inner.bars {
            Some(multi) => multi.suspend(write),
            None => write(),
        }
    }

    /// Asks a yes/no question on stderr and reads the answer from stdin: only `y` or `yes`
    /// (any case) is a yes. The caller checks first that stdin is a terminal.
    pub fn ask(&self, question: &str) -> std::io::Result<bool> {
        self.to_stderr(&format!("{question} [y/N] "));
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        Ok(matches!(
            answer.trim().to_ascii_lowercase().as_str(),
            "y" | "yes"
        ))
    }

    /// A task's passing detail (the resource CloudFormation is working on): its bar's message on
    /// a terminal, nothing otherwise, so a log stays one line per stage.
    pub fn task_progress(&self, label: &str, text: &str) {
        if let Some(bar) = self.inner.tasks.lock().unwrap().get(label) {
            bar.set_message(text.to_string());
        }
    }

    /// Whether progress bars are drawn (a terminal, human format): worth polling for detail.
    pub fn has_bars(&self) -> bool {
        self.inner.bars.is_some()
    }

    /// Starts a progress task shown as `[label]`, at `stage`.
    pub fn task_start(&self, label: &str, stage: &str) {
        let Some(multi) = &self.inner.bars else {
            return self.task_line(label, stage);
        };
        let bar = multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{prefix}] {elapsed:>4} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(label.to_string());
        bar.set_message(stage.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        self.inner
            .tasks
            .lock()
            .unwrap()
            .insert(label.to_string(), bar);
    }

    /// A line of a task's output: its bar's message on a terminal, `[label] line` otherwise.
    pub fn task_line(&self, label: &str, text: &str) {
        if self.inner.quiet {
            return;
        }
        let bar = self.inner.tasks.lock().unwrap().get(label).cloned();
        match bar {
            Some(bar) => {
                let text = text.trim();
                if !text.is_empty() {
                    bar.set_message(text.lines().next().unwrap_or("").to_string());
                }
            }
            None => self.to_stderr(&prefixed(label, text)),
        }
    }

    /// A task's line that must stay visible (errors, final states): above the bars.
    pub fn task_note(&self, label: &str, text: &str) {
        if !self.inner.quiet {
            self.to_stderr(&prefixed(label, text));
        }
    }

    /// Ends a task with its final state.
    pub fn task_finish(&self, label: &str, state: &str) {
        let bar = self.inner.tasks.lock().unwrap().remove(label);
        match bar {
            Some(bar) => bar.finish_with_message(state.to_string()),
            None => self.task_line(label, state),
        }
    }
}

/// Each line of `text` as `[label] line`.
fn prefixed(label: &str, text: &str) -> String {
    text.lines().map(|l| format!("[{label}] {l}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test reads back.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn capture(format: Format, quiet: bool) -> (Printer, Buffer, Buffer) {
        let (out, err) = (Buffer::default(), Buffer::default());
        let printer = Printer::with_sinks(
            format,
            quiet,
            Box::new(out.clone()),
            Box::new(err.clone()),
            None,
        );
        (printer, out, err)
    }

    #[test]
    fn results_go_to_stdout_and_the_rest_to_stderr() {
        let (p, out, err) = capture(Format::Human, false);
        p.line("linux-ubuntu-24.04-x86_64  up to date").unwrap();
        p.note("build directories kept in /tmp/x");
        p.hint("to update, run: imagekit render --out x");
        p.task_start("v us-east-1", "starting Packer");
        p.task_line("v us-east-1", "==> amazon-ebs\n    two");
        p.task_finish("v us-east-1", "built");
        p.error(&anyhow::anyhow!("inner").context("rendering v"));
        assert_eq!(out.text(), "linux-ubuntu-24.04-x86_64  up to date\n");
        assert_eq!(
            err.text(),
            "note: build directories kept in /tmp/x\n\
             hint: to update, run: imagekit render --out x\n\
             [v us-east-1] starting Packer\n\
             [v us-east-1] ==> amazon-ebs\n\
             [v us-east-1]     two\n\
             [v us-east-1] built\n\
             error: rendering v: inner\n"
        );
    }

    #[test]
    fn json_is_one_document_and_json_lines_are_one_line_each() {
        let (p, out, _) = capture(Format::Json, false);
        assert!(p.is_json());
        p.json(&serde_json::json!({"a": [1]})).unwrap();
        p.json_line(&serde_json::json!({"b": 2})).unwrap();
        assert_eq!(out.text(), "{\n  \"a\": [\n    1\n  ]\n}\n{\"b\":2}\n");
    }

    #[test]
    fn quiet_keeps_only_errors_and_json_lines() {
        let (p, out, err) = capture(Format::Human, true);
        p.line("result").unwrap();
        p.note("a note");
        p.hint("a hint");
        p.task_start("t", "stage");
        p.task_note("t", "failed");
        p.task_finish("t", "done");
        p.json_line(&1).unwrap();
        p.error(&anyhow::anyhow!("boom"));
        assert_eq!(out.text(), "1\n");
        assert_eq!(err.text(), "error: boom\n");
    }
}
