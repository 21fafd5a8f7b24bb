//! Credential administration against mocked ports: what a seed decides
//! from what the store holds, whatever the store.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "tests: a failed expectation is a failed test"
)]

use std::sync::Arc;

use mockall::predicate::eq;
use vodsnap_domain::{CredentialState, ProjectId, Secret, SeedDecision, Timestamp};
use vodsnap_ports::{
    Credential, CredentialError, MockClock, MockCredentialSealing, MockCredentialStore,
};
use vodsnap_service::{CredentialAdmin, KeyRotation};

fn clock() -> Arc<MockClock> {
    let mut clock = MockClock::new();
    clock.expect_now().returning(|| Timestamp::from_micros(42));
    Arc::new(clock)
}

fn seeded() -> Credential {
    Credential::new(
        "AKSEED".into(),
        Secret::new("sk"),
        vec![ProjectId::parse("p").unwrap()],
    )
}

#[tokio::test]
async fn a_revoked_seed_stays_revoked_and_nothing_is_written() {
    let mut store = MockCredentialStore::new();
    store
        .expect_state()
        .with(eq("AKSEED"))
        .returning(|_| Ok(Some(CredentialState::Revoked)));
    store.expect_insert().never();
    store.expect_replace_active().never();
    let admin = CredentialAdmin::new(Arc::new(store), clock());

    let done = admin.seed(seeded()).await.unwrap();

    assert_eq!(done, SeedDecision::KeepRevoked);
}

#[tokio::test]
async fn an_unknown_seed_is_inserted_at_the_clocks_time() {
    let mut store = MockCredentialStore::new();
    store.expect_state().returning(|_| Ok(None));
    store
        .expect_insert()
        .withf(|c, now| c.access_key() == "AKSEED" && *now == Timestamp::from_micros(42))
        .times(1)
        .returning(|_, _| Ok(true));
    store.expect_replace_active().never();
    let admin = CredentialAdmin::new(Arc::new(store), clock());

    assert_eq!(admin.seed(seeded()).await.unwrap(), SeedDecision::Create);
}

#[tokio::test]
async fn an_active_seed_is_replaced() {
    let mut store = MockCredentialStore::new();
    store
        .expect_state()
        .returning(|_| Ok(Some(CredentialState::Active)));
    store.expect_insert().never();
    store
        .expect_replace_active()
        .times(1)
        .returning(|_| Ok(true));
    let admin = CredentialAdmin::new(Arc::new(store), clock());

    assert_eq!(admin.seed(seeded()).await.unwrap(), SeedDecision::Replace);
}

#[tokio::test]
async fn a_seed_revoked_between_read_and_write_is_decided_again_and_stays_revoked() {
    // Another instance revokes the AK after this one read it as active:
    // the conditional replace changes nothing, and the second reading
    // decides to keep it revoked.
    let mut store = MockCredentialStore::new();
    let mut states = vec![
        Some(CredentialState::Revoked),
        Some(CredentialState::Active),
    ];
    store
        .expect_state()
        .times(2)
        .returning(move |_| Ok(states.pop().unwrap()));
    store
        .expect_replace_active()
        .times(1)
        .returning(|_| Ok(false));
    store.expect_insert().never();
    let admin = CredentialAdmin::new(Arc::new(store), clock());

    assert_eq!(
        admin.seed(seeded()).await.unwrap(),
        SeedDecision::KeepRevoked
    );
}

#[tokio::test]
async fn a_seed_that_keeps_losing_races_fails_instead_of_looping() {
    let mut store = MockCredentialStore::new();
    store.expect_state().times(3).returning(|_| Ok(None));
    store.expect_insert().times(3).returning(|_, _| Ok(false));
    let admin = CredentialAdmin::new(Arc::new(store), clock());

    assert!(matches!(
        admin.seed(seeded()).await,
        Err(CredentialError::Unknown(_))
    ));
}

#[tokio::test]
async fn an_empty_access_key_is_refused_before_the_store() {
    let mut store = MockCredentialStore::new();
    store.expect_state().never();
    let admin = CredentialAdmin::new(Arc::new(store), clock());
    let empty = Credential::new(String::new(), Secret::new("sk"), vec![]);

    assert!(admin.seed(empty).await.is_err());
}

#[tokio::test]
async fn create_draws_a_fresh_access_key_when_one_is_taken() {
    let mut store = MockCredentialStore::new();
    let mut answers = vec![true, false];
    let mut seen: Vec<String> = Vec::new();
    store.expect_insert().times(2).returning(move |c, _| {
        assert!(!seen.contains(&c.access_key().to_owned()), "a new key");
        seen.push(c.access_key().to_owned());
        Ok(answers.pop().unwrap())
    });
    let admin = CredentialAdmin::new(Arc::new(store), clock());

    let (ak, sk) = admin
        .create(vec![ProjectId::parse("p").unwrap()])
        .await
        .unwrap();

    assert_eq!((ak.len(), sk.expose().len()), (20, 40));
}

#[tokio::test]
async fn revoke_passes_the_clocks_time() {
    let mut store = MockCredentialStore::new();
    store
        .expect_revoke()
        .with(eq("AK"), eq(Timestamp::from_micros(42)))
        .times(1)
        .returning(|_, _| Ok(true));
    let admin = CredentialAdmin::new(Arc::new(store), clock());

    assert!(admin.revoke("AK").await.unwrap());
}

#[tokio::test]
async fn a_rotation_reseals_through_the_sealing_port() {
    let mut sealing = MockCredentialSealing::new();
    sealing.expect_reseal_all().times(1).returning(|| Ok(3));

    assert_eq!(
        KeyRotation::new(Arc::new(sealing))
            .reencrypt()
            .await
            .unwrap(),
        3
    );
}
