//! The dist directory: one `imagekit-bootstrap` binary per target, and a `SHA256SUMS` file that
//! vouches for each of them. `cargo xtask dist` writes it; `imagekit render`/`build` read it and
//! refuse any binary whose checksum does not match, so an altered binary never reaches an AMI.
//! It also holds the scaler's Lambda zips (the static `imagekit` binary as `bootstrap`, one per
//! Lambda architecture), listed in the same `SHA256SUMS`; `imagekit stack deploy` uploads them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::atomic;

/// The checksum file's name, in `sha256sum` format (`<hex>  <file>`).
pub const SUMS_FILE: &str = "SHA256SUMS";

/// Where `cargo xtask dist` puts its output, relative to the working directory.
pub const DEFAULT_DIR: &str = "dist";

/// A target the bootstrap ships for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    X86_64LinuxMusl,
    Aarch64LinuxMusl,
    X86_64WindowsGnu,
    X86_64Darwin,
    Aarch64Darwin,
}

impl Target {
    pub const ALL: [Target; 5] = [
        Target::X86_64LinuxMusl,
        Target::Aarch64LinuxMusl,
        Target::X86_64WindowsGnu,
        Target::X86_64Darwin,
        Target::Aarch64Darwin,
    ];

    /// The Rust target triple.
    pub fn triple(self) -> &'static str {
        match self {
            Target::X86_64LinuxMusl => "x86_64-unknown-linux-musl",
            Target::Aarch64LinuxMusl => "aarch64-unknown-linux-musl",
            Target::X86_64WindowsGnu => "x86_64-pc-windows-gnu",
            Target::X86_64Darwin => "x86_64-apple-darwin",
            Target::Aarch64Darwin => "aarch64-apple-darwin",
        }
    }

    /// Linking for macOS needs Apple's SDK, so those binaries come from a macOS runner.
    pub fn builds_here(self) -> bool {
        !matches!(self, Target::X86_64Darwin | Target::Aarch64Darwin)
    }

    /// The binary's file name in the dist directory.
    pub fn file_name(self) -> String {
        let exe = if self == Target::X86_64WindowsGnu {
            ".exe"
        } else {
            ""
        };
        format!("imagekit-bootstrap-{}{exe}", self.triple())
    }
}

/// The name of the one file in a scaler zip: Lambda's `provided.*` runtimes run `bootstrap`.
pub const SCALER_ENTRY: &str = "bootstrap";

/// The scaler's Lambda zip for a Lambda architecture (`x86_64` or `arm64`, as the function's
/// `Architectures` names them), in the dist directory.
pub fn scaler_zip_name(lambda_arch: LambdaArch) -> String {
    format!("imagekit-scaler-{}.zip", lambda_arch.target().triple())
}

/// Lambda's two architectures, and the static target each one's binary is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LambdaArch {
    X86_64,
    Arm64,
}

impl LambdaArch {
    pub const ALL: [LambdaArch; 2] = [LambdaArch::X86_64, LambdaArch::Arm64];

