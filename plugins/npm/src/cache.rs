//! Built packuments, kept in the key-value space so that a request for an unchanged
//! package costs one listing and one read instead of a metadata read per version.
//!
//! An entry is valid only for the exact state it was built from: its fingerprint
//! covers every stored input (each tarball's path, bytes, times, tags and
//! deprecation), the URL the links point at, the form (full or abbreviated) and this
//! plugin's version. A change made any way, through npm or the Artifactory API,
//! changes the listing and so misses the cache.

use binyard_plugin_sdk::package_type::repository;
use sha1::Digest;

use crate::integrity::hex;
use crate::names::PackageName;
use crate::store::Stored;

/// kv values are at most 1 MiB: larger documents span several keys.
const CHUNK: usize = (1 << 20) - 4096;
/// Bumped when the shape of a built packument changes.
const FORMAT: &str = "1";

/// The fingerprint of what a packument is built from.
pub fn fingerprint(versions: &[Stored], base_url: &str, abbreviated: bool) -> String {
    let mut h = sha1::Sha1::new();
    for part in [
        env!("CARGO_PKG_VERSION"),
        FORMAT,
        base_url,
        if abbreviated { "corgi" } else { "full" },
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    crate::store::hash_versions(&mut h, versions, true);
    hex(&h.finalize())
}

fn key(name: &PackageName, base_url: &str, abbreviated: bool) -> String {
    let host = hex(&sha1::Sha1::digest(base_url.as_bytes())[..6]);
    let form = if abbreviated { "corgi" } else { "full" };
    format!("packument/{form}/{host}/{}", name.full)
}

/// The header of an entry: its fingerprint and how many chunks it has.
fn header(first: &[u8]) -> Option<(&str, usize, usize)> {
    let nl = first.iter().position(|b| *b == b'\n')?;
    let header = std::str::from_utf8(&first[..nl]).ok()?;
    let (fp, chunks) = header.split_once(' ')?;
    Some((fp, chunks.parse().ok()?, nl + 1))
}

/// Chunks after the first are named by their fingerprint: they never change, so a
/// reader of an older entry cannot mix in a newer entry's bytes.
fn chunk_key(key: &str, fp: &str, i: usize) -> String {
    format!("{key}#{fp}#{i}")
}

/// The cached document for this fingerprint, if there is one.
pub fn get(name: &PackageName, base_url: &str, abbreviated: bool, fp: &str) -> Option<Vec<u8>> {
    let key = key(name, base_url, abbreviated);
    let first = repository::kv_get(&key).ok().flatten()?;
    let (stored_fp, chunks, start) = header(&first)?;
    if stored_fp != fp {
        return None;
    }
    let mut body = first[start..].to_vec();
    for i in 1..chunks {
        body.extend_from_slice(&repository::kv_get(&chunk_key(&key, fp, i)).ok().flatten()?);
    }
    Some(body)
}

/// Keeps a built document (a failure only means it is built again next time).
pub fn put(name: &PackageName, base_url: &str, abbreviated: bool, fp: &str, body: &[u8]) {
    let key = key(name, base_url, abbreviated);
    let first_len = (CHUNK - 128).min(body.len());
    let rest: Vec<&[u8]> = body[first_len..].chunks(CHUNK).collect();
    for (i, c) in rest.iter().enumerate() {
        if repository::kv_put(&chunk_key(&key, fp, i + 1), c).is_err() {
            return;
        }
    }
    let old = repository::kv_get(&key).ok().flatten();
    let mut first = format!("{fp} {}\n", rest.len() + 1).into_bytes();
    first.extend_from_slice(&body[..first_len]);
    if repository::kv_put(&key, &first).is_err() {
        return;
    }
    // The previous entry's chunks are garbage now.
    if let Some((old_fp, chunks, _)) = old.as_deref().and_then(header)
        && old_fp != fp
    {
        for i in 1..chunks {
            let _ = repository::kv_delete(&chunk_key(&key, old_fp, i));
        }
    }
}
