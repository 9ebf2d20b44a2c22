//! The metadata store on PostgreSQL, for several nodes on one database.
//!
//! The tables mirror the redb store's one for one, with the same byte-string keys
//! (`host/migrations/0001_initial.sql` lists them; `bytea` sorts like redb's keys),
//! so both stores share the key layout, the search index entries (`meta_index`) and
//! therefore the order every lookup answers in.
//!
//! Every write is one PostgreSQL transaction that first takes one transaction-scoped
//! advisory lock: like redb, one writer at a time (across nodes too), which keeps
//! counters, reference counts, preconditions and event sequence numbers exact without
//! retry loops. Reads take no lock and see what was committed. Any error of the
//! database or the connection is `StoreError::Unavailable` (a 503), logged with its cause.

use std::collections::BTreeSet;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{OnceLock, RwLock};
use std::time::Duration;

use deadpool_postgres::{GenericClient, Pool};

use super::bridge::Bridge;
use super::meta_index as ix;
use super::meta_redb::{BlobRow, RUN_RECORD_KIND, TOTALS_KEY, item_key, place_key, prefix_end, split_item_key};
use super::{
    BuildLookup, Change, Digests, Expectation, Item, Lookup, MetaStore, RecordWrite, RepoCounters, Stats, StoreError,
    StoreTotals,
};
use crate::cluster::changes::{self, Changed, Invalidate};

type R<T> = Result<T, StoreError>;

/// The migrations, in order; each runs once, in its own transaction.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../../migrations/0001_initial.sql")),
    (2, include_str!("../../migrations/0002_cluster.sql")),
];

/// The advisory lock every write transaction takes (any constant unique to binyard).
const WRITER_LOCK: i64 = 0x6269_6e79_6172_6401;
/// The advisory lock of the migrations (nodes starting together migrate once).
const MIGRATION_LOCK: i64 = 0x6269_6e79_6172_6402;
/// Rows fetched per round trip by lookups and listings.
const PAGE: i64 = 512;

const ITEMS: &str = "items";
const BLOBS: &str = "blobs";
const UNREFERENCED: &str = "unreferenced";
const SHA1: &str = "sha1_to_sha256";
const PLACES: &str = "places";
const REPOS: &str = "repos";
const RECORDS: &str = "records";
const STATS: &str = "stats";
const COUNTERS: &str = "counters";
const KV: &str = "kv";
const INDEX: &str = "search_index";
/// The tables of keys without values.
const KEY_ONLY: [&str; 3] = [UNREFERENCED, PLACES, INDEX];

/// Logs a database or connection failure and answers "unavailable": a client sees a
/// 503 with no internals, the log has the cause.
fn db(e: impl std::fmt::Display) -> StoreError {
    tracing::warn!(error = %e, "PostgreSQL request failed");
    StoreError::Unavailable("the metadata database is unavailable".into())
}

fn col(r: &tokio_postgres::Row, i: usize) -> R<Vec<u8>> {
    r.try_get(i).map_err(db)
}

/// PostgreSQL-backed `MetaStore`.
pub struct PgMeta {
    pool: Pool,
    bridge: Bridge,
    /// `repo_stamp`: bumped after each commit of this process and when another
    /// node announces a change of the repository (`cluster::changes`).
    stamps: RwLock<HashMap<String, u64>>,
    /// Added to every stamp; bumped when announcements may have been missed.
    epoch: AtomicU64,
    /// The node named as the sender of this store's announcements.
    origin: OnceLock<String>,
}

impl PgMeta {
    /// Connects to `url` with a pool of `pool_size` connections and applies the
    /// migrations the database lacks.
    pub fn connect(url: &str, pool_size: usize) -> R<PgMeta> {
        let bridge = Bridge::new("binyard-pg", 2)?;
        let mut cfg = deadpool_postgres::Config::new();
        cfg.url = Some(url.to_string());
        let mut pc = deadpool_postgres::PoolConfig::new(pool_size.max(1));
        // An unreachable database fails requests quickly instead of holding them.
        pc.timeouts.wait = Some(Duration::from_secs(10));
        pc.timeouts.create = Some(Duration::from_secs(5));
        pc.timeouts.recycle = Some(Duration::from_secs(5));
        cfg.pool = Some(pc);
        let pool = cfg
            .create_pool(Some(deadpool_postgres::Runtime::Tokio1), tokio_postgres::NoTls)
            .map_err(db)?;
        let meta = PgMeta {
            pool,
            bridge,
            stamps: RwLock::default(),
            epoch: AtomicU64::new(0),
            origin: OnceLock::new(),
        };
        let pool = meta.pool.clone();
        meta.run(async move { migrate(&pool).await })?;
        Ok(meta)
    }

