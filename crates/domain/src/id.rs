//! Identifiers: project, asset and task ids, 1 to 64 of `A-Z a-z 0-9 - _`.

use std::fmt;

/// Longest identifier the contract accepts.
pub const MAX_ID_LEN: usize = 64;

/// Why a string is not a valid identifier. `field` names the parameter so
/// that callers can say which one was wrong.
///
/// ```
/// use vodsnap_domain::{IdError, TaskId};
///
/// let error = TaskId::parse("").unwrap_err();
/// assert_eq!(error, IdError::Empty { field: "task_id" });
/// assert_eq!(error.field(), "task_id");
/// assert_eq!(error.to_string(), "task_id must not be empty");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is longer than {MAX_ID_LEN} characters")]
    TooLong { field: &'static str },
    #[error("{field} may contain only A-Z, a-z, 0-9, '-' and '_'")]
    BadCharacter { field: &'static str },
}

impl IdError {
    /// The parameter the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Empty { field } | Self::TooLong { field } | Self::BadCharacter { field } => field,
        }
    }
}

fn check(field: &'static str, raw: &str) -> Result<(), IdError> {
    if raw.is_empty() {
        return Err(IdError::Empty { field });
    }
    if raw.len() > MAX_ID_LEN {
        return Err(IdError::TooLong { field });
    }
    if !raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(IdError::BadCharacter { field });
    }
    Ok(())
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The parameter name this identifier travels under.
            pub const FIELD: &'static str = $field;

            /// Parses an identifier; fails with an error naming the field.
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                check($field, raw)?;
                Ok(Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

identifier!(
    /// A tenant. Every call names one in its path.
    ///
    /// ```
    /// use vodsnap_domain::ProjectId;
    ///
    /// let project = ProjectId::parse("acme_prod")?;
    /// assert_eq!(project.as_str(), "acme_prod");
    /// assert!(ProjectId::parse("acme/prod").is_err());
    /// # Ok::<(), vodsnap_domain::IdError>(())
    /// ```
    ProjectId,
    "project_id"
);
identifier!(
    /// A media asset, owned by another service; known here only by id.
    ///
    /// ```
    /// use vodsnap_domain::AssetId;
    ///
    /// let asset = AssetId::parse("movie-42")?;
    /// assert_eq!(asset.to_string(), "movie-42");
    /// assert_eq!(AssetId::FIELD, "asset_id");
    /// # Ok::<(), vodsnap_domain::IdError>(())
    /// ```
    AssetId,
    "asset_id"
);
identifier!(
    /// A processing task whose snapshot result is stored; unique in a project.
    ///
    /// ```
    /// use vodsnap_domain::TaskId;
    ///
    /// assert!(TaskId::parse("t_1").is_ok());
    /// assert!(TaskId::parse(&"t".repeat(65)).is_err()); // 64 at most
    /// ```
    TaskId,
    "task_id"
);

/// Ids for the domain's unit tests, from literals known to be valid.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::{AssetId, TaskId};

    pub(crate) fn t(raw: &str) -> TaskId {
        TaskId::parse(raw).unwrap()
    }

    pub(crate) fn a(raw: &str) -> AssetId {
        AssetId::parse(raw).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        assert_eq!(TaskId::parse("aZ09-_").unwrap().as_str(), "aZ09-_");
    }

    #[test]
    fn rejects_empty() {
        assert_eq!(
            AssetId::parse(""),
            Err(IdError::Empty { field: "asset_id" })
        );
    }

    #[test]
    fn accepts_64_and_rejects_65_characters() {
        assert!(ProjectId::parse(&"a".repeat(64)).is_ok());
        assert_eq!(
            ProjectId::parse(&"a".repeat(65)),
            Err(IdError::TooLong {
                field: "project_id"
            })
        );
    }

    #[test]
    fn rejects_other_characters() {
        for bad in ["a b", "a.b", "a/b", "é", "a\0", "a%20", "../x"] {
            assert_eq!(
                TaskId::parse(bad),
                Err(IdError::BadCharacter { field: "task_id" }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn error_names_its_field() {
        assert_eq!(AssetId::parse("").unwrap_err().field(), "asset_id");
        assert!(
            TaskId::parse("?")
                .unwrap_err()
                .to_string()
                .contains("task_id")
        );
    }

    proptest! {
        #[test]
        fn every_accepted_string_round_trips(raw in "[A-Za-z0-9_-]{1,64}") {
            let id = TaskId::parse(&raw).unwrap();
            prop_assert_eq!(id.as_str(), raw.as_str());
            prop_assert_eq!(TaskId::parse(id.as_ref()).unwrap(), id);
        }

        #[test]
        fn no_string_makes_parse_panic(raw in any::<String>()) {
            let parsed = AssetId::parse(&raw);
            if let Ok(id) = parsed {
                prop_assert_eq!(id.as_str(), raw.as_str());
            }
        }
    }
}
