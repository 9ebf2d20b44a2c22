//! Build-info as CI tools publish it: validation (the stored body is the published
//! JSON, unchanged), dates, and the record keys runs are stored under.

use super::BuildError;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Record kinds (in the metadata store's records table).
pub const RUN_KIND: &str = "build";
pub const RUN_INDEX_KIND: &str = "build-run";
pub const NAME_KIND: &str = "build-name";
pub const RETENTION_KIND: &str = "build-retention";

/// What is checked of a published body: the fields binyard relies on and their
/// types. Unknown fields are kept as published.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BuildInfoCheck {
    name: String,
    number: String,
    started: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default, rename = "type")]
    _kind: Option<String>,
    #[serde(default)]
    duration_millis: Option<i64>,
    #[serde(default)]
    modules: Option<Vec<ModuleCheck>>,
    #[serde(default)]
    properties: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    build_dependencies: Option<Vec<BuildDependencyCheck>>,
    #[serde(default)]
    vcs: Option<Vec<VcsCheck>>,
    #[serde(default)]
    build_retention: Option<RetentionConfig>,
    #[serde(default)]
    statuses: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModuleCheck {
    #[serde(default)]
    _id: Option<String>,
    #[serde(default)]
    artifacts: Option<Vec<FileCheck>>,
    #[serde(default)]
    dependencies: Option<Vec<FileCheck>>,
}

#[derive(Debug, Deserialize)]
struct FileCheck {
    #[serde(default)]
    sha1: Option<String>,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    md5: Option<String>,
    #[serde(default)]
    _name: Option<String>,
    #[serde(default)]
    _id: Option<String>,
    #[serde(default)]
    _path: Option<String>,
}

#[derive(Debug, Deserialize)]
struct BuildDependencyCheck {
    #[serde(rename = "name")]
    _name: String,
    #[serde(rename = "number")]
    _number: String,
    #[serde(default)]
    started: Option<String>,
}

#[derive(Debug, Deserialize)]
struct VcsCheck {
    #[serde(default, rename = "revision")]
    _revision: Option<String>,
    #[serde(default, rename = "url")]
    _url: Option<String>,
}

/// Artifactory's build retention settings (`buildRetention` of a build, and
/// `/api/build/retention/{name}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_build_artifacts: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_numbers_not_to_be_discarded: Option<Vec<String>>,
    /// Milliseconds, or a date string as CI tools send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_build_date: Option<Value>,
    /// binyard: the retention plugin applying these settings (default `retention_builds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

impl RetentionConfig {
    /// Whether the settings ask for anything to be discarded.
    pub fn is_active(&self) -> bool {
        self.count.is_some_and(|c| c > 0) || self.minimum_build_date.as_ref().is_some_and(|v| !v.is_null())
    }
}

/// A checked build-info body.
#[derive(Debug)]
pub struct Published {
    pub name: String,
    pub number: String,
    pub started: String,
    pub started_ms: i64,
    pub retention: Option<RetentionConfig>,
    pub body: Value,
}

