//! Groups: `/access/api/v2/groups` and `/artifactory/api/security/groups`.

use axum::body::Bytes;
use axum::extract::{Path, State as Axs};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::typed_body;
use super::users::AddRemove;
use crate::auth::{Caller, Directory, Group, GroupChanges};
use crate::http::error::{ApiError, ApiResult};
use crate::http::{BaseUrl, State, json_response, text_response};

fn v2(g: &Group, d: &Directory) -> Value {
    json!({
        "name": g.name,
        "description": g.description,
        "auto_join": g.auto_join,
        "admin_privileges": g.admin_privileges,
        "realm": g.realm,
        "external_id": g.external_id,
        "members": d.members(&g.name),
    })
}

fn v1(g: &Group, d: &Directory) -> Value {
    json!({
        "name": g.name,
        "description": g.description,
        "autoJoin": g.auto_join,
        "adminPrivileges": g.admin_privileges,
        "realm": g.realm,
        "realmAttributes": g.external_id,
        "userNames": d.members(&g.name),
    })
}

fn find(d: &Directory, name: &str) -> ApiResult<Group> {
    d.groups
        .get(name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("Group '{name}' does not exist")))
}

pub async fn list_v2(Axs(state): Axs<State>, caller: Caller, BaseUrl(base): BaseUrl) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let d = state.auth.directory();
    let groups: Vec<Value> = d
        .groups
        .values()
        .map(|g| {
            let mut v = v2(g, &d);
            v["group_name"] = json!(g.name);
            v["uri"] = json!(format!("{base}/access/api/v2/groups/{}", g.name));
            v
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "groups": groups })))
}

pub async fn create_v2(Axs(state): Axs<State>, caller: Caller, body: Bytes) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let c: GroupChanges = typed_body(&body)?;
    let name = c
        .name
        .clone()
        .ok_or_else(|| ApiError::bad_request("The field 'name' is required"))?;
    state.auth.put_group(&name, c, false)?;
    let d = state.auth.directory();
    Ok(json_response(StatusCode::CREATED, &v2(&find(&d, &name)?, &d)))
}

pub async fn get_v2(Axs(state): Axs<State>, caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let d = state.auth.directory();
    Ok(json_response(StatusCode::OK, &v2(&find(&d, &name)?, &d)))
}

pub async fn update_v2(
    Axs(state): Axs<State>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    state.auth.update_group(&name, typed_body(&body)?)?;
    let d = state.auth.directory();
    Ok(json_response(StatusCode::OK, &v2(&find(&d, &name)?, &d)))
}

pub async fn delete_v2(Axs(state): Axs<State>, caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    state.auth.delete_group(&name)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// PATCH `groups/{name}/members` `{"add":[…],"remove":[…]}`.
pub async fn members_v2(
    Axs(state): Axs<State>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let c: AddRemove = typed_body(&body)?;
    state.auth.change_membership(&name, &c.add, &c.remove)?;
    let d = state.auth.directory();
    Ok(json_response(StatusCode::OK, &v2(&find(&d, &name)?, &d)))
}

pub async fn list_v1(Axs(state): Axs<State>, caller: Caller, BaseUrl(base): BaseUrl) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let groups: Vec<Value> = state
        .auth
        .directory()
        .groups
        .values()
        .map(|g| json!({"name": g.name, "uri": format!("{base}/artifactory/api/security/groups/{}", g.name)}))
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Array(groups)))
}

pub async fn get_v1(Axs(state): Axs<State>, caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let d = state.auth.directory();
    Ok(json_response(StatusCode::OK, &v1(&find(&d, &name)?, &d)))
}

/// PUT creates or replaces a group.
pub async fn put_v1(
    Axs(state): Axs<State>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let created = state.auth.put_group(&name, typed_body(&body)?, true)?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(text_response(status, String::new()))
}

pub async fn update_v1(
    Axs(state): Axs<State>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    state.auth.update_group(&name, typed_body(&body)?)?;
    let d = state.auth.directory();
    Ok(json_response(StatusCode::OK, &v1(&find(&d, &name)?, &d)))
}

pub async fn delete_v1(Axs(state): Axs<State>, caller: Caller, Path(name): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    state.auth.delete_group(&name)?;
    Ok(text_response(
        StatusCode::OK,
        format!("Group '{name}' has been removed successfully."),
    ))
}
