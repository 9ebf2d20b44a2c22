//! HTTP: one module per API area; handlers parse, authorize, call the domain and
//! shape the answer.

mod artifacts;
mod builds;
pub mod download;
pub mod error;
mod events_api;
mod formats;
pub mod hot;
mod limits;
pub use limits::check_path;
pub mod listener;
pub mod observe;
mod plugins_api;
mod remote;
mod repos_api;
mod retention_api;
mod root_paths;
mod search;
pub mod security;
pub mod serve;
mod storage_api;
mod system;
mod transfer;
pub mod ui;
mod zero_copy;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri, header};
use axum::routing::{any, get, patch, post};
use percent_encoding::percent_decode_str;
use tower_http::trace::TraceLayer;

use crate::auth::Caller;
use crate::http::error::ApiError;
use crate::server::AppState;

/// Shared state as handlers receive it.
pub type State = Arc<AppState>;

/// Every route of the server.
pub fn router(state: State) -> Router {
    let mib = |n: u64| usize::try_from(n.saturating_mul(1024 * 1024)).unwrap_or(usize::MAX);
    let json_limit = DefaultBodyLimit::max(mib(state.config.http.max_json_body_mib));
    let build_limit = DefaultBodyLimit::max(mib(state.config.http.max_build_body_mib));
    Router::new()
        .route("/artifactory/api/system/ping", get(system::ping))
        .route("/artifactory/api/system/version", get(system::version))
        .route("/artifactory/api/system/storage/gc", post(system::gc))
        .route("/artifactory/api/storageinfo", get(system::storage_info))
        .route("/router/api/v1/system/ping", get(system::ping))
        .route("/router/api/v1/system/health", get(system::health))
        .route("/metrics", get(observe::metrics))
        .route("/", get(ui::root))
        .route("/ui", get(ui::root))
        .route("/ui/", get(ui::asset))
        .route("/ui/{*path}", get(ui::asset))
        .route("/ui/api/login", post(ui::login))
        .route("/ui/api/session", get(ui::session))
        .route("/ui/api/logout", post(ui::logout))
        .route("/artifactory/api/repositories", get(repos_api::list))
        .route(
            "/artifactory/api/repositories/{key}",
            get(repos_api::get_one)
                .put(repos_api::create)
                .post(repos_api::update)
                .delete(repos_api::delete),
        )
        .route(
            "/artifactory/api/storage/{*rest}",
            get(storage_api::get)
                .put(storage_api::set_properties)
                .delete(storage_api::delete_properties),
        )
        .route("/artifactory/api/metadata/{*rest}", patch(storage_api::patch_metadata))
        .route("/artifactory/api/copy/{*rest}", post(transfer::copy))
        .route("/artifactory/api/move/{*rest}", post(transfer::move_))
        .route("/artifactory/api/plugins", get(plugins_api::list))
        .route(
            "/artifactory/api/plugins/{name}",
            get(plugins_api::get_one)
                .put(plugins_api::install)
                .delete(plugins_api::remove),
        )
        .route("/artifactory/api/plugins/{name}/reload", post(plugins_api::reload))
        .route("/artifactory/api/search/aql", post(search::aql))
        .route("/artifactory/api/search/artifact", get(search::artifact))
        .route("/artifactory/api/search/prop", get(search::prop))
        .route("/artifactory/api/search/checksum", get(search::checksum))
        .route("/artifactory/api/search/gavc", get(search::gavc))
        .route("/artifactory/api/search/dates", get(search::dates))
        .route("/artifactory/api/search/creation", get(search::creation))
        .route("/artifactory/api/search/usage", get(search::usage))
        .route("/artifactory/api/search/pattern", get(search::pattern))
        .route("/artifactory/api/search/latestVersion", get(search::latest_version))
        .route(
            "/artifactory/api/build",
            get(builds::list).put(builds::publish).layer(build_limit),
        )
        .route("/artifactory/api/build/delete", post(builds::delete_by_body))
        .route("/artifactory/api/build/rename/{name}", post(builds::rename))
        .route("/artifactory/api/build/promote/{name}/{number}", post(builds::promote))
        .route("/artifactory/api/build/diff/{name}/{number}", get(builds::diff))
        .route(
            "/artifactory/api/build/retention/{name}",
            get(builds::get_retention).post(builds::set_retention),
        )
        .route(
            "/artifactory/api/build/{name}",
            get(builds::runs).delete(builds::delete),
        )
        .route("/artifactory/api/build/{name}/{number}", get(builds::get_run))
        .route("/artifactory/api/retention/policies", get(retention_api::list))
        .route(
            "/artifactory/api/retention/policies/{key}",
            get(retention_api::get_one)
                .put(retention_api::put)
                .delete(retention_api::delete),
        )
        .route(
            "/artifactory/api/retention/policies/{key}/run",
            post(retention_api::run),
        )
        .merge(security::routes())
        .route(
            "/event/api/v1/subscriptions",
            get(events_api::list).post(events_api::create),
        )
        .route(
            "/event/api/v1/subscriptions/{key}",
            get(events_api::get_one)
                .put(events_api::replace)
                .delete(events_api::delete),
        )
        .route(
            "/event/api/v1/subscriptions/{key}/deliveries",
            get(events_api::deliveries),
        )
        .route("/event/api/v1/subscriptions/{key}/test", post(events_api::test))
        .route("/artifactory/api/{format}/{*rest}", any(formats::format_api))
        .route("/artifactory/{*rest}", any(artifacts::handle))
        // Root paths plugins declare (`/v2/…`), else 404.
        .fallback(formats::root_api)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(json_limit)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::check_request,
        ))
        .layer(TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn(ui::no_basic_prompt))
        .layer(axum::middleware::from_fn(observe::around))
        .with_state(state)
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(format!("Method {method} is not allowed on '{}'", uri.path()))
}

