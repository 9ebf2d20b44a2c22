//! Manifests (`/v2/{name}/manifests/{reference}`) and the referrers API.
//!
//! Every manifest is stored under `{name}/sha256__{hex}/` (found by digest there)
//! and, when pushed by tag, under `{name}/{tag}/` too, each with the blobs it
//! references beside it (no bytes are copied). A manifest is checked whole before
//! anything is written: a refusal stores nothing.

use binyard_plugin_sdk::package_type::{Artifact, EventType, Response, blobs, repository};
use serde_json::{Value, json};

use crate::blobs::{blob_path, has_blob, is_marked};
use crate::error::OciError;
use crate::names::{Name, blob_leaf, check_tag, is_digest, parse_digest};
use crate::{Answer, Ctx, state};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const SCHEMA1: [&str; 2] = [
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];

/// The largest manifest accepted (what the spec asks registries to take at least).
pub const MAX_MANIFEST: u64 = 4 << 20;

pub const PROP_REPO_NAME: &str = "docker.repoName";
pub const PROP_MANIFEST: &str = "docker.manifest";
const PROP_DIGEST: &str = "docker.manifest.digest";
const PROP_TYPE: &str = "docker.manifest.type";
const PROP_MEDIA_TYPE: &str = "docker.manifest.mediaType";
const PROP_SUBJECT: &str = "docker.manifest.subject";

fn is_index(media: &str) -> bool {
    media == OCI_INDEX || media == DOCKER_LIST
}

/// The file name of a manifest of this media type (Artifactory's names).
fn file_name(media: &str) -> &'static str {
    if is_index(media) {
        "list.manifest.json"
    } else {
        "manifest.json"
    }
}

/// The folder every manifest with digest `hex` is kept in.
fn digest_folder(name: &Name, hex: &str) -> String {
    format!("{}/{}", name.0, blob_leaf(hex))
}

fn prop<'a>(a: &'a Artifact, key: &str) -> Option<&'a str> {
    a.properties
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.first())
        .map(String::as_str)
}

/// The manifest stored in `folder`, if any.
fn manifest_in(folder: &str) -> Result<Option<Artifact>, crate::Error> {
    for f in ["manifest.json", "list.manifest.json"] {
        if let Some(a) = repository::stat(&format!("{folder}/{f}"))?.filter(|a| !a.folder) {
            return Ok(Some(a));
        }
    }
    Ok(None)
}

/// The manifest of `name` with digest `hex`, if stored.
fn by_digest(name: &Name, hex: &str) -> Result<Option<Artifact>, crate::Error> {
    manifest_in(&digest_folder(name, hex))
}

/// `/v2/{name}/manifests/{reference}`
pub fn handle(ctx: &Ctx, name: &Name, reference: &str) -> Answer {
    match ctx.req.method.as_str() {
        "GET" | "HEAD" => get(ctx, name, reference),
        "PUT" => put(ctx, name, reference),
        "DELETE" => delete(name, reference),
        m => Err(OciError::unsupported(format!("{m} on a manifest")).into()),
    }
}

fn unknown(name: &Name, reference: &str) -> OciError {
    OciError::not_found(
        "MANIFEST_UNKNOWN",
        format!("Manifest '{reference}' is not in '{}'", name.0),
    )
}

/// The digest (hex) a tag or digest reference names, if it is known.
fn resolve(name: &Name, reference: &str) -> Result<Option<String>, crate::Error> {
    if is_digest(reference) {
        return Ok(Some(parse_digest(reference)?));
    }
    check_tag(reference)?;
    Ok(state::tags(name)?
        .get(reference)
        .and_then(|d| d.strip_prefix("sha256:"))
        .map(str::to_string))
}

/// Whether an `Accept` header allows `media`. Clients list the types they know and
/// not always all of them (skopeo leaves indexes out of some requests), so only a
/// client that accepts nothing but schema 1 is refused: it could not use any
/// manifest stored here.
pub fn accepts(accept: Option<&str>, media: &str) -> bool {
    let Some(accept) = accept else { return true };
    let types: Vec<&str> = accept
        .split(',')
        .map(|t| t.split(';').next().unwrap_or("").trim())
        .filter(|t| !t.is_empty())
        .collect();
    types.is_empty() || types.contains(&media) || !types.iter().all(|t| SCHEMA1.contains(t))
}

