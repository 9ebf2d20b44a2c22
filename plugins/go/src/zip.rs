//! A module zip checked by the module zip rules, read by ranges (only the end
//! record, the central directory and the root `go.mod` are read; the files' own
//! bytes never cross into the plugin): every file under `{module}@{version}/`, file
//! paths the go command accepts, no duplicates or paths equal but for case, the
//! sizes within the go command's limits.

use std::collections::HashSet;

use crate::gomod::MAX_GO_MOD;

/// The largest module zip and the most its files may hold unpacked (the go
/// command's limits).
pub const MAX_ZIP: u64 = 500 << 20;
/// The largest LICENSE file.
const MAX_LICENSE: u64 = 16 << 20;
/// The most a central directory may take (about 100,000 files).
const MAX_CENTRAL_DIRECTORY: u64 = 16 << 20;
const EOCD_LEN: u64 = 22;
const EOCD_SEARCH: u64 = EOCD_LEN + 0xFFFF;

/// What reads a byte range of the zip (an upload or a stored file).
pub trait Source {
    /// Up to `len` bytes at `offset`; fewer only at the end.
    fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>, String>;
    /// The zip's size in bytes.
    fn size(&self) -> u64;
}

fn exact(src: &dyn Source, offset: u64, len: u64) -> Result<Vec<u8>, String> {
    if offset.checked_add(len).is_none_or(|end| end > src.size()) {
        return Err(format!(
            "a record at offset {offset} (+{len} bytes) lies outside the {}-byte file",
            src.size()
        ));
    }
    let mut out = Vec::with_capacity(len as usize);
    while (out.len() as u64) < len {
        let want = (len - out.len() as u64).min(4 << 20) as u32;
        let chunk = src.read(offset + out.len() as u64, want)?;
        if chunk.is_empty() {
            return Err("the file ends early".into());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn u16_at(b: &[u8], i: usize) -> u64 {
    u16::from_le_bytes([b[i], b[i + 1]]) as u64
}
fn u32_at(b: &[u8], i: usize) -> u64 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as u64
}
fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}

/// One file of the central directory.
struct Entry {
    name: String,
    method: u64,
    crc: u32,
    compressed: u64,
    size: u64,
    local_offset: u64,
}

/// (offset, size) of the central directory.
fn central_directory(src: &dyn Source) -> Result<(u64, u64), String> {
    let len = src.size();
    if len < EOCD_LEN {
        return Err("it is too short to be a zip archive".into());
    }
    let tail_len = len.min(EOCD_SEARCH);
    let tail = exact(src, len - tail_len, tail_len)?;
    let eocd = (0..=tail.len() - EOCD_LEN as usize)
        .rev()
        .find(|&i| tail[i..].starts_with(b"PK\x05\x06"))
        .ok_or("it is not a zip archive (no end of central directory record)")?;
    let e = &tail[eocd..];
    let (mut size, mut offset) = (u32_at(e, 12), u32_at(e, 16));
    if (size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF || u16_at(e, 10) == 0xFFFF) && eocd >= 20 {
        let loc = &tail[eocd - 20..eocd];
        if loc.starts_with(b"PK\x06\x07") {
            let z = exact(src, u64_at(loc, 8), 56)?;
            if !z.starts_with(b"PK\x06\x06") {
                return Err("its zip64 end of central directory record is damaged".into());
            }
            size = u64_at(&z, 40);
            offset = u64_at(&z, 48);
        }
    }
    if size > MAX_CENTRAL_DIRECTORY {
        return Err(format!(
            "its central directory has {size} bytes (at most {MAX_CENTRAL_DIRECTORY})"
        ));
    }
    if offset.checked_add(size).is_none_or(|end| end > len) {
        return Err("its central directory lies outside the file (truncated or damaged)".into());
    }
    Ok((offset, size))
}

fn entries(cd: &[u8]) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 46 <= cd.len() && cd[i..].starts_with(b"PK\x01\x02") {
        let h = &cd[i..];
        let (name_len, extra_len, comment_len) =
            (u16_at(h, 28) as usize, u16_at(h, 30) as usize, u16_at(h, 32) as usize);
        let end = 46 + name_len + extra_len + comment_len;
        if end > h.len() {
            return Err("its central directory is truncated".into());
        }
        let name = std::str::from_utf8(&h[46..46 + name_len])
            .map_err(|_| "a file name in it is not UTF-8".to_string())?
            .to_string();
        let mut entry = Entry {
            name,
            method: u16_at(h, 10),
            crc: u32_at(h, 16) as u32,
            compressed: u32_at(h, 20),
            size: u32_at(h, 24),
            local_offset: u32_at(h, 42),
        };
        // Zip64 sizes and offset live in the extra field 0x0001, in this order.
        let mut extra = &h[46 + name_len..46 + name_len + extra_len];
        while extra.len() >= 4 {
            let (id, len) = (u16_at(extra, 0), u16_at(extra, 2) as usize);
            let data = extra.get(4..4 + len).unwrap_or(&[]);
            if id == 1 {
                let mut values = data.chunks_exact(8).map(|c| u64_at(c, 0));
                for field in [&mut entry.size, &mut entry.compressed, &mut entry.local_offset] {
                    if *field == 0xFFFF_FFFF {
                        *field = values.next().unwrap_or(*field);
                    }
                }
            }
            extra = extra.get(4 + len..).unwrap_or(&[]);
        }
        out.push(entry);
        i += end;
    }
    Ok(out)
}

