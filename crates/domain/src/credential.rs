//! What becomes of a credential that the configuration seeds.
//!
//! vodsnap's own service uses this module (the crate's README, "The public
//! types, for other services"): public for vodsnap's crates, with no
//! promise of stability to other services.

/// What a store holds for an access key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialState {
    /// It signs requests.
    Active,
    /// It was revoked; revocation is final.
    Revoked,
}

/// What seeding a credential (`--seed-credential AK:SK:PROJECT`, the
/// demo credential) does, given what the store holds for its access key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeedDecision {
    /// No credential has this access key: create it.
    Create,
    /// An active credential has it: replace its secret and projects with
    /// the configured ones (the configuration is the source of truth).
    Replace,
    /// A revoked credential has it: leave it revoked and unchanged. A
    /// seeded key revoked after a leak must stay revoked through restarts;
    /// the operator is warned to remove it from the configuration.
    KeepRevoked,
}

impl SeedDecision {
    /// The decision for an access key in `existing` state (`None`: unknown).
    pub const fn for_existing(existing: Option<CredentialState>) -> Self {
        match existing {
            None => Self::Create,
            Some(CredentialState::Active) => Self::Replace,
            Some(CredentialState::Revoked) => Self::KeepRevoked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocation_wins_over_seeding() {
        assert_eq!(
            SeedDecision::for_existing(Some(CredentialState::Revoked)),
            SeedDecision::KeepRevoked
        );
    }

    #[test]
    fn an_unknown_access_key_is_created_and_an_active_one_replaced() {
        assert_eq!(SeedDecision::for_existing(None), SeedDecision::Create);
        assert_eq!(
            SeedDecision::for_existing(Some(CredentialState::Active)),
            SeedDecision::Replace
        );
    }
}