    fn run<T: Send + 'static>(&self, f: impl Future<Output = R<T>> + Send + 'static) -> R<T> {
        self.bridge
            .run(f)
            .unwrap_or_else(|| Err(StoreError::Unavailable("the metadata database client stopped".into())))
    }

    /// Names `node` as the sender of this store's announcements (other nodes skip their own).
    pub fn announce_as(&self, node: &str) {
        let _ = self.origin.set(node.to_string());
    }

    /// Runs `f` inside a write transaction (all or nothing; durable on commit) that
    /// announces `changed` to the other nodes: PostgreSQL delivers the notification
    /// on commit, so a change and its announcement are one.
    fn write<T, F>(&self, changed: BTreeSet<Changed>, f: F) -> R<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a deadpool_postgres::Transaction<'a>) -> BoxFut<'a, R<T>> + Send + 'static,
    {
        let pool = self.pool.clone();
        let notice =
            (!changed.is_empty()).then(|| changes::payload(self.origin.get().map_or("", String::as_str), &changed));
        self.run(async move {
            let mut c = pool.get().await.map_err(db)?;
            let tx = c.transaction().await.map_err(db)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITER_LOCK])
                .await
                .map_err(db)?;
            let out = f(&tx).await?;
            if let Some(n) = notice {
                tx.execute("SELECT pg_notify($1, $2)", &[&changes::CHANNEL, &n])
                    .await
                    .map_err(db)?;
            }
            tx.commit().await.map_err(db)?;
            Ok(out)
        })
    }

    /// Runs `f` on a pooled connection, outside any transaction.
    fn read<T, F>(&self, f: F) -> R<T>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a deadpool_postgres::Client) -> BoxFut<'a, R<T>> + Send + 'static,
    {
        let pool = self.pool.clone();
        self.run(async move {
            let c = pool.get().await.map_err(db)?;
            f(&c).await
        })
    }

    fn get(&self, t: &'static str, k: Vec<u8>) -> R<Option<Vec<u8>>> {
        self.read(move |c| Box::pin(async move { get(c, t, &k).await }))
    }

    /// One page of `t` in `lo..hi` (`lo` exclusive when `after`), by key (`desc`: from `hi` down).
    fn page(&self, t: &'static str, lo: Bound, hi: Option<Vec<u8>>, desc: bool, values: bool) -> R<Vec<Row>> {
        self.read(move |c| Box::pin(async move { range(c, t, &lo, hi.as_deref(), desc, values, PAGE).await }))
    }

    /// Every row of `t` in `lo..hi` handed to `each` page by page until it answers false.
    fn scan(
        &self,
        t: &'static str,
        lo: Vec<u8>,
        hi: Option<Vec<u8>>,
        desc: bool,
        values: bool,
        each: &mut dyn FnMut(Vec<Row>) -> R<bool>,
    ) -> R<()> {
        let (mut lo, mut hi) = (Bound::From(lo), hi);
        loop {
            let page = self.page(t, lo.clone(), hi.clone(), desc, values)?;
            let full = page.len() as i64 == PAGE;
            let last = page.last().map(|(k, _)| k.clone());
            if !each(page)? || !full {
                return Ok(());
            }
            let Some(last) = last else { return Ok(()) };
            if desc {
                hi = Some(last);
            } else {
                lo = Bound::After(last);
            }
        }
    }

    /// Every row of `t` whose key starts with `prefix`, by key.
    fn with_prefix(&self, t: &'static str, prefix: &str, end: String) -> R<Vec<Row>> {
        let values = !KEY_ONLY.contains(&t);
        let mut out = Vec::new();
        self.scan(
            t,
            prefix.as_bytes().to_vec(),
            Some(end.into_bytes()),
            false,
            values,
            &mut |p| {
                out.extend(p);
                Ok(true)
            },
        )?;
        Ok(out)
    }

    /// The items at these keys (absent ones are left out).
    fn items_at(&self, keys: Vec<Vec<u8>>) -> R<HashMap<Vec<u8>, Vec<u8>>> {
        self.read(move |c| {
            Box::pin(async move {
                let st = c
                    .prepare_cached("SELECT k, v FROM items WHERE k = ANY($1)")
                    .await
                    .map_err(db)?;
                let mut out = HashMap::new();
                for r in c.query(&st, &[&keys]).await.map_err(db)? {
                    out.insert(col(&r, 0)?, col(&r, 1)?);
                }
                Ok(out)
            })
        })
    }

    /// Visits the items of (repo, path) pairs in their order; false once `visit` stopped.
    fn emit(&self, places: Vec<(String, String)>, visit: &mut dyn FnMut(&str, &str, Item) -> bool) -> R<bool> {
        let keys: Vec<Vec<u8>> = places.iter().map(|(r, p)| item_key(r, p).into_bytes()).collect();
        let found = self.items_at(keys.clone())?;
        for ((repo, path), k) in places.iter().zip(keys) {
            if let Some(v) = found.get(&k)
                && !visit(repo, path, serde_json::from_slice(v)?)
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Visits the items an index range names (entries ending `… \0 repo \0 path`).
    fn by_index(
        &self,
        start: String,
        end: String,
        desc: bool,
        visit: &mut dyn FnMut(&str, &str, Item) -> bool,
    ) -> R<bool> {
        let mut going = true;
        self.scan(
            INDEX,
            start.into_bytes(),
            Some(end.into_bytes()),
            desc,
            false,
            &mut |page| {
                let places = page
                    .iter()
                    .filter_map(|(k, _)| {
                        let k = std::str::from_utf8(k).ok()?;
                        ix::split_tail(k).map(|(r, p)| (r.to_string(), p.to_string()))
                    })
                    .collect();
                going = self.emit(places, visit)?;
                Ok(going)
            },
        )?;
        Ok(going)
    }

    /// Visits the files whose bytes are the blob `sha`.
    fn by_sha256(&self, sha: &str, visit: &mut dyn FnMut(&str, &str, Item) -> bool) -> R<bool> {
        let start = format!("{sha}\0");
        let end = prefix_end(&start);
        let mut going = true;
        self.scan(
            PLACES,
            start.clone().into_bytes(),
            Some(end.into_bytes()),
            false,
            false,
            &mut |page| {
                let places = page
                    .iter()
                    .filter_map(|(k, _)| {
                        let rest = std::str::from_utf8(k).ok()?.get(start.len()..)?;
                        rest.split_once('\0').map(|(r, p)| (r.to_string(), p.to_string()))
                    })
                    .collect();
                going = self.emit(places, visit)?;
                Ok(going)
            },
        )?;
        Ok(going)
    }

    /// Visits the keys of an index range after `skip` bytes, until `visit` answers false.
    fn index_keys(
        &self,
        start: String,
        end: String,
        desc: bool,
        skip: usize,
        visit: &mut dyn FnMut(&str) -> bool,
    ) -> R<()> {
        self.scan(
            INDEX,
            start.into_bytes(),
            Some(end.into_bytes()),
            desc,
            false,
            &mut |page| {
                for (k, _) in page {
                    if let Some(rest) = std::str::from_utf8(&k).ok().and_then(|s| s.get(skip..))
                        && !visit(rest)
                    {
                        return Ok(false);
                    }
                }
                Ok(true)
            },
        )
    }

    fn bump<'a>(&self, repos: impl IntoIterator<Item = &'a str>) {
        let mut s = self.stamps.write().unwrap_or_else(|e| e.into_inner());
        for r in repos {
            *s.entry(r.to_string()).or_insert(0) += 1;
        }
    }
}

