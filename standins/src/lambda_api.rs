//! A stand-in for the Lambda Runtime API (`/2018-06-01/runtime/...`), enough to drive one
//! invocation of a custom runtime: it hands out one event with a deadline, records the
//! invocation's response or error, and then holds the next `invocation/next` open, as Lambda
//! does while no event is waiting.
//!
//! Every rule mirrors the Runtime API version 2018-06-01 as
//! awsdocs/aws-lambda-developer-guide@4c88540480b84a2d2938ba64bca1827791664b66:doc_source/runtimes-api.md
//! documents it, cited per rule as `runtimes-api.md` with its section. What it does not
//! reproduce: more than one event, the 400/403/500 answers, client context and Cognito identity.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

pub const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

#[derive(Debug, Default)]
struct Inner {
    budget: Duration,
    handed_out: bool,
    deadline_ms: u64,
    /// (path, body, when, ms since the epoch)
    posts: Vec<(String, String, u64)>,
}

#[derive(Clone)]
pub struct LambdaApi {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

/// What the runtime posted back.
#[derive(Debug, Clone)]
pub struct Posted {
    pub path: String,
    pub body: String,
    pub at_ms: u64,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

impl LambdaApi {
    /// Starts the stand-in; its one invocation gets `budget` from the moment it is handed out.
    pub fn start(budget: Duration) -> LambdaApi {
        let inner = Arc::new(Mutex::new(Inner {
            budget,
            ..Inner::default()
        }));
        // The paths: the API version, then each section's **Path** and **Method**.
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(inner.clone());
        LambdaApi {
            addr: crate::http::serve(app),
            inner,
        }
    }

    /// `AWS_LAMBDA_RUNTIME_API`'s value: host:port, no scheme (runtimes-api.md: runtimes add
    /// `http://`, the API version and the path to it).
    pub fn runtime_api(&self) -> String {
        self.addr.to_string()
    }

    /// The deadline handed out with the event (ms since the epoch), once it was.
    pub fn deadline_ms(&self) -> Option<u64> {
        let inner = self.inner.lock().unwrap();
        inner.handed_out.then_some(inner.deadline_ms)
    }

    pub fn posts(&self) -> Vec<Posted> {
        self.inner
            .lock()
            .unwrap()
            .posts
            .iter()
            .map(|(path, body, at_ms)| Posted {
                path: path.clone(),
                body: body.clone(),
                at_ms: *at_ms,
            })
            .collect()
    }
}

type Shared = Arc<Mutex<Inner>>;

async fn next(State(inner): State<Shared>) -> Response {
    let deadline = {
        let mut inner = inner.lock().unwrap();
        if inner.handed_out {
            None
        } else {
            inner.handed_out = true;
            inner.deadline_ms = now_ms() + inner.budget.as_millis() as u64;
            Some(inner.deadline_ms)
        }
    };
    let Some(deadline) = deadline else {
        // No more events: hold the long poll, as Lambda does between invocations
        // (runtimes-api.md "Next invocation": "Do not set a timeout on the GET request as the
        // response may be delayed").
        std::future::pending::<()>().await;
        unreachable!()
    };
    // runtimes-api.md "Next invocation", **Response headers**, each with the page's example.
    let mut headers = HeaderMap::new();
    headers.insert(
        "lambda-runtime-aws-request-id",
        HeaderValue::from_static(REQUEST_ID),
    );
    headers.insert(
        "lambda-runtime-deadline-ms",
        HeaderValue::from_str(&deadline.to_string()).unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:imagekit-scale"),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        HeaderValue::from_static(
            "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
        ),
    );
    // An EventBridge scheduled event, as the every-minute rule sends it: the keys of the
    // "message event" example in awsdocs/aws-lambda-developer-guide@119ccaa:doc_source/services-cloudwatchevents.md.
    let event = r#"{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/imagekit-scale"],"detail":{}}"#;
    (StatusCode::OK, headers, event).into_response()
}

fn record(inner: &Shared, path: String, body: Bytes) -> Response {
    inner
        .lock()
        .unwrap()
        .posts
        .push((path, String::from_utf8_lossy(&body).into_owned(), now_ms()));
    // runtimes-api.md "Invocation error" and "Initialization error", **Response codes**: 202
    // Accepted, with a `StatusResponse` body (the page documents none for "Invocation
    // response"; the stand-in answers it the same).
    (StatusCode::ACCEPTED, "{\"status\":\"OK\"}").into_response()
}

async fn response(State(inner): State<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    record(&inner, format!("invocation/{id}/response"), body)
}

async fn error(State(inner): State<Shared>, Path(id): Path<String>, body: Bytes) -> Response {
    record(&inner, format!("invocation/{id}/error"), body)
}

async fn init_error(State(inner): State<Shared>, body: Bytes) -> Response {
    record(&inner, "init/error".into(), body)
}
