//! What the first-party retention policies share: their JSON configuration read
//! with messages that name the field, candidates grouped, and day arithmetic.

use std::collections::BTreeMap;

use binyard_plugin_sdk::retention_policy::{Candidate, Decision, Failure, PackageCoordinates};
use binyard_plugin_sdk::versions::Scheme;
use serde_json::{Map, Value};

/// The packages the first-party policies recognise by their standard properties
/// in any repository, also where no plugin of the format is loaded (files deployed
/// with those properties to a generic repository): npm, PyPI and Maven.
pub fn standard_coordinates() -> Vec<PackageCoordinates> {
    let plain = |name: &str, version: &str| PackageCoordinates {
        group: None,
        name: name.into(),
        version: version.into(),
        classifier: None,
    };
    vec![
        plain("npm.name", "npm.version"),
        plain("pypi.normalized.name", "pypi.version"),
        plain("pypi.name", "pypi.version"),
        PackageCoordinates {
            group: Some("maven.groupId".into()),
            classifier: Some("maven.classifier".into()),
            ..plain("maven.artifactId", "maven.version")
        },
    ]
}

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// A refused configuration (400).
pub fn bad(message: impl Into<String>) -> Failure {
    Failure {
        status: 400,
        message: message.into(),
    }
}

/// A policy's configuration: a JSON object (empty text counts as `{}`).
pub struct Config(Map<String, Value>);

impl Config {
    pub fn parse(json: &str) -> Result<Config, Failure> {
        if json.trim().is_empty() {
            return Ok(Config(Map::new()));
        }
        match serde_json::from_str(json) {
            Ok(Value::Object(o)) => Ok(Config(o)),
            Ok(_) => Err(bad("the configuration must be a JSON object")),
            Err(e) => Err(bad(format!("the configuration is not JSON: {e}"))),
        }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    /// An integer field.
    pub fn int(&self, key: &str) -> Result<Option<i64>, Failure> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| bad(format!("{key} must be an integer, not {v}"))),
        }
    }

    /// A number field (days may be fractional).
    pub fn number(&self, key: &str) -> Result<Option<f64>, Failure> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(n) if n >= 0.0 => Ok(Some(n)),
                _ => Err(bad(format!("{key} must be a number of at least 0, not {v}"))),
            },
        }
    }

    /// A boolean field.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, Failure> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| bad(format!("{key} must be true or false, not {v}"))),
        }
    }

    /// A string field.
    pub fn string(&self, key: &str) -> Result<Option<String>, Failure> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(bad(format!("{key} must be a string, not {v}"))),
        }
    }

    /// A list of strings (numbers are accepted as their text: build numbers).
    pub fn strings(&self, key: &str) -> Result<Vec<String>, Failure> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| match x {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(bad(format!("{key} must list strings, not {other}"))),
                })
                .collect(),
            Some(v) => Err(bad(format!("{key} must be a list of strings, not {v}"))),
        }
    }

    /// Refuses keys the policy does not know (a typo must not silently keep everything).
    pub fn only(&self, known: &[&str]) -> Result<(), Failure> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(bad(format!("unknown setting '{k}': use {}", known.join(", ")))),
            None => Ok(()),
        }
    }
}

/// Candidates by group, each group newest first: by version in the group's
/// ordering (`scheme`, or detected), then by creation time.
pub fn newest_first(candidates: &[Candidate], scheme: Option<Scheme>) -> BTreeMap<&str, (Scheme, Vec<&Candidate>)> {
    let mut groups: BTreeMap<&str, Vec<&Candidate>> = BTreeMap::new();
    for c in candidates {
        groups.entry(&c.group).or_default().push(c);
    }
    groups
        .into_iter()
        .map(|(g, mut cs)| {
            let s = scheme.unwrap_or_else(|| Scheme::detect(cs.iter().map(|c| c.version.as_str())));
            cs.sort_by(|a, b| s.compare(&b.version, &a.version).then(b.created_ms.cmp(&a.created_ms)));
            (g, (s, cs))
        })
        .collect()
}

/// A scheme's name for reasons.
pub fn scheme_name(s: Scheme) -> &'static str {
    match s {
        Scheme::SemVer => "semver",
        Scheme::Pep440 => "PEP 440",
        Scheme::Maven => "Maven",
    }
}

/// A decision.
pub fn decision(c: &Candidate, delete: bool, reason: String) -> Decision {
    Decision {
        id: c.id.clone(),
        delete,
        reason,
    }
}

/// Whole days between two times, for reasons.
pub fn days(ms: i64) -> i64 {
    ms.max(0) / DAY_MS
}

/// A candidate for tests.
pub fn candidate(id: &str, group: &str, version: &str, created_ms: i64, last_downloaded_ms: i64) -> Candidate {
    Candidate {
        id: id.into(),
        group: group.into(),
        version: version.into(),
        created_ms,
        last_downloaded_ms,
        size: 0,
        properties: Vec::new(),
    }
}

/// The ids a policy's answer deletes, sorted, for tests.
pub fn deleted_ids(decisions: Result<Vec<Decision>, Failure>) -> Vec<String> {
    let mut ids: Vec<String> = decisions
        .unwrap_or_else(|f| panic!("refused: {}", f.message))
        .into_iter()
        .filter(|d| d.delete)
        .map(|d| d.id)
        .collect();
    ids.sort();
    ids
}
