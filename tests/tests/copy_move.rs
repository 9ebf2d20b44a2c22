//! Copy and move: `POST /artifactory/api/copy|move/{repo}/{path}?to=/{repo}/{path}`.

mod common;

use binyard_e2e::{Method, Server, expect_error, json};
use common::*;
use serde_json::Value;

fn two_repos() -> Server {
    let s = Server::start();
    s.create_local_repo("src", "generic");
    s.create_local_repo("dst", "generic");
    s
}

fn post(s: &Server, op: &str, from: &str, query: &str) -> binyard_e2e::Response {
    s.admin(Method::POST, &format!("/artifactory/api/{op}/{from}?{query}"))
        .send()
        .expect("copy/move")
}

/// Runs an operation expected to succeed; answers the messages.
fn ok(s: &Server, op: &str, from: &str, query: &str) -> Vec<Value> {
    let r = post(s, op, from, query);
    let status = r.status().as_u16();
    let v = json(r);
    assert_eq!(status, 200, "{op} {from}?{query}: {v}");
    let messages = v["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages array: {v}"))
        .clone();
    assert!(!messages.is_empty(), "no messages: {v}");
    for m in &messages {
        assert!(m["level"].is_string() && m["message"].is_string(), "{m}");
        assert_ne!(m["level"], "ERROR", "{v}");
    }
    messages
}

fn files(s: &Server) {
    deploy(s, "src", "dir/a.txt", b"alpha");
    deploy(s, "src", "dir/sub/b.txt", b"beta");
    deploy(s, "src", "single.bin", b"single file");
}

#[test]
fn copy_a_file_to_another_repository() {
    let s = two_repos();
    files(&s);
    let src_before = snapshot(&s, "src");
    let blobs = binaries_count(&s);
    ok(&s, "copy", "src/single.bin", "to=/dst/copies/renamed.bin");
    assert_content(&s, "dst", "copies/renamed.bin", b"single file");
    assert_content(&s, "src", "single.bin", b"single file");
    assert_eq!(snapshot(&s, "src"), src_before, "source untouched");
    assert_eq!(binaries_count(&s), blobs, "copy reuses the blob");
    let r = s
        .admin(Method::GET, "/artifactory/api/storage/dst/copies/renamed.bin")
        .send()
        .expect("info");
    let v = json(r);
    assert_eq!(v["path"], "/copies/renamed.bin");
    assert_eq!(v["repo"], "dst");
    assert_eq!(v["size"], "11");
}

#[test]
fn copy_a_folder_keeps_its_tree() {
    let s = two_repos();
    files(&s);
    let blobs = binaries_count(&s);
    ok(&s, "copy", "src/dir", "to=/dst/dir");
    let src_tree = list_uris(&s, "src/dir", "list&deep=1&listFolders=1");
    let dst_tree = list_uris(&s, "dst/dir", "list&deep=1&listFolders=1");
    assert_eq!(src_tree, dst_tree);
    assert_eq!(dst_tree, vec!["/a.txt", "/sub", "/sub/b.txt"]);
    assert_content(&s, "dst", "dir/sub/b.txt", b"beta");
    assert_eq!(binaries_count(&s), blobs);
}

#[test]
fn copy_into_a_folder_with_trailing_slash() {
    let s = two_repos();
    files(&s);
    ok(&s, "copy", "src/single.bin", "to=/dst/into/");
    assert_content(&s, "dst", "into/single.bin", b"single file");
}

#[test]
fn copy_keeps_properties() {
    let s = two_repos();
    deploy(&s, "src", "p.bin;color=blue", b"p");
    ok(&s, "copy", "src/p.bin", "to=/dst/p.bin");
    let r = s
        .admin(Method::GET, "/artifactory/api/storage/dst/p.bin?properties")
        .send()
        .expect("props");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(json(r)["properties"]["color"], serde_json::json!(["blue"]));
}

#[test]
fn copy_overwrites_an_existing_destination_file() {
    let s = two_repos();
    files(&s);
    deploy(&s, "dst", "target.bin", b"old content");
    ok(&s, "copy", "src/single.bin", "to=/dst/target.bin");
    assert_content(&s, "dst", "target.bin", b"single file");
}

