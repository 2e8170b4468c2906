//! The watch on the instance's metadata, end to end: real moto (the group), the IMDSv2 stand-in
//! serving each event mid-job, and the stand-in Semaphore agent, whose graceful stop (SIGTERM →
//! its shutdown hook with INTERRUPTED) is the real agent's.
//!
//! What moto cannot show: it never sets a target lifecycle state, rebalances or interrupts a
//! spot instance itself (instance refresh and capacity rebalancing are not implemented). The
//! IMDS stand-in announces each event as AWS documents it instead, and moto shows what the
//! bootstrap then did to the group: its desired capacity, and whether the instance is still in
//! it.
//!
//! No test waits on a clock: each waits for a file or a log line the run leaves, with a bound
//! only so that a broken run fails instead of hanging.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use crate::bootstrap::{fleet_on, imds, Boot, Host};
use crate::support::cmd::Run;
use crate::support::fleet::Fleet;
use crate::support::imds::Fault;
use crate::support::wait_until;

/// Short, so that the tests see each event soon; the default is 2 s.
const INTERVAL: &str = "100ms";

/// A job that only a stop ends (and that leaves no process behind when stopped).
const ENDLESS_JOB: &str = "while :; do sleep 0.05; done";

/// A running boot whose log goes to a file the test can read while it runs.
struct Watched {
    child: Child,
    log: PathBuf,
}

/// A fleet of 2 whose first instance is `market` ("spot" or "on-demand"), in service.
async fn fleet(name: &str, market: &str) -> (Fleet, Boot) {
    let (fleet, boot) = fleet_on(Host::Native, name, 2, true).await;
    imds().update(&boot.instance_id, |meta| {
        meta.life_cycle = market.into();
        meta.target_lifecycle_state = Some("InService".into());
    });
    (fleet, boot)
}

impl Watched {
    /// Starts `run` with the short watch interval plus `extra`, and the stand-in agent told
    /// `standin`.
    fn start(boot: &Boot, extra: serde_json::Value, standin: &[(&str, &str)]) -> Watched {
        let mut config = serde_json::json!({ "watch_interval": INTERVAL });
        for (k, v) in extra.as_object().unwrap() {
            config[k.as_str()] = v.clone();
        }
        let config = boot.config(config);
        let log = boot.dir.path().join("run.log");
        let child = boot
            .cmd()
            .args(["run", "--log-format", "json", "--config"])
            .arg(&config)
            .envs(standin.iter().copied())
            .into_command()
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Watched { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the run's log has a line containing `needle`.
    fn wait_for_line(&self, needle: &str) {
        self.wait_for_lines(needle, 1);
    }

    /// Waits until the run's log has `count` lines containing `needle`.
    fn wait_for_lines(&self, needle: &str, count: usize) {
        wait_until(&format!("{count} log lines with {needle:?}"), || {
            self.log().lines().filter(|l| l.contains(needle)).count() >= count
        });
    }

    fn finish(self, boot: &Boot) -> Run {
        let output = self.child.wait_with_output().unwrap();
        let output = std::process::Output {
            stderr: std::fs::read(&self.log).unwrap(),
            ..output
        };
        let out = Run::new("imagekit-bootstrap run (watched)", output);
        boot.assert_token_absent(&out);
        out
    }
}

/// The pre-job hook's record that a job started (the Semaphore provider's busy signal).
fn job_started(boot: &Boot) -> PathBuf {
    boot.agent_dir().join(".imagekit").join("job-started")
}

fn wait_for_file(path: &Path) {
    wait_until(&format!("{}", path.display()), || path.exists());
}

/// The log's lines whose JSON has `key` equal to `value`.
fn lines_with<'a>(log: &'a str, key: &str, value: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .is_ok_and(|v| v[key].as_str() == Some(value))
        })
        .collect()
}

/// The agent's end as the bootstrap read it: the reason its shutdown hook recorded.
fn agent_reason(log: &str) -> Option<String> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "agent exited")
        .and_then(|v| v["reason"].as_str().map(str::to_string))
}

