//! Item info (`/artifactory/api/storage/{repo}/{path}`): file and folder info,
//! `?list`, properties, `PATCH /api/metadata`, `?stats`.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use binyard_e2e::{Method, Server, expect_error, json, md5_hex, sha1_hex, sha256_hex};
use common::*;
use serde_json::{Value, json as j};

fn server_with_repo(key: &str) -> Server {
    let s = Server::start();
    s.create_local_repo(key, "generic");
    s
}

fn info(s: &Server, repo_path: &str) -> Value {
    let r = s
        .admin(Method::GET, &format!("/artifactory/api/storage/{repo_path}"))
        .send()
        .expect("info");
    assert_eq!(r.status().as_u16(), 200, "info {repo_path}");
    json(r)
}

fn props(s: &Server, repo_path: &str, query: &str) -> binyard_e2e::Response {
    s.admin(Method::GET, &format!("/artifactory/api/storage/{repo_path}?{query}"))
        .send()
        .expect("properties")
}

fn props_of(s: &Server, repo_path: &str) -> Value {
    let r = props(s, repo_path, "properties");
    assert_eq!(r.status().as_u16(), 200, "properties of {repo_path}");
    json(r)["properties"].clone()
}

fn has_no_props(s: &Server, repo_path: &str) {
    let r = props(s, repo_path, "properties");
    expect_error(r, 404);
}

fn set_props(s: &Server, repo_path: &str, query: &str) {
    let r = s
        .admin(Method::PUT, &format!("/artifactory/api/storage/{repo_path}?{query}"))
        .send()
        .expect("set properties");
    assert_eq!(r.status().as_u16(), 204, "PUT {repo_path}?{query}: {:?}", r.text());
}

fn delete_props(s: &Server, repo_path: &str, query: &str) {
    let r = s
        .admin(Method::DELETE, &format!("/artifactory/api/storage/{repo_path}?{query}"))
        .send()
        .expect("delete properties");
    assert_eq!(r.status().as_u16(), 204, "DELETE {repo_path}?{query}: {:?}", r.text());
}

fn patch(s: &Server, repo_path: &str, query: &str, body: &Value) -> binyard_e2e::Response {
    s.admin(Method::PATCH, &format!("/artifactory/api/metadata/{repo_path}{query}"))
        .json(body)
        .send()
        .expect("patch")
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as u64
}

#[test]
fn file_info_shape() {
    let s = server_with_repo("libs");
    let data = bytes_of(1234, 11);
    let r = s
        .admin(Method::PUT, "/artifactory/libs/org/x/file.bin")
        .header("X-Checksum-Sha1", sha1_hex(&data))
        .body(data.clone())
        .send()
        .expect("deploy");
    assert_eq!(r.status().as_u16(), 201);
    let v = info(&s, "libs/org/x/file.bin");
    assert_eq!(v["repo"], "libs");
    assert_eq!(v["path"], "/org/x/file.bin");
    assert_iso8601(&v["created"], "created");
    assert_iso8601(&v["lastModified"], "lastModified");
    assert_iso8601(&v["lastUpdated"], "lastUpdated");
    assert_eq!(v["createdBy"], "admin");
    assert_eq!(v["modifiedBy"], "admin");
    assert_eq!(v["downloadUri"], s.url("/artifactory/libs/org/x/file.bin").as_str());
    assert_eq!(v["uri"], s.url("/artifactory/api/storage/libs/org/x/file.bin").as_str());
    assert!(v["mimeType"].is_string());
    assert_eq!(v["size"], "1234");
    assert_eq!(v["checksums"]["sha1"], sha1_hex(&data).as_str());
    assert_eq!(v["checksums"]["md5"], md5_hex(&data).as_str());
    assert_eq!(v["checksums"]["sha256"], sha256_hex(&data).as_str());
    assert_eq!(v["originalChecksums"]["sha1"], sha1_hex(&data).as_str());
    assert_eq!(v["originalChecksums"]["sha256"], sha256_hex(&data).as_str());
    assert!(v.get("children").is_none(), "a file has no children: {v}");
}

