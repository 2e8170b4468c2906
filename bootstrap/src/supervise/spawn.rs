//! Starting the agent's process: its environment, and on Unix its identity.

use std::process::Stdio;

use super::Launch;

/// Credentials the bootstrap itself may have been given; jobs must use the instance profile.
const SCRUBBED: [&str; 3] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

pub(super) fn spawn(launch: &Launch<'_>) -> std::io::Result<tokio::process::Child> {
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
    {
        default_stop_signals(&mut command);
        if let Some(handoff) = launch.handoff {
            inherit_at(&mut command, handoff.raw_fd(), super::handoff::INHERITED_FD);
        }
        if !launch.user.is_current() {
            as_user(&mut command, launch.user);
        }
    }
    #[cfg(windows)]
    if let Some(handoff) = launch.handoff {
        // Inheritable only while the agent is created: std creates every child with
        // inheritance on, so the bootstrap's other children never get it.
        handoff.inheritable(true)?;
        let child = command.spawn();
        handoff.inheritable(false)?;
        return child;
    }
    command.spawn()
}

/// Puts `fd` (close-on-exec) at `target` in the agent, open across its exec.
#[cfg(unix)]
fn inherit_at(command: &mut tokio::process::Command, fd: i32, target: i32) {
    // SAFETY: dup2 and fcntl are async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            if fd == target {
                // dup2 onto itself keeps close-on-exec: clear it instead.
                if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(fd, target) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The signals a graceful stop sends, back to their default action between fork and exec.
/// Ignored dispositions survive exec: a bootstrap started with SIGINT ignored (as a shell's
/// background job is, or by an init that ignores it) would otherwise hand that on, and the
/// agent would never see its stop.
#[cfg(unix)]
fn default_stop_signals(command: &mut tokio::process::Command) {
    // SAFETY: sigaction-based signal() is async-signal-safe; nothing else runs here.
    unsafe {
        command.pre_exec(|| {
            for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGQUIT, libc::SIGHUP] {
                if libc::signal(signal, libc::SIG_DFL) == libc::SIG_ERR {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// Drops to `user` between fork and exec.
#[cfg(unix)]
fn as_user(command: &mut tokio::process::Command, user: &crate::user::User) {
    let (uid, gid, groups) = (user.uid, user.gid, user.groups.clone());
    // SAFETY: only async-signal-safe syscalls between fork and exec; the group list was looked
    // up before forking.
    unsafe {
        command.pre_exec(move || {
            let list: Vec<libc::gid_t> = groups.iter().map(|&g| g as libc::gid_t).collect();
            crate::user::switch_to(uid, gid, &list)
        });
    }
}
