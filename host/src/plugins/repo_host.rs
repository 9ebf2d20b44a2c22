//! The context of one package-type call: the repository its request addresses, who
//! is calling, and the request's pending writes. The host side of each WIT
//! interface (`imports/`) is a thin layer over these operations, written once in the
//! latest WIT's types; older versions convert (`imports/v0_1.rs`).

use std::collections::HashMap;
use std::sync::Arc;

use super::bindings::v0_2::package_type::binyard::plugin::{repository, types, uploads};
use crate::artifacts::paths::RepoPath;
use crate::artifacts::sessions::{SessionError, SessionInfo, Sessions};
use crate::artifacts::{ArtifactError, Artifacts, FileWrite, Txn};
use crate::auth::{Action, Auth, AuthError, Caller, NewToken};
use crate::events::EventRecord;
use crate::repos::{RClass, RepoConfig};
use crate::storage::{Checksums, Digests, Item, Properties, upload};

use types::{Artifact, BlobInfo, Failure};

/// Bytes a plugin may read in one call.
const MAX_READ: u64 = 4 << 20;
/// Generated content a plugin may store in one call.
const MAX_PUT: usize = 16 << 20;
/// Limits of the key-value space.
const MAX_KV_KEY: usize = 1024;
const MAX_KV_VALUE: usize = 1 << 20;
/// The most events one request may emit, and the largest event data.
const MAX_EVENTS: usize = 1000;
const MAX_EVENT_DATA: usize = 64 << 10;

/// The repository a call is scoped to, who is calling, and the request's pending
/// writes: everything the plugin writes goes into `txn`, which the format service
/// commits in one transaction when the plugin has answered (and drops otherwise).
pub struct RepoHost {
    pub artifacts: Artifacts,
    pub txn: Txn,
    pub repo: Arc<RepoConfig>,
    pub caller: Caller,
    pub can_delete: bool,
    /// The request body, stored as a blob before the call.
    pub upload: Option<Digests>,
    /// Why the caller may not use the repository (a request to a login path): every
    /// repository function then fails with this.
    pub denied: Option<Failure>,
    /// The accounts, for `accounts.login` and cross-repository mounts.
    pub auth: Option<Arc<Auth>>,
    /// The remote service, for `upstream.fetch` (none: the host offers no upstream).
    pub remote: Option<Arc<crate::remote::Remote>>,
    /// Upload sessions (none: the host offers none to this call).
    pub sessions: Option<Arc<Sessions>>,
    /// Format events the plugin emitted; recorded with the writes if the answer is a success.
    pub emitted: Vec<EventRecord>,
    /// Blobs this request made available (finished sessions, mounts), by sha256.
    pub fresh: HashMap<String, Digests>,
}

/// A failure with a status and message.
pub fn fail(status: u16, message: impl Into<String>) -> Failure {
    Failure {
        status,
        message: message.into(),
    }
}

/// The failure a plugin sees for a refused login or access (WIT failures carry
/// HTTP statuses); storage details stay in the log.
pub fn from_auth(e: AuthError) -> Failure {
    let status = match &e {
        AuthError::Unauthorized(_) => 401,
        AuthError::Forbidden(_) => 403,
        AuthError::Invalid(_) => 400,
        AuthError::NotFound(_) => 404,
        AuthError::Conflict(_) => 409,
        AuthError::Internal(_) => 500,
        AuthError::Store(e) => {
            tracing::error!(error = %e, "storage failure in a plugin request");
            return fail(500, "the storage failed (see the server log)");
        }
    };
    fail(status, e.to_string())
}

/// The failure a plugin sees for a refused write; storage details stay in the log.
fn from_write(e: ArtifactError) -> Failure {
    match e {
        ArtifactError::Invalid(m) => fail(400, m),
        ArtifactError::Forbidden(m) => fail(403, m),
        ArtifactError::NotFound(m) => fail(404, m),
        ArtifactError::Conflict(m) => fail(409, m),
        e @ ArtifactError::QuotaExceeded(_) => fail(413, e.to_string()),
        e @ ArtifactError::Cancelled => fail(499, e.to_string()),
        e @ ArtifactError::Stale(_) => fail(409, e.to_string()),
        ArtifactError::Store(e) => {
            tracing::error!(error = %e, "storage failure in a plugin request");
            fail(500, "the storage failed (see the server log)")
        }
    }
}