#[test]
fn copied_blob_outlives_the_source() {
    let s = two_repos();
    let data = bytes_of(20_000, 21);
    deploy(&s, "src", "shared.bin", &data);
    ok(&s, "copy", "src/shared.bin", "to=/dst/shared.bin");
    let r = s
        .admin(Method::DELETE, "/artifactory/src/shared.bin")
        .send()
        .expect("delete");
    assert_eq!(r.status().as_u16(), 204);
    let report = gc(&s);
    assert_eq!(count(&report["blobsDeleted"]), 0, "still referenced: {report}");
    assert_content(&s, "dst", "shared.bin", &data);
    let r = s
        .admin(Method::DELETE, "/artifactory/dst/shared.bin")
        .send()
        .expect("delete");
    assert_eq!(r.status().as_u16(), 204);
    let report = gc(&s);
    assert_eq!(count(&report["blobsDeleted"]), 1, "{report}");
    assert_eq!(count(&report["bytesFreed"]), data.len() as u64, "{report}");
}

#[test]
fn dry_run_copy_changes_nothing() {
    let s = two_repos();
    files(&s);
    let (src_before, dst_before) = (snapshot(&s, "src"), snapshot(&s, "dst"));
    let messages = ok(&s, "copy", "src/dir", "to=/dst/dir&dry=1");
    assert!(!messages.is_empty());
    ok(&s, "copy", "src/single.bin", "to=/dst/single.bin&dry=1");
    assert_eq!(snapshot(&s, "src"), src_before);
    assert_eq!(snapshot(&s, "dst"), dst_before);
    assert_absent(&s, "dst", "dir/a.txt");
    assert_absent(&s, "dst", "single.bin");
}

#[test]
fn move_a_file() {
    let s = two_repos();
    files(&s);
    let blobs = binaries_count(&s);
    ok(&s, "move", "src/single.bin", "to=/dst/moved/single.bin");
    assert_absent(&s, "src", "single.bin");
    assert_content(&s, "dst", "moved/single.bin", b"single file");
    assert_eq!(binaries_count(&s), blobs);
    assert_content(&s, "src", "dir/a.txt", b"alpha");
}

#[test]
fn move_a_folder() {
    let s = two_repos();
    files(&s);
    ok(&s, "move", "src/dir", "to=/dst/newdir");
    for p in ["dir", "dir/a.txt", "dir/sub/b.txt"] {
        assert_absent(&s, "src", p);
    }
    assert_eq!(
        list_uris(&s, "dst/newdir", "list&deep=1&listFolders=1"),
        vec!["/a.txt", "/sub", "/sub/b.txt"]
    );
    assert_content(&s, "dst", "newdir/a.txt", b"alpha");
    assert_content(&s, "src", "single.bin", b"single file");
}

#[test]
fn move_renames_within_a_repository() {
    let s = two_repos();
    files(&s);
    ok(&s, "move", "src/single.bin", "to=/src/renamed.bin");
    assert_absent(&s, "src", "single.bin");
    assert_content(&s, "src", "renamed.bin", b"single file");
}

#[test]
fn dry_run_move_changes_nothing() {
    let s = two_repos();
    files(&s);
    let (src_before, dst_before) = (snapshot(&s, "src"), snapshot(&s, "dst"));
    ok(&s, "move", "src/dir", "to=/dst/dir&dry=1");
    ok(&s, "move", "src/single.bin", "to=/dst/x.bin&dry=true");
    assert_eq!(snapshot(&s, "src"), src_before);
    assert_eq!(snapshot(&s, "dst"), dst_before);
}

/// `src/tree/a` is a file, but `dst/tree/a` is a folder: that item fails.
fn conflicting(s: &Server) {
    deploy(s, "src", "tree/a", b"file named a");
    deploy(s, "src", "tree/z.txt", b"zed");
    deploy(s, "dst", "tree/a/inner.txt", b"in the way");
}

