//! Upload sessions: content that arrives in several requests (OCI chunked uploads).
//! Each session is a staged file and a small JSON record in `{data}/sessions/`, so
//! it survives a restart; its recorded size is the truth (bytes past it, from an
//! append cut short by a crash, are cut off before the next append). A session
//! expires after the configured time without use. Sessions live outside the blob
//! store, so garbage collection never touches them; `finish` turns one into a
//! pinned blob.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use md5::Md5;
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::clock;
use crate::storage::{BlobPin, BlobStore, Digests};

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no upload session '{0}' (unknown, finished or expired)")]
    NotFound(String),
    /// The append's offset is not the session's size.
    #[error("the upload session has {size} bytes: append at offset {size}, not {offset}")]
    Offset { size: u64, offset: u64 },
    /// The content does not have the expected digest (the session is dropped).
    #[error("the uploaded content has sha256 {got}, not {expected}; nothing was stored")]
    Digest { expected: String, got: String },
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
}

/// A session's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: String,
    pub size: u64,
    pub expires_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct Record {
    repo: String,
    size: u64,
    created_ms: i64,
    touched_ms: i64,
    /// The session's content is this one stored blob, whole (its part file is a
    /// hard link to the blob's bytes, never written to): `finish` answers it
    /// without reading the bytes again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    whole: Option<Digests>,
}

/// The upload sessions of the server.
pub struct Sessions {
    dir: PathBuf,
    expiry: Duration,
    /// One lock per session in use, so appends to one session are serialised.
    locks: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Sessions finished lately (repository, what they made, when), so that a
    /// plugin request run again after its transaction went stale finishes the
    /// same session again with the same answer.
    finished: Mutex<HashMap<String, (String, Digests, std::time::Instant)>>,
    /// The digests of each session's bytes so far, kept as they are appended, so
    /// `finish` need not read a large session again (lost on a restart: `finish`
    /// then reads it).
    hashing: Mutex<HashMap<String, Hashing>>,
}

/// Running digests of the first `covered` bytes of a session.
#[derive(Clone, Default)]
struct Hashing {
    covered: u64,
    sha256: Sha256,
    sha1: Sha1,
    md5: Md5,
}

impl Hashing {
    fn update(&mut self, b: &[u8]) {
        self.sha256.update(b);
        self.sha1.update(b);
        self.md5.update(b);
        self.covered += b.len() as u64;
    }

    fn digests(self) -> Digests {
        Digests {
            sha256: hex::encode(self.sha256.finalize()),
            sha1: hex::encode(self.sha1.finalize()),
            md5: hex::encode(self.md5.finalize()),
            size: self.covered,
        }
    }
}

/// How long a finished session can be finished again (a retried request).
const REFINISH: Duration = Duration::from_secs(600);

fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Sessions {
    /// Opens (creates) the sessions folder; sessions older than `expiry` go.
    pub fn open(dir: &Path, expiry: Duration) -> io::Result<Sessions> {
        fs::create_dir_all(dir)?;
        let s = Sessions {
            dir: dir.to_path_buf(),
            expiry,
            locks: Mutex::new(HashMap::new()),
            finished: Mutex::new(HashMap::new()),
            hashing: Mutex::new(HashMap::new()),
        };
        s.sweep();
        Ok(s)
    }

    fn part(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.part"))
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn lock_of(&self, id: &str) -> Arc<Mutex<()>> {
        let mut l = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        l.entry(id.to_string()).or_default().clone()
    }

    fn info(&self, id: &str, r: &Record) -> SessionInfo {
        SessionInfo {
            id: id.to_string(),
            size: r.size,
            expires_ms: r.touched_ms.saturating_add(self.expiry.as_millis() as i64),
        }
    }

    fn write_record(&self, id: &str, r: &Record) -> io::Result<()> {
        let tmp = self.dir.join(format!("{id}.json.tmp"));
        let mut f = File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(r).map_err(io::Error::other)?)?;
        f.sync_all()?;
        fs::rename(&tmp, self.record_path(id))?;
        sync_dir(&self.dir)
    }

    /// The live session `id` of `repo`.
    fn load(&self, repo: &str, id: &str) -> Result<Record, SessionError> {
        let missing = || SessionError::NotFound(id.to_string());
        if !valid_id(id) {
            return Err(missing());
        }
        let bytes = match fs::read(self.record_path(id)) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing()),
            Err(e) => return Err(e.into()),
        };
        let r: Record = serde_json::from_slice(&bytes).map_err(|_| missing())?;
        if r.repo != repo {
            return Err(missing());
        }
        if self.expired(&r) {
            self.remove(id);
            return Err(missing());
        }
        Ok(r)
    }

    fn expired(&self, r: &Record) -> bool {
        clock::now_ms().saturating_sub(r.touched_ms) > self.expiry.as_millis() as i64
    }

    fn remove(&self, id: &str) {
        let _ = fs::remove_file(self.record_path(id));
        let _ = fs::remove_file(self.part(id));
        self.locks.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        self.hashing.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }

    /// The running digests of session `id` if they cover its first `size` bytes.
    fn take_hashing(&self, id: &str, size: u64) -> Option<Hashing> {
        let h = self.hashing.lock().unwrap_or_else(|e| e.into_inner()).remove(id)?;
        (h.covered == size).then_some(h)
    }

    fn put_hashing(&self, id: &str, h: Hashing) {
        self.hashing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), h);
    }

    /// Removes expired sessions (and leftovers without a record); answers how many went.
    pub fn sweep(&self) -> usize {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut gone = 0;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".json") else {
                continue;
            };
            let stale = match fs::read(e.path())
                .ok()
                .and_then(|b| serde_json::from_slice::<Record>(&b).ok())
            {
                Some(r) => self.expired(&r),
                None => true,
            };
            if stale {
                self.remove(id);
                gone += 1;
            }
        }
        gone
    }

    /// Starts a session in `repo`.
    pub fn begin(&self, repo: &str) -> Result<SessionInfo, SessionError> {
        self.sweep();
        let id = format!("{:032x}", rand::random::<u128>());
        File::create(self.part(&id))?.sync_all()?;
        let now = clock::now_ms();
        let r = Record {
            repo: repo.to_string(),
            size: 0,
            created_ms: now,
            touched_ms: now,
            whole: None,
        };
        self.write_record(&id, &r)?;
        self.put_hashing(&id, Hashing::default());
        Ok(self.info(&id, &r))
    }

    /// A session's state.
    pub fn status(&self, repo: &str, id: &str) -> Result<SessionInfo, SessionError> {
        let r = self.load(repo, id)?;
        Ok(self.info(id, &r))
    }

    /// Appends `len` bytes of blob `sha256` at `offset` (which must be the size).
    pub fn append(
        &self,
        blobs: &dyn BlobStore,
        repo: &str,
        id: &str,
        offset: u64,
        source: Option<(&str, u64)>,
    ) -> Result<SessionInfo, SessionError> {
        let lock = self.lock_of(id);
        let _held = lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut r = self.load(repo, id)?;
        if offset != r.size {
            return Err(SessionError::Offset { size: r.size, offset });
        }
        if let Some((sha256, len)) = source.filter(|(_, len)| *len > 0) {
            let mut hashing = self.unlink_whole(id, &mut r)?.or_else(|| self.take_hashing(id, r.size));
            let mut f = File::options().write(true).open(self.part(id))?;
            // Bytes past the recorded size are from an append a crash cut short.
            f.set_len(r.size)?;
            f.seek(SeekFrom::Start(r.size))?;
            const CHUNK: u64 = 1 << 20;
            let mut done = 0;
            while done < len {
                let chunk = blobs.read_range(sha256, done, CHUNK.min(len - done))?;
                if chunk.is_empty() {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the request body ended early").into());
                }
                f.write_all(&chunk)?;
                if let Some(h) = hashing.as_mut() {
                    h.update(&chunk);
                }
                done += chunk.len() as u64;
            }
            f.sync_all()?;
            r.size += len;
            if let Some(h) = hashing {
                self.put_hashing(id, h);
            }
        }
        r.touched_ms = clock::now_ms();
        self.write_record(id, &r)?;
        Ok(self.info(id, &r))
    }

    /// `append` of a whole stored blob (the request body, digests `d`): into an
    /// empty session it is linked, not copied, so a large layer sent in one
    /// request costs no copy and no second hashing.
    pub fn append_whole(
        &self,
        blobs: &dyn BlobStore,
        repo: &str,
        id: &str,
        offset: u64,
        d: &Digests,
    ) -> Result<SessionInfo, SessionError> {
        {
            let lock = self.lock_of(id);
            let _held = lock.lock().unwrap_or_else(|e| e.into_inner());
            let mut r = self.load(repo, id)?;
            if offset == 0 && r.size == 0 && r.whole.is_none() && d.size > 0 {
                let link = self.dir.join(format!("{id}.link"));
                let _ = fs::remove_file(&link);
                if blobs.link_into(&d.sha256, &link)? {
                    fs::rename(&link, self.part(id))?;
                    r.size = d.size;
                    r.whole = Some(d.clone());
                    r.touched_ms = clock::now_ms();
                    self.write_record(id, &r)?;
                    return Ok(self.info(id, &r));
                }
            }
        }
        self.append(blobs, repo, id, offset, Some((&d.sha256, d.size)))
    }

    /// A session whose part file is a link to a blob gets a copy of its own before
    /// anything is written to it (the blob's bytes must never change); answers
    /// the digests of the copied bytes.
    fn unlink_whole(&self, id: &str, r: &mut Record) -> io::Result<Option<Hashing>> {
        if r.whole.take().is_none() {
            return Ok(None);
        }
        let copy_path = self.dir.join(format!("{id}.copy"));
        let mut from = File::open(self.part(id))?;
        let mut to = File::create(&copy_path)?;
        let mut h = Hashing::default();
        let mut buf = vec![0u8; 1 << 20];
        let mut left = r.size;
        while left > 0 {
            let want = buf.len().min(left as usize);
            let n = from.read(&mut buf[..want])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the staged upload is short",
                ));
            }
            to.write_all(&buf[..n])?;
            h.update(&buf[..n]);
            left -= n as u64;
        }
        to.sync_all()?;
        fs::rename(&copy_path, self.part(id))?;
        Ok(Some(h))
    }

    /// Ends a session: its content must have the sha256 `expected`; answers the
    /// stored blob, pinned. On a digest mismatch the session is dropped.
    pub fn finish(
        &self,
        blobs: &dyn BlobStore,
        repo: &str,
        id: &str,
        expected: &str,
    ) -> Result<(Digests, BlobPin), SessionError> {
        let lock = self.lock_of(id);
        let _held = lock.lock().unwrap_or_else(|e| e.into_inner());
        let want = expected.trim_start_matches("sha256:").to_ascii_lowercase();
        let r = match self.load(repo, id) {
            Ok(r) => r,
            Err(SessionError::NotFound(m)) => match self.refinish(blobs, repo, id, &want)? {
                Some(again) => return Ok(again),
                None => return Err(SessionError::NotFound(m)),
            },
            Err(e) => return Err(e),
        };
        // A session that is one stored blob: that blob, if the store still has it.
        if let Some(d) = r.whole.as_ref().filter(|d| d.sha256 == want && d.size == r.size)
            && let Some(pin) = blobs.pin_existing(&d.sha256)?
        {
            let digests = d.clone();
            self.remove(id);
            self.remember_finished(repo, id, &digests);
            return Ok((digests, pin));
        }
        // Digests kept while appending: the session's file itself becomes the blob.
        if let Some(h) = self.take_hashing(id, r.size) {
            let digests = h.digests();
            if digests.sha256 != want {
                self.remove(id);
                return Err(SessionError::Digest {
                    expected: want,
                    got: digests.sha256,
                });
            }
            let pin = match blobs.pin_existing(&digests.sha256)? {
                Some(pin) => Some(pin),
                None => blobs.adopt(&self.part(id), &digests.sha256)?,
            };
            if let Some(pin) = pin {
                self.remove(id);
                self.remember_finished(repo, id, &digests);
                return Ok((digests, pin));
            }
        }
        let mut f = File::open(self.part(id))?;
        let mut staged = blobs.stage()?;
        let (mut s256, mut s1, mut m5) = (Sha256::new(), Sha1::new(), Md5::new());
        let mut left = r.size;
        let mut buf = vec![0u8; 1 << 20];
        while left > 0 {
            let want = buf.len().min(left as usize);
            let n = f.read(&mut buf[..want])?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the staged upload is short").into());
            }
            s256.update(&buf[..n]);
            s1.update(&buf[..n]);
            m5.update(&buf[..n]);
            staged.write_all(&buf[..n])?;
            left -= n as u64;
        }
        let got = hex::encode(s256.finalize());
        if got != want {
            drop(staged);
            self.remove(id);
            return Err(SessionError::Digest { expected: want, got });
        }
        staged.sync()?;
        let digests = Digests {
            sha256: got,
            sha1: hex::encode(s1.finalize()),
            md5: hex::encode(m5.finalize()),
            size: r.size,
        };
        let pin = blobs.commit(staged, &digests.sha256)?;
        self.remove(id);
        self.remember_finished(repo, id, &digests);
        Ok((digests, pin))
    }

    /// Keeps a finished session's answer for a request run again.
    fn remember_finished(&self, repo: &str, id: &str, digests: &Digests) {
        let mut done = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        done.retain(|_, (_, _, at)| at.elapsed() < REFINISH);
        done.insert(
            id.to_string(),
            (repo.to_string(), digests.clone(), std::time::Instant::now()),
        );
    }

    /// The answer of a session of `repo` finished lately with content `want`, again.
    fn refinish(
        &self,
        blobs: &dyn BlobStore,
        repo: &str,
        id: &str,
        want: &str,
    ) -> Result<Option<(Digests, BlobPin)>, SessionError> {
        let done = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        let Some((r, d, at)) = done.get(id) else {
            return Ok(None);
        };
        if r != repo || d.sha256 != want || at.elapsed() >= REFINISH {
            return Ok(None);
        }
        Ok(blobs.pin_existing(&d.sha256)?.map(|pin| (d.clone(), pin)))
    }

    /// Drops a session.
    pub fn abort(&self, repo: &str, id: &str) -> Result<(), SessionError> {
        self.load(repo, id)?;
        self.remove(id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::FsBlobStore;

    #[test]
    fn appends_finish_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FsBlobStore::open(dir.path()).unwrap();
        let (a, _pa) = crate::storage::upload::store_bytes(&blobs, b"hello ").unwrap();
        let (b, _pb) = crate::storage::upload::store_bytes(&blobs, b"world").unwrap();
        let s = Sessions::open(&dir.path().join("sessions"), Duration::from_secs(60)).unwrap();
        let id = s.begin("r").unwrap().id;
        assert_eq!(
            s.append(&blobs, "r", &id, 0, Some((&a.sha256, a.size))).unwrap().size,
            6
        );
        assert!(matches!(
            s.append(&blobs, "r", &id, 3, Some((&b.sha256, b.size))),
            Err(SessionError::Offset { size: 6, offset: 3 })
        ));
        assert!(matches!(s.status("other", &id), Err(SessionError::NotFound(_))));
        // Reopened (a restart): the session is still there.
        let s = Sessions::open(&dir.path().join("sessions"), Duration::from_secs(60)).unwrap();
        assert_eq!(
            s.append(&blobs, "r", &id, 6, Some((&b.sha256, b.size))).unwrap().size,
            11
        );
        let want = hex::encode(Sha256::digest(b"hello world"));
        let (d, _pin) = s.finish(&blobs, "r", &id, &want).unwrap();
        assert_eq!((d.sha256.as_str(), d.size), (want.as_str(), 11));
        assert_eq!(&blobs.read(&want).unwrap()[..], b"hello world");
        assert!(matches!(s.status("r", &id), Err(SessionError::NotFound(_))));
        // A request run again finishes it again with the same answer; another
        // digest or repository does not.
        let (again, _pin) = s.finish(&blobs, "r", &id, &want).unwrap();
        assert_eq!(again, d);
        assert!(matches!(
            s.finish(&blobs, "r", &id, &"0".repeat(64)),
            Err(SessionError::NotFound(_))
        ));
        assert!(matches!(
            s.finish(&blobs, "other", &id, &want),
            Err(SessionError::NotFound(_))
        ));
    }

    #[test]
    fn a_whole_body_is_linked_not_copied_and_later_appends_do_not_touch_the_blob() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FsBlobStore::open(dir.path()).unwrap();
        let (a, _pa) = crate::storage::upload::store_bytes(&blobs, b"hello ").unwrap();
        let (b, _pb) = crate::storage::upload::store_bytes(&blobs, b"world").unwrap();
        let s = Sessions::open(&dir.path().join("sessions"), Duration::from_secs(60)).unwrap();
        // One body, whole: finished as that very blob.
        let id = s.begin("r").unwrap().id;
        assert_eq!(s.append_whole(&blobs, "r", &id, 0, &a).unwrap().size, 6);
        let (d, _pin) = s.finish(&blobs, "r", &id, &a.sha256).unwrap();
        assert_eq!(d, a);
        // Linked, then appended to: the stored blob keeps its bytes.
        let id = s.begin("r").unwrap().id;
        s.append_whole(&blobs, "r", &id, 0, &a).unwrap();
        assert_eq!(s.append_whole(&blobs, "r", &id, 6, &b).unwrap().size, 11);
        assert_eq!(&blobs.read(&a.sha256).unwrap()[..], b"hello ");
        let want = hex::encode(Sha256::digest(b"hello world"));
        let (d, _pin) = s.finish(&blobs, "r", &id, &want).unwrap();
        assert_eq!(&blobs.read(&d.sha256).unwrap()[..], b"hello world");
        assert_eq!(&blobs.read(&a.sha256).unwrap()[..], b"hello ");
        // A wrong digest on a linked session drops it and stores nothing.
        let id = s.begin("r").unwrap().id;
        s.append_whole(&blobs, "r", &id, 0, &b).unwrap();
        assert!(matches!(
            s.finish(&blobs, "r", &id, &"0".repeat(64)),
            Err(SessionError::Digest { .. })
        ));
        assert_eq!(&blobs.read(&b.sha256).unwrap()[..], b"world");
    }

    #[test]
    fn digests_kept_while_appending_make_the_session_file_the_blob() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FsBlobStore::open(dir.path()).unwrap();
        let (a, _pa) = crate::storage::upload::store_bytes(&blobs, b"hello ").unwrap();
        let (b, _pb) = crate::storage::upload::store_bytes(&blobs, b"world").unwrap();
        let s = Sessions::open(&dir.path().join("sessions"), Duration::from_secs(60)).unwrap();
        for linked in [false, true] {
            let id = s.begin("r").unwrap().id;
            if linked {
                s.append_whole(&blobs, "r", &id, 0, &a).unwrap();
            } else {
                s.append(&blobs, "r", &id, 0, Some((&a.sha256, a.size))).unwrap();
            }
            s.append(&blobs, "r", &id, 6, Some((&b.sha256, b.size))).unwrap();
            let want = hex::encode(Sha256::digest(b"hello world"));
            let (d, _pin) = s.finish(&blobs, "r", &id, &want).unwrap();
            assert_eq!(d.sha1, hex::encode(sha1::Sha1::digest(b"hello world")));
            assert_eq!(d.md5, hex::encode(md5::Md5::digest(b"hello world")));
            assert_eq!(&blobs.read(&want).unwrap()[..], b"hello world");
            assert_eq!(&blobs.read(&a.sha256).unwrap()[..], b"hello ");
            assert!(!s.part(&id).exists());
        }
        // A wrong digest stores nothing.
        let id = s.begin("r").unwrap().id;
        s.append(&blobs, "r", &id, 0, Some((&b.sha256, b.size))).unwrap();
        let before = blobs.list().unwrap().len();
        assert!(matches!(
            s.finish(&blobs, "r", &id, &"0".repeat(64)),
            Err(SessionError::Digest { .. })
        ));
        assert_eq!(blobs.list().unwrap().len(), before);
    }

    #[test]
    fn a_wrong_digest_drops_the_session_and_expired_sessions_go() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FsBlobStore::open(dir.path()).unwrap();
        let (a, _pa) = crate::storage::upload::store_bytes(&blobs, b"abc").unwrap();
        let s = Sessions::open(&dir.path().join("sessions"), Duration::from_secs(60)).unwrap();
        let id = s.begin("r").unwrap().id;
        s.append(&blobs, "r", &id, 0, Some((&a.sha256, 3))).unwrap();
        let before = blobs.list().unwrap().len();
        assert!(matches!(
            s.finish(&blobs, "r", &id, &"0".repeat(64)),
            Err(SessionError::Digest { .. })
        ));
        assert_eq!(blobs.list().unwrap().len(), before, "nothing stored");
        assert!(matches!(s.status("r", &id), Err(SessionError::NotFound(_))));
        let s = Sessions::open(&dir.path().join("sessions"), Duration::from_millis(1)).unwrap();
        let id = s.begin("r").unwrap().id;
        std::thread::sleep(Duration::from_millis(10));
        assert!(matches!(s.status("r", &id), Err(SessionError::NotFound(_))));
    }
}
