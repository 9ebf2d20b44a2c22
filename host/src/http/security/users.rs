//! Users: `/access/api/v2/users` and `/artifactory/api/security/users`.

use axum::body::Bytes;
use axum::extract::{Path, State as Axs};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::typed_body;
use crate::auth::{Caller, User, UserChanges};
use crate::http::error::{ApiError, ApiResult};
use crate::http::{BaseUrl, State, json_response, text_response};

fn status(u: &User) -> &'static str {
    if u.disabled { "disabled" } else { "enabled" }
}

/// The Access API's form of a user (no secret ever).
fn v2(u: &User) -> Value {
    json!({
        "username": u.name,
        "email": u.email,
        "admin": u.admin,
        "profile_updatable": u.profile_updatable,
        "disable_ui_access": u.disable_ui_access,
        "internal_password_disabled": u.internal_password_disabled,
        "realm": "internal",
        "status": status(u),
        "groups": u.groups,
    })
}

/// Artifactory's form of a user.
fn v1(u: &User) -> Value {
    json!({
        "name": u.name,
        "email": u.email,
        "admin": u.admin,
        "profileUpdatable": u.profile_updatable,
        "disableUIAccess": u.disable_ui_access,
        "internalPasswordDisabled": u.internal_password_disabled,
        "realm": "internal",
        "status": status(u),
        "groups": u.groups,
        "offlineMode": false,
    })
}

/// Admins see everyone; a user may read their own record.
fn may_read(state: &State, caller: &Caller, name: &str) -> ApiResult<()> {
    if caller.user.as_deref() == Some(name) && caller.user_grants {
        return Ok(());
    }
    Ok(state.auth.require_admin(caller)?)
}

fn find(state: &State, name: &str) -> ApiResult<User> {
    state
        .auth
        .directory()
        .users
        .get(name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("User '{name}' does not exist")))
}

pub async fn list_v2(Axs(state): Axs<State>, caller: Caller, BaseUrl(base): BaseUrl) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let users: Vec<Value> = state
        .auth
        .directory()
        .users
        .values()
        .map(|u| {
            let mut v = v2(u);
            v["uri"] = json!(format!("{base}/access/api/v2/users/{}", u.name));
            v
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "users": users })))
}

pub async fn create_v2(Axs(state): Axs<State>, caller: Caller, body: Bytes) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let c: UserChanges = typed_body(&body)?;
    let name = c
        .username
        .clone()
        .ok_or_else(|| ApiError::bad_request("The field 'username' is required"))?;
    if c.email.as_deref().is_none_or(|e| !e.contains('@')) {
        return Err(ApiError::bad_request(
            "The field 'email' is required and must be an e-mail address",
        ));
    }
    let auth = state.auth.clone();
    let u = crate::artifacts::blocking(move || auth.create_user(&name, c)).await?;
    Ok(json_response(StatusCode::CREATED, &v2(&u)))
}

pub async fn get_v2(Axs(state): Axs<State>, caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    may_read(&state, &caller, &name)?;
    Ok(json_response(StatusCode::OK, &v2(&find(&state, &name)?)))
}

pub async fn update_v2(
    Axs(state): Axs<State>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let c: UserChanges = typed_body(&body)?;
    let auth = state.auth.clone();
    let u = crate::artifacts::blocking(move || auth.update_user(&name, c)).await?;
    Ok(json_response(StatusCode::OK, &v2(&u)))
}

pub async fn delete_v2(Axs(state): Axs<State>, caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    state.auth.delete_user(&name)?;
    Ok(axum::response::IntoResponse::into_response(StatusCode::NO_CONTENT))
}

#[derive(Deserialize)]
pub struct AddRemove {
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

/// PATCH `users/{name}/groups` `{"add":[…],"remove":[…]}`.
pub async fn groups_v2(
    Axs(state): Axs<State>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let c: AddRemove = typed_body(&body)?;
    let mut u = find(&state, &name)?;
    u.groups.extend(c.add);
    for g in &c.remove {
        u.groups.remove(g);
    }
    let changes = UserChanges {
        groups: Some(u.groups.into_iter().collect()),
        ..Default::default()
    };
    let u = state.auth.update_user(&name, changes)?;
    Ok(json_response(StatusCode::OK, &v2(&u)))
}

pub async fn list_v1(Axs(state): Axs<State>, caller: Caller, BaseUrl(base): BaseUrl) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let users: Vec<Value> = state
        .auth
        .directory()
        .users
        .values()
        .map(|u| {
            json!({
                "name": u.name,
                "uri": format!("{base}/artifactory/api/security/users/{}", u.name),
                "realm": "internal",
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Array(users)))
}

pub async fn get_v1(Axs(state): Axs<State>, caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    may_read(&state, &caller, &name)?;
    Ok(json_response(StatusCode::OK, &v1(&find(&state, &name)?)))
}

/// PUT creates the user, or replaces an existing one's settings.
pub async fn put_v1(
    Axs(state): Axs<State>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let c: UserChanges = typed_body(&body)?;
    if c.username.as_deref().is_some_and(|n| n != name) {
        return Err(ApiError::bad_request(format!(
            "The body names user '{}' but the path '{name}'",
            c.username.as_deref().unwrap_or_default()
        )));
    }
    let exists = state.auth.directory().users.contains_key(&name);
    let auth = state.auth.clone();
    if exists {
        crate::artifacts::blocking(move || auth.update_user(&name, c)).await?;
        Ok(text_response(StatusCode::OK, String::new()))
    } else {
        crate::artifacts::blocking(move || auth.create_user(&name, c)).await?;
        Ok(text_response(StatusCode::CREATED, String::new()))
    }
}

pub async fn update_v1(
    Axs(state): Axs<State>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let c: UserChanges = typed_body(&body)?;
    let auth = state.auth.clone();
    let u = crate::artifacts::blocking(move || auth.update_user(&name, c)).await?;
    Ok(json_response(StatusCode::OK, &v1(&u)))
}

pub async fn delete_v1(Axs(state): Axs<State>, caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    state.auth.delete_user(&name)?;
    Ok(text_response(
        StatusCode::OK,
        format!("The user: '{name}' has been removed successfully."),
    ))
}
