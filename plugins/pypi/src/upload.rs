//! The legacy upload API twine uses (`POST` of `multipart/form-data` with
//! `:action=file_upload`), and the release actions on the same endpoint: `yank`,
//! `unyank` (PEP 592) and `remove_pkg`.

use std::cell::RefCell;

use binyard_plugin_sdk::package_type::{Failure, Request, Response, log, repository};
use blake2::Digest as _;

use crate::index::{self, METADATA_SUFFIX, REQUIRES_PYTHON, YANKED};
use crate::multipart::{self, CHUNK, Part, Source};
use crate::names::{self, Kind};
use crate::wheel;

/// The longest text field kept (long descriptions are dropped, not refused).
const MAX_FIELD: usize = 1 << 20;
/// The longest field value kept as a property: longer ones (a whole license text)
/// stay in the distribution's own metadata only.
const MAX_PROPERTY_VALUE: usize = 2048;
/// Fields that are not kept as properties: the file, the protocol, the long description.
const NOT_PROPERTIES: [&str; 6] = [
    "content",
    ":action",
    "protocol_version",
    "description",
    "gpg_signature",
    "attestations",
];

/// The request's upload, read by ranges; remembers a host failure so that it is
/// reported as such and not as a malformed body.
struct Upload {
    size: u64,
    failure: RefCell<Option<Failure>>,
}

impl Source for Upload {
    fn size(&self) -> u64 {
        self.size
    }
    fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>, String> {
        repository::read_upload(offset, len).map_err(|f| {
            let msg = f.message.clone();
            *self.failure.borrow_mut() = Some(f);
            msg
        })
    }
}

impl Upload {
    /// A parse error as a failure: the host's, or a 400 for the client's body.
    fn failure(&self, message: String) -> Failure {
        self.failure
            .borrow_mut()
            .take()
            .unwrap_or_else(|| Failure::bad_request(message))
    }
}

/// The submitted form: text fields in order, and the parts with their ranges.
struct Form {
    fields: Vec<(String, String)>,
    parts: Vec<Part>,
}

impl Form {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &str) -> Result<&str, Failure> {
        self.field(name)
            .ok_or_else(|| Failure::bad_request(format!("The upload has no '{name}' field: it is required")))
    }
}

/// `POST /artifactory/api/pypi/{repo}` (the URL given to `twine upload --repository-url`).
pub fn post(req: &Request) -> Result<Response, Failure> {
    let Some(info) = &req.upload else {
        return Err(Failure::bad_request(
            "The upload has no body: send multipart/form-data with :action=file_upload (as twine does)",
        ));
    };
    let src = Upload {
        size: info.size,
        failure: RefCell::new(None),
    };
    let content_type = req.header("content-type").unwrap_or("");
    let form = if let Some(boundary) = multipart::boundary(content_type) {
        let parts = multipart::parse(&src, &boundary, MAX_FIELD).map_err(|e| src.failure(e))?;
        let fields = parts
            .iter()
            .filter_map(|p| Some((p.name.clone(), p.value.clone()?)))
            .collect();
        Form { fields, parts }
    } else if content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        let body = req.read_upload(MAX_FIELD as u64)?;
        Form {
            fields: url_decode_form(&String::from_utf8_lossy(&body)),
            parts: Vec::new(),
        }
    } else {
        return Err(Failure::bad_request(format!(
            "The upload must be multipart/form-data (as twine sends it), not '{content_type}'"
        )));
    };
    if let Some(long) = form.parts.iter().find(|p| p.too_long() && p.name != "description") {
        return Err(Failure::new(
            413,
            format!("The form field '{}' has more than {MAX_FIELD} bytes", long.name),
        ));
    }
    let has_file = form.parts.iter().any(|p| p.name == "content");
    match form.field(":action") {
        Some("file_upload") => file_upload(req, &src, &form),
        None if has_file => file_upload(req, &src, &form),
        Some("yank") => yank(&form, true),
        Some("unyank") => yank(&form, false),
        Some("remove_pkg") => remove_release(req, &form),
        Some(other) => Err(Failure::bad_request(format!(
            "Unsupported :action '{other}' (file_upload, yank, unyank and remove_pkg are)"
        ))),
        None => Err(Failure::bad_request(
            "The form has no ':action' field (file_upload, yank, unyank or remove_pkg)",
        )),
    }
}

