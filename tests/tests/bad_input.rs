//! Bad input: every refusal answers Artifactory's error body and leaves storage
//! unchanged. Traversal requests go over a raw socket so that no client
//! normalises the bytes first.

mod common;

use binyard_e2e::{Method, Server, expect_error, json, md5_hex, sha1_hex, sha256_hex};
use common::*;
use serde_json::json as j;

/// A server with `libs` (holding `dir/ok.txt`) and `other` (holding `secret.txt`).
fn setup() -> Server {
    let s = Server::start();
    s.create_local_repo("libs", "generic");
    s.create_local_repo("other", "generic");
    deploy(&s, "libs", "dir/ok.txt", b"fine");
    deploy(&s, "other", "secret.txt", b"top secret");
    s
}

/// Everything that must hold after a refused request.
struct State {
    libs: Vec<String>,
    other: Vec<String>,
    repos: Vec<String>,
    binaries: u64,
}

fn state(s: &Server) -> State {
    State {
        libs: snapshot(s, "libs"),
        other: snapshot(s, "other"),
        repos: repo_keys(s),
        binaries: binaries_count(s),
    }
}

fn assert_unchanged(s: &Server, before: &State, what: &str) {
    assert_eq!(snapshot(s, "libs"), before.libs, "libs changed after {what}");
    assert_eq!(snapshot(s, "other"), before.other, "other changed after {what}");
    assert_eq!(repo_keys(s), before.repos, "repositories changed after {what}");
    assert_eq!(binaries_count(s), before.binaries, "binaries changed after {what}");
    assert!(temp_files(s).is_empty(), "temp files left after {what}");
    assert_content(s, "libs", "dir/ok.txt", b"fine");
    assert_content(s, "other", "secret.txt", b"top secret");
}

const BAD_PATHS: &[&str] = &[
    "/artifactory/libs/../other/evil.txt",
    "/artifactory/libs/dir/../../other/evil.txt",
    "/artifactory/libs/dir/%2e%2e/evil.txt",
    "/artifactory/libs/dir/%2E%2E/evil.txt",
    "/artifactory/libs/dir/.%2e/evil.txt",
    "/artifactory/libs/%2e%2e/other/evil.txt",
    "/artifactory/libs/dir/./evil.txt",
    "/artifactory/libs/dir/%2e/evil.txt",
    "/artifactory/libs/dir%2F..%2Fevil.txt",
    "/artifactory/libs/dir%2Fevil.txt",
    "/artifactory/libs/%2Fetc%2Fpasswd",
    "/artifactory/libs//etc/passwd",
    "/artifactory/libs/dir//evil.txt",
    "/artifactory/libs/evil%00.txt",
    "/artifactory/libs/dir/evil%00/x.txt",
    "/artifactory/libs/dir%5C..%5Cevil.txt",
    "/artifactory/libs/dir%5Cevil.txt",
    "/artifactory/libs/dir\\evil.txt",
    "/artifactory/libs/..",
];

#[test]
fn traversal_deploys_are_refused() {
    let s = setup();
    let before = state(&s);
    for target in BAD_PATHS {
        let r = raw_admin(&s, "PUT", target, b"evil bytes");
        r.expect_error(400);
        assert_unchanged(&s, &before, &format!("PUT {target}"));
    }
    assert_absent(&s, "other", "evil.txt");
    assert_absent(&s, "libs", "evil.txt");
}

#[test]
fn traversal_deploys_with_matrix_params_are_refused() {
    let s = setup();
    let before = state(&s);
    for target in [
        "/artifactory/libs/dir/..;a=b/evil.txt",
        "/artifactory/libs/%2e%2e;a=b/other/evil.txt",
    ] {
        let r = raw_admin(&s, "PUT", target, b"evil bytes");
        r.expect_error(400);
        assert_unchanged(&s, &before, &format!("PUT {target}"));
    }
}

