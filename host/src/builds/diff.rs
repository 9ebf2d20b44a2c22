//! The difference between two runs: artifacts (by name), dependencies (by id) and
//! build properties, each as new / updated / removed / unchanged.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// Artifacts of every module by name, dependencies by id.
fn files(build_info: &Value, what: &str, key: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for m in build_info["modules"].as_array().into_iter().flatten() {
        for f in m[what].as_array().into_iter().flatten() {
            let k = f[key]
                .as_str()
                .or_else(|| f["name"].as_str())
                .or_else(|| f["id"].as_str())
                .unwrap_or("")
                .to_string();
            out.insert(k, f.clone());
        }
    }
    out
}

fn same_bytes(a: &Value, b: &Value) -> bool {
    ["sha256", "sha1", "md5"]
        .iter()
        .all(|k| match (a[*k].as_str(), b[*k].as_str()) {
            (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
            _ => true,
        })
}

/// One entry as the diff shows it.
fn shown(key: &str, k: &str, f: &Value) -> Value {
    let mut o = json!({ key: k });
    for c in ["sha1", "sha256", "md5"] {
        if let Some(v) = f[c].as_str() {
            o[c] = json!(v);
        }
    }
    o
}

fn diff_files(now: &Value, before: &Value, what: &str, key: &str) -> Value {
    let (a, b) = (files(now, what, key), files(before, what, key));
    let (mut new, mut updated, mut removed, mut unchanged) = (vec![], vec![], vec![], vec![]);
    for (k, f) in &a {
        match b.get(k) {
            None => new.push(shown(key, k, f)),
            Some(old) if same_bytes(f, old) => unchanged.push(shown(key, k, f)),
            Some(_) => updated.push(shown(key, k, f)),
        }
    }
    for (k, f) in &b {
        if !a.contains_key(k) {
            removed.push(shown(key, k, f));
        }
    }
    json!({"new": new, "updated": updated, "removed": removed, "unchanged": unchanged})
}

fn diff_properties(now: &Value, before: &Value) -> Value {
    let empty = Map::new();
    let a = now["properties"].as_object().unwrap_or(&empty);
    let b = before["properties"].as_object().unwrap_or(&empty);
    let (mut new, mut updated, mut removed, mut unchanged) = (Map::new(), Map::new(), Map::new(), Map::new());
    for (k, v) in a {
        match b.get(k) {
            None => new.insert(k.clone(), v.clone()),
            Some(old) if old == v => unchanged.insert(k.clone(), v.clone()),
            Some(_) => updated.insert(k.clone(), v.clone()),
        };
    }
    for (k, v) in b {
        if !a.contains_key(k) {
            removed.insert(k.clone(), v.clone());
        }
    }
    json!({"new": new, "updated": updated, "removed": removed, "unchanged": unchanged})
}

/// What changed from `before` (the other number) to `now`.
pub fn diff(now: &Value, before: &Value) -> Value {
    json!({
        "artifacts": diff_files(now, before, "artifacts", "name"),
        "dependencies": diff_files(now, before, "dependencies", "id"),
        "properties": diff_properties(now, before),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        let before = json!({"modules":[{"artifacts":[{"name":"a.jar","sha1":"1"},{"name":"b.jar","sha1":"2"},{"name":"gone.jar","sha1":"3"}],
            "dependencies":[{"id":"x:y:1","sha1":"9"}]}], "properties":{"env":"ci","old":"1","same":"s"}});
        let now = json!({"modules":[{"artifacts":[{"name":"a.jar","sha1":"1"},{"name":"b.jar","sha1":"22"},{"name":"new.jar","sha1":"4"}],
            "dependencies":[{"id":"x:y:2","sha1":"8"}]}], "properties":{"env":"prod","same":"s","added":"a"}});
        let d = diff(&now, &before);
        let names = |v: &Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|e| e["name"].as_str().or(e["id"].as_str()).unwrap().to_string())
                .collect()
        };
        assert_eq!(names(&d["artifacts"]["new"]), ["new.jar"]);
        assert_eq!(names(&d["artifacts"]["updated"]), ["b.jar"]);
        assert_eq!(names(&d["artifacts"]["removed"]), ["gone.jar"]);
        assert_eq!(names(&d["artifacts"]["unchanged"]), ["a.jar"]);
        assert_eq!(names(&d["dependencies"]["new"]), ["x:y:2"]);
        assert_eq!(names(&d["dependencies"]["removed"]), ["x:y:1"]);
        assert_eq!(d["properties"]["new"], json!({"added":"a"}));
        assert_eq!(d["properties"]["updated"], json!({"env":"prod"}));
        assert_eq!(d["properties"]["removed"], json!({"old":"1"}));
        assert_eq!(d["properties"]["unchanged"], json!({"same":"s"}));
    }
}
