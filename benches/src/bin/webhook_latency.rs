//! Deploy latency with and without webhook subscriptions: a receiver that never
//! answers (it accepts connections and then stays silent) must not slow deploys, since
//! delivery reads the outbox in the background. Also measured: a receiver that answers
//! at once. Prints p50/p90/p99 of 1 KiB deploys and the ratios to the run without any
//! subscription (target: ≈ 1.0×).
//!
//! `cargo build --release -p binyard && cargo xtask plugins && cargo run --release -p binyard-benches --bin webhook_latency`

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use anyhow::ensure;
use binyard_benches::{Binyard, root, summary};

const DEPLOYS: usize = 1500;

/// A receiver that accepts and never answers; it keeps every connection open.
fn black_hole() -> anyhow::Result<String> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/hook", l.local_addr()?);
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        for c in l.incoming().flatten() {
            kept.push(c);
        }
    });
    Ok(url)
}

/// A receiver that answers 200 at once.
fn fast() -> anyhow::Result<String> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/hook", l.local_addr()?);
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = BufReader::new(c.try_clone().expect("clone"));
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            });
        }
    });
    Ok(url)
}

fn deploys(client: &reqwest::blocking::Client, base: &str, round: &str) -> anyhow::Result<Vec<Duration>> {
    let body = vec![7u8; 1024];
    let mut out = Vec::with_capacity(DEPLOYS);
    for i in 0..DEPLOYS {
        let t = Instant::now();
        let r = client
            .put(format!("{base}/artifactory/libs/{round}/f{i}.bin"))
            .basic_auth("admin", Some("password"))
            .body(body.clone())
            .send()?;
        ensure!(r.status() == 201, "deploy answered {}", r.status());
        out.push(t.elapsed());
    }
    Ok(out)
}

fn main() -> anyhow::Result<()> {
    let plugins = root().join("target/plugins");
    ensure!(plugins.join("jfrog.wasm").exists(), "run `cargo xtask plugins` first");
    let dir = tempfile::tempdir()?;
    let server = Binyard::in_dir(
        dir.path(),
        &plugins,
        "[events]\ntimeout_ms = 60000\nmax_attempts = 1000\n",
        "error",
    )?;
    let base = server.base.clone();
    let client = reqwest::blocking::Client::new();
    let admin = |m: reqwest::Method, p: &str| server.admin(&client, m, p);
    admin(reqwest::Method::PUT, "/artifactory/api/repositories/libs")
        .json(&serde_json::json!({"rclass": "local", "packageType": "generic"}))
        .send()?;
    deploys(&client, &base, "warmup")?;

    let none = summary(deploys(&client, &base, "none")?);
    let sub = |key: &str, url: &str| {
        admin(reqwest::Method::POST, "/event/api/v1/subscriptions")
            .json(&serde_json::json!({"key": key, "url": url, "events": ["deployed"]}))
            .send()
    };
    let r = sub("silent", &black_hole()?)?;
    ensure!(r.status() == 201, "subscription: {}", r.text()?);
    let silent = summary(deploys(&client, &base, "silent")?);
    admin(reqwest::Method::DELETE, "/event/api/v1/subscriptions/silent").send()?;
    sub("fast", &fast()?)?;
    let answering = summary(deploys(&client, &base, "fast")?);
    admin(reqwest::Method::DELETE, "/event/api/v1/subscriptions/fast").send()?;
    let again = summary(deploys(&client, &base, "none-again")?);

    println!("{DEPLOYS} deploys of 1 KiB each, one client, µs:");
    println!("{:<34} {:>8} {:>8} {:>8}", "", "p50", "p90", "p99");
    for (name, s) in [
        ("no subscription", none),
        ("receiver never answers", silent),
        ("receiver answers at once", answering),
        ("no subscription (again)", again),
    ] {
        println!("{name:<34} {:>8.0} {:>8.0} {:>8.0}", s.0, s.1, s.2);
    }
    let base_p50 = (none.0 + again.0) / 2.0;
    println!(
        "p50 ratio vs no subscription: never answers {:.2}×, answers at once {:.2}×",
        silent.0 / base_p50,
        answering.0 / base_p50
    );
    Ok(())
}
