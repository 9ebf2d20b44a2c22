//! Artifacts: deploy, read, delete, copy, move and annotate files and folders of
//! repositories. Handlers call these after authorization; these functions validate
//! before they write, and every write is one metadata transaction.

pub mod content_types;
mod downloads;
mod error;
pub mod paths;
mod properties;
mod reads;
pub mod sessions;
mod transfer;
pub mod txn;
mod walk;

use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;

use crate::clock;
use crate::events::EventRecord;
use crate::repos::RepoConfig;
use crate::storage::upload::{self, UploadError};
use crate::storage::{BlobPin, BlobStore, Change, Checksums, Digests, Item, MetaStore, Properties, StoreError};

pub use downloads::DownloadStats;
pub use error::ArtifactError;
pub use properties::{PropertyChange, parse_property_list};
pub use reads::{Abandoned, GcReport, abandoned_staged, delete_abandoned};
pub use transfer::{Transfer, TransferKind, TransferMessage};
pub use txn::{FileWrite, Txn};
pub use walk::{Visit, Walk};

/// The artifact service over the metadata and blob stores.
#[derive(Clone)]
pub struct Artifacts {
    pub meta: Arc<dyn MetaStore>,
    pub blobs: Arc<dyn BlobStore>,
    /// Storage quotas (projects), checked before a file is recorded.
    pub quota: Arc<dyn Quota>,
}

/// Decides whether `added` more bytes may be stored in a repository.
pub trait Quota: Send + Sync {
    /// An error (nothing is recorded) when the repository's quota forbids it.
    fn check(&self, repo: &str, added: i64) -> Result<(), ArtifactError>;
}

/// No quota at all.
pub struct NoQuota;

impl Quota for NoQuota {
    fn check(&self, _: &str, _: i64) -> Result<(), ArtifactError> {
        Ok(())
    }
}

/// Runs blocking store work off the async threads.
pub async fn blocking<T, E>(f: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T, E>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(format!("a storage task failed: {e}"))))?
}

/// Set when the request that started a long job is dropped (the client went away):
/// the job's blocking thread checks it between batches and stops.
#[derive(Default)]
pub struct Cancel(Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    /// The flag the job checks.
    pub fn flag(&self) -> CancelFlag {
        CancelFlag(self.0.clone())
    }
}

impl Drop for Cancel {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A job's view of its `Cancel`.
pub struct CancelFlag(Arc<std::sync::atomic::AtomicBool>);

impl CancelFlag {
    /// An error once the request is gone.
    pub fn check(&self) -> Result<(), ArtifactError> {
        if self.0.load(std::sync::atomic::Ordering::Relaxed) {
            tracing::info!("the request was cancelled: its work stops");
            return Err(ArtifactError::Cancelled);
        }
        Ok(())
    }
}

/// Items deleted per transaction when a large folder is deleted.
const DELETE_BATCH: usize = 1_000;

/// Runs blocking store work off the async threads, for the artifact service's own errors.
pub async fn blocking_write<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ArtifactError> + Send + 'static,
) -> Result<T, ArtifactError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ArtifactError::Store(crate::storage::StoreError::Io(std::io::Error::other(e.to_string()))))?
}

/// What a deploy carries besides its bytes.
pub struct DeployRequest<'a> {
    pub repo: &'a RepoConfig,
    pub path: &'a str,
    pub by: &'a str,
    /// Checksums the client announced (`X-Checksum-*`).
    pub expected: Checksums,
    /// Properties from matrix parameters.
    pub props: Properties,
    /// The caller may replace an existing file.
    pub may_overwrite: bool,
}

impl Artifacts {
    /// An item, or 404.
    pub fn item(&self, repo: &str, path: &str) -> Result<Item, ArtifactError> {
        self.meta
            .item(repo, path)?
            .ok_or_else(|| ArtifactError::NotFound(format!("Unable to find item '{repo}/{path}'")))
    }

    /// When a repository was created; for one made before that was recorded, the
    /// oldest date of its top-level items (else now).
    fn repo_created(&self, repo: &str) -> Result<i64, ArtifactError> {
        if let Some(v) = self.meta.record(crate::repos::CREATED_KIND, repo)?
            && let Some(ms) = std::str::from_utf8(&v).ok().and_then(|t| t.parse().ok())
        {
            return Ok(ms);
        }
        let oldest = self.meta.children(repo, "")?.iter().map(|(_, i)| i.created).min();
        Ok(oldest.unwrap_or_else(clock::now_ms))
    }

