//! Packuments: the full document (`npm view`, `npm publish` tools) and the
//! abbreviated one `npm install` asks for, built from what is stored.

use serde_json::{Map, Value, json};

use crate::names::PackageName;
use crate::store::{self, Stored};

/// The fields of a version kept in the abbreviated ("corgi") packument.
const ABBREVIATED: &[&str] = &[
    "name",
    "version",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "bundleDependencies",
    "bundledDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "acceptDependencies",
    "bin",
    "directories",
    "dist",
    "engines",
    "cpu",
    "os",
    "libc",
    "funding",
    "license",
    "deprecated",
    "_hasShrinkwrap",
    "hasInstallScript",
];

/// Fields of the latest version repeated at the top of the full packument.
const TOP_FIELDS: &[&str] = &[
    "description",
    "keywords",
    "license",
    "homepage",
    "repository",
    "bugs",
    "author",
    "contributors",
    "readmeFilename",
];

/// One version as the client sees it: the stored metadata with its tarball URL and
/// deprecation.
pub fn version_doc(name: &PackageName, s: &Stored, base_url: &str) -> Option<Value> {
    let mut v = store::manifest(name, s)?;
    let obj = v.as_object_mut()?;
    obj.insert("name".into(), Value::String(name.full.clone()));
    obj.insert("version".into(), Value::String(s.version.clone()));
    let dist = obj.entry("dist").or_insert_with(|| json!({}));
    if let Some(d) = dist.as_object_mut() {
        d.insert("tarball".into(), Value::String(tarball_url(base_url, &s.path)));
        d.entry("shasum").or_insert_with(|| Value::String(s.sha1.clone()));
    }
    match &s.deprecated {
        Some(msg) => obj.insert("deprecated".into(), Value::String(msg.clone())),
        None => obj.remove("deprecated"),
    };
    if !obj.contains_key("hasInstallScript") {
        let scripts = obj.get("scripts").and_then(Value::as_object);
        if scripts.is_some_and(|s| {
            ["preinstall", "install", "postinstall"]
                .iter()
                .any(|k| s.contains_key(*k))
        }) {
            obj.insert("hasInstallScript".into(), Value::Bool(true));
        }
    }
    Some(v)
}

/// The full or abbreviated packument, or none when no version is stored.
pub fn build(name: &PackageName, versions: &[Stored], base_url: &str, abbreviated: bool) -> Option<Value> {
    let mut docs = Map::new();
    let mut times = Map::new();
    let mut latest_doc: Option<Value> = None;
    let tags = store::dist_tags(versions);
    let latest = tags.get("latest").and_then(Value::as_str).unwrap_or_default();
    for s in versions {
        let Some(doc) = version_doc(name, s, base_url) else {
            continue;
        };
        times.insert(s.version.clone(), Value::String(iso8601(s.created_ms)));
        if s.version == latest {
            latest_doc = Some(doc.clone());
        }
        let doc = if abbreviated { abbreviate(doc) } else { doc };
        docs.insert(s.version.clone(), doc);
    }
    if docs.is_empty() {
        return None;
    }
    // Tags whose version could not be read are left out.
    let tags: Map<String, Value> = tags
        .into_iter()
        .filter(|(_, v)| v.as_str().is_some_and(|v| docs.contains_key(v)))
        .collect();
    let modified = iso8601(versions.iter().map(|s| s.modified_ms).max().unwrap_or(0));
    if abbreviated {
        return Some(json!({
            "name": name.full,
            "modified": modified,
            "dist-tags": tags,
            "versions": docs,
        }));
    }
    let created = iso8601(versions.iter().map(|s| s.created_ms).min().unwrap_or(0));
    times.insert("created".into(), Value::String(created));
    times.insert("modified".into(), Value::String(modified));
    let mut top = Map::new();
    top.insert("_id".into(), Value::String(name.full.clone()));
    top.insert("_rev".into(), Value::String(store::revision(versions)));
    top.insert("name".into(), Value::String(name.full.clone()));
    let latest_doc = latest_doc.unwrap_or_else(|| docs.values().next_back().cloned().unwrap_or_default());
    for k in TOP_FIELDS {
        if let Some(v) = latest_doc.get(*k) {
            top.insert((*k).into(), v.clone());
        }
    }
    let maintainers = latest_doc
        .get("maintainers")
        .cloned()
        .or_else(|| latest_doc.get("_npmUser").map(|u| json!([u])))
        .unwrap_or_else(|| json!([]));
    top.insert("maintainers".into(), maintainers);
    top.insert(
        "readme".into(),
        latest_doc
            .get("readme")
            .cloned()
            .unwrap_or_else(|| Value::String(String::new())),
    );
    top.insert("dist-tags".into(), Value::Object(tags));
    top.insert("versions".into(), Value::Object(docs));
    top.insert("time".into(), Value::Object(times));
    Some(Value::Object(top))
}

pub fn abbreviate(doc: Value) -> Value {
    match doc {
        Value::Object(mut m) => {
            m.retain(|k, _| ABBREVIATED.contains(&k.as_str()));
            Value::Object(m)
        }
        other => other,
    }
}

/// A stored file's URL under the repository's npm API.
pub fn tarball_url(base_url: &str, path: &str) -> String {
    let mut out = String::with_capacity(base_url.len() + path.len() + 1);
    out.push_str(base_url.trim_end_matches('/'));
    out.push('/');
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        for b in seg.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@' | b'+') {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

pub use binyard_plugin_sdk::time::iso8601;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_iso8601() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_709_210_096_789), "2024-02-29T12:34:56.789Z");
    }

    #[test]
    fn tarball_urls_keep_scopes_readable() {
        assert_eq!(
            tarball_url("http://h/r/", "@s/p/-/@s/p-1.0.0.tgz"),
            "http://h/r/@s/p/-/@s/p-1.0.0.tgz"
        );
    }
}
