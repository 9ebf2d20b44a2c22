//! The server killed with SIGKILL in the middle of heavy traffic, then restarted on
//! the same data: every acknowledged upload and delete holds, nothing half-written is
//! ever visible (neither a new file nor an overwrite in flight), and garbage collection
//! removes exactly what the dead uploads left behind in `tmp/`.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use binyard_e2e::*;
use sha2::Digest;

const REPO: &str = "crash";
const WRITERS: usize = 8;
/// New files and overwrites that trickle in, still in flight at the kill.
const SLOW_NEW: usize = 2;
const SLOW_OVERWRITES: usize = 2;
/// A trickled body: far more than can go through before the kill.
const TRICKLE_BYTES: usize = 512 << 20;

/// The seed of a path's expected content. Files under a `shared-N` folder share
/// their content (so blobs are deduplicated across paths); `over/oN.bin` keeps the
/// content it had before the overwrites in flight.
fn seed_of(path: &str) -> String {
    if let Some(s) = path.split('/').find(|s| s.starts_with("shared-")) {
        return s.to_string();
    }
    if let Some(n) = path.strip_prefix("over/o").and_then(|r| r.strip_suffix(".bin")) {
        return format!("old-{n}");
    }
    path.to_string()
}

/// Deterministic bytes for a seed: the size (2 KiB to 4 MiB, spread evenly over the
/// orders of magnitude) and the bytes follow from the seed.
fn content_of_seed(seed: &str) -> Vec<u8> {
    let h = sha2::Sha256::digest(seed.as_bytes());
    let pick = u64::from_le_bytes(h[..8].try_into().unwrap());
    let mut state = u64::from_le_bytes(h[8..16].try_into().unwrap()) | 1;
    // 2^11 .. 2^22 bytes, plus an odd tail so sizes are not powers of two.
    let size = (1usize << (11 + pick % 12)) + (pick >> 32) as usize % 4093;
    let mut out = vec![0u8; size];
    for c in out.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        c.copy_from_slice(&state.to_le_bytes()[..c.len()]);
    }
    out
}

fn expected(path: &str) -> Vec<u8> {
    content_of_seed(&seed_of(path))
}

