//! The npm registry API for binyard repositories of package type `npm`, served at
//! `/artifactory/api/npm/{repo}/`: publish, install (full and abbreviated
//! packuments), tarballs, dist-tags, deprecate, unpublish, search, whoami, ping and
//! the legacy (CouchDB-style) login.
//!
//! Tarballs are stored in Artifactory's layout, `{name}/-/{name}-{version}.tgz`,
//! with the properties `npm.name`, `npm.version`, `npm.disttag` and
//! `npm.deprecated`; packuments are built from what is stored (see `store`).

mod cache;
mod integrity;
mod merge;
mod names;
mod packument;
mod publish;
mod remote;
mod search;
mod store;
mod tarball;

use binyard_plugin_sdk::package_type::{
    Description, Failure, Guest, MemberAnswer, PackageCoordinates, Request, Response, accounts, log, repository,
};
use serde_json::{Value, json};

use names::PackageName;

/// The media type of the abbreviated packument.
const CORGI: &str = "application/vnd.npm.install-v1+json";
/// The largest body of a small request (login, dist-tag).
const MAX_SMALL_BODY: u64 = 64 << 10;

struct Npm;

impl Guest for Npm {
    fn describe() -> Description {
        Description::new("npm", env!("CARGO_PKG_VERSION"), "npm", "npm registry API")
            // `npm login` comes before the client has credentials; npm 11 first tries
            // web login and falls back to the legacy login when that answers 404.
            .with_login_paths(&["-/user/", "-/v1/login"])
            .with_coordinates(PackageCoordinates::new(store::PROP_NAME, store::PROP_VERSION))
    }

    /// Virtual repositories: the members' packuments, versions unioned.
    fn merge(_req: Request, answers: Vec<MemberAnswer>) -> Result<Response, Failure> {
        merge::merge(&answers)
    }

    fn handle(req: Request) -> Result<Response, Failure> {
        if repository::info().rclass == repository::RepoClass::Remote {
            return remote::handle(&req);
        }
        let method = req.method.as_str();
        let path = req.path.trim_end_matches('/');
        if let Some(rest) = path.strip_prefix("-/") {
            return special(&req, method, rest);
        }
        let (name, rest) = split_name(path)?;
        let name = PackageName::parse(name)?;
        let rest: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        match (method, rest.as_slice()) {
            ("GET" | "HEAD", []) => get_packument(&req, &name),
            ("GET" | "HEAD", ["-", file @ ..]) => get_tarball(&name, &file.join("/")),
            ("GET" | "HEAD", [spec]) => get_version(&req, &name, spec),
            ("PUT", []) => publish::put(&req, &name, None),
            ("PUT", ["-rev", rev]) => publish::put(&req, &name, Some(rev)),
            ("DELETE", []) => delete_package(&name, None),
            ("DELETE", ["-rev", rev]) => delete_package(&name, Some(rev)),
            ("DELETE", ["-", file @ ..]) => {
                let file = match file {
                    [f @ .., "-rev", _] => f.join("/"),
                    f => f.join("/"),
                };
                delete_tarball(&name, &file)
            }
            _ => Err(Failure::new(
                405,
                format!("npm registries do not answer {method} /{}", req.path),
            )),
        }
    }
}

/// Splits `name/rest` or `@scope/name/rest`.
fn split_name(path: &str) -> Result<(&str, &str), Failure> {
    if path.is_empty() {
        return Err(Failure::not_found(
            "This is an npm registry: ask for a package, e.g. GET /{name}",
        ));
    }
    let cut = if path.starts_with('@') {
        path.match_indices('/').nth(1).map(|(i, _)| i)
    } else {
        path.find('/')
    };
    Ok(match cut {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (path, ""),
    })
}

/// The `/-/…` endpoints.
fn special(req: &Request, method: &str, rest: &str) -> Result<Response, Failure> {
    match (method, rest) {
        ("GET" | "HEAD", "ping") => Ok(Response::json(200, "{}")),
        ("GET", "whoami") => match &req.caller.name {
            Some(n) => Ok(Response::json(200, json!({"username": n}).to_string())),
            None => Err(Failure::new(401, "You are not logged in")),
        },
        ("GET", "v1/search") => Ok(Response::json(200, search::search(req).to_string())),
        ("POST", "v1/login") => Err(Failure::not_found(
            "Web login is not supported here; npm falls back to the username and password login",
        )),
        ("PUT", r) if r.starts_with("user/org.couchdb.user:") => login(req, &r["user/org.couchdb.user:".len()..]),
        ("DELETE", r) if r.starts_with("user/token/") => {
            // Tokens are the host's; this plugin cannot revoke one.
            log::emit(
                log::Level::Info,
                "npm logout: the token stays valid until it expires or is revoked",
            );
            Ok(Response::json(200, json!({"ok": true}).to_string()))
        }
        (_, r) if r.starts_with("package/") => dist_tags(req, method, &r["package/".len()..]),
        _ => Err(Failure::not_found(format!("No npm endpoint {method} /-/{rest}"))),
    }
}

