//! Who this instance is (IMDSv2) and the credentials of its instance profile.

pub mod credentials;
pub mod imds;

pub use imds::{Identity, Market};
