//! Projects and their members: `/access/api/v1/projects[/{key}[/users|groups/{name}]]`.

use axum::body::Bytes;
use axum::extract::{Path, State as Axs};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::typed_body;
use crate::auth::Caller;
use crate::auth::projects::{Project, ProjectChanges};
use crate::http::error::{ApiError, ApiResult};
use crate::http::{State, json_response};

fn find(state: &State, key: &str) -> ApiResult<Project> {
    state
        .auth
        .directory()
        .projects
        .get(key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("Project '{key}' does not exist")))
}

pub async fn list(Axs(state): Axs<State>, caller: Caller) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let all: Vec<Value> = state.auth.directory().projects.values().map(Project::to_json).collect();
    Ok(json_response(StatusCode::OK, &Value::Array(all)))
}

pub async fn create(Axs(state): Axs<State>, caller: Caller, body: Bytes) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let p = state.auth.create_project(typed_body(&body)?)?;
    Ok(json_response(StatusCode::CREATED, &p.to_json()))
}

pub async fn get_one(Axs(state): Axs<State>, caller: Caller, Path(key): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    Ok(json_response(StatusCode::OK, &find(&state, &key)?.to_json()))
}

pub async fn update(
    Axs(state): Axs<State>,
    caller: Caller,
    Path(key): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    let c: ProjectChanges = typed_body(&body)?;
    Ok(json_response(
        StatusCode::OK,
        &state.auth.update_project(&key, c)?.to_json(),
    ))
}

pub async fn delete(Axs(state): Axs<State>, caller: Caller, Path(key): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    state.auth.delete_project(&key)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
pub struct Roles {
    roles: Vec<String>,
}

fn members_json(members: &std::collections::BTreeMap<String, Vec<String>>) -> Value {
    json!({"members": members.iter().map(|(n, r)| json!({"name": n, "roles": r})).collect::<Vec<_>>()})
}

pub async fn users(Axs(state): Axs<State>, caller: Caller, Path(key): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    Ok(json_response(StatusCode::OK, &members_json(&find(&state, &key)?.users)))
}

pub async fn groups(Axs(state): Axs<State>, caller: Caller, Path(key): Path<String>) -> ApiResult<Response> {
    state.auth.require_admin(&caller)?;
    Ok(json_response(
        StatusCode::OK,
        &members_json(&find(&state, &key)?.groups),
    ))
}

fn member(state: &State, caller: &Caller, key: &str, name: &str, group: bool) -> ApiResult<Response> {
    state.auth.require_admin(caller)?;
    let p = find(state, key)?;
    let members = if group { &p.groups } else { &p.users };
    let roles = members
        .get(name)
        .ok_or_else(|| ApiError::not_found(format!("'{name}' is not a member of project '{key}'")))?;
    Ok(json_response(StatusCode::OK, &json!({"name": name, "roles": roles})))
}

fn set_member(state: &State, caller: &Caller, key: &str, name: &str, body: &Bytes, group: bool) -> ApiResult<Response> {
    state.auth.require_admin(caller)?;
    let r: Roles = typed_body(body)?;
    state.auth.set_project_member(key, group, name, Some(r.roles.clone()))?;
    Ok(json_response(StatusCode::OK, &json!({"name": name, "roles": r.roles})))
}

fn remove_member(state: &State, caller: &Caller, key: &str, name: &str, group: bool) -> ApiResult<Response> {
    state.auth.require_admin(caller)?;
    state.auth.set_project_member(key, group, name, None)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn get_user(
    Axs(state): Axs<State>,
    caller: Caller,
    Path((key, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    member(&state, &caller, &key, &name, false)
}

pub async fn put_user(
    Axs(state): Axs<State>,
    caller: Caller,
    Path((key, name)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    set_member(&state, &caller, &key, &name, &body, false)
}

pub async fn delete_user(
    Axs(state): Axs<State>,
    caller: Caller,
    Path((key, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    remove_member(&state, &caller, &key, &name, false)
}

pub async fn get_group(
    Axs(state): Axs<State>,
    caller: Caller,
    Path((key, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    member(&state, &caller, &key, &name, true)
}

pub async fn put_group(
    Axs(state): Axs<State>,
    caller: Caller,
    Path((key, name)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    set_member(&state, &caller, &key, &name, &body, true)
}

pub async fn delete_group(
    Axs(state): Axs<State>,
    caller: Caller,
    Path((key, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    remove_member(&state, &caller, &key, &name, true)
}
