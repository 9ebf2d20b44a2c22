//! A retention-policy test plugin: keeps the newest candidate of each group.

use binyard_plugin_sdk::retention_policy::{Candidate, Decision, Description, Failure, Guest};

struct KeepNewest;

impl Guest for KeepNewest {
    fn describe() -> Description {
        Description {
            name: "test-keep-newest".into(),
            version: "1.0.0".into(),
            summary: "Keeps the newest candidate of each group (test plugin)".into(),
        }
    }

    fn select(_config: String, candidates: Vec<Candidate>, _now_ms: i64) -> Result<Vec<Decision>, Failure> {
        Ok(candidates
            .iter()
            .map(|c| {
                let newest = candidates
                    .iter()
                    .filter(|o| o.group == c.group)
                    .all(|o| o.created_ms <= c.created_ms);
                Decision {
                    id: c.id.clone(),
                    delete: !newest,
                    reason: if newest {
                        "newest of its group".into()
                    } else {
                        "a newer one exists".into()
                    },
                }
            })
            .collect())
    }
}

binyard_plugin_sdk::retention_policy::export_retention_policy!(KeepNewest);
