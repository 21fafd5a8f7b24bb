//! The container image, run as an operator runs it (issue 26): step
//! "image" of `cargo xtask test`, or `cargo xtask image` alone.
//!
//! The image is `VODSNAP_XTASK_IMAGE` (default `vodsnap-ci/vodsnap:ci`,
//! built without a registry by `.ci/vodsnap-image`; GitHub's `docker` job
//! names the image of the real Dockerfile). With a Docker engine, that
//! image and the PostgreSQL image of [`db::image`] present:
//!
//! 1. the image's settings (user, working directory, environment, port,
//!    entrypoint, command) are those of the Dockerfile's runtime stage;
//! 2. on a network of its own, a PostgreSQL container; `vodsnap migrate`
//!    in a container of the image; then the image's default command
//!    (`serve`) with the secrets in its environment, its port published on
//!    127.0.0.1, until `GET /readyz` answers 200;
//! 3. a subset of the Python SDK conformance suite against it
//!    ([`SUBSET`]: the tests that need only the server's URL and its
//!    credentials);
//! 4. `docker stop` with a grace period of [`STOP_GRACE_SECS`]: the
//!    container must exit 0 by itself (a SIGKILL at the end of the grace
//!    period is 137), its log must show the graceful shutdown, no panic
//!    and none of the secrets it was given.
//!
//! Every container and the network are removed on the way out, whatever
//! failed. Without an engine or an image the step is "NOT RUN image" with
//! the reason: a failure under `CI=true` unless [`OPTIONAL_ENV`] is 1
//! (`.ci/run` sets it when it could not start an engine or build the
//! image; GitHub's `ci` job, which does not build it, too).

use std::fs;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::conformance_node::random_hex;
use crate::db;
use crate::proc::{self, Env};
use crate::workspace::Workspace;

/// The step's name in the summary.
pub const STEP: &str = "image";
/// `name:tag` of the image under test.
pub const IMAGE_ENV: &str = "VODSNAP_XTASK_IMAGE";
/// What `.ci/vodsnap-image` builds by default.
const DEFAULT_IMAGE: &str = "vodsnap-ci/vodsnap:ci";
/// Set to 1 where the image cannot be there (`.ci/run` when docker or the
/// build failed; GitHub's `ci` job): a missing engine or image is then not
/// a failure under `CI=true`.
pub const OPTIONAL_ENV: &str = "VODSNAP_XTASK_IMAGE_OPTIONAL";
/// `docker stop -t`: the grace period between SIGTERM and SIGKILL.
const STOP_GRACE_SECS: u64 = 10;
/// The port the image listens on (`VODSNAP_LISTEN`, `EXPOSE`).
const PORT: &str = "8080/tcp";
const READY_WITHIN: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(200);
/// The links the tests expect in details answers (`--public-base-url`).
const PUBLIC_BASE_URL: &str = "https://cdn.test/vod";
/// The conformance tests run against the container: those that need only
/// its URL and its credentials (not the binary on this machine for tokens,
/// a second server, or signals to a child process).
const SUBSET: &[&str] = &[
    "tests/conformance/test_register.py",
    "tests/conformance/test_delete.py",
    "tests/conformance/test_delete_assets.py",
    "tests/conformance/test_list.py",
    "tests/conformance/test_details.py",
    "tests/conformance/test_dry_run.py",
    "tests/conformance/test_auth.py",
];
/// test_auth.py's tests that issue tokens with the binary are left out.
const SUBSET_FILTER: &str = "not token and not both_credentials";

/// The image under test: [`IMAGE_ENV`] or [`DEFAULT_IMAGE`].
pub fn image_name() -> String {
    std::env::var(IMAGE_ENV)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| DEFAULT_IMAGE.to_owned())
}

/// Whether a missing engine or image is acceptable here (see [`OPTIONAL_ENV`]).
pub fn optional() -> bool {
    std::env::var(OPTIONAL_ENV).is_ok_and(|v| v == "1")
}

/// Why the step cannot run here, if it cannot.
pub fn missing(image: &str, pg_image: &str) -> Option<String> {
    if !proc::available("docker") {
        return Some("no `docker` client".to_owned());
    }
    let probe =
        |args: &[&str]| proc::probe(Command::new("docker").args(args), Duration::from_secs(30));
    if !probe(&["info"]) {
        let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "the default socket".into());
        return Some(format!("no Docker engine answers ({host})"));
    }
    if !probe(&["image", "inspect", image]) {
        return Some(format!(
            "the image {image} is not there (.ci/vodsnap-image builds it; {IMAGE_ENV} names another)"
        ));
    }
    if !probe(&["image", "inspect", pg_image]) {
        return Some(format!(
            "the PostgreSQL image {pg_image} is not there ({} names another)",
            db::IMAGE_ENV
        ));
    }
    None
}

