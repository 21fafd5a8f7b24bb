//! Instants, as whole microseconds since the Unix epoch (UTC).

/// An instant. Microseconds keep the order of registrations that arrive in
/// the same millisecond, and fit PostgreSQL's `timestamptz` exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub const fn as_micros(self) -> i64 {
        self.0
    }

    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }
}
