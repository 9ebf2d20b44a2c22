//! Upload sessions and blobs by digest (WIT 0.2), through the `test_sessions`
//! plugin: chunks of any size are appended in order, a wrong offset is 416, a wrong
//! digest stores nothing, sessions survive a restart and expire, garbage collection
//! during sessions loses nothing, and a blob the store has is recorded without bytes.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use binyard_e2e::*;
use common::{binaries_count, bytes_of, gc};

const REPO: &str = "up";

fn server(extra_plugin_config: &str) -> (Server, tempfile::TempDir) {
    let dir = plugin_folder(&["test_sessions"]);
    let s = Server::start_full(Options::default(), dir.path(), extra_plugin_config);
    s.create_local_repo(REPO, "testsessions");
    (s, dir)
}

fn api(path: &str) -> String {
    format!("/artifactory/api/testsessions/{REPO}/{path}")
}

fn begin(s: &Server) -> String {
    let r = s.admin(Method::POST, &api("s")).send().unwrap();
    assert_eq!(r.status(), 202);
    r.text().unwrap()
}

fn append(s: &Server, id: &str, offset: usize, chunk: &[u8]) -> Response {
    s.admin(Method::PATCH, &api(&format!("s/{id}?offset={offset}")))
        .body(chunk.to_vec())
        .send()
        .unwrap()
}

fn finish(s: &Server, id: &str, digest: &str, path: &str) -> Response {
    s.admin(Method::PUT, &api(&format!("s/{id}?digest=sha256:{digest}&path={path}")))
        .send()
        .unwrap()
}

/// The blob files on disk.
fn blob_files(s: &Server) -> usize {
    fn walk(p: &std::path::Path) -> usize {
        std::fs::read_dir(p).map_or(0, |d| {
            d.flatten()
                .map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 })
                .sum()
        })
    }
    walk(&s.data_dir().join("blobs"))
}

fn stored(s: &Server, path: &str) -> Option<Vec<u8>> {
    let r = s
        .admin(Method::GET, &format!("/artifactory/{REPO}/{path}"))
        .send()
        .unwrap();
    (r.status() == 200).then(|| r.bytes().unwrap().to_vec())
}

#[test]
fn chunks_of_one_byte_to_eight_mib_make_one_blob_and_wrong_offsets_are_416() {
    let (s, _d) = server("");
    let sizes = [1usize, 7, 4096, 65_537, 1 << 20, 8 << 20, 3];
    let content = bytes_of(sizes.iter().sum(), 7);
    let id = begin(&s);
    let mut at = 0;
    for n in sizes {
        let r = append(&s, &id, at, &content[at..at + n]);
        assert_eq!(r.status(), 202, "chunk of {n}");
        at += n;
        assert_eq!(r.text().unwrap(), at.to_string());
        // Appending again at an old offset is refused and changes nothing.
        let r = append(&s, &id, at - n, &content[at - n..at]);
        let msg = expect_error(r, 416);
        assert!(msg.contains(&format!("has {at} bytes")), "{msg}");
    }
    let r = s.admin(Method::GET, &api(&format!("s/{id}"))).send().unwrap();
    assert_eq!(r.text().unwrap(), content.len().to_string());
    let r = finish(&s, &id, &sha256_hex(&content), "blobs/big.bin");
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    assert_eq!(stored(&s, "blobs/big.bin").unwrap(), content);
    // The session is gone once finished.
    expect_error(s.admin(Method::GET, &api(&format!("s/{id}"))).send().unwrap(), 404);
}

#[test]
fn a_wrong_digest_stores_nothing_and_aborted_sessions_are_gone() {
    let (s, _d) = server("");
    let id = begin(&s);
    assert_eq!(append(&s, &id, 0, b"some content").status(), 202);
    // The appended request bodies were blobs for a moment; GC takes them.
    gc(&s);
    let before = (binaries_count(&s), blob_files(&s));
    let msg = expect_error(finish(&s, &id, &sha256_hex(b"other content"), "x.bin"), 400);
    assert!(msg.contains("nothing was stored"), "{msg}");
    assert_eq!(stored(&s, "x.bin"), None);
    assert_eq!((binaries_count(&s), blob_files(&s)), before, "no blob was kept");
    expect_error(s.admin(Method::GET, &api(&format!("s/{id}"))).send().unwrap(), 404);
    let id = begin(&s);
    assert_eq!(
        s.admin(Method::DELETE, &api(&format!("s/{id}")))
            .send()
            .unwrap()
            .status(),
        204
    );
    expect_error(append(&s, &id, 0, b"late"), 404);
    // Another repository cannot use a session it did not begin.
    s.create_local_repo("other", "testsessions");
    let id = begin(&s);
    let r = s
        .admin(Method::GET, &format!("/artifactory/api/testsessions/other/s/{id}"))
        .send()
        .unwrap();
    expect_error(r, 404);
}

