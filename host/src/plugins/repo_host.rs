//! The host side of the `repository` and `log` imports: what a package-type plugin
//! may do, always inside the one repository its request addresses.

use std::sync::{Arc, Mutex};

use super::bindings::package_type::binyard::plugin::{accounts, log, repository, types};
use super::sandbox::StoreData;
use crate::artifacts::Artifacts;
use crate::artifacts::paths::RepoPath;
use crate::auth::{Auth, Caller, NewToken};
use crate::clock;
use crate::events::EventRecord;
use crate::repos::{RClass, RepoConfig};
use crate::storage::{Change, Digests, Item, Properties, upload};

use types::{Artifact, BlobInfo, Failure};

/// Bytes a plugin may read in one call.
const MAX_READ: u64 = 4 << 20;
/// Generated content a plugin may store in one call.
const MAX_PUT: usize = 16 << 20;
/// Limits of the key-value space.
const MAX_KV_KEY: usize = 1024;
const MAX_KV_VALUE: usize = 1 << 20;

/// The repository a call is scoped to, and who is calling.
pub struct RepoHost {
    pub artifacts: Artifacts,
    pub repo: Arc<RepoConfig>,
    pub caller: Caller,
    pub can_delete: bool,
    /// The request body, stored as a blob before the call.
    pub upload: Option<Digests>,
    /// Why the caller may not use the repository (a request to a login path): every
    /// repository function then fails with this.
    pub denied: Option<Failure>,
    /// The accounts, for `accounts.login`.
    pub auth: Option<Arc<Auth>>,
    /// Format events the plugin emitted; the caller records them if the answer
    /// is a success.
    pub emitted: Arc<Mutex<Vec<EventRecord>>>,
}

/// The most events one request may emit, and the largest event data.
const MAX_EVENTS: usize = 1000;
const MAX_EVENT_DATA: usize = 64 << 10;

fn fail(status: u16, message: impl Into<String>) -> Failure {
    Failure {
        status,
        message: message.into(),
    }
}

fn from_api(e: crate::error::ApiError) -> Failure {
    fail(e.status.as_u16(), e.message)
}

/// Checks a path a plugin names: the same rules as a client's.
fn clean(path: &str) -> Result<String, Failure> {
    let p = path.trim_start_matches('/');
    let encoded: String = p
        .split('/')
        .map(|s| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string())
        .collect::<Vec<_>>()
        .join("/");
    RepoPath::parse(&format!("r/{encoded}"))
        .map(|rp| rp.path)
        .map_err(|e| fail(400, format!("invalid path {path:?}: {}", e.message)))
}

fn to_props(p: &[(String, Vec<String>)]) -> Properties {
    let mut out = Properties::new();
    for (k, v) in p {
        out.entry(k.clone()).or_default().extend(v.iter().cloned());
    }
    out
}

fn blob_info(d: &Digests) -> BlobInfo {
    BlobInfo {
        sha256: d.sha256.clone(),
        sha1: d.sha1.clone(),
        md5: d.md5.clone(),
        size: d.size,
    }
}

