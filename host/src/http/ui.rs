//! The web UI: its files (embedded in the binary from `host/ui/`) at `/ui/`, `/`
//! redirecting there, and the three session calls the browser needs besides the REST
//! API (log in, who am I, log out). Everything else the UI shows comes from the
//! same REST API the clients use, called with the session cookie.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State as Axs};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use include_dir::{Dir, include_dir};
use serde_json::json;

use super::State;
use crate::artifacts::blocking;
use crate::auth::Caller;
use crate::http::error::{ApiError, ApiResult};

static ASSETS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/ui");

/// The session cookie's name.
pub const COOKIE: &str = "binyard_session";
/// The header a state-changing call made with the cookie must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The header the UI's own calls carry (`X-Requested-With: binyard-ui`).
const UI_CALL: &str = "x-requested-with";

/// Middleware: a 401 to one of the UI's calls has no `WWW-Authenticate: Basic`
/// challenge, which would make the browser prompt for a password over the page.
pub async fn no_basic_prompt(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let from_ui = req
        .headers()
        .get(UI_CALL)
        .is_some_and(|v| v.as_bytes() == b"binyard-ui");
    let mut res = next.run(req).await;
    if from_ui {
        res.headers_mut().remove(header::WWW_AUTHENTICATE);
    }
    res
}

/// `GET /` → `/ui/`.
pub async fn root() -> Redirect {
    Redirect::to("/ui/")
}

/// `GET /ui/` and `/ui/{path}`: an embedded file.
pub async fn asset(path: Option<Path<String>>) -> Response {
    let path = path.map_or_else(|| "index.html".to_string(), |Path(p)| p);
    let path = if path.is_empty() { "index.html" } else { path.as_str() };
    // The folder's README is for maintainers, not served.
    let file = ASSETS.get_file(path).filter(|_| path != "README.md");
    let Some(file) = file else {
        return ApiError::not_found(format!("No resource at '/ui/{path}'")).into_response();
    };
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, mime.essence_str().to_string()),
            (header::CACHE_CONTROL, "no-cache".into()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
                    .into(),
            ),
        ],
        file.contents(),
    )
        .into_response()
}

fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

/// The caller a session cookie stands for, when the request has no credentials of
/// its own. A state-changing method needs the session's CSRF token in `X-CSRF-Token`.
pub fn session_caller(parts: &Parts, state: &State) -> ApiResult<Option<Caller>> {
    let h = &parts.headers;
    if h.contains_key(header::AUTHORIZATION) || h.contains_key("x-jfrog-art-api") {
        return Ok(None);
    }
    let Some(id) = cookie_value(h) else {
        return Ok(None);
    };
    // An unknown or expired session is no session: the request is anonymous.
    let Some(session) = state.sessions.get(id) else {
        return Ok(None);
    };
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let sent = h.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
        if sent.is_empty() || sent != session.csrf {
            return Err(ApiError::forbidden(
                "CSRF token missing or wrong: send the session's token in X-CSRF-Token",
            ));
        }
    }
    state
        .auth
        .caller_named(&session.user)
        .map(Some)
        .ok_or_else(|| ApiError::unauthorized(format!("User '{}' no longer exists or is disabled", session.user)))
}

fn cookie(state: &State, value: &str, max_age: u64) -> ApiResult<HeaderValue> {
    let secure = if state.config.server.base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .map_err(|e| ApiError::internal(e.to_string()))
}

fn session_json(state: &State, caller: &Caller, csrf: Option<&str>) -> serde_json::Value {
    json!({
        "user": caller.user,
        "admin": caller.admin,
        "anonymousAccess": state.config.security.anonymous_access,
        "csrfToken": csrf,
        "version": env!("CARGO_PKG_VERSION"),
    })
}

#[derive(serde::Deserialize)]
struct Login {
    username: String,
    password: String,
}

/// `POST /ui/api/login` `{"username","password"}` (JSON only, so a cross-site form
/// cannot post it): checks the password as any login does (failures count towards
/// the lockout) and sets the session cookie.
pub async fn login(Axs(state): Axs<State>, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_body {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send the login as application/json",
        ));
    }
    let l: Login = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("Expected {{\"username\", \"password\"}}: {e}")))?;
    let auth = state.auth.clone();
    let caller = blocking(move || auth.check_password(&l.username, &l.password)).await?;
    let name = caller.name().to_string();
    let (id, session) = state.sessions.create(&name);
    let mut res = Json(session_json(&state, &caller, Some(&session.csrf))).into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, cookie(&state, &id, state.sessions.ttl().as_secs())?);
    Ok(res)
}

/// `GET /ui/api/session`: who the browser is, and the CSRF token of its session.
pub async fn session(Axs(state): Axs<State>, headers: HeaderMap, caller: Caller) -> ApiResult<Response> {
    let csrf = cookie_value(&headers)
        .and_then(|id| state.sessions.get(id))
        .filter(|s| caller.user.as_deref() == Some(s.user.as_str()))
        .map(|s| s.csrf);
    Ok(Json(session_json(&state, &caller, csrf.as_deref())).into_response())
}

/// `POST /ui/api/logout`: ends the session (the CSRF check ran in the extractor).
pub async fn logout(Axs(state): Axs<State>, headers: HeaderMap, _caller: Caller) -> ApiResult<Response> {
    if let Some(id) = cookie_value(&headers) {
        state.sessions.remove(id);
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut().insert(header::SET_COOKIE, cookie(&state, "", 0)?);
    Ok(res)
}
