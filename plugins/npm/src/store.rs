//! What the repository holds for a package, read from storage: the tarballs (a
//! listing of one folder, with their properties) and each version's metadata.
//!
//! The listing is the truth: a tarball deleted, copied or moved through the
//! Artifactory API changes the packument at once. Per-version metadata (the
//! publish manifest) is kept in the key-value space under the tarball's sha256, so
//! it can never describe other bytes; a tarball that arrived another way (a copy
//! from another repository, a generic deploy) has its `package.json` read once and
//! the result kept the same way.

use binyard_plugin_sdk::package_type::{Artifact, Failure, log, repository};
use serde_json::{Map, Value, json};
use sha2::Digest;

use crate::names::PackageName;
use crate::tarball;

/// Property keys on each tarball (they travel with copies and moves).
pub const PROP_NAME: &str = "npm.name";
pub const PROP_VERSION: &str = "npm.version";
pub const PROP_TAG: &str = "npm.disttag";
pub const PROP_DEPRECATED: &str = "npm.deprecated";

/// One stored tarball of a package.
#[derive(Clone, Debug)]
pub struct Stored {
    pub path: String,
    pub version: String,
    pub semver: semver::Version,
    pub sha256: String,
    pub sha1: String,
    pub created_ms: i64,
    pub modified_ms: i64,
    pub tags: Vec<String>,
    pub deprecated: Option<String>,
}

/// The kv key of a tarball's metadata.
pub fn manifest_key(sha256: &str) -> String {
    format!("manifest/{sha256}")
}

fn prop<'a>(a: &'a Artifact, key: &str) -> Option<&'a [String]> {
    a.properties.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_slice())
}

/// Every direct child of a folder (paged through the host's 1,000-item pages).
pub fn children(folder: &str) -> Vec<Artifact> {
    let mut out: Vec<Artifact> = Vec::new();
    loop {
        let after = out
            .last()
            .map(|a| a.path.rsplit('/').next().unwrap_or(&a.path).to_string());
        let page = repository::list_children(folder, after.as_deref(), 1000).unwrap_or_default();
        let full = page.len() == 1000;
        out.extend(page);
        if !full {
            return out;
        }
    }
}

