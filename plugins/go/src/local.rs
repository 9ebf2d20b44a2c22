//! A local Go repository: the proxy protocol answered from what is stored, and
//! publishing by `PUT` of a version's `.zip`, `.mod` and `.info` (in any order).
//!
//! Files are stored in the layout of a GOPROXY folder,
//! `{escaped module}/@v/{escaped version}.{zip|mod|info}`, with the properties
//! `go.module` and `go.version`. A version is listed once its `.mod` and `.zip` are
//! both stored; its `.info` is generated from the zip's date when none was published.

use binyard_plugin_sdk::package_type::{Artifact, BlobInfo, Failure, Request, Response, read_file, repository};
use serde_json::{Value, json};

use crate::gomod::{self, MAX_GO_MOD};
use crate::names::{Endpoint, Ext, Target, Version};
use crate::zip::{self, MAX_ZIP, Source};

pub const PROP_MODULE: &str = "go.module";
pub const PROP_VERSION: &str = "go.version";
/// The largest `.info` accepted.
const MAX_INFO: u64 = 64 << 10;

/// GET/HEAD, PUT and DELETE of one module's endpoints.
pub fn handle(req: &Request, t: &Target, matrix: &str) -> Result<Response, Failure> {
    let read = matches!(req.method.as_str(), "GET" | "HEAD");
    match (&t.endpoint, req.method.as_str()) {
        (Endpoint::List, _) if read => list(t),
        (Endpoint::Latest, _) if read => latest(t),
        (Endpoint::File(v, ext), _) if read => file(t, v, *ext),
        (Endpoint::File(v, ext), "PUT") => publish(req, t, v, *ext, matrix),
        (Endpoint::File(v, ext), "DELETE") => delete(req, t, v, *ext),
        _ => Err(Failure::new(
            405,
            format!("The Go module proxy does not answer {} /{}", req.method, req.path),
        )),
    }
}

/// One stored version and which of its files are there.
pub struct Stored {
    pub version: Version,
    pub info: Option<Artifact>,
    pub go_mod: Option<Artifact>,
    pub zip: Option<Artifact>,
}

impl Stored {
    /// Served by the proxy: its `.mod` and `.zip` are both stored.
    pub fn complete(&self) -> bool {
        self.go_mod.is_some() && self.zip.is_some()
    }
}

/// Every version stored for the module (complete or not), in version order.
pub fn versions(t: &Target) -> Vec<Stored> {
    let mut files: Vec<Artifact> = Vec::new();
    let folder = t.versions_folder();
    loop {
        let after = files
            .last()
            .map(|a| a.path.rsplit('/').next().unwrap_or(&a.path).to_string());
        let page = repository::list_children(&folder, after.as_deref(), 1000).unwrap_or_default();
        let full = page.len() == 1000;
        files.extend(page);
        if !full {
            break;
        }
    }
    let mut out: Vec<Stored> = Vec::new();
    for a in files.into_iter().filter(|a| !a.folder) {
        let name = a.path.rsplit('/').next().unwrap_or_default();
        let Some((v, ext)) = name.rsplit_once('.') else {
            continue;
        };
        let Some(version) = crate::names::unescape(v).and_then(|v| Version::parse(&v)) else {
            continue;
        };
        let i = match out.iter().position(|s| s.version.text == version.text) {
            Some(i) => i,
            None => {
                out.push(Stored {
                    version,
                    info: None,
                    go_mod: None,
                    zip: None,
                });
                out.len() - 1
            }
        };
        match ext {
            "info" => out[i].info = Some(a),
            "mod" => out[i].go_mod = Some(a),
            "zip" => out[i].zip = Some(a),
            _ => {}
        }
    }
    out.sort_by(|a, b| a.version.cmp(&b.version));
    out
}

/// A 404 about the module: "{module} {what} in repository '{key}'".
fn not_found(t: &Target, what: &str) -> Failure {
    Failure::not_found(format!(
        "{} {what} in repository '{}'",
        t.module,
        repository::info().key
    ))
}

