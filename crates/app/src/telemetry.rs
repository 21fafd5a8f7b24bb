//! The one place that sets up logging.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "logging was already set up");
    }
    if format == LogFormat::Json {
        // A panic's message becomes an event too, so that a log shipper
        // parses every line.
        std::panic::set_hook(Box::new(|info| {
            let location = info.location().map(ToString::to_string);
            let payload = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(panic = %payload, location = ?location, "a thread panicked");
        }));
    }
}

/// How often the recorder's upkeep runs (the exporter's own default).
pub const METRICS_UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// Installs the Prometheus recorder and starts its upkeep on a timer; the
/// returned function renders the metrics for `/metrics`.
///
/// The recorder keeps every histogram sample until upkeep (or a render)
/// folds it into its buckets; without a timer, memory grows with traffic
/// for as long as nobody scrapes. Must be called inside the runtime.
pub fn metrics() -> anyhow::Result<std::sync::Arc<dyn Fn() -> String + Send + Sync>> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".to_owned()),
            &[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ],
        )
        .map_err(|e| anyhow::anyhow!("invalid histogram buckets: {e}"))?
        .install_recorder()
        .map_err(|e| anyhow::anyhow!("failed to install the metrics recorder: {e}"))?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(METRICS_UPKEEP);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(std::sync::Arc::new(move || handle.render()))
}