/// The instance went back without a decrement: terminated, and the group launched a
/// replacement in its place.
async fn assert_replaced(fleet: &Fleet, boot: &Boot) {
    assert_eq!(fleet.desired().await, 2, "the desired capacity was lowered");
    assert_eq!(fleet.ec2_state(&boot.instance_id).await, "terminated");
    let now = fleet.instance_ids().await;
    assert_eq!(now.len(), 2, "moto launches a replacement: {now:?}");
    assert!(!now.contains(&boot.instance_id), "{now:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spot_notice_stops_a_busy_agent_gracefully_and_gives_the_instance_back_without_a_decrement(
) {
    let (fleet, boot) = fleet("spot-notice", "spot").await;
    let run = Watched::start(
        &boot,
        serde_json::json!({}),
        &[
            ("STANDIN_JOB", ENDLESS_JOB),
            ("STANDIN_REASON", "JOB_FINISHED"),
        ],
    );
    wait_for_file(&job_started(&boot));
    imds().update(&boot.instance_id, |m| {
        m.spot_action = Some("terminate".into())
    });
    let out = run.finish(&boot);
    out.success();
    let log = out.stderr_any().stderr();

    let seen = lines_with(&log, "seen", "spot interruption notice");
    assert_eq!(seen.len(), 1, "one line for the event:\n{log}");
    assert!(seen[0].contains("\"level\":\"WARN\""), "{}", seen[0]);
    // Its graceful stop: the agent ran its shutdown hook with INTERRUPTED, which only its
    // interrupt handler does, and stopped its job; it was not killed.
    assert_eq!(agent_reason(&log).as_deref(), Some("INTERRUPTED"), "{log}");
    assert_eq!(boot.record("job-result"), "stopped");
    assert!(log.contains("\"signal\":\"SIGTERM\""), "{log}");
    assert!(!log.contains("killing it"), "{log}");
    assert!(!log.contains("\"level\":\"ERROR\""), "{log}");
    assert_replaced(&fleet, &boot).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebalance_recommendation_stops_an_idle_agent_at_once_and_replaces_the_instance() {
    let (fleet, boot) = fleet("rebalance-idle", "spot").await;
    let never = boot.dir.path().join("never");
    let run = Watched::start(
        &boot,
        serde_json::json!({}),
        &[
            ("STANDIN_WAIT_FOR", never.to_str().unwrap()),
            ("STANDIN_REASON", "IDLE"),
        ],
    );
    run.wait_for_line("agent registered");
    imds().update(&boot.instance_id, |m| m.rebalance = true);
    let out = run.finish(&boot);
    out.success();
    let log = out.stderr_any().stderr();

    let seen = lines_with(&log, "seen", "rebalance recommendation");
    assert_eq!(seen.len(), 1, "{log}");
    assert!(seen[0].contains("\"busy\":\"idle\""), "{}", seen[0]);
    assert_eq!(agent_reason(&log).as_deref(), Some("INTERRUPTED"), "{log}");
    // Without the watch, this agent would have ended IDLE (a decrement): it is replaced.
    assert_replaced(&fleet, &boot).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebalance_recommendation_lets_a_busy_agent_finish_its_job_then_replaces_the_instance() {
    let (fleet, boot) = fleet("rebalance-busy", "spot").await;
    let release = boot.dir.path().join("release");
    let job = format!(
        "while [ ! -e '{}' ]; do sleep 0.05; done",
        release.display()
    );
    let run = Watched::start(
        &boot,
        serde_json::json!({}),
        &[("STANDIN_JOB", &job), ("STANDIN_REASON", "JOB_FINISHED")],
    );
    wait_for_file(&job_started(&boot));
    imds().update(&boot.instance_id, |m| m.rebalance = true);
    run.wait_for_line("\"seen\":\"rebalance recommendation\"");
    // Seen while busy: the job goes on until it ends by itself.
    std::fs::write(&release, "").unwrap();
    let out = run.finish(&boot);
    out.success();
    let log = out.stderr_any().stderr();

    let seen = lines_with(&log, "seen", "rebalance recommendation");
    assert_eq!(seen.len(), 1, "{log}");
    assert!(seen[0].contains("\"busy\":\"running\""), "{}", seen[0]);
    assert_eq!(boot.record("job-result"), "passed");
    assert_eq!(agent_reason(&log).as_deref(), Some("JOB_FINISHED"), "{log}");
    assert!(!log.contains("forwarding signal"), "{log}");
    assert_replaced(&fleet, &boot).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_capacity_rebalancing_on_a_recommendation_is_left_to_the_group() {
    let (fleet, boot) = fleet("rebalance-group", "spot").await;
    let release = boot.dir.path().join("release");
    let run = Watched::start(
        &boot,
        serde_json::json!({ "capacity_rebalance": true }),
        &[
            ("STANDIN_WAIT_FOR", release.to_str().unwrap()),
            ("STANDIN_REASON", "IDLE"),
        ],
    );
    run.wait_for_line("agent registered");
    imds().update(&boot.instance_id, |m| m.rebalance = true);
    run.wait_for_line("\"seen\":\"rebalance recommendation\"");
    std::fs::write(&release, "").unwrap();
    let out = run.finish(&boot);
    out.success();
    let log = out.stderr_any().stderr();

    assert!(log.contains("capacity rebalancing on"), "{log}");
    assert!(!log.contains("forwarding signal"), "{log}");
    // The agent ended as it would have without the recommendation: idle, one fewer.
    assert_eq!(agent_reason(&log).as_deref(), Some("IDLE"), "{log}");
    assert_eq!(fleet.desired().await, 1);
    assert_eq!(fleet.ec2_state(&boot.instance_id).await, "terminated");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminated_target_state_stops_the_agent_gracefully_and_leaves_the_instance_to_its_group()
{
    let (fleet, boot) = fleet("withdrawn", "on-demand").await;
    let run = Watched::start(
        &boot,
        serde_json::json!({}),
        &[
            ("STANDIN_JOB", ENDLESS_JOB),
            ("STANDIN_REASON", "JOB_FINISHED"),
        ],
    );
    wait_for_file(&job_started(&boot));
    imds().update(&boot.instance_id, |m| {
        m.target_lifecycle_state = Some("Terminated".into())
    });
    let out = run.finish(&boot);
    out.success();
    let log = out.stderr_any().stderr();

    let seen = lines_with(&log, "seen", "target lifecycle state");
    assert_eq!(seen.len(), 1, "{log}");
    assert!(seen[0].contains("\"state\":\"Terminated\""), "{}", seen[0]);
    assert_eq!(agent_reason(&log).as_deref(), Some("INTERRUPTED"), "{log}");
    assert!(log.contains("\"given_back\":\"LeftToGroup\""), "{log}");
    // No call to the group: moto still has the instance in service, at the same capacity (the
    // real group, which announced the state, terminates it).
    assert_eq!(fleet.desired().await, 2);
    assert!(fleet.instance_ids().await.contains(&boot.instance_id));
    assert_eq!(fleet.ec2_state(&boot.instance_id).await, "running");
}

/// Requests for the watch's three items so far.
fn watch_reads(instance_id: &str) -> u64 {
    [
        "meta-data/spot/instance-action",
        "meta-data/events/recommendations/rebalance",
        "meta-data/autoscaling/target-lifecycle-state",
    ]
    .iter()
    .map(|p| imds().served(instance_id, p))
    .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_metadata_service_answering_500_or_nothing_changes_nothing() {
    let (fleet, boot) = fleet("imds-faults", "spot").await;
    let release = boot.dir.path().join("release");
    let run = Watched::start(
        &boot,
        serde_json::json!({}),
        &[
            ("STANDIN_WAIT_FOR", release.to_str().unwrap()),
            ("STANDIN_REASON", "IDLE"),
        ],
    );
    run.wait_for_line("agent registered");
    let id = boot.instance_id.clone();
    for (streak, (fault, polls)) in [(Fault::Status(500), 5), (Fault::Silent, 3)]
        .into_iter()
        .enumerate()
    {
        imds().set_fault(&id, Some(fault));
        let before = watch_reads(&id);
        wait_until(&format!("{polls} reads under {fault:?}"), || {
            watch_reads(&id) >= before + polls
        });
        imds().set_fault(&id, None);
        run.wait_for_lines("answers the watch again", streak + 1);
    }
    std::fs::write(&release, "").unwrap();
    let out = run.finish(&boot);
    out.success();
    let log = out.stderr_any().stderr();

    // Each streak is one WARN line and one line when it ends, and nothing was done.
    let warned = log
        .lines()
        .filter(|l| l.contains("did not answer the watch"))
        .count();
    assert_eq!(warned, 2, "{log}");
    assert!(lines_with(&log, "seen", "spot interruption notice").is_empty());
    assert!(!log.contains("forwarding signal"), "{log}");
    assert_eq!(agent_reason(&log).as_deref(), Some("IDLE"), "{log}");
    assert_eq!(
        fleet.desired().await,
        1,
        "the idle agent's instance goes with a decrement"
    );
    assert_eq!(fleet.ec2_state(&boot.instance_id).await, "terminated");
}
