//! Retention policies end to end: repository policies through the admin API, dry
//! run equal to the real run, the run-as user's permissions, bad policies, and a
//! plugin hot swap in the middle of a run.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use binyard_e2e::*;
use common::*;
use serde_json::{Value, json};

const PW: &str = "Secret-pass-42";

fn server(plugins: &[&str]) -> (Server, tempfile::TempDir) {
    let dir = plugin_folder(plugins);
    let s = Server::start_full(Options::default(), dir.path(), "");
    s.create_local_repo("libs", "generic");
    (s, dir)
}

/// Deploys `group/version/file` for each, a little apart in time (the policy
/// orders by creation).
fn deploy_versions(s: &Server, files: &[&str]) {
    for f in files {
        deploy(s, "libs", f, f.as_bytes());
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn put_policy(s: &Server, key: &str, body: Value) -> reqwest::blocking::Response {
    s.admin(Method::PUT, &format!("/artifactory/api/retention/policies/{key}"))
        .json(&body)
        .send()
        .unwrap()
}

fn run(s: &Server, key: &str, dry: bool) -> Value {
    let q = if dry { "?dryRun=1" } else { "" };
    let r = s
        .admin(
            Method::POST,
            &format!("/artifactory/api/retention/policies/{key}/run{q}"),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "run {key}: {}", r.text().unwrap());
    json(r)
}

/// (id, delete, reason) of every decision, sorted.
fn decisions(report: &Value) -> Vec<(String, bool, String)> {
    let mut d: Vec<_> = report["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["id"].as_str().unwrap().to_string(),
                d["delete"].as_bool().unwrap(),
                d["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    d.sort();
    d
}

const FILES: [&str; 5] = [
    "org/a/1.0/a-1.0.jar",
    "org/a/2.0/a-2.0.jar",
    "org/a/2.0/a-2.0.pom",
    "org/b/0.1/b-0.1.jar",
    "top.txt",
];

#[test]
fn dry_run_answers_what_the_real_run_does() {
    let (s, _d) = server(&["test_keep_newest"]);
    deploy_versions(&s, &FILES);
    let r = put_policy(
        &s,
        "newest",
        json!({"plugin": "test_keep_newest", "repositories": ["libs"]}),
    );
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let stored = json(
        s.admin(Method::GET, "/artifactory/api/retention/policies/newest")
            .send()
            .unwrap(),
    );
    assert_eq!(stored["runAs"], "admin", "the creating admin by default");
    let before = snapshot(&s, "libs");

    let dry = run(&s, "newest", true);
    assert_eq!(dry["dryRun"], true);
    assert_eq!(dry["plugin"], "test_keep_newest");
    assert_eq!(snapshot(&s, "libs"), before, "a dry run deletes nothing");
    // Files outside a `group/version/` layout are no candidates.
    assert_eq!(dry["candidates"], 4, "{dry}");
    let d = decisions(&dry);
    let deleted: Vec<&str> = d.iter().filter(|x| x.1).map(|x| x.0.as_str()).collect();
    // The plugin keeps the newest file of each package: in org/a the pom came last.
    assert_eq!(
        deleted,
        ["libs/org/a/1.0/a-1.0.jar", "libs/org/a/2.0/a-2.0.jar"],
        "{dry}"
    );

    let real = run(&s, "newest", false);
    assert_eq!(decisions(&real), d, "the real run decides exactly as the dry run");
    assert_eq!(real["deleted"], 2);
    for x in &d {
        let path = x.0.strip_prefix("libs/").unwrap();
        if x.1 {
            assert_absent(&s, "libs", path);
        } else {
            assert_content(&s, "libs", path, path.as_bytes());
        }
    }
    assert_content(&s, "libs", "top.txt", b"top.txt");
    // Nothing left to delete.
    assert_eq!(run(&s, "newest", false)["deleted"], 0);
}

#[test]
fn deletions_need_the_run_as_users_delete_permission() {
    let (s, _d) = server(&["test_keep_newest"]);
    deploy_versions(&s, &FILES);
    s.create_user("janitor", PW, &[]);
    let r = put_policy(
        &s,
        "weak",
        json!({"plugin": "test_keep_newest", "repositories": ["libs"], "runAs": "janitor"}),
    );
    assert_eq!(r.status(), 201);
    let before = snapshot(&s, "libs");
    let report = run(&s, "weak", false);
    assert_eq!(report["deleted"], 0, "{report}");
    let outcomes: Vec<&str> = report["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["delete"] == true)
        .map(|d| d["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes.len(), 2);
    assert!(
        outcomes.iter().all(|o| o.contains("no delete permission")),
        "{outcomes:?}"
    );
    assert_eq!(snapshot(&s, "libs"), before);
    // Granted delete, the same policy deletes.
    let r = s
        .admin(Method::PUT, "/artifactory/api/v2/security/permissions/janitor")
        .json(
            &json!({"name": "janitor", "repo": {"repositories": ["libs"], "include-patterns": ["**"],
            "exclude-patterns": [], "actions": {"users": {"janitor": ["read", "delete"]}}}}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    assert_eq!(run(&s, "weak", false)["deleted"], 2);
}

#[test]
fn bad_policies_are_refused_and_nothing_is_saved() {
    let (s, _d) = server(&["test_keep_newest"]);
    s.create_user("joe", PW, &[]);
    let cases = [
        (json!({"plugin": "test_keep_newest", "repositories": ["nope"]}), "nope"),
        (
            json!({"plugin": "test_keep_newest", "repositories": []}),
            "repositories",
        ),
        (json!({"plugin": "Bad Name", "repositories": ["libs"]}), "plugin name"),
        (
            json!({"plugin": "test_keep_newest", "repositories": ["libs"], "config": [1]}),
            "config",
        ),
        (
            json!({"plugin": "test_keep_newest", "repositories": ["libs"], "runAs": "ghost"}),
            "runAs",
        ),
        (
            json!({"plugin": "test_keep_newest", "repositories": "libs"}),
            "repositories",
        ),
        (
            json!({"plugin": "test_keep_newest", "repositories": ["libs"], "intervalMinutes": -1}),
            "intervalMinutes",
        ),
        (
            json!({"plugin": "test_keep_newest", "repositories": ["libs"], "colour": "red"}),
            "colour",
        ),
        (json!({"repositories": ["libs"]}), "plugin"),
    ];
    for (body, word) in cases {
        let msg = expect_error(put_policy(&s, "p", body.clone()), 400);
        assert!(msg.contains(word), "{body} → {msg}");
    }
    let msg = expect_error(
        put_policy(
            &s,
            "bad key!",
            json!({"plugin": "test_keep_newest", "repositories": ["libs"]}),
        ),
        400,
    );
    assert!(msg.contains("key"), "{msg}");
    let r = s
        .user("joe", PW, Method::PUT, "/artifactory/api/retention/policies/p")
        .json(&json!({"plugin": "test_keep_newest", "repositories": ["libs"]}))
        .send()
        .unwrap();
    expect_error(r, 403);
    let list = json(
        s.admin(Method::GET, "/artifactory/api/retention/policies")
            .send()
            .unwrap(),
    );
    assert_eq!(list, json!([]), "nothing was saved");
    // A policy naming a plugin that is not loaded is stored, but its run says why it cannot run.
    let r = put_policy(
        &s,
        "later",
        json!({"plugin": "not_installed", "repositories": ["libs"]}),
    );
    assert_eq!(r.status(), 201);
    let r = s
        .admin(Method::POST, "/artifactory/api/retention/policies/later/run")
        .send()
        .unwrap();
    assert!(expect_error(r, 400).contains("not_installed"));
    let r = s
        .admin(Method::DELETE, "/artifactory/api/retention/policies/later")
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = s
        .admin(Method::DELETE, "/artifactory/api/retention/policies/later")
        .send()
        .unwrap();
    expect_error(r, 404);
}

#[test]
fn a_plugin_swapped_mid_run_leaves_the_run_on_one_version() {
    let (s, _d) = server(&["test_keep_newest"]);
    // Six packages: six plugin calls of 300 ms each.
    let files: Vec<String> = (0..6)
        .flat_map(|p| (1..=2).map(move |v| format!("pkg/p{p}/{v}.0/p{p}-{v}.0.jar")))
        .collect();
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    deploy_versions(&s, &refs);
    let r = put_policy(
        &s,
        "slow",
        json!({"plugin": "test_keep_newest", "repositories": ["libs"], "config": {"spinMs": 300}}),
    );
    assert_eq!(r.status(), 201);
    let v2 = plugin_wasm("test_keep_newest_v2");
    let report = std::thread::scope(|scope| {
        let running = scope.spawn(|| run(&s, "slow", false));
        std::thread::sleep(Duration::from_millis(500));
        let r = s
            .admin(Method::PUT, "/artifactory/api/plugins/test_keep_newest")
            .body(v2.clone())
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().unwrap());
        let swapped = json(
            s.admin(Method::GET, "/artifactory/api/plugins/test_keep_newest")
                .send()
                .unwrap(),
        );
        assert_eq!(swapped["version"], "2.0.0");
        running.join().unwrap()
    });
    assert_eq!(
        report["pluginVersion"], "1.0.0",
        "the run kept the version it started with"
    );
    let reasons: Vec<&str> = report["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 12);
    assert!(reasons.iter().all(|r| r.starts_with("v1.0.0")), "{reasons:?}");
    assert_eq!(report["deleted"], 6);
    // The next run uses the new version.
    let next = run(&s, "slow", true);
    assert_eq!(next["pluginVersion"], "2.0.0");
    assert!(
        next["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["reason"].as_str().unwrap().starts_with("v2.0.0")),
        "{next}"
    );
}
