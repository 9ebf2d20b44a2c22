//! The embedded metadata store on redb.
//!
//! Item keys are `repo \0 parent \0 name`, so a folder's direct children are one
//! contiguous range and a repository is one prefix.

use std::collections::HashMap;
use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, Table, TableDefinition};
use serde::{Deserialize, Serialize};

use super::{Change, Digests, Expectation, Item, MetaStore, RecordWrite, RepoCounters, Stats, StoreError, StoreTotals};

const ITEMS: TableDefinition<&str, &[u8]> = TableDefinition::new("items");
const BLOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("blobs");
/// Blobs whose reference count dropped to zero: the garbage collector's work list.
const UNREFERENCED: TableDefinition<&str, ()> = TableDefinition::new("unreferenced");
const SHA1: TableDefinition<&str, &str> = TableDefinition::new("sha1_to_sha256");
const REPOS: TableDefinition<&str, &[u8]> = TableDefinition::new("repos");
/// Security records (users, groups, tokens, permission targets, projects), keyed `kind\0name`.
const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");
const STATS: TableDefinition<&str, &[u8]> = TableDefinition::new("stats");
const COUNTERS: TableDefinition<&str, &[u8]> = TableDefinition::new("counters");
/// Plugins' per-repository key-value space: `repo \0 key`.
const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
/// Where each blob is used: `sha256 \0 repo \0 path` (builds find their files by checksum).
const PLACES: TableDefinition<&str, ()> = TableDefinition::new("places");
/// Marks (in COUNTERS) that PLACES covers every item, for databases made before it existed.
const PLACES_BUILT_KEY: &str = "\0places-built";
/// The event outbox: sequence number → event JSON.
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
const TOTALS_KEY: &str = "\0totals";

#[derive(Debug, Serialize, Deserialize)]
struct BlobRow {
    #[serde(flatten)]
    digests: Digests,
    refs: u64,
}

/// redb-backed `MetaStore`.
pub struct RedbMeta {
    db: Database,
    /// `repo_stamp`: bumped after each commit that touched the repository.
    stamps: std::sync::RwLock<HashMap<String, u64>>,
}

fn item_key(repo: &str, path: &str) -> String {
    let (parent, name) = match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    };
    format!("{repo}\0{parent}\0{name}")
}

/// The exclusive end of the key range that starts with `prefix` (which ends in `\0`).
fn prefix_end(prefix: &str) -> String {
    let mut end = prefix[..prefix.len() - 1].to_string();
    end.push('\u{1}');
    end
}

fn conflict(msg: String) -> StoreError {
    StoreError::Conflict(msg)
}

impl RedbMeta {
    /// Opens (or creates) the database file and its tables.
    pub fn open(path: &Path) -> Result<RedbMeta, StoreError> {
        Self::init(Database::create(path)?)
    }

    /// A database that lives in memory only (tests, plugin harness).
    pub fn in_memory() -> Result<RedbMeta, StoreError> {
        Self::init(Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?)
    }

    fn init(db: Database) -> Result<RedbMeta, StoreError> {
        let txn = db.begin_write()?;
        txn.open_table(ITEMS)?;
        txn.open_table(BLOBS)?;
        txn.open_table(UNREFERENCED)?;
        txn.open_table(SHA1)?;
        txn.open_table(REPOS)?;
        txn.open_table(RECORDS)?;
        txn.open_table(STATS)?;
        txn.open_table(COUNTERS)?;
        txn.open_table(KV)?;
        txn.open_table(EVENTS)?;
        txn.open_table(PLACES)?;
        build_places(&txn)?;
        txn.commit()?;
        Ok(RedbMeta {
            db,
            stamps: Default::default(),
        })
    }

    /// Marks repositories changed; called after the commit (a reader that saw the old
    /// stamp may have read old data, never the reverse).
    fn bump<'a>(&self, repos: impl IntoIterator<Item = &'a str>) {
        let mut s = self.stamps.write().unwrap_or_else(|e| e.into_inner());
        for r in repos {
            match s.get_mut(r) {
                Some(n) => *n += 1,
                None => {
                    s.insert(r.to_string(), 1);
                }
            }
        }
    }
}

