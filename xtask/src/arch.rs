//! Architecture check: the inner crates must not depend, even indirectly, on
//! runtime or infrastructure crates.
//!
//! Each rule names a package and the crates that must not appear in its normal
//! (non-dev, non-build) dependency tree, as printed by
//! `cargo tree -p <package> -e normal --prefix none`.

use anyhow::{Result, bail};

use crate::proc::{self, Env};
use crate::workspace::Workspace;

/// A package and the crates its normal dependency tree must not contain.
#[derive(Debug)]
struct Rule {
    package: &'static str,
    forbidden: &'static [&'static str],
}

const RULES: &[Rule] = &[
    Rule {
        package: "vodsnap-domain",
        forbidden: &[
            "tokio",
            "axum",
            "sqlx",
            "serde_json",
            "hyper",
            "reqwest",
            "async-trait",
        ],
    },
    Rule {
        package: "vodsnap-ports",
        forbidden: &["axum", "sqlx", "hyper"],
    },
    // The use cases: domain and ports only, no framework, no adapter.
    Rule {
        package: "vodsnap-service",
        forbidden: &[
            "axum",
            "sqlx",
            "hyper",
            "object_store",
            "vodsnap-adapter-http",
            "vodsnap-adapter-memory",
            "vodsnap-adapter-postgres",
            "vodsnap-adapter-objects",
            "vodsnap-adapter-webhooks",
            "reqwest",
        ],
    },
    // No adapter depends on another adapter; only adapter-http (with app
    // and the bench) knows axum.
    Rule {
        package: "vodsnap-adapter-memory",
        forbidden: &[
            "axum",
            "sqlx",
            "vodsnap-adapter-http",
            "vodsnap-adapter-postgres",
            "vodsnap-adapter-objects",
            "vodsnap-adapter-webhooks",
        ],
    },
    Rule {
        package: "vodsnap-adapter-postgres",
        forbidden: &[
            "axum",
            "vodsnap-adapter-http",
            "vodsnap-adapter-memory",
            "vodsnap-adapter-objects",
            "vodsnap-adapter-webhooks",
        ],
    },
    Rule {
        package: "vodsnap-adapter-objects",
        forbidden: &[
            "axum",
            "sqlx",
            "vodsnap-adapter-http",
            "vodsnap-adapter-memory",
            "vodsnap-adapter-postgres",
            "vodsnap-adapter-webhooks",
        ],
    },
    Rule {
        package: "vodsnap-adapter-http",
        forbidden: &[
            "sqlx",
            "vodsnap-adapter-memory",
            "vodsnap-adapter-postgres",
            "vodsnap-adapter-objects",
            "vodsnap-adapter-webhooks",
        ],
    },
    // The webhook sender: reqwest (and so hyper's client), no server
    // framework, no database, no other adapter.
    Rule {
        package: "vodsnap-adapter-webhooks",
        forbidden: &[
            "axum",
            "sqlx",
            "object_store",
            "vodsnap-adapter-http",
            "vodsnap-adapter-memory",
            "vodsnap-adapter-postgres",
            "vodsnap-adapter-objects",
        ],
    },
    // The signer is for any Rust client: `http` types, no framework, no runtime.
    Rule {
        package: "vodsnap-sdk-signature",
        forbidden: &["axum", "tokio", "hyper", "sqlx", "vodsnap-domain"],
    },
    // xtask links it: starting a server must not bring a runtime or a database client.
    Rule {
        package: "vodsnap-server-process",
        forbidden: &["tokio", "sqlx", "axum", "hyper"],
    },
    // Any crate's tests may use it: no runtime, no driver, no adapter.
    Rule {
        package: "vodsnap-test-support",
        forbidden: &["tokio", "sqlx", "axum", "hyper", "vodsnap-service"],
    },
    // The load generator signs with the signature crate, not through the server's adapter.
    Rule {
        package: "vodsnap-bench",
        forbidden: &["vodsnap-adapter-http"],
    },
];

