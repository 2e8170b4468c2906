//! `imagekit scale` against moto (the ASG and the SSM token) and the CI API stand-in, for each
//! CI system; and Lambda mode against a Runtime API stand-in.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::support;
use crate::support::ci_api::{self, CiApi, Fault};
use crate::support::cmd::Cmd;
use crate::support::lambda_api::{self, LambdaApi};
use crate::support::moto::Account;
use imagekit_core::dist::LambdaArch;

/// A moto account with an ASG (via a launch template) and the CI token as a SecureString.
struct Fleet {
    account: Account,
    asg: String,
    parameter: String,
    token: String,
    moto: support::fleet::Fleet,
}

impl Fleet {
    /// A group as `imagekit stack deploy` leaves it: AZ rebalancing suspended, so the scaler's
    /// first tick has nothing to do about it.
    async fn new(min: i32, max: i32, desired: i32) -> Fleet {
        let fleet = Fleet::made_by_hand(min, max, desired).await;
        fleet.moto.suspend("AZRebalance").await;
        fleet
    }

    /// A group made by other means: AZ rebalancing still on.
    async fn made_by_hand(min: i32, max: i32, desired: i32) -> Fleet {
        let account = Account::new();
        let moto =
            support::fleet::Fleet::create_sized(&account, "ci-agents", min, max, desired).await;
        let fleet = Fleet {
            parameter: "/imagekit/ci-token".into(),
            token: format!("tok-{}-s3cr3t", account.id),
            asg: moto.asg_name.clone(),
            account,
            moto,
        };
        fleet.put_token(&fleet.token.clone()).await;
        fleet
    }

    async fn put_token(&self, value: &str) {
        self.moto.put_secure(&self.parameter, value).await;
    }

    async fn desired(&self) -> i32 {
        self.moto.desired().await
    }

    /// `imagekit scale` for `ci` against the stand-in, plus `extra` flags.
    fn scale(&self, ci: &str, api: &CiApi, extra: &[&str]) -> Cmd {
        self.scale_at(ci, &api.url(), extra)
    }

    /// As [`Fleet::scale`], with `--endpoint` as given.
    fn scale_at(&self, ci: &str, endpoint: &str, extra: &[&str]) -> Cmd {
        let mut cmd = Cmd::imagekit()
            .envs(self.account.env())
            .args([
                "--log-format",
                "json",
                "scale",
                "--asg",
                &self.asg,
                "--ci",
                ci,
            ])
            .args(["--token-parameter", &self.parameter, "--endpoint", endpoint]);
        cmd = match ci {
            "buildkite" => cmd.args(["--queue", "linux-large"]),
            "circleci" => cmd.args(["--resource-class", "imagekit/linux-large"]),
            _ => cmd,
        };
        cmd.args(extra)
    }
}

/// A running daemon whose `--json` ticks arrive one by one.
struct Daemon {
    child: Child,
    ticks: Receiver<Value>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Daemon {
    fn spawn(cmd: Cmd) -> Daemon {
        let mut command = cmd.into_command();
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let (tx, ticks) = mpsc::channel();
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child.stdout.take().unwrap();
        let all = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                all.lock().unwrap().push_str(&line);
                all.lock().unwrap().push('\n');
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        let mut err = child.stderr.take().unwrap();
        let all = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                all.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Daemon {
            child,
            ticks,
            stdout,
            stderr,
        }
    }

    #[track_caller]
    fn next_tick(&self) -> Value {
        self.ticks
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!(
                    "no tick within 30 s\n--- stderr ---\n{}",
                    self.stderr.lock().unwrap()
                )
            })
    }

    /// SIGTERM, then the exit code and everything it wrote.
    fn stop(mut self) -> (Option<i32>, String, String) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let out = self.stdout.lock().unwrap().clone();
        let err = self.stderr.lock().unwrap().clone();
        (status.code(), out, err)
    }
}

/// The log line of the one SSM read a run makes (the parameter is a field of its own).
const TOKEN_READ: &str = "INFO read the CI API token from SSM";

fn one_tick(stdout: &str) -> Value {
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "--once --json prints one line: {stdout}");
    serde_json::from_str(lines[0]).unwrap()
}

#[track_caller]
fn assert_no_secret(secret: &str, texts: &[&str]) {
    for text in texts {
        assert!(
            !text.contains(secret),
            "the token leaked into output:\n{text}"
        );
    }
}

/// The stand-in saw the right path, query and token for `ci`, and answered each request 200.
/// CircleCI's are the v3 runner paths: the stand-in serves no other.
fn assert_asked_right(ci: &str, api: &CiApi) {
    let seen = api.requests();
    assert!(!seen.is_empty());
    for s in &seen {
        assert!(s.authorized, "{ci}: request without the right token: {s:?}");
        assert_eq!(s.status, 200, "{ci}: {s:?}");
        match ci {
            "semaphore" => assert_eq!(s.path, ci_api::SEMAPHORE_METRICS),
            "buildkite" => {
                assert_eq!(s.path, ci_api::BUILDKITE_QUEUE);
                assert_eq!(s.query.get("name").map(String::as_str), Some("linux-large"));
            }
            _ => {
                assert!(
                    s.path == ci_api::CIRCLECI_UNCLAIMED || s.path == ci_api::CIRCLECI_RUNNING,
                    "{s:?}"
                );
                assert_eq!(
                    s.query.get("resource-class").map(String::as_str),
                    Some("imagekit/linux-large")
                );
            }
        }
    }
    if ci == "circleci" {
        assert!(seen.iter().any(|s| s.path == ci_api::CIRCLECI_UNCLAIMED));
        assert!(seen.iter().any(|s| s.path == ci_api::CIRCLECI_RUNNING));
    }
}