fn url_decode_form(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let d = |s: &str| binyard_plugin_sdk::percent_decode(&s.replace('+', " "));
            (d(k), d(v))
        })
        .collect()
}

/// The checked name, version and normalized name of a form.
fn release(form: &Form) -> Result<(String, String, String), Failure> {
    let name = form.required("name")?;
    let version = form.required("version")?;
    if !names::valid_project_name(name) {
        return Err(Failure::bad_request(format!(
            "Invalid project name '{name}': use ASCII letters, digits and . _ - (starting and ending with a letter or digit)"
        )));
    }
    if !names::valid_version(version) {
        return Err(Failure::bad_request(format!(
            "Invalid version '{version}': a PEP 440 version has letters, digits and . _ - + ! only"
        )));
    }
    Ok((name.to_string(), version.to_string(), names::normalize(name)))
}

/// Stores one distribution file and its metadata.
fn file_upload(req: &Request, src: &Upload, form: &Form) -> Result<Response, Failure> {
    let (name, version, project) = release(form)?;
    let files: Vec<&Part> = form.parts.iter().filter(|p| p.name == "content").collect();
    let content = match files.as_slice() {
        [one] => *one,
        [] => return Err(Failure::bad_request("The upload has no 'content' file part")),
        _ => return Err(Failure::bad_request("The upload has more than one 'content' file part")),
    };
    let filename = content
        .filename
        .as_deref()
        .filter(|f| !f.is_empty())
        .ok_or_else(|| Failure::bad_request("The 'content' part has no file name"))?;
    let kind =
        names::check_filename(filename, &name, &version, form.field("filetype")).map_err(Failure::bad_request)?;
    if content.len == 0 {
        return Err(Failure::bad_request(format!("The file '{filename}' is empty")));
    }
    let repo = repository::info().key;
    let path = format!("{project}/{version}/{filename}");
    if repository::stat(&path)?.is_some() {
        return Err(Failure::conflict(format!(
            "File already exists: '{filename}' was uploaded to '{repo}' before ({path}). Files cannot be overwritten: upload a new version, or delete the file first"
        )));
    }
    verify_digests(src, content, form, filename)?;

    let file = wheel::Slice {
        src,
        start: content.start,
        len: content.len,
    };
    let mut requires_python = form.field("requires_python").map(str::to_string);
    let metadata = match kind {
        Kind::Wheel => {
            let meta = wheel::metadata(&file, filename)
                .map_err(|e| src.failure(format!("'{filename}' is not a valid wheel: {e}")))?;
            check_metadata(&meta, filename, &name, &version)?;
            if requires_python.is_none() {
                requires_python = wheel::header(&meta, "Requires-Python").filter(|v| !v.is_empty());
            }
            Some(meta)
        }
        Kind::Sdist => {
            check_sdist(src, content, filename)?;
            None
        }
    };

    let mut props = properties(form);
    props.push(("pypi.normalized.name".into(), vec![project.clone()]));
    props.retain(|(k, _)| k != REQUIRES_PYTHON && k != YANKED);
    if let Some(rp) = &requires_python {
        props.push((REQUIRES_PYTHON.into(), vec![rp.clone()]));
    }
    // The metadata goes first: a reader between the two writes sees no file, not a
    // file announcing metadata that is not there yet.
    let metadata_path = format!("{path}{METADATA_SUFFIX}");
    if let Some(meta) = metadata {
        let meta_props = vec![
            ("pypi.normalized.name".to_string(), vec![project.clone()]),
            ("pypi.version".to_string(), vec![version.clone()]),
        ];
        repository::put(&metadata_path, &meta, &meta_props)?;
    }
    let stored = repository::commit_upload(&path, content.start, Some(content.len), &props).inspect_err(|_| {
        if kind == Kind::Wheel {
            let _ = repository::delete(&metadata_path);
        }
    })?;
    let who = req.caller.name.as_deref().unwrap_or("anonymous");
    log::emit(
        log::Level::Info,
        &format!("{who} uploaded {repo}/{path} ({} bytes)", content.len),
    );
    let sha256 = stored.blob.map(|b| b.sha256).unwrap_or_default();
    Ok(Response::json(
        200,
        serde_json::json!({"name": project, "version": version, "filename": filename, "path": path, "sha256": sha256})
            .to_string(),
    ))
}

