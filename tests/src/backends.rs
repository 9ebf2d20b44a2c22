//! Real PostgreSQL and S3 servers for the tests of the scale-out stores: one of each
//! per test process, started on first use, each test with its own database and
//! bucket. PostgreSQL comes from Debian's `postgresql` package, the S3 server is
//! `s3s-fs` (`.ci/run` installs both). When one is missing the test is skipped with
//! a message, except under `CI=true`, where it fails.
//!
//! The servers are started from a thread that never ends, under `setpriv
//! --pdeathsig KILL`: the kernel kills them when the test process ends, however it ends.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A database of the shared PostgreSQL server.
pub struct PgDatabase {
    /// `postgres://postgres@127.0.0.1:PORT/NAME`
    pub url: String,
}

/// A bucket of the shared S3 server.
#[derive(Clone, Debug)]
pub struct S3Bucket {
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
}

impl S3Bucket {
    /// The `[storage]` keys that put a server's blobs in this bucket.
    pub fn storage_config(&self) -> String {
        format!(
            "blobs = \"s3\"\ns3_endpoint = \"{}\"\ns3_bucket = \"{}\"\ns3_access_key_id = \"{}\"\ns3_secret_access_key = \"{}\"\ns3_path_style = true\n",
            self.endpoint, self.bucket, self.access_key, self.secret_key
        )
    }
}

impl PgDatabase {
    /// The `[storage]` keys that put a server's metadata in this database.
    pub fn storage_config(&self) -> String {
        format!(
            "metadata = \"postgres\"\npostgres_url = \"{}\"\npostgres_pool = 8\n",
            self.url
        )
    }
}

struct PgServer {
    bin: PathBuf,
    port: u16,
    _child: Child,
}

struct S3Server {
    root: PathBuf,
    port: u16,
    _child: Child,
}

const ACCESS_KEY: &str = "binyard-test";
const SECRET_KEY: &str = "binyard-test-secret";

static PG: OnceLock<Option<PgServer>> = OnceLock::new();
static S3: OnceLock<Option<S3Server>> = OnceLock::new();
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Fails under `CI=true`; elsewhere says that the test is skipped.
fn missing(what: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what} is missing (CI installs it: see .ci/run)"
    );
    eprintln!("SKIPPED: {what} is not installed");
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Spawns `cmd` from a thread that lives as long as the process, so that
/// `--pdeathsig` (which follows the spawning thread) fires only when the process ends.
fn spawn_for_process(mut cmd: Command) -> Child {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(cmd.spawn());
        loop {
            std::thread::park();
        }
    });
    rx.recv().expect("spawner thread").expect("spawn a test server")
}

/// A command for a server program: as user `postgres` when we are root (PostgreSQL
/// refuses to run as root), killed when this process dies.
fn server_command(program: &Path, as_postgres: bool) -> Command {
    let mut c = Command::new("setpriv");
    if as_postgres {
        c.args(["--reuid=postgres", "--regid=postgres", "--clear-groups"]);
    }
    c.arg("--pdeathsig=KILL").arg("--").arg(program);
    c
}

/// The folder of PostgreSQL's programs (`BINYARD_PG_BIN`, else Debian's newest).
fn pg_bin() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("BINYARD_PG_BIN") {
        return Some(PathBuf::from(p));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("postgres").is_file() && b.join("initdb").is_file())
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

/// A scratch folder for a server of this process (older ones of dead processes are removed).
fn scratch(kind: &str) -> PathBuf {
    let base = std::env::temp_dir().join("binyard-test-backends");
    let _ = std::fs::create_dir_all(&base);
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let pid = name.rsplit('-').next().and_then(|p| p.parse::<u32>().ok());
            if let Some(pid) = pid
                && !Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = base.join(format!("{kind}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn start_postgres() -> Option<PgServer> {
    let Some(bin) = pg_bin() else {
        missing("PostgreSQL (Debian package `postgresql`)");
        return None;
    };
    let root = is_root();
    let dir = scratch("pg");
    let data = dir.join("data");
    if root {
        let ok = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "chown of the PostgreSQL test folder");
    }
    let out = server_command(&bin.join("initdb"), root)
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .output()
        .expect("run initdb");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let mut cmd = server_command(&bin.join("postgres"), root);
    cmd.arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-k"])
        .arg(&dir)
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "max_connections=200",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = spawn_for_process(cmd);
    let pg = PgServer {
        bin,
        port,
        _child: child,
    };
    let t = Instant::now();
    while !pg.psql("SELECT 1") {
        assert!(t.elapsed() < Duration::from_secs(60), "PostgreSQL did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(pg)
}

impl PgServer {
    fn psql(&self, sql: &str) -> bool {
        Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

/// A new empty database on the PostgreSQL server of this process (started on first
/// use); `None` (after a message) when PostgreSQL is not installed and not in CI.
pub fn postgres() -> Option<PgDatabase> {
    let pg = PG.get_or_init(start_postgres).as_ref()?;
    let name = unique("t");
    assert!(pg.psql(&format!("CREATE DATABASE {name}")), "create database {name}");
    Some(PgDatabase {
        url: format!("postgres://postgres@127.0.0.1:{}/{name}", pg.port),
    })
}

/// The `s3s-fs` program: on `PATH`, else in cargo's `bin` folder (where `.ci/run`
/// installs it), else in `target/tools/bin`.
fn s3s_fs() -> Option<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(cargo_home.map(|c| c.join("bin")))
        .chain([Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/bin")])
        .map(|d| d.join("s3s-fs"))
        .find(|p| p.is_file())
}

fn start_s3() -> Option<S3Server> {
    let Some(bin) = s3s_fs() else {
        missing("the S3 server `s3s-fs` (cargo install --locked s3s-fs --version 0.14.1 --features binary)");
        return None;
    };
    let root = scratch("s3");
    let port = free_port();
    let mut cmd = server_command(&bin, false);
    cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
        .arg(&root)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = spawn_for_process(cmd);
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(30), "s3s-fs did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(S3Server {
        root,
        port,
        _child: child,
    })
}

/// A new empty bucket on the S3 server of this process (started on first use);
/// `None` (after a message) when `s3s-fs` is not installed and not in CI.
pub fn s3() -> Option<S3Bucket> {
    let s3 = S3.get_or_init(start_s3).as_ref()?;
    let bucket = unique("b");
    // s3s-fs keeps a bucket as a folder of its root.
    std::fs::create_dir_all(s3.root.join(&bucket)).expect("create bucket folder");
    Some(S3Bucket {
        endpoint: format!("http://127.0.0.1:{}", s3.port),
        bucket,
        access_key: ACCESS_KEY.into(),
        secret_key: SECRET_KEY.into(),
    })
}

/// The `[storage]` keys of a fresh database and bucket (PostgreSQL + S3), or `None`
/// (after a message) outside CI when a server is not installed.
pub fn scaleout_storage() -> Option<String> {
    let pg = postgres()?;
    let s3 = s3()?;
    Some(format!("{}{}", pg.storage_config(), s3.storage_config()))
}
