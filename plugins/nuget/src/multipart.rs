//! The package inside a push: NuGet clients send `multipart/form-data` with one
//! file part (chunked, so its length is known only once the host stored it). Only
//! the head and the tail of the body are read to find where the part's bytes begin
//! and end; the package itself is then recorded as a range of the upload.

/// How far into the body the part's headers may reach, and how far from the end
/// the closing delimiter may be.
const WINDOW: u64 = 64 << 10;

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    if !content_type.trim_start().to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    content_type.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// (offset, length) of the first part's content in a body of `size` bytes, read
/// through `read(offset, len)`.
pub fn first_part(
    size: u64,
    boundary: &str,
    read: impl Fn(u64, u32) -> Result<Vec<u8>, String>,
) -> Result<(u64, u64), String> {
    let delimiter = format!("--{boundary}");
    let head = read(0, size.min(WINDOW) as u32)?;
    let open = find(&head, delimiter.as_bytes()).ok_or("the multipart body does not start with its boundary")?;
    let headers_end = find(&head[open..], b"\r\n\r\n")
        .map(|i| open + i + 4)
        .ok_or("the multipart part's headers do not end within the first 64 KiB")?;
    let tail_start = size.saturating_sub(WINDOW).max(headers_end as u64);
    let tail = read(tail_start, (size - tail_start) as u32)?;
    let close = rfind(&tail, format!("\r\n{delimiter}").as_bytes())
        .ok_or("the multipart body has no closing boundary (truncated?)")?;
    let end = tail_start + close as u64;
    if end < headers_end as u64 {
        return Err("the multipart part is malformed".into());
    }
    Ok((headers_end as u64, end - headers_end as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_part() {
        assert_eq!(boundary("multipart/form-data; boundary=\"abc\"").unwrap(), "abc");
        assert!(boundary("application/octet-stream").is_none());
        let body = b"--abc\r\nContent-Disposition: form-data; name=\"package\"; filename=\"p.nupkg\"\r\nContent-Type: application/octet-stream\r\n\r\nPK-DATA\r\n--abc--\r\n".to_vec();
        let read = |o: u64, l: u32| Ok(body[o as usize..(o as usize + l as usize).min(body.len())].to_vec());
        let (off, len) = first_part(body.len() as u64, "abc", read).unwrap();
        assert_eq!(&body[off as usize..(off + len) as usize], b"PK-DATA");
        let bad = b"--abc\r\nX: y\r\n\r\nPK".to_vec();
        let read = |o: u64, l: u32| Ok(bad[o as usize..(o as usize + l as usize).min(bad.len())].to_vec());
        assert!(first_part(bad.len() as u64, "abc", read).is_err());
    }
}
