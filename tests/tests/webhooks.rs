//! Events and webhooks: every artifact event is recorded with its change and delivered
//! to matching subscriptions, in order, signed, retried, in each formatter's shape, and
//! nothing is lost across a crash.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "webhooks/receiver.rs"]
mod receiver;

use std::time::Duration;

use binyard_e2e::*;
use common::*;
use hmac::{Hmac, Mac};
use receiver::{Answer, Receiver};
use serde_json::{Value, json};

const FORMATTERS: [&str; 4] = ["jfrog", "slack", "teams", "cloudevents"];
const FAST_RETRIES: &str = "[events]\nretry_base_ms = 50\nretry_max_ms = 200\ntimeout_ms = 700\nmax_attempts = 6\n";

fn server() -> (Server, tempfile::TempDir) {
    let dir = plugin_folder(&FORMATTERS);
    let s = Server::start_full(
        Options {
            extra_config: FAST_RETRIES.into(),
        },
        dir.path(),
        "",
    );
    s.create_local_repo("libs", "generic");
    s.create_local_repo("other", "generic");
    (s, dir)
}

fn subscribe(s: &Server, body: Value) {
    let r = s
        .admin(Method::POST, "/event/api/v1/subscriptions")
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
}

fn all_artifact_events() -> Value {
    json!([
        "deployed",
        "deleted",
        "moved",
        "copied",
        "property_added",
        "property_deleted"
    ])
}

fn verify_hmac(secret: &str, body: &[u8], header: &str) {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    assert_eq!(header, format!("sha256={}", hex::encode(mac.finalize().into_bytes())));
}

#[test]
fn every_artifact_event_arrives_once_in_order_signed_in_the_jfrog_envelope() {
    let (s, _d) = server();
    let rx = Receiver::start();
    subscribe(
        &s,
        json!({"key": "all", "url": rx.url, "secret": "s3cret", "events": all_artifact_events(),
               "criteria": {"anyLocal": true}}),
    );
    deploy(&s, "libs", "a/one.txt", b"one");
    s.admin(
        Method::PUT,
        "/artifactory/api/storage/libs/a/one.txt?properties=team=core",
    )
    .send()
    .unwrap();
    s.admin(
        Method::DELETE,
        "/artifactory/api/storage/libs/a/one.txt?properties=team",
    )
    .send()
    .unwrap();
    s.admin(Method::POST, "/artifactory/api/copy/libs/a/one.txt?to=/other/c/one.txt")
        .send()
        .unwrap();
    s.admin(Method::POST, "/artifactory/api/move/libs/a/one.txt?to=/libs/m/one.txt")
        .send()
        .unwrap();
    s.admin(Method::DELETE, "/artifactory/libs/m/one.txt").send().unwrap();
    // A failed request records nothing: a checksum mismatch.
    let r = s
        .admin(Method::PUT, "/artifactory/libs/bad.txt")
        .header("X-Checksum-Sha1", "0".repeat(40))
        .body("x")
        .send()
        .unwrap();
    expect_error(r, 409);

    let got = rx.wait_for(6, 20);
    std::thread::sleep(Duration::from_millis(500));
    let got_all = rx.received();
    assert_eq!(got_all.len(), 6, "each event exactly once");
    let types: Vec<String> = got
        .iter()
        .map(|r| r.json()["event_type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "deployed",
            "property_added",
            "property_deleted",
            "copied",
            "moved",
            "deleted"
        ]
    );
    let mut ids = std::collections::HashSet::new();
    for r in &got {
        let v = r.json();
        assert_eq!(v["subscription_key"], "all");
        assert_eq!(v["domain"], "artifact");
        assert!(v["source"].as_str().unwrap().starts_with("http"));
        // `data` is a JSON-encoded string, as Artifactory sends it.
        assert!(v["data"].is_string());
        assert!(ids.insert(v["id"].as_str().unwrap().to_string()), "ids are unique");
        assert_eq!(r.header("x-jfrog-event-auth"), Some("s3cret"));
        assert_eq!(r.header("x-binyard-event-id"), v["id"].as_str());
        verify_hmac("s3cret", &r.body, r.header("x-binyard-signature").unwrap());
    }
    let data = |i: usize| -> Value { serde_json::from_str(got[i].json()["data"].as_str().unwrap()).unwrap() };
    assert_eq!(data(0)["repo_key"], "libs");
    assert_eq!(data(0)["path"], "a/one.txt");
    assert_eq!(data(0)["name"], "one.txt");
    assert_eq!(data(0)["size"], 3);
    assert_eq!(data(0)["sha256"], sha256_hex(b"one"));
    assert_eq!(data(1)["property"], json!({"key": "team", "values": ["core"]}));
    assert_eq!(data(1)["item"]["path"], "a/one.txt");
    assert_eq!(data(3)["source_repo_path"], "libs/a/one.txt");
    assert_eq!(data(3)["target_repo_path"], "other/c/one.txt");
    assert_eq!(data(4)["target_repo_path"], "libs/m/one.txt");
    assert_eq!(data(5)["path"], "m/one.txt");
    // The delivery log says so.
    let log = json(
        s.admin(Method::GET, "/event/api/v1/subscriptions/all/deliveries")
            .send()
            .unwrap(),
    );
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 6);
    assert!(
        log.iter()
            .all(|l| l["status"] == "delivered" && l["attempts"] == 1 && l["http_status"] == 200)
    );
}

