//! The stores the service runs on: PostgreSQL, or the embedded memory store.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use vodsnap_adapter_memory::{MemoryCredentialStore, MemoryStore};
use vodsnap_adapter_objects::{ObjectImageStore, StorageUrl};
use vodsnap_adapter_postgres::schema::{self, ConnectProblem};
use vodsnap_adapter_postgres::{
    CredentialCipher, PgAuditLog, PgCleanupQueue, PgCredentialStore, PgDatabase, PgPool,
    PgPurgeQueue, PgTaskResultStore, PgWebhookStore,
};
use vodsnap_domain::Secret;
use vodsnap_domain::schema::{Migration, SchemaState};
use vodsnap_ports::{
    AuditLog, CleanupQueue, CredentialStore, ImageStore, PurgeQueue, TaskResultStore, WebhookStore,
};

use crate::cli::{CredentialKeyArgs, DatabaseArgs, StorageArgs};
use crate::report::{Hint, SchemaNotReady, WithHint as _};

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

/// Connects to PostgreSQL. The URL may hold a password: it is never logged
/// nor printed (messages name `user@host:port/database`). A failure says
/// why in PostgreSQL's words and what to check.
pub async fn connect(url: &Secret, max_connections: u32) -> anyhow::Result<PgPool> {
    let connected = vodsnap_adapter_postgres::connect(url.expose(), max_connections).await;
    let error = match connected {
        Ok(pool) => return Ok(pool),
        Err(error) => error,
    };
    let target = target(url);
    let message = format!("cannot connect to the database {target}");
    // The pool says only that it timed out; one plain connection says why.
    let Some(problem) = schema::diagnose_connection(url.expose()).await else {
        return Err(error).hint(message, "check --database-url (DATABASE_URL)");
    };
    let (detail, hint) = match problem {
        ConnectProblem::BadUrl(detail) => (
            detail,
            "--database-url (DATABASE_URL) must look like postgres://user:password@host:5432/database",
        ),
        ConnectProblem::Unreachable(detail) => (
            detail,
            "check the host and port in --database-url (DATABASE_URL), and that PostgreSQL runs there and accepts TCP connections",
        ),
        ConnectProblem::Refused(detail) => (
            detail,
            "check the user and password in --database-url (DATABASE_URL)",
        ),
        ConnectProblem::NoDatabase(detail) => (
            detail,
            "create the database (`createdb NAME`), or name an existing one in --database-url (DATABASE_URL)",
        ),
        ConnectProblem::Other(detail) => (detail, "check --database-url (DATABASE_URL)"),
    };
    Err(anyhow::Error::msg(detail)).hint(message, hint)
}

/// The database a URL names, for messages: `user@host:port/database`.
pub fn target(url: &Secret) -> String {
    schema::describe_target(url.expose())
        .unwrap_or_else(|| "given by --database-url (DATABASE_URL)".to_owned())
}

/// Connects, then checks that this binary can run against the database's
/// schema (docs/DEPLOY.md, "Migrations"): what every command that uses the
/// database but does not migrate it does first.
pub async fn connect_ready(
    database: &DatabaseArgs,
    max_connections: u32,
) -> anyhow::Result<PgPool> {
    let pool = connect(&database.database_url, max_connections).await?;
    let state = schema_state(&pool).await?;
    require_runnable(&state, &target(&database.database_url))?;
    Ok(pool)
}

/// The database's schema compared with this binary's migrations.
pub async fn schema_state(pool: &PgPool) -> anyhow::Result<SchemaState> {
    schema::schema_state(pool)
        .await
        .context("failed to read the database's migrations")
}

/// `Ok` when this binary can run against a database in `state` (warning
/// when the database is ahead of it); otherwise the one line that says
/// what to run, with the schema exit status.
pub fn require_runnable(state: &SchemaState, target: &str) -> anyhow::Result<()> {
    if let SchemaState::Ahead {
        unknown,
        compatible: true,
    } = state
    {
        tracing::warn!(
            "the database {target} has migrations this vodsnap does not know ({}): a newer \
             vodsnap migrated it; none is marked breaking, so this one runs",
            versions(unknown)
        );
    }
    if state.can_run() {
        return Ok(());
    }
    Err(SchemaNotReady(schema_problem(state, target)).into())
}

