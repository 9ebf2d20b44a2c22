//! `GET /-/v1/search?text=&size=&from=`: the packages whose name, description or
//! keywords hold every word of `text` (qualifiers `keywords:`, `scope:`, `author:`
//! supported), in the shape `npm search` reads.

use binyard_plugin_sdk::package_type::Request;
use serde_json::{Value, json};

use crate::names::PackageName;
use crate::packument::{iso8601, version_doc};
use crate::store;

/// npm's own cap on a page.
const MAX_SIZE: usize = 250;

pub fn search(req: &Request) -> Value {
    let param = |k: &str| query_param(&req.query, k);
    let text = param("text").unwrap_or_default().to_lowercase();
    let size = param("size")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, MAX_SIZE);
    let from = param("from").and_then(|s| s.parse::<usize>().ok()).unwrap_or(0);

    let mut terms = Vec::new();
    let mut keywords = Vec::new();
    let mut scope = None;
    let mut author = None;
    for w in text.split_whitespace() {
        if let Some(k) = w.strip_prefix("keywords:") {
            keywords.extend(k.split(',').filter(|k| !k.is_empty()).map(str::to_string));
        } else if let Some(s) = w.strip_prefix("scope:") {
            scope = Some(s.trim_start_matches('@').to_string());
        } else if let Some(a) = w.strip_prefix("author:").or_else(|| w.strip_prefix("maintainer:")) {
            author = Some(a.to_string());
        } else {
            terms.push(w.to_string());
        }
    }

    let mut hits: Vec<(u8, Value)> = Vec::new();
    for name in store::package_names() {
        if scope
            .as_deref()
            .is_some_and(|s| !name.full.starts_with(&format!("@{s}/")))
        {
            continue;
        }
        let Some(doc) = latest(&name, &req.base_url) else {
            continue;
        };
        let description = doc.get("description").and_then(Value::as_str).unwrap_or_default();
        let kw: Vec<String> = match doc.get("keywords") {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_lowercase).collect(),
            Some(Value::String(s)) => s.split([',', ' ']).map(str::to_lowercase).collect(),
            _ => Vec::new(),
        };
        let haystack = format!("{} {} {}", name.full, description.to_lowercase(), kw.join(" "));
        if !terms.iter().all(|t| haystack.contains(t.as_str())) {
            continue;
        }
        if !keywords.iter().all(|k| kw.contains(k)) {
            continue;
        }
        let publisher = doc
            .get("_npmUser")
            .cloned()
            .unwrap_or_else(|| json!({"username": "", "email": ""}));
        if let Some(a) = &author {
            let who = |v: &Value| {
                v.get("name")
                    .or_else(|| v.get("username"))
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case(a))
            };
            let by_author = doc.get("author").is_some_and(who);
            if !by_author && !who(&publisher) {
                continue;
            }
        }
        // Exact names first, then names containing the text, then the rest.
        let rank = if terms.len() == 1 && name.full == terms[0] {
            0
        } else if terms.iter().all(|t| name.full.contains(t.as_str())) {
            1
        } else {
            2
        };
        // The search API names people by `username`.
        let maintainers: Vec<Value> = match doc.get("maintainers") {
            Some(Value::Array(m)) => m
                .iter()
                .map(|p| json!({"username": p.get("name").or_else(|| p.get("username")).cloned().unwrap_or(Value::Null), "email": p.get("email").cloned().unwrap_or(Value::Null)}))
                .collect(),
            _ => Vec::new(),
        };
        let publisher = json!({
            "username": publisher.get("name").or_else(|| publisher.get("username")).cloned().unwrap_or(Value::Null),
            "email": publisher.get("email").cloned().unwrap_or(Value::Null),
        });
        let mut package = json!({
            "name": name.full,
            "scope": name.full.strip_prefix('@').and_then(|s| s.split_once('/')).map_or("unscoped", |(s, _)| s),
            "version": doc.get("version").cloned().unwrap_or(Value::Null),
            "description": description,
            "keywords": kw,
            "date": doc.get("_date").cloned().unwrap_or(Value::Null),
            "links": {},
            "publisher": publisher,
            "maintainers": maintainers,
        });
        if let Some(a) = doc.get("author") {
            package["author"] = a.clone();
        }
        let score = if rank == 0 { 1.0 } else { 0.5 };
        hits.push((
            rank,
            json!({
                "package": package,
                "score": {"final": score, "detail": {"quality": score, "popularity": score, "maintenance": score}},
                "searchScore": score,
                "flags": {},
            }),
        ));
    }
    hits.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.1["package"]["name"].as_str().cmp(&b.1["package"]["name"].as_str()))
    });
    let total = hits.len();
    let objects: Vec<Value> = hits.into_iter().skip(from).take(size).map(|(_, v)| v).collect();
    json!({"objects": objects, "total": total})
}

/// The latest version's document, with its publication date as `_date`.
fn latest(name: &PackageName, base_url: &str) -> Option<Value> {
    let versions = store::versions(name);
    let tags = store::dist_tags(&versions);
    let latest = tags.get("latest")?.as_str()?;
    let s = versions.iter().find(|s| s.version == latest)?;
    let mut doc = version_doc(name, s, base_url)?;
    doc["_date"] = Value::String(iso8601(s.created_ms));
    Some(doc)
}

/// A query parameter, percent-decoded, with `+` as a space (URLSearchParams' form).
fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| binyard_plugin_sdk::percent_decode(&s.replace('+', " "));
        (dec(k) == key).then(|| dec(v))
    })
}
