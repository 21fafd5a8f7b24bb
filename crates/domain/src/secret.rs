//! A wrapper that keeps secrets (SKs, token keys, tokens) out of `Debug` output.

use std::fmt;

/// A secret string. `Debug` and `Display` print `[redacted]`; read it with
/// [`Secret::expose`], only where the secret is used.
///
/// ```
/// use vodsnap_domain::Secret;
///
/// let sk = Secret::new("s3cr3t");
/// assert_eq!(format!("{sk:?} {sk}"), "Secret([redacted]) [redacted]");
/// assert_eq!(sk.expose(), "s3cr3t");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }
}
