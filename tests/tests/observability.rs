//! What operators watch: `/metrics` counts the requests made, by route, method and
//! status, and parses as Prometheus text; the JSON log has one line per request
//! with its id (also answered as `X-Request-Id`); health and ping say ready; large
//! folders are listed a page at a time.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use binyard_e2e::*;
use prometheus_parse::{Scrape, Value};
use serde_json::json;

fn scrape(s: &Server) -> Scrape {
    let r = s.admin(Method::GET, "/metrics").send().unwrap();
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    parse(&r.text().unwrap())
}

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
}

/// The value of the sample `name` whose labels include all of `labels` (0 when none).
fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    s.samples
        .iter()
        .filter(|x| x.metric == name)
        .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(h) => h.iter().map(|c| c.count).fold(0.0, f64::max),
            Value::Summary(_) => 0.0,
        })
        .sum()
}

#[test]
fn metrics_count_the_requests_made_by_status() {
    let s = Server::start_with(Options {
        extra_config: "[metrics]\ntoken = \"scrape-me-123\"\n".into(),
    });
    s.create_local_repo("libs", "generic");
    let r = s
        .admin(Method::PUT, "/artifactory/libs/a/file.bin")
        .body(vec![7u8; 1000])
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    for _ in 0..3 {
        let r = s.admin(Method::GET, "/artifactory/libs/a/file.bin").send().unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().unwrap().len(), 1000);
    }
    for _ in 0..2 {
        let r = s.admin(Method::GET, "/artifactory/libs/a/missing.bin").send().unwrap();
        assert_eq!(r.status(), 404);
    }
    assert_eq!(
        s.anon(Method::GET, "/artifactory/libs/a/file.bin")
            .send()
            .unwrap()
            .status(),
        401
    );
    assert_eq!(s.anon(Method::GET, "/no/such/route").send().unwrap().status(), 404);

    let m = scrape(&s);
    let route = ("route", "/artifactory/*rest");
    let count = |method: &str, status: &str| {
        value(
            &m,
            "binyard_http_requests_total",
            &[route, ("method", method), ("status", status)],
        )
    };
    assert_eq!(count("PUT", "201"), 1.0);
    assert_eq!(count("GET", "200"), 3.0);
    assert_eq!(count("GET", "404"), 2.0);
    assert_eq!(count("GET", "401"), 1.0);
    assert_eq!(
        value(
            &m,
            "binyard_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        1.0
    );
    // The latency histogram saw every request of the route.
    let h = m
        .samples
        .iter()
        .find(|x| {
            x.metric == "binyard_http_request_duration_seconds"
                && x.labels.get("route") == Some("/artifactory/*rest")
                && x.labels.get("method") == Some("GET")
        })
        .expect("latency histogram");
    match &h.value {
        Value::Histogram(b) => {
            let inf = b.iter().find(|c| c.less_than == f64::INFINITY).expect("+Inf bucket");
            assert_eq!(inf.count, 6.0);
        }
        v => panic!("not a histogram: {v:?}"),
    }
    assert_eq!(
        value(&m, "binyard_repository_downloads_total", &[("repo", "libs")]),
        3.0
    );
    assert_eq!(value(&m, "binyard_repository_deploys_total", &[("repo", "libs")]), 1.0);
    assert_eq!(value(&m, "binyard_repository_files", &[("repo", "libs")]), 1.0);
    assert_eq!(value(&m, "binyard_repository_bytes", &[("repo", "libs")]), 1000.0);
    assert!(value(&m, "binyard_http_received_bytes_total", &[]) >= 1000.0);
    assert!(value(&m, "binyard_http_sent_bytes_total", &[]) >= 3000.0);
    assert!(value(&m, "binyard_database_bytes", &[]) > 0.0);

    // GC runs are counted.
    let before = value(&m, "binyard_gc_runs_total", &[]);
    assert_eq!(
        s.admin(Method::POST, "/artifactory/api/system/storage/gc")
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(value(&scrape(&s), "binyard_gc_runs_total", &[]), before + 1.0);

    // Who may scrape: admins and the configured token; not anonymous, not a reader.
    assert_eq!(s.anon(Method::GET, "/metrics").send().unwrap().status(), 401);
    s.create_user("reader", "reader-pw-1", &[]);
    assert_eq!(
        s.user("reader", "reader-pw-1", Method::GET, "/metrics")
            .send()
            .unwrap()
            .status(),
        403
    );
    let r = client()
        .get(s.url("/metrics"))
        .bearer_auth("scrape-me-123")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    parse(&r.text().unwrap());
    let r = client().get(s.url("/metrics")).bearer_auth("wrong").send().unwrap();
    assert_eq!(r.status(), 401);
}

#[test]
fn metrics_on_their_own_address_need_no_credentials() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = Server::start_with(Options {
        extra_config: format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"),
    });
    assert_eq!(
        s.anon(Method::GET, "/artifactory/api/system/ping")
            .send()
            .unwrap()
            .status(),
        200
    );
    let r = client().get(format!("http://127.0.0.1:{port}/metrics")).send().unwrap();
    assert_eq!(r.status(), 200);
    let m = parse(&r.text().unwrap());
    assert_eq!(
        value(
            &m,
            "binyard_http_requests_total",
            &[("route", "/artifactory/api/system/ping"), ("status", "200")]
        ),
        1.0
    );
    // Only /metrics there.
    let r = client()
        .get(format!("http://127.0.0.1:{port}/artifactory/api/repositories"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// A server started with `[log] format = "json"` whose stderr lines are kept.
struct Logged {
    child: std::process::Child,
    base: String,
    lines: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_json_logged() -> Logged {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\ndata_dir = \"{}\"\n[plugins]\ndir = \"{}\"\n[log]\nformat = \"json\"\n",
            dir.path().join("data").display(),
            dir.path().join("plugins").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(binary())
        .args(["serve", "--config"])
        .arg(&cfg)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (l, stderr) = (lines.clone(), child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            l.lock().unwrap().push(line);
        }
    });
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("binyard listening on ") {
                let _ = tx.send(url.trim().to_string());
            }
        }
    });
    let base = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    Logged {
        child,
        base,
        lines,
        _dir: dir,
    }
}

