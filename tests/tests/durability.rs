//! Nothing acknowledged is lost: uploads in flight while the server is killed with
//! SIGKILL, then a restart. Every acknowledged upload is intact, no partial artifact
//! is visible, and garbage collection removes what the dead uploads left behind.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use binyard_e2e::*;

/// Deterministic content for a path: its size and bytes follow from the name.
fn content_for(path: &str) -> Vec<u8> {
    let mut seed = sha256_hex(path.as_bytes());
    let size = 1024 + (u64::from_str_radix(&seed[..8], 16).unwrap() % (2 << 20)) as usize;
    let mut out = Vec::with_capacity(size + 64);
    while out.len() < size {
        out.extend_from_slice(seed.as_bytes());
        seed = sha256_hex(seed.as_bytes());
    }
    out.truncate(size);
    out
}

fn listed_files(s: &Server, repo: &str) -> Vec<(String, String)> {
    let v = json(
        s.admin(Method::GET, &format!("/artifactory/api/storage/{repo}/?list&deep=1"))
            .send()
            .unwrap(),
    );
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["uri"].as_str().unwrap().trim_start_matches('/').to_string(),
                f["sha2"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn temp_files(s: &Server) -> usize {
    std::fs::read_dir(s.data_dir().join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn sigkill_during_uploads_loses_nothing_acknowledged() {
    let mut s = Server::start();
    s.create_local_repo("crash", "generic");
    let acked = Arc::new(Mutex::new(Vec::<(String, String)>::new()));

    let mut writers = Vec::new();
    for t in 0..6 {
        let (acked, url) = (acked.clone(), s.url("/artifactory/crash"));
        writers.push(std::thread::spawn(move || {
            let c = client();
            for n in 0.. {
                let path = format!("t{t}/f{n}.bin");
                let body = content_for(&path);
                let sha = sha256_hex(&body);
                match c
                    .put(format!("{url}/{path}"))
                    .basic_auth(ADMIN.0, Some(ADMIN.1))
                    .body(body)
                    .send()
                {
                    Ok(r) if r.status() == 201 => acked.lock().unwrap().push((path, sha)),
                    Ok(r) => panic!("upload of {path} answered {}", r.status()),
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    let mut slow = Vec::new();
    for n in 0..2 {
        let url = s.url(&format!("/artifactory/crash/slow/big{n}.bin"));
        slow.push(std::thread::spawn(move || {
            let body = reqwest::blocking::Body::new(Trickle { left: 50 << 20 });
            let r = client().put(url).basic_auth(ADMIN.0, Some(ADMIN.1)).body(body).send();
            assert!(r.is_err(), "the slow upload cannot have finished before the kill");
        }));
    }

    std::thread::sleep(Duration::from_millis(2500));
    s.kill();
    for w in writers.into_iter().chain(slow) {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 10,
        "only {} uploads were acknowledged before the kill",
        acked.len()
    );

    s.restart();
    // Every acknowledged upload is intact.
    for (path, sha) in &acked {
        let r = s
            .admin(Method::GET, &format!("/artifactory/crash/{path}"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{path} was acknowledged but is gone");
        assert_eq!(&sha256_hex(&r.bytes().unwrap()), sha, "{path} is corrupt");
    }
    // Whatever is visible is complete: its recorded and actual content are the expected one.
    let listed = listed_files(&s, "crash");
    for (path, sha) in &listed {
        assert!(!path.starts_with("slow/"), "a partial upload is visible: {path}");
        assert_eq!(
            sha,
            &sha256_hex(&content_for(path)),
            "{path} is listed with a wrong checksum"
        );
        let r = s
            .admin(Method::GET, &format!("/artifactory/crash/{path}"))
            .send()
            .unwrap();
        assert_eq!(
            &sha256_hex(&r.bytes().unwrap()),
            sha,
            "{path} does not match its record"
        );
    }
    assert!(listed.len() >= acked.len());

    // The dead uploads left temporary data; garbage collection removes it.
    assert!(
        temp_files(&s) > 0,
        "the in-flight uploads should have left temporary files"
    );
    let gc = json(
        s.admin(Method::POST, "/artifactory/api/system/storage/gc")
            .send()
            .unwrap(),
    );
    assert!(gc["tempFilesDeleted"].as_u64().unwrap() > 0, "{gc}");
    assert_eq!(temp_files(&s), 0);
    for (path, sha) in acked.iter().take(20) {
        let r = s
            .admin(Method::GET, &format!("/artifactory/crash/{path}"))
            .send()
            .unwrap();
        assert_eq!(&sha256_hex(&r.bytes().unwrap()), sha, "{path} damaged by GC");
    }
}

/// A client that disconnects mid-upload leaves nothing visible and no temporary file.
#[test]
fn a_client_disconnecting_mid_upload_leaves_nothing() {
    use std::io::Write;
    let s = Server::start();
    s.create_local_repo("gone", "generic");
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut sock = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        sock,
        "PUT /artifactory/gone/half.bin HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic YWRtaW46cGFzc3dvcmQ=\r\nContent-Length: 10000000\r\n\r\n"
    )
    .unwrap();
    sock.write_all(&vec![1u8; 1 << 20]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(sock);
    let mut left = usize::MAX;
    for _ in 0..50 {
        left = temp_files(&s);
        if left == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(left, 0, "the interrupted upload left a temporary file");
    let r = s.admin(Method::GET, "/artifactory/gone/half.bin").send().unwrap();
    expect_error(r, 404);
    assert!(listed_files(&s, "gone").is_empty());
}

/// Garbage collection running in a loop while the same content is deployed, deleted
/// and deployed again never takes a blob from under a write: every file that was
/// acknowledged and not deleted downloads intact.
#[test]
fn gc_never_deletes_a_blob_a_write_is_about_to_reference() {
    let s = Server::start();
    s.create_local_repo("race", "generic");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // How often GC has run: the writers go on until it ran a few times during their
    // work, however slow a loaded machine makes it (bounded below).
    let gc_runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let gc = {
        let (stop, runs, url) = (
            stop.clone(),
            gc_runs.clone(),
            s.url("/artifactory/api/system/storage/gc"),
        );
        std::thread::spawn(move || {
            let c = client();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = c.post(&url).basic_auth(ADMIN.0, Some(ADMIN.1)).send().unwrap();
                assert_eq!(r.status(), 200);
                runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            runs.load(std::sync::atomic::Ordering::Relaxed)
        })
    };
    let mut writers = Vec::new();
    for t in 0..3 {
        let (url, gc_runs) = (s.url("/artifactory/race"), gc_runs.clone());
        writers.push(std::thread::spawn(move || {
            let c = client();
            let body = b"the same bytes, over and over".to_vec();
            let sha = sha256_hex(&body);
            let mut kept = Vec::new();
            let mut n = 0;
            while n < 60 || (gc_runs.load(std::sync::atomic::Ordering::Relaxed) < 4 && n < 600) {
                let path = format!("{url}/t{t}/{n}.txt");
                // Deploy by checksum when the blob may exist, by body otherwise.
                let r = c
                    .put(&path)
                    .basic_auth(ADMIN.0, Some(ADMIN.1))
                    .header("X-Checksum-Deploy", "true")
                    .header("X-Checksum-Sha256", &sha)
                    .send()
                    .unwrap();
                let r = if r.status() == 404 {
                    c.put(&path)
                        .basic_auth(ADMIN.0, Some(ADMIN.1))
                        .body(body.clone())
                        .send()
                        .unwrap()
                } else {
                    r
                };
                assert_eq!(r.status(), 201);
                if n % 2 == 0 {
                    let r = c.delete(&path).basic_auth(ADMIN.0, Some(ADMIN.1)).send().unwrap();
                    assert_eq!(r.status(), 204);
                } else {
                    kept.push(path);
                }
                n += 1;
            }
            (kept, sha)
        }));
    }
    let mut all = Vec::new();
    for w in writers {
        all.push(w.join().unwrap());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(gc.join().unwrap() > 3, "gc ran too few times to race");
    let r = s
        .admin(Method::POST, "/artifactory/api/system/storage/gc")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    for (kept, sha) in all {
        for url in kept {
            let r = client().get(&url).basic_auth(ADMIN.0, Some(ADMIN.1)).send().unwrap();
            assert_eq!(r.status(), 200, "{url}");
            assert_eq!(sha256_hex(&r.bytes().unwrap()), sha, "{url}");
        }
    }
}
