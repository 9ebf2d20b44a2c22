//! Secrets never leak: passwords, token values and API keys appear neither in the
//! server's log (even at trace level) nor in answers after creation, nor in plain
//! text in the data folder.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use binyard_e2e::*;
use serde_json::json;

/// Collects every file under `dir`, recursively.
fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn secrets_stay_out_of_logs_answers_and_the_data_folder() {
    check_secrets("text");
}

/// The JSON log has a line per request (method, path, user…): none holds a secret.
#[test]
fn secrets_stay_out_of_json_logs() {
    check_secrets("json");
}

fn check_secrets(log_format: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\ndata_dir = \"{}\"\n[plugins]\ndir = \"{}\"\n[log]\nformat = \"{log_format}\"\n",
            data.display(),
            dir.path().join("plugins").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(binary())
        .args(["serve", "--config"])
        .arg(&cfg)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let (tx, rx) = mpsc::channel();
    let out_reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("binyard listening on ") {
                let _ = tx.send(url.trim().to_string());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let base = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    let c = client();
    let admin = |m: Method, p: &str| c.request(m, format!("{base}{p}")).basic_auth("admin", Some("password"));

    let password = "Very-Secret-Password-8731";
    let r = admin(Method::POST, "/access/api/v2/users")
        .json(&json!({"username": "sam", "email": "sam@example.com", "password": password}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 201);
    let mut answers = r.text().unwrap();
    // Logins with the password, a wrong one, a token, an API key.
    let as_sam = |m: Method, p: &str| c.request(m, format!("{base}{p}")).basic_auth("sam", Some(password));
    let r = as_sam(Method::POST, "/access/api/v1/tokens")
        .json(&json!({"expires_in": 600}))
        .send()
        .unwrap();
    let token = json(r)["access_token"].as_str().unwrap().to_string();
    let r = as_sam(Method::POST, "/artifactory/api/security/apiKey").send().unwrap();
    let key = json(r)["apiKey"].as_str().unwrap().to_string();
    let _ = c
        .get(format!("{base}/access/api/v2/users/sam"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    let _ = c
        .get(format!("{base}/access/api/v2/users/sam"))
        .header("X-JFrog-Art-Api", &key)
        .send()
        .unwrap();
    let _ = c
        .get(format!("{base}/access/api/v2/users/sam"))
        .basic_auth("sam", Some("Wrong-Password-5521"))
        .send()
        .unwrap();
    // A UI login: the password in its body, the session id in a cookie.
    let r = c
        .post(format!("{base}/ui/api/login"))
        .json(&json!({"username": "sam", "password": password}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    let session_id = cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_string();
    let csrf = json(r)["csrfToken"].as_str().unwrap().to_string();
    let r = c
        .get(format!("{base}/ui/api/session"))
        .header("Cookie", format!("binyard_session={session_id}"))
        .send()
        .unwrap();
    assert_eq!(json(r)["user"], "sam");
    // Everything that can be read back afterwards.
    for p in [
        "/access/api/v2/users",
        "/access/api/v2/users/sam",
        "/artifactory/api/security/users/sam",
        "/access/api/v1/tokens",
        "/artifactory/api/security/token",
    ] {
        answers.push_str(&admin(Method::GET, p).send().unwrap().text().unwrap());
    }
    answers.push_str(
        &as_sam(Method::GET, "/artifactory/api/security/apiKey")
            .send()
            .unwrap()
            .text()
            .unwrap(),
    );

    let _ = child.kill();
    let _ = child.wait();
    let logs = err_reader.join().unwrap() + &out_reader.join().unwrap();
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "the log should be verbose: {logs}"
    );
    if log_format == "json" {
        let requests = logs
            .lines()
            .filter(|l| l.contains("\"target\":\"binyard::request\""))
            .count();
        assert!(requests >= 10, "a JSON line per request: {logs}");
    }
    let secrets = [
        password,
        "Wrong-Password-5521",
        token.as_str(),
        key.as_str(),
        session_id.as_str(),
        csrf.as_str(),
    ];
    for s in secrets {
        assert!(!logs.contains(s), "a secret is in the log");
        assert!(!answers.contains(s), "a secret is in an answer: {answers}");
        for f in {
            let mut v = Vec::new();
            files(&data, &mut v);
            v
        } {
            let bytes = std::fs::read(&f).unwrap();
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "a secret is in {}",
                f.display()
            );
        }
    }
    assert!(!answers.contains("argon2"), "a password hash is in an answer");
}