async fn queued_jobs_raise_and_never_lower(ci: &str) {
    let fleet = Fleet::new(0, 10, 0).await;
    let api = CiApi::start(&fleet.token);
    api.set_queue(5, 0);

    let out = fleet.scale(ci, &api, &["--once", "--json"]).run();
    out.success();
    let tick = one_tick(&out.stdout());
    assert_eq!(tick["action"], "raise", "{tick}");
    assert_eq!(tick["queue"]["waiting"], 5);
    assert_eq!(tick["target"], 5);
    assert_eq!(tick["desired"], 5);
    assert_eq!(fleet.desired().await, 5, "after one tick the ASG wants 5");
    // Semaphore and Buildkite report idle agents; CircleCI's API has no such figure.
    let idle = if ci == "circleci" {
        ""
    } else {
        ", 0 idle agent(s)"
    };
    let per = "1 agent(s) per instance + overprovision 0 within [0, 10]";
    assert_eq!(
        out.log_messages(),
        [
            TOKEN_READ.to_string(),
            format!(
                "INFO {ci} queue: 5 waiting, 0 running{idle}; 5 job(s) / {per} → 5; \
             raising ASG ci-agents desired 0 → 5"
            )
        ]
    );
    assert_asked_right(ci, &api);

    // The queue drains: the scaler leaves scale-in to the idle instances.
    api.set_queue(0, 0);
    let drained = fleet.scale(ci, &api, &["--once", "--json"]).run();
    drained.success();
    let tick = one_tick(&drained.stdout());
    assert_eq!(tick["action"], "keep", "{tick}");
    assert_eq!(tick["target"], 0);
    assert_eq!(fleet.desired().await, 5, "never lowered");
    assert_eq!(
        drained.log_messages(),
        [
            TOKEN_READ.to_string(),
            format!(
                "INFO {ci} queue: 0 waiting, 0 running{idle}; 0 job(s) / 1 agent(s) per instance \
             + no spares on an empty queue within [0, 10] → 0; \
             ASG ci-agents desired 5 is above it and is left alone \
             (never scales in: idle instances leave on their own)"
            )
        ]
    );
    assert_no_secret(
        &fleet.token,
        &[
            &out.stdout(),
            &out.stderr(),
            &drained.stdout(),
            &drained.stderr(),
        ],
    );
}

#[tokio::test]
async fn semaphore_five_queued_jobs_raise_to_five_and_never_lower() {
    queued_jobs_raise_and_never_lower("semaphore").await;
}

#[tokio::test]
async fn buildkite_five_queued_jobs_raise_to_five_and_never_lower() {
    queued_jobs_raise_and_never_lower("buildkite").await;
}

#[tokio::test]
async fn circleci_five_queued_jobs_raise_to_five_and_never_lower() {
    queued_jobs_raise_and_never_lower("circleci").await;
}

#[tokio::test]
async fn max_bounds_the_raise() {
    for ci in ["semaphore", "buildkite", "circleci"] {
        let fleet = Fleet::new(0, 10, 0).await;
        let api = CiApi::start(&fleet.token);
        api.set_queue(5, 0);
        let out = fleet
            .scale(ci, &api, &["--once", "--json", "--max", "3"])
            .run();
        out.success();
        let message = out.log_messages().join("\n");
        assert!(
            message.ends_with("within [0, 3] → 3; raising ASG ci-agents desired 0 → 3"),
            "{ci}: {message}"
        );
        assert_eq!(one_tick(&out.stdout())["desired"], 3, "{ci}");
        assert_eq!(fleet.desired().await, 3, "{ci}: bounded by --max");
    }
}

#[tokio::test]
async fn running_jobs_agents_per_instance_and_overprovision_shape_the_target() {
    let fleet = Fleet::new(0, 10, 0).await;
    let api = CiApi::start(&fleet.token);
    // 3 waiting + 2 running = 5 jobs; 2 agents per instance → 3 instances; +50% → 5.
    api.set_queue(3, 2);
    let flags = [
        "--once",
        "--json",
        "--agents-per-instance",
        "2",
        "--overprovision",
        "50%",
    ];
    let out = fleet.scale("buildkite", &api, &flags).run();
    out.success();
    assert_eq!(
        out.log_messages(),
        [
            TOKEN_READ,
            "INFO buildkite queue: 3 waiting, 2 running, 0 idle agent(s); 5 job(s) / 2 agent(s) \
             per instance + overprovision 50% within [0, 10] → 5; raising ASG ci-agents desired \
             0 → 5"
        ]
    );
    let tick = one_tick(&out.stdout());
    assert_eq!(tick["queue"]["running"], 2);
    assert_eq!(tick["target"], 5, "{tick}");
    assert_eq!(fleet.desired().await, 5);
}

