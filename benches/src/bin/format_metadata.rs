//! Format metadata under load, side by side in one run on the same data:
//! - the npm packument of a 500-version package: binyard vs Verdaccio;
//! - the PyPI simple page of a 500-file project: binyard vs pypiserver;
//! - those two and a Maven `maven-metadata.xml` (200 versions) vs nginx serving the
//!   very bytes binyard answered, as static files.
//!
//! `wrk` at 32 connections; req/s, p50 and p99, and the ratios. Targets: ≥ 0.7× nginx
//! and p99 < 10 ms. With `--no-cache` binyard keeps no plugin answers (every request
//! is a plugin call), to show what keeping them is worth. With `--split-cores` the
//! servers run on core 0 and `wrk` on core 1 (the figures of record in
//! `benches/README.md`).
//!
//! Needs nginx and wrk (`apt-get install -y nginx wrk`), Verdaccio and pypiserver
//! (installed into `target/bench-tools/` as `benches/README.md` shows), and
//! `cargo build --release -p binyard -p binyard-benches && cargo xtask plugins`.

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{Context, ensure};
use binyard_benches::npm::{self, PACKAGE};
use binyard_benches::{Binyard, Killed, free_port, nginx, root, server_command, wait_for_port, wrk};
use serde_json::json;
use sha2::{Digest, Sha256};

const VERSIONS: usize = 500;
const MAVEN_VERSIONS: usize = 200;
const SECONDS: u32 = 10;
/// binyard and nginx are measured alternately, this many times each (of `PAIRED_SECONDS`).
const ROUNDS: usize = 3;
const PAIRED_SECONDS: u32 = 5;
const CONNS: u32 = 32;
const PROJECT: &str = "benchproj";