#[test]
fn traversal_downloads_are_refused() {
    let s = setup();
    let before = state(&s);
    for target in [
        "/artifactory/libs/../other/secret.txt",
        "/artifactory/libs/dir/../../other/secret.txt",
        "/artifactory/libs/%2e%2e/other/secret.txt",
        "/artifactory/libs/dir/%2e%2e/ok.txt",
        "/artifactory/libs/dir%2Fok.txt",
        "/artifactory/libs/dir%5Cok.txt",
        "/artifactory/libs/dir/ok.txt%00",
        "/artifactory/libs//dir/ok.txt",
    ] {
        for method in ["GET", "HEAD"] {
            let r = raw_admin(&s, method, target, b"");
            assert_eq!(r.status, 400, "{method} {target}");
            if method == "GET" {
                r.expect_error(400);
                assert!(
                    !String::from_utf8_lossy(&r.body).contains("top secret"),
                    "{target} leaked the file"
                );
            }
        }
    }
    assert_unchanged(&s, &before, "traversal downloads");
}

#[test]
fn traversal_deletes_are_refused() {
    let s = setup();
    let before = state(&s);
    for target in [
        "/artifactory/libs/../other/secret.txt",
        "/artifactory/libs/dir/../../other",
        "/artifactory/libs/%2e%2e/other/secret.txt",
        "/artifactory/libs/dir/%2E%2E",
        "/artifactory/libs/dir%2Fok.txt",
        "/artifactory/libs/dir%5Cok.txt",
        "/artifactory/libs/dir/ok.txt%00",
    ] {
        let r = raw_admin(&s, "DELETE", target, b"");
        r.expect_error(400);
        assert_unchanged(&s, &before, &format!("DELETE {target}"));
    }
}

#[test]
fn traversal_in_the_storage_and_metadata_apis_is_refused() {
    let s = setup();
    let before = state(&s);
    for (method, target, body) in [
        ("GET", "/artifactory/api/storage/libs/../other/secret.txt", ""),
        ("GET", "/artifactory/api/storage/libs/%2e%2e/other", ""),
        ("GET", "/artifactory/api/storage/libs/dir%2Fok.txt", ""),
        ("GET", "/artifactory/api/storage/libs/dir%00?list", ""),
        (
            "PUT",
            "/artifactory/api/storage/libs/%2e%2e/other/secret.txt?properties=a=b",
            "",
        ),
        ("PUT", "/artifactory/api/storage/libs/dir%5Cok.txt?properties=a=b", ""),
        (
            "DELETE",
            "/artifactory/api/storage/libs/../other/secret.txt?properties=a",
            "",
        ),
        (
            "PATCH",
            "/artifactory/api/metadata/libs/%2e%2e/other/secret.txt",
            r#"{"props":{"a":"b"}}"#,
        ),
        (
            "POST",
            "/artifactory/api/copy/libs/%2e%2e/other/secret.txt?to=/libs/stolen.txt",
            "",
        ),
        (
            "POST",
            "/artifactory/api/move/libs/../other/secret.txt?to=/libs/stolen.txt",
            "",
        ),
        (
            "POST",
            "/artifactory/api/copy/libs/dir/ok.txt?to=/libs/../other/ok.txt",
            "",
        ),
        (
            "POST",
            "/artifactory/api/move/libs/dir/ok.txt?to=/libs/%2e%2e/other/ok.txt",
            "",
        ),
    ] {
        let r = raw_admin(&s, method, target, body.as_bytes());
        r.expect_error(400);
        assert_unchanged(&s, &before, &format!("{method} {target}"));
    }
    assert_absent(&s, "libs", "stolen.txt");
    let r = s
        .admin(Method::GET, "/artifactory/api/storage/other/secret.txt?properties")
        .send()
        .expect("props");
    expect_error(r, 404);
}

#[test]
fn traversal_through_the_repository_key_is_refused() {
    let s = setup();
    let before = state(&s);
    for target in [
        "/artifactory/%2e%2e/libs/x.txt",
        "/artifactory/..%2Fother/x.txt",
        "/artifactory/libs%2F..%2Fother/x.txt",
        "/artifactory/lib%00s/x.txt",
    ] {
        let r = raw_admin(&s, "PUT", target, b"x");
        let status = r.status;
        assert!(
            status == 400 || status == 404,
            "PUT {target}: {status} {}",
            String::from_utf8_lossy(&r.body)
        );
        r.expect_error(status);
        assert_unchanged(&s, &before, &format!("PUT {target}"));
    }
}

