//! `cargo xtask dist`: builds the release `imagekit-bootstrap` for every target that links on
//! Linux, copies each to `dist/imagekit-bootstrap-<target>[.exe]` and writes `dist/SHA256SUMS`.
//! macOS binaries (built and signed on a macOS runner) may be dropped into `dist/` with their
//! checksums; they are verified and kept.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use imagekit_core::atomic;
use imagekit_core::dist::{self, Sums, Target, SUMS_FILE};

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build the bootstrap binaries for every target and write SHA256SUMS.
    Dist {
        /// Output directory (relative to the workspace root).
        #[arg(long, default_value = dist::DEFAULT_DIR)]
        out: PathBuf,
    },
    /// Write imagekit's man pages (one per command) into target/man.
    ///
    /// Runs `imagekit man --out DIR` (a hidden subcommand), so xtask never compiles imagekit's
    /// source and stays quick to build.
    Man {
        /// Output directory (relative to the workspace root).
        #[arg(long, default_value = "target/man")]
        out: PathBuf,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Task::Dist { out } => {
            let root = workspace_root();
            run_dist(&root, &root.join(out))
        }
        Task::Man { out } => {
            let root = workspace_root();
            run_man(&root, &root.join(out))
        }
    }
}

/// `cargo run --bin imagekit -- man --out DIR`: the pages come from the CLI's own definitions.
fn run_man(root: &Path, out: &Path) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "run",
            "--quiet",
            "--package",
            "imagekit",
            "--bin",
            "imagekit",
            "--",
        ])
        .arg("man")
        .arg("--out")
        .arg(out)
        .status()
        .context("running cargo run --bin imagekit -- man")?;
    if !status.success() {
        bail!("`imagekit man --out {}` failed ({status})", out.display());
    }
    Ok(())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

fn run_dist(root: &Path, out: &Path) -> Result<()> {
    let targets: Vec<Target> = Target::ALL
        .into_iter()
        .filter(|t| t.builds_here())
        .collect();
    let built = build(root, &targets)?;

    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let previous = Sums::read(out)?;
    let mut sums = Sums::default();

    for (target, exe) in &built {
        let dest = out.join(target.file_name());
        copy_atomic(exe, &dest)?;
        sums.0.insert(target.file_name(), dist::sha256_file(&dest)?);
    }

    for target in Target::ALL.into_iter().filter(|t| !t.builds_here()) {
        if let Some(hash) = accept_dropped(out, target, &previous)? {
            sums.0.insert(target.file_name(), hash);
        }
    }

    sums.write(out)?;
    for (name, hash) in &sums.0 {
        let size = std::fs::metadata(out.join(name))
            .with_context(|| format!("reading {}", out.join(name).display()))?
            .len();
        println!("{hash}  {name}  ({:.1} MB)", size as f64 / 1e6);
    }
    println!("wrote {}", out.join(SUMS_FILE).display());
    Ok(())
}

/// One `cargo build --release` for all targets (one lock, one job queue), returning each
/// target's executable as cargo reports it.
fn build(root: &Path, targets: &[Target]) -> Result<Vec<(Target, PathBuf)>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root).args([
        "build",
        "--release",
        "--package",
        "imagekit-bootstrap",
        "--bin",
        "imagekit-bootstrap",
        "--message-format=json-render-diagnostics",
    ]);
    for t in targets {
        cmd.args(["--target", t.triple()]);
    }
    eprintln!(
        "xtask: building imagekit-bootstrap (release) for {}",
        targets
            .iter()
            .map(|t| t.triple())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .context("starting cargo build")?;
    let stdout = child.stdout.take().expect("piped");
    let mut found = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.context("reading cargo's output")?;
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" || msg["target"]["name"] != "imagekit-bootstrap" {
            continue;
        }
        let Some(exe) = msg["executable"].as_str() else {
            continue;
        };
        let exe = PathBuf::from(exe);
        // Cross builds land in <target-dir>/<triple>/release/.
        let target = targets
            .iter()
            .copied()
            .find(|t| exe.components().any(|c| c.as_os_str() == t.triple()));
        if let Some(target) = target {
            found.push((target, exe));
        }
    }
    let status = child.wait().context("waiting for cargo build")?;
    if !status.success() {
        bail!("cargo build for the dist targets failed ({status})");
    }
    for t in targets {
        if !found.iter().any(|(f, _)| f == t) {
            bail!("cargo build reported no imagekit-bootstrap executable for {t}");
        }
    }
    Ok(found)
}

