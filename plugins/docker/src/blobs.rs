//! Blobs (`/v2/{name}/blobs/{digest}`) and blob uploads (`/v2/{name}/blobs/uploads/…`):
//! monolithic (`POST ?digest=`, or POST then PUT), chunked (POST, PATCH…, PUT
//! `?digest=`) and cross-repository mounts (`POST ?mount=&from=`).
//!
//! A blob pushed before its manifest is the staged file `{name}/_uploads/sha256__{hex}`
//! (property `binyard.staged`: garbage collection deletes it when no manifest took
//! it within the upload session expiry). The manifest that references it takes it
//! into its own folder and the staged file goes, as Artifactory moves layers out of
//! `_uploads`; from then on the blob is the name's for as long as a manifest of the
//! name uses it (`state::layer_users`). The host keeps the bytes once however many
//! names and repositories hold them.

use binyard_plugin_sdk::package_type::{Artifact, Failure, Response, blobs, repository, uploads};

use crate::error::OciError;
use crate::names::{Name, blob_leaf, parse_digest};
use crate::{Answer, Ctx, state};

/// The property that marks a staged file for the host's garbage collection.
const STAGED: &str = "binyard.staged";

/// The staged path of blob `hex` of `name`.
pub fn blob_path(name: &Name, hex: &str) -> String {
    format!("{}/_uploads/{}", name.0, blob_leaf(hex))
}

/// Where blob `hex` of `name` is stored: staged, or beside a manifest that uses it.
pub fn find_blob(name: &Name, hex: &str) -> Result<Option<String>, Failure> {
    let staged = blob_path(name, hex);
    if repository::stat(&staged)?.is_some_and(|a| !a.folder) {
        return Ok(Some(staged));
    }
    Ok(state::layer_users(name, hex)?
        .first()
        .map(|m| format!("{}/{}/{}", name.0, blob_leaf(m), blob_leaf(hex))))
}

/// Whether `name` holds blob `hex`.
pub fn has_blob(name: &Name, hex: &str) -> Result<bool, Failure> {
    Ok(find_blob(name, hex)?.is_some())
}

fn staged_props(hex: &str) -> Vec<(String, Vec<String>)> {
    vec![
        ("sha256".into(), vec![hex.into()]),
        (STAGED.into(), vec!["true".into()]),
    ]
}

/// Whether a stored file is marked staged (files staged before the mark are not:
/// they stay until no other file holds their content, see `state` and the host's GC).
pub fn is_marked(a: &Artifact) -> bool {
    a.properties.iter().any(|(k, _)| k == STAGED)
}

/// Marks staged file `a` again, so its expiry counts from now: a push slower than
/// the expiry that finds its layer already staged (HEAD, mount, the same layer sent
/// again) keeps it until its manifest comes.
fn refresh(a: &Artifact) -> Result<(), Failure> {
    if is_marked(a) {
        repository::set_properties(&a.path, &[(STAGED.into(), Some(vec!["true".into()]))])?;
    }
    Ok(())
}

/// Records blob `hex` as staged for `name` with `store` (given the path and the
/// properties), unless the name has it; a staged copy is refreshed instead.
fn stage_with(
    name: &Name,
    hex: &str,
    store: impl FnOnce(&str, &[(String, Vec<String>)]) -> Result<Artifact, Failure>,
) -> Result<(), Failure> {
    let path = blob_path(name, hex);
    if let Some(a) = repository::stat(&path)?.filter(|a| !a.folder) {
        return refresh(&a);
    }
    if state::layer_users(name, hex)?.is_empty() {
        store(&path, &staged_props(hex))?;
    }
    Ok(())
}

/// Records blob `hex` (in the store) as staged for `name`, unless the name has it.
fn stage(name: &Name, hex: &str) -> Result<(), Failure> {
    stage_with(name, hex, |path, props| blobs::commit(path, hex, props))
}

/// `GET|HEAD|DELETE /v2/{name}/blobs/{digest}`
pub fn blob(ctx: &Ctx, name: &Name, digest: &str) -> Answer {
    let hex = parse_digest(digest)?;
    let unknown = || OciError::not_found("BLOB_UNKNOWN", format!("Blob {digest} is not in '{}'", name.0));
    let Some(path) = find_blob(name, &hex)? else {
        return Err(unknown().into());
    };
    let Some(item) = repository::stat(&path)?.filter(|a| !a.folder) else {
        return Err(unknown().into());
    };
    match ctx.req.method.as_str() {
        "GET" | "HEAD" => {
            let size = item.blob.as_ref().map(|b| b.size).unwrap_or(0);
            let r = Response::artifact(path)
                .with_header("content-type", "application/octet-stream")
                .with_header("docker-content-digest", format!("sha256:{hex}"))
                .with_header("etag", format!("\"sha256:{hex}\""))
                .with_header("content-length", size.to_string());
            // A pusher checking a staged layer (clients HEAD each layer first) keeps
            // it staged: it is pushing the manifest that will take it.
            if is_marked(&item) {
                if ctx.req.method == "HEAD" && ctx.req.caller.name.is_some() {
                    refresh(&item)?;
                }
                return Ok(r);
            }
            Ok(r.cacheable())
        }
        "DELETE" => {
            // As in the distribution registry, the name no longer has the blob even
            // where manifests use it (their pulls then fail); the bytes stay while
            // a manifest folder holds them.
            repository::kv_delete(&format!("layer/{}/{hex}", name.0))?;
            if path == blob_path(name, &hex) {
                repository::delete(&path)?;
            }
            Ok(Response::empty(202).with_header("docker-content-digest", format!("sha256:{hex}")))
        }
        m => Err(OciError::unsupported(format!("{m} on a blob")).into()),
    }
}

