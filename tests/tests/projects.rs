//! Projects: members act in the project's repositories by their roles, and the
//! storage quota is enforced on deploy (hard: refused, nothing stored; soft: accepted).

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use binyard_e2e::*;
use common::*;
use serde_json::json;

const PW: &str = "pw-123";

fn server() -> Server {
    let s = Server::start();
    // Without the default target, only project roles grant anything.
    s.admin(Method::DELETE, "/access/api/v2/permissions/Anything")
        .send()
        .unwrap();
    s
}

fn create_project(s: &Server, body: serde_json::Value) -> serde_json::Value {
    let r = s
        .admin(Method::POST, "/access/api/v1/projects")
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    json(r)
}

#[test]
fn projects_are_created_listed_changed_and_deleted() {
    let s = server();
    let p = create_project(
        &s,
        json!({"project_key": "web", "display_name": "Web team", "max_storage_in_gibibytes": 5}),
    );
    assert_eq!(p["project_key"], "web");
    assert_eq!(p["max_storage_in_gibibytes"], 5);
    assert_eq!(p["storage_quota_bytes"], 5u64 << 30);
    assert_eq!(p["soft_limit"], false);
    let all = json(s.admin(Method::GET, "/access/api/v1/projects").send().unwrap());
    assert_eq!(all.as_array().unwrap().len(), 1);
    let r = s
        .admin(Method::PUT, "/access/api/v1/projects/web")
        .json(&json!({"description": "front end", "soft_limit": true}))
        .send()
        .unwrap();
    let p = json(r);
    assert_eq!(p["description"], "front end");
    assert_eq!(p["soft_limit"], true);
    assert_eq!(p["display_name"], "Web team");
    // Bad requests change nothing.
    for (body, needle) in [
        (
            json!({"project_key": "Web", "display_name": "x"}),
            "Invalid project key",
        ),
        (json!({"project_key": "w", "display_name": "x"}), "Invalid project key"),
        (json!({"display_name": "x"}), "project_key"),
        (json!({"project_key": "api"}), "display_name"),
        (
            json!({"project_key": "api", "display_name": "x", "max_storage_in_gibibytes": 0}),
            "max_storage_in_gibibytes",
        ),
        (json!({"project_key": "web", "display_name": "again"}), "already exists"),
    ] {
        let r = s
            .admin(Method::POST, "/access/api/v1/projects")
            .json(&body)
            .send()
            .unwrap();
        let status = if needle == "already exists" { 409 } else { 400 };
        assert!(expect_error(r, status).contains(needle), "{body}");
    }
    assert_eq!(
        json(s.admin(Method::GET, "/access/api/v1/projects").send().unwrap())
            .as_array()
            .unwrap()
            .len(),
        1
    );
    expect_error(s.anon(Method::GET, "/access/api/v1/projects").send().unwrap(), 401);
    assert_eq!(
        s.admin(Method::DELETE, "/access/api/v1/projects/web")
            .send()
            .unwrap()
            .status(),
        204
    );
    expect_error(s.admin(Method::GET, "/access/api/v1/projects/web").send().unwrap(), 404);
}

