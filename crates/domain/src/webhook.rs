//! Webhooks: a subscription's id, and why a webhook (or an event name it
//! asks for) is refused.
//!
//! The rest of the webhooks' rules have modules of their own: the events
//! ([`crate::event`]), a subscriber's URL ([`crate::webhook_url`]), which
//! addresses a delivery may reach ([`crate::address_policy`]), a
//! delivery's state ([`crate::delivery`]) and when a finished event leaves
//! the outbox ([`crate::outbox_pruning`]).
//!
//! vodsnap's own service uses this module (the crate's README, "The public
//! types, for other services"): public for vodsnap's crates, with no
//! promise of stability to other services.

use std::fmt;

/// Longest webhook URL.
pub const MAX_URL_LEN: usize = 2048;

/// Why a webhook or an event name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error(
        "url must be an absolute http or https URL with a host, at most {MAX_URL_LEN} characters, without user info"
    )]
    BadUrl,
    #[error("unknown event '{0}'")]
    UnknownEvent(String),
    #[error("events must name at least one event")]
    NoEvents,
    #[error("malformed webhook id")]
    BadId,
}

/// `raw`, cut to a length an error message may echo.
pub(crate) fn truncate(raw: &str) -> String {
    raw.chars().take(64).collect()
}

/// A webhook's id: `wh_` and 24 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WebhookId(String);

/// Whether `raw` is `prefix` and `digits` lower-case hex digits.
pub(crate) fn hex_id(prefix: &str, digits: usize, raw: &str) -> bool {
    raw.strip_prefix(prefix).is_some_and(|hex| {
        hex.len() == digits
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

impl WebhookId {
    /// A new id from 96 random bits.
    pub fn from_random(bits: u128) -> Self {
        Self(format!("wh_{:024x}", bits & ((1u128 << 96) - 1)))
    }

    pub fn parse(raw: &str) -> Result<Self, WebhookError> {
        if hex_id("wh_", 24, raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(WebhookError::BadId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WebhookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_refuse_anything_else() {
        let w = WebhookId::from_random(u128::MAX);
        assert_eq!(WebhookId::parse(w.as_str()).unwrap(), w);
        assert_eq!(w.as_str().len(), 27);
        for bad in ["", "wh_", "wh_XYZ", "evt_00", "wh_00000000000000000000000g"] {
            assert!(WebhookId::parse(bad).is_err(), "{bad}");
        }
    }
}