/// The runtime settings of an image, as the Dockerfile's last stage gives
/// them and as `docker image inspect` reports them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Runtime {
    pub user: String,
    pub workdir: String,
    /// `ENV` pairs (the image may hold more: PATH, SSL_CERT_FILE).
    pub env: Vec<(String, String)>,
    /// `EXPOSE`d ports, `8080/tcp`.
    pub expose: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
}

/// The settings of the Dockerfile's last stage (the runtime). Only what
/// that stage uses is understood; anything else there is refused rather
/// than guessed.
pub fn dockerfile_runtime(dockerfile: &str) -> Result<Runtime> {
    // Continuation lines joined, comments and blank lines dropped.
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    let start = lines
        .iter()
        .rposition(|l| keyword(l).0 == "FROM")
        .context("the Dockerfile has no FROM")?;
    let mut runtime = Runtime::default();
    for line in &lines[start + 1..] {
        let (word, rest) = keyword(line);
        match word.as_str() {
            "USER" => runtime.user = rest.to_owned(),
            "WORKDIR" => runtime.workdir = rest.to_owned(),
            "ENV" => runtime.env.extend(env_pairs(rest)?),
            "EXPOSE" => runtime.expose.extend(rest.split_whitespace().map(|p| {
                if p.contains('/') {
                    p.to_owned()
                } else {
                    format!("{p}/tcp")
                }
            })),
            "ENTRYPOINT" => runtime.entrypoint = exec_form(word.as_str(), rest)?,
            "CMD" => runtime.cmd = exec_form(word.as_str(), rest)?,
            "COPY" | "ARG" | "LABEL" => {}
            other => {
                bail!("the Dockerfile's runtime stage has {other}, which xtask does not compare")
            }
        }
    }
    Ok(runtime)
}

fn keyword(line: &str) -> (String, &str) {
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    (word.to_ascii_uppercase(), rest.trim())
}

/// `K=V K2=V2` (no quotes) or the old `K V`.
fn env_pairs(rest: &str) -> Result<Vec<(String, String)>> {
    if rest.contains(['"', '\'']) {
        bail!("ENV {rest}: quoted values are not understood here");
    }
    if !rest.split_whitespace().next().unwrap_or("").contains('=') {
        let (key, value) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        return Ok(vec![(key.to_owned(), value.trim().to_owned())]);
    }
    rest.split_whitespace()
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .with_context(|| format!("ENV {rest}: expected KEY=VALUE pairs"))
        })
        .collect()
}

fn exec_form(word: &str, rest: &str) -> Result<Vec<String>> {
    serde_json::from_str(rest)
        .with_context(|| format!("{word} {rest}: expected the exec form, a JSON array of strings"))
}

/// The settings of `docker image inspect`'s `.Config`.
pub fn image_runtime(config: &Value) -> Runtime {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let text = |key: &str| config[key].as_str().unwrap_or_default().to_owned();
    Runtime {
        user: text("User"),
        workdir: text("WorkingDir"),
        env: strings(&config["Env"])
            .iter()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        expose: config["ExposedPorts"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default(),
        entrypoint: strings(&config["Entrypoint"]),
        cmd: strings(&config["Cmd"]),
    }
}

/// What differs between the Dockerfile's runtime stage and the image (the
/// image may have variables of its own besides the stage's).
pub fn differences(want: &Runtime, got: &Runtime) -> Vec<String> {
    let mut out = Vec::new();
    let mut same = |what: &str, w: String, g: String| {
        if w != g {
            let none = |s: String| if s.is_empty() { "none".to_owned() } else { s };
            out.push(format!(
                "{what}: the Dockerfile says {}, the image has {}",
                none(w),
                none(g)
            ));
        }
    };
    same("USER", want.user.clone(), got.user.clone());
    same("WORKDIR", want.workdir.clone(), got.workdir.clone());
    same(
        "ENTRYPOINT",
        format!("{:?}", want.entrypoint),
        format!("{:?}", got.entrypoint),
    );
    same("CMD", format!("{:?}", want.cmd), format!("{:?}", got.cmd));
    let mut want_ports = want.expose.clone();
    let mut got_ports = got.expose.clone();
    want_ports.sort();
    got_ports.sort();
    same("EXPOSE", want_ports.join(" "), got_ports.join(" "));
    for (key, value) in &want.env {
        let found = got
            .env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone());
        if found.as_deref() != Some(value.as_str()) {
            out.push(format!(
                "ENV {key}: the Dockerfile says {value:?}, the image has {}",
                found.map_or_else(|| "none".to_owned(), |v| format!("{v:?}"))
            ));
        }
    }
    out
}

