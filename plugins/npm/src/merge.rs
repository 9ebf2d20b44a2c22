//! Virtual repositories: the packuments of several members merged into one (full
//! or abbreviated, whichever the members answered).
//!
//! Members come in resolution order. A version both have is the first member's; a
//! dist-tag (`latest` included) comes from the first member that has it and whose
//! version is in the result; `time` is unioned the same way, `created` the
//! earliest and `modified` the latest; the other top-level fields are the first
//! member's. Tarball URLs are as the members wrote them: the host asked each member
//! with the virtual repository's base URL, so they point through it.

use binyard_plugin_sdk::package_type::{Failure, MemberAnswer, Response};
use serde_json::{Map, Value};

/// Merges the members' packuments.
pub fn merge(answers: &[MemberAnswer]) -> Result<Response, Failure> {
    let docs: Vec<Map<String, Value>> = answers
        .iter()
        .map(|a| match serde_json::from_slice(&a.content) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(Failure::new(
                502,
                format!("The packument from member '{}' is not a JSON object", a.repo),
            )),
        })
        .collect::<Result<_, _>>()?;
    let content_type = answers
        .first()
        .and_then(|a| a.response.headers.iter().find(|(k, _)| k == "content-type"))
        .map_or("application/json".to_string(), |(_, v)| v.clone());
    let merged = merge_docs(docs).ok_or_else(|| Failure::new(500, "nothing to merge"))?;
    Ok(
        Response::bytes(200, &content_type, Value::Object(merged).to_string().into_bytes())
            .with_header("cache-control", "no-cache")
            .with_header("vary", "accept")
            .cacheable()
            .metadata(),
    )
}

fn object<'a>(doc: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    doc.get(key).and_then(Value::as_object)
}

/// The merge itself, on parsed documents in resolution order.
pub fn merge_docs(docs: Vec<Map<String, Value>>) -> Option<Map<String, Value>> {
    let mut out = docs.first()?.clone();
    let mut versions = Map::new();
    for d in &docs {
        for (v, doc) in object(d, "versions").into_iter().flatten() {
            versions.entry(v.clone()).or_insert_with(|| doc.clone());
        }
    }
    let mut tags = Map::new();
    for d in &docs {
        for (tag, v) in object(d, "dist-tags").into_iter().flatten() {
            let known = v.as_str().is_some_and(|v| versions.contains_key(v));
            if known && !tags.contains_key(tag) {
                tags.insert(tag.clone(), v.clone());
            }
        }
    }
    if docs.iter().any(|d| d.contains_key("time")) {
        let mut time = Map::new();
        for d in &docs {
            for (k, t) in object(d, "time").into_iter().flatten() {
                let keep = match (k.as_str(), time.get(k).and_then(Value::as_str), t.as_str()) {
                    (_, None, _) => true,
                    // ISO 8601 times in UTC compare as strings.
                    ("created", Some(old), Some(new)) => new < old,
                    ("modified", Some(old), Some(new)) => new > old,
                    _ => false,
                };
                if keep {
                    time.insert(k.clone(), t.clone());
                }
            }
        }
        out.insert("time".into(), Value::Object(time));
    }
    // The abbreviated packument's `modified`: the latest of the members'.
    if let Some(latest) = docs
        .iter()
        .filter_map(|d| d.get("modified").and_then(Value::as_str))
        .max()
    {
        out.insert("modified".into(), Value::String(latest.to_string()));
    }
    out.insert("dist-tags".into(), Value::Object(tags));
    out.insert("versions".into(), Value::Object(versions));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn versions_unioned_tags_by_precedence_times_merged() {
        let a = doc(json!({
            "name": "p", "description": "from a",
            "dist-tags": {"latest": "1.0.0", "beta": "9.9.9"},
            "versions": {"1.0.0": {"v": "a1"}},
            "time": {"created": "2024-01-02T00:00:00.000Z", "modified": "2024-01-02T00:00:00.000Z", "1.0.0": "2024-01-02T00:00:00.000Z"},
        }));
        let b = doc(json!({
            "name": "p", "description": "from b",
            "dist-tags": {"latest": "2.0.0", "next": "2.0.0"},
            "versions": {"1.0.0": {"v": "b1"}, "2.0.0": {"v": "b2"}},
            "time": {"created": "2024-01-01T00:00:00.000Z", "modified": "2024-03-01T00:00:00.000Z", "1.0.0": "2024-01-01T00:00:00.000Z", "2.0.0": "2024-03-01T00:00:00.000Z"},
        }));
        let m = merge_docs(vec![a, b]).unwrap();
        assert_eq!(m["description"], "from a");
        assert_eq!(m["versions"]["1.0.0"]["v"], "a1");
        assert_eq!(m["versions"]["2.0.0"]["v"], "b2");
        // `latest` from the first member; a tag whose version is missing is dropped.
        assert_eq!(m["dist-tags"], json!({"latest": "1.0.0", "next": "2.0.0"}));
        assert_eq!(m["time"]["created"], "2024-01-01T00:00:00.000Z");
        assert_eq!(m["time"]["modified"], "2024-03-01T00:00:00.000Z");
        assert_eq!(m["time"]["1.0.0"], "2024-01-02T00:00:00.000Z");
        assert_eq!(m["time"]["2.0.0"], "2024-03-01T00:00:00.000Z");
    }

    #[test]
    fn abbreviated_modified_is_the_latest() {
        let a = doc(json!({"name": "p", "modified": "2024-01-01T00:00:00.000Z", "dist-tags": {}, "versions": {}}));
        let b = doc(
            json!({"name": "p", "modified": "2024-05-01T00:00:00.000Z", "dist-tags": {"latest": "1.0.0"}, "versions": {"1.0.0": {}}}),
        );
        let m = merge_docs(vec![a, b]).unwrap();
        assert_eq!(m["modified"], "2024-05-01T00:00:00.000Z");
        assert_eq!(m["dist-tags"]["latest"], "1.0.0");
        assert!(!m.contains_key("time"));
    }
}
