//! Generic virtual repositories: reads resolve over the members (locals first, in
//! configured order, nested virtuals flattened), a member the caller may not read is
//! invisible, deploys go to `defaultDeploymentRepo` with that repository's permissions.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use binyard_e2e::*;
use common::*;
use serde_json::{Value, json};

const PW: &str = "pw-123";

fn create(s: &Server, cfg: Value) {
    let key = cfg["key"].as_str().unwrap().to_string();
    let r = s
        .admin(Method::PUT, &format!("/artifactory/api/repositories/{key}"))
        .json(&cfg)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
}

/// Locals `a` and `b`, a remote `rem` listed first (its upstream unreachable), virtual `v` = [rem, a, b] deploying to `b`,
/// and `outer` = [v] nesting it.
fn setup() -> Server {
    let s = Server::start();
    s.create_local_repo("a", "generic");
    s.create_local_repo("b", "generic");
    create(
        &s,
        json!({"key":"rem","rclass":"remote","packageType":"generic","url":"http://127.0.0.1:9/"}),
    );
    create(
        &s,
        json!({"key":"v","rclass":"virtual","packageType":"generic","repositories":["rem","a","b"],"defaultDeploymentRepo":"b"}),
    );
    create(
        &s,
        json!({"key":"outer","rclass":"virtual","packageType":"generic","repositories":["v"]}),
    );
    deploy(&s, "a", "lib/both.txt", b"from a");
    deploy(&s, "b", "lib/both.txt", b"from b");
    deploy(&s, "b", "lib/only-b.txt", b"only b");
    s
}

#[test]
fn reads_resolve_over_members_in_order() {
    let s = setup();
    for v in ["v", "outer"] {
        assert_eq!(
            download(&s, v, "lib/both.txt"),
            (200, b"from a".to_vec()),
            "{v}: first member wins"
        );
        assert_eq!(download(&s, v, "lib/only-b.txt"), (200, b"only b".to_vec()), "{v}");
        // No local has it and the remote member's upstream cannot be reached: its
        // failure is the answer (as through a format virtual), not a 404.
        let (st, _) = download(&s, v, "lib/none.txt");
        assert_eq!(st, 502, "{v}");
    }
    let r = s.admin(Method::HEAD, "/artifactory/v/lib/only-b.txt").send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], "6");
    assert_eq!(r.headers()["x-checksum-sha256"], sha256_hex(b"only b").as_str());
}

