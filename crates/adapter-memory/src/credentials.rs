//! In-memory credentials.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use async_trait::async_trait;
use vodsnap_ports::{Credential, CredentialError, CredentialStore};

/// Credentials held in memory, keyed by access key.
#[derive(Debug, Default)]
pub struct MemoryCredentialStore {
    by_access_key: RwLock<Credentials>,
}

#[derive(Debug, Default)]
struct Credentials {
    active: HashMap<String, Credential>,
    /// Access keys revoked; revocation is final.
    revoked: HashSet<String>,
}

impl MemoryCredentialStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Revokes the credential with this access key; `false` if there is no
    /// active one. No later `upsert` brings it back.
    pub fn revoke(&self, access_key: &str) -> bool {
        let mut map = self
            .by_access_key
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if map.active.remove(access_key).is_none() {
            return false;
        }
        map.revoked.insert(access_key.to_owned())
    }
}

#[async_trait]
impl CredentialStore for MemoryCredentialStore {
    async fn find(&self, access_key: &str) -> Result<Option<Credential>, CredentialError> {
        let map = self.by_access_key.read().unwrap_or_else(|p| p.into_inner());
        Ok(map.active.get(access_key).cloned())
    }

    async fn upsert(&self, credential: Credential) -> Result<(), CredentialError> {
        let mut map = self
            .by_access_key
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if !map.revoked.contains(credential.access_key()) {
            map.active
                .insert(credential.access_key().to_owned(), credential);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;
    use vodsnap_domain::{ProjectId, Secret};

    fn credential(sk: &str) -> Credential {
        Credential::new(
            "AK".into(),
            Secret::new(sk),
            vec![ProjectId::parse("p").unwrap()],
        )
    }

    #[tokio::test]
    async fn a_revoked_credential_stays_revoked_through_upsert() {
        let store = MemoryCredentialStore::new();
        store.upsert(credential("sk1")).await.unwrap();

        assert!(store.revoke("AK"));
        store.upsert(credential("sk2")).await.unwrap();

        assert_eq!(store.find("AK").await.unwrap(), None);
        assert!(!store.revoke("AK"), "already revoked");
    }
}
