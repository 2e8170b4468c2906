//! `imagekit-bootstrap` end to end: real moto (ASG, SSM, S3), the IMDSv2 stand-in, and a
//! stand-in agent script that records how it was started and calls its shutdown hook.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::support::cmd::{Cmd, Run};
use crate::support::dist::{qemu_aarch64, qemu_bootstrap, wine_path, WineExe};
use crate::support::fleet::{s3_client, Fleet};
use crate::support::imds::{ImdsServer, InstanceMeta};
use crate::support::moto::Account;

const TOKEN: &str = "sem-agent-tok-7f3c9b1e5d2a4c68";

/// The Unix stand-in Semaphore agent (standins/src/bin/semaphore_agent_standin.rs): it refuses
/// a config as the real agent does, registers or not, runs a job whose shell sources the
/// pre-job hook, calls the shutdown hook with `$STANDIN_REASON`, and records what it was given.
fn standin_agent() -> PathBuf {
    let path = crate::support::bootstrap_bin().with_file_name("semaphore_agent_standin");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

pub fn imds() -> &'static ImdsServer {
    static IMDS: OnceLock<ImdsServer> = OnceLock::new();
    IMDS.get_or_init(ImdsServer::start)
}

/// Which build of `imagekit-bootstrap` plays the instance, and so how it names paths.
pub enum Host {
    /// This build's own binary.
    Native,
    /// The static aarch64 dist binary under qemu-user.
    Qemu,
    /// The Windows dist exe under wine, with the test-only PRNG shim beside it.
    Wine(WineExe),
}

/// One instance's boot: a temp dir with the agent dir, config files and a power-off recorder.
pub struct Boot {
    pub dir: tempfile::TempDir,
    pub instance_id: String,
    pub account: Account,
    pub imds_endpoint: String,
    pub host: Host,
}

impl Boot {
    pub fn new(instance_id: &str, account: &Account, imds_endpoint: String) -> Boot {
        Boot::on(Host::Native, instance_id, account, imds_endpoint)
    }

    pub fn on(host: Host, instance_id: &str, account: &Account, imds_endpoint: String) -> Boot {
        let dir = tempfile::tempdir().unwrap();
        let agent_dir = dir.path().join("agent");
        std::fs::create_dir_all(&agent_dir).unwrap();
        if let Host::Wine(_) = host {
            let standin = crate::support::dist::standin_agent_exe();
            std::fs::copy(standin, agent_dir.join("agent.exe")).unwrap();
            std::fs::copy(standin, dir.path().join("poweroff.exe")).unwrap();
        } else {
            let agent = agent_dir.join("agent");
            std::fs::copy(standin_agent(), &agent).unwrap();
            let recorder = dir.path().join("poweroff");
            std::fs::write(
                &recorder,
                "#!/bin/sh\necho \"$@\" > \"$(dirname \"$0\")/powered-off\"\n",
            )
            .unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                for p in [&agent, &recorder] {
                    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
                }
            }
        }
        Boot {
            dir,
            instance_id: instance_id.into(),
            account: account.clone(),
            imds_endpoint,
            host,
        }
    }

    pub fn agent_dir(&self) -> PathBuf {
        self.dir.path().join("agent")
    }

    /// Writes only what an image bakes (the agent dir and the test's power-off recorder) as the
    /// baked config, for boots whose other keys come from a config parameter; returns its path.
    pub fn baked(&self) -> PathBuf {
        let baked = self.dir.path().join("baked.json");
        let doc = serde_json::json!({
            "agent_dir": self.agent_dir(),
            "poweroff_command": [self.dir.path().join("poweroff")],
            "log_shipping_command": [],
        });
        std::fs::write(&baked, doc.to_string()).unwrap();
        baked
    }

    /// `path` as the binary under test names it (wine: on drive Z:).
    pub fn guest_path(&self, path: &Path) -> PathBuf {
        match self.host {
            Host::Wine(_) => wine_path(path),
            _ => path.to_path_buf(),
        }
    }

    pub fn record(&self, name: &str) -> String {
        std::fs::read_to_string(self.agent_dir().join("record").join(name))
            .unwrap_or_else(|e| panic!("the stand-in agent left no {name}: {e}"))
    }

    pub fn powered_off(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join("powered-off")).ok()
    }

    /// Writes the `--config` file: the native keys every test needs, plus `extra`.
    pub fn config(&self, extra: serde_json::Value) -> PathBuf {
        let poweroff = match self.host {
            Host::Wine(_) => "poweroff.exe",
            _ => "poweroff",
        };
        let mut doc = serde_json::json!({
            "endpoint": "example.semaphoreci.com",
            "token_parameter": "/imagekit/agent-token",
            "agent_dir": self.guest_path(&self.agent_dir()),
            "boot_timeout": 20,
            "poweroff_command": [self.guest_path(&self.dir.path().join(poweroff))],
            // No CloudWatch agent here: tests/watch.rs plays one where it is the subject.
            "log_shipping_command": [],
        });
        let serde_json::Value::Object(extra) = extra else {
            panic!("extra must be an object")
        };
        for (k, v) in extra {
            if v.is_null() {
                doc.as_object_mut().unwrap().remove(&k);
            } else {
                doc[k] = v;
            }
        }
        let path = self.dir.path().join("config.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
        path
    }

    /// `imagekit-bootstrap` with this instance's environment. Credentials come from the IMDS
    /// stand-in (instance profile), as on EC2; only the endpoint points at moto.
    pub fn cmd(&self) -> Cmd {
        let base = match &self.host {
            Host::Native => Cmd::bootstrap(),
            // qemu-user without binfmt_misc: the stand-in agent (a host shell script) must call
            // the aarch64 hook binary through qemu too.
            Host::Qemu => qemu_bootstrap().env("STANDIN_EMULATOR", qemu_aarch64()),
            Host::Wine(exe) => exe.cmd(),
        };
        base.env_remove("AWS_EC2_METADATA_DISABLED")
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &self.imds_endpoint)
            .env("AWS_ENDPOINT_URL", &self.account.endpoint)
            .env(
                "IMAGEKIT_BAKED_CONFIG",
                self.guest_path(&self.dir.path().join("baked-absent.json")),
            )
            .env("IMAGEKIT_LOG_DIR", self.guest_path(&self.log_dir()))
    }

    /// Where the boot keeps its own log files (and the CloudWatch agent's config).
    pub fn log_dir(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    /// Boots with `--config` (the base keys plus `extra`). Whatever the outcome, the token must
    /// show in none of the output, nor in the agent's argv or environment.
    pub fn run(&self, extra: serde_json::Value, reason: Option<&str>, exit: i32) -> Run {
        self.run_with(extra, &[], reason, exit)
    }

    /// [`Boot::run`], with `standin` passed to the stand-in agent (e.g. `STANDIN_JOB`).
    pub fn run_with(
        &self,
        extra: serde_json::Value,
        standin: &[(&str, &str)],
        reason: Option<&str>,
        exit: i32,
    ) -> Run {
        let config = self.config(extra);
        let mut cmd = self
            .cmd()
            .args(["run", "--log-format", "json", "--config"])
            .arg(self.guest_path(&config))
            .envs(standin.iter().copied())
            .env("STANDIN_EXIT", exit.to_string());
        if let Some(reason) = reason {
            cmd = cmd.env("STANDIN_REASON", reason);
        }
        let out = cmd.run();
        self.assert_token_absent(&out);
        // The boot's log carries timestamps, instance ids, pids and random agent names: each
        // test checks the lines it is about, and the token check above reads all of it.
        out.stderr_any();
        out
    }

    /// Searches everything this boot let out for the token: the run's output, and the argv and
    /// environment the stand-in agent recorded.
    pub fn assert_token_absent(&self, out: &Run) {
        let recorded = |name: &str| {
            std::fs::read_to_string(self.agent_dir().join("record").join(name)).unwrap_or_default()
        };
        assert_token_absent(&[
            ("stdout", &out.stdout()),
            ("stderr", &out.stderr()),
            ("the agent's argv", &recorded("argv")),
            ("the agent's environment", &recorded("env")),
        ]);
    }
}

