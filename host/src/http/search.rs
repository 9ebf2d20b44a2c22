//! `/artifactory/api/search/…`: AQL (`POST aql`, text/plain) and the quick searches
//! (artifact, prop, checksum, gavc, dates, creation, usage, pattern, latestVersion).
//! Every one is a query of the search service; answers list only what the caller
//! may read. `X-Result-Detail: info, properties` adds item info and properties to
//! the quick searches' rows.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State as Axs;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::storage_api::{file_info_json, storage_uri};
use super::{BaseUrl, Query, State, json_response, text_response};
use crate::auth::{Action, Caller};
use crate::clock::iso8601;
use crate::http::error::{ApiError, ApiResult};
use crate::search::quick::{self, Checksum};
use crate::search::{Access, ItemRow, Rows, SearchError};
use crate::server::AppState;
use crate::storage::Stats;

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> Self {
        let status = match &e {
            SearchError::Syntax(_)
            | SearchError::Field(_)
            | SearchError::Unsupported(_)
            | SearchError::TooLong(..)
            | SearchError::Deadline(_) => StatusCode::BAD_REQUEST,
            SearchError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            SearchError::Store(_) | SearchError::Task(_) | SearchError::Timeout => {
                tracing::error!(error = %e, "search failure");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        ApiError::new(status, e.to_string())
    }
}

/// A caller's view for the engine.
struct CallerAccess {
    state: Arc<AppState>,
    caller: Caller,
}

impl Access for CallerAccess {
    fn can_read(&self, repo: &str, path: &str) -> bool {
        self.state.auth.allows(&self.caller, Action::Read, repo, path)
    }
    fn can_read_repo(&self, repo: &str) -> Option<bool> {
        self.state.auth.allows_whole_repo(&self.caller, Action::Read, repo)
    }
    fn can_read_build(&self, name: &str) -> bool {
        self.state.auth.allows_build(&self.caller, Action::Read, name)
    }
    fn stats(&self, repo: &str, path: &str) -> Stats {
        self.state
            .artifacts
            .download_stats(&self.state.downloads, repo, path)
            .unwrap_or_default()
    }
}

fn access(state: &State, caller: Caller) -> Arc<dyn Access> {
    Arc::new(CallerAccess {
        state: state.clone(),
        caller,
    })
}

/// `POST /api/search/aql`.
pub async fn aql(Axs(state): Axs<State>, caller: Caller, body: Bytes) -> ApiResult<Response> {
    state.auth.require_access(&caller)?;
    let max = state.search.config().max_query_bytes;
    if body.len() > max {
        return Err(SearchError::TooLong(body.len(), max).into());
    }
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("The query is not UTF-8 text"))?;
    let answer = state.search.aql(text, access(&state, caller)).await?;
    Ok(json_bytes(answer))
}

