//! The boot config's `log_group_prefix`: where the instance's four log groups live.

use serde::{Deserialize, Deserializer, Serialize};

/// `/imagekit/<group>`-like: a CloudWatch Logs group name (checked as it is read), to which
/// `/agent`, `/bootstrap`, `/boot` and `/system` are added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct LogGroupPrefix(String);

impl LogGroupPrefix {
    /// The longest suffix the bootstrap adds.
    const SUFFIX: &'static str = "/bootstrap";

    pub fn parse(text: &str) -> Result<LogGroupPrefix, String> {
        let trimmed = text.trim_end_matches('/');
        let checked = match trimmed.is_empty() {
            true => Err(String::new()),
            false => imagekit_core::log_group::check(&format!("{trimmed}{}", Self::SUFFIX)),
        };
        checked
            .map_err(|_| {
                format!(
                    "{text:?} cannot prefix a CloudWatch Logs group: letters, digits, _ . - / # only, at most {} of them",
                    imagekit_core::log_group::MAX_LEN - Self::SUFFIX.len()
                )
            })?;
        Ok(LogGroupPrefix(trimmed.to_string()))
    }

    /// The default for a group: `/imagekit/<group>`, as `imagekit stack` names its groups.
    pub fn for_group(group: &str) -> Option<LogGroupPrefix> {
        LogGroupPrefix::parse(&format!("/imagekit/{group}")).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for LogGroupPrefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        LogGroupPrefix::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_is_a_group_name_without_its_trailing_slash() {
        assert_eq!(
            LogGroupPrefix::parse("/imagekit/fleet/").unwrap().as_str(),
            "/imagekit/fleet"
        );
        for bad in ["/imagekit/my fleet", "", &"x".repeat(510)] {
            assert!(LogGroupPrefix::parse(bad).is_err(), "{bad}");
        }
    }
}
