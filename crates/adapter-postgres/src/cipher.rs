//! Encryption of secret keys at rest, with named keys so they can be rotated.
//!
//! A secret key must stay usable for HMAC, so it cannot be hashed like a
//! password; it is sealed with an AEAD instead. The cipher is
//! XChaCha20-Poly1305 (`chacha20poly1305` crate, RustCrypto): it is
//! constant-time in portable software, so it needs no AES hardware on
//! whatever CPU runs the server, and its 192-bit nonces can be drawn at
//! random for every seal with no risk of a repeat, so no nonce counter has
//! to be kept consistent across processes.

use std::collections::HashSet;
use std::fmt;

use anyhow::anyhow;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use vodsnap_domain::Secret;

/// Bytes in a key.
pub const KEY_LEN: usize = 32;
/// Longest key id.
pub const MAX_KEY_ID_LEN: usize = 32;

/// Standard base64, with or without the trailing `=`, since both are
/// common output of key generators.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Binds a ciphertext to its row: a sealed secret copied onto another
/// access key does not open.
fn associated_data(access_key: &str) -> Vec<u8> {
    [b"vodsnap-credential-v1:".as_slice(), access_key.as_bytes()].concat()
}

/// Binds a webhook's sealed signing secret to its row, apart from the
/// credentials' (another prefix), so that neither opens as the other.
fn webhook_data(project: &str, webhook: &str) -> Vec<u8> {
    [
        b"vodsnap-webhook-v1:".as_slice(),
        project.as_bytes(),
        b":",
        webhook.as_bytes(),
    ]
    .concat()
}

/// Why a key specification is refused. The messages never contain key
/// material, only positions and key ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherKeyError {
    #[error("no credential key given: at least one ID:BASE64 key is required")]
    NoKeys,
    #[error("credential key #{0} must have the form ID:BASE64")]
    Malformed(usize),
    #[error(
        "credential key #{0}: the id must be 1 to {MAX_KEY_ID_LEN} of A-Z, a-z, 0-9, '-' and '_'"
    )]
    BadId(usize),
    #[error("credential key '{0}': the key must be {KEY_LEN} bytes in standard base64")]
    BadKey(String),
    #[error("credential key id '{0}' is given more than once")]
    DuplicateId(String),
}

/// A secret key as stored: the id of the key that sealed it, the nonce and
/// the ciphertext (with its tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sealed {
    pub(crate) key_id: String,
    pub(crate) nonce: Vec<u8>,
    pub(crate) ciphertext: Vec<u8>,
}

/// Seals and opens secret keys with one or more named 32-byte keys.
///
/// Keys are configured as `ID:BASE64` strings: an id of 1 to 32 of
/// `A-Z a-z 0-9 - _`, a colon, and 32 random bytes in standard base64
/// (e.g. `k2:$(openssl rand -base64 32)`); several are separated by commas
/// in [`CredentialCipher::from_spec_list`]. The first key is current: new
/// secrets are sealed with it. Every listed key opens what it sealed.
///
/// To rotate: put a new key first and keep the old one after it; run
/// `PgCredentialStore::reencrypt_all`; then remove the old key.
///
/// `Debug` shows key ids only, never key bytes.
#[derive(Clone)]
pub struct CredentialCipher {
    /// In configuration order; the first is current. Never empty.
    keys: Vec<(String, XChaCha20Poly1305)>,
}

