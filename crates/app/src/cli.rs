//! The command line. Every setting also reads the environment variable
//! named beside it; `--help` shows both. The operator commands' arguments
//! that choose what to act on or show (`--project`, `--url`, `--event`,
//! `--since`, `--task`, `--failed`, `--id` of `cleanup retry`) are
//! command-line only, so that a variable left in the environment never
//! chooses a command's target.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use vodsnap_domain::{Retention, Secret};

#[derive(Debug, Parser)]
#[command(
    name = "vodsnap",
    version,
    about = "Snapshot task results of a VOD platform, Huawei Cloud VOD-compatible"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service.
    Serve(Box<ServeArgs>),
    /// Issue tokens for X-Auth-Token.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Bring the database schema up to date.
    Migrate(MigrateArgs),
    /// Manage AK/SK credentials in the database.
    #[command(subcommand)]
    Credentials(CredentialsCommand),
    /// The cleanup of deleted task results' image objects.
    #[command(subcommand)]
    Cleanup(CleanupCommand),
    /// Print the audit trail of a project as JSON lines, oldest first.
    Audit(AuditArgs),
    /// Manage a project's webhooks in the database (as the API does).
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Compare the object storage with the database: objects nothing
    /// references (orphans) and keys a live task references that the
    /// storage lacks (missing). Exit status 0: they agree; 2: they differ;
    /// 1: an error.
    Reconcile(Box<ReconcileArgs>),
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
    /// The project to reconcile.
    #[arg(long, conflicts_with = "all", required_unless_present = "all")]
    pub project: Option<String>,
    /// Every project: those the database knows and the storage's top-level
    /// prefixes.
    #[arg(long)]
    pub all: bool,
    /// Queue the orphans last modified longer ago than --older-than for
    /// the cleanup (never deleted here: the cleanup checks references
    /// first), audited as `system:reconcile`.
    #[arg(long, requires = "older_than")]
    pub remove_orphans: bool,
    /// The grace period of --remove-orphans: a producer may upload before
    /// it registers (e.g. 1h, 1d).
    #[arg(long, requires = "remove_orphans", value_parser = parse_duration)]
    pub older_than: Option<Duration>,
    /// text (for people) or json (one line, the last of stdout).
    #[arg(
        long,
        value_enum,
        env = "VODSNAP_RECONCILE_FORMAT",
        default_value = "text"
    )]
    pub format: ReconcileFormat,
    /// Also write the run's counts to this file in Prometheus's text
    /// format (atomically), for node_exporter's textfile collector.
    #[arg(long, env = "VODSNAP_RECONCILE_METRICS_FILE")]
    pub metrics_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReconcileFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Subscribe a URL to a project's events; prints the webhook as JSON,
    /// with its signing secret (shown this once).
    Create {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        keys: CredentialKeyArgs,
        #[arg(long)]
        project: String,
        /// Where events are POSTed (http or https).
        #[arg(long)]
        url: String,
        /// An event to receive; repeatable. Default: all of them.
        #[arg(long = "event")]
        events: Vec<String>,
        /// Accept a URL that resolves to a loopback, private or link-local
        /// address (as `serve --allow-private-webhooks` delivers to one).
        #[arg(long, env = "VODSNAP_ALLOW_PRIVATE_WEBHOOKS")]
        allow_private_webhooks: bool,
    },
    /// List a project's webhooks as JSON lines (never their secrets).
    List {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long)]
        project: String,
    },
    /// Remove a webhook and its undelivered deliveries.
    Delete {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long)]
        project: String,
        id: String,
    },
    /// A webhook's latest deliveries as JSON lines, newest first.
    Deliveries {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long)]
        project: String,
        id: String,
        /// Only those whose last attempt failed (retrying or parked).
        #[arg(long)]
        failed: bool,
    },
    /// Send a delivery again, now, with its attempts reset.
    Redeliver {
        #[command(flatten)]
        database: DatabaseArgs,
        #[arg(long)]
        project: String,
        id: String,
        delivery: i64,
    },
}

