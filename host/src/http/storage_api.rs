//! `/artifactory/api/storage/{repo}/{path}` (item info, listings, properties,
//! statistics) and `/artifactory/api/metadata/{repo}/{path}` (properties as JSON).

use axum::extract::State as Axs;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{BaseUrl, Query, State, json_response, raw_rest};
use crate::artifacts::paths::{self, RepoPath, url_path};
use crate::artifacts::{PropertyChange, parse_property_list};
use crate::auth::{Action, Caller};
use crate::clock::iso8601;
use crate::http::error::{ApiError, ApiResult};
use crate::repos::{RClass, RepoConfig};
use crate::storage::Item;
use crate::virtual_repos::{self, VirtualError};

pub fn storage_uri(base: &str, repo: &str, path: &str) -> String {
    if path.is_empty() {
        format!("{base}/artifactory/api/storage/{repo}")
    } else {
        format!("{base}/artifactory/api/storage/{repo}/{}", url_path(path))
    }
}

fn download_uri(base: &str, repo: &str, path: &str) -> String {
    format!("{base}/artifactory/{repo}/{}", url_path(path))
}

fn checksums(item: &Item) -> (Value, Value) {
    let b = item.blob.clone().unwrap_or_default();
    let mut original = serde_json::Map::new();
    for (k, v) in [
        ("sha1", &item.original.sha1),
        ("md5", &item.original.md5),
        ("sha256", &item.original.sha256),
    ] {
        if let Some(v) = v {
            original.insert(k.into(), json!(v));
        }
    }
    (
        json!({"sha1": b.sha1, "md5": b.md5, "sha256": b.sha256}),
        Value::Object(original),
    )
}

/// The answer to a deploy.
pub fn deploy_json(base: &str, repo: &str, path: &str, item: &Item) -> Value {
    let (sums, original) = checksums(item);
    json!({
        "repo": repo,
        "path": format!("/{path}"),
        "created": iso8601(item.created),
        "createdBy": item.created_by,
        "downloadUri": download_uri(base, repo, path),
        "mimeType": item.mime,
        "size": item.size().to_string(),
        "checksums": sums,
        "originalChecksums": original,
        "uri": storage_uri(base, repo, path),
    })
}

/// Item info of a file: the deploy answer plus modification times.
pub fn file_info_json(base: &str, repo: &str, path: &str, item: &Item) -> Value {
    let mut v = deploy_json(base, repo, path, item);
    add_modified(&mut v, item);
    v
}

fn add_modified(v: &mut Value, item: &Item) {
    v["lastModified"] = json!(iso8601(item.modified));
    v["modifiedBy"] = json!(item.modified_by);
    v["lastUpdated"] = json!(iso8601(item.modified));
}

/// Item info of a folder.
pub fn folder_info_json(base: &str, repo: &str, path: &str, item: &Item, children: Vec<(String, Item)>) -> Value {
    let children: Vec<Value> = children
        .into_iter()
        .map(|(name, i)| json!({"uri": format!("/{}", url_path(&name)), "folder": i.folder}))
        .collect();
    let mut v = json!({
        "repo": repo,
        "path": format!("/{path}"),
        "created": iso8601(item.created),
        "createdBy": item.created_by,
        "children": children,
        "uri": storage_uri(base, repo, path),
    });
    add_modified(&mut v, item);
    v
}

/// The target of a storage API call; `{remote}-cache` names the remote's cached items.
fn parse_target(state: &State, uri: &Uri, prefix: &str) -> ApiResult<RepoPath> {
    let mut rp = RepoPath::parse(raw_rest(uri, prefix))?;
    super::remote::cache_alias(state, &mut rp);
    Ok(rp)
}

