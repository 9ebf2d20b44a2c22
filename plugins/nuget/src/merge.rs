//! Virtual repositories: the members' answers merged. Version lists, registration
//! pages and search results are unioned (the first member, in resolution order,
//! winning a version or id both have); a registration index whose pages are all
//! inlined is rebuilt from the union of its leaves, else its pages are listed by
//! range (a page asked through the virtual repository is merged in turn). Links in
//! the members' answers already point through the virtual repository.

use std::collections::HashSet;

use binyard_plugin_sdk::package_type::{Failure, MemberAnswer, Request, Response};
use serde_json::{Value, json};

use crate::feed::{INLINE_MAX, PAGE_SIZE};
use crate::names::Version;

fn docs(answers: &[MemberAnswer]) -> Result<Vec<Value>, Failure> {
    answers
        .iter()
        .map(|a| {
            serde_json::from_slice(&a.content).map_err(|e| {
                Failure::new(
                    502,
                    format!("Member '{}' answered a document that is not JSON: {e}", a.repo),
                )
            })
        })
        .collect()
}

fn items(v: &Value, key: &str) -> Vec<Value> {
    v.get(key).and_then(Value::as_array).cloned().unwrap_or_default()
}

/// The version a registration leaf is of.
fn leaf_version(leaf: &Value) -> Option<Version> {
    Version::parse(leaf.get("catalogEntry")?.get("version")?.as_str()?)
}

