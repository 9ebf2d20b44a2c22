//! The simple repository API: PEP 503 HTML and PEP 691 JSON (chosen by `Accept`),
//! with PEP 592 yanks, PEP 658/714 metadata and PEP 700 sizes, versions and times.

use binyard_plugin_sdk::package_type::{Failure, Response};
use serde_json::{Value, json};

use crate::index::{FileEntry, METADATA_SUFFIX};

const JSON_V1: &str = "application/vnd.pypi.simple.v1+json";
const HTML_V1: &str = "application/vnd.pypi.simple.v1+html";
const TEXT_HTML: &str = "text/html; charset=utf-8";
/// The API version served (PEP 629 / PEP 700).
const API_VERSION: &str = "1.1";

/// The form of a simple page, with the content type to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Html(&'static str),
    Json,
}

impl Form {
    fn content_type(self) -> &'static str {
        match self {
            Form::Html(t) => t,
            Form::Json => JSON_V1,
        }
    }
}

/// Chooses the form from `Accept` (PEP 691), or from a `?format=` override. Without
/// either the answer is HTML, as PEP 503 clients expect.
pub fn negotiate(accept: Option<&str>, format: Option<&str>) -> Result<Form, Failure> {
    let asked = format
        .filter(|f| !f.is_empty())
        .or(accept.filter(|a| !a.trim().is_empty()));
    let Some(asked) = asked else {
        return Ok(Form::Html(TEXT_HTML));
    };
    let mut best: Option<(f32, Form)> = None;
    for range in asked.split(',') {
        let mut params = range.split(';');
        let media = params.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = params
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let form = match media.as_str() {
            "application/vnd.pypi.simple.v1+json" | "application/vnd.pypi.simple.latest+json" => Form::Json,
            "application/vnd.pypi.simple.v1+html" | "application/vnd.pypi.simple.latest+html" => Form::Html(HTML_V1),
            "text/html" | "text/*" | "*/*" => Form::Html(TEXT_HTML),
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, form));
        }
    }
    best.map(|(_, f)| f).ok_or_else(|| {
        Failure::new(
            406,
            format!("No acceptable form of the simple index for Accept '{asked}': this server answers {JSON_V1}, {HTML_V1} and text/html"),
        )
    })
}

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes one URL path segment.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'!' | b'+') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The link to a file from a project page (`simple/{project}/`): into the plugin's
/// `packages/` path, which the host serves from storage.
fn file_url(f: &FileEntry) -> String {
    let path: Vec<String> = f.path.split('/').map(encode_segment).collect();
    format!("../../packages/{}", path.join("/"))
}

fn answer(form: Form, body: String) -> Response {
    Response::bytes(200, form.content_type(), body.into_bytes())
        .with_header("vary", "Accept")
        .cacheable()
        .metadata()
}

/// `simple/`: every project.
pub fn project_list(form: Form, projects: &[String]) -> Response {
    match form {
        Form::Json => {
            let doc = json!({
                "meta": {"api-version": API_VERSION},
                "projects": projects.iter().map(|p| json!({"name": p})).collect::<Vec<_>>(),
            });
            answer(form, doc.to_string())
        }
        Form::Html(_) => {
            let mut html = String::from(
                "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n    <title>Simple index</title>\n  </head>\n  <body>\n",
            );
            for p in projects {
                let p_html = escape(p);
                html.push_str(&format!(
                    "    <a href=\"{}/\">{p_html}</a><br/>\n",
                    escape(&encode_segment(p))
                ));
            }
            html.push_str("  </body>\n</html>\n");
            answer(form, html)
        }
    }
}

