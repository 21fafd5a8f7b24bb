//! Which network addresses a webhook delivery may reach: the rule against
//! server-side request forgery (SSRF), asked of every address a
//! subscriber's host resolves to, at creation and at every delivery.
//!
//! vodsnap's own service uses this module (the crate's README, "The public
//! types, for other services"): public for vodsnap's crates, with no
//! promise of stability to other services.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which addresses a delivery may connect to. By default only public
/// ones: a subscriber's URL must not turn vodsnap into a way into its own
/// network (SSRF). Tests and private deployments allow private addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddressPolicy {
    allow_private: bool,
}

impl AddressPolicy {
    /// Only public addresses.
    pub fn public_only() -> Self {
        Self {
            allow_private: false,
        }
    }

    /// Private, loopback and link-local addresses too
    /// (`--allow-private-webhooks`).
    pub fn allow_private() -> Self {
        Self {
            allow_private: true,
        }
    }

    pub fn allows_private(self) -> bool {
        self.allow_private
    }

    /// Whether a delivery may connect to `ip`. Refused unless allowed:
    /// loopback, private (RFC 1918, IPv6 unique local), link-local,
    /// shared (100.64/10), unspecified, broadcast, multicast, documentation
    /// and benchmarking ranges; an IPv4-mapped or -compatible IPv6 address
    /// is judged as its IPv4 address.
    pub fn allows(self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }

    /// The first address of `addresses` that is refused, if any: a name is
    /// refused if any of its addresses is (a delivery may use any of them).
    pub fn first_refused(self, addresses: &[IpAddr]) -> Option<IpAddr> {
        addresses.iter().copied().find(|ip| !self.allows(*ip))
    }
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Shared address space (carrier-grade NAT), 100.64.0.0/10.
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments, 192.0.0.0/24.
        || (a == 192 && b == 0 && c == 0)
        // Benchmarking, 198.18.0.0/15.
        || (a == 198 && (18..20).contains(&b))
        // Reserved, 240.0.0.0/4.
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local, fc00::/7.
        || (first & 0xfe00) == 0xfc00
        // Link-local, fe80::/10.
        || (first & 0xffc0) == 0xfe80
        // Site-local (deprecated), fec0::/10.
        || (first & 0xffc0) == 0xfec0
        // Documentation, 2001:db8::/32.
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let tail = Ipv4Addr::new(
        (s[6] >> 8) as u8,
        (s[6] & 0xff) as u8,
        (s[7] >> 8) as u8,
        (s[7] & 0xff) as u8,
    );
    if s[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_loopback() && !ip.is_unspecified() {
        return Some(tail);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn public_only_refuses_loopback_private_and_link_local_v4() {
        let policy = AddressPolicy::public_only();
        for refused in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
        ] {
            assert!(!policy.allows(ip(refused)), "{refused}");
        }
        for allowed in ["93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1"] {
            assert!(policy.allows(ip(allowed)), "{allowed}");
        }
    }

    #[test]
    fn public_only_refuses_loopback_private_and_link_local_v6_and_mapped() {
        let policy = AddressPolicy::public_only();
        for refused in [
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "ff02::1",
        ] {
            assert!(!policy.allows(ip(refused)), "{refused}");
        }
        for allowed in ["2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(policy.allows(ip(allowed)), "{allowed}");
        }
    }

    #[test]
    fn allow_private_allows_everything() {
        let policy = AddressPolicy::allow_private();
        assert!(policy.allows(ip("127.0.0.1")));
        assert!(policy.allows(ip("::1")));
        assert_eq!(policy.first_refused(&[ip("10.0.0.1")]), None);
    }

    #[test]
    fn a_name_is_refused_if_any_of_its_addresses_is() {
        let policy = AddressPolicy::public_only();
        assert_eq!(
            policy.first_refused(&[ip("8.8.8.8"), ip("10.0.0.1")]),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(policy.first_refused(&[ip("8.8.8.8")]), None);
    }
}
