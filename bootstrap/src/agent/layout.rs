//! The layout rules a grep can check: the agent's names stay in this module, and the retry loop
//! and the stop signal stay where they belong. It lives here because its own text names what it
//! looks for.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every source file of the crate, as (path under src/, text).
fn files() -> Vec<(String, String)> {
    let mut paths = Vec::new();
    sources(&src(), &mut paths);
    assert!(paths.len() > 20, "found only {paths:?}");
    paths
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(src()).unwrap();
            let rel = rel.to_string_lossy().replace('\\', "/");
            (rel, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

#[test]
fn nothing_outside_agent_names_the_semaphore_agent() {
    let needles = [
        "SEMAPHORE_",
        "\"IDLE\"",
        "/opt/semaphore",
        "semaphore-agent",
        "config.yaml",
    ];
    let mut found = Vec::new();
    for (path, text) in files() {
        if path.starts_with("agent/") {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            for needle in needles {
                if line.contains(needle) {
                    found.push(format!("src/{path}:{}: {needle}: {line}", n + 1));
                }
            }
        }
    }
    assert!(found.is_empty(), "outside agent/:\n{}", found.join("\n"));
}

/// A file's code before its test module (which, by this crate's habit, comes last).
fn code(text: &str) -> &str {
    let end = ["#[cfg(test)]", "#[cfg(all(test"]
        .iter()
        .filter_map(|marker| text.find(marker))
        .min()
        .unwrap_or(text.len());
    &text[..end]
}

#[test]
fn only_the_retry_driver_waits_between_attempts() {
    let mut found = Vec::new();
    for (path, text) in files() {
        if path == "aws/retry.rs" || path == "agent/layout.rs" {
            continue;
        }
        for needle in [".delay(", "sleep("] {
            if code(&text).contains(needle) {
                found.push(format!("src/{path}: {needle}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "a retry loop outside aws/retry.rs: {found:?}"
    );
}

#[test]
fn supervise_asks_neither_the_service_nor_the_run() {
    for (path, text) in files() {
        if path.starts_with("supervise/") {
            for needle in ["crate::service", "crate::run"] {
                assert!(!text.contains(needle), "src/{path} uses {needle}");
            }
        }
    }
}
