//! Semaphore: `GET /api/v1/self_hosted_agents/metrics` with the agent type's registration token.
//!
//! The answer counts the agent type's jobs (`queued`, `running`) and agents (`idle`, `occupied`).

use serde::Deserialize;

use super::source::{get_json, BoxFuture, QueueSource, QueueState, SourceError, TokenCache};

pub struct Semaphore {
    http: reqwest::Client,
    tokens: TokenCache,
    url: String,
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
    queued: u32,
    #[serde(default)]
    running: u32,
}

#[derive(Debug, Deserialize)]
struct Agents {
    #[serde(default)]
    idle: u32,
}

impl Semaphore {
    /// `base` is the organization's API base URL, e.g. `https://acme.semaphoreci.com`.
    pub fn new(http: reqwest::Client, tokens: TokenCache, base: &str) -> Self {
        Semaphore {
            http,
            tokens,
            url: format!("{base}/api/v1/self_hosted_agents/metrics"),
        }
    }
}

impl QueueSource for Semaphore {
    fn name(&self) -> &'static str {
        "semaphore"
    }

    fn poll(&mut self) -> BoxFuture<'_, Result<QueueState, SourceError>> {
        Box::pin(async move {
            let m: Metrics = get_json(
                &self.http,
                &mut self.tokens,
                &self.url,
                &[],
                reqwest::header::AUTHORIZATION,
                "Token ",
            )
            .await?;
            Ok(QueueState {
                waiting: m.jobs.queued,
                running: m.jobs.running,
                idle_agents: m.agents.map(|a| a.idle),
            })
        })
    }
}
