//! The shared store suite (`vodsnap-store-suite`) on PostgreSQL: each case
//! on a fresh, migrated database of its own.

use crate::common::*;

/// A store that owns its database, so that the database is dropped when
/// the suite's case lets go of the store.
struct Scoped<S> {
    // Declared first so that it is dropped before the database.
    store: S,
    _db: TestDb,
}

#[async_trait]
impl CredentialStore for Scoped<PgCredentialStore> {
    async fn find(&self, access_key: &str) -> Result<Option<Credential>, CredentialError> {
        self.store.find(access_key).await
    }
    async fn state(&self, access_key: &str) -> Result<Option<CredentialState>, CredentialError> {
        self.store.state(access_key).await
    }
    async fn insert(
        &self,
        credential: &Credential,
        now: Timestamp,
    ) -> Result<bool, CredentialError> {
        self.store.insert(credential, now).await
    }
    async fn replace_active(&self, credential: &Credential) -> Result<bool, CredentialError> {
        self.store.replace_active(credential).await
    }
    async fn revoke(&self, access_key: &str, now: Timestamp) -> Result<bool, CredentialError> {
        self.store.revoke(access_key, now).await
    }
    async fn list(&self) -> Result<Vec<CredentialInfo>, CredentialError> {
        self.store.list().await
    }
}

async fn fresh_task_store() -> Arc<SuiteStore> {
    let db = TestDb::migrated().await;
    Arc::new(SuiteStore {
        results: Arc::new(PgTaskResultStore::new(db.pool.clone())),
        audit: Arc::new(PgAuditLog::new(db.pool.clone())),
        keep_alive: Arc::new(db),
    })
}

async fn fresh_credential_store() -> Arc<dyn CredentialStore> {
    let db = TestDb::migrated().await;
    Arc::new(Scoped {
        store: PgCredentialStore::new(db.pool.clone(), cipher_of(&[("k1", 1)])),
        _db: db,
    })
}

mod task_results {
    use super::*;

    vodsnap_store_suite::task_result_store_tests!(fresh_task_store);
}

async fn fresh_cleanup_stores() -> vodsnap_store_suite::cleanup_cases::Stores {
    let db = TestDb::migrated().await;
    vodsnap_store_suite::cleanup_cases::Stores {
        results: Arc::new(PgTaskResultStore::new(db.pool.clone())),
        cleanup: Arc::new(PgCleanupQueue::new(db.pool.clone())),
        audit: Arc::new(PgAuditLog::new(db.pool.clone())),
        keep_alive: Arc::new(db),
    }
}

mod cleanup_suite {
    use super::*;

    vodsnap_store_suite::cleanup_queue_tests!(fresh_cleanup_stores);
}

mod recycle_bin_suite {
    use super::*;

    vodsnap_store_suite::recycle_bin_tests!(fresh_cleanup_stores);
}

async fn fresh_webhook_stores() -> vodsnap_store_suite::webhook_cases::WebhookStores {
    let db = TestDb::migrated().await;
    vodsnap_store_suite::webhook_cases::WebhookStores {
        results: Arc::new(PgTaskResultStore::new(db.pool.clone())),
        cleanup: Arc::new(PgCleanupQueue::new(db.pool.clone())),
        audit: Arc::new(PgAuditLog::new(db.pool.clone())),
        webhooks: Arc::new(vodsnap_adapter_postgres::PgWebhookStore::new(
            db.pool.clone(),
            cipher_of(&[("k1", 1)]),
        )),
        keep_alive: Arc::new(db),
    }
}

mod webhook_suite {
    use super::*;

    vodsnap_store_suite::webhook_store_tests!(fresh_webhook_stores);
}

async fn fresh_purge_stores() -> vodsnap_store_suite::purge_cases::PurgeStores {
    let db = TestDb::migrated().await;
    vodsnap_store_suite::purge_cases::PurgeStores {
        results: Arc::new(PgTaskResultStore::new(db.pool.clone())),
        cleanup: Arc::new(PgCleanupQueue::new(db.pool.clone())),
        audit: Arc::new(PgAuditLog::new(db.pool.clone())),
        purges: Arc::new(vodsnap_adapter_postgres::PgPurgeQueue::new(db.pool.clone())),
        webhooks: Arc::new(vodsnap_adapter_postgres::PgWebhookStore::new(
            db.pool.clone(),
            cipher_of(&[("k1", 1)]),
        )),
        keep_alive: Arc::new(db),
    }
}

mod asset_purge_suite {
    use super::*;

    vodsnap_store_suite::asset_purge_tests!(fresh_purge_stores);
}

async fn fresh_reconcile_stores() -> vodsnap_store_suite::reconcile_cases::ReconcileStores {
    let db = TestDb::migrated().await;
    vodsnap_store_suite::reconcile_cases::ReconcileStores {
        results: Arc::new(PgTaskResultStore::new(db.pool.clone())),
        cleanup: Arc::new(PgCleanupQueue::new(db.pool.clone())),
        audit: Arc::new(PgAuditLog::new(db.pool.clone())),
        reconcile: Arc::new(vodsnap_adapter_postgres::PgReconcileStore::new(
            db.pool.clone(),
        )),
        keep_alive: Arc::new(db),
    }
}

mod reconcile_suite {
    use super::*;

    vodsnap_store_suite::reconcile_store_tests!(fresh_reconcile_stores);
}

mod credential_suite {
    use super::*;

    vodsnap_store_suite::credential_store_tests!(fresh_credential_store);
}
