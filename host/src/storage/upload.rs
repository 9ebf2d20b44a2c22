//! Receives an upload: streams the body into a staged file while sha256, sha1 and
//! md5 are computed in the same pass, on two threads so the slowest digest (md5)
//! does not add to the others. Memory use is bounded by the channel depth.

use std::io;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::{BlobStore, Digests, StagedFile};

/// Chunks in flight per worker: memory stays bounded by DEPTH × CHUNK.
const DEPTH: usize = 8;
/// Body frames are gathered into chunks of this size: fewer wake-ups of the
/// workers and fewer, larger writes (each system call is costly, in a VM most).
const CHUNK: usize = 512 * 1024;
/// Every this many bytes written, write-back to disk starts on another thread, so
/// the final fsync has little left to do instead of the whole upload.
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

/// Streams `body` into a new staged file of `blobs`.
pub async fn receive<S, E>(blobs: &dyn BlobStore, mut body: S) -> Result<Received, UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let staged = blobs.stage()?;
    let (tx_a, mut rx_a) = mpsc::channel::<Bytes>(DEPTH);
    let (tx_b, mut rx_b) = mpsc::channel::<Bytes>(DEPTH);

    let second = staged.second_handle()?;
    let writer = tokio::task::spawn_blocking(move || -> io::Result<_> {
        let mut staged = staged;
        let mut sha256 = Sha256::new();
        let mut sha1 = Sha1::new();
        let mut size = 0u64;
        let (kick, kicked) = std::sync::mpsc::sync_channel::<()>(1);
        let flusher = std::thread::spawn(move || {
            while kicked.recv().is_ok() {
                let _ = second.sync_data();
            }
        });
        let mut since_kick = 0u64;
        while let Some(chunk) = rx_a.blocking_recv() {
            sha256.update(&chunk);
            sha1.update(&chunk);
            staged.write_all(&chunk)?;
            size += chunk.len() as u64;
            since_kick += chunk.len() as u64;
            if since_kick >= WRITEBACK_EVERY {
                // A full channel means a write-back is already running: skip this kick.
                let _ = kick.try_send(());
                since_kick = 0;
            }
        }
        drop(kick);
        let _ = flusher.join();
        Ok((staged, sha256, sha1, size))
    });
    let md5 = tokio::task::spawn_blocking(move || {
        let mut md5 = Md5::new();
        while let Some(chunk) = rx_b.blocking_recv() {
            md5.update(&chunk);
        }
        md5
    });

    let mut failure = None;
    let mut pending = bytes::BytesMut::new();
    let mut workers_alive = true;
    loop {
        let frame = body.next().await;
        let flush = match &frame {
            Some(Ok(chunk)) => {
                pending.extend_from_slice(chunk);
                pending.len() >= CHUNK
            }
            Some(Err(e)) => {
                failure = Some(UploadError::Body(e.to_string()));
                break;
            }
            None => true,
        };
        if flush && !pending.is_empty() {
            let chunk = pending.split().freeze();
            // A send fails only when the writer stopped on an I/O error, reported below.
            if tx_a.send(chunk.clone()).await.is_err() || tx_b.send(chunk).await.is_err() {
                workers_alive = false;
            }
        }
        if frame.is_none() || !workers_alive {
            break;
        }
    }
    drop(tx_a);
    drop(tx_b);

    let written = writer.await.map_err(|e| io::Error::other(e.to_string()))?;
    let md5 = md5.await.map_err(|e| io::Error::other(e.to_string()))?;
    if let Some(f) = failure {
        return Err(f); // the staged file is removed when `written` drops
    }
    let (mut staged, sha256, sha1, size) = written?;
    let staged = tokio::task::spawn_blocking(move || staged.sync().map(|_| staged))
        .await
        .map_err(|e| io::Error::other(e.to_string()))??;
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
