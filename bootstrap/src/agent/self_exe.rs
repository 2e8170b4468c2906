//! How an agent's hooks find this very binary: the supervisor names its own exe in the agent's
//! environment, and a hook launcher calls what that names, or the image's install path when it
//! is unset (a hook run by hand). One rule for every agent whose hooks call back into us.

use std::path::PathBuf;

/// Tells a hook launcher which binary to run; set by the supervisor in the agent's environment.
pub const EXE_ENV: &str = "IMAGEKIT_BOOTSTRAP_EXE";

/// Where the images install the bootstrap (packer/scripts/linux/15-bootstrap.sh, and the macOS
/// image's the same; packer/scripts/windows/05-bootstrap-service.ps1), for a launcher run
/// without [`EXE_ENV`]. Both are named on every OS, so that either launcher's text can be
/// checked anywhere.
pub const UNIX_DEFAULT_EXE: &str = "/usr/local/bin/imagekit-bootstrap";
pub const WINDOWS_DEFAULT_EXE: &str = r"C:\Program Files\imagekit\imagekit-bootstrap.exe";

/// This OS's [`UNIX_DEFAULT_EXE`] or [`WINDOWS_DEFAULT_EXE`].
pub const DEFAULT_EXE: &str = if cfg!(windows) {
    WINDOWS_DEFAULT_EXE
} else {
    UNIX_DEFAULT_EXE
};

/// The running bootstrap's own exe, so that hooks call exactly the binary that wrote them.
pub fn current() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("imagekit-bootstrap"))
}