/// `simple/{project}/`: the project's files.
pub fn project_page(form: Form, project: &str, files: &[FileEntry]) -> Response {
    match form {
        Form::Json => {
            let mut versions: Vec<&str> = files.iter().map(|f| f.version.as_str()).collect();
            versions.dedup();
            let files: Vec<Value> = files
                .iter()
                .map(|f| {
                    let mut v = json!({
                        "filename": f.filename,
                        "url": file_url(f),
                        "hashes": {"sha256": f.sha256},
                        "size": f.size,
                        "upload-time": iso_time(f.uploaded_ms),
                        "yanked": match &f.yanked {
                            None => Value::Bool(false),
                            Some(r) if r.is_empty() => Value::Bool(true),
                            Some(r) => Value::String(r.clone()),
                        },
                    });
                    if let Some(rp) = &f.requires_python {
                        v["requires-python"] = json!(rp);
                    }
                    // PEP 714 names the key core-metadata; older clients read the PEP 658 one.
                    let meta = f
                        .metadata_sha256
                        .as_ref()
                        .map_or(Value::Bool(false), |s| json!({"sha256": s}));
                    v["core-metadata"] = meta.clone();
                    v["dist-info-metadata"] = meta;
                    v
                })
                .collect();
            let doc = json!({
                "meta": {"api-version": API_VERSION},
                "name": project,
                "versions": versions,
                "files": files,
            });
            answer(form, doc.to_string())
        }
        Form::Html(_) => {
            let name = escape(project);
            let mut html = format!(
                "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n    <title>Links for {name}</title>\n  </head>\n  <body>\n    <h1>Links for {name}</h1>\n"
            );
            for f in files {
                let mut attrs = String::new();
                if let Some(rp) = &f.requires_python {
                    attrs.push_str(&format!(" data-requires-python=\"{}\"", escape(rp)));
                }
                if let Some(m) = &f.metadata_sha256 {
                    attrs.push_str(&format!(
                        " data-dist-info-metadata=\"sha256={m}\" data-core-metadata=\"sha256={m}\""
                    ));
                }
                if let Some(reason) = &f.yanked {
                    attrs.push_str(&format!(" data-yanked=\"{}\"", escape(reason)));
                }
                html.push_str(&format!(
                    "    <a href=\"{}#sha256={}\"{attrs}>{}</a><br/>\n",
                    escape(&file_url(f)),
                    f.sha256,
                    escape(&f.filename)
                ));
            }
            html.push_str("  </body>\n</html>\n");
            answer(form, html)
        }
    }
}

/// Whether a requested file is a PEP 658 metadata file (and of which file).
pub fn metadata_of(filename: &str) -> Option<&str> {
    filename.strip_suffix(METADATA_SUFFIX)
}

/// Milliseconds since the epoch as `yyyy-mm-ddThh:mm:ss.ffffffZ` (PEP 700).
pub fn iso_time(ms: i64) -> String {
    let t = binyard_plugin_sdk::time::utc(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        t.milli * 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_like_pep_691() {
        assert_eq!(negotiate(None, None).unwrap(), Form::Html(TEXT_HTML));
        let pip = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
        assert_eq!(negotiate(Some(pip), None).unwrap(), Form::Json);
        assert_eq!(
            negotiate(Some("application/vnd.pypi.simple.latest+html"), None).unwrap(),
            Form::Html(HTML_V1)
        );
        assert_eq!(negotiate(Some("*/*"), None).unwrap(), Form::Html(TEXT_HTML));
        assert_eq!(
            negotiate(Some("text/html"), Some("application/vnd.pypi.simple.v1+json")).unwrap(),
            Form::Json
        );
        assert_eq!(negotiate(Some("application/xml"), None).unwrap_err().status, 406);
        assert_eq!(
            negotiate(Some("application/vnd.pypi.simple.v1+json;q=0, text/html;q=0.5"), None).unwrap(),
            Form::Html(TEXT_HTML)
        );
    }

    #[test]
    fn formats_times_and_escapes() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(iso_time(1_709_294_400_123), "2024-03-01T12:00:00.123000Z");
        assert_eq!(escape("<3.0,>=2.7 & \"x\""), "&lt;3.0,&gt;=2.7 &amp; &quot;x&quot;");
        assert_eq!(encode_segment("a b%"), "a%20b%25");
    }
}
