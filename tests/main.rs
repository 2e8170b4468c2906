//! The one integration-test binary: a `mod` per area, sharing `support`.

mod support;

mod harness;
mod scale;
