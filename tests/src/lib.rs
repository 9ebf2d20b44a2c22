//! Harness for the end-to-end tests: starts the real `binyard` binary on a free
//! loopback port with a temporary data folder, and offers small HTTP helpers.
//!
//! The binary is the one `cargo xtask test` builds (`target/debug/binyard`), or
//! the path in `BINYARD_BIN`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use sha2::Digest;

pub mod backends;
pub mod upstream;

pub use reqwest::blocking::{Client, Response};
pub use reqwest::{Method, StatusCode};

/// The admin credentials the shipped configuration bootstraps.
pub const ADMIN: (&str, &str) = ("admin", "password");

/// Where the binary under test is.
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("BINYARD_BIN") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let bin = target.join("debug").join("binyard");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo xtask test`, which builds it first",
        bin.display()
    );
    bin
}

/// Where the built plugins are (`target/plugins`), for tests that need them.
pub fn plugins_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("plugins")
}

/// Where the test-only plugins are (`target/test-plugins`, built by `cargo xtask test`).
pub fn test_plugins_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("test-plugins")
}

/// A real client program (`npm`, `mvn`, `twine`, `pip`, `python3`…) for the format
/// tests: first from the Python venv `cargo xtask test` makes (`target/clients/venv`),
/// then from `PATH`. When it is missing the test is skipped with a message, except
/// under `CI=true`, where a missing client fails the test.
pub fn client_tool(name: &str) -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target/clients/venv/bin")
        .join(name);
    let found = if venv.exists() {
        Some(venv)
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    };
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the client `{name}` is missing (CI installs it: see .ci/run and `cargo xtask test`)"
        );
        eprintln!("SKIPPED: the client `{name}` is not installed");
    }
    found
}

/// A fresh plugins folder holding copies of the named built plugins
/// (`test_echo`, `test_misbehave`, … from `target/test-plugins`, others from `target/plugins`).
pub fn plugin_folder(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for n in names {
        let file = format!("{n}.wasm");
        let src = [test_plugins_dir(), plugins_dir()]
            .into_iter()
            .map(|d| d.join(&file))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("plugin {file} is not built: run `cargo xtask test`"));
        std::fs::copy(&src, dir.path().join(&file)).expect("copy plugin");
    }
    dir
}

/// The bytes of a built plugin.
pub fn plugin_wasm(name: &str) -> Vec<u8> {
    let file = format!("{name}.wasm");
    [test_plugins_dir(), plugins_dir()]
        .into_iter()
        .map(|d| d.join(&file))
        .find(|p| p.exists())
        .map(|p| std::fs::read(p).expect("read plugin"))
        .unwrap_or_else(|| panic!("plugin {file} is not built: run `cargo xtask test`"))
}

/// Options for one server start.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Extra TOML appended to the generated config file (not a `[plugins]` table:
    /// plugin settings go in `plugin_config`).
    pub extra_config: String,
}

/// How the server process is started, beyond its configuration (`Server::launch`).
#[derive(Clone, Debug, Default)]
pub struct Launch {
    /// Start the server with this open-file limit (soft and hard), through `prlimit`.
    pub open_files: Option<u64>,
    /// Write the server's log (stderr) to a file (`Server::log`) instead of the test's stderr.
    pub capture_log: bool,
    /// The data folder to use instead of one in the temporary folder (e.g. on a small file system).
    pub data_dir: Option<PathBuf>,
    /// More keys of the `[storage]` table (which the harness writes itself).
    pub storage_config: String,
}

/// A running binyard server owned by a test; killed when dropped.
pub struct Server {
    child: Option<Child>,
    dir: tempfile::TempDir,
    opts: Options,
    launch: Launch,
    plugins: PathBuf,
    plugin_config: String,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl Server {
    /// Starts a server with the default options.
    pub fn start() -> Server {
        Server::start_with(Options::default())
    }

    /// Starts a server with extra configuration.
    pub fn start_with(opts: Options) -> Server {
        Server::start_full(opts, &plugins_dir(), "")
    }

    /// Starts a server that loads plugins from `plugins`, with extra `[plugins]`
    /// keys (e.g. `deadline_ms = 1000`).
    pub fn start_full(opts: Options, plugins: &Path, plugin_config: &str) -> Server {
        Server::launch(opts, Launch::default(), plugins, plugin_config)
    }

    /// Starts a server with launch settings (file limit, captured log, data folder).
    pub fn launch(opts: Options, mut launch: Launch, plugins: &Path, plugin_config: &str) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        // `BINYARD_TEST_STORAGE=postgres+s3` runs any suite on PostgreSQL and S3 (each
        // server with its own database and bucket, kept across restarts).
        if std::env::var("BINYARD_TEST_STORAGE").as_deref() == Ok("postgres+s3")
            && !launch.storage_config.contains("metadata")
        {
            let keys = backends::scaleout_storage()
                .expect("BINYARD_TEST_STORAGE=postgres+s3 needs PostgreSQL and s3s-fs installed");
            launch.storage_config.push('\n');
            launch.storage_config.push_str(&keys);
        }
        let mut s = Server {
            child: None,
            dir,
            opts,
            launch,
            plugins: plugins.to_path_buf(),
            plugin_config: plugin_config.to_string(),
            base: String::new(),
        };
        s.spawn();
        s
    }

    /// The server's data folder.
    pub fn data_dir(&self) -> PathBuf {
        self.launch
            .data_dir
            .clone()
            .unwrap_or_else(|| self.dir.path().join("data"))
    }

    /// What the server has logged so far (with `Options::capture_log`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// The process id of the running server.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    fn spawn(&mut self) {
        let cfg = self.dir.path().join("config.toml");
        // The compiled plugins are shared by every test server (a fresh server
        // otherwise spends seconds of both cores compiling all plugins again).
        let mut plugin_config = self.plugin_config.clone();
        if !plugin_config.contains("compiled_cache_dir") {
            let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugin-cache-tests");
            plugin_config.push_str(&format!("\ncompiled_cache_dir = \"{}\"\n", shared.display()));
        }
        let toml = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[storage]\ndata_dir = \"{}\"\n{}\n\n[plugins]\ndir = \"{}\"\n{}\n\n{}\n",
            self.data_dir().display(),
            self.launch.storage_config,
            self.plugins.display(),
            plugin_config,
            self.opts.extra_config
        );
        std::fs::write(&cfg, toml).expect("write config");
        let mut cmd = match self.launch.open_files {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg("--").arg(binary());
                c
            }
            None => Command::new(binary()),
        };
        let stderr = if self.launch.capture_log {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.path().join("server.log"))
                .expect("log file");
            Stdio::from(f)
        } else {
            Stdio::inherit()
        };
        let mut child = cmd
            .arg("serve")
            .arg("--config")
            .arg(&cfg)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn binyard");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent && let Some(url) = line.strip_prefix("binyard listening on ") {
                    let _ = tx.send(url.trim().to_string());
                    sent = true;
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("binyard did not print its listening address");
        self.base = base;
        self.child = Some(child);
    }

    /// Kills the server with SIGKILL (no chance to clean up).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same data folder (after `kill`).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// `base` + `path` (path starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request as the admin user.
    pub fn admin(&self, method: Method, path: &str) -> reqwest::blocking::RequestBuilder {
        client()
            .request(method, self.url(path))
            .basic_auth(ADMIN.0, Some(ADMIN.1))
    }

    /// A request with a user's password (HTTP Basic).
    pub fn user(&self, name: &str, password: &str, method: Method, path: &str) -> reqwest::blocking::RequestBuilder {
        client()
            .request(method, self.url(path))
            .basic_auth(name, Some(password))
    }

    /// Creates a user who is not an administrator (Access API), optionally in groups.
    pub fn create_user(&self, name: &str, password: &str, groups: &[&str]) {
        let r = self
            .admin(Method::POST, "/access/api/v2/users")
            .json(&serde_json::json!({
                "username": name, "password": password, "email": format!("{name}@example.com"), "groups": groups,
            }))
            .send()
            .expect("create user");
        assert_eq!(r.status(), 201, "create user {name}: {}", r.text().unwrap_or_default());
    }

    /// A request without credentials.
    pub fn anon(&self, method: Method, path: &str) -> reqwest::blocking::RequestBuilder {
        client().request(method, self.url(path))
    }

    /// Creates a local repository of the given package type as admin.
    /// Creates a repository from its whole configuration (`key` inside it).
    pub fn create_repo(&self, cfg: &serde_json::Value) {
        let key = cfg["key"].as_str().expect("key");
        let r = self
            .admin(Method::PUT, &format!("/artifactory/api/repositories/{key}"))
            .json(cfg)
            .send()
            .expect("create repo");
        assert_eq!(r.status(), 200, "create {key}: {}", r.text().unwrap_or_default());
    }

    pub fn create_local_repo(&self, key: &str, package_type: &str) {
        let r = self
            .admin(Method::PUT, &format!("/artifactory/api/repositories/{key}"))
            .json(&serde_json::json!({"key": key, "rclass": "local", "packageType": package_type}))
            .send()
            .expect("create repo");
        assert!(r.status().is_success(), "create repo {key}: {}", r.status());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A shared HTTP client with generous timeouts and no automatic redirects.
pub fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(600))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// Hex sha256 of bytes.
pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

/// Hex sha1 of bytes.
pub fn sha1_hex(b: &[u8]) -> String {
    hex::encode(sha1::Sha1::digest(b))
}

/// A size line of `/proc/PID/status` in KiB: `"VmRSS:"` (resident now) or `"VmHWM:"` (peak).
pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("/proc/PID/status")
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("the field in /proc/PID/status")
}

/// Hex md5 of bytes.
pub fn md5_hex(b: &[u8]) -> String {
    hex::encode(md5::Md5::digest(b))
}

/// Parses a response body as JSON, panicking with the body on failure.
pub fn json(r: Response) -> serde_json::Value {
    let text = r.text().expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts an Artifactory error body `{"errors":[{"status":N,"message":…}]}` with status `status`
/// and returns the message.
pub fn expect_error(r: Response, status: u16) -> String {
    assert_eq!(r.status().as_u16(), status, "unexpected status");
    let v = json(r);
    let e = &v["errors"][0];
    assert_eq!(e["status"].as_u64(), Some(status as u64), "error body: {v}");
    let msg = e["message"].as_str().unwrap_or_default().to_string();
    assert!(!msg.is_empty(), "error without a message: {v}");
    msg
}

/// A body that trickles out slowly (64 KiB every 5 ms), so its upload is still in
/// flight when a test kills the server. Its bytes (`~`) match no generated content.
pub struct Trickle {
    /// Bytes still to send.
    pub left: usize,
}

impl std::io::Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(5));
        let n = buf.len().min(self.left).min(64 * 1024);
        buf[..n].fill(b'~');
        self.left -= n;
        Ok(n)
    }
}
