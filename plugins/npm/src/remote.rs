//! A remote npm repository: packuments are expirable metadata fetched from the
//! upstream registry, answered with their tarball URLs rewritten to this
//! repository's own (full or abbreviated); tarballs are immutable, fetched once and
//! streamed by the host from its cache.

use binyard_plugin_sdk::package_type::upstream::{self, FetchKind};
use binyard_plugin_sdk::package_type::{Failure, Request, Response, read_file, repository};
use serde_json::{Map, Value};

use crate::names::PackageName;
use crate::packument::{abbreviate, tarball_url};
use crate::{CORGI, split_name};

/// The largest packument read (popular packages have packuments of tens of MiB).
const MAX_PACKUMENT: u64 = 128 << 20;

/// GET and HEAD of a remote npm repository.
pub fn handle(req: &Request) -> Result<Response, Failure> {
    let method = req.method.as_str();
    let path = req.path.trim_end_matches('/');
    if path == "-/ping" {
        return Ok(Response::json(200, "{}"));
    }
    if !matches!(method, "GET" | "HEAD") || path.starts_with("-/") {
        return Err(Failure::new(
            405,
            format!(
                "'{}' is a remote npm repository, which caches its upstream: it does not answer {method} /{}",
                repository::info().key,
                req.path
            ),
        ));
    }
    let (name, rest) = split_name(path)?;
    let name = PackageName::parse(name)?;
    let rest: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match rest.as_slice() {
        [] => packument(req, &name),
        ["-", file @ ..] => tarball(&name, &file.join("/")),
        [spec] => version(req, &name, spec),
        _ => Err(Failure::not_found(format!("No npm endpoint /{}", req.path))),
    }
}

/// The upstream packument, tarball URLs pointing here.
fn packument(req: &Request, name: &PackageName) -> Result<Response, Failure> {
    let mut doc = upstream_packument(name)?;
    rewrite_tarballs(&mut doc, &req.base_url, name);
    let abbreviated = req.header("accept").is_some_and(|a| a.contains(CORGI));
    let (content_type, doc) = if abbreviated {
        (CORGI, abbreviated_doc(doc))
    } else {
        ("application/json", doc)
    };
    Ok(Response::bytes(200, content_type, doc.to_string().into_bytes()).with_header("cache-control", "no-cache"))
}

/// `GET /{name}/{version|tag}`.
fn version(req: &Request, name: &PackageName, spec: &str) -> Result<Response, Failure> {
    let mut doc = upstream_packument(name)?;
    rewrite_tarballs(&mut doc, &req.base_url, name);
    let v = doc
        .get("dist-tags")
        .and_then(|t| t.get(spec))
        .and_then(Value::as_str)
        .unwrap_or(spec)
        .to_string();
    let one = doc
        .get("versions")
        .and_then(|vs| vs.get(&v))
        .cloned()
        .ok_or_else(|| Failure::not_found(format!("{} has no version or dist-tag '{spec}'", name.full)))?;
    Ok(Response::json(200, one.to_string()))
}

/// `GET /{name}/-/{file}`: fetched once (immutable), then served from the cache.
fn tarball(name: &PackageName, file: &str) -> Result<Response, Failure> {
    let leaf = file.rsplit('/').next().unwrap_or(file);
    if name.version_of_leaf(leaf).is_none() {
        return Err(Failure::not_found(format!(
            "'{file}' is not a tarball of {}",
            name.full
        )));
    }
    let fetched = upstream::fetch(&format!("{}/-/{leaf}", name.full), "", FetchKind::Immutable)?;
    let cached = fetched
        .cached_path
        .ok_or_else(|| Failure::new(502, format!("The tarball '{leaf}' was not cached")))?;
    Ok(Response::artifact(cached).with_header("content-type", "application/octet-stream"))
}

/// The packument as the upstream has it (cached for the retrieval cache period).
fn upstream_packument(name: &PackageName) -> Result<Value, Failure> {
    let fetched = upstream::fetch(&name.full, "", FetchKind::Expirable)?;
    let path = fetched
        .cached_path
        .ok_or_else(|| Failure::new(502, format!("The packument of {} was not cached", name.full)))?;
    let size = fetched.blob.map_or(0, |b| b.size);
    if size > MAX_PACKUMENT {
        return Err(Failure::new(
            502,
            format!(
                "The upstream packument of {} has {size} bytes, more than this plugin reads",
                name.full
            ),
        ));
    }
    let data = read_file(&path, size)?;
    let doc: Value = serde_json::from_slice(&data)
        .map_err(|e| Failure::new(502, format!("The upstream packument of {} is not JSON: {e}", name.full)))?;
    if !doc.get("versions").is_some_and(Value::is_object) {
        return Err(Failure::new(
            502,
            format!("The upstream packument of {} has no versions", name.full),
        ));
    }
    Ok(doc)
}

/// Points every version's `dist.tarball` at this repository (`{name}/-/{leaf}`).
fn rewrite_tarballs(doc: &mut Value, base_url: &str, name: &PackageName) {
    let Some(versions) = doc.get_mut("versions").and_then(Value::as_object_mut) else {
        return;
    };
    for v in versions.values_mut() {
        let Some(dist) = v.get_mut("dist").and_then(Value::as_object_mut) else {
            continue;
        };
        let Some(url) = dist.get("tarball").and_then(Value::as_str) else {
            continue;
        };
        let leaf = url.rsplit('/').next().unwrap_or(url).to_string();
        let ours = tarball_url(base_url, &format!("{}/-/{leaf}", name.full));
        dist.insert("tarball".into(), Value::String(ours));
    }
}

/// The abbreviated packument (`application/vnd.npm.install-v1+json`).
fn abbreviated_doc(doc: Value) -> Value {
    let mut out = Map::new();
    for k in ["name", "dist-tags"] {
        if let Some(v) = doc.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    if let Some(m) = doc.get("time").and_then(|t| t.get("modified")) {
        out.insert("modified".into(), m.clone());
    }
    let versions: Map<String, Value> = doc
        .get("versions")
        .and_then(Value::as_object)
        .map(|vs| vs.iter().map(|(k, v)| (k.clone(), abbreviate(v.clone()))).collect())
        .unwrap_or_default();
    out.insert("versions".into(), Value::Object(versions));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tarball_urls_point_here_and_abbreviation_keeps_what_installs_need() {
        let name = PackageName::parse("@s/p").unwrap();
        let mut doc = json!({
            "name": "@s/p", "dist-tags": {"latest": "1.0.0"}, "time": {"modified": "t"}, "readme": "long",
            "versions": {"1.0.0": {"name": "@s/p", "version": "1.0.0", "readme": "x", "dependencies": {"a": "1"},
                "dist": {"tarball": "http://up/@s/p/-/p-1.0.0.tgz", "shasum": "abc"}}}
        });
        rewrite_tarballs(&mut doc, "http://here/api/npm/r", &name);
        assert_eq!(
            doc["versions"]["1.0.0"]["dist"]["tarball"],
            json!("http://here/api/npm/r/@s/p/-/p-1.0.0.tgz")
        );
        let a = abbreviated_doc(doc);
        assert_eq!(a["modified"], json!("t"));
        assert!(a.get("readme").is_none() && a["versions"]["1.0.0"].get("readme").is_none());
        assert_eq!(a["versions"]["1.0.0"]["dependencies"], json!({"a": "1"}));
    }
}
