//! The code map of docs/ARCHITECTURE.md is checked: every workspace crate
//! (by its directory, `crates/domain`) and every public port trait (every
//! `pub trait` of crates/ports/src) is named in it, in backquotes.

use std::fs;

use anyhow::{Context, Result};

use super::rust_files;
use crate::workspace::Workspace;

/// The document and its section.
const DOC: &str = "docs/ARCHITECTURE.md";
const SECTION: &str = "## Code map";

/// What the code map misses, one message per name; empty when complete.
pub fn check(ws: &Workspace) -> Result<Vec<String>> {
    let doc = ws.root.join(DOC);
    let text = fs::read_to_string(&doc).with_context(|| format!("reading {}", doc.display()))?;
    let Some(map) = section(&text, SECTION) else {
        return Ok(vec![format!("{DOC} has no \"{SECTION}\" section")]);
    };
    let mut crates = Vec::new();
    for package in &ws.packages {
        let dir = package.dir.strip_prefix(&ws.root).unwrap_or(&package.dir);
        crates.push(dir.to_string_lossy().replace('\\', "/"));
    }
    let mut ports = Vec::new();
    let ports_src = ws.root.join("crates/ports/src");
    if ports_src.is_dir() {
        for file in rust_files(&ports_src)? {
            let text =
                fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            ports.extend(pub_traits(&text));
        }
    }
    ports.sort();
    ports.dedup();
    Ok(missing(map, &crates, &ports))
}

/// The text of the `## ` section whose heading line is `heading`, up to
/// the next `## ` heading.
fn section<'a>(text: &'a str, heading: &str) -> Option<&'a str> {
    let mut offset = 0;
    let mut start = None;
    for line in text.split_inclusive('\n') {
        match start {
            None if line.trim_end() == heading => start = Some(offset + line.len()),
            Some(from) if line.starts_with("## ") => return Some(text[from..offset].trim()),
            _ => {}
        }
        offset += line.len();
    }
    start.map(|from| text[from..].trim())
}

/// The names of the `pub trait`s declared in `source`.
fn pub_traits(source: &str) -> Vec<String> {
    source
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("pub trait "))
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// The crates (directories) and port traits that `map` does not name in
/// backquotes.
fn missing(map: &str, crates: &[String], ports: &[String]) -> Vec<String> {
    let named = |name: &str| map.contains(&format!("`{name}`"));
    let crates = crates
        .iter()
        .filter(|c| !named(c))
        .map(|c| format!("{DOC}'s code map does not name the crate `{c}`"));
    let ports = ports
        .iter()
        .filter(|p| !named(p))
        .map(|p| format!("{DOC}'s code map does not name the port trait `{p}`"));
    crates.chain(ports).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC_TEXT: &str = "# Architecture\n\n## Code map\n\n\
        - `crates/domain`: rules.\n\
        - `crates/ports`: `TaskResultStore`, `Clock`.\n\
        \n## Invariants\n\n`crates/app` and `WebhookStore` are named here only.\n";

    #[test]
    fn finds_the_section_up_to_the_next_heading() {
        let map = section(DOC_TEXT, SECTION).unwrap_or_default();
        assert!(map.starts_with("- `crates/domain`"), "{map:?}");
        assert!(map.ends_with("`Clock`."), "{map:?}");
        assert_eq!(section(DOC_TEXT, "## Testing"), None);
    }

    #[test]
    fn reads_public_traits_only() {
        let src = "pub trait Clock: Send + Sync {\n    fn now(&self);\n}\n\
                   trait Private {}\n#[async_trait]\npub trait WebhookStore<T> {}\n";
        assert_eq!(pub_traits(src), vec!["Clock", "WebhookStore"]);
    }

    #[test]
    fn names_each_crate_and_port_missing_from_the_map() {
        let map = section(DOC_TEXT, SECTION).unwrap_or_default();
        let crates = ["crates/domain", "crates/ports", "crates/app"].map(str::to_owned);
        let ports = ["Clock", "TaskResultStore", "WebhookStore"].map(str::to_owned);
        assert_eq!(
            missing(map, &crates, &ports),
            vec![
                format!("{DOC}'s code map does not name the crate `crates/app`"),
                format!("{DOC}'s code map does not name the port trait `WebhookStore`"),
            ]
        );
    }

    #[test]
    fn the_current_code_map_names_every_crate_and_port() -> Result<()> {
        let ws = Workspace::load()?;
        assert_eq!(check(&ws)?, Vec::<String>::new());
        Ok(())
    }
}
