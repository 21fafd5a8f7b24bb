//! The webhook sender: renders an event as its JSON body, signs it, and
//! POSTs it with reqwest, connecting only to addresses the domain's
//! [`AddressPolicy`](vodsnap_domain::AddressPolicy) allows.
//!
//! The policy is applied to the addresses resolved for each attempt, inside
//! the client's own resolver, so a name that resolved to a public address
//! at creation and to a private one now is refused now (DNS rebinding). A
//! literal IP in the URL is checked before sending. Redirects are not
//! followed and no proxy is used: either would reach an address the policy
//! never saw.
//!
//! [`signature`] is also what a Rust receiver uses to verify a delivery.

pub mod body;
mod sender;
pub mod signature;

pub use sender::{HttpWebhookSender, SenderSettings};
