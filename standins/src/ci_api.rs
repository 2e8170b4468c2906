//! A stand-in for the three CI systems' queue APIs (no CI control plane runs offline).
//!
//! One server answers Semaphore's `/api/v1/self_hosted_agents/metrics`, Buildkite's
//! `/v3/metrics/queue?name=` and CircleCI's `/api/v2/tasks[/running]?resource-class=`, with the
//! response shapes of the real APIs. Tests set the queue, the accepted token and a fault (an
//! error status, or a reply slower than the scaler's 1 s budget), and read back what was asked.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

/// How the next replies misbehave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Answer with this status.
    Status(u16),
    /// Answer correctly, but only after this long.
    Delay(Duration),
}

#[derive(Debug)]
struct Inner {
    waiting: u32,
    running: u32,
    token: String,
    fault: Fault,
    /// How many more replies the fault applies to (`None`: until changed).
    fault_left: Option<u32>,
    requests: Vec<Seen>,
}

/// One request as the stand-in saw it (the token only as "did it match").
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub query: HashMap<String, String>,
    pub authorized: bool,
}

#[derive(Clone)]
pub struct CiApi {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

impl CiApi {
    /// Starts a server on 127.0.0.1 that accepts `token`, with an empty queue.
    pub fn start(token: &str) -> CiApi {
        let inner = Arc::new(Mutex::new(Inner {
            waiting: 0,
            running: 0,
            token: token.to_string(),
            fault: Fault::None,
            fault_left: None,
            requests: Vec::new(),
        }));
        let app = Router::new()
            .route("/api/v1/self_hosted_agents/metrics", get(semaphore))
            .route("/v3/metrics/queue", get(buildkite))
            .route("/api/v2/tasks", get(circleci_unclaimed))
            .route("/api/v2/tasks/running", get(circleci_running))
            .with_state(inner.clone());
        CiApi {
            addr: crate::http::serve(app),
            inner,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_queue(&self, waiting: u32, running: u32) {
        let mut inner = self.inner.lock().unwrap();
        inner.waiting = waiting;
        inner.running = running;
    }

    pub fn set_token(&self, token: &str) {
        self.inner.lock().unwrap().token = token.to_string();
    }

    /// Applies `fault` to the next `times` replies (then behaves again), or to all with `None`.
    pub fn set_fault(&self, fault: Fault, times: Option<u32>) {
        let mut inner = self.inner.lock().unwrap();
        inner.fault = fault;
        inner.fault_left = times;
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.inner.lock().unwrap().requests.clone()
    }
}

type Shared = Arc<Mutex<Inner>>;

/// Records the request and decides its fate: `Err` is the reply to send instead of the queue.
async fn gate(
    inner: &Shared,
    path: &str,
    query: HashMap<String, String>,
    headers: &HeaderMap,
    header: &str,
    prefix: &str,
) -> Result<(u32, u32), Response> {
    let (fault, waiting, running, authorized) = {
        let mut inner = inner.lock().unwrap();
        let expected = format!("{prefix}{}", inner.token);
        let authorized = headers
            .get(header)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == expected);
        inner.requests.push(Seen {
            path: path.to_string(),
            query,
            authorized,
        });
        let fault = inner.fault;
        if let Some(left) = inner.fault_left.as_mut() {
            if *left <= 1 {
                inner.fault = Fault::None;
                inner.fault_left = None;
            } else {
                *left -= 1;
            }
        }
        (fault, inner.waiting, inner.running, authorized)
    };
    match fault {
        Fault::Status(code) => {
            return Err((
                StatusCode::from_u16(code).unwrap(),
                Json(json!({"message": "stand-in fault"})),
            )
                .into_response())
        }
        Fault::Delay(d) => tokio::time::sleep(d).await,
        Fault::None => {}
    }
    if !authorized {
        return Err((
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "Unauthorized"})),
        )
            .into_response());
    }
    Ok((waiting, running))
}

async fn semaphore(
    State(inner): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = "/api/v1/self_hosted_agents/metrics";
    match gate(&inner, path, query, &headers, "authorization", "Token ").await {
        Ok((waiting, running)) => Json(json!({
            "jobs": {"queued": waiting, "running": running},
            "agents": {"idle": 0, "occupied": running},
        }))
        .into_response(),
        Err(reply) => reply,
    }
}

async fn buildkite(
    State(inner): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = "/v3/metrics/queue";
    match gate(&inner, path, query, &headers, "authorization", "Token ").await {
        Ok((waiting, running)) => Json(json!({
            "agents": {"idle": 0, "busy": running, "total": running},
            // Waiting jobs wait on dependencies, not agents: the scaler must not count them.
            "jobs": {"scheduled": waiting, "running": running, "waiting": 7, "total": waiting + running + 7},
            "organization": {"slug": "imagekit-test"},
        }))
        .into_response(),
        Err(reply) => reply,
    }
}

async fn circleci_unclaimed(
    State(inner): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    match gate(&inner, "/api/v2/tasks", query, &headers, "circle-token", "").await {
        Ok((waiting, _)) => Json(json!({"unclaimed_task_count": waiting})).into_response(),
        Err(reply) => reply,
    }
}

async fn circleci_running(
    State(inner): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = "/api/v2/tasks/running";
    match gate(&inner, path, query, &headers, "circle-token", "").await {
        Ok((_, running)) => Json(json!({"running_runner_tasks": running})).into_response(),
        Err(reply) => reply,
    }
}
