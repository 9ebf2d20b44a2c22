//! Plugin requests are all-or-nothing: the files, generated files, key-value
//! entries and events one request writes commit together in one transaction when the
//! plugin answers, and nothing is recorded for a request that is refused, traps or
//! runs past its deadline — not even across a SIGKILL of the server.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

#[path = "webhooks/receiver.rs"]
#[allow(dead_code)]
mod receiver;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use binyard_e2e::*;
use receiver::Receiver;
use serde_json::{Value, json};

const REPO: &str = "atom";

fn server(plugin_config: &str) -> (Server, tempfile::TempDir) {
    let dir = plugin_folder(&["jfrog", "test_atomic"]);
    let s = Server::start_full(Options::default(), dir.path(), plugin_config);
    s.create_local_repo(REPO, "testatomic");
    (s, dir)
}

fn subscribe(s: &Server, rx: &Receiver) {
    let r = s
        .admin(Method::POST, "/event/api/v1/subscriptions")
        .json(
            &json!({"key": "all", "url": rx.url, "events": ["deployed", "docker_pushed"],
                      "criteria": {"anyLocal": true}}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
}

fn write(s: &Server, end: &str, n: &str) -> Response {
    s.admin(
        Method::PUT,
        &format!("/artifactory/api/testatomic/{REPO}/write/{end}/{n}"),
    )
    .body(format!("payload of {n}"))
    .send()
    .unwrap()
}

/// Which of request `n`'s writes are stored: (upload, generated file, kv entry).
fn stored(s: &Server, n: &str) -> (bool, bool, bool) {
    let status = |p: &str| s.admin(Method::GET, p).send().unwrap().status().as_u16();
    let file = |p: String| match status(&format!("/artifactory/api/storage/{REPO}/{p}")) {
        200 => true,
        404 => false,
        other => panic!("{p}: {other}"),
    };
    let kv = match status(&format!("/artifactory/api/testatomic/{REPO}/k/{n}")) {
        200 => true,
        404 => false,
        other => panic!("k/{n}: {other}"),
    };
    (file(format!("up/{n}.bin")), file(format!("meta/{n}.json")), kv)
}

/// What an event was about: the tag of a `docker_pushed`, the path of a `deployed`.
fn subject(v: &Value) -> String {
    let data: Value = serde_json::from_str(v["data"].as_str().unwrap()).unwrap();
    match v["event_type"].as_str().unwrap() {
        "docker_pushed" => format!("event {}", data["tag"].as_str().unwrap()),
        _ => data["path"].as_str().unwrap().to_string(),
    }
}

#[test]
fn a_request_that_is_refused_traps_or_times_out_records_nothing() {
    let (s, _d) = server("deadline_ms = 1500");
    let rx = Receiver::start();
    subscribe(&s, &rx);
    for (end, status) in [("refuse", 409), ("trap", 500), ("loop", 504)] {
        let r = write(&s, end, end);
        let msg = expect_error(r, status);
        if end != "refuse" {
            assert!(msg.contains("test_atomic"), "{end}: {msg}");
        }
        assert_eq!(stored(&s, end), (false, false, false), "{end}: nothing may be recorded");
    }
    // No folder was left behind either.
    let r = s
        .admin(Method::GET, &format!("/artifactory/api/storage/{REPO}/up"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);

    // The same request that answers records everything, with its events.
    assert_eq!(write(&s, "ok", "good").status(), 201);
    assert_eq!(stored(&s, "good"), (true, true, true));
    rx.wait_for(3, 20);
    std::thread::sleep(Duration::from_millis(700));
    let subjects: BTreeSet<String> = rx.received().iter().map(|r| subject(&r.json())).collect();
    assert_eq!(
        rx.received().len(),
        3,
        "only the answered request's events: {subjects:?}"
    );
    assert_eq!(
        subjects,
        BTreeSet::from(["up/good.bin".into(), "meta/good.json".into(), "event good".into()])
    );
}

#[test]
fn reads_inside_a_request_see_its_own_pending_writes() {
    let (s, _d) = server("");
    let r = s
        .admin(Method::PUT, &format!("/artifactory/api/testatomic/{REPO}/see/7"))
        .body("seven")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().unwrap(),
        r#"file=true listed=true kv=true read={"n":"7"} gone=true"#
    );
    // What the request deleted after writing it is not there; the rest is.
    assert_eq!(stored(&s, "7"), (true, false, true));
}

#[test]
fn a_sigkill_during_plugin_requests_leaves_each_wholly_recorded_or_absent() {
    let (mut s, _d) = server("");
    let rx = Receiver::start();
    subscribe(&s, &rx);
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let tried = Arc::new(Mutex::new(BTreeSet::new()));
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let (stop, acked, tried) = (stop.clone(), acked.clone(), tried.clone());
            let url = s.url(&format!("/artifactory/api/testatomic/{REPO}/write/ok"));
            std::thread::spawn(move || {
                let c = client();
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let n = format!("t{t}-{i}");
                    tried.lock().unwrap().insert(n.clone());
                    let r = c
                        .put(format!("{url}/{n}"))
                        .basic_auth(ADMIN.0, Some(ADMIN.1))
                        .body(vec![b'x'; 1000 + i * 37 % 5000])
                        .send();
                    match r {
                        Ok(r) if r.status() == 201 => {
                            acked.lock().unwrap().insert(n);
                        }
                        Ok(r) => panic!("{n}: {}", r.status()),
                        // The server is gone.
                        Err(_) => break,
                    }
                }
            })
        })
        .collect();
    // Let requests flow, then kill the server in the middle of them.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while acked.lock().unwrap().len() < 60 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    s.kill();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    s.restart();

    let acked = acked.lock().unwrap().clone();
    let tried = tried.lock().unwrap().clone();
    assert!(acked.len() >= 20, "too few requests went through: {}", acked.len());
    let mut recorded = BTreeSet::new();
    for n in &tried {
        let got = stored(&s, n);
        assert!(
            got == (true, true, true) || got == (false, false, false),
            "{n}: partly recorded {got:?}"
        );
        if got.0 {
            recorded.insert(n.clone());
        } else {
            assert!(!acked.contains(n), "{n} was acknowledged but is not recorded");
        }
    }
    // Every recorded request's three events are delivered (after the restart too),
    // and no event of a request that is not recorded.
    let mut want = BTreeSet::new();
    for n in &recorded {
        want.insert(format!("up/{n}.bin"));
        want.insert(format!("meta/{n}.json"));
        want.insert(format!("event {n}"));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let seen: BTreeSet<String> = rx.received().iter().map(|r| subject(&r.json())).collect();
        if seen.len() >= want.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(700));
    let seen: BTreeSet<String> = rx.received().iter().map(|r| subject(&r.json())).collect();
    assert_eq!(seen, want, "the events are exactly those of the recorded requests");
}