#[test]
fn criteria_choose_repositories_paths_and_event_types() {
    let (s, _d) = server();
    let rx = Receiver::start();
    subscribe(
        &s,
        json!({"key": "jars", "url": rx.url, "events": ["deployed"],
               "criteria": {"repoKeys": ["libs"], "includePatterns": ["**/*.jar"], "excludePatterns": ["tmp/**"]}}),
    );
    deploy(&s, "libs", "x/a.jar", b"1");
    deploy(&s, "libs", "x/a.txt", b"2");
    deploy(&s, "libs", "tmp/b.jar", b"3");
    deploy(&s, "other", "x/c.jar", b"4");
    s.admin(Method::DELETE, "/artifactory/libs/x/a.jar").send().unwrap();
    deploy(&s, "libs", "y/d.jar", b"5");
    let got = rx.wait_for(2, 20);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rx.received().len(), 2);
    let paths: Vec<Value> = got
        .iter()
        .map(|r| serde_json::from_str::<Value>(r.json()["data"].as_str().unwrap()).unwrap()["path"].clone())
        .collect();
    assert_eq!(paths, [json!("x/a.jar"), json!("y/d.jar")]);
}

#[test]
fn failures_and_timeouts_are_retried_and_order_is_kept() {
    let (s, _d) = server();
    let rx = Receiver::start();
    rx.script(&[
        Answer::Status(500),
        Answer::Hang(Duration::from_millis(1500)),
        Answer::Status(503),
    ]);
    subscribe(&s, json!({"key": "flaky", "url": rx.url, "events": ["deployed"]}));
    deploy(&s, "libs", "first.txt", b"1");
    deploy(&s, "libs", "second.txt", b"2");
    let got = rx.wait_for(4, 30);
    // Two failed answers (the hang is not recorded), then first, then second.
    let ids: Vec<String> = got
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids[0], ids[1], "the same event is retried with the same id");
    assert_eq!(ids[1], ids[2]);
    let data = |r: &receiver::Received| -> Value { serde_json::from_str(r.json()["data"].as_str().unwrap()).unwrap() };
    assert_eq!(data(&got[2])["path"], "first.txt");
    assert_eq!(data(&got[3])["path"], "second.txt");
    let log = json(
        s.admin(Method::GET, "/event/api/v1/subscriptions/flaky/deliveries")
            .send()
            .unwrap(),
    );
    assert_eq!(log[0]["attempts"], 4);
    assert_eq!(log[0]["status"], "delivered");
    assert_eq!(log[1]["attempts"], 1);
}

