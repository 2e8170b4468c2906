//! Flags judged by imagekit-core's shared rules (regions, durations), each refusal one line that
//! names the flag. Every command checks its flags here, before any AWS call.

use std::time::Duration;

use imagekit_core::{duration, region};

use crate::exit::UsageError;

pub fn region(flag: &str, value: &str) -> Result<(), UsageError> {
    region::check(value).map_err(|e| UsageError::new(format!("{flag}: {e}")))
}

pub fn duration(flag: &str, value: &str) -> Result<Duration, UsageError> {
    duration::parse(value).map_err(|e| UsageError::new(format!("{flag}: {e}")))
}

/// For flags where a slip destroys something: a bare number is refused.
pub fn duration_with_unit(flag: &str, value: &str) -> Result<Duration, UsageError> {
    duration::parse_with_unit(value).map_err(|e| UsageError::new(format!("{flag}: {e}")))
}
