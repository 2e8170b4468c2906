//! Buildkite: the agent API's queue metrics, `GET <agent endpoint>/metrics/queue?name=<queue>`,
//! with an agent token.
//!
//! The agent endpoint is `https://agent.buildkite.com/v3`, and Buildkite's own tools take it with
//! its `/v3` and append `/metrics/queue` (buildkite/buildkite-agent-metrics@
//! 3a8091b010715b302c0bda1f842cdd26ae8bd66c:collector/collector.go; main.go's `-endpoint`
//! default). `--endpoint` is accepted with or without it.
//!
//! The answer counts the queue's jobs (`scheduled`, `running`, `waiting`) and agents (`idle`,
//! `busy`). Scheduled jobs wait for an agent; waiting ones still wait on their dependencies, so
//! they need no agent yet (buildkite-agent-scaler leaves them out by default too). The
//! `Buildkite-Agent-Metrics-Poll-Duration` header, whole seconds, is the shortest time the API
//! wants between polls; both of Buildkite's clients wait at least that long (collector.go, and
//! buildkite/buildkite-agent-scaler@49c4145377fd26fea0f2e9b9eaadfb25ec1956ee:
//! buildkite/buildkite.go).

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde::Deserialize;

use super::source::{get_json, Auth, BoxFuture, QueueSource, QueueState, SourceError, TokenCache};

const AUTH: Auth = Auth {
    header: reqwest::header::AUTHORIZATION,
    prefix: "Token ",
    refused: &[StatusCode::UNAUTHORIZED],
    what: "a Buildkite agent token",
};

const POLL_DURATION: &str = "buildkite-agent-metrics-poll-duration";

pub struct Buildkite {
    http: reqwest::Client,
    tokens: TokenCache,
    url: String,
    queue: String,
    poll_duration: Option<Duration>,
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

/// The agent API's base: `base` with `/v3`, whether or not it was given.
pub fn agent_api(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/v3") {
        base.to_string()
    } else {
        format!("{base}/v3")
    }
}

impl Buildkite {
    /// `base` defaults to `https://agent.buildkite.com`; a trailing `/v3` is the same endpoint.
    pub fn new(http: reqwest::Client, tokens: TokenCache, base: &str, queue: String) -> Self {
        Buildkite {
            http,
            tokens,
            url: format!("{}/metrics/queue", agent_api(base)),
            queue,
            poll_duration: None,
        }
    }

    /// Keeps the poll duration the API asked for (none when the header is absent or unreadable,
    /// as Buildkite's clients do), and says so when it changes.
    fn note_poll_duration(&mut self, headers: &HeaderMap) {
        let asked = headers.get(POLL_DURATION).and_then(|v| {
            let text = v.to_str().ok()?;
            match imagekit_core::duration::parse(text) {
                Ok(d) => Some(d),
                Err(e) => {
                    tracing::warn!(
                        "ignoring the Buildkite-Agent-Metrics-Poll-Duration header: {e}"
                    );
                    None
                }
            }
        });
        if asked != self.poll_duration {
            if let Some(d) = asked {
                tracing::info!(
                    "Buildkite asks for at least {} between polls \
                     (Buildkite-Agent-Metrics-Poll-Duration)",
                    imagekit_core::duration::format(d)
                );
            }
            self.poll_duration = asked;
        }
    }
}

impl QueueSource for Buildkite {
    fn name(&self) -> &'static str {
        "buildkite"
    }

    fn poll(&mut self) -> BoxFuture<'_, Result<QueueState, SourceError>> {
        Box::pin(async move {
            let query = [("name", self.queue.as_str())];
            let mut tokens = self.tokens.for_poll();
            let reply =
                get_json::<Metrics>(&self.http, &mut tokens, &AUTH, &self.url, &query).await?;
            self.note_poll_duration(&reply.headers);
            let m = reply.body;
            Ok(QueueState {
                waiting: m.jobs.scheduled,
                running: m.jobs.running,
                idle_agents: m.agents.map(|a| a.idle),
            })
        })
    }

    fn min_interval(&self) -> Option<Duration> {
        self.poll_duration
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_endpoint_is_taken_with_or_without_v3() {
        for base in [
            "https://agent.buildkite.com",
            "https://agent.buildkite.com/v3",
            "https://agent.buildkite.com/v3/",
        ] {
            assert_eq!(agent_api(base), "https://agent.buildkite.com/v3", "{base}");
        }
        assert_eq!(
            agent_api("http://127.0.0.1:8080/proxy"),
            "http://127.0.0.1:8080/proxy/v3"
        );
    }
}