#[tokio::test]
async fn dry_run_decides_but_changes_nothing() {
    let fleet = Fleet::new(0, 10, 1).await;
    let api = CiApi::start(&fleet.token);
    api.set_queue(4, 0);
    // --metrics too: moto must accept the signed PutMetricData.
    let flags = ["--once", "--json", "--dry-run", "--metrics"];
    let out = fleet.scale("semaphore", &api, &flags).run();
    out.success();
    // INFO: the metrics were published (else the line is a WARN saying why not).
    assert_eq!(
        out.log_messages(),
        [
            TOKEN_READ,
            "INFO semaphore queue: 4 waiting, 0 running, 0 idle agent(s); 4 job(s) / 1 agent(s) \
             per instance + overprovision 0 within [0, 10] → 4; would raise ASG ci-agents \
             desired 1 → 4 (dry run)"
        ]
    );
    let tick = one_tick(&out.stdout());
    assert!(tick.get("metrics_error").is_none(), "{tick}");
    assert_eq!(tick["action"], "would_raise");
    assert_eq!(tick["target"], 4);
    assert_eq!(fleet.desired().await, 1);
}

/// What moto shows: SuspendProcesses and DescribeAutoScalingGroups' SuspendedProcesses, which
/// is all there is to AZ rebalancing's suspension (moto never rebalances, so that a suspended
/// group keeps its instances is AWS's promise, not shown here).
#[tokio::test]
async fn the_first_tick_suspends_az_rebalancing_on_a_group_made_by_hand() {
    let fleet = Fleet::made_by_hand(0, 10, 0).await;
    assert!(fleet.moto.suspended_processes().await.is_empty());
    let api = CiApi::start(&fleet.token);
    api.set_queue(1, 0);

    let daemon = Daemon::spawn(fleet.scale("semaphore", &api, &["--json", "--interval", "1s"]));
    let first = daemon.next_tick();
    assert_eq!(first["az_rebalance"], "suspended", "{first}");
    assert_eq!(first["action"], "raise", "{first}");
    // Once only: an operator who resumes it later on purpose is not overruled every tick.
    let second = daemon.next_tick();
    assert!(second.get("az_rebalance").is_none(), "{second}");
    let (code, _, stderr) = daemon.stop();
    assert_eq!(code, Some(0), "{stderr}");
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("AZ rebalancing"))
        .collect();
    assert_eq!(said.len(), 1, "{stderr}");
    assert!(
        said[0].contains(
            "suspended AZ rebalancing on ASG ci-agents: it would end instances mid-job to even \
             out zones"
        ),
        "{}",
        said[0]
    );
    assert_eq!(fleet.moto.suspended_processes().await, ["AZRebalance"]);
    assert_eq!(fleet.desired().await, 1);

    // A later scaler finds it suspended and says nothing of it.
    let out = fleet.scale("semaphore", &api, &["--once", "--json"]).run();
    out.success();
    assert_eq!(one_tick(&out.stdout())["az_rebalance"], "already_suspended");
    assert_eq!(
        out.log_messages(),
        [
            TOKEN_READ,
            "INFO semaphore queue: 1 waiting, 0 running, 0 idle agent(s); 1 job(s) / 1 agent(s) \
             per instance + overprovision 0 within [0, 10] → 1; ASG ci-agents desired 1 already \
             matches"
        ]
    );
}

#[tokio::test]
async fn a_dry_run_leaves_az_rebalancing_on_and_says_it_would_suspend_it() {
    let fleet = Fleet::made_by_hand(0, 10, 0).await;
    let api = CiApi::start(&fleet.token);
    api.set_queue(0, 0);
    let out = fleet
        .scale("semaphore", &api, &["--once", "--json", "--dry-run"])
        .run();
    out.success();
    assert_eq!(one_tick(&out.stdout())["az_rebalance"], "would_suspend");
    assert_eq!(
        out.log_messages(),
        [
            TOKEN_READ,
            "INFO would suspend AZ rebalancing on ASG ci-agents (dry run): it would end instances \
             mid-job",
            "INFO semaphore queue: 0 waiting, 0 running, 0 idle agent(s); 0 job(s) / 1 agent(s) \
             per instance + no spares on an empty queue within [0, 10] → 0; ASG ci-agents \
             desired 0 already matches"
        ]
    );
    assert!(fleet.moto.suspended_processes().await.is_empty());
}

/// A fault on the first tick: no change and a clear line; the next tick recovers.
async fn fault_then_recovery(ci: &str, fault: Fault, expect: &str) {
    let fleet = Fleet::new(0, 10, 1).await;
    let api = CiApi::start(&fleet.token);
    api.set_queue(5, 0);
    api.set_fault(fault, Some(1));
    let daemon = Daemon::spawn(fleet.scale(ci, &api, &["--json", "--interval", "1s"]));

    let first = daemon.next_tick();
    assert_eq!(first["ok"], false, "{first}");
    assert_eq!(first["action"], "keep");
    assert_eq!(first["desired"], 1);
    assert!(first["error"].as_str().unwrap().contains(expect), "{first}");

    // The next tick still has to raise the group: so the failed one changed nothing. (Asking
    // moto here instead raced that tick, one interval later, on a loaded machine.)
    let second = daemon.next_tick();
    assert_eq!(second["ok"], true, "{second}");
    assert_eq!(
        second["action"], "raise",
        "{ci}: a failed read changes nothing"
    );
    assert_eq!(fleet.desired().await, 5, "{ci}: the next tick recovers");

    let (code, stdout, stderr) = daemon.stop();
    assert_eq!(code, Some(0), "SIGTERM stops the daemon cleanly\n{stderr}");
    let warn = stderr
        .lines()
        .find(|l| l.contains(expect))
        .unwrap_or_else(|| panic!("no log line names the fault {expect:?}:\n{stderr}"));
    assert!(
        warn.contains("WARN") && warn.contains("desired stays 1"),
        "{warn}"
    );
    assert!(warn.contains("next tick retries"), "{warn}");
    assert_no_secret(&fleet.token, &[&stdout, &stderr]);
}

