//! The runner's `command_prefix`: `imagekit-bootstrap circleci-task --state-dir DIR [--user
//! NAME] -- TASK-AGENT ARGS...`, our answer to a runner that passes no end reason and runs no
//! hook.
//!
//! DOCS (circleci/circleci-docs@9734a1410cc98741bc09b84f187325a8f43baf68
//! docs/guides/modules/execution-runner/pages/machine-runner-3-configuration-reference.adoc,
//! `runner.command_prefix`): the prefix "wraps and runs the task-agent"; "The arguments passed to
//! the script will launch the task-agent", and a custom script must "ensure the task-agent (that
//! is, the arguments passed to it) runs" and "Forward the exit code from task-agent as its own".
//! Which arguments and environment the runner gives the task-agent is not documented (the
//! runner is closed source), so all of them pass through untouched: the wrapper execs the
//! task-agent in its own place (the exit code is then the task-agent's own, stdin and stdout
//! stay its), after it has
//! - recorded the task's start in the bootstrap's state dir (the pid that becomes the
//!   task-agent's), which is how the supervisor knows a task ran and whether one runs now;
//! - added the job's variables (the cache bucket and region, the config's `env`) from the state
//!   dir's file, and removed the runner's own token variable (DOCS: `api.auth_token` may come
//!   from `$CIRCLECI_RUNNER_API_AUTH_TOKEN`) and any AWS keys, so the job has neither;
//! - dropped from root to the agent user for good, as DOCS' own `["sudo", "-niHu", "USERNAME",
//!   "--"]` does, with that user's HOME, USER and LOGNAME.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::state::StateDir;
use imagekit_core::atomic;

/// The subcommand's name, in the runner's `command_prefix`.
pub const SUBCOMMAND: &str = "circleci-task";

/// What `circleci-task` removes from the task's environment: the runner's token variable, and
/// credentials the bootstrap itself may have been given (jobs use the instance profile).
#[cfg(unix)]
const SCRUBBED: [&str; 4] = [
    "CIRCLECI_RUNNER_API_AUTH_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// The task's start, written by the wrapper: the pid that runs the task-agent.
pub fn started_file(state: &StateDir) -> PathBuf {
    state.file("task-started")
}

/// The job's variables, a JSON object written by the bootstrap (root's, 0600).
pub fn env_file(state: &StateDir) -> PathBuf {
    state.file("task-env")
}

/// The runner's `command_prefix`: this binary's `circleci-task`, told where the state is and,
/// when the runner's user is not the agent user, whom to become. YAML carries text, so the
/// paths go as UTF-8 (a non-UTF-8 path would not name the file: the task then fails to start).
pub fn command_prefix(exe: &Path, state: &StateDir, user: Option<&str>) -> Vec<String> {
    let mut argv = vec![
        exe.to_string_lossy().into_owned(),
        SUBCOMMAND.into(),
        "--state-dir".into(),
        state.path().to_string_lossy().into_owned(),
    ];
    if let Some(user) = user {
        argv.push("--user".into());
        argv.push(user.into());
    }
    argv.push("--".into());
    argv
}

/// Writes the job's variables for the wrapper, and clears an earlier boot's task start.
pub fn write_env(
    state: &StateDir,
    env: &[(String, String)],
) -> Result<(), (&'static str, PathBuf, std::io::Error)> {
    let started = started_file(state);
    match std::fs::remove_file(&started) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(("clearing", started, e)),
    }
    let map: serde_json::Map<String, serde_json::Value> = env
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let bytes = serde_json::to_vec(&map).expect("a JSON object serialises");
    let file = env_file(state);
    atomic::write(&file, &bytes, 0o600, None, atomic::Durability::Unsynced)
        .map_err(|e| ("writing the task environment", file.clone(), e))
}

/// The pid the wrapper recorded, if a task started in this boot.
pub fn started_pid(state: &StateDir) -> Option<u32> {
    std::fs::read_to_string(started_file(state))
        .ok()
        .and_then(|text| text.trim().parse().ok())
}

/// Whether the recorded task-agent still runs.
pub fn running(pid: u32) -> bool {
    #[cfg(unix)]
    {
        // SAFETY: signal 0 only checks that the process exists.
        let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
        rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        false
    }
}

