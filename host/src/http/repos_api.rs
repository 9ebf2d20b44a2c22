//! `/artifactory/api/repositories[/{key}]`: list, read, create, update, delete.

use axum::extract::{Path, State as Axs};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{BaseUrl, Query, State, json_response, text_response};
use crate::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::remote::RemoteSettings;
use crate::repos::{RClass, RepoConfig, validate_key};

/// Package types this server can serve: the host's own and those of loaded plugins.
fn known_types(state: &State) -> Vec<String> {
    let mut t = vec!["generic".to_string()];
    t.extend(state.plugins.package_types());
    t
}

/// GET list, filtered by `type` and `packageType`.
pub async fn list(Axs(state): Axs<State>, caller: Caller, BaseUrl(base): BaseUrl, q: Query) -> ApiResult<Response> {
    state.auth.require_access(&caller)?;
    let want_type = q.get("type").map(str::to_ascii_lowercase);
    let want_pkg = q.get("packageType").map(str::to_ascii_lowercase);
    let out: Vec<Value> = state
        .repos
        .all()
        .into_iter()
        .filter(|r| state.auth.can_browse(&caller, &r.key, ""))
        .filter(|r| {
            want_type
                .as_deref()
                .is_none_or(|t| r.rclass.upper().eq_ignore_ascii_case(t))
        })
        .filter(|r| {
            want_pkg
                .as_deref()
                .is_none_or(|p| r.package_type.eq_ignore_ascii_case(p))
        })
        .map(|r| {
            json!({
                "key": r.key,
                "type": r.rclass.upper(),
                "description": r.description,
                "url": r.url.clone().unwrap_or_else(|| format!("{base}/artifactory/{}", r.key)),
                "packageType": display_type(&r.package_type),
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Array(out)))
}

/// "maven" → "Maven", as Artifactory's list shows package types.
fn display_type(t: &str) -> String {
    let mut c = t.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

/// GET one configuration.
pub async fn get_one(Axs(state): Axs<State>, caller: Caller, Path(key): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let r = state.repos.existing(&key)?;
    let mut v = serde_json::to_value(r.as_ref()).map_err(|e| ApiError::internal(e.to_string()))?;
    // The upstream password is never shown; an update that omits it keeps it.
    if let Value::Object(m) = &mut v {
        m.remove("password");
    }
    Ok(json_response(StatusCode::OK, &v))
}

fn parse_body(body: &[u8]) -> ApiResult<serde_json::Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_request("The body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("Malformed JSON body: {e}"))),
    }
}

fn to_config(m: serde_json::Map<String, Value>) -> ApiResult<RepoConfig> {
    let mut cfg: RepoConfig = serde_json::from_value(Value::Object(m))
        .map_err(|e| ApiError::bad_request(format!("Invalid repository configuration: {e}")))?;
    cfg.package_type = cfg.package_type.to_ascii_lowercase();
    if cfg.rclass == RClass::Remote {
        // Stored filled in with the defaults, so GET shows the settings that apply.
        let settings = RemoteSettings::from_fields(&cfg.extra).map_err(|e| ApiError::bad_request(e.to_string()))?;
        settings.write_fields(&mut cfg.extra);
    }
    Ok(cfg)
}

/// PUT creates.
pub async fn create(
    Axs(state): Axs<State>,
    caller: Caller,
    Path(key): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    validate_key(&key)?;
    let mut m = parse_body(&body)?;
    match m.get("key") {
        None => {
            m.insert("key".into(), json!(key));
        }
        Some(Value::String(k)) if k == &key => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "The body's key {other} differs from the key '{key}' in the URL"
            )));
        }
    }
    m.entry("rclass").or_insert(json!("local"));
    m.entry("packageType").or_insert(json!("generic"));
    let cfg = to_config(m)?;
    if state.repos.all().iter().any(|r| r.key.eq_ignore_ascii_case(&key)) {
        return Err(ApiError::bad_request(format!("Repository '{key}' already exists")));
    }
    state.repos.validate(&cfg, &known_types(&state))?;
    state.repos.save(cfg)?;
    Ok(text_response(
        StatusCode::OK,
        format!("Successfully created repository '{key}'"),
    ))
}

/// POST updates the fields the body gives.
pub async fn update(
    Axs(state): Axs<State>,
    caller: Caller,
    Path(key): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let current = state.repos.existing(&key)?;
    let changes = parse_body(&body)?;
    let Value::Object(mut m) = serde_json::to_value(current.as_ref()).map_err(|e| ApiError::internal(e.to_string()))?
    else {
        return Err(ApiError::internal("configuration is not an object"));
    };
    for (k, v) in changes {
        m.insert(k, v);
    }
    let cfg = to_config(m)?;
    if cfg.key != current.key {
        return Err(ApiError::bad_request("A repository's key cannot be changed"));
    }
    if cfg.rclass != current.rclass {
        return Err(ApiError::bad_request("A repository's rclass cannot be changed"));
    }
    if cfg.package_type != current.package_type {
        return Err(ApiError::bad_request("A repository's packageType cannot be changed"));
    }
    state.repos.validate(&cfg, &known_types(&state))?;
    state.repos.save(cfg)?;
    Ok(text_response(
        StatusCode::OK,
        format!("Repository '{key}' update successfully."),
    ))
}

/// DELETE removes the repository, its content, and its place in virtual repositories.
pub async fn delete(Axs(state): Axs<State>, caller: Caller, Path(key): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    state.repos.existing(&key)?;
    for v in state.repos.all() {
        if v.rclass == RClass::Virtual && v.repositories.as_ref().is_some_and(|m| m.contains(&key)) {
            let mut cfg = v.as_ref().clone();
            cfg.repositories = cfg.repositories.map(|m| m.into_iter().filter(|x| x != &key).collect());
            if cfg.default_deployment_repo.as_deref() == Some(key.as_str()) {
                cfg.default_deployment_repo = None;
            }
            state.repos.save(cfg)?;
        }
    }
    let repos = state.repos.clone();
    let k = key.clone();
    crate::artifacts::blocking(move || repos.delete(&k)).await?;
    state.remote.forget(&key);
    Ok(text_response(
        StatusCode::OK,
        format!("Repository '{key}' and all its content have been removed successfully."),
    ))
}
