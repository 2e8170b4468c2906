//! `imagekit scale`: grows an Auto Scaling group from a CI system's job queue.
//!
//! Each tick reads the queue (one request, 1 s budget, no retry: the next tick is the retry),
//! reads the group, decides with [`decision::decide`], and raises the desired capacity when the
//! queue needs more. It never lowers it: instances leave on their own when idle. Each tick logs
//! one line saying what it saw, what it decided and why; `--json` adds one JSON object per tick
//! on stdout. The first tick that reads the group also suspends its AZ rebalancing
//! ([`crate::az_rebalance`]), for groups that `imagekit stack deploy` did not make.

pub mod buildkite;
pub mod circleci;
pub mod decision;
pub mod lambda;
pub mod metrics;
pub mod semaphore;
pub mod settings;
pub mod source;

use imagekit_bootstrap::aws::failure::{region_of, AwsFailure};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use serde::Serialize;

use crate::exit::ExitStatus;
use crate::printer::Printer;
use imagekit_core::AgentKind;

use decision::{decide, Decision, Inputs, Why};
pub use settings::{Options, Settings};
use source::{QueueSource, QueueState, TokenCache};

/// AWS calls get a short budget and no retry either: a tick must stay short, and the next tick
/// is the retry.
const AWS_TIMEOUT: Duration = Duration::from_secs(2);

/// The group as DescribeAutoScalingGroups shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Group {
    pub desired: u32,
    pub min: u32,
    pub max: u32,
    /// The bootstrap's failed-start mark, when the group has one.
    #[serde(skip)]
    pub failed_start: Option<imagekit_core::failed_start::Mark>,
    /// Whether the group's AZ rebalancing is suspended.
    #[serde(skip)]
    pub az_rebalance_suspended: bool,
}

/// What the first tick found, or did, about the group's AZ rebalancing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AzRebalance {
    /// It was suspended already (by `imagekit stack deploy`, or by hand).
    AlreadySuspended,
    /// This tick suspended it.
    Suspended,
    /// It was on, and `--dry-run` left it on.
    WouldSuspend,
    /// SuspendProcesses failed; the next tick tries again.
    Failed,
}

/// What a tick did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// SetDesiredCapacity raised the group.
    Raise,
    /// A raise was due, but `--dry-run` held it back.
    WouldRaise,
    /// Nothing to change (or nothing known well enough to change it).
    Keep,
    /// A raise was due and SetDesiredCapacity failed.
    Failed,
}

/// One tick, as logged and printed with `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct TickReport {
    pub ci: &'static str,
    pub asg: String,
    /// The queue, when it could be read.
    pub queue: Option<QueueState>,
    /// The group before the tick, when it could be read.
    pub group: Option<Group>,
    /// The bounds used (flags, else the group's own).
    pub min: Option<u32>,
    pub max: Option<u32>,
    /// The capacity the queue calls for, when known.
    pub target: Option<u32>,
    pub action: Action,
    /// The group's desired capacity after the tick, when known.
    pub desired: Option<u32>,
    /// Why the tick did what it did.
    pub reason: String,
    /// What went wrong, if anything (queue, group or SetDesiredCapacity).
    pub error: Option<String>,
    /// Why `--metrics` could not publish, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_error: Option<String>,
    /// The group's AZ rebalancing, on the tick that looked at it (the first that read the group,
    /// or each until SuspendProcesses succeeds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub az_rebalance: Option<AzRebalance>,
    /// Why SuspendProcesses failed, if it did. The scaling itself goes on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub az_rebalance_error: Option<String>,
    /// Whether the tick read everything it needed and carried out its decision.
    pub ok: bool,
    /// The time until the next tick: `--interval`, or longer when the CI API asks for it.
    pub interval_ms: u64,
    /// The whole tick, the CI API's share of it, and the rest (the tick's own time).
    pub tick_ms: f64,
    pub api_ms: f64,
    pub own_ms: f64,
}

/// The scaler's state across ticks: clients and the cached token.
pub struct Scaler {
    settings: Settings,
    source: Box<dyn QueueSource>,
    autoscaling: aws_sdk_autoscaling::Client,
    metrics: Option<metrics::Publisher>,
    /// Whether a tick has seen the group's AZ rebalancing suspended (or left it on, dry run):
    /// only once, so an operator who resumes it on purpose is not overruled every minute.
    az_rebalance_seen: bool,
}

