//! Where a stack's settings came from, so that an error names what the user wrote: the
//! `imagekit.toml` key, the flag, or agent-aws-stack's `SEMAPHORE_*` key.

use std::fmt::Display;

use crate::exit::UsageError;

#[derive(Debug, Clone)]
pub enum Origin {
    /// A `[[stack]]` table.
    File { path: String },
    /// Flags for one stack.
    Flags,
    /// agent-aws-stack's `config.json`.
    Import { path: String },
}

impl Origin {
    /// How the user spells `field` (a `[[stack]]` key such as `max` or `scaler.interval`).
    pub fn key(&self, field: &str) -> String {
        match self {
            Origin::File { .. } => field.to_string(),
            Origin::Flags => super::flags::flag_for(field),
            Origin::Import { .. } => super::agent_aws_stack::key_for(field)
                .map(str::to_string)
                .unwrap_or_else(|| field.to_string()),
        }
    }

    /// A bad-input error about stack `name`, prefixed with where it was written.
    pub fn fail(&self, name: &str, message: impl Display) -> UsageError {
        UsageError::new(match self {
            Origin::File { path } => format!("{path} [[stack]] {name}: {message}"),
            Origin::Flags => message.to_string(),
            Origin::Import { path } => format!("{path}: {message}"),
        })
    }
}
