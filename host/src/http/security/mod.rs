//! The security APIs: users, groups, access tokens, API keys (Access API under
//! `/access/api/…`, also answered under `/artifactory/access/…`, and Artifactory's
//! `/artifactory/api/security/…`).

mod groups;
mod keys;
mod permissions;
mod projects;
mod tokens;
mod users;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use axum::routing::{delete, get, patch, post};
use base64::Engine;
use serde_json::{Map, Value};

use super::State;
use crate::auth::{Caller, Credentials};
use crate::http::error::{ApiError, ApiResult};

/// The security routes.
pub fn routes() -> Router<State> {
    let access = Router::new()
        .route("/api/v2/users", get(users::list_v2).post(users::create_v2))
        .route(
            "/api/v2/users/{name}",
            get(users::get_v2).patch(users::update_v2).delete(users::delete_v2),
        )
        .route("/api/v2/users/{name}/groups", patch(users::groups_v2))
        .route("/api/v2/groups", get(groups::list_v2).post(groups::create_v2))
        .route(
            "/api/v2/groups/{name}",
            get(groups::get_v2).patch(groups::update_v2).delete(groups::delete_v2),
        )
        .route("/api/v2/groups/{name}/members", patch(groups::members_v2))
        .route(
            "/api/v2/permissions",
            get(permissions::list_access).post(permissions::create_access),
        )
        .route(
            "/api/v2/permissions/{name}",
            get(permissions::get_access)
                .put(permissions::replace_access)
                .delete(permissions::delete_access),
        )
        .route("/api/v1/projects", get(projects::list).post(projects::create))
        .route(
            "/api/v1/projects/{key}",
            get(projects::get_one).put(projects::update).delete(projects::delete),
        )
        .route("/api/v1/projects/{key}/users", get(projects::users))
        .route(
            "/api/v1/projects/{key}/users/{name}",
            get(projects::get_user)
                .put(projects::put_user)
                .delete(projects::delete_user),
        )
        .route("/api/v1/projects/{key}/groups", get(projects::groups))
        .route(
            "/api/v1/projects/{key}/groups/{name}",
            get(projects::get_group)
                .put(projects::put_group)
                .delete(projects::delete_group),
        )
        .route("/api/v1/tokens", get(tokens::list).post(tokens::create))
        // Revocation by value (`token=…` in the body) beside revocation by id.
        .route(
            "/api/v1/tokens/revoke",
            post(tokens::revoke_legacy).delete(tokens::revoke_legacy),
        )
        .route("/api/v2/tokens", get(tokens::list).post(tokens::create))
        .route(
            "/api/v2/tokens/revoke",
            post(tokens::revoke_legacy).delete(tokens::revoke_legacy),
        )
        .route("/api/v1/tokens/{id}", get(tokens::get_one).delete(tokens::revoke))
        .route("/api/v2/tokens/{id}", get(tokens::get_one).delete(tokens::revoke));
    Router::new()
        .nest("/access", access.clone())
        .nest("/artifactory/access", access)
        .route("/artifactory/api/security/users", get(users::list_v1))
        .route(
            "/artifactory/api/security/users/{name}",
            get(users::get_v1)
                .put(users::put_v1)
                .post(users::update_v1)
                .delete(users::delete_v1),
        )
        .route("/artifactory/api/security/groups", get(groups::list_v1))
        .route(
            "/artifactory/api/security/groups/{name}",
            get(groups::get_v1)
                .put(groups::put_v1)
                .post(groups::update_v1)
                .delete(groups::delete_v1),
        )
        .route("/artifactory/api/v2/security/permissions", get(permissions::list_v2))
        .route(
            "/artifactory/api/v2/security/permissions/{name}",
            get(permissions::get_v2)
                .post(permissions::create_v2)
                .put(permissions::replace_v2)
                .delete(permissions::delete_v1v2),
        )
        .route("/artifactory/api/security/permissions", get(permissions::list_v1))
        .route(
            "/artifactory/api/security/permissions/{name}",
            get(permissions::get_v1)
                .put(permissions::replace_v2)
                .delete(permissions::delete_v1v2),
        )
        .route(
            "/artifactory/api/security/token",
            get(tokens::list_legacy).post(tokens::create_legacy),
        )
        .route("/artifactory/api/security/token/revoke", post(tokens::revoke_legacy))
        .route(
            "/artifactory/api/security/apiKey",
            get(keys::get_api_key)
                .post(keys::create_api_key)
                .put(keys::regenerate_api_key)
                .delete(keys::revoke_api_keys),
        )
        .route(
            "/artifactory/api/security/apiKey/{name}",
            delete(keys::revoke_user_api_key),
        )
        .route(
            "/artifactory/api/security/encryptedPassword",
            get(keys::encrypted_password),
        )
        .route("/artifactory/api/security/unlockUsers", post(keys::unlock_users))
        .route("/artifactory/api/security/unlockUsers/{name}", post(keys::unlock_user))
        .route("/artifactory/api/security/unlockAllUsers", post(keys::unlock_all))
        .route("/artifactory/api/security/lockedUsers", get(keys::locked_users))
}