/// GET: item info, `?list`, `?properties`, `?stats`.
pub async fn get(
    Axs(state): Axs<State>,
    caller: Caller,
    BaseUrl(base): BaseUrl,
    q: Query,
    uri: Uri,
) -> ApiResult<Response> {
    let rp = parse_target(&state, &uri, "/artifactory/api/storage/")?;
    let repo = state.repos.existing(&rp.repo)?;
    if repo.rclass == RClass::Virtual {
        return virtual_get(&state, &caller, &base, &q, &repo, &rp.path);
    }
    let item = match state.artifacts.item_or_root(&repo.key, &rp.path) {
        Ok(i) => i,
        Err(e) => {
            state.auth.authorize(&caller, Action::Read, &repo.key, &rp.path)?;
            return Err(e.into());
        }
    };
    state
        .auth
        .authorize_read_item(&caller, &repo.key, &rp.path, item.folder)?;
    let (repo, path) = (repo.key.as_str(), rp.path.as_str());

    if q.has("properties") {
        return properties_answer(&base, repo, path, &item, &q);
    }
    if q.has("stats") {
        let s = state.artifacts.download_stats(&state.downloads, repo, path)?;
        return Ok(json_response(
            StatusCode::OK,
            &json!({
                "uri": storage_uri(&base, repo, path),
                "downloadCount": s.downloads,
                "lastDownloaded": s.last_downloaded,
                "lastDownloadedBy": s.last_downloaded_by,
                "remoteDownloadCount": 0,
                "remoteLastDownloaded": 0,
            }),
        ));
    }
    if q.has("list") {
        return list(&state, &caller, &base, repo, path, &item, &q);
    }
    if item.folder && q.has("limit") {
        return folder_page(&state, &caller, &base, repo, path, &item, &q);
    }
    let v = if item.folder {
        let children = state
            .artifacts
            .children(repo, path)?
            .into_iter()
            .filter(|(name, i)| {
                let child = paths::join(path, name);
                state.auth.can_see(&caller, repo, &child, i.folder)
            })
            .collect();
        folder_info_json(&base, repo, path, &item, children)
    } else {
        file_info_json(&base, repo, path, &item)
    };
    Ok(json_response(StatusCode::OK, &v))
}

/// `?properties[=a,b]`: the item's properties (all, or those named); 404 when none.
fn properties_answer(base: &str, repo: &str, path: &str, item: &Item, q: &Query) -> ApiResult<Response> {
    let wanted: Vec<&str> = q
        .get("properties")
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .collect();
    let props: serde_json::Map<String, Value> = item
        .props
        .iter()
        .filter(|(k, _)| wanted.is_empty() || wanted.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    if props.is_empty() {
        return Err(ApiError::not_found(format!(
            "No properties could be found on '{repo}/{path}'"
        )));
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"properties": props, "uri": storage_uri(base, repo, path)}),
    ))
}

/// Item info through a virtual repository, as Artifactory answers it: a file is
/// the first readable member's, a folder has the children of every member the
/// caller may read (the first member's item for a name several have); addresses
/// are the virtual repository's. `?properties` reads the resolved file's; the
/// other queries work on member repositories only.
fn virtual_get(
    state: &State,
    caller: &Caller,
    base: &str,
    q: &Query,
    v: &RepoConfig,
    path: &str,
) -> ApiResult<Response> {
    if q.has("list") || q.has("stats") || q.has("limit") {
        return Err(ApiError::bad_request(format!(
            "'{}' is a virtual repository: ask one of its member repositories for ?list, ?stats and ?limit",
            v.key
        )));
    }
    let err = |e: VirtualError| match e {
        VirtualError::Store(e) => ApiError::from(e),
        e => ApiError::internal_logged("Cannot resolve through the virtual repository", e),
    };
    let (vr, meta, auth) = (&state.repos, &*state.meta, &state.auth);
    let item = if path.is_empty() {
        state.artifacts.item_or_root(&v.key, "")?
    } else {
        let file = virtual_repos::find_file(vr, meta, auth, caller, &v.key, path).map_err(err)?;
        let found = match file {
            Some(f) => Some(f),
            None => virtual_repos::find_item(vr, meta, auth, caller, &v.key, path).map_err(err)?,
        };
        found
            .map(|(_, i)| i)
            .ok_or_else(|| ApiError::not_found(format!("Unable to find item '{}/{path}'", v.key)))?
    };
    if q.has("properties") {
        return properties_answer(base, &v.key, path, &item, q);
    }
    let info = if item.folder {
        let children = virtual_repos::children(vr, meta, auth, caller, &v.key, path).map_err(err)?;
        folder_info_json(base, &v.key, path, &item, children)
    } else {
        file_info_json(base, &v.key, path, &item)
    };
    Ok(json_response(StatusCode::OK, &info))
}

/// The largest page of `?limit=N`.
const MAX_PAGE: usize = 1000;

