//! Credential administration: `vodsnap credentials ...` and the seeding at
//! start-up, on whichever store holds the credentials.

use std::sync::Arc;

use anyhow::anyhow;
use rand::Rng as _;
use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;
use vodsnap_domain::{ProjectId, Secret, SeedDecision};
use vodsnap_ports::{
    Clock, Credential, CredentialError, CredentialInfo, CredentialSealing, CredentialStore,
};

/// Characters of a generated access key: upper case and digits, like the
/// access keys of Huawei Cloud.
const ACCESS_KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
pub const ACCESS_KEY_LEN: usize = 20;
/// 40 alphanumeric characters: about 238 bits of entropy.
pub const SECRET_KEY_LEN: usize = 40;
/// A write that finds the access key changed since it was read (another
/// instance seeding or revoking it at the same moment) reads and decides
/// again, this many times in all.
const ATTEMPTS: usize = 3;

/// Creates, seeds, revokes and lists credentials. Cheap to clone.
#[derive(Clone)]
pub struct CredentialAdmin {
    store: Arc<dyn CredentialStore>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for CredentialAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialAdmin").finish_non_exhaustive()
    }
}

impl CredentialAdmin {
    pub fn new(store: Arc<dyn CredentialStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Creates a credential granted `projects`, with a random access key
    /// (20 of `A-Z 0-9`) and secret key (40 of `A-Z a-z 0-9`). The secret
    /// is returned once; a store may keep only its ciphertext.
    pub async fn create(
        &self,
        projects: Vec<ProjectId>,
    ) -> Result<(String, Secret), CredentialError> {
        // An access key collision is astronomically unlikely; a fresh key
        // is then drawn.
        for _ in 0..ATTEMPTS {
            let credential =
                Credential::new(random_access_key(), random_secret_key(), projects.clone());
            if self.store.insert(&credential, self.clock.now()).await? {
                return Ok((
                    credential.access_key().to_owned(),
                    credential.secret_key().clone(),
                ));
            }
        }
        Err(CredentialError::Unknown(anyhow!(
            "{ATTEMPTS} random access keys in a row were taken"
        )))
    }

    /// Seeds a configured credential as the domain decides
    /// ([`SeedDecision`]): creates it, replaces the secret and projects of
    /// the active one, or leaves a revoked one revoked. Returns what it did.
    pub async fn seed(&self, credential: Credential) -> Result<SeedDecision, CredentialError> {
        if credential.access_key().is_empty() {
            return Err(CredentialError::Unknown(anyhow!(
                "a credential's access key must not be empty"
            )));
        }
        for _ in 0..ATTEMPTS {
            let existing = self.store.state(credential.access_key()).await?;
            let decision = SeedDecision::for_existing(existing);
            let done = match decision {
                SeedDecision::Create => self.store.insert(&credential, self.clock.now()).await?,
                SeedDecision::Replace => self.store.replace_active(&credential).await?,
                SeedDecision::KeepRevoked => true,
            };
            if done {
                return Ok(decision);
            }
        }
        Err(CredentialError::Unknown(anyhow!(
            "the credential changed under {ATTEMPTS} seeding attempts in a row"
        )))
    }

    /// Revokes the active credential with this access key; `false` if
    /// there is none. Final: no later seed brings it back.
    pub async fn revoke(&self, access_key: &str) -> Result<bool, CredentialError> {
        self.store.revoke(access_key, self.clock.now()).await
    }

    /// Every credential, revoked ones included, oldest first; no secrets.
    pub async fn list(&self) -> Result<Vec<CredentialInfo>, CredentialError> {
        self.store.list().await
    }
}

/// The middle step of a key rotation: re-seal every secret with the
/// current key, after which the old key can leave the configuration.
#[derive(Clone)]
pub struct KeyRotation {
    sealing: Arc<dyn CredentialSealing>,
}

impl std::fmt::Debug for KeyRotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRotation").finish_non_exhaustive()
    }
}

impl KeyRotation {
    pub fn new(sealing: Arc<dyn CredentialSealing>) -> Self {
        Self { sealing }
    }

    /// How many secrets were re-sealed.
    pub async fn reencrypt(&self) -> Result<usize, CredentialError> {
        self.sealing.reseal_all().await
    }
}

fn random_access_key() -> String {
    (0..ACCESS_KEY_LEN)
        .map(|_| char::from(ACCESS_KEY_ALPHABET[OsRng.gen_range(0..ACCESS_KEY_ALPHABET.len())]))
        .collect()
}

fn random_secret_key() -> Secret {
    Secret::new(
        OsRng
            .sample_iter(&Alphanumeric)
            .take(SECRET_KEY_LEN)
            .map(char::from)
            .collect::<String>(),
    )
}