fn io_fail(e: std::io::Error) -> Failure {
    tracing::error!(error = %e, "blob store failure in a plugin request");
    fail(500, "the blob store failed (see the server log)")
}

fn from_session(e: SessionError) -> Failure {
    match e {
        e @ SessionError::NotFound(_) => fail(404, e.to_string()),
        e @ SessionError::Offset { .. } => fail(416, e.to_string()),
        e @ SessionError::Digest { .. } => fail(400, e.to_string()),
        SessionError::Io(e) => io_fail(e),
    }
}

/// Checks a path a plugin names: the same rules as a client's.
pub(crate) fn clean(path: &str) -> Result<String, Failure> {
    let p = path.trim_start_matches('/');
    let encoded: String = p
        .split('/')
        .map(|s| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string())
        .collect::<Vec<_>>()
        .join("/");
    RepoPath::parse(&format!("r/{encoded}"))
        .map(|rp| rp.path)
        .map_err(|e| fail(400, format!("invalid path {path:?}: {e}")))
}

fn clean_folder(prefix: &str) -> Result<String, Failure> {
    if prefix.trim_matches('/').is_empty() {
        Ok(String::new())
    } else {
        clean(prefix)
    }
}

fn to_props(p: &[(String, Vec<String>)]) -> Properties {
    let mut out = Properties::new();
    for (k, v) in p {
        out.entry(k.clone()).or_default().extend(v.iter().cloned());
    }
    out
}

/// The record of stored bytes a plugin sees.
pub fn blob_info(d: &Digests) -> BlobInfo {
    BlobInfo {
        sha256: d.sha256.clone(),
        sha1: d.sha1.clone(),
        md5: d.md5.clone(),
        size: d.size,
    }
}

pub(crate) fn artifact(path: &str, i: &Item) -> Artifact {
    Artifact {
        path: path.to_string(),
        folder: i.folder,
        blob: i.blob.as_ref().map(blob_info),
        created_ms: i.created,
        modified_ms: i.modified,
        created_by: i.created_by.clone(),
        modified_by: i.modified_by.clone(),
        properties: i.props.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
    }
}

fn session(s: SessionInfo) -> uploads::Session {
    uploads::Session {
        id: s.id,
        size: s.size,
        expires_ms: s.expires_ms,
    }
}

impl RepoHost {
    /// Fails with why the caller may not use the repository, if so.
    pub(crate) fn allowed(&self) -> Result<(), Failure> {
        match &self.denied {
            Some(f) => Err(f.clone()),
            None => Ok(()),
        }
    }

    fn key(&self) -> String {
        self.repo.key.clone()
    }

    /// Records a file at `path` with the given bytes; `user_upload` writes follow
    /// the caller's overwrite permission, generated content may always replace.
    fn record(&mut self, path: &str, d: Digests, props: Properties, user_upload: bool) -> Result<Artifact, Failure> {
        let by = self.caller.name().to_string();
        let item = self
            .txn
            .put_file(FileWrite {
                repo: &self.repo,
                path,
                by: &by,
                digests: d,
                expected: Checksums::default(),
                props,
                may_overwrite: !user_upload || self.can_delete,
            })
            .map_err(from_write)?;
        Ok(artifact(path, &item))
    }

    /// This repository.
    pub fn info(&self) -> repository::RepoInfo {
        let r = &self.repo;
        repository::RepoInfo {
            key: r.key.clone(),
            rclass: match r.rclass {
                RClass::Local => repository::RepoClass::Local,
                RClass::Remote => repository::RepoClass::Remote,
                RClass::Virtual => repository::RepoClass::Virtual,
            },
            package_type: r.package_type.clone(),
            config_json: serde_json::to_string(r.as_ref()).unwrap_or_else(|_| "{}".into()),
        }
    }

