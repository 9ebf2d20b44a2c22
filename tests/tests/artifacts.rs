//! Artifacts under `/artifactory/{repo}/{path}`: deploy, download, HEAD, Range,
//! ETag/304, checksum headers, matrix parameters, deploy by checksum, folders, delete.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use binyard_e2e::{Method, Server, expect_error, json, md5_hex, sha1_hex, sha256_hex};
use common::*;
use serde_json::Value;

fn server_with_repo(key: &str) -> Server {
    let s = Server::start();
    s.create_local_repo(key, "generic");
    s
}

fn header(r: &binyard_e2e::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("missing header {name}: {:?}", r.headers()))
        .to_str()
        .expect("ascii header")
        .to_string()
}

#[test]
fn deploy_answers_artifactorys_deploy_json() {
    let s = server_with_repo("libs");
    let data = b"hello binyard\n".to_vec();
    let r = s
        .admin(Method::PUT, "/artifactory/libs/org/acme/app-1.0.bin")
        .body(data.clone())
        .send()
        .expect("deploy");
    assert_eq!(r.status().as_u16(), 201);
    let v = json(r);
    assert_eq!(v["repo"], "libs");
    assert_eq!(v["path"], "/org/acme/app-1.0.bin");
    assert_iso8601(&v["created"], "created");
    assert_eq!(v["createdBy"], "admin");
    assert_eq!(
        v["downloadUri"],
        s.url("/artifactory/libs/org/acme/app-1.0.bin").as_str()
    );
    assert_eq!(
        v["uri"],
        s.url("/artifactory/api/storage/libs/org/acme/app-1.0.bin").as_str()
    );
    assert!(!v["mimeType"].as_str().unwrap_or_default().is_empty(), "mimeType: {v}");
    assert_eq!(v["size"], data.len().to_string(), "size is a string: {v}");
    assert_eq!(v["checksums"]["sha1"], sha1_hex(&data).as_str());
    assert_eq!(v["checksums"]["md5"], md5_hex(&data).as_str());
    assert_eq!(v["checksums"]["sha256"], sha256_hex(&data).as_str());
    // Only what the client sent, plus sha256 (host/API-DECISIONS.md).
    assert_eq!(v["originalChecksums"]["sha256"], sha256_hex(&data).as_str());
    assert!(v["originalChecksums"].get("sha1").is_none(), "{v}");
    assert!(v["originalChecksums"].get("md5").is_none(), "{v}");
    assert_content(&s, "libs", "org/acme/app-1.0.bin", &data);
}

#[test]
fn deploy_with_correct_checksum_headers_records_them() {
    let s = server_with_repo("libs");
    let data = bytes_of(10_000, 1);
    let r = s
        .admin(Method::PUT, "/artifactory/libs/checked.bin")
        .header("X-Checksum-Sha1", sha1_hex(&data))
        .header("X-Checksum-Sha256", sha256_hex(&data))
        .header("X-Checksum", md5_hex(&data))
        .body(data.clone())
        .send()
        .expect("deploy");
    assert_eq!(r.status().as_u16(), 201);
    let v = json(r);
    assert_eq!(v["originalChecksums"]["sha1"], sha1_hex(&data).as_str());
    assert_eq!(v["originalChecksums"]["md5"], md5_hex(&data).as_str());
    assert_eq!(v["originalChecksums"]["sha256"], sha256_hex(&data).as_str());
    assert_eq!(v["checksums"]["sha1"], sha1_hex(&data).as_str());
    assert_content(&s, "libs", "checked.bin", &data);
}

#[test]
fn upper_case_checksum_headers_are_accepted() {
    let s = server_with_repo("libs");
    let data = b"case".to_vec();
    let r = s
        .admin(Method::PUT, "/artifactory/libs/case.txt")
        .header("X-Checksum-Sha1", sha1_hex(&data).to_uppercase())
        .body(data.clone())
        .send()
        .expect("deploy");
    assert_eq!(r.status().as_u16(), 201);
    assert_content(&s, "libs", "case.txt", &data);
}

