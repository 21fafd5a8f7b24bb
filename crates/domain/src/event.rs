//! Events: what vodsnap tells subscribers happened (registered, deleted,
//! restored, purged), and their ids.
//!
//! Events are decided here (what a registration or a delete emits) and
//! written by the stores in the same atomic step as their change (an
//! outbox); delivery workers send them later, at least once.
//!
//! vodsnap's own service uses this module (the crate's README, "The public
//! types, for other services"): public for vodsnap's crates, with no
//! promise of stability to other services.

use std::fmt;

use crate::id::{AssetId, ProjectId, TaskId};
use crate::time::Timestamp;
use crate::webhook::{WebhookError, hex_id, truncate};

/// The kinds of events, as their wire names say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// A task result was registered (not sent for a repeated registration).
    Registered,
    /// A delete call tombstoned task results (one event per call).
    Deleted,
    /// A deleted task result was restored from the recycle bin.
    Restored,
    /// A task result's objects are gone for good.
    Purged,
    /// A whole asset's purge (`DeleteAssets`) ended: its last batch ran.
    AssetPurged,
}

impl EventType {
    /// Every kind, in wire order.
    pub const ALL: [EventType; 5] = [
        EventType::Registered,
        EventType::Deleted,
        EventType::Restored,
        EventType::Purged,
        EventType::AssetPurged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registered => "thumbnails.registered",
            Self::Deleted => "thumbnails.deleted",
            Self::Restored => "thumbnails.restored",
            Self::Purged => "thumbnails.purged",
            Self::AssetPurged => "asset.purged",
        }
    }

    /// The kind with this wire name.
    pub fn parse(raw: &str) -> Result<Self, WebhookError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == raw)
            .ok_or_else(|| WebhookError::UnknownEvent(truncate(raw)))
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The events a subscription asks for: at least one, each once, in wire
/// order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypes(Vec<EventType>);

impl EventTypes {
    /// Every event (a subscription that names none).
    pub fn all() -> Self {
        Self(EventType::ALL.to_vec())
    }

