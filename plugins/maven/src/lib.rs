//! The Maven 2 repository layout for binyard repositories of package type `maven`,
//! served at `/artifactory/{repo}/…` (and `/artifactory/api/maven/{repo}/…`).
//!
//! Files are stored as deployed; `maven-metadata.xml` (artifact and SNAPSHOT level) is
//! generated from what is stored; checksum files are answered from the stored digests
//! and client-sent ones are checked, never stored.

mod checksums;
mod layout;
mod merge;
mod metadata;
mod remote;
mod search;
mod settings;
mod time;
mod xml;

use std::time::{Duration, Instant};

use binyard_plugin_sdk::package_type::{
    Artifact, Description, Failure, Guest, MemberAnswer, PackageCoordinates, Request, Response, log, repository,
};
use serde::{Deserialize, Serialize};

use layout::{Algo, METADATA, checksum_of, file_name, parent};
use settings::Settings;

/// Time a request may spend on slow work (SHA-512 of big files, broad searches),
/// well inside the host's per-call deadline.
const BUDGET: Duration = Duration::from_millis(3000);
/// Largest POM or client metadata document read.
const MAX_DOCUMENT: u64 = 8 << 20;
/// Largest checksum file read.
const MAX_CHECKSUM_FILE: u64 = 4096;

/// Digests of the empty file, for zero-byte deploys.
const EMPTY_SHA1: &str = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
const EMPTY_MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct Maven;

impl Guest for Maven {
    fn describe() -> Description {
        Description::new("maven", env!("CARGO_PKG_VERSION"), "maven", "Maven 2 repository layout")
            .with_plain_paths()
            .with_coordinates(
                PackageCoordinates::new("maven.artifactId", "maven.version")
                    .with_group("maven.groupId")
                    .with_classifier("maven.classifier"),
            )
            .with_content_types(&[("pom", "application/x-maven-pom+xml")])
            .with_metadata_files(&["maven-metadata.xml*"])
    }

    /// Virtual repositories: the members' `maven-metadata.xml`, versions unioned.
    fn merge(_req: Request, answers: Vec<MemberAnswer>) -> Result<Response, Failure> {
        merge::merge(&answers)
    }

    fn handle(req: Request) -> Result<Response, Failure> {
        let deadline = Instant::now() + BUDGET;
        let cp = layout::clean(&req.path)?;
        if repository::info().rclass == repository::RepoClass::Remote {
            return remote::handle(&req, &cp);
        }
        if cp.path == "-/search/gavc" {
            return match req.method.as_str() {
                "GET" | "HEAD" => search::gavc(&req, deadline),
                m => Err(Failure::new(
                    405,
                    format!("Method {m} is not allowed on the GAVC search: use GET"),
                )),
            };
        }
        match req.method.as_str() {
            "GET" | "HEAD" => get(&cp, deadline),
            "PUT" => put(&req, &cp, deadline),
            "DELETE" => delete(&cp),
            m => Err(Failure::new(
                405,
                format!("Method {m} is not allowed on a Maven repository path: use GET, HEAD, PUT or DELETE"),
            )),
        }
    }
}

binyard_plugin_sdk::package_type::export_package_type!(Maven);

fn not_found(path: &str) -> Failure {
    Failure::not_found(format!("Could not find resource '{path}'"))
}

fn checksum_response(hex: String) -> Response {
    Response::bytes(200, "text/plain", hex.into_bytes())
}

// ---- GET / HEAD ----

fn get(cp: &layout::CleanPath, deadline: Instant) -> Result<Response, Failure> {
    let path = cp.path.as_str();
    if path.is_empty() {
        return Ok(root_listing());
    }
    // Metadata and its checksums are always the generated ones.
    if file_name(path) == METADATA {
        return match metadata::current(parent(path), false, None)? {
            Some(p) => Ok(Response::artifact(p).cacheable().metadata()),
            None => Err(not_found(path)),
        };
    }
    let checksum = checksum_of(path);
    if let Some((base, algo)) = checksum
        && file_name(base) == METADATA
    {
        let stored = metadata::current(parent(base), false, None)?;
        // Through a virtual repository: the checksum of the merged document.
        return stored_checksum(stored.as_deref(), algo, deadline)?
            .map(|r| r.cacheable().checksum_of(base, algo.ext()))
            .ok_or_else(|| not_found(path));
    }
    if repository::stat(path)?.is_some() {
        // A file is streamed by the host; a folder gets the host's listing.
        return Ok(Response::artifact(path));
    }
    if let Some((base, algo)) = checksum
        && let Some(r) = stored_checksum(Some(base), algo, deadline)?
    {
        return Ok(r);
    }
    Err(not_found(path))
}

