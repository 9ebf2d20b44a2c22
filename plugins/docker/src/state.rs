//! What the repository keeps beside its files, in the key-value space: the tags of
//! each name (`tags/{name}`: tag → digest), the names it holds (`catalog`), who
//! started each upload session (`upload/{id}`), the referrers of each subject
//! (`referrers/{name}/{hex}`) and the manifests of a name that use each blob
//! (`layer/{name}/{hex}`: the manifests' digests, hex).

use std::collections::{BTreeMap, BTreeSet};

use binyard_plugin_sdk::package_type::{Failure, Response, repository};
use serde_json::{Value, json};

use crate::error::OciError;
use crate::names::Name;
use crate::{Answer, Ctx};

fn get_json<T: serde::de::DeserializeOwned + Default>(key: &str) -> Result<T, Failure> {
    Ok(repository::kv_get(key)?
        .and_then(|v| serde_json::from_slice(&v).ok())
        .unwrap_or_default())
}

fn put_json<T: serde::Serialize>(key: &str, value: &T) -> Result<(), Failure> {
    let bytes = serde_json::to_vec(value).map_err(|e| Failure::new(500, e.to_string()))?;
    repository::kv_put(key, &bytes)
}

/// The tags of `name`: tag → `sha256:{hex}`.
pub fn tags(name: &Name) -> Result<BTreeMap<String, String>, Failure> {
    get_json(&format!("tags/{}", name.0))
}

pub fn set_tags(name: &Name, tags: &BTreeMap<String, String>) -> Result<(), Failure> {
    let key = format!("tags/{}", name.0);
    if tags.is_empty() {
        repository::kv_delete(&key)
    } else {
        put_json(&key, tags)
    }
}

/// The names the repository holds manifests of.
pub fn names() -> Result<BTreeSet<String>, Failure> {
    get_json("catalog")
}

/// Records that `name` holds a manifest (a write only the first time).
pub fn add_name(name: &Name) -> Result<(), Failure> {
    let mut all = names()?;
    if all.insert(name.0.clone()) {
        put_json("catalog", &all)?;
    }
    Ok(())
}

/// Forgets `name` (its last manifest went).
pub fn remove_name(name: &Name) -> Result<(), Failure> {
    let mut all = names()?;
    if all.remove(&name.0) {
        put_json("catalog", &all)?;
    }
    Ok(())
}

/// Whether the repository holds a manifest of `name` (or did, for its tag list).
pub fn known_name(name: &Name) -> Result<bool, Failure> {
    Ok(names()?.contains(&name.0))
}

/// The name and user an upload session was started for.
pub fn upload_owner(id: &str) -> Result<Option<(String, String)>, Failure> {
    let Some(v) = repository::kv_get(&format!("upload/{id}"))? else {
        return Ok(None);
    };
    let s = String::from_utf8_lossy(&v).into_owned();
    Ok(s.split_once('\n').map(|(n, u)| (n.to_string(), u.to_string())))
}

pub fn set_upload_owner(id: &str, name: &Name, user: &str) -> Result<(), Failure> {
    repository::kv_put(&format!("upload/{id}"), format!("{}\n{user}", name.0).as_bytes())
}

pub fn drop_upload_owner(id: &str) -> Result<(), Failure> {
    repository::kv_delete(&format!("upload/{id}"))
}

/// The manifests of `name` (hex digests) that use blob `hex`, oldest first.
pub fn layer_users(name: &Name, hex: &str) -> Result<Vec<String>, Failure> {
    get_json(&format!("layer/{}/{hex}", name.0))
}

/// Records that manifest `manifest` of `name` uses blob `hex` (`used`) or no longer does.
pub fn set_layer_user(name: &Name, hex: &str, manifest: &str, used: bool) -> Result<(), Failure> {
    let key = format!("layer/{}/{hex}", name.0);
    let mut users = layer_users(name, hex)?;
    let had = users.iter().any(|m| m == manifest);
    if used == had {
        return Ok(());
    }
    if used {
        users.push(manifest.to_string());
    } else {
        users.retain(|m| m != manifest);
    }
    if users.is_empty() {
        repository::kv_delete(&key)
    } else {
        put_json(&key, &users)
    }
}

/// The descriptors of the manifests whose `subject` is `hex`.
pub fn referrers(name: &Name, hex: &str) -> Result<Vec<Value>, Failure> {
    get_json(&format!("referrers/{}/{hex}", name.0))
}

