//! A stand-in for the three CI systems' queue APIs (no CI control plane runs offline).
//!
//! One server answers Semaphore's `/api/v1/self_hosted_agents/metrics`, Buildkite's
//! `/v3/metrics/queue?name=` and CircleCI's `/api/v3/runner/tasks[/running]?resource-class=`,
//! each refusing a token the way the real service does, with its status and body. Any other path
//! (CircleCI's old `/api/v2/tasks` among them) answers 404. Tests set the queue, the accepted
//! token, Buildkite's poll-duration header and a fault (an error status, or a reply slower than
//! the scaler's 1 s budget), and read back what was asked and answered.
//!
//! Sources, read for these rules (none of their code is copied):
//! - SEMAPHORE: semaphoreio/semaphore@2bf23f546949eda738818933593667c257e377a3,
//!   self_hosted_hub/pkg/publicapi/{auth.go,server.go,responses.go}.
//! - BUILDKITE: buildkite/buildkite-agent-metrics@3a8091b010715b302c0bda1f842cdd26ae8bd66c,
//!   collector/collector.go and main.go; buildkite/buildkite-agent-scaler@
//!   49c4145377fd26fea0f2e9b9eaadfb25ec1956ee, buildkite/buildkite.go and buildkite_test.go.
//! - CIRCLECI: <https://circleci.com/docs/reference/runner-api/>, as
//!   circleci/circleci-docs@9734a1410cc98741bc09b84f187325a8f43baf68:
//!   docs/guides/modules/execution-runner/pages/runner-api.adoc.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

pub const SEMAPHORE_METRICS: &str = "/api/v1/self_hosted_agents/metrics";
pub const BUILDKITE_QUEUE: &str = "/v3/metrics/queue";
pub const CIRCLECI_UNCLAIMED: &str = "/api/v3/runner/tasks";
pub const CIRCLECI_RUNNING: &str = "/api/v3/runner/tasks/running";

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
    /// Buildkite's `Buildkite-Agent-Metrics-Poll-Duration`, sent when set.
    poll_duration: Option<String>,
    requests: Vec<Seen>,
}

/// One request as the stand-in saw it (the token only as "did it match") and what it answered.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub query: HashMap<String, String>,
    pub authorized: bool,
    pub status: u16,
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
            poll_duration: None,
            requests: Vec::new(),
        }));
        let app = Router::new()
            .route(SEMAPHORE_METRICS, get(semaphore))
            .route(BUILDKITE_QUEUE, get(buildkite))
            .route(CIRCLECI_UNCLAIMED, get(circleci_unclaimed))
            .route(CIRCLECI_RUNNING, get(circleci_running))
            .fallback(not_found)
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

    /// The one token the services accept from now on (a rotation refuses the old one).
    pub fn set_token(&self, token: &str) {
        self.inner.lock().unwrap().token = token.to_string();
    }

    /// Applies `fault` to the next `times` replies (then behaves again), or to all with `None`.
    pub fn set_fault(&self, fault: Fault, times: Option<u32>) {
        let mut inner = self.inner.lock().unwrap();
        inner.fault = fault;
        inner.fault_left = times;
    }

    /// Buildkite's poll-duration header on its answers (whole seconds, as the API sends it).
    pub fn set_poll_duration(&self, value: Option<&str>) {
        self.inner.lock().unwrap().poll_duration = value.map(str::to_string);
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.inner.lock().unwrap().requests.clone()
    }
}

type Shared = Arc<Mutex<Inner>>;

/// The service's answer refusing the request's credentials, or `None` when it accepts them.
type Refusal = Option<Response>;

/// Semaphore. SEMAPHORE auth.go: a missing `Authorization` header, or one that does not split
/// on `"Token "` into exactly two parts, is 401; anything else passes as a token. server.go
/// `GetMetrics`: a token no agent type holds is 404. responses.go: both bodies are Go's
/// `http.Error` text (the status text and a newline, text/plain). The hub also answers 404
/// without `x-semaphore-org-id`, which Semaphore's edge adds from the organization's host name;
/// the scaler never sends it, so it is not modelled.
fn semaphore_auth(headers: &HeaderMap, token: &str) -> Refusal {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Some(go_http_error(StatusCode::UNAUTHORIZED));
    };
    let value = value.to_str().unwrap_or_default();
    let parts: Vec<&str> = value.split("Token ").collect();
    if parts.len() != 2 {
        return Some(go_http_error(StatusCode::UNAUTHORIZED));
    }
    (parts[1] != token).then(|| go_http_error(StatusCode::NOT_FOUND))
}

/// Buildkite. BUILDKITE collector.go and buildkite.go send `Authorization: Token <agent token>`;
/// a refused one is 401 (main.go exits 4 on it) with a JSON `{"message": …}` body, which
/// collector.go's `handleHTTPError` decodes when the type is application/json.
fn buildkite_auth(headers: &HeaderMap, token: &str) -> Refusal {
    let expected = format!("Token {token}");
    (!header_is(headers, header::AUTHORIZATION.as_str(), &expected)).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "the agent token was not accepted"})),
        )
            .into_response()
    })
}