    pub fn stat(&mut self, path: &str) -> Result<Option<Artifact>, Failure> {
        self.allowed()?;
        let p = clean(path)?;
        let key = self.key();
        Ok(self.txn.item(&key, &p).map_err(from_write)?.map(|i| artifact(&p, &i)))
    }

    pub fn list_children(&mut self, prefix: &str, after: Option<&str>, limit: u32) -> Result<Vec<Artifact>, Failure> {
        self.allowed()?;
        let p = clean_folder(prefix)?;
        let key = self.key();
        let children = self.txn.children(&key, &p).map_err(from_write)?;
        Ok(children
            .into_iter()
            .filter(|(name, _)| after.is_none_or(|a| name.as_str() > a))
            .take(limit.min(1000) as usize)
            .map(|(name, i)| artifact(&crate::artifacts::paths::join(&p, &name), &i))
            .collect())
    }

    pub fn read(&mut self, path: &str, offset: u64, len: u32) -> Result<Vec<u8>, Failure> {
        self.allowed()?;
        let p = clean(path)?;
        let key = self.key();
        let item = self
            .txn
            .item(&key, &p)
            .map_err(from_write)?
            .ok_or_else(|| fail(404, format!("no file '{p}'")))?;
        let b = item.blob.ok_or_else(|| fail(400, format!("'{p}' is a folder")))?;
        self.artifacts
            .blobs
            .read_range(&b.sha256, offset, (len as u64).min(MAX_READ))
            .map_err(io_fail)
    }

    /// The caller's own body is readable even on a login path.
    pub fn read_upload(&self, offset: u64, len: u32) -> Result<Vec<u8>, Failure> {
        let d = self
            .upload
            .as_ref()
            .ok_or_else(|| fail(400, "the request has no body"))?;
        self.artifacts
            .blobs
            .read_range(&d.sha256, offset, (len as u64).min(MAX_READ))
            .map_err(io_fail)
    }

    pub fn commit_upload(
        &mut self,
        path: &str,
        offset: u64,
        len: Option<u64>,
        properties: &[(String, Vec<String>)],
    ) -> Result<Artifact, Failure> {
        self.allowed()?;
        let p = clean(path)?;
        let d = self
            .upload
            .clone()
            .ok_or_else(|| fail(400, "the request has no body"))?;
        let props = to_props(properties);
        if offset == 0 && len.is_none_or(|l| l == d.size) {
            return self.record(&p, d, props, true);
        }
        let len = len.unwrap_or(d.size.saturating_sub(offset));
        if offset.checked_add(len).is_none_or(|end| end > d.size) {
            return Err(fail(
                400,
                format!("range {offset}+{len} is outside the {}-byte upload", d.size),
            ));
        }
        let (digests, pin) =
            upload::store_range(self.artifacts.blobs.as_ref(), &d.sha256, offset, len).map_err(io_fail)?;
        self.txn.pin(pin);
        self.record(&p, digests, props, true)
    }

    pub fn put(&mut self, path: &str, data: &[u8], properties: &[(String, Vec<String>)]) -> Result<Artifact, Failure> {
        self.allowed()?;
        if data.len() > MAX_PUT {
            return Err(fail(413, format!("put of {} bytes; at most {MAX_PUT}", data.len())));
        }
        let p = clean(path)?;
        let (digests, pin) = upload::store_bytes(self.artifacts.blobs.as_ref(), data).map_err(io_fail)?;
        self.txn.pin(pin);
        self.record(&p, digests, to_props(properties), false)
    }

    pub fn delete(&mut self, path: &str) -> Result<(), Failure> {
        self.allowed()?;
        let p = clean(path)?;
        let key = self.key();
        self.txn.delete(&key, &p).map_err(from_write)?;
        Ok(())
    }

    pub fn set_properties(&mut self, path: &str, changes: &[(String, Option<Vec<String>>)]) -> Result<(), Failure> {
        self.allowed()?;
        let p = clean(path)?;
        let (key, by) = (self.key(), self.caller.name().to_string());
        self.txn.set_properties(&key, &p, changes, &by).map_err(from_write)?;
        Ok(())
    }