/// What the wrapper was asked to run.
#[cfg_attr(not(unix), allow(dead_code))]
pub struct Task {
    pub state_dir: PathBuf,
    pub user: Option<String>,
    pub command: Vec<OsString>,
}

/// Records the start, sets up the environment and identity, and execs the task-agent. Returns
/// only on failure, with what failed (the caller prints it and exits 1: the task does not run
/// without its record and variables).
#[cfg(unix)]
pub fn exec(task: Task) -> anyhow::Error {
    match prepare(&task) {
        Ok(mut command) => {
            use std::os::unix::process::CommandExt;
            let program = task.command[0].to_string_lossy().into_owned();
            anyhow::Error::from(command.exec()).context(format!("running the task-agent {program}"))
        }
        Err(e) => e,
    }
}

#[cfg(unix)]
fn prepare(task: &Task) -> anyhow::Result<std::process::Command> {
    use anyhow::Context;

    let Some((program, args)) = task.command.split_first() else {
        anyhow::bail!(
            "no task-agent command after `--`: the runner passes it (runner.command_prefix)"
        );
    };
    let state = StateDir::at(&task.state_dir);
    let env_path = env_file(&state);
    let text = std::fs::read(&env_path)
        .with_context(|| format!("reading the task environment {}", env_path.display()))?;
    let env: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&text)
        .with_context(|| format!("parsing the task environment {}", env_path.display()))?;
    let user = crate::user::resolve(task.user.as_deref()).context("resolving the task's user")?;

    // Before anything can fail later: a task that runs is a task the supervisor knows of.
    let started = started_file(&state);
    let pid = std::process::id().to_string();
    atomic::write(
        &started,
        pid.as_bytes(),
        0o600,
        None,
        atomic::Durability::Unsynced,
    )
    .with_context(|| format!("recording the task's start in {}", started.display()))?;

    let mut command = std::process::Command::new(program);
    command.args(args);
    for var in SCRUBBED {
        command.env_remove(var);
    }
    command
        .env("HOME", &user.home)
        .env("USER", &user.name)
        .env("LOGNAME", &user.name);
    for (name, value) in &env {
        if let Some(value) = value.as_str() {
            command.env(name, value);
        }
    }
    if !user.is_current() {
        // SAFETY: getuid never fails.
        if unsafe { libc::getuid() } != 0 {
            anyhow::bail!(
                "running the task as {}: only root can become another user, and the runner does not run as root",
                user.name
            );
        }
        let groups: Vec<libc::gid_t> = user.groups.iter().map(|&g| g as libc::gid_t).collect();
        crate::user::switch_to(user.uid, user.gid, &groups)
            .with_context(|| format!("becoming the task's user {}", user.name))?;
    }
    Ok(command)
}

/// Windows has no CircleCI image (src/spec/pins.rs) and no setuid: the wrapper is Unix's.
#[cfg(not(unix))]
pub fn exec(_task: Task) -> anyhow::Error {
    anyhow::anyhow!("circleci-task runs on Unix only: imagekit builds no Windows CircleCI image")
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_names_the_state_and_the_user_then_ends_the_options() {
        let state = StateDir::of(Path::new("/opt/r"));
        let argv = command_prefix(
            Path::new("/usr/local/bin/imagekit-bootstrap"),
            &state,
            Some("circleci"),
        );
        assert_eq!(
            argv,
            [
                "/usr/local/bin/imagekit-bootstrap",
                "circleci-task",
                "--state-dir",
                "/opt/r/.imagekit",
                "--user",
                "circleci",
                "--"
            ]
            .map(String::from)
        );
        let argv = command_prefix(Path::new("/b"), &state, None);
        assert_eq!(argv.len(), 5);
    }

    #[test]
    fn a_recorded_pid_reads_back_and_this_one_runs() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::of(dir.path());
        std::fs::create_dir_all(state.path()).unwrap();
        write_env(&state, &[("A".into(), "b=c".into())]).unwrap();
        assert_eq!(started_pid(&state), None);
        std::fs::write(started_file(&state), format!("{}\n", std::process::id())).unwrap();
        assert_eq!(started_pid(&state), Some(std::process::id()));
        assert!(running(std::process::id()));
        // A later boot's write clears it.
        write_env(&state, &[]).unwrap();
        assert_eq!(started_pid(&state), None);
    }
}
