//! The Maven settings of a repository, read from its configuration JSON with
//! Artifactory's key names and defaults.

use binyard_plugin_sdk::package_type::repository;
use serde_json::Value;

/// What the repository allows.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `handleReleases` (default true): release versions may be deployed.
    pub handle_releases: bool,
    /// `handleSnapshots` (default true): SNAPSHOT versions may be deployed.
    pub handle_snapshots: bool,
    /// `maxUniqueSnapshots` (default 0 = keep all): timestamped builds kept per SNAPSHOT.
    pub max_unique_snapshots: u64,
    /// `suppressPomConsistencyChecks` (default false): accept POMs whose coordinates
    /// do not match their path.
    pub suppress_pom_checks: bool,
    /// `allowReleaseRedeploy` (default false; Artifactory has no such key, it relies on
    /// the delete permission alone): an existing release file may be replaced.
    pub allow_release_redeploy: bool,
    /// `checksumPolicyType`: "client-checksums" (default) checks the checksum files
    /// clients upload; "server-generated-checksums" ignores them.
    pub verify_client_checksums: bool,
}

fn flag(cfg: &Value, key: &str, default: bool) -> bool {
    match cfg.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.trim().eq_ignore_ascii_case("true"),
        _ => default,
    }
}

impl Settings {
    /// The settings of the repository the request addresses.
    pub fn load() -> Settings {
        Settings::from_json(&repository::info().config_json)
    }

    pub fn from_json(json: &str) -> Settings {
        let cfg: Value = serde_json::from_str(json).unwrap_or(Value::Null);
        let max = match cfg.get("maxUniqueSnapshots") {
            Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
            Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
            _ => 0,
        };
        Settings {
            handle_releases: flag(&cfg, "handleReleases", true),
            handle_snapshots: flag(&cfg, "handleSnapshots", true),
            max_unique_snapshots: max,
            suppress_pom_checks: flag(&cfg, "suppressPomConsistencyChecks", false),
            allow_release_redeploy: flag(&cfg, "allowReleaseRedeploy", false),
            verify_client_checksums: cfg.get("checksumPolicyType").and_then(Value::as_str)
                != Some("server-generated-checksums"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_keys() {
        let s = Settings::from_json(r#"{"key":"m"}"#);
        assert!(s.handle_releases && s.handle_snapshots && !s.allow_release_redeploy);
        assert_eq!(s.max_unique_snapshots, 0);
        let s =
            Settings::from_json(r#"{"maxUniqueSnapshots":3,"handleSnapshots":false,"allowReleaseRedeploy":"true"}"#);
        assert_eq!(s.max_unique_snapshots, 3);
        assert!(!s.handle_snapshots && s.allow_release_redeploy);
        assert!(s.verify_client_checksums);
        assert!(!Settings::from_json(r#"{"checksumPolicyType":"server-generated-checksums"}"#).verify_client_checksums);
    }
}
