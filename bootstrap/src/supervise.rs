//! Runs the agent as a supervised child: as the agent user, with SIGTERM/SIGINT forwarded, and
//! its exit observed, so that the instance is given back however the agent stops.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};

use crate::user::User;

/// Everything needed to start the agent.
pub struct Launch<'a> {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub dir: PathBuf,
    pub env: Vec<(String, OsString)>,
    pub user: &'a User,
}

/// Credentials the bootstrap itself may have been given; jobs must use the instance profile.
const SCRUBBED: [&str; 3] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// How the agent ended.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    pub status: ExitStatus,
    /// The supervisor passed on a stop (a signal, or a Windows service stop) before the exit.
    pub stop_requested: bool,
}

/// Starts the agent and waits for it, forwarding termination signals.
pub async fn run(launch: Launch<'_>) -> std::io::Result<Exit> {
    let mut command = tokio::process::Command::new(&launch.program);
    command
        .args(&launch.args)
        .current_dir(&launch.dir)
        .stdin(Stdio::null())
        .kill_on_drop(false);
    for var in SCRUBBED {
        command.env_remove(var);
    }
    command
        .env("HOME", &launch.user.home)
        .env("USER", &launch.user.name)
        .env("LOGNAME", &launch.user.name)
        .envs(launch.env.iter().map(|(k, v)| (k, v)));
    #[cfg(unix)]
    if !launch.user.is_current() {
        let (uid, gid, groups) = (launch.user.uid, launch.user.gid, launch.user.groups.clone());
        // SAFETY: only async-signal-safe syscalls between fork and exec; the group list was
        // looked up before forking.
        unsafe {
            command.pre_exec(move || {
                let list: Vec<libc::gid_t> = groups.iter().map(|&g| g as libc::gid_t).collect();
                #[cfg(target_os = "macos")]
                let len = list.len() as libc::c_int;
                #[cfg(not(target_os = "macos"))]
                let len = list.len();
                if libc::setgroups(len, list.as_ptr()) != 0
                    || libc::setgid(gid as libc::gid_t) != 0
                    || libc::setuid(uid as libc::uid_t) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = command.spawn()?;
    tracing::info!(
        program = %launch.program.display(),
        pid = child.id(),
        user = launch.user.name.as_str(),
        "agent started"
    );
    wait_forwarding(&mut child).await
}

#[cfg(unix)]
async fn wait_forwarding(child: &mut tokio::process::Child) -> std::io::Result<Exit> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut stop_requested = false;
    loop {
        let sig = tokio::select! {
            status = child.wait() => return Ok(Exit { status: status?, stop_requested }),
            _ = term.recv() => libc::SIGTERM,
            _ = int.recv() => libc::SIGINT,
        };
        stop_requested = true;
        if let Some(pid) = child.id() {
            tracing::info!(pid, signal = sig, "forwarding signal to the agent");
            // SAFETY: plain kill(2) on our own child's pid, which has not been reaped yet.
            unsafe {
                libc::kill(pid as libc::pid_t, sig);
            }
        }
    }
}

/// Windows has no signal to forward: a service stop (or Ctrl-C) terminates the agent, once.
/// The stop request stays set, so waiting on it again would spin.
#[cfg(not(unix))]
async fn wait_forwarding(child: &mut tokio::process::Child) -> std::io::Result<Exit> {
    tokio::select! {
        status = child.wait() => return Ok(Exit { status: status?, stop_requested: false }),
        _ = crate::service::stop_requested() => {}
    }
    tracing::info!(pid = child.id(), "stop requested; stopping the agent");
    // It may have exited in the meantime; the wait below tells either way.
    let _ = child.start_kill();
    Ok(Exit {
        status: child.wait().await?,
        stop_requested: true,
    })
}
