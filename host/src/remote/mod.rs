//! Remote (proxy-cache) repositories: fetches from a repository's upstream and
//! keeps the cache by Artifactory's rules. No HTTP types live here.
//!
//! - A file is looked up in the repository's own items first (the cache, browsable
//!   as `{key}-cache`). Immutable files never expire; expirable ones (metadata) are
//!   fresh for `retrievalCachePeriodSecs`, then revalidated with `If-None-Match` /
//!   `If-Modified-Since` (a 304 renews them).
//! - One upstream request per path however many clients ask at once (single-flight):
//!   the first client gets the body as it arrives, the others wait for it to be
//!   cached and are served from the cache.
//! - A body is recorded (one transaction through the artifact service: events,
//!   quota) only when it is complete and matches its `Content-Length` and advertised
//!   checksums; nothing partial is ever cached.
//! - The first client is not held back by storing: the body goes to it as fast as
//!   the upstream sends, while up to `stream_buffer_mib` (shared by all fetches) of
//!   it waits to be hashed and written; the hashing and writing run at a lower CPU
//!   priority than the transfer. Only when the upstream advertised checksums is the
//!   last chunk held until they are checked.
//! - Misses are remembered for `missedRetrievalCachePeriodSecs`; after a connection
//!   failure, a timeout, 429 or 5xx the upstream is assumed offline for
//!   `assumedOfflinePeriodSecs` and the stale copy is served.

mod flight;
pub mod settings;
mod upstream;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::artifacts::{ArtifactError, Artifacts, FileWrite, blocking_write};
use crate::clock;
use crate::config::RemoteConfig;
use crate::repos::RepoConfig;
use crate::storage::{Checksums, Item, Properties};

pub use settings::{RemoteSettings, SettingsError};

use flight::{Flight, Joined, Outcome};

/// How a fetched file may be cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Never changes once published (a tarball, a jar): kept for ever.
    Immutable,
    /// Metadata that changes: kept for the retrieval cache period.
    Expirable,
}

/// Why a file could not be served. Messages name the repository, the upstream and
/// the reason; `http/error.rs` maps the variants to 404, 502, 504 and 500.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RemoteError {
    /// The upstream has no such file, or said so recently (negative cache).
    #[error("{0}")]
    NotFound(String),
    /// Not cached, and the repository does not ask its upstream (offline, blacked out).
    #[error("{0}")]
    Offline(String),
    /// The upstream failed, answered an error or sent a body that is not right.
    #[error("{0}")]
    BadGateway(String),
    /// The upstream did not answer in time.
    #[error("{0}")]
    Timeout(String),
    /// The cache could not be written or read; the detail is logged.
    #[error("{0}")]
    Storage(String),
}

/// What a request for a path gets.
pub enum Answer {
    /// A stored item (a file fresh or stale, or a cached folder).
    Cached(Item),
    /// The upstream's body as it arrives: to the first client of a fetch, or every
    /// client of a repository that does not store artifacts locally.
    Stream(Streamed),
}

/// A body streamed from the upstream.
pub struct Streamed {
    pub content_type: String,
    pub content_length: Option<u64>,
    /// Checksums the upstream advertised (`x-checksum-sha1`, …), already checked at the end.
    pub checksums: Vec<(&'static str, String)>,
    /// The chunks; an error ends the body early (nothing was cached then).
    pub body: mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

/// What the cache keeps beside a fetched file (in the repository's key-value space).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CacheRecord {
    /// When the upstream last confirmed the content (fetch or 304), ms.
    fetched_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_modified: Option<String>,
}

/// The key-value key of a cached file's record.
fn record_key(path: &str) -> String {
    format!("binyard.remote.cache:{path}")
}

/// One remote repository's live state: its client and the rules' memory.
struct RepoState {
    /// The configuration fields the state was built from; a change rebuilds it.
    source: (Option<String>, BTreeMap<String, serde_json::Value>),
    settings: RemoteSettings,
    url: String,
    client: reqwest::Client,
    permits: Arc<tokio::sync::Semaphore>,
    /// Until when the upstream is assumed offline, and why.
    offline_until: Mutex<Option<(Instant, String)>>,
    /// Remembered misses: path → until when.
    misses: Mutex<HashMap<String, Instant>>,
    flights: flight::Flights,
    /// The last bearer token the upstream's token endpoint gave (registries' token flow).
    bearer: Mutex<Option<String>>,
}

impl RepoState {
    fn assumed_offline(&self) -> Option<String> {
        let mut g = self.offline_until.lock().unwrap_or_else(|e| e.into_inner());
        match &*g {
            Some((until, why)) if *until > Instant::now() => Some(why.clone()),
            Some(_) => {
                *g = None;
                None
            }
            None => None,
        }
    }

