//! Webhook subscriptions: `/event/api/v1/subscriptions[/{key}]`, with binyard's
//! delivery log (`…/{key}/deliveries`) and test delivery (`POST …/{key}/test`).

use axum::body::Bytes;
use axum::extract::{Path, State as Axs};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{State, json_response};
use crate::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::webhooks::subscriptions::Subscription;

fn body_json(body: &Bytes) -> ApiResult<Value> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("Malformed JSON body: {e}")))
}

pub async fn list(Axs(state): Axs<State>, caller: Caller) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let all: Vec<Value> = state.deliveries.list().iter().map(Subscription::to_json).collect();
    Ok(json_response(StatusCode::OK, &Value::Array(all)))
}

pub async fn create(Axs(state): Axs<State>, caller: Caller, body: Bytes) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let s = Subscription::from_json(&body_json(&body)?, None)?;
    state.deliveries.create(s.clone())?;
    Ok(json_response(StatusCode::CREATED, &s.to_json()))
}

pub async fn get_one(Axs(state): Axs<State>, caller: Caller, Path(key): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    Ok(json_response(StatusCode::OK, &state.deliveries.get(&key)?.to_json()))
}

pub async fn replace(
    Axs(state): Axs<State>,
    caller: Caller,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let s = Subscription::from_json(&body_json(&body)?, Some(&key))?;
    state.deliveries.replace(s)?;
    Ok(json_response(StatusCode::OK, &state.deliveries.get(&key)?.to_json()))
}

pub async fn delete(Axs(state): Axs<State>, caller: Caller, Path(key): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    state.deliveries.delete(&key)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn deliveries(Axs(state): Axs<State>, caller: Caller, Path(key): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let log = state.deliveries.log(&key)?;
    let v = serde_json::to_value(log).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(json_response(StatusCode::OK, &v))
}

pub async fn test(Axs(state): Axs<State>, caller: Caller, Path(key): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    Ok(json_response(StatusCode::OK, &state.deliveries.test(&key).await?))
}
