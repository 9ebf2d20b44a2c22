//! `/artifactory/{remote}/{path}` of a generic remote repository: GET and HEAD
//! proxied through the remote service, DELETE of cached files; and `{remote}-cache`,
//! the cache alone.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::State;
use super::download::{self, RangeAnswer};
use crate::artifacts::paths::RepoPath;
use crate::auth::{Action, Caller};
use crate::http::error::{ApiError, ApiResult};
use crate::remote::{Answer, Kind, Streamed};
use crate::repos::RepoConfig;

/// Rewrites a path under `{remote}-cache` to the remote's own key; true when it did.
pub fn cache_alias(state: &State, rp: &mut RepoPath) -> bool {
    match state.repos.cache_of(&rp.repo) {
        Some(remote) => {
            rp.repo = remote.key.clone();
            true
        }
        None => false,
    }
}

/// A request to a remote repository served by the host (generic).
#[allow(clippy::too_many_arguments)]
pub async fn handle(
    state: &State,
    caller: &Caller,
    repo: &RepoConfig,
    rp: RepoPath,
    cache_only: bool,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    match *method {
        Method::GET | Method::HEAD => {
            if cache_only || rp.path.is_empty() || rp.trailing_slash {
                // The cache as it is: files, folders and listings; nothing is fetched.
                return download::serve(state, caller, &rp, method, headers).await;
            }
            state.auth.authorize(caller, Action::Read, &repo.key, &rp.path)?;
            let query = uri.query().unwrap_or("");
            // Generic files may change upstream: each is revalidated after the
            // retrieval cache period (a 304 costs no body).
            let answer = state
                .remote
                .get(repo, &rp.path, query, Kind::Expirable, caller.name())
                .await?;
            answer_response(state, caller, repo, &rp.path, answer, method, headers).await
        }
        Method::DELETE => {
            state.auth.authorize(caller, Action::Delete, &repo.key, &rp.path)?;
            state.artifacts.delete(&repo.key, &rp.path).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        ref m => Err(ApiError::method_not_allowed(format!(
            "Method {m} is not allowed on '{}': '{}' is a remote repository, which caches its upstream and takes no deploys",
            uri.path(),
            repo.key
        ))),
    }
}

/// Renders what the remote service answered.
pub async fn answer_response(
    state: &State,
    caller: &Caller,
    repo: &RepoConfig,
    path: &str,
    answer: Answer,
    method: &Method,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    match answer {
        Answer::Cached(item) => download::serve_item(state, caller, &repo.key, path, &item, method, headers).await,
        Answer::Stream(s) => Ok(streamed(s, method, headers)),
    }
}

/// The upstream's body as it arrives (a HEAD drops it; the fetch goes on and caches).
/// A `Range` of a body of known length is answered from it (206), as a cached file's
/// would be: the client gets its bytes as they pass while the whole file is fetched
/// and cached.
fn streamed(s: Streamed, method: &Method, req: &HeaderMap) -> Response {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&s.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Some(n) = s.content_length {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    for (name, value) in &s.checksums {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(*name, v);
        }
    }
    let range = match (s.content_length, req.get(header::RANGE).and_then(|v| v.to_str().ok())) {
        (Some(size), Some(r)) => {
            h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            match download::parse_range(r, size) {
                RangeAnswer::Full => None,
                RangeAnswer::Part(a, b) => Some((a, b, size)),
                RangeAnswer::Unsatisfiable => {
                    let mut h = HeaderMap::new();
                    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                        h.insert(header::CONTENT_RANGE, v);
                    }
                    return (StatusCode::RANGE_NOT_SATISFIABLE, h, Body::empty()).into_response();
                }
            }
        }
        _ => None,
    };
    let status = match range {
        Some((a, b, size)) => {
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(b - a + 1));
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {a}-{b}/{size}")) {
                h.insert(header::CONTENT_RANGE, v);
            }
            StatusCode::PARTIAL_CONTENT
        }
        None => StatusCode::OK,
    };
    if method == Method::HEAD {
        return (status, h, Body::empty()).into_response();
    }
    let body = crate::remote::body_stream(s.body);
    let body = match range {
        Some((a, b, _)) => Body::from_stream(byte_range(body, a, b)),
        None => Body::from_stream(body),
    };
    (status, h, body).into_response()
}

type Chunks = std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send>>;

/// The bytes `start..=end` of a body; the rest is not read (the fetch behind it
/// goes on without this client).
fn byte_range(body: Chunks, start: u64, end: u64) -> Chunks {
    use futures_util::StreamExt;
    Box::pin(futures_util::stream::unfold(
        (body, 0u64),
        move |(mut body, mut pos)| async move {
            loop {
                if pos > end {
                    return None;
                }
                match body.next().await? {
                    Err(e) => return Some((Err(e), (body, u64::MAX))),
                    Ok(chunk) => {
                        let (lo, hi) = (pos, pos + chunk.len() as u64);
                        pos = hi;
                        if hi <= start {
                            continue;
                        }
                        // Both within the chunk: lo ≤ from ≤ to ≤ hi.
                        let from = usize::try_from(start.saturating_sub(lo)).unwrap_or(usize::MAX);
                        let to = usize::try_from((end + 1).min(hi) - lo).unwrap_or(usize::MAX);
                        return Some((Ok(chunk.slice(from..to)), (body, pos)));
                    }
                }
            }
        },
    ))
}
