//! `PUT /{name}`: `npm publish` (a packument with one version and its tarball in
//! `_attachments`) and metadata changes (`npm deprecate`; `npm unpublish` of one
//! version, which PUTs the packument back without it at `/{name}/-rev/{rev}`).
//!
//! Everything is checked before anything is written: a refused request stores
//! nothing.

use std::borrow::Cow;
use std::collections::HashMap;

use binyard_plugin_sdk::package_type::{Failure, Request, Response, repository};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::names::{self, PackageName};
use crate::store::{self, PROP_DEPRECATED, PROP_NAME, PROP_TAG, PROP_VERSION, Stored};
use crate::{integrity, tarball};

/// The largest publish body: the host stores generated files of up to 16 MiB, and a
/// 16 MiB tarball is about 21.4 MiB as base64.
pub const MAX_BODY: u64 = 24 << 20;
/// The largest tarball (the host's limit for bytes a plugin stores).
pub const MAX_TARBALL: usize = 16 << 20;
/// The largest version metadata kept (the key-value space's value limit).
const MAX_MANIFEST: usize = 1 << 20;

#[derive(Deserialize)]
struct Attachment<'a> {
    #[serde(borrow)]
    data: Option<Cow<'a, str>>,
    length: Option<u64>,
}

/// Reads and splits the body without copying the (large) attachment data.
fn read_body(req: &Request) -> Result<Vec<u8>, Failure> {
    let Some(info) = &req.upload else {
        return Err(Failure::bad_request(
            "The request has no body: send the package document as JSON",
        ));
    };
    if info.size > MAX_BODY {
        return Err(Failure::new(
            413,
            format!(
                "The package document has {} bytes; at most {} MiB are accepted (tarballs up to {} MiB)",
                info.size,
                MAX_BODY >> 20,
                MAX_TARBALL >> 20
            ),
        ));
    }
    req.read_upload(MAX_BODY)
}

/// `PUT /{name}` or `PUT /{name}/-rev/{rev}`.
pub fn put(req: &Request, name: &PackageName, rev: Option<&str>) -> Result<Response, Failure> {
    let body = read_body(req)?;
    let top: HashMap<String, &RawValue> = serde_json::from_slice(&body)
        .map_err(|e| Failure::bad_request(format!("The package document is not a JSON object: {e}")))?;
    if let Some(n) = top.get("name") {
        let n: Cow<str> = serde_json::from_str(n.get()).map_err(|_| Failure::bad_request("'name' is not a string"))?;
        if n != name.full {
            return Err(Failure::bad_request(format!(
                "The document names package '{n}' but was sent to '{}'",
                name.full
            )));
        }
    }
    let versions: Map<String, Value> = match top.get("versions") {
        Some(raw) => serde_json::from_str(raw.get())
            .map_err(|e| Failure::bad_request(format!("'versions' is not an object of versions: {e}")))?,
        None => Map::new(),
    };
    let tags: Map<String, Value> = match top.get("dist-tags") {
        Some(raw) => serde_json::from_str(raw.get())
            .map_err(|e| Failure::bad_request(format!("'dist-tags' is not an object: {e}")))?,
        None => Map::new(),
    };
    let attachments: HashMap<String, Attachment> = match top.get("_attachments") {
        Some(raw) => serde_json::from_str(raw.get())
            .map_err(|e| Failure::bad_request(format!("'_attachments' is not an object of attachments: {e}")))?,
        None => HashMap::new(),
    };
    let readme = top
        .get("readme")
        .and_then(|r| serde_json::from_str::<String>(r.get()).ok());
    if attachments.is_empty() {
        return update(req, name, rev, &versions, &tags);
    }
    publish(req, name, versions, &tags, attachments, readme)
}

