//! The embedded store: task results and credentials in memory.
//!
//! It is the default when no database is configured. Every operation takes
//! one lock for its whole duration, so each is atomic: no lost update, and a
//! task deleted once answers `DELETED` to every caller. Nothing outlives the
//! process.

mod cleanup;
mod credentials;
mod store;
mod webhooks;

pub use credentials::MemoryCredentialStore;
pub use store::MemoryStore;
