//! Storage: content-addressed blobs on disk, metadata in an embedded database, and
//! the garbage collector that reclaims blobs nothing references.
//!
//! Both stores sit behind traits (`BlobStore`, `MetaStore`) so that object storage
//! and PostgreSQL can replace the embedded defaults.

mod blobs;
mod blobs_s3;
mod bridge;
#[cfg(test)]
mod contract_tests;
pub mod gc;
mod meta_index;
mod meta_postgres;
mod meta_redb;
mod model;
pub mod upload;

pub use blobs::{BlobPin, BlobStore, BlobsUnavailable, ByteStream, FsBlobStore, SMALL_BLOB, StagedFile};
pub use blobs_s3::{S3BlobStore, S3Settings};
pub use meta_postgres::PgMeta;
pub use meta_redb::RedbMeta;
pub use model::{
    BuildLookup, Change, Checksums, Digests, Expectation, Item, Lookup, Properties, RepoCounters, Stats, StoreTotals,
    TimeField,
};

/// One change of a small record (users, tokens, subscriptions, …): `value` none deletes it.
#[derive(Debug, Clone)]
pub struct RecordWrite {
    pub kind: &'static str,
    pub key: String,
    pub value: Option<Vec<u8>>,
}

/// A failure of the storage layer (disk, database, corrupt record).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] redb::Error),
    #[error("i/o: {0}")]
    Io(std::io::Error),
    #[error("corrupt record: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// The change contradicts what is stored (a file where a folder should be).
    #[error("{0}")]
    Conflict(String),
    /// An `ExpectAbsent` precondition failed: the path is taken.
    #[error("'{0}' already exists")]
    Exists(String),
    /// An `ExpectRecord` precondition failed: another writer changed the record.
    #[error("the record '{0}' was changed by another writer")]
    Changed(String),
    /// The file system has no room left for the write (below the reserve, or ENOSPC).
    #[error("the disk is full: {0}")]
    Full(String),
    /// The store cannot answer for a moment (the database is being reopened).
    #[error("{0}")]
    Unavailable(String),
    /// A `Change::Expect` did not hold: someone else changed what the transaction read.
    #[error("changed meanwhile: {0}")]
    Stale(String),
}

impl StoreError {
    /// Whether the write failed for want of disk space.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Full(_) => true,
            StoreError::Io(e) => is_full_io(e),
            StoreError::Db(redb::Error::Io(e)) => is_full_io(e),
            _ => false,
        }
    }
}

impl From<std::io::Error> for StoreError {
    /// An object store that cannot be reached is unavailability (503), not a fault.
    fn from(e: std::io::Error) -> Self {
        match e.get_ref().and_then(|i| i.downcast_ref::<BlobsUnavailable>()) {
            Some(u) => StoreError::Unavailable(u.0.clone()),
            None => StoreError::Io(e),
        }
    }
}