/// `@v/list`: the complete versions, pseudo-versions left out, one per line (an
/// empty list when there are only pseudo-versions, so the go command asks `@latest`).
fn list(t: &Target) -> Result<Response, Failure> {
    let all = versions(t);
    if !all.iter().any(Stored::complete) {
        return Err(not_found(t, "has no versions"));
    }
    let body: String = all
        .iter()
        .filter(|s| s.complete() && !s.version.is_pseudo())
        .map(|s| format!("{}\n", s.version.text))
        .collect();
    Ok(list_response(body))
}

/// A `@v/list` answer.
pub fn list_response(body: String) -> Response {
    Response::bytes(200, "text/plain; charset=utf-8", body.into_bytes())
        .cacheable()
        .metadata()
}

/// `@latest`: the `.info` of the highest complete version that is not retracted
/// (releases above pre-releases above pseudo-versions).
fn latest(t: &Target) -> Result<Response, Failure> {
    let all: Vec<Stored> = versions(t).into_iter().filter(Stored::complete).collect();
    let newest = all
        .iter()
        .max_by(|a, b| a.version.latest_order(&b.version))
        .ok_or_else(|| not_found(t, "has no versions"))?;
    // Retractions come from the go.mod of the latest version, retracted or not.
    let retracted = match &newest.go_mod {
        Some(m) => {
            let text = read_file(&m.path, m.blob.as_ref().map_or(0, |b| b.size).min(MAX_GO_MOD))?;
            gomod::retractions(&String::from_utf8_lossy(&text))
        }
        None => Vec::new(),
    };
    let pick = all
        .iter()
        .filter(|s| !retracted.iter().any(|r| r.covers(&s.version)))
        .max_by(|a, b| a.version.latest_order(&b.version))
        .ok_or_else(|| not_found(t, "has only retracted versions"))?;
    Ok(Response::bytes(200, "application/json", info_doc(pick)?)
        .cacheable()
        .metadata())
}

/// The `.info` document of a version: the published one, or one made from the
/// zip's date.
fn info_doc(s: &Stored) -> Result<Vec<u8>, Failure> {
    if let Some(i) = &s.info {
        return read_file(&i.path, i.blob.as_ref().map_or(0, |b| b.size).min(MAX_INFO));
    }
    let when = s.zip.as_ref().map_or(0, |z| z.created_ms);
    let doc = json!({"Version": s.version.text, "Time": rfc3339(when)});
    Ok(doc.to_string().into_bytes())
}

/// RFC 3339 in seconds, as the go command writes times.
fn rfc3339(ms: i64) -> String {
    let iso = binyard_plugin_sdk::time::iso8601(ms);
    format!("{}Z", &iso[..19])
}

pub fn content_type(ext: Ext) -> &'static str {
    match ext {
        Ext::Info => "application/json",
        Ext::Mod => "text/plain; charset=utf-8",
        Ext::Zip => "application/zip",
    }
}

/// `.info`, `.mod` or `.zip` of a complete version, streamed by the host.
fn file(t: &Target, v: &str, ext: Ext) -> Result<Response, Failure> {
    let version = Version::parse(v).ok_or_else(|| {
        not_found(
            t,
            &format!("has no version '{v}' (not a canonical version such as v1.2.3)"),
        )
    })?;
    let s = versions(t)
        .into_iter()
        .find(|s| s.version.text == version.text && s.complete())
        .ok_or_else(|| not_found(t, &format!("has no version {v}")))?;
    let stored = match ext {
        Ext::Info => s.info.as_ref(),
        Ext::Mod => s.go_mod.as_ref(),
        Ext::Zip => s.zip.as_ref(),
    };
    Ok(match stored {
        Some(a) => Response::artifact(a.path.clone()).with_header("content-type", content_type(ext)),
        None => Response::bytes(200, "application/json", info_doc(&s)?).cacheable(),
    })
}

/// Reads ranges of the current request's upload.
struct Upload(u64);

impl Source for Upload {
    fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>, String> {
        repository::read_upload(offset, len).map_err(|f| f.message)
    }
    fn size(&self) -> u64 {
        self.0
    }
}

