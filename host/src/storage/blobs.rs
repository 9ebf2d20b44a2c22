//! Content-addressed blobs: `blobs/ab/cd/<sha256>` in the data folder, written once
//! through a temporary file that is fsynced and renamed into place.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// A stream of a blob's bytes.
pub type ByteStream = std::pin::Pin<Box<dyn futures_util::Stream<Item = io::Result<Bytes>> + Send>>;

/// The blob store: staging, durable commit, reading and deleting blobs.
pub trait BlobStore: Send + Sync + 'static {
    /// A new temporary file for an upload in flight; removed when dropped uncommitted.
    fn stage(&self) -> io::Result<StagedFile>;
    /// Makes a fully written (and fsynced) staged file the durable blob `sha256`,
    /// or discards it when that blob already exists. The blob stays pinned against
    /// garbage collection until the returned `BlobPin` is dropped.
    fn commit(&self, staged: StagedFile, sha256: &str) -> io::Result<BlobPin>;
    /// Pins an existing blob (deploy by checksum, copy); `None` when it is absent.
    fn pin_existing(&self, sha256: &str) -> io::Result<Option<BlobPin>>;
    /// Streams `len` bytes of a blob from `offset`.
    fn open_range(&self, sha256: &str, offset: u64, len: u64) -> io::Result<ByteStream>;
    /// Reads a whole (small) blob; small blobs may come from memory, so this is
    /// cheap enough to call on an async thread for blobs up to `SMALL_BLOB` bytes.
    fn read(&self, sha256: &str) -> io::Result<Bytes>;
    /// Reads up to `len` bytes from `offset` (fewer at the end of the blob).
    fn read_range(&self, sha256: &str, offset: u64, len: u64) -> io::Result<Vec<u8>>;
    /// Every blob present, by sha256.
    fn list(&self) -> io::Result<Vec<String>>;
    /// The blobs the collector may take for orphans when no record names them: all
    /// of them where every writer is in this process (its pins say which are in
    /// flight); on a store shared by several nodes, only those old enough.
    fn list_settled(&self) -> io::Result<Vec<String>> {
        self.list()
    }
    /// Deletes a blob's bytes.
    fn delete(&self, sha256: &str) -> io::Result<()>;
    /// Removes temporary files no upload in flight owns (left by a crash or kill).
    fn sweep_temp(&self) -> io::Result<usize>;
    /// The pin table; held locked, no blob can be pinned or committed.
    fn pins(&self) -> MutexGuard<'_, PinTable>;
    /// Where the blobs live, for the storage summary.
    fn describe(&self) -> (String, PathBuf);
    /// Whether the store answers (health): a local folder is checked by the
    /// readiness probe, an object store by a request.
    fn check(&self) -> io::Result<()> {
        Ok(())
    }
    /// Makes `dest` (a new file) a hard link to blob `sha256`'s bytes, so a large
    /// upload session starts from a stored request body without copying it; false
    /// when the store cannot (another file system, another kind of store).
    fn link_into(&self, sha256: &str, dest: &Path) -> io::Result<bool> {
        let _ = (sha256, dest);
        Ok(false)
    }
    /// Moves `file` (synced, whose sha256 the caller computed) into the store as
    /// blob `sha256`, pinned, without copying it; `None` when the store cannot
    /// (then the caller copies it through `stage`).
    fn adopt(&self, file: &Path, sha256: &str) -> io::Result<Option<BlobPin>> {
        let _ = (file, sha256);
        Ok(None)
    }
}

/// Blobs pinned by writes that have not committed their metadata yet.
#[derive(Default)]
pub struct PinTable {
    counts: HashMap<String, usize>,
}

impl PinTable {
    /// Whether a blob is pinned.
    pub fn is_pinned(&self, sha256: &str) -> bool {
        self.counts.contains_key(sha256)
    }
    pub(super) fn pin(&mut self, sha256: &str) {
        *self.counts.entry(sha256.to_string()).or_insert(0) += 1;
    }
    fn unpin(&mut self, sha256: &str) {
        if let Some(n) = self.counts.get_mut(sha256) {
            *n -= 1;
            if *n == 0 {
                self.counts.remove(sha256);
            }
        }
    }
}