fn place_key(sha256: &str, repo: &str, path: &str) -> String {
    format!("{sha256}\0{repo}\0{path}")
}

/// Fills the placement index from the items once (databases older than the index).
fn build_places(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
    let mut counters = txn.open_table(COUNTERS)?;
    if counters.get(PLACES_BUILT_KEY)?.is_some() {
        return Ok(());
    }
    let items = txn.open_table(ITEMS)?;
    let mut places = txn.open_table(PLACES)?;
    for e in items.iter()? {
        let (k, v) = e?;
        let item: Item = serde_json::from_slice(v.value())?;
        let Some(b) = &item.blob else { continue };
        let mut parts = k.value().splitn(3, '\0');
        let (repo, parent, name) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let path = if parent.is_empty() {
            name.to_string()
        } else {
            format!("{parent}/{name}")
        };
        places.insert(place_key(&b.sha256, repo, &path).as_str(), ())?;
    }
    counters.insert(PLACES_BUILT_KEY, b"1".as_slice())?;
    Ok(())
}

/// The tables one write transaction works on, with counters batched until the end.
struct Writer<'t> {
    items: Table<'t, &'static str, &'static [u8]>,
    blobs: Table<'t, &'static str, &'static [u8]>,
    unreferenced: Table<'t, &'static str, ()>,
    sha1: Table<'t, &'static str, &'static str>,
    places: Table<'t, &'static str, ()>,
    stats: Table<'t, &'static str, &'static [u8]>,
    counters: Table<'t, &'static str, &'static [u8]>,
    repo_counters: HashMap<String, RepoCounters>,
    totals: Option<StoreTotals>,
}

impl<'t> Writer<'t> {
    fn new(txn: &'t redb::WriteTransaction) -> Result<Self, StoreError> {
        Ok(Writer {
            items: txn.open_table(ITEMS)?,
            blobs: txn.open_table(BLOBS)?,
            unreferenced: txn.open_table(UNREFERENCED)?,
            sha1: txn.open_table(SHA1)?,
            places: txn.open_table(PLACES)?,
            stats: txn.open_table(STATS)?,
            counters: txn.open_table(COUNTERS)?,
            repo_counters: HashMap::new(),
            totals: None,
        })
    }

    fn counters_of(&mut self, repo: &str) -> Result<&mut RepoCounters, StoreError> {
        if !self.repo_counters.contains_key(repo) {
            let c = match self.counters.get(repo)? {
                Some(v) => serde_json::from_slice(v.value())?,
                None => RepoCounters::default(),
            };
            self.repo_counters.insert(repo.to_string(), c);
        }
        Ok(self.repo_counters.get_mut(repo).expect("inserted above"))
    }

    fn totals(&mut self) -> Result<&mut StoreTotals, StoreError> {
        if self.totals.is_none() {
            let t = match self.counters.get(TOTALS_KEY)? {
                Some(v) => serde_json::from_slice(v.value())?,
                None => StoreTotals::default(),
            };
            self.totals = Some(t);
        }
        Ok(self.totals.as_mut().expect("set above"))
    }

    fn get(&self, key: &str) -> Result<Option<Item>, StoreError> {
        Ok(match self.items.get(key)? {
            Some(v) => Some(serde_json::from_slice(v.value())?),
            None => None,
        })
    }

    fn add_ref(&mut self, d: &Digests) -> Result<(), StoreError> {
        let row = match self.blobs.get(d.sha256.as_str())? {
            Some(v) => {
                let mut row: BlobRow = serde_json::from_slice(v.value())?;
                row.refs += 1;
                row
            }
            None => {
                self.sha1.insert(d.sha1.as_str(), d.sha256.as_str())?;
                BlobRow {
                    digests: d.clone(),
                    refs: 1,
                }
            }
        };
        if row.refs == 1 {
            self.unreferenced.remove(d.sha256.as_str())?;
            let t = self.totals()?;
            t.blobs += 1;
            t.blob_bytes += d.size;
        }
        self.blobs
            .insert(d.sha256.as_str(), serde_json::to_vec(&row)?.as_slice())?;
        Ok(())
    }

