//! The write side: `PUT package/` (a multipart body, as NuGet clients send it, or
//! the bare `.nupkg`), `DELETE package/{id}/{version}` (unlists, or removes when
//! the repository's `nugetDelete` is `remove`) and `POST package/{id}/{version}`
//! (relists).

use binyard_plugin_sdk::package_type::{Failure, Request, Response, repository};
use serde_json::{Value, json};

use crate::names::Version;
use crate::nupkg::{self, Source};
use crate::store::{self, PROP_ID, PROP_LISTED, PROP_SEMVER2, PROP_VERSION};
use crate::{multipart, nuspec};

/// A range of the current request's upload.
struct Part {
    offset: u64,
    len: u64,
}

impl Source for Part {
    fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>, String> {
        repository::read_upload(self.offset + offset, len).map_err(|f| f.message)
    }
    fn size(&self) -> u64 {
        self.len
    }
}

fn bad(why: impl std::fmt::Display) -> Failure {
    Failure::bad_request(format!("The package is refused: {why}"))
}

/// `PUT package/`: stores the `.nupkg` and its `.nuspec`.
pub fn push(req: &Request) -> Result<Response, Failure> {
    let upload = req.upload.as_ref().ok_or_else(|| bad("the request has no body"))?;
    let (offset, len) = match req.header("content-type").and_then(multipart::boundary) {
        Some(b) => multipart::first_part(upload.size, &b, |o, l| {
            repository::read_upload(o, l).map_err(|f| f.message)
        })
        .map_err(bad)?,
        None => (0, upload.size),
    };
    let part = Part { offset, len };
    let spec_bytes = nupkg::nuspec(&part).map_err(|e| bad(format!("it is not a valid .nupkg: {e}")))?;
    let spec = nuspec::parse(&spec_bytes).map_err(bad)?;
    let lower = spec.id.to_ascii_lowercase();
    let (nupkg_path, nuspec_path) = store::paths(&lower, &spec.version);
    if repository::stat(&nupkg_path)?.is_some() && !req.caller.can_delete {
        return Err(Failure::conflict(format!(
            "{} {} is already in repository '{}': published versions are immutable (overwriting needs the delete permission)",
            spec.id,
            spec.version.normalized(),
            repository::info().key
        )));
    }
    let mut props = vec![
        (PROP_ID.to_string(), vec![spec.id.clone()]),
        (PROP_VERSION.to_string(), vec![spec.version.normalized()]),
    ];
    if spec.version.semver2 {
        props.push((PROP_SEMVER2.to_string(), vec!["true".into()]));
    }
    repository::commit_upload(&nupkg_path, offset, Some(len), &props)?;
    repository::put(&nuspec_path, &spec_bytes, &props)?;
    Ok(Response::empty(201))
}

/// The stored version `{id}/{version}` of a delete or relist.
fn stored(id: &str, version: &str) -> Result<store::Stored, Failure> {
    let v = Version::parse(version).ok_or_else(|| bad(format!("'{version}' is not a NuGet version")))?;
    store::versions(id).into_iter().find(|s| s.version == v).ok_or_else(|| {
        Failure::not_found(format!(
            "{id} {version} is not in repository '{}'",
            repository::info().key
        ))
    })
}

/// Whether the repository removes packages on delete (else it unlists them).
fn deletes_remove() -> bool {
    serde_json::from_str::<Value>(&repository::info().config_json)
        .ok()
        .and_then(|c| {
            c.get("nugetDelete")
                .and_then(Value::as_str)
                .map(|m| m.eq_ignore_ascii_case("remove"))
        })
        .unwrap_or(false)
}

/// `DELETE package/{id}/{version}`.
pub fn delete(req: &Request, id: &str, version: &str) -> Result<Response, Failure> {
    if !req.caller.can_delete {
        return Err(Failure::new(
            403,
            "Deleting or unlisting a package needs the delete permission",
        ));
    }
    let s = stored(id, version)?;
    if deletes_remove() {
        repository::delete(&s.nupkg.path)?;
        repository::delete(&s.nuspec_path)?;
        if store::versions(id).is_empty() {
            repository::delete(&id.to_ascii_lowercase())?;
        }
    } else {
        set_listed(&s, false)?;
    }
    Ok(Response::empty(204))
}

/// `POST package/{id}/{version}`: lists an unlisted version again.
pub fn relist(req: &Request, id: &str, version: &str) -> Result<Response, Failure> {
    if !req.caller.can_delete {
        return Err(Failure::new(403, "Relisting a package needs the delete permission"));
    }
    set_listed(&stored(id, version)?, true)?;
    Ok(Response::json(200, json!({"ok": true}).to_string()))
}

fn set_listed(s: &store::Stored, listed: bool) -> Result<(), Failure> {
    let value = (!listed).then(|| vec!["false".to_string()]);
    repository::set_properties(&s.nupkg.path, &[(PROP_LISTED.to_string(), value)])
}
