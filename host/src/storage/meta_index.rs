//! The search indexes of the redb metadata store: one table of keys (no values),
//! each key an index entry that sorts where a lookup finds it. They are written in
//! the same transaction as the rows they index, so a search never sees one without
//! the other.
//!
//! | entry                                   | finds                         |
//! |-----------------------------------------|-------------------------------|
//! | `n \0 name \0 repo \0 path`             | items by name                 |
//! | `k \0 key \0 repo \0 path`              | items by property key         |
//! | `v \0 key \0 value \0 repo \0 path`     | items by property key=value   |
//! | `c`/`m`/`d \0 time \0 repo \0 path`     | created, modified, downloaded |
//! | `5 \0 md5 \0 sha256`                    | blobs by md5                  |
//! | `s \0 time \0 run`                      | build runs by start time      |
//! | `a`/`e \0 checksum \0 run`              | runs by artifact / dependency |
//!
//! Items by repository + path are the item table itself (`repo \0 parent \0 name`),
//! sha256 is the placement table and sha1 the sha1 table.

use redb::{Table, TableDefinition};

use super::{Item, StoreError, TimeField};

pub const INDEX: TableDefinition<&str, ()> = TableDefinition::new("search_index");
/// The version of the entries above (in COUNTERS); a database without it (or with an
/// older one) has its index rebuilt at start.
pub const INDEX_VERSION_KEY: &str = "\0search-index-version";
pub const INDEX_VERSION: &str = "1";

pub type IndexTable<'t> = Table<'t, &'static str, ()>;

/// False only in the deploy-cost benchmark's build (feature `unindexed-bench`).
pub const ENABLED: bool = !cfg!(feature = "unindexed-bench");

/// A time as a key part that sorts like the number (sign bit flipped, fixed-width hex).
pub fn time_key(ms: i64) -> String {
    format!("{:016x}", (ms as u64) ^ (1 << 63))
}

/// The item-table prefix of `Lookup::Repo`: the folder's children (`exact`) or
/// every path under it.
pub fn repo_prefix(repo: &str, parent: &str, exact: bool) -> String {
    if exact {
        format!("{repo}\0{parent}\0")
    } else {
        format!("{repo}\0{parent}")
    }
}

/// The index prefix of `Lookup::Name`.
pub fn name_prefix(name: &str, prefix: bool) -> String {
    if prefix {
        format!("n\0{name}")
    } else {
        format!("n\0{name}\0")
    }
}

/// The index prefix of `Lookup::Prop`.
pub fn prop_prefix(key: &str, value: Option<&str>, prefix: bool) -> String {
    match value {
        None => format!("k\0{key}\0"),
        Some(v) if prefix => format!("v\0{key}\0{v}"),
        Some(v) => format!("v\0{key}\0{v}\0"),
    }
}

/// The index range of times `lo..=hi` (open ends when `None`) under `tag`.
pub fn time_range(tag: &str, lo: Option<i64>, hi: Option<i64>) -> (String, String) {
    let start = format!("{tag}\0{}", time_key(lo.unwrap_or(i64::MIN)));
    let end = format!("{tag}\0{}{}", time_key(hi.unwrap_or(i64::MAX)), char::MAX);
    (start, end)
}

pub fn time_tag(f: TimeField) -> &'static str {
    match f {
        TimeField::Created => "c",
        TimeField::Modified => "m",
        TimeField::LastDownloaded => "d",
    }
}

fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The entries of one item (without its download time, which STATS holds).
pub fn item_entries(repo: &str, path: &str, item: &Item) -> Vec<String> {
    let tail = format!("{repo}\0{path}");
    let mut out = Vec::with_capacity(3 + 2 * item.props.len());
    out.push(format!("n\0{}\0{tail}", name_of(path)));
    out.push(format!("c\0{}\0{tail}", time_key(item.created)));
    out.push(format!("m\0{}\0{tail}", time_key(item.modified)));
    for (k, vs) in &item.props {
        out.push(format!("k\0{k}\0{tail}"));
        for v in vs {
            out.push(format!("v\0{k}\0{v}\0{tail}"));
        }
    }
    out
}

/// Adds (`add`) or removes the entries of an item.
pub fn index_item(ix: &mut IndexTable, repo: &str, path: &str, item: &Item, add: bool) -> Result<(), StoreError> {
    if !ENABLED {
        return Ok(());
    }
    for k in item_entries(repo, path, item) {
        if add {
            ix.insert(k.as_str(), ())?;
        } else {
            ix.remove(k.as_str())?;
        }
    }
    Ok(())
}

/// Replaces the entries of an item changed in place: only those that differ are written.
pub fn reindex_item(ix: &mut IndexTable, repo: &str, path: &str, old: &Item, new: &Item) -> Result<(), StoreError> {
    if !ENABLED {
        return Ok(());
    }
    let before = item_entries(repo, path, old);
    let after = item_entries(repo, path, new);
    for k in before.iter().filter(|k| !after.contains(k)) {
        ix.remove(k.as_str())?;
    }
    for k in after.iter().filter(|k| !before.contains(k)) {
        ix.insert(k.as_str(), ())?;
    }
    Ok(())
}

/// The download-time entry of an item.
pub fn downloaded_key(repo: &str, path: &str, ms: i64) -> String {
    format!("d\0{}\0{repo}\0{path}", time_key(ms))
}

pub fn md5_key(md5: &str, sha256: &str) -> String {
    format!("5\0{md5}\0{sha256}")
}

/// The entries of a stored build run (`raw`: the run record, whose `buildInfo` is the
/// published body).
pub fn run_entries(run_key: &str, raw: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(ts) = run_key.rsplit('\0').next().and_then(|s| s.parse::<i64>().ok()) {
        out.push(format!("s\0{}\0{run_key}", time_key(ts)));
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(raw) else {
        return out;
    };
    let modules = v["buildInfo"]["modules"].as_array().cloned().unwrap_or_default();
    for m in &modules {
        for (tag, list) in [("a", &m["artifacts"]), ("e", &m["dependencies"])] {
            for f in list.as_array().into_iter().flatten() {
                for sum in ["sha1", "sha256", "md5"] {
                    if let Some(s) = f[sum].as_str().filter(|s| !s.is_empty()) {
                        let k = format!("{tag}\0{}\0{run_key}", s.to_ascii_lowercase());
                        if !out.contains(&k) {
                            out.push(k);
                        }
                    }
                }
            }
        }
    }
    out
}

/// Adds or removes the entries of a build run record.
pub fn index_run(ix: &mut IndexTable, run_key: &str, raw: &[u8], add: bool) -> Result<(), StoreError> {
    if !ENABLED {
        return Ok(());
    }
    for k in run_entries(run_key, raw) {
        if add {
            ix.insert(k.as_str(), ())?;
        } else {
            ix.remove(k.as_str())?;
        }
    }
    Ok(())
}

/// The exclusive end of the keys that start with `prefix`.
pub fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.to_string();
    end.push(char::MAX);
    end
}

/// `(repo, path)` from the tail `… \0 repo \0 path` of an entry.
pub fn split_tail(key: &str) -> Option<(&str, &str)> {
    let mut it = key.rsplitn(3, '\0');
    let path = it.next()?;
    let repo = it.next()?;
    it.next()?;
    Some((repo, path))
}
