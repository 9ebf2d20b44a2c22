//! `maven-metadata.xml`, generated from what is stored and kept as a real file beside
//! the artifacts (so the host serves it like any file, with its checksums).
//!
//! Each generated document is recorded in the key-value space with a fingerprint of
//! the listing it was made from. A request checks the fingerprint against a fresh
//! listing of the folder, so deletes, copies and moves done through the generic API
//! (which never reach the plugin) are noticed and the document is made again.

use std::collections::HashSet;

use binyard_plugin_sdk::package_type::{Artifact, Failure, log, repository};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::checksums;
use crate::layout::{self, Build, METADATA, checksum_of, join, parse_file};
use crate::time;
use crate::xml::{self, SnapshotVersion};

/// Pages of a folder listing read at most (1000 children each).
const MAX_PAGES: usize = 200;

/// What a folder's document was made from.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Record {
    /// "artifact", "snapshot", or "client" (group-level plugin metadata a client uploaded).
    /// "artifact", "snapshot", "client" (group-level plugin metadata a client uploaded),
    /// or "none" (the folder was looked at and has nothing to describe).
    pub kind: String,
    /// Fingerprint of the listing the document was generated from.
    pub fp: String,
    /// SHA-1 of the stored document, to notice it was replaced behind our back.
    pub sha1: String,
    /// The versions listed (artifact level).
    #[serde(default)]
    pub versions: Vec<String>,
    /// Child folders found not to be versions (artifact level).
    #[serde(default)]
    pub others: Vec<String>,
}

fn record_key(dir: &str) -> String {
    // Keys are limited to 1 KiB: very deep folders are named by a digest.
    if dir.len() > 900 {
        format!("mm#{}", checksums::hex(&sha2::Sha256::digest(dir.as_bytes())))
    } else {
        format!("mm:{dir}")
    }
}

pub fn load_record(dir: &str) -> Option<Record> {
    repository::kv_get(&record_key(dir))
        .ok()
        .flatten()
        .and_then(|v| serde_json::from_slice(&v).ok())
}

fn save_record(dir: &str, r: &Record) {
    if let Ok(v) = serde_json::to_vec(r)
        && let Err(e) = repository::kv_put(&record_key(dir), &v)
    {
        log::emit(
            log::Level::Warn,
            &format!("cannot record the metadata of '{dir}': {}", e.message),
        );
    }
}

/// Which document a folder has.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Level {
    /// `g/a/`: the versions of an artifact.
    Artifact { group: String, artifact: String },
    /// `g/a/1.0-SNAPSHOT/`: the builds of a SNAPSHOT.
    Snapshot {
        group: String,
        artifact: String,
        version: String,
    },
}

fn level_of(dir: &str) -> Option<Level> {
    let segs: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    let n = segs.len();
    if n >= 3 && layout::is_snapshot(segs[n - 1]) {
        return Some(Level::Snapshot {
            group: segs[..n - 2].join("."),
            artifact: segs[n - 2].to_string(),
            version: segs[n - 1].to_string(),
        });
    }
    (n >= 2).then(|| Level::Artifact {
        group: segs[..n - 1].join("."),
        artifact: segs[n - 1].to_string(),
    })
}

/// Every child of a folder, in name order.
pub fn list_all(dir: &str) -> Vec<Artifact> {
    let mut out: Vec<Artifact> = Vec::new();
    for _ in 0..MAX_PAGES {
        let after = out.last().map(|a| layout::file_name(&a.path).to_string());
        let page = repository::list_children(dir, after.as_deref(), 1000).unwrap_or_default();
        let n = page.len();
        out.extend(page);
        if n < 1000 {
            break;
        }
    }
    out
}

fn fingerprint(dir: &str, level: &Level, children: &[Artifact]) -> String {
    let mut h = sha2::Sha256::new();
    h.update(dir.as_bytes());
    for c in children {
        let name = layout::file_name(&c.path);
        let relevant = match level {
            Level::Artifact { .. } => c.folder,
            Level::Snapshot { .. } => !c.folder && name != METADATA && checksum_of(name).is_none(),
        };
        if relevant {
            h.update(b"\n");
            h.update(name.as_bytes());
        }
    }
    checksums::hex(&h.finalize())
}

