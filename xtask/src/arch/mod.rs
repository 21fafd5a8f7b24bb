//! The architecture check, the first step of `cargo xtask test`: the
//! invariants of docs/ARCHITECTURE.md that a program can see.
//!
//! - `rules`: each workspace crate depends only on the workspace crates its
//!   rule lists (an allow-list; a crate without a rule fails), and its
//!   normal dependency tree holds none of the external crates its rule
//!   forbids (`cargo tree -p <package> -e normal --prefix none`);
//! - `code_map`: ARCHITECTURE.md's code map names every crate and port trait;
//! - `stores`: the store adapters construct no outcome and no error code;
//! - `circles`: no files of a crate import each other in a loop.

mod circles;
mod code_map;
mod rules;
mod stores;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::proc::{self, Env};
use crate::workspace::Workspace;

/// Runs every check; fails listing every violation.
pub fn check(ws: &Workspace, env: &Env) -> Result<()> {
    let mut failed = Vec::new();
    let mut report = |what: &str, found: Vec<String>| {
        if found.is_empty() {
            println!("architecture: {what}: ok");
        } else {
            println!("architecture: {what}: {} violation(s)", found.len());
            for f in &found {
                println!("  {f}");
            }
            failed.push(format!("{what} ({})", found.len()));
        }
    };

    let mut dependencies = rules::inconsistencies(rules::RULES);
    dependencies.extend(rules::violations(rules::RULES, &ws.packages));
    report("workspace dependencies (allow-list)", dependencies);
    report(
        "forbidden external crates",
        forbidden_externals(ws, env, rules::RULES)?,
    );
    report("code map of docs/ARCHITECTURE.md", code_map::check(ws)?);
    report(
        "stores construct no outcome and no error code",
        stores::check(ws)?,
    );
    report("no files import each other in a loop", circles::check(ws)?);

    if !failed.is_empty() {
        bail!("architecture check failed: {}", failed.join("; "));
    }
    Ok(())
}

/// For each rule that forbids external crates, the ones found in its
/// package's normal dependency tree, as `package -> crate, ...`.
fn forbidden_externals(ws: &Workspace, env: &Env, rules: &[rules::Rule]) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for rule in rules {
        if rule.forbidden.is_empty() || !ws.has_package(rule.package) {
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
        let names = forbidden_in(&tree, rule.forbidden);
        if !names.is_empty() {
            found.push(format!(
                "{} -> {} (see `cargo tree -p {} -e normal -i <crate>`)",
                rule.package,
                names.join(", "),
                rule.package
            ));
        }
    }
    Ok(found)
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

/// The `.rs` files under `dir`, recursively, in a stable order.
fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
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
}
