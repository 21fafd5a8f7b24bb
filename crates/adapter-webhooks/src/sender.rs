//! [`WebhookSender`] on reqwest.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use vodsnap_domain::{AddressPolicy, Event, Secret, Timestamp, UrlHost, WebhookUrl};
use vodsnap_ports::{CheckUrlError, SendError, WebhookSender};

use crate::{body, signature};

/// The W3C Trace Context header a traced delivery carries.
pub const TRACEPARENT: &str = "traceparent";

/// The sender's limits.
#[derive(Debug, Clone, Copy)]
pub struct SenderSettings {
    pub policy: AddressPolicy,
    /// Connecting (TCP and TLS).
    pub connect_timeout: Duration,
    /// A whole attempt, the answer included.
    pub timeout: Duration,
}

impl Default for SenderSettings {
    fn default() -> Self {
        Self {
            policy: AddressPolicy::public_only(),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
        }
    }
}

/// An address the policy refuses, raised from inside the resolver so that
/// the connection never starts.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {ip}, which webhooks may not reach")]
struct RefusedAddress {
    host: String,
    ip: IpAddr,
}

/// The client's resolver: the system's, then the policy on every address.
#[derive(Debug)]
struct GuardedResolver {
    policy: AddressPolicy,
}

async fn resolve(host: &str, policy: AddressPolicy) -> Result<Vec<SocketAddr>, ResolveError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|_| ResolveError::Unresolvable)?
        .collect();
    if addrs.is_empty() {
        return Err(ResolveError::Unresolvable);
    }
    let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
    match policy.first_refused(&ips) {
        Some(ip) => Err(ResolveError::Refused(RefusedAddress {
            host: host.to_owned(),
            ip,
        })),
        None => Ok(addrs),
    }
}

#[derive(Debug, thiserror::Error)]
enum ResolveError {
    #[error("the host does not resolve")]
    Unresolvable,
    #[error(transparent)]
    Refused(RefusedAddress),
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve(&host, policy).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Sends deliveries over HTTP(S). Cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpWebhookSender {
    client: reqwest::Client,
    policy: AddressPolicy,
}

impl HttpWebhookSender {
    pub fn new(settings: SenderSettings) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: settings.policy,
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .user_agent(concat!("vodsnap-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            policy: settings.policy,
        })
    }

    fn refused_literal(&self, url: &WebhookUrl) -> Option<IpAddr> {
        match url.host() {
            UrlHost::Ip(ip) if !self.policy.allows(ip) => Some(ip),
            _ => None,
        }
    }
}

/// Whether a reqwest error was the resolver refusing an address.
fn refusal(error: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(r) = e.downcast_ref::<RefusedAddress>() {
            return Some(r.to_string());
        }
        if let Some(ResolveError::Refused(r)) = e.downcast_ref::<ResolveError>() {
            return Some(r.to_string());
        }
        source = e.source();
    }
    None
}

/// A reqwest error's cause chain on one line, without the URL (it may
/// carry a receiver's token in its query).
fn network_error(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn check(&self, url: &WebhookUrl) -> Result<(), CheckUrlError> {
        match url.host() {
            UrlHost::Ip(ip) if !self.policy.allows(ip) => {
                Err(CheckUrlError::Refused(ip.to_string()))
            }
            UrlHost::Ip(_) => Ok(()),
            UrlHost::Domain(name) => match resolve(&name, self.policy).await {
                Ok(_) => Ok(()),
                Err(ResolveError::Unresolvable) => Err(CheckUrlError::Unresolvable),
                Err(ResolveError::Refused(r)) => Err(CheckUrlError::Refused(r.ip.to_string())),
            },
        }
    }

    async fn send(
        &self,
        url: &WebhookUrl,
        event: &Event,
        secret: &Secret,
        now: Timestamp,
    ) -> Result<(), SendError> {
        if let Some(ip) = self.refused_literal(url) {
            return Err(SendError::Refused(format!(
                "{ip}, which webhooks may not reach"
            )));
        }
        let body = body::render(event);
        let header = signature::sign(secret.expose(), now.as_secs(), &body);
        let mut request = self
            .client
            .post(url.as_str())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(signature::HEADER, header)
            .header("X-Vodsnap-Event", event.kind.as_str())
            .header("X-Vodsnap-Event-Id", event.id.as_str());
        // The delivery's span (W3C Trace Context), when traced: the
        // receiver's spans continue the trace of the change.
        if let Some(trace) = vodsnap_ports::trace::current() {
            request = request.header(TRACEPARENT, trace.as_str());
        }
        let answer = request.body(body).send().await;
        match answer {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(SendError::Status(response.status().as_u16())),
            Err(error) => match refusal(&error) {
                Some(refused) => Err(SendError::Refused(refused)),
                None => Err(SendError::Network(network_error(error))),
            },
        }
    }
}