/// The path of the up-to-date document of `dir`, made or remade as needed; none when
/// the folder has nothing to describe. `force` remakes it whatever the fingerprint says
/// and looks into every version folder again; otherwise folders already classified
/// are trusted, except `recheck` (a version folder a file was just deployed to).
pub fn current(dir: &str, force: bool, recheck: Option<&str>) -> Result<Option<String>, Failure> {
    let path = join(dir, METADATA);
    let stored = repository::stat(&path)?.and_then(|a| a.blob);
    let record = load_record(dir);
    let intact = |r: &Record| stored.as_ref().is_some_and(|b| b.sha1 == r.sha1);
    if let Some(r) = &record
        && r.kind == "client"
        && intact(r)
    {
        return Ok(Some(path));
    }
    let Some(level) = level_of(dir) else {
        return Ok(stored.map(|_| path));
    };
    let children = list_all(dir);
    if children.is_empty() {
        // No such folder: nothing to describe, and nothing worth remembering.
        return Ok(stored.map(|_| path));
    }
    let fp = fingerprint(dir, &level, &children);
    if !force
        && let Some(r) = &record
        && r.fp == fp
        && recheck.is_none_or(|v| r.versions.iter().any(|x| x == v))
    {
        if r.kind == "none" {
            return Ok(stored.map(|_| path));
        }
        if intact(r) {
            return Ok(Some(path));
        }
    }
    let known = if force { None } else { record.as_ref() };
    let made = match &level {
        Level::Snapshot {
            group,
            artifact,
            version,
        } => snapshot_document(group, artifact, version, &children),
        Level::Artifact { group, artifact } => artifact_document(dir, group, artifact, &children, known, recheck),
    };
    let Made {
        kind,
        versions,
        others,
        bytes,
    } = made;
    let Some(bytes) = bytes else {
        // Nothing to describe: drop our document (a foreign one is served as it is), and
        // remember the classification so the next request costs one listing.
        let ours = record
            .as_ref()
            .is_some_and(|r| r.kind != "none" && r.kind != "client" && intact(r));
        if record.as_ref().is_some_and(|r| r.kind == "client") && stored.is_some() {
            return Ok(Some(path));
        }
        save_record(
            dir,
            &Record {
                kind: "none".into(),
                fp,
                others,
                ..Default::default()
            },
        );
        if ours {
            repository::delete(&path)?;
            return Ok(None);
        }
        return Ok(stored.map(|_| path));
    };
    let saved = repository::put(&path, &bytes, &[])?;
    let blob = saved
        .blob
        .ok_or_else(|| Failure::new(500, format!("'{path}' was stored without content")))?;
    checksums::remember_sha512(&blob.sha256, &bytes);
    save_record(
        dir,
        &Record {
            kind: kind.into(),
            fp,
            sha1: blob.sha1,
            versions,
            others,
        },
    );
    Ok(Some(path))
}

/// Remakes the document of `dir` if it has one (after a delete or a deploy).
pub fn refresh(dir: &str) -> Result<(), Failure> {
    if dir.is_empty() {
        return Ok(());
    }
    if load_record(dir).is_some_and(|r| r.kind != "none") || repository::stat(&join(dir, METADATA))?.is_some() {
        current(dir, true, None)?;
    }
    Ok(())
}

/// Keeps the documents right after a file of `coords` was deployed.
pub fn after_deploy(coords: &layout::Coords) -> Result<(), Failure> {
    if coords.is_snapshot() {
        current(&coords.version_dir(), true, None)?;
    }
    current(&coords.artifact_dir(), false, Some(&coords.version))?;
    Ok(())
}

/// Whether `dir` (a child of an artifact folder) holds files of `group:artifact:version`.
fn is_version_folder(dir: &str, group: &str, artifact: &str, version: &str) -> bool {
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = repository::list_children(dir, after.as_deref(), 1000).unwrap_or_default();
        if page
            .iter()
            .any(|c| !c.folder && parse_file(group, artifact, version, layout::file_name(&c.path)).is_some())
        {
            return true;
        }
        if page.len() < 1000 {
            return false;
        }
        after = page.last().map(|a| layout::file_name(&a.path).to_string());
    }
    false
}

/// A generated document and what it was made from.
struct Made {
    kind: &'static str,
    versions: Vec<String>,
    others: Vec<String>,
    /// None when there is nothing to describe.
    bytes: Option<Vec<u8>>,
}

fn artifact_document(
    dir: &str,
    group: &str,
    artifact: &str,
    children: &[Artifact],
    known: Option<&Record>,
    recheck: Option<&str>,
) -> Made {
    let set =
        |v: Option<&Vec<String>>| -> HashSet<String> { v.map(|v| v.iter().cloned().collect()).unwrap_or_default() };
    let was_version = set(known.map(|r| &r.versions));
    let was_other = set(known.map(|r| &r.others));
    let (mut versions, mut others) = (Vec::new(), Vec::new());
    for c in children.iter().filter(|c| c.folder) {
        let name = layout::file_name(&c.path).to_string();
        let is_version = if recheck == Some(name.as_str()) {
            is_version_folder(&c.path, group, artifact, &name)
        } else if was_version.contains(&name) {
            true
        } else if was_other.contains(&name) {
            false
        } else {
            is_version_folder(&join(dir, &name), group, artifact, &name)
        };
        if is_version {
            versions.push(name);
        } else {
            others.push(name);
        }
    }
    binyard_plugin_sdk::versions::maven::sort(&mut versions);
    let bytes = (!versions.is_empty())
        .then(|| xml::artifact_metadata(group, artifact, &versions, &time::stamp(time::now_ms())));
    Made {
        kind: "artifact",
        versions,
        others,
        bytes,
    }
}

