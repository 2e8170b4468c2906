//! `imagekit-bootstrap`: the code that runs on every agent instance.
//!
//! The library is shared with the operator CLI (`imagekit`) so that both sides agree on one
//! boot-config schema, and so that both build their AWS clients on the same rustls + ring stack.
//!
//! The boot's flow, room by room: [`config`] (layers, the schema, agent-aws-stack's parameter)
//! → [`identity`] (IMDSv2, instance-profile credentials) → [`secrets`] + [`cache`] (the token,
//! the S3 check) → [`agent`] (one provider per CI agent, and the [`agent::Outcome`] table) →
//! [`supervise`] (the agent as a child, stopped on a [`stop`] request) → [`giveback`] (back to
//! the ASG, or power off). [`run`] walks that flow; [`aws`] holds the clients and the one retry
//! driver; [`state`] the dir the hooks and the run lock share.

pub mod agent;
pub mod aws;
pub mod cache;
pub mod checksum;
pub mod cli;
pub mod config;
pub mod error_chain;
pub mod exit;
pub mod giveback;
pub mod identity;
pub mod known_hosts;
pub mod logging;
pub mod logship;
pub mod run;
pub mod secrets;
#[cfg(windows)]
pub mod service;
pub mod show_config;
pub mod state;
pub mod stop;
pub mod supervise;
pub mod user;
pub mod version;
pub mod watch;
