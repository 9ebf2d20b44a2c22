//! Access tokens: `/access/api/v1|v2/tokens` (also under `/artifactory/access`) and the
//! older `/artifactory/api/security/token`. The token itself is shown once, at creation.

use axum::body::Bytes;
use axum::extract::{Path, State as Axs};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::object_body;
use crate::auth::{Caller, IssuedToken, NewToken, Scope, TokenRecord};
use crate::http::error::{ApiError, ApiResult};
use crate::http::{State, json_response, text_response};

fn field_str(m: &Map<String, Value>, k: &str) -> ApiResult<Option<String>> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(ApiError::bad_request(format!(
            "The field '{k}' must be a string, not {v}"
        ))),
    }
}

fn field_u64(m: &Map<String, Value>, k: &str) -> ApiResult<Option<u64>> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
        Some(Value::String(s)) if s.trim().parse::<u64>().is_ok() => Ok(s.trim().parse().ok()),
        Some(v) => Err(ApiError::bad_request(format!(
            "The field '{k}' must be a whole number of seconds, not {v}"
        ))),
    }
}

fn field_bool(m: &Map<String, Value>, k: &str) -> ApiResult<bool> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        // Form bodies from Python clients say "True"/"False".
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") => {
            Ok(s.eq_ignore_ascii_case("true"))
        }
        Some(v) => Err(ApiError::bad_request(format!(
            "The field '{k}' must be true or false, not {v}"
        ))),
    }
}

/// The user name of a subject, which may be given whole (`jfac@…/users/NAME`).
fn subject_user(s: &str) -> &str {
    s.rsplit_once("/users/").map_or(s, |(_, n)| n)
}

/// Who may create which token: admins any; a user only for themselves, with their own
/// permissions or a subset of their groups.
fn check_grant(caller: &Caller, username: &str, scope: &Scope) -> ApiResult<()> {
    // A registry token is limited to some repositories: it makes no wider token.
    if caller.repos.is_some() {
        return Err(ApiError::forbidden(
            "A registry token cannot create access tokens: use a password or an access token",
        ));
    }
    if caller.full_admin() {
        return Ok(());
    }
    let me = caller
        .user
        .as_deref()
        .ok_or_else(|| ApiError::unauthorized("Authentication is required"))?;
    if me != username {
        return Err(ApiError::forbidden(
            "Only an administrator can create tokens for another user",
        ));
    }
    match scope {
        Scope::User if caller.user_grants => Ok(()),
        Scope::Groups(gs) if gs.iter().all(|g| caller.groups.contains(g)) => Ok(()),
        Scope::Admin => Err(ApiError::forbidden("Only an administrator can create admin tokens")),
        _ => Err(ApiError::forbidden(
            "A token cannot carry permissions its creator does not have",
        )),
    }
}

/// Creates or refreshes a token from the fields of a request body.
fn create_from(state: &State, caller: &Caller, m: &Map<String, Value>, scope: String) -> ApiResult<IssuedToken> {
    if field_str(m, "grant_type")?.as_deref() == Some("refresh_token") {
        let refresh = field_str(m, "refresh_token")?
            .ok_or_else(|| ApiError::bad_request("The field 'refresh_token' is required to refresh"))?;
        return state
            .auth
            .refresh_token(field_str(m, "access_token")?.as_deref(), &refresh)
            .map_err(ApiError::from);
    }
    let me = state.auth.require_user(caller)?.to_string();
    let username = field_str(m, "username")?
        .or(field_str(m, "subject")?)
        .map(|s| subject_user(&s).to_string())
        .unwrap_or(me);
    let parsed = Scope::parse(&scope).map_err(ApiError::bad_request)?;
    check_grant(caller, &username, &parsed)?;
    state
        .auth
        .issue_token(NewToken {
            username,
            scope,
            expires_in: field_u64(m, "expires_in")?,
            refreshable: field_bool(m, "refreshable")?,
            description: field_str(m, "description")?.unwrap_or_default(),
            audience: field_str(m, "audience")?,
        })
        .map_err(ApiError::from)
}

fn issued_json(t: &IssuedToken) -> Value {
    let mut v = json!({
        "token_id": t.record.id,
        "access_token": t.access_token,
        "scope": t.record.scope,
        "token_type": "Bearer",
        "username": t.record.username,
    });
    if t.record.expiry > 0 {
        v["expires_in"] = json!(t.record.expiry - t.record.issued_at);
    }
    if let Some(r) = &t.refresh_token {
        v["refresh_token"] = json!(r);
    }
    if !t.record.description.is_empty() {
        v["description"] = json!(t.record.description);
    }
    v
}

