//! The vodsnap under test, shared by a run (`run`) and a soak (`soak`): its
//! bench credential and token key, and how it is started.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use vodsnap_server_process::ServerProcess;

use crate::database::output;
use crate::params::Params;

pub const PROJECT: &str = "bench";
pub const ACCESS_KEY: &str = "BENCHAK000000000000000001";
// Bench-only secrets for a throwaway server and database.
pub const SECRET_KEY: &str = "bench-secret-key-not-a-real-secret-0001";
const TOKEN_KEY: &str = "bench-token-key-not-a-real-secret-000000001";

/// `vodsnap serve` (release) on the scratch database, with the bench's
/// credential seeded and, when the binary has the flag, no cleanup workers
/// (the cleanup of deleted images is not on the measured path).
pub fn start_server(
    vodsnap: &Path,
    database_url: &str,
    params: &Params,
    work: &Path,
) -> Result<ServerProcess> {
    let help = output(Command::new(vodsnap).args(["serve", "--help"]))?;
    let key = credential_key(vodsnap)?;
    let mut cmd = serve_command(vodsnap, database_url, params, &key);
    if help.contains("--cleanup-workers") {
        cmd.args(["--cleanup-workers", "0"]);
    } else {
        println!("server: `vodsnap serve` has no --cleanup-workers: no cleanup runs anyway");
    }
    ServerProcess::start(cmd, &work.join("server.log"), Duration::from_secs(60))
}

/// A fresh `--credential-keys` value, from `vodsnap credentials keygen`.
pub fn credential_key(vodsnap: &Path) -> Result<String> {
    Ok(
        output(Command::new(vodsnap).args(["credentials", "keygen"]))?
            .trim()
            .to_owned(),
    )
}

/// `vodsnap serve` on `database_url` with the bench's credential seeded,
/// SKs sealed under `key`, and the bench's token key.
pub fn serve_command(vodsnap: &Path, database_url: &str, params: &Params, key: &str) -> Command {
    let mut cmd = Command::new(vodsnap);
    cmd.arg("serve")
        .args(["--database-url", database_url])
        .args(["--credential-keys", key])
        .args(["--token-key", TOKEN_KEY])
        .args([
            "--seed-credential",
            &format!("{ACCESS_KEY}:{SECRET_KEY}:{PROJECT}"),
        ]);
    if let Some(n) = params.max_connections {
        cmd.args(["--database-max-connections", &n.to_string()]);
    }
    cmd
}

/// A token for the bench's project, issued by `vodsnap token issue` with
/// the server's token key.
pub fn issue_token(vodsnap: &Path) -> Result<String> {
    let token = output(Command::new(vodsnap).args([
        "token",
        "issue",
        "--project",
        PROJECT,
        "--ttl",
        "12h",
        "--subject",
        "bench",
        "--token-key",
        TOKEN_KEY,
    ]))?;
    Ok(token.trim().to_owned())
}