/// Whether a file path inside a module is one the go command accepts: relative,
/// `/`-separated, no empty, `.` or `..` elements, no characters that are special
/// to shells or file systems.
fn check_file_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("an empty file path".into());
    }
    for elem in path.split('/') {
        if elem.is_empty() || elem == "." || elem == ".." {
            return Err(format!("'{path}' has an empty, '.' or '..' element"));
        }
        if let Some(c) = elem
            .chars()
            .find(|&c| c.is_control() || matches!(c, '"' | '\'' | '*' | ':' | ';' | '<' | '>' | '?' | '\\' | '`' | '|'))
        {
            return Err(format!(
                "'{path}' has the character {c:?}, which module file paths may not have"
            ));
        }
    }
    Ok(())
}

/// Checks the zip of `module`@`version` and answers its root `go.mod`, if it has one.
pub fn check(src: &dyn Source, module: &str, version: &str) -> Result<Option<Vec<u8>>, String> {
    if src.size() > MAX_ZIP {
        return Err(format!(
            "it has {} bytes; a module zip has at most {MAX_ZIP}",
            src.size()
        ));
    }
    let (cd_offset, cd_size) = central_directory(src)?;
    let all = entries(&exact(src, cd_offset, cd_size)?)?;
    let prefix = format!("{module}@{version}/");
    let mut seen = HashSet::new();
    let mut folded = HashSet::new();
    let mut total: u64 = 0;
    let mut go_mod = None;
    for e in &all {
        let Some(rel) = e.name.strip_prefix(&prefix) else {
            return Err(format!("its file '{}' is not under '{prefix}'", e.name));
        };
        // Folder entries are harmless; the go command writes none.
        if rel.is_empty() || rel.ends_with('/') {
            continue;
        }
        check_file_path(rel)?;
        if !seen.insert(rel) {
            return Err(format!("it has the file '{rel}' twice"));
        }
        if !folded.insert(rel.to_lowercase()) {
            return Err(format!(
                "it has files whose paths differ only in case ('{rel}' and another): they collide on case-insensitive file systems"
            ));
        }
        total = total.saturating_add(e.size);
        if total > MAX_ZIP {
            return Err(format!("its files hold more than {MAX_ZIP} bytes unpacked"));
        }
        if rel == "go.mod" {
            if e.size > MAX_GO_MOD {
                return Err(format!("its go.mod has {} bytes (at most {MAX_GO_MOD})", e.size));
            }
            go_mod = Some(e);
        }
        if rel == "LICENSE" && e.size > MAX_LICENSE {
            return Err(format!("its LICENSE has {} bytes (at most {MAX_LICENSE})", e.size));
        }
    }
    if seen.is_empty() {
        return Err(format!("it has no files under '{prefix}'"));
    }
    go_mod.map(|e| read_entry(src, e)).transpose()
}