/// CircleCI. CIRCLECI: both task endpoints take a personal token in `Circle-Token`. The page
/// lists only the 200 answer; a refused token is answered 401 here, the v2 API's status (the
/// page says Circle-Token "follows the same rules for CircleCI v2 API"). The body is not
/// documented, and the scaler reads only the status.
fn circleci_auth(headers: &HeaderMap, token: &str) -> Refusal {
    (!header_is(headers, "circle-token", token)).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"message": "the token was not accepted"})),
        )
            .into_response()
    })
}

fn header_is(headers: &HeaderMap, name: &str, expected: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == expected)
}

/// Go's `http.Error(w, http.StatusText(status), status)`.
fn go_http_error(status: StatusCode) -> Response {
    let text = format!("{}\n", status.canonical_reason().unwrap_or_default());
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        text,
    )
        .into_response()
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

/// A snapshot of what the accepted request answers with.
struct Queue {
    waiting: u32,
    running: u32,
    poll_duration: Option<String>,
}

/// Applies the fault and the service's `auth` rule, and records the request with its status.
async fn gate(
    inner: &Shared,
    path: &str,
    query: HashMap<String, String>,
    headers: &HeaderMap,
    auth: fn(&HeaderMap, &str) -> Refusal,
) -> Result<Queue, Response> {
    let (fault, queue, refusal) = {
        let mut inner = inner.lock().unwrap();
        let fault = inner.fault;
        if let Some(left) = inner.fault_left.as_mut() {
            if *left <= 1 {
                inner.fault = Fault::None;
                inner.fault_left = None;
            } else {
                *left -= 1;
            }
        }
        let refusal = auth(headers, &inner.token);
        let status = match (&fault, &refusal) {
            (Fault::Status(code), _) => *code,
            (_, Some(reply)) => reply.status().as_u16(),
            _ => 200,
        };
        inner.requests.push(Seen {
            path: path.to_string(),
            query,
            authorized: refusal.is_none(),
            status,
        });
        let queue = Queue {
            waiting: inner.waiting,
            running: inner.running,
            poll_duration: inner.poll_duration.clone(),
        };
        (fault, queue, refusal)
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
    match refusal {
        Some(reply) => Err(reply),
        None => Ok(queue),
    }
}

/// SEMAPHORE server.go `AgentTypeMetrics`: `jobs.{queued,running}`, `agents.{idle,occupied}`.
async fn semaphore(
    State(inner): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    match gate(&inner, SEMAPHORE_METRICS, query, &headers, semaphore_auth).await {
        Ok(q) => Json(json!({
            "jobs": {"queued": q.waiting, "running": q.running},
            "agents": {"idle": 0, "occupied": q.running},
        }))
        .into_response(),
        Err(reply) => reply,
    }
}

/// BUILDKITE buildkite.go's response struct: `organization.slug`, `agents.{busy,idle,total}`,
/// `jobs.{scheduled,running,waiting}`; the poll duration in whole seconds (both clients parse it
/// with `strconv.ParseInt` as seconds).
async fn buildkite(
    State(inner): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    match gate(&inner, BUILDKITE_QUEUE, query, &headers, buildkite_auth).await {
        Ok(q) => {
            let body = Json(json!({
                "agents": {"idle": 0, "busy": q.running, "total": q.running},
                // Waiting jobs wait on dependencies, not agents: the scaler must not count them.
                "jobs": {"scheduled": q.waiting, "running": q.running, "waiting": 7, "total": q.waiting + q.running + 7},
                "organization": {"slug": "imagekit-test"},
            }));
            let mut reply = body.into_response();
            if let Some(value) = q.poll_duration.and_then(|v| v.parse().ok()) {
                reply
                    .headers_mut()
                    .insert("buildkite-agent-metrics-poll-duration", value);
            }
            reply
        }
        Err(reply) => reply,
    }
}

/// CIRCLECI `GET /api/v3/runner/tasks`: `{"unclaimed_task_count": n}`.
async fn circleci_unclaimed(
    State(inner): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    match gate(&inner, CIRCLECI_UNCLAIMED, query, &headers, circleci_auth).await {
        Ok(q) => Json(json!({"unclaimed_task_count": q.waiting})).into_response(),
        Err(reply) => reply,
    }
}

/// CIRCLECI `GET /api/v3/runner/tasks/running`: `{"running_runner_tasks": n}`.
async fn circleci_running(
    State(inner): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    match gate(&inner, CIRCLECI_RUNNING, query, &headers, circleci_auth).await {
        Ok(q) => Json(json!({"running_runner_tasks": q.running})).into_response(),
        Err(reply) => reply,
    }
}