/// The package's tarballs, in version order (oldest first). A scoped package's are
/// in `@scope/name/-/@scope/` (Artifactory's layout) and, when deployed in the public
/// registry's layout, in `@scope/name/-/`.
pub fn versions(name: &PackageName) -> Vec<Stored> {
    let mut files = children(&name.tarball_dir());
    if name.full.contains('/') {
        files.extend(children(&format!("{}/-", name.full)));
    }
    let mut out: Vec<Stored> = files
        .into_iter()
        .filter(|a| !a.folder)
        .filter_map(|a| {
            let leaf = a.path.rsplit('/').next().unwrap_or(&a.path);
            let from_leaf = name.version_of_leaf(leaf)?;
            // A tarball that says it belongs to another package is not this one's.
            if prop(&a, PROP_NAME)
                .and_then(|v| v.first())
                .is_some_and(|n| *n != name.full)
            {
                return None;
            }
            let version = prop(&a, PROP_VERSION)
                .and_then(|v| v.first())
                .map_or(from_leaf, |v| v.as_str())
                .to_string();
            let semver = semver::Version::parse(&version).ok()?;
            let blob = a.blob.as_ref()?;
            Some(Stored {
                path: a.path.clone(),
                version,
                semver,
                sha256: blob.sha256.clone(),
                sha1: blob.sha1.clone(),
                created_ms: a.created_ms,
                modified_ms: a.modified_ms,
                tags: prop(&a, PROP_TAG).map(<[String]>::to_vec).unwrap_or_default(),
                deprecated: prop(&a, PROP_DEPRECATED)
                    .and_then(|v| v.first())
                    .filter(|m| !m.is_empty())
                    .cloned(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.semver.cmp(&b.semver));
    // Two tarballs of one version (e.g. copied under another file name): keep the newest.
    out.dedup_by(|later, earlier| {
        if later.version == earlier.version {
            if later.modified_ms > earlier.modified_ms {
                std::mem::swap(later, earlier);
            }
            true
        } else {
            false
        }
    });
    out
}

/// The dist-tags: from the tarballs' properties, with `latest` defaulting to the
/// highest release (or the highest version when all are pre-releases).
pub fn dist_tags(versions: &[Stored]) -> Map<String, Value> {
    let mut tags = Map::new();
    // Ascending order: a tag claimed twice (after a copy) goes to the higher version.
    for s in versions {
        for t in &s.tags {
            tags.insert(t.clone(), Value::String(s.version.clone()));
        }
    }
    if !tags.contains_key("latest")
        && let Some(v) = versions
            .iter()
            .rev()
            .find(|s| s.semver.pre.is_empty())
            .or(versions.last())
    {
        tags.insert("latest".into(), Value::String(v.version.clone()));
    }
    tags
}

/// Feeds what identifies the stored versions (paths, bytes, tags, deprecations and,
/// `with_times`, their times) into `h`.
pub fn hash_versions(h: &mut sha1::Sha1, versions: &[Stored], with_times: bool) {
    for s in versions {
        h.update(s.path.as_bytes());
        h.update([0]);
        h.update(s.sha256.as_bytes());
        if with_times {
            h.update(s.created_ms.to_le_bytes());
            h.update(s.modified_ms.to_le_bytes());
        }
        for t in &s.tags {
            h.update(b"\0t");
            h.update(t.as_bytes());
        }
        if let Some(d) = &s.deprecated {
            h.update(b"\0d");
            h.update(d.as_bytes());
        }
        h.update([1]);
    }
}

/// A revision for the package's current state, CouchDB-style (`N-hash`): it changes
/// whenever a tarball, a tag or a deprecation does.
pub fn revision(versions: &[Stored]) -> String {
    let mut h = sha1::Sha1::new();
    hash_versions(&mut h, versions, false);
    let hex = crate::integrity::hex(&h.finalize()[..8]);
    format!("{}-{hex}", versions.len().max(1))
}

/// A version's metadata as published (without `dist.tarball`, which depends on the
/// URL the client used, and without `deprecated`, which is a property).
pub fn manifest(name: &PackageName, s: &Stored) -> Option<Value> {
    if let Some(bytes) = repository::kv_get(&manifest_key(&s.sha256)).ok().flatten()
        && let Ok(v) = serde_json::from_slice::<Value>(&bytes)
    {
        return Some(v);
    }
    match manifest_from_tarball(name, s) {
        Ok(v) => {
            // Kept for the next request; a failure only costs a re-read later.
            if let Ok(bytes) = serde_json::to_vec(&v) {
                let _ = repository::kv_put(&manifest_key(&s.sha256), &bytes);
            }
            Some(v)
        }
        Err(f) => {
            log::emit(
                log::Level::Warn,
                &format!("skipping {} in the packument: {}", s.path, f.message),
            );
            None
        }
    }
}

/// Metadata for a tarball that was not published through the npm API.
fn manifest_from_tarball(name: &PackageName, s: &Stored) -> Result<Value, Failure> {
    let mut file = HashingReader {
        inner: tarball::StoredFile::new(&s.path),
        sha512: sha2::Sha512::new(),
    };
    let mut pkg = tarball::package_json(&mut file, true)?;
    let sri = crate::integrity::sri_sha512(file.sha512.finalize().as_slice());
    let obj = pkg
        .as_object_mut()
        .ok_or_else(|| Failure::bad_request("package.json is not an object"))?;
    if obj.get("name").and_then(Value::as_str) != Some(name.full.as_str()) {
        return Err(Failure::bad_request(format!(
            "its package.json names another package ({})",
            obj.get("name").unwrap_or(&Value::Null)
        )));
    }
    obj.insert("version".into(), Value::String(s.version.clone()));
    obj.insert("_id".into(), Value::String(format!("{}@{}", name.full, s.version)));
    obj.insert("dist".into(), json!({"shasum": s.sha1, "integrity": sri}));
    Ok(pkg)
}

/// Hashes what passes through, for the sha512 of a tarball read once.
struct HashingReader<R> {
    inner: R,
    sha512: sha2::Sha512,
}

impl<R: std::io::Read> std::io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha512.update(&buf[..n]);
        Ok(n)
    }
}

/// The packages in the repository: top-level folders holding a `-` folder, and the
/// same inside `@scope` folders.
pub fn package_names() -> Vec<PackageName> {
    let mut out = Vec::new();
    for top in children("").into_iter().filter(|a| a.folder) {
        let leaf = top.path.rsplit('/').next().unwrap_or(&top.path).to_string();
        if leaf.starts_with('@') {
            for inner in children(&top.path).into_iter().filter(|a| a.folder) {
                let base = inner.path.rsplit('/').next().unwrap_or(&inner.path);
                if let Ok(n) = PackageName::parse(&format!("{leaf}/{base}")) {
                    out.push(n);
                }
            }
        } else if let Ok(n) = PackageName::parse(&leaf) {
            out.push(n);
        }
    }
    out
}

/// Deletes a package's folder, and its scope's folder when that is left empty.
pub fn delete_package(name: &PackageName) -> Result<(), Failure> {
    repository::delete(name.folder())?;
    if let Some((scope, _)) = name.full.split_once('/')
        && repository::list_children(scope, None, 1)?.is_empty()
    {
        repository::delete(scope)?;
    }
    Ok(())
}
