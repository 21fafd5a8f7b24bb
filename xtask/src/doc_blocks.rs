//! The documents' commands, run as written: every fenced block of README.md
//! and docs/DEPLOY.md that an HTML comment marks
//!
//! - `<!-- xtask: run -->`: run it (a `sh` block in bash, a `python` block
//!   with the venv's Python);
//! - `<!-- xtask: run, serve -->`: run it, its last line (a `serve`) in the
//!   background; the runner waits for `/healthz`, and stops that server
//!   (SIGTERM) before the next `serve` block and at the end.
//!
//! The blocks of one document run in order in one bash session, so a block
//! sees the variables of those before it, as a reader's terminal would. What
//! the runner changes, and nothing more: `127.0.0.1:8080` becomes a free
//! port (`VODSNAP_LISTEN` too, for a `serve` without `--listen`), and each
//! `postgres://...` URL names a new database on the test server. The
//! session starts without `DATABASE_URL` or any `VODSNAP_*` variable (the
//! embedded default), with the built `vodsnap` and the venv's `python3` and
//! `pip` first on `PATH`; `curl` fails on an HTTP error status (it is given
//! `--fail-with-body`), and any failing command fails its block and the
//! step, naming the document and line.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use vodsnap_server_process::scratch::ScratchDatabase;

use crate::proc::{self, Env};
use crate::workspace::Workspace;

/// The documents whose marked blocks run, in this order.
pub const DOCUMENTS: &[&str] = &["README.md", "docs/DEPLOY.md"];

const MARK: &str = "<!-- xtask: run";
/// The address the documents' commands use; replaced by a free port.
const DOC_ADDR: &str = "127.0.0.1:8080";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Sh,
    Python,
}

/// A marked block of a document.
#[derive(Debug)]
struct Block {
    /// 1-based line of its opening fence.
    line: usize,
    lang: Lang,
    serve: bool,
    text: String,
}

/// The marked blocks of a document, in order. A mark not followed by a
/// `sh` or `python` fence is an error, so that a mark cannot silently
/// stop running.
fn blocks(document: &str, text: &str) -> Result<Vec<Block>> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(rest) = line.trim().strip_prefix(MARK) else {
            continue;
        };
        let options = rest.trim_end_matches("-->").trim();
        let serve = options.split(',').any(|o| o.trim() == "serve");
        let (fence_at, fence) = lines
            .by_ref()
            .find(|(_, l)| !l.trim().is_empty())
            .with_context(|| format!("{document}:{}: a mark with no block after it", n + 1))?;
        let lang = match fence.trim() {
            "```sh" | "```bash" => Lang::Sh,
            "```python" => Lang::Python,
            other => bail!(
                "{document}:{}: a mark must be followed by a ```sh or ```python block, not {other:?}",
                fence_at + 1
            ),
        };
        let mut body = String::new();
        let mut closed = false;
        for (_, l) in lines.by_ref() {
            if l.trim() == "```" {
                closed = true;
                break;
            }
            body.push_str(l);
            body.push('\n');
        }
        if !closed {
            bail!("{document}:{}: the block is not closed", fence_at + 1);
        }
        if serve && lang != Lang::Sh {
            bail!("{document}:{}: only a sh block can serve", fence_at + 1);
        }
        blocks.push(Block {
            line: fence_at + 1,
            lang,
            serve,
            text: body,
        });
    }
    Ok(blocks)
}

/// The block with the port and the database URLs substituted.
fn substitute(text: &str, addr: &str, database_url: &str) -> String {
    let text = text.replace(DOC_ADDR, addr);
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("postgres://") {
        out.push_str(&rest[..start]);
        let url = &rest[start..];
        let end = url
            .find(|c: char| c.is_whitespace() || c == '\'' || c == '"')
            .unwrap_or(url.len());
        out.push_str(database_url);
        rest = &url[end..];
    }
    out.push_str(rest);
    out
}

/// The bash session for one document's blocks.
fn script(document: &str, blocks: &[Block], addr: &str, database_url: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"set -euo pipefail
curl() {{ command curl --fail-with-body --max-time 60 "$@"; }}
xtask_serve_pid=
xtask_stop() {{
  if [ -n "$xtask_serve_pid" ]; then
    kill -TERM "$xtask_serve_pid" 2>/dev/null || true
    wait "$xtask_serve_pid" 2>/dev/null || true
    xtask_serve_pid=
  fi
}}
trap xtask_stop EXIT
xtask_ready() {{
  for _ in $(seq 1 900); do
    if command curl -sf -o /dev/null "http://{addr}/healthz"; then return 0; fi
    if ! kill -0 "$xtask_serve_pid" 2>/dev/null; then
      echo "xtask: the server exited before it answered /healthz" >&2; return 1
    fi
    sleep 0.2
  done
  echo "xtask: the server did not answer /healthz within 180s" >&2; return 1
}}"#
    );
    for block in blocks {
        let text = substitute(&block.text, addr, database_url);
        let _ = writeln!(
            s,
            "printf '\\n--- xtask: {document}:{} ---\\n' >&2",
            block.line
        );
        match (block.lang, block.serve) {
            (Lang::Python, _) => {
                let _ = writeln!(
                    s,
                    "python3 - <<'XTASK_PYTHON_BLOCK'\n{text}XTASK_PYTHON_BLOCK"
                );
            }
            (Lang::Sh, false) => s.push_str(&text),
            (Lang::Sh, true) => {
                let lines: Vec<&str> = text.lines().collect();
                let (last, before) = lines.split_last().unwrap_or((&"", &[]));
                s.push_str("xtask_stop\n");
                for line in before {
                    s.push_str(line);
                    s.push('\n');
                }
                // `exec` in the background subshell (and cargo's own exec
                // of the binary), so that the pid is the server's; the
                // newline ends a trailing comment of the line.
                let _ = writeln!(s, "{{ exec {last}\n}} &\nxtask_serve_pid=$!\nxtask_ready");
            }
        }
        let _ = writeln!(
            s,
            "printf '\\n--- xtask: {document}:{} passed ---\\n' >&2",
            block.line
        );
    }
    s
}