impl Scaler {
    pub async fn new(settings: Settings) -> Scaler {
        imagekit_bootstrap::aws::install_crypto_provider();
        let sdk = sdk_config(settings.region.clone()).await;
        let tokens = TokenCache::new(
            aws_sdk_ssm::Client::new(&sdk),
            settings.token_parameter.clone(),
        );
        let http = source::http_client();
        let base = settings.base_url.as_str();
        let source: Box<dyn QueueSource> = match settings.ci {
            AgentKind::Semaphore => Box::new(semaphore::Semaphore::new(http, tokens, base)),
            AgentKind::Buildkite => Box::new(buildkite::Buildkite::new(
                http,
                tokens,
                base,
                settings.queue.clone().unwrap_or_default(),
            )),
            AgentKind::Circleci => Box::new(circleci::Circleci::new(
                http,
                tokens,
                base,
                settings.resource_class.clone().unwrap_or_default(),
            )),
        };
        let metrics = settings.metrics.then(|| {
            metrics::Publisher::new(
                &sdk,
                settings.metrics_namespace.clone(),
                settings.asg.clone(),
                source.name(),
            )
        });
        Scaler {
            autoscaling: aws_sdk_autoscaling::Client::new(&sdk),
            settings,
            source,
            metrics,
            az_rebalance_seen: false,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The time between ticks: `--interval`, raised to what the CI API asks between polls.
    pub fn interval(&self) -> Duration {
        self.settings
            .interval
            .max(self.source.min_interval().unwrap_or_default())
    }

    /// One tick: read the queue, read the group, decide, act. Never fails: what went wrong is in
    /// the report, and the group is left alone.
    pub async fn tick(&mut self) -> TickReport {
        let start = Instant::now();
        let queue = self.source.poll().await;
        let api = start.elapsed();
        let mut report = TickReport {
            ci: self.source.name(),
            asg: self.settings.asg.clone(),
            queue: queue.as_ref().ok().copied(),
            group: None,
            min: None,
            max: None,
            target: None,
            action: Action::Keep,
            desired: None,
            reason: String::new(),
            error: None,
            metrics_error: None,
            az_rebalance: None,
            az_rebalance_error: None,
            ok: false,
            interval_ms: 0,
            tick_ms: 0.0,
            api_ms: 0.0,
            own_ms: 0.0,
        };
        match self.describe_group().await {
            Err(err) => {
                report.reason = "the group could not be read, so nothing was changed".into();
                report.error = Some(match &queue {
                    Ok(_) => err,
                    Err(q) => format!("{q}; {err}"),
                });
            }
            Ok(group) => {
                self.suspend_az_rebalance(&group, &mut report).await;
                self.decide_and_act(group, &queue, &mut report).await;
            }
        }
        if let (Some(publisher), Ok(q)) = (&self.metrics, &queue) {
            // Metrics are for people; a failure to publish them never fails the scaling.
            report.metrics_error = publisher.publish(q, &report).await.err();
        }
        report.interval_ms = u64::try_from(self.interval().as_millis()).unwrap_or(u64::MAX);
        let total = start.elapsed();
        report.tick_ms = millis(total);
        report.api_ms = millis(api);
        report.own_ms = millis(total.saturating_sub(api));
        report
    }

    /// With the group read: decides from the queue and raises the group when that is due.
    async fn decide_and_act(
        &self,
        group: Group,
        queue: &Result<QueueState, source::SourceError>,
        report: &mut TickReport,
    ) {
        report.group = Some(group);
        report.desired = Some(group.desired);
        let min = self.settings.min.unwrap_or(group.min);
        // AWS refuses a desired capacity above the group's MaxSize.
        let max = self.settings.max.unwrap_or(group.max).min(group.max);
        report.min = Some(min);
        report.max = Some(max);
        let inputs = Inputs {
            jobs: queue.as_ref().ok().map(QueueState::jobs),
            current: group.desired,
            min,
            max,
            overprovision: self.settings.overprovision,
            agents_per_instance: self.settings.agents_per_instance,
        };
        let decision = decide(&inputs);
        report.target = decision.target();
        report.reason = self.explain(&inputs, &decision);
        if let (Decision::Raise { .. }, Some(wait)) = (&decision, self.backing_off(&group)) {
            report.reason = wait;
            report.ok = true;
            return;
        }
        match decision {
            Decision::Keep { why, .. } => {
                if why == Why::QueueUnknown {
                    report.error = queue.as_ref().err().map(ToString::to_string);
                } else {
                    report.ok = true;
                }
            }
            Decision::Raise { .. } if self.settings.dry_run => {
                report.action = Action::WouldRaise;
                report.ok = true;
            }
            Decision::Raise { to, .. } => match self.set_desired(to).await {
                Ok(()) => {
                    report.action = Action::Raise;
                    report.desired = Some(to);
                    report.ok = true;
                }
                Err(err) => {
                    report.action = Action::Failed;
                    report.error = Some(err);
                }
            },
        }
    }

    /// Until a tick has seen it suspended: suspends the group's AZ rebalancing (a dry run only
    /// reports it). A failure is reported and retried on the next tick; it never holds up the
    /// scaling.
    async fn suspend_az_rebalance(&mut self, group: &Group, report: &mut TickReport) {
        if self.az_rebalance_seen {
            return;
        }
        let outcome = if group.az_rebalance_suspended {
            AzRebalance::AlreadySuspended
        } else if self.settings.dry_run {
            AzRebalance::WouldSuspend
        } else {
            match crate::az_rebalance::suspend(&self.autoscaling, &self.settings.asg).await {
                Ok(()) => AzRebalance::Suspended,
                Err(failure) => {
                    report.az_rebalance_error = Some(format!(
                        "suspending AZ rebalancing on ASG {}: {failure}",
                        self.settings.asg
                    ));
                    AzRebalance::Failed
                }
            }
        };
        self.az_rebalance_seen = outcome != AzRebalance::Failed;
        report.az_rebalance = Some(outcome);
    }

    /// Why a raise waits: the group's instances keep failing to start an agent (the
    /// bootstrap's mark), and its backoff has not run out.
    fn backing_off(&self, group: &Group) -> Option<String> {
        let mark = group.failed_start?;
        let (base, cap) = (
            self.settings.failed_start_backoff,
            self.settings.failed_start_backoff_max,
        );
        let left = mark
            .until(base, cap)
            .duration_since(std::time::SystemTime::now())
            .ok()?;
        Some(format!(
            "ASG {asg} desired stays {current}: its instances failed to start an agent {count} time(s) in a row (tag {tag}); backing off {backoff} s, {left} s left",
            asg = self.settings.asg,
            current = group.desired,
            count = mark.count,
            tag = imagekit_core::failed_start::TAG,
            backoff = mark.backoff(base, cap).as_secs(),
            left = left.as_secs().max(1),
        ))
    }

    fn explain(&self, inputs: &Inputs, decision: &Decision) -> String {
        let asg = &self.settings.asg;
        let current = inputs.current;
        let Some(jobs) = inputs.jobs else {
            return format!(
                "queue unknown, so ASG {asg} desired stays {current}; the next tick retries"
            );
        };
        let per = inputs.agents_per_instance;
        let target = decision.target().unwrap_or(current);
        let spares = if jobs == 0 {
            "no spares on an empty queue".to_string()
        } else {
            format!("overprovision {}", self.settings.overprovision)
        };
        let why_target = format!(
            "{jobs} job(s) / {per} agent(s) per instance + {spares} within [{}, {}] → {target}",
            inputs.min, inputs.max
        );
        match decision {
            Decision::Raise { to, .. } if self.settings.dry_run => {
                format!("{why_target}; would raise ASG {asg} desired {current} → {to} (dry run)")
            }
            Decision::Raise { to, .. } => {
                format!("{why_target}; raising ASG {asg} desired {current} → {to}")
            }
            Decision::Keep {
                why: Why::Enough, ..
            } => format!("{why_target}; ASG {asg} desired {current} already matches"),
            Decision::Keep { .. } => format!(
                "{why_target}; ASG {asg} desired {current} is above it and is left alone \
                 (never scales in: idle instances leave on their own)"
            ),
        }
    }

    async fn describe_group(&self) -> Result<Group, String> {
        let asg = &self.settings.asg;
        let out = self
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(asg)
            .send()
            .await
            .map_err(|e| {
                let region = region_of(self.autoscaling.config().region());
                let failure = AwsFailure::new("autoscaling:DescribeAutoScalingGroups", &region, &e);
                format!("reading ASG {asg}: {failure}")
            })?;
        let group = out
            .auto_scaling_groups()
            .iter()
            .find(|g| g.auto_scaling_group_name() == Some(asg.as_str()))
            .ok_or_else(|| {
                format!("DescribeAutoScalingGroups: no Auto Scaling group named {asg}")
            })?;
        let count = |v: Option<i32>| v.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
        let failed_start = group
            .tags()
            .iter()
            .find(|t| t.key() == Some(imagekit_core::failed_start::TAG))
            .and_then(|t| t.value())
            .and_then(imagekit_core::failed_start::Mark::parse);
        Ok(Group {
            desired: count(group.desired_capacity()),
            min: count(group.min_size()),
            max: count(group.max_size()),
            failed_start,
            az_rebalance_suspended: crate::az_rebalance::is_suspended(group),
        })
    }

    async fn set_desired(&self, to: u32) -> Result<(), String> {
        let asg = &self.settings.asg;
        self.autoscaling
            .set_desired_capacity()
            .auto_scaling_group_name(asg)
            .desired_capacity(i32::try_from(to).unwrap_or(i32::MAX))
            .honor_cooldown(false)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let region = region_of(self.autoscaling.config().region());
                let failure = AwsFailure::new("autoscaling:SetDesiredCapacity", &region, &e);
                format!("raising {asg} to {to}: {failure}")
            })
    }
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The shared SDK config, with the scaler's short timeouts and no retries.
async fn sdk_config(region: Option<String>) -> SdkConfig {
    imagekit_bootstrap::aws::sdk_config(region)
        .await
        .into_builder()
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(AWS_TIMEOUT)
                .connect_timeout(AWS_TIMEOUT)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .build()
}

/// Logs a tick as one line, and prints it as one JSON line when the printer is in JSON mode.
pub fn emit(report: &TickReport, printer: &Printer) {
    let seen = match &report.queue {
        Some(q) => format!(
            "{} queue: {} waiting, {} running{}",
            report.ci,
            q.waiting,
            q.running,
            q.idle_agents
                .map(|n| format!(", {n} idle agent(s)"))
                .unwrap_or_default()
        ),
        None => format!("{} queue: unreadable", report.ci),
    };
    let action = match report.action {
        Action::Raise => "raise",
        Action::WouldRaise => "would-raise",
        Action::Keep => "keep",
        Action::Failed => "failed",
    };
    let metrics = report
        .metrics_error
        .as_deref()
        .map(|e| format!("; metrics not published: {e}"))
        .unwrap_or_default();
    emit_az_rebalance(report);
    match &report.error {
        None if report.metrics_error.is_some() => tracing::warn!(
            asg = %report.asg,
            action,
            desired = report.desired,
            tick_ms = report.tick_ms,
            "{seen}; {}{metrics}",
            report.reason
        ),
        None => tracing::info!(
            asg = %report.asg,
            action,
            desired = report.desired,
            tick_ms = report.tick_ms,
            "{seen}; {}",
            report.reason
        ),
        Some(error) => tracing::warn!(
            asg = %report.asg,
            action,
            desired = report.desired,
            tick_ms = report.tick_ms,
            "{seen}; {}; error: {error}{metrics}",
            report.reason
        ),
    }
    if printer.is_json() {
        // A daemon keeps ticking when nobody reads its stdout any more.
        let _ = printer.json_line(report);
    }
}

/// The first tick's AZ-rebalancing line, when it did or found something worth saying.
fn emit_az_rebalance(report: &TickReport) {
    let asg = &report.asg;
    match (report.az_rebalance, &report.az_rebalance_error) {
        (Some(AzRebalance::Suspended), _) => tracing::info!(
            asg = %asg,
            "suspended AZ rebalancing on ASG {asg}: it would end instances mid-job to even out zones"
        ),
        (Some(AzRebalance::WouldSuspend), _) => tracing::info!(
            asg = %asg,
            "would suspend AZ rebalancing on ASG {asg} (dry run): it would end instances mid-job"
        ),
        (Some(AzRebalance::Failed), Some(error)) => tracing::warn!(
            asg = %asg,
            "{error}; the next tick tries again (the scaler's policy grants {})",
            crate::az_rebalance::ACTION
        ),
        _ => {}
    }
}

/// The daemon: a jittered first tick (so a fleet of scalers does not poll in step), then one tick
/// every interval. SIGTERM stops it cleanly (0); Ctrl-C too, with 130.
pub async fn run(settings: Settings, printer: &Printer) -> ExitStatus {
    let interval = settings.interval;
    let mut scaler = Scaler::new(settings).await;
    if scaler.settings().once {
        let report = scaler.tick().await;
        emit(&report, printer);
        return if report.ok {
            ExitStatus::Success
        } else {
            ExitStatus::Failure
        };
    }
    let jitter = interval.mul_f64(rand::random::<f64>());
    tracing::info!(
        asg = %scaler.settings().asg,
        "scaling every {} ms; first tick in {} ms (jitter)",
        interval.as_millis(),
        jitter.as_millis()
    );
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + jitter, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            status = &mut stop => {
                tracing::info!("stopping");
                return status;
            }
            at = ticker.tick() => {
                let report = scaler.tick().await;
                emit(&report, printer);
                ticker.reset_at(at + scaler.interval());
            }
        }
    }
}

/// Resolves on SIGTERM (→ success) or Ctrl-C (→ 130).
async fn stop_signal() -> ExitStatus {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = term.recv() => ExitStatus::Success,
                _ = tokio::signal::ctrl_c() => ExitStatus::Interrupted,
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    ExitStatus::Interrupted
}