fn snapshot_document(group: &str, artifact: &str, version: &str, children: &[Artifact]) -> Made {
    // The newest build of each classifier and extension, timestamped builds first.
    let mut newest: Vec<(Option<Build>, SnapshotVersion)> = Vec::new();
    let mut latest: Option<Build> = None;
    let mut last_updated_ms = 0;
    for c in children.iter().filter(|c| !c.folder) {
        let Some(co) = parse_file(group, artifact, version, layout::file_name(&c.path)) else {
            continue;
        };
        last_updated_ms = last_updated_ms.max(c.modified_ms);
        let updated = co
            .build
            .as_ref()
            .map_or_else(|| time::stamp(c.modified_ms), Build::updated);
        let entry = SnapshotVersion {
            classifier: co.classifier.clone(),
            extension: co.extension.clone(),
            value: co.file_version.clone(),
            updated,
        };
        if let Some(b) = &co.build
            && latest.as_ref().is_none_or(|l| b > l)
        {
            latest = Some(b.clone());
        }
        match newest
            .iter_mut()
            .find(|(_, e)| e.classifier == entry.classifier && e.extension == entry.extension)
        {
            // A timestamped build beats the plain `-SNAPSHOT` name; a newer build beats an older.
            Some((b, e)) => {
                if co.build.is_some() && (b.is_none() || co.build > *b) {
                    *b = co.build.clone();
                    *e = entry;
                }
            }
            None => newest.push((co.build.clone(), entry)),
        }
    }
    if newest.is_empty() {
        return Made {
            kind: "snapshot",
            versions: Vec::new(),
            others: Vec::new(),
            bytes: None,
        };
    }
    let last_updated = latest
        .as_ref()
        .map_or_else(|| time::stamp(last_updated_ms), Build::updated);
    let mut entries: Vec<SnapshotVersion> = newest.into_iter().map(|(_, e)| e).collect();
    entries.sort_by(|a, b| (&a.classifier, &a.extension).cmp(&(&b.classifier, &b.extension)));
    let bytes = xml::snapshot_metadata(group, artifact, version, latest.as_ref(), &entries, &last_updated);
    Made {
        kind: "snapshot",
        versions: Vec::new(),
        others: Vec::new(),
        bytes: Some(bytes),
    }
}

/// Keeps the newest `keep` timestamped builds in a SNAPSHOT folder, deleting the
/// files of older builds; answers how many files went.
pub fn prune_snapshots(coords: &layout::Coords, keep: u64) -> Result<usize, Failure> {
    if keep == 0 {
        return Ok(0);
    }
    let dir = coords.version_dir();
    let files: Vec<(Build, String)> = list_all(&dir)
        .into_iter()
        .filter(|c| !c.folder)
        .filter_map(|c| {
            // A build's checksum files (if any were stored) go with it.
            let name = layout::file_name(&c.path);
            let base = checksum_of(name).map_or(name, |(b, _)| b);
            let co = parse_file(&coords.group, &coords.artifact, &coords.version, base)?;
            Some((co.build?, c.path))
        })
        .collect();
    let mut builds: Vec<&Build> = files.iter().map(|(b, _)| b).collect();
    builds.sort();
    builds.dedup();
    let Some(cut) = builds.len().checked_sub(keep as usize) else {
        return Ok(0);
    };
    let old: Vec<Build> = builds[..cut].iter().map(|b| (*b).clone()).collect();
    let mut n = 0;
    for (b, path) in &files {
        if old.contains(b) {
            repository::delete(path)?;
            n += 1;
        }
    }
    if n > 0 {
        log::emit(
            log::Level::Info,
            &format!(
                "removed {n} files of {} old builds in '{dir}' (maxUniqueSnapshots={keep})",
                old.len()
            ),
        );
    }
    Ok(n)
}

/// Stores group-level metadata a client uploaded (Maven plugin prefixes), which
/// cannot be made from the files, and serves it as sent.
pub fn store_client(dir: &str, bytes: Vec<u8>) -> Result<Option<String>, Failure> {
    let path = join(dir, METADATA);
    let saved = repository::put(&path, &bytes, &[])?;
    if let Some(blob) = saved.blob {
        checksums::remember_sha512(&blob.sha256, &bytes);
        save_record(
            dir,
            &Record {
                kind: "client".into(),
                sha1: blob.sha1,
                ..Default::default()
            },
        );
    }
    Ok(Some(path))
}

/// Forgets the document of `dir` (it was deleted; the next request makes it again).
pub fn forget(dir: &str) {
    let _ = repository::kv_delete(&record_key(dir));
}