/// The whole check (see the module docs); `python` is the venv's.
pub fn run(
    ws: &Workspace,
    env: &Env,
    python: &std::path::Path,
    image: &str,
    pg_image: &str,
) -> Result<()> {
    let dockerfile = ws.root.join("Dockerfile");
    let want = dockerfile_runtime(
        &fs::read_to_string(&dockerfile)
            .with_context(|| format!("reading {}", dockerfile.display()))?,
    )?;
    let config: Value = serde_json::from_str(&proc::output(docker(env).args([
        "image",
        "inspect",
        "-f",
        "{{json .Config}}",
        image,
    ]))?)
    .context("reading the image's settings")?;
    let diffs = differences(&want, &image_runtime(&config));
    if !diffs.is_empty() {
        bail!(
            "{image} differs from the Dockerfile's runtime stage:\n  {}",
            diffs.join("\n  ")
        );
    }
    println!(
        "{image}: user, working directory, environment, port, entrypoint and command are the Dockerfile's"
    );

    let run_id = random_hex(4)?;
    let mut resources = Resources::default();
    let network = format!("vodsnap-xtask-image-{run_id}");
    proc::run(docker(env).args(["network", "create", &network]))?;
    resources.network = Some(network.clone());

    // PostgreSQL, reached by its container name on the network.
    let pg = format!("vodsnap-xtask-image-pg-{run_id}");
    let pg_password = random_hex(16)?;
    proc::run(
        docker(env)
            .args([
                "run",
                "-d",
                "--name",
                &pg,
                "--network",
                &network,
                "-e",
                "POSTGRES_PASSWORD",
            ])
            .arg(pg_image)
            .env("POSTGRES_PASSWORD", &pg_password),
    )?;
    resources.containers.push(pg.clone());
    wait_for_postgres(env, &pg)?;
    let database_url = format!("postgres://postgres:{pg_password}@{pg}:5432/postgres");

    // The secrets go through the docker client's environment (`-e NAME`),
    // never on a command line that is echoed.
    let token_key = random_hex(32)?;
    let credential_keys =
        proc::output(docker(env).args(["run", "--rm", image, "credentials", "keygen"]))
            .context("`vodsnap credentials keygen` in the image")?
            .trim()
            .to_owned();
    let seed = Seed::new()?;
    let secrets = [
        ("DATABASE_URL", database_url.as_str()),
        ("VODSNAP_TOKEN_KEY", token_key.as_str()),
        ("VODSNAP_CREDENTIAL_KEYS", credential_keys.as_str()),
        ("VODSNAP_SEED_CREDENTIALS", seed.value.as_str()),
    ];

    proc::run(
        docker(env)
            .args([
                "run",
                "--rm",
                "--network",
                &network,
                "-e",
                "DATABASE_URL",
                image,
                "migrate",
            ])
            .env("DATABASE_URL", &database_url),
    )
    .context("`vodsnap migrate` in the image")?;

    // The image's own command (`serve`), as `docker run IMAGE` gives it.
    let app = format!("vodsnap-xtask-image-app-{run_id}");
    let mut serve = docker(env);
    serve.args([
        "run",
        "-d",
        "--name",
        &app,
        "--network",
        &network,
        "-p",
        "127.0.0.1::8080",
    ]);
    for (name, value) in secrets {
        serve.args(["-e", name]).env(name, value);
    }
    serve
        .args(["-e", "VODSNAP_NO_MIGRATE=true"])
        .args(["-e", &format!("VODSNAP_PUBLIC_BASE_URL={PUBLIC_BASE_URL}")])
        .arg(image);
    proc::run(&mut serve)?;
    resources.containers.push(app.clone());
    let addr = published(env, &app)?;
    wait_ready(env, &app, &addr)?;
    println!("{image}: `serve` answers GET /readyz 200 at http://{addr}");

    let mut pytest = env.command(python);
    pytest
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .args(SUBSET)
        .args(["-k", SUBSET_FILTER])
        .env("VODSNAP_CONFORMANCE_URL", format!("http://{addr}"))
        .env("VODSNAP_CONFORMANCE_SEED", &seed.value);
    let tests = proc::status(&mut pytest)?;

    // Stopped whatever the tests said: the shutdown is checked either way.
    let stopped = Instant::now();
    proc::run(docker(env).args(["stop", "-t", &STOP_GRACE_SECS.to_string(), &app]))?;
    let took = stopped.elapsed();
    let state = proc::output(docker(env).args(["inspect", "-f", "{{.State.ExitCode}}", &app]))?;
    let logs = container_logs(env, &app)?;
    let mut problems = Vec::new();
    if !tests.success() {
        problems.push(format!("the conformance subset failed ({tests})"));
    }
    if state.trim() != "0" {
        problems.push(format!(
            "`docker stop -t {STOP_GRACE_SECS}` took {took:.1?} and the container exited {} \
             (0 expected: 137 is the SIGKILL at the end of the grace period)",
            state.trim()
        ));
    } else {
        println!("{image}: `docker stop -t {STOP_GRACE_SECS}`: exit 0 after {took:.1?}");
    }
    for line in ["shutting down", "vodsnap stopped"] {
        if !logs.contains(line) {
            problems.push(format!("the log does not say {line:?}"));
        }
    }
    if logs.contains("panicked") {
        problems.push("the log shows a panic".to_owned());
    }
    let mut leaked: Vec<&str> = secrets
        .iter()
        .filter(|(_, value)| logs.contains(value))
        .map(|(name, _)| *name)
        .collect();
    leaked.extend(
        [
            ("SK1", &seed.sk1),
            ("SK2", &seed.sk2),
            ("PostgreSQL password", &pg_password),
        ]
        .into_iter()
        .filter(|(_, s)| logs.contains(s.as_str()))
        .map(|(name, _)| name),
    );
    if !leaked.is_empty() {
        problems.push(format!("the log holds secrets: {}", leaked.join(", ")));
    }
    if !problems.is_empty() {
        let tail: Vec<&str> = logs.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "{}; end of the container's log:\n{}",
            problems.join("; "),
            tail.join("\n")
        );
    }
    drop(resources);
    Ok(())
}

