//! Where the queue comes from: one [`QueueSource`] per CI system, each authenticating with a
//! token read from SSM once and kept. When the API refuses the kept token (a rotation), the poll
//! reads SSM again and retries once; a token refused as just read fails the tick.

use imagekit_bootstrap::aws::failure::{region_of, AwsFailure};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::StatusCode;
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
    #[error(
        "GET {url} answered {status}: the token was refused, as read from SSM parameter \
         {parameter} this tick; put {what} in it (the next tick reads it again)"
    )]
    Refused {
        url: String,
        status: u16,
        parameter: String,
        what: &'static str,
    },
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
    /// Reads the queue once: no retry, except one after the API refuses a kept token.
    fn poll(&mut self) -> BoxFuture<'_, Result<QueueState, SourceError>>;
    /// The shortest time the API asks between polls, as of its last answer.
    fn min_interval(&self) -> Option<Duration> {
        None
    }
}

pub use imagekit_bootstrap::secrets::Token;

/// How a CI API takes its token, and which of its answers mean "not this token".
pub struct Auth {
    pub header: HeaderName,
    /// Text before the token in the header value (`"Token "`, or nothing).
    pub prefix: &'static str,
    /// The statuses that refuse the token itself (Semaphore: 404 as well as 401).
    pub refused: &'static [StatusCode],
    /// What belongs in the parameter, for the line that says it was refused.
    pub what: &'static str,
}

impl Auth {
    /// The header value carrying `token`, marked sensitive so HTTP-level debug output leaves it
    /// out.
    fn value(&self, token: &Token) -> Option<HeaderValue> {
        let mut value =
            HeaderValue::from_str(&format!("{}{}", self.prefix, token.expose())).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

/// The token's SSM parameter, read on first use and again after a refusal.
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

    /// The tokens of one poll: whatever requests it makes, SSM is read at most once.
    pub fn for_poll(&mut self) -> PollTokens<'_> {
        PollTokens {
            cache: self,
            read_now: false,
        }
    }

    async fn read(&mut self) -> Result<Token, SourceError> {
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
            .map_err(|e| {
                let region = region_of(self.ssm.config().region());
                err(AwsFailure::new("ssm:GetParameter", &region, &e).to_string())
            })?;
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
}

/// One poll's view of the [`TokenCache`].
pub struct PollTokens<'a> {
    cache: &'a mut TokenCache,
    /// Whether this poll has read SSM: a token refused as just read is not read again.
    read_now: bool,
}

impl PollTokens<'_> {
    async fn get(&mut self) -> Result<Token, SourceError> {
        match &self.cache.token {
            Some(token) => Ok(token.clone()),
            None => {
                self.read_now = true;
                self.cache.read().await
            }
        }
    }

    fn parameter(&self) -> &str {
        &self.cache.parameter
    }
}

/// A decoded answer, with the headers some APIs speak through.
pub struct Reply<T> {
    pub body: T,
    pub headers: HeaderMap,
}

/// One authenticated GET, decoded as JSON. When the API refuses a token kept from an earlier
/// tick, SSM is read again and the GET retried, once per poll; a refused token is forgotten, so
/// the next tick reads SSM again.
pub async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    tokens: &mut PollTokens<'_>,
    auth: &Auth,
    url: &str,
    query: &[(&str, &str)],
) -> Result<Reply<T>, SourceError> {
    let full = reqwest::Url::parse_with_params(url, query).map_err(|e| SourceError::Transport {
        url: url.into(),
        message: format!("not a valid URL: {e}"),
    })?;
    let response = loop {
        let token = tokens.get().await?;
        let value = auth.value(&token).ok_or_else(|| SourceError::Token {
            parameter: tokens.parameter().to_string(),
            message: "the token holds characters an HTTP header cannot carry".into(),
        })?;
        let response = http
            .get(full.clone())
            .header(auth.header.clone(), value)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| transport(url, e))?;
        let status = response.status();
        if !auth.refused.contains(&status) {
            break response;
        }
        tokens.cache.token = None;
        if tokens.read_now {
            return Err(SourceError::Refused {
                url: url.into(),
                status: status.as_u16(),
                parameter: tokens.parameter().to_string(),
                what: auth.what,
            });
        }
        tracing::info!(
            parameter = %tokens.parameter(),
            "GET {url} answered {} to the kept token: reading it from SSM again",
            status.as_u16()
        );
    };
    let status = response.status();
    if !status.is_success() {
        return Err(SourceError::Status {
            url: url.into(),
            status: status.as_u16(),
        });
    }
    let headers = response.headers().clone();
    let bytes = response.bytes().await.map_err(|e| transport(url, e))?;
    let body = serde_json::from_slice(&bytes).map_err(|e| SourceError::Body {
        url: url.into(),
        message: e.to_string(),
    })?;
    Ok(Reply { body, headers })
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
        let auth = Auth {
            header: reqwest::header::AUTHORIZATION,
            prefix: "Token ",
            refused: &[StatusCode::UNAUTHORIZED],
            what: "a token",
        };
        assert!(auth.value(&t).unwrap().is_sensitive());
    }
}
