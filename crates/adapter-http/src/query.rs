//! Query strings: decoded strictly, so that nothing unexpected widens a call.

use percent_encoding::percent_decode_str;

use crate::error::ApiError;

/// Decodes `a=1&b=2` into pairs, in order. `+` stays `+` (the SDKs encode
/// spaces as `%20`); a key without `=` has an empty value; empty pieces
/// (`a=1&&b=2`) are skipped. Bytes that do not decode to UTF-8 are a 400.
pub(crate) fn pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            let key = decode(key).ok_or_else(|| {
                ApiError::bad_parameter("a query parameter name is not valid UTF-8")
            })?;
            let value = decode(value).ok_or_else(|| {
                ApiError::bad_parameter(format!("{} is not valid UTF-8", truncate(&key)))
            })?;
            Ok((key, value))
        })
        .collect()
}

fn decode(raw: &str) -> Option<String> {
    percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Picks the named parameters, each at most once; any other key is a 400.
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub(crate) fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Self, ApiError> {
        let pairs = pairs(raw)?;
        for (i, (key, _)) in pairs.iter().enumerate() {
            if !allowed.contains(&key.as_str()) {
                return Err(ApiError::bad_parameter(format!(
                    "unknown query parameter '{}': accepted are {}",
                    truncate(key),
                    allowed.join(", ")
                )));
            }
            if pairs.iter().skip(i + 1).any(|(other, _)| other == key) {
                return Err(ApiError::bad_parameter(format!(
                    "{key} may be given at most once"
                )));
            }
        }
        Ok(Self { pairs })
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// An optional integer parameter.
    pub(crate) fn integer(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.get(key)
            .map(|raw| {
                raw.parse::<i64>().map_err(|_| {
                    ApiError::bad_parameter(format!(
                        "{key} must be an integer, got '{}'",
                        truncate(raw)
                    ))
                })
            })
            .transpose()
    }
}

/// Echoes at most 64 characters of caller input in a message.
pub(crate) fn truncate(raw: &str) -> String {
    const MAX: usize = 64;
    if raw.chars().count() <= MAX {
        raw.to_owned()
    } else {
        let mut short: String = raw.chars().take(MAX).collect();
        short.push('…');
        short
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_in_order_and_keeps_repeats() {
        let p = pairs(Some("task_id=a&task_id=b%2Dc&x")).unwrap();
        assert_eq!(
            p,
            [
                ("task_id".into(), "a".into()),
                ("task_id".into(), "b-c".into()),
                ("x".into(), String::new())
            ]
        );
    }

    #[test]
    fn plus_is_not_a_space() {
        assert_eq!(pairs(Some("a=b+c")).unwrap(), [("a".into(), "b+c".into())]);
    }

    #[test]
    fn non_utf8_is_a_bad_parameter() {
        let error = pairs(Some("asset_id=%FF")).unwrap_err();
        assert_eq!(error.code, "VOD.10053");
        assert!(error.message.contains("asset_id"));
    }

    #[test]
    fn params_refuse_unknown_and_repeated_keys() {
        assert!(Params::parse(Some("offset=1&offset=2"), &["offset"]).is_err());
        assert!(Params::parse(Some("ofset=1"), &["offset"]).is_err());
        let p = Params::parse(Some("offset=5"), &["offset", "limit"]).unwrap();
        assert_eq!(p.integer("offset").unwrap(), Some(5));
        assert_eq!(p.integer("limit").unwrap(), None);
        let bad = Params::parse(Some("offset=x"), &["offset"]).unwrap();
        assert!(
            bad.integer("offset")
                .unwrap_err()
                .message
                .contains("offset")
        );
    }
}
