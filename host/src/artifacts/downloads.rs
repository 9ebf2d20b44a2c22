//! Download statistics, counted in memory and written in batches.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::storage::{MetaStore, Stats};

/// Download counts buffered in memory and written every few seconds: counting
/// must not put a database write on every download.
#[derive(Default)]
pub struct DownloadStats {
    pending: Mutex<HashMap<(String, String), Stats>>,
}

impl DownloadStats {
    /// Counts one download.
    pub fn record(&self, repo: &str, path: &str, by: &str) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let s = p.entry((repo.to_string(), path.to_string())).or_default();
        s.downloads += 1;
        s.last_downloaded = crate::clock::now_ms();
        s.last_downloaded_by = by.to_string();
        crate::observe::downloaded(repo);
    }

    /// Stored statistics plus what is still buffered.
    pub fn current(&self, meta: &dyn MetaStore, repo: &str, path: &str) -> Result<Stats, crate::storage::StoreError> {
        let mut s = meta.stats(repo, path)?;
        let p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(add) = p.get(&(repo.to_string(), path.to_string())) {
            s.downloads += add.downloads;
            s.last_downloaded = add.last_downloaded;
            s.last_downloaded_by = add.last_downloaded_by.clone();
        }
        Ok(s)
    }

    /// Writes the buffered counts.
    pub fn flush(&self, meta: &dyn MetaStore) {
        let batch: Vec<_> = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            p.drain().map(|((r, path), s)| (r, path, s)).collect()
        };
        if !batch.is_empty()
            && let Err(e) = meta.add_downloads(&batch)
        {
            tracing::warn!(error = %e, "could not save download statistics");
        }
    }
}
