//! Whether this binary can run against a database: its migrations compared
//! with the ones the database has applied.
//!
//! The rule (docs/DEPLOY.md, "Migrations"): a binary runs against a
//! database that has applied every migration it knows. A database that
//! lacks some (no schema at all, or an upgrade not yet migrated) needs
//! `vodsnap migrate` first. A database *ahead* of the binary (an older
//! instance during a rolling upgrade, or a rollback) is fine as long as the
//! migrations it does not know are additive, which is how migrations are
//! written; one that is not says so in its file name (`..._breaking.sql`),
//! and older binaries then refuse to run.
//!
//! vodsnap's own service uses this module (the crate's README, "The public
//! types, for other services"): public for vodsnap's crates, with no
//! promise of stability to other services.

/// The word that ends the description of a migration older binaries cannot
/// run against (sqlx takes the description from the file name:
/// `0012_drop_x_breaking.sql` is "drop x breaking").
pub const BREAKING_MARK: &str = "breaking";

/// A migration, as the binary embeds it or the database recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    pub description: String,
    /// The checksum of its SQL, as recorded when it ran.
    pub checksum: Vec<u8>,
}

/// A migration the database has recorded, and whether it finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub migration: Migration,
    pub succeeded: bool,
}

/// The database's schema as this binary sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    /// Every migration of the binary is applied, and nothing else.
    Current,
    /// No migration is applied: not a vodsnap database yet.
    Missing,
    /// Some of the binary's migrations are not applied (their versions).
    Behind { pending: Vec<i64> },
    /// Every migration of the binary is applied, and these ones it does not
    /// know too (a newer binary migrated). `compatible`: none of them is
    /// marked breaking, so this binary can run.
    Ahead {
        unknown: Vec<Migration>,
        compatible: bool,
    },
    /// A migration started and did not finish: the schema is half-changed.
    Failed { version: i64 },
    /// A migration ran with SQL other than this binary's (its checksum
    /// differs): the schema is not the one the binary expects.
    Altered { version: i64 },
}

impl SchemaState {
    /// Compares the binary's migrations with the database's. Failures come
    /// first (nothing else can be trusted), then a missing or older schema
    /// (the fix is to migrate), then an ahead one.
    pub fn compare(binary: &[Migration], database: &[AppliedMigration]) -> Self {
        if let Some(failed) = database.iter().find(|a| !a.succeeded) {
            return Self::Failed {
                version: failed.migration.version,
            };
        }
        if database.is_empty() {
            return Self::Missing;
        }
        let applied = |version: i64| database.iter().find(|a| a.migration.version == version);
        if let Some(altered) = binary
            .iter()
            .find(|m| applied(m.version).is_some_and(|a| a.migration.checksum != m.checksum))
        {
            return Self::Altered {
                version: altered.version,
            };
        }
        let pending: Vec<i64> = binary
            .iter()
            .filter(|m| applied(m.version).is_none())
            .map(|m| m.version)
            .collect();
        if !pending.is_empty() {
            return Self::Behind { pending };
        }
        let unknown: Vec<Migration> = database
            .iter()
            .filter(|a| !binary.iter().any(|m| m.version == a.migration.version))
            .map(|a| a.migration.clone())
            .collect();
        if unknown.is_empty() {
            return Self::Current;
        }
        let compatible = !unknown.iter().any(Migration::is_breaking);
        Self::Ahead {
            unknown,
            compatible,
        }
    }

    /// Whether this binary can do its work against the database as it is.
    pub fn can_run(&self) -> bool {
        match self {
            Self::Current => true,
            Self::Ahead { compatible, .. } => *compatible,
            Self::Missing | Self::Behind { .. } | Self::Failed { .. } | Self::Altered { .. } => {
                false
            }
        }
    }

    /// Whether `vodsnap migrate` (or `serve`'s start-up migration) would
    /// bring the database to where this binary can run.
    pub fn migrating_helps(&self) -> bool {
        matches!(self, Self::Missing | Self::Behind { .. })
    }
}

