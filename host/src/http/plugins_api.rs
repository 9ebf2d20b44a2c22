//! `/artifactory/api/plugins[/{name}[/reload]]`: list, install or replace, remove, reload.

use axum::body::Body;
use axum::extract::{Path, State as Axs};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{State, json_response};
use crate::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::plugins::{CallError, PluginError};

/// The status a client of a failed plugin call gets: the one place this mapping lives
/// (the plugins API and the format routes both use it).
pub fn call_status(e: &CallError) -> u16 {
    match e {
        CallError::Busy(_) => 503,
        CallError::Timeout(_) => 504,
        CallError::Failed(_) => 500,
    }
}

/// The client's error for a plugins-service failure.
impl From<PluginError> for ApiError {
    fn from(e: PluginError) -> Self {
        let status = match &e {
            PluginError::Invalid(_) => 400,
            PluginError::NotFound(_) => 404,
            PluginError::Conflict(_) => 409,
            PluginError::Internal(_) => 500,
            PluginError::Unavailable(_) => 503,
            PluginError::Refused { status, .. } => *status,
            PluginError::Call(c) => call_status(c),
        };
        ApiError::with_status(status, e.to_string())
    }
}

/// The client's error for a plugin call that gave no answer.
impl From<CallError> for ApiError {
    fn from(e: CallError) -> Self {
        ApiError::with_status(call_status(&e), e.to_string())
    }
}

/// The largest `.wasm` accepted.
const MAX_WASM: usize = 128 << 20;

fn to_json(p: &crate::plugins::LoadedPlugin) -> ApiResult<serde_json::Value> {
    serde_json::to_value(p).map_err(|e| ApiError::internal(e.to_string()))
}

/// GET every loaded plugin.
pub async fn list(Axs(state): Axs<State>, caller: Caller) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let all = state
        .plugins
        .list()
        .iter()
        .map(|p| to_json(p))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(json_response(StatusCode::OK, &serde_json::Value::Array(all)))
}

/// GET one plugin.
pub async fn get_one(Axs(state): Axs<State>, caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let p = state
        .plugins
        .get(&name)
        .ok_or_else(|| ApiError::not_found(format!("No plugin named '{name}'")))?;
    Ok(json_response(StatusCode::OK, &to_json(&p)?))
}

/// PUT a `.wasm`: 201 when new, 200 when it replaced a version; 400 (nothing changed) when invalid.
pub async fn install(
    Axs(state): Axs<State>,
    caller: Caller,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let wasm = axum::body::to_bytes(body, MAX_WASM)
        .await
        .map_err(|e| ApiError::bad_request(format!("Cannot read the plugin (at most {MAX_WASM} bytes): {e}")))?;
    if wasm.is_empty() {
        return Err(ApiError::bad_request(
            "The body must be a WebAssembly component (.wasm)",
        ));
    }
    let (p, replaced) = state.plugins.install(&name, wasm.to_vec(), true).await?;
    let status = if replaced { StatusCode::OK } else { StatusCode::CREATED };
    Ok(json_response(status, &to_json(&p)?))
}

/// DELETE unloads the plugin and removes its file.
pub async fn remove(Axs(state): Axs<State>, caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    state.plugins.remove(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// POST reloads the plugin from its file.
pub async fn reload(Axs(state): Axs<State>, caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let p = state.plugins.reload(&name).await?;
    Ok(json_response(StatusCode::OK, &to_json(&p)?))
}
