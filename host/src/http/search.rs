//! `GET /artifactory/api/search/gavc?g=&a=&v=&c=&repos=`: the GAVC search, fanned out
//! to the plugins of the repositories searched (each answers paths of its own
//! repository, or 404 when its format has no such search), merged into storage URIs
//! the caller may read.

use axum::extract::State as Axs;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use super::{BaseUrl, Query, State, formats, json_response};
use crate::artifacts::paths::url_path;
use crate::auth::{Action, Caller};
use crate::error::{ApiError, ApiResult};
use crate::formats::Served;
use crate::formats::answers::{Answer, AnswerBody};
use crate::repos::RClass;

/// The GAVC search.
pub async fn gavc(
    Axs(state): Axs<State>,
    caller: Caller,
    BaseUrl(base): BaseUrl,
    q: Query,
    uri: Uri,
) -> ApiResult<Response> {
    state.auth.require_access(&caller)?;
    if ["g", "a", "v", "c"].iter().all(|k| q.get(k).is_none_or(str::is_empty)) {
        return Err(ApiError::bad_request(
            "The GAVC search needs at least one of g (groupId), a (artifactId), v (version), c (classifier)",
        ));
    }
    let wanted: Option<Vec<&str>> = q
        .get("repos")
        .map(|r| r.split(',').map(str::trim).filter(|k| !k.is_empty()).collect());
    let repos: Vec<_> = state
        .repos
        .all()
        .into_iter()
        .filter(|r| match &wanted {
            Some(keys) => keys.contains(&r.key.as_str()),
            None => r.rclass == RClass::Local,
        })
        .filter(|r| state.plugins.for_package_type(&r.package_type).is_some())
        .filter(|r| state.auth.can_browse(&caller, &r.key, ""))
        .collect();
    let mut results = Vec::new();
    for repo in repos {
        let key = repo.key.clone();
        let repo_base = format!("{base}/artifactory/api/{}/{key}", repo.package_type);
        let answer = state
            .formats
            .host_get(&caller, repo, "-/search/gavc", uri.query().unwrap_or(""), &repo_base)
            .await
            .map_err(formats::api_error);
        let bytes = match answer {
            Ok(Served::Answer(Answer {
                status: 200,
                body: AnswerBody::Bytes(b),
                ..
            })) => b,
            // No such search in this format, or nothing the caller may search here.
            Ok(_) => continue,
            Err(e) if e.status.is_client_error() => continue,
            Err(e) => return Err(e),
        };
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("The search answer of '{key}' is not JSON: {e}"),
            )
        })?;
        for p in v["results"].as_array().into_iter().flatten() {
            let Some(path) = p["path"].as_str().map(|s| s.trim_start_matches('/')) else {
                continue;
            };
            if state.auth.allows(&caller, Action::Read, &key, path) {
                results.push(json!({"uri": format!("{base}/artifactory/api/storage/{key}/{}", url_path(path))}));
            }
        }
    }
    Ok(json_response(StatusCode::OK, &json!({ "results": results })))
}
