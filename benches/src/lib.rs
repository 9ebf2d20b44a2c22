//! Shared helpers of the benchmark binaries in `src/bin/`.

use std::path::{Path, PathBuf};
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
