//! AWS failures in words, for both binaries: what was being done and where, the cause, and how
//! to fix it, as one line. The SDK's own `Display` of a failed call is either "dispatch failure"
//! or "service error", and its `Debug` a 1,500-character dump; neither tells a user what to do.

use std::error::Error;

use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Where the default credentials chain looks, in its order (aws-config's `DefaultCredentialsChain`).
pub const CREDENTIAL_SOURCES: &str = "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the profile in \
~/.aws/config and ~/.aws/credentials (AWS_PROFILE), web identity, the ECS/EKS container \
endpoint, and the EC2 instance metadata";

/// Why a call failed, as far as a user can act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// The credentials chain found nothing to sign with.
    NoCredentials {
        detail: String,
    },
    /// Credentials were found, and AWS refused them (unknown key, expired session, bad secret).
    BadCredentials {
        code: String,
        message: String,
    },
    /// The principal may not do this.
    AccessDenied {
        code: String,
        message: String,
    },
    /// No answer from the endpoint: DNS, a refused connection, a time-out.
    Unreachable {
        detail: String,
    },
    /// Still throttled once the SDK's retries were spent.
    Throttled {
        code: String,
    },
    /// Any other answer from the service.
    Service {
        code: String,
        message: String,
    },
    Other {
        detail: String,
    },
}

const BAD_CREDENTIALS: [&str; 8] = [
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
];
const ACCESS_DENIED: [&str; 4] = [
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
];
const THROTTLED: [&str; 6] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
];

/// Whether an error code only asks the caller to slow down.
pub fn is_throttling(code: &str) -> bool {
    THROTTLED.contains(&code)
}

/// Reads the cause out of a failed SDK call.
///
/// The shapes, as the SDK makes them (smithy-lang/smithy-rs@b5c85af96fe3cf0d6818baf0333df576654c8997:
/// rust-runtime/aws-smithy-runtime-api/src/client/result.rs, aws-credential-types 1.3.1
/// src/provider/error.rs): a credentials provider's failure reaches the caller as a
/// `DispatchFailure` whose `ConnectorError` (kind other) holds the `CredentialsError`; a refused
/// connection or a failed DNS look-up is a `DispatchFailure` with `is_io()`; a connect or read
/// time-out is `is_timeout()` or a `TimeoutError` (the operation's own time-out); an answer from
/// the service is a `ServiceError` with the code the protocol carries.
pub fn cause<E, R>(err: &SdkError<E, R>) -> Cause
where
    E: ProvideErrorMetadata + Error + 'static,
    R: std::fmt::Debug + 'static,
{
    if let Some(creds) = find::<CredentialsError>(err) {
        return Cause::NoCredentials {
            detail: credentials_detail(creds),
        };
    }
    match err {
        SdkError::TimeoutError(_) => Cause::Unreachable {
            detail: "timed out".into(),
        },
        SdkError::DispatchFailure(d) if d.is_timeout() => Cause::Unreachable {
            detail: "timed out".into(),
        },
        SdkError::DispatchFailure(d) if d.is_io() => Cause::Unreachable {
            detail: innermost(err),
        },
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("").to_string();
            let message = e.message().unwrap_or("").to_string();
            let c = code.as_str();
            if BAD_CREDENTIALS.contains(&c) {
                Cause::BadCredentials { code, message }
            } else if ACCESS_DENIED.contains(&c) {
                Cause::AccessDenied { code, message }
            } else if is_throttling(c) {
                Cause::Throttled { code }
            } else if code.is_empty() {
                Cause::Other {
                    detail: innermost(err),
                }
            } else {
                Cause::Service { code, message }
            }
        }
        _ => Cause::Other {
            detail: innermost(err),
        },
    }
}

/// Nothing to add when the chain simply found nothing (the sources are listed anyway); the
/// provider's own words when one failed (an IMDS that refused its token, a broken profile).
fn credentials_detail(err: &CredentialsError) -> String {
    match err {
        CredentialsError::CredentialsNotLoaded(_) => String::new(),
        other => innermost(other),
    }
}