#[test]
fn folder_info_shape() {
    let s = server_with_repo("libs");
    deploy(&s, "libs", "top/a.txt", b"a");
    deploy(&s, "libs", "top/sub/b.txt", b"b");
    let v = info(&s, "libs/top");
    assert_eq!(v["repo"], "libs");
    assert_eq!(v["path"], "/top");
    assert_iso8601(&v["created"], "created");
    assert_iso8601(&v["lastModified"], "lastModified");
    assert_eq!(v["uri"], s.url("/artifactory/api/storage/libs/top").as_str());
    assert!(v.get("checksums").is_none(), "{v}");
    assert!(v.get("downloadUri").is_none(), "{v}");
    let mut children: Vec<(String, bool)> = v["children"]
        .as_array()
        .expect("children")
        .iter()
        .map(|c| {
            (
                c["uri"].as_str().unwrap_or_default().to_string(),
                c["folder"].as_bool().expect("folder flag"),
            )
        })
        .collect();
    children.sort();
    assert_eq!(
        children,
        vec![("/a.txt".to_string(), false), ("/sub".to_string(), true)]
    );
}

#[test]
fn repository_root_info() {
    let s = server_with_repo("libs");
    deploy(&s, "libs", "x.txt", b"x");
    deploy(&s, "libs", "d/y.txt", b"y");
    let v = info(&s, "libs");
    assert_eq!(v["repo"], "libs");
    assert_eq!(v["path"], "/");
    let mut uris: Vec<&str> = v["children"]
        .as_array()
        .expect("children")
        .iter()
        .filter_map(|c| c["uri"].as_str())
        .collect();
    uris.sort();
    assert_eq!(uris, vec!["/d", "/x.txt"]);
}

#[test]
fn info_of_unknown_items_is_404() {
    let s = server_with_repo("libs");
    expect_error(
        s.admin(Method::GET, "/artifactory/api/storage/libs/missing.txt")
            .send()
            .expect("info"),
        404,
    );
    expect_error(
        s.admin(Method::GET, "/artifactory/api/storage/ghost-repo/x")
            .send()
            .expect("info"),
        404,
    );
}

fn tree(s: &Server) {
    deploy(s, "libs", "a.txt", b"a");
    deploy(s, "libs", "d1/b.txt", b"bb");
    deploy(s, "libs", "d1/d2/c.txt", b"ccc");
    deploy(s, "libs", "d1/d2/d3/e.txt", b"eeee");
}

#[test]
fn list_shallow_deep_depth_and_folders() {
    let s = server_with_repo("libs");
    tree(&s);
    assert_eq!(list_uris(&s, "libs", "list"), vec!["/a.txt"]);
    assert_eq!(list_uris(&s, "libs", "list&listFolders=1"), vec!["/a.txt", "/d1"]);
    assert_eq!(
        list_uris(&s, "libs", "list&deep=1"),
        vec!["/a.txt", "/d1/b.txt", "/d1/d2/c.txt", "/d1/d2/d3/e.txt"]
    );
    assert_eq!(
        list_uris(&s, "libs", "list&deep=1&listFolders=1"),
        vec![
            "/a.txt",
            "/d1",
            "/d1/b.txt",
            "/d1/d2",
            "/d1/d2/c.txt",
            "/d1/d2/d3",
            "/d1/d2/d3/e.txt"
        ]
    );
    assert_eq!(
        list_uris(&s, "libs", "list&deep=1&depth=2"),
        vec!["/a.txt", "/d1/b.txt"]
    );
    assert_eq!(
        list_uris(&s, "libs", "list&deep=1&depth=2&listFolders=1"),
        vec!["/a.txt", "/d1", "/d1/b.txt", "/d1/d2"]
    );
    // Listing a sub-folder: uris relative to it.
    assert_eq!(
        list_uris(&s, "libs/d1", "list&deep=1"),
        vec!["/b.txt", "/d2/c.txt", "/d2/d3/e.txt"]
    );
}

#[test]
fn list_entry_shape() {
    let s = server_with_repo("libs");
    tree(&s);
    let r = s
        .admin(
            Method::GET,
            "/artifactory/api/storage/libs/d1?list&deep=1&listFolders=1",
        )
        .send()
        .expect("list");
    assert_eq!(r.status().as_u16(), 200);
    let v = json(r);
    assert_eq!(v["uri"], s.url("/artifactory/api/storage/libs/d1").as_str());
    assert_iso8601(&v["created"], "created");
    let files = v["files"].as_array().expect("files");
    let b = files.iter().find(|f| f["uri"] == "/b.txt").expect("b.txt");
    assert_eq!(b["size"], 2);
    assert_eq!(b["folder"], false);
    assert_eq!(b["sha1"], sha1_hex(b"bb").as_str());
    assert_eq!(b["sha2"], sha256_hex(b"bb").as_str());
    assert_iso8601(&b["lastModified"], "lastModified");
    let d2 = files.iter().find(|f| f["uri"] == "/d2").expect("d2");
    assert_eq!(d2["folder"], true);
    assert_eq!(d2["size"], -1);
}

