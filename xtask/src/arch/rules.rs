//! The dependency rules: for every workspace crate, the workspace crates it
//! may depend on (an allow-list: any other fails) and the external crates its
//! normal dependency tree must not contain.
//!
//! A new workspace crate needs a rule here before `cargo xtask test` passes.

use std::collections::BTreeMap;

use crate::workspace::{DepKind, Package};

/// Where the rules live, for the messages that ask for one.
pub const RULES_FILE: &str = "xtask/src/arch/rules.rs";

/// What one workspace crate may depend on.
#[derive(Debug)]
pub struct Rule {
    pub package: &'static str,
    /// Its distance from the centre: a normal dependency on a workspace
    /// crate goes to a strictly smaller ring, so dependencies point inward
    /// (0: domain and the crates that depend on no workspace crate; 1: ports;
    /// 2: service; 3: the adapters; 4: what wires or drives them).
    pub ring: u8,
    /// Workspace crates of `[dependencies]` and `[build-dependencies]`.
    pub uses: &'static [&'static str],
    /// Workspace crates its tests may use besides (`[dev-dependencies]`).
    pub tests_use: &'static [&'static str],
    /// External crates that must not appear in its normal dependency tree
    /// (`cargo tree -e normal`, so indirect ones count too).
    pub forbidden: &'static [&'static str],
}

/// Crates for tests only: a `[dev-dependencies]` entry, never a normal one.
pub const TEST_ONLY: &[&str] = &["vodsnap-test-support", "vodsnap-store-suite"];

/// Features for tests only, as (crate, feature): turned on only by a
/// `[dev-dependencies]` entry.
pub const TEST_ONLY_FEATURES: &[(&str, &str)] = &[("vodsnap-ports", "mocks")];

const DOMAIN: &str = "vodsnap-domain";
const PORTS: &str = "vodsnap-ports";
const SERVICE: &str = "vodsnap-service";
const MEMORY: &str = "vodsnap-adapter-memory";
const POSTGRES: &str = "vodsnap-adapter-postgres";
const OBJECTS: &str = "vodsnap-adapter-objects";
const WEBHOOKS: &str = "vodsnap-adapter-webhooks";
const HTTP: &str = "vodsnap-adapter-http";
const SIGNATURE: &str = "vodsnap-sdk-signature";
const SERVER_PROCESS: &str = "vodsnap-server-process";
const TEST_SUPPORT: &str = "vodsnap-test-support";
const STORE_SUITE: &str = "vodsnap-store-suite";

// Only `app` knows OpenTelemetry (its telemetry.rs): the others open
// plain `tracing` spans and reach the tracer through `vodsnap_ports::trace`.
pub const RULES: &[Rule] = &[
    // Pure rules: no I/O, no runtime, no framework, no JSON.
    Rule {
        package: DOMAIN,
        ring: 0,
        uses: &[],
        tests_use: &[],
        forbidden: &[
            "tokio",
            "axum",
            "sqlx",
            "serde_json",
            "hyper",
            "reqwest",
            "async-trait",
            "opentelemetry",
        ],
    },
    Rule {
        package: PORTS,
        ring: 1,
        uses: &[DOMAIN],
        tests_use: &[],
        forbidden: &["axum", "sqlx", "hyper", "opentelemetry"],
    },
    // The use cases: domain and ports only, no framework. Their tests run
    // on the ports' mocks.
    Rule {
        package: SERVICE,
        ring: 2,
        uses: &[DOMAIN, PORTS],
        tests_use: &[],
        forbidden: &[
            "axum",
            "sqlx",
            "hyper",
            "object_store",
            "reqwest",
            "opentelemetry",
        ],
    },
    // The store ports' behavioural suite, through the use cases: a
    // dev-dependency of each store adapter (`TEST_ONLY`).
    Rule {
        package: STORE_SUITE,
        ring: 3,
        uses: &[DOMAIN, PORTS, SERVICE],
        tests_use: &[],
        forbidden: &["axum", "sqlx", "opentelemetry"],
    },
    // No adapter depends on another adapter, nor on the service (which
    // calls them); only adapter-http knows axum, only adapter-postgres sqlx.
    Rule {
        package: MEMORY,
        ring: 3,
        uses: &[DOMAIN, PORTS],
        tests_use: &[STORE_SUITE],
        forbidden: &["axum", "sqlx", "opentelemetry"],
    },
    Rule {
        package: POSTGRES,
        ring: 3,
        uses: &[DOMAIN, PORTS],
        tests_use: &[SERVICE, STORE_SUITE, TEST_SUPPORT],
        forbidden: &["axum", "opentelemetry"],
    },
    Rule {
        package: OBJECTS,
        ring: 3,
        uses: &[DOMAIN, PORTS],
        tests_use: &[TEST_SUPPORT],
        forbidden: &["axum", "sqlx", "opentelemetry"],
    },
    // The webhook sender: reqwest (and so hyper's client), no server
    // framework, no database.
    Rule {
        package: WEBHOOKS,
        ring: 3,
        uses: &[DOMAIN, PORTS],
        tests_use: &[],
        forbidden: &["axum", "sqlx", "object_store", "opentelemetry"],
    },
    // The driving adapter: it calls the use cases. Its tests serve the
    // embedded store.
    Rule {
        package: HTTP,
        ring: 3,
        uses: &[DOMAIN, PORTS, SERVICE, SIGNATURE],
        tests_use: &[MEMORY],
        forbidden: &["sqlx", "opentelemetry"],
    },
    // The signer is for any Rust client: `http` types, no framework, no
    // runtime, not the domain.
    Rule {
        package: SIGNATURE,
        ring: 0,
        uses: &[],
        tests_use: &[],
        forbidden: &["axum", "tokio", "hyper", "sqlx"],
    },
    // xtask links it: starting a server must not bring a runtime or a
    // database client.
    Rule {
        package: SERVER_PROCESS,
        ring: 0,
        uses: &[],
        tests_use: &[],
        forbidden: &["tokio", "sqlx", "axum", "hyper"],
    },
    // Any crate's tests may use it (`TEST_ONLY`): no runtime, no driver,
    // no service crate (checked with its default features; its `proxy`
    // feature, which the app's outage tests turn on, brings tokio).
    Rule {
        package: TEST_SUPPORT,
        ring: 1,
        uses: &[SERVER_PROCESS],
        tests_use: &[],
        forbidden: &["tokio", "sqlx", "axum", "hyper"],
    },
    // Wiring only: every adapter, and the use cases they are given.
    Rule {
        package: "vodsnap-app",
        ring: 4,
        uses: &[
            DOMAIN, PORTS, SERVICE, MEMORY, POSTGRES, OBJECTS, WEBHOOKS, HTTP,
        ],
        tests_use: &[TEST_SUPPORT],
        forbidden: &[],
    },
    // The load generator signs with the signature crate, not through the
    // server's adapter; it loads data with adapter-postgres's bulk SQL.
    Rule {
        package: "vodsnap-bench",
        ring: 4,
        uses: &[DOMAIN, PORTS, POSTGRES, OBJECTS, SIGNATURE, SERVER_PROCESS],
        tests_use: &[],
        forbidden: &[],
    },
    // The console's browser test drives the real binary from outside.
    Rule {
        package: "vodsnap-console-check",
        ring: 4,
        uses: &[],
        tests_use: &[],
        forbidden: &[],
    },
    // The project's tasks: none of the service's crates.
    Rule {
        package: "vodsnap-xtask",
        ring: 4,
        uses: &[SERVER_PROCESS],
        tests_use: &[],
        forbidden: &[],
    },
];