    fn drop_ref(&mut self, d: &Digests) -> Result<(), StoreError> {
        let Some(mut row) = (match self.blobs.get(d.sha256.as_str())? {
            Some(v) => Some(serde_json::from_slice::<BlobRow>(v.value())?),
            None => None,
        }) else {
            return Ok(());
        };
        row.refs = row.refs.saturating_sub(1);
        if row.refs == 0 {
            self.unreferenced.insert(d.sha256.as_str(), ())?;
            let t = self.totals()?;
            t.blobs = t.blobs.saturating_sub(1);
            t.blob_bytes = t.blob_bytes.saturating_sub(d.size);
        }
        self.blobs
            .insert(d.sha256.as_str(), serde_json::to_vec(&row)?.as_slice())?;
        Ok(())
    }

    fn count(&mut self, repo: &str, item: &Item, sign: i64) -> Result<(), StoreError> {
        let c = self.counters_of(repo)?;
        let add = |v: &mut u64, n: u64| {
            *v = if sign > 0 {
                v.saturating_add(n)
            } else {
                v.saturating_sub(n)
            }
        };
        if item.folder {
            add(&mut c.folders, 1);
        } else {
            add(&mut c.files, 1);
            add(&mut c.bytes, item.size());
        }
        Ok(())
    }

    fn put(&mut self, repo: &str, path: &str, item: &Item) -> Result<(), StoreError> {
        // Missing parent folders are created; a file in the way is a conflict.
        let mut at = 0;
        while let Some(i) = path[at..].find('/') {
            let parent = &path[..at + i];
            let key = item_key(repo, parent);
            match self.get(&key)? {
                Some(p) if p.folder => {}
                Some(_) => return Err(conflict(format!("'{parent}' is a file, not a folder"))),
                None => {
                    let f = Item::new_folder(&item.modified_by, item.modified);
                    self.items.insert(key.as_str(), serde_json::to_vec(&f)?.as_slice())?;
                    self.count(repo, &f, 1)?;
                }
            }
            at += i + 1;
        }
        let key = item_key(repo, path);
        if let Some(old) = self.get(&key)? {
            if old.folder != item.folder {
                let what = if old.folder { "folder" } else { "file" };
                return Err(conflict(format!("'{path}' is already a {what}")));
            }
            if let Some(b) = &old.blob {
                self.drop_ref(b)?;
                self.places.remove(place_key(&b.sha256, repo, path).as_str())?;
            }
            self.count(repo, &old, -1)?;
        }
        if let Some(b) = &item.blob {
            self.add_ref(b)?;
            self.places.insert(place_key(&b.sha256, repo, path).as_str(), ())?;
        }
        self.count(repo, item, 1)?;
        self.items.insert(key.as_str(), serde_json::to_vec(item)?.as_slice())?;
        Ok(())
    }

    fn delete(&mut self, repo: &str, path: &str) -> Result<(), StoreError> {
        let key = item_key(repo, path);
        let old = match self.items.remove(key.as_str())? {
            Some(v) => serde_json::from_slice::<Item>(v.value())?,
            None => return Ok(()),
        };
        if let Some(b) = &old.blob {
            self.drop_ref(b)?;
            self.places.remove(place_key(&b.sha256, repo, path).as_str())?;
        }
        self.count(repo, &old, -1)?;
        self.stats.remove(key.as_str())?;
        Ok(())
    }

    /// Checks an expectation against what this transaction sees.
    fn expect(&self, kv: &Table<'t, &'static str, &'static [u8]>, e: &Expectation) -> Result<(), StoreError> {
        let (holds, what) = match e {
            Expectation::Item { repo, path, item } => {
                let now = self.get(&item_key(repo, path))?;
                (now.as_ref() == item.as_deref(), format!("'{repo}/{path}'"))
            }
            Expectation::Kv { repo, key, value } => {
                let now = kv.get(format!("{repo}\0{key}").as_str())?;
                (
                    now.as_ref().map(|v| v.value()) == value.as_deref(),
                    format!("key '{key}' of '{repo}'"),
                )
            }
            Expectation::Children { repo, folder, children } => {
                let prefix = format!("{repo}\0{folder}\0");
                let end = prefix_end(&prefix);
                let mut now = Vec::new();
                for e in self.items.range(prefix.as_str()..end.as_str())? {
                    let (k, v) = e?;
                    now.push((
                        k.value()[prefix.len()..].to_string(),
                        serde_json::from_slice::<Item>(v.value())?,
                    ));
                }
                (&now == children, format!("the folder '{repo}/{folder}'"))
            }
        };
        if holds { Ok(()) } else { Err(StoreError::Stale(what)) }
    }