    fn mark_offline(&self, why: &str) {
        let secs = self.settings.assumed_offline_period_secs;
        if secs > 0 {
            let until = Instant::now() + Duration::from_secs(secs);
            *self.offline_until.lock().unwrap_or_else(|e| e.into_inner()) = Some((until, why.to_string()));
        }
    }

    fn remembered_miss(&self, path: &str) -> bool {
        let mut g = self.misses.lock().unwrap_or_else(|e| e.into_inner());
        match g.get(path) {
            Some(until) if *until > Instant::now() => true,
            Some(_) => {
                g.remove(path);
                false
            }
            None => false,
        }
    }

    fn remember_miss(&self, path: &str) {
        let secs = self.settings.missed_retrieval_cache_period_secs;
        if secs == 0 {
            return;
        }
        let mut g = self.misses.lock().unwrap_or_else(|e| e.into_inner());
        if g.len() >= 100_000 {
            let now = Instant::now();
            g.retain(|_, until| *until > now);
        }
        g.insert(path.to_string(), Instant::now() + Duration::from_secs(secs));
    }
}

/// The remote repository service.
pub struct Remote {
    artifacts: Artifacts,
    config: RemoteConfig,
    /// Bytes received but not yet taken by the store, shared by all fetches.
    buffer: Arc<Semaphore>,
    states: Mutex<HashMap<String, Arc<RepoState>>>,
}

impl Remote {
    pub fn new(artifacts: Artifacts, config: RemoteConfig) -> Remote {
        let budget = usize::try_from(config.stream_buffer_mib.clamp(1, 1 << 30) << 20).unwrap_or(usize::MAX >> 4);
        Remote {
            artifacts,
            buffer: Arc::new(Semaphore::new(budget.min(Semaphore::MAX_PERMITS))),
            config,
            states: Mutex::new(HashMap::new()),
        }
    }

    /// The live state of a remote repository, built again when its configuration changed.
    /// Called on every request: an unchanged configuration is compared, not parsed.
    fn state(&self, repo: &RepoConfig) -> Result<Arc<RepoState>, RemoteError> {
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = states.get(&repo.key)
            && s.source.0 == repo.url
            && s.source.1 == repo.extra
        {
            return Ok(s.clone());
        }
        let settings = RemoteSettings::from_fields(&repo.extra).map_err(|e| RemoteError::Storage(e.to_string()))?;
        let url = repo.url.clone().unwrap_or_default();
        let client = upstream::client(&url, &settings, self.config.max_connections_per_repository)
            .map_err(|e| RemoteError::BadGateway(format!("Remote repository '{}': {e}", repo.key)))?;
        let s = Arc::new(RepoState {
            source: (repo.url.clone(), repo.extra.clone()),
            settings,
            url,
            client,
            permits: Arc::new(tokio::sync::Semaphore::new(
                self.config.max_connections_per_repository.max(1),
            )),
            offline_until: Mutex::new(None),
            misses: Mutex::new(HashMap::new()),
            flights: flight::Flights::default(),
            bearer: Mutex::new(None),
        });
        states.insert(repo.key.clone(), s.clone());
        Ok(s)
    }

    /// Forgets a deleted repository's state.
    pub fn forget(&self, key: &str) {
        self.states.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }

