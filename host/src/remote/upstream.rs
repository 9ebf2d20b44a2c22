//! The HTTP client of one remote repository: its timeouts, credentials and
//! redirect rule, and the request for a path.

use std::time::Duration;

use reqwest::redirect::{Attempt, Policy};

use super::{CacheRecord, Kind, RemoteSettings, RepoState};
use crate::artifacts::paths::url_path;

/// Redirects followed per request, all on the upstream's own scheme, host and port.
pub const MAX_REDIRECTS: usize = 5;

/// A client with the repository's socket timeout and redirect rule.
pub fn client(url: &str, s: &RemoteSettings, max_connections: usize) -> Result<reqwest::Client, String> {
    let origin = reqwest::Url::parse(url).map_err(|e| format!("the url '{url}' is not valid: {e}"))?;
    let mut b = reqwest::Client::builder()
        .user_agent(concat!("binyard/", env!("CARGO_PKG_VERSION")))
        .redirect(Policy::custom(move |a| same_origin(a, &origin)))
        .pool_max_idle_per_host(max_connections)
        // Only the configured URL is asked: no proxy from the environment.
        .no_proxy();
    if s.socket_timeout_millis > 0 {
        let t = Duration::from_millis(s.socket_timeout_millis);
        b = b.connect_timeout(t).read_timeout(t);
    }
    b.build().map_err(|e| format!("cannot build its HTTP client: {e}"))
}

fn same_origin(a: Attempt<'_>, origin: &reqwest::Url) -> reqwest::redirect::Action {
    if a.previous().len() > MAX_REDIRECTS {
        return a.error(format!("more than {MAX_REDIRECTS} redirects"));
    }
    let u = a.url();
    let same = u.scheme() == origin.scheme()
        && u.host_str() == origin.host_str()
        && u.port_or_known_default() == origin.port_or_known_default();
    if same { a.follow() } else { a.stop() }
}

/// The upstream URL of `path` (decoded, encoded again here) with `query`.
pub fn url_of(base: &str, path: &str, query: &str) -> String {
    let mut u = format!("{}/{}", base.trim_end_matches('/'), url_path(path));
    if !query.is_empty() {
        u.push('?');
        u.push_str(query);
    }
    u
}

/// Sends the GET for `path` with the format's `headers`; expirable metadata has
/// the whole exchange bounded by `metadataRetrievalTimeoutSecs` and is asked
/// conditionally when a copy is cached. An upstream that answers 401 with a
/// `Bearer` challenge (a registry's token flow) is asked for a token at the
/// challenge's realm (with the repository's credentials, else anonymously) and
/// the request is sent again with it; the token is kept for later requests.
pub async fn send(
    st: &RepoState,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    kind: Kind,
    cached: Option<&CacheRecord>,
) -> Result<reqwest::Response, reqwest::Error> {
    let token = st.bearer.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let resp = request(st, path, query, headers, kind, cached, token.as_deref())
        .send()
        .await?;
    if resp.status() != reqwest::StatusCode::UNAUTHORIZED {
        return Ok(resp);
    }
    let Some(challenge) = resp
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_challenge)
    else {
        return Ok(resp);
    };
    match token_for(st, &challenge).await {
        Some(t) => {
            *st.bearer.lock().unwrap_or_else(|e| e.into_inner()) = Some(t.clone());
            request(st, path, query, headers, kind, cached, Some(&t)).send().await
        }
        None => Ok(resp),
    }
}

fn request(
    st: &RepoState,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    kind: Kind,
    cached: Option<&CacheRecord>,
    token: Option<&str>,
) -> reqwest::RequestBuilder {
    let s = &st.settings;
    let mut req = st.client.get(url_of(&st.url, path, query));
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    } else if !s.username.is_empty() {
        req = req.basic_auth(&s.username, Some(&s.password));
    }
    if kind == Kind::Expirable && s.metadata_retrieval_timeout_secs > 0 {
        req = req.timeout(Duration::from_secs(s.metadata_retrieval_timeout_secs));
    }
    if let Some(rec) = cached {
        if let Some(e) = &rec.etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, e);
        }
        if let Some(m) = &rec.last_modified {
            req = req.header(reqwest::header::IF_MODIFIED_SINCE, m);
        }
    }
    req
}

/// The parameters of a `Bearer realm="…",service="…",scope="…"` challenge; none
/// for another scheme or without a realm.
fn bearer_challenge(h: &str) -> Option<Vec<(String, String)>> {
    let rest = h
        .trim()
        .strip_prefix("Bearer ")
        .or_else(|| h.trim().strip_prefix("bearer "))?;
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if key.is_empty() || chars.next() != Some('=') {
            break;
        }
        let value: String = if chars.next_if_eq(&'"').is_some() {
            let v = std::iter::from_fn(|| chars.next_if(|c| *c != '"')).collect();
            chars.next();
            v
        } else {
            std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect()
        };
        params.push((key.trim().to_ascii_lowercase(), value));
    }
    params.iter().any(|(k, _)| k == "realm").then_some(params)
}

/// A token from the challenge's realm for its service and scope; none when the
/// realm refuses or answers no token.
async fn token_for(st: &RepoState, challenge: &[(String, String)]) -> Option<String> {
    let realm = challenge.iter().find(|(k, _)| k == "realm")?.1.clone();
    let query: Vec<(&str, &str)> = challenge
        .iter()
        .filter(|(k, _)| k == "service" || k == "scope")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut req = st.client.get(&realm).query(&query);
    if !st.settings.username.is_empty() {
        req = req.basic_auth(&st.settings.username, Some(&st.settings.password));
    }
    let resp = req.send().await.ok()?;
    if !resp.status().is_success() {
        tracing::warn!(realm, status = %resp.status(), "the upstream's token endpoint refused");
        return None;
    }
    let v: serde_json::Value = resp.json().await.ok()?;
    v.get("token")
        .or_else(|| v.get("access_token"))
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// An error with its causes, for messages ("error sending request: … : connection refused").
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_are_parsed_with_quoted_commas() {
        let c =
            bearer_challenge(r#"Bearer realm="http://h:1/token",service="registry",scope="repository:a/b:pull,push""#)
                .unwrap();
        assert_eq!(
            c,
            vec![
                ("realm".to_string(), "http://h:1/token".to_string()),
                ("service".to_string(), "registry".to_string()),
                ("scope".to_string(), "repository:a/b:pull,push".to_string()),
            ]
        );
        assert!(bearer_challenge(r#"Basic realm="x""#).is_none());
        assert!(bearer_challenge("Bearer service=\"x\"").is_none());
    }

    #[test]
    fn urls_join_and_encode() {
        assert_eq!(url_of("http://h/r/", "a b/c.tgz", ""), "http://h/r/a%20b/c.tgz");
        assert_eq!(url_of("http://h/r", "x", "q=1"), "http://h/r/x?q=1");
    }
}
