//! Around every request: a request id (answered as `X-Request-Id`), the request
//! metrics (count, latency, bytes in and out) and one log line; and `GET /metrics`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State as Axs};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::State;
use crate::http::error::{ApiError, ApiResult};
use crate::observe::{PluginReading, Readings};

/// The header carrying the request id both ways.
pub const REQUEST_ID: &str = "x-request-id";

/// Who the request turned out to be from, filled in by the `Caller` extractor.
#[derive(Clone, Default)]
pub struct RequestUser(Arc<Mutex<Option<String>>>);

impl RequestUser {
    /// Records the caller's name.
    pub fn set(&self, name: &str) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(name.to_string());
    }
    fn name(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    fn get(&self) -> String {
        self.name().unwrap_or_else(|| "-".into())
    }
}

/// A client's own request id is kept when it is short and plain; otherwise a new one.
pub fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(|| crate::auth::random_secret(12))
}

/// A route template as a label: `{key}` → `:key`, `{*rest}` → `*rest` (braces in
/// label values trip some text-format parsers).
fn route_label(template: &str) -> String {
    template.replace("{*", "*").replace('{', ":").replace('}', "")
}

/// Methods as metric labels: the standard ones, anything else as `OTHER` (bounded).
pub fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::POST => "POST",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// The middleware: runs outside every route and the fallback.
pub async fn around(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(req.headers());
    // The route template (bounded), not the path: one series per route family.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| route_label(m.as_str()));
    let method = method_label(req.method());
    let path = req.uri().path().to_string();
    let user = RequestUser::default();
    req.extensions_mut().insert(user.clone());
    let span = crate::observe::trace::request_span(req.headers(), method, &route, &path, &id);
    let req = req.map(|b| Body::new(Counted(b, crate::observe::bytes_in)));
    let mut res = next.run(req).instrument(span.clone()).await;
    let status = res.status().as_u16();
    let latency = started.elapsed();
    if !span.is_none() {
        span.record("http.response.status_code", status);
        // Routes that never authenticate (ping, health) have no user to name.
        if let Some(name) = user.name() {
            span.record("enduser.id", name.as_str());
        }
    }
    record(&route, method, &path, &id, &user.get(), status, latency);
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    // The door (`hot.rs`) counts the requests it answers under the same route.
    if res.extensions().get::<super::hot::Candidate>().is_some() {
        res.extensions_mut().insert(RouteLabel(route));
    }
    res.map(|b| Body::new(Counted(b, crate::observe::bytes_out)))
}

/// The metric label of the route a response came from (set for the door's candidates).
#[derive(Clone)]
pub struct RouteLabel(pub String);

/// A request's metrics and log line, once it is answered.
pub fn record(route: &str, method: &'static str, path: &str, id: &str, user: &str, status: u16, latency: Duration) {
    crate::observe::request(route, method, status, latency);
    // The query is left out of the log: it may carry credentials (`?token=`, signed URLs).
    tracing::info!(
        target: "binyard::request",
        request_id = %id,
        method,
        path = %path,
        status,
        user = %user,
        latency_ms = latency.as_secs_f64() * 1000.0,
        "request"
    );
}

/// A body that counts its data as it passes, keeping the size hint (so a known
/// length is still sent as `Content-Length`).
struct Counted(Body, fn(u64));

impl http_body::Body for Counted {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.0).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(f))) = &polled
            && let Some(d) = f.data_ref()
        {
            (self.1)(d.len() as u64);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.0.size_hint()
    }
}

/// `GET /metrics` on the main address: admins, or the configured scrape token.
pub async fn metrics(Axs(state): Axs<State>, parts: axum::http::request::Parts) -> ApiResult<Response> {
    let token = &state.config.metrics.token;
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let token_ok = !token.is_empty() && bearer.is_some_and(|b| constant_time_eq(b.as_bytes(), token.as_bytes()));
    if !token_ok {
        let mut parts = parts;
        let caller =
            <crate::auth::Caller as axum::extract::FromRequestParts<State>>::from_request_parts(&mut parts, &state)
                .await?;
        state.auth.require_admin(&caller)?;
    }
    Ok(render(&state).await)
}

/// `GET /metrics` on the separate metrics address (no authentication: that address
/// is meant for a private network).
pub async fn metrics_open(Axs(state): Axs<State>) -> Response {
    render(&state).await
}

/// The values `/metrics` reads now, from the services.
fn readings(state: &State) -> Readings {
    use std::sync::atomic::Ordering;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let db = state.config.storage.data_dir.join("meta.redb");
    Readings {
        repos: state
            .repos
            .all()
            .into_iter()
            .filter_map(|r| {
                let c = state.artifacts.repo_counters(&r.key).ok()?;
                Some((r.key.clone(), c.files, c.bytes))
            })
            .collect(),
        plugins: state
            .plugins
            .list()
            .iter()
            .map(|p| PluginReading {
                name: p.name.clone(),
                calls: load(&p.stats.calls),
                failures: load(&p.stats.failures),
                timeouts: load(&p.stats.timeouts),
                instances_in_use: p.instances_in_use(),
            })
            .collect(),
        webhook_lag: state.deliveries.backlog(),
        database_bytes: std::fs::metadata(db).map_or(0, |m| m.len()),
    }
}

async fn render(state: &State) -> Response {
    let s = state.clone();
    match tokio::task::spawn_blocking(move || crate::observe::render(readings(&s))).await {
        Ok(text) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
            text,
        )
            .into_response(),
        Err(e) => ApiError::internal(e.to_string()).into_response(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serves `/metrics` alone on `addr` (the `[metrics] listen` address).
pub async fn spawn_metrics_listener(state: State, addr: std::net::SocketAddr) -> anyhow::Result<()> {
    use anyhow::Context;
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(metrics_open))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for metrics"))?;
    let local = listener.local_addr()?;
    println!("binyard metrics on http://{local}/metrics");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics listener stopped");
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_labels_have_no_braces() {
        assert_eq!(route_label("/artifactory/{*rest}"), "/artifactory/*rest");
        assert_eq!(
            route_label("/artifactory/api/build/{name}/{number}"),
            "/artifactory/api/build/:name/:number"
        );
    }

    #[test]
    fn request_ids_are_kept_only_when_plain() {
        let mut h = HeaderMap::new();
        h.insert(REQUEST_ID, HeaderValue::from_static("abc-1.2_3"));
        assert_eq!(request_id(&h), "abc-1.2_3");
        h.insert(REQUEST_ID, HeaderValue::from_static("bad id;x"));
        assert_ne!(request_id(&h), "bad id;x");
        assert_eq!(request_id(&HeaderMap::new()).len(), 24);
    }
}
