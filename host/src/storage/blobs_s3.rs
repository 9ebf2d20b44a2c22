//! Blobs in an S3-compatible bucket (the `object_store` crate), for several nodes
//! sharing one store. Keys are content addressed like the folder layout:
//! `<prefix>/ab/cd/<sha256>`.
//!
//! Uploads are still staged in a local temporary file (the `BlobStore` trait hands
//! callers a `StagedFile` to write and fsync), then sent with a multipart upload
//! through a bounded buffer: never a whole file in memory. Streaming straight from
//! the request into the multipart upload needs the trait to change, a later step.
//!
//! The pin table works as on a folder: `commit` pins the blob *before* it checks or
//! uploads it, and the collector deletes only unpinned blobs while holding the
//! table, so it never deletes a blob a write of this node is about to reference.
//! (Pins of other nodes are a later step: leases for the collector.)

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectStore};
use tokio::io::AsyncWriteExt;

use super::blobs::{
    BlobPin, BlobStore, BlobsUnavailable, ByteStream, PinTable, SMALL_BLOB, SmallBlobCache, StagedFile, Staging,
    invalid, lock, valid_sha256,
};
use super::bridge::Bridge;

/// Where and how to reach the bucket (`[storage]` `s3_*` keys).
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// `http(s)://host:port` of the S3 API; empty: AWS's endpoint for the region.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Bucket in the path (`endpoint/bucket/key`) rather than in the host name.
    pub path_style: bool,
    /// Key prefix of the blobs inside the bucket.
    pub prefix: String,
}

/// Bytes held per upload before a part is sent (S3 parts are at least 5 MiB).
const PART: usize = 8 << 20;
/// Parts of one upload in flight at once: with `PART`, the memory bound of an upload.
const PARTS_IN_FLIGHT: usize = 2;
/// Chunks of a download buffered between the client and the response.
const STREAM_CHUNKS: usize = 4;

/// S3-backed `BlobStore`.
pub struct S3BlobStore {
    store: Arc<dyn ObjectStore>,
    settings: S3Settings,
    staging: Staging,
    pins: Arc<Mutex<PinTable>>,
    small: SmallBlobCache,
    bridge: Bridge,
    /// How old an object without a record must be before the collector deletes it.
    orphan_grace: Duration,
}

/// Another node may have written an object a moment ago and not yet committed the
/// record that references it (its pin is in its own process): the collector leaves
/// objects younger than this alone.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(600);

/// An object store error as an `io::Error`: "not found" stays one (callers test for
/// it), anything else means the store is unavailable.
fn io_err(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e.to_string()),
        e => {
            tracing::warn!(error = %e, "object store request failed");
            io::Error::other(BlobsUnavailable("the blob store is unavailable".into()))
        }
    }
}

fn stopped() -> io::Error {
    io::Error::other(BlobsUnavailable("the blob store client stopped".into()))
}