fn get(ctx: &Ctx, name: &Name, reference: &str) -> Answer {
    let hex = resolve(name, reference)?.ok_or_else(|| unknown(name, reference))?;
    let item = by_digest(name, &hex)?.ok_or_else(|| unknown(name, reference))?;
    let media = prop(&item, PROP_MEDIA_TYPE).unwrap_or(OCI_MANIFEST).to_string();
    if !accepts(ctx.req.header("accept"), &media) {
        return Err(OciError::not_found(
            "MANIFEST_UNKNOWN",
            format!("Manifest '{reference}' is a {media}, which the client does not accept"),
        )
        .into());
    }
    Ok(Response::artifact(item.path)
        .with_header("content-type", media)
        .with_header("docker-content-digest", format!("sha256:{hex}"))
        .with_header("etag", format!("\"sha256:{hex}\""))
        .cacheable())
}

/// What a manifest pushed refers to, found valid.
struct Checked {
    media: String,
    /// The blobs of an image manifest (config and layers), hex.
    blobs: Vec<String>,
    subject: Option<String>,
    artifact_type: Option<String>,
    annotations: Option<Value>,
}

fn invalid(msg: impl Into<String>) -> OciError {
    OciError::bad("MANIFEST_INVALID", msg)
}

/// A descriptor's digest (hex), checked.
fn descriptor_digest(d: &Value, what: &str) -> Result<String, OciError> {
    let digest = d
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("The {what} has no digest")))?;
    parse_digest(digest)
}

/// Checks a manifest's JSON and that everything it references is here.
fn check(name: &Name, bytes: &[u8], content_type: Option<&str>) -> Result<Checked, crate::Error> {
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("The manifest is not valid JSON: {e}")))?;
    if !doc.is_object() {
        return Err(invalid("The manifest is not a JSON object").into());
    }
    let declared = doc.get("mediaType").and_then(Value::as_str);
    let content_type = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim())
        .filter(|c| !c.is_empty() && *c != "application/json" && *c != "application/octet-stream");
    let schema = doc.get("schemaVersion").and_then(Value::as_i64);
    if schema == Some(1) || [declared, content_type].iter().flatten().any(|m| SCHEMA1.contains(m)) {
        return Err(invalid(
            "Docker image manifest schema 1 is not supported: push with schema 2 or OCI (any current client does)",
        )
        .into());
    }
    if schema != Some(2) {
        return Err(invalid("The manifest's schemaVersion must be 2").into());
    }
    if let (Some(d), Some(c)) = (declared, content_type)
        && d != c
    {
        return Err(invalid(format!("The manifest says it is a {d} but was sent as {c}")).into());
    }
    let media = declared
        .or(content_type)
        .or_else(|| doc.get("manifests").map(|_| OCI_INDEX))
        .unwrap_or(OCI_MANIFEST)
        .to_string();
    let mut checked = Checked {
        blobs: Vec::new(),
        subject: None,
        artifact_type: doc.get("artifactType").and_then(Value::as_str).map(str::to_string),
        annotations: doc.get("annotations").filter(|a| a.is_object()).cloned(),
        media: media.clone(),
    };
    if let Some(s) = doc.get("subject") {
        checked.subject = Some(descriptor_digest(s, "subject")?);
    }
    if media == OCI_MANIFEST || media == DOCKER_MANIFEST {
        let config = doc.get("config").ok_or_else(|| invalid("The manifest has no config"))?;
        let hex = descriptor_digest(config, "config")?;
        if checked.artifact_type.is_none() {
            checked.artifact_type = config.get("mediaType").and_then(Value::as_str).map(str::to_string);
        }
        checked.blobs.push(hex);
        let layers = match doc.get("layers") {
            Some(Value::Array(l)) => l.as_slice(),
            None if media == OCI_MANIFEST => &[],
            _ => return Err(invalid("The manifest's layers are not a list").into()),
        };
        for l in layers {
            // Foreign layers live elsewhere (their `urls`): nothing to find here.
            if l.get("urls")
                .is_some_and(|u| u.as_array().is_some_and(|a| !a.is_empty()))
            {
                descriptor_digest(l, "layer")?;
                continue;
            }
            checked.blobs.push(descriptor_digest(l, "layer")?);
        }
        for hex in &checked.blobs {
            if !has_blob(name, hex)? {
                return Err(OciError::bad(
                    "MANIFEST_BLOB_UNKNOWN",
                    format!("Blob sha256:{hex} is not in '{}': push it before the manifest", name.0),
                )
                .into());
            }
        }
    } else if is_index(&media) {
        let Some(Value::Array(children)) = doc.get("manifests") else {
            return Err(invalid("The index has no list of manifests").into());
        };
        for c in children {
            let hex = descriptor_digest(c, "manifest")?;
            if by_digest(name, &hex)?.is_none() {
                return Err(OciError::bad(
                    "MANIFEST_BLOB_UNKNOWN",
                    format!("Manifest sha256:{hex} is not in '{}': push it before the index", name.0),
                )
                .into());
            }
        }
    } else {
        return Err(invalid(format!("Unknown manifest media type '{media}'")).into());
    }
    Ok(checked)
}

