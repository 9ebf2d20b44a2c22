//! The builds API end to end: bodies made by a real build-info library
//! (`buildinfo-om`, installed by `cargo xtask test`), runs, encoding of odd names,
//! delete (with the build's own files), rename, diff, promote, bad bodies and
//! build permissions.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use binyard_e2e::*;
use common::*;
use serde_json::{Value, json};

const PW: &str = "Secret-pass-42";

/// A build-info body written by `buildinfo-om` from a spec (see the script).
fn body(spec: Value) -> Value {
    let python = client_tool("python3").expect("python3");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/buildinfo_body.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(spec.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "buildinfo-om failed (is it installed? `cargo xtask test` installs it):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn started(sec: u32) -> String {
    format!("2024-01-02T03:04:{sec:02}.000+0000")
}

/// Percent-encodes every byte but letters and digits (what CI tools do to names).
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn publish(s: &Server, b: &Value) -> reqwest::blocking::Response {
    s.admin(Method::PUT, "/artifactory/api/build")
        .header("Content-Type", "application/json")
        .body(b.to_string())
        .send()
        .unwrap()
}

fn publish_ok(s: &Server, b: &Value) {
    let r = publish(s, b);
    let status = r.status().as_u16();
    assert_eq!(status, 204, "publish: {}", r.text().unwrap());
}

/// Deploys a file and answers its build-info artifact entry.
fn artifact(s: &Server, repo: &str, path: &str, bytes: &[u8]) -> Value {
    deploy(s, repo, path, bytes);
    json!({"name": path.rsplit('/').next().unwrap(), "path": path,
           "sha1": sha1_hex(bytes), "sha256": sha256_hex(bytes), "md5": md5_hex(bytes)})
}

fn get(s: &Server, path: &str) -> (u16, Value) {
    let r = s.admin(Method::GET, path).send().unwrap();
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn server() -> Server {
    let s = Server::start();
    s.create_local_repo("staging", "generic");
    s.create_local_repo("release", "generic");
    s
}

#[test]
fn real_bodies_publish_list_and_read_back_with_odd_names() {
    let s = server();
    let name = "web app/ü";
    let a = artifact(&s, "staging", "org/web/1/web-1.jar", b"web jar 1");
    let b1 = body(
        json!({"name": name, "number": "1", "started": started(1), "artifacts": [a],
        "dependencies": [{"id": "org:lib:1", "sha1": sha1_hex(b"lib")}],
        "properties": {"buildInfo.env.JOB": "nightly"}, "vcs": {"url": "https://git.example/web", "revision": "abc123"}}),
    );
    publish_ok(&s, &b1);
    let odd_number = "2 beta/β";
    let b2 = body(json!({"name": name, "number": odd_number, "started": started(2)}));
    publish_ok(&s, &b2);

    let (st, list) = get(&s, "/artifactory/api/build");
    assert_eq!(st, 200, "{list}");
    let builds = list["builds"].as_array().unwrap();
    assert_eq!(builds.len(), 1, "{list}");
    assert_eq!(builds[0]["uri"], format!("/{}", enc_like_server(name)));
    assert_eq!(builds[0]["lastStarted"], started(2));

    let (st, runs) = get(&s, &format!("/artifactory/api/build/{}", enc(name)));
    assert_eq!(st, 200, "{runs}");
    let uris: Vec<&str> = runs["buildsNumbers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    assert_eq!(uris, ["/1".to_string(), format!("/{}", enc_like_server(odd_number))]);
    // The uri the server gave leads back to the run.
    let (st, run) = get(&s, &format!("/artifactory/api/build/{}{}", enc(name), uris[1]));
    assert_eq!(st, 200, "{run}");
    assert_eq!(run["buildInfo"]["number"], odd_number);

    let (st, run) = get(&s, &format!("/artifactory/api/build/{}/1", enc(name)));
    assert_eq!(st, 200, "{run}");
    // Stored unchanged: every field the library wrote comes back as written.
    assert_eq!(run["buildInfo"], b1);
    assert!(
        run["uri"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/artifactory/api/build/{}/1", enc_like_server(name)))
    );

    // An identical republish changes nothing; unknown builds are 404.
    publish_ok(&s, &b1);
    let (_, runs) = get(&s, &format!("/artifactory/api/build/{}", enc(name)));
    assert_eq!(runs["buildsNumbers"].as_array().unwrap().len(), 2);
    assert_eq!(get(&s, "/artifactory/api/build/nope").0, 404);
    assert_eq!(get(&s, &format!("/artifactory/api/build/{}/9", enc(name))).0, 404);
}

/// The server encodes like `enc` but keeps `-._~`.
fn enc_like_server(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn repeated_numbers_are_told_apart_by_started() {
    let s = server();
    publish_ok(
        &s,
        &body(json!({"name": "app", "number": "7", "started": started(1), "properties": {"run": "first"}})),
    );
    publish_ok(
        &s,
        &body(json!({"name": "app", "number": "7", "started": started(5), "properties": {"run": "second"}})),
    );
    let (_, runs) = get(&s, "/artifactory/api/build/app");
    assert_eq!(runs["buildsNumbers"].as_array().unwrap().len(), 2, "{runs}");
    let (_, latest) = get(&s, "/artifactory/api/build/app/7");
    assert_eq!(latest["buildInfo"]["properties"]["run"], "second");
    let (st, first) = get(
        &s,
        &format!("/artifactory/api/build/app/7?started={}", enc(&started(1))),
    );
    assert_eq!(st, 200, "{first}");
    assert_eq!(first["buildInfo"]["properties"]["run"], "first");
    // The same instant written another way is the same run.
    let (st, same) = get(
        &s,
        &format!("/artifactory/api/build/app/7?started={}", enc("2024-01-02T03:04:01Z")),
    );
    assert_eq!((st, &same["buildInfo"]["properties"]["run"]), (200, &json!("first")));
    assert_eq!(
        get(&s, "/artifactory/api/build/app/7?started=2020-01-01T00:00:00Z").0,
        404
    );
    assert_eq!(get(&s, "/artifactory/api/build/app/7?started=yesterday").0, 400);
}

#[test]
fn malformed_bodies_are_refused_and_store_nothing() {
    let s = server();
    let good = body(json!({"name": "app", "number": "1", "started": started(1)}));
    let cases: Vec<(Value, &str)> = vec![
        (json!({"number": "1", "started": started(1)}), "name"),
        (json!({"name": "app", "started": started(1)}), "number"),
        (json!({"name": "app", "number": "1"}), "started"),
        (
            json!({"name": "app", "number": "1", "started": "last tuesday"}),
            "started",
        ),
        (json!({"name": "app", "number": 1, "started": started(1)}), "number"),
        (json!({"name": "", "number": "1", "started": started(1)}), "name"),
        (
            json!({"name": "app", "number": "1", "started": started(1), "modules": {"id": "m"}}),
            "modules",
        ),
        (
            json!({"name": "app", "number": "1", "started": started(1), "modules": [{"artifacts": [{"sha1": "not-hex"}]}]}),
            "modules[0].artifacts[0].sha1",
        ),
        (
            json!({"name": "app", "number": "1", "started": started(1), "durationMillis": "long"}),
            "durationMillis",
        ),
        (
            json!({"name": "app", "number": "1", "started": started(1), "buildRetention": {"count": "ten"}}),
            "buildRetention.count",
        ),
    ];
    for (b, field) in cases {
        let r = publish(&s, &b);
        let msg = expect_error(r, 400);
        assert!(msg.contains(field), "message for {b} should name '{field}': {msg}");
    }
    let r = s
        .admin(Method::PUT, "/artifactory/api/build")
        .body("{not json")
        .send()
        .unwrap();
    expect_error(r, 400);
    assert_eq!(get(&s, "/artifactory/api/build").0, 404, "nothing was stored");
    publish_ok(&s, &good);
    assert_eq!(get(&s, "/artifactory/api/build").0, 200);
}

#[test]
fn delete_runs_and_exactly_the_builds_own_files() {
    let s = server();
    // Two builds made the same bytes at different paths: each keeps its own.
    let same = b"identical output";
    let a1 = artifact(&s, "staging", "app/1/app.bin", same);
    let a2 = artifact(&s, "staging", "app/2/app.bin", same);
    let extra = artifact(&s, "staging", "app/1/notes.txt", b"notes 1");
    deploy(&s, "staging", "unrelated/app.bin", same);
    publish_ok(
        &s,
        &body(json!({"name": "app", "number": "1", "started": started(1), "artifacts": [a1, extra]})),
    );
    publish_ok(
        &s,
        &body(json!({"name": "app", "number": "2", "started": started(2), "artifacts": [a2]})),
    );
    publish_ok(&s, &body(json!({"name": "app", "number": "3", "started": started(3)})));

    let r = s
        .admin(Method::DELETE, "/artifactory/api/build/app?buildNumbers=1&artifacts=1")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    assert_absent(&s, "staging", "app/1/app.bin");
    assert_absent(&s, "staging", "app/1/notes.txt");
    assert_content(&s, "staging", "app/2/app.bin", same);
    assert_content(&s, "staging", "unrelated/app.bin", same);
    assert_eq!(get(&s, "/artifactory/api/build/app/1").0, 404);
    assert_eq!(get(&s, "/artifactory/api/build/app/2").0, 200);

    // Without artifacts=1 the files stay.
    let r = s
        .admin(Method::DELETE, "/artifactory/api/build/app?buildNumbers=2")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_content(&s, "staging", "app/2/app.bin", same);

    // The body form, and deleteAll.
    let r = s
        .admin(Method::POST, "/artifactory/api/build/delete")
        .json(&json!({"buildName": "app", "deleteAll": true}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    assert_eq!(get(&s, "/artifactory/api/build/app").0, 404);
    assert_eq!(get(&s, "/artifactory/api/build").0, 404);
    let r = s.admin(Method::DELETE, "/artifactory/api/build/app").send().unwrap();
    expect_error(r, 404);
    let r = s
        .admin(Method::POST, "/artifactory/api/build/delete")
        .json(&json!({"buildName": "app"}))
        .send()
        .unwrap();
    assert!(expect_error(r, 400).contains("buildNumbers"));
    let r = s
        .admin(Method::POST, "/artifactory/api/build/delete")
        .json(&json!({"buildNumbers": ["1"]}))
        .send()
        .unwrap();
    assert!(expect_error(r, 400).contains("buildName"));
}

#[test]
fn rename_moves_every_run() {
    let s = server();
    publish_ok(&s, &body(json!({"name": "old", "number": "1", "started": started(1)})));
    publish_ok(&s, &body(json!({"name": "old", "number": "2", "started": started(2)})));
    publish_ok(
        &s,
        &body(json!({"name": "taken", "number": "1", "started": started(1)})),
    );
    let r = s
        .admin(
            Method::POST,
            &format!("/artifactory/api/build/rename/old?to={}", enc("new name/ä")),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    assert_eq!(get(&s, "/artifactory/api/build/old").0, 404);
    let (st, run) = get(&s, &format!("/artifactory/api/build/{}/2", enc("new name/ä")));
    assert_eq!(st, 200);
    assert_eq!(run["buildInfo"]["name"], "new name/ä");
    let r = s
        .admin(Method::POST, "/artifactory/api/build/rename/taken?to=taken2")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .admin(
            Method::POST,
            &format!("/artifactory/api/build/rename/{}?to=taken2", enc("new name/ä")),
        )
        .send()
        .unwrap();
    expect_error(r, 409);
    let r = s
        .admin(Method::POST, "/artifactory/api/build/rename/taken2")
        .send()
        .unwrap();
    expect_error(r, 400);
    let r = s
        .admin(Method::POST, "/artifactory/api/build/rename/ghost?to=x")
        .send()
        .unwrap();
    expect_error(r, 404);
}

#[test]
fn diff_between_runs() {
    let s = server();
    let art = |n: &str, c: &str| json!({"name": n, "sha1": sha1_hex(c.as_bytes())});
    let dep = |id: &str, c: &str| json!({"id": id, "sha1": sha1_hex(c.as_bytes())});
    publish_ok(
        &s,
        &body(json!({"name": "d", "number": "1", "started": started(1),
            "artifacts": [art("same.jar", "s"), art("changed.jar", "v1"), art("gone.jar", "g")],
            "dependencies": [dep("x:kept:1", "k"), dep("x:old:1", "o")],
            "properties": {"env": "ci", "dropped": "1"}})),
    );
    publish_ok(
        &s,
        &body(json!({"name": "d", "number": "2", "started": started(2),
            "artifacts": [art("same.jar", "s"), art("changed.jar", "v2"), art("added.jar", "a")],
            "dependencies": [dep("x:kept:1", "k"), dep("x:new:1", "n")],
            "properties": {"env": "prod", "added": "y"}})),
    );
    let (st, d) = get(&s, "/artifactory/api/build/diff/d/2?otherNumber=1");
    assert_eq!(st, 200, "{d}");
    let names = |v: &Value, key: &str| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e[key].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&d["artifacts"]["new"], "name"), ["added.jar"]);
    assert_eq!(names(&d["artifacts"]["updated"], "name"), ["changed.jar"]);
    assert_eq!(names(&d["artifacts"]["removed"], "name"), ["gone.jar"]);
    assert_eq!(names(&d["artifacts"]["unchanged"], "name"), ["same.jar"]);
    assert_eq!(names(&d["dependencies"]["new"], "id"), ["x:new:1"]);
    assert_eq!(names(&d["dependencies"]["removed"], "id"), ["x:old:1"]);
    assert_eq!(names(&d["dependencies"]["unchanged"], "id"), ["x:kept:1"]);
    assert_eq!(d["properties"]["updated"], json!({"env": "prod"}));
    assert_eq!(d["properties"]["new"], json!({"added": "y"}));
    assert_eq!(d["properties"]["removed"], json!({"dropped": "1"}));
    assert_eq!(get(&s, "/artifactory/api/build/diff/d/2").0, 400);
    assert_eq!(get(&s, "/artifactory/api/build/diff/d/2?otherNumber=9").0, 404);
}

fn promote(s: &Server, name: &str, number: &str, req: Value) -> (u16, Value) {
    let r = s
        .admin(
            Method::POST,
            &format!("/artifactory/api/build/promote/{}/{number}", enc(name)),
        )
        .json(&req)
        .send()
        .unwrap();
    let st = r.status().as_u16();
    (st, json(r))
}

#[test]
fn promote_dry_run_copy_move_properties_and_status() {
    let s = server();
    let a = artifact(&s, "staging", "rel/1/app.jar", b"app 1");
    let b = artifact(&s, "staging", "rel/1/app.pom", b"pom 1");
    let dep_bytes = b"dependency bytes";
    deploy(&s, "staging", "deps/lib.jar", dep_bytes);
    let dep = json!({"id": "org:lib:1", "sha1": sha1_hex(dep_bytes)});
    publish_ok(
        &s,
        &body(json!({"name": "rel", "number": "1", "started": started(1), "artifacts": [a, b], "dependencies": [dep]})),
    );
    let before_staging = snapshot(&s, "staging");
    let before_release = snapshot(&s, "release");

    // Dry run: answers what would happen, changes nothing.
    let (st, v) = promote(
        &s,
        "rel",
        "1",
        json!({"status": "Released", "targetRepo": "release", "dryRun": true}),
    );
    assert_eq!(st, 200, "{v}");
    assert!(v["messages"].to_string().contains("dry run"), "{v}");
    assert_eq!(snapshot(&s, "staging"), before_staging);
    assert_eq!(snapshot(&s, "release"), before_release);
    let (_, run) = get(&s, "/artifactory/api/build/rel/1");
    assert!(run["buildInfo"]["statuses"].is_null(), "{run}");

    // Copy with properties: both repositories hold the files.
    let (st, v) = promote(
        &s,
        "rel",
        "1",
        json!({"status": "QA", "comment": "to qa", "ciUser": "jenkins", "targetRepo": "release", "copy": true,
               "properties": {"qa": ["passed"], "team": "web"}}),
    );
    assert_eq!(st, 200, "{v}");
    assert_content(&s, "staging", "rel/1/app.jar", b"app 1");
    assert_content(&s, "release", "rel/1/app.jar", b"app 1");
    assert_content(&s, "release", "rel/1/app.pom", b"pom 1");
    assert_absent(&s, "release", "deps/lib.jar");
    let (_, props) = get(&s, "/artifactory/api/storage/release/rel/1/app.jar?properties");
    assert_eq!(props["properties"]["qa"], json!(["passed"]), "{props}");
    assert_eq!(props["properties"]["team"], json!(["web"]), "{props}");
    let (_, run) = get(&s, "/artifactory/api/build/rel/1");
    let statuses = run["buildInfo"]["statuses"].as_array().unwrap().clone();
    assert_eq!(statuses.len(), 1, "{run}");
    assert_eq!(statuses[0]["status"], "QA");
    assert_eq!(statuses[0]["repository"], "release");
    assert_eq!(statuses[0]["ciUser"], "jenkins");
    assert_eq!(statuses[0]["user"], "admin");

    // Move of artifacts and dependencies from staging (the copies in release are
    // already there: only staging's leave).
    s.create_local_repo("prod", "generic");
    let (st, v) = promote(
        &s,
        "rel",
        "1",
        json!({"status": "Released", "sourceRepo": "staging", "targetRepo": "prod", "dependencies": true}),
    );
    assert_eq!(st, 200, "{v}");
    assert_absent(&s, "staging", "rel/1/app.jar");
    assert_absent(&s, "staging", "deps/lib.jar");
    assert_content(&s, "prod", "rel/1/app.jar", b"app 1");
    assert_content(&s, "prod", "deps/lib.jar", dep_bytes);
    assert_content(&s, "release", "rel/1/app.jar", b"app 1");
    let (_, run) = get(&s, "/artifactory/api/build/rel/1");
    assert_eq!(run["buildInfo"]["statuses"].as_array().unwrap().len(), 2);
}

#[test]
fn promote_fail_fast_and_bad_requests() {
    let s = server();
    let a = artifact(&s, "staging", "ff/a.jar", b"a");
    let b = artifact(&s, "staging", "ff/b.jar", b"b");
    publish_ok(
        &s,
        &body(json!({"name": "ff", "number": "1", "started": started(1), "artifacts": [a, b]})),
    );
    // A folder in the way of the first file in the target.
    let r = s.admin(Method::PUT, "/artifactory/release/ff/a.jar/").send().unwrap();
    assert_eq!(r.status(), 201);
    let before = (snapshot(&s, "staging"), snapshot(&s, "release"));
    let (st, v) = promote(
        &s,
        "ff",
        "1",
        json!({"targetRepo": "release", "copy": true, "failFast": true}),
    );
    assert_eq!(st, 409, "{v}");
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("ff/a.jar"), "{v}");
    assert_eq!(
        (snapshot(&s, "staging"), snapshot(&s, "release")),
        before,
        "fail-fast changed nothing"
    );
    let (_, run) = get(&s, "/artifactory/api/build/ff/1");
    assert!(run["buildInfo"]["statuses"].is_null());
    // Without failFast the other file goes through.
    let (st, v) = promote(
        &s,
        "ff",
        "1",
        json!({"targetRepo": "release", "copy": true, "failFast": false}),
    );
    assert_eq!(st, 409, "{v}");
    assert_content(&s, "release", "ff/b.jar", b"b");

    let bad = [
        (json!({}), 400, "targetRepo"),
        (json!({"targetRepo": "nope"}), 404, "targetRepo"),
        (json!({"targetRepo": "release", "copy": "yes"}), 400, "copy"),
        (
            json!({"targetRepo": "release", "properties": {"k": 1}}),
            400,
            "properties",
        ),
    ];
    for (req, status, field) in bad {
        let (st, v) = promote(&s, "ff", "1", req.clone());
        assert_eq!(st, status, "{req} → {v}");
        assert!(v.to_string().contains(field), "{req} → {v}");
    }
    let (st, _) = promote(&s, "ff", "9", json!({"targetRepo": "release"}));
    assert_eq!(st, 404);
}

#[test]
fn build_permissions_apply() {
    let s = server();
    publish_ok(
        &s,
        &body(json!({"name": "secret", "number": "1", "started": started(1)})),
    );
    publish_ok(&s, &body(json!({"name": "open", "number": "1", "started": started(1)})));
    for u in ["builder", "viewer", "nobody"] {
        s.create_user(u, PW, &[]);
    }
    let r = s
        .admin(Method::PUT, "/artifactory/api/v2/security/permissions/builds")
        .json(&json!({"name": "builds", "build": {
            "repositories": ["artifactory-build-info"], "include-patterns": ["open/**"], "exclude-patterns": [],
            "actions": {"users": {"builder": ["read", "write", "delete"], "viewer": ["read"]}}}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    let open2 = body(json!({"name": "open", "number": "2", "started": started(2)}));
    let as_user = |u: &str, m: Method, p: &str| s.user(u, PW, m, p);

    // builder: publish, read, delete "open" only.
    let r = as_user("builder", Method::PUT, "/artifactory/api/build")
        .json(&open2)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().unwrap());
    let secret2 = body(json!({"name": "secret", "number": "2", "started": started(2)}));
    let r = as_user("builder", Method::PUT, "/artifactory/api/build")
        .json(&secret2)
        .send()
        .unwrap();
    expect_error(r, 403);
    let (st, _) = (
        as_user("builder", Method::GET, "/artifactory/api/build/secret")
            .send()
            .unwrap()
            .status(),
        (),
    );
    assert_eq!(st, 404, "a build the user cannot read is not revealed");
    let r = as_user("builder", Method::GET, "/artifactory/api/build")
        .send()
        .unwrap();
    let v = json(r);
    let uris: Vec<&str> = v["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["uri"].as_str().unwrap())
        .collect();
    assert_eq!(uris, ["/open"]);

    // viewer: read only.
    assert_eq!(
        as_user("viewer", Method::GET, "/artifactory/api/build/open/2")
            .send()
            .unwrap()
            .status(),
        200
    );
    let r = as_user("viewer", Method::PUT, "/artifactory/api/build")
        .json(&open2)
        .send()
        .unwrap();
    expect_error(r, 403);
    let r = as_user("viewer", Method::DELETE, "/artifactory/api/build/open?buildNumbers=2")
        .send()
        .unwrap();
    expect_error(r, 403);
    let r = as_user("viewer", Method::POST, "/artifactory/api/build/promote/open/2")
        .json(&json!({"status": "x"}))
        .send()
        .unwrap();
    expect_error(r, 403);

    // nobody: sees nothing; anonymous must log in to publish.
    let r = as_user("nobody", Method::GET, "/artifactory/api/build").send().unwrap();
    expect_error(r, 404);
    let r = s
        .anon(Method::PUT, "/artifactory/api/build")
        .json(&open2)
        .send()
        .unwrap();
    expect_error(r, 401);
    let r = as_user("builder", Method::DELETE, "/artifactory/api/build/open?buildNumbers=2")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(get(&s, "/artifactory/api/build/open/1").0, 200);
    assert_eq!(get(&s, "/artifactory/api/build/open/2").0, 404);
}
