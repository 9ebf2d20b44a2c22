//! A wheel's `*.dist-info/METADATA`, read from the zip by ranges: the end of central
//! directory record, the central directory, then the one entry (PEP 658 serves it).

use crate::multipart::Source;

/// The most METADATA may take (compressed or not); real ones are a few KiB.
const MAX_METADATA: u64 = 8 << 20;
/// The most a central directory may take: about 100,000 entries.
const MAX_CENTRAL_DIRECTORY: u64 = 16 << 20;
/// End of central directory record: 22 bytes and a comment of up to 64 KiB.
const EOCD_LEN: u64 = 22;
const EOCD_SEARCH: u64 = EOCD_LEN + 0xFFFF;

/// A window of a source: the file part of an upload.
pub struct Slice<'a, S: Source + ?Sized> {
    pub src: &'a S,
    pub start: u64,
    pub len: u64,
}

impl<S: Source + ?Sized> Slice<'_, S> {
    /// Exactly `len` bytes at `offset` inside the window.
    fn exact(&self, offset: u64, len: u64) -> Result<Vec<u8>, String> {
        if offset.checked_add(len).is_none_or(|end| end > self.len) {
            return Err(format!(
                "a record at offset {offset} (+{len} bytes) lies outside the {}-byte file",
                self.len
            ));
        }
        let mut out = Vec::with_capacity(len as usize);
        while (out.len() as u64) < len {
            let want = (len - out.len() as u64).min(crate::multipart::CHUNK as u64) as u32;
            let chunk = self.src.read(self.start + offset + out.len() as u64, want)?;
            if chunk.is_empty() {
                return Err("the file ends early".into());
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
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

/// One entry of the central directory.
struct Entry {
    name: String,
    method: u64,
    crc: u32,
    compressed: u64,
    size: u64,
    local_offset: u64,
}

/// Where the central directory is: (offset, size).
fn central_directory<S: Source + ?Sized>(zip: &Slice<S>) -> Result<(u64, u64), String> {
    if zip.len < EOCD_LEN {
        return Err("it is too short to be a zip archive".into());
    }
    let tail_len = zip.len.min(EOCD_SEARCH);
    let tail_start = zip.len - tail_len;
    let tail = zip.exact(tail_start, tail_len)?;
    let eocd = (0..=tail.len() - EOCD_LEN as usize)
        .rev()
        .find(|&i| tail[i..].starts_with(b"PK\x05\x06"))
        .ok_or("it has no zip end of central directory record (not a zip archive, or truncated)")?;
    let e = &tail[eocd..];
    let (mut size, mut offset) = (u32_at(e, 12), u32_at(e, 16));
    if (size == 0xFFFF_FFFF || offset == 0xFFFF_FFFF || u16_at(e, 10) == 0xFFFF) && eocd >= 20 {
        // Zip64: the locator before the record points at the zip64 record.
        let loc = &tail[eocd - 20..eocd];
        if loc.starts_with(b"PK\x06\x07") {
            let z = zip.exact(u64_at(loc, 8), 56)?;
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
    if offset.checked_add(size).is_none_or(|end| end > zip.len) {
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
        let mut entry = Entry {
            name: String::from_utf8_lossy(&h[46..46 + name_len]).into_owned(),
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
    if out.is_empty() {
        return Err("its central directory has no entries".into());
    }
    Ok(out)
}

/// The bytes of the wheel's `{name}-{version}.dist-info/METADATA`.
pub fn metadata<S: Source + ?Sized>(zip: &Slice<S>, filename: &str) -> Result<Vec<u8>, String> {
    let (cd_offset, cd_size) = central_directory(zip)?;
    let all = entries(&zip.exact(cd_offset, cd_size)?)?;
    // The dist-info folder is named like the file: {distribution}-{version}.
    let mut stem = filename.trim_end_matches(".whl").splitn(3, '-');
    let expected = format!(
        "{}-{}.dist-info/METADATA",
        stem.next().unwrap_or(""),
        stem.next().unwrap_or("")
    );
    let entry = match all.iter().find(|e| e.name.eq_ignore_ascii_case(&expected)) {
        Some(e) => e,
        None => {
            let found: Vec<&Entry> = all
                .iter()
                .filter(|e| {
                    e.name
                        .strip_suffix(".dist-info/METADATA")
                        .is_some_and(|d| !d.is_empty() && !d.contains('/'))
                })
                .collect();
            match found.as_slice() {
                [one] => *one,
                [] => return Err("it has no *.dist-info/METADATA file".into()),
                _ => {
                    return Err(format!(
                        "it has several *.dist-info/METADATA files and none is {expected}"
                    ));
                }
            }
        }
    };
    if entry.compressed > MAX_METADATA || entry.size > MAX_METADATA {
        return Err(format!("its {} is larger than {MAX_METADATA} bytes", entry.name));
    }
    let local = zip.exact(entry.local_offset, 30)?;
    if !local.starts_with(b"PK\x03\x04") {
        return Err(format!("the local header of {} is damaged", entry.name));
    }
    let data_offset = entry.local_offset + 30 + u16_at(&local, 26) + u16_at(&local, 28);
    let raw = zip.exact(data_offset, entry.compressed)?;
    let bytes = match entry.method {
        0 => raw,
        8 => miniz_oxide::inflate::decompress_to_vec_with_limit(&raw, MAX_METADATA as usize)
            .map_err(|e| format!("its {} does not inflate ({:?})", entry.name, e.status))?,
        m => {
            return Err(format!(
                "its {} uses zip compression method {m} (only stored and deflate are read)",
                entry.name
            ));
        }
    };
    if bytes.len() as u64 != entry.size || crc32fast::hash(&bytes) != entry.crc {
        return Err(format!("its {} fails the zip CRC/size check (damaged)", entry.name));
    }
    Ok(bytes)
}

/// The first value of a header of a core metadata file (RFC 822 style headers up to
/// the first empty line).
pub fn header(metadata: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(metadata);
    for line in text.lines() {
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case(name)
        {
            return Some(v.trim().to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal zip with deflated entries, written by hand (the test has no zip crate).
    fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut cd = Vec::new();
        for (name, data) in files {
            let comp = miniz_oxide::deflate::compress_to_vec(data, 6);
            let crc = crc32fast::hash(data);
            let off = out.len() as u32;
            out.extend_from_slice(b"PK\x03\x04");
            out.extend_from_slice(&[20, 0, 0, 0, 8, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&(comp.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&comp);
            cd.extend_from_slice(b"PK\x01\x02");
            cd.extend_from_slice(&[20, 0, 20, 0, 0, 0, 8, 0, 0, 0, 0, 0]);
            cd.extend_from_slice(&crc.to_le_bytes());
            cd.extend_from_slice(&(comp.len() as u32).to_le_bytes());
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

    #[test]
    fn reads_metadata_from_a_wheel_inside_a_larger_body() {
        let meta = b"Metadata-Version: 2.1\nName: Foo_Bar\nVersion: 1.0\nRequires-Python: >=3.8\n\nbody";
        let z = zip(&[
            ("foo_bar/__init__.py", b"x = 1\n"),
            ("foo_bar-1.0.dist-info/METADATA", meta),
        ]);
        let mut body = b"prefix".to_vec();
        body.extend_from_slice(&z);
        body.extend_from_slice(b"suffix");
        let slice = Slice {
            src: body.as_slice(),
            start: 6,
            len: z.len() as u64,
        };
        let got = metadata(&slice, "foo_bar-1.0-py3-none-any.whl").unwrap();
        assert_eq!(got, meta);
        assert_eq!(header(&got, "requires-python").as_deref(), Some(">=3.8"));
        assert_eq!(header(&got, "Name").as_deref(), Some("Foo_Bar"));
    }

    #[test]
    fn refuses_damaged_archives() {
        let data: &[u8] = b"this is not a zip archive at all, just some text";
        let s = Slice {
            src: data,
            start: 0,
            len: data.len() as u64,
        };
        assert!(
            metadata(&s, "a-1-py3-none-any.whl")
                .unwrap_err()
                .contains("end of central directory")
        );
        let mut z = zip(&[("a-1.dist-info/METADATA", b"Name: a\n")]);
        let at = z.len() - 40;
        z[at] ^= 0xFF;
        let s = Slice {
            src: z.as_slice(),
            start: 0,
            len: z.len() as u64,
        };
        assert!(metadata(&s, "a-1-py3-none-any.whl").is_err());
        let z = zip(&[("a/__init__.py", b"")]);
        let s = Slice {
            src: z.as_slice(),
            start: 0,
            len: z.len() as u64,
        };
        assert!(
            metadata(&s, "a-1-py3-none-any.whl")
                .unwrap_err()
                .contains("no *.dist-info/METADATA")
        );
    }
}
