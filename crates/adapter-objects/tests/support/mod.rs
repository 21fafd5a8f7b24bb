//! Helpers of the image store tests: the behaviour every backend must show,
//! a moto S3 server per test, and fake servers for outages.

pub mod fake_server;
pub mod moto;
pub mod suite;
