//! Which exit status a failed boot ends with. The codes themselves are imagekit-core's.

pub use imagekit_core::ExitStatus;

use crate::config::ConfigError;

/// A [`ConfigError`] anywhere in the chain is the config's fault: exit 2.
pub fn status_of(err: &anyhow::Error) -> ExitStatus {
    if err.chain().any(|e| e.is::<ConfigError>()) {
        ExitStatus::Usage
    } else {
        ExitStatus::Failure
    }
}
