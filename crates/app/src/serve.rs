//! `vodsnap serve`: wires the adapters, seeds, listens, shuts down cleanly.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use vodsnap_adapter_http::auth::HmacTokenAuthority;
use vodsnap_adapter_http::server::ServerSettings;
use vodsnap_adapter_http::{AppState, HttpSettings};
use vodsnap_adapter_objects::{LinkTtl, ObjectImageStore, PlainLinks, SignedLinks};
use vodsnap_domain::{ProjectId, Secret, SeedDecision};
use vodsnap_ports::{Credential, ImageStore, SnapshotLinks, SystemClock, TokenAuthority};
use vodsnap_service::{
    AssetPurges, CleanupAdmin, CredentialAdmin, SnapshotImages, Snapshots, Webhooks,
};

use crate::backends::{self, Backends};
use crate::cleanup;
use crate::cli::{LogFormat, ServeArgs};
use crate::demo;
use crate::purges;
use crate::telemetry;
use crate::webhooks;

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("failed to listen on {}", args.listen))?;
    let local = listener
        .local_addr()
        .context("failed to read the bound address")?;

    let tokens: Arc<dyn TokenAuthority> = match &args.token_key {
        Some(key) => Arc::new(HmacTokenAuthority::new(key).context("invalid --token-key")?),
        None => {
            tracing::warn!(
                "no --token-key: tokens are signed with a random key and die with this process"
            );
            Arc::new(HmacTokenAuthority::random())
        }
    };

    let backends = match &args.database_url {
        Some(url) => {
            let cipher = backends::cipher(&args.keys)?;
            let pool = backends::connect(url, args.database_max_connections).await?;
            prepare_schema(&pool, url, args.no_migrate).await?;
            tracing::info!("using PostgreSQL");
            Backends::postgres(pool, cipher, args.credential_cache_ttl)
        }
        None => {
            tracing::warn!(
                "no --database-url: using the embedded in-memory store; nothing outlives this process"
            );
            Backends::embedded()
        }
    };
    let credentials = backends.credentials.clone();
    let storage = backends::images(&args.storage)?;
    backends::check_storage(&storage).await?;
    let links = links(&args, &storage, local)?;
    tracing::info!(links = links.describe(), "snapshot links");
    let images: Arc<dyn ImageStore> = Arc::new(storage);
    let clock: Arc<dyn vodsnap_ports::Clock> = Arc::new(SystemClock);
    let snapshots = Snapshots::new(
        backends.store.clone(),
        backends.audit.clone(),
        clock.clone(),
    )
    .with_retention(args.retention);
    tracing::info!(
        retention = ?args.retention.window(),
        "recycle bin (0s: none, deleted images are removed at once)"
    );

    let credential_admin = CredentialAdmin::new(credentials.clone(), clock.clone());
    for raw in &args.seed_credentials {
        let credential = parse_seed_credential(raw)?;
        let access_key = credential.access_key().to_owned();
        tracing::info!(
            access_key,
            projects = credential.projects().len(),
            "seeding credential"
        );
        let done = credential_admin
            .seed(credential)
            .await
            .context("failed to seed a credential")?;
        if done == SeedDecision::KeepRevoked {
            tracing::warn!(
                access_key,
                "a --seed-credential names a revoked credential; it stays revoked (remove it from the configuration)"
            );
        }
    }

    let sender = webhooks::sender(
        args.webhooks.allow_private_webhooks,
        args.webhooks.webhook_timeout,
    )?;
    let state = AppState {
        snapshots: snapshots.clone(),
        webhooks: Webhooks::new(backends.webhooks.clone(), sender.clone(), clock.clone()),
        images: SnapshotImages::new(
            links,
            backends.cleanup.clone(),
            images.clone(),
            clock.clone(),
        ),
        cleanup: CleanupAdmin::new(backends.cleanup.clone(), clock.clone()),
        purges: AssetPurges::new(backends.purges.clone(), clock.clone()),
        credentials: credentials.clone(),
        tokens: tokens.clone(),
        clock: clock.clone(),
        settings: Arc::new(HttpSettings {
            request_timeout: args.request_timeout,
            max_body_bytes: args.max_body,
            max_body_memory_bytes: args.max_body_memory,
            ..HttpSettings::default()
        }),
        metrics: Some(telemetry::metrics()?),
        rate_limit: args
            .rate_limit
            .map(|n| Arc::new(vodsnap_adapter_http::ProjectRateLimit::per_second(n))),
    };

    if backends.embedded {
        let demo = demo::seed(
            &snapshots,
            &credential_admin,
            images.as_ref(),
            tokens.as_ref(),
            local,
        )
        .await?;
        match args.log_format {
            LogFormat::Text => println!("{}", demo.banner()),
            LogFormat::Json => demo.log(),
        }
    } else {
        match args.log_format {
            LogFormat::Text => println!(
                "vodsnap is running on http://{local} with PostgreSQL\n\
                 console: http://{local}/console (sign in with a token from `vodsnap token issue`)"
            ),
            LogFormat::Json => tracing::info!(
                address = %format!("http://{local}"),
                console = %format!("http://{local}/console"),
                store = "postgresql",
                "vodsnap is running on http://{local} with PostgreSQL"
            ),
        }
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(gauges(
        backends.database.clone(),
        backends.cleanup.clone(),
        backends.webhooks.clone(),
        clock.clone(),
        stop_rx.clone(),
    ));
    let mut workers = cleanup::spawn_workers(
        &args.cleanup,
        backends.cleanup.clone(),
        images.clone(),
        clock.clone(),
        &stop_rx,
    )?;
    workers.push(purges::spawn_worker(
        &args.cleanup,
        args.retention,
        args.purge_lease,
        backends.purges.clone(),
        clock.clone(),
        &stop_rx,
    )?);
    workers.extend(webhooks::spawn_workers(
        &args.webhooks,
        backends.webhooks.clone(),
        sender,
        clock,
        &stop_rx,
    )?);

    tracing::info!(address = %local, "vodsnap listening");
    let app = vodsnap_adapter_http::router(state);
    let connections = ServerSettings {
        header_read_timeout: args.header_read_timeout,
        max_connections: args.max_connections,
    };
    // On a signal, stop accepting and let in-flight requests finish, for at
    // most --shutdown-timeout.
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let graceful = async move {
        shutdown_signal().await;
        let _ = signalled_tx.send(());
    };
    let server = vodsnap_adapter_http::server::serve(listener, app, connections, graceful);
    let shutdown_timeout = args.shutdown_timeout;
    let served: anyhow::Result<()> = tokio::select! {
        () = server => Ok(()),
        () = async move {
            if signalled_rx.await.is_ok() {
                tokio::time::sleep(shutdown_timeout).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => {
            tracing::warn!(?shutdown_timeout, "in-flight requests outlived the shutdown timeout; exiting");
            Ok(())
        }
    };
    // Workers stop between items; an unfinished item's lease runs out and
    // the next worker (here after a restart, or in another instance) takes it.
    let _ = stop_tx.send(true);
    for worker in workers {
        if let Err(e) = worker.await {
            tracing::error!(error = %e, "a worker panicked");
        }
    }
    served?;
    tracing::info!("vodsnap stopped");
    Ok(())
}

/// The links of snapshot images, as the flags say: plain under
/// --public-base-url; else presigned on S3; else signed links to this
/// service's own /snapshots.
fn links(
    args: &ServeArgs,
    storage: &ObjectImageStore,
    local: std::net::SocketAddr,
) -> anyhow::Result<Arc<dyn SnapshotLinks>> {
    let ttl = LinkTtl::new(args.url_ttl).context("invalid --url-ttl")?;
    if let Some(base) = &args.public_base_url {
        return Ok(Arc::new(PlainLinks::new(base)));
    }
    if let Some(presigned) = storage.presigned_links(ttl) {
        return Ok(Arc::new(presigned));
    }
    let external = args
        .external_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    let base = format!("{}/snapshots", external.trim_end_matches('/'));
    Ok(match &args.url_key {
        Some(key) => Arc::new(SignedLinks::new(&base, key, ttl).context("invalid --url-key")?),
        None => {
            tracing::warn!(
                "no --url-key: snapshot links are signed with a random key and die with this process"
            );
            Arc::new(SignedLinks::random(&base, ttl))
        }
    })
}

/// One set of figures that [`gauges`] reads: a failure to read them is
/// counted (`vodsnap_gauge_read_failures_total{figures}`) and logged as a
/// warning once, when they stop being readable, and again when they are
/// back; never silently (on Citus, a statement it refused once left the
/// gauges unpublished and nobody told).
struct Figures {
    name: &'static str,
    failing: bool,
}

impl Figures {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            failing: false,
        }
    }

    fn failed(&mut self, error: &dyn std::fmt::Display) {
        metrics::counter!("vodsnap_gauge_read_failures_total", "figures" => self.name).increment(1);
        if !self.failing {
            tracing::warn!(figures = self.name, error = %error, "figures unavailable: their gauges are not updated");
        }
        self.failing = true;
    }

    fn succeeded(&mut self) {
        if self.failing {
            tracing::info!(figures = self.name, "figures available again");
        }
        self.failing = false;
    }
}

