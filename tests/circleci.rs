//! The CircleCI provider end to end: real moto (ASG, SSM, S3), the IMDSv2 stand-in, and the
//! stand-in machine runner (standins/src/bin/circleci_runner_standin.rs), which runs its task
//! through the `command_prefix` the bootstrap wrote, as the real runner runs its task-agent.
//!
//! These tests run as root, as the bootstrap does on an image: the runner runs as root, and the
//! task as `nobody` (the image's `circleci` user here), so that what a job can read is what it
//! could read on an instance. What no stand-in can show: the real runner's HTTP calls (the test
//! tells the stand-in whether "the API" takes the token) and its exit codes, which CircleCI does
//! not document (the provider reads none but 0 against the rest).
//!
//! No test waits on a clock: each waits for a file or a log line the run leaves, bounded only
//! so that a broken run fails instead of hanging.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use crate::bootstrap::{imds, Boot, Host};
use crate::support::cmd::{Cmd, Run};
use crate::support::fleet::{s3_client, Fleet};
use crate::support::imds::{ImdsServer, InstanceMeta};
use crate::support::moto::Account;
use crate::support::wait_until;

/// A fake resource-class token, searched for in everything a boot lets out.
const TOKEN: &str = "circleci-rc-tok-5b8e2f71c0d94a36e1f0";
const TOKEN_PARAMETER: &str = "/imagekit/circleci-token";
/// The task's user: the image's `circleci` user plays `nobody` here.
const TASK_USER: &str = "nobody";

