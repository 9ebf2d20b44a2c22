//! A remote Docker repository: a pull-through cache of another registry. Its `url`
//! is the registry's root (`http://host:5000`); an upstream that asks for a token
//! (401 with a `Bearer` challenge) gets the host's token flow, with the
//! repository's `username`/`password` or anonymously.
//!
//! Manifests by tag are metadata: kept for the retrieval cache period, then asked
//! again, and served stale while the upstream is down. Manifests by digest and
//! blobs never change: fetched once, then always served from the cache. A manifest
//! fetched by tag is recorded under its digest too, so a pull by digest works from
//! the cache alone. Pushes and deletes are refused: push to a local repository
//! (or to a virtual one with a `defaultDeploymentRepo`).
//!
//! Docker Hub keeps its official images under `library/` (`busybox` is
//! `library/busybox` there), which the Docker client adds itself only when it talks
//! to Docker Hub directly. As Artifactory does, a remote of Docker Hub adds it to a
//! name of one component; `dockerLibraryPrefix` (true or false) says so for any
//! other upstream that follows the rule (a mirror of Docker Hub).

use binyard_plugin_sdk::package_type::upstream::{self, FetchKind, Fetched};
use binyard_plugin_sdk::package_type::{Failure, Response, blobs, read_file, repository};
use serde_json::Value;

use crate::error::OciError;
use crate::manifests::{DOCKER_LIST, DOCKER_MANIFEST, MAX_MANIFEST, OCI_INDEX, OCI_MANIFEST, accepts};
use crate::names::{Name, check_tag, is_digest, parse_digest};
use crate::{Answer, Ctx, state};

/// What a remote repository asks the upstream for manifests: every type served here.
fn accept() -> Vec<(String, String)> {
    vec![(
        "accept".to_string(),
        [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(", "),
    )]
}

fn read_only(ctx: &Ctx) -> Result<(), OciError> {
    match ctx.req.method.as_str() {
        "GET" | "HEAD" => Ok(()),
        m => Err(OciError::unsupported(format!(
            "'{}' is a remote Docker repository, a cache of {}: it does not answer {m}; push to a local repository",
            repository::info().key,
            upstream_url()
        ))),
    }
}

fn config() -> Value {
    serde_json::from_str::<Value>(&repository::info().config_json).unwrap_or(Value::Null)
}

fn upstream_url() -> String {
    config()["url"].as_str().map(str::to_string).unwrap_or_default()
}

/// Docker Hub's registry hosts (`docker.io` is what users write; the API is
/// `registry-1.docker.io`).
const DOCKER_HUB: &[&str] = &[
    "docker.io",
    "registry-1.docker.io",
    "index.docker.io",
    "registry.hub.docker.com",
];

/// Whether a repository of configuration `c` proxies an upstream where a name of
/// one component is an official image under `library/`.
fn library_prefix(c: &Value) -> bool {
    if let Some(b) = c["dockerLibraryPrefix"].as_bool() {
        return b;
    }
    let url = c["url"].as_str().unwrap_or_default();
    let host = url.split_once("://").map_or(url, |(_, rest)| rest);
    let host = host.split(['/', '?']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.split(':').next().unwrap_or_default().to_ascii_lowercase();
    DOCKER_HUB.contains(&host.as_str())
}

/// The name as the upstream knows it: `library/{name}` for a name of one component
/// where the upstream follows Docker Hub's rule.
fn upstream_name(name: &Name) -> String {
    if !name.0.contains('/') && library_prefix(&config()) {
        format!("library/{}", name.0)
    } else {
        name.0.clone()
    }
}

/// The upstream's failure as the registry error a client understands.
fn upstream_error(f: Failure, code: &'static str, what: String) -> crate::Error {
    match f.status {
        404 => OciError::not_found(code, format!("{what}: {}", f.message)).into(),
        s => OciError::new(s, "UNAVAILABLE", format!("{what}: {}", f.message)).into(),
    }
}

fn cached_path(f: &Fetched, what: &str) -> Result<String, Failure> {
    f.cached_path
        .clone()
        .ok_or_else(|| Failure::new(502, format!("The upstream's {what} was not cached")))
}

/// `GET|HEAD /v2/{name}/manifests/{reference}` of a remote repository.
pub fn manifest(ctx: &Ctx, name: &Name, reference: &str) -> Answer {
    read_only(ctx)?;
    let by_digest = is_digest(reference);
    let want = if by_digest {
        Some(parse_digest(reference)?)
    } else {
        check_tag(reference)?;
        None
    };
    let path = format!("v2/{}/manifests/{reference}", upstream_name(name));
    let kind = if by_digest {
        FetchKind::Immutable
    } else {
        FetchKind::Expirable
    };
    let what = format!("Manifest '{reference}' of '{}' upstream", name.0);
    let fetched = upstream::fetch_with(&path, "", kind, &accept())
        .map_err(|f| upstream_error(f, "MANIFEST_UNKNOWN", what.clone()))?;
    let cached = cached_path(&fetched, "manifest")?;
    let blob = fetched
        .blob
        .ok_or_else(|| Failure::new(502, format!("{what}: no body was cached")))?;
    if blob.size > MAX_MANIFEST {
        return Err(OciError::new(
            502,
            "MANIFEST_INVALID",
            format!("{what} has {} bytes: too large", blob.size),
        )
        .into());
    }
    let hex = blob.sha256.clone();
    if let Some(w) = &want
        && *w != hex
    {
        // Not what was asked for: never kept.
        repository::delete(&cached)?;
        return Err(OciError::new(
            502,
            "DIGEST_INVALID",
            format!("{what} has the digest sha256:{hex}: the upstream answered another manifest"),
        )
        .into());
    }
    let bytes = read_file(&cached, blob.size)?;
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| OciError::new(502, "MANIFEST_INVALID", format!("{what} is not JSON: {e}")))?;
    let media = doc
        .get("mediaType")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            if doc.get("manifests").is_some() {
                OCI_INDEX
            } else {
                OCI_MANIFEST
            }
            .to_string()
        });
    if !by_digest {
        // The same manifest by digest, for pulls by digest from the cache alone.
        let at = format!("v2/{}/manifests/sha256:{hex}", upstream_name(name));
        if repository::stat(&at)?.is_none() {
            blobs::commit(&at, &hex, &[("sha256".to_string(), vec![hex.clone()])])?;
        }
    }
    if !state::known_name(name)? {
        state::add_name(name)?;
    }
    if !accepts(ctx.req.header("accept"), &media) {
        return Err(OciError::not_found(
            "MANIFEST_UNKNOWN",
            format!("Manifest '{reference}' is a {media}, which the client does not accept"),
        )
        .into());
    }
    Ok(Response::artifact(cached)
        .with_header("content-type", media)
        .with_header("docker-content-digest", format!("sha256:{hex}"))
        .with_header("etag", format!("\"sha256:{hex}\"")))
}

