//! Tokens for `X-Auth-Token`: project-scoped, expiring, unforgeable.

use std::time::Duration;

use vodsnap_domain::{ProjectId, Secret, Timestamp};

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub project: ProjectId,
    /// Who the token was issued to, for audit; never the token itself.
    pub subject: String,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
}

/// Issues and checks tokens with a key that only the servers hold.
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait TokenAuthority: Send + Sync + 'static {
    /// A token for `project`, valid from `now` for `ttl`.
    fn issue(&self, project: &ProjectId, subject: &str, ttl: Duration, now: Timestamp) -> Secret;

    /// The claims of a token this authority (or one with the same key)
    /// issued.
    ///
    /// - MUST return `Expired` once `now` is past the expiry.
    /// - MUST return `BadSignature` for any token not signed with the key,
    ///   comparing in constant time.
    fn verify(&self, token: &str, now: Timestamp) -> Result<TokenClaims, TokenError>;
}
