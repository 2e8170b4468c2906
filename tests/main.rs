//! The one integration-test binary: a `mod` per area, sharing `support`.

mod support;

mod cross;
mod harness;
mod render;
mod spec;
