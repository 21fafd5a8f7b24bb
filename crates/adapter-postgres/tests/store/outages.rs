//! A database that is gone: unavailable, not unknown, and fast to say so.

use crate::common::*;

#[tokio::test]
async fn a_closed_pool_is_unavailable_not_unknown() {
    let db = TestDb::migrated().await;
    let store = PgTaskResultStore::new(db.pool.clone());
    db.pool.close().await;

    assert!(store.ping().await.is_err());
    let registered = store
        .service(at(1))
        .register(result("p", "a", "t", 1), &actor())
        .await;
    assert!(
        matches!(registered, Err(RegisterError::Unavailable(_))),
        "{registered:?}"
    );
    // The port itself, not the service (which answers UNKNOW items).
    let plan_nothing = |found| vodsnap_ports::PlannedDelete {
        trace: None,
        plan: vodsnap_domain::DeletePlan::decide(&by_tasks(&["t".to_owned()]), found),
        audit: AuditRecord::deletion(&project("p"), &by_tasks(&[]), &[], at(1), &actor()),
        at: at(1),
        purge_at: at(1),
        events: Vec::new(),
    };
    let deleted = store
        .delete(&project("p"), &by_tasks(&["t".to_owned()]), &plan_nothing)
        .await;
    assert!(
        matches!(deleted, Err(DeleteError::Unavailable(_))),
        "{deleted:?}"
    );
    let answered = store
        .service(at(1))
        .delete(&project("p"), &by_tasks(&["t".to_owned()]), &actor())
        .await
        .expect("named tasks answer UNKNOW items");
    assert!(
        answered
            .items
            .iter()
            .all(|i| i.status() == DeleteStatus::Unknow)
    );
    let listed = store
        .list(&project("p"), &ListFilter::default(), ListPage::default())
        .await;
    assert!(
        matches!(listed, Err(ListError::Unavailable(_))),
        "{listed:?}"
    );
}

/// A server pointed at a database that does not answer does not start:
/// `connect` gives up at its own acquire deadline (`ACQUIRE_TIMEOUT`,
/// retrying refused connections until then) with an error that says what
/// failed and leaks no password. Only a hang is guarded by a time, and a
/// generous one: what is asserted is the outcome, never a duration.
#[tokio::test]
async fn an_unreachable_database_fails_fast() {
    // Port 1 on loopback: nothing listens there, so the connection is refused.
    let url = "postgres://postgres:not-a-real-password@127.0.0.1:1/postgres";

    let outcome = tokio::time::timeout(ACQUIRE_TIMEOUT * 12, connect(url, 2))
        .await
        .expect("connect hung instead of giving up at its acquire deadline");

    let error = outcome.expect_err("nothing listens on port 1");
    let message = format!("{error:#}");
    assert!(
        message.starts_with("failed to connect to the database"),
        "{message}"
    );
    assert!(
        matches!(
            error.downcast_ref::<sqlx::Error>(),
            Some(sqlx::Error::PoolTimedOut)
        ),
        "not a give-up at the acquire deadline: {message}"
    );
    assert!(!message.contains("not-a-real-password"), "{message}");
}
