//! CircleCI: the runner API's `GET /api/v2/tasks?resource-class=…` (`unclaimed_task_count`) and
//! `GET /api/v2/tasks/running?resource-class=…` (`running_runner_tasks`), with `Circle-Token`.

use reqwest::header::HeaderName;
use serde::Deserialize;

use super::source::{get_json, BoxFuture, QueueSource, QueueState, SourceError, TokenCache};

const CIRCLE_TOKEN: HeaderName = HeaderName::from_static("circle-token");

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
            unclaimed_url: format!("{base}/api/v2/tasks"),
            running_url: format!("{base}/api/v2/tasks/running"),
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
            let unclaimed: Unclaimed = get_json(
                &self.http,
                &mut self.tokens,
                &self.unclaimed_url,
                &query,
                CIRCLE_TOKEN,
                "",
            )
            .await?;
            let running: Running = get_json(
                &self.http,
                &mut self.tokens,
                &self.running_url,
                &query,
                CIRCLE_TOKEN,
                "",
            )
            .await?;
            Ok(QueueState {
                waiting: unclaimed.unclaimed_task_count,
                running: running.running_runner_tasks,
                idle_agents: None,
            })
        })
    }
}