#[test]
fn invalid_repository_keys_are_refused() {
    let s = setup();
    let before = state(&s);
    let long = "k".repeat(65);
    for key in [
        "bad%20key",
        "-starts-with-dash",
        ".hidden",
        "semi;colon",
        "slash%2Fkey",
        "back%5Cslash",
        "nul%00key",
        "api",
        "%2e%2e",
        long.as_str(),
    ] {
        let r = raw_admin(
            &s,
            "PUT",
            &format!("/artifactory/api/repositories/{key}"),
            br#"{"rclass":"local","packageType":"generic"}"#,
        );
        let status = r.status;
        assert!(
            status == 400 || status == 404,
            "create {key}: {status} {}",
            String::from_utf8_lossy(&r.body)
        );
        r.expect_error(status);
        assert_unchanged(&s, &before, &format!("create repo {key}"));
    }
    // A bad key in the body is refused too.
    let r = s
        .admin(Method::PUT, "/artifactory/api/repositories/good")
        .json(&j!({"key": "b a d", "rclass": "local", "packageType": "generic"}))
        .send()
        .expect("create");
    expect_error(r, 400);
    assert_unchanged(&s, &before, "create with a bad body key");
}

#[test]
fn unknown_repositories_are_404() {
    let s = setup();
    let before = state(&s);
    let r = s
        .admin(Method::PUT, "/artifactory/ghost/file.txt")
        .body(b"x".to_vec())
        .send()
        .expect("deploy");
    expect_error(r, 404);
    let r = s
        .admin(Method::PUT, "/artifactory/ghost/folder/")
        .send()
        .expect("mkdir");
    expect_error(r, 404);
    for (method, path) in [
        (Method::GET, "/artifactory/ghost/file.txt"),
        (Method::DELETE, "/artifactory/ghost/file.txt"),
        (Method::GET, "/artifactory/api/storage/ghost/file.txt"),
        (Method::GET, "/artifactory/api/storage/ghost?list&deep=1"),
        (Method::PUT, "/artifactory/api/storage/ghost/f?properties=a=1"),
        (Method::GET, "/artifactory/api/repositories/ghost"),
        (Method::DELETE, "/artifactory/api/repositories/ghost"),
    ] {
        let r = s.admin(method.clone(), path).send().expect("request");
        expect_error(r, 404);
    }
    assert_unchanged(&s, &before, "requests to an unknown repository");
}

#[test]
fn malformed_json_is_400() {
    let s = setup();
    let before = state(&s);
    let cfg_before = json(
        s.admin(Method::GET, "/artifactory/api/repositories/libs")
            .send()
            .expect("config"),
    );
    for body in [
        "{",
        "not json at all",
        "[]",
        "\"a string\"",
        r#"{"rclass": 5}"#,
        r#"{"rclass": "sideways", "packageType": "generic"}"#,
        r#"{"rclass": "local", "packageType": ["generic"]}"#,
    ] {
        let r = s
            .admin(Method::PUT, "/artifactory/api/repositories/newrepo")
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .expect("create");
        expect_error(r, 400);
        let r = s
            .admin(Method::POST, "/artifactory/api/repositories/libs")
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .expect("update");
        expect_error(r, 400);
        assert_unchanged(&s, &before, &format!("repository body {body}"));
    }
    let cfg_after = json(
        s.admin(Method::GET, "/artifactory/api/repositories/libs")
            .send()
            .expect("config"),
    );
    assert_eq!(cfg_after, cfg_before);
}

#[test]
fn malformed_metadata_patch_is_400() {
    let s = setup();
    let r = s
        .admin(
            Method::PUT,
            "/artifactory/api/storage/libs/dir/ok.txt?properties=keep=1",
        )
        .send()
        .expect("set");
    assert_eq!(r.status().as_u16(), 204);
    let before = state(&s);
    for body in [
        "{",
        "[]",
        r#"{"nope": {}}"#,
        r#"{"props": "string"}"#,
        r#"{"props": {"k": {"nested": 1}}}"#,
        r#"{"props": {"bad=key": "v"}}"#,
    ] {
        let r = s
            .admin(Method::PATCH, "/artifactory/api/metadata/libs/dir/ok.txt")
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .expect("patch");
        expect_error(r, 400);
        assert_unchanged(&s, &before, &format!("PATCH {body}"));
        let r = s
            .admin(Method::GET, "/artifactory/api/storage/libs/dir/ok.txt?properties")
            .send()
            .expect("props");
        assert_eq!(json(r)["properties"], j!({"keep": ["1"]}), "after {body}");
    }
}

