//! The merged npm packument of a virtual repository of two local ones (250
//! versions in each, 500 merged) vs nginx serving the very bytes binyard answered,
//! and vs the packument of one local repository of the same size, for context.
//!
//! `wrk` at 32 connections, binyard and nginx alternately 3 × 5 s (medians).
//! Target: ≥ 0.7× nginx. `--split-cores`: servers on core 0, `wrk` on core 1.
//!
//! Needs nginx and wrk (`apt-get install -y nginx wrk`) and
//! `cargo build --release -p binyard -p binyard-benches && cargo xtask plugins`.

use anyhow::{Context, ensure};
use binyard_benches::npm::{self, PACKAGE};
use binyard_benches::{Binyard, median_load, nginx, root, wrk};
use serde_json::json;

/// Versions in each member.
const PER_MEMBER: usize = 250;
const ROUNDS: usize = 3;
const PAIRED_SECONDS: u32 = 5;
const CONNS: u32 = 32;
const ACCEPT: &str = "Accept: application/json";

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let work = dir.path();
    let plugins = work.join("plugins");
    std::fs::create_dir_all(&plugins)?;
    let wasm = root().join("target/plugins/npm.wasm");
    ensure!(wasm.exists(), "{} missing: cargo xtask plugins", wasm.display());
    std::fs::copy(&wasm, plugins.join("npm.wasm"))?;
    if std::env::args().any(|a| a == "--split-cores") {
        binyard_benches::split_cores();
    }
    let server = Binyard::in_dir(
        work,
        &plugins,
        "answer_cache_mib = 64\n[security]\nanonymous_access = true\n",
        "error",
    )?;
    let base = server.base.clone();
    let client = reqwest::blocking::Client::new();
    let admin = |m: reqwest::Method, p: &str| server.admin(&client, m, p);
    for (key, cfg) in [
        ("npm-a", json!({"rclass": "local", "packageType": "npm"})),
        ("npm-b", json!({"rclass": "local", "packageType": "npm"})),
        ("npm-all", json!({"rclass": "local", "packageType": "npm"})),
        (
            "npm-v",
            json!({"rclass": "virtual", "packageType": "npm", "repositories": ["npm-a", "npm-b"]}),
        ),
    ] {
        let r = admin(reqwest::Method::PUT, &format!("/artifactory/api/repositories/{key}"))
            .json(&cfg)
            .send()?;
        ensure!(r.status().is_success(), "create {key}: {}", r.text()?);
    }

    eprintln!("publishing {PER_MEMBER} versions to each member (and all of them to npm-all)…");
    let npm_work = work.join("npm");
    for i in 0..2 * PER_MEMBER {
        let member = if i < PER_MEMBER { "npm-a" } else { "npm-b" };
        let v = format!("{}.{}.{}", 1 + i / PER_MEMBER, (i % PER_MEMBER) / 100, i % 100);
        let tgz = npm::tarball(&npm_work, &v)?;
        for repo in [member, "npm-all"] {
            let body = npm::publish_body(&v, &tgz, &format!("{base}/artifactory/api/npm/{repo}"));
            let r = admin(reqwest::Method::PUT, &format!("/artifactory/api/npm/{repo}/{PACKAGE}"))
                .json(&body)
                .send()?;
            ensure!(r.status().is_success(), "publish {v} to {repo}: {}", r.text()?);
        }
    }

    let merged_url = format!("{base}/artifactory/api/npm/npm-v/{PACKAGE}");
    let local_url = format!("{base}/artifactory/api/npm/npm-all/{PACKAGE}");
    let merged = client.get(&merged_url).header("Accept", "application/json").send()?;
    ensure!(merged.status() == 200, "merged packument: {}", merged.status());
    let bytes = merged.bytes()?;
    let doc: serde_json::Value = serde_json::from_slice(&bytes)?;
    let versions = doc["versions"].as_object().context("versions")?.len();
    ensure!(versions == 2 * PER_MEMBER, "{versions} versions merged");
    eprintln!("merged packument: {} bytes, {versions} versions", bytes.len());
    let www = work.join("www");
    std::fs::create_dir_all(&www)?;
    std::fs::write(www.join("npm.json"), &bytes)?;
    let (_nginx, nport) = nginx(&www, work)?;
    let nginx_url = format!("http://127.0.0.1:{nport}/npm.json");
    ensure!(
        client.get(&nginx_url).send()?.bytes()? == bytes,
        "nginx serves other bytes"
    );

    let (mut v, mut n, mut l) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        v.push(wrk(&merged_url, 2, CONNS, PAIRED_SECONDS, &[ACCEPT])?);
        n.push(wrk(&nginx_url, 2, CONNS, PAIRED_SECONDS, &[ACCEPT])?);
        l.push(wrk(&local_url, 2, CONNS, PAIRED_SECONDS, &[ACCEPT])?);
    }
    let (v, n, l) = (median_load(&v), median_load(&n), median_load(&l));
    println!(
        "npm packument, {} versions ({} KB), {CONNS} connections, {} cores{}",
        2 * PER_MEMBER,
        bytes.len() / 1000,
        std::thread::available_parallelism()?,
        if binyard_benches::cores_split() {
            " (servers on core 0, wrk on core 1)"
        } else {
            ""
        }
    );
    println!(
        "{:<34} {:>10} {:>8} {:>8} {:>8}",
        "", "req/s", "p50 ms", "p99 ms", "vs nginx"
    );
    for (what, load) in [
        ("binyard, virtual of 2 locals", v),
        ("binyard, one local (same versions)", l),
        ("nginx, the merged bytes", n),
    ] {
        println!(
            "{what:<34} {:>10.0} {:>8.2} {:>8.2} {:>7.2}×",
            load.rps,
            load.p50_ms,
            load.p99_ms,
            load.rps / n.rps
        );
    }
    Ok(())
}
