//! `imagekit`: renders and builds CI agent images for EC2, and scales their fleets.
//!
//! `main.rs` only parses and dispatches to [`commands`], one file per subcommand; the stages
//! are rooms of their own, in the order an image flows through them: [`spec`] → [`render`] →
//! [`packer`] → [`ami`] → [`build`], then [`stack`] (the fleet), [`scale`], [`userdata`] and
//! [`iam`]. All output goes through one [`printer::Printer`].

pub mod ami;
pub mod az_rebalance;
pub mod build;
pub mod cli;
pub mod commands;
pub mod confirm;
pub mod doctor;
pub mod exit;
pub mod flag;
pub mod iam;
pub mod interrupt;
pub mod packer;
pub mod printer;
pub mod render;
pub mod scale;
pub mod spec;
pub mod stack;
pub mod userdata;
