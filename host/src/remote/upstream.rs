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

/// Sends the GET for `path`; expirable metadata has the whole exchange bounded by
/// `metadataRetrievalTimeoutSecs` and is asked conditionally when a copy is cached.
pub async fn send(
    st: &RepoState,
    path: &str,
    query: &str,
    kind: Kind,
    cached: Option<&CacheRecord>,
) -> Result<reqwest::Response, reqwest::Error> {
    let s = &st.settings;
    let mut req = st.client.get(url_of(&st.url, path, query));
    if !s.username.is_empty() {
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
    req.send().await
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
    fn urls_join_and_encode() {
        assert_eq!(url_of("http://h/r/", "a b/c.tgz", ""), "http://h/r/a%20b/c.tgz");
        assert_eq!(url_of("http://h/r", "x", "q=1"), "http://h/r/x?q=1");
    }
}