#[derive(Debug, Args)]
pub struct WebhookArgs {
    /// Webhook delivery workers in this process (0: none).
    #[arg(long, env = "VODSNAP_WEBHOOK_WORKERS", default_value_t = 1)]
    pub webhook_workers: usize,

    /// Attempts at delivering an event to a webhook before the delivery is
    /// parked (redeliver it through the API or `vodsnap webhooks
    /// redeliver`).
    #[arg(long, env = "VODSNAP_WEBHOOK_MAX_ATTEMPTS", default_value_t = 10)]
    pub webhook_max_attempts: u32,

    /// First retry delay; it doubles per attempt (with jitter).
    #[arg(long, env = "VODSNAP_WEBHOOK_RETRY_BASE", default_value = "5s", value_parser = parse_duration)]
    pub webhook_retry_base: Duration,

    /// Longest retry delay.
    #[arg(long, env = "VODSNAP_WEBHOOK_RETRY_MAX", default_value = "1h", value_parser = parse_duration)]
    pub webhook_retry_max: Duration,

    /// Longest one delivery attempt may take (connecting, sending, the
    /// receiver's answer).
    #[arg(long, env = "VODSNAP_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub webhook_timeout: Duration,

    /// How long a worker holds a claimed delivery before another may take
    /// it; keep it well above --webhook-timeout.
    #[arg(long, env = "VODSNAP_WEBHOOK_LEASE", default_value = "1m", value_parser = parse_duration)]
    pub webhook_lease: Duration,

    /// Pause after a pass that found nothing due.
    #[arg(long, env = "VODSNAP_WEBHOOK_IDLE", default_value = "1s", value_parser = parse_duration)]
    pub webhook_idle: Duration,

    /// How long a finished event (every delivery delivered or parked) stays
    /// in the outbox, listed and redeliverable; then the delivery workers
    /// prune it with its deliveries (at most 1,000 a minute per worker).
    #[arg(long, env = "VODSNAP_WEBHOOK_EVENT_RETENTION", default_value = "7d", value_parser = parse_duration)]
    pub webhook_event_retention: Duration,

    /// Let webhooks reach loopback, private and link-local addresses (for
    /// tests, or receivers inside a private network). Off by default: a
    /// webhook URL could otherwise reach the deployment's own network.
    #[arg(long, env = "VODSNAP_ALLOW_PRIVATE_WEBHOOKS")]
    pub allow_private_webhooks: bool,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// After the migrations, distribute the tables with Citus: the
    /// per-project ones by project_id (colocated), credentials as a
    /// reference table. Run against the coordinator; idempotent; fails if
    /// the citus extension is not installed.
    #[arg(long, env = "VODSNAP_MIGRATE_CITUS")]
    pub citus: bool,
    /// With --citus: print the distribution statements that would run, and
    /// change nothing (no migration either).
    #[arg(long, env = "VODSNAP_MIGRATE_DRY_RUN", requires = "citus")]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The project whose records to print.
    #[arg(long)]
    pub project: String,
    /// Only records at or after this instant (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Only records that named or touched this task.
    #[arg(long)]
    pub task: Option<String>,
    /// Most records to print.
    #[arg(long, env = "VODSNAP_AUDIT_LIMIT", default_value_t = 1000)]
    pub limit: u32,
}

