//! The agent's registration token, from an SSM SecureString.
//!
//! SSM throttles bursts (a fleet booting at once), so throttling is retried with jittered
//! exponential backoff until the boot deadline; anything else fails at once with the
//! parameter's name (never its value).

use std::fmt;

use aws_sdk_ssm::error::{ProvideErrorMetadata, SdkError};

use tokio::time::Instant;

pub use crate::aws::backoff::Backoff;
use crate::aws::failure::{is_throttling, AwsFailure};
use crate::aws::retry::{self, Schedule};

/// A secret whose `Debug` and `Display` never show it. Read it with [`Token::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(value: String) -> Token {
        Token(value)
    }

    /// The value, for the one place that must write it (the agent's 0600 config).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ParameterError {
    #[error("SSM parameter {name} does not exist (region {region})")]
    NotFound { name: String, region: String },
    #[error("SSM parameter {name}: {failure}")]
    Aws { name: String, failure: AwsFailure },
    #[error("SSM parameter {name} (region {region}): {message}")]
    Failed {
        name: String,
        region: String,
        message: String,
    },
}

/// Reads a parameter's value (decrypted), retrying throttling until `deadline`.
pub async fn get_parameter(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    region: &str,
    backoff: Backoff,
    deadline: Instant,
) -> Result<String, ParameterError> {
    retry::until(
        Schedule { backoff, deadline },
        || get_once(ssm, name, region),
        |failure| failure.throttled,
        |_, attempt, delay| {
            tracing::debug!(
                parameter = name,
                attempt,
                ?delay,
                "SSM throttled; backing off"
            )
        },
    )
    .await
    .map_err(|gave_up| gave_up.into_inner().error)
}

/// One `GetParameter`'s failure, and whether SSM only asked us to slow down.
struct Failure {
    error: ParameterError,
    throttled: bool,
}

async fn get_once(ssm: &aws_sdk_ssm::Client, name: &str, region: &str) -> Result<String, Failure> {
    let failed = |message: String, throttled: bool| Failure {
        error: ParameterError::Failed {
            name: name.into(),
            region: region.into(),
            message,
        },
        throttled,
    };
    let err = match ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
    {
        Ok(out) => {
            return out
                .parameter
                .and_then(|p| p.value)
                .ok_or_else(|| failed("the answer holds no value".into(), false))
        }
        Err(err) => err,
    };
    let code = err.code().unwrap_or_default().to_string();
    if code == "ParameterNotFound" {
        return Err(Failure {
            error: ParameterError::NotFound {
                name: name.into(),
                region: region.into(),
            },
            throttled: false,
        });
    }
    let throttled = is_throttling(&code)
        || matches!(&err, SdkError::ServiceError(e) if e.raw().status().as_u16() == 429);
    Err(Failure {
        error: ParameterError::Aws {
            name: name.into(),
            failure: AwsFailure::new("ssm:GetParameter", region, &err),
        },
        throttled,
    })
}

/// The registration token from its SecureString parameter.
pub async fn token(
    ssm: &aws_sdk_ssm::Client,
    name: &str,
    region: &str,
    deadline: Instant,
) -> Result<Token, ParameterError> {
    get_parameter(ssm, name, region, Backoff::default(), deadline)
        .await
        .map(Token::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use aws_sdk_ssm::operation::get_parameter::GetParameterOutput;
    use aws_sdk_ssm::types::Parameter;
    use aws_smithy_mocks::{mock, MockResponseInterceptor, RuleMode};
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    fn throttled() -> aws_smithy_runtime_api::client::orchestrator::HttpResponse {
        Response::new(
            StatusCode::try_from(400).unwrap(),
            SdkBody::from(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#),
        )
    }

    fn client(rule: &aws_smithy_mocks::Rule) -> aws_sdk_ssm::Client {
        let conf = aws_sdk_ssm::Config::builder()
            .behavior_version(aws_sdk_ssm::config::BehaviorVersion::latest())
            .region(aws_sdk_ssm::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ssm::config::Credentials::new(
                "AKID", "SECRET", None, None, "test",
            ))
            // Only our loop retries, so the test counts exactly our attempts.
            .retry_config(aws_sdk_ssm::config::retry::RetryConfig::disabled())
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .interceptor(
                MockResponseInterceptor::new()
                    .rule_mode(RuleMode::Sequential)
                    .with_rule(rule),
            )
            .build();
        aws_sdk_ssm::Client::from_conf(conf)
    }

    const FAST: Backoff = Backoff {
        base: Duration::from_millis(1),
        max: Duration::from_millis(5),
    };

    #[tokio::test]
    async fn throttling_is_retried_then_succeeds() {
        let rule = mock!(aws_sdk_ssm::Client::get_parameter)
            .sequence()
            .http_response(throttled)
            .times(4)
            .output(|| {
                GetParameterOutput::builder()
                    .parameter(Parameter::builder().value("s3cret").build())
                    .build()
            })
            .build();
        let ssm = client(&rule);
        let deadline = Instant::now() + Duration::from_secs(10);
        let value = get_parameter(&ssm, "/tok", "us-east-1", FAST, deadline)
            .await
            .unwrap();
        assert_eq!(value, "s3cret");
        assert_eq!(rule.num_calls(), 5);
    }

    #[tokio::test]
    async fn throttling_past_the_deadline_fails_naming_the_parameter() {
        let rule = mock!(aws_sdk_ssm::Client::get_parameter)
            .sequence()
            .http_response(throttled)
            .repeatedly()
            .build();
        let ssm = client(&rule);
        let deadline = Instant::now() + Duration::from_millis(50);
        let err = get_parameter(&ssm, "/tok", "us-east-1", FAST, deadline)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/tok") && err.contains("ThrottlingException"),
            "{err}"
        );
        assert!(rule.num_calls() > 1);
    }

    #[test]
    fn token_never_prints_its_value() {
        let t = Token::new("s3cret".into());
        assert!(!format!("{t} {t:?}").contains("s3cret"));
        assert_eq!(t.expose(), "s3cret");
    }
}
