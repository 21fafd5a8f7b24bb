//! AK/SK credentials in PostgreSQL, secret keys sealed at rest.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rand::Rng as _;
use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;
use vodsnap_domain::{ProjectId, Secret, Timestamp};
use vodsnap_ports::{Credential, CredentialError, CredentialStore};

use crate::cipher::{CredentialCipher, Sealed};
use crate::database::PgDatabase;
use crate::db_error::{DbError, DbResultExt as _};

/// Characters of a generated access key: upper case and digits, like the
/// access keys of Huawei Cloud.
const ACCESS_KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const ACCESS_KEY_LEN: usize = 20;
/// 40 alphanumeric characters: about 238 bits of entropy.
const SECRET_KEY_LEN: usize = 40;

/// A credential as `vodsnap credentials list` shows it: no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialInfo {
    pub access_key: String,
    pub projects: Vec<ProjectId>,
    pub created_at: Timestamp,
    pub revoked: bool,
    /// The key its secret is sealed with; after a rotation's
    /// `reencrypt_all`, every row names the current key.
    pub key_id: String,
}

/// Credentials in PostgreSQL. Cheap to clone.
#[derive(Clone)]
pub struct PgCredentialStore {
    database: PgDatabase,
    cipher: Arc<CredentialCipher>,
    cache: Arc<FindCache>,
}

impl std::fmt::Debug for PgCredentialStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCredentialStore")
            .field("cipher", &self.cipher)
            .field("find_cache_ttl", &self.cache.ttl)
            .finish_non_exhaustive()
    }
}

/// Most access keys the find cache holds; past that it starts over, so
/// that requests with random AKs cannot grow it without bound.
const CACHE_CAPACITY: usize = 10_000;

/// Recent `find` answers, found or not, for `ttl`. Every AK/SK request
/// looks its credential up; the cache saves that round trip. A revocation
/// or change made through another instance takes effect here within `ttl`;
/// one made through this instance at once.
#[derive(Default)]
#[allow(
    missing_debug_implementations,
    reason = "holds secrets; PgCredentialStore's Debug skips it"
)]
struct FindCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, (Instant, Option<Credential>)>>,
}

impl FindCache {
    fn get(&self, access_key: &str) -> Option<Option<Credential>> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        entries
            .get(access_key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, found)| found.clone())
    }

    fn put(&self, access_key: &str, found: Option<Credential>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CACHE_CAPACITY {
            entries.clear();
        }
        entries.insert(access_key.to_owned(), (Instant::now(), found));
    }

    fn forget(&self, access_key: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.remove(access_key);
    }

    fn forget_all(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.clear();
    }
}