#[test]
fn list_of_a_file_is_refused() {
    let s = server_with_repo("libs");
    deploy(&s, "libs", "f.txt", b"f");
    let r = s
        .admin(Method::GET, "/artifactory/api/storage/libs/f.txt?list")
        .send()
        .expect("list");
    let status = r.status().as_u16();
    assert!((400..500).contains(&status), "status {status}");
    assert_content(&s, "libs", "f.txt", b"f");
}

#[test]
fn properties_set_read_filter_delete() {
    let s = server_with_repo("libs");
    deploy(&s, "libs", "p/file.bin", b"props");
    has_no_props(&s, "libs/p/file.bin");
    set_props(&s, "libs/p/file.bin", "properties=os=linux,darwin;arch=x86_64");
    let r = props(&s, "libs/p/file.bin", "properties");
    assert_eq!(r.status().as_u16(), 200);
    let v = json(r);
    assert_eq!(v["uri"], s.url("/artifactory/api/storage/libs/p/file.bin").as_str());
    assert_eq!(v["properties"], j!({"os": ["linux", "darwin"], "arch": ["x86_64"]}));
    let r = props(&s, "libs/p/file.bin", "properties=arch");
    assert_eq!(json(r)["properties"], j!({"arch": ["x86_64"]}));
    let r = props(&s, "libs/p/file.bin", "properties=arch,os");
    assert_eq!(
        json(r)["properties"],
        j!({"os": ["linux", "darwin"], "arch": ["x86_64"]})
    );
    let r = props(&s, "libs/p/file.bin", "properties=arch,nosuch");
    assert_eq!(json(r)["properties"], j!({"arch": ["x86_64"]}));
    let r = props(&s, "libs/p/file.bin", "properties=nosuch");
    expect_error(r, 404);

    delete_props(&s, "libs/p/file.bin", "properties=os");
    assert_eq!(props_of(&s, "libs/p/file.bin"), j!({"arch": ["x86_64"]}));
    // Setting a key again replaces its values.
    set_props(&s, "libs/p/file.bin", "properties=arch=arm64");
    assert_eq!(props_of(&s, "libs/p/file.bin"), j!({"arch": ["arm64"]}));
    delete_props(&s, "libs/p/file.bin", "properties=arch");
    has_no_props(&s, "libs/p/file.bin");
    // Properties never touch the content.
    assert_content(&s, "libs", "p/file.bin", b"props");
}

#[test]
fn property_values_with_escaped_separators() {
    let s = server_with_repo("libs");
    deploy(&s, "libs", "e.bin", b"e");
    // `a=x\,y` (backslash-escaped comma) is one value "x,y"; `\=` and `\;` likewise.
    set_props(&s, "libs/e.bin", "properties=a=x%5C,y;b=k%5C=v");
    assert_eq!(props_of(&s, "libs/e.bin"), j!({"a": ["x,y"], "b": ["k=v"]}));
}

#[test]
fn property_values_may_be_percent_encoded() {
    let s = server_with_repo("libs");
    deploy(&s, "libs", "enc.bin", b"e");
    set_props(&s, "libs/enc.bin", "properties=note=hello%20world");
    assert_eq!(props_of(&s, "libs/enc.bin"), j!({"note": ["hello world"]}));
}

#[test]
fn recursive_properties_on_a_folder() {
    let s = server_with_repo("libs");
    deploy(&s, "libs", "f/one.txt", b"1");
    deploy(&s, "libs", "f/sub/two.txt", b"2");
    deploy(&s, "libs", "outside.txt", b"o");

    set_props(&s, "libs/f", "properties=release=yes&recursive=1");
    for p in ["libs/f", "libs/f/one.txt", "libs/f/sub", "libs/f/sub/two.txt"] {
        assert_eq!(props_of(&s, p), j!({"release": ["yes"]}), "{p}");
    }
    has_no_props(&s, "libs/outside.txt");

    set_props(&s, "libs/f", "properties=only=folder&recursive=0");
    assert_eq!(props_of(&s, "libs/f"), j!({"release": ["yes"], "only": ["folder"]}));
    assert_eq!(props_of(&s, "libs/f/one.txt"), j!({"release": ["yes"]}));

    delete_props(&s, "libs/f", "properties=release&recursive=1");
    assert_eq!(props_of(&s, "libs/f"), j!({"only": ["folder"]}));
    for p in ["libs/f/one.txt", "libs/f/sub", "libs/f/sub/two.txt"] {
        has_no_props(&s, p);
    }
}