/// `PUT /-/user/org.couchdb.user:{name}` with `{name, password}`: checks the
/// password with the host and answers a new access token for `_authToken`.
fn login(req: &Request, rest: &str) -> Result<Response, Failure> {
    let user = rest.split('/').next().unwrap_or_default();
    let body = req.read_upload(MAX_SMALL_BODY)?;
    let doc: Value = serde_json::from_slice(&body)
        .map_err(|e| Failure::bad_request(format!("The login document is not JSON: {e}")))?;
    let name = doc.get("name").and_then(Value::as_str).unwrap_or(user);
    if name != user {
        return Err(Failure::bad_request(format!(
            "The document logs in '{name}' but was sent to org.couchdb.user:{user}"
        )));
    }
    let Some(password) = doc.get("password").and_then(Value::as_str) else {
        return Err(Failure::bad_request("The login document has no password"));
    };
    let token = accounts::login(name, password, &format!("npm login ({})", repository::info().key))?;
    Ok(Response::json(
        201,
        json!({
            "ok": true,
            "id": format!("org.couchdb.user:{name}"),
            "rev": "_we_dont_use_revs_any_more",
            "token": token,
        })
        .to_string(),
    ))
}

fn not_found(name: &PackageName) -> Failure {
    Failure::not_found(format!(
        "Package '{}' is not in repository '{}'",
        name.full,
        repository::info().key
    ))
}

/// `GET /{name}`: the full packument, or the abbreviated one when asked for.
fn get_packument(req: &Request, name: &PackageName) -> Result<Response, Failure> {
    let abbreviated = req.header("accept").is_some_and(|a| a.contains(CORGI));
    let versions = store::versions(name);
    if versions.is_empty() {
        return Err(not_found(name));
    }
    let fp = cache::fingerprint(&versions, &req.base_url, abbreviated);
    let etag = format!("\"{fp}\"");
    let content_type = if abbreviated { CORGI } else { "application/json" };
    // Always revalidated, so a publish is seen at once; unchanged answers are 304.
    let fresh = req
        .header("if-none-match")
        .is_some_and(|h| h.split(',').any(|t| t.trim().trim_start_matches("W/") == etag));
    let resp = if fresh {
        Response::empty(304)
    } else if let Some(body) = cache::get(name, &req.base_url, abbreviated, &fp) {
        Response::bytes(200, content_type, body)
    } else {
        let doc = packument::build(name, &versions, &req.base_url, abbreviated).ok_or_else(|| not_found(name))?;
        let body = doc.to_string().into_bytes();
        cache::put(name, &req.base_url, abbreviated, &fp, &body);
        Response::bytes(200, content_type, body)
    };
    Ok(resp
        .with_header("etag", etag)
        .with_header("cache-control", "no-cache")
        .with_header("vary", "accept")
        .cacheable()
        .metadata())
}

/// `GET /{name}/{version|tag}`: one version's document.
fn get_version(req: &Request, name: &PackageName, spec: &str) -> Result<Response, Failure> {
    let versions = store::versions(name);
    if versions.is_empty() {
        return Err(not_found(name));
    }
    let tags = store::dist_tags(&versions);
    let version = tags.get(spec).and_then(Value::as_str).unwrap_or(spec);
    let s = versions
        .iter()
        .find(|s| s.version == version)
        .ok_or_else(|| Failure::not_found(format!("{} has no version or dist-tag '{spec}'", name.full)))?;
    let doc = packument::version_doc(name, s, &req.base_url).ok_or_else(|| {
        Failure::new(
            500,
            format!("The metadata of {}@{} cannot be read", name.full, s.version),
        )
    })?;
    Ok(Response::json(200, doc.to_string()))
}