#[derive(sqlx::FromRow)]
struct SealedRow {
    access_key: String,
    secret_ciphertext: Vec<u8>,
    nonce: Vec<u8>,
    key_id: String,
    projects: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct InfoRow {
    access_key: String,
    projects: Vec<String>,
    created_at: DateTime<Utc>,
    revoked: bool,
    key_id: String,
}

impl SealedRow {
    fn sealed(&self) -> Sealed {
        Sealed {
            key_id: self.key_id.clone(),
            nonce: self.nonce.clone(),
            ciphertext: self.secret_ciphertext.clone(),
        }
    }
}

fn parse_projects(raw: &[String]) -> Result<Vec<ProjectId>, DbError> {
    raw.iter()
        .map(|p| ProjectId::parse(p))
        .collect::<Result<Vec<_>, _>>()
        .context("failed to parse a stored project id")
        .map_err(DbError::unknown)
}

fn project_strings(projects: &[ProjectId]) -> Vec<&str> {
    projects.iter().map(ProjectId::as_str).collect()
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

impl PgCredentialStore {
    /// A store on a migrated database (a [`PgDatabase`] shared with the
    /// process's other stores, or a pool); `cipher` seals new secrets and
    /// opens stored ones.
    pub fn new(database: impl Into<PgDatabase>, cipher: CredentialCipher) -> Self {
        Self {
            database: database.into(),
            cipher: Arc::new(cipher),
            cache: Arc::new(FindCache::default()),
        }
    }

    /// Keeps `find` answers for `ttl` (zero: no cache). See [`FindCache`]
    /// for what that means for revocations made elsewhere.
    pub fn with_find_cache(mut self, ttl: Duration) -> Self {
        self.cache = Arc::new(FindCache {
            ttl,
            entries: RwLock::default(),
        });
        self
    }

    fn seal(&self, access_key: &str, secret: &Secret) -> Result<Sealed, DbError> {
        self.cipher
            .seal(access_key, secret)
            .map_err(DbError::unknown)
    }

    /// Creates a credential granted `projects`, with a random access key
    /// (20 of `A-Z 0-9`) and secret key (40 of `A-Z a-z 0-9`). The secret
    /// is returned once and never again: only its ciphertext is kept.
    pub async fn create(
        &self,
        projects: &[ProjectId],
    ) -> Result<(String, Secret), CredentialError> {
        // An access key collision is astronomically unlikely, but the
        // primary key would refuse it; a fresh key is then drawn.
        let mut attempts = 0;
        loop {
            attempts += 1;
            let access_key = random_access_key();
            let secret = random_secret_key();
            let sealed = self.seal(&access_key, &secret)?;
            let inserted = sqlx::query(
                "INSERT INTO credentials (access_key, secret_ciphertext, nonce, key_id, projects) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&access_key)
            .bind(&sealed.ciphertext)
            .bind(&sealed.nonce)
            .bind(&sealed.key_id)
            .bind(project_strings(projects))
            .execute(&mut *self.database.acquire().await?)
            .await
            .db("failed to insert a credential");
            match inserted {
                Ok(_) => return Ok((access_key, secret)),
                Err(e) if e.is_unique_violation() && attempts < 3 => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Every credential, revoked ones included, oldest first; no secrets.
    pub async fn list(&self) -> Result<Vec<CredentialInfo>, CredentialError> {
        let rows: Vec<InfoRow> = sqlx::query_as(
            "SELECT access_key, projects, created_at, revoked_at IS NOT NULL AS revoked, key_id \
             FROM credentials ORDER BY created_at, access_key",
        )
        .fetch_all(&mut *self.database.acquire().await?)
        .await
        .db("failed to list credentials")?;
        rows.into_iter()
            .map(|row| {
                Ok(CredentialInfo {
                    projects: parse_projects(&row.projects)?,
                    access_key: row.access_key,
                    created_at: Timestamp::from_micros(row.created_at.timestamp_micros()),
                    revoked: row.revoked,
                    key_id: row.key_id,
                })
            })
            .collect::<Result<Vec<_>, DbError>>()
            .map_err(CredentialError::from)
    }

    /// Revokes a credential: `find` no longer returns it, so it signs
    /// nothing from now on. Returns false if there is no active credential
    /// with this access key. Revocation is final: `upsert` of the same
    /// access key leaves it revoked (a seeded key revoked after a leak must
    /// stay revoked through restarts).
    pub async fn revoke(&self, access_key: &str) -> Result<bool, CredentialError> {
        let revoked = sqlx::query(
            "UPDATE credentials SET revoked_at = now() \
             WHERE access_key = $1 AND revoked_at IS NULL",
        )
        .bind(access_key)
        .execute(&mut *self.database.acquire().await?)
        .await
        .db("failed to revoke a credential")?
        .rows_affected();
        self.cache.forget(access_key);
        Ok(revoked == 1)
    }

    /// Re-seals every secret (revoked ones too) that is not sealed with the
    /// current key, and returns how many were. This is the middle step of
    /// a key rotation: after it, the old key can be removed from the
    /// configuration. Fails, changing nothing further, on a secret whose
    /// key is not configured.
    pub async fn reencrypt_all(&self) -> Result<usize, CredentialError> {
        let current = self.cipher.current_key_id();
        let rows: Vec<SealedRow> = sqlx::query_as(
            "SELECT access_key, secret_ciphertext, nonce, key_id, projects \
             FROM credentials WHERE key_id <> $1 ORDER BY access_key",
        )
        .bind(current)
        .fetch_all(&mut *self.database.acquire().await?)
        .await
        .db("failed to read the credentials to re-encrypt")?;
        let mut resealed = 0;
        for row in rows {
            let secret = self
                .cipher
                .open(&row.access_key, &row.sealed())
                .map_err(CredentialError::Unknown)?;
            let sealed = self.seal(&row.access_key, &secret)?;
            // Matching the old nonce leaves alone a row that a concurrent
            // upsert already replaced: its new secret must not be
            // overwritten with the old one.
            let updated = sqlx::query(
                "UPDATE credentials SET secret_ciphertext = $2, nonce = $3, key_id = $4 \
                 WHERE access_key = $1 AND key_id = $5 AND nonce = $6",
            )
            .bind(&row.access_key)
            .bind(&sealed.ciphertext)
            .bind(&sealed.nonce)
            .bind(&sealed.key_id)
            .bind(&row.key_id)
            .bind(&row.nonce)
            .execute(&mut *self.database.acquire().await?)
            .await
            .db("failed to re-encrypt a credential")?
            .rows_affected();
            resealed += usize::try_from(updated).unwrap_or(0);
        }
        self.cache.forget_all();
        Ok(resealed)
    }
}

/// An authenticated request's credential (on a cache miss). Under Citus
/// `credentials` is a reference table, so this reads the local replica.
pub(crate) const FIND: &str = "\
    SELECT access_key, secret_ciphertext, nonce, key_id, projects \
    FROM credentials WHERE access_key = $1 AND revoked_at IS NULL";

impl PgCredentialStore {
    async fn find_uncached(&self, access_key: &str) -> Result<Option<Credential>, CredentialError> {
        let mut conn = self.database.acquire().await?;
        let row: Option<SealedRow> = sqlx::query_as(FIND)
            .bind(access_key)
            .fetch_optional(&mut *conn)
            .await
            .db("failed to read a credential")?;
        conn.release();
        let Some(row) = row else {
            return Ok(None);
        };
        let secret = self
            .cipher
            .open(&row.access_key, &row.sealed())
            .map_err(CredentialError::Unknown)?;
        let projects = parse_projects(&row.projects)?;
        Ok(Some(Credential::new(row.access_key, secret, projects)))
    }
}

#[async_trait]
impl CredentialStore for PgCredentialStore {
    #[tracing::instrument(level = "debug", skip_all, fields(access_key = %access_key))]
    async fn find(&self, access_key: &str) -> Result<Option<Credential>, CredentialError> {
        if let Some(found) = self.cache.get(access_key) {
            return Ok(found);
        }
        // Boxed: the lookup's future is large, and inlined it would make
        // every call's future as large, copied on every cache hit too.
        let found = Box::pin(self.find_uncached(access_key)).await?;
        self.cache.put(access_key, found.clone());
        Ok(found)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(access_key = %credential.access_key()))]
    async fn upsert(&self, credential: Credential) -> Result<(), CredentialError> {
        if credential.access_key().is_empty() {
            return Err(CredentialError::Unknown(anyhow!(
                "a credential's access key must not be empty"
            )));
        }
        let sealed = self.seal(credential.access_key(), credential.secret_key())?;
        sqlx::query(
            "INSERT INTO credentials (access_key, secret_ciphertext, nonce, key_id, projects) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (access_key) DO UPDATE SET \
                 secret_ciphertext = EXCLUDED.secret_ciphertext, nonce = EXCLUDED.nonce, \
                 key_id = EXCLUDED.key_id, projects = EXCLUDED.projects \
             WHERE credentials.revoked_at IS NULL",
        )
        .bind(credential.access_key())
        .bind(&sealed.ciphertext)
        .bind(&sealed.nonce)
        .bind(&sealed.key_id)
        .bind(project_strings(credential.projects()))
        .execute(&mut *self.database.acquire().await?)
        .await
        .db("failed to store a credential")?;
        self.cache.forget(credential.access_key());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let ak = random_access_key();
        assert_eq!(ak.len(), 20);
        assert!(
            ak.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
        let sk = random_secret_key();
        assert_eq!(sk.expose().len(), 40);
        assert!(sk.expose().bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(random_access_key(), ak);
    }
}
