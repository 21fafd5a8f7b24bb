//! The webhook delivery workers of `vodsnap serve` (their settings from
//! the command line) and the sender they use. The use case itself is
//! `vodsnap_service::webhooks`.

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;
use vodsnap_adapter_webhooks::{HttpWebhookSender, SenderSettings};
use vodsnap_domain::{AddressPolicy, RetryPolicy};
use vodsnap_ports::{Clock, WebhookSender, WebhookStore};
use vodsnap_service::{Deliverer, DeliverySettings};

use crate::cli::WebhookArgs;

/// The HTTP sender, with the address policy the flags choose.
pub fn sender(
    allow_private: bool,
    timeout: std::time::Duration,
) -> anyhow::Result<Arc<dyn WebhookSender>> {
    let policy = if allow_private {
        tracing::warn!(
            "--allow-private-webhooks: webhooks may reach loopback, private and link-local addresses"
        );
        AddressPolicy::allow_private()
    } else {
        AddressPolicy::public_only()
    };
    let sender = HttpWebhookSender::new(SenderSettings {
        policy,
        connect_timeout: timeout.min(std::time::Duration::from_secs(5)),
        timeout,
    })
    .context("failed to build the webhook HTTP client")?;
    Ok(Arc::new(sender))
}

/// The workers' settings from the command line.
pub fn settings(args: &WebhookArgs) -> anyhow::Result<DeliverySettings> {
    let policy = RetryPolicy::new(
        args.webhook_retry_base,
        args.webhook_retry_max,
        args.webhook_max_attempts,
    )
    .map_err(|e| anyhow::anyhow!("invalid webhook retry settings: {e}"))?;
    if args.webhook_lease <= args.webhook_timeout {
        anyhow::bail!("--webhook-lease must be longer than --webhook-timeout");
    }
    Ok(DeliverySettings {
        policy,
        lease: args.webhook_lease,
        idle: args.webhook_idle,
        event_retention: args.webhook_event_retention,
        ..DeliverySettings::default()
    })
}

/// Starts `--webhook-workers` workers that stop when `stop` turns true.
pub fn spawn_workers(
    args: &WebhookArgs,
    store: Arc<dyn WebhookStore>,
    sender: Arc<dyn WebhookSender>,
    clock: Arc<dyn Clock>,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let settings = settings(args)?;
    Ok((0..args.webhook_workers)
        .map(|i| {
            let worker = Deliverer::new(
                format!("{}:webhooks", crate::cleanup::worker_name(i)),
                store.clone(),
                sender.clone(),
                clock.clone(),
                settings.clone(),
            );
            tokio::spawn(worker.run(stop.clone()))
        })
        .collect())
}