#[test]
fn get_streams_the_file_with_its_headers() {
    let s = server_with_repo("libs");
    let data = bytes_of(5000, 2);
    deploy(&s, "libs", "dir/file.bin", &data);
    let r = s
        .admin(Method::GET, "/artifactory/libs/dir/file.bin")
        .send()
        .expect("get");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(header(&r, "content-length"), data.len().to_string());
    assert!(!header(&r, "content-type").is_empty());
    assert!(header(&r, "etag").contains(&sha1_hex(&data)), "ETag is the sha1");
    assert!(!header(&r, "last-modified").is_empty());
    assert!(header(&r, "last-modified").ends_with("GMT"), "HTTP date");
    assert_eq!(header(&r, "x-checksum-sha1"), sha1_hex(&data));
    assert_eq!(header(&r, "x-checksum-sha256"), sha256_hex(&data));
    assert_eq!(header(&r, "x-checksum-md5"), md5_hex(&data));
    assert_eq!(header(&r, "accept-ranges"), "bytes");
    assert_eq!(r.bytes().expect("body").to_vec(), data);
}

#[test]
fn text_files_get_a_text_mime_type() {
    let s = server_with_repo("libs");
    let v = deploy(&s, "libs", "notes/readme.txt", b"plain text");
    assert!(
        v["mimeType"].as_str().unwrap_or_default().starts_with("text/plain"),
        "{v}"
    );
    let r = s
        .admin(Method::GET, "/artifactory/libs/notes/readme.txt")
        .send()
        .expect("get");
    assert!(header(&r, "content-type").starts_with("text/plain"));
    let v = deploy(&s, "libs", "blob.zzzunknown", b"\x00\x01");
    assert_eq!(v["mimeType"], "application/octet-stream", "{v}");
}

#[test]
fn head_has_the_headers_and_no_body() {
    let s = server_with_repo("libs");
    let data = bytes_of(777, 3);
    deploy(&s, "libs", "h.bin", &data);
    let r = s.admin(Method::HEAD, "/artifactory/libs/h.bin").send().expect("head");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(header(&r, "content-length"), "777");
    assert_eq!(header(&r, "x-checksum-sha1"), sha1_hex(&data));
    assert_eq!(header(&r, "x-checksum-sha256"), sha256_hex(&data));
    assert_eq!(header(&r, "x-checksum-md5"), md5_hex(&data));
    assert!(header(&r, "etag").contains(&sha1_hex(&data)));
    assert!(r.bytes().expect("body").is_empty());
    let r = s
        .admin(Method::HEAD, "/artifactory/libs/missing.bin")
        .send()
        .expect("head");
    assert_eq!(r.status().as_u16(), 404);
}

#[test]
fn range_requests_answer_206() {
    let s = server_with_repo("libs");
    let data: Vec<u8> = (0u8..100).collect();
    deploy(&s, "libs", "r.bin", &data);
    let get = |range: &str| {
        s.admin(Method::GET, "/artifactory/libs/r.bin")
            .header("Range", range)
            .send()
            .expect("range")
    };
    let r = get("bytes=10-19");
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(header(&r, "content-range"), "bytes 10-19/100");
    assert_eq!(header(&r, "content-length"), "10");
    assert_eq!(r.bytes().expect("body").to_vec(), data[10..20].to_vec());

    let r = get("bytes=95-");
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(header(&r, "content-range"), "bytes 95-99/100");
    assert_eq!(r.bytes().expect("body").to_vec(), data[95..].to_vec());

    let r = get("bytes=-3");
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(header(&r, "content-range"), "bytes 97-99/100");
    assert_eq!(r.bytes().expect("body").to_vec(), data[97..].to_vec());

    let r = get("bytes=90-1000");
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(header(&r, "content-range"), "bytes 90-99/100");
    assert_eq!(r.bytes().expect("body").to_vec(), data[90..].to_vec());

    let r = get("bytes=100-");
    assert_eq!(r.status().as_u16(), 416);
    assert_eq!(header(&r, "content-range"), "bytes */100");
}

