//! `multipart/form-data` read in place from a stored upload: the parser reads the
//! body by ranges and reports where each part's bytes are, so a file part can be
//! committed as a range without ever being held in memory whole.

use memchr::memmem::Finder;

/// Bytes read from the upload per host call.
pub const CHUNK: u32 = 2 << 20;
/// The most a part's header block may take.
const MAX_PART_HEADERS: u32 = 16 << 10;

/// Random access to stored bytes (the request's upload, or a slice in tests).
pub trait Source {
    /// The total size.
    fn size(&self) -> u64;
    /// Up to `len` bytes from `offset`; fewer at the end.
    fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>, String>;
}

impl Source for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>, String> {
        let start = (offset as usize).min(self.len());
        let end = start.saturating_add(len as usize).min(self.len());
        Ok(self[start..end].to_vec())
    }
}

/// One part of the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The form field name.
    pub name: String,
    /// The file name, for file parts.
    pub filename: Option<String>,
    /// Where the part's bytes start in the body, and how many there are.
    pub start: u64,
    pub len: u64,
    /// The value of a field that is not a file, if it is at most the text limit.
    pub value: Option<String>,
}

impl Part {
    /// Whether the field was longer than the text limit (its value was not kept).
    pub fn too_long(&self) -> bool {
        self.filename.is_none() && self.value.is_none()
    }
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = split_params(content_type).into_iter();
    let kind = params.next()?;
    if !kind.1.is_empty() || !kind.0.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params
        .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v)
        .filter(|b| !b.is_empty() && b.len() <= 200)
}

/// Splits `value; k=v; k2="quoted"` into pairs (the first with an empty value).
fn split_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == ';' || c == '=' {
                break;
            }
            key.push(c);
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'=') {
            chars.next();
            while chars.peek() == Some(&' ') {
                chars.next();
            }
            if chars.peek() == Some(&'"') {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => value.extend(chars.next()),
                        c => value.push(c),
                    }
                }
                // Anything between the closing quote and `;` is dropped.
                while chars.peek().is_some_and(|&c| c != ';') {
                    chars.next();
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ';' {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
                value = value.trim().to_string();
            }
        }
        let key = key.trim().to_string();
        if !key.is_empty() || !out.is_empty() {
            out.push((key, value));
        }
        if chars.next().is_none() {
            break;
        }
    }
    out
}

/// Finds `needle` at or after `from`, feeding every byte before it to `sink`;
/// answers the needle's position, or none when the body ends first.
fn scan<S: Source + ?Sized>(
    src: &S,
    from: u64,
    finder: &Finder,
    sink: &mut dyn FnMut(&[u8]),
) -> Result<Option<u64>, String> {
    let keep = finder.needle().len().saturating_sub(1);
    let mut pending: Vec<u8> = Vec::new();
    let mut pending_start = from;
    let mut read_at = from;
    let size = src.size();
    while read_at < size {
        let chunk = src.read(read_at, CHUNK)?;
        if chunk.is_empty() {
            break;
        }
        read_at += chunk.len() as u64;
        let search_from = pending.len().saturating_sub(keep);
        pending.extend_from_slice(&chunk);
        if let Some(i) = finder.find(&pending[search_from..]) {
            let i = search_from + i;
            sink(&pending[..i]);
            return Ok(Some(pending_start + i as u64));
        }
        let flush = pending.len().saturating_sub(keep);
        sink(&pending[..flush]);
        pending.drain(..flush);
        pending_start += flush as u64;
    }
    Ok(None)
}