/// The sentence for a schema this binary cannot run against.
pub fn schema_problem(state: &SchemaState, target: &str) -> String {
    match state {
        SchemaState::Current => format!("the database {target} is up to date"),
        SchemaState::Missing => format!(
            "the database {target} has no vodsnap schema: run `vodsnap migrate` (same \
             --database-url) first"
        ),
        SchemaState::Behind { pending } => format!(
            "the database {target} is behind this vodsnap (migration(s) {} not applied): run \
             `vodsnap migrate` (same --database-url) first",
            pending
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        SchemaState::Ahead { unknown, .. } => format!(
            "the database {target} has migrations this vodsnap does not know ({}), one of \
             them marked breaking: this version cannot run against it; run the newer vodsnap",
            versions(unknown)
        ),
        SchemaState::Failed { version } => format!(
            "migration {version} did not finish on the database {target}: repair the schema by \
             hand (docs/DEPLOY.md, \"Migrations\"), then run `vodsnap migrate`"
        ),
        SchemaState::Altered { version } => format!(
            "migration {version} on the database {target} ran with other SQL than this \
             vodsnap's: it does not match this database; run the vodsnap that migrated it"
        ),
    }
}

fn versions(migrations: &[Migration]) -> String {
    migrations
        .iter()
        .map(|m| format!("{} {}", m.version, m.description))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The SK cipher from `--credential-keys`, which PostgreSQL needs.
pub fn cipher(keys: &CredentialKeyArgs) -> anyhow::Result<CredentialCipher> {
    const KEYGEN: &str = "make a key with `vodsnap credentials keygen` and pass it as \
                          --credential-keys or VODSNAP_CREDENTIAL_KEYS (keep it: SKs stored \
                          with it are unreadable without it)";
    let keys = keys
        .credential_keys
        .as_ref()
        .map(Secret::expose)
        .unwrap_or_default();
    if keys.trim().is_empty() {
        return Err(Hint::new(
            "--credential-keys (VODSNAP_CREDENTIAL_KEYS) is required with a database: SKs \
             are stored encrypted",
            KEYGEN,
        )
        .into());
    }
    CredentialCipher::from_spec_list(keys).hint("invalid --credential-keys", KEYGEN)
}

const STORAGE_HINT: &str = "check --storage (VODSNAP_STORAGE): a file:// directory this \
                            process can create and write, or an s3:// bucket that exists and \
                            that the AWS_* keys may write to";

/// Writes and removes one small object (under `vodsnap-storage-check/`),
/// so that a storage this process cannot write (a read-only directory, a
/// bucket that does not exist, keys without the right) stops start-up with
/// a message, instead of failing each cleanup later. A storage that is
/// merely unavailable (no answer, 5xx, throttled) is logged and start-up
/// goes on: an outage at start-up is handled as one later is.
pub async fn check_storage(images: &ObjectImageStore) -> anyhow::Result<()> {
    use vodsnap_ports::ImageStore as _;
    let key = vodsnap_domain::ObjectKey::parse(&format!(
        "vodsnap-storage-check/{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ))
    .context("failed to make the storage check's key")?;
    let describe = images.describe();
    let written = images
        .put(&key, b"vodsnap checks that it can write here".to_vec())
        .await;
    let (checked, what) = match written {
        Ok(()) => (images.delete(&key).await, "remove from"),
        Err(e) => (Err(e), "write to"),
    };
    match checked {
        Ok(()) => Ok(()),
        // A store that is down now may be up in a minute: the service
        // starts, and the cleanup's retries and the outage handling take
        // over, as they do for an outage later on.
        Err(e) if e.blame() == vodsnap_domain::Blame::Store => {
            tracing::warn!(
                storage = describe.as_str(),
                error = format!("{e:#}"),
                "the image storage did not answer the start-up check; starting anyway"
            );
            Ok(())
        }
        Err(e) => Err(e).hint(
            format!("cannot {what} the image storage {describe}"),
            STORAGE_HINT,
        ),
    }
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
        .hint("failed to open the image storage", STORAGE_HINT)?
        .with_bulk_delete(args.storage_bulk_delete);
    tracing::info!(
        storage = store.describe(),
        bulk_delete = args.storage_bulk_delete,
        "image storage"
    );
    Ok(store)
}
