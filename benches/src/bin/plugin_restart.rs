//! Restart with 10 cached plugins: time from starting `binyard serve` until it
//! answers with all 10 plugins loaded, on a second start (compiled code cached),
//! with the first (cold, compiling) start as the reference.
//!
//! `cargo xtask plugins && cargo build --release -p binyard &&
//!  cargo run --release -p binyard-benches --bin plugin_restart`

use std::time::{Duration, Instant};

use binyard_benches::{Binyard, test_plugin};

/// Appends a custom section, making a distinct component (another sha256) that behaves the same.
fn variant(wasm: &[u8], n: u8) -> Vec<u8> {
    let name = b"binyard-bench";
    let payload = [n; 8];
    let body_len = 1 + name.len() + payload.len();
    let mut out = wasm.to_vec();
    out.push(0); // custom section id
    out.push(body_len as u8);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(&payload);
    out
}

fn start_and_wait(bin: &std::path::Path, config: &std::path::Path, want: usize) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let server = Binyard::start(bin, config, "warn")?;
    let base = server.base.clone();
    let c = reqwest::blocking::Client::new();
    loop {
        let r = c
            .get(format!("{base}/artifactory/api/plugins"))
            .basic_auth("admin", Some("password"))
            .send();
        if let Ok(r) = r
            && let Ok(v) = r.json::<serde_json::Value>()
            && v.as_array().is_some_and(|a| a.len() == want)
        {
            break;
        }
        anyhow::ensure!(t.elapsed() < Duration::from_secs(120), "plugins did not load");
        std::thread::sleep(Duration::from_millis(2));
    }
    let took = t.elapsed();
    drop(server);
    Ok(took)
}

fn main() -> anyhow::Result<()> {
    let bin = binyard_benches::release_binary()?;
    let dir = tempfile::tempdir()?;
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins)?;
    for name in ["test_echo", "test_misbehave", "test_keep_newest"] {
        std::fs::write(plugins.join(format!("{name}.wasm")), test_plugin(name)?)?;
    }
    let formatter = test_plugin("test_plain_formatter")?;
    for n in 0..7 {
        std::fs::write(plugins.join(format!("formatter-{n}.wasm")), variant(&formatter, n))?;
    }
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\ndata_dir = \"{}\"\n[plugins]\ndir = \"{}\"\n",
            dir.path().join("data").display(),
            plugins.display()
        ),
    )?;
    let cold = start_and_wait(&bin, &config, 10)?;
    let mut warm = Vec::new();
    for _ in 0..5 {
        warm.push(start_and_wait(&bin, &config, 10)?);
    }
    warm.sort();
    let median = warm[warm.len() / 2];
    println!("restart with 10 plugins (process start until all 10 answer in /api/plugins)");
    println!(
        "{:<40} {:>10}",
        "first start (compiles, fills the cache)",
        format!("{:.0} ms", cold.as_secs_f64() * 1e3)
    );
    println!(
        "{:<40} {:>10}",
        "restart, cached (median of 5)",
        format!("{:.0} ms", median.as_secs_f64() * 1e3)
    );
    println!(
        "cold/cached ratio: {:.1}x; target: cached restart < 1 s -> {}",
        cold.as_secs_f64() / median.as_secs_f64(),
        if median < Duration::from_secs(1) {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(())
}
