//! Events: a change records its events in the same metadata transaction (an
//! outbox, `Change::Event`), so an event exists exactly when its change happened.
//! `webhooks/` reads the outbox and delivers them.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock;
use crate::storage::{Change, Item};

/// The event types the host records itself (artifact and build events).
pub const HOST_EVENTS: [&str; 9] = [
    "deployed",
    "deleted",
    "moved",
    "copied",
    "property_added",
    "property_deleted",
    "build_published",
    "build_promotion",
    "build_deleted",
];

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Stable identifier: the same on every delivery attempt.
    pub id: String,
    /// "artifact", "build" or a format event's domain.
    pub domain: String,
    pub event_type: String,
    /// The repository the event is about ("" for builds), for subscription criteria.
    pub repo: String,
    /// The path inside it, for include/exclude patterns.
    pub path: String,
    pub time_ms: i64,
    /// What receivers get as the event's data.
    pub data: Value,
}

fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn item_data(repo: &str, path: &str, item: &Item) -> Value {
    let b = item.blob.clone().unwrap_or_default();
    json!({
        "repo_key": repo,
        "path": path,
        "name": name_of(path),
        "sha256": b.sha256,
        "size": b.size,
    })
}

impl EventRecord {
    fn new(domain: &str, event_type: &str, repo: &str, path: &str, data: Value) -> EventRecord {
        EventRecord {
            id: crate::ids::random_secret(16),
            domain: domain.into(),
            event_type: event_type.into(),
            repo: repo.into(),
            path: path.into(),
            time_ms: clock::now_ms(),
            data,
        }
    }

    /// `deployed` or `deleted` of a file.
    pub fn artifact(event_type: &str, repo: &str, path: &str, item: &Item) -> EventRecord {
        Self::new("artifact", event_type, repo, path, item_data(repo, path, item))
    }

    /// `copied` or `moved` of a file to `dst_repo`/`dst_path`.
    pub fn transfer(event_type: &str, src: (&str, &str), dst: (&str, &str), item: &Item) -> EventRecord {
        let mut data = item_data(dst.0, dst.1, item);
        data["source_repo_path"] = json!(format!("{}/{}", src.0, src.1));
        data["target_repo_path"] = json!(format!("{}/{}", dst.0, dst.1));
        Self::new("artifact", event_type, dst.0, dst.1, data)
    }

    /// `property_added` or `property_deleted` on an item.
    pub fn property(
        event_type: &str,
        repo: &str,
        path: &str,
        item: &Item,
        key: &str,
        values: &[String],
    ) -> EventRecord {
        let data = json!({
            "item": item_data(repo, path, item),
            "property": {"key": key, "values": values},
        });
        Self::new("artifact", event_type, repo, path, data)
    }

    /// An event of another domain (builds, formats).
    pub fn other(domain: &str, event_type: &str, repo: &str, path: &str, data: Value) -> EventRecord {
        Self::new(domain, event_type, repo, path, data)
    }

    /// The outbox entry to put in the transaction of the change.
    pub fn change(&self) -> Change {
        Change::Event(serde_json::to_vec(self).expect("events serialise"))
    }
}