fn tool(rel: &str, install: &str) -> anyhow::Result<PathBuf> {
    let p = root().join("target/bench-tools").join(rel);
    ensure!(p.exists(), "{} missing: {install}", p.display());
    Ok(p)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// An sdist-like file (gzip magic, then bytes) for one version.
fn sdist(i: usize) -> Vec<u8> {
    let mut b = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    b.extend((0..400).map(|k| ((k * 31 + i * 7) % 251) as u8));
    b
}

/// A twine (legacy upload API) multipart body.
fn twine_body(version: &str, file: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----binyardbenchboundary";
    let mut body = Vec::new();
    let fields = [
        (":action", "file_upload".to_string()),
        ("protocol_version", "1".into()),
        ("metadata_version", "2.1".into()),
        ("name", PROJECT.into()),
        ("version", version.into()),
        ("filetype", "sdist".into()),
        ("pyversion", "source".into()),
        ("requires_python", ">=3.8".into()),
        ("summary", "a project with many files".into()),
        ("sha256_digest", hex(&Sha256::digest(bytes))),
    ];
    for (k, v) in fields {
        let _ = write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        );
    }
    let _ = write!(
        body,
        "--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    );
    body.extend_from_slice(bytes);
    let _ = write!(body, "\r\n--{boundary}--\r\n");
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn main() -> anyhow::Result<()> {
    let verdaccio = tool(
        "verdaccio/node_modules/.bin/verdaccio",
        "see benches/README.md (npm install verdaccio@6 into target/bench-tools/verdaccio)",
    )?;
    let pypiserver = tool(
        "pyenv/bin/pypi-server",
        "see benches/README.md (python3 -m venv target/bench-tools/pyenv && …/pip install pypiserver passlib)",
    )?;
    let dir = tempfile::tempdir()?;
    let work = dir.path();

    // binyard with the three format plugins, anonymous reads allowed.
    let plugins = work.join("plugins");
    std::fs::create_dir_all(&plugins)?;
    for p in ["npm", "pypi", "maven"] {
        let wasm = root().join(format!("target/plugins/{p}.wasm"));
        ensure!(wasm.exists(), "{} missing: cargo xtask plugins", wasm.display());
        std::fs::copy(&wasm, plugins.join(format!("{p}.wasm")))?;
    }
    // `--no-cache` measures every request as a plugin call (no kept answers).
    let no_cache = std::env::args().any(|a| a == "--no-cache");
    // `--split-cores`: servers on core 0, wrk on core 1 (see `split_cores`).
    if std::env::args().any(|a| a == "--split-cores") {
        binyard_benches::split_cores();
    }
    let extra = format!(
        "answer_cache_mib = {}\n[security]\nanonymous_access = true\n",
        if no_cache { 0 } else { 64 }
    );
    let server = Binyard::in_dir(work, &plugins, &extra, "error")?;
    let base = server.base.clone();
    let client = reqwest::blocking::Client::new();
    let admin = |m: reqwest::Method, p: &str| server.admin(&client, m, p);
    for (key, kind) in [("npm-local", "npm"), ("pypi-local", "pypi"), ("maven-local", "maven")] {
        let r = admin(reqwest::Method::PUT, &format!("/artifactory/api/repositories/{key}"))
            .json(&json!({"rclass": "local", "packageType": kind}))
            .send()?;
        ensure!(r.status().is_success(), "create {key}: {}", r.text()?);
    }

    // Verdaccio, no uplinks, anyone may publish.
    let vport = free_port()?;
    let vdir = work.join("verdaccio");
    std::fs::create_dir_all(&vdir)?;
    std::fs::write(
        vdir.join("config.yaml"),
        format!(
            "storage: {}/storage\nuplinks: {{}}\npackages:\n  '**':\n    access: $all\n    publish: $all\n    unpublish: $all\nmax_body_size: 100mb\nlog: {{ type: stdout, format: pretty, level: error }}\n",
            vdir.display()
        ),
    )?;
    let _verdaccio = Killed(
        server_command(&verdaccio)
            .arg("-c")
            .arg(vdir.join("config.yaml"))
            .arg("-l")
            .arg(format!("127.0.0.1:{vport}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    wait_for_port(vport)?;
    let vbase = format!("http://127.0.0.1:{vport}");

    eprintln!("publishing {VERSIONS} npm versions to binyard and Verdaccio…");
    let npm_work = work.join("npm");
    for i in 0..VERSIONS {
        let v = format!("1.{}.{}", i / 100, i % 100);
        let tgz = npm::tarball(&npm_work, &v)?;
        let body = npm::publish_body(&v, &tgz, &format!("{base}/artifactory/api/npm/npm-local"));
        let r = admin(
            reqwest::Method::PUT,
            &format!("/artifactory/api/npm/npm-local/{PACKAGE}"),
        )
        .json(&body)
        .send()?;
        ensure!(r.status().is_success(), "binyard publish {v}: {}", r.text()?);
        let body = npm::publish_body(&v, &tgz, &vbase);
        let r = client.put(format!("{vbase}/{PACKAGE}")).json(&body).send()?;
        ensure!(r.status().is_success(), "Verdaccio publish {v}: {}", r.text()?);
    }

    eprintln!("uploading {VERSIONS} PyPI files to binyard and pypiserver…");
    let pdir = work.join("pypiserver");
    std::fs::create_dir_all(&pdir)?;
    for i in 0..VERSIONS {
        let v = format!("1.0.{i}");
        let file = format!("{PROJECT}-{v}.tar.gz");
        let bytes = sdist(i);
        let (ct, body) = twine_body(&v, &file, &bytes);
        let r = admin(reqwest::Method::POST, "/artifactory/api/pypi/pypi-local/")
            .header("Content-Type", ct)
            .body(body)
            .send()?;
        ensure!(r.status().is_success(), "binyard upload {file}: {}", r.text()?);
        std::fs::write(pdir.join(&file), &bytes)?;
    }
    let pport = free_port()?;
    let _pypiserver = Killed(
        server_command(&pypiserver)
            .args(["run", "-i", "127.0.0.1", "-p", &pport.to_string(), "-a", ".", "-P", "."])
            .arg(&pdir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    wait_for_port(pport)?;

    eprintln!("deploying {MAVEN_VERSIONS} Maven versions…");
    for i in 0..MAVEN_VERSIONS {
        let v = format!("1.{}.{}", i / 50, i % 50);
        let dir = format!("/artifactory/maven-local/org/bench/app/{v}");
        let pom = format!(
            "<project><modelVersion>4.0.0</modelVersion><groupId>org.bench</groupId><artifactId>app</artifactId><version>{v}</version></project>"
        );
        for (f, b) in [
            (format!("app-{v}.jar"), format!("jar {v}").into_bytes()),
            (format!("app-{v}.pom"), pom.into_bytes()),
        ] {
            let r = admin(reqwest::Method::PUT, &format!("{dir}/{f}")).body(b).send()?;
            ensure!(r.status().is_success(), "maven deploy {f}: {}", r.text()?);
        }
    }

    // The exact bytes binyard answers, served by nginx as static files.
    let www = work.join("www");
    let docs = [
        (
            "npm packument",
            format!("/artifactory/api/npm/npm-local/{PACKAGE}"),
            "Accept: application/json",
            "npm.json",
        ),
        (
            "PyPI simple page",
            format!("/artifactory/api/pypi/pypi-local/simple/{PROJECT}/"),
            "Accept: text/html",
            "simple.html",
        ),
        (
            "maven-metadata.xml",
            "/artifactory/maven-local/org/bench/app/maven-metadata.xml".to_string(),
            "Accept: */*",
            "maven-metadata.xml",
        ),
    ];
    std::fs::create_dir_all(&www)?;
    for (what, path, accept, file) in &docs {
        let (k, v) = accept.split_once(": ").context("header")?;
        let r = client.get(format!("{base}{path}")).header(k, v).send()?;
        ensure!(r.status() == 200, "{what}: {}", r.status());
        let bytes = r.bytes()?;
        std::fs::write(www.join(file), &bytes)?;
        eprintln!("{what}: {} bytes", bytes.len());
    }
    let (_nginx, nport) = nginx(&www, work)?;
    let nbase = format!("http://127.0.0.1:{nport}");
    for (what, _, _, file) in &docs {
        let got = client.get(format!("{nbase}/{file}")).send()?.bytes()?;
        ensure!(
            got == std::fs::read(www.join(file))?,
            "nginx serves other bytes for {what}"
        );
    }

    eprintln!("measuring: peers {SECONDS} s, binyard and nginx alternately {ROUNDS} × {PAIRED_SECONDS} s…");
    let load = |url: &str, h: &str| wrk(url, 2, CONNS, SECONDS, &[h]);
    let peers = [
        Some(("Verdaccio", load(&format!("{vbase}/{PACKAGE}"), docs[0].2)?)),
        Some((
            "pypiserver",
            load(&format!("http://127.0.0.1:{pport}/simple/{PROJECT}/"), docs[1].2)?,
        )),
        None,
    ];
    println!(
        "metadata requests, {CONNS} connections, {} cores{}; binyard vs nginx on the same bytes and vs the format's own server",
        std::thread::available_parallelism()?,
        if binyard_benches::cores_split() {
            " (servers on core 0, wrk on core 1)"
        } else {
            ""
        }
    );
    println!(
        "{:<20} {:>10} {:>8} {:>8} | {:>10} {:>8} {:>8} | {:>10} {:>8} {:>8}",
        "document", "binyard/s", "p50 ms", "p99 ms", "nginx/s", "p99 ms", "ratio", "peer/s", "p99 ms", "ratio"
    );
    for ((what, path, accept, file), peer) in docs.iter().zip(peers) {
        let (ours, reference) = binyard_benches::paired(
            &format!("{base}{path}"),
            &format!("{nbase}/{file}"),
            accept,
            CONNS,
            PAIRED_SECONDS,
            ROUNDS,
        )?;
        let (pname, prps, pp99, pratio) = match peer {
            Some((n, l)) => (
                n,
                format!("{:.0}", l.rps),
                format!("{:.1}", l.p99_ms),
                format!("{:.1}×", ours.rps / l.rps),
            ),
            None => ("", "-".into(), "-".into(), "-".into()),
        };
        println!(
            "{:<20} {:>10.0} {:>8.2} {:>8.2} | {:>10.0} {:>8.2} {:>7.2}× | {:>10} {:>8} {:>8} {pname}",
            what,
            ours.rps,
            ours.p50_ms,
            ours.p99_ms,
            reference.rps,
            reference.p99_ms,
            ours.rps / reference.rps,
            prps,
            pp99,
            pratio
        );
    }
    Ok(())
}