/// Checks every rule whose package exists; fails listing every violation.
pub fn check(ws: &Workspace, env: &Env) -> Result<()> {
    let mut violations = Vec::new();
    for rule in RULES {
        if !ws.has_package(rule.package) {
            println!(
                "architecture: {} does not exist (yet): not checked",
                rule.package
            );
            continue;
        }
        let mut cmd = env.cargo();
        cmd.args([
            "tree",
            "-p",
            rule.package,
            "-e",
            "normal",
            "--prefix",
            "none",
        ]);
        println!("$ {}", proc::display(&cmd));
        let tree = proc::output(&mut cmd)?;
        let found = forbidden_in(&tree, rule.forbidden);
        if found.is_empty() {
            println!(
                "architecture: {} has none of [{}] in its normal dependencies: ok",
                rule.package,
                rule.forbidden.join(", ")
            );
        } else {
            println!(
                "architecture: {} depends on forbidden crate(s): {}",
                rule.package,
                found.join(", ")
            );
            violations.push(format!("{} -> {}", rule.package, found.join(", ")));
        }
    }
    if ws.has_package(TEST_SUPPORT) {
        let mut cmd = env.cargo();
        cmd.args([
            "tree",
            "--workspace",
            "-i",
            TEST_SUPPORT,
            "-e",
            "normal,build",
            "--prefix",
            "none",
        ]);
        println!("$ {}", proc::display(&cmd));
        let users = non_dev_users(&proc::output(&mut cmd)?);
        if users.is_empty() {
            println!("architecture: {TEST_SUPPORT} is only ever a dev-dependency: ok");
        } else {
            println!(
                "architecture: {TEST_SUPPORT} is a normal or build dependency of: {}",
                users.join(", ")
            );
            violations.push(format!("{} -> {TEST_SUPPORT}", users.join(", ")));
        }
    }
    if !violations.is_empty() {
        bail!(
            "forbidden dependencies (see `cargo tree -i <crate> -p <package> -e normal`): {}",
            violations.join("; ")
        );
    }
    Ok(())
}

/// The crate for tests only: nothing may depend on it but through
/// `[dev-dependencies]`.
const TEST_SUPPORT: &str = "vodsnap-test-support";

/// The packages that depend on [`TEST_SUPPORT`] other than for tests, from
/// `cargo tree -i vodsnap-test-support -e normal,build --prefix none`
/// (the crate itself first, then whatever reaches it on those edges).
fn non_dev_users(tree: &str) -> Vec<String> {
    let mut users: Vec<String> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != TEST_SUPPORT)
        .map(str::to_owned)
        .collect();
    users.sort();
    users.dedup();
    users
}

/// The forbidden crate names that appear as a package name in `tree`
/// (one package per line, name first, as `--prefix none` prints them).
fn forbidden_in(tree: &str, forbidden: &[&str]) -> Vec<String> {
    let mut found: Vec<String> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| forbidden.contains(name))
        .map(str::to_owned)
        .collect();
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exact_crate_names_only() {
        let tree = "vodsnap-domain v0.1.0 (/repo/crates/domain)\n\
                    thiserror v2.0.12\n\
                    tokio-macros v2.5.0\n\
                    serde_json v1.0.140\n\
                    serde_json v1.0.140 (*)\n";
        assert_eq!(
            forbidden_in(tree, &["tokio", "serde_json"]),
            vec!["serde_json".to_owned()]
        );
        assert!(forbidden_in(tree, &["axum"]).is_empty());
    }

    #[test]
    fn test_support_reached_on_a_normal_edge_names_the_user() {
        let alone = "vodsnap-test-support v0.1.0 (/repo/crates/test-support)\n";
        assert!(non_dev_users(alone).is_empty());
        let used = "vodsnap-test-support v0.1.0 (/repo/crates/test-support)\n\
                    vodsnap-app v0.1.0 (/repo/crates/app)\n";
        assert_eq!(non_dev_users(used), vec!["vodsnap-app".to_owned()]);
    }
}
