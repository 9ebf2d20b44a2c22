//! The Docker/OCI registry (the `docker` plugin) against the distribution registry
//! (`docker-registry`, Debian) and nginx, on the same content, in one run:
//! - a manifest GET by tag at 32 connections with `wrk` (targets ≥ 10× distribution
//!   and ≥ 0.7× nginx serving the very bytes);
//! - a 100 MiB layer pull, 1 connection (target ≥ 0.9× nginx);
//! - a 1 GiB layer push, monolithic (POST, then one PUT with the body) and in 10 MiB
//!   chunks (PATCH…, PUT `?digest=`), reported beside distribution's.
//!
//! Needs `nginx`, `wrk` and `docker-registry` (`apt-get install -y nginx wrk
//! docker-registry`), `cargo xtask plugins` and a release build:
//! `cargo build --release -p binyard -p binyard-benches && target/release/docker_registry [--split-cores]`

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use binyard_benches::{Binyard, Killed, free_port, nginx, root, server_command, wait_for_port, wrk};
use serde_json::json;
use sha2::{Digest, Sha256};

const SECONDS: u32 = 8;
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const CHUNK: usize = 10 << 20;

/// A registry to push to: its `/v2/` root (binyard's has the repository key in it).
struct Target {
    v2: String,
    auth: Option<(&'static str, &'static str)>,
}

impl Target {
    fn req(&self, c: &reqwest::blocking::Client, m: reqwest::Method, url: &str) -> reqwest::blocking::RequestBuilder {
        let r = c.request(m, url);
        match self.auth {
            Some((u, p)) => r.basic_auth(u, Some(p)),
            None => r,
        }
    }

    /// The absolute URL of a `Location` answer.
    fn absolute(&self, loc: &str) -> String {
        if loc.starts_with("http") {
            return loc.to_string();
        }
        let origin: String = self.v2.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
        format!("{origin}{loc}")
    }

    fn start_upload(&self, c: &reqwest::blocking::Client, name: &str) -> anyhow::Result<String> {
        let r = self
            .req(c, reqwest::Method::POST, &format!("{}/{name}/blobs/uploads/", self.v2))
            .send()?;
        ensure!(r.status() == 202, "start upload: {}", r.status());
        let loc = r.headers()["location"].to_str()?.to_string();
        Ok(self.absolute(&loc))
    }

    /// `loc` with `?digest=` (or `&digest=`).
    fn with_digest(loc: &str, digest: &str) -> String {
        let sep = if loc.contains('?') { '&' } else { '?' };
        format!("{loc}{sep}digest={digest}")
    }

    /// POST, then the whole blob in one PUT.
    fn push_monolithic(
        &self,
        c: &reqwest::blocking::Client,
        name: &str,
        file: &Path,
        digest: &str,
    ) -> anyhow::Result<()> {
        let loc = self.start_upload(c, name)?;
        let f = std::fs::File::open(file)?;
        let len = f.metadata()?.len();
        let r = self
            .req(c, reqwest::Method::PUT, &Self::with_digest(&loc, digest))
            .header("content-type", "application/octet-stream")
            .header("content-length", len)
            .body(reqwest::blocking::Body::sized(f, len))
            .send()?;
        ensure!(r.status() == 201, "monolithic PUT: {} {}", r.status(), r.text()?);
        Ok(())
    }

    /// POST, `CHUNK`-sized PATCHes with `Content-Range`, then PUT `?digest=`.
    fn push_chunked(&self, c: &reqwest::blocking::Client, name: &str, file: &Path, digest: &str) -> anyhow::Result<()> {
        let mut loc = self.start_upload(c, name)?;
        let mut f = std::fs::File::open(file)?;
        let len = f.metadata()?.len() as usize;
        let mut buf = vec![0u8; CHUNK];
        let mut at = 0usize;
        while at < len {
            let n = CHUNK.min(len - at);
            f.seek(SeekFrom::Start(at as u64))?;
            f.read_exact(&mut buf[..n])?;
            let r = self
                .req(c, reqwest::Method::PATCH, &loc)
                .header("content-type", "application/octet-stream")
                .header("content-range", format!("{at}-{}", at + n - 1))
                .body(buf[..n].to_vec())
                .send()?;
            ensure!(r.status() == 202, "PATCH at {at}: {} {}", r.status(), r.text()?);
            loc = self.absolute(r.headers()["location"].to_str()?);
            at += n;
        }
        let r = self
            .req(c, reqwest::Method::PUT, &Self::with_digest(&loc, digest))
            .header("content-length", "0")
            .send()?;
        ensure!(r.status() == 201, "final PUT: {} {}", r.status(), r.text()?);
        Ok(())
    }