impl S3BlobStore {
    /// Connects to the bucket; uploads are staged in `tmp`. Fails when the bucket
    /// cannot be listed, so a wrong setting stops the server at start.
    pub fn open(settings: S3Settings, tmp: PathBuf) -> io::Result<S3BlobStore> {
        let mut b = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&settings.bucket)
            .with_region(&settings.region)
            .with_access_key_id(&settings.access_key_id)
            .with_secret_access_key(&settings.secret_access_key)
            .with_virtual_hosted_style_request(!settings.path_style)
            // A stopped store fails requests within seconds rather than minutes.
            .with_retry(object_store::RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(10),
                ..Default::default()
            })
            .with_client_options(
                object_store::ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(60))
                    .with_allow_http(settings.endpoint.starts_with("http://")),
            );
        if !settings.endpoint.is_empty() {
            b = b.with_endpoint(&settings.endpoint);
        }
        let store: Arc<dyn ObjectStore> = Arc::new(b.build().map_err(io::Error::other)?);
        let s = S3BlobStore {
            store,
            settings,
            staging: Staging::open(tmp)?,
            pins: Arc::default(),
            small: SmallBlobCache::default(),
            bridge: Bridge::new("binyard-s3", 2)?,
            orphan_grace: ORPHAN_GRACE,
        };
        let (store, prefix) = (s.store.clone(), s.prefix());
        s.run(async move {
            store
                .list(Some(&prefix))
                .next()
                .await
                .transpose()
                .map_err(|e| io::Error::other(format!("the bucket cannot be listed: {e}")))
        })?;
        Ok(s)
    }

    /// Sets how old an orphan must be to be collected (tests of one process use zero).
    pub fn with_orphan_grace(mut self, grace: Duration) -> S3BlobStore {
        self.orphan_grace = grace;
        self
    }

    fn prefix(&self) -> Key {
        Key::from(self.settings.prefix.trim_matches('/'))
    }

    fn key_of(&self, sha256: &str) -> io::Result<Key> {
        if !valid_sha256(sha256) {
            return Err(invalid(sha256));
        }
        Ok(Key::from(format!(
            "{}/{}/{}/{sha256}",
            self.settings.prefix.trim_matches('/'),
            &sha256[..2],
            &sha256[2..4]
        )))
    }

    fn run<T: Send + 'static>(&self, f: impl Future<Output = io::Result<T>> + Send + 'static) -> io::Result<T> {
        self.bridge.run(f).unwrap_or_else(|| Err(stopped()))
    }

    fn exists(&self, key: &Key) -> io::Result<bool> {
        let (store, key) = (self.store.clone(), key.clone());
        self.run(async move {
            match store.head(&key).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(io_err(e)),
            }
        })
    }

    /// The response to a ranged GET; `None` when the range starts at or past the end.
    fn get_range(&self, sha256: &str, offset: u64, len: u64) -> io::Result<Option<object_store::GetResult>> {
        let key = self.key_of(sha256)?;
        if len == 0 {
            // An empty range is no HTTP range; the blob must still exist.
            return if self.exists(&key)? {
                Ok(None)
            } else {
                Err(io::Error::new(io::ErrorKind::NotFound, format!("no blob {sha256}")))
            };
        }
        let store = self.store.clone();
        self.run(async move {
            let opts = GetOptions {
                range: Some(GetRange::Bounded(offset..offset.saturating_add(len))),
                ..Default::default()
            };
            match store.get_opts(&key, opts).await {
                Ok(r) => Ok(Some(r)),
                Err(e) => match store.head(&key).await {
                    // A range past the end reads nothing, as a file does.
                    Ok(meta) if offset >= meta.size => Ok(None),
                    _ => Err(io_err(e)),
                },
            }
        })
    }
}

impl S3BlobStore {
    /// The blobs whose objects were last written at least `age` ago.
    fn list_older_than(&self, age: Duration) -> io::Result<Vec<String>> {
        let (store, prefix) = (self.store.clone(), self.prefix());
        // Milliseconds since the epoch; none for a zero age (everything).
        let before = (!age.is_zero()).then(|| crate::clock::now_ms().saturating_sub(age.as_millis() as i64));
        self.run(async move {
            let mut out = Vec::new();
            let mut it = store.list(Some(&prefix));
            while let Some(meta) = it.next().await {
                let meta = meta.map_err(io_err)?;
                if let Some(name) = meta.location.filename()
                    && valid_sha256(name)
                    && before.is_none_or(|b| meta.last_modified.timestamp_millis() <= b)
                {
                    out.push(name.to_string());
                }
            }
            Ok(out)
        })
    }
}

impl BlobStore for S3BlobStore {
    fn stage(&self) -> io::Result<StagedFile> {
        self.staging.stage()
    }