#[tokio::test]
async fn semaphore_500_changes_nothing_and_next_tick_recovers() {
    fault_then_recovery("semaphore", Fault::Status(500), "answered 500").await;
}

#[tokio::test]
async fn buildkite_500_changes_nothing_and_next_tick_recovers() {
    fault_then_recovery("buildkite", Fault::Status(500), "answered 500").await;
}

#[tokio::test]
async fn circleci_500_changes_nothing_and_next_tick_recovers() {
    fault_then_recovery("circleci", Fault::Status(500), "answered 500").await;
}

const SLOW: Fault = Fault::Delay(Duration::from_secs(3));

#[tokio::test]
async fn semaphore_timeout_changes_nothing_and_next_tick_recovers() {
    fault_then_recovery("semaphore", SLOW, "timed out after 1s").await;
}

#[tokio::test]
async fn buildkite_timeout_changes_nothing_and_next_tick_recovers() {
    fault_then_recovery("buildkite", SLOW, "timed out after 1s").await;
}

#[tokio::test]
async fn circleci_timeout_changes_nothing_and_next_tick_recovers() {
    fault_then_recovery("circleci", SLOW, "timed out after 1s").await;
}

/// The status each service answers to a well-formed token it does not hold: Semaphore's
/// metrics handler 404 (its auth middleware's 401 is only for a missing or malformed header),
/// the others 401.
fn refusal(ci: &str) -> u16 {
    if ci == "semaphore" {
        404
    } else {
        401
    }
}

fn ssm_reads(stderr: &str) -> usize {
    stderr
        .lines()
        .filter(|l| l.contains("read the CI API token from SSM"))
        .count()
}

/// A rotation as it should be done (the new token into SSM, then the old one revoked): the kept
/// token is refused, the same tick reads SSM again and retries, and no tick fails.
async fn daemon_keeps_scaling_across_a_token_rotation(ci: &str) {
    let fleet = Fleet::new(0, 10, 0).await;
    let api = CiApi::start(&fleet.token);
    api.set_queue(2, 0);
    let daemon = Daemon::spawn(fleet.scale(ci, &api, &["--json", "--interval", "1s"]));

    let first = daemon.next_tick();
    assert_eq!(first["action"], "raise", "{first}");
    assert_eq!(fleet.desired().await, 2);

    let rotated = format!("rotated-{}-s3cr3t", fleet.account.id);
    fleet.put_token(&rotated).await;
    api.set_token(&rotated);
    api.set_queue(4, 0);
    let mut ticks = vec![first];
    while ticks.last().unwrap()["target"] != 4 {
        assert!(ticks.len() < 10, "no tick saw the queue of 4: {ticks:?}");
        ticks.push(daemon.next_tick());
    }
    let (_, stdout, stderr) = daemon.stop();
    for tick in &ticks {
        assert_eq!(
            tick["ok"], true,
            "{ci}: a tick failed across the rotation: {tick}"
        );
    }
    assert_eq!(
        fleet.desired().await,
        4,
        "{ci}: still scaling after the rotation"
    );

    // The old token was refused exactly once, and the retry right after it was accepted.
    let seen = api.requests();
    let refused: Vec<usize> = (0..seen.len()).filter(|&i| seen[i].status != 200).collect();
    assert_eq!(refused.len(), 1, "{ci}: {seen:?}");
    let i = refused[0];
    assert_eq!(seen[i].status, refusal(ci), "{ci}: {:?}", seen[i]);
    assert!(!seen[i].authorized);
    assert!(
        seen[i + 1].authorized && seen[i + 1].status == 200,
        "{ci}: {seen:?}"
    );
    assert_eq!(
        seen[i].path,
        seen[i + 1].path,
        "{ci}: the same GET, retried"
    );
    assert_eq!(
        ssm_reads(&stderr),
        2,
        "once at start, once on the refusal\n{stderr}"
    );
    assert!(
        stderr.contains(&format!("answered {} to the kept token", refusal(ci))),
        "{stderr}"
    );
    assert_no_secret(&fleet.token, &[&stdout, &stderr]);
    assert_no_secret(&rotated, &[&stdout, &stderr]);
}

#[tokio::test]
async fn semaphore_daemon_keeps_scaling_across_a_token_rotation_answered_404() {
    daemon_keeps_scaling_across_a_token_rotation("semaphore").await;
}

#[tokio::test]
async fn buildkite_daemon_keeps_scaling_across_a_token_rotation() {
    daemon_keeps_scaling_across_a_token_rotation("buildkite").await;
}

#[tokio::test]
async fn circleci_daemon_keeps_scaling_across_a_token_rotation() {
    daemon_keeps_scaling_across_a_token_rotation("circleci").await;
}

