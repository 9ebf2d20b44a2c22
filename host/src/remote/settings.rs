//! A remote repository's settings, named and defaulted as Artifactory's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a remote repository's settings were refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SettingsError {
    /// A setting has the wrong JSON type or is out of range.
    #[error("Invalid remote repository setting '{name}': {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// The settings the cache rules use; the upstream URL stays in `RepoConfig::url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteSettings {
    /// Basic-auth user for the upstream; empty for none.
    pub username: String,
    /// Basic-auth password for the upstream; never shown by the API.
    pub password: String,
    /// Metadata TTL; immutable files never expire.
    pub retrieval_cache_period_secs: u64,
    /// How long a miss is remembered (negative cache).
    pub missed_retrieval_cache_period_secs: u64,
    /// After a failure the upstream is not asked again for this long.
    pub assumed_offline_period_secs: u64,
    /// Past this, a metadata fetch gives up and the previous copy is served.
    pub metadata_retrieval_timeout_secs: u64,
    /// Connect and read timeout of one upstream connection.
    pub socket_timeout_millis: u64,
    /// Serve the cache only; never ask the upstream.
    pub offline: bool,
    /// Keep fetched files in the cache (false: stream through only).
    pub store_artifacts_locally: bool,
    /// Fail a request when the upstream fails, instead of serving the stale copy.
    pub hard_fail: bool,
    /// Refuse every request that would reach the upstream.
    pub blacked_out: bool,
}

impl Default for RemoteSettings {
    fn default() -> Self {
        RemoteSettings {
            username: String::new(),
            password: String::new(),
            retrieval_cache_period_secs: 7200,
            missed_retrieval_cache_period_secs: 1800,
            assumed_offline_period_secs: 300,
            metadata_retrieval_timeout_secs: 60,
            socket_timeout_millis: 15000,
            offline: false,
            store_artifacts_locally: true,
            hard_fail: false,
            blacked_out: false,
        }
    }
}

/// The JSON names of the settings, in the order they are read.
pub const NAMES: &[&str] = &[
    "username",
    "password",
    "retrievalCachePeriodSecs",
    "missedRetrievalCachePeriodSecs",
    "assumedOfflinePeriodSecs",
    "metadataRetrievalTimeoutSecs",
    "socketTimeoutMillis",
    "offline",
    "storeArtifactsLocally",
    "hardFail",
    "blackedOut",
];

/// Upper bound of every period: ten years, so `now + period` cannot overflow.
const MAX_SECS: u64 = 10 * 365 * 24 * 3600;

impl RemoteSettings {
    /// Reads the settings from a configuration's extra fields; absent ones take the defaults.
    pub fn from_fields(fields: &BTreeMap<String, Value>) -> Result<RemoteSettings, SettingsError> {
        let d = RemoteSettings::default();
        let secs = |name: &'static str, default: u64| number(fields, name, default, MAX_SECS);
        Ok(RemoteSettings {
            username: text(fields, "username")?,
            password: text(fields, "password")?,
            retrieval_cache_period_secs: secs("retrievalCachePeriodSecs", d.retrieval_cache_period_secs)?,
            missed_retrieval_cache_period_secs: secs(
                "missedRetrievalCachePeriodSecs",
                d.missed_retrieval_cache_period_secs,
            )?,
            assumed_offline_period_secs: secs("assumedOfflinePeriodSecs", d.assumed_offline_period_secs)?,
            metadata_retrieval_timeout_secs: secs("metadataRetrievalTimeoutSecs", d.metadata_retrieval_timeout_secs)?,
            socket_timeout_millis: number(fields, "socketTimeoutMillis", d.socket_timeout_millis, MAX_SECS * 1000)?,
            offline: flag(fields, "offline", d.offline)?,
            store_artifacts_locally: flag(fields, "storeArtifactsLocally", d.store_artifacts_locally)?,
            hard_fail: flag(fields, "hardFail", d.hard_fail)?,
            blacked_out: flag(fields, "blackedOut", d.blacked_out)?,
        })
    }

    /// Writes every setting into the extra fields, so the stored configuration shows what applies.
    pub fn write_fields(&self, fields: &mut BTreeMap<String, Value>) {
        if let Ok(Value::Object(m)) = serde_json::to_value(self) {
            fields.extend(m);
        }
    }
}

fn text(fields: &BTreeMap<String, Value>, name: &'static str) -> Result<String, SettingsError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(SettingsError::Invalid {
            name,
            reason: format!("expected a string, got {other}"),
        }),
    }
}

fn number(fields: &BTreeMap<String, Value>, name: &'static str, default: u64, max: u64) -> Result<u64, SettingsError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => match v.as_u64() {
            Some(n) if n <= max => Ok(n),
            _ => Err(SettingsError::Invalid {
                name,
                reason: format!("expected a whole number from 0 to {max}, got {v}"),
            }),
        },
    }
}

fn flag(fields: &BTreeMap<String, Value>, name: &'static str, default: bool) -> Result<bool, SettingsError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(SettingsError::Invalid {
            name,
            reason: format!("expected true or false, got {other}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn absent_settings_take_artifactory_defaults() {
        let s = RemoteSettings::from_fields(&BTreeMap::new()).unwrap();
        assert_eq!(s, RemoteSettings::default());
        assert_eq!(s.retrieval_cache_period_secs, 7200);
        assert_eq!(s.missed_retrieval_cache_period_secs, 1800);
        assert_eq!(s.assumed_offline_period_secs, 300);
        assert_eq!(s.metadata_retrieval_timeout_secs, 60);
        assert_eq!(s.socket_timeout_millis, 15000);
        assert!(s.store_artifacts_locally && !s.offline && !s.hard_fail && !s.blacked_out);
    }

    #[test]
    fn given_settings_are_read_and_written_back_with_the_defaults() {
        let f = fields(json!({"retrievalCachePeriodSecs": 5, "offline": true, "username": "u", "notes": "kept"}));
        let s = RemoteSettings::from_fields(&f).unwrap();
        assert_eq!(s.retrieval_cache_period_secs, 5);
        assert!(s.offline);
        assert_eq!(s.username, "u");
        let mut out = f.clone();
        s.write_fields(&mut out);
        for name in NAMES {
            assert!(out.contains_key(*name), "{name} written");
        }
        assert_eq!(out["socketTimeoutMillis"], json!(15000));
        assert_eq!(out["notes"], json!("kept"));
        assert_eq!(RemoteSettings::from_fields(&out).unwrap(), s);
    }

    #[test]
    fn wrong_types_and_ranges_are_refused_by_name() {
        for (bad, name) in [
            (json!({"retrievalCachePeriodSecs": -1}), "retrievalCachePeriodSecs"),
            (json!({"socketTimeoutMillis": "15000"}), "socketTimeoutMillis"),
            (json!({"assumedOfflinePeriodSecs": 1.5}), "assumedOfflinePeriodSecs"),
            (
                json!({"missedRetrievalCachePeriodSecs": u64::MAX}),
                "missedRetrievalCachePeriodSecs",
            ),
            (json!({"offline": "yes"}), "offline"),
            (json!({"password": 7}), "password"),
        ] {
            let err = RemoteSettings::from_fields(&fields(bad)).unwrap_err();
            let SettingsError::Invalid { name: got, .. } = &err;
            assert_eq!(*got, name);
            assert!(err.to_string().contains(name), "{err}");
        }
    }
}