fn messages_with_errors(r: binyard_e2e::Response) -> Vec<Value> {
    let status = r.status().as_u16();
    let v = json(r);
    assert!(
        (400..500).contains(&status),
        "a failed item makes the answer an error: {status} {v}"
    );
    let messages = v["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("no messages: {v}"))
        .clone();
    assert!(messages.iter().any(|m| m["level"] == "ERROR"), "an ERROR message: {v}");
    messages
}

#[test]
fn copy_without_fail_fast_copies_what_it_can() {
    let s = two_repos();
    conflicting(&s);
    messages_with_errors(post(&s, "copy", "src/tree", "to=/dst/tree"));
    assert_content(&s, "dst", "tree/z.txt", b"zed");
    assert_content(&s, "dst", "tree/a/inner.txt", b"in the way");
}

#[test]
fn copy_with_fail_fast_stops_at_the_first_error() {
    let s = two_repos();
    conflicting(&s);
    let (src_before, dst_before) = (snapshot(&s, "src"), snapshot(&s, "dst"));
    messages_with_errors(post(&s, "copy", "src/tree", "to=/dst/tree&failFast=1"));
    assert_absent(&s, "dst", "tree/z.txt");
    assert_eq!(snapshot(&s, "dst"), dst_before);
    assert_eq!(snapshot(&s, "src"), src_before);
}

#[test]
fn move_with_fail_fast_moves_nothing() {
    let s = two_repos();
    conflicting(&s);
    let (src_before, dst_before) = (snapshot(&s, "src"), snapshot(&s, "dst"));
    messages_with_errors(post(&s, "move", "src/tree", "to=/dst/tree&failFast=1"));
    assert_eq!(snapshot(&s, "src"), src_before);
    assert_eq!(snapshot(&s, "dst"), dst_before);
}

#[test]
fn move_without_fail_fast_keeps_what_failed() {
    let s = two_repos();
    conflicting(&s);
    messages_with_errors(post(&s, "move", "src/tree", "to=/dst/tree"));
    // z.txt moved, the conflicting file stays at the source.
    assert_content(&s, "dst", "tree/z.txt", b"zed");
    assert_absent(&s, "src", "tree/z.txt");
    assert_content(&s, "src", "tree/a", b"file named a");
    assert_content(&s, "dst", "tree/a/inner.txt", b"in the way");
}

#[test]
fn copy_of_unknown_source_is_404() {
    let s = two_repos();
    files(&s);
    let before = (snapshot(&s, "src"), snapshot(&s, "dst"));
    expect_error(post(&s, "copy", "src/nothing.bin", "to=/dst/nothing.bin"), 404);
    expect_error(post(&s, "move", "src/nothing.bin", "to=/dst/nothing.bin"), 404);
    expect_error(post(&s, "copy", "ghost/x.bin", "to=/dst/x.bin"), 404);
    assert_eq!((snapshot(&s, "src"), snapshot(&s, "dst")), before);
}

#[test]
fn copy_to_unknown_repository_is_refused() {
    let s = two_repos();
    files(&s);
    let before = snapshot(&s, "src");
    for op in ["copy", "move"] {
        let r = post(&s, op, "src/single.bin", "to=/ghost/single.bin");
        let status = r.status().as_u16();
        assert!(status == 400 || status == 404, "{op}: {status}");
        expect_error(r, status);
    }
    assert_eq!(snapshot(&s, "src"), before);
    assert_eq!(repo_keys(&s), vec!["dst", "src"]);
}

#[test]
fn copy_without_destination_is_400() {
    let s = two_repos();
    files(&s);
    let before = (snapshot(&s, "src"), snapshot(&s, "dst"));
    expect_error(post(&s, "copy", "src/single.bin", ""), 400);
    expect_error(post(&s, "move", "src/single.bin", "dry=1"), 400);
    assert_eq!((snapshot(&s, "src"), snapshot(&s, "dst")), before);
}

#[test]
fn copy_or_move_a_folder_into_itself_is_refused() {
    let s = two_repos();
    files(&s);
    let before = snapshot(&s, "src");
    for (op, to) in [
        ("copy", "to=/src/dir/sub/again"),
        ("move", "to=/src/dir/sub/again"),
        ("move", "to=/src/dir"),
    ] {
        let r = post(&s, op, "src/dir", to);
        let status = r.status().as_u16();
        assert!(status == 400 || status == 409, "{op} {to}: {status}");
        expect_error(r, status);
    }
    assert_eq!(snapshot(&s, "src"), before);
}

#[test]
fn copy_to_a_traversing_destination_is_400() {
    let s = two_repos();
    files(&s);
    let before = (snapshot(&s, "src"), snapshot(&s, "dst"));
    for to in [
        "to=/dst/../src/evil.bin",
        "to=/dst/a/%2e%2e/b.bin",
        "to=/dst/a%5Cb.bin",
        "to=/dst/a%00b.bin",
    ] {
        expect_error(post(&s, "copy", "src/single.bin", to), 400);
        expect_error(post(&s, "move", "src/single.bin", to), 400);
    }
    assert_eq!((snapshot(&s, "src"), snapshot(&s, "dst")), before);
}

#[test]
fn copy_needs_credentials() {
    let s = two_repos();
    files(&s);
    let before = snapshot(&s, "dst");
    let r = s
        .anon(Method::POST, "/artifactory/api/copy/src/single.bin?to=/dst/single.bin")
        .send()
        .expect("copy");
    expect_error(r, 401);
    assert_eq!(snapshot(&s, "dst"), before);
}
