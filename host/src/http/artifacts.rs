//! `/artifactory/{repo}/{path}`: deploy (PUT), download (GET/HEAD), delete.

use axum::body::Body;
use axum::extract::State as Axs;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::{BaseUrl, State, download, formats, json_response, raw_rest, remote, storage_api};
use crate::artifacts::DeployRequest;
use crate::artifacts::paths::RepoPath;
use crate::auth::{Action, Caller};
use crate::http::error::{ApiError, ApiResult};
use crate::repos::{RClass, RepoConfig};
use crate::storage::Checksums;
use crate::virtual_repos::{self, VirtualError};

/// Dispatches on the method.
pub async fn handle(
    Axs(state): Axs<State>,
    caller: Caller,
    BaseUrl(base): BaseUrl,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let mut rp = RepoPath::parse(raw_rest(&uri, "/artifactory/"))?;
    // `{remote}-cache`: the remote's cached items, never fetched.
    let cache_only = remote::cache_alias(&state, &mut rp);
    if let Some(repo) = state.repos.get(&rp.repo)
        && repo.rclass == RClass::Remote
        && (cache_only || !state.formats.serves_plain_paths(&repo))
    {
        return remote::handle(&state, &caller, &repo, rp, cache_only, &method, &uri, &headers).await;
    }
    // Formats laid out on the plain path (Maven) are served by their plugin.
    if let Some(repo) = state.repos.get(&rp.repo)
        && state.formats.serves_plain_paths(&repo)
    {
        let raw = raw_rest(&uri, "/artifactory/");
        let path = raw.split_once('/').map_or("", |(_, p)| p).to_string();
        let base = format!("{base}/artifactory/{}", repo.key);
        return formats::dispatch(&state, &caller, repo, &path, &base, method, &uri, headers, body).await;
    }
    if let Some(repo) = state.repos.get(&rp.repo)
        && repo.rclass == RClass::Virtual
    {
        return through_virtual(&state, &caller, &base, &repo, rp, &method, &uri, &headers, body).await;
    }
    match method {
        Method::GET | Method::HEAD => download::serve(&state, &caller, &rp, &method, &headers).await,
        Method::PUT => deploy(&state, &caller, &base, &rp, &headers, body).await,
        Method::DELETE => delete(&state, &caller, &rp).await,
        m => Err(ApiError::method_not_allowed(format!(
            "Method {m} is not allowed on '{}': use GET, HEAD, PUT or DELETE",
            uri.path()
        ))),
    }
}

/// A generic request to a virtual repository: reads resolve over its members, a
/// deploy goes to its `defaultDeploymentRepo` (with that repository's permissions).
#[allow(clippy::too_many_arguments)]
async fn through_virtual(
    state: &State,
    caller: &Caller,
    base: &str,
    repo: &RepoConfig,
    rp: RepoPath,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let err = |e: VirtualError| match e {
        VirtualError::Store(e) => ApiError::from(e),
        VirtualError::Remote(e) => ApiError::from(e),
        e => ApiError::method_not_allowed(e.to_string()),
    };
    match *method {
        Method::GET | Method::HEAD => {
            let (vr, meta, auth) = (&state.repos, &*state.meta, &state.auth);
            if !rp.path.is_empty() && !rp.trailing_slash {
                let found = virtual_repos::resolve_file(vr, meta, auth, &state.remote, caller, &repo.key, &rp.path)
                    .await
                    .map_err(err)?;
                if let Some((member, answer)) = found {
                    return remote::answer_response(state, caller, &member, &rp.path, answer, method, headers).await;
                }
            }
            // A folder lists what every member the caller may read has there.
            let folder = rp.path.is_empty()
                || virtual_repos::find_item(vr, meta, auth, caller, &repo.key, &rp.path)
                    .map_err(err)?
                    .is_some_and(|(_, i)| i.folder);
            if !folder {
                return Err(ApiError::not_found(format!(
                    "Unable to find item '{}/{}'",
                    repo.key, rp.path
                )));
            }
            virtual_listing(state, caller, repo, &rp.path, method)
        }
        Method::PUT => {
            let target = virtual_repos::deployment_repo(&state.repos, repo).map_err(err)?;
            let rp = RepoPath {
                repo: target.key.clone(),
                ..rp
            };
            deploy(state, caller, base, &rp, headers, body).await
        }
        ref m => Err(ApiError::method_not_allowed(format!(
            "Method {m} is not allowed on '{}': a virtual repository serves GET and HEAD, and PUT to its defaultDeploymentRepo",
            uri.path()
        ))),
    }
}

