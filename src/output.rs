//! Human, progress and JSON output.
//!
//! Results go to stdout (a table, or with `--json` exactly one JSON document); everything that
//! happens on the way goes to stderr: an indicatif multi-progress on a TTY, plain prefixed lines
//! otherwise and always with `--json`, so stdout stays parseable.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Formats rows as a left-aligned, space-separated table with a header line.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// Writes `value` as the one JSON document on stdout.
pub fn print_json(value: &impl serde::Serialize) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value)?;
    writeln!(stdout)
}

/// Where progress goes while builds run. Cheap to clone; safe to share between tasks.
#[derive(Clone)]
pub struct Progress {
    inner: Arc<ProgressInner>,
}

struct ProgressInner {
    bars: Option<MultiProgress>,
    active: Mutex<HashMap<String, ProgressBar>>,
}

impl Progress {
    /// Bars on a TTY (unless `plain`), prefixed lines on stderr otherwise.
    pub fn new(plain: bool) -> Progress {
        let bars = (!plain && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress {
            inner: Arc::new(ProgressInner {
                bars,
                active: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Starts a task shown as `[label]`.
    pub fn start(&self, label: &str, stage: &str) {
        match &self.inner.bars {
            Some(multi) => {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} [{prefix}] {elapsed:>4} {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(label.to_string());
                bar.set_message(stage.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                self.inner
                    .active
                    .lock()
                    .unwrap()
                    .insert(label.to_string(), bar);
            }
            None => self.line(label, stage),
        }
    }

    /// One line of a task's output: the bar's message on a TTY, a prefixed stderr line otherwise.
    pub fn line(&self, label: &str, text: &str) {
        let bar = self.inner.active.lock().unwrap().get(label).cloned();
        match bar {
            Some(bar) => {
                let text = text.trim();
                if !text.is_empty() {
                    bar.set_message(text.lines().next().unwrap_or("").to_string());
                }
            }
            None => {
                let mut err = std::io::stderr().lock();
                for l in text.lines() {
                    let _ = writeln!(err, "[{label}] {l}");
                }
            }
        }
    }

    /// A line that must stay visible (errors, final states), above the bars on a TTY.
    pub fn note(&self, label: &str, text: &str) {
        match &self.inner.bars {
            Some(multi) => {
                for l in text.lines() {
                    let _ = multi.println(format!("[{label}] {l}"));
                }
            }
            None => self.line(label, text),
        }
    }

    /// Ends a task with its final state.
    pub fn finish(&self, label: &str, state: &str) {
        let bar = self.inner.active.lock().unwrap().remove(label);
        match bar {
            Some(bar) => bar.finish_with_message(state.to_string()),
            None => self.line(label, state),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_trims_trailing_space() {
        let t = table(
            &["A", "LONG HEADER", "C"],
            &[
                vec!["xx".into(), "y".into(), "".into()],
                vec!["x".into(), "yyy".into(), "z".into()],
            ],
        );
        assert_eq!(t, "A   LONG HEADER  C\nxx  y\nx   yyy          z\n");
    }
}