/// Keeps a blob from being garbage collected until dropped.
pub struct BlobPin {
    sha256: String,
    table: Arc<Mutex<PinTable>>,
}

impl BlobPin {
    /// Pins `sha256` in `table` (which the caller has not locked).
    pub(super) fn take(table: &Arc<Mutex<PinTable>>, sha256: &str) -> BlobPin {
        lock(table).pin(sha256);
        BlobPin {
            sha256: sha256.to_string(),
            table: table.clone(),
        }
    }
}

/// The cause of a blob store failure that is not the caller's: the object store
/// cannot be reached or answers with an error. Carried inside an `io::Error`, so the
/// storage layer reports it as unavailability (503) rather than a server fault.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BlobsUnavailable(pub String);

impl Drop for BlobPin {
    fn drop(&mut self) {
        lock(&self.table).unpin(&self.sha256);
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A temporary file of an upload in flight.
pub struct StagedFile {
    path: PathBuf,
    file: File,
    live: Arc<Mutex<HashSet<PathBuf>>>,
    kept: bool,
}

impl StagedFile {
    /// Where the staged bytes are.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }
    /// Appends bytes.
    pub fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        self.file.write_all(b)
    }
    /// Writes bytes at `offset` (positional, so a failed write can be retried).
    pub fn write_all_at(&self, b: &[u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(&self.file, b, offset)
    }
    /// Turns direct I/O (O_DIRECT: no page cache) on or off; an error means the
    /// file system does not offer it. Direct writes need buffers, lengths and
    /// offsets aligned to the block size.
    pub fn set_direct(&self, on: bool) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
            let flags = fcntl_getfl(&self.file)?;
            let flags = if on {
                flags | OFlags::DIRECT
            } else {
                flags - OFlags::DIRECT
            };
            Ok(fcntl_setfl(&self.file, flags)?)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = on;
            Err(io::ErrorKind::Unsupported.into())
        }
    }
    /// Flushes the bytes to stable storage.
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_all()
    }
    /// A second handle on the file, to start writing back to disk from another
    /// thread while the upload goes on.
    pub fn second_handle(&self) -> io::Result<File> {
        self.file.try_clone()
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
        lock(&self.live).remove(&self.path);
    }
}

/// Temporary files of uploads in flight, in a local folder.
pub(super) struct Staging {
    tmp: PathBuf,
    live: Arc<Mutex<HashSet<PathBuf>>>,
    seq: AtomicU64,
}

impl Staging {
    /// Staging in `tmp` (created).
    pub(super) fn open(tmp: PathBuf) -> io::Result<Staging> {
        std::fs::create_dir_all(&tmp)?;
        Ok(Staging {
            tmp,
            live: Arc::default(),
            seq: AtomicU64::new(0),
        })
    }