#[test]
fn a_receiver_that_keeps_failing_is_logged_and_does_not_block_the_next_events() {
    let (s, _d) = server();
    let rx = Receiver::start();
    rx.script(&[Answer::Status(500); 6]);
    subscribe(&s, json!({"key": "down", "url": rx.url, "events": ["deployed"]}));
    deploy(&s, "libs", "lost-cause.txt", b"1");
    deploy(&s, "libs", "next.txt", b"2");
    let got = rx.wait_for(7, 30);
    let last: Value = serde_json::from_str(got[6].json()["data"].as_str().unwrap()).unwrap();
    assert_eq!(last["path"], "next.txt");
    let log = json(
        s.admin(Method::GET, "/event/api/v1/subscriptions/down/deliveries")
            .send()
            .unwrap(),
    );
    assert_eq!(log[0]["status"], "failed");
    assert_eq!(log[0]["attempts"], 6);
    assert_eq!(log[0]["http_status"], 500);
    assert!(log[0]["last_error"].as_str().unwrap().contains("500"));
}

#[test]
fn build_events_arrive_for_publish_promotion_and_delete() {
    let (s, _d) = server();
    let rx = Receiver::start();
    let slack = Receiver::start();
    let events = json!(["build_published", "build_promotion", "build_deleted"]);
    subscribe(&s, json!({"key": "builds", "url": rx.url, "events": events}));
    subscribe(
        &s,
        json!({"key": "builds-slack", "url": slack.url, "events": events, "formatter": "slack"}),
    );
    deploy(&s, "libs", "app/app.jar", b"app");
    let body = json!({"version": "1.0.1", "name": "app", "number": "7", "started": "2024-01-02T03:04:05.000+0000",
        "modules": [{"id": "m", "artifacts": [{"name": "app.jar", "sha1": sha1_hex(b"app")}]}]});
    let publish = || {
        let r = s
            .admin(Method::PUT, "/artifactory/api/build")
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(r.status(), 204);
    };
    publish();
    // An identical republish changes nothing and sends nothing.
    publish();
    let r = s
        .admin(Method::POST, "/artifactory/api/build/promote/app/7")
        .json(&json!({"status": "Released", "targetRepo": "other", "copy": true}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    // A refused promotion (unknown target) sends nothing.
    let r = s
        .admin(Method::POST, "/artifactory/api/build/promote/app/7")
        .json(&json!({"targetRepo": "nope"}))
        .send()
        .unwrap();
    expect_error(r, 404);
    let r = s.admin(Method::DELETE, "/artifactory/api/build/app").send().unwrap();
    assert_eq!(r.status(), 200);

    let got = rx.wait_for(3, 20);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rx.received().len(), 3, "each build event exactly once");
    let types: Vec<String> = got
        .iter()
        .map(|r| r.json()["event_type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types, ["build_published", "build_promotion", "build_deleted"]);
    for r in &got {
        let v = r.json();
        assert_eq!(v["domain"], "build");
        let data: Value = serde_json::from_str(v["data"].as_str().unwrap()).unwrap();
        assert_eq!(data["build_name"], "app");
        assert_eq!(data["build_number"], "7");
        assert_eq!(data["build_started"], "2024-01-02T03:04:05.000+0000");
    }
    let promoted: Value = serde_json::from_str(got[1].json()["data"].as_str().unwrap()).unwrap();
    assert_eq!(promoted["status"], "Released");
    assert_eq!(promoted["target_repo"], "other");
    let texts: Vec<String> = slack
        .wait_for(3, 20)
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap().to_string())
        .collect();
    assert!(texts.iter().all(|t| t.contains("build app #7")), "{texts:?}");
}

#[test]
fn plugins_emit_format_events_only_for_requests_that_succeed() {
    let dir = plugin_folder(&["jfrog", "test_echo"]);
    let s = Server::start_full(Options::default(), dir.path(), "");
    s.create_local_repo("images", "testecho");
    let rx = Receiver::start();
    subscribe(
        &s,
        json!({"key": "docker", "url": rx.url, "events": ["docker_pushed", "docker_deleted"], "criteria": {"anyLocal": true}}),
    );
    let post = |p: &str| {
        s.admin(Method::POST, &format!("/artifactory/api/testecho/images/{p}"))
            .send()
            .unwrap()
    };
    // The plugin emits, then fails: nothing is recorded.
    assert_eq!(post("emit/docker_pushed/500").status(), 500);
    assert_eq!(post("emit/docker_pushed/404").status(), 404);
    // Event types plugins may not emit are refused to the plugin.
    let r = post("emit/deployed/201");
    assert!(expect_error(r, 400).contains("unknown format event"));
    assert_eq!(post("emit/docker_pushed/201").status(), 201);
    assert_eq!(post("emit/docker_deleted/200").status(), 200);
    let got = rx.wait_for(2, 20);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(rx.received().len(), 2, "only the successful requests' events");
    let types: Vec<String> = got
        .iter()
        .map(|r| r.json()["event_type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types, ["docker_pushed", "docker_deleted"]);
    let v = got[0].json();
    assert_eq!(v["domain"], "docker");
    let data: Value = serde_json::from_str(v["data"].as_str().unwrap()).unwrap();
    assert_eq!(data["repo_key"], "images");
    assert_eq!(data["path"], "app/latest");
    assert_eq!(data["image_name"], "app");
    assert_eq!(data["tag"], "latest");
}

#[test]
fn every_event_type_through_every_formatter() {
    let mut names: Vec<&str> = FORMATTERS.to_vec();
    names.push("test_echo");
    let dir = plugin_folder(&names);
    let s = Server::start_full(Options::default(), dir.path(), "");
    s.create_local_repo("libs", "generic");
    s.create_local_repo("images", "testecho");
    let all: Vec<&str> = vec![
        "deployed",
        "property_added",
        "property_deleted",
        "copied",
        "moved",
        "deleted",
        "build_published",
        "build_promotion",
        "build_deleted",
        "docker_pushed",
        "docker_deleted",
    ];
    let rxs: Vec<Receiver> = FORMATTERS.iter().map(|_| Receiver::start()).collect();
    for (f, rx) in FORMATTERS.iter().zip(&rxs) {
        subscribe(
            &s,
            json!({"key": format!("all-{f}"), "url": rx.url, "events": all, "formatter": f}),
        );
    }
    deploy(&s, "libs", "a/x.jar", b"xx");
    let ok = |r: reqwest::blocking::Response| assert!(r.status().is_success(), "{}", r.text().unwrap());
    ok(
        s.admin(Method::PUT, "/artifactory/api/storage/libs/a/x.jar?properties=k=v")
            .send()
            .unwrap(),
    );
    ok(
        s.admin(Method::DELETE, "/artifactory/api/storage/libs/a/x.jar?properties=k")
            .send()
            .unwrap(),
    );
    ok(
        s.admin(Method::POST, "/artifactory/api/copy/libs/a/x.jar?to=/libs/c/x.jar")
            .send()
            .unwrap(),
    );
    ok(
        s.admin(Method::POST, "/artifactory/api/move/libs/c/x.jar?to=/libs/m/x.jar")
            .send()
            .unwrap(),
    );
    ok(s.admin(Method::DELETE, "/artifactory/libs/m/x.jar").send().unwrap());
    let build = json!({"name": "b", "number": "1", "started": "2024-01-02T03:04:05.000Z",
        "modules": [{"artifacts": [{"name": "x.jar", "sha1": sha1_hex(b"xx")}]}]});
    ok(s.admin(Method::PUT, "/artifactory/api/build")
        .json(&build)
        .send()
        .unwrap());
    ok(s.admin(Method::POST, "/artifactory/api/build/promote/b/1")
        .json(&json!({"status": "ok"}))
        .send()
        .unwrap());
    ok(s.admin(Method::DELETE, "/artifactory/api/build/b").send().unwrap());
    ok(
        s.admin(Method::POST, "/artifactory/api/testecho/images/emit/docker_pushed/201")
            .send()
            .unwrap(),
    );
    ok(
        s.admin(Method::POST, "/artifactory/api/testecho/images/emit/docker_deleted/200")
            .send()
            .unwrap(),
    );

    let got: Vec<Vec<Value>> = rxs
        .iter()
        .map(|rx| rx.wait_for(all.len(), 30).iter().map(|r| r.json()).collect())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    for (f, rx) in FORMATTERS.iter().zip(&rxs) {
        assert_eq!(rx.received().len(), all.len(), "{f}: each event exactly once");
    }
    let (jfrog, slack, teams, ce) = (&got[0], &got[1], &got[2], &got[3]);
    for (i, t) in all.iter().enumerate() {
        let domain = if t.starts_with("build") {
            "build"
        } else if t.starts_with("docker") {
            "docker"
        } else {
            "artifact"
        };
        assert_eq!(jfrog[i]["event_type"], *t);
        assert_eq!(jfrog[i]["domain"], domain);
        let data: Value = serde_json::from_str(jfrog[i]["data"].as_str().unwrap()).unwrap();
        let subject = match domain {
            "build" => "build b #1".to_string(),
            "docker" => "images/app/latest".to_string(),
            _ => format!("libs/{}", data.get("item").unwrap_or(&data)["path"].as_str().unwrap()),
        };
        let words = t.replace('_', " ");
        let text = slack[i]["text"].as_str().unwrap();
        assert!(text.contains(&words) && text.contains(&subject), "slack {t}: {text}");
        let summary = teams[i]["summary"].as_str().unwrap();
        assert!(
            summary.contains(&words) && summary.contains(&subject),
            "teams {t}: {summary}"
        );
        assert_eq!(ce[i]["type"], format!("io.binyard.{domain}.{t}"));
        assert_eq!(ce[i]["id"], jfrog[i]["id"], "{t}: one event id whatever the formatter");
        if domain != "build" {
            assert_eq!(ce[i]["subject"], subject);
        }
    }
}

#[test]
fn each_formatter_shapes_the_same_event() {
    let (s, _d) = server();
    let rxs: Vec<Receiver> = FORMATTERS.iter().map(|_| Receiver::start()).collect();
    for (f, rx) in FORMATTERS.iter().zip(&rxs) {
        subscribe(
            &s,
            json!({"key": format!("via-{f}"), "url": rx.url, "events": ["deployed"], "formatter": f}),
        );
    }
    deploy(&s, "libs", "pkg/app.jar", b"jar bytes");
    let one = |i: usize| rxs[i].wait_for(1, 20).remove(0);
    let jfrog = one(0);
    assert_eq!(jfrog.json()["event_type"], "deployed");
    let slack = one(1).json();
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .contains("deployed libs/pkg/app.jar (9 bytes)"),
        "{slack}"
    );
    let teams = one(2).json();
    assert_eq!(teams["@type"], "MessageCard");
    assert!(teams["summary"].as_str().unwrap().contains("libs/pkg/app.jar"));
    let ce = one(3);
    assert_eq!(ce.header("content-type"), Some("application/cloudevents+json"));
    let ce = ce.json();
    assert_eq!(ce["specversion"], "1.0");
    assert_eq!(ce["type"], "io.binyard.artifact.deployed");
    assert_eq!(ce["subject"], "libs/pkg/app.jar");
    assert_eq!(ce["data"]["size"], 9);
    assert!(ce["time"].as_str().unwrap().ends_with('Z'));
    // All four carry the same event id.
    assert_eq!(ce["id"], jfrog.json()["id"]);
}

#[test]
fn acknowledged_deploys_are_delivered_after_a_crash() {
    // The receiver is down (nothing listens) while files are deployed and the server is killed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = plugin_folder(&FORMATTERS);
    let mut s = Server::start_full(
        Options {
            extra_config: "[events]\nretry_base_ms = 100\nretry_max_ms = 300\ntimeout_ms = 500\nmax_attempts = 1000\n"
                .into(),
        },
        dir.path(),
        "",
    );
    s.create_local_repo("libs", "generic");
    subscribe(
        &s,
        json!({"key": "crash", "url": format!("http://127.0.0.1:{port}/hook"), "events": ["deployed"]}),
    );
    let n = 25;
    for i in 0..n {
        deploy(&s, "libs", &format!("f{i}.txt"), format!("{i}").as_bytes());
    }
    s.kill();
    let rx = Receiver::on(std::net::TcpListener::bind(("127.0.0.1", port)).unwrap());
    s.restart();
    let got = rx.wait_for(n, 60);
    let mut paths: Vec<String> = got
        .iter()
        .map(|r| {
            serde_json::from_str::<Value>(r.json()["data"].as_str().unwrap()).unwrap()["path"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    // In order, each at least once; duplicates only of the one in flight at the crash.
    let firsts: Vec<String> = (0..n).map(|i| format!("f{i}.txt")).collect();
    paths.dedup();
    assert_eq!(paths, firsts);
}

#[test]
fn bad_subscriptions_are_refused_and_nothing_is_saved() {
    let (s, _d) = server();
    subscribe(
        &s,
        json!({"key": "taken", "url": "http://127.0.0.1:9/x", "events": ["deployed"]}),
    );
    for (body, status, needle) in [
        (
            json!({"key": "a", "url": "http://127.0.0.1:9/x", "events": ["exploded"]}),
            400,
            "exploded",
        ),
        (
            json!({"key": "a", "url": "not a url", "events": ["deployed"]}),
            400,
            "Invalid URL",
        ),
        (
            json!({"key": "a", "url": "ftp://example.com/x", "events": ["deployed"]}),
            400,
            "http",
        ),
        (
            json!({"key": "a", "url": "http://169.254.169.254/latest/meta-data", "events": ["deployed"]}),
            400,
            "link-local",
        ),
        (
            json!({"key": "a", "url": "http://[fe80::1]/x", "events": ["deployed"]}),
            400,
            "link-local",
        ),
        (
            json!({"key": "a", "url": "http://127.0.0.1:9/x", "events": ["deployed"], "formatter": "nope"}),
            400,
            "nope",
        ),
        (
            json!({"key": "a", "url": "http://127.0.0.1:9/x", "events": []}),
            400,
            "events",
        ),
        (
            json!({"key": "a", "url": "http://127.0.0.1:9/x", "events": ["deployed"], "criteria": {"repoKeys": ["ghost"]}}),
            400,
            "ghost",
        ),
        (
            json!({"url": "http://127.0.0.1:9/x", "events": ["deployed"]}),
            400,
            "key",
        ),
        (
            json!({"key": "taken", "url": "http://127.0.0.1:9/y", "events": ["deployed"]}),
            409,
            "already exists",
        ),
    ] {
        let r = s
            .admin(Method::POST, "/event/api/v1/subscriptions")
            .json(&body)
            .send()
            .unwrap();
        assert!(expect_error(r, status).contains(needle), "{body}");
    }
    let all = json(s.admin(Method::GET, "/event/api/v1/subscriptions").send().unwrap());
    assert_eq!(all.as_array().unwrap().len(), 1);
    assert_eq!(all[0]["url"], "http://127.0.0.1:9/x");
    // Only admins see or change subscriptions; the secret is never shown.
    s.create_user("dev", "pw-dev", &[]);
    expect_error(
        s.user("dev", "pw-dev", Method::GET, "/event/api/v1/subscriptions")
            .send()
            .unwrap(),
        403,
    );
}

#[test]
fn subscriptions_are_read_changed_tested_and_deleted() {
    let (s, _d) = server();
    let rx = Receiver::start();
    subscribe(
        &s,
        json!({"key": "k", "url": rx.url, "secret": "top", "events": ["deployed"], "description": "d"}),
    );
    let one = json(s.admin(Method::GET, "/event/api/v1/subscriptions/k").send().unwrap());
    assert_eq!(one["description"], "d");
    assert_ne!(one["secret"], "top");
    // Replace: the secret is kept when not given again.
    let r = s
        .admin(Method::PUT, "/event/api/v1/subscriptions/k")
        .json(&json!({"url": rx.url, "events": ["deployed", "deleted"], "enabled": true, "formatter": "cloudevents"}))
        .send()
        .unwrap();
    assert_eq!(json(r)["events"], json!(["deployed", "deleted"]));
    let r = s
        .admin(Method::POST, "/event/api/v1/subscriptions/k/test")
        .send()
        .unwrap();
    assert_eq!(json(r)["status"], "delivered");
    let got = rx.wait_for(1, 10);
    assert_eq!(got[0].json()["specversion"], "1.0");
    verify_hmac("top", &got[0].body, got[0].header("x-binyard-signature").unwrap());
    // Disabled: events are skipped.
    s.admin(Method::PUT, "/event/api/v1/subscriptions/k")
        .json(&json!({"url": rx.url, "events": ["deployed"], "enabled": false}))
        .send()
        .unwrap();
    deploy(&s, "libs", "quiet.txt", b"q");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(rx.received().len(), 1);
    assert_eq!(
        s.admin(Method::DELETE, "/event/api/v1/subscriptions/k")
            .send()
            .unwrap()
            .status(),
        204
    );
    expect_error(
        s.admin(Method::GET, "/event/api/v1/subscriptions/k").send().unwrap(),
        404,
    );
}