fn info_json(state: &State, r: &TokenRecord) -> Value {
    let issuer = state.auth.token_issuer();
    let mut v = json!({
        "token_id": r.id,
        "subject": format!("{issuer}/users/{}", r.username),
        "issued_at": r.issued_at,
        "issuer": issuer,
        "description": r.description,
        "refreshable": r.refreshable,
        "scope": r.scope,
    });
    if r.expiry > 0 {
        v["expiry"] = json!(r.expiry);
    }
    v
}

/// The tokens a caller may see: all for admins, their own otherwise.
fn visible(state: &State, caller: &Caller) -> ApiResult<Vec<TokenRecord>> {
    let me = state.auth.require_user(caller)?;
    Ok(state
        .auth
        .directory()
        .tokens
        .values()
        .filter(|t| caller.full_admin() || t.username == me)
        .cloned()
        .collect())
}

fn find_visible(state: &State, caller: &Caller, id: &str) -> ApiResult<TokenRecord> {
    let me = state.auth.require_user(caller)?;
    state
        .auth
        .directory()
        .tokens
        .get(id)
        .filter(|t| caller.full_admin() || t.username == me || caller.token_id.as_deref() == Some(id))
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("Token '{id}' does not exist")))
}

pub async fn create(Axs(state): Axs<State>, caller: Caller, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    let m = object_body(&headers, &body)?;
    let scope = field_str(&m, "scope")?.unwrap_or_else(|| "applied-permissions/user".into());
    let t = create_from(&state, &caller, &m, scope)?;
    Ok(json_response(StatusCode::OK, &issued_json(&t)))
}

pub async fn list(Axs(state): Axs<State>, caller: Caller) -> ApiResult<Response> {
    let tokens: Vec<Value> = visible(&state, &caller)?.iter().map(|r| info_json(&state, r)).collect();
    Ok(json_response(StatusCode::OK, &json!({ "tokens": tokens })))
}

pub async fn get_one(Axs(state): Axs<State>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    let r = find_visible(&state, &caller, &id)?;
    Ok(json_response(StatusCode::OK, &info_json(&state, &r)))
}

pub async fn revoke(Axs(state): Axs<State>, caller: Caller, Path(id): Path<String>) -> ApiResult<Response> {
    find_visible(&state, &caller, &id)?;
    state.auth.revoke_token(&id)?;
    Ok(text_response(StatusCode::OK, "Token revoked".into()))
}

/// `POST /artifactory/api/security/token` (form): scopes `member-of-groups:a,b` and `api:*`.
pub async fn create_legacy(
    Axs(state): Axs<State>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let m = object_body(&headers, &body)?;
    let raw = field_str(&m, "scope")?.unwrap_or_default();
    let mut groups: Vec<String> = Vec::new();
    let mut other: Vec<String> = Vec::new();
    for part in raw.split_whitespace() {
        match part.strip_prefix("member-of-groups:") {
            Some("*") => groups.extend(caller.groups.iter().cloned()),
            Some(list) => groups.extend(list.split(',').map(|g| g.trim().to_string())),
            None if part.starts_with("api:") => {}
            None => other.push(part.to_string()),
        }
    }
    let scope = if !other.is_empty() {
        other.join(" ")
    } else if !groups.is_empty() {
        format!("applied-permissions/groups:{}", groups.join(","))
    } else {
        "applied-permissions/user".into()
    };
    let t = create_from(&state, &caller, &m, scope)?;
    let mut v = issued_json(&t);
    v["scope"] = json!(if raw.is_empty() { t.record.scope.clone() } else { raw });
    Ok(json_response(StatusCode::OK, &v))
}

pub async fn list_legacy(Axs(state): Axs<State>, caller: Caller) -> ApiResult<Response> {
    let issuer = state.auth.token_issuer();
    let tokens: Vec<Value> = visible(&state, &caller)?
        .iter()
        .map(|r| {
            json!({
                "token_id": r.id,
                "issuer": issuer,
                "subject": format!("{issuer}/users/{}", r.username),
                "expiry": r.expiry,
                "refreshable": r.refreshable,
                "issued_at": r.issued_at,
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "tokens": tokens })))
}

/// `POST /artifactory/api/security/token/revoke` with `token=…` or `token_id=…`.
pub async fn revoke_legacy(
    Axs(state): Axs<State>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let m = object_body(&headers, &body)?;
    let id = match (field_str(&m, "token_id")?, field_str(&m, "token")?) {
        (Some(id), _) => id,
        (None, Some(t)) => state.auth.token_id_of(&t)?,
        (None, None) => return Err(ApiError::bad_request("Give the token ('token') or its id ('token_id')")),
    };
    find_visible(&state, &caller, &id)?;
    state.auth.revoke_token(&id)?;
    Ok(text_response(StatusCode::OK, "Token revoked".into()))
}
