//! Reading an npm tarball (a gzipped tar whose top folder, usually `package/`, holds
//! `package.json`) without unpacking it: a small tar reader over a gzip stream.

use std::io::{self, Read};

use binyard_plugin_sdk::package_type::{Failure, repository};
use flate2::read::GzDecoder;
use serde_json::Value;

/// The largest `package.json` read from a tarball.
const MAX_PACKAGE_JSON: u64 = 1 << 20;
/// A tarball that unpacks to more than this is refused (a gzip bomb, or not a package).
pub const MAX_UNPACKED: u64 = 512 << 20;

/// Reads the `package.json` in a tarball's top folder. With `whole`, reads the archive
/// to its end so that a truncated or corrupt tarball is caught (and the gzip checksum
/// checked); otherwise stops at `package.json`.
pub fn package_json(src: impl Read, whole: bool) -> Result<Value, Failure> {
    let bad = |why: String| Failure::bad_request(format!("The tarball is not a valid npm package: {why}"));
    let mut gz = Limited {
        inner: GzDecoder::new(src),
        left: MAX_UNPACKED,
    };
    let mut found: Option<Value> = None;
    let mut long_name: Option<String> = None;
    let mut header = [0u8; 512];
    loop {
        read_block(&mut gz, &mut header).map_err(|e| bad(e.to_string()))?;
        if header.iter().all(|b| *b == 0) {
            break;
        }
        if !checksum_ok(&header) {
            return Err(bad(
                "a tar header's checksum is wrong (is it a gzipped tar archive?)".into()
            ));
        }
        let size = octal(&header[124..136]).ok_or_else(|| bad("a tar header has an invalid size".into()))?;
        let kind = header[156];
        let name = match long_name.take() {
            Some(n) => n,
            None => header_name(&header),
        };
        let padded = size.div_ceil(512) * 512;
        match kind {
            // A pax header or GNU long name: its path applies to the next entry.
            b'x' | b'L' => {
                let data = read_exact_vec(&mut gz, size, 1 << 20).map_err(|e| bad(e.to_string()))?;
                skip(&mut gz, padded - size).map_err(|e| bad(e.to_string()))?;
                long_name = if kind == b'L' {
                    Some(String::from_utf8_lossy(&data).trim_end_matches('\0').to_string())
                } else {
                    pax_path(&data)
                };
            }
            b'0' | 0 if found.is_none() && is_top_package_json(&name) => {
                if size > MAX_PACKAGE_JSON {
                    return Err(bad(format!("its package.json has {size} bytes")));
                }
                let data = read_exact_vec(&mut gz, size, MAX_PACKAGE_JSON).map_err(|e| bad(e.to_string()))?;
                skip(&mut gz, padded - size).map_err(|e| bad(e.to_string()))?;
                let v: Value =
                    serde_json::from_slice(&data).map_err(|e| bad(format!("its package.json is not JSON: {e}")))?;
                if !v.is_object() {
                    return Err(bad("its package.json is not a JSON object".into()));
                }
                found = Some(v);
                if !whole {
                    return Ok(found.unwrap_or_default());
                }
            }
            _ => skip(&mut gz, padded).map_err(|e| bad(e.to_string()))?,
        }
    }
    if whole {
        // The rest of the gzip stream (tar padding) and its checksum.
        io::copy(&mut gz, &mut io::sink()).map_err(|e| bad(e.to_string()))?;
    }
    found.ok_or_else(|| bad("it has no package.json in its top folder".into()))
}

/// A stored file read in chunks through the host.
pub struct StoredFile {
    path: String,
    offset: u64,
}

impl StoredFile {
    pub fn new(path: &str) -> Self {
        StoredFile {
            path: path.to_string(),
            offset: 0,
        }
    }
}

impl Read for StoredFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min(1 << 20) as u32;
        let chunk = repository::read(&self.path, self.offset, want).map_err(|f| io::Error::other(f.message))?;
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        self.offset += n as u64;
        Ok(n)
    }
}

/// A reader that fails once more than `left` bytes came through.
struct Limited<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self
            .left
            .checked_sub(n as u64)
            .ok_or_else(|| io::Error::other(format!("it unpacks to more than {} MiB", MAX_UNPACKED >> 20)))?;
        Ok(n)
    }
}

fn read_block(r: &mut impl Read, buf: &mut [u8; 512]) -> io::Result<()> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => io::Error::other("the archive ends in the middle (truncated?)"),
        _ => e,
    })
}