/// Every breach of `rules` by the declared dependencies of `packages`: a
/// workspace crate without a rule, a rule for no workspace crate, a
/// dependency on a workspace crate the rule does not list, a test-only
/// feature turned on outside `[dev-dependencies]`. Empty when all is well.
pub fn violations(rules: &[Rule], packages: &[Package]) -> Vec<String> {
    let by_name: BTreeMap<&str, &Rule> = rules.iter().map(|r| (r.package, r)).collect();
    let is_workspace = |name: &str| packages.iter().any(|p| p.name == name);
    let mut found = Vec::new();
    for rule in rules {
        if !is_workspace(rule.package) {
            found.push(format!(
                "{RULES_FILE} has a rule for {}, which is not a workspace crate: remove it",
                rule.package
            ));
        }
    }
    for package in packages {
        let Some(rule) = by_name.get(package.name.as_str()) else {
            found.push(format!(
                "crate {} has no architecture rule; add it to {RULES_FILE}",
                package.name
            ));
            continue;
        };
        for dep in &package.deps {
            let allowed = match dep.kind {
                DepKind::Normal | DepKind::Build => rule.uses.contains(&dep.name.as_str()),
                DepKind::Dev => {
                    rule.uses.contains(&dep.name.as_str())
                        || rule.tests_use.contains(&dep.name.as_str())
                }
            };
            if is_workspace(&dep.name) && !allowed {
                found.push(format!(
                    "{} depends on {} ({}), which its rule in {RULES_FILE} does not allow",
                    package.name,
                    dep.name,
                    dep.kind.section()
                ));
            }
            if dep.kind != DepKind::Dev {
                for (krate, feature) in TEST_ONLY_FEATURES {
                    if dep.name == *krate && dep.features.iter().any(|f| f == feature) {
                        found.push(format!(
                            "{} turns on {krate}'s `{feature}` feature in {}: it is for tests, \
                             only in [dev-dependencies]",
                            package.name,
                            dep.kind.section()
                        ));
                    }
                }
            }
        }
    }
    found
}

