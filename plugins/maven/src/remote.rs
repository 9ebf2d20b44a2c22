//! A remote Maven repository: every path is proxied through the host's upstream
//! fetch. `maven-metadata.xml` and its checksums are expirable metadata (kept for
//! the retrieval cache period, then revalidated); everything else is immutable.

use binyard_plugin_sdk::package_type::upstream::{self, FetchKind};
use binyard_plugin_sdk::package_type::{Failure, Request, Response, repository};

use crate::layout::{self, METADATA, checksum_of, file_name};

/// GET and HEAD of a remote Maven repository's path.
pub fn handle(req: &Request, cp: &layout::CleanPath) -> Result<Response, Failure> {
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        return Err(Failure::new(
            405,
            format!(
                "Method {} is not allowed on a remote Maven repository, which caches its upstream: use GET or HEAD",
                req.method
            ),
        ));
    }
    let path = cp.path.as_str();
    if path.is_empty() || cp.folder {
        // Listings show the cache as it is (nothing is fetched for a folder).
        return match repository::stat(path)? {
            Some(a) if a.folder && !path.is_empty() => Ok(Response::artifact(path)),
            _ => Err(Failure::not_found(format!(
                "'{path}/' is not a cached folder: a remote Maven repository fetches files, not listings"
            ))),
        };
    }
    let fetched = upstream::fetch(path, "", kind(path))?;
    let cached = fetched
        .cached_path
        .ok_or_else(|| Failure::new(502, format!("The upstream's '{path}' was not cached")))?;
    Ok(Response::artifact(cached).with_header("content-type", content_type(path)))
}

/// Metadata and its checksum files change; released files never do.
fn kind(path: &str) -> FetchKind {
    let base = checksum_of(path).map_or(path, |(b, _)| b);
    if file_name(base) == METADATA {
        FetchKind::Expirable
    } else {
        FetchKind::Immutable
    }
}

fn content_type(path: &str) -> &'static str {
    if checksum_of(path).is_some() {
        "text/plain"
    } else if path.ends_with(".pom") || path.ends_with(".xml") {
        "application/xml"
    } else if path.ends_with(".jar") {
        "application/java-archive"
    } else {
        "application/octet-stream"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_and_its_checksums_expire_the_rest_does_not() {
        assert!(matches!(kind("org/x/a/maven-metadata.xml"), FetchKind::Expirable));
        assert!(matches!(kind("org/x/a/maven-metadata.xml.sha1"), FetchKind::Expirable));
        assert!(matches!(kind("org/x/a/1.0/a-1.0.jar"), FetchKind::Immutable));
        assert!(matches!(kind("org/x/a/1.0/a-1.0.pom.sha1"), FetchKind::Immutable));
    }
}
