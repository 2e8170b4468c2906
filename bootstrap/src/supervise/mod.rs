//! Runs the agent as a supervised child: as the agent user, stopped gracefully when a stop is
//! requested, and its exit observed, so that the instance is given back however the agent stops.
//!
//! The stop request is a future the caller passes in (see [`crate::stop`]): the supervisor does
//! not know whether a console, the OS or the Windows service manager asks.

#[cfg(windows)]
mod console;
mod handoff;
mod spawn;
mod stopping;
#[cfg(windows)]
mod tree;

use std::ffi::OsString;
use std::future::Future;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use crate::stop::StopRequest;
use crate::user::User;

pub use handoff::Handoff;

/// Everything needed to start the agent.
pub struct Launch<'a> {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub dir: PathBuf,
    pub env: Vec<(String, OsString)>,
    pub user: &'a User,
    /// The token, for an agent that reads it from an inherited descriptor.
    pub handoff: Option<&'a Handoff>,
}

/// The signal an agent drains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    Terminate,
    Interrupt,
}

/// How an agent is stopped gracefully: its signal; with `repeat`, the same signal once more if it
/// has not exited after that long (an agent whose first signal lets its jobs finish and whose
/// second cancels them); then, if it has not exited after `grace`, by force. `grace: None`: the
/// agent bounds its own stop, so it is waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GracefulStop {
    pub signal: StopSignal,
    pub repeat: Option<Duration>,
    pub grace: Option<Duration>,
}

/// The least time between a stop's first signal and its repeat: a signal sent while the same
/// one is still pending is delivered once, so two sent back to back (a grace period of 0) could
/// reach the agent as one, and its jobs would never be cancelled.
pub const MIN_REPEAT_GAP: Duration = Duration::from_secs(1);

impl GracefulStop {
    /// How long after the first signal the repeat comes, if there is one.
    pub fn repeat_after(&self) -> Option<Duration> {
        self.repeat.map(|after| after.max(MIN_REPEAT_GAP))
    }
}

/// How the agent ended.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    pub status: ExitStatus,
    /// The supervisor passed on a stop (a signal, or a Windows service stop) before the exit.
    pub stop_requested: bool,
    /// From the agent's start to its exit.
    pub ran_for: Duration,
}

