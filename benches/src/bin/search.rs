//! Search at scale: 1,000,000 files in 1,000 repositories (3 properties each, the
//! `maven.*` coordinates) and 100,000 build runs, seeded through the storage layer,
//! then served over HTTP. At 32 connections (`wrk`): AQL by exact name, by repository and
//! path prefix, by property, by sha256, by a created range with `limit(100)`, the
//! builds of one name, artifactory-cleanup's typical query, and the quick searches.
//! Also the start-up time and idle RSS with that data, and the latency of 1 KiB
//! deploys (3 properties) with the search index against a build without it.
//!
//! ```text
//! cargo build --release -p binyard
//! cp target/release/binyard target/release/binyard-unindexed-tmp   # see benches/README.md
//! cargo run --release -p binyard-benches --bin search -- [--split-cores] [--items N]
//!     [--data DIR] [--seed-only] [--binary PATH] [--unindexed PATH-TO-BINARY] [--seconds S]
//! ```
//!
//! `--data DIR` keeps the seeded data there and reuses it on the next run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use binyard::builds::model::{NameSummary, RunIndex, StoredRun, run_key};
use binyard::storage::{Change, Digests, Item, MetaStore, RecordWrite, RedbMeta};
use binyard_benches::{Binyard, Load, release_binary, summary, wrk_with};
use serde_json::json;

const REPOS: usize = 1000;
/// 2024-01-01T00:00:00Z; file i is created i seconds later.
const T0: i64 = 1_704_067_200_000;

fn arg(name: &str) -> Option<String> {
    let mut it = std::env::args();
    while let Some(a) = it.next() {
        if a == name {
            return it.next();
        }
    }
    None
}

fn digests(i: usize) -> Digests {
    let h = (i as u128 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
    Digests {
        sha256: format!("{h:032x}{:032x}", h.rotate_left(17)),
        sha1: format!("{:040x}", h >> 8),
        md5: format!("{:032x}", h.rotate_left(33)),
        size: 1024,
    }
}

/// File `i`: repository `i % 1000`, package `j % 50`, version `j / 50`.
fn file(i: usize) -> (String, String, Item) {
    let j = i / REPOS;
    let (pkg, ver) = (j % 50, j / 50);
    let path = format!("org/g{pkg}/a{i}/{ver}.0/a{i}-{ver}.0.jar");
    let props = [
        ("maven.groupId", format!("org.g{pkg}")),
        ("maven.artifactId", format!("a{i}")),
        ("maven.version", format!("{ver}.0")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), vec![v]))
    .collect();
    let at = T0 + i as i64 * 1000;
    let item = Item {
        blob: Some(digests(i)),
        created: at,
        modified: at,
        created_by: "seed".into(),
        modified_by: "seed".into(),
        mime: "application/java-archive".into(),
        props,
        ..Item::default()
    };
    (format!("r{:04}", i % REPOS), path, item)
}

fn seed(data: &Path, items: usize, builds: usize) -> anyhow::Result<()> {
    std::fs::create_dir_all(data)?;
    let meta = RedbMeta::open(&data.join("meta.redb"), 64 << 20)?;
    for r in 0..REPOS {
        let key = format!("r{r:04}");
        let cfg = json!({"key": key, "rclass": "local", "packageType": "generic"});
        meta.put_repo(&key, cfg.to_string().as_bytes())?;
    }
    let t = Instant::now();
    let batch = 5000;
    for start in (0..items).step_by(batch) {
        let changes: Vec<Change> = (start..(start + batch).min(items))
            .map(|i| {
                let (repo, path, item) = file(i);
                Change::Put {
                    repo,
                    path,
                    item: Box::new(item),
                }
            })
            .collect();
        meta.apply(&changes)?;
        if (start / batch) % 20 == 0 {
            eprintln!("seeded {start} files ({:.0} s)", t.elapsed().as_secs_f64());
        }
    }
    eprintln!("seeded {items} files in {:.0} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let names = 1000;
    for start in (0..builds).step_by(batch) {
        let mut changes = Vec::new();
        for k in start..(start + batch).min(builds) {
            let (name, number) = (format!("build-{}", k % names), (k / names).to_string());
            let started_ms = T0 + k as i64 * 60_000;
            let started = binyard::clock::iso8601(started_ms);
            let arts: Vec<_> = (0..2)
                .map(|n| {
                    let i = (k * 2 + n) % items.max(1);
                    json!({"name": format!("a{i}.jar"), "sha1": digests(i).sha1})
                })
                .collect();
            let body = json!({"name": name, "number": number, "started": started,
                "modules": [{"id": format!("m{k}"), "artifacts": arts}]});
            let key = run_key(&name, &number, started_ms);
            let run = StoredRun {
                build_info: body,
                statuses: Vec::new(),
                published_by: "seed".into(),
                published_at: started_ms,
            };
            let index = RunIndex {
                number: number.clone(),
                started: started.clone(),
                started_ms,
            };
            let summary = NameSummary {
                last_started: started,
                last_started_ms: started_ms,
                runs: (k / names + 1) as u64,
            };
            for (kind, key, v) in [
                ("build", key.clone(), serde_json::to_vec(&run)?),
                ("build-run", key, serde_json::to_vec(&index)?),
                ("build-name", name, serde_json::to_vec(&summary)?),
            ] {
                changes.push(Change::Record(RecordWrite {
                    kind,
                    key,
                    value: Some(v),
                }));
            }
        }
        meta.apply(&changes)?;
    }
    eprintln!("seeded {builds} build runs in {:.0} s", t.elapsed().as_secs_f64());
    std::fs::write(data.join("seeded"), format!("{items} {builds}"))?;
    Ok(())
}

/// A line of `/proc/PID/status` in KiB (`VmRSS`, `RssAnon`, `RssFile`).
fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    s.lines()
        .find_map(|l| l.strip_prefix(field).and_then(|l| l.strip_prefix(':')))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no {field}"))
}

