//! Root paths plugins declare (Docker's `/v2/`): the version check, the token
//! endpoint (`/{root}/token`), the catalog over every repository the caller may
//! read (`/{root}/_catalog`), and errors in the registry's own body
//! (`{"errors":[{"code":…,"message":…}]}`) with the `Bearer` challenge registry
//! clients follow to the token endpoint.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use super::State;
use super::error::ApiError;
use super::formats::{api_error, dispatch};
use crate::auth::Caller;
use crate::formats::Served;
use crate::formats::answers::AnswerBody;

/// How long a registry token lives (clients ask again when it expires).
const TOKEN_TTL_SECS: i64 = 300;
/// The largest page of a catalog when the client asks for none.
const MAX_CATALOG: usize = 10_000;

/// `/{root}/…` for a root a plugin declares; else a plain 404.
pub async fn handle(state: State, base: String, method: Method, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    let full = uri.path().trim_start_matches('/').to_string();
    let (root, rest) = full.split_once('/').unwrap_or((full.as_str(), ""));
    if let Err(e) = state.formats.route_root(root, "") {
        return api_error(e).into_response();
    }
    let scope = scope_of(rest, &method);
    let res = match rest.trim_end_matches('/') {
        "token" => token(&state, &uri, &headers).await,
        "_catalog" => catalog(&state, &base, root, &uri, &headers).await,
        _ => request(&state, &base, root, rest, method, &uri, headers, body).await,
    };
    res.unwrap_or_else(|e| registry_error(e, &base, root, scope.as_deref()))
}

#[allow(clippy::too_many_arguments)]
async fn request(
    state: &State,
    base: &str,
    root: &str,
    rest: &str,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Refusal> {
    let route = state.formats.route_root(root, rest).map_err(api_error)?;
    let caller = super::security::authenticate(state, &headers).await?;
    let Some((repo, path)) = route else {
        state.auth.require_access(&caller).map_err(ApiError::from)?;
        return Ok(StatusCode::OK.into_response());
    };
    if !caller.may_use_repo(&repo.key) {
        return Err(Refusal::InsufficientScope(format!(
            "The token is not for repository '{}': ask the token endpoint for this scope",
            repo.key
        )));
    }
    let base = format!("{base}/{root}/{}", repo.key);
    Ok(dispatch(state, &caller, repo, &path, &base, method, uri, headers, body).await?)
}

/// Why a root-path request was refused.
pub enum Refusal {
    Api(ApiError),
    /// A registry token for other repositories.
    InsufficientScope(String),
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Api(e)
    }
}

/// The scope a registry client needs for a request, for the challenge:
/// `repository:{repo}/{name}:pull[,push]` (the name ends before the endpoint's segments).
fn scope_of(rest: &str, method: &Method) -> Option<String> {
    let segs: Vec<&str> = rest.trim_matches('/').split('/').collect();
    let end = segs
        .iter()
        .rposition(|s| matches!(*s, "manifests" | "blobs" | "tags" | "referrers"))?;
    if end == 0 {
        return None;
    }
    let actions = match *method {
        Method::GET | Method::HEAD => "pull",
        Method::DELETE => "delete",
        _ => "pull,push",
    };
    Some(format!("repository:{}:{actions}", segs[..end].join("/")))
}

/// `WWW-Authenticate: Bearer realm="{base}/{root}/token",service="{host}"[,scope=…][,error=…]`
fn challenge(base: &str, root: &str, scope: Option<&str>, error: Option<&str>) -> String {
    let service = base.split_once("://").map_or(base, |(_, h)| h);
    let mut c = format!("Bearer realm=\"{base}/{root}/token\",service=\"{service}\"");
    if let Some(s) = scope {
        c.push_str(&format!(",scope=\"{s}\""));
    }
    if let Some(e) = error {
        c.push_str(&format!(",error=\"{e}\""));
    }
    c
}

