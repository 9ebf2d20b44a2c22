//! A retention-policy test plugin: keeps the newest candidate of each group. Its
//! reasons carry its version (a `v2` feature build exists for hot-swap tests), and
//! `{"spinMs": N}` makes each call take N milliseconds (a long run to swap during).

use binyard_plugin_sdk::retention_policy::{Candidate, Decision, Description, Failure, Guest};

const VERSION: &str = if cfg!(feature = "v2") { "2.0.0" } else { "1.0.0" };

struct KeepNewest;

/// Busy-waits (the sandbox has no sleep) for the configured time.
fn spin(config: &str) {
    let ms = config
        .split("\"spinMs\":")
        .nth(1)
        .map(|r| r.trim().chars().take_while(char::is_ascii_digit).collect::<String>())
        .and_then(|d| d.parse::<u64>().ok())
        .unwrap_or(0);
    let start = std::time::Instant::now();
    while start.elapsed().as_millis() < u128::from(ms) {
        std::hint::spin_loop();
    }
}

impl Guest for KeepNewest {
    fn describe() -> Description {
        Description {
            name: "test-keep-newest".into(),
            version: VERSION.into(),
            summary: "Keeps the newest candidate of each group (test plugin)".into(),
            coordinates: Vec::new(),
        }
    }

    fn select(config: String, candidates: Vec<Candidate>, _now_ms: i64) -> Result<Vec<Decision>, Failure> {
        spin(&config);
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
                        format!("v{VERSION}: newest of its group")
                    } else {
                        format!("v{VERSION}: a newer one exists")
                    },
                }
            })
            .collect())
    }
}

binyard_plugin_sdk::retention_policy::export_retention_policy!(KeepNewest);