/// The JSON request line with this request id, waiting a little for it.
fn request_line(l: &Logged, id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for line in l.lines.lock().unwrap().iter() {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
            if v["request_id"] == id {
                return v;
            }
        }
        assert!(Instant::now() < deadline, "no log line for request {id}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn json_log_has_one_line_per_request_with_its_id() {
    let l = start_json_logged();
    let c = client();
    // A client's own id is kept and answered back.
    let r = c
        .get(format!(
            "{}/artifactory/api/repositories?secret=query-not-logged",
            l.base
        ))
        .basic_auth("admin", Some("password"))
        .header("X-Request-Id", "client-id-42")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "client-id-42");
    let v = request_line(&l, "client-id-42");
    assert_eq!(v["method"], "GET");
    assert_eq!(v["path"], "/artifactory/api/repositories");
    assert_eq!(v["status"], 200);
    assert_eq!(v["user"], "admin");
    assert!(v["latency_ms"].as_f64().unwrap() >= 0.0, "{v}");
    assert_eq!(v["target"], "binyard::request");
    assert!(v["level"].is_string() && v["timestamp"].is_string(), "{v}");

    // Otherwise the server makes one, different for each request; anonymous and
    // refused requests are logged too (bad credentials: no user, `-`).
    let ids: Vec<String> = (0..3)
        .map(|_| {
            let r = c
                .get(format!("{}/artifactory/api/repositories", l.base))
                .send()
                .unwrap();
            assert_eq!(r.status(), 401);
            r.headers()["x-request-id"].to_str().unwrap().to_string()
        })
        .collect();
    assert!(ids[0] != ids[1] && ids[1] != ids[2], "{ids:?}");
    let r = c
        .get(format!("{}/artifactory/api/repositories", l.base))
        .basic_auth("admin", Some("wrong-password"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let v = request_line(&l, r.headers()["x-request-id"].to_str().unwrap());
    assert_eq!(v["user"], "-");
    for id in &ids {
        let v = request_line(&l, id);
        assert_eq!(v["status"], 401);
        assert_eq!(v["user"], "anonymous");
    }
    // One line per request, and every line of the log is JSON.
    let all = l.lines.lock().unwrap().clone();
    let per_id: HashMap<String, usize> = all
        .iter()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|v| v["target"] == "binyard::request")
        .fold(HashMap::new(), |mut m, v| {
            *m.entry(v["request_id"].as_str().unwrap().to_string()).or_default() += 1;
            m
        });
    assert_eq!(per_id.get("client-id-42"), Some(&1));
    assert!(ids.iter().all(|id| per_id.get(id) == Some(&1)));
    assert!(!all.iter().any(|line| line.contains("query-not-logged")));
}

#[test]
fn health_and_ping_say_ready() {
    let s = Server::start();
    let r = s.anon(Method::GET, "/router/api/v1/system/health").send().unwrap();
    assert_eq!(r.status(), 200);
    let v = json(r);
    assert_eq!(v["router"]["state"], "HEALTHY", "{v}");
    let r = s.anon(Method::GET, "/artifactory/api/system/ping").send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "OK");
    // The writability probe leaves nothing behind.
    let leftovers: Vec<_> = std::fs::read_dir(s.data_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".health-probe"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn large_folders_are_listed_a_page_at_a_time() {
    let s = Server::start();
    s.create_local_repo("big", "generic");
    for i in 0..250 {
        let r = s
            .admin(Method::PUT, &format!("/artifactory/big/dir/f{i:03}.txt"))
            .body(format!("{i}"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let page = |q: &str| {
        json(
            s.admin(Method::GET, &format!("/artifactory/api/storage/big/dir?{q}"))
                .send()
                .unwrap(),
        )
    };
    let p1 = page("limit=100");
    let names = |p: &serde_json::Value| -> Vec<String> {
        p["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["uri"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&p1).len(), 100);
    assert_eq!(names(&p1)[0], "/f000.txt");
    assert_eq!(p1["nextAfter"], "f099.txt");
    assert_eq!(p1["children"][0]["size"], 1);
    assert_eq!(p1["children"][0]["folder"], false);
    assert!(p1["children"][0]["lastModified"].is_string());
    let p2 = page("limit=100&after=f099.txt");
    assert_eq!(names(&p2)[0], "/f100.txt");
    let p3 = page(&format!("limit=100&after={}", p2["nextAfter"].as_str().unwrap()));
    assert_eq!(names(&p3).len(), 50);
    assert_eq!(names(&p3)[49], "/f249.txt");
    assert!(p3.get("nextAfter").is_none(), "{p3}");
    // Without ?limit the folder info lists every child, as Artifactory's does.
    assert_eq!(names(&page("")).len(), 250);
    for bad in ["limit=0", "limit=1001", "limit=ten"] {
        let msg = expect_error(
            s.admin(Method::GET, &format!("/artifactory/api/storage/big/dir?{bad}"))
                .send()
                .unwrap(),
            400,
        );
        assert!(msg.contains("limit"), "{msg}");
    }

    // A reader who may see only some files gets full pages of those (the default
    // target letting every reader read everything goes first).
    let r = s
        .admin(Method::DELETE, "/artifactory/api/v2/security/permissions/Anything")
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    s.create_user("few", "few-pw-1", &[]);
    let r = s
        .admin(Method::PUT, "/artifactory/api/v2/security/permissions/few-only")
        .json(
            &json!({"name": "few-only", "repo": {"repositories": ["big"], "include-patterns": ["dir/f2*"],
            "actions": {"users": {"few": ["read"]}}}}),
        )
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    let r = s
        .user(
            "few",
            "few-pw-1",
            Method::GET,
            "/artifactory/api/storage/big/dir?limit=20",
        )
        .send()
        .unwrap();
    let v = json(r);
    let seen = names(&v);
    assert_eq!(seen.len(), 20, "{v}");
    assert_eq!(seen[0], "/f200.txt");
    assert_eq!(v["nextAfter"], "f219.txt");
}

/// What an OTLP/HTTP collector received: one `(path, content type, body)` per post.
type Posts = mpsc::Receiver<(String, String, Vec<u8>)>;

/// A minimal OTLP/HTTP collector on a free port: it answers every post with 200 and
/// hands the posts to the test.
fn collector() -> (u16, Posts) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split(' ').nth(1).unwrap_or("").to_string();
                    let (mut len, mut ct) = (0usize, String::new());
                    loop {
                        let mut h = String::new();
                        reader.read_line(&mut h).unwrap();
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        let (k, v) = h.split_once(':').unwrap();
                        match k.to_ascii_lowercase().as_str() {
                            "content-length" => len = v.trim().parse().unwrap(),
                            "content-type" => ct = v.trim().to_string(),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; len];
                    reader.read_exact(&mut body).unwrap();
                    conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").unwrap();
                    if tx.send((path, ct, body)).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, rx)
}

/// The spans of OTLP/JSON posts received until `done` says enough (or 30 s pass).
fn spans_until(posts: &Posts, done: impl Fn(&[serde_json::Value]) -> bool) -> Vec<serde_json::Value> {
    let mut spans = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done(&spans) {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok((path, ct, body)) = posts.recv_timeout(left) else {
            panic!("the collector did not receive the expected spans; got {spans:#?}");
        };
        assert_eq!(path, "/v1/traces");
        assert_eq!(ct, "application/json");
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        for rs in doc["resourceSpans"].as_array().unwrap() {
            let service = rs["resource"]["attributes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["key"] == "service.name")
                .map(|a| a["value"]["stringValue"].clone());
            assert_eq!(service, Some(json!("binyard-under-test")));
            for ss in rs["scopeSpans"].as_array().unwrap() {
                spans.extend(ss["spans"].as_array().unwrap().iter().cloned());
            }
        }
    }
    spans
}

/// A span attribute as JSON (`stringValue`/`intValue` unwrapped).
fn attr(span: &serde_json::Value, key: &str) -> serde_json::Value {
    span["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| {
            let v = &a["value"];
            v.get("stringValue")
                .or_else(|| v.get("intValue"))
                .cloned()
                .unwrap_or(serde_json::Value::Null)
        })
        .unwrap_or(serde_json::Value::Null)
}

#[test]
fn requests_and_plugin_calls_are_exported_as_otlp_spans_in_the_callers_trace() {
    let (port, posts) = collector();
    let s = Server::start_with(Options {
        extra_config: format!(
            "[trace]\notlp_endpoint = \"http://127.0.0.1:{port}\"\nprotocol = \"http/json\"\nservice_name = \"binyard-under-test\"\n"
        ),
    });
    s.create_local_repo("npm-local", "npm");
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let r = s
        .anon(Method::GET, "/artifactory/api/system/ping")
        .header("traceparent", format!("00-{trace_id}-{parent}-01"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let ping_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    // An npm request is served by the npm plugin: its call is a child span.
    let r = s
        .admin(Method::GET, "/artifactory/api/npm/npm-local/no-such-package")
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
    let npm_id = r.headers()["x-request-id"].to_str().unwrap().to_string();

    let by_id = |spans: &[serde_json::Value], id: &str| {
        spans
            .iter()
            .find(|x| attr(x, "binyard.request_id") == json!(id))
            .cloned()
    };
    let spans = spans_until(&posts, |spans| {
        by_id(spans, &ping_id).is_some()
            && by_id(spans, &npm_id).is_some()
            && spans.iter().any(|x| attr(x, "binyard.plugin") == json!("npm"))
    });

    let ping = by_id(&spans, &ping_id).unwrap();
    assert_eq!(ping["traceId"], json!(trace_id), "{ping:#}");
    assert_eq!(ping["parentSpanId"], json!(parent), "{ping:#}");
    assert_eq!(attr(&ping, "url.path"), json!("/artifactory/api/system/ping"));
    assert_eq!(attr(&ping, "http.request.method"), json!("GET"));
    assert_eq!(attr(&ping, "http.response.status_code"), json!("200"));
    // The ping never authenticates: no user is named.
    assert_eq!(attr(&ping, "enduser.id"), serde_json::Value::Null, "{ping:#}");

    let npm = by_id(&spans, &npm_id).unwrap();
    assert_ne!(
        npm["traceId"],
        json!(trace_id),
        "a request without traceparent starts its own trace"
    );
    assert_eq!(attr(&npm, "http.response.status_code"), json!("404"));
    assert_eq!(attr(&npm, "enduser.id"), json!("admin"));
    let call = spans
        .iter()
        .find(|x| attr(x, "binyard.plugin") == json!("npm"))
        .unwrap();
    assert_eq!(call["traceId"], npm["traceId"], "{call:#}");
    assert_eq!(call["parentSpanId"], npm["spanId"], "{call:#}");
    assert_eq!(call["name"], json!("plugin npm"));
    // Only binyard's own spans are exported (not the listener's or tower-http's).
    let in_trace = spans.iter().filter(|x| x["traceId"] == npm["traceId"]).count();
    assert_eq!(in_trace, 2, "{spans:#?}");
}

#[test]
fn otlp_protobuf_is_the_default_and_a_missing_collector_costs_no_request() {
    let (port, posts) = collector();
    let s = Server::start_with(Options {
        extra_config: format!("[trace]\notlp_endpoint = \"http://127.0.0.1:{port}/v1/traces\"\n"),
    });
    let r = s.anon(Method::GET, "/artifactory/api/system/ping").send().unwrap();
    assert_eq!(r.status(), 200);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let (path, ct, body) = posts.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(path, "/v1/traces");
    assert_eq!(ct, "application/x-protobuf");
    // Protobuf keeps strings as their bytes: the request id is in the export.
    assert!(
        body.windows(id.len()).any(|w| w == id.as_bytes()),
        "request id {id} not exported"
    );

    // A collector that is not there: requests are served as before.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap().port();
    drop(closed);
    let s = Server::start_with(Options {
        extra_config: format!("[trace]\notlp_endpoint = \"http://127.0.0.1:{dead}\"\nexport_timeout_seconds = 1\n"),
    });
    for _ in 0..20 {
        let r = s.anon(Method::GET, "/artifactory/api/system/ping").send().unwrap();
        assert_eq!(r.status(), 200);
    }
}

#[test]
fn a_bad_otlp_endpoint_stops_the_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, "[trace]\notlp_endpoint = \"ftp://collector\"\n").unwrap();
    let out = Command::new(binary())
        .args(["serve", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("[trace] otlp_endpoint 'ftp://collector'"), "{err}");
}
