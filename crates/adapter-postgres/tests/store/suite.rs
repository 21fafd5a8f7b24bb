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
impl TaskResultStore for Scoped<PgTaskResultStore> {
    async fn insert(
        &self,
        new: &NewTaskResult,
        now: Timestamp,
        audit: &AuditRecord,
        events: &[vodsnap_domain::Event],
    ) -> Result<Inserted, RegisterError> {
        self.store.insert(new, now, audit, events).await
    }
    async fn list(
        &self,
        project: &ProjectId,
        filter: &ListFilter,
        page: ListPage,
    ) -> Result<Listing, ListError> {
        self.store.list(project, filter, page).await
    }
    async fn details(
        &self,
        project: &ProjectId,
        task: &TaskId,
        page: DetailsPage,
    ) -> Result<SnapshotPage, DetailsError> {
        self.store.details(project, task, page).await
    }
    async fn get(
        &self,
        project: &ProjectId,
        task: &TaskId,
    ) -> Result<Option<TaskResult>, DetailsError> {
        self.store.get(project, task).await
    }
    async fn delete<'a>(
        &self,
        project: &ProjectId,
        selection: &DeleteSelection,
        planner: DeletePlanner<'a>,
    ) -> Result<CommittedDelete, DeleteError> {
        self.store.delete(project, selection, planner).await
    }
    async fn preview_delete<'a>(
        &self,
        project: &ProjectId,
        selection: &DeleteSelection,
        planner: PreviewPlanner<'a>,
    ) -> Result<PreviewedDelete, DeleteError> {
        self.store.preview_delete(project, selection, planner).await
    }
    async fn restore<'a>(
        &self,
        project: &ProjectId,
        selection: &vodsnap_domain::BinSelection,
        planner: vodsnap_ports::BinPlanner<'a>,
    ) -> Result<vodsnap_ports::PlannedBinChange, vodsnap_ports::BinError> {
        self.store.restore(project, selection, planner).await
    }
    async fn purge<'a>(
        &self,
        project: &ProjectId,
        selection: &vodsnap_domain::BinSelection,
        planner: vodsnap_ports::BinPlanner<'a>,
    ) -> Result<vodsnap_ports::PlannedBinChange, vodsnap_ports::BinError> {
        self.store.purge(project, selection, planner).await
    }
    async fn deleted(
        &self,
        project: &ProjectId,
        asset: Option<vodsnap_domain::AssetId>,
        page: ListPage,
        now: Timestamp,
    ) -> Result<vodsnap_ports::DeletedListing, ListError> {
        self.store.deleted(project, asset, page, now).await
    }
    async fn ping(&self) -> Result<(), PingError> {
        self.store.ping().await
    }
}

#[async_trait]
impl AuditLog for Scoped<PgTaskResultStore> {
    async fn records(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, AuditError> {
        self.store.records(query).await
    }
    async fn append(&self, record: &AuditRecord) -> Result<(), AuditError> {
        self.store.append(record).await
    }
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

async fn fresh_task_store() -> Arc<dyn SuiteStore> {
    let db = TestDb::migrated().await;
    Arc::new(Scoped {
        store: PgTaskResultStore::new(db.pool.clone()),
        _db: db,
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
    let store = Arc::new(PgTaskResultStore::new(db.pool.clone()));
    vodsnap_store_suite::cleanup_cases::Stores {
        results: store.clone(),
        cleanup: store.clone(),
        audit: store,
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
    let store = Arc::new(PgTaskResultStore::new(db.pool.clone()));
    vodsnap_store_suite::webhook_cases::WebhookStores {
        results: store.clone(),
        cleanup: store.clone(),
        audit: store,
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

mod credential_suite {
    use super::*;

    vodsnap_store_suite::credential_store_tests!(fresh_credential_store);
}
