//! Connection floods: idle and slowloris connections beyond the connection cap (and
//! beyond the server's open-file limit) must not keep a normal request from being
//! answered, and are closed within the configured timeouts.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use binyard_e2e::{Launch, Options, Server, plugins_dir, proc_status_kib};
use common::host_port;

const HEADER_TIMEOUT: u64 = 2;
const KEEPALIVE_TIMEOUT: u64 = 6;
const BODY_TIMEOUT: u64 = 3;

fn flood_server() -> Server {
    // 384 files, 128 reserved: at most 256 connections.
    Server::launch(
        Options {
            extra_config: format!(
                "[http]\nheader_read_timeout_seconds = {HEADER_TIMEOUT}\nkeepalive_timeout_seconds = {KEEPALIVE_TIMEOUT}\nbody_read_timeout_seconds = {BODY_TIMEOUT}\nreserved_files = 128\n"
            ),
        },
        Launch {
            open_files: Some(384),
            ..Launch::default()
        },
        &plugins_dir(),
        "",
    )
}

/// Whether the server has closed this socket (a read sees the end or a reset).
fn closed(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
    let mut b = [0u8; 256];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// A ping on a fresh connection, answered within a second.
fn ping_within_a_second(addr: &str) {
    let t = Instant::now();
    let mut c = TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(1))).expect("timeout");
    c.write_all(b"GET /artifactory/api/system/ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut answer = Vec::new();
    let r = c.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert!(
        r.is_ok() && text.starts_with("HTTP/1.1 200") && text.ends_with("OK"),
        "no answer to a ping within a second while attackers hold connections ({r:?}): {text:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(1), "ping took {:?}", t.elapsed());
}

#[test]
fn idle_and_slowloris_connections_beyond_the_cap_do_not_lock_others_out() {
    let s = flood_server();
    let addr = host_port(&s);

    // Slowloris: a request head that never ends, one byte every 300 ms.
    let stop = Arc::new(AtomicBool::new(false));
    let mut slow: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut c = TcpStream::connect(&addr).expect("connect");
            c.write_all(b"GET /artifactory/api/system/ping HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .expect("send");
            c
        })
        .collect();
    let writers: Vec<TcpStream> = slow.iter().map(|c| c.try_clone().expect("clone")).collect();
    let drip = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut writers = writers;
            while !stop.load(Ordering::Relaxed) {
                for w in &mut writers {
                    let _ = w.write_all(b"a");
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };
    // Idle connections: more than the cap and than the server's file limit.
    let started = Instant::now();
    let mut idle: Vec<TcpStream> = (0..500).map(|_| TcpStream::connect(&addr).expect("connect")).collect();

    for _ in 0..5 {
        ping_within_a_second(&addr);
    }

    // Every attacker is gone within the header timeout (plus a margin for the machine).
    let deadline = started + Duration::from_secs(HEADER_TIMEOUT + 4);
    let mut open = usize::MAX;
    while Instant::now() < deadline {
        open = idle
            .iter_mut()
            .chain(slow.iter_mut())
            .map(closed)
            .filter(|c| !c)
            .count();
        if open == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    let _ = drip.join();
    assert_eq!(
        open,
        0,
        "attacking connections still open {:?} after they started",
        started.elapsed()
    );
    ping_within_a_second(&addr);
}

#[test]
fn keep_alive_connections_live_for_the_keepalive_timeout() {
    let s = flood_server();
    let addr = host_port(&s);
    let mut c = TcpStream::connect(&addr).expect("connect");
    let ping = b"GET /artifactory/api/system/ping HTTP/1.1\r\nHost: x\r\n\r\n";
    let read_answer = |c: &mut TcpStream| {
        c.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let mut b = vec![0u8; 4096];
        let n = c.read(&mut b).expect("answer");
        String::from_utf8_lossy(&b[..n]).to_string()
    };
    c.write_all(ping).expect("send");
    assert!(read_answer(&mut c).starts_with("HTTP/1.1 200"));
    // Past the header timeout but within the keep-alive timeout: still served.
    std::thread::sleep(Duration::from_secs(HEADER_TIMEOUT + 1));
    c.write_all(ping).expect("send again");
    assert!(read_answer(&mut c).starts_with("HTTP/1.1 200"));
    // Idle past the keep-alive timeout: closed.
    std::thread::sleep(Duration::from_secs(KEEPALIVE_TIMEOUT + 2));
    assert!(
        closed(&mut c),
        "an idle keep-alive connection outlived keepalive_timeout"
    );
}

/// A deploy whose body stops arriving fails after the body timeout (its connection
/// closes and nothing is stored); one whose body drips slower than a byte a second
/// but keeps coming is served.
#[test]
fn a_stalled_request_body_fails_after_the_body_timeout() {
    let s = flood_server();
    s.create_local_repo("libs", "generic");
    let addr = host_port(&s);
    let head = |path: &str, len: usize| {
        format!(
            "PUT /artifactory/libs/{path} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWRtaW46cGFzc3dvcmQ=\r\nContent-Length: {len}\r\n\r\n"
        )
    };

    let mut dripping = TcpStream::connect(&addr).expect("connect");
    dripping.write_all(head("drip.bin", 5).as_bytes()).expect("send");
    for b in b"drip!" {
        std::thread::sleep(Duration::from_millis(BODY_TIMEOUT * 1000 / 2));
        dripping.write_all(&[*b]).expect("a dripping body is not cut off");
    }
    dripping
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut answer = [0u8; 64];
    let n = dripping.read(&mut answer).expect("answer");
    let answer = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    let started = Instant::now();
    let mut stalled = TcpStream::connect(&addr).expect("connect");
    stalled.write_all(head("stalled.bin", 1000).as_bytes()).expect("send");
    stalled.write_all(b"the first bytes, then nothing").expect("send");
    let deadline = started + Duration::from_secs(BODY_TIMEOUT + 5);
    while !closed(&mut stalled) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let waited = started.elapsed();
    assert!(
        Instant::now() < deadline,
        "a stalled body was still waited for after {waited:?}"
    );
    assert!(
        waited >= Duration::from_secs(BODY_TIMEOUT - 1),
        "the stalled body was cut off after {waited:?}, before the body timeout"
    );
    let r = s
        .admin(reqwest::Method::GET, "/artifactory/api/storage/libs/stalled.bin")
        .send()
        .expect("info");
    assert_eq!(r.status(), 404, "a part of a stalled upload was stored");
}

/// The memory 3,000 idle connections used is given back to the system once they
/// close, instead of staying resident until a restart.
#[test]
fn memory_of_closed_connections_is_given_back() {
    // No plugins: their compilation would move the resident size on its own.
    let no_plugins = tempfile::tempdir().expect("temp dir");
    let s = Server::start_full(Options::default(), no_plugins.path(), "");
    let addr = host_port(&s);
    let ping = || {
        let r = reqwest::blocking::get(s.url("/artifactory/api/system/ping")).expect("ping");
        assert_eq!(r.status(), 200);
    };
    ping();
    std::thread::sleep(Duration::from_secs(1));
    let before = proc_status_kib(s.pid(), "VmRSS:");
    let mut held = Vec::new();
    for _ in 0..3000 {
        let mut c = TcpStream::connect(&addr).expect("connect");
        c.write_all(b"GET /artifactory/api/system/ping HTTP/1.1\r\nHost: x\r\n")
            .expect("write");
        held.push(c);
    }
    std::thread::sleep(Duration::from_secs(2));
    let flooded = proc_status_kib(s.pid(), "VmRSS:");
    drop(held);
    ping();
    let grown = flooded.saturating_sub(before);
    assert!(
        grown > 8 * 1024,
        "3,000 connections cost only {grown} KiB: nothing to measure"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut after = proc_status_kib(s.pid(), "VmRSS:");
    while after > before + grown / 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        after = proc_status_kib(s.pid(), "VmRSS:");
    }
    eprintln!("resident: {before} KiB before, {flooded} KiB with 3,000 connections, {after} KiB after they closed");
    assert!(
        after <= before + grown / 4,
        "{} KiB of the flood's {grown} KiB still resident 20 s after the connections closed",
        after - before
    );
}
