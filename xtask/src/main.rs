//! `cargo xtask dist`: builds the release `imagekit-bootstrap` for every target that links on
//! Linux, copies each to `dist/imagekit-bootstrap-<target>[.exe]`, and writes
//! `dist/SHA256SUMS`. With `--scaler` it also builds the static `imagekit` for both Lambda
//! architectures and zips each as `bootstrap` into `dist/imagekit-scaler-<target>.zip` (what
//! `imagekit stack deploy` uploads); without it, zips an earlier `--scaler` run left are kept
//! when SHA256SUMS still vouches for them. macOS binaries (built and signed on a macOS runner) may be dropped into
//! `dist/` with their checksums; they are verified and kept.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use imagekit_core::atomic;
use imagekit_core::dist::{self, LambdaArch, Sums, Target, SCALER_ENTRY, SUMS_FILE};

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
        /// Also build the scaler's Lambda zips (two release builds of the SDK-heavy `imagekit`,
        /// which `imagekit stack deploy` uploads and the test suite runs; without it, a quick
        /// dist for iterating on the bootstrap).
        #[arg(long)]
        scaler: bool,
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
        Task::Dist { out, scaler } => {
            let root = workspace_root();
            run_dist(&root, &root.join(out), scaler)
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

/// The workspace whose `cargo xtask` this is: `cargo run` names the package's dir in the
/// process's environment. The compile-time value is only the fallback: worktrees that share one
/// target dir share this binary too (cargo's fingerprints are workspace-relative, so a build
/// from another worktree counts as fresh), and its baked path may be another worktree's.
fn workspace_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

fn run_dist(root: &Path, out: &Path, scaler: bool) -> Result<()> {
    let targets: Vec<Target> = Target::ALL
        .into_iter()
        .filter(|t| t.builds_here())
        .collect();
    let built = build(root, &BOOTSTRAP, &targets)?;
    let lambda_targets: Vec<Target> = LambdaArch::ALL.iter().map(|a| a.target()).collect();
    let scalers = if scaler {
        build(root, &SCALER, &lambda_targets)?
    } else {
        Vec::new()
    };

    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let previous = Sums::read(out)?;
    let mut sums = Sums::default();

    for (target, exe) in &built {
        let dest = out.join(target.file_name());
        copy_atomic(exe, &dest)?;
        sums.0.insert(target.file_name(), dist::sha256_file(&dest)?);
    }
    for arch in LambdaArch::ALL {
        let name = dist::scaler_zip_name(arch);
        let dest = out.join(&name);
        match scalers.iter().find(|(t, _)| *t == arch.target()) {
            Some((_, exe)) => {
                write_zip(exe, &dest)?;
                sums.0.insert(name, dist::sha256_file(&dest)?);
            }
            None => {
                if let Some(hash) = keep_scaler_zip(&dest, &name, &previous) {
                    sums.0.insert(name, hash);
                }
            }
        }
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

/// A binary `dist` builds, and the cargo profile it is built with.
struct Build {
    package: &'static str,
    bin: &'static str,
    profile: &'static str,
}

const BOOTSTRAP: Build = Build {
    package: "imagekit-bootstrap",
    bin: "imagekit-bootstrap",
    profile: "release",
};

/// The scaler's Lambda binary: the `lambda` profile (release with thin LTO and parallel
/// codegen; see the workspace Cargo.toml), since the SDK-heavy imagekit built with fat LTO in
/// one codegen unit, twice, would dominate `dist`'s time.
const SCALER: Build = Build {
    package: "imagekit",
    bin: "imagekit",
    profile: "lambda",
};

/// One `cargo build` for all targets (one lock, one job queue), returning each target's
/// executable as cargo reports it.
fn build(root: &Path, what: &Build, targets: &[Target]) -> Result<Vec<(Target, PathBuf)>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root).args([
        "build",
        "--profile",
        what.profile,
        "--package",
        what.package,
        "--bin",
        what.bin,
        "--message-format=json-render-diagnostics",
    ]);
    for t in targets {
        cmd.args(["--target", t.triple()]);
    }
    eprintln!(
        "xtask: building {} ({}) for {}",
        what.bin,
        what.profile,
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
        if msg["reason"] != "compiler-artifact" || msg["target"]["name"] != what.bin {
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
        bail!(
            "cargo build of {} for the dist targets failed ({status})",
            what.bin
        );
    }
    for t in targets {
        if !found.iter().any(|(f, _)| f == t) {
            bail!("cargo build reported no {} executable for {t}", what.bin);
        }
    }
    Ok(found)
}

/// The Lambda zip: the binary as `bootstrap`, executable, deflated, with a fixed timestamp so
/// the same binary gives the same zip. Written through the one atomic write.
fn write_zip(exe: &Path, to: &Path) -> Result<()> {
    use std::io::Write;
    let bytes = std::fs::read(exe).with_context(|| format!("reading {}", exe.display()))?;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o755)
        .last_modified_time(zip::DateTime::default());
    zip.start_file(SCALER_ENTRY, options)
        .with_context(|| format!("zipping {}", exe.display()))?;
    zip.write_all(&bytes)
        .with_context(|| format!("zipping {}", exe.display()))?;
    let zipped = zip
        .finish()
        .with_context(|| format!("zipping {}", exe.display()))?
        .into_inner();
    atomic::write(to, &zipped, 0o644, None, atomic::Durability::Synced)
        .with_context(|| format!("writing {}", to.display()))
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

/// A scaler zip an earlier `--scaler` run wrote, kept while SHA256SUMS still vouches for it;
/// one it no longer matches is left out of the sums (and so refused by `stack deploy`).
fn keep_scaler_zip(path: &Path, name: &str, previous: &Sums) -> Option<String> {
    let expected = previous.0.get(name)?;
    let actual = dist::sha256_file(path).ok()?;
    if &actual != expected {
        eprintln!("xtask: {name} no longer matches SHA256SUMS; rebuild it with --scaler");
        return None;
    }
    eprintln!("xtask: kept {name} (checksum verified; --scaler rebuilds it)");
    Some(actual)
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
    fn the_scaler_zip_holds_the_binary_as_an_executable_bootstrap_and_is_reproducible() {
        use std::io::Read;
        let dir = scratch("zip");
        let exe = dir.join("imagekit");
        std::fs::write(&exe, b"\x7fELF static imagekit").unwrap();
        let (a, b) = (dir.join("a.zip"), dir.join("b.zip"));
        write_zip(&exe, &a).unwrap();
        write_zip(&exe, &b).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        let mut archive = zip::ZipArchive::new(std::fs::File::open(&a).unwrap()).unwrap();
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_name(SCALER_ENTRY).unwrap();
        assert_eq!(entry.unix_mode().map(|m| m & 0o777), Some(0o755));
        let mut text = Vec::new();
        entry.read_to_end(&mut text).unwrap();
        assert_eq!(text, b"\x7fELF static imagekit");
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