/// What is wrong with the rules themselves: a normal dependency that does
/// not point inward (to a strictly smaller ring), or on a test-only crate,
/// or on a crate without a rule.
pub fn inconsistencies(rules: &[Rule]) -> Vec<String> {
    let ring: BTreeMap<&str, u8> = rules.iter().map(|r| (r.package, r.ring)).collect();
    let mut found = Vec::new();
    for rule in rules {
        for dep in rule.uses {
            if TEST_ONLY.contains(dep) {
                found.push(format!(
                    "{} uses {dep}, which is for tests only",
                    rule.package
                ));
            }
            match ring.get(dep) {
                None => found.push(format!("{} uses {dep}, which has no rule", rule.package)),
                Some(r) if *r >= rule.ring => found.push(format!(
                    "{} (ring {}) uses {dep} (ring {r}): not inward",
                    rule.package, rule.ring
                )),
                Some(_) => {}
            }
        }
        for dep in rule.tests_use {
            if !ring.contains_key(dep) {
                found.push(format!(
                    "{}'s tests use {dep}, which has no rule",
                    rule.package
                ));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use anyhow::Result;

    use super::*;
    use crate::workspace::{Dependency, Workspace};

    fn package(name: &str, deps: &[(&str, DepKind)]) -> Package {
        Package {
            name: name.to_owned(),
            dir: PathBuf::from("/repo").join(name),
            deps: deps
                .iter()
                .map(|(dep, kind)| Dependency {
                    name: (*dep).to_owned(),
                    kind: *kind,
                    features: vec![],
                })
                .collect(),
        }
    }

    const SMALL: &[Rule] = &[
        Rule {
            package: "inner",
            ring: 0,
            uses: &[],
            tests_use: &[],
            forbidden: &[],
        },
        Rule {
            package: "helper",
            ring: 0,
            uses: &[],
            tests_use: &[],
            forbidden: &[],
        },
        Rule {
            package: "outer",
            ring: 1,
            uses: &["inner"],
            tests_use: &["helper"],
            forbidden: &[],
        },
    ];

    fn small_workspace(outer_deps: &[(&str, DepKind)]) -> Vec<Package> {
        vec![
            package("inner", &[("thiserror", DepKind::Normal)]),
            package("helper", &[]),
            package("outer", outer_deps),
        ]
    }

    #[test]
    fn allowed_edges_and_external_crates_pass() {
        let ws = small_workspace(&[
            ("inner", DepKind::Normal),
            ("helper", DepKind::Dev),
            ("anyhow", DepKind::Normal),
        ]);
        assert_eq!(violations(SMALL, &ws), Vec::<String>::new());
    }

    #[test]
    fn a_crate_without_a_rule_fails_naming_it() {
        let mut ws = small_workspace(&[]);
        ws.push(package("newcomer", &[]));
        assert_eq!(
            violations(SMALL, &ws),
            vec![format!(
                "crate newcomer has no architecture rule; add it to {RULES_FILE}"
            )]
        );
    }

    #[test]
    fn an_edge_not_on_the_list_fails_naming_it() {
        let ws = small_workspace(&[("helper", DepKind::Normal)]);
        assert_eq!(
            violations(SMALL, &ws),
            vec![format!(
                "outer depends on helper ([dependencies]), which its rule in {RULES_FILE} \
                 does not allow"
            )]
        );
        // Outward: the inner crate may use nothing of the workspace.
        let mut ws = small_workspace(&[]);
        ws[0] = package("inner", &[("outer", DepKind::Build)]);
        assert_eq!(violations(SMALL, &ws).len(), 1);
        // A test-only crate is allowed in [dev-dependencies] only.
        let ws = small_workspace(&[("helper", DepKind::Build)]);
        assert_eq!(violations(SMALL, &ws).len(), 1);
    }

    #[test]
    fn a_rule_for_a_missing_crate_fails() {
        let ws = vec![package("inner", &[]), package("outer", &[])];
        assert_eq!(
            violations(SMALL, &ws),
            vec![format!(
                "{RULES_FILE} has a rule for helper, which is not a workspace crate: remove it"
            )]
        );
    }

    #[test]
    fn mocks_outside_dev_dependencies_fail() {
        let mut service = package(SERVICE, &[]);
        for kind in [DepKind::Dev, DepKind::Normal] {
            service.deps = vec![Dependency {
                name: PORTS.to_owned(),
                kind,
                features: vec!["mocks".to_owned()],
            }];
            let ws = [package(DOMAIN, &[]), package(PORTS, &[]), service.clone()];
            let rules: Vec<_> = RULES
                .iter()
                .filter(|r| [DOMAIN, PORTS, SERVICE].contains(&r.package))
                .map(|r| Rule { ..*r })
                .collect();
            let found = violations(&rules, &ws);
            assert_eq!(
                found.len(),
                usize::from(kind == DepKind::Normal),
                "{found:?}"
            );
        }
    }

    #[test]
    fn the_rules_point_inward_and_keep_test_crates_for_tests() {
        assert_eq!(inconsistencies(RULES), Vec::<String>::new());
        let outward = [
            Rule { ..RULES[0] },
            Rule {
                package: "x",
                ring: 0,
                uses: &[DOMAIN],
                tests_use: &[],
                forbidden: &[],
            },
        ];
        assert_eq!(inconsistencies(&outward).len(), 1);
    }

    #[test]
    fn the_current_workspace_keeps_the_rules() -> Result<()> {
        let ws = Workspace::load()?;
        assert_eq!(violations(RULES, &ws.packages), Vec::<String>::new());
        Ok(())
    }
}