#[test]
fn property_syntax_errors_are_400() {
    let s = setup();
    let before = state(&s);
    for q in ["properties=", "properties=;", "properties==v", "properties=a%00b=v"] {
        let r = s
            .admin(Method::PUT, &format!("/artifactory/api/storage/libs/dir/ok.txt?{q}"))
            .send()
            .expect("set");
        expect_error(r, 400);
        assert_unchanged(&s, &before, q);
    }
    let r = s
        .admin(Method::PUT, "/artifactory/api/storage/libs/dir/ok.txt")
        .send()
        .expect("set");
    expect_error(r, 400);
    let r = s
        .admin(Method::GET, "/artifactory/api/storage/libs/dir?list&depth=abc")
        .send()
        .expect("list");
    expect_error(r, 400);
    let r = s
        .admin(Method::GET, "/artifactory/api/storage/libs/dir/ok.txt?properties")
        .send()
        .expect("props");
    expect_error(r, 404);
}

fn put_with_header(s: &Server, path: &str, name: &str, value: &str, body: &[u8]) -> binyard_e2e::Response {
    s.admin(Method::PUT, &format!("/artifactory/{path}"))
        .header(name, value)
        .body(body.to_vec())
        .send()
        .expect("deploy")
}

#[test]
fn checksum_mismatch_is_409_and_stores_nothing() {
    let s = setup();
    let before = state(&s);
    let data = bytes_of(200_000, 41);
    let wrong = b"something else";
    for (name, value) in [
        ("X-Checksum-Sha1", sha1_hex(wrong)),
        ("X-Checksum-Sha256", sha256_hex(wrong)),
        ("X-Checksum", md5_hex(wrong)),
    ] {
        let r = put_with_header(&s, "libs/new/mismatch.bin", name, &value, &data);
        expect_error(r, 409);
        assert_absent(&s, "libs", "new/mismatch.bin");
        assert_absent(&s, "libs", "new");
        assert_unchanged(&s, &before, &format!("mismatching {name}"));
    }
    // Nothing of the refused uploads survives a collection either.
    let report = gc(&s);
    assert_eq!(count(&report["blobsDeleted"]), 0, "{report}");
    assert_unchanged(&s, &before, "gc after mismatches");
}

#[test]
fn checksum_mismatch_keeps_the_old_content() {
    let s = setup();
    let before = state(&s);
    let r = put_with_header(
        &s,
        "libs/dir/ok.txt",
        "X-Checksum-Sha256",
        &sha256_hex(b"not this"),
        b"replacement",
    );
    expect_error(r, 409);
    assert_unchanged(&s, &before, "mismatching overwrite");
    let r = put_with_header(
        &s,
        "libs/dir/ok.txt",
        "X-Checksum-Sha1",
        &sha1_hex(b"replacement"),
        b"replacement-but-different",
    );
    expect_error(r, 409);
    assert_unchanged(&s, &before, "mismatching overwrite by sha1");
}

#[test]
fn malformed_checksum_headers_are_refused() {
    let s = setup();
    let before = state(&s);
    for (name, value) in [
        ("X-Checksum-Sha1", "xyz"),
        ("X-Checksum-Sha256", "not-hex-at-all"),
        ("X-Checksum", "1234"),
    ] {
        let r = put_with_header(&s, "libs/bad-header.bin", name, value, b"data");
        let status = r.status().as_u16();
        assert!(status == 400 || status == 409, "{name}: {status}");
        expect_error(r, status);
        assert_unchanged(&s, &before, &format!("malformed {name}"));
    }
}

#[test]
fn checksum_deploy_without_a_checksum_is_refused() {
    let s = setup();
    let before = state(&s);
    let r = s
        .admin(Method::PUT, "/artifactory/libs/by-nothing.bin")
        .header("X-Checksum-Deploy", "true")
        .send()
        .expect("deploy");
    let status = r.status().as_u16();
    assert!(status == 400 || status == 404, "{status}");
    expect_error(r, status);
    assert_unchanged(&s, &before, "checksum deploy without checksum");
}

