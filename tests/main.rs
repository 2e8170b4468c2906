//! The one integration-test binary: a `mod` per area, sharing `support`.

mod support;

mod aws_errors;
mod bootstrap;
mod build;
mod buildkite;
mod circleci;
mod completions;
mod cross;
mod doctor;
mod harness;
mod iam;
mod images;
mod logship;
mod provision;
mod regions;
mod render;
mod scale;
mod spec;
mod stack;
mod stack_deploy;
mod userdata;
mod watch;
