//! The UI's tree page on a large folder: deploys 100,000 small files into one folder,
//! then times the request the tree page makes for its first page
//! (`GET /api/storage/{repo}/{folder}?limit=100`) and a page deep inside the folder
//! (`&after=`). The reference in the same run: the whole folder listing Artifactory's
//! folder info answers (every child), which is what a UI without paging would load.
//!
//! `cargo build --release -p binyard && cargo run --release -p binyard-benches --bin tree_page`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::ensure;
use binyard_benches::{Binyard, summary};
use serde_json::json;

const FILES: usize = 100_000;
const THREADS: usize = 16;
const ROUNDS: usize = 50;

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins)?;
    let server = Binyard::in_dir(dir.path(), &plugins, "", "error")?;
    let client = reqwest::blocking::Client::new();
    let admin = |m: reqwest::Method, p: &str| server.admin(&client, m, p);
    admin(reqwest::Method::PUT, "/artifactory/api/repositories/big")
        .json(&json!({"rclass": "local", "packageType": "generic"}))
        .send()?;

    let started = Instant::now();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| -> anyhow::Result<()> {
                    let c = reqwest::blocking::Client::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= FILES {
                            return Ok(());
                        }
                        let r = server
                            .admin(
                                &c,
                                reqwest::Method::PUT,
                                &format!("/artifactory/big/folder/file-{i:06}.txt"),
                            )
                            .body(format!("file {i}\n"))
                            .send()?;
                        ensure!(r.status().as_u16() == 201, "deploy {i}: {}", r.status());
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().map_err(|_| anyhow::anyhow!("a deploy thread panicked"))??;
        }
        Ok(())
    })?;
    println!(
        "deployed {FILES} files into one folder in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let time = |path: &str, rounds: usize| -> anyhow::Result<(Vec<Duration>, usize)> {
        let mut d = Vec::new();
        let mut children = 0;
        for _ in 0..rounds {
            let t = Instant::now();
            let r = admin(reqwest::Method::GET, path).send()?;
            ensure!(r.status().is_success(), "{path}: {}", r.status());
            let v: serde_json::Value = r.json()?;
            d.push(t.elapsed());
            children = v["children"].as_array().map_or(0, Vec::len);
        }
        Ok((d, children))
    };
    let (first, n1) = time("/artifactory/api/storage/big/folder?limit=100", ROUNDS)?;
    ensure!(n1 == 100, "the first page has {n1} children");
    let (deep, n2) = time(
        "/artifactory/api/storage/big/folder?limit=100&after=file-090000.txt",
        ROUNDS,
    )?;
    ensure!(n2 == 100, "the deep page has {n2} children");
    let (whole, n3) = time("/artifactory/api/storage/big/folder", 5)?;
    ensure!(n3 == FILES, "the whole listing has {n3} children");

    // summary() answers microseconds: p50, p90, p99, mean.
    let ms = |d: Vec<Duration>| {
        let (p50, _, p99, _) = summary(d);
        (p50 / 1000.0, p99 / 1000.0)
    };
    let (f50, f99) = ms(first);
    let (d50, d99) = ms(deep);
    let (w50, w99) = ms(whole);
    println!("| request | p50 ms | p99 ms | vs whole listing (p50) | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| first page (`?limit=100`) | {f50:.2} | {f99:.2} | {:.0}× faster | < 100 ms {} |",
        w50 / f50,
        if f99 < 100.0 { "met" } else { "**not met**" }
    );
    println!(
        "| page after 90,000 (`&after=`) | {d50:.2} | {d99:.2} | {:.0}× faster | < 100 ms {} |",
        w50 / d50,
        if d99 < 100.0 { "met" } else { "**not met**" }
    );
    println!("| whole folder ({FILES} children, reference) | {w50:.1} | {w99:.1} | 1× | — |");
    Ok(())
}