/// Starts the agent and waits for it; when `stop` resolves first, stops it as `graceful` says.
pub async fn run(
    launch: Launch<'_>,
    graceful: GracefulStop,
    stop: impl Future<Output = StopRequest>,
) -> std::io::Result<Exit> {
    let started = std::time::Instant::now();
    // Before the spawn: the agent inherits the console its graceful stop is sent through.
    #[cfg(windows)]
    console::attach();
    let mut child = spawn::spawn(&launch)?;
    tracing::info!(
        program = %launch.program.display(),
        pid = child.id(),
        user = launch.user.name.as_str(),
        "agent started"
    );
    // Held until the agent is done: dropping it ends what is left of the agent's tree.
    #[cfg(windows)]
    let tree = child.raw_handle().and_then(|process| {
        tree::ProcessTree::of(process)
            .map_err(|e| {
                tracing::warn!("the agent's processes are not in a job object ({e}): a stop ends the agent alone")
            })
            .ok()
    });
    let request = tokio::select! {
        status = child.wait() => return Ok(Exit {
            status: status?,
            stop_requested: false,
            ran_for: started.elapsed(),
        }),
        request = stop => request,
    };
    #[cfg(unix)]
    let status = stopping::stop(&mut child, graceful, request).await?;
    #[cfg(windows)]
    let status = stopping::stop(&mut child, tree.as_ref(), graceful, request).await?;
    Ok(Exit {
        status,
        stop_requested: true,
        ran_for: started.elapsed(),
    })
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    /// `sh -c script` as the current user.
    async fn supervise(
        script: &str,
        graceful: GracefulStop,
        stop: impl Future<Output = StopRequest>,
    ) -> Exit {
        let user = crate::user::resolve(None).unwrap();
        let launch = Launch {
            program: PathBuf::from("/bin/sh"),
            args: vec!["-c".into(), script.into()],
            dir: std::env::temp_dir(),
            env: Vec::new(),
            user: &user,
            handoff: None,
        };
        run(launch, graceful, stop).await.unwrap()
    }

    const SOON: StopRequest = StopRequest { cause: "test" };

    /// `signal`, once, then wait for the agent.
    fn plain_stop(signal: StopSignal) -> GracefulStop {
        GracefulStop {
            signal,
            repeat: None,
            grace: None,
        }
    }

    /// A stop asked for once `ready` exists (the agent's script has set its traps).
    async fn once_exists(ready: &std::path::Path) -> StopRequest {
        while !ready.exists() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        SOON
    }

    #[tokio::test]
    async fn an_agent_that_exits_by_itself_is_not_stopped() {
        let plan = plain_stop(StopSignal::Terminate);
        let exit = supervise("exit 3", plan, std::future::pending()).await;
        assert_eq!(exit.status.code(), Some(3));
        assert!(!exit.stop_requested);
    }

    #[tokio::test]
    async fn a_stop_sends_the_agents_own_signal() {
        let plan = plain_stop(StopSignal::Interrupt);
        let exit = supervise("exec sleep 30", plan, async { SOON }).await;
        assert_eq!(exit.status.signal(), Some(libc::SIGINT));
        assert!(exit.stop_requested);
    }

    /// As when the bootstrap itself was started as a shell's background job, which ignores
    /// SIGINT. (No test of this crate installs a SIGINT handler, so ignoring it here for a
    /// moment disturbs no other test; a child spawned meanwhile gets the default back anyway.)
    #[tokio::test]
    async fn a_stop_reaches_the_agent_even_if_the_bootstrap_ignores_its_signal() {
        let plan = plain_stop(StopSignal::Interrupt);
        // SAFETY: no handler is installed; the previous disposition is put back below.
        let previous = unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
        let exit = supervise("exec sleep 30", plan, async { SOON }).await;
        unsafe { libc::signal(libc::SIGINT, previous) };
        assert_eq!(exit.status.signal(), Some(libc::SIGINT));
        assert!(exit.stop_requested);
    }

    /// What buildkite-agent does with `token=fd://3` (buildkite/agent@d312b88:clicommand/
    /// register_token.go: read the descriptor to its end): here `cat` reads it, and nothing else
    /// of the agent's start carries the token.
    #[tokio::test]
    async fn a_handoff_reaches_the_agent_on_its_descriptor_and_nowhere_else() {
        let token = crate::secrets::Token::new("bkua_handed_over".into());
        let handoff = Handoff::new(&token).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let read = dir.path().join("read");
        let user = crate::user::resolve(None).unwrap();
        let script = format!(
            // (The pattern is split so that the script's own text does not match it.)
            "cat <&3 > '{read}' && ! cat /proc/$$/environ /proc/$$/cmdline 2>/dev/null | grep -q 'bkua''_handed'",
            read = read.display()
        );
        let launch = Launch {
            program: PathBuf::from("/bin/sh"),
            args: vec!["-c".into(), script.into()],
            dir: std::env::temp_dir(),
            env: Vec::new(),
            user: &user,
            handoff: Some(&handoff),
        };
        let exit = run(
            launch,
            plain_stop(StopSignal::Terminate),
            std::future::pending(),
        )
        .await
        .unwrap();
        assert!(exit.status.success(), "{:?}", exit.status);
        assert_eq!(std::fs::read_to_string(&read).unwrap(), "bkua_handed_over");
    }

    #[tokio::test]
    async fn an_agent_that_outlasts_its_grace_is_killed() {
        let plan = GracefulStop {
            signal: StopSignal::Terminate,
            repeat: None,
            grace: Some(Duration::from_millis(200)),
        };
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("ready");
        // Ignored dispositions survive exec: this sleep cannot be stopped gracefully. The stop
        // comes once the trap is set.
        let script = format!("trap '' TERM; touch '{}'; exec sleep 30", ready.display());
        let exit = supervise(&script, plan, once_exists(&ready)).await;
        assert_eq!(exit.status.signal(), Some(libc::SIGKILL));
        assert!(exit.stop_requested);
    }

    /// An agent whose first signal lets its job finish and whose second cancels it: the second
    /// comes after `repeat`, and only if the agent still runs.
    #[tokio::test]
    async fn a_repeated_stop_sends_the_signal_again_after_its_wait() {
        let plan = GracefulStop {
            signal: StopSignal::Terminate,
            repeat: Some(Duration::from_millis(300)),
            grace: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let (ready, first) = (dir.path().join("ready"), dir.path().join("first"));
        let script = format!(
            "n=0; trap 'n=$((n+1)); [ $n -ge 2 ] && exit 7; touch \"{first}\"' TERM; touch \"{ready}\"; while :; do sleep 0.05; done",
            first = first.display(),
            ready = ready.display(),
        );
        let exit = supervise(&script, plan, once_exists(&ready)).await;
        assert_eq!(exit.status.code(), Some(7), "{:?}", exit.status);
        assert!(first.exists(), "the first signal was not seen on its own");
        assert!(exit.stop_requested);

        // A repeat with no wait still comes as a signal of its own.
        let plan = GracefulStop {
            repeat: Some(Duration::ZERO),
            ..plan
        };
        std::fs::remove_file(&first).unwrap();
        std::fs::remove_file(&ready).unwrap();
        let exit = supervise(&script, plan, once_exists(&ready)).await;
        assert_eq!(exit.status.code(), Some(7), "{:?}", exit.status);
        assert!(first.exists(), "two signals arrived as one");

        // One that leaves on the first signal gets no second.
        let exit = supervise("exec sleep 30", plan, async { SOON }).await;
        assert_eq!(exit.status.signal(), Some(libc::SIGTERM));
    }
}
