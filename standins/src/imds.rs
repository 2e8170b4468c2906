//! A small IMDSv2 server: the only hand-made stand-in for an AWS service, because no emulator
//! does IMDSv2 fully.
//!
//! One server plays many instances: aws-config keeps the path prefix of
//! `AWS_EC2_METADATA_SERVICE_ENDPOINT`, so instance `i-abc` lives under
//! `http://127.0.0.1:PORT/i-abc/latest/...`. It serves the token PUT (TTL header required),
//! 401 for a missing, stale or foreign token, the identity document, life cycle, the ASG tag,
//! and instance-profile credentials for the instance's moto account.
//!
//! The watch's three items can be switched on mid-job ([`ImdsServer::update`]), each served as
//! AWS documents it, and 404 while absent:
//! - `spot/instance-action`: `{"action": ..., "time": ...}`
//!   (awsdocs/amazon-ec2-user-guide@57fb57eab9f86bffe17f97646d1847066f34880d:doc_source/spot-instance-termination-notices.md);
//! - `events/recommendations/rebalance`: `{"noticeTime": ...}`
//!   (awsdocs/amazon-ec2-user-guide@0f17a814957a4cbcdb23d8ebfcda3cd7f0febb15:doc_source/rebalance-recommendations.md);
//! - `autoscaling/target-lifecycle-state`: plain text such as `InService`
//!   (awsdocs/amazon-ec2-auto-scaling-user-guide@34e59a864d050d6d8f5d4d8a6bec63ffba21f596:doc_source/retrieving-target-lifecycle-state-through-imds.md).
//!
//! A [`Fault`] makes one instance's metadata answer 500 or nothing at all, for as long as it is
//! set.
//!
//! examples/imds_standin.rs runs this same server for the scripts (bench/bootstrap.sh,
//! scripts/demo), so it needs nothing else from tests/support.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use axum::Router;

pub const ROLE: &str = "imagekit-agent";

/// The account an instance runs in, as far as IMDS tells (tests make it from a moto `Account`).
#[derive(Clone, Debug)]
pub struct InstanceAccount {
    pub id: String,
    pub region: String,
    /// The instance profile's keys.
    pub access_key: String,
    pub secret_key: String,
}

/// What the server reports for one instance.
#[derive(Clone, Debug)]
pub struct InstanceMeta {
    pub instance_id: String,
    pub account: InstanceAccount,
    pub availability_zone: String,
    pub instance_type: String,
    /// `on-demand` or `spot`.
    pub life_cycle: String,
    /// Served as the `aws:autoscaling:groupName` instance tag; `None` answers 404 there.
    pub asg_tag: Option<String>,
    /// `spot/instance-action`'s action (`terminate`, `stop`, `hibernate`) once EC2 is going to
    /// interrupt the instance; `None` answers 404.
    pub spot_action: Option<String>,
    /// `events/recommendations/rebalance` once a recommendation was emitted; `None`: 404.
    pub rebalance: bool,
    /// `autoscaling/target-lifecycle-state`; `None` (never transitioned, or not in a group)
    /// answers 404.
    pub target_lifecycle_state: Option<String>,
}

impl InstanceMeta {
    pub fn new(instance_id: &str, account: impl Into<InstanceAccount>) -> InstanceMeta {
        let account = account.into();
        InstanceMeta {
            instance_id: instance_id.into(),
            availability_zone: format!("{}a", account.region),
            instance_type: "t3.micro".into(),
            life_cycle: "on-demand".into(),
            asg_tag: None,
            spot_action: None,
            rebalance: false,
            target_lifecycle_state: None,
            account,
        }
    }
}

/// A metadata service misbehaving for one instance, until cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Every request answers this status (e.g. 500).
    Status(u16),
    /// Every request is accepted and never answered.
    Silent,
}

/// The time the documents' examples use, for the notices' `time` and `noticeTime`.
const NOTICE_TIME: &str = "2017-09-18T08:22:00Z";

#[derive(Default)]
struct Inner {
    instances: HashMap<String, InstanceMeta>,
    /// token → (instance id, expiry)
    tokens: HashMap<String, (String, Instant)>,
    /// instance id → answer 503 to everything until then
    unavailable_until: HashMap<String, Instant>,
    /// instance id → requests seen under its prefix
    requests: HashMap<String, u64>,
    /// (instance id, path under `latest/`) → requests seen
    served: HashMap<(String, String), u64>,
    /// instance id → how its metadata misbehaves
    faults: HashMap<String, Fault>,
}

#[derive(Clone, Default)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    next_token: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
    unauthorized: Arc<AtomicU64>,
}

pub struct ImdsServer {
    pub addr: SocketAddr,
    shared: Shared,
}