    /// The file at `path` of remote repository `repo`, cached at the same path: from
    /// the cache when the rules allow, else from the upstream (`query` is passed on
    /// to it). `by` is recorded as the cached file's creator.
    pub async fn get(
        &self,
        repo: &RepoConfig,
        path: &str,
        query: &str,
        kind: Kind,
        by: &str,
    ) -> Result<Answer, RemoteError> {
        self.get_at(repo, path, query, &[], path, kind, by).await
    }

    /// `get`, with request `headers` for the upstream and the file cached at
    /// `cached` instead of its upstream path.
    #[allow(clippy::too_many_arguments)]
    pub async fn get_at(
        &self,
        repo: &RepoConfig,
        upstream_path: &str,
        query: &str,
        headers: &[(String, String)],
        cached: &str,
        kind: Kind,
        by: &str,
    ) -> Result<Answer, RemoteError> {
        let st = self.state(repo)?;
        let up = Target {
            path: upstream_path,
            query,
            headers,
        };
        let path = cached;
        loop {
            let cached = self.cached(&repo.key, path).await?;
            if let Some((item, _)) = &cached
                && item.folder
            {
                return Ok(Answer::Cached(item.clone()));
            }
            if let Some((item, rec)) = &cached
                && is_fresh(kind, rec, st.settings.retrieval_cache_period_secs)
            {
                return Ok(Answer::Cached(item.clone()));
            }
            if let Some(e) = self.not_asking(&st, repo, path) {
                return match cached {
                    Some((item, _)) => Ok(Answer::Cached(item)),
                    None => Err(e),
                };
            }
            if cached.is_none() && st.remembered_miss(path) {
                return Err(not_found(
                    repo,
                    &st,
                    path,
                    "it was not found there recently (a remembered miss)",
                ));
            }
            if !st.settings.store_artifacts_locally {
                // Nothing is kept, so there is nothing for other clients to wait for.
                return self.fetch(&st, repo, &up, path, kind, cached, by, None).await;
            }
            match st.flights.join(path) {
                Joined::Leader(flight) => {
                    // A flight that ended between the read above and the join cached it.
                    let cached = self.cached(&repo.key, path).await?;
                    if let Some((item, rec)) = &cached
                        && is_fresh(kind, rec, st.settings.retrieval_cache_period_secs)
                    {
                        flight.finish(Outcome::Cached(Box::new(item.clone())));
                        return Ok(Answer::Cached(item.clone()));
                    }
                    return self.fetch(&st, repo, &up, path, kind, cached, by, Some(flight)).await;
                }
                Joined::Follower(outcome) => match outcome.await {
                    Outcome::Cached(item) => return Ok(Answer::Cached(*item)),
                    Outcome::Failed(e) => return Err(e),
                    // The leader streamed without caching (a 304 raced a delete): ask again.
                    Outcome::Again => continue,
                },
            }
        }
    }

    /// Why the upstream is not asked now, if it is not: the error of a miss.
    fn not_asking(&self, st: &RepoState, repo: &RepoConfig, path: &str) -> Option<RemoteError> {
        let not_cached = format!("'{}/{path}' is not cached and the remote repository", repo.key);
        if st.settings.blacked_out {
            return Some(RemoteError::Offline(format!("{not_cached} is blacked out")));
        }
        if st.settings.offline {
            return Some(RemoteError::Offline(format!(
                "{not_cached} is offline (it serves its cache only)"
            )));
        }
        st.assumed_offline().map(|why| {
            RemoteError::BadGateway(format!(
                "{not_cached} assumes its upstream {} is offline for now, after: {why}",
                st.url
            ))
        })
    }

    /// The cached item at `path` with its record, if any.
    async fn cached(&self, repo: &str, path: &str) -> Result<Option<(Item, CacheRecord)>, RemoteError> {
        let (meta, repo, path) = (self.artifacts.meta.clone(), repo.to_string(), path.to_string());
        let found = blocking_write(move || {
            let Some(item) = meta.item(&repo, &path)? else {
                return Ok(None);
            };
            let rec = meta
                .kv_get(&repo, &record_key(&path))?
                .and_then(|v| serde_json::from_slice::<CacheRecord>(&v).ok())
                .unwrap_or_default();
            Ok(Some((item, rec)))
        })
        .await;
        found.map_err(storage)
    }

