//! A local webhook receiver: records every request and answers as scripted.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the receiver answers one request.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    Status(u16),
    /// Waits this long before answering 200 (longer than the server's timeout: a timeout).
    Hang(Duration),
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

pub struct Receiver {
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
}

impl Receiver {
    /// A receiver on a free loopback port; unscripted requests get 200.
    pub fn start() -> Receiver {
        Self::on(TcpListener::bind("127.0.0.1:0").expect("bind"))
    }

    /// A receiver on a given listener (to come back on the same port).
    pub fn on(listener: TcpListener) -> Receiver {
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script: Arc<Mutex<VecDeque<Answer>>> = Arc::default();
        let (g, s) = (got.clone(), script.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (g, s) = (g.clone(), s.clone());
                std::thread::spawn(move || serve(conn, &g, &s));
            }
        });
        Receiver { url, got, script }
    }

    /// Answers the next requests in this order.
    pub fn script(&self, answers: &[Answer]) {
        self.script.lock().expect("lock").extend(answers.iter().copied());
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.got.lock().expect("lock").clone()
    }

    /// Waits until `n` requests arrived (panics after `secs`).
    pub fn wait_for(&self, n: usize, secs: u64) -> Vec<Received> {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < until, "only {} of {n} deliveries arrived", got.len());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn serve(conn: TcpStream, got: &Mutex<Vec<Received>>, script: &Mutex<VecDeque<Answer>>) {
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let answer = script.lock().expect("lock").pop_front().unwrap_or(Answer::Status(200));
    let status = match answer {
        Answer::Status(s) => s,
        Answer::Hang(d) => {
            std::thread::sleep(d);
            200
        }
    };
    // Only answered requests count as received (a timed-out one is retried).
    if matches!(answer, Answer::Status(_)) {
        got.lock().expect("lock").push(Received { headers, body });
    }
    let mut conn = conn;
    let _ = write!(
        conn,
        "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}
