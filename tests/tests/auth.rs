//! Authentication: HTTP Basic for the admin, and `anonymous_read` as a switch.

mod common;

use binyard_e2e::{Method, Options, Server, client, expect_error, json};
use common::*;

fn anonymous_read_server() -> Server {
    let s = Server::start_with(Options {
        extra_config: "[security]\nanonymous_read = true\n".into(),
    });
    s.create_local_repo("libs", "generic");
    deploy(&s, "libs", "pub/file.txt", b"public bytes");
    s
}

fn locked_server() -> Server {
    let s = Server::start();
    s.create_local_repo("libs", "generic");
    deploy(&s, "libs", "pub/file.txt", b"public bytes");
    s
}

#[test]
fn no_credentials_is_401_with_error_body() {
    let s = locked_server();
    let before = snapshot(&s, "libs");
    for (method, path) in [
        (Method::GET, "/artifactory/libs/pub/file.txt"),
        (Method::HEAD, "/artifactory/libs/pub/file.txt"),
        (Method::GET, "/artifactory/api/storage/libs/pub/file.txt"),
        (Method::GET, "/artifactory/api/storage/libs?list&deep=1"),
        (Method::GET, "/artifactory/api/repositories"),
        (Method::GET, "/artifactory/api/storageinfo"),
        (Method::GET, "/artifactory/api/system/version"),
        (Method::DELETE, "/artifactory/libs/pub/file.txt"),
        (Method::PUT, "/artifactory/api/storage/libs/pub/file.txt?properties=a=1"),
    ] {
        let r = s.anon(method.clone(), path).send().expect("request");
        let www = r
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        if method == Method::HEAD {
            assert_eq!(r.status().as_u16(), 401, "{method} {path}");
        } else {
            expect_error(r, 401);
        }
        assert!(
            www.to_ascii_lowercase().starts_with("basic"),
            "{method} {path}: WWW-Authenticate {www:?}"
        );
    }
    let r = s
        .anon(Method::PUT, "/artifactory/libs/pub/new.txt")
        .body(b"anonymous upload".to_vec())
        .send()
        .expect("deploy");
    expect_error(r, 401);
    assert_eq!(snapshot(&s, "libs"), before);
    assert_content(&s, "libs", "pub/file.txt", b"public bytes");
    assert_absent(&s, "libs", "pub/new.txt");
}

#[test]
fn wrong_password_is_401() {
    // Many failures in a row would lock the admin (tested in format_login.rs).
    let s = Server::start_with(Options {
        extra_config: "[security]\nlock_after_failed_logins = 0\n".into(),
    });
    s.create_local_repo("libs", "generic");
    deploy(&s, "libs", "pub/file.txt", b"public bytes");
    let before = snapshot(&s, "libs");
    let bad = |method: Method, path: &str, user: &str, pass: &str| {
        client()
            .request(method, s.url(path))
            .basic_auth(user, Some(pass))
            .body(b"x".to_vec())
            .send()
            .expect("request")
    };
    for (user, pass) in [("admin", "wrong"), ("admin", ""), ("nobody", "password")] {
        expect_error(bad(Method::GET, "/artifactory/libs/pub/file.txt", user, pass), 401);
        expect_error(bad(Method::PUT, "/artifactory/libs/pub/evil.txt", user, pass), 401);
        expect_error(bad(Method::DELETE, "/artifactory/libs/pub/file.txt", user, pass), 401);
    }
    assert_eq!(snapshot(&s, "libs"), before);
    assert_absent(&s, "libs", "pub/evil.txt");
    assert_content(&s, "libs", "pub/file.txt", b"public bytes");
}

#[test]
fn wrong_password_is_refused_even_with_anonymous_read() {
    let s = anonymous_read_server();
    let r = client()
        .get(s.url("/artifactory/libs/pub/file.txt"))
        .basic_auth("admin", Some("not-the-password"))
        .send()
        .expect("request");
    expect_error(r, 401);
}

#[test]
fn malformed_authorization_is_401() {
    let s = locked_server();
    for value in ["Basic !!!not-base64!!!", "Basic", "Basic YWRtaW4=", "Garbage"] {
        let r = client()
            .get(s.url("/artifactory/libs/pub/file.txt"))
            .header("Authorization", value)
            .send()
            .expect("request");
        expect_error(r, 401);
    }
}

#[test]
fn correct_credentials_work_on_every_request() {
    let s = locked_server();
    for _ in 0..3 {
        assert_content(&s, "libs", "pub/file.txt", b"public bytes");
    }
}