#[test]
fn a_session_resumes_after_a_restart_and_gc_during_sessions_loses_nothing() {
    let (mut s, _d) = server("");
    let content = bytes_of(3 << 20, 11);
    let id = begin(&s);
    assert_eq!(append(&s, &id, 0, &content[..1 << 20]).status(), 202);
    gc(&s);
    s.kill();
    s.restart();
    let r = s.admin(Method::GET, &api(&format!("s/{id}"))).send().unwrap();
    assert_eq!(
        r.text().unwrap(),
        (1 << 20).to_string(),
        "the session survived the restart"
    );
    gc(&s);
    assert_eq!(append(&s, &id, 1 << 20, &content[1 << 20..2 << 20]).status(), 202);
    gc(&s);
    // The last chunk comes with the finishing request.
    let r = s
        .admin(
            Method::PUT,
            &api(&format!("s/{id}?digest={}&path=resumed.bin", sha256_hex(&content))),
        )
        .body(content[2 << 20..].to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    gc(&s);
    assert_eq!(stored(&s, "resumed.bin").unwrap(), content);
}

#[test]
fn an_unused_session_expires() {
    let (s, _d) = server("upload_session_expiry_secs = 1");
    let id = begin(&s);
    assert_eq!(append(&s, &id, 0, b"abc").status(), 202);
    std::thread::sleep(Duration::from_millis(2500));
    expect_error(s.admin(Method::GET, &api(&format!("s/{id}"))).send().unwrap(), 404);
    expect_error(append(&s, &id, 3, b"def"), 404);
}

#[test]
fn a_known_digest_is_committed_without_bytes_and_mounts_need_read_permission() {
    let (s, _d) = server("");
    s.create_local_repo("generic-src", "generic");
    let content = bytes_of(100_000, 3);
    let sha = sha256_hex(&content);
    let r = s
        .admin(Method::PUT, "/artifactory/generic-src/layer.bin")
        .body(content.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    gc(&s);
    let blobs_before = (binaries_count(&s), blob_files(&s));
    // Unknown digests are 404; a mount from where the caller may read works.
    let unknown = sha256_hex(b"never stored");
    expect_error(
        s.admin(Method::GET, &api(&format!("blob/{unknown}"))).send().unwrap(),
        404,
    );
    expect_error(
        s.admin(Method::PUT, &api(&format!("commit/{unknown}?path=u.bin")))
            .send()
            .unwrap(),
        404,
    );
    let r = s
        .admin(Method::PUT, &api(&format!("mount/generic-src/{sha}?path=mounted.bin")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    assert_eq!(stored(&s, "mounted.bin").unwrap(), content);
    let r = s.admin(Method::GET, &api(&format!("blob/{sha}"))).send().unwrap();
    assert_eq!(r.text().unwrap(), content.len().to_string());
    let r = s
        .admin(Method::PUT, &api(&format!("commit/{sha}?path=again.bin")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(stored(&s, "again.bin").unwrap(), content);
    assert_eq!(
        (binaries_count(&s), blob_files(&s)),
        blobs_before,
        "no new bytes were stored"
    );

    // A user who may write here but not read the source cannot mount from it.
    s.create_user("dev", "Passw0rd!x", &[]);
    let r = s
        .admin(Method::DELETE, "/access/api/v2/permissions/Anything")
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = s
        .admin(Method::PUT, "/artifactory/api/v2/security/permissions/up-only")
        .json(&serde_json::json!({"name": "up-only", "repo": {
            "repositories": [REPO], "include-patterns": ["**"], "exclude-patterns": [],
            "actions": {"users": {"dev": ["read", "write"]}}}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let r = s
        .user(
            "dev",
            "Passw0rd!x",
            Method::PUT,
            &api(&format!("mount/generic-src/{sha}?path=stolen.bin")),
        )
        .send()
        .unwrap();
    expect_error(r, 404);
    assert_eq!(stored(&s, "stolen.bin"), None);
    // Upstream fetches are for remote repositories: a local one has no upstream.
    let msg = expect_error(s.admin(Method::GET, &api("upstream")).send().unwrap(), 400);
    assert!(msg.contains("is not a remote repository"), "{msg}");
}