#[test]
fn properties_on_a_missing_item_are_404() {
    let s = server_with_repo("libs");
    let r = s
        .admin(Method::PUT, "/artifactory/api/storage/libs/nope.txt?properties=a=1")
        .send()
        .expect("set");
    expect_error(r, 404);
    assert_absent(&s, "libs", "nope.txt");
    assert!(snapshot(&s, "libs").is_empty());
}

#[test]
fn patch_metadata_sets_and_removes() {
    let s = server_with_repo("libs");
    deploy(&s, "libs", "m/file.bin", b"m");
    set_props(&s, "libs/m/file.bin", "properties=keep=me;drop=me");
    let r = patch(
        &s,
        "libs/m/file.bin",
        "",
        &j!({"props": {"single": "one", "multi": ["a", "b"], "drop": null}}),
    );
    assert_eq!(r.status().as_u16(), 204, "{:?}", r.text());
    assert_eq!(
        props_of(&s, "libs/m/file.bin"),
        j!({"keep": ["me"], "single": ["one"], "multi": ["a", "b"]})
    );
    let r = patch(&s, "libs/m/file.bin", "", &j!({"props": {"single": "two"}}));
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(props_of(&s, "libs/m/file.bin")["single"], j!(["two"]));
    assert_content(&s, "libs", "m/file.bin", b"m");
}

#[test]
fn patch_metadata_recursively() {
    let s = server_with_repo("libs");
    deploy(&s, "libs", "r/a.txt", b"a");
    deploy(&s, "libs", "r/b/c.txt", b"c");
    let r = patch(&s, "libs/r", "?recursiveProperties=1", &j!({"props": {"stage": "qa"}}));
    assert_eq!(r.status().as_u16(), 204, "{:?}", r.text());
    for p in ["libs/r", "libs/r/a.txt", "libs/r/b/c.txt"] {
        assert_eq!(props_of(&s, p), j!({"stage": ["qa"]}), "{p}");
    }
    let r = patch(&s, "libs/r", "", &j!({"props": {"folder": "only"}}));
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(props_of(&s, "libs/r")["folder"], j!(["only"]));
    assert!(props_of(&s, "libs/r/a.txt").get("folder").is_none());
}

#[test]
fn patch_metadata_of_missing_item_is_404() {
    let s = server_with_repo("libs");
    let r = patch(&s, "libs/missing.bin", "", &j!({"props": {"a": "b"}}));
    expect_error(r, 404);
    assert!(snapshot(&s, "libs").is_empty());
}

#[test]
fn stats_count_downloads() {
    let s = server_with_repo("libs");
    deploy(&s, "libs", "s/stat.bin", b"stats");
    let stats = || {
        let r = s
            .admin(Method::GET, "/artifactory/api/storage/libs/s/stat.bin?stats")
            .send()
            .expect("stats");
        assert_eq!(r.status().as_u16(), 200);
        json(r)
    };
    let v = stats();
    assert_eq!(v["uri"], s.url("/artifactory/api/storage/libs/s/stat.bin").as_str());
    assert_eq!(count(&v["downloadCount"]), 0, "{v}");
    let before = now_ms();
    assert_content(&s, "libs", "s/stat.bin", b"stats");
    assert_content(&s, "libs", "s/stat.bin", b"stats");
    let after = now_ms();
    let v = stats();
    assert_eq!(count(&v["downloadCount"]), 2, "{v}");
    let last = count(&v["lastDownloaded"]);
    assert!(
        last + 2000 >= before && last <= after + 2000,
        "lastDownloaded {last} is in ms around {before}..{after}: {v}"
    );
    assert_eq!(v["lastDownloadedBy"], "admin");
    assert_eq!(count(&v["remoteDownloadCount"]), 0);
}

#[test]
fn stats_of_missing_item_is_404() {
    let s = server_with_repo("libs");
    let r = s
        .admin(Method::GET, "/artifactory/api/storage/libs/none.bin?stats")
        .send()
        .expect("stats");
    expect_error(r, 404);
}

#[test]
fn properties_survive_a_restart() {
    let mut s = server_with_repo("libs");
    deploy(&s, "libs", "keep.bin", b"k");
    set_props(&s, "libs/keep.bin", "properties=a=1");
    s.restart();
    assert_eq!(props_of(&s, "libs/keep.bin"), j!({"a": ["1"]}));
}
