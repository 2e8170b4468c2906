//! Semaphore: `GET /api/v1/self_hosted_agents/metrics` with the agent type's registration token.
//!
//! The answer counts the agent type's jobs (`queued`, `running`) and agents (`idle`, `occupied`).
//! The hub's auth middleware answers 401 only to a missing or malformed `Authorization` header;
//! a well-formed token that no agent type holds passes it and the metrics handler answers 404
//! (semaphoreio/semaphore@2bf23f546949eda738818933593667c257e377a3:
//! self_hosted_hub/pkg/publicapi/auth.go, and `GetMetrics` in server.go). So a rotated token
//! shows up as a 404, and both statuses mean "read the token again".

use reqwest::StatusCode;
use serde::Deserialize;

use super::source::{get_json, Auth, BoxFuture, QueueSource, QueueState, SourceError, TokenCache};

const AUTH: Auth = Auth {
    header: reqwest::header::AUTHORIZATION,
    prefix: "Token ",
    refused: &[StatusCode::UNAUTHORIZED, StatusCode::NOT_FOUND],
    what: "the agent type's registration token",
};

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
            let mut tokens = self.tokens.for_poll();
            let m: Metrics = get_json(&self.http, &mut tokens, &AUTH, &self.url, &[])
                .await?
                .body;
            Ok(QueueState {
                waiting: m.jobs.queued,
                running: m.jobs.running,
                idle_agents: m.agents.map(|a| a.idle),
            })
        })
    }
}