#[test]
fn range_in_a_large_file() {
    let s = server_with_repo("libs");
    let data = bytes_of(3 * 1024 * 1024 + 17, 4);
    deploy(&s, "libs", "big/large.bin", &data);
    assert_content(&s, "libs", "big/large.bin", &data);
    let start = 1_000_000usize;
    let end = 2_500_000usize;
    let r = s
        .admin(Method::GET, "/artifactory/libs/big/large.bin")
        .header("Range", format!("bytes={start}-{end}"))
        .send()
        .expect("range");
    assert_eq!(r.status().as_u16(), 206);
    assert_eq!(
        header(&r, "content-range"),
        format!("bytes {start}-{end}/{}", data.len())
    );
    let got = r.bytes().expect("body").to_vec();
    assert_eq!(got.len(), end - start + 1);
    assert_eq!(sha1_hex(&got), sha1_hex(&data[start..=end]));
}

#[test]
fn if_none_match_answers_304() {
    let s = server_with_repo("libs");
    deploy(&s, "libs", "e.txt", b"etag me");
    let r = s.admin(Method::GET, "/artifactory/libs/e.txt").send().expect("get");
    let etag = header(&r, "etag");
    let r = s
        .admin(Method::GET, "/artifactory/libs/e.txt")
        .header("If-None-Match", etag.as_str())
        .send()
        .expect("conditional get");
    assert_eq!(r.status().as_u16(), 304);
    assert!(r.bytes().expect("body").is_empty());
    let r = s
        .admin(Method::GET, "/artifactory/libs/e.txt")
        .header("If-None-Match", "\"0000000000000000000000000000000000000000\"")
        .send()
        .expect("conditional get");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().expect("body").to_vec(), b"etag me".to_vec());
    // After an overwrite the old ETag no longer matches.
    deploy(&s, "libs", "e.txt", b"etag me again");
    let r = s
        .admin(Method::GET, "/artifactory/libs/e.txt")
        .header("If-None-Match", etag.as_str())
        .send()
        .expect("conditional get");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().expect("body").to_vec(), b"etag me again".to_vec());
}

#[test]
fn overwrite_replaces_content_and_checksums() {
    let s = server_with_repo("libs");
    let first = deploy(&s, "libs", "o.bin", b"first version");
    let second = deploy(&s, "libs", "o.bin", b"second version");
    assert_ne!(first["checksums"]["sha256"], second["checksums"]["sha256"]);
    assert_content(&s, "libs", "o.bin", b"second version");
    let r = s
        .admin(Method::GET, "/artifactory/api/storage/libs/o.bin")
        .send()
        .expect("info");
    let v = json(r);
    assert_eq!(v["checksums"]["sha256"], sha256_hex(b"second version").as_str());
    assert_eq!(v["size"], "14");
    // The old blob is released: a collection frees it.
    let report = gc(&s);
    assert_eq!(count(&report["blobsDeleted"]), 1, "{report}");
    assert_content(&s, "libs", "o.bin", b"second version");
}

#[test]
fn empty_file_round_trips() {
    let s = server_with_repo("libs");
    let v = deploy(&s, "libs", "empty.txt", b"");
    assert_eq!(v["size"], "0");
    assert_eq!(v["checksums"]["sha256"], sha256_hex(b"").as_str());
    let r = s.admin(Method::GET, "/artifactory/libs/empty.txt").send().expect("get");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(header(&r, "content-length"), "0");
    assert!(r.bytes().expect("body").is_empty());
}