    /// An item or the repository root (a folder without record).
    pub fn item_or_root(&self, repo: &str, path: &str) -> Result<Item, ArtifactError> {
        if path.is_empty() {
            return Ok(Item::new_folder("", self.repo_created(repo)?));
        }
        self.item(repo, path)
    }

    /// Checks that a file may be written at `path` before any byte is read.
    fn check_deploy_target(&self, d: &DeployRequest<'_>) -> Result<Option<Item>, ArtifactError> {
        if d.path.is_empty() {
            return Err(ArtifactError::Invalid(
                "A file needs a path inside the repository".into(),
            ));
        }
        if !d.repo.accepts_path(d.path) {
            return Err(ArtifactError::Conflict(format!(
                "The repository '{}' rejected the path '{}': it does not match the include/exclude patterns",
                d.repo.key, d.path
            )));
        }
        let existing = self.meta.item(&d.repo.key, d.path)?;
        match &existing {
            Some(i) if i.folder => Err(ArtifactError::Conflict(format!(
                "'{}/{}' is a folder: a file cannot replace it",
                d.repo.key, d.path
            ))),
            Some(_) if !d.may_overwrite => Err(ArtifactError::Forbidden(format!(
                "'{}/{}' exists and overwriting needs the delete permission",
                d.repo.key, d.path
            ))),
            _ => Ok(existing),
        }
    }

    /// Refuses a new upload at once while the disk is below its reserve.
    fn check_free_space(&self) -> Result<(), ArtifactError> {
        match self.meta.free_space() {
            Some((free, reserve)) if free < reserve => Err(ArtifactError::Store(StoreError::Full(format!(
                "{} MiB free, {} MiB are kept in reserve",
                free >> 20,
                reserve >> 20
            )))),
            _ => Ok(()),
        }
    }

    /// Streams a body into the store and records it as a file at `path`.
    pub async fn deploy<S, E>(&self, d: DeployRequest<'_>, body: S) -> Result<Item, ArtifactError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let existing = self.check_deploy_target(&d)?;
        self.check_free_space()?;
        let received = upload::receive(self.blobs.as_ref(), body).await.map_err(upload_error)?;
        verify_expected(&d.expected, &received.digests)?;
        let digests = received.digests.clone();
        let blobs = self.blobs.clone();
        let sha = digests.sha256.clone();
        let pin = blocking(move || blobs.commit(received.staged, &sha).map_err(StoreError::from)).await?;
        let item = self.record_file(&d, existing, digests).await;
        drop(pin);
        item
    }