/// A `docker` command (no stdin, the root as working directory).
fn docker(env: &Env) -> Command {
    env.command("docker")
}

/// Waits until the server accepts TCP connections inside its container
/// (the official image's and .ci/pg-image's entrypoints first run a
/// temporary server on the Unix socket only).
fn wait_for_postgres(env: &Env, pg: &str) -> Result<()> {
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if proc::probe(
            docker(env).args([
                "exec",
                pg,
                "pg_isready",
                "-q",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
            ]),
            Duration::from_secs(10),
        ) {
            return Ok(());
        }
        if !running(env, pg)? {
            bail!(
                "the PostgreSQL container exited:\n{}",
                container_logs(env, pg)?
            );
        }
        if Instant::now() > deadline {
            bail!("PostgreSQL did not accept connections within {READY_WITHIN:?}");
        }
        thread::sleep(POLL);
    }
}

/// `127.0.0.1:PORT` where [`PORT`] of `container` is published.
fn published(env: &Env, container: &str) -> Result<String> {
    let out = proc::output(docker(env).args(["port", container, PORT]))?;
    out.lines()
        .map(str::trim)
        .find(|l| l.starts_with("127.0.0.1:"))
        .map(str::to_owned)
        .with_context(|| {
            format!("`docker port {container} {PORT}` printed no 127.0.0.1 address: {out}")
        })
}

fn wait_ready(env: &Env, app: &str, addr: &str) -> Result<()> {
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if vodsnap_server_process::http_status(addr, "/readyz") == Some(200) {
            return Ok(());
        }
        if !running(env, app)? {
            bail!(
                "the vodsnap container exited before it was ready:\n{}",
                container_logs(env, app)?
            );
        }
        if Instant::now() > deadline {
            bail!(
                "GET /readyz did not answer 200 within {READY_WITHIN:?}; the container's log:\n{}",
                container_logs(env, app)?
            );
        }
        thread::sleep(POLL);
    }
}

fn running(env: &Env, container: &str) -> Result<bool> {
    Ok(
        proc::output(docker(env).args(["inspect", "-f", "{{.State.Running}}", container]))?.trim()
            == "true",
    )
}

