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

#[tokio::test]
async fn an_unreachable_database_fails_fast() {
    let started = Instant::now();
    // Port 1 on loopback: nothing listens there, so the connection is refused.
    let outcome = connect("postgres://postgres@127.0.0.1:1/postgres", 2).await;
    assert!(outcome.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
}
