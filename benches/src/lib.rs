//! Shared helpers of the benchmark binaries in `src/bin/`.

pub mod npm;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, ensure};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A built test plugin (`cargo xtask plugins` builds them).
pub fn test_plugin(name: &str) -> anyhow::Result<Vec<u8>> {
    let p = root().join("target/test-plugins").join(format!("{name}.wasm"));
    std::fs::read(&p).map_err(|e| anyhow::anyhow!("{}: {e} (run `cargo xtask plugins` first)", p.display()))
}

static SPLIT_CORES: AtomicBool = AtomicBool::new(false);

/// From now on servers started here run on core 0 only and `wrk` on core 1 only (one
/// thread), as if the load came from another machine: on a 2-core box a load
/// generator sharing the server's cores puts its own scheduling delays into every
/// latency figure (nginx's p99 included).
pub fn split_cores() {
    SPLIT_CORES.store(true, Ordering::Relaxed);
}

/// Whether `split_cores` was asked for.
pub fn cores_split() -> bool {
    SPLIT_CORES.load(Ordering::Relaxed)
}

fn on_core(core: &str, program: impl AsRef<OsStr>) -> Command {
    if cores_split() {
        let mut c = Command::new("taskset");
        c.args(["-c", core]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// A command for a server process (on core 0 once `split_cores` was asked for).
pub fn server_command(program: impl AsRef<OsStr>) -> Command {
    on_core("0", program)
}

/// p50, p90, p99 and mean of a set of durations, in microseconds.
pub fn summary(mut d: Vec<Duration>) -> (f64, f64, f64, f64) {
    d.sort();
    let us = |x: Duration| x.as_secs_f64() * 1e6;
    let at = |q: f64| us(d[((d.len() as f64 - 1.0) * q) as usize]);
    let mean = d.iter().map(|x| us(*x)).sum::<f64>() / d.len() as f64;
    (at(0.5), at(0.9), at(0.99), mean)
}

/// `target/release/binyard`, which must have been built (`BINYARD_BIN` names another).
pub fn release_binary() -> anyhow::Result<PathBuf> {
    let bin = std::env::var_os("BINYARD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/release/binyard"));
    ensure!(
        bin.exists(),
        "{} missing: cargo build --release -p binyard",
        bin.display()
    );
    Ok(bin)
}

/// A running `binyard serve --config CONFIG`; killed when dropped.
pub struct Binyard {
    child: Child,
    /// `http://127.0.0.1:PORT`, as the server printed it.
    pub base: String,
}

impl Binyard {
    /// Starts `bin` on `config` (logging at `log`) and waits for its address.
    pub fn start(bin: &Path, config: &Path, log: &str) -> anyhow::Result<Binyard> {
        let mut child = server_command(bin)
            .args(["serve", "--config"])
            .arg(config)
            .env("RUST_LOG", log)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut server = Binyard {
            child,
            base: String::new(),
        };
        for line in BufReader::new(stdout).lines() {
            if let Some(u) = line?.strip_prefix("binyard listening on ") {
                server.base = u.trim().to_string();
                return Ok(server);
            }
        }
        anyhow::bail!("binyard exited before it listened")
    }
}

impl Binyard {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server the way an operator does (SIGTERM) and waits for it: the
    /// database is closed cleanly, so the next start needs no recovery.
    pub fn stop(mut self) -> anyhow::Result<()> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        self.child.wait()?;
        Ok(())
    }

    /// Starts the release binary on a config written into `dir`: any free port, data
    /// in `dir/data`, plugins from `plugins`, then `extra` (TOML that may go on with
    /// `[plugins]` keys before opening tables of its own).
    pub fn in_dir(dir: &Path, plugins: &Path, extra: &str, log: &str) -> anyhow::Result<Binyard> {
        let cfg = dir.join("binyard.toml");
        std::fs::write(
            &cfg,
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\ndata_dir = \"{}\"\n[plugins]\ndir = \"{}\"\n{extra}",
                dir.join("data").display(),
                plugins.display()
            ),
        )?;
        Binyard::start(&release_binary()?, &cfg, log)
    }

    /// A request to `path` as the bootstrap admin.
    pub fn admin(
        &self,
        client: &reqwest::blocking::Client,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::blocking::RequestBuilder {
        client
            .request(method, format!("{}{path}", self.base))
            .basic_auth("admin", Some("password"))
    }
}

impl Drop for Binyard {
    /// SIGTERM first, as `stop`: a SIGKILL leaves the database not closed cleanly,
    /// and the next start on the same data (`search --data`) would spend its time
    /// repairing it (30 s for the 1M-item set) and be measured doing so.
    fn drop(&mut self) {
        // Already waited for (`stop`): its pid may belong to another process now.
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..300 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A child process killed when dropped (nginx, Verdaccio, …).
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A child asked to stop with SIGTERM when dropped: nginx's master then stops its
/// workers, which a SIGKILL of the master would leave running (and serving).
pub struct Terminated(pub Child);

impl Drop for Terminated {
    fn drop(&mut self) {
        let stopped = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// nginx serving the folder `www` on a free port (its files live in `dir`).
pub fn nginx(www: &Path, dir: &Path) -> anyhow::Result<(Terminated, u16)> {
    let bin = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .context("nginx is needed: apt-get install -y nginx")?;
    let port = free_port()?;
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "daemon off; worker_processes {workers}; pid {d}/nginx.pid; error_log {d}/nginx.err;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;\n\
               default_type application/octet-stream;\n\
               client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
               server {{ listen 127.0.0.1:{port}; root {www}; }} }}\n",
            d = dir.display(),
            www = www.display(),
            workers = if cores_split() { "1" } else { "auto" }
        ),
    )?;
    let child = server_command(bin)
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(dir)
        .stderr(Stdio::null())
        .spawn()?;
    let running = Terminated(child);
    wait_for_port(port)?;
    Ok((running, port))
}

/// Waits until something listens on `port` (at most 60 s).
pub fn wait_for_port(port: u16) -> anyhow::Result<()> {
    for _ in 0..600 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    anyhow::bail!("nothing listens on port {port}")
}

/// What `wrk` measured.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub rps: f64,
    pub bytes_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Runs `wrk` (`threads`, `conns`, `seconds`, extra headers) against `url`; any
/// non-2xx answer is an error. After `split_cores`, one thread on core 1.
pub fn wrk(url: &str, threads: u32, conns: u32, seconds: u32, headers: &[&str]) -> anyhow::Result<Load> {
    wrk_with(url, threads, conns, seconds, headers, None)
}

/// `wrk` with a Lua `script` (a POST body, say) as well.
pub fn wrk_with(
    url: &str,
    threads: u32,
    conns: u32,
    seconds: u32,
    headers: &[&str],
    script: Option<&Path>,
) -> anyhow::Result<Load> {
    let threads = if cores_split() { 1 } else { threads };
    let mut c = on_core("1", "wrk");
    c.args(["--latency", "-t", &threads.to_string(), "-c", &conns.to_string()])
        .args(["-d", &format!("{seconds}s")]);
    for h in headers {
        c.args(["-H", h]);
    }
    if let Some(s) = script {
        c.arg("-s").arg(s);
    }
    let out = c.arg(url).output().context("wrk is needed: apt-get install -y wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure!(!text.contains("Non-2xx"), "wrk saw errors from {url}:\n{text}");
    let field = |name: &str| -> anyhow::Result<String> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
            .with_context(|| format!("no {name} in wrk output:\n{text}"))
    };
    let unit = |t: &str, units: &[(&str, f64)]| -> anyhow::Result<f64> {
        let (num, u) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len()));
        let mult = units.iter().find(|(n, _)| *n == u).map_or(1.0, |(_, m)| *m);
        Ok(num.parse::<f64>()? * mult)
    };
    let time = [("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60_000.0)];
    let size = [
        ("GB", 1024.0 * 1024.0 * 1024.0),
        ("MB", 1024.0 * 1024.0),
        ("KB", 1024.0),
        ("B", 1.0),
    ];
    Ok(Load {
        rps: field("Requests/sec:")?.parse()?,
        bytes_per_sec: unit(&field("Transfer/sec:")?, &size)?,
        p50_ms: unit(&field("50%")?, &time)?,
        p99_ms: unit(&field("99%")?, &time)?,
    })
}

/// The median of each figure of several runs.
pub fn median_load(runs: &[Load]) -> Load {
    let mid = |f: fn(&Load) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Load {
        rps: mid(|l| l.rps),
        bytes_per_sec: mid(|l| l.bytes_per_sec),
        p50_ms: mid(|l| l.p50_ms),
        p99_ms: mid(|l| l.p99_ms),
    }
}

/// Loads `ours` and `reference` alternately with `wrk` (2 threads, `conns`
/// connections, `seconds` each), `rounds` times each, and answers the median of each
/// side: on a machine shared with other work, a burst of it then lands on both sides
/// instead of on whichever happened to run at the time.
pub fn paired(
    ours: &str,
    reference: &str,
    header: &str,
    conns: u32,
    seconds: u32,
    rounds: usize,
) -> anyhow::Result<(Load, Load)> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(wrk(ours, 2, conns, seconds, &[header])?);
        b.push(wrk(reference, 2, conns, seconds, &[header])?);
    }
    Ok((median_load(&a), median_load(&b)))
}

/// Writes `size` incompressible bytes (xorshift from `seed`) to `path`, so nothing is
/// cheaper than real content; answers their sha256 (hex).
pub fn write_random(path: &Path, size: usize, seed: u64) -> anyhow::Result<String> {
    use sha2::Digest;
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut state = 0x2545_F491_4F6C_DD1Du64 ^ seed;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    let mut sha = sha2::Sha256::new();
    while left > 0 {
        for c in buf.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            c.copy_from_slice(&state.to_le_bytes()[..c.len()]);
        }
        let n = left.min(buf.len());
        f.write_all(&buf[..n])?;
        sha.update(&buf[..n]);
        left -= n;
    }
    f.flush()?;
    Ok(sha.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