#[derive(Debug, Subcommand)]
pub enum CleanupCommand {
    /// Run cleanup workers (for a deployment that runs them apart from
    /// `serve`); stops on SIGTERM or SIGINT.
    Run {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        storage: StorageArgs,
        #[command(flatten)]
        cleanup: CleanupArgs,
        /// Work until the queue has nothing due, then exit.
        #[arg(long, env = "VODSNAP_CLEANUP_ONCE")]
        once: bool,
    },
    /// Print the queue's figures as JSON.
    Status {
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List parked items (those that ran out of attempts) as JSON lines.
    Parked {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Most items to print.
        #[arg(long, env = "VODSNAP_CLEANUP_PARKED_LIMIT", default_value_t = 100)]
        limit: u32,
    },
    /// Make parked items due again, with fresh attempts: those named by
    /// --id, or all of them.
    Retry {
        #[command(flatten)]
        database: DatabaseArgs,
        /// A parked item's id; repeatable. Without it, every parked item.
        #[arg(long = "id")]
        ids: Vec<i64>,
    },
}

#[derive(Debug, Args)]
pub struct StorageArgs {
    /// Where snapshot images live: file:///abs/dir, s3://bucket (endpoint,
    /// region and keys from the AWS_* variables), or memory://. Default:
    /// file://{current directory}/data/images.
    #[arg(long, env = "VODSNAP_STORAGE")]
    pub storage: Option<String>,

    /// Remove the cleanup's batches with the storage's bulk request (S3
    /// `DeleteObjects`, 1,000 keys a request; AWS, Huawei OBS and MinIO
    /// have it). `false` for S3-compatible services without it: one
    /// `DELETE` per key, 20 at once.
    #[arg(long, env = "VODSNAP_STORAGE_BULK_DELETE", default_value_t = true, action = clap::ArgAction::Set)]
    pub storage_bulk_delete: bool,
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Cleanup workers in this process (0: none; run `vodsnap cleanup run`
    /// elsewhere).
    #[arg(long, env = "VODSNAP_CLEANUP_WORKERS", default_value_t = 1)]
    pub cleanup_workers: usize,

    /// Items a worker claims and removes per batch (one bulk request and a
    /// constant number of database statements), 1 to 1000.
    #[arg(long, env = "VODSNAP_CLEANUP_BATCH", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub cleanup_batch: u32,

    /// Attempts at removing an object before its item is parked.
    #[arg(long, env = "VODSNAP_CLEANUP_MAX_ATTEMPTS", default_value_t = 10)]
    pub cleanup_max_attempts: u32,

    /// First retry delay; it doubles per attempt (with jitter).
    #[arg(long, env = "VODSNAP_CLEANUP_RETRY_BASE", default_value = "1s", value_parser = parse_duration)]
    pub cleanup_retry_base: Duration,

    /// Longest retry delay.
    #[arg(long, env = "VODSNAP_CLEANUP_RETRY_MAX", default_value = "5m", value_parser = parse_duration)]
    pub cleanup_retry_max: Duration,

    /// How long a worker holds a claimed item before another may take it.
    #[arg(long, env = "VODSNAP_CLEANUP_LEASE", default_value = "2m", value_parser = parse_duration)]
    pub cleanup_lease: Duration,

    /// Pause after a pass that found nothing due.
    #[arg(long, env = "VODSNAP_CLEANUP_IDLE", default_value = "1s", value_parser = parse_duration)]
    pub cleanup_idle: Duration,
}

#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL, e.g. postgres://user:password@host:5432/vodsnap.
    #[arg(long, env = "DATABASE_URL", value_parser = secret, hide_env_values = true)]
    pub database_url: Secret,