/// A JSON object body, or a form body (`application/x-www-form-urlencoded`) as an
/// object of strings; a malformed body is a 400 that says why.
pub fn object_body(headers: &HeaderMap, body: &Bytes) -> ApiResult<Map<String, Value>> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form {
        let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("The form is not UTF-8"))?;
        let mut out = Map::new();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            out.insert(dec(k), Value::String(dec(v)));
        }
        return Ok(out);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_request("The body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("Malformed JSON body: {e}"))),
    }
}

/// Decodes a JSON body into `T`, naming the field at fault.
pub fn typed_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("A JSON body is required"));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let at = e.path().to_string();
        if at == "." {
            ApiError::bad_request(format!("Malformed JSON body: {}", e.inner()))
        } else {
            ApiError::bad_request(format!("Malformed JSON body: field '{at}': {}", e.inner()))
        }
    })
}

/// The security API bodies a fuzzer feeds to their decoders (the same functions the
/// handlers call, without the state they then change).
#[derive(Debug, Clone, Copy)]
pub enum BodyKind {
    User,
    Group,
    Members,
    Project,
    Roles,
    Permission,
    Token,
}

impl BodyKind {
    /// Every kind, for picking one from a fuzzer's byte.
    pub const ALL: [BodyKind; 7] = [
        BodyKind::User,
        BodyKind::Group,
        BodyKind::Members,
        BodyKind::Project,
        BodyKind::Roles,
        BodyKind::Permission,
        BodyKind::Token,
    ];
}

/// The credentials a request's headers carry: `X-JFrog-Art-Api`, else
/// `Authorization` (Basic or Bearer); malformed ones are a 401.
pub fn credentials(headers: &HeaderMap) -> ApiResult<Credentials> {
    if let Some(key) = headers.get("x-jfrog-art-api") {
        let key = key
            .to_str()
            .map_err(|_| ApiError::unauthorized("Malformed X-JFrog-Art-Api header"))?;
        return Ok(Credentials::ApiKey(key.trim().to_string()));
    }
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(Credentials::None);
    };
    let malformed = || ApiError::unauthorized("Malformed Authorization header");
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, rest) = value.split_once(' ').ok_or_else(malformed)?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(Credentials::Bearer(rest.trim().to_string()));
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(ApiError::unauthorized(format!(
            "Unsupported authentication scheme '{scheme}': use Basic or Bearer"
        )));
    }
    let malformed = || ApiError::unauthorized("Malformed Basic credentials");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(malformed)?;
    let (user, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    Ok(Credentials::Basic {
        user: user.to_string(),
        secret: secret.to_string(),
    })
}

/// The caller a request's headers identify: the standard headers first, then the
/// configured `credential_headers`.
pub async fn authenticate(state: &State, headers: &HeaderMap) -> ApiResult<Caller> {
    let mut creds = credentials(headers)?;
    if creds == Credentials::None {
        creds = header_credentials(&state.config.security.credential_headers, headers)?;
    }
    Ok(state.auth.authenticate(creds).await?)
}

/// Credentials in one of `names` (the first present): `user:password` (or a token
/// or API key after the colon) is a Basic login, a JWT an access token, anything
/// else an API key.
pub fn header_credentials(names: &[String], headers: &HeaderMap) -> ApiResult<Credentials> {
    let Some((name, value)) = names.iter().find_map(|n| headers.get(n.as_str()).map(|v| (n, v))) else {
        return Ok(Credentials::None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized(format!("Malformed {name} header")))?
        .trim();
    Ok(match value.split_once(':') {
        Some((user, secret)) if !user.is_empty() => Credentials::Basic {
            user: user.to_string(),
            secret: secret.to_string(),
        },
        _ if crate::auth::tokens::looks_like_jwt(value) => Credentials::Bearer(value.to_string()),
        _ => Credentials::ApiKey(value.to_string()),
    })
}

/// Decodes and checks one security API body as its handler would.
pub fn parse_body(kind: BodyKind, body: &[u8], form: bool) -> ApiResult<()> {
    let body = Bytes::copy_from_slice(body);
    match kind {
        BodyKind::User => typed_body::<crate::auth::UserChanges>(&body).map(drop),
        BodyKind::Group => typed_body::<crate::auth::GroupChanges>(&body).map(drop),
        BodyKind::Members => typed_body::<users::AddRemove>(&body).map(drop),
        BodyKind::Project => typed_body::<crate::auth::projects::ProjectChanges>(&body).map(drop),
        BodyKind::Roles => typed_body::<projects::Roles>(&body).map(drop),
        BodyKind::Permission => {
            let v: Value = typed_body(&body)?;
            crate::auth::permissions::PermissionTarget::from_json("fuzz", &v)
                .map(drop)
                .map_err(ApiError::from)
        }
        BodyKind::Token => {
            let mut headers = HeaderMap::new();
            if form {
                headers.insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
            }
            let m = object_body(&headers, &body)?;
            if let Some(Value::String(s)) = m.get("scope") {
                crate::auth::tokens::Scope::parse(s).map_err(ApiError::bad_request)?;
            }
            Ok(())
        }
    }
}