/// A token refused as just read from SSM (revoked before SSM was updated): the tick fails with
/// one line saying the token was refused, without reading SSM twice; each next tick reads it
/// again, and the first after SSM is fixed scales.
async fn refused_token_fails_the_tick_then_ssm_is_read_again(ci: &str) {
    let fleet = Fleet::new(0, 10, 0).await;
    let rotated = format!("rotated-{}-s3cr3t", fleet.account.id);
    let api = CiApi::start(&rotated);
    api.set_queue(2, 0);
    let daemon = Daemon::spawn(fleet.scale(ci, &api, &["--json", "--interval", "1s"]));

    let first = daemon.next_tick();
    assert_eq!(first["ok"], false, "{first}");
    assert_eq!(first["action"], "keep");
    let error = first["error"].as_str().unwrap();
    assert!(error.contains("the token was refused"), "{error}");
    assert!(
        error.contains(&format!("answered {}", refusal(ci))),
        "{error}"
    );
    assert!(error.contains(&fleet.parameter), "{error}");
    assert_eq!(fleet.desired().await, 0);
    fleet.put_token(&rotated).await;

    // A tick may start before the new value is in SSM; each such tick fails the same way.
    let mut ticks = vec![first];
    while ticks.last().unwrap()["ok"] != true {
        assert!(ticks.len() < 6, "{ci}: never recovered: {ticks:?}");
        let tick = daemon.next_tick();
        if tick["ok"] != true {
            assert!(
                tick["error"].as_str().unwrap().contains("refused"),
                "{tick}"
            );
        }
        ticks.push(tick);
    }
    assert_eq!(ticks.last().unwrap()["action"], "raise");
    let after = daemon.next_tick();
    assert_eq!(after["action"], "keep", "{after}");
    assert_eq!(fleet.desired().await, 2);

    let (_, stdout, stderr) = daemon.stop();
    assert_eq!(
        ssm_reads(&stderr),
        ticks.len(),
        "{ci}: one SSM read per failing tick, one for the tick that scaled, none after\n{stderr}"
    );
    let warn = stderr
        .lines()
        .find(|l| l.contains("the token was refused"))
        .unwrap_or_else(|| panic!("no line says the token was refused:\n{stderr}"));
    assert!(warn.contains("WARN"), "{warn}");
    assert_no_secret(&fleet.token, &[&stdout, &stderr]);
    assert_no_secret(&rotated, &[&stdout, &stderr]);
}

#[tokio::test]
async fn semaphore_refused_token_fails_the_tick_then_ssm_is_read_again() {
    refused_token_fails_the_tick_then_ssm_is_read_again("semaphore").await;
}

#[tokio::test]
async fn buildkite_refused_token_fails_the_tick_then_ssm_is_read_again() {
    refused_token_fails_the_tick_then_ssm_is_read_again("buildkite").await;
}

#[tokio::test]
async fn circleci_refused_token_fails_the_tick_then_ssm_is_read_again() {
    refused_token_fails_the_tick_then_ssm_is_read_again("circleci").await;
}

#[tokio::test]
async fn buildkite_endpoint_is_taken_with_or_without_v3() {
    for suffix in ["", "/v3", "/v3/"] {
        let fleet = Fleet::new(0, 10, 0).await;
        let api = CiApi::start(&fleet.token);
        api.set_queue(3, 0);
        let endpoint = format!("{}{suffix}", api.url());
        let out = fleet
            .scale_at("buildkite", &endpoint, &["--once", "--json"])
            .run();
        out.success();
        assert_eq!(one_tick(&out.stdout())["desired"], 3, "{endpoint}");
        assert_eq!(
            out.log_messages(),
            [
                TOKEN_READ,
                "INFO buildkite queue: 3 waiting, 0 running, 0 idle agent(s); 3 job(s) / 1 agent(s) \
                 per instance + overprovision 0 within [0, 10] → 3; raising ASG ci-agents desired \
                 0 → 3"
            ],
            "{endpoint}"
        );
        assert_asked_right("buildkite", &api);
    }
}

#[tokio::test]
async fn buildkite_poll_duration_header_raises_the_interval() {
    let fleet = Fleet::new(0, 10, 0).await;
    let api = CiApi::start(&fleet.token);
    api.set_poll_duration(Some("3"));
    let daemon = Daemon::spawn(fleet.scale("buildkite", &api, &["--json", "--interval", "1s"]));
    let raised = daemon.next_tick();
    assert_eq!(raised["ok"], true, "{raised}");
    assert_eq!(
        raised["interval_ms"], 3000,
        "at least what the API asks: {raised}"
    );

    // A poll duration below --interval leaves it, and one no longer sent is no longer kept.
    api.set_poll_duration(Some("0"));
    let below = daemon.next_tick();
    assert_eq!(below["interval_ms"], 1000, "{below}");
    api.set_poll_duration(None);
    let gone = daemon.next_tick();
    assert_eq!(gone["interval_ms"], 1000, "{gone}");
    let (_, _, stderr) = daemon.stop();
    assert!(
        stderr.contains(
            "Buildkite asks for at least 3s between polls (Buildkite-Agent-Metrics-Poll-Duration)"
        ),
        "{stderr}"
    );
    // What is not asserted: the wall-clock gap between ticks (no test times the machine). The
    // daemon's loop and Lambda's both schedule the next tick from the same Scaler::interval that
    // fills `interval_ms`.
}