impl Cause {
    /// The cause in words.
    pub fn words(&self) -> String {
        match self {
            Cause::NoCredentials { detail } if detail.is_empty() => {
                format!("no AWS credentials found; looked in {CREDENTIAL_SOURCES}")
            }
            Cause::NoCredentials { detail } => {
                format!("no AWS credentials found ({detail}); looked in {CREDENTIAL_SOURCES}")
            }
            Cause::BadCredentials { code, message } => format!(
                "AWS refused the credentials as invalid or expired ({code}{})",
                with_message(message)
            ),
            Cause::AccessDenied { code, message } => {
                format!("access denied ({code}{})", with_message(message))
            }
            Cause::Unreachable { detail } => format!("endpoint cannot be reached ({detail})"),
            Cause::Throttled { code } => format!("throttled by AWS after retries ({code})"),
            Cause::Service { code, message } => format!("{code}{}", with_message(message)),
            Cause::Other { detail } => detail.clone(),
        }
    }

    /// The cause's name, for logs and `--json`.
    pub fn kind(&self) -> &'static str {
        match self {
            Cause::NoCredentials { .. } => "no_credentials",
            Cause::BadCredentials { .. } => "bad_credentials",
            Cause::AccessDenied { .. } => "access_denied",
            Cause::Unreachable { .. } => "unreachable",
            Cause::Throttled { .. } => "throttled",
            Cause::Service { .. } => "service",
            Cause::Other { .. } => "other",
        }
    }

    /// How to fix it.
    pub fn hint(&self) -> String {
        match self {
            Cause::NoCredentials { .. } => {
                "set credentials, e.g. `aws configure` or AWS_PROFILE".into()
            }
            Cause::BadCredentials { .. } => {
                "refresh them (e.g. `aws sso login`) or check AWS_PROFILE".into()
            }
            Cause::AccessDenied { .. } => {
                "grant the action to this principal (`imagekit iam-policy` prints what imagekit needs)"
                    .into()
            }
            Cause::Unreachable { .. } => "check the region's name (a well-formed region that does not exist has no endpoint), the network, and AWS_ENDPOINT_URL if set".into(),
            Cause::Throttled { .. } => "try again later, or with fewer concurrent jobs".into(),
            Cause::Service { .. } | Cause::Other { .. } => String::new(),
        }
    }
}

fn hint_suffix(hint: &str) -> String {
    if hint.is_empty() {
        String::new()
    } else {
        format!("; {hint}")
    }
}

/// The service's message, without its closing full stop: a `;` and the hint follow it.
fn with_message(message: &str) -> String {
    let message = message.trim().trim_end_matches('.');
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

/// A failed AWS call: one line, `<operation> in <region>: <cause and hint>`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} in {region}: {}{}", cause.words(), hint_suffix(&cause.hint()))]
pub struct AwsFailure {
    pub operation: String,
    pub region: String,
    pub cause: Cause,
}

impl AwsFailure {
    pub fn new<E, R>(operation: &str, region: &str, err: &SdkError<E, R>) -> AwsFailure
    where
        E: ProvideErrorMetadata + Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        AwsFailure {
            operation: operation.to_string(),
            region: region.to_string(),
            cause: cause(err),
        }
    }

    /// The line without its hint, for a caller that gives its own.
    pub fn without_hint(&self) -> String {
        format!(
            "{} in {}: {}",
            self.operation,
            self.region,
            self.cause.words()
        )
    }
}

/// The region a client calls, for the line: `(no region)` when none is set.
pub fn region_of(region: Option<impl std::fmt::Display>) -> String {
    region.map_or_else(|| "(no region)".to_string(), |r| r.to_string())
}

/// The first error of type `T` in `err`'s source chain.
fn find<'a, T: Error + 'static>(err: &'a (dyn Error + 'static)) -> Option<&'a T> {
    let mut next: Option<&(dyn Error + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(hit) = e.downcast_ref::<T>() {
            return Some(hit);
        }
        next = e.source();
    }
    None
}

/// The deepest cause's text: "connection refused", not "dispatch failure".
fn innermost(err: &(dyn Error + 'static)) -> String {
    let mut last = err;
    while let Some(next) = last.source() {
        last = next;
    }
    one_line(&last.to_string())
}

/// Some causes (the provider chain's list of attempts) span lines; a failure is one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
