//! `cargo xtask fuzz`: fuzzing of the HTTP API from its OpenAPI document
//! (`docs/openapi.json`, the one `/openapi.json` serves) with schemathesis.
//!
//! One run:
//! 1. the venv (schemathesis is pinned in `tests/fuzz/requirements.txt`,
//!    installed with the other test requirements by
//!    [`conformance::ensure_venv`]);
//! 2. builds `vodsnap` (debug) and starts `vodsnap serve` on a free port:
//!    embedded store, `--storage memory://`, a fixed test `--token-key` and
//!    a seeded credential for the project `fuzzproj`; `DATABASE_URL` and
//!    every `VODSNAP_*` variable are removed from its environment;
//! 3. registers six task results in `fuzzproj` (asset `fuzz_asset`, tasks
//!    `fuzz_task_1..6`) so that list, details and delete reach their success
//!    paths;
//! 4. runs schemathesis twice: without credentials (security parameters
//!    are generated, so malformed `Authorization` and `X-Auth-Token` values
//!    are tried too), then with a valid token for `fuzzproj`
//!    (`tests/fuzz/authenticated.toml`: the header, `project_id` fixed to
//!    `fuzzproj`, the registered ids offered half of the time). schemathesis
//!    cannot sign AK/SK requests; a token is a valid credential all the same.
//!
//! Checks: no 5xx, and every response conforms to the document (status
//! code, content type, headers, body schema); the run with a token also
//! checks that each operation rejects a request without it (`ignored_auth`).
//! A step fails when schemathesis reports a failure, when it runs past its
//! time bound, when the server dies, or when the server log shows a panic.
//! schemathesis prints a `curl` line that reproduces each failure, and its
//! seed; `--seed` replays a run.

use std::fmt::Write as _;
use std::fs;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use vodsnap_server_process::ServerProcess;

use crate::Report;
use crate::conformance;
use crate::proc::{self, Env};
use crate::workspace::Workspace;

const SPEC: &str = "docs/openapi.json";
const AUTH_CONFIG: &str = "tests/fuzz/authenticated.toml";
const PROJECT: &str = "fuzzproj";
const ASSET: &str = "fuzz_asset";
/// Task results registered before the runs; `tests/fuzz/authenticated.toml`
/// lists the same ids.
const TASKS: u32 = 6;
// Fuzz-only secrets for a throwaway server that lives for one run.
const ACCESS_KEY: &str = "FUZZAK00000000000001";
const SECRET_KEY: &str = "fuzz-secret-key-not-a-real-secret-0001";
const TOKEN_KEY: &str = "fuzz-token-key-not-a-real-secret-000000001";
/// The variable `tests/fuzz/authenticated.toml` reads the token from.
const TOKEN_ENV: &str = "VODSNAP_FUZZ_TOKEN";
/// Checks of both runs: no 5xx, and every response as documented.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance";

/// Options of `cargo xtask fuzz`.
#[derive(Debug, clap::Args)]
pub struct FuzzArgs {
    /// Test cases per operation and run (schemathesis `--max-examples`).
    #[arg(long, default_value_t = 50)]
    max_examples: u32,
    /// Seconds each schemathesis run may take before it is stopped and
    /// counted as a failure.
    #[arg(long, default_value_t = 150)]
    timeout: u64,
    /// Random seed, to replay a run (schemathesis prints the one it used).
    #[arg(long)]
    seed: Option<u64>,
}

/// One schemathesis run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    Anonymous,
    Token,
}

impl Run {
    fn name(self) -> &'static str {
        match self {
            Self::Anonymous => "without credentials",
            Self::Token => "with a token",
        }
    }

    fn dir(self) -> &'static str {
        match self {
            Self::Anonymous => "anonymous",
            Self::Token => "token",
        }
    }
}

pub fn run(args: &FuzzArgs) -> Result<ExitCode> {
    let ws = Workspace::load()?;
    let env = Env::new(&ws.root);
    let mut report = Report::new("fuzz");
    let work = ws.target_dir.join("fuzz");

    let Some(python) = report.step("python venv", || conformance::ensure_venv(&env)) else {
        report.not_run("schemathesis", "no venv");
        return Ok(report.finish());
    };
    let schemathesis = python.with_file_name("schemathesis");
    let Some(prepared) = report.step("build", || conformance::setup(&ws, &env, python)) else {
        report.not_run("schemathesis", "no binary");
        return Ok(report.finish());
    };
    let bin = prepared.bin().to_path_buf();

    let started = report.step("start vodsnap serve", || {
        fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
        let server = start_server(&env, &bin, &work)?;
        let token = proc::output(env.command(&bin).args([
            "token",
            "issue",
            "--project",
            PROJECT,
            "--token-key",
            TOKEN_KEY,
            "--subject",
            "xtask-fuzz",
        ]))
        .context("issuing a token")?
        .trim()
        .to_owned();
        Ok((server, token))
    });
    let Some((mut server, token)) = started else {
        report.not_run("schemathesis", "no server");
        return Ok(report.finish());
    };

    report.step("register fuzz data", || seed_data(server.addr(), &token));

    for run in [Run::Anonymous, Run::Token] {
        report.step(&format!("schemathesis ({})", run.name()), || {
            let mut cmd = env.command(&schemathesis);
            if run == Run::Token {
                cmd.arg("--config-file")
                    .arg(env.root().join(AUTH_CONFIG))
                    .env(TOKEN_ENV, &token);
            }
            // In target/fuzz, where schemathesis and hypothesis keep their
            // caches (.schemathesis, .hypothesis), not in the repository.
            cmd.current_dir(&work)
                .arg("run")
                .arg(env.root().join(SPEC))
                .args(["--url", &format!("http://{}", server.addr())])
                .args(["--checks", CHECKS])
                .args(["--max-examples", &args.max_examples.to_string()])
                .args(["--request-timeout", "10"])
                // No example database in the repository: each run stands alone.
                .args(["--generation-database", "none"])
                .args(["--report", "junit", "--report-dir"])
                .arg(work.join(run.dir()));
            if run == Run::Token {
                // The token is the credential: no generated Authorization
                // beside it (that would be "both kinds at once", a 401).
                // `--checks` adds to the list given above (schemathesis
                // merges repeated options): ignored_auth checks that each
                // operation refuses the request once the token is removed.
                cmd.args(["--generation-with-security-parameters", "false"])
                    .args(["--checks", "ignored_auth"]);
            }
            if let Some(seed) = args.seed {
                cmd.args(["--seed", &seed.to_string()]);
            }
            let status = run_bounded(&mut cmd, Duration::from_secs(args.timeout))?;
            server.check_alive()?;
            server.check_no_panic()?;
            if !status.success() {
                bail!(
                    "schemathesis found problems ({status}): see its report above \
                     (each failure with a curl line that reproduces it)"
                );
            }
            Ok(())
        });
    }

    println!("server log: {}", server.log().display());
    drop(server);
    Ok(report.finish())
}

