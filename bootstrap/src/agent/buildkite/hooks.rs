//! The hooks the bootstrap owns: how it learns that the agent registered and that a job ran
//! (Buildkite passes no shutdown reason), and how jobs get their environment (the cache bucket
//! and region for plugins, the config's `env`).
//!
//! They live in their own directory, root's and rewritten every boot, named to the agent as an
//! additional hooks path: the user's `hooks-path` stays theirs. The agent runs a global hook from
//! `hooks-path` first, then the same hook from each additional path
//! (buildkite/agent@d312b88:internal/job/executor.go `getAllGlobalHookPaths`, and
//! clicommand/agent_start.go `agentLifecycleHook` for `agent-startup`), so the user's hooks run
//! before ours and the config's `env` wins over what they export.
//!
//! What the hooks record goes to the state dir, named by `IMAGEKIT_STATE_DIR` in the agent's
//! environment, which its jobs inherit (agent/job_runner.go: `append(os.Environ(), env...)`).
//! On Unix a hook is a POSIX shell script, which the agent's job executor sources into a wrapper
//! and whose exported changes reach the job (internal/job/hook/wrapper.go `posixShellWrapper`);
//! on Windows a `.bat` that calls this binary's `buildkite-hook` ([`windows_hook`]), which hands
//! the job's variables to the agent through its Job API (`buildkite-agent env set`), since no
//! batch file can carry any value safely.

use std::path::{Path, PathBuf};

use crate::agent::job_env::render_env;
use crate::state::StateDir;
use imagekit_core::atomic;

/// Tells the hooks where the state dir is; set by the supervisor in the agent's environment.
pub const STATE_DIR_ENV: &str = "IMAGEKIT_STATE_DIR";

/// `environment`: the first hook of every job (executor.go `setUp`). Records the job (busy, and
/// that a job ran), then exports the job's variables. A failure fails the job: a job without
/// its variables would run wrong.
#[cfg(not(windows))]
const ENVIRONMENT: &str = "#!/bin/sh\n\
# Written by imagekit-bootstrap: the agent's environment hook, sourced before each job.\n\
# Records the job for the supervisor, then exports the job's variables, which the bootstrap quoted.\n\
: \"${IMAGEKIT_STATE_DIR:?is not set: the agent was not started by imagekit-bootstrap}\"\n\
case \"${BUILDKITE_JOB_ID:-}\" in\n\
  '' | *[!0-9A-Za-z-]*) imagekit_job=unknown ;;\n\
  *) imagekit_job=$BUILDKITE_JOB_ID ;;\n\
esac\n\
: > \"$IMAGEKIT_STATE_DIR/job-ran\" &&\n\
mkdir -p \"$IMAGEKIT_STATE_DIR/jobs\" &&\n\
: > \"$IMAGEKIT_STATE_DIR/jobs/$imagekit_job\" &&\n\
. \"$IMAGEKIT_STATE_DIR/job-env\"\n";

/// `pre-exit`: the last hook of every job (executor.go `tearDown`, run even when the job failed
/// or was cancelled): the job is over.
#[cfg(not(windows))]
const PRE_EXIT: &str = "#!/bin/sh\n\
# Written by imagekit-bootstrap: the agent's pre-exit hook, sourced after each job: the job is over.\n\
case \"${BUILDKITE_JOB_ID:-}\" in\n\
  '' | *[!0-9A-Za-z-]*) imagekit_job=unknown ;;\n\
  *) imagekit_job=$BUILDKITE_JOB_ID ;;\n\
esac\n\
rm -f \"${IMAGEKIT_STATE_DIR:?is not set}/jobs/$imagekit_job\"\n";

/// `agent-startup`: run once, after every spawned agent has registered (agent_start.go: the
/// workers exist only once `Register` succeeded, then `agentStartupHook`).
#[cfg(not(windows))]
const AGENT_STARTUP: &str = "#!/bin/sh\n\
# Written by imagekit-bootstrap: the agent's startup hook, run once its agents have registered.\n\
: > \"${IMAGEKIT_STATE_DIR:?is not set}/registered\"\n";

