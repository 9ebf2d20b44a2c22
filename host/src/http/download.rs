//! Serving a stored file: streaming, HEAD, Range, ETag and checksum headers; and
//! folder listings.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::State;
use crate::artifacts::paths::{self, RepoPath, url_path};
use crate::auth::{Action, Caller};
use crate::clock;
use crate::http::error::{ApiError, ApiResult};
use crate::storage::{Digests, Item, SMALL_BLOB};

/// GET or HEAD of a repository path.
pub async fn serve(
    state: &State,
    caller: &Caller,
    rp: &RepoPath,
    method: &Method,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let repo = state.repos.existing(&rp.repo)?;
    let item = match state.artifacts.item_or_root(&repo.key, &rp.path) {
        Ok(i) => i,
        Err(e) => {
            // Who may not read learns nothing, not even that the path is missing.
            state.auth.authorize(caller, Action::Read, &repo.key, &rp.path)?;
            return Err(e.into());
        }
    };
    state
        .auth
        .authorize_read_item(caller, &repo.key, &rp.path, item.folder)?;
    if rp.trailing_slash && !item.folder {
        // A trailing `/` names a folder, as a deploy to it would (409 there).
        return Err(ApiError::not_found(format!(
            "Unable to find item '{}/{}/': it is a file, not a folder",
            repo.key, rp.path
        )));
    }
    serve_item(state, caller, &repo.key, &rp.path, &item, method, headers).await
}

/// Answers GET or HEAD with a stored item (already authorized).
pub async fn serve_item(
    state: &State,
    caller: &Caller,
    repo_key: &str,
    path: &str,
    item: &Item,
    method: &Method,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    if item.folder {
        let html = listing(state, caller, repo_key, path)?;
        let mut resp = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
        if method == Method::HEAD {
            *resp.body_mut() = Body::empty();
        }
        return Ok(resp);
    }
    let (mut h, blob) = file_head(item, path)?;
    let size = blob.size;
    let etag = format!("\"{}\"", blob.sha1);

    if let Some(inm) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok())
        && inm.split(',').any(|t| {
            let t = t.trim().trim_start_matches("W/");
            t == etag || t == "*" || t.trim_matches('"') == blob.sha1
        })
    {
        return Ok((StatusCode::NOT_MODIFIED, h).into_response());
    }

    let (status, start, len) = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => (StatusCode::OK, 0, size),
        Some(r) => match parse_range(r, size) {
            RangeAnswer::Full => (StatusCode::OK, 0, size),
            RangeAnswer::Part(a, b) => {
                put(&mut h, header::CONTENT_RANGE, &format!("bytes {a}-{b}/{size}"));
                (StatusCode::PARTIAL_CONTENT, a, b - a + 1)
            }
            RangeAnswer::Unsatisfiable => {
                put(&mut h, header::CONTENT_RANGE, &format!("bytes */{size}"));
                let mut resp = ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    format!("The range '{r}' is outside the file's {size} bytes"),
                )
                .into_response();
                // The error body is JSON, whatever the file's own type.
                h.remove(header::CONTENT_TYPE);
                resp.headers_mut().extend(h);
                return Ok(resp);
            }
        },
    };
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if method == Method::HEAD {
        return Ok((status, h, Body::empty()).into_response());
    }
    let body = if len <= SMALL_BLOB && start == 0 && len == size {
        // Small files are cached in memory or are one short read: no thread hop.
        let bytes = state.artifacts.read_blob(&blob.sha256).map_err(read_failed)?;
        Body::from(bytes)
    } else {
        let stream = state
            .artifacts
            .open_blob_range(&blob.sha256, start, len)
            .map_err(read_failed)?;
        Body::from_stream(stream)
    };
    state.downloads.record(repo_key, path, caller.name());
    Ok((status, h, body).into_response())
}

/// A blob that cannot be read: a 503 when its store is unreachable, else a 500.
fn read_failed(e: std::io::Error) -> ApiError {
    match crate::storage::StoreError::from(e) {
        crate::storage::StoreError::Io(e) => ApiError::internal_logged("Cannot read the stored file", e),
        other => other.into(),
    }
}

