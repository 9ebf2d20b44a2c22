//! Go and NuGet metadata under load, against nginx serving the very bytes binyard
//! answered, in one run on the same data:
//! - the Go module proxy's `{module}/@v/list` of a module with 500 versions;
//! - the NuGet registration index of a package with 500 versions.
//!
//! `wrk` at 32 connections; binyard and nginx alternately 3 × 5 s each (medians).
//! Targets (issue 18): ≥ 0.7× nginx and p99 < 10 ms. Neither Athens (Go) nor BaGet
//! (.NET) can be installed here from the package registries this machine reaches, so
//! nginx is the only reference. With `--split-cores` the servers run on core 0 and
//! `wrk` on core 1.
//!
//! Needs nginx and wrk (`apt-get install -y nginx wrk`) and
//! `cargo build --release -p binyard -p binyard-benches && cargo xtask plugins`.

use std::io::Write;

use anyhow::{Context, ensure};
use binyard_benches::{Binyard, nginx, paired, root};
use serde_json::json;

const VERSIONS: usize = 500;
const CONNS: u32 = 32;
const ROUNDS: usize = 3;
const SECONDS: u32 = 5;
const MODULE: &str = "example.com/bench/lib";
const PACKAGE: &str = "Bench.Library";

/// A zip of stored files.
fn zip(files: &[(String, Vec<u8>)]) -> anyhow::Result<Vec<u8>> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in files {
        w.start_file(name.as_str(), opts)?;
        w.write_all(data)?;
    }
    Ok(w.finish()?.into_inner())
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let work = dir.path();
    let plugins = work.join("plugins");
    std::fs::create_dir_all(&plugins)?;
    for p in ["go", "nuget"] {
        let wasm = root().join(format!("target/plugins/{p}.wasm"));
        ensure!(wasm.exists(), "{} missing: cargo xtask plugins", wasm.display());
        std::fs::copy(&wasm, plugins.join(format!("{p}.wasm")))?;
    }
    if std::env::args().any(|a| a == "--split-cores") {
        binyard_benches::split_cores();
    }
    let server = Binyard::in_dir(work, &plugins, "[security]\nanonymous_access = true\n", "error")?;
    let base = server.base.clone();
    let client = reqwest::blocking::Client::new();
    let admin = |m: reqwest::Method, p: &str| server.admin(&client, m, p);
    for (key, kind) in [("go-local", "go"), ("nuget-local", "nuget")] {
        let r = admin(reqwest::Method::PUT, &format!("/artifactory/api/repositories/{key}"))
            .json(&json!({"rclass": "local", "packageType": kind}))
            .send()?;
        ensure!(r.status().is_success(), "create {key}: {}", r.text()?);
    }

    eprintln!("publishing {VERSIONS} Go module versions and {VERSIONS} NuGet package versions…");
    let go_mod = format!("module {MODULE}\n\ngo 1.19\n").into_bytes();
    for i in 0..VERSIONS {
        let v = format!("v1.{}.{}", i / 100, i % 100);
        let prefix = format!("{MODULE}@{v}/");
        let module_zip = zip(&[
            (format!("{prefix}go.mod"), go_mod.clone()),
            (
                format!("{prefix}lib.go"),
                format!("package lib\n\nconst V = {i}\n").into_bytes(),
            ),
        ])?;
        let info = json!({"Version": v, "Time": "2024-03-01T10:00:00Z"}).to_string();
        for (ext, body) in [
            ("mod", go_mod.clone()),
            ("zip", module_zip),
            ("info", info.into_bytes()),
        ] {
            let r = admin(
                reqwest::Method::PUT,
                &format!("/artifactory/api/go/go-local/{MODULE}/@v/{v}.{ext}"),
            )
            .body(body)
            .send()?;
            ensure!(r.status().is_success(), "Go {v}.{ext}: {}", r.text()?);
        }

        let nv = format!("1.{}.{}", i / 100, i % 100);
        let nuspec = format!(
            "<?xml version=\"1.0\"?>\n<package xmlns=\"http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd\"><metadata>\
             <id>{PACKAGE}</id><version>{nv}</version><authors>Bench</authors><description>A package with many versions</description>\
             <dependencies><group targetFramework=\"net8.0\"><dependency id=\"Other.Lib\" version=\"2.0.0\" /></group></dependencies>\
             </metadata></package>\n"
        );
        let nupkg = zip(&[
            (format!("{PACKAGE}.nuspec"), nuspec.into_bytes()),
            ("lib/net8.0/readme.txt".into(), format!("version {nv}").into_bytes()),
        ])?;
        let mut body = b"--b0undary\r\nContent-Disposition: form-data; name=\"package\"; filename=\"package.nupkg\"\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
        body.extend_from_slice(&nupkg);
        body.extend_from_slice(b"\r\n--b0undary--\r\n");
        let r = admin(reqwest::Method::PUT, "/artifactory/api/nuget/v3/nuget-local/package/")
            .header("Content-Type", "multipart/form-data; boundary=b0undary")
            .body(body)
            .send()?;
        ensure!(r.status().is_success(), "NuGet push {nv}: {}", r.text()?);
    }

    // The exact bytes binyard answers, served by nginx as static files.
    let docs = [
        (
            "Go @v/list",
            format!("/artifactory/api/go/go-local/{MODULE}/@v/list"),
            "go-list.txt",
        ),
        (
            "NuGet registration",
            format!(
                "/artifactory/api/nuget/v3/nuget-local/registration/{}/index.json",
                PACKAGE.to_lowercase()
            ),
            "registration.json",
        ),
    ];
    let www = work.join("www");
    std::fs::create_dir_all(&www)?;
    for (what, path, file) in &docs {
        let r = client.get(format!("{base}{path}")).send()?;
        ensure!(r.status() == 200, "{what}: {}", r.status());
        let bytes = r.bytes()?;
        std::fs::write(www.join(file), &bytes)?;
        eprintln!("{what}: {} bytes", bytes.len());
    }
    let list = std::fs::read_to_string(www.join("go-list.txt"))?;
    ensure!(
        list.lines().count() == VERSIONS,
        "the list has {} versions",
        list.lines().count()
    );
    let (_nginx, nport) = nginx(&www, work)?;
    let nbase = format!("http://127.0.0.1:{nport}");
    for (what, _, file) in &docs {
        let got = client.get(format!("{nbase}/{file}")).send()?.bytes()?;
        ensure!(
            got == std::fs::read(www.join(file))?,
            "nginx serves other bytes for {what}"
        );
    }

    println!(
        "Go and NuGet metadata, {VERSIONS} versions, {CONNS} connections, {} cores{}; binyard vs nginx on the same bytes",
        std::thread::available_parallelism()?,
        if binyard_benches::cores_split() {
            " (servers on core 0, wrk on core 1)"
        } else {
            ""
        }
    );
    println!(
        "{:<20} {:>9} {:>10} {:>8} {:>8} | {:>10} {:>8} {:>8}",
        "document", "bytes", "binyard/s", "p50 ms", "p99 ms", "nginx/s", "p99 ms", "ratio"
    );
    for (what, path, file) in &docs {
        let (ours, reference) = paired(
            &format!("{base}{path}"),
            &format!("{nbase}/{file}"),
            "Accept: */*",
            CONNS,
            SECONDS,
            ROUNDS,
        )?;
        let size = std::fs::metadata(www.join(file)).context("doc")?.len();
        println!(
            "{:<20} {:>9} {:>10.0} {:>8.2} {:>8.2} | {:>10.0} {:>8.2} {:>7.2}×",
            what,
            size,
            ours.rps,
            ours.p50_ms,
            ours.p99_ms,
            reference.rps,
            reference.p99_ms,
            ours.rps / reference.rps
        );
    }
    Ok(())
}
