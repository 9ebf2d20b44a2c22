//! Request limits checked before any handler runs (target length, head size, path
//! shape), and the Artifactory error body for the size refusals that axum's own
//! extractors answer in plain text.

use axum::body::Body;
use axum::extract::{Request, State as Axs};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use percent_encoding::percent_decode_str;

use super::State;
use crate::config::HttpConfig;
use crate::http::error::ApiError;

/// Refuses oversized targets (414), heads (431) and paths (400) with the Artifactory body.
pub async fn check_request(Axs(state): Axs<State>, req: Request, next: Next) -> Response {
    if let Err(e) = check_head(req.uri(), req.headers(), &state.config.http) {
        return e.into_response();
    }
    normalise_error_body(next.run(req).await).await
}

pub(super) fn check_head(uri: &Uri, headers: &HeaderMap, c: &HttpConfig) -> Result<(), ApiError> {
    let target = uri.path_and_query().map_or(0, |p| p.as_str().len());
    if target > c.max_uri_bytes {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            format!(
                "The request target has {target} bytes; the limit is {} ([http] max_uri_bytes)",
                c.max_uri_bytes
            ),
        ));
    }
    let head: usize = headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if head > c.max_header_bytes {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "The request headers have {head} bytes; the limit is {} ([http] max_header_bytes)",
                c.max_header_bytes
            ),
        ));
    }
    let path = uri.path();
    // API segments are not stored names: `npm logout` sends its token (a JWT of
    // several hundred bytes) as one. Length and depth still hold.
    let max_segment = if path.starts_with("/artifactory/api/") {
        usize::MAX
    } else {
        c.max_segment_bytes
    };
    check_path_within(path, c, max_segment).map_err(ApiError::bad_request)
}

/// Checks a still-encoded URL path (or a copy/move target) against the path limits;
/// the error names the limit.
pub fn check_path(raw: &str, c: &HttpConfig) -> Result<(), String> {
    check_path_within(raw, c, c.max_segment_bytes)
}

/// `check_path` with the name limit given apart (none for API paths).
fn check_path_within(raw: &str, c: &HttpConfig, max_segment: usize) -> Result<(), String> {
    let mut total = 0usize;
    let mut segments = 0usize;
    for seg in raw.split('/').filter(|s| !s.is_empty()) {
        segments += 1;
        if segments > c.max_path_segments {
            return Err(format!(
                "The path has more than {} segments ([http] max_path_segments)",
                c.max_path_segments
            ));
        }
        let name = seg.split(';').next().unwrap_or("");
        let len = percent_decode_str(name).count();
        if len > max_segment {
            return Err(format!(
                "A path segment has {len} bytes; the limit is {} ([http] max_segment_bytes)",
                c.max_segment_bytes
            ));
        }
        total += len + 1;
    }
    if total > c.max_path_bytes {
        return Err(format!(
            "The path has {total} bytes; the limit is {} ([http] max_path_bytes)",
            c.max_path_bytes
        ));
    }
    Ok(())
}

/// Size refusals answered by axum's extractors (`413` "Failed to buffer the request
/// body…") get the Artifactory error body, keeping their message.
async fn normalise_error_body(resp: Response) -> Response {
    let status = resp.status();
    let sized = matches!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::URI_TOO_LONG | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if !sized || json {
        return resp;
    }
    let (_, body) = resp.into_parts();
    let text = match Body::new(body).collect().await {
        Ok(b) => String::from_utf8_lossy(&b.to_bytes()).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("Request too large").to_string()
    } else {
        text
    };
    ApiError::new(status, message).into_response()
}
