//! Helpers shared by the end-to-end test files (each test file includes this
//! module with `mod common;`, so not every helper is used by every file).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use binyard_e2e::{Method, Server, json, sha1_hex};
use serde_json::Value;

/// `Authorization` header value for the bootstrap admin (`admin:password`).
pub const ADMIN_BASIC: &str = "Basic YWRtaW46cGFzc3dvcmQ=";

/// A response read off a raw socket.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, panicking with the body on failure.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}) (status {}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts the Artifactory error body with `status`; returns the message.
    pub fn expect_error(&self, status: u16) -> String {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            String::from_utf8_lossy(&self.body)
        );
        let v = self.json();
        let e = &v["errors"][0];
        assert_eq!(e["status"].as_u64(), Some(status as u64), "error body: {v}");
        let msg = e["message"].as_str().unwrap_or_default().to_string();
        assert!(!msg.is_empty(), "error without a message: {v}");
        msg
    }
}

/// `host:port` of a server.
pub fn host_port(s: &Server) -> String {
    s.base
        .strip_prefix("http://")
        .unwrap_or(&s.base)
        .trim_end_matches('/')
        .to_string()
}

/// Sends one HTTP/1.1 request exactly as given (the request target is not
/// normalised), as the admin unless `auth` is `None`, and reads the whole answer.
pub fn raw_request(s: &Server, method: &str, target: &str, auth: Option<&str>, body: &[u8]) -> RawResponse {
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        host_port(s),
        body.len()
    );
    if let Some(a) = auth {
        head.push_str(&format!("Authorization: {a}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = TcpStream::connect(host_port(s)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body).expect("write body");
    read_response(&mut stream)
}

/// Raw request as the admin.
pub fn raw_admin(s: &Server, method: &str, target: &str, body: &[u8]) -> RawResponse {
    raw_request(s, method, target, Some(ADMIN_BASIC), body)
}

/// Reads one full response from a `Connection: close` stream.
pub fn read_response(stream: &mut TcpStream) -> RawResponse {
    let mut all = Vec::new();
    stream.read_to_end(&mut all).expect("read response");
    parse_response(&all)
}

/// Parses a complete HTTP/1.1 response (handles chunked bodies).
pub fn parse_response(all: &[u8]) -> RawResponse {
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in: {}", String::from_utf8_lossy(all)));
    let head = String::from_utf8_lossy(&all[..split]).to_string();
    let rest = &all[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {status_line}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked { dechunk(rest) } else { rest.to_vec() };
    RawResponse { status, headers, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_txt = String::from_utf8_lossy(&b[..eol]).to_string();
        let size_txt = size_txt.split(';').next().unwrap_or("0").trim().to_string();
        let size = usize::from_str_radix(&size_txt, 16).unwrap_or(0);
        b = &b[eol + 2..];
        if size == 0 || b.len() < size {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[(size + 2).min(b.len())..];
    }
}

/// Deploys `bytes` to `/artifactory/{repo}/{path}` as admin, asserting `201`; answers the deploy JSON.
pub fn deploy(s: &Server, repo: &str, path: &str, bytes: &[u8]) -> Value {
    let r = s
        .admin(Method::PUT, &format!("/artifactory/{repo}/{path}"))
        .body(bytes.to_vec())
        .send()
        .expect("deploy");
    let status = r.status().as_u16();
    let v = json(r);
    assert_eq!(status, 201, "deploy {repo}/{path}: {v}");
    v
}

/// Downloads as admin: status and bytes.
pub fn download(s: &Server, repo: &str, path: &str) -> (u16, Vec<u8>) {
    let r = s
        .admin(Method::GET, &format!("/artifactory/{repo}/{path}"))
        .send()
        .expect("download");
    let status = r.status().as_u16();
    (status, r.bytes().expect("body").to_vec())
}

/// Asserts the file downloads with exactly these bytes.
pub fn assert_content(s: &Server, repo: &str, path: &str, bytes: &[u8]) {
    let (status, got) = download(s, repo, path);
    assert_eq!(status, 200, "download {repo}/{path}");
    assert_eq!(
        sha1_hex(&got),
        sha1_hex(bytes),
        "content of {repo}/{path} differs ({} bytes vs {} expected)",
        got.len(),
        bytes.len()
    );
}

/// Asserts nothing is at this path (download and item info are 404).
pub fn assert_absent(s: &Server, repo: &str, path: &str) {
    let (status, _) = download(s, repo, path);
    assert_eq!(status, 404, "{repo}/{path} should not exist (download)");
    let r = s
        .admin(Method::GET, &format!("/artifactory/api/storage/{repo}/{path}"))
        .send()
        .expect("item info");
    assert_eq!(r.status().as_u16(), 404, "{repo}/{path} should not exist (item info)");
}

/// Every item of a repository as sorted `uri|folder|sha1|size` lines (deep list with folders).
pub fn snapshot(s: &Server, repo: &str) -> Vec<String> {
    let r = s
        .admin(
            Method::GET,
            &format!("/artifactory/api/storage/{repo}?list&deep=1&listFolders=1"),
        )
        .send()
        .expect("list");
    assert_eq!(r.status().as_u16(), 200, "list {repo}");
    let v = json(r);
    let files = v["files"].as_array().unwrap_or_else(|| panic!("no files array: {v}"));
    let mut out: Vec<String> = files
        .iter()
        .map(|f| {
            format!(
                "{}|{}|{}|{}",
                f["uri"].as_str().unwrap_or_default(),
                f["folder"].as_bool().unwrap_or_default(),
                f["sha1"].as_str().unwrap_or_default(),
                f["size"]
            )
        })
        .collect();
    out.sort();
    out
}

/// The `uri`s of a deep list (files only) of a folder, sorted.
pub fn list_uris(s: &Server, repo_and_path: &str, query: &str) -> Vec<String> {
    let r = s
        .admin(
            Method::GET,
            &format!("/artifactory/api/storage/{repo_and_path}?{query}"),
        )
        .send()
        .expect("list");
    assert_eq!(r.status().as_u16(), 200, "list {repo_and_path}?{query}");
    let v = json(r);
    let mut out: Vec<String> = v["files"]
        .as_array()
        .unwrap_or_else(|| panic!("no files array: {v}"))
        .iter()
        .map(|f| f["uri"].as_str().unwrap_or_default().to_string())
        .collect();
    out.sort();
    out
}

/// A number Artifactory may render as a number or a string (possibly with `,` separators).
pub fn count(v: &Value) -> u64 {
    match v {
        Value::Number(n) => n.as_u64().unwrap_or_else(|| panic!("not a count: {v}")),
        Value::String(s) => s
            .replace(',', "")
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("not a count: {v}")),
        _ => panic!("not a count: {v}"),
    }
}

/// `GET /artifactory/api/storageinfo` as admin.
pub fn storage_info(s: &Server) -> Value {
    let r = s
        .admin(Method::GET, "/artifactory/api/storageinfo")
        .send()
        .expect("storageinfo");
    assert_eq!(r.status().as_u16(), 200, "storageinfo");
    json(r)
}

/// `binariesSummary.binariesCount` of the storage info.
pub fn binaries_count(s: &Server) -> u64 {
    count(&storage_info(s)["binariesSummary"]["binariesCount"])
}

/// The repository keys of `GET /artifactory/api/repositories`, sorted.
pub fn repo_keys(s: &Server) -> Vec<String> {
    let r = s
        .admin(Method::GET, "/artifactory/api/repositories")
        .send()
        .expect("list repos");
    assert_eq!(r.status().as_u16(), 200, "list repos");
    let v = json(r);
    let mut keys: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|r| r["key"].as_str().unwrap_or_default().to_string())
        .collect();
    keys.sort();
    keys
}

/// Files left in the data folder's `tmp/` (uploads in flight).
pub fn temp_files(s: &Server) -> Vec<String> {
    let dir = s.data_dir().join("tmp");
    match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Runs garbage collection as admin; answers its report.
pub fn gc(s: &Server) -> Value {
    let r = s
        .admin(Method::POST, "/artifactory/api/system/storage/gc")
        .send()
        .expect("gc");
    assert_eq!(r.status().as_u16(), 200, "gc");
    json(r)
}

/// Asserts a timestamp looks like ISO 8601 (`YYYY-MM-DDTHH:MM:SS…`).
pub fn assert_iso8601(v: &Value, what: &str) {
    let s = v.as_str().unwrap_or_else(|| panic!("{what} is not a string: {v}"));
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| r.into_iter().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    assert!(
        s.len() >= 19
            && digits(0..4)
            && b[4] == b'-'
            && digits(5..7)
            && b[7] == b'-'
            && digits(8..10)
            && b[10] == b'T'
            && digits(11..13)
            && b[13] == b':'
            && digits(14..16)
            && b[16] == b':'
            && digits(17..19),
        "{what} is not ISO 8601: {s}"
    );
}

/// Deterministic pseudo-random bytes.
pub fn bytes_of(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// CRC-32 (IEEE), as zip entries carry it.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A zip of stored (uncompressed) files (module zips, `.nupkg`s); `declared` overrides the size the central
/// directory announces for every file (an oversized zip without the bytes).
pub fn stored_zip(files: &[(String, Vec<u8>)], declared: Option<u32>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut cd = Vec::new();
    for (name, data) in files {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let len = data.len() as u32;
        out.extend_from_slice(b"PK\x03\x04\x14\0\0\0\0\0\0\0\0\0");
        for v in [crc, len, len] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        cd.extend_from_slice(b"PK\x01\x02\x14\0\x14\0\0\0\0\0\0\0\0\0");
        for v in [crc, len, declared.unwrap_or(len)] {
            cd.extend_from_slice(&v.to_le_bytes());
        }
        cd.extend_from_slice(&(name.len() as u16).to_le_bytes());
        cd.extend_from_slice(&[0; 12]);
        cd.extend_from_slice(&offset.to_le_bytes());
        cd.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&cd);
    out.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}