/// The form's metadata fields as `pypi.*` properties (repeated fields give several values).
fn properties(form: &Form) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in &form.fields {
        let v = v.trim();
        if NOT_PROPERTIES.contains(&k.as_str())
            || v.is_empty()
            || v.len() > MAX_PROPERTY_VALUE
            || k.is_empty()
            || k.len() > 64
            || !k.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        {
            continue;
        }
        let key = format!("pypi.{k}");
        match out.iter_mut().find(|(ok, _)| *ok == key) {
            Some((_, values)) => values.push(v.to_string()),
            None => out.push((key, vec![v.to_string()])),
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks every digest the client announced against the bytes received.
fn verify_digests(src: &Upload, content: &Part, form: &Form, filename: &str) -> Result<(), Failure> {
    let sent = |field: &str, hex_len: usize| -> Result<Option<String>, Failure> {
        let Some(v) = form.field(field) else {
            return Ok(None);
        };
        if v.len() != hex_len || !v.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(Failure::bad_request(format!(
                "The {field} '{v}' is not a hex digest of {hex_len} characters"
            )));
        }
        Ok(Some(v.to_ascii_lowercase()))
    };
    let want_md5 = sent("md5_digest", 32)?;
    let want_sha256 = sent("sha256_digest", 64)?;
    let want_blake2 = sent("blake2_256_digest", 64)?;
    if want_md5.is_none() && want_sha256.is_none() && want_blake2.is_none() {
        return Ok(());
    }
    let mut md5 = want_md5.as_ref().map(|_| md5::Md5::new());
    let mut sha256 = want_sha256.as_ref().map(|_| sha2::Sha256::new());
    let mut blake2 = want_blake2
        .as_ref()
        .map(|_| blake2::Blake2b::<blake2::digest::consts::U32>::new());
    let mut done = 0u64;
    while done < content.len {
        let want = (content.len - done).min(CHUNK as u64) as u32;
        let chunk = src.read(content.start + done, want).map_err(|e| src.failure(e))?;
        if chunk.is_empty() {
            return Err(Failure::new(500, "The stored upload ended early"));
        }
        if let Some(h) = md5.as_mut() {
            h.update(&chunk);
        }
        if let Some(h) = sha256.as_mut() {
            h.update(&chunk);
        }
        if let Some(h) = blake2.as_mut() {
            h.update(&chunk);
        }
        done += chunk.len() as u64;
    }
    let checks = [
        ("md5_digest", want_md5, md5.map(|h| hex(&h.finalize()))),
        ("sha256_digest", want_sha256, sha256.map(|h| hex(&h.finalize()))),
        ("blake2_256_digest", want_blake2, blake2.map(|h| hex(&h.finalize()))),
    ];
    for (field, want, got) in checks {
        if let (Some(want), Some(got)) = (want, got)
            && want != got
        {
            return Err(Failure::bad_request(format!(
                "The {field} sent ({want}) does not match the uploaded '{filename}' ({got}): the file was damaged on the way or the digest is wrong; nothing was stored"
            )));
        }
    }
    Ok(())
}

/// The wheel's own metadata must name the project and version it is uploaded as.
fn check_metadata(meta: &[u8], filename: &str, name: &str, version: &str) -> Result<(), Failure> {
    let bad = |why: String| Failure::bad_request(format!("'{filename}' is not a valid wheel: {why}"));
    let meta_name = wheel::header(meta, "Name").ok_or_else(|| bad("its METADATA has no Name".into()))?;
    let meta_version = wheel::header(meta, "Version").ok_or_else(|| bad("its METADATA has no Version".into()))?;
    if names::normalize(&meta_name) != names::normalize(name) || !names::same_version(&meta_version, version) {
        return Err(Failure::bad_request(format!(
            "The wheel '{filename}' is {meta_name} {meta_version} by its METADATA, but was uploaded as {name} {version}"
        )));
    }
    Ok(())
}

/// A source distribution must at least be the archive its extension says.
fn check_sdist(src: &Upload, content: &Part, filename: &str) -> Result<(), Failure> {
    let head = src.read(content.start, 4).map_err(|e| src.failure(e))?;
    let ok = if filename.ends_with(".zip") {
        head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06")
    } else {
        head.starts_with(&[0x1f, 0x8b])
    };
    if !ok {
        let what = if filename.ends_with(".zip") {
            "a zip archive"
        } else {
            "a gzip-compressed tar archive"
        };
        return Err(Failure::bad_request(format!(
            "'{filename}' is not {what}: its first bytes say otherwise"
        )));
    }
    Ok(())
}

/// The distribution files of a release, or of one file of it.
fn release_files(project: &str, version: &str, filename: Option<&str>) -> Result<Vec<String>, Failure> {
    let files: Vec<String> = index::children(&format!("{project}/{version}"))
        .into_iter()
        .filter(|a| !a.folder && names::is_distribution(index::leaf(&a.path)))
        .filter(|a| filename.is_none_or(|f| index::leaf(&a.path) == f))
        .map(|a| a.path)
        .collect();
    if files.is_empty() {
        let what = filename.map_or_else(
            || format!("{project} {version}"),
            |f| format!("'{f}' of {project} {version}"),
        );
        return Err(Failure::not_found(format!("No file {what} in this repository")));
    }
    Ok(files)
}

/// `:action=yank|unyank` with `name`, `version`, optional `filename` and `reason`:
/// sets or removes the `pypi.yanked` property (its value is the reason).
fn yank(form: &Form, yanked: bool) -> Result<Response, Failure> {
    let (_, version, project) = release(form)?;
    let files = release_files(&project, &version, form.field("filename"))?;
    let value = yanked.then(|| vec![form.field("reason").unwrap_or("true").to_string()]);
    for f in &files {
        repository::set_properties(f, &[(YANKED.to_string(), value.clone())])?;
    }
    Ok(Response::json(
        200,
        serde_json::json!({"yanked": yanked, "files": files}).to_string(),
    ))
}

/// `:action=remove_pkg` with `name`, `version` (and optionally `filename`): deletes a
/// release or one file of it. Needs the delete permission.
fn remove_release(req: &Request, form: &Form) -> Result<Response, Failure> {
    let (_, version, project) = release(form)?;
    if !req.caller.can_delete {
        return Err(Failure::new(
            403,
            format!(
                "Removing {project} {version} needs the delete permission on '{}'",
                repository::info().key
            ),
        ));
    }
    let files = release_files(&project, &version, form.field("filename"))?;
    for f in &files {
        delete_file(f)?;
    }
    Ok(Response::json(200, serde_json::json!({"removed": files}).to_string()))
}

/// Deletes a distribution file, its metadata, and the folders it leaves empty.
pub fn delete_file(path: &str) -> Result<(), Failure> {
    repository::delete(path)?;
    let metadata = format!("{path}{METADATA_SUFFIX}");
    if repository::stat(&metadata)?.is_some() {
        repository::delete(&metadata)?;
    }
    let mut folder = path;
    while let Some((parent, _)) = folder.rsplit_once('/') {
        if !repository::list_children(parent, None, 1)?.is_empty() {
            break;
        }
        repository::delete(parent)?;
        folder = parent;
    }
    Ok(())
}
