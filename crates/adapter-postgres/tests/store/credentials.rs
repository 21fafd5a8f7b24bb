//! Credentials: secrets sealed at rest, key rotation, the find cache.

use crate::common::*;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The administration use case on `store`, as the commands run it.
fn admin_of(store: &PgCredentialStore) -> CredentialAdmin {
    CredentialAdmin::new(Arc::new(store.clone()), Arc::new(SystemClock))
}

#[tokio::test]
async fn secret_keys_are_not_stored_in_plain_text() {
    // Arrange
    let db = TestDb::migrated().await;
    let store = PgCredentialStore::new(db.pool.clone(), cipher_of(&[("k1", 1)]));
    let admin = admin_of(&store);

    // Act
    let (created_ak, created_sk) = admin
        .create(vec![project("p1"), project("p2")])
        .await
        .unwrap();
    let chosen = Secret::new("plain-secret-that-must-not-appear");
    admin
        .seed(Credential::new(
            "AKCHOSEN".into(),
            chosen.clone(),
            vec![project("p1")],
        ))
        .await
        .unwrap();

    // Assert
    let rows: Vec<(String, Vec<u8>, Vec<u8>)> =
        sqlx::query_as("SELECT access_key, secret_ciphertext, nonce FROM credentials")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 2);
    for (ak, ciphertext, nonce) in &rows {
        for sk in [&created_sk, &chosen] {
            let plain = sk.expose().as_bytes();
            assert!(!contains(ciphertext, plain), "the SK of {ak} is in clear");
            assert!(!contains(nonce, plain));
        }
    }
    let found = store
        .find(&created_ak)
        .await
        .unwrap()
        .expect("created credential");
    assert_eq!(found.secret_key(), &created_sk);
    assert_eq!(found.projects(), [project("p1"), project("p2")]);
    assert_eq!(
        store.find("AKCHOSEN").await.unwrap().unwrap().secret_key(),
        &chosen
    );
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_does_not_open() {
    let db = TestDb::migrated().await;
    let store = PgCredentialStore::new(db.pool.clone(), cipher_of(&[("k1", 1)]));
    let admin = admin_of(&store);
    let (victim, _) = admin.create(vec![project("p1")]).await.unwrap();
    let (attacker, _) = admin.create(vec![project("p2")]).await.unwrap();
    sqlx::query(
        "UPDATE credentials SET (secret_ciphertext, nonce) = \
         (SELECT secret_ciphertext, nonce FROM credentials WHERE access_key = $1) \
         WHERE access_key = $2",
    )
    .bind(&victim)
    .bind(&attacker)
    .execute(&db.pool)
    .await
    .unwrap();
    assert!(matches!(
        store.find(&attacker).await,
        Err(CredentialError::Unknown(_))
    ));
}

#[tokio::test]
async fn keys_rotate_without_losing_a_secret() {
    // Arrange: secrets sealed with k1, one of them revoked.
    let db = TestDb::migrated().await;
    let old = PgCredentialStore::new(db.pool.clone(), cipher_of(&[("k1", 1)]));
    let (ak1, sk1) = admin_of(&old).create(vec![project("p")]).await.unwrap();
    let (ak2, _) = admin_of(&old).create(vec![project("p")]).await.unwrap();
    assert!(admin_of(&old).revoke(&ak2).await.unwrap());

    // Act 1: k2 becomes current, k1 still opens.
    let both = PgCredentialStore::new(db.pool.clone(), cipher_of(&[("k2", 2), ("k1", 1)]));
    assert_eq!(both.find(&ak1).await.unwrap().unwrap().secret_key(), &sk1);
    let new_only = PgCredentialStore::new(db.pool.clone(), cipher_of(&[("k2", 2)]));
    assert!(
        new_only.find(&ak1).await.is_err(),
        "k1 may not be dropped before the re-encryption"
    );
    let rotation = KeyRotation::new(Arc::new(both.clone()));
    let resealed = rotation.reencrypt().await.unwrap();

    // Assert: every row is under k2, and k1 can go.
    assert_eq!(resealed, 2);
    assert_eq!(rotation.reencrypt().await.unwrap(), 0);
    let infos = admin_of(&both).list().await.unwrap();
    assert!(
        infos.iter().all(|c| c.key_id.as_deref() == Some("k2")),
        "{infos:?}"
    );
    assert_eq!(
        new_only.find(&ak1).await.unwrap().unwrap().secret_key(),
        &sk1
    );
    // The revoked credential was re-sealed too, and stays revoked: a
    // restart's --seed-credential never brings it back.
    let reseeded = Credential::new(ak2.clone(), Secret::new("fresh"), vec![project("p")]);
    assert_eq!(
        admin_of(&new_only).seed(reseeded).await.unwrap(),
        SeedDecision::KeepRevoked
    );
    assert_eq!(new_only.find(&ak2).await.unwrap(), None);
}

