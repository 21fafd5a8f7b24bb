//! Trace propagation: the seam between the spans the service and the
//! adapters open (plain `tracing` spans) and the tracer that exports them,
//! which only `app` knows (OpenTelemetry, with `--otlp-endpoint`).
//!
//! The tracer is process-wide, as `tracing`'s subscriber is: `app`
//! installs one [`Propagation`] at start-up, and the functions below ask
//! it. Without one (the default: no `--otlp-endpoint`) they do nothing and
//! cost one atomic load: no trace context is read, made or stored.

use std::sync::OnceLock;

use vodsnap_domain::TraceContext;

/// What the tracer does with W3C trace contexts.
pub trait Propagation: Send + Sync + 'static {
    /// The `traceparent` of the current span, if it is being traced.
    fn current(&self) -> Option<TraceContext>;

    /// Makes `parent` (a remote span: a client's, or the request that
    /// queued the work) the parent of `span`. MUST be called before `span`
    /// is first entered.
    fn set_parent(&self, span: &tracing::Span, parent: &TraceContext);

    /// Links `span` to `other` (a cause that is not its parent: one of the
    /// requests whose work a batch does).
    fn link(&self, span: &tracing::Span, other: &TraceContext);
}

static PROPAGATION: OnceLock<Box<dyn Propagation>> = OnceLock::new();

/// Installs the process's tracer; the first call wins (`false` after).
pub fn install(propagation: Box<dyn Propagation>) -> bool {
    PROPAGATION.set(propagation).is_ok()
}

/// The `traceparent` of the current span (`None` without a tracer).
pub fn current() -> Option<TraceContext> {
    PROPAGATION.get()?.current()
}

/// See [`Propagation::set_parent`]; nothing without a tracer.
pub fn set_parent(span: &tracing::Span, parent: &TraceContext) {
    if let Some(propagation) = PROPAGATION.get() {
        propagation.set_parent(span, parent);
    }
}

/// See [`Propagation::link`]; nothing without a tracer.
pub fn link(span: &tracing::Span, other: &TraceContext) {
    if let Some(propagation) = PROPAGATION.get() {
        propagation.link(span, other);
    }
}

/// Whether a tracer is installed: callers skip building what only a
/// tracer would read.
pub fn is_on() -> bool {
    PROPAGATION.get().is_some()
}