#[test]
fn an_unreadable_member_is_invisible() {
    let s = setup();
    assert_eq!(
        s.admin(Method::DELETE, "/access/api/v2/permissions/Anything")
            .send()
            .unwrap()
            .status(),
        204
    );
    s.create_user("reader", PW, &[]);
    let r = s
        .admin(Method::PUT, "/artifactory/api/v2/security/permissions/only-b")
        .json(
            &json!({"name": "only-b", "repo": {"repositories": ["b"], "include-patterns": ["**"],
            "exclude-patterns": [], "actions": {"users": {"reader": ["read"]}}}}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    // `a` comes first but the reader may not read it: `b`'s copy answers.
    let r = s
        .user("reader", PW, Method::GET, "/artifactory/v/lib/both.txt")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().as_ref(), b"from b");
    deploy(&s, "a", "lib/only-a.txt", b"only a");
    let r = s
        .user("reader", PW, Method::GET, "/artifactory/v/lib/only-a.txt")
        .send()
        .unwrap();
    assert_eq!(r.status(), 404, "a file only in an unreadable member does not exist");
}

#[test]
fn deploys_go_to_the_default_deployment_repo() {
    let s = setup();
    let r = s
        .admin(Method::PUT, "/artifactory/v/up/new.txt")
        .body(b"new".to_vec())
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(json(r)["repo"], "b");
    assert_content(&s, "b", "up/new.txt", b"new");
    assert_absent(&s, "a", "up/new.txt");
    assert_eq!(download(&s, "v", "up/new.txt"), (200, b"new".to_vec()));

    // No defaultDeploymentRepo: 405 saying so, and nothing lands anywhere.
    let r = s
        .admin(Method::PUT, "/artifactory/outer/up/other.txt")
        .body(b"x".to_vec())
        .send()
        .unwrap();
    let msg = expect_error(r, 405);
    assert!(msg.contains("no defaultDeploymentRepo"), "{msg}");
    assert_absent(&s, "a", "up/other.txt");
    assert_absent(&s, "b", "up/other.txt");

    // The deploy needs the deploy permission on `b`, not on the virtual repository.
    assert_eq!(
        s.admin(Method::DELETE, "/access/api/v2/permissions/Anything")
            .send()
            .unwrap()
            .status(),
        204
    );
    s.create_user("dep", PW, &[]);
    let grant = |repo: &str| {
        let r = s
            .admin(
                Method::PUT,
                &format!("/artifactory/api/v2/security/permissions/dep-{repo}"),
            )
            .json(
                &json!({"name": format!("dep-{repo}"), "repo": {"repositories": [repo], "include-patterns": ["**"],
                "exclude-patterns": [], "actions": {"users": {"dep": ["read", "write"]}}}}),
            )
            .send()
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    };
    grant("a");
    grant("v");
    let put = || {
        s.user("dep", PW, Method::PUT, "/artifactory/v/up/dep.txt")
            .body(b"d".to_vec())
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(put(), 403, "rights on a and v are not rights on b");
    assert_absent(&s, "b", "up/dep.txt");
    grant("b");
    assert_eq!(put(), 201);
    assert_content(&s, "b", "up/dep.txt", b"d");
}

#[test]
fn delete_through_a_virtual_is_405() {
    let s = setup();
    let r = s.admin(Method::DELETE, "/artifactory/v/lib/both.txt").send().unwrap();
    expect_error(r, 405);
    assert_content(&s, "a", "lib/both.txt", b"from a");
}

/// The names an HTML folder index links to.
fn index_names(html: &str) -> Vec<String> {
    html.split("<a href=\"")
        .skip(1)
        .filter_map(|p| p.split_once('"').map(|(h, _)| h.to_string()))
        .filter(|h| h != "../")
        .collect()
}

#[test]
fn folders_and_item_info_resolve_over_members() {
    let s = setup();
    deploy(&s, "a", "lib/sub/deep.txt", b"deep");
    deploy(&s, "b", "other/x.txt", b"x");

    // Folder indexes: what every member has there, each name once.
    let r = s.admin(Method::GET, "/artifactory/v/lib/").send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(index_names(&r.text().unwrap()), ["both.txt", "only-b.txt", "sub/"]);
    let r = s.admin(Method::GET, "/artifactory/outer/").send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(index_names(&r.text().unwrap()), ["lib/", "other/"]);
    let r = s.admin(Method::GET, "/artifactory/v/lib/both.txt/").send().unwrap();
    assert_eq!(r.status(), 404, "a file is no folder");
    assert_eq!(
        s.admin(Method::GET, "/artifactory/v/nowhere/").send().unwrap().status(),
        404
    );

    // Item info of a folder: the children of all members, addresses through the virtual.
    let info = json(s.admin(Method::GET, "/artifactory/api/storage/v/lib").send().unwrap());
    assert_eq!(info["repo"], "v");
    assert_eq!(info["path"], "/lib");
    assert!(
        info["uri"]
            .as_str()
            .unwrap()
            .ends_with("/artifactory/api/storage/v/lib")
    );
    assert_eq!(
        info["children"],
        json!([{"uri": "/both.txt", "folder": false}, {"uri": "/only-b.txt", "folder": false}, {"uri": "/sub", "folder": true}])
    );
    let root = json(s.admin(Method::GET, "/artifactory/api/storage/outer").send().unwrap());
    assert_eq!(
        root["children"],
        json!([{"uri": "/lib", "folder": true}, {"uri": "/other", "folder": true}])
    );
    // Item info of a file: the first member's file.
    let info = json(
        s.admin(Method::GET, "/artifactory/api/storage/v/lib/both.txt")
            .send()
            .unwrap(),
    );
    assert_eq!(info["repo"], "v");
    assert_eq!(info["checksums"]["sha256"], sha256_hex(b"from a"));
    assert_eq!(info["size"], "6");
    assert!(
        info["downloadUri"]
            .as_str()
            .unwrap()
            .ends_with("/artifactory/v/lib/both.txt")
    );
    let r = s
        .admin(Method::GET, "/artifactory/api/storage/v/lib/none.txt")
        .send()
        .unwrap();
    expect_error(r, 404);
    // Properties are the resolved file's.
    let r = s
        .admin(
            Method::PUT,
            "/artifactory/api/storage/a/lib/both.txt?properties=color=red",
        )
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let props = json(
        s.admin(Method::GET, "/artifactory/api/storage/v/lib/both.txt?properties")
            .send()
            .unwrap(),
    );
    assert_eq!(props["properties"], json!({"color": ["red"]}));
    assert!(
        props["uri"]
            .as_str()
            .unwrap()
            .ends_with("/artifactory/api/storage/v/lib/both.txt")
    );
    // Listings of the whole tree are the members' business.
    let r = s
        .admin(Method::GET, "/artifactory/api/storage/v/lib?list&deep=1")
        .send()
        .unwrap();
    let msg = expect_error(r, 400);
    assert!(msg.contains("virtual repository"), "{msg}");

    // A reader of `b` only: `a`'s files are not in the folder or its info.
    assert_eq!(
        s.admin(Method::DELETE, "/access/api/v2/permissions/Anything")
            .send()
            .unwrap()
            .status(),
        204
    );
    s.create_user("reader", PW, &[]);
    let r = s
        .admin(Method::PUT, "/artifactory/api/v2/security/permissions/only-b")
        .json(
            &json!({"name": "only-b", "repo": {"repositories": ["b"], "include-patterns": ["**"],
            "exclude-patterns": [], "actions": {"users": {"reader": ["read"]}}}}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let r = s.user("reader", PW, Method::GET, "/artifactory/v/lib/").send().unwrap();
    assert_eq!(index_names(&r.text().unwrap()), ["both.txt", "only-b.txt"]);
    let info = json(
        s.user("reader", PW, Method::GET, "/artifactory/api/storage/v/lib/both.txt")
            .send()
            .unwrap(),
    );
    assert_eq!(info["checksums"]["sha256"], sha256_hex(b"from b"));
    let r = s
        .user("reader", PW, Method::GET, "/artifactory/api/storage/v/lib/sub")
        .send()
        .unwrap();
    expect_error(r, 404);
}
