//! `imagekit-bootstrap`: the code that runs on every agent instance.
//!
//! The library is shared with the operator CLI (`imagekit`) so that both sides agree on one
//! boot-config schema, and so that both build their AWS clients on the same rustls + ring stack.

pub mod aws;
pub mod config;
pub mod logging;
pub mod version;