    pub fn kv_get(&mut self, key: &str) -> Result<Option<Vec<u8>>, Failure> {
        self.allowed()?;
        let repo = self.key();
        self.txn.kv_get(&repo, key).map_err(from_write)
    }

    pub fn kv_put(&mut self, key: &str, value: Vec<u8>) -> Result<(), Failure> {
        self.allowed()?;
        if key.is_empty() || key.len() > MAX_KV_KEY || value.len() > MAX_KV_VALUE {
            return Err(fail(
                413,
                format!("kv keys are 1..{MAX_KV_KEY} bytes and values at most {MAX_KV_VALUE}"),
            ));
        }
        let repo = self.key();
        self.txn.kv_set(&repo, key, Some(value));
        Ok(())
    }

    pub fn kv_delete(&mut self, key: &str) -> Result<(), Failure> {
        self.allowed()?;
        let repo = self.key();
        self.txn.kv_set(&repo, key, None);
        Ok(())
    }

    /// Holds a format event (`event_type` as the outbox names it) for the commit.
    pub fn emit_event(&mut self, event_type: &str, path: &str, data: &str) -> Result<(), Failure> {
        self.allowed()?;
        let Some(domain) = super::event_types::domain(event_type) else {
            return Err(fail(
                400,
                format!(
                    "unknown format event '{event_type}': use one of {}",
                    super::event_types::all().join(", ")
                ),
            ));
        };
        let p = clean(path)?;
        if data.len() > MAX_EVENT_DATA {
            return Err(fail(400, format!("event data is larger than {MAX_EVENT_DATA} bytes")));
        }
        let mut v: serde_json::Value =
            serde_json::from_str(data).map_err(|e| fail(400, format!("event data is not JSON: {e}")))?;
        let Some(o) = v.as_object_mut() else {
            return Err(fail(400, "event data must be a JSON object"));
        };
        // Where the event happened is the host's to say.
        o.insert("repo_key".into(), self.repo.key.clone().into());
        o.insert("path".into(), p.clone().into());
        if self.emitted.len() >= MAX_EVENTS {
            return Err(fail(429, format!("a request may emit at most {MAX_EVENTS} events")));
        }
        let e = EventRecord::other(domain, event_type, &self.repo.key, &p, v);
        self.emitted.push(e);
        Ok(())
    }

    /// A stored blob by sha256.
    pub fn blob_stat(&self, sha256: &str) -> Result<Option<BlobInfo>, Failure> {
        self.allowed()?;
        let sha = sha256.trim_start_matches("sha256:").to_ascii_lowercase();
        if let Some(d) = self.fresh.get(&sha) {
            return Ok(Some(blob_info(d)));
        }
        let known = self.artifacts.meta.blob(&sha).map_err(|e| from_write(e.into()))?;
        // A record whose bytes are gone (collected since) is no blob.
        match known {
            Some(d) if self.artifacts.blobs.pin_existing(&sha).map_err(io_fail)?.is_some() => Ok(Some(blob_info(&d))),
            _ => Ok(None),
        }
    }

    /// Records stored blob `sha256` at `path` without any bytes crossing.
    pub fn blob_commit(
        &mut self,
        path: &str,
        sha256: &str,
        properties: &[(String, Vec<String>)],
    ) -> Result<Artifact, Failure> {
        self.allowed()?;
        let p = clean(path)?;
        let sha = sha256.trim_start_matches("sha256:").to_ascii_lowercase();
        let missing = || fail(404, format!("no stored blob has sha256 {sha}"));
        let d = match self.fresh.get(&sha) {
            Some(d) => d.clone(),
            None => self
                .artifacts
                .meta
                .blob(&sha)
                .map_err(|e| from_write(e.into()))?
                .ok_or_else(missing)?,
        };
        // Pinned until the commit: GC may not take it meanwhile.
        let pin = self
            .artifacts
            .blobs
            .pin_existing(&sha)
            .map_err(io_fail)?
            .ok_or_else(missing)?;
        self.txn.pin(pin);
        self.record(&p, d, to_props(properties), true)
    }