    pub fn target(self) -> Target {
        match self {
            LambdaArch::X86_64 => Target::X86_64LinuxMusl,
            LambdaArch::Arm64 => Target::Aarch64LinuxMusl,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.triple())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}, line {line}: not a `<sha256>  <file>` checksum line")]
    BadLine { path: PathBuf, line: usize },
    #[error("{path} is missing")]
    Missing { path: PathBuf },
    #[error("{path} has no checksum in {sums}")]
    Unlisted { path: PathBuf, sums: PathBuf },
    #[error("{path} does not match its checksum in {sums} (expected {expected}, found {actual})")]
    Mismatch {
        path: PathBuf,
        sums: PathBuf,
        expected: String,
        actual: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DistError + '_ {
    move |source| DistError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The sha256 of a file, as 64 lowercase hex characters.
pub fn sha256_file(path: &Path) -> Result<String, DistError> {
    crate::sha256::file_hex(path).map_err(io_err(path))
}

/// The contents of a `SHA256SUMS` file: file name → sha256 hex.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sums(pub BTreeMap<String, String>);

impl Sums {
    /// Parses `sha256sum` output (text or `*binary` mode). Blank lines are ignored.
    pub fn parse(text: &str, path: &Path) -> Result<Sums, DistError> {
        let mut sums = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let bad = || DistError::BadLine {
                path: path.to_path_buf(),
                line: i + 1,
            };
            let (hash, rest) = line.split_once(' ').ok_or_else(bad)?;
            let name = rest
                .strip_prefix(' ')
                .or_else(|| rest.strip_prefix('*'))
                .ok_or_else(bad)?;
            let valid_hash = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
            if !valid_hash || name.is_empty() || name.contains('/') {
                return Err(bad());
            }
            sums.insert(name.to_string(), hash.to_ascii_lowercase());
        }
        Ok(Sums(sums))
    }

    /// Reads `dir/SHA256SUMS`; a missing file is an empty list.
    pub fn read(dir: &Path) -> Result<Sums, DistError> {
        let path = dir.join(SUMS_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Sums::parse(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Sums::default()),
            Err(source) => Err(DistError::Io { path, source }),
        }
    }

    /// `sha256sum` text format, sorted by file name.
    pub fn render(&self) -> String {
        self.0
            .iter()
            .map(|(name, hash)| format!("{hash}  {name}\n"))
            .collect()
    }

    /// Writes `dir/SHA256SUMS` atomically (temp file, fsync, rename).
    pub fn write(&self, dir: &Path) -> Result<(), DistError> {
        let path = dir.join(SUMS_FILE);
        let synced = atomic::Durability::Synced;
        atomic::write(&path, self.render().as_bytes(), 0o644, None, synced).map_err(io_err(&path))
    }
}

/// Checks that `dir` holds `target`'s binary and that it matches its line in `dir/SHA256SUMS`.
/// Returns the binary's path and its sha256.
pub fn verify(dir: &Path, target: Target) -> Result<(PathBuf, String), DistError> {
    let path = dir.join(target.file_name());
    verify_file(&path, &Sums::read(dir)?, &dir.join(SUMS_FILE))
}

/// Checks one file against a parsed `SHA256SUMS` (`sums_path` is for messages only).
pub fn verify_file(
    path: &Path,
    sums: &Sums,
    sums_path: &Path,
) -> Result<(PathBuf, String), DistError> {
    if !path.is_file() {
        return Err(DistError::Missing {
            path: path.to_path_buf(),
        });
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let expected = sums.0.get(&name).ok_or_else(|| DistError::Unlisted {
        path: path.to_path_buf(),
        sums: sums_path.to_path_buf(),
    })?;
    let actual = sha256_file(path)?;
    if &actual != expected {
        return Err(DistError::Mismatch {
            path: path.to_path_buf(),
            sums: sums_path.to_path_buf(),
            expected: expected.clone(),
            actual,
        });
    }
    Ok((path.to_path_buf(), actual))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_text_and_binary_mode_and_renders_sorted() {
        let text = format!("{A}  b-file\n\n{} *a-file\n", A.to_uppercase());
        let sums = Sums::parse(&text, Path::new("SHA256SUMS")).unwrap();
        assert_eq!(sums.0.len(), 2);
        assert_eq!(sums.render(), format!("{A}  a-file\n{A}  b-file\n"));
    }

    #[test]
    fn rejects_malformed_lines_with_their_number() {
        for bad in [
            "nothex  file",
            &format!("{A} file"),
            &format!("{A}  "),
            &format!("{A}  ../x"),
        ] {
            let text = format!("{A}  ok\n{bad}\n");
            let err = Sums::parse(&text, Path::new("S")).unwrap_err();
            assert!(
                matches!(err, DistError::BadLine { line: 2, .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn file_names_carry_the_triple_and_windows_suffix() {
        assert_eq!(
            Target::X86_64WindowsGnu.file_name(),
            "imagekit-bootstrap-x86_64-pc-windows-gnu.exe"
        );
        assert_eq!(
            Target::Aarch64LinuxMusl.file_name(),
            "imagekit-bootstrap-aarch64-unknown-linux-musl"
        );
        assert_eq!(Target::ALL.iter().filter(|t| t.builds_here()).count(), 3);
        assert_eq!(
            scaler_zip_name(LambdaArch::Arm64),
            "imagekit-scaler-aarch64-unknown-linux-musl.zip"
        );
    }
}
