//! Finds the stored files a build's artifacts and dependencies are, by checksum.
//! Several paths may hold the same bytes; those carrying this build's
//! `build.name`/`build.number` properties win, then the entry's `path` or `name`
//! narrows the choice, so a build's own files are found and no others.

use super::BuildError;
use std::collections::BTreeSet;

use serde_json::Value;

use crate::storage::{Item, MetaStore};

/// One stored file of a build.
#[derive(Debug, Clone)]
pub struct Linked {
    pub repo: String,
    pub path: String,
    pub item: Item,
    /// A dependency of the build rather than one of its artifacts.
    pub dependency: bool,
}

/// Which entries to look for.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    pub artifacts: bool,
    pub dependencies: bool,
    /// Only files in this repository.
    pub repo: Option<&'a str>,
}

/// What was found, and the entries no stored file matched.
#[derive(Debug, Default)]
pub struct Located {
    pub files: Vec<Linked>,
    pub missing: Vec<String>,
}

/// Every artifact or dependency entry of a build, with whether it is a dependency.
pub fn entries<'v>(build_info: &'v Value, wanted: Wanted<'_>) -> Vec<(&'v Value, bool)> {
    let mut out = Vec::new();
    for m in build_info["modules"].as_array().into_iter().flatten() {
        if wanted.artifacts {
            out.extend(m["artifacts"].as_array().into_iter().flatten().map(|a| (a, false)));
        }
        if wanted.dependencies {
            out.extend(m["dependencies"].as_array().into_iter().flatten().map(|d| (d, true)));
        }
    }
    out
}

/// Finds the stored files of a build's entries.
pub fn locate(meta: &dyn MetaStore, build_info: &Value, wanted: Wanted<'_>) -> Result<Located, BuildError> {
    let name = build_info["name"].as_str().unwrap_or("");
    let number = build_info["number"].as_str().unwrap_or("");
    let mut seen = BTreeSet::new();
    let mut out = Located::default();
    for (entry, dependency) in entries(build_info, wanted) {
        let label = entry["name"]
            .as_str()
            .or_else(|| entry["id"].as_str())
            .or_else(|| entry["sha1"].as_str())
            .unwrap_or("?")
            .to_string();
        let sha256: Option<String> = match (entry["sha256"].as_str(), entry["sha1"].as_str()) {
            (Some(s), _) if !s.is_empty() => Some(s.to_ascii_lowercase()),
            (_, Some(s1)) if !s1.is_empty() => meta.blob_by_sha1(&s1.to_ascii_lowercase())?,
            _ => None,
        };
        let Some(sha256) = sha256 else {
            out.missing.push(label);
            continue;
        };
        let mut found = Vec::new();
        for (repo, path) in meta.placements(&sha256)? {
            if wanted.repo.is_some_and(|r| r != repo) {
                continue;
            }
            let file_name = path.rsplit('/').next().unwrap_or(&path);
            let by_path = entry["path"].as_str().filter(|p| !p.is_empty());
            let matches = match (by_path, entry["name"].as_str()) {
                (Some(p), _) => path == p.trim_start_matches('/'),
                (None, Some(n)) if !dependency => file_name == n,
                _ => true,
            };
            if !matches {
                continue;
            }
            if let Some(item) = meta.item(&repo, &path)? {
                found.push((repo, path, item));
            }
        }
        let own = |i: &Item| {
            i.props.get("build.name").is_some_and(|v| v.iter().any(|x| x == name))
                && i.props
                    .get("build.number")
                    .is_some_and(|v| v.iter().any(|x| x == number))
        };
        if found.iter().any(|(_, _, i)| own(i)) {
            found.retain(|(_, _, i)| own(i));
        }
        if found.is_empty() {
            out.missing.push(label);
        }
        for (repo, path, item) in found {
            if seen.insert((repo.clone(), path.clone())) {
                out.files.push(Linked {
                    repo,
                    path,
                    item,
                    dependency,
                });
            }
        }
    }
    Ok(out)
}
