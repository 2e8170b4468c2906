//! What `--version` prints: the crate version, the target triple and the git commit.

/// Version line shared by every imagekit binary. The commit is informational only: it is never
/// part of an image fingerprint.
pub fn long_version() -> &'static str {
    concat!(
        env!("CARGO_PKG_VERSION"),
        " (",
        env!("IMAGEKIT_TARGET"),
        ", commit ",
        env!("IMAGEKIT_GIT_COMMIT"),
        ")"
    )
}