/// `VmRSS` with its parts: anonymous memory (heap, redb's cache) and file pages
/// (the mapped binary; redb reads its file with `pread`, it does not map it).
fn rss_line(pid: u32) -> anyhow::Result<(f64, String)> {
    let mib = |f| status_kib(pid, f).map(|k| k as f64 / 1024.0);
    let rss = mib("VmRSS")?;
    Ok((
        rss,
        format!(
            "{rss:.1} MiB (anonymous {:.1} MiB, file {:.1} MiB)",
            mib("RssAnon")?,
            mib("RssFile")?
        ),
    ))
}

fn start(bin: &Path, dir: &Path, data: &Path, plugins: &Path) -> anyhow::Result<(Binyard, Duration)> {
    let cfg = dir.join(format!(
        "binyard-{}.toml",
        bin.file_name().and_then(|n| n.to_str()).unwrap_or("b")
    ));
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\ndata_dir = \"{}\"\n[plugins]\ndir = \"{}\"\n\
             [security]\nanonymous_access = true\n[gc]\ninterval_minutes = 0\n",
            data.display(),
            plugins.display()
        ),
    )?;
    let t = Instant::now();
    let b = Binyard::start(bin, &cfg, "warn")?;
    Ok((b, t.elapsed()))
}

fn lua_post(dir: &Path, name: &str, body: &str) -> anyhow::Result<PathBuf> {
    let p = dir.join(format!("{name}.lua"));
    std::fs::write(
        &p,
        format!(
            "wrk.method = \"POST\"\nwrk.body = {}\nwrk.headers[\"Content-Type\"] = \"text/plain\"\n",
            serde_json::Value::from(body)
        ),
    )?;
    Ok(p)
}