fn read_exact_vec(r: &mut impl Read, size: u64, max: u64) -> io::Result<Vec<u8>> {
    if size > max {
        return Err(io::Error::other(format!("a tar entry of {size} bytes is too large")));
    }
    let mut v = vec![0u8; size as usize];
    r.read_exact(&mut v)
        .map_err(|_| io::Error::other("the archive ends in the middle (truncated?)"))?;
    Ok(v)
}

fn skip(r: &mut impl Read, n: u64) -> io::Result<()> {
    let copied = io::copy(&mut r.take(n), &mut io::sink())?;
    if copied < n {
        return Err(io::Error::other("the archive ends in the middle (truncated?)"));
    }
    Ok(())
}

/// The ustar name: `prefix/name` when a prefix is set.
fn header_name(h: &[u8; 512]) -> String {
    let field = |b: &[u8]| {
        let end = b.iter().position(|c| *c == 0).unwrap_or(b.len());
        String::from_utf8_lossy(&b[..end]).into_owned()
    };
    let name = field(&h[0..100]);
    let prefix = if &h[257..262] == b"ustar" {
        field(&h[345..500])
    } else {
        String::new()
    };
    if prefix.is_empty() {
        name
    } else {
        format!("{prefix}/{name}")
    }
}

/// `path=` from a pax extended header (records `LEN key=value\n`).
fn pax_path(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    text.lines().find_map(|rec| {
        let (_, kv) = rec.split_once(' ')?;
        kv.strip_prefix("path=").map(str::to_string)
    })
}

/// `package/package.json` (any single top folder, `./` allowed).
fn is_top_package_json(name: &str) -> bool {
    let n = name.trim_start_matches("./");
    matches!(n.split_once('/'), Some((top, "package.json")) if !top.is_empty())
}

/// A tar number: octal text, or base-256 when the high bit is set.
fn octal(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = (field[0] & 0x7f) as u64;
        for b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(*b as u64)?;
        }
        return Some(v);
    }
    let text: String = field
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| *b as char)
        .collect::<String>()
        .trim()
        .to_string();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(&text, 8).ok()
}

/// The header checksum: the sum of its bytes with the checksum field as spaces.
fn checksum_ok(h: &[u8; 512]) -> bool {
    let Some(want) = octal(&h[148..156]) else {
        return false;
    };
    let sum: u64 = h
        .iter()
        .enumerate()
        .map(|(i, b)| if (148..156).contains(&i) { 32 } else { *b as u64 })
        .sum();
    sum == want
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn entry(name: &str, kind: u8, data: &[u8]) -> Vec<u8> {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|b| *b as u32).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let mut out = h.to_vec();
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
        out
    }

    fn gz(parts: &[Vec<u8>]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for p in parts {
            e.write_all(p).unwrap();
        }
        e.write_all(&[0; 1024]).unwrap();
        e.finish().unwrap()
    }

    const PKG: &[u8] = br#"{"name":"x","version":"1.0.0"}"#;

    #[test]
    fn finds_package_json_in_any_top_folder() {
        for name in ["package/package.json", "./package/package.json", "x-1.0.0/package.json"] {
            let t = gz(&[entry("package/README.md", b'0', b"hi"), entry(name, b'0', PKG)]);
            let v = package_json(t.as_slice(), true).unwrap();
            assert_eq!(v["name"], "x", "{name}");
        }
    }

    #[test]
    fn long_names_from_pax_and_gnu_headers_apply_to_the_next_entry() {
        let pax = entry("PaxHeader", b'x', b"29 path=package/package.json\n");
        let t = gz(&[pax, entry("cut-short", b'0', PKG)]);
        assert_eq!(package_json(t.as_slice(), true).unwrap()["version"], "1.0.0");
        let gnu = entry("././@LongLink", b'L', b"package/package.json\0");
        let t = gz(&[gnu, entry("cut-short", b'0', PKG)]);
        assert_eq!(package_json(t.as_slice(), false).unwrap()["version"], "1.0.0");
        // A nested package.json is not the package's.
        let t = gz(&[entry("package/lib/package.json", b'0', PKG)]);
        assert!(package_json(t.as_slice(), true).is_err());
    }

    #[test]
    fn corrupt_archives_are_refused() {
        let good = gz(&[entry("package/package.json", b'0', PKG)]);
        let msg = |b: &[u8]| package_json(b, true).unwrap_err().message;
        assert!(msg(&good[..good.len() - 10]).contains("not a valid npm package"));
        assert!(msg(b"plain text").contains("not a valid npm package"));
        let mut flipped = entry("package/package.json", b'0', PKG);
        flipped[0] = b'q';
        assert!(msg(&gz(&[flipped])).contains("checksum"));
        assert!(msg(&gz(&[entry("package/package.json", b'0', b"{nope")])).contains("not JSON"));
    }
}
