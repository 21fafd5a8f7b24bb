//! One span per statement, for traces: the statement's name (the one
//! `hot_statements` and the docs use), never its values nor its text.

/// The span of the statement `name`: debug level, so that nothing is made
/// unless a tracer (or `RUST_LOG=debug`) asks; `otel.name` makes the name
/// the exported span's name. Only inside another span (a request, a job
/// batch): the workers' polls for due work, several a second when idle,
/// would otherwise each be a trace of their own.
pub(crate) fn span(name: &'static str) -> tracing::Span {
    if tracing::Span::current().is_none() {
        return tracing::Span::none();
    }
    tracing::debug_span!(
        "statement",
        otel.name = name,
        otel.kind = "client",
        db.system.name = "postgresql",
        db.query.summary = name,
    )
}
