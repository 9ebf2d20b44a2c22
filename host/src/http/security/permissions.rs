//! Permission targets: `/access/api/v2/permissions`, `/artifactory/api/v2/security/permissions`
//! and `/artifactory/api/security/permissions`, one store behind three JSON shapes.

use axum::body::Bytes;
use axum::extract::{Path, State as Axs};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::typed_body;
use crate::auth::{Caller, PermissionTarget};
use crate::http::error::{ApiError, ApiResult};
use crate::http::{BaseUrl, State, json_response, text_response};

/// Which API shape an endpoint speaks.
#[derive(Clone, Copy)]
enum Shape {
    Access,
    V2,
    V1,
}

impl Shape {
    fn render(self, t: &PermissionTarget) -> Value {
        match self {
            Shape::Access => t.to_access(),
            Shape::V2 => t.to_v2(),
            Shape::V1 => t.to_v1(),
        }
    }
    fn uri(self, base: &str, name: &str) -> String {
        let enc = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
        match self {
            Shape::Access => format!("{base}/access/api/v2/permissions/{enc}"),
            Shape::V2 => format!("{base}/artifactory/api/v2/security/permissions/{enc}"),
            Shape::V1 => format!("{base}/artifactory/api/security/permissions/{enc}"),
        }
    }
}

fn find(state: &State, name: &str) -> ApiResult<PermissionTarget> {
    state
        .auth
        .directory()
        .permissions
        .get(name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("Permission target '{name}' does not exist")))
}

fn list(state: &State, caller: &Caller, base: &str, shape: Shape) -> ApiResult<Response> {
    state.auth.require_admin(caller)?;
    let items: Vec<Value> = state
        .auth
        .directory()
        .permissions
        .keys()
        .map(|n| json!({"name": n, "uri": shape.uri(base, n)}))
        .collect();
    Ok(match shape {
        Shape::Access => json_response(StatusCode::OK, &json!({ "permissions": items })),
        _ => json_response(StatusCode::OK, &Value::Array(items)),
    })
}

fn get(state: &State, caller: &Caller, name: &str, shape: Shape) -> ApiResult<Response> {
    state.auth.require_admin(caller)?;
    Ok(json_response(StatusCode::OK, &shape.render(&find(state, name)?)))
}

fn put(state: &State, caller: &Caller, name: &str, body: &Bytes, replace: bool) -> ApiResult<bool> {
    state.auth.require_admin(caller)?;
    let v: Value = typed_body(body)?;
    let t = PermissionTarget::from_json(name, &v)?;
    Ok(state.auth.put_permission(t, replace)?)
}

pub async fn list_access(Axs(state): Axs<State>, caller: Caller, BaseUrl(base): BaseUrl) -> ApiResult<Response> {
    list(&state, &caller, &base, Shape::Access)
}

/// POST creates; the name is in the body.
pub async fn create_access(Axs(state): Axs<State>, caller: Caller, body: Bytes) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let v: Value = typed_body(&body)?;
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("The field 'name' is required"))?
        .to_string();
    state
        .auth
        .put_permission(PermissionTarget::from_json(&name, &v)?, false)?;
    Ok(json_response(StatusCode::CREATED, &find(&state, &name)?.to_access()))
}

pub async fn get_access(Axs(state): Axs<State>, caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    get(&state, &caller, &name, Shape::Access)
}

pub async fn replace_access(
    Axs(state): Axs<State>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    if !state.auth.directory().permissions.contains_key(&name) {
        state.auth.require_admin(&caller)?;
        return Err(ApiError::not_found(format!(
            "Permission target '{name}' does not exist"
        )));
    }
    put(&state, &caller, &name, &body, true)?;
    Ok(json_response(StatusCode::OK, &find(&state, &name)?.to_access()))
}

pub async fn delete_access(Axs(state): Axs<State>, caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    state.auth.delete_permission(&name)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list_v2(Axs(state): Axs<State>, caller: Caller, BaseUrl(base): BaseUrl) -> ApiResult<Response> {
    list(&state, &caller, &base, Shape::V2)
}

pub async fn get_v2(Axs(state): Axs<State>, caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    get(&state, &caller, &name, Shape::V2)
}

/// POST creates (409 if it exists).
pub async fn create_v2(
    Axs(state): Axs<State>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    put(&state, &caller, &name, &body, false)?;
    Ok(text_response(StatusCode::CREATED, String::new()))
}

/// PUT creates or replaces.
pub async fn replace_v2(
    Axs(state): Axs<State>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let created = put(&state, &caller, &name, &body, true)?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(text_response(status, String::new()))
}

pub async fn delete_v1v2(Axs(state): Axs<State>, caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    state.auth.delete_permission(&name)?;
    Ok(text_response(
        StatusCode::OK,
        format!("Permission Target '{name}' has been removed successfully."),
    ))
}

pub async fn list_v1(Axs(state): Axs<State>, caller: Caller, BaseUrl(base): BaseUrl) -> ApiResult<Response> {
    list(&state, &caller, &base, Shape::V1)
}

pub async fn get_v1(Axs(state): Axs<State>, caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    get(&state, &caller, &name, Shape::V1)
}
