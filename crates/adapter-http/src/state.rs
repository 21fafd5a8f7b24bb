//! What the handlers share: the ports and the HTTP settings.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use vodsnap_domain::ProjectId;
use vodsnap_ports::{Clock, CredentialStore, TokenAuthority};
use vodsnap_service::{AssetPurges, CleanupAdmin, SnapshotImages, Snapshots, Webhooks};

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest request body accepted, in bytes (`--max-body`).
    pub max_body_bytes: usize,
    /// Most bytes of request bodies held in memory by all requests
    /// together (`--max-body-memory`); a body that finds it full is
    /// answered 503 with `Retry-After`.
    pub max_body_memory_bytes: usize,
    /// Longest query string accepted, in bytes.
    pub max_query_bytes: usize,
    /// Largest total size of the request headers, in bytes.
    pub max_header_bytes: usize,
    /// Longest a request may take before it is answered 503.
    pub request_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            // 10,000 snapshots with 1 KiB keys fit, with room for the JSON.
            max_body_bytes: 12 * 1024 * 1024,
            // Twenty bodies of the largest size at once.
            max_body_memory_bytes: 240 * 1024 * 1024,
            max_query_bytes: 8 * 1024,
            max_header_bytes: 32 * 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// The ports and settings, injected into every handler.
#[derive(Clone)]
pub struct AppState {
    /// The snapshot use cases; handlers call nothing else for data.
    pub snapshots: Snapshots,
    /// The links of snapshot images, and the images behind vodsnap's own.
    pub images: SnapshotImages,
    /// Whole assets' purges (`DeleteAssets`) and their progress.
    pub purges: AssetPurges,
    /// The cleanup queue's figures, for the console.
    pub cleanup: CleanupAdmin,
    /// The project's webhooks.
    pub webhooks: Webhooks,
    pub credentials: Arc<dyn CredentialStore>,
    pub tokens: Arc<dyn TokenAuthority>,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<HttpSettings>,
    /// Renders the metrics in Prometheus' text format; `None` when no
    /// recorder is installed.
    pub metrics: Option<Arc<dyn Fn() -> String + Send + Sync>>,
    /// Per-project request rate; `None` for no limit.
    pub rate_limit: Option<Arc<ProjectRateLimit>>,
}

/// Requests per second per project, with a burst of as many.
pub struct ProjectRateLimit {
    limiter: DefaultKeyedRateLimiter<ProjectId>,
}

impl ProjectRateLimit {
    pub fn per_second(requests: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_second(requests).allow_burst(requests)),
        }
    }

    /// `Err(wait)` when the project is over its rate.
    pub(crate) fn check(&self, project: &ProjectId) -> Result<(), Duration> {
        self.limiter.check_key(project).map_err(|not_until| {
            not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ))
        })
    }
}

impl std::fmt::Debug for ProjectRateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectRateLimit").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