    /// The named events; `None` means all of them. Duplicates collapse;
    /// an empty list or an unknown name is refused.
    pub fn parse<S: AsRef<str>>(names: Option<&[S]>) -> Result<Self, WebhookError> {
        let Some(names) = names else {
            return Ok(Self::all());
        };
        let mut kinds = names
            .iter()
            .map(|n| EventType::parse(n.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if kinds.is_empty() {
            return Err(WebhookError::NoEvents);
        }
        kinds.sort();
        kinds.dedup();
        Ok(Self(kinds))
    }

    pub fn contains(&self, kind: EventType) -> bool {
        self.0.contains(&kind)
    }

    pub fn as_slice(&self) -> &[EventType] {
        &self.0
    }
}

/// An event's id: `evt_` and 32 lower-case hex digits; receivers dedupe
/// deliveries by it (a retried or redelivered event keeps its id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId(String);

impl EventId {
    /// A new id from 128 random bits.
    pub fn from_random(bits: u128) -> Self {
        Self(format!("evt_{bits:032x}"))
    }

    pub fn parse(raw: &str) -> Result<Self, WebhookError> {
        if hex_id("evt_", 32, raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(WebhookError::BadId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A task an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTask {
    pub task: TaskId,
    pub asset: AssetId,
}

/// One event, as written to the outbox and delivered: its data is the
/// selection's asset (`None` for a delete by task ids alone) and the tasks
/// it is about, each with its own asset; an `asset.purged` event names its
/// asset and `tasks_total` instead of tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: EventId,
    pub kind: EventType,
    pub project: ProjectId,
    pub occurred_at: Timestamp,
    pub asset: Option<AssetId>,
    pub tasks: Vec<EventTask>,
    /// The purge's `tasks_total` (`asset.purged` only; `None` otherwise).
    pub tasks_total: Option<u64>,
}

impl Event {
    /// One task's event (registered, restored, purged).
    pub fn of_task(
        id: EventId,
        kind: EventType,
        project: ProjectId,
        asset: AssetId,
        task: TaskId,
        at: Timestamp,
    ) -> Self {
        Self {
            id,
            kind,
            project,
            occurred_at: at,
            asset: Some(asset.clone()),
            tasks: vec![EventTask { task, asset }],
            tasks_total: None,
        }
    }

    /// The `asset.purged` event of a purge of `asset` that ended at `at`
    /// (its last batch): once per purge, even when the asset had no task,
    /// so a subscriber learns that every purge it asked for is over.
    pub fn of_asset_purge(
        id: EventId,
        project: ProjectId,
        asset: AssetId,
        tasks_total: u64,
        at: Timestamp,
    ) -> Self {
        Self {
            id,
            kind: EventType::AssetPurged,
            project,
            occurred_at: at,
            asset: Some(asset),
            tasks: Vec::new(),
            tasks_total: Some(tasks_total),
        }
    }

    /// The `thumbnails.restored` event of one restore call: the tasks it
    /// brought back from the recycle bin, each with its asset, or `None`
    /// when it brought none back (every task already live, unknown, or past
    /// its window). A restore names tasks, not an asset: `asset` is `None`.
    pub fn of_restore(
        id: EventId,
        project: ProjectId,
        restored: Vec<EventTask>,
        at: Timestamp,
    ) -> Option<Self> {
        Self::of_tasks(id, EventType::Restored, project, restored, at)
    }

    /// The `thumbnails.purged` event of one completion of cleanup items in
    /// one project: the deleted tasks whose last queued object it
    /// completed (removed, or kept because still referenced), so that none
    /// of their objects is left to remove; `None` when it finished no task.
    /// One event per completed batch and project, not per task: the
    /// cleanup's cost stays a constant number of statements per batch.
    pub fn of_purge(
        id: EventId,
        project: ProjectId,
        purged: Vec<EventTask>,
        at: Timestamp,
    ) -> Option<Self> {
        Self::of_tasks(id, EventType::Purged, project, purged, at)
    }

    fn of_tasks(
        id: EventId,
        kind: EventType,
        project: ProjectId,
        tasks: Vec<EventTask>,
        at: Timestamp,
    ) -> Option<Self> {
        if tasks.is_empty() {
            return None;
        }
        Some(Self {
            id,
            kind,
            project,
            occurred_at: at,
            asset: None,
            tasks,
            tasks_total: None,
        })
    }

    /// The event of one delete call: the tasks it tombstoned, or `None`
    /// when it tombstoned none (every task already deleted, unknown or of
    /// another asset): a call that changed nothing sends nothing.
    pub fn of_delete(
        id: EventId,
        project: ProjectId,
        selected_asset: Option<AssetId>,
        tombstoned: Vec<EventTask>,
        at: Timestamp,
    ) -> Option<Self> {
        if tombstoned.is_empty() {
            return None;
        }
        Some(Self {
            id,
            kind: EventType::Deleted,
            project,
            occurred_at: at,
            asset: selected_asset,
            tasks: tombstoned,
            tasks_total: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_round_trip_and_refuse_anything_else() {
        let e = EventId::from_random(7);
        assert_eq!(EventId::parse(e.as_str()).unwrap(), e);
        for bad in [
            "",
            "evt_",
            "evt_XYZ",
            "wh_00",
            "evt_00000000000000000000000g",
        ] {
            assert!(EventId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn events_default_to_all_refuse_unknown_and_empty_and_dedupe() {
        assert_eq!(EventTypes::parse::<&str>(None).unwrap(), EventTypes::all());
        assert_eq!(
            EventTypes::parse(Some(&["thumbnails.nope"])),
            Err(WebhookError::UnknownEvent("thumbnails.nope".into()))
        );
        assert_eq!(
            EventTypes::parse::<&str>(Some(&[])),
            Err(WebhookError::NoEvents)
        );
        let two = EventTypes::parse(Some(&[
            "thumbnails.deleted",
            "thumbnails.registered",
            "thumbnails.deleted",
        ]))
        .unwrap();
        assert_eq!(two.as_slice(), [EventType::Registered, EventType::Deleted]);
    }

    #[test]
    fn a_delete_that_tombstoned_nothing_sends_nothing() {
        let p = ProjectId::parse("p").unwrap();
        let at = Timestamp::from_micros(0);
        assert_eq!(
            Event::of_delete(EventId::from_random(1), p.clone(), None, vec![], at),
            None
        );
        let task = EventTask {
            task: TaskId::parse("t").unwrap(),
            asset: AssetId::parse("a").unwrap(),
        };
        let event = Event::of_delete(EventId::from_random(1), p, None, vec![task], at).unwrap();
        assert_eq!(event.kind, EventType::Deleted);
    }

    #[test]
    fn a_restore_or_purge_that_changed_nothing_sends_nothing() {
        let p = ProjectId::parse("p").unwrap();
        let at = Timestamp::from_micros(5);
        assert_eq!(
            Event::of_restore(EventId::from_random(1), p.clone(), vec![], at),
            None
        );
        assert_eq!(
            Event::of_purge(EventId::from_random(1), p.clone(), vec![], at),
            None
        );
        let task = EventTask {
            task: TaskId::parse("t").unwrap(),
            asset: AssetId::parse("a").unwrap(),
        };
        let restored =
            Event::of_restore(EventId::from_random(2), p.clone(), vec![task.clone()], at).unwrap();
        assert_eq!(
            (restored.kind, restored.asset.as_ref(), restored.occurred_at),
            (EventType::Restored, None, at)
        );
        let purged = Event::of_purge(EventId::from_random(3), p, vec![task.clone()], at).unwrap();
        assert_eq!((purged.kind, purged.tasks), (EventType::Purged, vec![task]));
    }

    #[test]
    fn an_asset_purge_names_its_asset_and_total_even_when_empty() {
        let p = ProjectId::parse("p").unwrap();
        let a = AssetId::parse("a").unwrap();
        let at = Timestamp::from_micros(9);
        let event = Event::of_asset_purge(EventId::from_random(4), p, a.clone(), 0, at);
        assert_eq!(event.kind.as_str(), "asset.purged");
        assert_eq!(
            (event.asset, event.tasks.len(), event.tasks_total),
            (Some(a), 0, Some(0))
        );
        assert_eq!(EventType::parse("asset.purged"), Ok(EventType::AssetPurged));
    }
}