impl ImdsServer {
    /// Starts on a free port at once.
    pub fn start() -> ImdsServer {
        ImdsServer::start_on(0).unwrap()
    }

    /// Starts on 127.0.0.1:`port` (0: a free one) at once.
    pub fn start_on(port: u16) -> std::io::Result<ImdsServer> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        Ok(ImdsServer::serve(addr, Some(listener), Duration::ZERO))
    }

    /// Listens on a free port only after `delay`: until then connections are refused, as at
    /// early boot.
    pub fn start_late(delay: Duration) -> ImdsServer {
        // Bound and released at once: the port stays free for the delay.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap();
        ImdsServer::serve(addr, None, delay)
    }

    fn serve(
        addr: SocketAddr,
        listener: Option<std::net::TcpListener>,
        delay: Duration,
    ) -> ImdsServer {
        let shared = Shared::default();
        let app = Router::new().fallback(handle).with_state(shared.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                tokio::time::sleep(delay).await;
                let listener = match listener {
                    Some(l) => {
                        l.set_nonblocking(true).unwrap();
                        tokio::net::TcpListener::from_std(l).unwrap()
                    }
                    None => tokio::net::TcpListener::bind(addr).await.unwrap(),
                };
                // Without TCP_NODELAY every kept-alive reply waits ~40 ms for delayed ACKs.
                let listener = listener.tap_io(|s| {
                    let _ = s.set_nodelay(true);
                });
                axum::serve(listener, app).await.unwrap();
            });
        });
        ImdsServer { addr, shared }
    }

    pub fn add(&self, meta: InstanceMeta) {
        let mut inner = self.shared.inner.lock().unwrap();
        inner.instances.insert(meta.instance_id.clone(), meta);
    }

    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT` for one instance.
    pub fn endpoint_for(&self, instance_id: &str) -> String {
        format!("http://{}/{instance_id}/", self.addr)
    }

    /// Answers 503 to every request for `instance_id` during the next `period`.
    pub fn unavailable_for(&self, instance_id: &str, period: Duration) {
        let mut inner = self.shared.inner.lock().unwrap();
        inner
            .unavailable_until
            .insert(instance_id.into(), Instant::now() + period);
    }

    /// Changes what `instance_id`'s metadata says from now on (e.g. a spot notice mid-job).
    pub fn update(&self, instance_id: &str, change: impl FnOnce(&mut InstanceMeta)) {
        let mut inner = self.shared.inner.lock().unwrap();
        let meta = inner
            .instances
            .get_mut(instance_id)
            .unwrap_or_else(|| panic!("no instance {instance_id} in the IMDS stand-in"));
        change(meta);
    }

    /// Makes `instance_id`'s metadata misbehave (`Some`) or answer again (`None`).
    pub fn set_fault(&self, instance_id: &str, fault: Option<Fault>) {
        let mut inner = self.shared.inner.lock().unwrap();
        match fault {
            Some(f) => inner.faults.insert(instance_id.into(), f),
            None => inner.faults.remove(instance_id),
        };
    }

    /// Requests for one path (as under `latest/`, e.g. `meta-data/spot/instance-action`) of
    /// one instance, answered or not.
    pub fn served(&self, instance_id: &str, path: &str) -> u64 {
        let inner = self.shared.inner.lock().unwrap();
        let key = (instance_id.to_string(), format!("latest/{path}"));
        inner.served.get(&key).copied().unwrap_or(0)
    }

    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Requests seen under one instance's prefix.
    pub fn requests_for(&self, instance_id: &str) -> u64 {
        let inner = self.shared.inner.lock().unwrap();
        inner.requests.get(instance_id).copied().unwrap_or(0)
    }

    pub fn unauthorized(&self) -> u64 {
        self.shared.unauthorized.load(Ordering::Relaxed)
    }
}

fn status(code: StatusCode) -> Response {
    (code, "").into_response()
}

/// Long by design: the request walks one path (instance, availability, the token PUT, the
/// session token, then a match over the metadata paths the tests read), each step a few lines.
async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let path = uri.path().trim_start_matches('/');
    let Some((instance_id, rest)) = path.split_once('/') else {
        return status(StatusCode::NOT_FOUND);
    };
    let fault = {
        let mut inner = shared.inner.lock().unwrap();
        *inner.requests.entry(instance_id.to_string()).or_default() += 1;
        *inner
            .served
            .entry((instance_id.to_string(), rest.to_string()))
            .or_default() += 1;
        inner.faults.get(instance_id).copied()
    };
    match fault {
        Some(Fault::Status(code)) => {
            return status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        }
        // Until the fault is cleared (or the client gives up and the connection goes).
        Some(Fault::Silent) => loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let silent =
                shared.inner.lock().unwrap().faults.get(instance_id) == Some(&Fault::Silent);
            if !silent {
                return status(StatusCode::SERVICE_UNAVAILABLE);
            }
        },
        None => {}
    }
    let mut inner = shared.inner.lock().unwrap();
    let Some(meta) = inner.instances.get(instance_id).cloned() else {
        return status(StatusCode::NOT_FOUND);
    };
    if let Some(until) = inner.unavailable_until.get(instance_id) {
        if Instant::now() < *until {
            return status(StatusCode::SERVICE_UNAVAILABLE);
        }
    }
    if rest == "latest/api/token" {
        if method != Method::PUT {
            return status(StatusCode::METHOD_NOT_ALLOWED);
        }
        let ttl = headers
            .get("x-aws-ec2-metadata-token-ttl-seconds")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let Some(ttl) = ttl.filter(|t| (1..=21600).contains(t)) else {
            return status(StatusCode::BAD_REQUEST);
        };
        let n = shared.next_token.fetch_add(1, Ordering::Relaxed);
        let token = format!("imds-token-{n}-{}", std::process::id());
        inner.tokens.insert(
            token.clone(),
            (
                instance_id.to_string(),
                Instant::now() + Duration::from_secs(ttl),
            ),
        );
        return Response::builder()
            .header("x-aws-ec2-metadata-token-ttl-seconds", ttl.to_string())
            .body(Body::from(token))
            .unwrap();
    }
    if method != Method::GET {
        return status(StatusCode::METHOD_NOT_ALLOWED);
    }
    let authorized = headers
        .get("x-aws-ec2-metadata-token")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| inner.tokens.get(t))
        .is_some_and(|(owner, expiry)| owner == instance_id && Instant::now() < *expiry);
    if !authorized {
        shared.unauthorized.fetch_add(1, Ordering::Relaxed);
        return status(StatusCode::UNAUTHORIZED);
    }
    drop(inner);
    let region = meta.account.region.clone();
    let body = match rest {
        "latest/dynamic/instance-identity/document" => serde_json::json!({
            "accountId": meta.account.id,
            "architecture": "x86_64",
            "availabilityZone": meta.availability_zone,
            "imageId": "ami-00000000000000000",
            "instanceId": meta.instance_id,
            "instanceType": meta.instance_type,
            "privateIp": "10.0.0.1",
            "region": region,
            "version": "2017-09-30",
        })
        .to_string(),
        "latest/meta-data/instance-id" => meta.instance_id.clone(),
        "latest/meta-data/instance-type" => meta.instance_type.clone(),
        "latest/meta-data/instance-life-cycle" => meta.life_cycle.clone(),
        "latest/meta-data/placement/region" => region,
        "latest/meta-data/placement/availability-zone" => meta.availability_zone.clone(),
        "latest/meta-data/tags/instance/aws:autoscaling:groupName" => match &meta.asg_tag {
            Some(name) => name.clone(),
            None => return status(StatusCode::NOT_FOUND),
        },
        "latest/meta-data/spot/instance-action" => match &meta.spot_action {
            Some(action) => {
                serde_json::json!({ "action": action, "time": NOTICE_TIME }).to_string()
            }
            None => return status(StatusCode::NOT_FOUND),
        },
        "latest/meta-data/events/recommendations/rebalance" => match meta.rebalance {
            true => serde_json::json!({ "noticeTime": NOTICE_TIME }).to_string(),
            false => return status(StatusCode::NOT_FOUND),
        },
        "latest/meta-data/autoscaling/target-lifecycle-state" => {
            match &meta.target_lifecycle_state {
                Some(state) => state.clone(),
                None => return status(StatusCode::NOT_FOUND),
            }
        }
        "latest/meta-data/iam/security-credentials"
        | "latest/meta-data/iam/security-credentials/" => ROLE.to_string(),
        p if p == format!("latest/meta-data/iam/security-credentials/{ROLE}") => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            let iso = |t: i64| {
                aws_smithy_types::DateTime::from_secs(t)
                    .fmt(aws_smithy_types::date_time::Format::DateTime)
                    .unwrap()
            };
            serde_json::json!({
                "Code": "Success",
                "LastUpdated": iso(now),
                "Type": "AWS-HMAC",
                "AccessKeyId": meta.account.access_key,
                "SecretAccessKey": meta.account.secret_key,
                "Token": "imds-session-token",
                "Expiration": iso(now + 6 * 3600),
            })
            .to_string()
        }
        _ => return status(StatusCode::NOT_FOUND),
    };
    body.into_response()
}