/// The checksum file of a stored file, if that file exists.
fn stored_checksum(path: Option<&str>, algo: Algo, deadline: Instant) -> Result<Option<Response>, Failure> {
    let Some(path) = path else { return Ok(None) };
    let Some(blob) = repository::stat(path)?.and_then(|a| a.blob) else {
        return Ok(None);
    };
    match checksums::digest(path, &blob, algo, deadline) {
        Ok(hex) => Ok(Some(checksum_response(hex))),
        // Still being computed: the client may come back for it.
        Err(f) if f.status == 503 => {
            let body = serde_json::json!({"errors": [{"status": 503, "message": f.message}]});
            Ok(Some(
                Response::json(503, body.to_string()).with_header("retry-after", "2"),
            ))
        }
        Err(f) => Err(f),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The repository's top folder as an HTML index (the host lists deeper folders).
fn root_listing() -> Response {
    let key = repository::info().key;
    let mut out = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {k}</title></head>\n<body><h1>Index of {k}</h1><hr/><pre>",
        k = html_escape(&key)
    );
    for c in metadata::list_all("") {
        let name = file_name(&c.path);
        let shown = if c.folder { format!("{name}/") } else { name.to_string() };
        out.push_str(&format!(
            "<a href=\"{s}\">{s}</a>    {}\n",
            time::iso8601(c.modified_ms),
            s = html_escape(&shown)
        ));
    }
    out.push_str("</pre><hr/></body></html>\n");
    Response::bytes(200, "text/html; charset=utf-8", out.into_bytes())
}

// ---- PUT ----

fn put(req: &Request, cp: &layout::CleanPath, deadline: Instant) -> Result<Response, Failure> {
    let path = cp.path.as_str();
    if cp.folder {
        return Err(Failure::bad_request(format!(
            "Deploy to a file path: '{path}/' names a folder"
        )));
    }
    if req
        .header("x-checksum-deploy")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    {
        // Artifactory answers 404 when it has no such content; clients then send the bytes.
        return Err(Failure::not_found(format!(
            "Deploy by checksum is not available in Maven repositories: send the bytes of '{path}'"
        )));
    }
    if let Some((base, algo)) = checksum_of(path) {
        return put_checksum(req, path, base, algo, deadline);
    }
    if file_name(path) == METADATA {
        return put_metadata(req, path);
    }
    put_artifact(req, path, &cp.matrix)
}

fn read_body(req: &Request, max: u64, what: &str) -> Result<Vec<u8>, Failure> {
    match &req.upload {
        None => Ok(Vec::new()),
        Some(u) if u.size > max => Err(Failure::new(
            413,
            format!("{what} has {} bytes; at most {max} are accepted", u.size),
        )),
        Some(_) => req.read_upload(max),
    }
}

/// What the JSON answer of a deploy says about the stored file.
fn deploy_answer(req: &Request, path: &str, a: &Artifact) -> Response {
    let key = repository::info().key;
    let root = req
        .base_url
        .find("/artifactory/")
        .map_or(req.base_url.as_str(), |i| &req.base_url[..i + "/artifactory/".len()]);
    let (sha1, md5, sha256, size) = a.blob.as_ref().map_or(("", "", "", 0), |b| {
        (b.sha1.as_str(), b.md5.as_str(), b.sha256.as_str(), b.size)
    });
    let sums = serde_json::json!({ "sha1": sha1, "md5": md5, "sha256": sha256 });
    let body = serde_json::json!({
        "repo": key,
        "path": format!("/{path}"),
        "created": time::iso8601(a.created_ms),
        "createdBy": a.created_by,
        "downloadUri": format!("{}/{path}", req.base_url.trim_end_matches('/')),
        "size": size.to_string(),
        "checksums": sums,
        "originalChecksums": sums,
        "uri": format!("{root}api/storage/{key}/{path}"),
    });
    Response::json(201, body.to_string())
}

/// Refuses a body whose digests differ from the `X-Checksum-*` headers.
fn check_announced(req: &Request) -> Result<(), Failure> {
    let (sha1, md5, sha256) = req.upload.as_ref().map_or((EMPTY_SHA1, EMPTY_MD5, EMPTY_SHA256), |u| {
        (u.sha1.as_str(), u.md5.as_str(), u.sha256.as_str())
    });
    for (header, label, have) in [
        ("x-checksum-sha1", "SHA-1", sha1),
        ("x-checksum-sha256", "SHA-256", sha256),
        ("x-checksum-md5", "MD5", md5),
        ("x-checksum", "MD5", md5),
    ] {
        if let Some(want) = req.header(header)
            && !want.trim().eq_ignore_ascii_case(have)
        {
            return Err(Failure::conflict(format!(
                "Checksum mismatch: the client sent {label} {}, the received bytes have {label} {have}; nothing was stored",
                want.trim()
            )));
        }
    }
    Ok(())
}

fn put_artifact(req: &Request, path: &str, matrix: &[(String, Vec<String>)]) -> Result<Response, Failure> {
    let settings = Settings::load();
    check_announced(req)?;
    let coords = layout::parse(path);
    if let Some(co) = &coords {
        let (handled, kind, key) = if co.is_snapshot() {
            (settings.handle_snapshots, "SNAPSHOT", "handleSnapshots")
        } else {
            (settings.handle_releases, "release", "handleReleases")
        };
        if !handled {
            return Err(Failure::conflict(format!(
                "The repository '{}' does not accept {kind} versions ({key} is false): '{path}' ({}) was refused",
                repository::info().key,
                co.version
            )));
        }
    }
    if path.ends_with(".pom") && !settings.suppress_pom_checks {
        check_pom(req, path)?;
    }
    let upload_sha256 = req.upload.as_ref().map_or(EMPTY_SHA256, |u| u.sha256.as_str());
    if let Some(existing) = repository::stat(path)? {
        if existing.folder {
            return Err(Failure::conflict(format!(
                "'{path}' is a folder; a file cannot replace it"
            )));
        }
        if existing.blob.as_ref().is_some_and(|b| b.sha256 == upload_sha256) {
            // The same bytes again (a retried deploy): nothing changes.
            return Ok(deploy_answer(req, path, &existing));
        }
        let release = coords.as_ref().is_some_and(|c| !c.is_snapshot());
        if release && !settings.allow_release_redeploy {
            return Err(Failure::conflict(format!(
                "The release '{path}' already exists in '{}' and releases cannot be redeployed \
                 (set allowReleaseRedeploy on the repository to allow it); deploy a new version instead",
                repository::info().key
            )));
        }
    }
    // The standard properties of a Maven file, so searches are host index queries.
    let mut props = matrix.to_vec();
    if let Some(co) = &coords {
        let mut std_prop = |k: &str, v: &str| {
            if !props.iter().any(|(pk, _)| pk == k) {
                props.push((k.to_string(), vec![v.to_string()]));
            }
        };
        std_prop("maven.groupId", &co.group);
        std_prop("maven.artifactId", &co.artifact);
        std_prop("maven.version", &co.version);
        if let Some(c) = &co.classifier {
            std_prop("maven.classifier", c);
        }
        std_prop("maven.packaging", &co.extension);
    }
    let matrix = props.as_slice();
    let stored = match &req.upload {
        Some(_) => repository::commit_upload(path, 0, None, matrix)?,
        None => {
            if repository::stat(path)?.is_some() && !req.caller.can_delete {
                return Err(Failure::new(
                    403,
                    format!("'{path}' exists and overwriting needs the delete permission"),
                ));
            }
            repository::put(path, &[], matrix)?
        }
    };
    if let Some(co) = &coords {
        // The file is stored: what follows keeps the repository tidy and must not undo it.
        if co.build.is_some()
            && let Err(e) = metadata::prune_snapshots(co, settings.max_unique_snapshots)
        {
            log::emit(
                log::Level::Warn,
                &format!("SNAPSHOT cleanup after '{path}' failed: {}", e.message),
            );
        }
        if let Err(e) = metadata::after_deploy(co) {
            log::emit(
                log::Level::Warn,
                &format!("metadata update after '{path}' failed: {}", e.message),
            );
        }
    }
    Ok(deploy_answer(req, path, &stored))
}

/// Refuses a malformed POM, and one whose coordinates do not match its path.
fn check_pom(req: &Request, path: &str) -> Result<(), Failure> {
    let bytes = read_body(req, MAX_DOCUMENT, "The POM")?;
    let pom = xml::parse_pom(&bytes)
        .map_err(|e| Failure::bad_request(format!("Malformed POM '{path}': {e}; nothing was stored")))?;
    let (Some(group), Some(artifact), Some(version)) = (&pom.group, &pom.artifact, &pom.version) else {
        return Err(Failure::bad_request(format!(
            "The POM '{path}' names no groupId or version (neither its own nor its parent's); nothing was stored"
        )));
    };
    let segs: Vec<&str> = path.split('/').collect();
    let n = segs.len();
    let at_path = (n >= 4).then(|| (segs[..n - 3].join("."), segs[n - 3], segs[n - 2]));
    // Values still holding `${…}` are resolved by Maven at build time: not compared.
    let same = |pom: &str, at: &str| pom.contains("${") || pom == at;
    let consistent = at_path.as_ref().is_some_and(|(g, a, v)| {
        same(group, g) && same(artifact, a) && same(version, v) && layout::parse_file(g, a, v, segs[n - 1]).is_some()
    });
    if !consistent {
        return Err(Failure::conflict(format!(
            "The POM's coordinates {group}:{artifact}:{version} do not match its path '{path}' \
             (expected {}/{artifact}/{version}/{artifact}-{version}.pom); fix the POM or the path, \
             or set suppressPomConsistencyChecks on the repository. Nothing was stored",
            group.replace('.', "/")
        )));
    }
    Ok(())
}

/// The digests of the last `maven-metadata.xml` a client uploaded to a folder, to
/// check the checksum files that follow it.
#[derive(Serialize, Deserialize)]
struct ClientSums {
    sha1: String,
    md5: String,
    sha256: String,
    sha512: String,
}

fn client_sums_key(dir: &str) -> String {
    format!("mm-client:{dir}")
}

fn put_metadata(req: &Request, path: &str) -> Result<Response, Failure> {
    let dir = parent(path);
    let bytes = read_body(req, MAX_DOCUMENT, "maven-metadata.xml")?;
    let m = xml::parse_client_metadata(&bytes).map_err(|e| {
        Failure::bad_request(format!(
            "Malformed maven-metadata.xml '{path}': {e}; nothing was stored"
        ))
    })?;
    match (&m.group, &m.artifact) {
        (Some(g), Some(a)) => {
            let artifact_dir = format!("{}/{a}", g.replace('.', "/"));
            let fits = dir == artifact_dir || m.version.as_ref().is_some_and(|v| dir == format!("{artifact_dir}/{v}"));
            if !fits {
                return Err(Failure::conflict(format!(
                    "The maven-metadata.xml of {g}:{a}{} does not belong in '{dir}/' (expected '{artifact_dir}/'); nothing was stored",
                    m.version.as_deref().map(|v| format!(":{v}")).unwrap_or_default()
                )));
            }
        }
        _ if m.has_plugins => {}
        _ => {
            return Err(Failure::bad_request(format!(
                "The maven-metadata.xml '{path}' names no groupId and artifactId (nor Maven plugins); nothing was stored"
            )));
        }
    }
    let (sha1, md5, sha256) = req.upload.as_ref().map_or((EMPTY_SHA1, EMPTY_MD5, EMPTY_SHA256), |u| {
        (u.sha1.as_str(), u.md5.as_str(), u.sha256.as_str())
    });
    let sums = ClientSums {
        sha1: sha1.into(),
        md5: md5.into(),
        sha256: sha256.into(),
        sha512: checksums::hex(&<sha2::Sha512 as sha2::Digest>::digest(&bytes)),
    };
    if let Ok(v) = serde_json::to_vec(&sums) {
        repository::kv_put(&client_sums_key(dir), &v)?;
    }
    let served = if m.artifact.is_none() {
        // Group-level plugin prefixes cannot be derived from files: kept as sent.
        metadata::store_client(dir, bytes)?
    } else {
        metadata::current(dir, false, None)?
    };
    let body = serde_json::json!({
        "repo": repository::info().key,
        "path": format!("/{path}"),
        "served": served.is_some(),
        "message": "maven-metadata.xml was checked; the repository serves the one it generates",
    });
    Ok(Response::json(201, body.to_string()))
}

fn put_checksum(req: &Request, path: &str, base: &str, algo: Algo, deadline: Instant) -> Result<Response, Failure> {
    let body = read_body(req, MAX_CHECKSUM_FILE, "A checksum file")?;
    let want = checksums::parse_client_checksum(&body, algo, file_name(path))?;
    let ok = |have: &str| {
        let body = serde_json::json!({
            "repo": repository::info().key,
            "path": format!("/{path}"),
            "checksum": have,
            "message": format!("{} of '{base}' verified", algo.label()),
        });
        Ok(Response::json(201, body.to_string()))
    };
    if !Settings::load().verify_client_checksums {
        // The repository trusts only the checksums it computes: the client's are dropped.
        return ok(&want);
    }
    if file_name(base) == METADATA {
        let dir = parent(base);
        let client: Option<ClientSums> =
            repository::kv_get(&client_sums_key(dir))?.and_then(|v| serde_json::from_slice(&v).ok());
        let client_sum = client.map(|c| match algo {
            Algo::Sha1 => c.sha1,
            Algo::Md5 => c.md5,
            Algo::Sha256 => c.sha256,
            Algo::Sha512 => c.sha512,
        });
        if client_sum.as_deref() == Some(want.as_str()) {
            return ok(&want);
        }
        return Err(Failure::conflict(match client_sum {
            Some(have) => format!(
                "Checksum mismatch: '{path}' says {} {want}, but the maven-metadata.xml uploaded to '{dir}/' has {have}; nothing was stored",
                algo.label()
            ),
            None => format!("Cannot check '{path}': no maven-metadata.xml was uploaded to '{dir}/' before it"),
        }));
    }
    let Some(blob) = repository::stat(base)?.and_then(|a| a.blob) else {
        return Err(Failure::conflict(format!(
            "Cannot check '{path}': '{base}' is not stored; deploy the file before its checksum"
        )));
    };
    let have = checksums::digest(base, &blob, algo, deadline)?;
    if have != want {
        return Err(Failure::conflict(format!(
            "Checksum mismatch: '{path}' says {} {want}, but the stored '{base}' has {have}; nothing was stored \
             (redeploy '{base}' if it was corrupted on the way)",
            algo.label()
        )));
    }
    ok(&have)
}

// ---- DELETE ----

fn delete(cp: &layout::CleanPath) -> Result<Response, Failure> {
    let path = cp.path.as_str();
    if path.is_empty() {
        return Err(Failure::bad_request(
            "Delete a path inside the repository; the repository itself is deleted through /api/repositories",
        ));
    }
    if repository::stat(path)?.is_none() {
        return Err(not_found(path));
    }
    repository::delete(path)?;
    let dir = parent(path);
    if file_name(path) == METADATA {
        // Made again from the files on the next request.
        metadata::forget(dir);
        return Ok(Response::empty(204));
    }
    for d in [dir, parent(dir)] {
        if let Err(e) = metadata::refresh(d) {
            log::emit(
                log::Level::Warn,
                &format!("metadata of '{d}' after deleting '{path}': {}", e.message),
            );
        }
    }
    Ok(Response::empty(204))
}
