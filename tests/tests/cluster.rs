//! Three binyard nodes on one PostgreSQL database and one S3 bucket (real servers,
//! `binyard_e2e::backends`), with a round-robin proxy in front: what one node writes
//! every node serves at once, a plugin installed through one node serves on all, and
//! when a node is killed during uploads nothing it acknowledged is lost, its leases go
//! to the others and webhook delivery goes on.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

mod common;
#[path = "webhooks/receiver.rs"]
#[allow(dead_code)]
mod receiver;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use binyard_e2e::*;
use common::*;
use receiver::Receiver;
use serde_json::{Value, json};

/// An acknowledged upload: path and bytes.
type Upload = (String, Vec<u8>);

/// Leases of this many seconds: a dead node's jobs move within about 4 s.
const LEASE_SECONDS: u64 = 3;

fn node(i: usize, storage: &str, plugins: &Path) -> Server {
    let extra = format!(
        "[cluster]\nnode_id = \"node-{i}\"\nlease_seconds = {LEASE_SECONDS}\nheartbeat_seconds = 1\n\n\
         [events]\nretry_base_ms = 100\nretry_max_ms = 300\ntimeout_ms = 2000\nmax_attempts = 100\n"
    );
    Server::launch(
        Options { extra_config: extra },
        Launch {
            storage_config: storage.to_string(),
            ..Launch::default()
        },
        plugins,
        "watch_interval_ms = 0",
    )
}

/// A round-robin TCP proxy: each connection goes to the next node that accepts it.
struct Proxy {
    url: String,
    _rt: tokio::runtime::Runtime,
}

fn proxy(nodes: &[&Server]) -> Proxy {
    let backends: Arc<Vec<SocketAddr>> = Arc::new(
        nodes
            .iter()
            .map(|s| s.base.trim_start_matches("http://").parse().unwrap())
            .collect(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move {
        let next = AtomicUsize::new(0);
        while let Ok((mut client, _)) = listener.accept().await {
            let (start, backends) = (next.fetch_add(1, Ordering::Relaxed), backends.clone());
            tokio::spawn(async move {
                for i in 0..backends.len() {
                    let addr = backends[(start + i) % backends.len()];
                    if let Ok(mut server) = tokio::net::TcpStream::connect(addr).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        return;
                    }
                }
            });
        }
    });
    Proxy { url, _rt: rt }
}

fn health(s: &Server) -> Value {
    json(s.anon(Method::GET, "/router/api/v1/system/health").send().unwrap())
}

fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !cond() {
        assert!(t.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    t.elapsed()
}

/// The holder of each lease, as a node reports it.
fn holders(s: &Server) -> BTreeMap<String, String> {
    health(s)["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["job"].as_str().unwrap().to_string(),
                l["holder"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The version of the `echo` plugin that answers on `s`, if any.
fn echo_version(s: &Server) -> Option<String> {
    let r = s.admin(Method::GET, "/artifactory/api/testecho/echo/x").send().ok()?;
    (r.status() == 200).then(|| r.headers()["x-plugin-version"].to_str().unwrap().to_string())
}

/// The npm client with a private HOME, cache and `.npmrc` naming `registry`.
struct Npm {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Npm {
    fn new(bin: PathBuf) -> Npm {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Npm { bin, dir }
    }

    /// Runs npm against `registry` (a node's npm API), asserting success.
    fn ok(&self, registry: &str, args: &[&str], cwd: &Path) -> String {
        let rc = self.dir.path().join("npmrc");
        let auth = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "admin:password");
        let key = registry.trim_start_matches("http:");
        std::fs::write(
            &rc,
            format!("registry={registry}\n{key}:_auth={auth}\nalways-auth=true\n"),
        )
        .unwrap();
        let mut c = Command::new(&self.bin);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().to_ascii_lowercase().starts_with("npm_config_") {
                c.env_remove(k);
            }
        }
        let out = c
            .args(args)
            .args(["--no-audit", "--no-fund", "--no-update-notifier"])
            .current_dir(cwd)
            .env("HOME", self.dir.path().join("home"))
            .env("npm_config_cache", self.dir.path().join("cache"))
            .env("npm_config_userconfig", &rc)
            .env_remove("NODE_OPTIONS")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "npm {args:?} via {registry} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn package(&self, folder: &str, version: &str) -> PathBuf {
        let dir = self.dir.path().join(folder);
        std::fs::create_dir_all(&dir).unwrap();
        let manifest = json!({"name": "cluster-pkg", "version": version, "main": "index.js", "license": "MIT"});
        std::fs::write(dir.join("package.json"), manifest.to_string()).unwrap();
        std::fs::write(dir.join("index.js"), format!("module.exports = '{version}';\n")).unwrap();
        dir
    }
}

fn npm_registry(s: &Server) -> String {
    s.url("/artifactory/api/npm/npm-local/")
}

fn packument_versions(s: &Server) -> Vec<String> {
    let v = json(
        s.admin(Method::GET, "/artifactory/api/npm/npm-local/cluster-pkg")
            .send()
            .unwrap(),
    );
    v["versions"].as_object().unwrap().keys().cloned().collect()
}

#[test]
fn three_nodes_serve_one_installation_and_survive_a_killed_node() {
    let (Some(pg), Some(s3)) = (backends::postgres(), backends::s3()) else {
        return;
    };
    let storage = format!("{}{}", pg.storage_config(), s3.storage_config());
    let plugins = plugin_folder(&["npm", "jfrog"]);
    let started = Instant::now();
    let mut n1 = node(1, &storage, plugins.path());
    // Node 1 starts first and takes every lease.
    wait_until("node 1 holds the leases", Duration::from_secs(10), || {
        holders(&n1).len() == 3
    });
    let n2 = node(2, &storage, plugins.path());
    let n3 = node(3, &storage, plugins.path());
    wait_until("three healthy peers", Duration::from_secs(10), || {
        let h = health(&n3);
        h["peers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["state"] == "HEALTHY")
            .count()
            == 3
    });
    let h = health(&n2);
    assert_eq!(h["node"]["id"], "node-2", "{h}");
    assert_eq!(h["database"]["kind"], "postgres", "{h}");
    assert_eq!(h["database"]["state"], "HEALTHY", "{h}");
    assert_eq!(h["objectStore"]["kind"], "s3", "{h}");
    assert_eq!(h["objectStore"]["state"], "HEALTHY", "{h}");
    assert_eq!(h["listening"], true, "{h}");
    assert!(holders(&n2).values().all(|n| n == "node-1"), "{h}");
    eprintln!("three nodes up after {:?}", started.elapsed());

    // Repositories created on one node are usable on the others at once.
    n1.create_local_repo("npm-local", "npm");
    n1.create_local_repo("libs", "generic");

    // npm publish on node 1, npm install via node 2; a version published via node 3
    // is in the packument node 1 answers (from its cache before) at once.
    if let Some(bin) = client_tool("npm") {
        let npm = Npm::new(bin);
        let out = npm.ok(&npm_registry(&n1), &["publish"], &npm.package("v1", "1.0.0"));
        assert!(out.contains("+ cluster-pkg@1.0.0"), "{out}");
        let app = npm.dir.path().join("app");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(app.join("package.json"), r#"{"name":"app","version":"1.0.0"}"#).unwrap();
        npm.ok(&npm_registry(&n2), &["install", "cluster-pkg@1.0.0"], &app);
        let installed = std::fs::read_to_string(app.join("node_modules/cluster-pkg/index.js")).unwrap();
        assert_eq!(installed, "module.exports = '1.0.0';\n");
        assert_eq!(packument_versions(&n1), ["1.0.0"]);
        npm.ok(&npm_registry(&n3), &["publish"], &npm.package("v2", "1.0.1"));
        assert_eq!(
            packument_versions(&n1),
            ["1.0.0", "1.0.1"],
            "node 1's answer follows node 3's publish"
        );
    }

    // A deploy on node 3 is visible on node 1 at once.
    deploy(&n3, "libs", "first/hello.txt", b"hello from node 3");
    assert_content(&n1, "libs", "first/hello.txt", b"hello from node 3");

    // A token issued by node 1 is good on the other nodes (one signing key).
    let r = n1
        .admin(Method::POST, "/access/api/v1/tokens")
        .json(&json!({"username": "admin", "expires_in": 600}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let token = json(r)["access_token"].as_str().unwrap().to_string();
    for s in [&n2, &n3] {
        let r = client()
            .get(s.url("/access/api/v2/users"))
            .bearer_auth(&token)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "node 1's token on {}", s.base);
    }

    // A plugin installed and then replaced through node 2 answers on all three.
    let r = n2
        .admin(Method::PUT, "/artifactory/api/plugins/echo")
        .body(plugin_wasm("test_echo"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let nodes = [&n1, &n2, &n3];
    for s in nodes {
        wait_until("every node loads the plugin", Duration::from_secs(30), || {
            s.admin(Method::GET, "/artifactory/api/plugins/echo")
                .send()
                .unwrap()
                .status()
                == 200
        });
    }
    n1.create_local_repo("echo", "testecho");
    for s in nodes {
        assert_eq!(echo_version(s).as_deref(), Some("1.0.0"), "{}", s.base);
    }
    let r = n2
        .admin(Method::PUT, "/artifactory/api/plugins/echo")
        .body(plugin_wasm("test_echo_v2"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let swap = Instant::now();
    for s in nodes {
        wait_until("every node serves the new version", Duration::from_secs(30), || {
            echo_version(s).as_deref() == Some("2.0.0")
        });
    }
    eprintln!("hot swap reached the three nodes in {:?}", swap.elapsed());

    // A webhook subscription made through node 3; node 1 delivers (it holds the lease).
    let rx = Receiver::start();
    let r = n3
        .admin(Method::POST, "/event/api/v1/subscriptions")
        .json(&json!({"key": "hooks", "url": rx.url, "events": ["deployed"]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().unwrap());
    std::thread::sleep(Duration::from_millis(300));

    // Uploads through the proxy from four clients; node 1 is killed while they run.
    let lb = proxy(&nodes);
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<Upload>>> = Arc::default();
    let failed = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for t in 0..4u64 {
        let (stop, acked, failed, url) = (stop.clone(), acked.clone(), failed.clone(), lb.url.clone());
        clients.push(std::thread::spawn(move || {
            let c = client();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let path = format!("load/t{t}/f{i}.bin");
                let body = bytes_of(64 << 10, t * 1_000_000 + i);
                let r = c
                    .put(format!("{url}/artifactory/libs/{path}"))
                    .basic_auth("admin", Some("password"))
                    .header("Connection", "close")
                    .body(body.clone())
                    .send();
                match r {
                    Ok(r) if r.status() == 201 => acked.lock().unwrap().push((path, body)),
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                i += 1;
            }
        }));
    }
    wait_until("uploads under way", Duration::from_secs(20), || {
        acked.lock().unwrap().len() >= 40
    });
    n1.kill();
    let killed = Instant::now();
    let before_kill = acked.lock().unwrap().len();

    // node 1's leases go to node 2 or 3 within the lease and one renewal (plus slack).
    let took = wait_until("the leases are taken over", Duration::from_secs(15), || {
        let h = holders(&n2);
        h.len() == 3 && h.values().all(|n| n != "node-1")
    });
    eprintln!("leases taken over {took:?} after the kill: {:?}", holders(&n3));
    assert!(
        killed.elapsed() <= Duration::from_secs(LEASE_SECONDS + 3),
        "taken over only after {:?}",
        killed.elapsed()
    );
    wait_until("uploads go on without node 1", Duration::from_secs(20), || {
        acked.lock().unwrap().len() >= before_kill + 40
    });
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    eprintln!(
        "{} uploads acknowledged, {} failed (node 1 killed)",
        acked.len(),
        failed.load(Ordering::Relaxed)
    );

    // Every acknowledged upload is intact on both survivors.
    for (path, body) in &acked {
        for s in [&n2, &n3] {
            let (status, got) = download(s, "libs", path);
            assert_eq!(status, 200, "{path} on {}", s.base);
            assert!(got == *body, "{path} on {} differs", s.base);
        }
    }
    let h = health(&n2);
    let dead = h["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "node-1")
        .cloned();
    wait_until("node 1 reported unreachable", Duration::from_secs(10), || {
        health(&n2)["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "node-1" && p["state"] == "UNREACHABLE")
    });
    assert!(dead.is_some(), "{h}");

    // Webhook delivery went on: every acknowledged deploy arrives at least once.
    let want: std::collections::BTreeSet<String> = acked.iter().map(|(p, _)| p.clone()).collect();
    let delivered = |rx: &Receiver| -> std::collections::BTreeSet<String> {
        rx.received()
            .iter()
            .filter_map(|r| {
                let data: Value = serde_json::from_str(r.json()["data"].as_str()?).ok()?;
                Some(data["path"].as_str()?.to_string())
            })
            .collect()
    };
    let waited = wait_until("every deploy delivered", Duration::from_secs(60), || {
        want.is_subset(&delivered(&rx))
    });
    eprintln!(
        "webhooks caught up {waited:?} after the uploads; whole test {:?}",
        started.elapsed()
    );
}