    /// Most connections this process opens to the database.
    #[arg(long, env = "VODSNAP_DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,
}

#[derive(Debug, Args)]
pub struct CredentialKeyArgs {
    /// Keys that encrypt SKs at rest, as ID:BASE64 (32 bytes) separated by
    /// commas; the first encrypts, every one decrypts. Rotate by putting a
    /// new key first, running `vodsnap credentials reencrypt`, then dropping
    /// the old one. Make one with `vodsnap credentials keygen`.
    #[arg(long, env = "VODSNAP_CREDENTIAL_KEYS", value_parser = secret, hide_env_values = true)]
    pub credential_keys: Option<Secret>,
}

#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Create a credential granted the given projects; prints AK and SK once.
    Create {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        keys: CredentialKeyArgs,
        /// A project to grant; repeatable.
        #[arg(long = "project", required = true)]
        projects: Vec<String>,
    },
    /// List credentials (never their secrets).
    List {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        keys: CredentialKeyArgs,
    },
    /// Revoke a credential by its AK.
    Revoke {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        keys: CredentialKeyArgs,
        access_key: String,
    },
    /// Re-encrypt every SK with the current (first) key.
    Reencrypt {
        #[command(flatten)]
        database: DatabaseArgs,
        #[command(flatten)]
        keys: CredentialKeyArgs,
    },
    /// Print a new random key for --credential-keys, as ID:BASE64.
    Keygen {
        /// The key's id.
        #[arg(long, env = "VODSNAP_CREDENTIAL_KEY_ID", default_value = "k1")]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a project-scoped token on stdout.
    Issue(TokenIssueArgs),
}

fn secret(raw: &str) -> Result<Secret, Infallible> {
    Ok(Secret::new(raw))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "VODSNAP_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Base of plain, unsigned snapshot links for a CDN or a public bucket:
    /// each `url` in details answers is {base}/{object key}. Without it,
    /// links are signed and expire (--url-ttl): on file storage they point
    /// at this service's /snapshots/{key}; on S3 they are presigned URLs.
    #[arg(long, env = "VODSNAP_PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,

    /// The address clients reach this service at, for the signed snapshot
    /// links it serves on file storage (behind a load balancer: the
    /// balancer's address). Default: http://{listen}.
    #[arg(long, env = "VODSNAP_EXTERNAL_URL")]
    pub external_url: Option<String>,

    /// Key that signs the snapshot links this service serves (at least 32
    /// bytes). Without it a random key is made for the process, and links
    /// die with it. Give every instance behind one load balancer the same
    /// key.
    #[arg(long, env = "VODSNAP_URL_KEY", value_parser = secret, hide_env_values = true)]
    pub url_key: Option<Secret>,

    /// How long a snapshot link in a details answer stays valid (signed
    /// links and S3 presigned URLs; rounded up by at most a tenth, to let
    /// caches reuse them): 1s to 7d.
    #[arg(long, env = "VODSNAP_URL_TTL", default_value = "1h", value_parser = parse_link_ttl)]
    pub url_ttl: Duration,

    /// Key that signs and checks tokens (at least 32 bytes). Without it a
    /// random key is made for the process, and tokens die with it. Give
    /// every instance behind one load balancer the same key.
    #[arg(long, env = "VODSNAP_TOKEN_KEY", value_parser = secret, hide_env_values = true)]
    pub token_key: Option<Secret>,

    /// Credentials to create or update at start-up, as
    /// AK:SK:PROJECT[:PROJECT...]; repeatable. In the environment, several
    /// are separated by commas.
    #[arg(
        long = "seed-credential",
        env = "VODSNAP_SEED_CREDENTIALS",
        value_delimiter = ',',
        value_parser = secret,
        hide_env_values = true
    )]
    pub seed_credentials: Vec<Secret>,

    /// Log format.
    #[arg(long, env = "VODSNAP_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// OpenTelemetry collector to export traces to, over OTLP/HTTP
    /// (protobuf) at {endpoint}/v1/traces, e.g. http://collector:4318:
    /// a span per request, database statement, object-store batch, job
    /// batch and webhook delivery. Off without it, at no cost. The
    /// standard OTEL_BSP_* and OTEL_SERVICE_NAME variables apply.
    #[arg(long, env = "VODSNAP_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// PostgreSQL URL. Without it, the embedded in-memory store with demo
    /// data: nothing outlives the process.
    #[arg(long, env = "DATABASE_URL", value_parser = secret, hide_env_values = true)]
    pub database_url: Option<Secret>,

    /// Most connections this process opens to the database. Small pools
    /// are faster than large ones (docs/benchmarks.md): start near twice
    /// the database server's cores, divided among the instances.
    #[arg(long, env = "VODSNAP_DATABASE_MAX_CONNECTIONS", default_value_t = 8)]
    pub database_max_connections: u32,

    /// How long a credential looked up for an AK/SK request is reused. A
    /// revocation made through another instance takes effect here within
    /// this time (through this instance: at once); 1ms practically turns
    /// the cache off.
    #[arg(long, env = "VODSNAP_CREDENTIAL_CACHE_TTL", default_value = "10s", value_parser = parse_duration)]
    pub credential_cache_ttl: Duration,

    /// Do not migrate the database at start-up (run `vodsnap migrate`
    /// yourself before starting a new version).
    #[arg(long, env = "VODSNAP_NO_MIGRATE")]
    pub no_migrate: bool,

    #[command(flatten)]
    pub keys: CredentialKeyArgs,

    #[command(flatten)]
    pub storage: StorageArgs,

    #[command(flatten)]
    pub cleanup: CleanupArgs,

    /// The recycle bin: how long a deleted task result stays restorable
    /// (POST .../asset/thumbnails/restore), its images kept in storage
    /// until then. 0s (the default) is no recycle bin: images are removed
    /// at once. Up to 3660d.
    #[arg(long, env = "VODSNAP_RETENTION", default_value = "0s", value_parser = parse_retention)]
    pub retention: Retention,

    /// How long an asset purge (DeleteAssets) stays with the instance that
    /// claimed it without a batch; each batch extends it. When that
    /// instance dies, another continues the purge once it runs out.
    #[arg(long, env = "VODSNAP_PURGE_LEASE", default_value = "1m", value_parser = parse_duration)]
    pub purge_lease: Duration,

    #[command(flatten)]
    pub webhooks: WebhookArgs,

    /// Requests per second allowed per project (with a burst of as many);
    /// over it, 429 APIGW.0308 with Retry-After. Off when not given.
    #[arg(long, env = "VODSNAP_RATE_LIMIT")]
    pub rate_limit: Option<std::num::NonZeroU32>,

    /// Longest a request may take before it is answered 503 (safe to retry).
    #[arg(long, env = "VODSNAP_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Largest request body accepted (a registration's JSON); larger ones
    /// are answered 413 VODSNAP.0413. Bytes, or with KiB, MiB or GiB.
    #[arg(long, env = "VODSNAP_MAX_BODY", default_value = "12MiB", value_parser = parse_size)]
    pub max_body: usize,

    /// Most bytes of request bodies held in memory by all requests
    /// together; a request whose body finds it full is answered 503
    /// VOD.10052 with Retry-After, before anything is done.
    #[arg(long, env = "VODSNAP_MAX_BODY_MEMORY", default_value = "240MiB", value_parser = parse_size)]
    pub max_body_memory: usize,

    /// Most client connections open at once; beyond it, new connections
    /// wait in the listen backlog. Keep it well under the process's
    /// open-file limit (ulimit -n), which the database pool and storage
    /// share.
    #[arg(long, env = "VODSNAP_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// How long a client has to send a request's headers, from the moment
    /// its connection is ready for one (when it opens, or after the
    /// previous response); so it is also how long an idle keep-alive
    /// connection stays open.
    #[arg(long, env = "VODSNAP_HEADER_READ_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub header_read_timeout: Duration,

    /// On SIGTERM or SIGINT, how long in-flight requests may take to finish.
    #[arg(long, env = "VODSNAP_SHUTDOWN_TIMEOUT", default_value = "20s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
}

