//! The `Authorization` header of a signed request, parsed and bounded.

use std::fmt;

use crate::SignatureError::{self, Malformed};
use crate::{ALGORITHM, MAX_ACCESS_KEY_LEN, MAX_AUTHORIZATION_LEN};

/// A parsed `Authorization: SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex`.
#[derive(Clone, PartialEq, Eq)]
pub struct Authorization {
    access_key: String,
    signed_headers: Vec<String>,
    signature: Vec<u8>,
}

impl fmt::Debug for Authorization {
    // The signature is not secret, but it is noise in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorization")
            .field("access_key", &self.access_key)
            .field("signed_headers", &self.signed_headers)
            .finish_non_exhaustive()
    }
}

impl Authorization {
    /// Parses the header value. The three fields may come in any order, each
    /// exactly once, separated by commas with optional spaces around them.
    pub fn parse(value: &str) -> Result<Self, SignatureError> {
        if value.len() > MAX_AUTHORIZATION_LEN {
            return Err(Malformed("the Authorization header is longer than 8 KiB"));
        }
        let (scheme, fields) = value.trim().split_once(' ').ok_or(Malformed(
            "Authorization must be 'SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=...'",
        ))?;
        if scheme != ALGORITHM {
            return Err(Malformed(
                "the Authorization scheme must be SDK-HMAC-SHA256",
            ));
        }

        let (mut access, mut signed, mut signature) = (None, None, None);
        for field in fields.split(',') {
            let (name, value) = field
                .trim_matches(' ')
                .split_once('=')
                .ok_or(Malformed("each Authorization field must be name=value"))?;
            let slot = match name {
                "Access" => &mut access,
                "SignedHeaders" => &mut signed,
                "Signature" => &mut signature,
                _ => return Err(Malformed("Authorization has an unknown field")),
            };
            if slot.replace(value).is_some() {
                return Err(Malformed("an Authorization field appears twice"));
            }
        }

        let access_key = access.ok_or(Malformed("Authorization lacks Access"))?;
        let signed = signed.ok_or(Malformed("Authorization lacks SignedHeaders"))?;
        let signature = signature.ok_or(Malformed("Authorization lacks Signature"))?;

        if access_key.is_empty()
            || access_key.len() > MAX_ACCESS_KEY_LEN
            || !access_key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(Malformed(
                "Access must be 1 to 128 printable ASCII characters",
            ));
        }
        let signed_headers = signed
            .split(';')
            .map(|name| {
                if !name.is_empty() && name.bytes().all(is_lowercase_token_byte) {
                    Ok(name.to_owned())
                } else {
                    Err(Malformed(
                        "SignedHeaders must be lower-case header names separated by ';'",
                    ))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Exactly the length of a SHA-256 HMAC: anything else cannot match, and
        // saying so early tells a client its header is broken, not its key.
        let signature = match hex::decode(signature) {
            Ok(bytes) if bytes.len() == 32 => bytes,
            _ => return Err(Malformed("Signature must be 64 hex digits")),
        };

        Ok(Self {
            access_key: access_key.to_owned(),
            signed_headers,
            signature,
        })
    }

    /// The access key (AK), used to look up the secret key.
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    /// The signed header names, lower-case, in the order they were signed.
    pub fn signed_headers(&self) -> &[String] {
        &self.signed_headers
    }

    /// The signature's bytes (the HMAC the client computed).
    pub(crate) fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Whether `name` (lower-case) is one of the signed headers.
    pub fn signs(&self, name: &str) -> bool {
        self.signed_headers.iter().any(|h| h == name)
    }
}

/// A header-name byte (RFC 9110 `tchar`), upper-case letters excluded because
/// the SDK lower-cases every signed name.
fn is_lowercase_token_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
}
