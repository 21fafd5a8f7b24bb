//! AK/SK credentials: an access key, its secret, and the projects it may use.

use async_trait::async_trait;
use vodsnap_domain::{ProjectId, Secret};

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

/// Where credentials live.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait CredentialStore: Send + Sync + 'static {
    /// The active credential with this access key, or `None` if there is
    /// none or it was revoked.
    async fn find(&self, access_key: &str) -> Result<Option<Credential>, CredentialError>;

    /// Creates the credential, or replaces the secret and projects of the
    /// active one with the same access key. It MUST leave a revoked
    /// credential revoked and unchanged: revocation is final.
    async fn upsert(&self, credential: Credential) -> Result<(), CredentialError>;
}
