//! The online garbage collector: deletes blobs no item references and temporary
//! files no upload owns. It never deletes a blob a write has pinned: the pin table
//! is held while the candidates are re-checked, forgotten and deleted.

use std::collections::HashSet;

use serde::Serialize;

use super::{BlobStore, MetaStore, StoreError};

/// What one collection freed.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GcReport {
    pub blobs_deleted: u64,
    pub bytes_freed: u64,
    pub temp_files_deleted: u64,
    /// Staged files (`binyard.staged`) abandoned for longer than the upload session expiry.
    pub staged_files_deleted: u64,
    /// Upload sessions (chunked uploads) unused for longer than their expiry.
    pub upload_sessions_expired: u64,
}

/// Runs one collection (blocking: call from a blocking thread).
pub fn collect(meta: &dyn MetaStore, blobs: &dyn BlobStore) -> Result<GcReport, StoreError> {
    let mut report = GcReport::default();

    // 1. Blobs whose last reference went away.
    let candidates = meta.unreferenced_blobs()?;
    if !candidates.is_empty() {
        let pins = blobs.pins();
        let unpinned: Vec<String> = candidates.into_iter().filter(|s| !pins.is_pinned(s)).collect();
        // forget_unreferenced re-checks the count inside its transaction, so a
        // reference committed since the list was read keeps its blob.
        for (sha, size) in meta.forget_unreferenced(&unpinned)? {
            blobs.delete(&sha)?;
            report.blobs_deleted += 1;
            report.bytes_freed += size;
        }
    }

    // 2. Blob files without a record (written, then the process died before the
    // metadata commit). Pinned ones belong to writes in flight; on a shared store,
    // young ones may belong to another node's (`list_settled`).
    let present = blobs.list_settled()?;
    if !present.is_empty() {
        let pins = blobs.pins();
        let orphans: HashSet<String> = present.into_iter().filter(|s| !pins.is_pinned(s)).collect();
        for sha in orphans {
            if !meta.blob_known(&sha)? {
                blobs.delete(&sha)?;
                report.blobs_deleted += 1;
            }
        }
    }

    // 3. Temporary files of uploads that no longer exist.
    report.temp_files_deleted = blobs.sweep_temp()? as u64;
    Ok(report)
}