/// Checks a published body; the message of a refusal names the field.
pub fn check(raw: &[u8]) -> Result<Published, BuildError> {
    let body: Value = serde_json::from_slice(raw)
        .map_err(|e| BuildError::Invalid(format!("The build info is not valid JSON: {e}")))?;
    if !body.is_object() {
        return Err(BuildError::Invalid("The build info must be a JSON object".into()));
    }
    let de = serde_json::Value::clone(&body);
    let c: BuildInfoCheck = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path == "." {
            BuildError::Invalid(format!("Invalid build info: {inner}"))
        } else {
            BuildError::Invalid(format!("Invalid build info: field '{path}': {inner}"))
        }
    })?;
    check_name("name", &c.name)?;
    check_name("number", &c.number)?;
    let started_ms = parse_date(&c.started).ok_or_else(|| {
        BuildError::Invalid(format!(
            "Invalid build info: field 'started': '{}' is not a date (expected ISO-8601 such as 2024-01-02T03:04:05.678+0000)",
            c.started
        ))
    })?;
    if let Some(v) = &c.version
        && v.is_empty()
    {
        return Err(BuildError::Invalid(
            "Invalid build info: field 'version' is empty".into(),
        ));
    }
    if c.duration_millis.is_some_and(|d| d < 0) {
        return Err(BuildError::Invalid(
            "Invalid build info: field 'durationMillis' is negative".into(),
        ));
    }
    for (i, m) in c.modules.iter().flatten().enumerate() {
        for (what, files) in [("artifacts", &m.artifacts), ("dependencies", &m.dependencies)] {
            for (j, f) in files.iter().flatten().enumerate() {
                let at = format!("modules[{i}].{what}[{j}]");
                check_hex(&at, "sha1", &f.sha1, 40)?;
                check_hex(&at, "sha256", &f.sha256, 64)?;
                check_hex(&at, "md5", &f.md5, 32)?;
            }
        }
    }
    for (i, d) in c.build_dependencies.iter().flatten().enumerate() {
        if let Some(s) = &d.started
            && parse_date(s).is_none()
        {
            return Err(BuildError::Invalid(format!(
                "Invalid build info: field 'buildDependencies[{i}].started': '{s}' is not a date"
            )));
        }
    }
    let _ = (&c.properties, &c.vcs, &c.statuses);
    if let Some(r) = &c.build_retention {
        check_retention(r, "buildRetention.")?;
    }
    Ok(Published {
        name: c.name,
        number: c.number,
        started: c.started,
        started_ms,
        retention: c.build_retention,
        body,
    })
}

/// Checks retention settings (`prefix` names where they came from in messages).
pub fn check_retention(r: &RetentionConfig, prefix: &str) -> Result<(), BuildError> {
    if let Some(v) = &r.minimum_build_date
        && !v.is_null()
        && date_value_ms(v).is_none()
    {
        return Err(BuildError::Invalid(format!(
            "Invalid field '{prefix}minimumBuildDate': {v} is neither milliseconds nor an ISO-8601 date"
        )));
    }
    if let Some(p) = &r.policy
        && !crate::names::plugin_name_ok(p)
    {
        return Err(BuildError::Invalid(crate::names::plugin_name_error(p)));
    }
    Ok(())
}

/// A date given as milliseconds or as a date string.
pub fn date_value_ms(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => parse_date(s).or_else(|| s.parse().ok()),
        _ => None,
    }
}

fn check_name(field: &str, v: &str) -> Result<(), BuildError> {
    if v.trim().is_empty() {
        return Err(BuildError::Invalid(format!(
            "Invalid build info: field '{field}' is empty"
        )));
    }
    if v.len() > 1024 || v.chars().any(char::is_control) {
        return Err(BuildError::Invalid(format!(
            "Invalid build info: field '{field}' has control characters or is longer than 1024 bytes"
        )));
    }
    Ok(())
}

/// Checks a build name or number given in a URL or a request body.
pub fn check_key(what: &str, v: &str) -> Result<(), BuildError> {
    if v.is_empty() || v.len() > 1024 || v.chars().any(char::is_control) {
        return Err(BuildError::Invalid(format!(
            "Invalid build {what} '{}': it must be 1 to 1024 characters without control characters",
            v.escape_debug()
        )));
    }
    Ok(())
}

fn check_hex(at: &str, field: &str, v: &Option<String>, len: usize) -> Result<(), BuildError> {
    match v {
        Some(s) if !s.is_empty() && (s.len() != len || !s.bytes().all(|b| b.is_ascii_hexdigit())) => {
            Err(BuildError::Invalid(format!(
                "Invalid build info: field '{at}.{field}': '{s}' is not a {field} checksum ({len} hex digits)"
            )))
        }
        _ => Ok(()),
    }
}