/// A moto fleet of `desired` instances, the first one played by the shared IMDS server.
async fn fleet(name: &str, desired: i32, asg_tag: bool) -> (Fleet, Boot) {
    fleet_on(Host::Native, name, desired, asg_tag).await
}

/// [`fleet`], with the instance played by `host`'s build of the bootstrap.
pub async fn fleet_on(host: Host, name: &str, desired: i32, asg_tag: bool) -> (Fleet, Boot) {
    let account = Account::new();
    let fleet = Fleet::create(&account, name, desired).await;
    fleet.put_secure("/imagekit/agent-token", TOKEN).await;
    let instance_id = fleet.instance_ids().await[0].clone();
    let mut meta = InstanceMeta::new(&instance_id, &account);
    if asg_tag {
        meta.asg_tag = Some(name.to_string());
    }
    imds().add(meta);
    let boot = Boot::on(
        host,
        &instance_id,
        &account,
        imds().endpoint_for(&instance_id),
    );
    (fleet, boot)
}

fn assert_token_absent(texts: &[(&str, &str)]) {
    for (what, text) in texts {
        assert!(
            !text.contains(TOKEN),
            "the token leaked into {what}:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_agent_terminates_instance_and_lowers_desired_capacity() {
    let (fleet, boot) = fleet("idle", 2, true).await;
    assert_idle_boot_given_back(&fleet, &boot).await;
    let mode = boot.record("config-mode");
    let uid = unsafe { libc::getuid() };
    assert_eq!(mode.trim(), format!("600 {uid}"));
}

/// Boots `boot` with an agent that stops IDLE, and checks the whole journey: the agent started
/// as documented with the token in its config only, JSON logs, and the instance gone from moto
/// with the ASG's desired capacity one lower.
pub async fn assert_idle_boot_given_back(fleet: &Fleet, boot: &Boot) {
    let out = boot.run(serde_json::json!({}), Some("IDLE"), 0);
    out.success();

    assert_eq!(fleet.desired().await, 1);
    assert!(!fleet.instance_ids().await.contains(&boot.instance_id));
    assert_eq!(fleet.ec2_state(&boot.instance_id).await, "terminated");
    assert!(boot.powered_off().is_none());

    let argv = boot.record("argv");
    let config_path = boot.guest_path(&boot.agent_dir().join("config.yaml"));
    assert_eq!(
        argv.lines().collect::<Vec<_>>(),
        ["start", "--config-file", config_path.to_str().unwrap()]
    );
    let config: serde_json::Value = serde_json::from_str(&boot.record("config.yaml")).unwrap();
    assert_eq!(config["token"], TOKEN);
    assert_eq!(config["endpoint"], "example.semaphoreci.com");
    let name = config["name"].as_str().unwrap();
    assert!(
        name.starts_with(&format!("{}__", boot.instance_id))
            && name.len() > boot.instance_id.len() + 2,
        "{name}"
    );
    assert_eq!(config["disconnect-after-job"], true);
    assert_eq!(config["disconnect-after-idle-timeout"], 300);
    if let Host::Wine(_) = boot.host {
        // The Windows side of mode 0600, as the agent reads it back. Wine accepts the private
        // DACL but keeps only what Unix mode bits can say, so the exact SDDL cannot be checked
        // here; what can is that Everyone (WD) and Users (BU), which a file under C:\ or Z:\
        // otherwise gets, have no entry.
        let acl = boot.record("config-acl");
        assert!(acl.starts_with("D:"), "{acl}");
        assert!(!acl.contains(";WD)") && !acl.contains(";BU)"), "{acl}");
    }
    let hook = config["shutdown-hook-path"].as_str().unwrap();
    let launcher = boot
        .agent_dir()
        .join(if matches!(boot.host, Host::Wine(_)) {
            "imagekit-shutdown-hook.ps1"
        } else {
            "imagekit-shutdown-hook.sh"
        });
    assert_eq!(Path::new(hook), boot.guest_path(&launcher));
    assert!(
        launcher.is_file(),
        "no hook launcher at {}",
        launcher.display()
    );

    // Logs are JSON lines and say what happened.
    let err = out.stderr();
    for line in err.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
    }
    assert!(err.contains("instance given back"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn job_finished_terminates_without_decrement_and_the_asg_replaces_it() {
    let (fleet, boot) = fleet("finished", 1, false).await;
    boot.run(serde_json::json!({}), Some("JOB_FINISHED"), 0)
        .success();

    assert_eq!(fleet.desired().await, 1);
    assert_eq!(fleet.ec2_state(&boot.instance_id).await, "terminated");
    let now = fleet.instance_ids().await;
    assert_eq!(now.len(), 1, "moto launches a replacement: {now:?}");
    assert_ne!(now[0], boot.instance_id);
}

#[tokio::test(flavor = "multi_thread")]
async fn crashed_agent_is_given_back_without_decrement_and_an_error_line() {
    let (fleet, boot) = fleet("crash", 1, true).await;
    let out = boot.run(serde_json::json!({}), None, 3);
    out.code(1);
    let err = out.stderr();
    let line = err
        .lines()
        .find(|l| l.contains("without recording a shutdown reason"))
        .unwrap_or_else(|| panic!("no error line about the crash:\n{err}"));
    assert!(line.contains("\"level\":\"ERROR\""), "{line}");
    assert_eq!(fleet.desired().await, 1);
    assert_eq!(fleet.ec2_state(&boot.instance_id).await, "terminated");
    assert!(!fleet.instance_ids().await.contains(&boot.instance_id));
}

impl Boot {
    /// `show-config` and `imagekit userdata --os OS` refuse `config` with the line `run` gave,
    /// `expected`: the one check serves all three, before any AWS call.
    pub fn assert_refused_offline(&self, config: &Path, os: &str, expected: &str) {
        let out = self
            .cmd()
            .args(["show-config", "--config"])
            .arg(config)
            .run();
        out.code(2);
        out.stderr_is(&format!("error: {expected}\n"));
        let out = Cmd::imagekit()
            .args(["userdata", "--os", os, "--config"])
            .arg(config)
            .run();
        out.code(2);
        out.stderr_is(&format!("error: {}: {expected}\n", config.display()));
    }

    /// Starts `run` in the background with an agent that holds until `release` exists (and then
    /// stops with `reason`), and returns once the agent runs.
    fn spawn_holding(&self, release: &Path, reason: Option<&str>) -> std::process::Child {
        let config = self.config(serde_json::json!({}));
        let mut cmd = self
            .cmd()
            .args(["run", "--log-format", "json", "--config"])
            .arg(&config)
            .env("STANDIN_WAIT_FOR", release);
        if let Some(reason) = reason {
            cmd = cmd.env("STANDIN_REASON", reason);
        }
        let child = cmd
            .into_command()
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let argv = self.agent_dir().join("record").join("argv");
        let started = std::time::Instant::now();
        while !argv.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the run never started its agent"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_passed_to_the_agent_gives_the_instance_back_as_interrupted() {
    let (fleet, boot) = fleet("stopped", 2, true).await;
    let child = boot.spawn_holding(&boot.dir.path().join("never"), None);
    // What systemd does on shutdown; the stand-in agent takes it as the real one does (its
    // graceful stop: the hook with INTERRUPTED).
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let out = Run::new(
        "imagekit-bootstrap run (SIGTERM)",
        child.wait_with_output().unwrap(),
    );
    out.success();
    boot.assert_token_absent(&out);
    // The boot's log: the lines this test is about are checked below.
    let err = out.stderr_any().stderr();
    assert!(err.contains("forwarding signal to the agent"), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("\"reason\":\"INTERRUPTED\"") && l.contains("\"level\":\"INFO\"")),
        "no INTERRUPTED line:\n{err}"
    );
    assert!(!err.contains("\"level\":\"ERROR\""), "{err}");
    assert_eq!(
        fleet.desired().await,
        2,
        "an interrupted agent keeps its slot"
    );
    assert_eq!(fleet.ec2_state(&boot.instance_id).await, "terminated");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_while_the_first_supervises_its_agent_changes_nothing() {
    let (fleet, boot) = fleet("second", 2, true).await;
    let release = boot.dir.path().join("release");
    let config = boot.config(serde_json::json!({}));
    let first = boot.spawn_holding(&release, Some("IDLE"));
    // The identity document, which every boot reads first (the first run's watch reads other
    // items meanwhile).
    let identity_reads = || imds().served(&boot.instance_id, "dynamic/instance-identity/document");
    let imds_before = identity_reads();

    let second = boot
        .cmd()
        .args(["run", "--log-format", "human", "--config"])
        .arg(&config)
        .run();
    second.code(1);
    let line = second.one_line_error();
    assert!(line.contains("already supervises the agent"), "{line}");
    assert!(line.contains(boot.agent_dir().to_str().unwrap()), "{line}");
    assert_eq!(
        identity_reads(),
        imds_before,
        "the second run read instance metadata"
    );
    assert_eq!(
        fleet.desired().await,
        2,
        "the second run gave something back"
    );

    std::fs::write(&release, "").unwrap();
    let first = Run::new(
        "the first imagekit-bootstrap run",
        first.wait_with_output().unwrap(),
    );
    // The boot's log: what this test is about is the group and the instance, below.
    first.success().stderr_any();
    assert_eq!(fleet.desired().await, 1);
    assert_eq!(fleet.ec2_state(&boot.instance_id).await, "terminated");
}

#[tokio::test(flavor = "multi_thread")]
async fn giving_back_twice_is_harmless() {
    let (fleet, boot) = fleet("twice", 2, true).await;
    boot.run(serde_json::json!({}), Some("IDLE"), 0).success();
    // A second boot of the same (now terminated) instance finds it gone and changes nothing.
    let out = boot.run(serde_json::json!({}), Some("IDLE"), 0);
    out.success().stderr_contains("already left its ASG");
    assert_eq!(fleet.desired().await, 1);
    assert!(boot.powered_off().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn outside_an_asg_the_configured_poweroff_command_runs() {
    let account = Account::new();
    let ec2 = account.ec2(&account.region);
    let image = ec2
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .unwrap()
        .images()[0]
        .image_id()
        .unwrap()
        .to_string();
    let run = ec2
        .run_instances()
        .image_id(image)
        .min_count(1)
        .max_count(1)
        .send()
        .await
        .unwrap();
    let instance_id = run.instances()[0].instance_id().unwrap().to_string();
    crate::support::fleet::ssm_client(&account)
        .put_parameter()
        .name("/imagekit/agent-token")
        .value(TOKEN)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    imds().add(InstanceMeta::new(&instance_id, &account));
    let boot = Boot::new(&instance_id, &account, imds().endpoint_for(&instance_id));
    boot.run(serde_json::json!({}), Some("IDLE"), 0).success();
    assert!(boot.powered_off().is_some(), "the recorder did not run");
}

#[tokio::test(flavor = "multi_thread")]
async fn cache_bucket_is_checked_and_reaches_the_job_environment() {
    let (fleet, boot) = fleet("cache", 1, true).await;
    s3_client(&fleet.account)
        .create_bucket()
        .bucket("imagekit-cache-ok")
        .send()
        .await
        .unwrap();
    let names = [
        "SEMAPHORE_CACHE_BACKEND",
        "SEMAPHORE_CACHE_S3_BUCKET",
        "SEMAPHORE_CACHE_USE_EC2_INSTANCE_PROFILE",
        "FOO",
    ];
    boot.run_with(
        serde_json::json!({"cache_bucket": "imagekit-cache-ok", "env": {"FOO": "bar baz"}}),
        &[("STANDIN_JOB", &job_printing(&boot, &names))],
        Some("IDLE"),
        0,
    )
    .success();
    // The agent's own `env-vars` stays empty: the variables reach the job through the pre-job
    // hook, which the stand-in's job shell sources as the real agent's does.
    let config: serde_json::Value = serde_json::from_str(&boot.record("config.yaml")).unwrap();
    assert_eq!(config["env-vars"], serde_json::json!([]));
    assert_eq!(boot.record("job-result"), "passed");
    let seen: Vec<String> = names
        .iter()
        .map(|n| boot.record(&format!("job-{n}")))
        .collect();
    assert_eq!(seen, ["s3", "imagekit-cache-ok", "true", "bar baz"]);
    let mode = std::fs::metadata(boot.agent_dir().join(".imagekit/job-env")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(mode.permissions().mode() & 0o777, 0o600);
    assert!(
        boot.agent_dir().join(".imagekit/job-started").is_file(),
        "the hook records the job's start (busy)"
    );
}

/// A job (bash) that writes each variable of `names` to `record/job-<name>`, byte for byte.
fn job_printing(boot: &Boot, names: &[&str]) -> String {
    let rec = boot.agent_dir().join("record");
    names
        .iter()
        .map(|n| format!("printf '%s' \"${{{n}}}\" > '{}/job-{n}'\n", rec.display()))
        .collect()
}

/// Acceptance 1 (issue 14): awkward values boot, and the job sees each byte for byte.
#[tokio::test(flavor = "multi_thread")]
async fn awkward_env_values_reach_the_job_byte_for_byte() {
    let (_fleet, boot) = fleet("awkward", 1, true).await;
    let values = [
        ("JAVA_OPTS", "-Dx=y -Dz=w"),
        ("B64", "YWJjZA=="),
        ("URL", "https://h/p?a=1&b=2#f"),
        ("QUOTES", "it's \"quoted\""),
        ("DOLLAR", "$HOME ${X} $(id) `id`"),
        ("BACKSLASH", "a\\b\\"),
        ("NEWLINES", "one\ntwo\n"),
        ("UNICODE", "é ü 日本 🚀"),
        ("EMPTY", ""),
    ];
    let env: serde_json::Map<String, serde_json::Value> = values
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
        .collect();
    let names: Vec<&str> = values.iter().map(|(k, _)| *k).collect();
    let out = boot.run_with(
        serde_json::json!({ "env": env, "endpoint": "https://example.semaphoreci.com/" }),
        &[("STANDIN_JOB", &job_printing(&boot, &names))],
        Some("IDLE"),
        0,
    );
    out.success();
    assert_eq!(boot.record("job-result"), "passed");
    for (name, value) in values {
        assert_eq!(boot.record(&format!("job-{name}")), value, "{name}");
    }
    // The pasted URL reached the agent as its host name, with a warning for each part dropped.
    let config: serde_json::Value = serde_json::from_str(&boot.record("config.yaml")).unwrap();
    assert_eq!(config["endpoint"], "example.semaphoreci.com");
    let err = out.stderr();
    let warned = |says: &str| {
        err.lines()
            .filter(|l| l.contains("\"level\":\"WARN\"") && l.contains(says))
            .count()
    };
    assert_eq!(warned("dropped the scheme"), 1, "{err}");
    assert_eq!(warned("dropped the trailing slash"), 1, "{err}");
}

/// Acceptance 1 (issue 14): what the agent would die on, or misread, is refused with exit 2
/// before any AWS call, naming the key, by `run`, `show-config` and `imagekit userdata` alike.
///
/// Long by design: one table of refused configs, each row run through the three commands.
#[test]
fn configs_the_agent_would_refuse_are_refused_with_exit_2_before_any_aws_call() {
    let account = Account::new();
    let server = ImdsServer::start();
    let boot = Boot::new("i-0awkward1", &account, server.endpoint_for("i-0awkward1"));
    let fix = "give the host name alone, e.g. acme.semaphoreci.com";
    let table = [
        (
            serde_json::json!({"endpoint": "http://example.semaphoreci.com"}),
            format!("config: key `endpoint`: \"http://example.semaphoreci.com\" has the scheme http://, but the agent speaks https only and adds it itself: {fix}"),
        ),
        (
            serde_json::json!({"endpoint": "https://example.semaphoreci.com/api/v1"}),
            format!("config: key `endpoint`: \"https://example.semaphoreci.com/api/v1\" has a path, but the agent appends its own (/api/v1/...): {fix}"),
        ),
        (
            serde_json::json!({"endpoint": "example.semaphoreci.com?x=1"}),
            format!("config: key `endpoint`: \"example.semaphoreci.com?x=1\" is not a host name: {fix}"),
        ),
        (
            serde_json::json!({"env": {"JAVA-OPTS": "x"}}),
            "config: key `env`: \"JAVA-OPTS\" is not a shell variable name: use letters, digits and _, not starting with a digit".to_string(),
        ),
        (
            serde_json::json!({"env": {"1X": "x"}}),
            "config: key `env`: \"1X\" is not a shell variable name: use letters, digits and _, not starting with a digit".to_string(),
        ),
        (
            serde_json::json!({"env": {"NUL": "a\u{0}b"}}),
            "config: key `env.NUL`: holds a NUL byte, which no environment variable can: remove it".to_string(),
        ),
        (
            serde_json::json!({"interruption_grace_period": 3600}),
            "config: key `interruption_grace_period`: 3600 s is over 540 s: the image's service manager kills the bootstrap 600 s into a stop, and the agent's shutdown and the give-back need the last 60".to_string(),
        ),
        (
            serde_json::json!({"disconnect_after_job": false, "disconnect_after_idle_timeout": 0}),
            "config: key `disconnect_after_idle_timeout`: is 0 with disconnect_after_job false, so the agent never leaves and its instance is never given back: set a timeout, or `static_fleet: true` for a fleet sized by hand".to_string(),
        ),
    ];
    for (extra, expected) in table {
        let config = boot.config(extra.clone());
        let out = boot
            .cmd()
            .args(["run", "--log-format", "json", "--config"])
            .arg(&config)
            .run();
        out.code(2);
        assert_eq!(
            json_error(&out),
            ("ERROR".to_string(), expected.clone()),
            "{extra}"
        );
        boot.assert_refused_offline(&config, "linux", &expected);
    }
    assert_eq!(
        server.requests(),
        0,
        "no metadata call for a refused config"
    );
    assert!(!boot.agent_dir().join("config.yaml").exists());

    // A fleet sized by hand may keep its agents.
    let config = boot.config(serde_json::json!({
        "disconnect_after_job": false, "disconnect_after_idle_timeout": 0, "static_fleet": true,
    }));
    let out = boot
        .cmd()
        .args(["show-config", "--config"])
        .arg(&config)
        .run();
    out.success().stderr_is("");
}

/// Acceptance 3 (issue 14): a boot that reached AWS but could not start an agent gives the
/// instance back with a decrement and marks the group, rather than looping through
/// replacements. The mark's count grows with each failed start.
async fn assert_failed_start_given_back(fleet: &Fleet, boot: &Boot, count: u32) {
    assert_eq!(fleet.ec2_state(&boot.instance_id).await, "terminated");
    let mark = fleet
        .failed_start_mark()
        .await
        .expect("the group is marked");
    let (at, n) = mark.split_once(' ').unwrap();
    assert!(at.parse::<u64>().is_ok(), "{mark}");
    assert_eq!(n, count.to_string(), "{mark}");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_cache_bucket_fails_fast_gives_back_with_a_decrement_and_marks_the_group() {
    let (fleet, boot) = fleet("nocache", 2, true).await;
    let out = boot.run(
        serde_json::json!({"cache_bucket": "imagekit-no-such-bucket"}),
        Some("IDLE"),
        0,
    );
    out.code(1)
        .stderr_contains("cache bucket imagekit-no-such-bucket: does not exist");
    assert_eq!(fleet.desired().await, 1);
    assert_failed_start_given_back(&fleet, &boot, 1).await;
    assert!(std::fs::metadata(boot.agent_dir().join("record")).is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_token_parameter_gives_back_with_a_decrement_marks_the_group_and_names_it() {
    let (fleet, boot) = fleet("notoken", 2, true).await;
    let out = boot.run(
        serde_json::json!({"token_parameter": "/imagekit/not-there"}),
        Some("IDLE"),
        0,
    );
    out.code(1).stderr_contains("/imagekit/not-there");
    assert_eq!(fleet.desired().await, 1);
    assert_failed_start_given_back(&fleet, &boot, 1).await;
    assert!(!boot.agent_dir().join("config.yaml").exists());
}

/// Acceptance 3: an agent whose registration is refused (it retries, then exits 1 without its
/// hook, as the real one does) failed to start; a later start that registers clears the mark.
/// What moto cannot show: the control plane's refusal; the stand-in agent plays it
/// (`STANDIN_REGISTER=refuse`), with the real agent's log lines.
#[tokio::test(flavor = "multi_thread")]
async fn an_agent_that_never_registers_fails_to_start_and_a_later_registering_start_clears_the_mark(
) {
    let (fleet, boot) = fleet("noregister", 3, true).await;
    let out = boot.run_with(
        serde_json::json!({}),
        &[
            ("STANDIN_REGISTER", "refuse"),
            ("STANDIN_REGISTER_ATTEMPTS", "3"),
        ],
        None,
        0,
    );
    out.code(1);
    let err = out.stderr();
    assert!(
        err.lines()
            .any(|l| l.contains("\"level\":\"ERROR\"")
                && l.contains("agent exited without registering")),
        "{err}"
    );
    assert_eq!(fleet.desired().await, 2);
    assert_failed_start_given_back(&fleet, &boot, 1).await;

    // The next instance registers (and then runs a job): the mark goes.
    let next_id = fleet
        .instance_ids()
        .await
        .into_iter()
        .find(|id| *id != boot.instance_id)
        .unwrap();
    let mut meta = InstanceMeta::new(&next_id, &fleet.account);
    meta.asg_tag = Some(fleet.asg_name.clone());
    imds().add(meta);
    let next = Boot::new(&next_id, &fleet.account, imds().endpoint_for(&next_id));
    next.run(serde_json::json!({}), Some("JOB_FINISHED"), 0)
        .success();
    assert_eq!(fleet.failed_start_mark().await, None);
    assert_eq!(fleet.desired().await, 2, "a finished job keeps its slot");
}

/// An agent that registered and then crashed is no failed start: it gets a replacement, and the
/// group stays unmarked. So is one that exits without registering after the (shortened) window.
#[tokio::test(flavor = "multi_thread")]
async fn an_agent_that_crashes_after_registering_still_gets_a_replacement() {
    let (ran, boot) = fleet("crashran", 1, true).await;
    boot.run_with(serde_json::json!({}), &[("STANDIN_JOB", "true")], None, 3)
        .code(1);
    assert_eq!(ran.desired().await, 1);
    assert_eq!(ran.failed_start_mark().await, None);
    assert_eq!(ran.ec2_state(&boot.instance_id).await, "terminated");

    let (late, boot) = fleet("latefail", 1, true).await;
    boot.run_with(
        serde_json::json!({"failed_start_window": 0}),
        &[
            ("STANDIN_REGISTER", "refuse"),
            ("STANDIN_REGISTER_ATTEMPTS", "1"),
        ],
        None,
        0,
    )
    .code(1);
    assert_eq!(
        late.desired().await,
        1,
        "outside the window: read as a crash"
    );
    assert_eq!(late.failed_start_mark().await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn imds_answering_503_at_first_is_waited_for() {
    let (fleet, boot) = fleet("imds503", 2, true).await;
    imds().unavailable_for(&boot.instance_id, Duration::from_millis(1500));
    boot.run(serde_json::json!({}), Some("IDLE"), 0).success();
    assert_eq!(fleet.desired().await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn imds_refusing_connections_at_first_is_waited_for() {
    let (fleet, _) = fleet("imdslate", 2, true).await;
    let late = ImdsServer::start_late(Duration::from_millis(1500));
    let instance_id = fleet.instance_ids().await[1].clone();
    let mut meta = InstanceMeta::new(&instance_id, &fleet.account);
    meta.asg_tag = Some("imdslate".into());
    late.add(meta);
    let boot = Boot::new(
        &instance_id,
        &fleet.account,
        late.endpoint_for(&instance_id),
    );
    boot.run(serde_json::json!({}), Some("IDLE"), 0).success();
    assert_eq!(fleet.desired().await, 1);
    assert!(!fleet.instance_ids().await.contains(&instance_id));
}

/// Long by design: two boots (native keys, then the stack's parameter) whose agent configs are
/// compared.
#[tokio::test(flavor = "multi_thread")]
async fn agent_aws_stack_parameter_gives_the_same_agent_config_as_native_keys() {
    let (fleet, native) = fleet("stack", 2, true).await;
    let native_keys = serde_json::json!({
        "disconnect_after_job": false,
        "disconnect_after_idle_timeout": 120,
        "env": {"A": "1", "B": "two=2"},
    });
    native.run(native_keys, Some("JOB_FINISHED"), 0).success();

    let stack_id = fleet
        .instance_ids()
        .await
        .into_iter()
        .find(|id| *id != native.instance_id)
        .unwrap();
    let mut meta = InstanceMeta::new(&stack_id, &fleet.account);
    meta.asg_tag = Some("stack".into());
    imds().add(meta);
    fleet
        .put_string(
            "stack-config",
            &serde_json::json!({
                "endpoint": "example.semaphoreci.com",
                "agentTokenParameterName": "/imagekit/agent-token",
                "disconnectAfterJob": "false",
                "disconnectAfterIdleTimeout": "120",
                "envVars": ["A=1", "B=two=2"],
                "sshKeysParameterName": "stack-ssh-keys",
                "usePreSignedURL": "false",
            })
            .to_string(),
        )
        .await;
    // GitHub's keys as agent-aws-stack's updater stores them: a JSON list of `<type> <key>`.
    let host_keys = [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",
        "ecdsa-sha2-nistp256 AAAAE2VjZHNh",
    ];
    fleet
        .put_string("stack-ssh-keys", &serde_json::json!(host_keys).to_string())
        .await;
    let stack = Boot::new(&stack_id, &fleet.account, imds().endpoint_for(&stack_id));
    let home = stack.dir.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    let kept = "gitlab.com ssh-ed25519 AAAAkept\n";
    std::fs::write(home.join(".ssh/known_hosts"), kept).unwrap();
    let baked = stack.baked();
    let out = stack
        .cmd()
        .env("IMAGEKIT_BAKED_CONFIG", &baked)
        .env("STANDIN_REASON", "JOB_FINISHED")
        .env("HOME", &home)
        .args([
            "run",
            "--log-format",
            "json",
            "--config-parameter",
            "stack-config",
        ])
        .run();
    out.success();
    stack.assert_token_absent(&out);
    // The boot's whole log is another test's; this one is about the files.
    out.stderr_any();

    // sshKeysParameterName: the keys join what known_hosts held, as github.com lines, 0644 in a
    // 0700 ~/.ssh, both owned by the agent user (here the current one, whose home is $HOME).
    let known_hosts = home.join(".ssh/known_hosts");
    assert_eq!(
        std::fs::read_to_string(&known_hosts).unwrap(),
        format!(
            "{kept}github.com {}\ngithub.com {}\n",
            host_keys[0], host_keys[1]
        )
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let file = std::fs::metadata(&known_hosts).unwrap();
        let dir = std::fs::metadata(home.join(".ssh")).unwrap();
        assert_eq!(file.mode() & 0o777, 0o644);
        assert_eq!(dir.mode() & 0o777, 0o700);
        let me = unsafe { libc::getuid() };
        assert_eq!((file.uid(), dir.uid()), (me, me));
    }

    let strip = |text: String| {
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v.as_object_mut().unwrap().remove("name");
        v.as_object_mut().unwrap().remove("shutdown-hook-path");
        v.as_object_mut().unwrap().remove("pre-job-hook-path");
        v
    };
    assert_eq!(
        strip(native.record("config.yaml")),
        strip(stack.record("config.yaml"))
    );
    // `B=two=2`, which the agent's own `env-vars` would die on, reaches the job through the
    // pre-job hook's file, the same from both formats.
    let job_env =
        |boot: &Boot| std::fs::read_to_string(boot.agent_dir().join(".imagekit/job-env")).unwrap();
    assert_eq!(job_env(&native), job_env(&stack));
    assert!(
        job_env(&native).contains("export B='two=2'\n"),
        "{}",
        job_env(&native)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn start_sh_boots_as_agent_aws_stack_user_data_calls_it() {
    let (fleet, boot) = fleet("startsh", 2, true).await;
    fleet
        .put_string(
            "startsh-config",
            &serde_json::json!({
                "endpoint": "example.semaphoreci.com",
                "agentTokenParameterName": "/imagekit/agent-token",
                "disconnectAfterJob": "true",
                "disconnectAfterIdleTimeout": "300",
                "envVars": [],
            })
            .to_string(),
        )
        .await;
    let baked = boot.baked();
    let start_sh = crate::support::repo_root().join("packer/files/start.sh");
    // agent-aws-stack's user-data runs the script with the parameter's name as its argument.
    let out = Cmd::new("bash")
        .arg(&start_sh)
        .arg("startsh-config")
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &boot.imds_endpoint)
        .env("AWS_ENDPOINT_URL", &boot.account.endpoint)
        .env("IMAGEKIT_BAKED_CONFIG", &baked)
        .env("IMAGEKIT_BOOTSTRAP_BIN", crate::support::bootstrap_bin())
        .env("STANDIN_REASON", "IDLE")
        .run();
    // The boot's log: this test is about the agent's config and the group, below.
    out.success().stderr_any();
    boot.assert_token_absent(&out);
    let config: serde_json::Value = serde_json::from_str(&boot.record("config.yaml")).unwrap();
    assert_eq!(config["token"], TOKEN);
    assert_eq!(fleet.desired().await, 1);
}

#[test]
fn bad_config_is_one_line_and_exit_2_before_any_aws_call() {
    let account = Account::new();
    let server = ImdsServer::start();
    let boot = Boot::new(
        "i-0badc0nf1g",
        &account,
        server.endpoint_for("i-0badc0nf1g"),
    );
    let config = boot.config(serde_json::json!({"disconect_after_job": true}));
    let out = boot
        .cmd()
        .args(["run", "--log-format", "human", "--config"])
        .arg(&config)
        .run();
    out.code(2);
    let line = out.one_line_error();
    assert!(
        line.contains("`disconect_after_job`") && line.contains("unknown key"),
        "{line}"
    );
    assert!(
        !line.contains('\x1b'),
        "colour codes outside a terminal: {line:?}"
    );
    assert_eq!(
        server.requests(),
        0,
        "no metadata call before the config is valid"
    );

    let config = boot.config(serde_json::json!({"boot_timeout": "soon"}));
    let out = boot.cmd().args(["run", "--config"]).arg(&config).run();
    out.code(2);
    assert!(out.one_line_error().contains("`boot_timeout`"));

    let config = boot.config(serde_json::json!({"token_parameter": null}));
    let out = boot.cmd().args(["run", "--config"]).arg(&config).run();
    out.code(2);
    assert!(out.one_line_error().contains("token_parameter"));
    assert!(!boot.agent_dir().join("config.yaml").exists());
}

/// The one error line of a `run --log-format json` that was refused: its level and message.
pub fn json_error(out: &Run) -> (String, String) {
    let line: serde_json::Value = serde_json::from_str(&out.one_line_error()).unwrap();
    (
        line["level"].as_str().unwrap().to_string(),
        line["message"].as_str().unwrap().to_string(),
    )
}

#[test]
fn a_section_for_another_kind_is_refused_with_exit_2_before_any_aws_call() {
    let account = Account::new();
    let server = ImdsServer::start();
    let boot = Boot::new("i-0f0re1gn", &account, server.endpoint_for("i-0f0re1gn"));
    let expected = "config: key `circleci`: a section for agent kind circleci, but `agent` is semaphore: remove it, or set `agent` to circleci";
    let config = boot.config(serde_json::json!({ "circleci": { "max_run_time": 60 } }));
    let out = boot
        .cmd()
        .args(["run", "--log-format", "json", "--config"])
        .arg(&config)
        .run();
    out.code(2);
    assert_eq!(
        json_error(&out),
        ("ERROR".to_string(), expected.to_string())
    );
    let out = boot
        .cmd()
        .args(["show-config", "--config"])
        .arg(&config)
        .run();
    out.code(2);
    out.stderr_is(&format!("error: {expected}\n"));

    // A section's own keys are checked and named too.
    let config = boot.config(serde_json::json!({ "semaphore": { "queue": "q" } }));
    let out = boot
        .cmd()
        .args(["show-config", "--config"])
        .arg(&config)
        .run();
    out.code(2);
    out.stderr_is(&format!(
        "error: {}: key `semaphore.queue`: unknown key\n",
        config.display()
    ));
    assert_eq!(server.requests(), 0);
}

#[test]
fn show_config_shows_the_agents_own_section_and_nothing_more_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let (baked, file) = sample_config_layers(dir.path());
    let show = |file: &Path| {
        Cmd::bootstrap()
            .env("IMAGEKIT_BAKED_CONFIG", &baked)
            .args(["show-config", "--config"])
            .arg(file)
            .run()
            .success()
            .json()
    };
    let without = show(&file);
    assert!(without.get("semaphore").is_none(), "{without}");
    let with_section = dir.path().join("section.json");
    std::fs::write(
        &with_section,
        r#"{"endpoint":"acme.semaphoreci.com","semaphore":{}}"#,
    )
    .unwrap();
    let with = show(&with_section);
    assert_eq!(with["semaphore"], serde_json::json!({}));
}

/// The token the e2e tests put in moto is in no stored snapshot (every `Boot::run` also checks
/// the output it captured).
#[test]
fn no_snapshot_holds_the_token() {
    let dir = crate::support::repo_root().join("tests/snapshots");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(TOKEN), "{} holds the token", path.display());
    }
}

#[test]
fn service_mode_is_refused_outside_windows_with_exit_2() {
    let out = Cmd::bootstrap().args(["run", "--service"]).run();
    out.code(2);
    assert!(out.one_line_error().contains("Windows service manager"));
}

#[test]
fn on_shutdown_records_the_reason_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reason");
    Cmd::bootstrap()
        .arg("on-shutdown")
        .env("SEMAPHORE_AGENT_SHUTDOWN_REASON", "IDLE")
        .env("IMAGEKIT_SHUTDOWN_REASON_FILE", &file)
        .run()
        .success();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "IDLE");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

/// A baked config and a `--config` override, as `show-config` tests read them: returns their
/// paths.
pub fn sample_config_layers(dir: &Path) -> (PathBuf, PathBuf) {
    let baked = dir.join("bootstrap.json");
    std::fs::write(
        &baked,
        r#"{"agent_user":"semaphore","cache_bucket":"fleet-cache","token_parameter":"/fleet/token"}"#,
    )
    .unwrap();
    let file = dir.join("override.json");
    std::fs::write(
        &file,
        r#"{"endpoint":"acme.semaphoreci.com","env":{"DOCKER_HOST":"unix:///run/docker.sock"}}"#,
    )
    .unwrap();
    (baked, file)
}

#[test]
fn show_config_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (baked, file) = sample_config_layers(dir.path());
    let out = Cmd::bootstrap()
        .env("IMAGEKIT_BAKED_CONFIG", &baked)
        .args(["show-config", "--config"])
        .arg(&file)
        .run();
    out.success();
    insta::assert_snapshot!("bootstrap_show_config", out.stdout());
}

#[test]
fn help_snapshots() {
    for args in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["on-shutdown", "--help"],
        vec!["show-config", "--help"],
    ] {
        let out = Cmd::bootstrap().args(&args).env("COLUMNS", "100").run();
        out.success();
        let name = format!("bootstrap_help_{}", args[0].trim_start_matches('-'));
        insta::assert_snapshot!(name, out.stdout());
    }
}

/// Load: 200 boots at once against one moto and one IMDS server. Run by `bench/bootstrap.sh`
/// (`--ignored`): it is too heavy for every CI run on 2 shared cores.
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn load_200_concurrent_boots_all_reach_their_agent() {
    let n: usize = std::env::var("IMAGEKIT_LOAD_BOOTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let account = Account::new();
    let fleet = Fleet::create(&account, "load", n as i32).await;
    fleet.put_secure("/imagekit/agent-token", TOKEN).await;
    let ids = fleet.instance_ids().await;
    assert_eq!(ids.len(), n);
    let server = ImdsServer::start();
    let boots: Vec<Boot> = ids
        .iter()
        .map(|id| {
            let mut meta = InstanceMeta::new(id, &account);
            meta.asg_tag = Some("load".into());
            server.add(meta);
            Boot::new(id, &account, server.endpoint_for(id))
        })
        .collect();
    let children: Vec<_> = boots
        .iter()
        .map(|b| {
            let config = b.config(serde_json::json!({"boot_timeout": 120}));
            let mut cmd = b
                .cmd()
                .args(["run", "--log-format", "json", "--config"])
                .arg(&config)
                .env("STANDIN_REASON", "IDLE")
                .into_command();
            cmd.stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .stdin(std::process::Stdio::null());
            cmd.spawn().unwrap()
        })
        .collect();
    let mut failures = Vec::new();
    for (boot, child) in boots.iter().zip(children) {
        let out = child.wait_with_output().unwrap();
        if !out.status.success() {
            failures.push(format!(
                "{}: {}",
                boot.instance_id,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let reached = boots
        .iter()
        .filter(|b| b.agent_dir().join("record/argv").exists())
        .count();
    eprintln!("load: {reached}/{n} boots reached their agent");
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(reached, n);
    assert_eq!(fleet.desired().await, 0);
}

/// botocore's pre-signer (the venv's, pinned in scripts/requirements.txt) for the same request,
/// with its clock fixed at `amz_date`: what agent-aws-stack's gen-pre-signed-url.py would print.
fn botocore_presigned_url(account: &Account, session_token: &str, amz_date: &str) -> String {
    let script = r#"
import datetime, sys
from unittest import mock
import botocore.session
access_key, secret_key, token, region, when = sys.argv[1:]
at = datetime.datetime.strptime(when, "%Y%m%dT%H%M%SZ")
session = botocore.session.Session()
session.set_credentials(access_key, secret_key, token)
sts = session.create_client("sts", region_name=region)
with mock.patch("botocore.auth.get_current_datetime", return_value=at):
    print(sts.generate_presigned_url("get_caller_identity", Params={}, ExpiresIn=900, HttpMethod="GET"))
"#;
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(crate::support::moto::venv_python())
        .env_clear()
        .env("HOME", home.path())
        .args(["-c", script])
        .args([&account.access_key, &account.secret_key, session_token])
        .args([&account.region, amz_date])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A URL's query as its raw `key=value` pairs, sorted: equal when every parameter and its
/// encoding are.
fn query_pairs(url: &str) -> Vec<String> {
    let (_, query) = url.split_once('?').expect("a query");
    let mut pairs: Vec<String> = query.split('&').map(str::to_string).collect();
    pairs.sort();
    pairs
}

/// agent-aws-stack's `usePreSignedURL`: the agent's name is a pre-signed STS GetCallerIdentity
/// URL, made with the instance-profile credentials the IMDS stand-in serves. What moto cannot
/// show: STS accepting the URL (moto checks no signatures), so the test shows instead that the
/// URL is byte for byte what botocore's pre-signer makes for the same credentials and clock.
#[tokio::test(flavor = "multi_thread")]
async fn agent_aws_stack_pre_signed_url_names_the_agent_as_botocore_would() {
    let (fleet, boot) = fleet("sts", 1, true).await;
    fleet
        .put_string(
            "sts-config",
            &serde_json::json!({
                "endpoint": "example.semaphoreci.com",
                "agentTokenParameterName": "/imagekit/agent-token",
                "usePreSignedURL": "true",
            })
            .to_string(),
        )
        .await;
    let baked = boot.baked();
    let out = boot
        .cmd()
        .env("IMAGEKIT_BAKED_CONFIG", &baked)
        .env("STANDIN_REASON", "IDLE")
        .args([
            "run",
            "--log-format",
            "json",
            "--config-parameter",
            "sts-config",
        ])
        .run();
    out.success();
    boot.assert_token_absent(&out);
    let log = out.stderr_any().stderr();

    let config: serde_json::Value = serde_json::from_str(&boot.record("config.yaml")).unwrap();
    let name = config["name"].as_str().unwrap().to_string();
    let region = &fleet.account.region;
    assert!(
        name.starts_with(&format!("https://sts.{region}.amazonaws.com/?")),
        "{name}"
    );
    let session_token = "imds-session-token";
    let amz_date = query_pairs(&name)
        .iter()
        .find_map(|p| p.strip_prefix("X-Amz-Date=").map(str::to_string))
        .expect("X-Amz-Date");
    let reference = botocore_presigned_url(&fleet.account, session_token, &amz_date);
    assert_eq!(
        (name.split_once('?').unwrap().0, query_pairs(&name)),
        (
            reference.split_once('?').unwrap().0,
            query_pairs(&reference)
        ),
        "ours: {name}\nbotocore: {reference}"
    );
    // The name carries the session token: the log says what it is, never what it says.
    assert!(
        !log.contains("X-Amz-Signature") && !log.contains(session_token),
        "{log}"
    );
    assert!(
        log.contains("a pre-signed STS GetCallerIdentity URL"),
        "{log}"
    );
}
