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

fn publish(s: &Server, name: &str, number: u32, extra: Value) {
    let mut b = json!({"version": "1.0.1", "name": name, "number": number.to_string(),
        "started": format!("2024-01-02T03:04:{number:02}.000+0000")});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    let r = s.admin(Method::PUT, "/artifactory/api/build").json(&b).send().unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
}

fn numbers(s: &Server, name: &str) -> Vec<String> {
    let r = s
        .admin(Method::GET, &format!("/artifactory/api/build/{name}"))
        .send()
        .unwrap();
    if r.status() == 404 {
        return Vec::new();
    }
    json(r)["buildsNumbers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["uri"].as_str().unwrap().trim_start_matches('/').to_string())
        .collect()
}

#[test]
fn build_retention_runs_on_publish_and_on_demand() {
    let (s, _d) = server(&["retention_builds"]);
    // Each run made a file; deleteBuildArtifacts removes the discarded runs' files.
    for n in 1..=4u32 {
        let bytes = format!("app build {n}");
        deploy(&s, "libs", &format!("app/{n}/app.bin"), bytes.as_bytes());
        let art = json!([{"id": "m", "artifacts": [{"name": "app.bin", "sha1": sha1_hex(bytes.as_bytes())}]}]);
        publish(
            &s,
            "app",
            n,
            json!({"modules": art, "buildRetention": {"count": 2, "deleteBuildArtifacts": true}}),
        );
    }
    assert_eq!(numbers(&s, "app"), ["3", "4"], "applied on every publish");
    assert_absent(&s, "libs", "app/1/app.bin");
    assert_absent(&s, "libs", "app/2/app.bin");
    assert_content(&s, "libs", "app/4/app.bin", b"app build 4");
    let stored = json(
        s.admin(Method::GET, "/artifactory/api/build/retention/app")
            .send()
            .unwrap(),
    );
    assert_eq!(stored["count"], 2);

    // On demand, dry run first: decisions without deleting; then for real.
    for n in 5..=7u32 {
        publish(&s, "web", n, json!({}));
    }
    let body = json!({"count": 1, "buildNumbersNotToBeDiscarded": ["5"]});
    let r = s
        .admin(Method::POST, "/artifactory/api/build/retention/web?dryRun=1")
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let dry = json(r);
    assert_eq!(dry["plugin"], "retention_builds");
    assert_eq!(numbers(&s, "web"), ["5", "6", "7"], "a dry run deletes nothing");
    let r = s
        .admin(Method::POST, "/artifactory/api/build/retention/web")
        .json(&body)
        .send()
        .unwrap();
    let real = json(r);
    assert_eq!(decisions(&real), decisions(&dry));
    assert_eq!(numbers(&s, "web"), ["5", "7"]);
    let kept = real["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["version"] == "5")
        .unwrap()
        .clone();
    assert_eq!(kept["reason"], "build 5 is listed in buildNumbersNotToBeDiscarded");
    // A date as CI tools send it.
    let r = s
        .admin(Method::POST, "/artifactory/api/build/retention/web")
        .json(&json!({"minimumBuildDate": "2024-01-02T03:04:06.000+0000"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    assert_eq!(numbers(&s, "web"), ["7"]);
    // Bad settings.
    let r = s
        .admin(Method::POST, "/artifactory/api/build/retention/web")
        .json(&json!({"count": "many"}))
        .send()
        .unwrap();
    assert!(expect_error(r, 400).contains("count"));
    let r = s
        .admin(Method::POST, "/artifactory/api/build/retention/web")
        .json(&json!({"minimumBuildDate": "someday"}))
        .send()
        .unwrap();
    assert!(expect_error(r, 400).contains("minimumBuildDate"));
    assert_eq!(numbers(&s, "web"), ["7"]);
}

#[test]
fn keep_last_and_age_policies_on_repository_files() {
    let (s, _d) = server(&["retention_keep_last", "retention_age"]);
    // npm-style files named by properties, Maven-style by layout.
    for (v, i) in [("1.2.0", 0), ("1.10.0", 1), ("1.9.0", 2)] {
        let r = s
            .admin(
                Method::PUT,
                &format!("/artifactory/libs/left-pad/-/left-pad-{v}.tgz;npm.name=left-pad;npm.version={v}"),
            )
            .body(format!("tgz {i}"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    deploy_versions(
        &s,
        &[
            "org/lib/1.0-SNAPSHOT/lib.jar",
            "org/lib/1.0/lib.jar",
            "org/lib/1.0/lib.pom",
        ],
    );
    let r = put_policy(
        &s,
        "last",
        json!({"plugin": "retention_keep_last", "repositories": ["libs"], "config": {"keep": 1}}),
    );
    assert_eq!(r.status(), 201);
    let report = run(&s, "last", false);
    let mut deleted: Vec<String> = report["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["delete"] == true)
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    deleted.sort();
    assert_eq!(
        deleted,
        [
            "libs/left-pad/-/left-pad-1.2.0.tgz",
            "libs/left-pad/-/left-pad-1.9.0.tgz",
            "libs/org/lib/1.0-SNAPSHOT/lib.jar"
        ],
        "{report}"
    );
    assert_absent(&s, "libs", "left-pad/-/left-pad-1.9.0.tgz");
    let r = s
        .admin(Method::GET, "/artifactory/libs/left-pad/-/left-pad-1.10.0.tgz")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_content(&s, "libs", "org/lib/1.0/lib.pom", b"org/lib/1.0/lib.pom");

    // Everything is older than 0 days, but the newest of each package stays.
    let r = put_policy(
        &s,
        "age",
        json!({"plugin": "retention_age", "repositories": ["libs"], "config": {"maxAgeDays": 0}}),
    );
    assert_eq!(r.status(), 201);
    deploy_versions(&s, &["org/lib/2.0/lib.jar"]);
    let report = run(&s, "age", false);
    assert_eq!(report["deleted"], 2, "{report}");
    assert_absent(&s, "libs", "org/lib/1.0/lib.jar");
    assert_content(&s, "libs", "org/lib/2.0/lib.jar", b"org/lib/2.0/lib.jar");
    // A bad configuration fails the run with the plugin's message, deleting nothing.
    let r = put_policy(
        &s,
        "age",
        json!({"plugin": "retention_age", "repositories": ["libs"], "config": {"maxAge": 1}}),
    );
    assert_eq!(r.status(), 200);
    let r = s
        .admin(Method::POST, "/artifactory/api/retention/policies/age/run")
        .send()
        .unwrap();
    assert!(expect_error(r, 400).contains("maxAge"));
}

#[test]
fn policies_declared_in_the_configuration_are_stored_at_start() {
    let dir = plugin_folder(&["retention_keep_last"]);
    let cfg = "[retention]\nbuild_interval_minutes = 0\n\n[[retention.policies]]\nkey = \"nightly\"\nplugin = \"retention_keep_last\"\nrepositories = [\"libs\"]\nconfig = { keep = 1, ordering = \"maven\" }\ninterval_minutes = 1440\n";
    let mut s = Server::start_full(
        Options {
            extra_config: cfg.into(),
        },
        dir.path(),
        "",
    );
    s.create_local_repo("libs", "generic");
    let p = json(
        s.admin(Method::GET, "/artifactory/api/retention/policies/nightly")
            .send()
            .unwrap(),
    );
    assert_eq!(p["plugin"], "retention_keep_last");
    assert_eq!(p["config"], json!({"keep": 1, "ordering": "maven"}));
    assert_eq!(p["intervalMinutes"], 1440);
    assert_eq!(p["runAs"], "admin");
    deploy_versions(&s, &["g/a/1.0/a.jar", "g/a/1.1/a.jar"]);
    assert_eq!(run(&s, "nightly", false)["deleted"], 1);
    assert_absent(&s, "libs", "g/a/1.0/a.jar");
    // It survives a restart (stored again from the file, same content).
    s.restart();
    let again = json(
        s.admin(Method::GET, "/artifactory/api/retention/policies/nightly")
            .send()
            .unwrap(),
    );
    assert_eq!(again, p);
}

#[test]
fn scheduled_runs_apply_policies_and_build_settings_once_due() {
    // Builds published while their policy plugin is missing keep every run (the run on
    // publish fails and is logged); the schedule applies the settings once the plugin
    // is there. A repository policy runs every minute.
    let dir = plugin_folder(&["retention_keep_last"]);
    let cfg = "[retention]\nbuild_interval_minutes = 1\ncheck_seconds = 1\n\n[[retention.policies]]\nkey = \"minutely\"\nplugin = \"retention_keep_last\"\nrepositories = [\"libs\"]\nconfig = { keep = 1, ordering = \"maven\" }\ninterval_minutes = 1\n";
    let started = std::time::Instant::now();
    let s = Server::start_full(
        Options {
            extra_config: cfg.into(),
        },
        dir.path(),
        "",
    );
    s.create_local_repo("libs", "generic");
    deploy_versions(&s, &["g/a/1.0/a.jar", "g/a/1.1/a.jar"]);
    for n in 1..=3 {
        publish(&s, "nightly", n, json!({"buildRetention": {"count": 1}}));
    }
    assert_eq!(numbers(&s, "nightly"), ["1", "2", "3"], "no policy plugin yet");
    let r = s
        .admin(Method::PUT, "/artifactory/api/plugins/retention_builds")
        .body(plugin_wasm("retention_builds"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    assert_content(&s, "libs", "g/a/1.0/a.jar", b"g/a/1.0/a.jar");

    // Both fall due a minute after start; the schedule is looked at every second.
    let applied = |s: &Server| {
        numbers(s, "nightly") == ["3"]
            && s.admin(Method::GET, "/artifactory/libs/g/a/1.0/a.jar")
                .send()
                .unwrap()
                .status()
                == 404
    };
    while !applied(&s) {
        assert!(
            started.elapsed() < Duration::from_secs(100),
            "not applied within 100 s: runs {:?}",
            numbers(&s, "nightly")
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        started.elapsed() >= Duration::from_secs(60),
        "applied before the interval passed: {:?}",
        started.elapsed()
    );
    assert_content(&s, "libs", "g/a/1.1/a.jar", b"g/a/1.1/a.jar");
}