/// Leaves unioned by version, first wins, in version order.
fn union_leaves(all: impl IntoIterator<Item = Value>) -> Vec<(Version, Value)> {
    let mut seen = HashSet::new();
    let mut out: Vec<(Version, Value)> = all
        .into_iter()
        .filter_map(|l| leaf_version(&l).map(|v| (v, l)))
        .filter(|(v, _)| seen.insert(v.lower()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn json_response(doc: Value) -> Response {
    Response::json(200, doc.to_string()).cacheable().metadata()
}

/// Merges the members' answers to a metadata request (`req.path` says which).
pub fn merge(req: &Request, answers: &[MemberAnswer]) -> Result<Response, Failure> {
    let path = req.path.strip_prefix("v3/").unwrap_or(&req.path).trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').collect();
    let docs = docs(answers)?;
    match segments.as_slice() {
        ["flatcontainer", _, "index.json"] => {
            let mut versions: Vec<Version> = Vec::new();
            let mut seen = HashSet::new();
            for d in &docs {
                for v in items(d, "versions")
                    .iter()
                    .filter_map(Value::as_str)
                    .filter_map(Version::parse)
                {
                    if seen.insert(v.lower()) {
                        versions.push(v);
                    }
                }
            }
            versions.sort();
            let list: Vec<String> = versions.iter().map(Version::lower).collect();
            Ok(json_response(json!({"versions": list})))
        }
        ["registration", id, "index.json"] => Ok(json_response(registration_index(req, id, &docs))),
        ["registration", _, "page", ..] => {
            let mut out = docs[0].clone();
            let leaves = union_leaves(docs.iter().flat_map(|d| items(d, "items")));
            out["count"] = json!(leaves.len());
            out["items"] = Value::Array(leaves.into_iter().map(|(_, l)| l).collect());
            Ok(json_response(out))
        }
        ["query"] => Ok(json_response(union_hits(&docs, |d| {
            d.get("id").and_then(Value::as_str).map(str::to_ascii_lowercase)
        }))),
        ["autocomplete"] => Ok(json_response(union_hits(&docs, |d| {
            d.as_str().map(str::to_ascii_lowercase)
        }))),
        _ => Ok(Response::bytes(200, "application/json", answers[0].content.clone())),
    }
}

/// A registration index over every member's versions.
fn registration_index(req: &Request, id: &str, docs: &[Value]) -> Value {
    let lower = id.to_ascii_lowercase();
    let index_id = format!("{}/registration/{lower}/index.json", req.base_url);
    let pages: Vec<Value> = docs.iter().flat_map(|d| items(d, "items")).collect();
    let pages = if pages.iter().all(|p| p.get("items").is_some()) {
        let leaves = union_leaves(pages.iter().flat_map(|p| items(p, "items")));
        let inline = leaves.len() <= INLINE_MAX;
        leaves
            .chunks(PAGE_SIZE)
            .map(|chunk| {
                let lo = chunk.first().map(|(v, _)| v.lower()).unwrap_or_default();
                let hi = chunk.last().map(|(v, _)| v.lower()).unwrap_or_default();
                let mut p = json!({
                    "@id": format!("{}/registration/{lower}/page/{lo}/{hi}.json", req.base_url),
                    "@type": "catalog:CatalogPage",
                    "count": chunk.len(),
                    "lower": lo,
                    "upper": hi,
                    "parent": index_id,
                });
                if inline {
                    p["items"] = Value::Array(chunk.iter().map(|(_, l)| l.clone()).collect());
                }
                p
            })
            .collect()
    } else {
        // Pages by range: the same range from two members is one page.
        let mut seen = HashSet::new();
        let mut out: Vec<Value> = pages
            .into_iter()
            .filter(|p| seen.insert(p.get("@id").map(Value::to_string).unwrap_or_default()))
            .collect();
        out.sort_by(|a, b| {
            let v = |p: &Value| p.get("lower").and_then(Value::as_str).and_then(Version::parse);
            v(a).cmp(&v(b))
        });
        out
    };
    json!({
        "@id": index_id,
        "@type": ["catalog:CatalogRoot", "PackageRegistration", "catalog:Permalink"],
        "count": pages.len(),
        "items": pages,
    })
}

/// Search-like answers (`{totalHits, data}`) unioned by a key of their entries.
fn union_hits(docs: &[Value], key: impl Fn(&Value) -> Option<String>) -> Value {
    let mut seen = HashSet::new();
    let mut data = Vec::new();
    let mut beyond = 0u64;
    for d in docs {
        let page = items(d, "data");
        let total = d.get("totalHits").and_then(Value::as_u64).unwrap_or(page.len() as u64);
        beyond += total.saturating_sub(page.len() as u64);
        for entry in page {
            if key(&entry).is_some_and(|k| seen.insert(k)) {
                data.push(entry);
            }
        }
    }
    json!({"totalHits": data.len() as u64 + beyond, "data": data})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(v: &str, from: &str) -> Value {
        json!({"catalogEntry": {"version": v, "from": from}})
    }

    #[test]
    fn inlined_registrations_are_unioned_and_repaged() {
        let a = json!({"items": [{"items": [leaf("1.0.0", "a"), leaf("2.0.0", "a")]}]});
        let b = json!({"items": [{"items": [leaf("1.0.0", "b"), leaf("1.5.0", "b")]}]});
        let req = Request {
            method: "GET".into(),
            path: "v3/registration/x/index.json".into(),
            query: String::new(),
            headers: Vec::new(),
            caller: binyard_plugin_sdk::package_type::Caller {
                name: None,
                admin: false,
                can_delete: false,
            },
            upload: None,
            base_url: "http://v".into(),
        };
        let out = registration_index(&req, "X", &[a, b]);
        let leaves = out["items"][0]["items"].as_array().unwrap();
        let got: Vec<(&str, &str)> = leaves
            .iter()
            .map(|l| {
                (
                    l["catalogEntry"]["version"].as_str().unwrap(),
                    l["catalogEntry"]["from"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, [("1.0.0", "a"), ("1.5.0", "b"), ("2.0.0", "a")]);
        assert_eq!(out["items"][0]["upper"], "2.0.0");
    }

    #[test]
    fn search_hits_are_unioned() {
        let a = json!({"totalHits": 1, "data": [{"id": "A"}]});
        let b = json!({"totalHits": 3, "data": [{"id": "a"}, {"id": "B"}]});
        let out = union_hits(&[a, b], |d| {
            d.get("id").and_then(Value::as_str).map(str::to_ascii_lowercase)
        });
        assert_eq!(out["totalHits"], 3);
        assert_eq!(out["data"].as_array().unwrap().len(), 2);
    }
}
