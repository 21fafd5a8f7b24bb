//! The cases every `CredentialStore` passes, through the credential
//! administration use case as the commands and the start-up call it.

use std::sync::Arc;

use vodsnap_domain::{CredentialState, Secret, SeedDecision};
use vodsnap_ports::{Credential, CredentialStore};
use vodsnap_service::CredentialAdmin;

use crate::fixtures::{at, project};
use crate::use_cases::FixedClock;

fn admin(store: &Arc<dyn CredentialStore>, micros: i64) -> CredentialAdmin {
    CredentialAdmin::new(store.clone(), Arc::new(FixedClock(at(micros))))
}

pub async fn unknown_access_key_is_none(store: Arc<dyn CredentialStore>) {
    assert_eq!(store.find("NOPE").await.expect("find"), None);
    assert_eq!(store.state("NOPE").await.expect("state"), None);
}

pub async fn seeding_creates_then_replaces(store: Arc<dyn CredentialStore>) {
    let admin = admin(&store, 1_000_000);
    let first = Credential::new("AK1".into(), Secret::new("sk-one"), vec![project("p1")]);
    assert_eq!(
        admin.seed(first.clone()).await.expect("create"),
        SeedDecision::Create
    );
    assert_eq!(store.find("AK1").await.expect("find"), Some(first));

    let second = Credential::new(
        "AK1".into(),
        Secret::new("sk-two"),
        vec![project("p1"), project("p2")],
    );
    assert_eq!(
        admin.seed(second.clone()).await.expect("replace"),
        SeedDecision::Replace
    );
    assert_eq!(store.find("AK1").await.expect("find"), Some(second));
}

pub async fn a_revoked_credential_stays_revoked_through_seeding(store: Arc<dyn CredentialStore>) {
    let admin = admin(&store, 1_000_000);
    let seeded = Credential::new("AKSEED".into(), Secret::new("sk-one"), vec![project("p")]);
    admin.seed(seeded).await.expect("create");
    assert!(admin.revoke("AKSEED").await.expect("revoke"));

    // A restart seeds the same AK again, with another secret and project.
    let again = Credential::new(
        "AKSEED".into(),
        Secret::new("sk-two"),
        vec![project("p"), project("q")],
    );
    assert_eq!(
        admin.seed(again).await.expect("seed"),
        SeedDecision::KeepRevoked
    );

    assert_eq!(store.find("AKSEED").await.expect("find"), None);
    let listed = admin.list().await.expect("list");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let info = listed.first().expect("one");
    assert_eq!(info.state, CredentialState::Revoked);
    assert_eq!(info.projects, [project("p")], "unchanged by the seed");
    assert!(!admin.revoke("AKSEED").await.expect("revoke"), "already");
}

pub async fn created_credentials_sign_with_the_secret_shown_once(store: Arc<dyn CredentialStore>) {
    let admin = admin(&store, 1_000_000);
    let (ak, sk) = admin
        .create(vec![project("p1"), project("p2")])
        .await
        .expect("create");

    assert_eq!(ak.len(), 20);
    assert!(
        ak.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    );
    assert_eq!(sk.expose().len(), 40);
    assert!(sk.expose().bytes().all(|b| b.is_ascii_alphanumeric()));
    let found = store.find(&ak).await.expect("find").expect("created");
    assert_eq!(found.secret_key(), &sk);
    assert_eq!(found.projects(), [project("p1"), project("p2")]);
    let (other, _) = admin.create(vec![project("p1")]).await.expect("create");
    assert_ne!(other, ak);
}

pub async fn revocation_stops_find_and_is_reported_once(store: Arc<dyn CredentialStore>) {
    let admin = admin(&store, 1_000_000);
    let (ak, _) = admin.create(vec![project("p")]).await.expect("create");

    assert!(admin.revoke(&ak).await.expect("revoke"));

    assert_eq!(store.find(&ak).await.expect("find"), None);
    assert_eq!(
        store.state(&ak).await.expect("state"),
        Some(CredentialState::Revoked)
    );
    assert!(!admin.revoke(&ak).await.expect("revoke"), "already revoked");
    assert!(!admin.revoke("NO-SUCH-AK").await.expect("revoke"));
}

pub async fn the_list_is_oldest_first_and_holds_no_secret(store: Arc<dyn CredentialStore>) {
    let (newer, newer_sk) = admin(&store, 2_000_000)
        .create(vec![project("p2")])
        .await
        .expect("create");
    let (older, older_sk) = admin(&store, 1_000_000)
        .create(vec![project("p1")])
        .await
        .expect("create");
    admin(&store, 3_000_000)
        .revoke(&newer)
        .await
        .expect("revoke");

    let listed = admin(&store, 4_000_000).list().await.expect("list");

    let seen: Vec<(&str, CredentialState, i64)> = listed
        .iter()
        .map(|c| (c.access_key.as_str(), c.state, c.created_at.as_micros()))
        .collect();
    assert_eq!(
        seen,
        [
            (older.as_str(), CredentialState::Active, 1_000_000),
            (newer.as_str(), CredentialState::Revoked, 2_000_000)
        ]
    );
    let shown = format!("{listed:?}");
    assert!(!shown.contains(older_sk.expose()) && !shown.contains(newer_sk.expose()));
}

/// The store's writes are conditional, so that two instances seeding or
/// revoking the same AK at once cannot undo a revocation.
pub async fn writes_refuse_a_changed_access_key(store: Arc<dyn CredentialStore>) {
    let now = at(1_000_000);
    let credential = Credential::new("AKRACE".into(), Secret::new("sk"), vec![project("p")]);
    assert!(
        !store.replace_active(&credential).await.expect("replace"),
        "nothing to replace"
    );
    assert!(store.insert(&credential, now).await.expect("insert"));
    assert!(
        !store.insert(&credential, now).await.expect("insert"),
        "taken"
    );
    assert!(store.revoke("AKRACE", now).await.expect("revoke"));

    let other = Credential::new("AKRACE".into(), Secret::new("sk2"), vec![project("q")]);
    assert!(!store.insert(&other, now).await.expect("insert"));
    assert!(!store.replace_active(&other).await.expect("replace"));
    assert_eq!(store.find("AKRACE").await.expect("find"), None);
}
