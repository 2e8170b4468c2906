//! The CI agents the bootstrap can start. One module per agent kind.

pub mod semaphore;