/// Reads ranges of a stored file.
struct StoredFile(String, u64);

impl Source for StoredFile {
    fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>, String> {
        repository::read(&self.0, offset, len).map_err(|f| f.message)
    }
    fn size(&self) -> u64 {
        self.1
    }
}

/// `PUT {module}/@v/{version}.{zip|mod|info}`: checks the file against the module
/// rules and the version's other files, then stores it. A file that is already
/// there is replaced only by a caller who may delete (else 409).
fn publish(req: &Request, t: &Target, v: &str, ext: Ext, matrix: &str) -> Result<Response, Failure> {
    let bad = |why: String| Failure::bad_request(format!("{} {v}: the .{} is refused: {why}", t.module, ext.as_str()));
    let version = Version::parse(v).ok_or_else(|| {
        bad(format!(
            "'{v}' is not a canonical module version (vMAJOR.MINOR.PATCH[-pre][+incompatible])"
        ))
    })?;
    if !version.matches_path(&t.module) {
        return Err(bad(format!(
            "version {v} does not match the module path's major version (a module path ending in /vN has versions vN.x.y; without one, v0, v1 or +incompatible)"
        )));
    }
    let info = req
        .upload
        .as_ref()
        .ok_or_else(|| bad("the request has no body".into()))?;
    check_digests(req, info).map_err(bad)?;
    let path = t.file_path(v, ext);
    if repository::stat(&path)?.is_some() && !req.caller.can_delete {
        return Err(Failure::conflict(format!(
            "{} {v} already has a .{} in repository '{}': published versions are immutable (overwriting needs the delete permission)",
            t.module,
            ext.as_str(),
            repository::info().key
        )));
    }
    let others = versions(t).into_iter().find(|s| s.version.text == version.text);
    match ext {
        Ext::Zip => {
            if info.size > MAX_ZIP {
                return Err(Failure::new(
                    413,
                    format!(
                        "{} {v}: the zip has {} bytes; a module zip has at most {MAX_ZIP}",
                        t.module, info.size
                    ),
                ));
            }
            let zip_mod = zip::check(&Upload(info.size), &t.module, v)
                .map_err(|e| bad(format!("the zip is not a valid module zip: {e}")))?;
            if let Some(m) = others.as_ref().and_then(|s| s.go_mod.as_ref()) {
                let stored = read_file(&m.path, m.blob.as_ref().map_or(0, |b| b.size).min(MAX_GO_MOD))?;
                same_go_mod(zip_mod.as_deref(), &stored, &t.module).map_err(bad)?;
            }
        }
        Ext::Mod => {
            let text = req.read_upload(MAX_GO_MOD)?;
            check_mod(&text, &t.module).map_err(bad)?;
            if let Some(z) = others.as_ref().and_then(|s| s.zip.as_ref()) {
                let size = z.blob.as_ref().map_or(0, |b| b.size);
                let zip_mod = zip::check(&StoredFile(z.path.clone(), size), &t.module, v)
                    .map_err(|e| bad(format!("the stored zip cannot be read: {e}")))?;
                same_go_mod(zip_mod.as_deref(), &text, &t.module).map_err(bad)?;
            }
        }
        Ext::Info => {
            let text = req.read_upload(MAX_INFO)?;
            let doc: Value = serde_json::from_slice(&text).map_err(|e| bad(format!("it is not JSON: {e}")))?;
            match doc.get("Version").and_then(Value::as_str) {
                Some(iv) if iv == v => {}
                other => {
                    return Err(bad(format!(
                        "its Version is {}, not {v}",
                        other.map_or("missing".to_string(), |s| format!("'{s}'"))
                    )));
                }
            }
        }
    }
    let mut props = vec![
        (PROP_MODULE.to_string(), vec![t.module.clone()]),
        (PROP_VERSION.to_string(), vec![v.to_string()]),
    ];
    props.extend(matrix_properties(matrix));
    let stored = repository::commit_upload(&path, 0, None, &props)?;
    let body = json!({
        "repo": repository::info().key,
        "path": format!("/{}", stored.path),
        "module": t.module,
        "version": v,
        "size": stored.blob.as_ref().map_or(0, |b| b.size),
        "checksums": stored.blob.as_ref().map(|b| json!({"sha256": b.sha256, "sha1": b.sha1, "md5": b.md5})),
    });
    let mut resp = Response::json(201, body.to_string());
    if let Some(b) = &stored.blob {
        // JFrog CLI reads the stored file's sha256 from this header.
        resp = resp
            .with_header("x-checksum-sha256", b.sha256.clone())
            .with_header("x-checksum-sha1", b.sha1.clone())
            .with_header("x-checksum-md5", b.md5.clone());
    }
    Ok(resp)
}