/// `/v2/{name}/blobs/uploads/[{id}]`
pub fn uploads(ctx: &Ctx, name: &Name, id: Option<&str>) -> Answer {
    match (ctx.req.method.as_str(), id) {
        ("POST", None) => start(ctx, name),
        (m, None) => Err(OciError::unsupported(format!("{m} on blob uploads: start one with POST")).into()),
        ("PUT", Some(id)) => {
            owned(ctx, name, id)?;
            // A request run again (its transaction raced another) finds the session
            // finished: the host then answers the same blob again.
            let session = uploads::status(id).ok();
            finish(ctx, name, id, session)
        }
        (m, Some(id)) => {
            let session = session(ctx, name, id)?;
            match m {
                "GET" => Ok(progress(ctx, name, &session, 204)),
                "PATCH" => patch(ctx, name, &session),
                "DELETE" => {
                    uploads::abort(&session.id)?;
                    state::drop_upload_owner(&session.id)?;
                    Ok(Response::empty(204))
                }
                m => Err(OciError::unsupported(format!("{m} on a blob upload")).into()),
            }
        }
    }
}

/// The answer of a finished blob: 201 with its location and digest.
fn created(ctx: &Ctx, name: &Name, hex: &str) -> Response {
    Response::empty(201)
        .with_header("location", format!("{}/{}/blobs/sha256:{hex}", ctx.base, name.0))
        .with_header("docker-content-digest", format!("sha256:{hex}"))
        .with_header("content-length", "0")
}

/// An upload session's state: 202 (or 204 for a status request) with its location and `Range`.
fn progress(ctx: &Ctx, name: &Name, s: &uploads::Session, status: u16) -> Response {
    Response::empty(status)
        .with_header("location", format!("{}/{}/blobs/uploads/{}", ctx.base, name.0, s.id))
        .with_header("range", range(s.size))
        .with_header("docker-upload-uuid", s.id.clone())
        .with_header("content-length", "0")
}

/// `Range: 0-{last byte}` (`0-0` before the first byte, as the distribution registry answers).
fn range(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}

/// `POST /v2/{name}/blobs/uploads/`: a mount, a monolithic upload or a new session.
fn start(ctx: &Ctx, name: &Name) -> Answer {
    let req = ctx.req;
    if let Some(digest) = req.query_param("mount") {
        let hex = parse_digest(&digest)?;
        if let Some(from) = req.query_param("from")
            && mount(name, &hex, &from)?
        {
            return Ok(created(ctx, name, &hex));
        }
        // Not readable there: the client uploads as usual (the spec's fallback).
    } else if let Some(digest) = req.query_param("digest") {
        let hex = parse_digest(&digest)?;
        let Some(upload) = &req.upload else {
            return Err(OciError::bad("BLOB_UPLOAD_INVALID", "A monolithic upload needs the blob as its body").into());
        };
        if upload.sha256 != hex {
            return Err(OciError::bad(
                "DIGEST_INVALID",
                format!("The body's digest is sha256:{}, not {digest}", upload.sha256),
            )
            .into());
        }
        stage_with(name, &hex, |path, props| {
            repository::commit_upload(path, 0, None, props)
        })?;
        return Ok(created(ctx, name, &hex));
    }
    let s = uploads::begin()?;
    state::set_upload_owner(&s.id, name, req.caller.name.as_deref().unwrap_or(""))?;
    Ok(progress(ctx, name, &s, 202))
}

/// Makes blob `hex` of `from` (`{repo}/{name}` as the client names it, or a name
/// of this repository) a blob of `name`; false when the caller cannot read it there.
fn mount(name: &Name, hex: &str, from: &str) -> Result<bool, Failure> {
    if has_blob(name, hex)? {
        stage(name, hex)?; // refreshes a staged copy
        return Ok(true);
    }
    let this = repository::info().key;
    let local = from.strip_prefix(&format!("{this}/")).unwrap_or(from);
    // Another name of this repository: the host checks the caller may read a file
    // with that content here (permissions may differ by path).
    if let Ok(other) = Name::parse(local)
        && has_blob(&other, hex)?
        && blobs::mount(&this, hex).is_ok()
    {
        stage(name, hex)?;
        return Ok(true);
    }
    let Some((repo, _)) = from.split_once('/') else {
        return Ok(false);
    };
    if repo == this {
        return Ok(false);
    }
    match blobs::mount(repo, hex) {
        Ok(_) => {
            stage(name, hex)?;
            Ok(true)
        }
        Err(f) if matches!(f.status, 401 | 403 | 404) => Ok(false),
        Err(f) => Err(f),
    }
}

