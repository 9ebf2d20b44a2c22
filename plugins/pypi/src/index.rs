//! What the simple index lists, read from the repository's own tree: projects are the
//! top folders (`{normalized-name}/`), files sit at `{name}/{version}/{filename}`
//! with their PEP 658 metadata beside them as `{filename}.metadata`, and everything
//! else a page needs (digest, size, upload time, Requires-Python, yank) comes from
//! the item records and their `pypi.*` properties. No file is opened, and because
//! properties travel with copies and moves, the index stays right whatever the
//! generic Artifactory API does to the files.

use binyard_plugin_sdk::package_type::{Artifact, repository};

use crate::names;

/// The property marking a yanked file (PEP 592); its value is the reason.
pub const YANKED: &str = "pypi.yanked";
/// The property with a file's Requires-Python.
pub const REQUIRES_PYTHON: &str = "pypi.requires_python";
/// The suffix of the core metadata stored beside a wheel (PEP 658).
pub const METADATA_SUFFIX: &str = ".metadata";

/// One distribution file as a simple page shows it.
#[derive(Debug, Clone)]
pub struct FileEntry {
    pub filename: String,
    pub version: String,
    /// The stored path, `{name}/{version}/{filename}`.
    pub path: String,
    pub sha256: String,
    pub size: u64,
    pub uploaded_ms: i64,
    pub requires_python: Option<String>,
    /// `Some(reason)` when yanked (the reason may be empty).
    pub yanked: Option<String>,
    /// The sha256 of the PEP 658 metadata file, when there is one.
    pub metadata_sha256: Option<String>,
}

/// Every child of a folder, page by page.
pub fn children(prefix: &str) -> Vec<Artifact> {
    let mut out: Vec<Artifact> = Vec::new();
    loop {
        let after = out.last().map(|a| leaf(&a.path).to_string());
        let page = repository::list_children(prefix, after.as_deref(), 1000).unwrap_or_default();
        let full = page.len() == 1000;
        out.extend(page);
        if !full {
            return out;
        }
    }
}

/// The last segment of a path.
pub fn leaf(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn prop<'a>(a: &'a Artifact, key: &str) -> Option<&'a [String]> {
    a.properties.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_slice())
}

/// The yank reason of a file (`Some("")` for yanked without a reason), from `pypi.yanked`.
fn yank_of(a: &Artifact) -> Option<String> {
    let values = prop(a, YANKED)?;
    let reason = values.join(", ");
    match reason.trim().to_ascii_lowercase().as_str() {
        "false" | "0" | "no" => None,
        "true" | "1" | "yes" | "" => Some(String::new()),
        _ => Some(reason.trim().to_string()),
    }
}

/// The names of the projects: the top-level folders named like a project.
pub fn projects() -> Vec<String> {
    children("")
        .into_iter()
        .filter(|a| a.folder)
        .map(|a| leaf(&a.path).to_string())
        .filter(|n| names::valid_project_name(n))
        .collect()
}

/// The distribution files of a project, by version folder then file name.
pub fn project_files(project: &str) -> Vec<FileEntry> {
    let mut out = Vec::new();
    for version in children(project).into_iter().filter(|a| a.folder) {
        let files = children(&version.path);
        let version_name = leaf(&version.path).to_string();
        for f in files.iter().filter(|f| !f.folder) {
            let filename = leaf(&f.path);
            let Some(blob) = f.blob.as_ref().filter(|_| names::is_distribution(filename)) else {
                continue;
            };
            let metadata_name = format!("{filename}{METADATA_SUFFIX}");
            let metadata_sha256 = files
                .iter()
                .find(|m| leaf(&m.path) == metadata_name)
                .and_then(|m| m.blob.as_ref())
                .map(|b| b.sha256.clone());
            out.push(FileEntry {
                filename: filename.to_string(),
                version: version_name.clone(),
                path: f.path.clone(),
                sha256: blob.sha256.clone(),
                size: blob.size,
                uploaded_ms: f.created_ms,
                requires_python: prop(f, REQUIRES_PYTHON)
                    .and_then(|v| v.first())
                    .filter(|v| !v.trim().is_empty())
                    .cloned(),
                yanked: yank_of(f),
                metadata_sha256,
            });
        }
    }
    out
}
