//! Remote (proxy-cache) repositories: the first fetch of a 100 MiB file through a
//! generic remote repository whose upstream is nginx, against downloading it from
//! nginx directly (whole time and time to first byte); then a cache hit of that
//! file against a download of the same bytes from a local repository.
//!
//! Each measure alternates the two sides, `ROUNDS` times, and prints medians.
//! Between first fetches the cached copy is deleted (`DELETE {remote}/{file}`), so
//! every round asks the upstream, hashes, writes and records the file again.
//! Targets: first fetch ≤ 1.2× direct, time to first byte ≤ 1.2× direct, cache
//! hit ≥ 0.9× local.
//!
//! Needs nginx (`apt-get install -y nginx`) and
//! `cargo build --release -p binyard -p binyard-benches`. `--split-cores` puts the
//! servers (nginx, binyard) on core 0; the client (this process) is not pinned.

use std::io::Read;
use std::time::{Duration, Instant};

use anyhow::ensure;
use binyard_benches::{Binyard, nginx};
use reqwest::blocking::Client;
use serde_json::json;

const SIZE: usize = 100 << 20;
const ROUNDS: usize = 5;
const FILE: &str = "big.bin";

/// One download: whole time, time to the first body byte, bytes.
fn download(client: &Client, url: &str, auth: bool) -> anyhow::Result<(Duration, Duration, usize)> {
    let start = Instant::now();
    let mut req = client.get(url);
    if auth {
        req = req.basic_auth("admin", Some("password"));
    }
    let mut resp = req.send()?;
    ensure!(resp.status().is_success(), "GET {url}: {}", resp.status());
    let mut buf = vec![0u8; 1 << 20];
    let (mut total, mut first) = (0usize, None);
    loop {
        let n = resp.read(&mut buf)?;
        if n == 0 {
            break;
        }
        first.get_or_insert_with(|| start.elapsed());
        total += n;
    }
    Ok((start.elapsed(), first.unwrap_or_default(), total))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--split-cores") {
        binyard_benches::split_cores();
    }
    let dir = tempfile::tempdir()?;
    let work = dir.path();
    let www = work.join("www");
    std::fs::create_dir_all(&www)?;
    // Incompressible bytes (a simple xorshift), so nothing is cheaper than real content.
    let mut data = vec![0u8; SIZE];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    std::fs::write(www.join(FILE), &data)?;
    let nginx_dir = work.join("nginx");
    std::fs::create_dir_all(&nginx_dir)?;
    let (_nginx, port) = nginx(&www, &nginx_dir)?;
    let upstream = format!("http://127.0.0.1:{port}");

    let plugins = work.join("plugins");
    std::fs::create_dir_all(&plugins)?;
    let server = Binyard::in_dir(work, &plugins, "", "error")?;
    let client = Client::builder().timeout(Duration::from_secs(600)).build()?;
    for (key, cfg) in [
        ("local", json!({"rclass": "local", "packageType": "generic"})),
        (
            "remote",
            json!({"rclass": "remote", "packageType": "generic", "url": upstream}),
        ),
    ] {
        let r = server
            .admin(
                &client,
                reqwest::Method::PUT,
                &format!("/artifactory/api/repositories/{key}"),
            )
            .json(&cfg)
            .send()?;
        ensure!(r.status().is_success(), "create {key}: {}", r.text()?);
    }
    let r = server
        .admin(&client, reqwest::Method::PUT, &format!("/artifactory/local/{FILE}"))
        .body(data.clone())
        .send()?;
    ensure!(r.status().is_success(), "deploy: {}", r.text()?);
    drop(data);

    let direct_url = format!("{upstream}/{FILE}");
    let remote_url = format!("{}/artifactory/remote/{FILE}", server.base);
    let local_url = format!("{}/artifactory/local/{FILE}", server.base);
    // Warm-up: page cache, connections, the remote's state.
    download(&client, &direct_url, false)?;
    download(&client, &local_url, true)?;

    let (mut direct, mut direct_ttfb, mut first, mut first_ttfb) = (vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        let (t, f, n) = download(&client, &direct_url, false)?;
        ensure!(n == SIZE, "direct: {n} bytes");
        direct.push(t);
        direct_ttfb.push(f);
        let (t, f, n) = download(&client, &remote_url, true)?;
        ensure!(n == SIZE, "first fetch: {n} bytes");
        first.push(t);
        first_ttfb.push(f);
        eprintln!(
            "round {round}: direct {:.1} ms, first fetch {:.1} ms",
            ms(direct[round]),
            ms(first[round])
        );
        // Wait until the fetch is recorded (the client may finish before the store),
        // then drop the cached copy so the next round fetches again.
        let cached = format!("/artifactory/api/storage/remote-cache/{FILE}");
        for _ in 0..600 {
            let r = server.admin(&client, reqwest::Method::GET, &cached).send()?;
            if r.status().is_success() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if round + 1 < ROUNDS {
            let r = server
                .admin(
                    &client,
                    reqwest::Method::DELETE,
                    &format!("/artifactory/remote-cache/{FILE}"),
                )
                .send()?;
            ensure!(r.status().is_success(), "delete cached copy: {}", r.status());
        }
    }

    let (mut hit, mut local) = (vec![], vec![]);
    for _ in 0..ROUNDS {
        let (t, _, n) = download(&client, &remote_url, true)?;
        ensure!(n == SIZE, "cache hit: {n} bytes");
        hit.push(t);
        let (t, _, n) = download(&client, &local_url, true)?;
        ensure!(n == SIZE, "local: {n} bytes");
        local.push(t);
    }

    let mib = SIZE as f64 / f64::from(1u32 << 20);
    let rate = |d: Duration| mib / d.as_secs_f64();
    let (d, df, f, ff) = (median(direct), median(direct_ttfb), median(first), median(first_ttfb));
    let (h, l) = (median(hit), median(local));
    println!("| measure (100 MiB, medians of {ROUNDS}) | binyard | reference | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| first fetch through a remote, whole file | {:.1} ms | nginx directly {:.1} ms | {:.2}× the time | ≤ 1.2× |",
        ms(f),
        ms(d),
        f.as_secs_f64() / d.as_secs_f64()
    );
    println!(
        "| first fetch, time to first byte | {:.2} ms | nginx directly {:.2} ms | {:.2}× the time | ≤ 1.2× |",
        ms(ff),
        ms(df),
        ff.as_secs_f64() / df.as_secs_f64().max(1e-9)
    );
    println!(
        "| cache hit (MiB/s) | {:.0} | local repository {:.0} | {:.2}× | ≥ 0.9× |",
        rate(h),
        rate(l),
        rate(h) / rate(l)
    );
    server.stop()
}