    /// Asks the upstream (the leader of a flight, or a stream-through request).
    #[allow(clippy::too_many_arguments)]
    async fn fetch(
        &self,
        st: &Arc<RepoState>,
        repo: &RepoConfig,
        up: &Target<'_>,
        path: &str,
        kind: Kind,
        cached: Option<(Item, CacheRecord)>,
        by: &str,
        flight: Option<Flight>,
    ) -> Result<Answer, RemoteError> {
        let fail = |flight: Option<Flight>, e: RemoteError| {
            if let Some(f) = flight {
                f.finish(Outcome::Failed(e.clone()));
            }
            Err(e)
        };
        // A stale copy answers for a failed upstream unless the repository fails hard.
        let stale_or = |flight: Option<Flight>, cached: Option<(Item, CacheRecord)>, e: RemoteError| match cached {
            Some((item, _)) if !st.settings.hard_fail => {
                tracing::warn!(repo = %repo.key, path, error = %e, "upstream failed: serving the cached copy");
                if let Some(f) = flight {
                    f.finish(Outcome::Cached(Box::new(item.clone())));
                }
                Ok(Answer::Cached(item))
            }
            _ => fail(flight, e),
        };
        let permit = st
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| RemoteError::Storage("the remote service is shutting down".into()))?;
        let conditional = match (&cached, kind) {
            (Some((_, rec)), Kind::Expirable) => Some(rec.clone()),
            _ => None,
        };
        let sent = upstream::send(st, up.path, up.query, up.headers, kind, conditional.as_ref()).await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                let err = describe_send_error(repo, st, path, &e);
                if e.is_connect() || e.is_timeout() {
                    st.mark_offline(&err.to_string());
                }
                return stale_or(flight, cached, err);
            }
        };
        let status = resp.status().as_u16();
        match status {
            200 => {}
            304 if cached.is_some() => {
                let (item, _) = cached.unwrap_or_default();
                let rec = CacheRecord {
                    fetched_ms: clock::now_ms(),
                    ..record_of(resp.headers(), conditional.unwrap_or_default())
                };
                if let Err(e) = self.renew(&repo.key, path, &rec).await {
                    return fail(flight, e);
                }
                if let Some(f) = flight {
                    f.finish(Outcome::Cached(Box::new(item.clone())));
                }
                return Ok(Answer::Cached(item));
            }
            404 | 410 => {
                if cached.is_none() {
                    st.remember_miss(path);
                }
                let e = not_found(
                    repo,
                    st,
                    path,
                    &format!("the upstream answered {}", status_text(status)),
                );
                return stale_or(flight, cached, e);
            }
            429 | 500..=599 => {
                let e = RemoteError::BadGateway(format!(
                    "'{}/{path}': the upstream {} answered {}",
                    repo.key,
                    st.url,
                    status_text(status)
                ));
                st.mark_offline(&e.to_string());
                return stale_or(flight, cached, e);
            }
            300..=399 => {
                let to = header(resp.headers(), "location").unwrap_or_default();
                let e = RemoteError::BadGateway(format!(
                    "'{}/{path}': the upstream {} redirected to '{to}', which is not followed: redirects are followed only on the upstream's own host, at most {} times",
                    repo.key,
                    st.url,
                    upstream::MAX_REDIRECTS
                ));
                return stale_or(flight, cached, e);
            }
            _ => {
                let e = RemoteError::BadGateway(format!(
                    "'{}/{path}': the upstream {} answered {}",
                    repo.key,
                    st.url,
                    status_text(status)
                ));
                return stale_or(flight, cached, e);
            }
        }
        let max = self.config.max_file_mib.saturating_mul(1 << 20);
        let length = resp.content_length();
        if let Some(n) = length
            && n > max
        {
            let e = RemoteError::BadGateway(format!(
                "'{}/{path}': the upstream {} announces {n} bytes, more than the {} MiB a remote file may have",
                repo.key, st.url, self.config.max_file_mib
            ));
            return fail(flight, e);
        }
        let checksums = advertised(resp.headers());
        let content_type = header(resp.headers(), "content-type").unwrap_or_else(|| crate::artifacts::mime_of(path));
        let (tx, rx) = mpsc::channel(4);
        let job = Pump {
            artifacts: self.artifacts.clone(),
            repo: repo.clone(),
            path: path.to_string(),
            by: by.to_string(),
            upstream: st.url.clone(),
            record: record_of(resp.headers(), CacheRecord::default()),
            store: st.settings.store_artifacts_locally,
            length,
            max,
            checksums: checksums.clone(),
            flight,
            buffer: self.buffer.clone(),
        };
        // Detached: the file is completed and cached even when the first client leaves.
        tokio::spawn(async move {
            job.run(resp, tx).await;
            drop(permit);
        });
        Ok(Answer::Stream(Streamed {
            content_type,
            content_length: length,
            checksums,
            body: rx,
        }))
    }

    /// Records that the upstream confirmed the cached copy (a 304).
    async fn renew(&self, repo: &str, path: &str, rec: &CacheRecord) -> Result<(), RemoteError> {
        let mut txn = self.artifacts.begin(false);
        let value = serde_json::to_vec(rec).map_err(|e| RemoteError::Storage(e.to_string()))?;
        txn.kv_set(repo, &record_key(path), Some(value));
        blocking_write(move || txn.commit()).await.map_err(storage)
    }
}