/// Both output streams of a container.
fn container_logs(env: &Env, container: &str) -> Result<String> {
    let out = docker(env)
        .args(["logs", container])
        .output()
        .with_context(|| format!("`docker logs {container}`"))?;
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// Two credentials as the conformance suite expects them: AK1 on projects
/// A and B, AK2 on C (`VODSNAP_CONFORMANCE_SEED`'s format is the server's).
struct Seed {
    value: String,
    sk1: String,
    sk2: String,
}

impl Seed {
    fn new() -> Result<Self> {
        let sk1 = random_hex(20)?;
        let sk2 = random_hex(20)?;
        let value = format!(
            "IMGAK1{}:{sk1}:img_a_{}:img_b_{},IMGAK2{}:{sk2}:img_c_{}",
            random_hex(7)?.to_uppercase(),
            random_hex(6)?,
            random_hex(6)?,
            random_hex(7)?.to_uppercase(),
            random_hex(6)?,
        );
        Ok(Self { value, sk1, sk2 })
    }
}

/// The containers and the network of one check, removed when dropped
/// (also when a step failed).
#[derive(Debug, Default)]
struct Resources {
    containers: Vec<String>,
    network: Option<String>,
}

impl Drop for Resources {
    fn drop(&mut self) {
        for container in self.containers.drain(..).rev() {
            let _ = Command::new("docker")
                .args(["rm", "-f", "-v", &container])
                .stdout(std::process::Stdio::null())
                .status();
        }
        if let Some(network) = self.network.take() {
            let _ = Command::new("docker")
                .args(["network", "rm", &network])
                .stdout(std::process::Stdio::null())
                .status();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKERFILE: &str = r#"# syntax=docker/dockerfile:1
FROM rust:1.95 AS builder
USER root
WORKDIR /src
RUN cargo build \
 && cp target/release/vodsnap /vodsnap

# --- runtime
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /vodsnap /usr/local/bin/vodsnap
USER nonroot:nonroot
WORKDIR /home/nonroot
ENV VODSNAP_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["vodsnap"]
CMD ["serve"]
"#;

    fn runtime() -> Runtime {
        Runtime {
            user: "nonroot:nonroot".into(),
            workdir: "/home/nonroot".into(),
            env: vec![("VODSNAP_LISTEN".into(), "0.0.0.0:8080".into())],
            expose: vec!["8080/tcp".into()],
            entrypoint: vec!["vodsnap".into()],
            cmd: vec!["serve".into()],
        }
    }

    #[test]
    fn the_last_stage_of_the_dockerfile_is_read() -> Result<()> {
        assert_eq!(dockerfile_runtime(DOCKERFILE)?, runtime());
        Ok(())
    }

    #[test]
    fn the_repositorys_dockerfile_is_understood() -> Result<()> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../Dockerfile");
        let runtime = dockerfile_runtime(&fs::read_to_string(path)?)?;
        assert_eq!(runtime.entrypoint, ["vodsnap"]);
        assert!(!runtime.user.is_empty());
        Ok(())
    }

    #[test]
    fn what_the_runtime_stage_holds_beyond_the_compared_settings_is_refused() {
        let err = dockerfile_runtime("FROM x\nRUN true\n").unwrap_err();
        assert!(err.to_string().contains("RUN"), "{err}");
        let err = dockerfile_runtime("FROM x\nCMD serve\n").unwrap_err();
        assert!(err.to_string().contains("exec form"), "{err}");
    }

    #[test]
    fn the_old_env_form_and_several_pairs_are_read() -> Result<()> {
        let r = dockerfile_runtime("FROM x\nENV A 1 2\nENV B=3 C=4\n")?;
        assert_eq!(
            r.env,
            [
                ("A".into(), "1 2".into()),
                ("B".into(), "3".into()),
                ("C".into(), "4".into())
            ]
        );
        Ok(())
    }

    #[test]
    fn an_image_like_the_stage_has_no_differences_even_with_more_variables() {
        let config = serde_json::json!({
            "User": "nonroot:nonroot",
            "WorkingDir": "/home/nonroot",
            "Env": ["PATH=/usr/bin", "VODSNAP_LISTEN=0.0.0.0:8080"],
            "ExposedPorts": {"8080/tcp": {}},
            "Entrypoint": ["vodsnap"],
            "Cmd": ["serve"],
        });
        assert_eq!(
            differences(&runtime(), &image_runtime(&config)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn each_differing_setting_is_named() {
        let config = serde_json::json!({
            "User": "root",
            "WorkingDir": "/",
            "Env": ["VODSNAP_LISTEN=127.0.0.1:8080"],
            "ExposedPorts": {"9090/tcp": {}},
            "Entrypoint": ["/bin/sh"],
            "Cmd": null,
        });
        let diffs = differences(&runtime(), &image_runtime(&config));
        for what in [
            "USER",
            "WORKDIR",
            "ENTRYPOINT",
            "CMD",
            "EXPOSE",
            "ENV VODSNAP_LISTEN",
        ] {
            assert!(
                diffs.iter().any(|d| d.starts_with(what)),
                "{what} not in {diffs:?}"
            );
        }
    }
}