/// `GET|HEAD /v2/{name}/blobs/{digest}` of a remote repository.
pub fn blob(ctx: &Ctx, name: &Name, digest: &str) -> Answer {
    read_only(ctx)?;
    let hex = parse_digest(digest)?;
    let what = format!("Blob {digest} of '{}' upstream", name.0);
    let path = format!("v2/{}/blobs/sha256:{hex}", upstream_name(name));
    let fetched = upstream::fetch_with(&path, "", FetchKind::Immutable, &[])
        .map_err(|f| upstream_error(f, "BLOB_UNKNOWN", what.clone()))?;
    let cached = cached_path(&fetched, "blob")?;
    let blob = fetched
        .blob
        .ok_or_else(|| Failure::new(502, format!("{what}: no body was cached")))?;
    if blob.sha256 != hex {
        repository::delete(&cached)?;
        return Err(OciError::new(
            502,
            "DIGEST_INVALID",
            format!(
                "{what}: the upstream sent content with the digest sha256:{}",
                blob.sha256
            ),
        )
        .into());
    }
    Ok(Response::artifact(cached)
        .with_header("content-type", "application/octet-stream")
        .with_header("docker-content-digest", format!("sha256:{hex}"))
        .with_header("etag", format!("\"sha256:{hex}\""))
        .with_header("content-length", blob.size.to_string()))
}

/// `GET /v2/{name}/tags/list` of a remote repository: the upstream's list (metadata),
/// paginated here.
pub fn tags_list(ctx: &Ctx, name: &Name) -> Answer {
    read_only(ctx)?;
    let what = format!("The tags of '{}' upstream", name.0);
    let fetched = upstream::fetch_with(
        &format!("v2/{}/tags/list", upstream_name(name)),
        "",
        FetchKind::Expirable,
        &[],
    )
    .map_err(|f| upstream_error(f, "NAME_UNKNOWN", what.clone()))?;
    let cached = cached_path(&fetched, "tag list")?;
    let size = fetched.blob.map_or(0, |b| b.size);
    if size > MAX_MANIFEST {
        return Err(OciError::new(502, "UNKNOWN", format!("{what}: {size} bytes, too large")).into());
    }
    let doc: Value = serde_json::from_slice(&read_file(&cached, size)?)
        .map_err(|e| OciError::new(502, "UNKNOWN", format!("{what} are not JSON: {e}")))?;
    let mut tags: Vec<String> = doc["tags"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    tags.sort();
    state::tags_page(ctx, name, tags)
}

/// Anything else a client may send to a remote repository.
pub fn refuse(ctx: &Ctx) -> Answer {
    read_only(ctx)?;
    Err(OciError::unsupported(format!(
        "'{}' is a remote Docker repository: it serves manifests, blobs and tag lists",
        repository::info().key
    ))
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn docker_hub_urls_add_the_library_prefix() {
        for url in [
            "https://registry-1.docker.io/",
            "https://registry-1.docker.io",
            "https://index.docker.io/v1/",
            "http://user:pw@docker.io:443/",
            "https://REGISTRY.HUB.DOCKER.COM",
        ] {
            assert!(library_prefix(&json!({ "url": url })), "{url}");
        }
        for url in [
            "http://127.0.0.1:5000",
            "https://ghcr.io/",
            "https://docker.io.example.com/",
        ] {
            assert!(!library_prefix(&json!({ "url": url })), "{url}");
        }
        assert!(library_prefix(
            &json!({"url": "http://127.0.0.1:5000", "dockerLibraryPrefix": true})
        ));
        assert!(!library_prefix(
            &json!({"url": "https://registry-1.docker.io", "dockerLibraryPrefix": false})
        ));
    }
}