/// What storing a body gave: its digests and the blob kept from collection, or why not.
type Stored = Result<Result<(crate::storage::Digests, crate::storage::BlobPin), ArtifactError>, tokio::task::JoinError>;

/// What is asked of the upstream.
struct Target<'a> {
    path: &'a str,
    query: &'a str,
    /// Request headers the format sends (e.g. `accept`).
    headers: &'a [(String, String)],
}

/// The body of one fetch: streamed to the first client while it is stored, checked,
/// then recorded; the flight's other clients learn the outcome.
struct Pump {
    artifacts: Artifacts,
    repo: RepoConfig,
    path: String,
    by: String,
    upstream: String,
    record: CacheRecord,
    store: bool,
    length: Option<u64>,
    max: u64,
    checksums: Vec<(&'static str, String)>,
    flight: Option<Flight>,
    buffer: Arc<Semaphore>,
}

/// A piece of the body on its way to the store, with its share of the buffer.
type ToStore = (Result<Bytes, String>, Option<OwnedSemaphorePermit>);

impl Pump {
    async fn run(self, resp: reqwest::Response, client: mpsc::Sender<Result<Bytes, std::io::Error>>) {
        use futures_util::StreamExt;
        let mut up = resp.bytes_stream();
        // Unbounded in items, bounded in bytes by the shared buffer: the client is
        // served at the upstream's pace while the store hashes and writes behind it.
        let (store_tx, store_rx) = mpsc::unbounded_channel::<ToStore>();
        let storing = self.store.then(|| {
            let artifacts = self.artifacts.clone();
            let body = futures_util::stream::unfold(store_rx, |mut rx| async move {
                // The permit drops here: the store has taken the bytes.
                rx.recv().await.map(|(item, _permit)| (item, rx))
            });
            tokio::spawn(async move { artifacts.store_body_in_background(Box::pin(body)).await })
        });
        // The last chunk is held back until the body is known to be whole (its
        // length, and its advertised checksums once stored), so a client never
        // receives a complete-looking body that was not right.
        let mut held: Option<Bytes> = None;
        let (mut total, mut client_open) = (0u64, true);
        let mut broke: Option<String> = None;
        while let Some(next) = up.next().await {
            match next {
                Ok(chunk) => {
                    total += chunk.len() as u64;
                    if total > self.max {
                        broke = Some(format!(
                            "the body is longer than the {} MiB a remote file may have",
                            self.max >> 20
                        ));
                        break;
                    }
                    if let Some(h) = held.replace(chunk.clone())
                        && client_open
                    {
                        client_open = client.send(Ok(h)).await.is_ok();
                    }
                    if self.store {
                        // Counted up to 1 MiB a frame, so no frame waits for more than the buffer holds.
                        let want = u32::try_from(chunk.len()).unwrap_or(u32::MAX).clamp(1, 1 << 20);
                        let permit = self.buffer.clone().acquire_many_owned(want).await.ok();
                        if store_tx.send((Ok(chunk), permit)).is_err() {
                            break; // the store failed: reported by `storing`
                        }
                    } else if !client_open {
                        return; // streamed through to nobody
                    }
                }
                Err(e) => {
                    broke = Some(upstream::error_chain(&e));
                    break;
                }
            }
        }
        if let Some(b) = &broke {
            let _ = store_tx.send((Err(b.clone()), None));
        }
        drop(store_tx);
        let whole = broke.is_none() && self.length.is_none_or(|n| n == total);
        if whole
            && self.checksums.is_empty()
            && let Some(h) = held.take()
            && client_open
        {
            // Nothing left to check: the client is done before the store is.
            let _ = client.send(Ok(h)).await;
        }
        let stored = match storing {
            Some(job) => Some(job.await),
            None => None,
        };
        let result = self.check_and_record(broke, total, stored).await;
        match result {
            Ok(item) => {
                if let Some(f) = self.flight {
                    f.finish(item.map_or(Outcome::Again, |i| Outcome::Cached(Box::new(i))));
                }
                if let Some(h) = held
                    && client_open
                {
                    let _ = client.send(Ok(h)).await;
                }
            }
            Err(e) => {
                tracing::warn!(repo = %self.repo.key, path = %self.path, error = %e, "remote fetch failed");
                if let Some(f) = self.flight {
                    f.finish(Outcome::Failed(e.clone()));
                }
                if held.is_some() || !whole {
                    let _ = client.send(Err(std::io::Error::other(e.to_string()))).await;
                }
            }
        }
    }

