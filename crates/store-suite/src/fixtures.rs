//! Builders for the suite's task results.

use vodsnap_domain::{
    AssetId, NewTaskResult, ObjectKey, ProjectId, Snapshot, TaskId, ThumbnailPara,
    ThumbnailParaInput, Timestamp,
};

pub fn project(raw: &str) -> ProjectId {
    ProjectId::parse(raw).expect("valid project id")
}

pub fn asset(raw: &str) -> AssetId {
    AssetId::parse(raw).expect("valid asset id")
}

pub fn task(raw: &str) -> TaskId {
    TaskId::parse(raw).expect("valid task id")
}

/// The actor the suite's changes are made by.
pub fn actor() -> vodsnap_ports::Actor {
    vodsnap_ports::Actor {
        principal: "ak:SUITE".into(),
        request_id: "req-suite".into(),
        client: Some("127.0.0.1:1".into()),
    }
}

pub fn at(micros: i64) -> Timestamp {
    Timestamp::from_micros(micros)
}

pub fn para(time: i64) -> ThumbnailPara {
    ThumbnailPara::parse(ThumbnailParaInput {
        kind: Some("time".into()),
        time: Some(time),
        ..ThumbnailParaInput::default()
    })
    .expect("valid para")
}

/// A task result with `count` snapshots at offsets 0, 10, 20, ... whose
/// keys are `{project}/{asset}/{task}/{i}.jpg`.
pub fn result(p: &str, a: &str, t: &str, count: i64) -> NewTaskResult {
    let snapshots = (0..count)
        .map(|i| {
            let key = ObjectKey::parse(&format!("{p}/{a}/{t}/{i}.jpg")).expect("valid key");
            Snapshot::new(i * 10, key).expect("valid snapshot")
        })
        .collect();
    NewTaskResult::new(project(p), asset(a), task(t), para(10), snapshots).expect("valid result")
}

/// A completion's event planner that plans no event (cases about the queue
/// alone).
pub fn no_events(
    _: &ProjectId,
    _: Vec<vodsnap_domain::EventTask>,
) -> Option<vodsnap_domain::Event> {
    None
}