fn props(name: &Name, reference: &str, hex: &str, c: &Checked) -> Vec<(String, Vec<String>)> {
    let mut p = vec![
        (PROP_REPO_NAME.to_string(), vec![name.0.clone()]),
        (PROP_MANIFEST.to_string(), vec![reference.to_string()]),
        (PROP_DIGEST.to_string(), vec![format!("sha256:{hex}")]),
        (
            PROP_TYPE.to_string(),
            vec![
                if is_index(&c.media) {
                    "ManifestList"
                } else {
                    "ManifestV2"
                }
                .to_string(),
            ],
        ),
        (PROP_MEDIA_TYPE.to_string(), vec![c.media.clone()]),
        ("sha256".to_string(), vec![hex.to_string()]),
    ];
    if let Some(s) = &c.subject {
        p.push((PROP_SUBJECT.to_string(), vec![format!("sha256:{s}")]));
    }
    p
}

/// Stores the pushed manifest in `folder` with its blobs beside it.
fn store_in(folder: &str, name: &Name, reference: &str, hex: &str, c: &Checked) -> Result<String, crate::Error> {
    let path = format!("{folder}/{}", file_name(&c.media));
    repository::commit_upload(&path, 0, None, &props(name, reference, hex, c))?;
    for b in &c.blobs {
        let beside = format!("{folder}/{}", blob_leaf(b));
        if repository::stat(&beside)?.is_none() {
            blobs::commit(&beside, b, &[("sha256".to_string(), vec![b.clone()])])?;
        }
    }
    Ok(path)
}

fn put(ctx: &Ctx, name: &Name, reference: &str) -> Answer {
    let req = ctx.req;
    let Some(upload) = &req.upload else {
        return Err(invalid("The manifest is the body of the request, and it is empty").into());
    };
    if upload.size > MAX_MANIFEST {
        return Err(OciError::new(
            413,
            "MANIFEST_INVALID",
            format!(
                "The manifest has {} bytes; at most {MAX_MANIFEST} are accepted",
                upload.size
            ),
        )
        .into());
    }
    let hex = upload.sha256.clone();
    let tag = if is_digest(reference) {
        let want = parse_digest(reference)?;
        if want != hex {
            return Err(OciError::bad(
                "DIGEST_INVALID",
                format!("The manifest's digest is sha256:{hex}, not {reference}"),
            )
            .into());
        }
        None
    } else {
        check_tag(reference)?;
        Some(reference)
    };
    let bytes = req.read_upload(MAX_MANIFEST)?;
    let c = check(name, &bytes, req.header("content-type"))?;
    let digest = format!("sha256:{hex}");
    let mut tags = state::tags(name)?;
    let previous = tag.and_then(|t| tags.get(t)).cloned();
    if previous.as_ref().is_some_and(|p| *p != digest) && !req.caller.can_delete {
        return Err(OciError::denied(format!(
            "Tag '{}' of '{}' exists: moving it needs the delete permission",
            reference, name.0
        ))
        .into());
    }

    // Checked: from here on the request writes.
    let folder = digest_folder(name, &hex);
    let mut path = match manifest_in(&folder)? {
        Some(a) => a.path,
        None => {
            let path = store_in(&folder, name, &digest, &hex, &c)?;
            for b in &c.blobs {
                state::set_layer_user(name, b, &hex, true)?;
            }
            path
        }
    };
    // The layers now belong to the manifest: their staged copies go (Artifactory
    // moves them out of `_uploads`), so nothing holds a layer once no manifest does.
    // An unmarked copy (stored before the staged mark) stays: older manifests of the
    // name find their layers through it; garbage collection takes it once no other
    // file holds its content.
    for b in &c.blobs {
        let staged = blob_path(name, b);
        if repository::stat(&staged)?.is_some_and(|a| is_marked(&a)) {
            repository::delete(&staged)?;
        }
    }
    if let Some(t) = tag
        && previous.as_deref() != Some(digest.as_str())
    {
        let tag_folder = format!("{}/{t}", name.0);
        if repository::stat(&tag_folder)?.is_some() {
            repository::delete(&tag_folder)?;
        }
        path = store_in(&tag_folder, name, t, &hex, &c)?;
        tags.insert(t.to_string(), digest.clone());
        state::set_tags(name, &tags)?;
    }
    state::add_name(name)?;
    if let Some(subject) = &c.subject {
        let mut list = state::referrers(name, subject)?;
        if !list.iter().any(|d| d["digest"] == digest.as_str()) {
            let mut d = json!({"mediaType": c.media, "digest": digest, "size": upload.size});
            if let Some(t) = &c.artifact_type {
                d["artifactType"] = json!(t);
            }
            if let Some(a) = &c.annotations {
                d["annotations"] = a.clone();
            }
            list.push(d);
            state::set_referrers(name, subject, &list)?;
        }
    }
    let data = json!({"image_name": name.0, "tag": tag.unwrap_or(""), "digest": digest});
    repository::emit_event(EventType::DockerPushed, &path, &data.to_string())?;
    let mut r = Response::empty(201)
        .with_header("location", format!("{}/{}/manifests/{digest}", ctx.base, name.0))
        .with_header("docker-content-digest", digest);
    if let Some(s) = &c.subject {
        r = r.with_header("oci-subject", format!("sha256:{s}"));
    }
    Ok(r)
}

