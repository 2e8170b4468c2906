//! Stand-ins for the services that have no offline emulator. Each rule a stand-in enforces cites
//! its source in the real project beside it; tests and the scripts' examples share these servers,
//! so the scripts exercise exactly what the tests do.

pub mod ci_api;
pub mod http;
pub mod imds;
pub mod lambda_api;
pub mod record;
