//! What the agent stand-ins record beside themselves for the tests, in one format each.

use std::path::Path;

/// `config-mode`: the file's permission bits (octal) and owner uid, as `600 0`: how the tests
/// see that the bootstrap wrote an agent's config private to its reader.
#[cfg(unix)]
pub fn file_mode(path: &Path, rec: &Path) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(path).unwrap();
    std::fs::write(
        rec.join("config-mode"),
        format!("{:o} {}", meta.permissions().mode() & 0o7777, meta.uid()),
    )
    .unwrap();
}

/// Windows has no mode bits nor uid: nothing to record (the wine tests read a DACL instead).
#[cfg(not(unix))]
pub fn file_mode(_path: &Path, _rec: &Path) {}