impl FromRequestParts<State> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Self::Rejection> {
        let caller = match ui::session_caller(parts, state)? {
            Some(c) => c,
            None => security::authenticate(state, &parts.headers).await?,
        };
        if let Some(u) = parts.extensions.get::<observe::RequestUser>() {
            u.set(caller.name());
        }
        Ok(caller)
    }
}

/// The external base URL (`http://host:port`) used in `uri` fields.
pub struct BaseUrl(pub String);

impl FromRequestParts<State> for BaseUrl {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Self::Rejection> {
        let configured = state.config.server.base_url.trim_end_matches('/');
        if !configured.is_empty() {
            return Ok(BaseUrl(configured.to_string()));
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| state.config.server.listen.to_string());
        Ok(BaseUrl(format!("http://{host}")))
    }
}

/// The raw query parameters: keys and values percent-decoded (not `+`), a key
/// without `=` has an empty value.
pub struct Query(pub HashMap<String, String>);

impl Query {
    fn parse(raw: Option<&str>) -> Query {
        let mut map = HashMap::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let dec = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
            map.insert(dec(k), dec(v));
        }
        Query(map)
    }
    /// One value decoded strictly: invalid UTF-8 is a `400`, not U+FFFD.
    pub fn strict(raw: Option<&str>, key: &str) -> Result<Option<String>, ApiError> {
        for pair in raw.unwrap_or("").split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if percent_decode_str(k).decode_utf8_lossy() == key {
                return percent_decode_str(v)
                    .decode_utf8()
                    .map(|v| Some(v.into_owned()))
                    .map_err(|_| ApiError::bad_request(format!("The parameter '{key}' is not valid UTF-8")));
            }
        }
        Ok(None)
    }
    /// Whether a flag is present and not `0`/`false`.
    pub fn flag(&self, k: &str) -> bool {
        self.0
            .get(k)
            .is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"))
    }
    /// A value, if present.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }
    /// Whether a key is present.
    pub fn has(&self, k: &str) -> bool {
        self.0.contains_key(k)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Query::parse(parts.uri.query()))
    }
}

/// The still-encoded path after `prefix` (axum's path extractor would decode it,
/// hiding `%2F` and `%2e%2e` from the checks).
pub fn raw_rest<'a>(uri: &'a Uri, prefix: &str) -> &'a str {
    uri.path().strip_prefix(prefix).unwrap_or("")
}

/// A `201 Created`/`200 OK` JSON answer.
pub fn json_response(status: StatusCode, v: &serde_json::Value) -> axum::response::Response {
    use axum::response::IntoResponse;
    (status, axum::Json(v)).into_response()
}

/// The answer of a copy, move or promotion: its `messages`; when some failed, 409
/// with their errors as well.
pub fn messages_response(messages: &[crate::artifacts::TransferMessage], failed: bool) -> axum::response::Response {
    if failed {
        let errors: Vec<_> = messages
            .iter()
            .filter(|m| m.level == "ERROR")
            .map(|m| serde_json::json!({"status": 409, "message": m.message}))
            .collect();
        return json_response(
            StatusCode::CONFLICT,
            &serde_json::json!({"messages": messages, "errors": errors}),
        );
    }
    json_response(StatusCode::OK, &serde_json::json!({ "messages": messages }))
}

/// A text answer.
pub fn text_response(status: StatusCode, text: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}