#[derive(Debug, Args)]
pub struct TokenIssueArgs {
    /// The project the token is valid for.
    #[arg(long)]
    pub project: String,

    /// How long the token is valid: a number with s, m, h or d (e.g. 15m,
    /// 12h); at most 30d.
    #[arg(long, env = "VODSNAP_TOKEN_TTL", default_value = "1h", value_parser = parse_ttl)]
    pub ttl: Duration,

    /// Who the token is for; recorded with the calls made with it.
    #[arg(long, env = "VODSNAP_TOKEN_SUBJECT", default_value = "cli")]
    pub subject: String,

    /// The servers' token key (at least 32 bytes).
    #[arg(long, env = "VODSNAP_TOKEN_KEY", value_parser = secret, hide_env_values = true)]
    pub token_key: Option<Secret>,
}

/// Longest token lifetime `token issue` accepts.
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// A link lifetime: a duration from 1s to 7d (S3's longest presigned URL).
pub fn parse_link_ttl(raw: &str) -> Result<Duration, String> {
    let ttl = parse_duration(raw)?;
    vodsnap_adapter_objects::LinkTtl::new(ttl)
        .map(vodsnap_adapter_objects::LinkTtl::get)
        .map_err(|e| e.to_string())
}

/// Parses `250ms`, `90s`, `15m`, `12h`, `7d`.
/// A recycle-bin retention: a duration (0s for none), at most ten years.
pub fn parse_retention(raw: &str) -> Result<Retention, String> {
    Retention::new(parse_duration_or_zero(raw)?).map_err(|e| e.to_string())
}

pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let duration = parse_duration_or_zero(raw)?;
    if duration.is_zero() {
        return Err(format!(
            "'{}': the duration must be more than 0",
            raw.trim()
        ));
    }
    Ok(duration)
}

/// As [`parse_duration`], with zero (`0s`) allowed.
fn parse_duration_or_zero(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{raw}' is not a duration like 500ms, 90s, 15m, 12h or 7d"))?;
    let unit_millis: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("'{raw}': the unit must be ms, s, m, h or d")),
    };
    Ok(Duration::from_millis(n.saturating_mul(unit_millis)))
}

/// Parses a size in bytes: `1048576`, `64KiB`, `12MiB`, `1GiB`.
pub fn parse_size(raw: &str) -> Result<usize, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let n: usize = number
        .parse()
        .map_err(|_| format!("'{raw}' is not a size like 65536, 64KiB, 12MiB or 1GiB"))?;
    let unit: usize = match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return Err(format!("'{raw}': the unit must be KiB, MiB or GiB")),
    };
    match n.checked_mul(unit) {
        Some(0) => Err(format!("'{raw}': the size must be more than 0")),
        Some(bytes) => Ok(bytes),
        None => Err(format!("'{raw}' is too large")),
    }
}

/// Parses a token lifetime: a duration from 1s to 30d.
pub fn parse_ttl(raw: &str) -> Result<Duration, String> {
    let ttl = parse_duration(raw)?;
    if ttl < Duration::from_secs(1) || ttl > MAX_TTL {
        return Err(format!("'{raw}': the ttl must be between 1s and 30d"));
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    /// The flags that choose what a command acts on or shows: command-line
    /// only (the module's comment says why).
    const TARGET_FLAGS: &[&str] = &[
        "project",
        "url",
        "event",
        "since",
        "task",
        "failed",
        "id",
        "all",
        "remove-orphans",
        "older-than",
    ];

    #[test]
    fn every_other_flag_reads_an_environment_variable() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let Some(long) = arg.get_long() else {
                    continue;
                };
                if arg.get_env().is_none()
                    && !TARGET_FLAGS.contains(&long)
                    && !["help", "version"].contains(&long)
                {
                    missing.push(format!("{path} --{long}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "vodsnap", &mut missing);
        assert_eq!(missing, Vec::<String>::new());
    }

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_ttl("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_ttl("30d"), Ok(MAX_TTL));
    }

    #[test]
    fn ttl_rejects_nonsense() {
        for bad in [
            "",
            "0s",
            "31d",
            "5",
            "5w",
            "-1s",
            "1.5h",
            "99999999999999999999d",
        ] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_take_milliseconds() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("0ms").is_err());
    }

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("12MiB"), Ok(12 * 1024 * 1024));
        assert_eq!(parse_size("64KiB"), Ok(65_536));
        assert_eq!(parse_size("100"), Ok(100));
        for bad in ["", "0", "12MB", "1.5MiB", "-1", "99999999999999999999GiB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
