//! Requests for repositories served by package-type plugins:
//! `/artifactory/api/{api}/{repo}/…` (npm, pypi, …) and — for formats whose native
//! layout is the plain path, like Maven — `/artifactory/{repo}/…`.
//!
//! Parsing and rendering only: the format service (`crate::formats`) routes,
//! authorizes, stores the body, calls the plugin and records what it wrote.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State as Axs;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::TryStreamExt;

use super::{BaseUrl, State, download, raw_rest};
use crate::auth::Caller;
use crate::formats::answers::{Answer, AnswerBody};
use crate::formats::{BodyStream, FormatError, FormatRequest, Served};
use crate::http::error::{ApiError, ApiResult};
use crate::repos::RepoConfig;
use crate::storage::SMALL_BLOB;

/// The client's error for a format request the service did not answer.
pub fn api_error(e: FormatError) -> ApiError {
    let status = |s: u16| StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match e {
        FormatError::NotFound(m) => ApiError::not_found(m),
        FormatError::Invalid(m) => ApiError::bad_request(m),
        FormatError::NoPlugin(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, m),
        FormatError::Denied(e) => e.into(),
        FormatError::Plugin { status: s, message } => ApiError::new(status(s), message),
        FormatError::Call(c) => ApiError::new(status(super::plugins_api::call_status(&c)), c.to_string()),
        e @ FormatError::BadAnswer { .. } => ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()),
        FormatError::Write(e) => e.into(),
        FormatError::NotAllowed(m) => ApiError::method_not_allowed(m),
    }
}

/// `/artifactory/api/{api}/{repo}/{path}`
pub async fn format_api(
    Axs(state): Axs<State>,
    caller: Caller,
    BaseUrl(base): BaseUrl,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (repo, path, prefix) = state
        .formats
        .route_api(raw_rest(&uri, "/artifactory/api/"))
        .map_err(api_error)?;
    let base = format!("{base}/artifactory/api/{prefix}");
    dispatch(&state, &caller, repo, &path, &base, method, &uri, headers, body).await
}

/// `/{root}/…` for roots plugins declare (Docker's `/v2/`); else 404 (`root_paths`).
pub async fn root_api(
    Axs(state): Axs<State>,
    BaseUrl(base): BaseUrl,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    super::root_paths::handle(state, base, method, uri, headers, body).await
}

/// Whether a request carries a body to store before the plugin runs.
fn has_body(method: &Method, headers: &HeaderMap) -> bool {
    if !matches!(*method, Method::PUT | Method::POST | Method::PATCH) {
        return false;
    }
    let len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    len.is_some_and(|n| n > 0) || headers.contains_key(header::TRANSFER_ENCODING)
}

/// Hands one request to the format service and renders its answer.
#[allow(clippy::too_many_arguments)]
pub async fn dispatch(
    state: &State,
    caller: &Caller,
    repo: Arc<RepoConfig>,
    raw_path: &str,
    base: &str,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let body: Option<BodyStream> = has_body(&method, &headers)
        .then(|| Box::pin(body.into_data_stream().map_err(std::io::Error::other)) as BodyStream);
    let req = FormatRequest {
        method: method.as_str().to_string(),
        path: raw_path.to_string(),
        query: uri.query().unwrap_or("").to_string(),
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect(),
        base: base.to_string(),
        body,
    };
    let key = repo.key.clone();
    let served = state.formats.serve(caller, repo, req).await.map_err(api_error)?;
    match served {
        Served::NotModified { etag } => Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response()),
        Served::Answer(a) => {
            let mut res = render(state, caller, &key, &method, &headers, a.clone()).await?;
            // A kept answer of this very repository, rendered whole: the door may keep it.
            if let Some(validity) = a.validity.as_ref().filter(|v| v.repo().key == key)
                && let Some(ready) = a.rendered.get::<Ready>()
                && ready.status == res.status()
            {
                res.extensions_mut().insert(super::hot::Candidate {
                    ready,
                    validity: validity.clone(),
                    caller: caller.name().to_string(),
                });
            }
            Ok(res)
        }
        Served::Member { repo, answer } => render(state, caller, &repo, &method, &headers, answer).await,
    }
}

/// Turns a plugin's answer (fresh or kept) into the HTTP response.
pub async fn render(
    state: &State,
    caller: &Caller,
    repo: &str,
    method: &Method,
    req_headers: &HeaderMap,
    answer: Arc<Answer>,
) -> ApiResult<Response> {
    if let Some(ready) = ready(state, method, req_headers, &answer) {
        if let Some(path) = &ready.file
            && *method != Method::HEAD
        {
            state.downloads.record(repo, path, caller.name());
        }
        let body = if *method == Method::HEAD {
            Body::empty()
        } else {
            Body::from(ready.body.clone())
        };
        let mut r = Response::new(body);
        *r.status_mut() = ready.status;
        *r.headers_mut() = ready.headers.clone();
        return Ok(r);
    }
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let out = answer_head(&answer);
    match &answer.body {
        AnswerBody::Empty => Ok((status, out).into_response()),
        AnswerBody::Bytes(b) => {
            let body = if *method == Method::HEAD {
                Body::empty()
            } else {
                Body::from(b.clone())
            };
            Ok((status, out, body).into_response())
        }
        AnswerBody::Artifact(p, item) => {
            let mut r = download::serve_item(state, caller, repo, p, item, method, req_headers).await?;
            for (k, v) in out.iter() {
                r.headers_mut().insert(k.clone(), v.clone());
            }
            Ok(r)
        }
    }
}

/// The headers a plugin answered, as HTTP has them.
fn answer_head(answer: &Answer) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (k, v) in &answer.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            out.append(k, v);
        }
    }
    out
}

/// A whole answer made once and kept with it (`Answer::rendered`), so that a kept
/// answer costs each request it serves a copy of its head and a reference to its
/// bytes: a generated body, or a small stored file (up to `SMALL_BLOB`, as
/// `download::serve_item` answers it, its downloads still counted).
pub struct Ready {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The stored file answered, if it is one.
    pub file: Option<String>,
}

/// The answer made whole, for a GET or HEAD without a range or a validator (those
/// take the general path), when its body is bytes or a small stored file.
fn ready(state: &State, method: &Method, req_headers: &HeaderMap, answer: &Answer) -> Option<Arc<Ready>> {
    if !matches!(*method, Method::GET | Method::HEAD)
        || req_headers.contains_key(header::RANGE)
        || req_headers.contains_key(header::IF_NONE_MATCH)
    {
        return None;
    }
    if let Some(r) = answer.rendered.get::<Ready>() {
        return Some(r);
    }
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let ready = match &answer.body {
        AnswerBody::Empty => return None,
        AnswerBody::Bytes(b) => {
            let mut headers = answer_head(answer);
            // Said here, so that a HEAD (whose body is empty) says it too.
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(b.len()));
            Ready {
                status,
                headers,
                body: b.clone(),
                file: None,
            }
        }
        AnswerBody::Artifact(p, item) => {
            let size = item.blob.as_ref().map(|b| b.size)?;
            if item.folder || size > SMALL_BLOB {
                return None;
            }
            let (mut headers, blob) = download::file_head(item, p).ok()?;
            let body = state.artifacts.read_blob(&blob.sha256).ok()?;
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            // The plugin's own headers win, as on the general path.
            for (k, v) in answer_head(answer).iter() {
                headers.insert(k.clone(), v.clone());
            }
            Ready {
                status: StatusCode::OK,
                headers,
                body,
                file: Some(p.clone()),
            }
        }
    };
    answer.rendered.keep(ready)
}
