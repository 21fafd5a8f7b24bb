//! `vodsnap migrate` and `vodsnap credentials ...`: database administration.

use std::sync::Arc;

use anyhow::Context;

use crate::report::WithHint as _;
use vodsnap_adapter_postgres::{CredentialCipher, PgCredentialStore, citus};
use vodsnap_domain::{CredentialState, ProjectId};
use vodsnap_ports::SystemClock;
use vodsnap_service::{CredentialAdmin, KeyRotation};

use crate::backends;
use crate::cli::{CredentialKeyArgs, CredentialsCommand, DatabaseArgs, MigrateArgs};

pub async fn migrate(args: &MigrateArgs) -> anyhow::Result<()> {
    let pool = backends::connect(&args.database.database_url, 2).await?;
    if args.dry_run {
        if citus::citus_version(&pool).await?.is_none() {
            eprintln!(
                "the citus extension is not installed here; after `CREATE EXTENSION citus`, \
                 `vodsnap migrate --citus` would run:"
            );
        }
        for statement in citus::pending(&pool).await? {
            println!("{statement};");
        }
        return Ok(());
    }
    // Checked first, so that a missing extension changes nothing.
    if args.citus && citus::citus_version(&pool).await?.is_none() {
        return Err(citus::citus_missing());
    }
    let target = backends::target(&args.database.database_url);
    let state = backends::schema_state(&pool).await?;
    if state.migrating_helps() {
        vodsnap_adapter_postgres::migrate(&pool)
            .await
            .context("failed to migrate the database")?;
        println!("the database schema is up to date");
    } else {
        // Current, or ahead of this binary (nothing it could apply), or
        // broken in a way migrating does not mend.
        backends::require_runnable(&state, &target)?;
        println!("the database schema is up to date");
    }
    if args.citus {
        let ran = citus::distribute(&pool)
            .await
            .context("failed to distribute the tables with Citus")?;
        for statement in &ran {
            println!("{statement};");
        }
        println!(
            "the tables are distributed by project_id ({} statement(s) run now)",
            ran.len()
        );
    }
    Ok(())
}

async fn open(
    database: &DatabaseArgs,
    keys: &CredentialKeyArgs,
) -> anyhow::Result<PgCredentialStore> {
    let cipher = backends::cipher(keys)?;
    let pool = backends::connect_ready(database, 2).await?;
    Ok(PgCredentialStore::new(pool, cipher))
}

fn admin(store: PgCredentialStore) -> CredentialAdmin {
    CredentialAdmin::new(Arc::new(store), Arc::new(SystemClock))
}

pub async fn run(command: CredentialsCommand) -> anyhow::Result<()> {
    match command {
        CredentialsCommand::Create {
            database,
            keys,
            projects,
        } => {
            let projects = projects
                .iter()
                .map(|p| ProjectId::parse(p))
                .collect::<Result<Vec<_>, _>>()
                .context("invalid --project")?;
            let admin = admin(open(&database, &keys).await?);
            let (access_key, secret_key) = admin
                .create(projects)
                .await
                .context("failed to create the credential")?;
            // Shown once: the database keeps only the encrypted SK.
            println!("AK={access_key}");
            println!("SK={}", secret_key.expose());
        }
        CredentialsCommand::List { database, keys } => {
            let admin = admin(open(&database, &keys).await?);
            for c in admin.list().await.context("failed to list credentials")? {
                let projects: Vec<&str> = c.projects.iter().map(ProjectId::as_str).collect();
                println!(
                    "{}\t{}\t{}",
                    c.access_key,
                    match c.state {
                        CredentialState::Active => "active",
                        CredentialState::Revoked => "revoked",
                    },
                    projects.join(",")
                );
            }
        }
        CredentialsCommand::Revoke {
            database,
            keys,
            access_key,
        } => {
            let admin = admin(open(&database, &keys).await?);
            if admin
                .revoke(&access_key)
                .await
                .context("failed to revoke")?
            {
                println!("revoked {access_key}");
            } else {
                anyhow::bail!("no active credential with AK {access_key}");
            }
        }
        CredentialsCommand::Reencrypt { database, keys } => {
            let rotation = KeyRotation::new(Arc::new(open(&database, &keys).await?));
            let n = rotation.reencrypt().await.hint(
                "failed to re-encrypt credentials",
                "--credential-keys (VODSNAP_CREDENTIAL_KEYS) must hold the new key first and \
                     every key that sealed a stored secret after it",
            )?;
            println!("re-encrypted {n} credential(s) with the current key");
            let webhooks = vodsnap_adapter_postgres::PgWebhookStore::new(
                backends::connect_ready(&database, database.database_max_connections).await?,
                backends::cipher(&keys)?,
            );
            let n = webhooks
                .reencrypt_all()
                .await
                .context("failed to re-encrypt webhook secrets")?;
            println!("re-encrypted {n} webhook secret(s) with the current key");
        }
        CredentialsCommand::Keygen { id } => {
            println!("{}", CredentialCipher::generate_spec(&id)?.expose());
        }
    }
    Ok(())
}