/// Folder info with a page of its children (`?limit=N[&after=NAME]`, by name): each
/// child also has its size and modification time, and `nextAfter` names the last
/// child when more may follow. A folder of any size answers a page quickly.
fn folder_page(
    state: &State,
    caller: &Caller,
    base: &str,
    repo: &str,
    path: &str,
    item: &Item,
    q: &Query,
) -> ApiResult<Response> {
    let limit = match q.get("limit").filter(|l| !l.is_empty()) {
        None => 100,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| ApiError::bad_request(format!("limit must be a number from 1 to {MAX_PAGE}, not '{l}'")))?,
    };
    let mut after = q.get("after").filter(|a| !a.is_empty()).map(str::to_string);
    let mut page = Vec::new();
    let mut more = false;
    let mut exhausted = false;
    // Children the caller may not see are skipped, so a page may take several reads.
    while page.len() < limit && !exhausted {
        let batch = state.artifacts.children_page(repo, path, after.as_deref(), limit + 1)?;
        exhausted = batch.len() <= limit;
        for (name, i) in batch {
            if page.len() == limit {
                more = true;
                break;
            }
            after = Some(name.clone());
            let child = paths::join(path, &name);
            if state.auth.can_see(caller, repo, &child, i.folder) {
                page.push((name, i));
            }
        }
    }
    // A full page that ended with its batch: whether anything follows it.
    if !more && !exhausted && page.len() == limit {
        more = !state
            .artifacts
            .children_page(repo, path, after.as_deref(), 1)?
            .is_empty();
    }
    let children: Vec<Value> = page
        .iter()
        .map(|(name, i)| {
            json!({
                "uri": format!("/{}", url_path(name)),
                "folder": i.folder,
                "size": if i.folder { -1 } else { i.size() as i64 },
                "lastModified": iso8601(i.modified),
            })
        })
        .collect();
    let mut v = folder_info_json(base, repo, path, item, Vec::new());
    v["children"] = Value::Array(children);
    if more && let Some((last, _)) = page.last() {
        v["nextAfter"] = json!(last);
    }
    Ok(json_response(StatusCode::OK, &v))
}

/// `?list[&deep=1][&depth=N][&listFolders=1][&includeRootPath=1]`
fn list(
    state: &State,
    caller: &Caller,
    base: &str,
    repo: &str,
    path: &str,
    item: &Item,
    q: &Query,
) -> ApiResult<Response> {
    if !item.folder {
        return Err(ApiError::bad_request(format!(
            "'{repo}/{path}' is a file: only folders can be listed"
        )));
    }
    let deep = q.flag("deep");
    let depth = match q.get("depth") {
        Some(d) => Some(
            d.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("depth must be a number, not '{d}'")))?,
        ),
        None if deep => None,
        None => Some(1),
    };
    let list_folders = q.flag("listFolders");
    // The answer is streamed as the tree is walked (on a blocking thread), so a huge
    // or deep tree costs bounded memory and the first bytes come at once.
    let head = json!({"uri": storage_uri(base, repo, path), "created": iso8601(item.created)}).to_string();
    let mut first = format!("{},\"files\":[", head.trim_end_matches('}'));
    let mut empty = true;
    if q.flag("includeRootPath") && list_folders {
        first.push_str(
            &json!({"uri": "/", "size": -1, "lastModified": iso8601(item.modified), "folder": true}).to_string(),
        );
        empty = false;
    }
    let batches = state.artifacts.walk_batches(repo, path, depth);
    let (state, caller, repo, path) = (state.clone(), caller.clone(), repo.to_string(), path.to_string());
    let entries = futures_util::stream::unfold((batches, empty), move |(mut batches, mut empty)| {
        let (state, caller, repo, path) = (state.clone(), caller.clone(), repo.clone(), path.clone());
        async move {
            let batch = match batches.recv().await? {
                Ok(b) => b,
                // The status is sent already: the answer breaks off instead.
                Err(e) => return Some((Err(std::io::Error::other(e.to_string())), (batches, empty))),
            };
            let mut out = String::new();
            for (p, i) in batch {
                if (i.folder && !list_folders) || !state.auth.can_see(&caller, &repo, &p, i.folder) {
                    continue;
                }
                if !empty {
                    out.push(',');
                }
                empty = false;
                out.push_str(&list_entry(&p[path.len()..], &i).to_string());
            }
            Some((Ok(bytes::Bytes::from(out)), (batches, empty)))
        }
    });
    use futures_util::StreamExt;
    let body = futures_util::stream::once(async move { Ok::<_, std::io::Error>(bytes::Bytes::from(first)) })
        .chain(entries)
        .chain(futures_util::stream::once(async {
            Ok(bytes::Bytes::from_static(b"]}"))
        }));
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

