//! What `--version` prints: the crate version, the target triple and the git commit.
//!
//! The commit lives in one marked, fixed-size slot of the binary. Image fingerprints hash the
//! bootstrap binary with that slot blanked ([`mask_commit`]), so a new commit that leaves the
//! bootstrap's code alone does not change any image's fingerprint.

use std::sync::OnceLock;

/// Marks the commit slot inside a binary.
pub const COMMIT_MARKER: &[u8; 16] = b"imagekit-commit:";
/// Room for a full 40-character hash; shorter ones are padded with spaces.
pub const COMMIT_LEN: usize = 40;
const SLOT_LEN: usize = COMMIT_MARKER.len() + COMMIT_LEN;

#[used]
static COMMIT_SLOT: [u8; SLOT_LEN] = slot(env!("IMAGEKIT_GIT_COMMIT"));

const fn slot(commit: &str) -> [u8; SLOT_LEN] {
    let mut out = [b' '; SLOT_LEN];
    let mut i = 0;
    while i < COMMIT_MARKER.len() {
        out[i] = COMMIT_MARKER[i];
        i += 1;
    }
    let commit = commit.as_bytes();
    let mut j = 0;
    while j < commit.len() && j < COMMIT_LEN {
        out[COMMIT_MARKER.len() + j] = commit[j];
        j += 1;
    }
    out
}

/// The git commit this binary was built from (`unknown` outside a git checkout).
pub fn commit() -> &'static str {
    // Read through black_box so the compiler cannot fold a second copy of the commit into the
    // binary outside the slot, where mask_commit would not find it.
    let slot: &'static [u8; SLOT_LEN] = std::hint::black_box(&COMMIT_SLOT);
    std::str::from_utf8(&slot[COMMIT_MARKER.len()..])
        .map(str::trim_end)
        .unwrap_or("unknown")
}

/// Version line shared by every imagekit binary, e.g.
/// `0.1.0 (aarch64-unknown-linux-musl, commit 0123456789ab)`.
pub fn long_version() -> &'static str {
    static LINE: OnceLock<String> = OnceLock::new();
    LINE.get_or_init(|| {
        format!(
            "{} ({}, commit {})",
            env!("CARGO_PKG_VERSION"),
            env!("IMAGEKIT_TARGET"),
            commit()
        )
    })
}

/// Blanks the commit slot(s) of a bootstrap binary in place, for fingerprinting. Returns how many
/// slots it blanked (1 for a bootstrap binary).
pub fn mask_commit(binary: &mut [u8]) -> usize {
    let slots: Vec<usize> = memchr::memmem::find_iter(binary, COMMIT_MARKER).collect();
    let mut masked_to = 0;
    let mut count = 0;
    for pos in slots {
        let start = pos + COMMIT_MARKER.len();
        if pos < masked_to {
            continue;
        }
        let end = (start + COMMIT_LEN).min(binary.len());
        binary[start..end].fill(0);
        masked_to = end;
        count += 1;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_the_target_and_commit() {
        let line = long_version();
        assert!(line.starts_with(env!("CARGO_PKG_VERSION")), "{line}");
        assert!(line.contains(env!("IMAGEKIT_TARGET")), "{line}");
        assert!(line.ends_with(&format!("commit {})", commit())), "{line}");
        assert_eq!(commit(), env!("IMAGEKIT_GIT_COMMIT"));
    }

    #[test]
    fn masking_makes_two_commits_hash_alike() {
        let mut a = [b"head ".as_slice(), &slot("0123456789ab"), b" tail"].concat();
        let mut b = [b"head ".as_slice(), &slot("fedcba987654"), b" tail"].concat();
        assert_ne!(a, b);
        assert_eq!(mask_commit(&mut a), 1);
        assert_eq!(mask_commit(&mut b), 1);
        assert_eq!(a, b);
    }
}
