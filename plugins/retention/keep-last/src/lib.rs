//! Keeps the last N versions of each package. Candidates are files (group: the
//! package, version: its version); the files of one version share one decision.
//! Configuration: `keep` (≥ 1, default 5) and `ordering` ("auto" (default),
//! "semver", "pep440", "maven"); "auto" takes semver when every version of the
//! package is one, else PEP 440 when every one is, else Maven's ordering. The newest
//! version is never deleted.

use binyard_plugin_sdk::retention_policy::{Candidate, Decision, Description, Failure, Guest};
use binyard_plugin_sdk::versions::Scheme;
use retention_common::{Config, bad, decision, newest_first, scheme_name};

struct KeepLast;

/// The decisions for every file.
pub fn decide(config: &str, candidates: &[Candidate]) -> Result<Vec<Decision>, Failure> {
    let c = Config::parse(config)?;
    c.only(&["keep", "ordering"])?;
    let keep = match c.int("keep")? {
        None => 5,
        Some(n) if n >= 1 => n as usize,
        Some(n) => {
            return Err(bad(format!(
                "keep must be at least 1 (the newest version is always kept), not {n}"
            )));
        }
    };
    let scheme = match c.string("ordering")?.as_deref() {
        None | Some("auto") => None,
        Some(name) => Some(
            Scheme::named(name)
                .ok_or_else(|| bad(format!("ordering must be auto, semver, pep440 or maven, not '{name}'")))?,
        ),
    };
    let mut out = Vec::with_capacity(candidates.len());
    for (group, (s, files)) in newest_first(candidates, scheme) {
        let mut versions: Vec<&str> = Vec::new();
        for f in &files {
            if !versions.contains(&f.version.as_str()) {
                versions.push(&f.version);
            }
        }
        let newest = versions[0];
        for f in files {
            let rank = versions.iter().position(|v| *v == f.version).unwrap_or(0);
            let v = &f.version;
            let d = if rank < keep {
                decision(
                    f,
                    false,
                    format!(
                        "version {v} is among the {keep} newest of '{group}' ({} order)",
                        scheme_name(s)
                    ),
                )
            } else {
                decision(
                    f,
                    true,
                    format!(
                        "version {v} is older than the {keep} newest of '{group}' (newest: {newest}, {} order)",
                        scheme_name(s)
                    ),
                )
            };
            out.push(d);
        }
    }
    Ok(out)
}

impl Guest for KeepLast {
    fn describe() -> Description {
        Description {
            name: "retention-keep-last".into(),
            version: "1.0.0".into(),
            summary: "Keeps the last N versions of each package (semver, PEP 440 or Maven order)".into(),
            coordinates: retention_common::standard_coordinates(),
        }
    }

    fn select(config: String, candidates: Vec<Candidate>, _now_ms: i64) -> Result<Vec<Decision>, Failure> {
        decide(&config, &candidates)
    }
}

binyard_plugin_sdk::retention_policy::export_retention_policy!(KeepLast);

#[cfg(test)]
mod tests {
    use super::*;
    use retention_common::{candidate, deleted_ids};

    /// The example of `plugins/retention/README.md`.
    fn example() -> Vec<Candidate> {
        vec![
            candidate("npm/1.2.0", "left-pad", "1.2.0", 1, 0),
            candidate("npm/1.10.0", "left-pad", "1.10.0", 2, 0),
            candidate("npm/1.9.0", "left-pad", "1.9.0", 3, 0),
            candidate("npm/2.0.0-rc.1", "left-pad", "2.0.0-rc.1", 4, 0),
            candidate("py/1.0.tar.gz", "requests", "1.0", 1, 0),
            candidate("py/1.0.whl", "requests", "1.0", 1, 0),
            candidate("py/1.0.post1", "requests", "1.0.post1", 2, 0),
            candidate("py/1.1rc1", "requests", "1.1rc1", 3, 0),
            candidate("mvn/1.0", "org/lib", "1.0", 1, 0),
            candidate("mvn/1.0-SNAPSHOT", "org/lib", "1.0-SNAPSHOT", 2, 0),
            candidate("mvn/1.0-sp1", "org/lib", "1.0-sp1", 3, 0),
        ]
    }

    fn deleted(config: &str) -> Vec<String> {
        deleted_ids(decide(config, &example()))
    }

    #[test]
    fn documented_decisions() {
        // left-pad (semver): 2.0.0-rc.1 > 1.10.0 > 1.9.0 > 1.2.0; requests (PEP 440):
        // 1.1rc1 > 1.0.post1 > 1.0; org/lib (Maven): 1.0-sp1 > 1.0 > 1.0-SNAPSHOT.
        assert_eq!(
            deleted(r#"{"keep": 2}"#),
            [
                "mvn/1.0-SNAPSHOT",
                "npm/1.2.0",
                "npm/1.9.0",
                "py/1.0.tar.gz",
                "py/1.0.whl"
            ]
        );
        assert_eq!(
            deleted(r#"{"keep": 1}"#),
            [
                "mvn/1.0",
                "mvn/1.0-SNAPSHOT",
                "npm/1.10.0",
                "npm/1.2.0",
                "npm/1.9.0",
                "py/1.0.post1",
                "py/1.0.tar.gz",
                "py/1.0.whl"
            ]
        );
        assert!(deleted(r#"{}"#).is_empty(), "keep 5 by default");
        // Text order would get 1.9.0 > 1.10.0 wrong; Maven order applied to all agrees here.
        assert_eq!(deleted(r#"{"keep": 3, "ordering": "maven"}"#), ["npm/1.2.0"]);
        let d = decide(r#"{"keep": 2}"#, &example()).unwrap();
        let r = d.iter().find(|d| d.id == "npm/1.9.0").unwrap();
        assert_eq!(
            r.reason,
            "version 1.9.0 is older than the 2 newest of 'left-pad' (newest: 2.0.0-rc.1, semver order)"
        );
    }

    #[test]
    fn bad_settings_name_the_field() {
        for (cfg, field) in [
            (r#"{"keep": 0}"#, "keep"),
            (r#"{"keep": "2"}"#, "keep"),
            (r#"{"ordering": "alphabetical"}"#, "ordering"),
            (r#"{"kepe": 2}"#, "kepe"),
        ] {
            let e = decide(cfg, &example()).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(field), "{cfg}: {}", e.message);
        }
    }
}