    pub(super) fn stage(&self) -> io::Result<StagedFile> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let path = self.tmp.join(format!(
            "upload-{}-{n}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        // Created and registered under one lock, so the temp sweep never sees it unowned.
        let mut live = lock(&self.live);
        let file = File::options().write(true).create_new(true).open(&path)?;
        live.insert(path.clone());
        drop(live);
        Ok(StagedFile {
            path,
            file,
            live: self.live.clone(),
            kept: false,
        })
    }

    pub(super) fn sweep(&self) -> io::Result<usize> {
        // Held throughout: a file staged meanwhile is registered before it exists.
        let live = lock(&self.live);
        let mut n = 0;
        for e in std::fs::read_dir(&self.tmp)? {
            let p = e?.path();
            if !live.contains(&p) && std::fs::remove_file(&p).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }
}

/// Blobs in a local folder.
pub struct FsBlobStore {
    root: PathBuf,
    staging: Staging,
    pins: Arc<Mutex<PinTable>>,
    small: SmallBlobCache,
}

/// Small blobs kept in memory: blobs never change once written, so a cached copy
/// is always right, and serving a popular small file skips three system calls.
#[derive(Default)]
pub(super) struct SmallBlobCache {
    map: std::sync::RwLock<HashMap<String, Bytes>>,
    bytes: AtomicU64,
}

/// Blobs up to this size are cached.
pub const SMALL_BLOB: u64 = 64 * 1024;
/// Memory the cache may hold; when full it starts over (cheap, and rare).
const SMALL_CACHE_BUDGET: u64 = 32 << 20;

impl SmallBlobCache {
    pub(super) fn get(&self, sha256: &str) -> Option<Bytes> {
        self.map.read().unwrap_or_else(|e| e.into_inner()).get(sha256).cloned()
    }

    pub(super) fn put(&self, sha256: &str, b: &Bytes) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if self.bytes.load(Ordering::Relaxed) + b.len() as u64 > SMALL_CACHE_BUDGET {
            map.clear();
            self.bytes.store(0, Ordering::Relaxed);
        }
        if map.insert(sha256.to_string(), b.clone()).is_none() {
            self.bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
        }
    }

    pub(super) fn forget(&self, sha256: &str) {
        if let Some(b) = self.map.write().unwrap_or_else(|e| e.into_inner()).remove(sha256) {
            self.bytes.fetch_sub(b.len() as u64, Ordering::Relaxed);
        }
    }
}

pub(super) fn valid_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub(super) fn invalid(s: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("not a sha256: {s:?}"))
}

fn sync_dir(p: &Path) -> io::Result<()> {
    File::open(p)?.sync_all()
}

impl FsBlobStore {
    /// Opens the store in `data_dir` (`blobs/` and `tmp/` are created).
    pub fn open(data_dir: &Path) -> io::Result<FsBlobStore> {
        let root = data_dir.join("blobs");
        std::fs::create_dir_all(&root)?;
        Ok(FsBlobStore {
            root,
            staging: Staging::open(data_dir.join("tmp"))?,
            pins: Arc::default(),
            small: SmallBlobCache::default(),
        })
    }

    fn path_of(&self, sha256: &str) -> io::Result<PathBuf> {
        if !valid_sha256(sha256) {
            return Err(invalid(sha256));
        }
        Ok(self.root.join(&sha256[..2]).join(&sha256[2..4]).join(sha256))
    }

    fn pin_guard(&self, table: &mut PinTable, sha256: &str) -> BlobPin {
        table.pin(sha256);
        BlobPin {
            sha256: sha256.to_string(),
            table: self.pins.clone(),
        }
    }
}

impl BlobStore for FsBlobStore {
    fn link_into(&self, sha256: &str, dest: &Path) -> io::Result<bool> {
        Ok(std::fs::hard_link(self.path_of(sha256)?, dest).is_ok())
    }

    fn adopt(&self, file: &Path, sha256: &str) -> io::Result<Option<BlobPin>> {
        let dest = self.path_of(sha256)?;
        let dir = dest.parent().map(Path::to_path_buf).unwrap_or_default();
        let new_dir = !dir.exists();
        let (pin, renamed) = {
            let mut table = lock(&self.pins);
            let renamed = if dest.exists() {
                false
            } else {
                std::fs::create_dir_all(&dir)?;
                if std::fs::rename(file, &dest).is_err() {
                    return Ok(None);
                }
                true
            };
            (self.pin_guard(&mut table, sha256), renamed)
        };
        if renamed {
            sync_blob_dirs(&dir, new_dir)?;
        }
        Ok(Some(pin))
    }

    fn stage(&self) -> io::Result<StagedFile> {
        self.staging.stage()
    }