    fn commit(&self, staged: StagedFile, sha256: &str) -> io::Result<BlobPin> {
        let key = self.key_of(sha256)?;
        // Pinned before the check: the collector, which deletes under the pin table's
        // lock, either finished deleting before this pin or sees it.
        let pin = BlobPin::take(&self.pins, sha256);
        if !self.exists(&key)? {
            let (store, path) = (self.store.clone(), staged.path().to_path_buf());
            self.run(async move {
                let mut file = tokio::fs::File::open(&path).await?;
                let mut up = object_store::buffered::BufWriter::with_capacity(store, key, PART)
                    .with_max_concurrency(PARTS_IN_FLIGHT);
                let sent = async {
                    tokio::io::copy(&mut file, &mut up).await?;
                    up.shutdown().await
                }
                .await;
                if let Err(e) = sent {
                    let _ = up.abort().await;
                    return Err(
                        match e.get_ref().and_then(|i| i.downcast_ref::<object_store::Error>()) {
                            Some(_) => io::Error::other(BlobsUnavailable("the blob store is unavailable".into())),
                            None => e,
                        },
                    );
                }
                Ok(())
            })?;
        }
        drop(staged);
        Ok(pin)
    }

    fn pin_existing(&self, sha256: &str) -> io::Result<Option<BlobPin>> {
        let key = self.key_of(sha256)?;
        let pin = BlobPin::take(&self.pins, sha256);
        Ok(self.exists(&key)?.then_some(pin))
    }

    fn open_range(&self, sha256: &str, offset: u64, len: u64) -> io::Result<ByteStream> {
        let Some(got) = self.get_range(sha256, offset, len)? else {
            return Ok(Box::pin(futures_util::stream::empty()));
        };
        // The body is read on the store's runtime (where its connection lives) and
        // handed over through a small channel, whoever polls the stream.
        let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(STREAM_CHUNKS);
        self.bridge.handle().spawn(async move {
            let mut body = got.into_stream();
            while let Some(chunk) = body.next().await {
                let failed = chunk.is_err();
                if tx.send(chunk.map_err(io_err)).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|c| (c, rx))
        })))
    }

    fn read(&self, sha256: &str) -> io::Result<Bytes> {
        if let Some(b) = self.small.get(sha256) {
            return Ok(b);
        }
        let (store, key) = (self.store.clone(), self.key_of(sha256)?);
        let b = self.run(async move { store.get(&key).await.map_err(io_err)?.bytes().await.map_err(io_err) })?;
        if b.len() as u64 <= SMALL_BLOB {
            self.small.put(sha256, &b);
        }
        Ok(b)
    }

    fn read_range(&self, sha256: &str, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let Some(got) = self.get_range(sha256, offset, len)? else {
            return Ok(Vec::new());
        };
        let b = self.run(async move { got.bytes().await.map_err(io_err) })?;
        Ok(b.to_vec())
    }

    fn list(&self) -> io::Result<Vec<String>> {
        self.list_older_than(Duration::ZERO)
    }

    fn list_settled(&self) -> io::Result<Vec<String>> {
        self.list_older_than(self.orphan_grace)
    }

    fn delete(&self, sha256: &str) -> io::Result<()> {
        self.small.forget(sha256);
        let (store, key) = (self.store.clone(), self.key_of(sha256)?);
        self.run(async move {
            match store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(io_err(e)),
            }
        })
    }

    fn sweep_temp(&self) -> io::Result<usize> {
        self.staging.sweep()
    }

    fn check(&self) -> io::Result<()> {
        // Any answer of the bucket, "not found" included, is health.
        self.exists(&Key::from(format!(
            "{}/.health",
            self.settings.prefix.trim_matches('/')
        )))
        .map(|_| ())
    }

    fn pins(&self) -> MutexGuard<'_, PinTable> {
        lock(&self.pins)
    }

    fn describe(&self) -> (String, PathBuf) {
        (
            "s3".into(),
            PathBuf::from(format!(
                "s3://{}/{}",
                self.settings.bucket,
                self.settings.prefix.trim_matches('/')
            )),
        )
    }
}
