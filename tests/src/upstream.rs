//! A small HTTP/1.1 upstream for remote-repository tests: serves files from
//! memory with ETags and 304s, counts the requests per path (its access log), and
//! misbehaves on demand (statuses, broken bodies, redirect loops, huge headers,
//! hanging). One thread per connection; every answer closes its connection.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the upstream answers a path.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// The file (200, or 304 for a matching `If-None-Match`), or 404.
    Normal,
    /// This status with a short text body.
    Status(u16),
    /// Announces the whole file, sends half of it, closes.
    Truncated,
    /// Announces 100 bytes more than it sends, closes.
    LongerLength,
    /// The file with an `X-Checksum-Sha1` of other bytes.
    WrongChecksum,
    /// A chunked body that never ends (until the client goes).
    Endless,
    /// 302 to itself, for ever.
    RedirectLoop,
    /// 302 to another host.
    RedirectAway,
    /// A 10 MB header before the body.
    HugeHeader,
    /// Reads the request and answers nothing for this long.
    Hang(Duration),
    /// The file, with a pause of this long after its first half.
    PauseHalfway(Duration),
}

struct File {
    body: Arc<Vec<u8>>,
    etag: String,
}

#[derive(Default)]
struct State {
    files: HashMap<String, File>,
    behaviour: HashMap<String, Behaviour>,
    hits: HashMap<String, usize>,
    /// Requests that carried `If-None-Match` or `If-Modified-Since`.
    conditional: HashMap<String, usize>,
    active: usize,
    max_active: usize,
    /// Holds every answer back this long (to see concurrent requests overlap).
    delay: Duration,
}

/// A running test upstream; stopped when dropped.
pub struct Upstream {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
}

impl Upstream {
    /// Starts on a free loopback port.
    pub fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind upstream");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break; // the listener drops: later connections are refused
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &st);
                });
            }
        });
        Upstream {
            base: format!("http://{addr}"),
            state,
            stop,
            addr,
        }
    }

    /// Serves `body` at `path` (`/a/b.bin`), with an ETag of its SHA-1.
    pub fn put(&self, path: &str, body: Vec<u8>) {
        let etag = format!("\"{}\"", crate::sha1_hex(&body));
        self.lock().files.insert(
            path.to_string(),
            File {
                body: Arc::new(body),
                etag,
            },
        );
    }

    /// Removes the file at `path` (then 404).
    pub fn remove(&self, path: &str) {
        self.lock().files.remove(path);
    }

    /// How `path` is answered from now on.
    pub fn behave(&self, path: &str, b: Behaviour) {
        self.lock().behaviour.insert(path.to_string(), b);
    }

    /// Every answer waits this long before it starts.
    pub fn delay(&self, d: Duration) {
        self.lock().delay = d;
    }

    /// Requests received for `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.lock().hits.get(path).copied().unwrap_or(0)
    }

    /// Conditional requests received for `path`.
    pub fn conditional_hits(&self, path: &str) -> usize {
        self.lock().conditional.get(path).copied().unwrap_or(0)
    }

    /// The most requests that were being answered at once.
    pub fn max_active(&self) -> usize {
        self.lock().max_active
    }

    /// Stops listening: new connections are refused.
    pub fn stop(&self) {
        if !self.stop.swap(true, Ordering::SeqCst) {
            let _ = TcpStream::connect(self.addr); // wakes the accept loop
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Active<'a>(&'a Mutex<State>);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).active -= 1;
    }
}

fn serve(conn: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let path = target.split('?').next().unwrap_or("/").to_string();
    let mut conditional = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((&h, ""));
        let k = k.trim().to_ascii_lowercase();
        if k == "if-none-match" || k == "if-modified-since" {
            conditional = Some((k, v.trim().to_string()));
        }
    }
    let (behaviour, file, delay) = {
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        *s.hits.entry(path.clone()).or_default() += 1;
        if conditional.is_some() {
            *s.conditional.entry(path.clone()).or_default() += 1;
        }
        s.active += 1;
        s.max_active = s.max_active.max(s.active);
        let b = s.behaviour.get(&path).cloned().unwrap_or(Behaviour::Normal);
        let f = s.files.get(&path).map(|f| (f.body.clone(), f.etag.clone()));
        (b, f, s.delay)
    };
    let _active = Active(state);
    std::thread::sleep(delay);
    let mut out = conn;
    let head = |status: &str, extra: &str, len: Option<usize>| {
        let len = len.map(|n| format!("Content-Length: {n}\r\n")).unwrap_or_default();
        format!("HTTP/1.1 {status}\r\nConnection: close\r\n{len}{extra}\r\n")
    };
    match (behaviour, file) {
        (Behaviour::Status(code), _) => {
            let body = format!("status {code}");
            out.write_all(head(&format!("{code} X"), "", Some(body.len())).as_bytes())?;
            out.write_all(body.as_bytes())?;
        }
        (Behaviour::Hang(d), _) => std::thread::sleep(d),
        (Behaviour::RedirectLoop, _) => {
            out.write_all(head("302 Found", &format!("Location: {target}\r\n"), Some(0)).as_bytes())?;
        }
        (Behaviour::RedirectAway, _) => {
            let to = "Location: http://127.0.0.2:9/elsewhere\r\n";
            out.write_all(head("302 Found", to, Some(0)).as_bytes())?;
        }
        (Behaviour::HugeHeader, _) => {
            let big = format!("X-Big: {}\r\n", "a".repeat(10 << 20));
            out.write_all(head("200 OK", &big, Some(2)).as_bytes())?;
            out.write_all(b"ok")?;
        }
        (Behaviour::Endless, _) => {
            out.write_all(head("200 OK", "Transfer-Encoding: chunked\r\n", None).as_bytes())?;
            let chunk = vec![b'e'; 64 * 1024];
            loop {
                out.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
                out.write_all(&chunk)?;
                out.write_all(b"\r\n")?;
            }
        }
        (_, None) => {
            let body = "not found";
            out.write_all(head("404 Not Found", "", Some(body.len())).as_bytes())?;
            out.write_all(body.as_bytes())?;
        }
        (b, Some((body, etag))) => {
            if matches!(b, Behaviour::Normal)
                && let Some((k, v)) = &conditional
                && k == "if-none-match"
                && v == &etag
            {
                out.write_all(head("304 Not Modified", &format!("ETag: {etag}\r\n"), None).as_bytes())?;
                return Ok(());
            }
            let sha1 = match b {
                Behaviour::WrongChecksum => crate::sha1_hex(b"something else"),
                _ => crate::sha1_hex(&body),
            };
            let extra =
                format!("ETag: {etag}\r\nX-Checksum-Sha1: {sha1}\r\nContent-Type: application/octet-stream\r\n");
            let (announced, sent) = match b {
                Behaviour::Truncated => (body.len(), body.len() / 2),
                Behaviour::LongerLength => (body.len() + 100, body.len()),
                _ => (body.len(), body.len()),
            };
            out.write_all(head("200 OK", &extra, Some(announced)).as_bytes())?;
            for (i, part) in body[..sent].chunks(sent.div_ceil(2).max(1)).enumerate() {
                if i == 1
                    && let Behaviour::PauseHalfway(d) = b
                {
                    out.flush()?;
                    std::thread::sleep(d);
                }
                out.write_all(part)?;
            }
            out.flush()?;
        }
    }
    // Drain what the client may still send, so closing does not reset the answer.
    let _ = out.shutdown(std::net::Shutdown::Write);
    let mut sink = [0u8; 1024];
    let _ = out.set_read_timeout(Some(Duration::from_millis(200)));
    let _ = reader.read(&mut sink);
    Ok(())
}