/// A JSON answer already written.
fn json_bytes(body: Vec<u8>) -> Response {
    use axum::response::IntoResponse;
    ([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The `repos` parameter as a list.
fn repos(q: &Query) -> Vec<String> {
    q.get("repos")
        .map(|r| {
            r.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// What `X-Result-Detail` asks for: (info, properties).
fn detail(headers: &HeaderMap) -> (bool, bool) {
    let v = headers
        .get("x-result-detail")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let words: Vec<&str> = v.split(',').map(str::trim).collect();
    (words.contains(&"info"), words.contains(&"properties"))
}

async fn item_rows(state: &State, caller: Caller, q: crate::search::Query) -> ApiResult<Vec<ItemRow>> {
    let (_, rows, _) = state.search.run(q, access(state, caller)).await?;
    Ok(match rows {
        Rows::Items(v) => v,
        Rows::Builds(_) => Vec::new(),
    })
}

/// A quick search row: its storage URI, with info and properties when asked.
fn row_json(base: &str, r: &ItemRow, (info, props): (bool, bool)) -> Value {
    let mut v = if info {
        file_info_json(base, &r.repo, &r.path, &r.item)
    } else {
        json!({})
    };
    v["uri"] = json!(storage_uri(base, &r.repo, &r.path));
    if props {
        v["properties"] = json!(r.item.props);
    }
    v
}

fn results(base: &str, rows: &[ItemRow], d: (bool, bool)) -> Response {
    let list: Vec<Value> = rows.iter().map(|r| row_json(base, r, d)).collect();
    json_response(StatusCode::OK, &json!({ "results": list }))
}

/// `GET /api/search/artifact?name=&repos=`.
pub async fn artifact(
    Axs(state): Axs<State>,
    caller: Caller,
    BaseUrl(base): BaseUrl,
    q: Query,
    headers: HeaderMap,
) -> ApiResult<Response> {
    state.auth.require_access(&caller)?;
    let query = quick::artifact(q.get("name").unwrap_or(""), &repos(&q))?;
    let rows = item_rows(&state, caller, query).await?;
    Ok(results(&base, &rows, detail(&headers)))
}

/// `GET /api/search/prop?k=v1,v2&repos=`.
pub async fn prop(
    Axs(state): Axs<State>,
    caller: Caller,
    BaseUrl(base): BaseUrl,
    q: Query,
    headers: HeaderMap,
) -> ApiResult<Response> {
    state.auth.require_access(&caller)?;
    let mut wanted: Vec<(String, Vec<String>)> =
        q.0.iter()
            .filter(|(k, _)| k.as_str() != "repos")
            .map(|(k, v)| (k.clone(), v.split(',').map(str::to_string).collect()))
            .collect();
    wanted.sort();
    let query = quick::properties(&wanted, &repos(&q))?;
    let rows = item_rows(&state, caller, query).await?;
    Ok(results(&base, &rows, detail(&headers)))
}

/// `GET /api/search/checksum?sha256=|sha1=|md5=&repos=`.
pub async fn checksum(
    Axs(state): Axs<State>,
    caller: Caller,
    BaseUrl(base): BaseUrl,
    q: Query,
    headers: HeaderMap,
) -> ApiResult<Response> {
    state.auth.require_access(&caller)?;
    let (kind, value) = [
        ("sha256", Checksum::Sha256),
        ("sha1", Checksum::Sha1),
        ("md5", Checksum::Md5),
    ]
    .into_iter()
    .find_map(|(k, kind)| q.get(k).filter(|v| !v.is_empty()).map(|v| (kind, v.to_string())))
    .ok_or_else(|| ApiError::bad_request("The checksum search needs sha256, sha1 or md5"))?;
    let query = quick::checksum(kind, &value, &repos(&q))?;
    let rows = item_rows(&state, caller, query).await?;
    Ok(results(&base, &rows, detail(&headers)))
}

/// `GET /api/search/gavc?g=&a=&v=&c=&repos=`: over the package coordinates the
/// loaded formats declare (those with a group).
pub async fn gavc(
    Axs(state): Axs<State>,
    caller: Caller,
    BaseUrl(base): BaseUrl,
    q: Query,
    headers: HeaderMap,
) -> ApiResult<Response> {
    state.auth.require_access(&caller)?;
    let coordinates = state.plugins.package_coordinates();
    let query = quick::gavc(&coordinates, q.get("g"), q.get("a"), q.get("v"), q.get("c"), &repos(&q))?;
    let rows = match query {
        Some(query) => item_rows(&state, caller, query).await?,
        None => Vec::new(),
    };
    Ok(results(&base, &rows, detail(&headers)))
}

fn ms_param(q: &Query, k: &str) -> ApiResult<Option<i64>> {
    match q.get(k).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("'{k}' must be milliseconds since the epoch, not '{v}'"))),
    }
}

/// `GET /api/search/dates?dateFields=created,lastModified,lastDownloaded&from=&to=&repos=`.
pub async fn dates(Axs(state): Axs<State>, caller: Caller, BaseUrl(base): BaseUrl, q: Query) -> ApiResult<Response> {
    state.auth.require_access(&caller)?;
    let names: Vec<&str> = q
        .get("dateFields")
        .ok_or_else(|| {
            ApiError::bad_request("The dates search needs dateFields (created, lastModified, lastDownloaded)")
        })?
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut fields = Vec::new();
    for n in &names {
        fields.push(quick::date_field(n).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Unknown date field '{n}': use created, lastModified or lastDownloaded"
            ))
        })?);
    }
    if fields.is_empty() {
        return Err(ApiError::bad_request("The dates search needs dateFields"));
    }
    let (from, to) = (ms_param(&q, "from")?, ms_param(&q, "to")?);
    let query = quick::dates(&fields, from, to, &repos(&q))?;
    let rows = item_rows(&state, caller.clone(), query).await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = json!({"uri": storage_uri(&base, &r.repo, &r.path)});
            for n in &names {
                match *n {
                    "created" => v["created"] = json!(iso8601(r.item.created)),
                    "lastModified" => v["lastModified"] = json!(iso8601(r.item.modified)),
                    _ => {
                        let s = state
                            .artifacts
                            .download_stats(&state.downloads, &r.repo, &r.path)
                            .unwrap_or_default();
                        if s.downloads > 0 {
                            v["lastDownloaded"] = json!(iso8601(s.last_downloaded));
                        }
                    }
                }
            }
            v
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "results": list })))
}

