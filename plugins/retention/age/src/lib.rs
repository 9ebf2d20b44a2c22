//! Deletes by age or by "not downloaded since". Configuration: `maxAgeDays`
//! (created longer ago than this: deleted), `notDownloadedForDays` (not downloaded
//! for this long: deleted; a file never downloaded counts from its creation), at
//! least one of the two; when both are set, either one deletes. `keepNewest`
//! (default true) keeps the newest version of each group whatever its age.

use binyard_plugin_sdk::retention_policy::{Candidate, Decision, Description, Failure, Guest};
use retention_common::{Config, DAY_MS, bad, days, decision, newest_first};

struct Age;

/// The decisions for every candidate at `now_ms`.
pub fn decide(config: &str, candidates: &[Candidate], now_ms: i64) -> Result<Vec<Decision>, Failure> {
    let c = Config::parse(config)?;
    c.only(&["maxAgeDays", "notDownloadedForDays", "keepNewest"])?;
    let max_age = c.number("maxAgeDays")?;
    let idle = c.number("notDownloadedForDays")?;
    if max_age.is_none() && idle.is_none() {
        return Err(bad("set maxAgeDays or notDownloadedForDays (or both)"));
    }
    let keep_newest = c.bool("keepNewest")?.unwrap_or(true);
    let ms = |d: f64| (d * DAY_MS as f64) as i64;
    let mut out = Vec::with_capacity(candidates.len());
    for (group, (_, files)) in newest_first(candidates, None) {
        let newest = files[0].version.clone();
        for f in files {
            let age = now_ms - f.created_ms;
            let (since, never) = if f.last_downloaded_ms > 0 {
                (now_ms - f.last_downloaded_ms, false)
            } else {
                (age, true)
            };
            let d = if keep_newest && f.version == newest {
                decision(
                    f,
                    false,
                    format!("version {newest} is the newest of '{group}' (keepNewest)"),
                )
            } else if let Some(m) = max_age.filter(|m| age > ms(*m)) {
                decision(
                    f,
                    true,
                    format!("created {} days ago, more than maxAgeDays {m}", days(age)),
                )
            } else if let Some(m) = idle.filter(|m| since > ms(*m)) {
                let what = if never {
                    format!("never downloaded, created {} days ago", days(age))
                } else {
                    format!("last downloaded {} days ago", days(since))
                };
                decision(f, true, format!("{what}, more than notDownloadedForDays {m}"))
            } else {
                decision(
                    f,
                    false,
                    format!(
                        "created {} days ago, used {} days ago: within the limits",
                        days(age),
                        days(since)
                    ),
                )
            };
            out.push(d);
        }
    }
    Ok(out)
}

impl Guest for Age {
    fn describe() -> Description {
        Description {
            name: "retention-age".into(),
            version: "1.0.0".into(),
            summary: "Deletes what is older than maxAgeDays or not downloaded for notDownloadedForDays".into(),
            coordinates: retention_common::standard_coordinates(),
        }
    }

    fn select(config: String, candidates: Vec<Candidate>, now_ms: i64) -> Result<Vec<Decision>, Failure> {
        decide(&config, &candidates, now_ms)
    }
}

binyard_plugin_sdk::retention_policy::export_retention_policy!(Age);

#[cfg(test)]
mod tests {
    use super::*;
    use retention_common::{candidate, deleted_ids};

    const NOW: i64 = 1000 * DAY_MS;

    /// The example of `plugins/retention/README.md` (days before NOW).
    fn example() -> Vec<Candidate> {
        let ago = |d: i64| NOW - d * DAY_MS;
        vec![
            candidate("a-1.0", "a", "1.0", ago(400), ago(2)),
            candidate("a-2.0", "a", "2.0", ago(200), 0),
            candidate("a-3.0", "a", "3.0", ago(100), 0),
            candidate("b-1.0", "b", "1.0", ago(500), 0),
            candidate("c-0.1", "c", "0.1", ago(10), ago(1)),
            candidate("c-0.2", "c", "0.2", ago(5), 0),
        ]
    }

    fn deleted(config: &str) -> Vec<String> {
        deleted_ids(decide(config, &example(), NOW))
    }

    #[test]
    fn documented_decisions() {
        assert_eq!(deleted(r#"{"maxAgeDays": 150}"#), ["a-1.0", "a-2.0"]);
        assert_eq!(deleted(r#"{"notDownloadedForDays": 30}"#), ["a-2.0"]);
        assert_eq!(
            deleted(r#"{"maxAgeDays": 300, "notDownloadedForDays": 30}"#),
            ["a-1.0", "a-2.0"]
        );
        assert_eq!(
            deleted(r#"{"maxAgeDays": 150, "keepNewest": false}"#),
            ["a-1.0", "a-2.0", "b-1.0"]
        );
        assert_eq!(
            deleted(r#"{"notDownloadedForDays": 3, "keepNewest": false}"#),
            ["a-2.0", "a-3.0", "b-1.0", "c-0.2"]
        );
        let d = decide(r#"{"notDownloadedForDays": 30}"#, &example(), NOW).unwrap();
        let a2 = d.iter().find(|d| d.id == "a-2.0").unwrap();
        assert_eq!(
            a2.reason,
            "never downloaded, created 200 days ago, more than notDownloadedForDays 30"
        );
        let a1 = d.iter().find(|d| d.id == "a-1.0").unwrap();
        assert_eq!(a1.reason, "created 400 days ago, used 2 days ago: within the limits");
        let b = d.iter().find(|d| d.id == "b-1.0").unwrap();
        assert_eq!(b.reason, "version 1.0 is the newest of 'b' (keepNewest)");
    }

    #[test]
    fn bad_settings_name_the_field() {
        for (cfg, field) in [
            (r#"{}"#, "maxAgeDays"),
            (r#"{"maxAgeDays": -1}"#, "maxAgeDays"),
            (r#"{"notDownloadedForDays": "30"}"#, "notDownloadedForDays"),
            (r#"{"maxAgeDays": 1, "keepNewest": "no"}"#, "keepNewest"),
            (r#"{"maxAge": 1}"#, "maxAge"),
        ] {
            let e = decide(cfg, &example(), NOW).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(field), "{cfg}: {}", e.message);
        }
    }
}
