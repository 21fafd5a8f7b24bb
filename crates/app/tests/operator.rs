//! Issue 27 on the real binary: every command that uses the database
//! checks its schema first (missing, behind, ahead of the binary), and the
//! common failures of a first hour print one error, each layer's context
//! once, without PostgreSQL's source positions, and say what to do.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test code: a failed expectation is a failed test"
)]

mod support;

use std::process::Output;

use sqlx::Connection as _;
use support::db::TestDb;
use support::server::{Secrets, Serve, vodsnap, vodsnap_output};
use support::storage::{FileStorage, Moto};

/// `vodsnap migrate`'s and the other commands' status when the schema is
/// the problem (crates/app/src/report.rs).
const EXIT_SCHEMA: i32 = 3;
const EXIT_FAILURE: i32 = 1;

fn env(url: &str, keys: &str) -> Vec<(String, String)> {
    vec![
        ("DATABASE_URL".to_owned(), url.to_owned()),
        ("VODSNAP_CREDENTIAL_KEYS".to_owned(), keys.to_owned()),
    ]
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The lines a failed command printed for a person: its `error:` line and
/// what follows (logs before them are the command's own).
fn complaint(output: &Output) -> String {
    let text = stderr(output);
    let start = text.find("error: ").unwrap_or_else(|| {
        panic!("no `error:` line in {text:?}");
    });
    text[start..].trim_end().to_owned()
}

/// A failure's common shape: the status, one `error:` line (and at most a
/// `hint:` line), no PostgreSQL source position, no layer said twice.
fn assert_failed(output: &Output, status: i32, wanted: &[&str]) -> String {
    let text = complaint(output);
    assert_eq!(output.status.code(), Some(status), "{text}");
    assert!(!text.contains(" at line "), "a source position: {text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.len() == 1 || (lines.len() == 2 && lines[1].starts_with("hint: ")),
        "one error line and at most one hint: {text}"
    );
    let layers: Vec<&str> = lines[0].split(": ").collect();
    for (i, layer) in layers.iter().enumerate().skip(1) {
        assert_ne!(layers[i - 1], *layer, "a layer said twice: {text}");
    }
    for part in wanted {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
    text
}

async fn sql(db: &TestDb, statement: &'static str) {
    let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
    sqlx::raw_sql(statement).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// Every database command, as an operator would first run it.
const COMMANDS: &[&[&str]] = &[
    &["credentials", "create", "--project", "p1"],
    &["credentials", "list"],
    &["cleanup", "status"],
    &["cleanup", "parked"],
    &["cleanup", "retry"],
    &["audit", "--project", "p1"],
    &["webhooks", "list", "--project", "p1"],
];

#[tokio::test]
async fn without_the_schema_every_command_names_vodsnap_migrate() {
    // Arrange
    let db = TestDb::create().await;
    let secrets = Secrets::generate().await;
    let env = env(db.url(), &secrets.credential_keys);

    for command in COMMANDS {
        // Act
        let output = vodsnap_output(command, &env).await;

        // Assert
        let text = assert_failed(
            &output,
            EXIT_SCHEMA,
            &["has no vodsnap schema", "run `vodsnap migrate`"],
        );
        assert_eq!(text.lines().count(), 1, "{command:?}: {text}");
    }
    // `serve --no-migrate` follows the same rule; `serve` migrates.
    let output = vodsnap_output(&["serve", "--no-migrate", "--listen", "127.0.0.1:0"], &env).await;
    assert_failed(&output, EXIT_SCHEMA, &["run `vodsnap migrate`"]);

    // And after `vodsnap migrate`, the README's order works.
    assert!(vodsnap(&["migrate"], &env).await.contains("up to date"));
    assert!(
        vodsnap(&["credentials", "create", "--project", "p1"], &env)
            .await
            .starts_with("AK=")
    );
}

#[tokio::test]
async fn a_database_behind_the_binary_needs_vodsnap_migrate() {
    // Arrange: migrated, then the newest migration unrecorded, as if this
    // binary were an upgrade not yet migrated.
    let db = TestDb::create().await;
    let secrets = Secrets::generate().await;
    let env = env(db.url(), &secrets.credential_keys);
    vodsnap(&["migrate"], &env).await;
    sql(
        &db,
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
    )
    .await;

    // Act
    let output = vodsnap_output(&["credentials", "list"], &env).await;

    // Assert
    assert_failed(
        &output,
        EXIT_SCHEMA,
        &["is behind this vodsnap", "run `vodsnap migrate`"],
    );
}

#[tokio::test]
async fn an_older_binary_runs_against_additive_newer_migrations_only() {
    // Arrange: a newer binary applied a migration this one does not know.
    let db = TestDb::create().await;
    let secrets = Secrets::generate().await;
    let env = env(db.url(), &secrets.credential_keys);
    vodsnap(&["migrate"], &env).await;
    sql(
        &db,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'add a column', true, '\\x00', 1)",
    )
    .await;

    // Act
    let additive = vodsnap_output(&["credentials", "list"], &env).await;
    let migrate = vodsnap_output(&["migrate"], &env).await;

    // Assert: it runs, and says what it found.
    assert!(additive.status.success(), "{}", stderr(&additive));
    assert!(
        stderr(&additive).contains("99990101000000 add a column"),
        "{}",
        stderr(&additive)
    );
    assert!(migrate.status.success(), "{}", stderr(&migrate));

    // `serve` too starts on it, without migrating (sqlx alone would refuse
    // a database with a migration it does not know).
    let storage = FileStorage::new();
    let mut server = Serve::new(&db, &secrets, &storage.url())
        .flag("--no-migrate")
        .start()
        .await;
    assert!(server.ready().await);
    let mut restarted = Serve::new(&db, &secrets, &storage.url()).start().await;
    assert!(restarted.ready().await);
    assert!(
        restarted
            .stderr_lines()
            .iter()
            .any(|l| l.contains("99990101000000 add a column")),
        "the warning names the unknown migration"
    );
    server.terminate().await;
    restarted.terminate().await;

    // Arrange: and then one marked breaking.
    sql(
        &db,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990102000000, 'drop a column breaking', true, '\\x00', 1)",
    )
    .await;

    // Act
    let breaking = vodsnap_output(&["credentials", "list"], &env).await;

    // Assert
    assert_failed(
        &breaking,
        EXIT_SCHEMA,
        &[
            "99990102000000 drop a column breaking",
            "run the newer vodsnap",
        ],
    );
}

#[tokio::test]
async fn an_unreachable_database_names_the_address_to_check() {
    let port = vodsnap_test_support::free_port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/vodsnap");
    let output = vodsnap_output(&["cleanup", "status"], &env(&url, "unused")).await;
    let text = assert_failed(
        &output,
        EXIT_FAILURE,
        &[
            &format!("cannot connect to the database postgres@127.0.0.1:{port}/vodsnap"),
            "refused",
            "hint: check the host and port in --database-url (DATABASE_URL)",
        ],
    );
    assert!(!text.contains("pool timed out"), "{text}");
}

#[tokio::test]
async fn a_refused_user_names_the_user_and_password_to_check() {
    let db = TestDb::create().await;
    let secrets = Secrets::generate().await;
    let mut url = url::Url::parse(db.url()).unwrap();
    url.set_username("no_such_role_i27").unwrap();
    url.set_password(Some("wrong")).unwrap();
    let output = vodsnap_output(
        &["cleanup", "status"],
        &env(url.as_str(), &secrets.credential_keys),
    )
    .await;
    let text = assert_failed(
        &output,
        EXIT_FAILURE,
        &["hint: check the user and password in --database-url (DATABASE_URL)"],
    );
    // The server's own words: with trust authentication it names the
    // missing role; with passwords (the CI's container) it refuses the
    // password first.
    assert!(
        text.contains("role \"no_such_role_i27\" does not exist")
            || text.contains("password authentication failed for user \"no_such_role_i27\""),
        "the refusal is not named: {text}"
    );
    assert!(!text.contains("wrong"), "the password printed: {text}");
}

#[tokio::test]
async fn missing_or_wrong_credential_keys_say_how_to_make_one() {
    // Arrange
    let db = TestDb::create().await;
    let secrets = Secrets::generate().await;
    let good = env(db.url(), &secrets.credential_keys);
    vodsnap(&["migrate"], &good).await;
    vodsnap(&["credentials", "create", "--project", "p1"], &good).await;
    let other_key = vodsnap(&["credentials", "keygen", "--id", "k2"], &[])
        .await
        .trim()
        .to_owned();
    let keygen = "hint: make a key with `vodsnap credentials keygen`";

    // Act / Assert: none, malformed, and one that did not seal the SKs.
    let none = vodsnap_output(
        &["credentials", "list"],
        &[("DATABASE_URL".to_owned(), db.url().to_owned())],
    )
    .await;
    assert_failed(&none, EXIT_FAILURE, &["--credential-keys", keygen]);
    let malformed = vodsnap_output(&["credentials", "list"], &env(db.url(), "k1")).await;
    assert_failed(
        &malformed,
        EXIT_FAILURE,
        &["invalid --credential-keys", "ID:BASE64", keygen],
    );
    let wrong = vodsnap_output(&["credentials", "reencrypt"], &env(db.url(), &other_key)).await;
    assert_failed(
        &wrong,
        EXIT_FAILURE,
        &[
            "sealed with key 'k1', which is not configured",
            "hint: --credential-keys (VODSNAP_CREDENTIAL_KEYS) must hold",
        ],
    );
}

#[tokio::test]
async fn an_unwritable_storage_stops_start_up_naming_storage() {
    let output = vodsnap_output(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--storage",
            "file:///dev/null/images",
        ],
        &[],
    )
    .await;
    assert_failed(
        &output,
        EXIT_FAILURE,
        &[
            "/dev/null/images",
            "hint: check --storage (VODSNAP_STORAGE)",
        ],
    );
}

#[tokio::test]
async fn a_bucket_that_does_not_exist_stops_start_up_naming_storage() {
    let moto = Moto::start().await;
    let output = vodsnap_output(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--storage",
            "s3://no-such-bucket",
        ],
        &Moto::env_for(moto.addr),
    )
    .await;
    let text = assert_failed(
        &output,
        EXIT_FAILURE,
        &[
            "cannot write to the image storage s3://no-such-bucket",
            "NoSuchBucket (The specified bucket does not exist)",
            "hint: check --storage (VODSNAP_STORAGE)",
        ],
    );
    assert!(!text.contains("<?xml"), "{text}");
}
