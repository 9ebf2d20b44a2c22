//! Permission targets decide every request: read, annotate, deploy, delete per user
//! and group, with repository selectors and Ant patterns; 401/403/404 as Artifactory
//! answers; listings show only what the caller may read.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use binyard_e2e::*;
use common::*;
use serde_json::{Value, json};

const PW: &str = "pw-123";

/// A server with repository `libs` (files public/a.txt, public/b.secret,
/// private/c.txt) and `other`, without the default `Anything` target, and users with
/// one role each on `libs`.
fn matrix() -> Server {
    let s = Server::start();
    s.create_local_repo("libs", "generic");
    s.create_local_repo("other", "generic");
    deploy(&s, "libs", "public/a.txt", b"a");
    deploy(&s, "libs", "public/b.secret", b"b");
    deploy(&s, "libs", "private/c.txt", b"c");
    deploy(&s, "other", "x.txt", b"x");
    assert_eq!(
        s.admin(Method::DELETE, "/access/api/v2/permissions/Anything")
            .send()
            .unwrap()
            .status(),
        204
    );
    for u in ["outsider", "reader", "deployer", "deleter", "annotator", "browser"] {
        s.create_user(u, PW, &[]);
    }
    let target = |name: &str, users: Value, include: &str, exclude: &str| {
        let r = s
            .admin(Method::PUT, &format!("/artifactory/api/v2/security/permissions/{name}"))
            .json(&json!({"name": name, "repo": {
                "repositories": ["libs"], "include-patterns": [include], "exclude-patterns": [exclude],
                "actions": {"users": users}}}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    };
    target(
        "roles",
        json!({"reader": ["read"], "deployer": ["read", "write"], "deleter": ["read", "write", "delete"],
               "annotator": ["read", "annotate"]}),
        "**",
        "",
    );
    target("public-only", json!({"browser": ["read"]}), "public/**", "**/*.secret");
    s
}

fn status(r: reqwest::blocking::RequestBuilder) -> u16 {
    r.send().unwrap().status().as_u16()
}

#[test]
fn each_action_needs_its_permission() {
    let s = matrix();
    let get = |u: &str| status(s.user(u, PW, Method::GET, "/artifactory/libs/public/a.txt"));
    let put_new = |u: &str| {
        status(
            s.user(u, PW, Method::PUT, &format!("/artifactory/libs/new/{u}.txt"))
                .body("n"),
        )
    };
    let overwrite = |u: &str| status(s.user(u, PW, Method::PUT, "/artifactory/libs/public/a.txt").body("o"));
    let props = |u: &str| {
        status(s.user(
            u,
            PW,
            Method::PUT,
            "/artifactory/api/storage/libs/public/a.txt?properties=k=v",
        ))
    };
    let delete = |u: &str| status(s.user(u, PW, Method::DELETE, "/artifactory/libs/private/c.txt"));

    // Readers read and nothing else.
    assert_eq!(get("reader"), 200);
    assert_eq!(put_new("reader"), 403);
    assert_eq!(props("reader"), 403);
    assert_eq!(delete("reader"), 403);
    // Deployers deploy new files but do not overwrite.
    assert_eq!(put_new("deployer"), 201);
    assert_eq!(overwrite("deployer"), 403);
    assert_eq!(delete("deployer"), 403);
    // Annotators set properties.
    assert_eq!(props("annotator"), 204);
    assert_eq!(put_new("annotator"), 403);
    // Deleters overwrite and delete.
    assert_eq!(overwrite("deleter"), 201);
    assert_eq!(delete("deleter"), 204);
    // Outsiders do not even learn what exists: 404 to read, 403 to deploy.
    let r = s
        .user("outsider", PW, Method::GET, "/artifactory/libs/public/a.txt")
        .send()
        .unwrap();
    expect_error(r, 404);
    assert_eq!(get("outsider"), 404);
    assert_eq!(put_new("outsider"), 403);
    assert_eq!(delete("outsider"), 404);
    // Anonymous callers must log in.
    let r = s.anon(Method::GET, "/artifactory/libs/public/a.txt").send().unwrap();
    assert!(expect_error(r, 401).contains("Authentication"));
    // What was refused changed nothing.
    assert_content(&s, "libs", "public/a.txt", b"o");
    assert_absent(&s, "libs", "new/reader.txt");
    assert_absent(&s, "libs", "new/annotator.txt");
    assert_absent(&s, "libs", "new/outsider.txt");
    assert_absent(&s, "libs", "private/c.txt");
}

#[test]
fn patterns_limit_paths_and_listings_show_only_what_may_be_read() {
    let s = matrix();
    let get = |p: &str| status(s.user("browser", PW, Method::GET, &format!("/artifactory/libs/{p}")));
    assert_eq!(get("public/a.txt"), 200);
    assert_eq!(get("public/b.secret"), 404);
    assert_eq!(get("private/c.txt"), 404);
    // Listings: the root shows only the way to public/, deep lists only readable files.
    let info = json(
        s.user("browser", PW, Method::GET, "/artifactory/api/storage/libs")
            .send()
            .unwrap(),
    );
    let children: Vec<&str> = info["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["uri"].as_str().unwrap())
        .collect();
    assert_eq!(children, ["/public"]);
    let deep = json(
        s.user("browser", PW, Method::GET, "/artifactory/api/storage/libs?list&deep=1")
            .send()
            .unwrap(),
    );
    let files: Vec<&str> = deep["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["uri"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["/public/a.txt"]);
    let html = s
        .user("browser", PW, Method::GET, "/artifactory/libs/public/")
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(html.contains("a.txt") && !html.contains("b.secret"), "{html}");
    expect_error(
        s.user("browser", PW, Method::GET, "/artifactory/api/storage/libs/private")
            .send()
            .unwrap(),
        404,
    );
    // The repository list shows only repositories with something readable.
    let repos = json(
        s.user("browser", PW, Method::GET, "/artifactory/api/repositories")
            .send()
            .unwrap(),
    );
    let keys: Vec<&str> = repos
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["libs"]);
    let repos = json(
        s.user("outsider", PW, Method::GET, "/artifactory/api/repositories")
            .send()
            .unwrap(),
    );
    assert!(repos.as_array().unwrap().is_empty());
}

#[test]
fn groups_and_repository_selectors_grant_too() {
    let s = matrix();
    s.admin(Method::POST, "/access/api/v2/groups")
        .json(&json!({"name": "devs"}))
        .send()
        .unwrap();
    s.create_user("dev", PW, &["devs"]);
    assert_eq!(status(s.user("dev", PW, Method::GET, "/artifactory/other/x.txt")), 404);
    // The Access API form, for every local repository.
    let r = s
        .admin(Method::POST, "/access/api/v2/permissions")
        .json(&json!({"name": "devs-local", "resources": {"artifact": {
            "targets": {"ANY LOCAL": {"include_patterns": ["**"], "exclude_patterns": []}},
            "actions": {"groups": {"devs": ["READ", "WRITE"]}}}}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    assert_eq!(status(s.user("dev", PW, Method::GET, "/artifactory/other/x.txt")), 200);
    assert_eq!(
        status(s.user("dev", PW, Method::PUT, "/artifactory/other/y.txt").body("y")),
        201
    );
    // A token scoped to the group carries the group's rights, not more.
    let t = json(
        s.admin(Method::POST, "/access/api/v1/tokens")
            .json(&json!({"username": "ci-bot", "scope": "applied-permissions/groups:devs", "expires_in": 600}))
            .send()
            .unwrap(),
    );
    let token = t["access_token"].as_str().unwrap();
    let r = client()
        .get(s.url("/artifactory/other/x.txt"))
        .bearer_auth(token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client()
        .delete(s.url("/artifactory/other/x.txt"))
        .bearer_auth(token)
        .send()
        .unwrap();
    expect_error(r, 403);
    // Removing the member takes the rights away at once.
    s.admin(Method::PATCH, "/access/api/v2/groups/devs/members")
        .json(&json!({"remove": ["dev"]}))
        .send()
        .unwrap();
    assert_eq!(status(s.user("dev", PW, Method::GET, "/artifactory/other/x.txt")), 404);
}

#[test]
fn copy_and_move_need_rights_on_both_sides() {
    let s = matrix();
    // reader may read libs but not write to other.
    let r = s
        .user(
            "deployer",
            PW,
            Method::POST,
            "/artifactory/api/copy/libs/public/a.txt?to=/other/a.txt",
        )
        .send()
        .unwrap();
    expect_error(r, 403);
    let r = s
        .user(
            "deployer",
            PW,
            Method::POST,
            "/artifactory/api/move/libs/public/a.txt?to=/libs/moved/a.txt",
        )
        .send()
        .unwrap();
    expect_error(r, 403);
    assert_content(&s, "libs", "public/a.txt", b"a");
    let r = s
        .user(
            "deployer",
            PW,
            Method::POST,
            "/artifactory/api/copy/libs/public/a.txt?to=/libs/copied/a.txt",
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
}

#[test]
fn anonymous_access_is_a_switch_and_its_rights_a_permission_target() {
    let s = Server::start_with(Options {
        extra_config: "[security]\nanonymous_access = true\n".into(),
    });
    s.create_local_repo("libs", "generic");
    deploy(&s, "libs", "a.txt", b"a");
    // The default target lets the anonymous user read, not write.
    assert_eq!(status(s.anon(Method::GET, "/artifactory/libs/a.txt")), 200);
    assert_eq!(status(s.anon(Method::PUT, "/artifactory/libs/b.txt").body("b")), 401);
    // Take read away from anonymous by editing the target: it must log in again.
    let r = s
        .admin(Method::PUT, "/artifactory/api/security/permissions/Anything")
        .json(
            &json!({"name": "Anything", "repositories": ["ANY"], "includesPattern": "**",
            "principals": {"groups": {"readers": ["r"]}}}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    assert_eq!(status(s.anon(Method::GET, "/artifactory/libs/a.txt")), 401);
    // Without the switch, anonymous rights count for nothing.
    let off = Server::start();
    off.create_local_repo("libs", "generic");
    deploy(&off, "libs", "a.txt", b"a");
    assert_eq!(status(off.anon(Method::GET, "/artifactory/libs/a.txt")), 401);
    // New users join `readers` and so read everything by default.
    off.create_user("newbie", PW, &[]);
    assert_eq!(
        status(off.user("newbie", PW, Method::GET, "/artifactory/libs/a.txt")),
        200
    );
}

#[test]
fn the_three_api_shapes_manage_one_target_and_bad_ones_change_nothing() {
    let s = matrix();
    let r = s
        .admin(Method::PUT, "/artifactory/api/security/permissions/v1-made")
        .json(
            &json!({"repositories": ["libs", "other"], "includesPattern": "org/**", "excludesPattern": "",
            "principals": {"users": {"reader": ["r", "w", "d"]}, "groups": {"readers": ["r"]}}}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let v2 = json(
        s.admin(Method::GET, "/artifactory/api/v2/security/permissions/v1-made")
            .send()
            .unwrap(),
    );
    assert_eq!(v2["repo"]["repositories"], json!(["libs", "other"]));
    assert_eq!(v2["repo"]["include-patterns"], json!(["org/**"]));
    assert_eq!(
        v2["repo"]["actions"]["users"]["reader"],
        json!(["delete", "read", "write"])
    );
    let access = json(
        s.admin(Method::GET, "/access/api/v2/permissions/v1-made")
            .send()
            .unwrap(),
    );
    assert_eq!(
        access["resources"]["artifact"]["targets"]["other"]["include_patterns"],
        json!(["org/**"])
    );
    assert_eq!(
        access["resources"]["artifact"]["actions"]["groups"]["readers"],
        json!(["READ"])
    );
    let v1 = json(
        s.admin(Method::GET, "/artifactory/api/security/permissions/v1-made")
            .send()
            .unwrap(),
    );
    assert_eq!(v1["principals"]["users"]["reader"], json!(["d", "r", "w"]));
    let names = |path: &str| -> Vec<String> {
        let v = json(s.admin(Method::GET, path).send().unwrap());
        let arr = v.get("permissions").cloned().unwrap_or(v);
        arr.as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("/access/api/v2/permissions"), ["public-only", "roles", "v1-made"]);
    assert_eq!(
        names("/artifactory/api/security/permissions"),
        names("/artifactory/api/v2/security/permissions")
    );

    // Bad targets: refused with the reason, nothing saved.
    for (body, needle) in [
        (
            json!({"repo": {"repositories": ["nope"], "actions": {"users": {"reader": ["read"]}}}}),
            "nope",
        ),
        (
            json!({"repo": {"repositories": ["libs"], "actions": {"users": {"ghost": ["read"]}}}}),
            "ghost",
        ),
        (
            json!({"repo": {"repositories": ["libs"], "actions": {"groups": {"ghosts": ["read"]}}}}),
            "ghosts",
        ),
        (
            json!({"repo": {"repositories": ["libs"], "actions": {"users": {"reader": ["fly"]}}}}),
            "fly",
        ),
        (
            json!({"repo": {"repositories": "libs", "actions": {"users": {"reader": 7}}}}),
            "reader",
        ),
        (json!({"nothing": true}), "resources"),
    ] {
        let r = s
            .admin(Method::POST, "/artifactory/api/v2/security/permissions/bad")
            .json(&body)
            .send()
            .unwrap();
        assert!(expect_error(r, 400).contains(needle), "{body}");
    }
    let r = s
        .admin(Method::POST, "/artifactory/api/v2/security/permissions/roles")
        .json(&json!({"repo": {"repositories": ["libs"]}}))
        .send()
        .unwrap();
    expect_error(r, 409);
    expect_error(
        s.admin(Method::GET, "/artifactory/api/v2/security/permissions/bad")
            .send()
            .unwrap(),
        404,
    );
    // Only admins manage targets.
    expect_error(
        s.user("reader", PW, Method::GET, "/access/api/v2/permissions")
            .send()
            .unwrap(),
        403,
    );
    // Deleting through one API deletes it for all.
    assert_eq!(
        s.admin(Method::DELETE, "/artifactory/api/v2/security/permissions/v1-made")
            .send()
            .unwrap()
            .status(),
        200
    );
    expect_error(
        s.admin(Method::GET, "/access/api/v2/permissions/v1-made")
            .send()
            .unwrap(),
        404,
    );
}

#[test]
fn plugin_requests_follow_the_same_permissions() {
    let dir = plugin_folder(&["test_echo"]);
    let s = Server::start_full(Options::default(), dir.path(), "");
    s.create_local_repo("echo", "testecho");
    s.create_user("reader", PW, &[]);
    s.create_user("deployer", PW, &[]);
    s.admin(Method::PUT, "/artifactory/api/v2/security/permissions/dep")
        .json(&json!({"repo": {"repositories": ["echo"], "actions": {"users": {"deployer": ["read", "write"]}}}}))
        .send()
        .unwrap();
    let path = "/artifactory/api/testecho/echo/files/pkg.bin";
    // A reader installs but does not publish.
    assert_eq!(status(s.user("reader", PW, Method::PUT, path).body("v1")), 403);
    assert_eq!(status(s.admin(Method::PUT, path).body("v1")), 201);
    assert_eq!(status(s.user("reader", PW, Method::GET, path)), 200);
    // A deployer publishes but does not overwrite.
    assert_eq!(
        status(
            s.user(
                "deployer",
                PW,
                Method::PUT,
                "/artifactory/api/testecho/echo/files/new.bin"
            )
            .body("n")
        ),
        201
    );
    let r = s.user("deployer", PW, Method::PUT, path).body("v2").send().unwrap();
    assert!(expect_error(r, 403).contains("delete"));
    let r = s.admin(Method::GET, path).send().unwrap();
    assert_eq!(r.text().unwrap(), "v1");
}