/// The response head of a stored file at `path` (ETag, dates, type, checksums,
/// name; no length), and its blob.
pub fn file_head(item: &Item, path: &str) -> ApiResult<(HeaderMap, Digests)> {
    let blob = item
        .blob
        .clone()
        .ok_or_else(|| ApiError::internal("file without content"))?;
    let mut h = HeaderMap::new();
    put(&mut h, header::ETAG, &format!("\"{}\"", blob.sha1));
    put(&mut h, header::LAST_MODIFIED, &clock::http_date(item.modified));
    put(&mut h, header::ACCEPT_RANGES, "bytes");
    put(&mut h, header::CONTENT_TYPE, &content_type(item));
    put(&mut h, HeaderName::from_static("x-checksum-sha1"), &blob.sha1);
    put(&mut h, HeaderName::from_static("x-checksum-sha256"), &blob.sha256);
    put(&mut h, HeaderName::from_static("x-checksum-md5"), &blob.md5);
    let name = path.rsplit('/').next().unwrap_or("");
    put(
        &mut h,
        HeaderName::from_static("x-artifactory-filename"),
        &url_path(name),
    );
    Ok((h, blob))
}

fn put(h: &mut HeaderMap, k: HeaderName, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        h.insert(k, v);
    }
}

fn content_type(item: &Item) -> String {
    if item.mime.is_empty() {
        "application/octet-stream".into()
    } else {
        item.mime.clone()
    }
}

/// What a `Range` header asks of a file.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeAnswer {
    Full,
    Part(u64, u64),
    Unsatisfiable,
}

/// One `bytes=` range; several ranges or a malformed header get the whole file.
/// Reads a `Range` header against a file of `size` bytes.
pub fn parse_range(h: &str, size: u64) -> RangeAnswer {
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Full;
    };
    if spec.contains(',') {
        return RangeAnswer::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeAnswer::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    let parsed = match (a.is_empty(), b.is_empty()) {
        (true, true) => return RangeAnswer::Full,
        (true, false) => match b.parse::<u64>() {
            Ok(0) => return RangeAnswer::Unsatisfiable,
            Ok(n) => (size.saturating_sub(n), size.saturating_sub(1)),
            Err(_) => return RangeAnswer::Full,
        },
        (false, _) => {
            let Ok(start) = a.parse::<u64>() else {
                return RangeAnswer::Full;
            };
            let end = if b.is_empty() {
                size.saturating_sub(1)
            } else {
                match b.parse::<u64>() {
                    Ok(e) if e >= start => e.min(size.saturating_sub(1)),
                    _ => return RangeAnswer::Full,
                }
            };
            (start, end)
        }
    };
    if size == 0 || parsed.0 >= size {
        return RangeAnswer::Unsatisfiable;
    }
    RangeAnswer::Part(parsed.0, parsed.1)
}

/// An HTML index of a folder, as Artifactory's browser view.
fn listing(state: &State, caller: &Caller, repo: &str, path: &str) -> ApiResult<String> {
    let children = state
        .artifacts
        .children(repo, path)?
        .into_iter()
        .filter(|(name, item)| {
            let child = paths::join(path, name);
            state.auth.can_see(caller, repo, &child, item.folder)
        });
    Ok(listing_html(repo, path, children))
}

/// The HTML index of folder `repo/path` with these (visible) children.
pub fn listing_html(repo: &str, path: &str, children: impl IntoIterator<Item = (String, Item)>) -> String {
    let title = if path.is_empty() {
        repo.to_string()
    } else {
        format!("{repo}/{path}")
    };
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let mut out = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {t}</title></head>\n<body><h1>Index of {t}</h1><pre>Name                                  Last modified      Size</pre><hr/><pre>",
        t = esc(&title)
    );
    if !path.is_empty() {
        out.push_str("<a href=\"../\">../</a>\n");
    }
    for (name, item) in children {
        let (href, shown, size) = if item.folder {
            (format!("{}/", url_path(&name)), format!("{name}/"), "-".to_string())
        } else {
            (url_path(&name), name.clone(), item.size().to_string())
        };
        out.push_str(&format!(
            "<a href=\"{}\">{}</a>    {}    {}\n",
            esc(&href),
            esc(&shown),
            clock::iso8601(item.modified),
            size
        ));
    }
    out.push_str("</pre><hr/></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeAnswer::Part(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), RangeAnswer::Part(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), RangeAnswer::Part(90, 99));
        assert_eq!(parse_range("bytes=95-200", 100), RangeAnswer::Part(95, 99));
        assert_eq!(parse_range("bytes=100-", 100), RangeAnswer::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeAnswer::Full);
        assert_eq!(parse_range("items=0-1", 100), RangeAnswer::Full);
        assert_eq!(parse_range("bytes=5-2", 100), RangeAnswer::Full);
    }
}