fn publish(
    req: &Request,
    name: &PackageName,
    versions: Map<String, Value>,
    tags: &Map<String, Value>,
    attachments: HashMap<String, Attachment>,
    readme: Option<String>,
) -> Result<Response, Failure> {
    if versions.len() != 1 || attachments.len() != 1 {
        return Err(Failure::bad_request(format!(
            "A publish carries exactly one version and its tarball; this one has {} versions and {} attachments",
            versions.len(),
            attachments.len()
        )));
    }
    let Some((version, mut manifest)) = versions.into_iter().next() else {
        return Err(Failure::bad_request("The document has no version"));
    };
    names::parse_version(&version)?;
    let Some(obj) = manifest.as_object_mut() else {
        return Err(Failure::bad_request(format!("Version {version} is not an object")));
    };
    if obj.get("name").and_then(Value::as_str) != Some(name.full.as_str()) {
        return Err(Failure::bad_request(format!(
            "Version {version} names another package ({})",
            obj.get("name").unwrap_or(&Value::Null)
        )));
    }
    if obj.get("version").and_then(Value::as_str) != Some(version.as_str()) {
        return Err(Failure::bad_request(format!(
            "The key '{version}' and the version's 'version' ({}) differ",
            obj.get("version").unwrap_or(&Value::Null)
        )));
    }
    let mut own_tags = Vec::new();
    for (tag, v) in tags {
        names::check_tag(tag)?;
        match v.as_str() {
            Some(v) if v == version => own_tags.push(tag.clone()),
            Some(_) => {}
            None => {
                return Err(Failure::bad_request(format!(
                    "dist-tag '{tag}' is not a version string"
                )));
            }
        }
    }
    if own_tags.is_empty() {
        own_tags.push("latest".into());
    }

    let path = name.tarball_path(&version);
    let existing = store::versions(name);
    if existing.iter().any(|s| s.version == version) || repository::stat(&path)?.is_some() {
        return Err(Failure::new(
            403,
            format!(
                "You cannot publish over the previously published versions: {version}. ({}@{version} is already in this repository)",
                name.full
            ),
        ));
    }

    let expected = name.tarball_file(&version);
    let Some((file, att)) = attachments.into_iter().next() else {
        return Err(Failure::bad_request("The document has no attachment"));
    };
    if file != expected {
        return Err(Failure::bad_request(format!(
            "The attachment is named '{file}'; for {}@{version} it must be '{expected}'",
            name.full
        )));
    }
    let data = att
        .data
        .ok_or_else(|| Failure::bad_request(format!("The attachment '{file}' has no data")))?;
    if data.len() as u64 > (MAX_TARBALL as u64).div_ceil(3) * 4 + 4 {
        return Err(too_large());
    }
    let tgz = integrity::decode_base64(&data)?;
    drop(data);
    if tgz.len() > MAX_TARBALL {
        return Err(too_large());
    }
    if let Some(len) = att.length
        && len != tgz.len() as u64
    {
        return Err(Failure::bad_request(format!(
            "The attachment says it has {len} bytes but its data has {}",
            tgz.len()
        )));
    }
    let dist = obj.get("dist").and_then(Value::as_object);
    let shasum = dist.and_then(|d| d.get("shasum")).and_then(Value::as_str);
    let sri = dist.and_then(|d| d.get("integrity")).and_then(Value::as_str);
    let (sha1, sha512) = integrity::verify(&tgz, shasum, sri)?;
    let pkg = tarball::package_json(tgz.as_slice(), true)?;
    for field in ["name", "version"] {
        let inner = pkg.get(field).and_then(Value::as_str).unwrap_or_default();
        let outer = obj.get(field).and_then(Value::as_str).unwrap_or_default();
        if inner != outer {
            return Err(Failure::bad_request(format!(
                "The tarball's package.json has {field} '{inner}' but the document says '{outer}'"
            )));
        }
    }

    // The metadata kept for the packument.
    let publisher = req.caller.name.clone().unwrap_or_else(|| "anonymous".into());
    obj.insert("_id".into(), Value::String(format!("{}@{version}", name.full)));
    let dist = obj.entry("dist").or_insert_with(|| json!({}));
    if let Some(d) = dist.as_object_mut() {
        d.remove("tarball");
        d.insert("shasum".into(), Value::String(sha1));
        d.entry("integrity").or_insert(Value::String(sha512));
    }
    obj.remove("deprecated");
    obj.entry("_npmUser").or_insert_with(|| json!({"name": publisher}));
    obj.entry("maintainers").or_insert_with(|| json!([{"name": publisher}]));
    if let Some(r) = readme.filter(|r| !r.is_empty()) {
        obj.entry("readme").or_insert(Value::String(r));
    }
    let mut kept = serde_json::to_vec(&manifest).map_err(|e| Failure::new(500, e.to_string()))?;
    if kept.len() > MAX_MANIFEST
        && let Some(o) = manifest.as_object_mut()
    {
        // The readme is the usual bulk; the rest must fit.
        o.remove("readme");
        kept = serde_json::to_vec(&manifest).map_err(|e| Failure::new(500, e.to_string()))?;
    }
    if kept.len() > MAX_MANIFEST {
        return Err(Failure::new(
            413,
            format!(
                "The metadata of {}@{version} has {} bytes without its readme; at most {MAX_MANIFEST} are kept",
                name.full,
                kept.len()
            ),
        ));
    }

    let props = vec![
        (PROP_NAME.to_string(), vec![name.full.clone()]),
        (PROP_VERSION.to_string(), vec![version.clone()]),
        (PROP_TAG.to_string(), own_tags.clone()),
    ];
    let stored = repository::put(&path, &tgz, &props)?;
    let sha256 = stored.blob.map(|b| b.sha256).unwrap_or_default();
    if let Err(f) = repository::kv_put(&store::manifest_key(&sha256), &kept) {
        let _ = repository::delete(&path);
        return Err(f);
    }
    // A tag names one version: take it from the versions that had it.
    for s in &existing {
        remove_tags(s, &own_tags)?;
    }
    Ok(Response::json(
        201,
        json!({"ok": true, "id": name.full, "success": true}).to_string(),
    ))
}

