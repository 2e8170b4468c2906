//! The instance's identity, from IMDSv2 only.
//!
//! At early boot the metadata service may refuse connections or answer 5xx for a while, and
//! aws-config does not retry a refused connection, so every read goes through the retry driver
//! until the boot deadline. A 404 means "absent" (e.g. instance tags not exposed).

use std::time::Duration;

use aws_config::imds::client::error::ImdsError;
use aws_config::imds::Client;
use aws_config::provider_config::ProviderConfig;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use serde::Deserialize;
use tokio::time::Instant;

use crate::aws::backoff::Backoff;
use crate::aws::retry::{self, GaveUp, Schedule};

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("instance metadata {path}: no answer before the boot deadline (last error: {last})")]
    Deadline { path: String, last: String },
    #[error("instance metadata {path}: {message}")]
    Failed { path: String, message: String },
}

/// Spot or on-demand, from `instance-life-cycle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Market {
    OnDemand,
    Spot,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    pub instance_id: String,
    pub account_id: String,
    pub region: String,
    pub availability_zone: String,
    pub instance_type: String,
    pub market: Market,
    /// From the `aws:autoscaling:groupName` instance tag, when tags are exposed in metadata.
    pub asg_name: Option<String>,
}

/// The document at `dynamic/instance-identity/document`: four facts in one read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdentityDocument {
    instance_id: String,
    account_id: String,
    region: String,
    availability_zone: String,
    instance_type: String,
}

/// An IMDSv2 client on the shared HTTP client. The endpoint follows
/// `AWS_EC2_METADATA_SERVICE_ENDPOINT` (a path prefix there is kept).
pub fn client(http: SharedHttpClient) -> Client {
    Client::builder()
        .configure(&ProviderConfig::without_region().with_http_client(http))
        .connect_timeout(Duration::from_secs(1))
        .read_timeout(Duration::from_secs(2))
        .max_attempts(2)
        .build()
}

/// The same client for the watch, which asks again on its next tick anyway: one attempt, and a
/// read bounded by a second, so that a silent metadata service delays no tick by more than that.
pub fn watch_client(http: SharedHttpClient) -> Client {
    Client::builder()
        .configure(&ProviderConfig::without_region().with_http_client(http))
        .connect_timeout(Duration::from_secs(1))
        .read_timeout(Duration::from_secs(1))
        .max_attempts(1)
        .build()
}

/// Reads the identity; the three reads run concurrently and share one session token.
pub async fn identity(client: &Client, deadline: Instant) -> Result<Identity, IdentityError> {
    let (doc, life_cycle, asg) = tokio::join!(
        get(
            client,
            "/latest/dynamic/instance-identity/document",
            deadline
        ),
        get(client, "/latest/meta-data/instance-life-cycle", deadline),
        get(
            client,
            "/latest/meta-data/tags/instance/aws:autoscaling:groupName",
            deadline
        ),
    );
    let doc_path = "/latest/dynamic/instance-identity/document";
    let doc = doc?.ok_or_else(|| IdentityError::Failed {
        path: doc_path.into(),
        message: "not found (404)".into(),
    })?;
    let doc: IdentityDocument = serde_json::from_str(&doc).map_err(|e| IdentityError::Failed {
        path: doc_path.into(),
        message: format!("not an identity document: {e}"),
    })?;
    let market = match life_cycle?.as_deref().map(str::trim) {
        Some("spot") => Market::Spot,
        _ => Market::OnDemand,
    };
    Ok(Identity {
        instance_id: doc.instance_id,
        account_id: doc.account_id,
        region: doc.region,
        availability_zone: doc.availability_zone,
        instance_type: doc.instance_type,
        market,
        asg_name: asg?.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()),
    })
}

/// How often a metadata read is retried while the service comes up: soon at first, since it is
/// usually a matter of milliseconds at boot.
const NOT_UP_YET: Backoff = Backoff {
    base: Duration::from_millis(20),
    max: Duration::from_millis(500),
};

/// One read's failure.
enum ReadError {
    /// A 4xx answer other than 404: asking again gets the same.
    Refused(String),
    /// Refused connection, timeout or 5xx: the service is not up yet.
    NotUp(String),
}

impl ReadError {
    fn message(&self) -> &str {
        match self {
            ReadError::Refused(m) | ReadError::NotUp(m) => m,
        }
    }

    fn into_message(self) -> String {
        match self {
            ReadError::Refused(m) | ReadError::NotUp(m) => m,
        }
    }
}

/// One read, retried while the service is not up yet. `Ok(None)` for 404.
pub async fn get(
    client: &Client,
    path: &str,
    deadline: Instant,
) -> Result<Option<String>, IdentityError> {
    let schedule = Schedule {
        backoff: NOT_UP_YET,
        deadline,
    };
    retry::until(
        schedule,
        || read(client, path),
        |e| matches!(e, ReadError::NotUp(_)),
        |e, _, _| {
            tracing::debug!(
                path,
                error = e.message(),
                "instance metadata not ready; retrying"
            )
        },
    )
    .await
    .map_err(|gave_up| match gave_up {
        GaveUp::Deadline(last) => IdentityError::Deadline {
            path: path.into(),
            last: last.into_message(),
        },
        GaveUp::Permanent(e) => IdentityError::Failed {
            path: path.into(),
            message: e.into_message(),
        },
    })
}

/// One read, not retried: `Ok(None)` for 404, else the value or the error in one line.
pub async fn read_once(client: &Client, path: &str) -> Result<Option<String>, String> {
    read(client, path).await.map_err(ReadError::into_message)
}

async fn read(client: &Client, path: &str) -> Result<Option<String>, ReadError> {
    match client.get(path).await {
        Ok(value) => Ok(Some(value.as_ref().to_string())),
        Err(ImdsError::ErrorResponse(e)) if e.response().status().as_u16() == 404 => Ok(None),
        Err(ImdsError::ErrorResponse(e)) if !e.response().status().is_server_error() => Err(
            ReadError::Refused(format!("HTTP {}", e.response().status().as_u16())),
        ),
        Err(e) => Err(ReadError::NotUp(crate::error_chain::one_line(&e))),
    }
}
