//! Refuses a config that carries the registration token itself: user-data is readable by anyone
//! who can describe the instance or reach its metadata service, so the token must live in SSM.

use std::path::Path;

use serde_json::Value;

use crate::exit::UsageError;

/// Keys that name where the token lives, not the token.
const ALLOWED_TOKEN_KEYS: &[&str] = &[
    "token_parameter",
    "SEMAPHORE_AGENT_TOKEN_PARAMETER_NAME",
    "SEMAPHORE_AGENT_TOKEN_KMS_KEY",
];

/// Walks `value` and fails on a key that holds a token or a string that looks like one. The error
/// names the key, never the value.
pub fn refuse_tokens(path: &Path, value: &Value) -> Result<(), UsageError> {
    match find(value, "") {
        Some(key) => Err(refusal(path, &key)),
        None => Ok(()),
    }
}

/// The one line every token refusal prints.
pub fn refusal(path: &Path, key: &str) -> UsageError {
    UsageError::new(format!(
        "{}: `{key}` holds a token; the token must live in SSM: store it as a SecureString \
         parameter and name that parameter in `token_parameter`",
        path.display()
    ))
}

fn find(value: &Value, at: &str) -> Option<String> {
    match value {
        Value::Object(map) => map.iter().find_map(|(key, v)| {
            let here = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            if names_a_token(key) && !v.is_null() {
                Some(here)
            } else {
                find(v, &here)
            }
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find(v, &format!("{at}[{i}]"))),
        Value::String(s) if looks_like_a_token(s) => Some(at.to_string()),
        _ => None,
    }
}

/// `token`, `agent_token`, `SEMAPHORE_AGENT_TOKEN`, `circle-token`... but not the parameter names.
pub fn names_a_token(key: &str) -> bool {
    !ALLOWED_TOKEN_KEYS.contains(&key) && key.to_ascii_lowercase().contains("token")
}

/// A long run of key material: at least 32 characters from the base64/hex alphabets with no
/// separators that names, paths, hosts or buckets carry, mixing cases and digits (or long hex).
pub fn looks_like_a_token(s: &str) -> bool {
    if s.len() < 32
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'=' | b'-'))
    {
        return false;
    }
    let upper = s.bytes().any(|b| b.is_ascii_uppercase());
    let lower = s.bytes().any(|b| b.is_ascii_lowercase());
    let digit = s.bytes().any(|b| b.is_ascii_digit());
    let hex = s.len() >= 40 && s.bytes().all(|b| b.is_ascii_hexdigit());
    (upper && lower && digit) || hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_recognised_and_names_are_not() {
        assert!(looks_like_a_token(
            "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0"
        ));
        assert!(looks_like_a_token(&"0123456789abcdef".repeat(3)));
        for benign in [
            "/semaphore/agent-token",
            "my-org.semaphoreci.com",
            "company-semaphore-cache-bucket-2024-eu-west-1",
            "s1-agent-aws-stack-linux-token",
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ] {
            assert!(!looks_like_a_token(benign), "{benign}");
        }
    }

    #[test]
    fn the_refusal_names_the_key_and_never_the_value() {
        let value: Value =
            serde_json::from_str(r#"{"env":{"SEMAPHORE_AGENT_TOKEN":"secret-value"}}"#).unwrap();
        let err = refuse_tokens(Path::new("c.json"), &value)
            .unwrap_err()
            .to_string();
        assert!(err.contains("env.SEMAPHORE_AGENT_TOKEN"), "{err}");
        assert!(err.contains("SSM"), "{err}");
        assert!(!err.contains("secret-value"), "{err}");
    }
}
