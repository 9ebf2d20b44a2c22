//! Reads of the stores for the HTTP layer and operators: items, folder listings,
//! stored bytes, download statistics, counters, and garbage collection. The HTTP
//! layer goes through these rather than the stores.

use std::path::PathBuf;
use std::time::Duration;

use super::{ArtifactError, Artifacts, DownloadStats};
use crate::storage::{ByteStream, Item, Lookup, RepoCounters, Stats, StoreTotals, gc};

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
    /// `staged_expiry` go first, then every blob nothing references any more.
    pub async fn collect_garbage(&self, staged_expiry: Duration) -> Result<GcReport, ArtifactError> {
        let staged = self.expire_staged(staged_expiry).await?;
        let (meta, blobs) = (self.meta.clone(), self.blobs.clone());
        let mut report = super::blocking(move || gc::collect(meta.as_ref(), blobs.as_ref())).await?;
        report.staged_files_deleted = staged;
        crate::observe::gc_run(report.bytes_freed);
        Ok(report)
    }

    /// Deletes the staged files (`binyard.staged`) not modified for `expiry`;
    /// answers how many went. Each goes through the ordinary delete (events, counters).
    async fn expire_staged(&self, expiry: Duration) -> Result<u64, ArtifactError> {
        let cutoff = crate::clock::now_ms().saturating_sub(i64::try_from(expiry.as_millis()).unwrap_or(i64::MAX));
        let meta = self.meta.clone();
        let old: Vec<(String, String)> = super::blocking(move || {
            let mut old = Vec::new();
            let l = Lookup::Prop {
                key: STAGED_PROPERTY.to_string(),
                value: None,
                prefix: false,
            };
            meta.lookup(&l, &mut |repo, path, item| {
                if !item.folder && item.modified < cutoff {
                    old.push((repo.to_string(), path.to_string()));
                }
                true
            })?;
            Ok::<_, ArtifactError>(old)
        })
        .await?;
        let mut n = 0;
        for (repo, path) in old {
            match self.delete(&repo, &path).await {
                Ok(_) => n += 1,
                // Deleted or used meanwhile (a manifest took it): nothing to do.
                Err(ArtifactError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}