    /// Streams a body into the blob store (hashing it on the way); the blob stays
    /// safe from garbage collection while the pin lives.
    pub async fn store_body<S, E>(&self, body: S) -> Result<(Digests, BlobPin), ArtifactError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.store_body_with(body, false).await
    }

    /// `store_body` for a store no client waits on (a remote's cache fill): its
    /// hashing and writing yield the CPU to the transfers (`upload::receive_in_background`).
    pub async fn store_body_in_background<S, E>(&self, body: S) -> Result<(Digests, BlobPin), ArtifactError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.store_body_with(body, true).await
    }

    async fn store_body_with<S, E>(&self, body: S, background: bool) -> Result<(Digests, BlobPin), ArtifactError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        if let Some((free, reserve)) = self.meta.free_space()
            && free < reserve
        {
            return Err(ArtifactError::Store(crate::storage::StoreError::Full(format!(
                "{} MiB free, {} MiB are kept in reserve",
                free >> 20,
                reserve >> 20
            ))));
        }
        let received = if background {
            upload::receive_in_background(self.blobs.as_ref(), body).await
        } else {
            upload::receive(self.blobs.as_ref(), body).await
        };
        let upload::Received { staged, digests } = received.map_err(upload_error)?;
        let (blobs, sha) = (self.blobs.clone(), digests.sha256.clone());
        let pin =
            blocking_write(move || blobs.commit(staged, &sha).map_err(|e| ArtifactError::Store(e.into()))).await?;
        Ok((digests, pin))
    }

    /// Deploys by checksum: the blob must already be stored; no body is read.
    pub async fn deploy_by_checksum(&self, d: DeployRequest<'_>) -> Result<Item, ArtifactError> {
        let existing = self.check_deploy_target(&d)?;
        let sha256 = match (&d.expected.sha256, &d.expected.sha1) {
            (Some(s), _) => Some(s.to_ascii_lowercase()),
            (None, Some(s1)) => self.meta.blob_by_sha1(&s1.to_ascii_lowercase())?,
            (None, None) => {
                return Err(ArtifactError::Invalid(
                    "Checksum deploy needs an X-Checksum-Sha256 or X-Checksum-Sha1 header".into(),
                ));
            }
        };
        let not_found = || {
            ArtifactError::NotFound(format!(
                "Checksum deploy failed: no stored binary has the checksum given for '{}/{}'",
                d.repo.key, d.path
            ))
        };
        let sha256 = sha256.ok_or_else(not_found)?;
        let digests = self.meta.blob(&sha256)?.ok_or_else(not_found)?;
        verify_expected(&d.expected, &digests)?;
        let pin = self
            .blobs
            .pin_existing(&sha256)
            .map_err(StoreError::from)?
            .ok_or_else(not_found)?;
        let item = self.record_file(&d, existing, digests).await;
        drop(pin);
        item
    }

    async fn record_file(
        &self,
        d: &DeployRequest<'_>,
        _checked: Option<Item>,
        digests: Digests,
    ) -> Result<Item, ArtifactError> {
        let mut txn = self.begin(false);
        let (repo, path, by) = (d.repo.clone(), d.path.to_string(), d.by.to_string());
        let (expected, props, may_overwrite) = (d.expected.clone(), d.props.clone(), d.may_overwrite);
        blocking(move || {
            let item = txn.put_file(FileWrite {
                repo: &repo,
                path: &path,
                by: &by,
                digests,
                expected,
                props,
                may_overwrite,
            })?;
            txn.commit()?;
            Ok(item)
        })
        .await
    }

    /// A write transaction (see `txn`); `track_reads` makes it commit only if what it
    /// read is unchanged (plugin requests).
    pub fn begin(&self, track_reads: bool) -> Txn {
        Txn::new(self.meta.clone(), self.quota.clone(), track_reads)
    }

    /// Creates a folder (and its parents); an existing folder is kept as it is.
    pub async fn create_folder(
        &self,
        repo: &RepoConfig,
        path: &str,
        by: &str,
        props: Properties,
    ) -> Result<Item, ArtifactError> {
        if path.is_empty() {
            return Ok(Item::new_folder(by, clock::now_ms()));
        }
        if let Some(existing) = self.meta.item(&repo.key, path)? {
            if existing.folder {
                return Ok(existing);
            }
            return Err(ArtifactError::Conflict(format!("'{}/{path}' is a file", repo.key)));
        }
        let mut item = Item::new_folder(by, clock::now_ms());
        item.props = props;
        let change = Change::Put {
            repo: repo.key.clone(),
            path: path.to_string(),
            item: Box::new(item.clone()),
        };
        let meta = self.meta.clone();
        blocking(move || meta.apply(&[change])).await?;
        Ok(item)
    }

    /// A streamed walk of everything under `folder` (see `Walk`).
    pub fn walker(&self, repo: &str, folder: &str, max_depth: Option<usize>) -> Walk {
        Walk::new(self.meta.clone(), repo, folder, max_depth)
    }

    /// Every item under `folder` (not the folder itself), parents before children,
    /// down to `max_depth` levels (`None`: all), in memory: for work that must be one
    /// transaction anyway. Large trees are walked with `walker`.
    pub fn walk(
        &self,
        repo: &str,
        folder: &str,
        max_depth: Option<usize>,
    ) -> Result<Vec<(String, Item)>, ArtifactError> {
        self.walker(repo, folder, max_depth).items().collect()
    }

    /// The changes that delete a file, or a folder with everything under it (with a
    /// `deleted` event per file).
    pub fn delete_changes(&self, repo: &str, path: &str) -> Result<Vec<Change>, ArtifactError> {
        let item = self.item_or_root(repo, path)?;
        let mut changes = Vec::new();
        let mut events = Vec::new();
        if item.folder {
            for step in self.walker(repo, path, None) {
                let (visit, p, i) = step?;
                // Children go before their folder.
                if visit == Visit::Pre && i.folder {
                    continue;
                }
                if !i.folder {
                    events.push(EventRecord::artifact("deleted", repo, &p, &i).change());
                }
                changes.push(Change::Delete {
                    repo: repo.to_string(),
                    path: p,
                });
            }
        } else {
            events.push(EventRecord::artifact("deleted", repo, path, &item).change());
        }
        if !path.is_empty() {
            changes.push(Change::Delete {
                repo: repo.to_string(),
                path: path.to_string(),
            });
        }
        changes.extend(events);
        Ok(changes)
    }

    /// Deletes a file, or a folder with everything under it; answers how many items
    /// went. It runs on a blocking thread; a large folder goes in batches, children
    /// before their folders (each batch leaves a consistent tree), and stops when the
    /// request is dropped.
    pub async fn delete(&self, repo: &str, path: &str) -> Result<usize, ArtifactError> {
        let (this, repo, path) = (self.clone(), repo.to_string(), path.to_string());
        let cancel = Cancel::default();
        let cancelled = cancel.flag();
        let out = blocking(move || {
            let item = this.item_or_root(&repo, &path)?;
            if !item.folder {
                let changes = this.delete_changes(&repo, &path)?;
                this.meta.apply(&changes)?;
                return Ok(1);
            }
            let mut n = 0;
            let mut batch = Vec::new();
            // Streamed: children before their folders (a folder is deleted on its
            // way out), so each batch leaves a consistent tree and memory stays bounded.
            let folder = (!path.is_empty()).then(|| Ok((Visit::Post, path.clone(), item)));
            for step in this.walker(&repo, &path, None).chain(folder) {
                let (visit, p, i) = step?;
                if visit == Visit::Pre && i.folder {
                    continue;
                }
                if !i.folder {
                    batch.push(EventRecord::artifact("deleted", &repo, &p, &i).change());
                }
                batch.push(Change::Delete {
                    repo: repo.clone(),
                    path: p,
                });
                n += 1;
                if batch.len() >= DELETE_BATCH {
                    cancelled.check()?;
                    this.meta.apply(&std::mem::take(&mut batch))?;
                }
            }
            if !batch.is_empty() {
                this.meta.apply(&batch)?;
            }
            Ok(n)
        })
        .await;
        drop(cancel);
        out
    }
}

