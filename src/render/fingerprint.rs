//! The image fingerprint: a sha256 over everything that decides the image's bytes.
//!
//! Input is a sorted, line-oriented record (`file <path> <len> <sha256>`, the fingerprinted
//! variables as JSON, the bootstrap binary's digest or its absence), so the same inputs give the
//! same digest on any machine: no absolute paths, no mtimes, no map ordering.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

pub use imagekit_core::sha256::hex as sha256_hex;

/// Streams a file through sha256 once per process: rendering several variants that share one
/// (possibly ~280 MB debug) bootstrap binary hashes it a single time.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    type Key = (PathBuf, u64, Option<SystemTime>);
    static CACHE: Mutex<Option<HashMap<Key, String>>> = Mutex::new(None);
    let meta = std::fs::metadata(path)?;
    let key: Key = (path.to_path_buf(), meta.len(), meta.modified().ok());
    if let Some(hit) = CACHE
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .get(&key)
    {
        return Ok(hit.clone());
    }
    let digest = imagekit_core::sha256::file_hex(path)?;
    CACHE
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .insert(key, digest.clone());
    Ok(digest)
}

/// Accumulates the fingerprint record.
#[derive(Default)]
pub struct Fingerprint {
    record: String,
}

impl Fingerprint {
    pub fn new() -> Self {
        Fingerprint {
            record: "imagekit-fingerprint v1\n".into(),
        }
    }

    /// Callers add files in sorted path order.
    pub fn file(&mut self, rel_path: &str, len: u64, sha256: &str) {
        self.record
            .push_str(&format!("file {rel_path} {len} {sha256}\n"));
    }

    pub fn field(&mut self, name: &str, value: &str) {
        self.record.push_str(&format!("{name} {value}\n"));
    }

    pub fn finish(self) -> String {
        sha256_hex(self.record.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_content_matter() {
        let mut a = Fingerprint::new();
        a.file("a", 1, "00");
        a.field("agent", "v1.0.0");
        let mut b = Fingerprint::new();
        b.file("a", 1, "00");
        b.field("agent", "v1.0.1");
        let (a, b) = (a.finish(), b.finish());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }

    #[test]
    fn file_digest_matches_memory_digest() {
        let dir = std::env::temp_dir().join(format!("imagekit-fp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("blob");
        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(sha256_file(&path).unwrap(), sha256_hex(&bytes));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// The bootstrap binary's digest for the fingerprint: sha256 with its git-commit slot blanked
/// (`imagekit_bootstrap::version::mask_commit`), so a commit that leaves the bootstrap's code
/// alone leaves every fingerprint alone. Streams the file: a debug binary can be ~280 MB.
pub fn bootstrap_digest(path: &Path) -> std::io::Result<String> {
    use imagekit_bootstrap::version::{mask_commit, COMMIT_LEN, COMMIT_MARKER};
    let file = std::fs::File::open(path)?;
    imagekit_core::sha256::masked_reader_hex(file, COMMIT_MARKER.len() + COMMIT_LEN, |bytes| {
        mask_commit(bytes);
    })
}

#[cfg(test)]
mod bootstrap_digest_tests {
    use super::*;
    use imagekit_bootstrap::version::{mask_commit, COMMIT_MARKER};

    /// A file with a commit slot straddling the 1 MiB read boundary.
    fn binary_with(commit: &str) -> Vec<u8> {
        let mut bytes = vec![7u8; (1 << 20) - 20];
        bytes.extend_from_slice(COMMIT_MARKER);
        bytes.extend_from_slice(format!("{commit:<40}").as_bytes());
        bytes.extend_from_slice(&[9u8; 1000]);
        bytes
    }

    #[test]
    fn the_commit_does_not_change_the_bootstrap_digest() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, binary_with("0123456789ab")).unwrap();
        std::fs::write(&b, binary_with("ba9876543210")).unwrap();
        assert_ne!(sha256_file(&a).unwrap(), sha256_file(&b).unwrap());
        let digest = bootstrap_digest(&a).unwrap();
        assert_eq!(digest, bootstrap_digest(&b).unwrap());
        let mut masked = binary_with("0123456789ab");
        assert_eq!(mask_commit(&mut masked), 1);
        assert_eq!(digest, sha256_hex(&masked));
    }
}
