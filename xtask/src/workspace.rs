//! What `cargo metadata --no-deps` says about the workspace: its root, its
//! target directory (which honours `CARGO_TARGET_DIR` and `.cargo/config.toml`)
//! and its packages, each with its directory and its declared dependencies
//! (some crates may not exist yet).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::proc;

/// The workspace as cargo sees it.
#[derive(Debug)]
pub struct Workspace {
    /// The directory holding the root `Cargo.toml`.
    pub root: PathBuf,
    /// Where cargo puts build output.
    pub target_dir: PathBuf,
    /// The workspace's packages.
    pub packages: Vec<Package>,
}

/// A workspace package as its manifest declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    /// The directory holding its `Cargo.toml`.
    pub dir: PathBuf,
    /// Its direct dependencies, as declared (not resolved).
    pub deps: Vec<Dependency>,
}

/// One declared dependency of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The package depended on (its name, not a `rename`).
    pub name: String,
    pub kind: DepKind,
    /// The features this dependency turns on.
    pub features: Vec<String>,
}

/// The section of `Cargo.toml` a dependency is declared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepKind {
    Normal,
    Dev,
    Build,
}

impl DepKind {
    /// The `Cargo.toml` section, for messages.
    pub fn section(self) -> &'static str {
        match self {
            Self::Normal => "[dependencies]",
            Self::Dev => "[dev-dependencies]",
            Self::Build => "[build-dependencies]",
        }
    }
}

impl Workspace {
    /// Asks cargo, from the directory this crate was built in.
    pub fn load() -> Result<Self> {
        let start = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut cmd = proc::Env::new(start).cargo();
        cmd.args(["metadata", "--no-deps", "--format-version", "1"]);
        let json = proc::output(&mut cmd).context("reading the workspace layout")?;
        Self::parse(&json)
    }

    fn parse(json: &str) -> Result<Self> {
        let meta: Value = serde_json::from_str(json).context("parsing `cargo metadata` output")?;
        let path = |key: &str| {
            meta.get(key)
                .and_then(Value::as_str)
                .map(PathBuf::from)
                .with_context(|| format!("`cargo metadata` output has no `{key}`"))
        };
        let packages = meta
            .get("packages")
            .and_then(Value::as_array)
            .context("`cargo metadata` output has no `packages`")?
            .iter()
            .map(Package::parse)
            .collect::<Result<_>>()?;
        Ok(Self {
            root: path("workspace_root")?,
            target_dir: path("target_directory")?,
            packages,
        })
    }

    /// Whether the workspace has a package of that name.
    pub fn has_package(&self, name: &str) -> bool {
        self.packages.iter().any(|p| p.name == name)
    }
}

impl Package {
    fn parse(p: &Value) -> Result<Self> {
        let str_of = |v: &Value, key: &str| {
            v.get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .with_context(|| format!("a package in `cargo metadata` output has no `{key}`"))
        };
        let name = str_of(p, "name")?;
        let manifest = PathBuf::from(str_of(p, "manifest_path")?);
        let dir = manifest
            .parent()
            .with_context(|| format!("{name}: manifest path {} has no parent", manifest.display()))?
            .to_path_buf();
        let deps = p
            .get("dependencies")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|d| {
                let kind = match d.get("kind").and_then(Value::as_str) {
                    Some("dev") => DepKind::Dev,
                    Some("build") => DepKind::Build,
                    _ => DepKind::Normal,
                };
                let features = d
                    .get("features")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|f| f.as_str().map(str::to_owned))
                    .collect();
                Ok(Dependency {
                    name: str_of(d, "name")?,
                    kind,
                    features,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self { name, dir, deps })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_fields_it_needs() -> Result<()> {
        let ws = Workspace::parse(
            r#"{"packages":[{"name":"vodsnap-domain","targets":[{"name":"vodsnap_domain"}],
                    "manifest_path":"/repo/crates/domain/Cargo.toml","dependencies":[]},
                {"name":"vodsnap-xtask","manifest_path":"/repo/xtask/Cargo.toml",
                    "dependencies":[{"name":"anyhow","kind":null,"features":[]},
                        {"name":"vodsnap-ports","kind":"dev","features":["mocks"]}]}],
                "workspace_root":"/repo","target_directory":"/tmp/t","version":1}"#,
        )?;
        assert_eq!(ws.root, PathBuf::from("/repo"));
        assert_eq!(ws.target_dir, PathBuf::from("/tmp/t"));
        assert!(ws.has_package("vodsnap-domain"));
        assert!(!ws.has_package("vodsnap_domain"));
        assert!(!ws.has_package("vodsnap-app"));
        assert_eq!(ws.packages[0].dir, PathBuf::from("/repo/crates/domain"));
        assert_eq!(
            ws.packages[1].deps,
            vec![
                Dependency {
                    name: "anyhow".to_owned(),
                    kind: DepKind::Normal,
                    features: vec![],
                },
                Dependency {
                    name: "vodsnap-ports".to_owned(),
                    kind: DepKind::Dev,
                    features: vec!["mocks".to_owned()],
                },
            ]
        );
        Ok(())
    }
}
