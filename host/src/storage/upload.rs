//! Receives an upload: streams the body into a staged file while sha256, sha1 and
//! md5 are computed in the same pass. Three threads share each chunk: sha256+sha1,
//! md5 (the slowest digest, alone so it does not add to the others) and the file
//! write. Memory use is bounded by the channel depth.

use std::io;
use std::sync::Arc;
use std::sync::mpsc as pool;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::{BlobStore, Digests, StagedFile};

/// Chunks in flight per worker: memory stays bounded by about DEPTH × CHUNK.
const DEPTH: usize = 16;
/// Body frames are gathered into chunks of this size: fewer wake-ups of the
/// workers and fewer, larger writes (each system call is costly, in a VM most).
const CHUNK: usize = 1024 * 1024;
/// Direct writes need buffers, lengths and offsets aligned to the block size.
const ALIGN: usize = 4096;
/// When direct writes are not available, every this many bytes written write-back
/// to disk starts on another thread, so the final fsync has little left to do.
const WRITEBACK_EVERY: u64 = 32 << 20;

/// Why an upload did not complete.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the upload was interrupted: {0}")]
    Body(String),
    #[error("cannot store the upload: {0}")]
    Io(#[from] io::Error),
}

/// An upload fully written to a staged file and fsynced, with its digests.
pub struct Received {
    pub staged: StagedFile,
    pub digests: Digests,
}

/// A full (or the last) chunk of the body, shared by the three workers. Its buffer
/// goes back to the upload's pool when the last of them is done: reused buffers
/// are already mapped, where fresh ones would fault in every page again.
struct Chunk {
    buf: Vec<u8>,
    start: usize,
    len: usize,
    home: pool::Sender<Vec<u8>>,
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        let _ = self.home.send(std::mem::take(&mut self.buf));
    }
}

/// Cuts body frames into block-aligned chunks of exactly CHUNK bytes (the last
/// one shorter), in buffers taken from the pool.
struct Chunker {
    filling: Option<Chunk>,
    pool: pool::Receiver<Vec<u8>>,
    home: pool::Sender<Vec<u8>>,
}

impl Chunker {
    fn new() -> Self {
        let (home, pool) = pool::channel();
        Chunker {
            filling: None,
            pool,
            home,
        }
    }

    /// Copies `frame` in; returns the chunks it filled.
    fn push(&mut self, mut frame: &[u8]) -> Vec<Arc<Chunk>> {
        let mut full = Vec::new();
        while !frame.is_empty() {
            let c = self.filling.get_or_insert_with(|| {
                let buf = self.pool.try_recv().unwrap_or_else(|_| vec![0; CHUNK + ALIGN]);
                // The heap block never moves, so the aligned start stays aligned.
                let start = buf.as_ptr().align_offset(ALIGN).min(ALIGN);
                Chunk {
                    buf,
                    start,
                    len: 0,
                    home: self.home.clone(),
                }
            });
            let n = frame.len().min(CHUNK - c.len);
            let at = c.start + c.len;
            c.buf[at..at + n].copy_from_slice(&frame[..n]);
            c.len += n;
            frame = &frame[n..];
            if let Some(c) = self.filling.take_if(|c| c.len == CHUNK) {
                full.push(Arc::new(c));
            }
        }
        full
    }

    /// The last, partly filled chunk, if any (the end of the body).
    fn finish(&mut self) -> Option<Arc<Chunk>> {
        self.filling.take().map(Arc::new)
    }
}

/// How much the nice value of a background store's threads is raised: the CPU
/// scheduler then gives a transfer competing with them about ten times their share.
const BACKGROUND_NICE: i32 = 10;

/// Streams `body` into a new staged file of `blobs`.
pub async fn receive<S, E>(blobs: &dyn BlobStore, body: S) -> Result<Received, UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    receive_with(blobs, body, true, false).await
}

/// `receive` for a store nobody waits on (a remote repository's cache fill, while
/// its first client gets the body): the digests and the write run on threads of
/// their own at a lower priority, so on a busy machine they yield the CPU to the
/// transfer (the bytes wait in the remote's stream buffer).
pub async fn receive_in_background<S, E>(blobs: &dyn BlobStore, body: S) -> Result<Received, UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    receive_with(blobs, body, true, true).await
}

type Work<T> = std::pin::Pin<Box<dyn std::future::Future<Output = io::Result<T>> + Send>>;

