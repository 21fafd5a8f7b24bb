//! AK/SK credentials: an access key, its secret, and the projects it may use.

use async_trait::async_trait;
use vodsnap_domain::{CredentialState, ProjectId, Secret, Timestamp};

/// An access key pair and the projects it is granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    access_key: String,
    secret_key: Secret,
    projects: Vec<ProjectId>,
}

impl Credential {
    pub fn new(access_key: String, secret_key: Secret, projects: Vec<ProjectId>) -> Self {
        Self {
            access_key,
            secret_key,
            projects,
        }
    }

    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    pub fn secret_key(&self) -> &Secret {
        &self.secret_key
    }

    pub fn projects(&self) -> &[ProjectId] {
        &self.projects
    }

    pub fn is_granted(&self, project: &ProjectId) -> bool {
        self.projects.contains(project)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("the credential store is unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error(transparent)]
    Unknown(anyhow::Error),
}

/// A credential as `vodsnap credentials list` shows it: no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialInfo {
    pub access_key: String,
    pub projects: Vec<ProjectId>,
    pub created_at: Timestamp,
    pub state: CredentialState,
    /// The key its secret is sealed with (after a rotation's re-encryption,
    /// every row names the current key); `None` where secrets are not
    /// sealed (the embedded store).
    pub key_id: Option<String>,
}

/// Where credentials live. Stores read and write; what a seed or a
/// revocation means is decided by the domain ([`vodsnap_domain::SeedDecision`])
/// and the service (`CredentialAdmin`).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait CredentialStore: Send + Sync + 'static {
    /// The active credential with this access key, or `None` if there is
    /// none or it was revoked. The hot path of every AK/SK request.
    async fn find(&self, access_key: &str) -> Result<Option<Credential>, CredentialError>;

    /// Whether a credential with this access key exists, active or revoked.
    async fn state(&self, access_key: &str) -> Result<Option<CredentialState>, CredentialError>;

    /// Stores a new active credential created at `now`. Returns `false`,
    /// changing nothing, if a credential (active or revoked) already has
    /// its access key.
    async fn insert(
        &self,
        credential: &Credential,
        now: Timestamp,
    ) -> Result<bool, CredentialError>;

    /// Replaces the secret and projects of the active credential with this
    /// access key. Returns `false`, changing nothing, if there is no active
    /// one (unknown, or revoked meanwhile).
    async fn replace_active(&self, credential: &Credential) -> Result<bool, CredentialError>;

    /// Revokes the active credential with this access key at `now`: `find`
    /// no longer returns it. Returns `false` if there is no active one.
    async fn revoke(&self, access_key: &str, now: Timestamp) -> Result<bool, CredentialError>;

    /// Every credential, revoked ones included, oldest first (then by
    /// access key); no secrets.
    async fn list(&self) -> Result<Vec<CredentialInfo>, CredentialError>;
}

/// Stores that seal secrets at rest under a key that rotates.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait CredentialSealing: Send + Sync + 'static {
    /// Re-seals every secret (revoked ones too) that is not sealed with the
    /// current key; returns how many were. Fails, changing nothing further,
    /// on a secret whose key is not configured.
    async fn reseal_all(&self) -> Result<usize, CredentialError>;
}