/// `DELETE /v2/{name}/manifests/{tag|digest}`: a tag (the manifest stays, by digest,
/// as the OCI spec has it), or a manifest with every tag on it and its claim on its
/// layers (what `skopeo delete` and `crane delete` do).
fn delete(name: &Name, reference: &str) -> Answer {
    let mut tags = state::tags(name)?;
    if !is_digest(reference) {
        check_tag(reference)?;
        let Some(digest) = tags.remove(reference) else {
            return Err(unknown(name, reference).into());
        };
        let folder = format!("{}/{reference}", name.0);
        if repository::stat(&folder)?.is_some() {
            repository::delete(&folder)?;
        }
        state::set_tags(name, &tags)?;
        deleted_event(name, &folder, reference, &digest)?;
        return Ok(Response::empty(202));
    }
    let hex = parse_digest(reference)?;
    let Some(item) = by_digest(name, &hex)? else {
        return Err(unknown(name, reference).into());
    };
    let digest = format!("sha256:{hex}");
    let on_it: Vec<String> = tags
        .iter()
        .filter(|(_, d)| **d == digest)
        .map(|(t, _)| t.clone())
        .collect();
    for t in &on_it {
        tags.remove(t);
        let folder = format!("{}/{t}", name.0);
        if repository::stat(&folder)?.is_some() {
            repository::delete(&folder)?;
        }
        deleted_event(name, &folder, t, &digest)?;
    }
    if !on_it.is_empty() {
        state::set_tags(name, &tags)?;
    }
    if let Some(subject) = prop(&item, PROP_SUBJECT).and_then(|s| s.strip_prefix("sha256:")) {
        let mut list = state::referrers(name, subject)?;
        list.retain(|d| d["digest"] != digest.as_str());
        state::set_referrers(name, subject, &list)?;
    }
    let folder = digest_folder(name, &hex);
    // Its layers are no longer the name's unless another manifest uses them; then
    // garbage collection frees those no repository holds.
    let mut after: Option<String> = None;
    loop {
        let page = repository::list_children(&folder, after.as_deref(), 1000)?;
        for a in &page {
            let leaf = a.path.rsplit('/').next().unwrap_or("");
            if let Some(b) = leaf.strip_prefix("sha256__").filter(|_| !a.folder) {
                state::set_layer_user(name, b, &hex, false)?;
            }
        }
        if page.len() < 1000 {
            break;
        }
        after = page.last().map(|a| a.path.rsplit('/').next().unwrap_or("").to_string());
    }
    repository::delete(&folder)?;
    if on_it.is_empty() {
        deleted_event(name, &folder, "", &digest)?;
    }
    // The name's last manifest: it leaves the catalog.
    let left = repository::list_children(&name.0, None, 1000)?;
    if !left
        .iter()
        .any(|a| a.folder && a.path.rsplit('/').next().is_some_and(|l| l.starts_with("sha256__")))
    {
        state::remove_name(name)?;
    }
    Ok(Response::empty(202))
}

fn deleted_event(name: &Name, path: &str, tag: &str, digest: &str) -> Result<(), crate::Error> {
    let data = json!({"image_name": name.0, "tag": tag, "digest": digest});
    repository::emit_event(EventType::DockerDeleted, path, &data.to_string())?;
    Ok(())
}

/// `GET /v2/{name}/referrers/{digest}[?artifactType=]`: an index of the manifests
/// whose subject is `digest`.
pub fn referrers(ctx: &Ctx, name: &Name, digest: &str) -> Answer {
    let hex = parse_digest(digest)?;
    let mut list = state::referrers(name, &hex)?;
    let filter = ctx.req.query_param("artifactType").filter(|t| !t.is_empty());
    if let Some(t) = &filter {
        list.retain(|d| d["artifactType"] == t.as_str());
    }
    let doc = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list});
    let mut r = Response::bytes(200, OCI_INDEX, doc.to_string().into_bytes());
    if filter.is_some() {
        r = r.with_header("oci-filters-applied", "artifactType");
    }
    Ok(r)
}