/// An error in the registry's body, with the challenge on a 401.
fn registry_error(r: Refusal, base: &str, root: &str, scope: Option<&str>) -> Response {
    let (status, message, error) = match r {
        Refusal::Api(e) => (e.status, e.message, None),
        Refusal::InsufficientScope(m) => (StatusCode::UNAUTHORIZED, m, Some("insufficient_scope")),
    };
    let code = match status.as_u16() {
        401 => "UNAUTHORIZED",
        403 => "DENIED",
        404 => "NAME_UNKNOWN",
        405 => "UNSUPPORTED",
        413 => "SIZE_INVALID",
        429 => "TOOMANYREQUESTS",
        _ => "UNKNOWN",
    };
    let body = json!({"errors": [{"code": code, "message": message, "detail": null}]});
    let mut resp = (status, axum::Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED
        && let Ok(v) = HeaderValue::from_str(&challenge(base, root, scope, error))
    {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// The values of query parameter `key`, percent-decoded.
fn query_values(uri: &Uri, key: &str) -> Vec<String> {
    let dec = |s: &str| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (dec(k) == key).then(|| dec(v))
        })
        .collect()
}

/// `GET /{root}/token?service=…&scope=repository:{repo}/{name}:{actions}…`: checks
/// the credentials (Basic with a password, access token or API key; none for
/// anonymous where anonymous access is on) and answers a short-lived token limited
/// to the repositories the scopes name.
async fn token(state: &State, uri: &Uri, headers: &HeaderMap) -> Result<Response, Refusal> {
    let caller = super::security::authenticate(state, headers).await?;
    state.auth.require_access(&caller).map_err(ApiError::from)?;
    let mut repos: Vec<String> = Vec::new();
    let mut scoped = false;
    for scope in query_values(uri, "scope") {
        for s in scope.split_whitespace() {
            scoped = true;
            // `repository:{repo}/{name}:{actions}`: the repository key is the first segment.
            if let Some(name) = s
                .strip_prefix("repository:")
                .and_then(|r| r.rsplit_once(':'))
                .map(|(n, _)| n)
                && let Some(key) = name.split('/').next()
                && !repos.iter().any(|r| r == key)
            {
                with_virtual_members(state, key, &mut repos);
            }
        }
    }
    let token = state
        .auth
        .issue_registry_token(&caller, scoped.then_some(repos), TOKEN_TTL_SECS);
    let issued = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    Ok(axum::Json(json!({
        "token": token,
        "access_token": token,
        "expires_in": TOKEN_TTL_SECS,
        "issued_at": issued,
    }))
    .into_response())
}

/// Adds `key` to `repos` and, for a virtual repository, the repositories it
/// resolves over and deploys to: a token for a virtual repository reads its members
/// and pushes to its `defaultDeploymentRepo` (each still with the user's own rights).
fn with_virtual_members(state: &State, key: &str, repos: &mut Vec<String>) {
    if repos.iter().any(|r| r == key) {
        return;
    }
    repos.push(key.to_string());
    let Some(repo) = state.repos.get(key) else { return };
    for m in repo
        .repositories
        .iter()
        .flatten()
        .chain(repo.default_deployment_repo.iter())
    {
        with_virtual_members(state, m, repos);
    }
}

/// `GET /{root}/_catalog[?n=&last=]`: the names in every repository of the root's
/// format the caller may read, as `{repo}/{name}`.
async fn catalog(state: &State, base: &str, root: &str, uri: &Uri, headers: &HeaderMap) -> Result<Response, Refusal> {
    let caller: Caller = super::security::authenticate(state, headers).await?;
    state.auth.require_access(&caller).map_err(ApiError::from)?;
    let Some(package_type) = state.formats.root_package_type(root) else {
        return Err(ApiError::not_found(format!("No resource at '/{root}/_catalog'")).into());
    };
    let mut names: Vec<String> = Vec::new();
    for repo in state.repos.all() {
        if !repo.package_type.eq_ignore_ascii_case(&package_type)
            || !caller.may_use_repo(&repo.key)
            || !state.auth.can_browse(&caller, &repo.key, "")
        {
            continue;
        }
        let key = repo.key.clone();
        let repo_base = format!("{base}/{root}/{key}");
        let Ok(Served::Answer(a)) = state.formats.host_get(&caller, repo, "_catalog", "", &repo_base).await else {
            continue;
        };
        if let (200, AnswerBody::Bytes(b)) = (a.status, &a.body)
            && let Ok(v) = serde_json::from_slice::<Value>(b)
            && let Some(list) = v["repositories"].as_array()
        {
            names.extend(list.iter().filter_map(Value::as_str).map(|n| format!("{key}/{n}")));
        }
    }
    names.sort();
    let last = query_values(uri, "last").into_iter().next().filter(|l| !l.is_empty());
    let n = match query_values(uri, "n").into_iter().next().filter(|v| !v.is_empty()) {
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("n={v} is not a number")))?,
        None => MAX_CATALOG,
    };
    let rest: Vec<String> = names
        .into_iter()
        .filter(|x| last.as_ref().is_none_or(|l| x > l))
        .collect();
    let more = rest.len() > n;
    let page: Vec<String> = rest.into_iter().take(n).collect();
    let mut resp = axum::Json(json!({"repositories": page})).into_response();
    if more && let Some(l) = page.last() {
        let link = format!("<{base}/{root}/_catalog?n={n}&last={l}>; rel=\"next\"");
        if let Ok(v) = HeaderValue::from_str(&link) {
            resp.headers_mut().insert(header::LINK, v);
        }
    }
    Ok(resp)
}

impl From<crate::auth::AuthError> for Refusal {
    fn from(e: crate::auth::AuthError) -> Self {
        Refusal::Api(e.into())
    }
}
