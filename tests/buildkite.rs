//! `imagekit-bootstrap` with `agent: buildkite`, end to end: real moto (ASG, SSM, S3), the IMDSv2
//! stand-in, and the buildkite-agent stand-in (standins/src/bin/buildkite_agent_standin.rs),
//! which reads its config with the real agent's parse rules, runs the hooks the real one runs and
//! takes SIGTERM as it does.
//!
//! What moto cannot show: Buildkite's agent API. The stand-in plays its answers (a registration
//! accepted, or refused with the real 401 line), and the test hands it the job to run.

use std::path::{Path, PathBuf};

use crate::bootstrap::{fleet_on, json_error, Boot, Host};
use crate::support::cmd::Run;
use crate::support::dist::{prng_shim, windows_buildkite_standin};
use crate::support::fleet::{s3_client, Fleet};
use crate::support::imds::ImdsServer;
use crate::support::moto::Account;
use crate::support::wait_until;

/// The token `fleet_on` puts in SSM (tests/bootstrap.rs).
pub const TOKEN: &str = "sem-agent-tok-7f3c9b1e5d2a4c68";

fn standin() -> PathBuf {
    let path = crate::support::bootstrap_bin().with_file_name("buildkite_agent_standin");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// Puts the Buildkite stand-in where the provider starts the agent: `<agent_dir>/buildkite-agent`
/// (under wine, the Windows build as `buildkite-agent.exe`, with the PRNG shim the Rust runtime
/// needs there beside it).
fn install_standin(boot: &Boot) {
    if let Host::Wine(_) = boot.host {
        let dir = boot.agent_dir();
        std::fs::copy(windows_buildkite_standin(), dir.join("buildkite-agent.exe")).unwrap();
        std::fs::copy(prng_shim(), dir.join("bcryptprimitives.dll")).unwrap();
        return;
    }
    let agent = boot.agent_dir().join("buildkite-agent");
    std::fs::copy(standin(), &agent).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A moto fleet whose first instance boots a Buildkite agent (played by `host`'s bootstrap).
pub async fn buildkite_fleet(host: Host, name: &str, desired: i32) -> (Fleet, Boot) {
    let (fleet, boot) = fleet_on(host, name, desired, true).await;
    install_standin(&boot);
    (fleet, boot)
}

/// The keys a Buildkite boot sets over `Boot::config`'s: the kind, the agent's default endpoint
/// (Semaphore's host is dropped), a queue, a tag, two agents, and builds in the test's dir.
fn buildkite_config(boot: &Boot, extra: serde_json::Value) -> serde_json::Value {
    let mut doc = serde_json::json!({
        "agent": "buildkite",
        "endpoint": null,
        "buildkite": {
            "queue": "build",
            "tags": {"os": "linux"},
            "spawn": 2,
            "build_path": boot.guest_path(&boot.dir.path().join("builds")),
        },
    });
    for (k, v) in extra.as_object().unwrap() {
        doc[k] = v.clone();
    }
    doc
}

pub fn run_buildkite(boot: &Boot, extra: serde_json::Value, standin: &[(&str, &str)]) -> Run {
    let config = boot.config(buildkite_config(boot, extra));
    let out = boot
        .cmd()
        .args(["run", "--log-format", "json", "--config"])
        .arg(boot.guest_path(&config))
        .envs(standin.iter().copied())
        .run();
    assert_token_absent(boot, &out);
    out
}

/// The token is in none of what the boot let out: its output, the agent's argv and environment,
/// (when a job ran) the job's environment, and no file the boot left in the agent's dir (its
/// config, hooks, state) or its log dir. It reached the agent on a pipe (`token=fd://3`).
fn assert_token_absent(boot: &Boot, out: &Run) {
    let recorded = |name: &str| {
        std::fs::read_to_string(boot.agent_dir().join("record").join(name)).unwrap_or_default()
    };
    for (what, text) in [
        ("stdout", out.stdout()),
        ("stderr", out.stderr()),
        ("the agent's argv", recorded("argv")),
        ("the agent's environment", recorded("env")),
        ("the job's environment", recorded("job-env")),
        ("the hooks' `env set` calls", recorded("env-set-argv")),
    ] {
        assert!(
            !text.contains(TOKEN),
            "the token leaked into {what}:\n{text}"
        );
    }
    // The stand-in's own record (what it would send the API) is the one place it may be.
    let record = boot.agent_dir().join("record");
    for dir in [boot.agent_dir(), boot.log_dir()] {
        for file in files_under(&dir)
            .into_iter()
            .filter(|f| !f.starts_with(&record))
        {
            let bytes = std::fs::read(&file).unwrap();
            assert!(
                !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
                "the token is in {}",
                file.display()
            );
        }
    }
}

/// Every file under `dir`, recursively (none when it does not exist).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// The job's environment as its command wrote it (`env` or cmd's `set`: `NAME=value` lines).
pub fn job_env_record(boot: &Boot) -> std::collections::BTreeMap<String, String> {
    boot.record("job-env")
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_end_matches('\r').to_string()))
        .collect()
}

/// The agent's config as the stand-in read it: `key=value` lines.
pub fn agent_config(boot: &Boot) -> std::collections::BTreeMap<String, String> {
    boot.record("buildkite-agent.cfg")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// A JSON log line of the boot's that is at `level` and says `says` (the agent's own lines, on
/// the same stderr, are its text format).
pub fn logged(out: &Run, level: &str, says: &str) -> bool {
    out.stderr().lines().any(|l| {
        serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| {
            v["level"] == level && v["message"].as_str().is_some_and(|m| m.contains(says))
        })
    })
}

/// Boots `boot` with an agent that registers and idles out, and checks the whole journey.
pub async fn assert_idle_buildkite_boot_given_back(fleet: &Fleet, boot: &Boot) {
    let out = run_buildkite(boot, serde_json::json!({}), &[]);
    // The agent's own log lines share stderr with the boot's; the lines this test is about are
    // checked below.
    out.success().stderr_any();
    assert_eq!(
        fleet.desired().await,
        1,
        "an idle agent lowers the capacity"
    );
    assert!(!fleet.instance_ids().await.contains(&boot.instance_id));
    assert_eq!(fleet.ec2_state(&boot.instance_id).await, "terminated");
    assert!(boot.powered_off().is_none());

    let config_path = boot.guest_path(&boot.agent_dir().join("buildkite-agent.cfg"));
    assert_eq!(
        boot.record("argv").lines().collect::<Vec<_>>(),
        ["start", "--config", config_path.to_str().unwrap()]
    );
    let config = agent_config(boot);
    // The config names the pipe the token came on (fd 3; on Windows an inherited handle), and
    // the agent registered with the token.
    match boot.host {
        Host::Wine(_) => {
            let handle = config["token"].strip_prefix("fd://").unwrap();
            assert!(handle.parse::<u32>().is_ok(), "{}", config["token"]);
        }
        _ => assert_eq!(config["token"], "fd://3"),
    }
    assert_eq!(boot.record("token-source"), "fd");
    assert_eq!(boot.record("registered-with"), TOKEN);
    assert_eq!(config["name"], format!("{}-%spawn", boot.instance_id));
    assert_eq!(config["tags"], "queue=build,os=linux");
    assert_eq!(config["spawn"], "2");
    // The stand-in names each spawned agent as the real one does.
    assert_eq!(
        boot.record("names"),
        format!("{id}-1\n{id}-2\n", id = boot.instance_id)
    );
    let guest = |name: &str| boot.guest_path(&boot.agent_dir().join(name));
    assert_eq!(
        config["additional-hooks-paths"],
        guest("imagekit-hooks").to_str().unwrap()
    );
    assert_eq!(config["hooks-path"], guest("hooks").to_str().unwrap());
    if !matches!(boot.host, Host::Wine(_)) {
        let uid = unsafe { libc::getuid() };
        assert_eq!(boot.record("config-mode").trim(), format!("600 {uid}"));
    }
    // The agent-startup hook ran (only it records the registration): an idle end, not a failed
    // start, which would have marked the group.
    assert!(boot.agent_dir().join(".imagekit/registered").is_file());
    assert_eq!(fleet.failed_start_mark().await, None);
    assert!(
        logged(&out, "INFO", "instance given back"),
        "{}",
        out.stderr()
    );
    assert!(
        out.stderr()
            .contains("INFO   Successfully registered agent"),
        "{}",
        out.stderr()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_buildkite_agent_terminates_its_instance_with_a_decrement() {
    let (fleet, boot) = buildkite_fleet(Host::Native, "bk-idle", 2).await;
    assert_idle_buildkite_boot_given_back(&fleet, &boot).await;
    // Nothing ran: the busy signal never showed a job.
    assert!(!boot.agent_dir().join(".imagekit/job-ran").exists());
}

/// The agent config as written, with what differs per run (the temp dir and the instance id)
/// filtered.
#[tokio::test(flavor = "multi_thread")]
async fn the_rendered_agent_config_snapshot() {
    let (_fleet, boot) = buildkite_fleet(Host::Native, "bk-snap", 1).await;
    run_buildkite(&boot, serde_json::json!({}), &[])
        .success()
        .stderr_any();
    let text = boot
        .record("buildkite-agent.cfg")
        .replace(boot.dir.path().to_str().unwrap(), "<tmp>")
        .replace(&boot.instance_id, "<instance-id>");
    insta::assert_snapshot!("buildkite_agent_cfg", text);
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_job_the_instance_is_terminated_without_a_decrement_and_the_job_had_its_env() {
    let (fleet, boot) = buildkite_fleet(Host::Native, "bk-job", 1).await;
    s3_client(&fleet.account)
        .create_bucket()
        .bucket("imagekit-bk-cache")
        .send()
        .await
        .unwrap();
    // The user's own environment hook runs first (hooks-path), ours after it: the config's `env`
    // wins over what the user's hook exports, and the user's other variables stay.
    let hooks = boot.agent_dir().join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    std::fs::write(
        hooks.join("environment"),
        "export FOO=from-the-users-hook\nexport USERS_OWN=kept\n",
    )
    .unwrap();
    let rec = boot.agent_dir().join("record");
    let job = format!("env > '{}/job-env'", rec.display());
    let out = run_buildkite(
        &boot,
        serde_json::json!({
            "cache_bucket": "imagekit-bk-cache",
            "env": {"FOO": "bar baz", "QUOTED": "it's \"q\" $HOME"},
        }),
        &[("STANDIN_JOB", &job)],
    );
    out.success().stderr_any();
    assert_eq!(boot.record("job-result"), "passed");
    let env = job_env_record(&boot);
    assert_eq!(env["IMAGEKIT_CACHE_BUCKET"], "imagekit-bk-cache");
    assert_eq!(env["IMAGEKIT_CACHE_REGION"], fleet.account.region);
    assert_eq!(env["FOO"], "bar baz");
    assert_eq!(env["QUOTED"], "it's \"q\" $HOME");
    assert_eq!(env["USERS_OWN"], "kept");
    // Jobs run as the agent user and could read what the agent can: the token is in no file and
    // not in the environment they inherit (checked by `run_buildkite` too).
    assert!(!env.values().any(|v| v.contains(TOKEN)));

    assert_given_back_after_its_job(&fleet, &boot, &out).await;
}

/// After a job on a one-instance fleet: the agent exited, the instance is terminated without a
/// decrement (moto launches its replacement), and the busy signal recorded the job as over.
pub async fn assert_given_back_after_its_job(fleet: &Fleet, boot: &Boot, out: &Run) {
    assert!(logged(out, "INFO", "agent exited"), "{}", out.stderr());
    assert_eq!(fleet.desired().await, 1, "a job ran: no decrement");
    assert_eq!(fleet.ec2_state(&boot.instance_id).await, "terminated");
    let now = fleet.instance_ids().await;
    assert_eq!(now.len(), 1, "moto launches a replacement: {now:?}");
    assert_ne!(now[0], boot.instance_id);
    let state = boot.agent_dir().join(".imagekit");
    assert!(state.join("job-ran").is_file());
    assert_eq!(std::fs::read_dir(state.join("jobs")).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_registration_is_a_failed_start_with_a_decrement_and_a_mark() {
    let (fleet, boot) = buildkite_fleet(Host::Native, "bk-refused", 2).await;
    let out = run_buildkite(
        &boot,
        serde_json::json!({}),
        &[("STANDIN_REGISTER", "refuse")],
    );
    out.code(1).stderr_any();
    // The real agent's own last line (clicommand/errors.go), on the shared stderr.
    assert!(
        out.stderr().lines().any(|l| l
            == "buildkite-agent: fatal: POST https://agent-edge.buildkite.com/v3/register: 401 Unauthorized"),
        "{}",
        out.stderr()
    );
    assert!(
        logged(&out, "ERROR", "agent exited before registering"),
        "{}",
        out.stderr()
    );
    assert_eq!(fleet.desired().await, 1);
    assert_eq!(fleet.ec2_state(&boot.instance_id).await, "terminated");
    let mark = fleet
        .failed_start_mark()
        .await
        .expect("the group is marked");
    assert!(mark.ends_with(" 1"), "{mark}");
}

/// Starts `run` in the background with a job that runs until `release` exists; returns once the
/// job's command runs.
fn spawn_mid_job(boot: &Boot, grace: u64, release: &Path) -> std::process::Child {
    let config = boot.config(buildkite_config(
        boot,
        serde_json::json!({"interruption_grace_period": grace}),
    ));
    let started = boot.dir.path().join("job-started");
    let job = format!(
        "while [ ! -e '{}' ]; do sleep 0.05; done",
        release.display()
    );
    let child = boot
        .cmd()
        .args(["run", "--log-format", "json", "--config"])
        .arg(&config)
        .env("STANDIN_JOB", job)
        .env("STANDIN_JOB_STARTED", &started)
        .into_command()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the job to start", || started.exists());
    child
}

fn interrupts_seen(boot: &Boot) -> String {
    std::fs::read_to_string(boot.agent_dir().join("record/interrupts")).unwrap_or_default()
}

/// A stop mid-job (what systemd sends the bootstrap on shutdown): the agent gets its first
/// SIGTERM and lets the job finish, within the grace period, so no second one comes; the busy
/// signal shows the job meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn a_stop_mid_job_lets_the_job_finish_within_the_grace_period() {
    let (fleet, boot) = buildkite_fleet(Host::Native, "bk-graceful", 2).await;
    let release = boot.dir.path().join("release");
    let child = spawn_mid_job(&boot, 300, &release);
    let jobs = boot.agent_dir().join(".imagekit/jobs");
    assert_eq!(
        std::fs::read_dir(&jobs).unwrap().count(),
        1,
        "the busy signal shows the running job"
    );
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    wait_until("the agent's first SIGTERM", || {
        interrupts_seen(&boot) == "1"
    });
    std::fs::write(&release, "").unwrap();
    let out = Run::new(
        "imagekit-bootstrap run (SIGTERM mid-job)",
        child.wait_with_output().unwrap(),
    );
    out.success().stderr_any();
    assert_token_absent(&boot, &out);
    assert_eq!(boot.record("job-result"), "passed");
    assert_eq!(interrupts_seen(&boot), "1", "no second SIGTERM");
    assert!(
        out.stderr()
            .contains("Received CTRL-C, send again to forcefully kill the agent(s)"),
        "{}",
        out.stderr()
    );
    assert!(
        logged(&out, "INFO", "agent stopped on request"),
        "{}",
        out.stderr()
    );
    assert_eq!(
        std::fs::read_dir(&jobs).unwrap().count(),
        0,
        "the job is over"
    );
    assert_eq!(
        fleet.desired().await,
        2,
        "an interrupted agent keeps its slot"
    );
    assert_eq!(fleet.ec2_state(&boot.instance_id).await, "terminated");
}

/// A job that outlasts the grace period: the supervisor sends the second SIGTERM, which makes the
/// agent cancel the job and leave.
#[tokio::test(flavor = "multi_thread")]
async fn a_job_that_outlasts_the_grace_period_is_cancelled_by_the_second_sigterm() {
    let (fleet, boot) = buildkite_fleet(Host::Native, "bk-cancel", 2).await;
    let release = boot.dir.path().join("never");
    let child = spawn_mid_job(&boot, 1, &release);
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let out = Run::new(
        "imagekit-bootstrap run (SIGTERM, job outlasting the grace)",
        child.wait_with_output().unwrap(),
    );
    out.success().stderr_any();
    assert_token_absent(&boot, &out);
    assert_eq!(interrupts_seen(&boot), "2");
    assert_eq!(boot.record("job-result"), "cancelled");
    assert!(
        logged(&out, "INFO", "sending its signal again"),
        "{}",
        out.stderr()
    );
    assert!(
        out.stderr()
            .contains("Forcefully stopping running jobs and stopping the agent(s) in 10s"),
        "{}",
        out.stderr()
    );
    assert_eq!(fleet.desired().await, 2);
    assert_eq!(fleet.ec2_state(&boot.instance_id).await, "terminated");
}

/// What the agent would refuse or misread is refused with exit 2 before any AWS call, naming the
/// key, by `run`, `show-config` and `imagekit userdata` alike.
#[test]
fn buildkite_configs_the_agent_would_refuse_are_refused_with_exit_2_before_any_aws_call() {
    let account = Account::new();
    let server = ImdsServer::start();
    let boot = Boot::new("i-0bkc0nf1g", &account, server.endpoint_for("i-0bkc0nf1g"));
    install_standin(&boot);
    let section = |extra: serde_json::Value| {
        let mut s = serde_json::json!({"queue": "build"});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        serde_json::json!({ "buildkite": s })
    };
    let table = [
        (
            section(serde_json::json!({"tags": {"queue": "other"}})),
            "config: key `buildkite.tags.queue`: the queue has its own key: set buildkite.queue instead",
        ),
        (
            section(serde_json::json!({"tags": {"os": "linux,arm"}})),
            "config: key `buildkite.tags.os`: \"linux,arm\" holds a `,`, which separates the agent's tags: remove it",
        ),
        (
            section(serde_json::json!({"queue": "a #1"})),
            "config: key `buildkite.queue`: \"a #1\" holds a `#`, which the agent reads as the start of a comment: the agent's config file cannot carry it",
        ),
        (
            section(serde_json::json!({"spawn": 0})),
            "config: key `buildkite.spawn`: is 0, but the agent refuses to start fewer than 1 agent (\"invalid spawn 0, must be at least 1\"): set 1 or more",
        ),
        (
            section(serde_json::json!({"build_path": "builds"})),
            "config: key `buildkite.build_path`: \"builds\" is not absolute: the agent would read another path",
        ),
        (
            serde_json::json!({"env": {"BUILDKITE_PLUGINS_PATH": "/tmp/p"}}),
            "config: key `env`: \"BUILDKITE_PLUGINS_PATH\" is one of the variables buildkite-agent sets itself and keeps from jobs (env/protected.go): set it in the agent's own config, or pick another name",
        ),
        (
            serde_json::json!({"endpoint": "agent.buildkite.com"}),
            "config: key `endpoint`: \"agent.buildkite.com\" is not an http(s) URL: give the agent API's URL, e.g. https://agent-edge.buildkite.com/v3 (the default)",
        ),
        (
            serde_json::json!({"disconnect_after_job": false, "disconnect_after_idle_timeout": 0}),
            "config: key `disconnect_after_idle_timeout`: is 0 with disconnect_after_job false, so the agent never leaves and its instance is never given back: set a timeout, or `static_fleet: true` for a fleet sized by hand",
        ),
    ];
    for (extra, expected) in table {
        let mut doc = serde_json::json!({"agent": "buildkite", "endpoint": null});
        for (k, v) in extra.as_object().unwrap() {
            doc[k] = v.clone();
        }
        let config = boot.config(doc);
        let out = boot
            .cmd()
            .args(["run", "--log-format", "json", "--config"])
            .arg(&config)
            .run();
        out.code(2);
        assert_eq!(
            json_error(&out),
            ("ERROR".to_string(), expected.to_string()),
            "{extra}"
        );
        boot.assert_refused_offline(&config, "linux", expected);
    }
    assert_eq!(
        server.requests(),
        0,
        "no metadata call for a refused config"
    );
    assert!(!boot.agent_dir().join("buildkite-agent.cfg").exists());
    assert!(
        !boot.agent_dir().join("record").exists(),
        "no agent started"
    );
}
