//! Zero-copy sending of large kept answers. The door keeps a large answer (a
//! packument of hundreds of versions, a big simple page) in a sealed memory file
//! and serves it from a read-only mapping of that file; when hyper hands the
//! connection a slice of such a mapping to write, the connection sends it with
//! `sendfile` from the memory file, as nginx sends a static file: the kernel
//! takes the pages by reference instead of copying the bytes into the socket.
//! Every other write takes the ordinary path.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use rustix::fs::{MemfdFlags, SealFlags};
use rustix::net::SendFlags;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Answers smaller than this are copied as usual: the copy costs less than the
/// extra system call.
pub const MIN_SHARED: usize = 32 * 1024;

/// A sealed memory file and its read-only mapping.
struct Region {
    map: memmap2::Mmap,
    file: OwnedFd,
}

impl Region {
    fn start(&self) -> usize {
        self.map.as_ptr() as usize
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        let mut regions = REGIONS.write().unwrap_or_else(|e| e.into_inner());
        regions.remove(&self.start());
        LIVE.store(regions.len(), Ordering::Release);
    }
}

/// The owner of a shared body's bytes.
struct Shared(Arc<Region>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0.map
    }
}

/// The mappings alive, by start address; `LIVE` counts them so that a write
/// skips the lookup while there are none.
static REGIONS: RwLock<BTreeMap<usize, Weak<Region>>> = RwLock::new(BTreeMap::new());
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// The same bytes, held in a sealed memory file so that a connection can send
/// them without copying; `None` when the body is small or the file cannot be made
/// (the caller keeps the bytes it has).
pub fn share(body: &Bytes) -> Option<Bytes> {
    if body.len() < MIN_SHARED {
        return None;
    }
    let region = match make_region(body) {
        Ok(r) => Arc::new(r),
        Err(e) => {
            tracing::debug!(error = %e, "kept answer not shared: no memory file");
            return None;
        }
    };
    let mut regions = REGIONS.write().unwrap_or_else(|e| e.into_inner());
    regions.insert(region.start(), Arc::downgrade(&region));
    LIVE.store(regions.len(), Ordering::Release);
    drop(regions);
    Some(Bytes::from_owner(Shared(region)))
}

fn make_region(body: &[u8]) -> io::Result<Region> {
    let fd = rustix::fs::memfd_create("binyard-kept-answer", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    let mut file = std::fs::File::from(fd);
    io::Write::write_all(&mut file, body)?;
    // Sealed: nobody can change or resize the bytes behind the mapping.
    rustix::fs::fcntl_add_seals(
        &file,
        SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL,
    )?;
    // SAFETY: the file is a private memory file sealed against writes and resizing
    // above, so the mapped bytes can never change or vanish while mapped.
    #[allow(unsafe_code)]
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok(Region { map, file: file.into() })
}

/// The mapping `slice` lies in, and its offset there.
fn region_of(slice: &[u8]) -> Option<(Arc<Region>, usize)> {
    if slice.is_empty() {
        return None;
    }
    let addr = slice.as_ptr() as usize;
    let regions = REGIONS.read().unwrap_or_else(|e| e.into_inner());
    let (start, region) = regions.range(..=addr).next_back()?;
    let region = region.upgrade()?;
    let offset = addr - start;
    (offset < region.map.len()).then_some((region, offset))
}

/// Writes `bufs` to `stream` when one of them lies in a shared body: the slices
/// before it are sent with `MSG_MORE` (they are the response head), the shared
/// slice itself with `sendfile`. `None`: nothing shared, take the ordinary path.
pub fn poll_write_vectored(
    stream: &TcpStream,
    cx: &mut Context<'_>,
    bufs: &[io::IoSlice<'_>],
) -> Option<Poll<io::Result<usize>>> {
    if LIVE.load(Ordering::Acquire) == 0 {
        return None;
    }
    let (i, region, offset) = bufs
        .iter()
        .enumerate()
        .find_map(|(i, b)| region_of(b).map(|(r, o)| (i, r, o)))?;
    Some(if i > 0 {
        poll_io(stream, cx, || rustix::net::send(stream, &bufs[0], SendFlags::MORE))
    } else {
        let count = bufs[0].len().min(region.map.len() - offset);
        poll_io(stream, cx, || {
            let mut at = offset as u64;
            rustix::fs::sendfile(stream, &region.file, Some(&mut at), count)
        })
    })
}

fn poll_io(
    stream: &TcpStream,
    cx: &mut Context<'_>,
    mut op: impl FnMut() -> rustix::io::Result<usize>,
) -> Poll<io::Result<usize>> {
    loop {
        ready!(stream.poll_write_ready(cx))?;
        match stream.try_io(Interest::WRITABLE, || op().map_err(io::Error::from)) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            r => return Poll::Ready(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn small_bodies_are_not_shared_and_large_ones_keep_their_bytes() {
        assert!(share(&Bytes::from(vec![7u8; 100])).is_none());
        let body = Bytes::from((0..200_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>());
        let shared = share(&body).expect("a memory file");
        assert_eq!(shared, body);
        assert!(region_of(&shared[1000..]).is_some_and(|(_, o)| o == 1000));
        assert!(region_of(&body).is_none());
        let start = shared.as_ptr() as usize;
        drop(shared);
        assert!(
            !REGIONS.read().unwrap().contains_key(&start),
            "a dropped body is forgotten"
        );
    }

    #[tokio::test]
    async fn a_shared_body_arrives_whole_after_its_head() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let body = Bytes::from((0..3_000_000u32).map(|i| (i % 253) as u8).collect::<Vec<_>>());
        let shared = share(&body).unwrap();
        let reader = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            got
        });
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        let (mut h, mut b) = (&head[..], &shared[..]);
        while !h.is_empty() || !b.is_empty() {
            let bufs = [io::IoSlice::new(h), io::IoSlice::new(b)];
            let bufs = if h.is_empty() { &bufs[1..] } else { &bufs[..] };
            let n = std::future::poll_fn(|cx| poll_write_vectored(&stream, cx, bufs).expect("shared"))
                .await
                .unwrap();
            let from_head = n.min(h.len());
            h = &h[from_head..];
            b = &b[n - from_head..];
        }
        stream.shutdown().await.unwrap();
        let got = reader.await.unwrap();
        assert_eq!(&got[..head.len()], &head[..]);
        assert!(got[head.len()..] == body[..], "the body arrives byte for byte");
    }
}
