//! Builds at scale: publishes 10,000 runs of one build (a 1.6 KiB build-info each),
//! lists them, reads one, and runs Artifactory build retention (`count = 100`) over
//! them through the `retention_builds` plugin, dry and for real. The reference in
//! the same run: deploying the very same JSON bytes as a plain file.
//!
//! `cargo build --release -p binyard && cargo xtask plugins && cargo run --release -p binyard-benches --bin builds`

use std::time::{Duration, Instant};

use anyhow::ensure;
use binyard_benches::{Binyard, root, summary};
use serde_json::{Value, json};

const RUNS: usize = 10_000;
const REFERENCE: usize = 2_000;
const NAME: &str = "bench-app";

fn body(i: usize) -> Value {
    // One run a minute from 2024-01-01.
    let started = binyard::clock::iso8601(1_704_067_200_000 + i as i64 * 60_000);
    let sha = |k: usize| format!("{:040x}", (i * 31 + k) as u128 * 0x9e37_79b9_7f4a_7c15);
    json!({
        "version": "1.0.1", "name": NAME, "number": i.to_string(), "started": started,
        "type": "GENERIC", "durationMillis": 65_000, "principal": "ci",
        "agent": {"name": "bench", "version": "1"}, "buildAgent": {"name": "GENERIC", "version": "1"},
        "vcs": [{"url": "https://git.example/app", "revision": sha(99)}],
        "properties": {"buildInfo.env.JOB": "nightly", "buildInfo.env.RUN": i.to_string()},
        "modules": [{
            "id": format!("org.example:app:{i}"),
            "artifacts": (0..3).map(|k| json!({"type": "jar", "name": format!("app-{i}-{k}.jar"), "sha1": sha(k)})).collect::<Vec<_>>(),
            "dependencies": (0..5).map(|k| json!({"type": "jar", "id": format!("org.dep:lib{k}:1.0"), "sha1": sha(10 + k), "scopes": ["compile"]})).collect::<Vec<_>>(),
        }],
    })
}

fn timed<T>(f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(T, Duration)> {
    let t = Instant::now();
    let v = f()?;
    Ok((v, t.elapsed()))
}

fn main() -> anyhow::Result<()> {
    let policy = root().join("target/plugins/retention_builds.wasm");
    ensure!(
        policy.exists(),
        "{} missing: run `cargo xtask plugins`",
        policy.display()
    );
    let dir = tempfile::tempdir()?;
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins)?;
    std::fs::copy(&policy, plugins.join("retention_builds.wasm"))?;
    let server = Binyard::in_dir(dir.path(), &plugins, "", "error")?;
    let client = reqwest::blocking::Client::new();
    let admin = |m: reqwest::Method, p: &str| server.admin(&client, m, p);
    admin(reqwest::Method::PUT, "/artifactory/api/repositories/libs")
        .json(&json!({"rclass": "local", "packageType": "generic"}))
        .send()?;
    let size = body(0).to_string().len();

    // Reference: the same bytes as plain files.
    let mut reference = Vec::with_capacity(REFERENCE);
    for i in 0..REFERENCE {
        let b = body(i).to_string();
        let t = Instant::now();
        let r = admin(reqwest::Method::PUT, &format!("/artifactory/libs/bi/{i}.json"))
            .body(b)
            .send()?;
        ensure!(r.status() == 201, "deploy: {}", r.status());
        reference.push(t.elapsed());
    }

    let mut publish = Vec::with_capacity(RUNS);
    let all = Instant::now();
    for i in 0..RUNS {
        let b = body(i).to_string();
        let t = Instant::now();
        let r = admin(reqwest::Method::PUT, "/artifactory/api/build")
            .header("Content-Type", "application/json")
            .body(b)
            .send()?;
        ensure!(r.status() == 204, "publish {i}: {} {}", r.status(), r.text()?);
        publish.push(t.elapsed());
    }
    let publish_total = all.elapsed();

    let mut list = Vec::new();
    let mut listed = 0;
    for _ in 0..20 {
        let (v, d) = timed(|| {
            Ok(admin(reqwest::Method::GET, &format!("/artifactory/api/build/{NAME}"))
                .send()?
                .json::<Value>()?)
        })?;
        listed = v["buildsNumbers"].as_array().map_or(0, Vec::len);
        list.push(d);
    }
    ensure!(listed == RUNS, "listed {listed} runs");
    let mut names = Vec::new();
    for _ in 0..20 {
        names.push(timed(|| Ok(admin(reqwest::Method::GET, "/artifactory/api/build").send()?.bytes()?))?.1);
    }
    let mut one = Vec::new();
    for i in 0..500 {
        let (r, d) = timed(|| {
            Ok(admin(
                reqwest::Method::GET,
                &format!("/artifactory/api/build/{NAME}/{}", i * 17 % RUNS),
            )
            .send()?)
        })?;
        ensure!(r.status() == 200);
        one.push(d);
    }

    let retention = json!({"count": 100, "deleteBuildArtifacts": false});
    let (dry, dry_time) = timed(|| {
        Ok(admin(
            reqwest::Method::POST,
            &format!("/artifactory/api/build/retention/{NAME}?dryRun=1"),
        )
        .json(&retention)
        .send()?
        .json::<Value>()?)
    })?;
    ensure!(dry["deleted"] == RUNS - 100, "dry run: {}", dry["deleted"]);
    let (real, real_time) = timed(|| {
        Ok(admin(
            reqwest::Method::POST,
            &format!("/artifactory/api/build/retention/{NAME}"),
        )
        .json(&retention)
        .send()?
        .json::<Value>()?)
    })?;
    ensure!(real["deleted"] == RUNS - 100, "real run: {}", real["deleted"]);
    let left = admin(reqwest::Method::GET, &format!("/artifactory/api/build/{NAME}"))
        .send()?
        .json::<Value>()?["buildsNumbers"]
        .as_array()
        .map_or(0, Vec::len);
    ensure!(left == 100, "{left} runs left");

    let ms = |us: f64| us / 1000.0;
    let (p, r) = (summary(publish), summary(reference));
    println!("build-info of {size} bytes; {RUNS} runs of one build, one client");
    println!(
        "publish:            {:>8.0} runs/s  p50 {:.2} ms  p99 {:.2} ms  (total {:.1} s)",
        RUNS as f64 / publish_total.as_secs_f64(),
        ms(p.0),
        ms(p.2),
        publish_total.as_secs_f64()
    );
    println!(
        "reference deploy:   same bytes as a file  p50 {:.2} ms  p99 {:.2} ms",
        ms(r.0),
        ms(r.2)
    );
    println!("publish / deploy p50: {:.2}×", p.0 / r.0);
    let l = summary(list);
    println!("list {RUNS} runs:     p50 {:.1} ms  p99 {:.1} ms", ms(l.0), ms(l.2));
    let n = summary(names);
    println!("list build names:   p50 {:.2} ms", ms(n.0));
    let o = summary(one);
    println!("get one run:        p50 {:.2} ms  p99 {:.2} ms", ms(o.0), ms(o.2));
    println!(
        "retention count=100 over {RUNS} runs: dry run {:.0} ms, real run {:.0} ms ({} runs deleted)",
        dry_time.as_secs_f64() * 1e3,
        real_time.as_secs_f64() * 1e3,
        real["deleted"]
    );
    Ok(())
}