/// The HTML index of a folder of a virtual repository, over its members.
fn virtual_listing(state: &State, caller: &Caller, v: &RepoConfig, path: &str, method: &Method) -> ApiResult<Response> {
    let children = virtual_repos::children(&state.repos, &*state.meta, &state.auth, caller, &v.key, path).map_err(
        |e| match e {
            VirtualError::Store(e) => ApiError::from(e),
            e => ApiError::internal_logged("Cannot list the virtual repository", e),
        },
    )?;
    let html = download::listing_html(&v.key, path, children);
    let body = if *method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(html)
    };
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response())
}

async fn deploy(
    state: &State,
    caller: &Caller,
    base: &str,
    rp: &RepoPath,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let repo = state.repos.local(&rp.repo)?;
    state.auth.authorize(caller, Action::Write, &repo.key, &rp.path)?;
    if rp.trailing_slash || rp.path.is_empty() {
        let item = state
            .artifacts
            .create_folder(&repo, &rp.path, caller.name(), rp.matrix.clone())
            .await?;
        let v = storage_api::folder_info_json(base, &repo.key, &rp.path, &item, Vec::new());
        return Ok(json_response(StatusCode::CREATED, &v));
    }
    let may_overwrite = state
        .auth
        .authorize(caller, Action::Delete, &repo.key, &rp.path)
        .is_ok();
    let expected = expected_checksums(headers)?;
    let d = DeployRequest {
        repo: &repo,
        path: &rp.path,
        by: caller.name(),
        expected,
        props: rp.matrix.clone(),
        may_overwrite,
    };
    let by_checksum = headers
        .get("x-checksum-deploy")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let item = if by_checksum {
        state.artifacts.deploy_by_checksum(d).await?
    } else {
        state.artifacts.deploy(d, body.into_data_stream()).await?
    };
    let v = storage_api::deploy_json(base, &repo.key, &rp.path, &item);
    let mut resp = json_response(StatusCode::CREATED, &v);
    if let Some(uri) = v["downloadUri"].as_str()
        && let Ok(loc) = uri.parse()
    {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(resp)
}

/// The `X-Checksum-*` headers, each checked to be hex of the right length.
fn expected_checksums(headers: &HeaderMap) -> ApiResult<Checksums> {
    let get = |name: &str, len: usize| -> ApiResult<Option<String>> {
        let Some(v) = headers.get(name) else {
            return Ok(None);
        };
        let v = v.to_str().unwrap_or("").trim().to_ascii_lowercase();
        if v.len() != len || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ApiError::bad_request(format!(
                "Header {name} must be {len} hexadecimal characters"
            )));
        }
        Ok(Some(v))
    };
    Ok(Checksums {
        sha1: get("x-checksum-sha1", 40)?,
        md5: get("x-checksum", 32)?.or(get("x-checksum-md5", 32)?),
        sha256: get("x-checksum-sha256", 64)?,
    })
}

async fn delete(state: &State, caller: &Caller, rp: &RepoPath) -> ApiResult<Response> {
    let repo = state.repos.local(&rp.repo)?;
    state.auth.authorize(caller, Action::Delete, &repo.key, &rp.path)?;
    state.artifacts.delete(&repo.key, &rp.path).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
