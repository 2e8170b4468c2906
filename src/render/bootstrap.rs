//! Which imagekit-bootstrap binary a variant bakes in. From the bootstrap dir (`cargo xtask
//! dist`'s output, `dist/` by default), checked against its `SHA256SUMS` while planning, before
//! any Packer runs: an altered binary never reaches an image.

use std::path::{Path, PathBuf};

use super::RenderError;
use crate::spec::{Arch, Os, Variant};
use imagekit_core::dist::{self, Sums, Target, SUMS_FILE};

/// The dist target whose binary runs on the variant's OS and arch.
pub fn target_for(os: Os, arch: Arch) -> Target {
    match (os, arch) {
        (Os::Linux, Arch::X86_64) => Target::X86_64LinuxMusl,
        (Os::Linux, Arch::Arm64) => Target::Aarch64LinuxMusl,
        (Os::Windows, _) => Target::X86_64WindowsGnu,
        (Os::Macos, Arch::X86_64) => Target::X86_64Darwin,
        (Os::Macos, Arch::Arm64) => Target::Aarch64Darwin,
    }
}

/// Where the variant's binary is expected: `<bootstrap dir>/imagekit-bootstrap-<target>[.exe]`.
pub fn expected_path(variant: &Variant, bootstrap_dir: Option<&Path>) -> PathBuf {
    bootstrap_dir
        .unwrap_or(Path::new(dist::DEFAULT_DIR))
        .join(target_for(variant.os, variant.arch).file_name())
}

/// A binary a variant will bake in, with the sha256 the builder re-checks before installing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picked {
    pub path: PathBuf,
    pub sha256: String,
}

/// `--bootstrap-bin` if given; else the variant's binary in the bootstrap dir, which must match
/// its checksum; else, for Linux x86_64 only, the binary beside the running imagekit. `None`
/// when there is none (build refuses; render notes it).
pub fn pick(
    variant: &Variant,
    bootstrap_bin: Option<&Path>,
    bootstrap_dir: Option<&Path>,
) -> Result<Option<Picked>, RenderError> {
    if let Some(path) = bootstrap_bin {
        if !path.is_file() {
            return Err(RenderError::Usage(format!(
                "--bootstrap-bin {}: no such file",
                path.display()
            )));
        }
        return hashed(path).map(Some);
    }
    let expected = expected_path(variant, bootstrap_dir);
    if expected.exists() {
        let dir = expected.parent().unwrap_or(Path::new("."));
        let checked = Sums::read(dir)
            .and_then(|sums| dist::verify_file(&expected, &sums, &dir.join(SUMS_FILE)));
        return match checked {
            Ok((path, sha256)) => Ok(Some(Picked { path, sha256 })),
            Err(e) => Err(RenderError::Usage(format!(
                "{}: refusing the bootstrap binary: {e}",
                variant.id()
            ))),
        };
    }
    if (variant.os, variant.arch) == (Os::Linux, Arch::X86_64)
        && cfg!(all(target_os = "linux", target_arch = "x86_64"))
    {
        let beside = std::env::current_exe()
            .ok()
            .map(|exe| exe.with_file_name("imagekit-bootstrap"))
            .filter(|p| p.is_file());
        if let Some(path) = beside {
            return hashed(&path).map(Some);
        }
    }
    Ok(None)
}

fn hashed(path: &Path) -> Result<Picked, RenderError> {
    let sha256 = super::fingerprint::sha256_file(path).map_err(|source| RenderError::Io {
        what: "hashing",
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Picked {
        path: path.to_path_buf(),
        sha256,
    })
}