#[tokio::test]
async fn overprovision_adds_spares_only_while_jobs_are_queued_or_running() {
    let fleet = Fleet::new(0, 10, 0).await;
    let api = CiApi::start(&fleet.token);
    let flags = ["--once", "--json", "--overprovision", "2"];
    let empty = fleet.scale("semaphore", &api, &flags).run();
    empty.success();
    let tick = one_tick(&empty.stdout());
    assert_eq!(tick["action"], "keep", "{tick}");
    assert_eq!(tick["target"], 0, "no spares on an empty queue: {tick}");
    assert_eq!(
        empty.log_messages(),
        [
            TOKEN_READ,
            "INFO semaphore queue: 0 waiting, 0 running, 0 idle agent(s); 0 job(s) / 1 agent(s) \
             per instance + no spares on an empty queue within [0, 10] → 0; ASG ci-agents desired \
             0 already matches"
        ]
    );
    assert_eq!(fleet.desired().await, 0);

    // One job running, none waiting: the spares come.
    api.set_queue(0, 1);
    let busy = fleet.scale("semaphore", &api, &flags).run();
    busy.success();
    let tick = one_tick(&busy.stdout());
    assert_eq!(tick["target"], 3, "{tick}");
    assert_eq!(
        busy.log_messages(),
        [
            TOKEN_READ,
            "INFO semaphore queue: 0 waiting, 1 running, 0 idle agent(s); 1 job(s) / 1 agent(s) \
             per instance + overprovision 2 within [0, 10] → 3; raising ASG ci-agents desired \
             0 → 3"
        ]
    );
    assert_eq!(fleet.desired().await, 3);
}

/// One raw GET to the stand-in: (status, content type, body, poll-duration header).
fn raw_get(api: &CiApi, path: &str, header: Option<(&str, &str)>) -> (u16, String, String, String) {
    let mut stream = TcpStream::connect(api.addr).unwrap();
    let auth = header
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: ci\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let field = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    let poll = field("buildkite-agent-metrics-poll-duration");
    (status, field("content-type"), body.to_string(), poll)
}

/// The stand-in's rules themselves, each as its source has it (cited in standins/src/ci_api.rs),
/// so the scaler's tests cannot pass against a stand-in that answers the way the scaler expects.
#[test]
fn ci_api_stand_in_refuses_tokens_as_the_real_services_do() {
    let api = CiApi::start("tok");
    api.set_queue(3, 1);
    let sem = ci_api::SEMAPHORE_METRICS;
    // Semaphore: 401 only for a missing or malformed header; a well-formed unknown token is 404.
    let (status, kind, body, _) = raw_get(&api, sem, None);
    assert_eq!(
        (status, kind.as_str(), body.as_str()),
        (401, "text/plain; charset=utf-8", "Unauthorized\n")
    );
    assert_eq!(
        raw_get(&api, sem, Some(("Authorization", "Bearer tok"))).0,
        401
    );
    assert_eq!(
        raw_get(&api, sem, Some(("Authorization", "Token Token tok"))).0,
        401
    );
    let (status, _, body, _) = raw_get(&api, sem, Some(("Authorization", "Token old")));
    assert_eq!((status, body.as_str()), (404, "Not Found\n"));
    let (status, kind, body, _) = raw_get(&api, sem, Some(("Authorization", "Token tok")));
    assert_eq!((status, kind.as_str()), (200, "application/json"));
    let metrics: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(metrics["jobs"]["queued"], 3);
    assert_eq!(metrics["jobs"]["running"], 1);
    assert!(metrics["agents"]["idle"].is_number() && metrics["agents"]["occupied"].is_number());

    // Buildkite: a refused agent token is 401 with a JSON message; the poll duration is a header.
    let bk = format!("{}?name=q", ci_api::BUILDKITE_QUEUE);
    let (status, kind, body, _) = raw_get(&api, &bk, Some(("Authorization", "Token old")));
    assert_eq!((status, kind.as_str()), (401, "application/json"));
    assert!(serde_json::from_str::<Value>(&body).unwrap()["message"].is_string());
    api.set_poll_duration(Some("15"));
    let (status, _, body, poll) = raw_get(&api, &bk, Some(("Authorization", "Token tok")));
    assert_eq!((status, poll.as_str()), (200, "15"));
    let metrics: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(metrics["jobs"]["scheduled"], 3);
    assert!(metrics["organization"]["slug"].is_string());

    // CircleCI: the v3 runner paths with Circle-Token; the old v2 paths are not served.
    let rc = "?resource-class=ns%2Fname";
    for (path, field, count) in [
        (ci_api::CIRCLECI_UNCLAIMED, "unclaimed_task_count", 3),
        (ci_api::CIRCLECI_RUNNING, "running_runner_tasks", 1),
    ] {
        let url = format!("{path}{rc}");
        assert_eq!(raw_get(&api, &url, Some(("Circle-Token", "old"))).0, 401);
        let (status, _, body, _) = raw_get(&api, &url, Some(("Circle-Token", "tok")));
        assert_eq!(status, 200);
        let counts: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(counts[field], count, "{path}: {counts}");
    }
    for old in ["/api/v2/tasks", "/api/v2/tasks/running"] {
        let url = format!("{old}{rc}");
        assert_eq!(
            raw_get(&api, &url, Some(("Circle-Token", "tok"))).0,
            404,
            "{old}"
        );
    }
}

