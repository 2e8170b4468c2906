//! `imagekit-bootstrap`: the code that runs on every agent instance.
//!
//! The library is shared with the operator CLI (`imagekit`) so that both sides agree on one
//! boot-config schema, and so that both build their AWS clients on the same rustls + ring stack.

pub mod agent;
pub mod aws;
pub mod aws_failure;
pub mod backoff;
pub mod cache;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod error_chain;
pub mod exit;
pub mod giveback;
pub mod health;
pub mod imds;
pub mod logging;
pub mod roots;
pub mod run;
pub mod run_lock;
pub mod secrets;
#[cfg(windows)]
pub mod service;
pub mod show;
pub mod shutdown;
pub mod supervise;
pub mod user;
pub mod version;