/// Another node's commits make this node's answers from those repositories stale.
impl Invalidate for PgMeta {
    fn invalidate(&self, changes: &[Changed]) {
        for c in changes {
            match c {
                Changed::Items(r) | Changed::Repo(r) => self.bump([r.as_str()]),
                Changed::Everything => {
                    // Past any stamp a repository had: every stamp changes at once.
                    self.epoch.fetch_add(1 << 32, Ordering::AcqRel);
                }
                Changed::Records(_) => {}
            }
        }
    }
}

type BoxFut<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type Row = (Vec<u8>, Option<Vec<u8>>);

/// The lower end of a key range.
#[derive(Clone)]
enum Bound {
    From(Vec<u8>),
    After(Vec<u8>),
}

async fn migrate(pool: &Pool) -> R<()> {
    let mut c = pool.get().await.map_err(db)?;
    let tx = c.transaction().await.map_err(db)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .map_err(db)?;
    let done: Vec<i32> = tx
        .query("SELECT version FROM schema_migrations", &[])
        .await
        .map_err(db)?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(db)?;
    for (version, sql) in MIGRATIONS {
        if done.contains(version) {
            continue;
        }
        tracing::info!(version, "applying a metadata database migration");
        tx.batch_execute(sql).await.map_err(db)?;
        tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[version])
            .await
            .map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    Ok(())
}

async fn get<C: GenericClient>(c: &C, t: &str, k: &[u8]) -> R<Option<Vec<u8>>> {
    let st = c
        .prepare_cached(&format!("SELECT v FROM {t} WHERE k = $1"))
        .await
        .map_err(db)?;
    match c.query_opt(&st, &[&k]).await.map_err(db)? {
        Some(r) => Ok(Some(col(&r, 0)?)),
        None => Ok(None),
    }
}

async fn has<C: GenericClient>(c: &C, t: &str, k: &[u8]) -> R<bool> {
    let st = c
        .prepare_cached(&format!("SELECT 1 FROM {t} WHERE k = $1"))
        .await
        .map_err(db)?;
    Ok(c.query_opt(&st, &[&k]).await.map_err(db)?.is_some())
}

async fn put<C: GenericClient>(c: &C, t: &str, k: &[u8], v: &[u8]) -> R<()> {
    let st = c
        .prepare_cached(&format!(
            "INSERT INTO {t} (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v"
        ))
        .await
        .map_err(db)?;
    c.execute(&st, &[&k, &v]).await.map_err(db)?;
    Ok(())
}

async fn del<C: GenericClient>(c: &C, t: &str, k: &[u8]) -> R<Option<Vec<u8>>> {
    let st = c
        .prepare_cached(&format!("DELETE FROM {t} WHERE k = $1 RETURNING v"))
        .await
        .map_err(db)?;
    match c.query_opt(&st, &[&k]).await.map_err(db)? {
        Some(r) => Ok(Some(col(&r, 0)?)),
        None => Ok(None),
    }
}

/// Adds (or removes) keys of a key-only table, in one statement.
async fn keys<C: GenericClient>(c: &C, t: &str, ks: &[Vec<u8>], add: bool) -> R<()> {
    if ks.is_empty() {
        return Ok(());
    }
    let sql = if add {
        format!("INSERT INTO {t} (k) SELECT unnest($1::bytea[]) ON CONFLICT DO NOTHING")
    } else {
        format!("DELETE FROM {t} WHERE k = ANY($1)")
    };
    let st = c.prepare_cached(&sql).await.map_err(db)?;
    c.execute(&st, &[&ks]).await.map_err(db)?;
    Ok(())
}

async fn key<C: GenericClient>(c: &C, t: &str, k: &str, add: bool) -> R<()> {
    keys(c, t, &[k.as_bytes().to_vec()], add).await
}

/// At most `limit` rows of `t` in `lo..hi`, by key (`desc`: highest first).
async fn range<C: GenericClient>(
    c: &C,
    t: &str,
    lo: &Bound,
    hi: Option<&[u8]>,
    desc: bool,
    values: bool,
    limit: i64,
) -> R<Vec<Row>> {
    let (op, lo) = match lo {
        Bound::From(k) => (">=", k),
        Bound::After(k) => (">", k),
    };
    let cols = if values { "k, v" } else { "k" };
    let order = if desc { "DESC" } else { "ASC" };
    let sql = match hi {
        Some(_) => format!("SELECT {cols} FROM {t} WHERE k {op} $1 AND k < $2 ORDER BY k {order} LIMIT $3"),
        None => format!("SELECT {cols} FROM {t} WHERE k {op} $1 ORDER BY k {order} LIMIT $2"),
    };
    let st = c.prepare_cached(&sql).await.map_err(db)?;
    let rows = match hi {
        Some(hi) => c.query(&st, &[lo, &hi, &limit]).await,
        None => c.query(&st, &[lo, &limit]).await,
    }
    .map_err(db)?;
    rows.iter()
        .map(|r| Ok((col(r, 0)?, if values { Some(col(r, 1)?) } else { None })))
        .collect()
}