/// The bytes of one (small) entry, inflated and checked against its CRC.
fn read_entry(src: &dyn Source, e: &Entry) -> Result<Vec<u8>, String> {
    if e.compressed > MAX_GO_MOD {
        return Err(format!(
            "its {} takes {} bytes packed (too large)",
            e.name, e.compressed
        ));
    }
    let local = exact(src, e.local_offset, 30)?;
    if !local.starts_with(b"PK\x03\x04") {
        return Err(format!("the local header of {} is damaged", e.name));
    }
    let data_offset = e.local_offset + 30 + u16_at(&local, 26) + u16_at(&local, 28);
    let raw = exact(src, data_offset, e.compressed)?;
    let bytes = match e.method {
        0 => raw,
        8 => miniz_oxide::inflate::decompress_to_vec_with_limit(&raw, MAX_GO_MOD as usize)
            .map_err(|err| format!("its {} does not inflate ({:?})", e.name, err.status))?,
        m => {
            return Err(format!(
                "its {} uses zip compression method {m} (only stored and deflate are allowed)",
                e.name
            ));
        }
    };
    if bytes.len() as u64 != e.size || crc32fast::hash(&bytes) != e.crc {
        return Err(format!("its {} fails the zip CRC/size check (damaged)", e.name));
    }
    Ok(bytes)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A stored (uncompressed) zip of `files`, each entry declaring `size` when given.
    pub fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut cd = Vec::new();
        for (name, data) in files {
            let off = out.len() as u32;
            let crc = crc32fast::hash(data);
            let mut h = Vec::new();
            h.extend_from_slice(b"PK\x03\x04");
            h.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            h.extend_from_slice(&crc.to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&h);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
            cd.extend_from_slice(b"PK\x01\x02");
            cd.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            cd.extend_from_slice(&crc.to_le_bytes());
            cd.extend_from_slice(&(data.len() as u32).to_le_bytes());
            cd.extend_from_slice(&(data.len() as u32).to_le_bytes());
            cd.extend_from_slice(&(name.len() as u16).to_le_bytes());
            cd.extend_from_slice(&[0; 12]);
            cd.extend_from_slice(&off.to_le_bytes());
            cd.extend_from_slice(name.as_bytes());
        }
        let cd_off = out.len() as u32;
        out.extend_from_slice(&cd);
        out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_off.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    struct Mem(Vec<u8>);
    impl Source for Mem {
        fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>, String> {
            let s = (offset as usize).min(self.0.len());
            let e = (s + len as usize).min(self.0.len());
            Ok(self.0[s..e].to_vec())
        }
        fn size(&self) -> u64 {
            self.0.len() as u64
        }
    }

    #[test]
    fn a_good_zip_gives_its_go_mod() {
        let z = zip_of(&[
            ("example.com/m@v1.0.0/go.mod", b"module example.com/m\n"),
            ("example.com/m@v1.0.0/m.go", b"package m\n"),
        ]);
        let got = check(&Mem(z), "example.com/m", "v1.0.0").unwrap();
        assert_eq!(got.unwrap(), b"module example.com/m\n");
        let z = zip_of(&[("example.com/m@v1.0.0/m.go", b"package m\n")]);
        assert!(check(&Mem(z), "example.com/m", "v1.0.0").unwrap().is_none());
    }

    #[test]
    fn bad_zips_are_refused() {
        let cases: Vec<(Vec<(&str, &[u8])>, &str)> = vec![
            (
                vec![("example.com/m@v1.0.0/a.go", b"x"), ("evil/a.go", b"x")],
                "not under",
            ),
            (vec![("example.com/m@v1.0.1/a.go", b"x")], "not under"),
            (vec![("example.com/m@v1.0.0/../a.go", b"x")], "'..'"),
            (
                vec![("example.com/m@v1.0.0/a.go", b"x"), ("example.com/m@v1.0.0/a.go", b"y")],
                "twice",
            ),
            (
                vec![("example.com/m@v1.0.0/A.go", b"x"), ("example.com/m@v1.0.0/a.go", b"y")],
                "only in case",
            ),
            (vec![("example.com/m@v1.0.0/a:b.go", b"x")], "character"),
        ];
        for (files, want) in cases {
            let err = check(&Mem(zip_of(&files)), "example.com/m", "v1.0.0").unwrap_err();
            assert!(err.contains(want), "{err} (wanted {want})");
        }
        assert!(
            check(&Mem(b"not a zip at all, just text".to_vec()), "example.com/m", "v1.0.0")
                .unwrap_err()
                .contains("not a zip")
        );
    }
}