impl Migration {
    /// Whether older binaries must not run against a database that applied
    /// it (see [`BREAKING_MARK`]).
    pub fn is_breaking(&self) -> bool {
        self.description
            .trim_end()
            .to_ascii_lowercase()
            .ends_with(BREAKING_MARK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migration(version: i64, description: &str) -> Migration {
        Migration {
            version,
            description: description.to_owned(),
            checksum: vec![u8::try_from(version).unwrap_or(0)],
        }
    }

    fn binary(versions: std::ops::RangeInclusive<i64>) -> Vec<Migration> {
        versions.map(|v| migration(v, "step")).collect()
    }

    fn applied(migrations: &[Migration]) -> Vec<AppliedMigration> {
        migrations
            .iter()
            .map(|m| AppliedMigration {
                migration: m.clone(),
                succeeded: true,
            })
            .collect()
    }

    #[test]
    fn the_same_migrations_are_current() {
        let state = SchemaState::compare(&binary(1..=3), &applied(&binary(1..=3)));
        assert_eq!(state, SchemaState::Current);
        assert!(state.can_run());
    }

    #[test]
    fn no_migration_applied_is_a_missing_schema() {
        let state = SchemaState::compare(&binary(1..=3), &[]);
        assert_eq!(state, SchemaState::Missing);
        assert!(!state.can_run());
        assert!(state.migrating_helps());
    }

    #[test]
    fn a_database_without_the_newest_migrations_is_behind() {
        let state = SchemaState::compare(&binary(1..=5), &applied(&binary(1..=3)));
        assert_eq!(
            state,
            SchemaState::Behind {
                pending: vec![4, 5]
            }
        );
        assert!(!state.can_run());
        assert!(state.migrating_helps());
    }

    #[test]
    fn an_older_binary_runs_against_additive_newer_migrations() {
        let newer = binary(1..=5);
        let state = SchemaState::compare(&binary(1..=3), &applied(&newer));
        assert_eq!(
            state,
            SchemaState::Ahead {
                unknown: newer[3..].to_vec(),
                compatible: true
            }
        );
        assert!(state.can_run());
        assert!(!state.migrating_helps());
    }

    #[test]
    fn an_older_binary_refuses_a_breaking_newer_migration() {
        let mut newer = binary(1..=3);
        newer.push(migration(4, "drop old column breaking"));
        let state = SchemaState::compare(&binary(1..=3), &applied(&newer));
        assert!(matches!(
            state,
            SchemaState::Ahead {
                compatible: false,
                ..
            }
        ));
        assert!(!state.can_run());
        assert!(!state.migrating_helps());
    }

    #[test]
    fn a_gap_is_behind_even_with_unknown_migrations() {
        let mut database = binary(1..=2);
        database.push(migration(9, "from a newer binary"));
        let state = SchemaState::compare(&binary(1..=3), &applied(&database));
        assert_eq!(state, SchemaState::Behind { pending: vec![3] });
    }

    #[test]
    fn an_unfinished_migration_is_reported_first() {
        let mut database = applied(&binary(1..=2));
        database[1].succeeded = false;
        let state = SchemaState::compare(&binary(1..=3), &database);
        assert_eq!(state, SchemaState::Failed { version: 2 });
        assert!(!state.migrating_helps());
    }

    #[test]
    fn a_migration_run_with_other_sql_is_altered() {
        let mut database = binary(1..=3);
        database[1].checksum = vec![99];
        let state = SchemaState::compare(&binary(1..=3), &applied(&database));
        assert_eq!(state, SchemaState::Altered { version: 2 });
        assert!(!state.can_run());
    }

    #[test]
    fn the_breaking_mark_ends_the_description() {
        assert!(migration(1, "drop x breaking").is_breaking());
        assert!(migration(1, "Drop X BREAKING").is_breaking());
        assert!(!migration(1, "breaking news table").is_breaking());
    }
}
