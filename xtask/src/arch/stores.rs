//! Stores decide nothing: the store adapters' code (`src/`, not their tests)
//! constructs no outcome of a call and writes no error code. Outcomes
//! (`ItemOutcome`, `BinOutcome`, their `DeleteStatus` and `ItemError`, the
//! audited `AuditStatus`, the `OutageAnswer`) are the domain's decisions and
//! the service hands them to the store; the `VOD.`/`VODSNAP.` codes are
//! adapter-http's. Reading one back from a stored string (`::parse`) is
//! reading, not deciding, and is allowed.
//!
//! A textual check, on purpose: a constructor call or a struct literal of
//! these names, or a code's string literal, in a line that is not a comment,
//! before the file's `#[cfg(test)]` module.

use std::fs;

use anyhow::{Context, Result};

use super::rust_files;
use crate::workspace::Workspace;

/// The store adapters.
const STORES: &[&str] = &["vodsnap-adapter-memory", "vodsnap-adapter-postgres"];

/// The domain's outcome types: a store names them only to pass them on.
const OUTCOMES: &[&str] = &[
    "ItemOutcome",
    "BinOutcome",
    "DeleteStatus",
    "ItemError",
    "AuditStatus",
    "OutageAnswer",
];

/// The prefixes of the API's error codes, as string literals.
const CODES: &[&str] = &["\"VOD.", "\"VODSNAP."];

/// Every place, as `path:line: text`, where a store's `src/` constructs an
/// outcome or writes an error code.
pub fn check(ws: &Workspace) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for package in ws
        .packages
        .iter()
        .filter(|p| STORES.contains(&p.name.as_str()))
    {
        let src = package.dir.join("src");
        if !src.is_dir() {
            continue;
        }
        for file in rust_files(&src)? {
            let text =
                fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let shown = file.strip_prefix(&ws.root).unwrap_or(&file).display();
            for (line, code) in decisions(&text) {
                found.push(format!("{shown}:{line}: {code}"));
            }
        }
    }
    Ok(found)
}

/// The lines (1-based, with their text) of `source` that construct an
/// outcome or write an error code, up to its `#[cfg(test)]` module.
fn decisions(source: &str) -> Vec<(usize, String)> {
    source
        .lines()
        .enumerate()
        .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
        .filter(|(_, l)| constructs(l))
        .map(|(i, l)| (i + 1, l.trim().to_owned()))
        .collect()
}

/// Whether `line` constructs an outcome (`Name::something` other than
/// `Name::parse`, or a `Name { .. }` literal that is not a type's signature)
/// or holds an error code's string literal; a comment line does not.
fn constructs(line: &str) -> bool {
    if line.trim_start().starts_with("//") {
        return false;
    }
    if CODES.iter().any(|c| line.contains(c)) {
        return true;
    }
    OUTCOMES.iter().any(|name| {
        line.match_indices(name).any(|(at, _)| {
            let before = &line[..at];
            let after = &line[at + name.len()..];
            let whole_word = !before.ends_with(|c: char| c.is_alphanumeric() || c == '_')
                && !after.starts_with(|c: char| c.is_alphanumeric() || c == '_');
            if !whole_word {
                return false;
            }
            if let Some(path) = after.strip_prefix("::") {
                return !path.starts_with("parse(");
            }
            let declares = ["->", "for", "impl", "struct", "enum", ":"]
                .iter()
                .any(|k| before.trim_end().ends_with(k));
            after.trim_start().starts_with('{') && !declares
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_literals_and_codes_are_decisions() {
        for line in [
            "ItemOutcome::deleted(task, asset)",
            "out.push(vodsnap_domain::ItemOutcome::failed(t, None, e));",
            "let o = BinOutcome { task_id, asset_id, error: None };",
            "error: Some(ItemError::UnknownTask),",
            "if status == DeleteStatus::Deleted {",
            "AuditStatus::Purged",
            "return OutageAnswer::Unknow;",
            "code: \"VOD.10062\".to_owned(),",
            "format!(\"VODSNAP.0410 {x}\")",
        ] {
            assert!(constructs(line), "{line}");
        }
    }

    #[test]
    fn passing_on_reading_back_and_naming_types_are_not() {
        for line in [
            "use vodsnap_domain::{AuditStatus, ItemError, ItemOutcome};",
            "ItemError::parse(raw).ok_or_else(|| UnknownValue(raw.to_owned()))",
            "fn outcomes(&self) -> Vec<ItemOutcome> {",
            "fn first(&self) -> ItemOutcome {",
            "impl From<Row> for AuditStatus {",
            "outcomes: Vec<ItemOutcome>,",
            "let o: ItemOutcome = plan.outcome();",
            "StoredOutcome { status: o.status().as_str() }",
            "// ItemOutcome::deleted is the domain's",
        ] {
            assert!(!constructs(line), "{line}");
        }
    }

    #[test]
    fn reports_lines_before_the_test_module_only() {
        let src = "use x;\n// ItemOutcome::deleted\nlet a = ItemError::OtherAsset;\n\
                   #[cfg(test)]\nmod tests { let b = ItemError::OtherAsset; }\n";
        assert_eq!(
            decisions(src),
            vec![(3, "let a = ItemError::OtherAsset;".to_owned())]
        );
    }
}
