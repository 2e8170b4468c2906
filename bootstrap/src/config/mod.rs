//! The boot-config schema, shared by `imagekit-bootstrap` (which reads it on the instance) and
//! `imagekit` (which writes it into user-data).
//!
//! A config is merged from layers (baked file, SSM parameter, `--config FILE`), later winning key
//! by key, so each layer is a [`BootConfigLayer`] whose fields are all optional; [`BootConfig`]
//! is the merged result with defaults applied. The keys every agent has are flat; what only one
//! agent kind has sits in a section named after that kind ([`sections`]). Unknown keys are errors.

mod error;
mod layer;
mod local;
mod log_group;
mod parse;
mod resolve;
pub mod sections;
mod stack;
mod watch;

pub use error::ConfigError;
pub use layer::BootConfigLayer;
pub use local::{LocalLayers, BAKED_CONFIG_ENV};
pub use log_group::LogGroupPrefix;
pub use parse::{parse_layer, parse_parameter_layer, read_layer};
pub use resolve::{defaults, BootConfig, Section};
pub use sections::{check_sections, BuildkiteSection, CircleciSection, SemaphoreSection};
pub use watch::WatchInterval;

/// Which CI agent the instance runs (one enum for the whole kit).
pub use imagekit_core::AgentKind;
