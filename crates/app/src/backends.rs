//! The stores the service runs on: PostgreSQL, or the embedded memory store.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use vodsnap_adapter_memory::{MemoryCredentialStore, MemoryStore};
use vodsnap_adapter_objects::{ObjectImageStore, StorageUrl};
use vodsnap_adapter_postgres::{
    CredentialCipher, PgAuditLog, PgCleanupQueue, PgCredentialStore, PgDatabase, PgPool,
    PgPurgeQueue, PgTaskResultStore, PgWebhookStore,
};
use vodsnap_domain::Secret;
use vodsnap_ports::{
    AuditLog, CleanupQueue, CredentialStore, ImageStore, PurgeQueue, TaskResultStore, WebhookStore,
};

use crate::cli::{CredentialKeyArgs, StorageArgs};

/// The ports that depend on where data lives.
pub struct Backends {
    pub store: Arc<dyn TaskResultStore>,
    pub audit: Arc<dyn AuditLog>,
    pub credentials: Arc<dyn CredentialStore>,
    pub cleanup: Arc<dyn CleanupQueue>,
    pub webhooks: Arc<dyn WebhookStore>,
    /// Whole assets' purges (`DeleteAssets`).
    pub purges: Arc<dyn PurgeQueue>,
    /// The database, for its pool's gauges.
    pub database: Option<PgDatabase>,
    /// Only the embedded store gets demo data.
    pub embedded: bool,
}

impl Backends {
    pub fn embedded() -> Self {
        // One state for the ports, so that a change and what it queues
        // are one atomic step.
        let store = MemoryStore::new();
        Self {
            audit: Arc::new(store.audit_log()),
            credentials: Arc::new(MemoryCredentialStore::new()),
            cleanup: Arc::new(store.cleanup_queue()),
            webhooks: Arc::new(store.webhook_store()),
            purges: Arc::new(store.purge_queue()),
            store: Arc::new(store),
            database: None,
            embedded: true,
        }
    }

    pub fn postgres(
        pool: PgPool,
        cipher: CredentialCipher,
        credential_cache_ttl: Duration,
    ) -> Self {
        // One database for every store: they share its kept connections.
        let database = PgDatabase::from(pool);
        Self {
            store: Arc::new(PgTaskResultStore::new(database.clone())),
            audit: Arc::new(PgAuditLog::new(database.clone())),
            credentials: Arc::new(
                PgCredentialStore::new(database.clone(), cipher.clone())
                    .with_find_cache(credential_cache_ttl),
            ),
            cleanup: Arc::new(PgCleanupQueue::new(database.clone())),
            purges: Arc::new(PgPurgeQueue::new(database.clone())),
            // Webhook secrets are sealed with the credentials' keys.
            webhooks: Arc::new(PgWebhookStore::new(database.clone(), cipher)),
            database: Some(database),
            embedded: false,
        }
    }
}

/// Connects to PostgreSQL. The URL may hold a password: it is never logged.
pub async fn connect(url: &Secret, max_connections: u32) -> anyhow::Result<PgPool> {
    vodsnap_adapter_postgres::connect(url.expose(), max_connections)
        .await
        .context("failed to connect to the database given by --database-url / DATABASE_URL")
}

/// The SK cipher from `--credential-keys`, which PostgreSQL needs.
pub fn cipher(keys: &CredentialKeyArgs) -> anyhow::Result<CredentialCipher> {
    let keys = keys.credential_keys.as_ref().context(
        "--credential-keys (VODSNAP_CREDENTIAL_KEYS) is required with a database: SKs are \
         stored encrypted; make a key with `vodsnap credentials keygen`",
    )?;
    CredentialCipher::from_spec_list(keys.expose()).context("invalid --credential-keys")
}

/// The image store from `--storage`, by default a `data/images` directory
/// under the current directory.
pub fn images(args: &StorageArgs) -> anyhow::Result<ObjectImageStore> {
    let url = match &args.storage {
        Some(raw) => raw.parse::<StorageUrl>().context("invalid --storage")?,
        None => {
            let dir = std::env::current_dir()
                .context("failed to read the current directory")?
                .join("data")
                .join("images");
            StorageUrl::File(dir)
        }
    };
    let store = ObjectImageStore::open(&url)
        .context("failed to open the image storage")?
        .with_bulk_delete(args.storage_bulk_delete);
    tracing::info!(
        storage = store.describe(),
        bulk_delete = args.storage_bulk_delete,
        "image storage"
    );
    Ok(store)
}