    /// Makes blob `sha256` of repository `from` available here when the caller may
    /// read a file with that content there.
    pub fn blob_mount(&mut self, from: &str, sha256: &str) -> Result<BlobInfo, Failure> {
        self.allowed()?;
        let sha = sha256.trim_start_matches("sha256:").to_ascii_lowercase();
        let missing = || fail(404, format!("no file of '{from}' that you may read has sha256 {sha}"));
        let auth = self
            .auth
            .clone()
            .ok_or_else(|| fail(501, "mounts are not available to this plugin"))?;
        let places = self.artifacts.meta.placements(&sha).map_err(|e| from_write(e.into()))?;
        if !places
            .iter()
            .any(|(r, p)| r == from && auth.allows(&self.caller, Action::Read, r, p))
        {
            return Err(missing());
        }
        let d = self
            .artifacts
            .meta
            .blob(&sha)
            .map_err(|e| from_write(e.into()))?
            .ok_or_else(missing)?;
        self.fresh.insert(sha, d.clone());
        Ok(blob_info(&d))
    }

    fn sessions(&self) -> Result<Arc<Sessions>, Failure> {
        self.allowed()?;
        self.sessions
            .clone()
            .ok_or_else(|| fail(501, "upload sessions are not available to this plugin"))
    }

    pub fn session_begin(&mut self) -> Result<uploads::Session, Failure> {
        let s = self.sessions()?;
        s.begin(&self.repo.key).map(session).map_err(from_session)
    }

    pub fn session_append(&mut self, id: &str, offset: u64) -> Result<uploads::Session, Failure> {
        let s = self.sessions()?;
        let appended = match &self.upload {
            Some(d) => s.append_whole(self.artifacts.blobs.as_ref(), &self.repo.key, id, offset, d),
            None => s.append(self.artifacts.blobs.as_ref(), &self.repo.key, id, offset, None),
        };
        appended.map(session).map_err(from_session)
    }

    pub fn session_status(&mut self, id: &str) -> Result<uploads::Session, Failure> {
        let s = self.sessions()?;
        s.status(&self.repo.key, id).map(session).map_err(from_session)
    }

    pub fn session_finish(&mut self, id: &str, expected: &str) -> Result<BlobInfo, Failure> {
        let s = self.sessions()?;
        if let Some(d) = &self.upload {
            match s.status(&self.repo.key, id) {
                Ok(st) => {
                    s.append_whole(self.artifacts.blobs.as_ref(), &self.repo.key, id, st.size, d)
                        .map_err(from_session)?;
                }
                // Finished by an earlier run of this request: `finish` answers it again.
                Err(SessionError::NotFound(_)) => {}
                Err(e) => return Err(from_session(e)),
            }
        }
        let (d, pin) = s
            .finish(self.artifacts.blobs.as_ref(), &self.repo.key, id, expected)
            .map_err(from_session)?;
        self.txn.pin(pin);
        self.fresh.insert(d.sha256.clone(), d.clone());
        Ok(blob_info(&d))
    }

    pub fn session_abort(&mut self, id: &str) -> Result<(), Failure> {
        let s = self.sessions()?;
        s.abort(&self.repo.key, id).map_err(from_session)
    }

    /// Checks a password and issues a token for the user (`accounts.login`).
    pub fn login(&self, username: String, password: &str, description: &str) -> Result<String, Failure> {
        let auth = self
            .auth
            .clone()
            .ok_or_else(|| fail(501, "logins are not available to this plugin"))?;
        // The plugin call runs on a blocking thread, so argon2 may run here.
        auth.check_password(&username, password).map_err(from_auth)?;
        let issued = auth
            .issue_token(NewToken {
                username,
                scope: "applied-permissions/user".into(),
                expires_in: None,
                refreshable: false,
                description: description.chars().take(256).collect(),
                audience: None,
            })
            .map_err(from_auth)?;
        Ok(issued.access_token)
    }
}
