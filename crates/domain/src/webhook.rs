//! Webhooks: the events vodsnap sends to subscribers, the subscriptions'
//! URLs, and the rule on which network addresses a delivery may reach.
//!
//! Events are decided here (what a registration or a delete emits) and
//! written by the stores in the same atomic step as their change (an
//! outbox); delivery workers send them later, at least once.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::id::{AssetId, ProjectId, TaskId};
use crate::time::Timestamp;

/// The kinds of events, as their wire names say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// A task result was registered (not sent for a repeated registration).
    Registered,
    /// A delete call tombstoned task results (one event per call).
    Deleted,
    /// A deleted task result was restored from the recycle bin.
    Restored,
    /// A task result's objects are gone for good.
    Purged,
}

impl EventType {
    /// Every kind, in wire order.
    pub const ALL: [EventType; 4] = [
        EventType::Registered,
        EventType::Deleted,
        EventType::Restored,
        EventType::Purged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "thumbnails.registered",
            Self::Deleted => "thumbnails.deleted",
            Self::Restored => "thumbnails.restored",
            Self::Purged => "thumbnails.purged",
        }
    }

    /// The kind with this wire name.
    pub fn parse(raw: &str) -> Result<Self, WebhookError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == raw)
            .ok_or_else(|| WebhookError::UnknownEvent(truncate(raw)))
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The events a subscription asks for: at least one, each once, in wire
/// order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypes(Vec<EventType>);

impl EventTypes {
    /// Every event (a subscription that names none).
    pub fn all() -> Self {
        Self(EventType::ALL.to_vec())
    }

    /// The named events; `None` means all of them. Duplicates collapse;
    /// an empty list or an unknown name is refused.
    pub fn parse<S: AsRef<str>>(names: Option<&[S]>) -> Result<Self, WebhookError> {
        let Some(names) = names else {
            return Ok(Self::all());
        };
        let mut kinds = names
            .iter()
            .map(|n| EventType::parse(n.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if kinds.is_empty() {
            return Err(WebhookError::NoEvents);
        }
        kinds.sort();
        kinds.dedup();
        Ok(Self(kinds))
    }

    pub fn contains(&self, kind: EventType) -> bool {
        self.0.contains(&kind)
    }

    pub fn as_slice(&self) -> &[EventType] {
        &self.0
    }
}

/// Why a webhook or an event name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error(
        "url must be an absolute http or https URL with a host, at most {MAX_URL_LEN} characters, without user info"
    )]
    BadUrl,
    #[error("unknown event '{0}'")]
    UnknownEvent(String),
    #[error("events must name at least one event")]
    NoEvents,
    #[error("malformed webhook id")]
    BadId,
}

fn truncate(raw: &str) -> String {
    raw.chars().take(64).collect()
}

/// Longest webhook URL.
pub const MAX_URL_LEN: usize = 2048;

/// A subscriber's URL: absolute `http` or `https`, with a host, without
/// user info (credentials in URLs end up in logs), at most
/// [`MAX_URL_LEN`] characters. Whether its host may be reached is a
/// separate question ([`AddressPolicy`]), asked of the addresses it
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

/// A webhook's id: `wh_` and 24 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WebhookId(String);

/// An event's id: `evt_` and 32 lower-case hex digits; receivers dedupe
/// deliveries by it (a retried or redelivered event keeps its id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(String);