#[tokio::test]
async fn the_find_cache_forgets_local_changes_at_once_and_remote_ones_after_its_ttl() {
    let db = TestDb::migrated().await;
    let here = PgCredentialStore::new(db.pool.clone(), cipher_of(&[("k1", 1)]))
        .with_find_cache(Duration::from_secs(600));
    let elsewhere = PgCredentialStore::new(db.pool.clone(), cipher_of(&[("k1", 1)]));
    let (ak, _) = admin_of(&here).create(vec![project("p1")]).await.unwrap();
    assert!(here.find(&ak).await.unwrap().is_some());

    // Revoked through another instance: this one still answers from its
    // cache until the TTL runs out.
    assert!(admin_of(&elsewhere).revoke(&ak).await.unwrap());
    assert!(here.find(&ak).await.unwrap().is_some());

    // Changed through this instance: seen at once.
    let (ak2, _) = admin_of(&here).create(vec![project("p1")]).await.unwrap();
    assert!(here.find(&ak2).await.unwrap().is_some());
    admin_of(&here)
        .seed(Credential::new(
            ak2.clone(),
            Secret::new("new-sk"),
            vec![project("p2")],
        ))
        .await
        .unwrap();
    let found = here.find(&ak2).await.unwrap().expect("still active");
    assert_eq!(found.secret_key().expose(), "new-sk");
    assert!(admin_of(&here).revoke(&ak2).await.unwrap());
    assert_eq!(here.find(&ak2).await.unwrap(), None);

    let uncached = PgCredentialStore::new(db.pool.clone(), cipher_of(&[("k1", 1)]))
        .with_find_cache(Duration::ZERO);
    assert_eq!(uncached.find(&ak).await.unwrap(), None);
}
/// A key rotation covers webhook secrets: after `reencrypt_all` with a new
/// key first, a store with only the new key opens them (and signs with the
/// same secret); one with a wrong key cannot.
#[tokio::test]
async fn a_key_rotation_reseals_webhook_secrets() {
    use vodsnap_adapter_postgres::PgWebhookStore;
    use vodsnap_domain::{EventTypes, WebhookId, WebhookUrl};
    use vodsnap_ports::{Webhook, WebhookStore, WorkQueue};

    let db = TestDb::migrated().await;
    let old = PgWebhookStore::new(db.pool.clone(), cipher_of(&[("k1", 1)]));
    let webhook = Webhook {
        id: WebhookId::from_random(7),
        project: project("p"),
        url: WebhookUrl::parse("https://hooks.example/").expect("url"),
        events: EventTypes::all(),
        created_at: at(1),
    };
    let audit = vodsnap_ports::AuditRecord::webhook_created(
        &webhook.project,
        &webhook.id,
        &webhook.url,
        &webhook.events,
        at(1),
        &actor(),
    );
    old.create(&webhook, &Secret::new("whsec_rotate_me"), &audit)
        .await
        .expect("create");
    let results = PgTaskResultStore::new(db.pool.clone());
    results
        .service(at(2))
        .register(result("p", "a", "t1", 1), &actor())
        .await
        .expect("register");

    let rotating = PgWebhookStore::new(db.pool.clone(), cipher_of(&[("k2", 2), ("k1", 1)]));
    assert_eq!(rotating.reencrypt_all().await.expect("reencrypt"), 1);
    assert_eq!(rotating.reencrypt_all().await.expect("again"), 0);

    let wrong = PgWebhookStore::new(db.pool.clone(), cipher_of(&[("k1", 1)]));
    assert!(
        wrong
            .claim("w", 10, std::time::Duration::from_secs(60), at(3))
            .await
            .is_err(),
        "the old key alone no longer opens the secret"
    );
    let new = PgWebhookStore::new(db.pool.clone(), cipher_of(&[("k2", 2)]));
    // After the failed claim's lease has run out.
    let claimed = new
        .claim(
            "w",
            10,
            std::time::Duration::from_secs(60),
            at(3 + 61_000_000),
        )
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].secret.expose(), "whsec_rotate_me");
}
