//! The scaler's code: a Lambda zip holding the static `imagekit` binary as `bootstrap`
//! (`cargo xtask dist --scaler` builds one per Lambda architecture), and the key it is stored under.
//!
//! The key is derived from the binary's contents with its git-commit slot blanked
//! (`imagekit_bootstrap::version::mask_commit`), the same way image fingerprints treat the
//! bootstrap binary: a new commit that leaves the code alone is the same key, so the function's
//! `Code` does not change and deploy executes nothing. The binary is read out of the zip, since
//! the zip's own bytes also carry its entries' timestamps.

use std::io::Read;
use std::path::{Path, PathBuf};

use imagekit_bootstrap::version::{mask_commit, COMMIT_LEN, COMMIT_MARKER};
use imagekit_core::dist::{self, LambdaArch, SCALER_ENTRY};

use crate::exit::UsageError;
use crate::spec::Arch;

/// Where the zips' keys live in the artifacts bucket.
pub const KEY_PREFIX: &str = "imagekit-scaler";

/// A scaler zip, checked, with its content-derived key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalerCode {
    pub path: PathBuf,
    /// `imagekit-scaler/<arch>/<sha256 of the binary, commit slot blanked>.zip`.
    pub key: String,
}

/// The Lambda architecture of a scaler arch.
pub fn lambda_arch(arch: Arch) -> LambdaArch {
    match arch {
        Arch::X86_64 => LambdaArch::X86_64,
        Arch::Arm64 => LambdaArch::Arm64,
    }
}

/// The zip for a stack: `--scaler-zip`, else the dist directory's for the scaler's arch, checked
/// against `SHA256SUMS` there. A missing or unusable zip is bad input, found before any AWS
/// call.
pub fn locate(
    given: Option<&Path>,
    dist_dir: &Path,
    arch: Arch,
    stack: &str,
) -> Result<ScalerCode, UsageError> {
    let lambda = lambda_arch(arch);
    let path = match given {
        Some(path) => {
            if !path.is_file() {
                return Err(UsageError::new(format!(
                    "--scaler-zip {}: no such file (`cargo xtask dist --scaler` builds one per arch into dist/)",
                    path.display()
                )));
            }
            path.to_path_buf()
        }
        None => {
            let path = dist_dir.join(dist::scaler_zip_name(lambda));
            if !path.is_file() {
                return Err(UsageError::new(format!(
                    "stack {stack}: its scaler's zip {} is missing: build it with `cargo xtask dist --scaler` (or give one with --scaler-zip PATH)",
                    path.display()
                )));
            }
            let sums = dist::Sums::read(dist_dir).map_err(|e| UsageError::new(e.to_string()))?;
            dist::verify_file(&path, &sums, &dist_dir.join(dist::SUMS_FILE)).map_err(|e| {
                UsageError::new(format!(
                    "stack {stack}: {e}; rebuild with `cargo xtask dist --scaler`"
                ))
            })?;
            path
        }
    };
    let digest = digest(&path)
        .map_err(|why| UsageError::new(format!("scaler zip {}: {why}", path.display())))?;
    let arch_dir = match lambda {
        LambdaArch::X86_64 => "x86_64",
        LambdaArch::Arm64 => "arm64",
    };
    Ok(ScalerCode {
        path,
        key: format!("{KEY_PREFIX}/{arch_dir}/{digest}.zip"),
    })
}

/// sha256 of the zip's `bootstrap`, its commit slot blanked.
pub fn digest(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| format!("not a zip ({e})"))?;
    let entry = archive.by_name(SCALER_ENTRY).map_err(|_| {
        format!("holds no `{SCALER_ENTRY}` (Lambda's provided runtimes run that file)")
    })?;
    read_masked(entry).map_err(|e| format!("reading its `{SCALER_ENTRY}`: {e}"))
}

fn read_masked(reader: impl Read) -> std::io::Result<String> {
    imagekit_core::sha256::masked_reader_hex(reader, COMMIT_MARKER.len() + COMMIT_LEN, |bytes| {
        mask_commit(bytes);
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn zip_of(dir: &Path, name: &str, entry: &str, commit: &str) -> PathBuf {
        let path = dir.join(name);
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        zip.start_file(entry, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"\x7fELF code ").unwrap();
        zip.write_all(COMMIT_MARKER).unwrap();
        zip.write_all(format!("{commit:<40}").as_bytes()).unwrap();
        zip.write_all(b" more code").unwrap();
        zip.finish().unwrap();
        path
    }

    #[test]
    fn the_key_ignores_the_commit_and_follows_the_code() {
        let dir = tempfile::tempdir().unwrap();
        let a = zip_of(dir.path(), "a.zip", SCALER_ENTRY, "0123456789ab");
        let b = zip_of(dir.path(), "b.zip", SCALER_ENTRY, "ba9876543210");
        let key = |p: &Path| locate(Some(p), dir.path(), Arch::Arm64, "s").unwrap().key;
        assert_eq!(key(&a), key(&b));
        assert!(key(&a).starts_with("imagekit-scaler/arm64/"), "{}", key(&a));
        let other = dir.path().join("c.zip");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&other).unwrap());
        zip.start_file(SCALER_ENTRY, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(b"other code").unwrap();
        zip.finish().unwrap();
        assert_ne!(key(&a), key(&other));
    }

    #[test]
    fn a_zip_without_bootstrap_or_a_missing_one_is_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let wrong = zip_of(dir.path(), "w.zip", "imagekit", "x");
        let err = locate(Some(&wrong), dir.path(), Arch::X86_64, "s").unwrap_err();
        assert_eq!(
            err.0,
            format!(
                "scaler zip {}: holds no `bootstrap` (Lambda's provided runtimes run that file)",
                wrong.display()
            )
        );
        let err = locate(None, dir.path(), Arch::X86_64, "ci").unwrap_err();
        assert_eq!(
            err.0,
            format!(
                "stack ci: its scaler's zip {}/imagekit-scaler-x86_64-unknown-linux-musl.zip is missing: build it with `cargo xtask dist --scaler` (or give one with --scaler-zip PATH)",
                dir.path().display()
            )
        );
    }
}