#[test]
fn names_with_spaces_and_unicode() {
    let s = server_with_repo("libs");
    let v = deploy(&s, "libs", "my%20dir/f%C3%BCr%20you.txt", b"unicode");
    assert_eq!(v["path"], "/my dir/für you.txt");
    let uri = v["downloadUri"].as_str().expect("downloadUri");
    let r = binyard_e2e::client()
        .get(uri)
        .basic_auth("admin", Some("password"))
        .send()
        .expect("get downloadUri");
    assert_eq!(r.status().as_u16(), 200, "downloadUri {uri} works");
    assert_eq!(r.bytes().expect("body").to_vec(), b"unicode".to_vec());
    let listed = list_uris(&s, "libs", "list&deep=1");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let decoded = listed[0].replace("%20", " ").replace("%C3%BC", "ü");
    assert_eq!(decoded, "/my dir/für you.txt", "{listed:?}");
}

#[test]
fn matrix_parameters_become_properties() {
    let s = server_with_repo("libs");
    let v = deploy(
        &s,
        "libs",
        "builds/app.zip;build.name=app;build.number=42;team=core",
        b"zip",
    );
    assert_eq!(v["path"], "/builds/app.zip", "matrix params are not part of the path");
    assert_content(&s, "libs", "builds/app.zip", b"zip");
    let r = s
        .admin(Method::GET, "/artifactory/api/storage/libs/builds/app.zip?properties")
        .send()
        .expect("props");
    assert_eq!(r.status().as_u16(), 200);
    let p = json(r);
    assert_eq!(p["properties"]["build.name"], serde_json::json!(["app"]));
    assert_eq!(p["properties"]["build.number"], serde_json::json!(["42"]));
    assert_eq!(p["properties"]["team"], serde_json::json!(["core"]));
}

#[test]
fn deploy_by_checksum_reuses_a_known_blob() {
    let s = server_with_repo("libs");
    s.create_local_repo("other", "generic");
    let data = bytes_of(4096, 5);
    deploy(&s, "libs", "orig.bin", &data);
    let before = binaries_count(&s);
    let r = s
        .admin(Method::PUT, "/artifactory/other/by-sha256.bin")
        .header("X-Checksum-Deploy", "true")
        .header("X-Checksum-Sha256", sha256_hex(&data))
        .send()
        .expect("deploy by checksum");
    assert_eq!(r.status().as_u16(), 201);
    let v = json(r);
    assert_eq!(v["checksums"]["sha256"], sha256_hex(&data).as_str());
    assert_eq!(v["size"], "4096");
    let r = s
        .admin(Method::PUT, "/artifactory/libs/by-sha1.bin")
        .header("X-Checksum-Deploy", "true")
        .header("X-Checksum-Sha1", sha1_hex(&data))
        .send()
        .expect("deploy by checksum");
    assert_eq!(r.status().as_u16(), 201);
    assert_content(&s, "other", "by-sha256.bin", &data);
    assert_content(&s, "libs", "by-sha1.bin", &data);
    assert_eq!(binaries_count(&s), before, "no new binary stored");
}

#[test]
fn deploy_by_unknown_checksum_is_404_and_stores_nothing() {
    let s = server_with_repo("libs");
    deploy(&s, "libs", "present.bin", b"present");
    let before = snapshot(&s, "libs");
    let r = s
        .admin(Method::PUT, "/artifactory/libs/ghost.bin")
        .header("X-Checksum-Deploy", "true")
        .header("X-Checksum-Sha256", sha256_hex(b"never uploaded"))
        .send()
        .expect("deploy by checksum");
    expect_error(r, 404);
    let r = s
        .admin(Method::PUT, "/artifactory/libs/ghost.bin")
        .header("X-Checksum-Deploy", "true")
        .header("X-Checksum-Sha1", sha1_hex(b"never uploaded"))
        .send()
        .expect("deploy by checksum");
    expect_error(r, 404);
    assert_absent(&s, "libs", "ghost.bin");
    assert_eq!(snapshot(&s, "libs"), before);
}

