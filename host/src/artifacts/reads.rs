//! Reads of the stores for the HTTP layer and operators: items, folder listings,
//! stored bytes, download statistics, counters, and garbage collection. The HTTP
//! layer goes through these rather than the stores.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use super::{ArtifactError, Artifacts, DownloadStats};
use crate::events::EventRecord;
use crate::storage::{
    ByteStream, Change, Expectation, Item, Lookup, MetaStore, RepoCounters, Stats, StoreError, StoreTotals, gc,
};

/// The property that marks a staged file: content a client sent ahead of what
/// will reference it (an OCI layer before its manifest). A staged file left
/// unmodified for the upload session expiry is abandoned: garbage collection
/// deletes it, so it stops holding its blob.
pub const STAGED_PROPERTY: &str = "binyard.staged";

pub use crate::storage::gc::GcReport;

impl Artifacts {
    /// An item, if there is one.
    pub fn find(&self, repo: &str, path: &str) -> Result<Option<Item>, ArtifactError> {
        Ok(self.meta.item(repo, path)?)
    }

    /// The direct children of a folder (`""` is the root), by name.
    pub fn children(&self, repo: &str, folder: &str) -> Result<Vec<(String, Item)>, ArtifactError> {
        Ok(self.meta.children(repo, folder)?)
    }

    /// At most `limit` direct children named after `after`, by name.
    pub fn children_page(
        &self,
        repo: &str,
        folder: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Item)>, ArtifactError> {
        Ok(self.meta.children_page(repo, folder, after, limit)?)
    }

    /// A small stored blob whole.
    pub fn read_blob(&self, sha256: &str) -> std::io::Result<bytes::Bytes> {
        self.blobs.read(sha256)
    }

    /// `len` bytes of a stored blob from `offset`, streamed.
    pub fn open_blob_range(&self, sha256: &str, offset: u64, len: u64) -> std::io::Result<ByteStream> {
        self.blobs.open_range(sha256, offset, len)
    }

    /// Download statistics of an item, with the counts not yet written.
    pub fn download_stats(&self, downloads: &DownloadStats, repo: &str, path: &str) -> Result<Stats, ArtifactError> {
        Ok(downloads.current(self.meta.as_ref(), repo, path)?)
    }

    /// Files, folders and bytes of a repository.
    pub fn repo_counters(&self, repo: &str) -> Result<RepoCounters, ArtifactError> {
        Ok(self.meta.repo_counters(repo)?)
    }

    /// Blobs and their bytes in the whole store.
    pub fn totals(&self) -> Result<StoreTotals, ArtifactError> {
        Ok(self.meta.totals()?)
    }

    /// The blob store's kind and folder, for operators.
    pub fn blob_store_location(&self) -> (String, PathBuf) {
        self.blobs.describe()
    }

    /// One garbage collection now, off the async workers: staged files older than
    /// `staged_expiry` go first (with the unmarked upload-area files of `format_repos`,
    /// see `expire_staged`), then every blob nothing references any more.
    pub async fn collect_garbage(
        &self,
        staged_expiry: Duration,
        format_repos: HashSet<String>,
    ) -> Result<GcReport, ArtifactError> {
        let staged = self.expire_staged(staged_expiry, format_repos).await?;
        let (meta, blobs) = (self.meta.clone(), self.blobs.clone());
        let mut report = super::blocking(move || gc::collect(meta.as_ref(), blobs.as_ref())).await?;
        report.staged_files_deleted = staged;
        crate::observe::gc_run(report.bytes_freed);
        Ok(report)
    }

    /// Deletes the staged files (`binyard.staged`) not modified for `expiry`;
    /// answers how many went. Each goes with a `deleted` event, as an ordinary delete.
    ///
    /// Files a plugin staged before the mark existed count too, in the repositories
    /// of `format_repos` (those a package-type plugin serves): a file
    /// `…/{UPLOAD_AREA}/sha256__{hex}` holding that content, unmarked, not modified
    /// for `expiry`, whose content no other file of its repository holds. A file
    /// whose content another file holds is kept: the plugin that staged it may still
    /// find an older image's layer through it (it stored layers beside manifests too),
    /// and it costs no bytes while the other file holds them.
    ///
    /// The candidates are read first and each is then deleted only if it is still
    /// exactly as read (`delete_abandoned`): a push that marks a file again meanwhile
    /// (a HEAD, a mount, a layer sent again) keeps it.
    async fn expire_staged(&self, expiry: Duration, format_repos: HashSet<String>) -> Result<u64, ArtifactError> {
        let cutoff = crate::clock::now_ms().saturating_sub(i64::try_from(expiry.as_millis()).unwrap_or(i64::MAX));
        let meta = self.meta.clone();
        super::blocking(move || {
            let found = abandoned_staged(meta.as_ref(), cutoff, &format_repos)?;
            delete_abandoned(meta.as_ref(), found)
        })
        .await
    }
}

