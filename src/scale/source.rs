//! Where the queue comes from: one [`QueueSource`] per CI system, each authenticating with a
//! token read from SSM once and re-read after the API answers 401.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use serde::Serialize;

/// Per-request budget: a slow API costs one tick, never the loop. The next tick is the retry.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(1);

/// A queue reading. `waiting` jobs have no agent yet; `running` ones hold one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueState {
    pub waiting: u32,
    pub running: u32,
    /// Agents that are connected and idle, when the API says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_agents: Option<u32>,
}

impl QueueState {
    /// The agents the queue needs right now: every waiting and every running job.
    pub fn jobs(&self) -> u32 {
        self.waiting.saturating_add(self.running)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("reading the token from SSM parameter {parameter}: {message}")]
    Token { parameter: String, message: String },
    #[error("GET {url} answered 401 Unauthorized; the token will be re-read from SSM next tick")]
    Unauthorized { url: String },
    #[error("GET {url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("GET {url} timed out after {}s", HTTP_TIMEOUT.as_secs())]
    Timeout { url: String },
    #[error("GET {url} failed: {message}")]
    Transport { url: String, message: String },
    #[error("GET {url} answered an unexpected body: {message}")]
    Body { url: String, message: String },
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A CI system's job queue.
pub trait QueueSource: Send {
    /// Short name for logs and metrics ("semaphore", "buildkite", "circleci").
    fn name(&self) -> &'static str;
    /// Reads the queue once, with no retry.
    fn poll(&mut self) -> BoxFuture<'_, Result<QueueState, SourceError>>;
}

pub use imagekit_bootstrap::secrets::Token;

/// A header value carrying the token (with `prefix`), marked sensitive so HTTP-level debug
/// output leaves it out.
fn auth_header_value(token: &Token, prefix: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("{prefix}{}", token.expose())).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// The token's SSM parameter, read on first use and again after [`TokenCache::invalidate`].
pub struct TokenCache {
    ssm: aws_sdk_ssm::Client,
    parameter: String,
    token: Option<Token>,
}

impl TokenCache {
    pub fn new(ssm: aws_sdk_ssm::Client, parameter: String) -> Self {
        TokenCache {
            ssm,
            parameter,
            token: None,
        }
    }

    pub async fn get(&mut self) -> Result<Token, SourceError> {
        if let Some(token) = &self.token {
            return Ok(token.clone());
        }
        let err = |message: String| SourceError::Token {
            parameter: self.parameter.clone(),
            message,
        };
        let out = self
            .ssm
            .get_parameter()
            .name(&self.parameter)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| err(aws_sdk_ssm::error::DisplayErrorContext(&e).to_string()))?;
        let value = out
            .parameter
            .and_then(|p| p.value)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| err("the parameter has no value".into()))?;
        tracing::info!(parameter = %self.parameter, "read the CI API token from SSM");
        let token = Token::new(value.trim().to_string());
        self.token = Some(token.clone());
        Ok(token)
    }

    /// Forgets the token, so the next [`TokenCache::get`] reads SSM again (after a 401).
    pub fn invalidate(&mut self) {
        self.token = None;
    }
}

/// Turns `--endpoint` into a base URL: a bare host name means https; a URL is kept as given.
pub fn base_url(endpoint: &str) -> String {
    let endpoint = endpoint.trim().trim_end_matches('/');
    if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("https://{endpoint}")
    }
}

/// The HTTP client every source shares: rustls with ring, 1 s budget per request.
pub fn http_client() -> reqwest::Client {
    imagekit_bootstrap::aws::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .connect_timeout(HTTP_TIMEOUT)
        .user_agent(concat!("imagekit-scale/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("building the HTTP client (rustls with ring)")
}

/// One authenticated GET, decoded as JSON. A 401 invalidates the token for the next tick.
pub async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    tokens: &mut TokenCache,
    url: &str,
    query: &[(&str, &str)],
    auth_header: HeaderName,
    auth_prefix: &str,
) -> Result<T, SourceError> {
    let token = tokens.get().await?;
    let value = auth_header_value(&token, auth_prefix).ok_or_else(|| SourceError::Token {
        parameter: tokens.parameter.clone(),
        message: "the token holds characters an HTTP header cannot carry".into(),
    })?;
    let full = reqwest::Url::parse_with_params(url, query).map_err(|e| SourceError::Transport {
        url: url.into(),
        message: format!("not a valid URL: {e}"),
    })?;
    let response = http
        .get(full)
        .header(auth_header, value)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| transport(url, e))?;
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        tokens.invalidate();
        return Err(SourceError::Unauthorized { url: url.into() });
    }
    if !status.is_success() {
        return Err(SourceError::Status {
            url: url.into(),
            status: status.as_u16(),
        });
    }
    let bytes = response.bytes().await.map_err(|e| transport(url, e))?;
    serde_json::from_slice(&bytes).map_err(|e| SourceError::Body {
        url: url.into(),
        message: e.to_string(),
    })
}

fn transport(url: &str, err: reqwest::Error) -> SourceError {
    if err.is_timeout() {
        SourceError::Timeout { url: url.into() }
    } else {
        // The chain's text names the cause (connection refused, TLS, ...), never a header.
        SourceError::Transport {
            url: url.into(),
            message: imagekit_bootstrap::error_chain::one_line(&err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_host_means_https_and_urls_stay() {
        assert_eq!(
            base_url("acme.semaphoreci.com"),
            "https://acme.semaphoreci.com"
        );
        assert_eq!(base_url("http://127.0.0.1:8080/"), "http://127.0.0.1:8080");
        assert_eq!(
            base_url("https://agent.buildkite.com"),
            "https://agent.buildkite.com"
        );
    }

    #[test]
    fn token_never_prints() {
        let t = Token::new("s3cr3t".into());
        assert!(!format!("{t:?} {t}").contains("s3cr3t"));
        assert!(auth_header_value(&t, "Token ").unwrap().is_sensitive());
    }
}
