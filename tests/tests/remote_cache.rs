//! Generic remote repositories against a real HTTP upstream (`binyard_e2e::upstream`,
//! which counts the requests it gets): each cache rule with the upstream request
//! count it must cost, single-flight, stale-on-error, the `{key}-cache` view, and
//! upstreams that misbehave (nothing partial is ever cached; the next request retries).

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use binyard_e2e::upstream::{Behaviour, Upstream};
use binyard_e2e::*;
use serde_json::{Value, json};

fn create_remote(s: &Server, key: &str, url: &str, settings: Value) {
    let mut cfg = json!({"key": key, "rclass": "remote", "packageType": "generic", "url": url});
    for (k, v) in settings.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    let r = s
        .admin(Method::PUT, &format!("/artifactory/api/repositories/{key}"))
        .json(&cfg)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
}

fn update_remote(s: &Server, key: &str, settings: Value) {
    let r = s
        .admin(Method::POST, &format!("/artifactory/api/repositories/{key}"))
        .json(&settings)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
}

fn get(s: &Server, path: &str) -> (u16, Vec<u8>) {
    let r = s.admin(Method::GET, path).send().unwrap();
    let st = r.status().as_u16();
    (st, r.bytes().map(|b| b.to_vec()).unwrap_or_default())
}

/// A GET whose body must be refused: an error status, or a body that breaks off.
fn get_fails(s: &Server, path: &str) -> String {
    let r = s.admin(Method::GET, path).send().unwrap();
    let st = r.status().as_u16();
    match r.bytes() {
        Ok(b) if st == 200 => panic!("{path}: a complete 200 of {} bytes", b.len()),
        Ok(b) => {
            assert!([502, 504].contains(&st), "{path}: status {st}");
            String::from_utf8_lossy(&b).into_owned()
        }
        Err(e) => format!("broken body: {e}"),
    }
}

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8)
        .collect()
}