/// A staged file garbage collection found abandoned, as it was when read.
#[derive(Debug, Clone)]
pub struct Abandoned {
    pub repo: String,
    pub path: String,
    pub item: Item,
}

/// The first phase of `expire_staged`: the staged files (marked, and the unmarked
/// ones of `format_repos`) last modified before `cutoff`, as they are now.
pub fn abandoned_staged(
    meta: &dyn MetaStore,
    cutoff: i64,
    format_repos: &HashSet<String>,
) -> Result<Vec<Abandoned>, ArtifactError> {
    let mut old = Vec::new();
    let l = Lookup::Prop {
        key: STAGED_PROPERTY.to_string(),
        value: None,
        prefix: false,
    };
    meta.lookup(&l, &mut |repo, path, item| {
        if !item.folder && item.modified < cutoff {
            old.push(Abandoned {
                repo: repo.to_string(),
                path: path.to_string(),
                item,
            });
        }
        true
    })?;
    old.extend(unmarked_staged(meta, cutoff, format_repos)?);
    Ok(old)
}

/// The second phase of `expire_staged`: deletes each file found by `abandoned_staged`
/// that is still exactly as it was read, in one transaction with that check (so a
/// file marked again, replaced or deleted since is left to whoever did it); answers
/// how many went. Its blob loses the reference here, in the same commit, and only a
/// later step of the collection, once that commit is made, deletes bytes.
pub fn delete_abandoned(meta: &dyn MetaStore, found: Vec<Abandoned>) -> Result<u64, ArtifactError> {
    let mut n = 0;
    for Abandoned { repo, path, item } in found {
        let changes = [
            Change::Expect(Expectation::Item {
                repo: repo.clone(),
                path: path.clone(),
                item: Some(Box::new(item.clone())),
            }),
            Change::Delete {
                repo: repo.clone(),
                path: path.clone(),
            },
            EventRecord::artifact("deleted", &repo, &path, &item).change(),
        ];
        match meta.apply(&changes) {
            Ok(()) => n += 1,
            Err(StoreError::Stale(what)) => {
                tracing::debug!(%repo, %path, %what, "a staged file changed since collection read it: kept");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(n)
}

/// The folder name of an upload area (Artifactory's Docker `_uploads`), where
/// plugins staged files before the `binyard.staged` mark existed.
pub const UPLOAD_AREA: &str = "_uploads";

/// The unmarked staged files `expire_staged` describes, found through the name index
/// (the upload-area folders) and their children, not by a scan of every item.
fn unmarked_staged(
    meta: &dyn MetaStore,
    cutoff: i64,
    format_repos: &HashSet<String>,
) -> Result<Vec<Abandoned>, ArtifactError> {
    let mut areas = Vec::new();
    let l = Lookup::Name {
        name: UPLOAD_AREA.to_string(),
        prefix: false,
    };
    meta.lookup(&l, &mut |repo, path, item| {
        if item.folder && format_repos.contains(repo) {
            areas.push((repo.to_string(), path.to_string()));
        }
        true
    })?;
    let mut found = Vec::new();
    for (repo, area) in areas {
        let mut files = Vec::new();
        let l = Lookup::Repo {
            repo: repo.clone(),
            parent: area,
            exact: true,
        };
        meta.lookup(&l, &mut |_, path, item| {
            let leaf = path.rsplit('/').next().unwrap_or(path);
            let named_for = leaf
                .strip_prefix("sha256__")
                .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
            if let (Some(hex), Some(blob)) = (named_for, &item.blob)
                && !item.folder
                && item.modified < cutoff
                && !item.props.contains_key(STAGED_PROPERTY)
                && blob.sha256 == hex
            {
                files.push((path.to_string(), hex.to_string(), item));
            }
            true
        })?;
        for (path, hex, item) in files {
            let mut elsewhere = false;
            meta.lookup(&Lookup::Sha256(hex), &mut |r, p, _| {
                elsewhere = r == repo && p != path;
                !elsewhere
            })?;
            if !elsewhere {
                found.push(Abandoned {
                    repo: repo.clone(),
                    path,
                    item,
                });
            }
        }
    }
    Ok(found)
}