/// Median of `runs` deploy latencies (1 KiB, three properties), in microseconds.
fn deploys(server: &Binyard, tag: &str, n: usize) -> anyhow::Result<Vec<Duration>> {
    let client = reqwest::blocking::Client::new();
    let body = vec![7u8; 1024];
    let mut out = Vec::with_capacity(n);
    for k in 0..n {
        let path = format!(
            "/artifactory/r0001/deploy/{tag}/f{k}.bin;maven.groupId=org.d;maven.artifactId=d{k};maven.version=1.0"
        );
        let mut b = body.clone();
        b[..8].copy_from_slice(&(k as u64).to_le_bytes());
        b[8] = tag.len() as u8;
        let t = Instant::now();
        let r = server.admin(&client, reqwest::Method::PUT, &path).body(b).send()?;
        anyhow::ensure!(r.status().as_u16() == 201, "deploy {path}: {}", r.status());
        out.push(t.elapsed());
    }
    Ok(out)
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--split-cores") {
        binyard_benches::split_cores();
    }
    let items: usize = arg("--items").map_or(Ok(1_000_000), |v| v.parse())?;
    let builds: usize = arg("--builds").map_or(Ok(100_000), |v| v.parse())?;
    let seconds: u32 = arg("--seconds").map_or(Ok(10), |v| v.parse())?;
    let tmp = tempfile::tempdir()?;
    let data = arg("--data").map_or_else(|| tmp.path().join("data"), PathBuf::from);
    let seeded = std::fs::read_to_string(data.join("seeded")).unwrap_or_default();
    if seeded != format!("{items} {builds}") {
        let _ = std::fs::remove_dir_all(&data);
        seed(&data, items, builds)?;
    }
    if std::env::args().any(|a| a == "--seed-only") {
        return Ok(());
    }
    let plugins = tmp.path().join("plugins");
    std::fs::create_dir_all(&plugins)?;
    // gavc and latestVersion search the coordinates the Maven plugin declares.
    let maven = binyard_benches::root().join("target/plugins/maven.wasm");
    anyhow::ensure!(maven.exists(), "{} missing: cargo xtask plugins", maven.display());
    std::fs::copy(&maven, plugins.join("maven.wasm"))?;
    // `--binary PATH`: another build of the server (default target/release/binyard).
    let bin = match arg("--binary") {
        Some(p) => PathBuf::from(p),
        None => release_binary()?,
    };
    // Start-up (the first start after seeding also creates the admin user).
    start(&bin, tmp.path(), &data, &plugins)?.0.stop()?;
    let (server, startup) = start(&bin, tmp.path(), &data, &plugins)?;
    std::thread::sleep(Duration::from_secs(3));
    let (_, idle) = rss_line(server.pid())?;
    println!("## search benchmark: {items} files in {REPOS} repositories, {builds} build runs\n");
    println!(
        "start-up {:.0} ms (target < 2000), idle RSS 3 s after start {idle} (target < 64 MiB)\n",
        startup.as_secs_f64() * 1000.0,
    );
    let probe = items / 2 + 457;
    let (repo, path, item) = file(probe);
    let name = path.rsplit('/').next().unwrap_or_default().to_string();
    let parent_prefix = path.split('/').take(2).collect::<Vec<_>>().join("/");
    let blob = item.blob.clone().unwrap_or_default();
    let created = binyard::clock::iso8601(T0 + probe as i64 * 1000);
    let cutoff = binyard::clock::iso8601(T0 + (items as i64 / 2) * 1000);
    let aql: Vec<(&str, String)> = vec![
        ("AQL exact name", format!(r#"items.find({{"name":"{name}"}})"#)),
        (
            "AQL repo + path prefix",
            format!(r#"items.find({{"repo":"{repo}","path":{{"$match":"{parent_prefix}/*"}}}})"#),
        ),
        (
            "AQL property",
            format!(r#"items.find({{"@maven.artifactId":"a{probe}"}})"#),
        ),
        ("AQL sha256", format!(r#"items.find({{"sha256":"{}"}})"#, blob.sha256)),
        (
            "AQL created range, limit 100",
            format!(r#"items.find({{"created":{{"$gt":"{created}"}}}}).limit(100)"#),
        ),
        (
            "AQL builds of one name",
            r#"builds.find({"name":"build-42"})"#.to_string(),
        ),
        (
            "AQL artifactory-cleanup (repo, older than, *, property, stat)",
            format!(
                r#"items.find({{"$and": [{{"repo": {{"$eq": "{repo}"}}}}, {{"created": {{"$lt": "{cutoff}"}}}}]}}).include("*", "property", "stat")"#
            ),
        ),
    ];
    let base = server.base.clone();
    let quick: Vec<(&str, String)> = vec![
        (
            "artifact?name=",
            format!("/artifactory/api/search/artifact?name={name}"),
        ),
        (
            "prop?k=v",
            format!("/artifactory/api/search/prop?maven.artifactId=a{probe}"),
        ),
        (
            "checksum?sha256=",
            format!("/artifactory/api/search/checksum?sha256={}", blob.sha256),
        ),
        (
            "checksum?sha1=",
            format!("/artifactory/api/search/checksum?sha1={}", blob.sha1),
        ),
        (
            "checksum?md5=",
            format!("/artifactory/api/search/checksum?md5={}", blob.md5),
        ),
        (
            "gavc",
            format!(
                "/artifactory/api/search/gavc?g=org.g{}&a=a{probe}",
                (probe / REPOS) % 50
            ),
        ),
        (
            "latestVersion",
            format!(
                "/artifactory/api/search/latestVersion?g=org.g{}&a=a{probe}",
                (probe / REPOS) % 50
            ),
        ),
        (
            "creation (100 s window)",
            format!(
                "/artifactory/api/search/creation?from={}&to={}",
                T0 + probe as i64 * 1000,
                T0 + probe as i64 * 1000 + 99_999
            ),
        ),
        (
            "dates (created, 100 s window)",
            format!(
                "/artifactory/api/search/dates?dateFields=created&from={}&to={}",
                T0 + probe as i64 * 1000,
                T0 + probe as i64 * 1000 + 99_999
            ),
        ),
        (
            "pattern repo:prefix/**",
            format!("/artifactory/api/search/pattern?pattern={repo}:{parent_prefix}/**"),
        ),
        (
            "usage (one repository)",
            format!(
                "/artifactory/api/search/usage?notUsedSince={}&repos={repo}",
                T0 + 10_000_000
            ),
        ),
    ];
    println!("| query (32 connections, {seconds} s) | results | req/s | p50 ms | p99 ms | target p99 < 20 ms |");
    println!("|---|---|---|---|---|---|");
    let client = reqwest::blocking::Client::new();
    let show = |label: &str, n: usize, l: Load| {
        let met = if l.p99_ms < 20.0 { "met" } else { "**not met**" };
        println!(
            "| {label} | {n} | {:.0} | {:.2} | {:.2} | {met} |",
            l.rps, l.p50_ms, l.p99_ms
        );
    };
    for (label, q) in &aql {
        let r = client
            .post(format!("{base}/artifactory/api/search/aql"))
            .body(q.clone())
            .send()?;
        anyhow::ensure!(r.status().is_success(), "{label}: {}", r.status());
        let v: serde_json::Value = r.json()?;
        let n = v["results"].as_array().map_or(0, Vec::len);
        let script = lua_post(tmp.path(), &label.replace(|c: char| !c.is_ascii_alphanumeric(), "_"), q)?;
        let l = wrk_with(
            &format!("{base}/artifactory/api/search/aql"),
            2,
            32,
            seconds,
            &[],
            Some(&script),
        )?;
        show(label, n, l);
    }
    for (label, q) in &quick {
        let r = client.get(format!("{base}{q}")).send()?;
        anyhow::ensure!(r.status().is_success(), "{label}: {}", r.status());
        let text = r.text()?;
        // JSON lists of results or files; latestVersion answers one version as text.
        let n = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .filter(serde_json::Value::is_object)
            .map_or(1, |v| {
                v["results"].as_array().or(v["files"].as_array()).map_or(0, Vec::len)
            });
        let l = wrk_with(&format!("{base}{q}"), 2, 32, seconds, &[], None)?;
        show(label, n, l);
    }
    std::thread::sleep(Duration::from_secs(3));
    println!("\nRSS idle after the queries: {}", rss_line(server.pid())?.1);
    server.stop()?;
    // Deploy latency: with the index (this build) and without (a build with the
    // `unindexed-bench` feature), alternately, on the same data.
    let Some(unindexed) = arg("--unindexed").map(PathBuf::from) else {
        println!("\n(no --unindexed binary given: deploy latency not compared)");
        return Ok(());
    };
    let rounds = 5;
    let per = 200;
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for (b, out) in [(&bin, &mut with), (&unindexed, &mut without)] {
            let (s, _) = start(b, tmp.path(), &data, &plugins)?;
            let tag = format!("{}-{round}", if std::ptr::eq(b, &bin) { "ix" } else { "plain" });
            deploys(&s, &tag, 20)?; // warm-up
            out.extend(deploys(&s, &format!("{tag}-m"), per)?);
            s.stop()?;
        }
    }
    let (wp50, _, wp99, wmean) = summary(with);
    let (np50, _, np99, nmean) = summary(without);
    println!(
        "\n| 1 KiB deploy, 3 properties ({} each) | p50 ms | p99 ms | mean ms |",
        rounds * per
    );
    println!("|---|---|---|---|");
    println!(
        "| with the search index | {:.2} | {:.2} | {:.2} |",
        wp50 / 1e3,
        wp99 / 1e3,
        wmean / 1e3
    );
    println!(
        "| without (unindexed-bench build) | {:.2} | {:.2} | {:.2} |",
        np50 / 1e3,
        np99 / 1e3,
        nmean / 1e3
    );
    println!(
        "| ratio | {:.2}× | {:.2}× | {:.2}× (target ≤ 1.2×) |",
        wp50 / np50,
        wp99 / np99,
        wmean / nmean
    );
    Ok(())
}