#[test]
fn anonymous_read_allows_reading() {
    let s = anonymous_read_server();
    let r = s
        .anon(Method::GET, "/artifactory/libs/pub/file.txt")
        .send()
        .expect("download");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.bytes().expect("body").to_vec(), b"public bytes".to_vec());
    let r = s
        .anon(Method::GET, "/artifactory/api/storage/libs/pub/file.txt")
        .send()
        .expect("info");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(json(r)["path"], "/pub/file.txt");
    let r = s
        .anon(Method::GET, "/artifactory/api/storage/libs?list&deep=1")
        .send()
        .expect("list");
    assert_eq!(r.status().as_u16(), 200);
    let uris: Vec<String> = json(r)["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["uri"].as_str().map(str::to_string))
        .collect();
    assert_eq!(uris, vec!["/pub/file.txt"]);
    let r = s
        .anon(Method::GET, "/artifactory/api/repositories")
        .send()
        .expect("repositories");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(json(r)[0]["key"], "libs");
    let r = s.anon(Method::GET, "/artifactory/libs/pub/").send().expect("folder");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().expect("html").contains("file.txt"));
}

#[test]
fn anonymous_read_does_not_allow_writing() {
    let s = anonymous_read_server();
    let before = snapshot(&s, "libs");
    let r = s
        .anon(Method::PUT, "/artifactory/libs/pub/new.txt")
        .body(b"anonymous upload".to_vec())
        .send()
        .expect("deploy");
    expect_error(r, 401);
    let r = s
        .anon(Method::PUT, "/artifactory/libs/pub/file.txt")
        .body(b"overwrite attempt".to_vec())
        .send()
        .expect("overwrite");
    expect_error(r, 401);
    let r = s
        .anon(Method::PUT, "/artifactory/libs/newfolder/")
        .send()
        .expect("mkdir");
    expect_error(r, 401);
    let r = s
        .anon(Method::DELETE, "/artifactory/libs/pub/file.txt")
        .send()
        .expect("delete");
    expect_error(r, 401);
    let r = s
        .anon(Method::PUT, "/artifactory/api/storage/libs/pub/file.txt?properties=a=1")
        .send()
        .expect("props");
    expect_error(r, 401);
    let r = s
        .anon(Method::PATCH, "/artifactory/api/metadata/libs/pub/file.txt")
        .json(&serde_json::json!({"props": {"a": "1"}}))
        .send()
        .expect("patch");
    expect_error(r, 401);
    let r = s
        .anon(
            Method::POST,
            "/artifactory/api/copy/libs/pub/file.txt?to=/libs/copy.txt",
        )
        .send()
        .expect("copy");
    expect_error(r, 401);
    let r = s
        .anon(
            Method::POST,
            "/artifactory/api/move/libs/pub/file.txt?to=/libs/moved.txt",
        )
        .send()
        .expect("move");
    expect_error(r, 401);
    assert_eq!(snapshot(&s, "libs"), before);
    assert_content(&s, "libs", "pub/file.txt", b"public bytes");
    let r = s
        .admin(Method::GET, "/artifactory/api/storage/libs/pub/file.txt?properties")
        .send()
        .expect("props");
    expect_error(r, 404);
}

#[test]
fn anonymous_read_does_not_open_admin_endpoints() {
    let s = anonymous_read_server();
    for (method, path) in [
        (Method::GET, "/artifactory/api/storageinfo"),
        (Method::POST, "/artifactory/api/system/storage/gc"),
        (Method::DELETE, "/artifactory/api/repositories/libs"),
    ] {
        let r = s.anon(method.clone(), path).send().expect("request");
        let status = r.status().as_u16();
        assert!(status == 401 || status == 403, "{method} {path}: {status}");
        expect_error(r, status);
    }
    let r = s
        .anon(Method::PUT, "/artifactory/api/repositories/anon-repo")
        .json(&serde_json::json!({"key":"anon-repo","rclass":"local","packageType":"generic"}))
        .send()
        .expect("create");
    let status = r.status().as_u16();
    assert!(status == 401 || status == 403, "create repo: {status}");
    expect_error(r, status);
    assert_eq!(repo_keys(&s), vec!["libs"]);
    assert_content(&s, "libs", "pub/file.txt", b"public bytes");
}

#[test]
fn anonymous_downloads_are_recorded_as_anonymous() {
    let s = anonymous_read_server();
    let r = s
        .anon(Method::GET, "/artifactory/libs/pub/file.txt")
        .send()
        .expect("download");
    assert_eq!(r.status().as_u16(), 200);
    let r = s
        .anon(Method::GET, "/artifactory/api/storage/libs/pub/file.txt?stats")
        .send()
        .expect("stats");
    assert_eq!(r.status().as_u16(), 200);
    let v = json(r);
    assert_eq!(count(&v["downloadCount"]), 1, "{v}");
    assert_eq!(v["lastDownloadedBy"], "anonymous", "{v}");
}

#[test]
fn anonymous_head_with_anonymous_read() {
    let s = anonymous_read_server();
    let r = s
        .anon(Method::HEAD, "/artifactory/libs/pub/file.txt")
        .send()
        .expect("head");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers().get("x-checksum-sha256").and_then(|v| v.to_str().ok()),
        Some(binyard_e2e::sha256_hex(b"public bytes").as_str())
    );
}
