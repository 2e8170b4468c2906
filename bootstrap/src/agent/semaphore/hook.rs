//! Semaphore's shutdown hook (`shutdown-hook-path`), and where it leaves the reason for the
//! supervisor.
//!
//! The hook runs as the agent user, possibly with a job's credentials still in its environment,
//! so it does nothing but record `SEMAPHORE_AGENT_SHUTDOWN_REASON`. The root supervisor acts on
//! it once the agent has exited.

use std::path::{Path, PathBuf};

use crate::agent::self_exe;
use crate::state::StateDir;
use imagekit_core::atomic;

/// What `on-shutdown --help` says.
pub const ABOUT: &str =
    "The agent's shutdown hook: records SEMAPHORE_AGENT_SHUTDOWN_REASON for the supervisor";

/// Tells the hook where to record the reason; set by the supervisor in the agent's environment.
pub const REASON_FILE_ENV: &str = "IMAGEKIT_SHUTDOWN_REASON_FILE";
/// What the Semaphore agent passes to its hook.
pub const AGENT_REASON_ENV: &str = "SEMAPHORE_AGENT_SHUTDOWN_REASON";

/// The launcher the agent's `shutdown-hook-path` points at. Fixed text, made of constants: the
/// binary's path ([`self_exe`]: the supervisor's own, else the installed one) and the reason
/// file travel in the environment, never spliced into the script.
#[cfg(not(windows))]
pub fn launcher() -> String {
    format!(
        "#!/bin/sh\n\
# Written by imagekit-bootstrap. The agent's shutdown hook: it only records the reason.\n\
exec \"${{{env}:-{default}}}\" on-shutdown\n",
        env = self_exe::EXE_ENV,
        default = self_exe::DEFAULT_EXE,
    )
}
#[cfg(windows)]
pub fn launcher() -> String {
    format!(
        "# Written by imagekit-bootstrap. The agent's shutdown hook: it only records the reason.\r\n\
$exe = if ($env:{env}) {{ $env:{env} }} else {{ '{default}' }}\r\n\
& $exe on-shutdown\r\n\
exit $LASTEXITCODE\r\n",
        env = self_exe::EXE_ENV,
        default = self_exe::DEFAULT_EXE,
    )
}

pub fn launcher_path(agent_dir: &Path) -> PathBuf {
    let ext = if cfg!(windows) { "ps1" } else { "sh" };
    agent_dir.join(format!("imagekit-shutdown-hook.{ext}"))
}

/// In the state dir, which only the agent user and root can write.
pub fn reason_file(state: &StateDir) -> PathBuf {
    state.file("shutdown-reason")
}

/// The hook: records the reason and returns at once. No AWS call, no credentials.
pub fn record_reason() -> Result<String, std::io::Error> {
    let reason = std::env::var(AGENT_REASON_ENV)
        .ok()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "UNSPECIFIED".to_string());
    let path = std::env::var_os(REASON_FILE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| reason_file(&StateDir::of(Path::new(super::DEFAULT_DIR))));
    // Read by the supervisor as soon as the agent exits, in this same boot.
    let unsynced = atomic::Durability::Unsynced;
    atomic::write(&path, reason.as_bytes(), 0o600, None, unsynced)?;
    Ok(reason)
}

/// What the hook recorded, if it ran.
pub fn read_reason(state: &StateDir) -> Option<String> {
    std::fs::read_to_string(reason_file(state))
        .ok()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_launcher_is_the_text_it_always_was() {
        assert_eq!(
            launcher(),
            "#!/bin/sh\n# Written by imagekit-bootstrap. The agent's shutdown hook: it only records the reason.\nexec \"${IMAGEKIT_BOOTSTRAP_EXE:-/usr/local/bin/imagekit-bootstrap}\" on-shutdown\n"
        );
    }
}