/// ENOSPC or EDQUOT.
pub fn is_full_io(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Db(e.into()) }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// The metadata store: repositories, items (files and folders), blob references,
/// users and download statistics. Every write is one atomic, durable transaction.
pub trait MetaStore: Send + Sync + 'static {
    /// All stored repository configurations (raw JSON), by key order.
    fn repos(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Creates (`create`) or replaces a repository configuration.
    fn put_repo(&self, key: &str, config: &[u8]) -> Result<(), StoreError>;
    /// Deletes a repository and every item in it; blobs lose their references.
    fn delete_repo(&self, key: &str) -> Result<(), StoreError>;

    /// One item (file or folder); `path` has no leading slash.
    fn item(&self, repo: &str, path: &str) -> Result<Option<Item>, StoreError>;
    /// The direct children of a folder (`""` is the repository root), by name.
    fn children(&self, repo: &str, folder: &str) -> Result<Vec<(String, Item)>, StoreError>;
    /// At most `limit` direct children named after `after` (exclusive), by name: a
    /// page of a folder too large to list whole.
    fn children_page(
        &self,
        repo: &str,
        folder: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Item)>, StoreError> {
        Ok(self
            .children(repo, folder)?
            .into_iter()
            .filter(|(n, _)| after.is_none_or(|a| n.as_str() > a))
            .take(limit)
            .collect())
    }
    /// Applies changes in one transaction: all or nothing.
    fn apply(&self, changes: &[Change]) -> Result<(), StoreError>;

    /// A stored blob's digests by sha256, if any item references or referenced it.
    fn blob(&self, sha256: &str) -> Result<Option<Digests>, StoreError>;
    /// The sha256 of the blob with this sha1, if known.
    fn blob_by_sha1(&self, sha1: &str) -> Result<Option<String>, StoreError>;
    /// Every (repository, path) of a file whose bytes are the blob `sha256`.
    fn placements(&self, sha256: &str) -> Result<Vec<(String, String)>, StoreError>;
    /// Blobs no item references any more.
    fn unreferenced_blobs(&self) -> Result<Vec<String>, StoreError>;
    /// Deletes the record of each blob that is still unreferenced; returns those deleted with their size.
    fn forget_unreferenced(&self, sha256s: &[String]) -> Result<Vec<(String, u64)>, StoreError>;
    /// Whether a blob has a record (referenced or not).
    fn blob_known(&self, sha256: &str) -> Result<bool, StoreError> {
        Ok(self.blob(sha256)?.is_some())
    }

    /// A value of a repository's key-value space (format metadata of plugins).
    fn kv_get(&self, repo: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets a value of a repository's key-value space.
    fn kv_put(&self, repo: &str, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Removes a value of a repository's key-value space.
    fn kv_delete(&self, repo: &str, key: &str) -> Result<(), StoreError>;

    /// Every record of one kind ("user", "group", "token", "subscription", …) as (name, raw JSON).
    fn records(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// The records of one kind whose name starts with `prefix`, by name.
    fn records_with_prefix(&self, kind: &str, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// One record, if present.
    fn record(&self, kind: &str, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Writes and deletes records in one transaction: all or nothing.
    fn apply_records(&self, writes: &[RecordWrite]) -> Result<(), StoreError>;

    /// Events recorded by `Change::Event` after sequence number `after`, oldest first.
    fn events_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;
    /// The sequence number of the newest event (0 when none).
    fn last_event_seq(&self) -> Result<u64, StoreError>;
    /// Forgets the events up to and including `upto` (the newest is always kept, so
    /// sequence numbers never go back).
    fn purge_events(&self, upto: u64) -> Result<(), StoreError>;

    /// Download statistics of an item.
    fn stats(&self, repo: &str, path: &str) -> Result<Stats, StoreError>;
    /// Adds buffered download counts.
    fn add_downloads(&self, batch: &[(String, String, Stats)]) -> Result<(), StoreError>;

    /// A number that changes after every committed change to a repository's items,
    /// key-value space or configuration (starts anew with the process): answers
    /// generated from a repository stay valid while it is unchanged.
    fn repo_stamp(&self, repo: &str) -> u64;

    /// Free bytes of the file system holding the metadata, and the reserve kept
    /// there (none for stores without a local file system).
    fn free_space(&self) -> Option<(u64, u64)> {
        None
    }

    /// Visits the items an index lookup finds (repository, path, item), in the
    /// index's order, until `visit` answers false. Only `Lookup::All` reads every item.
    fn lookup(&self, l: &Lookup, visit: &mut dyn FnMut(&str, &str, Item) -> bool) -> Result<(), StoreError>;
    /// How many entries `lookup` would visit, counted up to `cap` (`None`: the store
    /// cannot tell cheaply). The search planner compares its criteria with it.
    fn count_upto(&self, _l: &Lookup, _cap: usize) -> Result<Option<usize>, StoreError> {
        Ok(None)
    }
    /// `lookup` of files only: a store may skip folders before decoding them (most
    /// searches ask for files, and folders are about half of the items).
    fn lookup_files(&self, l: &Lookup, visit: &mut dyn FnMut(&str, &str, Item) -> bool) -> Result<(), StoreError> {
        self.lookup(l, &mut |repo, path, item| item.folder || visit(repo, path, item))
    }
    /// Visits the keys of the build runs a lookup finds (the keys `build` records
    /// are stored under), in the index's order, until `visit` answers false.
    fn build_lookup(&self, l: &BuildLookup, visit: &mut dyn FnMut(&str) -> bool) -> Result<(), StoreError>;

    /// Per-repository counters (files, folders, bytes).
    fn repo_counters(&self, repo: &str) -> Result<RepoCounters, StoreError>;
    /// Counters over all distinct blobs.
    fn totals(&self) -> Result<StoreTotals, StoreError>;
}