#[test]
fn put_with_trailing_slash_creates_folders() {
    let s = server_with_repo("libs");
    let r = s.admin(Method::PUT, "/artifactory/libs/a/b/c/").send().expect("mkdir");
    assert_eq!(r.status().as_u16(), 201);
    let r = s
        .admin(Method::GET, "/artifactory/api/storage/libs/a/b/c")
        .send()
        .expect("info");
    assert_eq!(r.status().as_u16(), 200);
    let v = json(r);
    assert_eq!(v["path"], "/a/b/c");
    assert_eq!(v["children"], serde_json::json!([]));
    assert!(v.get("checksums").is_none(), "a folder has no checksums: {v}");
    let r = s
        .admin(Method::GET, "/artifactory/api/storage/libs/a")
        .send()
        .expect("info");
    let v = json(r);
    assert_eq!(v["children"], serde_json::json!([{"uri": "/b", "folder": true}]));
    let snap = snapshot(&s, "libs");
    assert_eq!(snap.len(), 3, "{snap:?}");
    assert!(snap.iter().all(|l| l.contains("|true|")), "{snap:?}");
}

#[test]
fn get_of_a_folder_answers_a_listing() {
    let s = server_with_repo("libs");
    deploy(&s, "libs", "dir/alpha.txt", b"a");
    deploy(&s, "libs", "dir/sub/beta.txt", b"b");
    let r = s
        .admin(Method::GET, "/artifactory/libs/dir/")
        .send()
        .expect("get folder");
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().expect("text");
    assert!(html.contains("alpha.txt"), "{html}");
    assert!(html.contains("sub/"), "{html}");
    assert!(!html.contains("beta.txt"), "only direct children: {html}");
    let r = s.admin(Method::GET, "/artifactory/libs/").send().expect("get root");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().expect("text").contains("dir/"));
}

#[test]
fn delete_a_file() {
    let s = server_with_repo("libs");
    deploy(&s, "libs", "d/one.txt", b"1");
    deploy(&s, "libs", "d/two.txt", b"2");
    let r = s
        .admin(Method::DELETE, "/artifactory/libs/d/one.txt")
        .send()
        .expect("delete");
    assert_eq!(r.status().as_u16(), 204);
    assert_absent(&s, "libs", "d/one.txt");
    assert_content(&s, "libs", "d/two.txt", b"2");
}

#[test]
fn delete_a_folder_recursively() {
    let s = server_with_repo("libs");
    deploy(&s, "libs", "tree/a.txt", b"a");
    deploy(&s, "libs", "tree/x/y/b.txt", b"b");
    deploy(&s, "libs", "treehouse.txt", b"not in the tree");
    let r = s
        .admin(Method::DELETE, "/artifactory/libs/tree")
        .send()
        .expect("delete");
    assert_eq!(r.status().as_u16(), 204);
    for p in ["tree", "tree/a.txt", "tree/x", "tree/x/y/b.txt"] {
        assert_absent(&s, "libs", p);
    }
    assert_content(&s, "libs", "treehouse.txt", b"not in the tree");
    assert_eq!(
        list_uris(&s, "libs", "list&deep=1&listFolders=1"),
        vec!["/treehouse.txt"]
    );
}

#[test]
fn delete_unknown_path_is_404() {
    let s = server_with_repo("libs");
    deploy(&s, "libs", "stay.txt", b"stay");
    let before = snapshot(&s, "libs");
    let r = s
        .admin(Method::DELETE, "/artifactory/libs/nope.txt")
        .send()
        .expect("delete");
    expect_error(r, 404);
    assert_eq!(snapshot(&s, "libs"), before);
}

#[test]
fn download_unknown_file_is_404_with_error_body() {
    let s = server_with_repo("libs");
    let r = s
        .admin(Method::GET, "/artifactory/libs/not/there.bin")
        .send()
        .expect("get");
    expect_error(r, 404);
    let r = s
        .admin(Method::GET, "/artifactory/no-such-repo/x.bin")
        .send()
        .expect("get");
    expect_error(r, 404);
}

