//! Demo data for the embedded store, so a newcomer can call the API at once.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use vodsnap_domain::{
    AssetId, NewTaskResult, ObjectKey, ProjectId, Secret, Snapshot, TaskId, ThumbnailPara,
    ThumbnailParaInput,
};
use vodsnap_ports::{Actor, Clock, ImageStore, SystemClock, TokenAuthority};
use vodsnap_service::{CredentialAdmin, Snapshots};

pub const DEMO_PROJECT: &str = "demo_project";
pub const DEMO_ASSET: &str = "demo_asset";

/// What a newcomer needs to call the demo: printed as text, or logged as
/// one event with these fields under `--log-format json`.
#[derive(Debug)]
pub struct Demo {
    pub base: String,
    pub access_key: String,
    /// The demo credential's SK: random per process and only in memory,
    /// shown so that the newcomer can sign requests.
    pub secret_key: Secret,
    pub token: Secret,
}

impl Demo {
    /// Logs the demo as one event, for `--log-format json`.
    pub fn log(&self) {
        tracing::info!(
            address = %self.base,
            store = "embedded",
            project = DEMO_PROJECT,
            asset = DEMO_ASSET,
            access_key = %self.access_key,
            secret_key = %self.secret_key.expose(),
            token = %self.token.expose(),
            console = %self.console_link(),
            "vodsnap is running on {} with the EMBEDDED store: nothing is kept after it stops",
            self.base
        );
    }

    /// The console, signed in: the project and token ride in the URL
    /// fragment, which a browser never sends to a server, so they reach no
    /// access log; the console moves them to session storage at once.
    pub fn console_link(&self) -> String {
        format!(
            "{}/console#project={DEMO_PROJECT}&token={}",
            self.base,
            self.token.expose()
        )
    }

    /// The banner, for people.
    pub fn banner(&self) -> String {
        let Self {
            base,
            access_key: ak,
            secret_key: sk,
            token,
        } = self;
        let mut banner = String::new();
        let _ = writeln!(
            banner,
            "vodsnap is running on {base} with the EMBEDDED store: nothing is kept after it stops."
        );
        let _ = writeln!(
            banner,
            "demo project:  {DEMO_PROJECT}   (asset {DEMO_ASSET}, tasks demo_task_1..3)"
        );
        let _ = writeln!(banner, "demo AK/SK:    {ak} / {}", sk.expose());
        let _ = writeln!(banner, "demo token:    {} (12 hours)", token.expose());
        let _ = writeln!(
            banner,
            "list:   curl -s -H 'X-Auth-Token: {}' '{base}/v1/{DEMO_PROJECT}/asset/thumbnails?asset_id={DEMO_ASSET}'",
            token.expose()
        );
        let _ = writeln!(
            banner,
            "delete: curl -s -X DELETE -H 'X-Auth-Token: {}' '{base}/v1/{DEMO_PROJECT}/asset/thumbnails?asset_id={DEMO_ASSET}&task_id=demo_task_1'",
            token.expose()
        );
        let _ = writeln!(banner, "console: {}", self.console_link());
        let _ = write!(
            banner,
            "python: see README.md (VodClient with BasicCredentials(AK, SK, '{DEMO_PROJECT}'), endpoint {base})"
        );
        banner
    }
}

/// Registers three demo task results of five snapshots each, creates a
/// random demo credential, and returns what to tell the newcomer.
pub async fn seed(
    service: &Snapshots,
    credentials: &CredentialAdmin,
    images: &dyn ImageStore,
    tokens: &dyn TokenAuthority,
    local: SocketAddr,
) -> anyhow::Result<Demo> {
    let project = ProjectId::parse(DEMO_PROJECT).context("demo project id")?;
    let asset = AssetId::parse(DEMO_ASSET).context("demo asset id")?;
    for n in 1..=3 {
        let task = TaskId::parse(&format!("demo_task_{n}")).context("demo task id")?;
        let para = ThumbnailPara::parse(ThumbnailParaInput {
            kind: Some("time".into()),
            time: Some(10),
            ..ThumbnailParaInput::default()
        })
        .context("demo thumbnail_para")?;
        let snapshots = (0..5)
            .map(|i| {
                let key = ObjectKey::parse(&format!("{project}/{asset}/{task}/{i}.png"))
                    .context("demo object key")?;
                Snapshot::new(i * 10, key).context("demo snapshot")
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        // Real files, so that a newcomer's delete removes real files; each
        // shows its offset, so the console shows which snapshot is which.
        for snapshot in &snapshots {
            images
                .put(
                    snapshot.object_key(),
                    crate::demo_image::snapshot_png(n, snapshot.offset()),
                )
                .await
                .context("failed to write a demo image")?;
        }
        let new = NewTaskResult::new(project.clone(), asset.clone(), task, para, snapshots)
            .context("demo task result")?;
        service
            .register(new, &Actor::system("demo"))
            .await
            .context("failed to register demo data")?;
    }

    let (ak, sk) = credentials
        .create(vec![project.clone()])
        .await
        .context("failed to create the demo credential")?;
    let token = tokens.issue(
        &project,
        "demo",
        Duration::from_secs(12 * 3600),
        SystemClock.now(),
    );

    Ok(Demo {
        base: format!("http://{local}"),
        access_key: ak,
        secret_key: sk,
        token,
    })
}
