//! `imagekit`: renders and builds CI agent images for EC2, and scales their fleets.
//!
//! `main.rs` only parses and dispatches; everything else lives here, one concept per module.

pub mod cli;
pub mod exit;
pub mod scale;