async fn index_entries<C: GenericClient>(c: &C, entries: Vec<String>, add: bool) -> R<()> {
    if !ix::ENABLED {
        return Ok(());
    }
    let ks: Vec<Vec<u8>> = entries.into_iter().map(String::into_bytes).collect();
    keys(c, INDEX, &ks, add).await
}

/// Writes or deletes one record, keeping the index of build runs.
async fn write_record<C: GenericClient>(c: &C, r: &RecordWrite) -> R<()> {
    let k = format!("{}\0{}", r.kind, r.key);
    let old = match &r.value {
        Some(v) => {
            let old = if r.kind == RUN_RECORD_KIND {
                get(c, RECORDS, k.as_bytes()).await?
            } else {
                None
            };
            put(c, RECORDS, k.as_bytes(), v).await?;
            old
        }
        None => del(c, RECORDS, k.as_bytes()).await?,
    };
    if r.kind == RUN_RECORD_KIND {
        if let Some(old) = old {
            index_entries(c, ix::run_entries(&r.key, &old), false).await?;
        }
        if let Some(v) = &r.value {
            index_entries(c, ix::run_entries(&r.key, v), true).await?;
        }
    }
    Ok(())
}

/// One write transaction's item changes, with counters batched until `finish`
/// (the same steps as the redb store's `Writer`).
struct Writer<'a, C: GenericClient> {
    c: &'a C,
    repo_counters: HashMap<String, RepoCounters>,
    totals: Option<StoreTotals>,
}

impl<'a, C: GenericClient> Writer<'a, C> {
    fn new(c: &'a C) -> Self {
        Writer {
            c,
            repo_counters: HashMap::new(),
            totals: None,
        }
    }

    async fn counters_of(&mut self, repo: &str) -> R<&mut RepoCounters> {
        if !self.repo_counters.contains_key(repo) {
            let c = match get(self.c, COUNTERS, repo.as_bytes()).await? {
                Some(v) => serde_json::from_slice(&v)?,
                None => RepoCounters::default(),
            };
            self.repo_counters.insert(repo.to_string(), c);
        }
        Ok(self.repo_counters.get_mut(repo).expect("inserted above"))
    }

    async fn totals(&mut self) -> R<&mut StoreTotals> {
        if self.totals.is_none() {
            let t = match get(self.c, COUNTERS, TOTALS_KEY.as_bytes()).await? {
                Some(v) => serde_json::from_slice(&v)?,
                None => StoreTotals::default(),
            };
            self.totals = Some(t);
        }
        Ok(self.totals.as_mut().expect("set above"))
    }

    async fn get(&self, key: &str) -> R<Option<Item>> {
        Ok(match get(self.c, ITEMS, key.as_bytes()).await? {
            Some(v) => Some(serde_json::from_slice(&v)?),
            None => None,
        })
    }

    async fn blob_row(&self, sha256: &str) -> R<Option<BlobRow>> {
        Ok(match get(self.c, BLOBS, sha256.as_bytes()).await? {
            Some(v) => Some(serde_json::from_slice(&v)?),
            None => None,
        })
    }

    async fn add_ref(&mut self, d: &Digests) -> R<()> {
        let row = match self.blob_row(&d.sha256).await? {
            Some(mut row) => {
                row.refs += 1;
                row
            }
            None => {
                put(self.c, SHA1, d.sha1.as_bytes(), d.sha256.as_bytes()).await?;
                index_entries(self.c, vec![ix::md5_key(&d.md5, &d.sha256)], true).await?;
                BlobRow {
                    digests: d.clone(),
                    refs: 1,
                }
            }
        };
        if row.refs == 1 {
            key(self.c, UNREFERENCED, &d.sha256, false).await?;
            let t = self.totals().await?;
            t.blobs += 1;
            t.blob_bytes += d.size;
        }
        put(self.c, BLOBS, d.sha256.as_bytes(), &serde_json::to_vec(&row)?).await
    }

    async fn drop_ref(&mut self, d: &Digests) -> R<()> {
        let Some(mut row) = self.blob_row(&d.sha256).await? else {
            return Ok(());
        };
        row.refs = row.refs.saturating_sub(1);
        if row.refs == 0 {
            key(self.c, UNREFERENCED, &d.sha256, true).await?;
            let t = self.totals().await?;
            t.blobs = t.blobs.saturating_sub(1);
            t.blob_bytes = t.blob_bytes.saturating_sub(d.size);
        }
        put(self.c, BLOBS, d.sha256.as_bytes(), &serde_json::to_vec(&row)?).await
    }