    /// Checks the received body and records it in the cache (`None`: not stored).
    async fn check_and_record(
        &self,
        broke: Option<String>,
        total: u64,
        stored: Option<Stored>,
    ) -> Result<Option<Item>, RemoteError> {
        let what = format!("'{}/{}' from the upstream {}", self.repo.key, self.path, self.upstream);
        if let Some(b) = broke {
            return Err(RemoteError::BadGateway(format!(
                "{what}: the body broke off after {total} bytes ({b}); nothing was cached"
            )));
        }
        if let Some(n) = self.length
            && n != total
        {
            return Err(RemoteError::BadGateway(format!(
                "{what}: the body has {total} bytes where Content-Length said {n}; nothing was cached"
            )));
        }
        let Some(stored) = stored else { return Ok(None) };
        let (digests, pin) = stored
            .map_err(|e| RemoteError::Storage(format!("{what}: the store task failed: {e}")))?
            .map_err(storage)?;
        for (name, want) in &self.checksums {
            let have = match *name {
                "x-checksum-sha1" => &digests.sha1,
                "x-checksum-sha256" => &digests.sha256,
                _ => &digests.md5,
            };
            if !want.eq_ignore_ascii_case(have) {
                return Err(RemoteError::BadGateway(format!(
                    "{what}: the body's checksum {have} differs from the advertised {name} {want}; nothing was cached"
                )));
            }
        }
        let rec = CacheRecord {
            fetched_ms: clock::now_ms(),
            ..self.record.clone()
        };
        let value = serde_json::to_vec(&rec).map_err(|e| RemoteError::Storage(e.to_string()))?;
        let mut txn = self.artifacts.begin(false);
        let (repo, path, by) = (self.repo.clone(), self.path.clone(), self.by.clone());
        let item = blocking_write(move || {
            let item = txn.put_file(FileWrite {
                repo: &repo,
                path: &path,
                by: &by,
                digests,
                expected: Checksums::default(),
                props: Properties::new(),
                may_overwrite: true,
            })?;
            txn.kv_set(&repo.key, &record_key(&path), Some(value));
            txn.pin(pin);
            txn.commit()?;
            Ok(item)
        })
        .await
        .map_err(storage)?;
        Ok(Some(item))
    }
}

/// A stream over a channel's items.
fn receiver_stream<T: Send + 'static>(
    rx: mpsc::Receiver<T>,
) -> std::pin::Pin<Box<dyn futures_util::Stream<Item = T> + Send>> {
    Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|x| (x, rx))
    }))
}