impl fmt::Debug for CredentialCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialCipher")
            .field("key_ids", &self.key_ids().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl CredentialCipher {
    /// A cipher from `(id, key)` pairs, the current key first.
    pub fn new(keys: Vec<(String, [u8; KEY_LEN])>) -> Result<Self, CipherKeyError> {
        if keys.is_empty() {
            return Err(CipherKeyError::NoKeys);
        }
        let mut seen = HashSet::with_capacity(keys.len());
        let mut ciphers = Vec::with_capacity(keys.len());
        for (position, (id, key)) in keys.into_iter().enumerate() {
            if !valid_key_id(&id) {
                return Err(CipherKeyError::BadId(position + 1));
            }
            if !seen.insert(id.clone()) {
                return Err(CipherKeyError::DuplicateId(id));
            }
            ciphers.push((id, XChaCha20Poly1305::new(Key::from_slice(&key))));
        }
        Ok(Self { keys: ciphers })
    }

    /// A cipher from `ID:BASE64` strings, the current key first.
    pub fn from_specs<S: AsRef<str>>(specs: &[S]) -> Result<Self, CipherKeyError> {
        let keys = specs
            .iter()
            .enumerate()
            .map(|(i, spec)| parse_spec(i + 1, spec.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys)
    }

    /// A cipher from one string of comma-separated `ID:BASE64` keys, as an
    /// environment variable holds them.
    pub fn from_spec_list(list: &str) -> Result<Self, CipherKeyError> {
        let specs: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        Self::from_specs(&specs)
    }

    /// A new random key as an `ID:BASE64` string, for operators who want
    /// one without openssl.
    pub fn generate_spec(id: &str) -> Result<Secret, CipherKeyError> {
        if !valid_key_id(id) {
            return Err(CipherKeyError::BadId(1));
        }
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        Ok(Secret::new(format!("{id}:{}", BASE64.encode(key))))
    }

    /// The id of the key new secrets are sealed with.
    pub fn current_key_id(&self) -> &str {
        self.keys.first().map_or("", |(id, _)| id.as_str())
    }

    /// Every configured key id, current first.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(id, _)| id.as_str())
    }

    /// Seals `secret` for the row of `access_key` with the current key.
    pub(crate) fn seal(&self, access_key: &str, secret: &Secret) -> anyhow::Result<Sealed> {
        self.seal_bound(&associated_data(access_key), access_key, secret)
    }

    /// Opens a secret sealed for the row of `access_key`. Fails if its key
    /// is not configured (dropped too early in a rotation) or if the row
    /// was tampered with.
    pub(crate) fn open(&self, access_key: &str, sealed: &Sealed) -> anyhow::Result<Secret> {
        self.open_bound(&associated_data(access_key), access_key, sealed)
    }

    /// Seals a webhook's signing secret, bound to its project and id.
    pub(crate) fn seal_webhook(
        &self,
        project: &str,
        webhook: &str,
        secret: &Secret,
    ) -> anyhow::Result<Sealed> {
        self.seal_bound(&webhook_data(project, webhook), webhook, secret)
    }

    /// Opens a webhook's signing secret sealed by [`Self::seal_webhook`].
    pub(crate) fn open_webhook(
        &self,
        project: &str,
        webhook: &str,
        sealed: &Sealed,
    ) -> anyhow::Result<Secret> {
        self.open_bound(&webhook_data(project, webhook), webhook, sealed)
    }

    /// Seals `secret` with the current key, bound to `aad`; `owner` names
    /// the row in errors.
    fn seal_bound(&self, aad: &[u8], owner: &str, secret: &Secret) -> anyhow::Result<Sealed> {
        let (key_id, cipher) = self
            .keys
            .first()
            .ok_or_else(|| anyhow!("the credential cipher has no key"))?;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: secret.expose().as_bytes(),
                    aad,
                },
            )
            .map_err(|_| anyhow!("failed to seal the secret key of {owner}"))?;
        Ok(Sealed {
            key_id: key_id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    fn open_bound(&self, aad: &[u8], owner: &str, sealed: &Sealed) -> anyhow::Result<Secret> {
        let cipher = self
            .keys
            .iter()
            .find(|(id, _)| *id == sealed.key_id)
            .map(|(_, cipher)| cipher)
            .ok_or_else(|| {
                anyhow!(
                    "the secret key of {owner} is sealed with key '{}', which is not configured",
                    sealed.key_id
                )
            })?;
        if sealed.nonce.len() != 24 {
            return Err(anyhow!(
                "the secret key of {owner} has a nonce of {} bytes, not 24",
                sealed.nonce.len()
            ));
        }
        let plain = cipher
            .decrypt(
                XNonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad,
                },
            )
            .map_err(|_| {
                anyhow!(
                    "the secret key of {owner} does not open with key '{}'",
                    sealed.key_id
                )
            })?;
        let text = String::from_utf8(plain)
            .map_err(|_| anyhow!("the secret key of {owner} is not UTF-8"))?;
        Ok(Secret::new(text))
    }
}

fn valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn parse_spec(position: usize, spec: &str) -> Result<(String, [u8; KEY_LEN]), CipherKeyError> {
    let (id, encoded) = spec
        .split_once(':')
        .ok_or(CipherKeyError::Malformed(position))?;
    if !valid_key_id(id) {
        return Err(CipherKeyError::BadId(position));
    }
    let bytes = BASE64
        .decode(encoded.trim())
        .map_err(|_| CipherKeyError::BadKey(id.to_owned()))?;
    let key = <[u8; KEY_LEN]>::try_from(bytes.as_slice())
        .map_err(|_| CipherKeyError::BadKey(id.to_owned()))?;
    Ok((id.to_owned(), key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: &str, byte: u8) -> String {
        format!("{id}:{}", BASE64.encode([byte; KEY_LEN]))
    }

    #[test]
    fn seals_and_opens() {
        let cipher = CredentialCipher::from_specs(&[spec("k1", 1)]).unwrap();
        let sealed = cipher.seal("AK", &Secret::new("sk-value")).unwrap();
        assert_eq!(sealed.key_id, "k1");
        assert_eq!(cipher.open("AK", &sealed).unwrap().expose(), "sk-value");
    }

    #[test]
    fn a_ciphertext_does_not_open_for_another_access_key() {
        let cipher = CredentialCipher::from_specs(&[spec("k1", 1)]).unwrap();
        let sealed = cipher.seal("AK1", &Secret::new("sk")).unwrap();
        assert!(cipher.open("AK2", &sealed).is_err());
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let cipher = CredentialCipher::from_specs(&[spec("k1", 1)]).unwrap();
        let a = cipher.seal("AK", &Secret::new("sk")).unwrap();
        let b = cipher.seal("AK", &Secret::new("sk")).unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn the_first_key_seals_and_every_key_opens() {
        let old = CredentialCipher::from_specs(&[spec("k1", 1)]).unwrap();
        let sealed_old = old.seal("AK", &Secret::new("sk")).unwrap();
        let both =
            CredentialCipher::from_spec_list(&format!("{},{}", spec("k2", 2), spec("k1", 1)))
                .unwrap();
        assert_eq!(both.current_key_id(), "k2");
        assert_eq!(both.open("AK", &sealed_old).unwrap().expose(), "sk");
        assert_eq!(both.seal("AK", &Secret::new("sk")).unwrap().key_id, "k2");
        let new_only = CredentialCipher::from_specs(&[spec("k2", 2)]).unwrap();
        let err = new_only.open("AK", &sealed_old).unwrap_err().to_string();
        assert!(err.contains("'k1', which is not configured"), "{err}");
    }

    #[test]
    fn bad_specs_are_refused_without_echoing_key_material() {
        assert_eq!(
            CredentialCipher::from_specs::<&str>(&[]).unwrap_err(),
            CipherKeyError::NoKeys
        );
        assert_eq!(
            CredentialCipher::from_specs(&["no-colon"]).unwrap_err(),
            CipherKeyError::Malformed(1)
        );
        assert_eq!(
            CredentialCipher::from_specs(&[spec("k1", 1), spec("bad id", 2)]).unwrap_err(),
            CipherKeyError::BadId(2)
        );
        let short = format!("k1:{}", BASE64.encode([7u8; 16]));
        let err = CredentialCipher::from_specs(&[short.as_str()]).unwrap_err();
        assert_eq!(err, CipherKeyError::BadKey("k1".into()));
        assert!(!err.to_string().contains(&BASE64.encode([7u8; 16])));
        assert_eq!(
            CredentialCipher::from_specs(&[spec("k1", 1), spec("k1", 2)]).unwrap_err(),
            CipherKeyError::DuplicateId("k1".into())
        );
    }

    #[test]
    fn unpadded_base64_is_accepted() {
        let unpadded = spec("k1", 3).trim_end_matches('=').to_owned();
        assert!(CredentialCipher::from_specs(&[unpadded]).is_ok());
    }

    #[test]
    fn debug_shows_ids_not_keys() {
        let s = spec("k1", 9);
        let cipher = CredentialCipher::from_specs(&[s.as_str()]).unwrap();
        let shown = format!("{cipher:?}");
        assert!(shown.contains("k1"));
        assert!(!shown.contains(s.trim_start_matches("k1:")));
    }

    #[test]
    fn generated_specs_parse() {
        let generated = CredentialCipher::generate_spec("k9").unwrap();
        let cipher = CredentialCipher::from_specs(&[generated.expose()]).unwrap();
        assert_eq!(cipher.current_key_id(), "k9");
    }
}