/// Reads every part of a `multipart/form-data` body. Values of fields that are not
/// files are kept when they have at most `text_limit` bytes.
pub fn parse<S: Source + ?Sized>(src: &S, boundary: &str, text_limit: usize) -> Result<Vec<Part>, String> {
    let dash = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    let first = Finder::new(dash.as_bytes());
    let next = Finder::new(delimiter.as_bytes());
    let truncated = || "The multipart body ends before its closing boundary".to_string();
    let mut at = scan(src, 0, &first, &mut |_| {})?
        .ok_or_else(|| format!("The body has no multipart boundary '{boundary}' (is it multipart/form-data?)"))?;
    let mut parts = Vec::new();
    loop {
        // After a boundary: `--` closes the body, CRLF starts a part.
        let after = at + dash.len() as u64;
        let mark = src.read(after, 2)?;
        if mark.as_slice() == b"--" {
            return Ok(parts);
        }
        if mark.as_slice() != b"\r\n" {
            return Err(truncated());
        }
        let headers_start = after + 2;
        let window = src.read(headers_start, MAX_PART_HEADERS + 4)?;
        let (headers, data_start) = if window.starts_with(b"\r\n") {
            ("", headers_start + 2)
        } else {
            let end = memchr::memmem::find(&window, b"\r\n\r\n").ok_or_else(|| {
                if (window.len() as u32) < MAX_PART_HEADERS {
                    truncated()
                } else {
                    "A multipart part has more than 16 KiB of headers".to_string()
                }
            })?;
            let text = std::str::from_utf8(&window[..end])
                .map_err(|_| "A multipart part's headers are not UTF-8".to_string())?;
            (text, headers_start + end as u64 + 4)
        };
        let (name, filename) = disposition(headers)?;
        let mut value = (filename.is_none()).then(Vec::new);
        let end = scan(src, data_start, &next, &mut |bytes| {
            if let Some(v) = value.as_mut() {
                if v.len() + bytes.len() > text_limit {
                    value = None;
                } else {
                    v.extend_from_slice(bytes);
                }
            }
        })?
        .ok_or_else(truncated)?;
        let value = match value {
            Some(v) => Some(String::from_utf8(v).map_err(|_| format!("The form field '{name}' is not UTF-8"))?),
            None => None,
        };
        parts.push(Part {
            name,
            filename,
            start: data_start,
            len: end - data_start,
            value,
        });
        at = end + 2;
    }
}

/// The field name and file name of a part's `Content-Disposition: form-data`.
fn disposition(headers: &str) -> Result<(String, Option<String>), String> {
    for line in headers.split("\r\n") {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        if !k.trim().eq_ignore_ascii_case("content-disposition") {
            continue;
        }
        let params = split_params(v);
        let name = params
            .iter()
            .skip(1)
            .find(|(k, _)| k.eq_ignore_ascii_case("name"))
            .map(|(_, v)| v.clone())
            .ok_or_else(|| "A multipart part's Content-Disposition has no name".to_string())?;
        let filename = params
            .iter()
            .skip(1)
            .find(|(k, _)| k.eq_ignore_ascii_case("filename"))
            .map(|(_, v)| v.clone());
        return Ok((name, filename));
    }
    Err("A multipart part has no Content-Disposition header".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: &[(&str, Option<&str>, &[u8])], boundary: &str) -> Vec<u8> {
        let mut b = Vec::new();
        for (name, filename, data) in parts {
            b.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match filename {
                Some(f) => b.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                    )
                    .as_bytes(),
                ),
                None => b.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
            }
            b.extend_from_slice(data);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        b
    }

    #[test]
    fn finds_fields_and_file_ranges() {
        let file: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
        let b = body(
            &[
                ("name", None, b"foo"),
                ("content", Some("foo-1.0.tar.gz"), &file),
                ("classifiers", None, b"A"),
                ("classifiers", None, b"B"),
                ("description", None, &[b'x'; 100]),
            ],
            "xYz",
        );
        let parts = parse(b.as_slice(), "xYz", 50).unwrap();
        assert_eq!(parts.len(), 5);
        assert_eq!(parts[0].value.as_deref(), Some("foo"));
        let c = &parts[1];
        assert_eq!(c.filename.as_deref(), Some("foo-1.0.tar.gz"));
        assert_eq!(&b[c.start as usize..(c.start + c.len) as usize], file.as_slice());
        assert_eq!(parts[3].value.as_deref(), Some("B"));
        assert!(parts[4].too_long());
    }

    #[test]
    fn boundary_split_across_chunks_is_found() {
        let filler = vec![b'a'; CHUNK as usize - 5];
        let b = body(&[("content", Some("f"), &filler), ("name", None, b"n")], "bnd");
        let parts = parse(b.as_slice(), "bnd", 10).unwrap();
        assert_eq!(parts[0].len, filler.len() as u64);
        assert_eq!(parts[1].value.as_deref(), Some("n"));
    }

    #[test]
    fn refuses_truncated_and_foreign_bodies() {
        let mut b = body(&[("name", None, b"foo")], "q");
        b.truncate(b.len() - 8);
        assert!(parse(b.as_slice(), "q", 10).unwrap_err().contains("ends before"));
        assert!(
            parse(&b"{\"json\": true}"[..], "q", 10)
                .unwrap_err()
                .contains("boundary")
        );
    }

    #[test]
    fn reads_the_boundary_parameter() {
        assert_eq!(boundary("multipart/form-data; boundary=abc").as_deref(), Some("abc"));
        assert_eq!(
            boundary("Multipart/Form-Data; charset=utf-8; boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(boundary("application/json"), None);
        assert_eq!(boundary("multipart/form-data"), None);
    }
}