/// Runs every document's marked blocks; `python_bin` is the venv's `bin`.
pub fn run(ws: &Workspace, env: &Env, python_bin: &Path) -> Result<()> {
    proc::run(env.cargo().args(["build", "-p", "vodsnap-app", "--bins"]))
        .context("building vodsnap")?;
    let admin_url = env
        .var("DATABASE_URL")
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .context("DATABASE_URL: no PostgreSQL server for the documents' blocks")?;
    let path = format!(
        "{}:{}:{}",
        python_bin.display(),
        ws.target_dir.join("debug").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let scripts = ws.target_dir.join("doc-blocks");
    std::fs::create_dir_all(&scripts).with_context(|| format!("creating {}", scripts.display()))?;
    let mut failed = Vec::new();
    for document in DOCUMENTS {
        let started = Instant::now();
        let text = std::fs::read_to_string(ws.root.join(document))
            .with_context(|| format!("reading {document}"))?;
        let blocks = blocks(document, &text)?;
        if blocks.is_empty() {
            bail!("{document}: no block is marked `{MARK} -->`");
        }
        let database = ScratchDatabase::create(&admin_url, "vodsnap_docs")?;
        let addr = format!("127.0.0.1:{}", vodsnap_server_process::free_port()?);
        // In a file, to read after a failure (and not echoed in full).
        let file = scripts.join(format!("{}.sh", document.replace('/', "_")));
        std::fs::write(&file, script(document, &blocks, &addr, &database.url))
            .with_context(|| format!("writing {}", file.display()))?;
        let mut bash = env.command("bash");
        bash.arg(&file).env("PATH", &path);
        // The embedded default: nothing of this process's or the test
        // run's database or vodsnap settings.
        let inherited = std::env::vars().map(|(key, _)| key);
        let given = env.var_names().map(str::to_owned);
        for key in inherited.chain(given) {
            if key == "DATABASE_URL" || key.starts_with("VODSNAP_") {
                bash.env_remove(&key);
            }
        }
        bash.env("VODSNAP_LISTEN", &addr);
        let status = proc::status(&mut bash)?;
        println!(
            "{document}: {} marked block(s), {} in {:.0?}",
            blocks.len(),
            if status.success() {
                "all passed"
            } else {
                "FAILED"
            },
            started.elapsed()
        );
        if !status.success() {
            failed.push(*document);
        }
        drop(database);
    }
    if !failed.is_empty() {
        bail!(
            "a marked block of {} failed (its `--- xtask: FILE:LINE ---` line above names it; \
             the scripts run are in {})",
            failed.join(", "),
            scripts.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "intro\n<!-- xtask: run, serve -->\n```sh\nexport A=1\ncargo run -- serve   # serves\n```\n\n```sh\nnot marked\n```\n<!-- xtask: run -->\n\n```python\nprint('hi')\n```\n";

    #[test]
    fn only_marked_blocks_are_taken_with_their_options() {
        let blocks = blocks("DOC", DOC).unwrap();
        assert_eq!(blocks.len(), 2);
        assert!(blocks[0].serve);
        assert_eq!(blocks[0].line, 3);
        assert_eq!(
            blocks[0].text,
            "export A=1\ncargo run -- serve   # serves\n"
        );
        assert_eq!(blocks[1].lang, Lang::Python);
        assert!(!blocks[1].serve);
    }

    #[test]
    fn a_mark_without_a_runnable_block_is_an_error() {
        assert!(blocks("DOC", "<!-- xtask: run -->\n```text\nx\n```\n").is_err());
        assert!(blocks("DOC", "<!-- xtask: run -->\n```sh\nx\n").is_err());
    }

    #[test]
    fn only_ports_and_database_urls_change() {
        let text = "curl 'http://127.0.0.1:8080/v1'\nexport DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres\n";
        assert_eq!(
            substitute(text, "127.0.0.1:4000", "postgres://u@h:1/docs_1"),
            "curl 'http://127.0.0.1:4000/v1'\nexport DATABASE_URL=postgres://u@h:1/docs_1\n"
        );
    }

    #[test]
    fn a_serve_block_runs_its_last_line_in_the_background() {
        let blocks = blocks("DOC", DOC).unwrap();
        let script = script("DOC", &blocks, "127.0.0.1:4000", "postgres://x");
        assert!(
            script.contains("xtask_stop\nexport A=1\n{ exec cargo run -- serve   # serves\n} &\n")
        );
    }
}
