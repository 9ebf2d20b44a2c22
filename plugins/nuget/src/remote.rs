//! A remote NuGet repository: a proxy of another v3 feed, whose service index is
//! `{url}/index.json` (the repository's URL is the feed's base). That index says
//! where the flat container and registrations are (they must be under the URL: a
//! remote talks only to its configured upstream). Packages (`.nupkg`, `.nuspec`) never change
//! once pushed, so they are fetched once; version lists and registrations are
//! metadata, kept for the retrieval cache period, and answered with the
//! upstream's URLs rewritten to this repository's own.

use binyard_plugin_sdk::package_type::upstream::{self, FetchKind};
use binyard_plugin_sdk::package_type::{Failure, Request, Response, read_file, repository};
use serde_json::Value;

use crate::feed;

/// The largest metadata document read from the upstream.
const MAX_METADATA: u64 = 64 << 20;

/// Where the upstream's resources are, relative to its URL (each ends in `/`).
struct Resources {
    upstream: String,
    flat: String,
    registration: String,
}

fn config_url() -> Result<String, Failure> {
    let cfg: Value = serde_json::from_str(&repository::info().config_json)
        .map_err(|e| Failure::new(500, format!("The repository's configuration is not JSON: {e}")))?;
    let url = cfg
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::new(500, "The remote repository has no url"))?;
    // Paths are fetched relative to the URL, so it cannot name the index itself.
    if url.trim_end_matches('/').ends_with("index.json") {
        return Err(Failure::new(
            500,
            format!(
                "The remote repository's url {url} names the service index: set it to the feed's base (without index.json)"
            ),
        ));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// An expirable document of the upstream, read whole.
fn document(path: &str, query: &str) -> Result<Vec<u8>, Failure> {
    let fetched = upstream::fetch(path, query, FetchKind::Expirable)?;
    let cached = fetched
        .cached_path
        .ok_or_else(|| Failure::new(502, format!("The upstream's '{path}' was not cached")))?;
    let size = fetched.blob.map_or(0, |b| b.size);
    if size > MAX_METADATA {
        return Err(Failure::new(
            502,
            format!("The upstream's '{path}' has {size} bytes: too large"),
        ));
    }
    read_file(&cached, size)
}

fn resources() -> Result<Resources, Failure> {
    let upstream = config_url()?;
    let index: Value = serde_json::from_slice(&document("index.json", "")?)
        .map_err(|e| Failure::new(502, format!("The upstream's service index is not JSON: {e}")))?;
    let find = |prefix: &str| -> Result<String, Failure> {
        let url = index
            .get("resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|r| {
                r.get("@type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.starts_with(prefix))
            })
            .find_map(|r| r.get("@id").and_then(Value::as_str))
            .ok_or_else(|| Failure::new(502, format!("The upstream's service index has no {prefix}")))?;
        let rel = url
            .strip_prefix(&upstream)
            .map(|r| r.trim_start_matches('/'))
            .ok_or_else(|| {
                Failure::new(
                    502,
                    format!("The upstream's {prefix} ({url}) is not under its URL {upstream}: it cannot be proxied"),
                )
            })?;
        Ok(format!("{}/", rel.trim_end_matches('/')))
    };
    Ok(Resources {
        flat: find("PackageBaseAddress")?,
        registration: find("RegistrationsBaseUrl")?,
        upstream,
    })
}

/// The upstream's absolute URLs of its flat container and registrations replaced
/// by this repository's.
fn rewrite(doc: &[u8], r: &Resources, base: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(doc);
    text.replace(
        &format!("{}/{}", r.upstream, r.registration),
        &format!("{base}/registration/"),
    )
    .replace(&format!("{}/{}", r.upstream, r.flat), &format!("{base}/flatcontainer/"))
    .into_bytes()
}

/// GET and HEAD of a remote NuGet repository (`path` without `v3/`).
pub fn handle(req: &Request, path: &str, segments: &[&str]) -> Result<Response, Failure> {
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        return Err(Failure::new(
            405,
            format!(
                "'{}' is a remote NuGet repository, which caches its upstream: it does not answer {} /{}",
                repository::info().key,
                req.method,
                req.path
            ),
        ));
    }
    match segments {
        ["index.json"] | [""] => Ok(feed::service_index(&req.base_url)),
        ["flatcontainer", id, "index.json"] => {
            let r = resources()?;
            let body = document(&format!("{}{}/index.json", r.flat, id.to_ascii_lowercase()), "")?;
            Ok(Response::bytes(200, "application/json", body).metadata())
        }
        ["flatcontainer", id, version, file] => {
            let r = resources()?;
            let p = format!(
                "{}{}/{}/{}",
                r.flat,
                id.to_ascii_lowercase(),
                version.to_ascii_lowercase(),
                file.to_ascii_lowercase()
            );
            let fetched = upstream::fetch(&p, "", FetchKind::Immutable)?;
            let cached = fetched
                .cached_path
                .ok_or_else(|| Failure::new(502, format!("The upstream's '{p}' was not cached")))?;
            Ok(Response::artifact(cached).with_header("content-type", "application/octet-stream"))
        }
        ["registration", rest @ ..] => {
            let r = resources()?;
            let mut rest: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            if let Some(id) = rest.first_mut() {
                *id = id.to_ascii_lowercase();
            }
            let body = document(&format!("{}{}", r.registration, rest.join("/")), "")?;
            let resp = Response::bytes(200, "application/json", rewrite(&body, &r, &req.base_url));
            Ok(
                if rest.last().is_some_and(|l| l == "index.json") || rest.get(1).is_some_and(|s| s == "page") {
                    resp.metadata()
                } else {
                    resp
                },
            )
        }
        _ => Err(Failure::not_found(format!(
            "No NuGet v3 endpoint {} /{path} in a remote repository (search is answered by local and virtual repositories)",
            req.method
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_point_here() {
        let r = Resources {
            upstream: "http://up/feed".into(),
            flat: "flat/".into(),
            registration: "reg/".into(),
        };
        let doc = br#"{"@id":"http://up/feed/reg/a/index.json","packageContent":"http://up/feed/flat/a/1.0.0/a.1.0.0.nupkg","other":"http://else/x"}"#;
        let out = String::from_utf8(rewrite(doc, &r, "http://b/api/nuget/v3/r")).unwrap();
        assert!(
            out.contains(r#""@id":"http://b/api/nuget/v3/r/registration/a/index.json""#),
            "{out}"
        );
        assert!(out.contains(r#""packageContent":"http://b/api/nuget/v3/r/flatcontainer/a/1.0.0/a.1.0.0.nupkg""#));
        assert!(out.contains("http://else/x"));
    }
}
