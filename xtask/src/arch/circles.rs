//! No files import each other in a loop: within each crate's `src/`, a file
//! that names another through a `crate::` path (`use crate::a::B`,
//! `use crate::{a, b::C}`, or `crate::a::f()` in code) depends on it; a loop
//! of such dependencies means something in those files belongs in a third.
//!
//! A `crate::a::b` path goes to the deepest module file that exists
//! (`src/a/b.rs`, `src/a/b/mod.rs`, else `src/a.rs`, `src/a/mod.rs`);
//! `super::` paths (a child and its parent) and comments are not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::rust_files;
use crate::workspace::Workspace;

/// Every loop of files importing each other, one message per loop.
pub fn check(ws: &Workspace) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for package in &ws.packages {
        let src = package.dir.join("src");
        if !src.is_dir() {
            continue;
        }
        let mut sources = BTreeMap::new();
        for file in rust_files(&src)? {
            let text =
                fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let relative = file.strip_prefix(&src).unwrap_or(&file).to_path_buf();
            sources.insert(relative, text);
        }
        let shown = src.strip_prefix(&ws.root).unwrap_or(&src);
        for cycle in loops(&imports(&sources)) {
            let files: Vec<String> = cycle
                .iter()
                .map(|f| shown.join(f).display().to_string())
                .collect();
            found.push(format!(
                "these files import each other: {}",
                files.join(", ")
            ));
        }
    }
    Ok(found)
}

/// For each file (relative to `src/`), the other files it names through
/// `crate::` paths.
fn imports(sources: &BTreeMap<PathBuf, String>) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let files: BTreeSet<&Path> = sources.keys().map(PathBuf::as_path).collect();
    sources
        .iter()
        .map(|(file, text)| {
            let targets = crate_paths(text)
                .iter()
                .filter_map(|segments| module_file(&files, segments))
                .filter(|target| target != file)
                .collect();
            (file.clone(), targets)
        })
        .collect()
}

/// The module paths (segments after `crate::`) named in `text`, outside
/// comments; a group `crate::{a, b::c}` gives each of its members.
fn crate_paths(text: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let word_before = rest[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
            rest = &rest[at + "crate::".len()..];
            if word_before {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or_default();
                paths.extend(inner.split(',').map(segments).filter(|s| !s.is_empty()));
            } else {
                paths.push(segments(rest));
            }
        }
    }
    // A group spread over several lines: `use crate::{` then one member a line.
    let mut in_group = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if in_group {
            if trimmed.starts_with('}') {
                in_group = false;
            } else {
                paths.extend(trimmed.split(',').map(segments).filter(|s| !s.is_empty()));
            }
        } else if trimmed.ends_with("crate::{") {
            in_group = true;
        }
    }
    paths
}

/// The leading `a::b::c` identifiers of `text`.
fn segments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text.trim_start();
    loop {
        let ident: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if ident.is_empty() {
            break;
        }
        rest = &rest[ident.len()..];
        out.push(ident);
        match rest.strip_prefix("::") {
            Some(next) => rest = next,
            None => break,
        }
    }
    out
}

/// The deepest file among `files` that `crate::segments` names a module of.
fn module_file(files: &BTreeSet<&Path>, segments: &[String]) -> Option<PathBuf> {
    let mut dir = PathBuf::new();
    let mut found = None;
    for segment in segments {
        let flat = dir.join(format!("{segment}.rs"));
        let nested = dir.join(segment).join("mod.rs");
        if files.contains(flat.as_path()) {
            found = Some(flat);
        } else if files.contains(nested.as_path()) {
            found = Some(nested);
        } else {
            break;
        }
        dir.push(segment);
    }
    found
}

/// The strongly connected components of more than one file (Tarjan).
fn loops(graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a Path, usize>,
        low: BTreeMap<&'a Path, usize>,
        stack: Vec<&'a Path>,
        on_stack: BTreeSet<&'a Path>,
        found: Vec<Vec<PathBuf>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a Path) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            let graph = self.graph;
            for w in graph.get(v).into_iter().flatten() {
                let w = w.as_path();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.to_path_buf());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_path()) {
            walk.visit(v);
        }
    }
    walk.found.sort();
    walk.found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(files: &[(&str, &str)]) -> BTreeMap<PathBuf, String> {
        files
            .iter()
            .map(|(f, t)| (PathBuf::from(f), (*t).to_owned()))
            .collect()
    }

    #[test]
    fn reads_single_grouped_and_inline_paths_outside_comments() {
        let text = "use crate::error::{ApiError, ErrorBody};\n\
                    use crate::{cleanup, images::Image};\n\
                    use crate::{\n    run::Runner,\n    soak,\n};\n\
                    // crate::commented::Out\n\
                    let x = crate::soak::run(args); // crate::trailing\n\
                    use vodsnap_domain::crate_like::X;\n";
        let paths: Vec<String> = crate_paths(text).iter().map(|p| p.join("::")).collect();
        assert_eq!(
            paths,
            vec![
                "error",
                "cleanup",
                "images::Image",
                "soak::run",
                "run::Runner",
                "soak"
            ]
        );
    }

    #[test]
    fn a_path_goes_to_the_deepest_module_file() {
        let s = sources(&[
            ("lib.rs", ""),
            ("a.rs", ""),
            ("a/b.rs", ""),
            ("c/mod.rs", ""),
        ]);
        let files: BTreeSet<&Path> = s.keys().map(PathBuf::as_path).collect();
        let path = |p: &str| p.split("::").map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            module_file(&files, &path("a::b::Item")),
            Some(PathBuf::from("a/b.rs"))
        );
        assert_eq!(
            module_file(&files, &path("a::Item")),
            Some(PathBuf::from("a.rs"))
        );
        assert_eq!(
            module_file(&files, &path("c::f")),
            Some(PathBuf::from("c/mod.rs"))
        );
        assert_eq!(module_file(&files, &path("Root")), None);
    }

    #[test]
    fn finds_a_loop_and_names_its_files() {
        let s = sources(&[
            ("main.rs", "mod a; mod b; mod c; mod d;"),
            ("a.rs", "use crate::b::B;"),
            ("b.rs", "use crate::{c::C, d};"),
            ("c.rs", "fn f() { crate::a::g() }"),
            ("d.rs", "use crate::a::A;"),
        ]);
        let files = ["a.rs", "b.rs", "c.rs", "d.rs"].map(PathBuf::from).to_vec();
        assert_eq!(loops(&imports(&s)), vec![files]);
    }

    #[test]
    fn layers_are_no_loop() {
        let s = sources(&[
            ("a.rs", "use crate::b::B;\nuse crate::c::C;"),
            ("b.rs", "use crate::c::C;\nuse super::x;"),
            ("c.rs", "// use crate::a::A;"),
        ]);
        assert!(loops(&imports(&s)).is_empty());
    }
}
