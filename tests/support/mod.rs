//! The shared test harness: a fluent command runner, and the real components (moto, Packer)
//! started once per test process.
//!
//! Tests that need a real component get it from here. When one is missing, the test fails with a
//! message that says how to install it (`scripts/setup`); it never skips.

#![allow(dead_code)]

pub mod aws_answer;
pub mod cmd;
pub mod dist;
pub mod fleet;
pub mod moto;
pub mod moto_api;
pub mod moto_iam;

// The stand-ins live in their own dev-only crate, which the examples share.
pub use imagekit_standins::{ci_api, imds, lambda_api};

use std::path::PathBuf;

/// The `imagekit` binary under test.
pub fn imagekit_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_imagekit"))
}

/// The `imagekit-bootstrap` binary, built beside `imagekit` by `cargo build --workspace`.
pub fn bootstrap_bin() -> PathBuf {
    let path = imagekit_bin().with_file_name(format!(
        "imagekit-bootstrap{}",
        std::env::consts::EXE_SUFFIX
    ));
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace` first (scripts/test does)",
        path.display()
    );
    path
}

/// Finds a tool: `$<ENV>` if set, else `name` on PATH. Panics with set-up advice when absent.
pub fn tool(env: &str, name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed (nor ${env} set): run scripts/setup, which installs it"
            )
        })
}

/// Debian's Packer (1.6.6).
pub fn packer() -> PathBuf {
    tool("IMAGEKIT_PACKER", "packer")
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Waits for `done`, bounded (60 s) so that a run that never gets there fails naming `what`.
/// No test asserts the time: the bound only turns a hang into a failure.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "gave up waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