    fn commit(&self, mut staged: StagedFile, sha256: &str) -> io::Result<BlobPin> {
        let dest = self.path_of(sha256)?;
        let dir = dest.parent().map(Path::to_path_buf).unwrap_or_default();
        let new_dir = !dir.exists();
        let (pin, renamed) = {
            let mut table = lock(&self.pins);
            // The pin is taken only once the blob is in place: an early return here
            // must not drop a pin while the table is locked.
            let renamed = if dest.exists() {
                false
            } else {
                std::fs::create_dir_all(&dir)?;
                std::fs::rename(&staged.path, &dest)?;
                staged.kept = true;
                true
            };
            (self.pin_guard(&mut table, sha256), renamed)
        };
        drop(staged);
        if renamed {
            sync_blob_dirs(&dir, new_dir)?;
        }
        Ok(pin)
    }

    fn pin_existing(&self, sha256: &str) -> io::Result<Option<BlobPin>> {
        let dest = self.path_of(sha256)?;
        let mut table = lock(&self.pins);
        if !dest.exists() {
            return Ok(None);
        }
        Ok(Some(self.pin_guard(&mut table, sha256)))
    }

    fn open_range(&self, sha256: &str, offset: u64, len: u64) -> io::Result<ByteStream> {
        let file = File::open(self.path_of(sha256)?)?;
        let mut file = tokio::fs::File::from_std(file);
        let stream = async_stream(async move {
            if offset > 0 {
                file.seek(io::SeekFrom::Start(offset)).await?;
            }
            Ok(file.take(len))
        });
        Ok(stream)
    }

    fn read(&self, sha256: &str) -> io::Result<Bytes> {
        if let Some(b) = self.small.get(sha256) {
            return Ok(b);
        }
        let b = Bytes::from(std::fs::read(self.path_of(sha256)?)?);
        if b.len() as u64 <= SMALL_BLOB {
            self.small.put(sha256, &b);
        }
        Ok(b)
    }

    fn read_range(&self, sha256: &str, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        use std::io::{Read, Seek};
        let mut f = File::open(self.path_of(sha256)?)?;
        f.seek(io::SeekFrom::Start(offset))?;
        let mut out = Vec::new();
        f.take(len).read_to_end(&mut out)?;
        Ok(out)
    }

    fn list(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for a in std::fs::read_dir(&self.root)? {
            let a = a?.path();
            if !a.is_dir() {
                continue;
            }
            for b in std::fs::read_dir(&a)? {
                let b = b?.path();
                if !b.is_dir() {
                    continue;
                }
                for f in std::fs::read_dir(&b)? {
                    let name = f?.file_name().to_string_lossy().to_string();
                    if valid_sha256(&name) {
                        out.push(name);
                    }
                }
            }
        }
        Ok(out)
    }

    fn delete(&self, sha256: &str) -> io::Result<()> {
        self.small.forget(sha256);
        match std::fs::remove_file(self.path_of(sha256)?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn sweep_temp(&self) -> io::Result<usize> {
        self.staging.sweep()
    }

    fn pins(&self) -> MutexGuard<'_, PinTable> {
        lock(&self.pins)
    }

    fn describe(&self) -> (String, PathBuf) {
        ("filesystem".into(), self.root.clone())
    }
}

/// Turns "open a reader asynchronously" into a byte stream with large chunks.
fn async_stream<F, R>(open: F) -> ByteStream
where
    F: std::future::Future<Output = io::Result<R>> + Send + 'static,
    R: tokio::io::AsyncRead + Send + 'static,
{
    let s = futures_util::stream::once(open).flat_map(|r| match r {
        Ok(reader) => tokio_util::io::ReaderStream::with_capacity(reader, 256 * 1024).boxed(),
        Err(e) => futures_util::stream::once(async move { Err(e) }).boxed(),
    });
    Box::pin(s)
}

/// Makes a blob renamed into `dir` durable: the directory entry, and the entries of
/// `dir` and its parent (`ab/cd/`) when `dir` was made for it.
fn sync_blob_dirs(dir: &Path, new_dir: bool) -> io::Result<()> {
    sync_dir(dir)?;
    if new_dir && let Some(p) = dir.parent() {
        sync_dir(p)?;
        if let Some(pp) = p.parent() {
            sync_dir(pp)?;
        }
    }
    Ok(())
}