/// Runs `f` on the blocking pool, or (`background`) on a thread of its own whose
/// nice value is raised (a pool thread would keep it for later work).
fn worker<T: Send + 'static>(background: bool, f: impl FnOnce() -> T + Send + 'static) -> Work<T> {
    if !background {
        let h = tokio::task::spawn_blocking(f);
        return Box::pin(async move { h.await.map_err(|e| io::Error::other(e.to_string())) });
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("store-background".into())
        .spawn(move || {
            // Linux: the nice value is the calling thread's. A failure leaves it as it is.
            if let Ok(nice) = rustix::process::getpriority_process(None) {
                let _ = rustix::process::setpriority_process(None, (nice + BACKGROUND_NICE).min(19));
            }
            let _ = tx.send(f());
        });
    Box::pin(async move {
        spawned?;
        rx.await
            .map_err(|_| io::Error::other("a background store thread ended early"))
    })
}

/// `receive`, with direct writes tried or not (tests cover both paths), in the background or not.
async fn receive_with<S, E>(
    blobs: &dyn BlobStore,
    mut body: S,
    try_direct: bool,
    background: bool,
) -> Result<Received, UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let staged = blobs.stage()?;
    let (tx_sha, mut rx_sha) = mpsc::channel::<Arc<Chunk>>(DEPTH);
    let (tx_md5, mut rx_md5) = mpsc::channel::<Arc<Chunk>>(DEPTH);
    let (tx_file, rx_file) = mpsc::channel::<Arc<Chunk>>(DEPTH);

    let writer = worker(background, move || write_chunks(staged, rx_file, try_direct));
    let sha = worker(background, move || {
        let (mut sha256, mut sha1, mut size) = (Sha256::new(), Sha1::new(), 0u64);
        while let Some(chunk) = rx_sha.blocking_recv() {
            sha256.update(chunk.bytes());
            sha1.update(chunk.bytes());
            size += chunk.len as u64;
        }
        (sha256, sha1, size)
    });
    let md5 = worker(background, move || {
        let mut md5 = Md5::new();
        while let Some(chunk) = rx_md5.blocking_recv() {
            md5.update(chunk.bytes());
        }
        md5
    });

    let mut failure = None;
    let mut chunker = Chunker::new();
    'body: loop {
        let (full, done) = match body.next().await {
            Some(Ok(frame)) => (chunker.push(&frame), false),
            Some(Err(e)) => {
                failure = Some(UploadError::Body(e.to_string()));
                break;
            }
            None => (chunker.finish().into_iter().collect(), true),
        };
        for chunk in full {
            // A send fails only when the writer stopped on an I/O error, reported below.
            for tx in [&tx_sha, &tx_md5, &tx_file] {
                if tx.send(chunk.clone()).await.is_err() {
                    break 'body;
                }
            }
        }
        if done {
            break;
        }
    }
    drop((tx_sha, tx_md5, tx_file));

    let written = writer.await?;
    let (sha256, sha1, size) = sha.await?;
    let md5 = md5.await?;
    if let Some(f) = failure {
        return Err(f); // the staged file is removed when `written` drops
    }
    let mut staged = written?;
    let staged = worker(background, move || staged.sync().map(|_| staged)).await??;
    Ok(Received {
        staged,
        digests: Digests {
            sha256: hex::encode(sha256.finalize()),
            sha1: hex::encode(sha1.finalize()),
            md5: hex::encode(md5.finalize()),
            size,
        },
    })
}

/// Writes the chunks in order. Direct writes (no page cache) are used where the
/// file system offers them: the bytes go from the chunk to the disk without a copy,
/// and without first touching a page-cache page per 4 KiB (costly in a VM). Else,
/// buffered writes, with write-back started every WRITEBACK_EVERY bytes.
fn write_chunks(
    staged: StagedFile,
    mut chunks: mpsc::Receiver<Arc<Chunk>>,
    try_direct: bool,
) -> io::Result<StagedFile> {
    let mut direct = try_direct && staged.set_direct(true).is_ok();
    let mut write_back = WriteBack::default();
    let mut offset = 0u64;
    while let Some(chunk) = chunks.blocking_recv() {
        let bytes = chunk.bytes();
        if direct && bytes.len() % ALIGN != 0 {
            staged.set_direct(false)?; // the unaligned end of the body
            direct = false;
        }
        if direct && let Err(e) = staged.write_all_at(bytes, offset) {
            // Some file systems accept the flag and refuse the write: go buffered.
            tracing::debug!("direct write refused ({e}), writing through the page cache");
            staged.set_direct(false)?;
            direct = false;
        }
        if !direct {
            staged.write_all_at(bytes, offset)?;
            write_back.wrote(&staged, bytes.len() as u64)?;
        }
        offset += bytes.len() as u64;
    }
    drop(write_back); // waits for a write-back in progress
    Ok(staged)
}

/// Starts write-back of buffered writes to disk on another thread every
/// WRITEBACK_EVERY bytes, so the final fsync has little left to do. The thread is
/// started by the first kick: direct and small uploads never need it.
#[derive(Default)]
struct WriteBack {
    since_kick: u64,
    flusher: Option<(std::sync::mpsc::SyncSender<()>, std::thread::JoinHandle<()>)>,
}

impl WriteBack {
    fn wrote(&mut self, staged: &StagedFile, n: u64) -> io::Result<()> {
        self.since_kick += n;
        if self.since_kick < WRITEBACK_EVERY {
            return Ok(());
        }
        self.since_kick = 0;
        if self.flusher.is_none() {
            let second = staged.second_handle()?;
            let (kick, kicked) = std::sync::mpsc::sync_channel::<()>(1);
            let thread = std::thread::spawn(move || {
                while kicked.recv().is_ok() {
                    let _ = second.sync_data();
                }
            });
            self.flusher = Some((kick, thread));
        }
        if let Some((kick, _)) = &self.flusher {
            // A full channel means a write-back is already running: skip this kick.
            let _ = kick.try_send(());
        }
        Ok(())
    }
}

