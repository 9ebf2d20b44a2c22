//! Downloads and uploads against references measured in the same run:
//! - a 100 MiB download and 4 KiB downloads from binyard vs nginx serving the same
//!   files (targets ≥ 0.9× and ≥ 0.7×), measured with `wrk`;
//! - a 1 GiB upload vs the slowest of md5, sha1 and sha256 computed alone over the
//!   same bytes (target ≥ 0.8×).
//!
//! Needs `nginx`, `wrk` and `curl` (`apt-get install -y nginx wrk curl`) and a release
//! build: `cargo build --release -p binyard && cargo run --release -p binyard-benches --bin http_vs_nginx`

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use binyard_benches::{Binyard, root};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

const SECONDS: &str = "8s";

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn write_random(path: &Path, size: usize) -> anyhow::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut state = 0x2545_F491_4F6C_DD1Du64 ^ size as u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        for c in buf.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            c.copy_from_slice(&state.to_le_bytes()[..c.len()]);
        }
        let n = left.min(buf.len());
        f.write_all(&buf[..n])?;
        left -= n;
    }
    Ok(())
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs wrk and answers (requests/s, bytes/s).
fn wrk(url: &str, threads: u32, conns: u32) -> anyhow::Result<(f64, f64)> {
    let out = Command::new("wrk")
        .args(["-t", &threads.to_string(), "-c", &conns.to_string(), "-d", SECONDS, url])
        .output()
        .context("wrk is needed: apt-get install -y wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(!text.contains("Non-2xx"), "wrk saw errors from {url}:\n{text}");
    let field = |name: &str| -> anyhow::Result<String> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
            .with_context(|| format!("no {name} in wrk output:\n{text}"))
    };
    let rps: f64 = field("Requests/sec:")?.parse()?;
    let t = field("Transfer/sec:")?;
    let (num, unit) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len()));
    let mult = match unit {
        "GB" => 1024.0 * 1024.0 * 1024.0,
        "MB" => 1024.0 * 1024.0,
        "KB" => 1024.0,
        _ => 1.0,
    };
    Ok((rps, num.parse::<f64>()? * mult))
}

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
    let bin = root().join("target/release/binyard");
    ensure!(
        bin.exists(),
        "{} missing: cargo build --release -p binyard",
        bin.display()
    );
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .context("nginx is needed: apt-get install -y nginx")?;
    let dir = tempfile::tempdir()?;
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www)?;
    write_random(&www.join("big.bin"), 100 << 20)?;
    write_random(&www.join("small.bin"), 4 << 10)?;
    let upload = dir.path().join("upload.bin");
    write_random(&upload, 1 << 30)?;

    // nginx, serving the folder.
    let nport = free_port()?;
    let conf = dir.path().join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off; worker_processes auto; pid {d}/nginx.pid; error_log {d}/nginx.err;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;\n\
               client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
               server {{ listen 127.0.0.1:{nport}; root {www}; }} }}\n",
            d = dir.path().display(),
            www = www.display()
        ),
    )?;
    let _nginx = Killed(
        Command::new(nginx)
            .args(["-c"])
            .arg(&conf)
            .args(["-p"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .spawn()?,
    );

    // binyard, with the same files deployed.
    let cfg = dir.path().join("binyard.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\ndata_dir = \"{}\"\n[plugins]\ndir = \"{}\"\n[security]\nanonymous_read = true\n",
            dir.path().join("data").display(),
            dir.path().join("plugins").display()
        ),
    )?;
    let binyard = Binyard::start(&bin, &cfg, "warn")?;
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
    let (_, b_big) = wrk(&format!("{base}/artifactory/bench/big.bin"), 1, 1)?;
    let (_, n_big) = wrk(&format!("{nbase}/big.bin"), 1, 1)?;
    row(
        "download 100 MiB, 1 connection (MiB/s)",
        b_big / 1048576.0,
        n_big / 1048576.0,
        0.9,
    );
    let (b_small, _) = wrk(&format!("{base}/artifactory/bench/small.bin"), 2, 32)?;
    let (n_small, _) = wrk(&format!("{nbase}/small.bin"), 2, 32)?;
    row("download 4 KiB, 32 connections (req/s)", b_small, n_small, 0.7);

    eprintln!("timing uploads…");
    // Upload: 3 runs, median, against each digest alone over the same bytes.
    let mut data = Vec::new();
    std::fs::File::open(&upload)?.read_to_end(&mut data)?;
    let slowest = [
        time_digest::<Md5>(&data),
        time_digest::<Sha1>(&data),
        time_digest::<Sha256>(&data),
    ]
    .into_iter()
    .max()
    .context("digests")?;
    drop(data);
    let mut runs = Vec::new();
    for i in 0..3 {
        // Each run starts with no dirty pages left by the set-up or the previous run.
        Command::new("sync").status()?;
        let t = Instant::now();
        curl(&[
            "-T",
            &upload.display().to_string(),
            &format!("{base}/artifactory/bench/upload-{i}.bin"),
        ])?;
        runs.push(t.elapsed());
    }
    runs.sort();
    let gib = |d: Duration| 1024.0 / d.as_secs_f64();
    row(
        "upload 1 GiB vs slowest digest alone (MiB/s)",
        gib(runs[1]),
        gib(slowest),
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