/// A Windows hook: a batch file that runs this binary's `buildkite-hook NAME`, which does what
/// the Unix hook of that name does (bootstrap/src/agent/buildkite/hook_command.rs). Fixed text,
/// made of constants only: the binary's path travels in the environment
/// ([`crate::agent::self_exe`]).
///
/// `hook.Find` takes `.bat` first on Windows (buildkite/agent@d312b88:internal/job/hook/hook.go:
/// `.bat`, `.cmd`, `.ps1`, `.exe`, then no extension). A job hook that is neither a binary nor
/// a script with a shebang is a shell hook (internal/job/hook/type.go `Type`), run through the
/// batch wrapper (internal/job/hook/wrapper.go `batchWrapper`: `SETLOCAL
/// ENABLEDELAYEDEXPANSION`, `CALL "hook"`, the exit status from `!ERRORLEVEL!`); a lifecycle
/// hook such as `agent-startup` is run as itself (clicommand/agent_start.go
/// `agentLifecycleHook` → internal/shell/shell.go `Script`: on Windows a `.bat` is neither sh
/// nor `.ps1`, so the command is the path). Wine has no PowerShell, and a `.ps1` would need it.
///
/// The hook keeps its own variables local (`SETLOCAL`), so that the default path it may set
/// never reaches the job through the wrapper's env diff, and turns delayed expansion off, which
/// the wrapper turned on and which would eat any `!` in the exe's path. The exe's exit status
/// is the hook's: it is the batch file's last command.
#[cfg(any(windows, test))]
pub fn windows_hook(name: &str) -> String {
    format!(
        "@REM Written by imagekit-bootstrap: the agent's {name} hook; imagekit-bootstrap buildkite-hook does the work.\r\n\
@SETLOCAL DISABLEDELAYEDEXPANSION\r\n\
@IF NOT DEFINED {env} SET \"{env}={default}\"\r\n\
@\"%{env}%\" {command} {name}\r\n",
        env = crate::agent::self_exe::EXE_ENV,
        default = crate::agent::self_exe::WINDOWS_DEFAULT_EXE,
        command = super::hook_command::SUBCOMMAND,
    )
}

/// The hooks by the names the agent looks for, with their text.
#[cfg(not(windows))]
fn hooks() -> [(&'static str, String); 3] {
    [
        ("environment", ENVIRONMENT.into()),
        ("pre-exit", PRE_EXIT.into()),
        ("agent-startup", AGENT_STARTUP.into()),
    ]
}
#[cfg(windows)]
fn hooks() -> [(&'static str, String); 3] {
    use super::hook_command::HookName;
    [
        HookName::Environment,
        HookName::PreExit,
        HookName::AgentStartup,
    ]
    .map(|hook| (hook.as_str(), windows_hook(hook.as_str())))
}

/// The hook file for `name` in `dir`.
fn hook_file(dir: &Path, name: &str) -> PathBuf {
    let ext = if cfg!(windows) { ".bat" } else { "" };
    dir.join(format!("{name}{ext}"))
}

/// The bootstrap's hooks dir, beside the user's.
pub fn dir(agent_dir: &Path) -> PathBuf {
    agent_dir.join("imagekit-hooks")
}

/// The job's variables: sourced by the sh hook on Unix (`export` lines), a JSON object for
/// `buildkite-hook environment` on Windows ([`crate::agent::job_env::render_env`]).
pub fn env_file(state: &StateDir) -> PathBuf {
    state.file("job-env")
}

/// Written once the agent's agents have registered.
pub fn registered_file(state: &StateDir) -> PathBuf {
    state.file("registered")
}

/// Written when a job starts, and left: some job ran in this boot.
pub fn job_ran_file(state: &StateDir) -> PathBuf {
    state.file("job-ran")
}

/// One file per job that has started and not yet ended.
pub fn jobs_dir(state: &StateDir) -> PathBuf {
    state.file("jobs")
}

/// Writes the hooks (fixed text, root's) and the env file (0600, `owner`'s), and clears what an
/// earlier boot recorded.
pub fn write(
    agent_dir: &Path,
    state: &StateDir,
    env: &[(String, String)],
    owner: atomic::Owner,
) -> Result<(), (&'static str, PathBuf, std::io::Error)> {
    for stale in [registered_file(state), job_ran_file(state)] {
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(("clearing", stale, e)),
        }
    }
    let jobs = jobs_dir(state);
    match std::fs::remove_dir_all(&jobs) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(("clearing", jobs, e)),
    }
    let hooks_dir = dir(agent_dir);
    std::fs::create_dir_all(&hooks_dir)
        .map_err(|e| ("creating the hooks dir", hooks_dir.clone(), e))?;
    let unsynced = atomic::Durability::Unsynced;
    for (name, text) in hooks() {
        let path = hook_file(&hooks_dir, name);
        atomic::write(&path, text.as_bytes(), 0o755, None, unsynced)
            .map_err(|e| ("writing a hook", path.clone(), e))?;
    }
    let file = env_file(state);
    atomic::write(&file, &render_env(env), 0o600, owner, unsynced)
        .map_err(|e| ("writing the job environment", file.clone(), e))
}