    fn put_manifest(&self, c: &reqwest::blocking::Client, name: &str, tag: &str, body: &[u8]) -> anyhow::Result<()> {
        let r = self
            .req(c, reqwest::Method::PUT, &format!("{}/{name}/manifests/{tag}", self.v2))
            .header("content-type", OCI_MANIFEST)
            .body(body.to_vec())
            .send()?;
        ensure!(r.status() == 201, "manifest PUT: {} {}", r.status(), r.text()?);
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--split-cores") {
        binyard_benches::split_cores();
    }
    let dir = tempfile::tempdir()?;
    let work = dir.path();
    let www = work.join("www");
    std::fs::create_dir_all(&www)?;
    eprintln!("writing the content…");
    let layer = www.join("layer.bin");
    let layer_digest = format!("sha256:{}", binyard_benches::write_random(&layer, 100 << 20, 1)?);
    let big = work.join("big.bin");
    let big_digest = format!("sha256:{}", binyard_benches::write_random(&big, 1 << 30, 2)?);
    let config = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec();
    let config_digest = format!("sha256:{}", hex::encode(Sha256::digest(&config)));
    let config_file = work.join("config.json");
    std::fs::write(&config_file, &config)?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": 100u64 << 20}],
    }))?;
    std::fs::write(www.join("manifest.json"), &manifest)?;

    // The three servers.
    let (_nginx, nport) = nginx(&www, work)?;
    let plugins = work.join("plugins");
    std::fs::create_dir_all(&plugins)?;
    let wasm = root().join("target/plugins/docker.wasm");
    ensure!(wasm.exists(), "{} missing: cargo xtask plugins", wasm.display());
    std::fs::copy(&wasm, plugins.join("docker.wasm"))?;
    let server = Binyard::in_dir(work, &plugins, "[security]\nanonymous_access = true\n", "error")?;
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let r = server
        .admin(&client, reqwest::Method::PUT, "/artifactory/api/repositories/bench")
        .json(&json!({"rclass": "local", "packageType": "docker"}))
        .send()?;
    ensure!(r.status().is_success(), "create bench: {}", r.text()?);
    let dport = free_port()?;
    let dcfg = work.join("registry.yml");
    std::fs::write(
        &dcfg,
        format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{dport}\n",
            work.join("registry").display()
        ),
    )?;
    let _registry = Killed(
        server_command("docker-registry")
            .arg("serve")
            .arg(&dcfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("docker-registry is needed: apt-get install -y docker-registry")?,
    );
    wait_for_port(dport)?;
    let ours = Target {
        v2: format!("{}/v2/bench", server.base),
        auth: Some(("admin", "password")),
    };
    let theirs = Target {
        v2: format!("http://127.0.0.1:{dport}/v2"),
        auth: None,
    };

    // The same image in both.
    eprintln!("pushing the image to both…");
    for t in [&ours, &theirs] {
        t.push_monolithic(&client, "app", &config_file, &config_digest)?;
        t.push_monolithic(&client, "app", &layer, &layer_digest)?;
        t.put_manifest(&client, "app", "v1", &manifest)?;
    }
    let nbase = format!("http://127.0.0.1:{nport}");
    let accept = format!("Accept: {OCI_MANIFEST}");
    for url in [
        format!("{}/app/manifests/v1", ours.v2),
        format!("{}/app/manifests/v1", theirs.v2),
        format!("{nbase}/manifest.json"),
    ] {
        let got = client.get(&url).header("accept", OCI_MANIFEST).send()?.bytes()?;
        ensure!(got.as_ref() == manifest.as_slice(), "{url} answers other bytes");
    }

    println!(
        "docker plugin vs distribution {} and nginx, same machine, same run ({} cores{})",
        Command::new("docker-registry")
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout)
                .trim()
                .rsplit(' ')
                .next()
                .unwrap_or("")
                .to_string())
            .unwrap_or_default(),
        std::thread::available_parallelism()?,
        if binyard_benches::cores_split() {
            "; servers on core 0, wrk -t1 on core 1"
        } else {
            "; servers and wrk share them"
        }
    );
    println!(
        "{:<52} {:>12} {:>12} {:>12} {:>9} {:>9}",
        "measure", "binyard", "distribution", "nginx", "×distrib", "×nginx"
    );
    eprintln!("manifest GET by tag, 32 connections…");
    let b = wrk(&format!("{}/app/manifests/v1", ours.v2), 2, 32, SECONDS, &[&accept])?;
    let d = wrk(&format!("{}/app/manifests/v1", theirs.v2), 2, 32, SECONDS, &[&accept])?;
    let n = wrk(&format!("{nbase}/manifest.json"), 2, 32, SECONDS, &[])?;
    row("manifest GET by tag, 32 conns (req/s)", b.rps, Some(d.rps), Some(n.rps));
    println!(
        "{:<52} {:>12.2} {:>12.2} {:>12.2}",
        "  p99 latency (ms)", b.p99_ms, d.p99_ms, n.p99_ms
    );
    eprintln!("100 MiB layer pull, 1 connection…");
    let b = wrk(&format!("{}/app/blobs/{layer_digest}", ours.v2), 1, 1, SECONDS, &[])?;
    let d = wrk(&format!("{}/app/blobs/{layer_digest}", theirs.v2), 1, 1, SECONDS, &[])?;
    let n = wrk(&format!("{nbase}/layer.bin"), 1, 1, SECONDS, &[])?;
    let mib = |x: f64| x / 1048576.0;
    row(
        "100 MiB layer pull, 1 conn (MiB/s)",
        mib(b.bytes_per_sec),
        Some(mib(d.bytes_per_sec)),
        Some(mib(n.bytes_per_sec)),
    );

    // 1 GiB pushes, alternated, 3 rounds each, medians; every round into a new name
    // (a blob a name has is not sent again by clients, but the registry is asked
    // to store it again here).
    eprintln!("1 GiB pushes (3 rounds each)…");
    let mut times: [[Vec<Duration>; 2]; 2] = Default::default();
    // A failed push is reported (with its error), not the end of the run.
    let mut failures: Vec<String> = Vec::new();
    for round in 0..3 {
        for (i, t) in [&ours, &theirs].into_iter().enumerate() {
            for (k, chunked) in [false, true].into_iter().enumerate() {
                // Each push starts with no dirty pages left by the previous one.
                Command::new("sync").status()?;
                let name = format!("push{round}{k}");
                let start = Instant::now();
                let pushed = if chunked {
                    t.push_chunked(&client, &name, &big, &big_digest)
                } else {
                    t.push_monolithic(&client, &name, &big, &big_digest)
                };
                match pushed {
                    Ok(()) => times[i][k].push(start.elapsed()),
                    Err(e) => failures.push(format!(
                        "{} {} round {round} after {:.1} s: {e}",
                        ["binyard", "distribution"][i],
                        ["monolithic", "chunked"][k],
                        start.elapsed().as_secs_f64()
                    )),
                }
            }
        }
    }
    let median = |v: &mut Vec<Duration>| -> Option<f64> {
        v.sort();
        v.get(v.len() / 2).map(|d| 1024.0 / d.as_secs_f64())
    };
    let [[mut bm, mut bc], [mut dm, mut dc]] = times;
    for (label, b, d) in [
        (
            "1 GiB layer push, monolithic (MiB/s, median)",
            median(&mut bm),
            median(&mut dm),
        ),
        (
            "1 GiB layer push, 10 MiB chunks (MiB/s, median)",
            median(&mut bc),
            median(&mut dc),
        ),
    ] {
        match b {
            Some(b) => row(label, b, d, None),
            None => println!("{label:<52} {:>12} {:>12.1}", "failed", d.unwrap_or(0.0)),
        }
    }
    for f in &failures {
        println!("push failed: {f}");
    }
    Ok(())
}

fn row(name: &str, ours: f64, distribution: Option<f64>, nginx: Option<f64>) {
    let cell = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.1}"));
    let ratio = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{:.2}×", ours / v));
    println!(
        "{name:<52} {ours:>12.1} {:>12} {:>12} {:>9} {:>9}",
        cell(distribution),
        cell(nginx),
        ratio(distribution),
        ratio(nginx)
    );
}
