//! Buildkite: the agent metrics API, `GET /v3/metrics/queue?name=<queue>`, with an agent token.
//!
//! The answer counts the queue's jobs (`scheduled`, `running`, `waiting`) and agents (`idle`,
//! `busy`). Scheduled jobs wait for an agent; waiting ones still wait on their dependencies, so
//! they need no agent yet (buildkite-agent-scaler leaves them out by default too).

use serde::Deserialize;

use super::source::{get_json, BoxFuture, QueueSource, QueueState, SourceError, TokenCache};

pub struct Buildkite {
    http: reqwest::Client,
    tokens: TokenCache,
    url: String,
    queue: String,
}

#[derive(Debug, Deserialize)]
struct Metrics {
    jobs: Jobs,
    #[serde(default)]
    agents: Option<Agents>,
}

#[derive(Debug, Deserialize)]
struct Jobs {
    #[serde(default)]
    scheduled: u32,
    #[serde(default)]
    running: u32,
}

#[derive(Debug, Deserialize)]
struct Agents {
    #[serde(default)]
    idle: u32,
}

impl Buildkite {
    /// `base` defaults to `https://agent.buildkite.com`.
    pub fn new(http: reqwest::Client, tokens: TokenCache, base: &str, queue: String) -> Self {
        Buildkite {
            http,
            tokens,
            url: format!("{base}/v3/metrics/queue"),
            queue,
        }
    }
}

impl QueueSource for Buildkite {
    fn name(&self) -> &'static str {
        "buildkite"
    }

    fn poll(&mut self) -> BoxFuture<'_, Result<QueueState, SourceError>> {
        Box::pin(async move {
            let m: Metrics = get_json(
                &self.http,
                &mut self.tokens,
                &self.url,
                &[("name", self.queue.as_str())],
                reqwest::header::AUTHORIZATION,
                "Token ",
            )
            .await?;
            Ok(QueueState {
                waiting: m.jobs.scheduled,
                running: m.jobs.running,
                idle_agents: m.agents.map(|a| a.idle),
            })
        })
    }
}