/// Publishes the database pool's, the cleanup queue's and the webhook
/// deliveries' figures as gauges every few seconds.
async fn gauges(
    database: Option<vodsnap_adapter_postgres::PgDatabase>,
    cleanup: Arc<dyn vodsnap_ports::CleanupQueue>,
    webhooks: Arc<dyn vodsnap_ports::WebhookStore>,
    clock: Arc<dyn vodsnap_ports::Clock>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut cleanup_figures = Figures::new("cleanup");
    let mut webhook_figures = Figures::new("webhooks");
    loop {
        if let Some(database) = &database {
            let pool = database.pool();
            let size = f64::from(pool.size());
            // Kept connections are idle too, though the pool counts them
            // checked out.
            let idle = (pool.num_idle() + database.kept_idle()) as f64;
            metrics::gauge!("vodsnap_db_pool_connections", "state" => "idle").set(idle);
            metrics::gauge!("vodsnap_db_pool_connections", "state" => "in_use").set(size - idle);
            metrics::gauge!("vodsnap_db_pool_max_connections")
                .set(f64::from(pool.options().get_max_connections()));
        }
        let now = clock.now();
        match cleanup.status(now).await {
            Ok(status) => {
                let age = status
                    .oldest_enqueued_at
                    .map_or(0.0, |t| now.since(t).as_secs_f64());
                metrics::gauge!("vodsnap_cleanup_queue_depth").set(status.queued as f64);
                metrics::gauge!("vodsnap_cleanup_leased_items").set(status.leased as f64);
                metrics::gauge!("vodsnap_cleanup_parked_items").set(status.parked as f64);
                metrics::gauge!("vodsnap_cleanup_failed_attempts")
                    .set(status.failed_attempts as f64);
                metrics::gauge!("vodsnap_cleanup_oldest_item_age_seconds").set(age);
                metrics::gauge!("vodsnap_recycle_bin_objects").set(status.recycle_bin as f64);
                let drain = vodsnap_service::CleanupAdmin::drain(&status);
                metrics::gauge!("vodsnap_cleanup_drain_per_second").set(drain.per_second());
                // A stalled backlog has no end: reported as -1.
                metrics::gauge!("vodsnap_cleanup_seconds_to_drain")
                    .set(drain.time_to_drain().map_or(-1.0, |d| d.as_secs_f64()));
                cleanup_figures.succeeded();
            }
            Err(e) => cleanup_figures.failed(&e),
        }
        match vodsnap_service::record_backlog(webhooks.as_ref(), clock.as_ref()).await {
            Ok(_) => webhook_figures.succeeded(),
            Err(e) => webhook_figures.failed(&e),
        }
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// `serve` migrates a database that lacks migrations (unless
/// `--no-migrate`), and otherwise runs by the rule every command follows
/// (`backends::require_runnable`).
async fn prepare_schema(
    pool: &vodsnap_adapter_postgres::PgPool,
    url: &Secret,
    no_migrate: bool,
) -> anyhow::Result<()> {
    let state = backends::schema_state(pool).await?;
    let target = backends::target(url);
    if state.migrating_helps() && !no_migrate {
        tracing::info!(database = target, schema = ?state, "migrating the database at start-up");
        vodsnap_adapter_postgres::migrate(pool)
            .await
            .context("failed to migrate the database at start-up")?;
        // On a Citus cluster whose tables are distributed, the functions a
        // new migration added are distributed too (docs/DEPLOY.md).
        let distributed = vodsnap_adapter_postgres::citus::distribute_new_functions(pool)
            .await
            .context("failed to distribute the new functions with Citus")?;
        if !distributed.is_empty() {
            tracing::info!(
                functions = distributed.len(),
                "distributed new functions with Citus"
            );
        }
        return Ok(());
    }
    backends::require_runnable(&state, &target)
}

/// Parses `AK:SK:PROJECT[:PROJECT...]`. Errors never echo the value: it
/// holds a secret.
pub fn parse_seed_credential(raw: &Secret) -> anyhow::Result<Credential> {
    let mut parts = raw.expose().split(':');
    let (Some(ak), Some(sk)) = (parts.next(), parts.next()) else {
        anyhow::bail!("a --seed-credential must be AK:SK:PROJECT[:PROJECT...]");
    };
    if ak.is_empty() || sk.is_empty() {
        anyhow::bail!("a --seed-credential has an empty AK or SK");
    }
    let projects = parts
        .map(ProjectId::parse)
        .collect::<Result<Vec<_>, _>>()
        .context("a --seed-credential names an invalid project")?;
    if projects.is_empty() {
        anyhow::bail!("a --seed-credential must grant at least one project: AK:SK:PROJECT");
    }
    Ok(Credential::new(ak.to_owned(), Secret::new(sk), projects))
}

pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_credential_grants_every_listed_project() {
        let c = parse_seed_credential(&Secret::new("AK:SK:p1:p2")).unwrap();
        assert_eq!(c.access_key(), "AK");
        assert_eq!(c.secret_key().expose(), "SK");
        assert_eq!(c.projects().len(), 2);
    }

    #[test]
    fn malformed_seed_credentials_never_echo_the_secret() {
        for raw in [
            "AK",
            "AK:topsecret",
            ":topsecret:p",
            "AK:topsecret:bad project",
        ] {
            let error = parse_seed_credential(&Secret::new(raw)).unwrap_err();
            assert!(!format!("{error:#}").contains("topsecret"), "{raw}");
        }
    }
}
