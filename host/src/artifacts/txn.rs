//! A write transaction of the artifact service: the one path every write takes
//! (generic deploys and everything a plugin does during a request). Writes are
//! checked when they are made (paths, overwrite permission, quota) and held; reads
//! see the pending writes; `commit` records them all in one metadata transaction,
//! or nothing. A transaction that tracks its reads also commits only if what it read
//! is still what is stored, so racing requests cannot both act on the same old state.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{ArtifactError, Quota, mime_of, paths};
use crate::clock;
use crate::events::EventRecord;
use crate::repos::RepoConfig;
use crate::storage::{BlobPin, Change, Checksums, Digests, Expectation, Item, MetaStore, Properties};

/// A file to record.
pub struct FileWrite<'a> {
    pub repo: &'a RepoConfig,
    pub path: &'a str,
    pub by: &'a str,
    pub digests: Digests,
    /// Checksums the client announced (kept as the item's "original" checksums).
    pub expected: Checksums,
    pub props: Properties,
    /// The caller may replace an existing file.
    pub may_overwrite: bool,
}

type Key = (String, String);

/// One transaction (see the module documentation).
pub struct Txn {
    meta: Arc<dyn MetaStore>,
    quota: Arc<dyn Quota>,
    track_reads: bool,
    /// What was read from the store, checked again at commit (`track_reads`).
    expects: Vec<Expectation>,
    read_items: HashMap<Key, ()>,
    read_kv: HashMap<Key, ()>,
    read_children: HashMap<Key, ()>,
    /// Pending items (`None`: deleted) and key-value entries.
    items: HashMap<Key, Option<Item>>,
    kv: HashMap<Key, Option<Vec<u8>>>,
    changes: Vec<Change>,
    /// Bytes added per repository, for the quota.
    added: HashMap<String, i64>,
    /// Blobs the pending writes reference, safe from GC until the commit.
    pins: Vec<BlobPin>,
}

fn key(repo: &str, path: &str) -> Key {
    (repo.to_string(), path.to_string())
}

