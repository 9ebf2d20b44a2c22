//! `/artifactory/api/retention/policies[/{key}[/run]]`: repository retention
//! policies (admins only), and running one, or its dry run.

use axum::body::Bytes;
use axum::extract::{Path, State as Axs};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{Query, State, json_response};
use crate::auth::Caller;
use crate::http::error::ApiResult;
use crate::retention::Policy;

/// Every policy.
pub async fn list(Axs(state): Axs<State>, caller: Caller) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    Ok(json_response(StatusCode::OK, &json!(state.retention.list()?)))
}

/// One policy.
pub async fn get_one(Axs(state): Axs<State>, caller: Caller, Path(key): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    Ok(json_response(StatusCode::OK, &json!(state.retention.get(&key)?)))
}

/// Creates (201) or replaces (200) a policy; `runAs` defaults to the caller.
pub async fn put(Axs(state): Axs<State>, caller: Caller, Path(key): Path<String>, body: Bytes) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let mut p = Policy::parse(&key, &body)?;
    if p.run_as.is_empty() {
        p.run_as = caller.name().to_string();
    }
    p.check(&state.repos, |u| state.auth.caller_named(u).is_some())?;
    let created = state.retention.put(&p)?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(json_response(status, &json!(p)))
}

/// Deletes a policy.
pub async fn delete(Axs(state): Axs<State>, caller: Caller, Path(key): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    state.retention.delete(&key)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Runs a policy now (`?dryRun=1`: decisions only).
pub async fn run(Axs(state): Axs<State>, caller: Caller, q: Query, Path(key): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let p = state.retention.get(&key)?;
    let report = state
        .retention
        .run_policy(&p, q.flag("dryRun") || q.flag("dry"))
        .await?;
    Ok(json_response(StatusCode::OK, &json!(report)))
}
