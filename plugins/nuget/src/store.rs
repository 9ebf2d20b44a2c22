//! How packages are stored: `{id}/{id}.{version}.nupkg` with the package's
//! `.nuspec` beside it (id and version in lower case, the version normalised, so
//! every spelling of one identity lands on one path), and the properties
//! `nuget.id`, `nuget.version` (as the nuspec writes the id, the version
//! normalised), `nuget.listed` (`false` once unlisted) and `nuget.semver2`.

use binyard_plugin_sdk::package_type::{Artifact, Failure, read_file, repository};

use crate::names::Version;
use crate::nupkg::MAX_NUSPEC;
use crate::nuspec::{self, Nuspec};

pub const PROP_ID: &str = "nuget.id";
pub const PROP_VERSION: &str = "nuget.version";
pub const PROP_LISTED: &str = "nuget.listed";
pub const PROP_SEMVER2: &str = "nuget.semver2";

/// The stored paths of one package version: (nupkg, nuspec).
pub fn paths(lower_id: &str, v: &Version) -> (String, String) {
    let stem = format!("{lower_id}/{lower_id}.{}", v.lower());
    (format!("{stem}.nupkg"), format!("{stem}.nuspec"))
}

/// One stored version.
pub struct Stored {
    pub id: String,
    pub version: Version,
    pub nupkg: Artifact,
    pub nuspec_path: String,
    pub listed: bool,
}

impl Stored {
    /// Reads and parses its `.nuspec`.
    pub fn nuspec(&self) -> Result<Nuspec, Failure> {
        let size = repository::stat(&self.nuspec_path)?
            .and_then(|a| a.blob)
            .map_or(0, |b| b.size)
            .min(MAX_NUSPEC);
        let bytes = read_file(&self.nuspec_path, size)?;
        nuspec::parse(&bytes)
            .map_err(|e| Failure::new(500, format!("The stored .nuspec of {} cannot be read: {e}", self.id)))
    }
}

fn prop<'a>(a: &'a Artifact, key: &str) -> Option<&'a str> {
    a.properties
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.first())
        .map(String::as_str)
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

/// The versions of a package (id in any case), oldest first.
pub fn versions(id: &str) -> Vec<Stored> {
    let lower = id.to_ascii_lowercase();
    let mut out: Vec<Stored> = children(&lower)
        .into_iter()
        .filter(|a| !a.folder && a.path.ends_with(".nupkg"))
        .filter_map(|a| {
            let version = Version::parse(prop(&a, PROP_VERSION)?)?;
            Some(Stored {
                id: prop(&a, PROP_ID).unwrap_or(id).to_string(),
                listed: prop(&a, PROP_LISTED) != Some("false"),
                nuspec_path: format!("{}.nuspec", a.path.trim_end_matches(".nupkg")),
                version,
                nupkg: a,
            })
        })
        .collect();
    out.sort_by(|a, b| a.version.cmp(&b.version));
    out
}

/// The ids of every package stored (folder names, lower case).
pub fn package_folders() -> Vec<String> {
    children("")
        .into_iter()
        .filter(|a| a.folder && !a.path.starts_with('.'))
        .map(|a| a.path)
        .collect()
}