/// Registers the task results the authenticated run's dictionaries name,
/// one `thumbnail_para` type after another.
fn seed_data(addr: &str, token: &str) -> Result<()> {
    for n in 1..=TASKS {
        let para = match n % 3 {
            1 => r#"{"type":"time","time":10}"#,
            2 => r#"{"type":"dots","dots":[0,5,10]}"#,
            _ => r#"{"type":"quantity","quantity":3,"quantity_time":2,"max_length":480}"#,
        };
        let body = format!(
            r#"{{"asset_id":"{ASSET}","task_id":"fuzz_task_{n}","thumbnail_para":{para},"thumbnails":[{{"offset":0,"object_key":"{PROJECT}/{ASSET}/{n}/0.jpg"}},{{"offset":5,"object_key":"{PROJECT}/{ASSET}/{n}/1.jpg"}}]}}"#
        );
        let path = format!("/v1/{PROJECT}/asset/thumbnails");
        let (status, answer) = http(addr, "POST", &path, token, &body)?;
        if status != 201 {
            bail!("registering fuzz_task_{n}: expected 201, got {status}: {answer}");
        }
    }
    println!("registered {TASKS} task results of {ASSET} in {PROJECT}");
    Ok(())
}

/// Runs `cmd`, killing it at the deadline (which is then an error).
fn run_bounded(cmd: &mut Command, timeout: Duration) -> Result<std::process::ExitStatus> {
    let line = proc::display(cmd);
    println!("$ {line}");
    let mut child = cmd
        .spawn()
        .with_context(|| format!("could not start `{line}`"))?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().context("waiting for schemathesis")? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            // Best effort: the run has failed either way.
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "still running after {timeout:?}: stopped (raise --timeout, lower --max-examples)"
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// `vodsnap serve` on the embedded store, for one fuzz run.
fn start_server(env: &Env, bin: &Path, work: &Path) -> Result<ServerProcess> {
    let mut cmd = env.command(bin);
    // The embedded store whatever the caller's environment says (CI sets
    // DATABASE_URL), and only the flags below.
    cmd.env_remove("DATABASE_URL");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("VODSNAP_") {
            cmd.env_remove(key);
        }
    }
    cmd.arg("serve")
        .args(["--storage", "memory://"])
        .args(["--token-key", TOKEN_KEY])
        .args([
            "--seed-credential",
            &format!("{ACCESS_KEY}:{SECRET_KEY}:{PROJECT}"),
        ]);
    let server = ServerProcess::start(cmd, &work.join("server.log"), Duration::from_secs(30))?;
    println!(
        "vodsnap serve is up on {} (log: {})",
        server.addr(),
        server.log().display()
    );
    Ok(server)
}

/// A minimal HTTP/1.1 exchange (xtask has no HTTP client): status and body.
/// `token`, when not empty, goes in `X-Auth-Token`; `body`, when not empty,
/// is sent as JSON.
fn http(addr: &str, method: &str, path: &str, token: &str, body: &str) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .context("setting a read timeout")?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !token.is_empty() {
        let _ = write!(request, "X-Auth-Token: {token}\r\n");
    }
    if !body.is_empty() {
        let _ = write!(
            request,
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream
        .write_all(request.as_bytes())
        .with_context(|| format!("sending {method} {path}"))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .with_context(|| format!("reading the answer to {method} {path}"))?;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no HTTP status in the answer to {method} {path}"))?;
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authenticated_config_names_the_registered_data() {
        let config = include_str!("../../tests/fuzz/authenticated.toml");
        assert!(config.contains(&format!("\"path.project_id\" = \"{PROJECT}\"")));
        assert!(config.contains(&format!("\"{ASSET}\"")));
        assert!(config.contains(&format!("${{{TOKEN_ENV}}}")));
        for n in 1..=TASKS {
            assert!(
                config.contains(&format!("\"fuzz_task_{n}\"")),
                "fuzz_task_{n}"
            );
        }
    }
}
