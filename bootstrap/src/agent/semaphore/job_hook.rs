//! Semaphore's pre-job hook (`pre-job-hook-path`): how the jobs get their environment, and how
//! the bootstrap learns that a job started (Semaphore's answer to [`crate::agent::Busy`]).
//!
//! The agent's own `env-vars` cannot carry every value: main.go `ParseEnvVars` splits each entry
//! on every `=` and exits unless it gets exactly two parts
//! (semaphoreci/agent@7fc190af6847b2d41fd983ad41b591fc09b87cb6 main.go). So the variables go into
//! a file in the state dir (0600, the agent user's), as assignments quoted by shlex (Unix) or as
//! JSON (Windows), and a fixed hook that the agent sources into the job's shell reads it.
//! With `source-pre-job-hook: true` the agent runs `source <hook>` in the job's bash
//! (pkg/jobs/job.go `GetPreJobHookCommand`; on Windows it runs the script itself in the job's
//! PowerShell), so what the hook exports stays for the job's commands.

use std::path::{Path, PathBuf};

use crate::agent::job_env::render_env;
use crate::state::StateDir;
use imagekit_core::atomic;

/// The hook: fixed text that finds its files beside itself, so nothing is spliced into it.
/// It records the start first, so that a job is seen as busy even if its variables fail.
#[cfg(not(windows))]
pub const HOOK: &str =
    "# Written by imagekit-bootstrap: the agent's pre-job hook, sourced into the job's shell.\n\
# Records the job's start, then exports the job's variables, which the bootstrap quoted.\n\
imagekit_state=\"$(dirname -- \"${BASH_SOURCE[0]}\")/.imagekit\"\n\
date -u +%Y-%m-%dT%H:%M:%SZ > \"$imagekit_state/job-started\" &&\n\
. \"$imagekit_state/job-env\"\n";
#[cfg(windows)]
pub const HOOK: &str = "# Written by imagekit-bootstrap: the agent's pre-job hook, run in the job's PowerShell.\r\n\
# Records the job's start, then sets the job's variables from the JSON the bootstrap wrote.\r\n\
$state = Join-Path $PSScriptRoot '.imagekit'\r\n\
(Get-Date).ToUniversalTime().ToString('o') | Set-Content -LiteralPath (Join-Path $state 'job-started')\r\n\
$vars = Get-Content -Raw -LiteralPath (Join-Path $state 'job-env') | ConvertFrom-Json\r\n\
foreach ($p in $vars.PSObject.Properties) { Set-Item -LiteralPath \"env:$($p.Name)\" -Value $p.Value }\r\n";

/// Beside the agent, so that the state dir is `<hook's dir>/.imagekit` ([`StateDir::of`]).
pub fn hook_path(agent_dir: &Path) -> PathBuf {
    let ext = if cfg!(windows) { "ps1" } else { "sh" };
    agent_dir.join(format!("imagekit-pre-job-hook.{ext}"))
}

pub fn env_file(state: &StateDir) -> PathBuf {
    state.file("job-env")
}

/// What the hook writes when a job starts.
pub fn started_file(state: &StateDir) -> PathBuf {
    state.file("job-started")
}

/// Writes the hook (fixed text) and the env file (0600, `owner`'s), and clears an earlier
/// boot's job start.
pub fn write(
    agent_dir: &Path,
    state: &StateDir,
    env: &[(String, String)],
    owner: atomic::Owner,
) -> Result<(), (&'static str, PathBuf, std::io::Error)> {
    let started = started_file(state);
    match std::fs::remove_file(&started) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(("clearing", started, e)),
    }
    let hook = hook_path(agent_dir);
    let unsynced = atomic::Durability::Unsynced;
    atomic::write(&hook, HOOK.as_bytes(), 0o644, None, unsynced)
        .map_err(|e| ("writing the pre-job hook", hook.clone(), e))?;
    let file = env_file(state);
    atomic::write(&file, &render_env(env), 0o600, owner, unsynced)
        .map_err(|e| ("writing the job environment", file.clone(), e))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// The values as a job's bash sees them after sourcing the hook: byte for byte.
    #[test]
    fn bash_reads_back_every_value_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::of(dir.path());
        std::fs::create_dir_all(state.path()).unwrap();
        let values = [
            "-Dx=y",
            "a==b=",
            "it's \"q\"",
            "$HOME `id` $(id)",
            "back\\slash\\",
            "line1\nline2\n",
            "é ü 日本 🚀",
            "",
            " lead and trail ",
        ];
        let env: Vec<(String, String)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("V{i}"), v.to_string()))
            .collect();
        write(dir.path(), &state, &env, None).unwrap();
        let script = format!(
            "source {}; for i in $(seq 0 {}); do n=V$i; printf '%s\\0' \"${{!n}}\"; done",
            hook_path(dir.path()).display(),
            values.len() - 1
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let seen: Vec<&[u8]> = out.stdout.split(|b| *b == 0).collect();
        for (i, v) in values.iter().enumerate() {
            assert_eq!(seen[i], v.as_bytes(), "V{i}");
        }
        assert!(started_file(&state).is_file());
    }
}
