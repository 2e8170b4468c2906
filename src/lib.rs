//! `imagekit`: renders and builds CI agent images for EC2, and scales their fleets.
//!
//! `main.rs` only parses and dispatches; everything else lives here, one concept per module.

pub mod ami;
pub mod build;
pub mod cli;
pub mod doctor;
pub mod exit;
pub mod flag;
pub mod iam;
pub mod images;
pub mod interrupt;
pub mod output;
pub mod packer;
pub mod prune;
pub mod render;
pub mod scale;
pub mod spec;
pub mod stack;
pub mod userdata;
