//! In-memory credentials.

use std::collections::HashMap;
use std::sync::RwLock;

use async_trait::async_trait;
use vodsnap_domain::{CredentialState, Timestamp};
use vodsnap_ports::{Credential, CredentialError, CredentialInfo, CredentialStore};

/// Credentials held in memory, keyed by access key.
#[derive(Debug, Default)]
pub struct MemoryCredentialStore {
    by_access_key: RwLock<HashMap<String, Held>>,
}

#[derive(Debug)]
struct Held {
    credential: Credential,
    created_at: Timestamp,
    revoked: bool,
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
        Ok(map
            .get(access_key)
            .filter(|held| !held.revoked)
            .map(|held| held.credential.clone()))
    }

    async fn state(&self, access_key: &str) -> Result<Option<CredentialState>, CredentialError> {
        let map = self.by_access_key.read().unwrap_or_else(|p| p.into_inner());
        Ok(map.get(access_key).map(|held| {
            if held.revoked {
                CredentialState::Revoked
            } else {
                CredentialState::Active
            }
        }))
    }

    async fn insert(
        &self,
        credential: &Credential,
        now: Timestamp,
    ) -> Result<bool, CredentialError> {
        let mut map = self
            .by_access_key
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if map.contains_key(credential.access_key()) {
            return Ok(false);
        }
        map.insert(
            credential.access_key().to_owned(),
            Held {
                credential: credential.clone(),
                created_at: now,
                revoked: false,
            },
        );
        Ok(true)
    }

    async fn replace_active(&self, credential: &Credential) -> Result<bool, CredentialError> {
        let mut map = self
            .by_access_key
            .write()
            .unwrap_or_else(|p| p.into_inner());
        match map.get_mut(credential.access_key()) {
            Some(held) if !held.revoked => {
                held.credential = credential.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn revoke(&self, access_key: &str, _now: Timestamp) -> Result<bool, CredentialError> {
        let mut map = self
            .by_access_key
            .write()
            .unwrap_or_else(|p| p.into_inner());
        match map.get_mut(access_key) {
            Some(held) if !held.revoked => {
                held.revoked = true;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn list(&self) -> Result<Vec<CredentialInfo>, CredentialError> {
        let map = self.by_access_key.read().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<CredentialInfo> = map
            .values()
            .map(|held| CredentialInfo {
                access_key: held.credential.access_key().to_owned(),
                projects: held.credential.projects().to_vec(),
                created_at: held.created_at,
                state: if held.revoked {
                    CredentialState::Revoked
                } else {
                    CredentialState::Active
                },
                key_id: None,
            })
            .collect();
        all.sort_by(|a, b| (a.created_at, &a.access_key).cmp(&(b.created_at, &b.access_key)));
        Ok(all)
    }
}