#[test]
fn deploy_to_remote_or_virtual_is_405() {
    let s = server_with_repo("libs");
    let r = s
        .admin(Method::PUT, "/artifactory/api/repositories/rem")
        .json(&serde_json::json!({"key":"rem","rclass":"remote","packageType":"generic","url":"https://example.org/"}))
        .send()
        .expect("create remote");
    assert_eq!(r.status().as_u16(), 200);
    let r = s
        .admin(Method::PUT, "/artifactory/api/repositories/virt")
        .json(&serde_json::json!({"key":"virt","rclass":"virtual","packageType":"generic","repositories":["libs"]}))
        .send()
        .expect("create virtual");
    assert_eq!(r.status().as_u16(), 200);
    for repo in ["rem", "virt"] {
        let r = s
            .admin(Method::PUT, &format!("/artifactory/{repo}/f.txt"))
            .body(b"x".to_vec())
            .send()
            .expect("deploy");
        expect_error(r, 405);
    }
    assert!(snapshot(&s, "libs").is_empty());
}

#[test]
fn files_survive_a_restart() {
    let mut s = server_with_repo("libs");
    let data = bytes_of(100_000, 6);
    deploy(&s, "libs", "persist/p.bin", &data);
    s.restart();
    assert_content(&s, "libs", "persist/p.bin", &data);
    let r = s
        .admin(Method::GET, "/artifactory/api/storage/libs/persist/p.bin")
        .send()
        .expect("info");
    assert_eq!(json(r)["checksums"]["sha256"], sha256_hex(&data).as_str());
}

#[test]
fn same_content_twice_is_stored_once() {
    let s = server_with_repo("libs");
    let data = bytes_of(2048, 7);
    deploy(&s, "libs", "one.bin", &data);
    let after_one = binaries_count(&s);
    deploy(&s, "libs", "two.bin", &data);
    assert_eq!(binaries_count(&s), after_one);
    assert_content(&s, "libs", "two.bin", &data);
}