/// An upload that could not be received: the client's body broke off, or the
/// store failed (a full disk included).
fn upload_error(e: UploadError) -> ArtifactError {
    match e {
        UploadError::Body(m) => ArtifactError::Invalid(format!("The upload was interrupted: {m}")),
        UploadError::Io(e) => ArtifactError::Store(StoreError::from(e)),
    }
}

/// Refuses bytes whose digests differ from what the client announced.
fn verify_expected(expected: &Checksums, got: &Digests) -> Result<(), ArtifactError> {
    let checks = [
        ("SHA-256", &expected.sha256, &got.sha256),
        ("SHA-1", &expected.sha1, &got.sha1),
        ("MD5", &expected.md5, &got.md5),
    ];
    for (name, want, have) in checks {
        if let Some(w) = want
            && !w.eq_ignore_ascii_case(have)
        {
            return Err(ArtifactError::Conflict(format!(
                "Checksum mismatch: the client sent {name} {w}, the received bytes have {name} {have}; nothing was stored"
            )));
        }
    }
    Ok(())
}

/// The content type Artifactory reports for a file name: what a package-type
/// plugin declares for its extension, else the common archive and checksum types,
/// else by the name's extension.
pub fn mime_of(path: &str) -> String {
    let ext = path.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    if let Some(t) = content_types::declared(&ext) {
        return t;
    }
    let special = match ext.as_str() {
        "jar" | "war" | "ear" => Some("application/java-archive"),
        "tgz" => Some("application/x-gzip"),
        "whl" => Some("application/zip"),
        "sha1" | "sha256" | "sha512" | "md5" | "asc" => Some("text/plain"),
        _ => None,
    };
    match special {
        Some(s) => s.to_string(),
        None => mime_guess::from_path(path)
            .first_or_octet_stream()
            .essence_str()
            .to_string(),
    }
}