/// Whether a job has started and not yet ended.
pub fn job_running(state: &StateDir) -> bool {
    std::fs::read_dir(jobs_dir(state)).is_ok_and(|mut entries| entries.next().is_some())
}

#[cfg(test)]
mod windows_tests {
    use super::*;

    /// The Windows hooks are constants only: the one call, the env var that names the exe and
    /// the installed default; `%` appears only around that variable's name.
    #[test]
    fn each_windows_hook_is_one_call_to_the_bootstrap() {
        let text = windows_hook("environment");
        assert_eq!(
            text,
            "@REM Written by imagekit-bootstrap: the agent's environment hook; imagekit-bootstrap buildkite-hook does the work.\r\n\
             @SETLOCAL DISABLEDELAYEDEXPANSION\r\n\
             @IF NOT DEFINED IMAGEKIT_BOOTSTRAP_EXE SET \"IMAGEKIT_BOOTSTRAP_EXE=C:\\Program Files\\imagekit\\imagekit-bootstrap.exe\"\r\n\
             @\"%IMAGEKIT_BOOTSTRAP_EXE%\" buildkite-hook environment\r\n"
        );
        assert_eq!(text.matches('%').count(), 2);
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// The hooks as the agent's POSIX wrapper runs them (internal/job/hook/wrapper.go: `. hook`
    /// in `sh`, with the job's environment), environment first, then pre-exit; the job sees each
    /// value byte for byte, and the state dir shows the job while it runs and after.
    #[test]
    fn the_hooks_record_the_job_and_export_its_variables() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::of(dir.path());
        std::fs::create_dir_all(state.path()).unwrap();
        let values = ["-Dx=y", "it's \"q\"", "$HOME `id`", "line1\nline2", "", "é"];
        let env: Vec<(String, String)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("V{i}"), v.to_string()))
            .collect();
        write(dir.path(), &state, &env, None).unwrap();
        let hooks = super::dir(dir.path());
        let script = format!(
            ". '{env}' || exit 9\n[ -e \"$IMAGEKIT_STATE_DIR/jobs/0190-abc\" ] || exit 8\nfor i in 0 1 2 3 4 5; do eval \"printf '%s\\0' \\\"\\$V$i\\\"\"; done\n. '{pre}'\n",
            env = hooks.join("environment").display(),
            pre = hooks.join("pre-exit").display(),
        );
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .env(STATE_DIR_ENV, state.path())
            .env("BUILDKITE_JOB_ID", "0190-abc")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let seen: Vec<&[u8]> = out.stdout.split(|b| *b == 0).collect();
        for (i, v) in values.iter().enumerate() {
            assert_eq!(seen[i], v.as_bytes(), "V{i}");
        }
        assert!(job_ran_file(&state).is_file());
        assert!(!job_running(&state), "pre-exit ends the job");
    }

    #[test]
    fn the_startup_hook_records_the_registration_and_a_new_boot_clears_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::of(dir.path());
        std::fs::create_dir_all(state.path()).unwrap();
        write(dir.path(), &state, &[], None).unwrap();
        let status = std::process::Command::new(super::dir(dir.path()).join("agent-startup"))
            .env(STATE_DIR_ENV, state.path())
            .status()
            .unwrap();
        assert!(status.success());
        assert!(registered_file(&state).is_file());
        write(dir.path(), &state, &[], None).unwrap();
        assert!(!registered_file(&state).exists());
    }
}