/// The stored path of a tarball asked for as `{name}/-/{file}`: our layout
/// (`@scope/name-1.0.0.tgz`) or the public registry's (`name-1.0.0.tgz`).
fn tarball_path(name: &PackageName, file: &str) -> Option<String> {
    let leaf = file.rsplit('/').next().unwrap_or(file);
    let version = name.version_of_leaf(leaf)?;
    let ours = name.tarball_path(version);
    if repository::stat(&ours).ok().flatten().is_some_and(|a| !a.folder) {
        return Some(ours);
    }
    let plain = format!("{}/-/{leaf}", name.full);
    repository::stat(&plain)
        .ok()
        .flatten()
        .filter(|a| !a.folder)
        .map(|_| plain)
}

fn get_tarball(name: &PackageName, file: &str) -> Result<Response, Failure> {
    let path = tarball_path(name, file)
        .ok_or_else(|| Failure::not_found(format!("No tarball '{file}' of {} here", name.full)))?;
    Ok(Response::artifact(path).with_header("content-type", "application/octet-stream"))
}

/// `DELETE /{name}/-/{file}/-rev/{rev}`: the last step of `npm unpublish name@version`.
fn delete_tarball(name: &PackageName, file: &str) -> Result<Response, Failure> {
    let path = tarball_path(name, file)
        .ok_or_else(|| Failure::not_found(format!("No tarball '{file}' of {} here", name.full)))?;
    repository::delete(&path)?;
    if store::versions(name).is_empty() {
        store::delete_package(name)?;
    }
    Ok(Response::json(200, json!({"ok": true}).to_string()))
}

/// `DELETE /{name}/-rev/{rev}`: `npm unpublish name` (every version).
fn delete_package(name: &PackageName, rev: Option<&str>) -> Result<Response, Failure> {
    let versions = store::versions(name);
    if versions.is_empty() && repository::stat(name.folder())?.is_none() {
        return Err(not_found(name));
    }
    if let Some(rev) = rev {
        let current = store::revision(&versions);
        if rev != current {
            return Err(Failure::conflict(format!(
                "{} changed since it was read (revision {rev}, now {current}): fetch it again",
                name.full
            )));
        }
    }
    store::delete_package(name)?;
    Ok(Response::json(200, json!({"ok": true}).to_string()))
}

/// `/-/package/{name}/dist-tags[/{tag}]`: `npm dist-tag ls|add|rm`.
fn dist_tags(req: &Request, method: &str, rest: &str) -> Result<Response, Failure> {
    let (name, tail) = split_name(rest)?;
    let name = PackageName::parse(name)?;
    let tail = tail.trim_matches('/');
    let tag = match tail.strip_prefix("dist-tags") {
        Some("") => None,
        Some(t) if t.starts_with('/') => Some(&t[1..]),
        _ => return Err(Failure::not_found(format!("No npm endpoint /-/package/{rest}"))),
    };
    let versions = store::versions(&name);
    if versions.is_empty() {
        return Err(not_found(&name));
    }
    let current = store::dist_tags(&versions);
    match (method, tag) {
        ("GET", None) => Ok(Response::json(200, Value::Object(current).to_string())),
        ("GET", Some(t)) => match current.get(t) {
            Some(v) => Ok(Response::json(200, v.to_string())),
            None => Err(Failure::not_found(format!("{} has no dist-tag '{t}'", name.full))),
        },
        ("PUT" | "POST", Some(t)) => {
            names::check_tag(t)?;
            let body = req.read_upload(MAX_SMALL_BODY)?;
            let version: String = serde_json::from_slice(&body).map_err(|_| {
                Failure::bad_request("The body of a dist-tag change is a version as a JSON string, e.g. \"1.2.3\"")
            })?;
            let target = versions
                .iter()
                .find(|s| s.version == version)
                .ok_or_else(|| Failure::not_found(format!("{} has no version {version}", name.full)))?;
            publish::set_tag(&versions, target, t)?;
            Ok(Response::json(201, json!({"ok": true}).to_string()))
        }
        ("DELETE", Some(t)) => {
            if t == "latest" {
                return Err(Failure::bad_request(
                    "The 'latest' tag cannot be removed: point it at another version instead",
                ));
            }
            if !current.contains_key(t) {
                return Err(Failure::not_found(format!("{} has no dist-tag '{t}'", name.full)));
            }
            for s in &versions {
                publish::remove_tags(s, &[t.to_string()])?;
            }
            Ok(Response::json(200, json!({"ok": true}).to_string()))
        }
        _ => Err(Failure::new(
            405,
            format!("dist-tags do not answer {method} /-/package/{rest}"),
        )),
    }
}

binyard_plugin_sdk::package_type::export_package_type!(Npm);
