//! CircleCI: the self-hosted runner API's `GET /api/v3/runner/tasks?resource-class=…`
//! (`unclaimed_task_count`) and `GET /api/v3/runner/tasks/running?resource-class=…`
//! (`running_runner_tasks`), with a personal token in `Circle-Token`, as documented on
//! <https://circleci.com/docs/reference/runner-api/>
//! (circleci/circleci-docs@9734a1410cc98741bc09b84f187325a8f43baf68:
//! docs/guides/modules/execution-runner/pages/runner-api.adoc). The `/api/v2/tasks` paths of an
//! older blog post are not that API.

use reqwest::header::HeaderName;
use reqwest::StatusCode;
use serde::Deserialize;

use super::source::{get_json, Auth, BoxFuture, QueueSource, QueueState, SourceError, TokenCache};

/// The page documents only the 200 answers; a refused personal token is the v2 API's 401 (the
/// page says Circle-Token "follows the same rules for CircleCI v2 API").
const AUTH: Auth = Auth {
    header: HeaderName::from_static("circle-token"),
    prefix: "",
    refused: &[StatusCode::UNAUTHORIZED],
    what: "a CircleCI personal API token",
};

pub struct Circleci {
    http: reqwest::Client,
    tokens: TokenCache,
    unclaimed_url: String,
    running_url: String,
    resource_class: String,
}

#[derive(Debug, Deserialize)]
struct Unclaimed {
    unclaimed_task_count: u32,
}

#[derive(Debug, Deserialize)]
struct Running {
    running_runner_tasks: u32,
}

impl Circleci {
    /// `base` defaults to `https://runner.circleci.com`.
    pub fn new(
        http: reqwest::Client,
        tokens: TokenCache,
        base: &str,
        resource_class: String,
    ) -> Self {
        Circleci {
            http,
            tokens,
            unclaimed_url: format!("{base}/api/v3/runner/tasks"),
            running_url: format!("{base}/api/v3/runner/tasks/running"),
            resource_class,
        }
    }
}

impl QueueSource for Circleci {
    fn name(&self) -> &'static str {
        "circleci"
    }

    fn poll(&mut self) -> BoxFuture<'_, Result<QueueState, SourceError>> {
        Box::pin(async move {
            let query = [("resource-class", self.resource_class.as_str())];
            let mut tokens = self.tokens.for_poll();
            let unclaimed: Unclaimed =
                get_json(&self.http, &mut tokens, &AUTH, &self.unclaimed_url, &query)
                    .await?
                    .body;
            let running: Running =
                get_json(&self.http, &mut tokens, &AUTH, &self.running_url, &query)
                    .await?
                    .body;
            Ok(QueueState {
                waiting: unclaimed.unclaimed_task_count,
                running: running.running_runner_tasks,
                idle_agents: None,
            })
        })
    }
}