/// Parses the dates CI tools send: RFC 3339, or Artifactory's `+0000` offsets
/// (`2024-01-02T03:04:05.678+0000`).
pub fn parse_date(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok().or_else(|| {
        let n = s.len();
        let b = s.as_bytes();
        if n > 5 && (b[n - 5] == b'+' || b[n - 5] == b'-') && s[n - 4..].bytes().all(|c| c.is_ascii_digit()) {
            let fixed = format!("{}:{}", &s[..n - 2], &s[n - 2..]);
            OffsetDateTime::parse(&fixed, &Rfc3339).ok()
        } else {
            None
        }
    })?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// The key of a run: name, number and start time (numbers may repeat).
pub fn run_key(name: &str, number: &str, started_ms: i64) -> String {
    format!("{name}\0{number}\0{started_ms:020}")
}

/// The key prefix of every run of a build.
pub fn name_prefix(name: &str) -> String {
    format!("{name}\0")
}

/// The key prefix of the runs with one number.
pub fn number_prefix(name: &str, number: &str) -> String {
    format!("{name}\0{number}\0")
}

/// A stored run: the body as published, the promotion statuses appended since.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredRun {
    pub build_info: Value,
    #[serde(default)]
    pub statuses: Vec<Value>,
    pub published_by: String,
    pub published_at: i64,
}

impl StoredRun {
    /// The build info as answered: the published body with every status.
    pub fn answer(&self) -> Value {
        let mut b = self.build_info.clone();
        if !self.statuses.is_empty() {
            let mut all: Vec<Value> = b.get("statuses").and_then(Value::as_array).cloned().unwrap_or_default();
            all.extend(self.statuses.iter().cloned());
            b["statuses"] = Value::Array(all);
        }
        b
    }
}

/// The small index entry of a run (listing runs reads no bodies).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunIndex {
    pub number: String,
    pub started: String,
    #[serde(rename = "startedMs")]
    pub started_ms: i64,
}

/// The summary of a build name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NameSummary {
    pub last_started: String,
    pub last_started_ms: i64,
    pub runs: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let a = parse_date("2024-01-02T03:04:05.678+0000").unwrap();
        let b = parse_date("2024-01-02T03:04:05.678Z").unwrap();
        let c = parse_date("2024-01-02T05:04:05.678+02:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(parse_date("2024-01-02T03:04:05.678-0130").unwrap(), a + 90 * 60_000);
        assert!(parse_date("yesterday").is_none());
        assert!(parse_date("2024-13-02T03:04:05Z").is_none());
    }

    #[test]
    fn checks_fields() {
        let ok = br#"{"version":"1.0.1","name":"app","number":"1","started":"2024-01-02T03:04:05.678+0000",
            "modules":[{"id":"m","artifacts":[{"name":"a.jar","sha1":"0123456789012345678901234567890123456789"}]}]}"#;
        let p = check(ok).unwrap();
        assert_eq!((p.name.as_str(), p.number.as_str()), ("app", "1"));
        let msg = |b: &[u8]| check(b).unwrap_err().to_string();
        assert!(msg(br#"{"number":"1","started":"2024-01-02T03:04:05Z"}"#).contains("name"));
        assert!(msg(br#"{"name":"a","started":"2024-01-02T03:04:05Z"}"#).contains("number"));
        assert!(msg(br#"{"name":"a","number":"1"}"#).contains("started"));
        assert!(msg(br#"{"name":"a","number":1,"started":"2024-01-02T03:04:05Z"}"#).contains("'number'"));
        assert!(msg(br#"{"name":"a","number":"1","started":"soon"}"#).contains("'started'"));
        let bad_sha =
            br#"{"name":"a","number":"1","started":"2024-01-02T03:04:05Z","modules":[{"artifacts":[{"sha1":"xyz"}]}]}"#;
        assert!(msg(bad_sha).contains("modules[0].artifacts[0].sha1"));
        let bad_type = br#"{"name":"a","number":"1","started":"2024-01-02T03:04:05Z","modules":[{"artifacts":{}}]}"#;
        assert!(msg(bad_type).contains("modules[0].artifacts"));
        assert!(msg(b"[]").contains("object"));
        assert!(msg(b"{").contains("JSON"));
    }
}
