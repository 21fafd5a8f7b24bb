//! The one place that sets up logging, traces and metrics.

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{LevelFilter, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};
use vodsnap_domain::TraceContext;

use crate::cli::LogFormat;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init(format: LogFormat) {
    if let Err(e) = install(format, None) {
        tracing::warn!(error = %e, "logging was already set up");
    }
}

/// The exporter of `--otlp-endpoint`: flushed and stopped by
/// [`Traces::shutdown`], outside the runtime (its HTTP client is a blocking
/// one, run on the batch processor's own thread).
#[must_use = "the spans still buffered are lost unless it is shut down"]
pub struct Traces(SdkTracerProvider);

impl Traces {
    /// Exports what is buffered, then stops.
    pub fn shutdown(self) {
        if let Err(e) = self.0.shutdown() {
            tracing::warn!(error = %e, "the trace exporter did not shut down cleanly");
        }
    }
}

/// [`init`], and with an OTLP endpoint (`http://collector:4318`: spans go
/// to `{endpoint}/v1/traces`, OTLP/HTTP protobuf), vodsnap's spans exported
/// there. Without one, no OpenTelemetry layer exists: the spans are plain
/// `tracing` spans, and the debug-level ones (statements, batches,
/// deliveries) are never made unless `RUST_LOG` asks for them.
pub fn init_serve(
    format: LogFormat,
    otlp_endpoint: Option<&str>,
) -> anyhow::Result<Option<Traces>> {
    let provider = match otlp_endpoint {
        None => None,
        Some(endpoint) => Some(provider(endpoint)?),
    };
    if let Err(e) = install(format, provider.as_ref()) {
        tracing::warn!(error = %e, "logging was already set up");
        return Ok(None);
    }
    if provider.is_some() {
        vodsnap_ports::trace::install(Box::new(OtelPropagation));
    }
    Ok(provider.map(Traces))
}

/// The batch exporter over OTLP/HTTP. The SDK reads its batch settings
/// from the standard variables (`OTEL_BSP_SCHEDULE_DELAY`, ...) and the
/// service name from `OTEL_SERVICE_NAME` (default `vodsnap`).
fn provider(endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(url)
        .build()
        .map_err(|e| anyhow::anyhow!("failed to build the OTLP exporter for {endpoint}: {e}"))?;
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "vodsnap".to_owned());
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(service)
                .build(),
        )
        .build())
}

/// The subscriber: the log (its own `RUST_LOG` filter) and, with a
/// provider, the span exporter, which takes vodsnap's own spans down to
/// debug level and no events (a trace carries no log line).
fn install(
    format: LogFormat,
    provider: Option<&SdkTracerProvider>,
) -> Result<(), tracing_subscriber::util::TryInitError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let log = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let log = match format {
        LogFormat::Text => log.boxed(),
        LogFormat::Json => log.json().flatten_event(true).boxed(),
    }
    .with_filter(filter);
    let traces = provider.map(|provider| {
        let spans = filter_fn(|meta| {
            meta.is_span()
                && meta.target().starts_with("vodsnap")
                && *meta.level() <= tracing::Level::DEBUG
        })
        .with_max_level_hint(LevelFilter::DEBUG);
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("vodsnap"))
            .with_filter(spans)
    });
    let result = tracing_subscriber::registry()
        .with(log)
        .with(traces)
        .try_init();
    if result.is_ok() && format == LogFormat::Json {
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
    result
}

/// W3C trace contexts through `tracing-opentelemetry`: what the service
/// and the adapters reach through `vodsnap_ports::trace`.
struct OtelPropagation;

/// The span a `traceparent` names, as a remote parent or a link.
fn span_context(trace: &TraceContext) -> Option<SpanContext> {
    let mut parts = trace.as_str().split('-').skip(1);
    let trace_id = TraceId::from_hex(parts.next()?).ok()?;
    let span_id = SpanId::from_hex(parts.next()?).ok()?;
    let flags = u8::from_str_radix(parts.next()?, 16).ok()?;
    Some(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    ))
}

impl vodsnap_ports::trace::Propagation for OtelPropagation {
    fn current(&self) -> Option<TraceContext> {
        let context = tracing::Span::current().context();
        let span = context.span();
        let span = span.span_context();
        if !span.is_valid() {
            return None;
        }
        TraceContext::parse(&format!(
            "00-{}-{}-{:02x}",
            span.trace_id(),
            span.span_id(),
            span.trace_flags().to_u8()
        ))
    }

    fn set_parent(&self, span: &tracing::Span, parent: &TraceContext) {
        if let Some(parent) = span_context(parent) {
            // Only fails for a span the exporter does not take: nothing to do.
            let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent));
        }
    }

    fn link(&self, span: &tracing::Span, other: &TraceContext) {
        if let Some(other) = span_context(other) {
            span.add_link(other);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_names_its_span() {
        let trace = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .expect("valid");
        let span = span_context(&trace).expect("a span");
        assert_eq!(
            span.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(span.span_id().to_string(), "00f067aa0ba902b7");
        assert!(span.is_sampled());
        assert!(span.is_remote());
    }
}