#[test]
fn members_act_in_the_project_repositories_by_their_roles() {
    let s = server();
    create_project(&s, json!({"project_key": "web", "display_name": "Web"}));
    s.create_local_repo("web-libs", "generic");
    s.create_local_repo("other", "generic");
    deploy(&s, "web-libs", "a.txt", b"a");
    deploy(&s, "other", "a.txt", b"a");
    s.create_user("viewer", PW, &[]);
    s.create_user("dev", PW, &[]);
    s.admin(Method::POST, "/access/api/v2/groups")
        .json(&json!({"name": "web-devs"}))
        .send()
        .unwrap();
    s.create_user("grouped", PW, &["web-devs"]);
    let put_role = |kind: &str, name: &str, role: &str| {
        let r = s
            .admin(Method::PUT, &format!("/access/api/v1/projects/web/{kind}/{name}"))
            .json(&json!({"name": name, "roles": [role]}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    };
    put_role("users", "viewer", "Viewer");
    put_role("users", "dev", "Developer");
    put_role("groups", "web-devs", "Contributor");
    let st = |u: &str, m: Method, p: &str| s.user(u, PW, m, p).body("x").send().unwrap().status().as_u16();
    assert_eq!(st("viewer", Method::GET, "/artifactory/web-libs/a.txt"), 200);
    assert_eq!(st("viewer", Method::PUT, "/artifactory/web-libs/b.txt"), 403);
    assert_eq!(st("dev", Method::PUT, "/artifactory/web-libs/b.txt"), 201);
    assert_eq!(st("dev", Method::DELETE, "/artifactory/web-libs/b.txt"), 204);
    assert_eq!(st("grouped", Method::PUT, "/artifactory/web-libs/c.txt"), 201);
    assert_eq!(st("grouped", Method::DELETE, "/artifactory/web-libs/c.txt"), 403);
    // Nothing outside the project.
    assert_eq!(st("dev", Method::GET, "/artifactory/other/a.txt"), 404);
    // Members are listed; unknown roles and users are refused; removal takes effect at once.
    let m = json(
        s.admin(Method::GET, "/access/api/v1/projects/web/users")
            .send()
            .unwrap(),
    );
    assert_eq!(m["members"].as_array().unwrap().len(), 2);
    let r = s
        .admin(Method::PUT, "/access/api/v1/projects/web/users/dev")
        .json(&json!({"roles": ["Wizard"]}))
        .send()
        .unwrap();
    assert!(expect_error(r, 400).contains("Wizard"));
    let r = s
        .admin(Method::PUT, "/access/api/v1/projects/web/users/ghost")
        .json(&json!({"roles": ["Viewer"]}))
        .send()
        .unwrap();
    assert!(expect_error(r, 400).contains("ghost"));
    assert_eq!(
        s.admin(Method::DELETE, "/access/api/v1/projects/web/users/viewer")
            .send()
            .unwrap()
            .status(),
        204
    );
    assert_eq!(st("viewer", Method::GET, "/artifactory/web-libs/a.txt"), 404);
}

#[test]
fn a_hard_quota_refuses_deploys_and_stores_nothing() {
    let s = server();
    create_project(
        &s,
        json!({"project_key": "web", "display_name": "Web", "storage_quota_bytes": 1000}),
    );
    s.create_local_repo("web-a", "generic");
    s.create_local_repo("web-b", "generic");
    deploy(&s, "web-a", "one.bin", &vec![1u8; 600]);
    // 600 + 500 > 1000 across the project's repositories: refused, with the reason.
    let r = s
        .admin(Method::PUT, "/artifactory/web-b/two.bin")
        .body(vec![2u8; 500])
        .send()
        .unwrap();
    let msg = expect_error(r, 413);
    assert!(msg.contains("quota") && msg.contains("web"), "{msg}");
    assert_absent(&s, "web-b", "two.bin");
    // What fits is accepted; replacing a file counts only the difference.
    deploy(&s, "web-b", "small.bin", &vec![3u8; 300]);
    deploy(&s, "web-a", "one.bin", &vec![4u8; 700]);
    let r = s
        .admin(Method::PUT, "/artifactory/web-a/one.bin")
        .body(vec![5u8; 701])
        .send()
        .unwrap();
    expect_error(r, 413);
    assert_content(&s, "web-a", "one.bin", &[4u8; 700]);
    // Repositories outside the project are not counted or limited.
    s.create_local_repo("free", "generic");
    deploy(&s, "free", "big.bin", &vec![6u8; 5000]);
}

#[test]
fn a_soft_quota_accepts_deploys_over_the_limit() {
    let s = server();
    create_project(
        &s,
        json!({"project_key": "web", "display_name": "Web", "storage_quota_bytes": 100, "soft_limit": true}),
    );
    s.create_local_repo("web-a", "generic");
    deploy(&s, "web-a", "one.bin", &vec![1u8; 500]);
    assert_content(&s, "web-a", "one.bin", &[1u8; 500]);
}
