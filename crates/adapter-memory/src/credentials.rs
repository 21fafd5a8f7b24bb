//! In-memory credentials.

use std::collections::HashMap;
use std::sync::RwLock;

use async_trait::async_trait;
use vodsnap_ports::{Credential, CredentialError, CredentialStore};

/// Credentials held in memory, keyed by access key.
#[derive(Debug, Default)]
pub struct MemoryCredentialStore {
    by_access_key: RwLock<HashMap<String, Credential>>,
}

impl MemoryCredentialStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl CredentialStore for MemoryCredentialStore {
    async fn find(&self, access_key: &str) -> Result<Option<Credential>, CredentialError> {
        let map = self.by_access_key.read().unwrap_or_else(|p| p.into_inner());
        Ok(map.get(access_key).cloned())
    }

    async fn upsert(&self, credential: Credential) -> Result<(), CredentialError> {
        let mut map = self
            .by_access_key
            .write()
            .unwrap_or_else(|p| p.into_inner());
        map.insert(credential.access_key().to_owned(), credential);
        Ok(())
    }
}