fn cached_status(s: &Server, key: &str, path: &str) -> u16 {
    s.admin(Method::GET, &format!("/artifactory/api/storage/{key}-cache/{path}"))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn a_file_is_fetched_once_then_served_from_the_cache_which_is_browsable() {
    let up = Upstream::start();
    let body = data(3 << 20, 1);
    up.put("/lib/a.bin", body.clone());
    let s = Server::start();
    create_remote(&s, "rem", &up.base, json!({}));
    for _ in 0..3 {
        assert_eq!(get(&s, "/artifactory/rem/lib/a.bin"), (200, body.clone()));
    }
    assert_eq!(up.hits("/lib/a.bin"), 1, "one upstream request");
    let info = json(
        s.admin(Method::GET, "/artifactory/api/storage/rem-cache/lib/a.bin")
            .send()
            .unwrap(),
    );
    assert_eq!(info["size"], json!((3 << 20).to_string()));
    assert_eq!(info["checksums"]["sha256"], json!(sha256_hex(&body)));
    let list = json(
        s.admin(Method::GET, "/artifactory/api/storage/rem-cache/lib")
            .send()
            .unwrap(),
    );
    assert_eq!(list["children"], json!([{"uri": "/a.bin", "folder": false}]));
    // The cache view serves what is cached and fetches nothing.
    assert_eq!(get(&s, "/artifactory/rem-cache/lib/a.bin"), (200, body.clone()));
    assert_eq!(get(&s, "/artifactory/rem-cache/lib/other.bin").0, 404);
    assert_eq!(up.hits("/lib/other.bin"), 0);
    // Properties can be set on cached files.
    let r = s
        .admin(
            Method::PUT,
            "/artifactory/api/storage/rem-cache/lib/a.bin?properties=team=x",
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    let p = json(
        s.admin(Method::GET, "/artifactory/api/storage/rem/lib/a.bin?properties")
            .send()
            .unwrap(),
    );
    assert_eq!(p["properties"]["team"], json!(["x"]));
    // Remote repositories take no deploys.
    let r = s
        .admin(Method::PUT, "/artifactory/rem/lib/b.bin")
        .body("x")
        .send()
        .unwrap();
    assert!(expect_error(r, 405).contains("remote repository"));
}

#[test]
fn the_first_client_gets_bytes_before_the_upstream_has_sent_the_whole_file() {
    let up = Upstream::start();
    let body = data(4 << 20, 2);
    up.put("/slow.bin", body.clone());
    up.behave("/slow.bin", Behaviour::PauseHalfway(Duration::from_secs(2)));
    let s = Server::start();
    create_remote(&s, "rem", &up.base, json!({}));
    let t = Instant::now();
    let mut r = s.admin(Method::GET, "/artifactory/rem/slow.bin").send().unwrap();
    assert_eq!(r.status(), 200);
    let mut first = [0u8; 1];
    std::io::Read::read_exact(&mut r, &mut first).unwrap();
    let ttfb = t.elapsed();
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut r, &mut rest).unwrap();
    assert!(ttfb < Duration::from_millis(1500), "first byte after {ttfb:?}");
    assert!(t.elapsed() >= Duration::from_secs(2));
    assert_eq!(first[0], body[0]);
    assert!(rest == body[1..], "bytes differ");
    assert_eq!(cached_status(&s, "rem", "slow.bin"), 200);
}

#[test]
fn metadata_expires_and_is_revalidated_with_304() {
    let up = Upstream::start();
    up.put("/meta.json", b"{\"v\":1}".to_vec());
    let s = Server::start();
    create_remote(&s, "rem", &up.base, json!({"retrievalCachePeriodSecs": 1}));
    assert_eq!(get(&s, "/artifactory/rem/meta.json"), (200, b"{\"v\":1}".to_vec()));
    assert_eq!(get(&s, "/artifactory/rem/meta.json").0, 200);
    assert_eq!(up.hits("/meta.json"), 1, "fresh: not asked again");
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(get(&s, "/artifactory/rem/meta.json"), (200, b"{\"v\":1}".to_vec()));
    assert_eq!((up.hits("/meta.json"), up.conditional_hits("/meta.json")), (2, 1));
    // The 304 renewed it: fresh again.
    assert_eq!(get(&s, "/artifactory/rem/meta.json").0, 200);
    assert_eq!(up.hits("/meta.json"), 2);
    up.put("/meta.json", b"{\"v\":2}".to_vec());
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(get(&s, "/artifactory/rem/meta.json"), (200, b"{\"v\":2}".to_vec()));
    assert_eq!(up.hits("/meta.json"), 3);
    assert_eq!(
        get(&s, "/artifactory/rem-cache/meta.json"),
        (200, b"{\"v\":2}".to_vec())
    );
}

#[test]
fn misses_are_remembered_for_the_missed_retrieval_period() {
    let up = Upstream::start();
    let s = Server::start();
    create_remote(&s, "rem", &up.base, json!({"missedRetrievalCachePeriodSecs": 1}));
    let r = s.admin(Method::GET, "/artifactory/rem/late.txt").send().unwrap();
    let msg = expect_error(r, 404);
    assert!(msg.contains(&up.base) && msg.contains("404"), "{msg}");
    up.put("/late.txt", b"here".to_vec());
    let r = s.admin(Method::GET, "/artifactory/rem/late.txt").send().unwrap();
    assert!(expect_error(r, 404).contains("remembered"));
    assert_eq!(up.hits("/late.txt"), 1, "the miss was remembered");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(get(&s, "/artifactory/rem/late.txt"), (200, b"here".to_vec()));
    assert_eq!(up.hits("/late.txt"), 2);
}

/// The stale copy answers when the upstream fails, and the upstream is then left
/// alone for `assumedOfflinePeriodSecs`; a miss meanwhile names the failure.
#[test]
fn stale_copies_are_served_when_the_upstream_fails() {
    let cases: Vec<(&str, Option<Behaviour>)> = vec![
        ("429", Some(Behaviour::Status(429))),
        ("503", Some(Behaviour::Status(503))),
        ("hanging", Some(Behaviour::Hang(Duration::from_secs(6)))),
        ("killed", None),
    ];
    for (name, behaviour) in cases {
        let up = Upstream::start();
        up.put("/m.json", name.as_bytes().to_vec());
        let s = Server::start();
        create_remote(
            &s,
            "rem",
            &up.base,
            json!({"retrievalCachePeriodSecs": 0, "metadataRetrievalTimeoutSecs": 1, "assumedOfflinePeriodSecs": 300}),
        );
        assert_eq!(get(&s, "/artifactory/rem/m.json"), (200, name.as_bytes().to_vec()));
        match &behaviour {
            Some(b) => {
                up.behave("/m.json", b.clone());
                up.behave("/other.json", b.clone());
            }
            None => up.stop(),
        }
        let t = Instant::now();
        assert_eq!(
            get(&s, "/artifactory/rem/m.json"),
            (200, name.as_bytes().to_vec()),
            "{name}: the stale copy"
        );
        assert!(t.elapsed() < Duration::from_secs(4), "{name}: took {:?}", t.elapsed());
        let asked = up.hits("/m.json");
        assert_eq!(asked, if behaviour.is_some() { 2 } else { 1 }, "{name}");
        // Assumed offline: the upstream is not asked again.
        assert_eq!(get(&s, "/artifactory/rem/m.json").0, 200, "{name}");
        assert_eq!(up.hits("/m.json"), asked, "{name}: assumed offline");
        let r = s.admin(Method::GET, "/artifactory/rem/other.json").send().unwrap();
        let msg = expect_error(r, 502);
        assert!(msg.contains("offline") && msg.contains(&up.base), "{name}: {msg}");
        assert_eq!(up.hits("/other.json"), 0, "{name}");
    }
}

/// Nothing cached and the upstream failing: a clear 502/504 naming the upstream.
#[test]
fn a_miss_on_a_failing_upstream_names_it_and_the_reason() {
    let up = Upstream::start();
    up.put("/x", b"x".to_vec());
    up.behave("/x", Behaviour::Status(503));
    up.behave("/h", Behaviour::Hang(Duration::from_secs(5)));
    let s = Server::start();
    create_remote(
        &s,
        "rem",
        &up.base,
        json!({"assumedOfflinePeriodSecs": 0, "metadataRetrievalTimeoutSecs": 1}),
    );
    let msg = expect_error(s.admin(Method::GET, "/artifactory/rem/x").send().unwrap(), 502);
    assert!(msg.contains(&up.base) && msg.contains("503"), "{msg}");
    let msg = expect_error(s.admin(Method::GET, "/artifactory/rem/h").send().unwrap(), 504);
    assert!(msg.contains(&up.base) && msg.contains("in time"), "{msg}");
    create_remote(&s, "dead", "http://127.0.0.1:9/", json!({}));
    let msg = expect_error(s.admin(Method::GET, "/artifactory/dead/x").send().unwrap(), 502);
    assert!(
        msg.contains("http://127.0.0.1:9/") && msg.contains("cannot be reached"),
        "{msg}"
    );
}

#[test]
fn offline_and_blacked_out_serve_the_cache_only() {
    let up = Upstream::start();
    up.put("/a", b"a".to_vec());
    up.put("/b", b"b".to_vec());
    let s = Server::start();
    create_remote(&s, "rem", &up.base, json!({"retrievalCachePeriodSecs": 0}));
    assert_eq!(get(&s, "/artifactory/rem/a"), (200, b"a".to_vec()));
    for setting in ["offline", "blackedOut"] {
        update_remote(&s, "rem", json!({ setting: true }));
        assert_eq!(get(&s, "/artifactory/rem/a"), (200, b"a".to_vec()), "{setting}");
        let msg = expect_error(s.admin(Method::GET, "/artifactory/rem/b").send().unwrap(), 404);
        assert!(msg.contains("not cached"), "{setting}: {msg}");
        update_remote(&s, "rem", json!({ setting: false }));
    }
    assert_eq!((up.hits("/a"), up.hits("/b")), (1, 0));
    assert_eq!(get(&s, "/artifactory/rem/b"), (200, b"b".to_vec()));
}

/// A `Range` on a first fetch gets its part (206) while the whole file is fetched
/// once and cached; later ranges come from the cache.
#[test]
fn a_range_on_a_first_fetch_gets_its_part_and_the_whole_file_is_cached() {
    let up = Upstream::start();
    let body = data(3 << 20, 4);
    up.put("/r/a.bin", body.clone());
    up.put("/r/b.bin", body[..1000].to_vec());
    let s = Server::start();
    create_remote(&s, "rem", &up.base, json!({}));
    let ranged = |path: &str, range: &str| {
        let r = s.admin(Method::GET, path).header("range", range).send().unwrap();
        let status = r.status().as_u16();
        let content_range = r
            .headers()
            .get("content-range")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, content_range, r.bytes().unwrap().to_vec())
    };
    let (a, b) = ((1 << 20) - 6, (1 << 20) + 23);
    let want = (206, format!("bytes {a}-{b}/{}", 3 << 20), body[a..=b].to_vec());
    assert_eq!(ranged("/artifactory/rem/r/a.bin", &format!("bytes={a}-{b}")), want);
    let deadline = Instant::now() + Duration::from_secs(10);
    while cached_status(&s, "rem", "r/a.bin") != 200 {
        assert!(Instant::now() < deadline, "the whole file was not cached");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(ranged("/artifactory/rem/r/a.bin", &format!("bytes={a}-{b}")), want);
    assert_eq!(get(&s, "/artifactory/rem/r/a.bin"), (200, body.clone()));
    assert_eq!(up.hits("/r/a.bin"), 1, "one upstream request");
    // A suffix range, and a range past the end (416, nothing sent).
    let (st, cr, got) = ranged("/artifactory/rem/r/b.bin", "bytes=-10");
    assert_eq!(
        (st, cr.as_str(), got.as_slice()),
        (206, "bytes 990-999/1000", &body[990..1000])
    );
    up.put("/r/c.bin", body[..100].to_vec());
    let r = s
        .admin(Method::GET, "/artifactory/rem/r/c.bin")
        .header("range", "bytes=500-")
        .send()
        .unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(r.headers()["content-range"], "bytes */100");
}

#[test]
fn a_file_deleted_from_the_cache_is_fetched_again() {
    let up = Upstream::start();
    up.put("/d/f.txt", b"one".to_vec());
    let s = Server::start();
    create_remote(&s, "rem", &up.base, json!({}));
    assert_eq!(get(&s, "/artifactory/rem/d/f.txt"), (200, b"one".to_vec()));
    up.put("/d/f.txt", b"two".to_vec());
    let r = s
        .admin(Method::DELETE, "/artifactory/rem-cache/d/f.txt")
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(cached_status(&s, "rem", "d/f.txt"), 404);
    assert_eq!(get(&s, "/artifactory/rem/d/f.txt"), (200, b"two".to_vec()));
    assert_eq!(up.hits("/d/f.txt"), 2);
    // Deleting through the remote's own key works the same.
    let r = s.admin(Method::DELETE, "/artifactory/rem/d").send().unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(get(&s, "/artifactory/rem/d/f.txt"), (200, b"two".to_vec()));
    assert_eq!(up.hits("/d/f.txt"), 3);
}

#[test]
fn without_store_artifacts_locally_files_stream_through() {
    let up = Upstream::start();
    let body = data(1 << 20, 3);
    up.put("/t.bin", body.clone());
    let s = Server::start();
    create_remote(&s, "rem", &up.base, json!({"storeArtifactsLocally": false}));
    assert_eq!(get(&s, "/artifactory/rem/t.bin"), (200, body.clone()));
    assert_eq!(get(&s, "/artifactory/rem/t.bin"), (200, body));
    assert_eq!(up.hits("/t.bin"), 2);
    assert_eq!(cached_status(&s, "rem", "t.bin"), 404);
}

/// Broken bodies and misbehaving upstreams: the client gets an error, nothing is
/// cached, and once the upstream behaves the next request fetches it right.
#[test]
fn bad_upstream_answers_cache_nothing_and_the_next_request_retries() {
    let up = Upstream::start();
    let body = data(3 << 20, 4);
    let s = Server::start_with(Options {
        extra_config: "[remote]\nmax_file_mib = 4\n".into(),
    });
    create_remote(&s, "rem", &up.base, json!({"assumedOfflinePeriodSecs": 0}));
    let cases = [
        ("truncated", Behaviour::Truncated),
        ("longer", Behaviour::LongerLength),
        ("checksum", Behaviour::WrongChecksum),
        ("endless", Behaviour::Endless),
        ("loop", Behaviour::RedirectLoop),
        ("away", Behaviour::RedirectAway),
        ("header", Behaviour::HugeHeader),
    ];
    for (name, b) in cases {
        let path = format!("/bad/{name}.bin");
        up.put(&path, body.clone());
        up.behave(&path, b);
        let what = get_fails(&s, &format!("/artifactory/rem{path}"));
        assert_eq!(cached_status(&s, "rem", &path[1..]), 404, "{name}: {what}");
        up.behave(&path, Behaviour::Normal);
        let got = get(&s, &format!("/artifactory/rem{path}"));
        assert!(got == (200, body.clone()), "{name}: the retry got {}", got.0);
        assert_eq!(cached_status(&s, "rem", &path[1..]), 200, "{name}");
    }
    assert!(up.hits("/bad/loop.bin") >= 2);
}

/// 50 clients ask for a 100 MiB file nobody has fetched yet: the upstream is asked
/// once and every client gets the right bytes; likewise for a metadata document.
#[test]
fn concurrent_first_requests_reach_the_upstream_once() {
    let up = Upstream::start();
    let big = data(100 << 20, 5);
    let want = sha256_hex(&big);
    up.put("/big.bin", big);
    up.put("/index.json", b"{\"all\":true}".to_vec());
    let s = Server::start();
    create_remote(&s, "rem", &up.base, json!({}));
    up.delay(Duration::from_millis(300));
    let fifty = |path: &str, want: &str| {
        let t = Instant::now();
        let threads: Vec<_> = (0..50)
            .map(|_| {
                let url = s.url(&format!("/artifactory/rem{path}"));
                std::thread::spawn(move || {
                    let r = client().get(url).basic_auth(ADMIN.0, Some(ADMIN.1)).send().unwrap();
                    assert_eq!(r.status(), 200);
                    sha256_hex(&r.bytes().unwrap())
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), want, "{path}");
        }
        eprintln!("{path}: 50 clients in {:?}", t.elapsed());
    };
    let index = sha256_hex(b"{\"all\":true}");
    fifty("/index.json", &index);
    assert_eq!(up.hits("/index.json"), 1, "one upstream request");
    fifty("/big.bin", &want);
    assert_eq!(up.hits("/big.bin"), 1, "one upstream request");
    // An expired document: 50 concurrent requests revalidate it once.
    update_remote(&s, "rem", json!({"retrievalCachePeriodSecs": 1}));
    std::thread::sleep(Duration::from_millis(1100));
    fifty("/index.json", &index);
    assert_eq!(up.hits("/index.json"), 2, "one refresh");
    assert_eq!(up.conditional_hits("/index.json"), 1);
}

#[test]
fn upstream_connections_per_repository_are_capped() {
    let up = Upstream::start();
    for i in 0..8 {
        up.put(&format!("/f{i}"), vec![b'a' + i as u8; 10]);
    }
    up.delay(Duration::from_millis(300));
    let s = Server::start_with(Options {
        extra_config: "[remote]\nmax_connections_per_repository = 2\n".into(),
    });
    create_remote(&s, "rem", &up.base, json!({}));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let url = s.url(&format!("/artifactory/rem/f{i}"));
            std::thread::spawn(move || {
                let r = client().get(url).basic_auth(ADMIN.0, Some(ADMIN.1)).send().unwrap();
                (r.status().as_u16(), r.bytes().unwrap().to_vec())
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        assert_eq!(t.join().unwrap(), (200, vec![b'a' + i as u8; 10]));
    }
    assert_eq!(up.max_active(), 2);
}

#[test]
fn upstream_credentials_are_sent() {
    // The upstream is a second binyard whose repository needs a login.
    let upstream = Server::start();
    upstream.create_local_repo("src", "generic");
    let r = upstream
        .admin(Method::PUT, "/artifactory/src/p/q.txt")
        .body("secret bytes")
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let s = Server::start();
    let url = upstream.url("/artifactory/src");
    create_remote(&s, "anon", &url, json!({}));
    let msg = expect_error(s.admin(Method::GET, "/artifactory/anon/p/q.txt").send().unwrap(), 502);
    assert!(msg.contains("401"), "{msg}");
    create_remote(&s, "auth", &url, json!({"username": ADMIN.0, "password": ADMIN.1}));
    assert_eq!(get(&s, "/artifactory/auth/p/q.txt"), (200, b"secret bytes".to_vec()));
}
