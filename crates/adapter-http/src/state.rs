//! What the handlers share: the ports and the HTTP settings.

use std::sync::Arc;

use vodsnap_ports::{Clock, CredentialStore, TaskResultStore, TokenAuthority};

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Base of the `url` field of details; the object key is appended after
    /// a `/`.
    pub public_base_url: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Longest query string accepted, in bytes.
    pub max_query_bytes: usize,
    /// Largest total size of the request headers, in bytes.
    pub max_header_bytes: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            public_base_url: "http://127.0.0.1:8080/snapshots".to_owned(),
            // 10,000 snapshots with 1 KiB keys fit, with room for the JSON.
            max_body_bytes: 12 * 1024 * 1024,
            max_query_bytes: 8 * 1024,
            max_header_bytes: 32 * 1024,
        }
    }
}

/// The ports and settings, injected into every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn TaskResultStore>,
    pub credentials: Arc<dyn CredentialStore>,
    pub tokens: Arc<dyn TokenAuthority>,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<HttpSettings>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