/// `GET /api/search/creation?from=&to=&repos=`.
pub async fn creation(Axs(state): Axs<State>, caller: Caller, BaseUrl(base): BaseUrl, q: Query) -> ApiResult<Response> {
    state.auth.require_access(&caller)?;
    let from = ms_param(&q, "from")?.ok_or_else(|| ApiError::bad_request("The creation search needs from"))?;
    let query = quick::dates(
        &[crate::search::query::Field::Created],
        Some(from),
        ms_param(&q, "to")?,
        &repos(&q),
    )?;
    let rows = item_rows(&state, caller, query).await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|r| json!({"uri": storage_uri(&base, &r.repo, &r.path), "created": iso8601(r.item.created)}))
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "results": list })))
}

/// `GET /api/search/usage?notUsedSince=&createdBefore=&repos=`.
pub async fn usage(Axs(state): Axs<State>, caller: Caller, BaseUrl(base): BaseUrl, q: Query) -> ApiResult<Response> {
    state.auth.require_access(&caller)?;
    let since =
        ms_param(&q, "notUsedSince")?.ok_or_else(|| ApiError::bad_request("The usage search needs notUsedSince"))?;
    let query = quick::usage(since, ms_param(&q, "createdBefore")?, &repos(&q))?;
    let rows = item_rows(&state, caller, query).await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = json!({"uri": storage_uri(&base, &r.repo, &r.path)});
            let s = state
                .artifacts
                .download_stats(&state.downloads, &r.repo, &r.path)
                .unwrap_or_default();
            if s.downloads > 0 {
                v["lastDownloaded"] = json!(iso8601(s.last_downloaded));
            }
            v
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "results": list })))
}

/// `GET /api/search/pattern?pattern=repo:path/**/*.jar`.
pub async fn pattern(Axs(state): Axs<State>, caller: Caller, BaseUrl(base): BaseUrl, q: Query) -> ApiResult<Response> {
    state.auth.require_access(&caller)?;
    let source = q.get("pattern").unwrap_or("").to_string();
    let (repo, pat) = source
        .split_once(':')
        .ok_or_else(|| ApiError::bad_request("The pattern must be repo-key:path-pattern"))?;
    let pat = pat.trim_start_matches('/');
    if repo.is_empty() || pat.is_empty() || pat.split('/').count() > 64 || pat.matches("**").count() > 4 {
        return Err(ApiError::bad_request(
            "The pattern must be repo-key:path-pattern (at most 64 folders, 4 '**')",
        ));
    }
    state.repos.existing(repo)?;
    let query = quick::pattern(repo, pat)?;
    let rows = item_rows(&state, caller, query).await?;
    let files: Vec<&str> = rows
        .iter()
        .filter(|r| quick::pattern_match(pat, &r.path))
        .map(|r| r.path.as_str())
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"repoUri": format!("{base}/artifactory/{repo}"), "sourcePattern": source, "files": files}),
    ))
}

/// `GET /api/search/latestVersion?g=&a=&v=&repos=`: the newest version of the
/// coordinates (text/plain), by the version keys the loaded formats declare.
pub async fn latest_version(Axs(state): Axs<State>, caller: Caller, q: Query) -> ApiResult<Response> {
    state.auth.require_access(&caller)?;
    let (Some(g), Some(a)) = (
        q.get("g").filter(|s| !s.is_empty()),
        q.get("a").filter(|s| !s.is_empty()),
    ) else {
        return Err(ApiError::bad_request("The latest version search needs g and a"));
    };
    let coordinates = state.plugins.package_coordinates();
    let rows = match quick::gavc(&coordinates, Some(g), Some(a), q.get("v"), None, &repos(&q))? {
        Some(query) => item_rows(&state, caller, query).await?,
        None => Vec::new(),
    };
    let version_keys: Vec<&str> = coordinates
        .iter()
        .filter(|c| c.group.is_some())
        .map(|c| c.version.as_str())
        .collect();
    let latest = rows
        .iter()
        .filter_map(|r| {
            version_keys
                .iter()
                .find_map(|k| r.item.props.get(*k).and_then(|v| v.first()))
        })
        .max_by(|x, y| quick::compare_versions(x, y))
        .ok_or_else(|| ApiError::not_found("Unable to find artifact versions"))?;
    Ok(text_response(StatusCode::OK, latest.clone()))
}
