//! A zip archive read by byte ranges, as plugins read uploads and stored files:
//! the end record, the central directory, then only the entries asked for; the
//! rest of the archive never crosses into the plugin. Shared by the formats whose
//! packages are zips (Go modules, NuGet packages).

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

pub fn exact(src: &dyn Source, offset: u64, len: u64) -> Result<Vec<u8>, String> {
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
pub struct Entry {
    pub name: String,
    pub method: u64,
    pub crc: u32,
    pub compressed: u64,
    pub size: u64,
    pub local_offset: u64,
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

fn parse_entries(cd: &[u8]) -> Result<Vec<Entry>, String> {
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

/// The files of the archive, from its central directory.
pub fn entries(src: &dyn Source) -> Result<Vec<Entry>, String> {
    let (offset, size) = central_directory(src)?;
    parse_entries(&exact(src, offset, size)?)
}

/// The bytes of one small entry (at most `max` bytes packed and unpacked),
/// inflated and checked against its CRC.
pub fn read_entry(src: &dyn Source, e: &Entry, max: u64) -> Result<Vec<u8>, String> {
    if e.compressed > max || e.size > max {
        return Err(format!("its {} is larger than {max} bytes", e.name));
    }
    let local = exact(src, e.local_offset, 30)?;
    if !local.starts_with(b"PK\x03\x04") {
        return Err(format!("the local header of {} is damaged", e.name));
    }
    let data_offset = e.local_offset + 30 + u16_at(&local, 26) + u16_at(&local, 28);
    let raw = exact(src, data_offset, e.compressed)?;
    let bytes = match e.method {
        0 => raw,
        8 => miniz_oxide::inflate::decompress_to_vec_with_limit(&raw, max as usize)
            .map_err(|err| format!("its {} does not inflate ({:?})", e.name, err.status))?,
        m => {
            return Err(format!(
                "its {} uses zip compression method {m} (only stored and deflate are read)",
                e.name
            ));
        }
    };
    if bytes.len() as u64 != e.size || crc32fast::hash(&bytes) != e.crc {
        return Err(format!("its {} fails the zip CRC/size check (damaged)", e.name));
    }
    Ok(bytes)
}
