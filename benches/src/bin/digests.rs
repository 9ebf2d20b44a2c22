//! Throughput of each digest binyard computes on upload, alone, over 1 GiB in memory:
//! the references of the upload benchmark.
//!
//! `cargo run --release -p binyard-benches --bin digests`

use std::time::Instant;

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

fn speed<D: Digest>(name: &str, data: &[u8]) {
    let t = Instant::now();
    let mut d = D::new();
    for c in data.chunks(1 << 20) {
        d.update(c);
    }
    std::hint::black_box(d.finalize());
    println!("{name:<8} {:>8.0} MiB/s", 1024.0 / t.elapsed().as_secs_f64());
}

fn main() {
    let data: Vec<u8> = (0..1u64 << 30)
        .map(|i| (i.wrapping_mul(0x9E37_79B9) >> 13) as u8)
        .collect();
    speed::<Md5>("md5", &data);
    speed::<Sha1>("sha1", &data);
    speed::<Sha256>("sha256", &data);
}