#[test]
fn wrong_methods_are_405() {
    let s = setup();
    let before = state(&s);
    for (method, path) in [
        (Method::POST, "/artifactory/libs/dir/ok.txt"),
        (Method::PATCH, "/artifactory/libs/dir/ok.txt"),
        (Method::PATCH, "/artifactory/api/repositories/libs"),
        (Method::DELETE, "/artifactory/api/repositories"),
        (Method::POST, "/artifactory/api/repositories"),
        (Method::DELETE, "/artifactory/api/system/ping"),
        (Method::POST, "/artifactory/api/system/version"),
        (Method::PUT, "/artifactory/api/storageinfo"),
        (Method::GET, "/artifactory/api/copy/libs/dir/ok.txt?to=/other/x.txt"),
        (Method::DELETE, "/artifactory/api/move/libs/dir/ok.txt?to=/other/x.txt"),
        (Method::GET, "/artifactory/api/metadata/libs/dir/ok.txt"),
        (Method::POST, "/artifactory/api/storage/libs/dir/ok.txt"),
        (Method::POST, "/router/api/v1/system/health"),
    ] {
        let r = s.admin(method.clone(), path).body("{}").send().expect("request");
        expect_error(r, 405);
        assert_unchanged(&s, &before, &format!("{method} {path}"));
    }
    assert_absent(&s, "other", "x.txt");
}

#[test]
fn deleting_into_a_file_path_is_404() {
    let s = setup();
    let before = state(&s);
    // `ok.txt` is a file: nothing lives below it.
    let r = s
        .admin(Method::DELETE, "/artifactory/libs/dir/ok.txt/child")
        .send()
        .expect("delete");
    expect_error(r, 404);
    assert_unchanged(&s, &before, "delete below a file");
}

#[test]
fn deploying_below_a_file_or_over_a_folder_is_refused() {
    let s = setup();
    let before = state(&s);
    let r = s
        .admin(Method::PUT, "/artifactory/libs/dir/ok.txt/child.bin")
        .body(b"x".to_vec())
        .send()
        .expect("deploy");
    let status = r.status().as_u16();
    assert!((400..500).contains(&status), "{status}");
    expect_error(r, status);
    assert_unchanged(&s, &before, "deploy below a file");
    let r = s
        .admin(Method::PUT, "/artifactory/libs/dir")
        .body(b"x".to_vec())
        .send()
        .expect("deploy");
    let status = r.status().as_u16();
    assert!((400..500).contains(&status), "{status}");
    expect_error(r, status);
    assert_unchanged(&s, &before, "deploy over a folder");
}

#[test]
fn truncated_upload_stores_nothing() {
    use std::io::Write;
    let s = setup();
    let before = state(&s);
    for path in ["libs/cut/new.bin", "libs/dir/ok.txt"] {
        let mut stream = std::net::TcpStream::connect(host_port(&s)).expect("connect");
        let head = format!(
            "PUT /artifactory/{path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {ADMIN_BASIC}\r\nContent-Length: 1000000\r\n\r\n",
            host_port(&s)
        );
        stream.write_all(head.as_bytes()).expect("head");
        stream.write_all(&bytes_of(400_000, 51)).expect("part of the body");
        stream.flush().expect("flush");
        std::thread::sleep(std::time::Duration::from_millis(200));
        drop(stream);
    }
    // The server notices the aborted uploads; give it a moment to clean up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !temp_files(&s).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_unchanged(&s, &before, "truncated uploads");
    assert_absent(&s, "libs", "cut/new.bin");
    let report = gc(&s);
    assert_eq!(count(&report["blobsDeleted"]), 0, "{report}");
}

#[test]
fn copy_or_move_of_a_repository_root_is_refused() {
    let s = setup();
    let before = state(&s);
    for op in ["copy", "move"] {
        let r = s
            .admin(Method::POST, &format!("/artifactory/api/{op}/libs?to=/other/libs-copy"))
            .send()
            .expect("request");
        // No document says which; binyard refuses either way.
        let status = r.status().as_u16();
        assert!(status == 400 || status == 404, "{op}: {status}");
        expect_error(r, status);
        assert_unchanged(&s, &before, &format!("{op} of a root"));
    }
}
