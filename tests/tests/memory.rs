//! Uploads and downloads are streamed: a 2 GiB file goes up and comes back while the
//! server's peak resident memory stays under 100 MiB.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::io::Read;

use binyard_e2e::*;
use sha2::{Digest, Sha256};

const SIZE: u64 = 2 << 30;

/// 2 GiB of pseudo-random bytes, generated as they are read, hashed on the way.
struct Generated {
    left: u64,
    state: u64,
    hash: std::sync::Arc<std::sync::Mutex<Sha256>>,
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.left).min(256 * 1024) as usize;
        for chunk in buf[..n].chunks_mut(8) {
            // xorshift64: cheap bytes that do not compress or repeat.
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            chunk.copy_from_slice(&self.state.to_le_bytes()[..chunk.len()]);
        }
        self.hash.lock().unwrap().update(&buf[..n]);
        self.left -= n as u64;
        Ok(n)
    }
}

#[test]
fn two_gib_up_and_down_in_under_100_mib_of_server_memory() {
    // No plugins: compiling the format plugins at start-up would count in the peak,
    // which is about the bytes in flight here.
    let no_plugins = tempfile::tempdir().unwrap();
    let s = Server::start_full(Options::default(), no_plugins.path(), "");
    s.create_local_repo("big", "generic");
    let hash = std::sync::Arc::new(std::sync::Mutex::new(Sha256::new()));
    let body = reqwest::blocking::Body::sized(
        Generated {
            left: SIZE,
            state: 0x9E37_79B9_7F4A_7C15,
            hash: hash.clone(),
        },
        SIZE,
    );
    let r = s
        .admin(Method::PUT, "/artifactory/big/two-gib.bin")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let sent = hex::encode(hash.lock().unwrap().clone().finalize());
    let v = json(r);
    assert_eq!(v["checksums"]["sha256"], sent);
    assert_eq!(v["size"], SIZE.to_string());

    let mut r = s.admin(Method::GET, "/artifactory/big/two-gib.bin").send().unwrap();
    assert_eq!(r.status(), 200);
    let mut got = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.update(&buf[..n]);
        total += n as u64;
    }
    assert_eq!(total, SIZE);
    assert_eq!(hex::encode(got.finalize()), sent);

    let peak = proc_status_kib(s.pid(), "VmHWM:");
    assert!(peak < 100 * 1024, "server peak RSS {} MiB", peak / 1024);
    eprintln!("server peak RSS over a 2 GiB upload and download: {} MiB", peak / 1024);
}