/// The `;key=value` matrix parameters as properties (`go.module` and `go.version`
/// are the plugin's own, taken from the path).
fn matrix_properties(matrix: &str) -> Vec<(String, Vec<String>)> {
    matrix
        .split(';')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let k = k.trim();
            (!k.is_empty() && k != PROP_MODULE && k != PROP_VERSION).then(|| (k.to_string(), vec![v.to_string()]))
        })
        .collect()
}

/// The checksums a client sends with a deploy (`X-Checksum-Sha256`, `-Sha1`,
/// `X-Checksum` for md5) must be those of the bytes received.
fn check_digests(req: &Request, got: &BlobInfo) -> Result<(), String> {
    for (header, have) in [
        ("x-checksum-sha256", &got.sha256),
        ("x-checksum-sha1", &got.sha1),
        ("x-checksum-md5", &got.md5),
        ("x-checksum", &got.md5),
    ] {
        if let Some(sent) = req.header(header)
            && !sent.trim().eq_ignore_ascii_case(have)
        {
            return Err(format!(
                "the {header} header ({sent}) does not match the received content ({have})"
            ));
        }
    }
    Ok(())
}

/// A `.mod` must be UTF-8 text whose `module` directive names the module.
fn check_mod(text: &[u8], module: &str) -> Result<(), String> {
    let text = std::str::from_utf8(text).map_err(|_| "the go.mod is not UTF-8 text".to_string())?;
    match gomod::module_path(text) {
        Some(m) if m == module => Ok(()),
        Some(m) => Err(format!("the go.mod declares module '{m}', not '{module}'")),
        None => Err("the go.mod has no module directive".into()),
    }
}

/// The `.mod` must be the zip's own go.mod (for a zip without one, the go command
/// uses `module {path}`, which the `.mod` must then be).
fn same_go_mod(zip_mod: Option<&[u8]>, published: &[u8], module: &str) -> Result<(), String> {
    match zip_mod {
        Some(z) if z == published => Ok(()),
        Some(_) => Err("the .mod differs from the go.mod inside the zip".into()),
        None if gomod::module_path(&String::from_utf8_lossy(published)).as_deref() == Some(module) => Ok(()),
        None => Err("the zip has no go.mod, so the .mod must only declare the module".into()),
    }
}

/// `DELETE {module}/@v/{version}.{zip|mod}` removes the version (all its files);
/// `.info` removes only the published `.info`.
fn delete(req: &Request, t: &Target, v: &str, ext: Ext) -> Result<Response, Failure> {
    if !req.caller.can_delete {
        return Err(Failure::new(
            403,
            "Deleting a module version needs the delete permission",
        ));
    }
    let s = versions(t)
        .into_iter()
        .find(|s| s.version.text == v)
        .ok_or_else(|| not_found(t, &format!("has no version {v}")))?;
    let targets: Vec<Ext> = match ext {
        Ext::Info => vec![Ext::Info],
        _ => Ext::ALL.to_vec(),
    };
    let mut deleted = false;
    for e in targets {
        let a = match e {
            Ext::Info => &s.info,
            Ext::Mod => &s.go_mod,
            Ext::Zip => &s.zip,
        };
        if let Some(a) = a {
            repository::delete(&a.path)?;
            deleted = true;
        }
    }
    if !deleted {
        return Err(not_found(t, &format!("has no {v}.{}", ext.as_str())));
    }
    Ok(Response::empty(204))
}
