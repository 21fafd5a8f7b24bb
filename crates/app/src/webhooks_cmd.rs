//! `vodsnap webhooks create|list|delete|deliveries|redeliver`: a project's
//! webhooks in the database, through the same use cases as the API.

use std::sync::Arc;

use anyhow::Context;
use vodsnap_adapter_postgres::PgWebhookStore;
use vodsnap_domain::{EventTypes, ProjectId, WebhookId, WebhookUrl};
use vodsnap_ports::{Actor, SystemClock, Webhook, WebhookStore};
use vodsnap_service::Webhooks;

use crate::backends;
use crate::cli::{CredentialKeyArgs, DatabaseArgs, WebhooksCommand};

async fn service(
    database: &DatabaseArgs,
    keys: Option<&CredentialKeyArgs>,
    allow_private: bool,
) -> anyhow::Result<Webhooks> {
    let pool = backends::connect_ready(database, database.database_max_connections).await?;
    // Only `create` seals a secret; the other commands never open one, so
    // they need no keys (a throwaway cipher stands in).
    let cipher = match keys {
        Some(keys) => backends::cipher(keys)?,
        None => vodsnap_adapter_postgres::CredentialCipher::new(vec![(
            "unused".to_owned(),
            rand::random(),
        )])
        .context("failed to make a throwaway cipher")?,
    };
    let store: Arc<dyn WebhookStore> = Arc::new(PgWebhookStore::new(pool, cipher));
    let sender = crate::webhooks::sender(allow_private, std::time::Duration::from_secs(10))?;
    Ok(Webhooks::new(store, sender, Arc::new(SystemClock)))
}

/// Who the audit trail says made a change from the command line.
fn operator() -> Actor {
    Actor::system("cli")
}

fn project(raw: &str) -> anyhow::Result<ProjectId> {
    ProjectId::parse(raw).context("invalid --project")
}

fn webhook_id(raw: &str) -> anyhow::Result<WebhookId> {
    WebhookId::parse(raw).context("invalid webhook id")
}

fn rfc3339(at: vodsnap_domain::Timestamp) -> String {
    chrono::DateTime::from_timestamp_micros(at.as_micros())
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default()
}

fn names(events: &EventTypes) -> Vec<&'static str> {
    events.as_slice().iter().map(|e| e.as_str()).collect()
}

/// A webhook as `create` and `list` print it: its id, URL and events, to
/// which each adds its own field (the secret, shown once; the creation
/// time).
fn shown(webhook: &Webhook) -> serde_json::Value {
    serde_json::json!({
        "id": webhook.id.as_str(),
        "url": webhook.url.as_str(),
        "events": names(&webhook.events),
    })
}

pub async fn run(command: WebhooksCommand) -> anyhow::Result<()> {
    match command {
        WebhooksCommand::Create {
            database,
            keys,
            project: p,
            url,
            events,
            allow_private_webhooks,
        } => {
            let project = project(&p)?;
            let url = WebhookUrl::parse(&url).context("invalid --url")?;
            let events = EventTypes::parse((!events.is_empty()).then_some(events.as_slice()))
                .context("invalid --event")?;
            let service = service(&database, Some(&keys), allow_private_webhooks).await?;
            let (webhook, secret) = service
                .create(&project, url, events, &operator())
                .await
                .context("failed to create the webhook")?;
            let mut shown = shown(&webhook);
            shown["secret"] = secret.expose().into();
            println!("{shown}");
            eprintln!(
                "the secret is shown this once: keep it where the receiver verifies deliveries"
            );
        }
        WebhooksCommand::List {
            database,
            project: p,
        } => {
            let project = project(&p)?;
            for webhook in service(&database, None, false)
                .await?
                .list(&project)
                .await
                .context("failed to list webhooks")?
            {
                let mut shown = shown(&webhook);
                shown["created_at"] = rfc3339(webhook.created_at).into();
                println!("{shown}");
            }
        }
        WebhooksCommand::Delete {
            database,
            project: p,
            id,
        } => {
            service(&database, None, false)
                .await?
                .remove(&project(&p)?, &webhook_id(&id)?, &operator())
                .await
                .context("failed to remove the webhook")?;
            eprintln!("webhook {id} removed");
        }
        WebhooksCommand::Deliveries {
            database,
            project: p,
            id,
            failed,
        } => {
            for d in service(&database, None, false)
                .await?
                .deliveries(&project(&p)?, &webhook_id(&id)?, failed)
                .await
                .context("failed to list deliveries")?
            {
                println!(
                    "{}",
                    serde_json::json!({
                        "id": d.id,
                        "event_id": d.event.id.as_str(),
                        "type": d.event.kind.as_str(),
                        "occurred_at": rfc3339(d.event.occurred_at),
                        "status": d.state.as_str(),
                        "attempts": d.attempts,
                        "last_error": d.last_error,
                        "updated_at": rfc3339(d.updated_at),
                    })
                );
            }
        }
        WebhooksCommand::Redeliver {
            database,
            project: p,
            id,
            delivery,
        } => {
            service(&database, None, false)
                .await?
                .redeliver(&project(&p)?, &webhook_id(&id)?, delivery)
                .await
                .context("failed to redeliver")?;
            eprintln!("delivery {delivery} is due again");
        }
    }
    Ok(())
}