    async fn count(&mut self, repo: &str, item: &Item, sign: i64) -> R<()> {
        let c = self.counters_of(repo).await?;
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

    async fn put(&mut self, repo: &str, path: &str, item: &Item) -> R<()> {
        // Missing parent folders are created; a file in the way is a conflict.
        let mut at = 0;
        while let Some(i) = path[at..].find('/') {
            let parent = &path[..at + i];
            let k = item_key(repo, parent);
            match self.get(&k).await? {
                Some(p) if p.folder => {}
                Some(_) => return Err(StoreError::Conflict(format!("'{parent}' is a file, not a folder"))),
                None => {
                    let f = Item::new_folder(&item.modified_by, item.modified);
                    put(self.c, ITEMS, k.as_bytes(), &serde_json::to_vec(&f)?).await?;
                    index_entries(self.c, ix::item_entries(repo, parent, &f), true).await?;
                    self.count(repo, &f, 1).await?;
                }
            }
            at += i + 1;
        }
        let k = item_key(repo, path);
        if let Some(old) = self.get(&k).await? {
            if old.folder != item.folder {
                let what = if old.folder { "folder" } else { "file" };
                return Err(StoreError::Conflict(format!("'{path}' is already a {what}")));
            }
            if let Some(b) = &old.blob {
                self.drop_ref(b).await?;
                key(self.c, PLACES, &place_key(&b.sha256, repo, path), false).await?;
            }
            self.count(repo, &old, -1).await?;
            let before = ix::item_entries(repo, path, &old);
            let after = ix::item_entries(repo, path, item);
            let gone = before.iter().filter(|k| !after.contains(k)).cloned().collect();
            let new = after.iter().filter(|k| !before.contains(k)).cloned().collect();
            index_entries(self.c, gone, false).await?;
            index_entries(self.c, new, true).await?;
        } else {
            index_entries(self.c, ix::item_entries(repo, path, item), true).await?;
        }
        if let Some(b) = &item.blob {
            self.add_ref(b).await?;
            key(self.c, PLACES, &place_key(&b.sha256, repo, path), true).await?;
        }
        self.count(repo, item, 1).await?;
        put(self.c, ITEMS, k.as_bytes(), &serde_json::to_vec(item)?).await
    }

    async fn delete(&mut self, repo: &str, path: &str) -> R<()> {
        let k = item_key(repo, path);
        let old: Item = match del(self.c, ITEMS, k.as_bytes()).await? {
            Some(v) => serde_json::from_slice(&v)?,
            None => return Ok(()),
        };
        self.forget(repo, path, &k, &old).await?;
        self.count(repo, &old, -1).await
    }

    /// Drops what refers to a removed item: its blob reference and placement, its
    /// index entries and its statistics (with their download-time entry).
    async fn forget(&mut self, repo: &str, path: &str, k: &str, old: &Item) -> R<()> {
        if let Some(b) = &old.blob {
            self.drop_ref(b).await?;
            key(self.c, PLACES, &place_key(&b.sha256, repo, path), false).await?;
        }
        index_entries(self.c, ix::item_entries(repo, path, old), false).await?;
        if let Some(v) = del(self.c, STATS, k.as_bytes()).await? {
            let s: Stats = serde_json::from_slice(&v)?;
            index_entries(self.c, vec![ix::downloaded_key(repo, path, s.last_downloaded)], false).await?;
        }
        Ok(())
    }

    async fn expect(&self, e: &Expectation) -> R<()> {
        let (holds, what) = match e {
            Expectation::Item { repo, path, item } => {
                let now = self.get(&item_key(repo, path)).await?;
                (now.as_ref() == item.as_deref(), format!("'{repo}/{path}'"))
            }
            Expectation::Kv { repo, key, value } => {
                let now = get(self.c, KV, format!("{repo}\0{key}").as_bytes()).await?;
                (now == *value, format!("key '{key}' of '{repo}'"))
            }
            Expectation::Children { repo, folder, children } => {
                let prefix = format!("{repo}\0{folder}\0");
                let end = prefix_end(&prefix);
                let mut now = Vec::new();
                let mut lo = Bound::From(prefix.clone().into_bytes());
                loop {
                    let page = range(self.c, ITEMS, &lo, Some(end.as_bytes()), false, true, PAGE).await?;
                    let full = page.len() as i64 == PAGE;
                    for (k, v) in &page {
                        let name = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
                        now.push((name, serde_json::from_slice::<Item>(v.as_deref().unwrap_or_default())?));
                    }
                    match page.into_iter().last() {
                        Some((k, _)) if full => lo = Bound::After(k),
                        _ => break,
                    }
                }
                (&now == children, format!("the folder '{repo}/{folder}'"))
            }
        };
        if holds { Ok(()) } else { Err(StoreError::Stale(what)) }
    }

    async fn finish(self) -> R<()> {
        for (repo, c) in &self.repo_counters {
            put(self.c, COUNTERS, repo.as_bytes(), &serde_json::to_vec(c)?).await?;
        }
        if let Some(t) = &self.totals {
            put(self.c, COUNTERS, TOTALS_KEY.as_bytes(), &serde_json::to_vec(t)?).await?;
        }
        Ok(())
    }
}

async fn apply_changes<C: GenericClient>(c: &C, changes: &[Change]) -> R<()> {
    let mut w = Writer::new(c);
    let mut next = None;
    for ch in changes {
        match ch {
            Change::Expect(e) => w.expect(e).await?,
            Change::Kv { repo, key, value } => {
                let k = format!("{repo}\0{key}");
                match value {
                    Some(v) => put(c, KV, k.as_bytes(), v).await?,
                    None => {
                        del(c, KV, k.as_bytes()).await?;
                    }
                }
            }
            Change::Put { repo, path, item } => w.put(repo, path, item).await?,
            Change::Delete { repo, path } => w.delete(repo, path).await?,
            Change::ExpectAbsent { repo, path } => {
                if has(c, ITEMS, item_key(repo, path).as_bytes()).await? {
                    return Err(StoreError::Exists(format!("{repo}/{path}")));
                }
            }
            Change::ExpectRecord { kind, key, value } => {
                let current = get(c, RECORDS, format!("{kind}\0{key}").as_bytes()).await?;
                if current != *value {
                    return Err(StoreError::Changed(format!("{kind}/{key}")));
                }
            }
            Change::Event(json) => {
                // Under the writer lock, so sequence numbers follow commit order.
                let seq = match next {
                    Some(n) => n,
                    None => last_seq(c).await? + 1,
                };
                let st = c
                    .prepare_cached("INSERT INTO events (seq, body) VALUES ($1, $2)")
                    .await
                    .map_err(db)?;
                c.execute(&st, &[&seq, json]).await.map_err(db)?;
                next = Some(seq + 1);
            }
            Change::Record(r) => write_record(c, r).await?,
        }
    }
    w.finish().await
}

async fn last_seq<C: GenericClient>(c: &C) -> R<i64> {
    let st = c
        .prepare_cached("SELECT coalesce(max(seq), 0) FROM events")
        .await
        .map_err(db)?;
    c.query_one(&st, &[]).await.map_err(db)?.try_get(0).map_err(db)
}

fn seq_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl MetaStore for PgMeta {
    fn repos(&self) -> R<Vec<(String, Vec<u8>)>> {
        let rows = self.with_prefix(REPOS, "", String::from(char::MAX))?;
        Ok(rows
            .into_iter()
            .map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), v.unwrap_or_default()))
            .collect())
    }

    fn put_repo(&self, key: &str, config: &[u8]) -> R<()> {
        let (k, v) = (key.as_bytes().to_vec(), config.to_vec());
        let changed = [Changed::Repo(key.into()), Changed::Items(key.into())].into();
        self.write(changed, move |tx| Box::pin(async move { put(tx, REPOS, &k, &v).await }))?;
        self.bump([key]);
        Ok(())
    }

    fn delete_repo(&self, key: &str) -> R<()> {
        let repo = key.to_string();
        let changed = [Changed::Repo(key.into()), Changed::Items(key.into())].into();
        self.write(changed, move |tx| {
            Box::pin(async move {
                let prefix = format!("{repo}\0");
                let end = prefix_end(&prefix);
                let mut w = Writer::new(tx);
                loop {
                    let page = range(
                        tx,
                        ITEMS,
                        &Bound::From(prefix.clone().into_bytes()),
                        Some(end.as_bytes()),
                        false,
                        true,
                        PAGE,
                    )
                    .await?;
                    if page.is_empty() {
                        break;
                    }
                    for (k, v) in page {
                        let k = String::from_utf8_lossy(&k).into_owned();
                        del(tx, ITEMS, k.as_bytes()).await?;
                        let item: Item = serde_json::from_slice(v.as_deref().unwrap_or_default())?;
                        let (_, path) = split_item_key(&k);
                        w.forget(&repo, &path, &k, &item).await?;
                    }
                }
                del(tx, COUNTERS, repo.as_bytes()).await?;
                w.repo_counters.remove(&repo);
                w.finish().await?;
                let st = tx
                    .prepare_cached("DELETE FROM kv WHERE k >= $1 AND k < $2")
                    .await
                    .map_err(db)?;
                tx.execute(&st, &[&prefix.as_bytes(), &end.as_bytes()])
                    .await
                    .map_err(db)?;
                del(tx, REPOS, repo.as_bytes()).await?;
                Ok(())
            })
        })?;
        self.bump([key]);
        Ok(())
    }

    fn item(&self, repo: &str, path: &str) -> R<Option<Item>> {
        match self.get(ITEMS, item_key(repo, path).into_bytes())? {
            Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
            None => Ok(None),
        }
    }

    fn children(&self, repo: &str, folder: &str) -> R<Vec<(String, Item)>> {
        let prefix = format!("{repo}\0{folder}\0");
        let end = prefix_end(&prefix);
        self.with_prefix(ITEMS, &prefix, end)?
            .into_iter()
            .map(|(k, v)| {
                let name = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
                Ok((name, serde_json::from_slice(v.as_deref().unwrap_or_default())?))
            })
            .collect()
    }

    fn children_page(&self, repo: &str, folder: &str, after: Option<&str>, limit: usize) -> R<Vec<(String, Item)>> {
        let prefix = format!("{repo}\0{folder}\0");
        let end = prefix_end(&prefix).into_bytes();
        let start = format!("{prefix}{}", after.unwrap_or("")).into_bytes();
        let lo = if after.is_some() {
            Bound::After(start)
        } else {
            Bound::From(start)
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows =
            self.read(move |c| Box::pin(async move { range(c, ITEMS, &lo, Some(&end), false, true, limit).await }))?;
        rows.into_iter()
            .map(|(k, v)| {
                let name = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
                Ok((name, serde_json::from_slice(v.as_deref().unwrap_or_default())?))
            })
            .collect()
    }

    fn apply(&self, changes: &[Change]) -> R<()> {
        let owned = changes.to_vec();
        let repos: BTreeSet<&str> = changes.iter().filter_map(Change::repo).collect();
        let mut changed: BTreeSet<Changed> = repos.iter().map(|r| Changed::Items(r.to_string())).collect();
        changed.extend(changes.iter().filter_map(|c| match c {
            Change::Record(w) => Some(Changed::Records(w.kind.into())),
            _ => None,
        }));
        self.write(changed, move |tx| {
            Box::pin(async move { apply_changes(tx, &owned).await })
        })?;
        self.bump(repos);
        Ok(())
    }

    fn blob(&self, sha256: &str) -> R<Option<Digests>> {
        match self.get(BLOBS, sha256.as_bytes().to_vec())? {
            Some(v) => Ok(Some(serde_json::from_slice::<BlobRow>(&v)?.digests)),
            None => Ok(None),
        }
    }

    fn blob_by_sha1(&self, sha1: &str) -> R<Option<String>> {
        Ok(self
            .get(SHA1, sha1.as_bytes().to_vec())?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    fn placements(&self, sha256: &str) -> R<Vec<(String, String)>> {
        let start = format!("{sha256}\0");
        let end = prefix_end(&start);
        Ok(self
            .with_prefix(PLACES, &start, end)?
            .into_iter()
            .filter_map(|(k, _)| {
                let rest = String::from_utf8_lossy(&k[start.len()..]).into_owned();
                rest.split_once('\0').map(|(r, p)| (r.to_string(), p.to_string()))
            })
            .collect())
    }

    fn unreferenced_blobs(&self) -> R<Vec<String>> {
        Ok(self
            .with_prefix(UNREFERENCED, "", String::from(char::MAX))?
            .into_iter()
            .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
            .collect())
    }

    fn forget_unreferenced(&self, sha256s: &[String]) -> R<Vec<(String, u64)>> {
        let shas = sha256s.to_vec();
        self.write(BTreeSet::new(), move |tx| {
            Box::pin(async move {
                let mut gone = Vec::new();
                for sha in shas {
                    let row: BlobRow = match get(tx, BLOBS, sha.as_bytes()).await? {
                        Some(v) => serde_json::from_slice(&v)?,
                        None => continue,
                    };
                    if row.refs > 0 {
                        continue;
                    }
                    del(tx, BLOBS, sha.as_bytes()).await?;
                    key(tx, UNREFERENCED, &sha, false).await?;
                    del(tx, SHA1, row.digests.sha1.as_bytes()).await?;
                    key(tx, INDEX, &ix::md5_key(&row.digests.md5, &sha), false).await?;
                    gone.push((sha, row.digests.size));
                }
                Ok(gone)
            })
        })
    }

    fn kv_get(&self, repo: &str, key: &str) -> R<Option<Vec<u8>>> {
        self.get(KV, format!("{repo}\0{key}").into_bytes())
    }

    fn kv_put(&self, repo: &str, key: &str, value: &[u8]) -> R<()> {
        let (k, v) = (format!("{repo}\0{key}").into_bytes(), value.to_vec());
        let changed = [Changed::Items(repo.into())].into();
        self.write(changed, move |tx| Box::pin(async move { put(tx, KV, &k, &v).await }))?;
        self.bump([repo]);
        Ok(())
    }

    fn kv_delete(&self, repo: &str, key: &str) -> R<()> {
        let k = format!("{repo}\0{key}").into_bytes();
        let changed = [Changed::Items(repo.into())].into();
        self.write(changed, move |tx| {
            Box::pin(async move { del(tx, KV, &k).await.map(|_| ()) })
        })?;
        self.bump([repo]);
        Ok(())
    }

    fn records(&self, kind: &str) -> R<Vec<(String, Vec<u8>)>> {
        self.records_with_prefix(kind, "")
    }

    fn records_with_prefix(&self, kind: &str, prefix: &str) -> R<Vec<(String, Vec<u8>)>> {
        let kind_start = format!("{kind}\0");
        let start = format!("{kind_start}{prefix}");
        let end = ix::prefix_end(&start);
        Ok(self
            .with_prefix(RECORDS, &start, end)?
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(&k[kind_start.len()..]).into_owned(),
                    v.unwrap_or_default(),
                )
            })
            .collect())
    }

    fn record(&self, kind: &str, name: &str) -> R<Option<Vec<u8>>> {
        self.get(RECORDS, format!("{kind}\0{name}").into_bytes())
    }

    fn apply_records(&self, writes: &[RecordWrite]) -> R<()> {
        let changed = writes.iter().map(|w| Changed::Records(w.kind.into())).collect();
        let writes = writes.to_vec();
        self.write(changed, move |tx| {
            Box::pin(async move {
                for w in &writes {
                    write_record(tx, w).await?;
                }
                Ok(())
            })
        })
    }

    fn events_after(&self, after: u64, limit: usize) -> R<Vec<(u64, Vec<u8>)>> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c| {
            Box::pin(async move {
                let st = c
                    .prepare_cached("SELECT seq, body FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
                    .await
                    .map_err(db)?;
                c.query(&st, &[&after, &limit])
                    .await
                    .map_err(db)?
                    .iter()
                    .map(|r| Ok((seq_u64(r.try_get(0).map_err(db)?), col(r, 1)?)))
                    .collect()
            })
        })
    }

    fn last_event_seq(&self) -> R<u64> {
        self.read(|c| Box::pin(async move { last_seq(c).await.map(seq_u64) }))
    }

    fn purge_events(&self, upto: u64) -> R<()> {
        let upto = i64::try_from(upto).unwrap_or(i64::MAX);
        self.write(BTreeSet::new(), move |tx| {
            Box::pin(async move {
                // The newest event stays: sequence numbers continue from it.
                let last = last_seq(tx).await?;
                let upto = upto.min(last - 1);
                let st = tx
                    .prepare_cached("DELETE FROM events WHERE seq <= $1")
                    .await
                    .map_err(db)?;
                tx.execute(&st, &[&upto]).await.map_err(db)?;
                Ok(())
            })
        })
    }

    fn stats(&self, repo: &str, path: &str) -> R<Stats> {
        match self.get(STATS, item_key(repo, path).into_bytes())? {
            Some(v) => Ok(serde_json::from_slice(&v)?),
            None => Ok(Stats::default()),
        }
    }

    fn add_downloads(&self, batch: &[(String, String, Stats)]) -> R<()> {
        let batch = batch.to_vec();
        self.write(BTreeSet::new(), move |tx| {
            Box::pin(async move {
                for (repo, path, add) in &batch {
                    let k = item_key(repo, path);
                    // An item deleted since the download keeps no statistics.
                    if !has(tx, ITEMS, k.as_bytes()).await? {
                        continue;
                    }
                    let mut s: Stats = match get(tx, STATS, k.as_bytes()).await? {
                        Some(v) => serde_json::from_slice(&v)?,
                        None => Stats::default(),
                    };
                    s.downloads += add.downloads;
                    if add.last_downloaded >= s.last_downloaded {
                        index_entries(tx, vec![ix::downloaded_key(repo, path, s.last_downloaded)], false).await?;
                        index_entries(tx, vec![ix::downloaded_key(repo, path, add.last_downloaded)], true).await?;
                        s.last_downloaded = add.last_downloaded;
                        s.last_downloaded_by = add.last_downloaded_by.clone();
                    }
                    put(tx, STATS, k.as_bytes(), &serde_json::to_vec(&s)?).await?;
                }
                Ok(())
            })
        })
    }

    fn lookup(&self, l: &Lookup, visit: &mut dyn FnMut(&str, &str, Item) -> bool) -> R<()> {
        let mut from_items = |start: String, end: Option<String>| {
            self.scan(
                ITEMS,
                start.into_bytes(),
                end.map(String::into_bytes),
                false,
                true,
                &mut |page| {
                    for (k, v) in page {
                        let k = String::from_utf8_lossy(&k).into_owned();
                        let (repo, path) = split_item_key(&k);
                        if !visit(repo, &path, serde_json::from_slice(v.as_deref().unwrap_or_default())?) {
                            return Ok(false);
                        }
                    }
                    Ok(true)
                },
            )
        };
        match l {
            Lookup::All => from_items(String::new(), None)?,
            Lookup::Repo { repo, parent, exact } => {
                let start = ix::repo_prefix(repo, parent, *exact);
                let end = ix::prefix_end(&start);
                from_items(start, Some(end))?
            }
            Lookup::Name { name, prefix } => {
                let p = ix::name_prefix(name, *prefix);
                let end = ix::prefix_end(&p);
                self.by_index(p, end, false, visit)?;
            }
            Lookup::Prop { key, value, prefix } => {
                let p = ix::prop_prefix(key, value.as_deref(), *prefix);
                let end = ix::prefix_end(&p);
                self.by_index(p, end, false, visit)?;
            }
            Lookup::Sha256(sha) => {
                self.by_sha256(sha, visit)?;
            }
            Lookup::Sha1(sha1) => {
                if let Some(sha) = self.blob_by_sha1(sha1)? {
                    self.by_sha256(&sha, visit)?;
                }
            }
            Lookup::Md5(md5) => {
                let prefix = format!("5\0{md5}\0");
                let end = ix::prefix_end(&prefix);
                let mut shas = Vec::new();
                self.index_keys(prefix.clone(), end, false, prefix.len(), &mut |sha| {
                    shas.push(sha.to_string());
                    true
                })?;
                for sha in shas {
                    if !self.by_sha256(&sha, visit)? {
                        break;
                    }
                }
            }
            Lookup::Time { field, lo, hi, desc } => {
                let tag = ix::time_tag(*field);
                let (start, end) = ix::time_range(tag, *lo, *hi);
                self.by_index(start, end, *desc, visit)?;
            }
        }
        Ok(())
    }

    fn build_lookup(&self, l: &BuildLookup, visit: &mut dyn FnMut(&str) -> bool) -> R<()> {
        match l {
            BuildLookup::All | BuildLookup::Name(_) => {
                let kind = format!("{RUN_RECORD_KIND}\0");
                let start = match l {
                    BuildLookup::Name(n) => format!("{kind}{n}\0"),
                    _ => kind.clone(),
                };
                let end = prefix_end(&start);
                self.scan(
                    RECORDS,
                    start.into_bytes(),
                    Some(end.into_bytes()),
                    false,
                    false,
                    &mut |page| {
                        for (k, _) in page {
                            if let Some(run) = std::str::from_utf8(&k).ok().and_then(|s| s.get(kind.len()..))
                                && !visit(run)
                            {
                                return Ok(false);
                            }
                        }
                        Ok(true)
                    },
                )
            }
            BuildLookup::Started { lo, hi, desc } => {
                let (start, end) = ix::time_range("s", *lo, *hi);
                let skip = "s\0".len() + 16 + 1;
                self.index_keys(start, end, *desc, skip, visit)
            }
            BuildLookup::Artifact(sum) | BuildLookup::Dependency(sum) => {
                let tag = if matches!(l, BuildLookup::Artifact(_)) {
                    "a"
                } else {
                    "e"
                };
                let start = format!("{tag}\0{}\0", sum.to_ascii_lowercase());
                let end = ix::prefix_end(&start);
                let skip = start.len();
                self.index_keys(start, end, false, skip, visit)
            }
        }
    }

    fn repo_stamp(&self, repo: &str) -> u64 {
        let s = self.stamps.read().unwrap_or_else(|e| e.into_inner());
        s.get(repo)
            .copied()
            .unwrap_or(0)
            .wrapping_add(self.epoch.load(Ordering::Acquire))
    }

    fn repo_counters(&self, repo: &str) -> R<RepoCounters> {
        match self.get(COUNTERS, repo.as_bytes().to_vec())? {
            Some(v) => Ok(serde_json::from_slice(&v)?),
            None => Ok(RepoCounters::default()),
        }
    }

    fn totals(&self) -> R<StoreTotals> {
        match self.get(COUNTERS, TOTALS_KEY.as_bytes().to_vec())? {
            Some(v) => Ok(serde_json::from_slice(&v)?),
            None => Ok(StoreTotals::default()),
        }
    }
}