fn standin_runner() -> PathBuf {
    let path = crate::support::bootstrap_bin().with_file_name("circleci_runner_standin");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// One instance with the stand-in runner in its agent dir, laid out as the image lays it out:
/// the boot's dir and the agent dir enterable by the task user, tasks under a sticky dir.
struct Instance {
    boot: Boot,
}

impl Instance {
    fn new(boot: Boot) -> Instance {
        let runner = boot.agent_dir().join("circleci-runner");
        std::fs::copy(standin_runner(), &runner).unwrap();
        for (path, mode) in [
            (boot.dir.path().to_path_buf(), 0o755),
            (boot.agent_dir(), 0o755),
            (runner, 0o755),
        ] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let tasks = boot.dir.path().join("tasks");
        std::fs::create_dir(&tasks).unwrap();
        std::fs::set_permissions(&tasks, std::fs::Permissions::from_mode(0o1777)).unwrap();
        Instance { boot }
    }

    fn workdir(&self) -> PathBuf {
        self.boot.dir.path().join("tasks").join("work")
    }

    fn state(&self) -> PathBuf {
        self.boot.agent_dir().join(".imagekit")
    }

    fn config_path(&self) -> PathBuf {
        self.boot.agent_dir().join("config.yaml")
    }

    /// The CircleCI keys every test needs, plus `extra`.
    fn config(&self, extra: serde_json::Value) -> PathBuf {
        let mut doc = serde_json::json!({
            "agent": "circleci",
            "endpoint": "https://runner.circleci.com",
            "token_parameter": TOKEN_PARAMETER,
            "agent_user": TASK_USER,
            "disconnect_after_idle_timeout": 1,
            "circleci": {
                "working_directory": self.workdir(),
                "cleanup_working_directory": true,
                "max_run_time": 5400,
            },
        });
        for (k, v) in extra.as_object().unwrap() {
            doc[k.as_str()] = v.clone();
        }
        self.boot.config(doc)
    }

    fn cmd(&self, config: &Path, standin: &[(&str, &str)]) -> Cmd {
        self.boot
            .cmd()
            .args(["run", "--log-format", "json", "--config"])
            .arg(config)
            .envs(standin.iter().copied())
    }

    /// Boots to the end; the token must show nowhere it may not.
    fn run(&self, extra: serde_json::Value, standin: &[(&str, &str)]) -> Run {
        let out = self.cmd(&self.config(extra), standin).run();
        self.assert_token_contained(&out);
        out.stderr_any();
        out
    }

    /// Starts the boot in the background, its log in a file, and returns once a task runs.
    fn spawn_with_task(&self, extra: serde_json::Value, task: &str) -> Running {
        let log = self.boot.dir.path().join("run.log");
        let child = self
            .cmd(&self.config(extra), &[("STANDIN_TASK", task)])
            .into_command()
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let running = Running { child, log };
        wait_until("the task's start record", || {
            self.state().join("task-started").exists()
        });
        running
    }

    fn record(&self, name: &str) -> String {
        std::fs::read_to_string(self.boot.agent_dir().join("record").join(name))
            .unwrap_or_else(|e| panic!("the stand-in runner left no {name}: {e}"))
    }

    fn runner_log(&self) -> String {
        std::fs::read_to_string(self.state().join("runner.log")).unwrap_or_default()
    }

    /// The token is in the runner's config only: not in the run's output, the runner's argv or
    /// environment, the task's argv, environment or output, nor the runner's log; and that
    /// config is root's alone, mode 0600.
    fn assert_token_contained(&self, out: &Run) {
        let recorded = |name: &str| {
            std::fs::read_to_string(self.boot.agent_dir().join("record").join(name))
                .unwrap_or_default()
        };
        for (what, text) in [
            ("stdout", out.stdout()),
            ("stderr", out.stderr()),
            ("the runner's argv", recorded("argv")),
            ("the runner's environment", recorded("env")),
            ("the task's argv", recorded("task-argv")),
            ("the task's output", recorded("task-output")),
            ("the task's stderr", recorded("task-stderr")),
            ("the runner's log", self.runner_log()),
        ] {
            assert!(
                !text.contains(TOKEN),
                "the token leaked into {what}:\n{text}"
            );
        }
        if let Ok(meta) = std::fs::metadata(self.config_path()) {
            assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
            assert_eq!(meta.uid(), 0, "the runner config is root's");
        }
    }
}

/// A boot running in the background.
struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_for_line(&self, needle: &str) {
        wait_until(&format!("a log line with {needle:?}"), || {
            self.log().lines().any(|l| l.contains(needle))
        });
    }

    fn finish(self, instance: &Instance) -> Run {
        let output = self.child.wait_with_output().unwrap();
        let output = std::process::Output {
            stderr: std::fs::read(&self.log).unwrap(),
            ..output
        };
        let out = Run::new("imagekit-bootstrap run (background)", output);
        instance.assert_token_contained(&out);
        out
    }
}

/// A moto fleet of `desired`, the token in SSM, and its first instance played by the shared
/// IMDS server as a spot instance in service.
async fn fleet(name: &str, desired: i32) -> (Fleet, Instance) {
    let account = Account::new();
    let fleet = Fleet::create(&account, name, desired).await;
    fleet.put_secure(TOKEN_PARAMETER, TOKEN).await;
    let instance_id = fleet.instance_ids().await[0].clone();
    let mut meta = InstanceMeta::new(&instance_id, &account);
    meta.asg_tag = Some(name.to_string());
    meta.life_cycle = "spot".into();
    meta.target_lifecycle_state = Some("InService".into());
    imds().add(meta);
    let boot = Boot::on(
        Host::Native,
        &instance_id,
        &account,
        imds().endpoint_for(&instance_id),
    );
    (fleet, Instance::new(boot))
}