#[tokio::test]
async fn missing_token_parameter_fails_the_tick_without_touching_the_group() {
    let fleet = Fleet::new(0, 10, 2).await;
    let api = CiApi::start(&fleet.token);
    api.set_queue(5, 0);
    let out = Cmd::imagekit()
        .envs(fleet.account.env())
        .args(["scale", "--asg", &fleet.asg, "--ci", "semaphore", "--once"])
        .args(["--token-parameter", "/nope", "--endpoint", &api.url()])
        .run();
    // The SDK's error carries moto's request id, so only its start is fixed.
    let messages = out.code(1).log_messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].starts_with(
            "WARN semaphore queue: unreadable; queue unknown, so ASG ci-agents desired stays 2; \
             the next tick retries; error: reading the token from SSM parameter /nope: "
        ),
        "{messages:?}"
    );
    assert!(api.requests().is_empty());
    assert_eq!(fleet.desired().await, 2);
}

#[test]
fn bad_input_is_one_line_and_exit_2_before_any_aws_call() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--ci", "semaphore"],
            "--ci semaphore needs --endpoint ORG.semaphoreci.com",
        ),
        (&["--ci", "buildkite"], "--ci buildkite needs --queue Q"),
        (
            &["--ci", "circleci"],
            "--ci circleci needs --resource-class NAMESPACE/NAME",
        ),
        (
            &["--ci", "circleci", "--resource-class", "nons"],
            "--resource-class \"nons\": expected NAMESPACE/NAME",
        ),
        (
            &["--ci", "buildkite", "--queue", "q", "--overprovision", "5x"],
            "--overprovision \"5x\": expected a count (2) or a percentage (25%)",
        ),
        (
            &[
                "--ci",
                "buildkite",
                "--queue",
                "q",
                "--min",
                "5",
                "--max",
                "3",
            ],
            "--min 5 is above --max 3",
        ),
        (
            &["--ci", "buildkite", "--queue", "q", "--interval", "0s"],
            "--interval must be above zero",
        ),
        (
            &["--ci", "buildkite", "--queue", "q", "--interval", "soon"],
            "--interval: \"soon\" is not a duration: a whole number with an optional unit ms, s, m, h, d or w, such as 500ms, 10s, 12h or 30d",
        ),
        (
            &[
                "--ci",
                "buildkite",
                "--queue",
                "q",
                "--agents-per-instance",
                "0",
            ],
            "--agents-per-instance must be at least 1",
        ),
        (
            &["--ci", "semaphore", "--endpoint", "ftp://x"],
            "--endpoint \"ftp://x\": only http and https URLs are supported",
        ),
    ];
    for (flags, line) in cases {
        // No AWS endpoint or credentials at all: any AWS call would fail differently.
        let out = Cmd::imagekit()
            .args(["scale", "--asg", "a", "--token-parameter", "p"])
            .args(*flags)
            .run();
        out.code(2).stderr_is(&format!("error: {line}\n"));
    }
}

#[test]
fn help_snapshot() {
    let out = Cmd::imagekit().args(["scale", "--help"]).run();
    out.success();
    insta::assert_snapshot!("scale_help", out.stdout());
}

#[tokio::test]
async fn lambda_mode_ticks_until_the_deadline_then_responds() {
    serves_one_invocation(Cmd::imagekit()).await;
}

/// What `stack deploy` uploads: the `bootstrap` in dist's x86_64 zip (static musl, run here as
/// is), verified against SHA256SUMS. What Lambda itself adds (its sandbox, `provided.al2023`)
/// has no offline emulator: the Runtime API stand-in speaks its protocol instead.
#[tokio::test]
async fn the_dist_zips_x86_64_bootstrap_serves_the_lambda_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = support::dist::scaler_bootstrap(LambdaArch::X86_64, dir.path());
    serves_one_invocation(Cmd::new(bootstrap)).await;
}

/// The arm64 zip's `bootstrap`, under qemu-user.
#[tokio::test]
async fn the_dist_zips_arm64_bootstrap_serves_the_lambda_runtime_under_qemu() {
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = support::dist::scaler_bootstrap(LambdaArch::Arm64, dir.path());
    serves_one_invocation(Cmd::new(support::dist::qemu_aarch64()).arg(bootstrap)).await;
}

