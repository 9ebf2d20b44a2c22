//! Checksum files: served for every stored file from the digests the host computed
//! (SHA-512, which the host does not compute, is worked out here by reading the file
//! in ranges and cached by content), and checked when a client uploads them.

use std::time::Instant;

use binyard_plugin_sdk::package_type::{BlobInfo, Failure, repository};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use sha2::digest::generic_array::GenericArray;

use crate::layout::Algo;

/// Bytes read per host call.
const CHUNK: u32 = 4 << 20;

const SHA512_IV: [u64; 8] = [
    0x6a09e667f3bcc908,
    0xbb67ae8584caa73b,
    0x3c6ef372fe94f82b,
    0xa54ff53a5f1d36f1,
    0x510e527fade682d1,
    0x9b05688c2b3e6c1f,
    0x1f83d9abfb41bd6b,
    0x5be0cd19137e2179,
];

fn done_key(sha256: &str) -> String {
    format!("sha512:{sha256}")
}

fn partial_key(sha256: &str) -> String {
    format!("sha512-partial:{sha256}")
}

/// A SHA-512 computation that stopped at a block boundary, to be continued.
#[derive(Serialize, Deserialize)]
struct Partial {
    offset: u64,
    state: [u64; 8],
}

/// SHA-512 of bytes at hand (generated documents), cached for their checksum files.
pub fn remember_sha512(sha256: &str, data: &[u8]) -> String {
    let hex = hex(&sha2::Sha512::digest(data));
    let _ = repository::kv_put(&done_key(sha256), hex.as_bytes());
    hex
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The digest of a stored file.
pub fn digest(path: &str, blob: &BlobInfo, algo: Algo, deadline: Instant) -> Result<String, Failure> {
    Ok(match algo {
        Algo::Sha1 => blob.sha1.clone(),
        Algo::Md5 => blob.md5.clone(),
        Algo::Sha256 => blob.sha256.clone(),
        Algo::Sha512 => sha512(path, blob, deadline)?,
    })
}

/// The SHA-512 of a stored file: from the cache, or read in 4 MiB ranges until
/// `deadline`; a computation that cannot finish in time is saved and continued by the
/// next request (the client is told to retry).
fn sha512(path: &str, blob: &BlobInfo, deadline: Instant) -> Result<String, Failure> {
    if let Some(v) = repository::kv_get(&done_key(&blob.sha256))?
        && let Ok(s) = String::from_utf8(v)
    {
        return Ok(s);
    }
    let saved: Option<Partial> = repository::kv_get(&partial_key(&blob.sha256))?
        .and_then(|v| serde_json::from_slice(&v).ok())
        .filter(|p: &Partial| p.offset <= blob.size && p.offset.is_multiple_of(128));
    let (mut offset, mut state) = saved.map_or((0, SHA512_IV), |p| (p.offset, p.state));
    loop {
        if Instant::now() >= deadline {
            let p = serde_json::to_vec(&Partial { offset, state }).unwrap_or_default();
            let _ = repository::kv_put(&partial_key(&blob.sha256), &p);
            return Err(Failure::new(
                503,
                format!(
                    "The SHA-512 of '{path}' ({} bytes) is being computed ({}% done): retry in a few seconds",
                    blob.size,
                    offset * 100 / blob.size.max(1)
                ),
            ));
        }
        let chunk = repository::read(path, offset, CHUNK)?;
        let last = offset + chunk.len() as u64 >= blob.size;
        if chunk.is_empty() && !last {
            return Err(Failure::new(
                409,
                format!("'{path}' changed while its SHA-512 was computed: retry"),
            ));
        }
        let whole = chunk.len() / 128 * 128;
        compress(&mut state, &chunk[..whole]);
        offset += whole as u64;
        if last {
            let hex = finish(state, &chunk[whole..], blob.size);
            // Only a file that did not change meanwhile gives its digest to the cache.
            if repository::stat(path)?
                .and_then(|a| a.blob)
                .is_some_and(|b| b.sha256 == blob.sha256)
            {
                let _ = repository::kv_put(&done_key(&blob.sha256), hex.as_bytes());
                let _ = repository::kv_delete(&partial_key(&blob.sha256));
            }
            return Ok(hex);
        }
    }
}

fn compress(state: &mut [u64; 8], blocks: &[u8]) {
    for block in blocks.chunks_exact(128) {
        sha2::compress512(state, std::slice::from_ref(GenericArray::from_slice(block)));
    }
}

/// Pads the last partial block (FIPS 180-4 §5.1.2) and renders the digest.
fn finish(mut state: [u64; 8], tail: &[u8], total_len: u64) -> String {
    let mut last = tail.to_vec();
    last.push(0x80);
    while last.len() % 128 != 112 {
        last.push(0);
    }
    last.extend_from_slice(&(u128::from(total_len) * 8).to_be_bytes());
    compress(&mut state, &last);
    let bytes: Vec<u8> = state.iter().flat_map(|w| w.to_be_bytes()).collect();
    hex(&bytes)
}

/// What a client's checksum file says: its first word, in lower case, checked to be
/// hex digits of the algorithm's length (`sha1sum` output with a file name is fine).
pub fn parse_client_checksum(body: &[u8], algo: Algo, name: &str) -> Result<String, Failure> {
    let text = String::from_utf8_lossy(body);
    let word = text.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
    if word.len() != algo.hex_len() || !word.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Failure::bad_request(format!(
            "'{name}' must hold a {} checksum ({} hexadecimal characters); it holds {:?}",
            algo.label(),
            algo.hex_len(),
            text.chars().take(140).collect::<String>()
        )));
    }
    Ok(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumable_sha512_matches() {
        for len in [0usize, 1, 111, 112, 127, 128, 129, 1000, 70_000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let whole = data.len() / 128 * 128;
            let mut state = SHA512_IV;
            // In two steps, as two requests would.
            let half = whole / 256 * 128;
            compress(&mut state, &data[..half]);
            compress(&mut state, &data[half..whole]);
            let got = finish(state, &data[whole..], len as u64);
            assert_eq!(got, hex(&sha2::Sha512::digest(&data)), "length {len}");
        }
    }

    #[test]
    fn client_checksums() {
        let h = "a".repeat(40);
        assert_eq!(
            parse_client_checksum(format!("{}  x.jar\n", h.to_uppercase()).as_bytes(), Algo::Sha1, "x").unwrap(),
            h
        );
        assert!(parse_client_checksum(b"abc", Algo::Sha1, "x").is_err());
    }
}