fn artifact(path: &str, i: &Item) -> Artifact {
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

impl RepoHost {
    fn meta(&self) -> &dyn crate::storage::MetaStore {
        self.artifacts.meta.as_ref()
    }

    /// Records a file at `path` with the given bytes; `user_upload` writes follow
    /// the caller's overwrite permission, generated content may always replace.
    fn record(&self, path: &str, d: Digests, props: Properties, user_upload: bool) -> Result<Artifact, Failure> {
        let key = &self.repo.key;
        if !self.repo.accepts_path(path) {
            return Err(fail(
                409,
                format!("'{key}/{path}' does not match the include/exclude patterns"),
            ));
        }
        let existing = self.meta().item(key, path).map_err(|e| fail(500, e.to_string()))?;
        if let Some(e) = &existing {
            if e.folder {
                return Err(fail(409, format!("'{key}/{path}' is a folder")));
            }
            if user_upload && !self.can_delete {
                return Err(fail(
                    403,
                    format!("'{key}/{path}' exists and overwriting needs the delete permission"),
                ));
            }
        }
        let now = clock::now_ms();
        let by = self.caller.name().to_string();
        let item = Item {
            folder: false,
            mime: crate::artifacts::mime_of(path),
            original: crate::storage::Checksums {
                sha256: Some(d.sha256.clone()),
                ..Default::default()
            },
            blob: Some(d),
            created: existing.as_ref().map_or(now, |e| e.created),
            created_by: existing.as_ref().map_or_else(|| by.clone(), |e| e.created_by.clone()),
            modified: now,
            modified_by: by,
            props,
        };
        let added = item.size() as i64 - existing.as_ref().map_or(0, |e| e.size() as i64);
        self.artifacts.quota.check(key, added).map_err(from_api)?;
        self.meta()
            .apply(&[
                Change::Put {
                    repo: key.clone(),
                    path: path.to_string(),
                    item: Box::new(item.clone()),
                },
                EventRecord::artifact("deployed", key, path, &item).change(),
            ])
            .map_err(|e| {
                fail(
                    if matches!(e, crate::storage::StoreError::Conflict(_)) {
                        409
                    } else {
                        500
                    },
                    e.to_string(),
                )
            })?;
        crate::observe::deployed(key);
        Ok(artifact(path, &item))
    }
}

fn host(d: &mut StoreData) -> Result<&mut RepoHost, Failure> {
    let h = d
        .repo
        .as_mut()
        .ok_or_else(|| fail(500, "this plugin kind has no repository"))?;
    match &h.denied {
        Some(f) => Err(f.clone()),
        None => Ok(h),
    }
}

/// The repository for reading, unless the caller may not use it.
fn readable(d: &StoreData) -> Option<&RepoHost> {
    d.repo.as_ref().filter(|h| h.denied.is_none())
}

impl types::Host for StoreData {}

impl repository::Host for StoreData {
    fn info(&mut self) -> repository::RepoInfo {
        let Some(h) = self.repo.as_ref() else {
            return repository::RepoInfo {
                key: String::new(),
                rclass: repository::RepoClass::Local,
                package_type: String::new(),
                config_json: "{}".into(),
            };
        };
        let r = &h.repo;
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

    fn stat(&mut self, path: String) -> Option<Artifact> {
        let h = readable(self)?;
        let p = clean(&path).ok()?;
        let item = h.meta().item(&h.repo.key, &p).ok()??;
        Some(artifact(&p, &item))
    }

    fn list_children(&mut self, prefix: String, after: Option<String>, limit: u32) -> Vec<Artifact> {
        let Some(h) = readable(self) else {
            return Vec::new();
        };
        let Ok(p) = (if prefix.trim_matches('/').is_empty() {
            Ok(String::new())
        } else {
            clean(&prefix)
        }) else {
            return Vec::new();
        };
        let Ok(children) = h.meta().children(&h.repo.key, &p) else {
            return Vec::new();
        };
        children
            .into_iter()
            .filter(|(name, _)| after.as_deref().is_none_or(|a| name.as_str() > a))
            .take(limit.min(1000) as usize)
            .map(|(name, i)| artifact(&crate::artifacts::paths::join(&p, &name), &i))
            .collect()
    }

    fn read(&mut self, path: String, offset: u64, len: u32) -> Result<Vec<u8>, Failure> {
        let h = host(self)?;
        let p = clean(&path)?;
        let item = h
            .meta()
            .item(&h.repo.key, &p)
            .map_err(|e| fail(500, e.to_string()))?
            .ok_or_else(|| fail(404, format!("no file '{p}'")))?;
        let b = item.blob.ok_or_else(|| fail(400, format!("'{p}' is a folder")))?;
        h.artifacts
            .blobs
            .read_range(&b.sha256, offset, (len as u64).min(MAX_READ))
            .map_err(|e| fail(500, e.to_string()))
    }

    fn read_upload(&mut self, offset: u64, len: u32) -> Result<Vec<u8>, Failure> {
        // The caller's own body is readable even on a login path.
        let h = self
            .repo
            .as_ref()
            .ok_or_else(|| fail(500, "this plugin kind has no repository"))?;
        let d = h.upload.as_ref().ok_or_else(|| fail(400, "the request has no body"))?;
        h.artifacts
            .blobs
            .read_range(&d.sha256, offset, (len as u64).min(MAX_READ))
            .map_err(|e| fail(500, e.to_string()))
    }

    fn commit_upload(
        &mut self,
        path: String,
        offset: u64,
        len: Option<u64>,
        properties: Vec<(String, Vec<String>)>,
    ) -> Result<Artifact, Failure> {
        let h = host(self)?;
        let p = clean(&path)?;
        let d = h.upload.clone().ok_or_else(|| fail(400, "the request has no body"))?;
        let props = to_props(&properties);
        let whole = offset == 0 && len.is_none_or(|l| l == d.size);
        if whole {
            return h.record(&p, d, props, true);
        }
        let len = len.unwrap_or(d.size.saturating_sub(offset));
        if offset.checked_add(len).is_none_or(|end| end > d.size) {
            return Err(fail(
                400,
                format!("range {offset}+{len} is outside the {}-byte upload", d.size),
            ));
        }
        let (digests, _pin) = upload::store_range(h.artifacts.blobs.as_ref(), &d.sha256, offset, len)
            .map_err(|e| fail(500, e.to_string()))?;
        h.record(&p, digests, props, true)
    }

    fn put(
        &mut self,
        path: String,
        data: Vec<u8>,
        properties: Vec<(String, Vec<String>)>,
    ) -> Result<Artifact, Failure> {
        let h = host(self)?;
        if data.len() > MAX_PUT {
            return Err(fail(413, format!("put of {} bytes; at most {MAX_PUT}", data.len())));
        }
        let p = clean(&path)?;
        let (digests, _pin) =
            upload::store_bytes(h.artifacts.blobs.as_ref(), &data).map_err(|e| fail(500, e.to_string()))?;
        h.record(&p, digests, to_props(&properties), false)
    }

    fn delete(&mut self, path: String) -> Result<(), Failure> {
        let h = host(self)?;
        let p = clean(&path)?;
        let changes = h.artifacts.delete_changes(&h.repo.key, &p).map_err(from_api)?;
        h.meta().apply(&changes).map_err(|e| fail(500, e.to_string()))
    }

    fn set_properties(&mut self, path: String, changes: Vec<(String, Option<Vec<String>>)>) -> Result<(), Failure> {
        let h = host(self)?;
        let p = clean(&path)?;
        let mut item = h
            .meta()
            .item(&h.repo.key, &p)
            .map_err(|e| fail(500, e.to_string()))?
            .ok_or_else(|| fail(404, format!("no item '{p}'")))?;
        let mut events = Vec::new();
        for (k, v) in changes {
            crate::artifacts::paths::check_property_key(&k).map_err(from_api)?;
            match v {
                Some(v) => {
                    events.push(EventRecord::property("property_added", &h.repo.key, &p, &item, &k, &v));
                    item.props.insert(k, v);
                }
                None => {
                    if let Some(old) = item.props.remove(&k) {
                        events.push(EventRecord::property(
                            "property_deleted",
                            &h.repo.key,
                            &p,
                            &item,
                            &k,
                            &old,
                        ));
                    }
                }
            }
        }
        item.modified = clock::now_ms();
        let mut all = vec![Change::Put {
            repo: h.repo.key.clone(),
            path: p,
            item: Box::new(item),
        }];
        all.extend(events.iter().map(EventRecord::change));
        h.meta().apply(&all).map_err(|e| fail(500, e.to_string()))
    }

    fn kv_get(&mut self, key: String) -> Option<Vec<u8>> {
        let h = readable(self)?;
        h.meta().kv_get(&h.repo.key, &key).ok()?
    }

    fn kv_put(&mut self, key: String, value: Vec<u8>) -> Result<(), Failure> {
        let h = host(self)?;
        if key.is_empty() || key.len() > MAX_KV_KEY || value.len() > MAX_KV_VALUE {
            return Err(fail(
                413,
                format!("kv keys are 1..{MAX_KV_KEY} bytes and values at most {MAX_KV_VALUE}"),
            ));
        }
        h.meta()
            .kv_put(&h.repo.key, &key, &value)
            .map_err(|e| fail(500, e.to_string()))
    }

    fn kv_delete(&mut self, key: String) -> Result<(), Failure> {
        let h = host(self)?;
        h.meta()
            .kv_delete(&h.repo.key, &key)
            .map_err(|e| fail(500, e.to_string()))
    }

    fn emit_event(&mut self, event_type: String, path: String, data: String) -> Result<(), Failure> {
        let h = host(self)?;
        let Some((_, domain)) = crate::events::FORMAT_EVENTS.iter().find(|(t, _)| *t == event_type) else {
            let known: Vec<&str> = crate::events::FORMAT_EVENTS.iter().map(|(t, _)| *t).collect();
            return Err(fail(
                400,
                format!("unknown format event '{event_type}': use one of {}", known.join(", ")),
            ));
        };
        let p = clean(&path)?;
        if data.len() > MAX_EVENT_DATA {
            return Err(fail(400, format!("event data is larger than {MAX_EVENT_DATA} bytes")));
        }
        let mut v: serde_json::Value =
            serde_json::from_str(&data).map_err(|e| fail(400, format!("event data is not JSON: {e}")))?;
        let Some(o) = v.as_object_mut() else {
            return Err(fail(400, "event data must be a JSON object"));
        };
        // Where the event happened is the host's to say.
        o.insert("repo_key".into(), h.repo.key.clone().into());
        o.insert("path".into(), p.clone().into());
        let mut emitted = h.emitted.lock().unwrap_or_else(|e| e.into_inner());
        if emitted.len() >= MAX_EVENTS {
            return Err(fail(429, format!("a request may emit at most {MAX_EVENTS} events")));
        }
        emitted.push(EventRecord::other(domain, &event_type, &h.repo.key, &p, v));
        Ok(())
    }

    fn fetch_upstream(&mut self, path: String) -> Result<BlobInfo, Failure> {
        Err(fail(
            501,
            format!("fetching '{path}' from an upstream is not available yet"),
        ))
    }
}

impl accounts::Host for StoreData {
    fn login(&mut self, username: String, password: String, description: String) -> Result<String, Failure> {
        let auth = self
            .repo
            .as_ref()
            .and_then(|h| h.auth.clone())
            .ok_or_else(|| fail(501, "logins are not available to this plugin"))?;
        // The plugin call runs on a blocking thread, so argon2 may run here.
        auth.check_password(&username, &password).map_err(from_api)?;
        let issued = auth
            .issue_token(NewToken {
                username,
                scope: "applied-permissions/user".into(),
                expires_in: None,
                refreshable: false,
                description: description.chars().take(256).collect(),
                audience: None,
            })
            .map_err(from_api)?;
        Ok(issued.access_token)
    }
}

impl log::Host for StoreData {
    fn emit(&mut self, level: log::Level, message: String) {
        let plugin = self.plugin.as_str();
        let message: String = message.chars().take(4096).collect();
        match level {
            log::Level::Debug => tracing::debug!(plugin, "{message}"),
            log::Level::Info => tracing::info!(plugin, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, "{message}"),
            log::Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}