/// One invocation of the scaler in Lambda mode (`scaler` is the binary as Lambda starts it):
/// it ticks every interval until its deadline's margin, raises the group once, and answers.
async fn serves_one_invocation(scaler: Cmd) {
    let fleet = Fleet::new(0, 10, 0).await;
    let api = CiApi::start(&fleet.token);
    api.set_queue(3, 0);
    let runtime = LambdaApi::start(Duration::from_secs(3));
    // The Lambda runtime starts `bootstrap` with no arguments; settings come from the env.
    let cmd = scaler
        .envs(fleet.account.env())
        .env("AWS_LAMBDA_RUNTIME_API", runtime.runtime_api())
        .env("AWS_LAMBDA_FUNCTION_NAME", "imagekit-scale")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("IMAGEKIT_SCALE_ASG", &fleet.asg)
        .env("IMAGEKIT_SCALE_CI", "semaphore")
        .env("IMAGEKIT_SCALE_TOKEN_PARAMETER", &fleet.parameter)
        .env("IMAGEKIT_SCALE_ENDPOINT", api.url())
        .env("IMAGEKIT_SCALE_INTERVAL", "500ms")
        .env("IMAGEKIT_SCALE_SAFETY_MARGIN", "1s");
    let daemon = Daemon::spawn(cmd);

    let mut posts = Vec::new();
    for _ in 0..300 {
        posts = runtime.posts();
        if !posts.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, stdout, stderr) = daemon.stop();
    assert_eq!(posts.len(), 1, "one response\n{stderr}");
    let post = &posts[0];
    assert_eq!(
        post.path,
        format!("invocation/{}/response", lambda_api::REQUEST_ID),
        "{}\n{stderr}",
        post.body
    );
    let deadline = runtime.deadline_ms().unwrap();
    assert!(
        post.at_ms < deadline,
        "the response came before the deadline ({} ms late)",
        post.at_ms - deadline
    );
    let summary: Value = serde_json::from_str(&post.body).unwrap();
    let ticks = summary["ticks"].as_u64().unwrap();
    assert!(ticks >= 2, "several ticks per invocation: {summary}");
    assert_eq!(
        ticks as usize,
        api.requests().len(),
        "one queue read per tick"
    );
    assert_eq!(summary["raised"], 1, "{summary}");
    assert_eq!(summary["last"]["action"], "keep");
    assert_eq!(fleet.desired().await, 3);
    let tick_lines = stderr
        .lines()
        .filter(|l| l.contains("semaphore queue:"))
        .count();
    assert_eq!(tick_lines as u64, ticks, "one log line per tick\n{stderr}");
    assert_no_secret(&fleet.token, &[&stdout, &stderr, &post.body]);
}

/// Not a test: `bench/scale.sh` runs it to measure a tick's own time (without the CI API's).
#[tokio::test]
#[ignore]
async fn bench_tick() {
    let bin = std::env::var("IMAGEKIT_BENCH_BIN")
        .unwrap_or_else(|_| crate::support::imagekit_bin().display().to_string());
    let ticks: usize = std::env::var("IMAGEKIT_BENCH_TICKS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let fleet = Fleet::new(0, 10, 0).await;
    let api = CiApi::start(&fleet.token);
    api.set_queue(5, 0);
    let cmd = Cmd::new(&bin)
        .envs(fleet.account.env())
        .args([
            "--log-format",
            "json",
            "scale",
            "--asg",
            &fleet.asg,
            "--ci",
            "semaphore",
        ])
        .args([
            "--token-parameter",
            &fleet.parameter,
            "--endpoint",
            &api.url(),
        ])
        .args(["--json", "--interval", "20ms"]);
    let daemon = Daemon::spawn(cmd);
    let mut own = Vec::new();
    let mut api_ms = Vec::new();
    let mut raised = 0;
    for i in 0..ticks + 1 {
        let tick = daemon.next_tick();
        assert_eq!(tick["ok"], true, "{tick}");
        if tick["action"] == "raise" {
            raised += 1;
        }
        // The first tick also reads the token from SSM: leave it out.
        if i > 0 {
            own.push(tick["own_ms"].as_f64().unwrap());
            api_ms.push(tick["api_ms"].as_f64().unwrap());
        }
    }
    daemon.stop();
    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[((v.len() - 1) as f64 * p).round() as usize]
    };
    println!(
        "BENCH ticks={} raised={raised} own_ms_median={:.2} own_ms_p90={:.2} own_ms_min={:.2} api_ms_median={:.2}",
        own.len(),
        pct(&mut own, 0.5),
        pct(&mut own, 0.9),
        pct(&mut own, 0.0),
        pct(&mut api_ms, 0.5)
    );
}

/// Acceptance 3 (issue 14): a group the bootstrap marked as failing to start agents is not
/// raised while its backoff runs, the tick line says so, and it is raised once the backoff is
/// over. The mark is set here as the bootstrap sets it (tests/bootstrap.rs shows a failed boot
/// setting it against moto).
#[tokio::test]
async fn a_group_marked_as_failing_to_start_is_backed_off_then_raised() {
    let fleet = Fleet::new(0, 10, 0).await;
    let api = CiApi::start(&fleet.token);
    api.set_queue(2, 0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    support::fleet::asg_client(&fleet.account)
        .create_or_update_tags()
        .tags(
            aws_sdk_autoscaling::types::Tag::builder()
                .resource_id(&fleet.asg)
                .resource_type("auto-scaling-group")
                .key("imagekit:failed-start")
                .value(format!("{now} 2"))
                .propagate_at_launch(false)
                .build(),
        )
        .send()
        .await
        .unwrap();
    // Two failed starts in a row: twice the base.
    let backoff = [
        "--failed-start-backoff",
        "1s",
        "--failed-start-backoff-max",
        "1m",
    ];
    let tick = || {
        fleet
            .scale(
                "semaphore",
                &api,
                &[&["--once", "--json"][..], &backoff[..]].concat(),
            )
            .run()
    };
    let out = tick();
    out.success();
    let message = out.log_messages().join("\n");
    assert!(
        message.contains("; ASG ci-agents desired stays 0: its instances failed to start an agent 2 time(s) in a row (tag imagekit:failed-start); backing off 2 s, "),
        "{message}"
    );
    assert_eq!(fleet.desired().await, 0, "not raised while backing off");

    // Past the backoff (the mark's time has a 1 s resolution).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let out = tick();
    out.success();
    let message = out.log_messages().join("\n");
    assert!(
        message.ends_with("raising ASG ci-agents desired 0 → 2"),
        "{message}"
    );
    assert_eq!(fleet.desired().await, 2);
}
