//! What the first-party webhook formatters share: a one-line summary of an event and
//! RFC 3339 timestamps.

use serde_json::Value;

/// The event's data, parsed (an object; `{}` when the data is not JSON).
pub fn data(json: &str) -> Value {
    serde_json::from_str(json).unwrap_or_else(|_| Value::Object(Default::default()))
}

/// `repo/path` of an artifact event, looking into `item` for property events.
pub fn subject(data: &Value) -> String {
    let d = data.get("item").unwrap_or(data);
    let repo = d.get("repo_key").and_then(Value::as_str).unwrap_or_default();
    let path = d.get("path").and_then(Value::as_str).unwrap_or_default();
    match (repo.is_empty(), path.is_empty()) {
        (true, _) => data
            .get("build_name")
            .and_then(Value::as_str)
            .map(|n| {
                let number = data.get("build_number").and_then(Value::as_str).unwrap_or_default();
                format!("build {n} #{number}")
            })
            .unwrap_or_default(),
        (false, true) => repo.to_string(),
        (false, false) => format!("{repo}/{path}"),
    }
}

/// A one-line, human summary: "deployed libs/a/b.jar (1234 bytes)".
pub fn summary(event_type: &str, data: &Value) -> String {
    let what = subject(data);
    let mut line = format!("{} {what}", event_type.replace('_', " "));
    if let Some(size) = data.get("size").and_then(Value::as_u64) {
        line.push_str(&format!(" ({size} bytes)"));
    }
    if let Some(p) = data.get("property") {
        let key = p.get("key").and_then(Value::as_str).unwrap_or_default();
        line.push_str(&format!(": {key}"));
    }
    if let Some(from) = data.get("source_repo_path").and_then(Value::as_str) {
        line.push_str(&format!(" from {from}"));
    }
    line
}

/// Milliseconds since the epoch as RFC 3339 UTC, e.g. "2026-11-22T13:20:26.123Z".
pub use binyard_plugin_sdk::time::iso8601 as rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_summaries() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_353_626_123), "2026-11-22T13:20:26.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        let d = data(r#"{"repo_key":"libs","path":"a/b.jar","size":12}"#);
        assert_eq!(summary("deployed", &d), "deployed libs/a/b.jar (12 bytes)");
    }
}