/// Reads from the socket until the end of a response head.
fn read_head(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => got.push(byte[0]),
            Err(e) => panic!(
                "no response head ({e}); got so far: {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    String::from_utf8_lossy(&got).to_string()
}

#[test]
fn expect_100_continue_is_answered_before_the_body() {
    let s = server_with_repo("libs");
    let body = bytes_of(50_000, 8);
    let mut stream = TcpStream::connect(host_port(&s)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let head = format!(
        "PUT /artifactory/libs/continued.bin HTTP/1.1\r\nHost: {}\r\nAuthorization: {ADMIN_BASIC}\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        host_port(&s),
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    // No body yet: the server must answer the interim 100 first.
    let interim = read_head(&mut stream);
    assert!(
        interim.starts_with("HTTP/1.1 100"),
        "expected 100 Continue before the body, got: {interim:?}"
    );
    stream.write_all(&body).expect("write body");
    let resp = read_response(&mut stream);
    assert_eq!(
        resp.status,
        201,
        "final answer: {}",
        String::from_utf8_lossy(&resp.body)
    );
    let v: Value = resp.json();
    assert_eq!(v["checksums"]["sha256"], sha256_hex(&body).as_str());
    assert_content(&s, "libs", "continued.bin", &body);
}

#[test]
fn expect_100_continue_refusal_needs_no_body() {
    let s = server_with_repo("libs");
    let mut stream = TcpStream::connect(host_port(&s)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let head = format!(
        "PUT /artifactory/ghost-repo/f.bin HTTP/1.1\r\nHost: {}\r\nAuthorization: {ADMIN_BASIC}\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        host_port(&s)
    );
    stream.write_all(head.as_bytes()).expect("write head");
    // The refusal comes at once, without waiting for (or asking for) the body.
    let head = read_head(&mut stream);
    assert!(
        head.starts_with("HTTP/1.1 404"),
        "expected the 404 straight away, got: {head:?}"
    );
    assert!(snapshot(&s, "libs").is_empty());
}

#[test]
fn concurrent_deploys_to_one_path_leave_one_whole_file() {
    let s = server_with_repo("libs");
    let contents: Vec<Vec<u8>> = (0..8).map(|i| bytes_of(300_000, 100 + i)).collect();
    std::thread::scope(|scope| {
        for c in &contents {
            let s = &s;
            scope.spawn(move || {
                let r = s
                    .admin(Method::PUT, "/artifactory/libs/race/same.bin")
                    .body(c.clone())
                    .send()
                    .expect("deploy");
                assert_eq!(r.status().as_u16(), 201);
            });
        }
    });
    let (status, got) = download(&s, "libs", "race/same.bin");
    assert_eq!(status, 200);
    assert!(
        contents.iter().any(|c| c == &got),
        "the stored file is one of the uploads, whole"
    );
    let r = s
        .admin(Method::GET, "/artifactory/api/storage/libs/race/same.bin")
        .send()
        .expect("info");
    assert_eq!(json(r)["checksums"]["sha256"], sha256_hex(&got).as_str());
    assert_eq!(list_uris(&s, "libs", "list&deep=1"), vec!["/race/same.bin"]);
}

#[test]
fn concurrent_deploys_to_many_paths_all_land() {
    let s = server_with_repo("libs");
    let contents: Vec<Vec<u8>> = (0..16).map(|i| bytes_of(50_000, 200 + i)).collect();
    std::thread::scope(|scope| {
        for (i, c) in contents.iter().enumerate() {
            let s = &s;
            scope.spawn(move || {
                deploy(s, "libs", &format!("many/d{}/f{i}.bin", i % 3), c);
            });
        }
    });
    for (i, c) in contents.iter().enumerate() {
        assert_content(&s, "libs", &format!("many/d{}/f{i}.bin", i % 3), c);
    }
    assert_eq!(list_uris(&s, "libs", "list&deep=1").len(), 16);
    assert_eq!(binaries_count(&s), 16);
}

#[test]
fn head_of_a_folder_and_of_the_root() {
    let s = server_with_repo("libs");
    deploy(&s, "libs", "hf/x.txt", b"x");
    for path in ["/artifactory/libs/hf/", "/artifactory/libs/"] {
        let r = s.admin(Method::HEAD, path).send().expect("head");
        assert_eq!(r.status().as_u16(), 200, "{path}");
        assert!(r.bytes().expect("body").is_empty());
    }
}

#[test]
fn chunked_upload_without_content_length() {
    let s = server_with_repo("libs");
    let body = bytes_of(70_000, 9);
    let mut stream = TcpStream::connect(host_port(&s)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let head = format!(
        "PUT /artifactory/libs/chunked.bin HTTP/1.1\r\nHost: {}\r\nAuthorization: {ADMIN_BASIC}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        host_port(&s)
    );
    stream.write_all(head.as_bytes()).expect("write head");
    for chunk in body.chunks(16_000) {
        stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .expect("chunk size");
        stream.write_all(chunk).expect("chunk");
        stream.write_all(b"\r\n").expect("chunk end");
    }
    stream.write_all(b"0\r\n\r\n").expect("last chunk");
    let resp = read_response(&mut stream);
    assert_eq!(resp.status, 201, "{}", String::from_utf8_lossy(&resp.body));
    assert_eq!(resp.json()["size"], "70000");
    assert_content(&s, "libs", "chunked.bin", &body);
}

#[test]
fn matrix_parameter_values_are_percent_decoded() {
    let s = server_with_repo("libs");
    deploy(&s, "libs", "m/x.bin;note=hello%20world;path=a%2Fb", b"x");
    let r = s
        .admin(Method::GET, "/artifactory/api/storage/libs/m/x.bin?properties")
        .send()
        .expect("props");
    assert_eq!(r.status().as_u16(), 200);
    let p = json(r);
    assert_eq!(p["properties"]["note"], serde_json::json!(["hello world"]));
    assert_eq!(p["properties"]["path"], serde_json::json!(["a/b"]));
    assert_eq!(list_uris(&s, "libs", "list&deep=1"), vec!["/m/x.bin"]);
}
