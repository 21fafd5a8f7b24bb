//! The trace a piece of work belongs to, carried opaquely: the W3C
//! `traceparent` of the request that caused it, stored with the work that
//! request queued (cleanup items, webhook events), so that the background
//! spans that do the work later are tied to the request's trace.
//!
//! The domain knows no tracer: this is a checked string, nothing more.

/// A W3C `traceparent` (`00-{32 hex trace id}-{16 hex span id}-{2 hex
/// flags}`), lower-case, neither id all zeros. Anything else is not a trace
/// context (the W3C rule: an invalid `traceparent` is ignored).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TraceContext(String);

/// The length of a version-00 `traceparent`.
const LEN: usize = 55;

impl TraceContext {
    /// The context in `raw`, if it is a version-00 `traceparent`.
    pub fn parse(raw: &str) -> Option<Self> {
        let parts: Vec<&str> = raw.split('-').collect();
        let [version, trace, span, flags] = parts.as_slice() else {
            return None;
        };
        let hex = |s: &str, len: usize| {
            s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        let zeros = |s: &str| s.bytes().all(|b| b == b'0');
        let valid = raw.len() == LEN
            && *version == "00"
            && hex(trace, 32)
            && !zeros(trace)
            && hex(span, 16)
            && !zeros(span)
            && hex(flags, 2);
        valid.then(|| Self(raw.to_owned()))
    }

    /// The `traceparent` value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The trace id (32 hex digits).
    pub fn trace_id(&self) -> &str {
        &self.0[3..35]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_w3c_traceparent_is_a_context() {
        let context = TraceContext::parse(VALID).expect("valid");
        assert_eq!(context.as_str(), VALID);
        assert_eq!(context.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn other_versions_and_shapes_are_not() {
        for raw in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
        ] {
            assert_eq!(TraceContext::parse(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn all_zero_ids_are_not() {
        assert_eq!(
            TraceContext::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(
            TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),
            None
        );
    }
}