    fn finish(mut self) -> Result<(), StoreError> {
        for (repo, c) in std::mem::take(&mut self.repo_counters) {
            self.counters
                .insert(repo.as_str(), serde_json::to_vec(&c)?.as_slice())?;
        }
        if let Some(t) = self.totals {
            self.counters.insert(TOTALS_KEY, serde_json::to_vec(&t)?.as_slice())?;
        }
        Ok(())
    }
}

impl MetaStore for RedbMeta {
    fn repos(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let r = self.db.begin_read()?;
        let t = r.open_table(REPOS)?;
        let mut out = Vec::new();
        for e in t.iter()? {
            let (k, v) = e?;
            out.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn put_repo(&self, key: &str, config: &[u8]) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        txn.open_table(REPOS)?.insert(key, config)?;
        txn.commit()?;
        self.bump([key]);
        Ok(())
    }

    fn delete_repo(&self, key: &str) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let prefix = format!("{key}\0");
            let end = prefix_end(&prefix);
            let mut w = Writer::new(&txn)?;
            let mut doomed = Vec::new();
            for e in w.items.range(prefix.as_str()..end.as_str())? {
                let (k, v) = e?;
                let item: Item = serde_json::from_slice(v.value())?;
                doomed.push((k.value().to_string(), item));
            }
            for (k, item) in doomed {
                w.items.remove(k.as_str())?;
                w.stats.remove(k.as_str())?;
                if let Some(b) = &item.blob {
                    w.drop_ref(b)?;
                    let mut parts = k.splitn(3, '\0').skip(1);
                    let (parent, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                    let path = if parent.is_empty() {
                        name.to_string()
                    } else {
                        format!("{parent}/{name}")
                    };
                    w.places.remove(place_key(&b.sha256, key, &path).as_str())?;
                }
            }
            w.counters.remove(key)?;
            w.finish()?;
            let mut kv = txn.open_table(KV)?;
            let doomed: Vec<String> = kv
                .range(prefix.as_str()..end.as_str())?
                .map(|e| e.map(|(k, _)| k.value().to_string()))
                .collect::<Result<_, _>>()?;
            for k in doomed {
                kv.remove(k.as_str())?;
            }
            txn.open_table(REPOS)?.remove(key)?;
        }
        txn.commit()?;
        self.bump([key]);
        Ok(())
    }

    fn item(&self, repo: &str, path: &str) -> Result<Option<Item>, StoreError> {
        let r = self.db.begin_read()?;
        let t = r.open_table(ITEMS)?;
        Ok(match t.get(item_key(repo, path).as_str())? {
            Some(v) => Some(serde_json::from_slice(v.value())?),
            None => None,
        })
    }

    fn children(&self, repo: &str, folder: &str) -> Result<Vec<(String, Item)>, StoreError> {
        let r = self.db.begin_read()?;
        let t = r.open_table(ITEMS)?;
        let prefix = format!("{repo}\0{folder}\0");
        let end = prefix_end(&prefix);
        let mut out = Vec::new();
        for e in t.range(prefix.as_str()..end.as_str())? {
            let (k, v) = e?;
            let name = k.value()[prefix.len()..].to_string();
            out.push((name, serde_json::from_slice(v.value())?));
        }
        Ok(out)
    }

    fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut w = Writer::new(&txn)?;
            let mut events = txn.open_table(EVENTS)?;
            let mut records = txn.open_table(RECORDS)?;
            let mut kv = txn.open_table(KV)?;
            let mut next = None;
            for c in changes {
                match c {
                    Change::Expect(e) => w.expect(&kv, e)?,
                    Change::Kv { repo, key, value } => {
                        let k = format!("{repo}\0{key}");
                        match value {
                            Some(v) => kv.insert(k.as_str(), v.as_slice())?,
                            None => kv.remove(k.as_str())?,
                        };
                    }
                    Change::Put { repo, path, item } => w.put(repo, path, item)?,
                    Change::Delete { repo, path } => w.delete(repo, path)?,
                    Change::Event(json) => {
                        let seq = match next {
                            Some(n) => n,
                            None => events.last()?.map_or(0, |(k, _)| k.value()) + 1,
                        };
                        events.insert(seq, json.as_slice())?;
                        next = Some(seq + 1);
                    }
                    Change::Record(r) => {
                        let key = format!("{}\0{}", r.kind, r.key);
                        match &r.value {
                            Some(v) => records.insert(key.as_str(), v.as_slice())?,
                            None => records.remove(key.as_str())?,
                        };
                    }
                }
            }
            w.finish()?;
        }
        txn.commit()?;
        self.bump(changes.iter().filter_map(|c| match c {
            Change::Put { repo, .. } | Change::Delete { repo, .. } | Change::Kv { repo, .. } => Some(repo.as_str()),
            Change::Event(_) | Change::Record(_) | Change::Expect(_) => None,
        }));
        Ok(())
    }

    fn blob(&self, sha256: &str) -> Result<Option<Digests>, StoreError> {
        let r = self.db.begin_read()?;
        let t = r.open_table(BLOBS)?;
        Ok(match t.get(sha256)? {
            Some(v) => Some(serde_json::from_slice::<BlobRow>(v.value())?.digests),
            None => None,
        })
    }

    fn blob_by_sha1(&self, sha1: &str) -> Result<Option<String>, StoreError> {
        let r = self.db.begin_read()?;
        let t = r.open_table(SHA1)?;
        Ok(t.get(sha1)?.map(|v| v.value().to_string()))
    }

    fn placements(&self, sha256: &str) -> Result<Vec<(String, String)>, StoreError> {
        let r = self.db.begin_read()?;
        let t = r.open_table(PLACES)?;
        let start = format!("{sha256}\0");
        let end = prefix_end(&start);
        let mut out = Vec::new();
        for e in t.range(start.as_str()..end.as_str())? {
            let (k, _) = e?;
            if let Some((repo, path)) = k.value()[start.len()..].split_once('\0') {
                out.push((repo.to_string(), path.to_string()));
            }
        }
        Ok(out)
    }

    fn unreferenced_blobs(&self) -> Result<Vec<String>, StoreError> {
        let r = self.db.begin_read()?;
        let t = r.open_table(UNREFERENCED)?;
        let mut out = Vec::new();
        for e in t.iter()? {
            out.push(e?.0.value().to_string());
        }
        Ok(out)
    }

    fn forget_unreferenced(&self, sha256s: &[String]) -> Result<Vec<(String, u64)>, StoreError> {
        let txn = self.db.begin_write()?;
        let mut gone = Vec::new();
        {
            let mut blobs = txn.open_table(BLOBS)?;
            let mut unref = txn.open_table(UNREFERENCED)?;
            let mut sha1 = txn.open_table(SHA1)?;
            for sha in sha256s {
                let row = match blobs.get(sha.as_str())? {
                    Some(v) => serde_json::from_slice::<BlobRow>(v.value())?,
                    None => continue,
                };
                if row.refs > 0 {
                    continue;
                }
                blobs.remove(sha.as_str())?;
                unref.remove(sha.as_str())?;
                sha1.remove(row.digests.sha1.as_str())?;
                gone.push((sha.clone(), row.digests.size));
            }
        }
        txn.commit()?;
        Ok(gone)
    }

    fn kv_get(&self, repo: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let r = self.db.begin_read()?;
        let t = r.open_table(KV)?;
        Ok(t.get(format!("{repo}\0{key}").as_str())?.map(|v| v.value().to_vec()))
    }

    fn kv_put(&self, repo: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        txn.open_table(KV)?.insert(format!("{repo}\0{key}").as_str(), value)?;
        txn.commit()?;
        self.bump([repo]);
        Ok(())
    }

    fn kv_delete(&self, repo: &str, key: &str) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        txn.open_table(KV)?.remove(format!("{repo}\0{key}").as_str())?;
        txn.commit()?;
        self.bump([repo]);
        Ok(())
    }

    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let r = self.db.begin_read()?;
        let t = r.open_table(EVENTS)?;
        let mut out = Vec::new();
        for row in t.range(after.saturating_add(1)..)?.take(limit) {
            let (k, v) = row?;
            out.push((k.value(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn last_event_seq(&self) -> Result<u64, StoreError> {
        let r = self.db.begin_read()?;
        let t = r.open_table(EVENTS)?;
        Ok(t.last()?.map_or(0, |(k, _)| k.value()))
    }

    fn purge_events(&self, upto: u64) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(EVENTS)?;
            // The newest event stays: sequence numbers continue from it.
            let last = t.last()?.map_or(0, |(k, _)| k.value());
            let upto = upto.min(last.saturating_sub(1));
            t.retain_in(..=upto, |_, _| false)?;
        }
        txn.commit()?;
        Ok(())
    }

    fn records(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let r = self.db.begin_read()?;
        let t = r.open_table(RECORDS)?;
        let start = format!("{kind}\0");
        let end = prefix_end(&start);
        let mut out = Vec::new();
        for row in t.range(start.as_str()..end.as_str())? {
            let (k, v) = row?;
            out.push((k.value()[start.len()..].to_string(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn records_with_prefix(&self, kind: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let r = self.db.begin_read()?;
        let t = r.open_table(RECORDS)?;
        let kind_start = format!("{kind}\0");
        let start = format!("{kind_start}{prefix}");
        let mut out = Vec::new();
        for row in t.range(start.as_str()..)? {
            let (k, v) = row?;
            if !k.value().starts_with(&start) {
                break;
            }
            out.push((k.value()[kind_start.len()..].to_string(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn record(&self, kind: &str, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let r = self.db.begin_read()?;
        let t = r.open_table(RECORDS)?;
        Ok(t.get(format!("{kind}\0{name}").as_str())?.map(|v| v.value().to_vec()))
    }

    fn apply_records(&self, writes: &[RecordWrite]) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(RECORDS)?;
            for w in writes {
                let key = format!("{}\0{}", w.kind, w.key);
                match &w.value {
                    Some(v) => t.insert(key.as_str(), v.as_slice())?,
                    None => t.remove(key.as_str())?,
                };
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn stats(&self, repo: &str, path: &str) -> Result<Stats, StoreError> {
        let r = self.db.begin_read()?;
        let t = r.open_table(STATS)?;
        Ok(match t.get(item_key(repo, path).as_str())? {
            Some(v) => serde_json::from_slice(v.value())?,
            None => Stats::default(),
        })
    }

    fn add_downloads(&self, batch: &[(String, String, Stats)]) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let items = txn.open_table(ITEMS)?;
            let mut t = txn.open_table(STATS)?;
            for (repo, path, add) in batch {
                let key = item_key(repo, path);
                // An item deleted since the download keeps no statistics.
                if items.get(key.as_str())?.is_none() {
                    continue;
                }
                let mut s: Stats = match t.get(key.as_str())? {
                    Some(v) => serde_json::from_slice(v.value())?,
                    None => Stats::default(),
                };
                s.downloads += add.downloads;
                if add.last_downloaded >= s.last_downloaded {
                    s.last_downloaded = add.last_downloaded;
                    s.last_downloaded_by = add.last_downloaded_by.clone();
                }
                t.insert(key.as_str(), serde_json::to_vec(&s)?.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn repo_stamp(&self, repo: &str) -> u64 {
        let s = self.stamps.read().unwrap_or_else(|e| e.into_inner());
        s.get(repo).copied().unwrap_or(0)
    }

    fn repo_counters(&self, repo: &str) -> Result<RepoCounters, StoreError> {
        let r = self.db.begin_read()?;
        let t = r.open_table(COUNTERS)?;
        Ok(match t.get(repo)? {
            Some(v) => serde_json::from_slice(v.value())?,
            None => RepoCounters::default(),
        })
    }

    fn totals(&self) -> Result<StoreTotals, StoreError> {
        let r = self.db.begin_read()?;
        let t = r.open_table(COUNTERS)?;
        Ok(match t.get(TOTALS_KEY)? {
            Some(v) => serde_json::from_slice(v.value())?,
            None => StoreTotals::default(),
        })
    }
}