fn parent(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

impl Txn {
    pub(super) fn new(meta: Arc<dyn MetaStore>, quota: Arc<dyn Quota>, track_reads: bool) -> Txn {
        Txn {
            meta,
            quota,
            track_reads,
            expects: Vec::new(),
            read_items: HashMap::new(),
            read_kv: HashMap::new(),
            read_children: HashMap::new(),
            items: HashMap::new(),
            kv: HashMap::new(),
            changes: Vec::new(),
            added: HashMap::new(),
            pins: Vec::new(),
        }
    }

    /// Whether the transaction would write anything.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Whether a pending write marks a file staged (`binyard.staged`): the mark is
    /// what keeps the file from garbage collection, so a request that answered "it is
    /// there" on the strength of marking it cannot drop the mark like a cache.
    pub fn marks_staged(&self) -> bool {
        self.changes
            .iter()
            .any(|c| matches!(c, Change::Put { item, .. } if item.props.contains_key(super::reads::STAGED_PROPERTY)))
    }

    /// Keeps a blob from garbage collection until the transaction ends.
    pub fn pin(&mut self, pin: BlobPin) {
        self.pins.push(pin);
    }

    /// An item as this transaction sees it.
    pub fn item(&mut self, repo: &str, path: &str) -> Result<Option<Item>, ArtifactError> {
        let k = key(repo, path);
        if let Some(i) = self.items.get(&k) {
            return Ok(i.clone());
        }
        let found = self.meta.item(repo, path)?;
        if self.track_reads && self.read_items.insert(k, ()).is_none() {
            self.expects.push(Expectation::Item {
                repo: repo.to_string(),
                path: path.to_string(),
                item: found.clone().map(Box::new),
            });
        }
        Ok(found)
    }

    /// The direct children of a folder (`""`: the root), by name, with pending writes.
    pub fn children(&mut self, repo: &str, folder: &str) -> Result<Vec<(String, Item)>, ArtifactError> {
        let stored = self.meta.children(repo, folder)?;
        let k = key(repo, folder);
        if self.track_reads && self.read_children.insert(k, ()).is_none() {
            self.expects.push(Expectation::Children {
                repo: repo.to_string(),
                folder: folder.to_string(),
                children: stored.clone(),
            });
        }
        let mut out: BTreeMap<String, Item> = stored.into_iter().collect();
        for ((r, p), i) in &self.items {
            if r != repo || p.is_empty() || parent(p) != folder {
                continue;
            }
            let name = p.rsplit('/').next().unwrap_or(p).to_string();
            match i {
                Some(i) => out.insert(name, i.clone()),
                None => out.remove(&name),
            };
        }
        Ok(out.into_iter().collect())
    }

    /// A value of a repository's key-value space.
    pub fn kv_get(&mut self, repo: &str, k: &str) -> Result<Option<Vec<u8>>, ArtifactError> {
        let kk = key(repo, k);
        if let Some(v) = self.kv.get(&kk) {
            return Ok(v.clone());
        }
        let found = self.meta.kv_get(repo, k)?;
        if self.track_reads && self.read_kv.insert(kk, ()).is_none() {
            self.expects.push(Expectation::Kv {
                repo: repo.to_string(),
                key: k.to_string(),
                value: found.clone(),
            });
        }
        Ok(found)
    }

    /// Sets (`Some`) or removes a value of a repository's key-value space.
    pub fn kv_set(&mut self, repo: &str, k: &str, value: Option<Vec<u8>>) {
        self.kv.insert(key(repo, k), value.clone());
        self.changes.push(Change::Kv {
            repo: repo.to_string(),
            key: k.to_string(),
            value,
        });
    }

    /// Records an event with the writes.
    pub fn event(&mut self, e: &EventRecord) {
        self.changes.push(e.change());
    }

    fn put_item(&mut self, repo: &str, path: &str, item: Item) {
        self.items.insert(key(repo, path), Some(item.clone()));
        self.changes.push(Change::Put {
            repo: repo.to_string(),
            path: path.to_string(),
            item: Box::new(item),
        });
    }

    /// Records a file, with the checks every deploy gets and a `deployed` event.
    pub fn put_file(&mut self, w: FileWrite<'_>) -> Result<Item, ArtifactError> {
        let repo = &w.repo.key;
        if w.path.is_empty() {
            return Err(ArtifactError::Invalid(
                "A file needs a path inside the repository".into(),
            ));
        }
        if !w.repo.accepts_path(w.path) {
            return Err(ArtifactError::Conflict(format!(
                "The repository '{repo}' rejected the path '{}': it does not match the include/exclude patterns",
                w.path
            )));
        }
        let existing = self.item(repo, w.path)?;
        match &existing {
            Some(i) if i.folder => {
                return Err(ArtifactError::Conflict(format!(
                    "'{repo}/{}' is a folder: a file cannot replace it",
                    w.path
                )));
            }
            Some(_) if !w.may_overwrite => {
                return Err(ArtifactError::Forbidden(format!(
                    "'{repo}/{}' exists and overwriting needs the delete permission",
                    w.path
                )));
            }
            None if !w.may_overwrite && !self.track_reads => {
                // Checked again inside the transaction: of concurrent deploys to a free
                // path by callers who may not overwrite, exactly one wins.
                self.changes.push(Change::ExpectAbsent {
                    repo: repo.clone(),
                    path: w.path.to_string(),
                });
            }
            _ => {}
        }
        // Parent folders: a file in the way is refused now, missing ones appear.
        let now = clock::now_ms();
        let mut missing = Vec::new();
        let mut at = parent(w.path);
        while !at.is_empty() {
            match self.item(repo, at)? {
                Some(p) if p.folder => break,
                Some(_) => {
                    return Err(ArtifactError::Conflict(format!(
                        "'{repo}/{at}' is a file, not a folder"
                    )));
                }
                None => missing.push(at.to_string()),
            }
            at = parent(at);
        }
        for f in missing {
            self.items.insert(key(repo, &f), Some(Item::new_folder(w.by, now)));
        }
        let mut original = w.expected;
        original.sha256 = Some(w.digests.sha256.clone());
        let item = Item {
            folder: false,
            mime: mime_of(w.path),
            original,
            created: existing.as_ref().map_or(now, |e| e.created),
            created_by: existing
                .as_ref()
                .map_or_else(|| w.by.to_string(), |e| e.created_by.clone()),
            modified: now,
            modified_by: w.by.to_string(),
            blob: Some(w.digests),
            props: w.props,
        };
        let grow = item.size() as i64 - existing.as_ref().map_or(0, |e| e.size() as i64);
        let added = self.added.entry(repo.clone()).or_default();
        *added += grow;
        let total = *added;
        self.quota.check(repo, total)?;
        let event = EventRecord::artifact("deployed", repo, w.path, &item);
        self.put_item(repo, w.path, item.clone());
        self.event(&event);
        Ok(item)
    }

    /// Deletes a file, or a folder with everything under it (a `deleted` event per
    /// file); answers how many items go.
    pub fn delete(&mut self, repo: &str, path: &str) -> Result<usize, ArtifactError> {
        let item = if path.is_empty() {
            Item::new_folder("", 0)
        } else {
            self.item(repo, path)?
                .ok_or_else(|| ArtifactError::NotFound(format!("Could not find item '{repo}/{path}'")))?
        };
        let mut gone = Vec::new();
        if item.folder {
            let mut stack = vec![path.to_string()];
            while let Some(dir) = stack.pop() {
                for (name, i) in self.children(repo, &dir)? {
                    let p = paths::join(&dir, &name);
                    if i.folder {
                        stack.push(p.clone());
                    }
                    gone.push((p, i));
                }
            }
            // Children before their folders.
            gone.sort_by(|a, b| b.0.cmp(&a.0));
        }
        if !path.is_empty() {
            gone.push((path.to_string(), item));
        }
        let mut events = Vec::new();
        for (p, i) in &gone {
            if !i.folder {
                events.push(EventRecord::artifact("deleted", repo, p, i));
                *self.added.entry(repo.to_string()).or_default() -= i.size() as i64;
            }
            self.items.insert(key(repo, p), None);
            self.changes.push(Change::Delete {
                repo: repo.to_string(),
                path: p.clone(),
            });
        }
        for e in &events {
            self.event(e);
        }
        Ok(gone.len())
    }

    /// Sets (`Some`) or removes (`None`) properties of an item, with events.
    pub fn set_properties(
        &mut self,
        repo: &str,
        path: &str,
        changes: &[(String, Option<Vec<String>>)],
        by: &str,
    ) -> Result<Item, ArtifactError> {
        let mut item = self
            .item(repo, path)?
            .ok_or_else(|| ArtifactError::NotFound(format!("Could not find item '{repo}/{path}'")))?;
        let mut events = Vec::new();
        for (k, v) in changes {
            paths::check_property_key(k)?;
            match v {
                Some(v) => {
                    item.props.insert(k.clone(), v.clone());
                    events.push(EventRecord::property("property_added", repo, path, &item, k, v));
                }
                None => {
                    if let Some(old) = item.props.remove(k) {
                        events.push(EventRecord::property("property_deleted", repo, path, &item, k, &old));
                    }
                }
            }
        }
        item.modified = clock::now_ms();
        item.modified_by = by.to_string();
        self.put_item(repo, path, item.clone());
        for e in &events {
            self.event(e);
        }
        Ok(item)
    }

    /// Records everything in one metadata transaction (blocking), or nothing.
    pub fn commit(mut self) -> Result<(), ArtifactError> {
        if self.changes.is_empty() {
            return Ok(());
        }
        let mut all: Vec<Change> = self.expects.drain(..).map(Change::Expect).collect();
        all.append(&mut self.changes);
        self.meta.apply(&all)?;
        for c in &all {
            if let Change::Put { repo, item, .. } = c
                && !item.folder
            {
                crate::observe::deployed(repo);
            }
        }
        Ok(())
    }
}