/// A macOS binary dropped into `out/` is kept only with a checksum that matches it: its line in
/// the existing SHA256SUMS, or a `<file>.sha256` beside it (what the macOS workflow uploads).
fn accept_dropped(out: &Path, target: Target, previous: &Sums) -> Result<Option<String>> {
    let path = out.join(target.file_name());
    if !path.exists() {
        return Ok(None);
    }
    let sidecar = out.join(format!("{}.sha256", target.file_name()));
    let mut expected = previous.clone();
    let mut source = out.join(SUMS_FILE);
    if sidecar.exists() {
        let text = std::fs::read_to_string(&sidecar)
            .with_context(|| format!("reading {}", sidecar.display()))?;
        let listed = Sums::parse(&text, &sidecar)?;
        let hash = listed.0.get(&target.file_name()).with_context(|| {
            format!("{} does not list {}", sidecar.display(), target.file_name())
        })?;
        expected.0.insert(target.file_name(), hash.clone());
        source = sidecar;
    }
    let (_, hash) = dist::verify_file(&path, &expected, &source)
        .with_context(|| format!("refusing the dropped {target} binary"))?;
    eprintln!("xtask: kept {} (checksum verified)", target.file_name());
    Ok(Some(hash))
}

/// Copies through the one atomic write, so a reader never sees a half-written binary.
fn copy_atomic(from: &Path, to: &Path) -> Result<()> {
    let bytes = std::fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    atomic::write(to, &bytes, 0o755, None, atomic::Durability::Synced)
        .with_context(|| format!("writing {}", to.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn drop_binary(dir: &Path, target: Target, bytes: &[u8]) -> String {
        let path = dir.join(target.file_name());
        std::fs::write(&path, bytes).unwrap();
        dist::sha256_file(&path).unwrap()
    }

    #[test]
    fn keeps_a_dropped_binary_whose_sidecar_matches() {
        let dir = scratch("sidecar");
        let t = Target::Aarch64Darwin;
        let hash = drop_binary(&dir, t, b"signed mach-o");
        std::fs::write(
            dir.join(format!("{}.sha256", t.file_name())),
            format!("{hash}  {}\n", t.file_name()),
        )
        .unwrap();
        let kept = accept_dropped(&dir, t, &Sums::default()).unwrap();
        assert_eq!(kept, Some(hash));
    }

    #[test]
    fn keeps_a_dropped_binary_listed_in_the_existing_sums() {
        let dir = scratch("listed");
        let t = Target::X86_64Darwin;
        let hash = drop_binary(&dir, t, b"mach-o");
        let mut sums = Sums::default();
        sums.0.insert(t.file_name(), hash.clone());
        assert_eq!(accept_dropped(&dir, t, &sums).unwrap(), Some(hash));
    }

    #[test]
    fn refuses_a_dropped_binary_that_is_altered_or_unlisted() {
        let dir = scratch("refused");
        let t = Target::Aarch64Darwin;
        let hash = drop_binary(&dir, t, b"signed mach-o");
        let err = accept_dropped(&dir, t, &Sums::default()).unwrap_err();
        assert!(format!("{err:#}").contains("has no checksum"), "{err:#}");

        let mut sums = Sums::default();
        sums.0.insert(t.file_name(), hash);
        drop_binary(&dir, t, b"signed mach-O");
        let err = accept_dropped(&dir, t, &sums).unwrap_err();
        assert!(format!("{err:#}").contains("does not match"), "{err:#}");
    }

    #[test]
    fn nothing_dropped_is_nothing_kept() {
        let dir = scratch("empty");
        assert_eq!(
            accept_dropped(&dir, Target::X86_64Darwin, &Sums::default()).unwrap(),
            None
        );
    }
}
