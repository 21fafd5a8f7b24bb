//! AK/SK credentials in PostgreSQL, secret keys sealed at rest.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tracing::Instrument as _;
use vodsnap_domain::{CredentialState, ProjectId, Secret, Timestamp};
use vodsnap_ports::{
    Credential, CredentialError, CredentialInfo, CredentialSealing, CredentialStore,
};

use crate::cipher::{CredentialCipher, Sealed};
use crate::database::PgDatabase;
use crate::db_error::{DbError, DbResultExt as _};
use crate::reseal::{Resealable, reseal_rows};
use crate::rows::PgQuery;
use crate::rows::{from_db_time, to_db_time};

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

impl Resealable for SealedRow {
    fn bind_key<'q>(&'q self, query: PgQuery<'q>) -> PgQuery<'q> {
        query.bind(&self.access_key)
    }

    fn held(&self) -> Sealed {
        self.sealed()
    }

    fn reseal(&self, cipher: &CredentialCipher) -> anyhow::Result<Sealed> {
        let secret = cipher.open(&self.access_key, &self.sealed())?;
        cipher.seal(&self.access_key, &secret)
    }
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
            .instrument(crate::statement::span("CREDENTIAL_FIND"))
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

    async fn state(&self, access_key: &str) -> Result<Option<CredentialState>, CredentialError> {
        let revoked: Option<bool> = sqlx::query_scalar(
            "SELECT revoked_at IS NOT NULL FROM credentials WHERE access_key = $1",
        )
        .bind(access_key)
        .fetch_optional(&mut *self.database.acquire().await?)
        .await
        .db("failed to read a credential's state")?;
        Ok(revoked.map(|revoked| {
            if revoked {
                CredentialState::Revoked
            } else {
                CredentialState::Active
            }
        }))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(access_key = %credential.access_key()))]
    async fn insert(
        &self,
        credential: &Credential,
        now: Timestamp,
    ) -> Result<bool, CredentialError> {
        let sealed = self.seal(credential.access_key(), credential.secret_key())?;
        let inserted = sqlx::query(
            "INSERT INTO credentials \
                 (access_key, secret_ciphertext, nonce, key_id, projects, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (access_key) DO NOTHING",
        )
        .bind(credential.access_key())
        .bind(&sealed.ciphertext)
        .bind(&sealed.nonce)
        .bind(&sealed.key_id)
        .bind(project_strings(credential.projects()))
        .bind(to_db_time(now)?)
        .execute(&mut *self.database.acquire().await?)
        .await
        .db("failed to insert a credential")?
        .rows_affected();
        self.cache.forget(credential.access_key());
        Ok(inserted == 1)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(access_key = %credential.access_key()))]
    async fn replace_active(&self, credential: &Credential) -> Result<bool, CredentialError> {
        let sealed = self.seal(credential.access_key(), credential.secret_key())?;
        let replaced = sqlx::query(
            "UPDATE credentials SET secret_ciphertext = $2, nonce = $3, key_id = $4, \
                 projects = $5 \
             WHERE access_key = $1 AND revoked_at IS NULL",
        )
        .bind(credential.access_key())
        .bind(&sealed.ciphertext)
        .bind(&sealed.nonce)
        .bind(&sealed.key_id)
        .bind(project_strings(credential.projects()))
        .execute(&mut *self.database.acquire().await?)
        .await
        .db("failed to replace a credential")?
        .rows_affected();
        self.cache.forget(credential.access_key());
        Ok(replaced == 1)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(access_key = %access_key))]
    async fn revoke(&self, access_key: &str, now: Timestamp) -> Result<bool, CredentialError> {
        let revoked = sqlx::query(
            "UPDATE credentials SET revoked_at = $2 \
             WHERE access_key = $1 AND revoked_at IS NULL",
        )
        .bind(access_key)
        .bind(to_db_time(now)?)
        .execute(&mut *self.database.acquire().await?)
        .await
        .db("failed to revoke a credential")?
        .rows_affected();
        self.cache.forget(access_key);
        Ok(revoked == 1)
    }

    async fn list(&self) -> Result<Vec<CredentialInfo>, CredentialError> {
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
                    created_at: from_db_time(row.created_at),
                    state: if row.revoked {
                        CredentialState::Revoked
                    } else {
                        CredentialState::Active
                    },
                    key_id: Some(row.key_id),
                })
            })
            .collect::<Result<Vec<_>, DbError>>()
            .map_err(CredentialError::from)
    }
}

#[async_trait]
impl CredentialSealing for PgCredentialStore {
    /// The middle step of a key rotation: after it, the old key can be
    /// removed from the configuration.
    async fn reseal_all(&self) -> Result<usize, CredentialError> {
        let current = self.cipher.current_key_id();
        let rows: Vec<SealedRow> = sqlx::query_as(
            "SELECT access_key, secret_ciphertext, nonce, key_id, projects \
             FROM credentials WHERE key_id <> $1 ORDER BY access_key",
        )
        .bind(current)
        .fetch_all(&mut *self.database.acquire().await?)
        .await
        .db("failed to read the credentials to re-encrypt")?;
        let resealed = reseal_rows(
            &self.database,
            &self.cipher,
            &rows,
            "UPDATE credentials SET secret_ciphertext = $2, nonce = $3, key_id = $4 \
             WHERE access_key = $1 AND key_id = $5 AND nonce = $6",
            "failed to re-encrypt a credential",
        )
        .await?;
        self.cache.forget_all();
        Ok(resealed)
    }
}
