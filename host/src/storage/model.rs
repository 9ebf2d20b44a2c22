//! The records the metadata store keeps.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Item properties: a key with one or more values.
pub type Properties = BTreeMap<String, Vec<String>>;

/// The digests and size of stored bytes, hex-encoded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digests {
    pub sha256: String,
    pub sha1: String,
    pub md5: String,
    pub size: u64,
}

/// Checksums a client sent with a deploy (each optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksums {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sha1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub md5: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sha256: Option<String>,
}

/// A file or folder in a repository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub folder: bool,
    /// The bytes of a file; `None` for a folder.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub blob: Option<Digests>,
    pub created: i64,
    pub modified: i64,
    pub created_by: String,
    pub modified_by: String,
    #[serde(default)]
    pub mime: String,
    #[serde(default)]
    pub original: Checksums,
    #[serde(default)]
    pub props: Properties,
}

impl Item {
    /// A new folder made by `by` at `at`.
    pub fn new_folder(by: &str, at: i64) -> Item {
        Item {
            folder: true,
            created: at,
            modified: at,
            created_by: by.to_string(),
            modified_by: by.to_string(),
            ..Item::default()
        }
    }

    /// The size of a file, 0 for a folder.
    pub fn size(&self) -> u64 {
        self.blob.as_ref().map_or(0, |b| b.size)
    }
}

/// One change inside an atomic `MetaStore::apply`.
#[derive(Debug, Clone)]
pub enum Change {
    /// Creates or replaces the item at `path`, creating missing parent folders
    /// (owned by the item's modifier). Blob references follow the old and new item.
    Put {
        repo: String,
        path: String,
        item: Box<Item>,
    },
    /// Removes the one item at `path` (callers remove a folder's children first).
    Delete { repo: String, path: String },
    /// Appends an event (JSON) to the outbox, in the same transaction as the change it reports.
    Event(Vec<u8>),
    /// Writes or deletes a record (builds and their events commit together).
    Record(super::RecordWrite),
    /// A precondition: nothing may be at `path` when the transaction runs, else it
    /// fails with `StoreError::Exists` and changes nothing (concurrent deploys of
    /// one path without overwrite: exactly one wins).
    ExpectAbsent { repo: String, path: String },
    /// A precondition: the record `kind`/`key` still holds `value` (`None`: absent),
    /// else the transaction fails with `StoreError::Changed` (check-and-set of
    /// records read before the transaction).
    ExpectRecord {
        kind: &'static str,
        key: String,
        value: Option<Vec<u8>>,
    },
    /// Sets (`Some`) or removes (`None`) a value of a repository's key-value space.
    Kv {
        repo: String,
        key: String,
        value: Option<Vec<u8>>,
    },
    /// Fails the whole transaction with `StoreError::Stale` unless the store still
    /// holds what a reader saw: a plugin request's reads are checked where its writes
    /// commit, so two racing requests cannot both act on the same old state.
    Expect(Expectation),
}

impl Change {
    /// The repository whose content the change writes (its stamp moves), if any.
    pub fn repo(&self) -> Option<&str> {
        match self {
            Change::Put { repo, .. } | Change::Delete { repo, .. } | Change::Kv { repo, .. } => Some(repo.as_str()),
            Change::Event(_)
            | Change::Record(_)
            | Change::Expect(_)
            | Change::ExpectAbsent { .. }
            | Change::ExpectRecord { .. } => None,
        }
    }
}

/// What a transaction expects to find (see `Change::Expect`).
#[derive(Debug, Clone, PartialEq)]
pub enum Expectation {
    /// The item at `path` (none: no item there).
    Item {
        repo: String,
        path: String,
        item: Option<Box<Item>>,
    },
    /// The value of a key (none: no value).
    Kv {
        repo: String,
        key: String,
        value: Option<Vec<u8>>,
    },
    /// The direct children of a folder.
    Children {
        repo: String,
        folder: String,
        children: Vec<(String, Item)>,
    },
}

/// Download statistics of an item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub downloads: u64,
    pub last_downloaded: i64,
    pub last_downloaded_by: String,
}

/// Counters of one repository.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoCounters {
    pub files: u64,
    pub folders: u64,
    pub bytes: u64,
}

/// Counters over all distinct blobs with references.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreTotals {
    pub blobs: u64,
    pub blob_bytes: u64,
}

/// The time fields of items the store keeps ordered indexes of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeField {
    Created,
    Modified,
    LastDownloaded,
}

/// One index lookup of items (the search engine's access paths). Every variant but
/// `All` reads an index; none reads the items it does not name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Every item, by repository and path.
    All,
    /// Items of one repository whose parent folder is `parent` (`exact`) or starts with it.
    Repo {
        repo: String,
        parent: String,
        exact: bool,
    },
    /// Items named `name`, or whose name starts with it (`prefix`).
    Name {
        name: String,
        prefix: bool,
    },
    /// Items with property `key` (any value when `value` is none; a value prefix when `prefix`).
    Prop {
        key: String,
        value: Option<String>,
        prefix: bool,
    },
    /// Files whose bytes have this digest.
    Sha256(String),
    Sha1(String),
    Md5(String),
    /// Items whose time lies in `lo..=hi`, in time order (`desc`: newest first).
    Time {
        field: TimeField,
        lo: Option<i64>,
        hi: Option<i64>,
        desc: bool,
    },
}

/// One index lookup of build runs (run keys `name \0 number \0 started`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildLookup {
    /// Every run.
    All,
    /// The runs of one build name.
    Name(String),
    /// Runs started in `lo..=hi` (milliseconds), oldest first unless `desc`.
    Started {
        lo: Option<i64>,
        hi: Option<i64>,
        desc: bool,
    },
    /// Runs with a module artifact of this checksum (sha1, sha256 or md5).
    Artifact(String),
    /// Runs with a module dependency of this checksum.
    Dependency(String),
}
