//! `imagekit iam-policy`: least-privilege IAM policies, built as serde types and printed with
//! serde_json. Resources are scoped by ARN (with `*` for a region or account not given), and
//! `Resource: "*"` is used only for actions that have no resource-level scope.

pub mod builder;
pub mod document;
pub mod instance;
pub mod scaler;
pub mod scope;

pub use document::{Policy, Statement};
pub use scope::Scope;