/// The instance went back without a decrement: terminated, and the group launched another.
async fn assert_replaced(fleet: &Fleet, instance: &Instance, desired: i32) {
    let id = &instance.boot.instance_id;
    assert_eq!(
        fleet.desired().await,
        desired,
        "the desired capacity changed"
    );
    assert_eq!(fleet.ec2_state(id).await, "terminated");
    let now = fleet.instance_ids().await;
    assert_eq!(
        now.len(),
        desired as usize,
        "moto launches a replacement: {now:?}"
    );
    assert!(!now.contains(id), "{now:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_runner_gives_the_instance_back_with_a_decrement() {
    let (fleet, instance) = fleet("cci-idle", 2).await;
    let out = instance.run(serde_json::json!({}), &[]);
    out.success();
    assert_eq!(fleet.desired().await, 1);
    assert_eq!(
        fleet.ec2_state(&instance.boot.instance_id).await,
        "terminated"
    );
    assert!(!fleet
        .instance_ids()
        .await
        .contains(&instance.boot.instance_id));

    // Started as START says, as root, with the config it was given.
    let config_path = instance.config_path();
    assert_eq!(
        instance.record("argv").lines().collect::<Vec<_>>(),
        ["machine", "--config", config_path.to_str().unwrap()]
    );
    assert_eq!(instance.record("uid"), "0", "the runner runs as root");
    assert_eq!(instance.record("config-mode"), "600 0");
    let config: serde_json::Value = serde_json::from_str(&instance.record("config.yaml")).unwrap();
    assert_eq!(config["api"]["auth_token"], TOKEN);
    assert_eq!(config["runner"]["name"], instance.boot.instance_id.as_str());
    assert_eq!(config["runner"]["mode"], "single-task");
    assert_eq!(config["runner"]["idle_timeout"], "1s");
    let err = out.stderr();
    assert!(
        err.contains("runner exited with no task (its idle timeout)"),
        "{err}"
    );
    assert!(err.contains("instance given back"), "{err}");
    assert!(!err.contains("\"level\":\"ERROR\""), "{err}");
}

/// The rendered runner config (the fake token included), with this run's paths and instance
/// id set aside.
#[tokio::test(flavor = "multi_thread")]
async fn the_runner_config_snapshot() {
    let (_fleet, instance) = fleet("cci-snap", 1).await;
    instance.run(serde_json::json!({}), &[]).success();
    let text = instance.record("config.yaml");
    let boot_dir = instance.boot.dir.path().to_str().unwrap().to_string();
    let exe = crate::support::bootstrap_bin();
    let text = text
        .replace(exe.to_str().unwrap(), "[BOOTSTRAP]")
        .replace(&boot_dir, "[BOOT]")
        .replace(&instance.boot.instance_id, "[INSTANCE]");
    insta::assert_snapshot!("circleci_runner_config", text);
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_task_the_instance_is_replaced_and_the_task_never_reaches_the_token() {
    let (fleet, instance) = fleet("cci-task", 1).await;
    s3_client(&fleet.account)
        .create_bucket()
        .bucket("imagekit-cci-cache")
        .send()
        .await
        .unwrap();
    let config = instance.config_path();
    let state = instance.state();
    // What a hostile job would try: read the config, list the state, look for the token in its
    // environment; and what it should see: its user, home, variables and working directory.
    let task = format!(
        "id -u; id -un; echo \"home=$HOME user=$USER\"; echo \"pwd=$(pwd)\"\n\
         if cat '{config}' >/dev/null 2>&1; then echo config=read; else echo config=denied; fi\n\
         if ls '{state}' >/dev/null 2>&1; then echo state=listed; else echo state=denied; fi\n\
         env | sort\n",
        config = config.display(),
        state = state.display(),
    );
    let out = instance.run(
        serde_json::json!({
            "cache_bucket": "imagekit-cci-cache",
            "env": {"JOB_OPTS": "-Dx=y 'q' $HOME"},
        }),
        &[("STANDIN_TASK", &task)],
    );
    out.success();
    assert_replaced(&fleet, &instance, 1).await;

    let output = instance.record("task-output");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines[0], "65534", "{output}");
    assert_eq!(lines[1], TASK_USER, "{output}");
    assert_eq!(lines[2], "home=/nonexistent user=nobody", "{output}");
    assert_eq!(
        lines[3],
        format!("pwd={}", instance.workdir().display()),
        "{output}"
    );
    assert_eq!(lines[4], "config=denied", "{output}");
    assert_eq!(lines[5], "state=denied", "{output}");
    for var in [
        "IMAGEKIT_CACHE_BUCKET=imagekit-cci-cache".to_string(),
        format!("AWS_REGION={}", fleet.account.region),
        format!("AWS_DEFAULT_REGION={}", fleet.account.region),
        "JOB_OPTS=-Dx=y 'q' $HOME".to_string(),
    ] {
        assert!(
            lines.contains(&var.as_str()),
            "{var} not in the task's env:\n{output}"
        );
    }
    assert!(
        !output.contains("CIRCLECI_RUNNER_API_AUTH_TOKEN"),
        "{output}"
    );
    assert_eq!(instance.record("task-exit"), "Some(0)");
    // The task-agent got the runner's arguments, hyphens and all, through the prefix.
    let argv = instance.record("task-argv");
    let argv: Vec<&str> = argv.lines().collect();
    assert_eq!(argv[1], "circleci-task", "{argv:?}");
    assert_eq!(argv[argv.len() - 2], "--working-directory", "{argv:?}");
    assert!(
        !instance.workdir().exists(),
        "cleanup_working_directory: the runner removed it after the task"
    );
    let err = out.stderr();
    assert!(err.contains("\"task_ran\":true"), "{err}");
    assert!(!err.contains("\"level\":\"ERROR\""), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_token_gives_the_instance_back_as_a_failed_start() {
    let (fleet, instance) = fleet("cci-refused", 2).await;
    // No idle timeout: the runner would poll with its refused token for ever; the supervisor,
    // reading the refusal from its log, stops it.
    let out = instance.run(
        serde_json::json!({"disconnect_after_idle_timeout": 0}),
        &[("STANDIN_REFUSE_TOKEN", "1")],
    );
    out.code(1);
    let err = out.stderr();
    assert!(
        err.lines()
            .any(|l| l.contains("forwarding signal to the agent")
                && l.contains("\"cause\":\"refused by its control plane\"")),
        "{err}"
    );
    let line = err
        .lines()
        .find(|l| l.contains("refused its token"))
        .unwrap_or_else(|| panic!("no line about the refused token:\n{err}"));
    assert!(line.contains("\"level\":\"ERROR\""), "{line}");
    assert!(instance
        .runner_log()
        .contains("http.response.status_code=401"));
    assert_eq!(
        fleet.desired().await,
        1,
        "a failed start lowers the desired capacity"
    );
    assert_eq!(
        fleet.ec2_state(&instance.boot.instance_id).await,
        "terminated"
    );
    let mark = fleet
        .failed_start_mark()
        .await
        .expect("the group is marked");
    assert!(mark.ends_with(" 1"), "{mark}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_mid_task_drains_the_runner_then_gives_the_instance_back_as_interrupted() {
    let (fleet, instance) = fleet("cci-stop", 2).await;
    let release = instance.boot.dir.path().join("release");
    let task = format!(
        "while [ ! -e '{}' ]; do sleep 0.05; done; echo finished",
        release.display()
    );
    // The task has the grace period to finish.
    let run = instance.spawn_with_task(serde_json::json!({"interruption_grace_period": 60}), &task);
    // What systemd or launchd does on shutdown.
    unsafe { libc::kill(run.child.id() as libc::pid_t, libc::SIGTERM) };
    run.wait_for_line("forwarding signal to the agent");
    // DOCS: on TERM the runner drains, and the running task may finish.
    wait_until("the runner's drain", || {
        instance.runner_log().contains("draining")
    });
    std::fs::write(&release, "").unwrap();
    let out = run.finish(&instance);
    out.success();
    assert_eq!(instance.record("task-output"), "finished\n");
    assert_eq!(instance.record("task-exit"), "Some(0)");
    let err = out.stderr_any().stderr();
    assert!(err.contains("\"stop_requested\":true"), "{err}");
    assert!(!err.contains("\"level\":\"ERROR\""), "{err}");
    assert!(!err.contains("sending its signal again"), "{err}");
    assert_replaced(&fleet, &instance, 2).await;
}

/// A task that outlasts the grace period is cancelled by the runner, on the bootstrap's second
/// TERM (DOCS: "An additional TERM signal" ends the drain and the runner TERMs the task-agent),
/// never by killing the runner under it.
#[tokio::test(flavor = "multi_thread")]
async fn a_task_that_outlasts_the_grace_period_is_cancelled_by_a_second_term() {
    let (fleet, instance) = fleet("cci-cancel", 2).await;
    let task = "trap 'echo cancelled; exit 143' TERM; while :; do sleep 0.05; done";
    let run = instance.spawn_with_task(serde_json::json!({"interruption_grace_period": 1}), task);
    unsafe { libc::kill(run.child.id() as libc::pid_t, libc::SIGTERM) };
    let out = run.finish(&instance);
    out.success();
    let log = instance.runner_log();
    assert!(log.contains("draining"), "{log}");
    assert!(
        log.contains("received another TERM, cancelling the task"),
        "{log}"
    );
    assert_eq!(instance.record("task-output"), "cancelled\n");
    assert_eq!(instance.record("task-exit"), "Some(143)");
    let err = out.stderr_any().stderr();
    assert!(err.contains("sending its signal again"), "{err}");
    assert!(!err.contains("killing it"), "{err}");
    assert!(err.contains("\"stop_requested\":true"), "{err}");
    assert_replaced(&fleet, &instance, 2).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_running_task_is_the_busy_signal() {
    let (fleet, instance) = fleet("cci-busy", 2).await;
    let release = instance.boot.dir.path().join("release");
    let task = format!(
        "while [ ! -e '{}' ]; do sleep 0.05; done",
        release.display()
    );
    let run = instance.spawn_with_task(serde_json::json!({"watch_interval": "100ms"}), &task);
    // A rebalance recommendation lets a busy agent finish (an idle one is stopped at once).
    imds().update(&instance.boot.instance_id, |m| m.rebalance = true);
    run.wait_for_line("\"seen\":\"rebalance recommendation\"");
    std::fs::write(&release, "").unwrap();
    let out = run.finish(&instance);
    out.success();
    let log = out.stderr_any().stderr();
    let seen: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"seen\":\"rebalance recommendation\""))
        .collect();
    assert_eq!(seen.len(), 1, "{log}");
    assert!(seen[0].contains("\"busy\":\"running\""), "{}", seen[0]);
    assert!(!log.contains("forwarding signal"), "{log}");
    assert_replaced(&fleet, &instance, 2).await;
}

/// What the runner would refuse, or a config that cannot work, exits 2 with one line before any
/// AWS call, in `run`, `show-config` and `imagekit userdata` alike.
#[test]
fn configs_the_runner_would_refuse_are_refused_with_exit_2_before_any_aws_call() {
    let account = Account::new();
    let server = ImdsServer::start();
    let boot = Boot::new(
        "i-0cc1refused",
        &account,
        server.endpoint_for("i-0cc1refused"),
    );
    let instance = Instance::new(boot);
    let agent_dir = instance.boot.agent_dir();
    let table = [
        (
            serde_json::json!({"circleci": {"working_directory": "work"}}),
            "config: key `circleci.working_directory`: \"work\" is relative, but the runner takes a fully qualified path: start it at the root, e.g. /Users/circleci/workdir".to_string(),
        ),
        (
            serde_json::json!({"circleci": {"working_directory": "/tmp/%s"}}),
            "config: key `circleci.working_directory`: \"/tmp/%s\" holds %s, which machine runner 3 no longer substitutes (it would be a literal directory name): remove it".to_string(),
        ),
        (
            serde_json::json!({"circleci": {"working_directory": agent_dir.join("work")}}),
            format!(
                "config: key `circleci.working_directory`: {:?} overlaps the agent dir {:?}, which holds the runner's config and token: put tasks elsewhere, e.g. /Users/circleci/workdir",
                agent_dir.join("work").display().to_string(),
                agent_dir.display().to_string()
            ),
        ),
        (
            serde_json::json!({"circleci": {"max_run_time": 0}}),
            "config: key `circleci.max_run_time`: is 0: a task needs at least 1 s; leave the key out for the runner's default of 5 h".to_string(),
        ),
        (
            serde_json::json!({"endpoint": "ftp://runner.circleci.com"}),
            "config: key `endpoint`: \"ftp://runner.circleci.com\" has the scheme ftp://, but the runner speaks HTTP(S): give the runner API's URL, e.g. https://runner.circleci.com (the default), or your CircleCI Server's".to_string(),
        ),
        (
            serde_json::json!({"env": {"A=B": "x"}}),
            "config: key `env`: \"A=B\" is not an environment variable name: it must be non-empty, without `=` or NUL".to_string(),
        ),
        (
            serde_json::json!({"disconnect_after_job": false, "disconnect_after_idle_timeout": 0}),
            "config: key `disconnect_after_idle_timeout`: is 0 with disconnect_after_job false, so the agent never leaves and its instance is never given back: set a timeout, or `static_fleet: true` for a fleet sized by hand".to_string(),
        ),
        (
            serde_json::json!({"interruption_grace_period": 541}),
            "config: key `interruption_grace_period`: 541 s is over 540 s: the image's service manager kills the bootstrap 600 s into a stop, and the agent's shutdown and the give-back need the last 60".to_string(),
        ),
    ];
    for (extra, expected) in table {
        let config = instance.config(extra.clone());
        let out = instance.cmd(&config, &[]).run();
        out.code(2);
        let line: serde_json::Value = serde_json::from_str(&out.one_line_error()).unwrap();
        assert_eq!(line["level"], "ERROR", "{extra}");
        assert_eq!(line["message"], expected.as_str(), "{extra}");
        instance
            .boot
            .assert_refused_offline(&config, "macos", &expected);
    }
    assert_eq!(
        server.requests(),
        0,
        "no metadata call for a refused config"
    );
    assert!(!instance.config_path().exists());

    // The same keys, within the rules, pass all three.
    let config = instance.config(serde_json::json!({}));
    let out = instance
        .boot
        .cmd()
        .args(["show-config", "--config"])
        .arg(&config)
        .run();
    out.success().stderr_is("");
    let shown: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(shown["endpoint"], "https://runner.circleci.com");
    Cmd::imagekit()
        .args(["userdata", "--os", "macos", "--config"])
        .arg(&config)
        .run()
        .success();
}

/// The wrapper refuses to run a task it cannot record or whose variables it cannot read, in one
/// line, and never without the task-agent's command.
#[test]
fn the_task_wrapper_without_its_state_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ran = dir.path().join("ran");
    let out = Cmd::bootstrap()
        .args(["circleci-task", "--state-dir"])
        .arg(dir.path().join("absent"))
        .args(["--", "/bin/sh", "-c"])
        .arg(format!("touch '{}'", ran.display()))
        .run();
    out.code(1).stderr_is(&format!(
        "imagekit-bootstrap circleci-task: reading the task environment {}: No such file or directory (os error 2)\n",
        dir.path().join("absent").join("task-env").display()
    ));
    assert!(!ran.exists());
    let out = Cmd::bootstrap()
        .args(["circleci-task", "--state-dir"])
        .arg(dir.path())
        .run();
    out.code(2).stderr_is(
        "error: the following required arguments were not provided:\n  <TASK_AGENT>...\n\n\
         Usage: imagekit-bootstrap circleci-task --state-dir <DIR> -- <TASK_AGENT>...\n\n\
         For more information, try '--help'.\n",
    );
    // Hidden from --help: the runner runs it, never a person.
    let help = Cmd::bootstrap().arg("--help").run();
    assert!(
        !help.stdout().contains("circleci-task"),
        "{}",
        help.stdout()
    );
}
