//! Virtual repositories: the simple pages of several members merged into one.
//!
//! Files (and projects) are unioned by name, the first member (in resolution
//! order) winning a name both have. Links stay as the members wrote them: they are
//! relative (`../../packages/…`), so they resolve through the virtual repository,
//! where the first member holding the file serves it. HTML pages are merged line
//! by line (each link is one line of the pages `simple` writes); PEP 691 JSON pages
//! by their `files`/`projects` arrays.

use std::collections::HashSet;

use binyard_plugin_sdk::package_type::{Failure, MemberAnswer, Request, Response};
use serde_json::Value;

/// Merges the members' answers to `simple/` or `simple/{project}/`.
pub fn merge(_req: &Request, answers: &[MemberAnswer]) -> Result<Response, Failure> {
    let first = answers.first().ok_or_else(|| Failure::new(500, "nothing to merge"))?;
    let content_type = first
        .response
        .headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "text/html; charset=utf-8".into());
    let pages: Vec<&[u8]> = answers.iter().map(|a| a.content.as_slice()).collect();
    let body = if content_type.contains("json") {
        merge_json(&pages)?
    } else {
        merge_html(&pages)?
    };
    Ok(Response::bytes(200, &content_type, body)
        .with_header("vary", "Accept")
        .cacheable()
        .metadata())
}

/// The name a link line links: the text of its `<a …>name</a>`.
fn link_name(line: &str) -> Option<&str> {
    let start = line.find("<a ")?;
    let text = &line[start..];
    let open_end = text.find('>')?;
    let close = text.find("</a>")?;
    text.get(open_end + 1..close)
}

/// HTML pages: the first page with the links of the others that it lacks added
/// before its closing `</body>`.
fn merge_html(pages: &[&[u8]]) -> Result<Vec<u8>, Failure> {
    let texts: Vec<&str> = pages
        .iter()
        .map(|p| std::str::from_utf8(p).map_err(|_| Failure::new(502, "a member's simple page is not UTF-8")))
        .collect::<Result<_, _>>()?;
    let first = texts[0];
    let mut seen: HashSet<&str> = first.lines().filter_map(link_name).collect();
    let mut added = String::new();
    for text in &texts[1..] {
        for line in text.lines() {
            if let Some(name) = link_name(line)
                && seen.insert(name)
            {
                added.push_str(line);
                added.push('\n');
            }
        }
    }
    let cut = first
        .rfind("  </body>")
        .or_else(|| first.rfind("</body>"))
        .unwrap_or(first.len());
    let mut out = String::with_capacity(first.len() + added.len());
    out.push_str(&first[..cut]);
    out.push_str(&added);
    out.push_str(&first[cut..]);
    Ok(out.into_bytes())
}

/// PEP 691 pages: `files` unioned by `filename`, `projects` by `name`, `versions`
/// unioned in order of appearance.
fn merge_json(pages: &[&[u8]]) -> Result<Vec<u8>, Failure> {
    let docs: Vec<Value> = pages
        .iter()
        .map(|p| serde_json::from_slice(p).map_err(|_| Failure::new(502, "a member's simple page is not JSON")))
        .collect::<Result<_, _>>()?;
    let mut out = docs[0].clone();
    for (field, key) in [("files", "filename"), ("projects", "name")] {
        if out.get(field).is_none() {
            continue;
        }
        let mut seen = HashSet::new();
        let mut merged = Vec::new();
        for d in &docs {
            for item in d.get(field).and_then(Value::as_array).into_iter().flatten() {
                let name = item.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
                if seen.insert(name) {
                    merged.push(item.clone());
                }
            }
        }
        out[field] = Value::Array(merged);
    }
    if out.get("versions").is_some() {
        let mut seen = HashSet::new();
        let mut versions = Vec::new();
        for d in &docs {
            for v in d.get("versions").and_then(Value::as_array).into_iter().flatten() {
                if seen.insert(v.to_string()) {
                    versions.push(v.clone());
                }
            }
        }
        out["versions"] = Value::Array(versions);
    }
    Ok(out.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "<!DOCTYPE html>\n<html>\n  <body>\n    <h1>Links for p</h1>\n    <a href=\"../../packages/p/1.0/p-1.0.tar.gz#sha256=aa\">p-1.0.tar.gz</a><br/>\n  </body>\n</html>\n";
    const B: &str = "<!DOCTYPE html>\n<html>\n  <body>\n    <h1>Links for p</h1>\n    <a href=\"../../packages/p/1.0/p-1.0.tar.gz#sha256=bb\">p-1.0.tar.gz</a><br/>\n    <a href=\"../../packages/p/2.0/p-2.0.tar.gz#sha256=cc\" data-requires-python=\"&gt;=3.8\">p-2.0.tar.gz</a><br/>\n  </body>\n</html>\n";

    #[test]
    fn html_links_unioned_first_wins() {
        let out = String::from_utf8(merge_html(&[A.as_bytes(), B.as_bytes()]).unwrap()).unwrap();
        assert!(out.contains("sha256=aa\">p-1.0.tar.gz"));
        assert!(!out.contains("sha256=bb"));
        assert!(out.contains("p-2.0.tar.gz#sha256=cc\" data-requires-python=\"&gt;=3.8\""));
        assert!(out.ends_with("<br/>\n  </body>\n</html>\n"));
    }

    #[test]
    fn json_files_and_versions_unioned() {
        let a = br#"{"meta":{"api-version":"1.1"},"name":"p","versions":["1.0"],"files":[{"filename":"p-1.0.tar.gz","url":"a"}]}"#;
        let b = br#"{"meta":{"api-version":"1.1"},"name":"p","versions":["1.0","2.0"],"files":[{"filename":"p-1.0.tar.gz","url":"b"},{"filename":"p-2.0.tar.gz","url":"c"}]}"#;
        let out: Value = serde_json::from_slice(&merge_json(&[a, b]).unwrap()).unwrap();
        assert_eq!(out["versions"], serde_json::json!(["1.0", "2.0"]));
        assert_eq!(out["files"][0]["url"], "a");
        assert_eq!(out["files"][1]["filename"], "p-2.0.tar.gz");
    }
}
