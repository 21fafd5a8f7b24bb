//! A delivery's body: `{"id", "type", "project_id", "occurred_at", "data"}`.

use serde::Serialize;
use vodsnap_domain::{Event, Timestamp};

#[derive(Debug, Serialize)]
struct Body<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    project_id: &'a str,
    /// RFC 3339, UTC, microseconds.
    occurred_at: String,
    data: Data<'a>,
}

/// `{"asset_id", "tasks"}`, or `{"asset_id", "tasks_total"}` for
/// `asset.purged` (contract version 3).
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Data<'a> {
    Tasks {
        asset_id: Option<&'a str>,
        tasks: Vec<Task<'a>>,
    },
    AssetPurged {
        asset_id: Option<&'a str>,
        tasks_total: u64,
    },
}

#[derive(Debug, Serialize)]
struct Task<'a> {
    task_id: &'a str,
    asset_id: &'a str,
}

/// The JSON body of `event`, as sent (and signed).
pub fn render(event: &Event) -> Vec<u8> {
    let body = Body {
        id: event.id.as_str(),
        kind: event.kind.as_str(),
        project_id: event.project.as_str(),
        occurred_at: rfc3339(event.occurred_at),
        data: match event.tasks_total {
            Some(tasks_total) => Data::AssetPurged {
                asset_id: event.asset.as_ref().map(|a| a.as_str()),
                tasks_total,
            },
            None => Data::Tasks {
                asset_id: event.asset.as_ref().map(|a| a.as_str()),
                tasks: event
                    .tasks
                    .iter()
                    .map(|t| Task {
                        task_id: t.task.as_str(),
                        asset_id: t.asset.as_str(),
                    })
                    .collect(),
            },
        },
    };
    // Serialising these plain strings cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, from the civil-from-days algorithm
/// (H. Hinnant), so that no date crate is needed for one format.
pub fn rfc3339(at: Timestamp) -> String {
    let micros = at.as_micros();
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_asset_purged_event_carries_its_asset_and_total_not_tasks() {
        use vodsnap_domain::{AssetId, EventId, ProjectId};
        let event = Event::of_asset_purge(
            EventId::from_random(1),
            ProjectId::parse("p").unwrap(),
            AssetId::parse("a").unwrap(),
            12,
            Timestamp::from_micros(0),
        );
        let body: serde_json::Value = serde_json::from_slice(&render(&event)).unwrap();
        assert_eq!(body["type"], "asset.purged");
        assert_eq!(
            body["data"],
            serde_json::json!({"asset_id": "a", "tasks_total": 12})
        );
    }

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(
            rfc3339(Timestamp::from_micros(0)),
            "1970-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            rfc3339(Timestamp::from_micros(1_764_582_896_123_456)),
            "2025-12-01T09:54:56.123456Z"
        );
        assert_eq!(
            rfc3339(Timestamp::from_micros(951_782_400_000_000)),
            "2000-02-29T00:00:00.000000Z"
        );
    }
}
