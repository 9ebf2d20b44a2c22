//! `binyard:plugin/upstream@0.2.1`: a remote repository's plugin asks for an
//! upstream path; the remote service applies the cache rules and caches the body
//! at that path, which the plugin then reads (`repository.read`) or answers with
//! (`body::artifact`). The plugin never holds a body it did not ask to read.
//!
//! Plugin calls may block (they run in `block_in_place` or on the blocking pool), so
//! the fetch is awaited in place. A body the host streams is read to its end before
//! the call goes on (it lands in the cache as it comes; the plugin's deadline bounds
//! the wait, and a fetch that outlives it still completes, so the client's retry
//! finds it cached).
//!
//! `fetch-with` is 0.2.1's; a 0.2.0 plugin imports `fetch` alone from these.

use super::RepoContext;
use crate::plugins::bindings::v0_2::package_type::binyard::plugin::types::Failure;
use crate::plugins::bindings::v0_2::package_type::binyard::plugin::upstream::{FetchKind, Fetched, Host};
use crate::plugins::repo_host::{blob_info, clean, fail};
use crate::plugins::sandbox::StoreData;
use crate::remote::{Answer, Kind, RemoteError};
use crate::repos::RClass;
use crate::storage::Item;

impl Host for StoreData {
    fn fetch(&mut self, path: String, query: String, kind: FetchKind) -> Result<Fetched, Failure> {
        self.fetch_with(path, query, kind, Vec::new())
    }

    fn fetch_with(
        &mut self,
        path: String,
        query: String,
        kind: FetchKind,
        headers: Vec<(String, String)>,
    ) -> Result<Fetched, Failure> {
        let host = self.repo()?;
        host.allowed()?;
        let key = host.repo.key.clone();
        if host.repo.rclass != RClass::Remote {
            return Err(fail(
                400,
                format!("'{key}' is not a remote repository: it has no upstream to fetch '{path}' from"),
            ));
        }
        let remote = host
            .remote
            .clone()
            .ok_or_else(|| fail(501, format!("'{key}' cannot fetch '{path}': this call has no upstream")))?;
        let p = clean(&path)?;
        // Immutable files are cached at their own path; metadata beside them, under
        // `.remote/` (an npm packument `lodash` would else be a file where the folder
        // of its tarballs `lodash/-/…` must be).
        let (kind, cached) = match kind {
            FetchKind::Immutable => (Kind::Immutable, p.clone()),
            FetchKind::Expirable => (Kind::Expirable, metadata_path(&p)),
        };
        let (repo, by) = (host.repo.clone(), host.caller.name().to_string());
        let meta = host.artifacts.meta.clone();
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| fail(500, "upstream.fetch needs the server's runtime"))?;
        let got: Result<(Option<Item>, bool), RemoteError> = handle.block_on(async {
            match remote.get_at(&repo, &p, &query, &headers, &cached, kind, &by).await? {
                Answer::Cached(item) => Ok((Some(item), true)),
                Answer::Stream(mut s) => {
                    // Read to the end: the body is recorded in the cache before its last chunk.
                    while let Some(chunk) = s.body.recv().await {
                        chunk.map_err(|e| RemoteError::BadGateway(e.to_string()))?;
                    }
                    let item = meta.item(&repo.key, &cached).map_err(|e| {
                        tracing::error!(error = %e, "reading the remote cache failed");
                        RemoteError::Storage("the remote cache could not be read".into())
                    })?;
                    Ok((item, false))
                }
            }
        });
        let (item, from_cache) = got.map_err(to_failure)?;
        let item = item.filter(|i| !i.folder).ok_or_else(|| {
            fail(
                501,
                format!("'{key}/{cached}' was fetched but not cached: a format's remote repository needs storeArtifactsLocally"),
            )
        })?;
        Ok(Fetched {
            status: 200,
            headers: vec![("content-type".into(), item.mime.clone())],
            blob: item.blob.as_ref().map(blob_info),
            cached_path: Some(cached),
            from_cache,
        })
    }
}

/// Where expirable metadata fetched from `path` is cached.
pub fn metadata_path(path: &str) -> String {
    if path.is_empty() {
        ".remote/index.meta".into()
    } else {
        format!(".remote/{path}.meta")
    }
}

fn to_failure(e: RemoteError) -> Failure {
    let status = match &e {
        RemoteError::NotFound(_) | RemoteError::Offline(_) => 404,
        RemoteError::BadGateway(_) => 502,
        RemoteError::Timeout(_) => 504,
        RemoteError::Storage(_) => 500,
    };
    fail(status, e.to_string())
}