/// One entry of a listing; `rel` is the path below the listed folder.
fn list_entry(rel: &str, i: &Item) -> Value {
    let rel = if rel.starts_with('/') {
        rel.to_string()
    } else {
        format!("/{rel}")
    };
    if i.folder {
        json!({"uri": url_path(&rel), "size": -1, "lastModified": iso8601(i.modified), "folder": true})
    } else {
        let b = i.blob.clone().unwrap_or_default();
        json!({
            "uri": url_path(&rel), "size": b.size, "lastModified": iso8601(i.modified),
            "folder": false, "sha1": b.sha1, "sha2": b.sha256,
        })
    }
}

/// PUT `?properties=k=v1,v2;k2=v3[&recursive=1]`
pub async fn set_properties(Axs(state): Axs<State>, caller: Caller, q: Query, uri: Uri) -> ApiResult<Response> {
    let rp = parse_target(&state, &uri, "/artifactory/api/storage/")?;
    let repo = state.repos.stored(&rp.repo)?;
    state.auth.authorize(&caller, Action::Annotate, &repo.key, &rp.path)?;
    let raw = q
        .get("properties")
        .ok_or_else(|| ApiError::bad_request("PUT on the storage API sets properties: add ?properties=key=value"))?;
    let changes = parse_property_list(raw)?;
    state
        .artifacts
        .change_properties(&repo.key, &rp.path, &changes, recursive(&q), caller.name())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// DELETE `?properties=k1,k2[&recursive=1]`
pub async fn delete_properties(Axs(state): Axs<State>, caller: Caller, q: Query, uri: Uri) -> ApiResult<Response> {
    let rp = parse_target(&state, &uri, "/artifactory/api/storage/")?;
    let repo = state.repos.stored(&rp.repo)?;
    state.auth.authorize(&caller, Action::Annotate, &repo.key, &rp.path)?;
    let raw = q.get("properties").ok_or_else(|| {
        ApiError::bad_request("DELETE on the storage API removes properties: add ?properties=key1,key2")
    })?;
    let changes: Vec<PropertyChange> = raw
        .split(',')
        .filter(|k| !k.is_empty())
        .map(|k| PropertyChange {
            key: k.to_string(),
            values: None,
        })
        .collect();
    if changes.is_empty() {
        return Err(ApiError::bad_request("No property keys were given"));
    }
    state
        .artifacts
        .change_properties(&repo.key, &rp.path, &changes, recursive(&q), caller.name())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn recursive(q: &Query) -> bool {
    // Artifactory's default for PUT/DELETE ?properties is recursive=1.
    q.get("recursive").is_none_or(|v| v != "0")
}

/// PATCH `/api/metadata/{repo}/{path}` with `{"props":{"k":"v"|["v1","v2"]|null}}`.
pub async fn patch_metadata(
    Axs(state): Axs<State>,
    caller: Caller,
    q: Query,
    uri: Uri,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let rp = parse_target(&state, &uri, "/artifactory/api/metadata/")?;
    let repo = state.repos.stored(&rp.repo)?;
    state.auth.authorize(&caller, Action::Annotate, &repo.key, &rp.path)?;
    let v: Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("Malformed JSON body: {e}")))?;
    let props = v
        .get("props")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request("The body needs a 'props' object"))?;
    let mut changes = Vec::new();
    for (k, val) in props {
        crate::artifacts::paths::check_property_key(k)?;
        let values = match val {
            Value::Null => None,
            Value::String(s) => Some(vec![s.clone()]),
            Value::Array(a) => Some(
                a.iter()
                    .map(|x| match x {
                        Value::String(s) => Ok(s.clone()),
                        Value::Number(_) | Value::Bool(_) => Ok(x.to_string()),
                        _ => Err(ApiError::bad_request(format!(
                            "Property '{k}' has a value that is not a string"
                        ))),
                    })
                    .collect::<ApiResult<Vec<_>>>()?,
            ),
            Value::Number(_) | Value::Bool(_) => Some(vec![val.to_string()]),
            Value::Object(_) => {
                return Err(ApiError::bad_request(format!("Property '{k}' has an object value")));
            }
        };
        for v in values.iter().flatten() {
            crate::artifacts::paths::check_property_value(k, v)?;
        }
        changes.push(PropertyChange { key: k.clone(), values });
    }
    let recursive = q.flag("recursiveProperties") || q.flag("recursive");
    state
        .artifacts
        .change_properties(&repo.key, &rp.path, &changes, recursive, caller.name())
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
