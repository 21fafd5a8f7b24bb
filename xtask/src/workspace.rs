//! What `cargo metadata --no-deps` says about the workspace: its root, its
//! target directory (which honours `CARGO_TARGET_DIR` and `.cargo/config.toml`)
//! and the names of its packages (some crates may not exist yet).

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
    /// Names of the workspace's packages.
    pub packages: Vec<String>,
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
            .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_owned))
            .collect();
        Ok(Self {
            root: path("workspace_root")?,
            target_dir: path("target_directory")?,
            packages,
        })
    }

    /// Whether the workspace has a package of that name.
    pub fn has_package(&self, name: &str) -> bool {
        self.packages.iter().any(|p| p == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_fields_it_needs() -> Result<()> {
        let ws = Workspace::parse(
            r#"{"packages":[{"name":"vodsnap-domain","targets":[{"name":"vodsnap_domain"}]},
                {"name":"vodsnap-xtask"}],
                "workspace_root":"/repo","target_directory":"/tmp/t","version":1}"#,
        )?;
        assert_eq!(ws.root, PathBuf::from("/repo"));
        assert_eq!(ws.target_dir, PathBuf::from("/tmp/t"));
        assert!(ws.has_package("vodsnap-domain"));
        assert!(!ws.has_package("vodsnap_domain"));
        assert!(!ws.has_package("vodsnap-app"));
        Ok(())
    }
}