/// The body of a `Streamed` answer as a stream.
pub fn body_stream(
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send>> {
    receiver_stream(rx)
}

fn is_fresh(kind: Kind, rec: &CacheRecord, ttl_secs: u64) -> bool {
    match kind {
        Kind::Immutable => true,
        Kind::Expirable => clock::now_ms().saturating_sub(rec.fetched_ms) < (ttl_secs as i64).saturating_mul(1000),
    }
}

fn not_found(repo: &RepoConfig, st: &RepoState, path: &str, why: &str) -> RemoteError {
    RemoteError::NotFound(format!(
        "Unable to find item '{}/{path}' in the upstream {}: {why}",
        repo.key, st.url
    ))
}

fn describe_send_error(repo: &RepoConfig, st: &RepoState, path: &str, e: &reqwest::Error) -> RemoteError {
    let what = format!("'{}/{path}': the upstream {}", repo.key, st.url);
    let chain = upstream::error_chain(e);
    if e.is_timeout() {
        RemoteError::Timeout(format!("{what} did not answer in time ({chain})"))
    } else if e.is_connect() {
        RemoteError::BadGateway(format!("{what} cannot be reached ({chain})"))
    } else if e.is_redirect() {
        RemoteError::BadGateway(format!("{what} redirected too often ({chain})"))
    } else {
        RemoteError::BadGateway(format!("{what} failed ({chain})"))
    }
}

fn status_text(status: u16) -> String {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("{status} {reason}").trim_end().to_string()
}

fn header(h: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// The validators of a response, defaulting to `old`'s (a 304 may omit them).
fn record_of(h: &reqwest::header::HeaderMap, old: CacheRecord) -> CacheRecord {
    CacheRecord {
        fetched_ms: old.fetched_ms,
        etag: header(h, "etag").or(old.etag),
        last_modified: header(h, "last-modified").or(old.last_modified),
    }
}

/// Checksums advertised by the upstream, each the right length of hex.
fn advertised(h: &reqwest::header::HeaderMap) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (name, len) in [
        ("x-checksum-sha1", 40),
        ("x-checksum-sha256", 64),
        ("x-checksum-md5", 32),
    ] {
        if let Some(v) = header(h, name) {
            let v = v.trim().to_ascii_lowercase();
            if v.len() == len && v.bytes().all(|b| b.is_ascii_hexdigit()) {
                out.push((name, v));
            }
        }
    }
    out
}

fn storage(e: ArtifactError) -> RemoteError {
    match e {
        ArtifactError::QuotaExceeded(_) | ArtifactError::Conflict(_) | ArtifactError::Forbidden(_) => {
            RemoteError::Storage(format!("The fetched file cannot be cached: {e}"))
        }
        e => {
            tracing::error!(error = %e, "remote cache storage failed");
            RemoteError::Storage("The remote cache could not be read or written: the server log has the details".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_follows_the_kind_and_the_period() {
        let old = CacheRecord {
            fetched_ms: clock::now_ms() - 10_000,
            ..CacheRecord::default()
        };
        assert!(is_fresh(Kind::Immutable, &old, 0));
        assert!(!is_fresh(Kind::Expirable, &old, 5));
        assert!(is_fresh(Kind::Expirable, &old, 60));
    }

    #[test]
    fn only_well_formed_checksums_are_taken() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("x-checksum-sha1", "A".repeat(40).parse().unwrap());
        h.insert("x-checksum-md5", "zz".parse().unwrap());
        let got = advertised(&h);
        assert_eq!(got, vec![("x-checksum-sha1", "a".repeat(40))]);
    }
}