fn hex_id(prefix: &str, digits: usize, raw: &str) -> bool {
    raw.strip_prefix(prefix).is_some_and(|hex| {
        hex.len() == digits
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

impl WebhookId {
    /// A new id from 96 random bits.
    pub fn from_random(bits: u128) -> Self {
        Self(format!("wh_{:024x}", bits & ((1u128 << 96) - 1)))
    }

    pub fn parse(raw: &str) -> Result<Self, WebhookError> {
        if hex_id("wh_", 24, raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(WebhookError::BadId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl EventId {
    /// A new id from 128 random bits.
    pub fn from_random(bits: u128) -> Self {
        Self(format!("evt_{bits:032x}"))
    }

    pub fn parse(raw: &str) -> Result<Self, WebhookError> {
        if hex_id("evt_", 32, raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(WebhookError::BadId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WebhookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A task an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTask {
    pub task: TaskId,
    pub asset: AssetId,
}

/// One event, as written to the outbox and delivered: its data is the
/// selection's asset (`None` for a delete by task ids alone) and the tasks
/// it is about, each with its own asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: EventId,
    pub kind: EventType,
    pub project: ProjectId,
    pub occurred_at: Timestamp,
    pub asset: Option<AssetId>,
    pub tasks: Vec<EventTask>,
}

impl Event {
    /// One task's event (registered, restored, purged).
    pub fn of_task(
        id: EventId,
        kind: EventType,
        project: ProjectId,
        asset: AssetId,
        task: TaskId,
        at: Timestamp,
    ) -> Self {
        Self {
            id,
            kind,
            project,
            occurred_at: at,
            asset: Some(asset.clone()),
            tasks: vec![EventTask { task, asset }],
        }
    }

    /// The `thumbnails.restored` event of one restore call: the tasks it
    /// brought back from the recycle bin, each with its asset, or `None`
    /// when it brought none back (every task already live, unknown, or past
    /// its window). A restore names tasks, not an asset: `asset` is `None`.
    pub fn of_restore(
        id: EventId,
        project: ProjectId,
        restored: Vec<EventTask>,
        at: Timestamp,
    ) -> Option<Self> {
        Self::of_tasks(id, EventType::Restored, project, restored, at)
    }

    /// The `thumbnails.purged` event of one completion of cleanup items in
    /// one project: the deleted tasks whose last queued object it
    /// completed (removed, or kept because still referenced), so that none
    /// of their objects is left to remove; `None` when it finished no task.
    /// One event per completed batch and project, not per task: the
    /// cleanup's cost stays a constant number of statements per batch.
    pub fn of_purge(
        id: EventId,
        project: ProjectId,
        purged: Vec<EventTask>,
        at: Timestamp,
    ) -> Option<Self> {
        Self::of_tasks(id, EventType::Purged, project, purged, at)
    }

    fn of_tasks(
        id: EventId,
        kind: EventType,
        project: ProjectId,
        tasks: Vec<EventTask>,
        at: Timestamp,
    ) -> Option<Self> {
        if tasks.is_empty() {
            return None;
        }
        Some(Self {
            id,
            kind,
            project,
            occurred_at: at,
            asset: None,
            tasks,
        })
    }

    /// The event of one delete call: the tasks it tombstoned, or `None`
    /// when it tombstoned none (every task already deleted, unknown or of
    /// another asset): a call that changed nothing sends nothing.
    pub fn of_delete(
        id: EventId,
        project: ProjectId,
        selected_asset: Option<AssetId>,
        tombstoned: Vec<EventTask>,
        at: Timestamp,
    ) -> Option<Self> {
        if tombstoned.is_empty() {
            return None;
        }
        Some(Self {
            id,
            kind: EventType::Deleted,
            project,
            occurred_at: at,
            asset: selected_asset,
            tasks: tombstoned,
        })
    }
}

/// Where one delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not sent yet, or due for a retry after a failure.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Every attempt failed; waits for a redelivery.
    Parked,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Parked => "parked",
        }
    }
}

/// How long an event stays in the outbox once it is finished, by default
/// (`serve --webhook-event-retention`).
pub const DEFAULT_EVENT_RETENTION: Duration = Duration::from_secs(7 * 86_400);

/// The most events one prune removes: the outbox is trimmed a bounded
/// amount at a time, whatever its size.
pub const PRUNE_BATCH: u32 = 1_000;

/// The time before which an event must have finished to be pruned at
/// `now` with `retention`.
pub fn prune_cutoff(now: Timestamp, retention: Duration) -> Timestamp {
    let micros = i64::try_from(retention.as_micros()).unwrap_or(i64::MAX);
    Timestamp::from_micros(now.as_micros().saturating_sub(micros))
}

/// Whether an event may leave the outbox (with its deliveries): none of
/// its deliveries is pending, and each was delivered or parked before
/// `cutoff` (a parked one stays redeliverable for the retention, then
/// goes, so that the outbox does not grow for ever). An event left without
/// deliveries (its webhooks were removed before delivering it) goes once
/// it occurred before `cutoff`. `deliveries` are each delivery's state and
/// `updated_at` (when it was delivered or parked).
pub fn is_prunable(
    occurred_at: Timestamp,
    deliveries: impl IntoIterator<Item = (DeliveryState, Timestamp)>,
    cutoff: Timestamp,
) -> bool {
    occurred_at < cutoff
        && deliveries
            .into_iter()
            .all(|(state, at)| state != DeliveryState::Pending && at < cutoff)
}

/// Whether a receiver's answer counts as delivered: any 2xx.
pub fn is_delivered(status: u16) -> bool {
    (200..300).contains(&status)
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

    #[test]
    fn events_default_to_all_refuse_unknown_and_empty_and_dedupe() {
        assert_eq!(EventTypes::parse::<&str>(None).unwrap(), EventTypes::all());
        assert_eq!(
            EventTypes::parse(Some(&["thumbnails.nope"])),
            Err(WebhookError::UnknownEvent("thumbnails.nope".into()))
        );
        assert_eq!(
            EventTypes::parse::<&str>(Some(&[])),
            Err(WebhookError::NoEvents)
        );
        let two = EventTypes::parse(Some(&[
            "thumbnails.deleted",
            "thumbnails.registered",
            "thumbnails.deleted",
        ]))
        .unwrap();
        assert_eq!(two.as_slice(), [EventType::Registered, EventType::Deleted]);
    }

    #[test]
    fn ids_round_trip_and_refuse_anything_else() {
        let w = WebhookId::from_random(u128::MAX);
        assert_eq!(WebhookId::parse(w.as_str()).unwrap(), w);
        assert_eq!(w.as_str().len(), 27);
        let e = EventId::from_random(7);
        assert_eq!(EventId::parse(e.as_str()).unwrap(), e);
        for bad in ["", "wh_", "wh_XYZ", "evt_00", "wh_00000000000000000000000g"] {
            assert!(WebhookId::parse(bad).is_err(), "{bad}");
            assert!(EventId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_delete_that_tombstoned_nothing_sends_nothing() {
        let p = ProjectId::parse("p").unwrap();
        let at = Timestamp::from_micros(0);
        assert_eq!(
            Event::of_delete(EventId::from_random(1), p.clone(), None, vec![], at),
            None
        );
        let task = EventTask {
            task: TaskId::parse("t").unwrap(),
            asset: AssetId::parse("a").unwrap(),
        };
        let event = Event::of_delete(EventId::from_random(1), p, None, vec![task], at).unwrap();
        assert_eq!(event.kind, EventType::Deleted);
    }

    #[test]
    fn a_restore_or_purge_that_changed_nothing_sends_nothing() {
        let p = ProjectId::parse("p").unwrap();
        let at = Timestamp::from_micros(5);
        assert_eq!(
            Event::of_restore(EventId::from_random(1), p.clone(), vec![], at),
            None
        );
        assert_eq!(
            Event::of_purge(EventId::from_random(1), p.clone(), vec![], at),
            None
        );
        let task = EventTask {
            task: TaskId::parse("t").unwrap(),
            asset: AssetId::parse("a").unwrap(),
        };
        let restored =
            Event::of_restore(EventId::from_random(2), p.clone(), vec![task.clone()], at).unwrap();
        assert_eq!(
            (restored.kind, restored.asset.as_ref(), restored.occurred_at),
            (EventType::Restored, None, at)
        );
        let purged = Event::of_purge(EventId::from_random(3), p, vec![task.clone()], at).unwrap();
        assert_eq!((purged.kind, purged.tasks), (EventType::Purged, vec![task]));
    }

    #[test]
    fn an_event_is_pruned_once_every_delivery_finished_before_the_cutoff() {
        let t = Timestamp::from_micros;
        let cutoff = prune_cutoff(t(10_000_000), Duration::from_secs(4));
        assert_eq!(cutoff, t(6_000_000));
        let delivered = DeliveryState::Delivered;
        let parked = DeliveryState::Parked;
        assert!(is_prunable(
            t(1),
            [(delivered, t(2)), (parked, t(3))],
            cutoff
        ));
        // Finished, but not long enough ago.
        assert!(!is_prunable(
            t(1),
            [(delivered, t(2)), (parked, cutoff)],
            cutoff
        ));
        // Anything pending stays, however old.
        assert!(!is_prunable(t(1), [(DeliveryState::Pending, t(2))], cutoff));
        // No delivery left: goes by its own age.
        assert!(is_prunable(t(1), [], cutoff));
        assert!(!is_prunable(cutoff, [], cutoff));
    }

    #[test]
    fn only_2xx_is_delivered() {
        assert!(is_delivered(200) && is_delivered(204) && is_delivered(299));
        assert!(!is_delivered(199) && !is_delivered(301) && !is_delivered(500));
    }
}
