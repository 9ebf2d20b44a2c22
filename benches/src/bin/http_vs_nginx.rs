//! Downloads and uploads against references measured in the same run:
//! - a 100 MiB download and 4 KiB downloads from binyard vs nginx serving the same
//!   files (targets ≥ 0.9× and ≥ 0.7×), measured with `wrk`;
//! - a 1 GiB upload vs the slowest of md5, sha1 and sha256 computed alone over the
//!   same bytes (target ≥ 0.8×).
//!
//! Needs `nginx`, `wrk` and `curl` (`apt-get install -y nginx wrk curl`) and a release
//! build: `cargo build --release -p binyard && cargo run --release -p binyard-benches --bin http_vs_nginx`

use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use binyard_benches::{Binyard, nginx, wrk};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

const SECONDS: u32 = 8;

fn time_digest<D: Digest>(data: &[u8]) -> Duration {
    let t = Instant::now();
    let mut d = D::new();
    for c in data.chunks(1 << 20) {
        d.update(c);
    }
    std::hint::black_box(d.finalize());
    t.elapsed()
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www)?;
    binyard_benches::write_random(&www.join("big.bin"), 100 << 20, 100 << 20)?;
    binyard_benches::write_random(&www.join("small.bin"), 4 << 10, 4 << 10)?;
    let upload = dir.path().join("upload.bin");
    binyard_benches::write_random(&upload, 1 << 30, 1 << 30)?;

    // nginx, serving the folder.
    let (_nginx, nport) = nginx(&www, dir.path())?;

    // binyard, with the same files deployed.
    let binyard = Binyard::in_dir(
        dir.path(),
        &dir.path().join("plugins"),
        "[security]\nanonymous_read = true\n",
        "warn",
    )?;
    let base = binyard.base.clone();
    eprintln!("binyard at {base}, nginx at 127.0.0.1:{nport}; deploying the files…");
    let curl = |args: &[&str]| -> anyhow::Result<String> {
        let out = Command::new("curl")
            .args(["-sS", "-f", "-u", "admin:password"])
            .args(args)
            .output()?;
        if !out.status.success() {
            bail!("curl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"rclass":"local","packageType":"generic"}"#,
        &format!("{base}/artifactory/api/repositories/bench"),
    ])?;
    for f in ["big.bin", "small.bin"] {
        curl(&[
            "-T",
            &www.join(f).display().to_string(),
            &format!("{base}/artifactory/bench/{f}"),
        ])?;
    }
    let nbase = format!("http://127.0.0.1:{nport}");
    // Both answer the same bytes before anything is timed.
    for f in ["big.bin", "small.bin"] {
        let a = Command::new("curl")
            .args(["-sS", &format!("{base}/artifactory/bench/{f}")])
            .output()?
            .stdout;
        let b = Command::new("curl")
            .args(["-sS", &format!("{nbase}/{f}")])
            .output()?
            .stdout;
        ensure!(
            a == b && !a.is_empty(),
            "binyard and nginx serve different bytes for {f}"
        );
    }

    println!(
        "binyard vs references, same machine, same run ({} cores)",
        std::thread::available_parallelism()?
    );
    println!(
        "{:<44} {:>14} {:>14} {:>8} {:>8}",
        "measure", "binyard", "reference", "ratio", "target"
    );
    eprintln!("timing downloads…");
    let b_big = wrk(&format!("{base}/artifactory/bench/big.bin"), 1, 1, SECONDS, &[])?.bytes_per_sec;
    let n_big = wrk(&format!("{nbase}/big.bin"), 1, 1, SECONDS, &[])?.bytes_per_sec;
    row(
        "download 100 MiB, 1 connection (MiB/s)",
        b_big / 1048576.0,
        n_big / 1048576.0,
        0.9,
    );
    let b_small = wrk(&format!("{base}/artifactory/bench/small.bin"), 2, 32, SECONDS, &[])?.rps;
    let n_small = wrk(&format!("{nbase}/small.bin"), 2, 32, SECONDS, &[])?.rps;
    row("download 4 KiB, 32 connections (req/s)", b_small, n_small, 0.7);

    eprintln!("timing uploads…");
    // Upload: 5 rounds, each timing the slowest digest alone over the same bytes and
    // then an upload, so both see the same machine; the medians are compared.
    let mut data = Vec::new();
    std::fs::File::open(&upload)?.read_to_end(&mut data)?;
    let digests: [fn(&[u8]) -> Duration; 3] = [time_digest::<Md5>, time_digest::<Sha1>, time_digest::<Sha256>];
    let slowest = *digests.iter().max_by_key(|time| time(&data)).context("digests")?;
    let (mut refs, mut runs) = (Vec::new(), Vec::new());
    for i in 0..5 {
        refs.push(slowest(&data));
        // Each upload starts with no dirty pages left by the set-up or the previous run.
        Command::new("sync").status()?;
        let t = Instant::now();
        curl(&[
            "-T",
            &upload.display().to_string(),
            &format!("{base}/artifactory/bench/upload-{i}.bin"),
        ])?;
        runs.push(t.elapsed());
    }
    drop(data);
    let mib_s = |d: &Duration| 1024.0 / d.as_secs_f64();
    let ratios: Vec<String> = runs
        .iter()
        .zip(&refs)
        .map(|(u, r)| format!("{:.2}", mib_s(u) / mib_s(r)))
        .collect();
    eprintln!("upload rounds (ratio each): {}", ratios.join(" "));
    runs.sort();
    refs.sort();
    row(
        "upload 1 GiB vs slowest digest alone (MiB/s)",
        mib_s(&runs[2]),
        mib_s(&refs[2]),
        0.8,
    );
    Ok(())
}

fn row(name: &str, ours: f64, reference: f64, target: f64) {
    let ratio = ours / reference;
    let verdict = if ratio >= target { "met" } else { "NOT met" };
    println!(
        "{name:<44} {ours:>14.1} {reference:>14.1} {ratio:>7.2}x {:>5.2}x {verdict}",
        target
    );
}
