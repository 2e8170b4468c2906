//! Who this instance is (IMDSv2) and the credentials of its instance profile.

pub mod credentials;
pub mod imds;
pub mod sts_url;

pub use imds::{Identity, Market};
