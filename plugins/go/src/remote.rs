//! A remote Go repository: a proxy of another GOPROXY. A version's `.info`, `.mod`
//! and `.zip` never change once published, so they are fetched once and then served
//! from the cache (even when the upstream is down); `@v/list` and `@latest` are
//! metadata, kept for the repository's retrieval cache period (and served stale
//! when the upstream fails).

use binyard_plugin_sdk::package_type::upstream::{self, FetchKind};
use binyard_plugin_sdk::package_type::{Failure, Request, Response, read_file, repository};

use crate::local::{PROP_MODULE, PROP_VERSION, list_response};
use crate::names::{Endpoint, Target, escape};

/// The largest `@v/list` or `@latest` read from the upstream.
const MAX_METADATA: u64 = 16 << 20;

/// GET and HEAD of a remote Go repository.
pub fn handle(req: &Request, t: &Target) -> Result<Response, Failure> {
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        return Err(Failure::new(
            405,
            format!(
                "'{}' is a remote Go repository, which caches its upstream: it does not answer {} /{}",
                repository::info().key,
                req.method,
                req.path
            ),
        ));
    }
    match &t.endpoint {
        Endpoint::List => {
            let body = metadata(&format!("{}/@v/list", t.escaped))?;
            Ok(list_response(String::from_utf8_lossy(&body).into_owned()))
        }
        Endpoint::Latest => {
            let body = metadata(&format!("{}/@latest", t.escaped))?;
            Ok(Response::bytes(200, "application/json", body).metadata())
        }
        Endpoint::File(v, ext) => {
            let path = format!("{}/@v/{}.{}", t.escaped, escape(v), ext.as_str());
            let fetched = upstream::fetch(&path, "", FetchKind::Immutable)?;
            let cached = fetched
                .cached_path
                .ok_or_else(|| Failure::new(502, format!("The upstream's '{path}' was not cached")))?;
            if !fetched.from_cache {
                // Searchable like published versions; a failure here costs only the properties.
                let _ = repository::set_properties(
                    &cached,
                    &[
                        (PROP_MODULE.to_string(), Some(vec![t.module.clone()])),
                        (PROP_VERSION.to_string(), Some(vec![v.clone()])),
                    ],
                );
            }
            Ok(Response::artifact(cached).with_header("content-type", crate::local::content_type(*ext)))
        }
    }
}

/// An expirable document of the upstream, read whole.
fn metadata(path: &str) -> Result<Vec<u8>, Failure> {
    let fetched = upstream::fetch(path, "", FetchKind::Expirable)?;
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
