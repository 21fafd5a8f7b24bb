//! Another service reusing vodsnap's rules: a transcoder that makes
//! snapshots, names their objects, and handles its own delete calls.
//!
//! It parses a delete request as vodsnap does (the 10-task rule, refusing
//! unknown parameters), builds the object keys of what it produced under
//! its project's prefix (keys that every object store holds unchanged),
//! and decides each item's outcome with vodsnap's delete plan, so its
//! answers are the same as vodsnap's. Its own storage is a `Vec` here.
//!
//! `cargo run -p vodsnap-domain --example transcoder`; `cargo xtask test`
//! runs it, and it exits non-zero when a rule answers otherwise than below.

use std::process::ExitCode;

use vodsnap_domain::{
    AssetId, DeletePlan, DeleteRequest, DeleteStatus, FoundTask, NewTaskResult, ObjectKey,
    ProjectId, RegistrationError, SelectionError, Snapshot, TaskId, ThumbnailPara,
    ThumbnailParaInput,
};

/// What the transcoder keeps of each task it ran: the domain's own value.
struct Stored {
    result: NewTaskResult,
    deleted: bool,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => {
            println!("transcoder example: every rule answered as expected");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("transcoder example: {why}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let project = ProjectId::parse("acme").map_err(|e| e.to_string())?;
    let asset = AssetId::parse("movie_42").map_err(|e| e.to_string())?;

    // 1. Object keys for what it produced: one snapshot every 10 s, under
    //    `{project}/{asset}/{task}/`, checked as vodsnap checks them.
    let mut store = Vec::new();
    for task in ["t1", "t2", "t3"] {
        let task = TaskId::parse(task).map_err(|e| e.to_string())?;
        let result = produce(&project, &asset, &task, 3)?;
        println!(
            "registered {} with {} snapshots, the first at {}",
            result.task(),
            result.snapshots().len(),
            result.snapshots()[0].object_key().as_str()
        );
        store.push(Stored {
            result,
            deleted: false,
        });
    }
    // A key that climbs out of the storage root never exists.
    expect(
        ObjectKey::parse("acme/../other/0.jpg").is_err(),
        "a '..' segment is refused",
    )?;
    // Nor does a result whose keys lie under another project's prefix.
    let foreign = Snapshot::new(0, key("other/movie_42/t9/0.jpg")?).map_err(|e| e.to_string())?;
    let refused = NewTaskResult::new(
        project.clone(),
        asset.clone(),
        TaskId::parse("t9").map_err(|e| e.to_string())?,
        para()?,
        vec![foreign],
    );
    expect(
        matches!(
            refused,
            Err(RegistrationError::ObjectKeyOutsideProject { index: 0, .. })
        ),
        "a key outside the project is refused, naming its item",
    )?;

    // 2. Its delete call, parsed from the query it received.
    let query = [
        ("asset_id", "movie_42"),
        ("task_id", "t1"),
        ("task_id", "nope"),
        ("task_id", "t1"),
    ];
    let request = DeleteRequest::from_query(&query).map_err(|e| e.to_string())?;
    expect(
        request.selection().tasks().len() == 2,
        "duplicates collapse",
    )?;
    // A misspelled selector never widens a delete.
    expect(
        matches!(
            DeleteRequest::from_query(&[("task_ids", "t1")]),
            Err(SelectionError::UnknownParameter(_))
        ),
        "an unknown parameter is refused",
    )?;
    // Eleven tasks are one too many.
    let eleven: Vec<(&str, String)> = (0..11).map(|i| ("task_id", format!("t{i}"))).collect();
    expect(
        matches!(
            DeleteRequest::from_query(&eleven),
            Err(SelectionError::TooManyTasks(11))
        ),
        "more than 10 tasks are refused",
    )?;

    // 3. The outcome of each item, decided from what its store found.
    let found: Vec<FoundTask> = store
        .iter()
        .filter(|s| request.selection().tasks().contains(s.result.task()))
        .map(|s| FoundTask {
            task: s.result.task().clone(),
            asset: s.result.asset().clone(),
            deleted: s.deleted,
        })
        .collect();
    let plan = DeletePlan::decide(request.selection(), found);
    for stored in &mut store {
        if plan.doomed().contains(stored.result.task()) {
            stored.deleted = true;
        }
    }
    let answer: Vec<(String, &str)> = plan
        .items()
        .iter()
        .map(|i| (i.task_id().to_string(), i.status().as_str()))
        .collect();
    println!("delete answered {answer:?}");
    expect(
        answer
            == [
                ("t1".to_owned(), DeleteStatus::Deleted.as_str()),
                ("nope".to_owned(), DeleteStatus::Failed.as_str()),
            ],
        "t1 DELETED, the unknown task FAILED",
    )?;
    let live: Vec<&str> = store
        .iter()
        .filter(|s| !s.deleted)
        .map(|s| s.result.task().as_str())
        .collect();
    expect(live == ["t2", "t3"], "only t1 is gone")?;
    Ok(())
}

/// The task result a transcoding run produced: `count` snapshots, 10 s apart.
fn produce(
    project: &ProjectId,
    asset: &AssetId,
    task: &TaskId,
    count: i64,
) -> Result<NewTaskResult, String> {
    let snapshots = (0..count)
        .map(|i| {
            let key = key(&format!("{project}/{asset}/{task}/{i}.jpg"))?;
            Snapshot::new(i * 10, key).map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, String>>()?;
    NewTaskResult::new(
        project.clone(),
        asset.clone(),
        task.clone(),
        para()?,
        snapshots,
    )
    .map_err(|e| e.to_string())
}

fn key(raw: &str) -> Result<ObjectKey, String> {
    ObjectKey::parse(raw).map_err(|e| format!("{raw}: {e}"))
}

/// One snapshot every 10 seconds, the other parameters at their defaults.
fn para() -> Result<ThumbnailPara, String> {
    ThumbnailPara::parse(ThumbnailParaInput {
        kind: Some("time".to_owned()),
        time: Some(10),
        ..ThumbnailParaInput::default()
    })
    .map_err(|e| e.to_string())
}

fn expect(holds: bool, rule: &str) -> Result<(), String> {
    if holds {
        println!("ok: {rule}");
        Ok(())
    } else {
        Err(format!("expected: {rule}"))
    }
}