fn unknown_upload(name: &Name, id: &str) -> OciError {
    OciError::not_found("BLOB_UPLOAD_UNKNOWN", format!("No blob upload '{id}' for '{}'", name.0))
}

/// Fails unless session `id` was started for `name` by this caller.
fn owned(ctx: &Ctx, name: &Name, id: &str) -> Result<(), crate::Error> {
    let user = ctx.req.caller.name.clone().unwrap_or_default();
    match state::upload_owner(id)? {
        Some((n, u)) if n == name.0 && u == user => Ok(()),
        _ => Err(unknown_upload(name, id).into()),
    }
}

/// The session `id` of this repository, started for `name` by this caller.
fn session(ctx: &Ctx, name: &Name, id: &str) -> Result<uploads::Session, crate::Error> {
    owned(ctx, name, id)?;
    match uploads::status(id) {
        Ok(s) => Ok(s),
        Err(f) if f.status == 404 => Err(unknown_upload(name, id).into()),
        Err(f) => Err(f.into()),
    }
}

/// `Content-Range: {start}-{end}` (inclusive), if sent.
fn content_range(ctx: &Ctx) -> Result<Option<(u64, u64)>, OciError> {
    let Some(v) = ctx.req.header("content-range") else {
        return Ok(None);
    };
    let v = v.trim().trim_start_matches("bytes").trim_start_matches([' ', '=']);
    let bad = || OciError::new(416, "BLOB_UPLOAD_INVALID", format!("Invalid Content-Range '{v}'"));
    let (a, b) = v.split_once('-').ok_or_else(bad)?;
    let (a, b) = (
        a.trim().parse::<u64>().map_err(|_| bad())?,
        b.trim().parse::<u64>().map_err(|_| bad())?,
    );
    if b < a {
        return Err(bad());
    }
    Ok(Some((a, b)))
}

/// `PATCH /v2/{name}/blobs/uploads/{id}`: appends a chunk.
fn patch(ctx: &Ctx, name: &Name, s: &uploads::Session) -> Answer {
    let body = ctx.req.upload.as_ref().map(|u| u.size).unwrap_or(0);
    let out_of_order = |msg: String| {
        OciError::new(416, "BLOB_UPLOAD_INVALID", msg)
            .with_header("location", format!("{}/{}/blobs/uploads/{}", ctx.base, name.0, s.id))
            .with_header("range", range(s.size))
    };
    if let Some((start, end)) = content_range(ctx)? {
        if start != s.size {
            return Err(out_of_order(format!(
                "The chunk starts at {start} but the upload has {} bytes",
                s.size
            ))
            .into());
        }
        if end - start + 1 != body {
            return Err(out_of_order(format!(
                "Content-Range {start}-{end} is {} bytes but the body has {body}",
                end - start + 1
            ))
            .into());
        }
    }
    if body == 0 {
        return Ok(progress(ctx, name, s, 202));
    }
    match uploads::append(&s.id, s.size) {
        Ok(s) => Ok(progress(ctx, name, &s, 202)),
        Err(f) if f.status == 416 => Err(out_of_order(f.message).into()),
        Err(f) => Err(f.into()),
    }
}

/// `PUT /v2/{name}/blobs/uploads/{id}?digest=`: the last chunk (if any) and the check.
fn finish(ctx: &Ctx, name: &Name, id: &str, s: Option<uploads::Session>) -> Answer {
    let Some(digest) = ctx.req.query_param("digest") else {
        return Err(OciError::bad("DIGEST_INVALID", "Finish an upload with ?digest=sha256:…").into());
    };
    let hex = parse_digest(&digest)?;
    if let (Some((start, _)), Some(s)) = (content_range(ctx)?, &s)
        && start != s.size
    {
        return Err(OciError::new(416, "BLOB_UPLOAD_INVALID", "The last chunk does not follow the upload").into());
    }
    match uploads::finish(id, &hex) {
        Ok(_) => {}
        Err(f) if f.status == 400 => {
            // The host dropped the session: nothing is stored.
            state::drop_upload_owner(id)?;
            return Err(OciError::bad("DIGEST_INVALID", f.message).into());
        }
        Err(f) if f.status == 404 => return Err(unknown_upload(name, id).into()),
        Err(f) => return Err(f.into()),
    }
    state::drop_upload_owner(id)?;
    stage(name, &hex)?;
    Ok(created(ctx, name, &hex))
}