impl Drop for WriteBack {
    fn drop(&mut self) {
        if let Some((kick, thread)) = self.flusher.take() {
            drop(kick);
            let _ = thread.join();
        }
    }
}

/// Stores bytes already in memory as a blob (plugin-generated content): hashed,
/// fsynced and committed; the blob stays pinned until the returned pin drops.
pub fn store_bytes(blobs: &dyn BlobStore, data: &[u8]) -> io::Result<(Digests, super::BlobPin)> {
    let mut staged = blobs.stage()?;
    staged.write_all(data)?;
    staged.sync()?;
    let digests = Digests {
        sha256: hex::encode(Sha256::digest(data)),
        sha1: hex::encode(Sha1::digest(data)),
        md5: hex::encode(Md5::digest(data)),
        size: data.len() as u64,
    };
    let pin = blobs.commit(staged, &digests.sha256)?;
    Ok((digests, pin))
}

/// Copies `len` bytes of blob `sha256` from `offset` into a new blob (a part of an
/// upload a plugin keeps), hashing as it goes; pinned until the pin drops.
pub fn store_range(
    blobs: &dyn BlobStore,
    sha256: &str,
    offset: u64,
    len: u64,
) -> io::Result<(Digests, super::BlobPin)> {
    const CHUNK: u64 = 1 << 20;
    let mut staged = blobs.stage()?;
    let (mut s256, mut s1, mut m5) = (Sha256::new(), Sha1::new(), Md5::new());
    let mut done = 0;
    while done < len {
        let chunk = blobs.read_range(sha256, offset + done, CHUNK.min(len - done))?;
        if chunk.is_empty() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the blob ended early"));
        }
        s256.update(&chunk);
        s1.update(&chunk);
        m5.update(&chunk);
        staged.write_all(&chunk)?;
        done += chunk.len() as u64;
    }
    staged.sync()?;
    let digests = Digests {
        sha256: hex::encode(s256.finalize()),
        sha1: hex::encode(s1.finalize()),
        md5: hex::encode(m5.finalize()),
        size: len,
    };
    let pin = blobs.commit(staged, &digests.sha256)?;
    Ok((digests, pin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::FsBlobStore;

    /// Bodies of awkward sizes, cut into frames of awkward sizes, through both write
    /// paths: the stored bytes and all three digests match the input.
    #[tokio::test]
    async fn bodies_of_every_shape_are_stored_and_hashed_exactly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = FsBlobStore::open(dir.path()).expect("blob store");
        let sizes = [0, 1, ALIGN - 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + ALIGN + 7];
        for (i, size) in sizes.into_iter().enumerate() {
            let data: Vec<u8> = (0..size).map(|j| (j * 31 + i * 7 + j / 4099) as u8).collect();
            for try_direct in [true, false] {
                // Frames of 1 byte, then ever larger up to 300 KiB, as a network gives.
                let mut frames = Vec::new();
                let (mut at, mut n) = (0, 1);
                while at < data.len() {
                    let end = (at + n).min(data.len());
                    frames.push(Ok::<_, io::Error>(Bytes::copy_from_slice(&data[at..end])));
                    at = end;
                    n = (n * 3 + 1) % (300 * 1024);
                }
                let body = futures_util::stream::iter(frames);
                let got = receive_with(&blobs, body, try_direct, false).await.expect("receive");
                let d = &got.digests;
                assert_eq!(d.size, size as u64);
                assert_eq!(d.sha256, hex::encode(Sha256::digest(&data)));
                assert_eq!(d.sha1, hex::encode(Sha1::digest(&data)));
                assert_eq!(d.md5, hex::encode(Md5::digest(&data)));
                let sha256 = d.sha256.clone();
                let _pin = blobs.commit(got.staged, &sha256).expect("commit");
                let stored = blobs.read_range(&sha256, 0, size as u64 + 1).expect("read");
                assert!(stored == data, "size {size}, direct {try_direct}: bytes differ");
            }
        }
    }

    /// A body that fails midway leaves no staged file behind.
    #[tokio::test]
    async fn an_interrupted_body_stores_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blobs = FsBlobStore::open(dir.path()).expect("blob store");
        let frames = vec![
            Ok(Bytes::from(vec![7u8; 3 * CHUNK / 2])),
            Err(io::Error::other("connection reset")),
        ];
        let err = receive(&blobs, futures_util::stream::iter(frames)).await;
        assert!(matches!(err, Err(UploadError::Body(m)) if m.contains("connection reset")));
        let left: Vec<_> = walk(dir.path());
        assert!(left.is_empty(), "files left behind: {left:?}");
    }

    fn walk(p: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else if !path.to_string_lossy().contains("lock") {
                files.push(path);
            }
        }
        files
    }
}
