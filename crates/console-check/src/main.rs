//! The console's browser test, run by `cargo xtask test` as its own step:
//! the real `vodsnap serve` (embedded store, demo data, images in a
//! temporary directory), Debian's `chromedriver` and headless `chromium`,
//! driven over WebDriver with fantoccini.
//!
//! The server keeps deleted tasks for an hour (`--retention 1h`). The check
//! signs in through the link the banner prints, filters by the demo asset
//! with the keyboard, checks that every listed task shows its first
//! snapshot as a small picture, opens a task and checks that every
//! snapshot image rendered (naturalWidth > 0) and that the five pictures
//! differ (the demo draws each one's offset), selects two tasks with the keyboard,
//! previews and deletes them, sees them gone from the list and their image
//! links answer 404. Then the recycle bin: both deleted tasks are listed
//! there; one is restored (listed again, its image served again); a third
//! task is deleted, and of two tasks selected in the bin, one is purged
//! after a confirmation (a cancelled one first changes nothing) while the
//! other, restored meanwhile behind the console's back, shows FAILED with
//! its error. It checks the page fits a narrow screen, and that a second
//! server, without `--retention`, says plainly that it has no recycle bin.
//! Screenshots go to `--out`.
//!
//! Waits are for conditions in the page (polled until a deadline), never
//! fixed sleeps.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// Longest any one condition may take to hold: a cold browser on a busy
/// 2-core machine.
const DEADLINE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);

#[derive(Debug)]
struct Args {
    vodsnap: PathBuf,
    out: PathBuf,
    chromium: PathBuf,
    chromedriver: PathBuf,
}

fn args() -> Result<Args> {
    let mut args = Args {
        vodsnap: PathBuf::from("target/debug/vodsnap"),
        out: PathBuf::from("target/console-check"),
        chromium: PathBuf::from("/usr/bin/chromium"),
        chromedriver: PathBuf::from("/usr/bin/chromedriver"),
    };
    let mut raw = std::env::args().skip(1);
    while let Some(flag) = raw.next() {
        let value = raw
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--vodsnap" => args.vodsnap = value.into(),
            "--out" => args.out = value.into(),
            "--chromium" => args.chromium = value.into(),
            "--chromedriver" => args.chromedriver = value.into(),
            other => bail!(
                "unknown flag {other}; accepted: --vodsnap, --out, --chromium, --chromedriver"
            ),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => {
            println!("console check: every step passed");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("console check FAILED: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let args = args()?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("failed to create {}", args.out.display()))?;
    let scratch = tempfile::tempdir().context("failed to create a temporary directory")?;

    let (_server, console) = start_vodsnap(
        &args.vodsnap,
        &scratch.path().join("kept"),
        &["--retention", "1h"],
    )
    .await?;
    let (_final_server, final_console) =
        start_vodsnap(&args.vodsnap, &scratch.path().join("final"), &[]).await?;
    let (_driver, driver_url) = start_chromedriver(&args.chromedriver).await?;
    let client = connect(&driver_url, &args.chromium, &scratch.path().join("profile")).await?;
    let outcome = drive(&client, &console, &final_console, &args.out).await;
    if outcome.is_err() {
        // The page as it was when the check failed, for the report.
        let _ = screenshot(&client, &args.out, "console-failure.png").await;
    }
    let _ = client.close().await;
    outcome
}

/// Starts `vodsnap serve {flags}` on a free port and returns it with the
/// console link its banner prints.
async fn start_vodsnap(bin: &Path, scratch: &Path, flags: &[&str]) -> Result<(Child, String)> {
    let images = scratch.join("images");
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--storage"])
        .arg(format!("file://{}", images.display()))
        .args(flags)
        // Keys a developer's environment may set do not change the demo.
        .env_remove("DATABASE_URL")
        .env_remove("VODSNAP_PUBLIC_BASE_URL")
        .env_remove("VODSNAP_STORAGE")
        .env_remove("VODSNAP_RETENTION")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("failed to start {}", bin.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let console = tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await? {
            if let Some(link) = line.strip_prefix("console: ") {
                return Ok(link.trim().to_owned());
            }
        }
        bail!("vodsnap exited without printing a console link")
    })
    .await
    .context("vodsnap printed no console link in time")??;
    // Keep draining stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    if !console.contains("/console#") || !console.contains("token=") {
        bail!("the banner's console link carries no token in its fragment: {console}");
    }
    Ok((child, console))
}

/// Starts chromedriver on a port of its choosing and returns its URL.
async fn start_chromedriver(bin: &Path) -> Result<(Child, String)> {
    let mut child = Command::new(bin)
        .arg("--port=0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("failed to start {}", bin.display()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let port = tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                return Ok(rest.trim_end_matches('.').trim().to_owned());
            }
        }
        bail!("chromedriver exited without saying its port")
    })
    .await
    .context("chromedriver did not start in time")??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, format!("http://127.0.0.1:{port}")))
}

