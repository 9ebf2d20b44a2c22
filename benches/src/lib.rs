//! Shared helpers of the benchmark binaries in `src/bin/`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A built test plugin (`cargo xtask plugins` builds them).
pub fn test_plugin(name: &str) -> anyhow::Result<Vec<u8>> {
    let p = root().join("target/test-plugins").join(format!("{name}.wasm"));
    std::fs::read(&p).map_err(|e| anyhow::anyhow!("{}: {e} (run `cargo xtask plugins` first)", p.display()))
}

/// p50, p90, p99 and mean of a set of durations, in microseconds.
pub fn summary(mut d: Vec<Duration>) -> (f64, f64, f64, f64) {
    d.sort();
    let us = |x: Duration| x.as_secs_f64() * 1e6;
    let at = |q: f64| us(d[((d.len() as f64 - 1.0) * q) as usize]);
    let mean = d.iter().map(|x| us(*x)).sum::<f64>() / d.len() as f64;
    (at(0.5), at(0.9), at(0.99), mean)
}

/// A running `binyard serve --config CONFIG`; killed when dropped.
pub struct Binyard {
    child: Child,
    /// `http://127.0.0.1:PORT`, as the server printed it.
    pub base: String,
}

impl Binyard {
    /// Starts `bin` on `config` (logging at `log`) and waits for its address.
    pub fn start(bin: &Path, config: &Path, log: &str) -> anyhow::Result<Binyard> {
        let mut child = Command::new(bin)
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", log)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut server = Binyard {
            child,
            base: String::new(),
        };
        for line in BufReader::new(stdout).lines() {
            if let Some(u) = line?.strip_prefix("binyard listening on ") {
                server.base = u.trim().to_string();
                return Ok(server);
            }
        }
        anyhow::bail!("binyard exited before it listened")
    }
}

impl Drop for Binyard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
