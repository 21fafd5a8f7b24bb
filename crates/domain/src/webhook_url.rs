//! A subscriber's URL, parsed: what may be subscribed, and what the audit
//! trail keeps of it.
//!
//! vodsnap's own service uses this module (the crate's README, "The public
//! types, for other services"): public for vodsnap's crates, with no
//! promise of stability to other services.

use std::fmt;
use std::net::IpAddr;

use crate::webhook::{MAX_URL_LEN, WebhookError};

/// A subscriber's URL: absolute `http` or `https`, with a host, without
/// user info (credentials in URLs end up in logs), at most
/// [`MAX_URL_LEN`] characters. Whether its host may be reached is a
/// separate question ([`crate::AddressPolicy`]), asked of the addresses it
/// resolves to, at creation and at every delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    url: url::Url,
}

/// A URL's host, as a delivery must resolve it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlHost {
    /// A literal address: nothing to resolve.
    Ip(IpAddr),
    /// A name to resolve.
    Domain(String),
}

impl WebhookUrl {
    pub fn parse(raw: &str) -> Result<Self, WebhookError> {
        if raw.len() > MAX_URL_LEN {
            return Err(WebhookError::BadUrl);
        }
        let url = url::Url::parse(raw).map_err(|_| WebhookError::BadUrl)?;
        if !matches!(url.scheme(), "http" | "https")
            || url.host().is_none()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(WebhookError::BadUrl);
        }
        Ok(Self { url })
    }

    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The URL as the audit trail keeps it: without its query and
    /// fragment, which may carry the receiver's own token.
    pub fn audited(&self) -> String {
        let mut url = self.url.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.to_string()
    }

    /// The host to reach.
    pub fn host(&self) -> UrlHost {
        match self.url.host() {
            Some(url::Host::Ipv4(ip)) => UrlHost::Ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => UrlHost::Ip(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) => UrlHost::Domain(name.to_owned()),
            // `parse` refuses URLs without a host.
            None => UrlHost::Domain(String::new()),
        }
    }

    /// The port to reach (the scheme's default when none is written).
    pub fn port(&self) -> u16 {
        self.url.port_or_known_default().unwrap_or(443)
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn urls_must_be_absolute_http_with_a_host_and_no_user_info() {
        for bad in [
            "",
            "example.com/hook",
            "ftp://example.com/",
            "file:///etc/passwd",
            "http://user:pw@example.com/",
            "http://user@example.com/",
            "http://",
        ] {
            assert_eq!(WebhookUrl::parse(bad), Err(WebhookError::BadUrl), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(WebhookUrl::parse(&long), Err(WebhookError::BadUrl));
        let ok = WebhookUrl::parse("https://example.com:8443/hook?x=1").unwrap();
        assert_eq!(ok.host(), UrlHost::Domain("example.com".into()));
        assert_eq!(ok.port(), 8443);
        assert_eq!(ok.audited(), "https://example.com:8443/hook");
        let v6 = WebhookUrl::parse("http://[::1]/h").unwrap();
        assert_eq!(v6.host(), UrlHost::Ip(ip("::1")));
        assert_eq!(v6.port(), 80);
    }
}