/// `path -> sha256` of every file the deep listing shows.
fn listed(s: &Server) -> BTreeMap<String, String> {
    let r = s
        .admin(Method::GET, &format!("/artifactory/api/storage/{REPO}/?list&deep=1"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let v = json(r);
    v["files"]
        .as_array()
        .unwrap_or_else(|| panic!("no files array in the listing: {v}"))
        .iter()
        .filter(|f| f["folder"] != true)
        .map(|f| {
            (
                f["uri"].as_str().unwrap().trim_start_matches('/').to_string(),
                f["sha2"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn download(s: &Server, path: &str) -> Response {
    s.admin(Method::GET, &format!("/artifactory/{REPO}/{path}"))
        .send()
        .unwrap()
}

/// Asserts that `path` downloads with exactly `sha` as content.
fn assert_intact(s: &Server, path: &str, sha: &str, what: &str) {
    let r = download(s, path);
    assert_eq!(r.status(), 200, "{path}: {what}, but it does not download");
    let body = r.bytes().unwrap();
    assert_eq!(
        sha256_hex(&body),
        sha,
        "{path}: {what}, but it downloads {} bytes of other content",
        body.len()
    );
}

fn temp_files(s: &Server) -> Vec<String> {
    std::fs::read_dir(s.data_dir().join("tmp"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn put(c: &Client, url: &str, body: impl Into<reqwest::blocking::Body>) -> reqwest::Result<Response> {
    c.put(url).basic_auth(ADMIN.0, Some(ADMIN.1)).body(body).send()
}

/// What the writers know for sure once the server is gone.
#[derive(Default)]
struct Outcome {
    /// Uploads answered 201: `path -> sha256`.
    acked: BTreeMap<String, String>,
    /// Files deleted with a 204 answer (and not uploaded again).
    deleted: BTreeSet<String>,
}

#[test]
fn sigkill_during_heavy_uploads_loses_nothing_acknowledged_and_shows_nothing_partial() {
    let mut s = Server::start();
    s.create_local_repo(REPO, "generic");
    let repo_url = s.url(&format!("/artifactory/{REPO}"));

    // Files the slow overwrites will target, acknowledged before any trouble.
    let mut before = BTreeMap::new();
    for i in 0..SLOW_OVERWRITES {
        let path = format!("over/o{i}.bin");
        let body = expected(&path);
        let r = put(&client(), &format!("{repo_url}/{path}"), body.clone()).unwrap();
        assert_eq!(r.status(), 201);
        before.insert(path, sha256_hex(&body));
    }

    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let killed = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for t in 0..WRITERS {
        let (outcome, killed, repo_url) = (outcome.clone(), killed.clone(), repo_url.clone());
        writers.push(std::thread::spawn(move || {
            let c = client();
            for n in 0usize.. {
                // Every fifth file shares its content with others (deduplicated blobs).
                let path = if n % 5 == 4 {
                    format!("t{t}/shared-{}/f{n}.bin", n % 3)
                } else {
                    format!("t{t}/f{n}.bin")
                };
                let body = expected(&path);
                let sha = sha256_hex(&body);
                match put(&c, &format!("{repo_url}/{path}"), body) {
                    Ok(r) if r.status() == 201 => {
                        let v = json(r);
                        assert_eq!(v["checksums"]["sha256"], sha.as_str(), "deploy answer of {path}");
                        outcome.lock().unwrap().acked.insert(path.clone(), sha);
                    }
                    Ok(r) => panic!("upload of {path} answered {}", r.status()),
                    Err(e) => {
                        assert!(killed.load(Ordering::SeqCst), "upload of {path} failed: {e}");
                        return;
                    }
                }
                // Every seventh file is deleted again: an acknowledged delete must hold.
                if n % 7 == 6 {
                    match c
                        .delete(format!("{repo_url}/{path}"))
                        .basic_auth(ADMIN.0, Some(ADMIN.1))
                        .send()
                    {
                        Ok(r) if r.status() == 204 => {
                            let mut o = outcome.lock().unwrap();
                            o.acked.remove(&path);
                            o.deleted.insert(path);
                        }
                        Ok(r) => panic!("delete of {path} answered {}", r.status()),
                        Err(_) => {
                            // Unknown outcome: the file may or may not be there.
                            outcome.lock().unwrap().acked.remove(&path);
                            return;
                        }
                    }
                }
            }
        }));
    }
    let mut slow = Vec::new();
    let slow_paths: Vec<String> = (0..SLOW_NEW)
        .map(|i| format!("slow/big{i}.bin"))
        .chain(before.keys().cloned())
        .collect();
    for path in &slow_paths {
        let url = format!("{repo_url}/{path}");
        let path = path.clone();
        slow.push(std::thread::spawn(move || {
            let body = reqwest::blocking::Body::new(Trickle { left: TRICKLE_BYTES });
            let r = put(&client(), &url, body);
            assert!(r.is_err(), "the slow upload of {path} finished before the kill: {r:?}");
        }));
    }

    // Kill after ~1.5 s, once enough uploads were acknowledged (a slow machine gets longer).
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    while outcome.lock().unwrap().acked.len() < 30 && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    killed.store(true, Ordering::SeqCst);
    s.kill();
    for w in writers.into_iter().chain(slow) {
        w.join().unwrap();
    }
    let outcome = std::mem::take(&mut *outcome.lock().unwrap());
    let mut acked = outcome.acked;
    acked.extend(before.clone());
    eprintln!(
        "killed after {:?}: {} uploads and {} deletes acknowledged",
        start.elapsed(),
        acked.len(),
        outcome.deleted.len()
    );
    assert!(
        acked.len() >= 30,
        "only {} uploads were acknowledged before the kill",
        acked.len()
    );

    s.restart();

    // 1. Every acknowledged upload is intact; every acknowledged delete holds.
    for (path, sha) in &acked {
        assert_intact(&s, path, sha, "acknowledged before the kill");
    }
    for path in &outcome.deleted {
        let r = download(&s, path);
        assert_eq!(r.status(), 404, "{path} was deleted (204) before the kill but is back");
    }

    // 2. Nothing partial is visible: whatever is listed has its full expected content,
    //    the new uploads in flight are absent, the overwrites in flight left the old content.
    let files = listed(&s);
    for (path, sha) in &files {
        let want = sha256_hex(&expected(path));
        assert_eq!(sha, &want, "{path} is listed with the checksum of other content");
        assert_intact(&s, path, &want, "listed after the restart");
    }
    for path in acked.keys() {
        assert!(files.contains_key(path), "{path} was acknowledged but is not listed");
    }
    for i in 0..SLOW_NEW {
        let path = format!("slow/big{i}.bin");
        assert!(!files.contains_key(&path), "the unfinished upload {path} is listed");
        assert_eq!(
            download(&s, &path).status(),
            404,
            "the unfinished upload {path} downloads"
        );
    }
    for (path, sha) in &before {
        assert_intact(&s, path, sha, "an unfinished overwrite must leave the old content");
    }

    // 3. The dead uploads left temporary files; garbage collection removes them and
    //    nothing else.
    let leftovers = temp_files(&s);
    assert!(
        leftovers.len() >= slow_paths.len(),
        "the {} uploads in flight at the kill should have left temporary files, tmp/ holds {leftovers:?}",
        slow_paths.len()
    );
    let r = s
        .admin(Method::POST, "/artifactory/api/system/storage/gc")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let gc = json(r);
    eprintln!("gc after the restart: {gc}");
    assert_eq!(
        gc["tempFilesDeleted"].as_u64(),
        Some(leftovers.len() as u64),
        "gc should delete the {} leftovers: {gc}",
        leftovers.len()
    );
    assert!(gc["blobsDeleted"].is_u64() && gc["bytesFreed"].is_u64(), "{gc}");
    assert_eq!(temp_files(&s), Vec::<String>::new(), "tmp/ is not empty after gc");
    assert_eq!(listed(&s), files, "gc changed the listing");
    for (path, sha) in &acked {
        assert_intact(&s, path, sha, "acknowledged, then gc ran");
    }

    // 4. What gc did is durable and harmless: after one more kill and restart the
    //    same files are there, intact, and a second gc finds nothing to do.
    s.restart();
    assert_eq!(listed(&s), files, "the listing changed across a restart after gc");
    for (path, sha) in &acked {
        assert_intact(&s, path, sha, "acknowledged, gc ran, then another restart");
    }
    let gc = json(
        s.admin(Method::POST, "/artifactory/api/system/storage/gc")
            .send()
            .unwrap(),
    );
    assert_eq!(gc["tempFilesDeleted"], 0, "{gc}");
    assert_eq!(gc["blobsDeleted"], 0, "a second gc found more garbage: {gc}");
}

/// Garbage collection running in a loop while many small uploads start and finish
/// never takes the temporary file from under an upload in flight, and never hangs
/// the server: every upload succeeds.
#[test]
fn gc_in_a_loop_never_breaks_uploads_in_flight() {
    const RUN_FOR: Duration = Duration::from_secs(8);
    let s = Server::start();
    s.create_local_repo(REPO, "generic");
    let repo_url = s.url(&format!("/artifactory/{REPO}"));
    // Each request answers in milliseconds: one that takes 30 s is a hung server, and
    // the test reports it instead of waiting for the harness's 10-minute timeout.
    let quick = || Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let gc = {
        let (stop, url, c) = (stop.clone(), s.url("/artifactory/api/system/storage/gc"), quick());
        std::thread::spawn(move || {
            let mut runs = 0u32;
            while !stop.load(Ordering::Relaxed) {
                match c.post(&url).basic_auth(ADMIN.0, Some(ADMIN.1)).send() {
                    Ok(r) if r.status() == 200 => runs += 1,
                    Ok(r) => return Err(format!("gc run {runs} answered {}", r.status())),
                    Err(e) if e.is_timeout() => {
                        return Err(format!("gc run {runs}: no answer in 30 s, the server hangs"));
                    }
                    Err(e) => return Err(format!("gc run {runs} failed: {e}")),
                }
            }
            Ok(runs)
        })
    };
    let start = Instant::now();
    let mut writers = Vec::new();
    for t in 0..8 {
        let (repo_url, c, stop) = (repo_url.clone(), quick(), stop.clone());
        writers.push(std::thread::spawn(move || {
            let mut done = BTreeMap::new();
            let mut n = 0;
            while start.elapsed() < RUN_FOR && !stop.load(Ordering::Relaxed) {
                let path = format!("g{t}/{n}.txt");
                n += 1;
                let body = format!("small upload {path}").into_bytes();
                let failure = match put(&c, &format!("{repo_url}/{path}"), body.clone()) {
                    Ok(r) if r.status() == 201 => {
                        done.insert(path, sha256_hex(&body));
                        continue;
                    }
                    Ok(r) => format!("{path}: {} {}", r.status(), r.text().unwrap_or_default()),
                    Err(e) if e.is_timeout() => format!("{path}: no answer in 30 s, the server hangs"),
                    Err(e) => format!("{path}: {e}"),
                };
                stop.store(true, Ordering::Relaxed);
                return Err(format!(
                    "{failure} (after {} uploads, {:?})",
                    done.len(),
                    start.elapsed()
                ));
            }
            Ok(done)
        }));
    }
    let results: Vec<_> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    let gc = gc.join().unwrap();
    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "uploads failed while gc ran in a loop ({gc:?}): {failures:?}"
    );
    let runs = gc.unwrap_or_else(|e| panic!("{e}"));
    let done: BTreeMap<String, String> = results.into_iter().flat_map(|r| r.unwrap()).collect();
    eprintln!("gc ran {runs} times during {} uploads", done.len());
    assert!(runs > 3, "gc ran too few times to race");
    for (path, sha) in &done {
        assert_intact(&s, path, sha, "acknowledged while gc ran");
    }
}