pub fn set_referrers(name: &Name, hex: &str, list: &[Value]) -> Result<(), Failure> {
    let key = format!("referrers/{}/{hex}", name.0);
    if list.is_empty() {
        repository::kv_delete(&key)
    } else {
        put_json(&key, &list)
    }
}

/// The `n` and `last` query parameters of a paginated list.
fn page(ctx: &Ctx) -> Result<(Option<usize>, Option<String>), OciError> {
    let n = match ctx.req.query_param("n") {
        Some(v) if !v.is_empty() => Some(
            v.parse::<usize>()
                .map_err(|_| OciError::bad("PAGINATION_NUMBER_INVALID", format!("n={v} is not a number")))?,
        ),
        _ => None,
    };
    let last = ctx.req.query_param("last").filter(|l| !l.is_empty());
    Ok((n, last))
}

/// One page of sorted `items` after `last`, with the `Link` to the next page when
/// there is one (`url` is the list's address).
fn paginate(items: Vec<String>, n: Option<usize>, last: Option<String>, url: &str) -> (Vec<String>, Option<String>) {
    let rest: Vec<String> = items
        .into_iter()
        .filter(|t| last.as_ref().is_none_or(|l| t > l))
        .collect();
    match n {
        Some(n) if rest.len() > n => {
            let page: Vec<String> = rest.into_iter().take(n).collect();
            let next = page.last().map(|l| format!("<{url}?n={n}&last={l}>; rel=\"next\""));
            (page, next)
        }
        _ => (rest, None),
    }
}

/// `GET /v2/{name}/tags/list[?n=&last=]`
pub fn tags_list(ctx: &Ctx, name: &Name) -> Answer {
    let tags = tags(name)?;
    if tags.is_empty() && !known_name(name)? {
        return Err(OciError::not_found("NAME_UNKNOWN", format!("No repository '{}' here", name.0)).into());
    }
    tags_page(ctx, name, tags.into_keys().collect())
}

/// The answer of a tag list: one page of the sorted `tags` (metadata: a virtual
/// repository merges its members' lists).
pub fn tags_page(ctx: &Ctx, name: &Name, tags: Vec<String>) -> Answer {
    let (n, last) = page(ctx)?;
    let url = format!("{}/{}/tags/list", ctx.base, name.0);
    let (page, next) = paginate(tags, n, last, &url);
    let mut r = Response::json(200, json!({"name": name.0, "tags": page}).to_string()).metadata();
    if let Some(link) = next {
        r = r.with_header("link", link);
    }
    Ok(r)
}

/// A virtual repository's tag list or catalog: the union of its members' lists
/// (`key`: "tags" or "repositories"), paginated again.
pub fn merge_lists(ctx: &Ctx, key: &str, lists: &[Value], more: bool) -> Answer {
    let mut all: BTreeSet<String> = BTreeSet::new();
    for l in lists {
        if let Some(a) = l[key].as_array() {
            all.extend(a.iter().filter_map(Value::as_str).map(str::to_string));
        }
    }
    let (n, last) = page(ctx)?;
    let (mut doc, url) = match lists.first().and_then(|l| l["name"].as_str()) {
        Some(name) if key == "tags" => (json!({"name": name}), format!("{}/{name}/tags/list", ctx.base)),
        _ => (json!({}), format!("{}/_catalog", ctx.base)),
    };
    let (page, mut next) = paginate(all.into_iter().collect(), n, last, &url);
    if next.is_none()
        && more
        && let (Some(n), Some(l)) = (n, page.last())
    {
        next = Some(format!("<{url}?n={n}&last={l}>; rel=\"next\""));
    }
    doc[key] = json!(page);
    let mut r = Response::json(200, doc.to_string());
    if let Some(link) = next {
        r = r.with_header("link", link);
    }
    Ok(r)
}

/// `GET /v2/_catalog[?n=&last=]` of this repository (names as the client sees them).
pub fn catalog(ctx: &Ctx) -> Answer {
    let (n, last) = page(ctx)?;
    let url = format!("{}/_catalog", ctx.base);
    let all: Vec<String> = names()?.into_iter().collect();
    let (page, next) = paginate(all, n, last, &url);
    let mut r = Response::json(200, json!({"repositories": page}).to_string()).metadata();
    if let Some(link) = next {
        r = r.with_header("link", link);
    }
    Ok(r)
}
