//! API keys (deprecated by JFrog, still accepted), encrypted passwords and account locks.

use axum::body::Bytes;
use axum::extract::{Path, State as Axs};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::typed_body;
use crate::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::{Query, State, json_response, text_response};

/// The caller's own account (not a group-scoped token).
fn own_user(state: &State, caller: &Caller) -> ApiResult<String> {
    let me = state.auth.require_user(caller)?;
    if !caller.user_grants {
        return Err(ApiError::forbidden("A group-scoped token has no user account"));
    }
    Ok(me.to_string())
}

/// GET: whether the caller has a key. The key itself is shown only when created.
pub async fn get_api_key(Axs(state): Axs<State>, caller: Caller) -> ApiResult<Response> {
    let me = own_user(&state, &caller)?;
    let d = state.auth.directory();
    let hint = d.users.get(&me).and_then(|u| u.api_key_hint.clone());
    Ok(json_response(
        StatusCode::OK,
        &match hint {
            Some(h) => json!({ "apiKey": h }),
            None => json!({}),
        },
    ))
}

pub async fn create_api_key(Axs(state): Axs<State>, caller: Caller) -> ApiResult<Response> {
    let me = own_user(&state, &caller)?;
    let key = state.auth.create_api_key(&me, false)?;
    Ok(json_response(StatusCode::CREATED, &json!({ "apiKey": key })))
}

pub async fn regenerate_api_key(Axs(state): Axs<State>, caller: Caller) -> ApiResult<Response> {
    let me = own_user(&state, &caller)?;
    let key = state.auth.create_api_key(&me, true)?;
    Ok(json_response(StatusCode::OK, &json!({ "apiKey": key })))
}

/// DELETE: the caller's key, or with `?deleteAll=1` (admins) every key.
pub async fn revoke_api_keys(Axs(state): Axs<State>, caller: Caller, q: Query) -> ApiResult<Response> {
    if q.flag("deleteAll") {
        state.auth.require_admin(&caller)?;
        let n = state.auth.revoke_api_keys(None)?;
        return Ok(json_response(
            StatusCode::OK,
            &json!({ "info": format!("{n} API keys revoked") }),
        ));
    }
    let me = own_user(&state, &caller)?;
    state.auth.revoke_api_keys(Some(&[me]))?;
    Ok(json_response(StatusCode::OK, &json!({ "info": "API key revoked" })))
}

pub async fn revoke_user_api_key(
    Axs(state): Axs<State>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    if !state.auth.directory().users.contains_key(&name) {
        return Err(ApiError::not_found(format!("User '{name}' does not exist")));
    }
    state.auth.revoke_api_keys(Some(&[name]))?;
    Ok(json_response(StatusCode::OK, &json!({ "info": "API key revoked" })))
}

/// The caller's encrypted password, usable in place of the password.
pub async fn encrypted_password(Axs(state): Axs<State>, caller: Caller) -> ApiResult<Response> {
    let me = own_user(&state, &caller)?;
    let d = state.auth.directory();
    let u = d
        .users
        .get(&me)
        .ok_or_else(|| ApiError::not_found(format!("User '{me}' does not exist")))?;
    Ok(text_response(StatusCode::OK, state.auth.encrypted_password(u)))
}

/// POST `["user", …]`: unlocks accounts locked by failed logins.
pub async fn unlock_users(Axs(state): Axs<State>, caller: Caller, body: Bytes) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let names: Vec<String> = typed_body(&body)?;
    state.auth.unlock(Some(&names));
    Ok(text_response(StatusCode::OK, String::new()))
}

pub async fn unlock_user(Axs(state): Axs<State>, caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    state.auth.unlock(Some(&[name]));
    Ok(text_response(StatusCode::OK, String::new()))
}

pub async fn unlock_all(Axs(state): Axs<State>, caller: Caller) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    state.auth.unlock(None);
    Ok(text_response(StatusCode::OK, String::new()))
}

pub async fn locked_users(Axs(state): Axs<State>, caller: Caller) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    Ok(json_response(StatusCode::OK, &json!(state.auth.locked_users())))
}
