//! The embedded metadata store on redb.
//!
//! Item keys are `repo \0 parent \0 name`, so a folder's direct children are one
//! contiguous range and a repository is one prefix.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata, Table, TableDefinition,
    WriteTransaction,
};
use serde::{Deserialize, Serialize};

use super::meta_index::{self as ix, INDEX, INDEX_VERSION, INDEX_VERSION_KEY};
use super::{
    BuildLookup, Change, Digests, Expectation, Item, Lookup, MetaStore, RecordWrite, RepoCounters, Stats, StoreError,
    StoreTotals,
};

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
pub(super) const TOTALS_KEY: &str = "\0totals";

/// A blob's record: its digests and how many items reference it (shared with PostgreSQL).
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct BlobRow {
    #[serde(flatten)]
    pub(super) digests: Digests,
    pub(super) refs: u64,
}

/// redb-backed `MetaStore`.
///
/// After an I/O error (a full disk) redb refuses every later transaction until the
/// database is reopened; `RedbMeta` reopens it by itself on the next use, so reads
/// and writes recover without a restart. Writes are also refused early while the
/// file system has less than the reserve free, so the database keeps room to commit.
pub struct RedbMeta {
    db: std::sync::RwLock<Option<Arc<Database>>>,
    /// The database file (none in memory): reopened after an I/O error.
    file: Option<PathBuf>,
    /// Bytes to keep free on the file system of `file` (0: no check).
    reserve: AtomicU64,
    /// Page cache of the database (bytes), kept for reopening.
    cache_bytes: u64,
    /// When the last reopen was tried (tries are at most a second apart).
    last_reopen: Mutex<Option<Instant>>,
    /// `repo_stamp`: bumped after each commit that touched the repository.
    stamps: std::sync::RwLock<HashMap<String, u64>>,
}

pub(super) fn item_key(repo: &str, path: &str) -> String {
    let mut k = String::new();
    item_key_into(&mut k, repo, path);
    k
}

/// `item_key` into a buffer that is reused (lookups make one key per row).
fn item_key_into(k: &mut String, repo: &str, path: &str) {
    let (parent, name) = match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    };
    k.clear();
    k.reserve(repo.len() + path.len() + 2);
    k.push_str(repo);
    k.push('\0');
    k.push_str(parent);
    k.push('\0');
    k.push_str(name);
}

