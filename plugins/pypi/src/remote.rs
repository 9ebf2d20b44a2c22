//! A remote PyPI repository: simple pages are expirable metadata fetched from the
//! upstream, answered with their links rewritten to this repository's own URLs
//! (the `#sha256=` fragment and every other attribute, `data-requires-python`,
//! `data-core-metadata` / `data-dist-info-metadata` of PEP 658/714, kept as they
//! are); files and their `.metadata` are immutable, fetched once and streamed by
//! the host from its cache. Links to hosts other than the upstream's stay as they
//! are (this repository only talks to its configured URL).

use binyard_plugin_sdk::package_type::upstream::{self, FetchKind};
use binyard_plugin_sdk::package_type::{Failure, Request, Response, read_file, repository};

use crate::names;

/// The largest simple page read.
const MAX_PAGE: u64 = 64 << 20;

/// GET and HEAD of a remote PyPI repository.
pub fn handle(req: &Request) -> Result<Response, Failure> {
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        return Err(Failure::new(
            405,
            format!(
                "'{}' is a remote PyPI repository, which caches its upstream: it does not answer {} /{}",
                repository::info().key,
                req.method,
                req.path
            ),
        ));
    }
    let path = req.path.trim_matches('/');
    let segments: Vec<&str> = path.split('/').collect();
    match segments.as_slice() {
        [""] | ["simple"] => page(req, "simple/"),
        ["simple", project] => {
            if !names::valid_project_name(project) {
                return Err(Failure::not_found(format!("'{project}' is not a valid project name")));
            }
            let normalized = names::normalize(project);
            if normalized != *project || !req.path.ends_with('/') {
                let to = format!("{}/simple/{normalized}/", req.base_url);
                return Ok(Response::empty(301).with_header("location", to));
            }
            page(req, &format!("simple/{normalized}/"))
        }
        _ => file(path),
    }
}

/// A simple page of the upstream with its links pointing here.
fn page(req: &Request, page_path: &str) -> Result<Response, Failure> {
    let fetched = upstream::fetch(page_path, "", FetchKind::Expirable)?;
    let cached = fetched
        .cached_path
        .ok_or_else(|| Failure::new(502, format!("The upstream's '{page_path}' was not cached")))?;
    let size = fetched.blob.map_or(0, |b| b.size);
    if size > MAX_PAGE {
        return Err(Failure::new(
            502,
            format!("The upstream's '{page_path}' has {size} bytes: too large"),
        ));
    }
    let data = read_file(&cached, size)?;
    let html = String::from_utf8_lossy(&data);
    let upstream_base = upstream_url()?;
    let page_url = format!("{}/{page_path}", upstream_base.trim_end_matches('/'));
    let out = rewrite_links(&html, &page_url, &upstream_base, &req.base_url);
    Ok(Response::bytes(200, "text/html; charset=utf-8", out.into_bytes()))
}

/// A distribution file or its `.metadata`: fetched once, then from the cache.
fn file(path: &str) -> Result<Response, Failure> {
    let fetched = upstream::fetch(path, "", FetchKind::Immutable)?;
    let cached = fetched
        .cached_path
        .ok_or_else(|| Failure::new(502, format!("The upstream's '{path}' was not cached")))?;
    let response = Response::artifact(cached);
    Ok(if path.ends_with(".metadata") {
        response.with_header("content-type", "text/plain; charset=utf-8")
    } else {
        response
    })
}

/// The repository's upstream URL.
fn upstream_url() -> Result<String, Failure> {
    let cfg: serde_json::Value = serde_json::from_str(&repository::info().config_json)
        .map_err(|e| Failure::new(500, format!("The repository's configuration is not JSON: {e}")))?;
    cfg.get("url")
        .and_then(|u| u.as_str())
        .map(str::to_string)
        .ok_or_else(|| Failure::new(500, "The remote repository has no url"))
}

/// Rewrites each `href="…"` that resolves (against `page_url`) under `upstream` to
/// the same path under `ours`, keeping its fragment; the rest of the page is kept.
pub fn rewrite_links(html: &str, page_url: &str, upstream: &str, ours: &str) -> String {
    let upstream = upstream.trim_end_matches('/');
    let ours = ours.trim_end_matches('/');
    let mut out = String::with_capacity(html.len() + 1024);
    let mut rest = html;
    while let Some(i) = find_href(rest) {
        let (before, after) = rest.split_at(i);
        out.push_str(before);
        let quote = after.as_bytes()[5] as char;
        let value_start = 6;
        let Some(len) = after[value_start..].find(quote) else {
            out.push_str(after);
            return out;
        };
        let value = &after[value_start..value_start + len];
        let absolute = resolve(page_url, value);
        let rewritten = match absolute.strip_prefix(upstream).filter(|r| r.starts_with('/')) {
            Some(rel) => format!("{ours}{rel}"),
            None => value.to_string(),
        };
        out.push_str(&after[..value_start]);
        out.push_str(&rewritten);
        out.push(quote);
        rest = &after[value_start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// The next `href="` or `href='` (any case), as a byte offset.
fn find_href(s: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("href=") {
        let at = from + i;
        if matches!(lower.as_bytes().get(at + 5), Some(b'"' | b'\'')) {
            return Some(at);
        }
        from = at + 5;
    }
    None
}

/// `link` resolved against `base` (absolute, root-relative or relative, `../` included).
fn resolve(base: &str, link: &str) -> String {
    if link.contains("://") {
        return link.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    let (host, base_path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
    if let Some(rooted) = link.strip_prefix('/') {
        return format!("{scheme}://{host}/{rooted}");
    }
    // The folder of the base, then each segment of the link.
    let mut segs: Vec<&str> = base_path.split('/').collect();
    segs.pop();
    let (link_path, tail) = match link.find(['#', '?']) {
        Some(i) => (&link[..i], &link[i..]),
        None => (link, ""),
    };
    for seg in link_path.split('/') {
        match seg {
            "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    format!("{scheme}://{host}/{}{tail}", segs.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_under_the_upstream_point_here_and_keep_fragments_and_attributes() {
        let page = r#"<a href="/packages/foo-1.0.tar.gz#sha256=ab" data-requires-python="&gt;=3.8">foo</a>
<a href='../../packages/foo-1.0-py3-none-any.whl#sha256=cd' data-dist-info-metadata="sha256=ef">w</a>
<a href="https://files.example/x.whl">x</a>"#;
        let out = rewrite_links(
            page,
            "http://up:1/pypi/simple/foo/",
            "http://up:1/pypi",
            "http://b/artifactory/api/pypi/r",
        );
        assert!(
            out.contains(r#"href='http://b/artifactory/api/pypi/r/packages/foo-1.0-py3-none-any.whl#sha256=cd'"#),
            "{out}"
        );
        assert!(out.contains(r#"data-requires-python="&gt;=3.8""#));
        assert!(out.contains(r#"data-dist-info-metadata="sha256=ef""#));
        assert!(out.contains(r#"href="https://files.example/x.whl""#));
        // A root-relative link outside the upstream's path is not the upstream's.
        assert!(out.contains(r#"href="/packages/foo-1.0.tar.gz#sha256=ab""#), "{out}");
        let out = rewrite_links(
            r#"<a href="/packages/a.tgz#sha256=1">"#,
            "http://up:1/simple/a/",
            "http://up:1",
            "http://b/r",
        );
        assert_eq!(out, r#"<a href="http://b/r/packages/a.tgz#sha256=1">"#);
    }
}
