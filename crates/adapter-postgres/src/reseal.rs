//! Key rotation's middle step, once for every sealed secret (credentials'
//! SKs, webhooks' signing secrets): each row sealed with an older key is
//! opened and sealed again with the current one.

use crate::cipher::{CredentialCipher, Sealed};
use crate::database::PgDatabase;
use crate::db_error::{DbError, DbResultExt as _};
use crate::rows::PgQuery;

/// A row whose secret is sealed.
pub(crate) trait Resealable {
    /// Binds the row's key: the update statement's first parameters.
    fn bind_key<'q>(&'q self, query: PgQuery<'q>) -> PgQuery<'q>;

    /// The secret as the row holds it.
    fn held(&self) -> Sealed;

    /// The secret opened with its key and sealed with the current one.
    fn reseal(&self, cipher: &CredentialCipher) -> anyhow::Result<Sealed>;
}

/// Reseals `rows` one by one with `update`: the row's key, then the new
/// ciphertext, nonce and key id, then the old key id and nonce. Matching the
/// old nonce leaves alone a row that a concurrent change already replaced:
/// its new secret is not overwritten with the old one. Answers how many
/// rows were resealed.
pub(crate) async fn reseal_rows<R: Resealable>(
    database: &PgDatabase,
    cipher: &CredentialCipher,
    rows: &[R],
    update: &'static str,
    failed: &'static str,
) -> Result<usize, DbError> {
    let mut resealed = 0;
    for row in rows {
        let new = row.reseal(cipher).map_err(DbError::unknown)?;
        let old = row.held();
        let updated = row
            .bind_key(sqlx::query(update))
            .bind(&new.ciphertext)
            .bind(&new.nonce)
            .bind(&new.key_id)
            .bind(&old.key_id)
            .bind(&old.nonce)
            .execute(&mut *database.acquire().await?)
            .await
            .db(failed)?
            .rows_affected();
        resealed += usize::try_from(updated).unwrap_or(0);
    }
    Ok(resealed)
}
