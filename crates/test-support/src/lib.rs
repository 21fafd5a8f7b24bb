//! What the crates' tests share, in one place: a scratch PostgreSQL
//! database per test ([`db`]), moto's S3 server per test ([`moto`]), free
//! loopback ports ([`free_port`]) and the binary as a child process
//! ([`ServerProcess`], [`ChildProcess`]). The standard library only, plus
//! the tools' own helpers (`vodsnap-server-process`): no runtime, no
//! driver, so any crate's tests can use it.
//!
//! Only ever a dev-dependency (the architecture check, the first step of
//! `cargo xtask test`, refuses it anywhere else). Its helpers panic with a
//! message saying what is missing (`DATABASE_URL`, `VODSNAP_MOTO_SERVER`):
//! tests that need real parts fail rather than skip.

#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test support: a missing part is a failed test, said plainly"
)]

pub mod db;
pub mod moto;

pub use vodsnap_server_process::free_port as try_free_port;
/// The TCP proxy that plays a storage outage (shared with the soak;
/// feature `proxy`).
#[cfg(feature = "proxy")]
pub use vodsnap_server_process::proxy;
/// The real binary as a child process: `serve` on a free port with its
/// output in memory ([`ServerProcess::start_captured`]), or any other
/// command ([`ChildProcess`]); the tools' own helper, one for all.
pub use vodsnap_server_process::{ChildProcess, ServerProcess};

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    try_free_port().expect("find a free loopback port")
}