fn too_large() -> Failure {
    Failure::new(413, format!("The tarball is larger than {} MiB", MAX_TARBALL >> 20))
}

/// Removes `tags` from a tarball's `npm.disttag` property.
pub fn remove_tags(s: &Stored, tags: &[String]) -> Result<(), Failure> {
    if !s.tags.iter().any(|t| tags.contains(t)) {
        return Ok(());
    }
    let left: Vec<String> = s.tags.iter().filter(|t| !tags.contains(t)).cloned().collect();
    let change = if left.is_empty() { None } else { Some(left) };
    repository::set_properties(&s.path, &[(PROP_TAG.to_string(), change)])
}

/// Points `tag` at `target` (taking it from whichever version had it).
pub fn set_tag(all: &[Stored], target: &Stored, tag: &str) -> Result<(), Failure> {
    let tag = tag.to_string();
    for s in all.iter().filter(|s| s.path != target.path) {
        remove_tags(s, std::slice::from_ref(&tag))?;
    }
    if !target.tags.contains(&tag) {
        let mut tags = target.tags.clone();
        tags.push(tag);
        repository::set_properties(&target.path, &[(PROP_TAG.to_string(), Some(tags))])?;
    }
    Ok(())
}

/// A packument PUT without tarballs: deprecations always; with `-rev/{rev}` (npm
/// unpublish) also versions left out (deleted) and dist-tags.
fn update(
    req: &Request,
    name: &PackageName,
    rev: Option<&str>,
    versions: &Map<String, Value>,
    tags: &Map<String, Value>,
) -> Result<Response, Failure> {
    let stored = store::versions(name);
    if stored.is_empty() {
        return Err(Failure::not_found(format!(
            "Package '{}' is not in this repository: publish it with its tarball in _attachments",
            name.full
        )));
    }
    // Validate the whole document first.
    let mut deprecations = Vec::new();
    for (v, doc) in versions {
        let Some(s) = stored.iter().find(|s| s.version == *v) else {
            return Err(Failure::bad_request(format!(
                "Version {v} of {} is not in this repository; a new version needs its tarball in _attachments",
                name.full
            )));
        };
        let msg = match doc.get("deprecated") {
            None | Some(Value::Null) => None,
            Some(Value::String(m)) if m.is_empty() => None,
            Some(Value::String(m)) => Some(m.clone()),
            Some(_) => return Err(Failure::bad_request(format!("'deprecated' of {v} is not a string"))),
        };
        if msg != s.deprecated {
            deprecations.push((s, msg));
        }
    }
    let mut removed: Vec<&Stored> = Vec::new();
    let mut tag_moves: Vec<(&Stored, String)> = Vec::new();
    if let Some(rev) = rev {
        let current = store::revision(&stored);
        if rev != current {
            return Err(Failure::conflict(format!(
                "{} changed since it was read (revision {rev}, now {current}): fetch it again",
                name.full
            )));
        }
        removed = stored.iter().filter(|s| !versions.contains_key(&s.version)).collect();
        if !removed.is_empty() && !req.caller.can_delete {
            return Err(Failure::new(
                403,
                format!(
                    "Unpublishing versions of {} needs the delete permission on this repository",
                    name.full
                ),
            ));
        }
        let current_tags = store::dist_tags(&stored);
        for (tag, v) in tags {
            let Some(v) = v.as_str() else {
                return Err(Failure::bad_request(format!(
                    "dist-tag '{tag}' is not a version string"
                )));
            };
            if current_tags.get(tag).and_then(Value::as_str) == Some(v) {
                continue;
            }
            names::check_tag(tag)?;
            match stored
                .iter()
                .find(|s| s.version == v && versions.contains_key(&s.version))
            {
                Some(s) => tag_moves.push((s, tag.clone())),
                None => {
                    return Err(Failure::bad_request(format!(
                        "dist-tag '{tag}' names a version ({v}) that is not kept"
                    )));
                }
            }
        }
    }

    if !removed.is_empty() && removed.len() == stored.len() {
        store::delete_package(name)?;
        return Ok(Response::json(200, json!({"ok": true}).to_string()));
    }
    for s in &removed {
        repository::delete(&s.path)?;
    }
    for (s, msg) in deprecations {
        repository::set_properties(&s.path, &[(PROP_DEPRECATED.to_string(), msg.map(|m| vec![m]))])?;
    }
    for (target, tag) in tag_moves {
        // Re-read: deprecations changed the properties.
        let now = store::versions(name);
        if let Some(t) = now.iter().find(|s| s.path == target.path) {
            set_tag(&now, t, &tag)?;
        }
    }
    Ok(Response::json(200, json!({"ok": true}).to_string()))
}
