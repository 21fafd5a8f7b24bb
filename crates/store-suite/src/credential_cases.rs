//! The cases every `CredentialStore` passes.

use std::sync::Arc;

use vodsnap_domain::Secret;
use vodsnap_ports::{Credential, CredentialStore};

use crate::fixtures::project;

pub async fn unknown_access_key_is_none(store: Arc<dyn CredentialStore>) {
    assert_eq!(store.find("NOPE").await.expect("find"), None);
}

pub async fn upsert_creates_then_replaces(store: Arc<dyn CredentialStore>) {
    let first = Credential::new("AK1".into(), Secret::new("sk-one"), vec![project("p1")]);
    store.upsert(first.clone()).await.expect("create");
    assert_eq!(store.find("AK1").await.expect("find"), Some(first));

    let second = Credential::new(
        "AK1".into(),
        Secret::new("sk-two"),
        vec![project("p1"), project("p2")],
    );
    store.upsert(second.clone()).await.expect("replace");
    assert_eq!(store.find("AK1").await.expect("find"), Some(second));
}
