//! The rules that `imagekit`, `imagekit-bootstrap` and `xtask` share, each in exactly one place.
//!
//! Nothing here talks to AWS: the crate stays small enough for `xtask` to build in seconds, and
//! a rule that both sides apply (a region name, a duration, which OS) cannot drift between them.

#[cfg(windows)]
pub mod acl;
pub mod agent_kind;
pub mod atomic;
pub mod dist;
pub mod duration;
pub mod exit;
pub mod failed_start;
pub mod log_group;
pub mod os;
pub mod region;
pub mod sha256;

pub use agent_kind::AgentKind;
pub use exit::ExitStatus;
pub use os::Os;
