//! The Node SDK's conformance suite: `node --test` in `tests/conformance-node`
//! (Huawei's `@huaweicloud/huaweicloud-sdk-core` `HcClient` with the VOD
//! request definitions) against a real `vodsnap serve` that this module
//! starts, once per store in [`conformance::CONFORMANCE_STORES`], after the
//! Python suite.
//!
//! The npm packages come from the lock file (`npm ci`); without `node` or
//! `npm` the step is reported "Node SDK: not run" (a failure in CI, where
//! `.ci/run` installs Debian's `nodejs` and `npm`).

use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use vodsnap_server_process::ServerProcess;
use vodsnap_server_process::scratch::ScratchDatabase;

use crate::conformance;
use crate::proc::{self, Env};
use crate::workspace::Workspace;

/// The step's name in the summary ("Node SDK: not run" when it cannot run).
pub const STEP: &str = "Node SDK";
const SUITE: &str = "tests/conformance-node";
/// What the tests are told the server's links start with (`--public-base-url`).
const PUBLIC_BASE_URL: &str = "https://cdn.test/vod";
const READY_WITHIN: Duration = Duration::from_secs(60);

/// Why the suite cannot run here, if it cannot.
pub fn missing(env: &Env) -> Option<String> {
    let absent: Vec<&str> = ["node", "npm"]
        .into_iter()
        .filter(|tool| !proc::probe(env.command(tool).arg("--version"), Duration::from_secs(60)))
        .collect();
    (!absent.is_empty()).then(|| {
        format!(
            "{} not installed (apt-get install nodejs npm; .ci/run does it in CI)",
            absent.join(" and ")
        )
    })
}

/// `npm ci` from the lock file, and the binary under test.
pub fn setup(ws: &Workspace, env: &Env) -> Result<PathBuf> {
    proc::run(env.command("npm").current_dir(ws.root.join(SUITE)).args([
        "ci",
        "--no-audit",
        "--no-fund",
    ]))
    .context("installing the Node SDK from tests/conformance-node/package-lock.json")?;
    conformance::build_binary(ws, env)
}

/// Starts `vodsnap serve` on `store` with three seeded projects and runs the
/// suite against it; "postgres" gets its own scratch database on `database_url`.
pub fn run_store(
    ws: &Workspace,
    env: &Env,
    bin: &Path,
    store: &str,
    database_url: &str,
) -> Result<()> {
    let scratch = if store == "postgres" {
        Some(ScratchDatabase::create(database_url, "vodsnap_node")?)
    } else {
        None
    };
    let seed = Seed::new()?;
    let mut serve = env.command(bin);
    // Only the flags below: none of the caller's VODSNAP_* or DATABASE_URL.
    serve.env_remove("DATABASE_URL");
    for name in env.var_names() {
        if name.starts_with("VODSNAP_") {
            serve.env_remove(name);
        }
    }
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("VODSNAP_") {
            serve.env_remove(key);
        }
    }
    serve
        .arg("serve")
        .args([
            "--storage",
            "memory://",
            "--public-base-url",
            PUBLIC_BASE_URL,
        ])
        .args(["--seed-credential", &seed.credential1()])
        .args(["--seed-credential", &seed.credential2()]);
    if let Some(db) = &scratch {
        let keys = proc::output(env.command(bin).args(["credentials", "keygen"]))
            .context("making a credential key (vodsnap credentials keygen)")?;
        serve
            .args(["--database-url", &db.url])
            .args(["--credential-keys", keys.trim()]);
    }
    let logs = ws.target_dir.join("conformance-node");
    fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let server = ServerProcess::start(serve, &logs.join(format!("{store}.log")), READY_WITHIN)?;

    let mut node = env.command("node");
    node.current_dir(ws.root.join(SUITE))
        .arg("--test")
        .env("VODSNAP_NODE_ENDPOINT", format!("http://{}", server.addr()))
        .env("VODSNAP_NODE_AK1", &seed.ak1)
        .env("VODSNAP_NODE_SK1", &seed.sk1)
        .env("VODSNAP_NODE_AK2", &seed.ak2)
        .env("VODSNAP_NODE_SK2", &seed.sk2)
        .env("VODSNAP_NODE_PROJECT_A", &seed.proj_a)
        .env("VODSNAP_NODE_PROJECT_B", &seed.proj_b)
        .env("VODSNAP_NODE_PROJECT_C", &seed.proj_c)
        .env("VODSNAP_NODE_PUBLIC_BASE_URL", PUBLIC_BASE_URL)
        // The SDK's axios honours proxy variables; the server is on loopback.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    let status = proc::status(&mut node)?;
    let mut server = server;
    server.check_alive()?;
    server.check_no_panic()?;
    if !status.success() {
        bail!(
            "the Node SDK suite failed for store {store} ({status}); server log: {}",
            server.log().display()
        );
    }
    drop(server);
    drop(scratch);
    Ok(())
}

/// Fresh credentials and projects for one run: AK1 is granted A and B, AK2 C.
#[derive(Debug)]
struct Seed {
    ak1: String,
    sk1: String,
    ak2: String,
    sk2: String,
    proj_a: String,
    proj_b: String,
    proj_c: String,
}

impl Seed {
    fn new() -> Result<Self> {
        Ok(Self {
            ak1: format!("NODEAK1{}", random_hex(6)?).to_uppercase(),
            sk1: random_hex(20)?,
            ak2: format!("NODEAK2{}", random_hex(6)?).to_uppercase(),
            sk2: random_hex(20)?,
            proj_a: format!("node_a_{}", random_hex(6)?),
            proj_b: format!("node_b_{}", random_hex(6)?),
            proj_c: format!("node_c_{}", random_hex(6)?),
        })
    }

    fn credential1(&self) -> String {
        format!("{}:{}:{}:{}", self.ak1, self.sk1, self.proj_a, self.proj_b)
    }

    fn credential2(&self) -> String {
        format!("{}:{}:{}", self.ak2, self.sk2, self.proj_c)
    }
}

/// `bytes` random bytes in hex, from the kernel (xtask has no `rand`).
pub fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0_u8; bytes];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("reading /dev/urandom")?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}
