//! Reads of the stores for the HTTP layer and operators: items, folder listings,
//! stored bytes, download statistics, counters, and garbage collection. The HTTP
//! layer goes through these rather than the stores.

use std::path::PathBuf;

use super::{ArtifactError, Artifacts, DownloadStats};
use crate::storage::{ByteStream, Item, RepoCounters, Stats, StoreTotals, gc};

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

    /// One garbage collection now, off the async workers.
    pub async fn collect_garbage(&self) -> Result<GcReport, ArtifactError> {
        let (meta, blobs) = (self.meta.clone(), self.blobs.clone());
        let report = super::blocking(move || gc::collect(meta.as_ref(), blobs.as_ref())).await?;
        crate::observe::gc_run(report.bytes_freed);
        Ok(report)
    }
}