/// Whether a stored item (its JSON) is a folder, without decoding it: `folder` is the
/// first field `Item` serialises. Never true for a file; a form it does not recognise
/// is answered false, and the decoded item decides.
fn raw_folder(v: &[u8]) -> bool {
    v.starts_with(br#"{"folder":true"#)
}

/// The exclusive end of the key range that starts with `prefix` (which ends in `\0`).
pub(super) fn prefix_end(prefix: &str) -> String {
    let mut end = prefix[..prefix.len() - 1].to_string();
    end.push('\u{1}');
    end
}

/// redb's page cache when none is configured.
const DEFAULT_CACHE_BYTES: u64 = 64 << 20;

fn conflict(msg: String) -> StoreError {
    StoreError::Conflict(msg)
}

impl RedbMeta {
    /// Opens (or creates) the database file and its tables, with a page cache of
    /// `cache_bytes` (redb's default, 1 GiB, would let a big copy grow the server by as much).
    pub fn open(path: &Path, cache_bytes: u64) -> Result<RedbMeta, StoreError> {
        let db = Self::builder(cache_bytes).create(path)?;
        let mut meta = Self::init(db, Some(path.to_path_buf()))?;
        meta.cache_bytes = cache_bytes;
        Ok(meta)
    }

    fn builder(cache_bytes: u64) -> redb::Builder {
        let mut b = Database::builder();
        b.set_cache_size(usize::try_from(cache_bytes).unwrap_or(usize::MAX));
        // A database not closed cleanly (the process killed, a crash) is checked whole
        // before it opens: proportional to the file (30 s for 4 GiB), so say so.
        let logged = std::cell::Cell::new(-1i32);
        b.set_repair_callback(move |session| {
            let tenth = (session.progress() * 10.0) as i32;
            if tenth > logged.get() {
                logged.set(tenth);
                tracing::warn!(
                    done_percent = tenth * 10,
                    "repairing the metadata database: it was not closed cleanly (the server was killed or crashed)"
                );
            }
        });
        b
    }

    /// A database that lives in memory only (tests, plugin harness).
    pub fn in_memory() -> Result<RedbMeta, StoreError> {
        Self::init(
            Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?,
            None,
        )
    }

    /// Keeps `bytes` free on the database's file system: writes are refused below that.
    pub fn set_reserve(&self, bytes: u64) {
        self.reserve.store(bytes, Ordering::Relaxed);
    }

    /// Free bytes on the database's file system and the reserve, when it has one.
    pub fn fs_space(&self) -> Option<(u64, u64)> {
        let dir = self.file.as_ref()?.parent()?;
        let st = rustix::fs::statvfs(dir).ok()?;
        Some((
            st.f_bavail.saturating_mul(st.f_frsize),
            self.reserve.load(Ordering::Relaxed),
        ))
    }

    fn init(db: Database, file: Option<PathBuf>) -> Result<RedbMeta, StoreError> {
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
        txn.open_table(INDEX)?;
        build_places(&txn)?;
        build_index(&txn)?;
        txn.commit()?;
        Ok(RedbMeta {
            db: std::sync::RwLock::new(Some(Arc::new(db))),
            file,
            reserve: AtomicU64::new(0),
            cache_bytes: DEFAULT_CACHE_BYTES,
            last_reopen: Mutex::new(None),
            stamps: Default::default(),
        })
    }

    /// The open database, reopening it when an I/O error closed it.
    fn handle(&self) -> Result<Arc<Database>, StoreError> {
        if let Some(db) = self.db.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
            return Ok(db.clone());
        }
        self.reopen(None)
    }

    /// Replaces the database `failed` (after its I/O error; the caller has dropped its
    /// handle, which would keep the file locked) by a freshly opened one.
    fn reopen(&self, failed: Option<*const Database>) -> Result<Arc<Database>, StoreError> {
        let unavailable = || StoreError::Unavailable("the database is being reopened after an I/O error".into());
        let mut slot = self.db.write().unwrap_or_else(|e| e.into_inner());
        match (slot.as_ref(), failed) {
            // Another thread reopened it already.
            (Some(db), Some(f)) if !std::ptr::eq(Arc::as_ptr(db), f) => return Ok(db.clone()),
            (Some(db), None) => return Ok(db.clone()),
            (Some(_), Some(_)) => {
                tracing::warn!("the database had an I/O error: reopening it");
                *slot = None;
            }
            (None, _) => {}
        }
        let Some(file) = &self.file else {
            return Err(unavailable());
        };
        {
            let mut last = self.last_reopen.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
                return Err(unavailable());
            }
            *last = Some(Instant::now());
        }
        // Transactions still running on the old handle keep its file lock a moment.
        let mut tries = 0;
        let db = loop {
            match Self::builder(self.cache_bytes).create(file) {
                Ok(db) => break db,
                Err(redb::DatabaseError::DatabaseAlreadyOpen) if tries < 100 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reopen the database yet");
                    return Err(StoreError::Unavailable(format!(
                        "the database cannot be reopened yet ({e})"
                    )));
                }
            }
        };
        tracing::info!("the database is open again");
        let db = Arc::new(db);
        *slot = Some(db.clone());
        Ok(db)
    }

    /// A read transaction (reopening the database after an I/O error).
    fn read(&self) -> Result<ReadTransaction, StoreError> {
        let db = self.handle()?;
        match db.begin_read() {
            Err(redb::TransactionError::Storage(redb::StorageError::PreviousIo)) => {
                let failed = Arc::as_ptr(&db);
                drop(db);
                Ok(self.reopen(Some(failed))?.begin_read()?)
            }
            r => Ok(r?),
        }
    }

    /// A write transaction, refused while the file system is below the reserve
    /// (`freeing` writes, which only delete, may use half of it).
    fn write(&self, freeing: bool) -> Result<WriteTransaction, StoreError> {
        if let Some((free, reserve)) = self.fs_space() {
            let need = if freeing { reserve / 2 } else { reserve };
            if free < need {
                return Err(StoreError::Full(format!(
                    "{} MiB free, {} MiB are kept in reserve",
                    free >> 20,
                    reserve >> 20
                )));
            }
        }
        let db = self.handle()?;
        match db.begin_write() {
            Err(redb::TransactionError::Storage(redb::StorageError::PreviousIo)) => {
                let failed = Arc::as_ptr(&db);
                drop(db);
                Ok(self.reopen(Some(failed))?.begin_write()?)
            }
            r => Ok(r?),
        }
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

impl RedbMeta {
    /// `MetaStore::lookup`; with `files_only`, folders are passed over before they are decoded.
    fn lookup_of(
        &self,
        l: &Lookup,
        files_only: bool,
        visit: &mut dyn FnMut(&str, &str, Item) -> bool,
    ) -> Result<(), StoreError> {
        let r = self.read()?;
        let items = r.open_table(ITEMS)?;
        let index = r.open_table(INDEX)?;
        let places = r.open_table(PLACES)?;
        let mut key = String::new();
        let mut emit = |repo: &str, path: &str| -> Result<bool, StoreError> {
            item_key_into(&mut key, repo, path);
            match items.get(key.as_str())? {
                Some(v) if files_only && raw_folder(v.value()) => Ok(true),
                Some(v) => Ok(visit(repo, path, serde_json::from_slice(v.value())?)),
                None => Ok(true),
            }
        };
        let by_index = |prefix: String, emit: &mut dyn FnMut(&str, &str) -> Result<bool, StoreError>| {
            let end = ix::prefix_end(&prefix);
            for e in index.range(prefix.as_str()..end.as_str())? {
                let (k, _) = e?;
                if let Some((repo, path)) = ix::split_tail(k.value())
                    && !emit(repo, path)?
                {
                    return Ok(false);
                }
            }
            Ok::<bool, StoreError>(true)
        };
        let by_sha256 = |sha: &str, emit: &mut dyn FnMut(&str, &str) -> Result<bool, StoreError>| {
            let start = format!("{sha}\0");
            let end = prefix_end(&start);
            for e in places.range(start.as_str()..end.as_str())? {
                let (k, _) = e?;
                if let Some((repo, path)) = k.value()[start.len()..].split_once('\0')
                    && !emit(repo, path)?
                {
                    return Ok(false);
                }
            }
            Ok::<bool, StoreError>(true)
        };
        match l {
            Lookup::All | Lookup::Repo { .. } => {
                let bounds = match l {
                    Lookup::Repo { repo, parent, exact } => {
                        let start = ix::repo_prefix(repo, parent, *exact);
                        let end = ix::prefix_end(&start);
                        Some((start, end))
                    }
                    _ => None,
                };
                let range = match &bounds {
                    Some((start, end)) => items.range(start.as_str()..end.as_str())?,
                    None => items.iter()?,
                };
                for e in range {
                    let (k, v) = e?;
                    if files_only && raw_folder(v.value()) {
                        continue;
                    }
                    let (repo, path) = split_item_key(k.value());
                    if !visit(repo, &path, serde_json::from_slice(v.value())?) {
                        break;
                    }
                }
            }
            Lookup::Name { name, prefix } => {
                by_index(ix::name_prefix(name, *prefix), &mut emit)?;
            }
            Lookup::Prop { key, value, prefix } => {
                by_index(ix::prop_prefix(key, value.as_deref(), *prefix), &mut emit)?;
            }
            Lookup::Sha256(sha) => {
                by_sha256(sha, &mut emit)?;
            }
            Lookup::Sha1(sha1) => {
                let t = r.open_table(SHA1)?;
                if let Some(sha) = t.get(sha1.as_str())? {
                    by_sha256(sha.value(), &mut emit)?;
                }
            }
            Lookup::Md5(md5) => {
                let prefix = format!("5\0{md5}\0");
                let end = ix::prefix_end(&prefix);
                let mut shas = Vec::new();
                for e in index.range(prefix.as_str()..end.as_str())? {
                    shas.push(e?.0.value()[prefix.len()..].to_string());
                }
                for sha in shas {
                    if !by_sha256(&sha, &mut emit)? {
                        break;
                    }
                }
            }
            Lookup::Time { field, lo, hi, desc } => {
                let tag = ix::time_tag(*field);
                let (start, end) = ix::time_range(tag, *lo, *hi);
                let range = index.range(start.as_str()..end.as_str())?;
                let keys: Box<dyn Iterator<Item = _>> = if *desc { Box::new(range.rev()) } else { Box::new(range) };
                for e in keys {
                    let (k, _) = e?;
                    if let Some((repo, path)) = ix::split_tail(k.value())
                        && !emit(repo, path)?
                    {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

pub(super) fn place_key(sha256: &str, repo: &str, path: &str) -> String {
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

/// The record kind of build runs, whose checksums and start times are indexed.
pub(super) const RUN_RECORD_KIND: &str = "build";

/// Writes or deletes one record, keeping the index of build runs.
fn write_record(
    records: &mut Table<&'static str, &'static [u8]>,
    index: &mut ix::IndexTable,
    r: &RecordWrite,
) -> Result<(), StoreError> {
    let key = format!("{}\0{}", r.kind, r.key);
    let old = match &r.value {
        Some(v) => records.insert(key.as_str(), v.as_slice())?,
        None => records.remove(key.as_str())?,
    };
    if r.kind == RUN_RECORD_KIND {
        if let Some(old) = old {
            ix::index_run(index, &r.key, old.value(), false)?;
        }
        if let Some(v) = &r.value {
            ix::index_run(index, &r.key, v, true)?;
        }
    }
    Ok(())
}

/// Fills the search index from the stored rows once (databases made before it, or
/// with an older version of it), logging progress.
fn build_index(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
    let mut counters = txn.open_table(COUNTERS)?;
    if counters
        .get(INDEX_VERSION_KEY)?
        .is_some_and(|v| v.value() == INDEX_VERSION.as_bytes())
    {
        return Ok(());
    }
    let mut index = txn.open_table(INDEX)?;
    index.retain(|_, _| false)?;
    let items = txn.open_table(ITEMS)?;
    let total = items.len()?;
    if total > 0 {
        tracing::info!(
            items = total,
            "building the search index (first start with this version)"
        );
    }
    let started = std::time::Instant::now();
    for (n, e) in items.iter()?.enumerate() {
        let (k, v) = e?;
        let item: Item = serde_json::from_slice(v.value())?;
        let (repo, path) = split_item_key(k.value());
        ix::index_item(&mut index, repo, &path, &item, true)?;
        if (n + 1) % 100_000 == 0 {
            tracing::info!(done = n + 1, of = total, "search index: items");
        }
    }
    for e in txn.open_table(STATS)?.iter()? {
        let (k, v) = e?;
        let s: Stats = serde_json::from_slice(v.value())?;
        let (repo, path) = split_item_key(k.value());
        index.insert(ix::downloaded_key(repo, &path, s.last_downloaded).as_str(), ())?;
    }
    for e in txn.open_table(BLOBS)?.iter()? {
        let (k, v) = e?;
        let row: BlobRow = serde_json::from_slice(v.value())?;
        index.insert(ix::md5_key(&row.digests.md5, k.value()).as_str(), ())?;
    }
    let records = txn.open_table(RECORDS)?;
    let start = format!("{RUN_RECORD_KIND}\0");
    let end = prefix_end(&start);
    for e in records.range(start.as_str()..end.as_str())? {
        let (k, v) = e?;
        ix::index_run(&mut index, &k.value()[start.len()..], v.value(), true)?;
    }
    counters.insert(INDEX_VERSION_KEY, INDEX_VERSION.as_bytes())?;
    if total > 0 {
        tracing::info!(
            items = total,
            ms = started.elapsed().as_millis() as u64,
            "search index built"
        );
    }
    Ok(())
}

/// `(repo, path)` of an item key `repo \0 parent \0 name`.
pub(super) fn split_item_key(k: &str) -> (&str, String) {
    let mut parts = k.splitn(3, '\0');
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
    (repo, path)
}

/// The tables one write transaction works on, with counters batched until the end.
struct Writer<'t> {
    items: Table<'t, &'static str, &'static [u8]>,
    blobs: Table<'t, &'static str, &'static [u8]>,
    unreferenced: Table<'t, &'static str, ()>,
    sha1: Table<'t, &'static str, &'static str>,
    places: Table<'t, &'static str, ()>,
    index: ix::IndexTable<'t>,
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
            index: txn.open_table(INDEX)?,
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
                if ix::ENABLED {
                    self.index.insert(ix::md5_key(&d.md5, &d.sha256).as_str(), ())?;
                }
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
                    ix::index_item(&mut self.index, repo, parent, &f, true)?;
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
            ix::reindex_item(&mut self.index, repo, path, &old, item)?;
        } else {
            ix::index_item(&mut self.index, repo, path, item, true)?;
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
        self.unindex(repo, path, &key, &old)?;
        Ok(())
    }

    /// Removes an item's index entries and statistics (with their download-time entry).
    fn unindex(&mut self, repo: &str, path: &str, key: &str, old: &Item) -> Result<(), StoreError> {
        ix::index_item(&mut self.index, repo, path, old, false)?;
        if let Some(v) = self.stats.remove(key)? {
            let s: Stats = serde_json::from_slice(v.value())?;
            self.index
                .remove(ix::downloaded_key(repo, path, s.last_downloaded).as_str())?;
        }
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
        let r = self.read()?;
        let t = r.open_table(REPOS)?;
        let mut out = Vec::new();
        for e in t.iter()? {
            let (k, v) = e?;
            out.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn put_repo(&self, key: &str, config: &[u8]) -> Result<(), StoreError> {
        let txn = self.write(false)?;
        txn.open_table(REPOS)?.insert(key, config)?;
        txn.commit()?;
        self.bump([key]);
        Ok(())
    }

    fn delete_repo(&self, key: &str) -> Result<(), StoreError> {
        let txn = self.write(true)?;
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
                let mut parts = k.splitn(3, '\0').skip(1);
                let (parent, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let path = if parent.is_empty() {
                    name.to_string()
                } else {
                    format!("{parent}/{name}")
                };
                w.unindex(key, &path, &k, &item)?;
                if let Some(b) = &item.blob {
                    w.drop_ref(b)?;
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
        let r = self.read()?;
        let t = r.open_table(ITEMS)?;
        Ok(match t.get(item_key(repo, path).as_str())? {
            Some(v) => Some(serde_json::from_slice(v.value())?),
            None => None,
        })
    }

    fn children(&self, repo: &str, folder: &str) -> Result<Vec<(String, Item)>, StoreError> {
        let r = self.read()?;
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

    fn children_page(
        &self,
        repo: &str,
        folder: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Item)>, StoreError> {
        use std::ops::Bound;
        let r = self.read()?;
        let t = r.open_table(ITEMS)?;
        let prefix = format!("{repo}\0{folder}\0");
        let end = prefix_end(&prefix);
        let start = format!("{prefix}{}", after.unwrap_or(""));
        let lower = if after.is_some() {
            Bound::Excluded(start.as_str())
        } else {
            Bound::Included(start.as_str())
        };
        let mut out = Vec::new();
        for e in t.range::<&str>((lower, Bound::Excluded(end.as_str())))?.take(limit) {
            let (k, v) = e?;
            let name = k.value()[prefix.len()..].to_string();
            out.push((name, serde_json::from_slice(v.value())?));
        }
        Ok(out)
    }

    fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        let freeing = !changes
            .iter()
            .any(|c| matches!(c, Change::Put { .. } | Change::Record(_)));
        let txn = self.write(freeing)?;
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
                    Change::ExpectAbsent { repo, path } => {
                        if w.get(&item_key(repo, path))?.is_some() {
                            return Err(StoreError::Exists(format!("{repo}/{path}")));
                        }
                    }
                    Change::ExpectRecord { kind, key, value } => {
                        let k = format!("{kind}\0{key}");
                        let current = records.get(k.as_str())?.map(|v| v.value().to_vec());
                        if current != *value {
                            return Err(StoreError::Changed(format!("{kind}/{key}")));
                        }
                    }
                    Change::Event(json) => {
                        let seq = match next {
                            Some(n) => n,
                            None => events.last()?.map_or(0, |(k, _)| k.value()) + 1,
                        };
                        events.insert(seq, json.as_slice())?;
                        next = Some(seq + 1);
                    }
                    Change::Record(r) => write_record(&mut records, &mut w.index, r)?,
                }
            }
            w.finish()?;
        }
        txn.commit()?;
        self.bump(changes.iter().filter_map(Change::repo));
        Ok(())
    }

    fn blob(&self, sha256: &str) -> Result<Option<Digests>, StoreError> {
        let r = self.read()?;
        let t = r.open_table(BLOBS)?;
        Ok(match t.get(sha256)? {
            Some(v) => Some(serde_json::from_slice::<BlobRow>(v.value())?.digests),
            None => None,
        })
    }

    fn blob_by_sha1(&self, sha1: &str) -> Result<Option<String>, StoreError> {
        let r = self.read()?;
        let t = r.open_table(SHA1)?;
        Ok(t.get(sha1)?.map(|v| v.value().to_string()))
    }

    fn placements(&self, sha256: &str) -> Result<Vec<(String, String)>, StoreError> {
        let r = self.read()?;
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
        let r = self.read()?;
        let t = r.open_table(UNREFERENCED)?;
        let mut out = Vec::new();
        for e in t.iter()? {
            out.push(e?.0.value().to_string());
        }
        Ok(out)
    }

    fn forget_unreferenced(&self, sha256s: &[String]) -> Result<Vec<(String, u64)>, StoreError> {
        let txn = self.write(true)?;
        let mut gone = Vec::new();
        {
            let mut blobs = txn.open_table(BLOBS)?;
            let mut unref = txn.open_table(UNREFERENCED)?;
            let mut sha1 = txn.open_table(SHA1)?;
            let mut index = txn.open_table(INDEX)?;
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
                index.remove(ix::md5_key(&row.digests.md5, sha).as_str())?;
                gone.push((sha.clone(), row.digests.size));
            }
        }
        txn.commit()?;
        Ok(gone)
    }

    fn kv_get(&self, repo: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let r = self.read()?;
        let t = r.open_table(KV)?;
        Ok(t.get(format!("{repo}\0{key}").as_str())?.map(|v| v.value().to_vec()))
    }

    fn kv_put(&self, repo: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let txn = self.write(false)?;
        txn.open_table(KV)?.insert(format!("{repo}\0{key}").as_str(), value)?;
        txn.commit()?;
        self.bump([repo]);
        Ok(())
    }

    fn kv_delete(&self, repo: &str, key: &str) -> Result<(), StoreError> {
        let txn = self.write(true)?;
        txn.open_table(KV)?.remove(format!("{repo}\0{key}").as_str())?;
        txn.commit()?;
        self.bump([repo]);
        Ok(())
    }

    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let r = self.read()?;
        let t = r.open_table(EVENTS)?;
        let mut out = Vec::new();
        for row in t.range(after.saturating_add(1)..)?.take(limit) {
            let (k, v) = row?;
            out.push((k.value(), v.value().to_vec()));
        }
        Ok(out)
    }

    fn last_event_seq(&self) -> Result<u64, StoreError> {
        let r = self.read()?;
        let t = r.open_table(EVENTS)?;
        Ok(t.last()?.map_or(0, |(k, _)| k.value()))
    }

    fn purge_events(&self, upto: u64) -> Result<(), StoreError> {
        let txn = self.write(true)?;
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
        let r = self.read()?;
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
        let r = self.read()?;
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
        let r = self.read()?;
        let t = r.open_table(RECORDS)?;
        Ok(t.get(format!("{kind}\0{name}").as_str())?.map(|v| v.value().to_vec()))
    }

    fn apply_records(&self, writes: &[RecordWrite]) -> Result<(), StoreError> {
        let txn = self.write(false)?;
        {
            let mut t = txn.open_table(RECORDS)?;
            let mut index = txn.open_table(INDEX)?;
            for w in writes {
                write_record(&mut t, &mut index, w)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn stats(&self, repo: &str, path: &str) -> Result<Stats, StoreError> {
        let r = self.read()?;
        let t = r.open_table(STATS)?;
        Ok(match t.get(item_key(repo, path).as_str())? {
            Some(v) => serde_json::from_slice(v.value())?,
            None => Stats::default(),
        })
    }

    fn add_downloads(&self, batch: &[(String, String, Stats)]) -> Result<(), StoreError> {
        let txn = self.write(false)?;
        {
            let items = txn.open_table(ITEMS)?;
            let mut t = txn.open_table(STATS)?;
            let mut index = txn.open_table(INDEX)?;
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
                    if ix::ENABLED {
                        index.remove(ix::downloaded_key(repo, path, s.last_downloaded).as_str())?;
                        index.insert(ix::downloaded_key(repo, path, add.last_downloaded).as_str(), ())?;
                    }
                    s.last_downloaded = add.last_downloaded;
                    s.last_downloaded_by = add.last_downloaded_by.clone();
                }
                t.insert(key.as_str(), serde_json::to_vec(&s)?.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn free_space(&self) -> Option<(u64, u64)> {
        self.fs_space()
    }

    fn lookup(&self, l: &Lookup, visit: &mut dyn FnMut(&str, &str, Item) -> bool) -> Result<(), StoreError> {
        self.lookup_of(l, false, visit)
    }

    fn lookup_files(&self, l: &Lookup, visit: &mut dyn FnMut(&str, &str, Item) -> bool) -> Result<(), StoreError> {
        self.lookup_of(l, true, visit)
    }

    fn count_upto(&self, l: &Lookup, cap: usize) -> Result<Option<usize>, StoreError> {
        let r = self.read()?;
        fn count<V: redb::Value + 'static>(
            t: &impl ReadableTable<&'static str, V>,
            start: &str,
            end: &str,
            cap: usize,
        ) -> Result<usize, StoreError> {
            let mut n = 0;
            for e in t.range(start..end)? {
                e?;
                n += 1;
                if n >= cap {
                    break;
                }
            }
            Ok(n)
        }
        let index = || r.open_table(INDEX);
        let prefixed = |p: String| -> Result<usize, StoreError> { count(&index()?, &p, &ix::prefix_end(&p), cap) };
        Ok(Some(match l {
            Lookup::All => return Ok(None),
            Lookup::Repo { repo, parent, exact } => {
                let start = ix::repo_prefix(repo, parent, *exact);
                count(&r.open_table(ITEMS)?, &start, &ix::prefix_end(&start), cap)?
            }
            Lookup::Name { name, prefix } => prefixed(ix::name_prefix(name, *prefix))?,
            Lookup::Prop { key, value, prefix } => prefixed(ix::prop_prefix(key, value.as_deref(), *prefix))?,
            Lookup::Sha256(sha) => {
                let start = format!("{sha}\0");
                count(&r.open_table(PLACES)?, &start, &prefix_end(&start), cap)?
            }
            Lookup::Sha1(_) | Lookup::Md5(_) => 1,
            Lookup::Time { field, lo, hi, .. } => {
                let tag = ix::time_tag(*field);
                let (start, end) = ix::time_range(tag, *lo, *hi);
                count(&index()?, &start, &end, cap)?
            }
        }))
    }

    fn build_lookup(&self, l: &BuildLookup, visit: &mut dyn FnMut(&str) -> bool) -> Result<(), StoreError> {
        let r = self.read()?;
        match l {
            BuildLookup::All | BuildLookup::Name(_) => {
                let records = r.open_table(RECORDS)?;
                let kind = format!("{RUN_RECORD_KIND}\0");
                let start = match l {
                    BuildLookup::Name(n) => format!("{kind}{n}\0"),
                    _ => kind.clone(),
                };
                let end = prefix_end(&start);
                for e in records.range(start.as_str()..end.as_str())? {
                    let (k, _) = e?;
                    if !visit(&k.value()[kind.len()..]) {
                        break;
                    }
                }
            }
            BuildLookup::Started { lo, hi, desc } => {
                let index = r.open_table(INDEX)?;
                let (start, end) = ix::time_range("s", *lo, *hi);
                let skip = "s\0".len() + 16 + 1;
                let range = index.range(start.as_str()..end.as_str())?;
                let keys: Box<dyn Iterator<Item = _>> = if *desc { Box::new(range.rev()) } else { Box::new(range) };
                for e in keys {
                    let (k, _) = e?;
                    if let Some(run) = k.value().get(skip..)
                        && !visit(run)
                    {
                        break;
                    }
                }
            }
            BuildLookup::Artifact(sum) | BuildLookup::Dependency(sum) => {
                let index = r.open_table(INDEX)?;
                let tag = if matches!(l, BuildLookup::Artifact(_)) {
                    "a"
                } else {
                    "e"
                };
                let start = format!("{tag}\0{}\0", sum.to_ascii_lowercase());
                let end = ix::prefix_end(&start);
                for e in index.range(start.as_str()..end.as_str())? {
                    let (k, _) = e?;
                    if !visit(&k.value()[start.len()..]) {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    fn repo_stamp(&self, repo: &str) -> u64 {
        let s = self.stamps.read().unwrap_or_else(|e| e.into_inner());
        s.get(repo).copied().unwrap_or(0)
    }

    fn repo_counters(&self, repo: &str) -> Result<RepoCounters, StoreError> {
        let r = self.read()?;
        let t = r.open_table(COUNTERS)?;
        Ok(match t.get(repo)? {
            Some(v) => serde_json::from_slice(v.value())?,
            None => RepoCounters::default(),
        })
    }

    fn totals(&self) -> Result<StoreTotals, StoreError> {
        let r = self.read()?;
        let t = r.open_table(COUNTERS)?;
        Ok(match t.get(TOTALS_KEY)? {
            Some(v) => serde_json::from_slice(v.value())?,
            None => StoreTotals::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    //! The behaviour both stores share is tested in `storage::contract_tests`; here,
    //! what only the embedded store does.
    use super::*;

    #[test]
    fn folders_are_told_apart_without_decoding() {
        let folder = serde_json::to_vec(&Item::new_folder("u", 1)).unwrap();
        assert!(raw_folder(&folder));
        let f = serde_json::to_vec(&file("a", 1, &[])).unwrap();
        assert!(!raw_folder(&f));
        let meta = RedbMeta::in_memory().unwrap();
        meta.apply(&[Change::Put {
            repo: "r".into(),
            path: "d/e/f.bin".into(),
            item: Box::new(file("a", 1, &[])),
        }])
        .unwrap();
        let (mut all, mut files) = (Vec::new(), Vec::new());
        let l = Lookup::Repo {
            repo: "r".into(),
            parent: String::new(),
            exact: false,
        };
        meta.lookup(&l, &mut |_, p, _| {
            all.push(p.to_string());
            true
        })
        .unwrap();
        meta.lookup_files(&l, &mut |_, p, _| {
            files.push(p.to_string());
            true
        })
        .unwrap();
        assert_eq!(all, ["d", "d/e", "d/e/f.bin"]);
        assert_eq!(files, ["d/e/f.bin"]);
    }

    fn file(content: &str, at: i64, props: &[(&str, &[&str])]) -> Item {
        Item {
            blob: Some(Digests {
                sha256: format!("{content:0>64}"),
                sha1: format!("{content:0>40}"),
                md5: format!("{content:0>32}"),
                size: content.len() as u64,
            }),
            created: at,
            modified: at,
            props: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
            ..Item::default()
        }
    }

    fn put(repo: &str, path: &str, item: Item) -> Change {
        Change::Put {
            repo: repo.into(),
            path: path.into(),
            item: Box::new(item),
        }
    }

    fn found(m: &RedbMeta, l: Lookup) -> Vec<String> {
        let mut out = Vec::new();
        m.lookup(&l, &mut |r, p, _| {
            out.push(format!("{r}/{p}"));
            true
        })
        .unwrap();
        out
    }

    fn name(n: &str) -> Lookup {
        Lookup::Name {
            name: n.into(),
            prefix: false,
        }
    }

    fn kv(k: &str, v: &str) -> Lookup {
        Lookup::Prop {
            key: k.into(),
            value: Some(v.into()),
            prefix: false,
        }
    }

    #[test]
    fn a_database_from_before_the_index_gets_it_built_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.redb");
        {
            let m = RedbMeta::open(&path, DEFAULT_CACHE_BYTES).unwrap();
            m.apply(&[put("r", "a/x.jar", file("aa", 100, &[("k", &["v"])]))])
                .unwrap();
        }
        {
            // What an older version left: no index table content, no version marker.
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(INDEX).unwrap().retain(|_, _| false).unwrap();
            txn.open_table(COUNTERS).unwrap().remove(INDEX_VERSION_KEY).unwrap();
            txn.commit().unwrap();
        }
        let m = RedbMeta::open(&path, DEFAULT_CACHE_BYTES).unwrap();
        assert_eq!(found(&m, name("x.jar")), vec!["r/a/x.jar"]);
        assert_eq!(found(&m, kv("k", "v")), vec!["r/a/x.jar"]);
        assert_eq!(found(&m, Lookup::Md5(format!("{:0>32}", "aa"))), vec!["r/a/x.jar"]);
    }
}
