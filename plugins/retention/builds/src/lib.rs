//! Artifactory's build retention as a retention-policy plugin. Candidates are the
//! runs of a build (group: the build name, version: the build number, created: its
//! `started`). Configuration, as Artifactory's `buildRetention`:
//! `count` (keep that many newest runs; absent or ≤ 0: no limit),
//! `minimumBuildDate` (milliseconds: runs started before are deleted),
//! `buildNumbersNotToBeDiscarded` (never deleted; wins over both rules),
//! `deleteBuildArtifacts` (acted on by the host; named in the reasons).
//! The protected runs count among the newest.

use binyard_plugin_sdk::retention_policy::{Candidate, Decision, Description, Failure, Guest};
use binyard_plugin_sdk::time::iso8601;
use retention_common::{Config, bad, decision, newest_first};

struct BuildRetention;

/// The settings, checked.
struct Settings {
    count: Option<usize>,
    minimum_ms: Option<i64>,
    protected: Vec<String>,
    with_artifacts: bool,
}

fn settings(config: &str) -> Result<Settings, Failure> {
    let c = Config::parse(config)?;
    c.only(&[
        "count",
        "minimumBuildDate",
        "buildNumbersNotToBeDiscarded",
        "deleteBuildArtifacts",
        "policy",
    ])?;
    let minimum_ms = match c.int("minimumBuildDate") {
        Ok(v) => v,
        Err(_) => match c.string("minimumBuildDate")? {
            Some(s) => Some(
                s.parse()
                    .map_err(|_| bad(format!("minimumBuildDate must be milliseconds, not '{s}'")))?,
            ),
            None => None,
        },
    };
    Ok(Settings {
        count: c.int("count")?.filter(|n| *n > 0).map(|n| n as usize),
        minimum_ms,
        protected: c.strings("buildNumbersNotToBeDiscarded")?,
        with_artifacts: c.bool("deleteBuildArtifacts")?.unwrap_or(false),
    })
}

/// The decisions for every run.
pub fn decide(config: &str, candidates: &[Candidate]) -> Result<Vec<Decision>, Failure> {
    let s = settings(config)?;
    let mut out = Vec::with_capacity(candidates.len());
    for (group, (_, runs)) in newest_first(candidates, None) {
        // Newest by start time; the number breaks ties.
        let mut runs = runs;
        runs.sort_by_key(|c| std::cmp::Reverse(c.created_ms));
        for (rank, c) in runs.iter().enumerate() {
            let n = &c.version;
            let (delete, mut reason) = if s.protected.contains(n) {
                (false, format!("build {n} is listed in buildNumbersNotToBeDiscarded"))
            } else if let Some(count) = s.count.filter(|count| rank >= *count) {
                (
                    true,
                    format!("build {n} is older than the {count} newest builds of '{group}'"),
                )
            } else if let Some(min) = s.minimum_ms.filter(|min| c.created_ms < *min) {
                (
                    true,
                    format!("build {n} started before the minimum build date {}", iso8601(min)),
                )
            } else {
                let why = match s.count {
                    Some(count) => format!("build {n} is among the {count} newest builds of '{group}'"),
                    None => format!("build {n}: no rule discards it"),
                };
                (false, why)
            };
            if delete && s.with_artifacts {
                reason.push_str(" (its artifacts are deleted too)");
            }
            out.push(decision(c, delete, reason));
        }
    }
    Ok(out)
}

impl Guest for BuildRetention {
    fn describe() -> Description {
        Description {
            name: "retention-builds".into(),
            version: "1.0.0".into(),
            summary: "Artifactory build retention: count, minimumBuildDate, buildNumbersNotToBeDiscarded".into(),
            coordinates: Vec::new(),
        }
    }

    fn select(config: String, candidates: Vec<Candidate>, _now_ms: i64) -> Result<Vec<Decision>, Failure> {
        decide(&config, &candidates)
    }
}

binyard_plugin_sdk::retention_policy::export_retention_policy!(BuildRetention);

#[cfg(test)]
mod tests {
    use super::*;
    use retention_common::{candidate, deleted_ids};

    /// The example of `plugins/retention/README.md`.
    fn example() -> Vec<Candidate> {
        (1..=6)
            .map(|i| candidate(&format!("r{i}"), "app", &i.to_string(), i * 1000, 0))
            .chain([candidate("o1", "other", "1", 500, 0)])
            .collect()
    }

    fn deleted(config: &str) -> Vec<String> {
        deleted_ids(decide(config, &example()))
    }

    #[test]
    fn documented_decisions() {
        assert_eq!(deleted(r#"{"count": 3}"#), ["r1", "r2", "r3"]);
        assert_eq!(
            deleted(r#"{"count": 3, "buildNumbersNotToBeDiscarded": ["1"]}"#),
            ["r2", "r3"]
        );
        assert_eq!(deleted(r#"{"minimumBuildDate": 2500}"#), ["o1", "r1", "r2"]);
        assert_eq!(deleted(r#"{"count": 5, "minimumBuildDate": 2500}"#), ["o1", "r1", "r2"]);
        assert!(deleted(r#"{}"#).is_empty());
        assert!(deleted(r#"{"count": -1}"#).is_empty());
        let d = decide(r#"{"count": 5, "deleteBuildArtifacts": true}"#, &example()).unwrap();
        let r1 = d.iter().find(|d| d.id == "r1").unwrap();
        assert_eq!(
            r1.reason,
            "build 1 is older than the 5 newest builds of 'app' (its artifacts are deleted too)"
        );
        let r6 = d.iter().find(|d| d.id == "r6").unwrap();
        assert_eq!(r6.reason, "build 6 is among the 5 newest builds of 'app'");
        assert_eq!(d.len(), 7, "one decision per candidate");
    }

    #[test]
    fn bad_settings_name_the_field() {
        for (cfg, field) in [
            (r#"{"count": "ten"}"#, "count"),
            (r#"{"minimumBuildDate": "soon"}"#, "minimumBuildDate"),
            (
                r#"{"buildNumbersNotToBeDiscarded": "1"}"#,
                "buildNumbersNotToBeDiscarded",
            ),
            (r#"{"deleteBuildArtifacts": "yes"}"#, "deleteBuildArtifacts"),
            (r#"{"cuont": 3}"#, "cuont"),
            (r#"[1]"#, "object"),
        ] {
            let e = decide(cfg, &example()).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(field), "{cfg}: {}", e.message);
        }
    }
}