async fn connect(driver: &str, chromium: &Path, profile: &Path) -> Result<Client> {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": chromium.to_string_lossy(),
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(driver)
        .await
        .context("failed to open a Chromium session through chromedriver")
}

/// Polls `predicate` (a JavaScript expression) until it is true.
async fn until(client: &Client, what: &str, predicate: &str) -> Result<()> {
    let started = Instant::now();
    let script = format!("return Boolean({predicate});");
    loop {
        if client.execute(&script, vec![]).await? == Value::Bool(true) {
            return Ok(());
        }
        if started.elapsed() > DEADLINE {
            let status = client
                .execute(
                    "return ['results-status', 'snapshots-status', 'delete-outcome', \
                     'bin-note', 'bin-status', 'bin-outcome'] \
                     .map(id => document.getElementById(id)?.textContent).join(' | ');",
                    vec![],
                )
                .await
                .unwrap_or_default();
            bail!("waited {DEADLINE:?} for {what}; the page says: {status}");
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn js(client: &Client, script: &str) -> Result<Value> {
    Ok(client.execute(script, vec![]).await?)
}

async fn screenshot(client: &Client, out: &Path, name: &str) -> Result<()> {
    let png = client.screenshot().await?;
    let path = out.join(name);
    std::fs::write(&path, png).with_context(|| format!("failed to write {}", path.display()))?;
    println!("screenshot: {}", path.display());
    Ok(())
}

const ROWS: &str = "document.querySelectorAll('#results-table tbody tr').length";
const BIN_ROWS: &str = "document.querySelectorAll('#bin-table tbody tr').length";

/// The task ids the table `table` lists, in order, as one string.
fn listed(table: &str) -> String {
    format!(
        "[...document.querySelectorAll('#{table} tbody tr')].map(r => r.dataset.task).join(',')"
    )
}

/// The status of a `fetch` of `url` from the page (no cache).
async fn fetch_status(client: &Client, url: &str) -> Result<Value> {
    Ok(client
        .execute_async(
            "const [url, done] = arguments; \
             fetch(url, {cache: 'no-store'}).then(r => done(r.status), e => done(String(e)));",
            vec![json!(url)],
        )
        .await?)
}

async fn click(client: &Client, id: &str) -> Result<()> {
    press(client, Locator::Id(id), None).await
}

/// Space on a checkbox: the keyboard's way to toggle it.
async fn tick(client: &Client, id: &str) -> Result<()> {
    press(client, Locator::Id(id), Some(" ")).await
}

/// Finds an element and clicks it (or types `keys` into it), finding it
/// again when the page replaced it in between: a list that refreshes
/// renders new rows, and an element found a moment before is then stale.
async fn press(client: &Client, locator: Locator<'_>, keys: Option<&str>) -> Result<()> {
    let mut attempts = 0;
    loop {
        let element = client.find(locator).await?;
        let done = match keys {
            Some(keys) => element.send_keys(keys).await,
            None => element.click().await,
        };
        match done {
            Err(e) if e.is_stale_element_reference() && attempts < 10 => {
                attempts += 1;
                tokio::time::sleep(POLL).await;
            }
            other => return Ok(other?),
        }
    }
}

async fn drive(client: &Client, console: &str, final_console: &str, out: &Path) -> Result<()> {
    // Sign in through the banner's link: the token leaves the address bar.
    client.goto(console).await?;
    until(
        client,
        "the signed-in console",
        "!document.getElementById('app').hidden",
    )
    .await?;
    let url = client.current_url().await?;
    if url.fragment().is_some() || url.query().is_some() {
        bail!("the token stayed in the address bar: {url}");
    }
    if js(
        client,
        "return sessionStorage.getItem('vodsnap.token') !== null;",
    )
    .await?
        != Value::Bool(true)
    {
        bail!("the token is not in session storage");
    }
    until(
        client,
        "the cleanup backlog",
        "document.querySelectorAll('#backlog-figures dd').length === 6",
    )
    .await?;

    // Filter by asset with the keyboard: type, then Enter submits.
    let filter = client.find(Locator::Id("asset-filter")).await?;
    filter
        .send_keys(&format!("demo_asset{}", char::from(Key::Enter)))
        .await?;
    // The unfiltered list has the same three rows: wait for the filtered
    // answer, or its rendering replaces the rows found below.
    until(
        client,
        "the demo asset's three tasks",
        &format!(
            "{ROWS} === 3 && document.getElementById('results-status')\
               .textContent.includes('for asset demo_asset')"
        ),
    )
    .await?;

    // Every row shows its task's first snapshot, rendered.
    until(
        client,
        "a first-snapshot picture in each of the three rows",
        "(() => { const imgs = [...document.querySelectorAll('#results-table tbody img.preview')]; \
           return imgs.length === 3 && imgs.every(i => i.complete && i.naturalWidth > 0); })()",
    )
    .await?;
    screenshot(client, out, "console-list.png").await?;

    // Open a task: every snapshot image renders.
    press(
        client,
        Locator::Css("button[data-open='demo_task_1']"),
        None,
    )
    .await?;
    until(
        client,
        "five rendered snapshots",
        "(() => { const imgs = [...document.querySelectorAll('#snapshot-grid img')]; \
           return imgs.length === 5 && imgs.every(i => i.complete && i.naturalWidth > 0); })()",
    )
    .await?;
    // The demo's pictures show their offsets: no two of them are alike.
    let distinct = js(
        client,
        "const canvas = document.createElement('canvas'); const seen = new Set(); \
         for (const img of document.querySelectorAll('#snapshot-grid img')) { \
           canvas.width = img.naturalWidth; canvas.height = img.naturalHeight; \
           canvas.getContext('2d').drawImage(img, 0, 0); seen.add(canvas.toDataURL()); } \
         return seen.size;",
    )
    .await?;
    if distinct != json!(5) {
        bail!("the five demo snapshots should be five different pictures, found {distinct}");
    }
    let image = js(
        client,
        "return document.querySelector('#snapshot-grid img').src;",
    )
    .await?;
    let image = image.as_str().context("an image has a src")?.to_owned();
    if !image.contains("/snapshots/") || !image.contains("sig=") {
        bail!("the snapshot link is not a signed vodsnap link: {image}");
    }
    screenshot(client, out, "console-snapshots.png").await?;

    // Select two tasks with the keyboard (space toggles a checkbox).
    for task in ["demo_task_1", "demo_task_2"] {
        tick(client, &format!("select-{task}")).await?;
    }
    until(
        client,
        "two selected tasks",
        "document.getElementById('selection-info').textContent.startsWith('2 selected')",
    )
    .await?;

    // Preview: a dry run where the server offers one, else "no preview";
    // either way nothing is gone.
    click(client, "preview-delete").await?;
    until(
        client,
        "the delete preview",
        "document.getElementById('no-preview') !== null || \
         (document.querySelector('#delete-results caption')?.textContent ?? '').startsWith('Preview')",
    )
    .await?;
    screenshot(client, out, "console-preview.png").await?;
    let rows = js(client, &format!("return {ROWS};")).await?;
    if rows != json!(3) {
        bail!("the preview changed the list: {rows} rows");
    }

    // Delete: per-item results, and the two tasks are gone.
    click(client, "confirm-delete").await?;
    until(
        client,
        "two DELETED results",
        "document.querySelectorAll('#delete-results tr[data-status=DELETED]').length === 2",
    )
    .await?;
    until(
        client,
        "only demo_task_3 left",
        &format!("{ROWS} === 1 && document.querySelector('#results-table tbody tr').dataset.task === 'demo_task_3'"),
    )
    .await?;
    screenshot(client, out, "console-deleted.png").await?;

    // A deleted task's image link answers 404 at once.
    let status = fetch_status(client, &image).await?;
    if status != json!(404) {
        bail!("a deleted task's image answered {status}, not 404");
    }

    recycle_bin(client, &image, out).await?;

    // A narrow screen: nothing wider than the window.
    client.set_window_size(390, 844).await?;
    until(
        client,
        "a page as narrow as a phone",
        "document.documentElement.scrollWidth <= window.innerWidth",
    )
    .await?;
    screenshot(client, out, "console-narrow.png").await?;

    // A server without --retention says so, and shows no empty bin.
    client.set_window_size(1280, 900).await?;
    client.goto(final_console).await?;
    until(
        client,
        "the console of the server without a recycle bin",
        "!document.getElementById('app').hidden",
    )
    .await?;
    until(
        client,
        "the note that there is no recycle bin",
        "document.getElementById('bin-note').dataset.retention === '0' && \
         document.getElementById('bin-note').textContent.includes('without a recycle bin') && \
         document.getElementById('bin-view').hidden",
    )
    .await?;
    js(
        client,
        "document.getElementById('bin').scrollIntoView(); return null;",
    )
    .await?;
    screenshot(client, out, "console-no-recycle-bin.png").await?;
    Ok(())
}

/// The recycle bin, after demo tasks 1 and 2 were deleted (and the image
/// `image` of task 1 answers 404).
async fn recycle_bin(client: &Client, image: &str, out: &Path) -> Result<()> {
    // Both deleted tasks wait in the bin, which says how long it keeps them.
    until(
        client,
        "demo tasks 1 and 2 in the recycle bin, kept for an hour",
        &format!(
            "{} === 'demo_task_1,demo_task_2' && \
             document.getElementById('bin-note').dataset.retention === '3600' && \
             document.getElementById('bin-note').textContent.includes('1 hour')",
            listed("bin-table")
        ),
    )
    .await?;

    // Restore task 1: RESTORED, out of the bin, listed again, and its image
    // is served again (the bin kept it).
    tick(client, "bin-select-demo_task_1").await?;
    click(client, "bin-restore").await?;
    until(
        client,
        "demo_task_1 RESTORED",
        "document.querySelector('#bin-results tr[data-task=demo_task_1]')?.dataset.status === 'RESTORED'",
    )
    .await?;
    until(
        client,
        "demo_task_1 listed again, and gone from the bin",
        &format!(
            "{} === 'demo_task_1,demo_task_3' && {} === 'demo_task_2'",
            listed("results-table"),
            listed("bin-table")
        ),
    )
    .await?;
    let status = fetch_status(client, image).await?;
    if status != json!(200) {
        bail!("a restored task's image answered {status}, not 200");
    }

    // Delete task 3 too: it joins task 2 in the bin.
    tick(client, "select-demo_task_3").await?;
    click(client, "confirm-delete").await?;
    until(
        client,
        "demo tasks 2 and 3 in the recycle bin",
        &format!("{} === 'demo_task_2,demo_task_3'", listed("bin-table")),
    )
    .await?;

    // Select both; meanwhile another operator restores task 3 through the
    // API, so the console's purge finds it live.
    tick(client, "bin-select-demo_task_2").await?;
    tick(client, "bin-select-demo_task_3").await?;
    let behind = client
        .execute_async(
            "const done = arguments[0]; \
             const project = encodeURIComponent(sessionStorage.getItem('vodsnap.project')); \
             fetch(`/v1/${project}/asset/thumbnails/restore?task_id=demo_task_3`, \
               {method: 'POST', headers: {'X-Auth-Token': sessionStorage.getItem('vodsnap.token')}}) \
             .then(r => r.json()).then(b => done(b.restore_result_array[0].status), e => done(String(e)));",
            vec![],
        )
        .await?;
    if behind != json!("RESTORED") {
        bail!("the restore behind the console's back answered {behind}");
    }

    // Purge asks first; Cancel changes nothing.
    click(client, "bin-purge").await?;
    until(
        client,
        "the purge confirmation naming both tasks",
        "!document.getElementById('bin-confirm').hidden && \
         document.getElementById('bin-confirm-text').textContent.includes('demo_task_2, demo_task_3')",
    )
    .await?;
    screenshot(client, out, "console-purge-confirm.png").await?;
    click(client, "bin-purge-cancel").await?;
    until(
        client,
        "the confirmation gone, nothing purged",
        &format!(
            "document.getElementById('bin-confirm').hidden && \
             document.getElementById('bin-outcome').childElementCount === 0 && {BIN_ROWS} === 2"
        ),
    )
    .await?;

    // Purge for good: task 2 PURGED; task 3 FAILED, live, with its error.
    click(client, "bin-purge").await?;
    click(client, "bin-purge-confirm").await?;
    until(
        client,
        "demo_task_2 PURGED and demo_task_3 FAILED as live",
        "document.querySelector('#bin-results tr[data-task=demo_task_2]')?.dataset.status === 'PURGED' && \
         document.querySelector('#bin-results tr[data-task=demo_task_3]')?.dataset.status === 'FAILED' && \
         document.querySelector('#bin-results tr[data-task=demo_task_3]').textContent.includes('VODSNAP.0412: ')",
    )
    .await?;
    until(
        client,
        "an empty recycle bin",
        &format!(
            "{BIN_ROWS} === 0 && \
             document.getElementById('bin-status').textContent === 'The recycle bin is empty.'"
        ),
    )
    .await?;
    screenshot(client, out, "console-recycle-bin.png").await?;
    Ok(())
}
