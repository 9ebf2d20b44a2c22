//! A wheel's `*.dist-info/METADATA`, read from the zip by ranges (the shared
//! `binyard-plugin-zip` reader: the end record, the central directory, then the one
//! entry PEP 658 serves).

use binyard_plugin_zip::{Entry, entries, read_entry};

use crate::multipart::Source;

/// The most METADATA may take (compressed or not); real ones are a few KiB.
const MAX_METADATA: u64 = 8 << 20;

/// A window of a source: the file part of an upload.
pub struct Slice<'a, S: Source + ?Sized> {
    pub src: &'a S,
    pub start: u64,
    pub len: u64,
}

impl<S: Source + ?Sized> binyard_plugin_zip::Source for Slice<'_, S> {
    fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>, String> {
        let len = (len as u64).min(self.len.saturating_sub(offset)) as u32;
        if len == 0 {
            return Ok(Vec::new());
        }
        self.src.read(self.start + offset, len)
    }
    fn size(&self) -> u64 {
        self.len
    }
}

/// The bytes of the wheel's `{name}-{version}.dist-info/METADATA`.
pub fn metadata<S: Source + ?Sized>(zip: &Slice<S>, filename: &str) -> Result<Vec<u8>, String> {
    let all = entries(zip)?;
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
    read_entry(zip, entry, MAX_METADATA)
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
