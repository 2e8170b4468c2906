//! The live side of `imagekit stack`: `deploy` and `diff` through change sets, `destroy` and
//! `list`. CloudFormation is the engine: it owns create, update, rollback and delete; this room
//! only prepares the inputs (the image, the scaler's code), shows what a change set will do,
//! executes it and waits.
//!
//! [`aws`] holds the clients of one region; [`token`], [`image`], [`scaler_code`] and
//! [`artifacts`] prepare a deploy's inputs; [`change_set`] creates, reads and removes change
//! sets and [`changes`] shows them; [`wait`] follows a stack to a settled state and
//! [`failures`] reads why it failed; [`run`] puts one stack's deploy or diff together (and
//! suspends AZ rebalancing, [`crate::az_rebalance`]); [`destroy`] and [`list`] are their own
//! commands.

pub mod artifacts;
pub mod aws;
pub mod change_set;
pub mod changes;
pub mod destroy;
pub mod failures;
pub mod image;
pub mod list;
pub mod resources;
pub mod run;
pub mod scaler_code;
pub mod token;
pub mod wait;

pub use aws::Aws;
pub use run::{deploy, Mode, Prepared, StackReport};
